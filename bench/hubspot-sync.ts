import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { HubSpotConnections } from '../connectors/hubspot/connections.js';
import { installProperties } from '../connectors/hubspot/install.js';
import { channelConsentProperties } from '../connectors/hubspot/mapping.js';
import { channelPropertyNames, SYNCED_CHANNELS, type SyncedChannel } from '../connectors/hubspot/properties.js';
import { HubSpotSync } from '../connectors/hubspot/sync.js';
import { effectiveStatus } from '../src/core/ledger.js';
import { createEngine } from '../src/engine.js';
import { systemClock } from '../src/ports/clock.js';
import { createSqliteStore } from '../src/store/sqlite.js';
import { startFakeHubSpot } from '../test/fakes/hubspot-server.js';
import { envNumber, fmt } from './stats.js';

/**
 * HubSpot sync throughput (DESIGN §6: batches of at most 100, the portal's rate limit).
 *
 * Consent changes are recorded in Consentry (embedded SQLite store), one per contact, and the
 * real sync worker pushes them to the local fake HubSpot — in a process of its own, as HubSpot
 * is not on the sync's event loop — which enforces a rolling window of
 * LIMIT requests per INTERVAL_MS — HubSpot's 100 requests per 10 s, the window cut 10× so the run
 * takes seconds. The ceiling is LIMIT × 100 records per window. A first window's worth of
 * changes goes ahead as a warm-up so the measured changes meet a full window, as a running sync
 * does, instead of the empty one a fresh portal allows at once.
 *
 * Then the same changes are pushed one request per contact, as a per-record zap does, through
 * the same limiter; that run is long (one record per request), so a sample of PER_RECORD
 * changes is timed after its own warm-up window.
 */

const CHANNELS: readonly Exclude<SyncedChannel, 'email'>[] = ['whatsapp', 'sms', 'messenger', 'webchat'];
const TOKEN = 'pat-bench-00000000';
const PORTAL = '62515';

const FAKE_FLAG = '--hubspot-fake';

/** Messages between the benchmark and its fake HubSpot process. */
const ToFakeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('seed'), id: z.number(), contacts: z.array(z.object({ id: z.string(), email: z.string() })) }),
  z.object({ kind: z.literal('limit'), id: z.number(), max: z.number().int(), intervalMs: z.number().int() }),
  z.object({ kind: z.literal('reset'), id: z.number() }),
  z.object({ kind: z.literal('report'), id: z.number(), properties: z.array(z.string()) }),
  z.object({ kind: z.literal('stop'), id: z.number() }),
]);
type ToFake = z.infer<typeof ToFakeSchema>;
type ToFakeRequest = ToFake extends infer M ? (M extends { id: number } ? Omit<M, 'id'> : never) : never;

const ReportSchema = z.object({
  requests: z.number(),
  rateLimited: z.number(),
  byEndpoint: z.record(z.string(), z.number()),
  contacts: z.record(z.string(), z.object({ properties: z.record(z.string(), z.string()), writes: z.number() })),
});
type Report = z.infer<typeof ReportSchema>;

const FromFakeSchema = z.union([
  z.object({ kind: z.literal('ready'), url: z.string() }),
  z.object({ kind: z.literal('done'), id: z.number(), report: ReportSchema.optional() }),
]);

function runFake(): void {
  const latencyMs = Number(process.env.HUBSPOT_BENCH_LATENCY_MS ?? '0');
  void startFakeHubSpot({ accessToken: TOKEN, rateLimit: null, latencyMs }).then((fake) => {
    process.on('message', (raw) => {
      const message = ToFakeSchema.parse(raw);
      let report: Report | undefined;
      if (message.kind === 'seed') {
        const at = new Date().toISOString();
        for (const c of message.contacts) fake.state.contacts.set(c.id, { id: c.id, properties: { email: c.email }, createdAt: at, updatedAt: at });
      } else if (message.kind === 'limit') {
        fake.setRateLimit({ max: message.max, intervalMs: message.intervalMs });
      } else if (message.kind === 'reset') {
        fake.resetStats();
      } else if (message.kind === 'report') {
        const contacts: Report['contacts'] = {};
        for (const [id, contact] of fake.state.contacts) {
          const properties: Record<string, string> = {};
          for (const name of message.properties) {
            const value = contact.properties[name];
            if (value !== undefined) properties[name] = value;
          }
          contacts[id] = { properties, writes: fake.stats.contactWrites.get(id) ?? 0 };
        }
        report = { requests: fake.stats.requests, rateLimited: fake.stats.rateLimited, byEndpoint: { ...fake.stats.byEndpoint }, contacts };
      } else {
        void fake.close().then(() => {
          process.send?.({ kind: 'done', id: message.id });
          process.disconnect();
        });
        return;
      }
      process.send?.({ kind: 'done', id: message.id, ...(report === undefined ? {} : { report }) });
    });
    process.send?.({ kind: 'ready', url: fake.url });
  });
}

interface FakeProcess {
  url: string;
  ask(message: ToFakeRequest): Promise<Report | undefined>;
  close(): Promise<void>;
}

async function startFakeProcess(): Promise<FakeProcess> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [FAKE_FLAG], { stdio: 'inherit' });
  const waiting = new Map<number, (report: Report | undefined) => void>();
  let nextId = 1;
  const url = await new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    child.on('message', (raw) => {
      const message = FromFakeSchema.parse(raw);
      if (message.kind === 'ready') resolve(message.url);
      else waiting.get(message.id)?.(message.report);
    });
  });
  const ask = (message: ToFakeRequest): Promise<Report | undefined> =>
    new Promise((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      child.send({ ...message, id });
    });
  return {
    url,
    ask,
    async close() {
      if (!child.connected) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      await ask({ kind: 'stop' });
      await exited;
    },
  };
}

interface Mark {
  at: number;
  total: number;
}

/** Records per second between the moment `from` records were done and the moment `to` were. */
function rateBetween(marks: readonly Mark[], from: number, to: number): { rate: number; seconds: number } {
  const start = marks.find((m) => m.total >= from);
  const end = marks.find((m) => m.total >= to);
  if (start === undefined || end === undefined) return { rate: Number.NaN, seconds: Number.NaN };
  const seconds = (end.at - start.at) / 1000;
  return { rate: (end.total - start.total) / seconds, seconds };
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) throw new Error('timed out waiting for the sync');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export async function main(): Promise<void> {
  const changes = Math.round(envNumber('HUBSPOT_BENCH_CHANGES', 20_000));
  const limit = Math.round(envNumber('HUBSPOT_BENCH_LIMIT', 100));
  const intervalMs = Math.round(envNumber('HUBSPOT_BENCH_INTERVAL_MS', 1_000));
  const perRecord = Math.round(envNumber('HUBSPOT_BENCH_PER_RECORD', 2_000));
  const latencyMs = process.env.HUBSPOT_BENCH_LATENCY_MS === undefined ? 0 : envNumber('HUBSPOT_BENCH_LATENCY_MS', 1);
  const warmUp = limit * 100;
  const total = warmUp + changes;
  const ceiling = (limit * 100 * 1000) / intervalMs;

  const dir = mkdtempSync(join(tmpdir(), 'consentry-bench-hubspot-'));
  const store = createSqliteStore({ path: join(dir, 'bench.db') });
  const fake = await startFakeProcess();
  let sync: HubSpotSync | null = null;
  try {
    const engine = createEngine({ store, clock: systemClock });
    const created = await engine.createWorkspace({
      name: 'Bench shop',
      settings: { hubspot: { accessToken: TOKEN, portalId: PORTAL } },
    });
    const workspace = engine.workspace(created.id);
    await installProperties(new HubSpotConnections({ basePath: fake.url }).session({ accessToken: TOKEN, portalId: PORTAL }).client, []);

    // Contacts and their consent changes: one change per contact, so coalescing cannot shrink the work.
    const setupStarted = performance.now();
    const emails: string[] = [];
    for (let i = 0; i < total; i += 1) emails.push(`contact${i}@example.com`);
    for (let i = 0; i < total; i += 1000) {
      const rows = emails.slice(i, i + 1000).map((email, j) => {
        const n = i + j;
        const optIn = n % 3 !== 0;
        return {
          email,
          purpose: 'marketing' as const,
          channel: CHANNELS[n % CHANNELS.length] ?? 'sms',
          status: optIn ? ('opted_in' as const) : ('opted_out' as const),
          ...(optIn ? { legalBasis: 'CONSENT_WITH_NOTICE' as const, explanation: 'Ticked the box on the order form' } : {}),
        };
      });
      const results = await workspace.bulkSetConsent(rows);
      const links: { contactId: string; hubspotId: string }[] = [];
      const seeded: { id: string; email: string }[] = [];
      for (const result of results) {
        if (!result.ok) throw new Error(`bulk row ${result.row}: ${result.error.message}`);
        const hubspotId = String(5_000_000 + i + result.row);
        seeded.push({ id: hubspotId, email: emails[i + result.row] ?? '' });
        links.push({ contactId: result.contactId, hubspotId });
      }
      await fake.ask({ kind: 'seed', contacts: seeded });
      await workspace.linkHubspotContacts(links);
    }
    const setupSeconds = (performance.now() - setupStarted) / 1000;

    await fake.ask({ kind: 'limit', max: limit, intervalMs });
    await fake.ask({ kind: 'reset' });
    const marks: Mark[] = [];
    let done = 0;
    let failed = 0;
    sync = new HubSpotSync({
      engine,
      store,
      clock: systemClock,
      connections: new HubSpotConnections({ basePath: fake.url }),
      onRecorded: (counts) => {
        done += counts.done;
        failed += counts.dead + counts.retried + counts.held;
        marks.push({ at: performance.now(), total: done });
      },
    });
    const started = performance.now();
    sync.start();
    await waitUntil(() => done + failed >= total, 600_000);
    await sync.stop();
    const wallSeconds = (performance.now() - started) / 1000;
    const measured = rateBetween(marks, warmUp, total);

    // Final state: every contact's HubSpot properties equal Consentry's current consent.
    const names = SYNCED_CHANNELS.flatMap((channel) => Object.values(channelPropertyNames(channel)));
    const report = await fake.ask({ kind: 'report', properties: names });
    if (report === undefined) throw new Error('the fake sent no report');
    let lost = 0;
    let duplicated = 0;
    const contacts = await store.transaction((tx) => tx.listContacts(created.id, { limit: total + 1 }));
    const states = await store.transaction(async (tx) => {
      const byContact = new Map<string, Awaited<ReturnType<typeof tx.getConsentStates>>>();
      for (const contact of contacts) byContact.set(contact.id, await tx.getConsentStates(created.id, contact.id));
      return byContact;
    });
    for (const contact of contacts) {
      const stored = report.contacts[contact.hubspotId ?? ''];
      const written = stored?.properties ?? {};
      const consent = states.get(contact.id) ?? [];
      const differs = SYNCED_CHANNELS.some((channel) => {
        const state = effectiveStatus(consent, 'marketing', channel).state;
        const expected = state === null ? null : channelConsentProperties(channel, state);
        if (expected === null) return written[channelPropertyNames(channel).status] !== undefined;
        return Object.entries(expected).some(([name, value]) => (written[name] ?? '') !== value);
      });
      if (stored === undefined || differs) lost += 1;
      duplicated += Math.max(0, (stored?.writes ?? 0) - 1);
    }
    const share429 = report.requests === 0 ? 0 : report.rateLimited / report.requests;
    const updates = report.byEndpoint['POST /crm/v3/objects/contacts/batch/update'] ?? 0;

    // The same changes, one request per contact, as a per-record zap pushes them.
    await fake.ask({ kind: 'reset' });
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
    const zap = new HubSpotConnections({ basePath: fake.url }).session({ accessToken: TOKEN, portalId: PORTAL });
    const sample = contacts.slice(0, Math.min(perRecord + limit, contacts.length));
    const zapMarks: Mark[] = [];
    let zapDone = 0;
    let next = 0;
    const zapStarted = performance.now();
    await Promise.all(
      Array.from({ length: limit }, async () => {
        for (;;) {
          const contact = sample[next++];
          if (contact === undefined) return;
          const state = (states.get(contact.id) ?? [])[0];
          const channel = state?.channel;
          if (state === undefined || channel === undefined || channel === 'any' || channel === 'telegram' || channel === 'email') continue;
          await zap.client.updateContacts([{ id: contact.hubspotId ?? '', properties: channelConsentProperties(channel, state) }]);
          zapDone += 1;
          zapMarks.push({ at: performance.now(), total: zapDone });
        }
      }),
    );
    const zapSeconds = (performance.now() - zapStarted) / 1000;
    const zapRate = rateBetween(zapMarks, limit, zapDone);
    const zapReport = await fake.ask({ kind: 'report', properties: [] });
    const zapShare429 = zapReport === undefined || zapReport.requests === 0 ? 0 : zapReport.rateLimited / zapReport.requests;

    console.log(`hubspot-sync: load average ${loadavg().map((l) => fmt(l, 2)).join(' ')} on this machine while measuring`);
    console.log(
      `  limit ${fmt(limit)} requests / ${fmt(intervalMs)} ms (HubSpot's ${fmt(limit)} / 10 s, ${fmt(10_000 / intervalMs, 1)}× faster)   fake latency ${fmt(latencyMs)} ms   set-up ${fmt(setupSeconds, 1)} s`,
    );
    console.log(
      `  batched: ${fmt(changes)} changes after a warm-up of ${fmt(warmUp)}   ${fmt(measured.rate)} records/s over ${fmt(measured.seconds, 2)} s   ceiling ${fmt(ceiling)} records/s (limit × 100 per batch)   ratio ${fmt(measured.rate / ceiling, 2)} (target ≥ 0.90)`,
    );
    console.log(
      `  requests ${fmt(report.requests)} (${fmt(updates)} batch updates for ${fmt(total)} records)   429s ${fmt(report.rateLimited)} (${fmt(share429 * 100, 2)} %, target ≤ 1 %)   wall ${fmt(wallSeconds, 2)} s for all ${fmt(total)}`,
    );
    console.log(
      `  lost ${fmt(lost)}   duplicated ${fmt(duplicated)}   dead or retried ${fmt(failed)}   HubSpot = Consentry for ${fmt(contacts.length - lost)} of ${fmt(contacts.length)} contacts`,
    );
    console.log(
      `  one request per contact: ${fmt(zapRate.rate)} records/s (${fmt(zapDone)} pushed in ${fmt(zapSeconds, 1)} s, the first ${fmt(limit)} as warm-up; 429s ${fmt(zapShare429 * 100, 2)} %)   all ${fmt(changes)} would take ${fmt(changes / zapRate.rate, 0)} s`,
    );
    console.log(`  speed-up of batching: ${fmt(measured.rate / zapRate.rate, 1)}×`);
  } finally {
    await sync?.stop();
    await fake.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes(FAKE_FLAG)) {
  runFake();
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}

import { mkdtempSync, rmSync } from 'node:fs';
import http, { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { MemorySlackAlertStore } from '../connectors/slack/alert-store.js';
import { boltLogger, silentPino } from '../connectors/slack/logger.js';
import { createSlackReceiver, SLACK_BODY_LIMIT_BYTES, type SlackReceiver } from '../connectors/slack/receiver.js';
import { computeSlackSignature } from '../connectors/slack/verify.js';
import { createEngine } from '../src/engine.js';
import { FakeClock } from '../src/ports/clock.js';
import type { Store } from '../src/ports/store.js';
import { createMemoryStore } from '../src/store/memory.js';
import { createSqliteStore } from '../src/store/sqlite.js';
import { envNumber, fmt, median } from './stats.js';

/**
 * What an unauthenticated POST /slack/events costs the server: forged requests of 128 KiB with a
 * fresh timestamp (the header screen cannot refuse them) against 1, 200 and 1,000 workspaces that
 * each have their own Slack app and signing secret. The receiver's handleRequest is called
 * directly, so the figures are the receiver's own work, without the HTTP stack.
 *
 * - "forged, unknown team": a request whose payload names a Slack team and app no workspace was
 *   seen with, each one given a fresh budget of full scans (the clock moves on between them): the
 *   cost of one scan of every workspace's secret;
 * - "flood, unknown team": the same request repeated without the clock moving: the cost once the
 *   budget of full scans is spent (what a sustained flood costs per request);
 * - "forged, known team": a request naming the Slack team and app of a workspace that sent a
 *   genuine request before, with a signature that does not verify.
 * Run with `npx tsx bench/slack-forged.ts`. Environment: SLACK_BENCH_REQUESTS (requests per
 * figure, default 40), SLACK_BENCH_STORE (memory, sqlite or both; default both).
 */

const SIZES = [1, 200, 1000];
const T0 = '2026-01-01T10:00:00.000Z';

interface Scenario {
  name: string;
  /** Median milliseconds per request, and the statuses seen. */
  ms: number;
  statuses: string;
}

function forgedBody(team: string, app: string): Buffer {
  const payload = JSON.stringify({ type: 'block_actions', team: { id: team }, api_app_id: app, user: { id: 'UFORGED01' }, actions: [] });
  const head = `payload=${encodeURIComponent(payload)}&filler=`;
  return Buffer.from(head + 'x'.repeat(SLACK_BODY_LIMIT_BYTES - head.length));
}

/** One request straight into the receiver; resolves with the status it answered. */
async function send(receiver: SlackReceiver, headers: Record<string, string>, body: Buffer): Promise<number> {
  const req = new IncomingMessage(new Socket());
  req.url = '/slack/events';
  req.method = 'POST';
  req.headers = { 'content-type': 'application/x-www-form-urlencoded', ...headers };
  const res = new ServerResponse(req);
  await receiver.handleRequest(req, res, body);
  return res.statusCode;
}

async function measure(repeat: number, once: () => Promise<number>, between: () => void): Promise<Omit<Scenario, 'name'>> {
  const times: number[] = [];
  const statuses = new Map<number, number>();
  for (let n = 0; n < repeat; n += 1) {
    between();
    const started = performance.now();
    const status = await once();
    times.push(performance.now() - started);
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
  }
  return { ms: median(times), statuses: [...statuses].map(([status, count]) => `${count}×${status}`).join(' ') };
}

/** Slack's Web API, answered locally: a genuine click's listener tells the user the alert is unknown. */
async function localSlackApi(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, channel: 'C0BENCH01', ts: '1767261600.000100' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('local Slack API is not listening on a port');
  return { url: `http://127.0.0.1:${address.port}/api/`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function run(size: number, kind: 'memory' | 'sqlite', repeat: number, slackApiUrl: string): Promise<Scenario[]> {
  const dir = kind === 'sqlite' ? mkdtempSync(join(tmpdir(), 'consentry-bench-slack-')) : null;
  const store: Store = dir === null ? createMemoryStore() : createSqliteStore({ path: join(dir, 'bench.db') });
  const clock = new FakeClock(T0);
  try {
    const engine = createEngine({ store, clock });
    for (let n = 0; n < size; n += 1) {
      await engine.createWorkspace({
        name: `Shop ${n}`,
        settings: { slack: { botToken: `xoxb-bench-${n}`, signingSecret: `secret-${n}`, alertChannel: 'C0BENCH01', allowedUserIds: ['UBENCH01'], botId: 'B0BENCH', botUserId: 'U0BENCH' } },
      });
    }
    const receiver = createSlackReceiver({
      engine,
      alerts: new MemorySlackAlertStore(store),
      clock,
      env: {},
      slackApiUrl,
      logger: boltLogger(silentPino),
    });
    const timestamp = () => String(Math.floor(clock.now().getTime() / 1000));
    const forged = () => ({ 'x-slack-request-timestamp': timestamp(), 'x-slack-signature': `v0=${'0'.repeat(64)}` });
    const unknown = forgedBody('T0UNKNOWN', 'A0UNKNOWN');
    const known = forgedBody('T0KNOWN', 'A0KNOWN');

    // A genuine click from the last workspace, so its Slack team and app are known where the receiver learns them.
    const click = JSON.stringify({
      type: 'block_actions',
      team: { id: 'T0KNOWN' },
      api_app_id: 'A0KNOWN',
      user: { id: 'UBENCH01' },
      container: { type: 'message', message_ts: '1767261600.000100', channel_id: 'C0BENCH01' },
      trigger_id: '1767261630.000000.trigger',
      actions: [{ type: 'button', action_id: 'resend_consent_request', value: 'al_unknown' }],
    });
    const genuine = Buffer.from(`payload=${encodeURIComponent(click)}`);
    const ts = timestamp();
    await send(receiver, { 'x-slack-request-timestamp': ts, 'x-slack-signature': computeSlackSignature(`secret-${size - 1}`, ts, genuine) }, genuine);
    await receiver.drain();

    const scan = await measure(repeat, () => send(receiver, forged(), unknown), () => clock.advance(60_000));
    const flood = await measure(repeat, () => send(receiver, forged(), unknown), () => undefined);
    clock.advance(60_000);
    const knownTeam = await measure(repeat, () => send(receiver, forged(), known), () => undefined);
    await receiver.drain();
    return [
      { ...scan, name: 'forged, unknown team' },
      { ...flood, name: 'flood, unknown team' },
      { ...knownTeam, name: 'forged, known team' },
    ];
  } finally {
    await store.close();
    if (dir !== null) rmSync(dir, { recursive: true, force: true });
  }
}

export async function main(): Promise<void> {
  const repeat = Math.round(envNumber('SLACK_BENCH_REQUESTS', 40));
  const which = process.env.SLACK_BENCH_STORE ?? 'both';
  const kinds = (['memory', 'sqlite'] as const).filter((kind) => which === 'both' || which === kind);
  const api = await localSlackApi();
  try {
    console.log(`forged 128 KiB POST /slack/events, median of ${repeat} requests (ms per request; statuses answered)`);
    for (const kind of kinds) {
      for (const size of SIZES) {
        const figures = await run(size, kind, repeat, api.url);
        console.log(`${kind.padEnd(6)} ${String(size).padStart(5)} workspaces: ${figures.map((f) => `${f.name} ${fmt(f.ms, 2)} ms (${f.statuses})`).join('; ')}`);
      }
    }
  } finally {
    await api.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();

import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { isPublicEventType } from '../src/core/events.js';
import { createEngine, type WorkspaceEngine } from '../src/engine.js';
import { systemClock } from '../src/ports/clock.js';
import { ulidGenerator } from '../src/ports/ids.js';
import { createSqliteStore } from '../src/store/sqlite.js';
import { HookDispatcher } from '../src/worker/hook-dispatcher.js';
import { createHookRegistry } from '../src/worker/hooks.js';
import { envNumber, fmt, percentile } from './stats.js';

/**
 * Event-to-hook delivery latency: keyword messages go through the engine at a steady rate on
 * the embedded SQLite store, each one a consent event; the hook dispatcher runs its real loop
 * and POSTs every event to a local target, which notes when each arrived. Latency is from the
 * event's `occurredAt` to its receipt at the target (a separate process on the same machine).
 */

const DeliveredSchema = z.object({ id: z.string(), occurredAt: z.string() });
const TargetMessageSchema = z.union([
  z.object({ kind: z.literal('ready'), port: z.number().int() }),
  z.object({ kind: z.literal('receipts'), receipts: z.array(z.object({ id: z.string(), latencyMs: z.number() })) }),
]);

interface Receipt {
  id: string;
  latencyMs: number;
}

const TARGET_FLAG = '--delivery-target';

/**
 * The receiving end, in its own process as a real subscriber would be, so its work does not
 * queue behind the dispatcher's on one event loop. It notes each event's latency on arrival and
 * reports them to the parent in small batches.
 */
function runTarget(): void {
  const batch: Receipt[] = [];
  const report = (): void => {
    if (batch.length > 0) process.send?.({ kind: 'receipts', receipts: batch.splice(0) });
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const receivedAt = Date.now();
      const event = DeliveredSchema.parse(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      batch.push({ id: event.id, latencyMs: receivedAt - Date.parse(event.occurredAt) });
      res.writeHead(204);
      res.end();
    });
  });
  server.keepAliveTimeout = 60_000;
  const timer = setInterval(report, 20);
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    if (address && typeof address === 'object') process.send?.({ kind: 'ready', port: address.port });
  });
  process.on('message', () => {
    clearInterval(timer);
    report();
    server.closeAllConnections();
    server.close(() => process.disconnect());
  });
}

async function startTarget(receipts: Receipt[]): Promise<{ url: string; close(): Promise<void> }> {
  const child = fork(fileURLToPath(import.meta.url), [TARGET_FLAG], { stdio: 'inherit' });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.on('message', (raw) => {
      const message = TargetMessageSchema.parse(raw);
      if (message.kind === 'ready') resolve(message.port);
      else receipts.push(...message.receipts);
    });
  });
  return {
    url: `http://127.0.0.1:${port}/hook`,
    close: async () => {
      if (!child.connected) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.send('stop');
      await exited;
    },
  };
}

/** Sends messages `from` .. `from + count - 1` at a steady rate; returns the seconds it took. */
async function generate(ws: WorkspaceEngine, from: number, count: number, rate: number, contacts: number): Promise<number> {
  // Message i is due at start + (i - from) / rate; the generator catches up when it runs late.
  const started = performance.now();
  let sent = 0;
  while (sent < count) {
    const due = Math.min(count, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
    while (sent < due) {
      const i = from + sent;
      // STOP and START alternate per contact, so every message changes consent: one event each.
      const text = Math.floor(i / contacts) % 2 === 0 ? 'STOP' : 'START';
      await ws.handleInbound({ channel: 'whatsapp', messageId: `bench-${i}`, from: { id: `+3460000${String(1000 + (i % contacts)).padStart(4, '0')}` }, text });
      sent += 1;
    }
    await delay(1);
  }
  return (performance.now() - started) / 1000;
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await delay(10);
}

export async function main(): Promise<void> {
  const rate = envNumber('BENCH_DELIVERY_RATE', 500);
  const seconds = envNumber('BENCH_DELIVERY_SECONDS', 5);
  const contacts = envNumber('BENCH_DELIVERY_CONTACTS', 500);
  const total = Math.round(rate * seconds);

  const dir = mkdtempSync(join(tmpdir(), 'consentry-bench-delivery-'));
  const store = createSqliteStore({ path: join(dir, 'bench.db') });
  const receipts: Receipt[] = [];
  const target = await startTarget(receipts);
  // The target listens on 127.0.0.1: private targets are allowed, as in a self-hosted set-up.
  const dispatcher = new HookDispatcher({ store, clock: systemClock, allowPrivateTargets: true });
  try {
    const engine = createEngine({ store, clock: systemClock });
    const workspace = await engine.createWorkspace({ name: 'bench', settings: { triggers: [] } });
    const ws = engine.workspace(workspace.id);
    await createHookRegistry({ store, clock: systemClock, ids: ulidGenerator(), allowPrivateTargets: true }).create(workspace.id, { targetUrl: target.url, event: '*' });
    dispatcher.start();

    // Warm-up, not measured: one message per contact creates the contacts and warms the JIT,
    // the connection pool and SQLite's cache, as in steady-state traffic.
    await generate(ws, 0, contacts, rate, contacts);
    await waitFor(() => receipts.length >= contacts, 30_000);
    const warmedUp = new Set(receipts.map((r) => r.id));
    const afterWarmUp = (await store.transaction((tx) => tx.listEventsAfter(0, contacts * 4))).at(-1)?.position ?? 0;

    const generatedSeconds = await generate(ws, contacts, total, rate, contacts);
    const events = await store.transaction((tx) => tx.listEventsAfter(afterWarmUp, total * 4));
    const generated = events.filter((e) => isPublicEventType(e.type)).length;
    const measured = (): Receipt[] => receipts.filter((r) => !warmedUp.has(r.id));
    await waitFor(() => measured().length >= generated, 30_000);
    await dispatcher.stop();
    await target.close();

    const delivered = measured();
    const latencies = delivered.map((r) => r.latencyMs);
    const distinct = new Set(delivered.map((r) => r.id)).size;
    const complete = generated === total && distinct === generated && delivered.length === generated;
    console.log(`delivery: load average ${loadavg().map((l) => fmt(l, 2)).join(' ')} on this machine while measuring`);
    console.log(`  ${fmt(total)} messages in ${fmt(generatedSeconds, 2)} s (${fmt(total / generatedSeconds)} msg/s) after a warm-up of ${fmt(contacts)}, one hook, ${fmt(contacts)} contacts`);
    console.log(`  events generated ${fmt(generated)}   delivered ${fmt(delivered.length)} (${fmt(distinct)} distinct)   ${complete ? 'all, once each' : 'MISMATCH'}`);
    console.log(
      `  occurredAt -> target   p50 ${fmt(percentile(latencies, 50))} ms   p99 ${fmt(percentile(latencies, 99))} ms   max ${fmt(Math.max(...latencies))} ms   (target p99 < 200 ms)`,
    );
  } finally {
    await dispatcher.stop();
    await target.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes(TARGET_FLAG)) {
  runTarget();
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}

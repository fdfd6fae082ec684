import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import BetterSqlite3 from 'better-sqlite3';
import Fastify from 'fastify';
import { z } from 'zod';
import { startServer } from '../src/server/index.js';
import { createSqliteStore } from '../src/store/sqlite.js';
import { envNumber, fmt, median } from './stats.js';

/**
 * HTTP throughput of POST /v1/messages (STOP / START keywords from many contacts, each message a
 * committed SQLite transaction) beside a bare Fastify hello-world measured in the same run,
 * alternating, over loopback. The servers run in a child process so the load generator does not
 * share their event loop. Also: how long `consentry serve` takes from spawn to a healthy /health.
 *
 * Environment: BENCH_SERVER_RUNS (3), BENCH_SERVER_DURATION seconds per run (5),
 * BENCH_SERVER_CONNECTIONS (10), BENCH_SERVER_READY_RUNS (3), BENCH_SERVER_WORKERS=off to
 * leave out the background workers (hook dispatcher, timer scheduler) that `npm start` runs, and
 * BENCH_SERVER_GROUP_COMMIT=off to commit every transaction alone.
 */

const ROOT = resolve(import.meta.dirname, '..');
const TARGET_FLAG = '--target';
const CONTACTS = 5_000;

const TargetSchema = z.object({ consentry: z.string(), hello: z.string(), key: z.string(), workspaceId: z.string() });
type Target = z.infer<typeof TargetSchema>;
/** What the target reports as it stops: how many COMMITs carried how many transactions. */
const CommitsSchema = z.object({ commits: z.number(), transactions: z.number() });

/** Child-process mode: both servers, on loopback, until SIGTERM. */
async function runTarget(databasePath: string): Promise<void> {
  const store = createSqliteStore({ path: databasePath, groupCommit: process.env.BENCH_SERVER_GROUP_COMMIT !== 'off' });
  const withoutWorkers = process.env.BENCH_SERVER_WORKERS === 'off';
  const consentry = await startServer({ store, host: '127.0.0.1', port: 0, ...(withoutWorkers ? { workers: () => [] } : {}) });
  const { workspaceId, key } = await consentry.createWorkspaceWithKey('Bench');
  const hello = Fastify();
  hello.get('/', async () => ({ hello: 'world' }));
  const helloUrl = await hello.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`${JSON.stringify({ consentry: consentry.url, hello: helloUrl, key, workspaceId })}\n`);
  await new Promise<void>((done) => process.once('SIGTERM', () => done()));
  await hello.close();
  await consentry.close();
  const { commits, transactions } = store.commitStats();
  await store.close();
  process.stdout.write(`${JSON.stringify({ commits, transactions })}\n`);
}

interface RunFigures {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  ok: number;
  other: number;
  errors: number;
}

function figures(result: autocannon.Result): RunFigures {
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    ok: result['2xx'],
    other: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

async function helloRun(target: Target, duration: number, connections: number): Promise<RunFigures> {
  return figures(await autocannon({ url: target.hello, duration, connections }));
}

/** One message per request: a unique messageId, STOP and START in turn for each of CONTACTS senders. */
async function messagesRun(target: Target, duration: number, connections: number, state: { next: number; acknowledged: string[] }): Promise<RunFigures> {
  const inFlight = new WeakMap<object, string>();
  const result = await autocannon({
    url: target.consentry,
    duration,
    connections,
    requests: [
      {
        method: 'POST',
        path: '/v1/messages',
        headers: { authorization: `Bearer ${target.key}`, 'content-type': 'application/json' },
        setupRequest: (request, context) => {
          const n = state.next++;
          const messageId = `bench-${n}`;
          inFlight.set(context, messageId);
          const contact = n % CONTACTS;
          const text = Math.floor(n / CONTACTS) % 2 === 0 ? 'STOP' : 'START';
          const from = `+3461${String(contact).padStart(7, '0')}`;
          return { ...request, body: JSON.stringify({ channel: 'sms', messageId, from: { id: from }, text }) };
        },
        onResponse: (status, _body, context) => {
          const messageId = inFlight.get(context);
          if (status >= 200 && status < 300 && messageId) state.acknowledged.push(messageId);
        },
      },
    ],
  });
  return figures(result);
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => done(port));
    });
  });
}

/** Spawn what `npm start` runs (the built `consentry serve`) on a fresh database and time it until /health answers 200. */
async function readinessMs(dir: string, attempt: number): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, ['bin/consentry.js', 'serve'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), HOST: '127.0.0.1', DATABASE_PATH: join(dir, `ready-${attempt}.db`), LOG_LEVEL: 'warn' },
    stdio: 'ignore',
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error('consentry serve exited before it was ready');
      const healthy = await fetch(`http://127.0.0.1:${port}/health`).then(
        (res) => res.status === 200,
        () => false,
      );
      if (healthy) return performance.now() - started;
      await new Promise((done) => setTimeout(done, 10));
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

function committedMessageIds(databasePath: string, workspaceId: string): Set<string> {
  const db = new BetterSqlite3(databasePath, { readonly: true });
  try {
    const rows = z
      .array(z.object({ message_id: z.string() }))
      .parse(db.prepare('SELECT message_id FROM processed_messages WHERE workspace_id = ?').all(workspaceId));
    return new Set(rows.map((row) => row.message_id));
  } finally {
    db.close();
  }
}

interface RunningTarget {
  child: ChildProcess;
  target: Target;
  /** Resolves once the target has exited, with the commit counts it printed last. */
  finished: Promise<z.infer<typeof CommitsSchema> | undefined>;
}

async function startTarget(databasePath: string): Promise<RunningTarget> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/server.ts'), TARGET_FLAG], {
    cwd: ROOT,
    env: { ...process.env, BENCH_DATABASE_PATH: databasePath },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout ?? process.stdin });
  const printed: string[] = [];
  let announce: (line: string) => void = () => undefined;
  const first = new Promise<string>((resolve) => {
    announce = resolve;
  });
  lines.on('line', (line) => {
    printed.push(line);
    if (printed.length === 1) announce(line);
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const finished = exited.then(() => {
    const last = printed.length > 1 ? printed[printed.length - 1] : undefined;
    return last === undefined ? undefined : CommitsSchema.parse(JSON.parse(last));
  });
  const line = await Promise.race([first, exited.then(() => undefined)]);
  if (line === undefined) throw new Error('the bench target exited before it printed its URLs');
  return { child, target: TargetSchema.parse(JSON.parse(line)), finished };
}

export async function main(): Promise<void> {
  const runs = envNumber('BENCH_SERVER_RUNS', 3);
  const duration = envNumber('BENCH_SERVER_DURATION', 5);
  const connections = envNumber('BENCH_SERVER_CONNECTIONS', 10);
  const readyRuns = envNumber('BENCH_SERVER_READY_RUNS', 3);
  const dir = mkdtempSync(join(tmpdir(), 'consentry-bench-server-'));
  const databasePath = join(dir, 'bench.db');
  try {
    const { child, target, finished } = await startTarget(databasePath);
    const hello: RunFigures[] = [];
    const messages: RunFigures[] = [];
    const state: { next: number; acknowledged: string[] } = { next: 0, acknowledged: [] };
    let commits: z.infer<typeof CommitsSchema> | undefined;
    try {
      // Warm both up so neither pays for JIT compilation inside a measured run.
      await helloRun(target, 1, connections);
      await messagesRun(target, 1, connections, state);
      for (let i = 0; i < runs; i++) {
        hello.push(await helloRun(target, duration, connections));
        messages.push(await messagesRun(target, duration, connections, state));
      }
    } finally {
      child.kill('SIGTERM');
      commits = await finished;
    }

    const committed = committedMessageIds(databasePath, target.workspaceId);
    const lost = state.acknowledged.filter((id) => !committed.has(id));
    const helloRps = median(hello.map((r) => r.requestsPerSecond));
    const messagesRps = median(messages.map((r) => r.requestsPerSecond));
    const workers = process.env.BENCH_SERVER_WORKERS === 'off' ? 'without background workers' : 'with the background workers';
    const grouping = process.env.BENCH_SERVER_GROUP_COMMIT === 'off' ? 'every transaction committed alone' : 'group commit';
    console.log(`HTTP over loopback, ${workers}, ${grouping}: ${runs} alternating runs × ${duration} s, ${connections} connections (medians)`);
    console.log(`  bare Fastify hello-world      ${fmt(helloRps)} req/s   p50 ${fmt(median(hello.map((r) => r.p50)), 1)} ms   p99 ${fmt(median(hello.map((r) => r.p99)), 1)} ms`);
    console.log(`  POST /v1/messages (STOP/START) ${fmt(messagesRps)} req/s   p50 ${fmt(median(messages.map((r) => r.p50)), 1)} ms   p99 ${fmt(median(messages.map((r) => r.p99)), 1)} ms`);
    console.log(`  ratio messages / hello-world   ${fmt(messagesRps / helloRps, 2)} (target ≥ 0.25)`);
    const non2xx = messages.reduce((sum, r) => sum + r.other + r.errors, 0) + hello.reduce((sum, r) => sum + r.other + r.errors, 0);
    console.log(`  responses other than 2xx or connection errors: ${non2xx}`);
    console.log(
      `  2xx messages ${state.acknowledged.length}, committed ${committed.size}, acknowledged but not committed ${lost.length}` +
        (committed.size > state.acknowledged.length ? ` (${committed.size - state.acknowledged.length} committed while the run was cut off, unanswered)` : ''),
    );
    if (commits) {
      console.log(`  transactions ${fmt(commits.transactions)} in ${fmt(commits.commits)} COMMITs (${fmt(commits.transactions / Math.max(1, commits.commits), 1)} per COMMIT; the workers' transactions and the API keys' last-use writes included; key lookups only read)`);
    }
    if (lost.length > 0) process.exitCode = 1;

    const ready: number[] = [];
    for (let i = 0; i < readyRuns; i++) ready.push(await readinessMs(dir, i));
    console.log(`npm start (the built consentry serve), spawn to first /health 200: median ${fmt(median(ready))} ms (${ready.map((ms) => fmt(ms)).join(', ')}; target < 2,000)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes(TARGET_FLAG)) {
  const databasePath = z.string().min(1).parse(process.env.BENCH_DATABASE_PATH);
  runTarget(databasePath).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}

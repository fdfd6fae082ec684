import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/ports/clock.js';
import { startServer, type BackgroundWorker, type WorkerDeps } from '../../src/server/index.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { ManualTimers, RecordingWorker, settleTurns } from '../worker/manual-timers.js';

describe('startServer', () => {
  it('listens on loopback, creates workspaces with keys, and runs the workers from start to close', async () => {
    const store = createMemoryStore();
    const clock = new FakeClock('2026-03-01T09:00:00.000Z');
    const worker = new RecordingWorker();
    let received: WorkerDeps | undefined;
    const server = await startServer({
      store,
      clock,
      port: 0,
      dispatchIntervalMs: 5,
      workers: (deps) => {
        received = deps;
        return [worker];
      },
    });
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(worker.calls).toEqual(['start']);
      expect(received).toMatchObject({ store, clock, dispatchIntervalMs: 5 });
      expect(received?.engine).toBe(server.engine);
      received?.metricsRegistry.registerMetric(new (await import('prom-client')).Counter({ name: 'worker_test_total', help: 'a worker metric', registers: [] }));
      expect(await (await fetch(`${server.url}/metrics`)).text()).toContain('worker_test_total');

      const acme = await server.createWorkspaceWithKey('Acme');
      const globex = await server.createWorkspaceWithKey('Globex');
      expect(acme.key).toMatch(/^csk_/);
      const me = await fetch(`${server.url}/v1/me`, { headers: { authorization: `Bearer ${acme.key}` } });
      expect(await me.json()).toEqual({ id: acme.workspaceId, name: 'Acme' });
      const other = await fetch(`${server.url}/v1/me`, { headers: { 'x-api-key': globex.key } });
      expect(await other.json()).toEqual({ id: globex.workspaceId, name: 'Globex' });
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
    } finally {
      await server.close();
    }
    expect(worker.calls).toEqual(['start', 'stop']);
    await server.close();
    expect(worker.calls).toEqual(['start', 'stop']);
    await expect(fetch(`${server.url}/health`)).rejects.toThrow();
  });

  it('makes the first workspace and its key on an empty database only, and the key opens it', async () => {
    const store = createMemoryStore();
    const server = await startServer({ store, workers: () => [] });
    try {
      const first = await server.createFirstWorkspaceWithKey('Default workspace');
      expect(first?.key).toMatch(/^csk_/);
      const stored = await store.read(async (tx) => ({ workspaces: await tx.listWorkspaces(), keys: await tx.listApiKeys() }));
      expect(stored.workspaces.map((w) => w.id)).toEqual([first?.workspaceId]);
      expect(stored.keys.map((k) => k.workspaceId)).toEqual([first?.workspaceId]);
      expect(await server.createFirstWorkspaceWithKey('Default workspace')).toBeNull();
      const me = await fetch(`${server.url}/v1/me`, { headers: { authorization: `Bearer ${first?.key ?? ''}` } });
      expect(await me.json()).toEqual({ id: first?.workspaceId, name: 'Default workspace' });
    } finally {
      await server.close();
    }
  });

  it('lets a request in flight finish when closing', async () => {
    const store = createMemoryStore();
    const server = await startServer({ store, workers: () => [] });
    const { key } = await server.createWorkspaceWithKey('Acme');
    const inFlight = fetch(`${server.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'sms', messageId: 'm-1', from: { id: '+34600000001' }, text: 'STOP' }),
    });
    const closed = new Promise<void>((done) => server.app.server.once('request', () => void server.close().then(done)));
    const res = await inFlight;
    expect(res.status).toBe(200);
    await closed;
    const history = await server.engine.workspace((await server.engine.listWorkspaces())[0]?.id ?? '').listEvents();
    expect(history.map((e) => e.type)).toContain('consent.withdrawn');
  });

  it('does not wait past its drain limit for a client that never finishes its request', async () => {
    const store = createMemoryStore();
    const worker = new RecordingWorker();
    const server = await startServer({ store, workers: () => [worker], drainTimeoutMs: 50 });
    const { key } = await server.createWorkspaceWithKey('Acme');
    const { port } = new URL(server.url);
    const socket = connect(Number(port), '127.0.0.1');
    const cut = new Promise<void>((done) => socket.once('close', () => done()));
    const received = new Promise<void>((done) => server.app.server.once('request', () => done()));
    await new Promise<void>((done) => socket.once('connect', () => done()));
    // Headers announce a body that never comes.
    socket.write(`POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"channel":`);
    await received;
    await server.close();
    await cut;
    expect(worker.calls).toEqual(['start', 'stop']);
  });

  it('closes the app again when a worker fails to start', async () => {
    const store = createMemoryStore();
    const started = new RecordingWorker();
    const failing: BackgroundWorker = {
      start: () => {
        throw new Error('no timers today');
      },
      stop: async () => undefined,
    };
    await expect(startServer({ store, workers: () => [started, failing] })).rejects.toThrow('no timers today');
    expect(started.calls).toEqual(['start', 'stop']);
  });
});

describe('startServer on a database another server uses', () => {
  /** Renewal timers that fire only when the test moves them; a renewal's store work settles after each move. */
  const manualTimers = (): ManualTimers => new ManualTimers({ settle: settleTurns, turnsAsTimers: true });

  it('serves the API from both, runs the workers in the first only, and hands them over after it closes', async () => {
    const store = createMemoryStore();
    const clock = new FakeClock('2026-03-01T09:00:00.000Z');
    const firstWorker = new RecordingWorker();
    const secondWorker = new RecordingWorker();
    const secondTimers = manualTimers();
    const first = await startServer({ store, clock, workers: () => [firstWorker], workerLease: { timers: manualTimers() } });
    const second = await startServer({ store, clock, workers: () => [secondWorker], workerLease: { ttlMs: 30_000, renewEveryMs: 10_000, timers: secondTimers } });
    try {
      expect(firstWorker.calls).toEqual(['start']);
      expect(secondWorker.calls).toEqual([]);
      expect((await fetch(`${first.url}/health`)).status).toBe(200);
      expect((await fetch(`${second.url}/health`)).status).toBe(200);
      const leaseHeld = async (url: string) => (await (await fetch(`${url}/metrics`)).text()).match(/^consentry_worker_lease_held (\d)$/m)?.[1];
      expect([await leaseHeld(first.url), await leaseHeld(second.url)]).toEqual(['1', '0']);

      await secondTimers.advance(10_000);
      expect(secondWorker.calls).toEqual([]);

      await first.close();
      expect(firstWorker.calls).toEqual(['start', 'stop']);
      expect(secondWorker.calls).toEqual([]);
      await secondTimers.advance(10_000);
      expect(secondWorker.calls).toEqual(['start']);
    } finally {
      await first.close();
      await second.close();
    }
    expect(secondWorker.calls).toEqual(['start', 'stop']);
  });
});

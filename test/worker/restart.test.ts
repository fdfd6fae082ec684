import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import { ulidGenerator } from '../../src/ports/ids.js';
import type { Store } from '../../src/ports/store.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { HookDispatcher } from '../../src/worker/hook-dispatcher.js';
import { createHookRegistry } from '../../src/worker/hooks.js';
import { inbound, START, TEST_TIMEOUT_MS } from './fixtures.js';
import { startTarget, type Target } from './target-server.js';

let dir: string;
let target: Target;
const open: Store[] = [];

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-dispatch-'));
  target = await startTarget();
});

afterEach(async () => {
  for (const store of open.splice(0)) await store.close().catch(() => undefined);
  await target.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function openStore(): Store {
  const store = createSqliteStore({ path: path.join(dir, 'consentry.db') });
  open.push(store);
  return store;
}

describe('a restart between the engine and the dispatcher', () => {
  it('delivers every committed event exactly once per hook after the process comes back', async () => {
    const clock = new FakeClock(START);
    const first = openStore();
    const engine = createEngine({ store: first, clock });
    const workspace = await engine.createWorkspace({ name: 'Acme', settings: { triggers: [] } });
    const ws = engine.workspace(workspace.id);
    const hooks = createHookRegistry({ store: first, clock, ids: ulidGenerator(), allowPrivateTargets: true });
    const all = await hooks.create(workspace.id, { targetUrl: `${target.url}/all`, event: '*' });
    const tagged = await hooks.create(workspace.id, { targetUrl: `${target.url}/tagged`, event: 'contact.tagged' });

    const ana = await ws.handleInbound(inbound('m1', 'STOP', '+34600000001'));
    await ws.addTag(ana.contactId, 'VIP');
    // The first dispatcher fans these out, then the process stops before any delivery.
    const before = new HookDispatcher({ store: first, clock, requestTimeoutMs: TEST_TIMEOUT_MS, allowPrivateTargets: true });
    expect(await before.fanOut()).toEqual({ events: 2, deliveries: 3 });
    await before.stop();
    // These are committed by the engine but not even fanned out before the stop.
    const ben = await ws.handleInbound(inbound('m2', 'START', '+34600000002'));
    await ws.addTag(ben.contactId, 'Lead');
    await first.close();
    expect(target.received).toHaveLength(0);

    const second = openStore();
    const after = new HookDispatcher({ store: second, clock, requestTimeoutMs: TEST_TIMEOUT_MS, allowPrivateTargets: true });
    try {
      for (let pass = 0; pass < 4; pass += 1) await after.runOnce();
    } finally {
      await after.stop();
    }

    const events = await second.transaction((tx) => tx.listEventsAfter(0, 100));
    const received = (suffix: string) => target.received.filter((r) => r.path.endsWith(suffix)).map((r) => String(r.headers['x-consentry-event-id']));
    expect(received('/all').sort()).toEqual(events.map((e) => e.id).sort());
    expect(received('/tagged').sort()).toEqual(events.filter((e) => e.type === 'contact.tagged').map((e) => e.id).sort());
    expect(events).toHaveLength(4);
    const status = await second.transaction(async (tx) => ({
      all: (await tx.listDeliveries(workspace.id, all.id, { limit: 10 })).map((d) => d.status),
      tagged: (await tx.listDeliveries(workspace.id, tagged.id, { limit: 10 })).map((d) => d.status),
      pending: await tx.countDeliveries('pending'),
    }));
    expect(status).toEqual({ all: ['delivered', 'delivered', 'delivered', 'delivered'], tagged: ['delivered', 'delivered'], pending: 0 });
  });

  it('resumes a retry schedule from the store after a restart', async () => {
    const clock = new FakeClock(START);
    const first = openStore();
    const engine = createEngine({ store: first, clock });
    const workspace = await engine.createWorkspace({ name: 'Acme', settings: { triggers: [] } });
    const hooks = createHookRegistry({ store: first, clock, ids: ulidGenerator(), allowPrivateTargets: true });
    const hook = await hooks.create(workspace.id, { targetUrl: target.url, event: '*' });
    await engine.workspace(workspace.id).handleInbound(inbound('m1', 'STOP'));
    target.answer = (_request, index) => ({ kind: 'status', status: index === 0 ? 503 : 200 });
    const before = new HookDispatcher({ store: first, clock, requestTimeoutMs: TEST_TIMEOUT_MS, random: () => 1, allowPrivateTargets: true });
    expect(await before.runOnce()).toMatchObject({ retried: 1 });
    await before.stop();
    await first.close();

    const second = openStore();
    const after = new HookDispatcher({ store: second, clock, requestTimeoutMs: TEST_TIMEOUT_MS, allowPrivateTargets: true });
    try {
      expect((await after.runOnce()).attempted).toBe(0);
      clock.advance(1000);
      expect(await after.runOnce()).toMatchObject({ attempted: 1, delivered: 1 });
    } finally {
      await after.stop();
    }
    const rows = await second.transaction((tx) => tx.listDeliveries(workspace.id, hook.id, { limit: 10 }));
    expect(rows.map((r) => [r.status, r.attempts])).toEqual([['delivered', 2]]);
  });
});

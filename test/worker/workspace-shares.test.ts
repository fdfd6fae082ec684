import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { WorkspaceEngine } from '../../src/engine.js';
import { ConsentryError } from '../../src/core/errors.js';
import { ulidGenerator } from '../../src/ports/ids.js';
import type { Store } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import {
  DEFAULT_CONCURRENCY,
  DEFAULT_PER_WORKSPACE_CONCURRENCY,
  HookDispatcher,
} from '../../src/worker/hook-dispatcher.js';
import { createHookRegistry } from '../../src/worker/hooks.js';
import { inbound, makeWorld, type World } from './fixtures.js';
import { startTarget, type Target } from './target-server.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function target(answer?: Target['answer']): Promise<Target> {
  const started = await startTarget(answer);
  cleanup.push(() => started.close());
  return started;
}

type StoreKind = 'memory' | 'sqlite';

function storeOf(kind: StoreKind): Store {
  if (kind === 'memory') return createMemoryStore();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-shares-'));
  cleanup.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
  return createSqliteStore({ path: path.join(dir, 'consentry.db') });
}

async function world(kind: StoreKind = 'memory'): Promise<World> {
  const made = await makeWorld({ store: storeOf(kind) });
  cleanup.push(() => made.store.close());
  return made;
}

function dispatcherOf(w: World, options: Parameters<World['dispatcher']>[0] = {}): HookDispatcher {
  const dispatcher = w.dispatcher(options);
  cleanup.push(() => dispatcher.stop());
  return dispatcher;
}

async function otherWorkspace(w: World, name: string): Promise<WorkspaceEngine> {
  const created = await w.engine.createWorkspace({ name, settings: { triggers: [] } });
  return w.engine.workspace(created.id);
}

/** `count` contacts each sending STOP: one consent.withdrawn event each, every contact its own sequence. */
async function stops(ws: WorkspaceEngine, count: number, prefix: string): Promise<void> {
  for (let i = 1; i <= count; i += 1) await ws.handleInbound(inbound(`${prefix}${i}`, 'STOP', `+34600000${String(100 + i).padStart(3, '0')}`));
}

/** `count` hooks of the workspace on consent.withdrawn, to `${url}/${name}1` ... */
async function hooksOf(w: World, ws: WorkspaceEngine, url: string, name: string, count: number): Promise<void> {
  for (let i = 1; i <= count; i += 1) await w.hooks.create(ws.workspaceId, { targetUrl: `${url}/${name}${i}`, event: 'consent.withdrawn' });
}

const pathsOf = (t: Target): string[] => t.received.map((request) => request.path);

describe.each<StoreKind>(['memory', 'sqlite'])('sharing requests between workspaces (%s store)', (kind) => {
  it("keeps a workspace whose receivers never answer to its own share, and another workspace's delivery goes out at once", async () => {
    const w = await world(kind);
    const hanging = await target(() => ({ kind: 'hang' }));
    const healthy = await target();
    // Ten hooks of eight requests each would take every one of the 64 requests without a workspace bound.
    await hooksOf(w, w.ws, hanging.url, 'never', 10);
    await stops(w.ws, 8, 'n');
    const d = dispatcherOf(w, { requestTimeoutMs: 5000 });
    const hangingPass = d.runOnce();
    await hanging.waitForRequests(DEFAULT_PER_WORKSPACE_CONCURRENCY);

    const victim = await otherWorkspace(w, 'Victim');
    await w.hooks.create(victim.workspaceId, { targetUrl: healthy.url, event: 'consent.withdrawn' });
    await victim.handleInbound(inbound('v1', 'STOP'));
    expect(await d.runOnce()).toMatchObject({ attempted: 1, delivered: 1 });
    expect(healthy.received).toHaveLength(1);
    // The stuck workspace's requests are still open, and it got no more than its share of them.
    expect(d.inFlightCount).toBe(DEFAULT_PER_WORKSPACE_CONCURRENCY);
    expect(hanging.received).toHaveLength(DEFAULT_PER_WORKSPACE_CONCURRENCY);
    expect(DEFAULT_PER_WORKSPACE_CONCURRENCY).toBeLessThan(DEFAULT_CONCURRENCY);

    // Closing the receiver answers the open requests with a failed connection: retried later.
    await hanging.close();
    expect(await hangingPass).toMatchObject({ attempted: DEFAULT_PER_WORKSPACE_CONCURRENCY, retried: DEFAULT_PER_WORKSPACE_CONCURRENCY });
  });

  it('reads past the hooks of a workspace that reached its bound, so a workspace later in the order is served in the same pass', async () => {
    const w = await world(kind);
    const t = await target();
    // Created first, so the store visits the busy workspace's ten hooks before the other's.
    await hooksOf(w, w.ws, t.url, 'busy', 10);
    await stops(w.ws, 3, 'b');
    const other = await otherWorkspace(w, 'Other');
    await w.hooks.create(other.workspaceId, { targetUrl: `${t.url}/other`, event: 'consent.withdrawn' });
    await other.handleInbound(inbound('o1', 'STOP'));

    const summary = await dispatcherOf(w, { concurrency: 4, perWorkspaceConcurrency: 2 }).runOnce();
    expect(summary).toMatchObject({ attempted: 3, delivered: 3 });
    expect(pathsOf(t).filter((path) => path.startsWith('/hook/busy'))).toHaveLength(2);
    expect(pathsOf(t)).toContain('/hook/other');
  });

  it("takes one delivery of each workspace before a second of any, whatever the number of each one's hooks", async () => {
    const w = await world(kind);
    const t = await target();
    await hooksOf(w, w.ws, t.url, 'many', 3);
    await stops(w.ws, 4, 'm');
    const other = await otherWorkspace(w, 'Other');
    await hooksOf(w, other, t.url, 'one', 1);
    await stops(other, 4, 'o');

    // Four requests, every workspace allowed all four: the sharing alone splits them.
    expect(await dispatcherOf(w, { concurrency: 4, perWorkspaceConcurrency: 4 }).runOnce()).toMatchObject({ attempted: 4, delivered: 4 });
    const paths = pathsOf(t);
    expect(paths.filter((path) => path.startsWith('/hook/many'))).toHaveLength(2);
    expect(paths.filter((path) => path === '/hook/one1')).toHaveLength(2);
    // Within its share, the workspace with three hooks gave its turns to two different hooks.
    expect(new Set(paths.filter((path) => path.startsWith('/hook/many'))).size).toBe(2);
  });

  it("gives a workspace's turns to its hooks in turn from pass to pass, the other workspace getting one each pass", async () => {
    const w = await world(kind);
    const t = await target();
    await hooksOf(w, w.ws, t.url, 'a', 2);
    await stops(w.ws, 3, 'a');
    const other = await otherWorkspace(w, 'Other');
    await hooksOf(w, other, t.url, 'b', 1);
    await stops(other, 4, 'b');

    const d = dispatcherOf(w, { concurrency: 4, perWorkspaceConcurrency: 1 });
    const perPass: string[][] = [];
    for (let pass = 0; pass < 4; pass += 1) {
      const before = t.received.length;
      expect(await d.runOnce()).toMatchObject({ attempted: 2, delivered: 2 });
      perPass.push(t.received.slice(before).map((request) => request.path).sort());
    }
    expect(perPass).toEqual([
      ['/hook/a1', '/hook/b1'],
      ['/hook/a2', '/hook/b1'],
      ['/hook/a1', '/hook/b1'],
      ['/hook/a2', '/hook/b1'],
    ]);
  });

  it("still sends a contact's events to a hook in order, one at a time, while its workspace has requests to spare", async () => {
    const w = await world(kind);
    const t = await target();
    await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: '*' });
    const { contactId } = await w.ws.handleInbound(inbound('m1', 'STOP'));
    await w.ws.addTag(contactId, 'VIP');
    await w.ws.addTag(contactId, 'Lead');
    const d = dispatcherOf(w, { perWorkspaceConcurrency: 4 });
    for (let pass = 0; pass < 3; pass += 1) expect(await d.runOnce()).toMatchObject({ attempted: 1, delivered: 1 });
    expect(t.received.map((request) => JSON.parse(request.body).data)).toMatchObject([{ channel: 'whatsapp' }, { tag: 'VIP' }, { tag: 'Lead' }]);
  });

  it('counts the outbound webhook in its workspace\'s share', async () => {
    const w = await world(kind);
    const hanging = await target(() => ({ kind: 'hang' }));
    await w.ws.updateSettings({ outboundWebhookUrl: `${hanging.url}/outbound` });
    await hooksOf(w, w.ws, hanging.url, 'never', 1);
    // Each STOP is a consent.withdrawn for the hook and a message.outbound (the confirmation) for the webhook.
    await stops(w.ws, 4, 's');
    const d = dispatcherOf(w, { perWorkspaceConcurrency: 3, requestTimeoutMs: 5000 });
    const pass = d.runOnce();
    await hanging.waitForRequests(3);
    expect(await d.runOnce()).toMatchObject({ attempted: 0 });
    expect(hanging.received).toHaveLength(3);
    expect(new Set(pathsOf(hanging))).toEqual(new Set(['/hook/outbound', '/hook/never1']));
    await hanging.close();
    expect(await pass).toMatchObject({ attempted: 3, retried: 3 });
  });
});

describe('live hooks per workspace', () => {
  it('refuses one more hook than the bound with CONFLICT naming it, counting only live hooks of the workspace', async () => {
    const w = await world();
    const hooks = createHookRegistry({ store: w.store, clock: w.clock, ids: ulidGenerator(), allowPrivateTargets: true, maxHooksPerWorkspace: 3 });
    const created = [];
    for (let i = 1; i <= 3; i += 1) created.push(await hooks.create(w.ws.workspaceId, { targetUrl: `https://hooks.example.com/${i}`, event: '*' }));

    const refused = await hooks.create(w.ws.workspaceId, { targetUrl: 'https://hooks.example.com/4', event: '*' }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ConsentryError);
    expect(refused).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('The workspace has 3 live hooks, the most it may have') });
    expect(await hooks.list(w.ws.workspaceId)).toHaveLength(3);

    // Another workspace has its own count.
    const other = await otherWorkspace(w, 'Other');
    await expect(hooks.create(other.workspaceId, { targetUrl: 'https://hooks.example.com/o', event: '*' })).resolves.toMatchObject({ event: '*' });
    // A deleted hook frees its place.
    expect(await hooks.remove(w.ws.workspaceId, created[0]?.id ?? '')).toBe(true);
    await expect(hooks.create(w.ws.workspaceId, { targetUrl: 'https://hooks.example.com/5', event: '*' })).resolves.toMatchObject({ event: '*' });
  });
});

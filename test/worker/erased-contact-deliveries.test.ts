import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { isConsentryError } from '../../src/core/errors.js';
import type { Store } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { outboundHookId } from '../../src/worker/hooks.js';
import type { DeliverySender } from '../../src/worker/http-sender.js';
import { inbound, makeWorld, type World } from './fixtures.js';
import { startTarget, type Target, type TargetAnswer } from './target-server.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/**
 * A receiver on 127.0.0.1 answering 503 while `down`, else what `answer` says (200 by default);
 * the outbound webhook at /outbound, a hook on every event at /hook.
 */
async function erasureWorld(
  options: { store?: Store; answer?: (body: string, path: string) => TargetAnswer } = {},
): Promise<{ w: World; t: Target; hookId: string; setDown(down: boolean): void }> {
  let down = false;
  const answer = options.answer ?? (() => ({ kind: 'status', status: 200 }));
  const t = await startTarget((request) => (down ? { kind: 'status', status: 503 } : answer(request.body, request.path)));
  cleanup.push(() => t.close());
  const origin = new URL(t.url).origin;
  const w = await makeWorld({ settings: { outboundWebhookUrl: `${origin}/outbound` }, ...(options.store ? { store: options.store } : {}) });
  cleanup.push(() => w.store.close());
  const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: `${origin}/hook`, event: '*' });
  return {
    w,
    t,
    hookId: hook.id,
    setDown: (value) => {
      down = value;
    },
  };
}

async function outboundRows(w: World) {
  return w.store.transaction((tx) => tx.listDeliveries(w.ws.workspaceId, outboundHookId(w.ws.workspaceId), { limit: 10 }));
}

/** The hook's deliveries, oldest event first, as [event type, status]. */
async function hookDeliveries(w: World, hookId: string): Promise<Array<[string | null, string]>> {
  const rows = (await w.hooks.deliveries(w.ws.workspaceId, hookId, {})).data;
  return rows.map((row): [string | null, string] => [row.eventType, row.status]).reverse();
}

const paths = (t: Target) => t.received.map((request) => `${request.path} ${String(request.headers['x-consentry-event-type'])}`);

describe("an erased contact's replies to the outbound webhook", () => {
  it('are not sent once the contact is erased while the reply waits for a retry, and end dead saying why', async () => {
    const { w, t, hookId, setDown } = await erasureWorld();
    setDown(true);
    const { contactId, replies } = await w.ws.handleInbound(inbound('m1', 'STOP'));
    const d = w.dispatcher();
    expect(await d.runOnce()).toMatchObject({ attempted: 2, retried: 2 });
    const [firstTry] = t.received.filter((request) => request.path === '/outbound');
    expect(JSON.parse(firstTry?.body ?? '{}')).toMatchObject({ data: { to: '+34600000001', text: replies[0]?.text } });

    await w.ws.eraseContact(contactId);
    setDown(false);
    w.clock.advance(60 * 60 * 1000);
    await d.runOnce();
    await d.runOnce();

    // One POST to the outbound webhook in all: the failed one before the erasure.
    expect(t.received.filter((request) => request.path === '/outbound')).toHaveLength(1);
    expect(t.received.some((request) => request.body.includes('[erased]') && request.path === '/outbound')).toBe(false);
    const [row] = await outboundRows(w);
    expect(row).toMatchObject({ status: 'dead', attempts: 1, lastError: 'not sent: the contact was erased' });
    // The contact's other events still reach the hooks, the erasure itself included.
    expect(await hookDeliveries(w, hookId)).toEqual([
      ['consent.withdrawn', 'delivered'],
      ['contact.updated', 'delivered'],
    ]);
    const updated = t.received.find((request) => request.headers['x-consentry-event-type'] === 'contact.updated');
    expect(JSON.parse(updated?.body ?? '{}')).toMatchObject({ contactId, data: { contactId, changes: ['erased'] } });
  });

  it('are never sent when the contact is erased before the first attempt, and cannot be sent again', async () => {
    const { w, t, hookId } = await erasureWorld();
    const { contactId } = await w.ws.handleInbound(inbound('m1', 'STOP'));
    await w.ws.eraseContact(contactId);
    const d = w.dispatcher();
    await d.runOnce();
    await d.runOnce();

    expect(paths(t)).toEqual(['/hook consent.withdrawn', '/hook contact.updated']);
    const [row] = await outboundRows(w);
    expect(row).toMatchObject({ status: 'dead', attempts: 0, lastError: 'not sent: the contact was erased' });
    expect(await hookDeliveries(w, hookId)).toEqual([
      ['consent.withdrawn', 'delivered'],
      ['contact.updated', 'delivered'],
    ]);

    const refusal = await w.hooks.retryOutboundDelivery(w.ws.workspaceId, row?.id ?? '').then(
      () => null,
      (error: unknown) => error,
    );
    expect(isConsentryError(refusal) && refusal.code).toBe('CONFLICT');
    expect(String(refusal)).toContain('the contact was erased');
    expect(await d.runOnce()).toMatchObject({ attempted: 0 });
    expect(paths(t)).toHaveLength(2);
    expect((await outboundRows(w))[0]).toStrictEqual(row);
  });

  it("are sent as before for a contact that is not erased, beside an erased contact's", async () => {
    const { w, t } = await erasureWorld();
    const erased = await w.ws.handleInbound(inbound('m1', 'STOP', '+34600000001'));
    const kept = await w.ws.handleInbound(inbound('m2', 'STOP', '+34600000002'));
    await w.ws.eraseContact(erased.contactId);
    await w.dispatcher().runOnce();

    const outbound = t.received.filter((request) => request.path === '/outbound').map((request) => JSON.parse(request.body));
    expect(outbound).toHaveLength(1);
    expect(outbound[0]).toMatchObject({ type: 'message.outbound', contactId: kept.contactId, data: { to: '+34600000002', text: kept.replies[0]?.text } });
  });
});

const gauge = (text: string, name: string): number | undefined => {
  const value = new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1];
  return value === undefined ? undefined : Number(value);
};

/** The backlog gauges of /metrics, by name without the common prefix. */
async function backlog(registry: Registry): Promise<Record<string, number | undefined>> {
  const text = await registry.metrics();
  const names = ['pending', 'dead', 'unsubscribed', 'erased'] as const;
  return Object.fromEntries(names.map((name) => [name, gauge(text, `consentry_hook_deliveries_${name}`)]));
}

const stores: Array<[string, () => Store]> = [
  ['the memory store', () => createMemoryStore()],
  [
    'SQLite',
    () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-erased-replies-'));
      cleanup.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
      return createSqliteStore({ path: path.join(dir, 'consentry.db') });
    },
  ],
];

describe.each(stores)("an erased contact's replies still waiting to go out, in %s", (_name, openStore) => {
  it('are closed by the erasure itself: dead at once, counted as erased, and never sent after it', async () => {
    const { w, t, hookId, setDown } = await erasureWorld({ store: openStore() });
    const registry = new Registry();
    const d = w.dispatcher({ metricsRegistry: registry });
    setDown(true);
    const { contactId } = await w.ws.handleInbound(inbound('m1', 'STOP'));
    expect(await d.runOnce()).toMatchObject({ attempted: 2, retried: 2 });
    const [waiting] = await outboundRows(w);
    expect(waiting).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: 503 });

    w.clock.advance(1000);
    await w.ws.eraseContact(contactId);
    // Before the dispatcher runs again: the erasure's own transaction closed the reply.
    const [closed] = await outboundRows(w);
    expect(closed).toStrictEqual({ ...waiting, status: 'dead', lastError: 'not sent: the contact was erased', updatedAt: w.clock.now().toISOString() });
    expect(await backlog(registry)).toEqual({ pending: 1, dead: 0, unsubscribed: 0, erased: 1 });
    // The contact's event to the hook is not a reply: it still waits for its retry.
    expect(await hookDeliveries(w, hookId)).toEqual([['consent.withdrawn', 'pending']]);

    setDown(false);
    w.clock.advance(60 * 60 * 1000);
    await d.runOnce();
    await d.runOnce();
    // One POST to the outbound webhook in all: the failed one before the erasure.
    expect(t.received.filter((request) => request.path === '/outbound')).toHaveLength(1);
    expect((await outboundRows(w))[0]).toStrictEqual(closed);
    expect(await hookDeliveries(w, hookId)).toEqual([
      ['consent.withdrawn', 'delivered'],
      ['contact.updated', 'delivered'],
    ]);
    await w.store.close();
  });

  it('are closed when the contact is erased while the reply is on the wire and its answer asks for a retry', async () => {
    const w = await makeWorld({ settings: { outboundWebhookUrl: 'https://replies.example.com/outbound' }, store: openStore() });
    cleanup.push(() => w.store.close());
    let duringSend: () => Promise<unknown> = async () => undefined;
    const sent: string[] = [];
    const sender: DeliverySender = {
      async send(request) {
        sent.push((JSON.parse(request.body) as { type: string }).type);
        await duringSend();
        return { kind: 'response', statusCode: 503, retryAfter: undefined, bodyPrefix: '' };
      },
      close() {},
    };
    const { contactId } = await w.ws.handleInbound(inbound('m1', 'STOP'));
    duringSend = () => w.ws.eraseContact(contactId);
    const d = w.dispatcher({ sender });
    expect(await d.runOnce()).toMatchObject({ attempted: 1 });

    const [row] = await outboundRows(w);
    expect(row).toMatchObject({ status: 'dead', attempts: 1, lastStatusCode: 503, lastError: 'not sent: the contact was erased' });
    duringSend = async () => undefined;
    w.clock.advance(60 * 60 * 1000);
    expect(await d.runOnce()).toMatchObject({ attempted: 0 });
    expect(sent).toEqual(['message.outbound']);
    await w.store.close();
  });

  it('are closed by erasing the contact again when one was left waiting', async () => {
    const { w, t, setDown } = await erasureWorld({ store: openStore() });
    setDown(true);
    const { contactId } = await w.ws.handleInbound(inbound('m1', 'STOP'));
    await w.dispatcher().runOnce();
    await w.ws.eraseContact(contactId);
    // A reply left waiting, as a database written before erasure closed them may hold.
    const [closed] = await outboundRows(w);
    if (closed === undefined) throw new Error('no reply');
    await w.store.transaction((tx) => tx.updateDelivery({ ...closed, status: 'pending', lastError: 'HTTP 503' }));

    w.clock.advance(1000);
    await w.ws.eraseContact(contactId);
    expect((await outboundRows(w))[0]).toStrictEqual({ ...closed, updatedAt: w.clock.now().toISOString() });
    setDown(false);
    w.clock.advance(60 * 60 * 1000);
    await w.dispatcher().runOnce();
    expect(t.received.filter((request) => request.path === '/outbound')).toHaveLength(1);
    await w.store.close();
  });
});

describe.each(stores)("an erased contact's replies that were not sent, in %s", (_name, openStore) => {
  /** Replies to +34600000002 are refused with 400 (a real dead letter); every other request is accepted. */
  const refusesSecondContact = (body: string, where: string): TargetAnswer =>
    where === '/outbound' && body.includes('+34600000002') ? { kind: 'status', status: 400 } : { kind: 'status', status: 200 };

  it('are counted apart from the dead letters, in consentry_hook_deliveries_erased, and stay listed as dead saying why', async () => {
    const { w } = await erasureWorld({ store: openStore(), answer: refusesSecondContact });
    const registry = new Registry();
    const d = w.dispatcher({ metricsRegistry: registry });
    const erased = await w.ws.handleInbound(inbound('m1', 'STOP', '+34600000001'));
    const refused = await w.ws.handleInbound(inbound('m2', 'STOP', '+34600000002'));
    await w.ws.eraseContact(erased.contactId);
    // Twice: the erased contact's second event waits on the hook for its first.
    await d.runOnce();
    await d.runOnce();

    const rows = await outboundRows(w);
    expect(rows.map((row) => [row.contactId, row.status, row.lastError])).toEqual([
      [refused.contactId, 'dead', 'HTTP 400 (refused, not retried)'],
      [erased.contactId, 'dead', 'not sent: the contact was erased'],
    ]);
    // The listing shows both as they are: dead, each with its reason.
    const listed = (await w.hooks.outboundDeliveries(w.ws.workspaceId, { status: 'dead' })).data;
    expect(listed.map((row) => [row.contactId, row.status, row.lastError])).toEqual(rows.map((row) => [row.contactId, row.status, row.lastError]));
    // Only the refusal is a dead letter an operator can do something about.
    expect(await backlog(registry)).toEqual({ pending: 0, dead: 1, unsubscribed: 0, erased: 1 });
    expect(await registry.metrics()).toMatch(/^# HELP consentry_hook_deliveries_erased Replies to the outbound webhook not sent because their contact was erased/m);

    // Erasing the contact of the refused reply moves it too: it can no longer be sent again.
    await w.ws.eraseContact(refused.contactId);
    expect(await backlog(registry)).toEqual({ pending: 0, dead: 0, unsubscribed: 0, erased: 2 });
    await w.store.close();
  });

  it('are left dead by a retry of every dead letter, which sends the others again and says none is left', async () => {
    let refuse = true;
    const { w, t } = await erasureWorld({
      store: openStore(),
      answer: (body, where) => (refuse ? refusesSecondContact(body, where) : { kind: 'status', status: 200 }),
    });
    const d = w.dispatcher();
    const erased = await w.ws.handleInbound(inbound('m1', 'STOP', '+34600000001'));
    const refused = await w.ws.handleInbound(inbound('m2', 'STOP', '+34600000002'));
    await w.ws.eraseContact(erased.contactId);
    // Twice: the erased contact's second event waits on the hook for its first.
    await d.runOnce();
    await d.runOnce();
    const before = await outboundRows(w);
    const erasedRow = before.find((row) => row.contactId === erased.contactId);
    expect(erasedRow).toMatchObject({ status: 'dead', lastError: 'not sent: the contact was erased' });

    refuse = false;
    w.clock.advance(60_000);
    expect(await w.hooks.retryDeadOutboundDeliveries(w.ws.workspaceId)).toEqual({ retried: 1, hasMore: false });
    expect(await w.hooks.retryDeadOutboundDeliveries(w.ws.workspaceId)).toEqual({ retried: 0, hasMore: false });
    await d.runOnce();

    const sent = t.received.filter((request) => request.path === '/outbound').map((request) => JSON.parse(request.body) as { contactId: string });
    expect(sent.map((event) => event.contactId)).toEqual([refused.contactId, refused.contactId]);
    const after = await outboundRows(w);
    expect(after.find((row) => row.contactId === refused.contactId)).toMatchObject({ status: 'delivered' });
    expect(after.find((row) => row.contactId === erased.contactId)).toStrictEqual(erasedRow);
    await w.store.close();
  });
});

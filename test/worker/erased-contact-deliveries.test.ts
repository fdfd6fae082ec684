import { afterEach, describe, expect, it } from 'vitest';
import { outboundHookId } from '../../src/worker/hooks.js';
import { inbound, makeWorld, type World } from './fixtures.js';
import { startTarget, type Target } from './target-server.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** A receiver on 127.0.0.1 answering 503 while `down`, 200 after; the outbound webhook at /outbound, a hook on every event at /hook. */
async function erasureWorld(): Promise<{ w: World; t: Target; hookId: string; setDown(down: boolean): void }> {
  let down = false;
  const t = await startTarget(() => (down ? { kind: 'status', status: 503 } : { kind: 'status', status: 200 }));
  cleanup.push(() => t.close());
  const origin = new URL(t.url).origin;
  const w = await makeWorld({ settings: { outboundWebhookUrl: `${origin}/outbound` } });
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

  it('are never sent when the contact is erased before the first attempt, nor when the dead letter is sent again', async () => {
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

    await w.hooks.retryOutboundDelivery(w.ws.workspaceId, row?.id ?? '');
    expect(await d.runOnce()).toMatchObject({ attempted: 0 });
    expect(paths(t)).toHaveLength(2);
    expect((await outboundRows(w))[0]).toMatchObject({ status: 'dead', lastError: 'not sent: the contact was erased' });
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

import type { LookupFunction } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import type { StoredEvent } from '../../src/ports/store.js';
import type { WorkspaceEngine } from '../../src/engine.js';
import { DEFAULT_PER_HOOK_CONCURRENCY, HookDispatcher, HOOKS_CURSOR_KEY } from '../../src/worker/hook-dispatcher.js';
import type { LoopTimers } from '../../src/worker/polling-loop.js';
import { outboundHookId } from '../../src/worker/hooks.js';
import { getOutboundWebhookSecret } from '../../src/worker/signing-secrets.js';
import { createHttpSender, type DeliverySender } from '../../src/worker/http-sender.js';
import { verifyDeliverySignature } from '../../src/worker/signature.js';
import { inbound, makeWorld, START, type World } from './fixtures.js';
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

async function world(...args: Parameters<typeof makeWorld>): Promise<World> {
  const made = await makeWorld(...args);
  cleanup.push(() => made.store.close());
  return made;
}

function dispatcherOf(w: World, options: Parameters<World['dispatcher']>[0] = {}): HookDispatcher {
  const dispatcher = w.dispatcher(options);
  cleanup.push(() => dispatcher.stop());
  return dispatcher;
}

async function allEvents(w: World): Promise<StoredEvent[]> {
  return (await w.ws.listEvents({ limit: 500 })).reverse();
}

/** Another workspace in the same store. */
async function otherWorkspace(w: World, name = 'Beta'): Promise<WorkspaceEngine> {
  const created = await w.engine.createWorkspace({ name, settings: { triggers: [] } });
  return w.engine.workspace(created.id);
}

/** `count` contacts each sending STOP: one consent.withdrawn event each. */
async function stops(ws: WorkspaceEngine, count: number, prefix = 'm'): Promise<void> {
  for (let i = 1; i <= count; i += 1) await ws.handleInbound(inbound(`${prefix}${i}`, 'STOP', `+34600000${String(100 + i).padStart(3, '0')}`));
}

/** The next retry of the hook's only delivery, after moving the clock to it; null once it is no longer pending. */
async function toNextAttempt(w: World, hookId: string): Promise<number | null> {
  const [row] = (await w.hooks.deliveries(w.ws.workspaceId, hookId, {})).data;
  if (row?.status !== 'pending' || row.nextAttemptAt === null) return null;
  const next = Date.parse(row.nextAttemptAt);
  w.clock.set(next);
  return next;
}

describe('delivery', () => {
  it('POSTs the event JSON with headers and a signature the hook secret verifies', async () => {
    const w = await world();
    const t = await target();
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: 'consent.withdrawn' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    const summary = await dispatcherOf(w).runOnce();

    expect(summary).toMatchObject({ events: 1, deliveries: 1, attempted: 1, delivered: 1 });
    expect(t.received).toHaveLength(1);
    const [request] = t.received;
    const [event] = await allEvents(w);
    expect(request?.method).toBe('POST');
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers['user-agent']).toMatch(/^Consentry-Webhooks\/\d+\.\d+\.\d+/);
    expect(request?.headers['x-consentry-event-id']).toBe(event?.id);
    expect(request?.headers['x-consentry-event-type']).toBe('consent.withdrawn');
    expect(request?.headers['x-consentry-timestamp']).toBe(String(Date.parse(w.clock.now().toISOString()) / 1000));
    const body: unknown = JSON.parse(request?.body ?? '');
    expect(body).toEqual({
      id: event?.id,
      type: 'consent.withdrawn',
      version: 1,
      workspaceId: w.ws.workspaceId,
      occurredAt: event?.occurredAt,
      contactId: event?.contactId,
      data: event?.data,
    });

    const check = (secret: string, bodyText = request?.body ?? '') =>
      verifyDeliverySignature({
        secret,
        body: bodyText,
        timestamp: request?.headers['x-consentry-timestamp']?.toString(),
        signature: request?.headers['x-consentry-signature']?.toString(),
        now: w.clock.now(),
      });
    expect(request?.headers['x-consentry-signature']).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(check(hook.secret)).toBe(true);
    expect(check(`${hook.secret}x`)).toBe(false);
    expect(check(hook.secret, (request?.body ?? '').replace('opted_out', 'opted_in'))).toBe(false);

    const [delivery] = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
    expect(delivery).toMatchObject({ eventId: event?.id, status: 'delivered', attempts: 1, lastStatusCode: 200, lastError: null, deliveredAt: START, nextAttemptAt: null });
  });

  it('matches on type, on every filter key, and `*` takes every public event but never internal ones', async () => {
    const w = await world();
    const t = await target();
    await w.ws.updateSettings({ outboundWebhookUrl: 'https://example.com/outbound' });
    const vip = await w.hooks.create(w.ws.workspaceId, { targetUrl: `${t.url}/vip`, event: 'contact.tagged', filter: { tag: 'VIP' } });
    const everything = await w.hooks.create(w.ws.workspaceId, { targetUrl: `${t.url}/all`, event: '*' });
    const given = await w.hooks.create(w.ws.workspaceId, { targetUrl: `${t.url}/given`, event: 'consent.given' });
    const whatsappOnly = await w.hooks.create(w.ws.workspaceId, { targetUrl: `${t.url}/wa`, event: 'consent.withdrawn', filter: { channel: 'whatsapp', purpose: 'marketing' } });
    const smsOnly = await w.hooks.create(w.ws.workspaceId, { targetUrl: `${t.url}/sms`, event: 'consent.withdrawn', filter: { channel: 'sms' } });

    const { contactId } = await w.ws.handleInbound(inbound('m1', 'STOP'));
    await w.ws.addTag(contactId, 'VIP');
    await w.ws.addTag(contactId, 'Lead');
    const d = dispatcherOf(w);
    await d.fanOut();

    const types = async (hookId: string) => {
      const events = await allEvents(w);
      const ids = (await w.hooks.deliveries(w.ws.workspaceId, hookId, {})).data.map((x) => x.eventId);
      return events.filter((e) => ids.includes(e.id)).map((e) => ('tag' in e.data ? `${e.type}:${e.data.tag}` : e.type));
    };
    expect(await types(vip.id)).toEqual(['contact.tagged:VIP']);
    expect(await types(everything.id)).toEqual(['consent.withdrawn', 'contact.tagged:VIP', 'contact.tagged:Lead']);
    expect(await types(given.id)).toEqual([]);
    expect(await types(whatsappOnly.id)).toEqual(['consent.withdrawn']);
    expect(await types(smsOnly.id)).toEqual([]);
    // The STOP confirmation went to the outbound webhook as message.outbound, never to `*`.
    const outbound = await w.store.transaction((tx) => tx.listDeliveries(w.ws.workspaceId, outboundHookId(w.ws.workspaceId), { limit: 10 }));
    expect(outbound).toHaveLength(1);
  });

  it('does not send a hook events that happened before it was created', async () => {
    const w = await world();
    const t = await target();
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    w.clock.advance(1000);
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: '*' });
    const { contactId } = await w.ws.handleInbound(inbound('m2', 'START'));
    await w.ws.addTag(contactId, 'VIP');
    const d = dispatcherOf(w);
    expect(await d.runOnce()).toMatchObject({ events: 3, deliveries: 2, delivered: 1 });
    // One contact's events go one after the other: the tag follows on the next pass.
    expect(await d.runOnce()).toMatchObject({ events: 0, delivered: 1 });
    expect(t.received.map((r) => r.headers['x-consentry-event-type'])).toEqual(['consent.given', 'contact.tagged']);
    expect((await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data).toHaveLength(2);
  });

  it('records the event-to-delivery latency when given a registry', async () => {
    const w = await world();
    const t = await target();
    await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: '*' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    w.clock.advance(250);
    const registry = new Registry();
    await dispatcherOf(w, { metricsRegistry: registry }).runOnce();
    const text = await registry.metrics();
    expect(text).toMatch(/consentry_hook_delivery_latency_seconds_count\{target="hook"\} 1/);
    expect(text).toMatch(/consentry_hook_delivery_latency_seconds_sum\{target="hook"\} 0\.25/);
    expect(text).toMatch(/consentry_hook_delivery_attempts_total\{outcome="delivered"\} 1/);
  });
});

describe('retries', () => {
  it('retries a 500 with exponential backoff on the fake clock, then delivers', async () => {
    const w = await world();
    const t = await target((_request, index) => ({ kind: 'status', status: index < 3 ? 500 : 204 }));
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: 'consent.withdrawn' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    const d = dispatcherOf(w, { random: () => 1, maxAttempts: 8 });

    const gaps: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      const summary = await d.runOnce();
      expect(summary).toMatchObject({ attempted: 1, retried: 1 });
      const [row] = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
      expect(row).toMatchObject({ status: 'pending', attempts: attempt, lastStatusCode: 500, lastError: 'HTTP 500' });
      const next = Date.parse(row?.nextAttemptAt ?? '');
      gaps.push(next - w.clock.now().getTime());
      // Not due yet: a pass a millisecond early sends nothing.
      w.clock.set(next - 1);
      expect((await d.runOnce()).attempted).toBe(0);
      w.clock.set(next);
    }
    expect(gaps).toEqual([1000, 2000, 4000]);
    expect(await d.runOnce()).toMatchObject({ attempted: 1, delivered: 1 });
    const [row] = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
    expect(row).toMatchObject({ status: 'delivered', attempts: 4, lastStatusCode: 204, lastError: null });
    expect(t.received).toHaveLength(4);
    expect(new Set(t.received.map((r) => r.headers['x-consentry-event-id'])).size).toBe(1);
  });

  it('jitters the wait within [step / 2, step], step = base * 2^(n-1), with the injected random source', async () => {
    const w = await world();
    const t = await target(() => ({ kind: 'status', status: 503 }));
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: '*' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    const d = dispatcherOf(w, { random: () => 0.25, backoff: { baseMs: 1000, capMs: 3000 } });
    const gaps: number[] = [];
    for (let attempt = 1; attempt <= 4; attempt += 1) {
      await d.runOnce();
      const [row] = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
      const next = Date.parse(row?.nextAttemptAt ?? '');
      gaps.push(next - w.clock.now().getTime());
      w.clock.set(next);
    }
    // Half the step plus 0.25 of the other half: of 1 s, 2 s, then the 3 s cap.
    expect(gaps).toEqual([625, 1250, 1875, 1875]);
  });

  it('honours Retry-After on a 429', async () => {
    const w = await world();
    const t = await target((_request, index) => (index === 0 ? { kind: 'status', status: 429, headers: { 'Retry-After': '7' } } : { kind: 'status', status: 200 }));
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: '*' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    const d = dispatcherOf(w, { random: () => 0 });
    expect(await d.runOnce()).toMatchObject({ retried: 1 });
    const [row] = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
    expect(row).toMatchObject({ status: 'pending', lastStatusCode: 429 });
    expect(Date.parse(row?.nextAttemptAt ?? '') - w.clock.now().getTime()).toBe(7000);
    w.clock.advance(6999);
    expect((await d.runOnce()).attempted).toBe(0);
    w.clock.advance(1);
    expect(await d.runOnce()).toMatchObject({ delivered: 1 });
  });

  it.each([
    ['no answer within the timeout', { kind: 'hang' } as const, /ETIMEDOUT|Timeout/],
    ['an answer slower than the timeout', { kind: 'slow', delayMs: 2000, status: 200 } as const, /ETIMEDOUT|Timeout/],
    ['a closed connection', { kind: 'destroy' } as const, /ECONNRESET|socket hang up/],
  ])('retries after %s', async (_name, answer, error) => {
    const w = await world();
    const t = await target(() => answer);
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: '*' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    const summary = await dispatcherOf(w).runOnce();
    expect(summary).toMatchObject({ attempted: 1, retried: 1 });
    const [row] = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
    expect(row).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: null });
    expect(row?.lastError).toMatch(error);
    expect(t.received).toHaveLength(1);
  });

  it('dead-letters after the last attempt', async () => {
    const w = await world();
    const t = await target(() => ({ kind: 'status', status: 500 }));
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: '*' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    const d = dispatcherOf(w, { maxAttempts: 3 });
    const kinds: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      const summary = await d.runOnce();
      if (summary.retried) kinds.push('retry');
      if (summary.dead) kinds.push('dead');
      w.clock.advance(60 * 60 * 1000);
    }
    expect(kinds).toEqual(['retry', 'retry', 'dead']);
    expect(t.received).toHaveLength(3);
    const [row] = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, { status: 'dead' })).data;
    expect(row).toMatchObject({ status: 'dead', attempts: 3, lastStatusCode: 500, nextAttemptAt: null, deliveredAt: null });
    expect(row?.lastError).toContain('gave up after 3 attempts');
    expect(await w.store.transaction((tx) => tx.countDeliveries('dead'))).toBe(1);
  });

  it('dead-letters another 4xx at once, without retrying', async () => {
    const w = await world();
    const t = await target(() => ({ kind: 'status', status: 400 }));
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: '*' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    const d = dispatcherOf(w);
    expect(await d.runOnce()).toMatchObject({ attempted: 1, dead: 1 });
    w.clock.advance(60 * 60 * 1000);
    expect((await d.runOnce()).attempted).toBe(0);
    const [row] = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
    expect(row).toMatchObject({ status: 'dead', attempts: 1, lastStatusCode: 400 });
    // The hook itself stays: only a 410 unsubscribes.
    expect((await w.hooks.list(w.ws.workspaceId)).map((h) => h.id)).toEqual([hook.id]);
  });
});

describe('redirects', () => {
  it('dead-letters a 3xx at the first attempt, naming its status and Location, without following it', async () => {
    const w = await world();
    const t = await target((request) => {
      if (request.path.endsWith('/moved')) return { kind: 'status', status: 302, headers: { location: '/hook/new-home' } };
      if (request.path.endsWith('/https')) return { kind: 'status', status: 308, headers: { location: 'https://hooks.example.com/consentry' }, body: 'Permanent Redirect' };
      return { kind: 'status', status: 200 };
    });
    const moved = await w.hooks.create(w.ws.workspaceId, { targetUrl: `${t.url}/moved`, event: 'consent.withdrawn' });
    const https = await w.hooks.create(w.ws.workspaceId, { targetUrl: `${t.url}/https`, event: 'consent.withdrawn' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    const d = dispatcherOf(w);

    expect(await d.runOnce()).toMatchObject({ attempted: 2, dead: 2, retried: 0 });
    const origin = new URL(t.url).origin;
    expect((await w.hooks.deliveries(w.ws.workspaceId, moved.id, {})).data).toMatchObject([
      {
        status: 'dead',
        attempts: 1,
        lastStatusCode: 302,
        lastError: `HTTP 302 (redirect not followed, not retried): Location ${origin}/hook/new-home; register the final URL as the target`,
      },
    ]);
    expect((await w.hooks.deliveries(w.ws.workspaceId, https.id, {})).data).toMatchObject([
      {
        status: 'dead',
        attempts: 1,
        lastStatusCode: 308,
        lastError: 'HTTP 308 (redirect not followed, not retried): Location https://hooks.example.com/consentry; register the final URL as the target',
      },
    ]);
    w.clock.advance(60 * 60 * 1000);
    await d.runOnce();
    expect(t.received.map((r) => r.path).sort()).toEqual(['/hook/https', '/hook/moved']);
  });

  it('refuses a 3xx without a Location like any other refusal', async () => {
    const w = await world();
    const t = await target(() => ({ kind: 'status', status: 300, body: 'Multiple Choices' }));
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: 'consent.withdrawn' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    await dispatcherOf(w).runOnce();
    expect((await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data).toMatchObject([
      { status: 'dead', attempts: 1, lastStatusCode: 300, lastError: 'HTTP 300 (refused, not retried): Multiple Choices' },
    ]);
  });
});

describe('410 Gone', () => {
  it('deletes the hook, abandons its pending deliveries and sends it nothing more', async () => {
    const w = await world();
    const t = await target((request) => ({ kind: 'status', status: request.path.endsWith('/gone') ? 410 : 200 }));
    const gone = await w.hooks.create(w.ws.workspaceId, { targetUrl: `${t.url}/gone`, event: '*' });
    const alive = await w.hooks.create(w.ws.workspaceId, { targetUrl: `${t.url}/alive`, event: '*' });
    const { contactId } = await w.ws.handleInbound(inbound('m1', 'STOP'));
    await w.ws.addTag(contactId, 'VIP');
    const d = dispatcherOf(w);

    expect(await d.runOnce()).toMatchObject({ gone: 1, delivered: 1 });
    const stored = await w.store.transaction((tx) => tx.getHook(w.ws.workspaceId, gone.id));
    expect(stored).toMatchObject({ deletedReason: 'gone', deletedAt: START });
    expect((await w.hooks.list(w.ws.workspaceId)).map((h) => h.id)).toEqual([alive.id]);
    const rows = (await w.hooks.deliveries(w.ws.workspaceId, gone.id, {})).data;
    expect(rows.map((r) => r.status)).toEqual(['dead', 'dead']);
    expect(rows.map((r) => r.attempts).sort()).toEqual([0, 1]);
    expect(rows.find((r) => r.attempts === 1)).toMatchObject({ lastStatusCode: 410 });

    await w.ws.addTag(contactId, 'Lead');
    for (let i = 0; i < 3; i += 1) {
      w.clock.advance(60 * 60 * 1000);
      await d.runOnce();
    }
    expect(t.received.filter((r) => r.path.endsWith('/gone'))).toHaveLength(1);
    expect(t.received.filter((r) => r.path.endsWith('/alive'))).toHaveLength(3);
  });
});

describe('ordering and concurrency', () => {
  it("holds a contact's later event while an earlier one is retrying, without blocking other contacts", async () => {
    const w = await world();
    let failFirst = true;
    const t = await target((request) => {
      if (failFirst && request.headers['x-consentry-event-type'] === 'consent.withdrawn') {
        failFirst = false;
        return { kind: 'status', status: 500 };
      }
      return { kind: 'status', status: 200 };
    });
    await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: '*' });
    const ana = await w.ws.handleInbound(inbound('m1', 'STOP', '+34600000001'));
    await w.ws.addTag(ana.contactId, 'VIP');
    const ben = await w.ws.handleInbound(inbound('m2', 'START', '+34600000002'));
    const d = dispatcherOf(w);

    expect(await d.runOnce()).toMatchObject({ attempted: 2, retried: 1, delivered: 1 });
    expect(t.received.map((r) => r.headers['x-consentry-event-type']).sort()).toEqual(['consent.given', 'consent.withdrawn']);
    // Ana's tag event waits behind her failed opt-out, even on passes before the retry is due.
    expect((await d.runOnce()).attempted).toBe(0);
    w.clock.advance(60 * 60 * 1000);
    expect(await d.runOnce()).toMatchObject({ attempted: 1, delivered: 1 });
    expect(await d.runOnce()).toMatchObject({ attempted: 1, delivered: 1 });

    const anaTypes = t.received.filter((r) => JSON.parse(r.body).contactId === ana.contactId).map((r) => r.headers['x-consentry-event-type']);
    expect(anaTypes).toEqual(['consent.withdrawn', 'consent.withdrawn', 'contact.tagged']);
    expect(t.received.filter((r) => JSON.parse(r.body).contactId === ben.contactId)).toHaveLength(1);
  });

  it('sends different contacts concurrently, never more than the concurrency bound', async () => {
    const w = await world();
    const t = await target(() => ({ kind: 'slow', delayMs: 300, status: 200 }));
    await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: 'consent.withdrawn' });
    for (let i = 1; i <= 6; i += 1) await w.ws.handleInbound(inbound(`m${i}`, 'STOP', `+3460000000${i}`));
    const d = dispatcherOf(w, { concurrency: 4, requestTimeoutMs: 5000 });

    expect(await d.runOnce()).toMatchObject({ attempted: 4, delivered: 4 });
    expect(t.received).toHaveLength(4);
    // All four were on the wire before the first answer came back: sent at once, not in turn.
    const arrivals = t.received.map((r) => r.receivedAt);
    expect(Math.max(...arrivals) - Math.min(...arrivals)).toBeLessThan(300);
    expect(await d.runOnce()).toMatchObject({ attempted: 2, delivered: 2 });
    expect(new Set(t.received.map((r) => r.headers['x-consentry-event-id'])).size).toBe(6);
  });
});

describe('custom channel outbound webhook', () => {
  it('POSTs each reply as a signed message.outbound event, with the per-workspace secret', async () => {
    const t = await target();
    const w = await world({ settings: { outboundWebhookUrl: 'http://127.0.0.1:1/placeholder' } });
    await w.ws.updateSettings({ outboundWebhookUrl: t.url });
    const result = await w.ws.handleInbound(inbound('m1', 'STOP'));
    expect(await dispatcherOf(w).runOnce()).toMatchObject({ delivered: 1 });

    const [request] = t.received;
    expect(request?.headers['x-consentry-event-type']).toBe('message.outbound');
    const body = JSON.parse(request?.body ?? '');
    expect(body).toMatchObject({
      type: 'message.outbound',
      contactId: result.contactId,
      data: { contactId: result.contactId, channel: 'whatsapp', to: '+34600000001', text: result.replies[0]?.text },
    });
    const secret = await getOutboundWebhookSecret(w.store, w.ws.workspaceId);
    expect(secret).toBe(await getOutboundWebhookSecret(w.store, w.ws.workspaceId));
    const verify = (s: string) =>
      verifyDeliverySignature({
        secret: s,
        body: request?.body ?? '',
        timestamp: request?.headers['x-consentry-timestamp']?.toString(),
        signature: request?.headers['x-consentry-signature']?.toString(),
        now: w.clock.now(),
      });
    expect(verify(secret)).toBe(true);
    expect(verify(await getOutboundWebhookSecret(w.store, 'another-workspace'))).toBe(false);
  });

  it('closes pending outbound deliveries once the webhook URL is removed', async () => {
    const t = await target();
    const w = await world({ settings: { outboundWebhookUrl: t.url } });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    const d = dispatcherOf(w);
    await d.fanOut();
    await w.ws.updateSettings({ outboundWebhookUrl: null });
    expect((await d.runOnce()).attempted).toBe(0);
    expect(t.received).toHaveLength(0);
    const rows = await w.store.transaction((tx) => tx.listDeliveries(w.ws.workspaceId, outboundHookId(w.ws.workspaceId), { limit: 10 }));
    expect(rows.map((r) => [r.status, r.lastError])).toEqual([['dead', 'outbound webhook removed from the workspace settings']]);
  });
});

/** A resolver answering every name with `address`, recording the names asked. */
function resolvingTo(address: string): { lookup: LookupFunction; asked: string[] } {
  const asked: string[] = [];
  const family = address.includes(':') ? 6 : 4;
  const lookup: LookupFunction = (hostname, options, callback) => {
    asked.push(hostname);
    if (options.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  };
  return { lookup, asked };
}

function senderOf(options: Parameters<typeof createHttpSender>[0]): DeliverySender {
  const sender = createHttpSender(options);
  cleanup.push(async () => sender.close());
  return sender;
}

describe('targets that are not public', () => {
  it('dead-letters a hook whose name resolves to a loopback address after one attempt, sending nothing', async () => {
    const w = await world();
    const t = await target();
    // The name resolves to the target's own address: without the guard, this would reach it.
    const targetUrl = t.url.replace('127.0.0.1', 'receiver.example.com');
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl, event: '*' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    const resolver = resolvingTo('127.0.0.1');
    const d = dispatcherOf(w, { sender: senderOf({ lookup: resolver.lookup }) });

    expect(await d.runOnce()).toMatchObject({ attempted: 1, dead: 1, retried: 0, delivered: 0 });
    expect(resolver.asked).toEqual(['receiver.example.com']);
    w.clock.advance(24 * 60 * 60 * 1000);
    expect((await d.runOnce()).attempted).toBe(0);
    expect(t.received).toHaveLength(0);
    const [row] = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
    expect(row).toMatchObject({ status: 'dead', attempts: 1, lastStatusCode: null, nextAttemptAt: null, deliveredAt: null });
    expect(row?.lastError).toBe('target address is not public: receiver.example.com resolves to a private or reserved address (a server started with HOOK_TARGETS_ALLOW_PRIVATE=true allows private-use and loopback targets); not sent, not retried');
  });

  it('delivers to the same name when private targets are allowed', async () => {
    const w = await world();
    const t = await target();
    const targetUrl = t.url.replace('127.0.0.1', 'receiver.example.com');
    await w.hooks.create(w.ws.workspaceId, { targetUrl, event: '*' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    const resolver = resolvingTo('127.0.0.1');
    const d = dispatcherOf(w, { sender: senderOf({ lookup: resolver.lookup, allowPrivateTargets: true }) });
    expect(await d.runOnce()).toMatchObject({ attempted: 1, delivered: 1 });
    expect(resolver.asked).toEqual(['receiver.example.com']);
    expect(t.received).toHaveLength(1);
  });

  it('dead-letters a hook on a literal private address after one attempt, sending nothing', async () => {
    const w = await world();
    const t = await target();
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: '*' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    // The dispatcher builds its own sender, private targets not allowed.
    const d = dispatcherOf(w, { allowPrivateTargets: false });

    expect(await d.runOnce()).toMatchObject({ attempted: 1, dead: 1, retried: 0 });
    w.clock.advance(24 * 60 * 60 * 1000);
    expect((await d.runOnce()).attempted).toBe(0);
    expect(t.received).toHaveLength(0);
    const [row] = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
    expect(row).toMatchObject({ status: 'dead', attempts: 1, lastStatusCode: null });
    expect(row?.lastError).toBe('target address is not public: 127.0.0.1 is a private or reserved address (a server started with HOOK_TARGETS_ALLOW_PRIVATE=true allows private-use and loopback targets); not sent, not retried');
  });

  it('dead-letters the outbound webhook on a private address the same way', async () => {
    const t = await target();
    const w = await world({ settings: { outboundWebhookUrl: t.url.replace('127.0.0.1', '[::ffff:127.0.0.1]') } });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    expect(await dispatcherOf(w, { allowPrivateTargets: false }).runOnce()).toMatchObject({ attempted: 1, dead: 1 });
    expect(t.received).toHaveLength(0);
    const rows = await w.store.transaction((tx) => tx.listDeliveries(w.ws.workspaceId, outboundHookId(w.ws.workspaceId), { limit: 10 }));
    expect(rows.map((r) => [r.status, r.attempts])).toEqual([['dead', 1]]);
    expect(rows[0]?.lastError).toMatch(/^target address is not public: /);
  });

  it('dead-letters a hook whose name resolves to a link-local (metadata) address even when private targets are allowed', async () => {
    const w = await world();
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: 'http://metadata.example.com/latest/meta-data/', event: '*' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    const resolver = resolvingTo('169.254.169.254');
    const d = dispatcherOf(w, { sender: senderOf({ lookup: resolver.lookup, allowPrivateTargets: true }) });

    expect(await d.runOnce()).toMatchObject({ attempted: 1, dead: 1, retried: 0 });
    expect(resolver.asked).toEqual(['metadata.example.com']);
    const [row] = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
    expect(row?.lastError).toBe('target address is not public: metadata.example.com resolves to a link-local or reserved address; not sent, not retried');
  });

  it('dead-letters the outbound webhook on a literal link-local address even when private targets are allowed', async () => {
    for (const outboundWebhookUrl of ['http://169.254.169.254/latest/meta-data/', 'http://[fe80::1]/hook', 'http://[::ffff:169.254.169.254]/']) {
      const w = await world({ settings: { outboundWebhookUrl } });
      await w.ws.handleInbound(inbound('m1', 'STOP'));
      expect(await dispatcherOf(w, { allowPrivateTargets: true, requestTimeoutMs: 1000 }).runOnce()).toMatchObject({ attempted: 1, dead: 1 });
      const rows = await w.store.transaction((tx) => tx.listDeliveries(w.ws.workspaceId, outboundHookId(w.ws.workspaceId), { limit: 10 }));
      expect(rows.map((r) => [r.status, r.attempts])).toEqual([['dead', 1]]);
      expect(rows[0]?.lastError).toMatch(/^target address is not public: \S+ is a link-local or reserved address; not sent, not retried$/);
    }
  });
});

describe('fan-out', () => {
  it('advances its cursor in the store and never fans an event out twice', async () => {
    const w = await world();
    await w.hooks.create(w.ws.workspaceId, { targetUrl: 'https://example.com/hook', event: '*' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    const d = dispatcherOf(w, { batchSize: 1 });
    const { contactId } = await w.ws.handleInbound(inbound('m2', 'START'));
    await w.ws.addTag(contactId, 'VIP');
    expect(await d.fanOut()).toEqual({ events: 3, deliveries: 3 });
    expect(await d.fanOut()).toEqual({ events: 0, deliveries: 0 });
    const last = (await w.store.transaction((tx) => tx.listEventsAfter(0, 100))).at(-1);
    expect(await w.store.transaction((tx) => tx.getMeta(HOOKS_CURSOR_KEY))).toBe(last?.position);
  });

  it('refuses a corrupt cursor instead of starting over from the first event', async () => {
    const w = await world();
    await w.store.transaction((tx) => tx.setMeta(HOOKS_CURSOR_KEY, 'not a number'));
    await expect(dispatcherOf(w).fanOut()).rejects.toThrow(/cursor/);
  });
});

describe('start and stop', () => {
  it('delivers on its own loop, and stop() waits for the delivery in flight', async () => {
    const w = await world();
    const t = await target(() => ({ kind: 'slow', delayMs: 200, status: 200 }));
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: '*' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    const d = dispatcherOf(w, { intervalMs: 5, requestTimeoutMs: 5000 });
    d.start();
    await t.waitForRequests(1);
    expect(d.inFlightCount).toBe(1);
    await d.stop();
    expect(d.inFlightCount).toBe(0);
    const [row] = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
    expect(row).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(t.received).toHaveLength(1);
  });

  it('stops again after a restart, as when its process loses the worker lease, takes it back and then shuts down', async () => {
    const w = await world();
    const t = await target();
    await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: '*' });
    const d = dispatcherOf(w, { intervalMs: 5, requestTimeoutMs: 5000 });
    d.start();
    await d.stop();
    expect(d.running).toBe(false);
    d.start();
    expect(d.running).toBe(true);
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    await t.waitForRequests(1);
    await d.stop();
    expect(d.running).toBe(false);
  });

  it("on its loop, sends a contact's next event only after the previous one was answered", async () => {
    const w = await world();
    const t = await target(() => ({ kind: 'slow', delayMs: 100, status: 200 }));
    await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: '*' });
    const { contactId } = await w.ws.handleInbound(inbound('m1', 'STOP'));
    await w.ws.addTag(contactId, 'VIP');
    await w.ws.addTag(contactId, 'Lead');
    const other = await w.ws.handleInbound(inbound('m2', 'STOP', '+34600000002'));
    const d = dispatcherOf(w, { intervalMs: 5, requestTimeoutMs: 5000 });
    d.start();
    await t.waitForRequests(4);
    await d.stop();

    const mine = t.received.filter((r) => JSON.parse(r.body).contactId === contactId);
    expect(mine.map((r) => r.headers['x-consentry-event-type'])).toEqual(['consent.withdrawn', 'contact.tagged', 'contact.tagged']);
    for (let i = 1; i < mine.length; i += 1) {
      expect((mine[i]?.receivedAt ?? 0) - (mine[i - 1]?.receivedAt ?? 0)).toBeGreaterThanOrEqual(100);
    }
    // The other contact did not wait behind the first one's chain.
    const theirs = t.received.find((r) => JSON.parse(r.body).contactId === other.contactId);
    expect((theirs?.receivedAt ?? Infinity) - (mine[0]?.receivedAt ?? 0)).toBeLessThan(100);
  });
});

describe('sharing requests between hooks', () => {
  it("sends another workspace's delivery on the first pass while a hanging hook has a backlog", async () => {
    const w = await world();
    const hanging = await target(() => ({ kind: 'hang' }));
    const healthy = await target();
    await w.hooks.create(w.ws.workspaceId, { targetUrl: hanging.url, event: 'consent.withdrawn' });
    await stops(w.ws, 20);
    const beta = await otherWorkspace(w);
    await w.hooks.create(beta.workspaceId, { targetUrl: healthy.url, event: 'consent.withdrawn' });
    await beta.handleInbound(inbound('b1', 'STOP'));

    const summary = await dispatcherOf(w).runOnce();
    // The backlog's events came first, but the hanging hook only gets its own share.
    expect(hanging.received).toHaveLength(DEFAULT_PER_HOOK_CONCURRENCY);
    expect(healthy.received).toHaveLength(1);
    expect(summary).toMatchObject({ attempted: DEFAULT_PER_HOOK_CONCURRENCY + 1, delivered: 1, retried: DEFAULT_PER_HOOK_CONCURRENCY });
  });

  it("sends a healthy hook's new event on the next pass while the hanging hook's requests are still open", async () => {
    const w = await world();
    const hanging = await target(() => ({ kind: 'hang' }));
    const healthy = await target();
    await w.hooks.create(w.ws.workspaceId, { targetUrl: hanging.url, event: 'consent.withdrawn' });
    await stops(w.ws, 20);
    const d = dispatcherOf(w, { requestTimeoutMs: 1500 });
    const hangingPass = d.runOnce();
    await hanging.waitForRequests(DEFAULT_PER_HOOK_CONCURRENCY);

    const beta = await otherWorkspace(w);
    await w.hooks.create(beta.workspaceId, { targetUrl: healthy.url, event: 'consent.withdrawn' });
    await beta.handleInbound(inbound('b1', 'STOP'));
    expect(await d.runOnce()).toMatchObject({ attempted: 1, delivered: 1 });
    expect(healthy.received).toHaveLength(1);
    // The hanging hook's requests were still open, and it got no more than its share.
    expect(d.inFlightCount).toBe(DEFAULT_PER_HOOK_CONCURRENCY);
    expect(hanging.received).toHaveLength(DEFAULT_PER_HOOK_CONCURRENCY);
    expect(await hangingPass).toMatchObject({ attempted: DEFAULT_PER_HOOK_CONCURRENCY, retried: DEFAULT_PER_HOOK_CONCURRENCY });
  });

  it('takes one delivery of each hook before a second of any', async () => {
    const w = await world();
    const t = await target();
    await w.hooks.create(w.ws.workspaceId, { targetUrl: `${t.url}/withdrawn`, event: 'consent.withdrawn' });
    await w.hooks.create(w.ws.workspaceId, { targetUrl: `${t.url}/tagged`, event: 'contact.tagged' });
    await stops(w.ws, 5);
    // Tagged after the five opt-outs: later in the outbox, so last by due time and position.
    const { contactId } = await w.ws.handleInbound(inbound('m1', 'STOP', '+34600000101'));
    await w.ws.addTag(contactId, 'VIP');

    expect(await dispatcherOf(w, { concurrency: 3, perHookConcurrency: 3 }).runOnce()).toMatchObject({ attempted: 3, delivered: 3 });
    expect(t.received.map((r) => r.path).sort()).toEqual(['/hook/tagged', '/hook/withdrawn', '/hook/withdrawn']);
  });

  it('starts each pass after the hook the last one served, so hooks take turns', async () => {
    const w = await world();
    const t = await target();
    await w.hooks.create(w.ws.workspaceId, { targetUrl: `${t.url}/a`, event: 'consent.withdrawn' });
    await w.hooks.create(w.ws.workspaceId, { targetUrl: `${t.url}/b`, event: 'contact.tagged' });
    await w.hooks.create(w.ws.workspaceId, { targetUrl: `${t.url}/c`, event: 'contact.untagged' });
    // Each hook's two deliveries are next to each other in the outbox, the three hooks one after the other.
    const ana = await w.ws.handleInbound(inbound('m1', 'STOP', '+34600000101'));
    const ben = await w.ws.handleInbound(inbound('m2', 'STOP', '+34600000102'));
    for (const { contactId } of [ana, ben]) await w.ws.addTag(contactId, 'VIP');
    for (const { contactId } of [ana, ben]) await w.ws.removeTag(contactId, 'VIP');
    const d = dispatcherOf(w, { concurrency: 1 });
    for (let pass = 0; pass < 6; pass += 1) expect(await d.runOnce()).toMatchObject({ attempted: 1, delivered: 1 });
    expect(t.received.map((r) => r.path)).toEqual(['/hook/a', '/hook/b', '/hook/c', '/hook/a', '/hook/b', '/hook/c']);
  });

  it("still sends a contact's events to one hook in order when the hook has requests to spare", async () => {
    const w = await world();
    const t = await target();
    await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: '*' });
    const { contactId } = await w.ws.handleInbound(inbound('m1', 'STOP'));
    await w.ws.addTag(contactId, 'VIP');
    await w.ws.addTag(contactId, 'Lead');
    const d = dispatcherOf(w);
    for (let pass = 0; pass < 3; pass += 1) expect(await d.runOnce()).toMatchObject({ attempted: 1, delivered: 1 });
    expect(t.received.map((r) => JSON.parse(r.body).data)).toMatchObject([{ channel: 'whatsapp' }, { tag: 'VIP' }, { tag: 'Lead' }]);
  });
});

describe("the target's response body", () => {
  it('delivers on a 2xx whose body never ends, reading only the start of it', async () => {
    const w = await world();
    const t = await target(() => ({ kind: 'stream', status: 200, bytes: 'endless' }));
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: '*' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    expect(await dispatcherOf(w).runOnce()).toMatchObject({ attempted: 1, delivered: 1 });
    const [row] = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
    expect(row).toMatchObject({ status: 'delivered', attempts: 1, lastStatusCode: 200, lastError: null });
    // The dispatcher closed the connection early: what was written is what socket buffers hold.
    await t.close();
    expect(t.streamed).toHaveLength(1);
    expect(t.streamed[0]).toBeLessThan(32 * 1024 * 1024);
  });

  it('retries a 5xx whose body never ends as that status, not as a timeout', async () => {
    const w = await world();
    const t = await target(() => ({ kind: 'stream', status: 503, bytes: 'endless' }));
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: '*' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    expect(await dispatcherOf(w).runOnce()).toMatchObject({ attempted: 1, retried: 1 });
    const [row] = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
    expect(row).toMatchObject({ status: 'pending', lastStatusCode: 503, lastError: `HTTP 503: ${'a'.repeat(200)}…` });
  });

  it('delivers on a 2xx with a large body that ends', async () => {
    const w = await world();
    const t = await target(() => ({ kind: 'stream', status: 201, bytes: 8 * 1024 * 1024 }));
    await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: '*' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    expect(await dispatcherOf(w).runOnce()).toMatchObject({ attempted: 1, delivered: 1 });
  });

  it("keeps the start of a refusal's body in lastError, on one line", async () => {
    const w = await world();
    const page = `<html>\n  <body>Internal\terror ${'x'.repeat(5000)}</body>\n</html>`;
    const t = await target((request) =>
      request.path.endsWith('/bad')
        ? { kind: 'status', status: 400, body: '{"error":"unknown field"}' }
        : { kind: 'status', status: 502, body: page },
    );
    const retried = await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: '*' });
    const refused = await w.hooks.create(w.ws.workspaceId, { targetUrl: `${t.url}/bad`, event: '*' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    expect(await dispatcherOf(w).runOnce()).toMatchObject({ retried: 1, dead: 1 });

    const [pending] = (await w.hooks.deliveries(w.ws.workspaceId, retried.id, {})).data;
    // Whitespace runs folded to one space, then cut at 200 characters.
    const folded = `<html> <body>Internal error ${'x'.repeat(5000)}</body> </html>`;
    expect(pending?.lastError).toBe(`HTTP 502: ${folded.slice(0, 200)}…`);
    const [dead] = (await w.hooks.deliveries(w.ws.workspaceId, refused.id, {})).data;
    expect(dead).toMatchObject({ status: 'dead', lastStatusCode: 400, lastError: 'HTTP 400 (refused, not retried): {"error":"unknown field"}' });
  });
});

describe('the retry window', () => {
  const DAY = 24 * 60 * 60 * 1000;

  it.each([
    ['the shortest waits', 0, 156],
    ['the longest waits', 1, 84],
  ])('retries a failing target until three days after the event, with %s', async (_name, random, attempts) => {
    const w = await world();
    const t = await target(() => ({ kind: 'status', status: 500 }));
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: 'consent.withdrawn' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    const [event] = await allEvents(w);
    const d = dispatcherOf(w, { random: () => random });

    let last = w.clock.now().getTime();
    do {
      expect((await d.runOnce()).attempted).toBe(1);
      last = w.clock.now().getTime();
    } while ((await toNextAttempt(w, hook.id)) !== null);

    expect(last - Date.parse(event?.occurredAt ?? '')).toBe(3 * DAY);
    const [row] = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
    expect(row).toMatchObject({ status: 'dead', attempts, lastStatusCode: 500, lastError: `HTTP 500 (gave up after ${attempts} attempts, 3 days after the event)` });
    expect(t.received).toHaveLength(attempts);
  });

  it('rides out a two-hour outage of the receiver', async () => {
    const w = await world();
    const outageEnds = w.clock.now().getTime() + 2 * 60 * 60 * 1000;
    const t = await target(() => ({ kind: 'status', status: w.clock.now().getTime() < outageEnds ? 503 : 200 }));
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: 'consent.withdrawn' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    const d = dispatcherOf(w, { random: () => 0.5 });
    do await d.runOnce();
    while ((await toNextAttempt(w, hook.id)) !== null);
    const [row] = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
    expect(row).toMatchObject({ status: 'delivered', lastStatusCode: 200 });
    expect(Date.parse(row?.deliveredAt ?? '')).toBeGreaterThanOrEqual(outageEnds);
  });

  it('does not let Retry-After waits use up the retries', async () => {
    const w = await world();
    const t = await target(() => ({ kind: 'status', status: 429, headers: { 'Retry-After': '3' } }));
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: 'consent.withdrawn' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    const d = dispatcherOf(w, { random: () => 1 });
    const gaps: number[] = [];
    for (let attempt = 1; attempt <= 30; attempt += 1) {
      const before = w.clock.now().getTime();
      expect(await d.runOnce()).toMatchObject({ attempted: 1, retried: 1 });
      gaps.push(((await toNextAttempt(w, hook.id)) ?? 0) - before);
    }
    // The target's 3 s, until the backoff's own step is longer.
    expect(gaps.slice(0, 5)).toEqual([3000, 3000, 4000, 8000, 16_000]);
    expect(gaps.every((gap) => gap >= 3000)).toBe(true);
    const [row] = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
    expect(row).toMatchObject({ status: 'pending', attempts: 30, lastStatusCode: 429, lastError: 'HTTP 429' });
  });

  it('shortens a Retry-After over one hour to one hour, and says so in lastError', async () => {
    const w = await world();
    const t = await target(() => ({ kind: 'status', status: 503, headers: { 'Retry-After': '7200' } }));
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: 'consent.withdrawn' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    await dispatcherOf(w).runOnce();
    const [row] = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
    expect(Date.parse(row?.nextAttemptAt ?? '') - w.clock.now().getTime()).toBe(60 * 60 * 1000);
    expect(row?.lastError).toBe('HTTP 503 (Retry-After 7200 s shortened to 3600 s)');
  });
});

describe('channel filters', () => {
  it('sends a STOP ALL opt-out (channel `any`) to a hook filtered on one channel', async () => {
    const w = await world();
    const t = await target();
    const whatsapp = await w.hooks.create(w.ws.workspaceId, { targetUrl: `${t.url}/wa`, event: 'consent.withdrawn', filter: { channel: 'whatsapp' } });
    const sms = await w.hooks.create(w.ws.workspaceId, { targetUrl: `${t.url}/sms`, event: 'consent.withdrawn', filter: { channel: 'sms' } });
    await w.ws.handleInbound(inbound('m1', 'STOP ALL'));
    expect(await dispatcherOf(w).runOnce()).toMatchObject({ deliveries: 2, delivered: 2 });
    for (const hook of [whatsapp, sms]) expect((await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data).toMatchObject([{ status: 'delivered' }]);
    expect(t.received.map((r) => JSON.parse(r.body).data)).toMatchObject([{ channel: 'any' }, { channel: 'any' }]);
  });
});

describe('backlog metrics', () => {
  it('shows pending and dead deliveries and the age of the oldest pending one, read when scraped', async () => {
    const w = await world();
    const t = await target((request) => ({ kind: 'status', status: request.path.endsWith('/refuses') ? 400 : request.path.endsWith('/fails') ? 500 : 200 }));
    await w.hooks.create(w.ws.workspaceId, { targetUrl: `${t.url}/ok`, event: 'consent.withdrawn' });
    await w.hooks.create(w.ws.workspaceId, { targetUrl: `${t.url}/refuses`, event: 'consent.withdrawn' });
    await w.hooks.create(w.ws.workspaceId, { targetUrl: `${t.url}/fails`, event: 'consent.withdrawn' });
    const registry = new Registry();
    const d = dispatcherOf(w, { metricsRegistry: registry });
    const scrape = async (): Promise<string> => registry.metrics();

    expect(await scrape()).toMatch(/^consentry_hook_deliveries_pending 0$/m);
    expect(await scrape()).toMatch(/^consentry_hook_oldest_pending_delivery_age_seconds 0$/m);
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    w.clock.advance(90_000);
    expect(await d.runOnce()).toMatchObject({ delivered: 1, dead: 1, retried: 1 });

    let text = await scrape();
    expect(text).toMatch(/^consentry_hook_deliveries_pending 1$/m);
    expect(text).toMatch(/^consentry_hook_deliveries_dead 1$/m);
    expect(text).toMatch(/^consentry_hook_oldest_pending_delivery_age_seconds 90$/m);
    w.clock.advance(30_000);
    text = await scrape();
    expect(text).toMatch(/^consentry_hook_oldest_pending_delivery_age_seconds 120$/m);
    expect(text).not.toMatch(/consentry_hook_deliveries_pending\{/);
  });
});

describe('deliveries of a hook that was deleted', () => {
  const gauge = (text: string, name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);

  it('are kept, dead, with the reason, and counted as unsubscribed, not as dead letters, after DELETE', async () => {
    const w = await world();
    const t = await target((request) => ({ kind: 'status', status: request.path.endsWith('/refuses') ? 400 : 503 }));
    const failing = await w.hooks.create(w.ws.workspaceId, { targetUrl: `${t.url}/down`, event: 'consent.withdrawn' });
    const refusing = await w.hooks.create(w.ws.workspaceId, { targetUrl: `${t.url}/refuses`, event: 'consent.withdrawn' });
    const registry = new Registry();
    const d = dispatcherOf(w, { metricsRegistry: registry });
    await stops(w.ws, 3);
    expect(await d.runOnce()).toMatchObject({ attempted: 6, retried: 3, dead: 3 });
    let text = await registry.metrics();
    expect([gauge(text, 'consentry_hook_deliveries_pending'), gauge(text, 'consentry_hook_deliveries_dead'), gauge(text, 'consentry_hook_deliveries_unsubscribed')]).toEqual([3, 3, 0]);

    w.clock.advance(60_000);
    expect(await w.hooks.remove(w.ws.workspaceId, failing.id)).toBe(true);
    text = await registry.metrics();
    expect([gauge(text, 'consentry_hook_deliveries_pending'), gauge(text, 'consentry_hook_deliveries_dead'), gauge(text, 'consentry_hook_deliveries_unsubscribed')]).toEqual([0, 3, 3]);
    const kept = (await w.hooks.deliveries(w.ws.workspaceId, failing.id, {})).data;
    expect(kept).toHaveLength(3);
    for (const row of kept) {
      expect(row).toMatchObject({ status: 'dead', attempts: 1, lastStatusCode: 503, lastError: 'not sent: the hook was deleted (unsubscribed)', updatedAt: '2026-03-01T10:01:00.000Z' });
    }

    // Deleting the hook whose dead letters were real refusals moves them too: they cannot be sent again.
    await w.hooks.remove(w.ws.workspaceId, refusing.id);
    text = await registry.metrics();
    expect([gauge(text, 'consentry_hook_deliveries_dead'), gauge(text, 'consentry_hook_deliveries_unsubscribed')]).toEqual([0, 6]);
    expect((await w.hooks.deliveries(w.ws.workspaceId, refusing.id, {})).data.map((row) => row.lastError)).toEqual(Array(3).fill('HTTP 400 (refused, not retried)'));
    w.clock.advance(60 * 60 * 1000);
    expect(await d.runOnce()).toMatchObject({ attempted: 0 });
    expect(text).toMatch(/^# HELP consentry_hook_deliveries_unsubscribed Deliveries of hooks that were deleted/m);
  });

  it('are counted as unsubscribed after a 410 Gone, their reason saying so', async () => {
    const w = await world();
    let answered = 0;
    const t = await target(() => ({ kind: 'status', status: answered++ === 0 ? 503 : 410 }));
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: 'consent.withdrawn' });
    const registry = new Registry();
    const d = dispatcherOf(w, { metricsRegistry: registry, perHookConcurrency: 1 });
    await stops(w.ws, 3);
    expect(await d.runOnce()).toMatchObject({ attempted: 1, retried: 1 });
    expect(await d.runOnce()).toMatchObject({ attempted: 1, gone: 1 });
    const rows = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
    expect(rows.map((row) => row.status)).toEqual(['dead', 'dead', 'dead']);
    expect(rows.map((row) => row.lastError).sort()).toEqual([
      'HTTP 410 Gone: the subscription was removed',
      'not sent: the hook was deleted when its target answered 410 Gone',
      'not sent: the hook was deleted when its target answered 410 Gone',
    ]);
    const text = await registry.metrics();
    expect([gauge(text, 'consentry_hook_deliveries_pending'), gauge(text, 'consentry_hook_deliveries_dead'), gauge(text, 'consentry_hook_deliveries_unsubscribed')]).toEqual([0, 0, 3]);
  });
});

describe('dead letters sent again', () => {
  const DAY = 24 * 60 * 60 * 1000;
  const typeOf = (request: Target['received'][number]): string => String(request.headers['x-consentry-event-type']);

  it('gets a fresh retry window measured from the request, and the backoff from its first step', async () => {
    const w = await world();
    let status = 500;
    const t = await target(() => ({ kind: 'status', status }));
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: 'consent.withdrawn' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    // A one-minute window: attempts at 0, 1, 3, 7, 15, 31 and 60 s with the longest waits.
    const d = dispatcherOf(w, { random: () => 1, retryWindowMs: 60_000 });
    do await d.runOnce();
    while ((await toNextAttempt(w, hook.id)) !== null);
    const [dead] = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
    expect(dead).toMatchObject({ status: 'dead', attempts: 7, lastError: 'HTTP 500 (gave up after 7 attempts, 1 minute after the event)', resentAt: null });

    // Ten days on, far past the event's window.
    w.clock.advance(10 * DAY);
    const resentAt = w.clock.now().toISOString();
    const view = await w.hooks.retryDelivery(w.ws.workspaceId, hook.id, dead?.id ?? '');
    expect(view).toEqual({ ...dead, status: 'pending', attempts: 0, nextAttemptAt: resentAt, updatedAt: resentAt, resentAt });

    expect(await d.runOnce()).toMatchObject({ attempted: 1, retried: 1, dead: 0 });
    const [retrying] = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
    expect(retrying).toMatchObject({ status: 'pending', attempts: 1, lastError: 'HTTP 500', resentAt });
    expect(Date.parse(retrying?.nextAttemptAt ?? '') - Date.parse(resentAt)).toBe(1000);
    let last = Date.parse(resentAt);
    while ((await toNextAttempt(w, hook.id)) !== null) {
      expect((await d.runOnce()).attempted).toBe(1);
      last = w.clock.now().getTime();
    }
    expect(last - Date.parse(resentAt)).toBe(60_000);
    const [deadAgain] = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
    expect(deadAgain).toMatchObject({ status: 'dead', attempts: 7, lastError: 'HTTP 500 (gave up after 7 attempts, 1 minute after it was sent again)' });

    // Once the receiver is fixed, it is delivered, with the same event id as every attempt before.
    status = 200;
    w.clock.advance(DAY);
    await w.hooks.retryDelivery(w.ws.workspaceId, hook.id, dead?.id ?? '');
    expect(await d.runOnce()).toMatchObject({ attempted: 1, delivered: 1 });
    const [delivered] = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
    expect(delivered).toMatchObject({ status: 'delivered', attempts: 1, lastError: null, lastStatusCode: 200, deliveredAt: w.clock.now().toISOString() });
    expect(t.received).toHaveLength(15);
    expect(new Set(t.received.map((r) => r.headers['x-consentry-event-id'])).size).toBe(1);
  });

  it("goes before its contact's later events still pending on the hook, which wait for it while it is retried", async () => {
    const w = await world();
    const answers = new Map<string, number>([
      ['consent.withdrawn', 400],
      ['contact.tagged', 503],
    ]);
    const t = await target((request) => ({ kind: 'status', status: answers.get(typeOf(request)) ?? 200 }));
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: '*' });
    const ana = await w.ws.handleInbound(inbound('m1', 'STOP'));
    await w.ws.addTag(ana.contactId, 'VIP');
    const ben = await w.ws.handleInbound(inbound('m2', 'STOP', '+34600000002'));
    const d = dispatcherOf(w, { random: () => 1 });

    // Ana's opt-out is refused; her tag then fails and waits a second. Ben's opt-out is refused too.
    expect(await d.runOnce()).toMatchObject({ attempted: 2, dead: 2 });
    expect(await d.runOnce()).toMatchObject({ attempted: 1, retried: 1 });
    const rows = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
    const withdrawn = rows.find((row) => row.eventType === 'consent.withdrawn' && row.contactId === ana.contactId);
    expect(rows.find((row) => row.eventType === 'contact.tagged')).toMatchObject({ status: 'pending', attempts: 1 });

    // The tag is due when the opt-out is sent again: the opt-out goes first, and alone.
    w.clock.advance(1000);
    answers.set('consent.withdrawn', 503);
    await w.hooks.retryDelivery(w.ws.workspaceId, hook.id, withdrawn?.id ?? '');
    expect(await d.runOnce()).toMatchObject({ attempted: 1, retried: 1 });
    // While the opt-out waits for its retry, the tag waits behind it, though due.
    expect((await d.runOnce()).attempted).toBe(0);
    w.clock.advance(1000);
    answers.clear();
    expect(await d.runOnce()).toMatchObject({ attempted: 1, delivered: 1 });
    expect(await d.runOnce()).toMatchObject({ attempted: 1, delivered: 1 });
    expect((await d.runOnce()).attempted).toBe(0);

    const anaTypes = t.received.filter((r) => JSON.parse(r.body).contactId === ana.contactId).map(typeOf);
    expect(anaTypes).toEqual(['consent.withdrawn', 'contact.tagged', 'consent.withdrawn', 'consent.withdrawn', 'contact.tagged']);
    // Ben's dead letter was not sent again: only the one asked for goes back.
    expect(t.received.filter((r) => JSON.parse(r.body).contactId === ben.contactId)).toHaveLength(1);
    const statuses = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data.map((row) => [row.eventType, row.contactId, row.status]);
    expect(statuses).toEqual([
      ['consent.withdrawn', ben.contactId, 'dead'],
      ['contact.tagged', ana.contactId, 'delivered'],
      ['consent.withdrawn', ana.contactId, 'delivered'],
    ]);
  });
});

/** Loop timers that fire only when told to, so a stop deadline passes when the test says. */
class ManualTimers implements LoopTimers {
  private readonly pending = new Set<{ ms: number; callback: () => void }>();

  after(ms: number, callback: () => void): () => void {
    const entry = { ms, callback };
    this.pending.add(entry);
    return () => this.pending.delete(entry);
  }

  nextTurn(callback: () => void): void {
    setImmediate(callback);
  }

  now(): number {
    return 0;
  }

  /** Resolves once a timer of `ms` is set, giving the event loop turns (not time) meanwhile. */
  async until(ms: number): Promise<void> {
    for (let turn = 0; turn < 10_000; turn += 1) {
      if ([...this.pending].some((entry) => entry.ms === ms)) return;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    throw new Error(`no timer of ${ms} ms was set`);
  }

  fire(ms: number): void {
    for (const entry of [...this.pending]) {
      if (entry.ms !== ms) continue;
      this.pending.delete(entry);
      entry.callback();
    }
  }
}

describe('stopping', () => {
  const GRACE_MS = 4321;

  it('sends the deliveries due when stop() is called, and waits for their answers', async () => {
    const w = await world();
    const t = await target();
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: 'consent.withdrawn' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    const d = dispatcherOf(w, { timers: new ManualTimers(), stopGraceMs: GRACE_MS });
    d.start();
    await t.waitForRequests(1);
    // Committed while the loop sleeps: only the drain on stop can send these.
    await stops(w.ws, 3, 'late');
    await d.stop();

    expect(t.received).toHaveLength(4);
    const rows = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
    expect(rows.map((row) => row.status)).toEqual(['delivered', 'delivered', 'delivered', 'delivered']);
  });

  it('cancels a request still unanswered at the grace deadline and leaves the delivery pending for the restart', async () => {
    const w = await world();
    let hangs = true;
    const t = await target(() => (hangs ? { kind: 'hang' } : { kind: 'status', status: 200 }));
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: t.url, event: 'consent.withdrawn' });
    await w.ws.handleInbound(inbound('m1', 'STOP'));
    const timers = new ManualTimers();
    // A request timeout far beyond the test's own: only the grace deadline can end the stop.
    const d = dispatcherOf(w, { timers, stopGraceMs: GRACE_MS, requestTimeoutMs: 60_000 });
    d.start();
    await t.waitForRequests(1);

    const stopped = d.stop();
    await timers.until(GRACE_MS);
    timers.fire(GRACE_MS);
    await stopped;
    const [row] = (await w.hooks.deliveries(w.ws.workspaceId, hook.id, {})).data;
    expect(row).toMatchObject({ status: 'pending', attempts: 0, lastError: null, lastStatusCode: null });

    hangs = false;
    expect(await dispatcherOf(w).runOnce()).toMatchObject({ attempted: 1, delivered: 1 });
    expect(t.received.map((r) => r.headers['x-consentry-event-id'])).toEqual([row?.eventId, row?.eventId]);
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { FakeClock } from '../../src/ports/clock.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { startServer } from '../../src/server/index.js';
import { HookDispatcher } from '../../src/worker/hook-dispatcher.js';
import { getOutboundWebhookSecret } from '../../src/worker/hooks.js';
import { verifyDeliverySignature } from '../../src/worker/signature.js';
import { startTarget, type Target } from '../worker/target-server.js';
import { expectProblem, parsed, problemPaths, testApp, type Tenant, type TestApp } from './helpers.js';

const HookSchema = z.object({
  id: z.string(),
  targetUrl: z.string(),
  event: z.string(),
  filter: z.record(z.string(), z.string()).nullable(),
  createdAt: z.string(),
});
const CreatedSchema = HookSchema.extend({ secret: z.string() });
const ListSchema = z.object({ data: z.array(z.record(z.string(), z.unknown())) });
const DeliveriesSchema = z.object({
  data: z.array(
    z.object({
      id: z.string(),
      eventId: z.string(),
      eventType: z.string().nullable(),
      contactId: z.string().nullable(),
      updatedAt: z.string(),
      status: z.enum(['pending', 'delivered', 'dead']),
      attempts: z.number(),
      lastError: z.string().nullable(),
      lastStatusCode: z.number().nullable(),
      nextAttemptAt: z.string().nullable(),
      deliveredAt: z.string().nullable(),
    }),
  ),
});

let t: TestApp;
let acme: Tenant;
let globex: Tenant;
let target: Target;
const dispatchers: HookDispatcher[] = [];

beforeEach(async () => {
  // The targets are servers on 127.0.0.1, allowed as in a self-hosted set-up (hook-targets.test.ts covers the refusal).
  t = await testApp({ allowPrivateTargets: true });
  acme = await t.tenant('Acme');
  globex = await t.tenant('Globex');
  target = await startTarget();
});

afterEach(async () => {
  for (const d of dispatchers.splice(0)) await d.stop();
  await target.close();
  await t.close();
  await t.store.close();
});

function dispatcher(options: { maxAttempts?: number } = {}): HookDispatcher {
  const d = new HookDispatcher({ store: t.store, clock: t.clock, requestTimeoutMs: 500, random: () => 1, allowPrivateTargets: true, ...options });
  dispatchers.push(d);
  return d;
}

async function subscribe(tenant: Tenant, payload: Record<string, unknown>) {
  const response = await t.as(tenant, { method: 'POST', url: '/v1/hooks', payload });
  expect(response.statusCode).toBe(201);
  return parsed(response, CreatedSchema);
}

const message = (messageId: string, text: string) => ({
  channel: 'whatsapp',
  messageId,
  from: { id: '+34600000001', name: 'Ana Test' },
  text,
});

describe('POST /v1/hooks', () => {
  it('subscribes and returns the secret once; GET lists without it', async () => {
    const response = await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl: target.url, event: 'contact.tagged', filter: { tag: 'VIP' } } });
    expect(response.statusCode).toBe(201);
    const created = parsed(response, CreatedSchema);
    expect(created).toMatchObject({ targetUrl: target.url, event: 'contact.tagged', filter: { tag: 'VIP' }, createdAt: '2026-03-01T09:00:00.000Z' });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const other = await subscribe(acme, { targetUrl: target.url, event: '*' });
    expect(other.secret).not.toBe(created.secret);
    expect(other.filter).toBeNull();

    const list = parsed(await t.as(acme, { method: 'GET', url: '/v1/hooks' }), ListSchema);
    expect(list.data.map((h) => h.id)).toEqual([created.id, other.id]);
    for (const hook of list.data) expect(hook).not.toHaveProperty('secret');
    expect(HookSchema.strict().parse(list.data[0])).toEqual({ id: created.id, targetUrl: target.url, event: 'contact.tagged', filter: { tag: 'VIP' }, createdAt: created.createdAt });
  });

  it('names every bad field', async () => {
    const response = await t.as(acme, {
      method: 'POST',
      url: '/v1/hooks',
      payload: { targetUrl: 'ftp://example.com/hook', event: 'message.outbound', filter: { tag: 5 } },
    });
    expectProblem(response, 422, 'VALIDATION_FAILED');
    expect(problemPaths(response).sort()).toEqual(['event', 'filter.tag', 'targetUrl']);

    const missing = await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: {} });
    expectProblem(missing, 422, 'VALIDATION_FAILED');
    expect(problemPaths(missing).sort()).toEqual(['event', 'targetUrl']);

    const extra = await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl: target.url, event: '*', secret: 'mine' } });
    expectProblem(extra, 422, 'VALIDATION_FAILED');
    expect(parsed(await t.as(acme, { method: 'GET', url: '/v1/hooks' }), ListSchema).data).toEqual([]);
  });

  it('names the event types when the event is not one', async () => {
    const response = await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl: target.url, event: 'consent.changed' } });
    expectProblem(response, 422, 'VALIDATION_FAILED');
    expect(response.json().errors).toEqual([{ path: 'event', message: expect.stringContaining('consent.given, consent.withdrawn, consent.failed') }]);
  });

  it('refuses a filter key the event data does not have, or a value it never holds, naming the fields it has', async () => {
    const typo = await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl: target.url, event: 'consent.withdrawn', filter: { chanel: 'whatsapp' } } });
    expectProblem(typo, 422, 'VALIDATION_FAILED');
    expect(problemPaths(typo)).toEqual(['filter.chanel']);
    expect(typo.json().errors[0].message).toMatch(/not a field of consent\.withdrawn events' data; filter on one of contactId, purpose, channel, status/);

    const never = await t.as(acme, {
      method: 'POST',
      url: '/v1/hooks',
      payload: { targetUrl: target.url, event: 'consent.failed', filter: { channel: 'whatsap', reason: 'late', attempts: 'four' } },
    });
    expectProblem(never, 422, 'VALIDATION_FAILED');
    expect(problemPaths(never).sort()).toEqual(['filter.attempts', 'filter.channel', 'filter.reason']);

    const anyEvent = await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl: target.url, event: '*', filter: { tag: 'VIP', nickname: 'x' } } });
    expectProblem(anyEvent, 422, 'VALIDATION_FAILED');
    expect(problemPaths(anyEvent)).toEqual(['filter.nickname']);
    expect(parsed(await t.as(acme, { method: 'GET', url: '/v1/hooks' }), ListSchema).data).toEqual([]);

    await subscribe(acme, { targetUrl: target.url, event: 'consent.failed', filter: { channel: 'any', reason: 'timeout', attempts: '4', purpose: 'privacy' } });
    await subscribe(acme, { targetUrl: target.url, event: '*', filter: { tag: 'VIP' } });
  });

  it('refuses a target URL that carries a user name or password, as the outbound webhook URL', async () => {
    const withCredentials = target.url.replace('http://', 'http://user:secret@');
    const hook = await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl: withCredentials, event: '*' } });
    expectProblem(hook, 422, 'VALIDATION_FAILED');
    expect(problemPaths(hook)).toEqual(['targetUrl']);
    expect(hook.json().errors[0].message).toMatch(/user name or password/);
    const settings = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookUrl: withCredentials } });
    expectProblem(settings, 422, 'VALIDATION_FAILED');
    expect(problemPaths(settings)).toEqual(['outboundWebhookUrl']);
  });

  it('refuses a request without a valid API key', async () => {
    expectProblem(await t.app.inject({ method: 'POST', url: '/v1/hooks', payload: { targetUrl: target.url, event: '*' } }), 401, 'UNAUTHORIZED');
    expectProblem(await t.app.inject({ method: 'GET', url: '/v1/hooks', headers: { authorization: 'Bearer csk_not_a_key' } }), 401, 'UNAUTHORIZED');
    expectProblem(await t.app.inject({ method: 'DELETE', url: '/v1/hooks/anything' }), 401, 'UNAUTHORIZED');
    expectProblem(await t.app.inject({ method: 'GET', url: '/v1/hooks/anything/deliveries' }), 401, 'UNAUTHORIZED');
  });
});

describe('OpenAPI', () => {
  it('documents the hooks routes', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(response.statusCode).toBe(200);
    const paths = Object.keys(z.object({ paths: z.record(z.string(), z.unknown()) }).parse(response.json()).paths);
    expect(paths).toEqual(expect.arrayContaining(['/v1/hooks', '/v1/hooks/{id}', '/v1/hooks/{id}/deliveries']));
  });
});

describe('DELETE /v1/hooks/{id}', () => {
  it('unsubscribes idempotently', async () => {
    const hook = await subscribe(acme, { targetUrl: target.url, event: '*' });
    const first = await t.as(acme, { method: 'DELETE', url: `/v1/hooks/${hook.id}` });
    expect(first.statusCode).toBe(204);
    expect(first.body).toBe('');
    expect((await t.as(acme, { method: 'DELETE', url: `/v1/hooks/${hook.id}` })).statusCode).toBe(204);
    expect((await t.as(acme, { method: 'DELETE', url: '/v1/hooks/01UNKNOWN' })).statusCode).toBe(204);
    expect(parsed(await t.as(acme, { method: 'GET', url: '/v1/hooks' }), ListSchema).data).toEqual([]);
    const stored = await t.store.transaction((tx) => tx.getHook(acme.workspaceId, hook.id));
    expect(stored).toMatchObject({ deletedReason: 'unsubscribed' });
  });

  it("never touches another workspace's hook", async () => {
    const hook = await subscribe(acme, { targetUrl: target.url, event: '*' });
    expect(parsed(await t.as(globex, { method: 'GET', url: '/v1/hooks' }), ListSchema).data).toEqual([]);
    expect((await t.as(globex, { method: 'DELETE', url: `/v1/hooks/${hook.id}` })).statusCode).toBe(204);
    expectProblem(await t.as(globex, { method: 'GET', url: `/v1/hooks/${hook.id}/deliveries` }), 404, 'NOT_FOUND');
    const list = parsed(await t.as(acme, { method: 'GET', url: '/v1/hooks' }), ListSchema);
    expect(list.data.map((h) => h.id)).toEqual([hook.id]);

    // Still live: it keeps receiving Acme's events.
    await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message('m1', 'STOP') });
    expect(await dispatcher().runOnce()).toMatchObject({ delivered: 1 });
  });
});

describe('GET /v1/hooks/{id}', () => {
  it('shows a live hook, then when and why it stopped, to its own workspace only', async () => {
    const hook = await subscribe(acme, { targetUrl: target.url, event: 'contact.tagged', filter: { tag: 'VIP' } });
    const live = await t.as(acme, { method: 'GET', url: `/v1/hooks/${hook.id}` });
    expect(live.statusCode).toBe(200);
    expect(live.json()).toEqual({ id: hook.id, targetUrl: target.url, event: 'contact.tagged', filter: { tag: 'VIP' }, createdAt: hook.createdAt, deletedAt: null, deletedReason: null });
    expectProblem(await t.as(globex, { method: 'GET', url: `/v1/hooks/${hook.id}` }), 404, 'NOT_FOUND');
    t.clock.advance(60_000);
    await t.as(acme, { method: 'DELETE', url: `/v1/hooks/${hook.id}` });
    expect((await t.as(acme, { method: 'GET', url: `/v1/hooks/${hook.id}` })).json()).toMatchObject({ deletedAt: '2026-03-01T09:01:00.000Z', deletedReason: 'unsubscribed' });
  });

  it('says a hook was deleted because its target answered 410 Gone', async () => {
    target.answer = () => ({ kind: 'status', status: 410 });
    const hook = await subscribe(acme, { targetUrl: target.url, event: 'consent.withdrawn' });
    await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message('m1', 'STOP') });
    await dispatcher().runOnce();
    expect(parsed(await t.as(acme, { method: 'GET', url: '/v1/hooks' }), ListSchema).data).toEqual([]);
    expect((await t.as(acme, { method: 'GET', url: `/v1/hooks/${hook.id}` })).json()).toMatchObject({ deletedReason: 'gone' });
  });
});

describe('GET /v1/hooks/{id}/deliveries', () => {
  it('shows a delivery dead-lettered after the last retry', async () => {
    target.answer = () => ({ kind: 'status', status: 500 });
    const hook = await subscribe(acme, { targetUrl: target.url, event: 'consent.withdrawn' });
    const sent = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message('m1', 'STOP') });
    expect(sent.statusCode).toBe(200);
    const d = dispatcher({ maxAttempts: 2 });

    await d.runOnce();
    const pending = parsed(await t.as(acme, { method: 'GET', url: `/v1/hooks/${hook.id}/deliveries?status=pending` }), DeliveriesSchema);
    expect(pending.data).toEqual([
      expect.objectContaining({ status: 'pending', attempts: 1, lastStatusCode: 500, nextAttemptAt: '2026-03-01T09:00:01.000Z' }),
    ]);
    t.clock.advance(1000);
    await d.runOnce();

    const dead = parsed(await t.as(acme, { method: 'GET', url: `/v1/hooks/${hook.id}/deliveries?status=dead&limit=10` }), DeliveriesSchema);
    const answer = z.object({ contactId: z.string(), events: z.array(z.object({ id: z.string() })) }).parse(sent.json());
    const [eventId] = answer.events.map((e) => e.id);
    expect(dead.data).toEqual([
      {
        id: pending.data[0]?.id,
        eventId,
        eventType: 'consent.withdrawn',
        contactId: answer.contactId,
        status: 'dead',
        attempts: 2,
        lastStatusCode: 500,
        lastError: 'HTTP 500 (gave up after 2 attempts)',
        nextAttemptAt: null,
        deliveredAt: null,
        updatedAt: '2026-03-01T09:00:01.000Z',
      },
    ]);
    expect(parsed(await t.as(acme, { method: 'GET', url: `/v1/hooks/${hook.id}/deliveries?status=delivered` }), DeliveriesSchema).data).toEqual([]);
    expect(parsed(await t.as(acme, { method: 'GET', url: `/v1/hooks/${hook.id}/deliveries` }), DeliveriesSchema).data).toHaveLength(1);
  });

  it('answers 404 for an unknown hook and 422 for a bad query', async () => {
    expectProblem(await t.as(acme, { method: 'GET', url: '/v1/hooks/01UNKNOWN/deliveries' }), 404, 'NOT_FOUND');
    const hook = await subscribe(acme, { targetUrl: target.url, event: '*' });
    const badLimit = await t.as(acme, { method: 'GET', url: `/v1/hooks/${hook.id}/deliveries?limit=0` });
    expectProblem(badLimit, 422, 'VALIDATION_FAILED');
    expect(problemPaths(badLimit)).toEqual(['limit']);
    const badStatus = await t.as(acme, { method: 'GET', url: `/v1/hooks/${hook.id}/deliveries?status=lost` });
    expectProblem(badStatus, 422, 'VALIDATION_FAILED');
    expect(problemPaths(badStatus)).toEqual(['status']);
  });
});

describe('outbound webhook of a custom channel', () => {
  it('receives the replies to POST /v1/messages, signed with the workspace secret', async () => {
    const patched = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookUrl: target.url } });
    expect(patched.statusCode).toBe(200);
    const sent = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message('m1', 'STOP') });
    const replies = z.object({ replies: z.array(z.object({ text: z.string() })) }).parse(sent.json()).replies;
    expect(replies).toHaveLength(1);
    expect(await dispatcher().runOnce()).toMatchObject({ delivered: 1 });

    const [request] = target.received;
    const delivered = z
      .object({ type: z.literal('message.outbound'), workspaceId: z.string(), data: z.object({ text: z.string(), to: z.string(), channel: z.string() }) })
      .parse(JSON.parse(request?.body ?? ''));
    expect(delivered).toMatchObject({ workspaceId: acme.workspaceId, data: { text: replies[0]?.text, to: '+34600000001', channel: 'whatsapp' } });
    const secret = await getOutboundWebhookSecret(t.store, acme.workspaceId);
    expect(
      verifyDeliverySignature({
        secret,
        body: request?.body ?? '',
        timestamp: request?.headers['x-consentry-timestamp']?.toString(),
        signature: request?.headers['x-consentry-signature']?.toString(),
        now: t.clock.now(),
      }),
    ).toBe(true);
    // Globex has no outbound webhook: nothing of its own goes out.
    await t.as(globex, { method: 'POST', url: '/v1/messages', payload: message('m1', 'STOP') });
    expect(await dispatcher().runOnce()).toMatchObject({ deliveries: 0, attempted: 0 });
  });

  it('lists its deliveries, dead letters included, to its own workspace only', async () => {
    target.answer = () => ({ kind: 'status', status: 400 });
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookUrl: target.url } });
    const sent = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message('m1', 'STOP') });
    expect(sent.statusCode).toBe(200);
    await dispatcher().runOnce();

    const url = '/v1/settings/outbound-webhook/deliveries';
    const dead = parsed(await t.as(acme, { method: 'GET', url: `${url}?status=dead` }), DeliveriesSchema);
    expect(dead.data).toEqual([expect.objectContaining({ status: 'dead', attempts: 1, lastStatusCode: 400, nextAttemptAt: null, deliveredAt: null })]);
    const [outbound] = (await t.engine.workspace(acme.workspaceId).listEvents({ types: ['message.outbound'] })).map((event) => event.id);
    expect(dead.data[0]?.eventId).toBe(outbound);
    expect(parsed(await t.as(acme, { method: 'GET', url: `${url}?status=delivered` }), DeliveriesSchema).data).toEqual([]);
    expect(parsed(await t.as(globex, { method: 'GET', url }), DeliveriesSchema).data).toEqual([]);

    const badLimit = await t.as(acme, { method: 'GET', url: `${url}?limit=501` });
    expectProblem(badLimit, 422, 'VALIDATION_FAILED');
    expect(problemPaths(badLimit)).toEqual(['limit']);
    expectProblem(await t.app.inject({ method: 'GET', url }), 401, 'UNAUTHORIZED');
  });
});

describe('startServer', () => {
  it('runs the hook dispatcher by default and drains it on close', async () => {
    const store = createMemoryStore();
    const server = await startServer({
      store,
      clock: new FakeClock('2026-03-01T09:00:00.000Z'),
      dispatchIntervalMs: 5,
      defaultMetrics: false,
      allowPrivateTargets: true,
    });
    try {
      const { key } = await server.createWorkspaceWithKey('Initech');
      const headers = { authorization: `Bearer ${key}` };
      const created = await server.app.inject({ method: 'POST', url: '/v1/hooks', headers, payload: { targetUrl: target.url, event: '*' } });
      expect(created.statusCode).toBe(201);
      await server.app.inject({ method: 'POST', url: '/v1/messages', headers, payload: message('m1', 'STOP') });
      await target.waitForRequests(1);
      expect(target.received[0]?.headers['x-consentry-event-type']).toBe('consent.withdrawn');
    } finally {
      await server.close();
      await store.close();
    }
  });

  it('runs the timer scheduler by default: a question times out on the clock', async () => {
    const store = createMemoryStore();
    const clock = new FakeClock('2026-03-01T09:00:00.000Z');
    const server = await startServer({ store, clock, dispatchIntervalMs: 5, defaultMetrics: false });
    try {
      const { key } = await server.createWorkspaceWithKey('Initech');
      const headers = { authorization: `Bearer ${key}` };
      await server.app.inject({ method: 'PATCH', url: '/v1/settings', headers, payload: { privacyPolicyUrl: 'https://example.com/privacy' } });
      const asked = await server.app.inject({ method: 'POST', url: '/v1/messages', headers, payload: message('m1', 'hello') });
      expect(asked.statusCode).toBe(200);
      const failed = async () =>
        z.object({ data: z.array(z.object({ type: z.string() })) }).parse((await server.app.inject({ method: 'GET', url: '/v1/events?type=consent.failed', headers })).json()).data;
      expect(await failed()).toEqual([]);
      clock.advance(5 * 60 * 1000);
      const deadline = Date.now() + 5000;
      while ((await failed()).length === 0 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
      expect((await failed()).map((e) => e.type)).toEqual(['consent.failed']);
    } finally {
      await server.close();
      await store.close();
    }
  });
});

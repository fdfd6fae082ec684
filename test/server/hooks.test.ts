import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { FakeClock } from '../../src/ports/clock.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { startServer } from '../../src/server/index.js';
import type { HookDispatcher } from '../../src/worker/hook-dispatcher.js';
import { getOutboundWebhookSecret } from '../../src/worker/signing-secrets.js';
import { verifyDeliverySignature } from '../../src/worker/signature.js';
import type { Target } from '../worker/target-server.js';
import { hookTestbed, type HookTestbed } from './hook-testbed.js';
import { expectProblem, parsed, problemPaths, type Tenant, type TestApp } from './helpers.js';
import { DEFAULT_TIMER_GRACE_MS } from '../../src/worker/timer-scheduler.js';

const HookSchema = z.object({
  id: z.string(),
  targetUrl: z.string(),
  event: z.string(),
  filter: z.record(z.string(), z.string()).nullable(),
  createdAt: z.string(),
});
const CreatedSchema = HookSchema.extend({ secret: z.string() });
const ListSchema = z.object({ data: z.array(z.record(z.string(), z.unknown())) });
const DeliverySchema = z
  .object({
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
    resentAt: z.string().nullable(),
  })
  .strict();
const DeliveriesSchema = z.object({ data: z.array(DeliverySchema), nextCursor: z.string().nullable() }).strict();
const RetriedSchema = z.object({ retried: z.number(), hasMore: z.boolean() }).strict();

let bed: HookTestbed;
let t: TestApp;
let acme: Tenant;
let globex: Tenant;
let target: Target;

beforeEach(async () => {
  bed = await hookTestbed();
  ({ t, target } = bed);
  acme = await t.tenant('Acme');
  globex = await t.tenant('Globex');
});

afterEach(() => bed.close());

const dispatcher = (options: { maxAttempts?: number } = {}): HookDispatcher => bed.dispatcher(options);

async function subscribe(tenant: Tenant, payload: Record<string, unknown>) {
  const response = await t.as(tenant, { method: 'POST', url: '/v1/hooks', payload });
  expect(response.statusCode).toBe(201);
  return parsed(response, CreatedSchema);
}

const message = (messageId: string, text: string, phone = '+34600000001') => ({
  channel: 'whatsapp',
  messageId,
  from: { id: phone, name: 'Ana Test' },
  text,
});

/** `count` contacts (the `first`th on) each sending STOP: one consent.withdrawn event each, oldest first. */
async function stops(tenant: Tenant, count: number, first = 1): Promise<void> {
  for (let i = first; i < first + count; i += 1) {
    const sent = await t.as(tenant, { method: 'POST', url: '/v1/messages', payload: message(`m${i}`, 'STOP', `+34600000${String(100 + i)}`) });
    expect(sent.statusCode).toBe(200);
  }
}

async function deliveriesOf(tenant: Tenant, url: string): Promise<z.infer<typeof DeliveriesSchema>> {
  const response = await t.as(tenant, { method: 'GET', url });
  expect(response.statusCode, response.body).toBe(200);
  return parsed(response, DeliveriesSchema);
}

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
    expect(typo.json().errors[0].message).toMatch(/not a field of the data of consent\.withdrawn events; filter on one of contactId, purpose, channel, status/);

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

  it('refuses link-local and cloud metadata targets although private targets are allowed here, and takes private ones', async () => {
    for (const targetUrl of ['http://169.254.169.254/latest/meta-data/', 'http://[fe80::1]/hook', 'http://[fd00:ec2::254]/latest/meta-data/', 'http://100.100.100.200/']) {
      const refused = await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl, event: '*' } });
      expectProblem(refused, 422, 'VALIDATION_FAILED');
      expect(refused.json().errors).toEqual([
        {
          path: 'targetUrl',
          message: 'must not point to a link-local, cloud metadata or other reserved address (only public, private-use and loopback addresses are allowed)',
        },
      ]);
    }
    await subscribe(acme, { targetUrl: 'http://10.1.2.3/hook', event: '*' });
    await subscribe(acme, { targetUrl: 'http://localhost:8080/hook', event: '*' });
    expect(ListSchema.parse((await t.as(acme, { method: 'GET', url: '/v1/hooks' })).json()).data).toHaveLength(2);
  });

  it('answers 409 naming the bound to a workspace that has 100 live hooks, until one is deleted; other workspaces are not counted', async () => {
    const ids: string[] = [];
    for (let i = 1; i <= 100; i += 1) ids.push((await subscribe(acme, { targetUrl: `${target.url}/${i}`, event: '*' })).id);
    const refused = await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl: `${target.url}/101`, event: '*' } });
    const problem = expectProblem(refused, 409, 'CONFLICT');
    expect(problem.detail).toBe(
      'The workspace has 100 live hooks, the most it may have: delete one it no longer needs (DELETE /v1/hooks/{id}) before subscribing another',
    );
    expect(ListSchema.parse((await t.as(acme, { method: 'GET', url: '/v1/hooks' })).json()).data).toHaveLength(100);

    await subscribe(globex, { targetUrl: `${target.url}/globex`, event: '*' });
    expect((await t.as(acme, { method: 'DELETE', url: `/v1/hooks/${ids[0] ?? ''}` })).statusCode).toBe(204);
    await subscribe(acme, { targetUrl: `${target.url}/101`, event: '*' });
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
    expect(paths).toEqual(
      expect.arrayContaining([
        '/v1/hooks',
        '/v1/hooks/{id}',
        '/v1/hooks/{id}/deliveries',
        '/v1/hooks/{id}/deliveries/{deliveryId}/retry',
        '/v1/hooks/{id}/deliveries/retry',
        '/v1/settings/outbound-webhook/deliveries/{deliveryId}/retry',
        '/v1/settings/outbound-webhook/deliveries/retry',
      ]),
    );
  });
});

describe('DELETE /v1/hooks/{id}', () => {
  it('unsubscribes idempotently', async () => {
    const hook = await subscribe(acme, { targetUrl: target.url, event: '*' });
    const first = await t.as(acme, { method: 'DELETE', url: `/v1/hooks/${hook.id}` });
    expect(first.statusCode).toBe(204);
    expect(first.body).toBe('');
    expect((await t.as(acme, { method: 'DELETE', url: `/v1/hooks/${hook.id}` })).statusCode).toBe(204);
    expect((await t.as(acme, { method: 'DELETE', url: '/v1/hooks/01ARZ3NDEKTSV4RRFFQ69G5FAV' })).statusCode).toBe(204);
    expect(parsed(await t.as(acme, { method: 'GET', url: '/v1/hooks' }), ListSchema).data).toEqual([]);
    const stored = await t.store.transaction((tx) => tx.getHook(acme.workspaceId, hook.id));
    expect(stored).toMatchObject({ deletedReason: 'unsubscribed' });
  });

  it('refuses an id that cannot be a hook (not a ULID) with 422 naming id, and keeps the hook it did not name', async () => {
    const hook = await subscribe(acme, { targetUrl: target.url, event: '*' });
    const ID_MESSAGE = 'must be a hook id answered by POST /v1/hooks: a ULID such as 01ARZ3NDEKTSV4RRFFQ69G5FAV (any letter case)';
    for (const id of ['abc', '01UNKNOWN', `${hook.id}X`]) {
      const refused = await t.as(acme, { method: 'DELETE', url: `/v1/hooks/${id}` });
      expectProblem(refused, 422, 'VALIDATION_FAILED');
      expect(refused.json()).toMatchObject({ detail: `id: ${ID_MESSAGE}`, errors: [{ path: 'id', message: ID_MESSAGE }] });
    }
    // Named in one answer with a subscription that is not a ULID either.
    const both = await t.as(acme, { method: 'DELETE', url: '/v1/hooks/abc?subscription=bogus' });
    expectProblem(both, 422, 'VALIDATION_FAILED');
    expect(problemPaths(both)).toEqual(['id', 'subscription']);
    expect(parsed(await t.as(acme, { method: 'GET', url: '/v1/hooks' }), ListSchema).data.map((h) => h.id)).toEqual([hook.id]);
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
        resentAt: null,
      },
    ]);
    expect(dead.nextCursor).toBeNull();
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

describe('paging deliveries', () => {
  it("pages through a hook's deliveries with nextCursor, newest event first, with or without a status", async () => {
    let calls = 0;
    // Every other event is refused: dead letters between delivered ones.
    target.answer = () => ({ kind: 'status', status: (calls += 1) % 2 === 0 ? 400 : 200 });
    const hook = await subscribe(acme, { targetUrl: target.url, event: 'consent.withdrawn' });
    await stops(acme, 7);
    const d = dispatcher();
    while ((await d.runOnce()).attempted > 0);
    const url = `/v1/hooks/${hook.id}/deliveries`;
    const all = await deliveriesOf(acme, `${url}?limit=500`);
    expect(all.data).toHaveLength(7);
    expect(all.nextCursor).toBeNull();
    const eventIds = all.data.map((row) => row.eventId);
    expect(eventIds).toEqual([...eventIds].sort().reverse());

    const walk = async (query: string): Promise<{ ids: string[]; sizes: number[] }> => {
      const ids: string[] = [];
      const sizes: number[] = [];
      let cursor: string | null = null;
      do {
        const page = await deliveriesOf(acme, `${url}?${query}${cursor === null ? '' : `&cursor=${cursor}`}`);
        ids.push(...page.data.map((row) => row.id));
        sizes.push(page.data.length);
        if (page.nextCursor !== null) expect(page.nextCursor).toBe(page.data.at(-1)?.id);
        cursor = page.nextCursor;
      } while (cursor !== null);
      return { ids, sizes };
    };
    expect(await walk('limit=3')).toEqual({ ids: all.data.map((row) => row.id), sizes: [3, 3, 1] });
    // A delivery id is a ULID, read in any letter case.
    const [firstId, secondId] = all.data.map((row) => row.id);
    const lowerCase = await deliveriesOf(acme, `${url}?limit=1&cursor=${String(firstId).toLowerCase()}`);
    expect(lowerCase.data.map((row) => row.id)).toEqual([secondId]);
    const dead = all.data.filter((row) => row.status === 'dead').map((row) => row.id);
    expect(dead).toHaveLength(3);
    expect(await walk('status=dead&limit=2')).toEqual({ ids: dead, sizes: [2, 1] });
    // A page that ends exactly at the last delivery says so.
    expect(await walk('status=dead&limit=3')).toEqual({ ids: dead, sizes: [3] });
  });

  it("refuses a cursor that names no delivery of this hook, another hook's or another workspace's included", async () => {
    const hook = await subscribe(acme, { targetUrl: target.url, event: 'consent.withdrawn' });
    const other = await subscribe(acme, { targetUrl: `${target.url}/other`, event: 'consent.withdrawn' });
    const foreign = await subscribe(globex, { targetUrl: target.url, event: 'consent.withdrawn' });
    await stops(acme, 1);
    await stops(globex, 1);
    await dispatcher().runOnce();
    const [ofOther] = (await deliveriesOf(acme, `/v1/hooks/${other.id}/deliveries`)).data;
    const [ofGlobex] = (await deliveriesOf(globex, `/v1/hooks/${foreign.id}/deliveries`)).data;
    for (const cursor of ['01UNKNOWN', ofOther?.id, ofGlobex?.id]) {
      const response = await t.as(acme, { method: 'GET', url: `/v1/hooks/${hook.id}/deliveries?cursor=${cursor}` });
      expectProblem(response, 422, 'VALIDATION_FAILED');
      expect(problemPaths(response)).toEqual(['cursor']);
      expect(response.json().errors[0].message).toContain('nextCursor');
    }
    const outbound = await t.as(acme, { method: 'GET', url: `/v1/settings/outbound-webhook/deliveries?cursor=${ofOther?.id}` });
    expectProblem(outbound, 422, 'VALIDATION_FAILED');
    expect(problemPaths(outbound)).toEqual(['cursor']);
    const empty = await t.as(acme, { method: 'GET', url: `/v1/hooks/${hook.id}/deliveries?cursor=` });
    expectProblem(empty, 422, 'VALIDATION_FAILED');
    expect(problemPaths(empty)).toEqual(['cursor']);
  });
});

describe('POST /v1/hooks/{id}/deliveries/{deliveryId}/retry', () => {
  /** A hook whose one delivery the target refused with 400, so it is a dead letter. */
  async function deadLetter(): Promise<{ hookId: string; deliveryId: string }> {
    target.answer = () => ({ kind: 'status', status: 400, body: 'unknown field' });
    const hook = await subscribe(acme, { targetUrl: target.url, event: 'consent.withdrawn' });
    await stops(acme, 1);
    expect(await dispatcher().runOnce()).toMatchObject({ dead: 1 });
    const [row] = (await deliveriesOf(acme, `/v1/hooks/${hook.id}/deliveries`)).data;
    expect(row?.status).toBe('dead');
    return { hookId: hook.id, deliveryId: row?.id ?? '' };
  }

  it('puts a dead letter back to pending, due now, and the dispatcher sends it', async () => {
    const { hookId, deliveryId } = await deadLetter();
    const [before] = (await deliveriesOf(acme, `/v1/hooks/${hookId}/deliveries`)).data;
    target.answer = () => ({ kind: 'status', status: 200 });
    t.clock.advance(5 * 24 * 60 * 60 * 1000);
    const now = t.clock.now().toISOString();

    const response = await t.as(acme, { method: 'POST', url: `/v1/hooks/${hookId}/deliveries/${deliveryId}/retry` });
    expect(response.statusCode, response.body).toBe(202);
    // The refusal stays shown until the next attempt; attempts start again.
    expect(parsed(response, DeliverySchema)).toEqual({
      ...before,
      status: 'pending',
      attempts: 0,
      lastError: 'HTTP 400 (refused, not retried): unknown field',
      lastStatusCode: 400,
      nextAttemptAt: now,
      updatedAt: now,
      resentAt: now,
    });
    expect((await deliveriesOf(acme, `/v1/hooks/${hookId}/deliveries?status=pending`)).data.map((row) => row.id)).toEqual([deliveryId]);

    expect(await dispatcher().runOnce()).toMatchObject({ attempted: 1, delivered: 1 });
    const [after] = (await deliveriesOf(acme, `/v1/hooks/${hookId}/deliveries`)).data;
    expect(after).toMatchObject({ id: deliveryId, status: 'delivered', attempts: 1, lastError: null, lastStatusCode: 200, deliveredAt: now, resentAt: now });
    expect(target.received.map((r) => r.headers['x-consentry-event-id'])).toEqual([before?.eventId, before?.eventId]);
  });

  it('answers 409 naming the status of a delivery that is not dead, and changes nothing', async () => {
    let status = 200;
    target.answer = () => ({ kind: 'status', status });
    const hook = await subscribe(acme, { targetUrl: target.url, event: 'consent.withdrawn' });
    await stops(acme, 1);
    await dispatcher().runOnce();
    status = 503;
    await stops(acme, 1, 2);
    await dispatcher().runOnce();
    const rows = (await deliveriesOf(acme, `/v1/hooks/${hook.id}/deliveries`)).data;
    expect(rows.map((row) => row.status)).toEqual(['pending', 'delivered']);
    for (const row of rows) {
      const response = await t.as(acme, { method: 'POST', url: `/v1/hooks/${hook.id}/deliveries/${row.id}/retry` });
      const problem = expectProblem(response, 409, 'CONFLICT');
      expect(problem.detail).toBe(`deliveryId: delivery ${row.id} is ${row.status}, not dead: only a dead letter can be sent again`);
      expect(problemPaths(response)).toEqual(['deliveryId']);
    }
    expect((await deliveriesOf(acme, `/v1/hooks/${hook.id}/deliveries`)).data).toEqual(rows);
  });

  it("answers 404 for an unknown delivery, another hook's, another workspace's, and an unknown hook", async () => {
    const { hookId, deliveryId } = await deadLetter();
    const other = await subscribe(acme, { targetUrl: target.url, event: '*' });
    const cases: [Tenant, string, string][] = [
      [acme, `/v1/hooks/${hookId}/deliveries/01UNKNOWN/retry`, 'deliveryId'],
      [acme, `/v1/hooks/${other.id}/deliveries/${deliveryId}/retry`, 'deliveryId'],
      [acme, `/v1/hooks/01UNKNOWN/deliveries/${deliveryId}/retry`, 'id'],
      [globex, `/v1/hooks/${hookId}/deliveries/${deliveryId}/retry`, 'id'],
      [acme, `/v1/settings/outbound-webhook/deliveries/${deliveryId}/retry`, 'deliveryId'],
    ];
    for (const [tenant, url, path] of cases) {
      const response = await t.as(tenant, { method: 'POST', url });
      expectProblem(response, 404, 'NOT_FOUND');
      expect(problemPaths(response)).toEqual([path]);
    }
    expect((await deliveriesOf(acme, `/v1/hooks/${hookId}/deliveries`)).data[0]?.status).toBe('dead');
    expectProblem(await t.app.inject({ method: 'POST', url: `/v1/hooks/${hookId}/deliveries/${deliveryId}/retry` }), 401, 'UNAUTHORIZED');
    const withBody = await t.as(acme, { method: 'POST', url: `/v1/hooks/${hookId}/deliveries/${deliveryId}/retry`, payload: { force: true } });
    expectProblem(withBody, 422, 'VALIDATION_FAILED');
    expect(problemPaths(withBody)).toEqual(['force']);
  });

  it("answers 409 for a deleted hook's dead letters, one or all, which stay listed", async () => {
    const { hookId, deliveryId } = await deadLetter();
    expect((await t.as(acme, { method: 'DELETE', url: `/v1/hooks/${hookId}` })).statusCode).toBe(204);
    const one = await t.as(acme, { method: 'POST', url: `/v1/hooks/${hookId}/deliveries/${deliveryId}/retry` });
    expect(expectProblem(one, 409, 'CONFLICT').detail).toBe(
      `id: hook ${hookId} was deleted (unsubscribed), so it has no target to send deliveries to: subscribe again for new events`,
    );
    expect(problemPaths(one)).toEqual(['id']);
    const all = await t.as(acme, { method: 'POST', url: `/v1/hooks/${hookId}/deliveries/retry`, payload: { status: 'dead' } });
    expect(expectProblem(all, 409, 'CONFLICT').detail).toContain('was deleted');
    expect(problemPaths(all)).toEqual(['id']);
    expect((await deliveriesOf(acme, `/v1/hooks/${hookId}/deliveries?status=dead`)).data.map((row) => row.id)).toEqual([deliveryId]);
  });
});

describe('POST /v1/hooks/{id}/deliveries/retry', () => {
  it('sends every dead letter of the hook again and says how many', async () => {
    target.answer = () => ({ kind: 'status', status: 404 });
    const hook = await subscribe(acme, { targetUrl: target.url, event: 'consent.withdrawn' });
    const other = await subscribe(acme, { targetUrl: `${target.url}/other`, event: 'consent.withdrawn' });
    await stops(acme, 3);
    const d = dispatcher();
    while ((await d.runOnce()).attempted > 0);
    expect((await deliveriesOf(acme, `/v1/hooks/${hook.id}/deliveries?status=dead`)).data).toHaveLength(3);

    target.answer = () => ({ kind: 'status', status: 204 });
    t.clock.advance(60_000);
    const response = await t.as(acme, { method: 'POST', url: `/v1/hooks/${hook.id}/deliveries/retry`, payload: { status: 'dead' } });
    expect(response.statusCode, response.body).toBe(202);
    expect(parsed(response, RetriedSchema)).toEqual({ retried: 3, hasMore: false });
    const pending = (await deliveriesOf(acme, `/v1/hooks/${hook.id}/deliveries?status=pending`)).data;
    expect(pending).toHaveLength(3);
    for (const row of pending) expect(row).toMatchObject({ attempts: 0, resentAt: t.clock.now().toISOString(), lastStatusCode: 404 });
    // Only this hook's: the other one's dead letters stay.
    expect((await deliveriesOf(acme, `/v1/hooks/${other.id}/deliveries?status=dead`)).data).toHaveLength(3);
    expect(parsed(await t.as(acme, { method: 'POST', url: `/v1/hooks/${hook.id}/deliveries/retry`, payload: { status: 'dead' } }), RetriedSchema)).toEqual({
      retried: 0,
      hasMore: false,
    });

    while ((await d.runOnce()).attempted > 0);
    expect((await deliveriesOf(acme, `/v1/hooks/${hook.id}/deliveries?status=delivered`)).data).toHaveLength(3);
    expect(target.received).toHaveLength(9);
  });

  it('sends at most 10,000 per request, oldest event first, and says when more are left', async () => {
    const hook = await subscribe(acme, { targetUrl: target.url, event: 'consent.withdrawn' });
    const at = t.clock.now().toISOString();
    await t.store.transaction(async (tx) => {
      for (let n = 1; n <= 10_001; n += 1) {
        await tx.insertDelivery({
          id: `dl_${String(n).padStart(5, '0')}`,
          workspaceId: acme.workspaceId,
          hookId: hook.id,
          eventId: `evt_${String(n).padStart(5, '0')}`,
          eventPosition: n,
          contactId: null,
          status: 'dead',
          attempts: 1,
          nextAttemptAt: at,
          lastError: 'HTTP 400 (refused, not retried)',
          lastStatusCode: 400,
          deliveredAt: null,
          updatedAt: at,
          resentAt: null,
        });
      }
    });
    const retry = async () =>
      parsed(await t.as(acme, { method: 'POST', url: `/v1/hooks/${hook.id}/deliveries/retry`, payload: { status: 'dead' } }), RetriedSchema);
    expect(await retry()).toEqual({ retried: 10_000, hasMore: true });
    expect((await deliveriesOf(acme, `/v1/hooks/${hook.id}/deliveries?status=dead`)).data.map((row) => row.id)).toEqual(['dl_10001']);
    expect(await retry()).toEqual({ retried: 1, hasMore: false });
  });

  it('takes only { "status": "dead" }, naming the field otherwise', async () => {
    const hook = await subscribe(acme, { targetUrl: target.url, event: '*' });
    const url = `/v1/hooks/${hook.id}/deliveries/retry`;
    const cases: [Record<string, unknown>, string][] = [
      [{}, 'status'],
      [{ status: 'pending' }, 'status'],
      [{ status: 'dead', limit: 5 }, 'limit'],
    ];
    for (const [payload, path] of cases) {
      const response = await t.as(acme, { method: 'POST', url, payload });
      expectProblem(response, 422, 'VALIDATION_FAILED');
      expect(problemPaths(response)).toEqual([path]);
    }
    const pending = await t.as(acme, { method: 'POST', url, payload: { status: 'pending' } });
    expect(pending.json().errors[0].message).toBe('must be "dead": only dead letters can be sent again');
    const none = await t.as(acme, { method: 'POST', url });
    expectProblem(none, 422, 'VALIDATION_FAILED');
    expect(problemPaths(none)).toEqual(['body']);
    expectProblem(await t.as(globex, { method: 'POST', url, payload: { status: 'dead' } }), 404, 'NOT_FOUND');
    expectProblem(await t.app.inject({ method: 'POST', url, payload: { status: 'dead' } }), 401, 'UNAUTHORIZED');
  });
});

describe("retrying the outbound webhook's dead letters", () => {
  const url = '/v1/settings/outbound-webhook/deliveries';

  it('sends one again, or all of them, while the workspace has an outbound webhook URL', async () => {
    target.answer = () => ({ kind: 'status', status: 401 });
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookUrl: target.url } });
    await stops(acme, 2);
    const d = dispatcher();
    while ((await d.runOnce()).attempted > 0);
    const dead = (await deliveriesOf(acme, `${url}?status=dead`)).data;
    expect(dead).toHaveLength(2);
    const [newest, oldest] = dead;

    target.answer = () => ({ kind: 'status', status: 200 });
    const one = await t.as(acme, { method: 'POST', url: `${url}/${oldest?.id}/retry` });
    expect(one.statusCode, one.body).toBe(202);
    expect(parsed(one, DeliverySchema)).toMatchObject({ id: oldest?.id, status: 'pending', attempts: 0, lastStatusCode: 401, resentAt: t.clock.now().toISOString() });
    expectProblem(await t.as(acme, { method: 'POST', url: `${url}/${oldest?.id}/retry` }), 409, 'CONFLICT');
    expectProblem(await t.as(globex, { method: 'POST', url: `${url}/${newest?.id}/retry` }), 404, 'NOT_FOUND');
    const all = await t.as(acme, { method: 'POST', url: `${url}/retry`, payload: { status: 'dead' } });
    expect(parsed(all, RetriedSchema)).toEqual({ retried: 1, hasMore: false });
    while ((await d.runOnce()).attempted > 0);
    expect((await deliveriesOf(acme, `${url}?status=delivered`)).data.map((row) => row.id)).toEqual([newest?.id, oldest?.id]);
  });

  it('answers 409 once the URL is removed: there is nowhere to send them', async () => {
    target.answer = () => ({ kind: 'status', status: 400 });
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookUrl: target.url } });
    await stops(acme, 1);
    await dispatcher().runOnce();
    const [dead] = (await deliveriesOf(acme, `${url}?status=dead`)).data;
    expect(dead).toBeDefined();
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookUrl: null } });
    const one = await t.as(acme, { method: 'POST', url: `${url}/${dead?.id}/retry` });
    expect(expectProblem(one, 409, 'CONFLICT').detail).toContain('no outbound webhook URL');
    expect(problemPaths(one)).toEqual(['settings.outboundWebhookUrl']);
    expectProblem(await t.as(acme, { method: 'POST', url: `${url}/retry`, payload: { status: 'dead' } }), 409, 'CONFLICT');
    expect((await deliveriesOf(acme, `${url}?status=dead`)).data.map((row) => row.id)).toEqual([dead?.id]);
  });

  it('answers 409 for a reply whose contact was erased, and leaves it out of a retry of them all', async () => {
    target.answer = () => ({ kind: 'status', status: 400 });
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookUrl: target.url } });
    await stops(acme, 2);
    const d = dispatcher();
    while ((await d.runOnce()).attempted > 0);
    const [kept, erased] = (await deliveriesOf(acme, `${url}?status=dead`)).data;
    const gone = await t.as(acme, { method: 'DELETE', url: `/v1/contacts/${erased?.contactId}` });
    expect(gone.statusCode, gone.body).toBe(200);

    target.answer = () => ({ kind: 'status', status: 200 });
    const one = await t.as(acme, { method: 'POST', url: `${url}/${erased?.id}/retry` });
    expect(expectProblem(one, 409, 'CONFLICT').detail).toContain('the contact was erased');
    expect(problemPaths(one)).toEqual(['deliveryId']);
    const all = await t.as(acme, { method: 'POST', url: `${url}/retry`, payload: { status: 'dead' } });
    expect(parsed(all, RetriedSchema)).toEqual({ retried: 1, hasMore: false });
    while ((await d.runOnce()).attempted > 0);
    // Still listed, dead, as it was; the other contact's reply went out.
    const rows = (await deliveriesOf(acme, url)).data;
    expect(rows.map((row) => [row.id, row.status])).toEqual([
      [kept?.id, 'delivered'],
      [erased?.id, 'dead'],
    ]);
    expect(rows[1]).toEqual(erased);
    expect(target.received).toHaveLength(3);
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
      // The deadline, then the scheduler's grace for answers sent before it and delivered after.
      clock.advance(5 * 60 * 1000 + DEFAULT_TIMER_GRACE_MS);
      const deadline = Date.now() + 5000;
      while ((await failed()).length === 0 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
      expect((await failed()).map((e) => e.type)).toEqual(['consent.failed']);
    } finally {
      await server.close();
      await store.close();
    }
  });
});

describe('signing secret rotation', () => {
  const RotatedSchema = z.object({ secret: z.string(), previousSecretExpiresAt: z.string().nullable() }).strict();

  /** Which of the secrets verify the target's last request, and how many signatures it carried. */
  function signedWith(...secrets: string[]): { verified: boolean[]; signatures: number } {
    const request = target.received.at(-1);
    const signature = request?.headers['x-consentry-signature']?.toString();
    return {
      verified: secrets.map((secret) =>
        verifyDeliverySignature({ secret, body: request?.body ?? '', timestamp: request?.headers['x-consentry-timestamp']?.toString(), signature, now: t.clock.now() }),
      ),
      signatures: signature?.split(',').length ?? 0,
    };
  }

  /** A STOP from a contact of its own (a repeated STOP changes nothing and emits nothing), delivered. */
  async function deliverStop(messageId: string): Promise<void> {
    const phone = `+346000009${String(target.received.length).padStart(2, '0')}`;
    const sent = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message(messageId, 'STOP', phone) });
    expect(sent.statusCode).toBe(200);
    expect(await dispatcher().runOnce()).toMatchObject({ delivered: 1 });
  }

  it("signs a hook's deliveries with the new and the old secret for 24 hours, then with the new one only", async () => {
    const hook = await subscribe(acme, { targetUrl: target.url, event: 'consent.withdrawn' });
    const response = await t.as(acme, { method: 'POST', url: `/v1/hooks/${hook.id}/secret` });
    expect(response.statusCode).toBe(200);
    const rotated = parsed(response, RotatedSchema);
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(hook.secret);
    expect(rotated.previousSecretExpiresAt).toBe(new Date(t.clock.now().getTime() + 86_400_000).toISOString());

    await deliverStop('m1');
    expect(signedWith(rotated.secret, hook.secret)).toEqual({ verified: [true, true], signatures: 2 });

    t.clock.advance(86_400_000);
    await deliverStop('m2');
    expect(signedWith(rotated.secret, hook.secret)).toEqual({ verified: [true, false], signatures: 1 });
  });

  it('retires the old secret at once when asked, and keeps only the newest two after two rotations', async () => {
    const hook = await subscribe(acme, { targetUrl: target.url, event: 'consent.withdrawn' });
    const url = `/v1/hooks/${hook.id}/secret`;
    const first = parsed(await t.as(acme, { method: 'POST', url, payload: { previousSecretValidSeconds: 3600 } }), RotatedSchema);
    expect(first.previousSecretExpiresAt).toBe(new Date(t.clock.now().getTime() + 3_600_000).toISOString());
    const second = parsed(await t.as(acme, { method: 'POST', url, payload: {} }), RotatedSchema);
    await deliverStop('m1');
    expect(signedWith(second.secret, first.secret, hook.secret)).toEqual({ verified: [true, true, false], signatures: 2 });

    const leaked = parsed(await t.as(acme, { method: 'POST', url, payload: { previousSecretValidSeconds: 0 } }), RotatedSchema);
    expect(leaked.previousSecretExpiresAt).toBeNull();
    await deliverStop('m2');
    expect(signedWith(leaked.secret, second.secret)).toEqual({ verified: [true, false], signatures: 1 });
  });

  it('refuses a bad overlap, a deleted hook and a hook of another workspace', async () => {
    const hook = await subscribe(acme, { targetUrl: target.url, event: 'consent.withdrawn' });
    const url = `/v1/hooks/${hook.id}/secret`;
    for (const payload of [{ previousSecretValidSeconds: 604_801 }, { previousSecretValidSeconds: -1 }, { previousSecretValidSeconds: 1.5 }, { previousSecretValidSeconds: '60' }]) {
      const refused = await t.as(acme, { method: 'POST', url, payload });
      expectProblem(refused, 422, 'VALIDATION_FAILED');
      expect(problemPaths(refused)).toEqual(['previousSecretValidSeconds']);
    }
    expectProblem(await t.as(acme, { method: 'POST', url, payload: { overlap: 60 } }), 422, 'VALIDATION_FAILED');
    expectProblem(await t.as(globex, { method: 'POST', url }), 404, 'NOT_FOUND');
    expect((await t.as(acme, { method: 'DELETE', url: `/v1/hooks/${hook.id}` })).statusCode).toBe(204);
    expectProblem(await t.as(acme, { method: 'POST', url }), 409, 'CONFLICT');
  });

  it('rotates the outbound webhook secret with the same overlap, through its own route or a settings patch', async () => {
    const url = '/v1/settings/outbound-webhook/secret';
    expectProblem(await t.as(acme, { method: 'POST', url }), 409, 'CONFLICT');
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookUrl: target.url } });
    const original = await getOutboundWebhookSecret(t.store, acme.workspaceId);

    const rotated = parsed(await t.as(acme, { method: 'POST', url, payload: { previousSecretValidSeconds: 600 } }), RotatedSchema);
    expect(await getOutboundWebhookSecret(t.store, acme.workspaceId)).toBe(rotated.secret);
    await deliverStop('m1');
    expect(signedWith(rotated.secret, original)).toEqual({ verified: [true, true], signatures: 2 });

    const patched = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookSecret: null } });
    const renewed = z.object({ outboundWebhookSecret: z.string() }).parse(patched.json()).outboundWebhookSecret;
    expect(renewed).not.toBe(rotated.secret);
    t.clock.advance(601_000);
    await deliverStop('m2');
    expect(signedWith(renewed, rotated.secret, original)).toEqual({ verified: [true, true, false], signatures: 2 });
  });
});

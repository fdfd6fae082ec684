import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Bundle, createAppTester, type ZObject } from 'zapier-platform-core';
import { z } from 'zod';
import { FakeClock } from '../../src/ports/clock.js';
import { createApiKey, revokeApiKey, startServer } from '../../src/server/index.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { defaultWorkers } from '../../src/worker/index.js';
import checkPermission from '../src/searches/check_permission.js';
import findContact from '../src/searches/find_contact.js';
import findWorkflowRun from '../src/searches/find_workflow_run.js';
import createContact from '../src/creates/create_contact.js';
import recordConsent from '../src/creates/record_consent.js';
import requestConsent from '../src/creates/request_consent.js';
import sendInboundMessage from '../src/creates/send_inbound_message.js';
import tagContact from '../src/creates/tag_contact.js';
import untagContact from '../src/creates/untag_contact.js';
import app from '../src/index.js';
import consentFailed from '../src/triggers/consent_failed.js';
import consentGiven from '../src/triggers/consent_given.js';
import consentWithdrawn from '../src/triggers/consent_withdrawn.js';
import contactTagged from '../src/triggers/contact_tagged.js';
import optoutReviewNeeded from '../src/triggers/optout_review_needed.js';
import addableTagList from '../src/triggers/addable_tag_list.js';
import tagList from '../src/triggers/tag_list.js';
import { errorDetails, operationOf, rejection } from './helpers.js';

// End to end against a real Consentry server on 127.0.0.1 (no msw here: it would intercept the
// loopback calls).

type Operation = (z: ZObject, bundle: Bundle) => unknown;
const appTester = createAppTester(app);

interface Delivery {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A stand-in for hooks.zapier.com: records every POST and answers with the status set for its path. */
class HookTarget {
  readonly deliveries: Delivery[] = [];
  readonly statusByPath = new Map<string, number>();
  private waiters: { match: (d: Delivery) => boolean; resolve: (d: Delivery) => void }[] = [];
  private server: Server | null = null;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const delivery = { path: request.url ?? '/', headers: request.headers, body: Buffer.concat(chunks).toString('utf8') };
        this.deliveries.push(delivery);
        response.writeHead(this.statusByPath.get(delivery.path) ?? 200, { 'content-type': 'application/json' });
        response.end('{"status":"success"}');
        for (const waiter of this.waiters.filter((w) => w.match(delivery))) waiter.resolve(delivery);
        this.waiters = this.waiters.filter((w) => !w.match(delivery));
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const address = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${address.port}`;
  }

  /** The first delivery to `path` whose body satisfies `match`, waiting for it to arrive if needed. */
  next(path: string, match: (event: EventJson) => boolean = () => true, timeoutMs = 10_000): Promise<Delivery> {
    const accept = (d: Delivery) => {
      if (d.path !== path) return false;
      const event = EventJsonSchema.safeParse(safeJson(d.body));
      return event.success && match(event.data);
    };
    const already = this.deliveries.find(accept);
    if (already) return Promise.resolve(already);
    return new Promise<Delivery>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`no delivery to ${path} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        match: accept,
        resolve: (d) => {
          clearTimeout(deadline);
          resolve(d);
        },
      });
    });
  }

  to(path: string): Delivery[] {
    return this.deliveries.filter((d) => d.path === path);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

const EventJsonSchema = z.object({
  id: z.string(),
  type: z.string(),
  occurredAt: z.string(),
  contactId: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
});
type EventJson = z.infer<typeof EventJsonSchema>;
const parseEvent = (body: string): EventJson => EventJsonSchema.parse(JSON.parse(body));

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

const HookListSchema = z.object({ data: z.array(z.object({ id: z.string(), event: z.string(), targetUrl: z.string() })) });
const EventListSchema = z.object({ data: z.array(EventJsonSchema) });
const ContactSchema = z.object({ id: z.string(), email: z.string().nullable(), phone: z.string().nullable(), tags: z.array(z.string()) });
const ContactListSchema = z.object({ data: z.array(ContactSchema) });
const ConsentsSchema = z.object({
  data: z.array(z.object({ purpose: z.string(), channel: z.string(), status: z.string(), legalBasis: z.string().nullable(), source: z.string() })),
});
const InboundSchema = z.object({ contactId: z.string(), replies: z.array(z.object({ text: z.string() })) });
const SubscribeDataSchema = z.object({ id: z.string() });
/** What performSubscribe returns and Zapier hands back to perform and performUnsubscribe. */
const SubscriptionSchema = z.object({ id: z.string(), secret: z.string(), expiration_date: z.iso.datetime() }).loose();
/** The same, from a server that issues an id for each subscription. */
const RenewableSubscriptionSchema = SubscriptionSchema.extend({ subscriptionId: z.string() });
const ItemsSchema = z.array(z.record(z.string(), z.unknown()));
const ItemSchema = z.record(z.string(), z.unknown());

let server: Awaited<ReturnType<typeof startServer>>;
const store = createMemoryStore();
const clock = new FakeClock('2026-03-01T09:00:00.000Z');
const target = new HookTarget();
let authData: { serverUrl: string; apiKey: string };
let workspace = { workspaceId: '', key: '' };
let sequence = 0;
let messageCount = 0;

beforeAll(async () => {
  server = await startServer({
    store,
    clock,
    host: '127.0.0.1',
    port: 0,
    logger: false,
    dispatchIntervalMs: 20,
    // The stand-in for hooks.zapier.com listens on 127.0.0.1.
    allowPrivateTargets: true,
    // Hook delivery and workflow timers run beside the routes, as in production.
    workers: (deps) => defaultWorkers(deps),
    // Each inbound message moves the fake clock a minute on; a lease lasting a day stays in force
    // between renewals, so the dispatcher delivers at once instead of at the next renewal.
    workerLease: { ttlMs: 24 * 60 * 60 * 1000 },
  });
  await target.start();
});

afterAll(async () => {
  await server?.close();
  await target.stop();
});

// A workspace per test: its hooks and events are its own, so tests cannot see each other's.
beforeEach(async () => {
  sequence += 1;
  workspace = await server.createWorkspaceWithKey(`Ana Test Shop ${sequence}`);
  authData = { serverUrl: server.url, apiKey: workspace.key };
  // The privacy workflow sends this link; the server refuses to start it without one.
  await api('/v1/settings', { method: 'PATCH', body: { privacyPolicyUrl: 'https://example.com/privacy' } });
});

afterEach(() => {
  target.statusByPath.clear();
});

function run(operation: unknown, bundle: Record<string, unknown> = {}): Promise<unknown> {
  if (typeof operation !== 'function') throw new Error('not an operation function');
  return appTester(operation as Operation, { authData, ...bundle });
}

async function api(path: string, init: { method?: string; body?: unknown } = {}): Promise<unknown> {
  const response = await fetch(`${server.url}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${workspace.key}`, 'content-type': 'application/json' },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  if (!response.ok) throw new Error(`${init.method ?? 'GET'} ${path} answered ${response.status}: ${await response.text()}`);
  return response.status === 204 ? null : response.json();
}

/** An inbound message as a channel webhook posts it; the clock moves so events get distinct times. */
async function inbound(phone: string, text: string): Promise<z.infer<typeof InboundSchema>> {
  clock.advance(60_000);
  messageCount += 1;
  const message = { channel: 'whatsapp', messageId: `wamid.e2e.${messageCount}`, from: { id: phone, phone }, text };
  return InboundSchema.parse(await api('/v1/messages', { method: 'POST', body: message }));
}

async function hookIds(): Promise<string[]> {
  return HookListSchema.parse(await api('/v1/hooks')).data.map((hook) => hook.id);
}

async function subscribe(trigger: { operation: object }, path: string, inputData: Record<string, unknown> = {}): Promise<string> {
  const subscribeData = SubscribeDataSchema.parse(await run(operationOf(trigger).performSubscribe, { targetUrl: `${target.url}${path}`, inputData }));
  return subscribeData.id;
}

/** The delivery as Zapier hands it to a hook's perform: the parsed body, and the raw body with the headers as `Http-X-...`. */
function zapierRequest(delivery: Delivery) {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(delivery.headers)) {
    if (typeof value !== 'string') continue;
    headers[`Http-${name.split('-').map((part) => part.charAt(0).toUpperCase() + part.slice(1)).join('-')}`] = value;
  }
  return { cleanedRequest: JSON.parse(delivery.body), rawRequest: { method: 'POST', querystring: '', headers, content: delivery.body } };
}

/** Runs `work` with Zapier's clock at the server's (fake) time, as when perform runs on a delivery that just arrived. */
async function atServerTime<T>(work: () => Promise<T>): Promise<T> {
  vi.useFakeTimers({ toFake: ['Date'], now: clock.now() });
  try {
    return await work();
  } finally {
    vi.useRealTimers();
  }
}

/**
 * The server's dispatcher runs on its own interval (dispatchIntervalMs), so an outcome of a
 * delivery shows up shortly after it; this re-checks within a bounded time instead of sleeping blind.
 */
async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('connection', () => {
  it('tests the key with GET /v1/me and labels the connection with the workspace name and the server’s host', async () => {
    const me = await run(app.authentication?.test);
    expect(me).toEqual({ id: workspace.workspaceId, name: `Ana Test Shop ${sequence}` });
    expect(await run(app.authentication?.connectionLabel, { inputData: me })).toBe(`Ana Test Shop ${sequence} (${new URL(server.url).host})`);
  });

  it('reports a wrong key as an expired connection', async () => {
    const error = await rejection(run(app.authentication?.test, { authData: { serverUrl: server.url, apiKey: 'ck_wrong' } }));
    expect(error.name).toBe('ExpiredAuthError');
    expect(error.message).toContain('Consentry rejected the API key');
  });
});

describe('instant triggers', () => {
  it('consent_given: subscribe, START is delivered to the hook, perform checks and reads it, unsubscribe removes the hook', async () => {
    const subscription = SubscriptionSchema.parse(await run(operationOf(consentGiven).performSubscribe, { targetUrl: `${target.url}/given` }));
    const hookId = subscription.id;
    const controlId = await subscribe(consentGiven, '/given-control');
    expect(await hookIds()).toEqual(expect.arrayContaining([hookId, controlId]));

    const message = await inbound('+34600000001', 'START');
    const delivery = await target.next('/given');
    expect(delivery.headers['x-consentry-event-type']).toBe('consent.given');
    expect(delivery.headers['x-consentry-signature']).toMatch(/^v1=[0-9a-f]{64}$/);

    const perform = operationOf(consentGiven).perform;
    const items = ItemsSchema.parse(await atServerTime(() => run(perform, { subscribeData: subscription, ...zapierRequest(delivery) })));
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({
      id: delivery.headers['x-consentry-event-id'],
      type: 'consent.given',
      contactId: message.contactId,
      contactPhone: '+34600000001',
      contactEmail: null,
      contactName: null,
      purpose: 'marketing',
      channel: 'whatsapp',
      status: 'opted_in',
      legalBasis: 'CONSENT_WITH_NOTICE',
      legalBasisLabel: 'Freely given consent from contact',
      contactDetailsMissing: false,
    });
    // The server's signature covers the body: one changed on the way is not an event for this Zap.
    const changed = zapierRequest(delivery);
    changed.rawRequest.content = delivery.body.replace('"opted_in"', '"opted_out"');
    expect(await atServerTime(() => run(perform, { subscribeData: subscription, ...changed }))).toEqual([]);

    expect(await run(operationOf(consentGiven).performUnsubscribe, { subscribeData: subscription })).toEqual({ id: hookId, deleted: true });
    expect(await hookIds()).not.toContain(hookId);

    // The control hook still hears a new opt-in; the removed one does not.
    const before = target.to('/given').length;
    await inbound('+34600000002', 'START');
    await target.next('/given-control', (event) => event.contactId !== message.contactId);
    expect(target.to('/given')).toHaveLength(before);
  });

  it('consent_withdrawn: STOP is delivered and read as an opt-out', async () => {
    await subscribe(consentWithdrawn, '/withdrawn');
    const message = await inbound('+34600000003', 'STOP');
    const delivery = await target.next('/withdrawn');
    const items = ItemsSchema.parse(await run(operationOf(consentWithdrawn).perform, { cleanedRequest: JSON.parse(delivery.body) }));
    expect(items[0]).toMatchObject({ type: 'consent.withdrawn', contactId: message.contactId, status: 'opted_out', channel: 'whatsapp' });
  });

  it('consent_withdrawn filtered on WhatsApp hears a STOP ALL (channel any), in perform and performList', async () => {
    const inputData = { channel: 'whatsapp' };
    await subscribe(consentWithdrawn, '/withdrawn-whatsapp', inputData);
    const message = await inbound('+34600000008', 'STOP ALL');
    const delivery = await target.next('/withdrawn-whatsapp');
    expect(parseEvent(delivery.body).data.channel).toBe('any');

    const items = ItemsSchema.parse(await run(operationOf(consentWithdrawn).perform, { inputData, cleanedRequest: JSON.parse(delivery.body) }));
    expect(items).toMatchObject([{ type: 'consent.withdrawn', contactId: message.contactId, channel: 'any', status: 'opted_out' }]);
    const listed = ItemsSchema.parse(await run(operationOf(consentWithdrawn).performList, { inputData, meta: { isLoadingSample: true } }));
    expect(listed).toMatchObject([{ id: delivery.headers['x-consentry-event-id'], channel: 'any' }]);
    // A filter on another channel still hears nothing of a WhatsApp-only opt-out.
    await inbound('+34600000009', 'STOP');
    const smsOnly = ItemsSchema.parse(await run(operationOf(consentWithdrawn).performList, { inputData: { channel: 'sms' } }));
    expect(smsOnly.map((item) => item.channel)).toEqual(['any']);
  });

  it('after a key rotation, the resubscription Zapier makes with the new key brings deliveries back; renewing creates nothing', async () => {
    const targetUrl = `${target.url}/rotation`;
    const { performSubscribe, performUnsubscribe, perform } = operationOf(consentWithdrawn);
    const keyA = await createApiKey(store, { workspaceId: workspace.workspaceId, clock });
    const withKeyA = { serverUrl: server.url, apiKey: keyA.key };
    const first = SubscriptionSchema.parse(await run(performSubscribe, { authData: withKeyA, targetUrl }));

    // The administrator creates key B, puts it in the connection and revokes key A: the server deletes A's hook.
    const keyB = await createApiKey(store, { workspaceId: workspace.workspaceId, clock });
    const withKeyB = { serverUrl: server.url, apiKey: keyB.key };
    expect(await revokeApiKey(store, keyA.row.id, clock)).toMatchObject({ hooksRemoved: 1 });
    expect(await hookIds()).not.toContain(first.id);
    // Turning the Zap off with the revoked key is no error: the hook is gone already.
    expect(await run(performUnsubscribe, { authData: withKeyA, subscribeData: first })).toEqual({ id: first.id, deleted: true });

    // After expiration_date Zapier subscribes again, with the connection's key by then; later renewals answer the same hook.
    const renewed = SubscriptionSchema.parse(await run(performSubscribe, { authData: withKeyB, targetUrl }));
    expect(renewed.id).not.toBe(first.id);
    const renewedAgain = SubscriptionSchema.parse(await run(performSubscribe, { authData: withKeyB, targetUrl }));
    expect(renewedAgain).toMatchObject({ id: renewed.id, secret: renewed.secret });
    const hooks = HookListSchema.parse(await api('/v1/hooks')).data;
    expect(hooks.filter((hook) => hook.targetUrl === targetUrl).map((hook) => hook.id)).toEqual([renewed.id]);

    const message = await inbound('+34600000019', 'STOP');
    const delivery = await target.next('/rotation');
    const items = ItemsSchema.parse(await atServerTime(() => run(perform, { authData: withKeyB, subscribeData: renewedAgain, ...zapierRequest(delivery) })));
    expect(items).toMatchObject([{ contactId: message.contactId, status: 'opted_out', contactPhone: '+34600000019', contactDetailsMissing: false }]);
  });

  it('a renewal followed by the unsubscribe of the subscription it renewed keeps the hook; unsubscribing the renewal removes it', async () => {
    const targetUrl = `${target.url}/renewal`;
    const { performSubscribe, performUnsubscribe, perform } = operationOf(consentWithdrawn);
    const first = RenewableSubscriptionSchema.parse(await run(performSubscribe, { targetUrl }));
    const controlId = await subscribe(consentWithdrawn, '/renewal-control');

    // After expiration_date Zapier subscribes again: the same hook, under a new subscription.
    const renewed = RenewableSubscriptionSchema.parse(await run(performSubscribe, { targetUrl }));
    expect(renewed).toMatchObject({ id: first.id, secret: first.secret });
    expect(renewed.subscriptionId).not.toBe(first.subscriptionId);
    // If Zapier then unsubscribes the subscription it renewed, the renewed one still hears every event.
    expect(await run(performUnsubscribe, { subscribeData: first })).toEqual({ id: first.id, deleted: true });
    expect(await hookIds()).toEqual(expect.arrayContaining([first.id, controlId]));
    const message = await inbound('+34600000020', 'STOP');
    const delivery = await target.next('/renewal');
    const items = ItemsSchema.parse(await atServerTime(() => run(perform, { subscribeData: renewed, ...zapierRequest(delivery) })));
    expect(items).toMatchObject([{ contactId: message.contactId, status: 'opted_out', contactPhone: '+34600000020' }]);

    // Turning the Zap off unsubscribes the renewal: the hook goes, and later events do not reach its URL.
    expect(await run(performUnsubscribe, { subscribeData: renewed })).toEqual({ id: first.id, deleted: true });
    expect(await hookIds()).toEqual([controlId]);
    const before = target.to('/renewal').length;
    const later = await inbound('+34600000021', 'STOP');
    await target.next('/renewal-control', (event) => event.contactId === later.contactId);
    expect(target.to('/renewal')).toHaveLength(before);
  });

  it('the expired subscription unsubscribed before Zapier subscribes again ends the hook, and the new subscription gets a hook of its own', async () => {
    const targetUrl = `${target.url}/resubscribed`;
    const { performSubscribe, performUnsubscribe, perform } = operationOf(consentWithdrawn);
    const first = RenewableSubscriptionSchema.parse(await run(performSubscribe, { targetUrl }));
    expect(await run(performUnsubscribe, { subscribeData: first })).toEqual({ id: first.id, deleted: true });
    expect(await hookIds()).toEqual([]);

    const again = RenewableSubscriptionSchema.parse(await run(performSubscribe, { targetUrl }));
    expect(again.id).not.toBe(first.id);
    expect(again.secret).not.toBe(first.secret);
    const message = await inbound('+34600000022', 'STOP');
    const delivery = await target.next('/resubscribed');
    const items = ItemsSchema.parse(await atServerTime(() => run(perform, { subscribeData: again, ...zapierRequest(delivery) })));
    expect(items).toMatchObject([{ contactId: message.contactId, status: 'opted_out' }]);

    // subscribeData of a Zap subscribed before subscription ids were issued unsubscribes as before: the hook goes.
    expect(await run(performUnsubscribe, { subscribeData: { id: again.id, secret: again.secret } })).toEqual({ id: again.id, deleted: true });
    expect(await hookIds()).toEqual([]);
  });

  it('a 410 from the target URL deletes the hook on the server', async () => {
    target.statusByPath.set('/gone', 410);
    const hookId = await subscribe(consentGiven, '/gone');
    expect(await hookIds()).toContain(hookId);
    await inbound('+34600000004', 'START');
    await target.next('/gone');
    await eventually(async () => !(await hookIds()).includes(hookId));
  });

  it('performList returns the real recent events, newest first', async () => {
    const first = await inbound('+34600000005', 'START');
    const second = await inbound('+34600000006', 'START');
    await inbound('+34600000005', 'STOP');
    const items = ItemsSchema.parse(await run(operationOf(consentGiven).performList, { meta: { limit: 10 } }));
    expect(items.map((item) => item.contactId)).toEqual([second.contactId, first.contactId]);
    const stored = EventListSchema.parse(await api('/v1/events?type=consent.given&limit=10')).data;
    expect(items.map((item) => item.id)).toEqual(stored.map((event) => event.id));
    const withdrawn = ItemsSchema.parse(await run(operationOf(consentWithdrawn).performList, { meta: { limit: 10 } }));
    expect(withdrawn).toMatchObject([{ contactId: first.contactId, status: 'opted_out' }]);
  });

  it('contact_tagged: only the chosen tag reaches the hook; tag_list offers the tags', async () => {
    await subscribe(contactTagged, '/vip', { tag: 'VIP' });
    const tagged = ItemSchema.parse(await run(tagContact.operation.perform, { inputData: { email: 'ana.test@example.com', tag: 'Newsletter' } }));
    await run(tagContact.operation.perform, { inputData: { contactId: tagged.id, tag: 'VIP' } });
    const delivery = await target.next('/vip');
    const items = ItemsSchema.parse(await run(operationOf(contactTagged).perform, { inputData: { tag: 'VIP' }, cleanedRequest: JSON.parse(delivery.body) }));
    expect(items).toMatchObject([{ type: 'contact.tagged', contactId: tagged.id, tag: 'VIP' }]);
    expect(target.to('/vip').map((d) => parseEvent(d.body).data.tag)).toEqual(['VIP']);

    const listed = ItemsSchema.parse(await run(operationOf(contactTagged).performList, { inputData: { tag: 'VIP' } }));
    expect(listed).toMatchObject([{ tag: 'VIP', contactId: tagged.id }]);
    expect(await run(operationOf(tagList).perform)).toEqual(
      expect.arrayContaining([
        { id: 'Newsletter', name: 'Newsletter' },
        { id: 'VIP', name: 'VIP' },
      ]),
    );
  });

  it('optout_review_needed: a plain-language opt-out is delivered for review', async () => {
    await subscribe(optoutReviewNeeded, '/review');
    const message = await inbound('+34600000007', 'please stop texting me');
    const delivery = await target.next('/review');
    const items = ItemsSchema.parse(await run(operationOf(optoutReviewNeeded).perform, { cleanedRequest: JSON.parse(delivery.body) }));
    expect(items[0]).toMatchObject({ type: 'optout.review_needed', contactId: message.contactId, text: 'please stop texting me' });
    // The sample shows the same message as a live item shows it, so a filter built from it matches.
    const sample = ItemSchema.parse(optoutReviewNeeded.operation.sample);
    expect(items[0]).toMatchObject({ text: sample.text, normalized: sample.normalized, matchedWord: sample.matchedWord });
  });

  it('consent_failed: four invalid answers to the privacy request fail it', async () => {
    await subscribe(consentFailed, '/failed');
    const started = ItemSchema.parse(await run(requestConsent.operation.perform, { inputData: { phone: '+34600000008', channel: 'whatsapp' } }));
    expect(started.runId).toEqual(expect.any(String));
    for (let answer = 0; answer < 4; answer += 1) await inbound('+34600000008', 'maybe later');
    const delivery = await target.next('/failed');
    const items = ItemsSchema.parse(await run(operationOf(consentFailed).perform, { cleanedRequest: JSON.parse(delivery.body) }));
    expect(items[0]).toMatchObject({ type: 'consent.failed', contactId: started.contactId, reason: 'invalid', channel: 'whatsapp' });
    expect(items[0]?.attempts).toEqual(expect.any(Number));
    const listed = ItemsSchema.parse(await run(operationOf(consentFailed).performList));
    expect(listed.map((item) => item.id)).toEqual([items[0]?.id]);
  });
});

describe('actions and searches', () => {
  it('create_contact, find_contact and record_consent change what the server reports', async () => {
    const created = ItemSchema.parse(
      await run(createContact.operation.perform, { inputData: { name: 'Ana Test', email: 'ana.test@example.com', phone: '+34600000009', tags: 'Lead' } }),
    );
    const listed = ContactListSchema.parse(await api('/v1/contacts?email=ana.test%40example.com')).data;
    expect(listed).toMatchObject([{ id: created.id, tags: ['Lead'] }]);

    const found = ItemsSchema.parse(await run(findContact.operation.perform, { inputData: { email: 'ana.test@example.com' } }));
    expect(found).toMatchObject([{ id: created.id, consents: [] }]);

    const recorded = ItemSchema.parse(
      await run(recordConsent.operation.perform, {
        inputData: {
          email: 'ana.test@example.com',
          channel: 'email',
          status: 'opted_in',
          legalBasis: 'LEGITIMATE_INTEREST_CLIENT',
          explanation: 'Ticked the newsletter box on the checkout form',
        },
      }),
    );
    expect(recorded).toMatchObject({ contactId: created.id, status: 'opted_in', legalBasisLabel: 'Legitimate interest – existing customer' });
    const consents = ConsentsSchema.parse(await api(`/v1/contacts/${String(created.id)}/consents`)).data;
    expect(consents).toMatchObject([
      { purpose: 'marketing', channel: 'email', status: 'opted_in', legalBasis: 'LEGITIMATE_INTEREST_CLIENT', source: 'zapier' },
    ]);

    const refound = ItemsSchema.parse(await run(findContact.operation.perform, { inputData: { phone: '+34600000009' } }));
    expect(refound[0]?.consentStatus).toEqual({
      marketing_email: 'opted_in',
      marketing_whatsapp: 'not_specified',
      marketing_sms: 'not_specified',
      marketing_messenger: 'not_specified',
      marketing_telegram: 'not_specified',
      marketing_webchat: 'not_specified',
      marketing_any: 'not_specified',
    });
  });

  it('record_consent refuses an opt-in without explanation and the server keeps nothing', async () => {
    const error = await rejection(
      run(recordConsent.operation.perform, {
        inputData: { email: 'ana.test@example.com', channel: 'sms', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE' },
      }),
    );
    expect(errorDetails(error).message).toContain('explanation: required for an opt-in');
    expect(ContactListSchema.parse(await api('/v1/contacts?email=ana.test%40example.com')).data).toEqual([]);
  });

  it('record_consent refuses a purpose the workspace does not know as the server does, and makes no contact', async () => {
    await api('/v1/settings', { method: 'PATCH', body: { purposes: ['surveys', 'loyalty-club'] } });
    const existing = ItemSchema.parse(await run(createContact.operation.perform, { inputData: { email: 'yan1@example.com' } }));
    const decision = { channel: 'email', purpose: 'newsletter', status: 'opted_out' };
    const server = errorDetails(await rejection(run(recordConsent.operation.perform, { inputData: { ...decision, contactId: String(existing.id) } })));
    expect(server).toMatchObject({ name: 'AppError', code: 'VALIDATION_FAILED', status: 422 });
    expect(server.message).toMatch(/^purpose: unknown purpose "newsletter": this workspace knows privacy, marketing, surveys, loyalty-club/);
    const zap = errorDetails(await rejection(run(recordConsent.operation.perform, { inputData: { ...decision, email: 'yan2@example.com' } })));
    expect(zap).toEqual(server);
    expect(ContactListSchema.parse(await api('/v1/contacts?email=yan2%40example.com')).data).toEqual([]);
    // A purpose of the workspace's own still creates the contact and records the decision.
    const recorded = ItemSchema.parse(await run(recordConsent.operation.perform, { inputData: { ...decision, purpose: 'loyalty-club', email: 'yan2@example.com' } }));
    expect(recorded).toMatchObject({ purpose: 'loyalty-club', status: 'opted_out', contactEmail: 'yan2@example.com' });
  });

  it('record_consent refuses a decision time the server would refuse before it makes a contact', async () => {
    const existing = ItemSchema.parse(await run(createContact.operation.perform, { inputData: { email: 'yan3@example.com' } }));
    for (const occurredAt of ['1969-12-31T23:59:59Z', '2999-01-01T00:00:00Z']) {
      const decision = { channel: 'email', status: 'opted_out', occurredAt };
      // Zapier's clock at the server's (fake) time, as both read it for "later than the time of recording".
      const record = (inputData: Record<string, unknown>) => atServerTime(() => run(recordConsent.operation.perform, { inputData: { ...decision, ...inputData } }));
      const server = errorDetails(await rejection(record({ contactId: String(existing.id) })));
      expect(server, occurredAt).toMatchObject({ name: 'AppError', code: 'VALIDATION_FAILED', status: 422 });
      const zap = errorDetails(await rejection(record({ email: 'yan4@example.com' })));
      expect(zap, occurredAt).toEqual(server);
    }
    expect(ContactListSchema.parse(await api('/v1/contacts?email=yan4%40example.com')).data).toEqual([]);
  });

  it('items of every trigger carry the contact’s name, email and phone, in performList too', async () => {
    await run(createContact.operation.perform, { inputData: { name: 'Ana Test', email: 'ana.test@example.com', phone: '+34600000014' } });
    await run(recordConsent.operation.perform, {
      inputData: { email: 'ana.test@example.com', channel: 'email', status: 'opted_out' },
    });
    const listed = ItemsSchema.parse(await run(operationOf(consentWithdrawn).performList, { meta: { limit: 5 } }));
    expect(listed).toMatchObject([{ channel: 'email', contactName: 'Ana Test', contactEmail: 'ana.test@example.com', contactPhone: '+34600000014' }]);
  });

  it('find_contact reports a channel opted out after STOP ALL, though its own row records the opt-in', async () => {
    const started = await inbound('+34600000015', 'START');
    await inbound('+34600000015', 'STOP ALL');
    const found = ItemsSchema.parse(await run(findContact.operation.perform, { inputData: { contactId: started.contactId } }));
    // STOP ALL governs every channel, those without a row of their own too.
    expect(found[0]?.consentStatus).toEqual({
      marketing_whatsapp: 'opted_out',
      marketing_sms: 'opted_out',
      marketing_email: 'opted_out',
      marketing_messenger: 'opted_out',
      marketing_telegram: 'opted_out',
      marketing_webchat: 'opted_out',
      marketing_any: 'opted_out',
    });
    expect(found[0]?.consents).toEqual(
      expect.arrayContaining([expect.objectContaining({ channel: 'whatsapp', status: 'opted_in', effectiveStatus: 'opted_out' })]),
    );
    const permission = await run(checkPermission.operation.perform, { inputData: { contactId: started.contactId, channel: 'whatsapp' } });
    expect(permission).toMatchObject([{ allowed: false, reason: 'opted_out' }]);
  });

  it('check_permission follows opt-ins and opt-outs, and finds nothing for an unknown contact', async () => {
    const input = { phone: '+34600000010', channel: 'sms', purpose: 'marketing' };
    const base = { phone: input.phone, channel: 'sms', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Opted in at the till' };
    await run(recordConsent.operation.perform, { inputData: { ...base, status: 'opted_in' } });
    expect(await run(checkPermission.operation.perform, { inputData: input })).toMatchObject([{ allowed: true, reason: 'opted_in' }]);
    await run(recordConsent.operation.perform, { inputData: { ...base, status: 'opted_out' } });
    expect(await run(checkPermission.operation.perform, { inputData: input })).toMatchObject([{ allowed: false, reason: 'opted_out' }]);
    expect(await run(checkPermission.operation.perform, { inputData: { contactId: '01JQ0000000000000000000000', channel: 'sms' } })).toEqual([]);
    expect(await run(findContact.operation.perform, { inputData: { email: 'nobody@example.com' } })).toEqual([]);
    expect(await run(checkPermission.operation.perform, { inputData: { email: 'new.lead@example.com', channel: 'email' } })).toMatchObject([
      { contactId: '', allowed: false, reason: 'not_specified' },
    ]);
  });

  it('tag_contact and untag_contact change the contact’s tags', async () => {
    const tagged = ItemSchema.parse(await run(tagContact.operation.perform, { inputData: { phone: '+34600000011', tag: 'VIP' } }));
    const id = String(tagged.id);
    expect(ContactSchema.parse(await api(`/v1/contacts/${id}`)).tags).toEqual(['VIP']);
    const untagged = ItemSchema.parse(await run(untagContact.operation.perform, { inputData: { contactId: id, tag: 'vip' } }));
    expect(untagged.tags).toEqual([]);
    expect(ContactSchema.parse(await api(`/v1/contacts/${id}`)).tags).toEqual([]);
    const missing = await rejection(run(untagContact.operation.perform, { inputData: { email: 'nobody@example.com', tag: 'VIP' } }));
    expect(errorDetails(missing).message).toContain('Not found');
  });

  it('tag_contact fails with the server’s words when it adds Consent: Privacy without a privacy opt-in', async () => {
    const existing = ItemSchema.parse(await run(tagContact.operation.perform, { inputData: { phone: '+34600000023', tag: 'VIP' } }));
    const error = await rejection(run(tagContact.operation.perform, { inputData: { contactId: String(existing.id), tag: 'CONSENT: PRIVACY' } }));
    expect(errorDetails(error)).toMatchObject({ name: 'AppError', code: 'TAG_NEEDS_CONSENT', status: 422 });
    expect(errorDetails(error).message).toMatch(/^tag "CONSENT: PRIVACY" is Consent: Privacy, which follows the contact's privacy decision/);
    expect(errorDetails(error).message).toContain('/consents/privacy/{channel}, which adds the tag');
  });

  it('tag_contact makes no contact for Consent: Privacy when no contact has the details', async () => {
    const error = await rejection(run(tagContact.operation.perform, { inputData: { phone: '+34600000024', tag: 'Consent: Privacy' } }));
    expect(errorDetails(error)).toMatchObject({ name: 'AppError', code: 'TAG_NEEDS_CONSENT', status: 422 });
    expect(await run(findContact.operation.perform, { inputData: { phone: '+34600000024' } })).toEqual([]);
  });

  it('tag_contact refuses a tag with a control character in the server’s words, for a new contact as for one that exists', async () => {
    const existing = ItemSchema.parse(await run(tagContact.operation.perform, { inputData: { phone: '+34600000025', tag: 'VIP' } }));
    const server = await fetch(`${authData.serverUrl}/v1/contacts/${String(existing.id)}/tags`, {
      method: 'POST',
      headers: { authorization: `Bearer ${workspace.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tag: 'Consent:\tPrivacy' }),
    });
    const serverWords = z.object({ errors: z.array(z.object({ path: z.string(), message: z.string() })) }).parse(await server.json()).errors;
    expect(serverWords).toEqual([{ path: 'tag', message: 'tag contains U+0009, a control character' }]);
    for (const selector of [{ contactId: String(existing.id) }, { phone: '+34600000026' }]) {
      const error = await rejection(run(tagContact.operation.perform, { inputData: { ...selector, tag: 'Consent:\tPrivacy' } }));
      expect(errorDetails(error)).toMatchObject({ code: 'INVALID_INPUT', message: "Check the step's fields: tag contains U+0009, a control character" });
    }
    expect(await run(findContact.operation.perform, { inputData: { phone: '+34600000026' } })).toEqual([]);
  });

  it('create_contact refuses Consent: Privacy, which the server refuses for every new contact, before making one', async () => {
    const server = await fetch(`${authData.serverUrl}/v1/contacts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${workspace.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ phone: '+34600000027', tags: ['VIP', 'consent: privacy'] }),
    });
    expect(z.object({ code: z.string() }).loose().parse(await server.json()).code).toBe('TAG_NEEDS_CONSENT');
    const error = await rejection(run(createContact.operation.perform, { inputData: { phone: '+34600000027', tags: 'VIP, consent: privacy' } }));
    expect(errorDetails(error)).toMatchObject({ name: 'AppError', code: 'TAG_NEEDS_CONSENT', status: 422 });
    expect(errorDetails(error).message).toContain('use Record Consent with purpose privacy instead');
    expect(await run(findContact.operation.perform, { inputData: { phone: '+34600000027' } })).toEqual([]);
  });

  it('addable_tag_list leaves out Consent: Privacy, which tag_list still offers for removing it', async () => {
    const started = ItemSchema.parse(await run(requestConsent.operation.perform, { inputData: { phone: '+34600000028', channel: 'whatsapp' } }));
    await run(sendInboundMessage.operation.perform, { inputData: { channel: 'whatsapp', phone: '+34600000028', button: 'AGREE & PROCEED' } });
    await run(tagContact.operation.perform, { inputData: { contactId: String(started.contactId), tag: 'VIP' } });
    expect(await run(operationOf(tagList).perform)).toEqual(expect.arrayContaining([{ id: 'Consent: Privacy', name: 'Consent: Privacy' }]));
    expect(await run(operationOf(addableTagList).perform)).toEqual([{ id: 'VIP', name: 'VIP' }]);
  });

  it('send_inbound_message runs keywords and returns the replies', async () => {
    const result = ItemSchema.parse(
      await run(sendInboundMessage.operation.perform, { inputData: { channel: 'whatsapp', phone: '+34600000012', text: 'STOP' } }),
    );
    expect(String(result.replyText).length).toBeGreaterThan(0);
    expect(result.eventTypes).toContain('consent.withdrawn');
    const permission = await run(checkPermission.operation.perform, { inputData: { contactId: result.contactId, channel: 'whatsapp' } });
    expect(permission).toMatchObject([{ allowed: false, reason: 'opted_out' }]);
  });

  it('request_consent asks, and the AGREE button records privacy consent; asked again it says the contact already agreed', async () => {
    const started = ItemSchema.parse(await run(requestConsent.operation.perform, { inputData: { phone: '+34600000013', channel: 'whatsapp' } }));
    expect(String(started.replyText).length).toBeGreaterThan(0);
    expect(started.alreadyAgreed).toBe(false);
    await run(sendInboundMessage.operation.perform, { inputData: { channel: 'whatsapp', phone: '+34600000013', button: 'AGREE & PROCEED' } });
    const found = ItemsSchema.parse(await run(findContact.operation.perform, { inputData: { phone: '+34600000013' } }));
    expect(found[0]).toMatchObject({ id: started.contactId, consentStatus: { privacy_whatsapp: 'opted_in' } });
    expect(found[0]?.tags).toContain('Consent: Privacy');
    const again = ItemSchema.parse(await run(requestConsent.operation.perform, { inputData: { phone: '+34600000013', channel: 'whatsapp' } }));
    expect(again).toMatchObject({ alreadyAgreed: true, replyText: '', outcome: expect.stringContaining('already agreed') });
  });

  it('find_workflow_run follows a run request_consent started: waiting for the answer, then given; an unknown run finds nothing, an unknown workflow fails', async () => {
    const started = ItemSchema.parse(await run(requestConsent.operation.perform, { inputData: { phone: '+34600000053', channel: 'whatsapp' } }));
    const lookup = { template: 'request-consent-privacy', runId: String(started.id) };
    const waiting = ItemsSchema.parse(await run(findWorkflowRun.operation.perform, { inputData: lookup }));
    expect(waiting).toMatchObject([
      { id: started.id, contactId: started.contactId, status: 'active', outcome: null, endedAt: null, waiting: { step: 'request_consent', kind: 'answer', timesAsked: 1 } },
    ]);
    await run(sendInboundMessage.operation.perform, { inputData: { channel: 'whatsapp', phone: '+34600000053', button: 'AGREE & PROCEED' } });
    const ended = ItemsSchema.parse(await run(findWorkflowRun.operation.perform, { inputData: { ...lookup, runId: String(started.id).toLowerCase() } }));
    expect(ended).toMatchObject([{ id: started.id, status: 'completed', outcome: 'given', waiting: null }]);
    expect(ended[0]?.endedAt).toEqual(expect.any(String));

    expect(await run(findWorkflowRun.operation.perform, { inputData: { ...lookup, runId: '01JQ0000000000000000000000' } })).toEqual([]);
    // A run of another workflow is not found under this one.
    expect(await run(findWorkflowRun.operation.perform, { inputData: { ...lookup, template: 'welcome-request-phone' } })).toEqual([]);
    const unknown = errorDetails(await rejection(run(findWorkflowRun.operation.perform, { inputData: { ...lookup, template: 'request-consent' } })));
    expect(unknown).toMatchObject({ name: 'AppError', code: 'NOT_FOUND', status: 404 });
    expect(unknown.message).toMatch(/^Not found: template: unknown template "request-consent": the built-in ones are request-consent-privacy, /);
  });

  it('request_consent and send_inbound_message leave the messages to the outbound webhook when told to: its deliveries say inAnswer false', async () => {
    await api('/v1/settings', { method: 'PATCH', body: { outboundWebhookUrl: `${target.url}/outbound-${sequence}` } });
    const inAnswerOf = async (contactId: unknown, text: string) => {
      const delivery = await target.next(`/outbound-${sequence}`, (event) => event.type === 'message.outbound' && event.contactId === contactId && event.data.text === text);
      return parseEvent(delivery.body).data.inAnswer;
    };
    const viaWebhook = ItemSchema.parse(
      await run(requestConsent.operation.perform, { inputData: { phone: '+34600000050', channel: 'whatsapp', repliesSentBy: 'outbound_webhook' } }),
    );
    expect(viaWebhook.outcome).toContain("your workspace's outbound webhook sends the messages below");
    const [asking] = z.array(z.object({ text: z.string() })).parse(viaWebhook.replies);
    expect(await inAnswerOf(viaWebhook.contactId, String(asking?.text))).toBe(false);
    const byZap = ItemSchema.parse(await run(requestConsent.operation.perform, { inputData: { phone: '+34600000051', channel: 'whatsapp' } }));
    const [asked] = z.array(z.object({ text: z.string() })).parse(byZap.replies);
    expect(await inAnswerOf(byZap.contactId, String(asked?.text))).toBe(true);

    const stop = ItemSchema.parse(
      await run(sendInboundMessage.operation.perform, { inputData: { channel: 'sms', phone: '+34600000052', text: 'STOP', repliesSentBy: 'outbound_webhook' } }),
    );
    const [unsubscribed] = z.array(z.object({ text: z.string() })).parse(stop.replies);
    expect(await inAnswerOf(stop.contactId, String(unsubscribed?.text))).toBe(false);
  });

  it('request_consent halts for a contact who sent STOP', async () => {
    await inbound('+34600000016', 'STOP');
    const error = await rejection(run(requestConsent.operation.perform, { inputData: { phone: '+34600000016', channel: 'whatsapp' } }));
    expect(error.name).toBe('HaltedError');
    expect(error.message).toContain('opted out of messages on whatsapp');
  });

  it('request_consent halts for a new lead on Telegram, which reaches only a contact who wrote first, and makes no contact', async () => {
    const error = await rejection(run(requestConsent.operation.perform, { inputData: { email: 'zoe@example.com', channel: 'telegram' } }));
    expect(error.name).toBe('HaltedError');
    expect(error.message).toContain('No contact was created: zoe@example.com cannot be reached on telegram: it has not written on Telegram');
    expect(ContactListSchema.parse(await api('/v1/contacts?email=zoe%40example.com')).data).toEqual([]);
  });

  it('request_consent refuses a new lead as the server does in a workspace without a privacy policy link, and makes no contact', async () => {
    await api('/v1/settings', { method: 'PATCH', body: { privacyPolicyUrl: null } });
    const existing = ItemSchema.parse(await run(createContact.operation.perform, { inputData: { phone: '+34600000040' } }));
    const server = errorDetails(await rejection(run(requestConsent.operation.perform, { inputData: { contactId: String(existing.id), channel: 'whatsapp' } })));
    expect(server).toMatchObject({ name: 'AppError', code: 'VALIDATION_FAILED', status: 422 });
    const zap = errorDetails(await rejection(run(requestConsent.operation.perform, { inputData: { phone: '+34600000041', channel: 'whatsapp' } })));
    expect(zap).toEqual(server);
    expect(await run(findContact.operation.perform, { inputData: { phone: '+34600000041' } })).toEqual([]);
  });

  it('send_inbound_message that reuses the Message ID of another sender’s message makes no contact for the new sender', async () => {
    await run(sendInboundMessage.operation.perform, { inputData: { channel: 'sms', phone: '+34600000042', messageId: 'thread-2', text: 'START' } });
    const error = await rejection(run(sendInboundMessage.operation.perform, { inputData: { channel: 'sms', phone: '+34600000043', messageId: 'thread-2', text: 'START' } }));
    expect(errorDetails(error)).toMatchObject({ code: 'MESSAGE_NOT_PROCESSED' });
    expect(await run(findContact.operation.perform, { inputData: { phone: '+34600000043' } })).toEqual([]);
  });

  it('send_inbound_message fails when its Message ID was used by another message, which the server did not process', async () => {
    const first = { channel: 'sms', phone: '+34600000017', messageId: 'thread-1' };
    await run(sendInboundMessage.operation.perform, { inputData: { ...first, text: 'START' } });
    const error = await rejection(run(sendInboundMessage.operation.perform, { inputData: { ...first, text: 'STOP' } }));
    expect(errorDetails(error)).toMatchObject({ code: 'MESSAGE_NOT_PROCESSED' });
    expect(errorDetails(error).message).toContain('this one was not processed');
    // The same message repeated (a replay of the step) is answered as before, without an error.
    const replay = ItemSchema.parse(await run(sendInboundMessage.operation.perform, { inputData: { ...first, text: 'START' } }));
    expect(replay.warnings).toBe('');
  });

  it('send_inbound_message with only a phone reaches the contact a WhatsApp webhook created, adding no identity', async () => {
    const webhook = InboundSchema.parse(
      await api('/v1/messages', { method: 'POST', body: { channel: 'whatsapp', messageId: 'wamid.e2e.id', from: { id: '34600000018' }, text: 'START' } }),
    );
    const zap = ItemSchema.parse(
      await run(sendInboundMessage.operation.perform, { inputData: { channel: 'whatsapp', phone: '+34 600 000 018', text: 'STOP' } }),
    );
    expect(zap.contactId).toBe(webhook.contactId);
    const identities = z.object({ identities: z.array(z.object({ channel: z.string(), externalId: z.string() })) });
    expect(identities.parse(await api(`/v1/contacts/${webhook.contactId}`)).identities).toEqual([{ channel: 'whatsapp', externalId: '34600000018' }]);
  });

  it('maps the server’s 422 to the field it names', async () => {
    const error = await rejection(run(createContact.operation.perform, { inputData: { email: 'not-an-email' } }));
    const details = errorDetails(error);
    expect(details.status).toBe(422);
    expect(details.message).toBe('email: "not-an-email" is not a valid email address: it must contain exactly one "@"');
  });
});

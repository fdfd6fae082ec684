import { http, HttpResponse } from 'msw';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Bundle, ZObject } from 'zapier-platform-core';
import { z } from 'zod';
import { signDelivery } from '../../src/worker/signature.js';
import consentFailed from '../src/triggers/consent_failed.js';
import consentGiven from '../src/triggers/consent_given.js';
import consentWithdrawn from '../src/triggers/consent_withdrawn.js';
import contactTagged from '../src/triggers/contact_tagged.js';
import optoutReviewNeeded from '../src/triggers/optout_review_needed.js';
import { CONTACT_ID, contactJson, erasedContactJson, operationOf } from './helpers.js';
import { appTester, errorDetails, mswServer, problem, rejection, requests, route, run, SERVER_URL, useMockServer } from './support.js';

// What a hook's perform does with a delivery before it becomes an item: the signature check, the
// claim that drops a repeat, and the contact lookup that must never cost the event.

useMockServer();

const withdrawn = operationOf(consentWithdrawn);
const HOOK_ID = '01JQ8000000000000000000HK1';
const SECRET = 'whsec_test_current_0000000000000000';
const OLD_SECRET = 'whsec_test_previous_000000000000000';
const HOUR_MS = 60 * 60 * 1000;

const DETAILS = { contactName: 'Ana Test', contactEmail: 'ana.test@example.com', contactPhone: '+34600000001', contactDetailsMissing: false, contactErased: false };
const NO_DETAILS = { contactName: null, contactEmail: null, contactPhone: null, contactDetailsMissing: true, contactErased: false };

function withdrawal(id = '01JQ8000000000000000000EV1', contactId = CONTACT_ID) {
  return {
    id,
    type: 'consent.withdrawn',
    version: 1,
    workspaceId: 'ws_1',
    occurredAt: '2026-03-02T18:40:00.000Z',
    contactId,
    data: {
      contactId,
      purpose: 'marketing',
      channel: 'whatsapp',
      status: 'opted_out',
      legalBasis: null,
      explanation: 'Replied STOP on WhatsApp',
      source: 'keyword',
      recordId: '01JQ80000000000000000000RC',
      occurredAt: '2026-03-02T18:40:00.000Z',
    },
  };
}

interface DeliveryOptions {
  secrets?: string | string[];
  signedAt?: Date;
  /** How the header names reach perform: Zapier's `Http-X-...` form, or as the server sent them. */
  headerNames?: 'zapier' | 'sent';
  /** The body Zapier hands over, when it is not the body that was signed. */
  receivedBody?: string;
}

/** A delivery as the server signs it, in the shape Zapier hands a hook's perform (`cleanedRequest`, `rawRequest`). */
function delivery(event: object, options: DeliveryOptions = {}) {
  const body = JSON.stringify(event);
  const signed = signDelivery(options.secrets ?? SECRET, body, options.signedAt ?? new Date());
  const prefix = options.headerNames === 'sent' ? 'x-consentry-' : 'Http-X-Consentry-';
  const received = options.receivedBody ?? body;
  return {
    cleanedRequest: { ...JSON.parse(received), querystring: {} },
    rawRequest: {
      method: 'POST',
      querystring: '',
      headers: {
        'Http-Content-Type': 'application/json',
        [`${prefix}${options.headerNames === 'sent' ? 'timestamp' : 'Timestamp'}`]: String(signed.timestamp),
        [`${prefix}${options.headerNames === 'sent' ? 'signature' : 'Signature'}`]: signed.signature,
      },
      content: received,
    },
  };
}

const subscribeData = { id: HOOK_ID, event: 'consent.withdrawn', targetUrl: 'https://hooks.zapier.example.test/hooks/standard/1/abc/', filter: null, secret: SECRET };

beforeEach(() => route('get', '/v1/contacts/:id', { body: contactJson() }));

/** What the app wrote with z.console.log during a test. */
function logged(spy: { mock: { calls: unknown[][] } }): string {
  return spy.mock.calls.map((call) => call.map(String).join(' ')).join('\n');
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the contact lookup never costs the event (Zapier retries a webhook perform once at most)', () => {
  const failures: [string, () => void][] = [
    ['the server cannot be reached', () => mswServer.use(http.get(`${SERVER_URL}/v1/contacts/:id`, () => HttpResponse.error()))],
    ['a 503 with Retry-After: 3600 (maintenance)', () => route('get', '/v1/contacts/:id', { ...problem(503, 'UNAVAILABLE', 'maintenance'), headers: { 'retry-after': '3600' } })],
    ['a 500 without a body', () => route('get', '/v1/contacts/:id', { status: 500 })],
    ['a 429', () => route('get', '/v1/contacts/:id', { ...problem(429, 'TOO_MANY_REQUESTS', 'slow down'), headers: { 'retry-after': '30' } })],
    ['a 404 (contact deleted)', () => route('get', '/v1/contacts/:id', problem(404, 'NOT_FOUND', 'contact not found'))],
    ['an answer that is not a contact (a proxy page)', () => route('get', '/v1/contacts/:id', { body: { hello: 'world' } })],
  ];

  it.each(failures)('delivers the item with null details and contactDetailsMissing when %s', async (_what, fail) => {
    fail();
    const log = vi.spyOn(console, 'log');
    const items = await run(withdrawn.perform, { subscribeData, ...delivery(withdrawal()) });
    expect(items).toEqual([
      {
        id: '01JQ8000000000000000000EV1',
        type: 'consent.withdrawn',
        occurredAt: '2026-03-02T18:40:00.000Z',
        contactId: CONTACT_ID,
        purpose: 'marketing',
        channel: 'whatsapp',
        status: 'opted_out',
        legalBasis: null,
        legalBasisLabel: null,
        explanation: 'Replied STOP on WhatsApp',
        source: 'keyword',
        recordId: '01JQ80000000000000000000RC',
        decidedAt: '2026-03-02T18:40:00.000Z',
        ...NO_DETAILS,
      },
    ]);
    expect(logged(log)).toContain(`Contact ${CONTACT_ID}`);
    // Nothing retries this lookup: the log must not promise it.
    expect(logged(log)).not.toContain('will retry');
  });

  it('marks an erased contact’s details missing and the contact erased: the server answers it 200 with erasedAt and its details null', async () => {
    route('get', '/v1/contacts/:id', { body: erasedContactJson() });
    const log = vi.spyOn(console, 'log');
    const items = await run(withdrawn.perform, { subscribeData, ...delivery(withdrawal()) });
    expect(items).toMatchObject([{ id: '01JQ8000000000000000000EV1', contactId: CONTACT_ID, ...NO_DETAILS, contactErased: true }]);
    expect(logged(log)).toContain(`Contact ${CONTACT_ID} was erased on 2026-03-02T10:00:00.000Z`);
  });

  it('marks the details as read (contactDetailsMissing false) when the lookup works', async () => {
    expect(await run(withdrawn.perform, { subscribeData, ...delivery(withdrawal()) })).toMatchObject([DETAILS]);
  });

  it('still throws ExpiredAuthError on a 401: the key was revoked, and Zapier must pause the Zap and ask for a new key', async () => {
    route('get', '/v1/contacts/:id', problem(401, 'UNAUTHORIZED', 'API key revoked'));
    const error = await rejection(run(withdrawn.perform, { subscribeData, ...delivery(withdrawal()) }));
    expect(error.name).toBe('ExpiredAuthError');
  });

  it('lists samples with the flag too when a contact cannot be read (performList shares the lookup)', async () => {
    route('get', '/v1/events', { body: { data: [withdrawal('01JQ8000000000000000000EV2'), withdrawal('01JQ8000000000000000000EV1')], nextCursor: null } });
    route('get', '/v1/contacts/:id', problem(502, 'BAD_GATEWAY', 'upstream down'));
    const items = await run(withdrawn.performList, { meta: { limit: 2 } });
    expect(items).toMatchObject([
      { id: '01JQ8000000000000000000EV2', ...NO_DETAILS },
      { id: '01JQ8000000000000000000EV1', ...NO_DETAILS },
    ]);
  });

  it('declares contactDetailsMissing as a boolean output of every trigger, false in every sample', () => {
    const OutputFields = z.array(z.object({ key: z.string(), type: z.string().optional() }).loose());
    for (const trigger of [consentGiven, consentWithdrawn, consentFailed, contactTagged, optoutReviewNeeded]) {
      const operation = operationOf(trigger);
      expect(OutputFields.parse(operation.outputFields).find((field) => field.key === 'contactDetailsMissing'), trigger.key).toEqual({
        key: 'contactDetailsMissing',
        label: 'Contact Details Missing',
        type: 'boolean',
      });
      expect(z.object({ contactDetailsMissing: z.boolean() }).loose().parse(operation.sample).contactDetailsMissing, trigger.key).toBe(false);
    }
  });
});

describe('deliveries are checked against the secret the hook was subscribed with', () => {
  it('accepts a delivery the server signed, with the headers in Zapier’s Http-X-... form', async () => {
    expect(await run(withdrawn.perform, { subscribeData, ...delivery(withdrawal()) })).toMatchObject([{ id: '01JQ8000000000000000000EV1', ...DETAILS }]);
  });

  it('reads the headers whatever their letter case and prefix', async () => {
    expect(await run(withdrawn.perform, { subscribeData, ...delivery(withdrawal(), { headerNames: 'sent' }) })).toHaveLength(1);
  });

  it('accepts a delivery Zapier runs hours after it was signed, up to a day', async () => {
    const signedAt = new Date(Date.now() - 23 * HOUR_MS);
    expect(await run(withdrawn.perform, { subscribeData, ...delivery(withdrawal(), { signedAt }) })).toHaveLength(1);
  });

  it('accepts both signatures of a secret rotation while the Zap still holds the old secret', async () => {
    const bundle = { subscribeData: { ...subscribeData, secret: OLD_SECRET }, ...delivery(withdrawal(), { secrets: [SECRET, OLD_SECRET] }) };
    expect(await run(withdrawn.perform, bundle)).toHaveLength(1);
  });

  const refused: [string, () => Record<string, unknown>, string][] = [
    ['signed with another secret', () => delivery(withdrawal(), { secrets: 'whsec_someone_else_000000000000000' }), 'its signature does not match'],
    [
      'whose body was changed after it was signed',
      () => delivery(withdrawal(), { receivedBody: JSON.stringify({ ...withdrawal(), contactId: '01JQ7ZK4C2V9N8M3T5R6W1XYZB' }) }),
      'its signature does not match',
    ],
    ['signed more than a day ago (a replay)', () => delivery(withdrawal(), { signedAt: new Date(Date.now() - 25 * HOUR_MS) }), 'was signed'],
    ['dated more than 5 minutes ahead', () => delivery(withdrawal(), { signedAt: new Date(Date.now() + 6 * 60_000) }), 'ahead of Zapier'],
    ['without a signature', () => ({ cleanedRequest: withdrawal(), rawRequest: { method: 'POST', headers: {}, content: JSON.stringify(withdrawal()) } }), 'no X-Consentry-Signature'],
    ['without its raw body', () => ({ cleanedRequest: withdrawal() }), 'no raw body'],
  ];

  it.each(refused)('drops a delivery %s, says why in the log without the secret, and asks the server nothing', async (_what, make, reason) => {
    const log = vi.spyOn(console, 'log');
    expect(await run(withdrawn.perform, { subscribeData, ...make() })).toEqual([]);
    expect(logged(log)).toContain(reason);
    expect(logged(log)).toContain(HOOK_ID);
    expect(logged(log)).not.toContain(SECRET);
    expect(requests).toHaveLength(0);
  });

  it('accepts a timestamp a little ahead of Zapier’s clock (clock drift)', async () => {
    expect(await run(withdrawn.perform, { subscribeData, ...delivery(withdrawal(), { signedAt: new Date(Date.now() + 4 * 60_000) }) })).toHaveLength(1);
  });

  it('makes the item from the signed body, not from what Zapier parsed beside it', async () => {
    const signed = delivery(withdrawal());
    const forged = { ...signed, cleanedRequest: { ...withdrawal(), data: { ...withdrawal().data, channel: 'sms' } } };
    expect(await run(withdrawn.perform, { subscribeData, ...forged })).toMatchObject([{ channel: 'whatsapp' }]);
  });

  it('keeps serving a Zap subscribed before secrets were kept: no secret stored, nothing to check', async () => {
    const unsigned = { cleanedRequest: withdrawal() };
    expect(await run(withdrawn.perform, { subscribeData: { id: HOOK_ID }, ...unsigned })).toMatchObject([{ id: '01JQ8000000000000000000EV1' }]);
  });
});

/** zcache's set-if-absent, as the Zapier service answers it (the app tester's stand-in ignores `nx`). */
class SetIfAbsentCache {
  readonly ttls = new Map<string, number | undefined>();
  private readonly values = new Map<string, string>();
  readonly cache: ZObject['cache'] = {
    get: async (key) => {
      const value = this.values.get(key);
      return value === undefined ? null : JSON.parse(value);
    },
    set: async (key, value, ttl, _scope, nx) => {
      if (nx === true && this.values.has(key)) return false;
      this.values.set(key, JSON.stringify(value));
      this.ttls.set(key, ttl);
      return true;
    },
    delete: async (key) => this.values.delete(key),
  };
}

const PerformSchema = z.custom<(zObject: ZObject, bundle: Bundle) => Promise<unknown>>((value) => typeof value === 'function', 'a function');

/** The trigger's perform, run through the app tester with `z.cache` answered by `cache`. */
function performWith(cache: ZObject['cache']) {
  const perform = PerformSchema.parse(withdrawn.perform);
  return (zObject: ZObject, bundle: Bundle) => perform({ ...zObject, cache }, bundle);
}

describe('a repeated delivery runs the Zap once (Zapier dedupes only polling triggers)', () => {
  it('claims the event in zcache under <hook id>:<event id> through core’s own cache', async () => {
    await run(withdrawn.perform, { subscribeData, ...delivery(withdrawal()) });
    const stored = z.record(z.string(), z.unknown()).parse(Reflect.get(appTester, 'zcacheTestObj'));
    expect(stored[`${HOOK_ID}:01JQ8000000000000000000EV1`]).toBe('1');
  });

  it('drops the repeat of an event the subscription already heard, without reading the contact again', async () => {
    const store = new SetIfAbsentCache();
    const bundle = { subscribeData, ...delivery(withdrawal()) };
    expect(await run(performWith(store.cache), bundle)).toMatchObject([{ id: '01JQ8000000000000000000EV1', ...DETAILS }]);
    expect(await run(performWith(store.cache), bundle)).toEqual([]);
    expect(requests.filter((request) => request.path.startsWith('/v1/contacts/'))).toHaveLength(1);
  });

  it('remembers an event for longer than the server’s 3-day retry window (plus an hour for Retry-After)', async () => {
    const store = new SetIfAbsentCache();
    await run(performWith(store.cache), { subscribeData, ...delivery(withdrawal()) });
    expect(store.ttls.get(`${HOOK_ID}:01JQ8000000000000000000EV1`)).toBeGreaterThan(3 * 24 * 3600 + 3600);
  });

  it('delivers the same event to another subscription (two Zaps on one connection each run)', async () => {
    const store = new SetIfAbsentCache();
    await run(performWith(store.cache), { subscribeData, ...delivery(withdrawal()) });
    const otherZap = { ...subscribeData, id: '01JQ8000000000000000000HK2' };
    expect(await run(performWith(store.cache), { subscribeData: otherZap, ...delivery(withdrawal()) })).toHaveLength(1);
  });

  it('delivers when the cache fails: the cache never costs an event', async () => {
    const broken: ZObject['cache'] = {
      get: async () => Promise.reject(new Error('RPC request failed after 3 attempts')),
      set: async () => Promise.reject(new Error('RPC request failed after 3 attempts')),
      delete: async () => false,
    };
    const log = vi.spyOn(console, 'log');
    expect(await run(performWith(broken), { subscribeData, ...delivery(withdrawal()) })).toHaveLength(1);
    expect(logged(log)).toContain('so it is delivered');
  });

  it('delivers when the cache does not answer: each call is given up after 2 s, not left to spend the step', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const hanging: ZObject['cache'] = { get: () => new Promise(() => {}), set: () => new Promise(() => {}), delete: () => new Promise(() => {}) };
      const log = vi.spyOn(console, 'log');
      let items: unknown;
      const step = run(performWith(hanging), { subscribeData, ...delivery(withdrawal()) }).then((answer) => {
        items = answer;
      });
      await vi.advanceTimersByTimeAsync(1_999);
      expect(items).toBeUndefined();
      await vi.advanceTimersByTimeAsync(1);
      await step;
      expect(items).toMatchObject([{ id: '01JQ8000000000000000000EV1', ...DETAILS }]);
      expect(logged(log)).toContain("so it is delivered: Zapier's cache did not answer within 2 s");
    } finally {
      vi.useRealTimers();
    }
  });

  it('delivers when zcache declines the write (false, as for its rate limit) and the key is not there', async () => {
    const declining: ZObject['cache'] = { get: async () => null, set: async () => false, delete: async () => false };
    expect(await run(performWith(declining), { subscribeData, ...delivery(withdrawal()) })).toHaveLength(1);
  });

  it('does not claim an event the Zap’s filter drops, so no memory is spent on it', async () => {
    const store = new SetIfAbsentCache();
    const bundle = { subscribeData, inputData: { channel: 'sms' }, ...delivery(withdrawal()) };
    expect(await run(performWith(store.cache), bundle)).toEqual([]);
    expect(store.ttls.size).toBe(0);
  });

  it('still fails a body that is not an event, before anything is claimed', async () => {
    const store = new SetIfAbsentCache();
    const bundle = { subscribeData: { id: HOOK_ID }, cleanedRequest: { hello: 'world' } };
    expect(errorDetails(await rejection(run(performWith(store.cache), bundle)))).toMatchObject({ code: 'UNEXPECTED_EVENT' });
    expect(store.ttls.size).toBe(0);
  });
});

import { beforeEach, describe, expect, it } from 'vitest';
import type { Trigger } from 'zapier-platform-core';
import consentFailed from '../src/triggers/consent_failed.js';
import consentGiven from '../src/triggers/consent_given.js';
import consentWithdrawn from '../src/triggers/consent_withdrawn.js';
import contactTagged from '../src/triggers/contact_tagged.js';
import optoutReviewNeeded from '../src/triggers/optout_review_needed.js';
import addableTagList from '../src/triggers/addable_tag_list.js';
import tagList from '../src/triggers/tag_list.js';
import { z } from 'zod';
import { CONTACT_ID, contactJson, erasedContactJson, operationOf } from './helpers.js';
import { errorDetails, problem, rejection, requests, route, run, useMockServer } from './support.js';

useMockServer();

const TARGET_URL = 'https://hooks.zapier.example.test/hooks/standard/1/abc/';
const CONTACT = CONTACT_ID;
const contact = contactJson({ identities: [{ channel: 'whatsapp', externalId: '34600000001' }] });
const DETAILS = { contactName: 'Ana Test', contactEmail: 'ana.test@example.com', contactPhone: '+34600000001', contactDetailsMissing: false, contactErased: false };
const NO_DETAILS = { contactName: null, contactEmail: null, contactPhone: null, contactDetailsMissing: true, contactErased: false };
const DAY_MS = 24 * 60 * 60 * 1000;

// Every item is completed with its contact's name, email and phone.
beforeEach(() => route('get', '/v1/contacts/:id', { body: contact }));

interface Case {
  trigger: Trigger;
  type: string;
  data: Record<string, unknown>;
  /** Every item field besides the envelope (id, type, occurredAt, contactId). */
  fields: Record<string, unknown>;
}

const consentData = (status: string, legalBasis: string | null) => ({
  contactId: CONTACT,
  purpose: 'marketing',
  channel: 'whatsapp',
  status,
  legalBasis,
  explanation: 'Replied on WhatsApp',
  source: 'keyword',
  recordId: '01JQ80000000000000000000RC',
  occurredAt: '2026-03-01T09:14:59.000Z',
});

const cases: Case[] = [
  {
    trigger: consentGiven,
    type: 'consent.given',
    data: consentData('opted_in', 'CONSENT_WITH_NOTICE'),
    fields: {
      purpose: 'marketing',
      channel: 'whatsapp',
      status: 'opted_in',
      legalBasis: 'CONSENT_WITH_NOTICE',
      legalBasisLabel: 'Freely given consent from contact',
      explanation: 'Replied on WhatsApp',
      source: 'keyword',
      recordId: '01JQ80000000000000000000RC',
      decidedAt: '2026-03-01T09:14:59.000Z',
    },
  },
  {
    trigger: consentWithdrawn,
    type: 'consent.withdrawn',
    data: consentData('opted_out', null),
    fields: {
      purpose: 'marketing',
      channel: 'whatsapp',
      status: 'opted_out',
      legalBasis: null,
      legalBasisLabel: null,
      explanation: 'Replied on WhatsApp',
      source: 'keyword',
      recordId: '01JQ80000000000000000000RC',
      decidedAt: '2026-03-01T09:14:59.000Z',
    },
  },
  {
    trigger: consentFailed,
    type: 'consent.failed',
    data: {
      contactId: CONTACT,
      channel: 'whatsapp',
      purpose: 'privacy',
      reason: 'timeout',
      attempts: 1,
      workflowId: 'request-consent-privacy',
      runId: '01JQ8000000000000000000RUN',
      conversationId: '01JQ800000000000000000CONV',
      contactName: 'Ana Test',
    },
    fields: {
      channel: 'whatsapp',
      purpose: 'privacy',
      reason: 'timeout',
      attempts: 1,
      workflowId: 'request-consent-privacy',
      runId: '01JQ8000000000000000000RUN',
      conversationId: '01JQ800000000000000000CONV',
    },
  },
  {
    trigger: contactTagged,
    type: 'contact.tagged',
    data: { contactId: CONTACT, tag: 'Consent: Privacy' },
    fields: { tag: 'Consent: Privacy' },
  },
  {
    trigger: optoutReviewNeeded,
    type: 'optout.review_needed',
    data: {
      contactId: CONTACT,
      channel: 'sms',
      messageId: 'SM1',
      text: 'please stop texting me',
      normalized: 'please stop texting me',
      language: 'en',
      matchedWord: 'stop',
    },
    fields: {
      channel: 'sms',
      messageId: 'SM1',
      text: 'please stop texting me',
      normalized: 'please stop texting me',
      language: 'en',
      matchedWord: 'stop',
    },
  },
];

function event(type: string, data: Record<string, unknown>, id = '01JQ8000000000000000000EV1', occurredAt = '2026-03-01T09:15:00.000Z') {
  return { id, type, version: 1, workspaceId: 'ws_1', occurredAt, contactId: CONTACT, data };
}

describe.each(cases)('trigger $trigger.key', ({ trigger, type, data, fields }) => {
  const { performSubscribe, performUnsubscribe, perform, performList } = operationOf(trigger);

  it(`subscribes POST /v1/hooks for ${type}, keeps the hook id and its signing secret, and expires in 24 h`, async () => {
    route('post', '/v1/hooks', ({ body }) => ({
      status: 201,
      body: { id: 'hk_1', secret: 'whsec_test', targetUrl: TARGET_URL, event: type, filter: null, createdAt: '2026-03-01T09:00:00.000Z', echo: body },
    }));
    const before = Date.now();
    const subscribeData = z
      .object({ expiration_date: z.iso.datetime() })
      .loose()
      .parse(await run(performSubscribe, { targetUrl: TARGET_URL }));
    const after = Date.now();
    expect(requests[0]).toMatchObject({ method: 'POST', path: '/v1/hooks', body: { targetUrl: TARGET_URL, event: type } });
    expect(requests[0]?.body).not.toHaveProperty('filter');
    expect(subscribeData).toEqual({ id: 'hk_1', event: type, targetUrl: TARGET_URL, filter: null, secret: 'whsec_test', expiration_date: subscribeData.expiration_date });
    // Zapier subscribes again after expiration_date, with the key the connection holds then.
    const expiresAt = Date.parse(subscribeData.expiration_date);
    expect(expiresAt).toBeGreaterThanOrEqual(before + DAY_MS);
    expect(expiresAt).toBeLessThanOrEqual(after + DAY_MS);
  });

  it('reads a renewal answered 200 with the live hook (same id and secret) as a subscription', async () => {
    route('post', '/v1/hooks', { status: 200, body: { id: 'hk_1', secret: 'whsec_test', targetUrl: TARGET_URL, event: type, filter: null } });
    const subscribeData = await run(performSubscribe, { targetUrl: TARGET_URL });
    expect(subscribeData).toMatchObject({ id: 'hk_1', secret: 'whsec_test', expiration_date: expect.any(String) });
  });

  it('unsubscribes with DELETE /v1/hooks/{subscribeData.id}', async () => {
    route('delete', '/v1/hooks/hk_1', { status: 204 });
    const result = await run(performUnsubscribe, { subscribeData: { id: 'hk_1', secret: 'whsec_test' } });
    expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual(['DELETE /v1/hooks/hk_1']);
    expect(result).toEqual({ id: 'hk_1', deleted: true });
  });

  it('keeps the subscriptionId of each answer and unsubscribes that subscription; subscribeData without one unsubscribes the hook as before', async () => {
    const answers = ['01JQ9000000000000000000SB1', '01JQ9000000000000000000SB2'];
    route('post', '/v1/hooks', () => ({
      status: 200,
      body: { id: 'hk_1', secret: 'whsec_test', subscriptionId: answers.shift() ?? null, targetUrl: TARGET_URL, event: type, filter: null },
    }));
    const first = await run(performSubscribe, { targetUrl: TARGET_URL });
    const renewed = await run(performSubscribe, { targetUrl: TARGET_URL });
    expect(first).toMatchObject({ id: 'hk_1', secret: 'whsec_test', subscriptionId: '01JQ9000000000000000000SB1' });
    expect(renewed).toMatchObject({ id: 'hk_1', secret: 'whsec_test', subscriptionId: '01JQ9000000000000000000SB2' });

    route('delete', '/v1/hooks/hk_1', { status: 204 });
    expect(await run(performUnsubscribe, { subscribeData: first })).toEqual({ id: 'hk_1', deleted: true });
    expect(await run(performUnsubscribe, { subscribeData: { id: 'hk_1', secret: 'whsec_test' } })).toEqual({ id: 'hk_1', deleted: true });
    const deletes = requests.filter((request) => request.method === 'DELETE');
    expect(deletes.map((request) => [request.path, request.query.toString()])).toEqual([
      ['/v1/hooks/hk_1', 'subscription=01JQ9000000000000000000SB1'],
      ['/v1/hooks/hk_1', ''],
    ]);
  });

  it('unsubscribes without an error when the hook is gone already: its key was revoked (401), or it is unknown (404) or gone (410)', async () => {
    for (const answer of [problem(401, 'UNAUTHORIZED', 'API key revoked'), problem(404, 'NOT_FOUND', 'hook not found'), problem(410, 'GONE', 'hook deleted')]) {
      route('delete', '/v1/hooks/hk_1', answer);
      expect(await run(performUnsubscribe, { subscribeData: { id: 'hk_1' } })).toEqual({ id: 'hk_1', deleted: true });
    }
    expect(requests).toHaveLength(3);
  });

  it('still fails an unsubscribe the server could not do (5xx), so Zapier tries it again', async () => {
    route('delete', '/v1/hooks/hk_1', problem(503, 'UNAVAILABLE', 'maintenance'));
    expect(errorDetails(await rejection(run(performUnsubscribe, { subscribeData: { id: 'hk_1' } }))).name).toBe('ThrottledError');
  });

  it('turns the delivered event into one flat item keyed by the event id, with the contact’s name, email and phone', async () => {
    const items = await run(perform, { cleanedRequest: { ...event(type, data), querystring: {} } });
    expect(items).toEqual([
      { id: '01JQ8000000000000000000EV1', type, occurredAt: '2026-03-01T09:15:00.000Z', contactId: CONTACT, ...fields, ...DETAILS },
    ]);
    expect(requests.map((request) => `${request.method} ${request.path}`)).toEqual([`GET /v1/contacts/${CONTACT}`]);
  });

  it('gives null name, email and phone, marked missing, when the contact is gone (404) or erased (200 with erasedAt, as the server answers)', async () => {
    route('get', '/v1/contacts/:id', problem(404, 'NOT_FOUND', 'contact not found'));
    expect(await run(perform, { cleanedRequest: event(type, data) })).toMatchObject([{ contactId: CONTACT, ...NO_DETAILS }]);
    route('get', '/v1/contacts/:id', { body: erasedContactJson({ id: CONTACT }) });
    expect(await run(perform, { cleanedRequest: event(type, data) })).toMatchObject([{ contactId: CONTACT, ...NO_DETAILS, contactErased: true }]);
  });

  it('ignores an event of another type that reaches the hook', async () => {
    expect(await run(perform, { cleanedRequest: event('conversation.opened', { contactId: CONTACT, conversationId: 'c', channel: 'sms' }) })).toEqual([]);
  });

  it('rejects a body that is not a Consentry event', async () => {
    const error = await rejection(run(perform, { cleanedRequest: { hello: 'world' } }));
    expect(errorDetails(error)).toMatchObject({ code: 'UNEXPECTED_EVENT' });
  });

  it('lists recent real events newest first from GET /v1/events', async () => {
    route('get', '/v1/events', {
      body: {
        data: [
          event(type, data, '01JQ8000000000000000000EV3', '2026-03-01T09:17:00.000Z'),
          event(type, data, '01JQ8000000000000000000EV2', '2026-03-01T09:16:00.000Z'),
        ],
        nextCursor: null,
      },
    });
    const items = await run(performList, { meta: { limit: 3 } });
    expect(requests[0]?.query.get('type')).toBe(type);
    expect(requests[0]?.query.get('limit')).toBe('3');
    expect(items).toMatchObject([
      { id: '01JQ8000000000000000000EV3', type, ...fields, ...DETAILS },
      { id: '01JQ8000000000000000000EV2', type, ...fields, ...DETAILS },
    ]);
    // Both events are about one contact: it is read once.
    expect(requests.map((request) => `${request.method} ${request.path}`)).toEqual(['GET /v1/events', `GET /v1/contacts/${CONTACT}`]);
  });

  it('reports a server failure while listing as retryable', async () => {
    route('get', '/v1/events', problem(502, 'BAD_GATEWAY', 'upstream down'));
    expect(errorDetails(await rejection(run(performList))).name).toBe('ThrottledError');
  });

  it('promises no retry for a failure while the editor loads samples (meta.isLoadingSample): Zapier replays nothing there', async () => {
    route('get', '/v1/events', problem(502, 'BAD_GATEWAY', 'upstream down'));
    const details = errorDetails(await rejection(run(performList, { meta: { isLoadingSample: true, limit: 3 } })));
    expect(details).toMatchObject({ name: 'AppError', message: 'Consentry had a server error (502): upstream down.', code: 'BAD_GATEWAY', status: 502 });
  });

  it('promises no retry when subscribing fails: the Zap stays off and the user sees the error when turning it on', async () => {
    route('post', '/v1/hooks', problem(503, 'UNAVAILABLE', 'maintenance'));
    const details = errorDetails(await rejection(run(performSubscribe, { targetUrl: TARGET_URL })));
    expect(details).toMatchObject({ name: 'AppError', message: 'Consentry had a server error (503): maintenance.', code: 'UNAVAILABLE' });
  });
});

describe('trigger filters', () => {
  const { performSubscribe, perform, performList } = operationOf(contactTagged);

  it('subscribes contact_tagged with filter {tag} when a tag is chosen', async () => {
    route('post', '/v1/hooks', {
      status: 201,
      body: { id: 'hk_2', secret: 's', targetUrl: TARGET_URL, event: 'contact.tagged', filter: { tag: 'VIP' } },
    });
    const subscribeData = await run(performSubscribe, { targetUrl: TARGET_URL, inputData: { tag: 'VIP' } });
    expect(requests[0]?.body).toEqual({ targetUrl: TARGET_URL, event: 'contact.tagged', filter: { tag: 'VIP' } });
    expect(subscribeData).toMatchObject({ id: 'hk_2', filter: { tag: 'VIP' } });
  });

  it('subscribes consent_given with a channel filter and leaves out empty fields', async () => {
    route('post', '/v1/hooks', { status: 201, body: { id: 'hk_3', targetUrl: TARGET_URL, event: 'consent.given', filter: { channel: 'sms' } } });
    const subscribe = operationOf(consentGiven).performSubscribe;
    await run(subscribe, { targetUrl: TARGET_URL, inputData: { channel: 'sms', purpose: '' } });
    expect(requests[0]?.body).toEqual({ targetUrl: TARGET_URL, event: 'consent.given', filter: { channel: 'sms' } });
  });

  it('drops a delivered event whose tag is not the chosen one', async () => {
    const other = event('contact.tagged', { contactId: CONTACT, tag: 'Newsletter' });
    expect(await run(perform, { inputData: { tag: 'VIP' }, cleanedRequest: other })).toEqual([]);
  });

  it('lists only events with the chosen tag, reading a wider page', async () => {
    route('get', '/v1/events', {
      body: {
        data: [
          event('contact.tagged', { contactId: CONTACT, tag: 'Newsletter' }, '01JQ8000000000000000000EV5'),
          event('contact.tagged', { contactId: CONTACT, tag: 'VIP' }, '01JQ8000000000000000000EV4'),
        ],
        nextCursor: null,
      },
    });
    const items = await run(performList, { inputData: { tag: 'VIP' }, meta: { limit: 5 } });
    expect(requests[0]?.query.get('limit')).toBe('100');
    expect(items).toMatchObject([{ id: '01JQ8000000000000000000EV4', tag: 'VIP' }]);
    expect(items).toHaveLength(1);
  });

  it('offers only real channels in the consent triggers’ Channel filter, never an "All channels" that would mean only STOP ALL', () => {
    for (const trigger of [consentGiven, consentWithdrawn]) {
      const fields = z.array(z.object({ key: z.string(), choices: z.array(z.object({ value: z.string(), label: z.string() }).loose()).optional() }).loose());
      const channel = fields.parse(operationOf(trigger).inputFields).find((field) => field.key === 'channel');
      expect(channel?.choices?.map((choice) => choice.value)).toEqual(['whatsapp', 'sms', 'email', 'messenger', 'telegram', 'webchat']);
      expect(channel?.choices?.map((choice) => choice.label)).not.toContain('All channels');
    }
  });

  it('refuses a channel filter of "any" before subscribing, explaining that a channel filter already hears STOP ALL', async () => {
    const error = await rejection(run(operationOf(consentWithdrawn).performSubscribe, { targetUrl: TARGET_URL, inputData: { channel: 'any' } }));
    const { message } = errorDetails(error);
    expect(message).toContain('channel: "any" is not one of whatsapp, sms, email, messenger, telegram, webchat; leave it empty for every channel');
    expect(message).toContain('STOP ALL');
    expect(requests).toHaveLength(0);
  });

  it('keeps serving a Zap subscribed with the filter "any" by an earlier version: its STOP ALL events, and nothing else', async () => {
    const withdrawn = operationOf(consentWithdrawn);
    const stopAll = event('consent.withdrawn', { ...consentData('opted_out', null), channel: 'any' });
    expect(await run(withdrawn.perform, { inputData: { channel: 'any' }, cleanedRequest: stopAll })).toMatchObject([{ channel: 'any', status: 'opted_out' }]);
    const onSms = event('consent.withdrawn', { ...consentData('opted_out', null), channel: 'sms' });
    expect(await run(withdrawn.perform, { inputData: { channel: 'any' }, cleanedRequest: onSms })).toEqual([]);
  });

  it('hands a STOP ALL (channel any) to a Zap filtered on one channel, as the server does', async () => {
    const withdrawn = operationOf(consentWithdrawn);
    const stopAll = event('consent.withdrawn', { ...consentData('opted_out', null), channel: 'any' });
    const items = await run(withdrawn.perform, { inputData: { channel: 'whatsapp', purpose: 'marketing' }, cleanedRequest: stopAll });
    expect(items).toMatchObject([{ id: '01JQ8000000000000000000EV1', channel: 'any', status: 'opted_out' }]);
    const otherPurpose = await run(withdrawn.perform, { inputData: { channel: 'whatsapp', purpose: 'privacy' }, cleanedRequest: stopAll });
    expect(otherPurpose).toEqual([]);
    const otherChannel = event('consent.withdrawn', { ...consentData('opted_out', null), channel: 'sms' });
    expect(await run(withdrawn.perform, { inputData: { channel: 'whatsapp' }, cleanedRequest: otherChannel })).toEqual([]);
  });

  it('lists STOP ALL events among the samples of a channel-filtered Zap', async () => {
    route('get', '/v1/events', {
      body: {
        data: [
          event('consent.given', { ...consentData('opted_in', 'CONSENT_WITH_NOTICE'), channel: 'any' }, '01JQ8000000000000000000EV6'),
          event('consent.given', { ...consentData('opted_in', 'CONSENT_WITH_NOTICE'), channel: 'sms' }, '01JQ8000000000000000000EV5'),
          event('consent.given', consentData('opted_in', 'CONSENT_WITH_NOTICE'), '01JQ8000000000000000000EV4'),
        ],
        nextCursor: null,
      },
    });
    const items = await run(operationOf(consentGiven).performList, { inputData: { channel: 'whatsapp' } });
    expect(items).toMatchObject([
      { id: '01JQ8000000000000000000EV6', channel: 'any' },
      { id: '01JQ8000000000000000000EV4', channel: 'whatsapp' },
    ]);
    expect(items).toHaveLength(2);
  });

  it('matches a tag as the server does, whatever its letter case and spacing', async () => {
    const tagged = event('contact.tagged', { contactId: CONTACT, tag: 'VIP  Customer' });
    expect(await run(perform, { inputData: { tag: 'vip customer' }, cleanedRequest: tagged })).toMatchObject([{ tag: 'VIP  Customer' }]);
  });

  it('accepts the event under cleanedRequest.content too', async () => {
    const items = await run(perform, { cleanedRequest: { method: 'POST', content: event('contact.tagged', { contactId: CONTACT, tag: 'VIP' }) } });
    expect(items).toMatchObject([{ id: '01JQ8000000000000000000EV1', tag: 'VIP' }]);
  });
});

describe('tag_list (hidden, powers the Tag dropdowns)', () => {
  it('lists GET /v1/tags as dropdown items', async () => {
    route('get', '/v1/tags', { body: { data: ['Consent: Privacy', 'VIP'] } });
    const items = await run(operationOf(tagList).perform);
    expect(items).toEqual([
      { id: 'Consent: Privacy', name: 'Consent: Privacy' },
      { id: 'VIP', name: 'VIP' },
    ]);
    expect(tagList.display.hidden).toBe(true);
  });

  it('promises no retry when the server fails: a dropdown is not replayed', async () => {
    route('get', '/v1/tags', { ...problem(429, 'RATE_LIMITED', 'slow down'), headers: { 'retry-after': '5' } });
    const details = errorDetails(await rejection(run(operationOf(tagList).perform)));
    expect(details).toMatchObject({ name: 'AppError', message: 'Consentry is rate limiting this connection: slow down.', code: 'RATE_LIMITED' });
  });
});

describe('addable_tag_list (hidden, powers the Tag dropdowns of the steps that add a tag)', () => {
  it('lists the workspace’s tags without Consent: Privacy, however it is spelt, nor one the server would refuse to add', async () => {
    route('get', '/v1/tags', { body: { data: ['Consent: Privacy', 'VIP', 'consent:  privacy', 'Old\u202eTag', 'Consent: Privacy Policy'] } });
    const items = await run(operationOf(addableTagList).perform);
    expect(items).toEqual([
      { id: 'VIP', name: 'VIP' },
      { id: 'Consent: Privacy Policy', name: 'Consent: Privacy Policy' },
    ]);
    expect(addableTagList.display.hidden).toBe(true);
  });

  it('promises no retry when the server fails: a dropdown is not replayed', async () => {
    route('get', '/v1/tags', { ...problem(429, 'RATE_LIMITED', 'slow down'), headers: { 'retry-after': '5' } });
    const details = errorDetails(await rejection(run(operationOf(addableTagList).perform)));
    expect(details).toMatchObject({ name: 'AppError', message: 'Consentry is rate limiting this connection: slow down.', code: 'RATE_LIMITED' });
  });
});

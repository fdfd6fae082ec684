import { describe, expect, it } from 'vitest';
import { LEGAL_BASES } from '../../src/core/consent.js';
import { body, refusedWith, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, tenant) => {
  t = app;
  acme = tenant!;
});

const MESSAGING_CHANNELS = 'whatsapp, sms, email, messenger, telegram, webchat';
const TRIGGERS = 'conversation_opened, tag_added, keyword, manual';
const EVENT_TYPES =
  'consent.given, consent.withdrawn, consent.failed, contact.tagged, contact.untagged, contact.updated, contact.duplicate_found, ' +
  'conversation.opened, conversation.closed, optout.review_needed, sync.failed';

async function contactId(): Promise<string> {
  const created = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Ana Test' } });
  expect(created.statusCode, created.body).toBe(201);
  return String(body(created).id);
}

describe('a value not in its list is quoted, with the list, on every route', () => {
  it('POST /v1/messages with channel "any", as an absent channel lists the channels', async () => {
    const payload = { channel: 'any', messageId: 'wamid.1', from: { id: '34600000001' }, text: 'STOP' };
    const message = `"any" is not one of ${MESSAGING_CHANNELS}`;
    expect(refusedWith(await t.as(acme, { method: 'POST', url: '/v1/messages', payload }))).toEqual({ detail: `channel: ${message}`, errors: [{ path: 'channel', message }] });
  });

  it('PATCH /v1/settings with a trigger that is not one', async () => {
    const payload = { triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy' }, { trigger: 'keywrd', template: 'welcome-request-email', match: 'JOIN' }] };
    const message = `"keywrd" is not one of ${TRIGGERS}`;
    expect(refusedWith(await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload }))).toEqual({
      detail: `Invalid settings: triggers.1.trigger: ${message}`,
      errors: [{ path: 'triggers.1.trigger', message }],
    });
  });

  it('PUT a consent with a legal basis that is not one', async () => {
    const id = await contactId();
    const response = await t.as(acme, { method: 'PUT', url: `/v1/contacts/${id}/consents/marketing/whatsapp`, payload: { status: 'opted_out', legalBasis: 'CONSENT' } });
    const message = `"CONSENT" is not one of ${LEGAL_BASES.join(', ')}`;
    expect(refusedWith(response)).toEqual({ detail: `legalBasis: ${message}`, errors: [{ path: 'legalBasis', message }] });
  });

  it('DELETE /v1/contacts/{id}?keepErasedAddresses=no', async () => {
    const id = await contactId();
    const message = '"no" is not one of true, false';
    expect(refusedWith(await t.as(acme, { method: 'DELETE', url: `/v1/contacts/${id}?keepErasedAddresses=no` }))).toEqual({
      detail: `keepErasedAddresses: ${message}`,
      errors: [{ path: 'keepErasedAddresses', message }],
    });
  });

  it('GET /v1/events?type= names the parameter, with every type it does not know in one entry', async () => {
    const one = `"consent.givn" is not one of ${EVENT_TYPES}`;
    expect(refusedWith(await t.as(acme, { method: 'GET', url: '/v1/events?type=consent.givn' }))).toEqual({ detail: `type: ${one}`, errors: [{ path: 'type', message: one }] });
    const two = `"consent.givn" and "foo" are not one of ${EVENT_TYPES}`;
    expect(refusedWith(await t.as(acme, { method: 'GET', url: '/v1/events?type=consent.givn,consent.given,foo' }))).toEqual({
      detail: `type: ${two}`,
      errors: [{ path: 'type', message: two }],
    });
    expect((await t.as(acme, { method: 'GET', url: '/v1/events?type=consent.given,%20conversation.opened' })).statusCode).toBe(200);
    // A value repeated in the list is named once.
    const repeated = await t.as(acme, { method: 'GET', url: `/v1/events?type=${Array.from({ length: 300 }, () => 'x').join(',')},foo` });
    expect(refusedWith(repeated).errors).toEqual([{ path: 'type', message: `"x" and "foo" are not one of ${EVENT_TYPES}` }]);
  });

  it('GET /v1/hooks/{id}/deliveries?status= that is not a delivery status', async () => {
    const message = '"lost" is not one of pending, delivered, dead';
    expect(refusedWith(await t.as(acme, { method: 'GET', url: '/v1/settings/outbound-webhook/deliveries?status=lost' }))).toEqual({
      detail: `status: ${message}`,
      errors: [{ path: 'status', message }],
    });
  });
});

describe('problem details list their errors in path order', () => {
  it("names a triggers patch's bad bindings by index, whichever check found them, in errors and in detail", async () => {
    const triggers = [
      { trigger: 'manual', template: 'welcome-request-email' },
      { trigger: 'conversation_opened', template: 'request-consent-privacy', match: 'hello' },
      { trigger: 'conversation_opened', template: 'request-consent-privacy' },
      { trigger: 'tag_added', template: 'welcome-request-email', match: 'vip' },
      { trigger: 'tag_added', template: 'welcome-request-phone', match: 'lead' },
      { trigger: 'tag_added', template: 'nope', match: 'x' },
      { trigger: 'keywrd', template: 'welcome-request-email', match: 'JOIN' },
      { trigger: 'tag_added', template: 'welcome-request-email', match: 'y', enabled: 'yes' },
      { trigger: 'tag_added', template: '' },
    ];
    const { detail, errors } = refusedWith(await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { triggers } }), 'UNKNOWN_TEMPLATE');
    expect(errors.map((error) => error.path)).toEqual([
      'triggers.0.trigger',
      'triggers.1.match',
      'triggers.5.template',
      'triggers.6.trigger',
      'triggers.7.enabled',
      'triggers.8.template',
    ]);
    expect(detail).toBe(`Invalid settings: ${errors.map((error) => `${error.path}: ${error.message}`).join('; ')}`);
  });
});

describe('the hook and header values not in their list are quoted, with the list, too', () => {
  it('POST /v1/hooks with an unknown event, and with a filter on a channel no event has', async () => {
    const unknownEvent = await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl: 'https://example.com/hooks', event: 'consent.givn' } });
    expect(refusedWith(unknownEvent).errors).toEqual([{ path: 'event', message: `"consent.givn" is not one of ${EVENT_TYPES}, * (* for all of them)` }]);
    const unknownChannel = await t.as(acme, {
      method: 'POST',
      url: '/v1/hooks',
      payload: { targetUrl: 'https://example.com/hooks', event: 'consent.given', filter: { channel: 'whatsap' } },
    });
    expect(refusedWith(unknownChannel).errors).toEqual([
      { path: 'filter.channel', message: `"whatsap" is not one of ${MESSAGING_CHANNELS}, any, so the filter would never match` },
    ]);
  });

  it('PUT a consent with an X-Consentry-Source not in its list, quoted as read (letter case and spaces aside)', async () => {
    const id = await contactId();
    const response = await t.as(acme, {
      method: 'PUT',
      url: `/v1/contacts/${id}/consents/marketing/sms`,
      headers: { 'x-consentry-source': 'HubSpot' },
      payload: { status: 'opted_out' },
    });
    expect(refusedWith(response).errors).toEqual([{ path: 'headers.x-consentry-source', message: '"hubspot" is not one of api, zapier' }]);
  });
});

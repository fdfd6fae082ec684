import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Bundle, ZObject } from 'zapier-platform-core';
import { z } from 'zod';
import createContact from '../src/creates/create_contact.js';
import recordConsent from '../src/creates/record_consent.js';
import requestConsent from '../src/creates/request_consent.js';
import sendInboundMessage from '../src/creates/send_inbound_message.js';
import tagContact from '../src/creates/tag_contact.js';
import untagContact from '../src/creates/untag_contact.js';
import app from '../src/index.js';
import { CONTACT_ID, contactJson } from './helpers.js';
import { appTester, errorDetails, problem, rejection, requests, route, run, useMockServer } from './support.js';

useMockServer();

const contact = contactJson;

function consentAnswer(status: string, legalBasis: string | null, explanation: string | null) {
  return {
    record: {
      id: '01JQ85K1MBNCPDQERSFTGVHWJX',
      workspaceId: 'ws_1',
      contactId: CONTACT_ID,
      purpose: 'marketing',
      channel: 'email',
      status,
      legalBasis,
      explanation,
      source: 'zapier',
      occurredAt: '2026-03-01T10:00:00.000Z',
      recordedAt: '2026-03-01T10:00:00.000Z',
    },
    created: true,
    current: { purpose: 'marketing', channel: 'email', status },
  };
}

const trail = () => requests.map((request) => `${request.method} ${request.path}`);

describe('record_consent', () => {
  const { perform } = recordConsent.operation;
  const optIn = {
    email: 'ana.test@example.com',
    channel: 'email',
    status: 'opted_in',
    legalBasis: 'CONSENT_WITH_NOTICE',
    explanation: 'Ticked the newsletter box on the checkout form',
  };

  it('finds the contact by email and PUTs the decision (purpose defaults to marketing)', async () => {
    route('get', '/v1/contacts', { body: { data: [contact()], nextCursor: null } });
    route('put', '/v1/contacts/:id/consents/:purpose/:channel', {
      body: consentAnswer('opted_in', 'CONSENT_WITH_NOTICE', optIn.explanation),
    });
    const result = await run(perform, { inputData: { ...optIn, purpose: '' } });
    expect(trail()).toEqual(['GET /v1/contacts', `PUT /v1/contacts/${CONTACT_ID}/consents/marketing/email`]);
    expect(requests[0]?.query.get('email')).toBe('ana.test@example.com');
    expect(requests[1]?.body).toEqual({ status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: optIn.explanation });
    expect(requests[1]?.source).toBe('zapier');
    expect(result).toEqual({
      id: '01JQ85K1MBNCPDQERSFTGVHWJX',
      contactId: CONTACT_ID,
      contactEmail: 'ana.test@example.com',
      contactPhone: '+34600000001',
      purpose: 'marketing',
      channel: 'email',
      status: 'opted_in',
      legalBasis: 'CONSENT_WITH_NOTICE',
      legalBasisLabel: 'Freely given consent from contact',
      explanation: optIn.explanation,
      source: 'zapier',
      occurredAt: '2026-03-01T10:00:00.000Z',
      created: true,
      warnings: '',
    });
  });

  it('creates the contact when no contact has the email', async () => {
    route('get', '/v1/contacts', { body: { data: [], nextCursor: null } });
    route('post', '/v1/contacts', { status: 201, body: contact() });
    route('put', '/v1/contacts/:id/consents/:purpose/:channel', { body: consentAnswer('opted_in', 'CONSENT_WITH_NOTICE', 'x') });
    await run(perform, { inputData: { ...optIn, name: 'Ana Test' } });
    expect(trail()).toEqual(['GET /v1/contacts', 'POST /v1/contacts', `PUT /v1/contacts/${CONTACT_ID}/consents/marketing/email`]);
    expect(requests[1]?.body).toEqual({ name: 'Ana Test', email: 'ana.test@example.com' });
  });

  it('uses the contact ID as given, with a workspace purpose', async () => {
    route('get', `/v1/contacts/${CONTACT_ID}`, { body: contact() });
    route('put', '/v1/contacts/:id/consents/:purpose/:channel', { body: consentAnswer('opted_out', null, null) });
    await run(perform, { inputData: { contactId: CONTACT_ID, purpose: 'product_updates', channel: 'whatsapp', status: 'opted_out' } });
    expect(trail()).toEqual([`GET /v1/contacts/${CONTACT_ID}`, `PUT /v1/contacts/${CONTACT_ID}/consents/product_updates/whatsapp`]);
    expect(requests[1]?.body).toEqual({ status: 'opted_out' });
  });

  it('refuses an opt-in without legal basis and explanation before calling the server', async () => {
    const error = await rejection(run(perform, { inputData: { email: 'ana.test@example.com', channel: 'sms', status: 'opted_in' } }));
    expect(errorDetails(error)).toMatchObject({ name: 'AppError', code: 'INVALID_INPUT' });
    expect(errorDetails(error).message).toContain('legalBasis: required for an opt-in');
    expect(errorDetails(error).message).toContain('explanation: required for an opt-in');
    expect(requests).toHaveLength(0);
  });

  it('quotes a value not in the list as the server does, cut at 80 characters, and words a missing channel as required', async () => {
    const pasted = `${'x'.repeat(80)}and the rest of a pasted paragraph`;
    const long = errorDetails(await rejection(run(perform, { inputData: { ...optIn, channel: pasted } }))).message;
    expect(long).toBe(`Check the step's fields: channel: "${'x'.repeat(80)}"… is not one of whatsapp, sms, email, messenger, telegram, webchat, any`);
    const missing = errorDetails(await rejection(run(perform, { inputData: { ...optIn, channel: '' } }))).message;
    expect(missing).toBe("Check the step's fields: channel: is required: one of whatsapp, sms, email, messenger, telegram, webchat, any");
    expect(requests).toHaveLength(0);
  });

  it('refuses a step with no contact, a bad channel and a bad legal basis, naming each field', async () => {
    const error = await rejection(
      run(perform, { inputData: { channel: 'pigeon', status: 'opted_out', legalBasis: 'BECAUSE' } }),
    );
    const { message } = errorDetails(error);
    expect(message).toContain('email: give a contact ID, an email or a phone number');
    expect(message).toContain('channel: "pigeon" is not one of whatsapp, sms, email, messenger, telegram, webchat, any');
    expect(message).toContain('legalBasis: "BECAUSE" is not one of CONSENT_WITH_NOTICE, LEGITIMATE_INTEREST_PQL,');
    expect(requests).toHaveLength(0);
  });

  it('passes the server’s 422 field messages on', async () => {
    route('get', `/v1/contacts/${CONTACT_ID}`, { body: contact() });
    route(
      'put',
      '/v1/contacts/:id/consents/:purpose/:channel',
      problem(422, 'EXPLANATION_REQUIRED', 'invalid consent change', [{ path: 'explanation', message: 'must not be blank' }]),
    );
    const error = await rejection(run(perform, { inputData: { ...optIn, email: '', contactId: CONTACT_ID } }));
    expect(errorDetails(error)).toMatchObject({ message: 'explanation: must not be blank', status: 422, code: 'EXPLANATION_REQUIRED' });
  });

  it('says "not found" for an unknown contact ID and creates nothing', async () => {
    route('get', '/v1/contacts/:id', problem(404, 'NOT_FOUND', 'contact 01NOPE not found'));
    const error = await rejection(run(perform, { inputData: { ...optIn, email: '', contactId: '01NOPE' } }));
    expect(errorDetails(error)).toMatchObject({ message: 'Not found: contact 01NOPE not found', status: 404 });
    expect(trail()).toEqual(['GET /v1/contacts/01NOPE']);
  });

  it('asks Zapier to retry when the server fails and an idempotency key makes the repeat safe', async () => {
    route('get', '/v1/contacts', { body: { data: [contact()], nextCursor: null } });
    route('put', '/v1/contacts/:id/consents/:purpose/:channel', problem(500, 'INTERNAL', 'boom'));
    expect(errorDetails(await rejection(run(perform, { inputData: { ...optIn, idempotencyKey: 'form-42' } }))).name).toBe('ThrottledError');
  });

  it('does not have Zapier repeat a write without idempotency key after a 5xx that may have recorded it', async () => {
    route('get', '/v1/contacts', { body: { data: [contact()], nextCursor: null } });
    route('put', '/v1/contacts/:id/consents/:purpose/:channel', { status: 504, headers: { 'content-type': 'text/html' } });
    const details = errorDetails(await rejection(run(perform, { inputData: optIn })));
    expect(details).toMatchObject({ name: 'AppError', code: 'OUTCOME_UNKNOWN', status: 504 });
    expect(details.message).toContain('Consentry had a server error (504) while applying this step, so the change may or may not have been applied');
    expect(details.message).toContain('check Consentry before you replay the run');
    expect(details.message).toContain('Map an Idempotency Key');
    expect(trail()).toEqual(['GET /v1/contacts', `PUT /v1/contacts/${CONTACT_ID}/consents/marketing/email`]);
  });

  it('keeps a rate limit (429) retryable without idempotency key: the server refused it before recording', async () => {
    route('get', '/v1/contacts', { body: { data: [contact()], nextCursor: null } });
    route('put', '/v1/contacts/:id/consents/:purpose/:channel', { ...problem(429, 'RATE_LIMITED', 'slow down'), headers: { 'retry-after': '5' } });
    expect(errorDetails(await rejection(run(perform, { inputData: optIn })))).toMatchObject({ name: 'ThrottledError', delay: 5 });
  });

  it('reports an idempotency key reused for a different change as an error, not a halt', async () => {
    const message = 'already used for a different change (it recorded 01JQ85K1MBNCPDQERSFTGVHWJX; this request differs in status)';
    route('get', '/v1/contacts', { body: { data: [contact()], nextCursor: null } });
    route('put', '/v1/contacts/:id/consents/:purpose/:channel', problem(409, 'CONFLICT', `Idempotency key "form-42" was ${message}`, [{ path: 'idempotencyKey', message }]));
    const details = errorDetails(await rejection(run(perform, { inputData: { ...optIn, idempotencyKey: 'form-42' } })));
    expect(details).toMatchObject({ name: 'AppError', code: 'CONFLICT', status: 409, message: `idempotencyKey: ${message}` });
  });
});

describe('record_consent for a contact it would create: what the server would refuse is refused first', () => {
  const { perform } = recordConsent.operation;
  const optOut = { email: 'yan.test@example.com', channel: 'email', status: 'opted_out' };
  const unknownPurpose =
    'unknown purpose "newsletter": this workspace knows privacy, marketing, surveys, loyalty-club (add its own purposes to settings.purposes)';

  /** A server with no contact for the address, that would create one and then refuse the decision as the real server does. */
  function newContactServer(refusal: { path: string; message: string }[] = [{ path: 'purpose', message: unknownPurpose }]): void {
    route('get', '/v1/contacts', { body: { data: [], nextCursor: null } });
    route('get', '/v1/settings', { body: { privacyPolicyUrl: null, purposes: ['surveys', 'loyalty-club'] } });
    route('post', '/v1/contacts', { status: 201, body: contact({ email: 'yan.test@example.com', phone: null }) });
    route('put', '/v1/contacts/:id/consents/:purpose/:channel', problem(422, 'VALIDATION_FAILED', 'refused', refusal));
  }

  it('refuses a purpose the workspace does not know before creating the contact, in the server’s words and with its code', async () => {
    newContactServer();
    const details = errorDetails(await rejection(run(perform, { inputData: { ...optOut, purpose: 'newsletter' } })));
    expect(details).toEqual({ name: 'AppError', message: `purpose: ${unknownPurpose}`, code: 'VALIDATION_FAILED', status: 422 });
    expect(trail()).toEqual(['GET /v1/contacts', 'GET /v1/settings']);
  });

  it('creates the contact for a purpose of the workspace’s own, then records the decision', async () => {
    newContactServer();
    route('put', '/v1/contacts/:id/consents/:purpose/:channel', { body: consentAnswer('opted_out', null, null) });
    await run(perform, { inputData: { ...optOut, purpose: 'loyalty-club' } });
    expect(trail()).toEqual(['GET /v1/contacts', 'GET /v1/settings', 'POST /v1/contacts', `PUT /v1/contacts/${CONTACT_ID}/consents/loyalty-club/email`]);
  });

  it('leaves the purpose to the server for a contact that exists, which a refused decision leaves as it is', async () => {
    route('get', '/v1/contacts', { body: { data: [contact()], nextCursor: null } });
    route('put', '/v1/contacts/:id/consents/:purpose/:channel', problem(422, 'VALIDATION_FAILED', 'refused', [{ path: 'purpose', message: unknownPurpose }]));
    const details = errorDetails(await rejection(run(perform, { inputData: { ...optOut, purpose: 'newsletter' } })));
    expect(details).toEqual({ name: 'AppError', message: `purpose: ${unknownPurpose}`, code: 'VALIDATION_FAILED', status: 422 });
    expect(trail()).toEqual(['GET /v1/contacts', `PUT /v1/contacts/${CONTACT_ID}/consents/newsletter/email`]);
  });

  it('refuses a decision time before 1970 before creating the contact, naming an unknown purpose with it as the server does', async () => {
    const early = '"1969-12-31T23:59:59Z" is before 1970-01-01T00:00:00Z';
    newContactServer([{ path: 'occurredAt', message: early }]);
    const alone = errorDetails(await rejection(run(perform, { inputData: { ...optOut, occurredAt: '1969-12-31T23:59:59Z' } })));
    expect(alone).toEqual({ name: 'AppError', message: `occurredAt: ${early}`, code: 'VALIDATION_FAILED', status: 422 });
    expect(trail()).toEqual(['GET /v1/contacts']);
    const both = errorDetails(await rejection(run(perform, { inputData: { ...optOut, purpose: 'newsletter', occurredAt: '1969-12-31T23:59:59Z' } })));
    expect(both.message).toBe(`occurredAt: ${early}; purpose: ${unknownPurpose}`);
    expect(trail()).not.toContain('POST /v1/contacts');
  });

  describe('a decision time ahead of the clock', () => {
    beforeEach(() => {
      vi.useFakeTimers({ toFake: ['Date'], now: new Date('2026-03-01T10:00:00.000Z') });
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    it('is refused before creating the contact when it is more than the server’s five minutes ahead, and a minute more', async () => {
      const ahead = '"2026-03-01T11:07:00+01:00" is more than 5 minutes after the time of recording (2026-03-01T10:00:00.000Z)';
      newContactServer([{ path: 'occurredAt', message: ahead }]);
      const details = errorDetails(await rejection(run(perform, { inputData: { ...optOut, occurredAt: '2026-03-01T11:07:00+01:00' } })));
      expect(details).toEqual({ name: 'AppError', message: `occurredAt: ${ahead}`, code: 'VALIDATION_FAILED', status: 422 });
      expect(trail()).toEqual(['GET /v1/contacts']);
    });

    it('is left to the server within a minute of its limit, where the two clocks may disagree', async () => {
      newContactServer();
      route('put', '/v1/contacts/:id/consents/:purpose/:channel', { body: consentAnswer('opted_out', null, null) });
      await run(perform, { inputData: { ...optOut, occurredAt: '2026-03-01T10:05:30Z' } });
      expect(trail()).toEqual(['GET /v1/contacts', 'POST /v1/contacts', `PUT /v1/contacts/${CONTACT_ID}/consents/marketing/email`]);
    });
  });
});

describe('tag_contact and untag_contact', () => {
  it('tags a contact found by phone, creating it when missing', async () => {
    route('get', '/v1/contacts', { body: { data: [], nextCursor: null } });
    route('post', '/v1/contacts', { status: 201, body: contact({ email: null }) });
    route('post', '/v1/contacts/:id/tags', ({ body }) => ({ body: contact({ email: null, tags: ['VIP'], echo: body }) }));
    const result = await run(tagContact.operation.perform, { inputData: { phone: '+34600000001', tag: 'VIP' } });
    expect(trail()).toEqual(['GET /v1/contacts', 'POST /v1/contacts', `POST /v1/contacts/${CONTACT_ID}/tags`]);
    expect(requests[0]?.query.get('phone')).toBe('+34600000001');
    expect(requests[2]?.body).toEqual({ tag: 'VIP' });
    expect(result).toMatchObject({ id: CONTACT_ID, email: null, tags: ['VIP'], tagList: 'VIP' });
  });

  it('does not create a contact to give it Consent: Privacy, which a new contact cannot have, and points to Record Consent', async () => {
    route('get', '/v1/contacts', { body: { data: [], nextCursor: null } });
    route('post', '/v1/contacts', { status: 201, body: contact() });
    const error = await rejection(run(tagContact.operation.perform, { inputData: { email: 'new.lead@example.com', tag: ' consent:  PRIVACY ' } }));
    expect(errorDetails(error)).toMatchObject({ name: 'AppError', code: 'TAG_NEEDS_CONSENT', status: 422 });
    expect(errorDetails(error).message).toContain('use Record Consent with purpose privacy instead, which creates the contact and adds the tag');
    expect(trail()).toEqual(['GET /v1/contacts']);
  });

  it('refuses a tag with a control character in the server’s words, before any call: such a tag is not Consent: Privacy', async () => {
    const error = await rejection(run(tagContact.operation.perform, { inputData: { email: 'new.lead@example.com', tag: 'Consent:\tPrivacy' } }));
    expect(errorDetails(error)).toMatchObject({
      name: 'AppError',
      code: 'INVALID_INPUT',
      status: 400,
      message: "Check the step's fields: tag contains U+0009, a control character",
    });
    expect(trail()).toEqual([]);
  });

  it('refuses a tag with a bidirectional formatting character, for an existing contact too', async () => {
    const error = await rejection(run(tagContact.operation.perform, { inputData: { contactId: CONTACT_ID, tag: 'Consent: Privacy\u202e' } }));
    expect(errorDetails(error)).toMatchObject({
      code: 'INVALID_INPUT',
      message: "Check the step's fields: tag contains U+202E, a bidirectional formatting character",
    });
    expect(trail()).toEqual([]);
  });

  it('names the field once in the server’s refusal of the privacy tag for a contact that exists', async () => {
    const words = 'tag "Consent: Privacy" follows the contact\'s privacy decision, and no privacy decision is recorded';
    route('get', '/v1/contacts', { body: { data: [contact()], nextCursor: null } });
    route('post', '/v1/contacts/:id/tags', problem(422, 'TAG_NEEDS_CONSENT', 'invalid tag', [{ path: 'tag', message: words }]));
    const error = await rejection(run(tagContact.operation.perform, { inputData: { email: 'ana.test@example.com', tag: 'Consent: Privacy' } }));
    expect(errorDetails(error)).toMatchObject({ code: 'TAG_NEEDS_CONSENT', status: 422, message: words });
  });

  it('says the tag is Consent: Privacy only when it is spelt otherwise, as the server does', async () => {
    route('get', '/v1/contacts', { body: { data: [], nextCursor: null } });
    const refusal = async (tag: string) =>
      errorDetails(await rejection(run(tagContact.operation.perform, { inputData: { email: 'new.lead@example.com', tag } }))).message;
    expect(await refusal('Consent: Privacy')).toBe(
      'Tag "Consent: Privacy" is added by Consentry when the contact\'s privacy consent is recorded, and no Consentry contact has these details yet, ' +
        'so none is recorded: use Record Consent with purpose privacy instead, which creates the contact and adds the tag',
    );
    expect(await refusal('CONSENT: PRIVACY')).toMatch(/^Tag "CONSENT: PRIVACY" is Consent: Privacy, which Consentry adds when the contact's privacy consent is recorded, /);
  });

  it('keeps the not-found answer for a contact ID no contact has, with Consent: Privacy too', async () => {
    route('get', `/v1/contacts/${CONTACT_ID}`, problem(404, 'NOT_FOUND', `Contact ${CONTACT_ID} not found`));
    const error = await rejection(run(tagContact.operation.perform, { inputData: { contactId: CONTACT_ID, tag: 'Consent: Privacy' } }));
    expect(errorDetails(error)).toMatchObject({ code: 'NOT_FOUND', status: 404 });
    expect(trail()).toEqual([`GET /v1/contacts/${CONTACT_ID}`]);
  });

  it('sends Consent: Privacy for a contact that exists, for the server to decide on its privacy decision', async () => {
    route('get', '/v1/contacts', { body: { data: [contact({ tags: ['Consent: Privacy'] })], nextCursor: null } });
    route('post', '/v1/contacts/:id/tags', { body: contact({ tags: ['Consent: Privacy'] }) });
    const result = await run(tagContact.operation.perform, { inputData: { email: 'ana.test@example.com', tag: 'Consent: Privacy' } });
    expect(trail()).toEqual(['GET /v1/contacts', `POST /v1/contacts/${CONTACT_ID}/tags`]);
    expect(result).toMatchObject({ id: CONTACT_ID, tagList: 'Consent: Privacy' });
  });

  it('requires a tag', async () => {
    const error = await rejection(run(tagContact.operation.perform, { inputData: { contactId: CONTACT_ID, tag: '  ' } }));
    expect(errorDetails(error).message).toContain('tag: is required');
  });

  it('removes a tag with its name percent-encoded in the path', async () => {
    route('get', '/v1/contacts', { body: { data: [contact({ tags: ['Consent: Privacy', 'VIP'] })], nextCursor: null } });
    route('delete', '/v1/contacts/:id/tags/:tag', { body: contact({ tags: ['VIP'] }) });
    const result = await run(untagContact.operation.perform, { inputData: { email: 'ana.test@example.com', tag: 'Consent: Privacy' } });
    expect(trail()).toEqual(['GET /v1/contacts', `DELETE /v1/contacts/${CONTACT_ID}/tags/Consent%3A%20Privacy`]);
    expect(result).toMatchObject({ tags: ['VIP'], tagList: 'VIP' });
  });

  it('does not create a contact just to untag it', async () => {
    route('get', '/v1/contacts', { body: { data: [], nextCursor: null } });
    const error = await rejection(run(untagContact.operation.perform, { inputData: { email: 'nobody@example.com', tag: 'VIP' } }));
    expect(errorDetails(error)).toMatchObject({ message: 'Not found: no Consentry contact has nobody@example.com', status: 404 });
    expect(trail()).toEqual(['GET /v1/contacts']);
  });
});

describe('send_inbound_message', () => {
  const { perform } = sendInboundMessage.operation;
  const answer = {
    contactId: CONTACT_ID,
    conversationId: null,
    replies: [{ text: 'You have been unsubscribed.' }, { text: 'Reply START to subscribe again.' }],
    events: [{ id: '01JQ8000000000000000000EV9', type: 'consent.withdrawn', data: {} }],
    keyword: null,
    duplicate: false,
  };

  it('posts the message as a channel webhook would and returns the replies', async () => {
    route('post', '/v1/messages', { body: answer });
    const result = await run(perform, {
      inputData: { channel: 'whatsapp', phone: '+34600000001', name: 'Ana Test', text: 'STOP', messageId: 'wamid.1' },
    });
    expect(requests[0]?.body).toEqual({
      channel: 'whatsapp',
      messageId: 'wamid.1',
      from: { id: '34600000001', phone: '+34600000001', name: 'Ana Test' },
      text: 'STOP',
    });
    expect(result).toEqual({
      id: 'wamid.1',
      messageId: 'wamid.1',
      contactId: CONTACT_ID,
      conversationId: null,
      replies: [{ text: 'You have been unsubscribed.' }, { text: 'Reply START to subscribe again.' }],
      replyText: 'You have been unsubscribed.\nReply START to subscribe again.',
      replyCount: 2,
      eventTypes: 'consent.withdrawn',
      warnings: '',
    });
  });

  it('tells the server the Zap sends none of the replies when the outbound webhook sends them, and nothing otherwise', async () => {
    route('post', '/v1/messages', { body: answer });
    route('get', '/v1/settings', { body: { privacyPolicyUrl: 'https://example.com/privacy', purposes: [], outboundWebhookUrl: 'https://example.com/outbound' } });
    const base = { channel: 'sms', senderId: 'sender-1', text: 'STOP' };
    await run(perform, { inputData: { ...base, messageId: 'SM1', repliesSentBy: 'outbound_webhook' } });
    await run(perform, { inputData: { ...base, messageId: 'SM2', repliesSentBy: 'later_step' } });
    await run(perform, { inputData: { ...base, messageId: 'SM3', repliesSentBy: '' } });
    const posted = requests.filter((request) => request.method === 'POST');
    expect(posted[0]?.body).toEqual({ channel: 'sms', messageId: 'SM1', from: { id: 'sender-1' }, text: 'STOP', inAnswer: false });
    for (const request of posted.slice(1)) expect(request.body).not.toHaveProperty('inAnswer');
    const refused = errorDetails(await rejection(run(perform, { inputData: { ...base, repliesSentBy: 'webhook' } })));
    expect(refused.message).toBe('Check the step\'s fields: repliesSentBy: "webhook" is not one of later_step, outbound_webhook');
    expect(requests.filter((request) => request.method === 'POST')).toHaveLength(3);
  });

  it('refuses to leave the replies to the outbound webhook of a workspace that has none, before sending the message', async () => {
    route('post', '/v1/messages', { body: answer });
    route('get', '/v1/settings', { body: { privacyPolicyUrl: null, purposes: [], outboundWebhookUrl: null } });
    const refused = errorDetails(await rejection(run(perform, { inputData: { channel: 'sms', senderId: 'sender-1', text: 'STOP', messageId: 'SM4', repliesSentBy: 'outbound_webhook' } })));
    expect(refused).toMatchObject({ code: 'VALIDATION_FAILED', status: 422 });
    expect(refused.message).toContain('repliesSentBy: is outbound_webhook, but the workspace has no outbound webhook (settings.outboundWebhookUrl), so nobody would send the messages');
    expect(requests.filter((request) => request.method === 'POST')).toEqual([]);
  });

  it('sends the sender id in the channel’s own form when the Zap gives only a phone', async () => {
    route('post', '/v1/messages', { body: answer });
    const from = async (channel: string, phone: string) => {
      requests.length = 0;
      await run(perform, { inputData: { channel, phone, text: 'STOP', messageId: `m-${channel}` } });
      return z.object({ from: z.object({ id: z.string(), phone: z.string() }) }).parse(requests[0]?.body).from;
    };
    expect(await from('whatsapp', '+34 600 000 001')).toEqual({ id: '34600000001', phone: '+34 600 000 001' });
    expect(await from('whatsapp', '+34 (600) 000-001')).toEqual({ id: '34600000001', phone: '+34 (600) 000-001' });
    expect(await from('sms', '+34 600 000 001')).toEqual({ id: '+34600000001', phone: '+34 600 000 001' });
    // Without its country code a number cannot become a WhatsApp id: it goes as written.
    expect(await from('whatsapp', '600 000 001')).toEqual({ id: '600 000 001', phone: '600 000 001' });
  });

  it('fails with the server’s words when the message was not processed (its Message ID was used by another message)', async () => {
    const reused =
      'already used on this channel by a message with another sender, text or button: this is the answer to that first message, and this one was not processed';
    route('post', '/v1/messages', {
      body: {
        ...answer,
        replies: [{ text: 'You are subscribed and will receive our messages.' }],
        events: [{ id: '01JQ8000000000000000000EV8', type: 'consent.given' }],
        warnings: [{ path: 'messageId', message: reused }],
      },
    });
    const details = errorDetails(await rejection(run(perform, { inputData: { channel: 'sms', phone: '+34600000001', text: 'STOP', messageId: 'thread-7' } })));
    expect(details).toMatchObject({ name: 'AppError', code: 'MESSAGE_NOT_PROCESSED' });
    expect(details.message).toContain(`Consentry did not process this message: messageId: ${reused}`);
    expect(details.message).toContain('Map a Message ID that is unique to each message');
  });

  it('passes the server’s other warnings on as readable text', async () => {
    const ignored = '"+34 606 12" is not a valid phone number; ignored, the message was processed without it';
    route('post', '/v1/messages', { body: { ...answer, warnings: [{ path: 'from.phone', message: ignored }, { path: 'timestamp', message: 'is before 1970; ignored' }] } });
    const result = await run(perform, { inputData: { channel: 'sms', senderId: 'sender-1', phone: '+34 606 12', text: 'STOP' } });
    expect(result).toMatchObject({ contactId: CONTACT_ID, warnings: `from.phone: ${ignored}\ntimestamp: is before 1970; ignored` });
  });

  it('does not have Zapier repeat a message without the source tool’s Message ID after a 5xx', async () => {
    route('post', '/v1/messages', problem(502, 'BAD_GATEWAY', 'upstream closed'));
    const details = errorDetails(await rejection(run(perform, { inputData: { channel: 'sms', senderId: 'sender-1', text: 'STOP' } })));
    expect(details).toMatchObject({ name: 'AppError', code: 'OUTCOME_UNKNOWN', status: 502 });
    expect(details.message).toContain('Map the source tool’s Message ID');
    const withId = errorDetails(await rejection(run(perform, { inputData: { channel: 'sms', senderId: 'sender-1', text: 'STOP', messageId: 'SM1' } })));
    expect(withId.name).toBe('ThrottledError');
  });

  it('makes up a fresh message id when the source tool gives none', async () => {
    route('post', '/v1/messages', { body: answer });
    const input = { inputData: { channel: 'sms', senderId: 'sender-1', button: 'AGREE & PROCEED' } };
    await run(perform, input);
    await run(perform, input);
    const ids = requests.map((request) => z.object({ messageId: z.string() }).parse(request.body).messageId);
    expect(ids[0]).toMatch(/^zapier-/);
    expect(ids[1]).toMatch(/^zapier-/);
    expect(ids[0]).not.toBe(ids[1]);
    expect(requests[0]?.body).toMatchObject({ from: { id: 'sender-1' }, button: 'AGREE & PROCEED' });
  });

  it('needs a sender and some text or a button', async () => {
    const error = await rejection(run(perform, { inputData: { channel: 'sms' } }));
    const { message } = errorDetails(error);
    expect(message).toContain('senderId:');
    expect(message).toContain('text: a message needs text or a button');
    expect(requests).toHaveLength(0);
  });

  it('refuses "any" as the channel a message arrived on', async () => {
    const error = await rejection(run(perform, { inputData: { channel: 'any', phone: '+34600000001', text: 'hi' } }));
    expect(errorDetails(error).message).toContain('channel: "any" is not one of whatsapp, sms, email, messenger, telegram, webchat');
  });
});

describe('request_consent', () => {
  it('starts the request-consent-privacy workflow for the contact', async () => {
    route('get', '/v1/contacts', { body: { data: [contact()], nextCursor: null } });
    route('post', '/v1/workflows/request-consent-privacy/runs', {
      status: 201,
      body: {
        runId: '01JQ86M2NCPDQERSFTGVHWJXKY',
        conversationId: '01JQ86M2NCPDQERSFTGVHWJXKZ',
        replies: [{ text: 'Our privacy policy: https://example.com/privacy' }, { text: 'Do you agree?', options: [{ label: 'AGREE & PROCEED' }] }],
        events: [{ id: '01JQ8000000000000000000EVA', type: 'conversation.opened' }],
      },
    });
    const result = await run(requestConsent.operation.perform, { inputData: { email: 'ana.test@example.com', channel: 'whatsapp' } });
    expect(requests[1]?.body).toEqual({ contactId: CONTACT_ID, channel: 'whatsapp' });
    expect(result).toMatchObject({
      id: '01JQ86M2NCPDQERSFTGVHWJXKY',
      contactId: CONTACT_ID,
      channel: 'whatsapp',
      alreadyAgreed: false,
      outcome: expect.stringMatching(/^Started on whatsapp: send the messages below to the contact/),
      replyText: 'Our privacy policy: https://example.com/privacy\nDo you agree?',
      eventTypes: 'conversation.opened',
    });
  });

  it('says in its output when the contact already agreed and was not asked again', async () => {
    route('get', '/v1/contacts', { body: { data: [contact({ tags: ['consent:  PRIVACY'] })], nextCursor: null } });
    route('post', '/v1/workflows/request-consent-privacy/runs', {
      status: 201,
      body: { runId: '01JQ86M2NCPDQERSFTGVHWJXKY', conversationId: '01JQ86M2NCPDQERSFTGVHWJXKZ', replies: [], events: [] },
    });
    const result = await run(requestConsent.operation.perform, { inputData: { email: 'ana.test@example.com', channel: 'whatsapp' } });
    expect(result).toMatchObject({
      alreadyAgreed: true,
      outcome: 'Not asked: the contact already agreed to the privacy policy (tagged "Consent: Privacy")',
      replyText: '',
    });
  });

  it('reads that the contact already agreed from the server’s outcome, "skipped", whatever tags the contact had when found', async () => {
    const start = (outcome: string | null) =>
      route('post', '/v1/workflows/request-consent-privacy/runs', {
        status: 201,
        body: { runId: '01JQ86M2NCPDQERSFTGVHWJXKY', conversationId: outcome === 'skipped' ? null : '01JQ86M2NCPDQERSFTGVHWJXKZ', outcome, replies: [], events: [] },
      });
    const input = { inputData: { email: 'ana.test@example.com', channel: 'whatsapp' } };
    // Tagged between the look-up and the start: the server skipped the question all the same.
    route('get', '/v1/contacts', { body: { data: [contact()], nextCursor: null } });
    start('skipped');
    expect(await run(requestConsent.operation.perform, input)).toMatchObject({
      alreadyAgreed: true,
      conversationId: null,
      outcome: 'Not asked: the contact already agreed to the privacy policy (tagged "Consent: Privacy")',
    });
    // The tag taken away meanwhile: the run waits for an answer, so the contact was asked.
    route('get', '/v1/contacts', { body: { data: [contact({ tags: ['Consent: Privacy'] })], nextCursor: null } });
    start(null);
    expect(await run(requestConsent.operation.perform, input)).toMatchObject({ alreadyAgreed: false, outcome: expect.stringMatching(/^Started on whatsapp: /) });
    start('done');
    expect(await run(requestConsent.operation.perform, input)).toMatchObject({ alreadyAgreed: false });
  });

  it('leaves the messages to the outbound webhook when told to: inAnswer false, and an outcome that needs no later step', async () => {
    route('get', '/v1/contacts', { body: { data: [contact()], nextCursor: null } });
    route('get', '/v1/settings', { body: { privacyPolicyUrl: 'https://example.com/privacy', purposes: [], outboundWebhookUrl: 'https://example.com/outbound' } });
    route('post', '/v1/workflows/request-consent-privacy/runs', {
      status: 201,
      body: { runId: '01JQ86M2NCPDQERSFTGVHWJXKY', conversationId: '01JQ86M2NCPDQERSFTGVHWJXKZ', outcome: null, replies: [{ text: 'Do you agree?' }], events: [] },
    });
    const result = await run(requestConsent.operation.perform, {
      inputData: { email: 'ana.test@example.com', channel: 'whatsapp', repliesSentBy: 'outbound_webhook' },
    });
    const starts = () => requests.filter((request) => request.method === 'POST').map((request) => request.body);
    expect(starts()).toEqual([{ contactId: CONTACT_ID, channel: 'whatsapp', inAnswer: false }]);
    expect(result).toMatchObject({
      alreadyAgreed: false,
      outcome:
        "Started on whatsapp: your workspace's outbound webhook sends the messages below to the contact to ask them to agree to the privacy policy (no later step needed)",
      replyText: 'Do you agree?',
    });
    await run(requestConsent.operation.perform, { inputData: { email: 'ana.test@example.com', channel: 'whatsapp', repliesSentBy: 'later_step' } });
    expect(starts()[1]).toEqual({ contactId: CONTACT_ID, channel: 'whatsapp' });
  });

  it('reads the settings once for a new lead whose messages the outbound webhook sends', async () => {
    route('get', '/v1/contacts', { body: { data: [], nextCursor: null } });
    route('get', '/v1/settings', { body: { privacyPolicyUrl: 'https://example.com/privacy', purposes: [], outboundWebhookUrl: 'https://example.com/outbound' } });
    route('post', '/v1/contacts', { status: 201, body: contact() });
    route('post', '/v1/workflows/request-consent-privacy/runs', {
      status: 201,
      body: { runId: '01JQ86M2NCPDQERSFTGVHWJXKY', conversationId: '01JQ86M2NCPDQERSFTGVHWJXKZ', outcome: null, replies: [{ text: 'Do you agree?' }], events: [] },
    });
    await run(requestConsent.operation.perform, { inputData: { email: 'ana.test@example.com', channel: 'email', repliesSentBy: 'outbound_webhook' } });
    expect(trail()).toEqual(['GET /v1/settings', 'GET /v1/contacts', 'POST /v1/contacts', 'POST /v1/workflows/request-consent-privacy/runs']);
  });

  it('refuses to leave the messages to the outbound webhook of a workspace that has none, before it finds or makes the contact', async () => {
    route('get', '/v1/settings', { body: { privacyPolicyUrl: 'https://example.com/privacy', purposes: [], outboundWebhookUrl: null } });
    const refused = errorDetails(
      await rejection(run(requestConsent.operation.perform, { inputData: { email: 'new.lead@example.com', channel: 'whatsapp', repliesSentBy: 'outbound_webhook' } })),
    );
    expect(refused).toMatchObject({ code: 'VALIDATION_FAILED', status: 422 });
    expect(refused.message).toContain('repliesSentBy: is outbound_webhook, but the workspace has no outbound webhook');
    expect(requests.map((request) => `${request.method} ${request.path}`)).toEqual(['GET /v1/settings']);
  });

  it('halts, not errors, when the contact opted out or a request is already running (409)', async () => {
    route('get', `/v1/contacts/${CONTACT_ID}`, { body: contact() });
    route(
      'post',
      '/v1/workflows/request-consent-privacy/runs',
      problem(409, 'CONFLICT', `Contact ${CONTACT_ID} opted out of messages on whatsapp at 2026-03-01T09:00:00.000Z and has not written there since`),
    );
    const optedOut = await rejection(run(requestConsent.operation.perform, { inputData: { contactId: CONTACT_ID, channel: 'whatsapp' } }));
    expect(optedOut.name).toBe('HaltedError');
    expect(optedOut.message).toContain(`Consentry refused this step: Contact ${CONTACT_ID} opted out of messages on whatsapp`);
    route('post', '/v1/workflows/request-consent-privacy/runs', problem(409, 'CONFLICT', 'Workflow "request-consent-privacy" is already running for this contact on whatsapp'));
    const running = await rejection(run(requestConsent.operation.perform, { inputData: { contactId: CONTACT_ID, channel: 'whatsapp' } }));
    expect(running.name).toBe('HaltedError');
    expect(running.message).toContain('is already running');
  });

  describe('when the start’s outcome is unclear', () => {
    const start = '/v1/workflows/request-consent-privacy/runs';
    const input = { inputData: { contactId: CONTACT_ID, channel: 'whatsapp' } };
    const started = { status: 201, body: { runId: '01JQ86M2NCPDQERSFTGVHWJXKY', conversationId: null, replies: [{ text: 'Do you agree?' }], events: [] } };
    const alreadyRunning = problem(
      409,
      'CONFLICT',
      'Workflow "request-consent-privacy" is already running for this contact on whatsapp (run 01JQ86M2NCPDQERSFTGVHWJXKY); a new run can start once it ends',
    );
    // What this app remembered in zcache stays within each test.
    beforeEach(() => Reflect.set(appTester, 'zcacheTestObj', {}));
    afterEach(() => Reflect.set(appTester, 'zcacheTestObj', {}));

    it('fails loudly (OUTCOME_UNKNOWN), not a replay that would halt on "already running", after a 5xx: the workflow may have started', async () => {
      route('get', `/v1/contacts/${CONTACT_ID}`, { body: contact() });
      route('post', start, problem(503, 'UNAVAILABLE', 'database is restarting'));
      const details = errorDetails(await rejection(run(requestConsent.operation.perform, input)));
      expect(details).toMatchObject({ name: 'AppError', code: 'OUTCOME_UNKNOWN', status: 503 });
      expect(details.message).toContain('Consentry had a server error (503: database is restarting) while applying this step, so the "Request Consent: Privacy" workflow may have started');
      expect(details.message).toContain(`for contact ${CONTACT_ID} on whatsapp without this step getting the messages to send`);
      expect(details.message).toContain("Check the contact's events in Consentry before you replay this run");
      expect(details.message).not.toContain('Zapier will retry');
      // A later step sends the messages: none went out through the outbound webhook.
      expect(details.message).not.toContain('outbound webhook');
    });

    it('says the contact was asked already only when the step leaves the messages to the outbound webhook', async () => {
      route('get', `/v1/contacts/${CONTACT_ID}`, { body: contact() });
      route('get', '/v1/settings', { body: { privacyPolicyUrl: 'https://example.com/privacy', purposes: [], outboundWebhookUrl: 'https://example.com/outbound' } });
      route('post', start, problem(503, 'UNAVAILABLE', 'database is restarting'));
      const details = errorDetails(await rejection(run(requestConsent.operation.perform, { inputData: { ...input.inputData, repliesSentBy: 'outbound_webhook' } })));
      expect(details).toMatchObject({ name: 'AppError', code: 'OUTCOME_UNKNOWN', status: 503 });
      expect(details.message).toContain(
        `the "Request Consent: Privacy" workflow may have started for contact ${CONTACT_ID} on whatsapp; if it did, your workspace's outbound webhook got its messages to send to the contact`,
      );
      expect(details.message).toContain("Check the contact's events in Consentry before you replay this run: if the workflow started, the contact was asked already.");
      expect(details.message).not.toContain('without this step getting the messages');
    });

    it('halts on "already running" after an unclear start whose messages the outbound webhook sends: none were lost', async () => {
      const viaWebhook = { inputData: { ...input.inputData, repliesSentBy: 'outbound_webhook' } };
      route('get', `/v1/contacts/${CONTACT_ID}`, { body: contact() });
      route('get', '/v1/settings', { body: { privacyPolicyUrl: 'https://example.com/privacy', purposes: [], outboundWebhookUrl: 'https://example.com/outbound' } });
      route('post', start, problem(500, 'INTERNAL', 'lost'));
      expect(errorDetails(await rejection(run(requestConsent.operation.perform, viaWebhook))).code).toBe('OUTCOME_UNKNOWN');
      route('post', start, alreadyRunning);
      expect((await rejection(run(requestConsent.operation.perform, viaWebhook))).name).toBe('HaltedError');
      // Nor does it make a later step's replay fail: that running workflow's messages went out.
      expect((await rejection(run(requestConsent.operation.perform, input))).name).toBe('HaltedError');
    });

    it('fails, not halts, on "already running" after an unclear start for that contact and channel; halts again once a start went through', async () => {
      route('get', `/v1/contacts/${CONTACT_ID}`, { body: contact() });
      route('post', start, problem(500, 'INTERNAL', 'lost'));
      expect(errorDetails(await rejection(run(requestConsent.operation.perform, input))).code).toBe('OUTCOME_UNKNOWN');
      route('post', start, alreadyRunning);
      const replay = errorDetails(await rejection(run(requestConsent.operation.perform, input)));
      expect(replay).toMatchObject({ name: 'AppError', code: 'RUN_OUTCOME_UNKNOWN', status: 409 });
      expect(replay.message).toContain('is already running for this contact on whatsapp');
      expect(replay.message).toContain('An earlier attempt to start it for this contact on whatsapp ended without an answer');
      // Another channel had no unclear start: its refusal is the usual halt.
      const onSms = await rejection(run(requestConsent.operation.perform, { inputData: { contactId: CONTACT_ID, channel: 'sms' } }));
      expect(onSms.name).toBe('HaltedError');
      // A start that goes through ends what was remembered.
      route('post', start, started);
      expect(await run(requestConsent.operation.perform, input)).toMatchObject({ runId: '01JQ86M2NCPDQERSFTGVHWJXKY', replyText: 'Do you agree?' });
      route('post', start, alreadyRunning);
      expect((await rejection(run(requestConsent.operation.perform, input))).name).toBe('HaltedError');
    });

    it('still fails loudly when Zapier’s cache cannot be reached, and then keeps the usual halt', async () => {
      const broken: ZObject['cache'] = {
        get: () => Promise.reject(new Error('zcache is down')),
        set: () => Promise.reject(new Error('zcache is down')),
        delete: () => Promise.reject(new Error('zcache is down')),
      };
      const requestPerform = requestConsent.operation.perform;
      if (typeof requestPerform !== 'function') throw new Error('request_consent has no perform function');
      const perform = (zObject: ZObject, bundle: Bundle) => requestPerform({ ...zObject, cache: broken }, bundle);
      route('get', `/v1/contacts/${CONTACT_ID}`, { body: contact() });
      route('post', start, problem(502, 'BAD_GATEWAY', 'upstream down'));
      expect(errorDetails(await rejection(run(perform, input))).code).toBe('OUTCOME_UNKNOWN');
      route('post', start, alreadyRunning);
      expect((await rejection(run(perform, input))).name).toBe('HaltedError');
    });
  });

  it('passes an unknown template or contact 404 on as "not found"', async () => {
    route('get', `/v1/contacts/${CONTACT_ID}`, { body: contact() });
    route('post', '/v1/workflows/request-consent-privacy/runs', problem(404, 'UNKNOWN_TEMPLATE', 'no template request-consent-privacy'));
    const error = await rejection(run(requestConsent.operation.perform, { inputData: { contactId: CONTACT_ID, channel: 'sms' } }));
    expect(errorDetails(error).message).toBe('Not found: no template request-consent-privacy');
  });
});

describe('a write that is not safe to retry, answered 503 with a code that says nothing changed', () => {
  // The server's three 503s that change nothing (src/server/problem.ts, src/store/sqlite.ts), each with its Retry-After.
  const nothingChanged = [
    ['STORE_BUSY', 'the write lock', '/data/consentry.db is locked by another process for writing (database is locked); gave up after 5000 ms: try again', '1'],
    ['STORE_BUSY', 'a rolled-back commit group', 'The database rolled this request back for another write that failed beside it; nothing changed: try again', '1'],
    ['STORE_FULL', 'a full disk', '/data/consentry.db cannot grow: the disk is full (database or disk is full); nothing was changed: free some space and try again', '30'],
  ] as const;
  const refusal = (code: string, detail: string, retryAfter: string) => ({ ...problem(503, code, detail), headers: { 'retry-after': retryAfter } });
  const start = '/v1/workflows/request-consent-privacy/runs';
  const privacyRequest = { inputData: { contactId: CONTACT_ID, channel: 'whatsapp' } };

  beforeEach(() => Reflect.set(appTester, 'zcacheTestObj', {}));
  afterEach(() => Reflect.set(appTester, 'zcacheTestObj', {}));

  const writes: [string, (answer: ReturnType<typeof refusal>) => Promise<unknown>][] = [
    [
      'Record Consent without an Idempotency Key',
      (answer) => {
        route('get', '/v1/contacts', { body: { data: [contact()], nextCursor: null } });
        route('put', '/v1/contacts/:id/consents/:purpose/:channel', answer);
        return run(recordConsent.operation.perform, { inputData: { email: 'ana.test@example.com', channel: 'sms', status: 'opted_out' } });
      },
    ],
    [
      'Send Inbound Message without a Message ID',
      (answer) => {
        route('post', '/v1/messages', answer);
        return run(sendInboundMessage.operation.perform, { inputData: { channel: 'sms', senderId: 'sender-1', text: 'STOP' } });
      },
    ],
    [
      'Request Privacy Consent',
      (answer) => {
        route('get', `/v1/contacts/${CONTACT_ID}`, { body: contact() });
        route('post', start, answer);
        return run(requestConsent.operation.perform, privacyRequest);
      },
    ],
  ];

  describe.each(writes)('%s', (_write, attempt) => {
    it.each(nothingChanged)('is replayed by Zapier after Retry-After on a 503 %s (%s), as the server asks', async (code, _why, detail, retryAfter) => {
      const details = errorDetails(await rejection(attempt(refusal(code, detail, retryAfter))));
      expect(details).toMatchObject({ name: 'ThrottledError', delay: Number(retryAfter) });
      expect(details.message).toBe(`Consentry had a server error (503): ${detail}. Zapier will retry in ${retryAfter} s.`);
    });
  });

  it.each(nothingChanged)(
    'Request Privacy Consent remembers no unclear start after a 503 %s (%s): a later "already running" halts as usual',
    async (code, _why, detail, retryAfter) => {
      route('get', `/v1/contacts/${CONTACT_ID}`, { body: contact() });
      route('post', start, refusal(code, detail, retryAfter));
      expect(errorDetails(await rejection(run(requestConsent.operation.perform, privacyRequest))).name).toBe('ThrottledError');
      expect(Reflect.get(appTester, 'zcacheTestObj')).toEqual({});
      route('post', start, problem(409, 'CONFLICT', 'Workflow "request-consent-privacy" is already running for this contact on whatsapp'));
      const running = await rejection(run(requestConsent.operation.perform, privacyRequest));
      expect(running.name).toBe('HaltedError');
      expect(running.message).toContain('is already running for this contact on whatsapp');
    },
  );

  it('is a plain error with the server’s code, and no retry promised, where Zapier replays nothing (a step tested in the editor)', async () => {
    route('get', `/v1/contacts/${CONTACT_ID}`, { body: contact() });
    route('post', start, refusal('STORE_BUSY', 'The database rolled this request back for another write that failed beside it; nothing changed: try again', '1'));
    const details = errorDetails(await rejection(run(requestConsent.operation.perform, { ...privacyRequest, meta: { isLoadingSample: true } })));
    expect(details).toMatchObject({ name: 'AppError', code: 'STORE_BUSY', status: 503 });
    expect(details.message).not.toContain('Zapier will retry');
  });
});

describe('create_contact', () => {
  it('creates the contact with its tags and answers in Find Contact’s shape', async () => {
    route('post', '/v1/contacts', { status: 201, body: contact({ tags: ['VIP', 'Lead'] }) });
    const result = await run(createContact.operation.perform, {
      inputData: { name: 'Ana Test', email: 'ana.test@example.com', phone: '', tags: 'VIP, Lead' },
    });
    expect(requests[0]?.body).toEqual({ name: 'Ana Test', email: 'ana.test@example.com', tags: ['VIP', 'Lead'] });
    expect(result).toMatchObject({ id: CONTACT_ID, tags: ['VIP', 'Lead'], consents: [], consentStatus: {} });
  });

  it('refuses Consent: Privacy among its tags before any call, as Tag Contact does, pointing to Record Consent', async () => {
    const error = await rejection(run(createContact.operation.perform, { inputData: { email: 'ana.test@example.com', tags: 'VIP,  consent:  PRIVACY ' } }));
    expect(errorDetails(error)).toMatchObject({ name: 'AppError', code: 'TAG_NEEDS_CONSENT', status: 422 });
    expect(errorDetails(error).message).toBe(
      'Tag "consent:  PRIVACY" is Consent: Privacy, which Consentry adds when the contact\'s privacy consent is recorded, and a new contact has none ' +
        'recorded yet, so Consentry refuses it in Tags: use Record Consent with purpose privacy instead, which creates the contact and adds the tag',
    );
    expect(trail()).toEqual([]);
  });

  it('names Consent: Privacy spelt exactly so without saying what it is, as the server does', async () => {
    const error = await rejection(run(createContact.operation.perform, { inputData: { phone: '+34600000001', tags: ['Lead', 'Consent: Privacy'] } }));
    expect(errorDetails(error).message).toBe(
      'Tag "Consent: Privacy" is added by Consentry when the contact\'s privacy consent is recorded, and a new contact has none ' +
        'recorded yet, so Consentry refuses it in Tags: use Record Consent with purpose privacy instead, which creates the contact and adds the tag',
    );
  });

  it('refuses Consent: Privacy given as a line item too', async () => {
    const error = await rejection(run(createContact.operation.perform, { inputData: { phone: '+34600000001', tags: ['Lead', 'Consent: Privacy'] } }));
    expect(errorDetails(error)).toMatchObject({ code: 'TAG_NEEDS_CONSENT', status: 422 });
    expect(trail()).toEqual([]);
  });

  it('refuses a tag with a control character by its place, in the server’s words, and does not read it as Consent: Privacy', async () => {
    const error = await rejection(run(createContact.operation.perform, { inputData: { email: 'ana.test@example.com', tags: ['VIP', 'Consent:\nPrivacy'] } }));
    expect(errorDetails(error)).toMatchObject({
      code: 'INVALID_INPUT',
      status: 400,
      message: "Check the step's fields: tags.1: tag contains U+000A, a control character",
    });
    expect(trail()).toEqual([]);
  });

  it('halts, not errors, on an email another contact has (409)', async () => {
    route('post', '/v1/contacts', problem(409, 'CONFLICT', 'Another contact (01JQ0000000000000000000000) already has this email', [{ path: 'email', message: 'already used by another contact' }]));
    const error = await rejection(run(createContact.operation.perform, { inputData: { email: 'ana.test@example.com' } }));
    expect(error.name).toBe('HaltedError');
    expect(error.message).toContain('Consentry refused this step: email: already used by another contact');
    expect(trail()).toEqual(['POST /v1/contacts']);
  });

  describe('a 409 for the email or phone (a replay after an unclear outcome, or another contact)', () => {
    const conflict = (path: 'email' | 'phone') =>
      problem(409, 'CONFLICT', `Another contact (${CONTACT_ID}) already has this ${path}`, [{ path, message: 'already used by another contact' }]);
    const asSent = { name: 'Ana Test', email: 'ana.test@example.com', phone: '+34 600 000 001', tags: 'VIP' };
    const { perform } = createContact.operation;
    /** Create Contact with core's `z` changed by `change` (a request that fails, a cache that cannot be reached). */
    const performWith = (change: Partial<ZObject>) => (zObject: ZObject, bundle: Bundle) => {
      if (typeof perform !== 'function') throw new Error('create_contact has no perform function');
      return perform({ ...zObject, ...change }, bundle);
    };
    const consentsRead = () => route('get', `/v1/contacts/${CONTACT_ID}/consents`, { body: { contactId: CONTACT_ID, data: [] } });

    // What this app remembered in zcache stays within each test.
    beforeEach(() => Reflect.set(appTester, 'zcacheTestObj', {}));
    afterEach(() => Reflect.set(appTester, 'zcacheTestObj', {}));

    /** A first attempt whose outcome is unclear: the server answers a 5xx, and may have made the contact. */
    async function unclearFirstAttempt(inputData: Record<string, unknown>, bundle: Record<string, unknown> = {}): Promise<void> {
      route('post', '/v1/contacts', problem(500, 'INTERNAL', 'An unexpected error occurred'));
      expect(errorDetails(await rejection(run(perform, { ...bundle, inputData }))).name).toBe('ThrottledError');
      requests.length = 0;
    }

    it('halts for a contact holding just what the step sends when no attempt of this step ended unclear: it is someone else’s', async () => {
      route('post', '/v1/contacts', conflict('email'));
      route('get', '/v1/contacts', { body: { data: [contact({ tags: ['VIP'] })], nextCursor: null } });
      const error = await rejection(run(perform, { inputData: asSent }));
      expect(error.name).toBe('HaltedError');
      expect(error.message).toContain('Consentry refused this step: email: already used by another contact');
      expect(trail()).toEqual(['POST /v1/contacts']);
    });

    it('answers, after a 5xx, the contact holding just what the step sends, in the shape of a create, with the consents it has', async () => {
      await unclearFirstAttempt(asSent);
      // The memory is keyed by a hash: neither the contact's address nor the API key is stored in Zapier's cache.
      const keys = Object.keys(z.record(z.string(), z.unknown()).parse(Reflect.get(appTester, 'zcacheTestObj')));
      expect(keys).toEqual([expect.stringMatching(/^create_contact:unclear_create:[0-9a-f]{64}$/)]);
      route('post', '/v1/contacts', conflict('email'));
      route('get', '/v1/contacts', { body: { data: [contact({ tags: ['vip'] })], nextCursor: null } });
      consentsRead();
      const result = await run(perform, { inputData: asSent });
      expect(trail()).toEqual(['POST /v1/contacts', 'GET /v1/contacts', 'GET /v1/contacts', `GET /v1/contacts/${CONTACT_ID}/consents`]);
      // Each address is looked up as the step wrote it: the server reads it as it reads a new contact's.
      expect(requests.slice(1, 3).map((request) => request.query.toString())).toEqual(['email=ana.test%40example.com&limit=1', 'phone=%2B34+600+000+001&limit=1']);
      expect(result).toEqual({
        id: CONTACT_ID,
        name: 'Ana Test',
        email: 'ana.test@example.com',
        phone: '+34600000001',
        tags: ['vip'],
        tagList: 'vip',
        fields: {},
        createdAt: '2026-03-01T09:00:00.000Z',
        updatedAt: '2026-03-01T09:00:00.000Z',
        consents: [],
        consentStatus: {},
      });
    });

    it('answers it on a 409 naming the phone, given only a phone, after a 5xx', async () => {
      await unclearFirstAttempt({ phone: '+34600000001' });
      route('post', '/v1/contacts', conflict('phone'));
      route('get', '/v1/contacts', { body: { data: [contact({ name: null, email: null })], nextCursor: null } });
      consentsRead();
      expect(await run(perform, { inputData: { phone: '+34600000001' } })).toMatchObject({ id: CONTACT_ID, phone: '+34600000001', consents: [] });
    });

    it('answers it after a first attempt that got no answer within the time-out', async () => {
      const timeout = Object.assign(new Error('network timeout at: https://consentry.example.test/v1/contacts'), { name: 'FetchError', type: 'request-timeout' });
      const timedOut = performWith({ request: (): Promise<never> => Promise.reject(timeout) });
      const first = errorDetails(await rejection(run(timedOut, { inputData: asSent })));
      expect(first.name).toBe('ThrottledError');
      expect(first.message).toContain('it did not answer within 20 s');
      route('post', '/v1/contacts', conflict('email'));
      route('get', '/v1/contacts', { body: { data: [contact({ tags: ['VIP'] })], nextCursor: null } });
      consentsRead();
      expect(await run(perform, { inputData: asSent })).toMatchObject({ id: CONTACT_ID, consents: [] });
    });

    it('halts after a first attempt that could not connect: the request never reached the server', async () => {
      const refused = Object.assign(new Error('request to https://consentry.example.test/v1/contacts failed'), { name: 'FetchError', type: 'system', code: 'ECONNREFUSED' });
      const notConnected = performWith({ request: (): Promise<never> => Promise.reject(refused) });
      expect(errorDetails(await rejection(run(notConnected, { inputData: asSent }))).name).toBe('ThrottledError');
      route('post', '/v1/contacts', conflict('email'));
      route('get', '/v1/contacts', { body: { data: [contact({ tags: ['VIP'] })], nextCursor: null } });
      expect((await rejection(run(perform, { inputData: asSent }))).name).toBe('HaltedError');
    });

    it.each([
      ['STORE_BUSY', '1'],
      ['STORE_FULL', '30'],
    ])('halts after a first attempt refused 503 %s: the server changed nothing, so the contact is someone else’s', async (code, retryAfter) => {
      route('post', '/v1/contacts', { ...problem(503, code, 'nothing changed: try again'), headers: { 'retry-after': retryAfter } });
      expect(errorDetails(await rejection(run(perform, { inputData: asSent })))).toMatchObject({ name: 'ThrottledError', delay: Number(retryAfter) });
      route('post', '/v1/contacts', conflict('email'));
      route('get', '/v1/contacts', { body: { data: [contact({ tags: ['VIP'] })], nextCursor: null } });
      expect((await rejection(run(perform, { inputData: asSent }))).name).toBe('HaltedError');
    });

    it('halts when the unclear attempt was another connection’s, or for other addresses', async () => {
      await unclearFirstAttempt(asSent, { authData: { serverUrl: 'https://consentry.example.test', apiKey: 'ck_test_1111111111111111' } });
      await unclearFirstAttempt({ ...asSent, phone: '+34 600 000 009' });
      route('post', '/v1/contacts', conflict('email'));
      route('get', '/v1/contacts', { body: { data: [contact({ tags: ['VIP'] })], nextCursor: null } });
      expect((await rejection(run(perform, { inputData: asSent }))).name).toBe('HaltedError');
    });

    it('halts once a create with the same addresses went through: the contact is no longer the unclear attempt’s', async () => {
      await unclearFirstAttempt(asSent);
      route('post', '/v1/contacts', { status: 201, body: contact({ tags: ['VIP'] }) });
      await run(perform, { inputData: asSent });
      route('post', '/v1/contacts', conflict('email'));
      route('get', '/v1/contacts', { body: { data: [contact({ tags: ['VIP'] })], nextCursor: null } });
      expect((await rejection(run(perform, { inputData: asSent }))).name).toBe('HaltedError');
    });

    it('halts when Zapier’s cache cannot be reached: nothing tells the replay apart', async () => {
      const broken: ZObject['cache'] = {
        get: () => Promise.reject(new Error('zcache is down')),
        set: () => Promise.reject(new Error('zcache is down')),
        delete: () => Promise.reject(new Error('zcache is down')),
      };
      const withoutCache = performWith({ cache: broken });
      route('post', '/v1/contacts', problem(502, 'BAD_GATEWAY', 'upstream closed'));
      expect(errorDetails(await rejection(run(withoutCache, { inputData: asSent }))).name).toBe('ThrottledError');
      route('post', '/v1/contacts', conflict('email'));
      route('get', '/v1/contacts', { body: { data: [contact({ tags: ['VIP'] })], nextCursor: null } });
      expect((await rejection(run(withoutCache, { inputData: asSent }))).name).toBe('HaltedError');
    });

    it.each([
      ['another name', contact({ name: 'Ana Other', tags: ['VIP'] })],
      ['no name where the step gives one', contact({ name: null, tags: ['VIP'] })],
      ['without a tag the step gives', contact()],
    ])('keeps the refusal after a 5xx when the contact holding the email has %s', async (_what, holder) => {
      await unclearFirstAttempt(asSent);
      route('post', '/v1/contacts', conflict('email'));
      route('get', '/v1/contacts', { body: { data: [holder], nextCursor: null } });
      const error = await rejection(run(perform, { inputData: asSent }));
      expect(error.name).toBe('HaltedError');
      expect(error.message).toContain('Consentry refused this step: email: already used by another contact');
    });

    it('keeps the refusal after a 5xx when the email and the phone belong to two different contacts', async () => {
      await unclearFirstAttempt(asSent);
      route('post', '/v1/contacts', conflict('email'));
      contactsByAddress(contact({ tags: ['VIP'] }), contact({ id: OTHER_ID, tags: ['VIP'] }));
      const error = await rejection(run(perform, { inputData: asSent }));
      expect(error.name).toBe('HaltedError');
    });

    it('keeps any other 409 as it is after a 5xx, without looking anything up', async () => {
      await unclearFirstAttempt(asSent);
      route('post', '/v1/contacts', problem(409, 'CONFLICT', 'Another contact already writes from this WhatsApp number', [{ path: 'identities', message: 'already used by another contact' }]));
      const error = await rejection(run(perform, { inputData: asSent }));
      expect(error.name).toBe('HaltedError');
      expect(trail()).toEqual(['POST /v1/contacts']);
    });
  });

  it('names the field the server rejected', async () => {
    route('post', '/v1/contacts', problem(422, 'INVALID_EMAIL', 'invalid contact', [{ path: 'email', message: 'not a valid email address' }]));
    const error = await rejection(run(createContact.operation.perform, { inputData: { email: 'ana.test@' } }));
    expect(errorDetails(error)).toMatchObject({ message: 'email: not a valid email address', code: 'INVALID_EMAIL', status: 422 });
  });
});

/** `GET /v1/contacts` answering by the query's email or phone, as the server's exact match does. */
function contactsByAddress(byEmail: Record<string, unknown> | null, byPhone: Record<string, unknown> | null): void {
  route('get', '/v1/contacts', ({ query }) => {
    const found = query.has('email') ? byEmail : query.has('phone') ? byPhone : null;
    return { body: { data: found ? [found] : [], nextCursor: null } };
  });
}

const OTHER_ID = '01JQ7ZK4C2V9N8M3T5R6W1XYZB';
const lookups = () => requests.filter((request) => request.method === 'GET' && request.path === '/v1/contacts').map((request) => request.query.toString());

describe('a step given an email and a phone', () => {
  const optOut = { email: 'ana.test@example.com', phone: '+34 600 000 001', channel: 'sms', status: 'opted_out' };

  it('stops, naming both contacts, when the email and the phone belong to two different contacts', async () => {
    contactsByAddress(contact({ phone: null }), contact({ id: OTHER_ID, email: null }));
    const details = errorDetails(await rejection(run(recordConsent.operation.perform, { inputData: optOut })));
    expect(details).toMatchObject({ name: 'AppError', code: 'AMBIGUOUS_CONTACT', status: 409 });
    expect(details.message).toContain(`${OTHER_ID} (by phone) and ${CONTACT_ID} (by email)`);
    expect(details.message).toContain('Map the Contact ID of the one this step is about');
    // On SMS the phone is looked up first, and nothing is written.
    expect(lookups()).toEqual(['phone=%2B34+600+000+001&limit=1', 'email=ana.test%40example.com&limit=1']);
    expect(trail().filter((call) => !call.startsWith('GET'))).toEqual([]);
  });

  it('adds the phone to the contact the email found when it has none, then records the decision there', async () => {
    contactsByAddress(contact({ phone: null }), null);
    route('patch', '/v1/contacts/:id', { body: contact() });
    route('put', '/v1/contacts/:id/consents/:purpose/:channel', { body: consentAnswer('opted_out', null, null) });
    const result = await run(recordConsent.operation.perform, { inputData: optOut });
    expect(trail()).toEqual(['GET /v1/contacts', 'GET /v1/contacts', `PATCH /v1/contacts/${CONTACT_ID}`, `PUT /v1/contacts/${CONTACT_ID}/consents/marketing/sms`]);
    expect(requests[2]?.body).toEqual({ phone: '+34 600 000 001' });
    expect(result).toMatchObject({ contactId: CONTACT_ID, contactPhone: '+34600000001', warnings: '' });
  });

  it('adds the email to the contact the phone found when it has none (email channel: email looked up first)', async () => {
    contactsByAddress(null, contact({ email: null }));
    route('patch', '/v1/contacts/:id', { body: contact() });
    route('put', '/v1/contacts/:id/consents/:purpose/:channel', { body: consentAnswer('opted_out', null, null) });
    await run(recordConsent.operation.perform, { inputData: { ...optOut, channel: 'email' } });
    expect(lookups()).toEqual(['email=ana.test%40example.com&limit=1', 'phone=%2B34+600+000+001&limit=1']);
    expect(requests[2]?.body).toEqual({ email: 'ana.test@example.com' });
  });

  it('warns, naming the contact that has it, when the server refuses to add the phone (409)', async () => {
    let phoneLookups = 0;
    route('get', '/v1/contacts', ({ query }) => {
      if (query.has('email')) return { body: { data: [contact({ phone: null })], nextCursor: null } };
      // Nobody had the phone when the step looked; another contact got it before the PATCH.
      phoneLookups += 1;
      return { body: { data: phoneLookups > 1 ? [contact({ id: OTHER_ID })] : [], nextCursor: null } };
    });
    route('patch', '/v1/contacts/:id', problem(409, 'CONFLICT', `Another contact (${OTHER_ID}) already has this phone`, [{ path: 'phone', message: 'already used by another contact' }]));
    route('put', '/v1/contacts/:id/consents/:purpose/:channel', { body: consentAnswer('opted_out', null, null) });
    const result = await run(recordConsent.operation.perform, { inputData: optOut });
    expect(result).toMatchObject({
      contactId: CONTACT_ID,
      contactPhone: null,
      warnings: `phone: +34 600 000 001 was not added to contact ${CONTACT_ID}: contact ${OTHER_ID} already has it`,
    });
    expect(trail()).toContain(`PUT /v1/contacts/${CONTACT_ID}/consents/marketing/sms`);
  });

  it('keeps another phone the contact has, and says so, without rewriting it', async () => {
    contactsByAddress(contact({ phone: '+34600000002' }), null);
    route('put', '/v1/contacts/:id/consents/:purpose/:channel', { body: consentAnswer('opted_out', null, null) });
    const result = await run(recordConsent.operation.perform, { inputData: optOut });
    expect(trail().some((call) => call.startsWith('PATCH'))).toBe(false);
    expect(result).toMatchObject({
      warnings: `phone: +34 600 000 001 was not added to contact ${CONTACT_ID}: it has another phone number, +34600000002 (change it in Consentry if this one is new)`,
    });
  });

  it('uses the email when the server cannot read the phone, and says why the phone was left out', async () => {
    const unreadable = '"+34 606 12" is not a valid phone number';
    route('get', '/v1/contacts', ({ query }) =>
      query.has('phone') ? problem(422, 'INVALID_PHONE', unreadable, [{ path: 'phone', message: unreadable }]) : { body: { data: [contact({ phone: null })], nextCursor: null } },
    );
    route('put', '/v1/contacts/:id/consents/:purpose/:channel', { body: consentAnswer('opted_out', null, null) });
    const result = await run(recordConsent.operation.perform, { inputData: { ...optOut, phone: '+34 606 12' } });
    expect(result).toMatchObject({ contactId: CONTACT_ID, warnings: `phone: +34 606 12 was not added to contact ${CONTACT_ID}: ${unreadable}` });
    expect(trail().some((call) => call.startsWith('PATCH'))).toBe(false);
  });

  it('fails with the server’s words when the only address given cannot be read', async () => {
    route('get', '/v1/contacts', problem(422, 'INVALID_PHONE', 'bad phone', [{ path: 'phone', message: 'is not a valid phone number' }]));
    const details = errorDetails(await rejection(run(recordConsent.operation.perform, { inputData: { phone: '+34 606 12', channel: 'sms', status: 'opted_out' } })));
    expect(details).toMatchObject({ message: 'phone: is not a valid phone number', status: 422 });
  });

  it('creates a new contact with both addresses', async () => {
    contactsByAddress(null, null);
    route('post', '/v1/contacts', { status: 201, body: contact() });
    route('put', '/v1/contacts/:id/consents/:purpose/:channel', { body: consentAnswer('opted_out', null, null) });
    await run(recordConsent.operation.perform, { inputData: { ...optOut, name: 'Ana Test' } });
    expect(trail()).toEqual(['GET /v1/contacts', 'GET /v1/contacts', 'POST /v1/contacts', `PUT /v1/contacts/${CONTACT_ID}/consents/marketing/sms`]);
    expect(requests[2]?.body).toEqual({ name: 'Ana Test', email: 'ana.test@example.com', phone: '+34 600 000 001' });
  });

  it('warns with the server’s words when it refuses an email given with a contact ID (422)', async () => {
    route('get', `/v1/contacts/${CONTACT_ID}`, { body: contact({ email: null }) });
    route('patch', '/v1/contacts/:id', problem(422, 'INVALID_EMAIL', 'invalid', [{ path: 'email', message: 'email must contain exactly one "@"' }]));
    route('post', '/v1/contacts/:id/tags', { body: contact({ email: null, tags: ['VIP'] }) });
    const result = await run(tagContact.operation.perform, { inputData: { contactId: CONTACT_ID, email: 'ana.test.example.com', tag: 'VIP' } });
    expect(trail()).toEqual([`GET /v1/contacts/${CONTACT_ID}`, `PATCH /v1/contacts/${CONTACT_ID}`, `POST /v1/contacts/${CONTACT_ID}/tags`]);
    expect(result).toMatchObject({ warnings: `email: ana.test.example.com was not added to contact ${CONTACT_ID}: email must contain exactly one "@"` });
  });

  it('adds a phone given with a contact ID to that contact when it has none', async () => {
    route('get', `/v1/contacts/${CONTACT_ID}`, { body: contact({ phone: null }) });
    route('patch', '/v1/contacts/:id', { body: contact() });
    route('put', '/v1/contacts/:id/consents/:purpose/:channel', { body: consentAnswer('opted_out', null, null) });
    await run(recordConsent.operation.perform, { inputData: { contactId: CONTACT_ID, phone: '+34600000001', channel: 'sms', status: 'opted_out' } });
    expect(trail()).toEqual([`GET /v1/contacts/${CONTACT_ID}`, `PATCH /v1/contacts/${CONTACT_ID}`, `PUT /v1/contacts/${CONTACT_ID}/consents/marketing/sms`]);
  });

  it('asks nothing more for an address a contact found by ID already holds as written', async () => {
    route('get', `/v1/contacts/${CONTACT_ID}`, { body: contact() });
    route('post', '/v1/contacts/:id/tags', { body: contact({ tags: ['VIP'] }) });
    const result = await run(tagContact.operation.perform, {
      inputData: { contactId: CONTACT_ID, email: 'Ana.Test@example.com', phone: '+34 600 000 001', tag: 'VIP' },
    });
    expect(trail()).toEqual([`GET /v1/contacts/${CONTACT_ID}`, `POST /v1/contacts/${CONTACT_ID}/tags`]);
    expect(result).toMatchObject({ tags: ['VIP'], warnings: '' });
  });

  it('warns when a phone given with a contact ID belongs to another contact, and acts on the contact the ID names', async () => {
    route('get', `/v1/contacts/${CONTACT_ID}`, { body: contact({ phone: '+34600000002' }) });
    route('get', '/v1/contacts', { body: { data: [contact({ id: OTHER_ID })], nextCursor: null } });
    route('delete', '/v1/contacts/:id/tags/:tag', { body: contact({ phone: '+34600000002' }) });
    const result = await run(untagContact.operation.perform, { inputData: { contactId: CONTACT_ID, phone: '+34600000001', tag: 'VIP' } });
    expect(trail()).toEqual([`GET /v1/contacts/${CONTACT_ID}`, 'GET /v1/contacts', `DELETE /v1/contacts/${CONTACT_ID}/tags/VIP`]);
    expect(result).toMatchObject({ warnings: `phone: +34600000001 was not added to contact ${CONTACT_ID}: contact ${OTHER_ID} already has it` });
  });

  it('tags the one contact both addresses find, asking the server for each', async () => {
    contactsByAddress(contact(), contact());
    route('post', '/v1/contacts/:id/tags', { body: contact({ tags: ['VIP'] }) });
    const result = await run(tagContact.operation.perform, { inputData: { email: 'ana.test@example.com', phone: '+34600000001', tag: 'VIP' } });
    expect(trail()).toEqual(['GET /v1/contacts', 'GET /v1/contacts', `POST /v1/contacts/${CONTACT_ID}/tags`]);
    expect(result).toMatchObject({ id: CONTACT_ID, warnings: '' });
  });
});

describe('request_consent on a channel the contact cannot be reached on', () => {
  const { perform } = requestConsent.operation;
  const started = {
    status: 201,
    body: { runId: '01JQ86M2NCPDQERSFTGVHWJXKY', conversationId: '01JQ86M2NCPDQERSFTGVHWJXKZ', replies: [{ text: 'Do you agree?' }], events: [] },
  };

  it('halts for a new lead without a phone on WhatsApp, and creates no contact', async () => {
    route('get', '/v1/contacts', { body: { data: [], nextCursor: null } });
    const error = await rejection(run(perform, { inputData: { email: 'new.lead@example.com', channel: 'whatsapp' } }));
    expect(error.name).toBe('HaltedError');
    expect(error.message).toContain(
      "No contact was created: new.lead@example.com cannot be reached on whatsapp without a phone number. Map the contact's phone number into Contact Phone to reach it there.",
    );
    expect(trail()).toEqual(['GET /v1/contacts']);
  });

  it('halts, saying why, for a new lead whose only phone cannot be read', async () => {
    route('get', '/v1/contacts', ({ query }) =>
      query.has('phone') ? problem(422, 'INVALID_PHONE', 'bad', [{ path: 'phone', message: '"+34 606 12" is not a valid phone number' }]) : { body: { data: [], nextCursor: null } },
    );
    const error = await rejection(run(perform, { inputData: { email: 'new.lead@example.com', phone: '+34 606 12', channel: 'sms' } }));
    expect(error.name).toBe('HaltedError');
    expect(error.message).toContain(
      'No contact was created: +34 606 12 or new.lead@example.com cannot be reached on sms without a phone number (phone: +34 606 12: "+34 606 12" is not a valid phone number).',
    );
    expect(trail()).toEqual(['GET /v1/contacts', 'GET /v1/contacts']);
  });

  it('halts for a known contact without an email on the email channel, without starting the workflow', async () => {
    route('get', '/v1/contacts', { body: { data: [contact({ email: null })], nextCursor: null } });
    const error = await rejection(run(perform, { inputData: { phone: '+34600000001', channel: 'email' } }));
    expect(error.name).toBe('HaltedError');
    expect(error.message).toContain(`Contact ${CONTACT_ID} cannot be reached on email: it has no email`);
    expect(trail()).toEqual(['GET /v1/contacts']);
  });

  it('asks on WhatsApp a contact who wrote there, though it has no phone number stored', async () => {
    route('get', `/v1/contacts/${CONTACT_ID}`, { body: contact({ phone: null, identities: [{ channel: 'whatsapp', externalId: '34600000001' }] }) });
    route('post', '/v1/workflows/request-consent-privacy/runs', started);
    expect(await run(perform, { inputData: { contactId: CONTACT_ID, channel: 'whatsapp' } })).toMatchObject({ replyText: 'Do you agree?' });
  });

  it('adds the phone given to a contact known by email, then asks on WhatsApp', async () => {
    contactsByAddress(contact({ phone: null }), null);
    route('patch', '/v1/contacts/:id', { body: contact() });
    route('post', '/v1/workflows/request-consent-privacy/runs', started);
    const result = await run(perform, { inputData: { email: 'ana.test@example.com', phone: '+34600000001', channel: 'whatsapp' } });
    expect(trail()).toEqual(['GET /v1/contacts', 'GET /v1/contacts', `PATCH /v1/contacts/${CONTACT_ID}`, 'POST /v1/workflows/request-consent-privacy/runs']);
    expect(result).toMatchObject({ contactId: CONTACT_ID, warnings: '' });
  });

  it('creates a new lead given a phone for WhatsApp, once the workspace has a privacy policy link, then asks', async () => {
    route('get', '/v1/contacts', { body: { data: [], nextCursor: null } });
    route('get', '/v1/settings', { body: { privacyPolicyUrl: 'https://example.com/privacy', purposes: [] } });
    route('post', '/v1/contacts', { status: 201, body: contact({ email: null }) });
    route('post', '/v1/workflows/request-consent-privacy/runs', started);
    await run(perform, { inputData: { phone: '+34600000001', channel: 'whatsapp' } });
    expect(trail()).toEqual(['GET /v1/contacts', 'GET /v1/settings', 'POST /v1/contacts', 'POST /v1/workflows/request-consent-privacy/runs']);
  });

  it.each([
    ['messenger', 'it has not written on Messenger (a page can only message the page-scoped id a person writes from)'],
    ['telegram', 'it has not written on Telegram (a bot can only message a chat a person started)'],
    ['webchat', 'it has no web chat session'],
  ])('halts for a new lead on %s, where only a contact who wrote first is reached, and creates no contact', async (channel, why) => {
    route('get', '/v1/contacts', { body: { data: [], nextCursor: null } });
    route('get', '/v1/settings', { body: { privacyPolicyUrl: 'https://example.com/privacy', purposes: [] } });
    route('post', '/v1/contacts', { status: 201, body: contact() });
    const message = `Contact ${CONTACT_ID} cannot be reached on ${channel}: ${why}`;
    route('post', '/v1/workflows/request-consent-privacy/runs', problem(422, 'CONTACT_UNREACHABLE', message, [{ path: 'channel', message }]));
    const error = await rejection(run(perform, { inputData: { email: 'new.lead@example.com', phone: '+34600000001', channel } }));
    expect(error.name).toBe('HaltedError');
    expect(error.message).toContain(`No contact was created: new.lead@example.com or +34600000001 cannot be reached on ${channel}: ${why}.`);
    expect(trail()).toEqual(['GET /v1/contacts', 'GET /v1/contacts']);
  });

  /** The server's detail, as src/engine/runs.ts words it. */
  const REQUIRED_POLICY = 'settings.privacyPolicyUrl: required by workflow "request-consent-privacy": set it with PATCH /v1/settings';

  it('refuses a new lead in a workspace without a privacy policy link, in the server’s words and code, and creates no contact', async () => {
    route('get', '/v1/contacts', { body: { data: [], nextCursor: null } });
    route('get', '/v1/settings', { body: { privacyPolicyUrl: null, purposes: [] } });
    route('post', '/v1/contacts', { status: 201, body: contact({ email: null }) });
    route(
      'post',
      '/v1/workflows/request-consent-privacy/runs',
      problem(422, 'VALIDATION_FAILED', REQUIRED_POLICY, [
        { path: 'settings.privacyPolicyUrl', message: 'required by workflow "request-consent-privacy": set it with PATCH /v1/settings' },
      ]),
    );
    const details = errorDetails(await rejection(run(perform, { inputData: { phone: '+34600000001', channel: 'whatsapp' } })));
    expect(details).toEqual({ name: 'AppError', message: REQUIRED_POLICY, code: 'VALIDATION_FAILED', status: 422 });
    expect(trail()).toEqual(['GET /v1/contacts', 'GET /v1/settings']);
  });

  it('leaves the privacy policy link to the server when its settings do not say, and to the server for a contact that exists', async () => {
    route('get', '/v1/contacts', { body: { data: [], nextCursor: null } });
    route('get', '/v1/settings', { body: { purposes: [] } });
    route('post', '/v1/contacts', { status: 201, body: contact({ email: null }) });
    route('post', '/v1/workflows/request-consent-privacy/runs', started);
    await run(perform, { inputData: { phone: '+34600000001', channel: 'whatsapp' } });
    expect(trail()).toEqual(['GET /v1/contacts', 'GET /v1/settings', 'POST /v1/contacts', 'POST /v1/workflows/request-consent-privacy/runs']);
    requests.length = 0;
    route('get', `/v1/contacts/${CONTACT_ID}`, { body: contact() });
    await run(perform, { inputData: { contactId: CONTACT_ID, channel: 'whatsapp' } });
    expect(trail()).toEqual([`GET /v1/contacts/${CONTACT_ID}`, 'POST /v1/workflows/request-consent-privacy/runs']);
  });

  it.each(['CONTACT_UNREACHABLE', 'VALIDATION_FAILED'])('halts on the server’s "cannot be reached" refusal, %s (the contact changed after the check)', async (code) => {
    const message = `Contact ${CONTACT_ID} cannot be reached on whatsapp: it has no phone number and has not written on WhatsApp`;
    route('get', `/v1/contacts/${CONTACT_ID}`, { body: contact() });
    route('post', '/v1/workflows/request-consent-privacy/runs', problem(422, code, message, [{ path: 'channel', message }]));
    const error = await rejection(run(perform, { inputData: { contactId: CONTACT_ID, channel: 'whatsapp' } }));
    expect(error.name).toBe('HaltedError');
    expect(error.message).toContain(`Consentry refused this step: channel: ${message}`);
  });

  it('halts on CONTACT_UNREACHABLE whatever its words', async () => {
    route('get', `/v1/contacts/${CONTACT_ID}`, { body: contact() });
    route('post', '/v1/workflows/request-consent-privacy/runs', problem(422, 'CONTACT_UNREACHABLE', 'no address there', [{ path: 'channel', message: 'no address there' }]));
    const error = await rejection(run(perform, { inputData: { contactId: CONTACT_ID, channel: 'whatsapp' } }));
    expect(error.name).toBe('HaltedError');
  });

  it('keeps any other 422 an error', async () => {
    route('get', `/v1/contacts/${CONTACT_ID}`, { body: contact() });
    route('post', '/v1/workflows/request-consent-privacy/runs', problem(422, 'VALIDATION_FAILED', 'bad', [{ path: 'contactId', message: 'is not a contact id' }]));
    const details = errorDetails(await rejection(run(perform, { inputData: { contactId: CONTACT_ID, channel: 'whatsapp' } })));
    expect(details).toMatchObject({ name: 'AppError', status: 422, message: 'contactId: is not a contact id' });
  });
});

describe('request_consent wording', () => {
  it('says Consentry returns the messages for a later step to send, unless the outbound webhook relays them', () => {
    const { display, operation } = requestConsent;
    expect(display.description).toContain('returns the messages');
    expect(display.description).toContain('for a later step to send');
    expect(display.description).toContain('outbound webhook');
    expect(display.description).not.toContain('Consentry sends');
    const outputs = z.array(z.object({ key: z.string(), label: z.string() })).parse(operation.outputFields);
    expect(outputs.find((field) => field.key === 'replyText')?.label).toBe('Messages to Send (one per line)');
    const channel = z.array(z.object({ key: z.string(), helpText: z.string() }).loose()).parse(operation.inputFields).find((field) => field.key === 'channel');
    expect(channel?.helpText).toContain('send them to the contact on this channel in a later step');
    expect(z.object({ outcome: z.string() }).loose().parse(operation.sample).outcome).toMatch(/^Started on whatsapp: send the messages below/);
  });

  it('says the run can be followed with Find Workflow Run by its Workflow Run ID, whose empty Outcome means still waiting', () => {
    const { display, operation } = requestConsent;
    const search = app.searches['find_workflow_run'];
    expect(search?.display.label).toBe('Find Workflow Run');
    expect(display.description).toContain("look the run up with Find Workflow Run by this step's Workflow Run ID");
    expect(display.description).toContain("its Outcome stays empty while the run still waits for the contact's answer");
    const outputs = z.array(z.object({ key: z.string(), label: z.string() })).parse(operation.outputFields);
    expect(outputs.find((field) => field.key === 'id')?.label).toBe('Workflow Run ID (to look the run up with Find Workflow Run)');
    // The search's Outcome, which the description speaks of, is the one empty while the run waits.
    const searchOutputs = z.array(z.object({ key: z.string(), label: z.string() }).loose()).parse(search?.operation.outputFields);
    expect(searchOutputs.find((field) => field.key === 'outcome')?.label).toBe("Outcome (empty while the run still waits for the contact's answer)");
  });

  it('asks Request Privacy Consent and Send Inbound Message who sends the messages, a later step of the Zap by default', () => {
    const FieldSchema = z.object({ key: z.string(), required: z.boolean(), default: z.string(), helpText: z.string(), choices: z.array(z.object({ value: z.string(), label: z.string() }).loose()) }).loose();
    for (const step of [requestConsent, sendInboundMessage]) {
      const fields = z.array(z.object({ key: z.string() }).loose()).parse(step.operation.inputFields);
      const field = FieldSchema.parse(fields.find((candidate) => candidate.key === 'repliesSentBy'));
      expect(field, step.key).toMatchObject({ required: false, default: 'later_step' });
      expect(field.choices.map(({ value, label }) => ({ value, label })), step.key).toEqual([
        { value: 'later_step', label: 'A later step of this Zap' },
        { value: 'outbound_webhook', label: "The workspace's outbound webhook" },
      ]);
      expect(field.helpText, step.key).toContain('no later step is needed');
      expect(step.display.description, step.key).toContain("leaves them to the workspace's outbound webhook");
    }
  });
});

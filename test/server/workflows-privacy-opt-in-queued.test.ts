import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parsed, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, first) => {
  t = app;
  acme = first;
});

const QUESTION = 'Do you agree to our privacy policy? Select AGREE & PROCEED to continue.';
const WELCOME = 'Hi Quinn, welcome! Thanks for getting in touch.';
const ASK_PHONE = 'What is your phone number? Please write it starting with + and the country code, for example +34 600 000 001.';
const AnswerSchema = z.object({ contactId: z.string(), conversationId: z.string().nullable(), replies: z.array(z.object({ text: z.string() })) });

const message = async (messageId: string, text: string) => {
  const res = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'webchat', messageId, from: { id: 'visitor-900', name: 'Quinn' }, text } });
  expect(res.statusCode, res.body).toBe(200);
  return parsed(res, AnswerSchema);
};

describe('a privacy opt-in recorded through the API while the question waits in a conversation', () => {
  it('queues the tag_added binding on Consent: Privacy there: the next message starts it, and its answer carries the texts', async () => {
    const settings = await t.as(acme, {
      method: 'PATCH',
      url: '/v1/settings',
      payload: {
        privacyPolicyUrl: 'https://example.com/privacy',
        triggers: [
          { trigger: 'conversation_opened', template: 'request-consent-privacy' },
          { trigger: 'tag_added', match: 'Consent: Privacy', template: 'welcome-request-phone' },
        ],
      },
    });
    expect(settings.statusCode, settings.body).toBe(200);
    const first = await message('wq.1', 'Hello');
    expect(first.replies.map((reply) => reply.text)).toContain(QUESTION);

    const recorded = await t.as(acme, {
      method: 'PUT',
      url: `/v1/contacts/${first.contactId}/consents/privacy/webchat`,
      payload: { status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Agreed on the web form' },
    });
    expect(recorded.statusCode, recorded.body).toBe(201);
    const runs = await t.store.read((tx) => tx.listRunsOfContact(acme.workspaceId, first.contactId));
    expect(runs.filter((run) => run.templateId === 'welcome-request-phone')).toEqual([]);

    const next = await message('wq.2', 'ok?');
    expect(next.conversationId).toBe(first.conversationId);
    expect(next.replies.map((reply) => reply.text)).toEqual([WELCOME, ASK_PHONE]);
    const answered = await message('wq.3', '+34 600 000 901');
    expect(answered.replies.map((reply) => reply.text)).toEqual(['Thank you! One of our team will be with you shortly.']);
    const contact = await t.as(acme, { method: 'GET', url: `/v1/contacts/${first.contactId}` });
    expect(parsed(contact, z.object({ phone: z.string().nullable() })).phone).toBe('+34600000901');
  });
});

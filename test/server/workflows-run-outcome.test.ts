import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parsed, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, first) => {
  t = app;
  acme = first;
});

const PHONE = '+34600000441';
const RunAnswerSchema = z
  .object({
    runId: z.string(),
    conversationId: z.string().nullable(),
    outcome: z.string().nullable(),
    replies: z.array(z.object({ text: z.string() })),
    events: z.array(z.object({ type: z.string() })),
  })
  .strict();
const MessageAnswerSchema = z.object({ conversationId: z.string().nullable(), replies: z.array(z.object({ text: z.string() })), events: z.array(z.object({ type: z.string() })) });

async function setUp(): Promise<string> {
  const settings = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { privacyPolicyUrl: 'https://example.com/privacy' } });
  expect(settings.statusCode, settings.body).toBe(200);
  const created = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Dora Test', phone: PHONE } });
  expect(created.statusCode, created.body).toBe(201);
  return parsed(created, z.object({ id: z.string() })).id;
}

async function agree(contactId: string): Promise<void> {
  const res = await t.as(acme, {
    method: 'PUT',
    url: `/v1/contacts/${contactId}/consents/privacy/any`,
    payload: { status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Agreed on the web form' },
  });
  expect(res.statusCode, res.body).toBe(201);
}

const start = async (template: string, contactId: string) => {
  const res = await t.as(acme, { method: 'POST', url: `/v1/workflows/${template}/runs`, payload: { contactId, channel: 'sms' } });
  expect(res.statusCode, res.body).toBe(201);
  return parsed(res, RunAnswerSchema);
};

describe('POST /v1/workflows/{template}/runs says how the run stands', () => {
  it('answers outcome null and the conversation for a run that asks and waits', async () => {
    const contactId = await setUp();
    const started = await start('request-consent-privacy', contactId);
    expect(started).toMatchObject({ outcome: null, conversationId: expect.any(String) });
    expect(started.replies).toHaveLength(2);
    expect(started.events.map((event) => event.type)).toEqual(['conversation.opened']);
  });

  it('answers outcome "skipped", no replies and no conversation for a contact who already agreed; the next message opens one', async () => {
    const contactId = await setUp();
    await agree(contactId);
    const started = await start('request-consent-privacy', contactId);
    expect(started).toEqual({ runId: expect.any(String), conversationId: null, outcome: 'skipped', replies: [], events: [] });

    const next = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: 'sk.1', from: { id: PHONE }, text: 'hello' } });
    expect(next.statusCode, next.body).toBe(200);
    const answer = parsed(next, MessageAnswerSchema);
    expect(answer.conversationId).toEqual(expect.any(String));
    expect(answer.events.map((event) => event.type)).toContain('conversation.opened');
  });

  it('answers outcome "done" for a welcome that found the address it asks for', async () => {
    const contactId = await setUp();
    const patched = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${contactId}`, payload: { email: 'dora@example.com' } });
    expect(patched.statusCode, patched.body).toBe(200);
    const started = await start('welcome-request-email', contactId);
    expect(started).toMatchObject({ outcome: 'done', conversationId: expect.any(String) });
    expect(started.replies.map((reply) => reply.text)).toEqual(['Hi Dora, welcome! Thanks for getting in touch.', 'Thank you! One of our team will be with you shortly.']);
  });

  it('closes the conversation a welcome opened and ended at once, so the next message opens one and is asked for privacy consent', async () => {
    const contactId = await setUp();
    const patched = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${contactId}`, payload: { email: 'dora@example.com' } });
    expect(patched.statusCode, patched.body).toBe(200);
    const started = await start('welcome-request-email', contactId);
    expect(started.outcome).toBe('done');
    expect(started.events.map((event) => event.type)).toEqual(['conversation.opened', 'conversation.closed']);

    const next = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: 'dn.1', from: { id: PHONE }, text: 'hi, what is this?' } });
    const answer = parsed(next, MessageAnswerSchema);
    expect(answer.conversationId).not.toBe(started.conversationId);
    expect(answer.replies.map((reply) => reply.text)).toContain('Do you agree to our privacy policy? Select AGREE & PROCEED to continue.');
  });

  it('leaves open a conversation the contact already had when the run started in it ends at once', async () => {
    const contactId = await setUp();
    const opened = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: 'op.1', from: { id: PHONE }, text: 'hello' } });
    const conversationId = parsed(opened, MessageAnswerSchema).conversationId;
    await agree(contactId);
    const patched = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${contactId}`, payload: { email: 'dora@example.com' } });
    expect(patched.statusCode, patched.body).toBe(200);
    const started = await start('welcome-request-email', contactId);
    expect(started).toMatchObject({ outcome: 'done', conversationId });
    expect(started.events.map((event) => event.type)).not.toContain('conversation.closed');
    const next = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: 'op.2', from: { id: PHONE }, text: 'thanks' } });
    expect(parsed(next, MessageAnswerSchema).conversationId).toBe(conversationId);
  });

  it('documents outcome in /openapi.json', async () => {
    const doc = z
      .object({
        paths: z.object({
          '/v1/workflows/{template}/runs': z.object({
            post: z.object({
              description: z.string(),
              responses: z.object({
                '201': z.object({ content: z.object({ 'application/json': z.object({ schema: z.object({ properties: z.record(z.string(), z.unknown()) }) }) }) }),
              }),
            }),
          }),
        }),
      })
      .parse((await t.app.inject({ method: 'GET', url: '/openapi.json' })).json());
    const post = doc.paths['/v1/workflows/{template}/runs'].post;
    expect(Object.keys(post.responses['201'].content['application/json'].schema.properties).sort()).toEqual(['conversationId', 'events', 'outcome', 'replies', 'runId']);
    expect(post.description).toContain('"skipped"');
  });
});

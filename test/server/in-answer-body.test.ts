import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { OutboundMessageDataSchema } from '../../src/core/events.js';
import { expectProblem, problemPaths, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, first) => {
  t = app;
  acme = first;
});

const QUESTION = 'Do you agree to our privacy policy? Select AGREE & PROCEED to continue.';
const AnswerSchema = z.object({ replies: z.array(z.object({ text: z.string() })) });

async function relayingWorkspace(): Promise<void> {
  const res = await t.as(acme, {
    method: 'PATCH',
    url: '/v1/settings',
    payload: { privacyPolicyUrl: 'https://example.com/privacy', outboundWebhookUrl: 'https://example.com/outbound' },
  });
  expect(res.statusCode, res.body).toBe(200);
}

/** The outbound webhook's copies, oldest first: the text and whether the answer's caller sends it. */
async function outbound(): Promise<{ text: string; inAnswer: boolean }[]> {
  const events = await t.engine.workspace(acme.workspaceId).listEvents({ types: ['message.outbound'], limit: 200 });
  return events.reverse().map((event) => {
    const data = OutboundMessageDataSchema.parse(event.data);
    return { text: data.text, inAnswer: data.inAnswer };
  });
}

async function contactOnSms(phone: string): Promise<string> {
  const res = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Ana Test', phone } });
  expect(res.statusCode, res.body).toBe(201);
  return String(res.json().id);
}

describe('inAnswer in the body: whether the caller sends the replies of the answer', () => {
  it('POST /v1/workflows/{template}/runs with inAnswer false marks the webhook copies of its replies false; by default true', async () => {
    await relayingWorkspace();
    const ana = await contactOnSms('+34600000201');
    const bea = await contactOnSms('+34600000202');
    const byCaller = await t.as(acme, { method: 'POST', url: '/v1/workflows/request-consent-privacy/runs', payload: { contactId: ana, channel: 'sms' } });
    expect(byCaller.statusCode, byCaller.body).toBe(201);
    const byAdapter = await t.as(acme, {
      method: 'POST',
      url: '/v1/workflows/request-consent-privacy/runs',
      payload: { contactId: bea, channel: 'sms', inAnswer: false },
    });
    expect(byAdapter.statusCode, byAdapter.body).toBe(201);
    // The answer still carries the replies: the caller may show them.
    expect(AnswerSchema.parse(byAdapter.json()).replies.map((reply) => reply.text)).toContain(QUESTION);
    expect(await outbound()).toEqual([
      ...AnswerSchema.parse(byCaller.json()).replies.map((reply) => ({ text: reply.text, inAnswer: true })),
      ...AnswerSchema.parse(byAdapter.json()).replies.map((reply) => ({ text: reply.text, inAnswer: false })),
    ]);
  });

  it('POST /v1/messages with inAnswer false marks its replies false, and a repeated delivery changes nothing whatever it says', async () => {
    await relayingWorkspace();
    const message = { channel: 'sms', messageId: 'ia.1', from: { id: '+34600000203' }, text: 'hello' };
    const first = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { ...message, inAnswer: false } });
    expect(first.statusCode, first.body).toBe(200);
    const replies = AnswerSchema.parse(first.json()).replies;
    expect(replies.map((reply) => reply.text)).toContain(QUESTION);
    const again = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { ...message, inAnswer: true } });
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json()).toMatchObject({ replies: first.json().replies, warnings: [] });
    expect(await outbound()).toEqual(replies.map((reply) => ({ text: reply.text, inAnswer: false })));
  });

  it('without an outbound webhook: a run with inAnswer false is 422 naming it and starts nothing; a message is processed with a warning', async () => {
    const settings = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { privacyPolicyUrl: 'https://example.com/privacy' } });
    expect(settings.json()).toMatchObject({ outboundWebhookUrl: null });
    const ana = await contactOnSms('+34600000205');
    const run = await t.as(acme, { method: 'POST', url: '/v1/workflows/request-consent-privacy/runs', payload: { contactId: ana, channel: 'sms', inAnswer: false } });
    expectProblem(run, 422, 'VALIDATION_FAILED');
    expect(run.json()).toMatchObject({
      detail: expect.stringMatching(/^inAnswer: is false, but the workspace has no outbound webhook \(settings\.outboundWebhookUrl\), so nobody sends these replies/),
      errors: [{ path: 'inAnswer', message: expect.stringContaining('leave inAnswer out') }],
    });
    // Nothing started: sent by the caller (the default), the same run starts, where a run still going would be 409.
    const byCaller = await t.as(acme, { method: 'POST', url: '/v1/workflows/request-consent-privacy/runs', payload: { contactId: ana, channel: 'sms' } });
    expect(byCaller.statusCode, byCaller.body).toBe(201);

    const message = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: 'ia.3', from: { id: '+34600000206' }, text: 'hello', inAnswer: false } });
    expect(message.statusCode, message.body).toBe(200);
    expect(AnswerSchema.parse(message.json()).replies.map((reply) => reply.text)).toContain(QUESTION);
    expect(message.json().warnings).toEqual([{ path: 'inAnswer', message: expect.stringMatching(/^is false, but the workspace has no outbound webhook .*; the message was processed$/) }]);
    // An answer without replies (no workflow runs on a new conversation) has nothing to lose: no warning.
    const noWorkflows = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { triggers: [] } });
    expect(noWorkflows.statusCode, noWorkflows.body).toBe(200);
    const silent = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: 'ia.4', from: { id: '+34600000207' }, text: 'hello', inAnswer: false } });
    expect(silent.statusCode, silent.body).toBe(200);
    expect(silent.json()).toMatchObject({ replies: [], warnings: [] });
  });

  it('without an outbound webhook: inAnswer false leaves an unknown template or contact 404, and starts a run that sends nothing', async () => {
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { privacyPolicyUrl: 'https://example.com/privacy' } });
    const ana = await contactOnSms('+34600000208');
    const unknownTemplate = await t.as(acme, { method: 'POST', url: '/v1/workflows/nope/runs', payload: { contactId: ana, channel: 'sms', inAnswer: false } });
    expectProblem(unknownTemplate, 404, 'NOT_FOUND');
    expect(problemPaths(unknownTemplate)).toEqual(['template']);
    const unknownContact = await t.as(acme, {
      method: 'POST',
      url: '/v1/workflows/request-consent-privacy/runs',
      payload: { contactId: '01ARZ3NDEKTSV4RRFFQ69G5FAV', channel: 'sms', inAnswer: false },
    });
    expectProblem(unknownContact, 404, 'NOT_FOUND');
    expect(problemPaths(unknownContact)).toEqual(['contactId']);
    // A contact who agreed already is not asked: the run ends skipped without a word, so nothing is lost.
    const agreed = await t.as(acme, {
      method: 'PUT',
      url: `/v1/contacts/${ana}/consents/privacy/sms`,
      payload: { status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Agreed on the sign-up form' },
    });
    expect(agreed.statusCode, agreed.body).toBe(201);
    const skipped = await t.as(acme, { method: 'POST', url: '/v1/workflows/request-consent-privacy/runs', payload: { contactId: ana, channel: 'sms', inAnswer: false } });
    expect(skipped.statusCode, skipped.body).toBe(201);
    expect(skipped.json()).toMatchObject({ outcome: 'skipped', replies: [] });
  });

  it('is a boolean: anything else is 422 naming it', async () => {
    const ana = await contactOnSms('+34600000204');
    const run = await t.as(acme, { method: 'POST', url: '/v1/workflows/request-consent-privacy/runs', payload: { contactId: ana, channel: 'sms', inAnswer: 'no' } });
    expectProblem(run, 422, 'VALIDATION_FAILED');
    expect(problemPaths(run)).toEqual(['inAnswer']);
    const message = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: 'ia.2', from: { id: '+34600000204' }, text: 'hi', inAnswer: 0 } });
    expectProblem(message, 422, 'VALIDATION_FAILED');
    expect(problemPaths(message)).toEqual(['inAnswer']);
  });

  it('is described in /openapi.json on both routes', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    for (const path of ['/v1/messages', '/v1/workflows/{template}/runs']) {
      const property = doc.paths[path].post.requestBody.content['application/json'].schema.properties.inAnswer;
      expect(property, path).toMatchObject({ type: 'boolean' });
      expect(String(property.description)).toContain('inAnswer: false');
    }
  });
});

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { expectProblem, MessageAnswerSchema, parsed, ProblemFieldsSchema, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, tenant) => {
  t = app;
  acme = tenant!;
});

const EventsSchema = z.object({ data: z.array(z.object({ type: z.string() })) });

const message = (extra: Record<string, unknown>, messageId = 'wamid.1') => ({ channel: 'whatsapp', messageId, from: { id: '34600000001' }, ...extra });
const BLANK = 'a message needs text or button: an empty or blank text is no text';

describe('POST /v1/messages with an empty or blank text', () => {
  it('is refused 422 naming text without a button, and nothing is recorded: no conversation, no question', async () => {
    for (const [index, text] of ['', ' ', '\n\t ', '\u00a0\u2003'].entries()) {
      const response = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message({ text }, `wamid.${index}`) });
      expectProblem(response, 422, 'VALIDATION_FAILED');
      expect(parsed(response, ProblemFieldsSchema), JSON.stringify(text)).toEqual({ detail: `text: ${BLANK}`, errors: [{ path: 'text', message: BLANK }] });
    }
    expect(parsed(await t.as(acme, { method: 'GET', url: '/v1/events' }), EventsSchema).data).toEqual([]);
    expect(parsed(await t.as(acme, { method: 'GET', url: '/v1/contacts' }), z.object({ data: z.array(z.unknown()) })).data).toEqual([]);
  });

  it('is refused as a message with neither text nor button is, beside the other bad fields', async () => {
    const none = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message({}) });
    expectProblem(none, 422, 'VALIDATION_FAILED');
    expect(parsed(none, ProblemFieldsSchema).errors).toEqual([{ path: 'text', message: 'a message needs text or button' }]);
  });

  it('is no text beside a button: the click is read', async () => {
    const response = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message({ text: '', button: 'STOP' }) });
    expect(response.statusCode, response.body).toBe(200);
    expect(parsed(response, MessageAnswerSchema).events.map((event) => event.type)).toEqual(['consent.withdrawn']);
  });

  it('is a text when it holds anything besides white space', async () => {
    const response = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message({ text: ' . ' }) });
    expect(response.statusCode, response.body).toBe(200);
    expect(parsed(response, MessageAnswerSchema).events.map((event) => event.type)).toEqual(['conversation.opened']);
  });
});

describe('POST /v1/messages with a null text or button', () => {
  it('reads a null text beside a button as absent: a STOP clicked is not lost', async () => {
    const response = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message({ text: null, button: 'STOP' }) });
    expect(response.statusCode, response.body).toBe(200);
    expect(parsed(response, MessageAnswerSchema).events.map((event) => event.type)).toEqual(['consent.withdrawn']);
  });

  it('reads a null button beside a text as absent', async () => {
    const response = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message({ text: 'STOP', button: null }) });
    expect(response.statusCode, response.body).toBe(200);
    expect(parsed(response, MessageAnswerSchema).events.map((event) => event.type)).toEqual(['consent.withdrawn']);
  });

  it('refuses both null as a message with neither', async () => {
    const response = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message({ text: null, button: null }) });
    expectProblem(response, 422, 'VALIDATION_FAILED');
    expect(parsed(response, ProblemFieldsSchema).errors).toEqual([{ path: 'text', message: 'a message needs text or button' }]);
  });
});

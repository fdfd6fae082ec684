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

  it('is refused the same when it holds only invisible characters (zero-width, joiners, fillers, blanks), and nothing is recorded', async () => {
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { privacyPolicyUrl: 'https://example.com/privacy' } });
    const invisible = ['\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u3164', '\u115f', '\u1160', '\uffa0', '\u2800', '\u0085', '\u3000', ' \u200b\n\u3164\u2800 ', '\u0000'];
    for (const [index, text] of invisible.entries()) {
      const response = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message({ text }, `wamid.i${index}`) });
      expectProblem(response, 422, 'VALIDATION_FAILED');
      expect(parsed(response, ProblemFieldsSchema), JSON.stringify(text)).toEqual({ detail: `text: ${BLANK}`, errors: [{ path: 'text', message: BLANK }] });
    }
    expect(parsed(await t.as(acme, { method: 'GET', url: '/v1/events' }), EventsSchema).data).toEqual([]);
    expect(parsed(await t.as(acme, { method: 'GET', url: '/v1/contacts' }), z.object({ data: z.array(z.unknown()) })).data).toEqual([]);
  });

  it('does not spend an attempt at a waiting question when it holds only invisible characters', async () => {
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { privacyPolicyUrl: 'https://example.com/privacy' } });
    const opened = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message({ text: 'hola' }, 'wamid.q0') });
    expect(opened.statusCode, opened.body).toBe(200);
    for (const [index, text] of ['\u200b', '\u3164', '\u2800', '\ufeff'].entries()) {
      expectProblem(await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message({ text }, `wamid.q${index + 1}`) }), 422, 'VALIDATION_FAILED');
    }
    // Four invalid answers would have closed the conversation: the question still takes the agreement.
    const agreed = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message({ button: 'agree' }, 'wamid.q5') });
    expect(parsed(agreed, MessageAnswerSchema).events.map((event) => event.type)).toEqual(expect.arrayContaining(['consent.given']));
  });

  it('is read by its first 4,096 characters, the ones the engine reads: blank there, it is refused, naming them', async () => {
    const response = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message({ text: `${' '.repeat(4096)}STOP` }) });
    expectProblem(response, 422, 'VALIDATION_FAILED');
    const readBlank = 'a message needs text or button: a text blank in its first 4,096 characters, the ones read, is no text';
    expect(parsed(response, ProblemFieldsSchema)).toEqual({ detail: `text: ${readBlank}`, errors: [{ path: 'text', message: readBlank }] });
    // Within those characters, the word is read.
    const within = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message({ text: `${' '.repeat(4092)}STOP` }, 'wamid.2') });
    expect(parsed(within, MessageAnswerSchema).events.map((event) => event.type)).toEqual(['consent.withdrawn']);
  });

  it('is a text when it holds anything besides white space', async () => {
    const response = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message({ text: ' . ' }) });
    expect(response.statusCode, response.body).toBe(200);
    expect(parsed(response, MessageAnswerSchema).events.map((event) => event.type)).toEqual(['conversation.opened']);
  });
});

describe('POST /v1/messages with a blank button', () => {
  const BLANK_BUTTON = 'a blank button is no button: a button needs something besides white space and invisible characters';

  it('is refused 422 naming button, with or without a text, and nothing is recorded', async () => {
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { privacyPolicyUrl: 'https://example.com/privacy' } });
    for (const [index, extra] of [{ button: '   ' }, { button: '\u200b' }, { button: '\u3164\n' }, { text: 'hola', button: '\t' }].entries()) {
      const response = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message(extra, `wamid.b${index}`) });
      expectProblem(response, 422, 'VALIDATION_FAILED');
      expect(parsed(response, ProblemFieldsSchema), JSON.stringify(extra)).toEqual({ detail: `button: ${BLANK_BUTTON}`, errors: [{ path: 'button', message: BLANK_BUTTON }] });
    }
    expect(parsed(await t.as(acme, { method: 'GET', url: '/v1/events' }), EventsSchema).data).toEqual([]);
  });

  it('is a button when it holds anything besides white space and invisible characters', async () => {
    const response = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message({ button: ' STOP\u200b ' }) });
    expect(response.statusCode, response.body).toBe(200);
    expect(parsed(response, MessageAnswerSchema).events.map((event) => event.type)).toEqual(['consent.withdrawn']);
  });
});

describe('POST /v1/messages delivered again with a blank text beside its button', () => {
  const REUSED = [{ path: 'messageId', message: expect.stringMatching(/^already used on this channel by a message with another sender, text or button/) }];
  const click = { channel: 'whatsapp', messageId: 'wamid.click', from: { id: '34600000001' }, button: 'STOP' };

  it('is the same message: a blank text beside a button is absent, as a null one is', async () => {
    const first = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { ...click, text: '' } });
    expect(parsed(first, MessageAnswerSchema).events.map((event) => event.type)).toEqual(['consent.withdrawn']);
    for (const again of [click, { ...click, text: null }, { ...click, text: ' ' }, { ...click, text: '\u200b' }, { ...click, text: '' }]) {
      const answer = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: again });
      expect(answer.statusCode, answer.body).toBe(200);
      expect(answer.json(), JSON.stringify(again)).toEqual(first.json());
    }
  });

  it('is the same message the other way round: first without text, then with an empty one', async () => {
    const first = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: click });
    const again = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { ...click, text: '' } });
    expect(parsed(again, MessageAnswerSchema).warnings).toEqual([]);
    expect(again.json()).toEqual(first.json());
  });

  it('is still another message when the text beside the button holds something', async () => {
    await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { ...click, text: '' } });
    const other = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { ...click, text: 'stop please' } });
    expect(parsed(other, MessageAnswerSchema).warnings).toEqual(REUSED);
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

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MessageAnswerSchema as AnswerSchema, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, first) => {
  t = app;
  acme = first;
});


let sent = 0;

/** Posts a STOP from a Messenger sender with `from` beside its id and `extra` beside the text; expects 200. */
async function stop(from: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<z.output<typeof AnswerSchema>> {
  sent += 1;
  const payload = { channel: 'messenger', messageId: `mid.d${sent}`, from: { id: `psid-${sent}`, ...from }, text: 'STOP', ...extra };
  const res = await t.as(acme, { method: 'POST', url: '/v1/messages', payload });
  expect(res.statusCode, res.body).toBe(200);
  return AnswerSchema.parse(res.json());
}

async function expectStopRecorded(answer: z.output<typeof AnswerSchema>): Promise<void> {
  expect(answer.events.map((event) => event.type)).toEqual(['consent.withdrawn']);
  const permission = await t.as(acme, { method: 'GET', url: `/v1/contacts/${answer.contactId}/permission?channel=messenger&purpose=marketing` });
  expect(permission.json()).toMatchObject({ allowed: false, reason: 'opted_out' });
}

async function contact(contactId: string): Promise<unknown> {
  return (await t.as(acme, { method: 'GET', url: `/v1/contacts/${contactId}` })).json();
}

const PROCESSED_WITHOUT = '; ignored, the message was processed without it';
const DATED_WHEN_RECEIVED = '; ignored, the message is dated when it was received';

describe('POST /v1/messages: a null describing value is absent', () => {
  it.each([
    ['from.name', { name: null }, {}],
    ['from.phone', { phone: null }, {}],
    ['from.email', { email: null }, {}],
    ['timestamp', {}, { timestamp: null }],
  ])('records the STOP with %s null, without a warning', async (_path, from, extra) => {
    const answer = await stop(from, extra);
    await expectStopRecorded(answer);
    expect(answer.warnings).toEqual([]);
    expect(await contact(answer.contactId)).toMatchObject({ name: null, email: null, phone: null });
  });
});

describe('POST /v1/messages: a describing value that is not a string is ignored with a warning', () => {
  it.each([
    ['a number of epoch seconds (an hour ago)', 1_772_352_000],
    ['a number of epoch milliseconds (an hour ago)', 1_772_352_000_000],
    ['a small number', 12345],
  ])('records the STOP of a message whose timestamp is %s, dated when received', async (_what, timestamp) => {
    // A START dated now, then the STOP: read as an earlier date, the STOP would not outrank it.
    const started = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'messenger', messageId: `mid.start.${timestamp}`, from: { id: `psid-ts-${timestamp}` }, text: 'START' } });
    expect(started.statusCode).toBe(200);
    sent += 1;
    const payload = { channel: 'messenger', messageId: `mid.d${sent}`, from: { id: `psid-ts-${timestamp}` }, text: 'STOP', timestamp };
    const res = await t.as(acme, { method: 'POST', url: '/v1/messages', payload });
    expect(res.statusCode, res.body).toBe(200);
    const answer = AnswerSchema.parse(res.json());
    await expectStopRecorded(answer);
    expect(answer.warnings).toEqual([
      {
        path: 'timestamp',
        message: `is a number, not an RFC 3339 date and time with a zone (a number is not read as epoch seconds or milliseconds, as it does not say which)${DATED_WHEN_RECEIVED}`,
      },
    ]);
    const history = await t.as(acme, { method: 'GET', url: `/v1/contacts/${answer.contactId}/consents/history` });
    const occurred = z.object({ data: z.array(z.object({ status: z.string(), occurredAt: z.string() })) }).parse(history.json());
    expect(occurred.data.find((record) => record.status === 'opted_out')?.occurredAt).toBe('2026-03-01T09:00:00.000Z');
  });

  it.each([
    ['from.email', { email: 123 }, 'is a number, not a string with an e-mail address'],
    ['from.phone', { phone: 34_600_000_001 }, 'is a number, not a string with a phone number'],
    ['from.name', { name: 42 }, 'is a number, not a string'],
    ['from.name', { name: true }, 'is a boolean, not a string'],
    ['from.email', { email: ['ana@example.com'] }, 'is an array, not a string with an e-mail address'],
    ['from.phone', { phone: { number: '+34600000001' } }, 'is an object, not a string with a phone number'],
  ])('records the STOP of a sender whose %s is %j, and names it', async (path, from, message) => {
    const answer = await stop(from);
    await expectStopRecorded(answer);
    expect(answer.warnings).toEqual([{ path, message: `${message}${PROCESSED_WITHOUT}` }]);
    expect(await contact(answer.contactId)).toMatchObject({ name: null, email: null, phone: null });
  });

  it('records the STOP of a message whose timestamp is an object, and names it', async () => {
    const answer = await stop({}, { timestamp: { seconds: 1_772_355_600 } });
    await expectStopRecorded(answer);
    expect(answer.warnings).toEqual([{ path: 'timestamp', message: expect.stringMatching(/^is an object, not an RFC 3339 date and time with a zone .*dated when it was received$/) }]);
  });
});

describe('POST /v1/messages: an over-long describing value is ignored with a warning that does not quote it', () => {
  it.each([
    ['from.email', { email: `${'a'.repeat(1000)}@example.com` }, {}, `is longer than 1000 characters${PROCESSED_WITHOUT}`],
    ['from.phone', { phone: `+34 ${'6'.repeat(1000)}` }, {}, `is longer than 1000 characters${PROCESSED_WITHOUT}`],
    ['timestamp', {}, { timestamp: `2026-03-01T08:00:00Z${' '.repeat(81)}` }, `is longer than 100 characters${DATED_WHEN_RECEIVED}`],
    ['timestamp', {}, { timestamp: 'x'.repeat(101) }, `is longer than 100 characters${DATED_WHEN_RECEIVED}`],
  ])('records the STOP with an over-long %s', async (path, from, extra, message) => {
    const answer = await stop(from, extra);
    await expectStopRecorded(answer);
    expect(answer.warnings).toEqual([{ path, message }]);
    expect(await contact(answer.contactId)).toMatchObject({ email: null, phone: null });
  });

  it('reads a value at its limit as before: a 1,000-character e-mail is checked as an e-mail, a 100-character timestamp as a time', async () => {
    const answer = await stop({ email: `${'a'.repeat(988)}@example.com` }, { timestamp: 'x'.repeat(100) });
    await expectStopRecorded(answer);
    expect(answer.warnings).toEqual([
      { path: 'from.email', message: `"${'a'.repeat(80)}"… is not a valid email address: it is longer than 254 characters${PROCESSED_WITHOUT}` },
      { path: 'timestamp', message: expect.stringMatching(/^is not an RFC 3339 date and time/) },
    ]);
  });
});

describe('POST /v1/messages: every ignored value is named at once, in field order', () => {
  it('names a numeric name, an invalid e-mail, an over-long phone and a numeric timestamp', async () => {
    const answer = await stop({ phone: '1'.repeat(1001), email: 'ana.test(at)example.com', name: 7 }, { timestamp: 12345 });
    await expectStopRecorded(answer);
    expect(answer.warnings.map((warning) => warning.path)).toEqual(['from.name', 'from.email', 'from.phone', 'timestamp']);
    expect(answer.warnings.every((warning) => !warning.message.includes('1111'))).toBe(true);
  });

  it('keeps the valid values beside the ignored ones', async () => {
    const answer = await stop({ name: 'Ana Test', email: 404, phone: '+34 600 000 001' }, { timestamp: null });
    await expectStopRecorded(answer);
    expect(answer.warnings.map((warning) => warning.path)).toEqual(['from.email']);
    expect(await contact(answer.contactId)).toMatchObject({ name: 'Ana Test', email: null, phone: '+34600000001' });
  });

  it('answers a repeated delivery the same, warnings included', async () => {
    const payload = { channel: 'messenger', messageId: 'mid.repeat', from: { id: 'psid-repeat', name: null, email: 5 }, text: 'STOP', timestamp: 1 };
    const first = await t.as(acme, { method: 'POST', url: '/v1/messages', payload });
    const again = await t.as(acme, { method: 'POST', url: '/v1/messages', payload });
    expect(first.statusCode).toBe(200);
    expect(again.json()).toEqual(first.json());
    expect(AnswerSchema.parse(first.json()).warnings.map((warning) => warning.path)).toEqual(['from.email', 'timestamp']);
  });
});

// A null text or button is absent, not wrong (messages-empty-text.test.ts): a STOP clicked beside `text: null` is read.
describe('POST /v1/messages: the values that identify a message, and its content, stay strict', () => {
  it.each([
    [{ channel: 'messenger', messageId: 5, from: { id: 'psid-s' }, text: 'STOP' }, 'messageId'],
    [{ channel: 'messenger', messageId: 'mid.s', from: { id: null }, text: 'STOP' }, 'from.id'],
    [{ channel: 'messenger', messageId: 'mid.s', from: { id: 'psid-s' }, text: 5 }, 'text'],
    [{ channel: 'messenger', messageId: 'mid.s', from: { id: 'psid-s' }, text: 'STOP', button: 5 }, 'button'],
    [{ channel: null, messageId: 'mid.s', from: { id: 'psid-s' }, text: 'STOP' }, 'channel'],
  ])('refuses %j naming %s', async (payload, path) => {
    const res = await t.as(acme, { method: 'POST', url: '/v1/messages', payload });
    expect(res.statusCode).toBe(422);
    expect(z.object({ errors: z.array(z.object({ path: z.string() })) }).parse(res.json()).errors.map((error) => error.path)).toContain(path);
  });
});

describe('POST /v1/messages in the OpenAPI document', () => {
  it('describes each describing value as a string or null, and what is ignored', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const StringOrNull = z.object({ type: z.tuple([z.literal('string'), z.literal('null')]), description: z.string() });
    const body = z
      .object({
        properties: z.object({
          from: z.object({ properties: z.object({ phone: StringOrNull, email: StringOrNull, name: StringOrNull }), required: z.array(z.string()) }),
          timestamp: StringOrNull,
        }),
      })
      .parse(doc.paths['/v1/messages'].post.requestBody.content['application/json'].schema);
    expect(body.properties.from.required).toEqual(['id']);
    expect(body.properties.from.properties.email.description).toMatch(/longer than 1000 characters, is ignored with a warning; a null is read as absent/);
    expect(body.properties.from.properties.name.description).toMatch(/blank.*absent.*longer than 200 characters.*ignored/);
    expect(body.properties.timestamp.description).toMatch(/longer than 100 characters is ignored.*A number is ignored with a warning too: epoch seconds and milliseconds/);
  });
});

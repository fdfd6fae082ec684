import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MessageAnswerSchema as AnswerSchema, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, first) => {
  t = app;
  acme = first;
});


async function post(payload: Record<string, unknown>): Promise<z.output<typeof AnswerSchema>> {
  const res = await t.as(acme, { method: 'POST', url: '/v1/messages', payload });
  expect(res.statusCode, res.body).toBe(200);
  return AnswerSchema.parse(res.json());
}

async function permission(contactId: string, channel: string): Promise<unknown> {
  return (await t.as(acme, { method: 'GET', url: `/v1/contacts/${contactId}/permission?channel=${channel}&purpose=marketing` })).json();
}

async function contact(contactId: string): Promise<unknown> {
  return (await t.as(acme, { method: 'GET', url: `/v1/contacts/${contactId}` })).json();
}

describe('POST /v1/messages: a STOP is never refused for the sender name', () => {
  it.each([
    ['empty', ''],
    ['blank', '   '],
  ])('records the STOP of a sender whose name is %s, as of a sender without one', async (_what, name) => {
    const answer = await post({ channel: 'messenger', messageId: 'mid.1', from: { id: 'psid-777', name }, text: 'STOP' });
    expect(answer.events.map((event) => event.type)).toEqual(['consent.withdrawn']);
    expect(answer.warnings).toEqual([]);
    expect(await permission(answer.contactId, 'messenger')).toMatchObject({ allowed: false, reason: 'opted_out' });
    expect(await contact(answer.contactId)).toMatchObject({ name: null });
  });

  it('records the STOP of a sender whose name is 201 characters long, and names the name it ignored', async () => {
    const stop = { channel: 'messenger', messageId: 'mid.2', from: { id: 'psid-778', name: 'N'.repeat(201) }, text: 'STOP' };
    const answer = await post(stop);
    expect(answer.events.map((event) => event.type)).toEqual(['consent.withdrawn']);
    expect(answer.warnings).toEqual([{ path: 'from.name', message: 'is longer than 200 characters; ignored, the message was processed without it' }]);
    expect(await permission(answer.contactId, 'messenger')).toMatchObject({ allowed: false, reason: 'opted_out' });
    expect(await contact(answer.contactId)).toMatchObject({ name: null });
    // A repeated delivery answers the same, warning included.
    expect(await post(stop)).toEqual(answer);
  });

  it('keeps a name of 200 characters without a warning', async () => {
    const name = `Ana ${'T'.repeat(196)}`;
    const answer = await post({ channel: 'messenger', messageId: 'mid.3', from: { id: 'psid-779', name }, text: 'STOP' });
    expect(answer.warnings).toEqual([]);
    expect(await contact(answer.contactId)).toMatchObject({ name });
  });

  it('names a long name with a bad e-mail and phone, all ignored', async () => {
    const from = { id: 'psid-780', name: 'N'.repeat(300), email: 'ana.test(at)example.com', phone: '+1 000' };
    const answer = await post({ channel: 'messenger', messageId: 'mid.4', from, text: 'STOP' });
    expect(answer.warnings.map((warning) => warning.path)).toEqual(['from.name', 'from.email', 'from.phone']);
    expect(await permission(answer.contactId, 'messenger')).toMatchObject({ allowed: false });
  });

  it('still describes from.name in the OpenAPI document', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const body = z
      .object({ properties: z.object({ from: z.object({ properties: z.object({ name: z.object({ type: z.tuple([z.literal('string'), z.literal('null')]), description: z.string() }) }) }) }) })
      .parse(doc.paths['/v1/messages'].post.requestBody.content['application/json'].schema);
    expect(body.properties.from.properties.name.description).toMatch(/blank.*absent.*longer than 200 characters.*ignored/);
  });
});

describe('sender and contact values as chat apps and input methods write them', () => {
  it('POST /v1/messages takes a bidi-wrapped from.phone and a full-width from.email without a warning', async () => {
    const from = { id: 'visitor-1', phone: '\u202a+34 600 00 00 01\u202c', email: 'ａｎａ＠ｅｘａｍｐｌｅ．ｃｏｍ' };
    const answer = await post({ channel: 'webchat', messageId: 'w1', from, text: 'STOP' });
    expect(answer.warnings).toEqual([]);
    expect(await contact(answer.contactId)).toMatchObject({ phone: '+34600000001', email: 'ana@example.com' });
  });

  it('POST /v1/contacts stores them in E.164 and lower case, and finds them spelled so', async () => {
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { defaultCountry: 'JP' } });
    const res = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Ana Test', email: '\u200bAna＠Example.com', phone: '０９０－１２３４－５６７８' } });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ email: 'ana@example.com', phone: '+819012345678' });
    const found = await t.as(acme, { method: 'GET', url: `/v1/contacts?phone=${encodeURIComponent('\u200e+81 90-1234-5678')}` });
    expect(found.json().data.map((c: { id: string }) => c.id)).toEqual([res.json().id]);
  });
});

describe('POST /v1/messages: a STOP is never refused for the sender e-mail or phone', () => {
  it.each([
    ['an empty e-mail', { email: '' }, 'from.email', 'is empty'],
    ['a 255-character e-mail', { email: `${'a'.repeat(243)}@example.com` }, 'from.email', `"${'a'.repeat(80)}"… is not a valid email address: it is longer than 254 characters`],
    ['an empty phone', { phone: '' }, 'from.phone', 'is empty'],
    ['a 41-character phone', { phone: `+34 ${'0'.repeat(37)}` }, 'from.phone', 'is not a valid phone number'],
  ])('records the STOP of a sender with %s, and names the value it ignored', async (_what, sender, path, message) => {
    const answer = await post({ channel: 'messenger', messageId: `mid.${path}.${JSON.stringify(sender).length}`, from: { id: 'psid-900', ...sender }, text: 'STOP' });
    expect(answer.events.map((event) => event.type)).toEqual(['consent.withdrawn']);
    expect(answer.warnings).toEqual([{ path, message: expect.stringContaining(message) }]);
    expect(await permission(answer.contactId, 'messenger')).toMatchObject({ allowed: false, reason: 'opted_out' });
  });
});

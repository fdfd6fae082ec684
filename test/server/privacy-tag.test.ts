import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { expectProblem, problemPaths, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, first) => {
  t = app;
  acme = first;
});

const PHONE = '+34600000131';
const PRIVACY_TAG = 'Consent: Privacy';
const QUESTION = 'Do you agree to our privacy policy? Select AGREE & PROCEED to continue.';
const ContactSchema = z.object({ id: z.string(), tags: z.array(z.string()) });
const MessageAnswerSchema = z.object({ contactId: z.string(), replies: z.array(z.object({ text: z.string() })), events: z.array(z.object({ type: z.string() })) });

async function setPolicyUrl(): Promise<void> {
  const res = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { privacyPolicyUrl: 'https://example.com/privacy' } });
  expect(res.statusCode, res.body).toBe(200);
}

async function newContact(): Promise<string> {
  const res = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Hugo Test', phone: PHONE } });
  expect(res.statusCode, res.body).toBe(201);
  return ContactSchema.parse(res.json()).id;
}

async function tagsOf(id: string): Promise<string[]> {
  return ContactSchema.parse((await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}` })).json()).tags;
}

async function privacyPermission(id: string): Promise<unknown> {
  return (await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/permission?channel=sms&purpose=privacy` })).json();
}

async function recordPrivacy(id: string, status: 'opted_in' | 'opted_out'): Promise<void> {
  const payload = status === 'opted_in' ? { status, legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Accepted the privacy policy on the signup form' } : { status };
  const res = await t.as(acme, { method: 'PUT', url: `/v1/contacts/${id}/consents/privacy/sms`, payload });
  expect(res.statusCode, res.body).toBe(201);
}

describe('POST /v1/contacts with Consent: Privacy in tags', () => {
  it('is 422 TAG_NEEDS_CONSENT naming tags.N and the route that records the decision; the contact is then asked', async () => {
    await setPolicyUrl();
    const refused = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { phone: PHONE, tags: ['CONSENT: PRIVACY'] } });
    const problem = expectProblem(refused, 422, 'TAG_NEEDS_CONSENT');
    expect(problemPaths(refused)).toEqual(['tags.0']);
    expect(String(problem.detail)).toContain('PUT /v1/contacts/{id}/consents/privacy/{channel}, which adds the tag');
    expect((await t.as(acme, { method: 'GET', url: '/v1/contacts' })).json().data).toEqual([]);

    const res = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: 'tp.1', from: { id: PHONE }, text: 'hi, my name is Hugo' } });
    const answer = MessageAnswerSchema.parse(res.json());
    expect(answer.replies.map((reply) => reply.text)).toContain(QUESTION);
    expect(await privacyPermission(answer.contactId)).toMatchObject({ allowed: false, reason: 'not_specified' });
  });

  it.each(['Consent: Privacy', 'consent: privacy', ' CONSENT:  PRIVACY '])('refuses %j among other tags, by its place', async (tag) => {
    const refused = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Hugo Test', tags: ['VIP', tag] } });
    expectProblem(refused, 422, 'TAG_NEEDS_CONSENT');
    expect(problemPaths(refused)).toEqual(['tags.1']);
  });

  it('is named together with the body’s other problems', async () => {
    const withCharacter = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { email: 'not-an-email', tags: ['consent: privacy', 'a\u0000b'] } });
    expectProblem(withCharacter, 422, 'VALIDATION_FAILED');
    expect(problemPaths(withCharacter)).toEqual(['email', 'tags.0', 'tags.1']);

    const withSchemaError = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 7, tags: ['Consent: Privacy'] } });
    expectProblem(withSchemaError, 422, 'VALIDATION_FAILED');
    expect(problemPaths(withSchemaError)).toEqual(['name', 'tags.0']);

    const withEmail = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { email: 'not-an-email', tags: ['Consent: Privacy'] } });
    expectProblem(withEmail, 422, 'INVALID_EMAIL');
    expect(problemPaths(withEmail)).toEqual(['email', 'tags.0']);
    expect((await t.as(acme, { method: 'GET', url: '/v1/contacts' })).json().data).toEqual([]);
  });
});

describe('POST /v1/contacts/{id}/tags with Consent: Privacy', () => {
  it.each(['Consent: Privacy', 'consent: privacy', 'CONSENT: PRIVACY'])('%j is 422 TAG_NEEDS_CONSENT naming tag without a privacy opt-in', async (tag) => {
    await setPolicyUrl();
    const id = await newContact();
    const refused = await t.as(acme, { method: 'POST', url: `/v1/contacts/${id}/tags`, payload: { tag } });
    const problem = expectProblem(refused, 422, 'TAG_NEEDS_CONSENT');
    expect(problemPaths(refused)).toEqual(['tag']);
    expect(String(problem.detail)).toContain(`PUT /v1/contacts/${id}/consents/privacy/{channel}, which adds the tag`);
    expect(await tagsOf(id)).toEqual([]);
    const res = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: 'tp.2', from: { id: PHONE }, text: 'hi' } });
    expect(MessageAnswerSchema.parse(res.json()).replies.map((reply) => reply.text)).toContain(QUESTION);
  });

  it('is 422 after a privacy withdrawal too', async () => {
    const id = await newContact();
    await recordPrivacy(id, 'opted_in');
    t.clock.advance(60_000);
    await recordPrivacy(id, 'opted_out');
    expect(await tagsOf(id)).toEqual([]);
    const refused = await t.as(acme, { method: 'POST', url: `/v1/contacts/${id}/tags`, payload: { tag: PRIVACY_TAG } });
    expect(String(expectProblem(refused, 422, 'TAG_NEEDS_CONSENT').detail)).toContain('the privacy decision in force is an opt-out');
  });

  it('changes nothing while the opt-in recorded through PUT is in force, whatever the letter case', async () => {
    const id = await newContact();
    await recordPrivacy(id, 'opted_in');
    expect(await tagsOf(id)).toEqual([PRIVACY_TAG]);
    const again = await t.as(acme, { method: 'POST', url: `/v1/contacts/${id}/tags`, payload: { tag: 'CONSENT: PRIVACY' } });
    expect(again.statusCode, again.body).toBe(200);
    expect(ContactSchema.parse(again.json()).tags).toEqual([PRIVACY_TAG]);
    const tagged = (await t.as(acme, { method: 'GET', url: '/v1/events?type=contact.tagged' })).json().data;
    expect(tagged).toHaveLength(1);
  });
});

describe('PATCH /v1/contacts/{id} with tags', () => {
  it('is 422: tags are not a field a patch changes, so it cannot add Consent: Privacy', async () => {
    const id = await newContact();
    const refused = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${id}`, payload: { tags: ['consent: privacy'] } });
    expectProblem(refused, 422, 'VALIDATION_FAILED');
    expect(problemPaths(refused)).toEqual(['tags']);
    expect(await tagsOf(id)).toEqual([]);
  });
});

describe('DELETE /v1/contacts/{id}/tags/{tag} of Consent: Privacy', () => {
  it('removes it and leaves the decision on record; the tag can then be added back while the opt-in is in force', async () => {
    const id = await newContact();
    await recordPrivacy(id, 'opted_in');
    const removed = await t.as(acme, { method: 'DELETE', url: `/v1/contacts/${id}/tags/consent%3A%20privacy` });
    expect(removed.statusCode, removed.body).toBe(200);
    expect(ContactSchema.parse(removed.json()).tags).toEqual([]);
    expect(await privacyPermission(id)).toMatchObject({ allowed: true, reason: 'opted_in' });
    const back = await t.as(acme, { method: 'POST', url: `/v1/contacts/${id}/tags`, payload: { tag: PRIVACY_TAG } });
    expect(ContactSchema.parse(back.json()).tags).toEqual([PRIVACY_TAG]);
  });
});

describe('DELETE /v1/contacts/{id}/tags/{tag} with a control character', () => {
  it.each([['Consent%3A%09Privacy', 'U+0009'], ['Consent%3A%0APrivacy', 'U+000A'], ['Consent%3A%E2%80%8FPrivacy', 'U+200F']])(
    '%s is 422 naming tag and %s, and leaves Consent: Privacy and the open conversation alone',
    async (encoded, codePoint) => {
      await setPolicyUrl();
      const asked = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: 'tc.1', from: { id: PHONE }, text: 'hi' } });
      const { contactId } = MessageAnswerSchema.parse(asked.json());
      await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: 'tc.2', from: { id: PHONE }, button: 'AGREE & PROCEED' } });
      expect(await tagsOf(contactId)).toEqual([PRIVACY_TAG]);
      const refused = await t.as(acme, { method: 'DELETE', url: `/v1/contacts/${contactId}/tags/${encoded}` });
      const problem = expectProblem(refused, 422, 'VALIDATION_FAILED');
      expect(problemPaths(refused)).toEqual(['tag']);
      expect(String(problem.detail)).toContain(codePoint);
      expect(await tagsOf(contactId)).toEqual([PRIVACY_TAG]);
      const next = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: 'tc.3', from: { id: PHONE }, text: 'thanks' } });
      expect(MessageAnswerSchema.parse(next.json()).replies.map((reply) => reply.text)).not.toContain(QUESTION);
      expect((await t.as(acme, { method: 'GET', url: '/v1/events?type=contact.untagged' })).json().data).toEqual([]);
    },
  );
});

describe('/openapi.json', () => {
  it('says which tag routes refuse Consent: Privacy, and under which code', async () => {
    const doc = z
      .object({ paths: z.record(z.string(), z.record(z.string(), z.object({ description: z.string().optional() }).loose())) })
      .parse((await t.app.inject({ method: 'GET', url: '/openapi.json' })).json());
    expect(doc.paths['/v1/contacts']?.['post']?.description).toContain('422 TAG_NEEDS_CONSENT naming `tags.N`');
    expect(doc.paths['/v1/contacts/{id}/tags']?.['post']?.description).toContain('422 TAG_NEEDS_CONSENT naming `tag`');
    expect(doc.paths['/v1/contacts/{id}/tags/{tag}']?.['delete']?.description).toContain('asked again');
  });
});

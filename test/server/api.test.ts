import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ANA, BEN, expectProblem, problemPaths, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;
let globex: Tenant;

useTestApp(
  (app, first, second) => {
    t = app;
    acme = first;
    globex = second;
  },
  ['Acme', 'Globex'],
);

async function createContact(tenant: Tenant, payload: Record<string, unknown> = ANA): Promise<string> {
  const res = await t.as(tenant, { method: 'POST', url: '/v1/contacts', payload });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id;
}

async function optIn(tenant: Tenant, contactId: string, channel = 'whatsapp', headers: Record<string, string> = {}) {
  return t.as(tenant, {
    method: 'PUT',
    url: `/v1/contacts/${contactId}/consents/marketing/${channel}`,
    headers,
    payload: { status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Ticked the box on the signup form' },
  });
}

describe('GET /v1/me', () => {
  it("answers the key's workspace", async () => {
    const res = await t.as(acme, { method: 'GET', url: '/v1/me' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ id: acme.workspaceId, name: 'Acme' });
    const other = await t.as(globex, { method: 'GET', url: '/v1/me' });
    expect(other.json()).toEqual({ id: globex.workspaceId, name: 'Globex' });
  });
});

describe('PATCH /v1/me', () => {
  it("renames the key's workspace, which replies, GET /v1/me and the other workspace then show as they should", async () => {
    const res = await t.as(acme, { method: 'PATCH', url: '/v1/me', payload: { name: '  Acme Shop ' } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ id: acme.workspaceId, name: 'Acme Shop' });
    expect((await t.as(acme, { method: 'GET', url: '/v1/me' })).json()).toEqual({ id: acme.workspaceId, name: 'Acme Shop' });
    expect((await t.as(globex, { method: 'GET', url: '/v1/me' })).json()).toEqual({ id: globex.workspaceId, name: 'Globex' });
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { replies: { en: { help: '{{workspace.name}} alerts: reply STOP to cancel.' } } } });
    const help = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: 'sms-help', from: { id: '+34600000001' }, text: 'help' } });
    expect(help.json().replies).toEqual([{ text: 'Acme Shop alerts: reply STOP to cancel.' }]);
  });

  it('refuses a blank name, one with a line break and an unknown member, naming each, and answers 401 without a key', async () => {
    const blank = await t.as(acme, { method: 'PATCH', url: '/v1/me', payload: { name: '   ' } });
    expectProblem(blank, 422, 'VALIDATION_FAILED');
    expect(problemPaths(blank)).toEqual(['name']);
    const broken = await t.as(acme, { method: 'PATCH', url: '/v1/me', payload: { name: 'Acme\nShop' } });
    expectProblem(broken, 422, 'VALIDATION_FAILED');
    expect(problemPaths(broken)).toEqual(['name']);
    const unknown = await t.as(acme, { method: 'PATCH', url: '/v1/me', payload: { name: 'Acme', nmae: 'typo' } });
    expectProblem(unknown, 422, 'VALIDATION_FAILED');
    expect(problemPaths(unknown)).toEqual(['nmae']);
    expect((await t.app.inject({ method: 'PATCH', url: '/v1/me', payload: { name: 'Nobody' } })).statusCode).toBe(401);
    expect((await t.as(acme, { method: 'GET', url: '/v1/me' })).json().name).toBe('Acme');
  });
});

describe('POST /v1/messages', () => {
  const stop = { channel: 'whatsapp', messageId: 'wamid.1', from: { id: '+34600000001', name: 'Ana Test' }, text: 'STOP' };

  it('honours a STOP keyword and answers replies and public events', async () => {
    const res = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: stop });
    expect(res.statusCode, res.body).toBe(200);
    const answer = res.json();
    expect(Object.keys(answer).sort()).toEqual(['contactId', 'conversationId', 'events', 'replies', 'warnings']);
    expect(answer.warnings).toEqual([]);
    expect(answer.replies).toHaveLength(1);
    expect(answer.replies[0].text).toMatch(/unsubscribed/i);
    expect(answer.events.map((e: { type: string }) => e.type)).toEqual(['consent.withdrawn']);
    expect(answer.events[0]).toMatchObject({ version: 1, workspaceId: acme.workspaceId, contactId: answer.contactId });
    expect(answer.events[0]).not.toHaveProperty('position');
    const permission = await t.as(acme, { method: 'GET', url: `/v1/contacts/${answer.contactId}/permission?channel=whatsapp&purpose=marketing` });
    expect(permission.json()).toMatchObject({ allowed: false, reason: 'opted_out', status: 'opted_out' });
  });

  it('answers a repeated channel message id with the first answer and changes nothing', async () => {
    const first = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: stop });
    const again = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: stop });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(first.json());
    const history = await t.as(acme, { method: 'GET', url: `/v1/contacts/${first.json().contactId}/consents/history` });
    expect(history.json().data).toHaveLength(1);
  });

  it('names messageId in warnings when a message reuses the id of a different one, and processes nothing of it', async () => {
    const hello = { ...stop, messageId: 'wamid.2', text: 'hello' };
    const first = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: hello });
    const collision = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { ...hello, text: 'STOP' } });
    expect(collision.statusCode).toBe(200);
    const { warnings, ...answer } = collision.json();
    expect(answer).toEqual({ ...first.json(), warnings: undefined });
    expect(warnings).toEqual([{ path: 'messageId', message: expect.stringMatching(/another sender, text or button.*not processed/) }]);
    const permission = await t.as(acme, { method: 'GET', url: `/v1/contacts/${first.json().contactId}/permission?channel=whatsapp&purpose=marketing` });
    expect(permission.json()).toMatchObject({ reason: 'not_specified' });
  });

  it('applies a STOP whose channel timestamp is before 1970 as received now, and warns that the timestamp was ignored', async () => {
    const start = { ...stop, messageId: 'wamid.t1', text: 'START' };
    const started = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: start });
    expect(started.statusCode).toBe(200);
    const res = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { ...stop, messageId: 'wamid.t2', timestamp: '0001-01-01T00:00:00Z' } });
    expect(res.statusCode).toBe(200);
    expect(res.json().warnings).toEqual([{ path: 'timestamp', message: expect.stringMatching(/before 1970-01-01T00:00:00Z; ignored/) }]);
    const permission = await t.as(acme, { method: 'GET', url: `/v1/contacts/${res.json().contactId}/permission?channel=whatsapp&purpose=marketing` });
    expect(permission.json()).toMatchObject({ allowed: false, reason: 'opted_out' });
  });

  it.each(['2026-11-22T09:00:00', 'yesterday', '2026-13-40T99:00:00Z'])('applies a STOP whose timestamp %s has no zone or cannot be read, as received now, with a warning', async (timestamp) => {
    const started = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { ...stop, messageId: 'wamid.z1', text: 'START' } });
    expect(started.statusCode).toBe(200);
    const res = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { ...stop, messageId: 'wamid.z2', timestamp } });
    expect(res.statusCode).toBe(200);
    expect(res.json().events.map((event: { type: string }) => event.type)).toContain('consent.withdrawn');
    expect(res.json().warnings).toEqual([{ path: 'timestamp', message: 'is not an RFC 3339 date and time with seconds and a zone, such as 2026-11-22T09:00:00Z or 2026-11-22T10:00:00+01:00; ignored, the message is dated when it was received' }]);
    const permission = await t.as(acme, { method: 'GET', url: `/v1/contacts/${res.json().contactId}/permission?channel=whatsapp&purpose=marketing` });
    expect(permission.json()).toMatchObject({ allowed: false, reason: 'opted_out' });
  });

  it('opens a conversation and runs the privacy workflow for a first message', async () => {
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { privacyPolicyUrl: 'https://example.com/privacy' } });
    const res = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { ...stop, text: 'hola' } });
    expect(res.statusCode).toBe(200);
    expect(res.json().conversationId).toEqual(expect.any(String));
    expect(res.json().replies.some((r: { options?: { label: string }[] }) => r.options?.some((o) => o.label === 'AGREE & PROCEED'))).toBe(true);
  });

  it.each([
    [{ ...stop, channel: 'pigeon' }, 'channel'],
    [{ ...stop, from: { id: 42 } }, 'from.id'],
    [{ ...stop, text: undefined }, 'text'],
    [{ ...stop, messageId: '' }, 'messageId'],
    [{ channel: 'sms' }, 'messageId'],
  ])('refuses %j naming %s', async (payload, field) => {
    const res = await t.as(acme, { method: 'POST', url: '/v1/messages', payload });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res)).toContain(field);
  });

  it('refuses a body that is not an object, naming the body', async () => {
    const res = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: '[1,2]', headers: { 'content-type': 'application/json' } });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res)).toEqual(['body']);
  });
});

describe('contacts', () => {
  it('creates, reads, lists, patches, tags and erases a contact', async () => {
    const created = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { ...ANA, tags: ['VIP'], fields: { city: 'Madrid' } } });
    expect(created.statusCode).toBe(201);
    const { warnings, ...contact } = created.json();
    expect(warnings).toEqual([]);
    expect(Object.keys(contact).sort()).toEqual(
      ['createdAt', 'email', 'erasedAt', 'fields', 'hubspotId', 'id', 'identities', 'name', 'phone', 'tags', 'updatedAt'].sort(),
    );
    expect(contact).toMatchObject({ name: 'Ana Test', email: 'ana.test@example.com', phone: '+34600000001', tags: ['VIP'], fields: { city: 'Madrid' }, erasedAt: null });

    const read = await t.as(acme, { method: 'GET', url: `/v1/contacts/${contact.id}` });
    expect(read.json()).toEqual(contact);

    const byEmail = await t.as(acme, { method: 'GET', url: '/v1/contacts?email=ANA.TEST@example.com' });
    expect(byEmail.json()).toEqual({ data: [contact], nextCursor: null });
    const byTag = await t.as(acme, { method: 'GET', url: '/v1/contacts?tag=VIP' });
    expect(byTag.json().data.map((c: { id: string }) => c.id)).toEqual([contact.id]);

    t.clock.advance(1000);
    const patched = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${contact.id}`, payload: { name: 'Ana María Test' } });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ id: contact.id, name: 'Ana María Test', email: ANA.email });

    const tagged = await t.as(acme, { method: 'POST', url: `/v1/contacts/${contact.id}/tags`, payload: { tag: 'Newsletter' } });
    expect(tagged.statusCode).toBe(200);
    expect(tagged.json().tags).toEqual(expect.arrayContaining(['VIP', 'Newsletter']));
    const tags = await t.as(acme, { method: 'GET', url: '/v1/tags' });
    expect(tags.json().data).toEqual(expect.arrayContaining(['VIP', 'Newsletter']));

    const untagged = await t.as(acme, { method: 'DELETE', url: `/v1/contacts/${contact.id}/tags/${encodeURIComponent('Newsletter')}` });
    expect(untagged.statusCode).toBe(200);
    expect(untagged.json().tags).toEqual(['VIP']);

    await optIn(acme, contact.id);
    const erased = await t.as(acme, { method: 'DELETE', url: `/v1/contacts/${contact.id}`, headers: { 'content-type': 'application/json' } });
    expect(erased.statusCode, erased.body).toBe(200);
    // The contact's tag events quote its tags.
    expect(erased.json()).toMatchObject({ redactedRecords: 1, redactedEvents: 3, redactedMessages: 0, redactedRuns: 0 });
    expect(erased.json().contact).toMatchObject({ id: contact.id, name: null, email: null, phone: null, erasedAt: expect.any(String) });
    const afterErase = await optIn(acme, contact.id);
    expectProblem(afterErase, 410, 'CONTACT_ERASED');
    expect(afterErase.json().errors).toEqual([{ path: 'id', message: `erased on ${String(erased.json().contact.erasedAt)}` }]);
  });

  it('erases the answers kept of the contact and says how many, in the documented response', async () => {
    const welcome = { triggers: [{ trigger: 'conversation_opened', template: 'welcome-request-email', enabled: true }] };
    expect((await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: welcome })).statusCode).toBe(200);
    const message = (messageId: string, text: string) => ({ channel: 'whatsapp', messageId, from: { id: '+34600000001', name: 'Ana Test' }, text });
    const hello = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message('wamid.e1', 'hello') });
    expect(hello.json().replies[0].text).toContain('Hi Ana');
    await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message('wamid.e2', 'ana.test@example.com') });
    const id = hello.json().contactId;

    const erased = await t.as(acme, { method: 'DELETE', url: `/v1/contacts/${id}` });
    expect(erased.statusCode, erased.body).toBe(200);
    expect(Object.keys(erased.json()).sort()).toEqual(['contact', 'redactedEvents', 'redactedMessages', 'redactedRecords', 'redactedRuns']);
    expect(erased.json()).toMatchObject({ contact: { id, erasedAt: expect.any(String) }, redactedRecords: 0, redactedEvents: 0, redactedMessages: 2, redactedRuns: 1 });
    const replay = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message('wamid.e1', 'hello') });
    expect(replay.statusCode, replay.body).toBe(200);
    // Nothing of the first answer goes to the erased person again.
    expect(replay.json()).toMatchObject({ contactId: id, replies: [], warnings: [{ path: 'messageId' }] });
    const again = await t.as(acme, { method: 'DELETE', url: `/v1/contacts/${id}` });
    expect(again.json()).toMatchObject({ redactedRecords: 0, redactedEvents: 0, redactedMessages: 0, redactedRuns: 0 });

    const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const documented = doc.paths['/v1/contacts/{id}'].delete.responses['200'].content['application/json'].schema;
    expect(Object.keys(documented.properties).sort()).toEqual(['contact', 'redactedEvents', 'redactedMessages', 'redactedRecords', 'redactedRuns']);
  });

  it('pages through contacts with cursor and limit', async () => {
    const ids = [await createContact(acme, ANA), await createContact(acme, BEN), await createContact(acme, { name: 'Cleo Test' })];
    const first = await t.as(acme, { method: 'GET', url: '/v1/contacts?limit=2' });
    expect(first.json().data).toHaveLength(2);
    expect(first.json().nextCursor).toEqual(expect.any(String));
    const second = await t.as(acme, { method: 'GET', url: `/v1/contacts?limit=2&cursor=${first.json().nextCursor}` });
    expect(second.json().nextCursor).toBeNull();
    const seen = [...first.json().data, ...second.json().data].map((c: { id: string }) => c.id);
    expect(seen.sort()).toEqual([...ids].sort());
  });

  it("refuses a cursor that names no contact of the workspace, another workspace's included", async () => {
    await createContact(acme, ANA);
    const foreign = await createContact(globex);
    for (const cursor of ['garbage', '00000000000000000000000000', foreign]) {
      const res = await t.as(acme, { method: 'GET', url: `/v1/contacts?cursor=${cursor}` });
      expectProblem(res, 422, 'VALIDATION_FAILED');
      expect(res.json().errors).toEqual([{ path: 'cursor', message: `no contact ${cursor} in this workspace: pass the nextCursor a previous page returned` }]);
    }
  });

  it.each([
    ['POST', { name: 'Ana\r\nTest' }, 'name', 'U+000D'],
    ['POST', { name: 'Ana \u202ETest' }, 'name', 'U+202E'],
    ['POST', { fields: { 'city\u0000': 'Madrid' } }, 'fields', 'U+0000'],
    ['PATCH', { name: 'Ana\u0000' }, 'name', 'U+0000'],
  ])('%s refuses a contact name or field name holding a control or bidirectional character: %j', async (method, payload, path, code) => {
    const url = method === 'POST' ? '/v1/contacts' : `/v1/contacts/${await createContact(acme, ANA)}`;
    const res = await t.as(acme, { method: method === 'POST' ? 'POST' : 'PATCH', url, payload });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res)[0]).toMatch(new RegExp(`^${path}`));
    expect(res.body).toContain(code);
  });

  it('maps engine refusals: invalid email 422, duplicate email 409, unknown contact 404', async () => {
    const bad = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { email: 'not-an-email' } });
    expectProblem(bad, 422, 'INVALID_EMAIL');
    expect(problemPaths(bad)).toEqual(['email']);
    await createContact(acme, ANA);
    expectProblem(await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { email: ANA.email } }), 409, 'CONFLICT');
    expectProblem(await t.as(acme, { method: 'GET', url: '/v1/contacts/01NOTACONTACT' }), 404, 'NOT_FOUND');
    const badPhone = await t.as(acme, { method: 'GET', url: '/v1/contacts?phone=12' });
    expectProblem(badPhone, 422, 'INVALID_PHONE');
  });

  it.each([
    ['POST', '/v1/contacts', { name: 7 }, 'name'],
    ['POST', '/v1/contacts', { tags: 'VIP' }, 'tags'],
    ['POST', '/v1/contacts', { identities: [{ channel: 'whatsapp' }] }, 'identities.0.externalId'],
    ['POST', '/v1/contacts', { nickname: 'Ana' }, 'nickname'],
    ['PATCH', '/v1/contacts/ID', { tags: ['VIP'] }, 'tags'],
    ['PATCH', '/v1/contacts/ID', { fields: { city: 3 } }, 'fields.city'],
    ['POST', '/v1/contacts/ID/tags', {}, 'tag'],
    ['POST', '/v1/contacts/ID/tags', { tag: '   ' }, 'tag'],
  ] as const)('%s %s refuses %j naming %s', async (method, url, payload, field) => {
    const id = await createContact(acme);
    const res = await t.as(acme, { method, url: url.replace('ID', id), payload });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res)).toContain(field);
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=501', 'limit'],
    ['limit=ten', 'limit'],
    ['colour=blue', 'colour'],
    ['email=', 'email'],
  ])('GET /v1/contacts?%s names %s', async (query, field) => {
    const res = await t.as(acme, { method: 'GET', url: `/v1/contacts?${query}` });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res)).toContain(field);
  });
});

describe('consents', () => {
  it('records a decision with source api and the key as actor; 201 then 200 for the same idempotency key', async () => {
    const id = await createContact(acme);
    const payload = { status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Signed up at the counter', idempotencyKey: 'signup-1' };
    const res = await t.as(acme, { method: 'PUT', url: `/v1/contacts/${id}/consents/marketing/whatsapp`, payload });
    expect(res.statusCode, res.body).toBe(201);
    const answer = res.json();
    expect(answer.created).toBe(true);
    expect(answer.record).toMatchObject({
      contactId: id,
      purpose: 'marketing',
      channel: 'whatsapp',
      status: 'opted_in',
      source: 'api',
      actor: { kind: 'integration', id: acme.keyId },
      seq: 1,
      legalBasis: 'CONSENT_WITH_NOTICE',
    });
    expect(answer.current).toMatchObject({ purpose: 'marketing', channel: 'whatsapp', status: 'opted_in', recordId: answer.record.id });
    const replay = await t.as(acme, { method: 'PUT', url: `/v1/contacts/${id}/consents/marketing/whatsapp`, payload });
    expect(replay.statusCode).toBe(200);
    expect(replay.json()).toMatchObject({ created: false, record: { id: answer.record.id } });
    const conflict = await t.as(acme, { method: 'PUT', url: `/v1/contacts/${id}/consents/marketing/whatsapp`, payload: { ...payload, status: 'opted_out' } });
    expectProblem(conflict, 409, 'CONFLICT');
  });

  it('names every bad field of the request, in the path and in the body alike', async () => {
    const id = await createContact(acme);
    const res = await t.as(acme, {
      method: 'PUT',
      url: `/v1/contacts/${id}/consents/marketing/fax`,
      payload: { status: 'maybe', legalBasis: 'X', occurredAt: 'yesterday', extra: 1 },
    });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res).sort()).toEqual(['channel', 'extra', 'legalBasis', 'occurredAt', 'status']);
  });

  it('records source zapier when the Zapier app says so, and api when the header says api', async () => {
    const id = await createContact(acme);
    const res = await optIn(acme, id, 'sms', { 'x-consentry-source': 'zapier' });
    expect(res.statusCode).toBe(201);
    expect(res.json().record.source).toBe('zapier');
    const spaced = await optIn(acme, id, 'whatsapp', { 'x-consentry-source': ' Zapier ' });
    expect(spaced.json().record.source).toBe('zapier');
    const plain = await optIn(acme, id, 'email', { 'x-consentry-source': 'api' });
    expect(plain.json().record.source).toBe('api');
  });

  it('refuses any other X-Consentry-Source naming the header, with the body problems, and records nothing', async () => {
    const id = await createContact(acme);
    const res = await optIn(acme, id, 'sms', { 'x-consentry-source': 'somebody-else' });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res)).toEqual(['headers.x-consentry-source']);
    expect(res.json().errors[0].message).toMatch(/api, zapier/);
    const both = await t.as(acme, {
      method: 'PUT',
      url: `/v1/contacts/${id}/consents/marketing/sms`,
      headers: { 'x-consentry-source': 'hubspot' },
      payload: { status: 'maybe' },
    });
    expectProblem(both, 422, 'VALIDATION_FAILED');
    expect(problemPaths(both).sort()).toEqual(['headers.x-consentry-source', 'status']);
    const bulk = await t.as(acme, {
      method: 'POST',
      url: '/v1/consents/bulk',
      headers: { 'x-consentry-source': 'zap' },
      payload: { rows: [{ contactId: id, purpose: 'marketing', channel: 'sms', status: 'opted_out' }] },
    });
    expectProblem(bulk, 422, 'VALIDATION_FAILED');
    expect(problemPaths(bulk)).toEqual(['headers.x-consentry-source']);
    expect((await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/consents/history` })).json().data).toEqual([]);
  });

  it('lists current consents, history in chain order, and permission', async () => {
    const id = await createContact(acme);
    await optIn(acme, id, 'whatsapp');
    t.clock.advance(60_000);
    await t.as(acme, { method: 'PUT', url: `/v1/contacts/${id}/consents/marketing/whatsapp`, payload: { status: 'opted_out' } });
    await optIn(acme, id, 'email');

    const consents = await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/consents` });
    expect(consents.statusCode).toBe(200);
    expect(consents.json().contactId).toBe(id);
    const byChannel = Object.fromEntries(consents.json().data.map((s: { channel: string; status: string }) => [s.channel, s.status]));
    expect(byChannel).toEqual({ whatsapp: 'opted_out', email: 'opted_in' });
    expect(Object.keys(consents.json().data[0]).sort()).toEqual(
      ['channel', 'effectiveStatus', 'explanation', 'legalBasis', 'occurredAt', 'overriddenBy', 'purpose', 'recordId', 'source', 'status'].sort(),
    );

    const history = await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/consents/history` });
    expect(history.json().data.map((r: { seq: number }) => r.seq)).toEqual([1, 2, 3]);
    expect(history.json().data[1].prevHash).toBe(history.json().data[0].hash);

    const email = await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/permission?channel=email&purpose=marketing` });
    expect(email.json()).toMatchObject({ allowed: true, reason: 'opted_in', status: 'opted_in', since: expect.any(String) });
    const sms = await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/permission?channel=sms` });
    expect(sms.json()).toEqual({ allowed: false, reason: 'not_specified', status: 'not_specified', since: null });
  });

  it.each([
    ['marketing/whatsapp', { status: 'opted_in' }, 422, 'LEGAL_BASIS_REQUIRED', 'legalBasis'],
    ['marketing/whatsapp', { status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE' }, 422, 'EXPLANATION_REQUIRED', 'explanation'],
    ['marketing/whatsapp', { status: 'maybe' }, 422, 'VALIDATION_FAILED', 'status'],
    ['marketing/whatsapp', { status: 'opted_out', legalBasis: 'BECAUSE' }, 422, 'VALIDATION_FAILED', 'legalBasis'],
    ['marketing/whatsapp', { status: 'opted_out', occurredAt: 'last week' }, 422, 'VALIDATION_FAILED', 'occurredAt'],
    ['marketing/whatsapp', { status: 'opted_out', source: 'keyword' }, 422, 'VALIDATION_FAILED', 'source'],
    ['marketing/pigeon', { status: 'opted_out' }, 422, 'VALIDATION_FAILED', 'channel'],
    ['Marketing!/whatsapp', { status: 'opted_out' }, 422, 'VALIDATION_FAILED', 'purpose'],
    ['marketting/whatsapp', { status: 'opted_out' }, 422, 'VALIDATION_FAILED', 'purpose'],
  ] as const)('PUT consents/%s with %j → %i %s naming %s', async (path, payload, status, code, field) => {
    const id = await createContact(acme);
    const res = await t.as(acme, { method: 'PUT', url: `/v1/contacts/${id}/consents/${path}`, payload });
    expectProblem(res, status, code);
    expect(problemPaths(res)).toContain(field);
  });

  it.each([
    ['', 'channel'],
    ['channel=pigeon', 'channel'],
    ['channel=sms&purpose=NOPE', 'purpose'],
    ['channel=sms&purpose=marketting', 'purpose'],
    ['channel=sms&extra=1', 'extra'],
  ])('GET permission?%s names %s', async (query, field) => {
    const id = await createContact(acme);
    const res = await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/permission?${query}` });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res)).toContain(field);
  });
});

describe("a workspace's own purposes", () => {
  const surveysOptOut = { status: 'opted_out', explanation: 'Asked to stop getting surveys' };

  it('are refused until the workspace lists them, naming the purposes it knows, and only in that workspace', async () => {
    const id = await createContact(acme);
    const refused = await t.as(acme, { method: 'PUT', url: `/v1/contacts/${id}/consents/surveys/sms`, payload: surveysOptOut });
    const problem = expectProblem(refused, 422, 'VALIDATION_FAILED');
    expect(problem.errors).toEqual([
      { path: 'purpose', message: 'unknown purpose "surveys": this workspace knows privacy, marketing (add its own purposes to settings.purposes)' },
    ]);

    const patched = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { purposes: ['surveys'] } });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json().purposes).toEqual(['surveys']);
    const recorded = await t.as(acme, { method: 'PUT', url: `/v1/contacts/${id}/consents/surveys/sms`, payload: surveysOptOut });
    expect(recorded.statusCode, recorded.body).toBe(201);
    const permission = await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/permission?channel=sms&purpose=surveys` });
    expect(permission.json()).toMatchObject({ allowed: false, reason: 'opted_out' });

    const other = await createContact(globex);
    const elsewhere = await t.as(globex, { method: 'PUT', url: `/v1/contacts/${other}/consents/surveys/sms`, payload: surveysOptOut });
    expectProblem(elsewhere, 422, 'VALIDATION_FAILED');
  });

  it('must not repeat themselves or a built-in purpose, and must be well formed', async () => {
    const res = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { purposes: ['privacy', 'surveys', 'surveys', 'Bad Purpose'] } });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res)).toEqual(expect.arrayContaining(['purposes.0', 'purposes.2', 'purposes.3']));
    expect(problemPaths(res)).not.toContain('purposes.1');
    expect((await t.as(acme, { method: 'GET', url: '/v1/settings' })).json().purposes).toEqual([]);
  });
});

describe('POST /v1/consents/bulk', () => {
  it('names every problem of a refused row at once, under the code of the first', async () => {
    const res = await t.as(acme, {
      method: 'POST',
      url: '/v1/consents/bulk',
      payload: {
        rows: [
          { email: 'bad', phone: 'zz', purpose: 'marketing', channel: 'email', status: 'opted_in' },
          { email: 'bad', phone: 'zz', purpose: 'marketing', channel: 'email', status: 'opted_out' },
          { purpose: 'marketing', channel: 'pigeon', status: 'opted_out' },
        ],
      },
    });
    const [optIn, optOut, noContact] = res.json().results;
    expect(optIn.error.code).toBe('LEGAL_BASIS_REQUIRED');
    // In the row's field order, as consentry import lists a line's problems.
    expect(optIn.error.issues.map((issue: { path: string }) => issue.path)).toEqual(['email', 'phone', 'legalBasis', 'explanation']);
    expect(optOut.error.code).toBe('INVALID_EMAIL');
    expect(optOut.error.issues.map((issue: { path: string }) => issue.path)).toEqual(['email', 'phone']);
    expect(optOut.error.message).toMatch(/^email: .+; phone: .+$/);
    expect(noContact.error.code).toBe('VALIDATION_FAILED');
    expect(noContact.error.issues).toEqual([
      { path: 'contactId', message: 'a row needs a contactId, an email or a phone' },
      { path: 'channel', message: expect.any(String) },
    ]);
    expect((await t.as(acme, { method: 'GET', url: '/v1/contacts' })).json().data).toEqual([]);
  });

  it("warns per row about an e-mail or phone its contact already has another value for", async () => {
    const id = await createContact(acme, { name: 'Ana Test', email: 'ana@example.com', phone: '+34600000001' });
    const res = await t.as(acme, {
      method: 'POST',
      url: '/v1/consents/bulk',
      payload: { rows: [{ email: 'other@example.com', phone: '+34600000001', purpose: 'marketing', channel: 'sms', status: 'opted_out' }] },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().results).toEqual([
      { row: 0, ok: true, contactId: id, recordId: expect.any(String), created: true, repeated: false, inEffect: true, supersededBy: null, overtakenBy: [], warnings: [{ path: 'email', message: expect.stringContaining('was not added') }] },
    ]);
  });

  it('answers a result per row; a bad row changes nothing', async () => {
    const id = await createContact(acme);
    const res = await t.as(acme, {
      method: 'POST',
      url: '/v1/consents/bulk',
      payload: {
        rows: [
          { contactId: id, purpose: 'marketing', channel: 'sms', status: 'opted_out' },
          { email: 'new.person@example.com', purpose: 'marketing', channel: 'email', status: 'opted_in', legalBasis: 'PERFORMANCE_OF_CONTRACT', explanation: 'Customer contract' },
          { email: 'third@example.com', purpose: 'marketing', channel: 'email', status: 'opted_in' },
          'not a row',
        ],
      },
    });
    expect(res.statusCode, res.body).toBe(200);
    const results = res.json().results;
    expect(results.map((r: { row: number; ok: boolean }) => [r.row, r.ok])).toEqual([
      [0, true],
      [1, true],
      [2, false],
      [3, false],
    ]);
    expect(results[2].error).toMatchObject({ code: 'LEGAL_BASIS_REQUIRED' });
    const bob = await createContact(acme, { name: 'Bob Test', phone: '+34600000077' });
    const mixed = await t.as(acme, {
      method: 'POST',
      url: '/v1/consents/bulk',
      payload: { rows: [{ email: ANA.email, phone: '+34600000077', purpose: 'marketing', channel: 'sms', status: 'opted_out' }] },
    });
    expect(mixed.json().results[0]).toMatchObject({ ok: false, error: { code: 'CONFLICT', issues: [{ path: 'email' }, { path: 'phone' }] } });
    expect((await t.as(acme, { method: 'GET', url: `/v1/contacts/${bob}/consents/history` })).json().data).toEqual([]);
    const unknownKey = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: [{ contactId: id, purpose: 'marketing', channel: 'sms', status: 'opted_out', zzz: 1 }] } });
    expect(unknownKey.json().results[0].error.issues).toEqual([{ path: 'zzz', message: 'is not a known field' }]);
    const third = await t.as(acme, { method: 'GET', url: '/v1/contacts?email=third@example.com' });
    expect(third.json().data).toEqual([]);
    const history = await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/consents/history` });
    expect(history.json().data[0]).toMatchObject({ source: 'bulk', actor: { kind: 'integration', id: acme.keyId } });
  });

  it('takes 10,000 rows and refuses 10,001 with 413', async () => {
    const row = (i: number) => ({ email: `person${i}@example.com`, purpose: 'marketing', channel: 'email', status: 'opted_out' });
    const tooMany = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: Array.from({ length: 10_001 }, (_, i) => row(i)) } });
    const problem = expectProblem(tooMany, 413, 'PAYLOAD_TOO_LARGE');
    expect(problem.detail).toMatch(/10,000 rows/);
    const full = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: Array.from({ length: 10_000 }, (_, i) => row(i)) } });
    expect(full.statusCode).toBe(200);
    expect(full.json().results.filter((r: { ok: boolean }) => r.ok)).toHaveLength(10_000);
  }, 120_000);

  it.each([
    [{ rows: [] }, 'rows'],
    [{ rows: 'all of them' }, 'rows'],
    [{}, 'rows'],
    [{ rows: [{}], dryRun: true }, 'dryRun'],
  ])('refuses %j naming %s', async (payload, field) => {
    const res = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res)).toContain(field);
  });
});

describe('GET /v1/contacts/{id}/proof', () => {
  it('answers a consent receipt with history, evidence and the chain verification', async () => {
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { privacyPolicyUrl: 'https://example.com/privacy' } });
    const message = await t.as(acme, {
      method: 'POST',
      url: '/v1/messages',
      payload: { channel: 'whatsapp', messageId: 'wamid.proof.1', from: { id: '+34600000001', name: 'Ana Test' }, text: 'START' },
    });
    const id = message.json().contactId;
    t.clock.advance(60_000);
    await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'whatsapp', messageId: 'wamid.proof.2', from: { id: '+34600000001' }, text: 'STOP' } });
    await optIn(acme, id, 'email');

    const res = await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/proof` });
    expect(res.statusCode, res.body).toBe(200);
    const receipt = res.json();
    expect(receipt.workspace).toEqual({ id: acme.workspaceId, name: 'Acme' });
    expect(receipt.contact).toMatchObject({ id, name: 'Ana Test', phone: '+34600000001', erasedAt: null });
    expect(receipt.verification).toEqual({ contactId: id, ok: true, records: 3, chain: { ok: true, count: 3 }, stateMismatches: [] });
    const whatsapp = receipt.consents.find((c: { channel: string }) => c.channel === 'whatsapp');
    expect(whatsapp.status).toBe('opted_out');
    expect(whatsapp.history.map((e: { status: string }) => e.status)).toEqual(['opted_in', 'opted_out']);
    expect(whatsapp.current).toMatchObject({ seq: 2, source: 'keyword', actor: { kind: 'contact', id }, evidence: { keyword: 'STOP', messageId: 'wamid.proof.2' } });
    expect(whatsapp.history[0]).toMatchObject({ legalBasis: 'CONSENT_WITH_NOTICE', legalBasisLabel: 'Freely given consent from contact', evidence: { keyword: 'START' } });
    expect(whatsapp.current.prevHash).toBe(whatsapp.history[0].hash);
    const email = receipt.consents.find((c: { channel: string }) => c.channel === 'email');
    expect(email.current).toMatchObject({ source: 'api', explanation: 'Ticked the box on the signup form', occurredAt: expect.any(String), recordedAt: expect.any(String) });
  });

  it('gives all each record hash covers: re-hashed by the published recipe, every record checks', async () => {
    const id = await createContact(acme);
    const put = await t.as(acme, {
      method: 'PUT',
      url: `/v1/contacts/${id}/consents/marketing/email`,
      payload: { status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Ticked the box — «newsletter»', idempotencyKey: 'signup-form-7' },
    });
    expect(put.statusCode, put.body).toBeLessThan(300);
    await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'whatsapp', messageId: 'wamid.recipe', from: { id: '+34600000007' }, text: 'STOP' } });
    const receipt = (await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/proof` })).json();
    // The recipe of the README: canonical JSON (keys sorted at every level, no white space), SHA-256 hex.
    const canonical = (value: unknown): string =>
      Array.isArray(value)
        ? `[${value.map(canonical).join(',')}]`
        : value !== null && typeof value === 'object'
          ? `{${Object.keys(value)
              .sort()
              .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`)
              .join(',')}}`
          : JSON.stringify(value);
    const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
    const entries = receipt.consents.flatMap((consent: { history: Record<string, unknown>[] }) => consent.history);
    expect(entries).toHaveLength(1);
    for (const entry of entries) {
      expect(entry.idempotencyKey).toBe('signup-form-7');
      expect(sha256(canonical(entry.evidence))).toBe(entry.evidenceDigest);
      const hashed = {
        id: entry.recordId,
        workspaceId: receipt.workspace.id,
        contactId: receipt.contact.id,
        ...Object.fromEntries(['purpose', 'channel', 'status', 'legalBasis', 'explanation', 'source', 'actor', 'evidenceDigest', 'occurredAt', 'recordedAt', 'idempotencyKey', 'seq', 'prevHash'].map((key) => [key, entry[key]])),
      };
      expect(sha256(canonical(hashed))).toBe(entry.hash);
    }
  });

  it("verifies only the contact's own records, linked to the records of others between them", async () => {
    const ana = await createContact(acme);
    const bob = await createContact(acme, { name: 'Bob Test', email: 'bob.test@example.com' });
    await optIn(acme, ana, 'email');
    await optIn(acme, bob, 'email');
    await optIn(acme, ana, 'sms');
    const receipt = (await t.as(acme, { method: 'GET', url: `/v1/contacts/${ana}/proof` })).json();
    expect(receipt.verification).toEqual({ contactId: ana, ok: true, records: 2, chain: { ok: true, count: 2 }, stateMismatches: [] });
    const sms = receipt.consents.find((c: { channel: string }) => c.channel === 'sms');
    const bobRecord = (await t.as(acme, { method: 'GET', url: `/v1/contacts/${bob}/consents/history` })).json().data[0];
    expect(sms.current).toMatchObject({ seq: 3, prevHash: bobRecord.hash });
  });

  it('leaves personal data out once the contact is erased', async () => {
    const id = await createContact(acme);
    await optIn(acme, id);
    await t.as(acme, { method: 'DELETE', url: `/v1/contacts/${id}` });
    const receipt = (await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/proof` })).json();
    expect(receipt.contact).toMatchObject({ id, name: null, email: null, phone: null, erasedAt: expect.any(String) });
    expect(JSON.stringify(receipt)).not.toContain(ANA.email);
    expect(receipt.verification.ok).toBe(true);
    expect(receipt.consents[0].current.evidence).toEqual({ redacted: true });
  });
});

describe('POST /v1/ledger/verify', () => {
  it("verifies the workspace's chain", async () => {
    const id = await createContact(acme);
    await optIn(acme, id);
    const res = await t.as(acme, { method: 'POST', url: '/v1/ledger/verify' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ workspaceId: acme.workspaceId, ok: true, records: 1, chain: { ok: true, count: 1 }, stateMismatches: [] });
  });
});

describe('POST /v1/workflows/{template}/runs', () => {
  it('starts a workflow and answers 201 with its replies', async () => {
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { privacyPolicyUrl: 'https://example.com/privacy' } });
    const id = await createContact(acme);
    const res = await t.as(acme, { method: 'POST', url: '/v1/workflows/request-consent-privacy/runs', payload: { contactId: id, channel: 'whatsapp' } });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ runId: expect.any(String), conversationId: expect.any(String) });
    expect(res.json().replies.length).toBeGreaterThan(0);
  });

  it('answers 409 when the workflow is already running for the contact on that channel', async () => {
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { privacyPolicyUrl: 'https://example.com/privacy' } });
    const id = await createContact(acme);
    const start = () => t.as(acme, { method: 'POST', url: '/v1/workflows/request-consent-privacy/runs', payload: { contactId: id, channel: 'sms' } });
    const first = await start();
    expect(first.statusCode, first.body).toBe(201);
    const second = await start();
    expectProblem(second, 409, 'CONFLICT');
    expect(second.json().detail).toContain(first.json().runId);
  });

  it('answers 422 naming settings.privacyPolicyUrl, the workflow and how to set it, in a workspace without the link', async () => {
    const id = await createContact(acme);
    const res = await t.as(acme, { method: 'POST', url: '/v1/workflows/request-consent-privacy/runs', payload: { contactId: id, channel: 'whatsapp' } });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(res.json().errors).toEqual([{ path: 'settings.privacyPolicyUrl', message: 'required by workflow "request-consent-privacy": set it with PATCH /v1/settings' }]);
    expect(res.json().detail).toBe('settings.privacyPolicyUrl: required by workflow "request-consent-privacy": set it with PATCH /v1/settings');
  });

  it('answers 404 for an unknown template or contact, 422 naming a bad field', async () => {
    const id = await createContact(acme);
    const unknown = await t.as(acme, { method: 'POST', url: '/v1/workflows/no-such-flow/runs', payload: { contactId: id, channel: 'whatsapp' } });
    expectProblem(unknown, 404, 'NOT_FOUND');
    expect(problemPaths(unknown)).toEqual(['template']);
    expectProblem(await t.as(acme, { method: 'POST', url: '/v1/workflows/request-consent-privacy/runs', payload: { contactId: 'nobody', channel: 'sms' } }), 404, 'NOT_FOUND');
    const bad = await t.as(acme, { method: 'POST', url: '/v1/workflows/request-consent-privacy/runs', payload: { contactId: id, channel: 'any' } });
    expectProblem(bad, 422, 'VALIDATION_FAILED');
    expect(problemPaths(bad)).toEqual(['channel']);
  });

  it('answers 422 naming the channel for a contact that cannot be reached there, and 409 after the contact opted out there', async () => {
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { privacyPolicyUrl: 'https://example.com/privacy' } });
    const created = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Bea Test', email: 'bea.test@example.com' } });
    const unreachable = await t.as(acme, { method: 'POST', url: '/v1/workflows/request-consent-privacy/runs', payload: { contactId: created.json().id, channel: 'whatsapp' } });
    expectProblem(unreachable, 422, 'CONTACT_UNREACHABLE');
    expect(problemPaths(unreachable)).toEqual(['channel']);

    const stop = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: 'sms-1', from: { id: '+34600000009' }, text: 'STOP' } });
    const optedOut = await t.as(acme, { method: 'POST', url: '/v1/workflows/request-consent-privacy/runs', payload: { contactId: stop.json().contactId, channel: 'sms' } });
    expectProblem(optedOut, 409, 'CONFLICT');
    expect(optedOut.json().detail).toContain('opted out of messages on sms');
  });
});

describe('GET /v1/events', () => {
  it('answers public events newest first, filtered by type, in pages', async () => {
    for (let i = 0; i < 3; i++) {
      await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: `sms-${i}`, from: { id: `+3460000000${i + 1}` }, text: 'hello' } });
      t.clock.advance(1000);
    }
    await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: 'sms-stop', from: { id: '+34600000001' }, text: 'STOP' } });
    const all = await t.as(acme, { method: 'GET', url: '/v1/events?limit=200' });
    expect(all.statusCode).toBe(200);
    const events = all.json().data;
    expect(events.length).toBeGreaterThan(3);
    const ids = events.map((e: { id: string }) => e.id);
    expect(ids).toEqual([...ids].sort().reverse());
    const publicTypes = new Set(['consent.given', 'consent.withdrawn', 'consent.failed', 'contact.tagged', 'contact.untagged', 'contact.updated', 'conversation.opened', 'conversation.closed', 'optout.review_needed', 'sync.failed']);
    expect(events.every((e: { type: string }) => publicTypes.has(e.type))).toBe(true);
    expect(all.json().nextCursor).toBeNull();

    const opened = await t.as(acme, { method: 'GET', url: '/v1/events?type=conversation.opened' });
    expect(opened.json().data.map((e: { type: string }) => e.type)).toEqual(['conversation.opened', 'conversation.opened', 'conversation.opened']);

    const first = await t.as(acme, { method: 'GET', url: '/v1/events?type=conversation.opened&limit=2' });
    expect(first.json().data).toHaveLength(2);
    const second = await t.as(acme, { method: 'GET', url: `/v1/events?type=conversation.opened&limit=2&cursor=${first.json().nextCursor}` });
    expect(second.json().data).toHaveLength(1);
    expect(second.json().nextCursor).toBeNull();
    expect(second.json().data[0].id < first.json().data[1].id).toBe(true);
    // An event id is a ULID, read in any letter case.
    const lowerCase = await t.as(acme, { method: 'GET', url: `/v1/events?type=conversation.opened&limit=2&cursor=${String(first.json().nextCursor).toLowerCase()}` });
    expect(lowerCase.statusCode, lowerCase.body).toBe(200);
    expect(lowerCase.json()).toEqual(second.json());

    for (const cursor of ['garbage', '00000000000000000000000000']) {
      const bad = await t.as(acme, { method: 'GET', url: `/v1/events?cursor=${cursor}` });
      expectProblem(bad, 422, 'VALIDATION_FAILED');
      expect(bad.json().errors).toEqual([{ path: 'cursor', message: `no event ${cursor} in this workspace: pass the id of an event a previous page returned` }]);
    }
    expectProblem(await t.as(globex, { method: 'GET', url: `/v1/events?cursor=${first.json().nextCursor}` }), 422, 'VALIDATION_FAILED');

    const both = await t.as(acme, { method: 'GET', url: '/v1/events?type=conversation.opened,consent.withdrawn' });
    expect(both.json().data.map((e: { type: string }) => e.type)).toEqual(['consent.withdrawn', 'conversation.opened', 'conversation.opened', 'conversation.opened']);
  });

  it.each([
    ['type=message.outbound', 'type'],
    ['type=workflow.finished', 'type'],
    ['type=', 'type'],
    ['limit=0', 'limit'],
    ['limit=201', 'limit'],
    ['before=x', 'before'],
  ])('?%s names %s', async (query, field) => {
    const res = await t.as(acme, { method: 'GET', url: `/v1/events?${query}` });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res)).toContain(field);
  });
});

describe('settings', () => {
  it('reads and patches settings, keeping the keys the patch leaves out', async () => {
    const before = await t.as(acme, { method: 'GET', url: '/v1/settings' });
    expect(before.statusCode).toBe(200);
    expect(before.json()).toMatchObject({ privacyPolicyUrl: null, defaultLanguage: 'en', triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy' }] });
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { defaultCountry: 'ES' } });
    const res = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { privacyPolicyUrl: 'https://example.com/privacy', keywords: { es: { opt_out: ['BAJA'] } } } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      privacyPolicyUrl: 'https://example.com/privacy',
      defaultCountry: 'ES',
      keywords: { es: { opt_out: ['BAJA'] } },
      triggers: before.json().triggers,
    });
    expect((await t.as(globex, { method: 'GET', url: '/v1/settings' })).json().privacyPolicyUrl).toBeNull();
  });

  it('takes a patch sent as application/merge-patch+json (RFC 7396)', async () => {
    const res = await t.as(acme, {
      method: 'PATCH',
      url: '/v1/settings',
      headers: { 'content-type': 'application/merge-patch+json' },
      payload: JSON.stringify({ defaultCountry: 'PT' }),
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().defaultCountry).toBe('PT');
  });

  it.each([
    [{ privacyPolicyUrl: 'ftp://example.com' }, 422, 'VALIDATION_FAILED', 'privacyPolicyUrl'],
    [{ defaultCountry: 'spain' }, 422, 'VALIDATION_FAILED', 'defaultCountry'],
    [{ defaultCountry: 'XX' }, 422, 'VALIDATION_FAILED', 'defaultCountry'],
    [{ keywords: { xx: { opt_out: ['QUIT'] } } }, 422, 'VALIDATION_FAILED', 'keywords.xx'],
    [{ defaultLanguage: 'tlh' }, 422, 'VALIDATION_FAILED', 'defaultLanguage'],
    [{ theme: 'dark' }, 422, 'VALIDATION_FAILED', 'theme'],
    [{ triggers: [{ trigger: 'manual', template: 'nope' }] }, 422, 'UNKNOWN_TEMPLATE', 'triggers'],
    [{ keywords: { en: { removed: ['STOP'] } } }, 422, 'KEYWORD_NOT_REMOVABLE', 'keywords.en.removed'],
  ] as const)('PATCH %j → %i %s', async (payload, status, code, field) => {
    const res = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload });
    expectProblem(res, status, code);
    expect(problemPaths(res).some((p) => p.startsWith(field))).toBe(true);
  });
});

describe('workspaces are isolated', () => {
  it("answers 404 for another workspace's contact on every contact route", async () => {
    const id = await createContact(acme);
    await optIn(acme, id);
    const attempts = [
      { method: 'GET', url: `/v1/contacts/${id}` },
      { method: 'PATCH', url: `/v1/contacts/${id}`, payload: { name: 'Mallory' } },
      { method: 'DELETE', url: `/v1/contacts/${id}` },
      { method: 'POST', url: `/v1/contacts/${id}/tags`, payload: { tag: 'stolen' } },
      { method: 'DELETE', url: `/v1/contacts/${id}/tags/VIP` },
      { method: 'GET', url: `/v1/contacts/${id}/consents` },
      { method: 'PUT', url: `/v1/contacts/${id}/consents/marketing/sms`, payload: { status: 'opted_out' } },
      { method: 'GET', url: `/v1/contacts/${id}/consents/history` },
      { method: 'GET', url: `/v1/contacts/${id}/permission?channel=whatsapp` },
      { method: 'GET', url: `/v1/contacts/${id}/proof` },
      { method: 'POST', url: '/v1/workflows/request-consent-privacy/runs', payload: { contactId: id, channel: 'whatsapp' } },
    ] as const;
    for (const attempt of attempts) {
      const res = await t.as(globex, attempt);
      expectProblem(res, 404, 'NOT_FOUND');
      // The field named is the one the client sent the id in: the path parameter `id`, or the body's `contactId`.
      expect(problemPaths(res), `${attempt.method} ${attempt.url}`).toEqual(['payload' in attempt && 'contactId' in attempt.payload ? 'contactId' : 'id']);
    }
    const bulk = await t.as(globex, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: [{ contactId: id, purpose: 'marketing', channel: 'sms', status: 'opted_out' }] } });
    expect(bulk.json().results[0]).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });

    const mine = await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}` });
    expect(mine.json()).toMatchObject({ name: 'Ana Test', erasedAt: null });
    expect((await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/consents/history` })).json().data).toHaveLength(1);
  });

  it("never lists another workspace's contacts, tags or events", async () => {
    await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { ...ANA, tags: ['Acme only'] } });
    await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: 'x1', from: { id: '+34600000003' }, text: 'STOP' } });
    expect((await t.as(globex, { method: 'GET', url: '/v1/contacts' })).json().data).toEqual([]);
    expect((await t.as(globex, { method: 'GET', url: `/v1/contacts?email=${ANA.email}` })).json().data).toEqual([]);
    expect((await t.as(globex, { method: 'GET', url: '/v1/tags' })).json().data).toEqual([]);
    expect((await t.as(globex, { method: 'GET', url: '/v1/events' })).json().data).toEqual([]);
    expect((await t.as(acme, { method: 'GET', url: '/v1/events' })).json().data.length).toBeGreaterThan(0);
    const reused = await t.as(globex, { method: 'POST', url: '/v1/contacts', payload: ANA });
    expect(reused.statusCode).toBe(201);
  });
});

describe('POST /v1/messages with an invalid sender e-mail or phone', () => {
  const stop = { channel: 'whatsapp', messageId: 'wamid.7', from: { id: '+34600000001', email: 'ana.test(at)example.com', phone: '+1 000' }, text: 'STOP' };

  it('honours the message and names what it ignored in warnings', async () => {
    const res = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: stop });
    expect(res.statusCode, res.body).toBe(200);
    const answer = res.json();
    expect(answer.events.map((e: { type: string }) => e.type)).toEqual(['consent.withdrawn']);
    expect(answer.warnings.map((w: { path: string }) => w.path)).toEqual(['from.email', 'from.phone']);
    for (const warning of answer.warnings) expect(warning.message).toMatch(/ignored/);
    const contact = (await t.as(acme, { method: 'GET', url: `/v1/contacts/${answer.contactId}` })).json();
    // An unreadable phone given is ignored, as if absent: the sender id, the number the channel delivered from, is the contact's phone.
    expect(contact).toMatchObject({ email: null, phone: '+34600000001', identities: [{ channel: 'whatsapp', externalId: '+34600000001' }] });
    const again = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: stop });
    expect(again.json()).toEqual(answer);
  });

  it('reads a national number with the default country before warning about it', async () => {
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { defaultCountry: 'ES' } });
    const national = { channel: 'webchat', messageId: 'w1', from: { id: 'visitor-1', phone: '600 000 002', email: 'ben.test@example.com' }, text: 'hello' };
    const res = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: national });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().warnings).toEqual([]);
    const unreadable = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { ...national, messageId: 'w2', from: { id: 'visitor-2', phone: '12' } } });
    expect(unreadable.json().warnings).toEqual([{ path: 'from.phone', message: expect.stringMatching(/not a valid phone number.*ignored/) }]);
  });
});

describe('a contact body names every bad field at once', () => {
  it('a bad e-mail and a bad phone, under the code of the first', async () => {
    const res = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Ana Test', email: 'not-an-email', phone: '12' } });
    expectProblem(res, 422, 'INVALID_EMAIL');
    expect(problemPaths(res)).toEqual(['email', 'phone']);
    expect(res.json().detail).toMatch(/^email: .+; phone: .+$/);
    expect((await t.as(acme, { method: 'GET', url: '/v1/contacts' })).json().data).toEqual([]);
  });

  it('the fields its schema refuses and those the engine would refuse, together', async () => {
    const res = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 7, email: 'not-an-email', phone: '12', fields: { '  ': 'x' }, nickname: 'Ana' } });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res).sort()).toEqual(['email', 'fields.  ', 'name', 'nickname', 'phone']);
    const once = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 7, email: '' } });
    expect(problemPaths(once).sort()).toEqual(['email', 'name']);
  });

  it('in a patch too, and in the path', async () => {
    const id = await createContact(acme);
    const res = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${id}`, payload: { name: ['Ana'], email: 'not-an-email', phone: '12' } });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res).sort()).toEqual(['email', 'name', 'phone']);
    const engineOnly = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${id}`, payload: { email: 'not-an-email', phone: '12' } });
    expectProblem(engineOnly, 422, 'INVALID_EMAIL');
    expect(problemPaths(engineOnly)).toEqual(['email', 'phone']);
    const longId = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${'c'.repeat(300)}`, payload: { email: 'not-an-email' } });
    expectProblem(longId, 422, 'VALIDATION_FAILED');
    expect(problemPaths(longId).sort()).toEqual(['email', 'id']);
    expect((await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}` })).json()).toMatchObject({ name: ANA.name, email: ANA.email, phone: ANA.phone });
  });
});

describe('contact ids in any letter case', () => {
  it('name the same contact in paths, bodies and cursors', async () => {
    const id = await createContact(acme);
    const lower = id.toLowerCase();
    expect(lower).not.toBe(id);
    expect((await t.as(acme, { method: 'GET', url: `/v1/contacts/${lower}` })).json().id).toBe(id);
    expect((await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${lower}`, payload: { name: 'Ana María Test' } })).json()).toMatchObject({ id, name: 'Ana María Test' });
    expect((await t.as(acme, { method: 'POST', url: `/v1/contacts/${lower}/tags`, payload: { tag: 'VIP' } })).json().tags).toEqual(['VIP']);
    expect((await t.as(acme, { method: 'DELETE', url: `/v1/contacts/${lower}/tags/VIP` })).json().tags).toEqual([]);
    const recorded = await optIn(acme, lower, 'email');
    expect(recorded.statusCode, recorded.body).toBe(201);
    expect(recorded.json().record.contactId).toBe(id);
    const bulk = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: [{ contactId: lower, purpose: 'marketing', channel: 'sms', status: 'opted_out' }] } });
    expect(bulk.json().results[0]).toMatchObject({ ok: true, contactId: id });
    expect((await t.as(acme, { method: 'GET', url: `/v1/contacts/${lower}/consents` })).json().contactId).toBe(id);
    expect((await t.as(acme, { method: 'GET', url: `/v1/contacts/${lower}/consents/history` })).json().data).toHaveLength(2);
    expect((await t.as(acme, { method: 'GET', url: `/v1/contacts/${lower}/permission?channel=email` })).json()).toMatchObject({ allowed: true });
    expect((await t.as(acme, { method: 'GET', url: `/v1/contacts/${lower}/proof` })).json().contact.id).toBe(id);
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { privacyPolicyUrl: 'https://example.com/privacy' } });
    const run = await t.as(acme, { method: 'POST', url: '/v1/workflows/request-consent-privacy/runs', payload: { contactId: lower, channel: 'whatsapp' } });
    expect(run.statusCode, run.body).toBe(201);
    const ben = await createContact(acme, BEN);
    const page = await t.as(acme, { method: 'GET', url: `/v1/contacts?limit=1&cursor=${[id, ben].sort()[0]?.toLowerCase()}` });
    expect(page.statusCode, page.body).toBe(200);
    expect(page.json().data.map((c: { id: string }) => c.id)).toEqual([[id, ben].sort()[1]]);
    const erased = await t.as(acme, { method: 'DELETE', url: `/v1/contacts/${lower}` });
    expect(erased.json().contact).toMatchObject({ id, erasedAt: expect.any(String) });
  });

  it('leave an id that is not a ULID as it is', async () => {
    const notUlid = await t.as(acme, { method: 'GET', url: '/v1/contacts/01arz3ndektsv4rrffq69g5fau' });
    expectProblem(notUlid, 404, 'NOT_FOUND');
    expect(notUlid.json().detail).toContain('01arz3ndektsv4rrffq69g5fau');
  });
});

describe('PATCH /v1/contacts/{id} is a JSON merge patch', () => {
  it('null removes a field and clears the name; what the patch leaves out stays', async () => {
    const id = await createContact(acme, { ...ANA, fields: { plan: 'pro', city: 'Madrid' } });
    const res = await t.as(acme, {
      method: 'PATCH',
      url: `/v1/contacts/${id}`,
      headers: { 'content-type': 'application/merge-patch+json' },
      payload: JSON.stringify({ name: null, fields: { plan: null, tier: 'gold' } }),
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ name: null, email: ANA.email, phone: ANA.phone, fields: { city: 'Madrid', tier: 'gold' } });
    expect(res.json().fields).not.toHaveProperty('plan');
    const events = (await t.as(acme, { method: 'GET', url: '/v1/events?type=contact.updated' })).json().data;
    expect(events[0]?.data.changes).toEqual(['name', 'fields.plan', 'fields.tier']);
    const again = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${id}`, payload: { fields: { plan: null } } });
    expect(again.json().fields).toEqual({ city: 'Madrid', tier: 'gold' });
  });

  it('fields: null removes every field, and says which', async () => {
    const id = await createContact(acme, { ...ANA, fields: { plan: 'pro', city: 'Madrid' } });
    const res = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${id}`, payload: { fields: null } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ name: ANA.name, fields: {} });
    const events = (await t.as(acme, { method: 'GET', url: '/v1/events?type=contact.updated' })).json().data;
    expect(events[0]?.data.changes).toEqual(['fields.plan', 'fields.city']);
    const again = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${id}`, payload: { fields: null } });
    expect(again.statusCode).toBe(200);
    expect((await t.as(acme, { method: 'GET', url: '/v1/events?type=contact.updated' })).json().data).toHaveLength(1);
  });

  it('null removes the e-mail or phone of a contact without consent decisions', async () => {
    const id = await createContact(acme);
    const res = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${id}`, payload: { email: null, phone: null } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ email: null, phone: null, name: ANA.name });
  });

  it('refuses to remove the e-mail or phone of a contact with consent decisions, naming each, and changes nothing', async () => {
    const id = await createContact(acme);
    await optIn(acme, id, 'email');
    const history = (await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/consents/history` })).json();
    const res = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${id}`, payload: { name: 'Ana María Test', email: null, phone: null } });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res)).toEqual(['email', 'phone']);
    expect(res.json().errors[0].message).toMatch(/consent decisions/);
    expect((await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}` })).json()).toMatchObject({ name: ANA.name, email: ANA.email, phone: ANA.phone });
    expect((await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/consents/history` })).json()).toEqual(history);
    const replaced = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${id}`, payload: { email: 'ana.maria@example.com' } });
    expect(replaced.json().email).toBe('ana.maria@example.com');
  });
});

describe('GET /v1/contacts/{id}/consents/history in pages', () => {
  async function toggle(tenant: Tenant, contactId: string, times: number): Promise<void> {
    for (let i = 0; i < times; i++) {
      const status = i % 2 === 0 ? 'opted_out' : 'opted_in';
      const extra = status === 'opted_in' ? { legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Asked again by phone' } : {};
      const res = await t.as(tenant, { method: 'PUT', url: `/v1/contacts/${contactId}/consents/marketing/sms`, payload: { status, ...extra } });
      expect(res.statusCode, res.body).toBe(201);
    }
  }

  it('walks every record once, in chain order, page by page, and the last page says so', async () => {
    const id = await createContact(acme);
    const other = await createContact(acme, BEN);
    await toggle(acme, id, 3);
    await toggle(acme, other, 1);
    await toggle(acme, id, 2);
    const whole = (await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/consents/history?limit=500` })).json();
    expect(whole.data).toHaveLength(5);
    expect(whole.nextCursor).toBeNull();

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor === null ? '?limit=2' : `?limit=2&cursor=${cursor}`;
      const res = await t.as(acme, { method: 'GET', url: `/v1/contacts/${id.toLowerCase()}/consents/history${query}` });
      expect(res.statusCode, res.body).toBe(200);
      const page = res.json();
      seen.push(...page.data.map((record: { id: string }) => record.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== null);
    expect(pages).toBe(3);
    expect(seen).toEqual(whole.data.map((record: { id: string }) => record.id));
  });

  it('answers 100 records by default', async () => {
    const id = await createContact(acme);
    await toggle(acme, id, 101);
    const first = (await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/consents/history` })).json();
    expect(first.data).toHaveLength(100);
    const rest = (await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/consents/history?cursor=${first.nextCursor}` })).json();
    expect(rest.data).toHaveLength(1);
    expect(rest.nextCursor).toBeNull();
  });

  it("refuses a cursor that is not one of this contact's records, another contact's or another workspace's included", async () => {
    const id = await createContact(acme);
    const other = await createContact(acme, BEN);
    const foreign = await createContact(globex);
    await toggle(acme, id, 2);
    await toggle(acme, other, 2);
    await toggle(globex, foreign, 5);
    const othersCursor = (await t.as(acme, { method: 'GET', url: `/v1/contacts/${other}/consents/history?limit=1` })).json().nextCursor;
    const foreignCursor = (await t.as(globex, { method: 'GET', url: `/v1/contacts/${foreign}/consents/history?limit=4` })).json().nextCursor;
    for (const cursor of [othersCursor, foreignCursor, '999', 'abc', '0', '-1']) {
      const res = await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/consents/history?cursor=${cursor}` });
      expectProblem(res, 422, 'VALIDATION_FAILED');
      expect(problemPaths(res)).toEqual(['cursor']);
    }
    for (const limit of ['0', '501', 'x']) {
      const res = await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/consents/history?limit=${limit}` });
      expectProblem(res, 422, 'VALIDATION_FAILED');
      expect(problemPaths(res)).toEqual(['limit']);
    }
  });
});

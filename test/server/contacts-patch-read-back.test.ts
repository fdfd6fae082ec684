import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ANA, body, expectProblem, problemPaths, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t!: TestApp;
let acme!: Tenant;
useTestApp((app, tenant) => {
  t = app;
  acme = tenant;
});

const ContactSchema = z.object({ id: z.string(), name: z.string().nullable(), tags: z.array(z.string()), updatedAt: z.string() }).passthrough();
const ErrorsSchema = z.object({ detail: z.string(), errors: z.array(z.object({ path: z.string(), message: z.string() })) });

const TAGS_MESSAGE = 'is changed with POST /v1/contacts/{id}/tags and DELETE /v1/contacts/{id}/tags/{tag}';

/** A contact with a tag, an identity and a field, as GET /v1/contacts/{id} answers it. */
async function readContact(): Promise<Record<string, unknown> & z.infer<typeof ContactSchema>> {
  const created = await t.as(acme, {
    method: 'POST',
    url: '/v1/contacts',
    payload: { ...ANA, tags: ['VIP'], fields: { plan: 'pro' }, identities: [{ channel: 'telegram', externalId: 'ana-42' }] },
  });
  expect(created.statusCode, created.body).toBe(201);
  const id = ContactSchema.parse(created.json()).id;
  const read = await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}` });
  return { ...body(read), ...ContactSchema.parse(read.json()) };
}

async function patch(id: string, payload: unknown) {
  return t.as(acme, { method: 'PATCH', url: `/v1/contacts/${id}`, payload: JSON.stringify(payload), headers: { 'content-type': 'application/json' } });
}

describe('PATCH /v1/contacts/{id} takes the contact as GET answers it', () => {
  it('sent back whole with its name changed: the name changes, the read-only members are ignored', async () => {
    const read = await readContact();
    t.clock.advance(1000);
    const res = await patch(read.id, { ...read, name: 'Ana Changed' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ ...read, name: 'Ana Changed', updatedAt: '2026-03-01T09:00:01.000Z' });
  });

  it("with an earlier answer's warnings, which are ignored as the settings ignore theirs", async () => {
    const read = await readContact();
    const res = await patch(read.id, { ...read, name: 'Ana Changed', warnings: [{ path: 'email', message: 'something said before' }] });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ name: 'Ana Changed' });
  });

  it('compares values as the API shows them: the id in any letter case, a time as the same instant, tags as tags compare, in any order', async () => {
    const read = await readContact();
    const createdAt = String(read.createdAt).replace('.000Z', '+00:00');
    const res = await patch(read.id, { ...read, id: read.id.toLowerCase(), createdAt, tags: ['vip'], name: 'Ana Changed' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ id: read.id, name: 'Ana Changed', tags: ['VIP'] });
  });

  it.each([
    ['tags', ['VIP', 'Gold'], TAGS_MESSAGE],
    ['tags', [], TAGS_MESSAGE],
    ['id', '01ARZ3NDEKTSV4RRFFQ69G5FAV', 'is read-only'],
    [
      'identities',
      [],
      'are read-only: a contact gets them when it is created (POST /v1/contacts) and when it writes from a new id (POST /v1/messages), and none can be changed or removed',
    ],
    ['createdAt', '2026-02-01T09:00:00.000Z', 'is read-only'],
    ['updatedAt', '2026-03-01T10:00:00.000Z', 'is read-only: it is when the contact last changed (send back the value read, or leave it out)'],
    ['hubspotId', '12345', 'is read-only: the HubSpot connector sets it when it links the contact to a HubSpot contact'],
    ['erasedAt', '2026-03-01T09:00:00.000Z', 'is read-only: DELETE /v1/contacts/{id} erases the contact'],
  ])('%s that differs from the value read is refused naming how it changes (%j), and nothing changes', async (member, value, message) => {
    const read = await readContact();
    const res = await patch(read.id, { ...read, name: 'Ana Changed', [member]: value });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(ErrorsSchema.parse(res.json()).errors).toEqual([{ path: member, message }]);
    expect(ErrorsSchema.parse(res.json()).detail).toBe(`${member}: ${message}`);
    expect(body(await t.as(acme, { method: 'GET', url: `/v1/contacts/${read.id}` }))).toEqual(read);
  });

  it('null for a read-only member that is not null is a change (RFC 7396 reads it as removing the member); for one that is null it is the value read', async () => {
    const read = await readContact();
    const cleared = await patch(read.id, { id: null, identities: null, tags: null, createdAt: null, updatedAt: null });
    expectProblem(cleared, 422, 'VALIDATION_FAILED');
    expect(problemPaths(cleared)).toEqual(['id', 'identities', 'tags', 'createdAt', 'updatedAt']);
    const nulls = await patch(read.id, { hubspotId: null, erasedAt: null, name: 'Ana Changed' });
    expect(nulls.statusCode, nulls.body).toBe(200);
    expect(nulls.json()).toMatchObject({ name: 'Ana Changed', hubspotId: null, erasedAt: null });
  });

  it('a member no contact has stays unknown, named with a read-only member that differs and the fields the schema refuses', async () => {
    const read = await readContact();
    const res = await patch(read.id, { ...read, nickname: 'Ana', tags: ['Gold'], name: 7, email: 'not-an-email' });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(ErrorsSchema.parse(res.json()).errors).toEqual([
      { path: 'name', message: expect.any(String) },
      { path: 'nickname', message: 'is not a known field' },
      { path: 'email', message: expect.any(String) },
      { path: 'tags', message: TAGS_MESSAGE },
    ]);
  });

  it('a read-only member that differs is named with an e-mail the engine refuses', async () => {
    const read = await readContact();
    const res = await patch(read.id, { ...read, tags: ['Gold'], email: 'not-an-email' });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res)).toEqual(['email', 'tags']);
  });

  it('a copy read before a tag was added is not refused for its tags: sent with the updatedAt read, only its name changes', async () => {
    const read = await readContact();
    t.clock.advance(1000);
    const tagged = await t.as(acme, { method: 'POST', url: `/v1/contacts/${read.id}/tags`, payload: { tag: 'Gold' } });
    expect(tagged.statusCode, tagged.body).toBe(200);
    t.clock.advance(1000);
    const res = await patch(read.id, { ...read, name: 'Ana Changed' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ name: 'Ana Changed', tags: ['VIP', 'Gold'] });
  });

  it('a copy whose updatedAt is the contact’s own is compared whole; one before the contact was created or after its last change is refused', async () => {
    const read = await readContact();
    t.clock.advance(1000);
    await t.as(acme, { method: 'POST', url: `/v1/contacts/${read.id}/tags`, payload: { tag: 'Gold' } });
    const current = ContactSchema.parse(body(await t.as(acme, { method: 'GET', url: `/v1/contacts/${read.id}` })));
    const untagged = await patch(read.id, { ...current, tags: ['VIP'] });
    expectProblem(untagged, 422, 'VALIDATION_FAILED');
    expect(ErrorsSchema.parse(untagged.json()).errors).toEqual([{ path: 'tags', message: TAGS_MESSAGE }]);
    for (const updatedAt of ['2026-02-28T09:00:00.000Z', '2026-03-01T09:00:02.000Z']) {
      const res = await patch(read.id, { ...current, updatedAt });
      expectProblem(res, 422, 'VALIDATION_FAILED');
      expect(problemPaths(res)).toEqual(['updatedAt']);
    }
  });

  it('an erased contact is 410 whatever the copy holds, and an unknown one 404', async () => {
    const read = await readContact();
    expect((await t.as(acme, { method: 'DELETE', url: `/v1/contacts/${read.id}` })).statusCode).toBe(200);
    expectProblem(await patch(read.id, { ...read, name: 'Ana Changed' }), 410, 'CONTACT_ERASED');
    const unknown = await patch('01ARZ3NDEKTSV4RRFFQ69G5FAV', { ...read, name: 'Ana Changed' });
    expectProblem(unknown, 404, 'NOT_FOUND');
    expect(problemPaths(unknown)).toEqual(['id']);
  });

  it('/openapi.json documents the read-only members of the patch body as read-only', async () => {
    const doc = z
      .object({ paths: z.record(z.string(), z.record(z.string(), z.unknown())) })
      .parse((await t.app.inject({ method: 'GET', url: '/openapi.json' })).json());
    const schema = z
      .object({ requestBody: z.object({ content: z.object({ 'application/json': z.object({ schema: z.object({ properties: z.record(z.string(), z.record(z.string(), z.unknown())) }) }) }) }) })
      .parse(doc.paths['/v1/contacts/{id}']?.patch).requestBody.content['application/json'].schema;
    for (const member of ['id', 'identities', 'tags', 'hubspotId', 'createdAt', 'updatedAt', 'erasedAt']) {
      expect(schema.properties[member], member).toMatchObject({ readOnly: true });
    }
    expect(schema.properties.name).not.toHaveProperty('readOnly');
  });
});

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ANA, expectProblem, problemPaths, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t!: TestApp;
let acme!: Tenant;
useTestApp((app, tenant) => {
  t = app;
  acme = tenant;
});

const ErrorsSchema = z.object({ detail: z.string(), errors: z.array(z.object({ path: z.string(), message: z.string() })) });
const ContactSchema = z.object({ id: z.string(), fields: z.record(z.string(), z.string()) });

/** `count` fields named `prefix0`, `prefix1`, …, each with a value. */
function manyFields(count: number, prefix = 'f'): Record<string, string> {
  return Object.fromEntries(Array.from({ length: count }, (_unused, index) => [`${prefix}${index}`, 'x']));
}

async function createContact(fields: Record<string, string> = {}): Promise<string> {
  const res = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { ...ANA, fields } });
  expect(res.statusCode, res.body).toBe(201);
  return ContactSchema.parse(res.json()).id;
}

async function fieldsOf(id: string): Promise<Record<string, string>> {
  return ContactSchema.parse((await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}` })).json()).fields;
}

describe('contact field values are text', () => {
  it.each(['POST', 'PATCH'] as const)('%s names each value that is not text with what to send, and an empty name once', async (method) => {
    const url = method === 'POST' ? '/v1/contacts' : `/v1/contacts/${await createContact()}`;
    const res = await t.as(acme, { method, url, payload: { fields: { n: 5, b: true, o: { x: 1 }, a: [1], '': 'empty' } } });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    const errors = [
      { path: 'fields.n', message: '5 is a number: field values are text, send "5"' },
      { path: 'fields.b', message: 'true is a boolean: field values are text, send "true"' },
      { path: 'fields.o', message: 'is an object: field values are text' },
      { path: 'fields.a', message: 'is a list: field values are text' },
      { path: 'fields.', message: 'field name is empty' },
    ];
    expect(ErrorsSchema.parse(res.json()).errors).toEqual(errors);
    expect(ErrorsSchema.parse(res.json()).detail).toBe(errors.map(({ path, message }) => `${path}: ${message}`).join('; '));
  });

  it('a number keeps its digits in what to send, and a null in a new contact is named as one', async () => {
    const res = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { fields: { price: 12.5, tier: null } } });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(ErrorsSchema.parse(res.json()).errors).toEqual([
      { path: 'fields.price', message: '12.5 is a number: field values are text, send "12.5"' },
      { path: 'fields.tier', message: 'is null: field values are text, leave the field out' },
    ]);
  });

  it('an empty or blank name alone is named once, by the field', async () => {
    const res = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${await createContact()}`, payload: { fields: { '': 'a', ' ': 'b' } } });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(ErrorsSchema.parse(res.json()).errors).toEqual([
      { path: 'fields.', message: 'field name is empty' },
      { path: 'fields. ', message: 'field name is empty' },
    ]);
  });
});

describe('a contact holds at most 100 fields', () => {
  it('POST takes 100 fields and refuses 101, naming fields with the count and the cap', async () => {
    await createContact(manyFields(100));
    const res = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { ...ANA, email: 'other@example.com', phone: null, fields: manyFields(101) } });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(ErrorsSchema.parse(res.json()).errors).toEqual([{ path: 'fields', message: 'has 101 fields, more than the 100 a contact may hold' }]);
  });

  it('PATCH counts the fields the contact holds after it: new ones add, replaced ones do not, null removes', async () => {
    const id = await createContact(manyFields(60));
    const over = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${id}`, payload: { fields: { ...manyFields(41, 'g'), f0: 'changed' } } });
    expectProblem(over, 422, 'VALIDATION_FAILED');
    expect(ErrorsSchema.parse(over.json()).errors).toEqual([
      { path: 'fields', message: 'would leave the contact with 101 fields, more than the 100 a contact may hold: remove some (null removes a field)' },
    ]);
    expect(Object.keys(await fieldsOf(id))).toHaveLength(60);
    const swapped = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${id}`, payload: { fields: { ...manyFields(41, 'g'), f0: null } } });
    expect(swapped.statusCode, swapped.body).toBe(200);
    expect(Object.keys(await fieldsOf(id))).toHaveLength(100);
    const replaced = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${id}`, payload: { fields: { f1: 'y', ' g0 ': 'trimmed to g0' } } });
    expect(replaced.statusCode, replaced.body).toBe(200);
    expect(await fieldsOf(id)).toMatchObject({ f1: 'y', g0: 'trimmed to g0' });
  });

  it('PATCH refuses 5,000 fields at once, and names a bad e-mail with them', async () => {
    const id = await createContact();
    const res = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${id}`, payload: { email: 'not-an-email', fields: manyFields(5000) } });
    expectProblem(res, 422, 'INVALID_EMAIL');
    expect(problemPaths(res)).toEqual(['email', 'fields']);
    expect(ErrorsSchema.parse(res.json()).errors[1]?.message).toBe(
      'would leave the contact with 5,000 fields, more than the 100 a contact may hold: remove some (null removes a field)',
    );
    expect(await fieldsOf(id)).toEqual({});
  });

  it('two patches adding fields at once cannot both pass the cap', async () => {
    const id = await createContact();
    const answers = await Promise.all(
      ['g', 'h'].map((prefix) => t.as(acme, { method: 'PATCH', url: `/v1/contacts/${id}`, payload: { fields: manyFields(60, prefix) } })),
    );
    expect(answers.map((answer) => answer.statusCode).sort()).toEqual([200, 422]);
    expect(Object.keys(await fieldsOf(id))).toHaveLength(60);
  });

  it('a contact holding more from before the cap keeps them and can still be changed, but not left with more than it has', async () => {
    const id = await createContact();
    // A contact stored before the cap, as the store keeps it.
    await t.store.transaction(async (tx) => {
      const stored = await tx.getContact(acme.workspaceId, id);
      if (!stored) throw new Error('contact not stored');
      await tx.updateContact({ ...stored, fields: manyFields(150) });
    });
    const renamed = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${id}`, payload: { name: 'Ana Renamed', fields: { f0: 'changed', f1: null } } });
    expect(renamed.statusCode, renamed.body).toBe(200);
    expect(Object.keys(await fieldsOf(id))).toHaveLength(149);
    const grown = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${id}`, payload: { fields: { f1: 'back' } } });
    expectProblem(grown, 422, 'VALIDATION_FAILED');
    expect(ErrorsSchema.parse(grown.json()).errors[0]?.message).toMatch(/^would leave the contact with 150 fields, more than the 100/);
  });
});

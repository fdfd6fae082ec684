import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ANA, expectProblem, problemPaths, testApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;
let contactId: string;

beforeEach(async () => {
  t = await testApp();
  acme = await t.tenant('Acme');
  const created = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: ANA });
  contactId = String(created.json().id);
});

afterEach(async () => {
  await t.close();
});

const optIn = { status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Ticked the box on the signup form' };

function put(purpose: string, channel: string, payload: Record<string, unknown>) {
  return t.as(acme, { method: 'PUT', url: `/v1/contacts/${contactId}/consents/${purpose}/${channel}`, payload });
}

async function history(): Promise<{ occurredAt: string; recordedAt: string }[]> {
  const res = await t.as(acme, { method: 'GET', url: `/v1/contacts/${contactId}/consents/history` });
  return z.object({ data: z.array(z.object({ occurredAt: z.string(), recordedAt: z.string() })) }).parse(res.json()).data;
}

describe('PUT /v1/contacts/{id}/consents/{purpose}/{channel} names an unknown purpose with every other bad field', () => {
  it('with the fields the schema refuses, in the path and the body', async () => {
    const res = await put('bogus', 'fax', { status: 'bad' });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res).sort()).toEqual(['channel', 'purpose', 'status']);
    expect(res.json().errors).toContainEqual({ path: 'purpose', message: expect.stringMatching(/^unknown purpose "bogus": this workspace knows privacy, marketing/) });
  });

  it('with the opt-in rule, under the code of the first', async () => {
    const res = await put('bogus', 'whatsapp', { status: 'opted_in' });
    expectProblem(res, 422, 'LEGAL_BASIS_REQUIRED');
    expect(problemPaths(res)).toEqual(['legalBasis', 'explanation', 'purpose']);
  });

  it('with a decision time too far ahead, which the engine checks after the purpose', async () => {
    const res = await put('bogus', 'sms', { status: 'opted_out', occurredAt: '2999-01-01T00:00:00Z' });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res)).toEqual(['purpose', 'occurredAt']);
    const withOptIn = await put('bogus', 'sms', { status: 'opted_in', occurredAt: '2999-01-01T00:00:00Z' });
    expectProblem(withOptIn, 422, 'LEGAL_BASIS_REQUIRED');
    expect(problemPaths(withOptIn)).toEqual(['legalBasis', 'explanation', 'purpose', 'occurredAt']);
    const schemaToo = await put('bogus', 'sms', { status: 'maybe', occurredAt: '2999-01-01T00:00:00Z' });
    expect(problemPaths(schemaToo)).toEqual(['status', 'purpose', 'occurredAt']);
  });

  it('once, when the purpose is misspelt; and a known purpose is never named', async () => {
    const misspelt = await put('Bad!', 'fax', { status: 'opted_in' });
    expectProblem(misspelt, 422, 'VALIDATION_FAILED');
    expect(problemPaths(misspelt).sort()).toEqual(['channel', 'purpose']);
    const known = await put('marketing', 'whatsapp', { status: 'opted_in' });
    expectProblem(known, 422, 'LEGAL_BASIS_REQUIRED');
    expect(problemPaths(known)).toEqual(['legalBasis', 'explanation']);
    expect(await history()).toEqual([]);
  });

  it('but an unknown contact stays a 404', async () => {
    const res = await t.as(acme, { method: 'PUT', url: '/v1/contacts/01ARZ3NDEKTSV4RRFFQ69G5FAV/consents/bogus/sms', payload: { status: 'opted_out' } });
    expectProblem(res, 404, 'NOT_FOUND');
  });
});

describe('occurredAt', () => {
  it.each(['0001-01-01T00:00:00Z', '1969-12-31T23:59:59.999Z', '1970-01-01T00:59:59.999+01:00'])('%s is before 1970-01-01T00:00:00Z: 422 naming occurredAt, nothing recorded', async (occurredAt) => {
    const res = await put('marketing', 'sms', { ...optIn, occurredAt });
    const problem = expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problem.errors).toEqual([{ path: 'occurredAt', message: `${JSON.stringify(occurredAt)} is before 1970-01-01T00:00:00Z` }]);
    expect(await history()).toEqual([]);
  });

  it('1970-01-01T00:00:00Z itself is recorded, in UTC', async () => {
    const res = await put('marketing', 'sms', { ...optIn, occurredAt: '1970-01-01T01:00:00+01:00' });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().record.occurredAt).toBe('1970-01-01T00:00:00.000Z');
  });

  it('is kept to the millisecond, further digits dropped; up to 5 minutes ahead it is the time of recording, beyond that refused', async () => {
    const precise = await put('marketing', 'sms', { ...optIn, occurredAt: '2026-02-28T10:00:00.123999+01:00' });
    expect(precise.json().record.occurredAt).toBe('2026-02-28T09:00:00.123Z');
    const now = t.clock.now().getTime();
    const ahead = await put('marketing', 'email', { ...optIn, occurredAt: new Date(now + 5 * 60_000).toISOString() });
    expect(ahead.statusCode, ahead.body).toBe(201);
    expect(ahead.json().record.occurredAt).toBe(ahead.json().record.recordedAt);
    const tooFar = await put('marketing', 'whatsapp', { ...optIn, occurredAt: new Date(now + 5 * 60_000 + 1).toISOString() });
    expectProblem(tooFar, 422, 'VALIDATION_FAILED');
    expect(problemPaths(tooFar)).toEqual(['occurredAt']);
  });

  it('is refused before 1970 in a bulk row, with the row\'s other problems, while the other rows are recorded in place', async () => {
    const rows = [
      { contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', occurredAt: '2026-02-01T00:00:00Z' },
      { contactId, purpose: 'marketing', channel: 'email', status: 'opted_in', occurredAt: '0001-01-01T00:00:00Z' },
      { contactId, purpose: 'marketing', channel: 'whatsapp', status: 'opted_out' },
      { email: 'not-an-email', purpose: 'surveys', channel: 'sms', status: 'opted_out', occurredAt: '1969-07-20T20:17:40Z' },
    ];
    const res = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows } });
    expect(res.statusCode, res.body).toBe(200);
    const results = res.json().results;
    expect(results.map((result: { row: number; ok: boolean }) => [result.row, result.ok])).toEqual([
      [0, true],
      [1, false],
      [2, true],
      [3, false],
    ]);
    // Under the code of the engine's first check (the opt-in rule), as every refused bulk row, with all its problems.
    expect(results[1].error).toMatchObject({ code: 'LEGAL_BASIS_REQUIRED' });
    expect(results[1].error.issues.map((issue: { path: string }) => issue.path)).toEqual(['legalBasis', 'explanation', 'occurredAt']);
    expect(results[1].error.issues[2].message).toBe('"0001-01-01T00:00:00Z" is before 1970-01-01T00:00:00Z');
    // In the row's field order, as consentry import lists a line's problems.
    expect(results[3].error.issues.map((issue: { path: string }) => issue.path)).toEqual(['email', 'purpose', 'occurredAt']);
    expect(results[3].error.message).toMatch(/^email: .+; purpose: unknown purpose "surveys".+; occurredAt: "1969-07-20T20:17:40Z" is before 1970-01-01T00:00:00Z$/);
    expect((await history()).map((record) => record.occurredAt)).toEqual(['2026-02-01T00:00:00.000Z', t.clock.now().toISOString()]);
  });

  const ZONELESS = '"2026-03-01 10:00:00" has no time zone: write it in ISO 8601 with a time zone, e.g. 2026-03-01T10:00:00Z (UTC) or 2026-03-01T10:00:00+01:00';

  it.each([
    ['2026-03-01 10:00:00', ZONELESS],
    ['2026-03-01T10:00', '"2026-03-01T10:00" has no time zone: write it in ISO 8601 with a time zone, e.g. 2026-03-01T10:00:00Z (UTC) or 2026-03-01T10:00:00+01:00'],
    ['yesterday', '"yesterday" is not a date and time in ISO 8601 with a time zone, e.g. 2026-03-01T10:00:00Z (UTC) or 2026-03-01T10:00:00+01:00'],
  ])('%j is refused on PUT saying what is wrong with it and how to write it, as import does', async (occurredAt, message) => {
    const res = await put('marketing', 'email', { status: 'opted_out', occurredAt });
    const problem = expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problem.errors).toEqual([{ path: 'occurredAt', message }]);
    expect(await history()).toEqual([]);
  });

  it('is refused without a time zone in a bulk row with the same words, the other rows recorded', async () => {
    const rows = [
      { contactId, purpose: 'marketing', channel: 'email', status: 'opted_out', occurredAt: '2026-03-01 10:00:00' },
      { contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', occurredAt: '2026-02-01T00:00:00Z' },
    ];
    const res = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows } });
    expect(res.statusCode, res.body).toBe(200);
    const [zoneless, zoned] = res.json().results;
    expect(zoneless).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED', issues: [{ path: 'occurredAt', message: ZONELESS }] } });
    expect(zoned).toMatchObject({ ok: true });
  });

  it('quotes at most the first 80 characters of a long refused value', async () => {
    const res = await put('marketing', 'email', { status: 'opted_out', occurredAt: `2026-03-01T10:00:00Z${'x'.repeat(5000)}` });
    const problem = expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problem.errors).toEqual([{ path: 'occurredAt', message: `"2026-03-01T10:00:00Z${'x'.repeat(60)}"… is not a date and time in ISO 8601 with a time zone, e.g. 2026-03-01T10:00:00Z (UTC) or 2026-03-01T10:00:00+01:00` }]);
  });

  it('is described in /openapi.json for PUT and bulk as it behaves', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const put = JSON.stringify(doc.paths['/v1/contacts/{id}/consents/{purpose}/{channel}'].put);
    const bulk = JSON.stringify(doc.paths['/v1/consents/bulk'].post);
    for (const text of [put, bulk]) {
      expect(text).toContain('not before 1970-01-01T00:00:00Z');
      expect(text).toContain('to the millisecond (further digits are dropped, not rounded)');
      expect(text).toContain('A time up to 5 minutes ahead of the server clock is recorded as the time of recording; a later one is refused (422)');
    }
  });
});

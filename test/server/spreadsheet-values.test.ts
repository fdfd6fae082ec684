import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { LEGAL_BASES } from '../../src/core/consent.js';
import { ANA, BEN, body, expectProblem, parsed, ProblemFieldsSchema, refusedWith, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, tenant) => {
  t = app;
  acme = tenant!;
});

const BASES = LEGAL_BASES.join(', ');
const OPT_IN = { status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Ticked the box on the signup form' };

async function contactId(payload: Record<string, unknown> = ANA): Promise<string> {
  const created = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload });
  expect(created.statusCode, created.body).toBe(201);
  return String(body(created).id);
}

function bulk(rows: unknown[]) {
  return t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows } });
}

async function withDefaultCountry(defaultCountry: string): Promise<void> {
  const patched = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { defaultCountry } });
  expect(patched.statusCode, patched.body).toBe(200);
}

const RefusedRowSchema = z.object({ row: z.number(), ok: z.literal(false), error: z.object({ code: z.string(), message: z.string(), issues: z.array(z.object({ path: z.string(), message: z.string() })) }) });
const RecordedRowSchema = z.object({ row: z.number(), ok: z.literal(true), contactId: z.string(), recordId: z.string() });
const BulkAnswerSchema = z.object({ results: z.array(z.union([RecordedRowSchema, RefusedRowSchema])) });

/** The issues of each refused row of a bulk answer, by row. */
function refusedIssues(response: Awaited<ReturnType<typeof bulk>>): { row: number; issues: { path: string; message: string }[] }[] {
  expect(response.statusCode, response.body).toBe(200);
  return parsed(response, BulkAnswerSchema).results.flatMap((result) => (result.ok ? [] : [{ row: result.row, issues: result.error.issues }]));
}

describe('a status or legal basis written as a spreadsheet writes it', () => {
  it('PUT names the value meant for a legal basis in lower case and a status with a space, and takes neither', async () => {
    const id = await contactId();
    const url = `/v1/contacts/${id}/consents/marketing/email`;
    const lower = await t.as(acme, { method: 'PUT', url, payload: { ...OPT_IN, legalBasis: 'consent_with_notice' } });
    const basis = `"consent_with_notice" is not one of ${BASES} (did you mean "CONSENT_WITH_NOTICE"?)`;
    expect(refusedWith(lower)).toEqual({ detail: `legalBasis: ${basis}`, errors: [{ path: 'legalBasis', message: basis }] });
    const spaced = await t.as(acme, { method: 'PUT', url, payload: { ...OPT_IN, status: 'Opted In', legalBasis: 'Consent with notice' } });
    expect(refusedWith(spaced).errors).toEqual([
      { path: 'status', message: '"Opted In" is not one of opted_in, opted_out (did you mean "opted_in"?)' },
      { path: 'legalBasis', message: `"Consent with notice" is not one of ${BASES} (did you mean "CONSENT_WITH_NOTICE"?)` },
    ]);
    const history = await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/consents/history` });
    expect(history.statusCode, history.body).toBe(200);
    expect(body(history).data).toEqual([]);
  });

  it('a bulk row names them too, with its other problems', async () => {
    const answer = await bulk([
      { email: 'k1@example.com', purpose: 'marketing', channel: 'email', ...OPT_IN, status: 'opted in' },
      { email: 'k2@example.com', purpose: 'marketing', channel: 'email', ...OPT_IN, status: 'opted-in', legalBasis: 'consent_with_notice' },
    ]);
    expect(refusedIssues(answer)).toEqual([
      { row: 0, issues: [{ path: 'status', message: '"opted in" is not one of opted_in, opted_out (did you mean "opted_in"?)' }] },
      {
        row: 1,
        issues: [
          { path: 'status', message: '"opted-in" is not one of opted_in, opted_out (did you mean "opted_in"?)' },
          { path: 'legalBasis', message: `"consent_with_notice" is not one of ${BASES} (did you mean "CONSENT_WITH_NOTICE"?)` },
        ],
      },
    ]);
  });
});

describe('an idempotency key reused for another contact', () => {
  it('a bulk row names the record and the contact the key recorded, and what else of the row differs', async () => {
    const first = parsed(await bulk([{ email: 'k1@example.com', purpose: 'marketing', channel: 'email', ...OPT_IN, idempotencyKey: 'crm-1' }]), BulkAnswerSchema).results[0];
    const recorded = RecordedRowSchema.parse(first);
    const again = await bulk([
      { email: 'k2@example.com', purpose: 'marketing', channel: 'email', status: 'opted_out', idempotencyKey: 'crm-1' },
      { email: 'k3@example.com', purpose: 'marketing', channel: 'email', ...OPT_IN, idempotencyKey: 'crm-1' },
    ]);
    const recordedFor = `it recorded ${recorded.recordId} for contact ${recorded.contactId}`;
    expect(parsed(again, BulkAnswerSchema).results).toEqual([
      {
        row: 0,
        ok: false,
        error: {
          code: 'CONFLICT',
          message: expect.stringContaining(`already used for a different change (${recordedFor}; this row differs in contact, status, legalBasis, explanation)`),
          issues: [{ path: 'idempotencyKey', message: `already used for a different change (${recordedFor}; this row differs in contact, status, legalBasis, explanation)` }],
        },
      },
      {
        row: 1,
        ok: false,
        error: {
          code: 'CONFLICT',
          message: expect.stringContaining(`already used for a different change (${recordedFor}; this row differs in contact)`),
          issues: [{ path: 'idempotencyKey', message: `already used for a different change (${recordedFor}; this row differs in contact)` }],
        },
      },
    ]);
    // Refused before a contact is made for the row.
    const contacts = await t.as(acme, { method: 'GET', url: '/v1/contacts?email=k2@example.com' });
    expect(body(contacts).data).toEqual([]);
  });

  it('PUT names the contact the key recorded its record for', async () => {
    const ana = await contactId();
    const ben = await contactId(BEN);
    const put = (id: string) => t.as(acme, { method: 'PUT', url: `/v1/contacts/${id}/consents/marketing/email`, payload: { status: 'opted_out', idempotencyKey: 'crm-2' } });
    const first = await put(ana);
    expect(first.statusCode, first.body).toBe(201);
    const recordId = z.object({ record: z.object({ id: z.string() }) }).parse(first.json()).record.id;
    const problem = parsed(await put(ben), ProblemFieldsSchema);
    expect(problem.errors).toEqual([
      { path: 'idempotencyKey', message: `already used for a different change (it recorded ${recordId} for contact ${ana}; this request differs in contactId)` },
    ]);
  });
});

describe('a phone a spreadsheet mangled', () => {
  const SCIENTIFIC = '"3.46111E+10" is a number in scientific notation, as a spreadsheet shows a long number: its digits are lost; export the phone column as text';
  const DROPPED_PLUS = '"4915112345678" is not a valid phone number (read with default country ES); if it is an international number whose + was dropped, write +4915112345678';

  it("a contact's phone in scientific notation, or an international one whose + was dropped", async () => {
    await withDefaultCountry('ES');
    const scientific = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Ana Test', phone: '3.46111E+10' } });
    expect(parsed(scientific, ProblemFieldsSchema).errors).toEqual([{ path: 'phone', message: SCIENTIFIC }]);
    expectProblem(scientific, 422, 'INVALID_PHONE');
    const dropped = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Ana Test', phone: '4915112345678' } });
    expect(parsed(dropped, ProblemFieldsSchema).errors).toEqual([{ path: 'phone', message: DROPPED_PLUS }]);
    const id = await contactId({ name: 'Ana Test' });
    const patched = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${id}`, payload: { phone: '4915112345678' } });
    expect(parsed(patched, ProblemFieldsSchema).errors).toEqual([{ path: 'phone', message: DROPPED_PLUS }]);
  });

  it("a bulk row's phone, the same way", async () => {
    await withDefaultCountry('ES');
    const answer = await bulk([
      { phone: '3.46111E+10', purpose: 'marketing', channel: 'sms', status: 'opted_out' },
      { phone: '4915112345678', purpose: 'marketing', channel: 'sms', status: 'opted_out' },
      { phone: '+4915112345678', purpose: 'marketing', channel: 'sms', status: 'opted_out' },
    ]);
    expect(refusedIssues(answer)).toEqual([
      { row: 0, issues: [{ path: 'phone', message: SCIENTIFIC }] },
      { row: 1, issues: [{ path: 'phone', message: DROPPED_PLUS }] },
    ]);
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ANA, refusedWith, testApp, type Tenant, type TestApp } from './helpers.js';

/*
 * A refused decision time is worded as every refused value is: the field named once, by its path,
 * the value quoted, and the rule it breaks said in full.
 */

let t: TestApp;
let acme: Tenant;
let contactId: string;

beforeEach(async () => {
  t = await testApp();
  acme = await t.tenant('Acme');
  const created = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: ANA });
  contactId = z.object({ id: z.string() }).parse(created.json()).id;
});

afterEach(async () => {
  await t.close();
});

function put(purpose: string, payload: Record<string, unknown>) {
  return t.as(acme, { method: 'PUT', url: `/v1/contacts/${contactId}/consents/${purpose}/sms`, payload });
}

const BulkResultsSchema = z.object({ results: z.array(z.object({ ok: z.boolean(), error: z.object({ message: z.string(), issues: z.array(z.object({ path: z.string(), message: z.string() })) }).optional() })) });

describe('occurredAt before 1970-01-01T00:00:00Z', () => {
  it.each(['1969-12-31T23:59:59Z', '1970-01-01T00:59:59.999+01:00'])('%s is quoted as sent, the field named once', async (occurredAt) => {
    const refused = refusedWith(await put('marketing', { status: 'opted_out', occurredAt }));
    const message = `${JSON.stringify(occurredAt)} is before 1970-01-01T00:00:00Z`;
    expect(refused.errors).toEqual([{ path: 'occurredAt', message }]);
    expect(refused.detail).toBe(`occurredAt: ${message}`);
  });

  it('is quoted in a bulk row, beside the row\'s other problems, as the row sent it (its zone kept)', async () => {
    const rows = [{ email: 'not-an-email', purpose: 'marketing', channel: 'sms', status: 'opted_out', occurredAt: '1969-07-20T21:17:40+01:00' }];
    const res = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows } });
    expect(res.statusCode, res.body).toBe(200);
    const [row] = BulkResultsSchema.parse(res.json()).results;
    const message = '"1969-07-20T21:17:40+01:00" is before 1970-01-01T00:00:00Z';
    expect(row?.error?.issues.map((issue) => issue.path)).toEqual(['email', 'occurredAt']);
    expect(row?.error?.issues[1]).toEqual({ path: 'occurredAt', message });
    expect(row?.error?.message).toContain(`; occurredAt: ${message}`);
  });
});

describe('occurredAt more than 5 minutes ahead', () => {
  it('is quoted as sent, and the answer says how far ahead is taken and when the decision was recorded', async () => {
    const refused = refusedWith(await put('marketing', { status: 'opted_out', occurredAt: '2030-01-01T01:00:00+01:00' }));
    const message = '"2030-01-01T01:00:00+01:00" is more than 5 minutes after the time of recording (2026-03-01T09:00:00.000Z)';
    expect(refused.errors).toEqual([{ path: 'occurredAt', message }]);
    expect(refused.detail).toBe(`occurredAt: ${message}`);
  });

  it('is worded the same beside an unknown purpose', async () => {
    const refused = refusedWith(await put('surveys', { status: 'opted_out', occurredAt: '2026-03-01T09:05:00.001Z' }));
    expect(refused.errors).toContainEqual({ path: 'occurredAt', message: '"2026-03-01T09:05:00.001Z" is more than 5 minutes after the time of recording (2026-03-01T09:00:00.000Z)' });
  });

  it('is worded the same in a bulk row', async () => {
    const rows = [{ contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', occurredAt: '2999-01-01T00:00:00Z' }];
    const res = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows } });
    expect(res.statusCode, res.body).toBe(200);
    const [row] = BulkResultsSchema.parse(res.json()).results;
    expect(row?.error?.issues).toEqual([{ path: 'occurredAt', message: '"2999-01-01T00:00:00Z" is more than 5 minutes after the time of recording (2026-03-01T09:00:00.000Z)' }]);
  });
});

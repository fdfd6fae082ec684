import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { LightMyRequestResponse } from 'fastify';
import { hookTestbed, type HookTestbed } from './hook-testbed.js';
import { expectProblem, parsed, ProblemFieldsSchema, type Tenant, type TestApp } from './helpers.js';

let bed: HookTestbed;
let t: TestApp;
let acme: Tenant;

beforeEach(async () => {
  bed = await hookTestbed();
  t = bed.t;
  acme = await t.tenant('Acme');
});

afterEach(() => bed.close());

/**
 * The `errors` of a problem with `status` and `code`, after checking that its `detail` lists them,
 * `path: message` each and `; ` between, in their order.
 */
function refusal(response: LightMyRequestResponse, status: number, code: string): { path: string; message: string }[] {
  expectProblem(response, status, code);
  const { detail, errors } = parsed(response, ProblemFieldsSchema);
  expect(errors.length).toBeGreaterThan(0);
  expect(detail).toBe(errors.map((issue) => `${issue.path}: ${issue.message}`).join('; '));
  return errors;
}

const IdSchema = z.object({ id: z.string() });

async function createContact(payload: Record<string, unknown>): Promise<string> {
  const response = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload });
  expect(response.statusCode, response.body).toBe(201);
  return parsed(response, IdSchema).id;
}

const BulkAnswerSchema = z.object({
  results: z.array(
    z.object({
      row: z.number(),
      ok: z.boolean(),
      error: z.object({ code: z.string(), message: z.string(), issues: z.array(z.object({ path: z.string(), message: z.string() })) }).optional(),
    }),
  ),
});

async function bulk(rows: unknown[]): Promise<z.output<typeof BulkAnswerSchema>['results']> {
  const response = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows } });
  expect(response.statusCode, response.body).toBe(200);
  return parsed(response, BulkAnswerSchema).results;
}

const OPT_OUT_ROW = { purpose: 'marketing', channel: 'email', status: 'opted_out' };

describe('a 409 names the field at fault and says in detail what errors names', () => {
  it('for an e-mail address another contact has, naming that contact', async () => {
    const ana = await createContact({ name: 'Ana', email: 'ana@example.com' });
    const errors = refusal(await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Dup', email: 'ana@example.com' } }), 409, 'CONFLICT');
    expect(errors).toEqual([{ path: 'email', message: `already used by another contact (${ana})` }]);
  });

  it('for an identity another contact has, by its place in identities', async () => {
    const first = await createContact({ identities: [{ channel: 'telegram', externalId: '777001' }] });
    const response = await t.as(acme, {
      method: 'POST',
      url: '/v1/contacts',
      payload: { identities: [{ channel: 'telegram', externalId: '777002' }, { channel: 'telegram', externalId: '777001' }] },
    });
    expect(refusal(response, 409, 'CONFLICT')).toEqual([{ path: 'identities.1', message: `already used by another contact (${first})` }]);
  });

  it('for a workflow asked on a channel the contact opted out of, naming channel', async () => {
    const id = await createContact({ name: 'Out', email: 'out@example.com' });
    const optedOut = await t.as(acme, { method: 'PUT', url: `/v1/contacts/${id}/consents/marketing/email`, payload: { status: 'opted_out' } });
    expect(optedOut.statusCode, optedOut.body).toBe(201);
    const response = await t.as(acme, { method: 'POST', url: '/v1/workflows/welcome-request-phone/runs', payload: { contactId: id, channel: 'email' } });
    const errors = refusal(response, 409, 'CONFLICT');
    expect(errors.map((issue) => issue.path)).toEqual(['channel']);
    expect(errors[0]?.message).toMatch(new RegExp(`^contact ${id} opted out of messages on email at 2026-03-01T09:00:00.000Z and has not written there since`));
  });

  it('for a workflow already running for the contact there, naming template', async () => {
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { privacyPolicyUrl: 'https://example.com/privacy' } });
    const id = await createContact({ name: 'Bea', phone: '+34600000501' });
    const start = () => t.as(acme, { method: 'POST', url: '/v1/workflows/request-consent-privacy/runs', payload: { contactId: id, channel: 'sms' } });
    const first = await start();
    expect(first.statusCode, first.body).toBe(201);
    const errors = refusal(await start(), 409, 'CONFLICT');
    expect(errors).toEqual([
      {
        path: 'template',
        message: `workflow "request-consent-privacy" is already running for this contact on sms (run ${String(first.json().runId)}): a new run can start once it ends`,
      },
    ]);
  });

  it("for a deleted hook's dead letters, naming the path parameter id", async () => {
    const hook = await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl: bed.target.url, event: 'consent.withdrawn' } });
    expect(hook.statusCode, hook.body).toBe(201);
    const hookId = parsed(hook, IdSchema).id;
    expect((await t.as(acme, { method: 'DELETE', url: `/v1/hooks/${hookId}` })).statusCode).toBe(204);
    const retried = await t.as(acme, { method: 'POST', url: `/v1/hooks/${hookId}/deliveries/retry`, payload: { status: 'dead' } });
    expect(refusal(retried, 409, 'CONFLICT')).toEqual([
      { path: 'id', message: `hook ${hookId} was deleted (unsubscribed), so it has no target to send deliveries to: subscribe again for new events` },
    ]);
    expect(refusal(await t.as(acme, { method: 'POST', url: `/v1/hooks/${hookId}/secret` }), 409, 'CONFLICT').map((issue) => issue.path)).toEqual(['id']);
  });

  it('for the outbound webhook while none is set, naming the setting', async () => {
    const expected = [{ path: 'settings.outboundWebhookUrl', message: 'is not set, so the workspace has no outbound webhook URL: set it with PATCH /v1/settings first' }];
    const retried = await t.as(acme, { method: 'POST', url: '/v1/settings/outbound-webhook/deliveries/retry', payload: { status: 'dead' } });
    expect(refusal(retried, 409, 'CONFLICT')).toEqual(expected);
    expect(refusal(await t.as(acme, { method: 'POST', url: '/v1/settings/outbound-webhook/secret' }), 409, 'CONFLICT')).toEqual(expected);
  });
});

describe('a 404 or 410 of a path parameter says in detail what errors names', () => {
  it('for an unknown workflow template, quoting it with " and listing the built-in ones', async () => {
    const id = await createContact({ name: 'Ana', email: 'ana@example.com' });
    const response = await t.as(acme, { method: 'POST', url: '/v1/workflows/nope/runs', payload: { contactId: id, channel: 'email' } });
    expect(refusal(response, 404, 'NOT_FOUND')).toEqual([
      { path: 'template', message: 'unknown template "nope": the built-in ones are request-consent-privacy, welcome-request-email, welcome-request-phone' },
    ]);
  });

  it('for an unknown hook and an unknown delivery, with the id sent', async () => {
    const missing = '01ARZ3NDEKTSV4RRFFQ69G5FAV';
    expect(refusal(await t.as(acme, { method: 'GET', url: `/v1/hooks/${missing}` }), 404, 'NOT_FOUND')).toEqual([
      { path: 'id', message: `no hook ${missing} in this workspace` },
    ]);
    const retried = await t.as(acme, { method: 'POST', url: `/v1/settings/outbound-webhook/deliveries/${missing}/retry` });
    expect(refusal(retried, 404, 'NOT_FOUND')).toEqual([{ path: 'deliveryId', message: `no delivery ${missing} of this outbound webhook` }]);
  });

  it('for an erased contact, with when it was erased', async () => {
    const id = await createContact({ name: 'Ana', email: 'ana@example.com' });
    expect((await t.as(acme, { method: 'DELETE', url: `/v1/contacts/${id}` })).statusCode).toBe(200);
    const response = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${id}`, payload: { name: 'Ana again' } });
    expect(refusal(response, 410, 'CONTACT_ERASED')).toEqual([{ path: 'id', message: 'erased on 2026-03-01T09:00:00.000Z' }]);
  });
});

describe('POST /v1/consents/bulk says what errors names too', () => {
  it('answers 413 for 10,001 rows naming rows, with the limit and what to do', async () => {
    const payload = `{"rows":[${new Array<string>(10_001).fill('{}').join(',')}]}`;
    const response = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', headers: { 'content-type': 'application/json' }, payload });
    expect(refusal(response, 413, 'PAYLOAD_TOO_LARGE')).toEqual([{ path: 'rows', message: 'at most 10,000 rows: send the rest in another request' }]);
  });

  it('names a row that is not an object rows.N, saying what a row is', async () => {
    const results = await bulk([{ ...OPT_OUT_ROW, email: 'ana@example.com' }, 'not a row', null, [OPT_OUT_ROW]]);
    expect(results.map((result) => result.ok)).toEqual([true, false, false, false]);
    const row = 'a row is an object {contactId|email|phone, purpose, channel, status, …}';
    expect(results.slice(1).map((result) => result.error)).toEqual([
      { code: 'VALIDATION_FAILED', message: `rows.1: "not a row" is not a row: ${row}`, issues: [{ path: 'rows.1', message: `"not a row" is not a row: ${row}` }] },
      { code: 'VALIDATION_FAILED', message: `rows.2: null is not a row: ${row}`, issues: [{ path: 'rows.2', message: `null is not a row: ${row}` }] },
      { code: 'VALIDATION_FAILED', message: `rows.3: an array is not a row: ${row}`, issues: [{ path: 'rows.3', message: `an array is not a row: ${row}` }] },
    ]);
  });

  it("words a refused row's message path: message, whether it has one issue or several", async () => {
    const [one, two] = await bulk([
      { ...OPT_OUT_ROW, email: 'bulk0@example' },
      { ...OPT_OUT_ROW, email: 'bulk0@example', status: 'opted_in' },
    ]);
    for (const result of [one, two]) {
      const issues = result?.error?.issues ?? [];
      expect(result?.error?.message).toBe(issues.map((issue) => `${issue.path}: ${issue.message}`).join('; '));
    }
    expect(one?.error).toMatchObject({ code: 'INVALID_EMAIL', message: expect.stringMatching(/^email: "bulk0@example" is not a valid email address/) });
    expect(two?.error?.issues.map((issue) => issue.path)).toEqual(['email', 'legalBasis', 'explanation']);
  });
});

import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ANA, expectProblem, problemPaths, useTestApp, type Tenant, type TestApp } from './helpers.js';
import { unsalted } from '../evidence.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, first) => {
  t = app;
  acme = first;
});

const SHOWN = ['Get our offers by SMS? Privacy policy: https://example.com/privacy', '[x] Yes, send me offers by SMS'];
const FORM_EVIDENCE = {
  messageId: 'form-submission-0001',
  rawText: 'sms_optin=yes',
  button: 'Subscribe',
  policyUrl: 'https://example.com/privacy',
  shown: SHOWN,
  note: 'Signup form on https://example.com/join, SMS box ticked',
};
const OPT_IN = { status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Ticked the SMS box on the signup form' };

/** policyDigest as the README defines it: SHA-256 of the texts as one JSON array, written by JSON.stringify. */
const digestOf = (shown: readonly string[]) => createHash('sha256').update(JSON.stringify(shown), 'utf8').digest('hex');

const RecordSchema = z.object({ id: z.string(), evidence: z.record(z.string(), z.unknown()) });
const PutAnswerSchema = z.object({ record: RecordSchema, created: z.boolean() });

async function createContact(payload: Record<string, unknown> = ANA): Promise<string> {
  const res = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload });
  expect(res.statusCode, res.body).toBe(201);
  return z.object({ id: z.string() }).parse(res.json()).id;
}

function put(contactId: string, payload: Record<string, unknown>, channel = 'sms') {
  return t.as(acme, { method: 'PUT', url: `/v1/contacts/${contactId}/consents/marketing/${channel}`, payload });
}

async function history(contactId: string) {
  const res = await t.as(acme, { method: 'GET', url: `/v1/contacts/${contactId}/consents/history` });
  return z.object({ data: z.array(RecordSchema) }).parse(res.json()).data;
}

describe('PUT /v1/contacts/{id}/consents/{purpose}/{channel} with evidence', () => {
  it('keeps what the form showed and what was ticked, adds the digest of the texts and the number, and the receipt and the chain show it', async () => {
    const id = await createContact();
    const res = await put(id, { ...OPT_IN, evidence: FORM_EVIDENCE });
    expect(res.statusCode, res.body).toBe(201);
    const expected = { ...FORM_EVIDENCE, policyDigest: digestOf(SHOWN), identity: 'phone:+34600000001' };
    const answer = PutAnswerSchema.parse(res.json());
    expect(unsalted(answer.record.evidence)).toEqual(expected);
    expect(unsalted((await history(id))[0]?.evidence)).toEqual(expected);

    const proof = await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/proof` });
    expect(proof.statusCode, proof.body).toBe(200);
    const receipt = z
      .object({ consents: z.array(z.object({ current: z.object({ recordId: z.string(), evidence: z.unknown() }) })), verification: z.object({ ok: z.boolean() }) })
      .parse(proof.json());
    expect(receipt.consents[0]?.current).toMatchObject({ recordId: answer.record.id, evidence: expected });
    expect(receipt.verification.ok).toBe(true);
    const verify = await t.as(acme, { method: 'POST', url: '/v1/ledger/verify' });
    expect(verify.json()).toMatchObject({ ok: true });
  });

  it('keeps the number the opt-in was about after the phone is edited, in the history and the receipt', async () => {
    const id = await createContact();
    expect((await put(id, { ...OPT_IN, evidence: { note: 'Signup form' } })).statusCode).toBe(201);
    const edited = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${id}`, payload: { phone: '+34600000077' } });
    expect(edited.statusCode, edited.body).toBe(200);
    expect(unsalted((await history(id))[0]?.evidence)).toEqual({ note: 'Signup form', identity: 'phone:+34600000001' });
    const proof = await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/proof` });
    expect(proof.json()).toMatchObject({ contact: { phone: '+34600000077' }, consents: [{ current: { evidence: { identity: 'phone:+34600000001' } } }] });
  });

  it('digests the texts as they are recorded: a lone surrogate becomes U+FFFD', async () => {
    const id = await createContact();
    const res = await put(id, { ...OPT_IN, evidence: { shown: ['Offers by SMS \uD83D'] } });
    expect(res.statusCode, res.body).toBe(201);
    expect(PutAnswerSchema.parse(res.json()).record.evidence).toMatchObject({ shown: ['Offers by SMS \uFFFD'], policyDigest: digestOf(['Offers by SMS \uFFFD']) });
  });

  it.each(['identity', 'policyDigest', 'keyword', 'language', 'normalizedText', 'workflowId', 'runId', 'redacted'])(
    'refuses evidence.%s, which Consentry writes itself, with 422 naming it',
    async (member) => {
      const id = await createContact();
      const res = await put(id, { ...OPT_IN, evidence: { note: 'Signup form', [member]: member === 'redacted' ? true : 'x' } });
      const problem = expectProblem(res, 422, 'VALIDATION_FAILED');
      expect(problem.errors).toEqual([{ path: `evidence.${member}`, message: expect.stringContaining('is written by Consentry') }]);
      expect(await history(id)).toEqual([]);
    },
  );

  it('names every bad member at once: an unknown one, one Consentry writes, a bad value, and the other bad fields', async () => {
    const id = await createContact();
    const res = await put(id, {
      status: 'opted_out',
      occurredAt: 'yesterday',
      evidence: { colour: 'blue', identity: 'phone:+34600000099', shown: ['a'.repeat(5001)], note: 7 },
    });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res).sort()).toEqual(['evidence.colour', 'evidence.identity', 'evidence.note', 'evidence.shown.0', 'occurredAt']);
    // The same limits as a workflow's texts: at most 10, and 20,000 characters in all.
    const tooMany = await put(id, { ...OPT_IN, evidence: { shown: Array.from({ length: 11 }, () => 'Offers?') } });
    expect(problemPaths(tooMany)).toEqual(['evidence.shown']);
    const tooLong = await put(id, { ...OPT_IN, evidence: { shown: ['a'.repeat(5000), 'b'.repeat(5000), 'c'.repeat(5000), 'd'.repeat(5000), 'e'] } });
    expect(problemPaths(tooLong)).toEqual(['evidence.shown']);
    const notAnObject = await put(id, { ...OPT_IN, evidence: ['Signup form'] });
    expect(problemPaths(notAnObject)).toEqual(['evidence']);
    expect(await history(id)).toEqual([]);
  });

  it('answers a replay with the same evidence with the record, and refuses other or missing evidence naming it', async () => {
    const id = await createContact();
    const request = { ...OPT_IN, idempotencyKey: 'signup-0001', evidence: FORM_EVIDENCE };
    const first = await put(id, request);
    expect(first.statusCode, first.body).toBe(201);
    const recordId = PutAnswerSchema.parse(first.json()).record.id;
    // The same evidence written in another member order is the same request.
    const reordered = await put(id, { ...request, evidence: Object.fromEntries(Object.entries(FORM_EVIDENCE).reverse()) });
    expect(reordered.statusCode, reordered.body).toBe(200);
    expect(PutAnswerSchema.parse(reordered.json())).toMatchObject({ created: false, record: { id: recordId } });

    for (const evidence of [{ ...FORM_EVIDENCE, shown: [...SHOWN, 'Thanks!'] }, { ...FORM_EVIDENCE, note: 'Another page' }, undefined]) {
      const res = await put(id, { ...request, evidence });
      const problem = expectProblem(res, 409, 'CONFLICT');
      expect(problem.errors).toEqual([{ path: 'idempotencyKey', message: expect.stringContaining('differs in evidence') }]);
    }
    // After the phone is edited, the same request still answers its record.
    await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${id}`, payload: { phone: '+34600000077' } });
    expect((await put(id, request)).statusCode).toBe(200);
    expect(await history(id)).toHaveLength(1);
  });

  it('records any evidence of the members a caller states, and never answers a 5xx, whatever evidence is sent', async () => {
    const id = await createContact();
    const short = fc.string({ maxLength: 20 });
    const stated = fc.record(
      { messageId: short, rawText: short, button: short, policyUrl: short, shown: fc.array(short, { maxLength: 10 }), note: short },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(stated, async (sent) => {
        const res = await put(id, { status: 'opted_out', evidence: sent });
        expect(res.statusCode, res.body).toBe(201);
        const recorded = PutAnswerSchema.parse(res.json()).record.evidence;
        const wellFormed = Object.fromEntries(Object.entries(sent).map(([key, value]) => [key, Array.isArray(value) ? value.map((text) => text.toWellFormed()) : value.toWellFormed()]));
        const digest = Array.isArray(wellFormed.shown) ? { policyDigest: digestOf(wellFormed.shown) } : {};
        expect(unsalted(recorded)).toEqual({ ...wellFormed, ...digest, identity: 'phone:+34600000001' });
      }),
      { numRuns: 25 },
    );
    const member = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string({ maxLength: 20 }), fc.array(fc.string({ maxLength: 20 }), { maxLength: 12 }));
    const evidence = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.dictionary(fc.constantFrom('messageId', 'rawText', 'button', 'policyUrl', 'shown', 'note', 'identity', 'policyDigest', 'redacted', '__proto__', 'x'), member, { maxKeys: 4 }),
    );
    await fc.assert(
      fc.asyncProperty(evidence, async (sent) => {
        const res = await put(id, { status: 'opted_out', evidence: sent });
        expect(res.statusCode, res.body).toBeLessThan(500);
      }),
      { numRuns: 40 },
    );
  });
});

describe('POST /v1/consents/bulk with evidence', () => {
  it('records each row with its evidence, the digest of its texts and its identity, and names a refused member in that row', async () => {
    const id = await createContact();
    const res = await t.as(acme, {
      method: 'POST',
      url: '/v1/consents/bulk',
      payload: {
        rows: [
          { contactId: id, purpose: 'marketing', channel: 'sms', ...OPT_IN, evidence: FORM_EVIDENCE },
          { email: 'ben.test@example.com', purpose: 'marketing', channel: 'email', status: 'opted_out', evidence: { note: 'Unsubscribe link in the March newsletter' } },
          { contactId: id, purpose: 'marketing', channel: 'email', status: 'opted_out', evidence: { identity: 'email:someone@example.com', note: 'x' } },
          { contactId: id, purpose: 'marketing', channel: 'pigeon', status: 'opted_out', evidence: { policyDigest: 'abc', colour: 'blue' } },
        ],
      },
    });
    expect(res.statusCode, res.body).toBe(200);
    const results = z.object({ results: z.array(z.record(z.string(), z.unknown())) }).parse(res.json()).results;
    expect(results.map((result) => result.ok)).toEqual([true, true, false, false]);
    expect(results[2]).toEqual({
      row: 2,
      ok: false,
      error: { code: 'VALIDATION_FAILED', message: expect.stringContaining('evidence.identity'), issues: [{ path: 'evidence.identity', message: expect.stringContaining('is written by Consentry') }] },
    });
    expect(results[3]).toMatchObject({ row: 3, ok: false, error: { code: 'VALIDATION_FAILED' } });
    expect(z.object({ error: z.object({ issues: z.array(z.object({ path: z.string() })) }) }).parse(results[3]).error.issues.map((issue) => issue.path).sort()).toEqual([
      'channel',
      'evidence.colour',
      'evidence.policyDigest',
    ]);

    const [anaRecord] = await history(id);
    expect(unsalted(anaRecord?.evidence)).toEqual({ ...FORM_EVIDENCE, policyDigest: digestOf(SHOWN), identity: 'phone:+34600000001' });
    const ben = z.object({ contactId: z.string() }).parse(results[1]).contactId;
    expect(unsalted((await history(ben))[0]?.evidence)).toEqual({ note: 'Unsubscribe link in the March newsletter', identity: 'email:ben.test@example.com' });
    expect((await t.as(acme, { method: 'POST', url: '/v1/ledger/verify' })).json()).toMatchObject({ ok: true });
  });

  it('answers a replayed row with the same evidence with its record, and refuses it with other evidence', async () => {
    const id = await createContact();
    const row = { contactId: id, purpose: 'marketing', channel: 'whatsapp', ...OPT_IN, idempotencyKey: 'row-0001', evidence: FORM_EVIDENCE };
    const send = (rows: unknown[]) => t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows } });
    const first = z.object({ results: z.array(z.object({ recordId: z.string() })) }).parse((await send([row])).json()).results[0];
    const again = await send([row, { ...row, evidence: { ...FORM_EVIDENCE, button: 'Maybe later' } }]);
    expect(again.json().results).toEqual([
      { row: 0, ok: true, contactId: id, recordId: first?.recordId, created: false, repeated: false, inEffect: true, supersededBy: null, overtakenBy: [], warnings: [] },
      { row: 1, ok: false, error: { code: 'CONFLICT', message: expect.stringContaining('differs in evidence'), issues: [{ path: 'idempotencyKey', message: expect.stringContaining('differs in evidence') }] } },
    ]);
    expect(await history(id)).toHaveLength(1);
  });
});

describe('the OpenAPI document', () => {
  /** The member at `keys` of a JSON value, or undefined. */
  const at = (value: unknown, ...keys: string[]): unknown =>
    keys.reduce<unknown>((inner, key) => (typeof inner === 'object' && inner !== null ? Reflect.get(inner, key) : undefined), value);

  it('shows the evidence a PUT may carry, with a description of each member and of those Consentry writes', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const document: unknown = res.json();
    const evidence = z
      .object({
        description: z.string(),
        additionalProperties: z.literal(false),
        properties: z.record(z.string(), z.object({ description: z.string() })),
      })
      .parse(at(document, 'paths', '/v1/contacts/{id}/consents/{purpose}/{channel}', 'put', 'requestBody', 'content', 'application/json', 'schema', 'properties', 'evidence'));
    expect(Object.keys(evidence.properties).sort()).toEqual(['button', 'messageId', 'note', 'policyUrl', 'rawText', 'shown']);
    expect(evidence.description).toMatch(/identity.*refused/);
    const rows = z.string().parse(at(document, 'paths', '/v1/consents/bulk', 'post', 'requestBody', 'content', 'application/json', 'schema', 'properties', 'rows', 'description'));
    expect(rows).toContain('evidence?');
  });
});

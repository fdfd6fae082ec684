import { describe, expect, it } from 'vitest';
import { expectProblem, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, first) => {
  t = app;
  acme = first;
});

describe('a 422 says in detail what errors names, path: message each', () => {
  it('for an opt-in without legal basis and explanation, naming both', async () => {
    const contact = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Ana Test', phone: '+34600000501' } });
    const res = await t.as(acme, { method: 'PUT', url: `/v1/contacts/${String(contact.json().id)}/consents/marketing/any`, payload: { status: 'opted_in' } });
    const problem = expectProblem(res, 422, 'LEGAL_BASIS_REQUIRED');
    expect(problem.detail).toBe(
      'legalBasis: an opt-in recorded from source "api" needs a legalBasis; explanation: an opt-in recorded from source "api" needs an explanation',
    );
  });

  it('for one bad query parameter, naming it', async () => {
    const res = await t.as(acme, { method: 'GET', url: '/v1/contacts?email=bad' });
    const problem = expectProblem(res, 422, 'INVALID_EMAIL');
    expect(problem.detail).toBe('email: "bad" is not a valid email address: it must contain exactly one "@"');
  });

  it('and so does a 404 of a path parameter that names nothing, with the id sent', async () => {
    const res = await t.as(acme, { method: 'GET', url: '/v1/contacts/01ARZ3NDEKTSV4RRFFQ69G5FAV' });
    expect(expectProblem(res, 404, 'NOT_FOUND').detail).toBe('id: no contact 01ARZ3NDEKTSV4RRFFQ69G5FAV in this workspace');
  });

  it('and leaves the sentence of a refusal that names no field (a path no route has) as it is', async () => {
    const res = await t.as(acme, { method: 'GET', url: '/v1/nowhere' });
    const problem = expectProblem(res, 404, 'NOT_FOUND');
    expect(problem.detail).toBe('No route GET /v1/nowhere');
    expect(problem.errors).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import { expectProblem, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, first) => {
  t = app;
  acme = first;
});

describe('an empty query parameter', () => {
  it.each([
    ['/v1/contacts?cursor=', 'cursor'],
    ['/v1/contacts?tag=', 'tag'],
    ['/v1/contacts?tag=%20%20', 'tag'],
    ['/v1/contacts?email=', 'email'],
    ['/v1/contacts?phone=', 'phone'],
    ['/v1/events?cursor=', 'cursor'],
    ['/v1/events?after=', 'after'],
    ['/v1/settings/outbound-webhook/deliveries?cursor=', 'cursor'],
  ])('%s is refused naming %s, with a value or nothing to send instead', async (url, path) => {
    const res = await t.as(acme, { method: 'GET', url });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(res.json().errors).toEqual([{ path, message: 'is empty: give a value, or leave the parameter out' }]);
  });

  it('GET /v1/hooks/{id}/deliveries?cursor= is refused the same way', async () => {
    const hook = await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl: 'https://hooks.example.com/in', event: '*' } });
    expect(hook.statusCode, hook.body).toBe(201);
    const res = await t.as(acme, { method: 'GET', url: `/v1/hooks/${String(hook.json().id)}/deliveries?cursor=` });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(res.json().errors).toEqual([{ path: 'cursor', message: 'is empty: give a value, or leave the parameter out' }]);
  });
});

describe('a blank or invisible cursor', () => {
  it.each([
    ['/v1/events?cursor=%20', 'cursor', 'no event " " in this workspace'],
    ['/v1/events?after=%E2%80%8B', 'after', 'no event "\\u200b" in this workspace'],
    ['/v1/contacts?cursor=%20%20', 'cursor', 'no contact "  " in this workspace'],
    ['/v1/settings/outbound-webhook/deliveries?cursor=%09', 'cursor', 'no delivery "\\t" of this'],
  ])('%s is quoted so that what was sent can be seen', async (url, path, quoted) => {
    const res = await t.as(acme, { method: 'GET', url });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(res.json().errors).toEqual([{ path, message: expect.stringContaining(quoted) }]);
  });
});

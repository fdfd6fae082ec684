import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { expectProblem, problemPaths, useTestApp, type Tenant, type TestApp } from './helpers.js';

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

const row = (email: string) => ({ email, purpose: 'marketing', channel: 'email', status: 'opted_out' });
const bulkBody = (email: string) => JSON.stringify({ rows: [row(email)] });

/** A bulk request whose body is still arriving until `finish` is called. */
function slowBulk(tenant: Tenant, email: string) {
  const body = new PassThrough();
  const text = bulkBody(email);
  body.write(text.slice(0, 10));
  const response = t.as(tenant, { method: 'POST', url: '/v1/consents/bulk', headers: { 'content-type': 'application/json' }, payload: body });
  return {
    response,
    finish: () => body.end(text.slice(10)),
  };
}

/** Lets the request in flight reach its handler's wait for the body. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('POST /v1/consents/bulk, one at a time per workspace', () => {
  it("refuses a workspace's second bulk request while its first is in flight, with 429 and Retry-After, before reading its body", async () => {
    const first = slowBulk(acme, 'ana@example.com');
    await settle();
    const second = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: [row('bob@example.com')] } });
    const problem = expectProblem(second, 429, 'TOO_MANY_REQUESTS');
    expect(second.headers['retry-after']).toBe('1');
    expect(problemPaths(second)).toEqual(['rows']);
    expect(String(problem.detail)).toContain('once it is answered');

    // Another workspace is not held up.
    const other = await t.as(globex, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: [row('carla@example.com')] } });
    expect(other.statusCode).toBe(200);

    first.finish();
    expect((await first.response).statusCode).toBe(200);
    // The slot is given back: the next batch goes through, and the refused one recorded nothing.
    const third = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: [row('bob@example.com')] } });
    expect(third.json().results).toEqual([expect.objectContaining({ ok: true, created: true })]);
  });

  it('gives the slot back after a refused body too', async () => {
    const refused = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', headers: { 'content-type': 'application/json' }, payload: '{"rows": [' });
    expect(refused.statusCode).toBe(400);
    const next = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: [row('ana@example.com')] } });
    expect(next.statusCode).toBe(200);
  });
});

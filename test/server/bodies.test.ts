import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { body, expectProblem, problemPaths, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, first) => {
  t = app;
  acme = first;
});

describe('request bodies are JSON only', () => {
  it.each(['text/plain', 'text/plain; charset=utf-8', 'application/xml', 'application/x-www-form-urlencoded'])('a JSON body sent as %s is 415', async (contentType) => {
    const res = await t.as(acme, { method: 'POST', url: '/v1/contacts', headers: { 'content-type': contentType }, payload: '{"name":"Ana Test"}' });
    expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    const list = await t.as(acme, { method: 'GET', url: '/v1/contacts' });
    expect(list.json().data).toEqual([]);
  });

  it('a JSON body sent as application/json or application/merge-patch+json is read', async () => {
    const created = await t.as(acme, { method: 'POST', url: '/v1/contacts', headers: { 'content-type': 'application/json; charset=utf-8' }, payload: '{"name":"Ana Test"}' });
    expect(created.statusCode, created.body).toBe(201);
    const patched = await t.as(acme, {
      method: 'PATCH',
      url: `/v1/contacts/${String(body(created).id)}`,
      headers: { 'content-type': 'application/merge-patch+json' },
      payload: '{"name":"Ana B. Test"}',
    });
    expect(patched.json().name).toBe('Ana B. Test');
  });
});

describe('a body with a prototype-poisoning key is valid JSON refused on purpose', () => {
  it.each([
    ['/v1/contacts', '{"name":"Ana Test","fields":{"__proto__":"z"}}', 'fields.__proto__'],
    ['/v1/contacts', '{"name":"Ana Test","fields":{"\\u005f_proto__":"z"}}', 'fields.__proto__'],
    ['/v1/contacts', '{"constructor":{"prototype":{"name":"x"}}}', 'constructor.prototype'],
    ['/v1/consents/bulk', '{"rows":[{"purpose":"marketing"},{"email":"ana.test@example.com","__proto__":{}}]}', 'rows.1.__proto__'],
  ])('POST %s %s → 422 naming %s', async (url, payload, path) => {
    const res = await t.as(acme, { method: 'POST', url, headers: { 'content-type': 'application/json' }, payload });
    const problem = expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res)).toEqual([path]);
    expect(String(problem.detail)).toMatch(/"(__proto__|constructor)".* is not accepted/);
    expect((await t.as(acme, { method: 'GET', url: '/v1/contacts' })).json().data).toEqual([]);
  });

  it('malformed JSON stays a 400, and the same keys as values are accepted', async () => {
    expectProblem(await t.as(acme, { method: 'POST', url: '/v1/contacts', headers: { 'content-type': 'application/json' }, payload: '{"__proto__": ' }), 400, 'MALFORMED_JSON');
    const values = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: '__proto__', fields: { note: 'constructor.prototype' } } });
    expect(values.statusCode, values.body).toBe(201);
  });
});

const OpenApiPathsSchema = z.object({ paths: z.record(z.string(), z.record(z.string(), z.unknown())) });
const MetricsOperationSchema = z.object({
  summary: z.string(),
  tags: z.array(z.string()),
  responses: z.object({ '200': z.object({ description: z.string(), content: z.record(z.string(), z.object({ schema: z.object({ type: z.literal('string') }).passthrough() })) }) }),
});

describe('GET /metrics in /openapi.json', () => {
  it('is documented like the other routes, as Prometheus text, and still answers that text', async () => {
    const doc = OpenApiPathsSchema.parse((await t.app.inject({ method: 'GET', url: '/openapi.json' })).json());
    const operation = MetricsOperationSchema.parse(doc.paths['/metrics']?.get);
    expect(operation.tags).toEqual(['system']);
    expect(operation.summary).toMatch(/Prometheus/);
    expect(Object.keys(operation.responses['200'].content)).toEqual(['text/plain; version=0.0.4; charset=utf-8']);
    expect(operation).not.toHaveProperty('security');

    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(metrics.body.startsWith('# HELP')).toBe(true);
  });
});

import fastifySwagger from '@fastify/swagger';
import Fastify from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { HISTORY_PAGE_DEFAULT, HISTORY_PAGE_MAX } from '../../src/engine.js';
import { openApiTransform, withResponseHeaders } from '../../src/server/openapi.js';
import { limitQuery } from '../../src/server/schemas.js';
import { refusedWith, testApp, type TestApp, type Tenant } from './helpers.js';

const ParameterSchema = z.object({ name: z.string(), in: z.string(), required: z.boolean().optional(), description: z.string().optional(), schema: z.record(z.string(), z.unknown()) });
const HeaderSchema = z.object({ description: z.string(), schema: z.record(z.string(), z.unknown()) });
const ResponseSchema = z.object({ description: z.string(), headers: z.record(z.string(), HeaderSchema).optional(), content: z.record(z.string(), z.unknown()).optional() });
const OperationSchema = z.object({ parameters: z.array(ParameterSchema).optional(), responses: z.record(z.string(), ResponseSchema) });
const DocumentSchema = z.object({ paths: z.record(z.string(), z.record(z.string(), OperationSchema)) });
type OpenApiDocument = z.output<typeof DocumentSchema>;

async function openApi(app: { inject: TestApp['app']['inject'] }): Promise<OpenApiDocument> {
  const response = await app.inject({ method: 'GET', url: '/openapi.json' });
  expect(response.statusCode, response.body).toBe(200);
  return DocumentSchema.parse(response.json());
}

function operation(doc: OpenApiDocument, path: string, method: string): z.output<typeof OperationSchema> {
  const found = doc.paths[path]?.[method];
  if (found === undefined) throw new Error(`${method.toUpperCase()} ${path} is not in the document`);
  return found;
}

function operations(doc: OpenApiDocument): [string, z.output<typeof OperationSchema>][] {
  return Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]): [string, z.output<typeof OperationSchema>] => [`${method.toUpperCase()} ${path}`, op]));
}

describe('/openapi.json', () => {
  let t: TestApp;
  let doc: OpenApiDocument;
  beforeEach(async () => {
    t = await testApp();
    doc = await openApi(t.app);
  });
  afterEach(async () => {
    await t.close();
  });

  it.each([
    ['/v1/events', 200, 50],
    ['/v1/contacts', 500, 50],
    ['/v1/contacts/{id}/consents/history', HISTORY_PAGE_MAX, HISTORY_PAGE_DEFAULT],
    ['/v1/hooks/{id}/deliveries', 500, 50],
    ['/v1/settings/outbound-webhook/deliveries', 500, 50],
  ])('describes limit of GET %s as the integer a client sends: 1 to %i, default %i', (path, max, fallback) => {
    const limit = operation(doc, path, 'get').parameters?.find((parameter) => parameter.name === 'limit');
    expect(limit).toEqual({
      name: 'limit',
      in: 'query',
      required: false,
      description: `Page size, 1 to ${max}, default ${fallback}`,
      schema: { type: 'integer', minimum: 1, maximum: max, default: fallback },
    });
  });

  it('declares no limit as text any more', () => {
    const limits = operations(doc).flatMap(([name, op]) => (op.parameters ?? []).filter((parameter) => parameter.name === 'limit').map((parameter) => [name, parameter.schema['type']]));
    expect(limits.length).toBeGreaterThanOrEqual(5);
    expect(limits.filter(([, type]) => type !== 'integer')).toEqual([]);
  });

  it('declares Retry-After, in whole seconds, on every 429 and 503', () => {
    const refusals = operations(doc).flatMap(([name, op]) =>
      Object.entries(op.responses)
        .filter(([status]) => status === '429' || status === '503')
        .map(([status, response]): [string, z.output<typeof ResponseSchema>] => [`${name} ${status}`, response]),
    );
    expect(refusals.map(([name]) => name)).toEqual(expect.arrayContaining(['POST /v1/consents/bulk 429', 'PUT /v1/contacts/{id}/consents/{purpose}/{channel} 503', 'GET /health 503', 'PATCH /v1/settings 503', 'POST /slack/events 503']));
    // The HubSpot install callback answers HTML pages, not problems: its own route declares them.
    const declared = refusals.filter(([name]) => !name.startsWith('GET /hubspot/oauth/callback '));
    for (const [name, response] of declared) {
      expect(response.headers?.['Retry-After']?.schema, name).toEqual({ type: 'integer', minimum: 1 });
      expect(response.headers?.['Retry-After']?.description, name).toMatch(/^Seconds to wait before sending the request again: /);
    }
    expect(operation(doc, '/v1/consents/bulk', 'post').responses['429']?.headers?.['Retry-After']?.description).toContain('1,');
    expect(operation(doc, '/health', 'get').responses['503']?.headers?.['Retry-After']?.description).toContain('30 with STORE_FULL');
  });

  it('declares X-Consentry-Hook-Kept on the 204 of DELETE /v1/hooks/{id}, which has no body', () => {
    const deleted = operation(doc, '/v1/hooks/{id}', 'delete').responses['204'];
    expect(deleted?.headers?.['x-consentry-hook-kept']).toEqual({
      schema: { type: 'string', const: 'replaced' },
      description: 'Sent only when ?subscription= named a subscription a later POST replaced: nothing was deleted and the hook is kept',
    });
    expect(deleted?.content).toBeUndefined();
  });

  it('keeps WWW-Authenticate on problem 401s, and gives a 401 without a body no header it does not send', () => {
    expect(operation(doc, '/v1/contacts', 'get').responses['401']?.headers).toEqual({ 'WWW-Authenticate': { schema: { type: 'string' }, description: 'Bearer realm="consentry"' } });
    const slack = operation(doc, '/slack/events', 'post').responses;
    expect(slack['401']?.headers).toBeUndefined();
    expect(slack['401']?.content).toBeUndefined();
    expect(slack['503']?.content).toBeUndefined();
  });

  it("declares the Slack route's own Retry-After on its 503, not the store's", () => {
    const busy = operation(doc, '/slack/events', 'post').responses['503'];
    expect(busy?.headers?.['Retry-After']).toEqual({
      schema: { type: 'integer', minimum: 1 },
      description: 'Seconds to wait before sending the request again: until another request that no known Slack app or team verifies is taken (1 a second)',
    });
    expect(busy?.content).toBeUndefined();
  });

  it('describes a query parameter by its checks: the contacts cursor by its length, the permission purpose by its pattern', () => {
    const parameter = (path: string, name: string) => operation(doc, path, 'get').parameters?.find((p) => p.name === name)?.schema;
    expect(parameter('/v1/contacts', 'cursor')).toEqual({ type: 'string', minLength: 1, maxLength: 200 });
    expect(parameter('/v1/contacts/{id}/permission', 'purpose')).toEqual({ type: 'string', pattern: '^[a-z][a-z0-9_-]{0,63}$', default: 'marketing' });
  });

  it("declares the metrics token's own realm on GET /metrics, not the API key's", () => {
    const header = operation(doc, '/metrics', 'get').responses['401']?.headers?.['WWW-Authenticate'];
    expect(header?.description).toMatch(/^Bearer realm="consentry-metrics", with error="invalid_token" when a bearer token was sent/);
  });

  it("declares Retry-After on the HubSpot install callback's 503 page", () => {
    const unavailable = operation(doc, '/hubspot/oauth/callback', 'get').responses['503'];
    expect(unavailable?.headers?.['Retry-After']).toEqual({ schema: { type: 'integer', minimum: 1 }, description: expect.stringContaining('starting the install again') });
    expect(unavailable?.content).toHaveProperty(['text/html; charset=utf-8']);
  });
});

describe('limit', () => {
  let t: TestApp;
  let acme: Tenant;
  beforeEach(async () => {
    t = await testApp();
    acme = await t.tenant('Acme');
  });
  afterEach(async () => {
    await t.close();
  });

  it('is read with its default when left out, and from its digits when given', () => {
    const Query = z.object({ limit: limitQuery(200, 50) });
    expect(Query.parse({})).toEqual({ limit: 50 });
    expect(Query.parse({ limit: '1' })).toEqual({ limit: 1 });
    expect(Query.parse({ limit: '0007' })).toEqual({ limit: 7 });
    expect(Query.parse({ limit: '200' })).toEqual({ limit: 200 });
  });

  it.each(['', 'abc', '0', '-1', '1.5', '1e2', '0x10', '%205', '201', '999999', '1000000'])('?limit=%s is refused with the range, as before', async (value) => {
    const refused = refusedWith(await t.as(acme, { method: 'GET', url: `/v1/events?limit=${value}` }));
    expect(refused.errors).toEqual([{ path: 'limit', message: 'must be an integer between 1 and 200' }]);
  });

  it('given twice is refused with what to do, on every route that pages', async () => {
    const contact = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { email: 'ana@example.com' } });
    const id = z.object({ id: z.string() }).parse(contact.json()).id;
    for (const url of ['/v1/events', '/v1/contacts', `/v1/contacts/${id}/consents/history`, '/v1/settings/outbound-webhook/deliveries']) {
      const refused = refusedWith(await t.as(acme, { method: 'GET', url: `${url}?limit=1&limit=2` }));
      expect(refused.errors, url).toEqual([{ path: 'limit', message: 'give it once' }]);
    }
    const history = refusedWith(await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/consents/history?limit=501` }));
    expect(history.errors).toEqual([{ path: 'limit', message: 'must be an integer between 1 and 500' }]);
  });
});

describe('withResponseHeaders', () => {
  const KEPT = 'x-consentry-hook-kept';

  async function appWithHeaderRoute() {
    const app = Fastify().withTypeProvider<ZodTypeProvider>();
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    await app.register(fastifySwagger, { openapi: { openapi: '3.1.0', info: { title: 'headers', version: '1' } }, transform: openApiTransform });
    app.delete(
      '/v1/things/:id',
      {
        schema: {
          params: z.object({ id: z.string() }),
          response: {
            204: withResponseHeaders(z.null().describe('Deleted, or nothing to do'), {
              [KEPT]: z.literal('replaced').describe('Sent only when the thing was kept'),
            }),
          },
        },
      },
      async (request, reply) => {
        if (request.params.id === 'kept') reply.header(KEPT, 'replaced');
        return reply.code(204).send(null);
      },
    );
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
    await app.ready();
    return app;
  }

  it('declares the headers of a response without a body, which is still answered without one', async () => {
    const app = await appWithHeaderRoute();
    try {
      const response = operation(await openApi(app), '/v1/things/{id}', 'delete').responses['204'];
      expect(response).toEqual({
        description: 'Deleted, or nothing to do',
        headers: { [KEPT]: { description: 'Sent only when the thing was kept', schema: { type: 'string', const: 'replaced' } } },
      });
      const kept = await app.inject({ method: 'DELETE', url: '/v1/things/kept' });
      expect([kept.statusCode, kept.headers[KEPT], kept.body]).toEqual([204, 'replaced', '']);
      const deleted = await app.inject({ method: 'DELETE', url: '/v1/things/gone' });
      expect([deleted.statusCode, deleted.headers[KEPT]]).toEqual([204, undefined]);
    } finally {
      await app.close();
    }
  });
});

import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Store } from '../../src/ports/store.js';
import { buildApp } from '../../src/server/app.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { expectProblem, problemPaths, testApp, type TestApp } from './helpers.js';

const apps: TestApp[] = [];
async function open(options: Parameters<typeof testApp>[0] = {}): Promise<TestApp> {
  const app = await testApp(options);
  apps.push(app);
  return app;
}

afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

describe("Fastify's own errors are problem+json", () => {
  it('malformed JSON → 400 naming the body', async () => {
    const t = await open();
    const acme = await t.tenant('Acme');
    const res = await t.as(acme, { method: 'POST', url: '/v1/contacts', headers: { 'content-type': 'application/json' }, payload: '{"name": "Ana' });
    expectProblem(res, 400, 'MALFORMED_JSON');
    expect(problemPaths(res)).toEqual(['body']);
  });

  it('malformed JSON → 400 naming the line and column where the body stops being JSON, without V8\'s offset', async () => {
    const t = await open();
    const acme = await t.tenant('Acme');
    const cases: [string, string][] = [
      ['{"channel": "sms",\n "text": hola}', 'is not valid JSON: line 2, column 10: Unexpected token'],
      ['{"name": "Ana",}', "is not valid JSON: line 1, column 16: Expected double-quoted property name"],
      ['\uFEFF{"name": "Ana"', 'is not valid JSON: line 1, column 15: '],
    ];
    for (const [payload, message] of cases) {
      const res = await t.as(acme, { method: 'POST', url: '/v1/contacts', headers: { 'content-type': 'application/json' }, payload });
      expectProblem(res, 400, 'MALFORMED_JSON');
      const [error] = res.json().errors;
      expect(error.path).toBe('body');
      expect(error.message, payload).toContain(message);
      expect(error.message).not.toMatch(/position \d/);
    }
  });

  it('a prototype-poisoning body is refused, not merged: valid JSON refused on purpose, 422 naming the key', async () => {
    const t = await open();
    const acme = await t.tenant('Acme');
    const res = await t.as(acme, { method: 'POST', url: '/v1/contacts', headers: { 'content-type': 'application/json' }, payload: '{"__proto__": {"name": "x"}}' });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res)).toEqual(['__proto__']);
  });

  it('a path segment that does not percent-decode → 400, an overlong one → 414, a long id within the limit → the route answers', async () => {
    const t = await open();
    const acme = await t.tenant('Acme');
    expectProblem(await t.as(acme, { method: 'GET', url: '/v1/contacts/%E0%A4%A' }), 400, 'BAD_REQUEST');
    expectProblem(await t.as(acme, { method: 'GET', url: `/v1/contacts/${'c'.repeat(501)}` }), 414, 'URI_TOO_LONG');
    // 101 to 500 characters reach the route: its key check first, then its schema names the field.
    expectProblem(await t.app.inject({ method: 'GET', url: `/v1/contacts/${'c'.repeat(150)}` }), 401, 'UNAUTHORIZED');
    expectProblem(await t.as(acme, { method: 'GET', url: `/v1/contacts/${'c'.repeat(150)}` }), 404, 'NOT_FOUND');
    const tooLong = await t.as(acme, { method: 'GET', url: `/v1/contacts/${'c'.repeat(300)}` });
    expectProblem(tooLong, 422, 'VALIDATION_FAILED');
    expect(problemPaths(tooLong)).toEqual(['id']);
  });

  it.each([
    ['GET', '/v1/me?x=1', 'x'],
    ['GET', '/v1/hooks?zz=1', 'zz'],
    ['GET', '/v1/settings?debug=true', 'debug'],
    ['GET', '/v1/settings/outbound-webhook/deliveries?zz=1', 'zz'],
  ] as const)('%s %s → 422 naming the parameter the route does not take', async (method, url, field) => {
    const t = await open();
    const acme = await t.tenant('Acme');
    const res = await t.as(acme, { method, url });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res)).toEqual([field]);
  });

  it('a POST that takes no body accepts none or {}, and refuses anything else naming it', async () => {
    const t = await open();
    const acme = await t.tenant('Acme');
    expect((await t.as(acme, { method: 'POST', url: '/v1/ledger/verify' })).statusCode).toBe(200);
    expect((await t.as(acme, { method: 'POST', url: '/v1/ledger/verify', payload: {} })).statusCode).toBe(200);
    const extra = await t.as(acme, { method: 'POST', url: '/v1/ledger/verify', payload: { x: 1 } });
    expectProblem(extra, 422, 'VALIDATION_FAILED');
    expect(problemPaths(extra)).toEqual(['x']);
    const list = await t.as(acme, { method: 'POST', url: '/v1/ledger/verify', payload: [1, 2] });
    expectProblem(list, 422, 'VALIDATION_FAILED');
    expect(problemPaths(list)).toEqual(['body']);
  });

  it('unknown route → 404', async () => {
    const t = await open();
    const res = await t.app.inject({ method: 'GET', url: '/v2/everything?email=ana.test@example.com' });
    const problem = expectProblem(res, 404, 'NOT_FOUND');
    expect(problem).toMatchObject({ type: 'https://consentry.dev/problems/not-found', title: 'Not found', status: 404 });
    expect(problem.detail).not.toContain('ana.test');
  });

  it('a known path asked with a method it does not take → 405 naming the methods it takes in Allow', async () => {
    const t = await open();
    const acme = await t.tenant('Acme');
    const cases: [string, string, string][] = [
      ['PUT', '/v1/contacts', 'GET, HEAD, POST'],
      ['POST', '/v1/contacts/01ARZ3NDEKTSV4RRFFQ69G5FAV', 'GET, HEAD, PATCH, DELETE'],
      ['DELETE', '/v1/me', 'GET, HEAD, PATCH'],
      ['GET', '/v1/consents/bulk', 'POST'],
      ['PATCH', '/v1/contacts/01ARZ3NDEKTSV4RRFFQ69G5FAV/consents/marketing/sms', 'PUT'],
      ['POST', '/health', 'GET, HEAD'],
    ];
    for (const [method, url, allow] of cases) {
      const res = await t.as(acme, { method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).parse(method), url: `${url}?email=ana.test@example.com` });
      const problem = expectProblem(res, 405, 'METHOD_NOT_ALLOWED');
      expect(res.headers.allow, `${method} ${url}`).toBe(allow);
      expect(problem).toMatchObject({ type: 'https://consentry.dev/problems/method-not-allowed', title: 'Method not allowed', errors: [] });
      expect(problem.detail).toContain(method);
      expect(problem.detail).not.toContain('ana.test');
    }
    const unknown = await t.as(acme, { method: 'PUT', url: '/v1/contacts/01ARZ3NDEKTSV4RRFFQ69G5FAV/nothing' });
    expectProblem(unknown, 404, 'NOT_FOUND');
    expect(unknown.headers.allow).toBeUndefined();
  });

  it('every path of /openapi.json answers each method it lists no operation for with 405, as its description says', async () => {
    const t = await open();
    const doc = z
      .object({ info: z.object({ description: z.string() }), paths: z.record(z.string(), z.record(z.string(), z.unknown())) })
      .parse((await t.app.inject({ method: 'GET', url: '/openapi.json' })).json());
    expect(doc.info.description).toContain('405 METHOD_NOT_ALLOWED');
    const samples: Record<string, string> = { id: '01ARZ3NDEKTSV4RRFFQ69G5FAV', deliveryId: '01ARZ3NDEKTSV4RRFFQ69G5FAV', purpose: 'marketing', channel: 'sms', tag: 'VIP', template: 'request-consent-privacy' };
    const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
    let asked = 0;
    for (const [template, operations] of Object.entries(doc.paths)) {
      const url = template.replace(/\{(\w+)\}/g, (_, name: string) => samples[name] ?? name);
      const listed = methods.filter((method) => method.toLowerCase() in operations);
      const allow = listed.flatMap((method) => (method === 'GET' ? ['GET', 'HEAD'] : [method])).join(', ');
      for (const method of methods.filter((m) => !listed.includes(m))) {
        const res = await t.app.inject({ method, url });
        expect(res.statusCode, `${method} ${url}`).toBe(405);
        expect(res.headers.allow, `${method} ${url}`).toBe(allow);
        asked += 1;
      }
    }
    expect(asked).toBeGreaterThan(50);
  });

  it('HEAD answers on every GET route, with the headers of the GET and no body', async () => {
    const t = await open();
    const acme = await t.tenant('Acme');
    const get = await t.as(acme, { method: 'GET', url: '/v1/me' });
    const head = await t.as(acme, { method: 'HEAD', url: '/v1/me' });
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-type']).toBe(get.headers['content-type']);
    expect(head.body).toBe('');
    expect((await t.app.inject({ method: 'HEAD', url: '/health' })).statusCode).toBe(200);
  });

  it('body over the limit → 413', async () => {
    const t = await open();
    const acme = await t.tenant('Acme');
    const res = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'x'.repeat(2 * 1024 * 1024) } });
    const problem = expectProblem(res, 413, 'PAYLOAD_TOO_LARGE');
    // The limit is named, so a client knows how much it may send.
    expect(problem.detail).toBe('body: is larger than 1,048,576 bytes');
    expect(problem.errors).toEqual([{ path: 'body', message: 'is larger than 1,048,576 bytes' }]);
  });

  it('a body in another media type → 415', async () => {
    const t = await open();
    const acme = await t.tenant('Acme');
    const res = await t.as(acme, { method: 'POST', url: '/v1/contacts', headers: { 'content-type': 'application/xml' }, payload: '<contact/>' });
    expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('an empty body sent as application/json is no body', async () => {
    const t = await open();
    const acme = await t.tenant('Acme');
    const verify = await t.as(acme, { method: 'POST', url: '/v1/ledger/verify', headers: { 'content-type': 'application/json' }, payload: '' });
    expect(verify.statusCode).toBe(200);
    const create = await t.as(acme, { method: 'POST', url: '/v1/contacts', headers: { 'content-type': 'application/json' }, payload: '' });
    expectProblem(create, 422, 'VALIDATION_FAILED');
    expect(problemPaths(create)).toEqual(['body']);
  });
});

describe('GET /health', () => {
  it('answers ok when the store answers', async () => {
    const t = await open();
    const res = await t.app.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('answers 503 problem when the store cannot be read', async () => {
    const working = createMemoryStore();
    const broken: Store = {
      transaction: () => Promise.reject(new Error('disk I/O error')),
      read: () => Promise.reject(new Error('disk I/O error')),
      probe: () => Promise.reject(new Error('disk I/O error')),
      close: () => working.close(),
    };
    const app = await buildApp({ store: broken, defaultMetrics: false });
    try {
      expectProblem(await app.inject({ method: 'GET', url: '/health' }), 503, 'STORE_UNAVAILABLE');
    } finally {
      await app.close();
    }
  });
});

describe('GET /metrics', () => {
  it('exposes request durations by route, inbound messages and keyword intents in Prometheus text', async () => {
    const t = await open();
    const acme = await t.tenant('Acme');
    const stop = { channel: 'sms', messageId: 'sms-1', from: { id: '+34600000001' }, text: 'STOP' };
    await t.as(acme, { method: 'POST', url: '/v1/messages', payload: stop });
    await t.as(acme, { method: 'POST', url: '/v1/messages', payload: stop });
    await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { ...stop, messageId: 'sms-2', text: 'AYUDA' } });
    await t.app.inject({ method: 'GET', url: '/nowhere' });
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const text = res.body;
    expect(text).toContain('consentry_inbound_messages_total{channel="sms",duplicate="false"} 2');
    expect(text).toContain('consentry_inbound_messages_total{channel="sms",duplicate="true"} 1');
    expect(text).toContain('consentry_keyword_intents_total{intent="opt_out",language="en"} 1');
    expect(text).toContain('consentry_keyword_intents_total{intent="help",language="es"} 1');
    expect(text).toMatch(/http_request_duration_seconds_count\{route="\/v1\/messages",method="POST",status_code="200"\} 3/);
    expect(text).toMatch(/http_request_duration_seconds_count\{route="unmatched",method="GET",status_code="404"\} 1/);
  });

  it('keeps one registry per app, with default process metrics', async () => {
    const store = createMemoryStore();
    const first = await buildApp({ store });
    const second = await buildApp({ store });
    try {
      await first.inject({ method: 'GET', url: '/health' });
      const a = (await first.inject({ method: 'GET', url: '/metrics' })).body;
      const b = (await second.inject({ method: 'GET', url: '/metrics' })).body;
      expect(a).toContain('process_cpu_user_seconds_total');
      expect(a).toMatch(/http_request_duration_seconds_count\{route="\/health",method="GET",status_code="200"\} 1/);
      expect(b).not.toMatch(/route="\/health"/);
    } finally {
      await first.close();
      await second.close();
    }
  });
});

const OpenApiSchema = z.object({
  openapi: z.string(),
  paths: z.record(z.string(), z.record(z.string(), z.object({ security: z.array(z.unknown()).optional(), requestBody: z.unknown().optional() }).passthrough())),
  components: z.object({ securitySchemes: z.record(z.string(), z.unknown()) }).passthrough(),
});

describe('GET /openapi.json and /docs', () => {
  it('documents every v1 route from the zod schemas, with the key as security', async () => {
    const t = await open();
    const res = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = OpenApiSchema.parse(res.json());
    expect(doc.openapi).toMatch(/^3\.1/);
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['apiKeyHeader', 'bearerAuth']);
    const expected: [string, string][] = [
      ['/v1/me', 'get'],
      ['/v1/me', 'patch'],
      ['/v1/messages', 'post'],
      ['/v1/contacts', 'post'],
      ['/v1/contacts', 'get'],
      ['/v1/contacts/{id}', 'get'],
      ['/v1/contacts/{id}', 'patch'],
      ['/v1/contacts/{id}', 'delete'],
      ['/v1/contacts/{id}/tags', 'post'],
      ['/v1/contacts/{id}/tags/{tag}', 'delete'],
      ['/v1/contacts/{id}/consents', 'get'],
      ['/v1/contacts/{id}/consents/{purpose}/{channel}', 'put'],
      ['/v1/contacts/{id}/consents/history', 'get'],
      ['/v1/contacts/{id}/permission', 'get'],
      ['/v1/consents/bulk', 'post'],
      ['/v1/contacts/{id}/proof', 'get'],
      ['/v1/ledger/verify', 'post'],
      ['/v1/workflows/{template}/runs', 'post'],
      ['/v1/events', 'get'],
      ['/v1/settings', 'get'],
      ['/v1/settings', 'patch'],
      ['/v1/tags', 'get'],
      ['/health', 'get'],
    ];
    for (const [path, method] of expected) {
      const operation = doc.paths[path]?.[method];
      expect(operation, `${method} ${path}`).toBeDefined();
      if (path.startsWith('/v1/')) expect(operation?.security, `${method} ${path}`).toEqual([{ bearerAuth: [] }, { apiKeyHeader: [] }]);
    }
    const ProblemContentSchema = z.object({
      description: z.string(),
      content: z.object({ 'application/problem+json': z.object({ schema: z.object({ properties: z.record(z.string(), z.unknown()) }).passthrough() }) }).strict(),
    });
    const OperationSchema = z.object({
      parameters: z.array(z.unknown()).optional(),
      requestBody: z.unknown().optional(),
      responses: z.record(z.string(), z.unknown()),
    });
    let operations = 0;
    for (const [path, item] of Object.entries(doc.paths)) {
      if (!path.startsWith('/v1/')) continue;
      for (const [method, raw] of Object.entries(item)) {
        const operation = OperationSchema.parse(raw);
        const takesInput = (operation.parameters?.length ?? 0) > 0 || operation.requestBody !== undefined;
        const required = ['401', '500', ...(takesInput ? ['422'] : [])];
        for (const status of required) expect(Object.keys(operation.responses), `${method} ${path}`).toContain(status);
        for (const [status, response] of Object.entries(operation.responses)) {
          if (Number(status) < 400) continue;
          const problem = ProblemContentSchema.parse(response).content['application/problem+json'].schema;
          expect(Object.keys(problem.properties).sort(), `${status} of ${method} ${path}`).toEqual(['code', 'detail', 'errors', 'status', 'title', 'type']);
        }
        operations++;
      }
    }
    expect(operations).toBeGreaterThanOrEqual(expected.filter(([path]) => path.startsWith('/v1/')).length);
    const responsesOf = (path: string, method: string) => Object.keys(OperationSchema.parse(doc.paths[path]?.[method]).responses).sort();
    expect(responsesOf('/v1/contacts/{id}', 'patch')).toEqual(['200', '400', '401', '404', '409', '410', '413', '415', '422', '500', '503']);
    expect(responsesOf('/v1/contacts', 'get')).toEqual(['200', '400', '401', '422', '500', '503']);
    expect(responsesOf('/v1/integrations/hubspot/status', 'get')).toEqual(['200', '400', '401', '422', '500', '503']);
    expect(responsesOf('/v1/consents/bulk', 'post')).toEqual(['200', '400', '401', '413', '415', '422', '429', '500', '503']);
    expect(JSON.stringify(doc.paths['/v1/contacts/{id}/consents/{purpose}/{channel}']?.put?.parameters)).toContain('"x-consentry-source"');
    const messageAnswer = JSON.stringify(OperationSchema.parse(doc.paths['/v1/messages']?.post).responses['200']);
    expect(messageAnswer).toContain('"warnings"');
    const messageBody = JSON.stringify(doc.paths['/v1/messages']?.post?.requestBody);
    expect(messageBody).toContain('"messageId"');
    expect(messageBody).toContain('"whatsapp"');
    expect(Object.keys(doc.paths['/metrics'] ?? {})).toEqual(['get']);
    expect(responsesOf('/metrics', 'get')).toEqual(['200', '401', '503']);
  });

  it('renders the docs page', async () => {
    const t = await open();
    const res = await t.app.inject({ method: 'GET', url: '/docs' });
    const page = res.statusCode === 302 ? await t.app.inject({ method: 'GET', url: String(res.headers.location) }) : res;
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.body).toContain('swagger');
    const css = await t.app.inject({ method: 'GET', url: '/docs/static/swagger-ui.css' });
    expect(css.statusCode).toBe(200);
    expect(css.headers['content-type']).toMatch(/text\/css/);
  });

  it('serves the page at /docs/ with scripts and styles relative to it, so they load on its own address and through a proxy that serves it under a path', async () => {
    const app = await buildApp({ store: createMemoryStore(), defaultMetrics: false, publicUrl: 'https://example.com/consentry' });
    try {
      // The address the server prints (API docs: <PUBLIC_URL>/docs) redirects relatively: behind the
      // proxy to /consentry/docs/, on the server's own address to /docs/.
      const redirected = await app.inject({ method: 'GET', url: '/docs?tab=1' });
      expect(redirected.statusCode).toBe(302);
      expect(redirected.headers.location).toBe('docs/?tab=1');
      expect(new URL(String(redirected.headers.location), 'https://example.com/consentry/docs?tab=1').href).toBe('https://example.com/consentry/docs/?tab=1');
      const res = await app.inject({ method: 'GET', url: '/docs/' });
      expect(res.statusCode).toBe(200);
      const assets = [...res.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1] ?? '');
      expect(assets.length).toBeGreaterThan(0);
      for (const asset of assets) {
        const direct = new URL(asset, 'http://127.0.0.1:3000/docs/');
        expect((await app.inject({ method: 'GET', url: direct.pathname })).statusCode, asset).toBe(200);
        const proxied = new URL(asset, 'https://example.com/consentry/docs/');
        expect(proxied.pathname.startsWith('/consentry/docs/static/'), asset).toBe(true);
        expect((await app.inject({ method: 'GET', url: proxied.pathname.replace('/consentry', '') })).statusCode, asset).toBe(200);
      }
    } finally {
      await app.close();
    }
  });
});

describe('logging', () => {
  it('never writes API keys or message texts', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const t = await open({ logger: { level: 'trace', stream } });
    const acme = await t.tenant('Acme');
    const secretText = 'please stop texting me about the sale';
    await t.as(acme, { method: 'POST', url: '/v1/messages', headers: { 'x-api-key': acme.key }, payload: { channel: 'sms', messageId: 'm1', from: { id: '+34600000001' }, text: secretText } });
    await t.as(acme, { method: 'GET', url: `/v1/contacts?email=${encodeURIComponent('ana.test@example.com')}` });
    await t.as(acme, { method: 'POST', url: '/v1/messages', payload: '{"text": "broken', headers: { 'content-type': 'application/json' } });
    const log = lines.join('');
    expect(log).toContain('/v1/messages');
    expect(log).not.toContain(acme.key);
    expect(log).not.toContain(acme.key.slice(4, 20));
    expect(log).not.toContain('stop texting');
    expect(log).not.toContain('ana.test');
  });

  it('writes one line per request, with the route, its status and how long it took', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const t = await open({ logger: { level: 'info', stream } });
    const acme = await t.tenant('Acme');
    lines.length = 0;
    await t.as(acme, { method: 'GET', url: '/v1/me' });
    await t.app.inject({ method: 'GET', url: '/v1/me?x=1' });
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries).toEqual([
      expect.objectContaining({ msg: 'request completed', req: expect.objectContaining({ method: 'GET', url: '/v1/me' }), res: { statusCode: 200 }, responseTime: expect.any(Number) }),
      expect.objectContaining({ msg: 'request completed', req: expect.objectContaining({ method: 'GET', url: '/v1/me' }), res: { statusCode: 401 } }),
    ]);
  });
});

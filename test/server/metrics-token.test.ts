import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../../src/config.js';
import { createEngine } from '../../src/engine.js';
import { createApiKey } from '../../src/server/api-keys.js';
import { buildApp, type AppOptions } from '../../src/server/app.js';
import { FakeClock } from '../../src/ports/clock.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { expectProblem } from './helpers.js';

const TOKEN = 'metrics-scrape-token-0123456789abcdef';

const apps: FastifyInstance[] = [];
async function metricsApp(options: Partial<AppOptions> = {}): Promise<FastifyInstance> {
  const app = await buildApp({ store: createMemoryStore(), defaultMetrics: false, ...options });
  apps.push(app);
  return app;
}

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

describe('GET /metrics with METRICS_TOKEN', () => {
  it('answers a request bearing the token, in any letter case of the scheme', async () => {
    const app = await metricsApp({ config: loadConfig({ METRICS_TOKEN: TOKEN }) });
    for (const authorization of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `Bearer  ${TOKEN} `]) {
      const res = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization } });
      expect(res.statusCode, authorization).toBe(200);
      expect(res.body).toContain('http_request_duration_seconds');
    }
  });

  it.each([
    ['no Authorization header', undefined, 'Bearer realm="consentry-metrics"', 'Send the metrics token as "Authorization: Bearer <METRICS_TOKEN>"'],
    ['a wrong token', `Bearer ${TOKEN}x`, 'Bearer realm="consentry-metrics", error="invalid_token"', 'This metrics token is not valid'],
    ['a prefix of the token', `Bearer ${TOKEN.slice(0, 16)}`, 'Bearer realm="consentry-metrics", error="invalid_token"', 'This metrics token is not valid'],
    ['another scheme', `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}`, 'Bearer realm="consentry-metrics"', 'Send the metrics token as "Authorization: Bearer <METRICS_TOKEN>"'],
    ['the token without a scheme', TOKEN, 'Bearer realm="consentry-metrics"', 'Send the metrics token as "Authorization: Bearer <METRICS_TOKEN>"'],
  ])('refuses %s with 401 problem+json and a Bearer challenge', async (_case, authorization, challenge, detail) => {
    const app = await metricsApp({ config: loadConfig({ METRICS_TOKEN: TOKEN }) });
    const res = await app.inject({ method: 'GET', url: '/metrics', ...(authorization !== undefined ? { headers: { authorization } } : {}) });
    const problem = expectProblem(res, 401, 'UNAUTHORIZED');
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['www-authenticate']).toBe(challenge);
    expect(problem.detail).toBe(detail);
    expect(res.body).not.toContain('http_request_duration_seconds');
    expect(res.body).not.toContain(TOKEN);
  });

  it('refuses a HEAD request without the token too', async () => {
    const app = await metricsApp({ config: { METRICS_TOKEN: TOKEN } });
    expect((await app.inject({ method: 'HEAD', url: '/metrics' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'HEAD', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode).toBe(200);
  });

  it('is not opened by an API key, and does not close /health or the API to their own credentials', async () => {
    const store = createMemoryStore();
    const clock = new FakeClock('2026-03-01T09:00:00.000Z');
    const app = await metricsApp({ store, clock, config: { METRICS_TOKEN: TOKEN } });
    const workspace = await createEngine({ store, clock }).createWorkspace({ name: 'Acme' });
    const { key } = await createApiKey(store, { workspaceId: workspace.id, clock });
    expectProblem(await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${key}` } }), 401, 'UNAUTHORIZED');
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${key}` } })).statusCode).toBe(200);
    expectProblem(await app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${TOKEN}` } }), 401, 'UNAUTHORIZED');
  });

  it('stays open without METRICS_TOKEN, as before', async () => {
    const app = await metricsApp({ config: loadConfig({}) });
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['www-authenticate']).toBeUndefined();
  });

  it('never writes the token to the log, whether it is right or wrong', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const app = await metricsApp({ config: { METRICS_TOKEN: TOKEN }, logger: { level: 'trace', stream } });
    await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } });
    await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}-wrong` } });
    await app.inject({ method: 'GET', url: `/metrics?token=${TOKEN}` });
    const log = lines.join('');
    expect(log).toContain('"url":"/metrics"');
    expect(log).toContain('"statusCode":401');
    expect(log).not.toContain(TOKEN);
  });

  it('says in the OpenAPI document that the route asks for the token when METRICS_TOKEN is set, and may answer 401', async () => {
    const app = await metricsApp();
    const document = await app.inject({ method: 'GET', url: '/openapi.json' });
    const operation = z
      .object({ paths: z.object({ '/metrics': z.object({ get: z.object({ description: z.string(), responses: z.record(z.string(), z.unknown()) }) }) }) })
      .parse(document.json()).paths['/metrics'].get;
    expect(operation.description).toContain('METRICS_TOKEN');
    expect(operation.description).toContain('Authorization: Bearer <METRICS_TOKEN>');
    expect(Object.keys(operation.responses).sort()).toEqual(['200', '401', '503']);
  });
});

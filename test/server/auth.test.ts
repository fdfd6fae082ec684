import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { API_KEY_PREFIX, authenticateApiKey, createApiKey, generateApiKey, hashApiKey } from '../../src/server/api-keys.js';
import { expectProblem, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, first) => {
  t = app;
  acme = first;
});

const OpenApiPathsSchema = z.object({ paths: z.record(z.string(), z.record(z.string(), z.unknown())) });

/** Every authenticated route, read from the OpenAPI document so a new route cannot be forgotten. */
async function v1Routes(): Promise<{ method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'; url: string }[]> {
  const doc = OpenApiPathsSchema.parse((await t.app.inject({ method: 'GET', url: '/openapi.json' })).json());
  const routes: { method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'; url: string }[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    if (!path.startsWith('/v1/')) continue;
    for (const method of Object.keys(item)) {
      const upper = z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).parse(method.toUpperCase());
      routes.push({ method: upper, url: path.replace(/\{[^}]+\}/g, 'x') });
    }
  }
  return routes;
}

describe('API keys', () => {
  it('are random, prefixed, base64url and at least 32 bytes', () => {
    const keys = new Set(Array.from({ length: 50 }, generateApiKey));
    expect(keys.size).toBe(50);
    for (const key of keys) {
      expect(key.startsWith(API_KEY_PREFIX)).toBe(true);
      const secret = key.slice(API_KEY_PREFIX.length);
      expect(secret).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(Buffer.from(secret, 'base64url').length).toBeGreaterThanOrEqual(32);
    }
  });

  it('are stored as their SHA-256 only, with a short display prefix', async () => {
    const { key, row } = await createApiKey(t.store, { workspaceId: acme.workspaceId, clock: t.clock, name: 'zapier' });
    const stored = await t.store.transaction((tx) => tx.getApiKey(row.id));
    expect(stored).toMatchObject({ hash: hashApiKey(key), workspaceId: acme.workspaceId, name: 'zapier', revokedAt: null });
    expect(stored?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(key.startsWith(stored?.prefix ?? 'missing')).toBe(true);
    expect(stored?.prefix.length).toBeLessThan(key.length / 2);
    expect(JSON.stringify(stored)).not.toContain(key);
  });

  it('record when they were last used, at most once a minute', async () => {
    expect((await t.store.transaction((tx) => tx.getApiKey(acme.keyId)))?.lastUsedAt).toBeNull();
    await authenticateApiKey(t.store, acme.key, t.clock);
    const first = (await t.store.transaction((tx) => tx.getApiKey(acme.keyId)))?.lastUsedAt;
    expect(first).toBe(t.clock.now().toISOString());
    t.clock.advance(30_000);
    await authenticateApiKey(t.store, acme.key, t.clock);
    expect((await t.store.transaction((tx) => tx.getApiKey(acme.keyId)))?.lastUsedAt).toBe(first);
    t.clock.advance(30_000);
    await authenticateApiKey(t.store, acme.key, t.clock);
    expect((await t.store.transaction((tx) => tx.getApiKey(acme.keyId)))?.lastUsedAt).toBe(t.clock.now().toISOString());
  });
});

describe('authentication', () => {
  it('accepts the key as a bearer token or in X-API-Key', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${acme.key}` } })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `bearer ${acme.key}` } })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/v1/me', headers: { 'x-api-key': acme.key } })).statusCode).toBe(200);
  });

  it('refuses every /v1 route without a key, with a wrong key and with a revoked key (401 problem)', async () => {
    const routes = await v1Routes();
    expect(routes.length).toBeGreaterThanOrEqual(20);
    const other = await t.tenant('Globex');
    await t.revoke(other.keyId);
    const wrong = `${API_KEY_PREFIX}${'A'.repeat(43)}`;
    const attempts: [string, Record<string, string>][] = [
      ['missing', {}],
      ['wrong', { authorization: `Bearer ${wrong}` }],
      ['wrong x-api-key', { 'x-api-key': wrong }],
      ['not bearer', { authorization: `Basic ${Buffer.from(`user:${acme.key}`).toString('base64')}` }],
      ['revoked', { authorization: `Bearer ${other.key}` }],
    ];
    for (const route of routes) {
      for (const [what, headers] of attempts) {
        const res = await t.app.inject({ ...route, headers, ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { payload: {} }) });
        expect(res.statusCode, `${what} ${route.method} ${route.url}`).toBe(401);
        const problem = expectProblem(res, 401, 'UNAUTHORIZED');
        expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
        if (what === 'revoked') expect(problem.detail).toMatch(/revoked/);
      }
    }
  });

  it('checks the key before reading the body', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/messages', headers: { 'content-type': 'application/json' }, payload: '{not json' });
    expectProblem(res, 401, 'UNAUTHORIZED');
  });

  it('stops a key working the moment it is revoked', async () => {
    expect((await t.as(acme, { method: 'GET', url: '/v1/me' })).statusCode).toBe(200);
    await t.revoke(acme.keyId);
    expectProblem(await t.as(acme, { method: 'GET', url: '/v1/me' }), 401, 'UNAUTHORIZED');
  });

  it('leaves /health, /metrics, /openapi.json and /docs open', async () => {
    for (const url of ['/health', '/metrics', '/openapi.json', '/docs']) {
      const res = await t.app.inject({ method: 'GET', url });
      expect([200, 302], url).toContain(res.statusCode);
    }
  });
});

import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { HubSpotStatusSchema } from '../../connectors/hubspot/status.js';
import { createEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import type { Store } from '../../src/ports/store.js';
import { createApiKey } from '../../src/server/api-keys.js';
import { buildApp } from '../../src/server/app.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { ANA, expectProblem, parsed, problemPaths, useTestApp, type Tenant, type TestApp } from './helpers.js';

/**
 * "Every error is ... one errors[] entry per bad field", all checked before answering, and unknown
 * query parameters and body fields refused on every /v1 route.
 */
let t: TestApp;
let acme: Tenant;
useTestApp((app, tenant) => {
  t = app;
  if (tenant) acme = tenant;
});

const sortedPaths = (response: Parameters<typeof problemPaths>[0]): string[] => [...problemPaths(response)].sort();

describe('GET /v1/contacts names every bad query parameter at once', () => {
  it('names both the e-mail and the phone', async () => {
    const response = await t.as(acme, { method: 'GET', url: '/v1/contacts?email=bad&phone=bad' });
    expect(response.statusCode, response.body).toBe(422);
    expect(sortedPaths(response)).toEqual(['email', 'phone']);
  });

  it('names them beside a parameter the schema refuses', async () => {
    const response = await t.as(acme, { method: 'GET', url: '/v1/contacts?email=bad&phone=bad&limit=0' });
    expectProblem(response, 422, 'VALIDATION_FAILED');
    expect(sortedPaths(response)).toEqual(['email', 'limit', 'phone']);
  });

  it('names them beside a cursor that names no contact', async () => {
    const response = await t.as(acme, { method: 'GET', url: '/v1/contacts?email=bad&phone=bad&cursor=01ARZ3NDEKTSV4RRFFQ69G5FAV' });
    expect(response.statusCode, response.body).toBe(422);
    expect(sortedPaths(response)).toEqual(['cursor', 'email', 'phone']);
  });

  it('names a value the schema refuses once, not again for what the engine would say of it', async () => {
    const response = await t.as(acme, { method: 'GET', url: '/v1/contacts?email=&phone=bad' });
    expectProblem(response, 422, 'VALIDATION_FAILED');
    expect(problemPaths(response).sort()).toEqual(['email', 'phone']);
  });

  it('still finds a contact by a valid e-mail and phone', async () => {
    const created = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: ANA });
    expect(created.statusCode).toBe(201);
    const query = new URLSearchParams({ email: ANA.email.toUpperCase(), phone: ANA.phone });
    const found = parsed(await t.as(acme, { method: 'GET', url: `/v1/contacts?${query.toString()}` }), z.object({ data: z.array(z.object({ email: z.string() })) }));
    expect(found.data.map((contact) => contact.email)).toEqual([ANA.email]);
  });
});

describe('POST /v1/hooks names every bad field at once', () => {
  const hook = (payload: Record<string, unknown>, query = '') => t.as(acme, { method: 'POST', url: `/v1/hooks${query}`, payload });

  it('names a misspelt channel and an unknown purpose together', async () => {
    const response = await hook({ targetUrl: 'https://hooks.example.com/zap', event: 'consent.withdrawn', filter: { channel: 'whatsap', purpose: 'nope' } });
    expectProblem(response, 422, 'VALIDATION_FAILED');
    expect(sortedPaths(response)).toEqual(['filter.channel', 'filter.purpose']);
  });

  it('names a refused target URL and an unknown query parameter beside the schema problems', async () => {
    const response = await hook({ targetUrl: 'http://127.0.0.1/zap', event: 'consent.withdrawn', filter: { channel: 'whatsap', purpose: 'nope' } }, '?bogus=1');
    expectProblem(response, 422, 'VALIDATION_FAILED');
    expect(sortedPaths(response)).toEqual(['bogus', 'filter.channel', 'filter.purpose', 'targetUrl']);
  });

  it('names a refused target URL and an unknown purpose of a body the schema accepts', async () => {
    const response = await hook({ targetUrl: 'http://127.0.0.1/zap', event: 'consent.withdrawn', filter: { purpose: 'nope' } });
    expectProblem(response, 422, 'VALIDATION_FAILED');
    expect(sortedPaths(response)).toEqual(['filter.purpose', 'targetUrl']);
  });

  it('refuses a * filter whose keys no single event type carries together, naming the filter', async () => {
    const response = await hook({ targetUrl: 'https://hooks.example.com/zap', event: '*', filter: { tag: 'vip', purpose: 'marketing' } });
    const problem = expectProblem(response, 422, 'VALIDATION_FAILED');
    expect(problemPaths(response)).toEqual(['filter']);
    expect(String(problem['detail'])).toMatch(/never fire/);
    expect(parsed(await t.as(acme, { method: 'GET', url: '/v1/hooks' }), z.object({ data: z.array(z.unknown()) })).data).toEqual([]);
  });

  it('accepts a * filter whose keys are all fields of one event type', async () => {
    for (const filter of [{ tag: 'vip' }, { tag: 'vip', contactId: '01ARZ3NDEKTSV4RRFFQ69G5FAV' }, { channel: 'whatsapp', purpose: 'marketing' }]) {
      const response = await hook({ targetUrl: 'https://hooks.example.com/zap', event: '*', filter });
      expect(response.statusCode, response.body).toBe(201);
    }
  });
});

describe('the HubSpot routes under /v1 refuse undeclared input as the other /v1 routes do', () => {
  let open: { app: FastifyInstance; store: Store } | undefined;
  afterEach(async () => {
    await open?.app.close();
    await open?.store.close();
    open = undefined;
  });

  it('refuses an unknown query parameter of the status with 422 naming it, as GET /v1/me does', async () => {
    const me = await t.as(acme, { method: 'GET', url: '/v1/me?bogus=1' });
    expectProblem(me, 422, 'VALIDATION_FAILED');
    expect(problemPaths(me)).toEqual(['bogus']);
    const status = await t.as(acme, { method: 'GET', url: '/v1/integrations/hubspot/status?bogus=1' });
    expectProblem(status, 422, 'VALIDATION_FAILED');
    expect(problemPaths(status)).toEqual(['bogus']);
  });

  it('still answers the status without parameters, and still asks for the API key first', async () => {
    const status = await t.as(acme, { method: 'GET', url: '/v1/integrations/hubspot/status' });
    expect(status.statusCode, status.body).toBe(200);
    expect(HubSpotStatusSchema.parse(status.json())).toMatchObject({ configured: false });
    expectProblem(await t.app.inject({ method: 'GET', url: '/v1/integrations/hubspot/status?bogus=1' }), 401, 'UNAUTHORIZED');
  });

  it('still starts an install with its declared (empty) query and body, and refuses anything else', async () => {
    const store = createMemoryStore();
    const clock = new FakeClock('2026-03-01T09:00:00.000Z');
    const engine = createEngine({ store, clock });
    const config = { HUBSPOT_CLIENT_ID: '11111111-2222-3333-4444-555555555555', HUBSPOT_CLIENT_SECRET: 'app-secret-for-validation-tests' };
    const app = await buildApp({ store, engine, clock, defaultMetrics: false, config, publicUrl: 'https://consent.example.com' });
    open = { app, store };
    const workspace = await engine.createWorkspace({ name: 'Example Shop' });
    const { key } = await createApiKey(store, { workspaceId: workspace.id, clock });
    const start = (url: string, payload?: Record<string, unknown>) =>
      app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${key}` }, ...(payload !== undefined ? { payload } : {}) });

    for (const started of [await start('/v1/integrations/hubspot/oauth/start'), await start('/v1/integrations/hubspot/oauth/start', {})]) {
      expect(started.statusCode, started.body).toBe(200);
      expect(z.object({ url: z.string() }).parse(started.json()).url).toMatch(/^https:\/\//);
    }
    const withQuery = await start('/v1/integrations/hubspot/oauth/start?bogus=1');
    expectProblem(withQuery, 422, 'VALIDATION_FAILED');
    expect(problemPaths(withQuery)).toEqual(['bogus']);
    const withBody = await start('/v1/integrations/hubspot/oauth/start', { bogus: 1 });
    expectProblem(withBody, 422, 'VALIDATION_FAILED');
    expect(problemPaths(withBody)).toEqual(['bogus']);
  });
});

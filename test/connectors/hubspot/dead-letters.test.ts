import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { channelPropertyNames } from '../../../connectors/hubspot/properties.js';
import { hubSpotStateFor } from '../../../connectors/hubspot/state-sqlite.js';
import { pendingChange } from '../../../connectors/hubspot/state.js';
import { HubSpotStatusSchema, ResentDeadLetterSchema, RetriedDeadLettersSchema, type HubSpotStatus } from '../../../connectors/hubspot/status.js';
import { createApiKey } from '../../../src/server/api-keys.js';
import { MAX_RETRIED_PER_REQUEST } from '../../../src/worker/hooks.js';
import { expectProblem, problemPaths } from '../../server/helpers.js';
import { hubspotProperties, setSms, type Harness } from './harness.js';
import { useHubspotApp } from './http-harness.js';

/**
 * Dead letters of the HubSpot sync sent again, as a hook's are: one by the id the status lists,
 * or all of them, within the API key's workspace.
 */
const sms = channelPropertyNames('sms');
const setUp = useHubspotApp();
const BASE = '/v1/integrations/hubspot';

interface Client {
  h: Harness;
  app: FastifyInstance;
  as(key: string, request: InjectOptions): Promise<LightMyRequestResponse>;
  status(key: string): Promise<HubSpotStatus>;
}

async function client(options: Parameters<typeof setUp>[0] = {}): Promise<Client & { key: string }> {
  const { h, app } = await setUp(options);
  const { key } = await createApiKey(h.store, { workspaceId: h.workspaceId, name: 'ops', clock: h.clock });
  const as = (apiKey: string, request: InjectOptions) => app.inject({ ...request, headers: { authorization: `Bearer ${apiKey}`, ...request.headers } });
  const status = async (apiKey: string) => {
    const response = await as(apiKey, { method: 'GET', url: `${BASE}/status` });
    expect(response.statusCode, response.body).toBe(200);
    return HubSpotStatusSchema.parse(response.json());
  };
  return { h, app, key, as, status };
}

/** A contact HubSpot has no record of, with createMissingContacts off: each change of it is a dead letter at once. */
async function unmatchedContact(h: Harness, email: string): Promise<string> {
  return (await h.workspace.createContact({ email })).id;
}

async function metric(registry: Registry, name: string): Promise<number | undefined> {
  const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe.each([false, true])('POST /v1/integrations/hubspot/dead-letters/{id}/retry (SQLite: %s)', (sqlite) => {
  it("sends the contact's current consent, not the value the dead letter held, and the status counts follow", async () => {
    const { h, key, as, status } = await client({ sqlite });
    const contactId = await unmatchedContact(h, 'lost.test@example.com');
    await setSms(h, contactId, 'opted_in');
    await h.sync.drain();
    h.clock.advance(1000);
    await setSms(h, contactId, 'opted_out');
    await h.sync.drain();
    const before = await status(key);
    expect(before.deadLetters.count).toBe(2);
    // Newest first: the opt-in is the older one.
    const optIn = before.deadLetters.recent[1];
    expect(optIn).toMatchObject({ target: 'contact', contactId, lastError: expect.stringContaining('createMissingContacts') });
    expect(optIn?.id).toBe(`${optIn?.eventId}:contact`);

    // The record appears in HubSpot; only the older dead letter is sent again (its id in lower case).
    const hubspotId = h.fake.seedContact({ email: 'lost.test@example.com' });
    h.clock.advance(1000);
    const now = h.clock.now().toISOString();
    const response = await as(key, { method: 'POST', url: `${BASE}/dead-letters/${(optIn?.id ?? '').toLowerCase()}/retry` });
    expect(response.statusCode, response.body).toBe(202);
    expect(ResentDeadLetterSchema.strict().parse(response.json())).toEqual({ ...optIn, attempts: 0, resentAt: now });
    expect(await status(key)).toMatchObject({ backlog: { pending: 1 }, deadLetters: { count: 1, recent: [before.deadLetters.recent[0]] } });

    await h.sync.drain();
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBe('opted_out');
    expect(await status(key)).toMatchObject({ backlog: { pending: 0 }, deadLetters: { count: 1 } });
  });

  it("answers 404 naming id for an id the workspace has no change for, another workspace's included, and 409 for a change that is not dead", async () => {
    const { h, app, key, as, status } = await client({ sqlite });
    const contactId = await unmatchedContact(h, 'lost.test@example.com');
    await setSms(h, contactId, 'opted_out');
    await h.sync.drain();
    const [dead] = (await status(key)).deadLetters.recent;
    const id = dead?.id ?? '';

    const other = await h.engine.createWorkspace({ name: 'Other Shop', settings: { privacyPolicyUrl: 'https://other.example.com/privacy' } });
    const { key: otherKey } = await createApiKey(h.store, { workspaceId: other.id, name: 'ops', clock: h.clock });
    for (const [apiKey, url] of [
      [otherKey, `${BASE}/dead-letters/${id}/retry`],
      [key, `${BASE}/dead-letters/01ARZ3NDEKTSV4RRFFQ69G5FAV:contact/retry`],
      [key, `${BASE}/dead-letters/${dead?.eventId}:email/retry`],
      [key, `${BASE}/dead-letters/${dead?.eventId}/retry`],
      [key, `${BASE}/dead-letters/nope/retry`],
    ] as const) {
      const response = await as(apiKey, { method: 'POST', url });
      expectProblem(response, 404, 'NOT_FOUND');
      expect(problemPaths(response), url).toEqual(['id']);
    }
    const otherAll = await as(otherKey, { method: 'POST', url: `${BASE}/dead-letters/retry`, payload: { status: 'dead' } });
    expect(otherAll.statusCode).toBe(202);
    expect(RetriedDeadLettersSchema.parse(otherAll.json())).toEqual({ retried: 0, hasMore: false });
    expect((await status(key)).deadLetters.count).toBe(1);

    expectProblem(await app.inject({ method: 'POST', url: `${BASE}/dead-letters/${id}/retry` }), 401, 'UNAUTHORIZED');
    const withBody = await as(key, { method: 'POST', url: `${BASE}/dead-letters/${id}/retry`, payload: { force: true } });
    expectProblem(withBody, 422, 'VALIDATION_FAILED');
    expect(problemPaths(withBody)).toEqual(['force']);
    const tooLong = await as(key, { method: 'POST', url: `${BASE}/dead-letters/${'x'.repeat(201)}/retry` });
    expectProblem(tooLong, 422, 'VALIDATION_FAILED');
    expect(problemPaths(tooLong)).toEqual(['id']);

    // Sent again, and failing again: pending, not dead.
    expect((await as(key, { method: 'POST', url: `${BASE}/dead-letters/${id}/retry` })).statusCode).toBe(202);
    h.fake.seedContact({ email: 'lost.test@example.com' });
    h.fake.failNext(1000, 503);
    await h.sync.runOnce();
    const pending = await as(key, { method: 'POST', url: `${BASE}/dead-letters/${id}/retry` });
    expect(expectProblem(pending, 409, 'CONFLICT').detail).toBe(`id: change ${id} is pending, not dead: only a dead letter can be sent again`);
    expect(problemPaths(pending)).toEqual(['id']);
  });

  it("does not send an erased contact's dead letter again", async () => {
    const { h, key, as, status } = await client({ sqlite });
    const contactId = await unmatchedContact(h, 'lost.test@example.com');
    await setSms(h, contactId, 'opted_out');
    await h.sync.drain();
    const [dead] = (await status(key)).deadLetters.recent;
    await h.workspace.eraseContact(contactId);
    await h.sync.drain();

    const one = await as(key, { method: 'POST', url: `${BASE}/dead-letters/${dead?.id}/retry` });
    expect(expectProblem(one, 409, 'CONFLICT').detail).toContain('the contact was erased');
    expect(problemPaths(one)).toEqual(['id']);
    const all = await as(key, { method: 'POST', url: `${BASE}/dead-letters/retry`, payload: { status: 'dead' } });
    expect(RetriedDeadLettersSchema.parse(all.json())).toEqual({ retried: 0, hasMore: false });
    expect(await status(key)).toMatchObject({ backlog: { pending: 0 }, deadLetters: { count: 1 } });
  });
});

describe.each([false, true])('POST /v1/integrations/hubspot/dead-letters/retry (SQLite: %s)', (sqlite) => {
  it("sends every dead letter again but an erased contact's, and the status and /metrics gauges follow", async () => {
    const registry = new Registry();
    const { h, key, as, status } = await client({ sqlite, sync: { metricsRegistry: registry } });
    const ana = await unmatchedContact(h, 'ana.test@example.com');
    const ben = await unmatchedContact(h, 'ben.test@example.com');
    const erased = await unmatchedContact(h, 'erased.test@example.com');
    for (const contactId of [ana, ben, erased]) await setSms(h, contactId, 'opted_out');
    await h.sync.drain();
    await h.workspace.eraseContact(erased);
    await h.sync.drain();
    expect((await status(key)).deadLetters.count).toBe(3);
    expect(await metric(registry, 'consentry_hubspot_sync_changes_dead')).toBe(3);

    const response = await as(key, { method: 'POST', url: `${BASE}/dead-letters/retry`, payload: { status: 'dead' } });
    expect(response.statusCode, response.body).toBe(202);
    expect(RetriedDeadLettersSchema.strict().parse(response.json())).toEqual({ retried: 2, hasMore: false });
    expect(await status(key)).toMatchObject({ backlog: { pending: 2 }, deadLetters: { count: 1, recent: [expect.objectContaining({ contactId: erased })] } });
    expect(await metric(registry, 'consentry_hubspot_sync_changes_dead')).toBe(1);
    expect(await metric(registry, 'consentry_hubspot_sync_changes_pending')).toBe(2);

    const anaThere = h.fake.seedContact({ email: 'ana.test@example.com' });
    const benThere = h.fake.seedContact({ email: 'ben.test@example.com' });
    await h.sync.drain();
    expect(hubspotProperties(h, anaThere)[sms.status]).toBe('opted_out');
    expect(hubspotProperties(h, benThere)[sms.status]).toBe('opted_out');
    expect(await metric(registry, 'consentry_hubspot_sync_changes_pending')).toBe(0);
  });

  it('names the body when it is missing or asks for another status', async () => {
    const { key, as } = await client({ sqlite });
    const url = `${BASE}/dead-letters/retry`;
    const missing = await as(key, { method: 'POST', url });
    expectProblem(missing, 422, 'VALIDATION_FAILED');
    expect(problemPaths(missing)).toEqual(['body']);
    const other = await as(key, { method: 'POST', url, payload: { status: 'pending' } });
    expect(expectProblem(other, 422, 'VALIDATION_FAILED').errors).toEqual([{ path: 'status', message: 'must be "dead": only dead letters can be sent again' }]);
  });

  it(`sends at most ${MAX_RETRIED_PER_REQUEST.toLocaleString('en')} per request, oldest event first, and says when more are left`, async () => {
    const { h, key, as, status } = await client({ sqlite });
    const state = hubSpotStateFor(h.store);
    const nowIso = h.clock.now().toISOString();
    await state.transaction((s) =>
      s.insertChanges(
        Array.from({ length: MAX_RETRIED_PER_REQUEST + 1 }, (_, i) => ({
          ...pendingChange(
            {
              position: i + 1,
              target: 'callback' as const,
              workspaceId: h.workspaceId,
              eventId: `evt-${i + 1}`,
              contactId: null,
              payload: { kind: 'callback' as const, callbackId: `cb-${i + 1}`, outputFields: { hs_execution_state: 'SUCCESS' } },
              occurredAt: nowIso,
            },
            nowIso,
          ),
          status: 'dead' as const,
          attempts: 10,
          lastError: 'HubSpot answered 404',
        })),
      ),
    );
    const retry = async () => RetriedDeadLettersSchema.parse((await as(key, { method: 'POST', url: `${BASE}/dead-letters/retry`, payload: { status: 'dead' } })).json());
    expect(await retry()).toEqual({ retried: MAX_RETRIED_PER_REQUEST, hasMore: true });
    // The newest event is the one left.
    expect((await status(key)).deadLetters).toEqual({ count: 1, recent: [expect.objectContaining({ id: `evt-${MAX_RETRIED_PER_REQUEST + 1}:callback`, attempts: 10 })] });
    expect(await retry()).toEqual({ retried: 1, hasMore: false });
    expect(await status(key)).toMatchObject({ backlog: { pending: MAX_RETRIED_PER_REQUEST + 1 }, deadLetters: { count: 0 } });
  });
});

describe('the dead-letter routes, fuzzed', () => {
  it('answer any id and any body with a 2xx or a problem, never a 5xx', async () => {
    const { key, as } = await client();
    const handled = (response: LightMyRequestResponse, what: string) => {
      expect(response.statusCode, `${what} → ${response.body.slice(0, 300)}`).toBeLessThan(500);
      if (response.statusCode >= 400) expect(String(response.headers['content-type']), what).toMatch(/^application\/problem\+json/);
    };
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 40 }), fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant({ status: 'dead' })), async (id, body) => {
        const one = await as(key, { method: 'POST', url: `${BASE}/dead-letters/${encodeURIComponent(id)}/retry` });
        handled(one, `retry ${id}`);
        const all = await as(key, { method: 'POST', url: `${BASE}/dead-letters/retry`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });
        handled(all, `retry all ${JSON.stringify(body)}`);
      }),
      { numRuns: 60 },
    );
  });
});

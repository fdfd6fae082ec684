import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { isConsentryError } from '../../src/core/errors.js';
import { ulidGenerator } from '../../src/ports/ids.js';
import { revokeApiKey } from '../../src/server/api-keys.js';
import type { HookDispatcher } from '../../src/worker/hook-dispatcher.js';
import { createHookRegistry } from '../../src/worker/hooks.js';
import type { Target } from '../worker/target-server.js';
import { hookTestbed, type HookTestbed } from './hook-testbed.js';
import { expectProblem, parsed, type Tenant, type TestApp } from './helpers.js';

const CreatedSchema = z.object({ id: z.string(), secret: z.string() });
const ListSchema = z.object({ data: z.array(z.object({ id: z.string() })) });
const DetailSchema = z
  .object({
    id: z.string(),
    targetUrl: z.string(),
    event: z.string(),
    filter: z.record(z.string(), z.string()).nullable(),
    createdAt: z.string(),
    deletedAt: z.string().nullable(),
    deletedReason: z.string().nullable(),
  })
  .strict();
const DeliveriesSchema = z.object({
  data: z.array(z.object({ id: z.string(), status: z.enum(['pending', 'delivered', 'dead']), lastError: z.string().nullable() })),
  nextCursor: z.string().nullable(),
});
const SettingsSchema = z.object({ outboundWebhookUrl: z.string().nullable() });

const NOT_SENT = 'not sent: the hook was deleted when the API key that created it was revoked';

let bed: HookTestbed;
let t: TestApp;
let zap: Tenant;
/** A second key of the same workspace (another integration, or the administrator's). */
let admin: Tenant;
let target: Target;

beforeEach(async () => {
  bed = await hookTestbed();
  ({ t, target } = bed);
  zap = await t.tenant('Acme');
  admin = await t.anotherKey(zap, 'admin');
});

afterEach(() => bed.close());

const dispatcher = (): HookDispatcher => bed.dispatcher();

async function subscribe(tenant: Tenant, path: string, event = 'consent.withdrawn'): Promise<string> {
  const response = await t.as(tenant, { method: 'POST', url: '/v1/hooks', payload: { targetUrl: `${target.url}${path}`, event } });
  expect(response.statusCode, response.body).toBe(201);
  return parsed(response, CreatedSchema).id;
}

/** A hook whose key was never recorded, as every hook made before hooks remembered their key. */
async function subscribeWithoutKey(path: string): Promise<string> {
  const registry = createHookRegistry({ store: t.store, clock: t.clock, ids: ulidGenerator(), allowPrivateTargets: true });
  return (await registry.create(zap.workspaceId, { targetUrl: `${target.url}${path}`, event: 'consent.withdrawn' })).id;
}

async function stop(messageId: string, phone: string): Promise<void> {
  const sent = await t.as(admin, { method: 'POST', url: '/v1/messages', payload: { channel: 'whatsapp', messageId, from: { id: phone, name: 'Ana Test' }, text: 'STOP' } });
  expect(sent.statusCode, sent.body).toBe(200);
}

async function deliveries(hookId: string): Promise<z.infer<typeof DeliveriesSchema>['data']> {
  const response = await t.as(admin, { method: 'GET', url: `/v1/hooks/${hookId}/deliveries` });
  expect(response.statusCode, response.body).toBe(200);
  return parsed(response, DeliveriesSchema).data;
}

/** How many requests the target received at `path` under its own. */
const requestsTo = (path: string): number => target.received.filter((request) => request.path === `${new URL(target.url).pathname}${path}`).length;

describe('revoking an API key', () => {
  it("deletes every hook the key created, key_revoked, and their pending deliveries are never sent; other hooks stay", async () => {
    const first = await subscribe(zap, '/first');
    const second = await subscribe(zap, '/second', '*');
    const others = await subscribe(admin, '/admin');
    const older = await subscribeWithoutKey('/older');
    const settings = await t.as(zap, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookUrl: `${target.url}/outbound` } });
    expect(settings.statusCode, settings.body).toBe(200);

    // Every target is down: each hook, and the outbound webhook (the reply to STOP), is left with a delivery pending for a retry.
    target.answer = () => ({ kind: 'status', status: 503 });
    await stop('m1', '+34600000001');
    await dispatcher().runOnce();
    for (const hook of [first, second, others, older]) expect((await deliveries(hook)).map((d) => d.status)).toContain('pending');
    expect(requestsTo('/outbound')).toBe(1);

    t.clock.advance(60_000);
    await t.revoke(zap.keyId);
    const revokedAt = t.clock.now().toISOString();

    for (const hook of [first, second]) {
      const stored = await t.store.transaction((tx) => tx.getHook(zap.workspaceId, hook));
      expect(stored).toMatchObject({ apiKeyId: zap.keyId, deletedAt: revokedAt, deletedReason: 'key_revoked' });
      const rows = await deliveries(hook);
      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) expect(row).toMatchObject({ status: 'dead', lastError: NOT_SENT });
    }
    for (const hook of [others, older]) {
      expect((await t.store.transaction((tx) => tx.getHook(zap.workspaceId, hook)))?.deletedAt).toBeNull();
    }
    expect(parsed(await t.as(admin, { method: 'GET', url: '/v1/hooks' }), ListSchema).data.map((h) => h.id).sort()).toEqual([others, older].sort());
    const abandoned = (await deliveries(first)).length + (await deliveries(second)).length;
    // Pending still: the two live hooks' deliveries and the outbound webhook's, which is the workspace's, not the key's.
    expect(await t.store.transaction((tx) => tx.deliveryBacklog())).toMatchObject({ pending: 3, dead: 0, unsubscribed: abandoned });
    expect(parsed(await t.as(admin, { method: 'GET', url: '/v1/settings' }), SettingsSchema).outboundWebhookUrl).toBe(`${target.url}/outbound`);

    // The targets recover: only the hooks still live hear anything, the pending retries and new events alike.
    target.answer = () => ({ kind: 'status', status: 200 });
    const heardBefore = { first: requestsTo('/first'), second: requestsTo('/second') };
    expect(heardBefore).toEqual({ first: 1, second: 1 });
    t.clock.advance(60 * 60 * 1000);
    await stop('m2', '+34600000002');
    const d = dispatcher();
    await d.runOnce();
    await d.runOnce();
    expect({ first: requestsTo('/first'), second: requestsTo('/second') }).toEqual(heardBefore);
    expect(requestsTo('/admin')).toBe(3);
    expect(requestsTo('/older')).toBe(3);
    expect(requestsTo('/outbound')).toBe(3);
  });

  it('changes nothing when the key is already revoked', async () => {
    const hook = await subscribe(zap, '/first');
    const first = await revokeApiKey(t.store, zap.keyId, t.clock);
    expect(first?.hooksRemoved).toBe(1);
    t.clock.advance(60_000);
    const again = await revokeApiKey(t.store, zap.keyId, t.clock);
    expect(again).toStrictEqual({ key: first?.key, hooksRemoved: 0 });
    expect(await t.store.transaction((tx) => tx.getHook(zap.workspaceId, hook))).toMatchObject({ deletedAt: first?.key.revokedAt, deletedReason: 'key_revoked' });
  });

  it('refuses a subscription by a key revoked after its request was authenticated, so no hook of it outlives the revocation', async () => {
    const registry = createHookRegistry({ store: t.store, clock: t.clock, ids: ulidGenerator(), allowPrivateTargets: true });
    await t.revoke(zap.keyId);
    const failure: unknown = await registry.create(zap.workspaceId, { targetUrl: `${target.url}/late`, event: '*' }, zap.keyId).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isConsentryError(failure) && failure.code).toBe('UNAUTHORIZED');
    expect(await t.store.transaction((tx) => tx.listHooks(zap.workspaceId))).toEqual([]);
  });
});

describe('GET /v1/hooks/{id} after its key was revoked', () => {
  it('shows the hook deleted with deletedReason key_revoked, which a later DELETE does not change, and refuses to send its deliveries again', async () => {
    const hook = await subscribe(zap, '/first');
    t.clock.advance(60_000);
    await t.revoke(zap.keyId);

    const response = await t.as(admin, { method: 'GET', url: `/v1/hooks/${hook}` });
    expect(response.statusCode).toBe(200);
    expect(parsed(response, DetailSchema)).toEqual({
      id: hook,
      targetUrl: `${target.url}/first`,
      event: 'consent.withdrawn',
      filter: null,
      createdAt: '2026-03-01T09:00:00.000Z',
      deletedAt: '2026-03-01T09:01:00.000Z',
      deletedReason: 'key_revoked',
    });
    expectProblem(await t.as(zap, { method: 'GET', url: `/v1/hooks/${hook}` }), 401, 'UNAUTHORIZED');

    expect((await t.as(admin, { method: 'DELETE', url: `/v1/hooks/${hook}` })).statusCode).toBe(204);
    expect(parsed(await t.as(admin, { method: 'GET', url: `/v1/hooks/${hook}` }), DetailSchema).deletedReason).toBe('key_revoked');

    const retry = expectProblem(
      await t.as(admin, { method: 'POST', url: `/v1/hooks/${hook}/deliveries/retry`, payload: { status: 'dead' } }),
      409,
      'CONFLICT',
    );
    expect(retry.detail).toContain('the API key that created it was revoked');
  });
});

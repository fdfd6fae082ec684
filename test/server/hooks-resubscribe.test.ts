import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { isConsentryError } from '../../src/core/errors.js';
import { ulidGenerator } from '../../src/ports/ids.js';
import { createHookRegistry } from '../../src/worker/hooks.js';
import type { Target } from '../worker/target-server.js';
import { hookTestbed, type HookTestbed } from './hook-testbed.js';
import { parsed, type Tenant, type TestApp } from './helpers.js';

const CreatedSchema = z
  .object({
    id: z.string(),
    targetUrl: z.string(),
    event: z.string(),
    filter: z.record(z.string(), z.string()).nullable(),
    createdAt: z.string(),
    secret: z.string(),
  })
  .strict();
const ListSchema = z.object({ data: z.array(z.object({ id: z.string() })) });

let bed: HookTestbed;
let t: TestApp;
let zap: Tenant;
/** The key the Zap's connection holds after the administrator replaced the first one. */
let rotated: Tenant;
let target: Target;

beforeEach(async () => {
  bed = await hookTestbed();
  ({ t, target } = bed);
  zap = await t.tenant('Acme');
  rotated = await t.anotherKey(zap, 'zapier, replaced');
});

afterEach(() => bed.close());

async function subscribe(tenant: Tenant, payload: Record<string, unknown>): Promise<{ status: number; hook: z.infer<typeof CreatedSchema> }> {
  const response = await t.as(tenant, { method: 'POST', url: '/v1/hooks', payload });
  return { status: response.statusCode, hook: parsed(response, CreatedSchema) };
}

async function liveHookIds(): Promise<string[]> {
  return parsed(await t.as(rotated, { method: 'GET', url: '/v1/hooks' }), ListSchema).data.map((hook) => hook.id);
}

async function stopAndDeliver(messageId: string, phone: string): Promise<void> {
  const sent = await t.as(rotated, { method: 'POST', url: '/v1/messages', payload: { channel: 'whatsapp', messageId, from: { id: phone, name: 'Ana Test' }, text: 'STOP' } });
  expect(sent.statusCode, sent.body).toBe(200);
  await bed.dispatcher().runOnce();
}

const received = (): number => target.received.length;

describe('POST /v1/hooks for a subscription the workspace already has', () => {
  it('answers 200 with the live hook and its secret, creates nothing, and delivers each event once', async () => {
    const payload = { targetUrl: `${target.url}/zap`, event: 'consent.withdrawn', filter: { channel: 'whatsapp', purpose: 'marketing' } };
    const first = await subscribe(zap, payload);
    expect(first.status).toBe(201);
    t.clock.advance(24 * 60 * 60 * 1000);
    // The same filter with its keys in another order is the same subscription.
    const renewed = await subscribe(zap, { ...payload, filter: { purpose: 'marketing', channel: 'whatsapp' } });
    expect(renewed.status).toBe(200);
    expect(renewed.hook).toEqual(first.hook);
    expect(await liveHookIds()).toEqual([first.hook.id]);

    await stopAndDeliver('m1', '+34600000001');
    expect(received()).toBe(1);
  });

  it('makes a new hook when the event, the filter or the target differs', async () => {
    const base = { targetUrl: `${target.url}/zap`, event: 'consent.withdrawn' };
    const first = await subscribe(zap, base);
    const others = [
      await subscribe(zap, { ...base, event: 'consent.given' }),
      await subscribe(zap, { ...base, filter: { channel: 'whatsapp' } }),
      await subscribe(zap, { ...base, filter: { channel: 'sms' } }),
      await subscribe(zap, { ...base, targetUrl: `${target.url}/other` }),
    ];
    for (const other of others) {
      expect(other.status).toBe(201);
      expect(other.hook.id).not.toBe(first.hook.id);
      expect(other.hook.secret).not.toBe(first.hook.secret);
    }
    expect((await liveHookIds()).sort()).toEqual([first.hook.id, ...others.map((other) => other.hook.id)].sort());
  });

  it('hands the hook to the key that subscribed again: revoking the replaced key leaves it live, revoking the new one ends it', async () => {
    const payload = { targetUrl: `${target.url}/zap`, event: 'consent.withdrawn' };
    const first = await subscribe(zap, payload);
    const renewed = await subscribe(rotated, payload);
    expect(renewed).toMatchObject({ status: 200, hook: { id: first.hook.id } });

    await t.revoke(zap.keyId);
    expect(await liveHookIds()).toEqual([first.hook.id]);
    await stopAndDeliver('m1', '+34600000001');
    expect(received()).toBe(1);

    await t.revoke(rotated.keyId);
    expect(await t.store.transaction((tx) => tx.getHook(zap.workspaceId, first.hook.id))).toMatchObject({ deletedReason: 'key_revoked' });
  });

  it('makes a new hook, with a new secret, when the earlier one was deleted', async () => {
    const payload = { targetUrl: `${target.url}/zap`, event: 'consent.withdrawn' };
    const first = await subscribe(zap, payload);
    expect((await t.as(zap, { method: 'DELETE', url: `/v1/hooks/${first.hook.id}` })).statusCode).toBe(204);
    const again = await subscribe(zap, payload);
    expect(again.status).toBe(201);
    expect(again.hook.id).not.toBe(first.hook.id);
    expect(again.hook.secret).not.toBe(first.hook.secret);
  });

  it('answers the live hook even when the workspace has as many hooks as it may', async () => {
    const registry = createHookRegistry({ store: t.store, clock: t.clock, ids: ulidGenerator(), allowPrivateTargets: true, maxHooksPerWorkspace: 1 });
    const payload = { targetUrl: `${target.url}/zap`, event: 'consent.withdrawn' as const };
    const first = await registry.create(zap.workspaceId, payload, zap.keyId);
    expect(first.alreadySubscribed).toBe(false);
    await expect(registry.create(zap.workspaceId, payload, rotated.keyId)).resolves.toMatchObject({ id: first.id, secret: first.secret, alreadySubscribed: true });
    const another = await registry.create(zap.workspaceId, { ...payload, event: 'consent.given' }).catch((error: unknown) => error);
    expect(isConsentryError(another) && another.code).toBe('CONFLICT');
    expect((await t.store.transaction((tx) => tx.getHook(zap.workspaceId, first.id)))?.apiKeyId).toBe(rotated.keyId);
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { isConsentryError } from '../../src/core/errors.js';
import { ulidGenerator } from '../../src/ports/ids.js';
import type { HookRow } from '../../src/ports/store.js';
import { createHookRegistry } from '../../src/worker/hooks.js';
import type { Target } from '../worker/target-server.js';
import { hookTestbed, type HookTestbed } from './hook-testbed.js';
import { expectProblem, parsed, problemPaths, type Tenant, type TestApp } from './helpers.js';

const CreatedSchema = z
  .object({
    id: z.string(),
    targetUrl: z.string(),
    event: z.string(),
    filter: z.record(z.string(), z.string()).nullable(),
    createdAt: z.string(),
    secret: z.string(),
    subscriptionId: z.string(),
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
    // The same hook, as it was stored, under a new subscription.
    expect(renewed.hook).toEqual({ ...first.hook, subscriptionId: renewed.hook.subscriptionId });
    expect(renewed.hook.subscriptionId).not.toBe(first.hook.subscriptionId);
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

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const KEPT_HEADER = 'x-consentry-hook-kept';
const DetailSchema = z.object({ id: z.string(), deletedAt: z.string().nullable(), deletedReason: z.string().nullable() });

async function unsubscribe(tenant: Tenant, hookId: string, query = ''): Promise<{ status: number; kept: unknown; body: string }> {
  const response = await t.as(tenant, { method: 'DELETE', url: `/v1/hooks/${hookId}${query}` });
  return { status: response.statusCode, kept: response.headers[KEPT_HEADER], body: response.body };
}

async function detail(hookId: string): Promise<z.infer<typeof DetailSchema>> {
  return parsed(await t.as(rotated, { method: 'GET', url: `/v1/hooks/${hookId}` }), DetailSchema);
}

describe('subscription ids', () => {
  it('answers a new subscriptionId on every POST, 201 and 200 alike: a ULID that is not the hook id', async () => {
    const payload = { targetUrl: `${target.url}/zap`, event: 'consent.withdrawn' };
    const first = await subscribe(zap, payload);
    const renewed = await subscribe(rotated, payload);
    const again = await subscribe(rotated, payload);
    expect([first.status, renewed.status, again.status]).toEqual([201, 200, 200]);
    const ids = [first, renewed, again].map((answer) => answer.hook.subscriptionId);
    for (const id of ids) expect(id).toMatch(ULID);
    expect(new Set([...ids, first.hook.id]).size).toBe(4);
    expect([renewed.hook.id, again.hook.id]).toEqual([first.hook.id, first.hook.id]);
    // The hook's latest subscription is stored with it, and only POST answers it.
    expect((await t.store.read((tx) => tx.getHook(zap.workspaceId, first.hook.id)))?.subscriptionId).toBe(again.hook.subscriptionId);
    expect(await detail(first.hook.id)).not.toHaveProperty('subscriptionId');
  });
});

describe('DELETE /v1/hooks/{id}?subscription=', () => {
  const payload = (): Record<string, unknown> => ({ targetUrl: `${target.url}/zap`, event: 'consent.withdrawn' });

  it('keeps the hook when the subscription a renewal replaced is unsubscribed after the renewal, and deletes it for the latest', async () => {
    const first = await subscribe(zap, payload());
    const renewed = await subscribe(rotated, payload());
    expect(renewed.hook.id).toBe(first.hook.id);

    // Zapier unsubscribes the subscription it renewed, after subscribing again.
    const old = await unsubscribe(rotated, first.hook.id, `?subscription=${first.hook.subscriptionId}`);
    expect(old).toEqual({ status: 204, kept: 'replaced', body: '' });
    expect(await liveHookIds()).toEqual([first.hook.id]);
    expect(await detail(first.hook.id)).toMatchObject({ deletedAt: null, deletedReason: null });
    await stopAndDeliver('m1', '+34600000001');
    expect(received()).toBe(1);

    // The latest subscription, in any letter case, ends the hook; naming it again finds nothing to delete.
    const latest = await unsubscribe(rotated, first.hook.id.toLowerCase(), `?subscription=${renewed.hook.subscriptionId.toLowerCase()}`);
    expect(latest).toEqual({ status: 204, kept: undefined, body: '' });
    expect(await liveHookIds()).toEqual([]);
    expect(await detail(first.hook.id)).toMatchObject({ deletedReason: 'unsubscribed' });
    expect(await unsubscribe(rotated, first.hook.id, `?subscription=${renewed.hook.subscriptionId}`)).toEqual({ status: 204, kept: undefined, body: '' });
    await stopAndDeliver('m2', '+34600000002');
    expect(received()).toBe(1);
  });

  it('in the other order, unsubscribing the latest subscription and then subscribing again, makes a new hook that hears the events', async () => {
    const first = await subscribe(zap, payload());
    expect(await unsubscribe(zap, first.hook.id, `?subscription=${first.hook.subscriptionId}`)).toEqual({ status: 204, kept: undefined, body: '' });
    expect(await liveHookIds()).toEqual([]);

    const again = await subscribe(rotated, payload());
    expect(again.status).toBe(201);
    expect(again.hook.id).not.toBe(first.hook.id);
    expect(again.hook.subscriptionId).not.toBe(first.hook.subscriptionId);
    // The ended subscription names the deleted hook: nothing more happens to the new one.
    expect(await unsubscribe(rotated, first.hook.id, `?subscription=${first.hook.subscriptionId}`)).toEqual({ status: 204, kept: undefined, body: '' });
    expect(await liveHookIds()).toEqual([again.hook.id]);
    await stopAndDeliver('m1', '+34600000001');
    expect(received()).toBe(1);
  });

  it('deletes nothing for a subscription the hook never had', async () => {
    const first = await subscribe(zap, payload());
    const unknown = '01ARZ3NDEKTSV4RRFFQ69G5FAV';
    expect(await unsubscribe(zap, first.hook.id, `?subscription=${unknown}`)).toEqual({ status: 204, kept: 'replaced', body: '' });
    expect(await liveHookIds()).toEqual([first.hook.id]);
    // A hook the workspace does not have is answered as before, whatever the subscription.
    expect(await unsubscribe(zap, '01ARZ3NDEKTSV4RRFFQ69G5FAW', `?subscription=${first.hook.subscriptionId}`)).toEqual({ status: 204, kept: undefined, body: '' });
    expect(await liveHookIds()).toEqual([first.hook.id]);
  });

  it('keeps a hook subscribed before subscription ids were issued when a subscription is named; its next POST gives it one', async () => {
    const stored: HookRow = {
      id: '01JNM0000000000000000000AA',
      workspaceId: zap.workspaceId,
      apiKeyId: zap.keyId,
      targetUrl: `${target.url}/zap`,
      event: 'consent.withdrawn',
      filter: null,
      secret: 'whsec_stored_before',
      subscriptionId: null,
      createdAt: '2026-02-01T09:00:00.000Z',
      deletedAt: null,
      deletedReason: null,
    };
    await t.store.transaction((tx) => tx.insertHook(stored));
    expect(await unsubscribe(zap, stored.id, '?subscription=01ARZ3NDEKTSV4RRFFQ69G5FAV')).toEqual({ status: 204, kept: 'replaced', body: '' });
    expect(await liveHookIds()).toEqual([stored.id]);

    const renewed = await subscribe(rotated, payload());
    expect(renewed).toMatchObject({ status: 200, hook: { id: stored.id, secret: stored.secret } });
    expect(await unsubscribe(rotated, stored.id, `?subscription=${renewed.hook.subscriptionId}`)).toEqual({ status: 204, kept: undefined, body: '' });
    expect(await liveHookIds()).toEqual([]);
  });

  it('refuses a malformed or misspelt subscription with a problem naming the field, and deletes nothing', async () => {
    const first = await subscribe(zap, payload());
    for (const query of ['?subscription=nope', '?subscription=', `?subscription=${first.hook.subscriptionId}&subscription=${first.hook.subscriptionId}`]) {
      const response = await t.as(zap, { method: 'DELETE', url: `/v1/hooks/${first.hook.id}${query}` });
      expectProblem(response, 422, 'VALIDATION_FAILED');
      expect(problemPaths(response), query).toEqual(['subscription']);
    }
    const misspelt = await t.as(zap, { method: 'DELETE', url: `/v1/hooks/${first.hook.id}?subscripton=${first.hook.subscriptionId}` });
    expectProblem(misspelt, 422, 'VALIDATION_FAILED');
    expect(misspelt.body).toContain('subscripton');
    expect(await liveHookIds()).toEqual([first.hook.id]);
  });

  it("never touches another workspace's hook, its latest subscription named or not, nor says it exists", async () => {
    const globex = await t.tenant('Globex');
    const first = await subscribe(zap, payload());
    expect(await unsubscribe(globex, first.hook.id, `?subscription=${first.hook.subscriptionId}`)).toEqual({ status: 204, kept: undefined, body: '' });
    expect(await unsubscribe(globex, first.hook.id, '?subscription=01ARZ3NDEKTSV4RRFFQ69G5FAV')).toEqual({ status: 204, kept: undefined, body: '' });
    expect(await liveHookIds()).toEqual([first.hook.id]);
    expectProblem(await t.as(globex, { method: 'GET', url: `/v1/hooks/${first.hook.id}` }), 404, 'NOT_FOUND');
    await stopAndDeliver('m1', '+34600000001');
    expect(received()).toBe(1);
  });
});

describe('OpenAPI', () => {
  const OpenApiSchema = z.object({ paths: z.record(z.string(), z.record(z.string(), z.unknown())) });
  const ObjectSchema = z.object({ properties: z.record(z.string(), z.unknown()), required: z.array(z.string()) });
  const ResponseSchema = z.object({ content: z.object({ 'application/json': z.object({ schema: ObjectSchema }) }) });
  const OperationSchema = z.object({
    responses: z.record(z.string(), z.unknown()),
    parameters: z.array(z.object({ in: z.string(), name: z.string(), required: z.boolean().optional(), description: z.string().optional() })).optional(),
  });

  it('documents subscriptionId in both answers to POST /v1/hooks, and the subscription query of DELETE /v1/hooks/{id}', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(response.statusCode).toBe(200);
    const { paths } = parsed(response, OpenApiSchema);
    const post = OperationSchema.parse(paths['/v1/hooks']?.post);
    for (const status of ['200', '201']) {
      const schema = ResponseSchema.parse(post.responses[status]).content['application/json'].schema;
      expect(schema.properties, status).toHaveProperty('subscriptionId');
      expect(schema.required, status).toContain('subscriptionId');
    }
    const remove = OperationSchema.parse(paths['/v1/hooks/{id}']?.delete);
    const query = remove.parameters?.filter((parameter) => parameter.in === 'query') ?? [];
    expect(query.map((parameter) => [parameter.name, parameter.required ?? false])).toEqual([['subscription', false]]);
    expect(query[0]?.description).toContain('x-consentry-hook-kept: replaced');
  });
});

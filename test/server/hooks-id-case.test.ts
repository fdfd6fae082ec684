import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { hookTestbed, type HookTestbed } from './hook-testbed.js';
import { expectProblem, parsed, type Tenant, type TestApp } from './helpers.js';

const HookSchema = z.object({ id: z.string(), deletedAt: z.string().nullable(), deletedReason: z.string().nullable() });
const CreatedSchema = z.object({ id: z.string() });
const ListSchema = z.object({ data: z.array(z.object({ id: z.string() })) });
const DeliveriesSchema = z.object({ data: z.array(z.object({ id: z.string(), status: z.string(), attempts: z.number() })) });

let bed: HookTestbed;
let t: TestApp;
let acme: Tenant;
let globex: Tenant;

beforeEach(async () => {
  bed = await hookTestbed();
  t = bed.t;
  acme = await t.tenant('Acme');
  globex = await t.tenant('Globex');
});

afterEach(() => bed.close());

const stop = (messageId: string, phone = '+34600000001') => ({ channel: 'whatsapp', messageId, from: { id: phone, name: 'Ana Test' }, text: 'STOP' });

async function subscribe(tenant: Tenant): Promise<string> {
  const response = await t.as(tenant, { method: 'POST', url: '/v1/hooks', payload: { targetUrl: bed.target.url, event: 'consent.withdrawn' } });
  expect(response.statusCode, response.body).toBe(201);
  const { id } = parsed(response, CreatedSchema);
  // ULIDs are written in upper case: the spellings below are other spellings of the same id.
  expect(id).toBe(id.toUpperCase());
  return id;
}

/** The same letters with every other one in lower case. */
const mixedCase = (id: string): string => [...id].map((char, index) => (index % 2 === 0 ? char.toLowerCase() : char)).join('');

async function liveHookIds(tenant: Tenant): Promise<string[]> {
  return parsed(await t.as(tenant, { method: 'GET', url: '/v1/hooks' }), ListSchema).data.map((hook) => hook.id);
}

describe('a hook id in any letter case', () => {
  it('is unsubscribed by DELETE, and its deliveries stop', async () => {
    const id = await subscribe(acme);
    const deleted = await t.as(acme, { method: 'DELETE', url: `/v1/hooks/${id.toLowerCase()}` });
    expect(deleted.statusCode).toBe(204);
    expect(await liveHookIds(acme)).toEqual([]);
    expect(parsed(await t.as(acme, { method: 'GET', url: `/v1/hooks/${id}` }), HookSchema)).toMatchObject({ id, deletedReason: 'unsubscribed' });

    await t.as(acme, { method: 'POST', url: '/v1/messages', payload: stop('m1') });
    expect(await bed.dispatcher().runOnce()).toMatchObject({ attempted: 0 });
    expect(bed.target.received).toHaveLength(0);
  });

  it('is found by GET, by its deliveries and by a secret rotation, each answering with the id in upper case', async () => {
    const id = await subscribe(acme);
    for (const spelling of [id.toLowerCase(), mixedCase(id)]) {
      const shown = await t.as(acme, { method: 'GET', url: `/v1/hooks/${spelling}` });
      expect(shown.statusCode, shown.body).toBe(200);
      expect(parsed(shown, HookSchema)).toMatchObject({ id, deletedAt: null });
      const deliveries = await t.as(acme, { method: 'GET', url: `/v1/hooks/${spelling}/deliveries` });
      expect(deliveries.statusCode, deliveries.body).toBe(200);
      const rotated = await t.as(acme, { method: 'POST', url: `/v1/hooks/${spelling}/secret`, payload: { previousSecretValidSeconds: 0 } });
      expect(rotated.statusCode, rotated.body).toBe(200);
    }
  });

  it("sends a hook's dead letters again, one by its delivery id in any letter case, or all of them", async () => {
    bed.target.answer = () => ({ kind: 'status', status: 400 });
    const id = await subscribe(acme);
    await t.as(acme, { method: 'POST', url: '/v1/messages', payload: stop('m1') });
    await t.as(acme, { method: 'POST', url: '/v1/messages', payload: stop('m2', '+34600000002') });
    await bed.dispatcher().runOnce();
    const dead = parsed(await t.as(acme, { method: 'GET', url: `/v1/hooks/${id}/deliveries?status=dead` }), DeliveriesSchema).data;
    expect(dead).toHaveLength(2);
    const [one] = dead;

    const retried = await t.as(acme, { method: 'POST', url: `/v1/hooks/${id.toLowerCase()}/deliveries/${one?.id.toLowerCase() ?? ''}/retry` });
    expect(retried.statusCode, retried.body).toBe(202);
    expect(retried.json()).toMatchObject({ id: one?.id, status: 'pending' });

    const all = await t.as(acme, { method: 'POST', url: `/v1/hooks/${mixedCase(id)}/deliveries/retry`, payload: { status: 'dead' } });
    expect(all.statusCode, all.body).toBe(202);
    expect(all.json()).toEqual({ retried: 1, hasMore: false });
  });

  it("sends an outbound webhook's dead letter again by its delivery id in any letter case", async () => {
    bed.target.answer = () => ({ kind: 'status', status: 400 });
    const set = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookUrl: bed.target.url } });
    expect(set.statusCode, set.body).toBe(200);
    await t.as(acme, { method: 'POST', url: '/v1/messages', payload: stop('m1') });
    await bed.dispatcher().runOnce();
    const [dead] = parsed(await t.as(acme, { method: 'GET', url: '/v1/settings/outbound-webhook/deliveries?status=dead' }), DeliveriesSchema).data;
    expect(dead).toBeDefined();

    const retried = await t.as(acme, { method: 'POST', url: `/v1/settings/outbound-webhook/deliveries/${dead?.id.toLowerCase() ?? ''}/retry` });
    expect(retried.statusCode, retried.body).toBe(202);
    expect(retried.json()).toMatchObject({ id: dead?.id, status: 'pending' });
  });

  it("still never reaches another workspace's hook", async () => {
    const id = await subscribe(acme);
    const lower = id.toLowerCase();
    expect((await t.as(globex, { method: 'DELETE', url: `/v1/hooks/${lower}` })).statusCode).toBe(204);
    expectProblem(await t.as(globex, { method: 'GET', url: `/v1/hooks/${lower}` }), 404, 'NOT_FOUND');
    expectProblem(await t.as(globex, { method: 'GET', url: `/v1/hooks/${lower}/deliveries` }), 404, 'NOT_FOUND');
    expectProblem(await t.as(globex, { method: 'POST', url: `/v1/hooks/${lower}/secret` }), 404, 'NOT_FOUND');
    expect(await liveHookIds(acme)).toEqual([id]);
  });

  it('is documented as a ULID in any letter case', async () => {
    const spec = z
      .object({ paths: z.record(z.string(), z.record(z.string(), z.object({ parameters: z.array(z.object({ name: z.string(), description: z.string().optional() })).optional() }))) })
      .parse((await t.app.inject({ method: 'GET', url: '/openapi.json' })).json());
    const describedId = (path: string, method: string, name: string) => spec.paths[path]?.[method]?.parameters?.find((parameter) => parameter.name === name)?.description;
    expect(describedId('/v1/hooks/{id}', 'delete', 'id')).toBe('The hook id (a ULID; any letter case): another value is 422');
    expect(describedId('/v1/hooks/{id}', 'get', 'id')).toBe('The hook id (a ULID; any letter case)');
    expect(describedId('/v1/hooks/{id}/deliveries/{deliveryId}/retry', 'post', 'deliveryId')).toBe('The delivery id (a ULID; any letter case)');
  });
});

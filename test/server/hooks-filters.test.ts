import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { HookDispatcher } from '../../src/worker/hook-dispatcher.js';
import { startTarget, type Target } from '../worker/target-server.js';
import { expectProblem, parsed, testApp, type Tenant, type TestApp } from './helpers.js';

const CreatedSchema = z.object({ id: z.string(), filter: z.record(z.string(), z.string()).nullable() });
const DeliveriesSchema = z.object({ data: z.array(z.object({ eventType: z.string().nullable(), status: z.string() })) });
const ProblemSchema = z.object({ errors: z.array(z.object({ path: z.string(), message: z.string() })) });

let t: TestApp;
let acme: Tenant;
let target: Target;
let dispatcher: HookDispatcher;

beforeEach(async () => {
  // The target is a server on 127.0.0.1, allowed as in a self-hosted set-up.
  t = await testApp({ allowPrivateTargets: true });
  acme = await t.tenant('Acme');
  target = await startTarget();
  dispatcher = new HookDispatcher({ store: t.store, clock: t.clock, requestTimeoutMs: 500, random: () => 1, allowPrivateTargets: true });
});

afterEach(async () => {
  await dispatcher.stop();
  await target.close();
  await t.close();
  await t.store.close();
});

async function subscribe(payload: Record<string, unknown>): Promise<z.infer<typeof CreatedSchema>> {
  const response = await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl: target.url, ...payload } });
  expect(response.statusCode, response.body).toBe(201);
  return parsed(response, CreatedSchema);
}

async function refused(payload: Record<string, unknown>): Promise<{ path: string; message: string }[]> {
  const response = await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl: target.url, ...payload } });
  expectProblem(response, 422, 'VALIDATION_FAILED');
  return ProblemSchema.parse(response.json()).errors;
}

async function deliveredTypes(hookId: string): Promise<(string | null)[]> {
  const response = await t.as(acme, { method: 'GET', url: `/v1/hooks/${hookId}/deliveries` });
  return parsed(response, DeliveriesSchema).data.map((row) => row.eventType);
}

async function createContact(): Promise<string> {
  const response = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Dee Test' } });
  expect(response.statusCode, response.body).toBe(201);
  return z.object({ id: z.string() }).parse(response.json()).id;
}

describe('hook filters compare values as the rest of the API does', () => {
  it('fires for a contact id written in lower case and for a tag in another letter case or spacing', async () => {
    const contactId = await createContact();
    const byTag = await subscribe({ event: 'contact.tagged', filter: { tag: 'VIP' } });
    // Another receiver: at the same target URL this filter is the VIP subscription again (hooks-spelling.test.ts).
    const bySpacedTag = await subscribe({ targetUrl: `${target.url}/spaced`, event: 'contact.tagged', filter: { tag: '  vip  ' } });
    const byContact = await subscribe({ event: 'contact.tagged', filter: { contactId: contactId.toLowerCase() } });
    const other = await subscribe({ event: 'contact.tagged', filter: { tag: 'Lead' } });
    // The id is stored as every listing shows ids: in upper case.
    expect(byContact.filter).toEqual({ contactId });

    const tagged = await t.as(acme, { method: 'POST', url: `/v1/contacts/${contactId.toLowerCase()}/tags`, payload: { tag: 'vip' } });
    expect(tagged.statusCode, tagged.body).toBe(200);
    expect(await dispatcher.runOnce()).toMatchObject({ deliveries: 3, delivered: 3 });
    for (const hook of [byTag, bySpacedTag, byContact]) expect(await deliveredTypes(hook.id)).toEqual(['contact.tagged']);
    expect(await deliveredTypes(other.id)).toEqual([]);
  });

  it('fires for a hook whose filter was stored before values were checked', async () => {
    const contactId = await createContact();
    const hook = await subscribe({ event: 'contact.tagged' });
    const stored = await t.store.transaction((tx) => tx.getHook(acme.workspaceId, hook.id));
    if (!stored) throw new Error('the hook was not stored');
    await t.store.transaction((tx) => tx.updateHook({ ...stored, filter: { contactId: contactId.toLowerCase(), tag: ' V I P ' } }));
    await t.as(acme, { method: 'POST', url: `/v1/contacts/${contactId}/tags`, payload: { tag: 'v  i  p' } });
    expect(await dispatcher.runOnce()).toMatchObject({ deliveries: 1, delivered: 1 });
    expect(await deliveredTypes(hook.id)).toEqual(['contact.tagged']);
  });
});

describe('POST /v1/hooks refuses a filter value the field never holds, naming it', () => {
  it.each([
    ['consent.given', { contactId: 'hello' }, 'filter.contactId', /^"hello" is never an id here: ids are ULIDs/],
    ['*', { contactId: '01KN0ZPD3B8CWBWH3A5KJ4G4Z' }, 'filter.contactId', /ids are ULIDs/],
    ['contact.duplicate_found', { otherContactId: 'someone' }, 'filter.otherContactId', /ids are ULIDs/],
    ['consent.withdrawn', { occurredAt: 'yesterday' }, 'filter.occurredAt', /ISO 8601/],
    ['contact.tagged', { tag: '   ' }, 'filter.tag', /is empty/],
    ['contact.tagged', { tag: 'VIP\u202egold' }, 'filter.tag', /bidirectional formatting character/],
    ['contact.tagged', { tag: 'x'.repeat(101) }, 'filter.tag', /at most 100 characters/],
    ['consent.given', { purpose: 'Marketing' }, 'filter.purpose', /^"Marketing" is not a purpose: a purpose is lower-case letters/],
    ['consent.given', { purpose: 'newsletter' }, 'filter.purpose', /this workspace knows privacy, marketing/],
    ['consent.failed', { attempts: 'four' }, 'filter.attempts', /is a number/],
  ] as const)('%s with %j names %s', async (event, filter, path, message) => {
    const errors = await refused({ event, filter });
    expect(errors.map((error) => error.path)).toEqual([path]);
    expect(errors[0]?.message).toMatch(message);
    expect(z.object({ data: z.array(z.unknown()) }).parse((await t.as(acme, { method: 'GET', url: '/v1/hooks' })).json()).data).toEqual([]);
  });

  it('names every bad value at once', async () => {
    const errors = await refused({ event: 'consent.withdrawn', filter: { contactId: 'hello', occurredAt: 'yesterday', channel: 'fax' } });
    expect(errors.map((error) => error.path).sort()).toEqual(['filter.channel', 'filter.contactId', 'filter.occurredAt']);
  });

  it("accepts a value some event of `*` can hold, the workspace's own purposes and an instant with an offset", async () => {
    // `reason` is an enum in consent.failed but free text in sync.failed.
    await subscribe({ event: '*', filter: { reason: 'HubSpot answered 429' } });
    const patched = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { purposes: ['newsletter'] } });
    expect(patched.statusCode, patched.body).toBe(200);
    await subscribe({ event: 'consent.given', filter: { purpose: 'newsletter' } });
    await subscribe({ event: 'consent.withdrawn', filter: { occurredAt: '2026-03-01T10:00:00+01:00' } });
  });
});

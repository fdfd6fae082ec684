import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { FakeClock } from '../../src/ports/clock.js';
import { ulidGenerator } from '../../src/ports/ids.js';
import { startServer } from '../../src/server/index.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createHookRegistry } from '../../src/worker/hooks.js';
import { startTarget, type Target } from '../worker/target-server.js';
import { body, expectProblem, problemPaths, testApp, type TestApp } from './helpers.js';

/** Private-use and loopback targets: refused by default, allowed with HOOK_TARGETS_ALLOW_PRIVATE. */
const PRIVATE_TARGETS = ['http://127.0.0.1:3000/hook', 'http://[::1]/', 'http://10.1.2.3/', 'http://localhost:8080/'];
/** Link-local (the cloud metadata services) and other reserved targets: refused whatever the setting. */
const RESERVED_TARGETS = [
  'http://169.254.169.254/latest/meta-data/',
  // IANA's IETF protocol assignments 2001::/23 (not globally reachable): Teredo and ORCHID among them.
  'http://[2001::1]/x',
  'http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/x',
  'http://[2001:10::1]/x',
];
const NON_PUBLIC_TARGETS = [...PRIVATE_TARGETS, ...RESERVED_TARGETS];
const RESERVED_MESSAGE = 'must not point to a link-local, cloud metadata or other reserved address (only public, private-use and loopback addresses are allowed)';
const NON_PUBLIC_MESSAGE = 'must not point to a private, loopback or link-local address';
/** What a refusal adds where the switch would allow the target: its name. */
const ALLOW_PRIVATE_HINT = ' (a server started with HOOK_TARGETS_ALLOW_PRIVATE=true allows private-use and loopback targets)';
/** The refusal of a target by default (the field is named by the path alone): naming the switch where it would allow the target, not where it would not. */
const refusedByDefault = (url: string) => `${NON_PUBLIC_MESSAGE}${PRIVATE_TARGETS.includes(url) ? ALLOW_PRIVATE_HINT : ''}`;

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function app(options: { allowPrivateTargets?: boolean } = {}): Promise<TestApp> {
  const made = await testApp(options);
  cleanup.push(async () => {
    await made.close();
    await made.store.close();
  });
  return made;
}

const HookListSchema = z.object({ data: z.array(z.object({ targetUrl: z.string() })) });

describe('POST /v1/hooks with a target that is not public', () => {
  it.each(NON_PUBLIC_TARGETS)('refuses %s, naming targetUrl, and creates nothing', async (targetUrl) => {
    const t = await app();
    const acme = await t.tenant('Acme');
    const response = await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl, event: '*' } });
    const problem = expectProblem(response, 422, 'VALIDATION_FAILED');
    expect(problemPaths(response)).toEqual(['targetUrl']);
    expect(problem.errors).toEqual([{ path: 'targetUrl', message: refusedByDefault(targetUrl) }]);
    const listed = HookListSchema.parse((await t.as(acme, { method: 'GET', url: '/v1/hooks' })).json());
    expect(listed.data).toEqual([]);
  });

  it('names HOOK_TARGETS_ALLOW_PRIVATE when refusing a loopback target, not a link-local one it would not allow', async () => {
    const t = await app();
    const acme = await t.tenant('Acme');
    const loopback = await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl: 'http://127.0.0.1:3960/h', event: '*' } });
    expect(expectProblem(loopback, 422, 'VALIDATION_FAILED').errors).toEqual([
      { path: 'targetUrl', message: 'must not point to a private, loopback or link-local address (a server started with HOOK_TARGETS_ALLOW_PRIVATE=true allows private-use and loopback targets)' },
    ]);
    const linkLocal = await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl: 'http://169.254.169.254/', event: '*' } });
    expect(JSON.stringify(expectProblem(linkLocal, 422, 'VALIDATION_FAILED').errors)).not.toContain('HOOK_TARGETS_ALLOW_PRIVATE');
  });

  it('accepts a public target and a host name it does not resolve', async () => {
    const t = await app();
    const acme = await t.tenant('Acme');
    // 2001:3::/32 (AMT) lies inside 2001::/23 but is globally reachable.
    for (const targetUrl of ['https://hooks.example.com/catch/1', 'http://203.0.114.10/hook', 'http://[2001:3::1]/hook']) {
      const response = await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl, event: '*' } });
      expect(response.statusCode, response.body).toBe(201);
    }
  });

  it.each(PRIVATE_TARGETS)('accepts %s when private targets are allowed', async (targetUrl) => {
    const t = await app({ allowPrivateTargets: true });
    const acme = await t.tenant('Acme');
    const response = await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl, event: '*' } });
    expect(response.statusCode, response.body).toBe(201);
    expect(body(response).targetUrl).toBe(targetUrl);
  });

  it.each(RESERVED_TARGETS)('refuses %s even when private targets are allowed', async (targetUrl) => {
    const t = await app({ allowPrivateTargets: true });
    const acme = await t.tenant('Acme');
    const response = await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl, event: '*' } });
    const problem = expectProblem(response, 422, 'VALIDATION_FAILED');
    expect(problem.errors).toEqual([{ path: 'targetUrl', message: RESERVED_MESSAGE }]);
  });
});

describe('PATCH /v1/settings outboundWebhookUrl with a target that is not public', () => {
  it.each(NON_PUBLIC_TARGETS)('refuses %s, naming outboundWebhookUrl, and keeps the setting', async (outboundWebhookUrl) => {
    const t = await app();
    const acme = await t.tenant('Acme');
    const response = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookUrl } });
    const problem = expectProblem(response, 422, 'VALIDATION_FAILED');
    expect(problem.errors).toEqual([{ path: 'outboundWebhookUrl', message: refusedByDefault(outboundWebhookUrl) }]);
    expect(body(await t.as(acme, { method: 'GET', url: '/v1/settings' })).outboundWebhookUrl).toBeNull();
  });

  it('accepts a public URL, and null to remove it', async () => {
    const t = await app();
    const acme = await t.tenant('Acme');
    const set = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookUrl: 'https://channel.example.com/outbound' } });
    expect(set.statusCode, set.body).toBe(200);
    expect(body(set).outboundWebhookUrl).toBe('https://channel.example.com/outbound');
    const removed = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookUrl: null } });
    expect(removed.statusCode, removed.body).toBe(200);
    expect(body(removed).outboundWebhookUrl).toBeNull();
  });

  it.each(PRIVATE_TARGETS)('accepts %s when private targets are allowed', async (outboundWebhookUrl) => {
    const t = await app({ allowPrivateTargets: true });
    const acme = await t.tenant('Acme');
    const response = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookUrl } });
    expect(response.statusCode, response.body).toBe(200);
    expect(body(response).outboundWebhookUrl).toBe(outboundWebhookUrl);
  });

  it.each(RESERVED_TARGETS)('refuses %s even when private targets are allowed, and keeps the setting', async (outboundWebhookUrl) => {
    const t = await app({ allowPrivateTargets: true });
    const acme = await t.tenant('Acme');
    const response = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookUrl } });
    const problem = expectProblem(response, 422, 'VALIDATION_FAILED');
    expect(problem.errors).toEqual([{ path: 'outboundWebhookUrl', message: RESERVED_MESSAGE }]);
    expect(body(await t.as(acme, { method: 'GET', url: '/v1/settings' })).outboundWebhookUrl).toBeNull();
  });
});

describe('startServer', () => {
  const DeliveriesSchema = z.object({ data: z.array(z.object({ status: z.string(), attempts: z.number(), lastError: z.string().nullable() })) });
  const message = { channel: 'whatsapp', messageId: 'm1', from: { id: '+34600000001', name: 'Ana Test' }, text: 'STOP' };

  async function startedTarget(): Promise<Target> {
    const target = await startTarget();
    cleanup.push(() => target.close());
    return target;
  }

  it('refuses private targets by default: at creation, and at delivery for a hook stored before', async () => {
    const target = await startedTarget();
    const store = createMemoryStore();
    const clock = new FakeClock('2026-03-01T09:00:00.000Z');
    const server = await startServer({ store, clock, dispatchIntervalMs: 5, defaultMetrics: false });
    cleanup.push(async () => {
      await server.close();
      await store.close();
    });
    const { workspaceId, key } = await server.createWorkspaceWithKey('Initech');
    const headers = { authorization: `Bearer ${key}` };
    const refused = await server.app.inject({ method: 'POST', url: '/v1/hooks', headers, payload: { targetUrl: target.url, event: '*' } });
    expectProblem(refused, 422, 'VALIDATION_FAILED');

    // A hook stored while private targets were allowed: the server's own dispatcher still refuses it.
    const hook = await createHookRegistry({ store, clock, ids: ulidGenerator(), allowPrivateTargets: true }).create(workspaceId, { targetUrl: target.url, event: 'consent.withdrawn' });
    await server.app.inject({ method: 'POST', url: '/v1/messages', headers, payload: message });
    const deliveries = async () => DeliveriesSchema.parse((await server.app.inject({ method: 'GET', url: `/v1/hooks/${hook.id}/deliveries`, headers })).json()).data;
    const deadline = Date.now() + 5000;
    const settled = (list: { status: string }[]) => list.length > 0 && list.every((d) => d.status !== 'pending');
    while (!settled(await deliveries()) && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    const list = await deliveries();
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ status: 'dead', attempts: 1 });
    expect(list[0]?.lastError).toMatch(/^target address is not public: 127\.0\.0\.1 /);
    expect(target.received).toHaveLength(0);
  });

  it('accepts and delivers to private targets when allowed', async () => {
    const target = await startedTarget();
    const store = createMemoryStore();
    const server = await startServer({ store, clock: new FakeClock('2026-03-01T09:00:00.000Z'), dispatchIntervalMs: 5, defaultMetrics: false, allowPrivateTargets: true });
    cleanup.push(async () => {
      await server.close();
      await store.close();
    });
    const { key } = await server.createWorkspaceWithKey('Initech');
    const headers = { authorization: `Bearer ${key}` };
    const created = await server.app.inject({ method: 'POST', url: '/v1/hooks', headers, payload: { targetUrl: target.url, event: '*' } });
    expect(created.statusCode, created.body).toBe(201);
    await server.app.inject({ method: 'POST', url: '/v1/messages', headers, payload: message });
    await target.waitForRequests(1);
    expect(target.received[0]?.headers['x-consentry-event-type']).toBe('consent.withdrawn');
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/ports/clock.js';
import { createHubSpotClient, type HubSpotClient } from '../../../connectors/hubspot/client.js';
import { HubSpotApiError, HubSpotPausedError } from '../../../connectors/hubspot/errors.js';
import { contactToHubSpotProperties } from '../../../connectors/hubspot/mapping.js';
import { planChangeCount, planInstall, type InstallPlan } from '../../../connectors/hubspot/properties.js';
import { PortalRateLimiter } from '../../../connectors/hubspot/rate-limiter.js';
import { startFakeHubSpot, type FakeHubSpot, type FakeHubSpotOptions } from '../../fakes/hubspot-server.js';

const TOKEN = 'fake-token';
let fake: FakeHubSpot | null = null;

afterEach(async () => {
  await fake?.close();
  fake = null;
});

async function start(options: FakeHubSpotOptions = {}): Promise<{ fake: FakeHubSpot; hubspot: HubSpotClient; clock: FakeClock }> {
  const clock = new FakeClock('2026-03-02T10:00:00.000Z');
  fake = await startFakeHubSpot({ now: () => clock.now().getTime(), ...options });
  return { fake, hubspot: createHubSpotClient({ accessToken: TOKEN, basePath: fake.url }), clock };
}

async function install(hubspot: HubSpotClient, tags: readonly string[]): Promise<InstallPlan> {
  const groups = (await hubspot.listPropertyGroups()).map((g) => g.name);
  const plan = planInstall({ groups, properties: await hubspot.listProperties() }, tags);
  if (plan.createGroup !== null) await hubspot.createPropertyGroup(plan.createGroup);
  for (const property of plan.createProperties) await hubspot.createProperty(property);
  for (const update of plan.updateOptions) await hubspot.updatePropertyOptions(update.propertyName, update.options);
  return plan;
}

async function rawGet(url: string): Promise<Response> {
  return fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
}

describe('fake HubSpot: state through the client', () => {
  it('installs the properties once; a rerun plans nothing', async () => {
    const { fake, hubspot } = await start({ rateLimit: null });
    const first = await install(hubspot, ['VIP']);
    expect(planChangeCount(first)).toBeGreaterThan(20);
    expect(fake.state.groups.has('consentry')).toBe(true);
    expect(fake.state.properties.get('consentry_tags')?.options.map((o) => o.value)).toEqual(['VIP']);
    const again = await install(hubspot, ['VIP']);
    expect(planChangeCount(again)).toBe(0);
    const grown = await install(hubspot, ['VIP', 'Consent: Privacy']);
    expect(grown.updateOptions.map((u) => u.propertyName)).toEqual(['consentry_tags']);
    expect(fake.state.properties.get('consentry_tags')?.options.map((o) => o.value)).toEqual(['VIP', 'Consent: Privacy']);
  });

  it('stores contact properties written in a batch, and validates them as HubSpot does', async () => {
    const { fake, hubspot } = await start({ rateLimit: null });
    await install(hubspot, ['VIP']);
    const id = fake.seedContact({ email: 'ana.test@example.com', firstname: 'Ana' });
    const properties = contactToHubSpotProperties({ email: 'ana.test@example.com', phone: '+34600000001', tags: ['VIP'], consent: [] });
    const result = await hubspot.updateContacts([{ id, properties }]);
    expect(result.errors).toEqual([]);
    expect(fake.state.contacts.get(id)?.properties).toMatchObject({ phone: '+34600000001', consentry_tags: 'VIP', consentry_sms_status: 'not_specified' });

    await expect(hubspot.updateContacts([{ id, properties: { consentry_tags: 'VIP;Unknown tag' } }])).rejects.toMatchObject({
      status: 400,
      category: 'VALIDATION_ERROR',
    });
    await expect(hubspot.updateContacts([{ id, properties: { favourite_colour: 'green' } }])).rejects.toMatchObject({ status: 400 });
    expect(fake.state.contacts.get(id)?.properties.consentry_tags).toBe('VIP');

    const missing = await hubspot.updateContacts([{ id: '999999', properties: { firstname: 'Nobody' } }]);
    expect(missing.errors[0]).toMatchObject({ category: 'OBJECT_NOT_FOUND', context: { ids: ['999999'] } });
  });

  it('finds contacts by email and phone, reads them, creates and upserts', async () => {
    const { fake, hubspot } = await start({ rateLimit: null });
    const id = fake.seedContact({ email: 'ana.test@example.com', mobilephone: '+34600000001' });
    await expect(hubspot.findContactByEmail('Ana.Test@example.com', ['email'])).resolves.toMatchObject({ id });
    await expect(hubspot.findContactByPhone('+34600000001', ['mobilephone'])).resolves.toMatchObject({ id });
    await expect(hubspot.findContactByEmail('nobody@example.com', ['email'])).resolves.toBeNull();
    await expect(hubspot.readContacts([id], ['email'])).resolves.toMatchObject({ results: [{ id, properties: { email: 'ana.test@example.com' } }] });

    const created = await hubspot.createContacts([{ properties: { email: 'bea.test@example.com' } }]);
    expect(created.results[0]?.id).toBeDefined();
    await expect(hubspot.createContacts([{ properties: { email: 'bea.test@example.com' } }])).rejects.toMatchObject({ status: 409 });

    const upserted = await hubspot.upsertContacts([
      { id: 'ana.test@example.com', idProperty: 'email', properties: { firstname: 'Ana' } },
      { id: 'carla.test@example.com', idProperty: 'email', properties: { firstname: 'Carla' } },
    ]);
    expect(upserted.results.map((r) => r.created)).toEqual([false, true]);
    expect(fake.state.contacts.size).toBe(3);
  });

  it('keeps email subscriptions with their legal basis (v3 and v4) and records callbacks', async () => {
    const { fake, hubspot } = await start({ rateLimit: null });
    await hubspot.subscribeEmail({
      emailAddress: 'ana.test@example.com',
      subscriptionId: '1001',
      legalBasis: 'CONSENT_WITH_NOTICE',
      legalBasisExplanation: 'Sent START by email',
    });
    expect(fake.state.emailSubscriptions.get('ana.test@example.com')?.get('1001')).toEqual({
      status: 'SUBSCRIBED',
      legalBasis: 'CONSENT_WITH_NOTICE',
      legalBasisExplanation: 'Sent START by email',
    });
    await expect(hubspot.getEmailSubscriptions('ana.test@example.com')).resolves.toEqual([
      { subscriptionId: '1001', status: 'SUBSCRIBED', legalBasis: 'CONSENT_WITH_NOTICE', legalBasisExplanation: 'Sent START by email' },
    ]);
    await hubspot.unsubscribeEmail({ emailAddress: 'ana.test@example.com', subscriptionId: '1001' });
    expect(fake.state.emailSubscriptions.get('ana.test@example.com')?.get('1001')?.status).toBe('NOT_SUBSCRIBED');
    await expect(hubspot.subscribeEmail({ emailAddress: 'ana.test@example.com', subscriptionId: '4242' })).rejects.toMatchObject({ status: 400 });

    const v4 = await hubspot.writeEmailSubscriptionsV4([
      { subscriberIdString: 'bea.test@example.com', subscriptionId: 1001, channel: 'EMAIL', statusState: 'SUBSCRIBED', legalBasis: 'LEGITIMATE_INTEREST_CLIENT' },
    ]);
    expect(v4.results).toEqual([{ subscriberIdString: 'bea.test@example.com', subscriptionId: 1001, status: 'SUBSCRIBED' }]);
    expect(fake.state.emailSubscriptions.get('bea.test@example.com')?.get('1001')?.legalBasis).toBe('LEGITIMATE_INTEREST_CLIENT');

    await hubspot.completeCallback('ap-102-1', { hs_execution_state: 'SUCCESS' });
    expect(fake.state.callbacks).toEqual([{ callbackId: 'ap-102-1', outputFields: { hs_execution_state: 'SUCCESS' } }]);
    expect(fake.stats.byEndpoint['POST /automation/v4/actions/callbacks/{callbackId}/complete']).toBe(1);
  });

  it('refuses v4 batch write on a portal without it, and requests without the token', async () => {
    const { fake } = await start({ rateLimit: null, v4BatchWrite: false });
    const hubspot = createHubSpotClient({ accessToken: TOKEN, basePath: fake.url });
    await expect(
      hubspot.writeEmailSubscriptionsV4([{ subscriberIdString: 'ana.test@example.com', subscriptionId: 1001, channel: 'EMAIL', statusState: 'SUBSCRIBED' }]),
    ).rejects.toMatchObject({ status: 403 });
    const stranger = createHubSpotClient({ accessToken: 'wrong', basePath: fake.url });
    await expect(stranger.listPropertyGroups()).rejects.toMatchObject({ status: 401, category: 'INVALID_AUTHENTICATION' });
  });
});

describe('fake HubSpot: rate limits', () => {
  it("answers over-limit requests with HubSpot's 429 body and the rate-limit headers", async () => {
    const { fake, hubspot, clock } = await start({ rateLimit: { max: 3, intervalMs: 1_000 } });
    const first = await rawGet(`${fake.url}/crm/v3/properties/contacts/groups`);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-hubspot-ratelimit-max')).toBe('3');
    expect(first.headers.get('x-hubspot-ratelimit-remaining')).toBe('2');
    expect(first.headers.get('x-hubspot-ratelimit-interval-milliseconds')).toBe('1000');
    await hubspot.listPropertyGroups();
    await hubspot.listPropertyGroups();

    const failure = hubspot.listPropertyGroups();
    await expect(failure).rejects.toBeInstanceOf(HubSpotApiError);
    await expect(failure).rejects.toMatchObject({
      status: 429,
      errorType: 'RATE_LIMIT',
      policyName: 'TEN_SECONDLY_ROLLING',
      correlationId: expect.any(String),
      headers: expect.objectContaining({ 'x-hubspot-ratelimit-remaining': '0', 'x-hubspot-ratelimit-max': '3' }),
    });
    expect(fake.stats).toMatchObject({ requests: 4, rateLimited: 1, rateLimitedByPolicy: { TEN_SECONDLY_ROLLING: 1 } });

    clock.advance(1_000);
    await expect(hubspot.listPropertyGroups()).resolves.toBeDefined();
  });

  it('limits search separately with the SECONDLY policy', async () => {
    const { fake, hubspot } = await start({ rateLimit: null });
    for (let i = 0; i < 5; i += 1) await hubspot.findContactByEmail('ana.test@example.com', ['email']);
    await expect(hubspot.findContactByEmail('ana.test@example.com', ['email'])).rejects.toMatchObject({ status: 429, policyName: 'SECONDLY' });
    expect(fake.stats.rateLimitedByPolicy).toEqual({ SECONDLY: 1 });
  });

  it('refuses everything once the daily limit is used up; the limiter pauses the portal', async () => {
    const { fake, clock } = await start({ rateLimit: null, dailyLimit: 2 });
    const pauses: Date[] = [];
    const limiter = new PortalRateLimiter({ clock, sleep: async (ms) => void clock.advance(ms), timeZone: 'UTC', onDailyLimit: (until) => pauses.push(until) });
    const hubspot = createHubSpotClient({ accessToken: TOKEN, basePath: fake.url, limiter });
    await hubspot.listPropertyGroups();
    const raw = await rawGet(`${fake.url}/crm/v3/properties/contacts/groups`);
    expect(raw.headers.get('x-hubspot-ratelimit-daily-remaining')).toBe('0');
    const refused = await rawGet(`${fake.url}/crm/v3/properties/contacts/groups`);
    expect(refused.status).toBe(429);
    await expect(refused.json()).resolves.toMatchObject({ policyName: 'DAILY', message: 'You have reached your daily limit.' });

    await expect(hubspot.listPropertyGroups()).rejects.toBeInstanceOf(HubSpotPausedError);
    expect(pauses).toEqual([new Date('2026-03-03T00:00:00.000Z')]);
  });

  it('a client with a limiter on the same clock stays under the limit: no 429, nothing lost', async () => {
    const { fake, clock } = await start({ rateLimit: { max: 5, intervalMs: 1_000 } });
    const limiter = new PortalRateLimiter({ clock, sleep: async (ms) => void clock.advance(ms), max: 5, intervalMs: 1_000 });
    const hubspot = createHubSpotClient({ accessToken: TOKEN, basePath: fake.url, limiter });
    await install(hubspot, []);
    const ids = Array.from({ length: 12 }, (_, i) => fake.seedContact({ email: `person${i}@example.com` }));
    fake.resetStats();
    const started = clock.now().getTime();
    await Promise.all(ids.map((id) => hubspot.updateContacts([{ id, properties: { consentry_sms_status: 'opted_in' } }])));
    expect(fake.stats.rateLimited).toBe(0);
    expect(fake.stats.requests).toBe(12);
    expect([...fake.state.contacts.values()].every((c) => c.properties.consentry_sms_status === 'opted_in')).toBe(true);
    expect(clock.now().getTime() - started).toBeGreaterThanOrEqual(2_000);
  });
});

describe('fake HubSpot: injected failures and latency', () => {
  it('answers the next requests with 5xx; the limiter retries them', async () => {
    const { fake, hubspot, clock } = await start({ rateLimit: null });
    fake.failNext(1, 500);
    await expect(hubspot.listPropertyGroups()).rejects.toMatchObject({ status: 500, category: 'INTERNAL_ERROR' });
    fake.failNext(1, 503);
    await expect(hubspot.listPropertyGroups()).rejects.toMatchObject({ status: 503, responseText: expect.stringContaining('<html>') });

    const limiter = new PortalRateLimiter({ clock, sleep: async (ms) => void clock.advance(ms) });
    const retrying = createHubSpotClient({ accessToken: TOKEN, basePath: fake.url, limiter });
    fake.failNext(2, 502);
    await expect(retrying.listPropertyGroups()).resolves.toEqual([{ name: 'contactinformation', label: 'Contact information' }]);
    expect(fake.stats.serverErrors).toBe(4);
    expect(limiter.stats()).toMatchObject({ serverErrors: 2, retries: 2 });
  });

  it('fails a share of requests at random', async () => {
    const draws = [0.05, 0.9, 0.01];
    const { fake, hubspot } = await start({ rateLimit: null, serverErrorRate: 0.1, random: () => draws.shift() ?? 1 });
    await expect(hubspot.listPropertyGroups()).rejects.toMatchObject({ status: 500 });
    await expect(hubspot.listPropertyGroups()).resolves.toBeDefined();
    await expect(hubspot.listPropertyGroups()).rejects.toMatchObject({ status: 500 });
    expect(fake.stats.serverErrors).toBe(2);
  });

  it('delays responses by the configured latency', async () => {
    const waits: number[] = [];
    const { fake, hubspot } = await start({ rateLimit: null, delay: async (ms) => void waits.push(ms) });
    await hubspot.listPropertyGroups();
    fake.setLatency(250);
    await hubspot.listPropertyGroups();
    expect(waits).toEqual([250]);
  });
});

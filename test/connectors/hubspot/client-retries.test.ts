import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHubSpotClient, type HubSpotClient } from '../../../connectors/hubspot/client.js';
import { propertyDefinitions, PROPERTY_GROUP_NAME } from '../../../connectors/hubspot/properties.js';
import { classifyFailure, HubSpotOutcomeUnknownError, PortalRateLimiter } from '../../../connectors/hubspot/rate-limiter.js';
import { FakeClock } from '../../../src/ports/clock.js';
import { startFakeHubSpot, type FakeAnswer, type FakeHubSpot, type FakeHubSpotOptions } from '../../fakes/hubspot-server.js';

/**
 * Which requests the client lets its limiter send again after an unclear answer (a gateway's 5xx
 * or a lost connection): those that change nothing more when repeated, and never one that creates
 * something. A 429 is retried for every request: HubSpot refuses it without doing the work
 * (https://developers.hubspot.com/docs/api/usage-details).
 */
const TOKEN = 'fake-token';
const CREATE_PROPERTY = 'POST /crm/v3/properties/contacts';
const CREATE_GROUP = 'POST /crm/v3/properties/contacts/groups';
const CREATE_CONTACTS = 'POST /crm/v3/objects/contacts/batch/create';

let fake: FakeHubSpot | null = null;
let dropping: Server | null = null;
afterEach(async () => {
  await fake?.close();
  fake = null;
  if (dropping !== null) {
    const server = dropping;
    dropping = null;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

function limiterOn(clock: FakeClock): PortalRateLimiter {
  return new PortalRateLimiter({
    clock,
    sleep: async (ms) => {
      clock.advance(ms);
    },
    random: () => 0,
  });
}

async function start(options: FakeHubSpotOptions = {}): Promise<{ fake: FakeHubSpot; hubspot: HubSpotClient; clock: FakeClock }> {
  const clock = new FakeClock('2026-03-02T10:00:00.000Z');
  fake = await startFakeHubSpot({ now: () => clock.now().getTime(), accessToken: TOKEN, rateLimit: null, ...options });
  return { fake, hubspot: createHubSpotClient({ accessToken: TOKEN, basePath: fake.url, limiter: limiterOn(clock) }), clock };
}

/** What a gateway answers when HubSpot did the work but the answer was lost on the way back. */
const lostAfterWork =
  (status: number) =>
  (_answer: FakeAnswer): FakeAnswer => ({ status, html: `<html><body><h1>${status}</h1>The server is temporarily unavailable.</body></html>` });

const definition = (name: string) => {
  const found = propertyDefinitions().find((d) => d.name === name);
  if (found === undefined) throw new Error(`no definition ${name}`);
  return found;
};

describe('requests that create something are not sent again after an unclear answer', () => {
  it('createProperty: a 502 after HubSpot created the property fails at once, saying the outcome is unknown', async () => {
    const { fake, hubspot } = await start();
    await hubspot.createPropertyGroup({ name: PROPERTY_GROUP_NAME, label: 'Consentry', displayOrder: -1 });
    fake.rewriteNext(CREATE_PROPERTY, lostAfterWork(502));
    const failure = hubspot.createProperty(definition('consentry_sms_status'));
    await expect(failure).rejects.toBeInstanceOf(HubSpotOutcomeUnknownError);
    await expect(failure).rejects.toMatchObject({ code: 'HUBSPOT_OUTCOME_UNKNOWN', status: 502 });
    expect(fake.stats.byEndpoint[CREATE_PROPERTY]).toBe(1);
    // HubSpot did create it: reading it back is how the caller learns so.
    expect((await hubspot.getProperty('consentry_sms_status')).name).toBe('consentry_sms_status');
  });

  it('createPropertyGroup: a 503 is not sent again', async () => {
    const { fake, hubspot } = await start();
    fake.failNext(1, 503);
    await expect(hubspot.createPropertyGroup({ name: PROPERTY_GROUP_NAME, label: 'Consentry', displayOrder: -1 })).rejects.toMatchObject({
      code: 'HUBSPOT_OUTCOME_UNKNOWN',
      status: 503,
    });
    expect(fake.stats.byEndpoint[CREATE_GROUP]).toBe(1);
    expect(fake.state.groups.has(PROPERTY_GROUP_NAME)).toBe(false);
  });

  it('createContacts: a 504 after the records were made does not make them twice', async () => {
    const { fake, hubspot } = await start();
    fake.rewriteNext(CREATE_CONTACTS, lostAfterWork(504));
    await expect(hubspot.createContacts([{ properties: { email: 'ana.test@example.com' } }])).rejects.toBeInstanceOf(HubSpotOutcomeUnknownError);
    expect(fake.stats.byEndpoint[CREATE_CONTACTS]).toBe(1);
    expect([...fake.state.contacts.values()].filter((c) => c.properties.email === 'ana.test@example.com')).toHaveLength(1);
  });

  it('a 429 is still waited out and sent again, and the record is made once', async () => {
    const { fake, hubspot, clock } = await start({ rateLimit: { max: 2, intervalMs: 10_000 } });
    // Another app used the portal's window.
    for (let i = 0; i < 2; i += 1) await fetch(`${fake.url}/crm/v3/properties/contacts/groups`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const started = clock.now().getTime();
    const created = await hubspot.createContacts([{ properties: { email: 'ben.test@example.com' } }]);
    expect(created.results).toHaveLength(1);
    expect(fake.stats.rateLimitedByPolicy).toEqual({ TEN_SECONDLY_ROLLING: 1 });
    expect(fake.stats.byEndpoint[CREATE_CONTACTS]).toBe(2);
    expect(clock.now().getTime()).toBeGreaterThan(started);
    expect([...fake.state.contacts.values()].filter((c) => c.properties.email === 'ben.test@example.com')).toHaveLength(1);
  });
});

describe('requests that are safe to repeat are sent again after an unclear answer', () => {
  it('batch reads by POST, batch updates, upserts, subscription writes and callback completions', async () => {
    const { fake, hubspot } = await start();
    await hubspot.createPropertyGroup({ name: PROPERTY_GROUP_NAME, label: 'Consentry', displayOrder: -1 });
    await hubspot.createProperty(definition('consentry_sms_status'));
    const id = fake.seedContact({ email: 'ana.test@example.com' });

    fake.rewriteNext('POST /crm/v3/objects/contacts/batch/read', lostAfterWork(502));
    expect((await hubspot.readContactsByEmail(['ana.test@example.com'], [])).results.map((c) => c.id)).toEqual([id]);

    fake.rewriteNext('POST /crm/v3/objects/contacts/batch/update', lostAfterWork(502));
    await hubspot.updateContacts([{ id, properties: { consentry_sms_status: 'opted_out' } }]);
    expect(fake.state.contacts.get(id)?.properties.consentry_sms_status).toBe('opted_out');

    fake.rewriteNext('POST /crm/v3/objects/contacts/batch/upsert', lostAfterWork(504));
    const upserted = await hubspot.upsertContacts([{ id: 'cara.test@example.com', idProperty: 'email', properties: { consentry_sms_status: 'opted_in' } }]);
    expect([...fake.state.contacts.values()].filter((c) => c.properties.email === 'cara.test@example.com').map((c) => c.id)).toEqual(upserted.results.map((r) => r.id));

    fake.rewriteNext('POST /communication-preferences/v3/unsubscribe', lostAfterWork(502));
    expect((await hubspot.unsubscribeEmail({ emailAddress: 'ana.test@example.com', subscriptionId: '1001' })).status).toBe('NOT_SUBSCRIBED');

    fake.rewriteNext('POST /communication-preferences/v4/statuses/batch/write', lostAfterWork(503));
    const v4 = await hubspot.writeEmailSubscriptionsV4([{ subscriberIdString: 'ana.test@example.com', subscriptionId: 1001, channel: 'EMAIL', statusState: 'SUBSCRIBED', legalBasis: 'CONSENT_WITH_NOTICE', legalBasisExplanation: 'Web form' }]);
    expect(v4.results).toHaveLength(1);

    fake.rewriteNext('POST /automation/v4/actions/callbacks/{callbackId}/complete', lostAfterWork(502));
    await hubspot.completeCallback('cb-1', { outcome: 'given' });

    expect(fake.stats.byEndpoint).toMatchObject({
      'POST /crm/v3/objects/contacts/batch/read': 2,
      'POST /crm/v3/objects/contacts/batch/update': 2,
      'POST /crm/v3/objects/contacts/batch/upsert': 2,
      'POST /communication-preferences/v3/unsubscribe': 2,
      'POST /communication-preferences/v4/statuses/batch/write': 2,
      'POST /automation/v4/actions/callbacks/{callbackId}/complete': 2,
    });
  });
});

describe('a connection lost before any answer', () => {
  /** A server that accepts each request and drops its connection without answering. */
  async function droppingServer(): Promise<{ url: string; received: () => number }> {
    let count = 0;
    const server = createServer((req) => {
      count += 1;
      req.socket.destroy();
    });
    dropping = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}`, received: () => count };
  }

  it('is not retried for a create, and is retried for an update until the attempts are used up', async () => {
    const { url, received } = await droppingServer();
    const hubspot = createHubSpotClient({ accessToken: TOKEN, basePath: url, limiter: limiterOn(new FakeClock('2026-03-02T10:00:00.000Z')) });

    const failure = hubspot.createContacts([{ properties: { email: 'ana.test@example.com' } }]);
    await expect(failure).rejects.toBeInstanceOf(HubSpotOutcomeUnknownError);
    await expect(failure).rejects.toMatchObject({ status: null, message: expect.stringContaining('no answer from HubSpot') });
    expect(received()).toBe(1);

    const lastError: unknown = await hubspot.updateContacts([{ id: '1001', properties: { consentry_sms_status: 'opted_out' } }]).catch((error: unknown) => error);
    // The limiter's five attempts, then the network failure itself.
    expect(received()).toBe(1 + 5);
    expect(lastError).not.toBeInstanceOf(HubSpotOutcomeUnknownError);
    expect(classifyFailure(lastError)).toEqual({ kind: 'server_error', status: null });
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { channelPropertyNames, CONTACT_ID_PROPERTY } from '../../../connectors/hubspot/properties.js';
import { hubSpotStateFor } from '../../../connectors/hubspot/state-sqlite.js';
import type { WorkerLogger } from '../../../src/worker/logger.js';
import type { FakeAnswer } from '../../fakes/hubspot-server.js';
import { hubspotProperties, linkedContact, startHarness, syncStatus, type Harness, type HarnessOptions } from './harness.js';

/**
 * "The daily limit resets at midnight based on your time zone setting"
 * (https://developers.hubspot.com/docs/api/usage-details): the sync reads the portal's zone from
 * GET /account-info/v3/details (https://developers.hubspot.com/docs/api/settings/account-information-api)
 * once per session and gives it to the portal's limiter.
 */
const ACCOUNT_INFO = 'GET /account-info/v3/details';
const CREATE_PROPERTY = 'POST /crm/v3/properties/contacts';
const LOS_ANGELES = 'America/Los_Angeles';
const sms = channelPropertyNames('sms');
const whatsapp = channelPropertyNames('whatsapp');
const actor = { kind: 'user' as const, id: 'user-ana' };

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

async function begin(options: HarnessOptions & { at: string }): Promise<Harness> {
  h = await startHarness(options);
  h.clock.set(options.at);
  return h;
}

async function syncFailures(harness: Harness) {
  return (await harness.workspace.listEvents({ types: ['sync.failed'] })).map((e) => e.data);
}

async function optOut(harness: Harness, contactId: string, channel: 'sms' | 'whatsapp'): Promise<void> {
  await harness.workspace.setConsent({ contactId, purpose: 'marketing', channel, status: 'opted_out', source: 'manual', actor });
}

function recordingLogger(): WorkerLogger & { lines: { level: string; message: string; details: object }[] } {
  const lines: { level: string; message: string; details: object }[] = [];
  return {
    lines,
    warn: (details, message) => lines.push({ level: 'warn', message, details }),
    error: (details, message) => lines.push({ level: 'error', message, details }),
  };
}

const gatewayPage = (status: number) => (): FakeAnswer => ({ status, html: `<html><body><h1>${status}</h1>The server is temporarily unavailable.</body></html>` });

describe("HubSpot sync: the daily limit resets at the portal's midnight", () => {
  it.each([
    { season: 'winter', refusedAt: '2026-03-02T17:00:00.000Z', reset: '2026-03-03T08:00:00.000Z', utcMidnight: '2026-03-03T00:00:00.000Z' },
    { season: 'summer time', refusedAt: '2026-07-01T17:00:00.000Z', reset: '2026-07-02T07:00:00.000Z', utcMidnight: '2026-07-02T00:00:00.000Z' },
  ])('holds a Los Angeles portal refused at 17:00Z until its midnight ($season), not UTC midnight', async ({ refusedAt, reset, utcMidnight }) => {
    const harness = await begin({ fake: { account: { timeZone: LOS_ANGELES } }, at: new Date(Date.parse(refusedAt) - 60 * 60 * 1000).toISOString() });
    const { contactId, hubspotId } = await linkedContact(harness, 'ana.test@example.com');
    await optOut(harness, contactId, 'sms');
    await harness.sync.drain();
    expect(hubspotProperties(harness, hubspotId)[sms.status]).toBe('opted_out');

    harness.clock.set(refusedAt);
    harness.fake.setDailyLimit(0);
    await optOut(harness, contactId, 'whatsapp');
    await harness.sync.drain();
    expect((await syncStatus(harness)).pausedUntil).toBe(reset);
    expect(harness.fake.stats.byEndpoint[ACCOUNT_INFO]).toBe(1);

    // UTC midnight passed, Los Angeles' did not: nothing is sent.
    harness.fake.resetStats();
    harness.clock.set(Date.parse(utcMidnight) + 1000);
    await harness.sync.drain();
    expect(harness.fake.stats.requests).toBe(0);
    expect((await syncStatus(harness)).backlog.pending).toBe(1);

    harness.fake.setDailyLimit(null);
    harness.clock.set(Date.parse(reset) + 1000);
    await harness.sync.drain();
    expect(hubspotProperties(harness, hubspotId)[whatsapp.status]).toBe('opted_out');
    expect((await syncStatus(harness)).pausedUntil).toBeNull();
    expect(await syncFailures(harness)).toEqual([expect.objectContaining({ operation: 'sync', reason: expect.stringContaining(reset) })]);
    // Not asked again.
    expect(harness.fake.stats.byEndpoint[ACCOUNT_INFO]).toBeUndefined();
  });

  it('reads the account details once per session, not on the next batches; a new token for the portal keeps what was learned', async () => {
    const harness = await begin({ fake: { accessToken: null, account: { timeZone: LOS_ANGELES } }, at: '2026-03-02T16:00:00.000Z' });
    const { contactId, hubspotId } = await linkedContact(harness, 'ana.test@example.com');
    await optOut(harness, contactId, 'sms');
    await harness.sync.drain();
    expect(harness.fake.stats.byEndpoint[ACCOUNT_INFO]).toBe(1);
    await optOut(harness, contactId, 'whatsapp');
    await harness.sync.drain();
    expect(hubspotProperties(harness, hubspotId)[whatsapp.status]).toBe('opted_out');
    expect(harness.fake.stats.byEndpoint['POST /crm/v3/objects/contacts/batch/update']).toBe(2);
    expect(harness.fake.stats.byEndpoint[ACCOUNT_INFO]).toBe(1);

    const rotated = 'pat-na1-22222222-3333-4444-5555-666666666666';
    await harness.workspace.updateSettings({ hubspot: { accessToken: rotated } });
    await harness.workspace.addTag(contactId, 'VIP');
    await harness.sync.drain();
    expect(hubspotProperties(harness, hubspotId).consentry_tags).toBe('VIP');
    expect(harness.fake.stats.byEndpoint[ACCOUNT_INFO]).toBe(1);

    harness.clock.set('2026-03-02T17:00:00.000Z');
    harness.fake.setDailyLimit(0);
    await optOut(harness, contactId, 'sms');
    await harness.sync.drain();
    expect((await syncStatus(harness)).pausedUntil).toBe('2026-03-03T08:00:00.000Z');
  });

  it.each([
    { failure: '403 (a token without the oauth scope)', answer: (): FakeAnswer => ({ status: 403, body: { status: 'error', message: 'This oauth-token does not have proper permissions! (requires any of [oauth])', category: 'MISSING_SCOPES' } }), times: 1, askedAgain: false },
    { failure: '503 on every attempt', answer: gatewayPage(503), times: 5, askedAgain: true },
  ])('goes on when the account details cannot be read ($failure), and then asks HubSpot again hourly', async ({ answer, times, askedAgain }) => {
    const logger = recordingLogger();
    const harness = await begin({ fake: { account: { timeZone: LOS_ANGELES } }, sync: { logger }, at: '2026-03-02T16:00:00.000Z' });
    harness.fake.rewriteNext(ACCOUNT_INFO, answer, times);
    const { contactId, hubspotId } = await linkedContact(harness, 'ana.test@example.com');
    await optOut(harness, contactId, 'sms');
    await harness.sync.drain();
    expect(hubspotProperties(harness, hubspotId)[sms.status]).toBe('opted_out');
    expect(harness.fake.stats.byEndpoint[ACCOUNT_INFO]).toBe(times);
    const view = await syncStatus(harness);
    expect(view.heldReason).toBeNull();
    expect(view.backlog.pending).toBe(0);
    expect(await syncFailures(harness)).toEqual([]);
    expect(logger.lines).toEqual([
      { level: 'warn', message: expect.stringContaining("could not read the HubSpot account's time zone"), details: { workspaceId: harness.workspaceId, error: expect.any(String) } },
    ]);

    harness.clock.set('2026-03-02T17:00:00.000Z');
    harness.fake.setDailyLimit(0);
    await optOut(harness, contactId, 'whatsapp');
    await harness.sync.drain();
    expect((await syncStatus(harness)).pausedUntil).toBe('2026-03-02T18:00:00.000Z');

    // The next hour's probe is refused too: paused again, announced once.
    harness.clock.set('2026-03-02T18:00:01.000Z');
    await harness.sync.drain();
    expect((await syncStatus(harness)).pausedUntil).toBe('2026-03-02T19:00:01.000Z');
    expect(harness.fake.stats.rateLimitedByPolicy.DAILY).toBe(2);
    expect(await syncFailures(harness)).toEqual([expect.objectContaining({ operation: 'sync', reason: expect.stringContaining('2026-03-02T18:00:00.000Z') })]);

    harness.fake.setDailyLimit(null);
    harness.clock.set('2026-03-02T19:00:02.000Z');
    await harness.sync.drain();
    expect(hubspotProperties(harness, hubspotId)[whatsapp.status]).toBe('opted_out');
    expect((await syncStatus(harness)).pausedUntil).toBeNull();
    // A refusal (403) is HubSpot's answer for the session; a failure (503) is asked again by later tasks.
    const asked = harness.fake.stats.byEndpoint[ACCOUNT_INFO] ?? 0;
    expect(askedAgain ? asked > times : asked === times).toBe(true);
  });

  it('learns the zone once HubSpot accepts again when the limit was already used up as the sync started', async () => {
    const harness = await begin({ fake: { account: { timeZone: LOS_ANGELES } }, at: '2026-03-02T17:00:00.000Z' });
    harness.fake.setDailyLimit(0);
    const { contactId, hubspotId } = await linkedContact(harness, 'ana.test@example.com');
    await optOut(harness, contactId, 'sms');
    await harness.sync.drain();
    expect((await syncStatus(harness)).pausedUntil).toBe('2026-03-02T18:00:00.000Z');

    harness.fake.setDailyLimit(null);
    harness.clock.set('2026-03-02T18:00:01.000Z');
    await harness.sync.drain();
    expect(hubspotProperties(harness, hubspotId)[sms.status]).toBe('opted_out');
    expect(harness.fake.stats.byEndpoint[ACCOUNT_INFO]).toBe(1);

    harness.clock.set('2026-03-03T17:00:00.000Z');
    harness.fake.setDailyLimit(0);
    await optOut(harness, contactId, 'whatsapp');
    await harness.sync.drain();
    expect((await syncStatus(harness)).pausedUntil).toBe('2026-03-04T08:00:00.000Z');
  });
});

describe('HubSpot sync: a property creation whose answer was lost', () => {
  it('is not sent again; the next attempt reads the property back and writes the change', async () => {
    const harness = await begin({ at: '2026-03-02T10:00:00.000Z' });
    harness.fake.state.properties.delete(CONTACT_ID_PROPERTY);
    // HubSpot creates the property; a gateway loses the answer.
    harness.fake.rewriteNext(CREATE_PROPERTY, gatewayPage(502));
    const { contactId, hubspotId } = await linkedContact(harness, 'ana.test@example.com');
    await optOut(harness, contactId, 'sms');
    await harness.sync.drain();
    expect(harness.fake.state.properties.has(CONTACT_ID_PROPERTY)).toBe(true);
    // One create; the change's next attempt listed the properties again and found it.
    expect(harness.fake.stats.byEndpoint[CREATE_PROPERTY]).toBe(1);
    expect(harness.fake.stats.byEndpoint['GET /crm/v3/properties/contacts']).toBe(2);
    expect(hubspotProperties(harness, hubspotId)[sms.status]).toBe('opted_out');
    const view = await syncStatus(harness);
    expect(view.lastError).toContain('HubSpot answered 502 to a request that is not safe to send twice: whether HubSpot carried it out is unknown');
    expect(view.backlog.pending).toBe(0);
    expect(view.deadLetters.count).toBe(0);
    expect(await syncFailures(harness)).toEqual([]);
  });
});

import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { channelPropertyNames, PRIVACY_STATUS_PROPERTY, TAGS_PROPERTY } from '../../../connectors/hubspot/properties.js';
import { hubSpotStateFor } from '../../../connectors/hubspot/state-sqlite.js';
import { hubSpotStatus } from '../../../connectors/hubspot/status.js';
import { ERASED } from '../../../src/core/events.js';
import { hubspotProperties, linkedContact, startHarness, SUBSCRIPTION_ID, type Harness } from './harness.js';

const sms = channelPropertyNames('sms');
const whatsapp = channelPropertyNames('whatsapp');
const email = channelPropertyNames('email');
const actor = { kind: 'user' as const, id: 'user-ana' };
const ANA_EMAIL = 'ana.test@example.com';
const ANA_PHONE = '+34600000001';
/** Everything of Ana's, but her address, that could travel to HubSpot or stay in the connector's tables. */
const ANA_DATA = ['Ana Test', ANA_PHONE, 'VIP-Ana', 'Ana ticked the SMS box', 'Ana asked to stop'];
const NEXT_MIDNIGHT = '2026-03-03T00:00:01.000Z';

/**
 * Every request the connector makes to the fake HubSpot (on 127.0.0.1), as sent; msw only
 * watches them go by, and fails any request bound elsewhere.
 */
const watcher = setupServer();
const sent: Promise<string>[] = [];
beforeAll(() =>
  watcher.listen({
    onUnhandledRequest: (request, print) => {
      if (new URL(request.url).hostname !== '127.0.0.1') print.error();
    },
  }),
);
afterAll(() => watcher.close());
watcher.events.on('request:start', ({ request }) => {
  sent.push(request.clone().text().then((body) => `${request.method} ${new URL(request.url).pathname} ${body}`));
});
const requestsFrom = async (index: number): Promise<string[]> => (await Promise.all(sent)).slice(index);

/** Lets pending I/O and promises run until `condition` holds (no timers: nothing waits on real time). */
async function until(condition: () => Promise<boolean>, turns = 1000): Promise<void> {
  for (let turn = 0; turn < turns; turn += 1) {
    if (await condition()) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error('the condition never held');
}

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

describe.each([
  ['in memory', false],
  ['on SQLite', true],
])('HubSpot sync of an erased contact (%s)', (_name, sqlite) => {
  async function rowsOf(harness: Harness, contactId: string) {
    return hubSpotStateFor(harness.store).transaction((s) => s.listContactChanges(harness.workspaceId, contactId));
  }

  async function syncStateOf(harness: Harness, contactId: string) {
    return (await hubSpotStateFor(harness.store).transaction((s) => s.getContactStates(harness.workspaceId, [contactId]))).get(contactId);
  }

  async function status(harness: Harness) {
    return hubSpotStatus(hubSpotStateFor(harness.store), await harness.workspace.get(), {}, true, harness.clock.now());
  }

  it('sends only its opt-outs, by HubSpot id, and keeps nothing of the person in its rows or state; other contacts go on as before', async () => {
    h = await startHarness({ sqlite });
    const ana = await linkedContact(h, ANA_EMAIL);
    await h.workspace.updateContact(ana.contactId, { name: 'Ana Test' });
    const ben = await linkedContact(h, 'ben.test@example.com');
    // An opt-in already in HubSpot: its echo state holds a written value, and the stamp stays after erasure.
    await h.workspace.setConsent({ contactId: ana.contactId, purpose: 'marketing', channel: 'webchat', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Web form', source: 'manual', actor });
    await h.sync.drain();
    expect(hubspotProperties(h, ana.hubspotId)[channelPropertyNames('webchat').status]).toBe('opted_in');

    // HubSpot's daily limit is used up: the next changes wait in the connector's tables.
    h.fake.setDailyLimit(0);
    h.clock.advance(1000);
    await h.workspace.setConsent({ contactId: ana.contactId, purpose: 'marketing', channel: 'sms', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Ana ticked the SMS box', source: 'manual', actor });
    await h.workspace.addTag(ana.contactId, 'VIP-Ana');
    await h.workspace.updateContact(ana.contactId, { phone: ANA_PHONE });
    await h.workspace.setConsent({ contactId: ana.contactId, purpose: 'marketing', channel: 'whatsapp', status: 'opted_out', explanation: 'Ana asked to stop', source: 'manual', actor });
    await h.workspace.setConsent({ contactId: ana.contactId, purpose: 'marketing', channel: 'email', status: 'opted_out', source: 'manual', actor });
    await h.workspace.setConsent({ contactId: ben.contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor });
    await h.workspace.addTag(ben.contactId, 'VIP');
    await h.sync.drain();
    expect((await status(h)).pausedUntil).not.toBeNull();
    const waiting = JSON.stringify(await rowsOf(h, ana.contactId));
    expect(waiting).toContain('VIP-Ana');
    expect(waiting).toContain(ANA_PHONE);
    expect(waiting).toContain('Ana ticked the SMS box');
    const benRowsBefore = await rowsOf(h, ben.contactId);

    await h.workspace.eraseContact(ana.contactId);
    await h.sync.drain();
    const redacted = await rowsOf(h, ana.contactId);
    for (const personal of [...ANA_DATA, ANA_EMAIL]) expect(JSON.stringify(redacted)).not.toContain(personal);
    expect(redacted.map((row) => `${row.target}:${row.status}`)).toEqual(['contact:pending', 'contact:pending', 'email:pending']);
    expect(redacted[0]?.payload).toEqual({
      kind: 'contact',
      properties: expect.objectContaining({ [whatsapp.status]: 'opted_out', [whatsapp.explanation]: '', [whatsapp.source]: 'manual' }),
    });
    expect(redacted[2]?.payload).toEqual({ kind: 'email', status: 'opted_out', legalBasis: null, explanation: null });
    expect(await rowsOf(h, ben.contactId)).toEqual(benRowsBefore);

    h.fake.setDailyLimit(null);
    h.clock.set(NEXT_MIDNIGHT);
    const firstRequest = (await Promise.all(sent)).length;
    await h.sync.drain();

    const record = hubspotProperties(h, ana.hubspotId);
    expect(record).toEqual(
      expect.objectContaining({ [whatsapp.status]: 'opted_out', [whatsapp.explanation]: '', [email.status]: 'opted_out', [channelPropertyNames('webchat').status]: 'opted_in' }),
    );
    expect(record[sms.status]).toBeUndefined();
    expect(record[TAGS_PROPERTY]).toBeUndefined();
    expect(record.phone).toBeUndefined();
    expect(h.fake.state.emailSubscriptions.get(ANA_EMAIL)?.get(SUBSCRIPTION_ID)).toEqual({ status: 'NOT_SUBSCRIBED', legalBasis: null, legalBasisExplanation: null });
    expect(hubspotProperties(h, ben.hubspotId)).toEqual(expect.objectContaining({ [sms.status]: 'opted_out', [TAGS_PROPERTY]: 'VIP' }));

    const requests = await requestsFrom(firstRequest);
    expect(requests.length).toBeGreaterThan(0);
    for (const request of requests) for (const personal of ANA_DATA) expect(request).not.toContain(personal);
    // The address goes out once, read from the HubSpot record for the unsubscription; never to find or create a contact.
    expect(requests.filter((request) => request.includes(ANA_EMAIL))).toEqual([expect.stringMatching(/^POST \/communication-preferences\/v4\/statuses\/batch\/write .*NOT_SUBSCRIBED/)]);
    expect(h.fake.stats.byEndpoint['POST /crm/v3/objects/contacts/search']).toBeUndefined();
    expect(h.fake.stats.byEndpoint['POST /crm/v3/objects/contacts/batch/create']).toBeUndefined();

    expect(await rowsOf(h, ana.contactId)).toEqual([]);
    expect((await status(h)).deadLetters.count).toBe(0);
    const state = await syncStateOf(h, ana.contactId);
    expect(state?.stamps[whatsapp.status]).toBeDefined();
    expect(Object.keys(state?.writes ?? {}).every((property) => property.endsWith('_status'))).toBe(true);
    for (const personal of [...ANA_DATA, ANA_EMAIL]) expect(JSON.stringify(state)).not.toContain(personal);
  });

  it('redacts its dead letters and the failures raised for them, and sends nothing for a contact HubSpot does not know by id', async () => {
    h = await startHarness({ sqlite });
    const cara = await h.workspace.createContact({ name: 'Cara Test', email: 'cara.test@example.com' });
    await h.workspace.setConsent({ contactId: cara.id, purpose: 'marketing', channel: 'sms', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Cara ticked the box', source: 'manual', actor });
    await h.workspace.addTag(cara.id, 'VIP-Cara');
    await h.sync.drain();
    expect((await status(h)).deadLetters.count).toBe(2);
    expect(JSON.stringify(await rowsOf(h, cara.id))).toContain('Cara ticked the box');

    // An opt-out waiting when the erasure comes: without a HubSpot id there is no way to reach the record.
    await h.workspace.setConsent({ contactId: cara.id, purpose: 'marketing', channel: 'email', status: 'opted_out', source: 'manual', actor });
    await h.workspace.eraseContact(cara.id);
    const firstRequest = (await Promise.all(sent)).length;
    await h.sync.drain();
    expect(await requestsFrom(firstRequest)).toEqual([]);

    const rows = await rowsOf(h, cara.id);
    expect(rows.map((row) => `${row.target}:${row.status}:${row.lastError}`)).toEqual([`contact:dead:${ERASED}`, `contact:dead:${ERASED}`]);
    expect(rows[0]?.payload).toEqual({
      kind: 'contact',
      properties: expect.objectContaining({ [sms.status]: 'opted_in', [sms.legalBasis]: 'CONSENT_WITH_NOTICE', [sms.explanation]: '' }),
    });
    expect(rows[1]?.payload).toEqual({ kind: 'contact', properties: {} });
    for (const personal of ['Cara Test', 'cara.test@example.com', 'Cara ticked the box', 'VIP-Cara']) expect(JSON.stringify(rows)).not.toContain(personal);
    expect((await status(h)).deadLetters.count).toBe(2);
  });

  /**
   * Ana's tag and opt-outs are in a call HubSpot holds when her erasure is read by another pass;
   * the call then fails with `failure`.
   */
  async function erasedWhileInFlight(failure: { count: number; status: number }): Promise<{ harness: Harness; ana: { contactId: string; hubspotId: string } }> {
    let hold: Promise<void> | null = null;
    let release: () => void = () => undefined;
    let held: () => void = () => undefined;
    const reached = new Promise<void>((resolve) => (held = resolve));
    h = await startHarness({
      sqlite,
      fake: {
        latencyMs: 1,
        delay: () => {
          if (hold === null) return Promise.resolve();
          held();
          return hold;
        },
      },
    });
    const harness = h;
    const ana = await linkedContact(harness, ANA_EMAIL);
    await harness.workspace.addTag(ana.contactId, 'VIP-Ana');
    await harness.workspace.setConsent({ contactId: ana.contactId, purpose: 'marketing', channel: 'whatsapp', status: 'opted_out', explanation: 'Ana asked to stop', source: 'manual', actor });
    await harness.workspace.setConsent({ contactId: ana.contactId, purpose: 'privacy', channel: 'whatsapp', status: 'opted_out', source: 'manual', actor });

    hold = new Promise<void>((resolve) => (release = resolve));
    const inFlight = harness.sync.runOnce();
    await reached;
    await harness.workspace.eraseContact(ana.contactId);
    // A pass while the call waits: it reads the erasure and redacts the rows the call holds a copy of.
    const erasing = harness.sync.runOnce();
    await until(async () => !JSON.stringify(await rowsOf(harness, ana.contactId)).includes('Ana asked to stop'));
    harness.fake.failNext(failure.count, failure.status);
    hold = null;
    release();
    await Promise.all([inFlight, erasing]);
    harness.fake.failNext(0);
    return { harness, ana };
  }

  it('writes back as erased the rows of a call that was in flight when the erasure was read, and retries only the opt-outs', async () => {
    const { harness, ana } = await erasedWhileInFlight({ count: 1000, status: 503 });

    const rows = await rowsOf(harness, ana.contactId);
    expect(rows.map((row) => `${row.status}:${row.attempts}:${row.lastError}`)).toEqual([`pending:1:${ERASED}`, `pending:1:${ERASED}`]);
    expect(rows[0]?.payload).toEqual({ kind: 'contact', properties: expect.objectContaining({ [whatsapp.status]: 'opted_out', [whatsapp.explanation]: '' }) });
    expect(rows[1]?.payload).toEqual({ kind: 'contact', properties: { [PRIVACY_STATUS_PROPERTY]: 'opted_out', consentry_privacy_date: expect.any(String) } });
    for (const personal of [...ANA_DATA, ANA_EMAIL]) expect(JSON.stringify(rows)).not.toContain(personal);

    harness.clock.advance(60 * 60 * 1000);
    await harness.sync.drain();
    const record = hubspotProperties(harness, ana.hubspotId);
    expect(record).toEqual(expect.objectContaining({ [PRIVACY_STATUS_PROPERTY]: 'opted_out', [whatsapp.status]: 'opted_out', [whatsapp.explanation]: '' }));
    expect(record[TAGS_PROPERTY]).toBeUndefined();
    expect(await rowsOf(harness, ana.contactId)).toEqual([]);
  });

  it('raises the failure of such a call, when it fails for good, without quoting HubSpot', async () => {
    const { harness, ana } = await erasedWhileInFlight({ count: 1, status: 400 });
    const rows = await rowsOf(harness, ana.contactId);
    expect(rows.map((row) => `${row.status}:${row.lastError}`)).toEqual([`dead:${ERASED}`, `dead:${ERASED}`]);
    const failures = (await harness.workspace.listEvents({ types: ['sync.failed'] })).map((event) => event.data);
    expect(failures).toEqual([expect.objectContaining({ contactId: ana.contactId, reason: ERASED, retryable: false })]);
  });
});

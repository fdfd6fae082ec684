import { afterEach, describe, expect, it, vi } from 'vitest';
import { defaultWorkers } from '../../../src/worker/index.js';
import { channelPropertyNames, PRIVACY_STATUS_PROPERTY, TAGS_PROPERTY } from '../../../connectors/hubspot/properties.js';
import { hubSpotStateFor } from '../../../connectors/hubspot/state-sqlite.js';
import { HUBSPOT_CURSOR_KEY } from '../../../connectors/hubspot/fan-out.js';
import { installProperties } from '../../../connectors/hubspot/install.js';
import { HubSpotSync } from '../../../connectors/hubspot/sync.js';
import { hubspotProperties, linkedContact, PORTAL_ID, startHarness, SUBSCRIPTION_ID, syncStatus, TOKEN, type Harness } from './harness.js';

const sms = channelPropertyNames('sms');
const email = channelPropertyNames('email');
const whatsapp = channelPropertyNames('whatsapp');
const actor = { kind: 'user' as const, id: 'user-ana' };

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

async function syncFailures(harness: Harness) {
  return (await harness.workspace.listEvents({ types: ['sync.failed'] })).map((e) => e.data);
}

describe('HubSpot sync: pushing changes', () => {
  it('writes a consent decision to the matched contact with every channel property', async () => {
    h = await startHarness();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    await h.workspace.setConsent({
      contactId,
      purpose: 'marketing',
      channel: 'sms',
      status: 'opted_in',
      legalBasis: 'CONSENT_WITH_NOTICE',
      explanation: 'Ticked the SMS box at checkout',
      source: 'manual',
      actor,
    });
    const summary = await h.sync.drain();
    expect(summary.done).toBe(1);
    expect(hubspotProperties(h, hubspotId)).toEqual(
      expect.objectContaining({
        [sms.status]: 'opted_in',
        [sms.legalBasis]: 'CONSENT_WITH_NOTICE',
        [sms.explanation]: 'Ticked the SMS box at checkout',
        [sms.updatedAt]: '2026-03-02T10:00:00.000Z',
        [sms.source]: 'manual',
      }),
    );
    expect((await syncStatus(h)).backlog.pending).toBe(0);
    expect((await syncStatus(h)).lastSuccessAt).toBe('2026-03-02T10:00:00.000Z');
  });

  it('coalesces several changes of one contact into one record with the latest state, in batches of at most 100', async () => {
    h = await startHarness();
    const contacts = [];
    for (let i = 0; i < 150; i += 1) contacts.push(await linkedContact(h, `contact${i}@example.com`));
    for (const { contactId } of contacts) {
      await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'whatsapp', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Form', source: 'manual', actor });
    }
    const first = contacts[0];
    if (first === undefined) throw new Error('no contact');
    h.clock.advance(1000);
    await h.workspace.setConsent({ contactId: first.contactId, purpose: 'marketing', channel: 'whatsapp', status: 'opted_out', source: 'manual', actor });
    h.clock.advance(1000);
    await h.workspace.addTag(first.contactId, 'VIP');
    await h.sync.drain();
    expect(h.fake.stats.byEndpoint['POST /crm/v3/objects/contacts/batch/update']).toBe(2);
    expect(hubspotProperties(h, first.hubspotId)).toEqual(expect.objectContaining({ [whatsapp.status]: 'opted_out', [whatsapp.legalBasis]: '', [TAGS_PROPERTY]: 'VIP' }));
    const last = contacts[149];
    expect(last === undefined ? null : hubspotProperties(h, last.hubspotId)[whatsapp.status]).toBe('opted_in');
    // The tags property's options grew with the new tag (HubSpot refuses values without an option).
    expect(h.fake.state.properties.get(TAGS_PROPERTY)?.options.map((o) => o.value)).toEqual(['VIP']);
  });

  it('never writes an older state over a newer one', async () => {
    h = await startHarness();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor, occurredAt: '2026-03-02T09:00:00.000Z' });
    await h.sync.drain();
    // A decision on channel `any` made earlier (an import of the past) reaches the outbox later.
    await h.workspace.setConsent({
      contactId,
      purpose: 'marketing',
      channel: 'any',
      status: 'opted_in',
      legalBasis: 'LEGITIMATE_INTEREST_CLIENT',
      explanation: 'Existing customer',
      source: 'bulk',
      actor,
      occurredAt: '2026-03-02T08:00:00.000Z',
    });
    await h.sync.drain();
    const properties = hubspotProperties(h, hubspotId);
    expect(properties[sms.status]).toBe('opted_out');
    expect(properties[sms.updatedAt]).toBe('2026-03-02T09:00:00.000Z');
    expect(properties[whatsapp.status]).toBe('opted_in');
  });

  it('matches by e-mail with one batch read, then by phone, and stores the HubSpot id', async () => {
    h = await startHarness();
    const byEmail = h.fake.seedContact({ email: 'ana.test@example.com' });
    const byPhone = h.fake.seedContact({ mobilephone: '+34600000002' });
    const ana = await h.workspace.createContact({ email: 'ana.test@example.com' });
    const bea = await h.workspace.createContact({ phone: '+34600000002' });
    for (const contactId of [ana.id, bea.id]) {
      await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor });
    }
    await h.sync.drain();
    expect(hubspotProperties(h, byEmail)[sms.status]).toBe('opted_out');
    expect(hubspotProperties(h, byPhone)[sms.status]).toBe('opted_out');
    expect((await h.workspace.getContact(ana.id)).hubspotId).toBe(byEmail);
    expect((await h.workspace.getContact(bea.id)).hubspotId).toBe(byPhone);
    expect(h.fake.stats.byEndpoint['POST /crm/v3/objects/contacts/batch/read']).toBe(1);
    expect(h.fake.stats.byEndpoint['POST /crm/v3/objects/contacts/search']).toBe(1);
    expect(h.fake.state.contacts.size).toBe(2);
  });

  it('creates a missing contact when configured, with its e-mail and phone', async () => {
    h = await startHarness({ hubspot: { createMissingContacts: true } });
    const contact = await h.workspace.createContact({ email: 'new.test@example.com', phone: '+34600000003' });
    await h.workspace.setConsent({ contactId: contact.id, purpose: 'privacy', channel: 'whatsapp', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Agreed in chat', source: 'manual', actor });
    await h.sync.drain();
    const hubspotId = (await h.workspace.getContact(contact.id)).hubspotId;
    expect(hubspotId).not.toBeNull();
    expect(hubspotProperties(h, hubspotId ?? '')).toEqual(
      expect.objectContaining({ email: 'new.test@example.com', phone: '+34600000003', [PRIVACY_STATUS_PROPERTY]: 'opted_in' }),
    );
    // The next change updates the stored record instead of creating another.
    await h.workspace.addTag(contact.id, 'Consent: Privacy');
    await h.sync.drain();
    expect(h.fake.state.contacts.size).toBe(1);
    expect(hubspotProperties(h, hubspotId ?? '')[TAGS_PROPERTY]).toBe('Consent: Privacy');
  });

  it('dead-letters a change whose contact HubSpot does not have, raises sync.failed and shows it in the status', async () => {
    h = await startHarness();
    const contact = await h.workspace.createContact({ email: 'nobody.test@example.com' });
    await h.workspace.setConsent({ contactId: contact.id, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor });
    const summary = await h.sync.drain();
    expect(summary.dead).toBe(1);
    expect(await syncFailures(h)).toEqual([
      expect.objectContaining({ integration: 'hubspot', contactId: contact.id, operation: 'match_contact', retryable: false }),
    ]);
    const view = await syncStatus(h);
    expect(view.backlog.pending).toBe(0);
    expect(view.deadLetters.count).toBe(1);
    expect(view.deadLetters.recent[0]).toEqual(expect.objectContaining({ contactId: contact.id, target: 'contact', attempts: 1 }));
    expect(h.fake.state.contacts.size).toBe(0);
  });

  it('pushes a collected e-mail and phone', async () => {
    h = await startHarness();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    await h.workspace.updateContact(contactId, { phone: '+34600000001' });
    await h.sync.drain();
    expect(hubspotProperties(h, hubspotId)).toEqual(expect.objectContaining({ email: 'ana.test@example.com', phone: '+34600000001' }));
  });

  it('splits a batch HubSpot refuses and dead-letters only the record at fault', async () => {
    h = await startHarness();
    h.fake.seedContact({ email: 'taken.test@example.com' });
    const good = await linkedContact(h, 'good.test@example.com');
    const bad = await linkedContact(h, 'bad.test@example.com');
    await h.workspace.setConsent({ contactId: good.contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor });
    // Consentry accepts the address; HubSpot answers 409 because another record has it.
    await h.workspace.updateContact(bad.contactId, { email: 'taken.test@example.com' });
    const summary = await h.sync.drain();
    expect(summary.done).toBe(1);
    expect(summary.dead).toBe(1);
    expect(hubspotProperties(h, good.hubspotId)[sms.status]).toBe('opted_out');
    expect(hubspotProperties(h, bad.hubspotId).email).toBe('bad.test@example.com');
    expect((await syncFailures(h))[0]).toEqual(expect.objectContaining({ contactId: bad.contactId, operation: 'update_contact' }));
  });

  it('matches again when the stored HubSpot id no longer exists', async () => {
    h = await startHarness();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    h.fake.state.contacts.delete(hubspotId);
    const fresh = h.fake.seedContact({ email: 'ana.test@example.com' });
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor });
    await h.sync.runOnce();
    expect((await h.workspace.getContact(contactId)).hubspotId).toBeNull();
    h.clock.advance(60 * 60 * 1000);
    await h.sync.drain();
    expect((await h.workspace.getContact(contactId)).hubspotId).toBe(fresh);
    expect(hubspotProperties(h, fresh)[sms.status]).toBe('opted_out');
  });

  it('syncs several workspaces, each with its own portal, in one pass', async () => {
    h = await startHarness({ sync: { maxInFlightTasks: 2 } });
    const other = await h.engine.createWorkspace({ name: 'Second shop', settings: { hubspot: { accessToken: TOKEN, portalId: '70000' } } });
    const second = h.engine.workspace(other.id);
    const first = await linkedContact(h, 'ana.test@example.com');
    const otherHubspotId = h.fake.seedContact({ email: 'bea.test@example.com' });
    const bea = await second.createContact({ email: 'bea.test@example.com' });
    await second.linkHubspotContacts([{ contactId: bea.id, hubspotId: otherHubspotId }]);
    await h.workspace.setConsent({ contactId: first.contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor });
    await second.setConsent({ contactId: bea.id, purpose: 'marketing', channel: 'webchat', status: 'opted_out', source: 'manual', actor });
    await h.workspace.setConsent({ contactId: first.contactId, purpose: 'privacy', channel: 'webchat', status: 'opted_out', source: 'manual', actor });
    const pass = await h.sync.runOnce();
    expect(pass.tasks).toBe(2);
    expect(hubspotProperties(h, first.hubspotId)).toEqual(expect.objectContaining({ [sms.status]: 'opted_out', [PRIVACY_STATUS_PROPERTY]: 'opted_out' }));
    expect(hubspotProperties(h, otherHubspotId)[channelPropertyNames('webchat').status]).toBe('opted_out');
  });

  it('on SQLite too: rows, stamps and the cursor survive a new dispatcher', async () => {
    h = await startHarness({ sqlite: true });
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor });
    await h.sync.drain();
    const cursor = await h.store.transaction((tx) => tx.getMeta(HUBSPOT_CURSOR_KEY));
    expect(typeof cursor).toBe('number');
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'sms', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Asked again', source: 'manual', actor });
    // A restarted process: a new dispatcher on the same database picks up where the first stopped.
    const restarted = new HubSpotSync({ engine: h.engine, store: h.store, clock: h.clock, connections: h.connections, random: () => 0 });
    const summary = await restarted.drain();
    await restarted.stop();
    expect(summary.events).toBe(1);
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBe('opted_in');
    expect(h.fake.stats.byEndpoint['POST /crm/v3/objects/contacts/batch/update']).toBe(2);
  });
});

describe('HubSpot sync: the background loop', () => {
  it('runs beside the server (defaultWorkers), wakes for new work and stops cleanly', async () => {
    const harness = await startHarness({ sync: { intervalMs: 5 } });
    h = harness;
    const workers = defaultWorkers({ engine: h.engine, store: h.store, clock: h.clock, logger: { info: () => undefined, warn: () => undefined, error: () => undefined } });
    expect(workers.some((worker) => worker instanceof HubSpotSync)).toBe(true);
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    h.sync.start();
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor });
    await vi.waitFor(() => expect(hubspotProperties(harness, hubspotId)[sms.status]).toBe('opted_out'), { timeout: 5000, interval: 10 });
    await h.sync.stop();
    expect((await syncStatus(h)).backlog.pending).toBe(0);
  });
});

describe('HubSpot sync: email subscription', () => {
  it('writes email marketing consent with v4 batch write where the portal has it', async () => {
    h = await startHarness();
    const { contactId } = await linkedContact(h, 'ana.test@example.com');
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'email', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Newsletter form', source: 'manual', actor });
    await h.sync.drain();
    expect(h.fake.state.emailSubscriptions.get('ana.test@example.com')?.get(SUBSCRIPTION_ID)).toEqual({
      status: 'SUBSCRIBED',
      legalBasis: 'CONSENT_WITH_NOTICE',
      legalBasisExplanation: 'Newsletter form',
    });
    expect(h.fake.stats.byEndpoint['POST /communication-preferences/v4/statuses/batch/write']).toBe(1);
    expect(hubspotProperties(h, (await h.workspace.getContact(contactId)).hubspotId ?? '')[email.status]).toBe('opted_in');
  });

  it('falls back to v3 subscribe/unsubscribe when v4 batch write is refused, and remembers it', async () => {
    h = await startHarness({ fake: { v4BatchWrite: false } });
    const { contactId } = await linkedContact(h, 'ana.test@example.com');
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'email', status: 'opted_in', legalBasis: 'LEGITIMATE_INTEREST_CLIENT', explanation: 'Existing customer', source: 'manual', actor });
    await h.sync.drain();
    h.clock.advance(1000);
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'any', status: 'opted_out', source: 'manual', actor });
    await h.sync.drain();
    expect(h.fake.state.emailSubscriptions.get('ana.test@example.com')?.get(SUBSCRIPTION_ID)?.status).toBe('NOT_SUBSCRIBED');
    expect(h.fake.stats.byEndpoint['POST /communication-preferences/v4/statuses/batch/write']).toBe(1);
    expect(h.fake.stats.byEndpoint['POST /communication-preferences/v3/subscribe']).toBe(1);
    expect(h.fake.stats.byEndpoint['POST /communication-preferences/v3/unsubscribe']).toBe(1);
  });

  it('sends only the latest decision of a contact', async () => {
    h = await startHarness({ fake: { v4BatchWrite: false } });
    const { contactId } = await linkedContact(h, 'ana.test@example.com');
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'email', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Form', source: 'manual', actor });
    h.clock.advance(1000);
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'email', status: 'opted_out', source: 'manual', actor });
    await h.sync.drain();
    expect(h.fake.stats.byEndpoint['POST /communication-preferences/v3/subscribe']).toBeUndefined();
    expect(h.fake.stats.byEndpoint['POST /communication-preferences/v3/unsubscribe']).toBe(1);
  });
});

describe('HubSpot sync: limits and failures', () => {
  it("retries 429s by policy and 5xx with backoff; nothing is lost", async () => {
    h = await startHarness({ fake: { rateLimit: { max: 3, intervalMs: 10_000 } } });
    const contacts = [];
    for (let i = 0; i < 5; i += 1) contacts.push(await linkedContact(h, `c${i}@example.com`));
    h.fake.setRateLimit({ max: 3, intervalMs: 10_000 });
    // Another app used the portal's whole window: our first calls meet 429s.
    for (let i = 0; i < 3; i += 1) await fetch(`${h.fake.url}/crm/v3/properties/contacts`, { headers: { authorization: `Bearer ${TOKEN}` } });
    h.fake.failNext(2, 502);
    for (const [i, { contactId }] of contacts.entries()) {
      await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: i % 2 === 0 ? 'sms' : 'whatsapp', status: 'opted_out', source: 'manual', actor });
    }
    await h.sync.drain();
    for (const [i, { hubspotId }] of contacts.entries()) {
      expect(hubspotProperties(h, hubspotId)[(i % 2 === 0 ? sms : whatsapp).status]).toBe('opted_out');
    }
    expect(h.fake.stats.rateLimited).toBeGreaterThan(0);
    expect(h.fake.stats.serverErrors).toBe(2);
    expect((await syncStatus(h)).deadLetters.count).toBe(0);
  });

  it('pauses the portal on the DAILY limit until its next midnight, keeps the changes and raises sync.failed once', async () => {
    h = await startHarness();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    // A first pass learns the portal's time zone (the fake's account is in UTC), where its daily limit resets.
    await h.workspace.addTag(contactId, 'VIP');
    await h.sync.drain();
    h.fake.setDailyLimit(0);
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor });
    await h.sync.drain();
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'whatsapp', status: 'opted_out', source: 'manual', actor });
    await h.sync.drain();
    const paused = await syncStatus(h);
    expect(paused.pausedUntil).toBe('2026-03-03T00:00:00.000Z');
    expect(paused.backlog.pending).toBe(2);
    expect(paused.deadLetters.count).toBe(0);
    expect(await syncFailures(h)).toEqual([expect.objectContaining({ operation: 'sync', retryable: true, contactId: null })]);
    expect(h.fake.stats.rateLimitedByPolicy.DAILY).toBe(1);

    h.fake.setDailyLimit(null);
    h.clock.set('2026-03-03T00:00:01.000Z');
    await h.sync.drain();
    expect(hubspotProperties(h, hubspotId)).toEqual(expect.objectContaining({ [sms.status]: 'opted_out', [whatsapp.status]: 'opted_out' }));
    expect((await syncStatus(h)).pausedUntil).toBeNull();
  });

  it('holds the changes when the properties were never installed, and says what to do', async () => {
    h = await startHarness({ install: false });
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor });
    await h.sync.drain();
    const held = await syncStatus(h);
    expect(held.heldReason).toContain('consentry hubspot install');
    expect(held.backlog.pending).toBe(1);
    expect(await syncFailures(h)).toEqual([expect.objectContaining({ reason: expect.stringContaining('consentry hubspot install') })]);
    await installProperties(h.connections.session({ accessToken: TOKEN, portalId: PORTAL_ID }).client, []);
    h.clock.advance(60 * 60 * 1000);
    await h.sync.drain();
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBe('opted_out');
    expect((await syncStatus(h)).heldReason).toBeNull();
  });

  it('dead-letters after the attempts are used up', async () => {
    h = await startHarness({ sync: { maxAttempts: 2 } });
    const { contactId } = await linkedContact(h, 'ana.test@example.com');
    h.fake.failNext(1000, 503);
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor });
    await h.sync.runOnce();
    expect((await syncStatus(h)).backlog.pending).toBe(1);
    h.clock.advance(60 * 60 * 1000);
    await h.sync.runOnce();
    const view = await syncStatus(h);
    expect(view.deadLetters.count).toBe(1);
    expect(view.deadLetters.recent[0]?.lastError).toContain('gave up after 2 attempts');
    expect(await syncFailures(h)).toHaveLength(1);
  });

  it('syncs nothing for a workspace without HubSpot and never reads its events again', async () => {
    h = await startHarness({ hubspot: null });
    const contact = await h.workspace.createContact({ email: 'ana.test@example.com' });
    await h.workspace.setConsent({ contactId: contact.id, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor });
    const first = await h.sync.drain();
    expect(first.events).toBeGreaterThan(0);
    expect(first.queued).toBe(0);
    expect((await h.sync.drain()).events).toBe(0);
    expect(h.fake.stats.requests).toBe(0);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { HubSpotConnections } from '../../../connectors/hubspot/connections.js';
import { HUBSPOT_PORTALS_KEY } from '../../../connectors/hubspot/fan-out.js';
import { installProperties } from '../../../connectors/hubspot/install.js';
import { channelPropertyNames, PRIVACY_STATUS_PROPERTY, TAGS_PROPERTY } from '../../../connectors/hubspot/properties.js';
import { hubSpotStateFor } from '../../../connectors/hubspot/state-sqlite.js';
import { hubSpotStatus } from '../../../connectors/hubspot/status.js';
import { HubSpotSync } from '../../../connectors/hubspot/sync.js';
import { startFakeHubSpot, type FakeHubSpot } from '../../fakes/hubspot-server.js';
import { CLIENT_SECRET, hubspotProperties, linkedContact, PORTAL_ID, setSms, startHarness, SUBSCRIPTION_ID, syncStatus, TOKEN, type Harness } from './harness.js';

/**
 * Changes made while the sync is off (`syncEnabled: false`, or the HubSpot settings removed) are
 * kept, one paused contact per contact, and sent with the contact's current values once it is on
 * again (DESIGN §1 "nothing is lost"; §2 withdrawing is as easy as giving).
 */
const UPDATE = 'POST /crm/v3/objects/contacts/batch/update';
const sms = channelPropertyNames('sms');
const whatsapp = channelPropertyNames('whatsapp');
const email = channelPropertyNames('email');
const actor = { kind: 'user' as const, id: 'user-ana' };
const CONNECTED = { accessToken: TOKEN, portalId: PORTAL_ID, clientSecret: CLIENT_SECRET, emailSubscriptionId: SUBSCRIPTION_ID };

let h: Harness | null = null;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await h?.close();
  h = null;
});

const OTHER_TOKEN = 'pat-na1-99999999-2222-3333-4444-555555555555';
const OTHER_PORTAL_ID = '70001';

/** A second fake portal with the connector's properties installed, and a sync of the harness's workspace that reaches it. */
async function otherPortal(harness: Harness): Promise<{ other: FakeHubSpot; sync: HubSpotSync }> {
  const other = await startFakeHubSpot({ now: () => harness.clock.now().getTime(), accessToken: OTHER_TOKEN, rateLimit: null });
  cleanups.push(() => other.close());
  const connections = new HubSpotConnections({ clock: harness.clock, sleep: async (ms) => void harness.clock.advance(ms), random: () => 0, basePath: other.url });
  await installProperties(connections.session({ accessToken: OTHER_TOKEN, portalId: OTHER_PORTAL_ID }).client, []);
  const sync = new HubSpotSync({ engine: harness.engine, store: harness.store, clock: harness.clock, connections, random: () => 0, state: hubSpotStateFor(harness.store) });
  cleanups.push(() => sync.stop());
  return { other, sync };
}


describe('HubSpot sync: while syncEnabled is false', () => {
  it('sends nothing, keeps the changes as one waiting contact, and sends its current values once the sync is on again', async () => {
    h = await startHarness();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    await setSms(h, contactId, 'opted_in');
    await h.sync.drain();
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBe('opted_in');

    await h.workspace.updateSettings({ hubspot: { syncEnabled: false } });
    h.fake.resetStats();
    h.clock.advance(1000);
    await setSms(h, contactId, 'opted_out');
    h.clock.advance(1000);
    await h.workspace.addTag(contactId, 'VIP');
    h.clock.advance(1000);
    await h.workspace.setConsent({ contactId, purpose: 'privacy', channel: 'whatsapp', status: 'opted_out', source: 'manual', actor });
    const paused = await h.sync.drain();
    expect(paused.events).toBe(3);
    expect(h.fake.stats.requests).toBe(0);
    // The backlog's age counts from the first change noted while paused.
    expect((await syncStatus(h)).backlog).toEqual({ pending: 1, oldestPendingAt: '2026-03-02T10:00:03.000Z' });
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBe('opted_in');

    await h.workspace.updateSettings({ hubspot: { syncEnabled: true } });
    await h.sync.drain();
    expect(hubspotProperties(h, hubspotId)).toEqual(
      expect.objectContaining({ [sms.status]: 'opted_out', [sms.legalBasis]: '', [TAGS_PROPERTY]: 'VIP', [PRIVACY_STATUS_PROPERTY]: 'opted_out' }),
    );
    // Three changes, one write; channels that did not change are not written.
    expect(h.fake.stats.contactWrites.get(hubspotId)).toBe(1);
    expect(hubspotProperties(h, hubspotId)[whatsapp.status]).toBeUndefined();
    expect((await syncStatus(h)).backlog.pending).toBe(0);
  });

  it('holds changes already queued when the sync is turned off, and sends them when it is on again', async () => {
    h = await startHarness();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    h.fake.failNext(1000, 503);
    await setSms(h, contactId, 'opted_out');
    await h.sync.runOnce();
    expect((await syncStatus(h)).backlog.pending).toBe(1);
    h.fake.failNext(0);

    await h.workspace.updateSettings({ hubspot: { syncEnabled: false } });
    h.fake.resetStats();
    h.clock.advance(60 * 60 * 1000);
    await h.sync.drain();
    expect(h.fake.stats.byEndpoint[UPDATE]).toBeUndefined();
    expect((await syncStatus(h)).backlog.pending).toBe(1);

    await h.workspace.updateSettings({ hubspot: { syncEnabled: true } });
    await h.sync.drain();
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBe('opted_out');
  });

  it('gives each value the time of its own decision, so a later decision recorded afterwards still wins', async () => {
    h = await startHarness();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    await h.workspace.updateSettings({ hubspot: { syncEnabled: false } });
    await setSms(h, contactId, 'opted_out', '2026-03-02T09:00:00.000Z');
    await h.workspace.addTag(contactId, 'VIP');
    await h.sync.drain();
    await h.workspace.updateSettings({ hubspot: { syncEnabled: true } });
    await h.sync.drain();
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBe('opted_out');

    // Decided at 09:30, recorded now: later than the opt-out, earlier than the tag.
    await setSms(h, contactId, 'opted_in', '2026-03-02T09:30:00.000Z');
    await h.sync.drain();
    expect(hubspotProperties(h, hubspotId)).toEqual(expect.objectContaining({ [sms.status]: 'opted_in', [sms.updatedAt]: '2026-03-02T09:30:00.000Z' }));
  });

  it('on SQLite too: the waiting contact survives a restarted dispatcher', async () => {
    h = await startHarness({ sqlite: true });
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    await h.workspace.updateSettings({ hubspot: { syncEnabled: false } });
    await setSms(h, contactId, 'opted_out');
    await h.sync.drain();
    expect((await syncStatus(h)).backlog.pending).toBe(1);
    await h.workspace.updateSettings({ hubspot: { syncEnabled: true } });
    const restarted = new HubSpotSync({ engine: h.engine, store: h.store, clock: h.clock, connections: h.connections, random: () => 0 });
    cleanups.push(() => restarted.stop());
    await restarted.drain();
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBe('opted_out');
    expect((await syncStatus(h)).backlog.pending).toBe(0);
  });

  it("sends an erased contact's opt-out made while paused by its stored id, and none of its other values", async () => {
    h = await startHarness();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    await h.workspace.updateSettings({ hubspot: { syncEnabled: false } });
    await h.workspace.addTag(contactId, 'VIP');
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', explanation: 'Wrote to the shop', source: 'manual', actor });
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'whatsapp', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Form', source: 'manual', actor });
    await h.sync.drain();
    await h.workspace.eraseContact(contactId);
    await h.workspace.updateSettings({ hubspot: { syncEnabled: true } });
    await h.sync.drain();
    const properties = hubspotProperties(h, hubspotId);
    expect(properties).toEqual(expect.objectContaining({ [sms.status]: 'opted_out', [sms.explanation]: '' }));
    expect(properties[whatsapp.status]).toBeUndefined();
    expect(properties[TAGS_PROPERTY]).toBeUndefined();
  });

  it('still completes workflow callbacks while the contact sync is off', async () => {
    h = await startHarness();
    await h.workspace.updateSettings({ hubspot: { syncEnabled: false } });
    const state = hubSpotStateFor(h.store);
    const nowIso = h.clock.now().toISOString();
    await state.transaction((s) =>
      s.insertChanges([
        {
          position: 1,
          target: 'callback',
          workspaceId: h?.workspaceId ?? '',
          eventId: 'evt-callback',
          contactId: null,
          payload: { kind: 'callback', callbackId: 'cb-1', outputFields: { hs_execution_state: 'SUCCESS', outcome: 'given' } },
          occurredAt: nowIso,
          status: 'pending',
          attempts: 0,
          nextAttemptAt: nowIso,
          lastError: null,
          createdAt: nowIso,
          updatedAt: nowIso,
        },
      ]),
    );
    await h.sync.drain();
    expect(h.fake.state.callbacks).toEqual([{ callbackId: 'cb-1', outputFields: { hs_execution_state: 'SUCCESS', outcome: 'given' } }]);
  });
});

describe('HubSpot sync: settings removed and put back', () => {
  it('sends the opt-out made while disconnected on reconnect to the same portal, never the opt-in queued before it', async () => {
    h = await startHarness();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    // An opt-in queued, and not yet sent, when the settings are removed.
    h.fake.failNext(1000, 503);
    await setSms(h, contactId, 'opted_in');
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'email', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Form', source: 'manual', actor });
    await h.sync.runOnce();
    h.fake.failNext(0);
    await h.workspace.updateSettings({ hubspot: null });
    h.clock.advance(1000);
    await setSms(h, contactId, 'opted_out');
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'email', status: 'opted_out', source: 'manual', actor });
    h.clock.advance(60 * 60 * 1000);
    await h.sync.drain();
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBeUndefined();

    await h.workspace.updateSettings({ hubspot: CONNECTED });
    h.fake.resetStats();
    await h.sync.drain();
    expect(hubspotProperties(h, hubspotId)).toEqual(expect.objectContaining({ [sms.status]: 'opted_out', [email.status]: 'opted_out' }));
    expect(h.fake.state.emailSubscriptions.get('ana.test@example.com')?.get(SUBSCRIPTION_ID)?.status).toBe('NOT_SUBSCRIBED');
    expect(h.fake.stats.byEndpoint['POST /communication-preferences/v4/statuses/batch/write']).toBe(1);
  });

  it('records nothing for a workspace that never had HubSpot', async () => {
    h = await startHarness({ hubspot: null });
    const contact = await h.workspace.createContact({ email: 'ana.test@example.com' });
    await setSms(h, contact.id, 'opted_out');
    await h.sync.drain();
    expect((await syncStatus(h)).backlog.pending).toBe(0);
    expect(await h.store.transaction((tx) => tx.getMeta(HUBSPOT_PORTALS_KEY))).toBeUndefined();
  });

  it("never writes to another portal by the id an erased contact kept of the first", async () => {
    h = await startHarness();
    const harness = h;
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    await h.sync.drain();
    await h.workspace.updateSettings({ hubspot: null });
    await setSms(h, contactId, 'opted_out');
    await h.sync.drain();
    expect((await syncStatus(h)).backlog.pending).toBe(1);
    await h.workspace.eraseContact(contactId);
    await h.sync.drain();
    expect((await h.workspace.getContact(contactId)).hubspotId).toBe(hubspotId);

    const { other, sync } = await otherPortal(harness);
    const stranger = other.seedContact({ email: 'someone.else@example.com' });
    expect(stranger).toBe(hubspotId);
    h.clock.advance(1000);
    await h.workspace.updateSettings({ hubspot: { ...CONNECTED, accessToken: OTHER_TOKEN, portalId: OTHER_PORTAL_ID } });
    expect(await sync.drain()).toMatchObject({ relinked: 1, queued: 1 });
    expect(other.state.contacts.get(stranger)?.properties[sms.status]).toBeUndefined();
    expect(other.stats.byEndpoint[UPDATE]).toBeUndefined();
    expect((await syncStatus(h)).backlog.pending).toBe(0);
  });

  it('on reconnect to another portal, forgets the record ids of the first and matches the contacts again there', async () => {
    h = await startHarness();
    const harness = h;
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    await setSms(h, contactId, 'opted_in');
    await h.sync.drain();
    await h.workspace.updateSettings({ hubspot: null });
    await setSms(h, contactId, 'opted_out');
    await h.sync.drain();

    // The other portal has its own records: the id Ana had in the first names someone else there.
    const { other, sync } = await otherPortal(harness);
    const stranger = other.seedContact({ email: 'someone.else@example.com' });
    const anaThere = other.seedContact({ email: 'ana.test@example.com' });
    expect(stranger).toBe(hubspotId);

    await h.workspace.updateSettings({ hubspot: { ...CONNECTED, accessToken: OTHER_TOKEN, portalId: OTHER_PORTAL_ID } });
    const summary = await sync.drain();
    expect(summary.unlinked).toBe(1);
    expect((await h.workspace.getContact(contactId)).hubspotId).toBe(anaThere);
    expect(other.state.contacts.get(anaThere)?.properties[sms.status]).toBe('opted_out');
    expect(other.state.contacts.get(stranger)?.properties[sms.status]).toBeUndefined();
    // The first portal's sync state is forgotten: what it was sent (the opt-in) is no echo to expect from this one.
    const states = await hubSpotStateFor(h.store).transaction((s) => s.getContactStates(harness.workspaceId, [contactId]));
    expect(states.get(contactId)?.writes[sms.status]?.map((w) => w.value)).toEqual(['opted_out']);
  });
});

describe('HubSpot sync: credentials replaced after HubSpot refused them', () => {
  const REFUSED_TOKEN = 'pat-na1-00000000-2222-3333-4444-555555555555';

  it.each([false, true])('sends the changes held for a refused token as soon as the settings hold another, and the status stops giving the refusal (SQLite: %s)', async (sqlite) => {
    h = await startHarness({ sqlite, hubspot: { accessToken: REFUSED_TOKEN } });
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    await setSms(h, contactId, 'opted_out');
    await h.sync.drain();
    const held = await syncStatus(h);
    expect(held.heldReason).toContain('HubSpot refused the access token (401)');
    expect(held.backlog.pending).toBe(1);
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBeUndefined();

    // Fixed a moment later, well within the hold: the clock does not move.
    await h.workspace.updateSettings({ hubspot: { accessToken: TOKEN } });
    expect((await syncStatus(h)).heldReason).toBeNull();
    await h.sync.drain();
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBe('opted_out');
    expect(await syncStatus(h)).toMatchObject({ heldReason: null, backlog: { pending: 0 } });
  });

  it('holds again, and says so again, when the new token is refused too', async () => {
    h = await startHarness({ hubspot: { accessToken: REFUSED_TOKEN } });
    const { contactId } = await linkedContact(h, 'ana.test@example.com');
    await setSms(h, contactId, 'opted_out');
    await h.sync.drain();
    await h.workspace.updateSettings({ hubspot: { accessToken: 'pat-na1-00000000-0000-3333-4444-555555555555' } });
    h.fake.resetStats();
    await h.sync.drain();
    // Tried at once with the new token, refused, and held again for it.
    expect(h.fake.stats.requests).toBeGreaterThan(0);
    expect(await syncStatus(h)).toMatchObject({ heldReason: expect.stringContaining('(401)'), backlog: { pending: 1 } });
    const failures = await h.workspace.listEvents({ types: ['sync.failed'] });
    expect(failures.map((event) => event.data)).toEqual([
      expect.objectContaining({ operation: 'sync', reason: expect.stringContaining('(401)') }),
      expect.objectContaining({ operation: 'sync', reason: expect.stringContaining('(401)') }),
    ]);
  });

  it('lifts the hold in a sync started after the token changed, as a new HUBSPOT_ACCESS_TOKEN does', async () => {
    h = await startHarness({ sqlite: true, hubspot: null });
    const harness = h;
    const env = (token: string) => ({ HUBSPOT_ACCESS_TOKEN: token, HUBSPOT_PORTAL_ID: PORTAL_ID });
    const status = async (token: string) => hubSpotStatus(hubSpotStateFor(harness.store), await harness.workspace.get(), env(token), true, harness.clock.now());
    const first = new HubSpotSync({ engine: h.engine, store: h.store, clock: h.clock, connections: h.connections, random: () => 0, env: env(REFUSED_TOKEN) });
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    await setSms(h, contactId, 'opted_out');
    await first.drain();
    await first.stop();
    expect((await status(REFUSED_TOKEN)).heldReason).toContain('(401)');
    expect((await status(TOKEN)).heldReason).toBeNull();

    const restarted = new HubSpotSync({ engine: h.engine, store: h.store, clock: h.clock, connections: h.connections, random: () => 0, env: env(TOKEN) });
    cleanups.push(() => restarted.stop());
    await restarted.drain();
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBe('opted_out');
    expect((await status(TOKEN)).backlog.pending).toBe(0);
  });

  it('sends the changes held for a refused OAuth grant once an install stores a new refresh token', async () => {
    const app = { clientId: '11111111-2222-3333-4444-555555555555', clientSecret: 'app-secret-for-tests', refreshToken: 'refresh-token-of-the-install' };
    h = await startHarness({ fake: { oauth: app }, hubspot: { accessToken: 'access-token-given-at-install', ...app, refreshToken: 'refresh-token-of-an-uninstalled-app' } });
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    await setSms(h, contactId, 'opted_out');
    await h.sync.drain();
    expect((await syncStatus(h)).heldReason).toContain('HubSpot refused the refresh token');

    await h.workspace.updateSettings({ hubspot: { accessToken: 'access-token-of-the-new-install', refreshToken: app.refreshToken } });
    expect((await syncStatus(h)).heldReason).toBeNull();
    await h.sync.drain();
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBe('opted_out');
  });

  it("keeps a daily-limit pause when the token changes: HubSpot's daily limit is the account's, whatever the token", async () => {
    // A portal that accepts any token, so the new one is as good as the old.
    h = await startHarness({ fake: { accessToken: null } });
    const harness = h;
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    // A first pass learns the portal's time zone (UTC), where its daily limit resets.
    await h.workspace.addTag(contactId, 'VIP');
    await h.sync.drain();
    h.fake.setDailyLimit(0);
    await setSms(h, contactId, 'opted_out');
    await h.sync.drain();
    expect((await syncStatus(h)).pausedUntil).toBe('2026-03-03T00:00:00.000Z');

    await h.workspace.updateSettings({ hubspot: { accessToken: OTHER_TOKEN } });
    h.fake.resetStats();
    // Neither the sync that saw the token change, nor one with connections of its own, which know
    // nothing of the pause but what the store says, picks the paused change before the reset.
    expect(await h.sync.drain()).toMatchObject({ tasks: 0, held: 0 });
    const connections = new HubSpotConnections({ clock: harness.clock, sleep: async (ms) => void harness.clock.advance(ms), random: () => 0, basePath: harness.fake.url });
    const restarted = new HubSpotSync({ engine: h.engine, store: h.store, clock: h.clock, connections, random: () => 0 });
    cleanups.push(() => restarted.stop());
    expect(await restarted.drain()).toMatchObject({ tasks: 0, held: 0 });
    expect(h.fake.stats.requests).toBe(0);
    expect(await syncStatus(h)).toMatchObject({ pausedUntil: '2026-03-03T00:00:00.000Z', backlog: { pending: 1 } });
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBeUndefined();

    h.fake.setDailyLimit(null);
    h.clock.set('2026-03-03T00:00:01.000Z');
    await restarted.drain();
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBe('opted_out');
  });
});

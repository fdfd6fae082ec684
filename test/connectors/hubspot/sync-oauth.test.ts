import { afterEach, describe, expect, it } from 'vitest';
import { HUBSPOT_TOKEN_PATH } from '../../../connectors/hubspot/oauth.js';
import { channelPropertyNames } from '../../../connectors/hubspot/properties.js';
import { hubspotProperties, linkedContact, setSms, startHarness, syncStatus, type Harness } from './harness.js';

/**
 * A workspace connected through an OAuth app: HubSpot's access tokens live 30 minutes and the app
 * refreshes them itself, before they expire
 * (https://developers.hubspot.com/docs/api/usage-details: "Apps are responsible for storing
 * time-to-live (TTL) data and refreshing user access tokens"). The fake portal accepts only
 * tokens its token endpoint issued and that have not expired on the test's clock.
 */
const OAUTH_APP = { clientId: '11111111-2222-3333-4444-555555555555', clientSecret: 'app-secret-for-tests', refreshToken: 'refresh-token-of-the-install' };
const TOKEN_ENDPOINT = `POST ${HUBSPOT_TOKEN_PATH}`;
const sms = channelPropertyNames('sms');

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

async function oauthHarness(sqlite = false): Promise<Harness> {
  return startHarness({
    sqlite,
    fake: { oauth: OAUTH_APP },
    // The access token the settings were given at install time, long expired.
    hubspot: { accessToken: 'access-token-given-at-install', ...OAUTH_APP },
  });
}


describe('HubSpot sync through an OAuth app', () => {
  it('asks for an access token before its first write, and for a new one once it nears its end, with no request refused', async () => {
    h = await oauthHarness(true);
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    await setSms(h, contactId, 'opted_in');
    await h.sync.drain();
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBe('opted_in');
    expect(h.fake.issuedAccessTokens).toEqual(['fake-oauth-1']);

    h.clock.advance(10 * 60 * 1000);
    await setSms(h, contactId, 'opted_out');
    await h.sync.drain();
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBe('opted_out');
    expect(h.fake.stats.byEndpoint[TOKEN_ENDPOINT]).toBe(1);

    // 27 minutes after it was issued the token has less than the five-minute margin left.
    h.clock.advance(17 * 60 * 1000);
    await setSms(h, contactId, 'opted_in');
    await h.sync.drain();
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBe('opted_in');
    expect(h.fake.issuedAccessTokens).toEqual(['fake-oauth-1', 'fake-oauth-2']);
    expect(h.fake.stats.byEndpoint[TOKEN_ENDPOINT]).toBe(2);
    const status = await syncStatus(h);
    expect(status.heldReason).toBeNull();
  });

  it('holds the changes with a reason naming the refresh token when the app was uninstalled, and keeps them pending', async () => {
    h = await oauthHarness();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    h.fake.revokeOAuth();
    await setSms(h, contactId, 'opted_out');
    await h.sync.runOnce();
    const held = await syncStatus(h);
    expect(held.heldReason).toContain('HubSpot refused the refresh token');
    expect(held.heldReason).toContain('hubspot.refreshToken');
    expect(held.backlog.pending).toBe(1);
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBeUndefined();
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { oauthTokensKey, rememberIssuedTokens } from '../../../connectors/hubspot/oauth.js';
import { CONSENTRY_PROPERTY_NAMES, PROPERTY_GROUP_NAME, TAGS_PROPERTY } from '../../../connectors/hubspot/properties.js';
import { createEngine } from '../../../src/engine.js';
import { createSqliteStore } from '../../../src/store/sqlite.js';
import { startFakeHubSpot, type FakeHubSpot } from '../../fakes/hubspot-server.js';
import { cli } from '../../cli/helpers.js';

const TOKEN = 'pat-na1-11111111-2222-3333-4444-555555555555';
let fake: FakeHubSpot;
let dir: string;

beforeEach(async () => {
  fake = await startFakeHubSpot({ accessToken: TOKEN, rateLimit: null });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-hubspot-cli-'));
});
afterEach(async () => {
  await fake.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('consentry hubspot install', () => {
  it('creates the group and properties once; a rerun changes nothing and says so; --dry-run only prints', async () => {
    const db = path.join(dir, 'none.db');
    const dry = await cli(['hubspot', 'install', '--dry-run', '--token', TOKEN, '--api-base', fake.url, '--db', db]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('Dry run, nothing changed.');
    expect(dry.stdout).toContain('+ create group consentry');
    expect(fake.state.groups.has(PROPERTY_GROUP_NAME)).toBe(false);
    expect(fs.existsSync(db)).toBe(false);

    const first = await cli(['hubspot', 'install', '--token', TOKEN, '--api-base', fake.url, '--db', db]);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`Applied ${CONSENTRY_PROPERTY_NAMES.length + 1} changes.`);
    for (const name of CONSENTRY_PROPERTY_NAMES) expect(fake.state.properties.get(name)?.groupName).toBe(PROPERTY_GROUP_NAME);

    const writes = fake.stats.requests;
    const again = await cli(['hubspot', 'install', '--token', TOKEN, '--api-base', fake.url, '--db', db]);
    expect(again.stdout).toMatch(/^Nothing to change/);
    expect(fake.stats.requests - writes).toBe(2);
  });

  it("uses the workspace's token from the database and adds its tags as options", async () => {
    const db = path.join(dir, 'consentry.db');
    const store = createSqliteStore({ path: db });
    const engine = createEngine({ store });
    const workspace = await engine.createWorkspace({ name: 'Example Shop', settings: { hubspot: { accessToken: TOKEN, portalId: '62515' } } });
    const ana = await engine.workspace(workspace.id).createContact({ email: 'ana.test@example.com', tags: ['VIP'] });
    // Consent: Privacy follows the contact's privacy decision: the opt-in adds it.
    await engine.workspace(workspace.id).setConsent({
      contactId: ana.id,
      purpose: 'privacy',
      channel: 'email',
      status: 'opted_in',
      legalBasis: 'CONSENT_WITH_NOTICE',
      explanation: 'Agreed to the privacy policy on the signup form',
      source: 'manual',
      actor: { kind: 'user', id: 'u1' },
    });
    await store.close();

    const run = await cli(['hubspot', 'install', '--api-base', fake.url, '--db', db]);
    expect(run.code).toBe(0);
    expect(fake.state.properties.get(TAGS_PROPERTY)?.options.map((o) => o.label).sort()).toEqual(['Consent: Privacy', 'VIP']);
  });

  it("asks HubSpot for an access token of the workspace's OAuth install, or uses the one the server kept while it is valid", async () => {
    await fake.close();
    const app = { clientId: '11111111-2222-3333-4444-555555555555', clientSecret: 'app-secret-for-tests', refreshToken: 'refresh-token-of-the-install' };
    // Only tokens the fake's token endpoint issued, and have not expired, are accepted.
    fake = await startFakeHubSpot({ accessToken: 'pat-of-nobody', rateLimit: null, oauth: app });
    const db = path.join(dir, 'consentry.db');
    const store = createSqliteStore({ path: db });
    const engine = createEngine({ store });
    const workspace = await engine.createWorkspace({ name: 'Example Shop', settings: { hubspot: { accessToken: 'expired-at-install', portalId: '62515', ...app } } });
    await store.close();

    const first = await cli(['hubspot', 'install', '--dry-run', '--api-base', fake.url, '--db', db]);
    expect(first.code).toBe(0);
    expect(fake.issuedAccessTokens).toEqual(['fake-oauth-1']);

    // Kept for the server (and the next command), with the refresh token HubSpot answered.
    const kept = createSqliteStore({ path: db });
    expect(await kept.read((tx) => tx.getMeta(oauthTokensKey(workspace.id)))).toMatchObject({ accessToken: 'fake-oauth-1', refreshToken: app.refreshToken });
    await kept.close();
    const second = await cli(['hubspot', 'install', '--dry-run', '--api-base', fake.url, '--db', db]);
    expect(second.code).toBe(0);
    expect(fake.issuedAccessTokens).toEqual(['fake-oauth-1']);

    const expired = createSqliteStore({ path: db });
    await rememberIssuedTokens(expired, workspace.id, app, { accessToken: 'fake-oauth-1', refreshToken: app.refreshToken, expiresAt: Date.now() - 1000 });
    await expired.close();
    fake.revokeOAuth();
    const revoked = await cli(['hubspot', 'install', '--dry-run', '--api-base', fake.url, '--db', db]);
    expect(revoked.code).toBe(1);
    expect(revoked.stderr).toContain('HubSpot refused the refresh token');
    expect(revoked.stderr).not.toContain(app.refreshToken);
  });

  it('stops without sending a create again when its answer is lost, and a rerun makes only what is missing', async () => {
    const db = path.join(dir, 'none.db');
    fake.rewriteNext('POST /crm/v3/properties/contacts/groups', () => ({ status: 502, html: '<html>Bad gateway</html>' }));
    const lost = await cli(['hubspot', 'install', '--token', TOKEN, '--api-base', fake.url, '--db', db]);
    expect(lost.code).toBe(1);
    expect(lost.stderr).toContain('HubSpot answered 502 to a request that is not safe to send twice');
    expect(lost.stderr).toContain('run the command again');
    expect(fake.stats.byEndpoint['POST /crm/v3/properties/contacts/groups']).toBe(1);
    expect(fake.state.groups.has(PROPERTY_GROUP_NAME)).toBe(true);

    const rerun = await cli(['hubspot', 'install', '--token', TOKEN, '--api-base', fake.url, '--db', db]);
    expect(rerun.code).toBe(0);
    expect(fake.stats.byEndpoint['POST /crm/v3/properties/contacts/groups']).toBe(1);
    for (const name of CONSENTRY_PROPERTY_NAMES) expect(fake.state.properties.get(name)?.groupName).toBe(PROPERTY_GROUP_NAME);
  });

  it('says where a token comes from when there is none (exit code 2), and reports conflicting properties with exit code 1', async () => {
    const missing = await cli(['hubspot', 'install', '--api-base', fake.url, '--db', path.join(dir, 'x.db')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('HUBSPOT_ACCESS_TOKEN');

    fake.state.groups.set(PROPERTY_GROUP_NAME, { name: PROPERTY_GROUP_NAME, label: 'Old', displayOrder: 0 });
    fake.state.properties.set(TAGS_PROPERTY, {
      name: TAGS_PROPERTY,
      label: 'Tags',
      description: '',
      groupName: PROPERTY_GROUP_NAME,
      type: 'string',
      fieldType: 'text',
      displayOrder: 0,
      options: [],
      hubspotDefined: false,
      hasUniqueValue: false,
    });
    const conflict = await cli(['hubspot', 'install', '--api-base', fake.url, '--db', path.join(dir, 'x.db')], { env: { HUBSPOT_ACCESS_TOKEN: TOKEN } });
    expect(conflict.code).toBe(1);
    expect(conflict.stdout).toContain(`! ${TAGS_PROPERTY} exists as string/text`);
  });

  it('has --help', async () => {
    const help = await cli(['hubspot', 'install', '--help']);
    expect(help.stdout).toContain('--dry-run');
  });
});

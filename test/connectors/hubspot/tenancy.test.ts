import { Signature } from '@hubspot/api-client';
import type { FastifyInstance } from 'fastify';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { channelPropertyNames } from '../../../connectors/hubspot/properties.js';
import { isConsentryError } from '../../../src/core/errors.js';
import type { Contact } from '../../../src/core/contact.js';
import type { Workspace } from '../../../src/core/settings.js';
import { createApiKey } from '../../../src/server/api-keys.js';
import { buildApp } from '../../../src/server/app.js';
import { CLIENT_SECRET, PORTAL_ID, startHarness, TOKEN, type Harness } from './harness.js';
import { PUBLIC_URL, useHubspotApp } from './http-harness.js';
import { accountDetails, ACCOUNT_INFO_URL } from './msw.js';

const sms = channelPropertyNames('sms');
const OTHER_PORTAL = '77777';
const OTHER_SECRET = 'client-secret-of-the-other-shop';
const ACTION_PATH = '/hubspot/actions/check-consent';
/** A portal no workspace names (and digits no log line holds by chance). */
const UNKNOWN_PORTAL = '31415926535';

const ProblemBody = z.object({ status: z.number(), code: z.string(), detail: z.string(), errors: z.array(z.object({ path: z.string(), message: z.string() })) });
const LogLine = z.object({ level: z.number(), msg: z.string().optional() }).passthrough();

const setUp = useHubspotApp();

/**
 * HubSpot's account-info for settings changes that name an account; the connector's own calls go
 * to the fake HubSpot on 127.0.0.1, and any request bound elsewhere fails.
 */
const hubspotApi = setupServer();
beforeAll(() =>
  hubspotApi.listen({
    onUnhandledRequest: (request, print) => {
      if (new URL(request.url).hostname !== '127.0.0.1') print.error();
    },
  }),
);
afterEach(() => hubspotApi.resetHandlers());
afterAll(() => hubspotApi.close());

function v3Headers(secret: string, path: string, body: string, timestamp: number): Record<string, string> {
  const signature = Signature.getSignature('POST', 'v3', { clientSecret: secret, requestBody: body, url: `${PUBLIC_URL}${path}`, timestamp, signature: '' });
  return { 'content-type': 'application/json', 'x-hubspot-signature-v3': signature, 'x-hubspot-request-timestamp': String(timestamp) };
}

function checkConsentBody(portalId: string | number, callbackId: string, objectId: string): string {
  return JSON.stringify({
    callbackId,
    origin: { portalId: typeof portalId === 'number' ? portalId : Number(portalId), actionDefinitionId: 1183 },
    object: { objectId: Number(objectId), objectType: 'CONTACT', properties: {} },
    inputFields: { channel: 'sms' },
  });
}

async function checkConsent(h: Harness, app: FastifyInstance, secret: string, body: string, timestamp = h.clock.now().getTime() - 1000) {
  return app.inject({ method: 'POST', url: ACTION_PATH, payload: body, headers: v3Headers(secret, ACTION_PATH, body, timestamp) });
}

async function webhook(h: Harness, app: FastifyInstance, secret: string, events: object[]) {
  const body = JSON.stringify(events);
  return app.inject({ method: 'POST', url: '/hubspot/webhooks', payload: body, headers: v3Headers(secret, '/hubspot/webhooks', body, h.clock.now().getTime() - 1000) });
}

function statusChange(portalId: string, objectId: string, value: string, occurredAt: number) {
  return { portalId: Number(portalId), occurredAt, subscriptionType: 'contact.propertyChange', objectId: Number(objectId), propertyName: sms.status, propertyValue: value, changeSource: 'CRM_UI', sourceId: 'userId:4471' };
}

/** A second workspace on its own portal and app secret. */
async function otherShop(h: Harness): Promise<Workspace> {
  return h.engine.createWorkspace({
    name: 'Other Shop',
    settings: { privacyPolicyUrl: 'https://other.example.com/privacy', hubspot: { accessToken: 'pat-na1-other', portalId: OTHER_PORTAL, clientSecret: OTHER_SECRET } },
  });
}

/** What a database written before a portal belonged to one workspace may hold: the other shop names the first shop's portal. */
async function claimPortalBehindTheRule(h: Harness, workspace: Workspace, clientSecret: string): Promise<void> {
  const hubspot = { ...workspace.settings.hubspot, accessToken: 'pat-na1-other', portalId: PORTAL_ID, clientSecret, clientId: null, refreshToken: null, emailSubscriptionId: null, createMissingContacts: false, syncEnabled: false };
  await h.store.transaction((tx) => tx.updateWorkspace(workspace.id, { settings: { ...workspace.settings, hubspot }, updatedAt: h.clock.now().toISOString() }));
}

/** A contact in each workspace linked to the same HubSpot record id; the other workspace's is opted in to marketing SMS. */
async function contactsOfOneHubSpotRecord(h: Harness, other: Workspace, hubspotId: string): Promise<{ theirs: Contact; ours: Contact }> {
  const theirs = await h.engine.workspace(other.id).createContact({ email: 'bea.test@example.com' });
  await h.engine.workspace(other.id).linkHubspotContacts([{ contactId: theirs.id, hubspotId }]);
  await optIn(h, other.id, theirs.id);
  const ours = await h.workspace.createContact({ email: 'ana.test@example.com' });
  await h.workspace.linkHubspotContacts([{ contactId: ours.id, hubspotId }]);
  return { theirs, ours };
}

async function optIn(h: Harness, workspaceId: string, contactId: string): Promise<void> {
  await h.engine.workspace(workspaceId).setConsent({
    contactId,
    purpose: 'marketing',
    channel: 'sms',
    status: 'opted_in',
    legalBasis: 'CONSENT_WITH_NOTICE',
    explanation: 'Signed up at the counter',
    source: 'manual',
    actor: { kind: 'user', id: 'u1' },
  });
}

describe('HubSpot portals: one workspace each', () => {
  it("refuses a settings change that names another workspace's portal with 409 on hubspot.portalId, and keeps the settings", async () => {
    const { h, app } = await setUp();
    const other = await otherShop(h);
    const { key } = await createApiKey(h.store, { workspaceId: other.id, name: 'ops', clock: h.clock });
    // The claimant's token is one HubSpot issued for that very portal: the claim is proven, and still conflicts.
    hubspotApi.use(
      http.get(ACCOUNT_INFO_URL, ({ request }) =>
        request.headers.get('authorization') === 'Bearer pat-na1-other' ? HttpResponse.json(accountDetails(Number(PORTAL_ID))) : new HttpResponse(null, { status: 401 }),
      ),
    );
    const response = await app.inject({
      method: 'PATCH',
      url: '/v1/settings',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ hubspot: { portalId: PORTAL_ID, clientSecret: 'secret-of-the-claimant' } }),
    });
    expect(response.statusCode).toBe(409);
    const body = ProblemBody.parse(response.json());
    expect(body.code).toBe('CONFLICT');
    expect(body.errors).toEqual([{ path: 'hubspot.portalId', message: expect.stringContaining('connected to another workspace') }]);
    expect(body.detail).not.toContain(h.workspaceId);
    expect((await h.engine.workspace(other.id).get()).settings.hubspot).toEqual(expect.objectContaining({ portalId: OTHER_PORTAL, clientSecret: OTHER_SECRET }));

    // The genuine owner's signed requests are still its own.
    const hubspotId = h.fake.seedContact({ email: 'ana.test@example.com' });
    const contact = await h.workspace.createContact({ email: 'ana.test@example.com' });
    await h.workspace.linkHubspotContacts([{ contactId: contact.id, hubspotId }]);
    await optIn(h, h.workspaceId, contact.id);
    const genuine = await checkConsent(h, app, CLIENT_SECRET, checkConsentBody(PORTAL_ID, 'cb-owner', hubspotId));
    expect(genuine.statusCode).toBe(200);
    expect(genuine.json().outputFields.status).toBe('opted_in');
  });
});

describe('HubSpot requests of a portal several workspaces name (written before the rule)', () => {
  it('go to the workspace whose client secret verifies them, not to the oldest', async () => {
    const { h, app } = await setUp();
    const other = await otherShop(h);
    await claimPortalBehindTheRule(h, other, OTHER_SECRET);
    const hubspotId = '5001';
    const { theirs, ours } = await contactsOfOneHubSpotRecord(h, other, hubspotId);

    // Signed with the newer workspace's secret: answered from its ledger (opted in).
    const newer = await checkConsent(h, app, OTHER_SECRET, checkConsentBody(PORTAL_ID, 'cb-1', hubspotId));
    expect(newer.statusCode).toBe(200);
    expect(newer.json().outputFields).toEqual(expect.objectContaining({ status: 'opted_in', legal_basis: 'CONSENT_WITH_NOTICE' }));
    // Signed with the older workspace's secret: answered from its own (nothing recorded).
    const older = await checkConsent(h, app, CLIENT_SECRET, checkConsentBody(PORTAL_ID, 'cb-2', hubspotId));
    expect(older.statusCode).toBe(200);
    expect(older.json().outputFields.status).toBe('not_specified');
    expect((await checkConsent(h, app, 'nobody-has-this-secret', checkConsentBody(PORTAL_ID, 'cb-3', hubspotId))).statusCode).toBe(401);

    // An opt-out made in the newer workspace's HubSpot reaches its ledger, and only its.
    const at = h.clock.now().getTime() - 2000;
    const optOut = await webhook(h, app, OTHER_SECRET, [statusChange(PORTAL_ID, hubspotId, 'opted_out', at)]);
    expect(optOut.statusCode).toBe(200);
    expect(optOut.json()).toEqual(expect.objectContaining({ recorded: 1 }));
    const theirHistory = await h.engine.workspace(other.id).getHistory(theirs.id);
    expect(theirHistory.map((record) => `${record.source}:${record.status}`)).toEqual(['manual:opted_in', 'hubspot:opted_out']);
    expect(await h.workspace.getHistory(ours.id)).toEqual([]);
  });

  it('are refused, with a warning naming the workspaces, when their secrets are one and the same', async () => {
    const lines: string[] = [];
    const { h, app } = await setUp({}, { logger: { level: 'info', stream: { write: (line: string) => lines.push(line) } } });
    const other = await otherShop(h);
    await claimPortalBehindTheRule(h, other, CLIENT_SECRET);
    const response = await checkConsent(h, app, CLIENT_SECRET, checkConsentBody(PORTAL_ID, 'cb-both', '5001'));
    expect(response.statusCode).toBe(401);
    const warnings = lines.map((line) => LogLine.parse(JSON.parse(line))).filter((line) => line.level === 40);
    expect(warnings).toEqual([expect.objectContaining({ workspaceIds: [h.workspaceId, other.id] })]);
  });
});

describe("HubSpot callbacks: one workspace's callbackId is not another's", () => {
  it("neither reads another workspace's stored answer nor claims its callbackId first", async () => {
    const { h, app } = await setUp();
    const other = await otherShop(h);
    const hubspotId = '5001';
    const { theirs, ours } = await contactsOfOneHubSpotRecord(h, other, hubspotId);
    await h.workspace.setConsent({ contactId: ours.id, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor: { kind: 'user', id: 'u1' } });

    // Read: the other workspace answered callback X first; this one's X is its own.
    const theirX = await checkConsent(h, app, OTHER_SECRET, checkConsentBody(OTHER_PORTAL, 'cb-X', hubspotId));
    expect(theirX.json().outputFields.status).toBe('opted_in');
    const ourX = await checkConsent(h, app, CLIENT_SECRET, checkConsentBody(PORTAL_ID, 'cb-X', hubspotId));
    expect(ourX.json().outputFields).toEqual(expect.objectContaining({ status: 'opted_out', legal_basis: '' }));

    // Pre-claim: this workspace uses Y first; the other workspace's Y still runs, in its own ledger.
    expect((await checkConsent(h, app, CLIENT_SECRET, checkConsentBody(PORTAL_ID, 'cb-Y', hubspotId))).json().outputFields.status).toBe('opted_out');
    const theirY = await checkConsent(h, app, OTHER_SECRET, checkConsentBody(OTHER_PORTAL, 'cb-Y', hubspotId));
    expect(theirY.json().outputFields).toEqual(expect.objectContaining({ status: 'opted_in', legal_basis: 'CONSENT_WITH_NOTICE' }));
  });
});

describe('HubSpot refusals before a signature is checked', () => {
  it('answer an unknown portal, a forgery and a workspace without client secret alike, and never quote the portal', async () => {
    const lines: string[] = [];
    const { h, app } = await setUp({}, { logger: { level: 'info', stream: { write: (line: string) => lines.push(line) } } });
    const unknown = await checkConsent(h, app, CLIENT_SECRET, checkConsentBody(UNKNOWN_PORTAL, 'cb-1', '5001'));
    const forged = await checkConsent(h, app, 'not-the-secret', checkConsentBody(PORTAL_ID, 'cb-1', '5001'));
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json()).toEqual(forged.json());
    expect(unknown.body).not.toContain(UNKNOWN_PORTAL);

    const stale = h.clock.now().getTime() - 6 * 60_000;
    const unknownStale = await checkConsent(h, app, CLIENT_SECRET, checkConsentBody(UNKNOWN_PORTAL, 'cb-2', '5001'), stale);
    const knownStale = await checkConsent(h, app, CLIENT_SECRET, checkConsentBody(PORTAL_ID, 'cb-2', '5001'), stale);
    expect(unknownStale.statusCode).toBe(401);
    expect(unknownStale.json()).toEqual(knownStale.json());

    const refusals = lines.map((line) => LogLine.parse(JSON.parse(line))).filter((line) => line.msg === 'HubSpot request refused');
    expect(refusals.map((line) => line.reason)).toEqual(['unknown_portal', 'bad_signature', 'unknown_portal', 'stale']);
    expect(lines.join('\n')).not.toContain(UNKNOWN_PORTAL);
  });

  it('answers a known portal whose workspace has no client secret as a forgery', async () => {
    const { h, app } = await setUp({ hubspot: { clientSecret: null } });
    const noSecret = await checkConsent(h, app, CLIENT_SECRET, checkConsentBody(PORTAL_ID, 'cb-1', '5001'));
    const unknown = await checkConsent(h, app, CLIENT_SECRET, checkConsentBody(UNKNOWN_PORTAL, 'cb-1', '5001'));
    expect(noSecret.statusCode).toBe(401);
    expect(noSecret.json()).toEqual(unknown.json());
  });

  it('reads the portal id with the settings pattern: a huge or non-numeric one is refused in a few bytes, and not logged', async () => {
    const lines: string[] = [];
    const { h, app } = await setUp({}, { logger: { level: 'info', stream: { write: (line: string) => lines.push(line) } } });
    const huge = '7'.repeat(1_000_000);
    const bodies = [
      JSON.stringify({ callbackId: 'x', origin: { portalId: huge }, object: { objectId: '1', objectType: 'CONTACT' } }),
      JSON.stringify({ callbackId: 'x', origin: { portalId: '1'.repeat(21) }, object: { objectId: '1', objectType: 'CONTACT' } }),
      JSON.stringify({ callbackId: 'x', origin: { portalId: `${PORTAL_ID}<script>` }, object: { objectId: '1', objectType: 'CONTACT' } }),
      JSON.stringify({ callbackId: 'x', origin: { portalId: -62515 }, object: { objectId: '1', objectType: 'CONTACT' } }),
    ];
    for (const body of bodies) {
      const response = await app.inject({ method: 'POST', url: ACTION_PATH, payload: body, headers: { 'content-type': 'application/json' } });
      expect(response.statusCode).toBe(400);
      expect(response.body.length).toBeLessThan(400);
      expect(response.body).not.toContain('7777777777');
      expect(response.body).not.toContain('script');
    }
    const webhookResponse = await app.inject({
      method: 'POST',
      url: '/hubspot/webhooks',
      payload: JSON.stringify([{ portalId: huge, occurredAt: 1, subscriptionType: 'contact.propertyChange', objectId: 1 }]),
      headers: { 'content-type': 'application/json' },
    });
    expect(webhookResponse.statusCode).toBe(400);
    expect(webhookResponse.body.length).toBeLessThan(400);
    const written = lines.join('\n');
    expect(written).not.toContain('7777777777');
    expect(written.length).toBeLessThan(6 * 1000);
    const refusals = lines.map((line) => LogLine.parse(JSON.parse(line))).filter((line) => line.msg === 'HubSpot request refused');
    expect(refusals.map((line) => line.reason)).toEqual(['no_portal', 'no_portal', 'no_portal', 'no_portal', 'no_portal']);
    expect(h.fake.stats.requests).toBe(0);
  });
});

describe('HUBSPOT_PORTAL_ID: the environment claims its portal for the default workspace', () => {
  const ENV = { HUBSPOT_ACCESS_TOKEN: TOKEN, HUBSPOT_CLIENT_SECRET: CLIENT_SECRET, HUBSPOT_PORTAL_ID: OTHER_PORTAL };

  it("refuses to start when another workspace's settings name the portal", async () => {
    const h = await startHarness({ hubspot: null });
    try {
      await h.engine.createWorkspace({ name: 'Other Shop', settings: { hubspot: { accessToken: 'pat-na1-other', portalId: OTHER_PORTAL, clientSecret: OTHER_SECRET } } });
      const failure: unknown = await buildApp({ store: h.store, engine: h.engine, clock: h.clock, defaultMetrics: false, config: ENV }).then(
        async (app) => {
          await app.close();
          return null;
        },
        (error: unknown) => error,
      );
      expect(isConsentryError(failure) && failure.code).toBe('CONFLICT');
      expect(isConsentryError(failure) && failure.issues).toEqual([{ path: 'hubspot.portalId', message: expect.stringContaining(`HUBSPOT_PORTAL_ID ${OTHER_PORTAL}`) }]);
    } finally {
      await h.close();
    }
  });

  it("keeps the portal from other workspaces' settings while it configures the default workspace", async () => {
    const { h, app } = await setUp({ hubspot: null }, { config: ENV });
    await expect(
      h.engine.createWorkspace({ name: 'Other Shop', settings: { hubspot: { accessToken: 'pat-na1-other', portalId: OTHER_PORTAL, clientSecret: OTHER_SECRET } } }),
    ).rejects.toMatchObject({ code: 'CONFLICT', issues: [{ path: 'hubspot.portalId' }] });
    const other = await h.engine.createWorkspace({ name: 'Other Shop', settings: {} });
    await expect(h.engine.workspace(other.id).updateSettings({ hubspot: { accessToken: 'pat-na1-other', portalId: OTHER_PORTAL } })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    const served = await checkConsent(h, app, CLIENT_SECRET, checkConsentBody(OTHER_PORTAL, 'cb-env', '5001'));
    expect(served.statusCode).toBe(200);
  });
});

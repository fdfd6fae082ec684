import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { hubSpotPlugin } from '../../../connectors/hubspot/http/plugin.js';
import { HUBSPOT_TOKEN_PATH } from '../../../connectors/hubspot/oauth.js';
import { channelPropertyNames } from '../../../connectors/hubspot/properties.js';
import { createApiKey } from '../../../src/server/api-keys.js';
import { installProblemHandlers } from '../../../src/server/problem.js';
import { hubspotProperties, linkedContact, PORTAL_ID, setSms, startHarness, syncStatus, type Harness } from './harness.js';

/**
 * An install through HubSpot's OAuth flow (https://developers.hubspot.com/docs/api-reference/auth-oauth-v3/guide)
 * against the local fake HubSpot, then the sync on what the install stored: the fake accepts only
 * access tokens its token endpoint issued and that have not expired on the test's clock.
 */
const PUBLIC_URL = 'https://consent.example.com';
const REDIRECT_URI = `${PUBLIC_URL}/hubspot/oauth/callback`;
const APP = { clientId: '11111111-2222-3333-4444-555555555555', clientSecret: 'app-secret-for-install-tests' };
const INSTALL_REFRESH_TOKEN = 'refresh-token-of-the-install';
const CODE = 'code-sent-by-hubspot-0001';
const TOKEN_ENDPOINT = `POST ${HUBSPOT_TOKEN_PATH}`;
const sms = channelPropertyNames('sms');

let h: Harness | null = null;
let app: FastifyInstance | null = null;
afterEach(async () => {
  await app?.close();
  app = null;
  await h?.close();
  h = null;
});

/** The HubSpot routes as the server mounts them, their HubSpot calls going to the fake. */
async function serve(harness: Harness): Promise<FastifyInstance> {
  const server = Fastify();
  server.setValidatorCompiler(validatorCompiler);
  server.setSerializerCompiler(serializerCompiler);
  installProblemHandlers(server);
  await server.register(hubSpotPlugin, {
    engine: harness.engine,
    store: harness.store,
    clock: harness.clock,
    connections: harness.connections,
    env: { HUBSPOT_CLIENT_ID: APP.clientId, HUBSPOT_CLIENT_SECRET: APP.clientSecret },
    publicUrl: PUBLIC_URL,
    install: { basePath: harness.fake.url },
  });
  return server;
}

const StartSchema = z.object({ url: z.string(), expiresAt: z.string() });

async function install(harness: Harness, server: FastifyInstance, code = CODE): Promise<{ status: number; page: string }> {
  const { key } = await createApiKey(harness.store, { workspaceId: harness.workspaceId, clock: harness.clock });
  const started = await server.inject({ method: 'POST', url: '/v1/integrations/hubspot/oauth/start', headers: { authorization: `Bearer ${key}` } });
  expect(started.statusCode, started.body).toBe(200);
  const state = new URL(StartSchema.parse(started.json()).url).searchParams.get('state') ?? '';
  const response = await server.inject({ method: 'GET', url: `/hubspot/oauth/callback?${new URLSearchParams({ code, state }).toString()}` });
  return { status: response.statusCode, page: response.body };
}

describe('HubSpot OAuth install, then the sync', () => {
  it('connects the workspace, and the sync writes with the access token the install was issued, refreshing it with the refresh token later', async () => {
    h = await startHarness({
      sqlite: true,
      hubspot: null,
      fake: { oauth: { ...APP, refreshToken: INSTALL_REFRESH_TOKEN, authorizationCodes: [{ code: CODE, redirectUri: REDIRECT_URI }] } },
    });
    app = await serve(h);
    const installed = await install(h, app);
    expect(installed.status, installed.page).toBe(200);
    expect(installed.page).toContain(`HubSpot account ${PORTAL_ID} is connected`);
    expect(h.fake.issuedAccessTokens).toEqual(['fake-oauth-1']);
    expect(installed.page).not.toContain('fake-oauth-1');
    expect((await h.workspace.get()).settings.hubspot).toMatchObject({ portalId: PORTAL_ID, accessToken: 'fake-oauth-1', refreshToken: INSTALL_REFRESH_TOKEN, ...APP });

    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    await setSms(h, contactId, 'opted_in');
    await h.sync.drain();
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBe('opted_in');
    // The token the install was issued is the one used: no request to the token endpoint since.
    expect(h.fake.stats.byEndpoint[TOKEN_ENDPOINT]).toBe(1);

    // 26 minutes after it was issued, the token has less than the refresh margin left.
    h.clock.advance(26 * 60 * 1000);
    await setSms(h, contactId, 'opted_out');
    await h.sync.drain();
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBe('opted_out');
    expect(h.fake.issuedAccessTokens).toEqual(['fake-oauth-1', 'fake-oauth-2']);
    expect((await syncStatus(h)).heldReason).toBeNull();
  });

  it('stores nothing when HubSpot refuses the code, here one sent to another redirect URL', async () => {
    h = await startHarness({
      hubspot: null,
      fake: { oauth: { ...APP, refreshToken: INSTALL_REFRESH_TOKEN, authorizationCodes: [{ code: CODE, redirectUri: `${PUBLIC_URL}/another/redirect` }] } },
    });
    app = await serve(h);
    const refused = await install(h, app);
    expect(refused.status).toBe(400);
    expect(refused.page).toContain('HubSpot refused the authorization code');
    expect(refused.page).not.toContain(CODE);
    expect(h.fake.issuedAccessTokens).toEqual([]);
    expect((await h.workspace.get()).settings.hubspot).toBeNull();
  });
});

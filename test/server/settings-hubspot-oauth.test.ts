import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { http, HttpResponse } from 'msw';
import { afterEach, describe, expect, it } from 'vitest';
import { HUBSPOT_TOKEN_PATH, oauthTokensKey } from '../../connectors/hubspot/oauth.js';
import { createEngine, type Engine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import type { Store } from '../../src/ports/store.js';
import { createApiKey } from '../../src/server/api-keys.js';
import { buildApp } from '../../src/server/app.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { accountDetails, ACCOUNT_INFO_URL, HUBSPOT_API, useHubSpotMsw } from '../connectors/hubspot/msw.js';
import { body, expectProblem } from './helpers.js';

/**
 * Connecting a workspace through an OAuth app: the settings name the app (client id and secret)
 * and the install's refresh token; HubSpot's token endpoint
 * (https://developers.hubspot.com/docs/api-reference/auth-oauth-v3/guide) issues the access token
 * that account-info (https://developers.hubspot.com/docs/api/settings/account-information-api)
 * is asked with, so the portal named is proven by the install.
 */
const server = useHubSpotMsw();
const TOKEN_URL = `${HUBSPOT_API}${HUBSPOT_TOKEN_PATH}`;
const OURS = '12345';
const APP = { clientId: '11111111-2222-3333-4444-555555555555', clientSecret: 'app-secret-for-tests' };
const REFRESH = 'refresh-token-of-the-install';
const START = Date.parse('2026-03-01T09:00:00.000Z');

/** A token endpoint issuing `access-<n>` for REFRESH, and account-info knowing each issued token as `portalOf`'s. */
function hubSpot(portalOf = OURS): { forms: URLSearchParams[] } {
  const seen = { forms: [] as URLSearchParams[] };
  server.use(
    http.post(TOKEN_URL, async ({ request }) => {
      const form = new URLSearchParams(await request.text());
      seen.forms.push(form);
      if (form.get('client_id') !== APP.clientId) return HttpResponse.json({ error: 'invalid_client', status: 'BAD_CLIENT_ID' }, { status: 400 });
      if (form.get('refresh_token') !== REFRESH) return HttpResponse.json({ error: 'invalid_grant', status: 'BAD_REFRESH_TOKEN' }, { status: 400 });
      return HttpResponse.json({ access_token: `access-${seen.forms.length}`, refresh_token: REFRESH, expires_in: 1800, token_type: 'bearer' });
    }),
    http.get(ACCOUNT_INFO_URL, ({ request }) => {
      const token = (request.headers.get('authorization') ?? '').replace(/^Bearer /, '');
      if (!token.startsWith('access-')) return HttpResponse.json({ status: 'error', category: 'INVALID_AUTHENTICATION' }, { status: 401 });
      return HttpResponse.json(accountDetails(Number(portalOf)));
    }),
  );
  return seen;
}

let app: FastifyInstance | null = null;
afterEach(async () => {
  await app?.close();
  app = null;
});

async function start(): Promise<{ engine: Engine; store: Store; workspaceId: string; patch(payload: object): Promise<LightMyRequestResponse> }> {
  const store = createMemoryStore();
  const clock = new FakeClock(new Date(START).toISOString());
  const engine = createEngine({ store, clock });
  const workspace = await engine.createWorkspace({ name: 'Example Shop' });
  const { key } = await createApiKey(store, { workspaceId: workspace.id, clock });
  app = await buildApp({ store, engine, clock, defaultMetrics: false });
  const built = app;
  return {
    engine,
    store,
    workspaceId: workspace.id,
    patch: (payload) => built.inject({ method: 'PATCH', url: '/v1/settings', headers: { authorization: `Bearer ${key}` }, payload }),
  };
}

describe('PATCH /v1/settings with an OAuth install of HubSpot', () => {
  it('gets the first access token from HubSpot, proves the portal with it, stores it and keeps it for the sync', async () => {
    const seen = hubSpot();
    const { engine, store, patch, workspaceId } = await start();
    const response = await patch({ hubspot: { portalId: OURS, ...APP, refreshToken: REFRESH } });
    expect(response.statusCode).toBe(200);
    const shown = body(response);
    expect(shown).toMatchObject({ hubspot: { portalId: OURS, clientId: APP.clientId } });
    // Secrets are shown masked: never the refresh token itself.
    expect(JSON.stringify(shown)).not.toContain(REFRESH);
    expect(JSON.stringify(shown)).not.toContain(APP.clientSecret);
    const stored = (await engine.workspace(workspaceId).get()).settings.hubspot;
    expect(stored).toMatchObject({ accessToken: 'access-1', refreshToken: REFRESH, ...APP });
    expect(seen.forms).toHaveLength(1);
    expect(await store.read((tx) => tx.getMeta(oauthTokensKey(workspaceId)))).toMatchObject({ accessToken: 'access-1', expiresAt: expect.any(Number) });
  });

  it('refuses with 422 naming the field a refusal of the token endpoint is about, storing nothing', async () => {
    hubSpot();
    const { engine, patch, workspaceId } = await start();
    const badGrant = await patch({ hubspot: { portalId: OURS, ...APP, refreshToken: 'not-the-install' } });
    const refused = expectProblem(badGrant, 422, 'VALIDATION_FAILED');
    expect(JSON.stringify(refused)).toContain('hubspot.refreshToken');
    expect(JSON.stringify(refused)).toContain('BAD_REFRESH_TOKEN');

    const badClient = await patch({ hubspot: { portalId: OURS, ...APP, clientId: 'another-app', refreshToken: REFRESH } });
    expect(JSON.stringify(expectProblem(badClient, 422, 'VALIDATION_FAILED'))).toContain('hubspot.clientId');
    expect((await engine.workspace(workspaceId).get()).settings.hubspot).toBeNull();
  });

  it("refuses an install of another portal with 422 naming hubspot.portalId", async () => {
    hubSpot('67890');
    const { engine, patch, workspaceId } = await start();
    const response = await patch({ hubspot: { portalId: OURS, ...APP, refreshToken: REFRESH } });
    expect(JSON.stringify(expectProblem(response, 422, 'VALIDATION_FAILED'))).toContain('hubspot.portalId');
    expect((await engine.workspace(workspaceId).get()).settings.hubspot).toBeNull();
  });

  it('answers 503 with Retry-After while the token endpoint fails, storing nothing', async () => {
    server.use(http.post(TOKEN_URL, () => new HttpResponse('<html>unavailable</html>', { status: 503 })));
    const { engine, patch, workspaceId } = await start();
    const response = await patch({ hubspot: { portalId: OURS, ...APP, refreshToken: REFRESH } });
    expectProblem(response, 503, 'HUBSPOT_UNAVAILABLE');
    expect(response.headers['retry-after']).toBe('30');
    expect((await engine.workspace(workspaceId).get()).settings.hubspot).toBeNull();
  });

  it('needs the client id and secret beside a refresh token, and names what is missing', async () => {
    hubSpot();
    const { patch } = await start();
    const response = await patch({ hubspot: { portalId: OURS, accessToken: 'access-given', refreshToken: REFRESH } });
    const problem = JSON.stringify(expectProblem(response, 422, 'VALIDATION_FAILED'));
    expect(problem).toContain('hubspot.clientId');
    expect(problem).toContain('hubspot.clientSecret');
  });

  it('forgets the kept tokens when the workspace disconnects HubSpot or moves to a private-app token', async () => {
    hubSpot();
    server.use(
      http.get(ACCOUNT_INFO_URL, ({ request }) => {
        const token = (request.headers.get('authorization') ?? '').replace(/^Bearer /, '');
        return token === 'pat-na1-private' || token.startsWith('access-')
          ? HttpResponse.json(accountDetails(Number(OURS)))
          : HttpResponse.json({ status: 'error', category: 'INVALID_AUTHENTICATION' }, { status: 401 });
      }),
    );
    const { store, patch, workspaceId } = await start();
    const kept = () => store.read((tx) => tx.getMeta(oauthTokensKey(workspaceId)));
    expect((await patch({ hubspot: { portalId: OURS, ...APP, refreshToken: REFRESH } })).statusCode).toBe(200);
    expect(await kept()).toMatchObject({ accessToken: 'access-1' });
    expect((await patch({ hubspot: { accessToken: 'pat-na1-private', refreshToken: null, clientId: null } })).statusCode).toBe(200);
    expect(await kept()).toBeNull();

    expect((await patch({ hubspot: { ...APP, refreshToken: REFRESH, accessToken: null } })).statusCode).not.toBe(500);
    expect((await patch({ hubspot: null })).statusCode).toBe(200);
    expect(await kept()).toBeNull();
  });

  it('asks HubSpot nothing for a refresh token sent back masked, as the settings show it', async () => {
    const seen = hubSpot();
    const { patch } = await start();
    const connected = await patch({ hubspot: { portalId: OURS, ...APP, refreshToken: REFRESH } });
    const masked = (body(connected) as { hubspot: { refreshToken: string } }).hubspot.refreshToken;
    expect(masked).not.toBe(REFRESH);
    const again = await patch({ hubspot: { refreshToken: masked } });
    expect(again.statusCode).toBe(200);
    expect(seen.forms).toHaveLength(1);
  });

  it('checks a changed app secret with the refresh token HubSpot rotated to, not the one first installed', async () => {
    // A token endpoint that rotates the refresh token on each grant and refuses a rotated-away one.
    const forms: URLSearchParams[] = [];
    let current = REFRESH;
    server.use(
      http.post(TOKEN_URL, async ({ request }) => {
        const form = new URLSearchParams(await request.text());
        forms.push(form);
        if (form.get('refresh_token') !== current) return HttpResponse.json({ error: 'invalid_grant', status: 'BAD_REFRESH_TOKEN' }, { status: 400 });
        current = `rotated-${forms.length}`;
        return HttpResponse.json({ access_token: `access-${forms.length}`, refresh_token: current, expires_in: 1800, token_type: 'bearer' });
      }),
      http.get(ACCOUNT_INFO_URL, () => HttpResponse.json(accountDetails(Number(OURS)))),
    );
    const { engine, store, patch, workspaceId } = await start();
    expect((await patch({ hubspot: { portalId: OURS, ...APP, refreshToken: REFRESH } })).statusCode).toBe(200);
    expect(await store.read((tx) => tx.getMeta(oauthTokensKey(workspaceId)))).toMatchObject({ refreshToken: 'rotated-1' });

    const response = await patch({ hubspot: { clientSecret: 'renewed-app-secret' } });
    expect(response.statusCode).toBe(200);
    expect(forms.map((form) => form.get('refresh_token'))).toEqual([REFRESH, 'rotated-1']);
    expect(forms[1]?.get('client_secret')).toBe('renewed-app-secret');
    expect(await store.read((tx) => tx.getMeta(oauthTokensKey(workspaceId)))).toMatchObject({ refreshToken: 'rotated-2', accessToken: 'access-2' });
    // The settings keep the refresh token installed: it names the install the kept tokens belong to.
    expect((await engine.workspace(workspaceId).get()).settings.hubspot).toMatchObject({ refreshToken: REFRESH, clientSecret: 'renewed-app-secret' });
  });

  it('checks a new refresh token of an install already connected: it could be another portal', async () => {
    const seen = hubSpot();
    const { patch } = await start();
    expect((await patch({ hubspot: { portalId: OURS, ...APP, refreshToken: REFRESH } })).statusCode).toBe(200);
    const again = await patch({ hubspot: { refreshToken: 'refresh-token-of-another-install' } });
    expect(JSON.stringify(expectProblem(again, 422, 'VALIDATION_FAILED'))).toContain('hubspot.refreshToken');
    expect(seen.forms).toHaveLength(2);
  });
});

import { http, HttpResponse } from 'msw';
import { afterEach, describe, expect, it } from 'vitest';
import { createHubSpotClient } from '../../../connectors/hubspot/client.js';
import { HubSpotOutcomeUnknownError, PortalRateLimiter } from '../../../connectors/hubspot/rate-limiter.js';
import { HubSpotApiError } from '../../../connectors/hubspot/errors.js';
import {
  HUBSPOT_TOKEN_PATH,
  HubSpotAccessTokens,
  HubSpotGrantRefusedError,
  oauthTokensKey,
  requestHubSpotTokens,
  type HubSpotOAuthCredentials,
} from '../../../connectors/hubspot/oauth.js';
import { FakeClock } from '../../../src/ports/clock.js';
import type { Store } from '../../../src/ports/store.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { contactObject, HUBSPOT_API, useHubSpotMsw } from './msw.js';

/**
 * HubSpot's token endpoint (https://developers.hubspot.com/docs/api-reference/auth-oauth-v3/guide):
 * a form-encoded POST; RFC 6749 §5.1 answers, §5.2 errors with HubSpot's `status` beside `error`
 * (https://developers.hubspot.com/changelog/new-oauth-v3-api-endpoints-and-standardized-error-responses).
 */
const TOKEN_URL = `${HUBSPOT_API}${HUBSPOT_TOKEN_PATH}`;
const APP: HubSpotOAuthCredentials = {
  clientId: '11111111-2222-3333-4444-555555555555',
  clientSecret: 'app-secret-for-tests',
  refreshToken: 'refresh-token-of-the-install',
};
const WORKSPACE = 'ws_oauth';
const server = useHubSpotMsw();

interface TokenServer {
  forms: URLSearchParams[];
}

/** A token endpoint that issues `access-<n>` living `ttlSeconds`, and answers with `refreshToken` (a rotation when it differs). */
function tokenEndpoint(options: { ttlSeconds?: number; refreshToken?: (form: URLSearchParams) => string } = {}): TokenServer {
  const seen: TokenServer = { forms: [] };
  server.use(
    http.post(TOKEN_URL, async ({ request }) => {
      const form = new URLSearchParams(await request.text());
      seen.forms.push(form);
      return HttpResponse.json({
        access_token: `access-${seen.forms.length}`,
        refresh_token: options.refreshToken?.(form) ?? form.get('refresh_token'),
        expires_in: options.ttlSeconds ?? 1800,
        token_type: 'bearer',
      });
    }),
  );
  return seen;
}

const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

function keeper(clock: FakeClock, store: Store = createMemoryStore()): { tokens: HubSpotAccessTokens; store: Store } {
  stores.push(store);
  return { tokens: new HubSpotAccessTokens({ store, clock }), store };
}

describe('requestHubSpotTokens', () => {
  it('sends the grant in a form body, never in the URL, and reads the token and its lifetime', async () => {
    let url = '';
    let contentType = '';
    const seen = tokenEndpoint({ ttlSeconds: 1800 });
    server.events.on('request:start', ({ request }) => {
      url = request.url;
      contentType = request.headers.get('content-type') ?? '';
    });
    const issued = await requestHubSpotTokens(APP, { grantType: 'refresh_token', refreshToken: APP.refreshToken }, Date.parse('2026-03-02T10:00:00Z'));
    server.events.removeAllListeners();
    expect(issued).toEqual({ accessToken: 'access-1', refreshToken: APP.refreshToken, expiresAt: Date.parse('2026-03-02T10:30:00Z') });
    expect(url).toBe(TOKEN_URL);
    expect(contentType).toContain('application/x-www-form-urlencoded');
    expect(Object.fromEntries(seen.forms[0] ?? [])).toEqual({
      grant_type: 'refresh_token',
      client_id: APP.clientId,
      client_secret: APP.clientSecret,
      refresh_token: APP.refreshToken,
    });
  });

  it('names the refresh token when HubSpot refuses the grant, and the client id when it refuses the app', async () => {
    server.use(
      http.post(TOKEN_URL, () =>
        HttpResponse.json(
          { error: 'invalid_grant', error_description: 'refresh token is invalid, expired or revoked', status: 'BAD_REFRESH_TOKEN', message: 'refresh token is invalid, expired or revoked' },
          { status: 400 },
        ),
      ),
    );
    const grant = { grantType: 'refresh_token', refreshToken: APP.refreshToken } as const;
    const refused = await requestHubSpotTokens(APP, grant, 0).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(HubSpotGrantRefusedError);
    expect(refused).toMatchObject({ field: 'hubspot.refreshToken', oauthError: 'invalid_grant', status: 400 });
    expect(String(refused)).toContain('BAD_REFRESH_TOKEN');
    expect(String(refused)).not.toContain(APP.refreshToken);

    server.use(http.post(TOKEN_URL, () => HttpResponse.json({ error: 'invalid_client', status: 'BAD_CLIENT_ID' }, { status: 400 })));
    await expect(requestHubSpotTokens(APP, grant, 0)).rejects.toMatchObject({ field: 'hubspot.clientId', oauthError: 'invalid_client' });
  });

  it('fails as HubSpot failing (worth asking again) on a 5xx, a 429 or an answer without a token', async () => {
    const grant = { grantType: 'refresh_token', refreshToken: APP.refreshToken } as const;
    server.use(http.post(TOKEN_URL, () => new HttpResponse('<html>busy</html>', { status: 503 })));
    await expect(requestHubSpotTokens(APP, grant, 0)).rejects.toMatchObject({ name: 'HubSpotApiError', status: 503 });
    server.use(http.post(TOKEN_URL, () => HttpResponse.json({ status: 'error', errorType: 'RATE_LIMIT', policyName: 'TEN_SECONDLY_ROLLING' }, { status: 429 })));
    await expect(requestHubSpotTokens(APP, grant, 0)).rejects.toMatchObject({ status: 429, policyName: 'TEN_SECONDLY_ROLLING' });
    server.use(http.post(TOKEN_URL, () => HttpResponse.json({ token_type: 'bearer' })));
    const empty = await requestHubSpotTokens(APP, grant, 0).catch((error: unknown) => error);
    expect(empty).toBeInstanceOf(HubSpotApiError);
  });
});

describe('HubSpotAccessTokens', () => {
  it('asks HubSpot once for callers that need a token at the same time, and reuses it while it is valid', async () => {
    const clock = new FakeClock('2026-03-02T10:00:00.000Z');
    const seen = tokenEndpoint();
    const { tokens } = keeper(clock);
    const first = await Promise.all([1, 2, 3, 4].map(() => tokens.accessToken(WORKSPACE, APP)));
    expect(first).toEqual(['access-1', 'access-1', 'access-1', 'access-1']);
    clock.advance(24 * 60 * 1000);
    expect(await tokens.accessToken(WORKSPACE, APP)).toBe('access-1');
    expect(seen.forms).toHaveLength(1);
  });

  it('refreshes before the token expires, not after a refusal: within five minutes of its end it is replaced', async () => {
    const clock = new FakeClock('2026-03-02T10:00:00.000Z');
    const seen = tokenEndpoint();
    const { tokens } = keeper(clock);
    await tokens.accessToken(WORKSPACE, APP);
    clock.advance(25 * 60 * 1000 + 1);
    expect(await tokens.accessToken(WORKSPACE, APP)).toBe('access-2');
    expect(seen.forms).toHaveLength(2);
  });

  it('keeps the newest tokens in the store: another process uses them instead of asking HubSpot again', async () => {
    const clock = new FakeClock('2026-03-02T10:00:00.000Z');
    const seen = tokenEndpoint();
    const { tokens, store } = keeper(clock);
    await tokens.accessToken(WORKSPACE, APP);
    const other = new HubSpotAccessTokens({ store, clock });
    expect(await other.accessToken(WORKSPACE, APP)).toBe('access-1');
    expect(seen.forms).toHaveLength(1);
    expect(await store.read((tx) => tx.getMeta(oauthTokensKey(WORKSPACE)))).toMatchObject({ accessToken: 'access-1', refreshToken: APP.refreshToken });
  });

  it('uses a refresh token HubSpot rotated from then on, and starts again from the settings when they name another install', async () => {
    const clock = new FakeClock('2026-03-02T10:00:00.000Z');
    const seen = tokenEndpoint({ refreshToken: (form) => `${form.get('refresh_token') ?? ''}+` });
    const { tokens } = keeper(clock);
    await tokens.accessToken(WORKSPACE, APP);
    clock.advance(60 * 60 * 1000);
    await tokens.accessToken(WORKSPACE, APP);
    expect(seen.forms.map((form) => form.get('refresh_token'))).toEqual([APP.refreshToken, `${APP.refreshToken}+`]);

    const reinstalled = { ...APP, refreshToken: 'refresh-token-of-a-new-install' };
    expect(await tokens.accessToken(WORKSPACE, reinstalled)).toBe('access-3');
    expect(seen.forms[2]?.get('refresh_token')).toBe(reinstalled.refreshToken);
  });

  it('does not use again a token HubSpot answered 401 to', async () => {
    const clock = new FakeClock('2026-03-02T10:00:00.000Z');
    const seen = tokenEndpoint();
    const { tokens, store } = keeper(clock);
    await tokens.accessToken(WORKSPACE, APP);
    await tokens.refused(WORKSPACE, 'some-older-token');
    expect(await tokens.accessToken(WORKSPACE, APP)).toBe('access-1');
    await tokens.refused(WORKSPACE, 'access-1');
    expect(await tokens.accessToken(WORKSPACE, APP)).toBe('access-2');
    expect(seen.forms).toHaveLength(2);
    expect(await new HubSpotAccessTokens({ store, clock }).accessToken(WORKSPACE, APP)).toBe('access-2');
  });

  it('gives a client the current token on every request, and sends a request HubSpot answered 401 once more with a new token', async () => {
    const clock = new FakeClock('2026-03-02T10:00:00.000Z');
    tokenEndpoint();
    const { tokens } = keeper(clock);
    const sent: string[] = [];
    server.use(
      http.post(`${HUBSPOT_API}/crm/v3/objects/contacts/batch/update`, ({ request }) => {
        const auth = request.headers.get('authorization') ?? '';
        sent.push(auth);
        if (auth === 'Bearer access-2') return HttpResponse.json({ status: 'error', message: 'expired', category: 'EXPIRED_AUTHENTICATION' }, { status: 401 });
        return HttpResponse.json({ status: 'COMPLETE', results: [contactObject('1001', {})], startedAt: '2026-03-02T10:00:00Z', completedAt: '2026-03-02T10:00:00Z' });
      }),
    );
    const client = createHubSpotClient({
      accessToken: { current: () => tokens.accessToken(WORKSPACE, APP), refused: (token) => tokens.refused(WORKSPACE, token) },
    });
    const update = () => client.updateContacts([{ id: '1001', properties: { consentry_sms_status: 'opted_in' } }]);
    await update();
    clock.advance(40 * 60 * 1000);
    await update();
    expect(sent).toEqual(['Bearer access-1', 'Bearer access-2', 'Bearer access-3']);
  });

  it('sends a request once more only: a second 401 is the answer', async () => {
    const clock = new FakeClock('2026-03-02T10:00:00.000Z');
    const seen = tokenEndpoint();
    const { tokens } = keeper(clock);
    let answered = 0;
    server.use(
      http.post(`${HUBSPOT_API}/crm/v3/objects/contacts/batch/update`, () => {
        answered += 1;
        return HttpResponse.json({ status: 'error', message: 'revoked', category: 'INVALID_AUTHENTICATION' }, { status: 401 });
      }),
    );
    const client = createHubSpotClient({
      accessToken: { current: () => tokens.accessToken(WORKSPACE, APP), refused: (token) => tokens.refused(WORKSPACE, token) },
    });
    await expect(client.updateContacts([{ id: '1001', properties: {} }])).rejects.toMatchObject({ status: 401 });
    expect(answered).toBe(2);
    expect(seen.forms).toHaveLength(2);
  });

  it('blames a 401 on the token its request carried, not on one another request got meanwhile', async () => {
    const refused: string[] = [];
    let current = 'token-old';
    server.use(
      http.post(`${HUBSPOT_API}/crm/v3/objects/contacts/batch/update`, async ({ request }) => {
        const auth = request.headers.get('authorization') ?? '';
        if (auth === 'Bearer token-old') {
          // The other request starts with the new token before this one is answered.
          current = 'token-new';
          await other();
          return HttpResponse.json({ status: 'error', category: 'EXPIRED_AUTHENTICATION' }, { status: 401 });
        }
        return HttpResponse.json({ status: 'COMPLETE', results: [], startedAt: '2026-03-02T10:00:00Z', completedAt: '2026-03-02T10:00:00Z' });
      }),
    );
    const client = createHubSpotClient({
      accessToken: { current: () => Promise.resolve(current), refused: (token) => Promise.resolve(void refused.push(token)) },
    });
    const other = () => client.updateContacts([{ id: '1002', properties: {} }]);
    await client.updateContacts([{ id: '1001', properties: {} }]);
    expect(refused).toEqual(['token-old']);
  });

  it('takes the token before the request: a token endpoint that fails is its own failure, and the create is not sent', async () => {
    const clock = new FakeClock('2026-03-02T10:00:00.000Z');
    server.use(http.post(TOKEN_URL, () => new HttpResponse('<html>busy</html>', { status: 503 })));
    let creates = 0;
    server.use(
      http.post(`${HUBSPOT_API}/crm/v3/properties/contacts/groups`, () => {
        creates += 1;
        return HttpResponse.json({ name: 'consentry', label: 'Consentry', displayOrder: -1 });
      }),
    );
    const { tokens } = keeper(clock);
    const limiter = new PortalRateLimiter({ clock, sleep: async (ms) => void clock.advance(ms), random: () => 0 });
    const client = createHubSpotClient({
      accessToken: { current: () => tokens.accessToken(WORKSPACE, APP), refused: (token) => tokens.refused(WORKSPACE, token) },
      limiter,
    });
    const failure = await client.createPropertyGroup({ name: 'consentry', label: 'Consentry', displayOrder: -1 }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(HubSpotApiError);
    expect(failure).not.toBeInstanceOf(HubSpotOutcomeUnknownError);
    expect(creates).toBe(0);
    expect(limiter.stats().requests).toBe(0);
  });

  it('does not hand a refresh in flight for one install to settings that name another', async () => {
    const clock = new FakeClock('2026-03-02T10:00:00.000Z');
    const seen = tokenEndpoint();
    const { tokens } = keeper(clock);
    const reinstalled = { ...APP, refreshToken: 'refresh-token-of-a-new-install' };
    const [old, fresh] = await Promise.all([tokens.accessToken(WORKSPACE, APP), tokens.accessToken(WORKSPACE, reinstalled)]);
    expect(old).not.toBe(fresh);
    expect(seen.forms.map((form) => form.get('refresh_token')).sort()).toEqual([APP.refreshToken, reinstalled.refreshToken].sort());
  });
});

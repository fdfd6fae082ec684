import { randomBytes } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { http, HttpResponse } from 'msw';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CONNECTOR_SCOPES } from '../../connectors/hubspot/account.js';
import { resolveHubSpotConfig } from '../../connectors/hubspot/config.js';
import { HUBSPOT_TOKEN_PATH, oauthTokensKey, planAccess } from '../../connectors/hubspot/oauth.js';
import { OAUTH_STATE_SECRET_KEY, OAUTH_STATES_USED_KEY, signOAuthState } from '../../connectors/hubspot/oauth-state.js';
import type { Config } from '../../src/config.js';
import { ConsentryError } from '../../src/core/errors.js';
import type { WorkspaceSettingsInput } from '../../src/core/settings.js';
import { createEngine, type Engine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import { TransactionRolledBackError, type Store } from '../../src/ports/store.js';
import { createApiKey } from '../../src/server/api-keys.js';
import { buildApp } from '../../src/server/app.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { accountDetails, ACCOUNT_INFO_URL, HUBSPOT_API, useHubSpotMsw } from '../connectors/hubspot/msw.js';
import { expectProblem, problemPaths } from './helpers.js';

/**
 * HubSpot's OAuth install flow (https://developers.hubspot.com/docs/api-reference/auth-oauth-v3/guide)
 * through the whole server: the authorize URL an API client asks for, then HubSpot's redirect to
 * PUBLIC_URL/hubspot/oauth/callback with a code and the state. HubSpot's token endpoint and
 * account details (https://developers.hubspot.com/docs/api/settings/account-information-api) are
 * answered by msw; nothing else may be called.
 */
const server = useHubSpotMsw();

const PUBLIC_URL = 'https://consent.example.com';
const REDIRECT_URI = `${PUBLIC_URL}/hubspot/oauth/callback`;
const TOKEN_URL = `${HUBSPOT_API}${HUBSPOT_TOKEN_PATH}`;
const APP = { clientId: '11111111-2222-3333-4444-555555555555', clientSecret: 'app-secret-for-install-tests' };
const CONFIG: Partial<Config> = { HUBSPOT_CLIENT_ID: APP.clientId, HUBSPOT_CLIENT_SECRET: APP.clientSecret };
const CODE = 'code-sent-by-hubspot-0001';
const ISSUED = { accessToken: 'access-token-issued-for-the-code', refreshToken: 'refresh-token-issued-for-the-code' };
const OURS = '62515';
const START = '2026-03-01T09:00:00.000Z';
const TEN_MINUTES = 10 * 60 * 1000;

/** What never appears on a page or in an answer: the code, the tokens, the app secret. */
const NEVER_SHOWN = [CODE, ISSUED.accessToken, ISSUED.refreshToken, APP.clientSecret];

type TokenAnswer = 'issue' | 'refuse' | 'unavailable';
type AccountAnswer = 'ours' | 'unavailable';

/** HubSpot: the token endpoint exchanges CODE once for ISSUED; account-info knows ISSUED.accessToken as `portalId`'s. */
function hubSpot(options: { token?: TokenAnswer; account?: AccountAnswer; portalId?: string } = {}): { forms: URLSearchParams[]; accountChecks: number } {
  const seen = { forms: [] as URLSearchParams[], accountChecks: 0 };
  let spent = false;
  server.use(
    http.post(TOKEN_URL, async ({ request }) => {
      const form = new URLSearchParams(await request.text());
      seen.forms.push(form);
      if (options.token === 'unavailable') return new HttpResponse('<html><body>503 Service Unavailable</body></html>', { status: 503, headers: { 'content-type': 'text/html' } });
      if (form.get('client_id') !== APP.clientId || form.get('client_secret') !== APP.clientSecret) {
        return HttpResponse.json({ error: 'invalid_client', status: 'BAD_CLIENT_ID' }, { status: 400 });
      }
      const valid = options.token !== 'refuse' && !spent && form.get('grant_type') === 'authorization_code' && form.get('code') === CODE && form.get('redirect_uri') === REDIRECT_URI;
      if (!valid) return HttpResponse.json({ error: 'invalid_grant', error_description: 'code expired', status: 'BAD_AUTH_CODE' }, { status: 400 });
      spent = true;
      return HttpResponse.json({ access_token: ISSUED.accessToken, refresh_token: ISSUED.refreshToken, expires_in: 1800, token_type: 'bearer' });
    }),
    http.get(ACCOUNT_INFO_URL, ({ request }) => {
      seen.accountChecks += 1;
      if (options.account === 'unavailable') return HttpResponse.json({ status: 'error', message: 'down' }, { status: 503, headers: { 'retry-after': '120' } });
      if (request.headers.get('authorization') !== `Bearer ${ISSUED.accessToken}`) return HttpResponse.json({ status: 'error', category: 'INVALID_AUTHENTICATION' }, { status: 401 });
      return HttpResponse.json(accountDetails(Number(options.portalId ?? OURS)));
    }),
  );
  return seen;
}

interface Setup {
  app: FastifyInstance;
  engine: Engine;
  store: Store;
  clock: FakeClock;
  /** A workspace and its API key. */
  tenant(name: string, settings?: WorkspaceSettingsInput): Promise<{ workspaceId: string; key: string }>;
}

let open: FastifyInstance | null = null;
afterEach(async () => {
  await open?.close();
  open = null;
});

async function setUp(options: { config?: Partial<Config>; publicUrl?: string | null; store?: Store } = {}): Promise<Setup> {
  const store = options.store ?? createMemoryStore();
  const clock = new FakeClock(START);
  const engine = createEngine({ store, clock });
  const publicUrl = options.publicUrl === undefined ? PUBLIC_URL : options.publicUrl;
  const app = await buildApp({ store, engine, clock, defaultMetrics: false, config: options.config ?? CONFIG, ...(publicUrl === null ? {} : { publicUrl }) });
  open = app;
  return {
    app,
    engine,
    store,
    clock,
    async tenant(name, settings) {
      const workspace = await engine.createWorkspace({ name, ...(settings === undefined ? {} : { settings }) });
      const { key } = await createApiKey(store, { workspaceId: workspace.id, clock });
      return { workspaceId: workspace.id, key };
    },
  };
}

const StartAnswerSchema = z.object({ url: z.string(), expiresAt: z.string() }).strict();

async function startInstall(s: Setup, key: string): Promise<{ url: URL; state: string; expiresAt: string }> {
  const response = await s.app.inject({ method: 'POST', url: '/v1/integrations/hubspot/oauth/start', headers: { authorization: `Bearer ${key}` } });
  expect(response.statusCode, response.body).toBe(200);
  const answer = StartAnswerSchema.parse(response.json());
  const url = new URL(answer.url);
  const state = url.searchParams.get('state');
  if (state === null) throw new Error('the authorize URL has no state');
  return { url, state, expiresAt: answer.expiresAt };
}

function callback(s: Setup, query: Record<string, string>): Promise<LightMyRequestResponse> {
  return s.app.inject({ method: 'GET', url: `/hubspot/oauth/callback?${new URLSearchParams(query).toString()}` });
}

/** A page answer: its status, HTML, loading nothing, not cached, and without the code, a token or the secret. */
function expectPage(response: LightMyRequestResponse, status: number, ...says: string[]): string {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
  expect(response.headers['cache-control']).toBe('no-store');
  expect(response.headers['referrer-policy']).toBe('no-referrer');
  expect(String(response.headers['content-security-policy'])).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]+=*';/);
  const page = response.body;
  expect(page.startsWith('<!doctype html>')).toBe(true);
  // Nothing loaded from elsewhere, nothing run.
  expect(page).not.toMatch(/<script|<link|<img|src=|href=/i);
  for (const secret of NEVER_SHOWN) expect(page).not.toContain(secret);
  for (const text of says) expect(page).toContain(text);
  return page;
}

async function hubspotSettingsOf(s: Setup, workspaceId: string) {
  return (await s.engine.workspace(workspaceId).get()).settings.hubspot;
}

async function keptTokens(s: Setup, workspaceId: string): Promise<unknown> {
  return s.store.read((tx) => tx.getMeta(oauthTokensKey(workspaceId)));
}

describe('POST /v1/integrations/hubspot/oauth/start', () => {
  it("answers HubSpot's authorize URL with the app's client id, the connector's scopes, the redirect URL and a state valid for 10 minutes", async () => {
    const s = await setUp();
    const { key } = await s.tenant('Example Shop');
    const { url, state, expiresAt } = await startInstall(s, key);
    expect(`${url.origin}${url.pathname}`).toBe('https://app.hubspot.com/oauth/authorize');
    expect([...url.searchParams.keys()]).toEqual(['client_id', 'scope', 'redirect_uri', 'state']);
    expect(url.searchParams.get('client_id')).toBe(APP.clientId);
    expect(url.searchParams.get('redirect_uri')).toBe(REDIRECT_URI);
    expect(url.searchParams.get('scope')?.split(' ')).toEqual([...CONNECTOR_SCOPES, 'oauth']);
    // Scopes are separated by a space written %20, as HubSpot's own client writes it.
    expect(url.search).toContain(`scope=${CONNECTOR_SCOPES[0]}%20${CONNECTOR_SCOPES[1]}`);
    expect(expiresAt).toBe(new Date(Date.parse(START) + TEN_MINUTES).toISOString());
    expect(state).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    // Never the secret: the URL is shown to whoever installs.
    expect(url.href).not.toContain(APP.clientSecret);

    const again = await startInstall(s, key);
    expect(again.state).not.toBe(state);
  });

  it('keeps one signing secret, made once, in the store', async () => {
    const s = await setUp();
    const { key } = await s.tenant('Example Shop');
    expect(await s.store.read((tx) => tx.getMeta(OAUTH_STATE_SECRET_KEY))).toBeUndefined();
    await startInstall(s, key);
    const secret = await s.store.read((tx) => tx.getMeta(OAUTH_STATE_SECRET_KEY));
    expect(secret).toEqual(expect.stringMatching(/^[A-Za-z0-9_-]{43}$/));
    await startInstall(s, key);
    expect(await s.store.read((tx) => tx.getMeta(OAUTH_STATE_SECRET_KEY))).toBe(secret);
  });

  it('needs an API key', async () => {
    const s = await setUp();
    const response = await s.app.inject({ method: 'POST', url: '/v1/integrations/hubspot/oauth/start' });
    expectProblem(response, 401, 'UNAUTHORIZED');
  });

  it('refuses with 409 naming each variable the server lacks', async () => {
    const bare = await setUp({ config: {}, publicUrl: null });
    const { key } = await bare.tenant('Example Shop');
    const refused = await bare.app.inject({ method: 'POST', url: '/v1/integrations/hubspot/oauth/start', headers: { authorization: `Bearer ${key}` } });
    const problem = expectProblem(refused, 409, 'CONFLICT');
    expect(problemPaths(refused)).toEqual(['HUBSPOT_CLIENT_ID', 'HUBSPOT_CLIENT_SECRET', 'PUBLIC_URL']);
    expect(String(problem.detail)).toMatch(
      /^The server is not set up to install the HubSpot app \(set these in its environment, then restart it\): HUBSPOT_CLIENT_ID: is not set: .+; HUBSPOT_CLIENT_SECRET: is not set: .+; PUBLIC_URL: is not set: /,
    );
    expect(await bare.store.read((tx) => tx.getMeta(OAUTH_STATE_SECRET_KEY))).toBeUndefined();
    await bare.app.close();

    const withoutUrl = await setUp({ publicUrl: null });
    const tenant = await withoutUrl.tenant('Example Shop');
    const noUrl = await withoutUrl.app.inject({ method: 'POST', url: '/v1/integrations/hubspot/oauth/start', headers: { authorization: `Bearer ${tenant.key}` } });
    expectProblem(noUrl, 409, 'CONFLICT');
    expect(problemPaths(noUrl)).toEqual(['PUBLIC_URL']);
  });

  it('takes no query and no body', async () => {
    const s = await setUp();
    const { key } = await s.tenant('Example Shop');
    const withQuery = await s.app.inject({ method: 'POST', url: '/v1/integrations/hubspot/oauth/start?workspace=other', headers: { authorization: `Bearer ${key}` } });
    expectProblem(withQuery, 422, 'VALIDATION_FAILED');
    const withBody = await s.app.inject({ method: 'POST', url: '/v1/integrations/hubspot/oauth/start', headers: { authorization: `Bearer ${key}` }, payload: { workspaceId: 'other' } });
    expectProblem(withBody, 422, 'VALIDATION_FAILED');
  });
});

describe('GET /hubspot/oauth/callback', () => {
  it("exchanges the code, names the portal from the issued token, and stores the workspace's HubSpot settings and tokens, keeping its other HubSpot settings", async () => {
    const seen = hubSpot();
    const s = await setUp();
    const { workspaceId, key } = await s.tenant('Example Shop', {
      hubspot: { accessToken: 'pat-na1-private-app-token-before', portalId: OURS, emailSubscriptionId: '1001', createMissingContacts: true, syncEnabled: false },
    });
    const { state } = await startInstall(s, key);
    const response = await callback(s, { code: CODE, state });
    expectPage(response, 200, 'HubSpot is connected', `HubSpot account ${OURS} is connected to the workspace &quot;Example Shop&quot;.`);

    // RFC 6749 §4.1.3, in the form body of the token endpoint.
    expect(seen.forms).toHaveLength(1);
    expect(Object.fromEntries(seen.forms[0] ?? [])).toEqual({ grant_type: 'authorization_code', client_id: APP.clientId, client_secret: APP.clientSecret, code: CODE, redirect_uri: REDIRECT_URI });
    expect(seen.accountChecks).toBe(1);

    const workspace = await s.engine.workspace(workspaceId).get();
    expect(workspace.settings.hubspot).toEqual({
      accessToken: ISSUED.accessToken,
      portalId: OURS,
      clientId: APP.clientId,
      clientSecret: APP.clientSecret,
      refreshToken: ISSUED.refreshToken,
      emailSubscriptionId: '1001',
      createMissingContacts: true,
      syncEnabled: false,
    });
    // The sync's configuration is an OAuth install, and the tokens kept are used as they are: no refresh is due.
    const config = resolveHubSpotConfig(workspace, {}, true);
    expect(config?.oauth).toEqual({ ...APP, refreshToken: ISSUED.refreshToken });
    const kept = await keptTokens(s, workspaceId);
    expect(kept).toMatchObject({ accessToken: ISSUED.accessToken, refreshToken: ISSUED.refreshToken, expiresAt: Date.parse(START) + 1800 * 1000 });
    const plan = planAccess(kept, { ...APP, refreshToken: ISSUED.refreshToken }, s.clock.now().getTime());
    expect(plan).toMatchObject({ kind: 'use', tokens: { accessToken: ISSUED.accessToken } });
  });

  it('connects a workspace without HubSpot settings with the defaults of the others', async () => {
    hubSpot();
    const s = await setUp();
    const { workspaceId, key } = await s.tenant('Example Shop');
    const { state } = await startInstall(s, key);
    expectPage(await callback(s, { code: CODE, state }), 200, `HubSpot account ${OURS} is connected`);
    expect(await hubspotSettingsOf(s, workspaceId)).toEqual({
      accessToken: ISSUED.accessToken,
      portalId: OURS,
      ...APP,
      refreshToken: ISSUED.refreshToken,
      emailSubscriptionId: null,
      createMissingContacts: false,
      syncEnabled: true,
    });
    // The settings read through the API show the secrets masked.
    const shown = await s.app.inject({ method: 'GET', url: '/v1/settings', headers: { authorization: `Bearer ${key}` } });
    for (const secret of NEVER_SHOWN.slice(1)) expect(shown.body).not.toContain(secret);
  });

  it('escapes the workspace name on the page', async () => {
    hubSpot();
    const s = await setUp();
    const { key } = await s.tenant('<script>alert("x")</script> & Co');
    const { state } = await startInstall(s, key);
    const page = expectPage(await callback(s, { code: CODE, state }), 200);
    expect(page).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co');
  });

  it('refuses a state it did not sign, asking HubSpot nothing and storing nothing', async () => {
    const seen = hubSpot();
    const s = await setUp();
    const ours = await s.tenant('Example Shop');
    const theirs = await s.tenant('Other Shop');
    const { state } = await startInstall(s, ours.key);
    const [payload, signature] = state.split('.');
    const claims = z.object({ v: z.number(), w: z.string(), n: z.string(), e: z.number() }).parse(JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8')));
    // The same signature over claims naming another workspace; the claims signed with another secret; no state at all.
    const otherWorkspace = Buffer.from(JSON.stringify({ ...claims, w: theirs.workspaceId })).toString('base64url');
    const forgedStates = [
      `${otherWorkspace}.${signature ?? ''}`,
      signOAuthState(randomBytes(32), { workspaceId: theirs.workspaceId, nonce: claims.n, expiresAt: claims.e }),
      `${payload ?? ''}.${Buffer.alloc(32).toString('base64url')}`,
      'not-a-state',
      `${payload ?? ''}.${signature ?? ''}.extra`,
    ];
    for (const forged of forgedStates) {
      expectPage(await callback(s, { code: CODE, state: forged }), 400, 'This install link was not made by this server, or was changed on the way.');
    }
    expect(seen.forms).toHaveLength(0);
    expect(await hubspotSettingsOf(s, theirs.workspaceId)).toBeNull();
    expect(await hubspotSettingsOf(s, ours.workspaceId)).toBeNull();
    // The genuine state is still good.
    expectPage(await callback(s, { code: CODE, state }), 200);
  });

  it('refuses a state 11 minutes old', async () => {
    const seen = hubSpot();
    const s = await setUp();
    const { workspaceId, key } = await s.tenant('Example Shop');
    const { state } = await startInstall(s, key);
    s.clock.advance(11 * 60 * 1000);
    expectPage(await callback(s, { code: CODE, state }), 400, 'This install link has expired: an install is completed within 10 minutes of its start.');
    expect(seen.forms).toHaveLength(0);
    expect(await hubspotSettingsOf(s, workspaceId)).toBeNull();
  });

  it('refuses a replayed redirect: a state is used once', async () => {
    const seen = hubSpot();
    const s = await setUp();
    const { workspaceId, key } = await s.tenant('Example Shop');
    const { state } = await startInstall(s, key);
    expectPage(await callback(s, { code: CODE, state }), 200);
    // Another portal's install under the same state must not replace what the first stored.
    hubSpot({ portalId: '67890' });
    expectPage(await callback(s, { code: CODE, state }), 400, 'This install link was used already');
    expect(seen.forms).toHaveLength(1);
    expect(await hubspotSettingsOf(s, workspaceId)).toMatchObject({ portalId: OURS, accessToken: ISSUED.accessToken });
  });

  it('forgets used states once they have expired', async () => {
    hubSpot();
    const s = await setUp();
    const { key } = await s.tenant('Example Shop');
    const { state } = await startInstall(s, key);
    expectPage(await callback(s, { code: CODE, state }), 200);
    expect(await s.store.read((tx) => tx.getMeta(OAUTH_STATES_USED_KEY))).toHaveLength(1);
    s.clock.advance(TEN_MINUTES + 1);
    const next = await startInstall(s, key);
    expectPage(await callback(s, { code: 'another-code', state: next.state }), 400);
    expect(await s.store.read((tx) => tx.getMeta(OAUTH_STATES_USED_KEY))).toEqual([expect.objectContaining({ expiresAt: Date.parse(START) + TEN_MINUTES + 1 + TEN_MINUTES })]);
  });

  it('says the install was declined when HubSpot sends error=access_denied, and quotes no other text from the address', async () => {
    const seen = hubSpot();
    const s = await setUp();
    const { workspaceId, key } = await s.tenant('Example Shop');
    const { state } = await startInstall(s, key);
    expectPage(await callback(s, { error: 'access_denied', state }), 400, 'The install was declined in HubSpot, so nothing was connected and nothing was stored.');
    const odd = expectPage(await callback(s, { error: '<b>call +34 600 000 001</b>', error_description: 'Your account is locked', state }), 400, 'HubSpot did not authorise the install.');
    expect(odd).not.toContain('call +34');
    expect(odd).not.toContain('locked');
    expectPage(await callback(s, { error: 'invalid_scope', state }), 400, 'HubSpot did not authorise the install (HubSpot answered invalid_scope).');
    expect(seen.forms).toHaveLength(0);
    expect(await hubspotSettingsOf(s, workspaceId)).toBeNull();
    // The state was not used up by the refusals.
    expectPage(await callback(s, { code: CODE, state }), 200);
  });

  it('asks for the code and the state when the address lacks them', async () => {
    const seen = hubSpot();
    const s = await setUp();
    const { key } = await s.tenant('Example Shop');
    const { state } = await startInstall(s, key);
    expectPage(await callback(s, { state }), 400, 'lacks the code or the state');
    expectPage(await callback(s, { code: CODE }), 400, 'lacks the code or the state');
    expectPage(await callback(s, {}), 400, 'lacks the code or the state');
    expect(seen.forms).toHaveLength(0);
  });

  it('says HubSpot refused the code, and stores nothing', async () => {
    const seen = hubSpot({ token: 'refuse' });
    const s = await setUp();
    const { workspaceId, key } = await s.tenant('Example Shop');
    const { state } = await startInstall(s, key);
    expectPage(await callback(s, { code: CODE, state }), 400, 'HubSpot refused the authorization code', 'invalid_grant, BAD_AUTH_CODE', 'start the install again');
    expect(seen.forms).toHaveLength(1);
    expect(seen.accountChecks).toBe(0);
    expect(await hubspotSettingsOf(s, workspaceId)).toBeNull();
    expect(await keptTokens(s, workspaceId)).toBeUndefined();
  });

  it("says HubSpot refused the app when the server's client id or secret is not the app's", async () => {
    hubSpot();
    const s = await setUp({ config: { ...CONFIG, HUBSPOT_CLIENT_SECRET: 'not-the-app-secret' } });
    const { workspaceId, key } = await s.tenant('Example Shop');
    const { state } = await startInstall(s, key);
    const page = expectPage(await callback(s, { code: CODE, state }), 400, 'HubSpot refused the app&#39;s client id or client secret', 'HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET');
    expect(page).not.toContain('not-the-app-secret');
    expect(await hubspotSettingsOf(s, workspaceId)).toBeNull();
  });

  it("answers 409 for a portal another workspace has, and stores nothing", async () => {
    const seen = hubSpot();
    const s = await setUp();
    const holder = await s.tenant('Portal Holder', { hubspot: { accessToken: 'pat-na1-holder-token', portalId: OURS } });
    const { workspaceId, key } = await s.tenant('Example Shop');
    const { state } = await startInstall(s, key);
    expectPage(await callback(s, { code: CODE, state }), 409, `HubSpot account ${OURS} is connected to another workspace on this server`, 'Nothing was stored.');
    expect(seen.forms).toHaveLength(1);
    expect(await hubspotSettingsOf(s, workspaceId)).toBeNull();
    expect(await keptTokens(s, workspaceId)).toBeUndefined();
    expect(await hubspotSettingsOf(s, holder.workspaceId)).toMatchObject({ accessToken: 'pat-na1-holder-token', portalId: OURS, refreshToken: null });
    expect(await keptTokens(s, holder.workspaceId)).toBeUndefined();
  });

  it('answers 503 with Retry-After while the token endpoint fails, and stores nothing', async () => {
    hubSpot({ token: 'unavailable' });
    const s = await setUp();
    const { workspaceId, key } = await s.tenant('Example Shop');
    const { state } = await startInstall(s, key);
    const response = await callback(s, { code: CODE, state });
    expectPage(response, 503, 'HubSpot could not issue the tokens (HubSpot answered 503). Nothing was stored.', 'Start the install again in 30 seconds');
    expect(response.headers['retry-after']).toBe('30');
    expect(await hubspotSettingsOf(s, workspaceId)).toBeNull();
    expect(await keptTokens(s, workspaceId)).toBeUndefined();
  });

  it("answers 503 with HubSpot's Retry-After while its account details fail, and stores nothing", async () => {
    hubSpot({ account: 'unavailable' });
    const s = await setUp();
    const { workspaceId, key } = await s.tenant('Example Shop');
    const { state } = await startInstall(s, key);
    const response = await callback(s, { code: CODE, state });
    expectPage(response, 503, 'HubSpot could not say which HubSpot account approved the install (HubSpot answered 503).');
    expect(response.headers['retry-after']).toBe('120');
    expect(await hubspotSettingsOf(s, workspaceId)).toBeNull();
    expect(await keptTokens(s, workspaceId)).toBeUndefined();
  });

  it.each([
    // Another process holding the database's write lock (src/core/errors.ts STORE_BUSY).
    ['its write lock is held by another process', () => new ConsentryError('STORE_BUSY', 'the database is locked by another process')],
    // Another transaction's failure ended the commit group this write shared (group-commit.ts).
    ['its commit group was rolled back', () => new TransactionRolledBackError(Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' }))],
  ])('answers 503 with Retry-After 1 while the store cannot take the write (%s), and the same redirect works once it can', async (_why, storeFailure) => {
    const seen = hubSpot();
    let locked = false;
    const memory = createMemoryStore();
    const store: Store = {
      transaction: (work) => (locked ? Promise.reject(storeFailure()) : memory.transaction(work)),
      read: (work) => memory.read(work),
      probe: () => memory.probe(),
      close: () => memory.close(),
    };
    const s = await setUp({ store });
    const { workspaceId, key } = await s.tenant('Example Shop');
    const { state } = await startInstall(s, key);
    locked = true;
    const busy = await callback(s, { code: CODE, state });
    expectPage(busy, 503, 'Consentry could not store the connection now. Nothing was stored.');
    expect(busy.headers['retry-after']).toBe('1');
    expect(seen.forms).toHaveLength(0);
    locked = false;
    expectPage(await callback(s, { code: CODE, state }), 200);
    expect(await hubspotSettingsOf(s, workspaceId)).toMatchObject({ portalId: OURS });
  });

  it('answers 409 naming the variables when the server is not set up for installs', async () => {
    const seen = hubSpot();
    const s = await setUp({ config: {} });
    expectPage(await callback(s, { code: CODE, state: 'any' }), 409, 'HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET must be set');
    expect(seen.forms).toHaveLength(0);
  });

  it('logs no part of the code, the state or the tokens', async () => {
    hubSpot();
    const lines: string[] = [];
    const store = createMemoryStore();
    const clock = new FakeClock(START);
    const engine = createEngine({ store, clock });
    const app = await buildApp({ store, engine, clock, defaultMetrics: false, config: CONFIG, publicUrl: PUBLIC_URL, logger: { level: 'debug', stream: { write: (line: string) => lines.push(line) } } });
    open = app;
    const workspace = await engine.createWorkspace({ name: 'Example Shop' });
    const { key } = await createApiKey(store, { workspaceId: workspace.id, clock });
    const started = await app.inject({ method: 'POST', url: '/v1/integrations/hubspot/oauth/start', headers: { authorization: `Bearer ${key}` } });
    const state = new URL(StartAnswerSchema.parse(started.json()).url).searchParams.get('state') ?? '';
    const response = await app.inject({ method: 'GET', url: `/hubspot/oauth/callback?code=${CODE}&state=${state}` });
    expect(response.statusCode).toBe(200);
    const log = lines.join('\n');
    expect(log).toContain('HubSpot app installed');
    for (const secret of [...NEVER_SHOWN, state]) expect(log).not.toContain(secret);
  });
});

const OperationSchema = z
  .object({
    security: z.array(z.unknown()).optional(),
    parameters: z.array(z.object({ name: z.string(), in: z.string() }).loose()).optional(),
    responses: z.record(z.string(), z.object({ description: z.string(), content: z.record(z.string(), z.unknown()).optional() }).loose()),
  })
  .loose();
const PathsSchema = z.object({ paths: z.record(z.string(), z.record(z.string(), z.unknown())) }).loose();

describe('/openapi.json', () => {
  it('describes the start with the API key and its 409, and the redirect as pages without an API key', async () => {
    const s = await setUp();
    const doc = PathsSchema.parse((await s.app.inject({ method: 'GET', url: '/openapi.json' })).json());
    const start = OperationSchema.parse(doc.paths['/v1/integrations/hubspot/oauth/start']?.['post']);
    expect(start.security).toEqual([{ bearerAuth: [] }, { apiKeyHeader: [] }]);
    expect(Object.keys(start.responses)).toEqual(expect.arrayContaining(['200', '401', '409']));
    expect(start.responses['409']?.description).toMatch(/^CONFLICT: /);
    expect(Object.keys(start.responses['409']?.content ?? {})).toEqual(['application/problem+json']);

    const redirect = OperationSchema.parse(doc.paths['/hubspot/oauth/callback']?.['get']);
    expect(redirect.security).toEqual([]);
    expect((redirect.parameters ?? []).map((parameter) => `${parameter.in}:${parameter.name}`).sort()).toEqual(['query:code', 'query:error', 'query:state']);
    expect(Object.keys(redirect.responses).sort()).toEqual(['200', '400', '409', '500', '503']);
    for (const [status, response] of Object.entries(redirect.responses)) {
      expect(Object.keys(response.content ?? {}), status).toEqual(['text/html; charset=utf-8']);
      expect(response.description, status).not.toBe('Default Response');
    }
  });
});

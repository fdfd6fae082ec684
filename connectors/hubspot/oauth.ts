import { createHash } from 'node:crypto';
import got from 'got';
import { z } from 'zod';
import type { Clock } from '../../src/ports/clock.js';
import type { Store } from '../../src/ports/store.js';
import { HubSpotApiError } from './errors.js';

/**
 * HubSpot's token endpoint, date-versioned API: it replaces `/oauth/v1/token`, which HubSpot
 * retires on 2027-02-16, and takes every parameter in the form body, never in the URL
 * (https://developers.hubspot.com/changelog/v1-oauth-api-deprecation,
 * https://developers.hubspot.com/docs/api-reference/auth-oauth-v3/guide).
 */
export const HUBSPOT_TOKEN_PATH = '/oauth/2026-03/token';
export const HUBSPOT_DEFAULT_BASE = 'https://api.hubapi.com';

/**
 * An access token is refreshed this long before HubSpot says it expires: "Apps are responsible
 * for storing time-to-live (TTL) data and refreshing user access tokens … 401 requests are not a
 * valid indicator that a new access token must be retrieved"
 * (https://developers.hubspot.com/docs/api/usage-details). Five minutes covers a call that waits
 * for the rate limit and its retries after the token was handed out.
 */
export const REFRESH_MARGIN_MS = 5 * 60 * 1000;
export const TOKEN_REQUEST_TIMEOUT_MS = 10_000;

/** The settings fields a refusal of the token endpoint is about. */
export const HUBSPOT_REFRESH_TOKEN_FIELD = 'hubspot.refreshToken';
export const HUBSPOT_CLIENT_ID_FIELD = 'hubspot.clientId';

/** An OAuth app's credentials and the refresh token one install of it gave. */
export interface HubSpotOAuthCredentials {
  clientId: string;
  clientSecret: string;
  refreshToken: string;
}

export type HubSpotGrant = { grantType: 'refresh_token'; refreshToken: string } | { grantType: 'authorization_code'; code: string; redirectUri: string };

export interface IssuedHubSpotTokens {
  accessToken: string;
  /** HubSpot may answer a refresh with the same refresh token or a new one; the newest is the one to use. */
  refreshToken: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

/**
 * HubSpot refused the grant: the refresh token or code is unknown, expired or revoked (the app was
 * uninstalled), or the client id and secret are not the app's. Asking again gets the same answer.
 * RFC 6749 §5.2 error codes, which HubSpot's token endpoint answers beside its own `status`
 * (https://developers.hubspot.com/changelog/new-oauth-v3-api-endpoints-and-standardized-error-responses).
 */
export class HubSpotGrantRefusedError extends Error {
  readonly code = 'HUBSPOT_GRANT_REFUSED';
  override readonly name = 'HubSpotGrantRefusedError';
  constructor(
    readonly status: number,
    /** `invalid_grant`, `invalid_client`, … or null when HubSpot named none. */
    readonly oauthError: string | null,
    /** The settings field at fault. */
    readonly field: string,
    description: string,
  ) {
    super(description);
  }
}

const TokenAnswerSchema = z.object({
  access_token: z.string().min(1).max(4000),
  refresh_token: z.string().min(1).max(1000),
  expires_in: z.number().int().positive(),
});

const TokenErrorSchema = z.object({
  error: z.string().max(100).optional(),
  error_description: z.string().max(500).optional(),
  status: z.string().max(100).optional(),
  message: z.string().max(500).optional(),
});

/** Only an RFC 6749 error code or HubSpot's upper-case status is quoted back: the body is not ours to echo. */
const ERROR_CODE = /^[A-Za-z_]{1,64}$/;

export interface TokenRequestOptions {
  basePath?: string;
  timeoutMs?: number;
}

/**
 * One call to HubSpot's token endpoint (form-encoded, RFC 6749 §4.1.3 and §6). A 4xx other than
 * 429 is a refusal (HubSpotGrantRefusedError); a 429, a 5xx or a body that is not a token answer
 * is HubSpotApiError, and a network failure got's own error: both are worth asking again later.
 */
export async function requestHubSpotTokens(
  app: { clientId: string; clientSecret: string },
  grant: HubSpotGrant,
  now: number,
  options: TokenRequestOptions = {},
): Promise<IssuedHubSpotTokens> {
  const form: Record<string, string> =
    grant.grantType === 'refresh_token'
      ? { grant_type: 'refresh_token', client_id: app.clientId, client_secret: app.clientSecret, refresh_token: grant.refreshToken }
      : { grant_type: 'authorization_code', client_id: app.clientId, client_secret: app.clientSecret, code: grant.code, redirect_uri: grant.redirectUri };
  const base = (options.basePath ?? HUBSPOT_DEFAULT_BASE).replace(/\/+$/, '');
  const response = await got.post(`${base}${HUBSPOT_TOKEN_PATH}`, {
    form,
    throwHttpErrors: false,
    followRedirect: false,
    retry: { limit: 0 },
    timeout: { request: options.timeoutMs ?? TOKEN_REQUEST_TIMEOUT_MS },
    headers: { accept: 'application/json' },
  });
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) if (typeof value === 'string') headers[name.toLowerCase()] = value;
  const status = response.statusCode;
  if (status >= 400 && status < 500 && status !== 429) throw refusal(status, response.body, grant);
  if (status >= 300) throw new HubSpotApiError(status, headers, response.body);
  let json: unknown;
  try {
    json = JSON.parse(response.body);
  } catch {
    json = null;
  }
  const parsed = TokenAnswerSchema.safeParse(json);
  // A 2xx without a token is HubSpot (or what answers at its address) failing, not a refusal.
  if (!parsed.success) throw new HubSpotApiError(502, headers, '{"message":"the token endpoint answered without an access token"}');
  return { accessToken: parsed.data.access_token, refreshToken: parsed.data.refresh_token, expiresAt: now + parsed.data.expires_in * 1000 };
}

function refusal(status: number, body: string, grant: HubSpotGrant): HubSpotGrantRefusedError {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = null;
  }
  const parsed = TokenErrorSchema.safeParse(json);
  const answer = parsed.success ? parsed.data : {};
  const oauthError = answer.error !== undefined && ERROR_CODE.test(answer.error) ? answer.error : null;
  const hubspotStatus = answer.status !== undefined && ERROR_CODE.test(answer.status) ? answer.status : null;
  const named = [oauthError, hubspotStatus].filter((part): part is string => part !== null).join(', ');
  const answered = `HubSpot answered ${status}${named === '' ? '' : ` (${named})`}`;
  // invalid_client (BAD_CLIENT_ID, BAD_CLIENT_SECRET): the app's credentials; anything else is the grant itself.
  if (oauthError === 'invalid_client' || hubspotStatus?.startsWith('BAD_CLIENT') === true) {
    return new HubSpotGrantRefusedError(status, oauthError, HUBSPOT_CLIENT_ID_FIELD, `HubSpot refused the app's client id or client secret: ${answered}`);
  }
  const what = grant.grantType === 'refresh_token' ? 'the refresh token (the app may have been uninstalled, or the token revoked)' : 'the authorization code (it is used once, within minutes)';
  return new HubSpotGrantRefusedError(status, oauthError, HUBSPOT_REFRESH_TOKEN_FIELD, `HubSpot refused ${what}: ${answered}`);
}

/** What is kept between processes of one deployment: the newest tokens of a workspace's install. */
const StoredTokensSchema = z.object({
  /** Of the client id and refresh token the settings hold: settings changed since mean another install. */
  installed: z.string(),
  refreshToken: z.string(),
  accessToken: z.string(),
  expiresAt: z.number(),
});
export type StoredTokens = z.infer<typeof StoredTokensSchema>;

export const oauthTokensKey = (workspaceId: string): string => `hubspot.oauth_tokens:${workspaceId}`;

function installDigest(credentials: HubSpotOAuthCredentials): string {
  return createHash('sha256').update(`${credentials.clientId}\u0000${credentials.refreshToken}`).digest('hex');
}

function isFresh(tokens: { expiresAt: number }, now: number, marginMs: number): boolean {
  return tokens.expiresAt - marginMs > now;
}

/**
 * What the tokens a deployment kept (`hubspot.oauth_tokens:<workspace>` in the store's meta) allow
 * now: an access token still valid beyond the margin, or the refresh token to ask with. A refresh
 * token HubSpot rotated is used from then on; the settings keep the one installed, and settings
 * naming another install make the kept tokens another install's.
 */
export function planAccess(
  stored: unknown,
  credentials: HubSpotOAuthCredentials,
  now: number,
  marginMs = REFRESH_MARGIN_MS,
): { kind: 'use'; tokens: StoredTokens } | { kind: 'refresh'; refreshToken: string } {
  const current = keptFor(stored, credentials);
  if (current !== null && isFresh(current, now, marginMs)) return { kind: 'use', tokens: current };
  return { kind: 'refresh', refreshToken: current?.refreshToken ?? credentials.refreshToken };
}

/** The tokens kept for the install the credentials name; null for none, or for another install's. */
function keptFor(stored: unknown, credentials: HubSpotOAuthCredentials): StoredTokens | null {
  const parsed = StoredTokensSchema.safeParse(stored);
  return parsed.success && parsed.data.installed === installDigest(credentials) ? parsed.data : null;
}

/**
 * The credentials to ask HubSpot's token endpoint with outside the sync (a settings check): the
 * refresh token HubSpot last rotated to when the deployment kept one for this install, since a
 * rotated-away refresh token may be refused although the install is still connected.
 */
export async function withKeptRefreshToken(store: Store, workspaceId: string, credentials: HubSpotOAuthCredentials): Promise<HubSpotOAuthCredentials> {
  const kept = keptFor(await store.read((tx) => tx.getMeta(oauthTokensKey(workspaceId))), credentials);
  return kept === null ? credentials : { ...credentials, refreshToken: kept.refreshToken };
}

/** Keeps tokens HubSpot issued outside the sync (a settings check), so the sync uses them instead of asking again. */
export async function rememberIssuedTokens(store: Store, workspaceId: string, credentials: HubSpotOAuthCredentials, issued: IssuedHubSpotTokens): Promise<void> {
  const tokens: StoredTokens = { installed: installDigest(credentials), ...issued };
  await store.transaction((tx) => tx.setMeta(oauthTokensKey(workspaceId), tokens));
}

/** The workspace no longer names an OAuth install: the tokens kept for it go (a refresh token left behind would still work). */
export async function forgetIssuedTokens(store: Store, workspaceId: string): Promise<void> {
  await store.transaction(async (tx) => {
    const kept = await tx.getMeta(oauthTokensKey(workspaceId));
    if (kept !== undefined && kept !== null) await tx.setMeta(oauthTokensKey(workspaceId), null);
  });
}

export type TokenRequester = (app: { clientId: string; clientSecret: string }, grant: HubSpotGrant, now: number) => Promise<IssuedHubSpotTokens>;

export interface HubSpotAccessTokensOptions {
  store: Store;
  clock: Clock;
  /** Defaults to requestHubSpotTokens against `basePath`. */
  request?: TokenRequester;
  basePath?: string;
  refreshMarginMs?: number;
}

/**
 * The access tokens of the workspaces connected through an OAuth app. One refresh at a time per
 * workspace in a process, shared by its sync, webhook route and commands; the newest tokens are
 * kept in the store so that another process (a CLI command beside the server) uses them instead
 * of asking HubSpot again. Two processes refreshing at once each get a valid token: HubSpot does
 * not revoke the access tokens it issued before.
 */
export class HubSpotAccessTokens {
  private readonly memory = new Map<string, StoredTokens>();
  private readonly refreshing = new Map<string, Promise<string>>();
  private readonly request: TokenRequester;
  private readonly marginMs: number;

  constructor(private readonly options: HubSpotAccessTokensOptions) {
    const basePath = options.basePath;
    this.request = options.request ?? ((app, grant, now) => requestHubSpotTokens(app, grant, now, basePath === undefined ? {} : { basePath }));
    this.marginMs = options.refreshMarginMs ?? REFRESH_MARGIN_MS;
  }

  /** An access token valid for at least the refresh margin; refreshed with HubSpot when none is. */
  async accessToken(workspaceId: string, credentials: HubSpotOAuthCredentials): Promise<string> {
    const installed = installDigest(credentials);
    const known = this.memory.get(workspaceId);
    if (known !== undefined && known.installed === installed && this.fresh(known)) return known.accessToken;
    // Shared by the callers of one install only: settings that name another install wait for their own token.
    const flight = `${workspaceId}\u0000${installed}`;
    const inFlight = this.refreshing.get(flight);
    if (inFlight !== undefined) return inFlight;
    const refresh = this.refresh(workspaceId, credentials, installed).finally(() => this.refreshing.delete(flight));
    this.refreshing.set(flight, refresh);
    return refresh;
  }

  /**
   * HubSpot answered 401 to `accessToken`: it is not used again, so the next call refreshes. The
   * expiry is what decides a refresh; this only covers a token revoked before it.
   */
  async refused(workspaceId: string, accessToken: string): Promise<void> {
    const known = this.memory.get(workspaceId);
    if (known?.accessToken !== accessToken) return;
    const spent = { ...known, expiresAt: 0 };
    this.memory.set(workspaceId, spent);
    await this.options.store.transaction(async (tx) => {
      const stored = StoredTokensSchema.safeParse(await tx.getMeta(oauthTokensKey(workspaceId)));
      if (stored.success && stored.data.accessToken === accessToken) await tx.setMeta(oauthTokensKey(workspaceId), spent);
    });
  }

  private fresh(tokens: StoredTokens): boolean {
    return isFresh(tokens, this.options.clock.now().getTime(), this.marginMs);
  }

  private async refresh(workspaceId: string, credentials: HubSpotOAuthCredentials, installed: string): Promise<string> {
    const stored = await this.options.store.read((tx) => tx.getMeta(oauthTokensKey(workspaceId)));
    const now = this.options.clock.now().getTime();
    const plan = planAccess(stored, credentials, now, this.marginMs);
    if (plan.kind === 'use') {
      this.memory.set(workspaceId, plan.tokens);
      return plan.tokens.accessToken;
    }
    const issued = await this.request(credentials, { grantType: 'refresh_token', refreshToken: plan.refreshToken }, now);
    this.memory.set(workspaceId, { installed, ...issued });
    await rememberIssuedTokens(this.options.store, workspaceId, credentials, issued);
    return issued.accessToken;
  }
}

import { ConsentryError } from '../../src/core/errors.js';
import { parseRetryAfterMs } from '../../src/worker/backoff.js';
import { HUBSPOT_PORTAL_FIELD } from '../../src/engine/integrations.js';
import { createHubSpotClient } from './client.js';
import { HubSpotApiError, HubSpotResponseError } from './errors.js';
import { HubSpotGrantRefusedError, requestHubSpotTokens, type HubSpotOAuthCredentials, type IssuedHubSpotTokens } from './oauth.js';
import { classifyFailure } from './rate-limiter.js';

/** The settings field a refused token is named by. */
export const HUBSPOT_TOKEN_FIELD = 'hubspot.accessToken';

/** How long HubSpot gets to say whose a token is before the settings change is refused as unavailable. */
export const ACCOUNT_CHECK_TIMEOUT_MS = 10_000;

/**
 * Retry-After of a refusal because HubSpot could not answer, when HubSpot sends none (its
 * documentation promises none, https://developers.hubspot.com/docs/api/usage-details): a
 * rate-limited token waits out the 10-second rolling window, a daily limit resets at the account's
 * midnight (its time zone is not known before the account is), anything else is an outage that
 * gets half a minute. A Retry-After HubSpot does send is honoured within 1 s to an hour.
 */
const RETRY_AFTER_RATE_LIMITED_SECONDS = 10;
const RETRY_AFTER_DAILY_LIMIT_SECONDS = 3600;
const RETRY_AFTER_UNAVAILABLE_SECONDS = 30;
const RETRY_AFTER_MIN_SECONDS = 1;
const RETRY_AFTER_MAX_SECONDS = 3600;

/**
 * The scope HubSpot's account information API requires
 * (https://developers.hubspot.com/docs/api-reference/latest/account/account-information/guide),
 * and the scopes the connector's sync and install need (README, HubSpot Set-up step 1).
 */
export const ACCOUNT_INFO_SCOPE = 'oauth';
export const CONNECTOR_SCOPES = ['crm.objects.contacts.read', 'crm.objects.contacts.write', 'crm.schemas.contacts.write', 'communication_preferences.write'] as const;

/** What HubSpot says of a token: whose account it is, that it refuses it, or nothing (it could not be asked). */
export type HubSpotAccountLookup =
  | { outcome: 'found'; portalId: string }
  /** Not a bearer token at all: HubSpot is not asked. */
  | { outcome: 'token_malformed' }
  | { outcome: 'token_refused'; status: number }
  /** Any other 4xx: HubSpot will answer the same when asked again. `category` is HubSpot's error category when it is one. */
  | { outcome: 'request_refused'; status: number; category: string | null }
  | { outcome: 'unavailable'; reason: string; retryAfterSeconds: number };

/** What HubSpot's token endpoint answers an OAuth app's refresh token: tokens, a refusal naming the field at fault, or nothing. */
export type HubSpotTokenIssue =
  | { outcome: 'issued'; tokens: IssuedHubSpotTokens }
  | { outcome: 'refused'; field: string; message: string }
  | { outcome: 'unavailable'; reason: string; retryAfterSeconds: number };

/** Asks HubSpot which account a token belongs to, and issues an OAuth install's access token to ask with. */
export interface HubSpotAccountVerifier {
  lookUp(accessToken: string): Promise<HubSpotAccountLookup>;
  issueTokens(credentials: HubSpotOAuthCredentials): Promise<HubSpotTokenIssue>;
}

export interface HubSpotAccountVerifierOptions {
  /** Defaults to https://api.hubapi.com. */
  basePath?: string;
  /** Defaults to ACCOUNT_CHECK_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Resolves after `ms`; defaults to a timer that does not keep the process alive. Tests resolve it when they choose. */
  wait?: (ms: number) => Promise<void>;
  /** Milliseconds since the epoch, to read a Retry-After given as a date; defaults to the system clock. */
  now?: () => number;
}

const TIMED_OUT = Symbol('timed out');

/** RFC 6750 §2.1 b64token characters, loosened to any visible ASCII: what an Authorization header can carry. */
const BEARER_TOKEN = /^[\x21-\x7e]+$/;

const unrefWait = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms).unref();
  });

/** HubSpot's error categories are upper-case words (https://developers.hubspot.com/docs/api-reference/error-handling); anything else is not quoted. */
const ERROR_CATEGORY = /^[A-Z][A-Z_]{0,63}$/;

/** The wait HubSpot's Retry-After asks for, in whole seconds within RETRY_AFTER_MIN_SECONDS..RETRY_AFTER_MAX_SECONDS; null when there is none or it cannot be read. */
function retryAfterOf(error: HubSpotApiError, now: () => number): number | null {
  const ms = parseRetryAfterMs(error.headers['retry-after'], new Date(now()));
  return ms === null ? null : Math.min(RETRY_AFTER_MAX_SECONDS, Math.max(RETRY_AFTER_MIN_SECONDS, Math.ceil(ms / 1000)));
}

/**
 * Why HubSpot could not answer (the account check, the token endpoint), and how long to wait, or
 * null for a failure that is a fault, not HubSpot's.
 */
export function hubSpotUnavailability(error: unknown, now: () => number): { reason: string; retryAfterSeconds: number } | null {
  if (error instanceof HubSpotApiError) {
    const failure = classifyFailure(error);
    const asked = retryAfterOf(error, now);
    if (failure.kind === 'daily_limit') return { reason: 'HubSpot answered 429: the daily API limit is used up', retryAfterSeconds: asked ?? RETRY_AFTER_DAILY_LIMIT_SECONDS };
    if (failure.kind === 'rate_limited') return { reason: 'HubSpot answered 429: the rate limit is reached', retryAfterSeconds: asked ?? RETRY_AFTER_RATE_LIMITED_SECONDS };
    if (failure.kind === 'server_error') return { reason: `HubSpot answered ${error.status}`, retryAfterSeconds: asked ?? RETRY_AFTER_UNAVAILABLE_SECONDS };
    return null;
  }
  if (error instanceof HubSpotResponseError) return { reason: 'HubSpot answered with a body that is not account details', retryAfterSeconds: RETRY_AFTER_UNAVAILABLE_SECONDS };
  const failure = classifyFailure(error);
  if (failure.kind !== 'server_error') return null;
  const code: unknown = error instanceof Error ? Reflect.get(error, 'code') : undefined;
  return { reason: `HubSpot could not be reached${typeof code === 'string' ? ` (${code})` : ''}`, retryAfterSeconds: RETRY_AFTER_UNAVAILABLE_SECONDS };
}

/**
 * GET /account-info/v3/details with the token, through the connector's client
 * (https://developers.hubspot.com/docs/api/settings/account-information-api). Built on no limiter
 * and no connection: the token is not yet any workspace's, and must not replace the client a
 * workspace's sync uses. The call is bounded: a settings change waits for it.
 */
export function createHubSpotAccountVerifier(options: HubSpotAccountVerifierOptions = {}): HubSpotAccountVerifier {
  const timeoutMs = options.timeoutMs ?? ACCOUNT_CHECK_TIMEOUT_MS;
  const wait = options.wait ?? unrefWait;
  const now = options.now ?? Date.now;
  /** The call's answer, or TIMED_OUT when the wait wins; a call still running then fails to nobody. */
  const within = <T>(call: Promise<T>): Promise<T | typeof TIMED_OUT> => {
    call.catch(() => undefined);
    return Promise.race([call, wait(timeoutMs).then((): typeof TIMED_OUT => TIMED_OUT)]);
  };
  const timedOut = { outcome: 'unavailable', reason: `HubSpot did not answer within ${timeoutMs / 1000} s`, retryAfterSeconds: RETRY_AFTER_UNAVAILABLE_SECONDS } as const;
  return {
    async lookUp(accessToken) {
      // A bearer token is printable ASCII (RFC 6750 §2.1); any other character would fail in the
      // HTTP client with an error that quotes the whole header, token included.
      if (!BEARER_TOKEN.test(accessToken)) return { outcome: 'token_malformed' };
      const client = createHubSpotClient({ accessToken, ...(options.basePath === undefined ? {} : { basePath: options.basePath }) });
      try {
        const answer = await within(client.getAccountDetails());
        if (answer === TIMED_OUT) return timedOut;
        return { outcome: 'found', portalId: answer.portalId };
      } catch (error) {
        if (error instanceof HubSpotApiError && (error.status === 401 || error.status === 403)) return { outcome: 'token_refused', status: error.status };
        // A 4xx other than 429 is HubSpot's answer to this request, and will be its answer again:
        // a retry after a 503 would never succeed.
        if (error instanceof HubSpotApiError && error.status >= 400 && error.status < 500 && error.status !== 429) {
          return { outcome: 'request_refused', status: error.status, category: error.category !== null && ERROR_CATEGORY.test(error.category) ? error.category : null };
        }
        const unavailable = hubSpotUnavailability(error, now);
        // Not rethrown as it is: a client error may quote the request's headers, the token among them.
        if (unavailable === null) throw new Error(`the HubSpot account check failed (${error instanceof Error ? error.name : typeof error})`);
        return { outcome: 'unavailable', ...unavailable };
      }
    },

    async issueTokens(credentials) {
      try {
        const grant = { grantType: 'refresh_token', refreshToken: credentials.refreshToken } as const;
        const answer = await within(requestHubSpotTokens(credentials, grant, now(), { timeoutMs, ...(options.basePath === undefined ? {} : { basePath: options.basePath }) }));
        if (answer === TIMED_OUT) return timedOut;
        return { outcome: 'issued', tokens: answer };
      } catch (error) {
        if (error instanceof HubSpotGrantRefusedError) return { outcome: 'refused', field: error.field, message: error.message };
        const unavailable = hubSpotUnavailability(error, now) ?? { reason: 'HubSpot could not issue an access token', retryAfterSeconds: RETRY_AFTER_UNAVAILABLE_SECONDS };
        return { outcome: 'unavailable', ...unavailable };
      }
    },
  };
}

/** A token and the portal id settings name beside it; for an OAuth install, the app and refresh token that issue the tokens. */
export interface HubSpotAccountClaim {
  accessToken: string;
  portalId: string;
  oauth?: HubSpotOAuthCredentials | null;
  /** Tokens already issued for this claim's install: the check asks with them instead of refreshing again. */
  issued?: IssuedHubSpotTokens | null;
}

export type HubSpotAccountVerdict =
  /** `issued`: the tokens an OAuth install was checked with, to be kept for the sync. */
  | { verdict: 'owned'; issued: IssuedHubSpotTokens | null }
  /** A VALIDATION_FAILED naming the field at fault; the token is never quoted. */
  | { verdict: 'refused'; error: ConsentryError }
  | { verdict: 'unavailable'; reason: string; retryAfterSeconds: number };

function refusal(path: string, message: string): HubSpotAccountVerdict {
  return { verdict: 'refused', error: new ConsentryError('VALIDATION_FAILED', `${path}: ${message}`, [{ path, message }]) };
}

/**
 * Whether the token belongs to the portal the settings name. A portal belongs to one workspace
 * (src/engine/integrations.ts), so naming one is a claim on it: only a token HubSpot issued for
 * that account proves the claim, or anyone could take a portal id before its owner connects it.
 */
export async function checkHubSpotAccountClaim(verifier: HubSpotAccountVerifier, claim: HubSpotAccountClaim): Promise<HubSpotAccountVerdict> {
  let issued = claim.issued ?? null;
  if (claim.oauth !== undefined && claim.oauth !== null && issued === null) {
    // An OAuth install is proven by what its refresh token is issued for, not by the access token last stored.
    const answer = await verifier.issueTokens(claim.oauth);
    if (answer.outcome === 'refused') return refusal(answer.field, answer.message);
    if (answer.outcome === 'unavailable') return { verdict: 'unavailable', reason: answer.reason, retryAfterSeconds: answer.retryAfterSeconds };
    issued = answer.tokens;
  }
  const lookup = await verifier.lookUp(issued?.accessToken ?? claim.accessToken);
  switch (lookup.outcome) {
    case 'found':
      return lookup.portalId === claim.portalId
        ? { verdict: 'owned', issued }
        : refusal(HUBSPOT_PORTAL_FIELD, `the access token belongs to HubSpot account ${lookup.portalId}, not ${claim.portalId}`);
    case 'token_malformed':
      return refusal(HUBSPOT_TOKEN_FIELD, 'is not a HubSpot access token: it holds a space, a control character or a character outside ASCII');
    case 'token_refused':
      return refusal(
        HUBSPOT_TOKEN_FIELD,
        lookup.status === 401
          ? 'HubSpot refused the access token (401): it is wrong, expired or revoked'
          : `HubSpot refused the account's details to the access token (403): the private app may need the scope ${ACCOUNT_INFO_SCOPE}, ` +
              `which HubSpot's account information API lists, besides the scopes of the HubSpot Set-up (${CONNECTOR_SCOPES.join(', ')})`,
      );
    case 'request_refused':
      return refusal(
        HUBSPOT_TOKEN_FIELD,
        `HubSpot refused the request for the account's details made with the access token (${lookup.status}${lookup.category === null ? '' : ` ${lookup.category}`}); ` +
          'it would answer the same again, so the token cannot be checked',
      );
    case 'unavailable':
      return { verdict: 'unavailable', reason: lookup.reason, retryAfterSeconds: lookup.retryAfterSeconds };
  }
}

import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ConsentryError, describeIssues, isConsentryError } from '../../../src/core/errors.js';
import type { Engine } from '../../../src/engine.js';
import { HUBSPOT_PORTAL_FIELD, hubSpotAccountOf, type HubSpotAccount } from '../../../src/engine/integrations.js';
import type { Clock } from '../../../src/ports/clock.js';
import { isPassingStoreFailure, type Store } from '../../../src/ports/store.js';
import { authOf } from '../../../src/server/auth.js';
import { API_KEY_SECURITY, type ZodApp } from '../../../src/server/types.js';
import { ACCOUNT_INFO_SCOPE, CONNECTOR_SCOPES, createHubSpotAccountVerifier, hubSpotUnavailability, type HubSpotAccountVerifier } from '../account.js';
import { HUBSPOT_CLIENT_ID_FIELD, HubSpotGrantRefusedError, rememberIssuedTokens, requestHubSpotTokens, type IssuedHubSpotTokens } from '../oauth.js';
import { issueOAuthState, OAUTH_STATE_TTL_MS, readOAuthState, spendOAuthState } from '../oauth-state.js';
import { installCallbackDocumentation, InstallStartAnswerSchema, installStartResponses } from './openapi.js';

/**
 * HubSpot's OAuth install flow (https://developers.hubspot.com/docs/api-reference/auth-oauth-v3/guide):
 * an API client asks for the authorize URL, the person opens it and approves the app in HubSpot,
 * and HubSpot sends the browser back to the redirect URL with a single-use, short-lived `code`
 * and the `state` it was given. The code is exchanged at the token endpoint, the access token
 * says which portal it is for, and the workspace the state names is connected to that portal.
 */

/** Where HubSpot sends a person to approve the app. */
export const HUBSPOT_AUTHORIZE_URL = 'https://app.hubspot.com/oauth/authorize';
/** The redirect URL, under PUBLIC_URL: it must be the one in the app's Auth settings, character for character. */
export const OAUTH_CALLBACK_PATH = '/hubspot/oauth/callback';
export const OAUTH_START_PATH = '/v1/integrations/hubspot/oauth/start';
/** The scopes an install grants: what the sync and `consentry hubspot install` need, and the account check's. */
export const INSTALL_SCOPES: readonly string[] = [...CONNECTOR_SCOPES, ACCOUNT_INFO_SCOPE];

/** The deployment's OAuth app (src/config.ts names and checks the variables). */
export interface HubSpotInstallEnvironment {
  HUBSPOT_CLIENT_ID?: string | undefined;
  HUBSPOT_CLIENT_SECRET?: string | undefined;
}

export interface HubSpotInstallOptions {
  /** HubSpot's API base for the token endpoint and the account details; https://api.hubapi.com unless given. */
  basePath?: string;
  /** Asks HubSpot whose a token is; HubSpot's own API (at `basePath`) unless given. */
  accounts?: HubSpotAccountVerifier;
}

export interface HubSpotInstallDeps extends HubSpotInstallOptions {
  engine: Engine;
  store: Store;
  clock: Clock;
  env: HubSpotInstallEnvironment;
  /** PUBLIC_URL without its trailing slash. */
  publicUrl: string | undefined;
}

interface InstallApp {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
}

/** The app an install uses, or the variables the server lacks for one. */
export function installApp(env: HubSpotInstallEnvironment, publicUrl: string | undefined): { ok: true; app: InstallApp } | { ok: false; missing: string[] } {
  const { HUBSPOT_CLIENT_ID: clientId, HUBSPOT_CLIENT_SECRET: clientSecret } = env;
  if (clientId === undefined || clientSecret === undefined || publicUrl === undefined) {
    const missing = [clientId === undefined ? 'HUBSPOT_CLIENT_ID' : null, clientSecret === undefined ? 'HUBSPOT_CLIENT_SECRET' : null, publicUrl === undefined ? 'PUBLIC_URL' : null];
    return { ok: false, missing: missing.filter((name): name is string => name !== null) };
  }
  return { ok: true, app: { clientId, clientSecret, redirectUri: `${publicUrl.replace(/\/+$/, '')}${OAUTH_CALLBACK_PATH}` } };
}

const VARIABLE_MEANING: Record<string, string> = {
  HUBSPOT_CLIENT_ID: "is not set: the HubSpot app's client id, from its Auth settings",
  HUBSPOT_CLIENT_SECRET: "is not set: the HubSpot app's client secret, from its Auth settings",
  PUBLIC_URL: `is not set: the address HubSpot sends the browser back to is PUBLIC_URL${OAUTH_CALLBACK_PATH}, the redirect URL of the app's Auth settings`,
};

/** Says what to do, then lists each variable `path: message`, as a problem's detail lists its `errors` (src/server/problem.ts). */
function notConfigured(missing: readonly string[]): ConsentryError {
  const issues = missing.map((variable) => ({ path: variable, message: VARIABLE_MEANING[variable] ?? 'is not set' }));
  return new ConsentryError('CONFLICT', `The server is not set up to install the HubSpot app (set these in its environment, then restart it): ${describeIssues(issues)}`, issues);
}

/**
 * The authorize URL. Scopes are separated by spaces, percent-encoded as %20 as HubSpot's own
 * client builds it (`getAuthorizationUrl` in @hubspot/api-client).
 */
export function authorizeUrl(app: Pick<InstallApp, 'clientId' | 'redirectUri'>, state: string): string {
  const query = [
    ['client_id', app.clientId],
    ['scope', INSTALL_SCOPES.join(' ')],
    ['redirect_uri', app.redirectUri],
    ['state', state],
  ]
    .map(([name, value]) => `${name}=${encodeURIComponent(value ?? '')}`)
    .join('&');
  return `${HUBSPOT_AUTHORIZE_URL}?${query}`;
}

/** POST /v1/integrations/hubspot/oauth/start, in the API-key scope of /v1/integrations/hubspot. */
export function registerInstallStart(scope: ZodApp, deps: HubSpotInstallDeps): void {
  scope.post(
    '/oauth/start',
    {
      schema: {
        tags: ['integrations'],
        summary: "The URL that installs the HubSpot app in a portal and connects it to the key's workspace",
        description:
          `Answers HubSpot's authorize URL for the deployment's OAuth app (HUBSPOT_CLIENT_ID), with the scopes ${INSTALL_SCOPES.join(', ')}, ` +
          `the redirect URL PUBLIC_URL${OAUTH_CALLBACK_PATH} and a state naming this workspace, signed by the server and valid for ${OAUTH_STATE_TTL_MS / 60_000} minutes, once. ` +
          `Open it in a browser, logged in to HubSpot, and approve the app: HubSpot then sends the browser to GET ${OAUTH_CALLBACK_PATH}, which connects the portal to the workspace ` +
          '(hubspot settings accessToken, portalId, clientId, clientSecret and refreshToken; the other HubSpot settings are kept).',
        security: API_KEY_SECURITY,
        querystring: z.object({}).strict(),
        body: z.object({}).strict().nullish(),
        response: { 200: InstallStartAnswerSchema, ...installStartResponses },
      },
    },
    async (request) => {
      const { workspaceId } = authOf(request);
      const configured = installApp(deps.env, deps.publicUrl);
      if (!configured.ok) throw notConfigured(configured.missing);
      const { state, expiresAt } = await issueOAuthState(deps.store, workspaceId, deps.clock.now().getTime());
      return { url: authorizeUrl(configured.app, state), expiresAt: new Date(expiresAt).toISOString() };
    },
  );
}

/** What the callback page says: the outcome, in plain words, and how it is answered. */
interface InstallOutcome {
  status: 200 | 400 | 409 | 500 | 503;
  /** Logged: a fixed list, never anything the request carries. */
  reason: string;
  title: string;
  paragraphs: string[];
  retryAfterSeconds?: number;
}

const START_AGAIN = `To connect HubSpot, start the install again: a new install link comes from POST ${OAUTH_START_PATH}.`;
const NOT_CONNECTED = 'HubSpot was not connected';

function refusal(status: InstallOutcome['status'], reason: string, ...paragraphs: string[]): InstallOutcome {
  return { status, reason, title: NOT_CONNECTED, paragraphs };
}

/**
 * The error codes RFC 6749 §4.1.2.1 lets an authorization server send back, quoted only when the
 * parameter is one of them: anyone can open this page with any query, and the page must not say
 * what a stranger's link wants it to say.
 */
const AUTHORIZATION_ERRORS = new Set(['invalid_request', 'unauthorized_client', 'access_denied', 'unsupported_response_type', 'invalid_scope', 'server_error', 'temporarily_unavailable']);

function authorizationRefused(error: string): InstallOutcome {
  if (error === 'access_denied') {
    return refusal(400, 'declined', 'The install was declined in HubSpot, so nothing was connected and nothing was stored.', START_AGAIN);
  }
  const named = AUTHORIZATION_ERRORS.has(error) ? ` (HubSpot answered ${error})` : '';
  return refusal(400, 'authorization_error', `HubSpot did not authorise the install${named}. Nothing was stored.`, START_AGAIN);
}

function unavailable(reason: string, retryAfterSeconds: number, what: string): InstallOutcome {
  return {
    status: 503,
    reason: 'hubspot_unavailable',
    title: NOT_CONNECTED,
    paragraphs: [`HubSpot could not ${what} (${reason}). Nothing was stored.`, `Start the install again in ${retryAfterSeconds} seconds: a new install link comes from POST ${OAUTH_START_PATH}.`],
    retryAfterSeconds,
  };
}

const QueryValueSchema = z.union([z.string(), z.array(z.string())]).transform((value) => (Array.isArray(value) ? value[0] : value));
const CallbackQuerySchema = z.object({
  code: QueryValueSchema.optional(),
  state: QueryValueSchema.optional(),
  error: QueryValueSchema.optional(),
});

/** The longest code and state read; HubSpot's are far shorter, and the state is this server's own. */
const MAX_QUERY_VALUE_LENGTH = 2000;

function queryValue(value: string | undefined): string | null {
  return value === undefined || value === '' || value.length > MAX_QUERY_VALUE_LENGTH ? null : value;
}

/** Settings a workspace stores for an install: its other HubSpot settings (subscription, creation, sync switch) are merged in unchanged. */
function installedSettings(app: InstallApp, issued: IssuedHubSpotTokens, portalId: string): { accessToken: string; portalId: string; clientId: string; clientSecret: string; refreshToken: string } {
  return { accessToken: issued.accessToken, portalId, clientId: app.clientId, clientSecret: app.clientSecret, refreshToken: issued.refreshToken };
}

async function completeInstall(deps: HubSpotInstallDeps, accounts: HubSpotAccountVerifier, request: FastifyRequest): Promise<InstallOutcome> {
  const query = CallbackQuerySchema.safeParse(request.query);
  const values = query.success ? query.data : {};
  if (values.error !== undefined) return authorizationRefused(values.error);
  const configured = installApp(deps.env, deps.publicUrl);
  if (!configured.ok) {
    return refusal(409, 'not_configured', `This server is not set up to install the HubSpot app: ${configured.missing.join(', ')} must be set in its environment. Nothing was stored.`);
  }
  const { app } = configured;
  const code = queryValue(values.code);
  const state = queryValue(values.state);
  if (code === null || state === null) {
    return refusal(400, 'incomplete', 'This is the page HubSpot sends you back to after you approve the install, and this address lacks the code or the state HubSpot adds to it. Nothing was stored.', START_AGAIN);
  }
  const now = deps.clock.now().getTime();
  const verdict = await readOAuthState(deps.store, state, now);
  if (!verdict.ok) {
    return verdict.reason === 'expired'
      ? refusal(400, 'state_expired', `This install link has expired: an install is completed within ${OAUTH_STATE_TTL_MS / 60_000} minutes of its start. Nothing was stored.`, START_AGAIN)
      : refusal(400, 'state_forged', 'This install link was not made by this server, or was changed on the way. Nothing was stored.', START_AGAIN);
  }
  const spent = await spendOAuthState(deps.store, verdict.claims, now);
  if (spent.outcome === 'used_before') {
    return refusal(400, 'state_used', 'This install link was used already, and each is used once: if it just connected HubSpot, HubSpot is connected. Nothing more was stored.', START_AGAIN);
  }
  if (spent.outcome === 'busy') {
    const retryAfterSeconds = Math.max(1, Math.ceil(spent.retryAfterMs / 1000));
    return {
      ...refusal(503, 'busy', `Too many HubSpot installs were completed on this server in the last ${OAUTH_STATE_TTL_MS / 60_000} minutes. Nothing was stored.`, `Open this page again in ${retryAfterSeconds} seconds.`),
      retryAfterSeconds,
    };
  }

  const workspace = deps.engine.workspace(verdict.claims.workspaceId);
  let read: HubSpotAccount | null;
  let name: string;
  try {
    const current = await workspace.get();
    read = hubSpotAccountOf(current.settings);
    name = current.name;
  } catch (error) {
    if (isConsentryError(error) && error.code === 'NOT_FOUND') return refusal(400, 'no_workspace', 'The workspace this install was started for no longer exists. Nothing was stored.');
    throw error;
  }

  let issued: IssuedHubSpotTokens;
  try {
    issued = await requestHubSpotTokens(app, { grantType: 'authorization_code', code, redirectUri: app.redirectUri }, now, deps.basePath === undefined ? {} : { basePath: deps.basePath });
  } catch (error) {
    if (error instanceof HubSpotGrantRefusedError) {
      // The message quotes HubSpot's error code and status alone, never the code or the secret sent.
      const refused = `${error.message}. Nothing was stored.`;
      return error.field === HUBSPOT_CLIENT_ID_FIELD
        ? refusal(400, 'app_refused', refused, "The server's HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET must be the app's, as its Auth settings show them.")
        : refusal(400, 'code_refused', refused, START_AGAIN);
    }
    const down = hubSpotUnavailability(error, () => now);
    if (down === null) throw error;
    return unavailable(down.reason, down.retryAfterSeconds, 'issue the tokens');
  }

  const lookup = await accounts.lookUp(issued.accessToken);
  if (lookup.outcome === 'unavailable') return unavailable(lookup.reason, lookup.retryAfterSeconds, 'say which HubSpot account approved the install');
  if (lookup.outcome !== 'found') {
    const answered = lookup.outcome === 'token_malformed' ? 'a token that cannot be sent' : `HubSpot answered ${lookup.status}`;
    return refusal(
      400,
      'account_refused',
      `HubSpot refused the account's details to the token it issued (${answered}): the app's scopes must include ${ACCOUNT_INFO_SCOPE}. Nothing was stored.`,
      START_AGAIN,
    );
  }

  const hubspot = installedSettings(app, issued, lookup.portalId);
  const confirmed: HubSpotAccount = { accessToken: hubspot.accessToken, portalId: hubspot.portalId, oauth: { clientId: hubspot.clientId, clientSecret: hubspot.clientSecret, refreshToken: hubspot.refreshToken } };
  try {
    // The engine's settings change, so that a portal belongs to one workspace (src/engine/integrations.ts)
    // and settings changed since they were read are not overwritten.
    await workspace.updateSettings({ hubspot }, { hubspotAccount: { read, confirmed } });
  } catch (error) {
    if (!isConsentryError(error)) throw error;
    if (error.code === 'CONFLICT' && error.issues.some((issue) => issue.path === HUBSPOT_PORTAL_FIELD)) {
      return refusal(
        409,
        'portal_taken',
        `HubSpot account ${lookup.portalId} is connected to another workspace on this server, and a HubSpot account belongs to one workspace at a time. Nothing was stored.`,
        'Disconnect it from that workspace first, or approve the install in another HubSpot account.',
      );
    }
    if (error.code === 'CONFLICT') {
      return refusal(409, 'settings_changed', "The workspace's HubSpot settings changed while this install was being completed. Nothing was stored.", START_AGAIN);
    }
    throw error;
  }
  await rememberIssuedTokens(deps.store, verdict.claims.workspaceId, { clientId: app.clientId, clientSecret: app.clientSecret, refreshToken: issued.refreshToken }, issued);
  request.log.info({ workspaceId: verdict.claims.workspaceId, portalId: lookup.portalId }, 'HubSpot app installed');
  return {
    status: 200,
    reason: 'connected',
    title: 'HubSpot is connected',
    paragraphs: [
      `HubSpot account ${lookup.portalId} is connected to the workspace "${name}".`,
      'Consentry keeps the tokens HubSpot issued and renews them itself. You can close this page.',
    ],
  };
}

/**
 * A failure of the server rather than a refusal: a store that cannot take the write now (the
 * problem handler's waits: STORE_BUSY and a transaction rolled back with its commit group retry
 * after 1 second, STORE_FULL after 30), or a fault, logged by its name, message and stack alone
 * (an HTTP client's error object can hold the request it sent, whose form has the code and the
 * secret).
 */
function failure(request: FastifyRequest, error: unknown): InstallOutcome {
  if (isPassingStoreFailure(error)) {
    const code = isConsentryError(error) ? error.code : 'STORE_BUSY';
    request.log.warn({ code }, 'HubSpot install refused: the store cannot take writes now');
    const retryAfterSeconds = code === 'STORE_FULL' ? 30 : 1;
    return { ...refusal(503, 'store_unavailable', 'Consentry could not store the connection now. Nothing was stored.', START_AGAIN), retryAfterSeconds };
  }
  const err = error instanceof Error ? { type: error.name, message: error.message, stack: error.stack } : { type: typeof error };
  request.log.error({ err }, 'HubSpot install failed');
  return refusal(500, 'failed', 'Consentry failed while completing the install; the server log says why. The install may not be complete.', START_AGAIN);
}

/** GET /hubspot/oauth/callback: HubSpot sends the person's browser here, so it takes no API key and answers a page. */
export function registerInstallCallback(scope: FastifyInstance, deps: HubSpotInstallDeps): void {
  const accounts =
    deps.accounts ??
    createHubSpotAccountVerifier({ ...(deps.basePath === undefined ? {} : { basePath: deps.basePath }), now: () => deps.clock.now().getTime() });
  const path = OAUTH_CALLBACK_PATH.replace(/^\/hubspot/, '');
  scope.get(path, installCallbackDocumentation(OAUTH_START_PATH), async (request, reply) => {
    let outcome: InstallOutcome;
    try {
      outcome = await completeInstall(deps, accounts, request);
    } catch (error) {
      outcome = failure(request, error);
    }
    if (outcome.status !== 200 && outcome.reason !== 'failed' && outcome.reason !== 'store_unavailable') request.log.info({ status: outcome.status, reason: outcome.reason }, 'HubSpot install refused');
    return sendPage(reply, outcome);
  });
}

const PAGE_STYLE = 'body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5}h1{font-size:1.4rem}';
/**
 * The page loads nothing and runs nothing: its one style block is allowed by its hash
 * (https://www.w3.org/TR/CSP3/#grammardef-hash-source), everything else is refused. The address
 * held a code, so it is sent as no referrer and the page is not cached.
 */
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'content-security-policy': `default-src 'none'; style-src 'sha256-${createHash('sha256').update(PAGE_STYLE, 'utf8').digest('base64')}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
};

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => HTML_ESCAPES[character] ?? character);
}

/** The whole page: every text in it escaped, a workspace name included. */
export function installPage(title: string, paragraphs: readonly string[]): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${PAGE_STYLE}</style>`,
    '</head>',
    '<body>',
    `<h1>${escapeHtml(title)}</h1>`,
    ...paragraphs.map((paragraph) => `<p>${escapeHtml(paragraph)}</p>`),
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

function sendPage(reply: FastifyReply, outcome: InstallOutcome): FastifyReply {
  reply.code(outcome.status).headers(PAGE_HEADERS);
  if (outcome.retryAfterSeconds !== undefined) reply.header('retry-after', String(outcome.retryAfterSeconds));
  return reply.send(installPage(outcome.title, outcome.paragraphs));
}

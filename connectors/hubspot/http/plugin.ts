import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Engine } from '../../../src/engine.js';
import type { Clock } from '../../../src/ports/clock.js';
import type { Store } from '../../../src/ports/store.js';
import { isConsentryError } from '../../../src/core/errors.js';
import { jsonSyntaxError } from '../../../src/core/json-syntax.js';
import { zodIssuesToFieldIssues } from '../../../src/core/ledger.js';
import { FIELD_PARSE, REQUEST_BODY_PARSE, requiredOr } from '../../../src/core/required.js';
import { HubSpotSettingsSchema } from '../../../src/core/settings.js';
import { HUBSPOT_PORTAL_FIELD, recordEnvironmentPortalClaim } from '../../../src/engine/integrations.js';
import { authenticate, authOf } from '../../../src/server/auth.js';
import { problemResponses } from '../../../src/server/openapi.js';
import { problem, ProblemSchema, sendProblem, type Problem } from '../../../src/server/problem.js';
import { refuseUndeclaredInput } from '../../../src/server/schemas.js';
import { API_KEY_SECURITY } from '../../../src/server/types.js';
import { MAX_RETRIED_PER_REQUEST } from '../../../src/worker/hooks.js';
import { ActionRequestSchema } from '../actions/context.js';
import { configsForPortal, environmentPortalClaim, type HubSpotEnvironment, type ResolvedHubSpotConfig } from '../config.js';
import { hubSpotConnectionsFor, type HubSpotConnections } from '../connections.js';
import { verifyHubSpotSignatureWithAny, type SignedRequest } from '../signature.js';
import { hubSpotStateFor } from '../state-sqlite.js';
import type { HubSpotState } from '../state.js';
import {
  DEAD_LETTER_RETRY_DESCRIPTION,
  DeadLetterParamsSchema,
  hubSpotStatus,
  HubSpotStatusSchema,
  resendDeadLetter,
  resendDeadLetters,
  ResentDeadLetterSchema,
  RetriedDeadLettersSchema,
  RetryDeadLettersBodySchema,
} from '../status.js';
import { runAction } from './actions.js';
import { registerInstallCallback, registerInstallStart, type HubSpotInstallEnvironment, type HubSpotInstallOptions } from './oauth-install.js';
import { actionRouteDocumentation, ActionParamsSchema, webhookRouteDocumentation } from './openapi.js';
import { processWebhookEvents, WebhookBodySchema } from './webhooks.js';

export interface HubSpotPluginOptions {
  engine: Engine;
  store: Store;
  clock: Clock;
  /** The default workspace's variables, and the OAuth app installs use (HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET). */
  env?: HubSpotEnvironment & HubSpotInstallEnvironment;
  /** PUBLIC_URL: HubSpot signs the URL it called, which is this one behind a proxy; an install's redirect URL is under it. */
  publicUrl?: string;
  /** Where the install flow asks HubSpot for tokens and account details; HubSpot's own API unless given. */
  install?: HubSpotInstallOptions;
  state?: HubSpotState;
  connections?: HubSpotConnections;
}

/**
 * The portal id an unsigned body names, read with the settings' own pattern (digits, bounded
 * length) before anything uses it: it picks the secrets to verify with, and is never quoted back.
 */
const PORTAL_ID_FORM = 'the numeric HubSpot account id';
const PortalIdSchema = z
  // A number past 2^53 was rounded by JSON.parse: it is not the id that was sent.
  .union([z.string(), z.number().refine(Number.isSafeInteger, `must be ${PORTAL_ID_FORM}`)], { error: requiredOr(`must be ${PORTAL_ID_FORM}`) })
  .transform(String)
  .refine((portalId) => HubSpotSettingsSchema.shape.portalId.safeParse(portalId).success, `must be ${PORTAL_ID_FORM}`);
const PortalOfAction = z.object({ origin: z.object({ portalId: PortalIdSchema }) });
const PortalOfWebhook = z.array(z.object({ portalId: PortalIdSchema })).min(1, 'is an empty list: a webhook request holds at least one event');

/** The portal an unsigned body names, or the refusal of a body that names none or one that cannot be a portal id. */
type PortalRead = { ok: true; portalId: string } | { ok: false; problem: Problem };

/**
 * A body without a readable portal id: `is required` for one left out (or no body), `must be the
 * numeric HubSpot account id` for one of another form. The value itself is never quoted back.
 */
function portalRefusal(error: z.ZodError | undefined): PortalRead {
  const errors = error === undefined ? [{ path: 'body', message: 'is required' }] : zodIssuesToFieldIssues(error);
  const malformed = errors.some((issue) => issue.path.endsWith('portalId') && !issue.message.startsWith('is required'));
  const detail = malformed ? `The body's HubSpot portal id is not ${PORTAL_ID_FORM}` : 'The body names no HubSpot portal';
  return { ok: false, problem: problem(400, 'VALIDATION_FAILED', detail, errors.map((issue) => ({ ...issue, path: issue.path === '' ? 'body' : issue.path }))) };
}

/** Fastify's body limit when the server sets none (https://fastify.dev/docs/latest/Reference/Server/#bodylimit). */
const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;

/** Why a HubSpot request was refused, as logged: a fixed list, never text from the request. */
type RefusalReason = 'not_json' | 'no_portal' | 'unknown_portal' | 'no_client_secret' | 'ambiguous' | 'missing' | 'bad_signature' | 'stale' | 'future';
type Refusal = { ok: false; problem: Problem; reason: RefusalReason };
type Verified = { ok: true; config: ResolvedHubSpotConfig } | Refusal;

function headersOf(request: FastifyRequest): Record<string, string | undefined> {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(request.headers)) headers[name] = Array.isArray(value) ? value.join(',') : value;
  return headers;
}

/**
 * The body as JSON, read once, before the signature is checked (it names the portal whose secrets
 * verify it): `undefined` for a body not sent or only white space, which the server's own JSON
 * parser reads the same way (src/server/app.ts), or the refusal of a text that is not JSON. A body
 * that is not JSON is refused as such, so that it is never read as one whose fields are all absent.
 */
function readJson(text: string): { ok: true; value: unknown } | Refusal {
  if (text.trim() === '') return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    return notJson(text, error);
  }
}

/**
 * A body that is not JSON, answered as the server answers one (MALFORMED_JSON, `errors` naming
 * the line and column where it stops being JSON, src/server/problem.ts), and refused before its
 * signature is checked: it names no portal.
 */
function notJson(text: string, error: unknown): Refusal {
  const where = jsonSyntaxError(text, error);
  return { ok: false, problem: problem(400, 'MALFORMED_JSON', 'The request body is not valid JSON', [{ path: 'body', message: `is not valid JSON: ${where}` }]), reason: 'not_json' };
}

/**
 * The routes HubSpot calls: workflow actions (`POST /hubspot/actions/{key}`) and webhooks
 * (`POST /hubspot/webhooks`), outside the API-key scope and verified by HubSpot's signature over
 * the raw body; the OAuth install's redirect (`GET /hubspot/oauth/callback`), which a browser
 * opens and the signed state authorises; and for API clients the sync status
 * (`GET /v1/integrations/hubspot/status`) and the install's start (`POST /v1/integrations/hubspot/oauth/start`).
 */
export async function hubSpotPlugin(app: FastifyInstance, options: HubSpotPluginOptions): Promise<void> {
  const env = options.env ?? {};
  const state = options.state ?? hubSpotStateFor(options.store);
  const connections = options.connections ?? hubSpotConnectionsFor(options.store, { clock: options.clock });
  const publicUrl = options.publicUrl?.replace(/\/+$/, '');
  const deps = { engine: options.engine, state, clock: options.clock, connections };
  const installDeps = { engine: options.engine, store: options.store, clock: options.clock, env, publicUrl, ...options.install };

  /** The URL HubSpot signed: PUBLIC_URL + path + query, else what this request says it was. */
  const signedUri = (request: FastifyRequest): string => `${publicUrl ?? `${request.protocol}://${request.host}`}${request.url}`;

  /**
   * Verifies the signature with the secret of each workspace the (not yet trusted) body's portal
   * names, and picks the workspace whose secret verifies it: several may name one portal in a
   * database written before a portal belonged to one workspace, and the store's order must not
   * decide. A portal nobody is connected to, a workspace without a client secret and a forgery get
   * the same answer, so the answers tell nobody which portals are connected. A refusal is returned,
   * not sent: the route answers it (a reply is thenable, so awaiting one here would lose it).
   */
  async function verified(request: FastifyRequest, portal: PortalRead, allowV2: boolean): Promise<Verified> {
    const body = typeof request.body === 'string' ? request.body : '';
    if (!portal.ok) return { ok: false, problem: portal.problem, reason: 'no_portal' };
    const { portalId } = portal;
    const candidates = configsForPortal(await options.engine.listWorkspaces(), env, portalId);
    const secrets = candidates.flatMap((config) => (config.clientSecret === null ? [] : [config.clientSecret]));
    const signed: SignedRequest = { method: request.method, uri: signedUri(request), body, headers: headersOf(request) };
    const verifyOptions = { now: options.clock.now(), allowV2 };
    const verdict = verifyHubSpotSignatureWithAny(signed, secrets, verifyOptions);
    if (!verdict.ok) {
      let detail = `HubSpot signature refused: ${verdict.reason} (checked over ${signed.uri})`;
      if (verdict.reason === 'bad_signature' && secrets.length > 0) {
        // Tells a proxy set-up apart from a forgery; the request is refused either way, since forwarded headers prove nothing.
        const intended = proxiedUris(request).find((uri) => uri !== signed.uri && verifyHubSpotSignatureWithAny({ ...signed, uri }, secrets, verifyOptions).ok);
        if (intended !== undefined) {
          detail += `; it was signed for ${intended}: set PUBLIC_URL to ${new URL(intended).origin}, the address HubSpot calls`;
        }
      }
      const reason = candidates.length === 0 ? 'unknown_portal' : secrets.length === 0 ? 'no_client_secret' : verdict.reason;
      return { ok: false, problem: problem(401, 'UNAUTHORIZED', detail), reason };
    }
    const owners = candidates.filter((config) => config.clientSecret !== null && verdict.secrets.includes(config.clientSecret));
    const [owner] = owners;
    if (owner === undefined || owners.length > 1) {
      // Workspaces sharing one portal and one secret: nothing in the request says whose it is.
      request.log.warn({ workspaceIds: owners.map((config) => config.workspaceId) }, 'HubSpot request refused: several workspaces name its portal and their client secret verifies it');
      return { ok: false, problem: problem(401, 'UNAUTHORIZED', `HubSpot signature refused: bad_signature (checked over ${signed.uri})`), reason: 'ambiguous' };
    }
    return { ok: true, config: owner };
  }

  /**
   * Anyone can send requests to these routes: a refusal is an expected outcome, logged at info
   * without a stack, so unsigned traffic cannot fill the error log. The line holds the status and
   * a reason from a fixed list, nothing the request carries, so it cannot be made long either.
   */
  const refuse = (request: FastifyRequest, reply: FastifyReply, refusal: Refusal): FastifyReply => {
    request.log.info({ status: refusal.problem.status, reason: refusal.reason }, 'HubSpot request refused');
    return sendProblem(reply, refusal.problem);
  };

  await claimEnvironmentPortal(app, options.store, env);

  await app.register(
    async (scope) => {
      // Signatures cover the body exactly as sent: keep it as text, parse it after verifying.
      scope.removeContentTypeParser('application/json');
      scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
        done(null, typeof body === 'string' ? body : body.toString('utf8'));
      });

      // Described in /openapi.json without a schema Fastify would compile: the body stays the raw text.
      const bodyLimit = scope.initialConfig.bodyLimit ?? DEFAULT_BODY_LIMIT_BYTES;
      scope.post('/actions/:key', actionRouteDocumentation(bodyLimit), async (request, reply) => {
        // An unknown action key is named with the keys there are (`key: "nope" is not one of check-consent, ...`), as every refused path parameter is.
        const params = ActionParamsSchema.safeParse(request.params, FIELD_PARSE);
        if (!params.success) return sendProblem(reply, problem(404, 'NOT_FOUND', 'No such HubSpot workflow action', zodIssuesToFieldIssues(params.error)));
        const body = readJson(typeof request.body === 'string' ? request.body : '');
        if (!body.ok) return refuse(request, reply, body);
        const portal = PortalOfAction.safeParse(body.value, REQUEST_BODY_PARSE);
        const checked = await verified(request, portal.success ? { ok: true, portalId: portal.data.origin.portalId } : portalRefusal(portal.error), true);
        if (!checked.ok) return refuse(request, reply, checked);
        // errors[] names an absent field `is required`, as the API's own answers do (src/core/required.ts).
        const parsed = ActionRequestSchema.safeParse(body.value, REQUEST_BODY_PARSE);
        if (!parsed.success) {
          return sendProblem(reply, problem(400, 'VALIDATION_FAILED', 'Not a HubSpot workflow action request', zodIssuesToFieldIssues(parsed.error)));
        }
        const outcome = await runAction(deps, params.data.key, checked.config, parsed.data);
        if (outcome.kind === 'busy') {
          // The first delivery of this callbackId is still being handled; HubSpot retries 5xx (DESIGN §6).
          return sendProblem(reply, problem(503, 'CONFLICT', 'This callbackId is being handled; retry shortly'));
        }
        return reply.code(200).send(outcome.answer);
      });

      scope.post('/webhooks', webhookRouteDocumentation(bodyLimit), async (request, reply) => {
        const body = readJson(typeof request.body === 'string' ? request.body : '');
        if (!body.ok) return refuse(request, reply, body);
        const portal = PortalOfWebhook.safeParse(body.value, REQUEST_BODY_PARSE);
        const first = portal.success ? portal.data[0] : undefined;
        // Webhooks are signed with v3 only; accepting v2 here would let a replayed request through.
        const checked = await verified(request, first === undefined ? portalRefusal(portal.error) : { ok: true, portalId: first.portalId }, false);
        if (!checked.ok) return refuse(request, reply, checked);
        // errors[] names an absent field `is required`, as the API's own answers do (src/core/required.ts).
        const parsed = WebhookBodySchema.safeParse(body.value, REQUEST_BODY_PARSE);
        if (!parsed.success) {
          return sendProblem(reply, problem(400, 'VALIDATION_FAILED', 'Not a HubSpot webhook request', zodIssuesToFieldIssues(parsed.error)));
        }
        // One signature covers the whole request: events of a portal served by another workspace are not this secret's to vouch for.
        const own = parsed.data.filter((event) => configForPortalMatches(checked.config, event.portalId));
        const summary = await processWebhookEvents(deps, checked.config, own);
        if (summary.deferred > 0) {
          // HubSpot delivers a webhook request again when it is not answered 2xx; what this one recorded is not recorded twice.
          const detail = `${summary.deferred} change(s) could not be recorded yet: what they need (an opt-in's legal basis, or the e-mail and phone of a record no contact is linked to) could not be read from HubSpot`;
          return sendProblem(reply, problem(503, 'HUBSPOT_UNAVAILABLE', detail));
        }
        return reply.code(200).send({ ...summary, ignored: summary.ignored + parsed.data.length - own.length });
      });

      registerInstallCallback(scope, installDeps);
    },
    { prefix: '/hubspot' },
  );

  await app.register(
    async (scope) => {
      scope.addHook('onRequest', authenticate(options));
      // Under /v1 like the API's own routes: unknown query parameters and body fields are refused alike.
      scope.addHook('onRoute', refuseUndeclaredInput);
      scope.withTypeProvider<ZodTypeProvider>().get(
        '/status',
        {
          schema: {
            tags: ['integrations'],
            summary: 'HubSpot sync: backlog, last success, dead letters',
            security: API_KEY_SECURITY,
            response: { 200: HubSpotStatusSchema, 401: ProblemSchema },
          },
        },
        async (request) => {
          const auth = authOf(request);
          const workspaces = await options.engine.listWorkspaces();
          const workspace = await auth.workspace.get();
          return hubSpotStatus(state, workspace, env, workspaces[0]?.id === workspace.id, options.clock.now());
        },
      );
      // Dead letters sent again, as a hook's are (src/server/routes/hooks.ts), within the key's workspace.
      scope.withTypeProvider<ZodTypeProvider>().post(
        '/dead-letters/:id/retry',
        {
          schema: {
            tags: ['integrations'],
            summary: 'Send a dead letter of the HubSpot sync again',
            description: `${DEAD_LETTER_RETRY_DESCRIPTION} A change that is not dead, or a dead letter of an erased contact, is 409; an id this workspace has no change for is 404.`,
            security: API_KEY_SECURITY,
            params: DeadLetterParamsSchema,
            response: { 202: ResentDeadLetterSchema, ...problemResponses(404, 409) },
          },
        },
        async (request, reply) => reply.code(202).send(await resendDeadLetter(state, authOf(request).workspaceId, request.params.id, options.clock.now())),
      );
      scope.withTypeProvider<ZodTypeProvider>().post(
        '/dead-letters/retry',
        {
          schema: {
            tags: ['integrations'],
            summary: 'Send every dead letter of the HubSpot sync again',
            description:
              `Each as POST .../dead-letters/{id}/retry does, oldest event first, at most ${MAX_RETRIED_PER_REQUEST.toLocaleString('en')} per request; ` +
              'dead letters of erased contacts stay dead and are not counted.',
            security: API_KEY_SECURITY,
            body: RetryDeadLettersBodySchema,
            response: { 202: RetriedDeadLettersSchema },
          },
        },
        async (request, reply) => reply.code(202).send(await resendDeadLetters(state, authOf(request).workspaceId, options.clock.now())),
      );
      registerInstallStart(scope.withTypeProvider<ZodTypeProvider>(), installDeps);
    },
    { prefix: '/v1/integrations/hubspot' },
  );
}

/**
 * HUBSPOT_PORTAL_ID claims its portal for the default workspace as its settings would: the server
 * does not start when another workspace names it, and the claim is kept where settings changes see
 * it. A store that cannot be written to now only delays the claim to the next start; the server
 * starts, and its health check reports the store.
 */
async function claimEnvironmentPortal(app: FastifyInstance, store: Store, env: HubSpotEnvironment): Promise<void> {
  try {
    await store.transaction(async (tx) => recordEnvironmentPortalClaim(tx, environmentPortalClaim(await tx.listWorkspaces(), env)));
  } catch (error) {
    if (isConsentryError(error) && error.issues.some((issue) => issue.path === HUBSPOT_PORTAL_FIELD)) throw error;
    app.log.warn({ err: error }, 'The HubSpot portal of HUBSPOT_PORTAL_ID could not be recorded; it is recorded at the next start');
  }
}

/**
 * The URLs a proxy in front of the server may have been called at: HubSpot signs the URL it called
 * (https://developers.hubspot.com/docs/api/webhooks/validating-requests), and behind a
 * TLS-terminating proxy that is `https://` and the forwarded host, not what this server sees.
 */
function proxiedUris(request: FastifyRequest): string[] {
  const first = (name: string): string | undefined => {
    const value = request.headers[name];
    const text = Array.isArray(value) ? value[0] : value;
    const part = text?.split(',')[0]?.trim();
    return part === undefined || part === '' ? undefined : part;
  };
  const hosts = [first('x-forwarded-host'), first('host')].filter((host): host is string => host !== undefined);
  const protocols = [first('x-forwarded-proto'), 'https', 'http'].filter((protocol): protocol is string => protocol !== undefined && /^https?$/.test(protocol));
  const uris = new Set<string>();
  for (const host of hosts) {
    for (const protocol of protocols) {
      try {
        const origin = new URL(`${protocol}://${host}`).origin;
        uris.add(`${origin}${request.url}`);
      } catch {
        // A Host header that is no host names no URL HubSpot could have called.
      }
    }
  }
  return [...uris];
}

function configForPortalMatches(config: ResolvedHubSpotConfig, portalId: string): boolean {
  return config.portalId === null || config.portalId === portalId;
}

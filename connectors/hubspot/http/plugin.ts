import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Engine } from '../../../src/engine.js';
import type { Clock } from '../../../src/ports/clock.js';
import type { Store } from '../../../src/ports/store.js';
import { authenticate, authOf } from '../../../src/server/auth.js';
import { problem, ProblemSchema, sendProblem, type Problem } from '../../../src/server/problem.js';
import { API_KEY_SECURITY } from '../../../src/server/types.js';
import { ActionRequestSchema } from '../actions/context.js';
import { ACTION_KEYS } from '../actions/definition.js';
import { configForPortal, type HubSpotEnvironment, type ResolvedHubSpotConfig } from '../config.js';
import { hubSpotConnectionsFor, type HubSpotConnections } from '../connections.js';
import { verifyHubSpotSignature, type SignedRequest } from '../signature.js';
import { hubSpotStateFor } from '../state-sqlite.js';
import type { HubSpotState } from '../state.js';
import { hubSpotStatus, HubSpotStatusSchema } from '../status.js';
import { runAction } from './actions.js';
import { processWebhookEvents, WebhookBodySchema } from './webhooks.js';

export interface HubSpotPluginOptions {
  engine: Engine;
  store: Store;
  clock: Clock;
  env?: HubSpotEnvironment;
  /** PUBLIC_URL: HubSpot signs the URL it called, which is this one behind a proxy. */
  publicUrl?: string;
  state?: HubSpotState;
  connections?: HubSpotConnections;
}

const PortalOfAction = z.object({ origin: z.object({ portalId: z.union([z.string(), z.number()]).transform(String) }) });
const PortalOfWebhook = z.array(z.object({ portalId: z.union([z.string(), z.number()]).transform(String) })).min(1);
const ActionParams = z.object({ key: z.enum(ACTION_KEYS) });

function headersOf(request: FastifyRequest): Record<string, string | undefined> {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(request.headers)) headers[name] = Array.isArray(value) ? value.join(',') : value;
  return headers;
}

function looseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The routes HubSpot calls: workflow actions (`POST /hubspot/actions/{key}`) and webhooks
 * (`POST /hubspot/webhooks`), outside the API-key scope and verified by HubSpot's signature over
 * the raw body; and the sync status for API clients (`GET /v1/integrations/hubspot/status`).
 */
export async function hubSpotPlugin(app: FastifyInstance, options: HubSpotPluginOptions): Promise<void> {
  const env = options.env ?? {};
  const state = options.state ?? hubSpotStateFor(options.store);
  const connections = options.connections ?? hubSpotConnectionsFor(options.store, { clock: options.clock });
  const publicUrl = options.publicUrl?.replace(/\/+$/, '');
  const deps = { engine: options.engine, state, clock: options.clock, connections };

  /** The URL HubSpot signed: PUBLIC_URL + path + query, else what this request says it was. */
  const signedUri = (request: FastifyRequest): string => `${publicUrl ?? `${request.protocol}://${request.host}`}${request.url}`;

  /**
   * Finds the workspace by the portal the (not yet trusted) body names, then checks the signature
   * with its secret. A refusal is returned, not sent: the route answers it (a reply is thenable,
   * so awaiting one here would lose it).
   */
  async function verified(
    request: FastifyRequest,
    portalId: string | null,
    allowV2: boolean,
  ): Promise<{ ok: true; config: ResolvedHubSpotConfig; body: string } | { ok: false; problem: Problem }> {
    const body = typeof request.body === 'string' ? request.body : '';
    if (portalId === null) return { ok: false, problem: problem(400, 'VALIDATION_FAILED', 'The body names no HubSpot portal', [{ path: 'portalId', message: 'required' }]) };
    const config = configForPortal(await options.engine.listWorkspaces(), env, portalId);
    if (config === null) return { ok: false, problem: problem(404, 'NOT_FOUND', `No workspace is connected to HubSpot portal ${portalId}`) };
    if (config.clientSecret === null) {
      return { ok: false, problem: problem(401, 'UNAUTHORIZED', 'No HubSpot client secret is configured to verify this request') };
    }
    const signed: SignedRequest = { method: request.method, uri: signedUri(request), body, headers: headersOf(request) };
    const verifyOptions = { clientSecret: config.clientSecret, now: options.clock.now(), allowV2 };
    const verdict = verifyHubSpotSignature(signed, verifyOptions);
    if (!verdict.ok) {
      let detail = `HubSpot signature refused: ${verdict.reason} (checked over ${signed.uri})`;
      if (verdict.reason === 'bad_signature') {
        // Tells a proxy set-up apart from a forgery; the request is refused either way, since forwarded headers prove nothing.
        const intended = proxiedUris(request).find((uri) => uri !== signed.uri && verifyHubSpotSignature({ ...signed, uri }, verifyOptions).ok);
        if (intended !== undefined) {
          detail += `; it was signed for ${intended}: set PUBLIC_URL to ${new URL(intended).origin}, the address HubSpot calls`;
        }
      }
      return { ok: false, problem: problem(401, 'UNAUTHORIZED', detail) };
    }
    return { ok: true, config, body };
  }

  /**
   * Anyone can send requests to these routes: a refusal is an expected outcome, logged at info
   * without a stack, so unsigned traffic cannot fill the error log.
   */
  const refuse = (request: FastifyRequest, reply: FastifyReply, refusal: Problem): FastifyReply => {
    request.log.info({ status: refusal.status, detail: refusal.detail }, 'HubSpot request refused');
    return sendProblem(reply, refusal);
  };

  await app.register(
    async (scope) => {
      // Signatures cover the body exactly as sent: keep it as text, parse it after verifying.
      scope.removeContentTypeParser('application/json');
      scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
        done(null, typeof body === 'string' ? body : body.toString('utf8'));
      });

      scope.post('/actions/:key', { schema: { hide: true } }, async (request, reply) => {
        const params = ActionParams.safeParse(request.params);
        if (!params.success) return sendProblem(reply, problem(404, 'NOT_FOUND', 'No such HubSpot workflow action'));
        const raw = typeof request.body === 'string' ? request.body : '';
        const portal = PortalOfAction.safeParse(looseJson(raw));
        const checked = await verified(request, portal.success ? portal.data.origin.portalId : null, true);
        if (!checked.ok) return refuse(request, reply, checked.problem);
        const parsed = ActionRequestSchema.safeParse(looseJson(checked.body));
        if (!parsed.success) {
          const errors = parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
          return sendProblem(reply, problem(400, 'VALIDATION_FAILED', 'Not a HubSpot workflow action request', errors));
        }
        const outcome = await runAction(deps, params.data.key, checked.config, parsed.data);
        if (outcome.kind === 'busy') {
          // The first delivery of this callbackId is still being handled; HubSpot retries 5xx (DESIGN §6).
          return sendProblem(reply, problem(503, 'CONFLICT', 'This callbackId is being handled; retry shortly'));
        }
        return reply.code(200).send(outcome.answer);
      });

      scope.post('/webhooks', { schema: { hide: true } }, async (request, reply) => {
        const raw = typeof request.body === 'string' ? request.body : '';
        const portal = PortalOfWebhook.safeParse(looseJson(raw));
        const portalId = portal.success ? (portal.data[0]?.portalId ?? null) : null;
        // Webhooks are signed with v3 only; accepting v2 here would let a replayed request through.
        const checked = await verified(request, portalId, false);
        if (!checked.ok) return refuse(request, reply, checked.problem);
        const parsed = WebhookBodySchema.safeParse(looseJson(checked.body));
        if (!parsed.success) {
          const errors = parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
          return sendProblem(reply, problem(400, 'VALIDATION_FAILED', 'Not a HubSpot webhook request', errors));
        }
        // One signature covers the whole request: events of a portal served by another workspace are not this secret's to vouch for.
        const own = parsed.data.filter((event) => configForPortalMatches(checked.config, event.portalId));
        const summary = await processWebhookEvents(deps, checked.config, own);
        if (summary.deferred > 0) {
          // HubSpot delivers a webhook request again when it is not answered 2xx; what this one recorded is not recorded twice.
          const detail = `${summary.deferred} opt-in(s) could not be recorded: their legal basis could not be read from HubSpot`;
          return sendProblem(reply, problem(503, 'HUBSPOT_UNAVAILABLE', detail));
        }
        return reply.code(200).send({ ...summary, ignored: summary.ignored + parsed.data.length - own.length });
      });
    },
    { prefix: '/hubspot' },
  );

  await app.register(
    async (scope) => {
      scope.addHook('onRequest', authenticate(options));
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
    },
    { prefix: '/v1/integrations/hubspot' },
  );
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

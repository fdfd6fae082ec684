import { createHash, timingSafeEqual } from 'node:crypto';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { DestinationStream, LoggerOptions } from 'pino';
import { z } from 'zod';
import type { HubSpotAccountVerifier } from '../../connectors/hubspot/account.js';
import { hubSpotPlugin } from '../../connectors/hubspot/http/plugin.js';
import { registerSlackEvents } from '../../connectors/slack/route.js';
import type { Config } from '../config.js';
import { ConsentryError } from '../core/errors.js';
import type { Engine } from '../engine.js';
import { createEngine } from '../engine.js';
import type { Clock } from '../ports/clock.js';
import { systemClock } from '../ports/clock.js';
import type { Store } from '../ports/store.js';
import { authenticate } from './auth.js';
import { clientErrorHandler, trackUnsentResponses } from './client-errors.js';
import { withEventWebhooks } from './event-docs.js';
import { createMetrics, type ServerMetrics } from './metrics.js';
import { openApiTransform, withResponseHeaders } from './openapi.js';
import { installProblemHandlers, MAX_PATH_PARAMETER_LENGTH, noteMalformedBody, problem, PROBLEM_CONTENT_TYPE, ProblemSchema, requestValidatorCompiler, sendProblem, toProblem } from './problem.js';
import { prototypePoisoning } from './prototype-poisoning.js';
import { MERGE_PATCH_MEDIA_TYPES, refuseUndeclaredInput } from './schemas.js';
import { consentRoutes } from './routes/consents.js';
import { contactRoutes } from './routes/contacts.js';
import { eventRoutes } from './routes/events.js';
import { hookRoutes } from './routes/hooks.js';
import { ledgerRoutes } from './routes/ledger.js';
import { messageRoutes } from './routes/messages.js';
import { workflowRoutes } from './routes/workflows.js';
import { workspaceRoutes } from './routes/workspace.js';
import type { ApiRoutes, RouteContext, ZodApp } from './types.js';

/** Every file of authenticated `/v1` routes. */
const V1_ROUTES: readonly ApiRoutes[] = [
  workspaceRoutes,
  messageRoutes,
  contactRoutes,
  consentRoutes,
  ledgerRoutes,
  workflowRoutes,
  eventRoutes,
  hookRoutes,
];

export const API_VERSION = '1.0.0';

export type AppLoggerOptions = LoggerOptions & { stream?: DestinationStream };

export interface AppOptions {
  store: Store;
  /** Defaults to an engine on `store` with `clock`. */
  engine?: Engine;
  clock?: Clock;
  /** Fastify's logger: `false` (default) for none, `true` or pino options (with Fastify's `stream` to choose the destination). */
  logger?: boolean | AppLoggerOptions;
  /** The URL clients reach the server at; listed as the OpenAPI server. */
  publicUrl?: string;
  /** Default process metrics (CPU, memory, event loop) on /metrics; on unless switched off. */
  defaultMetrics?: boolean;
  /** The metrics /metrics exposes; a fresh registry when omitted (give one to share it with workers). */
  metrics?: ServerMetrics;
  /** The environment's configuration: the connectors of the default workspace (SLACK_*, HUBSPOT_*) and METRICS_TOKEN, which /metrics then asks for. */
  config?: Partial<Config>;
  /** Accept webhook targets on private-use and loopback addresses (HOOK_TARGETS_ALLOW_PRIVATE; link-local and reserved ones stay refused); default false. */
  allowPrivateTargets?: boolean;
  /** Asks HubSpot whose an access token is, when settings name a HubSpot account; HubSpot's own API unless given. */
  hubSpotAccounts?: HubSpotAccountVerifier;
}

/**
 * Request logs carry the path but not the query string (it may hold an email address or a
 * phone number), and never a header: API keys travel in headers.
 */
const requestSerializer = (request: FastifyRequest) => ({
  method: request.method,
  url: request.url.split('?')[0],
  remoteAddress: request.ip,
});

function loggerOption(logger: AppOptions['logger']): boolean | AppLoggerOptions {
  if (logger === undefined || logger === false) return false;
  const base: AppLoggerOptions = logger === true ? {} : logger;
  return {
    ...base,
    serializers: { ...base.serializers, req: requestSerializer },
    redact: { paths: ['req.headers.authorization', 'req.headers["x-api-key"]'], censor: '[redacted]' },
  };
}

/**
 * Fastify logs two info lines per request, when it comes in and when it is answered
 * (https://fastify.dev/docs/latest/Reference/Server/#logcontroller). One line says it all when
 * the answer's line names the request too; the first is written at debug level only.
 */
class CompletedRequestsOnly extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    if (this.isLogDisabled(request)) return;
    request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error || this.isLogDisabled(request)) super.requestCompleted(error, request, reply);
    else reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

/** The Fastify app of HTTP API v1, ready for `inject` or `listen`. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const clock = options.clock ?? systemClock;
  const engine = options.engine ?? createEngine({ store: options.store, clock });
  const metrics: ServerMetrics = options.metrics ?? createMetrics({ defaultMetrics: options.defaultMetrics ?? true });
  const context: RouteContext = { engine, store: options.store, clock, metrics, allowPrivateTargets: options.allowPrivateTargets ?? false, hubSpotAccounts: options.hubSpotAccounts };

  // A request that reaches an open keep-alive connection while the server drains is served
  // rather than answered with Fastify's bare 503: nothing is lost during a graceful stop.
  const app = Fastify({
    logger: loggerOption(options.logger),
    logController: new CompletedRequestsOnly(),
    return503OnClosing: false,
    // Path parameters are checked by each route's schema (ids up to 200 characters), so the
    // router's own limit sits above every one of them; past it, and for URLs that do not decode,
    // the router answers before any route runs, in problem+json like everything else.
    routerOptions: { maxParamLength: MAX_PATH_PARAMETER_LENGTH },
    frameworkErrors: (error, request, reply) => sendProblem(reply, toProblem(error, request)),
    clientErrorHandler,
  });
  trackUnsentResponses(app.server);
  app.setValidatorCompiler(requestValidatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installProblemHandlers(app);
  acceptJsonBodiesOnly(app);
  releaseConnectionsWhenClosing(app);

  // Callback-style hooks: every request runs them, and an async hook costs a promise each time.
  app.addHook('onResponse', (request, reply, done) => {
    metrics.observeRequest(
      { route: request.routeOptions.url ?? 'unmatched', method: request.method, status: reply.statusCode },
      reply.elapsedTime / 1000,
    );
    done();
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Consentry API',
        version: API_VERSION,
        description:
          'Consent and subscription engine: inbound messages and keywords, contacts, a hash-chained consent ledger, events. Errors are RFC 9457 problem+json. ' +
          // OpenAPI describes the responses of the operations a path has; the answer to a method it
          // has no operation for can only be told here.
          'A path below asked with a method it lists no operation for answers 405 METHOD_NOT_ALLOWED with `Allow` naming the methods it takes (RFC 9110 §15.5.6), ' +
          'and a path not below 404 NOT_FOUND, both before the API key is checked; HEAD is answered on every GET path.',
      },
      servers: options.publicUrl ? [{ url: options.publicUrl }] : [],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <API key>' },
          apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        },
      },
    },
    transform: openApiTransform,
    // What hooks and the custom channel's outbound webhook receive: each event type's body.
    transformObject: (document) => ('openapiObject' in document ? withEventWebhooks(document.openapiObject) : document.swaggerObject),
  });
  // The page at /docs/ asks for its scripts and styles relative to itself (./static/...), which
  // holds on the server's own address and behind a proxy that serves it under a path
  // (PUBLIC_URL https://example.com/consentry) alike; at /docs the plugin would write them from the
  // root, which the proxy's path lacks. So /docs redirects to docs/, a relative reference
  // (RFC 9110 §10.2.2: Location resolves against the URL asked for).
  await app.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    uiHooks: {
      onRequest: (request, reply, done) => {
        const queryAt = request.url.indexOf('?');
        const path = queryAt === -1 ? request.url : request.url.slice(0, queryAt);
        if (path === '/docs') reply.redirect(`docs/${queryAt === -1 ? '' : request.url.slice(queryAt)}`);
        else done();
      },
    },
  });

  const typed = app.withTypeProvider<ZodTypeProvider>();
  systemRoutes(typed, context, options.config?.METRICS_TOKEN);
  // Signed by Slack, not by an API key: outside the /v1 scope.
  await registerSlackEvents(app, { engine, store: options.store, clock, env: options.config ?? {} });
  // HubSpot's actions and webhooks are signed by HubSpot; its status route under /v1 checks the API key itself.
  await app.register(hubSpotPlugin, {
    engine,
    store: options.store,
    clock,
    env: options.config ?? {},
    ...(options.publicUrl !== undefined ? { publicUrl: options.publicUrl } : {}),
    // The install's account check is the settings change's own.
    ...(options.hubSpotAccounts !== undefined ? { install: { accounts: options.hubSpotAccounts } } : {}),
  });
  await app.register(
    async (scope) => {
      scope.addHook('onRequest', authenticate(context));
      scope.addHook('onRoute', refuseUndeclaredInput);
      const v1 = scope.withTypeProvider<ZodTypeProvider>();
      for (const routes of V1_ROUTES) routes(v1, context);
    },
    { prefix: '/v1' },
  );
  return app;
}

/**
 * `close()` stops the listener and drops the keep-alive connections that are idle at that
 * moment; a connection whose request is still running would otherwise stay open after its
 * response until the keep-alive timeout, holding the shutdown. While closing, each response
 * says `Connection: close` (RFC 9112 §9.6) and the connections it leaves idle are closed.
 */
function releaseConnectionsWhenClosing(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('onResponse', (_request, _reply, done) => {
    if (closing) setImmediate(() => app.server.closeIdleConnections());
    done();
  });
}

/**
 * The API takes JSON bodies only. Fastify refuses an empty body sent as application/json
 * (FST_ERR_CTP_EMPTY_JSON_BODY), but clients commonly send that header on a DELETE or a
 * body-less POST; an empty body is no body. Everything else goes to Fastify's own parser, which
 * guards against prototype poisoning; a body it refuses for that alone is valid JSON refused on
 * purpose, a 422 naming the key, not malformed JSON. `application/merge-patch+json` (RFC 7396
 * §4), the media type of the PATCH bodies, is JSON too. Fastify's `text/plain` parser is removed,
 * so a JSON body sent as text is a 415 like any other media type, not a string the schema refuses.
 */
function acceptJsonBodiesOnly(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser([...MERGE_PATCH_MEDIA_TYPES], { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    parseJson(request, text, (error, parsed) => {
      const poisoning = error ? prototypePoisoning(text) : undefined;
      if (poisoning) {
        done(new ConsentryError('VALIDATION_FAILED', `${poisoning.path}: ${poisoning.message}`, [poisoning]), undefined);
        return;
      }
      if (error) {
        // Fastify's error keeps no position: where the text stops being JSON is read again here, on the refused body only.
        const unmarked = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
        try {
          JSON.parse(unmarked);
        } catch (syntaxError) {
          noteMalformedBody(request, unmarked, syntaxError);
        }
      }
      done(error ?? null, parsed);
    });
  });
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** The realm of the metrics token: an API key is another credential and does not open /metrics (RFC 9110 §11.5). */
const METRICS_CHALLENGE = 'Bearer realm="consentry-metrics"';

/**
 * An `onRequest` hook that lets through only requests bearing `token` (RFC 6750 §2.1). The digests
 * are compared, not the texts: `timingSafeEqual` needs equal lengths, and a comparison of the texts
 * would tell the token's length by timing. A wrong token is answered as RFC 6750 §3.1 says.
 */
function requireMetricsToken(token: string) {
  const expected = sha256(token);
  return (request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    const authorization = request.headers.authorization;
    const presented = typeof authorization === 'string' ? /^Bearer[ ]+(\S+)\s*$/i.exec(authorization)?.[1] : undefined;
    if (presented !== undefined && timingSafeEqual(sha256(presented), expected)) {
      done();
      return;
    }
    const body =
      presented === undefined
        ? problem(401, 'UNAUTHORIZED', 'Send the metrics token as "Authorization: Bearer <METRICS_TOKEN>"')
        : problem(401, 'UNAUTHORIZED', 'This metrics token is not valid');
    void reply
      .code(401)
      .header('www-authenticate', presented === undefined ? METRICS_CHALLENGE : `${METRICS_CHALLENGE}, error="invalid_token"`)
      .type(PROBLEM_CONTENT_TYPE)
      .send(body);
  };
}

function systemRoutes(app: ZodApp, { store, metrics }: RouteContext, metricsToken: string | undefined): void {
  app.get(
    '/health',
    {
      schema: {
        tags: ['system'],
        summary: 'Liveness and store reachability (no API key)',
        description:
          'Reads the store without waiting for its write lock, so it answers at once while another process (an import, a backup) holds the lock. 503 STORE_UNAVAILABLE when the store cannot be read; 503 STORE_FULL (Retry-After: 30) while writes are refused for a full disk: from a refused write until a write that grows the database commits, for at most 30 seconds after the last refusal.',
        response: { 200: z.object({ status: z.literal('ok') }), 503: ProblemSchema },
      },
    },
    async (request, reply) => {
      let probe;
      try {
        probe = await store.probe();
      } catch (error) {
        request.log.error({ err: error }, 'store unreadable');
        return sendProblem(reply, problem(503, 'STORE_UNAVAILABLE', 'The store cannot be read'));
      }
      if (probe.diskFull) return sendProblem(reply, problem(503, 'STORE_FULL', 'The disk is full: writes are refused until there is room again'));
      return { status: 'ok' as const };
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['system'],
        summary: 'Prometheus metrics (no API key; the metrics token when METRICS_TOKEN is set)',
        description:
          'The Prometheus text exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/): request durations by route, inbound messages, keyword intents, process metrics, webhook deliveries. ' +
          'Takes no API key. When the server runs with METRICS_TOKEN set, it answers only a request with "Authorization: Bearer <METRICS_TOKEN>", and any other with 401 UNAUTHORIZED and WWW-Authenticate: Bearer realm="consentry-metrics"; without METRICS_TOKEN it is open to every client that reaches the port.',
        produces: [metrics.registry.contentType],
        // The gauges read the store without its write lock; a store that cannot be read at all answers 503.
        response: {
          200: z.string().describe('Metrics in the Prometheus text format'),
          401: withResponseHeaders(ProblemSchema.describe('METRICS_TOKEN is set and the request does not bear it'), {
            'WWW-Authenticate': z.string().describe(`${METRICS_CHALLENGE}, with error="invalid_token" when a bearer token was sent and is not the metrics token`),
          }),
          503: ProblemSchema,
        },
      },
      ...(metricsToken !== undefined ? { onRequest: requireMetricsToken(metricsToken) } : {}),
    },
    async (_request, reply) => {
      const text = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(text);
    },
  );

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}

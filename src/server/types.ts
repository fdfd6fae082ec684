import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { HubSpotAccountVerifier } from '../../connectors/hubspot/account.js';
import type { Engine } from '../engine.js';
import type { Clock } from '../ports/clock.js';
import type { Store } from '../ports/store.js';
import type { ServerMetrics } from './metrics.js';

/** A Fastify instance whose routes take zod schemas (fastify-type-provider-zod). */
export type ZodApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse<IncomingMessage>, FastifyBaseLogger, ZodTypeProvider>;

export interface RouteContext {
  engine: Engine;
  store: Store;
  clock: Clock;
  metrics: ServerMetrics;
  /** Webhook targets (hooks, the outbound webhook) may be private-use or loopback addresses (link-local and reserved ones stay refused). */
  allowPrivateTargets: boolean;
  /** Asks HubSpot whose an access token is, when settings name a HubSpot account; HubSpot's own API when not given. */
  hubSpotAccounts?: HubSpotAccountVerifier | undefined;
}

/** One file of authenticated `/v1` routes: registered inside the scope that checks the API key. */
export type ApiRoutes = (v1: ZodApp, context: RouteContext) => void;

/** OpenAPI security requirement of every `/v1` route: either way of sending the key. */
export const API_KEY_SECURITY: { [scheme: string]: string[] }[] = [{ bearerAuth: [] }, { apiKeyHeader: [] }];

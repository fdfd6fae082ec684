import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Actor, ConsentSource } from '../core/consent.js';
import { ConsentryError } from '../core/errors.js';
import { notOneOf } from '../core/required.js';
import type { Engine, WorkspaceEngine } from '../engine.js';
import type { Clock } from '../ports/clock.js';
import type { ApiKeyRow, Store } from '../ports/store.js';
import { authenticateApiKey } from './api-keys.js';

export interface AuthContext {
  key: ApiKeyRow;
  workspaceId: string;
  /** The engine scoped to the key's workspace: every read and write of the request goes through it. */
  workspace: WorkspaceEngine;
}

const contexts = new WeakMap<FastifyRequest, AuthContext>();

/** RFC 6750 §2.1 bearer token, or the `X-API-Key` header some clients find easier to set. */
export function presentedKey(request: FastifyRequest): string | null {
  const authorization = request.headers.authorization;
  if (typeof authorization === 'string') {
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    if (match?.[1]) return match[1];
  }
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header.trim() !== '') return header.trim();
  return null;
}

/** An `onRequest` hook for the authenticated routes: runs before the body is even read. */
export function authenticate(deps: { engine: Engine; store: Store; clock: Clock }) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const presented = presentedKey(request);
    if (presented === null) {
      throw new ConsentryError('UNAUTHORIZED', 'Send an API key as "Authorization: Bearer <key>" or "X-API-Key: <key>"');
    }
    const result = await authenticateApiKey(deps.store, presented, deps.clock);
    if (!result.ok) {
      throw new ConsentryError('UNAUTHORIZED', result.reason === 'revoked' ? 'This API key was revoked' : 'This API key is not valid');
    }
    contexts.set(request, { key: result.key, workspaceId: result.key.workspaceId, workspace: deps.engine.workspace(result.key.workspaceId) });
  };
}

/** The authenticated caller of a request behind `authenticate`. */
export function authOf(request: FastifyRequest): AuthContext {
  const context = contexts.get(request);
  if (!context) throw new ConsentryError('UNAUTHORIZED', 'This route needs an API key');
  return context;
}

/** Who recorded a decision made through the API: the integration behind the key. */
export function actorOf(request: FastifyRequest): Actor {
  return { kind: 'integration', id: authOf(request).key.id };
}

const SOURCE_HEADER = 'x-consentry-source';
const HEADER_SOURCES = ['api', 'zapier'] as const;

/**
 * The Zapier app marks its calls with `X-Consentry-Source: zapier`, so the ledger says a Zap made
 * the decision; `api` (or no header) is a plain API call. Any other value is refused rather than
 * read as `api`: a misspelt source would otherwise put the wrong origin into the ledger for good.
 * Letter case and surrounding spaces do not matter.
 */
export const SourceHeadersSchema = z.object({
  [SOURCE_HEADER]: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(HEADER_SOURCES))
    // The document shows a pipe by its input (a string); the values it takes are declared here.
    .meta({ enum: [...HEADER_SOURCES] })
    .optional()
    .describe('zapier from a Zap; api, or no header, for any other caller (recorded as api, or bulk on /v1/consents/bulk)'),
});

/** The source a decision made through the API is recorded with: the route's own (`otherwise`) unless X-Consentry-Source says zapier. */
export function sourceOf(request: FastifyRequest, otherwise: 'api' | 'bulk'): Extract<ConsentSource, 'api' | 'bulk' | 'zapier'> {
  const parsed = SourceHeadersSchema.safeParse({ [SOURCE_HEADER]: request.headers[SOURCE_HEADER] });
  if (!parsed.success) {
    // Reached only from a route that does not check the header in its schema (one that does has refused the
    // value already, quoted as the schema reads it, trimmed and in lower case); named as any value not in its list is (notOneOf).
    const message = notOneOf(request.headers[SOURCE_HEADER], HEADER_SOURCES);
    throw new ConsentryError('VALIDATION_FAILED', `header ${SOURCE_HEADER}: ${message}`, [{ path: `headers.${SOURCE_HEADER}`, message }]);
  }
  return parsed.data[SOURCE_HEADER] === 'zapier' ? 'zapier' : otherwise;
}

import type { SwaggerTransform } from '@fastify/swagger';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PROBLEM_CONTENT_TYPE, ProblemSchema } from './problem.js';

/** What each problem status means in this API, as the OpenAPI document describes it. */
const PROBLEM_DESCRIPTIONS = {
  400: 'The body is not valid JSON, or the URL does not percent-decode',
  401: 'No API key, or one that is wrong or revoked',
  404: "The path names nothing in the key's workspace (the problem's errors name the part)",
  409: 'Conflicts with what is stored (the problem says with what)',
  410: 'The contact was erased',
  413: 'The body is larger than this route accepts',
  415: 'The body is not JSON',
  422: 'The request is refused: errors[] names every bad field at once',
  429: 'TOO_MANY_REQUESTS: the workspace has another request of this kind in progress; nothing changed, send it again after Retry-After',
  500: 'The server failed; STORE_CORRUPT names a stored row that cannot be read back',
  503: 'The store does not answer: STORE_BUSY when another process held the database write lock for 5 s, STORE_FULL when the disk is full (nothing changed; send the request again after Retry-After)',
} as const;

export type ProblemStatus = keyof typeof PROBLEM_DESCRIPTIONS;

/**
 * The problem responses a route answers because of what it does (404 for what its path names,
 * 409, 410), to spread into its `response` schema. Those every /v1 route shares (400, 401, 422,
 * 500, and 413/415 with a body) are added to the document by `openApiTransform`.
 */
export function problemResponses(...statuses: ProblemStatus[]): Partial<Record<ProblemStatus, typeof ProblemSchema>> {
  return Object.fromEntries(statuses.map((status) => [status, ProblemSchema]));
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** The problems the HTTP layer answers for a route whatever the route does. */
function sharedProblemStatuses(url: string, methods: readonly string[], schema: Record<string, unknown>): ProblemStatus[] {
  if (!url.startsWith('/v1/')) return [];
  // Every /v1 route runs a transaction, and so can find the write lock taken for too long (503).
  const statuses: ProblemStatus[] = [400, 401, 500, 503];
  const takesBody = methods.some((method) => BODY_METHODS.has(method));
  if (takesBody) statuses.push(413, 415);
  if (takesBody || ['params', 'querystring', 'body', 'headers'].some((part) => schema[part] !== undefined)) statuses.push(422);
  return statuses;
}

const ResponsesSchema = z.record(z.string(), z.unknown());

/** The problem JSON Schema as the OpenAPI 3.1 document embeds it (JSON Schema 2020-12, without `$schema`). */
const PROBLEM_JSON_SCHEMA = Object.fromEntries(Object.entries(z.toJSONSchema(ProblemSchema, { io: 'output' })).filter(([key]) => key !== '$schema'));
const DESCRIPTION_OF_STATUS = new Map<string, string>(Object.entries(PROBLEM_DESCRIPTIONS));

function problemResponse(status: string): Record<string, unknown> {
  return {
    description: DESCRIPTION_OF_STATUS.get(status) ?? 'A problem (RFC 9457)',
    ...(status === '401' ? { headers: { 'WWW-Authenticate': { type: 'string', description: 'Bearer realm="consentry"' } } } : {}),
    content: { [PROBLEM_CONTENT_TYPE]: { schema: PROBLEM_JSON_SCHEMA } },
  };
}

/**
 * `jsonSchemaTransform` of fastify-type-provider-zod, then every problem response declared with
 * its meaning and the RFC 9457 media type (`application/problem+json`, not the route's JSON), and
 * the problems every /v1 route shares added where the route does not list them itself.
 */
export const openApiTransform: SwaggerTransform = (input) => {
  const transformed = jsonSchemaTransform(input);
  const schema: Record<string, unknown> = { ...transformed.schema };
  if (schema['hide'] === true) return transformed;
  const declared = ResponsesSchema.safeParse(schema['response'] ?? {});
  const responses: Record<string, unknown> = declared.success ? { ...declared.data } : {};
  const methods = Array.isArray(input.route.method) ? input.route.method : [input.route.method];
  const shared = sharedProblemStatuses(input.url, methods, { ...input.schema }).map(String);
  for (const status of new Set([...Object.keys(responses), ...shared])) {
    if (Number(status) >= 400) responses[status] = problemResponse(status);
  }
  return { ...transformed, schema: { ...schema, response: responses } };
};

import type { SwaggerTransform } from '@fastify/swagger';
import type { FastifySchema } from 'fastify';
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
  503: 'The store does not answer: STORE_BUSY when another process held the database write lock for 5 s, or when the database rolled back the commit this request shared with another transaction that failed; STORE_FULL when the disk is full (nothing changed; send the request again after Retry-After)',
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

/**
 * A header's JSON Schema as a response's `headers` holds it: without `$schema`, its description
 * beside its type, and without the `maximum` zod gives every integer (Number.MAX_SAFE_INTEGER),
 * which no header of this API is bounded by.
 */
function headerJsonSchema(header: z.ZodType): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(z.toJSONSchema(header, { io: 'output' })).filter(([key, value]) => key !== '$schema' && !(key === 'maximum' && value === Number.MAX_SAFE_INTEGER)),
  );
}

/** The headers of a response as @fastify/swagger reads them from its schema (https://github.com/fastify/fastify-swagger#route.response.headers). */
function responseHeaders(headers: Readonly<Record<string, z.ZodType>>): Record<string, Record<string, unknown>> {
  return Object.fromEntries(Object.entries(headers).map(([name, header]) => [name, headerJsonSchema(header)]));
}

/** Retry-After as the server sends it: delay-seconds (RFC 9110 §10.2.3, https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3), never an HTTP date. */
function retryAfter(when: string): Record<string, unknown> {
  return { type: 'integer', minimum: 1, description: `Seconds to wait before sending the request again: ${when}` };
}

/** What a problem 401 answers beside it (sendProblem; RFC 6750 §3, https://www.rfc-editor.org/rfc/rfc6750#section-3). */
const WWW_AUTHENTICATE = { 'WWW-Authenticate': { type: 'string', description: 'Bearer realm="consentry"' } };

/**
 * The Retry-After a refusal carries by its status, with a body or without one: sendProblem sets it
 * for TOO_MANY_REQUESTS, STORE_BUSY and STORE_FULL, and the routes that answer 503 on their own
 * behalf say in their description when they set it.
 */
const RETRY_AFTER_OF_STATUS = new Map<string, Record<string, Record<string, unknown>>>([
  ['429', { 'Retry-After': retryAfter('1, as the other request of its kind takes seconds at most') }],
  [
    '503',
    {
      'Retry-After': retryAfter(
        "1 with STORE_BUSY, 30 with STORE_FULL, and wherever this response's description names Retry-After (HUBSPOT_UNAVAILABLE from PATCH /v1/settings: the wait HubSpot asked for); " +
          'not sent when the server cannot say when (STORE_UNAVAILABLE)',
      ),
    },
  ],
]);

/**
 * A response schema with the headers the response carries, for a route's `response`: the document
 * declares them on the response (@fastify/swagger reads a response schema's `headers` into the
 * OpenAPI Response Object's, https://github.com/fastify/fastify-swagger#route.response.headers),
 * while what the route answers is validated and serialized by `schema` as before.
 */
export function withResponseHeaders<S extends z.ZodType>(schema: S, headers: Readonly<Record<string, z.ZodType>>): S {
  return schema.meta({ headers: responseHeaders(headers) });
}

const DescribedSchema = z.object({ description: z.string() });
const HeadersSchema = z.object({ headers: ResponsesSchema });

/** The headers a response schema declares itself (withResponseHeaders). */
function declaredHeaders(declared: unknown): Record<string, unknown> {
  const own = HeadersSchema.safeParse(declared);
  return own.success ? own.data.headers : {};
}

/** A response declared `z.null()`: answered without a body, so it is described without content. */
const NoBodySchema = z.looseObject({ type: z.literal('null') });

/**
 * A problem response. A route whose problem means something of its own there (a signature refused,
 * not an API key) says so with `ProblemSchema.describe(...)`; otherwise the API's meaning is used.
 */
function problemResponse(status: string, declared: unknown): Record<string, unknown> {
  const own = DescribedSchema.safeParse(declared);
  const description = own.success && own.data.description !== PROBLEM_JSON_SCHEMA['description'] ? own.data.description : undefined;
  const headers = { ...(status === '401' ? WWW_AUTHENTICATE : {}), ...RETRY_AFTER_OF_STATUS.get(status), ...declaredHeaders(declared) };
  return {
    description: description ?? DESCRIPTION_OF_STATUS.get(status) ?? 'A problem (RFC 9457)',
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
    content: { [PROBLEM_CONTENT_TYPE]: { schema: PROBLEM_JSON_SCHEMA } },
  };
}

/** A refusal declared `z.null()` (answered without a body), with the Retry-After of its status unless it declares its own. */
function noBodyResponse(status: string, declared: Record<string, unknown>): Record<string, unknown> {
  const headers = RETRY_AFTER_OF_STATUS.get(status);
  return headers === undefined ? declared : { ...declared, headers: { ...headers, ...declaredHeaders(declared) } };
}

/**
 * `jsonSchemaTransform` of fastify-type-provider-zod, then every problem response declared with
 * its meaning, the RFC 9457 media type (`application/problem+json`, not the route's JSON) and the
 * headers it carries (WWW-Authenticate, Retry-After), and the problems every /v1 route shares
 * added where the route does not list them itself. An error status declared `z.null()` is
 * answered without a body and stays so, with the Retry-After of a 429 or 503.
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
    if (Number(status) < 400) continue;
    const noBody = NoBodySchema.safeParse(responses[status]);
    responses[status] = noBody.success ? noBodyResponse(status, noBody.data) : problemResponse(status, responses[status]);
  }
  return { ...transformed, schema: { ...schema, response: responses } };
};

/**
 * The OpenAPI security requirement of a route a platform calls and signs itself (HubSpot, Slack):
 * no API key. An empty list, so that no document-wide requirement applies to it either (OpenAPI
 * 3.1, Operation Object `security`: "To remove a top-level security declaration, an empty array
 * can be used").
 */
export const NO_API_KEY_SECURITY: readonly { [scheme: string]: readonly string[] }[] = [];

/** How /openapi.json describes a route whose schemas are documentation only (see `documentedOnly`). */
export interface DocumentedRoute {
  tags: readonly string[];
  summary: string;
  description: string;
  security: readonly { [scheme: string]: readonly string[] }[];
  /** The media types of the request body. */
  consumes?: readonly string[];
  params?: z.ZodType;
  headers?: z.ZodType;
  body?: z.ZodType;
  response: Record<number, z.ZodType>;
}

/**
 * Route options that describe a route in /openapi.json, with zod schemas, without Fastify ever
 * compiling them: the route keeps no `schema`, so nothing validates its input or serializes its
 * answers differently. For routes that read their raw body themselves (a signature covers its
 * exact bytes) and answer on their own. @fastify/swagger takes a route's `config.swaggerTransform`
 * instead of the document's transform (https://github.com/fastify/fastify-swagger#transform);
 * this one documents the schemas given here, transformed as every other route is.
 */
export function documentedOnly(documentation: DocumentedRoute): { config: { swaggerTransform: SwaggerTransform } } {
  const schema: FastifySchema = { ...documentation };
  return { config: { swaggerTransform: (input) => openApiTransform({ ...input, schema }) } };
}

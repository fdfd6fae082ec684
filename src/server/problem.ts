import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ErrorCode, FieldIssue } from '../core/errors.js';
import { ConsentryError, describeIssues, isConsentryError, withUnnamedFields } from '../core/errors.js';
import { inPathOrder } from '../core/field-order.js';
import { zodIssuesToFieldIssues } from '../core/ledger.js';
import { FIELD_PARSE, REQUEST_BODY_PARSE } from '../core/required.js';
import { TransactionRolledBackError } from '../ports/store.js';
import { FieldIssueJsonSchema } from './schemas.js';
import { jsonSyntaxError } from '../core/json-syntax.js';

/**
 * RFC 9457 problem details (https://www.rfc-editor.org/rfc/rfc9457), with two extension
 * members: `code`, the stable machine-readable code, and `errors`, one entry per bad field.
 */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  errors: FieldIssue[];
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
/** The router refuses longer path segments (414) before any route's schema sees them. */
export const MAX_PATH_PARAMETER_LENGTH = 500;
const PROBLEM_TYPE_BASE = 'https://consentry.dev/problems/';

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string(),
    errors: z.array(FieldIssueJsonSchema).describe('One entry per bad field, in path order: the items of a list by index, a field before the fields inside it'),
  })
  .describe('RFC 9457 problem details');

/** HTTP status of each ConsentryError code (the API contract's table). */
const STATUS_OF_CODE: Record<ErrorCode, number> = {
  VALIDATION_FAILED: 422,
  LEGAL_BASIS_REQUIRED: 422,
  EXPLANATION_REQUIRED: 422,
  INVALID_EMAIL: 422,
  INVALID_PHONE: 422,
  INVALID_WORKFLOW: 422,
  KEYWORD_NOT_REMOVABLE: 422,
  TAG_NEEDS_CONSENT: 422,
  // A template named in a request body (settings triggers) is a bad field; a route that takes
  // the template from its path answers 404 itself (see routes/workflows.ts).
  UNKNOWN_TEMPLATE: 422,
  NOT_FOUND: 404,
  CONFLICT: 409,
  CONTACT_ERASED: 410,
  CONTACT_UNREACHABLE: 422,
  PAYLOAD_TOO_LARGE: 413,
  TOO_MANY_REQUESTS: 429,
  UNAUTHORIZED: 401,
  // The stored chain does not verify: the server's data is at fault, not the request.
  LEDGER_TAMPERED: 500,
  STORE_CORRUPT: 500,
  // Transient: another process holds the write lock; the request changed nothing and can be sent again.
  STORE_BUSY: 503,
  // Transient too: the disk is full; the transaction was rolled back, and it can be sent again once there is room.
  STORE_FULL: 503,
};

const TITLES: Record<number, string> = {
  400: 'Bad request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not found',
  405: 'Method not allowed',
  406: 'Not acceptable',
  409: 'Conflict',
  410: 'Gone',
  413: 'Payload too large',
  414: 'URI too long',
  415: 'Unsupported media type',
  422: 'Unprocessable content',
  429: 'Too many requests',
  500: 'Internal server error',
  503: 'Service unavailable',
};

/**
 * The statuses whose `detail` is built from `errors`: a refusal of something the request names, a
 * field or a path parameter (a contact or template that is not there, an address another contact
 * has, a deleted hook, too many rows). `detail` explains this occurrence of the problem (RFC 9457
 * §3.1.4, https://www.rfc-editor.org/rfc/rfc9457#section-3.1.4), and a client that shows only
 * `detail` then reads every field `errors` names. A 400 keeps its sentence: it refuses the body as
 * a whole (not JSON, not a HubSpot request), which its `errors` locate.
 */
const DETAIL_LISTS_ERRORS: ReadonlySet<number> = new Set([404, 409, 410, 413, 422, 429]);

/**
 * Problem details whose `errors` are in path order (inPathOrder), whatever order the checks that
 * found them ran in; a `detail` that lists the same errors (describeIssues, after any words of
 * its own such as `Invalid settings: `) lists them in that order too.
 */
export function problem(status: number, code: string, detail: string, errors: readonly FieldIssue[] = []): Problem {
  const ordered = inPathOrder(errors);
  const listed = describeIssues(errors);
  // A refusal of the request's fields or parameters says in `detail` what `errors` names,
  // `path: message` each, in their order: a sentence of its own (the engine's for its first
  // issue) would leave the others out, or the field.
  const relisted =
    listed !== '' && detail.endsWith(listed)
      ? `${detail.slice(0, detail.length - listed.length)}${describeIssues(ordered)}`
      : DETAIL_LISTS_ERRORS.has(status) && ordered.length > 0
        ? describeIssues(ordered)
        : detail;
  return {
    type: `${PROBLEM_TYPE_BASE}${code.toLowerCase().replaceAll('_', '-')}`,
    title: TITLES[status] ?? (status >= 500 ? 'Server error' : 'Client error'),
    status,
    detail: relisted,
    code,
    errors: ordered,
  };
}

/**
 * Runs `work`, naming a refused engine field after the request field it came from (the engine's
 * `afterId` is the API's `cursor`), so the problem points at what the client sent.
 */
export async function asRequestField<T>(work: () => Promise<T>, engineField: string, requestField: string): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw (isConsentryError(error) && renamedField(error, engineField, requestField)) || error;
  }
}

/** `error` with its issues on `engineField` named `requestField`; undefined when it names no such field. */
function renamedField(error: ConsentryError, engineField: string, requestField: string): ConsentryError | undefined {
  if (!error.issues.some((issue) => issue.path === engineField)) return undefined;
  const issues = error.issues.map((issue) => (issue.path === engineField ? { ...issue, path: requestField } : issue));
  // A message that lists the fields by path (describeIssues, after any words of its own) is written again with the request's names.
  const listed = describeIssues(error.issues);
  const message = error.message.endsWith(listed)
    ? `${error.message.slice(0, error.message.length - listed.length)}${describeIssues(issues)}`
    : issues.length > 1
      ? describeIssues(issues)
      : error.message;
  return new ConsentryError(error.code, message, issues);
}

/**
 * The routes under /v1/contacts/{id} take the contact's id as the path parameter `id`, which the
 * engine knows as `contactId`: a contact that is missing or erased is named as the client named it.
 */
function inRouteTerms(error: ConsentryError, request: FastifyRequest): ConsentryError {
  const onContactPath = request.routeOptions.url?.startsWith('/v1/contacts/:id') === true;
  if (!onContactPath || (error.code !== 'NOT_FOUND' && error.code !== 'CONTACT_ERASED')) return error;
  return renamedField(error, 'contactId', 'id') ?? error;
}

/**
 * Refuses a request its route's schemas refused (`validationError`, null when they accepted it)
 * together with `more`, what the engine would refuse in it once parsed, so that one answer names
 * every bad field; the schema's entry for a field comes first and `more` adds only fields it does
 * not name. A schema refusal that is not a 422 (a malformed body) is thrown as it is.
 */
export function refuseNamingEveryField(request: FastifyRequest, validationError: Error | null, more: readonly FieldIssue[]): never {
  let schemaIssues: FieldIssue[] = [];
  if (validationError !== null) {
    const refused = toProblem(validationError, request);
    if (refused.status !== 422) throw validationError;
    schemaIssues = refused.errors;
  }
  const issues = withUnnamedFields(schemaIssues, more);
  throw new ConsentryError('VALIDATION_FAILED', describeIssues(issues), issues);
}

export function statusOfCode(code: ErrorCode): number {
  return STATUS_OF_CODE[code];
}

export function sendProblem(reply: FastifyReply, body: Problem): FastifyReply {
  if (body.status === 401) reply.header('www-authenticate', 'Bearer realm="consentry"');
  // The lock is another process's (an import, a backup): a client may try again shortly (RFC 9110 §10.2.3).
  if (body.code === 'STORE_BUSY') reply.header('retry-after', '1');
  // Room on a full disk comes back when a person frees it: a client waits longer between tries.
  if (body.code === 'STORE_FULL') reply.header('retry-after', '30');
  // The workspace's other bulk request is being recorded; a batch of rows takes seconds at most.
  if (body.code === 'TOO_MANY_REQUESTS') reply.header('retry-after', '1');
  return reply.code(body.status).type(PROBLEM_CONTENT_TYPE).send(body);
}

/**
 * A field's path in the request part it belongs to. Body, query and path fields go by their own
 * names, as the contract has always named them; a header is named `headers.<name>`, as a header
 * and a field can share a name.
 */
function partPath(part: string, path: string): string {
  if (path === '') return part;
  return part === 'headers' ? `headers.${path}` : path;
}

/** `/rows/3/legalBasis` → `rows.3.legalBasis`; the request part itself when the whole part is wrong. */
function fieldPath(instancePath: string, context: string): string {
  return partPath(context, instancePath.split('/').filter((segment) => segment.length > 0).join('.'));
}

/**
 * Fastify validates a request's parts one after the other and stops at the first that fails
 * (params, then body, then querystring, then headers). The other parts are checked here against
 * the route's own schemas, so one answer names every bad field of the request.
 */
function otherPartsIssues(request: FastifyRequest, failedPart: string | undefined): FieldIssue[] {
  const schema = request.routeOptions.schema;
  if (!schema) return [];
  const parts: [string, unknown, unknown][] = [
    ['params', schema.params, request.params],
    ['body', schema.body, request.body],
    ['querystring', schema.querystring, request.query],
    ['headers', schema.headers, request.headers],
  ];
  return parts.flatMap(([part, partSchema, value]): FieldIssue[] => {
    if (part === failedPart || !(partSchema instanceof z.ZodType)) return [];
    const parsed = partSchema.safeParse(value, parseOptionsOf(part));
    return parsed.success ? [] : zodIssuesToFieldIssues(parsed.error).map((issue) => ({ path: partPath(part, issue.path), message: issue.message }));
  });
}

/** How a request part is parsed: an absent field `is required`, and so is a body that was not sent (core/required.ts). */
function parseOptionsOf(part: string | undefined): z.core.ParseContext<z.core.$ZodIssue> {
  return part === 'body' ? REQUEST_BODY_PARSE : FIELD_PARSE;
}

/**
 * Validates each part of a request with its route's zod schema, as fastify-type-provider-zod's
 * validatorCompiler does, parsing with parseOptionsOf so that an absent field reads `is required`
 * rather than as a value of the wrong type. Each issue is reported in the form Fastify gives a
 * schema's errors (https://fastify.dev/docs/latest/Reference/Validation-and-Serialization/#validatorcompiler),
 * which fastifyProblem reads.
 */
export const requestValidatorCompiler: FastifySchemaCompiler<z.ZodType> =
  ({ schema, httpPart }) =>
  (data: unknown) => {
    const parsed = schema.safeParse(data, parseOptionsOf(httpPart));
    if (parsed.success) return { value: parsed.data };
    const error = parsed.error.issues.map(({ path, code, message, ...params }): FastifySchemaValidationError => {
      const segments = path.map(String).join('/');
      return { keyword: code, instancePath: `/${segments}`, schemaPath: `#/${segments}/${code}`, message, params };
    });
    return { error };
  };

/** Where a request's body stops being JSON, noted by the body parser, which alone has the text. */
const malformedBodies = new WeakMap<FastifyRequest, string>();

/** Notes where `text`, the body of `request` that JSON.parse refused with `error`, stops being JSON (a line and column). */
export function noteMalformedBody(request: FastifyRequest, text: string, error: unknown): void {
  malformedBodies.set(request, `is not valid JSON: ${jsonSyntaxError(text, error)}`);
}

/** Fastify's own errors (parsing, limits, routing), by their stable codes. */
function fastifyProblem(error: FastifyError, request: FastifyRequest): Problem | null {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return problem(400, 'MALFORMED_JSON', 'The request body is not valid JSON', [{ path: 'body', message: malformedBodies.get(request) ?? error.message }]);
    case 'FST_ERR_CTP_BODY_TOO_LARGE': {
      // The route's own limit (Fastify's 1 MiB unless the route sets bodyLimit), so a client can split what it sends.
      const issues = [{ path: 'body', message: `is larger than ${request.routeOptions.bodyLimit.toLocaleString('en-US')} bytes` }];
      return problem(413, 'PAYLOAD_TOO_LARGE', describeIssues(issues), issues);
    }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return problem(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return problem(400, 'BAD_REQUEST', 'Content-Length does not match the body');
    case 'FST_ERR_BAD_URL':
      return problem(400, 'BAD_REQUEST', 'The URL is malformed: a path segment does not percent-decode');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return problem(414, 'URI_TOO_LONG', `A path segment is longer than ${MAX_PATH_PARAMETER_LENGTH} characters`);
    default:
      break;
  }
  if (error.code === 'FST_ERR_VALIDATION' || error.validation) {
    const context = error.validationContext ?? 'request';
    const issues = (error.validation ?? []).flatMap((issue): FieldIssue[] => {
      const unknownKeys: unknown = issue.keyword === 'unrecognized_keys' ? issue.params['keys'] : undefined;
      if (Array.isArray(unknownKeys)) {
        // zod reports unknown keys on the enclosing object; name each key as the bad field.
        return unknownKeys.map((key) => ({ path: fieldPath(`${issue.instancePath}/${String(key)}`, context), message: 'is not a known field' }));
      }
      return [{ path: fieldPath(issue.instancePath, context), message: issue.message ?? 'is invalid' }];
    });
    issues.push(...otherPartsIssues(request, error.validationContext));
    return problem(422, 'VALIDATION_FAILED', describeIssues(issues) || error.message, issues);
  }
  return null;
}

function isFastifyError(error: unknown): error is FastifyError {
  return error instanceof Error && typeof Reflect.get(error, 'code') === 'string';
}

/** What a client is told when the store cannot take writes now: nothing changed, and when to send again (Retry-After). */
const STORE_REFUSALS = {
  STORE_BUSY: 'Another process held the database write lock for longer than the server waits for it; nothing changed: try again',
  STORE_FULL: 'The disk is full, so the database cannot grow; nothing was changed: try again later',
} as const;

/** Maps every failure of a request to problem+json; unexpected ones are logged with their stack. */
export function toProblem(error: unknown, request: FastifyRequest): Problem {
  if (isConsentryError(error)) {
    const refused = inRouteTerms(error, request);
    const status = statusOfCode(refused.code);
    // A busy or full store refuses every request alike until it recovers: one short line each,
    // not a stack trace each, which would fill the very disk that is full.
    if (refused.code === 'STORE_BUSY' || refused.code === 'STORE_FULL') {
      request.log.warn({ code: refused.code, detail: refused.message }, 'request refused: the store cannot take writes now');
      // The store's own message names the database file, for the operator (the log, the CLI);
      // a client is told what happened and what to do, not where the server keeps its data.
      return refused.code === 'STORE_BUSY' ? problem(503, 'STORE_BUSY', STORE_REFUSALS.STORE_BUSY) : problem(503, 'STORE_FULL', STORE_REFUSALS.STORE_FULL);
    }
    if (status >= 500) request.log.error({ err: refused }, 'request failed');
    return problem(status, refused.code, refused.message, refused.issues);
  }
  if (error instanceof TransactionRolledBackError) {
    // Another transaction of its commit group failed and the database rolled the group back:
    // nothing of this request was written, and the same request may succeed at once.
    request.log.warn({ err: error }, 'request refused: its commit group was rolled back');
    return problem(503, 'STORE_BUSY', 'The database rolled this request back for another write that failed beside it; nothing changed: try again');
  }
  if (hasZodFastifySchemaValidationErrors(error) || isFastifyError(error)) {
    const mapped = fastifyProblem(error, request);
    if (mapped) return mapped;
  }
  if (error instanceof Error && isResponseSerializationError(error)) {
    request.log.error({ err: error, issues: error.cause.issues }, 'response does not match its schema');
    return problem(500, 'INTERNAL', 'The server could not produce its answer');
  }
  const statusCode = error instanceof Error ? Reflect.get(error, 'statusCode') : undefined;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    // A path the API docs' static file server refuses to read (@fastify/static's 403
    // FST_STATIC_FORBIDDEN_PATH, a NUL byte in it) names no file: it is answered as one that is missing.
    if (statusCode === 403 || statusCode === 404) return noRoute(request);
    const code = isFastifyError(error) ? error.code.replace(/^FST_ERR_/, '') : 'BAD_REQUEST';
    return problem(statusCode, code, error instanceof Error ? error.message : 'Bad request');
  }
  request.log.error({ err: error }, 'request failed');
  return problem(500, 'INTERNAL', 'An unexpected error occurred');
}

function pathOf(request: FastifyRequest): string {
  return request.url.split('?')[0] ?? '';
}

/** The answer for a path that names nothing. */
function noRoute(request: FastifyRequest): Problem {
  return problem(404, 'NOT_FOUND', `No route ${request.method} ${pathOf(request)}`);
}

/** Every method a route can be declared with; Fastify adds HEAD to each GET route itself. */
const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** The methods some route answers at `path`, in the router's own reading of it (percent-decoding, parameters). */
function methodsAt(app: FastifyInstance, path: string): string[] {
  return HTTP_METHODS.filter((method) => app.findRoute({ method, url: path }) !== null);
}

/**
 * The router answers a known path asked with a method it has no route for as it answers an
 * unknown path. That is 405 with the path's methods in `Allow` (RFC 9110 §15.5.6), so a client
 * can tell a wrong method from a wrong URL; an unknown path stays 404, and so does a path whose
 * route takes the method but found nothing there (the API docs' static files: a missing file).
 */
function routeNotFound(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = pathOf(request);
  const allowed = methodsAt(app, path);
  if (allowed.length === 0 || allowed.includes(request.method)) return sendProblem(reply, noRoute(request));
  reply.header('allow', allowed.join(', '));
  return sendProblem(reply, problem(405, 'METHOD_NOT_ALLOWED', `${path} does not take ${request.method}; it takes ${allowed.join(', ')}`));
}

export function installProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => sendProblem(reply, toProblem(error, request)));
  app.setNotFoundHandler((request, reply) => routeNotFound(app, request, reply));
}

import type { Bundle, HttpRequestOptions, HttpResponse, ZObject } from 'zapier-platform-core';
import { z as zod } from 'zod';
import { AuthDataSchema } from './auth-data.js';
import { DEFAULT_RETRY_DELAY_SECONDS, fieldMessage, type Problem, problemWords, readProblem, throwForProblem, zapierReplays } from './middleware.js';
import { requestTime, secondsText, ZAPIER_STEP_LIMIT_MS } from './step-deadline.js';

export { AuthDataSchema, ServerUrlSchema } from './auth-data.js';

/** `path: message; path: message` for a failed zod parse (fieldMessage). */
export function describeIssues(error: zod.ZodError): string {
  return error.issues
    .map((issue) => fieldMessage(issue.path.map(String).join('.'), issue.message))
    .join('; ');
}

export function serverUrlOf(z: ZObject, bundle: Bundle): string {
  const parsed = AuthDataSchema.safeParse(bundle.authData);
  if (!parsed.success) {
    throw new z.errors.Error(`The Consentry connection is incomplete: ${describeIssues(parsed.error)}`, 'INVALID_CONNECTION', 400);
  }
  return parsed.data.serverUrl;
}

/** `/v1/contacts/{id}/tags/{tag}` with every dynamic segment percent-encoded. */
export function apiPath(...segments: string[]): string {
  return `/${segments.map((segment) => encodeURIComponent(segment)).join('/')}`;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface ApiCall<S extends zod.ZodType> {
  method?: Method;
  path: string;
  params?: Record<string, string | number | undefined>;
  body?: Record<string, unknown>;
  /** The fields this app reads from the answer (DESIGN: parse every response you read fields from). */
  schema: S;
  /**
   * Set for a write the server would apply again if it were sent again (no idempotency key, no
   * message id of the source tool), or whose answer a replay cannot get back: `remedy` tells the
   * user what to do before replaying, and `consequence`, when given, what may have happened (the
   * words after "so", in place of "the change may or may not have been applied ...").
   */
  notIdempotent?: { remedy: string; consequence?: string };
  /**
   * Set by an operation Zapier never replays after a ThrottledError, whatever its bundle says: the
   * connection test, turning a Zap on (performSubscribe) and the dropdown lists. Its failures then
   * promise no retry (see `zapierReplays` for the bundles that say so themselves).
   */
  neverReplayed?: boolean;
  /**
   * Run before the call's error is thrown when the request may have been applied without its
   * answer reaching the app (see `answerTo` and `send`), for a caller that remembers such an attempt
   * to tell its replay apart (unclear-attempts.ts). It must not throw.
   */
  onUnclearOutcome?: () => Promise<void>;
}

/** Whether Zapier replays this call's operation after a ThrottledError. */
function replayed(bundle: Bundle, call: ApiCall<zod.ZodType>): boolean {
  return call.neverReplayed !== true && zapierReplays(bundle);
}

/**
 * The longest one request may wait for its answer. Zapier stops an action, a search or a trigger's
 * perform after 30 s in all ("Important Zapier constraints summary",
 * https://docs.zapier.com/platform/build/operating-constraints); giving up before that lets the step
 * say what happened instead of ending with Zapier's own time-out. The requests of one step share
 * that limit too: a later one gets only what the step has left (step-deadline.ts).
 */
export const REQUEST_TIMEOUT_MS = 20_000;

function requestOptions(z: ZObject, bundle: Bundle, call: ApiCall<zod.ZodType>, timeoutMs: number) {
  const params: Record<string, string> = {};
  for (const [key, value] of Object.entries(call.params ?? {})) {
    if (value !== undefined) params[key] = String(value);
  }
  return {
    url: `${serverUrlOf(z, bundle)}${call.path}`,
    method: call.method ?? 'GET',
    params,
    headers: { Accept: 'application/json' },
    timeout: timeoutMs,
    ...(call.body !== undefined ? { body: call.body } : {}),
  };
}

function parseAnswer<S extends zod.ZodType>(z: ZObject, call: ApiCall<S>, response: HttpResponse): zod.output<S> {
  const parsed = call.schema.safeParse(response.data);
  if (!parsed.success) {
    throw new z.errors.Error(
      `Consentry answered ${call.method ?? 'GET'} ${call.path} with an unexpected body (${describeIssues(parsed.error)}). Is the Server URL a Consentry server, and is that server up to date?`,
      'UNEXPECTED_RESPONSE',
      response.status,
    );
  }
  return parsed.data;
}

/** Why a request got no HTTP answer, and whether the server may have received it. */
export interface NetworkFailure {
  reason: string;
  /** False when no byte of the request reached the server (no connection was made). */
  maybeReceived: boolean;
}

const FetchFailureSchema = zod.object({
  name: zod.literal('FetchError'),
  type: zod.string().optional(),
  code: zod.string().optional(),
});

const NOT_CONNECTED: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'nothing answered at that address (connection refused)',
  ENOTFOUND: 'its host name was not found (DNS)',
  EAI_AGAIN: 'its host name could not be looked up (DNS)',
  EHOSTUNREACH: 'the network could not reach it',
  ENETUNREACH: 'the network could not reach it',
};

/** TLS refusals happen in the handshake, before the request is sent. */
const TLS_CODE = /^(CERT_|ERR_TLS_|ERR_SSL_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_)/;

/** Why a request that waited `timeoutMs` got no answer. */
function noAnswerWithin(timeoutMs: number): string {
  return `it did not answer within ${secondsText(timeoutMs)} s`;
}

/**
 * A failure of `z.request` that is not an HTTP answer: core's fetch rejects with a `FetchError` whose
 * `type` is `system` (with Node's error `code`) or `request-timeout`. Null for anything else.
 * `timedOut` says why a request that ran out of its time got no answer.
 */
export function networkFailure(error: unknown, timedOut = noAnswerWithin(REQUEST_TIMEOUT_MS)): NetworkFailure | null {
  const failure = FetchFailureSchema.safeParse(error);
  if (!failure.success) return null;
  const { type, code } = failure.data;
  if (type === 'request-timeout' || type === 'body-timeout') return { reason: timedOut, maybeReceived: true };
  if (code !== undefined) {
    const notConnected = NOT_CONNECTED[code];
    if (notConnected !== undefined) return { reason: notConnected, maybeReceived: false };
    if (TLS_CODE.test(code)) return { reason: `its HTTPS certificate was refused (${code})`, maybeReceived: false };
    return { reason: `the connection failed before it answered (${code})`, maybeReceived: true };
  }
  return { reason: 'the connection failed before it answered', maybeReceived: true };
}

/** Only scheme, host and port: a request's path and query may name a contact (`?email=`). */
function originOf(z: ZObject, bundle: Bundle): string {
  return new URL(serverUrlOf(z, bundle)).origin;
}

/**
 * What the user sees when a write that is not idempotent may have been applied without the app
 * knowing. Zapier replays a step after a ThrottledError, and nothing Zapier hands an app is stable
 * across those replays to derive an idempotency key from (`bundle.meta`,
 * https://github.com/zapier/zapier-platform/blob/main/packages/cli/README.md#bundlemeta), so the
 * replay would record the decision a second time. A plain error stops instead and says so.
 */
function outcomeUnknown(z: ZObject, what: string, write: NonNullable<ApiCall<zod.ZodType>['notIdempotent']>, status: number): Error {
  return new z.errors.Error(`${what}, so ${write.consequence ?? APPLIED_TWICE} ${write.remedy}`, 'OUTCOME_UNKNOWN', status);
}

const APPLIED_TWICE =
  'the change may or may not have been applied. Zapier does not retry this step on its own, because a repeat could apply it twice: check Consentry before you replay the run.';

/**
 * A server that cannot be reached is an outage like a 503 and is retried the same way
 * (https://docs.zapier.com/platform/manage/api-outage), except when a write that is not idempotent
 * may have reached it.
 */
function unreachable(z: ZObject, bundle: Bundle, call: ApiCall<zod.ZodType>, failure: NetworkFailure): Error {
  const where = `Zapier got no answer from your Consentry server at ${originOf(z, bundle)}: ${failure.reason}`;
  if (failure.maybeReceived && call.notIdempotent) {
    return outcomeUnknown(z, `${where}, after the request was sent`, call.notIdempotent, 504);
  }
  const explanation = `${where}. Check the Server URL of the connection and that the server is reachable from the internet.`;
  if (!replayed(bundle, call)) return new z.errors.Error(explanation, 'SERVER_UNREACHABLE', 502);
  return new z.errors.ThrottledError(`${explanation} Zapier will retry in ${DEFAULT_RETRY_DELAY_SECONDS} s.`, DEFAULT_RETRY_DELAY_SECONDS);
}

/**
 * A request the step has no time left for is not sent: Zapier would end the step before its answer
 * came, without the app's own error (step-deadline.ts). Nothing of it reached the server, so it is
 * retried like a server that cannot be reached, where Zapier replays the step.
 */
function outOfStepTime(z: ZObject, bundle: Bundle, call: ApiCall<zod.ZodType>, step: string | null, elapsedMs: number): Error {
  const explanation =
    `${step ?? 'This step'} ran out of time before its next request to your Consentry server at ${originOf(z, bundle)}, so that request was not sent: ` +
    `the step had run ${secondsText(elapsedMs)} s of the ${secondsText(ZAPIER_STEP_LIMIT_MS)} s Zapier gives it, too little was left to wait for another answer. ` +
    'Check that the server answers promptly.';
  if (!replayed(bundle, call)) return new z.errors.Error(explanation, 'STEP_TIME_LIMIT', 504);
  return new z.errors.ThrottledError(`${explanation} Zapier will retry in ${DEFAULT_RETRY_DELAY_SECONDS} s.`, DEFAULT_RETRY_DELAY_SECONDS);
}

/** The options core passes on to node-fetch beyond those its typings list: `signal` (zapier-platform-core's request-client.js). */
type FetchOptions = HttpRequestOptions & { url: string; signal: AbortSignal };

/**
 * Sends the call within the time its step has left (step-deadline.ts); a failed answer is returned,
 * for `answerTo` to map (it knows the call, the middleware does not). node-fetch's `timeout` counts
 * from the socket, and again from the headers for the body, so a request could take twice as long:
 * the signal holds the whole request to its time, and `timeout` stays as a second bound.
 */
async function send(z: ZObject, bundle: Bundle, call: ApiCall<zod.ZodType>): Promise<HttpResponse> {
  const time = requestTime(bundle, REQUEST_TIMEOUT_MS);
  if (!time.send) throw outOfStepTime(z, bundle, call, time.step, time.elapsedMs);
  const timedOut = time.cutByStep
    ? `${noAnswerWithin(time.timeoutMs)}, all the time ${time.step ?? 'this step'} had left of the ${secondsText(ZAPIER_STEP_LIMIT_MS)} s Zapier gives a step`
    : noAnswerWithin(time.timeoutMs);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), time.timeoutMs);
  const options: FetchOptions = { ...requestOptions(z, bundle, call, time.timeoutMs), signal: controller.signal, skipThrowForStatus: true };
  try {
    return await z.request(options);
  } catch (error) {
    const failure = controller.signal.aborted ? { reason: timedOut, maybeReceived: true } : networkFailure(error, timedOut);
    if (failure === null) throw error;
    if (failure.maybeReceived) await call.onUnclearOutcome?.();
    throw unreachable(z, bundle, call, failure);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The problem codes with which the server says that a request changed nothing and may be sent
 * again after its Retry-After (the server's error table and OpenAPI 503: `STORE_BUSY`, another
 * process held the write lock too long or the commit group the request shared was rolled back;
 * `STORE_FULL`, the write was rolled back on a full disk).
 */
const NOTHING_CHANGED_CODES: ReadonlySet<string> = new Set(['STORE_BUSY', 'STORE_FULL']);

/** A 5xx after which the request may have been applied: any but a 503 whose problem says nothing changed. */
function mayHaveApplied(response: HttpResponse): boolean {
  if (response.status < 500) return false;
  const { code } = readProblem(response);
  return response.status !== 503 || code === undefined || !NOTHING_CHANGED_CODES.has(code);
}

/**
 * The server's answer to a call. Failed answers are mapped as the afterResponse middleware maps
 * them (throwForProblem), except the `expected` statuses (returned as they are) and a 5xx to a
 * write that is not idempotent: the server may have applied it before failing. A 503 whose problem
 * says nothing changed (STORE_BUSY, STORE_FULL) is mapped as usual for every call, a
 * ThrottledError with the server's Retry-After: Zapier replays the step, as the server asks.
 */
async function answerTo(z: ZObject, bundle: Bundle, call: ApiCall<zod.ZodType>, expected: readonly number[]): Promise<HttpResponse> {
  const response = await send(z, bundle, call);
  if (expected.includes(response.status)) return response;
  if (mayHaveApplied(response)) {
    await call.onUnclearOutcome?.();
    if (call.notIdempotent) {
      const words = problemWords(readProblem(response));
      const what = `Consentry had a server error (${response.status}${words === null ? '' : `: ${words}`}) while applying this step`;
      throw outcomeUnknown(z, what, call.notIdempotent, response.status);
    }
  }
  if (response.status >= 400) throwForFailure(z, bundle, call, response);
  return response;
}

/** Throws the error a failed answer maps to (throwForProblem), with no retry promised where Zapier does not replay. */
export function throwForFailure(z: ZObject, bundle: Bundle, call: ApiCall<zod.ZodType>, response: HttpResponse): never {
  return throwForProblem(response, z, replayed(bundle, call));
}

/** One call to the Consentry HTTP API; a failed answer is thrown as the error it maps to (throwForProblem). */
export async function callApi<S extends zod.ZodType>(z: ZObject, bundle: Bundle, call: ApiCall<S>): Promise<zod.output<S>> {
  return parseAnswer(z, call, await answerTo(z, bundle, call, []));
}

/** A failed answer a caller asked to judge itself: the server's problem, and the response to hand to `throwForFailure` otherwise. */
export interface FailedAnswer {
  status: number;
  problem: Problem;
  response: HttpResponse;
}

/**
 * Like `callApi`, but an answer with one of the `expected` failure statuses is handed back with the
 * server's problem instead of thrown, for a caller that can tell some of them apart (a 409 for an
 * email its own earlier attempt stored).
 */
export async function callApiOrFailure<S extends zod.ZodType>(
  z: ZObject,
  bundle: Bundle,
  call: ApiCall<S>,
  expected: readonly number[],
): Promise<{ ok: true; data: zod.output<S> } | { ok: false; failure: FailedAnswer }> {
  const response = await answerTo(z, bundle, call, expected);
  if (expected.includes(response.status)) return { ok: false, failure: { status: response.status, problem: readProblem(response), response } };
  return { ok: true, data: parseAnswer(z, call, response) };
}

/**
 * Like `callApi`, but the `absent` statuses (a 404 unless told) are an answer, `null`, not a
 * failure: searches report "nothing found", and a trigger item a contact that is gone.
 */
export async function callApiOrNull<S extends zod.ZodType>(
  z: ZObject,
  bundle: Bundle,
  call: ApiCall<S>,
  absent: readonly number[] = [404],
): Promise<zod.output<S> | null> {
  const response = await answerTo(z, bundle, call, absent);
  return absent.includes(response.status) ? null : parseAnswer(z, call, response);
}

// Response shapes of the Consentry HTTP API v1, limited to the fields this app reads.

const nullableText = zod.string().nullable().optional().transform((value) => value ?? null);

const CoreErrorJsonSchema = zod.object({ message: zod.string(), code: zod.string().nullish(), status: zod.number().nullish() });

interface CoreErrorParts {
  message: string;
  code: string | null;
  status: number | null;
}

/**
 * What one of core's errors that carry JSON in their message says: AppError (`z.errors.Error`:
 * message, code, status) and ThrottledError (message, delay), zapier-platform-core src/errors.js.
 * Null for any other error.
 */
function coreErrorParts(error: unknown): CoreErrorParts | null {
  if (!(error instanceof Error)) return null;
  let json: unknown;
  try {
    json = JSON.parse(error.message);
  } catch {
    return null;
  }
  const parsed = CoreErrorJsonSchema.safeParse(json);
  if (!parsed.success) return null;
  return { message: parsed.data.message, code: parsed.data.code ?? null, status: parsed.data.status ?? null };
}

/** The server's words, code and status in the AppError `callApi` threw for a refused request; null for any other error. */
export function refusalOf(error: unknown): CoreErrorParts | null {
  return error instanceof Error && error.name === 'AppError' ? coreErrorParts(error) : null;
}

/** An error's words for a log line: those a core error carries in its JSON, else its message. */
export function errorWords(error: unknown): string {
  return coreErrorParts(error)?.message ?? (error instanceof Error ? error.message : String(error));
}

export const MeSchema = zod.object({ id: zod.string().min(1), name: zod.string() });

export const ContactSchema = zod.object({
  id: zod.string().min(1),
  name: nullableText,
  email: nullableText,
  phone: nullableText,
  tags: zod.array(zod.string()).default([]),
  fields: zod.record(zod.string(), zod.unknown()).default({}),
  createdAt: zod.string(),
  updatedAt: nullableText,
  /**
   * When the contact was erased (GDPR Art. 17), else null. `GET /v1/contacts/{id}` answers an erased
   * contact 200 with its name, email and phone null; only writes to it are refused (410).
   */
  erasedAt: nullableText,
});
export type ContactJson = zod.infer<typeof ContactSchema>;

export const ContactListSchema = zod.object({ data: zod.array(ContactSchema), nextCursor: nullableText });

/** A newer decision on channel `any` (a STOP ALL) that governs a row's channel instead of the row. */
export const OverridingDecisionSchema = zod.object({
  recordId: zod.string(),
  channel: zod.literal('any'),
  status: zod.string(),
  occurredAt: zod.string(),
});

/**
 * A row of `GET /v1/contacts/{id}/consents`: `status` as recorded for the row's purpose and channel,
 * `effectiveStatus` the one in force there (what the permission check reads), which a newer
 * all-channel decision named in `overriddenBy` may set. Both are required: a status read without
 * them could show a channel as opted in after a STOP ALL.
 */
export const ConsentStateSchema = zod.object({
  purpose: zod.string(),
  channel: zod.string(),
  status: zod.string(),
  effectiveStatus: zod.enum(['opted_in', 'opted_out']),
  overriddenBy: OverridingDecisionSchema.nullable(),
  legalBasis: nullableText,
  explanation: nullableText,
  source: zod.string(),
  occurredAt: zod.string(),
  recordId: zod.string(),
});
export type ConsentStateJson = zod.infer<typeof ConsentStateSchema>;

export const ConsentListSchema = zod.object({ contactId: zod.string(), data: zod.array(ConsentStateSchema) });

export const ConsentRecordSchema = zod.object({
  id: zod.string().min(1),
  contactId: zod.string(),
  purpose: zod.string(),
  channel: zod.string(),
  status: zod.string(),
  legalBasis: nullableText,
  explanation: nullableText,
  source: zod.string(),
  occurredAt: zod.string(),
});

export const SetConsentAnswerSchema = zod.object({ record: ConsentRecordSchema, created: zod.boolean() });

export const PermissionSchema = zod.object({
  allowed: zod.boolean(),
  reason: zod.string(),
  status: zod.string(),
  since: nullableText,
});

const ReplySchema = zod.object({
  text: zod.string(),
  options: zod.array(zod.object({ label: zod.string(), buttonId: zod.string().optional() })).optional(),
});
export type ReplyJson = zod.infer<typeof ReplySchema>;

const EventRefSchema = zod.object({ id: zod.string(), type: zod.string() });

/** What of a request the server left out, by field (`from.phone`, `messageId` ...). */
const FieldWarningSchema = zod.object({ path: zod.string(), message: zod.string() });
export type FieldWarningJson = zod.infer<typeof FieldWarningSchema>;

export const InboundAnswerSchema = zod.object({
  contactId: zod.string().min(1),
  conversationId: nullableText,
  replies: zod.array(ReplySchema),
  events: zod.array(EventRefSchema).default([]),
  warnings: zod.array(FieldWarningSchema).default([]),
});

/**
 * `outcome` is null while the run waits for an answer, else how it ended at its start ("skipped":
 * nothing was asked, request-consent-privacy for a contact who already agreed); the server's
 * RUN_OUTCOMES, read as any string so that one added later still parses. A server from before the
 * member leaves it out: undefined, unlike null, says nothing.
 */
export const WorkflowRunAnswerSchema = zod.object({
  runId: zod.string().min(1),
  conversationId: nullableText,
  outcome: zod.string().nullable().optional(),
  replies: zod.array(ReplySchema).default([]),
  events: zod.array(EventRefSchema).default([]),
});

/**
 * `GET /v1/workflows/{template}/runs/{runId}`: how a run stands. `status`, `outcome` and
 * `waiting.kind` are read as any string, so that a value added later still parses. `outcome` and
 * `waiting` must be there (null or not): a run read without them could show as still waiting.
 */
export const WorkflowRunReportSchema = zod.object({
  runId: zod.string().min(1),
  template: zod.string(),
  contactId: zod.string(),
  channel: zod.string(),
  conversationId: nullableText,
  status: zod.string(),
  outcome: zod.string().nullable(),
  startedAt: zod.string(),
  endedAt: nullableText,
  waiting: zod.object({ step: zod.string(), kind: zod.string(), dueAt: zod.string(), timesAsked: zod.number().int() }).nullable(),
});
export type WorkflowRunReportJson = zod.infer<typeof WorkflowRunReportSchema>;

/** An event as stored and delivered (the server's HTTP API contract: "Event JSON"). */
export const EventSchema = zod.object({
  id: zod.string().min(1),
  type: zod.string().min(1),
  workspaceId: zod.string().optional(),
  occurredAt: zod.string(),
  contactId: nullableText,
  data: zod.record(zod.string(), zod.unknown()),
});
export type EventJson = zod.infer<typeof EventSchema>;

export const EventListSchema = zod.object({ data: zod.array(EventSchema), nextCursor: nullableText });

/**
 * `POST /v1/hooks` answers the hook with its signing `secret`: 201 for a new hook, 200 for the live one
 * the same target URL, event and filter already subscribed (same id, same secret). Each answer has
 * a new `subscriptionId`, the hook's latest subscription (a server from before they were issued
 * sends none).
 */
export const HookSchema = zod.object({
  id: zod.string().min(1),
  targetUrl: zod.string(),
  event: zod.string(),
  filter: zod.record(zod.string(), zod.string()).nullable().optional(),
  secret: zod.string().min(1).optional(),
  subscriptionId: zod.string().min(1).optional(),
  createdAt: zod.string().optional(),
});

export const TagListSchema = zod.object({ data: zod.array(zod.string()) });

/** DELETE answers 204 with no body: nothing to read. */
export const NoContentSchema = zod.unknown();

/** The replies' texts, one per line, for later steps that only take text. */
export function repliesText(replies: readonly ReplyJson[]): string {
  return replies.map((reply) => reply.text).join('\n');
}

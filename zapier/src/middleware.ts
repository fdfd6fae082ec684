import type { AfterResponseMiddleware, BeforeRequestMiddleware, Bundle, HttpResponse, ZObject } from 'zapier-platform-core';
import { z as zod } from 'zod';
import { AuthDataSchema } from './auth-data.js';

/**
 * The Consentry server answers every failure as RFC 9457 problem+json with a stable `code` and,
 * for validation failures, one `errors[]` entry per field (the server's HTTP API contract).
 */
const ProblemSchema = zod.object({
  title: zod.string().optional(),
  detail: zod.string().optional(),
  code: zod.string().optional(),
  errors: zod.array(zod.object({ path: zod.string(), message: zod.string() })).optional(),
});
export type Problem = zod.infer<typeof ProblemSchema>;

/** When the server names no delay, wait a minute before Zapier replays the step. */
export const DEFAULT_RETRY_DELAY_SECONDS = 60;

/** The flags of `bundle.meta` that say the user is in the Zap editor or the connection dialog, not in a Zap run. */
const EditorMetaSchema = zod.looseObject({
  isLoadingSample: zod.boolean().optional(),
  isFillingDynamicDropdown: zod.boolean().optional(),
  isTestingAuth: zod.boolean().optional(),
});

/**
 * Whether Zapier replays the operation after a ThrottledError, as far as the bundle tells. It does
 * for a step of a Zap run ("The user will see a Waiting/Scheduled message in Zap history",
 * https://docs.zapier.com/platform/build/troubleshoot-throttles); loading a sample, filling a
 * dropdown or testing the connection (`bundle.meta`,
 * https://github.com/zapier/zapier-platform/blob/main/packages/cli/README.md#bundlemeta) only shows
 * the user the error.
 */
export function zapierReplays(bundle: Bundle): boolean {
  const meta = EditorMetaSchema.safeParse(bundle.meta ?? {});
  if (!meta.success) return true;
  return !(meta.data.isLoadingSample === true || meta.data.isFillingDynamicDropdown === true || meta.data.isTestingAuth === true);
}

export function readProblem(response: HttpResponse): Problem {
  const parsed = ProblemSchema.safeParse(response.data);
  return parsed.success ? parsed.data : {};
}

/**
 * One field's message, `path: message`. A message that already opens with the field's name (the
 * server's `tag contains U+0009, a control character` for `tag`) is left as it is, so the name
 * is read once, not `tag: tag …`.
 */
export function fieldMessage(path: string, message: string): string {
  if (path === '' || message.startsWith(`${path} `)) return message;
  return `${path}: ${message}`;
}

/** `legalBasis: required for an opt-in; explanation: ...` — the server's own words, field by field; null when it said none. */
export function problemWords(problem: Problem): string | null {
  const fields = (problem.errors ?? []).map((issue) => fieldMessage(issue.path, issue.message));
  if (fields.length > 0) return fields.join('; ');
  return problem.detail ?? problem.title ?? null;
}

/** The server's words, or its status when it gave none (a proxy's HTML page, an empty body). */
export function describeProblem(problem: Problem, status: number): string {
  return problemWords(problem) ?? `the Consentry server answered ${status}`;
}

/** The server's one refusal that is the Zap's mistake, not an expected outcome: an idempotency key reused for another change. */
function isIdempotencyConflict(problem: Problem): boolean {
  return (problem.errors ?? []).some((issue) => issue.path === 'idempotencyKey');
}

/** Retry-After is either delay-seconds or an HTTP-date (RFC 9110 §10.2.3). */
export function retryDelaySeconds(retryAfter: string | null | undefined, nowMs: number): number {
  // `response.getHeader` is Headers#get underneath: null, not undefined, when the header is absent.
  if (retryAfter === null || retryAfter === undefined || retryAfter.trim() === '') return DEFAULT_RETRY_DELAY_SECONDS;
  const trimmed = retryAfter.trim();
  if (/^\d+$/.test(trimmed)) return Math.max(1, Number.parseInt(trimmed, 10));
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return DEFAULT_RETRY_DELAY_SECONDS;
  return Math.max(1, Math.ceil((at - nowMs) / 1000));
}

/**
 * Turns a failed Consentry response into the Zapier error that makes Zapier do the right thing:
 * - 401: `ExpiredAuthError`. For custom (API key) auth there is nothing to refresh; Zapier documents
 *   ExpiredAuthError for stale credentials (the Zap is paused and the user asked to reconnect) and
 *   RefreshAuthError only for OAuth2/session auth that can refresh
 *   (https://github.com/zapier/zapier-platform/blob/main/packages/cli/README.md#stale-authentication-credentials).
 * - 429 and 5xx: `ThrottledError`, so Zapier replays the step after the delay instead of marking the
 *   run errored and, at 95 % errors, switching the Zap off (https://docs.zapier.com/platform/manage/api-outage,
 *   https://docs.zapier.com/platform/build/troubleshoot-throttles). Where Zapier replays nothing
 *   (`replays` false: the editor, the connection test, turning a Zap on), `z.errors.Error` with the
 *   same words and no promise of a retry.
 * - 410 (contact erased): `HaltedError`, a soft stop that never turns the Zap off: retrying cannot help.
 * - 409 (the contact opted out, the workflow is already running, the e-mail or phone is another
 *   contact's): `HaltedError` too. These are expected outcomes a Zap meets in normal use; Zapier asks
 *   for HaltedError "where a required pre-condition is not met ... if the Zap attempted to add a
 *   duplicate", because errors count toward switching the Zap off
 *   (https://github.com/zapier/zapier-platform/blob/main/packages/cli/README.md#halting-execution).
 *   An idempotency key reused for a different change is the Zap's mistake and stays an error.
 * - anything else: `z.errors.Error` carrying the server's field messages and code.
 */
export function throwForProblem(response: HttpResponse, z: ZObject, replays = true): never {
  const { status } = response;
  const problem = readProblem(response);
  const message = describeProblem(problem, status);
  if (status === 401) {
    throw new z.errors.ExpiredAuthError(
      `Consentry rejected the API key (${message}). Ask your Consentry administrator for a new key and reconnect this account.`,
    );
  }
  if (status === 429 || status >= 500) {
    const delay = retryDelaySeconds(response.getHeader('retry-after'), Date.now());
    const what = status === 429 ? 'is rate limiting this connection' : `had a server error (${status})`;
    if (!replays) throw new z.errors.Error(`Consentry ${what}: ${message}.`, problem.code ?? `HTTP_${status}`, status);
    throw new z.errors.ThrottledError(`Consentry ${what}: ${message}. Zapier will retry in ${delay} s.`, delay);
  }
  if (status === 410) {
    throw new z.errors.HaltedError(`Gone: ${message}`);
  }
  if (status === 409 && !isIdempotencyConflict(problem)) {
    throw new z.errors.HaltedError(`Consentry refused this step: ${message}`);
  }
  // A lead with no phone for a WhatsApp request is a data condition such a Zap meets every day,
  // not a broken step (CLI README, "Halting Execution").
  if (problem.code === 'CONTACT_UNREACHABLE') {
    throw new z.errors.HaltedError(`Consentry refused this step: ${message}`);
  }
  if (status === 404) {
    throw new z.errors.Error(`Not found: ${message}`, problem.code ?? 'NOT_FOUND', status);
  }
  throw new z.errors.Error(message, problem.code ?? `HTTP_${status}`, status);
}

/**
 * Maps every failed response before zapier-platform-core's own `throwForStatus` (which would only
 * say "Got 422 calling PUT ..."). A request that sets `skipThrowForStatus` handles its statuses
 * itself: every call of `callApi` and its kin in api.ts does, since only the call knows whether a
 * status is an answer (a search's 404 is "nothing found") and whether Zapier replays it.
 */
export const mapProblemResponses: AfterResponseMiddleware = (response, z, bundle) => {
  if (response.status < 400 || response.skipThrowForStatus) return response;
  return throwForProblem(response, z, zapierReplays(bundle));
};

function sameOrigin(url: string, base: string | undefined): boolean {
  if (base === undefined) return false;
  try {
    return new URL(url).origin === new URL(base).origin;
  } catch {
    return false;
  }
}

/**
 * Requests to the connected Consentry server carry the API key as a Bearer token and
 * `X-Consentry-Source: zapier`, which makes the server record decisions made by a Zap with the
 * source `zapier` (the server's HTTP API contract). The key goes to no other host.
 */
export const addConsentryHeaders: BeforeRequestMiddleware = (request, _z, bundle) => {
  // The key as the connection checked it (AuthDataSchema): trimmed, so that one pasted with a line
  // break around it is the key the server knows, and never a header value Node refuses.
  const auth = AuthDataSchema.safeParse(bundle.authData);
  if (auth.success && sameOrigin(request.url, auth.data.serverUrl)) {
    request.headers = { ...request.headers, Authorization: `Bearer ${auth.data.apiKey}`, 'X-Consentry-Source': 'zapier' };
  }
  return request;
};

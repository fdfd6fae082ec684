import type { Bundle, ZObject } from 'zapier-platform-core';

/**
 * How long Zapier lets one run of an operation take, its requests and its code together: 30 s for
 * a create or search action, a polling trigger, a REST hook trigger's processing of a delivery and
 * a step tested in the Zap editor ("Important Zapier constraints summary",
 * https://docs.zapier.com/platform/build/operating-constraints; "Each time a Zap step runs, the
 * action/search's perform method must finish processing in 30 seconds",
 * https://docs.zapier.com/platform/build/troubleshoot-action-timeouts). Past it Zapier ends the run
 * itself ("The app did not respond in-time. It may or may not have completed successfully."), and
 * none of the app's own error handling runs: no clear error, no memory of an unclear write. The
 * page gives no figure for turning a Zap on, the connection test or a dropdown: the app holds them
 * to the same.
 */
export const ZAPIER_STEP_LIMIT_MS = 30_000;

/**
 * What a step keeps of Zapier's limit after its last request has given up: to remember an unclear
 * write in Zapier's cache (unclear-attempts.ts) and throw its error, and for Zapier's own work
 * around the operation (loading the app, the middleware), which the app cannot time.
 */
export const STEP_REPORT_MARGIN_MS = 5_000;

/**
 * A request that would get less than this is not sent: a server that took most of the step on its
 * earlier answers would leave a write sent now cut before its answer, its outcome unknown, where
 * not sending it leaves nothing to check.
 */
export const MIN_REQUEST_MS = 1_000;

interface StepTime {
  /** The operation as the user reads it in the Zap editor ("Record Consent"); null for a call made outside a timed operation. */
  step: string | null;
  startedAt: number;
}

/**
 * Each run's own start, keyed by its bundle: core hands the operation the bundle object of that one
 * invocation (zapier-platform-core's execute.js), which the operation passes to every call it makes,
 * so the requests of one run, and only those, share its time, however many runs one process serves
 * at once. An entry goes with its bundle.
 */
const startedSteps = new WeakMap<Bundle, StepTime>();

/** The operation function of each timed operation, with the step name it starts. */
const timedOperations = new WeakMap<object, string>();

/** Starts the step's clock: every request the operation makes from now on shares Zapier's limit. */
function startStep(bundle: Bundle, step: string): void {
  startedSteps.set(bundle, { step, startedAt: Date.now() });
}

/**
 * An operation function that starts its step's clock before it runs. Every function Zapier calls
 * that may reach the Consentry server is one (a test checks the app's definition), so that what
 * comes before a step's first request (a delivery's cache lookups) counts too.
 */
export function timedStep<R>(step: string, operation: (z: ZObject, bundle: Bundle) => R): (z: ZObject, bundle: Bundle) => R {
  const timed = (z: ZObject, bundle: Bundle): R => {
    startStep(bundle, step);
    return operation(z, bundle);
  };
  timedOperations.set(timed, step);
  return timed;
}

/** The step name a timed operation function starts, or undefined for any other value. */
export function timedStepName(operation: unknown): string | undefined {
  return typeof operation === 'function' ? timedOperations.get(operation) : undefined;
}

/** How long a request of this step may wait for its answer, or why it is not sent. */
export type RequestTime =
  | { send: true; timeoutMs: number; cutByStep: boolean; step: string | null }
  | { send: false; elapsedMs: number; step: string | null };

/**
 * The time a request of this step gets: `longestMs`, or what is left of Zapier's limit less the
 * margin to report, whichever is shorter; none (not sent) when that is under MIN_REQUEST_MS. A
 * request of a run that no timed operation started starts the clock itself.
 */
export function requestTime(bundle: Bundle, longestMs: number): RequestTime {
  const now = Date.now();
  let started = startedSteps.get(bundle);
  if (started === undefined) {
    started = { step: null, startedAt: now };
    startedSteps.set(bundle, started);
  }
  const left = started.startedAt + ZAPIER_STEP_LIMIT_MS - STEP_REPORT_MARGIN_MS - now;
  if (left < MIN_REQUEST_MS) return { send: false, elapsedMs: now - started.startedAt, step: started.step };
  return { send: true, timeoutMs: Math.min(longestMs, left), cutByStep: left < longestMs, step: started.step };
}

/** Milliseconds as seconds for a message: `20`, `9.5`. */
export function secondsText(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}

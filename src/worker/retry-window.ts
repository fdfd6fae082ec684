import { DEFAULT_BACKOFF, equalJitterDelayMs, type BackoffPolicy } from './backoff.js';

/**
 * How long a hook delivery is retried: until a deadline, not for a number of attempts, so a
 * target that answers 429 with a short Retry-After (each wait honoured, each one an attempt)
 * is retried as long as one that fails outright. Common webhook senders retry for about three
 * days (Stripe retries "for up to three days with an exponential back off",
 * https://docs.stripe.com/webhooks), long enough to ride out a receiver's weekend outage.
 */
export interface RetryWindowPolicy {
  backoff: BackoffPolicy;
  /** From the start of the window (the event's occurrence, or when a dead letter was sent again) to the last attempt. */
  windowMs: number;
  /** A longer Retry-After is shortened to this. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_WINDOW_MS = 3 * 24 * 60 * 60 * 1000;

export const DEFAULT_RETRY_WINDOW: RetryWindowPolicy = {
  backoff: DEFAULT_BACKOFF,
  windowMs: DEFAULT_RETRY_WINDOW_MS,
  maxRetryAfterMs: DEFAULT_BACKOFF.capMs,
};

export interface FailedAttempt {
  /** Attempts made so far, this one included. */
  attempts: number;
  /** When this attempt failed. */
  at: Date;
  /** Where the window starts: the event's occurrence, or when the delivery was sent again after it was dead-lettered. */
  windowStart: Date;
  /** The target's Retry-After, in milliseconds, when it sent one. */
  retryAfterMs: number | null;
}

export type RetryDecision =
  | {
      kind: 'retry';
      at: Date;
      /** The Retry-After asked for, when it was longer than the policy allows and was shortened. */
      retryAfterShortenedFromMs: number | null;
    }
  | { kind: 'give_up' };

/**
 * The next attempt after a retryable failure. The backoff wait (equal jitter) never reaches past
 * the deadline: the last attempt falls on it exactly, so jitter moves the attempts in between
 * but never shortens the window. A Retry-After is honoured as a lower bound on the wait (RFC
 * 9110 §10.2.3: how long to wait "before making a follow-up request"), even past the
 * deadline, so the window can stretch by at most `maxRetryAfterMs`.
 */
export function nextAttempt(failed: FailedAttempt, policy: RetryWindowPolicy, random: () => number): RetryDecision {
  const at = failed.at.getTime();
  const deadline = failed.windowStart.getTime() + policy.windowMs;
  if (at >= deadline) return { kind: 'give_up' };
  const backoff = Math.min(equalJitterDelayMs(failed.attempts, policy.backoff, random), deadline - at);
  const asked = failed.retryAfterMs;
  const honoured = asked === null ? 0 : Math.min(asked, policy.maxRetryAfterMs);
  return {
    kind: 'retry',
    // At least a millisecond: a policy with a zero base must not retry in a tight loop.
    at: new Date(at + Math.max(1, backoff, honoured)),
    retryAfterShortenedFromMs: asked !== null && asked > policy.maxRetryAfterMs ? asked : null,
  };
}

/**
 * When each attempt of a delivery that always fails at once is made, in milliseconds after the
 * event, the last one included: the schedule the window policy gives for one random source.
 */
export function attemptSchedule(policy: RetryWindowPolicy, random: () => number): number[] {
  const start = new Date(0);
  const offsets = [0];
  for (;;) {
    const last = offsets.at(-1) ?? 0;
    const decision = nextAttempt({ attempts: offsets.length, at: new Date(last), windowStart: start, retryAfterMs: null }, policy, random);
    if (decision.kind === 'give_up') return offsets;
    offsets.push(decision.at.getTime());
  }
}

/** "3 days", "90 minutes", "1500 ms": a window as the dead letter's reason names it. */
export function describeDuration(ms: number): string {
  const units: [number, string][] = [
    [24 * 60 * 60 * 1000, 'day'],
    [60 * 60 * 1000, 'hour'],
    [60 * 1000, 'minute'],
    [1000, 'second'],
  ];
  for (const [size, name] of units) {
    if (ms >= size && ms % size === 0) return `${ms / size} ${name}${ms === size ? '' : 's'}`;
  }
  return `${ms} ms`;
}

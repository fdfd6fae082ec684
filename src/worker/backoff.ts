/**
 * Retry timing. Exponential backoff with jitter
 * (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/): the step before
 * retry n is min(cap, base * 2^(n-1)), and a random part of it spreads retries of many
 * deliveries failing together against one target, so they do not come back in lock-step.
 */
export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1000, capMs: 60 * 60 * 1000 };

/** min(cap, base * 2^(n-1)) for `failedAttempts` = n. */
function backoffStepMs(failedAttempts: number, policy: BackoffPolicy): number {
  const exponent = Math.max(0, failedAttempts - 1);
  // 2 ** 60 already exceeds any sensible cap; bounding the exponent keeps the product finite.
  return Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(exponent, 60));
}

const unit = (random: () => number): number => Math.min(Math.max(random(), 0), 1);

/**
 * Full jitter: uniform in [0, step]. `failedAttempts` counts the attempts made so far (1 after
 * the first failure).
 */
export function backoffDelayMs(failedAttempts: number, policy: BackoffPolicy, random: () => number): number {
  return Math.round(backoffStepMs(failedAttempts, policy) * unit(random));
}

/**
 * Equal jitter: uniform in [step / 2, step]. Hook deliveries use it: a wait is never shorter
 * than half its step, so the number of attempts a retry window holds stays bounded whatever
 * the random source draws.
 */
export function equalJitterDelayMs(failedAttempts: number, policy: BackoffPolicy, random: () => number): number {
  const step = backoffStepMs(failedAttempts, policy);
  return Math.round(step / 2 + (step / 2) * unit(random));
}

/**
 * `Retry-After` is either delay-seconds or an HTTP-date (RFC 9110 §10.2.3). Returns the wait in
 * milliseconds, or null when the header is missing or unreadable.
 */
export function parseRetryAfterMs(header: string | undefined, now: Date): number | null {
  if (header === undefined) return null;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // HTTP-dates name the month (IMF-fixdate and the two obsolete forms all do); anything else,
  // such as "-5", is not a Retry-After value even if Date.parse would accept it.
  if (!/[a-z]{3}/i.test(value)) return null;
  const at = Date.parse(value);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now.getTime());
}

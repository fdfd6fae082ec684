/**
 * Retry timing for hook deliveries. Exponential backoff with full jitter
 * (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/): the wait before
 * retry n is uniform in [0, min(cap, base * 2^(n-1))], so many deliveries failing together
 * against one target do not come back in lock-step.
 */
export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1000, capMs: 60 * 60 * 1000 };

/** `failedAttempts` counts the attempts made so far (1 after the first failure). */
export function backoffDelayMs(failedAttempts: number, policy: BackoffPolicy, random: () => number): number {
  const exponent = Math.max(0, failedAttempts - 1);
  // 2 ** 60 already exceeds any sensible cap; bounding the exponent keeps the product finite.
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(exponent, 60));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(ceiling * r);
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

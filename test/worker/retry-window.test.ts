import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  attemptSchedule,
  DEFAULT_RETRY_WINDOW,
  DEFAULT_RETRY_WINDOW_MS,
  describeDuration,
  nextAttempt,
  type RetryWindowPolicy,
} from '../../src/worker/retry-window.js';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;
const EVENT = new Date('2026-03-01T10:00:00.000Z');

/** The gaps between consecutive attempts. */
const gapsOf = (offsets: readonly number[]): number[] => offsets.slice(1).map((offset, i) => offset - (offsets[i] ?? 0));

describe('the default schedule', () => {
  it('ends exactly three days after the event, whatever the jitter draws', () => {
    expect(DEFAULT_RETRY_WINDOW_MS).toBe(3 * DAY);
    const shortest = attemptSchedule(DEFAULT_RETRY_WINDOW, () => 0);
    const longest = attemptSchedule(DEFAULT_RETRY_WINDOW, () => 1);
    // The total window has one length: jitter moves the attempts in between, never the last.
    expect(shortest.at(-1)).toBe(3 * DAY);
    expect(longest.at(-1)).toBe(3 * DAY);
    // Equal jitter: every wait is between half its step and the step, so the count is bounded.
    expect(longest).toHaveLength(84);
    expect(shortest).toHaveLength(156);
  });

  it('doubles from 1 s up to the one-hour cap, each wait within [step / 2, step]', () => {
    expect(gapsOf(attemptSchedule(DEFAULT_RETRY_WINDOW, () => 1)).slice(0, 14)).toEqual([
      1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 512_000, 1_024_000, 2_048_000, HOUR, HOUR,
    ]);
    expect(gapsOf(attemptSchedule(DEFAULT_RETRY_WINDOW, () => 0)).slice(0, 14)).toEqual([
      500, 1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 512_000, 1_024_000, HOUR / 2, HOUR / 2,
    ]);
  });

  it('keeps the window and the bounds for any sequence of draws', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 200 }), (draws) => {
        let i = 0;
        const schedule = attemptSchedule(DEFAULT_RETRY_WINDOW, () => draws[i++ % draws.length] ?? 0);
        const gaps = gapsOf(schedule);
        return (
          schedule.at(-1) === 3 * DAY &&
          schedule.length >= 84 &&
          schedule.length <= 156 &&
          gaps.every((gap) => gap > 0 && gap <= HOUR)
        );
      }),
      { numRuns: 50 },
    );
  });
});

describe('nextAttempt', () => {
  const policy: RetryWindowPolicy = { backoff: { baseMs: 1000, capMs: HOUR }, windowMs: DAY, maxRetryAfterMs: HOUR };
  const failedAt = (offsetMs: number, attempts: number, retryAfterMs: number | null = null) =>
    nextAttempt({ attempts, at: new Date(EVENT.getTime() + offsetMs), windowStart: EVENT, retryAfterMs }, policy, () => 1);

  it('waits at least the Retry-After, and longer when the backoff step is longer', () => {
    expect(failedAt(0, 1, 3000)).toEqual({ kind: 'retry', at: new Date(EVENT.getTime() + 3000), retryAfterShortenedFromMs: null });
    // The 6th failure's step is 32 s: a Retry-After of 3 s does not shorten it.
    expect(failedAt(0, 6, 3000)).toEqual({ kind: 'retry', at: new Date(EVENT.getTime() + 32_000), retryAfterShortenedFromMs: null });
  });

  it('shortens a Retry-After beyond the policy to its bound, and says so', () => {
    expect(failedAt(0, 1, 2 * HOUR)).toEqual({ kind: 'retry', at: new Date(EVENT.getTime() + HOUR), retryAfterShortenedFromMs: 2 * HOUR });
  });

  it('puts the last backoff attempt on the deadline, and gives up after it', () => {
    expect(failedAt(DAY - 10_000, 40, null)).toEqual({ kind: 'retry', at: new Date(EVENT.getTime() + DAY), retryAfterShortenedFromMs: null });
    expect(failedAt(DAY, 41, null)).toEqual({ kind: 'give_up' });
    expect(failedAt(DAY + 5, 41, null)).toEqual({ kind: 'give_up' });
  });

  it('honours a Retry-After that reaches past the deadline, by at most its bound', () => {
    expect(failedAt(DAY - 10_000, 40, 5 * HOUR)).toEqual({
      kind: 'retry',
      at: new Date(EVENT.getTime() + DAY - 10_000 + HOUR),
      retryAfterShortenedFromMs: 5 * HOUR,
    });
  });

  it('never schedules a retry at the time of the failure, even with a zero base', () => {
    const zero: RetryWindowPolicy = { backoff: { baseMs: 0, capMs: 0 }, windowMs: 10, maxRetryAfterMs: 0 };
    expect(attemptSchedule(zero, () => 0)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });
});

describe('describeDuration', () => {
  it('names the largest whole unit', () => {
    expect(describeDuration(3 * DAY)).toBe('3 days');
    expect(describeDuration(DAY)).toBe('1 day');
    expect(describeDuration(90 * 60 * 1000)).toBe('90 minutes');
    expect(describeDuration(1500)).toBe('1500 ms');
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelayMs, DEFAULT_BACKOFF, equalJitterDelayMs, parseRetryAfterMs } from '../../src/worker/backoff.js';

describe('backoffDelayMs (full jitter)', () => {
  it('doubles the ceiling from the base up to the cap', () => {
    const policy = { baseMs: 1000, capMs: 10_000 };
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelayMs(n, policy, () => 1))).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
    expect(backoffDelayMs(3, policy, () => 0)).toBe(0);
    expect(backoffDelayMs(3, policy, () => 0.5)).toBe(2000);
  });

  it('stays within [0, min(cap, base * 2^(n-1))] for any attempt and random value', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.double({ min: 0, max: 1, noNaN: true }), (attempts, r) => {
        const delay = backoffDelayMs(attempts, DEFAULT_BACKOFF, () => r);
        const ceiling = Math.min(DEFAULT_BACKOFF.capMs, DEFAULT_BACKOFF.baseMs * 2 ** (attempts - 1));
        return Number.isFinite(delay) && delay >= 0 && delay <= ceiling;
      }),
    );
  });
});

describe('equalJitterDelayMs', () => {
  it('waits between half the step and the step', () => {
    const policy = { baseMs: 1000, capMs: 10_000 };
    expect([1, 2, 3, 4, 5, 6].map((n) => equalJitterDelayMs(n, policy, () => 1))).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
    expect([1, 2, 3, 4, 5, 6].map((n) => equalJitterDelayMs(n, policy, () => 0))).toEqual([500, 1000, 2000, 4000, 5000, 5000]);
    expect(equalJitterDelayMs(3, policy, () => 0.5)).toBe(3000);
  });

  it('stays within [step / 2, step] for any attempt and random value', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.double({ min: 0, max: 1, noNaN: true }), (attempts, r) => {
        const delay = equalJitterDelayMs(attempts, DEFAULT_BACKOFF, () => r);
        const step = Math.min(DEFAULT_BACKOFF.capMs, DEFAULT_BACKOFF.baseMs * 2 ** (attempts - 1));
        return Number.isFinite(delay) && delay >= Math.floor(step / 2) && delay <= step;
      }),
    );
  });
});

describe('parseRetryAfterMs', () => {
  const now = new Date('2026-03-01T10:00:00.000Z');
  it('reads delay-seconds and HTTP-dates (RFC 9110 §10.2.3)', () => {
    expect(parseRetryAfterMs('120', now)).toBe(120_000);
    expect(parseRetryAfterMs(' 0 ', now)).toBe(0);
    expect(parseRetryAfterMs('Sun, 01 Mar 2026 10:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfterMs('Sun, 01 Mar 2026 09:00:00 GMT', now)).toBe(0);
  });

  it('ignores a missing or unreadable header', () => {
    expect(parseRetryAfterMs(undefined, now)).toBeNull();
    expect(parseRetryAfterMs('soon', now)).toBeNull();
    expect(parseRetryAfterMs('-5', now)).toBeNull();
  });
});

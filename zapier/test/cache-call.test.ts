import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CACHE_CALL_LIMIT_MS, CacheCallTimeout, withinCacheLimit } from '../src/cache-call.js';

describe('withinCacheLimit', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('gives up a cache call that does not answer in time with a CacheCallTimeout of a stable code', async () => {
    const outcome = withinCacheLimit(() => new Promise<never>(() => undefined)).catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(CACHE_CALL_LIMIT_MS);
    const error = await outcome;
    expect(error).toBeInstanceOf(CacheCallTimeout);
    expect(error).toMatchObject({ name: 'CacheCallTimeout', code: 'CACHE_CALL_TIMEOUT', message: "Zapier's cache did not answer within 2 s" });
  });

  it('answers what the call answers in time, and leaves no timer behind', async () => {
    await expect(withinCacheLimit(() => Promise.resolve('cached'))).resolves.toBe('cached');
    expect(vi.getTimerCount()).toBe(0);
  });
});

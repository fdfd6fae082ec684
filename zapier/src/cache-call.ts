/**
 * How long one call to Zapier's cache may take before the app goes on without it. zcache is a
 * call to Zapier's service (zapier-platform-core's create-cache.js, through its RPC client), which
 * answers in milliseconds when well; a call that hangs would otherwise spend the step's 30 s
 * (step-deadline.ts) before the step's own request or its error. Every use of the cache already
 * reads a failure as "the cache cannot say" (unclear-attempts.ts, rest-hook.ts), so a call cut
 * here costs what a failing cache costs and no more. Two calls fit in the margin a step keeps for
 * remembering an unclear write (STEP_REPORT_MARGIN_MS).
 */
export const CACHE_CALL_LIMIT_MS = 2_000;

/**
 * A cache call that took longer than CACHE_CALL_LIMIT_MS; the call itself is left to finish or fail
 * unheard. `code` is stable, as the codes of the app's other errors are, for a log reader or a
 * caller to tell it from a cache that failed.
 */
export class CacheCallTimeout extends Error {
  readonly code = 'CACHE_CALL_TIMEOUT';

  constructor() {
    super(`Zapier's cache did not answer within ${CACHE_CALL_LIMIT_MS / 1000} s`);
    this.name = 'CacheCallTimeout';
  }
}

/** `call`'s answer, or a CacheCallTimeout once CACHE_CALL_LIMIT_MS has passed without one. */
export async function withinCacheLimit<T>(call: () => Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new CacheCallTimeout()), CACHE_CALL_LIMIT_MS);
  });
  try {
    return await Promise.race([call(), limit]);
  } finally {
    clearTimeout(timer);
  }
}

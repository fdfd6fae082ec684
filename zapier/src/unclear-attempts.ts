import type { Bundle, ZObject } from 'zapier-platform-core';
import { errorWords } from './api.js';
import { AuthDataSchema } from './auth-data.js';
import { withinCacheLimit } from './cache-call.js';

/**
 * How long the app remembers that a write ended without an answer (the request may have been
 * applied, its answer never came back): longer than Zapier's Autoreplay keeps replaying a failed
 * step (its last replay comes about 10 hours 35 minutes after the failure,
 * https://zapier.com/help/autoreplay/; manual replays,
 * https://help.zapier.com/hc/en-us/articles/8496241726989), and than a privacy request that is not
 * answered lives (it times out 5 minutes after its question, a few times that after invalid answers).
 */
export const UNCLEAR_ATTEMPT_MEMORY_SECONDS = 24 * 60 * 60;

/** The app's memory of one write whose outcome it could not learn, so that a replay of it can be told from any other step. */
export interface UnclearAttempt {
  /** That an attempt ended without an answer; a write that fails is logged and left out. */
  remember(): Promise<void>;
  /** Whether one did, within the memory's time; false when the cache cannot say. */
  happened(): Promise<boolean>;
  /** That an attempt went through: what was remembered no longer holds. */
  forget(): Promise<void>;
}

/**
 * zcache (`z.cache.set`/`get`/`delete`, zapier-platform-core's create-cache.js) never decides the
 * step: a cache that fails, or takes longer than CACHE_CALL_LIMIT_MS, leaves the step's own outcome
 * as it is, and is read as "nothing remembered", which keeps the step's usual answer.
 */
async function cached<T>(z: ZObject, what: string, use: () => Promise<T>, otherwise: T): Promise<T> {
  try {
    return await withinCacheLimit(use);
  } catch (error) {
    z.console.log(`Could not ${what} in Zapier's cache: ${errorWords(error)}`);
    return otherwise;
  }
}

/** The memory of unclear attempts under `key` (zcache's default, app-wide scope: the key says whose they are). */
export function unclearAttempt(z: ZObject, key: string): UnclearAttempt {
  return {
    remember: async () => {
      await cached(z, 'remember an unclear attempt', () => z.cache.set(key, 1, UNCLEAR_ATTEMPT_MEMORY_SECONDS), false);
    },
    happened: () => cached(z, 'look up an unclear attempt', async () => (await z.cache.get(key)) !== null, false),
    forget: async () => {
      await cached(z, 'forget an unclear attempt', () => z.cache.delete(key), false);
    },
  };
}

/**
 * A key for what one connection did: `name`, then a SHA-256 of the server, the API key and `parts`.
 * zcache's default scope is the whole app, shared by every account that uses it, and an email is
 * another person's in another workspace; hashing keeps the key and the contact's address out of
 * the cache. The connection is the Zap's own (`bundle.authData`), so a key given in another
 * connection, even to the same workspace, remembers apart: the step then keeps its usual answer.
 */
export function keyWithinConnection(z: ZObject, bundle: Bundle, name: string, parts: readonly (string | null)[]): string {
  const auth = AuthDataSchema.safeParse(bundle.authData);
  const connection = auth.success ? [auth.data.serverUrl, auth.data.apiKey] : [null, null];
  return `${name}:${z.hash('sha256', JSON.stringify([...connection, ...parts]))}`;
}

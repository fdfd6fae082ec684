import { createHash, randomBytes } from 'node:crypto';
import { isConsentryError } from '../core/errors.js';
import type { Clock } from '../ports/clock.js';
import type { IdGenerator } from '../ports/ids.js';
import { ulidGenerator } from '../ports/ids.js';
import { isPassingStoreFailure, type ApiKeyRow, type Store } from '../ports/store.js';
import { deleteHooksOfApiKey } from '../worker/hooks.js';

/** A recognisable prefix, so a leaked key is easy to spot (and for secret scanners). */
export const API_KEY_PREFIX = 'csk_';
/** 32 random bytes: 256 bits, far beyond guessing. */
const API_KEY_BYTES = 32;
/** How much of the key lists show (the prefix plus eight characters): enough to tell keys apart, useless to an attacker. */
const DISPLAY_PREFIX_LENGTH = API_KEY_PREFIX.length + 8;
/** `lastUsedAt` is refreshed at most this often, so authenticating does not write on every request. */
const LAST_USED_RESOLUTION_MS = 60_000;

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function generateApiKey(): string {
  return `${API_KEY_PREFIX}${randomBytes(API_KEY_BYTES).toString('base64url')}`;
}

export interface CreatedApiKey {
  row: ApiKeyRow;
  /** The key itself: shown once, never stored. */
  key: string;
}

/** A new key and the row that stores it (hashed), not stored yet: for a caller that stores it in a transaction of its own. */
export function newApiKey(input: { workspaceId: string; name?: string | null; clock: Clock; ids?: IdGenerator }): CreatedApiKey {
  const key = generateApiKey();
  const now = input.clock.now();
  const row: ApiKeyRow = {
    id: (input.ids ?? ulidGenerator()).next(now),
    workspaceId: input.workspaceId,
    name: input.name ?? null,
    prefix: key.slice(0, DISPLAY_PREFIX_LENGTH),
    hash: hashApiKey(key),
    createdAt: now.toISOString(),
    lastUsedAt: null,
    revokedAt: null,
  };
  return { row, key };
}

export async function createApiKey(
  store: Store,
  input: { workspaceId: string; name?: string | null; clock: Clock; ids?: IdGenerator },
): Promise<CreatedApiKey> {
  const created = newApiKey(input);
  await store.transaction((tx) => tx.insertApiKey(created.row));
  return created;
}

export type Authentication = { ok: true; key: ApiKeyRow } | { ok: false; reason: 'unknown' | 'revoked' };

/** A store that can tell when its API keys may have changed (the SQLite store's `apiKeysVersion`). */
interface VersionedKeys {
  apiKeysVersion(): string;
}

function hasVersionedKeys(store: Store): store is Store & VersionedKeys {
  return 'apiKeysVersion' in store && typeof store.apiKeysVersion === 'function';
}

/** Live keys are few; the bound only keeps a flood of distinct valid keys from growing the map. */
const MAX_REMEMBERED_KEYS = 1024;

interface RememberedKey {
  key: Readonly<ApiKeyRow>;
  version: string;
}

const rememberedByStore = new WeakMap<Store, Map<string, RememberedKey>>();

function lastUseDue(key: ApiKeyRow, now: Date): boolean {
  return key.lastUsedAt === null || now.getTime() - Date.parse(key.lastUsedAt) >= LAST_USED_RESOLUTION_MS;
}

/**
 * Finds the key by its SHA-256. Comparing digests through an index lookup leaks nothing useful
 * by timing: an attacker cannot steer the digest of a guess towards a stored one.
 *
 * The lookup only reads (Store.read), so a request is authenticated while another process holds
 * the write lock. A valid key found through a store that versions its keys is remembered with the
 * version it was read at, and answers later requests without reading for as long as the version
 * stays the same: a revocation, by this process or any other, changes it, so it takes effect on
 * the very next request, exactly as without the memory. Unknown and revoked keys always go to the
 * store, and so does a key whose `lastUsedAt` is due for its refresh (recordLastUse).
 */
export async function authenticateApiKey(store: Store, presented: string, clock: Clock): Promise<Authentication> {
  if (!presented.startsWith(API_KEY_PREFIX)) return { ok: false, reason: 'unknown' };
  const hash = hashApiKey(presented);
  // Read before the lookup: a change made while it runs leaves the remembered key already stale.
  const version = hasVersionedKeys(store) ? store.apiKeysVersion() : undefined;
  let remembered = rememberedByStore.get(store);
  const now = clock.now();
  if (version !== undefined && remembered) {
    const known = remembered.get(hash);
    if (known && known.version === version && !lastUseDue(known.key, now)) return { ok: true, key: known.key };
  }
  const found = await store.read((tx) => tx.findApiKeyByHash(hash));
  if (!found) return { ok: false, reason: 'unknown' };
  if (found.revokedAt !== null) return { ok: false, reason: 'revoked' };
  let key = found;
  if (lastUseDue(found, now)) {
    recordLastUse(store, found.id, now);
    // Remembered as used now, whether or not the write gets through: a minute passes before the next try.
    key = { ...found, lastUsedAt: now.toISOString() };
  }
  if (version !== undefined) {
    if (!remembered) {
      remembered = new Map();
      rememberedByStore.set(store, remembered);
    }
    remembered.delete(hash);
    if (remembered.size >= MAX_REMEMBERED_KEYS) {
      const oldest = remembered.keys().next();
      if (!oldest.done) remembered.delete(oldest.value);
    }
    remembered.set(hash, { key: Object.freeze(key), version });
  }
  return { ok: true, key };
}

const lastUseWrites = new WeakMap<Store, Map<string, Promise<void>>>();

/**
 * Writes the key's `lastUsedAt` beside the request instead of in its way: a request needs no
 * write lock to be authenticated, so it is not held up, nor refused, while another process holds
 * the lock or the disk is full. One write per key at a time; a key revoked meanwhile keeps its
 * last use. `lastUsedAt` only informs (`keys list`), so a write that fails is left to the next
 * use a minute later: a busy, full or closing store quietly, anything else as a process warning.
 */
function recordLastUse(store: Store, keyId: string, now: Date): void {
  let writes = lastUseWrites.get(store);
  if (!writes) {
    writes = new Map();
    lastUseWrites.set(store, writes);
  }
  if (writes.has(keyId)) return;
  const pending = writes;
  const write = store
    .transaction(async (tx) => {
      const current = await tx.getApiKey(keyId);
      if (!current || current.revokedAt !== null || !lastUseDue(current, now)) return;
      await tx.updateApiKey({ ...current, lastUsedAt: now.toISOString() });
    })
    .catch((error: unknown) => {
      if (isPassingStoreFailure(error)) return;
      if (error instanceof Error && /store is closed/.test(error.message)) return;
      process.emitWarning(`could not record the last use of API key ${keyId}: ${error instanceof Error ? error.message : String(error)}`, { code: 'CONSENTRY_API_KEY_LAST_USE' });
    })
    .finally(() => pending.delete(keyId));
  pending.set(keyId, write);
}

/** Settles once the `lastUsedAt` writes authentication has started on `store` have ended, for a caller that reads `lastUsedAt` next. */
export async function lastUsesRecorded(store: Store): Promise<void> {
  await Promise.all([...(lastUseWrites.get(store)?.values() ?? [])]);
}

export interface RevokedApiKey {
  key: ApiKeyRow;
  /** The live hooks the key had created, deleted with it (deletedReason `key_revoked`); 0 when it was revoked already. */
  hooksRemoved: number;
}

/**
 * Revokes the key and, in the same transaction, deletes the hooks it created: a revoked key (leaked,
 * or its holder gone) must not leave subscriptions sending events to URLs it chose. Revoking a
 * revoked key changes nothing. Undefined when there is no such key.
 */
export async function revokeApiKey(store: Store, id: string, clock: Clock): Promise<RevokedApiKey | undefined> {
  return store.transaction(async (tx) => {
    const key = await tx.getApiKey(id);
    if (!key) return undefined;
    if (key.revokedAt !== null) return { key, hooksRemoved: 0 };
    const revokedAt = clock.now().toISOString();
    const revoked = { ...key, revokedAt };
    await tx.updateApiKey(revoked);
    return { key: revoked, hooksRemoved: await deleteHooksOfApiKey(tx, revoked, revokedAt) };
  });
}

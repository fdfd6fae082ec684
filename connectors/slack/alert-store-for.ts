import type { Store } from '../../src/ports/store.js';
import type { SqliteStore } from '../../src/store/sqlite.js';
import { MemorySlackAlertStore, type SlackAlertStore } from './alert-store.js';
import { SqliteSlackAlertStore } from './alert-store-sqlite.js';

/** A SQLite store exposes its better-sqlite3 handle; the in-memory store does not. */
export function isSqliteStore(store: Store): store is SqliteStore {
  return 'db' in store && typeof store.db === 'object' && store.db !== null;
}

const byStore = new WeakMap<Store, SlackAlertStore>();

/**
 * The alert store that lives beside `store`: its SQLite tables, or an in-memory twin. One per
 * store, so the dispatcher (which creates alerts) and the /slack/events route (which resolves
 * them) share it even when nothing is persisted.
 */
export function slackAlertStoreFor(store: Store): SlackAlertStore {
  let alerts = byStore.get(store);
  if (!alerts) {
    alerts = isSqliteStore(store) ? new SqliteSlackAlertStore(store) : new MemorySlackAlertStore(store);
    byStore.set(store, alerts);
  }
  return alerts;
}

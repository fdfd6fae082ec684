import type { Database, Statement } from 'better-sqlite3';
import { assertCanonicalTimestamp, assertLimit } from '../../src/store/common.js';
import type { CallbackRecord } from './state.js';

/**
 * Retention of the workflow-action callbacks (GDPR Art. 5(1)(e)): a callback is kept to replay
 * its answer when HubSpot sends the same callbackId again, and, for a blocked action, until its
 * run's end has queued the completion (callbacks.ts `queueCompletion`). Once both are done nothing
 * reads it again but a retry, and HubSpot retries an action request for up to three days (DESIGN
 * §6), less than the least RETENTION_DAYS (7), and stops waiting on a blocked one after
 * BLOCK_EXPIRATION (2 days).
 *
 * Both HubSpot states delete through these, so they delete alike: the in-memory twin picks the
 * records with `expiredCallbacks`, SQLite runs PRUNE_ANSWERED_CALLBACKS_SQL (`pruneCallbacksOn`).
 */

/** Which callbacks retention deletes, at most `limit` of them. */
export interface CallbackRetentionQuery {
  /** A canonical ISO timestamp: callbacks last changed before it have expired, once finished. */
  before: string;
  limit: number;
}

/**
 * Whether nothing waits on the callback any more: it was answered, and a blocked one (with a run)
 * has had its completion queued (`outcome`). A request still being handled (no answer yet) and a
 * blocked action whose run has not ended are pending.
 */
export function isFinishedCallback(record: CallbackRecord): boolean {
  return record.response !== null && (record.runId === null || record.outcome !== null);
}

/** Whether retention deletes the callback: finished, and last changed before `before`. */
export function callbackExpired(record: CallbackRecord, before: string): boolean {
  return isFinishedCallback(record) && record.updatedAt < before;
}

export function assertCallbackRetentionQuery(query: CallbackRetentionQuery): void {
  assertCanonicalTimestamp(query.before, 'before');
  assertLimit(query.limit);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The in-memory twin's pick: the expired callbacks among `records`, in SQLite's order (least
 * `updatedAt` first, then workspace and callbackId), at most `query.limit`. The caller deletes them.
 */
export function expiredCallbacks(records: Iterable<CallbackRecord>, query: CallbackRetentionQuery): CallbackRecord[] {
  assertCallbackRetentionQuery(query);
  return [...records]
    .filter((record) => callbackExpired(record, query.before))
    .sort((a, b) => compareText(a.updatedAt, b.updatedAt) || compareText(a.workspaceId, b.workspaceId) || compareText(a.callbackId, b.callbackId))
    .slice(0, query.limit);
}

/**
 * The finished callbacks last changed before :before, oldest first, read from
 * hubspot_callbacks_finished (migration 25), which holds only finished ones: a pending callback,
 * however old, is never read. Its first condition is the index's own, written alike, as SQLite
 * requires to use a partial index (https://www.sqlite.org/partialindex.html). Exported so a test
 * can check its plan.
 */
export const PRUNE_ANSWERED_CALLBACKS_SQL = `DELETE FROM hubspot_callbacks WHERE (workspace_id, callback_id) IN (
  SELECT workspace_id, callback_id FROM hubspot_callbacks
  WHERE response IS NOT NULL AND (run_id IS NULL OR outcome IS NOT NULL)
    AND updated_at < :before
  ORDER BY updated_at, workspace_id, callback_id LIMIT :limit)`;

const statements = new WeakMap<Database, Statement<[{ before: string; limit: number }]>>();

/**
 * SQLite's pruning, on the store's connection: to be run inside `store.transaction`, as every
 * statement of the HubSpot state is (state-sqlite.ts). Returns how many callbacks it deleted.
 */
export function pruneCallbacksOn(db: Database, query: CallbackRetentionQuery): number {
  assertCallbackRetentionQuery(query);
  let prune = statements.get(db);
  if (prune === undefined) {
    prune = db.prepare(PRUNE_ANSWERED_CALLBACKS_SQL);
    statements.set(db, prune);
  }
  return prune.run({ before: query.before, limit: query.limit }).changes;
}

import type { Database, Statement } from 'better-sqlite3';
import { z } from 'zod';
import type { Store, StoreTx } from '../../src/ports/store.js';
import type { SqliteStore } from '../../src/store/sqlite.js';
import { pruneCallbacksOn } from './callback-retention.js';
import { ContactSyncStateSchema, type ContactSyncState } from './echo.js';
import {
  CHANGE_TARGETS,
  ChangePayloadSchema,
  InMemoryHubSpotState,
  type CallbackRecord,
  type ChangeKey,
  type HubSpotState,
  type HubSpotStateReader,
  type HubSpotStateTx,
  type PausedContact,
  type SyncChange,
} from './state.js';

/**
 * The connector's state in the main SQLite database (tables of migration 3, callbacks keyed by
 * workspace since migration 11). Statements run only inside `store.transaction`, so they are
 * serialised with the engine's transactions on the shared connection and commit together with
 * them (CONNECTORS.md).
 * Paused contacts live in `hubspot_paused_contacts` (migration 15).
 */

const PAUSED_TABLE = 'hubspot_paused_contacts';

interface PausedRow {
  workspace_id: string;
  contact_id: string;
  properties: string;
  email_subscription: string | null;
  position: number;
  event_id: string;
  /** Null on a row written before migration 17: its updated_at stands in. */
  noted_at: string | null;
  updated_at: string;
}

const PausedPropertiesSchema = z.record(z.string(), z.string());

function toPaused(row: PausedRow): PausedContact {
  return {
    workspaceId: row.workspace_id,
    contactId: row.contact_id,
    properties: PausedPropertiesSchema.parse(JSON.parse(row.properties)),
    emailSubscription: row.email_subscription,
    position: row.position,
    eventId: row.event_id,
    notedAt: row.noted_at ?? row.updated_at,
    updatedAt: row.updated_at,
  };
}

interface ChangeRow {
  position: number;
  target: string;
  workspace_id: string;
  event_id: string;
  contact_id: string | null;
  payload: string;
  occurred_at: string;
  status: string;
  attempts: number;
  next_attempt_at: string;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

interface CallbackRow {
  callback_id: string;
  workspace_id: string;
  action: string;
  contact_id: string | null;
  run_id: string | null;
  response: string | null;
  outcome: string | null;
  created_at: string;
  updated_at: string;
}

const CHANGE_COLUMNS =
  'position, target, workspace_id, event_id, contact_id, payload, occurred_at, status, attempts, next_attempt_at, last_error, created_at, updated_at';
const CALLBACK_COLUMNS = 'callback_id, workspace_id, action, contact_id, run_id, response, outcome, created_at, updated_at';

type ChangeParams = [number, string, string, string, string | null, string, string, string, number, string, string | null, string, string];
type CallbackParams = [string, string, string, string | null, string | null, string | null, string | null, string, string];

const TargetSchema = z.enum(CHANGE_TARGETS);
const StatusSchema = z.enum(['pending', 'dead']);
const ResponseSchema = z.record(z.string(), z.string());

const COUNT_CHANGES = 'SELECT count(*) AS n FROM hubspot_sync_changes WHERE workspace_id = ? AND status = ?';
const COUNT_ALL_CHANGES = 'SELECT count(*) AS n FROM hubspot_sync_changes WHERE status = ?';
const COUNT_PAUSED = `SELECT count(*) AS n FROM ${PAUSED_TABLE} WHERE workspace_id = ?`;
const COUNT_ALL_PAUSED = `SELECT count(*) AS n FROM ${PAUSED_TABLE}`;

/** Counts of rows and, for `pending`, paused contacts (each counted once), on one connection. */
function countersOn(db: Database): HubSpotStateReader {
  const countChanges: Statement<[string, string], { n: number }> = db.prepare(COUNT_CHANGES);
  const countAllChanges: Statement<[string], { n: number }> = db.prepare(COUNT_ALL_CHANGES);
  const countPaused: Statement<[string], { n: number }> = db.prepare(COUNT_PAUSED);
  const countAllPaused: Statement<[], { n: number }> = db.prepare(COUNT_ALL_PAUSED);
  return {
    countChanges: async (workspaceId, status) => (countChanges.get(workspaceId, status)?.n ?? 0) + (status === 'pending' ? (countPaused.get(workspaceId)?.n ?? 0) : 0),
    countAllChanges: async (status) => (countAllChanges.get(status)?.n ?? 0) + (status === 'pending' ? (countAllPaused.get()?.n ?? 0) : 0),
  };
}

class Statements {
  readonly insertChange: Statement<ChangeParams>;
  readonly dueChanges: Statement<[string], ChangeRow>;
  readonly updateChange: Statement<[string, string, number, string, string | null, string, number, string]>;
  readonly deleteChange: Statement<[number, string]>;
  readonly deferChange: Statement<[string, number, string]>;
  readonly oldestPending: Statement<[string], ChangeRow>;
  readonly deadChanges: Statement<[string, number], ChangeRow>;
  readonly deadChangesAfter: Statement<[string, number, number, string, number], ChangeRow>;
  readonly changeOfEvent: Statement<[string, string, string, string], ChangeRow>;
  readonly heldChanges: Statement<[string, string, string], { position: number; target: string; contact_id: string | null }>;
  readonly contactChanges: Statement<[string, string], ChangeRow>;
  readonly getContactState: Statement<[string, string], { state: string }>;
  readonly putContactState: Statement<[string, string, string, string]>;
  readonly deleteContactStates: Statement<[string]>;
  readonly insertCallback: Statement<CallbackParams>;
  readonly getCallback: Statement<[string, string], CallbackRow>;
  readonly updateCallback: Statement<[string | null, string | null, string | null, string | null, string, string, string]>;
  readonly callbackByRun: Statement<[string, string], CallbackRow>;

  constructor(store: SqliteStore) {
    const db = store.db;
    this.insertChange = db.prepare(
      `INSERT INTO hubspot_sync_changes (${CHANGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    );
    // Index order (status, next_attempt_at, position): no sort however long the backlog.
    this.dueChanges = db.prepare(
      `SELECT ${CHANGE_COLUMNS} FROM hubspot_sync_changes WHERE status = 'pending' AND next_attempt_at <= ?
       ORDER BY next_attempt_at, position, target`,
    );
    this.updateChange = db.prepare(
      `UPDATE hubspot_sync_changes SET status = ?, payload = ?, attempts = ?, next_attempt_at = ?, last_error = ?, updated_at = ?
       WHERE position = ? AND target = ?`,
    );
    this.deleteChange = db.prepare('DELETE FROM hubspot_sync_changes WHERE position = ? AND target = ?');
    this.deferChange = db.prepare('UPDATE hubspot_sync_changes SET next_attempt_at = ? WHERE position = ? AND target = ?');
    this.oldestPending = db.prepare(
      `SELECT ${CHANGE_COLUMNS} FROM hubspot_sync_changes WHERE workspace_id = ? AND status = 'pending' ORDER BY position LIMIT 1`,
    );
    this.deadChanges = db.prepare(
      `SELECT ${CHANGE_COLUMNS} FROM hubspot_sync_changes WHERE workspace_id = ? AND status = 'dead' ORDER BY position DESC LIMIT ?`,
    );
    this.deadChangesAfter = db.prepare(
      `SELECT ${CHANGE_COLUMNS} FROM hubspot_sync_changes WHERE workspace_id = ? AND status = 'dead' AND (position > ? OR (position = ? AND target > ?))
       ORDER BY position, target LIMIT ?`,
    );
    // By the workspace's rows of one status (hubspot_sync_changes_workspace): an operator's request, looked up rarely.
    this.changeOfEvent = db.prepare(
      `SELECT ${CHANGE_COLUMNS} FROM hubspot_sync_changes WHERE workspace_id = ? AND status = ? AND event_id = ? AND target = ? LIMIT 1`,
    );
    this.heldChanges = db.prepare(
      `SELECT position, target, contact_id FROM hubspot_sync_changes WHERE workspace_id = ? AND status = 'pending' AND last_error = ? AND next_attempt_at > ?`,
    );
    // No index by contact: erasure is rare and admin-initiated, so it walks the workspace's rows
    // (hubspot_sync_changes_workspace) rather than every row written paying for another index page.
    this.contactChanges = db.prepare(
      `SELECT ${CHANGE_COLUMNS} FROM hubspot_sync_changes WHERE workspace_id = ? AND contact_id = ? ORDER BY position, target`,
    );
    this.getContactState = db.prepare('SELECT state FROM hubspot_contact_state WHERE workspace_id = ? AND contact_id = ?');
    this.putContactState = db.prepare(
      `INSERT INTO hubspot_contact_state (workspace_id, contact_id, state, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (workspace_id, contact_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
    );
    this.deleteContactStates = db.prepare('DELETE FROM hubspot_contact_state WHERE workspace_id = ?');
    this.insertCallback = db.prepare(`INSERT INTO hubspot_callbacks (${CALLBACK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`);
    this.getCallback = db.prepare(`SELECT ${CALLBACK_COLUMNS} FROM hubspot_callbacks WHERE workspace_id = ? AND callback_id = ?`);
    this.updateCallback = db.prepare(
      'UPDATE hubspot_callbacks SET contact_id = ?, run_id = ?, response = ?, outcome = ?, updated_at = ? WHERE workspace_id = ? AND callback_id = ?',
    );
    this.callbackByRun = db.prepare(`SELECT ${CALLBACK_COLUMNS} FROM hubspot_callbacks WHERE workspace_id = ? AND run_id = ? LIMIT 1`);
  }
}

class PausedStatements {
  readonly get: Statement<[string, string], PausedRow>;
  readonly put: Statement<[string, string, string, string | null, number, string, string, string]>;
  readonly workspaces: Statement<[], string>;
  readonly oldestNoted: Statement<[string], string | null>;
  readonly oldest: Statement<[string, number], PausedRow>;
  readonly remove: Statement<[string, string]>;

  constructor(db: Database) {
    const columns = 'workspace_id, contact_id, properties, email_subscription, position, event_id, noted_at, updated_at';
    this.get = db.prepare(`SELECT ${columns} FROM ${PAUSED_TABLE} WHERE workspace_id = ? AND contact_id = ?`);
    this.put = db.prepare(
      `INSERT INTO ${PAUSED_TABLE} (${columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (workspace_id, contact_id) DO UPDATE SET properties = excluded.properties, email_subscription = excluded.email_subscription,
         position = excluded.position, event_id = excluded.event_id, noted_at = excluded.noted_at, updated_at = excluded.updated_at`,
    );
    // Read by the status route only: a scan of the workspace's paused contacts (its primary-key range).
    this.oldestNoted = db.prepare<[string], string | null>(`SELECT MIN(COALESCE(noted_at, updated_at)) FROM ${PAUSED_TABLE} WHERE workspace_id = ?`).pluck();
    this.workspaces = db.prepare<[], string>(`SELECT DISTINCT workspace_id FROM ${PAUSED_TABLE} ORDER BY workspace_id`).pluck();
    this.oldest = db.prepare(`SELECT ${columns} FROM ${PAUSED_TABLE} WHERE workspace_id = ? ORDER BY position, contact_id LIMIT ?`);
    this.remove = db.prepare(`DELETE FROM ${PAUSED_TABLE} WHERE workspace_id = ? AND contact_id = ?`);
  }
}

function toChange(row: ChangeRow): SyncChange {
  return {
    position: row.position,
    target: TargetSchema.parse(row.target),
    workspaceId: row.workspace_id,
    eventId: row.event_id,
    contactId: row.contact_id,
    payload: ChangePayloadSchema.parse(JSON.parse(row.payload)),
    occurredAt: row.occurred_at,
    status: StatusSchema.parse(row.status),
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastError: row.last_error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toCallback(row: CallbackRow): CallbackRecord {
  return {
    callbackId: row.callback_id,
    workspaceId: row.workspace_id,
    action: row.action,
    contactId: row.contact_id,
    runId: row.run_id,
    response: row.response === null ? null : ResponseSchema.parse(JSON.parse(row.response)),
    outcome: row.outcome,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function parseContactState(text: string): ContactSyncState {
  return ContactSyncStateSchema.parse(JSON.parse(text));
}

export class SqliteHubSpotState implements HubSpotState {
  private readonly s: Statements;
  private readonly readers = new WeakMap<Database, HubSpotStateReader>();
  private readonly paused: PausedStatements;
  /** The same counts as a read's, on the writer's connection. */
  private readonly counters: HubSpotStateReader;

  constructor(private readonly store: SqliteStore) {
    this.s = new Statements(store);
    this.paused = new PausedStatements(store.db);
    this.counters = countersOn(store.db);
  }

  transaction<T>(work: (state: HubSpotStateTx, tx: StoreTx) => Promise<T>): Promise<T> {
    return this.store.transaction((tx) => work(this.tx, tx));
  }

  /** A file's reads run on the store's read-only connection: the statements are prepared there, once. */
  read<T>(work: (state: HubSpotStateReader, tx: StoreTx) => Promise<T>): Promise<T> {
    return this.store.readWith((tx, db) => {
      let reader = this.readers.get(db);
      if (reader === undefined) {
        reader = countersOn(db);
        this.readers.set(db, reader);
      }
      return work(reader, tx);
    });
  }

  private readonly tx: HubSpotStateTx = {
    insertChanges: async (changes) => {
      for (const c of changes) {
        this.s.insertChange.run(
          c.position,
          c.target,
          c.workspaceId,
          c.eventId,
          c.contactId,
          JSON.stringify(c.payload),
          c.occurredAt,
          c.status,
          c.attempts,
          c.nextAttemptAt,
          c.lastError,
          c.createdAt,
          c.updatedAt,
        );
      }
    },
    listDueChanges: async (now, limit, skip) => {
      const found: SyncChange[] = [];
      if (limit <= 0) return found;
      // Rows in flight come first in index order: stepping over them costs no parsing.
      for (const row of this.s.dueChanges.iterate(now)) {
        const target = TargetSchema.parse(row.target);
        if (skip?.({ position: row.position, target, workspaceId: row.workspace_id, contactId: row.contact_id }) === true) continue;
        found.push(toChange(row));
        if (found.length >= limit) break;
      }
      return found;
    },
    updateChanges: async (changes) => {
      for (const c of changes) {
        this.s.updateChange.run(c.status, JSON.stringify(c.payload), c.attempts, c.nextAttemptAt, c.lastError, c.updatedAt, c.position, c.target);
      }
    },
    deleteChanges: async (keys: readonly ChangeKey[]) => {
      for (const key of keys) this.s.deleteChange.run(key.position, key.target);
    },
    deferChanges: async (keys, until) => {
      for (const key of keys) this.s.deferChange.run(until, key.position, key.target);
    },
    countChanges: (workspaceId, status) => this.counters.countChanges(workspaceId, status),
    countAllChanges: (status) => this.counters.countAllChanges(status),
    oldestPendingChange: async (workspaceId) => {
      const row = this.s.oldestPending.get(workspaceId);
      return row === undefined ? null : toChange(row);
    },
    oldestPausedAt: async (workspaceId) => this.paused.oldestNoted.get(workspaceId) ?? null,
    listDeadChanges: async (workspaceId, limit) => this.s.deadChanges.all(workspaceId, limit).map(toChange),
    listDeadChangesAfter: async (workspaceId, after, limit) =>
      this.s.deadChangesAfter.all(workspaceId, after?.position ?? -1, after?.position ?? -1, after?.target ?? '', limit).map(toChange),
    findChange: async (workspaceId, eventId, target) => {
      // Dead first: the rows an operator names are dead letters, and a workspace has few of them beside its pending ones.
      const row = this.s.changeOfEvent.get(workspaceId, 'dead', eventId, target) ?? this.s.changeOfEvent.get(workspaceId, 'pending', eventId, target);
      return row === undefined ? null : toChange(row);
    },
    releaseHeldChanges: async (workspaceId, errors, now, skip) => {
      let released = 0;
      for (const error of new Set(errors)) {
        // Read in full before any is moved: an UPDATE while iterating the same index could meet a row twice.
        for (const row of this.s.heldChanges.all(workspaceId, error, now)) {
          const key = { position: row.position, target: TargetSchema.parse(row.target) };
          if (skip?.({ ...key, workspaceId, contactId: row.contact_id }) === true) continue;
          this.s.deferChange.run(now, key.position, key.target);
          released += 1;
        }
      }
      return released;
    },
    listContactChanges: async (workspaceId, contactId) => this.s.contactChanges.all(workspaceId, contactId).map(toChange),
    getContactStates: async (workspaceId, contactIds) => {
      const found = new Map<string, ContactSyncState>();
      for (const contactId of new Set(contactIds)) {
        const row = this.s.getContactState.get(workspaceId, contactId);
        if (row !== undefined) found.set(contactId, parseContactState(row.state));
      }
      return found;
    },
    putContactState: async (workspaceId, contactId, state, at) => {
      this.s.putContactState.run(workspaceId, contactId, JSON.stringify(state), at);
    },
    deleteContactStates: async (workspaceId) => this.s.deleteContactStates.run(workspaceId).changes,
    getPausedContacts: async (workspaceId, contactIds) => {
      const found = new Map<string, PausedContact>();
      for (const contactId of new Set(contactIds)) {
        const row = this.paused.get.get(workspaceId, contactId);
        if (row !== undefined) found.set(contactId, toPaused(row));
      }
      return found;
    },
    putPausedContacts: async (contacts) => {
      for (const p of contacts) this.paused.put.run(p.workspaceId, p.contactId, JSON.stringify(p.properties), p.emailSubscription, p.position, p.eventId, p.notedAt, p.updatedAt);
    },
    listPausedWorkspaces: async () => this.paused.workspaces.all(),
    takePausedContacts: async (workspaceId, limit) => {
      if (limit <= 0) return [];
      const taken = this.paused.oldest.all(workspaceId, limit).map(toPaused);
      for (const p of taken) this.paused.remove.run(workspaceId, p.contactId);
      return taken;
    },
    claimCallback: async (record) => {
      const result = this.s.insertCallback.run(
        record.callbackId,
        record.workspaceId,
        record.action,
        record.contactId,
        record.runId,
        record.response === null ? null : JSON.stringify(record.response),
        record.outcome,
        record.createdAt,
        record.updatedAt,
      );
      if (result.changes === 1) return { record, created: true };
      const row = this.s.getCallback.get(record.workspaceId, record.callbackId);
      if (row === undefined) throw new Error(`callback ${record.callbackId} of workspace ${record.workspaceId} neither inserted nor found`);
      return { record: toCallback(row), created: false };
    },
    updateCallback: async (record) => {
      this.s.updateCallback.run(
        record.contactId,
        record.runId,
        record.response === null ? null : JSON.stringify(record.response),
        record.outcome,
        record.updatedAt,
        record.workspaceId,
        record.callbackId,
      );
    },
    getCallback: async (workspaceId, callbackId) => {
      const row = this.s.getCallback.get(workspaceId, callbackId);
      return row === undefined ? null : toCallback(row);
    },
    findCallbackByRun: async (workspaceId, runId) => {
      const row = this.s.callbackByRun.get(workspaceId, runId);
      return row === undefined ? null : toCallback(row);
    },
    pruneCallbacks: async (query) => pruneCallbacksOn(this.store.db, query),
  };
}

function isSqliteStore(store: Store): store is SqliteStore {
  return 'db' in store;
}

const states = new WeakMap<Store, HubSpotState>();

/** The connector's state for a store: in its SQLite database, or in memory beside an in-memory store. One per store, shared by routes and worker. */
export function hubSpotStateFor(store: Store): HubSpotState {
  let state = states.get(store);
  if (state === undefined) {
    state = isSqliteStore(store) ? new SqliteHubSpotState(store) : new InMemoryHubSpotState(store);
    states.set(store, state);
  }
  return state;
}

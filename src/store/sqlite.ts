import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import BetterSqlite3 from 'better-sqlite3';
import type { Database, RunResult, Statement } from 'better-sqlite3';
import type {
  Actor,
  Channel,
  ConsentRecord,
  ConsentSource,
  ConsentState,
  ConsentStatus,
  LegalBasis,
  MessagingChannel,
  Purpose,
} from '../core/consent.js';
import { oneSpellingPerTag, tagKey, type Contact, type ContactIdentity } from '../core/contact.js';
import { ConsentryError, isConsentryError, UnreadableRowError } from '../core/errors.js';
import type { ConsentryEvent, EventType, PublicEventType } from '../core/events.js';
import type { Workspace, WorkspaceSettings } from '../core/settings.js';
import type {
  ApiKeyRow,
  ConsentStateKey,
  ContactQuery,
  Conversation,
  QueuedWorkflow,
  DeliveryBacklog,
  DeliveryListQuery,
  DeliveryRow,
  DeliveryStatus,
  EventQuery,
  HookRow,
  ProcessedMessage,
  PrunedRows,
  ReadyByHookQuery,
  ResentDeadDeliveries,
  RetentionQuery,
  RunStatus,
  Store,
  StoredEvent,
  StoreProbe,
  StoreTx,
  TimerRow,
  WorkflowRunRow,
} from '../ports/store.js';
import { OUTBOUND_HOOK_PREFIX } from '../ports/store.js';
import {
  assertCanonicalTimestamp,
  assertDelivery,
  assertDeliveryStatus,
  assertLimit,
  compositeKey,
  conflict,
  notFound,
  toJsonText,
  newerId,
  retentionIdFloor,
} from './common.js';
import { BackgroundCheckpointer, type CheckpointResult } from './checkpointer.js';
import { GroupCommitter, type GroupCommitStats, type LockWait } from './group-commit.js';
import { migrate, MIGRATIONS } from './migrations.js';
import { checkReadableSchema, guardWrites, openReaderBeside, openReadOnly, type ReadOnlyConnection } from './read-only.js';

export type { CheckpointResult } from './checkpointer.js';
export type { GroupCommitStats } from './group-commit.js';
export { ReadOnlyStoreError, SchemaUpgradeNeededError, WriteInsideReadError } from './read-only.js';

export interface SqliteStoreOptions {
  /** A file path (its directory is created if missing) or `:memory:`. */
  path: string;
  /**
   * https://www.sqlite.org/pragma.html#pragma_synchronous — in WAL mode NORMAL keeps every
   * committed transaction across a process crash and may lose the last ones on power loss;
   * FULL also survives power loss, at the cost of an fsync per commit.
   */
  synchronous?: 'NORMAL' | 'FULL';
  /**
   * How long a transaction waits for another process's write lock before failing with STORE_BUSY.
   * It waits between turns of the event loop, so other requests go on meanwhile (pauseForLock).
   */
  busyTimeoutMs?: number;
  /**
   * WAL pages after which a commit folds the WAL back into the database file
   * (https://www.sqlite.org/pragma.html#pragma_wal_autocheckpoint). Each checkpoint flushes the
   * WAL and then the database file to the device (https://www.sqlite.org/wal.html#ckpt), and on
   * a virtual disk those flushes cost milliseconds whatever their size. An inbound message writes
   * about a dozen pages, so SQLite's default of 1000 would checkpoint every ~80 messages and make
   * the flushes the dearest part of a message; 8192 pages (32 MiB with 4 KiB pages) spreads them
   * over ten times as many. Durability is unchanged: a commit is in the WAL either way.
   */
  walAutocheckpointPages?: number;
  /**
   * Concurrent transactions share one COMMIT, each in a savepoint of its own (group-commit.ts);
   * every caller still gets its answer only once its writes are committed. Default true; false
   * commits every transaction alone.
   */
  groupCommit?: boolean;
  /**
   * Milliseconds on a monotonic clock, read to close a group after MAX_GROUP_AGE_MS and to tell
   * how long ago a write was refused for a full disk (probe); default `performance.now`. A clock that stands still lets a test decide which transactions share a
   * COMMIT by what it queues, whatever the machine's load.
   */
  groupCommitClock?: () => number;
  /**
   * Copy the WAL into the database file from a worker thread (checkpointer.ts), so commits do not
   * stall for checkpoints; the writer then checkpoints only the short tail left when the WAL
   * reaches `walAutocheckpointPages`. Default true for a database file; an in-memory database has
   * no WAL.
   */
  checkpointInBackground?: boolean;
  /**
   * How a transaction waits between attempts to take a write lock another connection holds
   * (group-commit.ts, LockWait), for at most `busyTimeoutMs` of `groupCommitClock`; default
   * setTimeout. A test passes a pause that only yields to the event loop.
   */
  pauseForLock?: (ms: number) => Promise<void>;
  /**
   * Default true: a missing or empty database is created. false opens only a database Consentry
   * made (for commands that read), refusing a missing file, an empty one or one without the schema.
   * Either way a database holding another application's tables is refused, not added to.
   */
  createIfMissing?: boolean;
  /**
   * Opens an existing database file for reading only (read-only.ts): nothing is ever written to
   * it, its journal mode stays as it is, no migration runs (a schema older than this build's is
   * refused with SchemaUpgradeNeededError), transactions never wait for another process's write
   * lock, and every write through a transaction fails with ReadOnlyStoreError. Implies
   * `createIfMissing: false`; not for `:memory:`.
   */
  readOnly?: boolean;
}

export type SqliteStore = Store & {
  /**
   * The connection, for statements run inside `transaction` (they commit with it). Outside a
   * transaction, use it only once every transaction has settled: a group may hold the
   * connection's transaction open for one turn of the event loop.
   */
  readonly db: Database;
  /**
   * As `read`, with the connection the read runs on, for statements of tables the store does not
   * know (a connector's own): they read the same committed snapshot, and a write through them fails.
   */
  readWith<T>(fn: (tx: StoreTx, db: Database) => Promise<T>): Promise<T>;
  /** Folds the WAL back into the database file (PRAGMA wal_checkpoint(TRUNCATE)); call between transactions. */
  checkpoint(): void;
  /**
   * Has the background checkpointer run one PASSIVE checkpoint now; null when the store
   * checkpoints on its own connection only.
   */
  backgroundCheckpoint(): Promise<CheckpointResult | null>;
  /** How many COMMITs carried how many transactions since the store was opened. */
  commitStats(): GroupCommitStats;
  /**
   * Changes whenever an API key may have changed: a key written through a transaction of this
   * store (even one later rolled back), or anything committed by another connection, another
   * process's included (https://www.sqlite.org/pragma.html#pragma_data_version). While it stays
   * the same, a key looked up earlier is still what a transaction would read.
   */
  apiKeysVersion(): string;
};

const DEFAULT_BUSY_TIMEOUT_MS = 5000;
const DEFAULT_WAL_AUTOCHECKPOINT_PAGES = 8192;
/** Bounds on a group: at most this many transactions share a COMMIT, and none joins a group older than this many ms. */
const MAX_GROUP_SIZE = 64;
const MAX_GROUP_AGE_MS = 4;

/** The highest seq a workspace's chain can reach: seq fills the low 32 bits of a record's position. */
const MAX_SEQ = 0xffffffff;

/*
 * Row shapes as the schema (STRICT tables, CHECK constraints, see migrations.ts) guarantees
 * them. JSON columns are written only by this store from values typed by the port, which the
 * edges validated before they reached it, so they are read back without validating again.
 */
interface WorkspaceRow {
  id: string;
  name: string;
  settings: string;
  created_at: string;
  updated_at: string;
}

interface ContactRow {
  workspace_id: string;
  id: string;
  name: string | null;
  email: string | null;
  phone: string | null;
  identities: string;
  fields: string;
  tags: string;
  hubspot_id: string | null;
  created_at: string;
  updated_at: string;
  erased_at: string | null;
  erased_address_guard: 0 | 1;
  erased_address_guard_identities: number | null;
}

interface ContactSideRow {
  identities: string;
  tags: string;
}

interface ConsentRecordRow {
  id: string;
  workspace_id: string;
  seq: number;
  contact_id: string;
  purpose: Purpose;
  channel: Channel;
  status: ConsentStatus;
  legal_basis: LegalBasis | null;
  explanation: string | null;
  source: ConsentSource;
  actor_kind: ActorKind;
  actor_id: string;
  evidence: string;
  evidence_digest: string;
  occurred_at: string;
  recorded_at: string;
  idempotency_key: string | null;
  prev_hash: string;
  hash: string;
}

type ActorKind = Actor['kind'];

interface ConsentStateRow {
  workspace_id: string;
  contact_id: string;
  purpose: Purpose;
  channel: Channel;
  status: ConsentStatus;
  legal_basis: LegalBasis | null;
  explanation: string | null;
  source: ConsentSource;
  occurred_at: string;
  record_id: string;
  seq: number;
}

interface ConversationRow {
  id: string;
  workspace_id: string;
  contact_id: string;
  channel: MessagingChannel;
  status: Conversation['status'];
  opened_at: string;
  closed_at: string | null;
  deferred_templates: string | null;
  queued_workflows: string | null;
}

interface RunRow {
  id: string;
  workspace_id: string;
  contact_id: string;
  conversation_id: string | null;
  channel: MessagingChannel;
  template_id: string;
  status: RunStatus;
  state: string;
  created_at: string;
  updated_at: string;
}

interface TimerDbRow {
  id: string;
  workspace_id: string;
  run_id: string;
  token: string;
  due_at: string;
}

interface ProcessedRow {
  workspace_id: string;
  channel: Channel;
  message_id: string;
  contact_id: string | null;
  response: string;
  processed_at: string;
}

interface EventRow {
  position: number;
  id: string;
  workspace_id: string;
  type: EventType;
  contact_id: string | null;
  occurred_at: string;
  version: number;
  data: string;
}

interface ApiKeyDbRow {
  id: string;
  workspace_id: string;
  name: string | null;
  prefix: string;
  hash: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

interface HookDbRow {
  id: string;
  workspace_id: string;
  api_key_id: string | null;
  target_url: string;
  event: PublicEventType | '*';
  event_filter: string | null;
  secret: string;
  subscription_id: string | null;
  created_at: string;
  deleted_at: string | null;
  deleted_reason: HookRow['deletedReason'];
}

interface DeliveryDbRow {
  id: string;
  workspace_id: string;
  hook_id: string;
  event_id: string;
  event_position: number;
  contact_id: string | null;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: string;
  last_error: string | null;
  last_status_code: number | null;
  delivered_at: string | null;
  updated_at: string;
  resent_at: string | null;
}

/** A JSON column read back; text that is no longer JSON (edited outside Consentry) is named, not thrown as a bare SyntaxError. */
function storedJson<T>(text: string, table: string, rowId: string, column: string): T {
  try {
    const value: T = JSON.parse(text);
    return value;
  } catch {
    throw new UnreadableRowError(table, rowId, column, 'is not valid JSON');
  }
}

function toWorkspace(row: WorkspaceRow): Workspace {
  const settings: WorkspaceSettings = storedJson(row.settings, 'workspaces', row.id, 'settings');
  return { id: row.id, name: row.name, settings, createdAt: row.created_at, updatedAt: row.updated_at };
}

function toContact(row: ContactRow): Contact {
  const identities: ContactIdentity[] = storedJson(row.identities, 'contacts', row.id, 'identities');
  const fields: Record<string, string> = storedJson(row.fields, 'contacts', row.id, 'fields');
  const tags: string[] = storedJson(row.tags, 'contacts', row.id, 'tags');
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    name: row.name,
    email: row.email,
    phone: row.phone,
    identities,
    fields,
    tags,
    hubspotId: row.hubspot_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    erasedAt: row.erased_at,
    ...(row.erased_address_guard === 1 ? { erasedAddressGuard: { ownIdentities: row.erased_address_guard_identities ?? 0 } } : {}),
  };
}

function toConsentRecord(row: ConsentRecordRow): ConsentRecord {
  const evidence: ConsentRecord['evidence'] = storedJson(row.evidence, 'consent_records', row.id, 'evidence');
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    contactId: row.contact_id,
    purpose: row.purpose,
    channel: row.channel,
    status: row.status,
    legalBasis: row.legal_basis,
    explanation: row.explanation,
    source: row.source,
    actor: { kind: row.actor_kind, id: row.actor_id },
    evidence,
    evidenceDigest: row.evidence_digest,
    occurredAt: row.occurred_at,
    recordedAt: row.recorded_at,
    idempotencyKey: row.idempotency_key,
    seq: row.seq,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

function toConsentState(row: ConsentStateRow): ConsentState {
  return {
    workspaceId: row.workspace_id,
    contactId: row.contact_id,
    purpose: row.purpose,
    channel: row.channel,
    status: row.status,
    legalBasis: row.legal_basis,
    explanation: row.explanation,
    source: row.source,
    occurredAt: row.occurred_at,
    recordId: row.record_id,
    seq: row.seq,
  };
}

function toConversation(row: ConversationRow): Conversation {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    contactId: row.contact_id,
    channel: row.channel,
    status: row.status,
    openedAt: row.opened_at,
    closedAt: row.closed_at,
    ...(row.deferred_templates === null ? {} : { deferredTemplates: storedJson<string[]>(row.deferred_templates, 'conversations', row.id, 'deferred_templates') }),
    ...(row.queued_workflows === null ? {} : { queuedWorkflows: storedJson<QueuedWorkflow[]>(row.queued_workflows, 'conversations', row.id, 'queued_workflows') }),
  };
}

/** A conversation's list column as stored (deferred templates, queued workflows): none, and an empty list, are NULL. */
function conversationListColumn(list: readonly unknown[] | undefined): string | null {
  return list === undefined || list.length === 0 ? null : JSON.stringify(list);
}

function toRun(row: RunRow): WorkflowRunRow {
  const state: unknown = storedJson(row.state, 'workflow_runs', row.id, 'state');
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    contactId: row.contact_id,
    conversationId: row.conversation_id,
    channel: row.channel,
    templateId: row.template_id,
    status: row.status,
    state,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toTimer(row: TimerDbRow): TimerRow {
  return { id: row.id, workspaceId: row.workspace_id, runId: row.run_id, token: row.token, dueAt: row.due_at };
}

function toProcessed(row: ProcessedRow): ProcessedMessage {
  const response: unknown = storedJson(row.response, 'processed_messages', `${row.channel}:${row.message_id}`, 'response');
  return {
    workspaceId: row.workspace_id,
    channel: row.channel,
    messageId: row.message_id,
    contactId: row.contact_id,
    response,
    processedAt: row.processed_at,
  };
}

function toEvent(row: EventRow): StoredEvent {
  const data: ConsentryEvent['data'] = storedJson(row.data, 'events', row.id, 'data');
  return {
    id: row.id,
    type: row.type,
    version: row.version,
    workspaceId: row.workspace_id,
    occurredAt: row.occurred_at,
    contactId: row.contact_id,
    data,
    position: row.position,
  };
}

function toApiKey(row: ApiKeyDbRow): ApiKeyRow {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    name: row.name,
    prefix: row.prefix,
    hash: row.hash,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

function toHook(row: HookDbRow): HookRow {
  const filter: Record<string, string> | null = row.event_filter === null ? null : storedJson(row.event_filter, 'hooks', row.id, 'event_filter');
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    apiKeyId: row.api_key_id,
    targetUrl: row.target_url,
    event: row.event,
    filter,
    secret: row.secret,
    subscriptionId: row.subscription_id,
    createdAt: row.created_at,
    deletedAt: row.deleted_at,
    deletedReason: row.deleted_reason,
  };
}

function toDelivery(row: DeliveryDbRow): DeliveryRow {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    hookId: row.hook_id,
    eventId: row.event_id,
    eventPosition: row.event_position,
    contactId: row.contact_id,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastError: row.last_error,
    lastStatusCode: row.last_status_code,
    deliveredAt: row.delivered_at,
    updatedAt: row.updated_at,
    resentAt: row.resent_at,
  };
}

function identitiesJson(identities: readonly ContactIdentity[]): string {
  return JSON.stringify(identities.map((identity) => ({ channel: identity.channel, externalId: identity.externalId })));
}

function identityKey(identity: ContactIdentity): string {
  return compositeKey(identity.channel, identity.externalId);
}

/** Maps SQLite constraint failures to the port's coded errors; anything else passes through. */
function translateConstraint(error: unknown, what: string): unknown {
  if (isConsentryError(error) || !(error instanceof BetterSqlite3.SqliteError)) return error;
  if (error.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || error.code === 'SQLITE_CONSTRAINT_UNIQUE') {
    return conflict(`${what}: ${error.message}`);
  }
  if (error.code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
    return notFound(`${what}: a row it refers to does not exist`);
  }
  if (error.code === 'SQLITE_CONSTRAINT_CHECK') {
    return new ConsentryError('VALIDATION_FAILED', `${what}: ${error.message}`);
  }
  return error;
}

/** Runs a write; a constraint it breaks comes back as the port's coded error naming `what`. */
function write<P extends unknown[]>(statement: Statement<P>, what: string, ...params: P): RunResult {
  try {
    return statement.run(...params);
  } catch (error) {
    throw translateConstraint(error, what);
  }
}

const WORKSPACE_COLUMNS = 'id, name, settings, created_at, updated_at';
const CONTACT_COLUMNS =
  'workspace_id, id, name, email, phone, identities, fields, tags, hubspot_id, created_at, updated_at, erased_at, erased_address_guard, erased_address_guard_identities';
const CONTACT_COLUMNS_C = CONTACT_COLUMNS.split(', ')
  .map((column) => `c.${column}`)
  .join(', ');
const RECORD_COLUMNS =
  'id, workspace_id, seq, contact_id, purpose, channel, status, legal_basis, explanation, source, actor_kind, actor_id, ' +
  'evidence, evidence_digest, occurred_at, recorded_at, idempotency_key, prev_hash, hash';
const STATE_COLUMNS =
  'workspace_id, contact_id, purpose, channel, status, legal_basis, explanation, source, occurred_at, record_id, seq';
const CONVERSATION_COLUMNS = 'id, workspace_id, contact_id, channel, status, opened_at, closed_at, deferred_templates, queued_workflows';
const RUN_COLUMNS =
  'id, workspace_id, contact_id, conversation_id, channel, template_id, status, state, created_at, updated_at';
/** A run's timer, read from the run's row under the names of a timer row. */
const TIMER_COLUMNS = 'timer_id AS id, workspace_id, id AS run_id, timer_token AS token, timer_due_at AS due_at';
const PROCESSED_COLUMNS = 'workspace_id, channel, message_id, contact_id, response, processed_at';
const EVENT_COLUMNS = 'position, id, workspace_id, type, contact_id, occurred_at, version, data';
const API_KEY_COLUMNS = 'id, workspace_id, name, prefix, hash, created_at, last_used_at, revoked_at';
const HOOK_COLUMNS = 'id, workspace_id, api_key_id, target_url, event, event_filter, secret, subscription_id, created_at, deleted_at, deleted_reason';
const DELIVERY_COLUMNS =
  'id, workspace_id, hook_id, event_id, event_position, contact_id, status, attempts, next_attempt_at, last_error, ' +
  'last_status_code, delivered_at, updated_at, resent_at';
const DELIVERY_COLUMNS_D = DELIVERY_COLUMNS.split(', ')
  .map((column) => `d.${column}`)
  .join(', ');

/**
 * The INSERT and the UPDATE of a workspace-scoped row, both with named parameters (`@column`),
 * so that one parameter object, built once per row type, serves both.
 */
function insertNamedSql(table: string, columns: string): string {
  const names = columns.split(', ');
  return `INSERT INTO ${table} (${columns}) VALUES (${names.map((name) => `@${name}`).join(', ')})`;
}

function updateNamedSql(table: string, columns: string): string {
  const set = columns
    .split(', ')
    .filter((name) => name !== 'id' && name !== 'workspace_id')
    .map((name) => `${name} = @${name}`)
    .join(', ');
  return `UPDATE ${table} SET ${set} WHERE workspace_id = @workspace_id AND id = @id`;
}

type ApiKeyParams = Record<'id' | 'workspace_id' | 'name' | 'prefix' | 'hash' | 'created_at' | 'last_used_at' | 'revoked_at', string | null>;

function apiKeyParams(key: ApiKeyRow): ApiKeyParams {
  return {
    id: key.id,
    workspace_id: key.workspaceId,
    name: key.name ?? null,
    prefix: key.prefix,
    hash: key.hash,
    created_at: key.createdAt,
    last_used_at: key.lastUsedAt ?? null,
    revoked_at: key.revokedAt ?? null,
  };
}

type HookParams = Record<
  'id' | 'workspace_id' | 'api_key_id' | 'target_url' | 'event' | 'event_filter' | 'secret' | 'subscription_id' | 'created_at' | 'deleted_at' | 'deleted_reason',
  string | null
>;

function hookParams(hook: HookRow): HookParams {
  return {
    id: hook.id,
    workspace_id: hook.workspaceId,
    api_key_id: hook.apiKeyId ?? null,
    target_url: hook.targetUrl,
    event: hook.event,
    event_filter: hook.filter === null || hook.filter === undefined ? null : toJsonText(hook.filter),
    secret: hook.secret,
    subscription_id: hook.subscriptionId ?? null,
    created_at: hook.createdAt,
    deleted_at: hook.deletedAt ?? null,
    deleted_reason: hook.deletedReason ?? null,
  };
}

type DeliveryParams = Record<
  | 'id'
  | 'workspace_id'
  | 'hook_id'
  | 'event_id'
  | 'event_position'
  | 'contact_id'
  | 'status'
  | 'attempts'
  | 'next_attempt_at'
  | 'last_error'
  | 'last_status_code'
  | 'delivered_at'
  | 'updated_at'
  | 'resent_at',
  string | number | null
>;

function deliveryParams(delivery: DeliveryRow): DeliveryParams {
  return {
    id: delivery.id,
    workspace_id: delivery.workspaceId,
    hook_id: delivery.hookId,
    event_id: delivery.eventId,
    event_position: delivery.eventPosition,
    contact_id: delivery.contactId ?? null,
    status: delivery.status,
    attempts: delivery.attempts,
    next_attempt_at: delivery.nextAttemptAt,
    last_error: delivery.lastError ?? null,
    last_status_code: delivery.lastStatusCode ?? null,
    delivered_at: delivery.deliveredAt ?? null,
    updated_at: delivery.updatedAt,
    resent_at: delivery.resentAt ?? null,
  };
}

/** A contact lookup by one column, lowest id first; exported so a test can check its plan. */
export function findContactSql(column: 'email' | 'phone' | 'hubspot_id'): string {
  return `SELECT ${CONTACT_COLUMNS} FROM contacts WHERE workspace_id = ? AND ${column} = ? ORDER BY id LIMIT 1`;
}

/**
 * A workspace's newest record, and its chain in order after a seq: both read one run of
 * consent_records' rowid (see migrations.ts). `+workspace_id` re-checks the workspace without
 * letting the planner prefer an index on it. Exported so a test can check their plans.
 */
export const LAST_RECORD_SQL = `SELECT ${RECORD_COLUMNS} FROM consent_records
  WHERE position > (? << 32) AND position <= ((? << 32) | 4294967295) AND +workspace_id = ?
  ORDER BY position DESC LIMIT 1`;
export const LIST_RECORDS_SQL = `SELECT ${RECORD_COLUMNS} FROM consent_records
  WHERE position > ((? << 32) | ?) AND position <= ((? << 32) | 4294967295) AND +workspace_id = ?
  ORDER BY position LIMIT ?`;

/**
 * Erasure's reads, exported so a test can check their plans. Neither has an index of its own:
 * erasure is rare and admin-initiated, and an index would cost a written page on every inbound
 * message or run started (an index of runs by contact cost about a tenth of a workflow message's
 * throughput, measured side by side; see migrations.ts). A contact's stored answers are found by
 * walking the workspace's prefix of processed_messages_key, in that index's order; a contact's
 * runs of any status by scanning workflow_runs (its one index by contact covers active runs only).
 */
export const PROCESSED_OF_CONTACT_SQL = `SELECT ${PROCESSED_COLUMNS} FROM processed_messages
  WHERE workspace_id = ? AND contact_id = ? ORDER BY channel, message_id`;
export const RUNS_OF_CONTACT_SQL = `SELECT ${RUN_COLUMNS} FROM workflow_runs
  WHERE workspace_id = ? AND contact_id = ? ORDER BY created_at, id`;

/** The due-timer query; exported so a test can check its plan uses the due-time index. */
export const DUE_TIMERS_SQL = `SELECT ${TIMER_COLUMNS} FROM workflow_runs r
  WHERE r.timer_due_at <= ? ORDER BY r.timer_due_at, r.id LIMIT ?`;
/** One contact's due timers on a channel, read through workflow_runs_active; exported so a test can check its plan. */
export const DUE_TIMERS_OF_CONTACT_SQL = `SELECT ${TIMER_COLUMNS} FROM workflow_runs
  WHERE workspace_id = ? AND contact_id = ? AND channel = ? AND status = 'active' AND timer_due_at <= ?
  ORDER BY timer_due_at, id`;

/**
 * The next hook after a given id that has a pending delivery, and one hook's ready deliveries in
 * send order: together they visit the hooks with work one index seek each, and read each hook's
 * rows in order from deliveries_pending_hook_due. A pending row is ready when it is due and no
 * pending row of the same hook and contact has a lower event position: each candidate costs one
 * probe of the pending-sequence index. `contact_id = contact_id` is never true for NULL, so rows
 * without a contact wait for nothing. Both name that index
 * (https://www.sqlite.org/lang_indexedby.html): without statistics the planner prefers
 * deliveries_status_due, which means sorting every pending row for the first query and walking
 * every hook's due rows for the second. Exported so a test can check their plans.
 */
export const NEXT_PENDING_HOOK_SQL = `SELECT hook_id FROM deliveries INDEXED BY deliveries_pending_hook_due
  WHERE status = 'pending' AND hook_id > ? ORDER BY hook_id LIMIT 1`;
export const READY_OF_HOOK_SQL = `SELECT ${DELIVERY_COLUMNS_D} FROM deliveries d INDEXED BY deliveries_pending_hook_due
  WHERE d.status = 'pending' AND d.hook_id = ? AND d.next_attempt_at <= ?
    AND NOT EXISTS (
      SELECT 1 FROM deliveries e
      WHERE e.status = 'pending' AND e.hook_id = d.hook_id AND e.contact_id = d.contact_id
        AND e.event_position < d.event_position
    )
  ORDER BY d.next_attempt_at, d.event_position, d.id
  LIMIT ?`;

/**
 * The backlog for /metrics: SQLite keeps no row counts, so counting walks the status's range of
 * deliveries_status_due (index entries only; the minimum position comes from the same walk), and
 * the oldest pending event is then one primary-key read. A scrape every few seconds affords it.
 */
export const PENDING_BACKLOG_SQL = `SELECT count(*) AS count, min(event_position) AS oldest FROM deliveries
  WHERE status = 'pending'`;

/**
 * The dead deliveries of deleted hooks, read hook by hook from deliveries_dead (the status is
 * written into the SQL for the partial index): CROSS JOIN keeps hooks the outer loop
 * (https://www.sqlite.org/optoverview.html#crossjoin), so a scrape costs the hooks and their dead
 * letters, not every dead letter of the store. Exported so a test can check its plan.
 */
export const UNSUBSCRIBED_BACKLOG_SQL = `SELECT count(*) AS count FROM hooks CROSS JOIN deliveries ON deliveries.hook_id = hooks.id
  WHERE hooks.deleted_at IS NOT NULL AND deliveries.status = 'dead'`;

/**
 * Whether the deliveries row `d` is a reply to the outbound webhook whose contact was erased
 * (DeliveryBacklog's `erased`): one primary-key read of the contact, made only for a row of an
 * outbound webhook (a hook's rows fail the first test).
 */
function replyToErasedContact(d: string): string {
  return `${d}.hook_id = '${OUTBOUND_HOOK_PREFIX}' || ${d}.workspace_id AND EXISTS (
      SELECT 1 FROM contacts
      WHERE contacts.workspace_id = ${d}.workspace_id AND contacts.id = ${d}.contact_id AND contacts.erased_at IS NOT NULL
    )`;
}

/**
 * The dead replies to erased contacts, read workspace by workspace from the outbound webhook's
 * range of deliveries_dead, each row's contact by primary key: a scrape costs the outbound
 * webhooks' dead letters, not every dead letter of the store. Exported so a test can check its plan.
 */
export const ERASED_BACKLOG_SQL = `SELECT count(*) AS count FROM workspaces
  CROSS JOIN deliveries INDEXED BY deliveries_dead ON deliveries.hook_id = '${OUTBOUND_HOOK_PREFIX}' || workspaces.id
  CROSS JOIN contacts ON contacts.workspace_id = workspaces.id AND contacts.id = deliveries.contact_id
  WHERE deliveries.status = 'dead' AND deliveries.workspace_id = workspaces.id AND contacts.erased_at IS NOT NULL`;

/**
 * Closes a contact's pending replies to its workspace's outbound webhook (an erasure), read from
 * deliveries_pending_sequence by hook and contact: the contact's rows, not the webhook's backlog.
 * Exported so a test can check its plan.
 */
export const ABANDON_REPLIES_SQL = `UPDATE deliveries SET status = 'dead', last_error = ?, updated_at = ?
  WHERE hook_id = '${OUTBOUND_HOOK_PREFIX}' || ? AND workspace_id = ? AND contact_id = ? AND status = 'pending'`;

/**
 * The live hooks a key created, read from the workspace's live hooks in hooks_live: hooks are few,
 * and a revocation is rare, so the key column has no index of its own to write on every
 * subscription. Exported so a test can check its plan.
 */
export const LIVE_HOOKS_OF_API_KEY_SQL = `SELECT ${HOOK_COLUMNS} FROM hooks INDEXED BY hooks_live
  WHERE workspace_id = ? AND deleted_at IS NULL AND api_key_id = ? ORDER BY created_at, id`;

/**
 * A hook's deliveries, newest event (highest ULID) first, after a cursor's event when
 * `beforeEvent`; exported so a test can check its plan. The status is written into the SQL, not
 * bound: SQLite uses a partial index only for a query whose WHERE names its condition
 * (https://www.sqlite.org/partialindex.html), and dead letters are read from deliveries_dead.
 */
export function listDeliveriesSql(status: DeliveryStatus | undefined, beforeEvent: boolean): string {
  return (
    `SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE hook_id = ? AND workspace_id = ?` +
    (status === undefined ? '' : ` AND status = '${status}'`) +
    (beforeEvent ? ' AND event_id < ?' : '') +
    ' ORDER BY event_id DESC LIMIT ?'
  );
}

type DeliveryListKey = `${DeliveryStatus | 'any'}:${'first' | 'before'}`;

function deliveryListKey(status: DeliveryStatus | undefined, beforeEvent: boolean): DeliveryListKey {
  return `${status ?? 'any'}:${beforeEvent ? 'before' : 'first'}`;
}

/**
 * A hook's dead letters back to pending, oldest event first, read from deliveries_dead, and
 * whether any that could be sent again are left; replies to erased contacts are never sent again.
 * Exported so a test can check their plans.
 */
export const RESEND_DEAD_SQL = `UPDATE deliveries
  SET status = 'pending', attempts = 0, next_attempt_at = @at, resent_at = @at, updated_at = @at
  WHERE id IN (
    SELECT d.id FROM deliveries d WHERE d.hook_id = @hook_id AND d.workspace_id = @workspace_id AND d.status = 'dead'
      AND NOT (${replyToErasedContact('d')})
    ORDER BY d.event_id LIMIT @limit
  )`;
export const MORE_DEAD_SQL = `SELECT EXISTS (
    SELECT 1 FROM deliveries d WHERE d.hook_id = @hook_id AND d.workspace_id = @workspace_id AND d.status = 'dead'
      AND NOT (${replyToErasedContact('d')})
  ) AS more`;

/** Every statement is prepared once per open database and reused by every transaction. */
// Retention (pruneExpired). Stored answers are appended in processing order, so the oldest are
// at the lowest rowids.
export const PROCESSED_HEAD_SQL = 'SELECT rowid AS row, processed_at FROM processed_messages ORDER BY rowid LIMIT ?';
/** Reads as many index entries as deliveries are pending, not the delivered and dead ones. */
export const OLDEST_PENDING_POSITION_SQL = "SELECT min(event_position) AS position FROM deliveries WHERE status = 'pending'";
export const EVENTS_HEAD_SQL = 'SELECT position, id FROM events WHERE position <= ? ORDER BY position LIMIT ?';
export const DELETE_DELIVERIES_THROUGH_SQL = 'DELETE FROM deliveries WHERE event_position <= ?';
/**
 * In id order below the floor: once expired runs are gone, what is left there is only the runs
 * still active or updated since, so a pass reads few rows that it keeps.
 */
export const DELETE_FINISHED_RUNS_SQL = `DELETE FROM workflow_runs WHERE id IN (
  SELECT id FROM workflow_runs WHERE id < :ids_before AND status <> 'active' AND updated_at < :before ORDER BY id LIMIT :limit)`;

class Statements {
  readonly begin: Statement<[]>;
  readonly commit: Statement<[]>;
  readonly rollback: Statement<[]>;
  readonly savepoint: Statement<[]>;
  readonly releaseSavepoint: Statement<[]>;
  readonly rollbackToSavepoint: Statement<[]>;
  readonly dataVersion: Statement<[], { data_version: number }>;
  readonly newestEventId: Statement<[string], string | null>;
  readonly newestContactId: Statement<[string], string | null>;
  readonly pageCount: Statement<[], number>;
  readonly schemaVersion: Statement<[], number | null>;

  readonly insertWorkspace: Statement<[string, string, string, string, string]>;
  readonly getWorkspace: Statement<[string], WorkspaceRow>;
  readonly listWorkspaces: Statement<[], WorkspaceRow>;
  readonly updateWorkspace: Statement<[string | null, string | null, string, string]>;

  readonly insertContact: Statement<
    [string, string, string | null, string | null, string | null, string, string, string, string | null, string, string, string | null, 0 | 1, number | null]
  >;
  readonly updateContact: Statement<
    [string | null, string | null, string | null, string, string, string, string | null, string, string, string | null, 0 | 1, number | null, string, string]
  >;
  readonly getContact: Statement<[string, string], ContactRow>;
  readonly getContactSides: Statement<[string, string], ContactSideRow>;
  readonly findContactByIdentity: Statement<[string, string, string], ContactRow>;
  readonly findContactByEmail: Statement<[string, string], ContactRow>;
  readonly findContactByPhone: Statement<[string, string], ContactRow>;
  readonly findContactByHubspotId: Statement<[string, string], ContactRow>;
  readonly addErasedAddress: Statement<[string, string]>;
  readonly findErasedAddress: Statement<[string, string], { digest: string }>;
  readonly removeErasedAddress: Statement<[string, string]>;
  readonly identityOwner: Statement<[string, string, string], { contact_id: string }>;
  readonly insertIdentity: Statement<[string, string, string, string]>;
  readonly deleteIdentity: Statement<[string, string, string, string]>;
  readonly insertTag: Statement<[string, string, string]>;
  readonly deleteTag: Statement<[string, string, string]>;
  readonly firstTag: Statement<[string], { tag: string }>;
  readonly nextTag: Statement<[string, string], { tag: string }>;

  readonly workspaceNumber: Statement<[string], { number: number }>;
  readonly lastConsentRecord: Statement<[number, number, string], ConsentRecordRow>;
  readonly appendConsentRecord: Statement<
    [
      number, number,
      string, string, number, string, string, string, string, string | null, string | null, string, string, string,
      string, string, string, string, string | null, string, string,
    ]
  >;
  readonly findConsentRecordByIdempotencyKey: Statement<[string, string], ConsentRecordRow>;
  readonly listConsentRecords: Statement<[number, number, number, string, number], ConsentRecordRow>;
  readonly listContactConsentRecords: Statement<[string, string, number, number], ConsentRecordRow>;
  readonly redactConsentEvidence: Statement<[string, string, string]>;
  readonly upsertConsentState: Statement<
    [string, string, string, string, string, string | null, string | null, string, string, string, number]
  >;
  readonly getConsentStates: Statement<[string, string], ConsentStateRow>;
  readonly getConsentState: Statement<[string, string, string, string], ConsentStateRow>;
  readonly listConsentStates: Statement<[string, number], ConsentStateRow>;
  readonly listConsentStatesAfter: Statement<[string, string, string, string, number], ConsentStateRow>;

  readonly insertConversation: Statement<[string, string, string, string, string, string, string | null, string | null, string | null]>;
  readonly updateConversation: Statement<[string, string, string, string, string | null, string | null, string | null, string, string]>;
  readonly getConversation: Statement<[string, string], ConversationRow>;
  readonly getOpenConversation: Statement<[string, string, string], ConversationRow>;

  readonly insertRun: Statement<[string, string, string, string | null, string, string, string, string, string, string]>;
  readonly updateRun: Statement<[string, string | null, string, string, string, string, string, string, string, string]>;
  readonly updateRunProgress: Statement<[string | null, string, string, string, string, string, string, string, string, string]>;
  readonly getRun: Statement<[string, string], RunRow>;
  readonly listActiveRuns: Statement<[string, string], RunRow>;
  readonly listActiveRunsOnChannel: Statement<[string, string, string], RunRow>;
  readonly listRunsOfContact: Statement<[string, string], RunRow>;
  readonly setTimer: Statement<[string, string, string, string, string]>;
  readonly deleteTimer: Statement<[string]>;
  readonly getTimer: Statement<[string], TimerDbRow>;
  readonly listDueTimers: Statement<[string, number], TimerDbRow>;
  readonly listDueTimersOfContact: Statement<[string, string, string, string], TimerDbRow>;
  readonly countTimers: Statement<[], { count: number }>;

  readonly getProcessedMessage: Statement<[string, string, string], ProcessedRow>;
  readonly saveProcessedMessage: Statement<[string, string, string, string | null, string, string]>;
  readonly listProcessedMessagesOfContact: Statement<[string, string], ProcessedRow>;
  readonly replaceProcessedResponse: Statement<[string, string, string, string]>;

  readonly appendEvent: Statement<[string, string, string, string | null, string, number, string]>;
  readonly replaceEventData: Statement<[string, string, string]>;
  readonly getEvent: Statement<[string, string], EventRow>;
  readonly listEventsAfter: Statement<[number, number], EventRow>;

  readonly insertApiKey: Statement<[ApiKeyParams]>;
  readonly findApiKeyByHash: Statement<[string], ApiKeyDbRow>;
  readonly listApiKeys: Statement<[], ApiKeyDbRow>;
  readonly listWorkspaceApiKeys: Statement<[string], ApiKeyDbRow>;
  readonly getApiKey: Statement<[string], ApiKeyDbRow>;
  readonly updateApiKey: Statement<[ApiKeyParams]>;

  readonly insertHook: Statement<[HookParams]>;
  readonly getHook: Statement<[string, string], HookDbRow>;
  readonly listHooks: Statement<[string], HookDbRow>;
  readonly listAllLiveHooks: Statement<[], HookDbRow>;
  readonly listLiveHooksOfApiKey: Statement<[string, string], HookDbRow>;
  readonly updateHook: Statement<[HookParams]>;

  readonly insertDelivery: Statement<[DeliveryParams]>;
  readonly updateDelivery: Statement<[DeliveryParams]>;
  readonly getDelivery: Statement<[string, string], DeliveryDbRow>;
  /** By status (`any` for every one) and whether the page starts after a cursor's event. */
  readonly listDeliveries: Readonly<Record<DeliveryListKey, Statement<(string | number)[], DeliveryDbRow>>>;
  readonly resendDeadDeliveries: Statement<[{ at: string; hook_id: string; workspace_id: string; limit: number }]>;
  readonly moreDeadDeliveries: Statement<[{ hook_id: string; workspace_id: string }], { more: 0 | 1 }>;
  readonly abandonDeliveries: Statement<[string, string, string]>;
  readonly abandonReplies: Statement<[string, string, string, string, string]>;
  readonly countDeliveries: Statement<[string], { count: number }>;
  readonly nextPendingHook: Statement<[string], { hook_id: string }>;
  readonly readyOfHook: Statement<[string, string, number], DeliveryDbRow>;
  readonly pendingBacklog: Statement<[], { count: number; oldest: number | null }>;
  readonly unsubscribedBacklog: Statement<[], { count: number }>;
  readonly erasedBacklog: Statement<[], { count: number }>;
  readonly occurredAtOfPosition: Statement<[number], { occurred_at: string }>;

  readonly processedHead: Statement<[number], { row: number; processed_at: string }>;
  readonly deleteProcessedThrough: Statement<[number]>;
  readonly newestEventPosition: Statement<[], { position: number | null }>;
  readonly oldestPendingEventPosition: Statement<[], { position: number | null }>;
  readonly eventsHead: Statement<[number, number], { position: number; id: string }>;
  readonly deleteDeliveriesThrough: Statement<[number]>;
  readonly deleteEventsThrough: Statement<[number]>;
  readonly deleteFinishedRuns: Statement<[{ ids_before: string; before: string; limit: number }]>;

  readonly getMeta: Statement<[string], { value: string }>;
  readonly setMeta: Statement<[string, string]>;

  /** Queries whose text depends on which filters are present, prepared on first use of each shape. */
  private readonly contactQueries = new Map<string, Statement<unknown[], ContactRow>>();
  private readonly eventQueries = new Map<string, Statement<unknown[], EventRow>>();

  constructor(private readonly db: Database) {
    this.begin = db.prepare('BEGIN IMMEDIATE');
    this.commit = db.prepare('COMMIT');
    this.rollback = db.prepare('ROLLBACK');
    this.savepoint = db.prepare('SAVEPOINT grouped_transaction');
    this.releaseSavepoint = db.prepare('RELEASE grouped_transaction');
    this.rollbackToSavepoint = db.prepare('ROLLBACK TO grouped_transaction');
    this.dataVersion = db.prepare('PRAGMA data_version');
    // One index entry each: events_workspace_id and the contacts' primary key lead with the workspace.
    this.newestEventId = db.prepare<[string], string | null>('SELECT max(id) FROM events WHERE workspace_id = ?').pluck();
    this.newestContactId = db.prepare<[string], string | null>('SELECT max(id) FROM contacts WHERE workspace_id = ?').pluck();
    this.pageCount = db.prepare<[], number>('PRAGMA page_count').pluck();
    this.schemaVersion = db.prepare<[], number | null>('SELECT max(version) FROM schema_migrations').pluck();

    this.insertWorkspace = db.prepare(`INSERT INTO workspaces (${WORKSPACE_COLUMNS}) VALUES (?, ?, ?, ?, ?)`);
    this.getWorkspace = db.prepare(`SELECT ${WORKSPACE_COLUMNS} FROM workspaces WHERE id = ?`);
    this.listWorkspaces = db.prepare(`SELECT ${WORKSPACE_COLUMNS} FROM workspaces ORDER BY id`);
    this.updateWorkspace = db.prepare(
      'UPDATE workspaces SET name = coalesce(?, name), settings = coalesce(?, settings), updated_at = ? WHERE id = ?',
    );

    this.insertContact = db.prepare(
      `INSERT INTO contacts (${CONTACT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.updateContact = db.prepare(
      `UPDATE contacts SET name = ?, email = ?, phone = ?, identities = ?, fields = ?, tags = ?, hubspot_id = ?,
         created_at = ?, updated_at = ?, erased_at = ?, erased_address_guard = ?, erased_address_guard_identities = ?
       WHERE workspace_id = ? AND id = ?`,
    );
    this.getContact = db.prepare(`SELECT ${CONTACT_COLUMNS} FROM contacts WHERE workspace_id = ? AND id = ?`);
    this.getContactSides = db.prepare('SELECT identities, tags FROM contacts WHERE workspace_id = ? AND id = ?');
    this.findContactByIdentity = db.prepare(
      `SELECT ${CONTACT_COLUMNS_C} FROM contact_identities i
       JOIN contacts c ON c.workspace_id = i.workspace_id AND c.id = i.contact_id
       WHERE i.workspace_id = ? AND i.channel = ? AND i.external_id = ?`,
    );
    this.findContactByEmail = db.prepare(findContactSql('email'));
    this.findContactByPhone = db.prepare(findContactSql('phone'));
    this.findContactByHubspotId = db.prepare(findContactSql('hubspot_id'));
    this.addErasedAddress = db.prepare('INSERT OR IGNORE INTO erased_addresses (workspace_id, digest) VALUES (?, ?)');
    this.findErasedAddress = db.prepare('SELECT digest FROM erased_addresses WHERE workspace_id = ? AND digest = ?');
    this.removeErasedAddress = db.prepare('DELETE FROM erased_addresses WHERE workspace_id = ? AND digest = ?');
    this.identityOwner = db.prepare(
      'SELECT contact_id FROM contact_identities WHERE workspace_id = ? AND channel = ? AND external_id = ?',
    );
    this.insertIdentity = db.prepare(
      'INSERT INTO contact_identities (workspace_id, channel, external_id, contact_id) VALUES (?, ?, ?, ?)',
    );
    this.deleteIdentity = db.prepare(
      'DELETE FROM contact_identities WHERE workspace_id = ? AND channel = ? AND external_id = ? AND contact_id = ?',
    );
    this.insertTag = db.prepare('INSERT OR IGNORE INTO contact_tags (workspace_id, tag, contact_id) VALUES (?, ?, ?)');
    this.deleteTag = db.prepare('DELETE FROM contact_tags WHERE workspace_id = ? AND tag = ? AND contact_id = ?');
    // One probe of the primary key per distinct tag: SELECT DISTINCT would read every tag row.
    this.firstTag = db.prepare('SELECT tag FROM contact_tags WHERE workspace_id = ? ORDER BY tag LIMIT 1');
    this.nextTag = db.prepare('SELECT tag FROM contact_tags WHERE workspace_id = ? AND tag > ? ORDER BY tag LIMIT 1');

    this.workspaceNumber = db.prepare('SELECT number FROM workspaces WHERE id = ?');
    this.lastConsentRecord = db.prepare(LAST_RECORD_SQL);
    this.appendConsentRecord = db.prepare(
      `INSERT INTO consent_records (position, ${RECORD_COLUMNS})
       VALUES ((? << 32) | ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.findConsentRecordByIdempotencyKey = db.prepare(
      `SELECT ${RECORD_COLUMNS} FROM consent_records WHERE workspace_id = ? AND idempotency_key = ?`,
    );
    this.listConsentRecords = db.prepare(LIST_RECORDS_SQL);
    this.listContactConsentRecords = db.prepare(
      `SELECT ${RECORD_COLUMNS} FROM consent_records
       WHERE workspace_id = ? AND contact_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
    );
    this.redactConsentEvidence = db.prepare(
      'UPDATE consent_records SET evidence = ? WHERE workspace_id = ? AND contact_id = ?',
    );
    this.upsertConsentState = db.prepare(
      `INSERT INTO consent_state (${STATE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (workspace_id, contact_id, purpose, channel) DO UPDATE SET
         status = excluded.status, legal_basis = excluded.legal_basis, explanation = excluded.explanation,
         source = excluded.source, occurred_at = excluded.occurred_at, record_id = excluded.record_id, seq = excluded.seq`,
    );
    this.getConsentStates = db.prepare(
      `SELECT ${STATE_COLUMNS} FROM consent_state WHERE workspace_id = ? AND contact_id = ? ORDER BY purpose, channel`,
    );
    this.getConsentState = db.prepare(
      `SELECT ${STATE_COLUMNS} FROM consent_state
       WHERE workspace_id = ? AND contact_id = ? AND purpose = ? AND channel = ?`,
    );
    this.listConsentStates = db.prepare(
      `SELECT ${STATE_COLUMNS} FROM consent_state WHERE workspace_id = ? ORDER BY contact_id, purpose, channel LIMIT ?`,
    );
    // A row-value comparison on the primary key's columns: SQLite seeks to the first row after it.
    this.listConsentStatesAfter = db.prepare(
      `SELECT ${STATE_COLUMNS} FROM consent_state WHERE workspace_id = ? AND (contact_id, purpose, channel) > (?, ?, ?)
       ORDER BY contact_id, purpose, channel LIMIT ?`,
    );

    this.insertConversation = db.prepare(`INSERT INTO conversations (${CONVERSATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.updateConversation = db.prepare(
      `UPDATE conversations SET contact_id = ?, channel = ?, status = ?, opened_at = ?, closed_at = ?, deferred_templates = ?, queued_workflows = ?
       WHERE workspace_id = ? AND id = ?`,
    );
    this.getConversation = db.prepare(`SELECT ${CONVERSATION_COLUMNS} FROM conversations WHERE workspace_id = ? AND id = ?`);
    this.getOpenConversation = db.prepare(
      `SELECT ${CONVERSATION_COLUMNS} FROM conversations
       WHERE workspace_id = ? AND contact_id = ? AND channel = ? AND status = 'open'
       ORDER BY opened_at DESC, id DESC LIMIT 1`,
    );

    this.insertRun = db.prepare(`INSERT INTO workflow_runs (${RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.updateRun = db.prepare(
      `UPDATE workflow_runs SET contact_id = ?, conversation_id = ?, channel = ?, template_id = ?, status = ?, state = ?,
         created_at = ?, updated_at = ?
       WHERE workspace_id = ? AND id = ?`,
    );
    // Most updates only move a run forward: setting just the columns no index covers leaves the
    // active-runs index alone (SQLite rewrites an index entry whenever its columns are SET).
    this.updateRunProgress = db.prepare(
      `UPDATE workflow_runs SET conversation_id = ?, state = ?, updated_at = ?
       WHERE workspace_id = ? AND id = ? AND contact_id = ? AND channel = ? AND template_id = ? AND status = ?
         AND created_at = ?`,
    );
    this.getRun = db.prepare(`SELECT ${RUN_COLUMNS} FROM workflow_runs WHERE workspace_id = ? AND id = ?`);
    this.listActiveRuns = db.prepare(
      `SELECT ${RUN_COLUMNS} FROM workflow_runs
       WHERE workspace_id = ? AND contact_id = ? AND status = 'active' ORDER BY created_at, id`,
    );
    this.listActiveRunsOnChannel = db.prepare(
      `SELECT ${RUN_COLUMNS} FROM workflow_runs
       WHERE workspace_id = ? AND contact_id = ? AND channel = ? AND status = 'active' ORDER BY created_at, id`,
    );
    this.listRunsOfContact = db.prepare(RUNS_OF_CONTACT_SQL);
    this.setTimer = db.prepare(
      'UPDATE workflow_runs SET timer_id = ?, timer_token = ?, timer_due_at = ? WHERE workspace_id = ? AND id = ?',
    );
    this.deleteTimer = db.prepare(
      `UPDATE workflow_runs SET timer_id = NULL, timer_token = NULL, timer_due_at = NULL
       WHERE id = ? AND timer_due_at IS NOT NULL`,
    );
    this.getTimer = db.prepare(`SELECT ${TIMER_COLUMNS} FROM workflow_runs WHERE id = ? AND timer_due_at IS NOT NULL`);
    this.listDueTimers = db.prepare(DUE_TIMERS_SQL);
    this.listDueTimersOfContact = db.prepare(DUE_TIMERS_OF_CONTACT_SQL);
    this.countTimers = db.prepare('SELECT count(*) AS count FROM workflow_runs WHERE timer_due_at IS NOT NULL');

    this.getProcessedMessage = db.prepare(
      `SELECT ${PROCESSED_COLUMNS} FROM processed_messages WHERE workspace_id = ? AND channel = ? AND message_id = ?`,
    );
    this.saveProcessedMessage = db.prepare(`INSERT INTO processed_messages (${PROCESSED_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`);
    this.listProcessedMessagesOfContact = db.prepare(PROCESSED_OF_CONTACT_SQL);
    this.replaceProcessedResponse = db.prepare(
      'UPDATE processed_messages SET response = ? WHERE workspace_id = ? AND channel = ? AND message_id = ?',
    );

    this.appendEvent = db.prepare(
      'INSERT INTO events (id, workspace_id, type, contact_id, occurred_at, version, data) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.replaceEventData = db.prepare('UPDATE events SET data = ? WHERE workspace_id = ? AND id = ?');
    this.getEvent = db.prepare(`SELECT ${EVENT_COLUMNS} FROM events WHERE id = ? AND workspace_id = ?`);
    this.listEventsAfter = db.prepare(`SELECT ${EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?`);

    this.insertApiKey = db.prepare(insertNamedSql('api_keys', API_KEY_COLUMNS));
    this.findApiKeyByHash = db.prepare(`SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE hash = ?`);
    this.listApiKeys = db.prepare(`SELECT ${API_KEY_COLUMNS} FROM api_keys ORDER BY created_at DESC, id DESC`);
    this.listWorkspaceApiKeys = db.prepare(
      `SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE workspace_id = ? ORDER BY created_at DESC, id DESC`,
    );
    this.getApiKey = db.prepare(`SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE id = ?`);
    this.updateApiKey = db.prepare(updateNamedSql('api_keys', API_KEY_COLUMNS));

    this.insertHook = db.prepare(insertNamedSql('hooks', HOOK_COLUMNS));
    this.getHook = db.prepare(`SELECT ${HOOK_COLUMNS} FROM hooks WHERE workspace_id = ? AND id = ?`);
    this.listHooks = db.prepare(
      `SELECT ${HOOK_COLUMNS} FROM hooks WHERE workspace_id = ? AND deleted_at IS NULL ORDER BY created_at, id`,
    );
    this.listAllLiveHooks = db.prepare(
      `SELECT ${HOOK_COLUMNS} FROM hooks WHERE deleted_at IS NULL ORDER BY workspace_id, created_at, id`,
    );
    this.listLiveHooksOfApiKey = db.prepare(LIVE_HOOKS_OF_API_KEY_SQL);
    this.updateHook = db.prepare(updateNamedSql('hooks', HOOK_COLUMNS));

    this.insertDelivery = db.prepare(insertNamedSql('deliveries', DELIVERY_COLUMNS));
    this.updateDelivery = db.prepare(updateNamedSql('deliveries', DELIVERY_COLUMNS));
    this.getDelivery = db.prepare(`SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE workspace_id = ? AND id = ?`);
    const list = (status: DeliveryStatus | undefined, beforeEvent: boolean): Statement<(string | number)[], DeliveryDbRow> =>
      db.prepare(listDeliveriesSql(status, beforeEvent));
    this.listDeliveries = {
      'any:first': list(undefined, false),
      'any:before': list(undefined, true),
      'pending:first': list('pending', false),
      'pending:before': list('pending', true),
      'delivered:first': list('delivered', false),
      'delivered:before': list('delivered', true),
      'dead:first': list('dead', false),
      'dead:before': list('dead', true),
    };
    this.resendDeadDeliveries = db.prepare(RESEND_DEAD_SQL);
    this.moreDeadDeliveries = db.prepare(MORE_DEAD_SQL);
    this.abandonDeliveries = db.prepare(
      `UPDATE deliveries SET status = 'dead', last_error = ?, updated_at = ? WHERE hook_id = ? AND status = 'pending'`,
    );
    this.abandonReplies = db.prepare(ABANDON_REPLIES_SQL);
    this.countDeliveries = db.prepare('SELECT count(*) AS count FROM deliveries WHERE status = ?');
    this.nextPendingHook = db.prepare(NEXT_PENDING_HOOK_SQL);
    this.readyOfHook = db.prepare(READY_OF_HOOK_SQL);
    this.pendingBacklog = db.prepare(PENDING_BACKLOG_SQL);
    this.unsubscribedBacklog = db.prepare(UNSUBSCRIBED_BACKLOG_SQL);
    this.erasedBacklog = db.prepare(ERASED_BACKLOG_SQL);
    this.occurredAtOfPosition = db.prepare('SELECT occurred_at FROM events WHERE position = ?');

    this.processedHead = db.prepare(PROCESSED_HEAD_SQL);
    this.deleteProcessedThrough = db.prepare('DELETE FROM processed_messages WHERE rowid <= ?');
    this.newestEventPosition = db.prepare('SELECT max(position) AS position FROM events');
    this.oldestPendingEventPosition = db.prepare(OLDEST_PENDING_POSITION_SQL);
    this.eventsHead = db.prepare(EVENTS_HEAD_SQL);
    this.deleteDeliveriesThrough = db.prepare(DELETE_DELIVERIES_THROUGH_SQL);
    this.deleteEventsThrough = db.prepare('DELETE FROM events WHERE position <= ?');
    this.deleteFinishedRuns = db.prepare(DELETE_FINISHED_RUNS_SQL);

    this.getMeta = db.prepare('SELECT value FROM meta WHERE key = ?');
    this.setMeta = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
  }

  contactQuery(sql: string): Statement<unknown[], ContactRow> {
    let statement = this.contactQueries.get(sql);
    if (!statement) {
      statement = this.db.prepare<unknown[], ContactRow>(sql);
      this.contactQueries.set(sql, statement);
    }
    return statement;
  }

  eventQuery(sql: string): Statement<unknown[], EventRow> {
    let statement = this.eventQueries.get(sql);
    if (!statement) {
      statement = this.db.prepare<unknown[], EventRow>(sql);
      this.eventQueries.set(sql, statement);
    }
    return statement;
  }
}

/** The contact listing for a query's filters; exported so a test can check tag queries read the tag index. */
export function listContactsSql(query: ContactQuery): string {
  const filters: string[] = [];
  if (query.email !== undefined) filters.push('c.email = ?');
  if (query.phone !== undefined) filters.push('c.phone = ?');
  if (query.hubspotId !== undefined) filters.push('c.hubspot_id = ?');
  if (query.tag !== undefined) {
    if (query.afterId !== undefined) filters.push('t.contact_id > ?');
    return (
      `SELECT ${CONTACT_COLUMNS_C} FROM contact_tags t
       JOIN contacts c ON c.workspace_id = t.workspace_id AND c.id = t.contact_id
       WHERE t.workspace_id = ? AND t.tag = ?` +
      filters.map((filter) => ` AND ${filter}`).join('') +
      ' ORDER BY t.contact_id LIMIT ?'
    );
  }
  if (query.afterId !== undefined) filters.push('c.id > ?');
  return (
    `SELECT ${CONTACT_COLUMNS_C} FROM contacts c WHERE c.workspace_id = ?` +
    filters.map((filter) => ` AND ${filter}`).join('') +
    ' ORDER BY c.id LIMIT ?'
  );
}

function listContactsParams(workspaceId: string, query: ContactQuery): unknown[] {
  const params: unknown[] = [workspaceId];
  if (query.tag !== undefined) params.push(query.tag);
  if (query.email !== undefined) params.push(query.email);
  if (query.phone !== undefined) params.push(query.phone);
  if (query.hubspotId !== undefined) params.push(query.hubspotId);
  if (query.afterId !== undefined) params.push(query.afterId);
  params.push(query.limit);
  return params;
}

/**
 * One type reads events_workspace_type_id newest first (oldest first after `afterId`). Several
 * types are read the same way, one arm each with its own LIMIT, merged by id: `type IN (...)` would
 * walk events_workspace_id and test each event's type, so a page of rare types would read the
 * workspace's whole history. Each arm reads at most `limit` events, whatever the history holds.
 */
export function listEventsSql(query: EventQuery, typeCount: number): string {
  const order = query.afterId !== undefined ? 'ASC' : 'DESC';
  const filters =
    (query.contactId !== undefined ? ' AND contact_id = ?' : '') +
    (query.beforeId !== undefined ? ' AND id < ?' : '') +
    (query.afterId !== undefined ? ' AND id > ?' : '');
  if (typeCount <= 1) {
    const type = typeCount === 1 ? ' AND type = ?' : '';
    return `SELECT ${EVENT_COLUMNS} FROM events WHERE workspace_id = ?${type}${filters} ORDER BY id ${order} LIMIT ?`;
  }
  const arm = `SELECT * FROM (SELECT ${EVENT_COLUMNS} FROM events WHERE workspace_id = ? AND type = ?${filters} ORDER BY id ${order} LIMIT ?)`;
  return `${new Array<string>(typeCount).fill(arm).join(' UNION ALL ')} ORDER BY id ${order} LIMIT ?`;
}

/** The parameters of listEventsSql, in its order. */
function listEventsParams(workspaceId: string, query: EventQuery, types: readonly string[]): unknown[] {
  const filters: unknown[] = [];
  if (query.contactId !== undefined) filters.push(query.contactId);
  if (query.beforeId !== undefined) filters.push(query.beforeId);
  if (query.afterId !== undefined) filters.push(query.afterId);
  if (types.length <= 1) return [workspaceId, ...types, ...filters, query.limit];
  return [...types.flatMap((type) => [workspaceId, type, ...filters, query.limit]), query.limit];
}

/** Writes this connection made that another connection's `PRAGMA data_version` would reveal but its own does not. */
interface LocalWrites {
  apiKeys: number;
  /** The greatest event or contact id this connection wrote (idFloor). */
  newestId: string | undefined;
  /** Per workspace, the greatest id in the database when the data_version was this (idFloor). */
  floors: Map<string, { dataVersion: number; id: string | undefined }>;
}

class SqliteTx implements StoreTx {
  private active = true;

  constructor(
    private readonly s: Statements,
    private readonly writes: LocalWrites,
  ) {}

  end(): void {
    this.active = false;
  }

  /** A transaction object used after its transaction ended would write outside any transaction. */
  private check(): void {
    if (!this.active) throw new Error('this transaction has ended; use the tx passed to the current transaction');
  }

  // workspaces

  async insertWorkspace(workspace: Workspace): Promise<void> {
    this.check();
    write(
      this.s.insertWorkspace,
      `workspace ${workspace.id} already exists`,
      workspace.id,
      workspace.name,
      toJsonText(workspace.settings),
      workspace.createdAt,
      workspace.updatedAt,
    );
  }

  async getWorkspace(id: string): Promise<Workspace | undefined> {
    this.check();
    const row = this.s.getWorkspace.get(id);
    return row && toWorkspace(row);
  }

  async listWorkspaces(): Promise<Workspace[]> {
    this.check();
    return this.s.listWorkspaces.all().map(toWorkspace);
  }

  async updateWorkspace(
    id: string,
    patch: { name?: string; settings?: WorkspaceSettings; updatedAt: string },
  ): Promise<void> {
    this.check();
    const settings = patch.settings === undefined ? null : toJsonText(patch.settings);
    const result = this.s.updateWorkspace.run(patch.name ?? null, settings, patch.updatedAt, id);
    if (result.changes === 0) throw notFound(`workspace ${id} not found`);
  }

  // contacts

  /** Rejects an identity listed twice, or owned by another contact, before anything is written. */
  private checkIdentities(contact: Contact, added: readonly ContactIdentity[]): void {
    const seen = new Set<string>();
    for (const identity of contact.identities) {
      const key = identityKey(identity);
      if (seen.has(key)) throw conflict(`identity ${identity.channel}:${identity.externalId} is listed twice`);
      seen.add(key);
    }
    for (const identity of added) {
      const owner = this.s.identityOwner.get(contact.workspaceId, identity.channel, identity.externalId);
      if (owner && owner.contact_id !== contact.id) {
        throw conflict(`identity ${identity.channel}:${identity.externalId} already belongs to another contact`);
      }
    }
  }

  async insertContact(contact: Contact): Promise<void> {
    this.check();
    this.checkIdentities(contact, contact.identities);
    write(
      this.s.insertContact,
      `contact ${contact.id} cannot be inserted`,
      contact.workspaceId,
      contact.id,
      contact.name ?? null,
      contact.email ?? null,
      contact.phone ?? null,
      identitiesJson(contact.identities),
      toJsonText(contact.fields),
      toJsonText(contact.tags),
      contact.hubspotId ?? null,
      contact.createdAt,
      contact.updatedAt,
      contact.erasedAt ?? null,
      contact.erasedAddressGuard === undefined ? 0 : 1,
      contact.erasedAddressGuard?.ownIdentities ?? null,
    );
    for (const identity of contact.identities) {
      this.s.insertIdentity.run(contact.workspaceId, identity.channel, identity.externalId, contact.id);
    }
    for (const tag of contact.tags) this.s.insertTag.run(contact.workspaceId, tag, contact.id);
    this.noteId(contact.id);
  }

  async updateContact(contact: Contact): Promise<void> {
    this.check();
    const current = this.s.getContactSides.get(contact.workspaceId, contact.id);
    if (!current) throw notFound(`contact ${contact.id} not found`);
    const identities = identitiesJson(contact.identities);
    const tags = toJsonText(contact.tags);
    let addedIdentities: ContactIdentity[] = [];
    let removedIdentities: ContactIdentity[] = [];
    // Most updates touch fields only: the side tables are rewritten only when their JSON changed.
    if (identities !== current.identities) {
      const before: ContactIdentity[] = storedJson(current.identities, 'contacts', contact.id, 'identities');
      const beforeKeys = new Set(before.map(identityKey));
      const afterKeys = new Set(contact.identities.map(identityKey));
      addedIdentities = contact.identities.filter((identity) => !beforeKeys.has(identityKey(identity)));
      removedIdentities = before.filter((identity) => !afterKeys.has(identityKey(identity)));
    }
    this.checkIdentities(contact, addedIdentities);
    for (const identity of removedIdentities) {
      this.s.deleteIdentity.run(contact.workspaceId, identity.channel, identity.externalId, contact.id);
    }
    for (const identity of addedIdentities) {
      this.s.insertIdentity.run(contact.workspaceId, identity.channel, identity.externalId, contact.id);
    }
    if (tags !== current.tags) {
      const before: string[] = storedJson(current.tags, 'contacts', contact.id, 'tags');
      const beforeSet = new Set(before);
      const after = new Set(contact.tags);
      for (const tag of beforeSet) if (!after.has(tag)) this.s.deleteTag.run(contact.workspaceId, tag, contact.id);
      for (const tag of after) if (!beforeSet.has(tag)) this.s.insertTag.run(contact.workspaceId, tag, contact.id);
    }
    this.s.updateContact.run(
      contact.name ?? null,
      contact.email ?? null,
      contact.phone ?? null,
      identities,
      toJsonText(contact.fields),
      tags,
      contact.hubspotId ?? null,
      contact.createdAt,
      contact.updatedAt,
      contact.erasedAt ?? null,
      contact.erasedAddressGuard === undefined ? 0 : 1,
      contact.erasedAddressGuard?.ownIdentities ?? null,
      contact.workspaceId,
      contact.id,
    );
  }

  async getContact(workspaceId: string, id: string): Promise<Contact | undefined> {
    this.check();
    const row = this.s.getContact.get(workspaceId, id);
    return row && toContact(row);
  }

  async findContactByIdentity(workspaceId: string, channel: Channel, externalId: string): Promise<Contact | undefined> {
    this.check();
    const row = this.s.findContactByIdentity.get(workspaceId, channel, externalId);
    return row && toContact(row);
  }

  async findContactByEmail(workspaceId: string, email: string): Promise<Contact | undefined> {
    this.check();
    const row = this.s.findContactByEmail.get(workspaceId, email);
    return row && toContact(row);
  }

  async findContactByPhone(workspaceId: string, phone: string): Promise<Contact | undefined> {
    this.check();
    const row = this.s.findContactByPhone.get(workspaceId, phone);
    return row && toContact(row);
  }

  async addErasedAddresses(workspaceId: string, digests: readonly string[]): Promise<void> {
    this.check();
    for (const digest of digests) this.s.addErasedAddress.run(workspaceId, digest);
  }

  async findErasedAddresses(workspaceId: string, digests: readonly string[]): Promise<string[]> {
    this.check();
    return digests.filter((digest) => this.s.findErasedAddress.get(workspaceId, digest) !== undefined);
  }

  async removeErasedAddresses(workspaceId: string, digests: readonly string[]): Promise<string[]> {
    this.check();
    return digests.filter((digest) => this.s.removeErasedAddress.run(workspaceId, digest).changes > 0);
  }

  async findContactByHubspotId(workspaceId: string, hubspotId: string): Promise<Contact | undefined> {
    this.check();
    const row = this.s.findContactByHubspotId.get(workspaceId, hubspotId);
    return row && toContact(row);
  }

  async listContacts(workspaceId: string, query: ContactQuery): Promise<Contact[]> {
    this.check();
    assertLimit(query.limit);
    const statement = this.s.contactQuery(listContactsSql(query));
    if (query.tag === undefined) return statement.all(...listContactsParams(workspaceId, query)).map(toContact);
    // A tag matches as adding and removing tags compare them (tagKey: NFC, spaces and letter case
    // in all of Unicode), which SQLite's lower() and NOCASE, ASCII only, cannot do. Each spelling
    // stored in the workspace with the tag's key is read from the tag index, and the pages merged.
    const key = tagKey(query.tag);
    const spellings = key === '' ? [] : this.distinctTags(workspaceId).filter((tag) => tagKey(tag) === key);
    const rows = new Map<string, ContactRow>();
    for (const tag of spellings) {
      for (const row of statement.all(...listContactsParams(workspaceId, { ...query, tag }))) rows.set(row.id, row);
    }
    return [...rows.values()]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .slice(0, query.limit)
      .map(toContact);
  }

  async listTags(workspaceId: string): Promise<string[]> {
    this.check();
    return oneSpellingPerTag(this.distinctTags(workspaceId));
  }

  /** The workspace's tags as spelled on its contacts, each spelling once, in order. */
  private distinctTags(workspaceId: string): string[] {
    const tags: string[] = [];
    for (let row = this.s.firstTag.get(workspaceId); row !== undefined; row = this.s.nextTag.get(workspaceId, row.tag)) tags.push(row.tag);
    return tags;
  }

  // consent ledger

  /** The workspace's number (see consent_records in migrations.ts), or undefined for an unknown workspace. */
  private workspaceNumber(workspaceId: string): number | undefined {
    return this.s.workspaceNumber.get(workspaceId)?.number;
  }

  async lastConsentRecord(workspaceId: string): Promise<ConsentRecord | undefined> {
    this.check();
    const number = this.workspaceNumber(workspaceId);
    if (number === undefined) return undefined;
    const row = this.s.lastConsentRecord.get(number, number, workspaceId);
    return row && toConsentRecord(row);
  }

  async appendConsentRecord(record: ConsentRecord): Promise<void> {
    this.check();
    const what = `consent record ${record.id} (seq ${record.seq}) cannot be appended`;
    const number = this.workspaceNumber(record.workspaceId);
    if (number === undefined) throw notFound(`${what}: a row it refers to does not exist`);
    if (!Number.isInteger(record.seq) || record.seq < 1 || record.seq > MAX_SEQ) {
      throw new ConsentryError('VALIDATION_FAILED', `${what}: seq must be an integer from 1 to ${MAX_SEQ}`, [
        { path: 'seq', message: `must be an integer from 1 to ${MAX_SEQ}` },
      ]);
    }
    write(
      this.s.appendConsentRecord,
      what,
      number,
      record.seq,
      record.id,
      record.workspaceId,
      record.seq,
      record.contactId,
      record.purpose,
      record.channel,
      record.status,
      record.legalBasis ?? null,
      record.explanation ?? null,
      record.source,
      record.actor.kind,
      record.actor.id,
      toJsonText(record.evidence),
      record.evidenceDigest,
      record.occurredAt,
      record.recordedAt,
      record.idempotencyKey ?? null,
      record.prevHash,
      record.hash,
    );
  }

  async findConsentRecordByIdempotencyKey(workspaceId: string, key: string): Promise<ConsentRecord | undefined> {
    this.check();
    const row = this.s.findConsentRecordByIdempotencyKey.get(workspaceId, key);
    return row && toConsentRecord(row);
  }

  async listConsentRecords(
    workspaceId: string,
    query: { contactId?: string; afterSeq?: number; limit?: number },
  ): Promise<ConsentRecord[]> {
    this.check();
    if (query.limit !== undefined) assertLimit(query.limit);
    const afterSeq = query.afterSeq ?? 0;
    // LIMIT -1 is SQLite's "no limit".
    const limit = query.limit ?? -1;
    if (query.contactId !== undefined) {
      return this.s.listContactConsentRecords.all(workspaceId, query.contactId, afterSeq, limit).map(toConsentRecord);
    }
    const number = this.workspaceNumber(workspaceId);
    if (number === undefined) return [];
    // Past the last possible seq nothing can follow; clamping keeps the shift arithmetic in range.
    const after = Math.min(Math.max(Math.trunc(afterSeq), 0), MAX_SEQ);
    return this.s.listConsentRecords.all(number, after, number, workspaceId, limit).map(toConsentRecord);
  }

  async redactConsentEvidence(
    workspaceId: string,
    contactId: string,
    redacted: ConsentRecord['evidence'],
  ): Promise<number> {
    this.check();
    return this.s.redactConsentEvidence.run(toJsonText(redacted), workspaceId, contactId).changes;
  }

  async upsertConsentState(state: ConsentState): Promise<void> {
    this.check();
    write(
      this.s.upsertConsentState,
      `consent state of contact ${state.contactId} cannot be written`,
      state.workspaceId,
      state.contactId,
      state.purpose,
      state.channel,
      state.status,
      state.legalBasis ?? null,
      state.explanation ?? null,
      state.source,
      state.occurredAt,
      state.recordId,
      state.seq,
    );
  }

  async getConsentStates(workspaceId: string, contactId: string): Promise<ConsentState[]> {
    this.check();
    return this.s.getConsentStates.all(workspaceId, contactId).map(toConsentState);
  }

  async getConsentState(
    workspaceId: string,
    contactId: string,
    purpose: Purpose,
    channel: Channel,
  ): Promise<ConsentState | undefined> {
    this.check();
    const row = this.s.getConsentState.get(workspaceId, contactId, purpose, channel);
    return row && toConsentState(row);
  }

  async listConsentStates(workspaceId: string, query: { after?: ConsentStateKey; limit: number }): Promise<ConsentState[]> {
    this.check();
    assertLimit(query.limit);
    const { after, limit } = query;
    const rows =
      after === undefined
        ? this.s.listConsentStates.all(workspaceId, limit)
        : this.s.listConsentStatesAfter.all(workspaceId, after.contactId, after.purpose, after.channel, limit);
    return rows.map(toConsentState);
  }

  // conversations

  async insertConversation(conversation: Conversation): Promise<void> {
    this.check();
    write(
      this.s.insertConversation,
      `conversation ${conversation.id} cannot be inserted`,
      conversation.id,
      conversation.workspaceId,
      conversation.contactId,
      conversation.channel,
      conversation.status,
      conversation.openedAt,
      conversation.closedAt ?? null,
      conversationListColumn(conversation.deferredTemplates),
      conversationListColumn(conversation.queuedWorkflows),
    );
  }

  async updateConversation(conversation: Conversation): Promise<void> {
    this.check();
    const { changes } = write(
      this.s.updateConversation,
      `conversation ${conversation.id} cannot be updated`,
      conversation.contactId,
      conversation.channel,
      conversation.status,
      conversation.openedAt,
      conversation.closedAt ?? null,
      conversationListColumn(conversation.deferredTemplates),
      conversationListColumn(conversation.queuedWorkflows),
      conversation.workspaceId,
      conversation.id,
    );
    if (changes === 0) throw notFound(`conversation ${conversation.id} not found`);
  }

  async getConversation(workspaceId: string, id: string): Promise<Conversation | undefined> {
    this.check();
    const row = this.s.getConversation.get(workspaceId, id);
    return row && toConversation(row);
  }

  async getOpenConversation(workspaceId: string, contactId: string, channel: Channel): Promise<Conversation | undefined> {
    this.check();
    const row = this.s.getOpenConversation.get(workspaceId, contactId, channel);
    return row && toConversation(row);
  }

  // workflow runs and timers

  async insertRun(run: WorkflowRunRow): Promise<void> {
    this.check();
    write(
      this.s.insertRun,
      `workflow run ${run.id} cannot be inserted`,
      run.id,
      run.workspaceId,
      run.contactId,
      run.conversationId ?? null,
      run.channel,
      run.templateId,
      run.status,
      toJsonText(run.state),
      run.createdAt,
      run.updatedAt,
    );
  }

  async updateRun(run: WorkflowRunRow): Promise<void> {
    this.check();
    const state = toJsonText(run.state);
    const what = `workflow run ${run.id} cannot be updated`;
    let { changes } = write(
      this.s.updateRunProgress,
      what,
      run.conversationId ?? null,
      state,
      run.updatedAt,
      run.workspaceId,
      run.id,
      run.contactId,
      run.channel,
      run.templateId,
      run.status,
      run.createdAt,
    );
    if (changes === 0) {
      ({ changes } = write(
        this.s.updateRun,
        what,
        run.contactId,
        run.conversationId ?? null,
        run.channel,
        run.templateId,
        run.status,
        state,
        run.createdAt,
        run.updatedAt,
        run.workspaceId,
        run.id,
      ));
    }
    if (changes === 0) throw notFound(`workflow run ${run.id} not found`);
  }

  async getRun(workspaceId: string, id: string): Promise<WorkflowRunRow | undefined> {
    this.check();
    const row = this.s.getRun.get(workspaceId, id);
    return row && toRun(row);
  }

  async listActiveRuns(workspaceId: string, contactId: string, channel?: Channel): Promise<WorkflowRunRow[]> {
    this.check();
    const rows =
      channel === undefined
        ? this.s.listActiveRuns.all(workspaceId, contactId)
        : this.s.listActiveRunsOnChannel.all(workspaceId, contactId, channel);
    return rows.map(toRun);
  }

  async listRunsOfContact(workspaceId: string, contactId: string): Promise<WorkflowRunRow[]> {
    this.check();
    return this.s.listRunsOfContact.all(workspaceId, contactId).map(toRun);
  }

  async setTimer(timer: TimerRow): Promise<void> {
    this.check();
    assertCanonicalTimestamp(timer.dueAt, 'dueAt');
    const changes = this.s.setTimer.run(timer.id, timer.token, timer.dueAt, timer.workspaceId, timer.runId).changes;
    if (changes === 0) throw notFound(`timer of run ${timer.runId} cannot be set: the run does not exist`);
  }

  async deleteTimer(runId: string): Promise<void> {
    this.check();
    this.s.deleteTimer.run(runId);
  }

  async getTimer(runId: string): Promise<TimerRow | undefined> {
    this.check();
    const row = this.s.getTimer.get(runId);
    return row && toTimer(row);
  }

  async listDueTimers(now: string, limit: number): Promise<TimerRow[]> {
    this.check();
    assertCanonicalTimestamp(now, 'now');
    assertLimit(limit);
    return this.s.listDueTimers.all(now, limit).map(toTimer);
  }

  async listDueTimersOfContact(workspaceId: string, contactId: string, channel: Channel, now: string): Promise<TimerRow[]> {
    this.check();
    assertCanonicalTimestamp(now, 'now');
    return this.s.listDueTimersOfContact.all(workspaceId, contactId, channel, now).map(toTimer);
  }

  async countTimers(): Promise<number> {
    this.check();
    return this.s.countTimers.get()?.count ?? 0;
  }

  // inbound de-duplication

  async getProcessedMessage(
    workspaceId: string,
    channel: Channel,
    messageId: string,
  ): Promise<ProcessedMessage | undefined> {
    this.check();
    const row = this.s.getProcessedMessage.get(workspaceId, channel, messageId);
    return row && toProcessed(row);
  }

  async saveProcessedMessage(message: ProcessedMessage): Promise<void> {
    this.check();
    write(
      this.s.saveProcessedMessage,
      `message ${message.channel}:${message.messageId} cannot be recorded`,
      message.workspaceId,
      message.channel,
      message.messageId,
      message.contactId ?? null,
      toJsonText(message.response),
      message.processedAt,
    );
  }

  async listProcessedMessagesOfContact(workspaceId: string, contactId: string): Promise<ProcessedMessage[]> {
    this.check();
    return this.s.listProcessedMessagesOfContact.all(workspaceId, contactId).map(toProcessed);
  }

  async replaceProcessedResponse(workspaceId: string, channel: Channel, messageId: string, response: unknown): Promise<boolean> {
    this.check();
    const what = `message ${channel}:${messageId} cannot be updated`;
    return write(this.s.replaceProcessedResponse, what, toJsonText(response), workspaceId, channel, messageId).changes > 0;
  }

  // outbox

  async appendEvent(event: ConsentryEvent): Promise<StoredEvent> {
    this.check();
    const position = Number(
      write(
        this.s.appendEvent,
        `event ${event.id} cannot be appended`,
        event.id,
        event.workspaceId,
        event.type,
        event.contactId ?? null,
        event.occurredAt,
        event.version,
        toJsonText(event.data),
      ).lastInsertRowid,
    );
    this.noteId(event.id);
    // The store keeps its own JSON text, so handing back the caller's data object shares nothing with it.
    return {
      id: event.id,
      type: event.type,
      version: event.version,
      workspaceId: event.workspaceId,
      occurredAt: event.occurredAt,
      contactId: event.contactId ?? null,
      data: event.data,
      position,
    };
  }

  async getEvent(workspaceId: string, id: string): Promise<StoredEvent | undefined> {
    this.check();
    const row = this.s.getEvent.get(id, workspaceId);
    return row && toEvent(row);
  }

  async replaceEventData(workspaceId: string, id: string, data: ConsentryEvent['data']): Promise<boolean> {
    this.check();
    return this.s.replaceEventData.run(toJsonText(data), workspaceId, id).changes > 0;
  }

  async listEvents(workspaceId: string, query: EventQuery): Promise<StoredEvent[]> {
    this.check();
    assertLimit(query.limit);
    const types = [...new Set(query.types ?? [])];
    const statement = this.s.eventQuery(listEventsSql(query, types.length));
    return statement.all(...listEventsParams(workspaceId, query, types)).map(toEvent);
  }

  async listEventsAfter(position: number, limit: number): Promise<StoredEvent[]> {
    this.check();
    assertLimit(limit);
    return this.s.listEventsAfter.all(position, limit).map(toEvent);
  }

  /**
   * Asks the database only when another connection committed since the workspace was last asked
   * (`PRAGMA data_version` moves only for other connections' commits:
   * https://www.sqlite.org/pragma.html#pragma_data_version); this connection's own ids are known.
   */
  async idFloor(workspaceId: string): Promise<string | undefined> {
    this.check();
    const dataVersion = this.s.dataVersion.get()?.data_version ?? 0;
    let known = this.writes.floors.get(workspaceId);
    if (known?.dataVersion !== dataVersion) {
      known = { dataVersion, id: newerId(this.s.newestEventId.get(workspaceId) ?? undefined, this.s.newestContactId.get(workspaceId) ?? undefined) };
      this.writes.floors.set(workspaceId, known);
    }
    return newerId(known.id, this.writes.newestId);
  }

  private noteId(id: string): void {
    this.writes.newestId = newerId(this.writes.newestId, id);
  }

  // API keys

  async insertApiKey(key: ApiKeyRow): Promise<void> {
    this.check();
    assertCanonicalTimestamp(key.createdAt, 'createdAt');
    this.writes.apiKeys += 1;
    write(this.s.insertApiKey, `API key ${key.id} cannot be inserted`, apiKeyParams(key));
  }

  async findApiKeyByHash(hash: string): Promise<ApiKeyRow | undefined> {
    this.check();
    const row = this.s.findApiKeyByHash.get(hash);
    return row && toApiKey(row);
  }

  async listApiKeys(workspaceId?: string): Promise<ApiKeyRow[]> {
    this.check();
    const rows = workspaceId === undefined ? this.s.listApiKeys.all() : this.s.listWorkspaceApiKeys.all(workspaceId);
    return rows.map(toApiKey);
  }

  async getApiKey(id: string): Promise<ApiKeyRow | undefined> {
    this.check();
    const row = this.s.getApiKey.get(id);
    return row && toApiKey(row);
  }

  async updateApiKey(key: ApiKeyRow): Promise<void> {
    this.check();
    assertCanonicalTimestamp(key.createdAt, 'createdAt');
    this.writes.apiKeys += 1;
    const { changes } = write(this.s.updateApiKey, `API key ${key.id} cannot be updated`, apiKeyParams(key));
    if (changes === 0) throw notFound(`API key ${key.id} not found`);
  }

  // hooks and deliveries

  async insertHook(hook: HookRow): Promise<void> {
    this.check();
    assertCanonicalTimestamp(hook.createdAt, 'createdAt');
    write(this.s.insertHook, `hook ${hook.id} cannot be inserted`, hookParams(hook));
  }

  async getHook(workspaceId: string, id: string): Promise<HookRow | undefined> {
    this.check();
    const row = this.s.getHook.get(workspaceId, id);
    return row && toHook(row);
  }

  async listHooks(workspaceId: string): Promise<HookRow[]> {
    this.check();
    return this.s.listHooks.all(workspaceId).map(toHook);
  }

  async listAllLiveHooks(): Promise<HookRow[]> {
    this.check();
    return this.s.listAllLiveHooks.all().map(toHook);
  }

  async listLiveHooksOfApiKey(workspaceId: string, apiKeyId: string): Promise<HookRow[]> {
    this.check();
    return this.s.listLiveHooksOfApiKey.all(workspaceId, apiKeyId).map(toHook);
  }

  async updateHook(hook: HookRow): Promise<void> {
    this.check();
    assertCanonicalTimestamp(hook.createdAt, 'createdAt');
    const { changes } = write(this.s.updateHook, `hook ${hook.id} cannot be updated`, hookParams(hook));
    if (changes === 0) throw notFound(`hook ${hook.id} not found`);
  }

  async insertDelivery(delivery: DeliveryRow): Promise<void> {
    this.check();
    assertDelivery(delivery);
    write(this.s.insertDelivery, `delivery ${delivery.id} cannot be inserted`, deliveryParams(delivery));
  }

  async updateDelivery(delivery: DeliveryRow): Promise<void> {
    this.check();
    assertDelivery(delivery);
    const { changes } = write(this.s.updateDelivery, `delivery ${delivery.id} cannot be updated`, deliveryParams(delivery));
    if (changes === 0) throw notFound(`delivery ${delivery.id} not found`);
  }

  async listReadyDeliveriesByHook(now: string, query: ReadyByHookQuery): Promise<DeliveryRow[][]> {
    this.check();
    assertCanonicalTimestamp(now, 'now');
    assertLimit(query.perHook, 'perHook');
    assertLimit(query.hooks, 'hooks');
    const groups: DeliveryRow[][] = [];
    if (query.perHook === 0) return groups;
    const skip = new Set(query.skipHookIds ?? []);
    const visit = (hookId: string): void => {
      if (skip.has(hookId)) return;
      const rows = this.s.readyOfHook.all(hookId, now, query.perHook);
      if (rows.length > 0) groups.push(rows.map(toDelivery));
    };
    // Hook ids after the cursor, then (wrapping around) from the first one up to the cursor.
    const after = query.afterHookId;
    let cursor = after ?? '';
    for (let row = this.s.nextPendingHook.get(cursor); row && groups.length < query.hooks; row = this.s.nextPendingHook.get(cursor)) {
      visit(row.hook_id);
      cursor = row.hook_id;
    }
    if (after === undefined) return groups;
    cursor = '';
    for (let row = this.s.nextPendingHook.get(cursor); row && row.hook_id <= after && groups.length < query.hooks; row = this.s.nextPendingHook.get(cursor)) {
      visit(row.hook_id);
      cursor = row.hook_id;
    }
    return groups;
  }

  async getDelivery(workspaceId: string, id: string): Promise<DeliveryRow | undefined> {
    this.check();
    const row = this.s.getDelivery.get(workspaceId, id);
    return row && toDelivery(row);
  }

  async listDeliveries(workspaceId: string, hookId: string, query: DeliveryListQuery): Promise<DeliveryRow[]> {
    this.check();
    assertLimit(query.limit);
    assertDeliveryStatus(query.status);
    const beforeEvent = query.beforeEventId !== undefined;
    const statement = this.s.listDeliveries[deliveryListKey(query.status, beforeEvent)];
    const params: (string | number)[] = [hookId, workspaceId];
    if (query.beforeEventId !== undefined) params.push(query.beforeEventId);
    params.push(query.limit);
    return statement.all(...params).map(toDelivery);
  }

  async resendDeadDeliveries(workspaceId: string, hookId: string, query: { at: string; limit: number }): Promise<ResentDeadDeliveries> {
    this.check();
    assertCanonicalTimestamp(query.at, 'at');
    assertLimit(query.limit);
    const { changes } = this.s.resendDeadDeliveries.run({ at: query.at, hook_id: hookId, workspace_id: workspaceId, limit: query.limit });
    const more = this.s.moreDeadDeliveries.get({ hook_id: hookId, workspace_id: workspaceId })?.more === 1;
    return { resent: changes, more };
  }

  async abandonDeliveries(hookId: string, reason: string, at: string): Promise<number> {
    this.check();
    return this.s.abandonDeliveries.run(reason, at, hookId).changes;
  }

  async pruneExpired(query: RetentionQuery): Promise<PrunedRows> {
    this.check();
    const idsBefore = retentionIdFloor(query);
    const pruned: PrunedRows = { processedMessages: 0, events: 0, deliveries: 0, runs: 0 };
    if (query.limit === 0) return pruned;

    let lastProcessed: number | undefined;
    for (const row of this.s.processedHead.all(query.limit)) {
      if (row.processed_at >= query.before) break;
      lastProcessed = row.row;
      pruned.processedMessages += 1;
    }
    if (lastProcessed !== undefined) write(this.s.deleteProcessedThrough, 'expired stored answers cannot be deleted', lastProcessed);

    const newest = this.s.newestEventPosition.get()?.position ?? null;
    const pending = this.s.oldestPendingEventPosition.get()?.position ?? null;
    let through = query.eventsThrough;
    if (newest !== null) through = Math.min(through, newest - 1);
    if (pending !== null) through = Math.min(through, pending - 1);
    let lastEvent: number | undefined;
    for (const row of this.s.eventsHead.all(through, query.limit)) {
      if (row.id >= idsBefore) break;
      lastEvent = row.position;
      pruned.events += 1;
    }
    if (lastEvent !== undefined) {
      pruned.deliveries = write(this.s.deleteDeliveriesThrough, 'deliveries of expired events cannot be deleted', lastEvent).changes;
      write(this.s.deleteEventsThrough, 'expired events cannot be deleted', lastEvent);
    }

    pruned.runs = write(this.s.deleteFinishedRuns, 'expired workflow runs cannot be deleted', {
      ids_before: idsBefore,
      before: query.before,
      limit: query.limit,
    }).changes;
    return pruned;
  }

  async abandonRepliesToContact(workspaceId: string, contactId: string, reason: string, at: string): Promise<number> {
    this.check();
    return this.s.abandonReplies.run(reason, at, workspaceId, workspaceId, contactId).changes;
  }

  async countDeliveries(status: DeliveryStatus): Promise<number> {
    this.check();
    return this.s.countDeliveries.get(status)?.count ?? 0;
  }

  async deliveryBacklog(): Promise<DeliveryBacklog> {
    this.check();
    const pending = this.s.pendingBacklog.get();
    const oldest = pending?.oldest ?? null;
    const event = oldest === null ? undefined : this.s.occurredAtOfPosition.get(oldest);
    const unsubscribed = this.s.unsubscribedBacklog.get()?.count ?? 0;
    // An outbound webhook has no hooks row: no delivery is counted in both.
    const erased = this.s.erasedBacklog.get()?.count ?? 0;
    return {
      pending: pending?.count ?? 0,
      dead: (this.s.countDeliveries.get('dead')?.count ?? 0) - unsubscribed - erased,
      unsubscribed,
      erased,
      oldestPendingOccurredAt: event?.occurred_at ?? null,
    };
  }

  // meta

  async getMeta(key: string): Promise<unknown> {
    this.check();
    const row = this.s.getMeta.get(key);
    return row === undefined ? undefined : storedJson(row.value, 'meta', key, 'value');
  }

  async setMeta(key: string, value: unknown): Promise<void> {
    this.check();
    this.s.setMeta.run(key, toJsonText(value));
  }
}

class SqliteStoreImpl implements SqliteStore {
  private readonly committer: GroupCommitter<SqliteTx>;
  private readonly writes: LocalWrites = { apiKeys: 0, newestId: undefined, floors: new Map() };
  private closed = false;
  /** The read-only connection read() uses, once opened. */
  private reader: SqliteStoreImpl | undefined;
  /** When (groupCommitClock) a write last failed with SQLITE_FULL; null once a commit grew the file after it. */
  private diskFullAt: number | null = null;
  /** The database's pages when the current transaction began, read only while diskFullAt is set. */
  private pagesAtBegin = 0;

  constructor(
    readonly db: Database,
    private readonly statements: Statements,
    groupCommit: boolean,
    private readonly groupCommitClock: () => number,
    private readonly checkpointer: BackgroundCheckpointer | null,
    private readonly lockWait: LockWait | null = null,
    /** Set for a store opened with `readOnly`: its transactions begin DEFERRED and refuse every write. */
    private readonly readOnly: ReadOnlyConnection | null = null,
    /** The database file a writable store reads through a connection of its own (read()); null in memory. */
    private readonly readerFile: { path: string; busyTimeoutMs: number } | null = null,
  ) {
    this.committer = new GroupCommitter<SqliteTx>(
      {
        // IMMEDIATE takes the write lock up front, so a transaction that reads then writes
        // cannot fail half-way with SQLITE_BUSY (https://www.sqlite.org/lang_transaction.html).
        begin: () => {
          if (readOnly) readOnly.begin();
          else statements.begin.run();
          if (this.diskFullAt !== null) this.pagesAtBegin = statements.pageCount.get() ?? 0;
        },
        commit: () => {
          statements.commit.run();
          checkpointer?.committed();
          // A commit that grew the database found room: the disk is no longer full. One that only
          // rewrote pages it had (a lease renewal) proves nothing, and the refusal stands.
          if (this.diskFullAt !== null && (statements.pageCount.get() ?? 0) > this.pagesAtBegin) this.diskFullAt = null;
        },
        rollback: () => statements.rollback.run(),
        savepoint: () => statements.savepoint.run(),
        releaseSavepoint: () => statements.releaseSavepoint.run(),
        rollbackToSavepoint: () => {
          statements.rollbackToSavepoint.run();
          statements.releaseSavepoint.run();
        },
        inTransaction: () => db.inTransaction,
        open: () => (readOnly ? readOnly.guard(new SqliteTx(statements, this.writes)) : new SqliteTx(statements, this.writes)),
        end: (tx) => tx.end(),
      },
      groupCommit
        ? { maxGroupSize: MAX_GROUP_SIZE, maxGroupAgeMs: MAX_GROUP_AGE_MS, waitForCompany: true, now: groupCommitClock, lockWait }
        : { maxGroupSize: 1, maxGroupAgeMs: 0, waitForCompany: false, now: groupCommitClock, lockWait },
    );
  }

  commitStats(): GroupCommitStats {
    return this.committer.stats();
  }

  apiKeysVersion(): string {
    if (this.closed) throw new Error('the store is closed');
    return `${this.statements.dataVersion.get()?.data_version ?? 0}:${this.writes.apiKeys}`;
  }

  /**
   * Serialised, and grouped with the transactions waiting beside it (group-commit.ts). `fn` uses
   * only `tx` (and `db`): a transaction it opened, or one queued before it that it waited for,
   * would wait for `fn` forever.
   */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    return this.committer.run(fn).catch((error: unknown) => {
      if (!isDiskFullError(error)) throw error;
      this.diskFullAt = this.groupCommitClock();
      throw storeFullError(this.db.name, error);
    });
  }

  /**
   * A file's reads go through a second, read-only connection, opened at the first read: each is a
   * DEFERRED transaction of its own (never grouped, so it sees every commit before it), reading
   * the last committed snapshot without the write lock. An in-memory database has no second
   * connection: its reads queue with the transactions, under `PRAGMA query_only`
   * (https://www.sqlite.org/pragma.html#pragma_query_only), and a group they join commits before
   * they answer, so they still hand out only committed state. A read-only store's transactions are
   * reads already.
   */
  read<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.readWith((tx) => fn(tx));
  }

  readWith<T>(fn: (tx: StoreTx, db: Database) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    if (this.readOnly) return this.transaction((tx) => fn(tx, this.db));
    if (this.readerFile === null) return this.transaction((tx) => this.queryOnly(tx, (guarded) => fn(guarded, this.db)));
    this.reader ??= this.openReader(this.readerFile);
    return this.reader.readWith(fn);
  }

  private openReader(file: { path: string; busyTimeoutMs: number }): SqliteStoreImpl {
    return storeOnReadOnlyConnection(openReaderBeside(file.path, file.busyTimeoutMs), this.groupCommitClock);
  }

  /** Runs one member of a group: the committer runs one at a time, so query_only covers `fn` alone. */
  private async queryOnly<T>(tx: StoreTx, fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    this.db.pragma('query_only = ON');
    try {
      return await fn(guardWrites(tx, 'read'));
    } finally {
      this.db.pragma('query_only = OFF');
    }
  }

  /**
   * One read of the file outside the committer's queue: in WAL mode a read takes no lock a writer
   * holds (https://www.sqlite.org/wal.html#concurrency), and on this connection it runs between
   * two statements of whatever transaction is open. A refused write counts for
   * DISK_FULL_REPORTED_MS: a process whose writes stopped (no requests, another holds the worker
   * lease) is not reported full for good once room is back.
   */
  async probe(): Promise<StoreProbe> {
    if (this.closed) throw new Error('the store is closed');
    this.statements.schemaVersion.get();
    const refusedAt = this.diskFullAt;
    return { diskFull: refusedAt !== null && this.groupCommitClock() - refusedAt < DISK_FULL_REPORTED_MS };
  }

  checkpoint(): void {
    // A maintenance call between transactions: unlike a BEGIN, it may wait for the background
    // checkpointer and readers, as SQLite's busy handler does, for the store's busy timeout.
    this.db.pragma(`busy_timeout = ${this.lockWait?.timeoutMs ?? 0}`);
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      this.db.pragma('busy_timeout = 0');
    }
  }

  backgroundCheckpoint(): Promise<CheckpointResult | null> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    return this.checkpointer ? this.checkpointer.checkpointNow() : Promise.resolve(null);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Let the running and queued transactions finish before the handle goes away.
    await this.committer.whenIdle();
    await this.reader?.close();
    await this.checkpointer?.stop();
    if (this.readOnly) this.readOnly.close();
    else this.db.close();
  }
}

interface CheckedOptions {
  synchronous: 'NORMAL' | 'FULL';
  busyTimeoutMs: number;
  walAutocheckpointPages: number;
  groupCommit: boolean;
  groupCommitClock: () => number;
  checkpointInBackground: boolean;
}

/** How long the background checkpointer waits, once caught up, before it looks for new commits. */
const BACKGROUND_CHECKPOINT_IDLE_MS = 100;

function checkOptions(options: SqliteStoreOptions): CheckedOptions {
  const synchronous = options.synchronous ?? 'NORMAL';
  if (synchronous !== 'NORMAL' && synchronous !== 'FULL') {
    throw new Error(`synchronous must be NORMAL or FULL, got ${String(synchronous)}`);
  }
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
    throw new Error(`busyTimeoutMs must be a non-negative integer, got ${String(busyTimeoutMs)}`);
  }
  const walAutocheckpointPages = options.walAutocheckpointPages ?? DEFAULT_WAL_AUTOCHECKPOINT_PAGES;
  // 0 would turn automatic checkpoints off and let the WAL grow without bound.
  if (!Number.isInteger(walAutocheckpointPages) || walAutocheckpointPages < 1) {
    throw new Error(`walAutocheckpointPages must be a positive integer, got ${String(walAutocheckpointPages)}`);
  }
  const groupCommit = options.groupCommit ?? true;
  if (typeof groupCommit !== 'boolean') throw new Error(`groupCommit must be a boolean, got ${String(groupCommit)}`);
  const groupCommitClock = options.groupCommitClock ?? (() => performance.now());
  if (typeof groupCommitClock !== 'function') throw new Error('groupCommitClock must be a function');
  const checkpointInBackground = options.checkpointInBackground ?? true;
  if (typeof checkpointInBackground !== 'boolean') {
    throw new Error(`checkpointInBackground must be a boolean, got ${String(checkpointInBackground)}`);
  }
  return { synchronous, busyTimeoutMs, walAutocheckpointPages, groupCommit, groupCommitClock, checkpointInBackground };
}

/**
 * Consentry's tables go only into a database that has none but its own: into another
 * application's database they would mix with its tables and read there as an empty ledger.
 */
function checkSchemaOwner(db: Database, path: string, createIfMissing: boolean): void {
  const names = db.prepare<[], string>(`SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name`).pluck().all();
  if (names.includes('schema_migrations')) return;
  if (names.length > 0) {
    const shown = names.slice(0, 3).join(', ') + (names.length > 3 ? ` and ${names.length - 3} more` : '');
    throw new ConsentryError('CONFLICT', `${path} is not a Consentry database: it holds other tables (${shown}) and no Consentry schema`);
  }
  if (!createIfMissing) throw new ConsentryError('NOT_FOUND', `${path} holds no Consentry database yet`);
}

/**
 * The triggers that keep `consent_records` append-only (DESIGN §2), by name, with the statement
 * that made each, as the migrations wrote it: SQLite keeps that text in `sqlite_master.sql`
 * (https://www.sqlite.org/schematab.html).
 */
const LEDGER_GUARDS: ReadonlyMap<string, string> = new Map(
  MIGRATIONS.flatMap((migration) => [...migration.up.matchAll(/CREATE TRIGGER (consent_records_append_only_\w+)[\s\S]*?\nEND;/g)]).map(
    (match) => [match[1] ?? '', match[0].slice(0, -1)] as const,
  ),
);

export interface LedgerGuards {
  /** Guards that are not in the file. */
  missing: string[];
  /** Guards in the file under their name that are no longer the statement the migrations made. */
  altered: string[];
}

const sameStatement = (a: string, b: string): boolean => a.replace(/\s+/g, ' ').trim() === b.replace(/\s+/g, ' ').trim();

/**
 * Which of the ledger's append-only guards the database lacks. Anyone who can write the file can
 * drop them (DROP TRIGGER): the hash chain still shows a record edited in place, but one removed
 * from the end with the head rewritten passes it, so a guard gone is reported on its own. Reads
 * the schema only; run it on a store's connection (`readWith`).
 */
export function ledgerGuardsOf(db: Database): LedgerGuards {
  const rows = db.prepare<[], { name: string; sql: string | null }>("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'consent_records'").all();
  const found = new Map(rows.map((row) => [row.name, row.sql ?? '']));
  const missing: string[] = [];
  const altered: string[] = [];
  for (const [name, statement] of LEDGER_GUARDS) {
    const actual = found.get(name);
    if (actual === undefined) missing.push(name);
    else if (!sameStatement(actual, statement)) altered.push(name);
  }
  return { missing, altered };
}

/** How long a write refused for a full disk is reported by probe() when no write commits after it; the Retry-After of STORE_FULL. */
const DISK_FULL_REPORTED_MS = 30_000;

/** SQLITE_FULL: the disk (or the file system's quota) has no room for what the transaction writes (https://www.sqlite.org/rescode.html#full). */
function isDiskFullError(error: unknown): error is Error {
  return error instanceof Error && Reflect.get(error, 'code') === 'SQLITE_FULL';
}

/** The transaction was rolled back and changed nothing: it can be sent again once there is room. */
function storeFullError(path: string, error: Error): ConsentryError {
  return new ConsentryError('STORE_FULL', `${path} cannot grow: the disk is full (${error.message}); nothing was changed: free some space and try again`);
}

/** SQLite's result codes for a lock another connection holds: SQLITE_BUSY and its extended codes (https://www.sqlite.org/rescode.html#busy). */
function isBusyError(error: unknown): boolean {
  const code: unknown = error instanceof Error ? Reflect.get(error, 'code') : undefined;
  return typeof code === 'string' && (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_'));
}

function writeLockWait(path: string, timeoutMs: number, pause: ((ms: number) => Promise<void>) | undefined): LockWait {
  return {
    isBusy: isBusyError,
    timeoutMs,
    pause: pause ?? ((ms) => new Promise<void>((resolve) => setTimeout(resolve, ms))),
    gaveUp: (error, waitedMs) =>
      new ConsentryError(
        'STORE_BUSY',
        `${path} is locked by another process for writing (${error instanceof Error ? error.message : String(error)}); gave up after ${Math.round(waitedMs)} ms: try again`,
      ),
  };
}

/** createSqliteStore with `readOnly`: the file as it is, through a read-only connection (read-only.ts). */
function openReadOnlyStore(options: SqliteStoreOptions, inMemory: boolean, busyTimeoutMs: number, groupCommitClock: () => number): SqliteStore {
  if (inMemory) throw new Error('readOnly needs a database file: an in-memory database starts empty');
  if (options.createIfMissing === true) throw new Error('readOnly cannot create a database: leave createIfMissing unset');
  if (!existsSync(options.path)) throw new ConsentryError('NOT_FOUND', `no database at ${options.path}`);
  return storeOnReadOnlyConnection(openReadOnly(options.path, busyTimeoutMs), groupCommitClock, (db) => {
    checkSchemaOwner(db, options.path, false);
    checkReadableSchema(db, options.path);
  });
}

/**
 * A store whose transactions read through `connection`: no group commit (a read has no COMMIT to
 * share), no checkpoints, and no lock wait (a DEFERRED read never asks for the write lock). The
 * connection is closed when `check` refuses its database.
 */
function storeOnReadOnlyConnection(connection: ReadOnlyConnection, groupCommitClock: () => number, check: (db: Database) => void = () => undefined): SqliteStoreImpl {
  try {
    check(connection.db);
    return new SqliteStoreImpl(connection.db, new Statements(connection.db), false, groupCommitClock, null, null, connection);
  } catch (error) {
    connection.close();
    throw error;
  }
}

/**
 * Opens (creating if needed) the SQLite database at `options.path` and migrates it. Timestamps
 * are stored as given and compared as text, so callers pass `Date.toISOString()` values.
 */
export function createSqliteStore(options: SqliteStoreOptions): SqliteStore {
  const { synchronous, busyTimeoutMs, walAutocheckpointPages, groupCommit, groupCommitClock, checkpointInBackground } = checkOptions(options);
  const inMemory = options.path === ':memory:' || options.path === '';
  // better-sqlite3 is built without URI file names, so every other path, `file:...` included, is a
  // file: it gets its directory created and a second connection for background checkpoints.
  const plainFile = !inMemory;
  if (options.readOnly === true) return openReadOnlyStore(options, inMemory, busyTimeoutMs, groupCommitClock);
  const createIfMissing = options.createIfMissing ?? true;
  if (plainFile && createIfMissing) mkdirSync(dirname(resolve(options.path)), { recursive: true });
  if (plainFile && !createIfMissing && !existsSync(options.path)) throw new ConsentryError('NOT_FOUND', `no database at ${options.path}`);
  // The database holds personal data and the connectors' tokens: a new one is readable by its
  // owner only, whatever the umask, and SQLite gives its -wal and -shm files the database file's
  // permissions (https://www.sqlite.org/tempfiles.html). An empty file is an empty database.
  if (plainFile && createIfMissing && !existsSync(options.path)) closeSync(openSync(options.path, 'a', 0o600));
  const db = new BetterSqlite3(options.path, { fileMustExist: !createIfMissing && !inMemory });
  try {
    // Before any pragma: setting the journal mode already writes to the file.
    checkSchemaOwner(db, options.path, createIfMissing);
    // WAL lets readers run beside the single writer and makes a commit one sequential append
    // (https://www.sqlite.org/wal.html).
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous}`);
    db.pragma('foreign_keys = ON');
    // Erasure (GDPR Art. 17) must not leave the erased values in the file's free space: SQLite
    // otherwise only unlinks a deleted or rewritten cell and a freed page, and their bytes stay
    // readable (https://www.sqlite.org/pragma.html#pragma_secure_delete). ON also zeroes freed
    // pages, which only costs writes when pages are freed, rare in this append-mostly store.
    db.pragma('secure_delete = ON');
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    db.pragma(`wal_autocheckpoint = ${walAutocheckpointPages}`);
    // A grouped transaction's savepoint keeps the pages it changes in a sub-journal, which SQLite
    // spills to a temporary file past 64 KiB; in memory it costs no file creation per group
    // (https://www.sqlite.org/pragma.html#pragma_temp_store, https://www.sqlite.org/tempfiles.html#stmtjrnl).
    db.pragma('temp_store = MEMORY');
    migrate(db);
    // From here on a BEGIN that finds the lock taken fails at once and the committer waits for it
    // between turns of the event loop (writeLockWait); opening and migrating above may block.
    db.pragma('busy_timeout = 0');
    const checkpointer =
      checkpointInBackground && plainFile
        ? new BackgroundCheckpointer({
            path: options.path,
            idleIntervalMs: BACKGROUND_CHECKPOINT_IDLE_MS,
            // The writer's own automatic checkpoint still runs at walAutocheckpointPages, now over the whole WAL.
            onFailure: (error) => process.emitWarning(error.message, { code: 'CONSENTRY_CHECKPOINT' }),
          })
        : null;
    return new SqliteStoreImpl(
      db,
      new Statements(db),
      groupCommit,
      groupCommitClock,
      checkpointer,
      writeLockWait(options.path, busyTimeoutMs, options.pauseForLock),
      null,
      plainFile ? { path: options.path, busyTimeoutMs } : null,
    );
  } catch (error) {
    db.close();
    throw error;
  }
}

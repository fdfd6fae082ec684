import type { Channel, ConsentRecord, ConsentState, MessagingChannel, Purpose } from '../core/consent.js';
import type { Contact } from '../core/contact.js';
import type { ConsentryEvent, EventType, PublicEventType } from '../core/events.js';
import type { Workspace, WorkspaceSettings, WorkflowTrigger } from '../core/settings.js';
import { isConsentryError } from '../core/errors.js';
import { canonicalUlid, isUlid } from '../core/contact.js';
import { ulidFloorAt } from './ids.js';

/** Which materialised row of a workspace: one per contact, purpose and channel. */
export type ConsentStateKey = Pick<ConsentState, 'contactId' | 'purpose' | 'channel'>;

export interface Conversation {
  id: string;
  workspaceId: string;
  contactId: string;
  channel: MessagingChannel;
  status: 'open' | 'closed';
  openedAt: string;
  closedAt: string | null;
  /**
   * The templates of the workspace's `conversation_opened` bindings that could not start when the
   * conversation opened because the workspace lacked a setting they need (privacyPolicyUrl), in
   * binding order: they start at the contact's next message in the conversation once it is there
   * (startDeferredWorkflows). Absent when none is waiting; an empty list is stored as none.
   */
  deferredTemplates?: string[];
  /**
   * The workflows bindings triggered in the conversation while its consent question waited, in the
   * order they were triggered: they start when the run asking it ends with the conversation still
   * open (startQueuedWorkflows). Absent when none waits; an empty list is stored as none.
   */
  queuedWorkflows?: QueuedWorkflow[];
}

/** A binding's workflow waiting for the consent question of its conversation: the binding as it matched. */
export interface QueuedWorkflow {
  template: string;
  trigger: WorkflowTrigger;
  /** The binding's `match` (its tag or phrase), never the contact's message; null for a binding without one. */
  match: string | null;
}

export type RunStatus = 'active' | 'completed' | 'cancelled';

/** A workflow run; `state` is the workflow runtime's own JSON state, opaque to the store. */
export interface WorkflowRunRow {
  id: string;
  workspaceId: string;
  contactId: string;
  conversationId: string | null;
  channel: MessagingChannel;
  templateId: string;
  status: RunStatus;
  state: unknown;
  createdAt: string;
  updatedAt: string;
}

/** A durable timer: data with a due time, fired by the scheduler (never a setTimeout in the domain). */
export interface TimerRow {
  id: string;
  workspaceId: string;
  runId: string;
  /** Which wait of the run this timer belongs to; a stale timer (older token) is ignored. */
  token: string;
  dueAt: string;
}

/** The stored answer to an inbound message, returned again for a duplicate delivery. */
export interface ProcessedMessage {
  workspaceId: string;
  channel: Channel;
  messageId: string;
  /** The contact the message was resolved to: erasure finds the contact's answers by it. */
  contactId: string | null;
  response: unknown;
  processedAt: string;
}

export interface StoredEvent extends ConsentryEvent {
  /** Global, gapless-per-store append position: dispatchers read after a position. */
  position: number;
}

export interface ContactQuery {
  email?: string;
  phone?: string;
  tag?: string;
  /** The contacts linked to this HubSpot record (the sync can link one record to several, by e-mail and by phone). */
  hubspotId?: string;
  /** Return contacts whose id sorts after this one. */
  afterId?: string;
  limit: number;
}

export interface EventQuery {
  types?: readonly EventType[];
  /** Newest first: return events whose id sorts before this one. */
  beforeId?: string;
  /** Oldest first instead: return events whose id sorts after this one (not together with beforeId). */
  afterId?: string;
  limit: number;
  contactId?: string;
}

/** An API key: only its SHA-256 is stored; `prefix` (the first characters) identifies it in lists. */
export interface ApiKeyRow {
  id: string;
  workspaceId: string;
  name: string | null;
  prefix: string;
  hash: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** Why a hook stopped: DELETE, its target answered 410 Gone, or the API key that created it was revoked. */
export type HookDeletedReason = 'unsubscribed' | 'gone' | 'key_revoked';

/** A webhook subscription (REST hook): one public event type, or `*` for all. */
export interface HookRow {
  id: string;
  workspaceId: string;
  /**
   * The API key that created the hook: revoking the key deletes the hook. Null for a hook created
   * without one (before keys were recorded, or by code that calls the registry directly).
   */
  apiKeyId: string | null;
  targetUrl: string;
  event: PublicEventType | '*';
  /** Every key must equal the event data's value for the event to be delivered. */
  filter: Record<string, string> | null;
  /** Signs deliveries (HMAC-SHA256); kept in clear because it is needed to sign. */
  secret: string;
  /**
   * The hook's latest subscription: the id the latest `POST /v1/hooks` that created or renewed it
   * answered (each one issues a new id). An unsubscribe naming an earlier one leaves the hook live,
   * since a renewal replaced that subscription. Null for a hook no subscription id was issued to
   * (subscribed before they were, and not renewed since).
   */
  subscriptionId: string | null;
  createdAt: string;
  deletedAt: string | null;
  deletedReason: HookDeletedReason | null;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'dead';

/** Deliveries to a workspace's outbound webhook (the custom channel's replies) have the hook id `outbound:<workspaceId>`. */
export const OUTBOUND_HOOK_PREFIX = 'outbound:';

/**
 * The lastError of a reply to the outbound webhook not sent because its contact was erased
 * before it went out: erasure closes the contact's pending replies with it, and the dispatcher
 * any it finds later. The reply stays listed, dead, under the outbound webhook; it cannot be sent
 * again (src/worker/hooks.ts), and /metrics counts it among the erased deliveries, not the dead
 * letters (src/worker/delivery-metrics.ts).
 */
export const NOT_SENT_TO_ERASED_CONTACT = 'not sent: the contact was erased';

/** One event to one hook (or to a workspace's outbound webhook): the unit of retry. */
export interface DeliveryRow {
  id: string;
  workspaceId: string;
  /** A hook id, or `outbound:<workspaceId>` for the custom channel's outbound webhook. */
  hookId: string;
  eventId: string;
  eventPosition: number;
  contactId: string | null;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: string;
  lastError: string | null;
  lastStatusCode: number | null;
  deliveredAt: string | null;
  updatedAt: string;
  /**
   * When the delivery was last sent again after it was dead-lettered (a retry request): its retry
   * window runs from then instead of from the event's occurrence. Null when it never was.
   */
  resentAt: string | null;
}

/** Which of a hook's deliveries `listDeliveries` returns, newest event first. */
export interface DeliveryListQuery {
  status?: DeliveryStatus;
  /** Only deliveries of events whose id sorts before this one (the next page after a delivery of it). */
  beforeEventId?: string;
  limit: number;
}

/** What `resendDeadDeliveries` did. */
export interface ResentDeadDeliveries {
  /** Dead deliveries back to pending. */
  resent: number;
  /** Dead deliveries that could be sent again are left (beyond the limit). */
  more: boolean;
}

/** Which ready deliveries `listReadyDeliveriesByHook` returns. */
export interface ReadyByHookQuery {
  /** At most this many deliveries of each hook. */
  perHook: number;
  /** Stop after this many hooks that have ready deliveries. */
  hooks: number;
  /** Visit hooks in id order from the first one after this id, wrapping around to the start. */
  afterHookId?: string;
  /** Hooks not to visit. */
  skipHookIds?: readonly string[];
}

/** What /metrics shows of the delivery backlog. */
export interface DeliveryBacklog {
  pending: number;
  /** Dead letters that can be sent again: of live hooks, and of outbound webhooks to contacts not erased. */
  dead: number;
  /** Dead deliveries of deleted hooks (DELETE, a 410 Gone, or their key revoked): their subscription ended, nothing sends them. */
  unsubscribed: number;
  /**
   * Dead deliveries to an outbound webhook whose contact was erased: a reply is a message to the
   * person, and erasure ends contact with them (GDPR Art. 17), so nothing sends them, ever.
   */
  erased: number;
  /** When the earliest event with a pending delivery occurred; null when nothing is pending. */
  oldestPendingOccurredAt: string | null;
}

/**
 * The meta key where retention notes the time before which it has deleted rows: the `before` of
 * its latest transaction that deleted any (src/worker/retention.ts).
 */
export const RETENTION_MARK_KEY = 'retention.deletedBefore';

/**
 * Whether `id`, which no row of its list has, may be one retention deleted: a ULID stamped before
 * the time retention has deleted rows before. Retention deletes the oldest rows first, so a page
 * cursor naming such an id is the end of its list, not a mistake.
 */
export async function mayHaveExpired(tx: StoreTx, id: string): Promise<boolean> {
  if (!isUlid(id)) return false;
  const mark = await tx.getMeta(RETENTION_MARK_KEY);
  if (typeof mark !== 'string') return false;
  const time = new Date(mark);
  return !Number.isNaN(time.getTime()) && canonicalUlid(id) < ulidFloorAt(time);
}

/** Which expired rows `pruneExpired` deletes, at most `limit` of each kind. */
export interface RetentionQuery {
  /** Rows recorded before this time (a canonical ISO timestamp) have expired. */
  before: string;
  /**
   * Events at later positions are kept whatever their age: an outbox reader (the hook dispatcher,
   * the Slack and HubSpot connectors) has not read them yet.
   */
  eventsThrough: number;
  limit: number;
}

/** How many rows of each kind `pruneExpired` deleted. */
export interface PrunedRows {
  processedMessages: number;
  events: number;
  deliveries: number;
  runs: number;
}

/**
 * Everything the engine reads and writes, inside one transaction. All methods are scoped by
 * workspace: a row of another workspace is never returned.
 */
export interface StoreTx {
  // workspaces
  insertWorkspace(workspace: Workspace): Promise<void>;
  getWorkspace(id: string): Promise<Workspace | undefined>;
  listWorkspaces(): Promise<Workspace[]>;
  updateWorkspace(id: string, patch: { name?: string; settings?: WorkspaceSettings; updatedAt: string }): Promise<void>;

  // contacts: a contact is read back with `erasedAddressGuard` only when it was written with it set
  insertContact(contact: Contact): Promise<void>;
  /** Replaces the whole row (identities, fields, tags and erasedAddressGuard included). */
  updateContact(contact: Contact): Promise<void>;
  getContact(workspaceId: string, id: string): Promise<Contact | undefined>;
  findContactByIdentity(workspaceId: string, channel: Channel, externalId: string): Promise<Contact | undefined>;
  findContactByEmail(workspaceId: string, email: string): Promise<Contact | undefined>;
  findContactByPhone(workspaceId: string, phone: string): Promise<Contact | undefined>;
  findContactByHubspotId(workspaceId: string, hubspotId: string): Promise<Contact | undefined>;
  /**
   * Erasure keeps a digest of each address an erased contact had (erasedAddressDigest in
   * src/core/contact.ts), and nothing else: not the contact, not when. Adding one twice is a no-op.
   */
  addErasedAddresses(workspaceId: string, digests: readonly string[]): Promise<void>;
  /** Which of `digests` belonged to an erased contact of the workspace, in the order given. */
  findErasedAddresses(workspaceId: string, digests: readonly string[]): Promise<string[]>;
  /** Removes those of `digests` the workspace kept; returns the ones removed, in the order given. */
  removeErasedAddresses(workspaceId: string, digests: readonly string[]): Promise<string[]>;
  /** Ordered by id. */
  listContacts(workspaceId: string, query: ContactQuery): Promise<Contact[]>;
  /** The workspace's tags, sorted, each once as tags compare (oneSpellingPerTag): `VIP` and `vip` list as `VIP`. */
  listTags(workspaceId: string): Promise<string[]>;

  // consent ledger (append-only) and its materialised current status
  lastConsentRecord(workspaceId: string): Promise<ConsentRecord | undefined>;
  appendConsentRecord(record: ConsentRecord): Promise<void>;
  findConsentRecordByIdempotencyKey(workspaceId: string, key: string): Promise<ConsentRecord | undefined>;
  /** In chain order (seq ascending). */
  listConsentRecords(workspaceId: string, query: { contactId?: string; afterSeq?: number; limit?: number }): Promise<ConsentRecord[]>;
  /** Erasure: replaces the evidence of every record of the contact, leaving hashes untouched. */
  redactConsentEvidence(workspaceId: string, contactId: string, redacted: ConsentRecord['evidence']): Promise<number>;
  upsertConsentState(state: ConsentState): Promise<void>;
  getConsentStates(workspaceId: string, contactId: string): Promise<ConsentState[]>;
  getConsentState(workspaceId: string, contactId: string, purpose: Purpose, channel: Channel): Promise<ConsentState | undefined>;
  /**
   * A page of the workspace's materialised rows ordered by contact, purpose, channel, the rows
   * after `after` in that order (for checking them against the fold a page at a time).
   */
  listConsentStates(workspaceId: string, query: { after?: ConsentStateKey; limit: number }): Promise<ConsentState[]>;

  // conversations
  insertConversation(conversation: Conversation): Promise<void>;
  updateConversation(conversation: Conversation): Promise<void>;
  getConversation(workspaceId: string, id: string): Promise<Conversation | undefined>;
  getOpenConversation(workspaceId: string, contactId: string, channel: Channel): Promise<Conversation | undefined>;

  // workflow runs and their timers
  insertRun(run: WorkflowRunRow): Promise<void>;
  updateRun(run: WorkflowRunRow): Promise<void>;
  getRun(workspaceId: string, id: string): Promise<WorkflowRunRow | undefined>;
  listActiveRuns(workspaceId: string, contactId: string, channel?: Channel): Promise<WorkflowRunRow[]>;
  /** Erasure only: every run of the contact, whatever its status, ordered by createdAt then id. */
  listRunsOfContact(workspaceId: string, contactId: string): Promise<WorkflowRunRow[]>;
  /** One timer per run: setting a run's timer replaces the previous one. */
  setTimer(timer: TimerRow): Promise<void>;
  deleteTimer(runId: string): Promise<void>;
  getTimer(runId: string): Promise<TimerRow | undefined>;
  /** Timers due at or before `now`, earliest first, across workspaces; must use the due-time index. */
  listDueTimers(now: string, limit: number): Promise<TimerRow[]>;
  /** The timers of one contact's active runs on a channel that are due at or before `now`, earliest first; read through the active-runs index. */
  listDueTimersOfContact(workspaceId: string, contactId: string, channel: Channel, now: string): Promise<TimerRow[]>;
  countTimers(): Promise<number>;

  // inbound de-duplication
  getProcessedMessage(workspaceId: string, channel: Channel, messageId: string): Promise<ProcessedMessage | undefined>;
  saveProcessedMessage(message: ProcessedMessage): Promise<void>;
  /** Erasure only: the stored answers of the messages resolved to the contact, ordered by channel then message id. */
  listProcessedMessagesOfContact(workspaceId: string, contactId: string): Promise<ProcessedMessage[]>;
  /** Erasure only: replaces a stored answer (its key, contact and time stay). Returns false when there is no such message. */
  replaceProcessedResponse(workspaceId: string, channel: Channel, messageId: string, response: unknown): Promise<boolean>;

  // outbox
  /** Appends an event; its `position` is assigned by the store. */
  appendEvent(event: ConsentryEvent): Promise<StoredEvent>;
  getEvent(workspaceId: string, id: string): Promise<StoredEvent | undefined>;
  /** Erasure only: replaces an event's data (its id, type and position stay). Returns false when there is no such event. */
  replaceEventData(workspaceId: string, id: string, data: ConsentryEvent['data']): Promise<boolean>;
  /** Newest first. */
  listEvents(workspaceId: string, query: EventQuery): Promise<StoredEvent[]>;
  /** For dispatchers: every workspace, in append order, after a position. */
  listEventsAfter(position: number, limit: number): Promise<StoredEvent[]>;
  /**
   * The greatest event or contact id of the workspace written before this call, by this connection
   * or any other (undefined when none). Ids handed out above it follow commit order even when
   * several writers share the database with clocks apart, or one waited for the other's lock, which
   * newest-first and resume-after-id paging (GET /v1/events, GET /v1/contacts) rely on.
   */
  idFloor(workspaceId: string): Promise<string | undefined>;

  // API keys (looked up by hash across workspaces: the key names its workspace)
  insertApiKey(key: ApiKeyRow): Promise<void>;
  findApiKeyByHash(hash: string): Promise<ApiKeyRow | undefined>;
  /** Every workspace's keys when `workspaceId` is omitted; newest first. */
  listApiKeys(workspaceId?: string): Promise<ApiKeyRow[]>;
  getApiKey(id: string): Promise<ApiKeyRow | undefined>;
  updateApiKey(key: ApiKeyRow): Promise<void>;

  // hooks and their deliveries
  insertHook(hook: HookRow): Promise<void>;
  getHook(workspaceId: string, id: string): Promise<HookRow | undefined>;
  /** A workspace's hooks that are not deleted, oldest first. */
  listHooks(workspaceId: string): Promise<HookRow[]>;
  /** Every workspace's live hooks (for the dispatcher's fan-out). */
  listAllLiveHooks(): Promise<HookRow[]>;
  /** The workspace's live hooks created with the API key, oldest first (revoking the key deletes them). */
  listLiveHooksOfApiKey(workspaceId: string, apiKeyId: string): Promise<HookRow[]>;
  updateHook(hook: HookRow): Promise<void>;
  insertDelivery(delivery: DeliveryRow): Promise<void>;
  updateDelivery(delivery: DeliveryRow): Promise<void>;
  /**
   * Deliveries ready to send, grouped by hook so that a dispatcher can share its requests fairly.
   * A pending delivery is ready when its nextAttemptAt <= now and it is the pending delivery with
   * the lowest eventPosition of its (hookId, contactId), so a contact's events reach a hook in
   * order; events without a contact are each their own sequence. One group per visited hook that
   * has any (hooks visited as the query says), each earliest nextAttemptAt first (then
   * eventPosition, then id), at most `perHook` long. The cost grows with the number of hooks that
   * have pending deliveries, not with how many deliveries one hook has waiting.
   */
  listReadyDeliveriesByHook(now: string, query: ReadyByHookQuery): Promise<DeliveryRow[][]>;
  /** A delivery of the workspace, whatever its hook and status. */
  getDelivery(workspaceId: string, id: string): Promise<DeliveryRow | undefined>;
  /** A hook's deliveries, newest event first. */
  listDeliveries(workspaceId: string, hookId: string, query: DeliveryListQuery): Promise<DeliveryRow[]>;
  /**
   * Sends a hook's dead deliveries again, oldest event first, at most `limit` of them: each becomes
   * pending, due at `at`, with no attempts and `resentAt` = `at`; lastError and lastStatusCode stay
   * until the next attempt. The dead deliveries to an outbound webhook whose contact was erased
   * (DeliveryBacklog's `erased`) are never sent again and stay as they are. Answers how many were
   * sent again, and whether dead deliveries that could be are left beyond `limit`.
   */
  resendDeadDeliveries(workspaceId: string, hookId: string, query: { at: string; limit: number }): Promise<ResentDeadDeliveries>;
  /** Marks every pending delivery of a hook dead (the hook is gone); returns how many. */
  abandonDeliveries(hookId: string, reason: string, at: string): Promise<number>;
  /**
   * Marks the contact's pending deliveries to the workspace's outbound webhook (its replies) dead
   * with lastError `reason` and updatedAt `at`, the rest of each row as it is (the contact was
   * erased); returns how many. Its deliveries to hooks are left as they are.
   */
  abandonRepliesToContact(workspaceId: string, contactId: string, reason: string, at: string): Promise<number>;
  countDeliveries(status: DeliveryStatus): Promise<number>;
  /** Pending, dead, unsubscribed and erased deliveries across workspaces, and the age of the backlog. */
  deliveryBacklog(): Promise<DeliveryBacklog>;

  // retention
  /**
   * Deletes expired rows, oldest first, at most `query.limit` of each kind:
   * - stored answers to inbound messages processed before `before`, in the order they were stored,
   *   up to the first one that has not expired;
   * - events whose id (a ULID, ulidFloorAt) was stamped before `before`, in position order up to
   *   the first one that has not expired, and never past `eventsThrough`, the newest event (its
   *   position would be handed out again), nor an event a pending delivery still waits to send;
   *   with each event, its deliveries (delivered or dead);
   * - finished (completed or cancelled) workflow runs, stamped and last updated before `before`, in
   *   id order.
   * Ids that are not ULIDs (sequentialIds) never expire.
   */
  pruneExpired(query: RetentionQuery): Promise<PrunedRows>;

  // small key-value state for dispatchers (cursors, pauses); JSON values
  getMeta(key: string): Promise<unknown>;
  setMeta(key: string, value: unknown): Promise<void>;
}

/**
 * The StoreTx methods that write. `Store.read` refuses each by its name, before it runs: a write
 * that would change no row (a timer already gone) is as wrong inside a read as one that would,
 * and SQLite's read-only connection refuses both.
 */
export const STORE_TX_WRITES = [
  'insertWorkspace', 'updateWorkspace', 'insertContact', 'updateContact', 'addErasedAddresses', 'removeErasedAddresses', 'appendConsentRecord', 'redactConsentEvidence',
  'upsertConsentState', 'insertConversation', 'updateConversation', 'insertRun', 'updateRun', 'setTimer', 'deleteTimer',
  'saveProcessedMessage', 'replaceProcessedResponse', 'appendEvent', 'replaceEventData', 'insertApiKey', 'updateApiKey',
  'insertHook', 'updateHook', 'insertDelivery', 'updateDelivery', 'resendDeadDeliveries', 'abandonDeliveries',
  'abandonRepliesToContact', 'pruneExpired', 'setMeta',
] as const satisfies readonly (keyof StoreTx)[];

/** The StoreTx methods that only read. */
export const STORE_TX_READS = [
  'getWorkspace', 'listWorkspaces', 'getContact', 'findContactByIdentity', 'findContactByEmail', 'findContactByPhone',
  'findContactByHubspotId', 'findErasedAddresses', 'listContacts', 'listTags', 'lastConsentRecord', 'findConsentRecordByIdempotencyKey',
  'listConsentRecords', 'getConsentStates', 'getConsentState', 'listConsentStates', 'getConversation', 'getOpenConversation',
  'getRun', 'listActiveRuns', 'listRunsOfContact', 'getTimer', 'listDueTimers', 'listDueTimersOfContact', 'countTimers',
  'getProcessedMessage', 'listProcessedMessagesOfContact', 'getEvent', 'listEvents', 'listEventsAfter', 'idFloor', 'findApiKeyByHash',
  'listApiKeys', 'getApiKey', 'getHook', 'listHooks', 'listAllLiveHooks', 'listLiveHooksOfApiKey', 'listReadyDeliveriesByHook',
  'getDelivery', 'listDeliveries', 'countDeliveries', 'deliveryBacklog', 'getMeta',
] as const satisfies readonly (keyof StoreTx)[];

/** Fails to compile, naming the method, when a StoreTx method is in neither list. */
type UnclassifiedStoreTxMethod = Exclude<keyof StoreTx, (typeof STORE_TX_WRITES)[number] | (typeof STORE_TX_READS)[number]>;
export type StoreTxMethodsClassified = [UnclassifiedStoreTxMethod] extends [never] ? true : { unclassified: UnclassifiedStoreTxMethod };
export const STORE_TX_METHODS_CLASSIFIED: StoreTxMethodsClassified = true;

const WRITE_METHODS: ReadonlySet<string> = new Set(STORE_TX_WRITES);

/** Whether `method` of StoreTx writes. */
export function isStoreTxWrite(method: string): boolean {
  return WRITE_METHODS.has(method);
}

/**
 * A transaction that wrote nothing because the store ended it for a reason outside it: another
 * transaction of its commit group made the database roll the whole group back, or the group's
 * COMMIT failed. The same transaction may succeed when run again.
 */
export class TransactionRolledBackError extends Error {
  /**
   * The database's code for the failure that ended the group (`cause`'s, such as SQLITE_FULL),
   * so that a store maps a rolled-back transaction as it maps that failure itself (a full disk
   * is STORE_FULL for every transaction of the group); undefined when the cause has none.
   */
  readonly code: string | undefined;

  constructor(cause: unknown) {
    // Only the database's own failure (a driver error with its result code) is named: its
    // messages carry no data, where another transaction's own error may speak of another
    // workspace's contact.
    const code: unknown = cause instanceof Error && !isConsentryError(cause) ? Reflect.get(cause, 'code') : undefined;
    const fromDatabase = cause instanceof Error && typeof code === 'string' ? `: ${cause.message}` : '';
    super(`the database rolled the transaction back${fromDatabase}`, { cause });
    this.name = 'TransactionRolledBackError';
    this.code = typeof code === 'string' ? code : undefined;
  }
}

/**
 * Whether a transaction failed for the store's sake rather than its own: rolled back with its
 * group, a write lock another process held too long (STORE_BUSY), a full disk (STORE_FULL).
 * Nothing of it was written, and running it again later may succeed.
 */
export function isPassingStoreFailure(error: unknown): boolean {
  if (error instanceof TransactionRolledBackError) return true;
  return isConsentryError(error) && (error.code === 'STORE_BUSY' || error.code === 'STORE_FULL');
}

/** What a health check learns from the store without waiting for a write lock. */
export interface StoreProbe {
  /**
   * A write was refused for lack of room (STORE_FULL) in the last 30 seconds, and no commit has
   * grown the database since: the store reads, but what needs room fails.
   */
  diskFull: boolean;
}

export interface Store {
  /**
   * Runs `fn` in one transaction: everything it wrote is committed together, or nothing is
   * (it throws). Transactions are serialised, and the promise settles only once the outcome is
   * committed. `fn` must not wait for another transaction of the same store, neither one it
   * opens nor one started before it: a store may commit that one together with `fn`'s.
   */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` against committed state only: it never sees what an unfinished transaction wrote,
   * and it sees every transaction whose promise settled before `read` was called. A write through
   * its `tx` (a method of STORE_TX_WRITES) fails with WriteInsideReadError (src/store/common.ts)
   * before it runs, whether or not it would change a row, and changes nothing. A store may
   * answer it without waiting for the write lock: SQLite reads a snapshot through a read-only
   * connection, so reads go on while another process (an import, a backup) holds the lock, or
   * while this process's transactions wait for it. Like `transaction`, `fn` uses only `tx`.
   */
  read<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  /**
   * Reads the store outside the queue of transactions, so it answers at once beside a long
   * transaction of this process or another one's write lock. Rejects when the store cannot be read.
   */
  probe(): Promise<StoreProbe>;
  close(): Promise<void>;
}

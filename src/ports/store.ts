import type { Channel, ConsentRecord, ConsentState, MessagingChannel, Purpose } from '../core/consent.js';
import type { Contact } from '../core/contact.js';
import type { ConsentryEvent, EventType } from '../core/events.js';
import type { Workspace, WorkspaceSettings } from '../core/settings.js';

export interface Conversation {
  id: string;
  workspaceId: string;
  contactId: string;
  channel: MessagingChannel;
  status: 'open' | 'closed';
  openedAt: string;
  closedAt: string | null;
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
  /** Return contacts whose id sorts after this one. */
  afterId?: string;
  limit: number;
}

export interface EventQuery {
  types?: readonly EventType[];
  /** Newest first: return events whose id sorts before this one. */
  beforeId?: string;
  limit: number;
  contactId?: string;
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

  // contacts
  insertContact(contact: Contact): Promise<void>;
  /** Replaces the whole row (identities, fields and tags included). */
  updateContact(contact: Contact): Promise<void>;
  getContact(workspaceId: string, id: string): Promise<Contact | undefined>;
  findContactByIdentity(workspaceId: string, channel: Channel, externalId: string): Promise<Contact | undefined>;
  findContactByEmail(workspaceId: string, email: string): Promise<Contact | undefined>;
  findContactByPhone(workspaceId: string, phone: string): Promise<Contact | undefined>;
  findContactByHubspotId(workspaceId: string, hubspotId: string): Promise<Contact | undefined>;
  /** Ordered by id. */
  listContacts(workspaceId: string, query: ContactQuery): Promise<Contact[]>;
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
  /** Every materialised row of the workspace (for checking it against the fold). */
  listAllConsentStates(workspaceId: string): Promise<ConsentState[]>;

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
  /** One timer per run: setting a run's timer replaces the previous one. */
  setTimer(timer: TimerRow): Promise<void>;
  deleteTimer(runId: string): Promise<void>;
  getTimer(runId: string): Promise<TimerRow | undefined>;
  /** Timers due at or before `now`, earliest first, across workspaces; must use the due-time index. */
  listDueTimers(now: string, limit: number): Promise<TimerRow[]>;
  countTimers(): Promise<number>;

  // inbound de-duplication
  getProcessedMessage(workspaceId: string, channel: Channel, messageId: string): Promise<ProcessedMessage | undefined>;
  saveProcessedMessage(message: ProcessedMessage): Promise<void>;

  // outbox
  /** Appends an event; its `position` is assigned by the store. */
  appendEvent(event: ConsentryEvent): Promise<StoredEvent>;
  getEvent(workspaceId: string, id: string): Promise<StoredEvent | undefined>;
  /** Newest first. */
  listEvents(workspaceId: string, query: EventQuery): Promise<StoredEvent[]>;
  /** For dispatchers: every workspace, in append order, after a position. */
  listEventsAfter(position: number, limit: number): Promise<StoredEvent[]>;

  // small key-value state for dispatchers (cursors, pauses); JSON values
  getMeta(key: string): Promise<unknown>;
  setMeta(key: string, value: unknown): Promise<void>;
}

export interface Store {
  /**
   * Runs `fn` in one transaction: everything it wrote is committed together, or nothing is
   * (it throws). Transactions are serialised.
   */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

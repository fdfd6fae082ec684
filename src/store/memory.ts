import type { Channel, ConsentRecord, ConsentState, Purpose } from '../core/consent.js';
import { hasTag, oneSpellingPerTag, type Contact, type ContactIdentity } from '../core/contact.js';
import type { ConsentryEvent } from '../core/events.js';
import { compareConsentStateKeys } from '../core/ledger.js';
import type { Workspace, WorkspaceSettings } from '../core/settings.js';
import type {
  ApiKeyRow,
  ConsentStateKey,
  ContactQuery,
  Conversation,
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
  Store,
  StoredEvent,
  StoreProbe,
  StoreTx,
  TimerRow,
  WorkflowRunRow,
} from '../ports/store.js';
import { OUTBOUND_HOOK_PREFIX } from '../ports/store.js';
import {
  TransactionLock,
  WriteInsideReadError,
  refusingWritesByName,
  assertCanonicalTimestamp,
  assertDelivery,
  assertDeliveryStatus,
  assertLimit,
  compositeKey,
  conflict,
  jsonCopy,
  notFound,
  newerId,
  retentionIdFloor,
} from './common.js';

/*
 * The in-memory twin of the SQLite store: the same contract (test/contracts/store.contract.ts),
 * the same constraints (unique keys, rows that must exist), the same copies in and out (JSON
 * values go through a JSON round trip, as they do in SQLite). Each write checks everything
 * before it changes anything, so a failed call leaves no trace, and logs how to undo itself so
 * a failed transaction leaves none either.
 */

function copyWorkspace(workspace: Workspace): Workspace {
  return {
    id: workspace.id,
    name: workspace.name,
    settings: jsonCopy(workspace.settings),
    createdAt: workspace.createdAt,
    updatedAt: workspace.updatedAt,
  };
}

function copyIdentities(identities: readonly ContactIdentity[]): ContactIdentity[] {
  return identities.map((identity) => ({ channel: identity.channel, externalId: identity.externalId }));
}

function copyContact(contact: Contact): Contact {
  return {
    id: contact.id,
    workspaceId: contact.workspaceId,
    name: contact.name ?? null,
    email: contact.email ?? null,
    phone: contact.phone ?? null,
    identities: copyIdentities(contact.identities),
    fields: jsonCopy(contact.fields),
    tags: jsonCopy(contact.tags),
    hubspotId: contact.hubspotId ?? null,
    createdAt: contact.createdAt,
    updatedAt: contact.updatedAt,
    erasedAt: contact.erasedAt ?? null,
    // Kept only when set, as the SQLite store reads it (its column is 0 for every other contact).
    ...(contact.erasedAddressGuard === undefined ? {} : { erasedAddressGuard: { ownIdentities: contact.erasedAddressGuard.ownIdentities } }),
  };
}

function copyRecord(record: ConsentRecord): ConsentRecord {
  return {
    id: record.id,
    workspaceId: record.workspaceId,
    contactId: record.contactId,
    purpose: record.purpose,
    channel: record.channel,
    status: record.status,
    legalBasis: record.legalBasis ?? null,
    explanation: record.explanation ?? null,
    source: record.source,
    actor: { kind: record.actor.kind, id: record.actor.id },
    evidence: jsonCopy(record.evidence),
    evidenceDigest: record.evidenceDigest,
    occurredAt: record.occurredAt,
    recordedAt: record.recordedAt,
    idempotencyKey: record.idempotencyKey ?? null,
    seq: record.seq,
    prevHash: record.prevHash,
    hash: record.hash,
  };
}

function copyState(state: ConsentState): ConsentState {
  return {
    workspaceId: state.workspaceId,
    contactId: state.contactId,
    purpose: state.purpose,
    channel: state.channel,
    status: state.status,
    legalBasis: state.legalBasis ?? null,
    explanation: state.explanation ?? null,
    source: state.source,
    occurredAt: state.occurredAt,
    recordId: state.recordId,
    seq: state.seq,
  };
}

function copyConversation(conversation: Conversation): Conversation {
  return {
    id: conversation.id,
    workspaceId: conversation.workspaceId,
    contactId: conversation.contactId,
    channel: conversation.channel,
    status: conversation.status,
    openedAt: conversation.openedAt,
    closedAt: conversation.closedAt ?? null,
    ...(conversation.deferredTemplates !== undefined && conversation.deferredTemplates.length > 0 ? { deferredTemplates: [...conversation.deferredTemplates] } : {}),
    ...(conversation.queuedWorkflows !== undefined && conversation.queuedWorkflows.length > 0
      ? { queuedWorkflows: conversation.queuedWorkflows.map((queued) => ({ ...queued })) }
      : {}),
  };
}

function copyRun(run: WorkflowRunRow): WorkflowRunRow {
  return {
    id: run.id,
    workspaceId: run.workspaceId,
    contactId: run.contactId,
    conversationId: run.conversationId ?? null,
    channel: run.channel,
    templateId: run.templateId,
    status: run.status,
    state: jsonCopy(run.state),
    createdAt: run.createdAt,
    updatedAt: run.updatedAt,
  };
}

function copyTimer(timer: TimerRow): TimerRow {
  return { id: timer.id, workspaceId: timer.workspaceId, runId: timer.runId, token: timer.token, dueAt: timer.dueAt };
}

function copyProcessed(message: ProcessedMessage): ProcessedMessage {
  return {
    workspaceId: message.workspaceId,
    channel: message.channel,
    messageId: message.messageId,
    contactId: message.contactId ?? null,
    response: jsonCopy(message.response),
    processedAt: message.processedAt,
  };
}

function copyEvent(event: ConsentryEvent, position: number): StoredEvent {
  return {
    id: event.id,
    type: event.type,
    version: event.version,
    workspaceId: event.workspaceId,
    occurredAt: event.occurredAt,
    contactId: event.contactId ?? null,
    data: jsonCopy(event.data),
    position,
  };
}

function copyApiKey(key: ApiKeyRow): ApiKeyRow {
  return {
    id: key.id,
    workspaceId: key.workspaceId,
    name: key.name ?? null,
    prefix: key.prefix,
    hash: key.hash,
    createdAt: key.createdAt,
    lastUsedAt: key.lastUsedAt ?? null,
    revokedAt: key.revokedAt ?? null,
  };
}

function copyHook(hook: HookRow): HookRow {
  return {
    id: hook.id,
    workspaceId: hook.workspaceId,
    apiKeyId: hook.apiKeyId ?? null,
    targetUrl: hook.targetUrl,
    event: hook.event,
    filter: hook.filter === null || hook.filter === undefined ? null : jsonCopy(hook.filter),
    secret: hook.secret,
    subscriptionId: hook.subscriptionId ?? null,
    createdAt: hook.createdAt,
    deletedAt: hook.deletedAt ?? null,
    deletedReason: hook.deletedReason ?? null,
  };
}

function copyDelivery(delivery: DeliveryRow): DeliveryRow {
  return {
    id: delivery.id,
    workspaceId: delivery.workspaceId,
    hookId: delivery.hookId,
    eventId: delivery.eventId,
    eventPosition: delivery.eventPosition,
    contactId: delivery.contactId ?? null,
    status: delivery.status,
    attempts: delivery.attempts,
    nextAttemptAt: delivery.nextAttemptAt,
    lastError: delivery.lastError ?? null,
    lastStatusCode: delivery.lastStatusCode ?? null,
    deliveredAt: delivery.deliveredAt ?? null,
    updatedAt: delivery.updatedAt,
    resentAt: delivery.resentAt ?? null,
  };
}

function byId<T extends { id: string }>(a: T, b: T): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

type Undo = () => void;

class MemoryData {
  readonly workspaces = new Map<string, Workspace>();
  /** Key: workspace, contact id. */
  readonly contacts = new Map<string, Contact>();
  /** Key: workspace, channel, external id; value: contact id. */
  readonly identities = new Map<string, string>();
  /** Per workspace, in seq order. */
  readonly records = new Map<string, ConsentRecord[]>();
  /** Key: workspace, seq. */
  readonly recordSeqs = new Set<string>();
  /** Key: workspace, digest of an erased contact's address; value: true. */
  readonly erasedAddresses = new Map<string, true>();
  /** Key: workspace, idempotency key. */
  readonly idempotencyKeys = new Map<string, ConsentRecord>();
  /** Key: workspace, contact, purpose, channel. */
  readonly states = new Map<string, ConsentState>();
  readonly conversations = new Map<string, Conversation>();
  readonly runs = new Map<string, WorkflowRunRow>();
  /** Key: run id. */
  readonly timers = new Map<string, TimerRow>();
  /** Key: workspace, channel, message id. */
  readonly processed = new Map<string, ProcessedMessage>();
  /** In position order. */
  readonly events: StoredEvent[] = [];
  /** Key: workspace, event id (ids are unique per workspace, as in SQLite). */
  readonly eventsById = new Map<string, StoredEvent>();
  lastPosition = 0;
  /** The greatest event or contact id written, of any workspace (StoreTx.idFloor); a rolled-back write leaves it higher, which is harmless. */
  newestId: string | undefined;
  /** JSON text, as SQLite keeps it. */
  readonly meta = new Map<string, string>();
  readonly apiKeys = new Map<string, ApiKeyRow>();
  /** Key: hash; value: key id. */
  readonly apiKeyHashes = new Map<string, string>();
  readonly hooks = new Map<string, HookRow>();
  readonly deliveries = new Map<string, DeliveryRow>();
  /** Key: hook id, event id; value: delivery id. */
  readonly deliveryEvents = new Map<string, string>();
}

class MemoryTx implements StoreTx {
  private active = true;

  constructor(
    private readonly d: MemoryData,
    private readonly undo: Undo[],
  ) {}

  end(): void {
    this.active = false;
  }

  private check(): void {
    if (!this.active) throw new Error('this transaction has ended; use the tx passed to the current transaction');
  }

  private put<K, V>(map: Map<K, V>, key: K, value: V): void {
    const had = map.has(key);
    const previous = map.get(key);
    map.set(key, value);
    this.undo.push(() => {
      if (had && previous !== undefined) map.set(key, previous);
      else map.delete(key);
    });
  }

  private remove<K, V>(map: Map<K, V>, key: K): void {
    const previous = map.get(key);
    if (previous === undefined) return;
    map.delete(key);
    this.undo.push(() => map.set(key, previous));
  }

  private requireWorkspace(workspaceId: string, what: string): void {
    if (!this.d.workspaces.has(workspaceId)) throw notFound(`${what}: a row it refers to does not exist`);
  }

  /** As the SQLite schema's foreign key from hooks to api_keys: a recorded key must exist. */
  private requireApiKey(apiKeyId: string | null | undefined, what: string): void {
    if (apiKeyId !== null && apiKeyId !== undefined && !this.d.apiKeys.has(apiKeyId)) throw notFound(`${what}: a row it refers to does not exist`);
  }

  private requireContact(workspaceId: string, contactId: string, what: string): void {
    if (!this.d.contacts.has(compositeKey(workspaceId, contactId))) {
      throw notFound(`${what}: a row it refers to does not exist`);
    }
  }

  // workspaces

  async insertWorkspace(workspace: Workspace): Promise<void> {
    this.check();
    if (this.d.workspaces.has(workspace.id)) throw conflict(`workspace ${workspace.id} already exists`);
    this.put(this.d.workspaces, workspace.id, copyWorkspace(workspace));
  }

  async getWorkspace(id: string): Promise<Workspace | undefined> {
    this.check();
    const workspace = this.d.workspaces.get(id);
    return workspace && copyWorkspace(workspace);
  }

  async listWorkspaces(): Promise<Workspace[]> {
    this.check();
    return [...this.d.workspaces.values()].sort(byId).map(copyWorkspace);
  }

  async updateWorkspace(
    id: string,
    patch: { name?: string; settings?: WorkspaceSettings; updatedAt: string },
  ): Promise<void> {
    this.check();
    const current = this.d.workspaces.get(id);
    if (!current) throw notFound(`workspace ${id} not found`);
    this.put(this.d.workspaces, id, {
      ...current,
      name: patch.name ?? current.name,
      settings: patch.settings === undefined ? current.settings : jsonCopy(patch.settings),
      updatedAt: patch.updatedAt,
    });
  }

  // contacts

  private checkIdentities(contact: Contact, added: readonly ContactIdentity[]): void {
    const seen = new Set<string>();
    for (const identity of contact.identities) {
      const key = compositeKey(identity.channel, identity.externalId);
      if (seen.has(key)) throw conflict(`identity ${identity.channel}:${identity.externalId} is listed twice`);
      seen.add(key);
    }
    for (const identity of added) {
      const owner = this.d.identities.get(compositeKey(contact.workspaceId, identity.channel, identity.externalId));
      if (owner !== undefined && owner !== contact.id) {
        throw conflict(`identity ${identity.channel}:${identity.externalId} already belongs to another contact`);
      }
    }
  }

  async insertContact(contact: Contact): Promise<void> {
    this.check();
    this.checkIdentities(contact, contact.identities);
    const key = compositeKey(contact.workspaceId, contact.id);
    if (this.d.contacts.has(key)) throw conflict(`contact ${contact.id} cannot be inserted: it already exists`);
    this.requireWorkspace(contact.workspaceId, `contact ${contact.id} cannot be inserted`);
    this.put(this.d.contacts, key, copyContact(contact));
    this.noteId(contact.id);
    for (const identity of contact.identities) {
      this.put(this.d.identities, compositeKey(contact.workspaceId, identity.channel, identity.externalId), contact.id);
    }
  }

  async updateContact(contact: Contact): Promise<void> {
    this.check();
    const key = compositeKey(contact.workspaceId, contact.id);
    const current = this.d.contacts.get(key);
    if (!current) throw notFound(`contact ${contact.id} not found`);
    const identityKey = (identity: ContactIdentity): string =>
      compositeKey(contact.workspaceId, identity.channel, identity.externalId);
    const before = new Set(current.identities.map(identityKey));
    const after = new Set(contact.identities.map(identityKey));
    const added = contact.identities.filter((identity) => !before.has(identityKey(identity)));
    this.checkIdentities(contact, added);
    for (const identity of current.identities) {
      if (!after.has(identityKey(identity))) this.remove(this.d.identities, identityKey(identity));
    }
    for (const identity of added) this.put(this.d.identities, identityKey(identity), contact.id);
    this.put(this.d.contacts, key, copyContact(contact));
  }

  async getContact(workspaceId: string, id: string): Promise<Contact | undefined> {
    this.check();
    const contact = this.d.contacts.get(compositeKey(workspaceId, id));
    return contact && copyContact(contact);
  }

  async findContactByIdentity(workspaceId: string, channel: Channel, externalId: string): Promise<Contact | undefined> {
    this.check();
    const contactId = this.d.identities.get(compositeKey(workspaceId, channel, externalId));
    if (contactId === undefined) return undefined;
    const contact = this.d.contacts.get(compositeKey(workspaceId, contactId));
    return contact && copyContact(contact);
  }

  private firstContact(workspaceId: string, matches: (contact: Contact) => boolean): Contact | undefined {
    let found: Contact | undefined;
    for (const contact of this.d.contacts.values()) {
      if (contact.workspaceId !== workspaceId || !matches(contact)) continue;
      if (!found || contact.id < found.id) found = contact;
    }
    return found && copyContact(found);
  }

  async findContactByEmail(workspaceId: string, email: string): Promise<Contact | undefined> {
    this.check();
    return this.firstContact(workspaceId, (contact) => contact.email === email);
  }

  async findContactByPhone(workspaceId: string, phone: string): Promise<Contact | undefined> {
    this.check();
    return this.firstContact(workspaceId, (contact) => contact.phone === phone);
  }

  async addErasedAddresses(workspaceId: string, digests: readonly string[]): Promise<void> {
    this.check();
    this.requireWorkspace(workspaceId, 'erased address');
    for (const digest of digests) this.put(this.d.erasedAddresses, compositeKey(workspaceId, digest), true);
  }

  async findErasedAddresses(workspaceId: string, digests: readonly string[]): Promise<string[]> {
    this.check();
    return digests.filter((digest) => this.d.erasedAddresses.has(compositeKey(workspaceId, digest)));
  }

  async removeErasedAddresses(workspaceId: string, digests: readonly string[]): Promise<string[]> {
    this.check();
    const removed: string[] = [];
    for (const digest of digests) {
      const key = compositeKey(workspaceId, digest);
      if (!this.d.erasedAddresses.has(key)) continue;
      this.remove(this.d.erasedAddresses, key);
      removed.push(digest);
    }
    return removed;
  }

  async findContactByHubspotId(workspaceId: string, hubspotId: string): Promise<Contact | undefined> {
    this.check();
    return this.firstContact(workspaceId, (contact) => contact.hubspotId === hubspotId);
  }

  async listContacts(workspaceId: string, query: ContactQuery): Promise<Contact[]> {
    this.check();
    assertLimit(query.limit);
    const { email, phone, hubspotId, tag, afterId } = query;
    return [...this.d.contacts.values()]
      .filter(
        (contact) =>
          contact.workspaceId === workspaceId &&
          (email === undefined || contact.email === email) &&
          (phone === undefined || contact.phone === phone) &&
          (hubspotId === undefined || contact.hubspotId === hubspotId) &&
          (tag === undefined || hasTag(contact, tag)) &&
          (afterId === undefined || contact.id > afterId),
      )
      .sort(byId)
      .slice(0, query.limit)
      .map(copyContact);
  }

  async listTags(workspaceId: string): Promise<string[]> {
    this.check();
    const tags = new Set<string>();
    for (const contact of this.d.contacts.values()) {
      if (contact.workspaceId === workspaceId) for (const tag of contact.tags) tags.add(tag);
    }
    return oneSpellingPerTag([...tags].sort(compareText));
  }

  // consent ledger

  private chain(workspaceId: string): ConsentRecord[] {
    return this.d.records.get(workspaceId) ?? [];
  }

  async lastConsentRecord(workspaceId: string): Promise<ConsentRecord | undefined> {
    this.check();
    const last = this.chain(workspaceId).at(-1);
    return last && copyRecord(last);
  }

  async appendConsentRecord(record: ConsentRecord): Promise<void> {
    this.check();
    const what = `consent record ${record.id} (seq ${record.seq}) cannot be appended`;
    if (!Number.isInteger(record.seq) || record.seq < 1) throw conflict(`${what}: seq must be a positive integer`);
    const seqKey = compositeKey(record.workspaceId, String(record.seq));
    if (this.d.recordSeqs.has(seqKey)) throw conflict(`${what}: seq is taken`);
    const idempotencyKey = record.idempotencyKey ?? null;
    const keyOfRecord = idempotencyKey === null ? null : compositeKey(record.workspaceId, idempotencyKey);
    if (keyOfRecord !== null && this.d.idempotencyKeys.has(keyOfRecord)) throw conflict(`${what}: idempotency key is taken`);
    this.requireContact(record.workspaceId, record.contactId, what);

    const stored = copyRecord(record);
    let chain = this.d.records.get(record.workspaceId);
    if (!chain) {
      chain = [];
      this.put(this.d.records, record.workspaceId, chain);
    }
    // Records arrive in seq order; an out-of-order seq is placed where it sorts.
    let index = chain.length;
    while (index > 0 && (chain[index - 1]?.seq ?? 0) > stored.seq) index -= 1;
    chain.splice(index, 0, stored);
    const inserted = chain;
    this.undo.push(() => {
      const at = inserted.indexOf(stored);
      if (at >= 0) inserted.splice(at, 1);
    });
    this.d.recordSeqs.add(seqKey);
    this.undo.push(() => this.d.recordSeqs.delete(seqKey));
    if (keyOfRecord !== null) this.put(this.d.idempotencyKeys, keyOfRecord, stored);
  }

  async findConsentRecordByIdempotencyKey(workspaceId: string, key: string): Promise<ConsentRecord | undefined> {
    this.check();
    const record = this.d.idempotencyKeys.get(compositeKey(workspaceId, key));
    return record && copyRecord(record);
  }

  async listConsentRecords(
    workspaceId: string,
    query: { contactId?: string; afterSeq?: number; limit?: number },
  ): Promise<ConsentRecord[]> {
    this.check();
    if (query.limit !== undefined) assertLimit(query.limit);
    const afterSeq = query.afterSeq ?? 0;
    const matching = this.chain(workspaceId).filter(
      (record) => record.seq > afterSeq && (query.contactId === undefined || record.contactId === query.contactId),
    );
    return (query.limit === undefined ? matching : matching.slice(0, query.limit)).map(copyRecord);
  }

  async redactConsentEvidence(
    workspaceId: string,
    contactId: string,
    redacted: ConsentRecord['evidence'],
  ): Promise<number> {
    this.check();
    let count = 0;
    for (const record of this.chain(workspaceId)) {
      if (record.contactId !== contactId) continue;
      const previous = record.evidence;
      record.evidence = jsonCopy(redacted);
      this.undo.push(() => {
        record.evidence = previous;
      });
      count += 1;
    }
    return count;
  }

  async upsertConsentState(state: ConsentState): Promise<void> {
    this.check();
    this.requireContact(state.workspaceId, state.contactId, `consent state of contact ${state.contactId} cannot be written`);
    this.put(
      this.d.states,
      compositeKey(state.workspaceId, state.contactId, state.purpose, state.channel),
      copyState(state),
    );
  }

  private statesOf(workspaceId: string, contactId?: string): ConsentState[] {
    return [...this.d.states.values()]
      .filter((state) => state.workspaceId === workspaceId && (contactId === undefined || state.contactId === contactId))
      .sort(compareConsentStateKeys)
      .map(copyState);
  }

  async getConsentStates(workspaceId: string, contactId: string): Promise<ConsentState[]> {
    this.check();
    return this.statesOf(workspaceId, contactId);
  }

  async getConsentState(
    workspaceId: string,
    contactId: string,
    purpose: Purpose,
    channel: Channel,
  ): Promise<ConsentState | undefined> {
    this.check();
    const state = this.d.states.get(compositeKey(workspaceId, contactId, purpose, channel));
    return state && copyState(state);
  }

  async listConsentStates(workspaceId: string, query: { after?: ConsentStateKey; limit: number }): Promise<ConsentState[]> {
    this.check();
    assertLimit(query.limit);
    const { after } = query;
    const states = this.statesOf(workspaceId);
    const from = after === undefined ? 0 : states.findIndex((state) => compareConsentStateKeys(state, after) > 0);
    return from < 0 ? [] : states.slice(from, from + query.limit);
  }

  // conversations

  async insertConversation(conversation: Conversation): Promise<void> {
    this.check();
    const what = `conversation ${conversation.id} cannot be inserted`;
    if (this.d.conversations.has(conversation.id)) throw conflict(`${what}: it already exists`);
    this.requireContact(conversation.workspaceId, conversation.contactId, what);
    this.put(this.d.conversations, conversation.id, copyConversation(conversation));
  }

  async updateConversation(conversation: Conversation): Promise<void> {
    this.check();
    const current = this.d.conversations.get(conversation.id);
    if (!current || current.workspaceId !== conversation.workspaceId) {
      throw notFound(`conversation ${conversation.id} not found`);
    }
    this.requireContact(conversation.workspaceId, conversation.contactId, `conversation ${conversation.id} cannot be updated`);
    this.put(this.d.conversations, conversation.id, copyConversation(conversation));
  }

  async getConversation(workspaceId: string, id: string): Promise<Conversation | undefined> {
    this.check();
    const conversation = this.d.conversations.get(id);
    return conversation && conversation.workspaceId === workspaceId ? copyConversation(conversation) : undefined;
  }

  async getOpenConversation(workspaceId: string, contactId: string, channel: Channel): Promise<Conversation | undefined> {
    this.check();
    let newest: Conversation | undefined;
    for (const conversation of this.d.conversations.values()) {
      if (
        conversation.workspaceId !== workspaceId ||
        conversation.contactId !== contactId ||
        conversation.channel !== channel ||
        conversation.status !== 'open'
      ) {
        continue;
      }
      if (
        !newest ||
        conversation.openedAt > newest.openedAt ||
        (conversation.openedAt === newest.openedAt && conversation.id > newest.id)
      ) {
        newest = conversation;
      }
    }
    return newest && copyConversation(newest);
  }

  // workflow runs and timers

  async insertRun(run: WorkflowRunRow): Promise<void> {
    this.check();
    const what = `workflow run ${run.id} cannot be inserted`;
    if (this.d.runs.has(run.id)) throw conflict(`${what}: it already exists`);
    this.requireContact(run.workspaceId, run.contactId, what);
    this.put(this.d.runs, run.id, copyRun(run));
  }

  async updateRun(run: WorkflowRunRow): Promise<void> {
    this.check();
    const current = this.d.runs.get(run.id);
    if (!current || current.workspaceId !== run.workspaceId) throw notFound(`workflow run ${run.id} not found`);
    this.requireContact(run.workspaceId, run.contactId, `workflow run ${run.id} cannot be updated`);
    this.put(this.d.runs, run.id, copyRun(run));
  }

  async getRun(workspaceId: string, id: string): Promise<WorkflowRunRow | undefined> {
    this.check();
    const run = this.d.runs.get(id);
    return run && run.workspaceId === workspaceId ? copyRun(run) : undefined;
  }

  async listActiveRuns(workspaceId: string, contactId: string, channel?: Channel): Promise<WorkflowRunRow[]> {
    this.check();
    return [...this.d.runs.values()]
      .filter(
        (run) =>
          run.workspaceId === workspaceId &&
          run.contactId === contactId &&
          run.status === 'active' &&
          (channel === undefined || run.channel === channel),
      )
      .sort((a, b) => compareText(a.createdAt, b.createdAt) || compareText(a.id, b.id))
      .map(copyRun);
  }

  async listRunsOfContact(workspaceId: string, contactId: string): Promise<WorkflowRunRow[]> {
    this.check();
    return [...this.d.runs.values()]
      .filter((run) => run.workspaceId === workspaceId && run.contactId === contactId)
      .sort((a, b) => compareText(a.createdAt, b.createdAt) || compareText(a.id, b.id))
      .map(copyRun);
  }

  async setTimer(timer: TimerRow): Promise<void> {
    this.check();
    assertCanonicalTimestamp(timer.dueAt, 'dueAt');
    // A timer belongs to its run's workspace, as every row is scoped by workspace.
    if (this.d.runs.get(timer.runId)?.workspaceId !== timer.workspaceId) {
      throw notFound(`timer of run ${timer.runId} cannot be set: a row it refers to does not exist`);
    }
    this.put(this.d.timers, timer.runId, copyTimer(timer));
  }

  async deleteTimer(runId: string): Promise<void> {
    this.check();
    this.remove(this.d.timers, runId);
  }

  async getTimer(runId: string): Promise<TimerRow | undefined> {
    this.check();
    const timer = this.d.timers.get(runId);
    return timer && copyTimer(timer);
  }

  async listDueTimersOfContact(workspaceId: string, contactId: string, channel: Channel, now: string): Promise<TimerRow[]> {
    this.check();
    assertCanonicalTimestamp(now, 'now');
    return [...this.d.timers.values()]
      .filter((timer) => {
        const run = this.d.runs.get(timer.runId);
        return timer.dueAt <= now && run?.workspaceId === workspaceId && run.contactId === contactId && run.channel === channel && run.status === 'active';
      })
      .sort((a, b) => compareText(a.dueAt, b.dueAt) || compareText(a.runId, b.runId))
      .map(copyTimer);
  }

  async listDueTimers(now: string, limit: number): Promise<TimerRow[]> {
    this.check();
    assertCanonicalTimestamp(now, 'now');
    assertLimit(limit);
    return [...this.d.timers.values()]
      .filter((timer) => timer.dueAt <= now)
      .sort((a, b) => compareText(a.dueAt, b.dueAt) || compareText(a.runId, b.runId))
      .slice(0, limit)
      .map(copyTimer);
  }

  async countTimers(): Promise<number> {
    this.check();
    return this.d.timers.size;
  }

  // inbound de-duplication

  async getProcessedMessage(
    workspaceId: string,
    channel: Channel,
    messageId: string,
  ): Promise<ProcessedMessage | undefined> {
    this.check();
    const message = this.d.processed.get(compositeKey(workspaceId, channel, messageId));
    return message && copyProcessed(message);
  }

  async saveProcessedMessage(message: ProcessedMessage): Promise<void> {
    this.check();
    const what = `message ${message.channel}:${message.messageId} cannot be recorded`;
    const key = compositeKey(message.workspaceId, message.channel, message.messageId);
    if (this.d.processed.has(key)) throw conflict(`${what}: it already is`);
    this.requireWorkspace(message.workspaceId, what);
    this.put(this.d.processed, key, copyProcessed(message));
  }

  async listProcessedMessagesOfContact(workspaceId: string, contactId: string): Promise<ProcessedMessage[]> {
    this.check();
    return [...this.d.processed.values()]
      .filter((message) => message.workspaceId === workspaceId && message.contactId === contactId)
      .sort((a, b) => compareText(a.channel, b.channel) || compareText(a.messageId, b.messageId))
      .map(copyProcessed);
  }

  async replaceProcessedResponse(workspaceId: string, channel: Channel, messageId: string, response: unknown): Promise<boolean> {
    this.check();
    const key = compositeKey(workspaceId, channel, messageId);
    const message = this.d.processed.get(key);
    if (!message) return false;
    this.put(this.d.processed, key, copyProcessed({ ...message, response }));
    return true;
  }

  // outbox

  async appendEvent(event: ConsentryEvent): Promise<StoredEvent> {
    this.check();
    const what = `event ${event.id} cannot be appended`;
    const key = compositeKey(event.workspaceId, event.id);
    if (this.d.eventsById.has(key)) throw conflict(`${what}: id is taken`);
    this.requireWorkspace(event.workspaceId, what);
    const stored = copyEvent(event, this.d.lastPosition + 1);
    this.d.lastPosition = stored.position;
    this.d.events.push(stored);
    this.put(this.d.eventsById, key, stored);
    this.noteId(event.id);
    this.undo.push(() => {
      this.d.events.pop();
      this.d.lastPosition = stored.position - 1;
    });
    return copyEvent(stored, stored.position);
  }

  async getEvent(workspaceId: string, id: string): Promise<StoredEvent | undefined> {
    this.check();
    const event = this.d.eventsById.get(compositeKey(workspaceId, id));
    return event ? copyEvent(event, event.position) : undefined;
  }

  async replaceEventData(workspaceId: string, id: string, data: ConsentryEvent['data']): Promise<boolean> {
    this.check();
    const event = this.d.eventsById.get(compositeKey(workspaceId, id));
    if (!event) return false;
    const previous = event.data;
    event.data = jsonCopy(data);
    this.undo.push(() => {
      event.data = previous;
    });
    return true;
  }

  async listEvents(workspaceId: string, query: EventQuery): Promise<StoredEvent[]> {
    this.check();
    assertLimit(query.limit);
    const types = query.types && query.types.length > 0 ? new Set(query.types) : undefined;
    const { beforeId, afterId, contactId } = query;
    return this.d.events
      .filter(
        (event) =>
          event.workspaceId === workspaceId &&
          (types === undefined || types.has(event.type)) &&
          (contactId === undefined || event.contactId === contactId) &&
          (beforeId === undefined || event.id < beforeId) &&
          (afterId === undefined || event.id > afterId),
      )
      .sort((a, b) => (afterId === undefined ? compareText(b.id, a.id) : compareText(a.id, b.id)))
      .slice(0, query.limit)
      .map((event) => copyEvent(event, event.position));
  }

  async idFloor(_workspaceId: string): Promise<string | undefined> {
    this.check();
    return this.d.newestId;
  }

  private noteId(id: string): void {
    this.d.newestId = newerId(this.d.newestId, id);
  }

  async listEventsAfter(position: number, limit: number): Promise<StoredEvent[]> {
    this.check();
    assertLimit(limit);
    const result: StoredEvent[] = [];
    for (const event of this.d.events) {
      if (result.length >= limit) break;
      if (event.position > position) result.push(copyEvent(event, event.position));
    }
    return result;
  }

  // API keys

  private checkApiKeyHash(key: ApiKeyRow, what: string): void {
    const owner = this.d.apiKeyHashes.get(key.hash);
    if (owner !== undefined && owner !== key.id) throw conflict(`${what}: hash is taken`);
  }

  async insertApiKey(key: ApiKeyRow): Promise<void> {
    this.check();
    assertCanonicalTimestamp(key.createdAt, 'createdAt');
    const what = `API key ${key.id} cannot be inserted`;
    if (this.d.apiKeys.has(key.id)) throw conflict(`${what}: it already exists`);
    this.checkApiKeyHash(key, what);
    this.requireWorkspace(key.workspaceId, what);
    this.put(this.d.apiKeys, key.id, copyApiKey(key));
    this.put(this.d.apiKeyHashes, key.hash, key.id);
  }

  async findApiKeyByHash(hash: string): Promise<ApiKeyRow | undefined> {
    this.check();
    const id = this.d.apiKeyHashes.get(hash);
    const key = id === undefined ? undefined : this.d.apiKeys.get(id);
    return key && copyApiKey(key);
  }

  async listApiKeys(workspaceId?: string): Promise<ApiKeyRow[]> {
    this.check();
    return [...this.d.apiKeys.values()]
      .filter((key) => workspaceId === undefined || key.workspaceId === workspaceId)
      .sort((a, b) => compareText(b.createdAt, a.createdAt) || compareText(b.id, a.id))
      .map(copyApiKey);
  }

  async getApiKey(id: string): Promise<ApiKeyRow | undefined> {
    this.check();
    const key = this.d.apiKeys.get(id);
    return key && copyApiKey(key);
  }

  async updateApiKey(key: ApiKeyRow): Promise<void> {
    this.check();
    assertCanonicalTimestamp(key.createdAt, 'createdAt');
    const current = this.d.apiKeys.get(key.id);
    if (!current || current.workspaceId !== key.workspaceId) throw notFound(`API key ${key.id} not found`);
    this.checkApiKeyHash(key, `API key ${key.id} cannot be updated`);
    if (current.hash !== key.hash) {
      this.remove(this.d.apiKeyHashes, current.hash);
      this.put(this.d.apiKeyHashes, key.hash, key.id);
    }
    this.put(this.d.apiKeys, key.id, copyApiKey(key));
  }

  // hooks and deliveries

  async insertHook(hook: HookRow): Promise<void> {
    this.check();
    assertCanonicalTimestamp(hook.createdAt, 'createdAt');
    const what = `hook ${hook.id} cannot be inserted`;
    if (this.d.hooks.has(hook.id)) throw conflict(`${what}: it already exists`);
    this.requireWorkspace(hook.workspaceId, what);
    this.requireApiKey(hook.apiKeyId, what);
    this.put(this.d.hooks, hook.id, copyHook(hook));
  }

  async getHook(workspaceId: string, id: string): Promise<HookRow | undefined> {
    this.check();
    const hook = this.d.hooks.get(id);
    return hook && hook.workspaceId === workspaceId ? copyHook(hook) : undefined;
  }

  private liveHooks(workspaceId?: string): HookRow[] {
    return [...this.d.hooks.values()]
      .filter((hook) => hook.deletedAt === null && (workspaceId === undefined || hook.workspaceId === workspaceId))
      .sort(
        (a, b) =>
          compareText(a.workspaceId, b.workspaceId) || compareText(a.createdAt, b.createdAt) || compareText(a.id, b.id),
      )
      .map(copyHook);
  }

  async listHooks(workspaceId: string): Promise<HookRow[]> {
    this.check();
    return this.liveHooks(workspaceId);
  }

  async listAllLiveHooks(): Promise<HookRow[]> {
    this.check();
    return this.liveHooks();
  }

  async listLiveHooksOfApiKey(workspaceId: string, apiKeyId: string): Promise<HookRow[]> {
    this.check();
    return this.liveHooks(workspaceId).filter((hook) => hook.apiKeyId === apiKeyId);
  }

  async updateHook(hook: HookRow): Promise<void> {
    this.check();
    assertCanonicalTimestamp(hook.createdAt, 'createdAt');
    const current = this.d.hooks.get(hook.id);
    if (!current || current.workspaceId !== hook.workspaceId) throw notFound(`hook ${hook.id} not found`);
    this.requireApiKey(hook.apiKeyId, `hook ${hook.id} cannot be updated`);
    this.put(this.d.hooks, hook.id, copyHook(hook));
  }

  private checkDeliveryEvent(delivery: DeliveryRow, what: string): void {
    const owner = this.d.deliveryEvents.get(compositeKey(delivery.hookId, delivery.eventId));
    if (owner !== undefined && owner !== delivery.id) throw conflict(`${what}: the event already has a delivery to this hook`);
  }

  async insertDelivery(delivery: DeliveryRow): Promise<void> {
    this.check();
    assertDelivery(delivery);
    const what = `delivery ${delivery.id} cannot be inserted`;
    if (this.d.deliveries.has(delivery.id)) throw conflict(`${what}: it already exists`);
    this.checkDeliveryEvent(delivery, what);
    this.requireWorkspace(delivery.workspaceId, what);
    this.put(this.d.deliveries, delivery.id, copyDelivery(delivery));
    this.put(this.d.deliveryEvents, compositeKey(delivery.hookId, delivery.eventId), delivery.id);
  }

  async updateDelivery(delivery: DeliveryRow): Promise<void> {
    this.check();
    assertDelivery(delivery);
    const current = this.d.deliveries.get(delivery.id);
    if (!current || current.workspaceId !== delivery.workspaceId) throw notFound(`delivery ${delivery.id} not found`);
    this.checkDeliveryEvent(delivery, `delivery ${delivery.id} cannot be updated`);
    const before = compositeKey(current.hookId, current.eventId);
    const after = compositeKey(delivery.hookId, delivery.eventId);
    if (before !== after) {
      this.remove(this.d.deliveryEvents, before);
      this.put(this.d.deliveryEvents, after, delivery.id);
    }
    this.put(this.d.deliveries, delivery.id, copyDelivery(delivery));
  }

  async listReadyDeliveriesByHook(now: string, query: ReadyByHookQuery): Promise<DeliveryRow[][]> {
    this.check();
    assertCanonicalTimestamp(now, 'now');
    assertLimit(query.perHook, 'perHook');
    assertLimit(query.hooks, 'hooks');
    const byHook = new Map<string, DeliveryRow[]>();
    for (const delivery of this.readyDeliveries(now)) {
      const list = byHook.get(delivery.hookId) ?? [];
      list.push(delivery);
      byHook.set(delivery.hookId, list);
    }
    const skip = new Set(query.skipHookIds ?? []);
    const hookIds = [...byHook.keys()].filter((hookId) => !skip.has(hookId)).sort(compareText);
    const after = query.afterHookId;
    const first = after === undefined ? 0 : hookIds.findIndex((hookId) => hookId > after);
    const visiting = first <= 0 ? hookIds : [...hookIds.slice(first), ...hookIds.slice(0, first)];
    return visiting
      .slice(0, query.hooks)
      .map((hookId) => (byHook.get(hookId) ?? []).slice(0, query.perHook).map(copyDelivery))
      .filter((group) => group.length > 0);
  }

  /** Every ready delivery (see StoreTx.listReadyDeliveriesByHook), in send order. */
  private readyDeliveries(now: string): DeliveryRow[] {
    const pending = [...this.d.deliveries.values()].filter((delivery) => delivery.status === 'pending');
    // The head of each (hook, contact) sequence is its lowest pending position; rows without a
    // contact belong to no sequence.
    const heads = new Map<string, number>();
    for (const delivery of pending) {
      if (delivery.contactId === null) continue;
      const key = compositeKey(delivery.hookId, delivery.contactId);
      const head = heads.get(key);
      if (head === undefined || delivery.eventPosition < head) heads.set(key, delivery.eventPosition);
    }
    return pending
      .filter((delivery) => {
        if (delivery.nextAttemptAt > now) return false;
        if (delivery.contactId === null) return true;
        const head = heads.get(compositeKey(delivery.hookId, delivery.contactId));
        return head === undefined || delivery.eventPosition <= head;
      })
      .sort(
        (a, b) =>
          compareText(a.nextAttemptAt, b.nextAttemptAt) || a.eventPosition - b.eventPosition || compareText(a.id, b.id),
      );
  }

  async getDelivery(workspaceId: string, id: string): Promise<DeliveryRow | undefined> {
    this.check();
    const delivery = this.d.deliveries.get(id);
    return delivery && delivery.workspaceId === workspaceId ? copyDelivery(delivery) : undefined;
  }

  private deliveriesOfHook(workspaceId: string, hookId: string, status?: DeliveryStatus): DeliveryRow[] {
    return [...this.d.deliveries.values()].filter(
      (delivery) => delivery.workspaceId === workspaceId && delivery.hookId === hookId && (status === undefined || delivery.status === status),
    );
  }

  async listDeliveries(workspaceId: string, hookId: string, query: DeliveryListQuery): Promise<DeliveryRow[]> {
    this.check();
    assertLimit(query.limit);
    assertDeliveryStatus(query.status);
    const { beforeEventId } = query;
    return this.deliveriesOfHook(workspaceId, hookId, query.status)
      .filter((delivery) => beforeEventId === undefined || delivery.eventId < beforeEventId)
      .sort((a, b) => compareText(b.eventId, a.eventId))
      .slice(0, query.limit)
      .map(copyDelivery);
  }

  async resendDeadDeliveries(workspaceId: string, hookId: string, query: { at: string; limit: number }): Promise<ResentDeadDeliveries> {
    this.check();
    assertCanonicalTimestamp(query.at, 'at');
    assertLimit(query.limit);
    const { at } = query;
    const resendable = this.deliveriesOfHook(workspaceId, hookId, 'dead')
      .filter((delivery) => !this.isReplyToErasedContact(delivery))
      .sort((a, b) => compareText(a.eventId, b.eventId));
    const resent = resendable.slice(0, query.limit);
    for (const delivery of resent) {
      this.put(this.d.deliveries, delivery.id, { ...delivery, status: 'pending', attempts: 0, nextAttemptAt: at, resentAt: at, updatedAt: at });
    }
    return { resent: resent.length, more: resendable.length > resent.length };
  }

  /** A delivery to the workspace's outbound webhook whose contact was erased (DeliveryBacklog's `erased`). */
  private isReplyToErasedContact(delivery: DeliveryRow): boolean {
    if (delivery.hookId !== `${OUTBOUND_HOOK_PREFIX}${delivery.workspaceId}` || delivery.contactId === null) return false;
    const contact = this.d.contacts.get(compositeKey(delivery.workspaceId, delivery.contactId));
    return contact !== undefined && contact.erasedAt !== null;
  }

  async abandonDeliveries(hookId: string, reason: string, at: string): Promise<number> {
    this.check();
    let count = 0;
    for (const delivery of [...this.d.deliveries.values()]) {
      if (delivery.hookId !== hookId || delivery.status !== 'pending') continue;
      this.put(this.d.deliveries, delivery.id, { ...delivery, status: 'dead', lastError: reason, updatedAt: at });
      count += 1;
    }
    return count;
  }

  async abandonRepliesToContact(workspaceId: string, contactId: string, reason: string, at: string): Promise<number> {
    this.check();
    const outbound = `${OUTBOUND_HOOK_PREFIX}${workspaceId}`;
    let count = 0;
    for (const delivery of [...this.d.deliveries.values()]) {
      if (delivery.hookId !== outbound || delivery.workspaceId !== workspaceId || delivery.contactId !== contactId || delivery.status !== 'pending') continue;
      this.put(this.d.deliveries, delivery.id, { ...delivery, status: 'dead', lastError: reason, updatedAt: at });
      count += 1;
    }
    return count;
  }

  async countDeliveries(status: DeliveryStatus): Promise<number> {
    this.check();
    let count = 0;
    for (const delivery of this.d.deliveries.values()) if (delivery.status === status) count += 1;
    return count;
  }

  async deliveryBacklog(): Promise<DeliveryBacklog> {
    this.check();
    let pending = 0;
    let dead = 0;
    let unsubscribed = 0;
    let erased = 0;
    let oldest: number | null = null;
    for (const delivery of this.d.deliveries.values()) {
      if (delivery.status === 'dead') {
        if (this.d.hooks.get(delivery.hookId)?.deletedAt) unsubscribed += 1;
        else if (this.isReplyToErasedContact(delivery)) erased += 1;
        else dead += 1;
      }
      if (delivery.status !== 'pending') continue;
      pending += 1;
      if (oldest === null || delivery.eventPosition < oldest) oldest = delivery.eventPosition;
    }
    const event = oldest === null ? undefined : this.d.events.find((candidate) => candidate.position === oldest);
    return { pending, dead, unsubscribed, erased, oldestPendingOccurredAt: event?.occurredAt ?? null };
  }

  // meta

  // retention

  async pruneExpired(query: RetentionQuery): Promise<PrunedRows> {
    this.check();
    const idsBefore = retentionIdFloor(query);
    const pruned: PrunedRows = { processedMessages: 0, events: 0, deliveries: 0, runs: 0 };

    // Insertion order, as SQLite's rowid order.
    for (const [key, message] of this.d.processed) {
      if (pruned.processedMessages >= query.limit || message.processedAt >= query.before) break;
      this.remove(this.d.processed, key);
      pruned.processedMessages += 1;
    }

    let through = query.eventsThrough;
    const newest = this.d.events.at(-1);
    if (newest !== undefined) through = Math.min(through, newest.position - 1);
    for (const delivery of this.d.deliveries.values()) {
      if (delivery.status === 'pending') through = Math.min(through, delivery.eventPosition - 1);
    }
    let expired = 0;
    while (expired < query.limit && expired < this.d.events.length) {
      const event = this.d.events[expired];
      if (event === undefined || event.position > through || event.id >= idsBefore) break;
      expired += 1;
    }
    if (expired > 0) {
      const removed = this.d.events.splice(0, expired);
      this.undo.push(() => {
        this.d.events.unshift(...removed);
      });
      const lastPosition = removed.at(-1)?.position ?? 0;
      for (const event of removed) this.remove(this.d.eventsById, compositeKey(event.workspaceId, event.id));
      for (const delivery of [...this.d.deliveries.values()]) {
        if (delivery.eventPosition > lastPosition) continue;
        this.remove(this.d.deliveries, delivery.id);
        this.remove(this.d.deliveryEvents, compositeKey(delivery.hookId, delivery.eventId));
        pruned.deliveries += 1;
      }
      pruned.events = expired;
    }

    const runs = [...this.d.runs.values()]
      .filter((run) => run.status !== 'active' && run.id < idsBefore && run.updatedAt < query.before)
      .sort((a, b) => compareText(a.id, b.id))
      .slice(0, query.limit);
    for (const run of runs) {
      this.remove(this.d.runs, run.id);
      this.remove(this.d.timers, run.id);
    }
    pruned.runs = runs.length;
    return pruned;
  }

  async getMeta(key: string): Promise<unknown> {
    this.check();
    const text = this.d.meta.get(key);
    return text === undefined ? undefined : JSON.parse(text);
  }

  async setMeta(key: string, value: unknown): Promise<void> {
    this.check();
    this.put(this.d.meta, key, JSON.stringify(value === undefined ? null : value));
  }
}

class MemoryStore implements Store {
  private readonly data = new MemoryData();
  private readonly lock = new TransactionLock();
  private closed = false;

  /** Memory never runs out of room the way a disk does. */
  async probe(): Promise<StoreProbe> {
    if (this.closed) throw new Error('the store is closed');
    return { diskFull: false };
  }

  /** Serialised: a transaction opened from inside `fn` would wait for `fn` forever, so `fn` uses only `tx`. */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.serialised((tx) => fn(tx));
  }

  /**
   * Serialised with the transactions, which change the maps in place: waiting for the lock is what
   * keeps a read from seeing a transaction's writes before it ends.
   */
  read<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.serialised((tx, undo) => fn(refusingWrites(tx, undo)));
  }

  private async serialised<T>(fn: (tx: MemoryTx, undo: Undo[]) => Promise<T>): Promise<T> {
    if (this.closed) throw new Error('the store is closed');
    const wait = this.lock.acquire();
    if (wait) await wait;
    try {
      if (this.closed) throw new Error('the store is closed');
      const undo: Undo[] = [];
      const tx = new MemoryTx(this.data, undo);
      try {
        const result = await fn(tx, undo);
        tx.end();
        return result;
      } catch (error) {
        tx.end();
        for (let i = undo.length - 1; i >= 0; i -= 1) undo[i]?.();
        throw error;
      }
    } finally {
      this.lock.release();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const wait = this.lock.acquire();
    if (wait) await wait;
    this.lock.release();
  }
}

/**
 * `tx` for Store.read: every write method is refused by its name before it runs, as SQLite's
 * read-only connection refuses a write statement whether or not it would change a row. A read
 * method that changed anything all the same (it left an undo entry) has its changes undone and
 * fails the same way.
 */
function refusingWrites(tx: MemoryTx, undo: Undo[]): StoreTx {
  const refuse = (operation: string, before: number): void => {
    if (undo.length === before) return;
    for (let i = undo.length - 1; i >= before; i -= 1) undo[i]?.();
    undo.length = before;
    throw new WriteInsideReadError(operation);
  };
  return refusingWritesByName(tx, (operation, call) => {
    const before = undo.length;
    let result: unknown;
    try {
      result = call();
    } catch (error) {
      refuse(operation, before);
      throw error;
    }
    if (!(result instanceof Promise)) {
      refuse(operation, before);
      return result;
    }
    return result.then(
      (settled: unknown) => {
        refuse(operation, before);
        return settled;
      },
      (error: unknown) => {
        refuse(operation, before);
        throw error;
      },
    );
  });
}

/** An in-memory Store with the SQLite store's behaviour, for tests, simulations and the CLI's dry runs. */
export function createMemoryStore(): Store {
  return new MemoryStore();
}

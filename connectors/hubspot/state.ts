import { z } from 'zod';
import { ConsentStatusSchema, LegalBasisSchema } from '../../src/core/consent.js';
import type { Store, StoreTx } from '../../src/ports/store.js';
import { expiredCallbacks, type CallbackRetentionQuery } from './callback-retention.js';
import type { ContactSyncState } from './echo.js';

/**
 * The connector's own persistent state (CONNECTORS.md): work rows for HubSpot, what HubSpot holds
 * per contact, and workflow-action callbacks. Every method runs inside the store transaction
 * `HubSpotState.transaction` opens, so rows are written atomically with the engine's data (the
 * outbox cursor above all): an event is either not read yet or has all its rows.
 */

export const CHANGE_TARGETS = ['contact', 'email', 'callback'] as const;
export type ChangeTarget = (typeof CHANGE_TARGETS)[number];

export const ChangePayloadSchema = z.discriminatedUnion('kind', [
  /**
   * Contact properties to write, each value stamped with the row's occurredAt and position, or with
   * its own time in `times` (a row of a contact's current values, made when the sync is turned back
   * on: each value keeps the time of the decision it shows).
   */
  z.object({ kind: z.literal('contact'), properties: z.record(z.string(), z.string()), times: z.record(z.string(), z.string()).optional() }),
  /** Email marketing consent for the portal's email subscription. */
  z.object({
    kind: z.literal('email'),
    status: ConsentStatusSchema,
    legalBasis: LegalBasisSchema.nullable(),
    explanation: z.string().nullable(),
  }),
  /** Completes a blocked workflow action. */
  z.object({ kind: z.literal('callback'), callbackId: z.string(), outputFields: z.record(z.string(), z.string()) }),
]);
export type ChangePayload = z.infer<typeof ChangePayloadSchema>;

export type ChangeStatus = 'pending' | 'dead';

export interface SyncChange {
  /** The outbox position of the event the row came from; with `target`, the row's key. */
  position: number;
  target: ChangeTarget;
  workspaceId: string;
  eventId: string;
  contactId: string | null;
  payload: ChangePayload;
  /** When the described state was decided (orders two values of one property). */
  occurredAt: string;
  status: ChangeStatus;
  attempts: number;
  nextAttemptAt: string;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
}

/** What an outbox event decides about a new row; the rest is the bookkeeping of a row not yet attempted. */
export type NewChange = Pick<SyncChange, 'position' | 'target' | 'workspaceId' | 'eventId' | 'contactId' | 'payload' | 'occurredAt'>;

/** A row not yet attempted, due at once. */
export function pendingChange(change: NewChange, nowIso: string): SyncChange {
  return { ...change, status: 'pending', attempts: 0, nextAttemptAt: nowIso, lastError: null, createdAt: nowIso, updatedAt: nowIso };
}

export interface ChangeKey {
  position: number;
  target: ChangeTarget;
}

/** What `listDueChanges` shows of a row before reading it in full. */
export interface DueRowKey extends ChangeKey {
  workspaceId: string;
  contactId: string | null;
}

export function changeKey(change: ChangeKey): string {
  return `${change.position}:${change.target}`;
}

/**
 * A workflow-action request, keyed by workspace and callbackId: HubSpot's callbackIds are
 * unique per app and portal only, and are not secret, so a workspace must never read, nor claim
 * first, another workspace's callback.
 */
export interface CallbackRecord {
  /** HubSpot's idempotency key for the action request (DESIGN §6). */
  callbackId: string;
  workspaceId: string;
  action: string;
  contactId: string | null;
  /** For a blocked action: the workflow run whose end completes it. */
  runId: string | null;
  /** The answer given, replayed when HubSpot sends the same callbackId again; null while the first request is handled. */
  response: Record<string, string> | null;
  /** Set once the completion is queued. */
  outcome: string | null;
  createdAt: string;
  updatedAt: string;
}

/**
 * A contact whose changes came while the workspace's sync was off (`syncEnabled` false, or its
 * HubSpot settings removed): which values changed and when, never the values themselves. When the
 * sync is on again, the contact's current values of those properties are sent (fan-out.ts), so a
 * pause costs one entry per contact, however many changes it saw.
 */
export interface PausedContact {
  workspaceId: string;
  contactId: string;
  /** Contact properties that changed, each with the latest time a change of it describes. */
  properties: Record<string, string>;
  /** The latest time of an e-mail marketing decision, which the email subscription follows; null when none. */
  emailSubscription: string | null;
  /** The latest outbox position (and its event) among those changes: the rows made later take them. */
  position: number;
  eventId: string;
  /** When its oldest waiting change was noted (the change row's creation): how long the contact has waited. */
  notedAt: string;
  updatedAt: string;
}

function laterTime(a: string | undefined, b: string): string {
  return a === undefined || Date.parse(b) > Date.parse(a) ? b : a;
}

/** What a paused contact becomes with one more change (a row the sync will not send as it is). */
export function notePaused(existing: PausedContact | undefined, change: SyncChange, nowIso: string): PausedContact {
  const paused: PausedContact = existing === undefined
    ? {
        workspaceId: change.workspaceId,
        contactId: change.contactId ?? '',
        properties: {},
        emailSubscription: null,
        position: change.position,
        eventId: change.eventId,
        notedAt: change.createdAt,
        updatedAt: nowIso,
      }
    : { ...existing, properties: { ...existing.properties }, updatedAt: nowIso };
  if (change.payload.kind === 'contact') {
    for (const name of Object.keys(change.payload.properties)) paused.properties[name] = laterTime(paused.properties[name], change.payload.times?.[name] ?? change.occurredAt);
  } else if (change.payload.kind === 'email') {
    paused.emailSubscription = laterTime(paused.emailSubscription ?? undefined, change.occurredAt);
  }
  if (change.position >= paused.position) {
    paused.position = change.position;
    paused.eventId = change.eventId;
  }
  return paused;
}

export interface HubSpotStateTx {
  /** Inserts rows; a row whose key exists is left as it is (reading the outbox again adds nothing). */
  insertChanges(changes: readonly SyncChange[]): Promise<void>;
  /**
   * Pending rows due at `now`: earliest due first, then in outbox order. Rows `skip` names (the
   * caller's work in flight) are passed over before they are read in full and do not count
   * against `limit`.
   */
  listDueChanges(now: string, limit: number, skip?: (row: DueRowKey) => boolean): Promise<SyncChange[]>;
  updateChanges(changes: readonly SyncChange[]): Promise<void>;
  /** Moves rows' next attempt to `until` and nothing else (a lease on rows being sent). */
  deferChanges(keys: readonly ChangeKey[], until: string): Promise<void>;
  deleteChanges(keys: readonly ChangeKey[]): Promise<void>;
  /** The workspace's rows in `status`; `pending` counts its paused contacts too (each is one change waiting). */
  countChanges(workspaceId: string, status: ChangeStatus): Promise<number>;
  /** Rows of every workspace in `status`, paused contacts counted as pending (the /metrics gauges). */
  countAllChanges(status: ChangeStatus): Promise<number>;
  /** The workspace's oldest pending row, if any. */
  oldestPendingChange(workspaceId: string): Promise<SyncChange | null>;
  /** When the workspace's longest-waiting paused contact was noted; null when none waits. */
  oldestPausedAt(workspaceId: string): Promise<string | null>;
  /** Dead letters, newest first. */
  listDeadChanges(workspaceId: string, limit: number): Promise<SyncChange[]>;
  /** Dead letters in outbox order, oldest event first, after the row `after` names (from the first when null). */
  listDeadChangesAfter(workspaceId: string, after: ChangeKey | null, limit: number): Promise<SyncChange[]>;
  /** The workspace's row of one event and target, dead or pending; null when it has none. */
  findChange(workspaceId: string, eventId: string, target: ChangeTarget): Promise<SyncChange | null>;
  /**
   * Makes the workspace's pending rows held with one of `errors` (their lastError) due at `now`,
   * rows `skip` names (in flight) aside; returns how many. Rows waiting for another reason (a
   * backoff, the daily limit) keep their time.
   */
  releaseHeldChanges(workspaceId: string, errors: readonly string[], now: string, skip?: (row: DueRowKey) => boolean): Promise<number>;
  /** Every row of one contact, pending and dead, in outbox order (erasure reads them: erasure.ts). */
  listContactChanges(workspaceId: string, contactId: string): Promise<SyncChange[]>;

  getContactStates(workspaceId: string, contactIds: readonly string[]): Promise<Map<string, ContactSyncState>>;
  putContactState(workspaceId: string, contactId: string, state: ContactSyncState, at: string): Promise<void>;
  /** Forgets every contact's state of the workspace (what another portal held); returns how many. */
  deleteContactStates(workspaceId: string): Promise<number>;

  getPausedContacts(workspaceId: string, contactIds: readonly string[]): Promise<Map<string, PausedContact>>;
  /** Inserts or replaces, by workspace and contact. */
  putPausedContacts(contacts: readonly PausedContact[]): Promise<void>;
  /** Workspaces that have paused contacts. */
  listPausedWorkspaces(): Promise<string[]>;
  /** Removes and returns up to `limit` of the workspace's paused contacts, in outbox order. */
  takePausedContacts(workspaceId: string, limit: number): Promise<PausedContact[]>;

  /** Inserts unless the record's workspace has one with this callbackId; returns the stored record either way and whether it was new. */
  claimCallback(record: CallbackRecord): Promise<{ record: CallbackRecord; created: boolean }>;
  /** Rewrites the record of its workspace and callbackId, if there is one. */
  updateCallback(record: CallbackRecord): Promise<void>;
  getCallback(workspaceId: string, callbackId: string): Promise<CallbackRecord | null>;
  findCallbackByRun(workspaceId: string, runId: string): Promise<CallbackRecord | null>;
  /**
   * Retention: deletes up to `limit` callbacks of any workspace that are finished and last changed
   * before `before` (callback-retention.ts callbackExpired), least recently changed first; returns
   * how many. A pending one (no answer yet, or blocked and its run not ended) is never deleted.
   */
  pruneCallbacks(query: CallbackRetentionQuery): Promise<number>;
}

/** What a read of the connector's rows may ask: counts, for /metrics. */
export type HubSpotStateReader = Pick<HubSpotStateTx, 'countChanges' | 'countAllChanges'>;

export interface HubSpotState {
  /** One store transaction: the engine's `tx` and the connector's rows commit or roll back together. */
  transaction<T>(work: (state: HubSpotStateTx, tx: StoreTx) => Promise<T>): Promise<T>;
  /** Through Store.read: committed rows only, without waiting for the write lock another connection holds. */
  read<T>(work: (state: HubSpotStateReader, tx: StoreTx) => Promise<T>): Promise<T>;
}

function copyChange(change: SyncChange): SyncChange {
  return { ...change, payload: structuredClone(change.payload) };
}

function copyCallback(record: CallbackRecord): CallbackRecord {
  return { ...record, response: record.response === null ? null : { ...record.response } };
}

function byPosition(a: SyncChange, b: SyncChange): number {
  return a.position !== b.position ? a.position - b.position : a.target < b.target ? -1 : a.target > b.target ? 1 : 0;
}

/** The in-memory twin (DESIGN §1): the same contract, an undo journal standing in for ROLLBACK. */
export class InMemoryHubSpotState implements HubSpotState {
  private readonly changes = new Map<string, SyncChange>();
  private readonly contactStates = new Map<string, ContactSyncState>();
  private readonly paused = new Map<string, PausedContact>();
  private readonly callbacks = new Map<string, CallbackRecord>();

  constructor(private readonly store: Store) {}

  transaction<T>(work: (state: HubSpotStateTx, tx: StoreTx) => Promise<T>): Promise<T> {
    return this.store.transaction(async (tx) => {
      const undo: (() => void)[] = [];
      try {
        return await work(this.tx(undo), tx);
      } catch (error) {
        for (const step of undo.reverse()) step();
        throw error;
      }
    });
  }

  read<T>(work: (state: HubSpotStateReader, tx: StoreTx) => Promise<T>): Promise<T> {
    // Store.read runs in turn with the transactions, so no unfinished one has its rows in the maps.
    return this.store.read((tx) => work(this.tx([]), tx));
  }

  private tx(undo: (() => void)[]): HubSpotStateTx {
    const put = <V>(map: Map<string, V>, key: string, value: V): void => {
      const had = map.has(key);
      const before = map.get(key);
      map.set(key, value);
      undo.push(() => (had && before !== undefined ? map.set(key, before) : map.delete(key)));
    };
    const remove = <V>(map: Map<string, V>, key: string): void => {
      const before = map.get(key);
      if (before === undefined) return;
      map.delete(key);
      undo.push(() => map.set(key, before));
    };
    const contactKey = (workspaceId: string, contactId: string) => `${workspaceId}\u0000${contactId}`;
    const callbackKey = (workspaceId: string, callbackId: string) => `${workspaceId}\u0000${callbackId}`;
    const rows = () => [...this.changes.values()];

    return {
      insertChanges: async (changes) => {
        for (const change of changes) {
          const key = changeKey(change);
          if (!this.changes.has(key)) put(this.changes, key, copyChange(change));
        }
      },
      listDueChanges: async (now, limit, skip) =>
        rows()
          .filter((c) => c.status === 'pending' && c.nextAttemptAt <= now && skip?.(c) !== true)
          .sort((a, b) => (a.nextAttemptAt < b.nextAttemptAt ? -1 : a.nextAttemptAt > b.nextAttemptAt ? 1 : byPosition(a, b)))
          .slice(0, limit)
          .map(copyChange),
      updateChanges: async (changes) => {
        for (const change of changes) {
          const key = changeKey(change);
          if (this.changes.has(key)) put(this.changes, key, copyChange(change));
        }
      },
      deleteChanges: async (keys) => {
        for (const key of keys) remove(this.changes, changeKey(key));
      },
      deferChanges: async (keys, until) => {
        for (const key of keys) {
          const row = this.changes.get(changeKey(key));
          if (row !== undefined) put(this.changes, changeKey(key), { ...row, nextAttemptAt: until });
        }
      },
      countChanges: async (workspaceId, status) =>
        rows().filter((c) => c.workspaceId === workspaceId && c.status === status).length +
        (status === 'pending' ? [...this.paused.values()].filter((p) => p.workspaceId === workspaceId).length : 0),
      countAllChanges: async (status) => rows().filter((c) => c.status === status).length + (status === 'pending' ? this.paused.size : 0),
      oldestPendingChange: async (workspaceId) => {
        const oldest = rows()
          .filter((c) => c.workspaceId === workspaceId && c.status === 'pending')
          .sort(byPosition)[0];
        return oldest === undefined ? null : copyChange(oldest);
      },
      oldestPausedAt: async (workspaceId) =>
        [...this.paused.values()]
          .filter((p) => p.workspaceId === workspaceId)
          .map((p) => p.notedAt)
          .sort()[0] ?? null,
      listDeadChanges: async (workspaceId, limit) =>
        rows()
          .filter((c) => c.workspaceId === workspaceId && c.status === 'dead')
          .sort((a, b) => byPosition(b, a))
          .slice(0, limit)
          .map(copyChange),
      listDeadChangesAfter: async (workspaceId, after, limit) =>
        rows()
          .filter((c) => c.workspaceId === workspaceId && c.status === 'dead' && (after === null || c.position > after.position || (c.position === after.position && c.target > after.target)))
          .sort(byPosition)
          .slice(0, limit)
          .map(copyChange),
      findChange: async (workspaceId, eventId, target) => {
        const found = rows().find((c) => c.workspaceId === workspaceId && c.eventId === eventId && c.target === target);
        return found === undefined ? null : copyChange(found);
      },
      releaseHeldChanges: async (workspaceId, errors, now, skip) => {
        const held = rows().filter(
          (c) =>
            c.workspaceId === workspaceId &&
            c.status === 'pending' &&
            c.nextAttemptAt > now &&
            c.lastError !== null &&
            errors.includes(c.lastError) &&
            skip?.(c) !== true,
        );
        for (const row of held) put(this.changes, changeKey(row), { ...row, nextAttemptAt: now });
        return held.length;
      },
      listContactChanges: async (workspaceId, contactId) =>
        rows()
          .filter((c) => c.workspaceId === workspaceId && c.contactId === contactId)
          .sort(byPosition)
          .map(copyChange),
      getContactStates: async (workspaceId, contactIds) => {
        const found = new Map<string, ContactSyncState>();
        for (const contactId of contactIds) {
          const state = this.contactStates.get(contactKey(workspaceId, contactId));
          if (state !== undefined) found.set(contactId, structuredClone(state));
        }
        return found;
      },
      putContactState: async (workspaceId, contactId, state) => {
        put(this.contactStates, contactKey(workspaceId, contactId), structuredClone(state));
      },
      deleteContactStates: async (workspaceId) => {
        const keys = [...this.contactStates.keys()].filter((key) => key.startsWith(`${workspaceId}\u0000`));
        for (const key of keys) remove(this.contactStates, key);
        return keys.length;
      },
      getPausedContacts: async (workspaceId, contactIds) => {
        const found = new Map<string, PausedContact>();
        for (const contactId of contactIds) {
          const paused = this.paused.get(contactKey(workspaceId, contactId));
          if (paused !== undefined) found.set(contactId, structuredClone(paused));
        }
        return found;
      },
      putPausedContacts: async (contacts) => {
        for (const paused of contacts) put(this.paused, contactKey(paused.workspaceId, paused.contactId), structuredClone(paused));
      },
      listPausedWorkspaces: async () => [...new Set([...this.paused.values()].map((p) => p.workspaceId))].sort(),
      takePausedContacts: async (workspaceId, limit) => {
        const taken = [...this.paused.values()]
          .filter((p) => p.workspaceId === workspaceId)
          .sort((a, b) => a.position - b.position || (a.contactId < b.contactId ? -1 : a.contactId > b.contactId ? 1 : 0))
          .slice(0, Math.max(0, limit));
        for (const paused of taken) remove(this.paused, contactKey(workspaceId, paused.contactId));
        return taken.map((p) => structuredClone(p));
      },
      claimCallback: async (record) => {
        const key = callbackKey(record.workspaceId, record.callbackId);
        const existing = this.callbacks.get(key);
        if (existing !== undefined) return { record: copyCallback(existing), created: false };
        put(this.callbacks, key, copyCallback(record));
        return { record: copyCallback(record), created: true };
      },
      updateCallback: async (record) => {
        const key = callbackKey(record.workspaceId, record.callbackId);
        if (this.callbacks.has(key)) put(this.callbacks, key, copyCallback(record));
      },
      getCallback: async (workspaceId, callbackId) => {
        const record = this.callbacks.get(callbackKey(workspaceId, callbackId));
        return record === undefined ? null : copyCallback(record);
      },
      findCallbackByRun: async (workspaceId, runId) => {
        for (const record of this.callbacks.values()) {
          if (record.workspaceId === workspaceId && record.runId === runId) return copyCallback(record);
        }
        return null;
      },
      pruneCallbacks: async (query) => {
        const expired = expiredCallbacks(this.callbacks.values(), query);
        for (const record of expired) remove(this.callbacks, callbackKey(record.workspaceId, record.callbackId));
        return expired.length;
      },
    };
  }
}

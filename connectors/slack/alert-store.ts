import { z } from 'zod';
import { ConsentSourceSchema, ConsentStatusSchema, LegalBasisSchema } from '../../src/core/consent.js';
import { ConsentryError } from '../../src/core/errors.js';
import { ConsentFailedDataSchema, erasedContactOf, OptoutReviewDataSchema, SyncFailedDataSchema, type ErasedContact } from '../../src/core/events.js';
import type { Store, StoreTx, StoredEvent } from '../../src/ports/store.js';
import { assertCanonicalTimestamp, assertLimit } from '../../src/store/common.js';

import {
  ACTIONS_BY_EVENT_TYPE,
  InMemoryAlertStore,
  SLACK_ACTION_IDS,
  type AlertClaim,
  type AlertResolution,
  type AlertStore,
  type ClaimResult,
  type InMemoryAlertStoreOptions,
  type NewSlackAlert,
  type SlackAlert,
} from './actions-port.js';

/**
 * The persistent side of the alerts: the AlertStore the buttons use, plus what the dispatcher
 * needs to read the outbox at least once and post each alert at most once.
 *
 * Ingestion follows the outbox rule (DESIGN §1, as src/worker/hook-dispatcher.ts does): the alert
 * rows of a batch of events and the advanced cursor are written in one store transaction, so after
 * a crash an event either has its alert or is read again; an alert is unique per (workspace, event
 * id), so reading it again creates nothing. Each alert then carries its delivery state: `pending`
 * until it is posted on its own or folded into a digest, so a restart posts what was not posted and
 * nothing that was.
 *
 * An outbox event announcing a contact's erasure (GDPR Art. 17, erasure.ts) redacts and closes that
 * contact's alerts, whatever their delivery state, in the same transaction: it is applied once the
 * cursor has passed it, and again if the event is read again. Each alert Slack shows already (its
 * own message, or the digest it was folded into) is marked `redactionDue` in that transaction, and
 * stays so until the dispatcher has edited that message: a failed edit or a crash loses none.
 */

/** Where the Slack dispatcher has read the outbox up to, in the store's meta table. */
export const SLACK_CURSOR_KEY = 'outbox.slack.position';

export const SLACK_ALERT_DELIVERIES = ['pending', 'posted', 'digested', 'failed'] as const;
export type SlackAlertDelivery = (typeof SLACK_ALERT_DELIVERIES)[number];

export interface SlackAlertRecord extends SlackAlert {
  delivery: SlackAlertDelivery;
  /** Why the alert could not be posted (`failed`). */
  lastError: string | null;
  /** Its contact was erased, and the Slack message that shows it (`message`) still names them: it is to be edited. */
  redactionDue: boolean;
}

/** A message in Slack. */
export interface SlackMessageRef {
  channel: string;
  ts: string;
}

/** Whether erasing leaves a Slack message to edit: one that showed the alert before the erasure. */
export function showsInSlack(delivery: SlackAlertDelivery, message: SlackMessageRef | null): boolean {
  return message !== null && (delivery === 'posted' || delivery === 'digested');
}

/**
 * Whether nothing waits on the alert any more, so retention may delete it once it is old enough
 * (alertExpired): its contact was erased and no Slack message still names them, or Slack shows it
 * (on its own or in a digest) and no button of it can act: it was handled, it is in a digest
 * (whose alerts have no buttons), or its type offers none. An alert not posted yet (pending), one
 * the dispatcher posts again once the set-up is fixed (failed), one whose message is still to be
 * redacted, and one whose buttons wait to be used are open.
 */
export function isClosedAlert(record: SlackAlertRecord): boolean {
  if (record.delivery === 'pending' || record.redactionDue) return false;
  if (record.erased) return true;
  if (record.delivery === 'failed') return false;
  return record.resolution !== null || record.delivery === 'digested' || ACTIONS_BY_EVENT_TYPE[record.event.type].length === 0;
}

/** Which closed alerts `pruneExpired` deletes, at most `limit` of them. */
export interface AlertRetentionQuery {
  /** A canonical ISO timestamp: the alert was created, and handled, before it. */
  before: string;
  limit: number;
}

/**
 * Whether retention deletes the alert (GDPR Art. 5(1)(e): it names the contact): closed, created
 * before `before`, handled before it too, and with no claim taken since (a button's action in
 * progress holds one until it has resolved or released the alert).
 */
export function alertExpired(record: SlackAlertRecord, before: string): boolean {
  return (
    isClosedAlert(record) &&
    record.createdAt < before &&
    (record.resolution === null || record.resolution.at < before) &&
    (record.claim === null || record.claim.at < before)
  );
}

/** Checks a retention query as both stores read it. */
export function assertAlertRetentionQuery(query: AlertRetentionQuery): void {
  assertCanonicalTimestamp(query.before, 'before');
  assertLimit(query.limit);
}

/** Decides, inside the ingesting transaction, which alert (if any) an outbox event becomes. */
export type AlertPlanner = (tx: StoreTx, event: StoredEvent) => Promise<NewSlackAlert | null>;

export interface IngestResult {
  /** Outbox events read. */
  events: number;
  /** Alerts created (an event that already had its alert does not count). */
  created: number;
  /** Contacts whose erasure was read, in outbox order: their alerts were redacted. */
  erased: ErasedContact[];
}

export interface SlackAlertStore extends AlertStore {
  /** Reads up to `batchSize` events after the cursor, records their alerts and advances the cursor, in one transaction. */
  ingest(planner: AlertPlanner, batchSize: number): Promise<IngestResult>;
  getRecord(workspaceId: string, alertId: string): Promise<SlackAlertRecord | null>;
  /** Alerts not posted yet, oldest event first. */
  listPending(workspaceId: string, limit: number): Promise<SlackAlert[]>;
  /** The alert was posted as its own message. */
  markPosted(workspaceId: string, alertId: string, message: { channel: string; ts: string }): Promise<void>;
  /**
   * The alerts were shown in a digest message (`digest`, kept as their `message` so an erasure
   * can find it); they get no message of their own. Returns how many changed: only a pending
   * alert moves on.
   */
  markDigested(workspaceId: string, alertIds: readonly string[], digest?: SlackMessageRef): Promise<number>;
  /**
   * Slack refused the alerts for good (blocks it will never accept, an answer that may hide a post).
   * Returns how many changed: only a pending alert moves on.
   */
  markFailed(workspaceId: string, alertIds: readonly string[], error: string): Promise<number>;
  /**
   * Puts the workspace's failed alerts whose error is one of `errors` back to pending, so they are
   * posted again; returns how many. Alerts that met a set-up error (a revoked token, a bot outside
   * the channel) are made recoverable this way once the set-up changes.
   */
  requeueFailed(workspaceId: string, errors: readonly string[]): Promise<number>;
  /**
   * Redacts and closes every alert of an erased contact, whatever its delivery state, as erasure.ts
   * `erasedAlert` does (no name, no HubSpot link, a redacted event), and marks `redactionDue` those
   * Slack shows (`showsInSlack`). Returns how many alerts changed.
   */
  eraseContact(workspaceId: string, contactId: string): Promise<number>;
  /** The Slack messages that still show an erased contact (`redactionDue`), each once. */
  listRedactions(workspaceId: string, limit: number): Promise<SlackMessageRef[]>;
  /** Every alert whose `message` is this one (an alert posted on its own, or those of a digest), oldest event first. */
  listShownIn(workspaceId: string, message: SlackMessageRef): Promise<SlackAlertRecord[]>;
  /** The message no longer shows an erased contact (edited, or gone): its alerts' `redactionDue` ends. Returns how many changed. */
  markRedacted(workspaceId: string, message: SlackMessageRef): Promise<number>;
  /**
   * The alerts Slack shows in `channel` (posted on their own or in a digest there) created after
   * `since` (ISO-8601 in UTC, as `createdAt` is written): the newest `limit` of them, oldest first
   * (by `createdAt`, then event). What a new pacer takes up of a burst still going on.
   */
  listShownSince(workspaceId: string, channel: string, since: string, limit: number): Promise<SlackAlertRecord[]>;
  /**
   * Retention: deletes, in one transaction, up to `limit` alerts of any workspace that expired
   * (alertExpired), oldest `createdAt` first (then by workspace and id); returns how many. A button
   * of a deleted alert is then answered as one of an alert Consentry does not know.
   */
  pruneExpired(query: AlertRetentionQuery): Promise<number>;
}

const EventBase = {
  id: z.string().min(1),
  version: z.number().int(),
  workspaceId: z.string().min(1),
  occurredAt: z.string().min(1),
  contactId: z.string().nullable(),
};

/** The outbox events that become alerts, parsed (not cast) from a stored event or a stored row. */
export const SlackAlertEventSchema = z.discriminatedUnion('type', [
  z.object({ ...EventBase, type: z.literal('consent.failed'), data: ConsentFailedDataSchema }),
  z.object({ ...EventBase, type: z.literal('optout.review_needed'), data: OptoutReviewDataSchema }),
  z.object({ ...EventBase, type: z.literal('sync.failed'), data: SyncFailedDataSchema }),
]);

const ActionIdSchema = z.enum(SLACK_ACTION_IDS);
export const AlertClaimSchema = z.object({ action: ActionIdSchema, slackUserId: z.string().min(1), at: z.string().min(1) }).strict();
export const StandingDecisionSchema = z.object({ status: ConsentStatusSchema, source: ConsentSourceSchema, occurredAt: z.string().min(1) }).strict();
export const AlertResolutionSchema = AlertClaimSchema.extend({ legalBasis: LegalBasisSchema.optional(), supersededBy: StandingDecisionSchema.optional() }).strict();

export const CursorSchema = z.number().int().nonnegative();

/** The stored cursor; anything else stops ingestion rather than re-alerting the whole outbox. */
export function parseCursor(stored: unknown): number {
  if (stored === undefined || stored === null) return 0;
  const parsed = CursorSchema.safeParse(stored);
  if (!parsed.success) throw new Error(`The Slack dispatcher's cursor (${SLACK_CURSOR_KEY}) is not a position: ${JSON.stringify(stored)}`);
  return parsed.data;
}

/** The claim, copied without any extra key, so both stores compare and return the same shape. */
export function claimOf(claim: AlertClaim): AlertClaim {
  return { action: claim.action, slackUserId: claim.slackUserId, at: claim.at };
}

export function resolutionOf(resolution: AlertResolution): AlertResolution {
  const superseded = resolution.supersededBy;
  return {
    ...claimOf(resolution),
    ...(resolution.legalBasis ? { legalBasis: resolution.legalBasis } : {}),
    ...(superseded ? { supersededBy: { status: superseded.status, source: superseded.source, occurredAt: superseded.occurredAt } } : {}),
  };
}

/** The alert with its event reduced to the public event fields (a stored event also carries its position). */
export function cleanAlert(alert: NewSlackAlert): NewSlackAlert {
  return { ...alert, event: SlackAlertEventSchema.parse(alert.event) };
}

function key(workspaceId: string, alertId: string): string {
  return `${workspaceId}\u0000${alertId}`;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The in-memory twin (DESIGN §1). Alerts planned inside the store transaction are applied only
 * once it has committed, so a failed transaction leaves neither alerts nor an advanced cursor, as
 * in SQLite. Claims are the InMemoryAlertStore's.
 */
export class MemorySlackAlertStore implements SlackAlertStore {
  private readonly alerts: InMemoryAlertStore;
  private readonly deliveries = new Map<string, { delivery: SlackAlertDelivery; lastError: string | null; eventId: string; redactionDue: boolean }>();

  constructor(
    private readonly store: Store,
    options: InMemoryAlertStoreOptions = {},
  ) {
    this.alerts = new InMemoryAlertStore(options);
  }

  async ingest(planner: AlertPlanner, batchSize: number): Promise<IngestResult> {
    const planned = await this.store.transaction(async (tx) => {
      const events = await tx.listEventsAfter(parseCursor(await tx.getMeta(SLACK_CURSOR_KEY)), batchSize);
      // In outbox order, so an erasure also covers the alerts planned before it in the same batch.
      const steps: ({ kind: 'alert'; alert: NewSlackAlert } | { kind: 'erase'; erased: ErasedContact })[] = [];
      for (const event of events) {
        const alert = await planner(tx, event);
        if (alert) steps.push({ kind: 'alert', alert });
        const erased = erasedContactOf(event);
        if (erased) steps.push({ kind: 'erase', erased });
      }
      const last = events.at(-1);
      if (last) await tx.setMeta(SLACK_CURSOR_KEY, last.position);
      return { events: events.length, steps };
    });
    let created = 0;
    const erased: ErasedContact[] = [];
    for (const step of planned.steps) {
      if (step.kind === 'erase') {
        await this.eraseContact(step.erased.workspaceId, step.erased.contactId);
        erased.push(step.erased);
        continue;
      }
      const stored = await this.alerts.create(cleanAlert(step.alert));
      const k = key(stored.workspaceId, stored.id);
      if (!this.deliveries.has(k)) {
        this.deliveries.set(k, { delivery: 'pending', lastError: null, eventId: stored.event.id, redactionDue: false });
        created += 1;
      }
    }
    return { events: planned.events, created, erased };
  }

  async create(alert: NewSlackAlert): Promise<SlackAlert> {
    const stored = await this.alerts.create(cleanAlert(alert));
    const k = key(stored.workspaceId, stored.id);
    if (!this.deliveries.has(k)) this.deliveries.set(k, { delivery: 'pending', lastError: null, eventId: stored.event.id, redactionDue: false });
    return stored;
  }

  get(workspaceId: string, alertId: string): Promise<SlackAlert | null> {
    return this.alerts.get(workspaceId, alertId);
  }

  async getRecord(workspaceId: string, alertId: string): Promise<SlackAlertRecord | null> {
    const alert = await this.alerts.get(workspaceId, alertId);
    const state = this.deliveries.get(key(workspaceId, alertId));
    if (!alert || !state) return null;
    return { ...alert, delivery: state.delivery, lastError: state.lastError, redactionDue: state.redactionDue };
  }

  async listPending(workspaceId: string, limit: number): Promise<SlackAlert[]> {
    const pending: { alertId: string; eventId: string }[] = [];
    for (const [k, state] of this.deliveries) {
      const [ws, alertId] = k.split('\u0000');
      if (ws === workspaceId && alertId !== undefined && state.delivery === 'pending') pending.push({ alertId, eventId: state.eventId });
    }
    pending.sort((a, b) => (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0));
    const result: SlackAlert[] = [];
    for (const { alertId } of pending.slice(0, Math.max(0, limit))) {
      const alert = await this.alerts.get(workspaceId, alertId);
      if (alert) result.push(alert);
    }
    return result;
  }

  async attachMessage(workspaceId: string, alertId: string, message: { channel: string; ts: string }): Promise<void> {
    await this.alerts.attachMessage(workspaceId, alertId, message);
  }

  async markPosted(workspaceId: string, alertId: string, message: { channel: string; ts: string }): Promise<void> {
    const state = this.deliveries.get(key(workspaceId, alertId));
    if (!state) throw new ConsentryError('NOT_FOUND', `alert ${alertId} not found`);
    if (state.delivery !== 'pending') return;
    await this.alerts.attachMessage(workspaceId, alertId, message);
    this.setDelivery(workspaceId, [alertId], 'posted', null);
  }

  async markDigested(workspaceId: string, alertIds: readonly string[], digest?: SlackMessageRef): Promise<number> {
    if (digest) {
      for (const alertId of new Set(alertIds)) {
        if (this.deliveries.get(key(workspaceId, alertId))?.delivery === 'pending') await this.alerts.attachMessage(workspaceId, alertId, digest);
      }
    }
    return this.setDelivery(workspaceId, alertIds, 'digested', null);
  }

  async markFailed(workspaceId: string, alertIds: readonly string[], error: string): Promise<number> {
    return this.setDelivery(workspaceId, alertIds, 'failed', error);
  }

  async requeueFailed(workspaceId: string, errors: readonly string[]): Promise<number> {
    let requeued = 0;
    for (const [k, state] of this.deliveries) {
      if (!k.startsWith(`${workspaceId}\u0000`) || state.delivery !== 'failed' || state.lastError === null || !errors.includes(state.lastError)) continue;
      state.delivery = 'pending';
      state.lastError = null;
      requeued += 1;
    }
    return requeued;
  }

  async eraseContact(workspaceId: string, contactId: string): Promise<number> {
    const changed = await this.alerts.eraseContactAlerts(workspaceId, contactId);
    for (const alert of changed) {
      const state = this.deliveries.get(key(workspaceId, alert.id));
      if (state && showsInSlack(state.delivery, alert.message)) state.redactionDue = true;
    }
    return changed.length;
  }

  async listRedactions(workspaceId: string, limit: number): Promise<SlackMessageRef[]> {
    const messages = new Map<string, SlackMessageRef>();
    for (const record of await this.records(workspaceId)) {
      if (messages.size >= Math.max(0, limit)) break;
      if (record.redactionDue && record.message) messages.set(`${record.message.channel}\u0000${record.message.ts}`, { ...record.message });
    }
    return [...messages.values()];
  }

  async listShownIn(workspaceId: string, message: SlackMessageRef): Promise<SlackAlertRecord[]> {
    return (await this.records(workspaceId)).filter((record) => record.message?.channel === message.channel && record.message.ts === message.ts);
  }

  async markRedacted(workspaceId: string, message: SlackMessageRef): Promise<number> {
    let changed = 0;
    for (const record of await this.listShownIn(workspaceId, message)) {
      const state = this.deliveries.get(key(workspaceId, record.id));
      if (state?.redactionDue) {
        state.redactionDue = false;
        changed += 1;
      }
    }
    return changed;
  }

  async listShownSince(workspaceId: string, channel: string, since: string, limit: number): Promise<SlackAlertRecord[]> {
    if (limit <= 0) return [];
    const shown = (await this.records(workspaceId)).filter(
      (record) => showsInSlack(record.delivery, record.message) && record.message?.channel === channel && record.createdAt > since,
    );
    shown.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.event.id < b.event.id ? -1 : a.event.id > b.event.id ? 1 : 0));
    return shown.slice(-limit);
  }

  async pruneExpired(query: AlertRetentionQuery): Promise<number> {
    assertAlertRetentionQuery(query);
    const expired: SlackAlertRecord[] = [];
    for (const k of this.deliveries.keys()) {
      const [ws, alertId] = k.split('\u0000');
      if (ws === undefined || alertId === undefined) continue;
      const record = await this.getRecord(ws, alertId);
      if (record && alertExpired(record, query.before)) expired.push(record);
    }
    // SQLite's order (slack_alerts_closed: created_at, then the primary key).
    expired.sort((a, b) => compareText(a.createdAt, b.createdAt) || compareText(a.workspaceId, b.workspaceId) || compareText(a.id, b.id));
    const deleted = expired.slice(0, query.limit);
    for (const record of deleted) {
      this.alerts.remove(record.workspaceId, record.id);
      this.deliveries.delete(key(record.workspaceId, record.id));
    }
    return deleted.length;
  }

  claim(workspaceId: string, alertId: string, claim: AlertClaim): Promise<ClaimResult> {
    return this.alerts.claim(workspaceId, alertId, claim);
  }

  resolve(workspaceId: string, alertId: string, resolution: AlertResolution): Promise<SlackAlert> {
    return this.alerts.resolve(workspaceId, alertId, resolution);
  }

  release(workspaceId: string, alertId: string, claim: AlertClaim): Promise<void> {
    return this.alerts.release(workspaceId, alertId, claim);
  }

  /** The workspace's alerts with their delivery, oldest event first. */
  private async records(workspaceId: string): Promise<SlackAlertRecord[]> {
    const records: SlackAlertRecord[] = [];
    for (const k of this.deliveries.keys()) {
      const [ws, alertId] = k.split('\u0000');
      if (ws !== workspaceId || alertId === undefined) continue;
      const record = await this.getRecord(workspaceId, alertId);
      if (record) records.push(record);
    }
    return records.sort((a, b) => (a.event.id < b.event.id ? -1 : a.event.id > b.event.id ? 1 : 0));
  }

  /** Only a pending alert moves on: a posted alert is never marked again, so a late report cannot undo it. */
  private setDelivery(workspaceId: string, alertIds: readonly string[], delivery: SlackAlertDelivery, lastError: string | null): number {
    let changed = 0;
    for (const alertId of new Set(alertIds)) {
      const state = this.deliveries.get(key(workspaceId, alertId));
      if (state?.delivery === 'pending') {
        state.delivery = delivery;
        state.lastError = lastError;
        changed += 1;
      }
    }
    return changed;
  }
}

import type { Statement } from 'better-sqlite3';
import { ConsentryError } from '../../src/core/errors.js';
import { erasedContactOf, type ErasedContact } from '../../src/core/events.js';
import type { SqliteStore } from '../../src/store/sqlite.js';
import {
  assertOpaqueAlertId,
  type AlertClaim,
  type AlertResolution,
  type ClaimResult,
  type NewSlackAlert,
  type SlackAlert,
} from './actions-port.js';
import { erasedAlertEvent, needsErasure } from './erasure.js';
import {
  AlertClaimSchema,
  AlertResolutionSchema,
  assertAlertRetentionQuery,
  claimOf,
  parseCursor,
  resolutionOf,
  showsInSlack,
  SLACK_ALERT_DELIVERIES,
  SLACK_CURSOR_KEY,
  SlackAlertEventSchema,
  type AlertPlanner,
  type AlertRetentionQuery,
  type IngestResult,
  type SlackAlertDelivery,
  type SlackAlertRecord,
  type SlackAlertStore,
  type SlackMessageRef,
} from './alert-store.js';

/**
 * The alerts in the main SQLite database (table `slack_alerts`, migrations 4, 14, 22 and 25). Every statement runs
 * inside `store.transaction`, so it is serialised with the engine's transactions on the shared
 * connection (CONNECTORS.md); ingestion writes the alerts and the outbox cursor in one of them.
 */

interface AlertRow {
  workspace_id: string;
  id: string;
  event_id: string;
  event: string;
  contact_name: string | null;
  contact_url: string | null;
  slack_channel: string;
  created_at: string;
  delivery: string;
  message_channel: string | null;
  message_ts: string | null;
  last_error: string | null;
  claim: string | null;
  resolution: string | null;
  erasure: string | null;
}

const COLUMNS =
  'workspace_id, id, event_id, event, contact_name, contact_url, slack_channel, created_at, delivery, message_channel, message_ts, last_error, claim, resolution, erasure';

/**
 * The alerts a channel showed after a time, newest first (listShownSince): read from
 * slack_alerts_shown (migration 22) as one range of the channel's rows, the window's only, in
 * the order asked for. Its WHERE names the partial index's condition, as SQLite requires to use
 * it (https://www.sqlite.org/partialindex.html). Exported so a test can check its plan.
 */
export const SHOWN_SINCE_SQL = `SELECT ${COLUMNS} FROM slack_alerts
  WHERE workspace_id = ? AND message_channel = ? AND message_ts IS NOT NULL AND delivery IN ('posted', 'digested') AND created_at > ?
  ORDER BY created_at DESC, event_id DESC LIMIT ?`;

/**
 * Retention (pruneExpired): the closed alerts (alert-store.ts isClosedAlert) created before
 * :before, oldest first, read from slack_alerts_closed (migration 25), which holds only closed
 * ones: an open alert, however old, is never read. The first two conditions are the index's own,
 * written alike, as SQLite requires to use a partial index
 * (https://www.sqlite.org/partialindex.html); the last two keep an alert handled or claimed since
 * :before, rows few enough to step over. The type `sync.failed` stands for the types without
 * buttons (ACTIONS_BY_EVENT_TYPE). JSON is read only once json_valid says it is JSON (CASE tests
 * it first, OR may not), so one unreadable row cannot stop every pass; a claim or a resolution
 * that cannot be read does not keep a closed alert. Exported so a test can check its plan.
 */
export const PRUNE_CLOSED_SQL = `DELETE FROM slack_alerts WHERE (workspace_id, id) IN (
  SELECT workspace_id, id FROM slack_alerts
  WHERE delivery <> 'pending'
    AND (erasure = 'erased' OR erasure IS NULL AND delivery IN ('posted', 'digested')
      AND (resolution IS NOT NULL OR delivery = 'digested'
        OR CASE WHEN json_valid(event) THEN json_extract(event, '$.type') = 'sync.failed' ELSE 0 END))
    AND created_at < :before
    AND (resolution IS NULL OR CASE WHEN json_valid(resolution) THEN json_extract(resolution, '$.at') < :before ELSE 1 END)
    AND (claim IS NULL OR CASE WHEN json_valid(claim) THEN json_extract(claim, '$.at') < :before ELSE 1 END)
  ORDER BY created_at, workspace_id, id LIMIT :limit)`;

type InsertParams = [string, string, string, string, string | null, string | null, string, string, string | null];

/** `erasure` (migration 14): null while the contact is not erased; then whether a Slack message still names them. */
type Erasure = 'redacting' | 'erased';

class Statements {
  readonly insert: Statement<InsertParams>;
  readonly get: Statement<[string, string], AlertRow>;
  readonly getByEvent: Statement<[string, string], AlertRow>;
  readonly listPending: Statement<[string, number], AlertRow>;
  readonly setMessage: Statement<[string, string, string, string]>;
  readonly setPosted: Statement<[string, string, string, string]>;
  readonly setDelivery: Statement<[string, string | null, string, string]>;
  readonly requeueFailed: Statement<[string, string]>;
  readonly setClaim: Statement<[string | null, string, string]>;
  readonly setResolution: Statement<[string, string, string]>;
  readonly ofContact: Statement<[string, string, string], AlertRow>;
  readonly setErased: Statement<[string, Erasure, string, string]>;
  readonly setDigested: Statement<[string, string, string, string]>;
  readonly listRedactions: Statement<[string, number], { message_channel: string; message_ts: string }>;
  readonly shownIn: Statement<[string, string, string], AlertRow>;
  readonly setRedacted: Statement<[string, string, string]>;
  readonly shownSince: Statement<[string, string, string, number], AlertRow>;
  readonly pruneClosed: Statement<[{ before: string; limit: number }]>;

  constructor(store: SqliteStore) {
    const db = store.db;
    this.insert = db.prepare(
      `INSERT INTO slack_alerts (workspace_id, id, event_id, event, contact_name, contact_url, slack_channel, created_at, delivery, erasure)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)`,
    );
    this.get = db.prepare(`SELECT ${COLUMNS} FROM slack_alerts WHERE workspace_id = ? AND id = ?`);
    this.getByEvent = db.prepare(`SELECT ${COLUMNS} FROM slack_alerts WHERE workspace_id = ? AND event_id = ?`);
    this.listPending = db.prepare(
      `SELECT ${COLUMNS} FROM slack_alerts WHERE workspace_id = ? AND delivery = 'pending' ORDER BY event_id LIMIT ?`,
    );
    this.setMessage = db.prepare('UPDATE slack_alerts SET message_channel = ?, message_ts = ? WHERE workspace_id = ? AND id = ?');
    this.setPosted = db.prepare(
      `UPDATE slack_alerts SET message_channel = ?, message_ts = ?, delivery = 'posted'
       WHERE workspace_id = ? AND id = ? AND delivery = 'pending'`,
    );
    this.setDelivery = db.prepare(
      `UPDATE slack_alerts SET delivery = ?, last_error = ? WHERE workspace_id = ? AND id = ? AND delivery = 'pending'`,
    );
    this.requeueFailed = db.prepare(
      `UPDATE slack_alerts SET delivery = 'pending', last_error = NULL WHERE workspace_id = ? AND delivery = 'failed' AND last_error = ?`,
    );
    this.setClaim = db.prepare('UPDATE slack_alerts SET claim = ? WHERE workspace_id = ? AND id = ?');
    this.setResolution = db.prepare('UPDATE slack_alerts SET resolution = ?, claim = NULL WHERE workspace_id = ? AND id = ?');
    // No index by contact: erasure is rare and admin-initiated, so it walks the workspace's alerts
    // (the primary key's workspace_id prefix) rather than every alert insert paying for an index.
    this.ofContact = db.prepare(
      `SELECT ${COLUMNS} FROM slack_alerts
       WHERE workspace_id = ? AND (json_extract(event, '$.contactId') = ? OR json_extract(event, '$.data.contactId') = ?)`,
    );
    this.setErased = db.prepare(
      'UPDATE slack_alerts SET contact_name = NULL, contact_url = NULL, event = ?, erasure = ? WHERE workspace_id = ? AND id = ?',
    );
    this.setDigested = db.prepare(
      `UPDATE slack_alerts SET delivery = 'digested', last_error = NULL, message_channel = ?, message_ts = ?
       WHERE workspace_id = ? AND id = ? AND delivery = 'pending'`,
    );
    // These three read slack_alerts_redacting: the rows whose message waits for its edit, rarely any.
    this.listRedactions = db.prepare(
      `SELECT DISTINCT message_channel, message_ts FROM slack_alerts
       WHERE workspace_id = ? AND erasure = 'redacting' AND message_channel IS NOT NULL AND message_ts IS NOT NULL LIMIT ?`,
    );
    this.setRedacted = db.prepare(
      `UPDATE slack_alerts SET erasure = 'erased' WHERE workspace_id = ? AND message_channel = ? AND message_ts = ? AND erasure = 'redacting'`,
    );
    // No index by message: only an erasure and a new lane of the dispatcher read a digest's alerts back, and they walk the workspace's alerts as eraseRows does.
    this.shownIn = db.prepare(`SELECT ${COLUMNS} FROM slack_alerts WHERE workspace_id = ? AND message_channel = ? AND message_ts = ? ORDER BY event_id`);
    this.shownSince = db.prepare(SHOWN_SINCE_SQL);
    this.pruneClosed = db.prepare(PRUNE_CLOSED_SQL);
  }
}

function parseJsonColumn(text: string, column: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`slack_alerts.${column} is not JSON`);
  }
}

function erasureOf(value: string | null): Erasure | null {
  if (value === null || value === 'redacting' || value === 'erased') return value;
  throw new Error(`slack_alerts.erasure holds an unknown state "${value}"`);
}

function deliveryOf(value: string): SlackAlertDelivery {
  const found = SLACK_ALERT_DELIVERIES.find((delivery) => delivery === value);
  if (!found) throw new Error(`slack_alerts.delivery holds an unknown state "${value}"`);
  return found;
}

function toAlert(row: AlertRow): SlackAlert {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    event: SlackAlertEventSchema.parse(parseJsonColumn(row.event, 'event')),
    contactName: row.contact_name,
    contactUrl: row.contact_url,
    slackChannel: row.slack_channel,
    message: row.message_channel !== null && row.message_ts !== null ? { channel: row.message_channel, ts: row.message_ts } : null,
    createdAt: row.created_at,
    claim: row.claim === null ? null : AlertClaimSchema.parse(parseJsonColumn(row.claim, 'claim')),
    resolution: row.resolution === null ? null : AlertResolutionSchema.parse(parseJsonColumn(row.resolution, 'resolution')),
    erased: erasureOf(row.erasure) !== null,
  };
}

function toRecord(row: AlertRow): SlackAlertRecord {
  return { ...toAlert(row), delivery: deliveryOf(row.delivery), lastError: row.last_error, redactionDue: erasureOf(row.erasure) === 'redacting' };
}

function sameClaim(a: AlertClaim, b: AlertClaim): boolean {
  return a.action === b.action && a.slackUserId === b.slackUserId && a.at === b.at;
}

export interface SqliteSlackAlertStoreOptions {
  /** As InMemoryAlertStore: a claim older than this was abandoned and may be taken over. */
  claimTimeoutMs?: number;
}

export class SqliteSlackAlertStore implements SlackAlertStore {
  private readonly s: Statements;
  private readonly claimTimeoutMs: number;

  constructor(
    private readonly store: SqliteStore,
    options: SqliteSlackAlertStoreOptions = {},
  ) {
    this.s = new Statements(store);
    this.claimTimeoutMs = options.claimTimeoutMs ?? 5 * 60_000;
  }

  ingest(planner: AlertPlanner, batchSize: number): Promise<IngestResult> {
    return this.store.transaction(async (tx) => {
      const events = await tx.listEventsAfter(parseCursor(await tx.getMeta(SLACK_CURSOR_KEY)), batchSize);
      let created = 0;
      const erased: ErasedContact[] = [];
      for (const event of events) {
        const alert = await planner(tx, event);
        if (alert && this.insertOnce(alert)) created += 1;
        const erasure = erasedContactOf(event);
        if (erasure) {
          this.eraseRows(erasure.workspaceId, erasure.contactId);
          erased.push(erasure);
        }
      }
      const last = events.at(-1);
      if (last) await tx.setMeta(SLACK_CURSOR_KEY, last.position);
      return { events: events.length, created, erased };
    });
  }

  create(alert: NewSlackAlert): Promise<SlackAlert> {
    return this.store.transaction(async () => {
      this.insertOnce(alert);
      const row = this.s.getByEvent.get(alert.workspaceId, alert.event.id);
      if (!row) throw new Error(`alert for event ${alert.event.id} vanished`);
      return toAlert(row);
    });
  }

  get(workspaceId: string, alertId: string): Promise<SlackAlert | null> {
    return this.store.transaction(async () => {
      const row = this.s.get.get(workspaceId, alertId);
      return row ? toAlert(row) : null;
    });
  }

  getRecord(workspaceId: string, alertId: string): Promise<SlackAlertRecord | null> {
    return this.store.transaction(async () => {
      const row = this.s.get.get(workspaceId, alertId);
      return row ? toRecord(row) : null;
    });
  }

  listPending(workspaceId: string, limit: number): Promise<SlackAlert[]> {
    return this.store.transaction(async () => this.s.listPending.all(workspaceId, Math.max(0, limit)).map(toAlert));
  }

  attachMessage(workspaceId: string, alertId: string, message: { channel: string; ts: string }): Promise<void> {
    return this.store.transaction(async () => {
      this.require(workspaceId, alertId);
      this.s.setMessage.run(message.channel, message.ts, workspaceId, alertId);
    });
  }

  markPosted(workspaceId: string, alertId: string, message: { channel: string; ts: string }): Promise<void> {
    return this.store.transaction(async () => {
      this.require(workspaceId, alertId);
      this.s.setPosted.run(message.channel, message.ts, workspaceId, alertId);
    });
  }

  markDigested(workspaceId: string, alertIds: readonly string[], digest?: SlackMessageRef): Promise<number> {
    if (!digest) return this.setDelivery(workspaceId, alertIds, 'digested', null);
    return this.store.transaction(async () => {
      let changed = 0;
      for (const alertId of new Set(alertIds)) changed += this.s.setDigested.run(digest.channel, digest.ts, workspaceId, alertId).changes;
      return changed;
    });
  }

  markFailed(workspaceId: string, alertIds: readonly string[], error: string): Promise<number> {
    return this.setDelivery(workspaceId, alertIds, 'failed', error);
  }

  requeueFailed(workspaceId: string, errors: readonly string[]): Promise<number> {
    return this.store.transaction(async () => {
      let requeued = 0;
      for (const error of new Set(errors)) requeued += this.s.requeueFailed.run(workspaceId, error).changes;
      return requeued;
    });
  }

  eraseContact(workspaceId: string, contactId: string): Promise<number> {
    return this.store.transaction(async () => this.eraseRows(workspaceId, contactId));
  }

  listRedactions(workspaceId: string, limit: number): Promise<SlackMessageRef[]> {
    return this.store.transaction(async () =>
      this.s.listRedactions.all(workspaceId, Math.max(0, limit)).map((row) => ({ channel: row.message_channel, ts: row.message_ts })),
    );
  }

  listShownIn(workspaceId: string, message: SlackMessageRef): Promise<SlackAlertRecord[]> {
    return this.store.transaction(async () => this.s.shownIn.all(workspaceId, message.channel, message.ts).map(toRecord));
  }

  markRedacted(workspaceId: string, message: SlackMessageRef): Promise<number> {
    return this.store.transaction(async () => this.s.setRedacted.run(workspaceId, message.channel, message.ts).changes);
  }

  listShownSince(workspaceId: string, channel: string, since: string, limit: number): Promise<SlackAlertRecord[]> {
    return this.store.transaction(async () => this.s.shownSince.all(workspaceId, channel, since, Math.max(0, limit)).map(toRecord).reverse());
  }

  async pruneExpired(query: AlertRetentionQuery): Promise<number> {
    assertAlertRetentionQuery(query);
    return this.store.transaction(async () => this.s.pruneClosed.run({ before: query.before, limit: query.limit }).changes);
  }

  claim(workspaceId: string, alertId: string, claim: AlertClaim): Promise<ClaimResult> {
    return this.store.transaction(async () => {
      const row = this.s.get.get(workspaceId, alertId);
      if (!row) return { status: 'not_found' };
      const alert = toAlert(row);
      if (alert.erased) return { status: 'erased', alert };
      if (alert.resolution) return { status: 'already_resolved', alert, resolution: alert.resolution };
      if (alert.claim) {
        const age = Date.parse(claim.at) - Date.parse(alert.claim.at);
        if (!(age > this.claimTimeoutMs)) return { status: 'in_progress', alert, claim: alert.claim };
      }
      const taken = claimOf(claim);
      this.s.setClaim.run(JSON.stringify(taken), workspaceId, alertId);
      return { status: 'claimed', alert: { ...alert, claim: taken } };
    });
  }

  resolve(workspaceId: string, alertId: string, resolution: AlertResolution): Promise<SlackAlert> {
    return this.store.transaction(async () => {
      const alert = toAlert(this.require(workspaceId, alertId));
      if (alert.resolution) throw new ConsentryError('CONFLICT', `alert ${alertId} is already resolved`);
      if (!alert.claim || !sameClaim(alert.claim, resolution)) {
        throw new ConsentryError('CONFLICT', `alert ${alertId} is not claimed by this action`);
      }
      const resolved = resolutionOf(resolution);
      this.s.setResolution.run(JSON.stringify(resolved), workspaceId, alertId);
      return { ...alert, claim: null, resolution: resolved };
    });
  }

  release(workspaceId: string, alertId: string, claim: AlertClaim): Promise<void> {
    return this.store.transaction(async () => {
      const alert = toAlert(this.require(workspaceId, alertId));
      if (alert.claim && sameClaim(alert.claim, claim)) this.s.setClaim.run(null, workspaceId, alertId);
    });
  }

  /** Inserts the alert unless its event already has one; true when a row was added. */
  private insertOnce(alert: NewSlackAlert): boolean {
    assertOpaqueAlertId(alert.id);
    if (this.s.getByEvent.get(alert.workspaceId, alert.event.id)) return false;
    if (this.s.get.get(alert.workspaceId, alert.id)) {
      throw new ConsentryError('CONFLICT', `alert ${alert.id} already exists for another event`);
    }
    const event = SlackAlertEventSchema.parse(alert.event);
    this.s.insert.run(
      alert.workspaceId,
      alert.id,
      event.id,
      JSON.stringify(event),
      alert.contactName,
      alert.contactUrl,
      alert.slackChannel,
      alert.createdAt,
      alert.erased ? 'erased' : null,
    );
    return true;
  }

  /** Inside a store transaction: redacts and closes the contact's alerts, marking those Slack shows; returns how many changed. */
  private eraseRows(workspaceId: string, contactId: string): number {
    let changed = 0;
    for (const row of this.s.ofContact.all(workspaceId, contactId, contactId)) {
      const record = toRecord(row);
      if (!needsErasure(record)) continue;
      const erasure: Erasure = record.redactionDue || (!record.erased && showsInSlack(record.delivery, record.message)) ? 'redacting' : 'erased';
      this.s.setErased.run(JSON.stringify(erasedAlertEvent(record.event)), erasure, workspaceId, record.id);
      changed += 1;
    }
    return changed;
  }

  /** Moves only pending alerts (a late report never undoes a post); returns how many moved. */
  private setDelivery(workspaceId: string, alertIds: readonly string[], delivery: SlackAlertDelivery, lastError: string | null): Promise<number> {
    return this.store.transaction(async () => {
      let changed = 0;
      for (const alertId of new Set(alertIds)) changed += this.s.setDelivery.run(delivery, lastError, workspaceId, alertId).changes;
      return changed;
    });
  }

  private require(workspaceId: string, alertId: string): AlertRow {
    const row = this.s.get.get(workspaceId, alertId);
    if (!row) throw new ConsentryError('NOT_FOUND', `alert ${alertId} not found`);
    return row;
  }
}

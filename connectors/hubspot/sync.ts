import { randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { Contact } from '../../src/core/contact.js';
import { isConsentryError } from '../../src/core/errors.js';
import { ERASED } from '../../src/core/events.js';
import type { Engine } from '../../src/engine.js';
import type { SyncFailure } from '../../src/engine/integrations.js';
import type { Clock } from '../../src/ports/clock.js';
import type { Store, StoreTx } from '../../src/ports/store.js';
import { backoffDelayMs, type BackoffPolicy } from '../../src/worker/backoff.js';
import { silentLogger, type WorkerLogger } from '../../src/worker/logger.js';
import { PollingLoop } from '../../src/worker/polling-loop.js';
import { batchErrorNames, type BatchResult, type HubSpotContact, type UpsertedContact } from './client.js';
import { coalesceIntoBatches, HUBSPOT_BATCH_LIMIT, type CoalescedContact, type PendingChange, type ValueStamp } from './coalesce.js';
import { resolveAll, type HubSpotEnvironment, type ResolvedHubSpotConfig } from './config.js';
import { credentialFingerprint, hubSpotConnectionsFor, type HubSpotConnections, type PortalSession } from './connections.js';
import { ECHO_WINDOW_MS, emptyContactState, rememberWrites, type ContactSyncState } from './echo.js';
import { existingRecordId, HubSpotApiError, HubSpotPausedError, HubSpotResponseError, refusedProperties } from './errors.js';
import { HubSpotGrantRefusedError } from './oauth.js';
import { changeAfterErasure, pendingLeftAfterErasure } from './erasure.js';
import { fanOutBatch, HUBSPOT_PORTALS_KEY, notePausedChanges, readPortalMarks, writePortalMarks, type PortalMark } from './fan-out.js';
import { emailSubscriptionRequest, emailSubscriptionV4Input, identityProperties } from './mapping.js';
import {
  CONSENTRY_PROPERTY_NAMES,
  CONTACT_ID_PROPERTY,
  isStatusProperty,
  PROPERTIES_THE_SYNC_ADDS,
  propertyDefinitions,
  TAGS_PROPERTY,
  tagOptionValue,
  type ExistingOption,
} from './properties.js';
import { classifyFailure, realSleep, UNKNOWN_ZONE_PROBE_MS } from './rate-limiter.js';
import { hubSpotStateFor } from './state-sqlite.js';
import { HubSpotSyncMetrics, type SyncOutcomeCounts } from './sync-metrics.js';
import { changeKey, type HubSpotState, type HubSpotStateTx, type SyncChange } from './state.js';

/** The stamp key of the email subscription in a contact's sync state (no HubSpot property has a "#"). */
export const EMAIL_SUBSCRIPTION_STAMP = '#email_subscription';

export const SyncStatusSchema = z.object({
  lastSuccessAt: z.string().nullable().default(null),
  lastFailureAt: z.string().nullable().default(null),
  lastError: z.string().nullable().default(null),
  /** The portal's daily limit is used up until then (DESIGN §6): changes wait, nothing is dropped. */
  pausedUntil: z.string().nullable().default(null),
  /** A problem only a person can fix (token refused, properties missing): changes wait until it is fixed. */
  heldReason: z.string().nullable().default(null),
  /**
   * Set while changes are held because HubSpot refused the workspace's credentials (401, 403, a
   * refused OAuth grant): the digest of the last ones refused (connections.ts
   * credentialFingerprint), and the reasons the held rows carry as their lastError. Other
   * credentials in the settings lift the hold (HubSpotSync.liftCredentialHolds).
   */
  credentialHold: z.object({ credential: z.string(), reasons: z.array(z.string()) }).nullable().default(null),
});
export type SyncStatus = z.infer<typeof SyncStatusSchema>;

export const syncStatusKey = (workspaceId: string): string => `hubspot.status.${workspaceId}`;

export async function readSyncStatus(tx: StoreTx, workspaceId: string): Promise<SyncStatus> {
  const parsed = SyncStatusSchema.safeParse((await tx.getMeta(syncStatusKey(workspaceId))) ?? {});
  return parsed.success ? parsed.data : SyncStatusSchema.parse({});
}

export interface HubSpotSyncOptions {
  engine: Engine;
  store: Store;
  clock: Clock;
  /** The environment's HubSpot variables, for the default workspace. */
  env?: HubSpotEnvironment;
  state?: HubSpotState;
  connections?: HubSpotConnections;
  logger?: WorkerLogger;
  random?: () => number;
  /** Attempts in all before a change is dead-lettered (the limiter's own retries inside each attempt not counted). */
  maxAttempts?: number;
  backoff?: BackoffPolicy;
  /** How long a change waits when only a person can unblock it (token refused, properties missing). */
  holdMs?: number;
  /** HubSpot calls (batches, subscription writes, completions) in flight at once over all portals. */
  maxInFlightTasks?: number;
  /** Outbox events read per transaction. */
  fanOutBatchSize?: number;
  /** How often the loop looks for work when nothing wakes it. */
  intervalMs?: number;
  /** Told after each recording of outcomes (benchmarks): changes done, retried, dead and held. */
  onRecorded?: (counts: SyncOutcomeCounts) => void;
  /** The registry /metrics exposes: the sync adds its counts and backlog to it (sync-metrics.ts). */
  metricsRegistry?: Registry;
  /** How the sync waits for another process to finish changing the tags property's options. */
  sleep?: (ms: number) => Promise<void>;
}

export interface SyncPassSummary {
  events: number;
  queued: number;
  tasks: number;
  done: number;
  retried: number;
  dead: number;
  held: number;
  /** Contacts whose record id of a previous portal was cleared. */
  unlinked: number;
  /** Workspaces whose contacts no longer hold a record id of their previous portal, as of this pass: their changes go out from the next. */
  relinked: number;
}

type RowOutcome =
  | { kind: 'done' }
  | { kind: 'retry'; error: string }
  | { kind: 'dead'; error: string }
  | { kind: 'hold'; until: Date; error: string };

interface Settled {
  rows: SyncChange[];
  outcome: RowOutcome;
  contactId: string | null;
  operation: string;
}

interface Written {
  contactId: string;
  properties: Record<string, string>;
  stamps: Record<string, ValueStamp>;
}

interface TaskResult {
  workspaceId: string;
  settled: Settled[];
  /** Rows of a task that started no call because the worker lease ran out: due again at once, not after the pick's lease. */
  unsent: SyncChange[];
  written: Written[];
  pausedUntil: Date | null;
  heldReason: string | null;
  /** With a heldReason that is a refusal of the credentials: the digest of those the task used. */
  heldCredential: string | null;
}

function rowsOfTask(task: Task): SyncChange[] {
  return task.kind === 'callback' ? [task.row] : task.items.flatMap((item) => item.rows);
}

interface ContactWork {
  contact: Contact;
  coalesced: CoalescedContact;
  rows: SyncChange[];
  /** Properties HubSpot refused for this record alone, left out of the write that follows, with its answer. */
  refused?: { names: string[]; error: string };
}

/** What one task's contact writes learnt on the way. */
interface WriteContext {
  /** The tags property's options were read again and completed after HubSpot refused a value (once per task). */
  tagsRefreshed: boolean;
  /** Every tag value the task's records carry. */
  tags: ReadonlySet<string>;
}

interface EmailWork {
  contact: Contact;
  latest: SyncChange;
  rows: SyncChange[];
}

type Task =
  | { kind: 'contacts'; config: ResolvedHubSpotConfig; items: ContactWork[] }
  | { kind: 'email'; config: ResolvedHubSpotConfig; items: EmailWork[] }
  | { kind: 'callback'; config: ResolvedHubSpotConfig; row: SyncChange };

/**
 * A daily-limit pause that begins within an hour of the end of the one the status shows, with
 * nothing written in between (a write clears it), continues that one and is not announced again:
 * the hourly probe of a portal whose time zone is unknown (see dailyLimitPauseEnd), or a pause
 * moved once the zone was learned.
 */
function continuesPause(previousUntil: string | null, now: number): boolean {
  return previousUntil !== null && now <= Date.parse(previousUntil) + UNKNOWN_ZONE_PROBE_MS;
}

/** Only a person can fix these: retrying soon would only repeat them. */
class ConfigurationProblem extends Error {
  override readonly name = 'ConfigurationProblem';
}

const DEFAULT_MAX_ATTEMPTS = 10;
const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 5_000, capMs: 60 * 60 * 1000 };
const DEFAULT_HOLD_MS = 15 * 60 * 1000;
/** Distinct refusal texts a credential hold remembers (a 403 quotes HubSpot's message, so they vary). */
const MAX_CREDENTIAL_HOLD_REASONS = 20;
/** Longer than any call with its limiter waits and retries: only a crashed process's rows come back by it. */
const DEFAULT_LEASE_MS = 15 * 60 * 1000;
const DEFAULT_MAX_IN_FLIGHT = 24;
const DEFAULT_FAN_OUT_BATCH = 1000;
const DEFAULT_INTERVAL_MS = 100;
/**
 * Changing the tags property's options is a read and a PATCH that replaces the list
 * (https://developers.hubspot.com/docs/api/crm/properties): two processes doing it at once would
 * drop each other's options, so each takes this lease in the store first. Longer than the two
 * calls with the limiter's waits; a crashed holder's lease runs out.
 */
const TAG_OPTIONS_LEASE_MS = 60 * 1000;
const TAG_OPTIONS_LEASE_POLL_MS = 250;
/** Record ids of a previous portal cleared per page, and pages per pass. */
const UNLINK_PAGE = 500;
const UNLINK_PAGES_PER_PASS = 20;
const TagOptionsLeaseSchema = z.object({ holder: z.string(), until: z.string() });
/** Fan-out batches per pass, so a long backlog does not hold up the sends. */
const MAX_FAN_OUT_BATCHES_PER_PASS = 50;

/**
 * An error text as logged: HubSpot's answers may quote the contact's e-mail address or phone
 * number (sent in E.164, with its +), which the log (kept elsewhere, for longer, by other people) must not hold. The full text
 * stays in the store, where erasure reaches it (GET /v1/integrations/hubspot/status).
 */
export function withoutContactData(text: string): string {
  return text.replace(/[^\s@<>()"',;:]+@[^\s@<>()"',;:]+/g, '<e-mail>').replace(/\+\d[\d ().-]{5,}\d/g, '<phone>');
}

function errorText(error: unknown): string {
  if (error instanceof HubSpotApiError) {
    const detail = error.category ?? error.policyName ?? error.errorType;
    return `${error.message}${detail === null ? '' : ` (${detail})`}`.slice(0, 1000);
  }
  return (error instanceof Error ? error.message : String(error)).slice(0, 1000);
}

/** 401/403 and a missing property are the portal's configuration, not this change. */
function configurationProblem(error: unknown): string | null {
  if (error instanceof HubSpotGrantRefusedError) return `${error.message}: connect the app again, or set ${error.field} in the settings`;
  if (!(error instanceof HubSpotApiError)) return null;
  if (error.status === 401) return 'HubSpot refused the access token (401): check the token in the settings';
  if (error.status === 403) return `HubSpot refused the access token's scopes (403): ${error.message}`;
  if (error.status === 400 && error.responseText.includes('PROPERTY_DOESNT_EXIST')) {
    return 'HubSpot has no Consentry properties: run `consentry hubspot install`';
  }
  return null;
}

/**
 * HubSpot refused the credentials themselves: the access token (401), its scopes (403), or the
 * OAuth grant that issues access tokens. Other credentials may be accepted at once, so a change of
 * them lifts the hold; a missing property is the portal's set-up, which they do not change.
 */
function refusedCredentials(error: unknown): boolean {
  return error instanceof HubSpotGrantRefusedError || (error instanceof HubSpotApiError && (error.status === 401 || error.status === 403));
}

function retryable(error: unknown): boolean {
  if (error instanceof HubSpotResponseError) return true;
  const failure = classifyFailure(error);
  return failure.kind === 'server_error' || failure.kind === 'rate_limited';
}

/** HubSpot refused what the records say (a 4xx other than 401/403, 429 or a missing property): the same write would be refused again. */
function refusedForRecords(error: unknown): error is HubSpotApiError {
  return error instanceof HubSpotApiError && classifyFailure(error).kind === 'fatal' && configurationProblem(error) === null;
}

/**
 * The record without the properties HubSpot refused for it (among `sent`), remembering the
 * refusal; null when HubSpot names none of them, when nothing else would be left to write, or
 * when the record already went out without some.
 */
function withoutRefused(item: ContactWork, error: HubSpotApiError, sent: readonly string[]): ContactWork | null {
  if (item.refused !== undefined) return null;
  const names = refusedProperties(error)
    .map((p) => p.name)
    .filter((name) => sent.includes(name));
  if (names.length === 0 || sent.every((name) => names.includes(name))) return null;
  const properties = Object.fromEntries(Object.entries(item.coalesced.properties).filter(([name]) => !names.includes(name)));
  const stamps = Object.fromEntries(Object.entries(item.coalesced.stamps).filter(([name]) => !names.includes(name)));
  return { ...item, coalesced: { ...item.coalesced, properties, stamps }, refused: { names, error: errorText(error) } };
}

/** The tag option values the records' tags property carries. */
function tagValuesOf(items: readonly ContactWork[]): Set<string> {
  const values = new Set<string>();
  for (const item of items) {
    const value = item.coalesced.properties[TAGS_PROPERTY];
    if (value === undefined || value === '') continue;
    for (const part of value.split(';')) values.add(part);
  }
  return values;
}

export function contactKey(workspaceId: string, contactId: string): string {
  return `${workspaceId}\u0000${contactId}`;
}

/** Which of these rows' contacts are erased, as contactKey. */
export async function erasedContacts(tx: StoreTx, rows: readonly { workspaceId: string; contactId: string | null }[]): Promise<Set<string>> {
  const erased = new Set<string>();
  const seen = new Set<string>();
  for (const { workspaceId, contactId } of rows) {
    if (contactId === null) continue;
    const key = contactKey(workspaceId, contactId);
    if (seen.has(key)) continue;
    seen.add(key);
    const contact = await tx.getContact(workspaceId, contactId);
    if (contact !== undefined && contact.erasedAt !== null) erased.add(key);
  }
  return erased;
}

function later(a: SyncChange, b: SyncChange): boolean {
  const ta = Date.parse(a.occurredAt);
  const tb = Date.parse(b.occurredAt);
  return ta !== tb ? ta > tb : a.position > b.position;
}

/**
 * Pushes Consentry's changes to HubSpot (DESIGN §6): the outbox is read into work rows (see
 * fan-out.ts), rows are coalesced to each contact's latest values and written in batches of at
 * most 100 through the portal's limiter, and every row ends done, retried with backoff, held
 * (daily limit, configuration) or dead-lettered with `sync.failed`.
 *
 * One contact is never in two writes at once and every value carries the stamp of the decision
 * it describes; a value older than the one HubSpot holds from us is never sent, so an older
 * state is never written over a newer one whatever the order of retries.
 */
export class HubSpotSync {
  private readonly engine: Engine;
  private readonly clock: Clock;
  private readonly env: HubSpotEnvironment;
  private readonly state: HubSpotState;
  private readonly connections: HubSpotConnections;
  private readonly logger: WorkerLogger;
  private readonly random: () => number;
  private readonly maxAttempts: number;
  private readonly backoff: BackoffPolicy;
  private readonly holdMs: number;
  private readonly leaseMs = DEFAULT_LEASE_MS;
  private readonly maxInFlightTasks: number;
  private readonly fanOutBatchSize: number;
  private readonly intervalMs: number;
  private readonly onRecorded: HubSpotSyncOptions['onRecorded'];
  private readonly metrics: HubSpotSyncMetrics | null;
  private readonly sleep: (ms: number) => Promise<void>;
  /** Names this process in the store's leases. */
  private readonly instanceId = randomUUID();

  private readonly inFlightRows = new Set<string>();
  private readonly busyContacts = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private completed: TaskResult[] = [];
  /** Rows and contacts of finished tasks, freed once their outcomes are written. */
  private releaseLater: { rows: SyncChange[]; contacts: string[] }[] = [];
  /**
   * Per workspace, the digest of the credentials a committed pick last compared with its stored
   * hold: the store is read again only for a workspace whose credentials changed since, or whose
   * credentials were refused since.
   */
  private readonly credentialsSeen = new Map<string, string>();
  private passes: Promise<unknown> = Promise.resolve();
  /** A finished task wakes the loop, so its outcome is written and the contact's next change follows. */
  private readonly loop: PollingLoop;
  /** Whether this process may start HubSpot calls now; given by the worker lease (sendOnlyWhile), always true without one. */
  private holdsLease: () => boolean = () => true;

  constructor(options: HubSpotSyncOptions) {
    this.engine = options.engine;
    this.clock = options.clock;
    this.env = options.env ?? {};
    this.state = options.state ?? hubSpotStateFor(options.store);
    this.connections = options.connections ?? hubSpotConnectionsFor(options.store, { clock: options.clock });
    this.logger = options.logger ?? silentLogger;
    this.random = options.random ?? Math.random;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.holdMs = options.holdMs ?? DEFAULT_HOLD_MS;
    this.maxInFlightTasks = Math.max(1, options.maxInFlightTasks ?? DEFAULT_MAX_IN_FLIGHT);
    this.fanOutBatchSize = Math.max(1, options.fanOutBatchSize ?? DEFAULT_FAN_OUT_BATCH);
    this.intervalMs = Math.max(1, options.intervalMs ?? DEFAULT_INTERVAL_MS);
    this.onRecorded = options.onRecorded;
    this.sleep = options.sleep ?? realSleep;
    this.metrics = options.metricsRegistry ? new HubSpotSyncMetrics(options.metricsRegistry, this.state) : null;
    this.loop = new PollingLoop({
      pass: () => this.serialised(() => this.pass(null)),
      idleMs: this.intervalMs,
      onError: (error) => this.logger.error({ err: error }, 'HubSpot sync pass failed'),
    });
  }

  /** One pass, then waits for the calls it started and records their outcomes. Tests drive the sync with it. */
  async runOnce(): Promise<SyncPassSummary> {
    const summary: SyncPassSummary = { events: 0, queued: 0, tasks: 0, done: 0, retried: 0, dead: 0, held: 0, unlinked: 0, relinked: 0 };
    await this.serialised(() => this.pass(summary));
    await Promise.all([...this.running]);
    await this.serialised(() => this.pass(summary, false));
    return summary;
  }

  /** Passes until nothing is due and nothing is in flight (at most `maxPasses`). */
  async drain(maxPasses = 10_000): Promise<SyncPassSummary> {
    const total: SyncPassSummary = { events: 0, queued: 0, tasks: 0, done: 0, retried: 0, dead: 0, held: 0, unlinked: 0, relinked: 0 };
    for (let i = 0; i < maxPasses; i += 1) {
      const pass = await this.runOnce();
      total.events += pass.events;
      total.queued += pass.queued;
      total.tasks += pass.tasks;
      total.done += pass.done;
      total.retried += pass.retried;
      total.dead += pass.dead;
      total.held += pass.held;
      total.unlinked += pass.unlinked;
      total.relinked += pass.relinked;
      if (pass.events === 0 && pass.queued === 0 && pass.tasks === 0 && pass.done === 0 && pass.unlinked === 0 && pass.relinked === 0) return total;
    }
    return total;
  }

  start(): void {
    this.loop.start();
  }

  /**
   * A pass picks rows and starts HubSpot calls only while `holdsLease` allows, asked again before
   * each step of a task (a pass may wait for the write lock and read a long backlog first, and
   * HubSpot may answer slowly): a process that lost the worker lease (or outlived it by its own
   * clock) starts no call, and still records the outcomes of those in flight. Rows it picked but
   * did not send are handed back due at once, not after the pick's lease, so the new holder sends
   * them without waiting.
   */
  sendOnlyWhile(holdsLease: () => boolean): void {
    this.holdsLease = holdsLease;
  }

  /** Stops looking for work, lets the calls in flight finish and records their outcomes. */
  async stop(): Promise<void> {
    await this.loop.stop();
    await this.passes;
    await Promise.allSettled([...this.running]);
    await this.serialised(() => this.pass(null, false)).catch((error: unknown) => {
      this.logger.error({ err: error }, 'could not record HubSpot sync outcomes on stop');
    });
  }

  private serialised<T>(work: () => Promise<T>): Promise<T> {
    const next = this.passes.then(work);
    this.passes = next.catch(() => undefined);
    return next;
  }

  /**
   * One pass is one transaction (with the engine's own for `sync.failed` around it): it writes
   * the outcomes of the calls answered since the last pass, reads new outbox events and leases
   * the next rows to send. `pick: false` only writes outcomes (runOnce and stop use it).
   */
  private async pass(summary: SyncPassSummary | null, pickIfLeased = true): Promise<void> {
    const pick = pickIfLeased && this.holdsLease();
    const results = this.completed;
    const release = this.releaseLater;
    this.completed = [];
    this.releaseLater = [];
    let tasks: Task[] = [];
    let backlog = false;
    try {
      for (const result of results) result.settled = result.settled.flatMap((settled) => this.exhaust(settled));
      // Raised before the rows change: a crash in between raises it again, never not at all.
      const deadContacts = results.flatMap((result) =>
        result.settled.filter((settled) => settled.outcome.kind === 'dead').map((settled) => ({ workspaceId: result.workspaceId, contactId: settled.contactId })),
      );
      const erasedDead = deadContacts.some((c) => c.contactId !== null)
        ? await this.state.transaction((_state, tx) => erasedContacts(tx, deadContacts))
        : new Set<string>();
      for (const result of results) {
        for (const settled of result.settled) {
          if (settled.outcome.kind !== 'dead') continue;
          // HubSpot's answer may quote the erased person (the address read for an opt-out): it is not kept.
          const erased = settled.contactId !== null && erasedDead.has(contactKey(result.workspaceId, settled.contactId));
          await this.raise(result.workspaceId, {
            integration: 'hubspot',
            contactId: settled.contactId,
            operation: settled.operation,
            reason: erased ? ERASED : settled.outcome.error,
            retryable: false,
          });
        }
      }
      const seen = new Map<string, string>();
      const outcome = await this.state.transaction(async (state, tx) => {
        const alerts = results.length === 0 ? [] : await this.applyAll(state, tx, results, summary);
        if (!pick) return { alerts, tasks: [], backlog: false };
        const fanned = await fanOutBatch(state, tx, this.env, this.clock.now(), this.fanOutBatchSize);
        if (summary) {
          summary.events += fanned.events;
          summary.queued += fanned.changes;
        }
        const more = fanned.events >= this.fanOutBatchSize;
        return { alerts, tasks: more ? [] : await this.pick(state, tx, seen), backlog: more };
      });
      for (const [workspaceId, credential] of seen) this.credentialsSeen.set(workspaceId, credential);
      tasks = outcome.tasks;
      backlog = outcome.backlog;
      for (const alert of outcome.alerts) await this.raise(alert.workspaceId, alert.failure);
      if (results.length > 0) this.recorded(results);
    } finally {
      for (const { rows, contacts } of release) {
        for (const row of rows) this.inFlightRows.delete(changeKey(row));
        for (const contact of contacts) this.busyContacts.delete(contact);
      }
    }
    if (backlog && this.holdsLease()) {
      // A long backlog is read in transactions of its own, then sending starts.
      for (let batch = 1; batch < MAX_FAN_OUT_BATCHES_PER_PASS; batch += 1) {
        const fanned = await this.state.transaction((state, tx) => fanOutBatch(state, tx, this.env, this.clock.now(), this.fanOutBatchSize));
        if (summary) {
          summary.events += fanned.events;
          summary.queued += fanned.changes;
        }
        if (fanned.events < this.fanOutBatchSize) break;
      }
      const seen = new Map<string, string>();
      tasks = await this.state.transaction((state, tx) => this.pick(state, tx, seen));
      for (const [workspaceId, credential] of seen) this.credentialsSeen.set(workspaceId, credential);
    }
    if (summary) summary.tasks += tasks.length;
    // A task asks the lease before its first call (execute): one picked under a lease that has run
    // out since makes none, and hands its rows back.
    for (const task of tasks) this.launch(task);
    if (pick) await this.unlinkPreviousPortals(summary);
  }

  /**
   * Clears the record ids a workspace's contacts hold of its previous portal (fan-out.ts
   * followPortals started it), a page of contacts per transaction, a few pages per pass; the
   * workspace's contact rows wait meanwhile. When done, the contacts are matched again in the new
   * portal by e-mail and phone. The engine keeps an erased contact's id: `relinkedAt` tells the
   * sync not to use it.
   */
  private async unlinkPreviousPortals(summary: SyncPassSummary | null): Promise<void> {
    try {
      // A read (no write lock): most passes find nothing to clear.
      const marks = await this.state.read((_state, tx) => readPortalMarks(tx));
      for (const [workspaceId, mark] of Object.entries(marks)) {
        let after = mark.unlinkAfter;
        for (let page = 0; after !== null && page < UNLINK_PAGES_PER_PASS; page += 1) {
          const start = after;
          const contacts = await this.state.read((_state, tx) =>
            tx.listContacts(workspaceId, { ...(start === '' ? {} : { afterId: start }), limit: UNLINK_PAGE }),
          );
          const links = contacts.filter((c) => c.hubspotId !== null && c.erasedAt === null).map((c) => ({ contactId: c.id, hubspotId: null }));
          if (links.length > 0) await this.engine.workspace(workspaceId).linkHubspotContacts(links);
          if (summary) summary.unlinked += links.length;
          const last = contacts.at(-1);
          const next = contacts.length < UNLINK_PAGE || last === undefined ? null : last.id;
          const nowIso = this.clock.now().toISOString();
          const step = await this.state.transaction(async (_state, tx) => {
            const current = await readPortalMarks(tx);
            const now = current[workspaceId];
            // Another portal since this page began: that switch starts over on its own.
            if (now === undefined || now.portalId !== mark.portalId || now.unlinkAfter !== start) return { next: null, finished: false };
            current[workspaceId] = { ...now, unlinkAfter: next, relinkedAt: next === null ? nowIso : now.relinkedAt };
            await writePortalMarks(tx, current);
            return { next, finished: next === null };
          });
          after = step.next;
          if (step.finished && summary) summary.relinked += 1;
        }
      }
    } catch (error) {
      this.logger.error({ err: error, key: HUBSPOT_PORTALS_KEY }, "could not clear the record ids of a workspace's previous HubSpot portal; trying again");
    }
  }

  /** Outcomes just committed: counted for /metrics, and each failure logged once per pass, workspace and outcome. */
  private recorded(results: readonly TaskResult[]): void {
    const counts: SyncOutcomeCounts = { done: 0, retried: 0, dead: 0, held: 0 };
    const failures = new Map<string, { workspaceId: string; kind: 'retry' | 'dead' | 'hold'; changes: number; operations: Set<string>; error: string }>();
    for (const result of results) {
      for (const { outcome, rows, operation } of result.settled) {
        if (outcome.kind === 'done') {
          counts.done += rows.length;
          continue;
        }
        if (outcome.kind === 'retry') counts.retried += rows.length;
        else if (outcome.kind === 'dead') counts.dead += rows.length;
        else counts.held += rows.length;
        const key = `${result.workspaceId}\u0000${outcome.kind}`;
        const failure = failures.get(key) ?? { workspaceId: result.workspaceId, kind: outcome.kind, changes: 0, operations: new Set<string>(), error: outcome.error };
        failure.changes += rows.length;
        failure.operations.add(operation);
        failures.set(key, failure);
      }
    }
    this.onRecorded?.(counts);
    this.metrics?.record(counts);
    for (const { workspaceId, kind, changes, operations, error } of failures.values()) {
      const details = { workspaceId, changes, operations: [...operations], error: withoutContactData(error) };
      if (kind === 'dead') this.logger.error(details, 'HubSpot sync gave up on changes: dead-lettered, sync.failed raised');
      else if (kind === 'hold') this.logger.warn(details, "HubSpot sync held: the workspace's HubSpot set-up needs attention");
      else this.logger.warn(details, 'HubSpot sync could not write changes; retrying');
    }
  }

  private launch(task: Task): void {
    const rows = rowsOfTask(task);
    for (const row of rows) this.inFlightRows.add(changeKey(row));
    const contacts = task.kind === 'callback' ? [] : task.items.map((item) => contactKey(task.config.workspaceId, item.contact.id));
    for (const contact of contacts) this.busyContacts.add(contact);
    const running = this.execute(task)
      .catch((error: unknown): TaskResult => {
        this.logger.error({ err: error }, 'HubSpot sync task failed unexpectedly');
        const operation = task.kind === 'callback' ? 'complete_callback' : task.kind === 'email' ? 'email_subscription' : 'update_contact';
        return {
          workspaceId: task.config.workspaceId,
          settled: [{ rows, outcome: { kind: 'retry', error: errorText(error) }, contactId: null, operation }],
          unsent: [],
          written: [],
          pausedUntil: null,
          heldReason: null,
          heldCredential: null,
        };
      })
      .then((result) => {
        this.completed.push(result);
        this.releaseLater.push({ rows, contacts });
        this.running.delete(running);
        if (this.loop.running) this.loop.wake();
      });
    this.running.add(running);
  }

  private async applyAll(
    state: HubSpotStateTx,
    tx: StoreTx,
    results: readonly TaskResult[],
    summary: SyncPassSummary | null,
  ): Promise<{ workspaceId: string; failure: SyncFailure }[]> {
    const nowIso = this.clock.now().toISOString();
    const raised: { workspaceId: string; failure: SyncFailure }[] = [];
    const statuses = new Map<string, SyncStatus>();
    const unsent = results.flatMap((result) => result.unsent);
    if (unsent.length > 0) await state.deferChanges(unsent, nowIso);
    const unfinished = results.flatMap((result) => result.settled.filter((s) => s.outcome.kind !== 'done').flatMap((s) => s.rows));
    const erased = unfinished.length === 0 ? new Set<string>() : await erasedContacts(tx, unfinished);
    for (const result of results) {
      let status = statuses.get(result.workspaceId);
      if (status === undefined) {
        status = await readSyncStatus(tx, result.workspaceId);
        statuses.set(result.workspaceId, status);
      }
      await this.applyResult(state, result, status, nowIso, summary, erased);
      if (result.pausedUntil !== null) {
        const until = result.pausedUntil.toISOString();
        if (status.pausedUntil !== until && !continuesPause(status.pausedUntil, Date.parse(nowIso))) {
          raised.push({
            workspaceId: result.workspaceId,
            failure: { integration: 'hubspot', contactId: null, operation: 'sync', reason: `HubSpot daily API limit reached: sync paused until ${until}`, retryable: true },
          });
        }
        status.pausedUntil = until;
      }
      if (result.heldReason !== null) {
        if (status.heldReason !== result.heldReason) {
          raised.push({
            workspaceId: result.workspaceId,
            failure: { integration: 'hubspot', contactId: null, operation: 'sync', reason: result.heldReason, retryable: true },
          });
        }
        status.heldReason = result.heldReason;
        if (result.heldCredential !== null) {
          // Every reason still holding rows is kept, whichever credentials it refused: other credentials retry them all.
          const reasons = (status.credentialHold?.reasons ?? []).filter((reason) => reason !== result.heldReason);
          status.credentialHold = { credential: result.heldCredential, reasons: [...reasons, result.heldReason].slice(-MAX_CREDENTIAL_HOLD_REASONS) };
          // The settings may have changed while the task ran: the next pick compares them with this hold.
          this.credentialsSeen.delete(result.workspaceId);
        }
      }
    }
    for (const [workspaceId, status] of statuses) await tx.setMeta(syncStatusKey(workspaceId), status);
    return raised;
  }

  /** Rows whose retries are used up become dead letters, announced like the others. */
  private exhaust(settled: Settled): Settled[] {
    if (settled.outcome.kind !== 'retry') return [settled];
    const exhausted = settled.rows.filter((row) => row.attempts + 1 >= this.maxAttempts);
    if (exhausted.length === 0) return [settled];
    const rest = settled.rows.filter((row) => row.attempts + 1 < this.maxAttempts);
    const dead: Settled = {
      ...settled,
      rows: exhausted,
      outcome: { kind: 'dead', error: `${settled.outcome.error} (gave up after ${this.maxAttempts} attempts)` },
    };
    return rest.length === 0 ? [dead] : [dead, { ...settled, rows: rest }];
  }

  private async raise(workspaceId: string, failure: SyncFailure): Promise<void> {
    try {
      await this.engine.workspace(workspaceId).reportSyncFailure(failure);
    } catch (error) {
      this.logger.error({ err: error, workspaceId }, 'could not raise sync.failed');
    }
  }

  /** `erased`: contacts (contactKey) erased while their rows were in flight; their rows are written as erasure leaves them. */
  private async applyResult(
    state: HubSpotStateTx,
    result: TaskResult,
    status: SyncStatus,
    nowIso: string,
    summary: SyncPassSummary | null,
    erased: ReadonlySet<string>,
  ): Promise<void> {
    const now = Date.parse(nowIso);
    const done: SyncChange[] = [];
    const updates: SyncChange[] = [];
    for (const { rows, outcome } of result.settled) {
      switch (outcome.kind) {
        case 'done':
          done.push(...rows);
          if (summary) summary.done += rows.length;
          status.lastSuccessAt = nowIso;
          break;
        case 'hold':
          for (const row of rows) updates.push({ ...row, nextAttemptAt: outcome.until.toISOString(), lastError: outcome.error, updatedAt: nowIso });
          if (summary) summary.held += rows.length;
          status.lastFailureAt = nowIso;
          status.lastError = outcome.error;
          break;
        case 'retry':
        case 'dead':
          for (const row of rows) {
            const attempts = row.attempts + 1;
            const dead = outcome.kind === 'dead';
            updates.push({
              ...row,
              status: dead ? 'dead' : 'pending',
              attempts,
              nextAttemptAt: dead ? nowIso : new Date(now + backoffDelayMs(attempts, this.backoff, this.random)).toISOString(),
              lastError: outcome.error,
              updatedAt: nowIso,
            });
          }
          if (summary) {
            if (outcome.kind === 'dead') summary.dead += rows.length;
            else summary.retried += rows.length;
          }
          status.lastFailureAt = nowIso;
          status.lastError = outcome.error;
          break;
      }
    }
    if (result.settled.some((s) => s.outcome.kind === 'done') && result.pausedUntil === null) status.pausedUntil = null;
    if (result.settled.some((s) => s.outcome.kind === 'done') && result.heldReason === null) status.heldReason = null;
    const written: SyncChange[] = [];
    for (const update of updates) {
      if (update.contactId === null || !erased.has(contactKey(update.workspaceId, update.contactId))) {
        written.push(update);
        continue;
      }
      // The erasure already redacted the row; writing the copy the call held would bring its data back.
      const after = changeAfterErasure(update);
      if (after === null) done.push(update);
      else written.push(after);
    }
    await state.deleteChanges(done);
    await state.updateChanges(written);
    if (result.written.length > 0) {
      const states = await state.getContactStates(result.workspaceId, result.written.map((w) => w.contactId));
      for (const written of result.written) {
        // Only the status properties' webhooks become decisions: only their echoes need recognising.
        const next = rememberWrites(states.get(written.contactId) ?? emptyContactState(), written, now, ECHO_WINDOW_MS, isStatusProperty);
        states.set(written.contactId, next);
        await state.putContactState(result.workspaceId, written.contactId, next, nowIso);
      }
    }
  }

  /**
   * Due rows not in flight, coalesced per contact into tasks, up to the free capacity. Contact and
   * email rows of a workspace whose sync is off become paused contacts (fan-out.ts), and wait
   * unread while the record ids of its previous portal are being cleared.
   */
  private async pick(state: HubSpotStateTx, tx: StoreTx, credentialsSeen: Map<string, string>): Promise<Task[]> {
    const now = this.clock.now();
    const nowIso = now.toISOString();
    const configs = resolveAll(await tx.listWorkspaces(), this.env);
    await this.liftCredentialHolds(state, tx, configs, nowIso, credentialsSeen);
    const capacity = this.maxInFlightTasks - this.running.size;
    if (capacity <= 0) return [];
    const marks = await readPortalMarks(tx);
    const relinking = (workspaceId: string): boolean => (marks[workspaceId]?.unlinkAfter ?? null) !== null;
    const free = await state.listDueChanges(
      nowIso,
      capacity * HUBSPOT_BATCH_LIMIT,
      (row) =>
        this.inFlightRows.has(changeKey(row)) ||
        (row.contactId !== null && this.busyContacts.has(contactKey(row.workspaceId, row.contactId))) ||
        (row.target !== 'callback' && relinking(row.workspaceId)),
    );
    if (free.length === 0) return [];
    const byWorkspace = new Map<string, SyncChange[]>();
    for (const row of free) {
      const list = byWorkspace.get(row.workspaceId) ?? [];
      list.push(row);
      byWorkspace.set(row.workspaceId, list);
    }
    const tasks: Task[] = [];
    const closed: SyncChange[] = [];
    const held: SyncChange[] = [];
    const paused: SyncChange[] = [];
    let marked = false;
    for (const [workspaceId, all] of byWorkspace) {
      if (tasks.length >= capacity) break;
      const config = configs.get(workspaceId);
      let rows = all;
      if (config === undefined || !config.syncEnabled) {
        // The sync is off: each contact's changes wait as one paused contact, sent as it is then when the sync is on again.
        const changes = all.filter((row) => row.target !== 'callback');
        paused.push(...changes);
        closed.push(...changes);
        if (changes.length > 0 && marks[workspaceId] === undefined) {
          marks[workspaceId] = { portalId: null, unlinkAfter: null, relinkedAt: null };
          marked = true;
        }
        rows = all.filter((row) => row.target === 'callback');
      }
      if (config === undefined) {
        // A workflow completion needs the portal's token: it waits in case the settings come back, and is visible meanwhile.
        const until = new Date(now.getTime() + this.holdMs).toISOString();
        held.push(...rows.map((row) => ({ ...row, nextAttemptAt: until, lastError: 'HubSpot is not configured for this workspace', updatedAt: nowIso })));
        continue;
      }
      await this.planWorkspace(state, tx, config, rows, capacity, tasks, closed, marks[workspaceId] ?? null);
    }
    if (marked) await writePortalMarks(tx, marks);
    await notePausedChanges(state, paused, nowIso);
    await state.deleteChanges(closed);
    await state.updateChanges(held);
    // A lease: rows being sent are not due again unless this process dies with them in flight.
    const leased = tasks.flatMap(rowsOfTask);
    await state.deferChanges(leased, new Date(now.getTime() + this.leaseMs).toISOString());
    return tasks;
  }

  /**
   * Lifts a hold for refused credentials once the workspace is configured with other ones (a
   * settings change, an OAuth install, a new HUBSPOT_ACCESS_TOKEN): the rows it held are due at
   * once, and its refusal is no longer the status's heldReason. Only those rows: a daily-limit pause
   * (pausedUntil) stays, since HubSpot counts the daily limit per account, whatever token or app
   * calls (https://developers.hubspot.com/docs/api/usage-details; "HubSpot's limits are per
   * account", DESIGN §6, which is why the limiter is kept for a new token of the same portal,
   * connections.ts), so a new token meets the same limit until it resets; so do rows waiting out a
   * backoff, and a hold for missing properties, which are the portal's, not the token's.
   * `credentialsSeen` gets the credentials compared, for the caller to keep once committed.
   */
  private async liftCredentialHolds(
    state: HubSpotStateTx,
    tx: StoreTx,
    configs: ReadonlyMap<string, ResolvedHubSpotConfig>,
    nowIso: string,
    credentialsSeen: Map<string, string>,
  ): Promise<void> {
    for (const config of configs.values()) {
      const credential = credentialFingerprint(config);
      if (this.credentialsSeen.get(config.workspaceId) === credential) continue;
      credentialsSeen.set(config.workspaceId, credential);
      const status = await readSyncStatus(tx, config.workspaceId);
      const hold = status.credentialHold;
      if (hold === null || hold.credential === credential) continue;
      await state.releaseHeldChanges(config.workspaceId, hold.reasons, nowIso, (row) => this.inFlightRows.has(changeKey(row)));
      if (status.heldReason !== null && hold.reasons.includes(status.heldReason)) status.heldReason = null;
      status.credentialHold = null;
      await tx.setMeta(syncStatusKey(config.workspaceId), status);
    }
  }

  private async planWorkspace(
    state: HubSpotStateTx,
    tx: StoreTx,
    config: ResolvedHubSpotConfig,
    rows: readonly SyncChange[],
    capacity: number,
    tasks: Task[],
    closed: SyncChange[],
    mark: PortalMark | null,
  ): Promise<void> {
    const workspaceId = config.workspaceId;
    const relinkedAt = mark?.relinkedAt ?? null;
    const contacts = new Map<string, Contact | null>();
    for (const row of rows) {
      if (row.contactId !== null && !contacts.has(row.contactId)) contacts.set(row.contactId, (await tx.getContact(workspaceId, row.contactId)) ?? null);
    }
    /**
     * What a row still sends, and to whom: itself for a live contact; for an erased contact
     * HubSpot knows by id, only its opt-outs (erasure.ts); nothing for an unknown contact. The
     * engine keeps an erased contact's record id as it was: one erased before the ids of a previous
     * portal were cleared names a record of that portal, so it gets nothing.
     */
    const sendable = (row: SyncChange): { contact: Contact; row: SyncChange } | null => {
      const contact = row.contactId === null ? null : (contacts.get(row.contactId) ?? null);
      if (contact === null) return null;
      if (contact.erasedAt === null) return { contact, row };
      if (relinkedAt !== null && contact.erasedAt < relinkedAt) return null;
      const left = contact.hubspotId === null ? null : pendingLeftAfterErasure(row);
      return left === null ? null : { contact, row: left };
    };
    const syncStates = await state.getContactStates(workspaceId, [...contacts.keys()]);
    const stampOf = (contactId: string, property: string): ValueStamp | undefined => syncStates.get(contactId)?.stamps[property];

    for (const row of rows.filter((r) => r.target === 'callback')) {
      if (tasks.length >= capacity) return;
      tasks.push({ kind: 'callback', config, row });
    }

    // Properties: a deleted contact has nothing more to send, an erased one its opt-outs only.
    const contactRows = rows.filter((r) => r.target === 'contact');
    const pending: PendingChange[] = [];
    const rowsByPosition = new Map<number, SyncChange>();
    for (const original of contactRows) {
      const found = sendable(original);
      if (found === null || found.row.payload.kind !== 'contact') {
        closed.push(original);
        continue;
      }
      const { contact, row } = found;
      rowsByPosition.set(row.position, row);
      const times = found.row.payload.times;
      pending.push({ contactId: contact.id, properties: found.row.payload.properties, occurredAt: row.occurredAt, position: row.position, ...(times === undefined ? {} : { times }) });
    }
    const plan = coalesceIntoBatches(pending, { written: stampOf });
    for (const settledContact of plan.settled) {
      for (const position of settledContact.positions) {
        const row = rowsByPosition.get(position);
        if (row !== undefined) closed.push(row);
      }
    }
    for (const batch of plan.batches) {
      if (tasks.length >= capacity) break;
      const items: ContactWork[] = [];
      for (const coalesced of batch) {
        const contact = contacts.get(coalesced.contactId);
        if (contact === null || contact === undefined) continue;
        const ownRows = coalesced.positions.map((p) => rowsByPosition.get(p)).filter((r): r is SyncChange => r !== undefined);
        items.push({ contact, coalesced, rows: ownRows });
      }
      if (items.length > 0) tasks.push({ kind: 'contacts', config, items });
    }

    // Email subscription: the latest decision per contact, unless HubSpot already holds it or a later one.
    const emailByContact = new Map<string, { contact: Contact; rows: SyncChange[] }>();
    for (const original of rows.filter((r) => r.target === 'email')) {
      const found = sendable(original);
      // An erased contact's address is read from its HubSpot record when the opt-out is sent (syncEmail).
      if (found === null || (found.contact.email === null && found.contact.erasedAt === null)) {
        closed.push(original);
        continue;
      }
      const { contact, row } = found;
      const entry = emailByContact.get(contact.id) ?? { contact, rows: [] };
      entry.rows.push(row);
      emailByContact.set(contact.id, entry);
    }
    const emailItems: EmailWork[] = [];
    for (const { contact, rows: own } of emailByContact.values()) {
      const latest = own.reduce((a, b) => (later(b, a) ? b : a));
      const held = stampOf(contact.id, EMAIL_SUBSCRIPTION_STAMP);
      const stale = held !== undefined && !later(latest, { ...latest, occurredAt: held.occurredAt, position: held.position });
      if (stale) closed.push(...own);
      else emailItems.push({ contact, latest, rows: own });
    }
    for (let i = 0; i < emailItems.length && tasks.length < capacity; i += HUBSPOT_BATCH_LIMIT) {
      tasks.push({ kind: 'email', config, items: emailItems.slice(i, i + HUBSPOT_BATCH_LIMIT) });
    }
  }

  private async execute(task: Task): Promise<TaskResult> {
    const session = this.connections.session(task.config);
    const result: TaskResult = { workspaceId: task.config.workspaceId, settled: [], unsent: [], written: [], pausedUntil: null, heldReason: null, heldCredential: null };
    const unsent = (): TaskResult => ({ ...result, unsent: rowsOfTask(task) });
    try {
      // A contacts task checks the portal's properties first: a portal without them holds its
      // changes, whatever its time zone.
      // Each step may take a while (HubSpot answers slowly, a rate limit waits): a process whose
      // lease ran out meanwhile starts no further call, and hands the rows back, due for the new
      // holder at once.
      if (!this.holdsLease()) return unsent();
      if (task.kind === 'contacts') await this.ensureProperties(session);
      if (!this.holdsLease()) return unsent();
      await this.ensureTimeZone(session, task.config);
      if (!this.holdsLease()) return unsent();
      if (task.kind === 'contacts') await this.syncContacts(session, task.config, task.items, result);
      else if (task.kind === 'email') await this.syncEmail(session, task.config, task.items, result);
      else await this.completeCallback(session, task.row, result);
    } catch (error) {
      this.settleAll(task, result, error);
    }
    return result;
  }

  /** A failure of the whole task: pause, configuration or a retryable error; rows already settled keep their outcome. */
  private settleAll(task: Task, result: TaskResult, error: unknown): void {
    const settledKeys = new Set(result.settled.flatMap((s) => s.rows.map(changeKey)));
    const groups: { rows: SyncChange[]; contactId: string | null }[] =
      task.kind === 'callback' ? [{ rows: [task.row], contactId: task.row.contactId }] : task.items.map((item) => ({ rows: item.rows, contactId: item.contact.id }));
    const operation = task.kind === 'contacts' ? 'update_contact' : task.kind === 'email' ? 'email_subscription' : 'complete_callback';
    const now = this.clock.now().getTime();
    let outcome: RowOutcome;
    if (error instanceof HubSpotPausedError) {
      result.pausedUntil = error.until;
      outcome = { kind: 'hold', until: error.until, error: error.message };
    } else {
      const problem = error instanceof ConfigurationProblem ? error.message : configurationProblem(error);
      if (problem !== null) {
        result.heldReason = problem;
        if (refusedCredentials(error)) result.heldCredential = credentialFingerprint(task.config);
        outcome = { kind: 'hold', until: new Date(now + this.holdMs), error: problem };
      } else if (retryable(error)) {
        outcome = { kind: 'retry', error: errorText(error) };
      } else if (isConsentryError(error) || error instanceof HubSpotApiError) {
        outcome = { kind: 'dead', error: errorText(error) };
      } else {
        outcome = { kind: 'retry', error: errorText(error) };
      }
    }
    for (const group of groups) {
      const rows = group.rows.filter((row) => !settledKeys.has(changeKey(row)));
      if (rows.length > 0) result.settled.push({ rows, outcome, contactId: group.contactId, operation });
    }
  }

  /**
   * Asks once per session where the portal's daily limit resets (its time zone, from
   * https://developers.hubspot.com/docs/api/settings/account-information-api) and gives it to the
   * portal's limiter, which keeps it for the sessions made after this one. When the call fails (a
   * token without the `oauth` scope is 403, HubSpot down), the sync goes on and the limiter, not
   * knowing the zone, asks HubSpot again hourly once the daily limit is used up
   * (https://developers.hubspot.com/docs/api/usage-details). A used-up daily limit refuses this call
   * too: the task is paused like any other, and the zone is asked for again after the pause.
   */
  private async ensureTimeZone(session: PortalSession, config: ResolvedHubSpotConfig): Promise<void> {
    if (session.timeZoneChecked) return;
    await session.exclusive(async () => {
      if (session.timeZoneChecked) return;
      if (session.limiter.knownTimeZone() === null) {
        try {
          const { timeZone } = await session.client.getAccountDetails();
          if (timeZone !== null) session.limiter.setTimeZone(timeZone);
        } catch (error) {
          if (error instanceof HubSpotPausedError) throw error;
          this.logger.warn(
            { workspaceId: config.workspaceId, error: withoutContactData(errorText(error)) },
            "could not read the HubSpot account's time zone; once its daily limit is used up, HubSpot is asked again hourly",
          );
          // HubSpot down or rate-limited: asked again on the next task. A refusal (403: no `oauth` scope) is the answer for this session.
          if (retryable(error)) return;
        }
      }
      session.timeZoneChecked = true;
    });
  }

  /**
   * Checks once per session that the portal has the connector's properties, and learns the tag
   * options. Properties added after a portal was first installed (PROPERTIES_THE_SYNC_ADDS) are
   * created here when only they are missing, so that portal needs no new install.
   */
  private async ensureProperties(session: PortalSession): Promise<void> {
    if (session.propertiesChecked) return;
    await session.exclusive(async () => {
      if (session.propertiesChecked) return;
      const existing = await session.client.listProperties();
      const names = new Set(existing.map((p) => p.name));
      const missing = CONSENTRY_PROPERTY_NAMES.filter((name) => !names.has(name));
      const added = missing.filter((name) => PROPERTIES_THE_SYNC_ADDS.includes(name));
      if (missing.length > added.length) throw new ConfigurationProblem(`HubSpot lacks ${missing.length} Consentry properties: run \`consentry hubspot install\``);
      for (const definition of propertyDefinitions().filter((d) => added.includes(d.name))) {
        try {
          await session.client.createProperty(definition);
        } catch (error) {
          // Another process created it first.
          if (!(error instanceof HubSpotApiError && error.status === 409)) throw error;
        }
      }
      session.tagOptions = existing.find((p) => p.name === TAGS_PROPERTY)?.options ?? [];
      session.propertiesChecked = true;
    });
  }

  /**
   * The tags property is a multi-checkbox whose options grow as tags appear: a value HubSpot has
   * no option for is refused. When the session's copy of the options lacks a wanted value (or
   * `fresh`: HubSpot refused one the copy has), the property is read again and the missing options
   * are added to what HubSpot holds now, never to the copy alone: HubSpot replaces the whole list
   * on each PATCH (https://developers.hubspot.com/docs/api/crm/properties), so a list built from a
   * stale copy would drop options added since, by a person or another process. The read and the
   * PATCH run under a lease in the store, so two sync processes do not interleave them.
   */
  private async ensureTagOptions(session: PortalSession, config: ResolvedHubSpotConfig, wanted: ReadonlySet<string>, fresh: boolean): Promise<void> {
    if (wanted.size === 0) return;
    const known = (): Set<string> => new Set((session.tagOptions ?? []).map((o) => o.value));
    const covered = (): boolean => [...wanted].every((value) => known().has(value));
    if (!fresh && covered()) return;
    await session.exclusive(async () => {
      if (!fresh && covered()) return;
      await this.withTagOptionsLease(config, async () => {
        const current = await session.client.getProperty(TAGS_PROPERTY);
        const present = new Set(current.options.map((o) => o.value));
        const missing = [...wanted].filter((value) => !present.has(value));
        if (missing.length === 0) {
          session.tagOptions = current.options;
          return;
        }
        const options: ExistingOption[] = current.options.map((o, index) => ({ ...o, displayOrder: o.displayOrder ?? index, hidden: o.hidden ?? false }));
        let order = options.reduce((max, o) => Math.max(max, (o.displayOrder ?? 0) + 1), 0);
        for (const value of missing) options.push({ label: value, value: tagOptionValue(value), displayOrder: order++, hidden: false });
        const updated = await session.client.updatePropertyOptions(
          TAGS_PROPERTY,
          options.map((o, index) => ({ label: o.label, value: o.value, displayOrder: o.displayOrder ?? index, hidden: o.hidden ?? false })),
        );
        session.tagOptions = updated.options;
      });
    });
  }

  /** Runs `work` holding the store's lease on the portal's tags options; waits while another process holds it. */
  private async withTagOptionsLease<T>(config: ResolvedHubSpotConfig, work: () => Promise<T>): Promise<T> {
    const key = `hubspot.tagOptionsLease.${config.portalId ?? config.workspaceId}`;
    const holder = this.instanceId;
    const maxWaits = Math.ceil(TAG_OPTIONS_LEASE_MS / TAG_OPTIONS_LEASE_POLL_MS) + 1;
    for (let waits = 0; ; waits += 1) {
      const taken = await this.state.transaction(async (_state, tx) => {
        const now = this.clock.now().getTime();
        const lease = TagOptionsLeaseSchema.safeParse(await tx.getMeta(key));
        if (lease.success && lease.data.holder !== holder && Date.parse(lease.data.until) > now) return false;
        await tx.setMeta(key, { holder, until: new Date(now + TAG_OPTIONS_LEASE_MS).toISOString() });
        return true;
      });
      if (taken) break;
      if (waits >= maxWaits) throw new Error("another Consentry process is changing the HubSpot tags property's options; the changes are sent again later");
      await this.sleep(TAG_OPTIONS_LEASE_POLL_MS);
    }
    try {
      return await work();
    } finally {
      await this.state
        .transaction(async (_state, tx) => {
          const lease = TagOptionsLeaseSchema.safeParse(await tx.getMeta(key));
          if (lease.success && lease.data.holder === holder) await tx.setMeta(key, null);
        })
        .catch((error: unknown) => this.logger.error({ err: error }, 'could not release the HubSpot tags options lease; it runs out by itself'));
    }
  }

  /**
   * After HubSpot refused a write for a value of the tags property (an option removed in HubSpot,
   * or replaced by another process's list), its options are read again and completed, once per
   * task; the caller then sends the same write again.
   */
  private async recoverTagOptions(session: PortalSession, config: ResolvedHubSpotConfig, error: unknown, context: WriteContext): Promise<boolean> {
    if (context.tagsRefreshed || !(error instanceof HubSpotApiError) || error.status !== 400) return false;
    const tags = refusedProperties(error).find((p) => p.name === TAGS_PROPERTY);
    if (tags === undefined || (tags.code !== null && tags.code !== 'INVALID_OPTION')) return false;
    context.tagsRefreshed = true;
    await this.ensureTagOptions(session, config, context.tags, true);
    return true;
  }

  private async syncContacts(session: PortalSession, config: ResolvedHubSpotConfig, items: ContactWork[], result: TaskResult): Promise<void> {
    await this.ensureProperties(session);
    const context: WriteContext = { tagsRefreshed: false, tags: tagValuesOf(items) };
    await this.ensureTagOptions(session, config, context.tags, false);
    const ids = new Map<string, string>();
    for (const item of items) if (item.contact.hubspotId !== null) ids.set(item.contact.id, item.contact.hubspotId);
    const links: { contactId: string; hubspotId: string }[] = [];
    const created = new Set<string>();

    const unmatched = items.filter((item) => !ids.has(item.contact.id));
    if (unmatched.length > 0) {
      // Matched by stored HubSpot id, then e-mail, then phone; created when the workspace allows.
      const withEmail = unmatched.filter((item) => item.contact.email !== null);
      if (withEmail.length > 0) {
        const found = await session.client.readContactsByEmail(
          withEmail.map((item) => item.contact.email ?? ''),
          [],
        );
        const byEmail = new Map(found.results.map((c) => [(c.properties.email ?? '').toLowerCase(), c.id]));
        for (const item of withEmail) {
          const id = byEmail.get((item.contact.email ?? '').toLowerCase());
          if (id !== undefined) ids.set(item.contact.id, id);
        }
      }
      for (const item of unmatched) {
        if (ids.has(item.contact.id) || item.contact.phone === null) continue;
        const found = await session.client.findContactByPhone(item.contact.phone, []);
        if (found !== null) ids.set(item.contact.id, found.id);
      }
      const missing = unmatched.filter((item) => !ids.has(item.contact.id));
      if (missing.length > 0 && !config.createMissingContacts) {
        for (const item of missing) {
          result.settled.push({
            rows: item.rows,
            outcome: { kind: 'dead', error: 'no HubSpot contact has this id, e-mail or phone, and createMissingContacts is off' },
            contactId: item.contact.id,
            operation: 'match_contact',
          });
        }
      } else if (missing.length > 0) {
        // By e-mail where there is one (HubSpot's own unique key), else by the Consentry contact id.
        await this.upsertContacts(session, config, missing.filter((item) => item.contact.email !== null), 'email', ids, created, result, context);
        await this.upsertContacts(session, config, missing.filter((item) => item.contact.email === null), CONTACT_ID_PROPERTY, ids, created, result, context);
      }
      for (const item of unmatched) {
        const id = ids.get(item.contact.id);
        if (id !== undefined) links.push({ contactId: item.contact.id, hubspotId: id });
      }
      if (links.length > 0) await this.engine.workspace(config.workspaceId).linkHubspotContacts(links);
    }

    // Matched records, and those a create found already there (HubSpot's 409 named them).
    const toUpdate = items.filter((item) => ids.has(item.contact.id) && !created.has(item.contact.id));
    await this.updateContacts(session, config, toUpdate, ids, result, context);
  }

  /** A record written: its values are what HubSpot holds now; rows whose property HubSpot refused for it alone are dead letters. */
  private settleWritten(item: ContactWork, operation: string, result: TaskResult): void {
    result.written.push({ contactId: item.contact.id, properties: { ...item.coalesced.properties }, stamps: { ...item.coalesced.stamps } });
    if (item.refused === undefined) {
      result.settled.push({ rows: item.rows, outcome: { kind: 'done' }, contactId: item.contact.id, operation });
      return;
    }
    const refused = new Set(item.refused.names);
    const carriesRefused = (row: SyncChange): boolean => row.payload.kind === 'contact' && Object.keys(row.payload.properties).some((name) => refused.has(name));
    const dead = item.rows.filter(carriesRefused);
    const done = item.rows.filter((row) => !carriesRefused(row));
    if (done.length > 0) result.settled.push({ rows: done, outcome: { kind: 'done' }, contactId: item.contact.id, operation });
    if (dead.length > 0) result.settled.push({ rows: dead, outcome: { kind: 'dead', error: item.refused.error }, contactId: item.contact.id, operation });
  }

  /**
   * Creates missing contacts by batch upsert on a unique property (`email`, or the Consentry
   * contact id for a contact without one): a write sent again after an unclear answer (a 5xx
   * after HubSpot carried it out, which the limiter retries) finds the record it made instead of
   * making another (https://developers.hubspot.com/docs/api/crm/contacts, upsert). A batch HubSpot
   * refuses whole is split down to the record at fault; HubSpot's 409 for one record names the
   * record that already holds its address, which is then linked and updated.
   */
  private async upsertContacts(
    session: PortalSession,
    config: ResolvedHubSpotConfig,
    items: readonly ContactWork[],
    idProperty: 'email' | typeof CONTACT_ID_PROPERTY,
    ids: Map<string, string>,
    created: Set<string>,
    result: TaskResult,
    context: WriteContext,
  ): Promise<void> {
    if (items.length === 0) return;
    const keyOf = (item: ContactWork): string => (idProperty === 'email' ? (item.contact.email ?? '') : item.contact.id);
    const body = (item: ContactWork): Record<string, string> => {
      const properties: Record<string, string> = {
        ...identityProperties(item.contact),
        ...(idProperty === CONTACT_ID_PROPERTY ? { [CONTACT_ID_PROPERTY]: item.contact.id } : {}),
        ...item.coalesced.properties,
      };
      for (const name of item.refused?.names ?? []) delete properties[name];
      return properties;
    };
    let response: BatchResult<UpsertedContact>;
    try {
      response = await session.client.upsertContacts(items.map((item) => ({ id: keyOf(item), idProperty, properties: body(item) })));
    } catch (error) {
      if (!refusedForRecords(error)) throw error;
      if (await this.recoverTagOptions(session, config, error, context)) {
        await this.upsertContacts(session, config, items, idProperty, ids, created, result, context);
        return;
      }
      if (items.length > 1) {
        const half = Math.ceil(items.length / 2);
        await this.upsertContacts(session, config, items.slice(0, half), idProperty, ids, created, result, context);
        await this.upsertContacts(session, config, items.slice(half), idProperty, ids, created, result, context);
        return;
      }
      const item = items[0];
      if (item === undefined) return;
      const existing = error instanceof HubSpotApiError ? existingRecordId(error) : null;
      if (existing !== null) {
        // The record HubSpot names holds this contact's address: it is the contact, updated like any matched one.
        ids.set(item.contact.id, existing);
        return;
      }
      const stripped = withoutRefused(item, error, Object.keys(body(item)).filter((name) => name !== idProperty));
      if (stripped !== null) {
        await this.upsertContacts(session, config, [stripped], idProperty, ids, created, result, context);
        return;
      }
      result.settled.push({ rows: item.rows, outcome: { kind: 'dead', error: errorText(error) }, contactId: item.contact.id, operation: 'create_contact' });
      return;
    }
    const resultKey = (record: HubSpotContact): string =>
      idProperty === 'email' ? (record.properties.email ?? '').toLowerCase() : (record.properties[CONTACT_ID_PROPERTY] ?? '');
    const byKey = new Map(response.results.map((record) => [resultKey(record), record.id]));
    for (const item of items) {
      const key = keyOf(item);
      const id = byKey.get(idProperty === 'email' ? key.toLowerCase() : key);
      if (id !== undefined) {
        ids.set(item.contact.id, id);
        created.add(item.contact.id);
        this.settleWritten(item, 'create_contact', result);
        continue;
      }
      const error = response.errors.find((e) => batchErrorNames(e, key))?.message ?? 'HubSpot answered no record for this contact';
      result.settled.push({ rows: item.rows, outcome: { kind: 'retry', error }, contactId: item.contact.id, operation: 'create_contact' });
    }
  }

  /**
   * One batch update; when HubSpot refuses the whole batch for one bad record (400, 409), the
   * batch is split until the bad record stands alone. A record refused for values of properties
   * HubSpot names is sent again without them, so its other values (its consent) are written and
   * only the rows of the refused values are dead-lettered; a refused tag option is first added.
   */
  private async updateContacts(
    session: PortalSession,
    config: ResolvedHubSpotConfig,
    items: readonly ContactWork[],
    ids: ReadonlyMap<string, string>,
    result: TaskResult,
    context: WriteContext,
  ): Promise<void> {
    if (items.length === 0) return;
    let response: BatchResult<HubSpotContact>;
    try {
      response = await session.client.updateContacts(items.map((item) => ({ id: ids.get(item.contact.id) ?? '', properties: { ...item.coalesced.properties } })));
    } catch (error) {
      if (!refusedForRecords(error)) throw error;
      if (await this.recoverTagOptions(session, config, error, context)) {
        await this.updateContacts(session, config, items, ids, result, context);
        return;
      }
      if (items.length > 1) {
        const half = Math.ceil(items.length / 2);
        await this.updateContacts(session, config, items.slice(0, half), ids, result, context);
        await this.updateContacts(session, config, items.slice(half), ids, result, context);
        return;
      }
      const item = items[0];
      if (item === undefined) return;
      const stripped = withoutRefused(item, error, Object.keys(item.coalesced.properties));
      if (stripped !== null) {
        await this.updateContacts(session, config, [stripped], ids, result, context);
        return;
      }
      result.settled.push({ rows: item.rows, outcome: { kind: 'dead', error: errorText(error) }, contactId: item.contact.id, operation: 'update_contact' });
      return;
    }
    const missingIds = new Set(response.errors.filter((e) => e.category === 'OBJECT_NOT_FOUND').flatMap((e) => [...(e.context.ids ?? []), ...(e.id === null ? [] : [e.id])]));
    const updated = new Set(response.results.map((r) => r.id));
    const unlink: { contactId: string; hubspotId: null }[] = [];
    for (const item of items) {
      const id = ids.get(item.contact.id) ?? '';
      if (updated.has(id)) {
        this.settleWritten(item, 'update_contact', result);
      } else if (missingIds.has(id) && item.contact.erasedAt !== null) {
        // An erased contact is never matched again: with its record gone from HubSpot, nothing is left to opt out.
        result.settled.push({ rows: item.rows, outcome: { kind: 'done' }, contactId: item.contact.id, operation: 'update_contact' });
      } else if (missingIds.has(id)) {
        // Deleted or merged in HubSpot: forget the id, the next attempt matches the contact again.
        unlink.push({ contactId: item.contact.id, hubspotId: null });
        result.settled.push({ rows: item.rows, outcome: { kind: 'retry', error: `HubSpot contact ${id} no longer exists` }, contactId: item.contact.id, operation: 'update_contact' });
      } else {
        // Only an error naming this record speaks for it; another record's error is not its reason.
        const error = response.errors.find((e) => e.category !== 'OBJECT_NOT_FOUND' && batchErrorNames(e, id))?.message ?? `HubSpot did not update contact ${id}`;
        result.settled.push({ rows: item.rows, outcome: { kind: 'retry', error }, contactId: item.contact.id, operation: 'update_contact' });
      }
    }
    if (unlink.length > 0) await this.engine.workspace(config.workspaceId).linkHubspotContacts(unlink);
  }

  private async syncEmail(session: PortalSession, config: ResolvedHubSpotConfig, work: readonly EmailWork[], result: TaskResult): Promise<void> {
    const subscriptionId = config.emailSubscriptionId;
    if (subscriptionId === null) {
      for (const item of work) result.settled.push({ rows: item.rows, outcome: { kind: 'done' }, contactId: item.contact.id, operation: 'email_subscription' });
      return;
    }
    const addresses = await this.subscriberAddresses(session, work, result);
    const items = work.filter((item) => addresses.has(item.contact.id));
    if (items.length === 0) return;
    const addressOf = (item: EmailWork): string => addresses.get(item.contact.id) ?? '';
    const facts = (item: EmailWork) => {
      if (item.latest.payload.kind !== 'email') throw new Error('email row without an email payload');
      return { purpose: 'marketing' as const, channel: 'email' as const, ...item.latest.payload };
    };
    const succeeded = (item: EmailWork): void => {
      result.written.push({
        contactId: item.contact.id,
        properties: {},
        stamps: { [EMAIL_SUBSCRIPTION_STAMP]: { occurredAt: item.latest.occurredAt, position: item.latest.position } },
      });
      result.settled.push({ rows: item.rows, outcome: { kind: 'done' }, contactId: item.contact.id, operation: 'email_subscription' });
    };
    const target = (item: EmailWork) => ({ emailAddress: addressOf(item), subscriptionId });

    if (session.v4BatchWrite !== false) {
      try {
        const sent = items.flatMap((item) => {
          const input = emailSubscriptionV4Input(facts(item), target(item));
          return input === null ? [] : [{ item, input }];
        });
        const response = await session.client.writeEmailSubscriptionsV4(sent.map((s) => s.input));
        session.v4BatchWrite = true;
        for (const item of items) {
          if (!sent.some((s) => s.item === item)) result.settled.push({ rows: item.rows, outcome: { kind: 'done' }, contactId: item.contact.id, operation: 'email_subscription' });
        }
        // Only a result proves a write: the same subscriber, subscription and status as asked. An
        // error naming the subscriber is a refusal; an item with neither is sent again.
        for (const { item, input } of sent) {
          const subscriber = input.subscriberIdString.toLowerCase();
          const written = response.results.some(
            (r) => r.subscriberIdString.toLowerCase() === subscriber && r.subscriptionId === input.subscriptionId && r.status === input.statusState,
          );
          if (written) {
            succeeded(item);
            continue;
          }
          const refused = response.errors.find((e) => batchErrorNames(e, input.subscriberIdString));
          const outcome: RowOutcome =
            refused !== undefined
              ? { kind: 'dead', error: `${refused.message} (${refused.category})` }
              : { kind: 'retry', error: `HubSpot answered no ${input.statusState} result for subscription ${input.subscriptionId} of this address` };
          result.settled.push({ rows: item.rows, outcome, contactId: item.contact.id, operation: 'email_subscription' });
        }
        return;
      } catch (error) {
        // Without Marketing Hub Enterprise HubSpot refuses v4 batch write: v3, one call per contact, from now on.
        const refusedPlan = error instanceof HubSpotApiError && (error.status === 403 || error.status === 404);
        if (!refusedPlan) throw error;
        session.v4BatchWrite = false;
      }
    }

    await Promise.all(
      items.map(async (item) => {
        const request = emailSubscriptionRequest(facts(item), target(item));
        if (request === null) {
          result.settled.push({ rows: item.rows, outcome: { kind: 'done' }, contactId: item.contact.id, operation: 'email_subscription' });
          return;
        }
        try {
          if (request.action === 'subscribe') await session.client.subscribeEmail(request.body);
          else await session.client.unsubscribeEmail(request.body);
          succeeded(item);
        } catch (error) {
          // HubSpot answers 400 when the address already has the requested status: that is the state we want.
          if (error instanceof HubSpotApiError && error.status === 400 && /already (subscribed|unsubscribed)/i.test(error.responseText)) {
            succeeded(item);
            return;
          }
          if (error instanceof HubSpotPausedError || configurationProblem(error) !== null || retryable(error)) throw error;
          result.settled.push({ rows: item.rows, outcome: { kind: 'dead', error: errorText(error) }, contactId: item.contact.id, operation: 'email_subscription' });
        }
      }),
    );
  }

  /**
   * The address each subscription change is written for. An erased contact's address is gone from
   * Consentry, but HubSpot's subscription API only knows subscribers by address: it is read from
   * the HubSpot record the contact is linked to, used for this call and kept nowhere, so the
   * opt-out still reaches HubSpot. A contact with no address there has nothing to unsubscribe.
   */
  private async subscriberAddresses(session: PortalSession, items: readonly EmailWork[], result: TaskResult): Promise<Map<string, string>> {
    const addresses = new Map<string, string>();
    const byRecord = new Map<string, string>();
    for (const item of items) {
      if (item.contact.email !== null) addresses.set(item.contact.id, item.contact.email);
      else if (item.contact.hubspotId !== null) byRecord.set(item.contact.id, item.contact.hubspotId);
    }
    if (byRecord.size > 0) {
      const read = await session.client.readContacts([...new Set(byRecord.values())], ['email']);
      const found = new Map(read.results.map((contact) => [contact.id, contact.properties.email ?? null]));
      for (const [contactId, hubspotId] of byRecord) {
        const address = found.get(hubspotId);
        if (address !== undefined && address !== null && address !== '') addresses.set(contactId, address);
      }
    }
    for (const item of items) {
      if (!addresses.has(item.contact.id)) {
        result.settled.push({ rows: item.rows, outcome: { kind: 'done' }, contactId: item.contact.id, operation: 'email_subscription' });
      }
    }
    return addresses;
  }

  private async completeCallback(session: PortalSession, row: SyncChange, result: TaskResult): Promise<void> {
    if (row.payload.kind !== 'callback') throw new Error('callback row without a callback payload');
    try {
      await session.client.completeCallback(row.payload.callbackId, row.payload.outputFields);
      result.settled.push({ rows: [row], outcome: { kind: 'done' }, contactId: row.contactId, operation: 'complete_callback' });
    } catch (error) {
      if (error instanceof HubSpotApiError && classifyFailure(error).kind === 'fatal' && configurationProblem(error) === null) {
        // 404: the callback expired or is unknown; nothing later will make HubSpot take it.
        result.settled.push({ rows: [row], outcome: { kind: 'dead', error: errorText(error) }, contactId: row.contactId, operation: 'complete_callback' });
        return;
      }
      throw error;
    }
  }
}

/** The worker a server runs beside its routes (src/worker/index.ts). */
export function createHubSpotSync(options: HubSpotSyncOptions): HubSpotSync {
  return new HubSpotSync(options);
}

export type { ContactSyncState };

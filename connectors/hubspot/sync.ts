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
import type { BatchResult, HubSpotContact } from './client.js';
import { coalesceIntoBatches, HUBSPOT_BATCH_LIMIT, type CoalescedContact, type PendingChange, type ValueStamp } from './coalesce.js';
import { resolveAll, type HubSpotEnvironment, type ResolvedHubSpotConfig } from './config.js';
import { hubSpotConnectionsFor, type HubSpotConnections, type PortalSession } from './connections.js';
import { ECHO_WINDOW_MS, emptyContactState, rememberWrites, type ContactSyncState } from './echo.js';
import { HubSpotApiError, HubSpotPausedError, HubSpotResponseError } from './errors.js';
import { changeAfterErasure, pendingLeftAfterErasure } from './erasure.js';
import { fanOutBatch } from './fan-out.js';
import { emailSubscriptionRequest, emailSubscriptionV4Input, identityProperties } from './mapping.js';
import { CONSENTRY_PROPERTY_NAMES, isStatusProperty, TAGS_PROPERTY, tagOptionValue, type ExistingOption } from './properties.js';
import { classifyFailure } from './rate-limiter.js';
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
}

export interface SyncPassSummary {
  events: number;
  queued: number;
  tasks: number;
  done: number;
  retried: number;
  dead: number;
  held: number;
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
  written: Written[];
  pausedUntil: Date | null;
  heldReason: string | null;
}

interface ContactWork {
  contact: Contact;
  coalesced: CoalescedContact;
  rows: SyncChange[];
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

/** Only a person can fix these: retrying soon would only repeat them. */
class ConfigurationProblem extends Error {
  override readonly name = 'ConfigurationProblem';
}

const DEFAULT_MAX_ATTEMPTS = 10;
const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 5_000, capMs: 60 * 60 * 1000 };
const DEFAULT_HOLD_MS = 15 * 60 * 1000;
/** Longer than any call with its limiter waits and retries: only a crashed process's rows come back by it. */
const DEFAULT_LEASE_MS = 15 * 60 * 1000;
const DEFAULT_MAX_IN_FLIGHT = 24;
const DEFAULT_FAN_OUT_BATCH = 1000;
const DEFAULT_INTERVAL_MS = 100;
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
  if (!(error instanceof HubSpotApiError)) return null;
  if (error.status === 401) return 'HubSpot refused the access token (401): check the token in the settings';
  if (error.status === 403) return `HubSpot refused the access token's scopes (403): ${error.message}`;
  if (error.status === 400 && error.responseText.includes('PROPERTY_DOESNT_EXIST')) {
    return 'HubSpot has no Consentry properties: run `consentry hubspot install`';
  }
  return null;
}

function retryable(error: unknown): boolean {
  if (error instanceof HubSpotResponseError) return true;
  const failure = classifyFailure(error);
  return failure.kind === 'server_error' || failure.kind === 'rate_limited';
}

function contactKey(workspaceId: string, contactId: string): string {
  return `${workspaceId}\u0000${contactId}`;
}

/** Which of these rows' contacts are erased, as contactKey. */
async function erasedContacts(tx: StoreTx, rows: readonly { workspaceId: string; contactId: string | null }[]): Promise<Set<string>> {
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

  private readonly inFlightRows = new Set<string>();
  private readonly busyContacts = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private completed: TaskResult[] = [];
  /** Rows and contacts of finished tasks, freed once their outcomes are written. */
  private releaseLater: { rows: SyncChange[]; contacts: string[] }[] = [];
  private passes: Promise<unknown> = Promise.resolve();
  /** A finished task wakes the loop, so its outcome is written and the contact's next change follows. */
  private readonly loop: PollingLoop;

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
    this.metrics = options.metricsRegistry ? new HubSpotSyncMetrics(options.metricsRegistry, this.state) : null;
    this.loop = new PollingLoop({
      pass: () => this.serialised(() => this.pass(null)),
      idleMs: this.intervalMs,
      onError: (error) => this.logger.error({ err: error }, 'HubSpot sync pass failed'),
    });
  }

  /** One pass, then waits for the calls it started and records their outcomes. Tests drive the sync with it. */
  async runOnce(): Promise<SyncPassSummary> {
    const summary: SyncPassSummary = { events: 0, queued: 0, tasks: 0, done: 0, retried: 0, dead: 0, held: 0 };
    await this.serialised(() => this.pass(summary));
    await Promise.all([...this.running]);
    await this.serialised(() => this.pass(summary, false));
    return summary;
  }

  /** Passes until nothing is due and nothing is in flight (at most `maxPasses`). */
  async drain(maxPasses = 10_000): Promise<SyncPassSummary> {
    const total: SyncPassSummary = { events: 0, queued: 0, tasks: 0, done: 0, retried: 0, dead: 0, held: 0 };
    for (let i = 0; i < maxPasses; i += 1) {
      const pass = await this.runOnce();
      total.events += pass.events;
      total.queued += pass.queued;
      total.tasks += pass.tasks;
      total.done += pass.done;
      total.retried += pass.retried;
      total.dead += pass.dead;
      total.held += pass.held;
      if (pass.events === 0 && pass.tasks === 0 && pass.done === 0) return total;
    }
    return total;
  }

  start(): void {
    this.loop.start();
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
  private async pass(summary: SyncPassSummary | null, pick = true): Promise<void> {
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
      const outcome = await this.state.transaction(async (state, tx) => {
        const alerts = results.length === 0 ? [] : await this.applyAll(state, tx, results, summary);
        if (!pick) return { alerts, tasks: [], backlog: false };
        const fanned = await fanOutBatch(state, tx, this.env, this.clock.now(), this.fanOutBatchSize);
        if (summary) {
          summary.events += fanned.events;
          summary.queued += fanned.changes;
        }
        const more = fanned.events >= this.fanOutBatchSize;
        return { alerts, tasks: more ? [] : await this.pick(state, tx), backlog: more };
      });
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
    if (backlog) {
      // A long backlog is read in transactions of its own, then sending starts.
      for (let batch = 1; batch < MAX_FAN_OUT_BATCHES_PER_PASS; batch += 1) {
        const fanned = await this.state.transaction((state, tx) => fanOutBatch(state, tx, this.env, this.clock.now(), this.fanOutBatchSize));
        if (summary) {
          summary.events += fanned.events;
          summary.queued += fanned.changes;
        }
        if (fanned.events < this.fanOutBatchSize) break;
      }
      tasks = await this.state.transaction((state, tx) => this.pick(state, tx));
    }
    if (summary) summary.tasks += tasks.length;
    for (const task of tasks) this.launch(task);
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
    const rows = task.kind === 'callback' ? [task.row] : task.items.flatMap((item) => item.rows);
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
          written: [],
          pausedUntil: null,
          heldReason: null,
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
        if (status.pausedUntil !== until) {
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

  /** Due rows not in flight, coalesced per contact into tasks, up to the free capacity. */
  private async pick(state: HubSpotStateTx, tx: StoreTx): Promise<Task[]> {
    const capacity = this.maxInFlightTasks - this.running.size;
    if (capacity <= 0) return [];
    const now = this.clock.now();
    const nowIso = now.toISOString();
    const free = await state.listDueChanges(
      nowIso,
      capacity * HUBSPOT_BATCH_LIMIT,
      (row) => this.inFlightRows.has(changeKey(row)) || (row.contactId !== null && this.busyContacts.has(contactKey(row.workspaceId, row.contactId))),
    );
    if (free.length === 0) return [];
    const configs = resolveAll(await tx.listWorkspaces(), this.env);
    const byWorkspace = new Map<string, SyncChange[]>();
    for (const row of free) {
      const list = byWorkspace.get(row.workspaceId) ?? [];
      list.push(row);
      byWorkspace.set(row.workspaceId, list);
    }
    const tasks: Task[] = [];
    const closed: SyncChange[] = [];
    const held: SyncChange[] = [];
    for (const [workspaceId, rows] of byWorkspace) {
      if (tasks.length >= capacity) break;
      const config = configs.get(workspaceId);
      if (config === undefined) {
        // The connector was switched off: the work waits in case it comes back, and is visible meanwhile.
        const until = new Date(now.getTime() + this.holdMs).toISOString();
        held.push(...rows.map((row) => ({ ...row, nextAttemptAt: until, lastError: 'HubSpot is not configured for this workspace', updatedAt: nowIso })));
        continue;
      }
      await this.planWorkspace(state, tx, config, rows, capacity, tasks, closed);
    }
    await state.deleteChanges(closed);
    await state.updateChanges(held);
    // A lease: rows being sent are not due again unless this process dies with them in flight.
    const leased = tasks.flatMap((task) => (task.kind === 'callback' ? [task.row] : task.items.flatMap((item) => item.rows)));
    await state.deferChanges(leased, new Date(now.getTime() + this.leaseMs).toISOString());
    return tasks;
  }

  private async planWorkspace(
    state: HubSpotStateTx,
    tx: StoreTx,
    config: ResolvedHubSpotConfig,
    rows: readonly SyncChange[],
    capacity: number,
    tasks: Task[],
    closed: SyncChange[],
  ): Promise<void> {
    const workspaceId = config.workspaceId;
    const contacts = new Map<string, Contact | null>();
    for (const row of rows) {
      if (row.contactId !== null && !contacts.has(row.contactId)) contacts.set(row.contactId, (await tx.getContact(workspaceId, row.contactId)) ?? null);
    }
    /**
     * What a row still sends, and to whom: itself for a live contact; for an erased contact
     * HubSpot knows by id, only its opt-outs (erasure.ts); nothing for an unknown contact.
     */
    const sendable = (row: SyncChange): { contact: Contact; row: SyncChange } | null => {
      const contact = row.contactId === null ? null : (contacts.get(row.contactId) ?? null);
      if (contact === null) return null;
      if (contact.erasedAt === null) return { contact, row };
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
      pending.push({ contactId: contact.id, properties: found.row.payload.properties, occurredAt: row.occurredAt, position: row.position });
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
    const result: TaskResult = { workspaceId: task.config.workspaceId, settled: [], written: [], pausedUntil: null, heldReason: null };
    try {
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

  /** Checks once per session that the portal has the connector's properties, and learns the tag options. */
  private async ensureProperties(session: PortalSession): Promise<void> {
    if (session.propertiesChecked) return;
    await session.exclusive(async () => {
      if (session.propertiesChecked) return;
      const existing = await session.client.listProperties();
      const names = new Set(existing.map((p) => p.name));
      const missing = CONSENTRY_PROPERTY_NAMES.filter((name) => !names.has(name));
      if (missing.length > 0) throw new ConfigurationProblem(`HubSpot lacks ${missing.length} Consentry properties: run \`consentry hubspot install\``);
      session.tagOptions = existing.find((p) => p.name === TAGS_PROPERTY)?.options ?? [];
      session.propertiesChecked = true;
    });
  }

  /**
   * The tags property is a multi-checkbox whose options grow as tags appear: a value HubSpot has
   * no option for is refused, so missing options are added (the whole list: HubSpot replaces it).
   */
  private async ensureTagOptions(session: PortalSession, items: readonly ContactWork[]): Promise<void> {
    const wanted = new Set<string>();
    for (const item of items) {
      const value = item.coalesced.properties[TAGS_PROPERTY];
      if (value === undefined || value === '') continue;
      for (const part of value.split(';')) wanted.add(part);
    }
    const known = (): Set<string> => new Set((session.tagOptions ?? []).map((o) => o.value));
    if ([...wanted].every((value) => known().has(value))) return;
    await session.exclusive(async () => {
      const present = known();
      const missing = [...wanted].filter((value) => !present.has(value));
      if (missing.length === 0) return;
      const options: ExistingOption[] = (session.tagOptions ?? []).map((o, index) => ({ ...o, displayOrder: o.displayOrder ?? index, hidden: o.hidden ?? false }));
      let order = options.reduce((max, o) => Math.max(max, (o.displayOrder ?? 0) + 1), 0);
      for (const value of missing) options.push({ label: value, value: tagOptionValue(value), displayOrder: order++, hidden: false });
      const updated = await session.client.updatePropertyOptions(
        TAGS_PROPERTY,
        options.map((o, index) => ({ label: o.label, value: o.value, displayOrder: o.displayOrder ?? index, hidden: o.hidden ?? false })),
      );
      session.tagOptions = updated.options;
    });
  }

  private async syncContacts(session: PortalSession, config: ResolvedHubSpotConfig, items: ContactWork[], result: TaskResult): Promise<void> {
    await this.ensureProperties(session);
    await this.ensureTagOptions(session, items);
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
          const id = byEmail.get(item.contact.email ?? '');
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
        await this.createContacts(session, missing, ids, created, result);
      }
      for (const item of unmatched) {
        const id = ids.get(item.contact.id);
        if (id !== undefined) links.push({ contactId: item.contact.id, hubspotId: id });
      }
      if (links.length > 0) await this.engine.workspace(config.workspaceId).linkHubspotContacts(links);
    }

    const toUpdate = items.filter((item) => ids.has(item.contact.id) && !created.has(item.contact.id));
    await this.updateContacts(session, config, toUpdate, ids, result);
  }

  private async createContacts(
    session: PortalSession,
    missing: readonly ContactWork[],
    ids: Map<string, string>,
    created: Set<string>,
    result: TaskResult,
  ): Promise<void> {
    const body = (item: ContactWork): Record<string, string> => ({ ...identityProperties(item.contact), ...item.coalesced.properties });
    // Batch results are matched back by e-mail; a contact without one is created on its own.
    const withEmail = missing.filter((item) => item.contact.email !== null);
    const alone = missing.filter((item) => item.contact.email === null);
    const record = (item: ContactWork, response: BatchResult<HubSpotContact>, id: string | undefined): void => {
      if (id === undefined) {
        const error = response.errors[0]?.message ?? 'HubSpot created no contact';
        result.settled.push({ rows: item.rows, outcome: { kind: 'retry', error }, contactId: item.contact.id, operation: 'create_contact' });
        return;
      }
      ids.set(item.contact.id, id);
      created.add(item.contact.id);
      result.written.push({ contactId: item.contact.id, properties: { ...item.coalesced.properties }, stamps: { ...item.coalesced.stamps } });
      result.settled.push({ rows: item.rows, outcome: { kind: 'done' }, contactId: item.contact.id, operation: 'create_contact' });
    };
    if (withEmail.length > 0) {
      const response = await session.client.createContacts(withEmail.map((item) => ({ properties: body(item) })));
      const byEmail = new Map(response.results.map((c) => [(c.properties.email ?? '').toLowerCase(), c.id]));
      for (const item of withEmail) record(item, response, byEmail.get(item.contact.email ?? ''));
    }
    for (const item of alone) {
      const response = await session.client.createContacts([{ properties: body(item) }]);
      record(item, response, response.results[0]?.id);
    }
  }

  /**
   * One batch update; when HubSpot refuses the whole batch for one bad record (400, 409), the
   * batch is split until the bad record stands alone and only it is dead-lettered.
   */
  private async updateContacts(
    session: PortalSession,
    config: ResolvedHubSpotConfig,
    items: readonly ContactWork[],
    ids: ReadonlyMap<string, string>,
    result: TaskResult,
  ): Promise<void> {
    if (items.length === 0) return;
    let response: BatchResult<HubSpotContact>;
    try {
      response = await session.client.updateContacts(items.map((item) => ({ id: ids.get(item.contact.id) ?? '', properties: { ...item.coalesced.properties } })));
    } catch (error) {
      const fatal = error instanceof HubSpotApiError && classifyFailure(error).kind === 'fatal' && configurationProblem(error) === null;
      if (!fatal) throw error;
      if (items.length === 1) {
        const item = items[0];
        if (item !== undefined) {
          result.settled.push({ rows: item.rows, outcome: { kind: 'dead', error: errorText(error) }, contactId: item.contact.id, operation: 'update_contact' });
        }
        return;
      }
      const half = Math.ceil(items.length / 2);
      await this.updateContacts(session, config, items.slice(0, half), ids, result);
      await this.updateContacts(session, config, items.slice(half), ids, result);
      return;
    }
    const missingIds = new Set(response.errors.filter((e) => e.category === 'OBJECT_NOT_FOUND').flatMap((e) => e.context.ids ?? []));
    const otherError = response.errors.find((e) => e.category !== 'OBJECT_NOT_FOUND');
    const updated = new Set(response.results.map((r) => r.id));
    const unlink: { contactId: string; hubspotId: null }[] = [];
    for (const item of items) {
      const id = ids.get(item.contact.id) ?? '';
      if (updated.has(id)) {
        result.written.push({ contactId: item.contact.id, properties: { ...item.coalesced.properties }, stamps: { ...item.coalesced.stamps } });
        result.settled.push({ rows: item.rows, outcome: { kind: 'done' }, contactId: item.contact.id, operation: 'update_contact' });
      } else if (missingIds.has(id) && item.contact.erasedAt !== null) {
        // An erased contact is never matched again: with its record gone from HubSpot, nothing is left to opt out.
        result.settled.push({ rows: item.rows, outcome: { kind: 'done' }, contactId: item.contact.id, operation: 'update_contact' });
      } else if (missingIds.has(id)) {
        // Deleted or merged in HubSpot: forget the id, the next attempt matches the contact again.
        unlink.push({ contactId: item.contact.id, hubspotId: null });
        result.settled.push({ rows: item.rows, outcome: { kind: 'retry', error: `HubSpot contact ${id} no longer exists` }, contactId: item.contact.id, operation: 'update_contact' });
      } else {
        const error = otherError?.message ?? `HubSpot did not update contact ${id}`;
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
        const inputs = items.map((item) => emailSubscriptionV4Input(facts(item), target(item)));
        const response = await session.client.writeEmailSubscriptionsV4(inputs.filter((i) => i !== null));
        session.v4BatchWrite = true;
        const refused = new Map<string, string>();
        for (const error of response.errors) for (const email of error.context.subscriberIdString ?? []) refused.set(email.toLowerCase(), error.message);
        for (const item of items) {
          const error = refused.get(addressOf(item).toLowerCase());
          if (error === undefined) succeeded(item);
          else result.settled.push({ rows: item.rows, outcome: { kind: 'dead', error }, contactId: item.contact.id, operation: 'email_subscription' });
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

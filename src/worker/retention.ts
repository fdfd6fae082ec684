import { Counter, type Registry } from 'prom-client';
import { z } from 'zod';
import type { Clock } from '../ports/clock.js';
import { RETENTION_MARK_KEY, type PrunedRows, type Store, type StoreTx } from '../ports/store.js';
import { reuse } from './delivery-metrics.js';
import type { WorkerLogger } from './logger.js';
import { PollingLoop, type LoopTimers } from './polling-loop.js';

export const DAY_MS = 86_400_000;
/** RETENTION_DAYS when unset. */
export const DEFAULT_RETENTION_DAYS = 30;
/**
 * The least RETENTION_DAYS: WhatsApp's Cloud API retries an unacknowledged webhook for up to
 * 7 days (https://developers.facebook.com/docs/graph-api/webhooks/getting-started#event-notifications),
 * and a message delivered again after its stored answer is gone is processed as a new one.
 */
export const MIN_RETENTION_DAYS = 7;
export const MAX_RETENTION_DAYS = 3650;
export const DEFAULT_RETENTION_INTERVAL_MS = 60_000;
/** Rows of each kind deleted in one transaction: short enough that inbound messages wait little for the write lock. */
export const DEFAULT_RETENTION_BATCH = 500;
/** Transactions in one pass; a pass that ends with more to delete is followed by the next one soon after. */
const MAX_BATCHES_PER_PASS = 20;
const BACKLOG_GAP_MS = 1000;

const METRIC_NAME = 'consentry_retention_deleted_total';

/**
 * The connectors' tables retention also reaches, each through its own port: the field that counts
 * it in a pass and in the log line, and its `kind` in consentry_retention_deleted_total.
 */
export const SWEEP_KINDS = { slackAlerts: 'slack_alerts', hubspotCallbacks: 'hubspot_callbacks' } as const;
export type SweepName = keyof typeof SWEEP_KINDS;

/** Which of a connector's rows have expired: finished ones last changed before `before`, at most `limit` of them. */
export interface SweepQuery {
  /** A canonical ISO timestamp (Date.toISOString()). */
  before: string;
  limit: number;
}

/**
 * A connector table retention deletes from, besides the store's own: its port deletes, in one
 * transaction, at most `limit` of its finished rows last changed before `before`, oldest first,
 * and never one that something still waits on; it answers how many it deleted.
 */
export interface RetentionSweep {
  name: SweepName;
  prune(query: SweepQuery): Promise<number>;
}

const CursorSchema = z.number().int().nonnegative();

/** The workers' logger, and info for what a pass deleted. */
export interface RetentionLogger extends WorkerLogger {
  info(details: object, message: string): void;
}

const silentRetentionLogger: RetentionLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export interface RetentionPrunerOptions {
  store: Store;
  clock: Clock;
  /** How many days stored answers, events, deliveries, finished workflow runs and the sweeps' finished rows are kept (RETENTION_DAYS). */
  retentionDays?: number;
  /**
   * The meta keys of the outbox readers' cursors (the position each has read up to): an event a
   * reader has not read yet is kept however old it is. A key without a position counts as 0.
   */
  cursorKeys: readonly string[];
  /** The connectors' tables to delete expired rows from too, with the same retention and batch size. */
  sweeps?: readonly RetentionSweep[];
  /** How long to sleep between passes when nothing was left to delete. */
  intervalMs?: number;
  batchSize?: number;
  logger?: RetentionLogger;
  metricsRegistry?: Registry;
  timers?: LoopTimers;
}

/** What one pass deleted (a sweep's count only when the pruner has that sweep), and whether it stopped with expired rows left. */
export interface RetentionPass extends PrunedRows, Partial<Record<SweepName, number>> {
  more: boolean;
}

/**
 * Deletes what Consentry keeps only for a while (GDPR Art. 5(1)(e), storage limitation): the stored
 * answers to inbound messages (they quote the replies sent, with the contact's name), the outbox
 * events (message.outbound holds the message's text) with their deliveries, and finished workflow
 * runs (their answers), once older than the retention; and, through the connectors' ports
 * (`sweeps`), the rows they keep of what is over, which name contacts too (closed Slack alerts).
 * The consent ledger and contacts are never deleted here: the ledger is the proof of consent, and
 * erasure is DELETE /v1/contacts/{id}.
 */
export class RetentionPruner {
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly retentionMs: number;
  private readonly cursorKeys: readonly string[];
  private readonly sweeps: readonly RetentionSweep[];
  private readonly batchSize: number;
  private readonly intervalMs: number;
  private readonly logger: RetentionLogger;
  private readonly deleted: Counter<'kind'> | null;
  private readonly loop: PollingLoop;
  private backlog = false;

  constructor(options: RetentionPrunerOptions) {
    const days = options.retentionDays ?? DEFAULT_RETENTION_DAYS;
    if (!Number.isInteger(days) || days < MIN_RETENTION_DAYS || days > MAX_RETENTION_DAYS) {
      throw new RangeError(`retentionDays must be a whole number of days from ${MIN_RETENTION_DAYS} to ${MAX_RETENTION_DAYS}, got ${String(days)}`);
    }
    this.store = options.store;
    this.clock = options.clock;
    this.retentionMs = days * DAY_MS;
    this.cursorKeys = options.cursorKeys;
    this.sweeps = options.sweeps ?? [];
    this.batchSize = Math.max(1, options.batchSize ?? DEFAULT_RETENTION_BATCH);
    this.intervalMs = Math.max(1, options.intervalMs ?? DEFAULT_RETENTION_INTERVAL_MS);
    this.logger = options.logger ?? silentRetentionLogger;
    const registry = options.metricsRegistry;
    this.deleted = registry
      ? (reuse(registry, METRIC_NAME, Counter) ??
        new Counter({
          name: METRIC_NAME,
          help: `Rows deleted because they were older than RETENTION_DAYS, by kind (stored_answers, events, deliveries, workflow_runs, ${Object.values(SWEEP_KINDS).join(', ')})`,
          labelNames: ['kind'],
          registers: [registry],
        }))
      : null;
    this.loop = new PollingLoop({
      pass: () => this.runOnce(),
      idleMs: () => (this.backlog ? BACKLOG_GAP_MS : this.intervalMs),
      onError: (error) => this.logger.error({ err: error }, 'retention pass failed'),
      ...(options.timers ? { timers: options.timers } : {}),
    });
  }

  /** Deletes, in transactions of at most `batchSize` rows of each kind, what expired by `now`. */
  async runOnce(now: Date = this.clock.now()): Promise<RetentionPass> {
    const before = new Date(now.getTime() - this.retentionMs).toISOString();
    const total: RetentionPass = { processedMessages: 0, events: 0, deliveries: 0, runs: 0, more: false };
    for (const sweep of this.sweeps) total[sweep.name] = 0;
    let storeLeft = true;
    let sweepsLeft = this.sweeps;
    for (let batch = 0; batch < MAX_BATCHES_PER_PASS && (storeLeft || sweepsLeft.length > 0); batch += 1) {
      if (storeLeft) {
        const pruned = await this.store.transaction(async (tx) => {
          const deleted = await tx.pruneExpired({ before, eventsThrough: await this.eventsRead(tx), limit: this.batchSize });
          // Page cursors naming a deleted row read as the end of their list from now on (mayHaveExpired).
          if (deleted.processedMessages + deleted.events + deleted.runs > 0) await tx.setMeta(RETENTION_MARK_KEY, before);
          return deleted;
        });
        total.processedMessages += pruned.processedMessages;
        total.events += pruned.events;
        total.deliveries += pruned.deliveries;
        total.runs += pruned.runs;
        this.count(pruned);
        storeLeft = Math.max(pruned.processedMessages, pruned.events, pruned.runs) >= this.batchSize;
      }
      const full: RetentionSweep[] = [];
      for (const sweep of sweepsLeft) {
        let deleted: number;
        try {
          deleted = await sweep.prune({ before, limit: this.batchSize });
        } catch (error) {
          // A connector's table that cannot be pruned holds back neither the store's rows nor another connector's: it is tried again next pass.
          this.logger.error({ err: error, kind: SWEEP_KINDS[sweep.name] }, 'retention could not delete expired rows of a connector');
          continue;
        }
        total[sweep.name] = (total[sweep.name] ?? 0) + deleted;
        if (deleted > 0) this.deleted?.inc({ kind: SWEEP_KINDS[sweep.name] }, deleted);
        if (deleted >= this.batchSize) full.push(sweep);
      }
      sweepsLeft = full;
    }
    total.more = storeLeft || sweepsLeft.length > 0;
    this.backlog = total.more;
    const { more, ...deleted } = total;
    if (Object.values(deleted).some((count) => count > 0)) {
      this.logger.info({ ...deleted, before, more }, 'retention deleted expired rows');
    }
    return total;
  }

  start(): void {
    this.loop.start();
  }

  /** Resolves once the pass in progress, if any, has finished. */
  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** The lowest position every outbox reader has read up to. */
  private async eventsRead(tx: StoreTx): Promise<number> {
    let through = Number.MAX_SAFE_INTEGER;
    for (const key of this.cursorKeys) {
      const stored = CursorSchema.safeParse(await tx.getMeta(key));
      // A reader that has not started, or whose cursor is not a position (it stops and says so), keeps every event.
      through = Math.min(through, stored.success ? stored.data : 0);
    }
    return through;
  }

  private count(pruned: PrunedRows): void {
    if (this.deleted === null) return;
    if (pruned.processedMessages > 0) this.deleted.inc({ kind: 'stored_answers' }, pruned.processedMessages);
    if (pruned.events > 0) this.deleted.inc({ kind: 'events' }, pruned.events);
    if (pruned.deliveries > 0) this.deleted.inc({ kind: 'deliveries' }, pruned.deliveries);
    if (pruned.runs > 0) this.deleted.inc({ kind: 'workflow_runs' }, pruned.runs);
  }
}

import { z } from 'zod';
import type { Registry } from 'prom-client';
import type { ConsentryEvent } from '../core/events.js';
import type { Workspace } from '../core/settings.js';
import type { Clock } from '../ports/clock.js';
import type { IdGenerator } from '../ports/ids.js';
import { ulidGenerator } from '../ports/ids.js';
import { NOT_SENT_TO_ERASED_CONTACT, type DeliveryRow, type HookRow, type Store, type StoreTx, type StoredEvent } from '../ports/store.js';
import { DEFAULT_BACKOFF, parseRetryAfterMs, type BackoffPolicy } from './backoff.js';
import { DeliveryMetrics, type BacklogReading } from './delivery-metrics.js';
import { hookMatchesEvent } from './hook-matching.js';
import { isReplyToErasedContact, notSentToDeletedHook, OUTBOUND_HOOK_PREFIX, outboundHookId } from './hooks.js';
import { ensureOutboundWebhookSecret, signingSecretsOf } from './signing-secrets.js';
import { createHttpSender, type DeliveryResponse, type DeliverySender } from './http-sender.js';
import { signDelivery } from './signature.js';
import { WEBHOOK_USER_AGENT } from './version.js';
import type { WorkerLogger } from './logger.js';
import { silentLogger } from './logger.js';
import { nodeTimers, PollingLoop, type LoopTimers } from './polling-loop.js';
import { DEFAULT_RETRY_WINDOW, describeDuration, nextAttempt, type RetryWindowPolicy } from './retry-window.js';

/** Where fan-out has read the outbox up to, kept in the store's meta table. */
export const HOOKS_CURSOR_KEY = 'outbox.hooks.position';

export interface HookDispatcherOptions {
  store: Store;
  clock: Clock;
  ids?: IdGenerator;
  sender?: DeliverySender;
  /**
   * For the sender the dispatcher builds when none is given: also deliver to private-use and
   * loopback addresses (HOOK_TARGETS_ALLOW_PRIVATE), never to link-local ones. Default false.
   */
  allowPrivateTargets?: boolean;
  logger?: WorkerLogger;
  /** In [0, 1); the jitter source (tests pass a fixed one). */
  random?: () => number;
  /**
   * How long after its event (or after a dead letter was sent again) a delivery is retried
   * (default 3 days, DEFAULT_RETRY_WINDOW_MS): the last attempt is made then, and a failure after
   * it dead-letters the delivery.
   */
  retryWindowMs?: number;
  /** Also dead-letter after this many attempts, the first included (default: only the window ends retries). */
  maxAttempts?: number;
  backoff?: BackoffPolicy;
  /** The longest Retry-After honoured (default: the backoff cap); a longer one is shortened to it. */
  maxRetryAfterMs?: number;
  requestTimeoutMs?: number;
  /** Requests in flight at once, all hooks together (never two of one hook and contact). */
  concurrency?: number;
  /**
   * Requests in flight at once to one workspace's targets, its hooks and its outbound webhook
   * together (default 16, DEFAULT_PER_WORKSPACE_CONCURRENCY; at most `concurrency`), well below
   * `concurrency`: a workspace whose receivers answer slowly or never, however many hooks it
   * has, holds only its own share, and every other workspace's deliveries go out beside it.
   */
  perWorkspaceConcurrency?: number;
  /**
   * Requests in flight at once to one hook (or one workspace's outbound webhook), at most
   * `perWorkspaceConcurrency`, so a target that answers slowly or never holds only its own
   * share of its workspace's.
   */
  perHookConcurrency?: number;
  /**
   * How long `stop()` goes on sending after the loop stops (default 5 s): due deliveries are
   * sent and answers awaited until then, and requests still unanswered are cancelled.
   */
  stopGraceMs?: number;
  /** The loop's and the stop deadline's timers (tests move their own). */
  timers?: LoopTimers;
  /** Events read from the outbox per fan-out transaction. */
  batchSize?: number;
  /** How often the loop looks for new events and due retries when nothing wakes it. */
  intervalMs?: number;
  /** The shortest time between two passes when answers keep waking the loop. */
  minPassGapMs?: number;
  /** Registers the delivery metrics there when given. */
  metricsRegistry?: Registry;
  userAgent?: string;
}

export interface FanOutResult {
  events: number;
  deliveries: number;
}

export type AttemptOutcome = 'delivered' | 'retry' | 'dead' | 'gone';

export interface DispatchSummary extends FanOutResult {
  attempted: number;
  delivered: number;
  retried: number;
  dead: number;
  gone: number;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_CONCURRENCY = 64;
/** A quarter of DEFAULT_CONCURRENCY: four stuck workspaces leave nothing, so no fewer can. */
export const DEFAULT_PER_WORKSPACE_CONCURRENCY = 16;
export const DEFAULT_PER_HOOK_CONCURRENCY = 8;
/** Under a container's usual stop timeout (10 s) with room for the HTTP server's own drain. */
export const DEFAULT_STOP_GRACE_MS = 5000;
const DEFAULT_BATCH_SIZE = 500;
const DEFAULT_INTERVAL_MS = 25;
const DEFAULT_MIN_PASS_GAP_MS = 2;
/** Fan-out batches per pass, so a long backlog does not hold up deliveries. */
const MAX_BATCHES_PER_PASS = 20;
/**
 * Reads of ready deliveries per pass at most: a read whose hooks gave fewer requests than it
 * could (their workspaces filled up) is followed by one past them, and each read walks the hooks
 * already visited again, so their number stays small.
 */
const MAX_READY_READS_PER_PASS = 8;

const CursorSchema = z.number().int().nonnegative();

/** The public event JSON, exactly as hooks receive it (README, Webhooks): no store position. */
export function eventPayload(event: ConsentryEvent): ConsentryEvent {
  return {
    id: event.id,
    type: event.type,
    version: event.version,
    workspaceId: event.workspaceId,
    occurredAt: event.occurredAt,
    contactId: event.contactId,
    data: event.data,
  };
}

interface SendJob {
  delivery: DeliveryRow;
  event: StoredEvent;
  targetUrl: string;
  /** The target's secret, then its previous one while a rotation's overlap lasts. */
  secrets: string[];
  kind: 'hook' | 'outbound';
}

interface Outcome {
  status: DeliveryRow['status'];
  kind: AttemptOutcome;
  lastStatusCode: number | null;
  lastError: string | null;
  nextAttemptAt: string;
}

/**
 * An attempt waiting to be written by the next pass. `outcome` is null for an attempt cancelled
 * by the stop deadline before any answer: nothing is written, the row keeps its schedule and
 * the delivery is sent again after the restart.
 */
interface Completed {
  job: SendJob;
  outcome: Outcome | null;
  attempts: number;
  at: Date;
}

interface InFlightAttempt {
  answered: Promise<void>;
  cancel: AbortController;
}

/**
 * Drains the transactional outbox (DESIGN §1) to webhook subscribers and to each workspace's
 * outbound webhook, at least once, with the event's stable id.
 *
 * Fan-out turns events into delivery rows and advances its cursor in the same transaction, so
 * an event the engine committed is either not yet fanned out or has all its rows: a restart
 * loses nothing and creates nothing twice. Delivery then sends each row, and the row (state
 * in the store, not in memory) decides retries, so a restart resumes where it stopped.
 *
 * One pass is one transaction: it writes the outcomes of the attempts answered since the last
 * pass, fans out new events and picks the next deliveries. A delivery stays "in flight" (its
 * contact's sequence busy) until its outcome is written, so it is never picked twice; an
 * outcome lost in a crash before it was written only means the delivery is sent again.
 *
 * Requests are shared out by workspace first, then by hook within a workspace: a workspace has
 * at most `perWorkspaceConcurrency` in flight and each of its hooks at most `perHookConcurrency`.
 * A pass takes one ready delivery of each workspace before a second of any (workspaces in turn,
 * starting after the one it served last), and a workspace's own turns go to its hooks in turn,
 * one delivery of each before a second of any. A workspace with many hooks, long backlogs or
 * receivers that never answer so holds only its own share of requests, a hook only its share of
 * that, and the requests left go to the other workspaces: a pass reads past the hooks of a
 * workspace at its bound, so another workspace's ready delivery goes out on the next pass.
 */
export class HookDispatcher {
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly ids: IdGenerator;
  private readonly sender: DeliverySender;
  private readonly ownsSender: boolean;
  private readonly logger: WorkerLogger;
  private readonly random: () => number;
  private readonly retry: RetryWindowPolicy;
  private readonly maxAttempts: number;
  private readonly requestTimeoutMs: number;
  private readonly concurrency: number;
  private readonly perWorkspaceConcurrency: number;
  private readonly perHookConcurrency: number;
  private readonly stopGraceMs: number;
  private readonly timers: LoopTimers;
  private readonly batchSize: number;
  private readonly intervalMs: number;
  private readonly minPassGapMs: number;
  private readonly userAgent: string;
  private readonly metrics: DeliveryMetrics | null;

  /** Deliveries sent and not yet written back, by id. */
  private readonly inFlight = new Map<string, InFlightAttempt>();
  private readonly busySequences = new Set<string>();
  private completed: Completed[] = [];
  /** Requests sent and not answered yet (the concurrency bounds), in all, per workspace and per hook. */
  private sending = 0;
  private readonly sendingByWorkspace = new Map<string, number>();
  private readonly sendingByHook = new Map<string, number>();
  /** The hook furthest in the store's visiting order that the last pass served: the next read starts after it. */
  private roundRobinAfter: string | undefined;
  /** The workspace the last pass served last: the next pass's turns start after it. */
  private workspaceTurnAfter: string | undefined;
  /** Per workspace, the hook it served last: its next turns start after it. */
  private readonly hookTurnAfter = new Map<string, string>();
  /** While `stop()` drains: called when an attempt is answered. */
  private onAnswer: (() => void) | null = null;
  private stopping: Promise<void> | null = null;
  private passes: Promise<unknown> = Promise.resolve();
  /** Whether this process may start sending now; given by the worker lease (sendOnlyWhile), always true without one. */
  private holdsLease: () => boolean = () => true;
  /** Set by stopWithoutDraining: another process sends the deliveries now, so no pass picks any until start(). */
  private relinquished = false;
  /**
   * Waits `intervalMs` between passes when idle, less when an answer wakes it. A wake still
   * waits for `minPassGapMs` after the last pass began, so answers arriving close together are
   * written by one pass (one transaction), not one each.
   */
  private readonly loop: PollingLoop;

  constructor(options: HookDispatcherOptions) {
    this.store = options.store;
    this.clock = options.clock;
    this.ids = options.ids ?? ulidGenerator();
    this.ownsSender = options.sender === undefined;
    this.sender = options.sender ?? createHttpSender({ allowPrivateTargets: options.allowPrivateTargets ?? false });
    this.logger = options.logger ?? silentLogger;
    this.random = options.random ?? Math.random;
    const backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.retry = {
      backoff,
      windowMs: Math.max(0, options.retryWindowMs ?? DEFAULT_RETRY_WINDOW.windowMs),
      maxRetryAfterMs: Math.max(0, options.maxRetryAfterMs ?? backoff.capMs),
    };
    this.maxAttempts = options.maxAttempts === undefined ? Infinity : Math.max(1, options.maxAttempts);
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.concurrency = Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY);
    this.perWorkspaceConcurrency = Math.max(1, Math.min(this.concurrency, options.perWorkspaceConcurrency ?? DEFAULT_PER_WORKSPACE_CONCURRENCY));
    this.perHookConcurrency = Math.max(1, Math.min(this.perWorkspaceConcurrency, options.perHookConcurrency ?? DEFAULT_PER_HOOK_CONCURRENCY));
    this.stopGraceMs = Math.max(0, options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS);
    this.timers = options.timers ?? nodeTimers;
    this.batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE);
    this.intervalMs = Math.max(1, options.intervalMs ?? DEFAULT_INTERVAL_MS);
    this.minPassGapMs = Math.max(0, options.minPassGapMs ?? DEFAULT_MIN_PASS_GAP_MS);
    this.userAgent = options.userAgent ?? WEBHOOK_USER_AGENT;
    this.metrics = options.metricsRegistry ? new DeliveryMetrics(options.metricsRegistry, () => this.readBacklog()) : null;
    this.loop = new PollingLoop({
      pass: () => this.serialised(() => this.pass(this.clock.now(), null)),
      idleMs: this.intervalMs,
      minWakeGapMs: this.minPassGapMs,
      onError: (error) => this.logger.error({ err: error }, 'hook dispatcher pass failed'),
      timers: this.timers,
    });
  }

  /** Reads new outbox events and creates their delivery rows, advancing the cursor with them. */
  fanOut(): Promise<FanOutResult> {
    return this.serialised(() => this.fanOutBacklog({ events: 0, deliveries: 0 }));
  }

  /**
   * One pass at `now`, then waits for the attempts it started and writes their outcomes. Tests
   * drive the dispatcher with it on a fake clock.
   */
  async runOnce(now: Date = this.clock.now()): Promise<DispatchSummary> {
    const summary: DispatchSummary = { events: 0, deliveries: 0, attempted: 0, delivered: 0, retried: 0, dead: 0, gone: 0 };
    const started = await this.serialised(() => this.pass(now, summary));
    await Promise.all(started);
    await this.serialised(() => this.flush(summary));
    return summary;
  }

  /** `runOnce()` at the clock's time. */
  tick(): Promise<DispatchSummary> {
    return this.runOnce();
  }

  /**
   * Loops on real timers until `stop()`; an answered attempt wakes it at once, so a contact's next
   * event follows. A dispatcher stopped before (its process lost the worker lease, then took it
   * back) starts afresh: its next `stop()` stops this run, not the one before.
   */
  start(): void {
    this.stopping = null;
    this.relinquished = false;
    this.loop.start();
  }

  /**
   * Every pass asks `holdsLease` before it fans out or picks a delivery, again before each
   * further fan-out transaction, and again right before each send it starts; once it answers
   * false, the pass only writes the answers it has, and what it picked stays pending. The
   * worker lease (worker-lease.ts) answers whether the lease this process wrote has not run out
   * by its clock: a process that stood still past its lease (a paused VM or container, a starved
   * event loop) resumes with this loop's timer due before its renewal, and its first pass would
   * otherwise send, beside the lease's new holder, what that holder is sending.
   */
  sendOnlyWhile(holdsLease: () => boolean): void {
    this.holdsLease = holdsLease;
  }

  /**
   * Stops looking for work on a timer. When the loop was running, it then drains for at most
   * `stopGraceMs`: it fans out what the outbox holds, sends the deliveries that are due, and
   * waits for answers, passing again after each (a contact's next event follows); at the
   * deadline it cancels the requests still unanswered. Answers are written; a cancelled or
   * unsent delivery stays pending in the store and goes out after the restart. The drain sends
   * only while `sendOnlyWhile`'s check allows it (the lease runs out during a drain, or the
   * lease was lost: it only waits for answers). A dispatcher driven by `runOnce()` only waits for
   * its attempts. Calling it again returns the same promise.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutDown({ drain: true });
    return this.stopping;
  }

  /**
   * Stops as `stop()` does, without its drain, for a process that lost the worker lease: the
   * new holder sends the deliveries now, and any this process sent too would reach their
   * targets twice (DESIGN §1: nothing is sent twice on purpose). No pass picks or sends a
   * delivery from this call on, a drain of `stop()` in progress included, nor one a pass in
   * progress picked before it (it stays pending in the store); the requests already on the wire are
   * awaited (each ends by its request timeout) and their answers written, so that the holder
   * does not send again a delivery answered here.
   */
  stopWithoutDraining(): Promise<void> {
    this.relinquished = true;
    this.stopping ??= this.shutDown({ drain: false });
    return this.stopping;
  }

  private async shutDown(options: { drain: boolean }): Promise<void> {
    const wasRunning = this.loop.running;
    await this.loop.stop();
    await this.passes;
    if (wasRunning && options.drain) await this.drain();
    else await Promise.allSettled([...this.inFlight.values()].map((attempt) => attempt.answered));
    await this.serialised(() => this.flush(null)).catch((error: unknown) => {
      this.logger.error({ err: error }, 'could not record hook delivery outcomes on stop');
    });
    if (this.ownsSender) this.sender.close();
  }

  private async drain(): Promise<void> {
    let timeUp = this.stopGraceMs === 0;
    let wake = (): void => undefined;
    const cancelDeadline = this.timers.after(this.stopGraceMs, () => {
      timeUp = true;
      wake();
    });
    this.onAnswer = () => wake();
    try {
      while (!timeUp) {
        try {
          await this.serialised(() => this.pass(this.clock.now(), null));
        } catch (error) {
          this.logger.error({ err: error }, 'hook dispatcher pass failed while stopping');
          break;
        }
        // Nothing on the wire and nothing to write: nothing else is due.
        if (this.sending === 0 && this.completed.length === 0) break;
        await new Promise<void>((resolve) => {
          wake = resolve;
          if (timeUp || this.completed.length > 0) resolve();
        });
      }
    } finally {
      cancelDeadline();
      this.onAnswer = null;
    }
    for (const attempt of this.inFlight.values()) attempt.cancel.abort();
  }

  /** Deliveries sent whose outcome is not written yet. */
  /** Whether the loop started by `start()` is running (it is not once `stop()` has resolved). */
  get running(): boolean {
    return this.loop.running;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  private async readBacklog(): Promise<BacklogReading> {
    const backlog = await this.store.read((tx) => tx.deliveryBacklog());
    const oldest = backlog.oldestPendingOccurredAt === null ? null : Date.parse(backlog.oldestPendingOccurredAt);
    const ageMs = oldest === null ? 0 : Math.max(0, this.clock.now().getTime() - oldest);
    return {
      pending: backlog.pending,
      dead: backlog.dead,
      unsubscribed: backlog.unsubscribed,
      erased: backlog.erased,
      oldestPendingAgeSeconds: ageMs / 1000,
    };
  }

  /** Passes never overlap: a delivery is picked by one pass only. */
  private serialised<T>(work: () => Promise<T>): Promise<T> {
    const next = this.passes.then(work);
    this.passes = next.catch(() => undefined);
    return next;
  }

  /** Writes answered attempts, fans out, picks ready deliveries (one transaction), then starts sending them. */
  private async pass(now: Date, summary: DispatchSummary | null): Promise<Promise<void>[]> {
    const answered = this.takeCompleted();
    const sends = this.maySend();
    // Nothing to write and nothing it may send: no write transaction at every tick.
    if (!sends && answered.length === 0) return [];
    let result: { fanned: FanOutResult; jobs: SendJob[] };
    try {
      result = await this.store.transaction(async (tx) => {
        for (const entry of answered) await this.record(tx, entry);
        if (!sends) return { fanned: { events: 0, deliveries: 0 }, jobs: [] };
        const fanned = await this.fanOutBatch(tx);
        const jobs = await this.pickReady(tx, now, answered);
        return { fanned, jobs };
      });
    } finally {
      this.settle(answered);
    }
    this.account(answered, summary);
    const fanned =
      result.fanned.events < this.batchSize ? result.fanned : await this.fanOutBacklog(result.fanned, () => this.maySend());
    if (summary) {
      summary.events += fanned.events;
      summary.deliveries += fanned.deliveries;
    }
    // Asked again right before each send, after every transaction of the pass: the lease may
    // have run out, or been lost (stopWithoutDraining), while one of them waited for the store's
    // write lock, which the lease's new holder is likely to hold. Picking claims nothing: a
    // delivery is marked in flight only by `launch`, and its row is untouched until an answer is
    // written, so what is not sent here stays pending, as it was, for the holder to send.
    const started: Promise<void>[] = [];
    for (const job of result.jobs) {
      if (!this.maySend()) break;
      started.push(this.launch(job));
    }
    return started;
  }

  private maySend(): boolean {
    return !this.relinquished && this.holdsLease();
  }

  /** Writes every answered attempt. */
  private async flush(summary: DispatchSummary | null): Promise<void> {
    const answered = this.takeCompleted();
    if (answered.length === 0) return;
    try {
      await this.store.transaction(async (tx) => {
        for (const entry of answered) await this.record(tx, entry);
      });
    } finally {
      this.settle(answered);
    }
    this.account(answered, summary);
  }

  private takeCompleted(): Completed[] {
    const answered = this.completed;
    this.completed = [];
    return answered;
  }

  /**
   * Frees the sequences of written attempts. When the write failed they are freed too: their
   * rows are still pending with the old schedule, so a later pass sends them again.
   */
  private settle(answered: readonly Completed[]): void {
    for (const entry of answered) {
      this.inFlight.delete(entry.job.delivery.id);
      this.busySequences.delete(sequenceKey(entry.job.delivery));
    }
  }

  private account(answered: readonly Completed[], summary: DispatchSummary | null): void {
    for (const { job, outcome, attempts, at } of answered) {
      if (!outcome) continue;
      if (summary) {
        summary.attempted += 1;
        if (outcome.kind === 'delivered') summary.delivered += 1;
        else if (outcome.kind === 'retry') summary.retried += 1;
        else if (outcome.kind === 'dead') summary.dead += 1;
        else if (outcome.kind === 'gone') summary.gone += 1;
      }
      if (outcome.kind === 'delivered') this.metrics?.observeDelivered(job.kind, at.getTime() - Date.parse(job.event.occurredAt));
      this.metrics?.countAttempt(outcome.kind);
      if (outcome.kind === 'dead') {
        this.logger.warn(
          { deliveryId: job.delivery.id, hookId: job.delivery.hookId, eventId: job.event.id, attempts, lastError: outcome.lastError },
          'hook delivery dead-lettered',
        );
      }
    }
  }

  /** Fans out batch after batch while `goOn` allows, up to MAX_BATCHES_PER_PASS. */
  private async fanOutBacklog(initial: FanOutResult, goOn: () => boolean = () => true): Promise<FanOutResult> {
    const total = { ...initial };
    for (let batch = 0; batch < MAX_BATCHES_PER_PASS && goOn(); batch += 1) {
      const result = await this.store.transaction((tx) => this.fanOutBatch(tx));
      total.events += result.events;
      total.deliveries += result.deliveries;
      if (result.events < this.batchSize) break;
    }
    return total;
  }

  private async fanOutBatch(tx: StoreTx): Promise<FanOutResult> {
    const stored = await tx.getMeta(HOOKS_CURSOR_KEY);
    const cursor = stored === undefined || stored === null ? 0 : CursorSchema.safeParse(stored);
    if (typeof cursor !== 'number' && !cursor.success) {
      // Restarting from 0 would send every past event again; stop and say why instead.
      throw new Error(`The hook dispatcher's cursor (${HOOKS_CURSOR_KEY}) is not a position: ${JSON.stringify(stored)}`);
    }
    const position = typeof cursor === 'number' ? cursor : cursor.data;
    const events = await tx.listEventsAfter(position, this.batchSize);
    const last = events.at(-1);
    if (!last) return { events: 0, deliveries: 0 };

    const now = this.clock.now();
    const nowIso = now.toISOString();
    const hooksByWorkspace = new Map<string, HookRow[]>();
    for (const hook of await tx.listAllLiveHooks()) {
      const list = hooksByWorkspace.get(hook.workspaceId) ?? [];
      list.push(hook);
      hooksByWorkspace.set(hook.workspaceId, list);
    }
    const workspaces = new Map<string, Workspace | undefined>();
    let deliveries = 0;
    const create = async (event: StoredEvent, hookId: string): Promise<void> => {
      await tx.insertDelivery({
        id: this.ids.next(now),
        workspaceId: event.workspaceId,
        hookId,
        eventId: event.id,
        eventPosition: event.position,
        contactId: event.contactId,
        status: 'pending',
        attempts: 0,
        nextAttemptAt: nowIso,
        lastError: null,
        lastStatusCode: null,
        deliveredAt: null,
        updatedAt: nowIso,
        resentAt: null,
      });
      deliveries += 1;
    };

    for (const event of events) {
      for (const hook of hooksByWorkspace.get(event.workspaceId) ?? []) {
        // A subscription hears what happens after it was made, not a backlog from before.
        if (hook.createdAt > event.occurredAt) continue;
        if (hookMatchesEvent(hook, event)) await create(event, hook.id);
      }
      if (event.type === 'message.outbound') {
        if (!workspaces.has(event.workspaceId)) workspaces.set(event.workspaceId, await tx.getWorkspace(event.workspaceId));
        if (workspaces.get(event.workspaceId)?.settings.outboundWebhookUrl) await create(event, outboundHookId(event.workspaceId));
      }
    }
    await tx.setMeta(HOOKS_CURSOR_KEY, last.position);
    return { events: events.length, deliveries };
  }

  /**
   * Ready deliveries up to the free concurrency, shared out by workspace, then by hook (see the
   * class comment). The store lists them hook by hook (hooks visited after the one served
   * furthest last time); hooks at their own bound, and every hook of a workspace at its bound, are
   * not read at all. When the hooks read gave fewer deliveries than there are free requests
   * (their workspaces reached their bound on the way), the hooks after them are read too, so a
   * workspace far down the store's order still gets its turn in this pass. Deliveries in flight
   * are skipped; the attempts written in this same transaction (`settling`) no longer count as
   * in flight, so the next event of their contact can go in this pass.
   */
  private async pickReady(tx: StoreTx, now: Date, settling: readonly Completed[]): Promise<SendJob[]> {
    // The bound is on requests on the wire; answered attempts wait for their write without holding a slot.
    const capacity = this.concurrency - this.sending;
    if (capacity <= 0) return [];
    const settlingIds = new Set(settling.map((entry) => entry.job.delivery.id));
    const settlingKeys = new Set(settling.map((entry) => sequenceKey(entry.job.delivery)));
    const pickedPerHook = new Map<string, number>();
    const pickedPerWorkspace = new Map<string, number>();
    const hookFull = (hookId: string): boolean =>
      (this.sendingByHook.get(hookId) ?? 0) + (pickedPerHook.get(hookId) ?? 0) >= this.perHookConcurrency;
    const workspaceFull = (workspaceId: string): boolean =>
      (this.sendingByWorkspace.get(workspaceId) ?? 0) + (pickedPerWorkspace.get(workspaceId) ?? 0) >= this.perWorkspaceConcurrency;

    const skip = new Set<string>();
    for (const hookId of this.sendingByHook.keys()) if (hookFull(hookId)) skip.add(hookId);
    const skippedWorkspaces = new Set<string>();
    const skipWorkspace = async (workspaceId: string): Promise<void> => {
      if (skippedWorkspaces.has(workspaceId)) return;
      skippedWorkspaces.add(workspaceId);
      skip.add(outboundHookId(workspaceId));
      for (const hook of await tx.listHooks(workspaceId)) skip.add(hook.id);
    };
    for (const workspaceId of this.sendingByWorkspace.keys()) if (workspaceFull(workspaceId)) await skipWorkspace(workspaceId);

    const picked: SendJob[] = [];
    const pickedSequences = new Set<string>();
    let furthestServed: string | undefined;
    for (let read = 0; read < MAX_READY_READS_PER_PASS && picked.length < capacity; read += 1) {
      // A hook with requests in flight lists those rows too (still pending, still heads of their
      // sequences), and its group may hold nothing else: read enough hooks to fill every slot anyway.
      let partlyBusy = 0;
      for (const hookId of this.sendingByHook.keys()) if (!skip.has(hookId)) partlyBusy += 1;
      const wanted = capacity - picked.length + partlyBusy;
      const groups = await tx.listReadyDeliveriesByHook(now.toISOString(), {
        perHook: this.perHookConcurrency,
        hooks: wanted,
        skipHookIds: [...skip],
        ...(this.roundRobinAfter === undefined ? {} : { afterHookId: this.roundRobinAfter }),
      });
      const servedHooks = new Set<string>();
      for (const turn of this.turnsOf(groups)) {
        if (picked.length >= capacity) break;
        const { delivery } = turn;
        if (workspaceFull(delivery.workspaceId) || hookFull(delivery.hookId)) continue;
        const key = sequenceKey(delivery);
        const inFlight = this.inFlight.has(delivery.id) && !settlingIds.has(delivery.id);
        const busy = this.busySequences.has(key) && !settlingKeys.has(key);
        if (inFlight || busy || pickedSequences.has(key)) continue;
        const job = await this.prepare(tx, delivery, now);
        if (!job) continue;
        turn.taken();
        picked.push(job);
        pickedSequences.add(key);
        pickedPerHook.set(delivery.hookId, (pickedPerHook.get(delivery.hookId) ?? 0) + 1);
        pickedPerWorkspace.set(delivery.workspaceId, (pickedPerWorkspace.get(delivery.workspaceId) ?? 0) + 1);
        servedHooks.add(delivery.hookId);
        this.workspaceTurnAfter = delivery.workspaceId;
        this.hookTurnAfter.set(delivery.workspaceId, delivery.hookId);
      }
      // Groups come in the store's visiting order, and a later read's after an earlier one's.
      const served = groups.filter((group) => group[0] && servedHooks.has(group[0].hookId)).at(-1)?.[0]?.hookId;
      if (served !== undefined) furthestServed = served;
      // Fewer groups than asked for: no hook with ready deliveries is left to visit.
      if (groups.length < wanted) break;
      for (const group of groups) if (group[0]) skip.add(group[0].hookId);
      for (const workspaceId of pickedPerWorkspace.keys()) if (workspaceFull(workspaceId)) await skipWorkspace(workspaceId);
    }
    if (furthestServed !== undefined) this.roundRobinAfter = furthestServed;
    return picked;
  }

  /**
   * The order in which a read's deliveries are offered: one turn per workspace in a round
   * (workspaces in id order, starting after the one served last), and each workspace's turn
   * offers its next delivery, its hooks taken in turn (in id order, starting after the hook it
   * served last), the first of each before the second of any. A turn whose delivery cannot go
   * (its hook or workspace is at its bound, its contact's sequence is busy) offers the next one;
   * a turn ends once one is `taken()`, and the rounds end when no workspace has any left.
   */
  private *turnsOf(groups: readonly DeliveryRow[][]): Generator<{ delivery: DeliveryRow; taken: () => void }> {
    const groupsByWorkspace = new Map<string, DeliveryRow[][]>();
    for (const group of groups) {
      const workspaceId = group[0]?.workspaceId;
      if (workspaceId === undefined) continue;
      const list = groupsByWorkspace.get(workspaceId) ?? [];
      list.push(group);
      groupsByWorkspace.set(workspaceId, list);
    }
    const queues = inTurn([...groupsByWorkspace.keys()], this.workspaceTurnAfter).map((workspaceId) => {
      const byHook = new Map((groupsByWorkspace.get(workspaceId) ?? []).map((group) => [group[0]?.hookId ?? '', group]));
      const hookOrder = inTurn([...byHook.keys()], this.hookTurnAfter.get(workspaceId));
      const offers: DeliveryRow[] = [];
      for (let rank = 0; rank < this.perHookConcurrency; rank += 1) {
        for (const hookId of hookOrder) {
          const delivery = byHook.get(hookId)?.[rank];
          if (delivery) offers.push(delivery);
        }
      }
      return { offers, next: 0 };
    });
    let offered = true;
    while (offered) {
      offered = false;
      for (const queue of queues) {
        let taken = false;
        while (!taken && queue.next < queue.offers.length) {
          const delivery = queue.offers[queue.next];
          queue.next += 1;
          if (!delivery) continue;
          offered = true;
          yield {
            delivery,
            taken: () => {
              taken = true;
            },
          };
        }
      }
    }
  }

  /** Resolves where a delivery goes; a delivery whose target no longer exists is closed here. */
  private async prepare(tx: StoreTx, delivery: DeliveryRow, now: Date): Promise<SendJob | null> {
    const close = async (reason: string): Promise<null> => {
      await tx.updateDelivery({ ...delivery, status: 'dead', lastError: reason, updatedAt: now.toISOString() });
      return null;
    };
    const event = await tx.getEvent(delivery.workspaceId, delivery.eventId);
    if (!event) return close('event not found');
    if (delivery.hookId.startsWith(OUTBOUND_HOOK_PREFIX)) {
      // A reply is a message to the person (README, outbound webhook: a message to `to`), and
      // erasure redacted its address and text (redactEventData): there is no one to send it to,
      // and erasure ends contact with the person (GDPR Art. 17). Erasure closes the replies
      // pending then itself (eraseContact); this closes one fanned out after it from an event
      // written before it, and one a database kept pending from before erasure closed them.
      if (await isReplyToErasedContact(tx, delivery)) return close(NOT_SENT_TO_ERASED_CONTACT);
      const workspace = await tx.getWorkspace(delivery.workspaceId);
      const targetUrl = workspace?.settings.outboundWebhookUrl;
      if (!targetUrl) return close('outbound webhook removed from the workspace settings');
      const secret = await ensureOutboundWebhookSecret(tx, delivery.workspaceId);
      return { delivery, event, targetUrl, secrets: await signingSecretsOf(tx, delivery.hookId, secret, now), kind: 'outbound' };
    }
    const hook = await tx.getHook(delivery.workspaceId, delivery.hookId);
    if (!hook) return close('not sent: the hook is not in the store');
    if (hook.deletedAt !== null) return close(notSentToDeletedHook(hook.deletedReason));
    return { delivery, event, targetUrl: hook.targetUrl, secrets: await signingSecretsOf(tx, hook.id, hook.secret, now), kind: 'hook' };
  }

  private launch(job: SendJob): Promise<void> {
    const { hookId, workspaceId } = job.delivery;
    this.busySequences.add(sequenceKey(job.delivery));
    this.sending += 1;
    countUp(this.sendingByWorkspace, workspaceId);
    countUp(this.sendingByHook, hookId);
    const cancel = new AbortController();
    const answered = this.attempt(job, cancel.signal).then((entry) => {
      this.sending -= 1;
      countDown(this.sendingByWorkspace, workspaceId);
      countDown(this.sendingByHook, hookId);
      this.completed.push(entry);
      if (this.loop.running) this.loop.wake();
      this.onAnswer?.();
    });
    this.inFlight.set(job.delivery.id, { answered, cancel });
    return answered;
  }

  private async attempt(job: SendJob, signal: AbortSignal): Promise<Completed> {
    const body = JSON.stringify(eventPayload(job.event));
    const { timestamp, signature } = signDelivery(job.secrets, body, this.clock.now());
    let response: DeliveryResponse;
    try {
      response = await this.sender.send({
        url: job.targetUrl,
        body,
        timeoutMs: this.requestTimeoutMs,
        signal,
        headers: {
          'content-type': 'application/json',
          'user-agent': this.userAgent,
          'x-consentry-event-id': job.event.id,
          'x-consentry-event-type': job.event.type,
          'x-consentry-timestamp': String(timestamp),
          'x-consentry-signature': signature,
        },
      });
    } catch (error) {
      response = { kind: 'network_error', code: null, message: error instanceof Error ? error.message : String(error) };
    }
    const at = this.clock.now();
    const attempts = job.delivery.attempts + 1;
    // Cancelled by the stop deadline before an answer: not an attempt the target refused.
    if (signal.aborted && response.kind !== 'response') return { job, outcome: null, attempts: job.delivery.attempts, at };
    return { job, outcome: this.classify(response, attempts, at, job), attempts, at };
  }

  /**
   * 2xx delivered. 410 on a hook: the subscriber is gone (DESIGN §6, Zapier: the Zap is off),
   * delete the hook and stop. 408, 429, 5xx and no answer at all: retry later, honouring
   * `Retry-After`, until the retry window has passed. Any other answer is a permanent refusal,
   * and so is a target whose address is not public: it would be refused again on every retry.
   * A refusal's lastError carries the start of the body the target answered with; a redirect's
   * names its Location instead, since the body of a redirect rarely says where it points.
   */
  private classify(response: DeliveryResponse, attempts: number, at: Date, job: SendJob): Outcome {
    const unchanged = at.toISOString();
    if (response.kind === 'target_not_public') {
      return { status: 'dead', kind: 'dead', lastStatusCode: null, lastError: `target address is not public: ${response.message}; not sent, not retried`, nextAttemptAt: unchanged };
    }
    if (response.kind === 'response') {
      const code = response.statusCode;
      if (code >= 200 && code < 300) return { status: 'delivered', kind: 'delivered', lastStatusCode: code, lastError: null, nextAttemptAt: unchanged };
      if (code === 410 && job.kind === 'hook') {
        return { status: 'dead', kind: 'gone', lastStatusCode: code, lastError: 'HTTP 410 Gone: the subscription was removed', nextAttemptAt: unchanged };
      }
      const answer = response.bodyPrefix === '' ? '' : `: ${response.bodyPrefix}`;
      if (code >= 300 && code < 400 && response.location !== undefined) {
        return { status: 'dead', kind: 'dead', lastStatusCode: code, lastError: redirectRefusal(code, response.location, job.targetUrl), nextAttemptAt: unchanged };
      }
      const retryable = code === 408 || code === 429 || code >= 500;
      if (!retryable) return { status: 'dead', kind: 'dead', lastStatusCode: code, lastError: `HTTP ${code} (refused, not retried)${answer}`, nextAttemptAt: unchanged };
      return this.retryOrDie(job, attempts, at, code, `HTTP ${code}${answer}`, parseRetryAfterMs(response.retryAfter, at));
    }
    const message = response.code ? `${response.code}: ${response.message}` : response.message;
    return this.retryOrDie(job, attempts, at, null, message, null);
  }

  /**
   * The retry window runs from the event's occurrence (see retry-window.ts), or, for a dead letter
   * sent again, from that request: an event older than the window would otherwise be given up on
   * at its first failure, however briefly its receiver was down.
   */
  private retryOrDie(job: SendJob, attempts: number, at: Date, statusCode: number | null, error: string, retryAfterMs: number | null): Outcome {
    const dead = (why: string): Outcome => ({ status: 'dead', kind: 'dead', lastStatusCode: statusCode, lastError: `${error} (${why})`, nextAttemptAt: at.toISOString() });
    if (attempts >= this.maxAttempts) return dead(`gave up after ${attempts} attempts`);
    const resentAt = job.delivery.resentAt;
    const windowStart = new Date(resentAt ?? job.event.occurredAt);
    const next = nextAttempt({ attempts, at, windowStart, retryAfterMs }, this.retry, this.random);
    if (next.kind === 'give_up') {
      const since = resentAt === null ? 'the event' : 'it was sent again';
      return dead(`gave up after ${attempts} attempts, ${describeDuration(this.retry.windowMs)} after ${since}`);
    }
    const shortened =
      next.retryAfterShortenedFromMs === null
        ? ''
        : ` (Retry-After ${Math.ceil(next.retryAfterShortenedFromMs / 1000)} s shortened to ${Math.ceil(this.retry.maxRetryAfterMs / 1000)} s)`;
    return { status: 'pending', kind: 'retry', lastStatusCode: statusCode, lastError: `${error}${shortened}`, nextAttemptAt: next.at.toISOString() };
  }

  private async record(tx: StoreTx, { job, outcome, attempts, at }: Completed): Promise<void> {
    if (!outcome) return;
    const atIso = at.toISOString();
    if (outcome.kind === 'gone') {
      const hook = await tx.getHook(job.delivery.workspaceId, job.delivery.hookId);
      if (hook && hook.deletedAt === null) await tx.updateHook({ ...hook, deletedAt: atIso, deletedReason: 'gone' });
      await tx.abandonDeliveries(job.delivery.hookId, notSentToDeletedHook('gone'), atIso);
    }
    // A reply whose contact was erased while it was on the wire: the erasure closed its row, and
    // an answer asking for a retry is not to reopen it until it comes due.
    const closed = outcome.status === 'pending' && job.kind === 'outbound' && (await isReplyToErasedContact(tx, job.delivery));
    await tx.updateDelivery({
      ...job.delivery,
      status: closed ? 'dead' : outcome.status,
      attempts,
      nextAttemptAt: outcome.nextAttemptAt,
      lastError: closed ? NOT_SENT_TO_ERASED_CONTACT : outcome.lastError,
      lastStatusCode: outcome.lastStatusCode,
      deliveredAt: outcome.status === 'delivered' ? atIso : null,
      updatedAt: atIso,
    });
  }
}

/** What of a redirect's Location a lastError shows at most. */
const MAX_LOCATION_CHARS = 300;

/**
 * A redirect is not followed (http-sender.ts): the receiver is told where it pointed, resolved
 * against the target URL as a client would (RFC 9110 §10.2.2), so it can register that URL.
 */
function redirectRefusal(code: number, location: string, targetUrl: string): string {
  const resolved = URL.canParse(location, targetUrl) ? new URL(location, targetUrl).href : location;
  const shown = resolved.length > MAX_LOCATION_CHARS ? `${resolved.slice(0, MAX_LOCATION_CHARS)}…` : resolved;
  return `HTTP ${code} (redirect not followed, not retried): Location ${shown}; register the final URL as the target`;
}

function countUp(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

function countDown(counts: Map<string, number>, key: string): void {
  const left = (counts.get(key) ?? 1) - 1;
  if (left > 0) counts.set(key, left);
  else counts.delete(key);
}

/** `keys` in id order, those after `after` first, then (wrapping around) the others. */
function inTurn(keys: readonly string[], after: string | undefined): string[] {
  const sorted = [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (after === undefined) return sorted;
  const first = sorted.findIndex((key) => key > after);
  return first <= 0 ? sorted : [...sorted.slice(first), ...sorted.slice(0, first)];
}

function sequenceKey(delivery: DeliveryRow): string {
  return `${delivery.hookId}\u0000${delivery.contactId ?? `event:${delivery.eventId}`}`;
}

export function createHookDispatcher(options: HookDispatcherOptions): HookDispatcher {
  return new HookDispatcher(options);
}

import { randomUUID } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { z } from 'zod';
import { isConsentryError } from '../core/errors.js';
import type { Clock } from '../ports/clock.js';
import type { Store, StoreTx } from '../ports/store.js';
import { startWorkers, stopWorkers, type BackgroundWorker } from './background-worker.js';
import { PollingLoop, type LoopTimers } from './polling-loop.js';

/** The meta key holding which process runs the background workers, and until when. */
export const WORKER_LEASE_KEY = 'workers.lease';
export const DEFAULT_WORKER_LEASE_TTL_MS = 30_000;
export const DEFAULT_WORKER_LEASE_RENEW_EVERY_MS = 10_000;

const LeaseSchema = z.object({
  holder: z.string().min(1),
  expiresAt: z.iso.datetime(),
  /** The holder's machine and process id; absent in leases written before they were recorded. */
  host: z.string().min(1).optional(),
  pid: z.number().int().positive().optional(),
  /** Where `pid` names one process: the machine's boot and the pid namespace (see processIdSpace). */
  pidSpace: z.string().min(1).optional(),
});

/** The lease as stored: a free lease is stored as null. */
export type StoredWorkerLease = z.infer<typeof LeaseSchema>;

/** The slice of a pino (or Fastify) logger the lease reports its transitions to. */
export interface WorkerLeaseLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

const silentLeaseLogger: WorkerLeaseLogger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** The process a lease is written by, and how it tells whether a process of its own pid space runs. */
export interface LeaseProcess {
  host: string;
  pid: number;
  /** Where `pid` names one process; undefined where that cannot be told, and then no lease is taken early. */
  pidSpace: string | undefined;
  isRunning(pid: number): boolean;
}

/**
 * A process id names one process only within one boot of one machine and one pid namespace:
 * containers on one host share the boot id and have namespaces of their own, and two machines
 * share the host's initial namespace's inode. Linux gives both in /proc
 * (https://man7.org/linux/man-pages/man7/pid_namespaces.7.html, https://man7.org/linux/man-pages/man4/random.4.html);
 * elsewhere there is none, and a lease is waited for as before.
 */
function processIdSpace(): string | undefined {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const namespace = readlinkSync('/proc/self/ns/pid');
    return boot !== '' ? `${boot}/${namespace}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `kill(pid, 0)` sends nothing and only checks that the process exists
 * (https://nodejs.org/api/process.html#processkillpid-signal): ESRCH means there is none, EPERM
 * that there is one owned by another user.
 */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error instanceof Error && Reflect.get(error, 'code') === 'EPERM';
  }
}

/**
 * The holders of the leases started in this process and not stopped: a lease naming this
 * process's pid is either one of them (several servers in one process) or was written by a
 * predecessor that had the pid before (a process restarted in place).
 */
const holdersInThisProcess = new Set<string>();

const thisProcess = (): LeaseProcess => ({ host: hostname(), pid: process.pid, pidSpace: processIdSpace(), isRunning });

/**
 * A worker the lease runs, with what it may offer beyond starting and stopping (the hook
 * dispatcher offers both): a worker without them is stopped with `stop()` in every case.
 */
export interface LeasedWorker extends BackgroundWorker {
  /**
   * Given once, when the lease is made: whether this process holds the lease now, by its clock.
   * A worker that sends to other systems asks it before each send it starts.
   */
  sendOnlyWhile?(holdsLease: () => boolean): void;
  /**
   * How the worker stops when the lease is lost (taken by another process, or run out unrenewed):
   * it starts no new work, since the new holder does it, where `stop()`, for this process's own
   * shutdown, may finish what is due first.
   */
  stopWithoutDraining?(): Promise<void>;
}

export interface WorkerLeaseOptions {
  store: Store;
  clock: Clock;
  /** Started while this process holds the lease, stopped when it loses it. */
  workers: readonly LeasedWorker[];
  /** Who this process is in the lease; default a random UUID, unique per process. */
  holder?: string;
  /** How long a taken or renewed lease lasts without renewal (default 30 s). */
  ttlMs?: number;
  /** How often the lease is renewed or, by a process without it, tried (default 10 s); below `ttlMs`. */
  renewEveryMs?: number;
  /** This process, recorded in the lease it writes; default os.hostname() and process.pid. */
  process?: LeaseProcess;
  timers?: LoopTimers;
  logger?: WorkerLeaseLogger;
}

/** What the last look at the lease found; `takenFrom`: a holder on this machine that had died without releasing it. */
type LeaseView = { held: true; expiresAt: string; takenFrom: StoredWorkerLease | null } | { held: false; lease: StoredWorkerLease };

/**
 * Runs the background workers in one process at a time among those serving one database: the
 * process holding the `workers.lease` meta row runs them, the others serve the API only and take
 * the lease over once it is released or expires. Taking and renewing happen in one store
 * transaction, which the store serialises (across processes too: SQLite's BEGIN IMMEDIATE takes
 * the write lock before the read, https://www.sqlite.org/lang_transaction.html).
 */
export class WorkerLease {
  readonly holder: string;
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly workers: readonly LeasedWorker[];
  private readonly ttlMs: number;
  private readonly logger: WorkerLeaseLogger;
  private readonly process: LeaseProcess;
  private readonly loop: PollingLoop;
  private running = false;
  private stopped = true;
  /** When the lease this process last wrote expires (ms since the epoch); null when it holds none. */
  private heldUntil: number | null = null;
  /** Whether the last look found another holder, so that standing by is reported once per change. */
  private standingBy = false;
  /** Renewals and the release run one at a time. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: WorkerLeaseOptions) {
    const ttlMs = options.ttlMs ?? DEFAULT_WORKER_LEASE_TTL_MS;
    const renewEveryMs = options.renewEveryMs ?? DEFAULT_WORKER_LEASE_RENEW_EVERY_MS;
    if (!Number.isInteger(ttlMs) || ttlMs < 1) throw new Error(`ttlMs must be a positive integer, got ${String(ttlMs)}`);
    // A holder that renews less often than its lease lasts would lose it between renewals.
    if (!Number.isInteger(renewEveryMs) || renewEveryMs < 1 || renewEveryMs >= ttlMs) {
      throw new Error(`renewEveryMs must be a positive integer below ttlMs (${ttlMs}), got ${String(renewEveryMs)}`);
    }
    this.holder = options.holder ?? randomUUID();
    this.store = options.store;
    this.clock = options.clock;
    this.workers = options.workers;
    this.ttlMs = ttlMs;
    this.logger = options.logger ?? silentLeaseLogger;
    this.process = options.process ?? thisProcess();
    for (const worker of this.workers) worker.sendOnlyWhile?.(() => this.holdsLease);
    this.loop = new PollingLoop({
      pass: () => this.renew(),
      idleMs: renewEveryMs,
      onError: (error) => this.logger.error({ err: error }, 'worker lease pass failed'),
      ...(options.timers !== undefined ? { timers: options.timers } : {}),
    });
  }

  /** Whether this process's workers are running (it held the lease at its last renewal). */
  get runsWorkers(): boolean {
    return this.running;
  }

  /**
   * Whether the lease this process last wrote is still in force by the clock: false once its
   * expiry has passed, even before a renewal notices, since another process may have taken it
   * by then; false when this process holds none.
   */
  get holdsLease(): boolean {
    return this.heldUntil !== null && this.clock.now().getTime() < this.heldUntil;
  }

  /**
   * Takes the lease if it can and, if so, starts the workers, before it resolves; then renews
   * every `renewEveryMs`. A failure of this first attempt (the store, or a worker that does not
   * start) is thrown, with the lease released again.
   */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    holdersInThisProcess.add(this.holder);
    try {
      await this.serialised(() => this.attempt());
    } catch (error) {
      this.stopped = true;
      await this.serialised(() => this.release());
      holdersInThisProcess.delete(this.holder);
      throw error;
    }
    // The first attempt was just made: the loop renews from one interval on.
    this.loop.start({ sleepFirst: true });
  }

  /**
   * One renewal: takes or renews the lease if it is free, expired or this process's, and starts
   * or stops the workers to match. A failure is logged, never thrown: if renewals keep failing
   * until the lease this process wrote has expired, its workers stop, since another process may
   * have taken over.
   */
  renew(): Promise<void> {
    return this.serialised(async () => {
      if (this.stopped) return;
      try {
        await this.attempt();
      } catch (error) {
        this.logger.error({ err: error }, 'could not renew the worker lease');
        await this.stopIfExpired();
      }
    });
  }

  /** Stops the renewals and the workers, then frees the lease if this process still holds it. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop.stop();
    await this.serialised(async () => {
      try {
        await this.stopOwnWorkers({ leaseLost: false });
      } finally {
        await this.release();
        holdersInThisProcess.delete(this.holder);
      }
    });
  }

  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async attempt(): Promise<void> {
    const view = await this.store.transaction(async (tx): Promise<LeaseView> => {
      const now = this.clock.now().getTime();
      const current = await readLease(tx);
      const heldByAnother = current !== null && current.holder !== this.holder && Date.parse(current.expiresAt) > now;
      const takenFrom = heldByAnother && this.diedOnThisMachine(current) ? current : null;
      if (heldByAnother && takenFrom === null) return { held: false, lease: current };
      const taken: StoredWorkerLease = {
        holder: this.holder,
        expiresAt: new Date(now + this.ttlMs).toISOString(),
        host: this.process.host,
        pid: this.process.pid,
        ...(this.process.pidSpace !== undefined ? { pidSpace: this.process.pidSpace } : {}),
      };
      await tx.setMeta(WORKER_LEASE_KEY, taken);
      return { held: true, expiresAt: taken.expiresAt, takenFrom };
    });
    if (view.held) {
      this.heldUntil = Date.parse(view.expiresAt);
      this.standingBy = false;
      if (view.takenFrom) {
        this.logger.info(
          { holder: this.holder, previousHolder: view.takenFrom.holder, previousPid: view.takenFrom.pid, previousLeaseExpiresAt: view.takenFrom.expiresAt },
          `took over the worker lease of process ${String(view.takenFrom.pid)} on this machine, which stopped without releasing it`,
        );
      }
      if (!this.running) {
        await startWorkers(this.workers);
        this.running = true;
        this.logger.info({ holder: this.holder, leaseExpiresAt: view.expiresAt }, 'workers started: this process holds the worker lease');
      }
      return;
    }
    this.heldUntil = null;
    if (this.running) {
      await this.stopOwnWorkers({ leaseLost: true });
      this.logger.warn(
        { holder: this.holder, leaseHolder: view.lease.holder, leaseExpiresAt: view.lease.expiresAt },
        'workers stopped: another process has taken the worker lease',
      );
    }
    if (!this.standingBy) {
      this.standingBy = true;
      const { lease } = view;
      this.logger.info(
        { holder: this.holder, leaseHolder: lease.holder, leaseHost: lease.host, leasePid: lease.pid, leaseExpiresAt: lease.expiresAt },
        `${holderDescription(lease, this.process.host)} runs the background workers (lease held until ${lease.expiresAt}); this one serves the API only until the lease is released or expires`,
      );
    }
  }

  /**
   * A lease written in this process's pid space by a process that no longer runs: the previous
   * server, killed or crashed before it could release it. It is taken at once instead of after
   * its TTL. A process elsewhere (another machine or container) cannot be checked: its lease is
   * waited for.
   */
  private diedOnThisMachine(lease: StoredWorkerLease): boolean {
    return (
      this.process.pidSpace !== undefined &&
      lease.pidSpace === this.process.pidSpace &&
      lease.pid !== undefined &&
      (lease.pid === this.process.pid ? !holdersInThisProcess.has(lease.holder) : !this.process.isRunning(lease.pid))
    );
  }

  private async stopIfExpired(): Promise<void> {
    if (!this.running || this.heldUntil === null || this.clock.now().getTime() < this.heldUntil) return;
    this.heldUntil = null;
    await this.stopOwnWorkers({ leaseLost: true });
    this.logger.warn(
      { holder: this.holder },
      'workers stopped: the worker lease could not be renewed before it expired, so another process may run them',
    );
  }

  /**
   * `leaseLost`: another process runs the workers now, or may, so they stop without finishing
   * what is due (stopWithoutDraining); otherwise this process stops while it still holds the
   * lease, and they may.
   */
  private async stopOwnWorkers(options: { leaseLost: boolean }): Promise<void> {
    if (!this.running) return;
    // stopWorkers stops every worker even when one fails, so none is left running either way.
    this.running = false;
    await stopWorkers(this.workers, options.leaseLost ? (worker) => worker.stopWithoutDraining?.() ?? worker.stop() : undefined);
  }

  /** Frees the lease so that another process takes it at its next renewal instead of after the TTL. */
  private async release(): Promise<void> {
    this.heldUntil = null;
    this.standingBy = false;
    try {
      await this.store.transaction(async (tx) => {
        const current = await readLease(tx);
        if (current?.holder === this.holder) await tx.setMeta(WORKER_LEASE_KEY, null);
      });
    } catch (error) {
      // Not freed, the lease still expires after its TTL.
      this.logger.warn({ err: error }, 'could not release the worker lease; another process takes it once it expires');
    }
  }
}

/** Who holds a lease, in the words of the standing-by log line. */
function holderDescription(lease: StoredWorkerLease, ownHost: string): string {
  if (lease.pid === undefined || lease.host === undefined) return 'another process (one that may have stopped without releasing the lease)';
  return lease.host === ownHost ? `process ${String(lease.pid)} on this machine` : `process ${String(lease.pid)} on ${lease.host}`;
}

/**
 * The stored lease, or null when it is free. A value that cannot be read (not JSON, or not a
 * lease) counts as free: the next holder overwrites it.
 */
async function readLease(tx: StoreTx): Promise<StoredWorkerLease | null> {
  let stored: unknown;
  try {
    stored = await tx.getMeta(WORKER_LEASE_KEY);
  } catch (error) {
    if (isConsentryError(error) && error.code === 'STORE_CORRUPT') return null;
    throw error;
  }
  const parsed = LeaseSchema.safeParse(stored);
  return parsed.success ? parsed.data : null;
}

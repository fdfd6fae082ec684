import { setImmediate } from 'node:timers';
import { TransactionRolledBackError } from '../ports/store.js';

/**
 * Group commit: transactions that wait for the connection when one finishes run inside the same
 * database transaction, each in a savepoint of its own, and share one COMMIT. A commit's cost is
 * mostly fixed (the WAL append and its bookkeeping), so sharing it is what lets a server keep up
 * with many concurrent requests. Each caller keeps the guarantees of a transaction of its own:
 *
 * - all-or-nothing: a function that throws is rolled back to its savepoint
 *   (https://www.sqlite.org/lang_savepoint.html) and its promise rejects; nothing of it stays;
 * - acknowledged only once durable: every promise of a group settles after its COMMIT returned;
 * - told apart from the failures of others: when the group cannot commit (its COMMIT or another
 *   of its own statements fails, or the database rolls the whole transaction back on one
 *   member's error), a member whose function failed rejects with its own error, and every other
 *   member with TransactionRolledBackError, whose cause is the error that ended the group: its
 *   own work was fine, nothing of it was written, and running it again may succeed;
 * - serialised: one function runs at a time, in arrival order; each sees what the earlier members
 *   of its group wrote, and commits with them or not at all.
 *
 * A function must not wait for another transaction of the same store: one it opens itself waits
 * for it to finish, and one queued before it resolves only once the group it belongs to, which
 * includes the waiting function, has committed. Either never settles.
 *
 * Concurrent callers rarely overlap by themselves: the store's statements are synchronous, so a
 * request runs from its socket callback to its response within one callback and the next
 * request's transaction starts after the previous one committed. So, when company is likely, a
 * group waits one turn of the event loop before its COMMIT (setImmediate,
 * https://nodejs.org/en/learn/asynchronous-work/event-loop-timers-and-nexttick): the requests
 * whose input has already arrived start meanwhile and join it. Company is likely while such waits
 * recently found some; otherwise a group that starts in a new turn probes, less and less often
 * while probes find nobody. A caller that awaits its transactions one after another in the same
 * turn (a loop, an import) commits each of them alone and at once; only its first may probe.
 */

/** The statements a group needs from its connection. */
export interface GroupConnection<Tx> {
  begin(): void;
  commit(): void;
  rollback(): void;
  savepoint(): void;
  releaseSavepoint(): void;
  /** Undoes everything since `savepoint()` and releases it. */
  rollbackToSavepoint(): void;
  /**
   * False once the database itself ended the transaction, as SQLite does on some errors
   * (https://www.sqlite.org/lang_transaction.html, "Response To Errors Within A Transaction").
   */
  inTransaction(): boolean;
  /** A handle for one member's function; `end` makes it refuse further use. */
  open(): Tx;
  end(tx: Tx): void;
}

export interface GroupCommitOptions {
  /** Most transactions sharing one COMMIT; 1 commits every transaction alone. */
  maxGroupSize: number;
  /** No member joins a group older than this (ms since its BEGIN), which bounds the first member's wait. */
  maxGroupAgeMs: number;
  /** Whether a group may wait one turn of the event loop for company (see above). */
  waitForCompany: boolean;
  /** A monotonic clock in milliseconds. */
  now: () => number;
  /** How a BEGIN that finds the write lock taken waits for it; null lets the BEGIN wait (or fail) by itself. */
  lockWait: LockWait | null;
}

/**
 * Waiting for another connection's write lock without holding the event loop. SQLite's own busy
 * handler sleeps inside the BEGIN (https://www.sqlite.org/c3ref/busy_timeout.html), and with a
 * synchronous driver that sleep stops every request of the process, a health check included.
 * With the connection's busy timeout at 0, a BEGIN that finds the lock taken fails at once; the
 * committer then pauses between attempts, so other callbacks run meanwhile. Transactions that
 * arrive during the wait queue behind the first and join its group once the lock is taken.
 */
export interface LockWait {
  /** Whether `error` means only that another connection holds the write lock (SQLITE_BUSY). */
  isBusy(error: unknown): boolean;
  /** How long to keep trying, in ms of `now`; then the group fails with `gaveUp`'s error. */
  timeoutMs: number;
  /** Resolves after about `ms` milliseconds, without holding the event loop. */
  pause(ms: number): Promise<void>;
  /** The error the group's transactions fail with once `timeoutMs` passed, from the last BEGIN's error. */
  gaveUp(error: unknown, waitedMs: number): unknown;
}

/** Pauses between BEGIN attempts grow from the first to the longest: a short lock costs little delay, a long one few attempts. */
const FIRST_LOCK_PAUSE_MS = 1;
const LONGEST_LOCK_PAUSE_MS = 50;

/** A wait that found company within this many ms means concurrent callers: keep waiting. */
const COMPANY_WINDOW_MS = 20;
/**
 * Without recent company, a probe that finds nobody lets the next 1, 2, 4, … groups that start
 * in a new turn commit without waiting, up to this many, so a lone caller that yields between
 * its transactions seldom pays for a probe.
 */
const MAX_PROBE_BACKOFF = 64;

export interface GroupCommitStats {
  /** COMMITs that succeeded. */
  commits: number;
  /** Transactions those COMMITs made durable. */
  transactions: number;
  /** Turns of the event loop a group waited for company, and how many of them found some. */
  waits: number;
  fruitfulWaits: number;
}

interface Member<Tx> {
  /** Runs the caller's function; resolves to what hands its value over once the group committed. */
  execute(tx: Tx): Promise<() => void>;
  reject(error: unknown): void;
  /** When the caller asked for it (`now`): a lock wait counts from here, whatever it queued behind. */
  askedAt: number;
}

interface Done<Tx> {
  member: Member<Tx>;
  deliver: () => void;
}

function member<Tx, T>(fn: (tx: Tx) => Promise<T>, resolve: (value: T) => void, reject: (error: unknown) => void, askedAt: number): Member<Tx> {
  return {
    execute: async (tx) => {
      const value = await fn(tx);
      return () => resolve(value);
    },
    reject,
    askedAt,
  };
}

const nextTurn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

export class GroupCommitter<Tx> {
  private active = false;
  private readonly queue: Array<Member<Tx>> = [];
  private readonly idle: Array<() => void> = [];
  private readonly counters: GroupCommitStats = { commits: 0, transactions: 0, waits: 0, fruitfulWaits: 0 };

  /** Event-loop turns, counted only while the store is in use (see `currentTurn`). */
  private turn = 0;
  private turnCounting = false;
  private lastCommitTurn = -1;
  private lastCompanyAt = Number.NEGATIVE_INFINITY;
  private probeBackoff = 0;
  private probesToSkip = 0;

  constructor(
    private readonly connection: GroupConnection<Tx>,
    private readonly options: GroupCommitOptions,
  ) {}

  /** Runs `fn` as a transaction: settles once it is committed (or rolled back). */
  run<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const next = member(fn, resolve, reject, this.options.now());
      if (this.active) {
        this.queue.push(next);
        return;
      }
      // Started right away, so a lone transaction costs no extra turn of the event loop.
      this.active = true;
      void this.drain(next);
    });
  }

  /** Resolves once no transaction runs or waits. */
  whenIdle(): Promise<void> {
    if (!this.active) return Promise.resolve();
    return new Promise<void>((resolve) => this.idle.push(resolve));
  }

  stats(): GroupCommitStats {
    return { ...this.counters };
  }

  private async drain(first: Member<Tx>): Promise<void> {
    let next: Member<Tx> | undefined = first;
    try {
      while (next) {
        await this.group(next);
        next = this.queue.shift();
      }
    } finally {
      this.active = false;
      for (const resolve of this.idle.splice(0)) resolve();
    }
  }

  /**
   * The number of the current turn of the event loop: a setImmediate advances it at the end of
   * the turn in which it was asked for, so a loop that never yields stays in one turn.
   */
  private currentTurn(): number {
    if (!this.turnCounting) {
      this.turnCounting = true;
      setImmediate(() => {
        this.turn += 1;
        this.turnCounting = false;
      });
    }
    return this.turn;
  }

  private admit(size: number, startedAt: number): Member<Tx> | undefined {
    if (size >= this.options.maxGroupSize) return undefined;
    if (this.queue.length === 0 || this.options.now() - startedAt >= this.options.maxGroupAgeMs) return undefined;
    return this.queue.shift();
  }

  private shouldWait(size: number, startedAt: number, startTurn: number): boolean {
    if (!this.options.waitForCompany || size >= this.options.maxGroupSize) return false;
    const now = this.options.now();
    if (now - startedAt >= this.options.maxGroupAgeMs) return false;
    if (now - this.lastCompanyAt < COMPANY_WINDOW_MS) return true;
    // A group started by the continuation of the previous commit (a caller's sequential loop)
    // has nobody to wait for; one started by a later turn's input may have.
    if (startTurn === this.lastCommitTurn) return false;
    if (this.probesToSkip > 0) {
      this.probesToSkip -= 1;
      return false;
    }
    return true;
  }

  private waited(foundCompany: boolean): void {
    this.counters.waits += 1;
    if (foundCompany) {
      this.counters.fruitfulWaits += 1;
      this.lastCompanyAt = this.options.now();
      this.probeBackoff = 0;
      this.probesToSkip = 0;
    } else {
      this.probeBackoff = Math.min(MAX_PROBE_BACKOFF, Math.max(1, this.probeBackoff * 2));
      this.probesToSkip = this.probeBackoff;
    }
  }

  /** One database transaction: `first`, then whoever waits, then one COMMIT. Never throws: every outcome goes to a member. */
  private async group(first: Member<Tx>): Promise<void> {
    const c = this.connection;
    try {
      // Taken right away when the lock is free, so a lone transaction costs no extra turn.
      const waiting = this.begin(first);
      if (waiting !== null) await waiting;
    } catch (error) {
      first.reject(error);
      return;
    }
    const done: Array<Done<Tx>> = [];
    let current: Member<Tx> | undefined = first;
    /** Set while `current`'s own failure is being rolled back: what it rejects with should that ROLLBACK TO fail. */
    let currentFailure: { error: unknown } | null = null;
    try {
      const startedAt = this.options.now();
      const startTurn = this.options.waitForCompany ? this.currentTurn() : 0;
      let size = 0;
      let waited = false;
      while (current) {
        size += 1;
        // The first member needs no savepoint: rolling the whole transaction back undoes exactly it.
        const guarded = done.length > 0;
        if (guarded) c.savepoint();
        let deliver: (() => void) | undefined;
        let failure: unknown;
        const tx = c.open();
        try {
          deliver = await current.execute(tx);
        } catch (error) {
          failure = error;
        } finally {
          c.end(tx);
        }
        if (!c.inTransaction()) {
          // Everything the group wrote went with the transaction the database ended, on the
          // error `current` met (a function that caught it and returned has no error of its own).
          this.abandon(done, current, deliver === undefined ? failure : new TransactionRolledBackError(failure), failure);
          return;
        }
        if (deliver === undefined) {
          if (!guarded) {
            this.abandon(done, current, failure, failure);
            return;
          }
          currentFailure = { error: failure };
          c.rollbackToSavepoint();
          current.reject(failure);
          currentFailure = null;
        } else {
          if (guarded) c.releaseSavepoint();
          done.push({ member: current, deliver });
        }
        current = this.admit(size, startedAt);
        if (current === undefined && !waited && this.shouldWait(size, startedAt, startTurn)) {
          waited = true;
          await nextTurn();
          current = this.admit(size, startedAt);
          this.waited(current !== undefined);
        }
      }
      c.commit();
    } catch (error) {
      // A statement of the group's own failed (SAVEPOINT, RELEASE, ROLLBACK TO or COMMIT): no
      // member of the group can count on its writes, and none but one whose function failed
      // (its ROLLBACK TO is what failed) failed by itself.
      this.abandon(done, current, currentFailure === null ? new TransactionRolledBackError(error) : currentFailure.error, error);
      return;
    }
    this.counters.commits += 1;
    this.counters.transactions += done.length;
    if (this.options.waitForCompany) this.lastCommitTurn = this.currentTurn();
    for (const d of done) d.deliver();
  }

  /** BEGINs the group's transaction: null when it began at once, else a promise that settles once it began or gave up. */
  private begin(first: Member<Tx>): Promise<void> | null {
    const lockWait = this.options.lockWait;
    try {
      this.connection.begin();
      return null;
    } catch (error) {
      if (lockWait === null || !lockWait.isBusy(error)) throw error;
      return this.beginOnceFree(lockWait, error, first);
    }
  }

  /**
   * Retries the BEGIN of `first`'s group until the lock is free. Each transaction waits at most
   * `timeoutMs` from when it was asked for: those queued behind `first` fail as their own time
   * runs out, rather than each waiting its full time in turn once the ones before it gave up.
   */
  private async beginOnceFree(lockWait: LockWait, firstError: unknown, first: Member<Tx>): Promise<void> {
    let lastError = firstError;
    for (let pause = FIRST_LOCK_PAUSE_MS; ; pause = Math.min(pause * 2, LONGEST_LOCK_PAUSE_MS)) {
      const now = this.options.now();
      this.expireQueued(lockWait, lastError, now);
      const waited = now - first.askedAt;
      if (waited >= lockWait.timeoutMs) throw lockWait.gaveUp(lastError, waited);
      await lockWait.pause(Math.min(pause, lockWait.timeoutMs - waited));
      try {
        this.connection.begin();
        return;
      } catch (error) {
        if (!lockWait.isBusy(error)) throw error;
        lastError = error;
      }
    }
  }

  /** Fails the queued transactions that have waited `timeoutMs` since they were asked for. */
  private expireQueued(lockWait: LockWait, lastError: unknown, now: number): void {
    for (let index = this.queue.length - 1; index >= 0; index -= 1) {
      const queued = this.queue[index];
      if (queued === undefined || now - queued.askedAt < lockWait.timeoutMs) continue;
      this.queue.splice(index, 1);
      queued.reject(lockWait.gaveUp(lastError, now - queued.askedAt));
    }
  }

  /**
   * The group cannot commit: rolls back whatever is left, rejects `current` with `currentError`
   * and every member in `done` with TransactionRolledBackError caused by `cause`. A member in
   * `done` finished its work without error by definition: whatever ended the group is not its own
   * failure, and a caller must be able to tell it from one (isPassingStoreFailure).
   */
  private abandon(done: ReadonlyArray<Done<Tx>>, current: Member<Tx> | undefined, currentError: unknown, cause: unknown): void {
    try {
      if (this.connection.inTransaction()) this.connection.rollback();
    } catch {
      // A ROLLBACK that fails leaves the transaction open and the next BEGIN reports it; the
      // members must see the error that ended their group.
    }
    current?.reject(currentError);
    for (const d of done) d.member.reject(new TransactionRolledBackError(cause));
  }
}

import { describe, expect, it } from 'vitest';
import { GroupCommitter, type GroupCommitOptions, type GroupConnection, type LockWait } from '../../src/store/group-commit.js';
import { ConsentryError } from '../../src/core/errors.js';
import { TransactionRolledBackError } from '../../src/ports/store.js';

interface FakeTx {
  write(value: string): void;
  read(): string[];
}

/**
 * A transactional list with SQLite's statement semantics (BEGIN, COMMIT, ROLLBACK, one level
 * of SAVEPOINT), logging every statement so a test sees what the committer asked for and when.
 */
class ListConnection implements GroupConnection<FakeTx> {
  committed: string[] = [];
  readonly log: string[] = [];
  failCommitWith: Error | null = null;
  failSavepointWith: Error | null = null;
  failReleaseWith: Error | null = null;
  failRollbackToWith: Error | null = null;
  /** While true, BEGIN fails as SQLite's does when another connection holds the write lock and the busy timeout is 0. */
  lockedElsewhere = false;
  private pending: string[] | null = null;
  private mark: number | null = null;
  private readonly ended = new WeakSet<FakeTx>();

  begin(): void {
    if (this.pending) throw new Error('cannot start a transaction within a transaction');
    if (this.lockedElsewhere) {
      this.log.push('BEGIN busy');
      throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    }
    this.log.push('BEGIN');
    this.pending = [...this.committed];
  }

  commit(): void {
    this.log.push('COMMIT');
    if (this.failCommitWith) throw this.failCommitWith;
    this.committed = this.inside();
    this.pending = null;
  }

  rollback(): void {
    this.log.push('ROLLBACK');
    this.pending = null;
  }

  savepoint(): void {
    this.log.push('SAVEPOINT');
    if (this.failSavepointWith) throw this.failSavepointWith;
    this.mark = this.inside().length;
  }

  releaseSavepoint(): void {
    this.log.push('RELEASE');
    if (this.failReleaseWith) throw this.failReleaseWith;
    this.mark = null;
  }

  rollbackToSavepoint(): void {
    this.log.push('ROLLBACK TO');
    if (this.failRollbackToWith) throw this.failRollbackToWith;
    if (this.mark === null) throw new Error('no such savepoint');
    this.inside().length = this.mark;
    this.mark = null;
  }

  inTransaction(): boolean {
    return this.pending !== null;
  }

  /** What SQLite does on SQLITE_FULL, SQLITE_IOERR and the like: the whole transaction is gone. */
  abortTransaction(): void {
    this.pending = null;
  }

  open(): FakeTx {
    const tx: FakeTx = {
      write: (value) => {
        if (this.ended.has(tx)) throw new Error('this transaction has ended');
        this.log.push(`write ${value}`);
        this.inside().push(value);
      },
      read: () => [...this.inside()],
    };
    return tx;
  }

  end(tx: FakeTx): void {
    this.ended.add(tx);
  }

  private inside(): string[] {
    if (!this.pending) throw new Error('no transaction is active');
    return this.pending;
  }
}

function setup(overrides: Partial<GroupCommitOptions> = {}) {
  const connection = new ListConnection();
  const clock = { ms: 1_000 };
  const committer = new GroupCommitter(connection, {
    maxGroupSize: 64,
    maxGroupAgeMs: 4,
    waitForCompany: true,
    now: () => clock.ms,
    lockWait: null,
    ...overrides,
  });
  /** A transaction that writes `value` and notes whether the COMMIT had happened when its promise resolved. */
  const write = (value: string) =>
    committer
      .run(async (tx) => {
        tx.write(value);
        return value;
      })
      .then((result) => ({ result, committedWhenResolved: connection.committed.includes(value) }));
  return { connection, clock, committer, write };
}

const nextTurn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

/** What SQLite's driver throws: an Error with the result code (https://www.sqlite.org/rescode.html). */
const sqliteError = (code: string, message: string): Error => Object.assign(new Error(message), { code });

/** The TransactionRolledBackError `outcome` rejects with; fails the test on any other outcome. */
async function rolledBack(outcome: Promise<unknown>): Promise<TransactionRolledBackError> {
  const error = await outcome.then(
    () => new Error('the transaction was committed'),
    (rejection: unknown) => rejection,
  );
  if (!(error instanceof TransactionRolledBackError)) throw new Error(`expected TransactionRolledBackError, got ${String(error)}`);
  return error;
}

describe('group commit', () => {
  it('commits the transactions of a caller that awaits them one after another alone, never waiting for company past the first', async () => {
    const { connection, committer, write } = setup();
    for (let i = 0; i < 20; i += 1) {
      expect(await write(`row ${i}`)).toEqual({ result: `row ${i}`, committedWhenResolved: true });
    }
    const stats = committer.stats();
    expect(stats.commits).toBe(20);
    expect(stats.transactions).toBe(20);
    // Only the first one, which started in a new turn of the event loop, looked for company.
    expect(stats.waits).toBe(1);
    expect(connection.log.filter((line) => line === 'SAVEPOINT')).toEqual([]);
    expect(connection.committed).toHaveLength(20);
  });

  it('runs the transactions waiting behind one in its database transaction, each in a savepoint, and commits them once', async () => {
    const { connection, committer, write } = setup();
    const outcomes = await Promise.all([write('a'), write('b'), write('c')]);
    expect(outcomes).toEqual([
      { result: 'a', committedWhenResolved: true },
      { result: 'b', committedWhenResolved: true },
      { result: 'c', committedWhenResolved: true },
    ]);
    expect(connection.log).toEqual(['BEGIN', 'write a', 'SAVEPOINT', 'write b', 'RELEASE', 'SAVEPOINT', 'write c', 'RELEASE', 'COMMIT']);
    expect(committer.stats()).toMatchObject({ commits: 1, transactions: 3 });
  });

  it('rolls a failing member back to its savepoint and rejects it alone; the members after it see only what committed with them', async () => {
    const { connection, committer, write } = setup();
    const failure = new Error('b fails');
    const a = write('a');
    const b = committer.run(async (tx) => {
      tx.write('b');
      await nextTurn();
      throw failure;
    });
    const c = committer.run(async (tx) => {
      const seen = tx.read();
      tx.write('c');
      return seen;
    });
    await expect(b).rejects.toBe(failure);
    expect((await a).committedWhenResolved).toBe(true);
    expect(await c).toEqual(['a']);
    expect(connection.committed).toEqual(['a', 'c']);
    expect(connection.log.filter((line) => line === 'COMMIT')).toHaveLength(1);
    expect(connection.log).toContain('ROLLBACK TO');
  });

  it('rolls back a failing first member alone; the transactions queued behind it get a transaction of their own', async () => {
    const { connection, committer, write } = setup();
    const failure = new Error('first fails');
    const first = committer.run(async (tx) => {
      tx.write('ghost');
      throw failure;
    });
    const second = write('kept');
    await expect(first).rejects.toBe(failure);
    expect((await second).committedWhenResolved).toBe(true);
    expect(connection.committed).toEqual(['kept']);
    expect(connection.log).toEqual(['BEGIN', 'write ghost', 'ROLLBACK', 'BEGIN', 'write kept', 'COMMIT']);
  });

  it('rejects every member of a group whose COMMIT failed with TransactionRolledBackError caused by its error, keeps none of their writes, and goes on afterwards', async () => {
    const { connection, committer, write } = setup();
    const diskFull = sqliteError('SQLITE_FULL', 'database or disk is full');
    connection.failCommitWith = diskFull;
    const group = [write('a'), write('b'), write('c')];
    for (const outcome of group) {
      const error = await rolledBack(outcome);
      expect(error.cause).toBe(diskFull);
      // The store maps it by the database's code as it maps the failure itself (SQLITE_FULL: STORE_FULL).
      expect(error.code).toBe('SQLITE_FULL');
    }
    expect(connection.committed).toEqual([]);
    expect(connection.inTransaction()).toBe(false);
    expect(connection.log.slice(-2)).toEqual(['COMMIT', 'ROLLBACK']);
    connection.failCommitWith = null;
    expect((await write('d')).committedWhenResolved).toBe(true);
    expect(connection.committed).toEqual(['d']);
  });

  it("rejects every member of a group when one of the group's own statements fails; the next transaction starts afresh", async () => {
    const { connection, write } = setup();
    const outOfMemory = sqliteError('SQLITE_NOMEM', 'out of memory');
    connection.failSavepointWith = outOfMemory;
    const a = write('a');
    const b = write('b');
    const c = write('c');
    // Neither failed by itself: a's work was done, b's never ran.
    expect((await rolledBack(a)).cause).toBe(outOfMemory);
    expect((await rolledBack(b)).cause).toBe(outOfMemory);
    // c waited behind the failed group and leads the next one, which needs no savepoint.
    expect(await c).toEqual({ result: 'c', committedWhenResolved: true });
    expect(connection.committed).toEqual(['c']);
    expect(connection.log).toEqual(['BEGIN', 'write a', 'SAVEPOINT', 'ROLLBACK', 'BEGIN', 'write c', 'COMMIT']);
  });

  it('rejects every member of a group whose transaction the database ended itself, even one whose function returned', async () => {
    const { connection, committer, write } = setup();
    const a = write('a');
    const b = committer.run(async (tx) => {
      tx.write('b');
      connection.abortTransaction();
      return 'b swallowed the error';
    });
    const c = write('c');
    await expect(a).rejects.toBeInstanceOf(TransactionRolledBackError);
    await expect(b).rejects.toThrow(/rolled the transaction back/);
    expect((await c).committedWhenResolved).toBe(true);
    expect(connection.committed).toEqual(['c']);
  });

  it('rejects the member whose failure ended the database transaction with its own error, and the members done before it with TransactionRolledBackError', async () => {
    const { connection, committer, write } = setup();
    const ioError = sqliteError('SQLITE_IOERR_WRITE', 'disk I/O error');
    const a = write('a');
    const b = committer.run(async (tx) => {
      tx.write('b');
      // SQLite ends the whole transaction on such an error, not only the statement.
      connection.abortTransaction();
      throw ioError;
    });
    const c = write('c');
    await expect(b).rejects.toBe(ioError);
    const aError = await rolledBack(a);
    expect(aError.cause).toBe(ioError);
    expect(aError.code).toBe('SQLITE_IOERR_WRITE');
    expect(aError.message).toBe('the database rolled the transaction back: disk I/O error');
    expect((await c).committedWhenResolved).toBe(true);
    expect(connection.committed).toEqual(['c']);
  });

  it('keeps the own error of a member whose ROLLBACK TO failed, and rejects the members done before it with TransactionRolledBackError', async () => {
    const { connection, committer, write } = setup();
    const ownFailure = new ConsentryError('CONFLICT', 'b fails');
    const outOfMemory = sqliteError('SQLITE_NOMEM', 'out of memory');
    connection.failRollbackToWith = outOfMemory;
    const a = write('a');
    const b = committer.run(async (tx) => {
      tx.write('b');
      throw ownFailure;
    });
    await expect(b).rejects.toBe(ownFailure);
    expect((await rolledBack(a)).cause).toBe(outOfMemory);
    expect(connection.committed).toEqual([]);
    expect(connection.inTransaction()).toBe(false);
  });

  it('rejects a member whose work was done but whose RELEASE failed with TransactionRolledBackError, as the members before it', async () => {
    const { connection, write } = setup();
    const outOfMemory = sqliteError('SQLITE_NOMEM', 'out of memory');
    connection.failReleaseWith = outOfMemory;
    const a = write('a');
    const b = write('b');
    expect((await rolledBack(a)).cause).toBe(outOfMemory);
    expect((await rolledBack(b)).cause).toBe(outOfMemory);
    expect(connection.committed).toEqual([]);
    expect(connection.log).toEqual(['BEGIN', 'write a', 'SAVEPOINT', 'write b', 'RELEASE', 'ROLLBACK']);
  });

  it("lends a rolled-back transaction the database's code and message of its cause, never those of a ConsentryError", async () => {
    const { connection, committer, write } = setup();
    const ownFailure = new ConsentryError('CONTACT_ERASED', 'b fails');
    const a = write('a');
    const b = committer.run(async (tx) => {
      tx.write('b');
      connection.abortTransaction();
      throw ownFailure;
    });
    await expect(b).rejects.toBe(ownFailure);
    const aError = await rolledBack(a);
    expect(aError.cause).toBe(ownFailure);
    expect(aError.code).toBeUndefined();
    // Its message may speak of another workspace's contact: it is not repeated.
    expect(aError.message).toBe('the database rolled the transaction back');
  });

  it('runs one function at a time, in arrival order, even when they await between writes', async () => {
    const { committer } = setup();
    const trace: string[] = [];
    let running = 0;
    const work = (name: string) =>
      committer.run(async (tx) => {
        running += 1;
        expect(running).toBe(1);
        trace.push(`${name}:start`);
        await nextTurn();
        tx.write(name);
        await nextTurn();
        trace.push(`${name}:end`);
        running -= 1;
        return name;
      });
    expect(await Promise.all([work('a'), work('b'), work('c')])).toEqual(['a', 'b', 'c']);
    expect(trace).toEqual(['a:start', 'a:end', 'b:start', 'b:end', 'c:start', 'c:end']);
  });

  it('refuses a handle used after its function finished, so it cannot write into the next member', async () => {
    const { connection, committer, write } = setup();
    let leaked: FakeTx | undefined;
    const first = committer.run(async (tx) => {
      leaked = tx;
    });
    const second = committer.run(async () => {
      expect(() => leaked?.write('sneaked in')).toThrow(/ended/);
    });
    await Promise.all([first, second, write('after')]);
    expect(connection.committed).toEqual(['after']);
  });

  it('puts at most maxGroupSize transactions in one COMMIT', async () => {
    const { committer, write } = setup({ maxGroupSize: 4 });
    const outcomes = await Promise.all(Array.from({ length: 10 }, (_, i) => write(`row ${i}`)));
    expect(outcomes.every((outcome) => outcome.committedWhenResolved)).toBe(true);
    expect(committer.stats()).toMatchObject({ commits: 3, transactions: 10 });
  });

  it('admits nobody to a group older than maxGroupAgeMs', async () => {
    const { clock, committer, write } = setup({ maxGroupAgeMs: 4 });
    const slow = committer.run(async (tx) => {
      tx.write('slow');
      clock.ms += 5;
    });
    await Promise.all([slow, write('a'), write('b')]);
    // The slow one commits alone; the two that waited behind it share the next COMMIT.
    expect(committer.stats()).toMatchObject({ commits: 2, transactions: 3 });
  });

  it('commits every transaction alone when groups are capped at one', async () => {
    const { connection, committer, write } = setup({ maxGroupSize: 1, waitForCompany: false });
    await Promise.all([write('a'), write('b'), write('c')]);
    expect(committer.stats()).toMatchObject({ commits: 3, transactions: 3, waits: 0 });
    expect(connection.log.filter((line) => line === 'SAVEPOINT')).toEqual([]);
  });

  it('waits one turn of the event loop for transactions that other callbacks start, and shares the COMMIT with them', async () => {
    const { connection, committer, write } = setup();
    let late: ReturnType<typeof write> | undefined;
    // Like a second request whose input is already there when the first one's transaction ends.
    setImmediate(() => {
      late = write('late');
    });
    const early = await write('early');
    expect(early.committedWhenResolved).toBe(true);
    expect((await late)?.committedWhenResolved).toBe(true);
    expect(committer.stats()).toMatchObject({ commits: 1, transactions: 2, waits: 1, fruitfulWaits: 1 });
    expect(connection.committed).toEqual(['early', 'late']);
  });

  it('does not wait for company without the option, so callbacks of the same turn commit apart', async () => {
    const { committer, write } = setup({ waitForCompany: false });
    let late: ReturnType<typeof write> | undefined;
    setImmediate(() => {
      late = write('late');
    });
    const early = await write('early');
    expect(late).toBeUndefined();
    await nextTurn();
    expect((await late)?.committedWhenResolved).toBe(true);
    expect(early.committedWhenResolved).toBe(true);
    expect(committer.stats()).toMatchObject({ commits: 2, transactions: 2, waits: 0 });
  });

  it('keeps waiting for company while it recently found some, and stops once it has not for a while', async () => {
    const { clock, committer, write } = setup();
    setImmediate(() => void write('joins'));
    await write('first');
    expect(committer.stats()).toMatchObject({ waits: 1, fruitfulWaits: 1 });
    // Started by the continuation of the last commit, but company came recently: it waits.
    await write('soon after');
    expect(committer.stats().waits).toBe(2);
    clock.ms += 1_000;
    await write('much later');
    expect(committer.stats().waits).toBe(2);
  });

  it('probes less and less often for a lone caller that yields between its transactions', async () => {
    const { committer, write } = setup();
    for (let i = 0; i < 20; i += 1) {
      expect((await write(`row ${i}`)).committedWhenResolved).toBe(true);
      await nextTurn();
    }
    // Probes at the 1st, 3rd, 6th, 11th and 20th: each that finds nobody doubles the groups let through before the next.
    expect(committer.stats()).toMatchObject({ commits: 20, waits: 5, fruitfulWaits: 0 });
  });

  it('lets whenIdle wait for the running and queued transactions', async () => {
    const { connection, committer, write } = setup();
    const pending = [write('a'), write('b')];
    await committer.whenIdle();
    expect(connection.committed).toEqual(['a', 'b']);
    await Promise.all(pending);
    await committer.whenIdle();
  });
});

describe('group commit waiting for a write lock another connection holds', () => {
  /** A lock wait whose pauses only yield a turn and advance the test's clock by the pause asked for. */
  function lockWaitOn(clock: { ms: number }, timeoutMs: number) {
    const pauses: number[] = [];
    const lockWait: LockWait = {
      isBusy: (error) => error instanceof Error && Reflect.get(error, 'code') === 'SQLITE_BUSY',
      timeoutMs,
      pause: async (ms) => {
        pauses.push(ms);
        await nextTurn();
        clock.ms += ms;
      },
      gaveUp: (error, waitedMs) => new Error(`gave up after ${waitedMs} ms: ${error instanceof Error ? error.message : String(error)}`),
    };
    return { lockWait, pauses };
  }

  it('waits between turns of the event loop, lets other callbacks run meanwhile, and commits once the lock is free', async () => {
    const clock = { ms: 1_000 };
    const { lockWait, pauses } = lockWaitOn(clock, 5_000);
    const { connection, write } = setup({ now: () => clock.ms, lockWait, waitForCompany: false });
    connection.lockedElsewhere = true;
    const first = write('a');
    let othersRan = 0;
    for (let turn = 0; turn < 5; turn += 1) {
      await nextTurn();
      othersRan += 1;
    }
    // Transactions arriving during the wait queue behind the first and share its COMMIT.
    const second = write('b');
    expect(connection.committed).toEqual([]);
    connection.lockedElsewhere = false;
    expect(await Promise.all([first, second])).toEqual([
      { result: 'a', committedWhenResolved: true },
      { result: 'b', committedWhenResolved: true },
    ]);
    expect(othersRan).toBe(5);
    expect(connection.log.filter((line) => line === 'BEGIN busy').length).toBeGreaterThanOrEqual(5);
    expect(connection.log.filter((line) => line === 'COMMIT')).toHaveLength(1);
    // The pauses grow from 1 ms, doubling, to at most 50 ms.
    expect(pauses.slice(0, 4)).toEqual([1, 2, 4, 8]);
    expect(Math.max(...pauses)).toBeLessThanOrEqual(50);
  });

  it('fails every transaction of the group with the lock wait\'s error once the timeout passed, and works again after', async () => {
    const clock = { ms: 1_000 };
    const { lockWait, pauses } = lockWaitOn(clock, 200);
    const { connection, write } = setup({ now: () => clock.ms, lockWait, waitForCompany: false });
    connection.lockedElsewhere = true;
    await expect(write('a')).rejects.toThrow(/^gave up after 2\d\d ms: database is locked$/);
    expect(pauses.reduce((sum, ms) => sum + ms, 0)).toBe(200);
    expect(connection.committed).toEqual([]);
    connection.lockedElsewhere = false;
    expect(await write('b')).toEqual({ result: 'b', committedWhenResolved: true });
  });

  it('counts each transaction\'s wait from when it was asked for, so those queued behind a waiting one do not wait in turn', async () => {
    const clock = { ms: 1_000 };
    const { lockWait } = lockWaitOn(clock, 200);
    const { connection, committer } = setup({ now: () => clock.ms, lockWait, waitForCompany: false });
    connection.lockedElsewhere = true;
    const failedAt: Record<string, number> = {};
    const asked = (value: string) => {
      const askedAt = clock.ms;
      return committer
        .run(async (tx) => tx.write(value))
        .catch((error: unknown) => {
          failedAt[value] = clock.ms - askedAt;
          return error;
        });
    };
    const first = asked('a');
    await nextTurn();
    const queued = [asked('b'), asked('c')];
    await Promise.all([first, ...queued]);
    // Each gave up about 200 ms after it was asked for (a pause is at most 50 ms), not 200 ms after the one before it.
    for (const value of ['a', 'b', 'c']) {
      expect(failedAt[value]).toBeGreaterThanOrEqual(200);
      expect(failedAt[value]).toBeLessThan(250);
    }
    expect(connection.committed).toEqual([]);
  });

  it('fails at once on a taken lock without a lock wait', async () => {
    const { connection, write } = setup();
    connection.lockedElsewhere = true;
    await expect(write('a')).rejects.toThrow('database is locked');
    expect(connection.log).toEqual(['BEGIN busy']);
  });
});

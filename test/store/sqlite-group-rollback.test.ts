import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isPassingStoreFailure, TransactionRolledBackError } from '../../src/ports/store.js';
import { createSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';

const dirs: string[] = [];
const stores: SqliteStore[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function openStore(): SqliteStore {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-group-rollback-'));
  dirs.push(dir);
  // The group commit clock stands still: a transaction asked for while another runs always joins
  // its group, however slow the machine (no group grows too old to admit it).
  const store = createSqliteStore({ path: path.join(dir, 'consentry.db'), groupCommitClock: () => 0 });
  stores.push(store);
  return store;
}

/**
 * A write that makes SQLite end the whole transaction it runs in, as it does on SQLITE_IOERR,
 * SQLITE_NOMEM or an interrupt (https://www.sqlite.org/lang_transaction.html, "Response To Errors
 * Within A Transaction"); RAISE(ROLLBACK) does it on demand (https://www.sqlite.org/lang_createtrigger.html#raise).
 */
function endTransactionOnWriteOf(store: SqliteStore, key: string): void {
  store.db.exec(`CREATE TRIGGER end_transaction BEFORE INSERT ON meta WHEN NEW.key = '${key}' BEGIN SELECT RAISE(ROLLBACK, 'the transaction was ended'); END`);
}

async function rejectionOf(outcome: Promise<unknown>): Promise<unknown> {
  return outcome.then(
    () => new Error('the transaction was committed'),
    (error: unknown) => error,
  );
}

describe('a commit group the database rolled back for one of its transactions', () => {
  it('rejects that transaction with its own error and the ones done before it with TransactionRolledBackError; nothing of either is written', async () => {
    const store = openStore();
    endTransactionOnWriteOf(store, 'ends.the.transaction');
    // Asked for in the same turn: the second waits for the first and joins its group.
    const done = store.transaction(async (tx) => {
      await tx.setMeta('written.first', 1);
      return 'done';
    });
    const ending = store.transaction((tx) => tx.setMeta('ends.the.transaction', 1));

    const endingError = await rejectionOf(ending);
    expect(endingError).toMatchObject({ code: 'SQLITE_CONSTRAINT_TRIGGER', message: 'the transaction was ended' });
    expect(isPassingStoreFailure(endingError)).toBe(false);
    const doneError = await rejectionOf(done);
    if (!(doneError instanceof TransactionRolledBackError)) throw new Error(`expected TransactionRolledBackError, got ${String(doneError)}`);
    expect(doneError.cause).toBe(endingError);
    expect(doneError.code).toBe('SQLITE_CONSTRAINT_TRIGGER');
    expect(isPassingStoreFailure(doneError)).toBe(true);

    expect(await store.read((tx) => tx.getMeta('written.first'))).toBeUndefined();
    expect(store.db.inTransaction).toBe(false);
    // Run again, the rolled-back transaction commits.
    await store.transaction((tx) => tx.setMeta('written.first', 2));
    expect(await store.read((tx) => tx.getMeta('written.first'))).toBe(2);
  });
});

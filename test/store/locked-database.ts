import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { createSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';

/**
 * A store on a database file, and a second connection to the same file that stands for another
 * process (an import, a backup): `other.exec('BEGIN IMMEDIATE')` takes the write lock the store
 * then waits for. The store's lock wait runs on `lockClock`: each pause yields one turn of the
 * event loop and moves the clock by the pause asked for, so a test waits on no real time.
 */
export interface StoreBesideAnotherProcess {
  dir: string;
  file: string;
  store: SqliteStore;
  other: BetterSqlite3.Database;
  lockClock: { ms: number };
  /** Gives the lock back, closes both connections and removes the directory. */
  close(): Promise<void>;
}

export function storeBesideAnotherProcess(prefix: string): StoreBesideAnotherProcess {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const file = path.join(dir, 'consentry.db');
  const lockClock = { ms: 0 };
  const store = createSqliteStore({
    path: file,
    busyTimeoutMs: 60_000,
    groupCommitClock: () => lockClock.ms,
    pauseForLock: async (ms) => {
      await new Promise<void>((resolve) => setImmediate(resolve));
      lockClock.ms += ms;
    },
  });
  const other = new BetterSqlite3(file);
  return {
    dir,
    file,
    store,
    other,
    lockClock,
    async close() {
      if (other.inTransaction) other.exec('ROLLBACK');
      other.close();
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

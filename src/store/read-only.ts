import { chmodSync, closeSync, copyFileSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { Database, Statement } from 'better-sqlite3';
import { ConsentryError } from '../core/errors.js';
import { aroundEachMethod, refusedWrite, refusingWritesByName } from './common.js';
import { knownAppliedMigrations, MIGRATIONS, type Migration } from './migrations.js';

export { ReadOnlyStoreError, WriteInsideReadError } from './common.js';

/**
 * A database whose schema is older than this build's, opened read-only: reading it would need
 * the pending migrations, and applying them is a write. A writable open upgrades it.
 */
export class SchemaUpgradeNeededError extends ConsentryError {
  readonly path: string;
  /** The schema version the database has. */
  readonly version: number;
  /** The schema version this build reads. */
  readonly supported: number;

  constructor(path: string, version: number, supported: number) {
    super('CONFLICT', `${path} has schema version ${version}, older than the version ${supported} this build of Consentry reads: open it once for writing to upgrade it`);
    this.name = 'SchemaUpgradeNeededError';
    this.path = path;
    this.version = version;
    this.supported = supported;
  }
}

/** A read-only connection, and what its store needs to read through it and nothing else. */
export interface ReadOnlyConnection {
  readonly db: Database;
  /**
   * Starts a DEFERRED transaction: it takes no write lock, so it never waits for a writer, and in
   * WAL mode it reads the last committed snapshot beside one (https://www.sqlite.org/wal.html#concurrency).
   * BEGIN IMMEDIATE would take the write lock even on a read-only connection.
   */
  begin(): void;
  /** `tx`, with a write SQLite refuses on the read-only connection turned into a ReadOnlyStoreError naming the method. */
  guard<T extends object>(tx: T): T;
  /** Closes the connection and removes the temporary copy it read, if it read one. */
  close(): void;
}

/**
 * Result codes of a read-only connection to a WAL database that can neither use nor create the
 * -wal and -shm files beside it (https://www.sqlite.org/wal.html#readonly,
 * https://www.sqlite.org/rescode.html): a read-only directory or mount, a -shm it cannot lock.
 */
const NEEDS_WAL_FILES: ReadonlySet<string> = new Set(['SQLITE_READONLY_DIRECTORY', 'SQLITE_CANTOPEN', 'SQLITE_READONLY_CANTINIT', 'SQLITE_READONLY_CANTLOCK']);

function sqliteCode(error: unknown): string | undefined {
  const code: unknown = error instanceof BetterSqlite3.SqliteError ? error.code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/** Bytes 18 and 19 of the header are 2 in a WAL database (https://www.sqlite.org/fileformat.html#file_format_version_numbers). */
function isWalDatabase(path: string): boolean {
  const header = Buffer.alloc(20);
  const fd = openSync(path, 'r');
  try {
    return readSync(fd, header, 0, header.length, 0) === header.length && header[18] === 2 && header[19] === 2;
  } finally {
    closeSync(fd);
  }
}

/**
 * The busy timeout only matters in rollback-journal mode, where a reader waits while a writer
 * commits (its PENDING and EXCLUSIVE locks, https://www.sqlite.org/lockingv3.html); a WAL reader
 * does not wait for a writer.
 */
function openInPlace(path: string, busyTimeoutMs: number): Database {
  const db = new BetterSqlite3(path, { readonly: true, fileMustExist: true, timeout: busyTimeoutMs });
  try {
    // The first read is where SQLite opens, or fails to create, the -wal and -shm of a WAL database.
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** Size and modification time of the database and its WAL: what a write between two looks would change. */
function fingerprint(path: string): string {
  return [path, `${path}-wal`]
    .map((file) => {
      try {
        const stat = statSync(file);
        return `${stat.size}:${stat.mtimeMs}`;
      } catch {
        return 'none';
      }
    })
    .join('/');
}

/**
 * The database and its WAL copied into a new private directory. No process has the database
 * open in WAL mode while its -shm is missing and cannot be created (every connection to a WAL
 * database keeps one, https://www.sqlite.org/tempfiles.html#shared_memory_files), so the copy is
 * what was last committed; a process that starts writing meanwhile changes the fingerprint, and
 * the copy is refused rather than read half old, half new.
 */
function temporaryCopy(path: string): { dir: string; path: string } {
  const before = fingerprint(path);
  const dir = mkdtempSync(join(tmpdir(), 'consentry-read-'));
  const copy = join(dir, 'database.db');
  try {
    copyFileSync(path, copy);
    try {
      copyFileSync(`${path}-wal`, `${copy}-wal`);
      chmodSync(`${copy}-wal`, 0o600);
    } catch (error) {
      if (!(error instanceof Error && Reflect.get(error, 'code') === 'ENOENT')) throw error;
    }
    chmodSync(copy, 0o600);
    if (fingerprint(path) !== before) throw new ConsentryError('CONFLICT', `${path} changed while it was being read; try again`);
    return { dir, path: copy };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * `tx`, with every write SQLite refuses (SQLITE_READONLY*: a read-only connection, or `PRAGMA
 * query_only`) turned into a ReadOnlyStoreError naming the method; inside `Store.read`, every
 * write method is refused by its name before it runs, and one SQLite refuses all the same is a
 * WriteInsideReadError.
 */
export function guardWrites<T extends object>(tx: T, within: 'read-only store' | 'read' = 'read-only store'): T {
  const refused = (error: unknown, operation: string): unknown => (sqliteCode(error)?.startsWith('SQLITE_READONLY') ? refusedWrite(operation, within) : error);
  return (within === 'read' ? refusingWritesByName : aroundEachMethod)(tx, (operation, call) => {
    try {
      const result = call();
      return result instanceof Promise
        ? result.catch((error: unknown) => {
            throw refused(error, operation);
          })
        : result;
    } catch (error) {
      throw refused(error, operation);
    }
  });
}

function connection(db: Database, copyDir: string | null, within: 'read-only store' | 'read' = 'read-only store'): ReadOnlyConnection {
  const begin: Statement<[]> = db.prepare('BEGIN DEFERRED');
  return {
    db,
    begin: () => {
      begin.run();
    },
    guard: (tx) => guardWrites(tx, within),
    close: () => {
      try {
        db.close();
      } finally {
        if (copyDir !== null) rmSync(copyDir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * Opens the database file at `path` for reading only (SQLITE_OPEN_READONLY): the file is never
 * written, its journal mode never changed, and no write lock is ever taken.
 *
 * A read-only connection to a WAL database needs its -wal and -shm files, existing or creatable
 * (https://www.sqlite.org/wal.html#readonly); through them it takes the shared locks that let it
 * read the last committed snapshot while a writer goes on. That is the way used whenever it
 * works. In a directory it may write, SQLite creates the two files when no other connection has
 * them, and leaves them, as it does for any reader; the database file itself is unchanged.
 *
 * When they cannot be created (a read-only directory or mount), the database and its WAL are
 * read from a private temporary copy, removed on close. The documented alternative, the
 * `immutable=1` URI parameter, is not available: better-sqlite3 is built with SQLITE_USE_URI=0
 * and opens without SQLITE_OPEN_URI, so `file:...?immutable=1` is taken as a plain file name
 * (and would be created as one). It would also be wrong whenever a -wal with committed
 * transactions is left beside the file, which `immutable` ignores, and the copy reads.
 */
export function openReadOnly(path: string, busyTimeoutMs: number): ReadOnlyConnection {
  try {
    return connection(openInPlace(path, busyTimeoutMs), null);
  } catch (error) {
    const code = sqliteCode(error);
    if (code === undefined || !NEEDS_WAL_FILES.has(code) || !isWalDatabase(path)) throw error;
  }
  const copy = temporaryCopy(path);
  try {
    return connection(openInPlace(copy.path, busyTimeoutMs), copy.dir);
  } catch (error) {
    rmSync(copy.dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * A read-only connection beside a writable store's own, for its reads (Store.read): in WAL mode
 * it reads the last committed snapshot and takes no lock a writer waits for, nor waits for one
 * (https://www.sqlite.org/wal.html#concurrency). The writer has the -wal and -shm open, so the
 * file is always read in place, never through a copy, which would go stale.
 */
export function openReaderBeside(path: string, busyTimeoutMs: number): ReadOnlyConnection {
  return connection(openInPlace(path, busyTimeoutMs), null, 'read');
}

/**
 * Refuses a schema this build cannot read as it stands, without changing it: a newer one or one
 * with a migration this build does not know (as migrate() does), and an older one, which only a
 * writable open may migrate.
 */
export function checkReadableSchema(db: Database, path: string, migrations: readonly Migration[] = MIGRATIONS): void {
  const applied = knownAppliedMigrations(db, migrations);
  if (applied.length < migrations.length) throw new SchemaUpgradeNeededError(path, applied.at(-1)?.version ?? 0, migrations.at(-1)?.version ?? 0);
}

import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { canonicalUlid } from '../core/contact.js';
import { isConsentryError } from '../core/errors.js';
import type { Workspace } from '../core/settings.js';
import type { Engine, WorkspaceEngine } from '../engine.js';
import { createEngine } from '../engine.js';
import { createSqliteStore, SchemaUpgradeNeededError, type SqliteStore } from '../store/sqlite.js';
import type { CliIo } from './io.js';
import { cannotCreateFilesIn, CliFailure, CliRefusal, exitCodeOf } from './io.js';

export const DEFAULT_DATABASE_PATH = './data/consentry.db';

/** The `--db` option every command that opens the database takes, and its help. */
export const DB_OPTION = '--db <path>';
export const DB_HELP = `SQLite database file (default: $DATABASE_PATH or ${DEFAULT_DATABASE_PATH})`;

export interface DatabaseOptions {
  db?: string;
  workspace?: string;
}

/**
 * `--db`, else `DATABASE_PATH`, else the default. An empty `DATABASE_PATH` counts as unset, as
 * everywhere in the configuration; an empty `--db` is refused: SQLite would open a temporary
 * database that disappears on close, taking whatever the command wrote with it.
 */
export function databasePath(options: DatabaseOptions, io: CliIo): string {
  if (options.db !== undefined) {
    if (options.db.trim() === '') throw new CliRefusal('--db must name a database file');
    return options.db;
  }
  const fromEnv = io.env.DATABASE_PATH;
  return fromEnv !== undefined && fromEnv.trim() !== '' ? fromEnv : DEFAULT_DATABASE_PATH;
}

export interface OpenOptions {
  /**
   * Commands that only read refuse a database file that does not exist, rather than create an
   * empty one: a mistyped path must not read as a valid, empty ledger.
   */
  mustExist?: boolean;
  /**
   * Commands that only read (verify, export, history, classify --workspace) open the file
   * read-only: they work on a read-only file, directory or mount, leave the file exactly as it
   * was (no switch to WAL, no migration), and never wait for another process's write lock.
   * Implies mustExist.
   */
  readOnly?: boolean;
}

/** Opens the embedded store at the command's path, turning what SQLite says about a bad file into one clear line. */
export function openStore(options: DatabaseOptions, io: CliIo, open: OpenOptions = {}): SqliteStore {
  const synchronous = io.env.DATABASE_SYNCHRONOUS?.trim().toUpperCase() === 'FULL' ? 'FULL' : 'NORMAL';
  return openStoreAt(databasePath(options, io), synchronous, open);
}

/**
 * SQLite's result codes of failures that are not the input's fault (https://www.sqlite.org/rescode.html):
 * a lock another connection holds, a full disk, an I/O error; extended codes start with these.
 */
const TRANSIENT_SQLITE_CODES = ['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_FULL', 'SQLITE_IOERR'] as const;

export function openStoreAt(path: string, synchronous: 'NORMAL' | 'FULL', open: OpenOptions = {}): SqliteStore {
  if (path !== ':memory:' && existsSync(path) && statSync(path).isDirectory()) throw new CliRefusal(`${path} is a directory, not a database file`);
  // A missing or empty file, for a command that only reads, is the store's NOT_FOUND.
  try {
    return open.readOnly === true ? createSqliteStore({ path, readOnly: true }) : createSqliteStore({ path, synchronous, createIfMissing: !open.mustExist });
  } catch (error) {
    throw openFailure(path, error, open);
  }
}

/**
 * How a command says it could not open the database: a refusal (exit code 2) for what the path
 * or the file is (none there, not a database, another schema, no permission), a failure on the
 * way (exit code 1) for a lock another process holds, a full disk or an I/O error.
 */
export function openFailure(path: string, error: unknown, open: OpenOptions = {}): CliFailure {
  // Absolute, as every command names its database: a path relative to another working directory shows.
  const noDatabase = `No database at ${resolvedDatabasePath(path)}: name one with --db or DATABASE_PATH (consentry serve, import and keys create make a new one)`;
  if (isConsentryError(error) && error.code === 'NOT_FOUND') return new CliRefusal(noDatabase);
  if (error instanceof SchemaUpgradeNeededError) {
    return new CliRefusal(
      `${path} has database schema version ${error.version}, older than this version of Consentry reads (${error.supported}), and this command only reads it: run \`consentry serve\` or a command that writes (such as \`consentry import\`) on it once to upgrade it`,
    );
  }
  const { code, reason } = sqliteFailure(error);
  if (code === 'SQLITE_NOTADB') return new CliRefusal(`${path} is not a Consentry database (${reason})`);
  // The store's own refusals (another application's tables, a newer schema, ...) mostly name the file; those that do not get it in front.
  if (isConsentryError(error)) return new CliFailure(reason.includes(path) ? reason : `${path}: ${reason}`, exitCodeOf(error));
  const denied = path === ':memory:' ? undefined : permissionDenied(path, open.readOnly === true);
  if (denied !== undefined) return new CliRefusal(`Cannot open the database ${path}: ${denied}`);
  // A lock another process holds, a full disk, an I/O error: a failure on the way, which a later run may not meet.
  if (TRANSIENT_SQLITE_CODES.some((prefix) => code?.startsWith(prefix) === true)) return new CliFailure(`Cannot open the database ${path}: ${reason}`);
  return new CliRefusal(`Cannot open the database ${path}: ${reason}`);
}

/**
 * Why this user may not open the database, when that is why it failed: SQLite says only "unable to
 * open database file" (SQLITE_CANTOPEN) for a directory it cannot create the file in, and a
 * writer also needs to create the `-wal` and `-shm` files beside it (https://www.sqlite.org/wal.html).
 */
function permissionDenied(path: string, readOnly: boolean): string | undefined {
  const file = resolve(path);
  if (existsSync(file)) {
    if (!accessible(file, readOnly ? constants.R_OK : constants.R_OK | constants.W_OK)) {
      return `permission denied: this user cannot ${readOnly ? 'read' : 'read and write'} ${path}`;
    }
    if (readOnly) return undefined;
  }
  // The nearest directory that exists is where the file, or the directories leading to it, would be created.
  let directory = dirname(file);
  while (!existsSync(directory) && dirname(directory) !== directory) directory = dirname(directory);
  if (!accessible(directory, constants.W_OK | constants.X_OK)) return `permission denied: ${cannotCreateFilesIn(directory)}`;
  return undefined;
}

function accessible(path: string, mode: number): boolean {
  try {
    accessSync(path, mode);
    return true;
  } catch {
    return false;
  }
}

/**
 * A workspace by id, or by name without regard to letter case (names are what people type);
 * when two names differ only in case, the exact spelling decides and otherwise the id must.
 */
export function findWorkspace(workspaces: readonly Workspace[], typed: string): Workspace | undefined {
  // Names are stored trimmed, and ids in upper case.
  const wanted = typed.trim();
  const byId = workspaces.find((w) => w.id === canonicalUlid(wanted));
  if (byId) return byId;
  const exact = workspaces.filter((w) => w.name === wanted);
  if (exact.length === 1) return exact[0];
  const folded = wanted.toLocaleLowerCase('und');
  const loose = workspaces.filter((w) => w.name.toLocaleLowerCase('und') === folded);
  // The exact matches are among the case-insensitive ones: listing these names each workspace once.
  if (loose.length > 1) throw new CliRefusal(`Several workspaces are named "${wanted}" (${loose.map((w) => w.id).join(', ')}): name one by its id`);
  return loose[0];
}

/** The database file as a person finds it again: absolute, so a command run from another directory names the same file. */
export function resolvedDatabasePath(path: string): string {
  return path === ':memory:' ? path : resolve(path);
}

/** Whether opening `path` for writing makes a new database: no file there yet, or an empty one (SQLite's own new-file state). */
export function isNewDatabase(path: string): boolean {
  if (path === ':memory:' || !existsSync(path)) return true;
  const stats = statSync(path);
  return stats.isFile() && stats.size === 0;
}

export interface OpenedWorkspace {
  /** The database had no workspace: the command made its default one now. */
  workspaceCreated: boolean;
}

/** Opens the store and the engine for one command on one workspace (`--workspace`, else the first), and closes them after it. */
export async function withEngine<T>(
  options: DatabaseOptions,
  io: CliIo,
  work: (engine: Engine, workspace: WorkspaceEngine, opened: OpenedWorkspace) => Promise<T>,
  open: OpenOptions = {},
): Promise<T> {
  // A workspace named on the command line can only be in a database that exists already.
  const mustExist = open.mustExist === true || options.workspace !== undefined;
  return withWorkspaces(options, io, { ...open, mustExist }, async (engine, workspaces) => {
    const existing = workspaces[0];
    const first = existing ?? (mustExist ? undefined : await engine.ensureDefaultWorkspace());
    if (!first) throw new CliRefusal(`No workspace in ${resolvedDatabasePath(databasePath(options, io))}`);
    return work(engine, engine.workspace(first.id), { workspaceCreated: existing === undefined });
  });
}

/**
 * Opens the store and the engine for a command that reads every workspace unless `--workspace`
 * names one: the workspaces it covers, in creation order, and the store, for what only SQLite has.
 */
export async function withWorkspaces<T>(
  options: DatabaseOptions,
  io: CliIo,
  open: OpenOptions,
  work: (engine: Engine, workspaces: readonly Workspace[], store: SqliteStore) => Promise<T>,
): Promise<T> {
  const store = openStore(options, io, open);
  try {
    const engine = createEngine({ store });
    const all = await engine.listWorkspaces();
    if (options.workspace === undefined) return await work(engine, all, store);
    const match = findWorkspace(all, options.workspace);
    if (!match) throw new CliRefusal(`No workspace "${options.workspace}" in ${resolvedDatabasePath(databasePath(options, io))}`);
    return await work(engine, [match], store);
  } catch (error) {
    throw damagedDatabase(error, databasePath(options, io)) ?? error;
  } finally {
    await store.close();
  }
}

/**
 * A file SQLite finds damaged while a command reads it (https://www.sqlite.org/rescode.html#corrupt:
 * SQLITE_CORRUPT and its extended codes, SQLITE_NOTADB) as one line naming the file, as a file
 * damaged where it is opened already is, instead of a stack trace.
 */
function damagedDatabase(error: unknown, path: string): CliFailure | null {
  const { code, reason } = sqliteFailure(error);
  if (code === undefined || !(code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB')) return null;
  return new CliFailure(`${path} is damaged (${reason}, ${code}): restore it from a backup; \`sqlite3 ${path} .recover\` may save what is readable`);
}

/** What better-sqlite3 says of a failure: its result code (`SQLITE_CORRUPT`, ...) when it has one, and its message. */
function sqliteFailure(error: unknown): { code: string | undefined; reason: string } {
  const code = error instanceof Error ? Reflect.get(error, 'code') : undefined;
  return { code: typeof code === 'string' ? code : undefined, reason: error instanceof Error ? error.message : String(error) };
}

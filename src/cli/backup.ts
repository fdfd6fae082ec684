import { closeSync, existsSync, openSync, rmSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { databasePath, openStore, resolvedDatabasePath, type DatabaseOptions } from './database.js';
import { CliFailure, CliRefusal, whyCannotCreate, writeLine, type CliIo } from './io.js';

/**
 * Why the new backup file cannot be created, when the path is at fault (exit code 2, nothing
 * written), in the words `import --report` uses for its file (whyCannotCreate); undefined for a
 * failure on the way.
 */
function uncreatable(target: string, error: unknown): CliRefusal | undefined {
  const exists = error instanceof Error && Reflect.get(error, 'code') === 'EEXIST';
  const why = exists ? 'it exists: name a new file, so that no earlier backup is overwritten' : whyCannotCreate(dirname(resolve(target)), error);
  return why === undefined ? undefined : new CliRefusal(`Cannot write the backup ${target}: ${why}`);
}

/**
 * A consistent copy of a database that may be in use, through SQLite's online backup
 * (https://www.sqlite.org/backup.html): it copies the committed state, the commits still in the
 * `-wal` file included, while a server goes on writing. A plain copy of the file under a running
 * server can be torn (pages of two moments), and one without its `-wal` misses the latest commits.
 * The copy is then checked page by page (`PRAGMA integrity_check`) before it is reported good.
 */
export async function backupCommand(options: DatabaseOptions, target: string, io: CliIo): Promise<void> {
  if (target.trim() === '') throw new CliRefusal('the backup file must be named');
  if (existsSync(target)) throw new CliRefusal(`${target} exists: name a new file, so that no earlier backup is overwritten`);
  const source = databasePath(options, io);
  const store = openStore(options, io, { readOnly: true });
  let created = false;
  try {
    try {
      // Readable by its owner only, like the database it copies (tokens and personal data); created
      // new ('wx'), so a file or link that appeared at the path meanwhile is never written through.
      closeSync(openSync(target, 'wx', 0o600));
      created = true;
    } catch (error) {
      // Nothing was created: a path that cannot take a new file is the argument's fault, not a failure on the way.
      throw uncreatable(target, error) ?? error;
    }
    await store.db.backup(target);
  } catch (error) {
    // A backup that failed half-way is no backup: leave nothing that could be mistaken for one,
    // and never remove a file this command did not create.
    if (created) rmSync(target, { force: true });
    if (error instanceof CliRefusal) throw error;
    // The target was new and named: what fails now (a full disk, an I/O error, a lock) happened on the way.
    throw new CliFailure(`Cannot write the backup ${target}: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    await store.close();
  }
  const copy = new BetterSqlite3(target, { readonly: true, fileMustExist: true });
  try {
    const problems = copy.pragma('integrity_check', { simple: false }) as { integrity_check: string }[];
    const verdict = problems.map((row) => row.integrity_check);
    if (verdict.length !== 1 || verdict[0] !== 'ok') throw new CliFailure(`The backup ${target} fails SQLite's integrity check: ${verdict.slice(0, 3).join('; ')}`);
    const pages = Number(copy.pragma('page_count', { simple: true }));
    // Absolute, as every command names its database: a copy made from another working directory shows.
    writeLine(io.stdout, `Backed up ${resolvedDatabasePath(source)} to ${resolve(target)} (${pages} pages, ${statSync(target).size} bytes); integrity check ok`);
  } finally {
    copy.close();
  }
}

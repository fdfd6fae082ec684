import { closeSync, existsSync, openSync, rmSync, statSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { databasePath, openStore, type DatabaseOptions } from './database.js';
import { CliFailure, CliRefusal, writeLine, type CliIo } from './io.js';

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
  try {
    // Readable by its owner only, like the database it copies (tokens and personal data); created
    // new ('wx'), so a file or link that appeared at the path meanwhile is never written through.
    closeSync(openSync(target, 'wx', 0o600));
    await store.db.backup(target);
  } catch (error) {
    // A backup that failed half-way is no backup: leave nothing that could be mistaken for one.
    rmSync(target, { force: true });
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
    writeLine(io.stdout, `Backed up ${source} to ${target} (${pages} pages, ${statSync(target).size} bytes); integrity check ok`);
  } finally {
    copy.close();
  }
}

import { describe, expect, it } from 'vitest';
import { openFailure } from '../../src/cli/database.js';
import { ConsentryError } from '../../src/core/errors.js';
import { EXIT_CODES } from '../../src/cli/io.js';

/** An error as better-sqlite3 throws it: a message and SQLite's result code. */
function sqliteError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('openFailure: how a command says it could not open the database', () => {
  it('fails on the way (exit code 1) for a lock, a full disk, an I/O error, and the store waiting too long for a lock', () => {
    for (const [code, message] of [
      ['SQLITE_BUSY', 'database is locked'],
      ['SQLITE_LOCKED_SHAREDCACHE', 'database table is locked'],
      ['SQLITE_FULL', 'database or disk is full'],
      ['SQLITE_IOERR_WRITE', 'disk I/O error'],
    ] as const) {
      const failure = openFailure(':memory:', sqliteError(code, message));
      expect(failure.exitCode, code).toBe(EXIT_CODES.failed);
      expect(failure.message).toBe(`Cannot open the database :memory:: ${message}`);
    }
    expect(openFailure('/srv/c.db', new ConsentryError('STORE_BUSY', 'another process holds the write lock')).exitCode).toBe(EXIT_CODES.failed);
  });

  it('refuses (exit code 2) what the file is: none there, not a database, a refusal of the store', () => {
    expect(openFailure('/srv/c.db', new ConsentryError('NOT_FOUND', 'no database')).exitCode).toBe(EXIT_CODES.refused);
    expect(openFailure('/srv/c.db', sqliteError('SQLITE_NOTADB', 'file is not a database'))).toMatchObject({
      exitCode: EXIT_CODES.refused,
      message: '/srv/c.db is not a Consentry database (file is not a database)',
    });
    expect(openFailure('/srv/c.db', new ConsentryError('CONFLICT', '/srv/c.db holds tables of another application')).exitCode).toBe(EXIT_CODES.refused);
    expect(openFailure(':memory:', sqliteError('SQLITE_CANTOPEN', 'unable to open database file')).exitCode).toBe(EXIT_CODES.refused);
  });
});

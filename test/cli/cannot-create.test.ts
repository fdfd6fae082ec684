import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { cli, useTemporaryDatabase } from './helpers.js';

/**
 * The directory whose files cannot be created, and the error the system gives for it: a read-only
 * file system or a directory closed to this user cannot be made in a test run as root, so the
 * calls that would meet them (fs.openSync for a backup, fs.promises.access for a report) answer
 * as the system would.
 */
const refusal = vi.hoisted(() => ({ directory: '', code: '' }));

function systemError(syscall: string, path: string): Error {
  return Object.assign(new Error(`${refusal.code}: ${syscall} '${path}'`), { code: refusal.code, syscall, path });
}

vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs')>();
  const { dirname } = await import('node:path');
  const openSync = ((path: import('node:fs').PathLike, ...rest: unknown[]) => {
    if (refusal.code !== '' && dirname(String(path)) === refusal.directory) throw systemError('open', String(path));
    return (actual.openSync as (...args: unknown[]) => number)(path, ...rest);
  }) as typeof actual.openSync;
  return { ...actual, openSync, default: { ...actual, openSync } };
});

vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  const access = async (path: import('node:fs').PathLike, mode?: number): Promise<void> => {
    if (refusal.code !== '' && String(path) === refusal.directory) throw systemError('access', String(path));
    return actual.access(path, mode);
  };
  return { ...actual, access, default: { ...actual, access } };
});

let dir: string;
let db: string;
useTemporaryDatabase('consentry-cli-cannot-create-', (paths) => {
  ({ dir, db } = paths);
});
afterEach(() => {
  refusal.directory = '';
  refusal.code = '';
});

describe('backup and import --report say why a file cannot be created in the same words', () => {
  it.each([
    ['EROFS', (directory: string) => `${directory} is on a read-only file system`],
    ['EACCES', (directory: string) => `this user cannot create files in ${directory}`],
    ['EPERM', (directory: string) => `this user cannot create files in ${directory}`],
  ])('%s', async (code, why) => {
    await createSqliteStore({ path: db }).close();
    const csv = join(dir, 'consents.csv');
    writeFileSync(csv, 'email,purpose,channel,status\nana@example.com,marketing,email,opted_out\n');
    const closed = join(dir, 'closed');
    mkdirSync(closed);
    refusal.directory = closed;
    refusal.code = code;

    const backup = await cli(['backup', join(closed, 'b.db'), '--db', db]);
    expect(backup.code).toBe(2);
    expect(backup.stderr).toBe(`error: Cannot write the backup ${join(closed, 'b.db')}: ${why(closed)}\n`);

    const report = await cli(['import', csv, '--db', db, '--report', join(closed, 'rejected.csv')]);
    expect(report.code).toBe(2);
    expect(report.stderr).toBe(`error: --report: cannot create ${join(closed, 'rejected.csv')}: ${why(closed)}\n`);
  });
});

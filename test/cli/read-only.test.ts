import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine.js';
import { MIGRATIONS, migrate } from '../../src/store/migrations.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { cli, useTemporaryDatabase } from './helpers.js';

let dir = '';
let db = '';
useTemporaryDatabase('consentry-cli-read-only-', (paths) => {
  ({ dir, db } = paths);
});

/** Directories a test made read-only, given their permissions back so the temporary directory can be removed. */
const lockedDirs: string[] = [];
afterEach(() => {
  for (const locked of lockedDirs.splice(0)) chmodSync(locked, 0o755);
});

const projectRoot = fileURLToPath(new URL('../../', import.meta.url));
const cliEntry = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

/** Permissions do not stop root: then the commands also run as an unprivileged user, in a process of their own. */
const isRoot = process.getuid?.() === 0;
const UNPRIVILEGED = 65534;
const canRunUnprivileged = isRoot && spawnSync(process.execPath, ['-e', ''], { uid: UNPRIVILEGED, gid: UNPRIVILEGED }).status === 0;

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Bytes 18 and 19 of the header: 2 in WAL mode, 1 with a rollback journal (https://www.sqlite.org/fileformat.html). */
function journalFormat(file: string): number[] {
  const header = readFileSync(file).subarray(18, 20);
  return [header[0] ?? 0, header[1] ?? 0];
}

const READERS = [['verify'], ['export'], ['export', '--format', 'json'], ['history', 'ana@example.com'], ['keys', 'list']];

/** What each reader prints of the seeded database. */
function expectedOutput(args: readonly string[]): string {
  if (args[0] === 'verify') return '"ok":true';
  if (args[0] === 'keys') return 'last used';
  return 'ana@example.com';
}

async function seed(path: string): Promise<void> {
  const csv = join(dir, 'seed.csv');
  writeFileSync(csv, 'email,purpose,channel,status\nana@example.com,marketing,email,opted_out\nbob@example.com,marketing,sms,opted_out\n');
  const run = await cli(['import', csv, '--db', path]);
  expect(run.code, run.stderr).toBe(0);
}

function unprivileged(args: readonly string[]): { code: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, ['--import', 'tsx', cliEntry, ...args], {
    cwd: projectRoot,
    uid: UNPRIVILEGED,
    gid: UNPRIVILEGED,
    env: { PATH: process.env.PATH },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** Makes `file` and its directory read-only for everyone, and the test's directory above them readable by the unprivileged user. */
function lockDirectory(target: string, file: string): void {
  chmodSync(dir, 0o755);
  chmodSync(file, 0o444);
  chmodSync(target, 0o555);
  lockedDirs.push(target);
}

describe('verify, export and history open the database read-only', () => {
  it('read a read-only file in a read-only directory and leave it, and the directory, as they were', { timeout: 120_000 }, async () => {
    const roDir = join(dir, 'archive');
    mkdirSync(roDir);
    const archived = join(roDir, 'consentry.db');
    await seed(archived);
    expect(existsSync(`${archived}-wal`)).toBe(false);
    lockDirectory(roDir, archived);
    const before = sha256(archived);

    for (const args of READERS) {
      const run = await cli([...args, '--db', archived]);
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(0);
      expect(run.stdout, args.join(' ')).toContain(expectedOutput(args));
      expect(sha256(archived), args.join(' ')).toBe(before);
      // Root may write anywhere, so SQLite can create the -wal and -shm a reader of a WAL database uses.
      if (!isRoot) expect([existsSync(`${archived}-wal`), existsSync(`${archived}-shm`)], args.join(' ')).toEqual([false, false]);
    }
    if (!canRunUnprivileged) return;
    for (const args of READERS) {
      const run = unprivileged([...args, '--db', archived]);
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(0);
      expect(run.stdout, args.join(' ')).toContain(expectedOutput(args));
    }
    expect(sha256(archived)).toBe(before);
  });

  it.runIf(canRunUnprivileged)('as a user who cannot write the file or the directory, leave no -wal or -shm beside it', { timeout: 120_000 }, async () => {
    const roDir = join(dir, 'snapshot');
    mkdirSync(roDir);
    const snapshot = join(roDir, 'consentry.db');
    await seed(snapshot);
    lockDirectory(roDir, snapshot);
    const before = sha256(snapshot);
    for (const args of READERS) {
      const run = unprivileged([...args, '--db', snapshot]);
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(0);
      expect([existsSync(`${snapshot}-wal`), existsSync(`${snapshot}-shm`)], args.join(' ')).toEqual([false, false]);
    }
    expect(sha256(snapshot)).toBe(before);
    const writing = unprivileged(['import', join(dir, 'seed.csv'), '--db', snapshot]);
    expect(writing.code).toBe(2);
    expect(sha256(snapshot)).toBe(before);
  });

  it('read the records committed only to a -wal left beside a read-only file', { timeout: 120_000 }, async () => {
    // A copy taken while a server ran: the last transactions are in the -wal, not yet in the file.
    const live = createSqliteStore({ path: db, checkpointInBackground: false, walAutocheckpointPages: 100_000 });
    const workspace = createEngine({ store: live }).workspace((await createEngine({ store: live }).ensureDefaultWorkspace()).id);
    await workspace.bulkSetConsent([
      { email: 'ana@example.com', purpose: 'marketing', channel: 'email', status: 'opted_out' },
      { email: 'bob@example.com', purpose: 'marketing', channel: 'email', status: 'opted_out' },
    ]);
    const roDir = join(dir, 'copied');
    mkdirSync(roDir);
    const copied = join(roDir, 'consentry.db');
    copyFileSync(db, copied);
    copyFileSync(`${db}-wal`, `${copied}-wal`);
    await live.close();
    chmodSync(`${copied}-wal`, 0o444);
    lockDirectory(roDir, copied);
    const before = [sha256(copied), sha256(`${copied}-wal`)];

    const expectBoth = (stdout: string): void => {
      const exported: unknown = JSON.parse(stdout);
      expect(exported).toEqual([expect.objectContaining({ email: 'ana@example.com' }), expect.objectContaining({ email: 'bob@example.com' })]);
    };
    const inProcess = await cli(['export', '--format', 'json', '--db', copied]);
    expect(inProcess.code, inProcess.stderr).toBe(0);
    expectBoth(inProcess.stdout);
    if (canRunUnprivileged) {
      const run = unprivileged(['export', '--format', 'json', '--db', copied]);
      expect(run.code, run.stderr).toBe(0);
      expectBoth(run.stdout);
      expect(existsSync(`${copied}-shm`) && !isRoot).toBe(false);
    }
    expect([sha256(copied), sha256(`${copied}-wal`)]).toEqual(before);
  });

  it('leave a database in rollback-journal mode in that mode, byte for byte, with no -wal or -shm', async () => {
    await seed(db);
    const raw = new Database(db);
    raw.pragma('journal_mode = DELETE');
    raw.close();
    expect(journalFormat(db)).toEqual([1, 1]);
    const before = sha256(db);
    for (const args of READERS) {
      const run = await cli([...args, '--db', db]);
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(0);
      expect(sha256(db), args.join(' ')).toBe(before);
      expect(journalFormat(db)).toEqual([1, 1]);
      expect([existsSync(`${db}-wal`), existsSync(`${db}-shm`)], args.join(' ')).toEqual([false, false]);
    }
  });

  it("do not wait for another connection's write lock", { timeout: 30_000 }, async () => {
    await seed(db);
    const writer = new Database(db);
    writer.exec('BEGIN IMMEDIATE');
    writer.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('held', '"by another process"');
    try {
      for (const args of READERS) {
        const started = performance.now();
        const run = await cli([...args, '--db', db]);
        expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(0);
        // Well under the 5 s a writer waits for the lock before giving up.
        expect(performance.now() - started, args.join(' ')).toBeLessThan(2_500);
      }
    } finally {
      writer.exec('ROLLBACK');
      writer.close();
    }
  });

  it('refuse a schema older than this version in one line, without migrating it; a command that writes upgrades it', async () => {
    const raw = new Database(db);
    migrate(raw, MIGRATIONS.slice(0, -1));
    raw.close();
    const before = sha256(db);
    for (const args of READERS) {
      const run = await cli([...args, '--db', db]);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr.split('\n').filter(Boolean), args.join(' ')).toEqual([
        `error: ${db} has database schema version ${MIGRATIONS.at(-2)?.version}, older than this version of Consentry reads (${MIGRATIONS.at(-1)?.version}), and this command only reads it: run \`consentry serve\` or a command that writes (such as \`consentry import\`) on it once to upgrade it`,
      ]);
      expect(sha256(db), args.join(' ')).toBe(before);
    }
    await seed(db);
    expect((await cli(['verify', '--db', db])).code).toBe(0);
  });

  it('refuse a schema newer than this version, as before', async () => {
    await seed(db);
    const raw = new Database(db);
    const newer = (MIGRATIONS.at(-1)?.version ?? 0) + 1;
    raw.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from a later version', '2026-01-01T00:00:00.000Z')").run(newer);
    raw.close();
    const before = sha256(db);
    const run = await cli(['verify', '--db', db]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`database schema version ${newer} is newer than this build of Consentry supports`);
    expect(sha256(db)).toBe(before);
  });
});

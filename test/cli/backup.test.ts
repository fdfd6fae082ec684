import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { cli, useTemporaryDatabase } from './helpers.js';

let dir = '';
let db = '';
useTemporaryDatabase('consentry-cli-backup-', (paths) => {
  ({ dir, db } = paths);
});

describe('consentry backup', () => {
  it('copies a database a server holds open, commits still in its -wal included, and the copy verifies', async () => {
    const store = createSqliteStore({ path: db, checkpointInBackground: false });
    try {
      const engine = createEngine({ store, clock: new FakeClock('2026-03-01T09:00:00.000Z') });
      const ws = engine.workspace((await engine.createWorkspace({ name: 'Acme', settings: { triggers: [] } })).id);
      for (let i = 0; i < 20; i += 1) await ws.handleInbound({ channel: 'sms', messageId: `m${i}`, from: { id: `+3460000${1000 + i}` }, text: 'STOP' });
      expect(existsSync(`${db}-wal`)).toBe(true);

      const target = join(dir, 'backup.db');
      const run = await cli(['backup', target, '--db', db]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^Backed up .* to .*backup\.db \(\d+ pages, \d+ bytes\); integrity check ok\n$/);

      // The database, its -wal and -shm, and the backup are readable by their owner only.
      for (const file of [db, `${db}-wal`, `${db}-shm`, target]) expect({ file, mode: statSync(file).mode & 0o777 }).toEqual({ file, mode: 0o600 });

      const verified = await cli(['verify', '--db', target]);
      expect(verified.code).toBe(0);
      expect(verified.stdout).toContain('"records":20');
    } finally {
      await store.close();
    }
  });

  it('refuses to write over an existing file, and names a missing database', async () => {
    const target = join(dir, 'earlier.db');
    writeFileSync(target, 'an earlier backup');
    const over = await cli(['backup', target, '--db', db]);
    expect(over.code).not.toBe(0);
    expect(over.stderr).toContain('exists: name a new file');
    const missing = await cli(['backup', join(dir, 'new.db'), '--db', join(dir, 'nothing.db')]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('No database at');
    expect(existsSync(join(dir, 'new.db'))).toBe(false);
  });

  it('refuses a file in a directory that does not exist with exit code 2, naming the directory, as import --report does', async () => {
    await createSqliteStore({ path: db }).close();
    const target = join(dir, 'nodir', 'b.db');
    const run = await cli(['backup', relative(process.cwd(), target), '--db', db]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`error: Cannot write the backup ${relative(process.cwd(), target)}: the directory ${join(dir, 'nodir')} does not exist\n`);
    expect(existsSync(target)).toBe(false);
  });

  it('names the database and the backup made absolute', async () => {
    await createSqliteStore({ path: db }).close();
    const target = join(dir, 'b.db');
    const run = await cli(['backup', relative(process.cwd(), target), '--db', relative(process.cwd(), db)]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.startsWith(`Backed up ${db} to ${target} (`)).toBe(true);
  });
});

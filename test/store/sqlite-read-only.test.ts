import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isConsentryError } from '../../src/core/errors.js';
import { defaultSettings } from '../../src/core/settings.js';
import { MIGRATIONS, migrate } from '../../src/store/migrations.js';
import { createSqliteStore, ReadOnlyStoreError, SchemaUpgradeNeededError, type SqliteStore } from '../../src/store/sqlite.js';

const T0 = '2026-01-01T00:00:00.000Z';

let dir = '';
let file = '';

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-read-only-'));
  file = path.join(dir, 'consentry.db');
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function sha256(target: string): string {
  return createHash('sha256').update(fs.readFileSync(target)).digest('hex');
}

/** A database with one workspace, written and closed by a writable store. */
async function writtenDatabase(): Promise<void> {
  const store = createSqliteStore({ path: file });
  await store.transaction((tx) => tx.insertWorkspace({ id: 'W1', name: 'Ana Test Shop', settings: defaultSettings(), createdAt: T0, updatedAt: T0 }));
  await store.close();
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('createSqliteStore({ readOnly: true })', () => {
  it('reads what a writable store wrote, and every write fails with ReadOnlyStoreError naming it, leaving the file as it was', async () => {
    await writtenDatabase();
    const raw = new BetterSqlite3(file);
    raw.pragma('journal_mode = DELETE');
    raw.close();
    const before = sha256(file);

    const store: SqliteStore = createSqliteStore({ path: file, readOnly: true });
    try {
      expect((await store.transaction((tx) => tx.listWorkspaces())).map((w) => w.name)).toEqual(['Ana Test Shop']);
      const insert = await rejection(
        store.transaction((tx) => tx.insertWorkspace({ id: 'W2', name: 'Other', settings: defaultSettings(), createdAt: T0, updatedAt: T0 })),
      );
      expect(insert).toBeInstanceOf(ReadOnlyStoreError);
      expect(insert).toMatchObject({ code: 'CONFLICT', operation: 'insertWorkspace' });
      const meta = await rejection(store.transaction((tx) => tx.setMeta('ana', { written: true })));
      expect(meta).toBeInstanceOf(ReadOnlyStoreError);
      expect(meta).toMatchObject({ operation: 'setMeta' });
      // A refused write leaves the store usable for reading.
      expect(await store.transaction((tx) => tx.getWorkspace('W1'))).toMatchObject({ name: 'Ana Test Shop' });
    } finally {
      await store.close();
    }
    expect(sha256(file)).toBe(before);
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
    expect(fs.existsSync(`${file}-shm`)).toBe(false);
  });

  it('does not wait for the write lock another connection holds', async () => {
    await writtenDatabase();
    const writer = new BetterSqlite3(file);
    writer.exec('BEGIN IMMEDIATE');
    writer.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('pending', '"uncommitted"');
    // A busy timeout of 0: a read that asked for the write lock would fail at once with SQLITE_BUSY.
    const store = createSqliteStore({ path: file, readOnly: true, busyTimeoutMs: 0 });
    try {
      expect(await store.transaction((tx) => tx.getWorkspace('W1'))).toMatchObject({ name: 'Ana Test Shop' });
      expect(await store.transaction((tx) => tx.getMeta('pending'))).toBeUndefined();
    } finally {
      await store.close();
      writer.exec('ROLLBACK');
      writer.close();
    }
  });

  it('refuses a schema older than this build without migrating it, and a newer one', async () => {
    const raw = new BetterSqlite3(file);
    migrate(raw, MIGRATIONS.slice(0, -1));
    raw.close();
    const before = sha256(file);
    const known = MIGRATIONS.at(-1)?.version ?? 0;
    const older = MIGRATIONS.at(-2)?.version ?? 0;

    const error = (() => {
      try {
        createSqliteStore({ path: file, readOnly: true });
      } catch (thrown) {
        return thrown;
      }
      return null;
    })();
    expect(error).toBeInstanceOf(SchemaUpgradeNeededError);
    expect(error).toMatchObject({ version: older, supported: known });
    expect(sha256(file)).toBe(before);

    const upgraded = createSqliteStore({ path: file });
    await upgraded.close();
    const future = new BetterSqlite3(file);
    future.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from the future', ?)").run(known + 1, T0);
    future.close();
    expect(() => createSqliteStore({ path: file, readOnly: true })).toThrow(`database schema version ${known + 1} is newer than this build of Consentry supports (${known})`);
  });

  it('needs an existing database file', () => {
    expect(() => createSqliteStore({ path: ':memory:', readOnly: true })).toThrow('readOnly needs a database file');
    expect(() => createSqliteStore({ path: file, readOnly: true, createIfMissing: true })).toThrow('readOnly cannot create a database');
    let missing: unknown = null;
    try {
      createSqliteStore({ path: file, readOnly: true });
    } catch (error) {
      missing = error;
    }
    expect(isConsentryError(missing) && missing.code).toBe('NOT_FOUND');
    expect(fs.existsSync(file)).toBe(false);
  });
});

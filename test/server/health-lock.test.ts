import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';
import { testApp, type TestApp } from './helpers.js';

describe('/health while another process holds the write lock', () => {
  let dir: string;
  let store: SqliteStore;
  let t: TestApp;
  let other: Database.Database;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-health-'));
    const file = path.join(dir, 'consentry.db');
    store = createSqliteStore({ path: file, busyTimeoutMs: 60_000 });
    t = await testApp({ store });
    await t.tenant('Acme');
    other = new Database(file);
  });

  afterEach(async () => {
    if (other.inTransaction) other.exec('ROLLBACK');
    other.close();
    await t.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers ok at once: the store reads beside the lock, which a write would wait for', async () => {
    other.exec('BEGIN IMMEDIATE');
    let writeSettled = false;
    const write = store.transaction((tx) => tx.setMeta('health-test', 1)).finally(() => {
      writeSettled = true;
    });
    const health = await t.app.inject({ method: 'GET', url: '/health' });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toStrictEqual({ status: 'ok' });
    expect(writeSettled).toBe(false);
    other.exec('ROLLBACK');
    await write;
    expect(await store.transaction((tx) => tx.getMeta('health-test'))).toBe(1);
  });
});

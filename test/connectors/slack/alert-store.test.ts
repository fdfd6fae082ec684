import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemorySlackAlertStore } from '../../../connectors/slack/alert-store.js';
import { SqliteSlackAlertStore } from '../../../connectors/slack/alert-store-sqlite.js';
import { isSqliteStore, slackAlertStoreFor } from '../../../connectors/slack/alert-store-for.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { createSqliteStore } from '../../../src/store/sqlite.js';
import { slackAlertStoreContract } from '../../contracts/slack-alerts.contract.js';

slackAlertStoreContract('memory', async () => {
  const store = createMemoryStore();
  return { store, alerts: new MemorySlackAlertStore(store), cleanup: () => store.close() };
});

slackAlertStoreContract('sqlite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-slack-alerts-'));
  const store = createSqliteStore({ path: path.join(dir, 'consentry.db') });
  return {
    store,
    alerts: new SqliteSlackAlertStore(store),
    cleanup: async () => {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('slackAlertStoreFor', () => {
  it('picks the SQLite tables for a SQLite store and the twin otherwise, one per store', async () => {
    const sqlite = createSqliteStore({ path: ':memory:' });
    const memory = createMemoryStore();
    try {
      expect(isSqliteStore(sqlite)).toBe(true);
      expect(isSqliteStore(memory)).toBe(false);
      expect(slackAlertStoreFor(sqlite)).toBeInstanceOf(SqliteSlackAlertStore);
      expect(slackAlertStoreFor(memory)).toBeInstanceOf(MemorySlackAlertStore);
      expect(slackAlertStoreFor(memory)).toBe(slackAlertStoreFor(memory));
      expect(slackAlertStoreFor(createMemoryStore())).not.toBe(slackAlertStoreFor(memory));
    } finally {
      await sqlite.close();
      await memory.close();
    }
  });
});

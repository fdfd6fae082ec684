import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InMemoryHubSpotState } from '../../../connectors/hubspot/state.js';
import { hubSpotStateFor, SqliteHubSpotState } from '../../../connectors/hubspot/state-sqlite.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { createSqliteStore } from '../../../src/store/sqlite.js';
import { hubSpotStateContract } from '../../contracts/hubspot-state.contract.js';

hubSpotStateContract('in memory', async () => {
  const store = createMemoryStore();
  return { store, state: new InMemoryHubSpotState(store), cleanup: () => store.close() };
});

hubSpotStateContract('SQLite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-hubspot-state-'));
  const store = createSqliteStore({ path: path.join(dir, 'test.db') });
  return {
    store,
    state: new SqliteHubSpotState(store),
    cleanup: async () => {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('hubSpotStateFor', () => {
  it('gives one state per store, in SQLite for a SQLite store and in memory otherwise', async () => {
    const memory = createMemoryStore();
    const sqlite = createSqliteStore({ path: ':memory:' });
    try {
      expect(hubSpotStateFor(memory)).toBeInstanceOf(InMemoryHubSpotState);
      expect(hubSpotStateFor(memory)).toBe(hubSpotStateFor(memory));
      expect(hubSpotStateFor(sqlite)).toBeInstanceOf(SqliteHubSpotState);
    } finally {
      await memory.close();
      await sqlite.close();
    }
  });
});

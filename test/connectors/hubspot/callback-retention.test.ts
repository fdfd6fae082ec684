import { afterEach, describe, expect, it } from 'vitest';
import {
  callbackExpired,
  expiredCallbacks,
  isFinishedCallback,
  PRUNE_ANSWERED_CALLBACKS_SQL,
  pruneCallbacksOn,
  type CallbackRetentionQuery,
} from '../../../connectors/hubspot/callback-retention.js';
import type { CallbackRecord } from '../../../connectors/hubspot/state.js';
import { SqliteHubSpotState } from '../../../connectors/hubspot/state-sqlite.js';
import { defaultSettings } from '../../../src/core/settings.js';
import { createSqliteStore, type SqliteStore } from '../../../src/store/sqlite.js';

const WS_A = 'ws_a';
const WS_B = 'ws_b';
const T0 = '2026-03-02T10:00:00.000Z';
const CUT = '2026-04-01T10:00:00.000Z';
const minute = (n: number) => new Date(Date.parse(T0) + n * 60_000).toISOString();
const ANSWER = { hs_execution_state: 'SUCCESS', status: 'opted_in' };
const BLOCK = { hs_execution_state: 'BLOCK', hs_expiration_duration: 'P2D' };

function callback(callbackId: string, overrides: Partial<CallbackRecord> = {}): CallbackRecord {
  return {
    callbackId,
    workspaceId: WS_A,
    action: 'request-consent',
    contactId: 'c1',
    runId: null,
    response: null,
    outcome: null,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

/**
 * Finished and old: an answered action, a blocked one whose completion was queued, another
 * workspace's. Pending, or finished too lately: kept.
 */
const SCENARIO: readonly CallbackRecord[] = [
  callback('cb-answered', { action: 'check-consent', response: ANSWER, updatedAt: minute(2) }),
  callback('cb-completed', { runId: 'run-1', response: BLOCK, outcome: 'given', updatedAt: minute(1) }),
  callback('cb-answered', { workspaceId: WS_B, action: 'check-consent', response: ANSWER, updatedAt: minute(3) }),
  callback('cb-waiting', { runId: 'run-2', response: BLOCK }),
  callback('cb-handling'),
  callback('cb-recent', { action: 'check-consent', response: ANSWER, updatedAt: CUT }),
  callback('cb-completed-late', { runId: 'run-3', response: BLOCK, outcome: 'opted_out', updatedAt: CUT }),
];

const keyOf = (record: Pick<CallbackRecord, 'workspaceId' | 'callbackId'>) => `${record.workspaceId}/${record.callbackId}`;

interface CallbackTable {
  seed(records: readonly CallbackRecord[]): Promise<void>;
  prune(query: CallbackRetentionQuery): Promise<number>;
  /** The callbacks left, as workspace/callbackId. */
  left(): Promise<string[]>;
}

const stores: SqliteStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

/** What InMemoryHubSpotState keeps (a map by workspace and callbackId), pruned as it is to be. */
function inMemory(): CallbackTable {
  const callbacks = new Map<string, CallbackRecord>();
  return {
    async seed(records) {
      for (const record of records) callbacks.set(keyOf(record), record);
    },
    async prune(query) {
      const expired = expiredCallbacks(callbacks.values(), query);
      for (const record of expired) callbacks.delete(keyOf(record));
      return expired.length;
    },
    async left() {
      return [...callbacks.keys()].sort();
    },
  };
}

/** hubspot_callbacks, written through the SQLite HubSpot state, pruned inside a store transaction. */
async function inSqlite(): Promise<CallbackTable & { store: SqliteStore }> {
  const store = createSqliteStore({ path: ':memory:' });
  stores.push(store);
  await store.transaction(async (tx) => {
    for (const id of [WS_A, WS_B]) await tx.insertWorkspace({ id, name: `Shop ${id}`, settings: defaultSettings(), createdAt: T0, updatedAt: T0 });
  });
  const state = new SqliteHubSpotState(store);
  return {
    store,
    async seed(records) {
      await state.transaction(async (s) => {
        for (const record of records) await s.claimCallback(record);
      });
    },
    prune: (query) => store.transaction(async () => pruneCallbacksOn(store.db, query)),
    async left() {
      const rows = store.db.prepare<[], { workspace_id: string; callback_id: string }>('SELECT workspace_id, callback_id FROM hubspot_callbacks').all();
      return rows.map((row) => keyOf({ workspaceId: row.workspace_id, callbackId: row.callback_id })).sort();
    },
  };
}

describe('which callbacks retention deletes', () => {
  it('counts a callback finished once answered, and a blocked one once its completion is queued', () => {
    expect(SCENARIO.map((record) => [keyOf(record), isFinishedCallback(record), callbackExpired(record, CUT)])).toEqual([
      ['ws_a/cb-answered', true, true],
      ['ws_a/cb-completed', true, true],
      ['ws_b/cb-answered', true, true],
      ['ws_a/cb-waiting', false, false],
      ['ws_a/cb-handling', false, false],
      ['ws_a/cb-recent', true, false],
      ['ws_a/cb-completed-late', true, false],
    ]);
  });
});

describe.each([
  ['in memory (expiredCallbacks)', async () => inMemory()],
  ['SQLite (pruneCallbacksOn)', inSqlite],
])('deleting expired callbacks: %s', (_name, make) => {
  it('deletes the finished callbacks last changed before the time, of every workspace, and keeps the pending ones', async () => {
    const table = await make();
    await table.seed(SCENARIO);
    expect(await table.prune({ before: CUT, limit: 100 })).toBe(3);
    expect(await table.left()).toEqual(['ws_a/cb-completed-late', 'ws_a/cb-handling', 'ws_a/cb-recent', 'ws_a/cb-waiting']);
    expect(await table.prune({ before: CUT, limit: 100 })).toBe(0);
    // However old, a callback still waiting on its run, or on its first answer, is never deleted.
    expect(await table.prune({ before: '2036-01-01T00:00:00.000Z', limit: 100 })).toBe(2);
    expect(await table.left()).toEqual(['ws_a/cb-handling', 'ws_a/cb-waiting']);
  });

  it('deletes the least recently changed first, at most `limit`, and refuses a time or limit the stores would read differently', async () => {
    const table = await make();
    await table.seed(SCENARIO);
    expect(await table.prune({ before: CUT, limit: 0 })).toBe(0);
    expect(await table.prune({ before: CUT, limit: 2 })).toBe(2);
    expect(await table.left()).toContain('ws_b/cb-answered');
    expect(await table.left()).not.toContain('ws_a/cb-completed');
    expect(await table.left()).not.toContain('ws_a/cb-answered');
    await expect(table.prune({ before: '2026-04-01', limit: 10 })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(table.prune({ before: CUT, limit: -1 })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});

describe('deleting expired callbacks in SQLite', () => {
  it('reads only finished callbacks, least recently changed first, from hubspot_callbacks_finished, without sorting', async () => {
    const table = await inSqlite();
    const many: CallbackRecord[] = [];
    for (let n = 0; n < 120; n += 1) {
      const id = `cb-${String(n).padStart(3, '0')}`;
      // Every third is a blocked action still waiting on its run.
      many.push(n % 3 === 0 ? callback(id, { runId: `run-${n}`, response: BLOCK, updatedAt: minute(n) }) : callback(id, { response: ANSWER, updatedAt: minute(n) }));
    }
    await table.seed(many);
    const plan = table.store.db
      .prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${PRUNE_ANSWERED_CALLBACKS_SQL}`)
      .all({ before: minute(60), limit: 10 })
      .map((row) => row.detail);
    expect(plan).toEqual([
      'SEARCH hubspot_callbacks USING PRIMARY KEY (workspace_id=? AND callback_id=?)',
      'LIST SUBQUERY 2',
      'SEARCH hubspot_callbacks USING INDEX hubspot_callbacks_finished (updated_at<?)',
    ]);
    expect(plan.join('\n')).not.toMatch(/SCAN|TEMP B-TREE/);
    // Of the first hour's 60 callbacks, 40 were answered.
    expect(await table.prune({ before: minute(60), limit: 30 })).toBe(30);
    expect(await table.prune({ before: minute(60), limit: 30 })).toBe(10);
    expect((await table.left()).length).toBe(80);
  });
});

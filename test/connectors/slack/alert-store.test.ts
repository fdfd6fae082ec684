import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ACTIONS_BY_EVENT_TYPE, SLACK_ALERT_EVENT_TYPES } from '../../../connectors/slack/actions-port.js';
import { MemorySlackAlertStore } from '../../../connectors/slack/alert-store.js';
import { PRUNE_CLOSED_SQL, SHOWN_SINCE_SQL, SqliteSlackAlertStore } from '../../../connectors/slack/alert-store-sqlite.js';
import { MIGRATIONS } from '../../../src/store/migrations.js';
import { isSqliteStore, slackAlertStoreFor } from '../../../connectors/slack/alert-store-for.js';
import { defaultSettings } from '../../../src/core/settings.js';
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

describe('the alerts a channel showed lately, in SQLite', () => {
  const WS = 'ws_a';
  const T0 = '2026-01-01T10:00:00.000Z';
  /** `seconds` after T0, as createdAt is written. */
  const at = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000).toISOString();

  it("reads only the window's rows of the channel from slack_alerts_shown, newest first, without sorting", async () => {
    const store = createSqliteStore({ path: ':memory:' });
    try {
      const alerts = new SqliteSlackAlertStore(store);
      await store.transaction((tx) => tx.insertWorkspace({ id: WS, name: 'Shop', settings: defaultSettings(), createdAt: T0, updatedAt: T0 }));
      // An hour of alerts shown in the channel, others shown elsewhere or not shown at all: the
      // plan is checked with rows in the table, of which the last minute holds a few.
      for (let n = 0; n < 240; n += 1) {
        const id = `al_${String(n).padStart(3, '0')}`;
        await alerts.create({
          id,
          workspaceId: WS,
          event: {
            id: `ev_${String(n).padStart(3, '0')}`,
            type: 'sync.failed',
            version: 1,
            workspaceId: WS,
            occurredAt: at(n * 15),
            contactId: null,
            data: { integration: 'hubspot', contactId: null, operation: 'update_contact', reason: 'rate limited', retryable: true },
          },
          contactName: null,
          contactUrl: null,
          slackChannel: 'C0ALERTS01',
          createdAt: at(n * 15),
        });
        if (n % 3 === 2) continue;
        await alerts.markPosted(WS, id, { channel: n % 3 === 0 ? 'C0ALERTS01' : 'C0OTHER001', ts: `1767261600.${String(n).padStart(6, '0')}` });
      }

      const plan = store.db
        .prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${SHOWN_SINCE_SQL}`)
        .all(WS, 'C0ALERTS01', at(3540), 10)
        .map((row) => row.detail);
      expect(plan).toEqual(['SEARCH slack_alerts USING INDEX slack_alerts_shown (workspace_id=? AND message_channel=? AND created_at>?)']);
      expect(plan.join('\n')).not.toMatch(/SCAN|TEMP B-TREE/);

      // After 59:00 come alerts 237 to 239, of which the channel showed 237 (every third alert).
      const shown = await alerts.listShownSince(WS, 'C0ALERTS01', at(3540), 10);
      expect(shown.map((record) => record.id)).toEqual(['al_237']);
      const lastFive = await alerts.listShownSince(WS, 'C0ALERTS01', at(3300), 5);
      expect(lastFive.map((record) => record.id)).toEqual(['al_225', 'al_228', 'al_231', 'al_234', 'al_237']);
    } finally {
      await store.close();
    }
  });
});

describe('retention of closed alerts, in SQLite', () => {
  const WS = 'ws_a';
  const T0 = '2026-01-01T10:00:00.000Z';
  const at = (minutes: number) => new Date(Date.parse(T0) + minutes * 60_000).toISOString();

  it('reads only closed alerts, oldest first, from slack_alerts_closed: never an open one, and without sorting', async () => {
    const store = createSqliteStore({ path: ':memory:' });
    try {
      const alerts = new SqliteSlackAlertStore(store);
      await store.transaction((tx) => tx.insertWorkspace({ id: WS, name: 'Shop', settings: defaultSettings(), createdAt: T0, updatedAt: T0 }));
      // Open alerts (posted, their buttons unused) among closed ones (digested): the plan is checked with rows in the table.
      for (let n = 0; n < 120; n += 1) {
        const id = `al_${String(n).padStart(3, '0')}`;
        await alerts.create({
          id,
          workspaceId: WS,
          event: {
            id: `ev_${String(n).padStart(3, '0')}`,
            type: 'consent.failed',
            version: 1,
            workspaceId: WS,
            occurredAt: at(n),
            contactId: 'ct_1',
            data: { contactId: 'ct_1', channel: 'whatsapp', purpose: 'privacy', reason: 'timeout', attempts: 1, workflowId: 'request-consent-privacy', runId: 'run_1', conversationId: 'cv_1', contactName: null },
          },
          contactName: null,
          contactUrl: null,
          slackChannel: 'C0ALERTS01',
          createdAt: at(n),
        });
        const message = { channel: 'C0ALERTS01', ts: `1767261600.${String(n).padStart(6, '0')}` };
        if (n % 4 === 0) await alerts.markDigested(WS, [id], message);
        else await alerts.markPosted(WS, id, message);
      }

      const plan = store.db
        .prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${PRUNE_CLOSED_SQL}`)
        .all({ before: at(60), limit: 10 })
        .map((row) => row.detail);
      expect(plan).toEqual([
        'SEARCH slack_alerts USING PRIMARY KEY (workspace_id=? AND id=?)',
        'LIST SUBQUERY 2',
        'SEARCH slack_alerts USING INDEX slack_alerts_closed (created_at<?)',
      ]);
      expect(plan.join('\n')).not.toMatch(/SCAN|TEMP B-TREE/);
      // Every fourth of the first hour's alerts is closed: 15 of them; the open ones stay.
      expect(await alerts.pruneExpired({ before: at(60), limit: 10 })).toBe(10);
      expect(await alerts.pruneExpired({ before: at(60), limit: 10 })).toBe(5);
      expect(await alerts.pruneExpired({ before: at(60), limit: 10 })).toBe(0);
      expect(store.db.prepare('SELECT count(*) AS n FROM slack_alerts').get()).toEqual({ n: 105 });
    } finally {
      await store.close();
    }
  });

  it('names in SQL the one event type without buttons there is, as the index of migration 25 does', () => {
    expect(SLACK_ALERT_EVENT_TYPES.filter((type) => ACTIONS_BY_EVENT_TYPE[type].length === 0)).toEqual(['sync.failed']);
    const migration = MIGRATIONS.find((entry) => entry.version === 25)?.up ?? '';
    const buttonless = "CASE WHEN json_valid(event) THEN json_extract(event, '$.type') = 'sync.failed' ELSE 0 END";
    expect(migration).toContain(buttonless);
    expect(PRUNE_CLOSED_SQL).toContain(buttonless);
  });
});

import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { pruneCallbacksOn } from '../../connectors/hubspot/callback-retention.js';
import { SqliteSlackAlertStore } from '../../connectors/slack/alert-store-sqlite.js';
import { defaultSettings } from '../../src/core/settings.js';
import { MIGRATIONS, migrate } from '../../src/store/migrations.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { migrationFiles } from './migration-files.js';

const T0 = '2026-01-01T00:00:00.000Z';
const CUT = '2026-03-01T00:00:00.000Z';
const WS = 'ws_a';
const VERSION = 25;

const { tempFile, opened } = migrationFiles(VERSION);

const syncFailed = (id: string) =>
  JSON.stringify({
    id,
    type: 'sync.failed',
    version: 1,
    workspaceId: WS,
    occurredAt: T0,
    contactId: null,
    data: { integration: 'hubspot', contactId: null, operation: 'update_contact', reason: 'rate limited', retryable: true },
  });

describe(`migration ${VERSION} (SQLite): closed slack alerts and finished hubspot callbacks by age`, () => {
  it('indexes the closed alerts and finished callbacks a database already holds, past an alert whose event is not JSON, so retention deletes them', async () => {
    const file = tempFile();
    const older = new BetterSqlite3(file);
    expect(migrate(older, MIGRATIONS.filter((migration) => migration.version < VERSION)).version).toBe(VERSION - 1);
    older
      .prepare(`INSERT INTO workspaces (id, name, settings, created_at, updated_at) VALUES (?, 'Sales', ?, '${T0}', '${T0}')`)
      .run(WS, JSON.stringify(defaultSettings()));
    const alert = older.prepare<[string, string, string, string]>(
      `INSERT INTO slack_alerts (workspace_id, id, event_id, event, slack_channel, created_at, delivery, message_channel, message_ts)
       VALUES ('${WS}', ?, ?, ?, 'C0ALERTS01', '${T0}', ?, 'C0ALERTS01', '1767225600.000100')`,
    );
    alert.run('al_info', 'ev_1', syncFailed('ev_1'), 'posted');
    alert.run('al_pending', 'ev_2', syncFailed('ev_2'), 'pending');
    alert.run('al_unreadable', 'ev_3', '{not json', 'posted');
    const callback = older.prepare<[string, string | null, string | null, string | null]>(
      `INSERT INTO hubspot_callbacks (workspace_id, callback_id, action, run_id, response, outcome, created_at, updated_at)
       VALUES ('${WS}', ?, 'request-consent', ?, ?, ?, '${T0}', '${T0}')`,
    );
    callback.run('cb-answered', null, '{"hs_execution_state":"SUCCESS"}', null);
    callback.run('cb-waiting', 'run-1', '{"hs_execution_state":"BLOCK"}', null);
    older.close();

    const store = opened(createSqliteStore({ path: file }));
    expect(MIGRATIONS.find((migration) => migration.version === VERSION)?.name).toBe('closed slack alerts and finished hubspot callbacks by age');
    const indexes = store.db.prepare<[], string>(`SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ('slack_alerts_closed', 'hubspot_callbacks_finished') ORDER BY name`).pluck().all();
    expect(indexes).toEqual(['hubspot_callbacks_finished', 'slack_alerts_closed']);

    expect(await new SqliteSlackAlertStore(store).pruneExpired({ before: CUT, limit: 10 })).toBe(1);
    expect(store.db.prepare<[], string>('SELECT id FROM slack_alerts ORDER BY id').pluck().all()).toEqual(['al_pending', 'al_unreadable']);
    expect(await store.transaction(async () => pruneCallbacksOn(store.db, { before: CUT, limit: 10 }))).toBe(1);
    expect(store.db.prepare<[], string>('SELECT callback_id FROM hubspot_callbacks').pluck().all()).toEqual(['cb-waiting']);
  });
});

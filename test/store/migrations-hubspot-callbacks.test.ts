import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteHubSpotState } from '../../connectors/hubspot/state-sqlite.js';
import type { CallbackRecord } from '../../connectors/hubspot/state.js';
import { defaultSettings } from '../../src/core/settings.js';
import { MIGRATIONS, migrate } from '../../src/store/migrations.js';
import { createSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';

const T0 = '2026-03-02T10:00:00.000Z';
const T1 = '2026-03-02T10:00:05.000Z';

describe('migration 11: HubSpot callbacks per workspace', () => {
  let dir: string;
  let file: string;
  const stores: SqliteStore[] = [];
  const databases: BetterSqlite3.Database[] = [];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-migration-11-'));
    file = path.join(dir, 'consentry.db');
  });

  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    for (const db of databases.splice(0)) if (db.open) db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A database as the build before migration 11 left it, with callbacks of two workspaces. */
  function databaseBefore(): void {
    const db = new BetterSqlite3(file);
    databases.push(db);
    db.pragma('foreign_keys = ON');
    migrate(db, MIGRATIONS.filter((migration) => migration.version < 11));
    const insertWorkspace = db.prepare('INSERT INTO workspaces (id, name, settings, created_at, updated_at) VALUES (?, ?, ?, ?, ?)');
    insertWorkspace.run('ws_a', 'Shop A', JSON.stringify(defaultSettings()), T0, T0);
    insertWorkspace.run('ws_b', 'Shop B', JSON.stringify(defaultSettings()), T0, T0);
    const insertCallback = db.prepare(
      `INSERT INTO hubspot_callbacks (callback_id, workspace_id, action, contact_id, run_id, response, outcome, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    insertCallback.run('cb-answered', 'ws_a', 'check-consent', 'ct_ana', null, '{"hs_execution_state":"SUCCESS","status":"opted_in"}', null, T0, T1);
    insertCallback.run('cb-blocked', 'ws_b', 'request-consent', 'ct_bea', 'run_1', '{"hs_execution_state":"BLOCK","hs_expiration_duration":"P2D"}', null, T0, T1);
    db.close();
  }

  it('keeps every callback, now keyed by workspace and callbackId, with its index', async () => {
    databaseBefore();
    const store = createSqliteStore({ path: file });
    stores.push(store);
    const state = new SqliteHubSpotState(store);

    const kept = await state.transaction(async (s) => ({
      answered: await s.getCallback('ws_a', 'cb-answered'),
      blocked: await s.findCallbackByRun('ws_b', 'run_1'),
      elsewhere: await s.getCallback('ws_b', 'cb-answered'),
    }));
    expect(kept.answered).toEqual({
      callbackId: 'cb-answered',
      workspaceId: 'ws_a',
      action: 'check-consent',
      contactId: 'ct_ana',
      runId: null,
      response: { hs_execution_state: 'SUCCESS', status: 'opted_in' },
      outcome: null,
      createdAt: T0,
      updatedAt: T1,
    });
    expect(kept.blocked).toEqual(expect.objectContaining({ callbackId: 'cb-blocked', workspaceId: 'ws_b', runId: 'run_1' }));
    expect(kept.elsewhere).toBeNull();

    // The same callbackId in another workspace is a callback of its own.
    const record: CallbackRecord = { callbackId: 'cb-answered', workspaceId: 'ws_b', action: 'check-consent', contactId: null, runId: null, response: null, outcome: null, createdAt: T1, updatedAt: T1 };
    expect(await state.transaction((s) => s.claimCallback(record))).toEqual({ record, created: true });
    expect((await state.transaction((s) => s.getCallback('ws_a', 'cb-answered')))?.response).toEqual({ hs_execution_state: 'SUCCESS', status: 'opted_in' });

    const primaryKey = store.db
      .prepare<[], { name: string; pk: number }>("SELECT name, pk FROM pragma_table_info('hubspot_callbacks') WHERE pk > 0 ORDER BY pk")
      .all()
      .map((column) => column.name);
    expect(primaryKey).toEqual(['workspace_id', 'callback_id']);
    const objects = store.db.prepare<[], { type: string; name: string }>("SELECT type, name FROM sqlite_schema WHERE tbl_name = 'hubspot_callbacks' ORDER BY type, name").all();
    expect(objects).toEqual([
      // Retention's, of migration 25 (the store opens the database at the latest version).
      { type: 'index', name: 'hubspot_callbacks_finished' },
      { type: 'index', name: 'hubspot_callbacks_run' },
      { type: 'table', name: 'hubspot_callbacks' },
    ]);
    expect(store.db.prepare<[], { sql: string }>("SELECT sql FROM sqlite_schema WHERE name = 'hubspot_callbacks'").get()?.sql).toContain('WITHOUT ROWID');
    expect(store.db.pragma('foreign_key_check')).toEqual([]);
    expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
  });
});

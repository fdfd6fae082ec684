import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { defaultSettings } from '../../src/core/settings.js';
import { MIGRATIONS, migrate } from '../../src/store/migrations.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { migrationFiles } from './migration-files.js';

const T0 = '2026-01-01T00:00:00.000Z';
const WS = 'ws_a';
const VERSION = 21;

const { tempFile, opened } = migrationFiles(VERSION);

describe(`migration ${VERSION} (SQLite): the latest subscription of a hook`, () => {
  it('leaves the hooks of an older database with no subscription id, and keeps the one a renewal records', async () => {
    const file = tempFile();
    const older = new BetterSqlite3(file);
    expect(migrate(older, MIGRATIONS.filter((migration) => migration.version < VERSION)).version).toBe(VERSION - 1);
    older
      .prepare(`INSERT INTO workspaces (id, name, settings, created_at, updated_at) VALUES (?, 'Sales', ?, '${T0}', '${T0}')`)
      .run(WS, JSON.stringify(defaultSettings()));
    older
      .prepare(
        `INSERT INTO hooks (id, workspace_id, api_key_id, target_url, event, event_filter, secret, created_at, deleted_at, deleted_reason)
         VALUES ('hk_old', ?, NULL, 'https://hooks.example.com/zap', 'consent.withdrawn', NULL, 'whsec_old', '${T0}', NULL, NULL)`,
      )
      .run(WS);
    older.close();

    const store = opened(createSqliteStore({ path: file }));
    expect(MIGRATIONS.find((migration) => migration.version === VERSION)?.name).toBe('the latest subscription of a hook');
    const old = await store.read((tx) => tx.getHook(WS, 'hk_old'));
    expect(old).toStrictEqual({
      id: 'hk_old',
      workspaceId: WS,
      apiKeyId: null,
      targetUrl: 'https://hooks.example.com/zap',
      event: 'consent.withdrawn',
      filter: null,
      secret: 'whsec_old',
      subscriptionId: null,
      createdAt: T0,
      deletedAt: null,
      deletedReason: null,
    });
    if (old === undefined) return;

    await store.transaction((tx) => tx.updateHook({ ...old, subscriptionId: '01JNM0000000000000000000S1' }));
    expect(store.db.prepare('SELECT id, subscription_id AS subscription FROM hooks').all()).toStrictEqual([{ id: 'hk_old', subscription: '01JNM0000000000000000000S1' }]);
    // The hooks table keeps its form.
    const table = store.db.prepare<[], { sql: string }>("SELECT sql FROM sqlite_schema WHERE name = 'hooks'").get()?.sql ?? '';
    expect(table).toMatch(/\) STRICT, WITHOUT ROWID$/);
  });
});

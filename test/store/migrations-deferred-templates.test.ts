import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { defaultSettings } from '../../src/core/settings.js';
import { MIGRATIONS, migrate } from '../../src/store/migrations.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { migrationFiles } from './migration-files.js';

const T0 = '2026-01-01T00:00:00.000Z';
const WS = 'ws_a';

const { tempFile, opened } = migrationFiles(19);

describe('migration 19 (SQLite): templates deferred at a conversation’s opening', () => {
  it('leaves the conversations of an older database with none deferred, and keeps a list written after it', async () => {
    const file = tempFile();
    const older = new BetterSqlite3(file);
    expect(migrate(older, MIGRATIONS.filter((migration) => migration.version < 19)).version).toBe(18);
    older
      .prepare(`INSERT INTO workspaces (id, name, settings, created_at, updated_at) VALUES (?, 'Sales', ?, '${T0}', '${T0}')`)
      .run(WS, JSON.stringify(defaultSettings()));
    older
      .prepare(
        `INSERT INTO contacts (workspace_id, id, name, email, phone, identities, fields, tags, hubspot_id, created_at, updated_at, erased_at)
         VALUES (?, 'ct_old', NULL, NULL, NULL, '[]', '{}', '[]', NULL, '${T0}', '${T0}', NULL)`,
      )
      .run(WS);
    older
      .prepare(`INSERT INTO conversations (id, workspace_id, contact_id, channel, status, opened_at, closed_at) VALUES ('cv_old', ?, 'ct_old', 'whatsapp', 'open', '${T0}', NULL)`)
      .run(WS);
    older.close();

    const store = opened(createSqliteStore({ path: file }));
    expect(MIGRATIONS.find((migration) => migration.version === 19)?.name).toBe('templates deferred at a conversation opening');
    const old = await store.read((tx) => tx.getOpenConversation(WS, 'ct_old', 'whatsapp'));
    expect(old).toStrictEqual({ id: 'cv_old', workspaceId: WS, contactId: 'ct_old', channel: 'whatsapp', status: 'open', openedAt: T0, closedAt: null });

    await store.transaction((tx) =>
      tx.insertConversation({ id: 'cv_new', workspaceId: WS, contactId: 'ct_old', channel: 'sms', status: 'open', openedAt: T0, closedAt: null, deferredTemplates: ['request-consent-privacy'] }),
    );
    expect(store.db.prepare('SELECT id, deferred_templates AS deferred FROM conversations ORDER BY id').all()).toStrictEqual([
      { id: 'cv_new', deferred: '["request-consent-privacy"]' },
      { id: 'cv_old', deferred: null },
    ]);
    // The column holds a JSON array of template ids, or nothing.
    expect(() => store.db.prepare(`UPDATE conversations SET deferred_templates = '{}' WHERE id = 'cv_old'`).run()).toThrow(/CHECK constraint failed/);
  });
});

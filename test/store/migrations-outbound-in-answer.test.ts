import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { defaultSettings } from '../../src/core/settings.js';
import { MIGRATIONS, migrate } from '../../src/store/migrations.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { migrationFiles } from './migration-files.js';

const T0 = '2026-01-01T00:00:00.000Z';
const WS = 'ws_a';
const VERSION = 23;

const { tempFile, opened } = migrationFiles(VERSION);

const outbound = (text: string, extra: Record<string, unknown>) =>
  JSON.stringify({ contactId: 'c_1', conversationId: null, channel: 'sms', to: '+34600000001', text, inReplyTo: null, ...extra });

describe(`migration ${VERSION} (SQLite): outbound messages stored before inAnswer say false`, () => {
  it('adds inAnswer: false to the message.outbound events without it, and leaves every other event as it was', async () => {
    const file = tempFile();
    const older = new BetterSqlite3(file);
    expect(migrate(older, MIGRATIONS.filter((migration) => migration.version < VERSION)).version).toBe(VERSION - 1);
    older
      .prepare(`INSERT INTO workspaces (id, name, settings, created_at, updated_at) VALUES (?, 'Sales', ?, '${T0}', '${T0}')`)
      .run(WS, JSON.stringify(defaultSettings()));
    const insert = older.prepare<[string, string, string]>(
      `INSERT INTO events (id, workspace_id, type, contact_id, occurred_at, version, data) VALUES (?, '${WS}', ?, 'c_1', '${T0}', 1, ?)`,
    );
    insert.run('ev_1', 'message.outbound', outbound('Old text', {}));
    insert.run('ev_2', 'message.outbound', outbound('Answered text', { inAnswer: true }));
    insert.run('ev_3', 'contact.tagged', JSON.stringify({ contactId: 'c_1', tag: 'VIP' }));
    older.close();

    const store = opened(createSqliteStore({ path: file }));
    expect(MIGRATIONS.find((migration) => migration.version === VERSION)?.name).toBe('outbound messages stored before inAnswer say false');
    const events = await store.read((tx) => tx.listEventsAfter(0, 10));
    expect(events.map((event) => [event.id, event.data])).toStrictEqual([
      ['ev_1', { contactId: 'c_1', conversationId: null, channel: 'sms', to: '+34600000001', text: 'Old text', inReplyTo: null, inAnswer: false }],
      ['ev_2', { contactId: 'c_1', conversationId: null, channel: 'sms', to: '+34600000001', text: 'Answered text', inReplyTo: null, inAnswer: true }],
      ['ev_3', { contactId: 'c_1', tag: 'VIP' }],
    ]);
  });

  it('leaves a stored event whose data is not a JSON object as it is, and upgrades the others beside it', async () => {
    const file = tempFile();
    const older = new BetterSqlite3(file);
    migrate(older, MIGRATIONS.filter((migration) => migration.version < VERSION));
    older
      .prepare(`INSERT INTO workspaces (id, name, settings, created_at, updated_at) VALUES (?, 'Sales', ?, '${T0}', '${T0}')`)
      .run(WS, JSON.stringify(defaultSettings()));
    const insert = older.prepare<[string, string]>(
      `INSERT INTO events (id, workspace_id, type, contact_id, occurred_at, version, data) VALUES (?, '${WS}', 'message.outbound', 'c_1', '${T0}', 1, ?)`,
    );
    insert.run('ev_1', '{not json');
    insert.run('ev_2', '["a list"]');
    insert.run('ev_3', outbound('Old text', {}));
    older.close();

    opened(createSqliteStore({ path: file }));
    const upgraded = new BetterSqlite3(file, { readonly: true });
    try {
      // The migration stopped on none of the rows: the store went on to the latest version.
      expect(upgraded.prepare('SELECT max(version) AS version FROM schema_migrations').get()).toEqual({ version: MIGRATIONS.at(-1)?.version });
      const rows = upgraded.prepare<[], { id: string; data: string }>('SELECT id, data FROM events ORDER BY id').all();
      expect(rows.map((row) => [row.id, row.data])).toStrictEqual([
        ['ev_1', '{not json'],
        ['ev_2', '["a list"]'],
        ['ev_3', JSON.stringify({ ...JSON.parse(outbound('Old text', {})), inAnswer: false })],
      ]);
    } finally {
      upgraded.close();
    }
  });
});

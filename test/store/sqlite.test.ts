import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { isConsentryError } from '../../src/core/errors.js';
import { defaultSettings } from '../../src/core/settings.js';
import { FakeClock } from '../../src/ports/clock.js';
import { revokeApiKey } from '../../src/server/api-keys.js';
import { MIGRATIONS, migrate, type Migration } from '../../src/store/migrations.js';
import {
  ABANDON_REPLIES_SQL,
  DELETE_DELIVERIES_THROUGH_SQL,
  DELETE_FINISHED_RUNS_SQL,
  DUE_TIMERS_OF_CONTACT_SQL,
  EVENTS_HEAD_SQL,
  OLDEST_PENDING_POSITION_SQL,
  PROCESSED_HEAD_SQL,
  DUE_TIMERS_SQL,
  LAST_RECORD_SQL,
  LIST_RECORDS_SQL,
  LIVE_HOOKS_OF_API_KEY_SQL,
  NEXT_PENDING_HOOK_SQL,
  PENDING_BACKLOG_SQL,
  PROCESSED_OF_CONTACT_SQL,
  UNSUBSCRIBED_BACKLOG_SQL,
  ERASED_BACKLOG_SQL,
  MORE_DEAD_SQL,
  READY_OF_HOOK_SQL,
  RESEND_DEAD_SQL,
  RUNS_OF_CONTACT_SQL,
  createSqliteStore,
  findContactSql,
  listContactsSql,
  listDeliveriesSql,
  listEventsSql,
  type SqliteStore,
} from '../../src/store/sqlite.js';
import type { ApiKeyRow, DeliveryRow, HookRow, StoreTx } from '../../src/ports/store.js';
import { storeContract } from '../contracts/store.contract.js';

const projectRoot = fileURLToPath(new URL('../../', import.meta.url));
const crashFixture = fileURLToPath(new URL('./fixtures/commit-and-hang.ts', import.meta.url));
const forgetFixture = fileURLToPath(new URL('./fixtures/write-and-forget.ts', import.meta.url));
const T0 = '2026-01-01T00:00:00.000Z';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-sqlite-'));
}

storeContract('sqlite (file)', async () => {
  const dir = tempDir();
  const store = createSqliteStore({ path: path.join(dir, 'consentry.db') });
  return {
    store,
    cleanup: async () => {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

async function seedOne(tx: StoreTx): Promise<void> {
  await tx.insertWorkspace({ id: 'ws_a', name: 'Shop A', settings: defaultSettings(), createdAt: T0, updatedAt: T0 });
  await tx.insertContact({
    id: 'ct_ana',
    workspaceId: 'ws_a',
    name: 'Ana Test',
    email: 'ana@example.com',
    phone: '+34600000001',
    identities: [{ channel: 'whatsapp', externalId: '+34600000001' }],
    fields: {},
    tags: ['vip'],
    hubspotId: null,
    createdAt: T0,
    updatedAt: T0,
    erasedAt: null,
  });
}

async function expectNotFound(promise: Promise<unknown>): Promise<void> {
  const failure: unknown = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(isConsentryError(failure) && failure.code).toBe('NOT_FOUND');
}

function apiKeyRow(id: string, hash: string): ApiKeyRow {
  return { id, workspaceId: 'ws_a', name: null, prefix: 'csk', hash, createdAt: T0, lastUsedAt: null, revokedAt: null };
}

function hookRow(id: string): HookRow {
  return {
    id,
    workspaceId: 'ws_a',
    apiKeyId: null,
    targetUrl: 'https://hooks.example.com/a',
    event: '*',
    filter: { tag: 'vip' },
    secret: 'whsec_test',
    subscriptionId: null,
    createdAt: T0,
    deletedAt: null,
    deletedReason: null,
  };
}

function deliveryRow(id: string, hookId: string, position: number, overrides: Partial<DeliveryRow> = {}): DeliveryRow {
  return {
    id,
    workspaceId: 'ws_a',
    hookId,
    eventId: `evt_${position}`,
    eventPosition: position,
    contactId: 'ct_ana',
    status: 'pending',
    attempts: 0,
    nextAttemptAt: T0,
    lastError: null,
    lastStatusCode: null,
    deliveredAt: null,
    updatedAt: T0,
    resentAt: null,
    ...overrides,
  };
}

interface MigrationRow {
  version: number;
  name: string;
  applied_at: string;
}

function migrationRows(db: BetterSqlite3.Database): MigrationRow[] {
  return db.prepare<[], MigrationRow>('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all();
}

describe('SQLite store', () => {
  let dir: string;
  const stores: SqliteStore[] = [];
  const databases: BetterSqlite3.Database[] = [];
  const children: ChildProcess[] = [];

  const open = (options: Partial<Parameters<typeof createSqliteStore>[0]> = {}): SqliteStore => {
    const store = createSqliteStore({ path: path.join(dir, 'consentry.db'), ...options });
    stores.push(store);
    return store;
  };
  const openRaw = (file = path.join(dir, 'consentry.db')): BetterSqlite3.Database => {
    const db = new BetterSqlite3(file);
    databases.push(db);
    return db;
  };

  beforeEach(() => {
    dir = tempDir();
  });

  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    }
    for (const store of stores.splice(0)) await store.close();
    for (const db of databases.splice(0)) if (db.open) db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('migrations', () => {
    it('records applied migrations and does not re-apply them on reopen', async () => {
      const first = open();
      await first.transaction(seedOne);
      await first.close();
      const recorded = migrationRows(openRaw());
      expect(recorded.map((row) => [row.version, row.name])).toEqual(MIGRATIONS.map((m) => [m.version, m.name]));
      for (const row of recorded) expect(row.applied_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);

      const second = open();
      expect((await second.transaction((tx) => tx.getContact('ws_a', 'ct_ana')))?.tags).toEqual(['vip']);
      expect(migrationRows(second.db)).toEqual(recorded);
      expect(migrate(second.db)).toEqual({ applied: [], version: MIGRATIONS.at(-1)?.version });
    });

    it('applies pending migrations in order, each recorded once', () => {
      const db = openRaw();
      const extra: Migration[] = [
        ...MIGRATIONS,
        { version: 100, name: 'add notes', up: 'CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL) STRICT;' },
        { version: 101, name: 'seed notes', up: "INSERT INTO notes (body) VALUES ('needs notes to exist');" },
      ];
      expect(migrate(db, MIGRATIONS).applied).toEqual(MIGRATIONS.map((m) => m.version));
      expect(migrate(db, extra)).toEqual({ applied: [100, 101], version: 101 });
      expect(migrate(db, extra).applied).toEqual([]);
      expect(db.prepare('SELECT count(*) AS n FROM notes').get()).toEqual({ n: 1 });
      expect(migrationRows(db).map((row) => row.version)).toEqual([...MIGRATIONS.map((m) => m.version), 100, 101]);
    });

    it('rolls back every step of a run when one migration fails', () => {
      const db = openRaw();
      const broken: Migration[] = [
        ...MIGRATIONS,
        { version: 100, name: 'good step', up: 'CREATE TABLE good (id INTEGER PRIMARY KEY) STRICT;' },
        { version: 101, name: 'bad step', up: 'CREATE TABLE bad (id INTEGER PRIMARY KEY) STRICT; THIS IS NOT SQL;' },
      ];
      expect(() => migrate(db, broken)).toThrow();
      expect(db.inTransaction).toBe(false);
      const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").all();
      expect(tables.map((t) => t.name)).not.toContain('good');
      expect(tables.map((t) => t.name)).not.toContain('workspaces');
    });

    it('refuses a database whose schema is newer than the code, without touching it', async () => {
      const first = open();
      await first.close();
      const raw = openRaw();
      raw.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from the future', ?)").run(T0);
      raw.close();
      let failure: unknown;
      try {
        open();
      } catch (error) {
        failure = error;
      }
      expect(isConsentryError(failure) && failure.code).toBe('CONFLICT');
      const latest = MIGRATIONS.at(-1)?.version;
      expect(String(failure)).toContain(`schema version 999 is newer than this build of Consentry supports (${latest})`);
      expect(migrationRows(openRaw()).map((row) => row.version)).toEqual([...MIGRATIONS.map((m) => m.version), 999]);
    });

    it('upgrades a database created by version 1 to the latest version, keeping its data', async () => {
      const v1 = openRaw();
      v1.pragma('foreign_keys = ON');
      expect(migrate(v1, MIGRATIONS.filter((m) => m.version === 1))).toEqual({ applied: [1], version: 1 });
      v1.prepare('INSERT INTO workspaces (id, name, settings, created_at, updated_at) VALUES (?, ?, ?, ?, ?)').run(
        'ws_a',
        'Shop A',
        JSON.stringify(defaultSettings()),
        T0,
        T0,
      );
      v1.prepare(
        `INSERT INTO contacts (workspace_id, id, name, email, phone, identities, fields, tags, hubspot_id,
           created_at, updated_at, erased_at)
         VALUES ('ws_a', 'ct_ana', 'Ana Test', 'ana@example.com', NULL, '[]', '{}', '["vip"]', NULL, ?, ?, NULL)`,
      ).run(T0, T0);
      v1.prepare("INSERT INTO contact_tags (workspace_id, tag, contact_id) VALUES ('ws_a', 'vip', 'ct_ana')").run();
      v1.prepare(
        `INSERT INTO events (id, workspace_id, type, contact_id, occurred_at, version, data)
         VALUES ('evt_1', 'ws_a', 'contact.tagged', 'ct_ana', ?, 1, '{"contactId":"ct_ana","tag":"vip"}')`,
      ).run(T0);
      v1.close();

      const store = open();
      expect(migrationRows(store.db).map((row) => [row.version, row.name])).toEqual(MIGRATIONS.map((m) => [m.version, m.name]));
      expect(MIGRATIONS.slice(0, 2).map((m) => m.name)).toEqual(['initial schema', 'api keys, hooks and deliveries']);
      const read = await store.transaction(async (tx) => ({
        contact: await tx.getContact('ws_a', 'ct_ana'),
        tagged: await tx.listContacts('ws_a', { tag: 'vip', limit: 10 }),
        events: await tx.listEventsAfter(0, 10),
      }));
      expect(read.contact?.email).toBe('ana@example.com');
      expect(read.tagged.map((c) => c.id)).toEqual(['ct_ana']);
      expect(read.events.map((e) => [e.id, e.position])).toEqual([['evt_1', 1]]);

      await store.transaction(async (tx) => {
        await tx.insertApiKey(apiKeyRow('key_1', 'sha256-1'));
        await tx.insertHook(hookRow('hk_1'));
        await tx.insertDelivery(deliveryRow('dl_1', 'hk_1', 1));
        await expectNotFound(tx.insertApiKey({ ...apiKeyRow('key_2', 'sha256-2'), workspaceId: 'ws_missing' }));
      });
      const ready = await store.transaction((tx) => tx.listReadyDeliveriesByHook(T0, { perHook: 10, hooks: 10 }));
      expect(ready.map((group) => group.map((d) => d.id))).toEqual([['dl_1']]);
      expect(store.db.pragma('foreign_key_check')).toEqual([]);
      expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
    });

    it('upgrades a database of version 7: its deliveries read back as never sent again, and its dead letters are indexed', async () => {
      const v7 = openRaw();
      v7.pragma('foreign_keys = ON');
      expect(migrate(v7, MIGRATIONS.filter((m) => m.version <= 7)).version).toBe(7);
      v7.prepare('INSERT INTO workspaces (id, name, settings, created_at, updated_at) VALUES (?, ?, ?, ?, ?)').run(
        'ws_a',
        'Shop A',
        JSON.stringify(defaultSettings()),
        T0,
        T0,
      );
      const insert = v7.prepare<[string, string, number, string, string | null]>(
        `INSERT INTO deliveries (id, workspace_id, hook_id, event_id, event_position, contact_id, status, attempts, next_attempt_at,
           last_error, last_status_code, delivered_at, updated_at)
         VALUES (?, 'ws_a', 'hk_1', ?, ?, 'ct_ana', ?, 1, '${T0}', ?, NULL, NULL, '${T0}')`,
      );
      insert.run('dl_1', 'evt_1', 1, 'delivered', null);
      insert.run('dl_2', 'evt_2', 2, 'dead', 'HTTP 400 (refused, not retried)');
      v7.close();

      const store = open();
      expect(migrationRows(store.db).map((row) => row.version)).toEqual(MIGRATIONS.map((m) => m.version));
      const dead = await store.transaction((tx) => tx.listDeliveries('ws_a', 'hk_1', { status: 'dead', limit: 10 }));
      expect(dead).toStrictEqual([deliveryRow('dl_2', 'hk_1', 2, { status: 'dead', attempts: 1, lastError: 'HTTP 400 (refused, not retried)' })]);
      const indexes = store.db.prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type = 'index' AND name = 'deliveries_dead'").all();
      expect(indexes).toEqual([{ name: 'deliveries_dead' }]);
      expect(await store.transaction((tx) => tx.resendDeadDeliveries('ws_a', 'hk_1', { at: T0, limit: 10 }))).toEqual({ resent: 1, more: false });
      expect((await store.transaction((tx) => tx.getDelivery('ws_a', 'dl_2')))?.resentAt).toBe(T0);
      expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
    });

    it('upgrades a database of version 8: its hooks keep their rows, with no key recorded, and the rebuilt table keeps its form and index', async () => {
      const v8 = openRaw();
      v8.pragma('foreign_keys = ON');
      expect(migrate(v8, MIGRATIONS.filter((m) => m.version <= 8)).version).toBe(8);
      const schemaOf = (db: BetterSqlite3.Database, name: string): string | undefined =>
        db.prepare<[string], { sql: string }>('SELECT sql FROM sqlite_schema WHERE name = ?').get(name)?.sql;
      const objectsOf = (db: BetterSqlite3.Database): { type: string; name: string }[] =>
        db.prepare<[], { type: string; name: string }>("SELECT type, name FROM sqlite_schema WHERE tbl_name = 'hooks' ORDER BY type, name").all();
      const objectsBefore = objectsOf(v8);
      const liveIndexBefore = schemaOf(v8, 'hooks_live');
      v8.prepare('INSERT INTO workspaces (id, name, settings, created_at, updated_at) VALUES (?, ?, ?, ?, ?)').run(
        'ws_a',
        'Shop A',
        JSON.stringify(defaultSettings()),
        T0,
        T0,
      );
      v8.prepare(`INSERT INTO api_keys (id, workspace_id, name, prefix, hash, created_at) VALUES ('key_1', 'ws_a', 'Zapier', 'csk_1', 'sha256-1', '${T0}')`).run();
      const insertHook = v8.prepare<[string, string | null, string | null, string | null]>(
        `INSERT INTO hooks (id, workspace_id, target_url, event, event_filter, secret, created_at, deleted_at, deleted_reason)
         VALUES (?, 'ws_a', 'https://hooks.example.com/a', '*', ?, 'whsec_test', '${T0}', ?, ?)`,
      );
      insertHook.run('hk_live', '{"tag":"vip"}', null, null);
      insertHook.run('hk_off', null, '2026-01-01T00:01:00.000Z', 'unsubscribed');
      insertHook.run('hk_gone', null, '2026-01-01T00:02:00.000Z', 'gone');
      v8.prepare(
        `INSERT INTO deliveries (id, workspace_id, hook_id, event_id, event_position, contact_id, status, attempts, next_attempt_at,
           last_error, last_status_code, delivered_at, updated_at)
         VALUES ('dl_1', 'ws_a', 'hk_live', 'evt_1', 1, 'ct_ana', 'pending', 0, '${T0}', NULL, NULL, NULL, '${T0}')`,
      ).run();
      v8.close();

      const store = open();
      expect(migrationRows(store.db).map((row) => row.version)).toEqual(MIGRATIONS.map((m) => m.version));
      const read = await store.transaction(async (tx) => ({
        live: await tx.getHook('ws_a', 'hk_live'),
        off: await tx.getHook('ws_a', 'hk_off'),
        gone: await tx.getHook('ws_a', 'hk_gone'),
        listed: await tx.listHooks('ws_a'),
        ofKey: await tx.listLiveHooksOfApiKey('ws_a', 'key_1'),
      }));
      expect(read.live).toStrictEqual(hookRow('hk_live'));
      expect(read.off).toStrictEqual({ ...hookRow('hk_off'), filter: null, deletedAt: '2026-01-01T00:01:00.000Z', deletedReason: 'unsubscribed' });
      expect(read.gone).toStrictEqual({ ...hookRow('hk_gone'), filter: null, deletedAt: '2026-01-01T00:02:00.000Z', deletedReason: 'gone' });
      expect(read.listed.map((h) => h.id)).toEqual(['hk_live']);
      expect(read.ofKey).toEqual([]);

      // The same table: STRICT, WITHOUT ROWID, the same live-hook index, and nothing left of the rebuild.
      const table = schemaOf(store.db, 'hooks') ?? '';
      expect(table).toMatch(/\) STRICT, WITHOUT ROWID$/);
      expect(table).toContain("CHECK (deleted_reason IN ('unsubscribed', 'gone', 'key_revoked'))");
      expect(liveIndexBefore).toBeDefined();
      expect(schemaOf(store.db, 'hooks_live')).toBe(liveIndexBefore);
      expect(objectsBefore).toEqual([
        { type: 'index', name: 'hooks_live' },
        { type: 'table', name: 'hooks' },
      ]);
      expect(objectsOf(store.db)).toEqual(objectsBefore);
      expect(store.db.prepare("SELECT name FROM sqlite_schema WHERE name LIKE '%rebuilt%'").all()).toEqual([]);
      // The rebuild relies on no table referencing hooks (its DROP would otherwise check or break them).
      const tables = store.db.prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table'").all();
      const referencing = tables.filter(({ name }) =>
        store.db.prepare<[string], { table: string }>('SELECT "table" FROM pragma_foreign_key_list(?)').all(name).some((fk) => fk.table === 'hooks'),
      );
      expect(referencing).toEqual([]);

      // A hook made before keys were recorded outlives the key's revocation; its delivery is still sent.
      expect(await revokeApiKey(store, 'key_1', new FakeClock(T0))).toMatchObject({ hooksRemoved: 0 });
      expect((await store.transaction((tx) => tx.getHook('ws_a', 'hk_live')))?.deletedAt).toBeNull();
      const ready = await store.transaction((tx) => tx.listReadyDeliveriesByHook(T0, { perHook: 10, hooks: 10 }));
      expect(ready.map((group) => group.map((d) => d.id))).toEqual([['dl_1']]);

      // New hooks record their key, and take the new reason.
      await store.transaction(async (tx) => {
        await tx.insertApiKey(apiKeyRow('key_2', 'sha256-2'));
        await tx.insertHook({ ...hookRow('hk_new'), apiKeyId: 'key_2' });
        await tx.updateHook({ ...hookRow('hk_new'), apiKeyId: 'key_2', deletedAt: T0, deletedReason: 'key_revoked' });
        await expectNotFound(tx.insertHook({ ...hookRow('hk_stray'), apiKeyId: 'key_missing' }));
      });
      expect((await store.transaction((tx) => tx.getHook('ws_a', 'hk_new')))?.deletedReason).toBe('key_revoked');
      expect(store.db.pragma('foreign_key_check')).toEqual([]);
      expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
    });

    it('names the contact of processed messages stored before the column existed', async () => {
      const v4 = openRaw();
      v4.pragma('foreign_keys = ON');
      expect(migrate(v4, MIGRATIONS.filter((m) => m.version <= 4))).toEqual({ applied: [1, 2, 3, 4], version: 4 });
      v4.prepare('INSERT INTO workspaces (id, name, settings, created_at, updated_at) VALUES (?, ?, ?, ?, ?)').run(
        'ws_a',
        'Shop A',
        JSON.stringify(defaultSettings()),
        T0,
        T0,
      );
      const insert = v4.prepare<[string, string]>(
        `INSERT INTO processed_messages (workspace_id, channel, message_id, response, processed_at)
         VALUES ('ws_a', 'whatsapp', ?, ?, '${T0}')`,
      );
      const ana = { contactId: 'ct_ana', conversationId: null, replies: [{ text: 'Hi Ana' }], eventIds: [], keyword: null };
      insert.run('wamid.1', JSON.stringify(ana));
      insert.run('wamid.2', JSON.stringify({ ...ana, contactId: 'ct_bea' }));
      insert.run('wamid.3', JSON.stringify({ replies: [] }));
      insert.run('wamid.4', JSON.stringify({ ...ana, contactId: 42 }));
      insert.run('wamid.5', JSON.stringify('an answer of another shape'));
      v4.close();

      const store = open();
      expect(migrationRows(store.db).map((row) => row.version)).toEqual(MIGRATIONS.map((m) => m.version));
      const read = await store.transaction(async (tx) => ({
        ana: await tx.listProcessedMessagesOfContact('ws_a', 'ct_ana'),
        bea: await tx.listProcessedMessagesOfContact('ws_a', 'ct_bea'),
        contacts: await Promise.all(
          ['wamid.1', 'wamid.2', 'wamid.3', 'wamid.4', 'wamid.5'].map(async (id) => (await tx.getProcessedMessage('ws_a', 'whatsapp', id))?.contactId),
        ),
      }));
      expect(read.ana).toStrictEqual([
        { workspaceId: 'ws_a', channel: 'whatsapp', messageId: 'wamid.1', contactId: 'ct_ana', response: ana, processedAt: T0 },
      ]);
      expect(read.bea.map((m) => m.messageId)).toEqual(['wamid.2']);
      // Only a text contactId names a contact; anything else is left unknown.
      expect(read.contacts).toEqual(['ct_ana', 'ct_bea', null, null, null]);
      expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
    });

    it('lists the purposes a workspace recorded before purposes were registered, so none is refused after the upgrade', async () => {
      const v5 = openRaw();
      v5.pragma('foreign_keys = ON');
      expect(migrate(v5, MIGRATIONS.filter((m) => m.version <= 5)).version).toBe(5);
      const { purposes: _none, ...settingsOfVersion5 } = defaultSettings();
      const addWorkspace = v5.prepare<[number, string, string]>(
        `INSERT INTO workspaces (number, id, name, settings, created_at, updated_at) VALUES (?, ?, 'Shop', ?, '${T0}', '${T0}')`,
      );
      const addContact = v5.prepare<[string]>(
        `INSERT INTO contacts (workspace_id, id, name, email, phone, identities, fields, tags, hubspot_id, created_at, updated_at, erased_at)
         VALUES (?, 'ct_ana', NULL, NULL, NULL, '[]', '{}', '[]', NULL, '${T0}', '${T0}', NULL)`,
      );
      const addRecord = v5.prepare<[number, string, string, number, string]>(
        `INSERT INTO consent_records (position, id, workspace_id, seq, contact_id, purpose, channel, status, source, actor_kind,
           actor_id, evidence, evidence_digest, occurred_at, recorded_at, prev_hash, hash)
         VALUES (?, ?, ?, ?, 'ct_ana', ?, 'sms', 'opted_out', 'api', 'api_key', 'key_1', '{}', 'd', '${T0}', '${T0}', 'p', 'h')`,
      );
      for (const [number, id] of [[1, 'ws_a'], [2, 'ws_b']] as const) {
        addWorkspace.run(number, id, JSON.stringify(settingsOfVersion5));
        addContact.run(id);
      }
      ['surveys', 'privacy', 'loyalty-club', 'surveys', 'marketing'].forEach((purpose, index) => {
        addRecord.run(2 ** 32 + index + 1, `rec_a${index}`, 'ws_a', index + 1, purpose);
      });
      addRecord.run(2 * 2 ** 32 + 1, 'rec_b', 'ws_b', 1, 'marketing');
      v5.close();

      const store = open();
      const settings = await store.transaction(async (tx) => ({
        a: (await tx.getWorkspace('ws_a'))?.settings,
        b: (await tx.getWorkspace('ws_b'))?.settings,
      }));
      expect(settings.a).toStrictEqual({ ...defaultSettings(), purposes: ['loyalty-club', 'surveys'] });
      expect(settings.b).toStrictEqual(defaultSettings());
      expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
    });

    it('ties API keys, hooks and deliveries to an existing workspace', async () => {
      const store = open();
      const { db } = store;
      const insert = (sql: string): (() => unknown) => () => db.prepare(sql).run({ t: T0 });
      expect(
        insert("INSERT INTO api_keys (id, workspace_id, prefix, hash, created_at) VALUES ('k', 'ws_missing', 'p', 'h', @t)"),
      ).toThrow(/FOREIGN KEY/);
      expect(
        insert(
          `INSERT INTO hooks (id, workspace_id, target_url, event, secret, created_at)
           VALUES ('h', 'ws_missing', 'u', '*', 's', @t)`,
        ),
      ).toThrow(/FOREIGN KEY/);
      expect(
        insert(
          `INSERT INTO deliveries (id, workspace_id, hook_id, event_id, event_position, status, attempts,
             next_attempt_at, updated_at)
           VALUES ('d', 'ws_missing', 'h', 'e', 1, 'pending', 0, @t, @t)`,
        ),
      ).toThrow(/FOREIGN KEY/);
      await store.transaction(seedOne);
      expect(
        insert(
          `INSERT INTO deliveries (id, workspace_id, hook_id, event_id, event_position, status, attempts,
             next_attempt_at, updated_at)
           VALUES ('d', 'ws_a', 'h', 'e', 1, 'sent', 0, @t, @t)`,
        ),
      ).toThrow(/CHECK/);
      expect(
        insert(
          `INSERT INTO hooks (id, workspace_id, target_url, event, secret, created_at, deleted_reason)
           VALUES ('h', 'ws_a', 'u', '*', 's', @t, 'bored')`,
        ),
      ).toThrow(/CHECK/);
    });

    it('refuses a database that records a migration this build does not have', () => {
      const db = openRaw();
      migrate(db);
      const renamed = MIGRATIONS.map((m) => ({ ...m, name: `${m.name} (renamed)` }));
      expect(() => migrate(db, renamed)).toThrow(/does not have/);
    });
  });

  describe('pragmas', () => {
    it('uses WAL, synchronous NORMAL, foreign keys and in-memory temporary files by default, and no busy timeout of SQLite\'s own', () => {
      const { db } = open();
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('synchronous', { simple: true })).toBe(1);
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
      // The store waits for a taken write lock itself, between turns of the event loop.
      expect(db.pragma('busy_timeout', { simple: true })).toBe(0);
      expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(8192);
      expect(db.pragma('temp_store', { simple: true })).toBe(2);
      expect(db.pragma('secure_delete', { simple: true })).toBe(1);
    });

    it('lets a checkpoint wait for the background checkpointer for the busy timeout, then waits for no lock again', () => {
      const store = open({ busyTimeoutMs: 1234 });
      const seen: unknown[] = [];
      const pragma = store.db.pragma.bind(store.db);
      store.db.pragma = ((source: string, options?: BetterSqlite3.PragmaOptions) => {
        seen.push(source);
        return pragma(source, options);
      }) as typeof store.db.pragma;
      store.checkpoint();
      expect(seen).toEqual(['busy_timeout = 1234', 'wal_checkpoint(TRUNCATE)', 'busy_timeout = 0']);
      expect(pragma('busy_timeout', { simple: true })).toBe(0);
    });

    it('uses synchronous FULL and the checkpoint interval when asked', () => {
      const { db } = open({ synchronous: 'FULL', walAutocheckpointPages: 1000 });
      expect(db.pragma('synchronous', { simple: true })).toBe(2);
      expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    });

    it('rejects options it cannot honour', () => {
      expect(() => open({ busyTimeoutMs: -1 })).toThrow(/busyTimeoutMs/);
      expect(() => open({ busyTimeoutMs: 1.5 })).toThrow(/busyTimeoutMs/);
      expect(() => open({ walAutocheckpointPages: 0 })).toThrow(/walAutocheckpointPages/);
      expect(() => open({ walAutocheckpointPages: 2.5 })).toThrow(/walAutocheckpointPages/);
      // What a caller without types could pass.
      expect(() => open(JSON.parse('{"groupCommit":"yes"}'))).toThrow(/groupCommit/);
      expect(() => open(JSON.parse('{"checkpointInBackground":"yes"}'))).toThrow(/checkpointInBackground/);
      expect(() => open(JSON.parse('{"groupCommitClock":0}'))).toThrow(/groupCommitClock/);
    });

    it('checkpoints by itself once the WAL reaches the configured number of pages', async () => {
      const walSize = async (walAutocheckpointPages: number): Promise<number> => {
        const file = path.join(dir, `checkpoint-${walAutocheckpointPages}.db`);
        const store = open({ path: file, walAutocheckpointPages, checkpointInBackground: false });
        await store.transaction(seedOne);
        for (let round = 0; round < 100; round += 1) {
          await store.transaction((tx) => tx.setMeta(`key-${round}`, 'x'.repeat(1000)));
        }
        return fs.statSync(`${file}-wal`).size;
      };
      // A checkpoint lets the next commit write the WAL from its start again, so the file stops
      // growing near the interval; without one it holds every frame of every commit.
      const often = await walSize(20);
      const never = await walSize(100_000);
      expect(often).toBeLessThan(never / 3);
    });

    it('copies the WAL into the database file from a worker thread, and the writer still bounds the WAL', async () => {
      // The writer's own checkpoint is out of reach here, so only the worker can have copied.
      const copied = path.join(dir, 'copied.db');
      const store = open({ path: copied, walAutocheckpointPages: 100_000 });
      await store.transaction(seedOne);
      const before = fs.statSync(copied).size;
      for (let round = 0; round < 100; round += 1) {
        await store.transaction((tx) => tx.setMeta(`key-${round}`, 'x'.repeat(1000)));
      }
      const result = await store.backgroundCheckpoint();
      expect(result).not.toBeNull();
      expect(result?.busy).toBe(false);
      expect(result?.checkpointed).toBe(result?.log);
      // 100 rows of 1000 bytes now live in the database file itself.
      expect(fs.statSync(copied).size).toBeGreaterThan(before + 100 * 1000);

      const file = path.join(dir, 'bounded.db');
      const bounded = open({ path: file, walAutocheckpointPages: 20 });
      await bounded.transaction(seedOne);
      for (let round = 0; round < 100; round += 1) {
        await bounded.transaction((tx) => tx.setMeta(`key-${round}`, 'x'.repeat(1000)));
      }

      const unbounded = path.join(dir, 'unbounded.db');
      const reference = open({ path: unbounded, walAutocheckpointPages: 100_000, checkpointInBackground: false });
      await reference.transaction(seedOne);
      for (let round = 0; round < 100; round += 1) {
        await reference.transaction((tx) => tx.setMeta(`key-${round}`, 'x'.repeat(1000)));
      }
      expect(fs.statSync(`${file}-wal`).size).toBeLessThan(fs.statSync(`${unbounded}-wal`).size / 3);
    });

    it('has no background checkpointer when asked not to, nor for an in-memory database', async () => {
      expect(await open({ checkpointInBackground: false }).backgroundCheckpoint()).toBeNull();
      expect(await open({ path: ':memory:' }).backgroundCheckpoint()).toBeNull();
    });

    it('stops the checkpoint thread on close', async () => {
      const store = open({ path: path.join(dir, 'closing.db') });
      await store.transaction(seedOne);
      await store.close();
      await expect(store.backgroundCheckpoint()).rejects.toThrow(/closed/);
    });
  });

  describe('a write lock another connection holds', () => {
    /** A clock the test moves, and a pause that yields one turn of the event loop and moves it by the pause asked for. */
    function lockClock() {
      const clock = { ms: 0 };
      return {
        clock,
        groupCommitClock: () => clock.ms,
        pauseForLock: async (ms: number) => {
          await new Promise<void>((resolve) => setImmediate(resolve));
          clock.ms += ms;
        },
      };
    }

    it('is waited for without holding the event loop, and the transaction commits once the lock is free', async () => {
      const { groupCommitClock, pauseForLock } = lockClock();
      const store = open({ groupCommitClock, pauseForLock });
      await store.transaction((tx) => seedOne(tx));
      const other = openRaw();
      other.exec('BEGIN IMMEDIATE');
      let written = false;
      const write = store
        .transaction((tx) => tx.setMeta('probe', 'written while another connection had the lock'))
        .then(() => {
          written = true;
        });
      let turns = 0;
      while (turns < 20) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        turns += 1;
      }
      expect(written).toBe(false);
      other.exec('ROLLBACK');
      await write;
      expect(written).toBe(true);
      expect(await store.transaction((tx) => tx.getMeta('probe'))).toBe('written while another connection had the lock');
    });

    it('fails with STORE_BUSY naming the file once busyTimeoutMs passed, having changed nothing', async () => {
      const { groupCommitClock, pauseForLock } = lockClock();
      const store = open({ groupCommitClock, pauseForLock, busyTimeoutMs: 300 });
      const other = openRaw();
      other.exec('BEGIN IMMEDIATE');
      const error = await store.transaction((tx) => tx.setMeta('probe', 'never')).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isConsentryError(error) && error.code).toBe('STORE_BUSY');
      expect(String((error as Error).message)).toMatch(/consentry\.db is locked by another process for writing .*gave up after 300 ms/);
      other.exec('ROLLBACK');
      expect(await store.transaction((tx) => tx.getMeta('probe'))).toBeUndefined();
    });

    it('does not hold reads: they answer at once with what was committed, while a write waits for the lock', async () => {
      const { groupCommitClock, pauseForLock } = lockClock();
      const store = open({ groupCommitClock, pauseForLock });
      await store.transaction(async (tx) => {
        await seedOne(tx);
        await tx.setMeta('probe', 'committed before the lock');
      });
      const other = openRaw();
      other.exec('BEGIN IMMEDIATE');
      other.exec("UPDATE meta SET value = '\"uncommitted\"' WHERE key = 'probe'");
      let written = false;
      const write = store.transaction((tx) => tx.setMeta('probe', 'written once the lock was free')).then(() => {
        written = true;
      });
      await new Promise<void>((resolve) => setImmediate(resolve));
      expect(await store.read((tx) => tx.getMeta('probe'))).toBe('committed before the lock');
      expect(written).toBe(false);
      other.exec('ROLLBACK');
      await write;
      expect(await store.read((tx) => tx.getMeta('probe'))).toBe('written once the lock was free');
    });
  });

  describe('reads', () => {
    it('answer beside a group this store has open, without its uncommitted writes', async () => {
      const store = open();
      await store.transaction(seedOne);
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const running = store.transaction(async (tx) => {
        await tx.setMeta('probe', 'uncommitted');
        await gate;
      });
      await new Promise<void>((resolve) => setImmediate(resolve));
      expect(store.db.inTransaction).toBe(true);
      expect(await store.read((tx) => tx.getMeta('probe'))).toBeUndefined();
      release();
      await running;
      expect(await store.read((tx) => tx.getMeta('probe'))).toBe('uncommitted');
    });

    it('of an in-memory database refuse writes and leave the connection writable', async () => {
      const store = open({ path: ':memory:' });
      await store.transaction(seedOne);
      await expect(store.read((tx) => tx.setMeta('probe', 'read'))).rejects.toMatchObject({ name: 'WriteInsideReadError', operation: 'setMeta' });
      expect(await store.read((tx) => tx.getMeta('probe'))).toBeUndefined();
      await store.transaction((tx) => tx.setMeta('probe', 'written'));
      expect(await store.read((tx) => tx.getMeta('probe'))).toBe('written');
      expect(store.db.pragma('query_only', { simple: true })).toBe(0);
    });

    it('of a read-only store read the file like its transactions', async () => {
      const writer = open();
      await writer.transaction(async (tx) => {
        await seedOne(tx);
        await tx.setMeta('probe', 'from the writer');
      });
      const reader = open({ readOnly: true });
      expect(await reader.read((tx) => tx.getMeta('probe'))).toBe('from the writer');
      await expect(reader.read((tx) => tx.setMeta('probe', 'read'))).rejects.toMatchObject({ name: 'ReadOnlyStoreError', operation: 'setMeta' });
    });
  });

  describe('query plans', () => {
    type PlanRow = { detail: string };
    const plan = (db: BetterSqlite3.Database, sql: string, ...params: unknown[]): string[] =>
      db
        .prepare<unknown[], PlanRow>(`EXPLAIN QUERY PLAN ${sql}`)
        .all(...params)
        .map((row) => row.detail);

    it('finds what retention deletes by key or index ranges, never sorting and never reading the delivered rows for the oldest pending one', () => {
      const { db } = open();
      expect(plan(db, PROCESSED_HEAD_SQL, 10)).toEqual(['SCAN processed_messages']);
      expect(plan(db, OLDEST_PENDING_POSITION_SQL)).toEqual(['SEARCH deliveries USING COVERING INDEX deliveries_status_due (status=?)']);
      expect(plan(db, EVENTS_HEAD_SQL, 10, 10)).toEqual(['SEARCH events USING INTEGER PRIMARY KEY (rowid<?)']);
      expect(plan(db, DELETE_DELIVERIES_THROUGH_SQL, 10)).toEqual(['SEARCH deliveries USING INDEX deliveries_event_position (event_position<?)']);
      const runs = plan(db, DELETE_FINISHED_RUNS_SQL, { ids_before: '01', before: T0, limit: 10 });
      expect(runs).toContain('SEARCH workflow_runs USING PRIMARY KEY (id<?)');
      expect(runs.join('\n')).not.toMatch(/SCAN|TEMP B-TREE/);
    });

    it('reads due timers through the partial due-time index, without sorting', () => {
      const { db } = open();
      const details = plan(db, DUE_TIMERS_SQL, T0, 10);
      expect(details).toEqual(['SEARCH r USING INDEX workflow_runs_timer_due (timer_due_at<?)']);
      expect(details.join('\n')).not.toMatch(/SCAN|TEMP B-TREE/);
    });

    it("reads one contact's due timers through the active-runs index, not the whole due-time index", () => {
      const { db } = open();
      const details = plan(db, DUE_TIMERS_OF_CONTACT_SQL, 'ws_a', 'ct_ana', 'whatsapp', T0);
      expect(details[0]).toBe('SEARCH workflow_runs USING INDEX workflow_runs_active (workspace_id=? AND contact_id=? AND channel=?)');
      expect(details.join('\n')).not.toMatch(/SCAN/);
    });

    it("reads a workspace's ledger as one range of the record table's rowid, without sorting", () => {
      const { db } = open();
      expect(plan(db, LAST_RECORD_SQL, 1, 1, 'ws_a')).toEqual(['SEARCH consent_records USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)']);
      expect(plan(db, LIST_RECORDS_SQL, 1, 0, 1, 'ws_a', 10)).toEqual([
        'SEARCH consent_records USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)',
      ]);
    });

    it('answers a tag query from the tag table index, not by scanning contacts', () => {
      const { db } = open();
      const details = plan(db, listContactsSql({ tag: 'vip', afterId: 'ct_1', limit: 10 }), 'ws_a', 'vip', 'ct_1', 10);
      expect(details[0]).toBe('SEARCH t USING PRIMARY KEY (workspace_id=? AND tag=? AND contact_id>?)');
      expect(details.join('\n')).not.toMatch(/SCAN|TEMP B-TREE/);
    });

    it("reads a hook's ready deliveries from the pending due index, probing the pending-sequence index, past its delivered rows", async () => {
      const store = open();
      // Many delivered rows must not be visited: the plan is checked with data in the table.
      await store.transaction(async (tx) => {
        await seedOne(tx);
        for (let position = 1; position <= 200; position += 1) {
          await tx.insertDelivery(
            deliveryRow(`dl_${position}`, 'hk_1', position, {
              contactId: position % 2 === 0 ? 'ct_ana' : null,
              status: position <= 190 ? 'delivered' : 'pending',
            }),
          );
        }
      });
      const details = plan(store.db, READY_OF_HOOK_SQL, 'hk_1', T0, 10);
      expect(details[0]).toBe('SEARCH d USING INDEX deliveries_pending_hook_due (hook_id=? AND next_attempt_at<?)');
      expect(details).toContain(
        'SEARCH e USING COVERING INDEX deliveries_pending_sequence (hook_id=? AND contact_id=? AND event_position<?)',
      );
      expect(details.join('\n')).not.toMatch(/SCAN|TEMP B-TREE/);
      // Pending from 191: the contact's head is 192, so 194..200 wait; rows without a contact do not.
      const groups = await store.transaction((tx) => tx.listReadyDeliveriesByHook(T0, { perHook: 100, hooks: 10 }));
      expect(groups.map((group) => group.map((d) => d.id))).toEqual([['dl_191', 'dl_192', 'dl_193', 'dl_195', 'dl_197', 'dl_199']]);
    });

    it('visits the hooks with pending deliveries and reads each one\'s ready rows from the per-hook due index', async () => {
      const store = open();
      // A long backlog of due rows on one hook, delivered rows on others: neither may be walked.
      await store.transaction(async (tx) => {
        await seedOne(tx);
        for (let position = 1; position <= 300; position += 1) {
          const hookId = position <= 200 ? 'hk_backlog' : `hk_${position}`;
          await tx.insertDelivery(
            deliveryRow(`dl_${position}`, hookId, position, {
              contactId: position <= 200 ? `ct_${position}` : null,
              status: position > 200 && position <= 290 ? 'delivered' : 'pending',
            }),
          );
        }
      });
      expect(plan(store.db, NEXT_PENDING_HOOK_SQL, 'hk_1')).toEqual([
        'SEARCH deliveries USING COVERING INDEX deliveries_pending_hook_due (hook_id>?)',
      ]);
      const details = plan(store.db, READY_OF_HOOK_SQL, 'hk_backlog', T0, 8);
      expect(details[0]).toBe('SEARCH d USING INDEX deliveries_pending_hook_due (hook_id=? AND next_attempt_at<?)');
      expect(details).toContain(
        'SEARCH e USING COVERING INDEX deliveries_pending_sequence (hook_id=? AND contact_id=? AND event_position<?)',
      );
      expect(details.join('\n')).not.toMatch(/SCAN|TEMP B-TREE/);
      expect(plan(store.db, PENDING_BACKLOG_SQL)).toEqual(['SEARCH deliveries USING COVERING INDEX deliveries_status_due (status=?)']);

      const groups = await store.transaction((tx) => tx.listReadyDeliveriesByHook(T0, { perHook: 3, hooks: 4, afterHookId: 'hk_295' }));
      expect(groups.map((group) => group.map((d) => d.id))).toEqual([['dl_296'], ['dl_297'], ['dl_298'], ['dl_299']]);
      const wrapped = await store.transaction((tx) => tx.listReadyDeliveriesByHook(T0, { perHook: 3, hooks: 3, afterHookId: 'hk_299' }));
      expect(wrapped.map((group) => group.map((d) => d.id))).toEqual([['dl_300'], ['dl_1', 'dl_2', 'dl_3'], ['dl_291']]);
    });

    it("finds a key's live hooks among its workspace's live hooks, from hooks_live, without sorting", () => {
      const { db } = open();
      const details = plan(db, LIVE_HOOKS_OF_API_KEY_SQL, 'ws_a', 'key_1');
      expect(details).toEqual(['SEARCH hooks USING INDEX hooks_live (workspace_id=?)']);
    });

    it("lists a hook's deliveries, and counts them, from indexes without sorting", () => {
      const { db } = open();
      for (const status of [undefined, 'pending', 'delivered'] as const) {
        expect(plan(db, listDeliveriesSql(status, false), 'hk_1', 'ws_a', 10)).toEqual([
          'SEARCH deliveries USING INDEX deliveries_hook_event (hook_id=?)',
        ]);
        expect(plan(db, listDeliveriesSql(status, true), 'hk_1', 'ws_a', 'evt_9', 10)).toEqual([
          'SEARCH deliveries USING INDEX deliveries_hook_event (hook_id=? AND event_id<?)',
        ]);
      }
      expect(plan(db, 'SELECT count(*) AS count FROM deliveries WHERE status = ?', 'dead')).toEqual([
        'SEARCH deliveries USING COVERING INDEX deliveries_status_due (status=?)',
      ]);
      // Deleted hooks' dead letters are counted hook by hook, not by walking every dead letter.
      expect(plan(db, UNSUBSCRIBED_BACKLOG_SQL)).toEqual(['SCAN hooks', 'SEARCH deliveries USING COVERING INDEX deliveries_dead (hook_id=?)']);
      // Replies to erased contacts are counted from each outbound webhook's dead letters, a contact read by its key each.
      expect(plan(db, ERASED_BACKLOG_SQL)).toEqual([
        'SCAN workspaces USING COVERING INDEX sqlite_autoindex_workspaces_1',
        'SEARCH deliveries USING INDEX deliveries_dead (hook_id=?)',
        'SEARCH contacts USING INDEX sqlite_autoindex_contacts_1 (workspace_id=? AND id=?)',
      ]);
    });

    it("closes an erased contact's pending replies from the pending-sequence index, past the outbound webhook's other rows", async () => {
      const store = open();
      // A backlog of other contacts' replies, and the contact's delivered ones, must not be walked.
      await store.transaction(async (tx) => {
        await seedOne(tx);
        for (let position = 1; position <= 200; position += 1) {
          await tx.insertDelivery(
            deliveryRow(`dl_${position}`, 'outbound:ws_a', position, {
              contactId: position % 50 === 0 ? 'ct_ana' : `ct_${position}`,
              status: position === 50 ? 'delivered' : 'pending',
            }),
          );
        }
      });
      expect(plan(store.db, ABANDON_REPLIES_SQL, 'not sent', T0, 'ws_a', 'ws_a', 'ct_ana')).toEqual([
        'SEARCH deliveries USING INDEX deliveries_pending_sequence (hook_id=? AND contact_id=?)',
      ]);
      expect(await store.transaction((tx) => tx.abandonRepliesToContact('ws_a', 'ct_ana', 'not sent', T0))).toBe(3);
      const dead = await store.transaction((tx) => tx.listDeliveries('ws_a', 'outbound:ws_a', { status: 'dead', limit: 10 }));
      expect(dead.map((d) => d.id)).toEqual(['dl_200', 'dl_150', 'dl_100']);
    });

    it("lists a hook's dead letters page by page, and sends them again, from the dead-letter index, past its delivered rows", async () => {
      const store = open();
      // Many delivered rows must not be walked to find a few dead ones: the plan is checked with data in the table.
      await store.transaction(async (tx) => {
        await seedOne(tx);
        for (let position = 1; position <= 300; position += 1) {
          await tx.insertDelivery(
            deliveryRow(`dl_${position}`, 'hk_1', position, {
              eventId: `evt_${String(position).padStart(4, '0')}`,
              status: position % 100 === 0 ? 'dead' : 'delivered',
            }),
          );
        }
      });
      expect(plan(store.db, listDeliveriesSql('dead', false), 'hk_1', 'ws_a', 10)).toEqual(['SEARCH deliveries USING INDEX deliveries_dead (hook_id=?)']);
      expect(plan(store.db, listDeliveriesSql('dead', true), 'hk_1', 'ws_a', 'evt_0200', 10)).toEqual([
        'SEARCH deliveries USING INDEX deliveries_dead (hook_id=? AND event_id<?)',
      ]);
      const resend = plan(store.db, RESEND_DEAD_SQL, { at: T0, hook_id: 'hk_1', workspace_id: 'ws_a', limit: 10 });
      // The contact is read (by its key) only to leave out replies to erased contacts.
      const contactByKey = ['CORRELATED SCALAR SUBQUERY 1', 'SEARCH contacts USING INDEX sqlite_autoindex_contacts_1 (workspace_id=? AND id=?)'];
      expect(resend).toEqual(['SEARCH deliveries USING PRIMARY KEY (id=?)', 'LIST SUBQUERY 2', 'SEARCH d USING INDEX deliveries_dead (hook_id=?)', ...contactByKey]);
      expect(plan(store.db, MORE_DEAD_SQL, { hook_id: 'hk_1', workspace_id: 'ws_a' })).toEqual([
        'SCAN CONSTANT ROW',
        'SCALAR SUBQUERY 2',
        'SEARCH d USING INDEX deliveries_dead (hook_id=?)',
        ...contactByKey,
      ]);

      const page = (beforeEventId?: string) =>
        store.transaction(async (tx) =>
          (await tx.listDeliveries('ws_a', 'hk_1', { status: 'dead', limit: 2, ...(beforeEventId ? { beforeEventId } : {}) })).map((d) => d.id),
        );
      expect(await page()).toEqual(['dl_300', 'dl_200']);
      expect(await page('evt_0200')).toEqual(['dl_100']);
      expect(await store.transaction((tx) => tx.resendDeadDeliveries('ws_a', 'hk_1', { at: T0, limit: 2 }))).toEqual({ resent: 2, more: true });
      expect(await page()).toEqual(['dl_300']);
      const pending = await store.transaction((tx) => tx.listDeliveries('ws_a', 'hk_1', { status: 'pending', limit: 10 }));
      expect(pending.map((d) => d.id)).toEqual(['dl_200', 'dl_100']);
    });

    it("walks the workspace's prefix of the processed-message key for a contact's answers, in index order", async () => {
      const store = open();
      await store.transaction(async (tx) => {
        await seedOne(tx);
        for (let n = 1; n <= 50; n += 1) {
          await tx.saveProcessedMessage({
            workspaceId: 'ws_a',
            channel: n % 2 === 0 ? 'whatsapp' : 'sms',
            messageId: `m.${n}`,
            contactId: n % 5 === 0 ? 'ct_ana' : `ct_${n}`,
            response: { replies: [] },
            processedAt: T0,
          });
        }
      });
      expect(plan(store.db, PROCESSED_OF_CONTACT_SQL, 'ws_a', 'ct_ana')).toEqual([
        'SEARCH processed_messages USING INDEX processed_messages_key (workspace_id=?)',
      ]);
      const listed = await store.transaction((tx) => tx.listProcessedMessagesOfContact('ws_a', 'ct_ana'));
      expect(listed.map((m) => `${m.channel}:${m.messageId}`)).toEqual([
        'sms:m.15',
        'sms:m.25',
        'sms:m.35',
        'sms:m.45',
        'sms:m.5',
        'whatsapp:m.10',
        'whatsapp:m.20',
        'whatsapp:m.30',
        'whatsapp:m.40',
        'whatsapp:m.50',
      ]);
    });

    it("reads a contact's runs of every status by one scan of the runs, with no index of its own", () => {
      const { db } = open();
      expect(plan(db, RUNS_OF_CONTACT_SQL, 'ws_a', 'ct_ana')).toEqual(['SCAN workflow_runs', 'USE TEMP B-TREE FOR ORDER BY']);
      const indexes = db
        .prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name IN ('workflow_runs', 'processed_messages') AND sql IS NOT NULL ORDER BY name")
        .all()
        .map((row) => row.name);
      expect(indexes).toEqual(['processed_messages_key', 'workflow_runs_active', 'workflow_runs_timer_due']);
    });

    it('reads a page of several event types one index range per type, never the workspace history', () => {
      const { db } = open();
      const details = plan(db, listEventsSql({ limit: 10, beforeId: 'x' }, 3), ...['ws_a', 'a', 'x', 10, 'ws_a', 'b', 'x', 10, 'ws_a', 'c', 'x', 10, 10]);
      const searches = details.filter((detail) => detail.startsWith('SEARCH events'));
      expect(searches).toEqual(new Array(3).fill('SEARCH events USING INDEX events_workspace_type_id (workspace_id=? AND type=? AND id<?)'));
      expect(details.some((detail) => detail.includes('events_workspace_id'))).toBe(false);
    });

    it('reads the events after an id oldest first through the same indexes', () => {
      const { db } = open();
      const one = plan(db, listEventsSql({ limit: 10, afterId: 'x' }, 0), 'ws_a', 'x', 10);
      expect(one).toEqual(['SEARCH events USING INDEX events_workspace_id (workspace_id=? AND id>?)']);
      const details = plan(db, listEventsSql({ limit: 10, afterId: 'x' }, 2), ...['ws_a', 'a', 'x', 10, 'ws_a', 'b', 'x', 10, 10]);
      const searches = details.filter((detail) => detail.startsWith('SEARCH events'));
      expect(searches).toEqual(new Array(2).fill('SEARCH events USING INDEX events_workspace_type_id (workspace_id=? AND type=? AND id>?)'));
      expect(details.some((detail) => detail.includes('events_workspace_id'))).toBe(false);
    });

    it('finds contacts by email, phone and HubSpot id through their indexes', () => {
      const { db } = open();
      for (const column of ['email', 'phone', 'hubspot_id'] as const) {
        expect(plan(db, findContactSql(column), 'ws_a', 'x')).toEqual([`SEARCH contacts USING INDEX contacts_${column} (workspace_id=? AND ${column}=?)`]);
      }
      const listed = plan(db, listContactsSql({ email: 'ana@example.com', afterId: 'ct_1', limit: 10 }), 'ws_a', 'ana@example.com', 'ct_1', 10);
      expect(listed).toEqual(['SEARCH c USING INDEX contacts_email (workspace_id=? AND email=? AND id>?)']);
    });
  });

  it('prepares its statements once and reuses them in every transaction', async () => {
    const store = open();
    const work = async (tx: StoreTx, round: number): Promise<void> => {
      if (round === 0) await seedOne(tx);
      const ana = await tx.getContact('ws_a', 'ct_ana');
      if (ana) await tx.updateContact({ ...ana, tags: [`round-${round}`], updatedAt: T0 });
      await tx.listContacts('ws_a', { tag: `round-${round}`, limit: 5 });
      await tx.appendEvent({
        id: `evt_${round}`,
        type: 'contact.tagged',
        version: 1,
        workspaceId: 'ws_a',
        occurredAt: T0,
        contactId: 'ct_ana',
        data: { contactId: 'ct_ana', tag: `round-${round}` },
      });
      await tx.listEvents('ws_a', { types: ['contact.tagged'], limit: 5 });
      await tx.saveProcessedMessage({
        workspaceId: 'ws_a',
        channel: 'whatsapp',
        messageId: `wamid.${round}`,
        contactId: 'ct_ana',
        response: { replies: [{ text: 'Hi Ana' }] },
        processedAt: T0,
      });
      await tx.replaceProcessedResponse('ws_a', 'whatsapp', `wamid.${round}`, { replies: [{ text: '[erased]' }] });
      await tx.listProcessedMessagesOfContact('ws_a', 'ct_ana');
      await tx.listRunsOfContact('ws_a', 'ct_ana');
      await tx.setMeta('cursor', round);
      const key = apiKeyRow(`key_${round}`, `hash_${round}`);
      await tx.insertApiKey(key);
      await tx.updateApiKey({ ...key, lastUsedAt: T0 });
      await tx.findApiKeyByHash(key.hash);
      await tx.getApiKey(key.id);
      await tx.listApiKeys();
      await tx.listApiKeys('ws_a');
      const hook = hookRow(`hk_${round}`);
      await tx.insertHook(hook);
      await tx.updateHook({ ...hook, filter: null });
      await tx.getHook('ws_a', hook.id);
      await tx.listHooks('ws_a');
      await tx.listAllLiveHooks();
      await tx.listLiveHooksOfApiKey('ws_a', key.id);
      const delivery = deliveryRow(`dl_${round}`, hook.id, round + 1);
      await tx.insertDelivery(delivery);
      await tx.updateDelivery({ ...delivery, attempts: 1 });
      await tx.listReadyDeliveriesByHook(T0, { perHook: 2, hooks: 2, afterHookId: 'hk_0' });
      await tx.deliveryBacklog();
      await tx.getDelivery('ws_a', delivery.id);
      await tx.listDeliveries('ws_a', hook.id, { limit: 10 });
      await tx.listDeliveries('ws_a', hook.id, { status: 'pending', limit: 10 });
      await tx.listDeliveries('ws_a', hook.id, { status: 'dead', beforeEventId: 'evt_9', limit: 10 });
      await tx.abandonDeliveries(hook.id, 'gone', T0);
      await tx.resendDeadDeliveries('ws_a', hook.id, { at: T0, limit: 10 });
      await tx.abandonDeliveries(hook.id, 'gone', T0);
      await tx.countDeliveries('dead');
    };
    await store.transaction((tx) => work(tx, 0));
    const prepare = vi.spyOn(store.db, 'prepare');
    await store.transaction((tx) => work(tx, 1));
    await store.transaction((tx) => work(tx, 2));
    expect(prepare).not.toHaveBeenCalled();
    expect(await store.transaction((tx) => tx.getMeta('cursor'))).toBe(2);
    expect(await store.transaction((tx) => tx.countDeliveries('dead'))).toBe(3);
  });

  it('creates the parent directory of the database file', async () => {
    const nested = path.join(dir, 'data', 'nested', 'consentry.db');
    const store = open({ path: nested });
    await store.transaction(seedOne);
    expect(fs.existsSync(nested)).toBe(true);
  });

  it("refuses a database holding another application's tables, and one without its schema when asked to create nothing", async () => {
    const foreign = path.join(dir, 'other.db');
    const raw = new BetterSqlite3(foreign);
    raw.exec('CREATE TABLE t (x)');
    raw.close();
    const refusal = (options: Parameters<typeof createSqliteStore>[0]): unknown => {
      try {
        open(options);
      } catch (error) {
        return isConsentryError(error) ? { code: error.code, message: error.message } : error;
      }
      return 'opened';
    };
    expect(refusal({ path: foreign })).toEqual({ code: 'CONFLICT', message: `${foreign} is not a Consentry database: it holds other tables (t) and no Consentry schema` });
    const empty = path.join(dir, 'empty.db');
    fs.writeFileSync(empty, '');
    expect(refusal({ path: empty, createIfMissing: false })).toEqual({ code: 'NOT_FOUND', message: `${empty} holds no Consentry database yet` });
    expect(fs.statSync(empty).size).toBe(0);
    const missing = path.join(dir, 'missing', 'x.db');
    expect(refusal({ path: missing, createIfMissing: false })).toEqual({ code: 'NOT_FOUND', message: `no database at ${missing}` });
    expect(fs.existsSync(path.join(dir, 'missing'))).toBe(false);

    const made = open({ path: empty });
    await made.transaction(seedOne);
    await made.close();
    const reopened = open({ path: empty, createIfMissing: false });
    expect((await reopened.transaction((tx) => tx.findContactByEmail('ws_a', 'ana@example.com')))?.id).toBe('ct_ana');
  });

  it('works on :memory:', async () => {
    const store = open({ path: ':memory:' });
    await store.transaction(seedOne);
    expect((await store.transaction((tx) => tx.findContactByEmail('ws_a', 'ana@example.com')))?.id).toBe('ct_ana');
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('keeps the consent ledger append-only below the port', async () => {
    const store = open();
    await store.transaction(async (tx) => {
      await seedOne(tx);
      await tx.appendConsentRecord({
        id: 'rec_1',
        workspaceId: 'ws_a',
        contactId: 'ct_ana',
        purpose: 'privacy',
        channel: 'whatsapp',
        status: 'opted_in',
        legalBasis: null,
        explanation: null,
        source: 'keyword',
        actor: { kind: 'contact', id: 'ct_ana' },
        evidence: { rawText: 'YES' },
        evidenceDigest: 'digest-1',
        occurredAt: T0,
        recordedAt: T0,
        idempotencyKey: null,
        seq: 1,
        prevHash: 'genesis',
        hash: 'hash-1',
      });
    });
    expect(() => store.db.prepare("UPDATE consent_records SET hash = 'forged'").run()).toThrow(/append-only/);
    expect(() => store.db.prepare('DELETE FROM consent_records').run()).toThrow(/append-only/);
    expect(store.db.prepare("UPDATE consent_records SET evidence = '{}'").run().changes).toBe(1);
  });

  it('never hands out a committed event position again: the newest event cannot be deleted', async () => {
    const store = open();
    await store.transaction(async (tx) => {
      await seedOne(tx);
      for (const id of ['evt_1', 'evt_2']) {
        await tx.appendEvent({
          id,
          type: 'contact.tagged',
          version: 1,
          workspaceId: 'ws_a',
          occurredAt: T0,
          contactId: 'ct_ana',
          data: { contactId: 'ct_ana', tag: 'vip' },
        });
      }
    });
    expect(() => store.db.prepare("DELETE FROM events WHERE id = 'evt_2'").run()).toThrow(/newest event/);
    expect(store.db.prepare("DELETE FROM events WHERE id = 'evt_1'").run().changes).toBe(1);
    const next = await store.transaction((tx) =>
      tx.appendEvent({
        id: 'evt_3',
        type: 'contact.tagged',
        version: 1,
        workspaceId: 'ws_a',
        occurredAt: T0,
        contactId: 'ct_ana',
        data: { contactId: 'ct_ana', tag: 'vip' },
      }),
    );
    expect(next.position).toBe(3);
  });

  it('folds the WAL into the database file on checkpoint', async () => {
    const store = open();
    await store.transaction(seedOne);
    const wal = path.join(dir, 'consentry.db-wal');
    expect(fs.statSync(wal).size).toBeGreaterThan(0);
    store.checkpoint();
    expect(fs.statSync(wal).size).toBe(0);
  });

  /** Runs the commit-and-hang fixture until it reports its commits, then kills it with SIGKILL; returns what it printed. */
  async function commitAndKill(dbPath: string, concurrent: number): Promise<string> {
    const child = spawn(process.execPath, ['--import', 'tsx', crashFixture, dbPath, String(concurrent)], {
      cwd: projectRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('committed\n')) resolve();
      });
      child.once('exit', (code, signal) => reject(new Error(`child exited (${code ?? signal}) before committing: ${stderr}`)));
      child.once('error', reject);
    });
    const exited = once(child, 'exit');
    expect(child.kill('SIGKILL')).toBe(true);
    const [, signal] = await exited;
    expect(signal).toBe('SIGKILL');
    // The killed writer never checkpointed: the commits live in the WAL.
    expect(fs.statSync(`${dbPath}-wal`).size).toBeGreaterThan(0);
    return stdout;
  }

  it('lets a process that never closes the store exit once its work is done, after awaiting a background checkpoint', async () => {
    const dbPath = path.join(dir, 'forget', 'consentry.db');
    const child = spawn(process.execPath, ['--import', 'tsx', forgetFixture, dbPath], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ busy: false, checkpointed: expect.any(Number) });
  }, 30_000);

  it('keeps a committed transaction when the process is killed with SIGKILL', async () => {
    const dbPath = path.join(dir, 'crash', 'consentry.db');
    await commitAndKill(dbPath, 0);

    const reopened = open({ path: dbPath });
    const found = await reopened.transaction(async (tx) => ({
      contact: await tx.findContactByIdentity('ws_crash', 'whatsapp', '+34600000001'),
      events: await tx.listEvents('ws_crash', { limit: 10 }),
    }));
    expect(found.contact?.id).toBe('ct_crash');
    expect(found.contact?.tags).toEqual(['survivor']);
    expect(found.events.map((event) => [event.id, event.position])).toEqual([['evt_crash', 1]]);
  });

  it('keeps every transaction of a shared COMMIT whose promise resolved when the process is killed with SIGKILL', async () => {
    const dbPath = path.join(dir, 'crash-group', 'consentry.db');
    const concurrent = 40;
    const printed = await commitAndKill(dbPath, concurrent);
    const stats = z.object({ commits: z.number(), transactions: z.number() }).parse(JSON.parse(printed.split('\n')[0] ?? ''));
    expect(stats.transactions).toBe(concurrent + 1);
    expect(stats.commits).toBeLessThan(concurrent);

    const reopened = open({ path: dbPath });
    const ids = await reopened.transaction(async (tx) => (await tx.listContacts('ws_crash', { limit: 1000 })).map((contact) => contact.id));
    expect(ids.filter((id) => id.startsWith('ct_group_')).sort()).toEqual(Array.from({ length: concurrent }, (_, i) => `ct_group_${i}`).sort());
  });

  describe('group commit', () => {
    async function seeded(options: Partial<Parameters<typeof createSqliteStore>[0]> = {}): Promise<SqliteStore> {
      const store = open(options);
      await store.transaction(seedOne);
      return store;
    }

    const contactRow = (id: string) => ({
      id,
      workspaceId: 'ws_a',
      name: 'Ana Test',
      email: null,
      phone: null,
      identities: [],
      fields: {},
      tags: [],
      hubspotId: null,
      createdAt: T0,
      updatedAt: T0,
      erasedAt: null,
    });

    it('acknowledges each of many concurrent transactions only once another connection can read it', async () => {
      // Seeded through another handle, so this store starts without a history of waits.
      const seeder = open();
      await seeder.transaction(seedOne);
      await seeder.close();
      const store = open();
      const reader = openRaw();
      const visible = reader.prepare<[string], { id: string }>("SELECT id FROM contacts WHERE workspace_id = 'ws_a' AND id = ?");
      const before = store.commitStats();
      const insert = (i: number): Promise<boolean> => {
        const id = `ct_concurrent_${i}`;
        return store.transaction((tx) => tx.insertContact(contactRow(id))).then(() => visible.get(id)?.id === id);
      };
      // Half start together, half from later callbacks of the event loop, as requests on other connections do.
      const seen = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          i % 2 === 0 ? insert(i) : new Promise<boolean>((resolve, reject) => setImmediate(() => insert(i).then(resolve, reject))),
        ),
      );
      expect(seen.every(Boolean)).toBe(true);
      const after = store.commitStats();
      expect(after.transactions - before.transactions).toBe(200);
      expect(after.commits - before.commits).toBeLessThan(20);
      expect(reader.prepare("SELECT count(*) AS n FROM contacts WHERE id LIKE 'ct_concurrent_%'").get()).toEqual({ n: 200 });
    });

    it('commits the transactions of a caller that awaits them one after another each alone, without waiting for company', async () => {
      const store = await seeded();
      const before = store.commitStats();
      for (let i = 0; i < 30; i += 1) await store.transaction((tx) => tx.setMeta('cursor', i));
      const after = store.commitStats();
      expect(after.commits - before.commits).toBe(30);
      expect(after.waits - before.waits).toBe(0);
    });

    it('rejects every transaction of a group whose COMMIT fails, and keeps none of them', async () => {
      // A clock that stands still: the three share one COMMIT however long each takes on a loaded machine.
      const store = await seeded({ groupCommitClock: () => 0 });
      const group = [
        store.transaction((tx) => tx.insertContact(contactRow('ct_before'))),
        store.transaction(async (tx) => {
          // Checked at COMMIT instead of at the statement (https://www.sqlite.org/pragma.html#pragma_defer_foreign_keys),
          // so the group's COMMIT fails with the constraint.
          store.db.pragma('defer_foreign_keys = ON');
          await tx.insertContact({ ...contactRow('ct_orphan'), workspaceId: 'ws_missing' });
        }),
        store.transaction((tx) => tx.insertContact(contactRow('ct_after'))),
      ];
      for (const outcome of group) await expect(outcome).rejects.toThrow(/FOREIGN KEY constraint failed/);
      expect(store.db.inTransaction).toBe(false);
      const left = await store.transaction(async (tx) => (await tx.listContacts('ws_a', { limit: 10 })).map((c) => c.id));
      expect(left).toEqual(['ct_ana']);
      expect(await store.transaction((tx) => tx.getContact('ws_missing', 'ct_orphan'))).toBeUndefined();
      await store.transaction((tx) => tx.insertContact(contactRow('ct_later')));
      expect(await store.transaction(async (tx) => (await tx.getContact('ws_a', 'ct_later'))?.id)).toBe('ct_later');
    });

    it("commits the raw statements a transaction runs on db with it, and rolls them back with it alone", async () => {
      const store = await seeded();
      const put = store.db.prepare<[string, string]>('INSERT INTO meta (key, value) VALUES (?, ?)');
      const failure = new Error('second fails');
      const outcomes = await Promise.allSettled(
        ['first', 'second', 'third'].map((name) =>
          store.transaction(async () => {
            put.run(`raw-${name}`, JSON.stringify(name));
            if (name === 'second') throw failure;
          }),
        ),
      );
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      const keys = openRaw().prepare("SELECT key FROM meta WHERE key LIKE 'raw-%' ORDER BY key").all();
      expect(keys).toEqual([{ key: 'raw-first' }, { key: 'raw-third' }]);
    });

    it('commits every transaction alone when group commit is off', async () => {
      const store = await seeded({ groupCommit: false });
      const before = store.commitStats();
      await Promise.all(Array.from({ length: 10 }, (_, i) => store.transaction((tx) => tx.insertContact(contactRow(`ct_alone_${i}`)))));
      const after = store.commitStats();
      expect(after.commits - before.commits).toBe(10);
      expect(after.waits).toBe(0);
    });

    it('lets close wait for the transactions already queued, then refuses new ones', async () => {
      const store = await seeded();
      const queued = Array.from({ length: 5 }, (_, i) => store.transaction((tx) => tx.insertContact(contactRow(`ct_queued_${i}`))));
      await store.close();
      await Promise.all(queued);
      await expect(store.transaction((tx) => tx.listWorkspaces())).rejects.toThrow(/closed/);
      const reader = openRaw();
      expect(reader.prepare("SELECT count(*) AS n FROM contacts WHERE id LIKE 'ct_queued_%'").get()).toEqual({ n: 5 });
    });
  });
});

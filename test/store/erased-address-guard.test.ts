import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { Contact } from '../../src/core/contact.js';
import { defaultSettings } from '../../src/core/settings.js';
import type { Store, StoreTx } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { MIGRATIONS, migrate } from '../../src/store/migrations.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { contact as contactRecord } from '../contracts/store.contract.js';

const T0 = '2026-01-01T00:00:00.000Z';
const WS = 'ws_a';

const dirs: string[] = [];
const stores: Store[] = [];

afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function tempFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-guard-'));
  dirs.push(dir);
  return path.join(dir, 'consentry.db');
}

function kept<S extends Store>(store: S): S {
  stores.push(store);
  return store;
}

const STORES: [string, () => Store][] = [
  ['memory', () => kept(createMemoryStore())],
  ['sqlite', () => kept(createSqliteStore({ path: tempFile() }))],
];

const contact = (id: string, values: Partial<Contact> = {}): Contact => contactRecord(WS, id, values);

/** Every way a contact is read, for one guarded and one unguarded contact. */
async function everyRead(tx: StoreTx): Promise<Record<string, (Contact | undefined)[]>> {
  return {
    byId: [await tx.getContact(WS, 'ct_held'), await tx.getContact(WS, 'ct_free')],
    byEmail: [await tx.findContactByEmail(WS, 'held@example.com'), await tx.findContactByEmail(WS, 'free@example.com')],
    byPhone: [await tx.findContactByPhone(WS, '+34600000001'), await tx.findContactByPhone(WS, '+34600000002')],
    byIdentity: [await tx.findContactByIdentity(WS, 'whatsapp', '34600000001'), await tx.findContactByIdentity(WS, 'whatsapp', '34600000002')],
    byHubspotId: [await tx.findContactByHubspotId(WS, 'hs-1'), await tx.findContactByHubspotId(WS, 'hs-2')],
    listed: await tx.listContacts(WS, { limit: 10 }),
    byTag: await tx.listContacts(WS, { tag: 'imported', limit: 10 }),
  };
}

async function seed(store: Store): Promise<void> {
  await store.transaction(async (tx) => {
    await tx.insertWorkspace({ id: WS, name: 'Shop A', settings: defaultSettings(), createdAt: T0, updatedAt: T0 });
    const shared = { tags: ['imported'] };
    await tx.insertContact(
      contact('ct_held', { ...shared, email: 'held@example.com', phone: '+34600000001', hubspotId: 'hs-1', identities: [{ channel: 'whatsapp', externalId: '34600000001' }], erasedAddressGuard: { ownIdentities: 1 } }),
    );
    await tx.insertContact(
      contact('ct_free', { ...shared, email: 'free@example.com', phone: '+34600000002', hubspotId: 'hs-2', identities: [{ channel: 'whatsapp', externalId: '34600000002' }] }),
    );
  });
}

describe.each(STORES)('a contact’s erasedAddressGuard (%s store)', (_name, makeStore) => {
  it('is read back by every contact lookup, and only on the contact written with it', async () => {
    const store = makeStore();
    await seed(store);
    const read = await store.transaction(everyRead);
    for (const [lookup, contacts] of Object.entries(read)) {
      // Lists are ordered by id; the other lookups ask for the guarded contact first.
      expect(contacts.map((found) => found?.id), lookup).toEqual(lookup === 'listed' || lookup === 'byTag' ? ['ct_free', 'ct_held'] : ['ct_held', 'ct_free']);
      const held = contacts.find((found) => found?.id === 'ct_held');
      const free = contacts.find((found) => found?.id === 'ct_free');
      expect(held?.erasedAddressGuard, lookup).toStrictEqual({ ownIdentities: 1 });
      expect(free, lookup).toBeDefined();
      expect(Object.hasOwn(free ?? {}, 'erasedAddressGuard'), lookup).toBe(false);
    }
    // A read sees what a transaction sees.
    expect(await store.read(everyRead)).toStrictEqual(read);
  });

  it('is lifted by an update that leaves it out, and set by one that has it', async () => {
    const store = makeStore();
    await seed(store);
    await store.transaction(async (tx) => {
      const held = await tx.getContact(WS, 'ct_held');
      const free = await tx.getContact(WS, 'ct_free');
      if (!held || !free) throw new Error('not seeded');
      const { erasedAddressGuard: _lifted, ...lifted } = held;
      await tx.updateContact({ ...lifted, updatedAt: '2026-01-02T00:00:00.000Z' });
      await tx.updateContact({ ...free, erasedAddressGuard: { ownIdentities: 0 } });
    });
    const after = await store.read(async (tx) => [await tx.getContact(WS, 'ct_held'), await tx.getContact(WS, 'ct_free')]);
    expect(after[0]).toStrictEqual(
      contact('ct_held', { tags: ['imported'], email: 'held@example.com', phone: '+34600000001', hubspotId: 'hs-1', identities: [{ channel: 'whatsapp', externalId: '34600000001' }], updatedAt: '2026-01-02T00:00:00.000Z' }),
    );
    expect(after[1]?.erasedAddressGuard).toStrictEqual({ ownIdentities: 0 });
  });

  it('stays as it was when the transaction that changed it fails', async () => {
    const store = makeStore();
    await seed(store);
    await expect(
      store.transaction(async (tx) => {
        const held = await tx.getContact(WS, 'ct_held');
        if (!held) throw new Error('not seeded');
        const { erasedAddressGuard: _lifted, ...lifted } = held;
        await tx.updateContact(lifted);
        await tx.insertContact(contact('ct_ghost', { erasedAddressGuard: { ownIdentities: 0 } }));
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    const after = await store.read(async (tx) => ({ held: await tx.getContact(WS, 'ct_held'), ghost: await tx.getContact(WS, 'ct_ghost') }));
    expect(after.held?.erasedAddressGuard).toStrictEqual({ ownIdentities: 1 });
    expect(after.ghost).toBeUndefined();
  });
});

describe('migration 16 (SQLite)', () => {
  it('leaves the contacts of an older database unguarded, and keeps the column to 0 or 1', async () => {
    const file = tempFile();
    const older = new BetterSqlite3(file);
    expect(migrate(older, MIGRATIONS.filter((migration) => migration.version < 16)).version).toBe(15);
    older
      .prepare(`INSERT INTO workspaces (id, name, settings, created_at, updated_at) VALUES (?, 'Shop A', ?, '${T0}', '${T0}')`)
      .run(WS, JSON.stringify(defaultSettings()));
    older
      .prepare(
        `INSERT INTO contacts (workspace_id, id, name, email, phone, identities, fields, tags, hubspot_id, created_at, updated_at, erased_at)
         VALUES (?, 'ct_old', NULL, 'old@example.com', NULL, '[]', '{}', '[]', NULL, '${T0}', '${T0}', NULL)`,
      )
      .run(WS);
    older.close();

    const store = kept(createSqliteStore({ path: file }));
    const old = await store.read((tx) => tx.findContactByEmail(WS, 'old@example.com'));
    expect(old).toStrictEqual(contact('ct_old', { name: null, email: 'old@example.com' }));
    expect(MIGRATIONS.find((migration) => migration.version === 16)?.name).toBe('contacts guarded for an erased address');
    expect(() => store.db.prepare("UPDATE contacts SET erased_address_guard = 2 WHERE id = 'ct_old'").run()).toThrow(/CHECK constraint failed/);
  });
});

describe('migration 18 (SQLite)', () => {
  it('counts every identity a contact guarded before it had as its own, and leaves unguarded contacts without a count', async () => {
    const file = tempFile();
    const older = new BetterSqlite3(file);
    expect(migrate(older, MIGRATIONS.filter((migration) => migration.version < 18)).version).toBe(17);
    older
      .prepare(`INSERT INTO workspaces (id, name, settings, created_at, updated_at) VALUES (?, 'Shop A', ?, '${T0}', '${T0}')`)
      .run(WS, JSON.stringify(defaultSettings()));
    const insert = older.prepare(
      `INSERT INTO contacts (workspace_id, id, name, email, phone, identities, fields, tags, hubspot_id, created_at, updated_at, erased_at, erased_address_guard)
       VALUES (?, ?, NULL, ?, NULL, ?, '{}', '[]', NULL, '${T0}', '${T0}', NULL, ?)`,
    );
    const twoIdentities = JSON.stringify([
      { channel: 'whatsapp', externalId: '34600000001' },
      { channel: 'webchat', externalId: 'visitor-1' },
    ]);
    insert.run(WS, 'ct_held', 'held@example.com', twoIdentities, 1);
    insert.run(WS, 'ct_free', 'free@example.com', twoIdentities, 0);
    older.close();

    const store = kept(createSqliteStore({ path: file }));
    const [held, free] = await store.read(async (tx) => [await tx.getContact(WS, 'ct_held'), await tx.getContact(WS, 'ct_free')]);
    expect(held?.erasedAddressGuard).toStrictEqual({ ownIdentities: 2 });
    expect(Object.hasOwn(free ?? {}, 'erasedAddressGuard')).toBe(false);
    const counts = store.db.prepare('SELECT id, erased_address_guard_identities AS own FROM contacts ORDER BY id').all();
    expect(counts).toStrictEqual([
      { id: 'ct_free', own: null },
      { id: 'ct_held', own: 2 },
    ]);
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { defaultSettings } from '../../src/core/settings.js';
import { FakeClock } from '../../src/ports/clock.js';
import BetterSqlite3 from 'better-sqlite3';
import { ConsentryError } from '../../src/core/errors.js';
import { authenticateApiKey, createApiKey, lastUsesRecorded, revokeApiKey } from '../../src/server/api-keys.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';
import { TransactionRolledBackError } from '../../src/ports/store.js';

const T0 = '2026-03-01T09:00:00.000Z';

describe('authenticating API keys against a store that versions them', () => {
  let dir: string;
  let file: string;
  let clock: FakeClock;
  const stores: SqliteStore[] = [];

  const open = (): SqliteStore => {
    const store = createSqliteStore({ path: file });
    stores.push(store);
    return store;
  };

  async function withSecondKey(store: SqliteStore): Promise<{ key: string; keyId: string }> {
    const { key, row } = await createApiKey(store, { workspaceId: 'ws_acme', clock, name: 'second' });
    return { key, keyId: row.id };
  }

  async function withKey(store: SqliteStore): Promise<{ key: string; keyId: string }> {
    await store.transaction((tx) => tx.insertWorkspace({ id: 'ws_acme', name: 'Acme', settings: defaultSettings(), createdAt: T0, updatedAt: T0 }));
    const { key, row } = await createApiKey(store, { workspaceId: 'ws_acme', clock });
    return { key, keyId: row.id };
  }

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-api-keys-'));
    file = path.join(dir, 'consentry.db');
    clock = new FakeClock(T0);
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    for (const store of stores.splice(0)) await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers a known valid key again without reading the store while nothing changed', async () => {
    const store = open();
    const { key, keyId } = await withKey(store);
    const first = await authenticateApiKey(store, key, clock);
    expect(first).toMatchObject({ ok: true, key: { id: keyId } });
    // The first use wrote lastUsedAt, so the next lookup reads the key again once.
    await lastUsesRecorded(store);
    await authenticateApiKey(store, key, clock);
    const transaction = vi.spyOn(store, 'transaction');
    const read = vi.spyOn(store, 'read');
    for (let i = 0; i < 5; i += 1) expect(await authenticateApiKey(store, key, clock)).toMatchObject({ ok: true, key: { id: keyId, workspaceId: 'ws_acme' } });
    expect(transaction).not.toHaveBeenCalled();
    expect(read).not.toHaveBeenCalled();
  });

  it('authenticates while another process holds the write lock, and records the last use once it is free', async () => {
    const store = open();
    const { key, keyId } = await withKey(store);
    const other = new BetterSqlite3(file);
    try {
      other.exec('BEGIN IMMEDIATE');
      expect(await authenticateApiKey(store, key, clock)).toMatchObject({ ok: true, key: { id: keyId, lastUsedAt: T0 } });
      expect(await store.read((tx) => tx.getApiKey(keyId))).toMatchObject({ lastUsedAt: null });
      other.exec('ROLLBACK');
    } finally {
      other.close();
    }
    await lastUsesRecorded(store);
    expect(await store.read((tx) => tx.getApiKey(keyId))).toMatchObject({ lastUsedAt: T0 });
  });

  it('leaves the last use of a key revoked before it was written, and a newer one another process wrote', async () => {
    const store = open();
    const revoked = await withKey(store);
    const used = await withSecondKey(store);
    // Another process holds the write lock, so the last-use writes wait while it changes the keys.
    const other = new BetterSqlite3(file);
    try {
      other.exec('BEGIN IMMEDIATE');
      expect(await authenticateApiKey(store, revoked.key, clock)).toMatchObject({ ok: true });
      expect(await authenticateApiKey(store, used.key, clock)).toMatchObject({ ok: true });
      const later = new Date(Date.parse(T0) + 30_000).toISOString();
      other.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ?').run(T0, revoked.keyId);
      other.prepare('UPDATE api_keys SET last_used_at = ? WHERE id = ?').run(later, used.keyId);
      other.exec('COMMIT');
      await lastUsesRecorded(store);
      expect(await store.read((tx) => tx.getApiKey(revoked.keyId))).toMatchObject({ lastUsedAt: null, revokedAt: T0 });
      expect(await store.read((tx) => tx.getApiKey(used.keyId))).toMatchObject({ lastUsedAt: later });
    } finally {
      other.close();
    }
  });

  it.each([
    ['the disk is full', () => new ConsentryError('STORE_FULL', 'database or disk is full')],
    ['its commit group was rolled back', () => new TransactionRolledBackError(Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' }))],
  ])('keeps authenticating when the last use cannot be written (%s), quietly, and tries again a minute later', async (_why, storeFailure) => {
    const store = open();
    const { key, keyId } = await withKey(store);
    const refused = vi.spyOn(store, 'transaction').mockRejectedValueOnce(storeFailure());
    const warning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    expect(await authenticateApiKey(store, key, clock)).toMatchObject({ ok: true });
    await lastUsesRecorded(store);
    expect(warning).not.toHaveBeenCalled();
    warning.mockRestore();
    expect(refused).toHaveBeenCalledTimes(1);
    expect(await store.read((tx) => tx.getApiKey(keyId))).toMatchObject({ lastUsedAt: null });
    refused.mockRestore();
    clock.advance(60_000);
    expect(await authenticateApiKey(store, key, clock)).toMatchObject({ ok: true });
    await lastUsesRecorded(store);
    expect(await store.read((tx) => tx.getApiKey(keyId))).toMatchObject({ lastUsedAt: clock.now().toISOString() });
  });

  it('warns once when the last use fails for a reason of its own, not the store\'s', async () => {
    const store = open();
    const { key } = await withKey(store);
    vi.spyOn(store, 'transaction').mockRejectedValueOnce(new Error('unexpected'));
    const warning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    expect(await authenticateApiKey(store, key, clock)).toMatchObject({ ok: true });
    await lastUsesRecorded(store);
    expect(warning).toHaveBeenCalledTimes(1);
    expect(warning.mock.calls[0]?.[1]).toMatchObject({ code: 'CONSENTRY_API_KEY_LAST_USE' });
    warning.mockRestore();
  });

  it('refuses a key on the very next request after this process revoked it', async () => {
    const store = open();
    const { key, keyId } = await withKey(store);
    await authenticateApiKey(store, key, clock);
    await authenticateApiKey(store, key, clock);
    await revokeApiKey(store, keyId, clock);
    expect(await authenticateApiKey(store, key, clock)).toEqual({ ok: false, reason: 'revoked' });
  });

  it('refuses a key on the very next request after another process revoked it', async () => {
    const server = open();
    const { key, keyId } = await withKey(server);
    await authenticateApiKey(server, key, clock);
    expect(await authenticateApiKey(server, key, clock)).toMatchObject({ ok: true });
    // Another connection to the same file, as the CLI's `keys revoke` opens.
    const cli = open();
    await revokeApiKey(cli, keyId, clock);
    expect(await authenticateApiKey(server, key, clock)).toEqual({ ok: false, reason: 'revoked' });
  });

  it('still records the last use once a minute', async () => {
    const store = open();
    const { key, keyId } = await withKey(store);
    const lastUsed = () => store.transaction(async (tx) => (await tx.getApiKey(keyId))?.lastUsedAt);
    await authenticateApiKey(store, key, clock);
    await authenticateApiKey(store, key, clock);
    expect(await lastUsed()).toBe(T0);
    clock.advance(59_000);
    await authenticateApiKey(store, key, clock);
    expect(await lastUsed()).toBe(T0);
    clock.advance(1_000);
    const refreshed = await authenticateApiKey(store, key, clock);
    expect(refreshed).toMatchObject({ ok: true, key: { lastUsedAt: clock.now().toISOString() } });
    expect(await lastUsed()).toBe(clock.now().toISOString());
  });

  it('looks up unknown keys every time, so a key created meanwhile is accepted', async () => {
    const server = open();
    await server.transaction((tx) => tx.insertWorkspace({ id: 'ws_acme', name: 'Acme', settings: defaultSettings(), createdAt: T0, updatedAt: T0 }));
    const other = open();
    const { key } = await createApiKey(other, { workspaceId: 'ws_acme', clock });
    const read = vi.spyOn(server, 'read');
    expect(await authenticateApiKey(server, key, clock)).toMatchObject({ ok: true });
    expect(await authenticateApiKey(server, `${key}x`, clock)).toEqual({ ok: false, reason: 'unknown' });
    expect(await authenticateApiKey(server, `${key}x`, clock)).toEqual({ ok: false, reason: 'unknown' });
    expect(read).toHaveBeenCalledTimes(3);
  });

  it('reads every key from a store without versions', async () => {
    const store = createMemoryStore();
    await store.transaction((tx) => tx.insertWorkspace({ id: 'ws_acme', name: 'Acme', settings: defaultSettings(), createdAt: T0, updatedAt: T0 }));
    const { key } = await createApiKey(store, { workspaceId: 'ws_acme', clock });
    await authenticateApiKey(store, key, clock);
    await lastUsesRecorded(store);
    const read = vi.spyOn(store, 'read');
    await authenticateApiKey(store, key, clock);
    await authenticateApiKey(store, key, clock);
    expect(read).toHaveBeenCalledTimes(2);
    await store.close();
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import type { WorkspaceSettingsInput } from '../../src/core/settings.js';
import { createEngine, type Engine, type WorkspaceEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import type { Store } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createSqliteStore } from '../../src/store/sqlite.js';

export type StoreKind = 'memory' | 'sqlite';

export interface Shop {
  store: Store;
  engine: Engine;
  ws: WorkspaceEngine;
  clock: FakeClock;
}

/**
 * For each test, a workspace "Shop" with `settings` on a fresh store of `kind` (SQLite in a folder
 * of its own), on a fake clock; the store is closed and its folder removed after the test. `use`
 * receives it, so a suite run with describe.each over both kinds checks both stores alike.
 */
export function useShopOnStore(kind: StoreKind, settings: WorkspaceSettingsInput, use: (shop: Shop) => void): void {
  let dir: string | undefined;
  let store: Store | undefined;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-shop-'));
    store = kind === 'memory' ? createMemoryStore() : createSqliteStore({ path: path.join(dir, 'consentry.db') });
    const clock = new FakeClock('2026-03-01T09:00:00.000Z');
    const engine = createEngine({ store, clock });
    const workspace = await engine.createWorkspace({ name: 'Shop', settings });
    use({ store, engine, ws: engine.workspace(workspace.id), clock });
  });
  afterEach(async () => {
    await store?.close();
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    store = undefined;
    dir = undefined;
  });
}

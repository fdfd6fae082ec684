import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import { createSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';

/** Two servers started together on a new database: two connections to one file, as two processes have. */
describe('the first workspace of a new database', () => {
  let dir: string;
  let stores: SqliteStore[];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-first-'));
    const file = path.join(dir, 'consentry.db');
    stores = [createSqliteStore({ path: file }), createSqliteStore({ path: file })];
  });

  afterEach(async () => {
    for (const store of stores) await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is made once when two processes look for it at the same time: the other finds it', async () => {
    const engines = stores.map((store) => createEngine({ store, clock: new FakeClock('2026-03-01T09:00:00.000Z') }));
    const made = await Promise.all(engines.map((engine) => engine.createFirstWorkspace('Default workspace')));
    expect(made.filter((workspace) => workspace !== null)).toHaveLength(1);
    const [one, other] = await Promise.all(engines.map((engine) => engine.ensureDefaultWorkspace()));
    expect(one?.id).toBe(other?.id);
    expect(await engines[0]?.listWorkspaces()).toHaveLength(1);
  });

  it('writes what comes alongside in its own transaction: both are kept, or neither', async () => {
    const [store] = stores;
    if (!store) throw new Error('no store');
    const engine = createEngine({ store, clock: new FakeClock('2026-03-01T09:00:00.000Z') });
    const failure = new Error('the key could not be stored');
    await expect(
      engine.createFirstWorkspace('Default workspace', async (tx, workspace) => {
        await tx.setMeta(`made-with:${workspace.id}`, true);
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await engine.listWorkspaces()).toEqual([]);
    const made = await engine.createFirstWorkspace('Default workspace', async (tx, workspace) => {
      await tx.setMeta(`made-with:${workspace.id}`, true);
    });
    expect(made).not.toBeNull();
    expect(await store.read((tx) => tx.getMeta(`made-with:${made?.id ?? ''}`))).toBe(true);
  });
});

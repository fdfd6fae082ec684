import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hubSpotStateFor } from '../../../connectors/hubspot/state-sqlite.js';
import { pendingChange, type HubSpotState, type NewChange } from '../../../connectors/hubspot/state.js';
import { createEngine } from '../../../src/engine.js';
import { FakeClock } from '../../../src/ports/clock.js';
import type { Store } from '../../../src/ports/store.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { createSqliteStore } from '../../../src/store/sqlite.js';
import { storeBesideAnotherProcess, type StoreBesideAnotherProcess } from '../../store/locked-database.js';

const NOW = '2026-03-01T09:00:00.000Z';

function change(workspaceId: string, position: number): NewChange {
  return {
    position,
    target: 'contact',
    workspaceId,
    eventId: `evt_${position}`,
    contactId: `c${position}`,
    payload: { kind: 'contact', properties: { consentry_sms_status: 'opted_in' } },
    occurredAt: NOW,
  };
}

const stores: { name: string; open: (dir: string) => Store }[] = [
  { name: 'in memory', open: () => createMemoryStore() },
  { name: 'SQLite in memory', open: () => createSqliteStore({ path: ':memory:' }) },
  { name: 'SQLite file', open: (dir) => createSqliteStore({ path: path.join(dir, 'consentry.db') }) },
];

describe.each(stores)('reading the HubSpot sync rows through Store.read ($name)', ({ open }) => {
  let dir: string;
  let store: Store;
  let state: HubSpotState;
  let workspaceId: string;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-hubspot-read-'));
    store = open(dir);
    state = hubSpotStateFor(store);
    workspaceId = (await createEngine({ store, clock: new FakeClock(NOW) }).createWorkspace({ name: 'Example Shop' })).id;
  });

  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('counts what transactions committed, and nothing of one that rolled back', async () => {
    await state.transaction((s) => s.insertChanges([pendingChange(change(workspaceId, 1), NOW), { ...pendingChange(change(workspaceId, 2), NOW), status: 'dead' }]));
    await expect(
      state.transaction(async (s) => {
        await s.insertChanges([pendingChange(change(workspaceId, 3), NOW)]);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    const counts = await state.read(async (s) => ({
      pending: await s.countAllChanges('pending'),
      dead: await s.countAllChanges('dead'),
      ofWorkspace: await s.countChanges(workspaceId, 'pending'),
      ofNone: await s.countChanges('ws_none', 'pending'),
    }));
    expect(counts).toEqual({ pending: 1, dead: 1, ofWorkspace: 1, ofNone: 0 });
    // Read again, through the statements prepared by the first read.
    await state.transaction((s) => s.insertChanges([pendingChange(change(workspaceId, 4), NOW)]));
    expect(await state.read((s) => s.countAllChanges('pending'))).toBe(2);
  });
});

describe('reading the HubSpot sync rows of a database whose write lock another connection holds', () => {
  let fixture: StoreBesideAnotherProcess;

  beforeEach(() => {
    fixture = storeBesideAnotherProcess('consentry-hubspot-read-busy-');
  });

  afterEach(() => fixture.close());

  it('answers with the committed rows without waiting for the lock, nor seeing what the holder wrote', async () => {
    const { store, other, lockClock } = fixture;
    const state = hubSpotStateFor(store);
    const workspaceId = (await createEngine({ store, clock: new FakeClock(NOW) }).createWorkspace({ name: 'Example Shop' })).id;
    await state.transaction((s) => s.insertChanges([pendingChange(change(workspaceId, 1), NOW)]));
    other.exec('BEGIN IMMEDIATE');
    other
      .prepare(
        `INSERT INTO hubspot_sync_changes (position, target, workspace_id, event_id, contact_id, payload, occurred_at, status, attempts, next_attempt_at, last_error, created_at, updated_at)
         VALUES (2, 'contact', ?, 'evt_2', 'c2', '{}', ?, 'pending', 0, ?, NULL, ?, ?)`,
      )
      .run(workspaceId, NOW, NOW, NOW, NOW);
    const before = lockClock.ms;
    expect(await state.read((s) => s.countAllChanges('pending'))).toBe(1);
    expect(lockClock.ms).toBe(before);
    other.exec('COMMIT');
    expect(await state.read((s) => s.countAllChanges('pending'))).toBe(2);
  });
});

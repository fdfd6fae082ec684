import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { emptyContactState } from '../../../connectors/hubspot/echo.js';
import { InMemoryHubSpotState, notePaused, type HubSpotState, type SyncChange } from '../../../connectors/hubspot/state.js';
import { SqliteHubSpotState } from '../../../connectors/hubspot/state-sqlite.js';
import { defaultSettings } from '../../../src/core/settings.js';
import type { Store } from '../../../src/ports/store.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { createSqliteStore } from '../../../src/store/sqlite.js';
import { at, change } from '../../contracts/hubspot-state.contract.js';

/** A pending change of contact c1 that opts it out on SMS, at outbox `position`. */
function row(position: number, overrides: Partial<SyncChange> = {}): SyncChange {
  return change(position, { payload: { kind: 'contact', properties: { consentry_sms_status: 'opted_out' } }, ...overrides });
}

describe('notePaused', () => {
  it('keeps which properties changed and the latest time of each, never the values', () => {
    let paused = notePaused(undefined, row(5, { occurredAt: at(50) }), at(100));
    paused = notePaused(paused, row(3, { occurredAt: at(90), payload: { kind: 'contact', properties: { consentry_tags: 'VIP', consentry_sms_status: 'opted_in' } } }), at(101));
    paused = notePaused(paused, row(7, { target: 'email', occurredAt: at(20), payload: { kind: 'email', status: 'opted_out', legalBasis: null, explanation: 'Told us' } }), at(102));
    expect(paused).toEqual({
      workspaceId: 'ws_a',
      contactId: 'c1',
      properties: { consentry_sms_status: at(90), consentry_tags: at(90) },
      emailSubscription: at(20),
      position: 7,
      eventId: 'evt_7',
      notedAt: at(0),
      updatedAt: at(102),
    });
    expect(JSON.stringify(paused)).not.toContain('Told us');
  });

  it('keeps when its first change was noted, however many come after', () => {
    let paused = notePaused(undefined, row(5, { createdAt: at(40) }), at(41));
    paused = notePaused(paused, row(6, { createdAt: at(70) }), at(71));
    expect(paused.notedAt).toBe(at(40));
    expect(paused.updatedAt).toBe(at(71));
  });

  it("takes a property's own time from a row of current values", () => {
    const paused = notePaused(
      undefined,
      row(4, { occurredAt: at(60), payload: { kind: 'contact', properties: { consentry_sms_status: 'opted_out', consentry_tags: 'VIP' }, times: { consentry_sms_status: at(10) } } }),
      at(100),
    );
    expect(paused.properties).toEqual({ consentry_sms_status: at(10), consentry_tags: at(60) });
  });
});

function pausedContract(name: string, make: () => { store: Store; state: HubSpotState; cleanup: () => Promise<void> }): void {
  describe(`paused contacts and contact states: ${name}`, () => {
    let store: Store;
    let state: HubSpotState;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ store, state, cleanup } = make());
      await store.transaction(async (tx) => {
        for (const id of ['ws_a', 'ws_b']) await tx.insertWorkspace({ id, name: `Shop ${id}`, settings: defaultSettings(), createdAt: at(0), updatedAt: at(0) });
      });
    });
    afterEach(async () => {
      await cleanup();
    });

    it('stores, counts as pending, lists by workspace and hands them out in outbox order, once', async () => {
      await state.transaction(async (s) => {
        await s.putPausedContacts([
          notePaused(undefined, row(9, { contactId: 'c2' }), at(1)),
          notePaused(undefined, row(4, { contactId: 'c1' }), at(1)),
          notePaused(undefined, row(6, { contactId: 'c3', workspaceId: 'ws_b' }), at(1)),
        ]);
        await s.insertChanges([row(20, { contactId: 'c4' })]);
      });
      const counts = await state.read(async (s) => ({ a: await s.countChanges('ws_a', 'pending'), all: await s.countAllChanges('pending'), dead: await s.countAllChanges('dead') }));
      expect(counts).toEqual({ a: 3, all: 4, dead: 0 });
      expect(await state.transaction((s) => s.listPausedWorkspaces())).toEqual(['ws_a', 'ws_b']);
      const found = await state.transaction((s) => s.getPausedContacts('ws_a', ['c1', 'c3']));
      expect([...found.keys()]).toEqual(['c1']);

      const first = await state.transaction((s) => s.takePausedContacts('ws_a', 1));
      expect(first.map((p) => p.contactId)).toEqual(['c1']);
      const rest = await state.transaction((s) => s.takePausedContacts('ws_a', 10));
      expect(rest.map((p) => [p.contactId, p.position])).toEqual([['c2', 9]]);
      expect(await state.transaction((s) => s.takePausedContacts('ws_a', 10))).toEqual([]);
      expect(await state.transaction((s) => s.listPausedWorkspaces())).toEqual(['ws_b']);
    });

    it('replaces a paused contact when it is put again, and rolls back with its transaction', async () => {
      const first = notePaused(undefined, row(1), at(1));
      await state.transaction((s) => s.putPausedContacts([first]));
      await expect(
        state.transaction(async (s) => {
          await s.putPausedContacts([notePaused(first, row(2, { payload: { kind: 'contact', properties: { consentry_tags: 'VIP' } } }), at(2))]);
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');
      expect((await state.transaction((s) => s.getPausedContacts('ws_a', ['c1']))).get('c1')).toEqual(first);
      const second = notePaused(first, row(2, { payload: { kind: 'contact', properties: { consentry_tags: 'VIP' } } }), at(2));
      await state.transaction((s) => s.putPausedContacts([second]));
      expect((await state.transaction((s) => s.getPausedContacts('ws_a', ['c1']))).get('c1')?.properties).toEqual({ consentry_sms_status: at(1), consentry_tags: at(2) });
    });

    it("says when the workspace's longest-waiting paused contact was noted, and null when none waits", async () => {
      expect(await state.transaction((s) => s.oldestPausedAt('ws_a'))).toBeNull();
      await state.transaction((s) =>
        s.putPausedContacts([
          notePaused(undefined, row(9, { contactId: 'c2', createdAt: at(30) }), at(31)),
          notePaused(undefined, row(4, { contactId: 'c1', createdAt: at(50) }), at(51)),
          notePaused(undefined, row(6, { contactId: 'c3', workspaceId: 'ws_b', createdAt: at(10) }), at(11)),
        ]),
      );
      expect(await state.transaction((s) => s.oldestPausedAt('ws_a'))).toBe(at(30));
      await state.transaction((s) => s.takePausedContacts('ws_a', 10));
      expect(await state.transaction((s) => s.oldestPausedAt('ws_a'))).toBeNull();
      expect(await state.transaction((s) => s.oldestPausedAt('ws_b'))).toBe(at(10));
    });

    it("forgets one workspace's contact states, and only that workspace's", async () => {
      await state.transaction(async (s) => {
        await s.putContactState('ws_a', 'c1', emptyContactState(), at(0));
        await s.putContactState('ws_a', 'c2', emptyContactState(), at(0));
        await s.putContactState('ws_b', 'c1', emptyContactState(), at(0));
      });
      expect(await state.transaction((s) => s.deleteContactStates('ws_a'))).toBe(2);
      expect([...(await state.transaction((s) => s.getContactStates('ws_a', ['c1', 'c2']))).keys()]).toEqual([]);
      expect([...(await state.transaction((s) => s.getContactStates('ws_b', ['c1']))).keys()]).toEqual(['c1']);
    });
  });
}

pausedContract('in memory', () => {
  const store = createMemoryStore();
  return { store, state: new InMemoryHubSpotState(store), cleanup: () => store.close() };
});

let dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  dirs = [];
});

pausedContract('SQLite', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-hubspot-paused-'));
  dirs.push(dir);
  const store = createSqliteStore({ path: path.join(dir, 'test.db') });
  return { store, state: new SqliteHubSpotState(store), cleanup: () => store.close() };
});

describe('the paused contacts table in SQLite', () => {
  it('is made by migration 15: a read-only opening reads no paused contact, and one noted later counts as pending', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-hubspot-paused-'));
    dirs.push(dir);
    const file = path.join(dir, 'test.db');
    const store = createSqliteStore({ path: file });
    await store.transaction((tx) => tx.insertWorkspace({ id: 'ws_a', name: 'Shop', settings: defaultSettings(), createdAt: at(0), updatedAt: at(0) }));
    await store.close();

    const readOnly = createSqliteStore({ path: file, readOnly: true });
    try {
      const state = new SqliteHubSpotState(readOnly);
      expect(await state.read((s) => s.countChanges('ws_a', 'pending'))).toBe(0);
      expect(await state.transaction((s) => s.listPausedWorkspaces())).toEqual([]);
    } finally {
      await readOnly.close();
    }

    const writable = createSqliteStore({ path: file });
    try {
      const state = new SqliteHubSpotState(writable);
      await state.transaction((s) => s.putPausedContacts([notePaused(undefined, row(1), at(1))]));
      expect(await state.read((s) => s.countChanges('ws_a', 'pending'))).toBe(1);
    } finally {
      await writable.close();
    }
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import type { Store } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';

/**
 * Newest-first event pages and resume-after-id contact pages are only complete when ids follow
 * commit order. Two writers share one database here (two servers, or an import beside a server),
 * the second with its clock 300 ms behind: what it commits later must still sort after what the
 * first committed before.
 */
const T0 = new Date('2026-06-01T10:00:00.000Z');

describe('ids follow commit order across writers', () => {
  const dirs: string[] = [];
  const stores: SqliteStore[] = [];

  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  function sharedFile(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-commit-order-'));
    dirs.push(dir);
    return path.join(dir, 'consentry.db');
  }

  function sqlite(file: string): SqliteStore {
    const store = createSqliteStore({ path: file });
    stores.push(store);
    return store;
  }

  async function twoWriters(storeA: Store, storeB: Store): Promise<{ a: Engine; b: Engine; workspaceId: string }> {
    const a = createEngine({ store: storeA, clock: new FakeClock(T0) });
    const b = createEngine({ store: storeB, clock: new FakeClock(new Date(T0.getTime() - 300)) });
    const workspace = await a.ensureDefaultWorkspace('Example Shop');
    return { a, b, workspaceId: workspace.id };
  }

  const cases: [string, () => { storeA: Store; storeB: Store }][] = [
    [
      'two connections to one SQLite file',
      () => {
        const file = sharedFile();
        return { storeA: sqlite(file), storeB: sqlite(file) };
      },
    ],
    [
      'two engines on one memory store',
      () => {
        const store = createMemoryStore();
        return { storeA: store, storeB: store };
      },
    ],
  ];

  for (const [name, makeStores] of cases) {
    it(`a later-committed event tops the newest page (${name})`, async () => {
      const { storeA, storeB } = makeStores();
      const { a, b, workspaceId } = await twoWriters(storeA, storeB);
      const contact = await a.workspace(workspaceId).createContact({ name: 'Ana Test', phone: '+34600000001' });
      await a.workspace(workspaceId).addTag(contact.id, 'vip');
      const seen = await a.workspace(workspaceId).listEvents({ limit: 10 });
      const newestSeen = seen[0];
      expect(newestSeen?.type).toBe('contact.tagged');

      await b.workspace(workspaceId).addTag(contact.id, 'late');

      const page = await a.workspace(workspaceId).listEvents({ limit: 10 });
      expect(page[0]?.type).toBe('contact.tagged');
      expect(page[0]?.data).toMatchObject({ tag: 'late' });
      expect((page[0]?.id ?? '') > (newestSeen?.id ?? '')).toBe(true);
      const positions = page.map((event) => event.position);
      expect(positions).toEqual([...positions].sort((x, y) => y - x));
    });

    it(`a contact created later is on the page after the last id read (${name})`, async () => {
      const { storeA, storeB } = makeStores();
      const { a, b, workspaceId } = await twoWriters(storeA, storeB);
      await a.workspace(workspaceId).createContact({ name: 'Ana Test', phone: '+34600000001' });
      const firstPage = await a.workspace(workspaceId).findContacts({ limit: 10 });
      const lastRead = firstPage.contacts.at(-1)?.id;
      expect(lastRead).toBeDefined();

      const late = await b.workspace(workspaceId).createContact({ name: 'Bea Test', phone: '+34600000002' });

      const next = await a.workspace(workspaceId).findContacts({ limit: 10, afterId: lastRead });
      expect(next.contacts.map((contact) => contact.id)).toEqual([late.id]);
    });
  }

  it('the id floor of a connection sees what another connection committed since it last asked', async () => {
    const file = sharedFile();
    const storeA = sqlite(file);
    const { a, workspaceId } = await twoWriters(storeA, sqlite(file));
    const storeB = stores[1];
    if (storeB === undefined) throw new Error('the second store was not opened');
    const before = await storeB.transaction((tx) => tx.idFloor(workspaceId));
    const created = await a.workspace(workspaceId).createContact({ name: 'Ana Test' });
    const events = await a.workspace(workspaceId).listEvents({ limit: 1 });
    const after = await storeB.transaction((tx) => tx.idFloor(workspaceId));
    expect(after).not.toBe(before);
    expect(after).toBe([created.id, events[0]?.id ?? ''].sort().at(-1));
  });

  it('a workspace created later by the writer with the slower clock does not become the default one', async () => {
    const file = sharedFile();
    const { a, b, workspaceId } = await twoWriters(sqlite(file), sqlite(file));
    const later = await b.createWorkspace({ name: 'Second Shop' });
    expect(later.id > workspaceId).toBe(true);
    expect((await a.ensureDefaultWorkspace('Example Shop')).id).toBe(workspaceId);
    expect((await a.listWorkspaces()).map((workspace) => workspace.name)).toEqual(['Example Shop', 'Second Shop']);
  });

  it('reads the newest ids from an index, one entry each', () => {
    const store = sqlite(sharedFile());
    const plans = [
      'SELECT max(id) FROM events WHERE workspace_id = ?',
      'SELECT max(id) FROM contacts WHERE workspace_id = ?',
    ].map((sql) =>
      store.db
        .prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .all('ws')
        .map((row) => String((row as { detail: unknown }).detail))
        .join(' | '),
    );
    expect(plans[0]).toMatch(/SEARCH events USING COVERING INDEX events_workspace_id/);
    expect(plans[1]).toMatch(/SEARCH contacts USING (COVERING )?INDEX sqlite_autoindex_contacts_1/);
  });
});

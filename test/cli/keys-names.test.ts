import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine.js';
import { createApiKey } from '../../src/server/api-keys.js';
import { FakeClock } from '../../src/ports/clock.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { cli, useTemporaryDatabase } from './helpers.js';

let db: string;
useTemporaryDatabase('consentry-keys-names-', (paths) => {
  ({ db } = paths);
});

describe('consentry keys create refuses names that would break the columns of keys list', () => {
  it.each([
    ['--name', 'a\tb', 'U+0009, a control character'],
    ['--name', 'line1\nline2', 'U+000A, a control character'],
    ['--name', 'zapier\n', 'U+000A, a control character'],
    ['--name', 'nul\u0000', 'U+0000, a control character'],
    ['--name', 'c1\u009b', 'U+009B, a control character'],
    ['--name', '\u202ereversed', 'U+202E, a bidirectional formatting character'],
    ['--workspace', 'Second\tWS', 'U+0009, a control character'],
    ['--workspace', 'Acme\r\nEvil', 'U+000D, a control character'],
    ['--workspace', 'Isolated\u2068name', 'U+2068, a bidirectional formatting character'],
  ])('%s %j: exit 2 naming the option and the character, before the database is made', async (option, value, what) => {
    const run = await cli(['keys', 'create', '--db', db, option, value]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.split('\n').filter((line) => line !== '')).toEqual([`error: ${option} contains ${what}; names are listed one per line in tab-separated columns`]);
    expect(existsSync(db)).toBe(false);
  });

  it('takes spaces around a workspace name, and names in any script', async () => {
    const run = await cli(['keys', 'create', '--json', '--db', db, '--workspace', '\tÜber Straße\n', '--name', 'Zapier – ventas, producción']);
    expect(run.code, run.stderr).toBe(0);
    const listed = await cli(['keys', 'list', '--db', db]);
    const cells = listed.stdout.trim().split('\n')[1]?.split('\t');
    expect(cells?.slice(1, 3)).toEqual(['Über Straße', 'Zapier – ventas, producción']);
  });

  it('keys list shows a control character of a name stored by other means as its code point, one row per key', async () => {
    const store = createSqliteStore({ path: db });
    try {
      const clock = new FakeClock('2026-03-01T09:00:00.000Z');
      const workspace = await createEngine({ store, clock }).createWorkspace({ name: 'Renamed below' });
      // The engine refuses such a name: it is written to the store as an older version could have.
      await store.transaction((tx) => tx.updateWorkspace(workspace.id, { name: 'Tab\there', updatedAt: clock.now().toISOString() }));
      await createApiKey(store, { workspaceId: workspace.id, name: 'line1\nline2\u202e', clock });
    } finally {
      await store.close();
    }
    const run = await cli(['keys', 'list', '--db', db]);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    const cells = lines[1]?.split('\t') ?? [];
    expect(cells).toHaveLength(7);
    expect(cells.slice(1, 3)).toEqual(['Tab[U+0009]here', 'line1[U+000A]line2[U+202E]']);
  });
});

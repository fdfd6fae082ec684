import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { cli, stderrLines, useTemporaryDatabase } from './helpers.js';

let dir: string;
let db: string;
useTemporaryDatabase('consentry-keys-workspace-', (paths) => {
  ({ dir, db } = paths);
});

describe('consentry keys create --workspace', () => {
  it.each([
    ['empty', '', '--workspace must name a workspace (its id, or a name), not be empty'],
    ['blank', '   ', '--workspace must name a workspace (its id, or a name), not be empty'],
    ['101 characters long', 'w'.repeat(101), '--workspace must be at most 100 characters, not 101'],
    ['300 characters long', 'w'.repeat(300), '--workspace must be at most 100 characters, not 300'],
  ])('refuses a name that is %s, naming the option, before the database or its directory is made', async (_what, name, message) => {
    const fresh = join(dir, 'nodir', 'fresh.db');
    const run = await cli(['keys', 'create', '--workspace', name, '--db', fresh]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(stderrLines(run)).toEqual([`error: ${message}`]);
    expect(existsSync(join(dir, 'nodir'))).toBe(false);
  });

  it('takes a name of 100 characters, with spaces around it', async () => {
    const name = 'w'.repeat(100);
    const run = await cli(['keys', 'create', '--workspace', ` ${name} `, '--db', db]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`Created workspace "${name}"`);
  });

  it('lists each workspace once when several are named alike, whether the name is typed exactly or not', async () => {
    const store = createSqliteStore({ path: db });
    let ids: string[];
    try {
      const engine = createEngine({ store });
      ids = [];
      for (const name of ['Sales', 'Sales', 'SALES']) ids.push((await engine.createWorkspace({ name })).id);
    } finally {
      await store.close();
    }
    for (const typed of ['Sales', 'sales', ' Sales ']) {
      const run = await cli(['keys', 'create', '--workspace', typed, '--db', db]);
      expect(run.code).toBe(2);
      expect(stderrLines(run)).toEqual([`error: Several workspaces are named "${typed.trim()}" (${ids.join(', ')}): name one by its id`]);
    }
  });
});

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import { createApiKey } from '../../src/server/api-keys.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { cli, CreatedKeyJsonSchema, useTemporaryDatabase } from './helpers.js';

let dir: string;
let db: string;
useTemporaryDatabase('consentry-workspaces-list-', (paths) => {
  ({ dir, db } = paths);
});

const ListedSchema = z.array(
  z.object({ id: z.string(), name: z.string(), createdAt: z.string(), liveKeys: z.number(), records: z.number().nullable() }).strict(),
);

async function createKey(workspace: string): Promise<z.output<typeof CreatedKeyJsonSchema>> {
  const run = await cli(['keys', 'create', '--json', '--db', db, '--workspace', workspace]);
  expect(run.code, run.stderr).toBe(0);
  return CreatedKeyJsonSchema.parse(JSON.parse(run.stdout));
}

async function importInto(workspace: string, rows: readonly string[]): Promise<void> {
  const csv = join(dir, 'rows.csv');
  writeFileSync(csv, ['email,purpose,channel,status', ...rows].join('\n'));
  const run = await cli(['import', csv, '--db', db, '--workspace', workspace]);
  expect(run.code, run.stderr).toBe(0);
}

/** A database with the workspace meant, Sales, and one a mistyped name made, Slaes, whose key is revoked. */
async function salesAndTypo(): Promise<{ sales: string; typo: string; typoKey: string }> {
  const sales = await createKey('Sales');
  await importInto('Sales', ['ana@example.com,marketing,email,opted_out', 'bob@example.com,marketing,email,opted_out']);
  await createKey('Sales');
  const typo = await createKey('Slaes');
  const keys = await cli(['keys', 'list', '--json', '--db', db]);
  const typoKey = z.array(z.object({ id: z.string(), workspaceId: z.string() })).parse(JSON.parse(keys.stdout)).find((key) => key.workspaceId === typo.workspaceId)?.id ?? '';
  return { sales: sales.workspaceId, typo: typo.workspaceId, typoKey };
}

describe('consentry workspaces list', () => {
  it('lists every workspace, a mistyped one included, with its columns named, live keys and records', async () => {
    const { sales, typo, typoKey } = await salesAndTypo();
    expect((await cli(['keys', 'revoke', typoKey, '--db', db])).code).toBe(0);

    const run = await cli(['workspaces', 'list', '--db', db]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    const lines = run.stdout.trim().split('\n').map((line) => line.split('\t'));
    expect(lines[0]).toEqual(['id', 'name', 'created', 'live keys', 'records']);
    expect(lines.slice(1).map(([id, name, , liveKeys, records]) => [id, name, liveKeys, records])).toEqual([
      [sales, 'Sales', '2', '2'],
      [typo, 'Slaes', '0', '0'],
    ]);
    for (const line of lines.slice(1)) expect(Number.isNaN(Date.parse(line[2] ?? ''))).toBe(false);
  });

  it('--json prints one array, an object per workspace', async () => {
    const { sales, typo } = await salesAndTypo();
    const run = await cli(['workspaces', 'list', '--json', '--db', db]);
    expect(run.code, run.stderr).toBe(0);
    const listed = ListedSchema.parse(JSON.parse(run.stdout));
    expect(listed.map(({ id, name, liveKeys, records }) => ({ id, name, liveKeys, records }))).toEqual([
      { id: sales, name: 'Sales', liveKeys: 2, records: 2 },
      { id: typo, name: 'Slaes', liveKeys: 1, records: 0 },
    ]);
  });

  it('shows a control character of a name stored by other means as its code point, as keys list does', async () => {
    const store = createSqliteStore({ path: db });
    try {
      const clock = new FakeClock('2026-03-01T09:00:00.000Z');
      const workspace = await createEngine({ store, clock }).createWorkspace({ name: 'Renamed below' });
      // The engine refuses such a name: it is written to the store as an older version could have.
      await store.transaction((tx) => tx.updateWorkspace(workspace.id, { name: 'Tab\there\nnext', updatedAt: clock.now().toISOString() }));
      await createApiKey(store, { workspaceId: workspace.id, name: null, clock });
    } finally {
      await store.close();
    }
    const run = await cli(['workspaces', 'list', '--db', db]);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]?.split('\t').slice(1)).toEqual(['Tab[U+0009]here[U+000A]next', '2026-03-01T09:00:00.000Z', '1', '0']);
  });

  it('names the database when it has no workspace, and refuses one that does not exist', async () => {
    const store = createSqliteStore({ path: db });
    await store.close();
    const empty = await cli(['workspaces', 'list', '--db', db]);
    expect(empty.code).toBe(0);
    expect(empty.stdout).toBe('id\tname\tcreated\tlive keys\trecords\n');
    expect(empty.stderr).toBe(`no workspace in ${db}\n`);
    const json = await cli(['workspaces', 'list', '--json', '--db', db]);
    expect(JSON.parse(json.stdout)).toEqual([]);

    const missing = await cli(['workspaces', 'list', '--db', join(dir, 'absent.db')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`No database at ${join(dir, 'absent.db')}`);
  });

  it('says a ledger whose last record cannot be read is not counted, with exit code 1', async () => {
    await createKey('Acme');
    await importInto('Acme', ['ana@example.com,marketing,email,opted_out']);
    const raw = new Database(db);
    for (const { name } of z.array(z.object({ name: z.string() })).parse(raw.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'consent_records'").all())) {
      raw.exec(`DROP TRIGGER "${name}"`);
    }
    raw.exec("UPDATE consent_records SET evidence = 'notjson'");
    raw.close();
    const run = await cli(['workspaces', 'list', '--json', '--db', db]);
    expect(run.code).toBe(1);
    expect(ListedSchema.parse(JSON.parse(run.stdout)).map((row) => row.records)).toEqual([null]);
    expect(run.stderr).toMatch(/^warning: the last consent record of workspace "Acme" \(\w+\) cannot be read back, so its records are not counted: run consentry verify\n$/);
  });
});

describe('consentry keys list --workspace', () => {
  it("lists only that workspace's keys, the workspace named as keys create names it", async () => {
    const { sales, typo } = await salesAndTypo();
    for (const named of ['slaes', typo, typo.toLowerCase(), '  SLAES ']) {
      const run = await cli(['keys', 'list', '--json', '--db', db, '--workspace', named]);
      expect(run.code, run.stderr).toBe(0);
      expect(z.array(z.object({ workspaceId: z.string() })).parse(JSON.parse(run.stdout)).map((key) => key.workspaceId)).toEqual([typo]);
    }
    const text = await cli(['keys', 'list', '--db', db, '--workspace', 'Sales']);
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).toBe('id\tworkspace\tname\tprefix\tcreated\tlast used\trevoked');
    expect(lines.slice(1).map((line) => line.split('\t')[1])).toEqual(['Sales', 'Sales']);
    expect(sales).not.toBe(typo);
  });

  it('refuses a workspace no workspace is, naming it, with exit code 2, and creates none', async () => {
    await salesAndTypo();
    const run = await cli(['keys', 'list', '--db', db, '--workspace', 'Marketing']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`error: No workspace "Marketing" in ${db}: consentry workspaces list names them\n`);
    const listed = await cli(['workspaces', 'list', '--json', '--db', db]);
    expect(ListedSchema.parse(JSON.parse(listed.stdout)).map((row) => row.name)).toEqual(['Sales', 'Slaes']);
  });
});

import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { cli, useTemporaryDatabase } from './helpers.js';

let db: string;
useTemporaryDatabase('consentry-cli-database-named-', (paths) => {
  ({ db } = paths);
});

/** A database as `keys create` leaves it in a directory where it was not meant to go: a default workspace, no contact, no record. */
async function freshDatabase(): Promise<{ id: string; name: string }> {
  const store = createSqliteStore({ path: db });
  try {
    const { id, name } = await createEngine({ store }).ensureDefaultWorkspace();
    return { id, name };
  } finally {
    await store.close();
  }
}

/** A database with no workspace yet. */
async function databaseWithoutWorkspace(): Promise<void> {
  await createSqliteStore({ path: db }).close();
}

/** `DATABASE_PATH` as a relative path, as `./data/consentry.db` is: the messages name the file made absolute. */
const relativeDatabase = (): Record<string, string> => ({ DATABASE_PATH: relative(process.cwd(), db) });

describe('history names the database it found no contact in', () => {
  it('for an e-mail, an id and a phone number no contact has, with --db or DATABASE_PATH, relative or not', async () => {
    await freshDatabase();
    const byDb = await cli(['history', 'gus@example.com', '--db', db]);
    expect(byDb.code).toBe(1);
    expect(byDb.stdout).toBe('');
    expect(byDb.stderr).toBe(`error: No contact gus@example.com in ${db}\n`);
    const byEnvironment = await cli(['history', 'gus@example.com'], { env: relativeDatabase() });
    expect(byEnvironment.stderr).toBe(`error: No contact gus@example.com in ${db}\n`);
    const byId = await cli(['history', '01ARZ3NDEKTSV4RRFFQ69G5FAV', '--db', db]);
    expect(byId.stderr).toBe(`error: No contact 01ARZ3NDEKTSV4RRFFQ69G5FAV in ${db}\n`);
    const byPhone = await cli(['history', '+34 600 000 009', '--db', db]);
    expect(byPhone.stderr).toBe(`error: No contact +34 600 000 009 in ${db}\n`);
  });

  it('when the key is read as a phone number and is none, before saying why', async () => {
    await freshDatabase();
    const run = await cli(['history', '600 000 001', '--db', db]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`^error: No contact 600 000 001 in ${escaped(db)}: not a contact id or an e-mail address, and as a phone number: `));
  });

  it('and the database a --workspace is not in, made absolute', async () => {
    await freshDatabase();
    const run = await cli(['history', 'gus@example.com', '--workspace', 'Acme'], { env: relativeDatabase() });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`error: No workspace "Acme" in ${db}\n`);
  });
});

describe('export names the database it found no record in, on stderr, and keeps stdout what it was', () => {
  it('CSV: the header alone, exit code 0, and the workspace and database on stderr', async () => {
    const workspace = await freshDatabase();
    const run = await cli(['export', '--no-bom'], { env: relativeDatabase() });
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n')).toEqual([expect.stringMatching(/^workspace_id,seq,record_id,/), '']);
    expect(run.stderr).toBe(`no consent records in workspace "${workspace.name}" (${workspace.id}) of ${db}\n`);
  });

  it('JSON: [] and the same line', async () => {
    const workspace = await freshDatabase();
    const run = await cli(['export', '--format', 'json', '--db', db]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual([]);
    expect(run.stderr).toBe(`no consent records in workspace "${workspace.name}" (${workspace.id}) of ${db}\n`);
  });

  it('counts the workspaces it read when there are several, and names the one --workspace reads', async () => {
    await freshDatabase();
    const store = createSqliteStore({ path: db });
    await createEngine({ store }).createWorkspace({ name: 'Acme' });
    await store.close();
    const several = await cli(['export', '--format', 'json', '--db', db]);
    expect(several.stderr).toBe(`no consent records in the 2 workspaces of ${db}\n`);
    const one = await cli(['export', '--format', 'json', '--db', db, '--workspace', 'acme']);
    expect(one.stderr).toMatch(new RegExp(`^no consent records in workspace "Acme" \\([0-9A-Z]{26}\\) of ${escaped(db)}\\n$`));
  });

  it('says there is no workspace in a database without one', async () => {
    await databaseWithoutWorkspace();
    const run = await cli(['export', '--format', 'json', '--db', db]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('[]\n');
    expect(run.stderr).toBe(`no workspace in ${db}, so no consent records\n`);
  });
});

describe('verify names the database it found nothing in', () => {
  it('empty ledgers verify, with their JSON line on stdout and the database on stderr', async () => {
    const workspace = await freshDatabase();
    const run = await cli(['verify'], { env: relativeDatabase() });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ workspace: workspace.name, ok: true, records: 0 });
    expect(run.stderr).toBe(`no consent records in workspace "${workspace.name}" (${workspace.id}) of ${db}\n`);
  });

  it('a database without a workspace is refused, naming the file made absolute', async () => {
    await databaseWithoutWorkspace();
    const run = await cli(['verify'], { env: relativeDatabase() });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`error: No workspace in ${db}\n`);
  });

  it('a ledger with records says nothing on stderr', async () => {
    await freshDatabase();
    const imported = await cli(['import', '--db', db, csvFile()]);
    expect(imported.code, imported.stderr).toBe(0);
    const run = await cli(['verify', '--db', db]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    const exported = await cli(['export', '--format', 'json', '--db', db]);
    expect(exported.stderr).toBe('');
    expect(JSON.parse(exported.stdout)).toHaveLength(1);
  });
});

function escaped(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function csvFile(): string {
  const file = `${db}.csv`;
  writeFileSync(file, 'email,purpose,channel,status\nana@example.com,marketing,email,opted_out\n');
  return file;
}

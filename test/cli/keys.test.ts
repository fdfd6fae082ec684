import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { hashApiKey } from '../../src/server/api-keys.js';
import { buildApp } from '../../src/server/app.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { cli, CreatedKeyJsonSchema, useTemporaryDatabase } from './helpers.js';

let dir: string;
let db: string;
useTemporaryDatabase('consentry-keys-', (paths) => {
  ({ dir, db } = paths);
});

const CreatedSchema = CreatedKeyJsonSchema;

const ListedKeySchema = z
  .object({
    id: z.string().min(1),
    workspaceId: z.string().min(1),
    workspace: z.string().nullable(),
    name: z.string().nullable(),
    prefix: z.string().min(1),
    createdAt: z.string(),
    lastUsedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
  })
  .strict();

/** `keys list --json`: one JSON document, an array of keys. */
async function listKeys(): Promise<z.infer<typeof ListedKeySchema>[]> {
  const run = await cli(['keys', 'list', '--json', '--db', db]);
  expect(run.code, run.stderr).toBe(0);
  return z.array(ListedKeySchema).parse(JSON.parse(run.stdout));
}

async function createKey(args: string[] = []): Promise<z.infer<typeof CreatedSchema>> {
  const run = await cli(['keys', 'create', '--json', '--db', db, ...args]);
  expect(run.code, run.stderr).toBe(0);
  const lines = run.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return CreatedSchema.parse(JSON.parse(lines[0] ?? ''));
}

async function me(key: string): Promise<number> {
  const store = createSqliteStore({ path: db });
  const app = await buildApp({ store, defaultMetrics: false });
  try {
    return (await app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${key}` } })).statusCode;
  } finally {
    await app.close();
    await store.close();
  }
}

describe('consentry keys', () => {
  it('create --json prints exactly {"workspaceId", "workspace", "created", "database", "createdDatabase", "key"}; a new name creates the workspace, a known one reuses it', async () => {
    const first = await createKey(['--workspace', 'Acme']);
    const second = await createKey(['--workspace', 'Acme']);
    expect([first.database, first.createdDatabase, second.createdDatabase]).toEqual([resolve(db), true, false]);
    const other = await createKey(['--workspace', 'Globex']);
    expect(second.workspaceId).toBe(first.workspaceId);
    expect(other.workspaceId).not.toBe(first.workspaceId);
    expect(new Set([first.key, second.key, other.key]).size).toBe(3);
    const byId = await createKey(['--workspace', first.workspaceId]);
    expect(byId.workspaceId).toBe(first.workspaceId);
    expect(await me(first.key)).toBe(200);
  });

  it('create names the database the key opens, and says on stderr when it made that file', async () => {
    const made = await cli(['keys', 'create', '--db', db, '--workspace', 'Acme']);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stderr.trim()).toBe(`created new database ${resolve(db)}: a key opens only the database the server serves (DATABASE_PATH)`);
    expect(made.stdout).toContain(`for workspace "Acme" (`);
    expect(made.stdout).toContain(`) of the database ${resolve(db)}.`);
    const again = await cli(['keys', 'create', '--db', db, '--workspace', 'Acme']);
    expect(again.stderr).toBe('');
  });

  it('create finds a workspace by a name with stray spaces or a lower-case id, and never makes one of a mistyped id', async () => {
    const acme = await createKey(['--workspace', 'Second WS']);
    expect((await createKey(['--workspace', '  Second WS '])).workspaceId).toBe(acme.workspaceId);
    expect((await createKey(['--workspace', acme.workspaceId.toLowerCase()])).workspaceId).toBe(acme.workspaceId);
    const typo = `${acme.workspaceId.slice(0, -1)}${acme.workspaceId.endsWith('0') ? '1' : '0'}`;
    const refused = await cli(['keys', 'create', '--json', '--db', db, '--workspace', typo]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`No workspace with id ${typo}`);
    expect(new Set((await listKeys()).map((key) => key.workspaceId))).toEqual(new Set([acme.workspaceId]));
  });

  it('create without --json shows the key once, with its workspace', async () => {
    const run = await cli(['keys', 'create', '--db', db, '--name', 'zapier']);
    expect(run.code).toBe(0);
    const key = /csk_[A-Za-z0-9_-]+/.exec(run.stdout)?.[0];
    expect(key).toBeDefined();
    expect(run.stdout).toMatch(/Default workspace/);
    expect(run.stdout).toMatch(/shown only this once/);
  });

  it('list shows id, workspace, name, prefix, dates and revocation, never the key nor its hash', async () => {
    const created = await createKey(['--workspace', 'Acme', '--name', 'Zapier']);
    const run = await cli(['keys', 'list', '--db', db]);
    expect(run.code).toBe(0);
    const [header, row] = run.stdout.trim().split('\n');
    expect(header?.split('\t')).toEqual(['id', 'workspace', 'name', 'prefix', 'created', 'last used', 'revoked']);
    const cells = row?.split('\t') ?? [];
    expect(cells[1]).toBe('Acme');
    expect(cells[2]).toBe('Zapier');
    expect(created.key.startsWith((cells[3] ?? 'x').replace('…', ''))).toBe(true);
    expect(cells[5]).toBe('-');
    expect(cells[6]).toBe('-');
    expect(run.stdout).not.toContain(created.key);
    expect(run.stdout).not.toContain(hashApiKey(created.key));
    const json = await cli(['keys', 'list', '--json', '--db', db]);
    expect(json.stdout).not.toContain(created.key);
    expect(json.stdout).not.toContain(hashApiKey(created.key));
    expect(await listKeys()).toEqual([expect.objectContaining({ workspace: 'Acme', workspaceId: created.workspaceId, name: 'Zapier', revokedAt: null })]);
  });

  it('list --json prints one JSON document, an array of every key, as export --format json does', async () => {
    const acme = await createKey(['--workspace', 'Acme']);
    const globex = await createKey(['--workspace', 'Globex', '--name', 'Zapier']);
    const run = await cli(['keys', 'list', '--json', '--db', db]);
    expect(run.code).toBe(0);
    const document: unknown = JSON.parse(run.stdout);
    expect(Array.isArray(document)).toBe(true);
    const listed = z
      .array(ListedKeySchema)
      .parse(document)
      .sort((a, b) => (a.workspace ?? '').localeCompare(b.workspace ?? ''));
    expect(listed.map((k) => [k.workspace, k.workspaceId, k.name])).toEqual([
      ['Acme', acme.workspaceId, null],
      ['Globex', globex.workspaceId, 'Zapier'],
    ]);
    expect(globex.key.startsWith(listed[1]?.prefix ?? 'none')).toBe(true);
  });

  it('list --json prints an empty array when the database has no key', async () => {
    await createSqliteStore({ path: db }).close();
    const run = await cli(['keys', 'list', '--json', '--db', db]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual([]);
  });

  it('names a workspace in any letter case, and refuses list and revoke on a database that does not exist', async () => {
    const first = await createKey(['--workspace', 'Acme']);
    const second = await createKey(['--workspace', 'acme']);
    expect(second.workspaceId).toBe(first.workspaceId);
    const missing = join(dir, 'typo.db');
    for (const args of [['keys', 'list', '--db', missing], ['keys', 'revoke', 'key_x', '--db', missing]]) {
      const run = await cli(args);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`No database at ${missing}`);
    }
    expect(existsSync(missing)).toBe(false);
  });

  it('revoke makes the key answer 401 and shows in the list', async () => {
    const created = await createKey(['--workspace', 'Acme']);
    const keep = await createKey(['--workspace', 'Acme']);
    const rows = await listKeys();
    const target = rows.find((r) => created.key.startsWith(r.prefix));
    expect(target).toBeDefined();
    expect(await me(created.key)).toBe(200);

    const revoked = await cli(['keys', 'revoke', (target?.id ?? '').toLowerCase(), '--db', db]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(target?.id ?? 'missing');
    expect(await me(created.key)).toBe(401);
    expect(await me(keep.key)).toBe(200);
    const states = await listKeys();
    expect(states.find((s) => s.id === target?.id)?.revokedAt).toEqual(expect.any(String));
    expect(states.filter((s) => s.revokedAt === null)).toHaveLength(1);
  });

  it('revoke of an unknown id is refused with exit code 2', async () => {
    await createKey();
    const run = await cli(['keys', 'revoke', 'no-such-key', '--db', db]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('no-such-key');
  });

  it.each([['create'], ['list'], ['revoke']])('keys %s --help documents --db', async (command) => {
    const run = await cli(['keys', command, '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('--db <path>');
  });

  it('reads DATABASE_PATH when --db is not given', async () => {
    const run = await cli(['keys', 'create', '--json'], { env: { DATABASE_PATH: db } });
    expect(run.code).toBe(0);
    expect(await me(CreatedSchema.parse(JSON.parse(run.stdout)).key)).toBe(200);
  });
});

describe('consentry keys create --name', () => {
  it.each([
    ['empty', '', '--name must say what the key is for, not be empty'],
    ['blank', '  ', '--name must say what the key is for, not be empty'],
    ['101 characters long', 'k'.repeat(101), '--name must be at most 100 characters, not 101'],
  ])('refuses a label that is %s, before the database is made', async (_what, name, message) => {
    const run = await cli(['keys', 'create', '--name', name, '--db', db]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.split('\n').filter((l) => l !== '')).toEqual([`error: ${message}`]);
    expect(existsSync(db)).toBe(false);
  });

  it('keeps a label of up to 100 characters', async () => {
    await createKey(['--name', 'z'.repeat(100)]);
    expect((await listKeys()).map((key) => key.name)).toEqual(['z'.repeat(100)]);
  });
});

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { hashApiKey } from '../../src/server/api-keys.js';
import { buildApp } from '../../src/server/app.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { cli, useTemporaryDatabase } from './helpers.js';

let dir: string;
let db: string;
useTemporaryDatabase('consentry-keys-', (paths) => {
  ({ dir, db } = paths);
});

const CreatedSchema = z.object({ workspaceId: z.string().min(1), key: z.string().regex(/^csk_[A-Za-z0-9_-]{43,}$/) }).strict();

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
  it('create --json prints exactly {"workspaceId", "key"}; a new name creates the workspace, a known one reuses it', async () => {
    const first = await createKey(['--workspace', 'Acme']);
    const second = await createKey(['--workspace', 'Acme']);
    const other = await createKey(['--workspace', 'Globex']);
    expect(second.workspaceId).toBe(first.workspaceId);
    expect(other.workspaceId).not.toBe(first.workspaceId);
    expect(new Set([first.key, second.key, other.key]).size).toBe(3);
    const byId = await createKey(['--workspace', first.workspaceId]);
    expect(byId.workspaceId).toBe(first.workspaceId);
    expect(await me(first.key)).toBe(200);
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
    expect(JSON.parse(json.stdout.trim())).toMatchObject({ workspace: 'Acme', workspaceId: created.workspaceId, revokedAt: null });
  });

  it('names a workspace in any letter case, and refuses list and revoke on a database that does not exist', async () => {
    const first = await createKey(['--workspace', 'Acme']);
    const second = await createKey(['--workspace', 'acme']);
    expect(second.workspaceId).toBe(first.workspaceId);
    const missing = join(dir, 'typo.db');
    for (const args of [['keys', 'list', '--db', missing], ['keys', 'revoke', 'key_x', '--db', missing]]) {
      const run = await cli(args);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`No database at ${missing}`);
    }
    expect(existsSync(missing)).toBe(false);
  });

  it('revoke makes the key answer 401 and shows in the list', async () => {
    const created = await createKey(['--workspace', 'Acme']);
    const keep = await createKey(['--workspace', 'Acme']);
    const list = await cli(['keys', 'list', '--json', '--db', db]);
    const rows = list.stdout.trim().split('\n').map((line) => z.object({ id: z.string(), prefix: z.string() }).parse(JSON.parse(line)));
    const target = rows.find((r) => created.key.startsWith(r.prefix));
    expect(target).toBeDefined();
    expect(await me(created.key)).toBe(200);

    const revoked = await cli(['keys', 'revoke', target?.id ?? '', '--db', db]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(target?.id ?? 'missing');
    expect(await me(created.key)).toBe(401);
    expect(await me(keep.key)).toBe(200);
    const after = await cli(['keys', 'list', '--json', '--db', db]);
    const states = after.stdout.trim().split('\n').map((line) => z.object({ id: z.string(), revokedAt: z.string().nullable() }).parse(JSON.parse(line)));
    expect(states.find((s) => s.id === target?.id)?.revokedAt).toEqual(expect.any(String));
    expect(states.filter((s) => s.revokedAt === null)).toHaveLength(1);
  });

  it('revoke of an unknown id fails with exit code 1', async () => {
    await createKey();
    const run = await cli(['keys', 'revoke', 'no-such-key', '--db', db]);
    expect(run.code).toBe(1);
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

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createEngine } from '../../src/engine.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { cli, stderrLines, useTemporaryDatabase } from './helpers.js';

let db: string;
useTemporaryDatabase('consentry-keys-revoke-state-', (paths) => {
  ({ db } = paths);
});

const CreatedKeySchema = z.object({ workspaceId: z.string(), key: z.string() });
const ListedKeySchema = z.object({ id: z.string(), prefix: z.string() });
const RevokedSchema = z
  .object({
    id: z.string(),
    workspaceId: z.string(),
    workspace: z.string().nullable(),
    prefix: z.string(),
    revokedAt: z.iso.datetime(),
    alreadyRevoked: z.boolean(),
    hooksRemoved: z.number(),
    liveKeysLeft: z.number(),
  })
  .strict();

/** A new key for `workspace`: its id, as `keys list` shows it, and its workspace. */
async function createKey(workspace: string): Promise<{ id: string; prefix: string; workspaceId: string }> {
  const run = await cli(['keys', 'create', '--json', '--workspace', workspace, '--db', db]);
  expect(run.code, run.stderr).toBe(0);
  const created = CreatedKeySchema.parse(JSON.parse(run.stdout));
  const listed = z.array(ListedKeySchema).parse(JSON.parse((await cli(['keys', 'list', '--json', '--db', db])).stdout));
  const row = listed.find((key) => created.key.startsWith(key.prefix));
  if (!row) throw new Error('the created key is not listed');
  return { id: row.id, prefix: row.prefix, workspaceId: created.workspaceId };
}

const noKeyWarning = (workspace: string, workspaceId: string, argument: string) =>
  `warning: workspace "${workspace}" (${workspaceId}) has no live API key left: the API refuses every request for it until it has one; ` +
  `make one with: consentry keys create --workspace ${argument} --db ${db}`;

describe('consentry keys revoke says what the revocation left', () => {
  it('says a key was already revoked, and when, in any letter case of its id, with exit code 0', async () => {
    const key = await createKey('Sales');
    await createKey('Sales');
    const first = await cli(['keys', 'revoke', key.id, '--db', db]);
    expect(first.code, first.stderr).toBe(0);
    const revokedAt = /^Revoked API key \S+ \(\S+…\) at (\S+)$/.exec(first.stdout.split('\n')[0] ?? '')?.[1];
    expect(revokedAt).toEqual(expect.any(String));

    for (const id of [key.id, key.id.toLowerCase()]) {
      const again = await cli(['keys', 'revoke', id, '--db', db]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toBe(`API key ${key.id} (${key.prefix}…) was already revoked at ${revokedAt ?? ''}; nothing changed\n`);
      expect(again.stderr).toBe('');
    }
  });

  it('warns, on stderr, when the workspace has no live key left, and says how to make one', async () => {
    const first = await createKey('Sales');
    const second = await createKey('sales');
    const other = await createKey('Acme');

    const notLast = await cli(['keys', 'revoke', first.id, '--db', db]);
    expect(notLast.code, notLast.stderr).toBe(0);
    expect(notLast.stderr).toBe('');

    const last = await cli(['keys', 'revoke', second.id, '--db', db]);
    expect(last.code, last.stderr).toBe(0);
    expect(last.stdout.split('\n')[0]).toMatch(/^Revoked API key /);
    expect(stderrLines(last)).toEqual([noKeyWarning('Sales', second.workspaceId, 'Sales')]);

    // The warning's command does give the workspace a key again.
    const made = await cli(['keys', 'create', '--workspace', 'Sales', '--db', db, '--json']);
    expect(made.code, made.stderr).toBe(0);
    expect(CreatedKeySchema.parse(JSON.parse(made.stdout)).workspaceId).toBe(second.workspaceId);
    expect(other.workspaceId).not.toBe(second.workspaceId);
  });

  it('quotes a name for the shell, and names by its id a workspace whose name finds others too', async () => {
    const quoted = await createKey("Ana's team");
    const revoked = await cli(['keys', 'revoke', quoted.id, '--db', db]);
    expect(stderrLines(revoked)).toEqual([noKeyWarning("Ana's team", quoted.workspaceId, `'Ana'\\''s team'`)]);

    const store = createSqliteStore({ path: db });
    let twins: string[];
    try {
      const engine = createEngine({ store });
      twins = [(await engine.createWorkspace({ name: 'Support' })).id, (await engine.createWorkspace({ name: 'Support' })).id];
    } finally {
      await store.close();
    }
    const key = await createKey(twins[1] ?? '');
    const run = await cli(['keys', 'revoke', key.id, '--db', db]);
    expect(run.code, run.stderr).toBe(0);
    expect(stderrLines(run)).toEqual([noKeyWarning('Support', key.workspaceId, key.workspaceId)]);
    expect(key.workspaceId).toBe(twins[1]);
  });

  it('--json reports the revocation as fields, the warning still on stderr', async () => {
    const key = await createKey('Solo');
    const run = await cli(['keys', 'revoke', key.id, '--json', '--db', db]);
    expect(run.code, run.stderr).toBe(0);
    const revoked = RevokedSchema.parse(JSON.parse(run.stdout));
    expect(revoked).toMatchObject({ id: key.id, workspaceId: key.workspaceId, workspace: 'Solo', prefix: key.prefix, alreadyRevoked: false, hooksRemoved: 0, liveKeysLeft: 0 });
    expect(stderrLines(run)).toEqual([noKeyWarning('Solo', key.workspaceId, 'Solo')]);

    const again = RevokedSchema.parse(JSON.parse((await cli(['keys', 'revoke', key.id, '--json', '--db', db])).stdout));
    expect(again).toEqual({ ...revoked, alreadyRevoked: true });
  });
});

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildApp } from '../../src/server/app.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { cli, CreatedKeyJsonSchema, useTemporaryDatabase } from './helpers.js';

let db: string;
useTemporaryDatabase('consentry-keys-revoke-', (paths) => {
  ({ db } = paths);
});

const CreatedKeySchema = CreatedKeyJsonSchema;
const ListedKeySchema = z.object({ id: z.string(), prefix: z.string(), revokedAt: z.string().nullable() });

async function createKey(): Promise<{ id: string; prefix: string; key: string; workspaceId: string }> {
  const run = await cli(['keys', 'create', '--json', '--workspace', 'Acme', '--db', db]);
  expect(run.code, run.stderr).toBe(0);
  const created = CreatedKeySchema.parse(JSON.parse(run.stdout));
  const listed = await cli(['keys', 'list', '--json', '--db', db]);
  const row = z
    .array(ListedKeySchema)
    .parse(JSON.parse(listed.stdout))
    .find((key) => created.key.startsWith(key.prefix));
  if (!row) throw new Error('the created key is not listed');
  return { ...created, id: row.id, prefix: row.prefix };
}

/** Subscribes a hook with each key through the API, as Zapier does; returns the hook ids in order. */
async function subscribe(keys: string[]): Promise<string[]> {
  const store = createSqliteStore({ path: db });
  const app = await buildApp({ store, defaultMetrics: false });
  try {
    const ids: string[] = [];
    for (const [index, key] of keys.entries()) {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/hooks',
        headers: { authorization: `Bearer ${key}` },
        payload: { targetUrl: `https://hooks.example.com/zap-${index}`, event: '*' },
      });
      expect(response.statusCode, response.body).toBe(201);
      ids.push(z.object({ id: z.string() }).parse(response.json()).id);
    }
    return ids;
  } finally {
    await app.close();
    await store.close();
  }
}

async function deletedReasons(workspaceId: string, hookIds: string[]): Promise<(string | null | undefined)[]> {
  const store = createSqliteStore({ path: db });
  try {
    return await store.transaction(async (tx) => Promise.all(hookIds.map(async (id) => (await tx.getHook(workspaceId, id))?.deletedReason)));
  } finally {
    await store.close();
  }
}

describe('consentry keys revoke', () => {
  it('says how many webhook subscriptions it removed with the key, and that a second revoke changes nothing', async () => {
    const zap = await createKey();
    const other = await createKey();
    const hooks = await subscribe([zap.key, zap.key, other.key]);

    const revoked = await cli(['keys', 'revoke', zap.id, '--db', db]);
    expect(revoked.code, revoked.stderr).toBe(0);
    const lines = revoked.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    const revokedAt = /^Revoked API key (\S+) \((\S+)…\) at (\S+)$/.exec(lines[0] ?? '');
    expect(revokedAt?.slice(1, 3)).toEqual([zap.id, zap.prefix]);
    expect(lines[1]).toBe('Removed 2 webhook subscriptions (hooks) it created; their pending deliveries will not be sent');
    expect(await deletedReasons(zap.workspaceId, hooks)).toEqual(['key_revoked', 'key_revoked', null]);

    const again = await cli(['keys', 'revoke', zap.id, '--db', db]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim().split('\n')).toEqual([`API key ${zap.id} (${zap.prefix}…) was already revoked at ${revokedAt?.[3] ?? ''}; nothing changed`]);
    expect(await deletedReasons(zap.workspaceId, hooks)).toEqual(['key_revoked', 'key_revoked', null]);

    const single = await cli(['keys', 'revoke', other.id, '--db', db]);
    expect(single.code, single.stderr).toBe(0);
    expect(single.stdout.trim().split('\n')[1]).toBe('Removed 1 webhook subscription (hook) it created; its pending deliveries will not be sent');
    expect(await deletedReasons(zap.workspaceId, hooks)).toEqual(['key_revoked', 'key_revoked', 'key_revoked']);
  });

  it('--help says the key takes its webhook subscriptions with it', async () => {
    const run = await cli(['keys', 'revoke', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout.replace(/\s+/g, ' ')).toContain('webhook subscriptions (hooks) it created are deleted');
  });
});

import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { cli, CreatedKeyJsonSchema, useTemporaryDatabase } from './helpers.js';

let db: string;
useTemporaryDatabase('consentry-keys-create-json-', (paths) => {
  ({ db } = paths);
});

const CreatedSchema = CreatedKeyJsonSchema;

async function createKey(args: string[]): Promise<z.infer<typeof CreatedSchema>> {
  const run = await cli(['keys', 'create', '--json', '--db', db, ...args]);
  expect(run.code, run.stderr).toBe(0);
  return CreatedSchema.parse(JSON.parse(run.stdout));
}

describe('consentry keys create --json', () => {
  it('names the workspace and says whether this command made it, so a mistyped name shows', async () => {
    const prod = await createKey(['--workspace', 'Acme Prod']);
    expect(prod).toMatchObject({ workspace: 'Acme Prod', created: true });
    expect(await createKey(['--workspace', 'acme prod'])).toMatchObject({ workspaceId: prod.workspaceId, workspace: 'Acme Prod', created: false });
    const typo = await createKey(['--workspace', 'Acme-Prod']);
    expect(typo).toMatchObject({ workspace: 'Acme-Prod', created: true });
    expect(typo.workspaceId).not.toBe(prod.workspaceId);
    expect(await createKey(['--workspace', prod.workspaceId])).toMatchObject({ workspace: 'Acme Prod', created: false });
  });

  it('says so of the default workspace too: made in a new database, found after that', async () => {
    const first = await createKey([]);
    expect(first).toMatchObject({ workspace: 'Default workspace', created: true });
    expect(await createKey([])).toMatchObject({ workspaceId: first.workspaceId, workspace: 'Default workspace', created: false });
  });
});

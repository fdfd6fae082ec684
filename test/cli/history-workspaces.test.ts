import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { cli, useTemporaryDatabase } from './helpers.js';

let db: string;
useTemporaryDatabase('consentry-cli-history-workspaces-', (paths) => {
  ({ db } = paths);
});

interface Made {
  defaultWorkspace: { id: string; name: string };
  sales: { id: string; name: string };
  /** Bea, a contact of the default workspace only. */
  bea: string;
}

/** Two workspaces; Bea is a contact of the first only, and the number +14155550100 is a contact in both. */
async function twoWorkspaces(): Promise<Made> {
  const store = createSqliteStore({ path: db });
  try {
    const engine = createEngine({ store });
    const first = await engine.createWorkspace({ name: 'Default workspace' });
    const sales = await engine.createWorkspace({ name: 'Sales' });
    const bea = await engine.workspace(first.id).createContact({ email: 'bea@example.com' });
    await engine.workspace(first.id).createContact({ phone: '+14155550100' });
    await engine.workspace(sales.id).createContact({ phone: '+14155550100' });
    return { defaultWorkspace: { id: first.id, name: first.name }, sales: { id: sales.id, name: sales.name }, bea: bea.id };
  } finally {
    await store.close();
  }
}

describe('history --workspace names the workspace it found no contact in', () => {
  it('for a contact of another workspace, with the id as the engine writes it (upper case)', async () => {
    const { sales, bea } = await twoWorkspaces();
    const run = await cli(['history', bea.toLowerCase(), '--workspace', 'Sales', '--db', db]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`error: No contact ${bea} in workspace "Sales" (${sales.id}) of ${db}\n`);
  });

  it('for an e-mail, and for a key read as a phone number that is none', async () => {
    const { sales } = await twoWorkspaces();
    const email = await cli(['history', 'bea@example.com', '--workspace', 'sales', '--db', db]);
    expect(email.stderr).toBe(`error: No contact bea@example.com in workspace "Sales" (${sales.id}) of ${db}\n`);
    const phone = await cli(['history', '600 000 001', '--workspace', 'Sales', '--db', db]);
    expect(phone.code).toBe(2);
    expect(phone.stderr.startsWith(`error: No contact 600 000 001 in workspace "Sales" (${sales.id}) of ${db}: not a contact id or an e-mail address, and as a phone number: `)).toBe(true);
  });

  it('names the id in upper case without --workspace too', async () => {
    await twoWorkspaces();
    const run = await cli(['history', '01arz3ndektsv4rrffq69g5fav', '--db', db]);
    expect(run.stderr).toBe(`error: No contact 01ARZ3NDEKTSV4RRFFQ69G5FAV in ${db}\n`);
  });
});

describe('history names the workspaces a key is a contact in', () => {
  it('each by name and id, when it names contacts in several', async () => {
    const { defaultWorkspace, sales } = await twoWorkspaces();
    const run = await cli(['history', '+14155550100', '--db', db]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      `error: +14155550100 is a contact in 2 workspaces, "Default workspace" (${defaultWorkspace.id}) and "Sales" (${sales.id}): name one with --workspace\n`,
    );
    const named = await cli(['history', '+14155550100', '--db', db, '--workspace', 'Sales']);
    expect(named.code, named.stderr).toBe(0);
  });
});

describe('history names a workspace on one line', () => {
  it('shows a line break in a name stored by an older version as its code point, as workspaces list does', async () => {
    const { defaultWorkspace, sales } = await twoWorkspaces();
    const store = createSqliteStore({ path: db });
    try {
      // The engine refuses such a name: it is written to the store as an older version could have.
      await store.transaction((tx) => tx.updateWorkspace(sales.id, { name: 'Sales\nEurope', updatedAt: new Date(0).toISOString() }));
    } finally {
      await store.close();
    }
    const several = await cli(['history', '+14155550100', '--db', db]);
    expect(several.code).toBe(2);
    expect(several.stderr).toBe(
      `error: +14155550100 is a contact in 2 workspaces, "Default workspace" (${defaultWorkspace.id}) and "Sales[U+000A]Europe" (${sales.id}): name one with --workspace\n`,
    );
    const missing = await cli(['history', 'nobody@example.com', '--db', db, '--workspace', sales.id]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`error: No contact nobody@example.com in workspace "Sales[U+000A]Europe" (${sales.id}) of ${db}\n`);
  });
});

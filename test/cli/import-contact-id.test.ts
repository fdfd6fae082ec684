import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { cli, reportLines, useTemporaryDatabase } from './helpers.js';

let dir: string;
let db: string;
useTemporaryDatabase('consentry-cli-import-contact-id-', (paths) => {
  ({ dir, db } = paths);
});

/** Two workspaces; Ana is a contact of Sales only. */
async function anaInSales(): Promise<{ defaultId: string; salesId: string; ana: string }> {
  const store = createSqliteStore({ path: db });
  try {
    const engine = createEngine({ store });
    const first = await engine.createWorkspace({ name: 'Default workspace' });
    const sales = await engine.createWorkspace({ name: 'Sales' });
    const ana = await engine.workspace(sales.id).createContact({ email: 'ana@example.com' });
    return { defaultId: first.id, salesId: sales.id, ana: ana.id };
  } finally {
    await store.close();
  }
}

describe('import: a contact_id no contact of the workspace has', () => {
  it('is named with the value as the file spells it and the workspace it was looked for in', async () => {
    const { defaultId, salesId, ana } = await anaInSales();
    const csv = join(dir, 'ids.csv');
    const report = join(dir, 'rejected.csv');
    writeFileSync(csv, ['contact_id,purpose,channel,status', `${ana},marketing,email,opted_out`, '01arz3ndektsv4rrffq69g5fav,marketing,email,opted_out'].join('\n'));

    const wrongWorkspace = await cli(['import', csv, '--db', db, '--report', report]);
    expect(wrongWorkspace.code).toBe(1);
    expect(reportLines(wrongWorkspace)).toEqual([
      `line 2: contact_id: "${ana}" is no contact of workspace "Default workspace" (${defaultId})`,
      `line 3: contact_id: "01arz3ndektsv4rrffq69g5fav" is no contact of workspace "Default workspace" (${defaultId})`,
    ]);
    const rejected = parse(readFileSync(report, 'utf8'), { columns: true, bom: true }) as Record<string, string>[];
    expect(rejected.map((row) => [row.line, row.field, row.message])).toEqual([
      ['2', 'contact_id', `"${ana}" is no contact of workspace "Default workspace" (${defaultId})`],
      ['3', 'contact_id', `"01arz3ndektsv4rrffq69g5fav" is no contact of workspace "Default workspace" (${defaultId})`],
    ]);

    const rightWorkspace = await cli(['import', csv, '--db', db, '--workspace', 'Sales']);
    expect(rightWorkspace.code).toBe(1);
    expect(reportLines(rightWorkspace)).toEqual([`line 3: contact_id: "01arz3ndektsv4rrffq69g5fav" is no contact of workspace "Sales" (${salesId})`]);
  });
});

describe('import: a contact_id that is no id at all', () => {
  it('is named as not a contact id, on its line and in its column, whatever the workspace', async () => {
    const { ana } = await anaInSales();
    const csv = join(dir, 'ids.csv');
    writeFileSync(csv, ['email,contact_id,purpose,channel,status', `,not-an-id,marketing,email,opted_out`, `,${ana},marketing,email,opted_out`].join('\n'));
    const run = await cli(['import', csv, '--db', db, '--workspace', 'Sales']);
    expect(run.code).toBe(1);
    expect(reportLines(run)).toEqual(['line 2: contact_id: "not-an-id" is not a contact id (a ULID such as 01ARZ3NDEKTSV4RRFFQ69G5FAV)']);
  });
});

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { cell, workspaceLabel } from '../../src/cli/io.js';
import { createEngine } from '../../src/engine.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { cli, stderrLines, useTemporaryDatabase } from './helpers.js';

let dir: string;
let db: string;
useTemporaryDatabase('consentry-cli-workspace-name-', (paths) => {
  ({ dir, db } = paths);
});

/** How every command names the workspace whose stored name holds a line break. */
const SHOWN = '"Sales[U+000A]Europe"';

/** A workspace "Sales", renamed "Sales\nEurope" in the store; its id. */
async function salesEurope(): Promise<string> {
  const store = createSqliteStore({ path: db });
  try {
    const sales = await createEngine({ store }).createWorkspace({ name: 'Sales' });
    // The engine refuses such a name: it is written to the store as an older version could have.
    await store.transaction((tx) => tx.updateWorkspace(sales.id, { name: 'Sales\nEurope', updatedAt: new Date(0).toISOString() }));
    return sales.id;
  } finally {
    await store.close();
  }
}

function csvFile(name: string, lines: readonly string[]): string {
  const file = join(dir, name);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** Every line of a run, stdout and stderr, with the line break each ends with taken off. */
function allLines(run: { stdout: string; stderr: string }): string[] {
  return [...run.stdout.split('\n'), ...run.stderr.split('\n')].filter((line) => line !== '');
}

describe('cell and workspaceLabel', () => {
  it('write each control and bidirectional formatting character as its code point, and nothing else', () => {
    expect(cell('Sales\tEurope\u202e\u0085')).toBe('Sales[U+0009]Europe[U+202E][U+0085]');
    expect(cell('Café – Ventes 😀')).toBe('Café – Ventes 😀');
    expect(workspaceLabel({ id: '01ARZ3NDEKTSV4RRFFQ69G5FAV', name: 'Sales\r\nEurope' })).toBe('"Sales[U+000D][U+000A]Europe" (01ARZ3NDEKTSV4RRFFQ69G5FAV)');
  });
});

describe('a workspace name with a line break, stored by an older version, is named on one line', () => {
  it('by import, in the line of a row naming no contact of it and in the summary', async () => {
    const id = await salesEurope();
    const file = csvFile('unknown.csv', ['contact_id,purpose,channel,status', '01ARZ3NDEKTSV4RRFFQ69G5FAV,marketing,email,opted_out']);
    const run = await cli(['import', file, '--workspace', id, '--db', db]);
    expect(run.code).toBe(1);
    const lines = allLines(run);
    expect(lines).toContain(`line 2: contact_id: "01ARZ3NDEKTSV4RRFFQ69G5FAV" is no contact of workspace ${SHOWN} (${id})`);
    expect(lines).toContain(`Into workspace ${SHOWN} (${id}) of ${db}.`);
    expect(lines.filter((line) => line.startsWith('Europe'))).toEqual([]);
  });

  it('by export, when the ledger stops before its stored head', async () => {
    const id = await salesEurope();
    const file = csvFile('rows.csv', ['email,purpose,channel,status', 'a@example.com,marketing,email,opted_out', 'b@example.com,marketing,email,opted_out']);
    const imported = await cli(['import', file, '--workspace', id, '--db', db]);
    expect(imported.code, imported.stderr).toBe(0);
    // The last record lost, as a file that lost its last page would: the append-only guards dropped, then the row deleted.
    const raw = new Database(db);
    for (const { name } of z.array(z.object({ name: z.string() })).parse(raw.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'consent_records'").all())) {
      raw.exec(`DROP TRIGGER "${name}"`);
    }
    raw.prepare('DELETE FROM consent_records WHERE seq > 1').run();
    raw.close();

    const run = await cli(['export', '--db', db]);
    expect(run.code).toBe(1);
    expect(stderrLines(run)).toEqual([`error: export stopped at record 1 of 2 in workspace ${SHOWN} (${id}): the database is damaged; run consentry verify`]);
  });

  it('by verify, in the line of a head the ledger does not have', async () => {
    const id = await salesEurope();
    const file = csvFile('one.csv', ['email,purpose,channel,status', 'a@example.com,marketing,email,opted_out']);
    expect((await cli(['import', file, '--workspace', id, '--db', db])).code).toBe(0);
    const run = await cli(['verify', '--db', db, '--expect-head', `1:${'0'.repeat(64)}`]);
    expect(run.code).toBe(1);
    const failure = stderrLines(run).find((line) => line.includes('expected head'));
    expect(failure?.startsWith(`error: workspace ${SHOWN} (${id}): expected head seq 1 hash ${'0'.repeat(64)}, but `)).toBe(true);
    expect(allLines(run).filter((line) => line.startsWith('Europe'))).toEqual([]);
  });

  it('by keys create, so the key stays the last line it prints', async () => {
    const id = await salesEurope();
    const run = await cli(['keys', 'create', '--workspace', id, '--db', db]);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines[0]?.replace(/^API key \S+ /, '')).toBe(`for workspace ${SHOWN} (${id}) of the database ${db}.`);
    expect(lines).toHaveLength(4);
    expect(lines[3]).toBe('');
  });
});

describe('a workspace name holding a line break is shown on one line', () => {
  it('by an export that finds no record, and by the settings notices serve prints at start', async () => {
    const { noRecordsLine } = await import('../../src/cli/ledger-pages.js');
    const { settingsNotices } = await import('../../src/cli/serve.js');
    const { defaultSettings } = await import('../../src/core/settings.js');
    const at = new Date(0).toISOString();
    const workspace = { id: '01ARZ3NDEKTSV4RRFFQ69G5FAV', name: 'Sales\nEurope', settings: defaultSettings(), createdAt: at, updatedAt: at };
    expect(noRecordsLine([workspace], null)).toBe(`no consent records in workspace ${SHOWN} (01ARZ3NDEKTSV4RRFFQ69G5FAV)`);
    const notices = settingsNotices(workspace, 'http://127.0.0.1:3000');
    expect(notices.length).toBeGreaterThan(0);
    for (const notice of notices) expect(notice.startsWith(`Workspace ${SHOWN}: `), notice).toBe(true);
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spreadsheetSafe } from '../../src/cli/export.js';
import { createEngine } from '../../src/engine.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { cli } from './helpers.js';

let dir: string;
let db: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'consentry-export-'));
  db = join(dir, 'consentry.db');
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function importRows(rows: string[]): Promise<void> {
  const csv = join(dir, 'rows.csv');
  writeFileSync(csv, ['email,purpose,channel,status,legal_basis,explanation', ...rows].join('\n'));
  const run = await cli(['import', csv, '--db', db]);
  expect(run.code, run.stderr).toBe(0);
}

describe('spreadsheetSafe', () => {
  it('turns what a spreadsheet would run as a formula into text, and leaves numbers and plain text alone', () => {
    expect(spreadsheetSafe('=HYPERLINK("https://example.com","x")')).toBe(`'=HYPERLINK("https://example.com","x")`);
    expect(spreadsheetSafe('@SUM(A1)')).toBe(`'@SUM(A1)`);
    expect(spreadsheetSafe('-2+3')).toBe(`'-2+3`);
    expect(spreadsheetSafe('+cmd|calc')).toBe(`'+cmd|calc`);
    expect(spreadsheetSafe('\tx')).toBe(`'\tx`);
    // After white space, on a line of its own, or in full-width form, a formula is still one.
    expect(spreadsheetSafe(' =1+1')).toBe(`' =1+1`);
    expect(spreadsheetSafe('\n=1+1')).toBe(`'\n=1+1`);
    expect(spreadsheetSafe('\uFF1D1+1')).toBe(`'\uFF1D1+1`);
    expect(spreadsheetSafe(' plain')).toBe(' plain');
    expect(spreadsheetSafe('+34600000001')).toBe('+34600000001');
    expect(spreadsheetSafe('-12.5')).toBe('-12.5');
    expect(spreadsheetSafe('Signed up = yes')).toBe('Signed up = yes');
    // A cell that starts with an apostrophe of its own gets one as well: dropping the first
    // apostrophe of every cell that has one then gives back every value.
    expect(spreadsheetSafe("'=member agreement clause 4")).toBe("''=member agreement clause 4");
    expect(spreadsheetSafe("'tis the season")).toBe("''tis the season");
    for (const value of ["'=x", '=x', "'x", 'x', "''", '+34600000001']) {
      const cell = spreadsheetSafe(value);
      expect(cell.startsWith("'") ? cell.slice(1) : cell).toBe(value);
    }
  });
});

describe('consentry export', () => {
  it('writes cells a spreadsheet would run as formulas as text in CSV, and as they are in JSON', async () => {
    await importRows(['ana@example.com,marketing,email,opted_in,CONSENT_WITH_NOTICE,"=HYPERLINK(""https://example.com"",""x"")"']);
    const csv = await cli(['export', '--db', db]);
    const [row] = parse(csv.stdout, { columns: true }) as Record<string, string>[];
    expect(row?.explanation).toBe(`'=HYPERLINK("https://example.com","x")`);
    const json = await cli(['export', '--format', 'json', '--db', db]);
    expect(JSON.parse(json.stdout)).toEqual([expect.objectContaining({ explanation: '=HYPERLINK("https://example.com","x")' })]);
  });

  it('pages through a long ledger in order, with the JSON text of one array, and an empty ledger prints the header or []', async () => {
    const store = createSqliteStore({ path: db });
    await createEngine({ store }).ensureDefaultWorkspace();
    await store.close();
    expect((await cli(['export', '--format', 'json', '--db', db])).stdout).toBe('[]\n');
    expect((await cli(['export', '--db', db])).stdout.split('\n').filter(Boolean)).toHaveLength(1);

    const rows = Array.from({ length: 2_345 }, (_, i) => `person${i}@example.com,marketing,email,opted_out,,`);
    await importRows(rows);
    const json = await cli(['export', '--format', 'json', '--db', db]);
    const records = JSON.parse(json.stdout) as { seq: number; email: string }[];
    expect(records.map((record) => record.seq)).toEqual(Array.from({ length: 2_345 }, (_, i) => i + 1));
    expect(records[2_000]?.email).toBe('person2000@example.com');
    expect(json.stdout).toBe(`${JSON.stringify(records, null, 2)}\n`);

    const csv = await cli(['export', '--db', db]);
    const parsed = parse(csv.stdout, { columns: true }) as Record<string, string>[];
    expect(parsed.map((row) => Number(row.seq))).toEqual(Array.from({ length: 2_345 }, (_, i) => i + 1));
  });
});

describe('consentry export: the UTF-8 byte order mark', () => {
  it('starts a CSV export with a BOM, so Excel reads accented text right; --no-bom leaves it out; JSON never has one', async () => {
    await importRows(['ana@example.com,marketing,email,opted_in,CONSENT_WITH_NOTICE,Ünïcödé 日本語 signed at the café']);
    const withBom = await cli(['export', '--db', db]);
    expect(withBom.code).toBe(0);
    expect(Buffer.from(withBom.stdout, 'utf8').subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
    expect(withBom.stdout.slice(1).startsWith('workspace_id,seq,')).toBe(true);
    const withoutBom = await cli(['export', '--no-bom', '--db', db]);
    expect(withoutBom.stdout).toBe(withBom.stdout.slice(1));
    const json = await cli(['export', '--format', 'json', '--db', db]);
    expect(json.stdout.startsWith('[\n  {')).toBe(true);
    expect((await cli(['export', '--format', 'json', '--no-bom', '--db', db])).stdout).toBe(json.stdout);
  });

  it('an exported CSV, cut down to the columns import reads and saved with its BOM as Excel does, imports with its text intact', async () => {
    await importRows(['ana@example.com,marketing,email,opted_in,CONSENT_WITH_NOTICE,Ünïcödé 日本語 signed at the café']);
    const exported = await cli(['export', '--db', db]);
    const rows = parse(exported.stdout, { columns: true, bom: true }) as Record<string, string>[];
    const columns = ['email', 'purpose', 'channel', 'status', 'legal_basis', 'explanation'];
    const cut = `\uFEFF${stringify(rows.map((row) => columns.map((column) => row[column] ?? '')), { header: true, columns })}`;
    const file = join(dir, 'edited.csv');
    writeFileSync(file, cut);
    const other = join(dir, 'other.db');
    const imported = await cli(['import', file, '--db', other]);
    expect(imported.code, imported.stderr).toBe(0);
    const again = JSON.parse((await cli(['export', '--format', 'json', '--db', other])).stdout) as Record<string, unknown>[];
    expect(again).toEqual([expect.objectContaining({ email: 'ana@example.com', status: 'opted_in', explanation: 'Ünïcödé 日本語 signed at the café' })]);
  });
});

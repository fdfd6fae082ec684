import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { readLedgerPage } from '../../src/engine/ledger-pages.js';
import { createEngine } from '../../src/engine.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { cli, useTemporaryDatabase } from './helpers.js';

let dir: string;
let db: string;
useTemporaryDatabase('consentry-cli-unreadable-', (paths) => {
  ({ dir, db } = paths);
});

const COLUMNS = [
  'workspace_id', 'seq', 'record_id', 'contact_id', 'email', 'phone', 'purpose', 'channel', 'status', 'legal_basis', 'explanation',
  'source', 'actor', 'evidence', 'evidence_digest', 'idempotency_key', 'occurred_at', 'recorded_at', 'prev_hash', 'hash',
];

async function importRows(rows: readonly string[]): Promise<void> {
  const csv = join(dir, 'rows.csv');
  writeFileSync(csv, ['email,purpose,channel,status', ...rows].join('\n'));
  const run = await cli(['import', csv, '--db', db]);
  expect(run.code, run.stderr).toBe(0);
}

/** Edits records as someone with write access to the file could: the append-only guards dropped, then `sql` run. */
function editLedger(sql: string, ...params: unknown[]): void {
  const raw = new Database(db);
  for (const { name } of z.array(z.object({ name: z.string() })).parse(raw.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'consent_records'").all())) {
    raw.exec(`DROP TRIGGER "${name}"`);
  }
  raw.prepare(sql).run(...params);
  raw.close();
}

function recordId(seq: number): string {
  const raw = new Database(db, { readonly: true });
  const { id } = z.object({ id: z.string() }).parse(raw.prepare('SELECT id FROM consent_records WHERE seq = ?').get(seq));
  raw.close();
  return id;
}

const reasonOf = (id: string): string => `consent_records row ${id} cannot be read: its evidence is not valid JSON`;

describe('export with a record that cannot be read', () => {
  it('exports the other records and marks the bad one, in CSV and JSON, with one warning line and exit code 1', async () => {
    await importRows(['ana@example.com,marketing,email,opted_out', 'bob@example.com,marketing,email,opted_out', 'carla@example.com,marketing,email,opted_out']);
    editLedger("UPDATE consent_records SET evidence = 'notjson' WHERE seq = 2");
    const bad = recordId(2);
    const warning = `warning: 1 record cannot be read and is exported as a row with status "unreadable": ${reasonOf(bad)}\n`;

    const csv = await cli(['export', '--db', db]);
    expect(csv.code).toBe(1);
    expect(csv.stderr).toBe(warning);
    const rows = parse(csv.stdout, { columns: true, bom: true }) as Record<string, string>[];
    expect(rows.map((row) => [row.seq, row.email, row.status])).toEqual([
      ['1', 'ana@example.com', 'opted_out'],
      ['2', '', 'unreadable'],
      ['3', 'carla@example.com', 'opted_out'],
    ]);
    const marked = rows[1] ?? {};
    expect(Object.entries(marked).filter(([, value]) => value !== '')).toEqual([
      ['workspace_id', rows[0]?.workspace_id],
      ['seq', '2'],
      ['record_id', bad],
      ['status', 'unreadable'],
      ['explanation', reasonOf(bad)],
    ]);

    const json = await cli(['export', '--format', 'json', '--db', db]);
    expect(json.code).toBe(1);
    expect(json.stderr).toBe(warning);
    const elements = z.array(z.record(z.string(), z.unknown())).parse(JSON.parse(json.stdout));
    expect(elements.map((element) => element.email)).toEqual(['ana@example.com', null, 'carla@example.com']);
    expect(Object.keys(elements[1] ?? {})).toEqual(COLUMNS);
    expect(elements[1]).toEqual({
      ...Object.fromEntries(COLUMNS.map((column) => [column, null])),
      workspace_id: elements[0]?.workspace_id,
      seq: 2,
      record_id: bad,
      status: 'unreadable',
      explanation: reasonOf(bad),
    });
  });

  it('stays streamed page by page: bad records at the end of a page and after a gap keep every other record in order', { timeout: 30_000 }, async () => {
    await importRows(Array.from({ length: 1_203 }, (_, i) => `person${i}@example.com,marketing,email,opted_out`));
    editLedger("UPDATE consent_records SET evidence = 'notjson' WHERE seq IN (1000, 1001, 1200)");
    editLedger('DELETE FROM consent_records WHERE seq BETWEEN 1190 AND 1199');
    const json = await cli(['export', '--format', 'json', '--db', db]);
    expect(json.code).toBe(1);
    expect(json.stderr).toBe(`warning: 3 records cannot be read and are exported as a row with status "unreadable": ${reasonOf(recordId(1000))} (the first of them)\n`);
    const elements = z.array(z.object({ seq: z.number(), status: z.string() })).parse(JSON.parse(json.stdout));
    const expected = Array.from({ length: 1_203 }, (_, i) => i + 1).filter((seq) => seq < 1190 || seq > 1199);
    expect(elements.map((element) => element.seq)).toEqual(expected);
    expect(elements.filter((element) => element.status === 'unreadable').map((element) => element.seq)).toEqual([1000, 1001, 1200]);
  });
});

describe('history with a record that cannot be read', () => {
  it("prints the contact's readable records and marks the bad one where it stands, with one warning line and exit code 1", async () => {
    await importRows(['ana@example.com,marketing,email,opted_out', 'bob@example.com,marketing,email,opted_out', 'ana@example.com,marketing,sms,opted_out', 'ana@example.com,marketing,messenger,opted_out']);
    await importRows(['ana@example.com,marketing,whatsapp,opted_out']);
    editLedger("UPDATE consent_records SET evidence = 'notjson' WHERE seq = 3");
    const bad = recordId(3);
    const run = await cli(['history', 'ana@example.com', '--db', db]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`warning: 1 record cannot be read and is printed as a line with status "unreadable": ${reasonOf(bad)}\n`);
    const lines = run.stdout.trim().split('\n').map((line) => z.record(z.string(), z.unknown()).parse(JSON.parse(line)));
    expect(lines.map((line) => [line.seq, line.channel ?? null, line.status])).toEqual([
      [1, 'email', 'opted_out'],
      [3, null, 'unreadable'],
      [4, 'messenger', 'opted_out'],
      [5, 'whatsapp', 'opted_out'],
    ]);
    expect(lines[1]).toEqual({ id: bad, workspaceId: lines[0]?.workspaceId, contactId: lines[0]?.contactId, seq: 3, status: 'unreadable', explanation: reasonOf(bad) });
  });
});

describe('readLedgerPage', () => {
  it("finds an unreadable record's seq across a gap, in the whole chain and in one contact's records", async () => {
    const store = createSqliteStore({ path: db });
    const engine = createEngine({ store });
    const workspace = engine.workspace((await engine.ensureDefaultWorkspace()).id);
    await workspace.bulkSetConsent(Array.from({ length: 40 }, (_, i) => ({ email: 'ana@example.com', purpose: 'marketing', channel: i % 2 === 0 ? 'email' : 'sms', status: 'opted_out' })));
    await store.close();
    // seq 2 to 22 deleted: the unreadable record, seq 23, is 21 past the last one read.
    editLedger('DELETE FROM consent_records WHERE seq BETWEEN 2 AND 22');
    editLedger("UPDATE consent_records SET evidence = 'notjson' WHERE seq IN (23, 24)");
    const contactId = z.object({ id: z.string() }).parse(new Database(db, { readonly: true }).prepare('SELECT id FROM contacts').get()).id;
    const reader = createSqliteStore({ path: db, readOnly: true });
    try {
      const { workspaceId } = workspace;
      for (const query of [{}, { contactId }]) {
        const entries = await reader.transaction((tx) => readLedgerPage(tx, workspaceId, { ...query, afterSeq: 0, limit: 4 }));
        expect(entries.map((entry) => (entry.record ? ['record', entry.record.seq] : ['unreadable', entry.unreadable.seq, entry.unreadable.id]))).toEqual([
          ['record', 1],
          ['unreadable', 23, expect.any(String)],
          ['unreadable', 24, expect.any(String)],
          ['record', 25],
        ]);
        const rest = await reader.transaction((tx) => readLedgerPage(tx, workspaceId, { ...query, afterSeq: 25, limit: 100 }));
        expect(rest.map((entry) => entry.record?.seq)).toEqual(Array.from({ length: 15 }, (_, i) => 26 + i));
      }
    } finally {
      await reader.close();
    }
  });
});

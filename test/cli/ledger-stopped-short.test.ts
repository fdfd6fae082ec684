import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Database from 'better-sqlite3';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { exportCommand } from '../../src/cli/export.js';
import type { CliIo } from '../../src/cli/io.js';
import { createEngine } from '../../src/engine.js';
import type { Store, StoreTx } from '../../src/ports/store.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { cli, stderrLines, useTemporaryDatabase } from './helpers.js';

let dir: string;
let db: string;
useTemporaryDatabase('consentry-cli-stopped-short-', (paths) => {
  ({ dir, db } = paths);
});

async function importRows(rows: readonly string[]): Promise<void> {
  const csv = join(dir, 'rows.csv');
  writeFileSync(csv, ['email,purpose,channel,status', ...rows].join('\n'));
  const run = await cli(['import', csv, '--db', db]);
  expect(run.code, run.stderr).toBe(0);
}

const optOuts = (count: number): string[] => Array.from({ length: count }, (_, index) => `person${index}@example.com,marketing,email,opted_out`);

/** Loses the records after `seq`, as a file that lost its last pages would: the append-only guards dropped, then the rows deleted. */
function loseRecordsAfter(seq: number): void {
  const raw = new Database(db);
  for (const { name } of z.array(z.object({ name: z.string() })).parse(raw.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'consent_records'").all())) {
    raw.exec(`DROP TRIGGER "${name}"`);
  }
  raw.prepare('DELETE FROM consent_records WHERE seq > ?').run(seq);
  raw.close();
}

function workspaceId(): string {
  const raw = new Database(db, { readonly: true });
  const { id } = z.object({ id: z.string() }).parse(raw.prepare('SELECT id FROM workspaces').get());
  raw.close();
  return id;
}

const stoppedAt = (reached: number, of: number): string =>
  `error: export stopped at record ${reached} of ${of} in workspace "Default workspace" (${workspaceId()}): the database is damaged; run consentry verify`;

describe('export of a ledger that ends before its stored head', () => {
  it('writes what it read, then fails with one line and exit code 1, in CSV and in JSON', async () => {
    await importRows(optOuts(3));
    loseRecordsAfter(2);

    const csv = await cli(['export', '--db', db]);
    expect(csv.code).toBe(1);
    expect(stderrLines(csv)).toEqual([stoppedAt(2, 3)]);
    expect((parse(csv.stdout, { columns: true, bom: true }) as Record<string, string>[]).map((row) => row.seq)).toEqual(['1', '2']);

    const json = await cli(['export', '--format', 'json', '--db', db]);
    expect(json.code).toBe(1);
    expect(stderrLines(json)).toEqual([stoppedAt(2, 3)]);
    // The array is left open: no reader takes the records written for the whole ledger.
    expect(() => JSON.parse(json.stdout)).toThrow(SyntaxError);
  });

  it('notices a page that comes back empty after full ones', async () => {
    await importRows(optOuts(1500));
    loseRecordsAfter(1000);
    const run = await cli(['export', '--format', 'json', '--db', db]);
    expect(run.code).toBe(1);
    expect(stderrLines(run)).toEqual([stoppedAt(1000, 1500)]);
  });

  it('notices a read that stops short while the records are still there, as a damaged b-tree gives', async () => {
    await importRows(optOuts(1500));
    const store = createSqliteStore({ path: db, readOnly: true });
    try {
      // Every record past seq 1,200 is missing from what the store reads, and nothing says so.
      const shortReads: Store = new Proxy(store, {
        get(target, property, receiver) {
          if (property !== 'read') return Reflect.get(target, property, receiver);
          return <T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> =>
            target.read((tx) =>
              fn(
                new Proxy(tx, {
                  get(inner, name, innerReceiver) {
                    if (name !== 'listConsentRecords') return Reflect.get(inner, name, innerReceiver);
                    return async (...args: Parameters<StoreTx['listConsentRecords']>) => (await inner.listConsentRecords(...args)).filter((record) => record.seq <= 1200);
                  },
                }),
              ),
            );
        },
      });
      const engine = createEngine({ store: shortReads });
      let out = '';
      const stdout = new PassThrough();
      stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      const io: CliIo = { stdin: new PassThrough(), stdout, stderr: new PassThrough().resume(), env: {} };
      const workspaces = await engine.listWorkspaces();
      await expect(exportCommand(engine, workspaces, { format: 'csv', bom: false }, io)).rejects.toThrow(
        `export stopped at record 1200 of 1500 in workspace "Default workspace" (${workspaceId()}): the database is damaged; run consentry verify`,
      );
      expect(out.trim().split('\n')).toHaveLength(1201);
    } finally {
      await store.close();
    }
  });

  it('exports an intact ledger with exit code 0', async () => {
    await importRows(optOuts(1000));
    const run = await cli(['export', '--format', 'json', '--db', db]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toHaveLength(1000);
  });
});

describe('history of a contact whose records end before the one its consent rests on', () => {
  it('prints the records it read, then fails with one line and exit code 1', async () => {
    await importRows(['ana@example.com,marketing,email,opted_out', 'bob@example.com,marketing,email,opted_out', 'ana@example.com,marketing,sms,opted_out']);
    loseRecordsAfter(2);
    const run = await cli(['history', 'ana@example.com', '--db', db]);
    expect(run.code).toBe(1);
    expect(run.stdout.trim().split('\n').map((line) => z.object({ seq: z.number() }).parse(JSON.parse(line)).seq)).toEqual([1]);
    expect(stderrLines(run)).toEqual([
      "error: history stopped at record 1, before record 3 that the contact's current consent rests on: the database is damaged; run consentry verify",
    ]);
    // Another contact's history is whole.
    expect((await cli(['history', 'bob@example.com', '--db', db])).code).toBe(0);
  });
});

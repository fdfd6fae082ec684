import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { parse } from 'csv-parse';
import { SingleBar, Presets } from 'cli-progress';
import type { BulkRowResult } from '../engine/consents.js';
import type { WorkspaceEngine } from '../engine.js';
import type { CliIo } from './io.js';
import { CliFailure, writeLine } from './io.js';

/** CSV column → bulk row field. */
const COLUMNS: Record<string, string> = {
  email: 'email',
  phone: 'phone',
  contact_id: 'contactId',
  contactid: 'contactId',
  purpose: 'purpose',
  channel: 'channel',
  status: 'status',
  legal_basis: 'legalBasis',
  explanation: 'explanation',
  occurred_at: 'occurredAt',
  idempotency_key: 'idempotencyKey',
};
const FIELD_TO_COLUMN = Object.fromEntries(Object.entries(COLUMNS).map(([column, field]) => [field, column]));

const CHUNK = 500;

export interface ImportSummary {
  rows: number;
  imported: number;
  failed: { line: number; field: string; message: string }[];
}

interface CsvRow {
  line: number;
  values: Record<string, string>;
}

/** Reads rows with the line each starts on (quoted fields may span lines). */
async function readCsv(path: string): Promise<CsvRow[]> {
  const parser = createReadStream(path).pipe(
    parse({ columns: (header: string[]) => header.map((h) => h.trim().toLowerCase()), skip_empty_lines: true, trim: true, info: true, bom: true }),
  );
  const rows: CsvRow[] = [];
  for await (const record of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
    rows.push({ line: record.info.lines, values: record.record });
  }
  return rows;
}

function toBulkRow(values: Record<string, string>): Record<string, string> {
  const row: Record<string, string> = {};
  for (const [column, value] of Object.entries(values)) {
    const field = COLUMNS[column];
    if (field && value !== '') row[field] = value;
  }
  return row;
}

export async function importCsv(workspace: WorkspaceEngine, path: string, io: CliIo, actorId: string): Promise<ImportSummary> {
  await access(path).catch(() => {
    throw new CliFailure(`Cannot read ${path}`);
  });
  let rows: CsvRow[];
  try {
    rows = await readCsv(path);
  } catch (error) {
    throw new CliFailure(`${path} is not valid CSV: ${error instanceof Error ? error.message : String(error)}`);
  }
  const first = rows[0];
  if (first) {
    const unknown = Object.keys(first.values).filter((c) => !(c in COLUMNS));
    if (unknown.length > 0) throw new CliFailure(`Unknown column(s) ${unknown.join(', ')}; expected ${Object.keys(COLUMNS).join(', ')}`);
  }
  const bar = io.stderr.isTTY ? new SingleBar({ stream: io.stderr, format: 'importing [{bar}] {value}/{total} rows' }, Presets.shades_classic) : null;
  bar?.start(rows.length, 0);
  const summary: ImportSummary = { rows: rows.length, imported: 0, failed: [] };
  for (let offset = 0; offset < rows.length; offset += CHUNK) {
    const chunk = rows.slice(offset, offset + CHUNK);
    const results: BulkRowResult[] = await workspace.bulkSetConsent(
      chunk.map((r) => toBulkRow(r.values)),
      { source: 'bulk', actor: { kind: 'user', id: actorId } },
    );
    for (const result of results) {
      const line = chunk[result.row]?.line ?? 0;
      if (result.ok) summary.imported++;
      else {
        const issues = result.error.issues.length > 0 ? result.error.issues : [{ path: '', message: result.error.message }];
        for (const issue of issues) {
          const field = issue.path.split('.')[0] ?? '';
          summary.failed.push({ line, field: FIELD_TO_COLUMN[field] ?? field, message: issue.message });
        }
      }
    }
    bar?.update(Math.min(offset + CHUNK, rows.length));
  }
  bar?.stop();
  return summary;
}

export function printImportSummary(summary: ImportSummary, io: CliIo): void {
  for (const failure of summary.failed) {
    writeLine(io.stderr, `line ${failure.line}: ${failure.field ? `${failure.field}: ` : ''}${failure.message}`);
  }
  const failedLines = new Set(summary.failed.map((f) => f.line)).size;
  writeLine(io.stdout, `Imported ${summary.imported} of ${summary.rows} rows; ${failedLines} row(s) rejected and left unchanged.`);
}

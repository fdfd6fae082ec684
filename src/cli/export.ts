import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { stringify } from 'csv-stringify/sync';
import type { ConsentRecord } from '../core/consent.js';
import type { Workspace } from '../core/settings.js';
import type { Engine } from '../engine.js';
import type { CliIo } from './io.js';
import { CliFailure } from './io.js';

const HEADER = [
  'workspace_id', 'seq', 'record_id', 'contact_id', 'email', 'phone', 'purpose', 'channel', 'status', 'legal_basis', 'explanation',
  'source', 'actor', 'evidence', 'evidence_digest', 'idempotency_key', 'occurred_at', 'recorded_at', 'prev_hash', 'hash',
] as const;

export type ExportFormat = 'csv' | 'json';

/** `--format`, checked when the command line is read: a typo is named before the database is opened. */
export function parseExportFormat(value: string): ExportFormat {
  if (value !== 'csv' && value !== 'json') throw new CliFailure(`--format must be csv or json, not "${value}"`);
  return value;
}

/** Records read (and written out) per transaction: memory stays flat however long the ledger is. */
const EXPORT_PAGE = 1_000;

type ExportRow = Record<Exclude<(typeof HEADER)[number], 'evidence'>, string | number | null> & { evidence: ConsentRecord['evidence'] };

/** Writes `text`, waiting while the reader (a pipe, a file) has not taken what was written before. */
async function write(stream: Writable, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

/**
 * A text cell as a spreadsheet may open it: one that starts with =, +, -, @, a tab or a carriage
 * return would be run as a formula (CSV injection: https://owasp.org/www-community/attacks/CSV_Injection),
 * and an explanation, an idempotency key or an e-mail address can come from anyone. Such a cell
 * gets a leading apostrophe, which spreadsheets show as text; a number (an E.164 phone) is safe.
 */
export function spreadsheetSafe(value: string): string {
  return /^[=+\-@\t\r]/.test(value) && !/^[+-]?\d+(\.\d+)?$/.test(value) ? `'${value}` : value;
}

function csvCells(row: ExportRow): Record<string, string | number | null> {
  const cells: Record<string, string | number | null> = {};
  for (const column of HEADER) {
    const value = column === 'evidence' ? JSON.stringify(row.evidence) : row[column];
    cells[column] = typeof value === 'string' ? spreadsheetSafe(value) : value;
  }
  return cells;
}

/** A workspace's records in chain order, a page per transaction, each with its contact's e-mail and phone. */
async function* exportRows(engine: Engine, workspaceId: string): AsyncGenerator<ExportRow[]> {
  let afterSeq = 0;
  for (;;) {
    const page = await engine.store.transaction(async (tx) => {
      const records = await tx.listConsentRecords(workspaceId, { afterSeq, limit: EXPORT_PAGE });
      const contacts = new Map<string, { email: string | null; phone: string | null }>();
      for (const record of records) {
        if (contacts.has(record.contactId)) continue;
        const contact = await tx.getContact(workspaceId, record.contactId);
        contacts.set(record.contactId, { email: contact?.email ?? null, phone: contact?.phone ?? null });
      }
      return records.map((r): ExportRow => ({
        workspace_id: r.workspaceId,
        seq: r.seq,
        record_id: r.id,
        contact_id: r.contactId,
        email: contacts.get(r.contactId)?.email ?? null,
        phone: contacts.get(r.contactId)?.phone ?? null,
        purpose: r.purpose,
        channel: r.channel,
        status: r.status,
        legal_basis: r.legalBasis,
        explanation: r.explanation,
        source: r.source,
        actor: `${r.actor.kind}:${r.actor.id}`,
        evidence: r.evidence,
        evidence_digest: r.evidenceDigest,
        idempotency_key: r.idempotencyKey,
        occurred_at: r.occurredAt,
        recorded_at: r.recordedAt,
        prev_hash: r.prevHash,
        hash: r.hash,
      }));
    });
    const last = page.at(-1);
    if (last === undefined) return;
    yield page;
    afterSeq = Number(last.seq);
    if (page.length < EXPORT_PAGE) return;
  }
}

/**
 * Writes the ledgers of the given workspaces (every decision, in chain order) as CSV or JSON,
 * with everything a record's hash covers (evidence included, as JSON in the CSV), so an export
 * can be checked again away from the database. Read and written a page at a time.
 */
export async function exportCommand(engine: Engine, workspaces: readonly Workspace[], format: ExportFormat, io: CliIo): Promise<void> {
  let written = 0;
  if (format === 'csv') await write(io.stdout, stringify([], { header: true, columns: [...HEADER] }));
  for (const { id } of workspaces) {
    for await (const page of exportRows(engine, id)) {
      if (format === 'csv') {
        await write(io.stdout, stringify(page.map(csvCells), { columns: [...HEADER] }));
      } else {
        // The same text JSON.stringify(allRows, null, 2) would give, an element at a time.
        const elements = page.map((row, index) => `${written + index === 0 ? '[\n' : ',\n'}${JSON.stringify(row, null, 2).replace(/^/gm, '  ')}`);
        await write(io.stdout, elements.join(''));
      }
      written += page.length;
    }
  }
  if (format === 'json') await write(io.stdout, written === 0 ? '[]\n' : '\n]\n');
}

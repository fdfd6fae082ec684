import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { stringify } from 'csv-stringify/sync';
import type { ConsentRecord } from '../core/consent.js';
import type { Workspace } from '../core/settings.js';
import type { Engine } from '../engine.js';
import type { CliIo } from './io.js';
import { CliFailure, CliRefusal, workspaceLabel, writeLine } from './io.js';
import { readLedgerPage, seqOfEntry, type UnreadableRecord } from '../engine/ledger-pages.js';
import { resolvedDatabasePath } from './database.js';
import { ledgerEnd, noRecordsLine, UnreadableTally } from './ledger-pages.js';

const HEADER = [
  'workspace_id', 'seq', 'record_id', 'contact_id', 'email', 'phone', 'purpose', 'channel', 'status', 'legal_basis', 'explanation',
  'source', 'actor', 'evidence', 'evidence_digest', 'idempotency_key', 'occurred_at', 'recorded_at', 'prev_hash', 'hash',
] as const;

export type ExportFormat = 'csv' | 'json';

/** `--format`, checked when the command line is read: a typo is named before the database is opened. */
export function parseExportFormat(value: string): ExportFormat {
  if (value !== 'csv' && value !== 'json') throw new CliRefusal(`--format must be csv or json, not "${value}"`);
  return value;
}

/** Records read (and written out) per transaction: memory stays flat however long the ledger is. */
const EXPORT_PAGE = 1_000;

type ExportRow = Record<Exclude<(typeof HEADER)[number], 'evidence'>, string | number | null> & { evidence: ConsentRecord['evidence'] | null };

/**
 * The UTF-8 byte order mark: Excel reads a CSV file as UTF-8 only when it starts with one, and
 * otherwise in the machine's legacy code page, garbling every accented letter. `import` skips it.
 */
const UTF8_BOM = '\uFEFF';

export interface ExportOptions {
  format: ExportFormat;
  /** Start a CSV export with a UTF-8 byte order mark (`--no-bom` leaves it out); JSON never has one. */
  bom: boolean;
  /** The database read (`--db`, DATABASE_PATH), named on stderr when the export finds no record. */
  database?: string;
}

export interface ExportSummary {
  /** Rows written, the unreadable ones included. */
  rows: number;
  /** Records that could not be read back, each written as a row with status "unreadable". */
  unreadable: number;
}

/** Writes `text`, waiting while the reader (a pipe, a file) has not taken what was written before. */
async function write(stream: Writable, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

/**
 * A text cell as a spreadsheet may open it: one that starts with =, +, -, @ (or their full-width
 * forms, which some spreadsheets read alike), also after white space, or with a tab, a carriage
 * return or a line feed, may be run as a formula (CSV injection:
 * https://owasp.org/www-community/attacks/CSV_Injection), and an explanation, an idempotency key
 * or an e-mail address can come from anyone. Such a cell gets a leading apostrophe, which
 * spreadsheets show as text; a number (an E.164 phone) is safe. A cell that starts with an
 * apostrophe of its own gets one too, so that whoever re-hashes the export can drop the first
 * apostrophe of every cell that has one, without guessing which were added.
 */
export function spreadsheetSafe(value: string): string {
  const formulaLike = /^\s*[=+\-@\uFF1D\uFF0B\uFF0D\uFF20]|^[\t\r\n']/.test(value);
  return formulaLike && !/^[+-]?\d+(\.\d+)?$/.test(value) ? `'${value}` : value;
}

function csvCells(row: ExportRow): Record<string, string | number | null> {
  const cells: Record<string, string | number | null> = {};
  for (const column of HEADER) {
    const value = column === 'evidence' ? (row.evidence === null ? null : JSON.stringify(row.evidence)) : row[column];
    cells[column] = typeof value === 'string' ? spreadsheetSafe(value) : value;
  }
  return cells;
}

function recordRow(r: ConsentRecord, contact: { email: string | null; phone: string | null } | undefined): ExportRow {
  return {
    workspace_id: r.workspaceId,
    seq: r.seq,
    record_id: r.id,
    contact_id: r.contactId,
    email: contact?.email ?? null,
    phone: contact?.phone ?? null,
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
  };
}

/**
 * A record that cannot be read back, where it stands: its workspace, seq and id, status
 * "unreadable" (no decision has that status, so no reader takes it for one) and the reason in
 * explanation; every other value is empty (null in JSON), in both formats alike.
 */
function unreadableRow(u: UnreadableRecord): ExportRow {
  return {
    workspace_id: u.workspaceId,
    seq: u.seq,
    record_id: u.id,
    contact_id: null,
    email: null,
    phone: null,
    purpose: null,
    channel: null,
    status: 'unreadable',
    legal_basis: null,
    explanation: u.reason,
    source: null,
    actor: null,
    evidence: null,
    evidence_digest: null,
    idempotency_key: null,
    occurred_at: null,
    recorded_at: null,
    prev_hash: null,
    hash: null,
  };
}

interface ExportPage {
  rows: ExportRow[];
  unreadable: UnreadableRecord[];
}

/**
 * A workspace's records in chain order, a page per transaction, each with its contact's e-mail
 * and phone; a record that cannot be read back is a row of its own (unreadableRow). The last
 * page (the first one short of EXPORT_PAGE) is checked against the end of the chain as the same
 * transaction sees it (ledgerEnd): records appended meanwhile are read on, and a chain that
 * comes back shorter than it is fails the export, before anything more is written.
 */
async function* exportPages(engine: Engine, workspace: Workspace): AsyncGenerator<ExportPage> {
  const workspaceId = workspace.id;
  let afterSeq = 0;
  for (;;) {
    const { entries, end } = await engine.store.read(async (tx) => {
      const read = await readLedgerPage(tx, workspaceId, { afterSeq, limit: EXPORT_PAGE });
      const contacts = new Map<string, { email: string | null; phone: string | null }>();
      for (const { record } of read) {
        if (!record || contacts.has(record.contactId)) continue;
        const contact = await tx.getContact(workspaceId, record.contactId);
        contacts.set(record.contactId, { email: contact?.email ?? null, phone: contact?.phone ?? null });
      }
      return {
        entries: read.map((entry) => ({ entry, row: entry.record ? recordRow(entry.record, contacts.get(entry.record.contactId)) : unreadableRow(entry.unreadable) })),
        end: read.length < EXPORT_PAGE ? await ledgerEnd(tx, workspaceId) : null,
      };
    });
    const last = entries.at(-1);
    if (last !== undefined) {
      yield { rows: entries.map(({ row }) => row), unreadable: entries.flatMap(({ entry }) => (entry.unreadable ? [entry.unreadable] : [])) };
      afterSeq = seqOfEntry(last.entry);
    }
    if (entries.length < EXPORT_PAGE) {
      if (end !== null && afterSeq < end) {
        throw new CliFailure(`export stopped at record ${afterSeq} of ${end} in workspace ${workspaceLabel(workspace)}: the database is damaged; run consentry verify`);
      }
      return;
    }
  }
}

/**
 * Writes the ledgers of the given workspaces (every decision, in chain order) as CSV or JSON,
 * with everything a record's hash covers (evidence included, as JSON in the CSV), so an export
 * can be checked again away from the database. Read and written a page at a time. Records that
 * cannot be read back are written as rows with status "unreadable" and named in one warning
 * line on stderr; the caller makes that exit code 1. A chain that ends before its stored head
 * stops the export with a CliFailure (exit code 1), a JSON array left open: a parser refuses
 * it, rather than taking a truncated ledger for the whole.
 */
export async function exportCommand(engine: Engine, workspaces: readonly Workspace[], options: ExportOptions, io: CliIo): Promise<ExportSummary> {
  const { format } = options;
  let written = 0;
  const unreadable = new UnreadableTally();
  if (format === 'csv') await write(io.stdout, `${options.bom ? UTF8_BOM : ''}${stringify([], { header: true, columns: [...HEADER] })}`);
  try {
    for (const workspace of workspaces) {
      for await (const page of exportPages(engine, workspace)) {
        if (format === 'csv') {
          await write(io.stdout, stringify(page.rows.map(csvCells), { columns: [...HEADER] }));
        } else {
          // The same text JSON.stringify(allRows, null, 2) would give, an element at a time.
          const elements = page.rows.map((row, index) => `${written + index === 0 ? '[\n' : ',\n'}${JSON.stringify(row, null, 2).replace(/^/gm, '  ')}`);
          await write(io.stdout, elements.join(''));
        }
        written += page.rows.length;
        for (const record of page.unreadable) unreadable.add(record);
      }
    }
  } finally {
    // Also before a failure's line: the records written so far are what it counts.
    const warning = unreadable.warning('exported as a row');
    if (warning !== null) writeLine(io.stderr, warning);
  }
  if (format === 'json') await write(io.stdout, written === 0 ? '[]\n' : '\n]\n');
  // An empty export is a valid one (a header, or `[]`); stderr says where nothing was found.
  if (written === 0) writeLine(io.stderr, noRecordsLine(workspaces, options.database === undefined ? null : resolvedDatabasePath(options.database)));
  return { rows: written, unreadable: unreadable.count };
}

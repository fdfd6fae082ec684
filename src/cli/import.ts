import { readFile } from 'node:fs/promises';
import { CsvError, parse } from 'csv-parse/sync';
import { Presets, SingleBar } from 'cli-progress';
import { ActorSchema, type Actor } from '../core/consent.js';
import type { FieldIssue } from '../core/errors.js';
import { bulkRowIssues } from '../engine/consents.js';
import type { WorkspaceEngine } from '../engine.js';
import type { CliIo } from './io.js';
import { CliFailure, nonBlankOption, writeLine } from './io.js';

const FIELDS = ['contactId', 'email', 'phone', 'purpose', 'channel', 'status', 'legalBasis', 'explanation', 'occurredAt', 'idempotencyKey'] as const;
type Field = (typeof FIELDS)[number];
const FIELD_SET: ReadonlySet<string> = new Set(FIELDS);

/** How the documentation spells each column. */
const COLUMN_OF: Readonly<Record<Field, string>> = {
  contactId: 'contact_id',
  email: 'email',
  phone: 'phone',
  purpose: 'purpose',
  channel: 'channel',
  status: 'status',
  legalBasis: 'legal_basis',
  explanation: 'explanation',
  occurredAt: 'occurred_at',
  idempotencyKey: 'idempotency_key',
};

/** Column name (trimmed, lower-cased) → bulk row field. */
const FIELD_OF: ReadonlyMap<string, Field> = new Map<string, Field>([...FIELDS.map((field) => [COLUMN_OF[field], field] as const), ['contactid', 'contactId']]);

/** In the order bulkSetConsent looks a contact up: the id wins, then the e-mail, then the phone. */
const IDENTITY_FIELDS: readonly Field[] = ['contactId', 'email', 'phone'];
const REQUIRED_FIELDS: readonly Field[] = ['purpose', 'channel', 'status'];

/** The engine's field names as they appear in its messages ("needs a legalBasis"). */
const FIELD_NAME_IN_TEXT = /\b(contactId|legalBasis|occurredAt|idempotencyKey)\b/g;

const HEADER_HINT =
  'the first line must name the columns: email, phone or contact_id (at least one), purpose, channel, status, and optionally legal_basis, explanation, occurred_at, idempotency_key';

/** Rows per bulkSetConsent call: one transaction each. */
const CHUNK = 500;

export interface RowFailure {
  /** The line of the file the row starts on. */
  line: number;
  /** The column(s) as the file spells them; empty when the message names them or the row as a whole is wrong. */
  field: string;
  message: string;
}

export interface ImportSummary {
  /** Data rows in the file. */
  rows: number;
  /** Rows that recorded a new consent decision. */
  recorded: number;
  /** Rows whose idempotency key had already recorded the same change: nothing new was written for them. */
  alreadyRecorded: number;
  /** One entry per bad field; a row with any entry changed nothing. */
  failed: RowFailure[];
}

type BulkRowValues = Partial<Record<Field, string>>;

interface CsvRecord {
  line: number;
  values: string[];
}

interface Header {
  line: number;
  /** The field of each column, by position. */
  fields: (Field | null)[];
  /** How many columns the header has. */
  width: number;
  /** Each field's column as the file spells it. */
  spelled: ReadonlyMap<Field, string>;
}

function isField(name: string): name is Field {
  return FIELD_SET.has(name);
}

const CR = 0x0d;
const LF = 0x0a;
const isBlank = (byte: number | undefined): boolean => byte === CR || byte === LF || byte === 0x20 || byte === 0x09;

/**
 * Line numbers of the file's bytes as an editor shows them: CRLF (RFC 4180 §2), LF and a lone CR
 * each end one line. csv-parse's `info.lines` is the line a record ends on, and it counts the CR and the LF of
 * a CRLF inside a quoted value as two lines; its `info.bytes` (the offset just past a record) is
 * exact, so lines are counted up to those offsets instead.
 */
class LineCounter {
  private offset = 0;
  private line = 1;

  constructor(private readonly bytes: Uint8Array) {}

  /** The line of the first byte at or after `from` that is not blank: where the next record starts, since csv-parse skips blank lines and trims. */
  lineOfRecordAfter(from: number): number {
    while (this.offset < from && this.offset < this.bytes.length) this.step();
    while (this.offset < this.bytes.length && isBlank(this.bytes[this.offset])) this.step();
    return this.line;
  }

  private step(): void {
    const byte = this.bytes[this.offset];
    this.offset++;
    if (byte === LF || (byte === CR && this.bytes[this.offset] !== LF)) this.line++;
  }
}

/** What csv-parse says about a file it cannot read, without its own line count (see LineCounter). */
const CSV_ERRORS: Partial<Record<string, string>> = {
  CSV_QUOTE_NOT_CLOSED: 'a quoted value is not closed',
  CSV_INVALID_CLOSING_QUOTE: 'a closing quote is followed by more text (write a quote inside a quoted value as "")',
  CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE: 'a closing quote is followed by more text (write a quote inside a quoted value as "")',
  INVALID_OPENING_QUOTE: 'a quote appears inside an unquoted value (quote the whole value and write the quote as "")',
  CSV_MAX_RECORD_SIZE: 'the record is too large',
};

/** Every record of the file with the line it starts on (a quoted value may span lines). */
function readRecords(path: string, bytes: Buffer): CsvRecord[] {
  const lines = new LineCounter(bytes);
  const records: CsvRecord[] = [];
  let end = 0;
  try {
    parse(bytes, {
      bom: true,
      trim: true,
      skip_empty_lines: true,
      // A row with the wrong number of values is reported on its own, like any other bad row.
      relax_column_count: true,
      on_record: (values: string[], context) => {
        records.push({ line: lines.lineOfRecordAfter(end), values });
        end = context.bytes;
        return null;
      },
    });
  } catch (error) {
    if (!(error instanceof CsvError)) throw error;
    const reason = CSV_ERRORS[error.code] ?? error.message;
    throw new CliFailure(`${path} is not valid CSV: the record on line ${lines.lineOfRecordAfter(end)}: ${reason}`);
  }
  return records;
}

function readHeader(path: string, record: CsvRecord): Header {
  const problems: string[] = [];
  const unknown: string[] = [];
  const fields: (Field | null)[] = record.values.map(() => null);
  const firstColumn = new Map<Field, number>();
  const spelled = new Map<Field, string>();
  record.values.forEach((name, index) => {
    if (name === '') {
      problems.push(`column ${index + 1} has no name`);
      return;
    }
    const field = FIELD_OF.get(name.toLowerCase());
    if (field === undefined) {
      unknown.push(JSON.stringify(name));
      return;
    }
    const earlier = firstColumn.get(field);
    if (earlier !== undefined) {
      const earlierName = record.values[earlier] ?? '';
      problems.push(
        earlierName.toLowerCase() === name.toLowerCase()
          ? `column "${name}" appears twice (columns ${earlier + 1} and ${index + 1})`
          : `"${earlierName}" (column ${earlier + 1}) and "${name}" (column ${index + 1}) are the same column`,
      );
      return;
    }
    firstColumn.set(field, index);
    spelled.set(field, name);
    fields[index] = field;
  });
  if (unknown.length > 0) problems.unshift(`unknown column(s) ${unknown.join(', ')}`);
  if (!IDENTITY_FIELDS.some((field) => firstColumn.has(field))) problems.push('no email, phone or contact_id column');
  const missing = REQUIRED_FIELDS.filter((field) => !firstColumn.has(field)).map((field) => COLUMN_OF[field]);
  if (missing.length > 0) problems.push(`missing column(s): ${missing.join(', ')}`);
  if (problems.length > 0) throw new CliFailure(`${path}: the header on line ${record.line} is not valid: ${problems.join('; ')} (${HEADER_HINT})`);
  return { line: record.line, fields, width: record.values.length, spelled };
}

/** The row as bulkSetConsent takes it: an empty cell is an absent value. */
function toBulkRow(header: Header, values: readonly string[]): BulkRowValues {
  const row: BulkRowValues = {};
  values.forEach((value, index) => {
    const field = header.fields[index];
    if (field && value !== '') row[field] = value;
  });
  return row;
}

/** Speaks of the file's columns, as the file spells them, rather than of the engine's fields. */
class ColumnNames {
  constructor(private readonly header: Header) {}

  of(field: Field): string {
    return this.header.spelled.get(field) ?? COLUMN_OF[field];
  }

  /** The column(s) an issue is about, and where they stand in the file (to list a row's issues in column order). */
  forIssue(path: string, row: BulkRowValues): { label: string; position: number } {
    const name = path.split('.')[0] ?? '';
    if (!isField(name)) return { label: name, position: Number.POSITIVE_INFINITY };
    // Without a contact id, bulkSetConsent speaks of `contactId` for the contact the row's e-mail or
    // phone names (or fails to name): those are the columns to point at.
    const fields = name === 'contactId' && row.contactId === undefined ? this.identityColumns(row) : [name];
    return { label: fields.map((field) => this.of(field)).join(', '), position: Math.min(...fields.map((field) => this.position(field))) };
  }

  text(message: string): string {
    return message.replace(FIELD_NAME_IN_TEXT, (name) => (isField(name) ? this.of(name) : name));
  }

  private identityColumns(row: BulkRowValues): Field[] {
    const inFile = IDENTITY_FIELDS.filter((field) => this.header.spelled.has(field));
    const filled = inFile.filter((field) => row[field] !== undefined);
    return filled.length > 0 ? filled : inFile;
  }

  private position(field: Field): number {
    const index = this.header.fields.indexOf(field);
    return index < 0 ? Number.POSITIVE_INFINITY : index;
  }
}

function failuresOf(line: number, row: BulkRowValues, issues: readonly FieldIssue[], names: ColumnNames): RowFailure[] {
  const seen = new Set<string>();
  return issues
    .map((issue) => ({ ...names.forIssue(issue.path, row), message: names.text(issue.message) }))
    .filter((issue) => {
      const key = `${issue.label}\u0000${issue.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .sort((a, b) => a.position - b.position)
    .map((issue) => ({ line, field: issue.label, message: issue.message }));
}

const ACTOR_ID = ActorSchema.shape.id;

/**
 * `--actor`, checked once, when the command line is read: every record of the import carries it,
 * so a value the ledger refuses is one error about the option, before the file is read or the
 * database opened, never the same error on every row.
 */
export const parseActorOption = nonBlankOption('--actor', 'name who is importing (an id such as "cli")', ACTOR_ID.maxLength ?? Number.MAX_SAFE_INTEGER);

/** A CSV file read and its header checked, before any database is opened. */
export interface ImportFile {
  header: Header;
  records: CsvRecord[];
}

/** Reads the file and checks its header: a file that cannot be imported fails here, before the database is opened (or created). */
export async function readImportFile(path: string): Promise<ImportFile> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch {
    throw new CliFailure(`Cannot read ${path}`);
  }
  const [headerRecord, ...records] = readRecords(path, bytes);
  if (!headerRecord) throw new CliFailure(`${path} is empty: ${HEADER_HINT}`);
  const header = readHeader(path, headerRecord);
  if (records.length === 0) throw new CliFailure(`${path} has a header but no data rows`);
  return { header, records };
}

export async function importCsv(workspace: WorkspaceEngine, file: ImportFile, io: CliIo, actorId: string): Promise<ImportSummary> {
  const { header, records } = file;
  const actor: Actor = { kind: 'user', id: parseActorOption(actorId) };
  const names = new ColumnNames(header);
  const { settings } = await workspace.get();
  const summary: ImportSummary = { rows: records.length, recorded: 0, alreadyRecorded: 0, failed: [] };
  const bar = io.stderr.isTTY ? new SingleBar({ stream: io.stderr, format: 'importing [{bar}] {value}/{total} rows' }, Presets.shades_classic) : null;
  bar?.start(records.length, 0);
  try {
    for (let offset = 0; offset < records.length; offset += CHUNK) {
      const chunk = records.slice(offset, offset + CHUNK);
      const failures: RowFailure[][] = chunk.map(() => []);
      const accepted: { index: number; row: BulkRowValues }[] = [];
      for (const [index, record] of chunk.entries()) {
        if (record.values.length !== header.width) {
          failures[index] = [{ line: record.line, field: '', message: `has ${record.values.length} values, the header names ${header.width} columns` }];
          continue;
        }
        const row = toBulkRow(header, record.values);
        const rowFailures = failuresOf(record.line, row, bulkRowIssues(row, { actor, source: 'bulk' }, settings), names);
        failures[index] = rowFailures;
        if (rowFailures.length === 0) accepted.push({ index, row });
      }
      const results = accepted.length > 0 ? await workspace.bulkSetConsent(accepted.map((a) => a.row), { source: 'bulk', actor }) : [];
      for (const result of results) {
        const target = accepted[result.row];
        if (!target) continue;
        if (result.ok) {
          if (result.created) summary.recorded++;
          else summary.alreadyRecorded++;
          continue;
        }
        const issues = result.error.issues.length > 0 ? result.error.issues : [{ path: '', message: result.error.message }];
        failures[target.index] = failuresOf(chunk[target.index]?.line ?? 0, target.row, issues, names);
      }
      summary.failed.push(...failures.flat());
      bar?.update(Math.min(offset + CHUNK, records.length));
    }
  } finally {
    bar?.stop();
  }
  return summary;
}

export function printImportSummary(summary: ImportSummary, io: CliIo): void {
  for (const failure of summary.failed) {
    writeLine(io.stderr, `line ${failure.line}: ${failure.field ? `${failure.field}: ` : ''}${failure.message}`);
  }
  const rejected = new Set(summary.failed.map((f) => f.line)).size;
  const imported = summary.recorded + summary.alreadyRecorded;
  writeLine(
    io.stdout,
    `Imported ${imported} of ${summary.rows} rows: ${summary.recorded} recorded, ${summary.alreadyRecorded} already recorded (idempotency key); ${rejected} row(s) rejected and left unchanged.`,
  );
}

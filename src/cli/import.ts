import { readFile } from 'node:fs/promises';
import { CsvError, parse, type Options as CsvParseOptions } from 'csv-parse/sync';
import { Presets, SingleBar } from 'cli-progress';
import { ActorSchema, type Actor } from '../core/consent.js';
import type { FieldIssue } from '../core/errors.js';
import { WorkspaceSettingsSchema, type WorkspaceSettings } from '../core/settings.js';
import { bulkRowIssues } from '../engine/consents.js';
import { BulkRowSchema } from '../engine/inputs.js';
import type { WorkspaceEngine } from '../engine.js';
import { readPhone, withoutBidiMarks } from './identities.js';
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
const SPACE = 0x20;
const TAB = 0x09;

/**
 * Line numbers of the file's (UTF-8) bytes as an editor shows them: CRLF (RFC 4180 §2), LF and a lone CR
 * each end one line. csv-parse's `info.lines` is the line a record ends on, and it counts the CR and the LF of
 * a CRLF inside a quoted value as two lines; its `info.bytes` (the offset just past a record) is
 * exact, so lines are counted up to those offsets instead.
 */
class LineCounter {
  private offset = 0;
  private line = 1;
  private readonly blank: ReadonlySet<number | undefined>;

  /** `delimiter`: a tab that separates values is a value boundary, not blank space csv-parse trims. */
  constructor(
    private readonly bytes: Uint8Array,
    delimiter = ',',
  ) {
    this.blank = new Set(delimiter === '\t' ? [CR, LF, SPACE] : [CR, LF, SPACE, TAB]);
  }

  /** The line of the first byte at or after `from` that is not blank: where the next record starts, since csv-parse skips blank lines and trims. */
  lineOfRecordAfter(from: number): number {
    this.lineOf(from);
    while (this.offset < this.bytes.length && this.blank.has(this.bytes[this.offset])) this.step();
    return this.line;
  }

  /** The line the byte at `offset` is on. */
  lineOf(offset: number): number {
    while (this.offset < offset && this.offset < this.bytes.length) this.step();
    return this.line;
  }

  private step(): void {
    const byte = this.bytes[this.offset];
    this.offset++;
    if (byte === LF || (byte === CR && this.bytes[this.offset] !== LF)) this.line++;
  }
}

/** Excel's menu name for the format to save as. */
const SAVE_AS_UTF8 = 'save it as "CSV UTF-8 (Comma delimited)"';

const UTF8_BOM = [0xef, 0xbb, 0xbf];
/** Byte order marks of the UTF-16 files Excel writes as "Unicode Text" (little-endian) and other tools write big-endian. */
const UTF16_BOMS: readonly { bom: readonly number[]; encoding: string }[] = [
  { bom: [0xff, 0xfe], encoding: 'utf-16le' },
  { bom: [0xfe, 0xff], encoding: 'utf-16be' },
];

const startsWith = (bytes: Uint8Array, prefix: readonly number[]): boolean => prefix.every((byte, index) => bytes[index] === byte);

/**
 * The offset of the first byte that does not start a well-formed UTF-8 sequence. The WHATWG
 * decoder writes U+FFFD in place of each ill-formed sequence (https://encoding.spec.whatwg.org/#utf-8-decoder),
 * so the first U+FFFD the file does not spell as EF BF BD is where the fatal decoder stopped.
 */
function firstInvalidUtf8Offset(bytes: Uint8Array): number | undefined {
  const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
  let offset = 0;
  let decodedUpTo = 0;
  for (let at = text.indexOf('\uFFFD'); at >= 0; at = text.indexOf('\uFFFD', at + 1)) {
    offset += Buffer.byteLength(text.slice(decodedUpTo, at));
    if (!startsWith(bytes.subarray(offset), [0xef, 0xbf, 0xbd])) return offset;
    offset += 3;
    decodedUpTo = at + 1;
  }
  return undefined;
}

/**
 * The file's text as UTF-8 bytes without a byte order mark. Anything that is not valid UTF-8
 * (Excel's "CSV (Comma delimited)" is Windows-1252) is refused before a record is read, because
 * records are never edited (append-only ledger): a mis-decoded name or explanation would stay in it for good.
 */
function utf8Text(path: string, bytes: Buffer): Buffer {
  for (const { bom, encoding } of UTF16_BOMS) {
    if (!startsWith(bytes, bom)) continue;
    try {
      return Buffer.from(new TextDecoder(encoding, { fatal: true }).decode(bytes), 'utf8');
    } catch {
      throw new CliFailure(`${path} is not valid ${encoding.toUpperCase()}; ${SAVE_AS_UTF8}`);
    }
  }
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const offset = firstInvalidUtf8Offset(bytes);
    const byte = offset === undefined ? undefined : bytes[offset];
    const where = offset === undefined || byte === undefined ? '' : `: byte 0x${byte.toString(16).toUpperCase().padStart(2, '0')} on line ${new LineCounter(bytes).lineOf(offset)}`;
    throw new CliFailure(`${path} is not UTF-8${where}; ${SAVE_AS_UTF8}`);
  }
  return startsWith(bytes, UTF8_BOM) ? bytes.subarray(UTF8_BOM.length) : bytes;
}

/**
 * Excel's separator hint: a first line `sep=;` names the file's delimiter, and Excel reads the
 * file with it and does not show the line. A quote cannot be a delimiter (RFC 4180 §2).
 */
const SEPARATOR_HINT = /^sep=([^"\r\n])(?:\r\n|\n|\r|$)/iu;

/** What Excel writes between values: a comma, a semicolon where the comma is the decimal mark (most of Europe), a tab for "Unicode Text". */
const DELIMITERS = [',', ';', '\t'] as const;

interface CsvLayout {
  delimiter: string;
  /** The first line csv-parse reads (1-based): 2 after a separator hint. */
  fromLine: number;
  /** Where the first record can start: past the separator hint. */
  start: number;
  /** The header's values, as read with `delimiter`; absent in a file with no record. */
  header?: string[];
}

/** What csv-parse says about a file it cannot read, without its own line count (see LineCounter). */
const CSV_ERRORS: Partial<Record<string, string>> = {
  CSV_QUOTE_NOT_CLOSED: 'a quoted value is not closed',
  CSV_INVALID_CLOSING_QUOTE: 'a closing quote is followed by more text (write a quote inside a quoted value as "")',
  CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE: 'a closing quote is followed by more text (write a quote inside a quoted value as "")',
  INVALID_OPENING_QUOTE: 'a quote appears inside an unquoted value (quote the whole value and write the quote as "")',
  CSV_MAX_RECORD_SIZE: 'the record is too large',
};

function parseOptions(layout: Pick<CsvLayout, 'delimiter' | 'fromLine'>): CsvParseOptions {
  return {
    delimiter: layout.delimiter,
    from_line: layout.fromLine,
    trim: true,
    skip_empty_lines: true,
    // A row with the wrong number of values is reported on its own, like any other bad row.
    relax_column_count: true,
  };
}

/** The first record read with `delimiter`, undefined when there is none or it is not valid CSV. */
function firstRecord(text: Buffer, delimiter: string, fromLine: number): string[] | undefined {
  try {
    const [record]: string[][] = parse(text, { ...parseOptions({ delimiter, fromLine }), to: 1 });
    return record;
  } catch (error) {
    if (error instanceof CsvError) return undefined;
    throw error;
  }
}

const knownColumns = (values: readonly string[]): number => values.filter((name) => FIELD_OF.has(name.toLowerCase())).length;

/**
 * The delimiter the separator hint names, else the one of DELIMITERS that splits the header into
 * the most known column names; with none known, the one that splits it into the most columns, so
 * a header in another language is reported column by column. Ties go to the comma (RFC 4180).
 */
function csvLayout(text: Buffer): CsvLayout {
  const hint = SEPARATOR_HINT.exec(text.subarray(0, 16).toString('utf8'));
  const hinted = hint?.[1];
  const fromLine = hinted === undefined ? 1 : 2;
  const start = hint === null ? 0 : Buffer.byteLength(hint[0]);
  let best: CsvLayout = { delimiter: hinted ?? ',', fromLine, start };
  let bestScore: readonly [number, number] = [-1, -1];
  for (const delimiter of hinted === undefined ? DELIMITERS : [hinted]) {
    const header = firstRecord(text, delimiter, fromLine);
    if (header === undefined) continue;
    const score = [knownColumns(header), header.length] as const;
    if (score[0] > bestScore[0] || (score[0] === bestScore[0] && score[1] > bestScore[1])) {
      best = { delimiter, fromLine, start, header };
      bestScore = score;
    }
  }
  return best;
}

/** Every record of the file with the line it starts on (a quoted value may span lines). */
function readRecords(path: string, text: Buffer, layout: CsvLayout): CsvRecord[] {
  const lines = new LineCounter(text, layout.delimiter);
  const records: CsvRecord[] = [];
  let end = layout.start;
  try {
    parse(text, {
      ...parseOptions(layout),
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

/**
 * The row as bulkSetConsent takes it: an empty cell is an absent value, and an identity loses the
 * invisible bidi marks a copy from a chat app or address book brings along (withoutBidiMarks).
 */
function toBulkRow(header: Header, values: readonly string[]): BulkRowValues {
  const row: BulkRowValues = {};
  values.forEach((cell, index) => {
    const field = header.fields[index];
    const value = field && IDENTITY_FIELDS.includes(field) ? withoutBidiMarks(cell) : cell;
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

const OCCURRED_AT = BulkRowSchema.shape.occurredAt;
const OCCURRED_AT_FORM = 'ISO 8601 with a time zone, e.g. 2026-03-01T10:00:00Z (UTC) or 2026-03-01T10:00:00+01:00';
/** A date and time without a zone, as a spreadsheet writes it (`2026-03-01 10:00:00`). */
const ZONELESS_DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?$/;

/**
 * What the file must say in `occurred_at`. A time with no zone is refused, not read in some zone:
 * the machine's zone is not the zone of whoever wrote the file, and the recorded instant is
 * evidence (GDPR Art. 7(1)) that can never be corrected.
 */
function occurredAtMessage(value: string): string {
  return ZONELESS_DATE_TIME.test(value)
    ? `${JSON.stringify(value)} has no time zone: write it in ${OCCURRED_AT_FORM}`
    : `${JSON.stringify(value)} is not a date and time in ${OCCURRED_AT_FORM}`;
}

/** What the engine advises for a national number without a default country; an import names its country with `--country` instead. */
const SET_DEFAULT_COUNTRY = /or set the workspace default country$/;
const USE_COUNTRY_OPTION = 'or name its country with --country (e.g. --country ES)';

/**
 * The engine's checks of a row, with a message for a badly written occurred_at that says what is
 * expected, and one for a national phone number that points at `--country`.
 */
function rowIssues(row: BulkRowValues, by: { actor: Actor; source: 'bulk' }, settings: Parameters<typeof bulkRowIssues>[2]): FieldIssue[] {
  const occurredAt = row.occurredAt;
  const badOccurredAt = occurredAt !== undefined && !OCCURRED_AT.safeParse(occurredAt).success;
  return bulkRowIssues(row, by, settings).map((issue) => {
    const field = issue.path.split('.')[0];
    if (field === 'occurredAt' && badOccurredAt) return { ...issue, message: occurredAtMessage(occurredAt) };
    if (field === 'phone') return { ...issue, message: issue.message.replace(SET_DEFAULT_COUNTRY, USE_COUNTRY_OPTION) };
    return issue;
  });
}

const ACTOR_ID = ActorSchema.shape.id;

/**
 * `--actor`, checked once, when the command line is read: every record of the import carries it,
 * so a value the ledger refuses is one error about the option, before the file is read or the
 * database opened, never the same error on every row.
 */
export const parseActorOption = nonBlankOption('--actor', 'name who is importing (an id such as "cli")', ACTOR_ID.maxLength ?? Number.MAX_SAFE_INTEGER);

/** The workspace setting's own rule: an ISO 3166-1 alpha-2 code of a country with a telephone numbering plan. */
const COUNTRY = WorkspaceSettingsSchema.shape.defaultCountry;
type Country = NonNullable<WorkspaceSettings['defaultCountry']>;

/**
 * `--country`, checked when the command line is read: the country whose national phone numbers
 * (written without "+") the file holds, for this import only, in place of the workspace's default
 * country. Letter case does not matter ("es" is ES).
 */
export function parseCountryOption(value: string): Country {
  const code = value.trim().toUpperCase();
  const parsed = COUNTRY.safeParse(code);
  if (!parsed.success || parsed.data === null) {
    throw new CliFailure(`--country must be the ISO 3166-1 alpha-2 code of a country with a telephone numbering plan, such as ES, not "${value}"`);
  }
  return parsed.data;
}

/** A CSV file read and its header checked, before any database is opened. */
export interface ImportFile {
  header: Header;
  records: CsvRecord[];
}

/** Why a file could not be read, in plain words; the system's own message for the rarer reasons. */
const UNREADABLE: Partial<Record<string, string>> = {
  ENOENT: 'no such file',
  ENOTDIR: 'no such file (a part of the path is not a directory)',
  EISDIR: 'it is a directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
};

function isErrnoException(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && 'code' in error;
}

function unreadableReason(error: unknown): string {
  if (!isErrnoException(error)) return String(error);
  return (error.code === undefined ? undefined : UNREADABLE[error.code]) ?? error.message;
}

/** Reads the file and checks its header: a file that cannot be imported fails here, before the database is opened (or created). */
export async function readImportFile(path: string): Promise<ImportFile> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new CliFailure(`Cannot read ${path}: ${unreadableReason(error)}`);
  }
  const text = utf8Text(path, bytes);
  const layout = csvLayout(text);
  if (layout.header === undefined) {
    // No first record: the file has none, or it is not valid CSV, which readRecords reports by line.
    readRecords(path, text, layout);
    throw new CliFailure(`${path} is empty: ${HEADER_HINT}`);
  }
  // The header is checked before the rest is read: with the wrong delimiter the header is one
  // unknown column, and that, not a quote further down, is what to report.
  const header = readHeader(path, { line: new LineCounter(text, layout.delimiter).lineOfRecordAfter(layout.start), values: layout.header });
  const [, ...records] = readRecords(path, text, layout);
  if (records.length === 0) throw new CliFailure(`${path} has a header but no data rows`);
  return { header, records };
}

/**
 * Records the file's rows in the workspace. `country` (from `--country`) reads the national phone
 * numbers of this import in place of the workspace's default country: each phone is checked with
 * it and handed to the engine in E.164, which no default country changes.
 */
export async function importCsv(workspace: WorkspaceEngine, file: ImportFile, io: CliIo, actorId: string, country: string | null = null): Promise<ImportSummary> {
  const { header, records } = file;
  const actor: Actor = { kind: 'user', id: parseActorOption(actorId) };
  const names = new ColumnNames(header);
  const stored = (await workspace.get()).settings;
  const settings = { ...stored, defaultCountry: country === null ? stored.defaultCountry : parseCountryOption(country) };
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
        const rowFailures = failuresOf(record.line, row, rowIssues(row, { actor, source: 'bulk' }, settings), names);
        failures[index] = rowFailures;
        // rowIssues read the phone with the same country, so readPhone accepts it.
        if (rowFailures.length === 0) accepted.push({ index, row: row.phone === undefined ? row : { ...row, phone: readPhone(row.phone, settings.defaultCountry) } });
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

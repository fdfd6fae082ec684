import { isUtf8 } from 'node:buffer';
import { createHash, type Hash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { CsvError, parse as csvParser, type Options as CsvParseOptions } from 'csv-parse';
import { parse as parseCsv } from 'csv-parse/sync';
import { CONSENT_STATUSES, LEGAL_BASES } from '../core/consent.js';
import { isUlid } from '../core/contact.js';
import { shownValue } from '../core/required.js';
import { cannotRead, CliRefusal } from './io.js';
import type { Progress } from './progress.js';
import { firstInvalidUtf8Offset } from './utf8.js';

const FIELDS = ['contactId', 'email', 'phone', 'purpose', 'channel', 'status', 'legalBasis', 'explanation', 'occurredAt', 'idempotencyKey'] as const;
export type Field = (typeof FIELDS)[number];
const FIELD_SET: ReadonlySet<string> = new Set(FIELDS);

/** How the documentation spells each column. */
export const COLUMN_OF: Readonly<Record<Field, string>> = {
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
export const IDENTITY_FIELDS: readonly Field[] = ['contactId', 'email', 'phone'];
const REQUIRED_FIELDS: readonly Field[] = ['purpose', 'channel', 'status'];

const HEADER_HINT =
  'the first line must name the columns: email, phone or contact_id (at least one), purpose, channel, status, and optionally legal_basis, explanation, occurred_at, idempotency_key';

/**
 * A column name with letter case, blank space, hyphens, dots and underscores left out, so that
 * `Contact ID`, `E-mail`, `legalBasis` and `Occurred At` fold to what a column of the documentation does.
 */
const folded = (name: string): string => name.toLowerCase().replace(/[\s._-]+/gu, '');

/**
 * Names spreadsheets and CRM exports commonly give these columns, folded. Only suggested, never
 * read as the column: `Record ID` (HubSpot's own id) and the like are left out, as they hold no
 * Consentry contact id.
 */
const COMMON_NAMES: readonly (readonly [string, Field])[] = [
  ['Email Address', 'email'],
  ['E-mail Address', 'email'],
  ['Mail', 'email'],
  ['Phone Number', 'phone'],
  ['Mobile', 'phone'],
  ['Mobile Phone', 'phone'],
  ['Mobile Number', 'phone'],
  ['Telephone', 'phone'],
  ['Lawful Basis', 'legalBasis'],
  ['Legal Basis For Processing', 'legalBasis'],
  ['Consent Status', 'status'],
  ['Occurred', 'occurredAt'],
  ['Timestamp', 'occurredAt'],
];

/** Folded column name → the column it is near. */
const NEAR_FIELD: ReadonlyMap<string, Field> = new Map([
  ...FIELDS.map((field) => [folded(COLUMN_OF[field]), field] as const),
  ...COMMON_NAMES.map(([name, field]) => [folded(name), field] as const),
]);

/** A value no column is named after, as rows hold them: a status or a legal basis in any letter case. */
const LISTED_VALUES: ReadonlySet<string> = new Set([...CONSENT_STATUSES, ...LEGAL_BASES].map((value) => value.toLowerCase()));

/** An e-mail address: something, one `@`, a domain with a dot. */
const EMAIL_LIKE = /^[^\s@"]+@[^\s@"]+\.[^\s@"]+$/u;
/** A phone number in E.164 (https://www.itu.int/rec/T-REC-E.164), the spaces, dashes, dots and brackets a spreadsheet may keep taken off. */
const E164_LIKE = /^\+[1-9]\d{6,14}$/u;

/** Whether a cell of the first line is a value a row would hold rather than a column name: the file likely has no header. */
function looksLikeData(cell: string): boolean {
  return EMAIL_LIKE.test(cell) || E164_LIKE.test(cell.replace(/[\s()./-]/gu, '')) || isUlid(cell) || LISTED_VALUES.has(cell.toLowerCase());
}

export function isField(name: string): name is Field {
  return FIELD_SET.has(name);
}

export interface CsvRecord {
  /** The line of the file the record starts on. */
  line: number;
  values: string[];
}

/**
 * A row whose every cell is empty or blank: what Excel writes (`;;;;;`, `,,,`) for a row whose
 * cells were cleared. It says nothing, so it is skipped and counted, as blank lines are, instead
 * of being reported as a row without a contact, purpose, channel or status.
 */
export function isEmptyRecord(record: CsvRecord): boolean {
  return record.values.every((value) => value.trim() === '');
}

export interface Header {
  line: number;
  /** The field of each column, by position; null for a column without a name. */
  fields: (Field | null)[];
  /** How many columns the header has. */
  width: number;
  /** How many columns a row needs to reach the last named one. */
  namedWidth: number;
  /** Each field's column as the file spells them. */
  spelled: ReadonlyMap<Field, string>;
  /** What the header is read with between its columns, and so every row. */
  delimiter: string;
}

const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;
const TAB = 0x09;

/**
 * How many lines end in `bytes`: CRLF (RFC 4180 §2), LF and a lone CR each end one. A CR is
 * counted where it stands and an LF only when no CR comes before it (`before`: the byte preceding
 * `bytes`), so a CRLF split between two chunks still counts once and no byte after the chunk is needed.
 */
function countLineEnds(bytes: Buffer, before: number | undefined): number {
  let count = 0;
  for (let at = bytes.indexOf(CR); at !== -1; at = bytes.indexOf(CR, at + 1)) count++;
  for (let at = bytes.indexOf(LF); at !== -1; at = bytes.indexOf(LF, at + 1)) {
    if ((at === 0 ? before : bytes[at - 1]) !== CR) count++;
  }
  return count;
}

/**
 * Line numbers of the file's (UTF-8) bytes as an editor shows them, fed a chunk at a time as the
 * file is read. csv-parse's `info.lines` is the line a record ends on, and it counts the CR and
 * the LF of a CRLF inside a quoted value as two lines; its `info.bytes` (the offset just past a
 * record) is exact, so lines are counted up to those offsets instead. Chunks are dropped once
 * counted past, so memory holds only what csv-parse has not finished with.
 */
class LineCounter {
  private readonly chunks: Buffer[] = [];
  /** The offset of `chunks[0]`. */
  private chunkStart = 0;
  private offset = 0;
  private line = 1;
  private previous: number | undefined;
  private readonly blank: ReadonlySet<number>;

  /** `delimiter`: a tab that separates values is a value boundary, not blank space csv-parse trims. */
  constructor(delimiter = ',') {
    this.blank = new Set(delimiter === '\t' ? [CR, LF, SPACE] : [CR, LF, SPACE, TAB]);
  }

  push(bytes: Buffer): void {
    if (bytes.length > 0) this.chunks.push(bytes);
  }

  /** The line of the first byte at or after `from` that is not blank: where the next record starts, since csv-parse skips blank lines and trims. */
  lineOfRecordAfter(from: number): number {
    this.lineOf(from);
    for (let byte = this.byteAt(this.offset); byte !== undefined && this.blank.has(byte); byte = this.byteAt(this.offset)) this.lineOf(this.offset + 1);
    return this.line;
  }

  /** The line the byte at `offset` is on (any byte but a CR or an LF: those end the line). */
  lineOf(offset: number): number {
    while (this.offset < offset) {
      const chunk = this.chunks[0];
      if (chunk === undefined) break;
      const from = this.offset - this.chunkStart;
      if (from >= chunk.length) {
        this.chunks.shift();
        this.chunkStart += chunk.length;
        continue;
      }
      const counted = chunk.subarray(from, Math.min(chunk.length, offset - this.chunkStart));
      this.line += countLineEnds(counted, this.previous);
      this.previous = counted[counted.length - 1];
      this.offset += counted.length;
    }
    return this.line;
  }

  private byteAt(offset: number): number | undefined {
    let start = this.chunkStart;
    for (const chunk of this.chunks) {
      if (offset < start + chunk.length) return chunk[offset - start];
      start += chunk.length;
    }
    return undefined;
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

/** Where the last complete UTF-8 sequence of `bytes` ends: a chunk of a file may end inside a character the next chunk completes. */
function completeSequencesEnd(bytes: Uint8Array): number {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const byte = bytes[bytes.length - back] ?? 0;
    if (byte < 0x80) return bytes.length;
    if (byte >= 0xc0) {
      const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
      return back < length ? bytes.length - back : bytes.length;
    }
  }
  return bytes.length;
}

/** `source` as an iterable, from where it stands: the start of the file may have been read from it already. */
function remaining<T>(source: AsyncIterator<T>): AsyncIterable<T> {
  return { [Symbol.asyncIterator]: () => source };
}

async function* utf16AsUtf8(path: string, encoding: string, chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  // The decoder drops the byte order mark, and `stream` carries a character split between chunks over.
  const decoder = new TextDecoder(encoding, { fatal: true });
  const decode = (bytes?: Buffer): string => {
    try {
      return bytes === undefined ? decoder.decode() : decoder.decode(bytes, { stream: true });
    } catch {
      throw new CliRefusal(`${path} is not valid ${encoding.toUpperCase()}; ${SAVE_AS_UTF8}`);
    }
  };
  for await (const chunk of chunks) {
    const text = decode(chunk);
    if (text !== '') yield Buffer.from(text, 'utf8');
  }
  const rest = decode();
  if (rest !== '') yield Buffer.from(rest, 'utf8');
}

async function* checkedUtf8(path: string, first: Buffer, chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let lineEnds = 0;
  let lastByte: number | undefined;
  /** The bytes if they are all well-formed UTF-8, else the failure that names the first bad byte and its line. */
  const checked = (bytes: Buffer): Buffer => {
    if (!isUtf8(bytes)) {
      const offset = firstInvalidUtf8Offset(bytes);
      const byte = offset === undefined ? undefined : bytes[offset];
      const line = lineEnds + countLineEnds(bytes.subarray(0, offset), lastByte) + 1;
      const where = byte === undefined ? '' : `: byte 0x${byte.toString(16).toUpperCase().padStart(2, '0')} on line ${line}`;
      throw new CliRefusal(`${path} is not UTF-8${where}; ${SAVE_AS_UTF8}`);
    }
    lineEnds += countLineEnds(bytes, lastByte);
    lastByte = bytes[bytes.length - 1] ?? lastByte;
    return bytes;
  };
  let pending = first;
  for await (const chunk of chunks) {
    const bytes = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    const end = completeSequencesEnd(bytes);
    pending = bytes.subarray(end);
    if (end > 0) yield checked(bytes.subarray(0, end));
  }
  if (pending.length > 0) yield checked(pending);
}

/**
 * The file's text as UTF-8 bytes without a byte order mark, a chunk at a time. Anything that is
 * not valid UTF-8 (Excel's "CSV (Comma delimited)" is Windows-1252) is refused, because records are
 * never edited (append-only ledger): a mis-decoded name or explanation would stay in it for good.
 * UTF-16 with a byte order mark (Excel's "Unicode Text") is read and handed on as UTF-8.
 */
async function* utf8Text(path: string, chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const source = chunks[Symbol.asyncIterator]();
  let head: Buffer = Buffer.alloc(0);
  while (head.length < UTF8_BOM.length) {
    const next = await source.next();
    if (next.done) break;
    head = head.length === 0 ? next.value : Buffer.concat([head, next.value]);
  }
  const utf16 = UTF16_BOMS.find(({ bom }) => startsWith(head, bom));
  if (utf16) {
    yield* utf16AsUtf8(path, utf16.encoding, replay(head, source));
    return;
  }
  yield* checkedUtf8(path, startsWith(head, UTF8_BOM) ? head.subarray(UTF8_BOM.length) : head, remaining(source));
}

async function* replay(first: Buffer, source: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  if (first.length > 0) yield first;
  yield* remaining(source);
}

/** Reads what is left of `source`, for what reading it checks (the encoding). */
async function drain(source: AsyncIterator<unknown>): Promise<void> {
  while (!(await source.next()).done);
}

/**
 * Excel's separator hint: a first line `sep=;` names the file's delimiter, and Excel reads the
 * file with it and does not show the line. A quote cannot be a delimiter (RFC 4180 §2).
 */
const SEPARATOR_HINT = /^sep=([^"\r\n])(?:\r\n|\n|\r|$)/iu;

/** What Excel writes between values: a comma, a semicolon where the comma is the decimal mark (most of Europe), a tab for "Unicode Text". */
const DELIMITERS = [',', ';', '\t'] as const;

export interface CsvLayout {
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

/**
 * What a row read as one value says of its delimiter: that it holds another of DELIMITERS often
 * enough to be split into the header's named columns with it (a row pasted from a comma-separated
 * export under a header Excel saved with semicolons); empty otherwise.
 */
export function otherDelimiterNote(header: Pick<Header, 'delimiter' | 'namedWidth'>, values: readonly string[]): string {
  const [value, ...others] = values;
  if (value === undefined || others.length > 0 || header.namedWidth < 2) return '';
  const rowUses = DELIMITERS.find((delimiter) => delimiter !== header.delimiter && value.split(delimiter).length >= header.namedWidth);
  return rowUses === undefined ? '' : ` (it seems written with ${delimiterName(rowUses)} between values, where the header uses ${delimiterName(header.delimiter)})`;
}

/**
 * A closing quote followed by another of DELIMITERS than the file's (`"ana@example.com","marketing"`
 * under a header read with semicolons): csv-parse names the character it got instead
 * (CSV_INVALID_CLOSING_QUOTE, `got ","`).
 */
function otherDelimiterAfterQuote(error: CsvError, delimiter: string): string {
  if (error.code !== 'CSV_INVALID_CLOSING_QUOTE') return '';
  const got = /got "(.)"/su.exec(error.message)?.[1];
  const rowUses = DELIMITERS.find((other) => other !== delimiter && other === got);
  if (rowUses === undefined) return '';
  const one = rowUses === '\t' ? 'a tab' : `a ${rowUses === ',' ? 'comma' : 'semicolon'} (${rowUses})`;
  return `; the quote is followed by ${one}, where the columns are read with ${delimiterName(delimiter)}: write the header and the rows with the same delimiter`;
}

/** A delimiter as a message names it. */
function delimiterName(delimiter: string): string {
  if (delimiter === ',') return 'commas (,)';
  if (delimiter === ';') return 'semicolons (;)';
  if (delimiter === '\t') return 'tabs';
  return JSON.stringify(delimiter);
}

/**
 * Whether the rows are written with another delimiter than the header: each data row is then
 * read as one value holding the delimiter it was written with (a header saved with semicolons
 * by Excel in most of Europe, rows pasted from a comma-separated export). Only a file none of
 * whose rows reads right is refused for it; a row of another shape among good ones stays a bad row.
 */
class OtherDelimiter {
  /** The delimiters every data row so far is one value holding; null before the first row. */
  private candidates: string[] | null = null;
  private first: CsvRecord | undefined;

  constructor(private readonly delimiter: string) {}

  add(record: CsvRecord): void {
    const [value, ...others] = record.values;
    const holding: string[] = value === undefined || others.length > 0 ? [] : DELIMITERS.filter((delimiter) => delimiter !== this.delimiter && value.includes(delimiter));
    this.candidates = (this.candidates ?? holding).filter((delimiter) => holding.includes(delimiter));
    this.first ??= record;
  }

  refusal(path: string, layout: CsvLayout, header: Header): CliRefusal | null {
    const rowsUse = this.candidates?.[0];
    const first = this.first;
    if (rowsUse === undefined || first === undefined || header.namedWidth < 2) return null;
    const read = layout.fromLine === 1 ? `the header on line ${header.line} is read with ${delimiterName(layout.delimiter)}` : `the "sep=" line names ${delimiterName(layout.delimiter)}`;
    return new CliRefusal(
      `${path}: ${read} between the columns, but the rows seem to use ${delimiterName(rowsUse)}: every data row is one value (line ${first.line}: ${shownValue(first.values[0] ?? '')}); write the header and the rows with the same delimiter`,
    );
  }
}

/** The first record cannot be told yet: the start of the file read so far may end inside it. */
const READ_MORE = Symbol('read more');

/**
 * The first record read with `delimiter`; undefined when there is none or it is not valid CSV.
 * `whole`: `text` is the whole file; otherwise a record is only taken once a line end closes it.
 */
function firstRecord(text: Buffer, delimiter: string, fromLine: number, whole: boolean): string[] | undefined | typeof READ_MORE {
  let record: string[] | undefined;
  let end = 0;
  try {
    parseCsv(text, {
      ...parseOptions({ delimiter, fromLine }),
      to: 1,
      on_record: (values: string[], context) => {
        record = values;
        end = context.bytes;
        return null;
      },
    });
  } catch (error) {
    if (!(error instanceof CsvError)) throw error;
    return !whole && error.code === 'CSV_QUOTE_NOT_CLOSED' ? READ_MORE : undefined;
  }
  if (whole) return record;
  const last = text[end - 1];
  return record !== undefined && (last === LF || last === CR) ? record : READ_MORE;
}

const knownColumns = (values: readonly string[]): number => values.filter((name) => FIELD_OF.has(name.toLowerCase())).length;

/**
 * The delimiter the separator hint names, else the one of DELIMITERS that splits the header into
 * the most known column names; with none known, the one that splits it into the most columns, so
 * a header in another language is reported column by column. Ties go to the comma (RFC 4180).
 */
function csvLayout(text: Buffer, whole: boolean): CsvLayout | typeof READ_MORE {
  const hint = SEPARATOR_HINT.exec(text.subarray(0, 16).toString('utf8'));
  const hinted = hint?.[1];
  const fromLine = hinted === undefined ? 1 : 2;
  const start = hint === null ? 0 : Buffer.byteLength(hint[0]);
  let best: CsvLayout = { delimiter: hinted ?? ',', fromLine, start };
  let bestScore: readonly [number, number] = [-1, -1];
  for (const delimiter of hinted === undefined ? DELIMITERS : [hinted]) {
    const header = firstRecord(text, delimiter, fromLine, whole);
    if (header === READ_MORE) return READ_MORE;
    if (header === undefined) continue;
    const score = [knownColumns(header), header.length] as const;
    if (score[0] > bestScore[0] || (score[0] === bestScore[0] && score[1] > bestScore[1])) {
      best = { delimiter, fromLine, start, header };
      bestScore = score;
    }
  }
  return best;
}

/** How much of the file's start is read to find its delimiter and header, at first. */
const LAYOUT_BYTES = 64 * 1024;

/** The layout, from the start of the text, read until it holds the whole header; `start` is the text read, which `text` goes on after. */
async function readLayout(text: AsyncIterator<Buffer>): Promise<{ layout: CsvLayout; start: Buffer }> {
  const read: Buffer[] = [];
  let length = 0;
  let wanted = LAYOUT_BYTES;
  for (;;) {
    let whole = false;
    while (length < wanted) {
      const next = await text.next();
      if (next.done) {
        whole = true;
        break;
      }
      read.push(next.value);
      length += next.value.length;
    }
    const start = Buffer.concat(read);
    const layout = csvLayout(start, whole);
    if (layout !== READ_MORE) return { layout, start };
    wanted *= 2;
  }
}

function writeTo(parser: NodeJS.WritableStream, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    parser.write(bytes, (error?: Error | null) => (error ? reject(error) : resolve()));
  });
}

/**
 * Every record of the text, with the line it starts on (a quoted value may span lines), read as
 * the text comes: a chunk of the file is parsed, its records handed on, and only then is the next
 * chunk read. A file that is not valid CSV fails with the line of the record csv-parse stopped at,
 * once the rest of the file has been read for its encoding, so a file that is also not UTF-8 is
 * refused for that, as when the whole file was checked first.
 */
async function* csvRecords(path: string, layout: CsvLayout, text: AsyncIterable<Buffer>): AsyncGenerator<CsvRecord> {
  const lines = new LineCounter(layout.delimiter);
  const parsed: CsvRecord[] = [];
  let end = layout.start;
  const parser = csvParser({
    ...parseOptions(layout),
    on_record: (values: string[], context) => {
      parsed.push({ line: lines.lineOfRecordAfter(end), values });
      end = context.bytes;
      return null;
    },
  });
  // The records are taken in on_record; the failure, from the write or the end that meets it.
  parser.on('error', () => undefined);
  parser.resume();
  const source = text[Symbol.asyncIterator]();
  try {
    for (let next = await source.next(); !next.done; next = await source.next()) {
      lines.push(next.value);
      await writeTo(parser, next.value);
      yield* parsed.splice(0);
    }
    parser.end();
    await finished(parser);
    yield* parsed.splice(0);
  } catch (error) {
    if (!(error instanceof CsvError)) throw error;
    await drain(source);
    const reason = CSV_ERRORS[error.code] ?? error.message;
    throw new CliRefusal(`${path} is not valid CSV: the record on line ${lines.lineOfRecordAfter(end)}: ${reason}${otherDelimiterAfterQuote(error, layout.delimiter)}`);
  } finally {
    parser.destroy();
    await source.return?.();
  }
}

function readHeader(path: string, record: CsvRecord, delimiter: string): Header {
  const problems: string[] = [];
  const unknown: string[] = [];
  const unknownNames: string[] = [];
  const fields: (Field | null)[] = record.values.map(() => null);
  const firstColumn = new Map<Field, number>();
  const spelled = new Map<Field, string>();
  let namedWidth = 0;
  record.values.forEach((name, index) => {
    // A column without a name is checked with the rows: it may only be where a spreadsheet went on writing empty cells.
    if (name === '') return;
    namedWidth = index + 1;
    const field = FIELD_OF.get(name.toLowerCase());
    if (field === undefined) {
      unknownNames.push(name);
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
  // A near name is suggested only for a column the file does not have already: `E-mail` beside `email` is a second column, not a misspelling.
  for (const name of unknownNames) {
    const near = NEAR_FIELD.get(folded(name));
    unknown.push(near === undefined || firstColumn.has(near) ? JSON.stringify(name) : `${JSON.stringify(name)} (did you mean ${COLUMN_OF[near]}?)`);
  }
  if (unknown.length > 0) problems.unshift(`unknown column(s) ${unknown.join(', ')}`);
  if (!IDENTITY_FIELDS.some((field) => firstColumn.has(field))) problems.push('no email, phone or contact_id column');
  const missing = REQUIRED_FIELDS.filter((field) => !firstColumn.has(field)).map((field) => COLUMN_OF[field]);
  if (missing.length > 0) problems.push(`missing column(s): ${missing.join(', ')}`);
  if (problems.length > 0) {
    const data = unknownNames.find(looksLikeData);
    if (data !== undefined) throw dataForHeader(path, record.line, data, problems);
    throw invalidHeader(path, record.line, problems);
  }
  return { line: record.line, fields, width: record.values.length, namedWidth, spelled, delimiter };
}

/** A first line that holds a row's values: the file was most likely saved or exported without its header. */
function dataForHeader(path: string, line: number, value: string, problems: readonly string[]): CliRefusal {
  const where = line === 1 ? 'the first line' : `line ${line}`;
  return new CliRefusal(`${path}: ${where} looks like data (${JSON.stringify(value)}), not column names: ${HEADER_HINT} (read as column names: ${problems.join('; ')})`);
}

function invalidHeader(path: string, line: number, problems: readonly string[]): CliRefusal {
  return new CliRefusal(`${path}: the header on line ${line} is not valid: ${problems.join('; ')} (${HEADER_HINT})`);
}

/**
 * Opened without waiting: a named pipe (FIFO) with no writer would otherwise hold open() until
 * one comes (https://man7.org/linux/man-pages/man7/fifo.7.html); it is refused right after
 * (notRegularFile). O_NONBLOCK changes nothing for a regular file.
 */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

async function openFile(path: string): Promise<{ handle: FileHandle; stats: Stats }> {
  let handle: FileHandle;
  try {
    handle = await open(path, OPEN_FLAGS);
  } catch (error) {
    // A socket cannot be opened by its path (ENXIO for `/dev/stdin` when a program's stdin is a
    // socket pair): what it is explains the refusal better than the system's code.
    const stats = await stat(path).catch(() => null);
    throw (stats === null ? null : notRegularFile(path, stats)) ?? cannotRead(path, error);
  }
  try {
    const stats = await handle.stat();
    const refusal = notRegularFile(path, stats);
    if (refusal !== null) throw refusal;
    return { handle, stats };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** What a path that is not a regular file is, in plain words. */
function kindOf(stats: Stats): string {
  if (stats.isFIFO()) return 'a pipe';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a terminal or device';
  return 'not a regular file';
}

/**
 * Import reads its file twice (readImportFile, then importRecords): a pipe (`/dev/stdin`, a
 * shell's `<(...)`) is empty the second time, so its rows would be checked and never recorded.
 */
function notRegularFile(path: string, stats: Stats): CliRefusal | null {
  if (stats.isFile()) return null;
  if (stats.isDirectory()) return new CliRefusal(`Cannot read ${path}: it is a directory`);
  return new CliRefusal(`Cannot import ${path}: it is ${kindOf(stats)}, and import reads its file twice (to check it, then to record it); save it to a file first`);
}

const READ_BYTES = 64 * 1024;

/** Reading stopped because the command was interrupted (Ctrl-C): nothing was written. */
export class ReadInterrupted extends Error {
  constructor(readonly path: string) {
    super(`reading ${path} was interrupted`);
    this.name = 'ReadInterrupted';
  }
}

interface ChunkReading {
  progress?: Pick<Progress, 'update'> | undefined;
  /** Takes in every byte read. */
  hash?: Hash | undefined;
  signal?: AbortSignal | undefined;
}

async function* fileChunks(path: string, handle: FileHandle, reading: ChunkReading = {}): AsyncGenerator<Buffer> {
  const { progress, hash, signal } = reading;
  let done = 0;
  for (;;) {
    if (signal?.aborted === true) throw new ReadInterrupted(path);
    const buffer = Buffer.allocUnsafe(READ_BYTES);
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(buffer, 0, READ_BYTES, null));
    } catch (error) {
      throw cannotRead(path, error);
    }
    if (bytesRead === 0) return;
    done += bytesRead;
    progress?.update(done);
    const bytes = buffer.subarray(0, bytesRead);
    hash?.update(bytes);
    yield bytes;
  }
}

/** What identifies the file as it was read: import reads it twice, and writes only what the first reading checked. */
interface FileVersion {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

const versionOf = (stats: Stats): FileVersion => ({ dev: stats.dev, ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs });

/** A CSV file checked to the end, before any database is opened. */
export interface ImportFile {
  path: string;
  layout: CsvLayout;
  header: Header;
  /** Data rows in the file, its empty rows (isEmptyRecord) left out. */
  rows: number;
  /** Rows whose every cell is empty, skipped. */
  emptyRows: number;
  /** SHA-256 of the file's bytes, in hex: what names this very file in the idempotency keys of its rows that bring none. */
  sha256: string;
  version: FileVersion;
}

export interface ReadImportOptions {
  /** Stops the reading (ReadInterrupted) before its next chunk once aborted. */
  signal?: AbortSignal;
}

/**
 * Reads the file to its end and checks it, a chunk at a time: that it is a regular file (it is
 * read again by importRecords), encoding, CSV, header, that there are rows. A file that cannot be
 * imported fails here, before the database is opened (or created) and so before any row is
 * written; only its header, its numbers of rows and of empty rows, and its SHA-256 are kept.
 * `progress` follows the bytes read.
 */
export async function readImportFile(path: string, progress?: Pick<Progress, 'start' | 'update'>, options: ReadImportOptions = {}): Promise<ImportFile> {
  const { handle, stats } = await openFile(path);
  try {
    const version = versionOf(stats);
    progress?.start(version.size);
    const hash = createHash('sha256');
    const text = utf8Text(path, fileChunks(path, handle, { progress, hash, signal: options.signal }));
    const { layout, start } = await readLayout(text);
    if (layout.header === undefined) {
      // No first record: the file has none, or it is not valid CSV, which csvRecords reports by line.
      await drain(csvRecords(path, layout, replay(start, text)));
      throw new CliRefusal(`${path} is empty: ${HEADER_HINT}`);
    }
    const headerLines = new LineCounter(layout.delimiter);
    headerLines.push(start);
    let header: Header;
    try {
      // The header is checked before the rest is parsed: with the wrong delimiter the header is
      // one unknown column, and that, not a quote further down, is what to report.
      header = readHeader(path, { line: headerLines.lineOfRecordAfter(layout.start), values: layout.header }, layout.delimiter);
    } catch (error) {
      await drain(text);
      throw error;
    }
    const unnamed = header.fields.flatMap((field, index) => (field === null ? [index] : []));
    const firstValueLine = new Map<number, number>();
    const otherDelimiter = new OtherDelimiter(layout.delimiter);
    let rows = -1;
    let emptyRows = 0;
    for await (const record of csvRecords(path, layout, replay(start, text))) {
      if (rows >= 0 && isEmptyRecord(record)) {
        emptyRows++;
        continue;
      }
      rows++;
      if (rows > 0) otherDelimiter.add(record);
      for (const index of unnamed) {
        if (!firstValueLine.has(index) && (record.values[index] ?? '').trim() !== '') firstValueLine.set(index, record.line);
      }
    }
    if (firstValueLine.size > 0) {
      const problems = [...firstValueLine].sort(([a], [b]) => a - b).map(([index, line]) => `column ${index + 1} has no name, and line ${line} has a value in it`);
      throw invalidHeader(path, header.line, problems);
    }
    if (rows <= 0) throw new CliRefusal(`${path} has a header but no data rows`);
    const refusal = otherDelimiter.refusal(path, layout, header);
    if (refusal !== null) throw refusal;
    return { path, layout, header, rows, emptyRows, sha256: hash.digest('hex'), version };
  } finally {
    await handle.close();
  }
}

/**
 * The data rows of a file readImportFile checked, read again a chunk at a time as they are
 * asked for. A file changed since (another size, time or inode) is refused before its first row.
 */
export async function* importRecords(file: ImportFile): AsyncGenerator<CsvRecord> {
  const { handle, stats } = await openFile(file.path);
  try {
    const now = versionOf(stats);
    if (now.dev !== file.version.dev || now.ino !== file.version.ino || now.size !== file.version.size || now.mtimeMs !== file.version.mtimeMs) {
      throw new CliRefusal(`${file.path} changed after it was checked; nothing was imported: import it again`);
    }
    let header = true;
    for await (const record of csvRecords(file.path, file.layout, utf8Text(file.path, fileChunks(file.path, handle)))) {
      if (header) header = false;
      else yield record;
    }
  } finally {
    await handle.close();
  }
}

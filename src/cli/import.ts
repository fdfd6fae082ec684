import { ActorSchema, type Actor } from '../core/consent.js';
import { normalizePhone } from '../core/contact.js';
import type { FieldIssue } from '../core/errors.js';
import { WorkspaceSettingsSchema, type WorkspaceSettings } from '../core/settings.js';
import { bulkRowIssues } from '../engine/consents.js';
import { BulkRowSchema } from '../engine/inputs.js';
import type { WorkspaceEngine } from '../engine.js';
import { withoutBidiMarks } from './identities.js';
import { COLUMN_OF, IDENTITY_FIELDS, importRecords, isField, type CsvRecord, type Field, type Header, type ImportFile } from './import-file.js';
import { isListedColumn, ListedValues, unknownPurposeMessage } from './import-values.js';
import type { CliIo } from './io.js';
import { CliFailure, nonBlankOption, writeLine } from './io.js';
import { progressOn } from './progress.js';

export { readImportFile, type ImportFile } from './import-file.js';

/** The engine's field names as they appear in its messages ("needs a legalBasis"). */
const FIELD_NAME_IN_TEXT = /\b(contactId|legalBasis|occurredAt|idempotencyKey)\b/g;

/** Rows per bulkSetConsent call: one transaction each. */
const CHUNK = 500;

/**
 * What an interrupted import leaves, for `import --help`: the slices committed before it stop
 * (importCsv), and a re-run of the file that the idempotency keys make record each of them once
 * (a row whose key is recorded already is answered, not recorded again).
 */
export const IMPORT_RERUN_HELP = `
An import that is killed or interrupted keeps the rows it had committed (${CHUNK}
to a transaction) and none of the others. Run the same file again to finish
it: with an idempotency_key column (a different key in every row), the re-run
records nothing twice and counts the rows recorded before as "already
recorded"; rows without a key are recorded a second time.
`;

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
  /** Recorded rows whose status was already the one in force for their contact, purpose and channel. */
  repeated: number;
  /** Recorded rows older than the decision in force (an earlier occurred_at): kept in the ledger, no status changed, no event. */
  notInEffect: number;
  /** Whether the file has an idempotency_key column. */
  keyColumn: boolean;
  /** Rows refused: each changed nothing, and each of its bad fields was reported on its own line. */
  rejected: number;
  /** Recorded rows with a value not applied to their contact (an e-mail or phone it has another value for), each reported as a warning. */
  warned: number;
}

type BulkRowValues = Partial<Record<Field, string>>;

/**
 * A row with the number of values the header calls for. Cells past the last named column may be
 * missing, and cells past the header may be there, as long as they are empty: a spreadsheet writes
 * empty cells as far right as any cell was ever used (readImportFile refuses a value in an unnamed column).
 */
function valueCountProblem(header: Header, values: readonly string[]): string | undefined {
  const valueBeyondHeader = values.slice(header.width).some((value) => value.trim() !== '');
  if (values.length >= header.namedWidth && !valueBeyondHeader) return undefined;
  return `has ${values.length} values, the header names ${header.width} columns`;
}

/**
 * The row as bulkSetConsent takes it: an empty cell is an absent value, an identity loses the
 * invisible bidi marks a copy from a chat app or address book brings along (withoutBidiMarks), and
 * a listed value is spelled as the ledger spells it (ListedValues). Unnamed columns are left out.
 */
function toBulkRow(header: Header, values: readonly string[], listed: ListedValues): BulkRowValues {
  const row: BulkRowValues = {};
  values.forEach((cell, index) => {
    const field = header.fields[index];
    if (!field) return;
    const value = IDENTITY_FIELDS.includes(field) ? withoutBidiMarks(cell) : isListedColumn(field) ? listed.spell(field, cell) : cell;
    if (value !== '') row[field] = value;
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
const PURPOSE = BulkRowSchema.shape.purpose;
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
 * expected, one for a national phone number that points at `--country`, and one for a purpose
 * that is not even spelled as one could be that lists the workspace's purposes, as for any
 * other unknown purpose.
 */
function rowIssues(row: BulkRowValues, by: { actor: Actor; source: 'bulk' }, settings: Parameters<typeof bulkRowIssues>[2]): FieldIssue[] {
  const occurredAt = row.occurredAt;
  const badOccurredAt = occurredAt !== undefined && !OCCURRED_AT.safeParse(occurredAt).success;
  const purpose = row.purpose;
  const unknownPurpose = purpose !== undefined && !PURPOSE.safeParse(purpose).success ? unknownPurposeMessage(purpose, settings) : undefined;
  return bulkRowIssues(row, by, settings).map((issue) => {
    const field = issue.path.split('.')[0];
    if (field === 'occurredAt' && badOccurredAt) return { ...issue, message: occurredAtMessage(occurredAt) };
    if (field === 'purpose' && unknownPurpose !== undefined) return { ...issue, message: unknownPurpose };
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

/**
 * Records the file's rows in the workspace, reading them again from the file a slice at a time:
 * CHUNK rows are checked, handed to the engine in one bulkSetConsent call (one transaction) and
 * counted before the next slice is read, so memory does not grow with the file. `country` (from
 * `--country`) reads the national phone numbers of this import in place of the workspace's
 * default country: each phone is checked with it and handed to the engine in E.164, which no
 * default country changes.
 */
export async function importCsv(workspace: WorkspaceEngine, file: ImportFile, io: CliIo, actorId: string, country: string | null = null): Promise<ImportSummary> {
  const { header } = file;
  const actor: Actor = { kind: 'user', id: parseActorOption(actorId) };
  const names = new ColumnNames(header);
  const stored = (await workspace.get()).settings;
  const settings = { ...stored, defaultCountry: country === null ? stored.defaultCountry : parseCountryOption(country) };
  const listed = new ListedValues(settings);
  const summary: ImportSummary = { rows: 0, recorded: 0, alreadyRecorded: 0, repeated: 0, notInEffect: 0, keyColumn: header.spelled.has('idempotencyKey'), rejected: 0, warned: 0 };
  const progress = progressOn(io.stderr, 'importing [{bar}] {value}/{total} rows');

  async function recordSlice(chunk: readonly CsvRecord[]): Promise<void> {
    const failures: RowFailure[][] = chunk.map(() => []);
    const warnings: RowFailure[][] = chunk.map(() => []);
    const accepted: { index: number; row: BulkRowValues }[] = [];
    for (const [index, record] of chunk.entries()) {
      const countProblem = valueCountProblem(header, record.values);
      if (countProblem !== undefined) {
        failures[index] = [{ line: record.line, field: '', message: countProblem }];
        continue;
      }
      const row = toBulkRow(header, record.values, listed);
      const rowFailures = failuresOf(record.line, row, rowIssues(row, { actor, source: 'bulk' }, settings), names);
      failures[index] = rowFailures;
      // rowIssues read the phone with the same country, so normalizePhone accepts it.
      if (rowFailures.length === 0) accepted.push({ index, row: row.phone === undefined ? row : { ...row, phone: normalizePhone(row.phone, settings.defaultCountry) } });
    }
    const rows = accepted.map((a) => a.row);
    const results = rows.length > 0 ? await workspace.bulkSetConsent(rows, { source: 'bulk', actor }) : [];
    for (const result of results) {
      const target = accepted[result.row];
      if (!target) continue;
      const line = chunk[target.index]?.line ?? 0;
      if (result.ok) {
        warnings[target.index] = failuresOf(line, target.row, result.warnings, names);
        if (!result.created) summary.alreadyRecorded++;
        else {
          summary.recorded++;
          if (result.repeated) summary.repeated++;
          if (!result.inEffect) summary.notInEffect++;
        }
        continue;
      }
      const issues = result.error.issues.length > 0 ? result.error.issues : [{ path: '', message: result.error.message }];
      failures[target.index] = failuresOf(line, target.row, issues, names);
    }
    // The slice's report goes out now, in the file's line order, and is not kept.
    for (const index of chunk.keys()) {
      const rowFailures = failures[index] ?? [];
      const rowWarnings = warnings[index] ?? [];
      if (rowFailures.length > 0) summary.rejected++;
      if (rowWarnings.length > 0) summary.warned++;
      for (const failure of rowFailures) progress.line(failureLine(failure));
      for (const warning of rowWarnings) progress.line(`warning: line ${warning.line}: ${warning.field}: ${warning.message}`);
    }
    summary.rows += chunk.length;
    progress.update(summary.rows);
  }

  progress.start(file.rows);
  try {
    let chunk: CsvRecord[] = [];
    for await (const record of importRecords(file)) {
      chunk.push(record);
      if (chunk.length < CHUNK) continue;
      await recordSlice(chunk);
      chunk = [];
    }
    if (chunk.length > 0) await recordSlice(chunk);
  } finally {
    progress.stop();
  }
  return summary;
}

const failureLine = (failure: RowFailure): string => `line ${failure.line}: ${failure.field ? `${failure.field}: ` : ''}${failure.message}`;

function warnedNote(summary: ImportSummary): string {
  const rows = summary.warned;
  return rows === 0 ? '' : ` ${rows} recorded ${rows === 1 ? 'row' : 'rows'} had a value the contact was not given (see the warnings).`;
}

function repeatedNote(summary: ImportSummary): string {
  if (summary.repeated === 0) return '';
  const rows = `${summary.repeated} ${summary.repeated === 1 ? 'row' : 'rows'}`;
  const why = summary.keyColumn
    ? `${summary.repeated === 1 ? 'its' : 'their'} idempotency_key was empty or new`
    : 'give an idempotency_key column to make a re-import record nothing';
  return ` ${rows} repeated a status already in force (recorded again; ${why}).`;
}

function notInEffectNote(summary: ImportSummary): string {
  const rows = summary.notInEffect;
  if (rows === 0) return '';
  const them = rows === 1 ? 'it is' : 'they are';
  return ` ${rows} recorded ${rows === 1 ? 'row is' : 'rows are'} older than the decision in force for ${rows === 1 ? 'its' : 'their'} contact, purpose and channel: ${them} kept in the ledger but changed no status and raised no event.`;
}

/** The summary line, after the report's lines (importCsv wrote them as it went). */
export function printImportSummary(summary: ImportSummary, io: CliIo): void {
  const imported = summary.recorded + summary.alreadyRecorded;
  writeLine(
    io.stdout,
    `Imported ${imported} of ${summary.rows} rows: ${summary.recorded} recorded, ${summary.alreadyRecorded} already recorded (idempotency key); ${summary.rejected} row(s) rejected and left unchanged.${warnedNote(summary)}${repeatedNote(summary)}${notInEffectNote(summary)}`,
  );
}

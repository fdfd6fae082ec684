import { ActorSchema, CHANNELS, CONSENT_STATUSES, LEGAL_BASES, type Actor } from '../core/consent.js';
import { canonicalUlid, isUlid, normalizePhone } from '../core/contact.js';
import { isConsentryError, type FieldIssue } from '../core/errors.js';
import { notOneOfMeant } from '../core/required.js';
import { zonedDateTimeMessage } from '../core/time.js';
import { bulkRowIssues } from '../engine/consents.js';
import { BulkRowSchema } from '../engine/inputs.js';
import type { WorkspaceEngine } from '../engine.js';
import { parseCountryOption, pointingAtCountryOption } from './country-option.js';
import { databasePath, isNewDatabase, resolvedDatabasePath, withEngine, type DatabaseOptions } from './database.js';
import { withoutBidiMarks } from './identities.js';
import {
  COLUMN_OF,
  IDENTITY_FIELDS,
  importRecords,
  isEmptyRecord,
  isField,
  otherDelimiterNote,
  readImportFile,
  ReadInterrupted,
  type CsvRecord,
  type Field,
  type Header,
  type ImportFile,
} from './import-file.js';
import { isListedColumn, ListedValues, unknownPurposeMessage } from './import-values.js';
import type { CliIo } from './io.js';
import { checkReportPath, RejectedRowsReport } from './import-report.js';
import { CliFailure, EXIT_CODES, exitCodeOf, nonBlankOption, workspaceLabel, writeLine } from './io.js';
import { progressOn } from './progress.js';

export { readImportFile, type ImportFile } from './import-file.js';
export { parseCountryOption } from './country-option.js';

/** The engine's field names as they appear in its messages ("needs a legalBasis"). */
const FIELD_NAME_IN_TEXT = /\b(contactId|legalBasis|occurredAt|idempotencyKey)\b/g;

/** Rows per bulkSetConsent call: one transaction each. */
const CHUNK = 500;

/**
 * What an interrupted import leaves, for `import --help`: the slices committed before it stop
 * (importCsv), and a re-run of the file that the idempotency keys make record each of them once
 * (a row whose key is recorded already is answered, not recorded again); a row without a key
 * gets one of the file and its line (derivedIdempotencyKey).
 */
export const IMPORT_RERUN_HELP = `
An import that is killed or interrupted keeps the rows it had committed (${CHUNK}
to a transaction) and none of the others. Ctrl-C (SIGINT) or SIGTERM lets the
transaction under way finish, then says how many rows were committed and
through which line (exit code 130). Run the same file again to finish it: the
re-run records nothing twice and counts the rows recorded before as "already
recorded". A row's idempotency_key tells which rows were recorded before; a
row without one is keyed by the file's SHA-256 and its line, so an edited file
records its rows without a key again. A row so keyed whose status is no longer
in force (another decision was made since the file was first imported) is
rejected rather than answered "already recorded": a later export with the same
content needs, to be recorded again, an occurred_at with the time of the new
decision or an idempotency_key on that line (the refusal says which the file
lacks).
`;

/**
 * The idempotency key of a row that brings none: this very file (its SHA-256) and the line the
 * row starts on. A re-run of the same file, after an interruption or by mistake, then records
 * none of its rows twice (the engine answers a recorded key as "already recorded").
 */
export function derivedIdempotencyKey(sha256: string, line: number): string {
  return `${derivedKeyPrefix(sha256)}${line}`;
}

/** What the derived keys of one file's rows begin with. */
function derivedKeyPrefix(sha256: string): string {
  return `file-sha256:${sha256}:line:`;
}

/** A row of a file imported before (its derived key recorded) that a decision made since overtook (supersededReplayMessage). */
const SUPERSEDED_REPLAY =
  'this line of a file with the same content (SHA-256) was imported before, and another decision now stands for its contact, purpose and channel: it was not recorded again';

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
  /** Rows whose every cell is empty, skipped and not counted in `rows`. */
  emptyRows: number;
  /** The workspace the rows went to. */
  workspace: { id: string; name: string };
  /** Set when the import stopped on an interruption: the rows before it are committed, through the row that starts on `throughLine` (the header's line when none). */
  interrupted: { throughLine: number } | null;
}

export interface ImportOptions {
  /** The import stops before its next slice once aborted; the slice under way is committed first. */
  signal?: AbortSignal;
  /** Takes each slice's rejected rows, with their failures (`--report`). */
  report?: Pick<RejectedRowsReport, 'add'>;
  /** `--allow-erased`: an opt-in row may create a contact with an address an erased contact had, or opt in a contact held for one (and ends the hold). */
  allowErased?: boolean;
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
  return `has ${values.length} ${values.length === 1 ? 'value' : 'values'}, the header names ${header.width} columns${otherDelimiterNote(header, values)}`;
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

  /** Whether the file has a column for `field`. */
  has(field: Field): boolean {
    return this.header.spelled.has(field);
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

/**
 * Why a row of a file imported before (its derived key recorded) is refused: a decision made since
 * overtook it. What would tell the line apart as a new decision speaks of what the file has: a
 * column it lacks, an empty cell of one it has, or the time its occurred_at already gives, which is
 * the time of the decision recorded before.
 */
function supersededReplayMessage(names: ColumnNames, row: BulkRowValues): string {
  const occurredAt = names.of('occurredAt');
  const key = names.of('idempotencyKey');
  const hasOccurredAt = names.has('occurredAt');
  const hasKey = names.has('idempotencyKey');
  const advice =
    !hasOccurredAt && !hasKey
      ? `give the file an ${occurredAt} or ${key} column`
      : [
          !hasOccurredAt
            ? `give the file an ${occurredAt} column`
            : row.occurredAt === undefined
              ? `fill in its ${occurredAt}`
              : `put the time the new decision was made in its ${occurredAt} (it has the time of the one recorded before)`,
          hasKey ? `fill in its ${key}` : `give the file an ${key} column`,
        ].join(', or ');
  return `${SUPERSEDED_REPLAY}; to record it as a new decision, ${advice}`;
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

/** The columns a row cannot do without (readImportFile makes sure the file has them). */
const REQUIRED_VALUES: ReadonlySet<string> = new Set<Field>(['purpose', 'channel', 'status']);

/** The values a listed column takes, as the message for another value lists them (a purpose has unknownPurposeMessage). */
const ALLOWED_VALUES: ReadonlyMap<string, readonly string[]> = new Map<Field, readonly string[]>([
  ['channel', CHANNELS],
  ['status', CONSENT_STATUSES],
  ['legalBasis', LEGAL_BASES],
]);

const EXPLANATION_MAX = BulkRowSchema.shape.explanation.unwrap().unwrap().maxLength ?? Number.MAX_SAFE_INTEGER;

const count = (n: number): string => n.toLocaleString('en-US');

/**
 * The schema's refusals in the words of the file: an empty required cell, a listed value with
 * the value found and the ones allowed (and the one it writes with spaces or hyphens for its
 * underscores, `opted in`, which ListedValues does not read as it: notOneOfMeant), an explanation
 * with its length and the limit. Any other issue is left as the engine words it.
 */
function inFileTerms(issue: FieldIssue, row: BulkRowValues): FieldIssue {
  const field = issue.path.split('.')[0] ?? '';
  if (!isField(field)) return issue;
  const value = row[field];
  if (value === undefined) return REQUIRED_VALUES.has(field) ? { ...issue, message: 'is empty; every row needs one' } : issue;
  const allowed = ALLOWED_VALUES.get(field);
  if (allowed !== undefined && !allowed.includes(value)) return { ...issue, message: notOneOfMeant(value, allowed) };
  const length = value.trim().length;
  if (field === 'explanation' && length > EXPLANATION_MAX) return { ...issue, message: `has ${count(length)} characters, at most ${count(EXPLANATION_MAX)}` };
  return issue;
}

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
    if (field === 'occurredAt' && badOccurredAt) return { ...issue, message: zonedDateTimeMessage(occurredAt) };
    if (field === 'purpose' && unknownPurpose !== undefined) return { ...issue, message: unknownPurpose };
    if (field === 'phone') return { ...issue, message: pointingAtCountryOption(issue.message) };
    return inFileTerms(issue, row);
  });
}

type BulkRowError = { code: string; message: string; issues: readonly FieldIssue[] };

/** What a contact id is, as the engine makes them (a ULID, https://github.com/ulid/spec). */
const CONTACT_ID = 'a ULID such as 01ARZ3NDEKTSV4RRFFQ69G5FAV';

/**
 * What the engine said when it refused a row, in the file's terms: an erased contact (GDPR
 * Art. 17: its record stays, and no new decision is taken for it), a contact id no contact of the
 * workspace has, and a key of the file's own making (derivedIdempotencyKey) that an earlier import
 * of the same line used for another change.
 */
function refusalIssues(error: BulkRowError, row: BulkRowValues, derivedKey: boolean, workspace: { id: string; name: string }): FieldIssue[] {
  if (error.code === 'CONTACT_ERASED' && row.contactId !== undefined) {
    return [{ path: 'contactId', message: `contact ${canonicalUlid(row.contactId)} was erased: its consents cannot be changed` }];
  }
  if (error.code === 'CONTACT_ERASED') {
    return error.issues.map((issue) => ({ path: issue.path, message: 'belonged to a contact that was erased; this row would opt the person in again (--allow-erased records it)' }));
  }
  const stated = error.issues.length > 0 ? [...error.issues] : [{ path: '', message: error.message }];
  // The engine says only "not found" of a contact id no contact of the workspace has: the id as the
  // file spells it, and the workspace looked in, show a mistyped id, or a file meant for another
  // workspace (--workspace) or another database (--db). A value that is no ULID at all (the engine's
  // ids are, isUlid) is no id of any workspace: saying so points at the column, not at the workspace.
  const { contactId } = row;
  const notFound = (id: string): string =>
    isUlid(id) ? `${JSON.stringify(id)} is no contact of workspace ${workspaceLabel(workspace)}` : `${JSON.stringify(id)} is not a contact id (${CONTACT_ID})`;
  const issues =
    error.code === 'NOT_FOUND' && contactId !== undefined
      ? stated.map((issue) => (issue.path === 'contactId' ? { path: issue.path, message: notFound(contactId) } : issue))
      : stated;
  if (!derivedKey) return issues;
  return issues.map((issue) =>
    issue.path.split('.')[0] === 'idempotencyKey' ? { path: '', message: `this line was imported before from the same file, as another change: ${issue.message}` } : issue,
  );
}

const ACTOR_ID = ActorSchema.shape.id;

/**
 * `--actor`, checked once, when the command line is read: every record of the import carries it,
 * so a value the ledger refuses is one error about the option, before the file is read or the
 * database opened, never the same error on every row.
 */
export const parseActorOption = nonBlankOption('--actor', 'name who is importing (an id such as "cli")', ACTOR_ID.maxLength ?? Number.MAX_SAFE_INTEGER);

/**
 * Records the file's rows in the workspace, reading them again from the file a slice at a time:
 * CHUNK rows are checked, handed to the engine in one bulkSetConsent call (one transaction) and
 * counted before the next slice is read, so memory does not grow with the file. `country` (from
 * `--country`) reads the national phone numbers of this import in place of the workspace's
 * default country: each phone is checked with it and handed to the engine in E.164, which no
 * default country changes.
 */
export async function importCsv(
  workspace: WorkspaceEngine,
  file: ImportFile,
  io: CliIo,
  actorId: string,
  country: string | null = null,
  options: ImportOptions = {},
): Promise<ImportSummary> {
  const { header } = file;
  const actor: Actor = { kind: 'user', id: parseActorOption(actorId) };
  const names = new ColumnNames(header);
  const current = await workspace.get();
  const stored = current.settings;
  const settings = { ...stored, defaultCountry: country === null ? stored.defaultCountry : parseCountryOption(country) };
  const listed = new ListedValues(settings);
  const summary: ImportSummary = {
    rows: 0,
    recorded: 0,
    alreadyRecorded: 0,
    repeated: 0,
    notInEffect: 0,
    keyColumn: header.spelled.has('idempotencyKey'),
    rejected: 0,
    warned: 0,
    emptyRows: 0,
    workspace: { id: current.id, name: current.name },
    interrupted: null,
  };
  const progress = progressOn(io.stderr, 'importing [{bar}] {value}/{total} rows');

  async function recordSlice(chunk: readonly CsvRecord[]): Promise<void> {
    const failures: RowFailure[][] = chunk.map(() => []);
    const warnings: RowFailure[][] = chunk.map(() => []);
    const accepted: { index: number; row: BulkRowValues; derivedKey: boolean }[] = [];
    for (const [index, record] of chunk.entries()) {
      const countProblem = valueCountProblem(header, record.values);
      if (countProblem !== undefined) {
        failures[index] = [{ line: record.line, field: '', message: countProblem }];
        continue;
      }
      const values = toBulkRow(header, record.values, listed);
      const derivedKey = values.idempotencyKey === undefined;
      const row = derivedKey ? { ...values, idempotencyKey: derivedIdempotencyKey(file.sha256, record.line) } : values;
      const rowFailures = failuresOf(record.line, row, rowIssues(row, { actor, source: 'bulk' }, settings), names);
      failures[index] = rowFailures;
      // rowIssues read the phone with the same country, so normalizePhone accepts it.
      if (rowFailures.length === 0) accepted.push({ index, derivedKey, row: row.phone === undefined ? row : { ...row, phone: normalizePhone(row.phone, settings.defaultCountry) } });
    }
    const rows = accepted.map((a) => a.row);
    const sent = options.allowErased === true ? rows.map((row) => ({ ...row, allowErased: true })) : rows;
    const results = sent.length > 0 ? await workspace.bulkSetConsent(sent, { source: 'bulk', actor }) : [];
    for (const result of results) {
      const target = accepted[result.row];
      if (!target) continue;
      const line = chunk[target.index]?.line ?? 0;
      if (result.ok) {
        if (target.derivedKey && result.overtakenBy.some((decision) => !decision.idempotencyKey?.startsWith(derivedKeyPrefix(file.sha256)))) {
          // The same bytes imported before, and a decision from elsewhere stands now (a later line
          // of the same file is the file's own): a later export that happens to hold the same lines
          // (a weekly file of one unsubscribe) is not the earlier import run again, and answering
          // it "already recorded" would drop its opt-out unseen. Recording it is no answer either:
          // a re-run after an interruption would then undo the decisions made since. The row is
          // refused with what to do. Every overtaking decision counts, not the one recorded last
          // only: a line of the file recorded after the decision from elsewhere (on a run that
          // finished an interrupted one, or once a held address was let through) overtakes the
          // line on its own channel, while the decision from elsewhere still stands on another,
          // and the same file must get the same answer on every run. Only decisions recorded after
          // the line count (overtakenBy): one that stood before it (a line dated earlier, recorded
          // not in effect) was there on the first run too, which recorded the line.
          failures[target.index] = [{ line, field: '', message: supersededReplayMessage(names, target.row) }];
          continue;
        }
        warnings[target.index] = failuresOf(line, target.row, result.warnings, names);
        if (!result.created) summary.alreadyRecorded++;
        else {
          summary.recorded++;
          if (result.repeated) summary.repeated++;
          if (!result.inEffect) summary.notInEffect++;
        }
        continue;
      }
      failures[target.index] = failuresOf(line, target.row, refusalIssues(result.error, target.row, target.derivedKey, summary.workspace), names);
    }
    // The slice's report goes out now, in the file's line order, and is not kept.
    const rejected: { record: CsvRecord; failures: readonly RowFailure[] }[] = [];
    for (const [index, record] of chunk.entries()) {
      const rowFailures = failures[index] ?? [];
      const rowWarnings = warnings[index] ?? [];
      if (rowFailures.length > 0) {
        summary.rejected++;
        rejected.push({ record, failures: rowFailures });
      }
      if (rowWarnings.length > 0) summary.warned++;
      for (const failure of rowFailures) progress.line(failureLine(failure));
      for (const warning of rowWarnings) progress.line(`warning: line ${warning.line}: ${warning.field}: ${warning.message}`);
    }
    await options.report?.add(rejected);
    summary.rows += chunk.length;
    progress.update(summary.rows);
  }

  let throughLine = header.line;
  async function commit(chunk: readonly CsvRecord[]): Promise<void> {
    await recordSlice(chunk);
    throughLine = chunk.at(-1)?.line ?? throughLine;
  }

  const interrupted = (): boolean => options.signal?.aborted === true;
  progress.start(file.rows);
  try {
    let chunk: CsvRecord[] = [];
    let found = 0;
    for await (const record of importRecords(file)) {
      if (isEmptyRecord(record)) {
        summary.emptyRows++;
        continue;
      }
      // More rows than the check counted: none of them was checked, so none is recorded.
      if (++found > file.rows) throw readDifferently(file, `more than ${file.rows}`, summary);
      chunk.push(record);
      if (chunk.length < CHUNK) continue;
      if (interrupted()) break;
      await commit(chunk);
      chunk = [];
    }
    if (interrupted()) {
      summary.interrupted = { throughLine };
    } else {
      if (chunk.length > 0) await commit(chunk);
      if (found !== file.rows || summary.emptyRows !== file.emptyRows) throw readDifferently(file, String(found), summary);
    }
  } catch (error) {
    throw stoppedPartWay(error, file, summary, throughLine);
  } finally {
    progress.stop();
  }
  return summary;
}

/**
 * A refusal (exit code 2: nothing written) that comes once slices are committed, from a second
 * reading that found the file changed or the engine refusing a whole slice, is a failure part-way
 * (exit code 1) that says what was recorded: a script must not take it for an import that wrote nothing.
 */
function stoppedPartWay(error: unknown, file: ImportFile, summary: ImportSummary, throughLine: number): unknown {
  if (summary.rows === 0 || exitCodeOf(error) !== EXIT_CODES.refused) return error;
  const reason = isConsentryError(error) ? `[${error.code}] ${error.message}` : error instanceof Error ? error.message : String(error);
  const imported = summary.recorded + summary.alreadyRecorded;
  return new CliFailure(
    `${reason}; the import stopped after ${summary.rows} of the ${file.rows} rows of ${file.path} (through line ${throughLine}), ${imported} of them recorded: fix it and import the file again`,
  );
}

/**
 * The second reading did not find the rows the check counted: the file changed during the import
 * (in a way its size, time and inode did not show), and what was recorded may not be what was checked.
 */
function readDifferently(file: ImportFile, found: string, summary: ImportSummary): CliFailure {
  const imported = summary.recorded + summary.alreadyRecorded;
  return new CliFailure(
    `${file.path} read differently the second time (${found} data rows where the check counted ${file.rows}): it changed during the import; ${imported} of its rows were recorded: check it and import it again`,
  );
}

const failureLine = (failure: RowFailure): string => `line ${failure.line}: ${failure.field ? `${failure.field}: ` : ''}${failure.message}`;

/** What an interrupted import says, on stderr, in place of the summary: `rows` handled, the last of them starting on `throughLine`. */
export function interruptedLine(rows: number, throughLine: number): string {
  const resume = 'run the same file again to finish';
  if (rows === 0) return `interrupted: no rows committed; ${resume}`;
  return `interrupted: ${rows} ${rows === 1 ? 'row' : 'rows'} committed (through line ${throughLine}); ${resume}`;
}

function warnedNote(summary: ImportSummary): string {
  const rows = summary.warned;
  return rows === 0 ? '' : ` ${rows} recorded ${rows === 1 ? 'row' : 'rows'} had a value the contact was not given (see the warnings).`;
}

function repeatedNote(summary: ImportSummary): string {
  if (summary.repeated === 0) return '';
  const rows = `${summary.repeated} ${summary.repeated === 1 ? 'row' : 'rows'}`;
  const why = summary.keyColumn
    ? `${summary.repeated === 1 ? 'its' : 'their'} idempotency_key was empty or new`
    : 'without an idempotency_key column, only a re-run of the very same file records nothing';
  return ` ${rows} repeated a status already in force (recorded again; ${why}).`;
}

function notInEffectNote(summary: ImportSummary): string {
  const rows = summary.notInEffect;
  if (rows === 0) return '';
  const them = rows === 1 ? 'it is' : 'they are';
  return ` ${rows} recorded ${rows === 1 ? 'row is' : 'rows are'} older than the decision in force for ${rows === 1 ? 'its' : 'their'} contact, purpose and channel: ${them} kept in the ledger but changed no status and raised no event.`;
}

/**
 * The rows answered "already recorded". A file without an idempotency_key column has its rows
 * keyed by its content and their lines (derivedIdempotencyKey): none is already recorded but on a
 * run of a file with the same content, which is what the count then says, and a count of 0 is
 * left out rather than speak of a column the file does not have.
 */
function alreadyRecordedNote(summary: ImportSummary): string {
  if (summary.keyColumn) return `, ${summary.alreadyRecorded} already recorded (idempotency key)`;
  return summary.alreadyRecorded === 0 ? '' : `, ${summary.alreadyRecorded} already recorded (the same file was imported before)`;
}

function emptyRowsNote(summary: ImportSummary): string {
  const rows = summary.emptyRows;
  return rows === 0 ? '' : ` ${rows} empty ${rows === 1 ? 'row' : 'rows'} skipped.`;
}

/**
 * The summary, after the report's lines (importCsv wrote them as it went): the counts, then where
 * the rows went, so a wrong working directory or a mistyped `--db` shows. `database`: the file as
 * resolvedDatabasePath names it.
 */
export function printImportSummary(summary: ImportSummary, io: CliIo, database?: string): void {
  const imported = summary.recorded + summary.alreadyRecorded;
  writeLine(
    io.stdout,
    `Imported ${imported} of ${summary.rows} rows: ${summary.recorded} recorded${alreadyRecordedNote(summary)}; ${summary.rejected} row(s) rejected and left unchanged.${emptyRowsNote(summary)}${warnedNote(summary)}${repeatedNote(summary)}${notInEffectNote(summary)}`,
  );
  writeLine(io.stdout, `Into workspace ${workspaceLabel(summary.workspace)}${database === undefined ? '' : ` of ${database}`}.`);
}

/** Where interruptions come from: the process, or a test's emitter. */
export interface InterruptSource {
  once(event: 'SIGINT' | 'SIGTERM', listener: () => void): unknown;
  removeListener(event: 'SIGINT' | 'SIGTERM', listener: () => void): unknown;
}

/** An exit code of 128 + SIGINT's number, as a shell reports a command Ctrl-C stopped. */
export const INTERRUPTED_EXIT_CODE = EXIT_CODES.interrupted;

/** What each exit code of `import` means, for `import --help`. */
export const IMPORT_EXIT_HELP = `
Exit codes: 0 every row recorded (or already recorded); 1 some rows rejected
(each named on stderr, and written to --report), or the import stopped
part-way after recording rows; 2 nothing imported: a usage error, a bad
option value, or a file that is missing, unreadable, not UTF-8, not valid CSV
or without a valid header; 130 interrupted (the rows committed stay).
`;

export interface ImportCommandOptions extends DatabaseOptions {
  actor: string;
  country?: string;
  /** `--report`: the file the rejected rows are written to. */
  report?: string;
  /** `--json`: the summary as one JSON object on stdout, in place of its sentences. */
  json?: boolean;
  /** `--allow-erased`: see ImportOptions. */
  allowErased?: boolean;
}

/** The summary as `import --json` prints it: the counts, where the rows went, and what the command made. */
export interface ImportSummaryJson {
  rows: number;
  imported: number;
  recorded: number;
  alreadyRecorded: number;
  repeated: number;
  notInEffect: number;
  rejected: number;
  warned: number;
  emptyRows: number;
  keyColumn: boolean;
  workspace: { id: string; name: string };
  /** The database file, made absolute. */
  database: string;
  createdDatabase: boolean;
  createdWorkspace: boolean;
  /** The `--report` file, made absolute; null without `--report`. */
  report: string | null;
  interrupted: { throughLine: number } | null;
}

export function importSummaryJson(
  summary: ImportSummary,
  where: { database: string; createdDatabase: boolean; createdWorkspace: boolean; report: string | null },
): ImportSummaryJson {
  const { rows, recorded, alreadyRecorded, repeated, notInEffect, rejected, warned, emptyRows, keyColumn, workspace, interrupted } = summary;
  return {
    rows,
    imported: recorded + alreadyRecorded,
    recorded,
    alreadyRecorded,
    repeated,
    notInEffect,
    rejected,
    warned,
    emptyRows,
    keyColumn,
    workspace: { id: workspace.id, name: workspace.name },
    ...where,
    interrupted,
  };
}

/**
 * `consentry import`: checks `--report` and the file, opens (or makes) the database, records the
 * rows and prints the summary (`--json`: as one JSON object); returns the exit code (EXIT_CODES:
 * 1 when a row was rejected). SIGINT and SIGTERM (Ctrl-C, a supervisor stopping the job) stop it
 * between two slices: the transaction under way commits, the progress bar is taken down
 * (cli-progress turns the terminal's line wrap off while it draws), and one line says how far it
 * came. A second signal is not caught: it ends the process at once.
 */
export async function importCommand(file: string, options: ImportCommandOptions, io: CliIo, signals: InterruptSource = process): Promise<number> {
  const interruption = new AbortController();
  const interrupt = (): void => interruption.abort();
  signals.once('SIGINT', interrupt);
  signals.once('SIGTERM', interrupt);
  try {
    // Before the file is read, which may take a while: a report that cannot be written is refused at once.
    if (options.report !== undefined) await checkReportPath(options.report);
    const checking = progressOn(io.stderr, 'checking  [{bar}] {percentage}% of the file');
    let csv: ImportFile;
    try {
      csv = await readImportFile(file, checking, { signal: interruption.signal });
    } catch (error) {
      if (!(error instanceof ReadInterrupted)) throw error;
      checking.stop();
      writeLine(io.stderr, 'interrupted while checking the file: nothing was imported');
      return INTERRUPTED_EXIT_CODE;
    } finally {
      checking.stop();
    }
    const path = databasePath(options, io);
    const database = resolvedDatabasePath(path);
    const creating = isNewDatabase(path);
    let createdWorkspace = false;
    let reportPath: string | null = null;
    const summary = await withEngine(options, io, async (_engine, workspace, opened) => {
      createdWorkspace = opened.workspaceCreated;
      if (creating) writeLine(io.stderr, `created new database ${database}`);
      else if (opened.workspaceCreated) {
        writeLine(io.stderr, `created new workspace ${workspaceLabel(await workspace.get())} in ${database}`);
      }
      const report = options.report === undefined ? undefined : await RejectedRowsReport.create(options.report, csv.layout.header ?? []);
      reportPath = report?.path ?? null;
      try {
        return await importCsv(workspace, csv, io, options.actor, options.country ?? null, {
          signal: interruption.signal,
          ...(report ? { report } : {}),
          ...(options.allowErased === true ? { allowErased: true } : {}),
        });
      } finally {
        await report?.close();
      }
    });
    if (options.json === true) {
      writeLine(io.stdout, JSON.stringify(importSummaryJson(summary, { database, createdDatabase: creating, createdWorkspace, report: reportPath })));
    }
    if (summary.interrupted !== null) {
      writeLine(io.stderr, interruptedLine(summary.rows, summary.interrupted.throughLine));
      return INTERRUPTED_EXIT_CODE;
    }
    if (options.json !== true) printImportSummary(summary, io, database);
    return summary.rejected > 0 ? EXIT_CODES.failed : EXIT_CODES.done;
  } finally {
    signals.removeListener('SIGINT', interrupt);
    signals.removeListener('SIGTERM', interrupt);
  }
}

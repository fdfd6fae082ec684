import { constants } from 'node:fs';
import { access, open, stat, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import type { CsvRecord } from './import-file.js';
import { cannotCreateFilesIn, CliRefusal, whyCannotCreate } from './io.js';

/** One bad field of a row, as the import reports it on stderr (`line 4: channel: …`). */
export interface ReportedFailure {
  line: number;
  field: string;
  message: string;
}

/** The columns put in front of a rejected row's own values, so that a row of any length leaves them where they are. */
const REPORT_COLUMNS = ['line', 'field', 'message'] as const;

/**
 * What a report starts with, after its byte order mark: a file that does is one an earlier import
 * wrote, and may be written over. Any other file is refused, so that a mistyped `--report` never
 * overwrites the database, the file being imported, or anything else.
 */
const REPORT_START = /^(?:\uFEFF)?line,field,message(?:,|\r?\n|$)/;

/** The UTF-8 byte order mark Excel needs to read accented letters right, as `export` writes it; `import` skips it. */
const UTF8_BOM = '\uFEFF';

function isMissing(error: unknown): boolean {
  return error instanceof Error && Reflect.get(error, 'code') === 'ENOENT';
}

async function startOf(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(64);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

/**
 * `--report`, checked before the import reads its file or opens the database: a new file in a
 * directory this user may write in, or the report of an earlier import, which is replaced.
 */
export async function checkReportPath(path: string): Promise<void> {
  if (path.trim() === '') throw new CliRefusal('--report must name a file');
  let isFile: boolean;
  try {
    isFile = (await stat(path)).isFile();
  } catch (error) {
    if (!isMissing(error)) throw new CliRefusal(`--report: cannot use ${path}: ${error instanceof Error ? error.message : String(error)}`);
    const directory = dirname(resolve(path));
    try {
      await access(directory, constants.W_OK | constants.X_OK);
    } catch (cause) {
      throw new CliRefusal(`--report: cannot create ${path}: ${whyCannotCreate(directory, cause) ?? cannotCreateFilesIn(directory)}`);
    }
    return;
  }
  if (!isFile) throw new CliRefusal(`--report: ${path} is not a regular file`);
  let start: string;
  try {
    start = await startOf(path);
    await access(path, constants.W_OK);
  } catch {
    throw new CliRefusal(`--report: this user cannot read and write ${path}`);
  }
  if (!REPORT_START.test(start)) {
    throw new CliRefusal(`--report: ${path} exists and is not a report of rejected rows (its first line is not line,field,message,…): name a new file, so that no other file is written over`);
  }
}

/**
 * The rejected rows of an import as a CSV file: `line`, `field` and `message`, then the row's
 * values exactly as the import read them, under the file's own header. A row with several bad
 * fields is one row, its fields and messages one to a line of their cells, so that the fixed rows
 * can be imported again, once the three columns are taken off, without any row twice. Written a
 * slice at a time; readable by its owner only, like the database (it holds the same personal data).
 */
export class RejectedRowsReport {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
  ) {}

  /** Creates the file, or replaces an earlier report (checkReportPath), and writes its header. */
  static async create(path: string, header: readonly string[]): Promise<RejectedRowsReport> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'w', 0o600);
      // The mode of open() applies only to a new file: a report written over keeps its own, so it is set here.
      await handle.chmod(0o600);
    } catch (error) {
      throw new CliRefusal(`--report: cannot write ${path}: ${error instanceof Error ? error.message : String(error)}`);
    }
    const report = new RejectedRowsReport(resolve(path), handle);
    await report.write([[...REPORT_COLUMNS, ...header]], UTF8_BOM);
    return report;
  }

  /** Adds the rows of one slice, in the file's line order. */
  async add(rows: readonly { record: CsvRecord; failures: readonly ReportedFailure[] }[]): Promise<void> {
    if (rows.length === 0) return;
    await this.write(
      rows.map(({ record, failures }) => [
        String(record.line),
        failures.map((failure) => failure.field).join('\n'),
        failures.map((failure) => failure.message).join('\n'),
        ...record.values,
      ]),
    );
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  private async write(rows: readonly (readonly string[])[], before = ''): Promise<void> {
    await this.handle.write(`${before}${stringify(rows.map((row) => [...row]))}`);
  }
}

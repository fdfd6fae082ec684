import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { z } from 'zod';
import { withEngine } from '../../src/cli/database.js';
import { importCsv, printImportSummary, readImportFile } from '../../src/cli/import.js';
import type { CliIo } from '../../src/cli/io.js';
import { cli, useTemporaryDatabase, type CliRun, exportedLedger, reportLines, stderrLines } from './helpers.js';

// Each file handle import opens is wrapped so a test can count the reads made through it; every
// other call opens the real file as it is.
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return { ...actual, open: vi.fn(actual.open) };
});

let dir: string;
let db: string;
useTemporaryDatabase('consentry-import-stream-', (paths) => {
  ({ dir, db } = paths);
});

afterEach(() => {
  vi.mocked(open).mockReset();
});

function writeCsv(content: string | Buffer, name = 'consents.csv'): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}

const LedgerSchema = z.array(z.object({ email: z.string().nullable(), explanation: z.string().nullable() }));

const ledger = () => exportedLedger(db, LedgerSchema);


function quietIo(): CliIo {
  const sink = (): PassThrough => new PassThrough().resume();
  return { stdin: new PassThrough(), stdout: sink(), stderr: sink(), env: {} };
}

/** The size of the pieces import reads a file in. */
const PIECE = 64 * 1024;

/** Builds a CSV text row by row, keeping count of its UTF-8 bytes and of the line the next row starts on. */
class CsvText {
  private readonly rows: string[] = [];
  bytes = 0;
  nextLine = 1;

  constructor(private readonly newline: string) {}

  add(row: string): number {
    const line = this.nextLine;
    this.rows.push(row);
    this.bytes += Buffer.byteLength(row + this.newline);
    this.nextLine += row.split(/\r\n|\n|\r/).length;
    return line;
  }

  /** Opt-out rows of made-up people until the text is within `room` bytes of `offset`. */
  fillTo(offset: number, room = 300): void {
    for (let index = this.rows.length; this.bytes < offset - room; index++) this.add(`filler${index}@example.com,marketing,email,opted_out,`);
  }

  /** Adds `start + padding + marker + end`, the padding sized so that `marker` begins at byte `offset`; returns the padding. */
  place(offset: number, start: string, marker: string, end: string): string {
    this.fillTo(offset);
    const padding = 'x'.repeat(offset - this.bytes - Buffer.byteLength(start));
    this.add(`${start}${padding}${marker}${end}`);
    return padding;
  }

  text(): string {
    return this.rows.map((row) => row + this.newline).join('');
  }
}

describe('consentry import: a file read a piece at a time', () => {
  it('reads values and line numbers right where a piece ends inside a character, between CR and LF, and inside a quoted line break', async () => {
    const csv = new CsvText('\r\n');
    csv.add('email,purpose,channel,status,explanation');
    // "€" is E2 82 AC: its first byte ends the first piece.
    const euroPadding = csv.place(PIECE - 1, 'ana@example.com,marketing,email,opted_out,"', '€', ' voucher"');
    // The CR of the row's line end is the last byte of the second piece, its LF the first of the third.
    csv.place(2 * PIECE - 1, 'bob@example.com,marketing,pigeon,opted_out,', '', '');
    const bobLine = csv.nextLine - 1;
    // A quoted CRLF split the same way: one line break, not two.
    const quotedPadding = csv.place(3 * PIECE - 1, 'carla@example.com,marketing,email,opted_out,"', '\r\n', 'second line"');
    // A four-byte character split in the middle.
    const emojiPadding = csv.place(4 * PIECE - 2, 'dan@example.com,marketing,email,opted_out,"', '😀', '"');
    const eveLine = csv.add('eve@example.com,marketing,email,opted_maybe,');
    const bytes = Buffer.from(csv.text());
    expect([bytes[PIECE - 1], bytes[2 * PIECE - 1], bytes[2 * PIECE], bytes[3 * PIECE - 1], bytes[3 * PIECE], bytes[4 * PIECE - 2]]).toEqual([0xe2, 0x0d, 0x0a, 0x0d, 0x0a, 0xf0]);

    const run = await cli(['import', writeCsv(bytes), '--db', db]);
    expect(run.code).toBe(1);
    expect(reportLines(run)).toEqual([expect.stringMatching(new RegExp(`^line ${bobLine}: channel: `)), expect.stringMatching(new RegExp(`^line ${eveLine}: status: `))]);
    const explanations = new Map((await ledger()).map((record) => [record.email, record.explanation]));
    expect(explanations.get('ana@example.com')).toBe(`${euroPadding}€ voucher`);
    expect(explanations.get('carla@example.com')).toBe(`${quotedPadding}\r\nsecond line`);
    expect(explanations.get('dan@example.com')).toBe(`${emojiPadding}😀`);
  });

  it('reads UTF-16 whose surrogate pair is split between two pieces', async () => {
    const lines = ['email\tpurpose\tchannel\tstatus\texplanation'];
    // After the 2-byte byte order mark, each UTF-16 code unit is 2 bytes: the high surrogate ends the first piece.
    const unitsBeforeEmoji = (PIECE - 2 - 2) / 2;
    const length = (): number => lines.reduce((sum, line) => sum + line.length + 2, 0);
    while (length() < unitsBeforeEmoji - 300) lines.push(`filler${lines.length}@example.com\tmarketing\temail\topted_out\t`);
    const start = 'zoe@example.com\tmarketing\temail\topted_out\t';
    const padding = 'x'.repeat(unitsBeforeEmoji - length() - start.length);
    lines.push(`${start}${padding}😀`, 'ana@example.com\tmarketing\tsms\topted_out\t');
    const text = `\uFEFF${lines.join('\r\n')}\r\n`;
    expect(text.indexOf('😀')).toBe(unitsBeforeEmoji + 1);
    const run = await cli(['import', writeCsv(Buffer.from(text, 'utf16le')), '--db', db]);
    expect(stderrLines(run)).toEqual([`created new database ${db}`]);
    const records = await ledger();
    expect(records).toHaveLength(lines.length - 1);
    expect(records.slice(-2).map((record) => [record.email, record.explanation])).toEqual([
      ['zoe@example.com', `${padding}😀`],
      ['ana@example.com', null],
    ]);
  });

  it('refuses a file with a byte that is not UTF-8 far down before writing any of its rows', async () => {
    expect((await cli(['import', writeCsv('email,purpose,channel,status\nana@example.com,marketing,email,opted_out\n', 'setup.csv'), '--db', db])).code).toBe(0);
    const rows = Array.from({ length: 3000 }, (_, index) => `person${index}@example.com,marketing,email,opted_out,Fair stand ${index}`);
    const file = writeCsv(
      Buffer.concat([Buffer.from(['email,purpose,channel,status,explanation', ...rows, ''].join('\n')), Buffer.from('bob@example.com,marketing,email,opted_out,M\xfcnchen\n', 'latin1')]),
    );
    const run = await cli(['import', file, '--db', db]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(stderrLines(run)).toEqual([`error: ${file} is not UTF-8: byte 0xFC on line 3002; save it as "CSV UTF-8 (Comma delimited)"`]);
    expect((await ledger()).map((record) => record.email)).toEqual(['ana@example.com']);
  });

  it('names the encoding rather than bad CSV or a bad header earlier in a file that is not UTF-8', async () => {
    const latin1Tail = Buffer.from(`${Array.from({ length: 2000 }, (_, index) => `p${index}@example.com,marketing,email,opted_out,x`).join('\n')}\nbob@example.com,marketing,email,opted_out,Caf\xe9\n`, 'latin1');
    const badQuote = writeCsv(Buffer.concat([Buffer.from('email,purpose,channel,status,explanation\nana@example.com,marketing,email,opted_out,a "quote" inside\n'), latin1Tail]), 'quote.csv');
    const quoteRun = await cli(['import', badQuote, '--db', db]);
    expect(stderrLines(quoteRun)).toEqual([`error: ${badQuote} is not UTF-8: byte 0xE9 on line 2003; save it as "CSV UTF-8 (Comma delimited)"`]);

    const badHeader = writeCsv(Buffer.concat([Buffer.from('email,purpose,channel\n'), latin1Tail]), 'header.csv');
    const headerRun = await cli(['import', badHeader, '--db', db]);
    expect(stderrLines(headerRun)).toEqual([`error: ${badHeader} is not UTF-8: byte 0xE9 on line 2002; save it as "CSV UTF-8 (Comma delimited)"`]);
    expect(existsSync(db)).toBe(false);
  });

  it('still names the line of the record csv-parse stops at in a file longer than a piece', async () => {
    const rows = Array.from({ length: 3000 }, (_, index) => `person${index}@example.com,marketing,email,opted_out,"Fair,\nstand ${index}"`);
    const file = writeCsv(['email,purpose,channel,status,explanation', ...rows, 'bob@example.com,marketing,email,opted_out,"never closed', ''].join('\n'));
    const run = await cli(['import', file, '--db', db]);
    expect(run.code).toBe(2);
    expect(stderrLines(run)).toEqual([`error: ${file} is not valid CSV: the record on line 6002: a quoted value is not closed`]);
    expect(existsSync(db)).toBe(false);
  });

  it('counts every row of a file of several slices in the summary and the progress bar', async () => {
    const rows = Array.from({ length: 1201 }, (_, index) => `person${index}@example.com,marketing,email,opted_out`);
    const file = writeCsv(['email,purpose,channel,status', ...rows].join('\n'));
    const stdout = new PassThrough();
    const stderr = Object.assign(new PassThrough(), { isTTY: true });
    let out = '';
    let err = '';
    stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const io: CliIo = { stdin: new PassThrough(), stdout, stderr, env: {} };
    const checked = await readImportFile(file);
    const summary = await withEngine({ db }, io, (_engine, workspace) => importCsv(workspace, checked, io, 'cli'));
    printImportSummary(summary, io);
    expect(out).toContain('Imported 1201 of 1201 rows: 1201 recorded');
    expect(err).toContain('1201/1201 rows');
  });
});

describe('consentry import: the second reading', () => {
  it('records the first slice of rows once it has read them, not the whole file', async () => {
    const explanation = 'Signed up at the fair, stand 12. '.repeat(30);
    const rows = Array.from({ length: 2000 }, (_, index) => `person${index}@example.com,marketing,email,opted_out,"${explanation}"`);
    const file = writeCsv(['email,purpose,channel,status,explanation', ...rows].join('\n'));
    const pieces = Math.ceil(Buffer.byteLength(['email,purpose,channel,status,explanation', ...rows].join('\n')) / PIECE);
    expect(pieces).toBeGreaterThan(25);

    const actual = await vi.importActual<typeof import('node:fs/promises')>('node:fs/promises');
    const reads: MockInstance<FileHandle['read']>[] = [];
    vi.mocked(open).mockImplementation(async (path, flags, mode) => {
      const handle = await actual.open(path, flags, mode);
      reads.push(vi.spyOn(handle, 'read'));
      return handle;
    });

    const io = quietIo();
    const checked = await readImportFile(file);
    expect(reads).toHaveLength(1);
    expect(reads[0]?.mock.calls.length).toBeGreaterThanOrEqual(pieces);
    const piecesReadAtEachSlice: number[] = [];
    const summary = await withEngine({ db }, io, (_engine, workspace) =>
      importCsv(
        {
          ...workspace,
          bulkSetConsent: (slice, by) => {
            piecesReadAtEachSlice.push(reads[1]?.mock.calls.length ?? 0);
            return workspace.bulkSetConsent(slice, by);
          },
        },
        checked,
        io,
        'cli',
      ),
    );
    expect(summary.recorded).toBe(2000);
    expect(piecesReadAtEachSlice).toHaveLength(4);
    // A slice of 500 rows is about a quarter of the file: at most that, and what csv-parse holds back, was read when it was recorded.
    expect(piecesReadAtEachSlice[0]).toBeGreaterThan(0);
    expect(piecesReadAtEachSlice[0]).toBeLessThanOrEqual(Math.ceil(pieces / 4) + 2);
    expect(piecesReadAtEachSlice[2]).toBeLessThan(pieces);
  });

  it('refuses a file changed after it was checked, before writing any row', async () => {
    const file = writeCsv('email,purpose,channel,status\nana@example.com,marketing,email,opted_out\n');
    const checked = await readImportFile(file);
    appendFileSync(file, 'bob@example.com,marketing,email,opted_in\n');
    const io = quietIo();
    await expect(withEngine({ db }, io, (_engine, workspace) => importCsv(workspace, checked, io, 'cli'))).rejects.toThrow(
      `${file} changed after it was checked; nothing was imported: import it again`,
    );
    expect(await ledger()).toEqual([]);
  });
});

describe('consentry import: the report as it goes', () => {
  function capturedIo(isTTY: boolean): { io: CliIo; stderr: () => string } {
    const stdout = new PassThrough();
    const stderr = Object.assign(new PassThrough(), { isTTY });
    let err = '';
    stdout.resume();
    stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    return { io: { stdin: new PassThrough(), stdout, stderr, env: {} }, stderr: () => err };
  }

  const sliceRows = (from: number, count: number, channel: (index: number) => string) =>
    Array.from({ length: count }, (_, offset) => `person${from + offset}@example.com,marketing,${channel(from + offset)},opted_out`);

  it('writes a slice’s bad rows before the next slice is recorded, and keeps only counts', async () => {
    // Line 2 + index: rows 3 and 700 are bad (lines 5 and 702), one in each of the first two slices.
    const rows = sliceRows(0, 1100, (index) => (index === 3 || index === 700 ? 'pigeon' : 'email'));
    const file = writeCsv(['email,purpose,channel,status', ...rows].join('\n'));
    const { io, stderr } = capturedIo(false);
    const checked = await readImportFile(file);
    const reportAtEachSlice: string[][] = [];
    const summary = await withEngine({ db }, io, (_engine, workspace) =>
      importCsv(
        {
          ...workspace,
          bulkSetConsent: (slice, by) => {
            reportAtEachSlice.push(stderr().split('\n').filter((line) => line.startsWith('line ')));
            return workspace.bulkSetConsent(slice, by);
          },
        },
        checked,
        io,
        'cli',
      ),
    );
    expect(reportAtEachSlice.map((lines) => lines.map((line) => line.split(':')[0]))).toEqual([[], ['line 5'], ['line 5', 'line 702']]);
    expect(summary).toMatchObject({ rows: 1100, recorded: 1098, rejected: 2, warned: 0 });
  });

  it('on a terminal, writes the report lines with the bar, and shows how much of the file was checked', async () => {
    const file = writeCsv(['email,purpose,channel,status', ...sliceRows(0, 3, (index) => (index === 1 ? 'pigeon' : 'email'))].join('\n'));
    const run = capturedIo(true);
    const { runCli } = await import('../../src/cli.js');
    const code = await runCli(['import', file, '--db', db], run.io);
    expect(code).toBe(1);
    expect(run.stderr()).toContain('checking  [');
    expect(run.stderr()).toContain('100% of the file');
    expect(run.stderr()).toContain('line 3: channel: "pigeon" is not one of whatsapp, sms, email, messenger, telegram, webchat, any');
    expect(run.stderr()).toContain('3/3 rows');
    expect((await ledger()).map((row) => row.email)).toEqual(['person0@example.com', 'person2@example.com']);
  });
});

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { cli, useTemporaryDatabase, type CliRun, exportedLedger, reportLines, stderrLines } from './helpers.js';

// Permission denied cannot be made with chmod for a process running as root: open is wrapped so
// one test can fail it the way the system does; every other call opens the real file.
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return { ...actual, open: vi.fn(actual.open) };
});

let dir: string;
let db: string;
useTemporaryDatabase('consentry-import-formats-', (paths) => {
  ({ dir, db } = paths);
});

function writeCsv(content: string | Buffer, name = 'consents.csv'): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}

function importFile(file: string): Promise<CliRun> {
  return cli(['import', file, '--db', db]);
}

const LedgerSchema = z.array(
  z.object({
    email: z.string().nullable(),
    phone: z.string().nullable(),
    channel: z.string(),
    status: z.string(),
    explanation: z.string().nullable(),
    occurred_at: z.string(),
  }),
);

const ledger = () => exportedLedger(db, LedgerSchema);


/** Windows-1252, as Excel's "CSV (Comma delimited)" writes text: one byte per character. */
const windows1252 = (text: string): Buffer => Buffer.from(text, 'latin1');

const UTF8_BOM = '\uFEFF';

function utf16be(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf16le');
  return bytes.swap16();
}

describe('consentry import: the file must be UTF-8', () => {
  it('refuses a Windows-1252 file before writing anything, naming the line and the byte', async () => {
    const setup = writeCsv('email,purpose,channel,status\r\nana@example.com,marketing,email,opted_out\r\n', 'setup.csv');
    expect((await importFile(setup)).code).toBe(0);

    const file = writeCsv(
      windows1252(
        [
          'email,purpose,channel,status,legal_basis,explanation',
          'bob@example.com,marketing,email,opted_out,,',
          'mueller@example.com,marketing,email,opted_in,CONSENT_WITH_NOTICE,Einwilligung über Messe München',
          '',
        ].join('\r\n'),
      ),
    );
    const run = await importFile(file);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(stderrLines(run)).toEqual([`error: ${file} is not UTF-8: byte 0xFC on line 3; save it as "CSV UTF-8 (Comma delimited)"`]);
    expect((await ledger()).map((record) => record.email)).toEqual(['ana@example.com']);
    const history = await cli(['history', 'bob@example.com', '--db', db]);
    expect(history.code).toBe(1);
    expect(history.stderr).toContain('No contact bob@example.com');
  });

  it('names the byte that starts the bad sequence, counting a line break inside a quoted value once, and creates no database', async () => {
    const file = writeCsv(
      Buffer.concat([
        Buffer.from(`${UTF8_BOM}email,purpose,channel,status,explanation\r\nana@example.com,marketing,email,opted_out,"Paper form,\r\nsecond page \uFFFD"\r\n`),
        windows1252('bob@example.com,marketing,email,opted_out,Café\r\n'),
      ]),
    );
    const run = await importFile(file);
    expect(run.code).toBe(2);
    expect(stderrLines(run)).toEqual([`error: ${file} is not UTF-8: byte 0xE9 on line 4; save it as "CSV UTF-8 (Comma delimited)"`]);
    expect(existsSync(db)).toBe(false);
  });

  it('reads UTF-16 with a byte order mark, as Excel saves "Unicode Text" (tab-separated), and big-endian too', async () => {
    const unicodeText = writeCsv(
      Buffer.from(`${UTF8_BOM}email\tpurpose\tchannel\tstatus\texplanation\r\nzoe@example.com\tmarketing\temail\topted_out\tZoë, por teléfono\r\nana@example.com\tmarketing\tpigeon\topted_out\t\r\n`, 'utf16le'),
    );
    const run = await importFile(unicodeText);
    expect(run.code).toBe(1);
    expect(reportLines(run)).toEqual([expect.stringMatching(/^line 3: channel: /)]);

    const bigEndian = writeCsv(utf16be(`${UTF8_BOM}email,purpose,channel,status,explanation\r\njose@example.com,marketing,sms,opted_out,Llamada: «no más»\r\n`), 'be.csv');
    expect((await importFile(bigEndian)).code).toBe(0);
    expect((await ledger()).map((record) => [record.email, record.explanation])).toEqual([
      ['zoe@example.com', 'Zoë, por teléfono'],
      ['jose@example.com', 'Llamada: «no más»'],
    ]);
  });
});

describe('consentry import: the delimiter', () => {
  it('reads a semicolon-separated file with a byte order mark and a quoted value holding a comma and a semicolon', async () => {
    const file = writeCsv(
      `${UTF8_BOM}${[
        'Email ; Purpose;Channel;Status;Legal_Basis;Explanation',
        'ana@example.com;marketing;email;opted_in;CONSENT_WITH_NOTICE;"Fair, stand 3; hall B"',
        'bob@example.com;marketing;pigeon;opted_out;;',
        'carla@example.com;marketing;sms;opted_out;;1,5 € voucher',
        '',
      ].join('\r\n')}`,
    );
    const run = await importFile(file);
    expect(run.code).toBe(1);
    expect(reportLines(run)).toEqual([expect.stringMatching(/^line 3: Channel: /)]);
    expect(run.stdout).toContain('Imported 2 of 3 rows');
    expect((await ledger()).map((record) => [record.email, record.explanation])).toEqual([
      ['ana@example.com', 'Fair, stand 3; hall B'],
      ['carla@example.com', '1,5 € voucher'],
    ]);
  });

  it('reads a tab-separated file, with empty first values, skipping a row of empty values, on the right lines', async () => {
    const file = writeCsv(
      [
        'email\tphone\tpurpose\tchannel\tstatus\texplanation',
        '\t+34600000001\tmarketing\tsms\topted_out\t"said ""stop"", then left"',
        '\t\t\t\t\t',
        'ana@example.com\t\tmarketing\temail\topted_out\t',
        '\t\tmarketing\tpigeon\topted_out\t',
        '',
      ].join('\n'),
    );
    const run = await importFile(file);
    expect(run.code).toBe(1);
    expect(reportLines(run)).toEqual([expect.stringMatching(/^line 5: email, phone: a row needs/), expect.stringMatching(/^line 5: channel: /)]);
    expect(run.stdout).toContain('Imported 2 of 3 rows: 2 recorded; 1 row(s) rejected and left unchanged. 1 empty row skipped.');
    expect((await ledger()).map((record) => [record.phone ?? record.email, record.explanation])).toEqual([
      ['+34600000001', 'said "stop", then left'],
      ['ana@example.com', null],
    ]);
  });

  it('honours and skips an Excel "sep=" line, which is line 1 of the file in the line numbers', async () => {
    const file = writeCsv(
      [
        'sep=;',
        'email;purpose;channel;status;explanation',
        'ana@example.com;marketing;email;opted_out;"Phone call;',
        'second page"',
        '',
        'bob@example.com;marketing;pigeon;opted_out;',
        '',
      ].join('\r\n'),
    );
    const run = await importFile(file);
    expect(run.code).toBe(1);
    expect(reportLines(run)).toEqual([expect.stringMatching(/^line 6: channel: /)]);
    expect(run.stderr).not.toContain('sep=');
    expect((await ledger()).map((record) => record.explanation)).toEqual(['Phone call;\r\nsecond page']);

    const badHeader = await importFile(writeCsv('sep=;\r\nemail;purpose;channel\r\nana@example.com;marketing;email\r\n', 'header.csv'));
    expect(badHeader.code).toBe(2);
    expect(badHeader.stderr).toContain('the header on line 2 is not valid: missing column(s): status');
  });

  it('uses the delimiter a "sep=" line after a byte order mark names, even one that is none of comma, semicolon or tab', async () => {
    const file = writeCsv(`${UTF8_BOM}sep=|\nemail|purpose|channel|status|explanation\nana@example.com|marketing|email|opted_out|a, b; c\n`);
    const run = await importFile(file);
    expect(run.code).toBe(0);
    expect((await ledger()).map((record) => record.explanation)).toEqual(['a, b; c']);
  });

  it('reports a header it cannot split into known columns column by column, never a quote further down', async () => {
    const semicolons = await importFile(writeCsv('Correo;Finalidad;Canal;Estado\r\nana@example.com;marketing;email;"Fair, stand 3"\r\n'));
    expect(semicolons.code).toBe(2);
    expect(stderrLines(semicolons)).toEqual([expect.stringContaining('the header on line 1 is not valid: unknown column(s) "Correo", "Finalidad", "Canal", "Estado"')]);

    const tabs = await importFile(writeCsv('Correo\tFinalidad\r\nana@example.com\t"Fair, stand 3"\r\n', 'tabs.csv'));
    expect(tabs.code).toBe(2);
    expect(tabs.stderr).toContain('unknown column(s) "Correo", "Finalidad"');
    expect(tabs.stderr).not.toContain('quote');
    expect(await ledger()).toEqual([]);
  });

  it('keeps reading a comma-separated file by commas when its values hold semicolons and tabs', async () => {
    const file = writeCsv(
      ['email,purpose,channel,status,explanation', 'ana@example.com,marketing,email,opted_out,"a; b\tc"', 'bob@example.com,marketing,email,opted_out,x;y', ''].join('\n'),
    );
    const run = await importFile(file);
    expect(run.code).toBe(0);
    expect((await ledger()).map((record) => record.explanation)).toEqual(['a; b\tc', 'x;y']);
  });
});

describe('consentry import: a file that cannot be read', () => {
  it('says there is no such file', async () => {
    const missing = join(dir, 'missing.csv');
    const run = await importFile(missing);
    expect(run.code).toBe(2);
    expect(stderrLines(run)).toEqual([`error: Cannot read ${missing}: no such file`]);
    expect(existsSync(db)).toBe(false);
  });

  it('says the path is a directory', async () => {
    const folder = join(dir, 'exports');
    mkdirSync(folder);
    const run = await importFile(folder);
    expect(run.code).toBe(2);
    expect(stderrLines(run)).toEqual([`error: Cannot read ${folder}: it is a directory`]);
  });

  it('says permission is denied', async () => {
    const file = writeCsv('email,purpose,channel,status\nana@example.com,marketing,email,opted_out\n');
    vi.mocked(open).mockRejectedValueOnce(Object.assign(new Error(`EACCES: permission denied, open '${file}'`), { code: 'EACCES', syscall: 'open', path: file }));
    const run = await importFile(file);
    expect(run.code).toBe(2);
    expect(stderrLines(run)).toEqual([`error: Cannot read ${file}: permission denied`]);
    expect(existsSync(db)).toBe(false);
  });
});

describe('consentry import: occurred_at', () => {
  it('names the expected form, refusing a spreadsheet date and time without a zone rather than guessing one', async () => {
    const file = writeCsv(
      [
        'email,purpose,channel,status,Occurred_At',
        'ana@example.com,marketing,email,opted_out,2026-03-01 10:00:00',
        'bob@example.com,marketing,email,opted_out,01/03/2026',
        'carla@example.com,marketing,email,opted_out,2026-03-01T10:00:00+01:00',
      ].join('\n'),
    );
    const run = await importFile(file);
    expect(run.code).toBe(1);
    expect(reportLines(run)).toEqual([
      'line 2: Occurred_At: "2026-03-01 10:00:00" has no time zone: write it in ISO 8601 with a time zone, e.g. 2026-03-01T10:00:00Z (UTC) or 2026-03-01T10:00:00+01:00',
      'line 3: Occurred_At: "01/03/2026" is not a date and time in ISO 8601 with a time zone, e.g. 2026-03-01T10:00:00Z (UTC) or 2026-03-01T10:00:00+01:00',
    ]);
    expect((await ledger()).map((record) => [record.email, record.occurred_at])).toEqual([['carla@example.com', '2026-03-01T09:00:00.000Z']]);
  });
});

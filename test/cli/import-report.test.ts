import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { cli, exportedLedger, reportLines, useTemporaryDatabase } from './helpers.js';

let dir: string;
let db: string;
useTemporaryDatabase('consentry-import-report-', (paths) => {
  ({ dir, db } = paths);
});

function writeCsv(content: string, name = 'consents.csv'): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}

/** A semicolon file, as Excel writes it in most of Europe: two good rows and three bad ones, one too long and one with two bad fields. */
const MIXED = [
  'Email;Purpose;Channel;Status;Explanation',
  'ana@example.com;marketing;email;opted_out;"Signed up; at the fair"',
  'bob@example.com;marketing;pigeon;opted_out;',
  'carla@example.com; marketing ;email;opted in;',
  'dan@example.com;marketing;email;opted_out;;stray',
  '\u200eeve@example.com\u200f;Marketing;EMAIL;Opted_Out;"two\nlines"',
].join('\r\n');

const readReport = (file: string): string[][] => parse(readFileSync(file), { bom: true, relax_column_count: true });

describe('consentry import --report', () => {
  it('writes each rejected row once, as read, after its line, field(s) and message(s), under the header of the file', async () => {
    const report = join(dir, 'rejected.csv');
    const run = await cli(['import', writeCsv(MIXED), '--db', db, '--report', report]);
    expect(run.code).toBe(1);
    expect(reportLines(run)).toEqual([
      'line 3: Channel: "pigeon" is not one of whatsapp, sms, email, messenger, telegram, webchat, any',
      'line 4: Status: "opted in" is not one of opted_in, opted_out (did you mean "opted_in"?)',
      'line 5: has 6 values, the header names 5 columns',
    ]);
    const text = readFileSync(report, 'utf8');
    expect(text.startsWith('\uFEFFline,field,message,Email,Purpose,Channel,Status,Explanation\n')).toBe(true);
    expect(readReport(report)).toEqual([
      ['line', 'field', 'message', 'Email', 'Purpose', 'Channel', 'Status', 'Explanation'],
      ['3', 'Channel', '"pigeon" is not one of whatsapp, sms, email, messenger, telegram, webchat, any', 'bob@example.com', 'marketing', 'pigeon', 'opted_out', ''],
      ['4', 'Status', '"opted in" is not one of opted_in, opted_out (did you mean "opted_in"?)', 'carla@example.com', 'marketing', 'email', 'opted in', ''],
      ['5', '', 'has 6 values, the header names 5 columns', 'dan@example.com', 'marketing', 'email', 'opted_out', '', 'stray'],
    ]);
    expect(statSync(report).mode & 0o777).toBe(0o600);
  });

  it('puts every bad field of a row in its cells, one to a line, and keeps invisible marks as the file has them', async () => {
    const report = join(dir, 'rejected.csv');
    const file = writeCsv(['email,purpose,channel,status', '\u200eana@example.com,,pigeon,opted_out', 'bob@example.com,marketing,email,opted_out'].join('\n'));
    const run = await cli(['import', file, '--db', db, '--report', report]);
    expect(run.code).toBe(1);
    expect(readReport(report)).toEqual([
      ['line', 'field', 'message', 'email', 'purpose', 'channel', 'status'],
      ['2', 'purpose\nchannel', 'is empty; every row needs one\n"pigeon" is not one of whatsapp, sms, email, messenger, telegram, webchat, any', '\u200eana@example.com', '', 'pigeon', 'opted_out'],
    ]);
  });

  it('writes the header alone when no row is rejected, replacing the report of an earlier import', async () => {
    const report = join(dir, 'rejected.csv');
    expect((await cli(['import', writeCsv(MIXED), '--db', db, '--report', report])).code).toBe(1);
    expect(readReport(report)).toHaveLength(4);
    // Someone made the report readable by others: the report that replaces it is the owner's alone again.
    chmodSync(report, 0o644);
    const clean = await cli(['import', writeCsv('email,purpose,channel,status\nbob@example.com,marketing,email,opted_out\n', 'fixed.csv'), '--db', db, '--report', report]);
    expect(clean.code).toBe(0);
    expect(readFileSync(report, 'utf8')).toBe('\uFEFFline,field,message,email,purpose,channel,status\n');
    expect(statSync(report).mode & 0o777).toBe(0o600);
  });

  it('refuses to write over any other file, the database and the file imported included, before anything is written (exit code 2)', async () => {
    const file = writeCsv('email,purpose,channel,status\nana@example.com,marketing,email,opted_out\n');
    const before = readFileSync(file, 'utf8');
    const onItself = await cli(['import', file, '--db', db, '--report', file]);
    expect(onItself.code).toBe(2);
    expect(onItself.stderr).toBe(
      `error: --report: ${file} exists and is not a report of rejected rows (its first line is not line,field,message,…): name a new file, so that no other file is written over\n`,
    );
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(existsSync(db)).toBe(false);

    expect((await cli(['import', file, '--db', db])).code).toBe(0);
    const database = readFileSync(db);
    const onDatabase = await cli(['import', file, '--db', db, '--report', db]);
    expect(onDatabase.code).toBe(2);
    expect(readFileSync(db).equals(database)).toBe(true);

    const nowhere = join(dir, 'missing', 'rejected.csv');
    const inNoDirectory = await cli(['import', file, '--db', db, '--report', nowhere]);
    expect(inNoDirectory.code).toBe(2);
    expect(inNoDirectory.stderr).toBe(`error: --report: cannot create ${nowhere}: the directory ${join(dir, 'missing')} does not exist\n`);
    expect((await cli(['import', file, '--db', db, '--report', dir])).stderr).toBe(`error: --report: ${dir} is not a regular file\n`);
  });
});

const SummarySchema = z
  .object({
    rows: z.number(),
    imported: z.number(),
    recorded: z.number(),
    alreadyRecorded: z.number(),
    repeated: z.number(),
    notInEffect: z.number(),
    rejected: z.number(),
    warned: z.number(),
    emptyRows: z.number(),
    keyColumn: z.boolean(),
    workspace: z.object({ id: z.string(), name: z.string() }),
    database: z.string(),
    createdDatabase: z.boolean(),
    createdWorkspace: z.boolean(),
    report: z.string().nullable(),
    interrupted: z.null(),
  })
  .strict();

describe('consentry import --json', () => {
  it('prints the summary as one JSON object and nothing else on stdout; the bad rows stay on stderr', async () => {
    const report = join(dir, 'rejected.csv');
    const run = await cli(['import', writeCsv(MIXED), '--db', db, '--json', '--report', report]);
    expect(run.code).toBe(1);
    expect(run.stdout.endsWith('\n')).toBe(true);
    expect(run.stdout.trimEnd().split('\n')).toHaveLength(1);
    const summary = SummarySchema.parse(JSON.parse(run.stdout));
    const [record] = await exportedLedger(db, z.array(z.object({ workspace_id: z.string() })));
    expect(summary).toEqual({
      rows: 5,
      imported: 2,
      recorded: 2,
      alreadyRecorded: 0,
      repeated: 0,
      notInEffect: 0,
      rejected: 3,
      warned: 0,
      emptyRows: 0,
      keyColumn: false,
      workspace: { id: record?.workspace_id, name: 'Default workspace' },
      database: db,
      createdDatabase: true,
      createdWorkspace: true,
      report,
      interrupted: null,
    });
    expect(reportLines(run)).toHaveLength(3);

    const again = await cli(['import', writeCsv(MIXED), '--db', db, '--json']);
    expect(again.code).toBe(1);
    expect(SummarySchema.parse(JSON.parse(again.stdout))).toMatchObject({ imported: 2, recorded: 0, alreadyRecorded: 2, createdDatabase: false, createdWorkspace: false, report: null });
  });

  it('prints nothing on stdout when it refuses the file', async () => {
    const run = await cli(['import', writeCsv('E-Mail,Zweck\nana@example.com,marketing\n'), '--db', db, '--json']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
  });
});

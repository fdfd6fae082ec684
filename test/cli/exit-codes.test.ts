import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { withEngine } from '../../src/cli/database.js';
import { importCsv, readImportFile } from '../../src/cli/import.js';
import { CliFailure, EXIT_CODES, type CliIo } from '../../src/cli/io.js';
import { buildProgram } from '../../src/cli.js';
import { cli, exportedLedger, useTemporaryDatabase } from './helpers.js';

let dir: string;
let db: string;
useTemporaryDatabase('consentry-exit-codes-', (paths) => {
  ({ dir, db } = paths);
});

/** Help text as one line: commander wraps it to the terminal's width. */
const flat = (text: string) => text.replace(/\s+/g, ' ');

function writeFile(name: string, content: string | Buffer): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}

const GOOD_ROWS = 'email,purpose,channel,status\nana@example.com,marketing,email,opted_out\n';

describe('exit codes: commander refusals are usage errors', () => {
  it.each([
    [['frobnicate'], "unknown command 'frobnicate'"],
    [['export', '--colour'], "unknown option '--colour'"],
    [['import'], "missing required argument 'file.csv'"],
    [['export', '--format'], "option '--format <format>' argument missing"],
    [['classify', 'a', 'b'], 'too many arguments'],
  ])('consentry %j: exit code 2, the error and the usage on stderr', async (argv, error) => {
    const run = await cli(argv);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`error: ${error}`);
    expect(run.stderr).toContain('Usage: consentry');
  });

  it('no command at all: the help on stderr, exit code 2; --help and --version: exit code 0', async () => {
    const none = await cli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage: consentry');
    expect((await cli(['--help'])).code).toBe(0);
    expect((await cli(['--version'])).code).toBe(0);
    expect((await cli(['import', '--help'])).code).toBe(0);
  });
});

describe('exit codes: --help says them', () => {
  it('the top-level help lists 0, 1, 2 and 130', async () => {
    const help = flat((await cli(['--help'])).stdout);
    expect(help).toContain('Exit codes (every command): 0 done');
    expect(help).toContain('1 done in part or a check failed: rows rejected, a ledger that does not verify, a read cut short');
    expect(help).toContain('2 refused, nothing written: a usage error, a bad option value, a file that is missing, unreadable, not UTF-8 or without a valid header');
    expect(help).toContain('130 interrupted (Ctrl-C, SIGTERM): what was committed before stays');
  });

  it('every command and subcommand ends its --help with them', async () => {
    const paths = (commands: readonly Command[], before: string[] = []): string[][] =>
      commands.flatMap((command) => [[...before, command.name()], ...paths(command.commands, [...before, command.name()])]);
    const io: CliIo = { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough(), env: {} };
    const all = paths(buildProgram(io).commands).filter((path) => path.at(-1) !== 'import');
    expect(all.map((path) => path.join(' '))).toEqual(expect.arrayContaining(['verify', 'history', 'keys create', 'slack check', 'hubspot install']));
    for (const path of all) {
      const run = await cli([...path, '--help']);
      expect(run.code, path.join(' ')).toBe(0);
      expect(flat(run.stdout), path.join(' ')).toContain(
        'Exit codes: 0 done; 1 done in part or a check failed; 2 refused, nothing written (a usage error, a bad option value, a file it cannot take); 130 interrupted. See consentry --help.',
      );
    }
  });

  it("import --help says what each of its exit codes means, and shows --report and --json", async () => {
    const help = flat((await cli(['import', '--help'])).stdout);
    expect(help).toContain('Exit codes: 0 every row recorded (or already recorded); 1 some rows rejected (each named on stderr, and written to --report)');
    expect(help).toContain('2 nothing imported: a usage error, a bad option value, or a file that is missing, unreadable, not UTF-8, not valid CSV or without a valid header; 130 interrupted');
    expect(help).toContain('--report <file.csv>');
    expect(help).toContain('--json');
  });
});

describe('exit codes of import: 2 when nothing was written, 1 when rows were rejected', () => {
  it.each([
    ['a missing file', () => [join(dir, 'nowhere.csv')], 'Cannot read'],
    ['a Latin-1 file', () => [writeFile('latin1.csv', Buffer.from('email,purpose,channel,status,explanation\nana@example.com,marketing,email,opted_out,M\xfcnchen\n', 'latin1'))], 'is not UTF-8'],
    ['a bad header', () => [writeFile('german.csv', 'E-Mail,Zweck,Kanal,Status\nana@example.com,marketing,email,opted_out\n')], 'the header on line 1 is not valid'],
    ['a file without rows', () => [writeFile('empty.csv', 'email,purpose,channel,status\n')], 'has a header but no data rows'],
    ['a bad option value', () => [writeFile('good.csv', GOOD_ROWS), '--country', 'XX'], '--country must be'],
    ['an empty --db', () => [writeFile('good.csv', GOOD_ROWS), '--db', ''], '--db must name a database file'],
  ])('%s: exit code 2, one line, and no database', async (_what, argv, message) => {
    const args = argv();
    const run = await cli(['import', ...args, ...(args.includes('--db') ? [] : ['--db', db])]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.split('\n').filter((line) => line !== '')).toEqual([expect.stringContaining(message)]);
    expect(existsSync(db)).toBe(false);
  });

  it('a workspace that is not in the database: exit code 2, and nothing recorded', async () => {
    expect((await cli(['import', writeFile('good.csv', GOOD_ROWS), '--db', db])).code).toBe(0);
    const run = await cli(['import', writeFile('more.csv', 'email,purpose,channel,status\nbob@example.com,marketing,email,opted_out\n'), '--db', db, '--workspace', 'Acme']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`error: No workspace "Acme" in ${db}\n`);
    expect(await exportedLedger(db, z.array(z.object({ email: z.string() })))).toEqual([expect.objectContaining({ email: 'ana@example.com' })]);
  });

  it('every row recorded: 0; a row rejected: 1, the others recorded', async () => {
    expect((await cli(['import', writeFile('good.csv', GOOD_ROWS), '--db', db])).code).toBe(0);
    const partly = await cli(['import', writeFile('partly.csv', 'email,purpose,channel,status\nbob@example.com,marketing,email,opted_out\ncarla@example.com,marketing,pigeon,opted_out\n'), '--db', db]);
    expect(partly.code).toBe(1);
    expect(partly.stdout).toContain('Imported 1 of 2 rows');
  });

  it('a refusal that comes once rows are recorded is a failure part-way (1), saying how far it came', async () => {
    const io: CliIo = { stdin: new PassThrough(), stdout: new PassThrough().resume(), stderr: new PassThrough().resume(), env: {} };
    const rows = Array.from({ length: 6_000 }, (_, i) => `person${i}@example.com,marketing,email,opted_out`);
    const file = writeFile('long.csv', ['email,purpose,channel,status', ...rows].join('\n'));
    const checked = await readImportFile(file);
    // The same size, a byte that is not UTF-8 pieces after the first: a change the file's size and time may not show.
    const bytes = Buffer.from(['email,purpose,channel,status', ...rows].join('\n'));
    bytes[bytes.indexOf('person5500@')] = 0xfc;
    writeFileSync(file, bytes);
    const { dev, ino, size, mtimeMs } = statSync(file);
    const error: unknown = await withEngine({ db }, io, (_engine, workspace) => importCsv(workspace, { ...checked, version: { dev, ino, size, mtimeMs } }, io, 'cli')).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(CliFailure);
    const failure = z.instanceof(CliFailure).parse(error);
    expect(failure.exitCode, failure.message).toBe(EXIT_CODES.failed);
    expect(failure.message).toMatch(new RegExp(`^${file} is not UTF-8: byte 0xFC on line 5502; .*; the import stopped after (\\d+) of the 6000 rows of ${file} \\(through line (\\d+)\\), \\1 of them recorded: fix it and import the file again$`));
    const recorded = Number(/stopped after (\d+)/.exec(failure.message)?.[1]);
    expect(recorded % 500).toBe(0);
    expect(recorded).toBeGreaterThan(0);
    expect(await exportedLedger(db, z.array(z.object({ email: z.string() })))).toHaveLength(recorded);
  });
});

describe('exit codes of the other commands', () => {
  it('2 for a database that is not there, a bad option value or an unknown workspace; 1 for a contact history finds nothing of', async () => {
    expect((await cli(['verify', '--db', join(dir, 'nowhere.db')])).code).toBe(2);
    expect((await cli(['export', '--format', 'xml', '--db', db])).code).toBe(2);
    expect((await cli(['import', writeFile('good.csv', GOOD_ROWS), '--db', db])).code).toBe(0);
    expect((await cli(['history', 'ana@example.com', '--db', db, '--workspace', 'Acme'])).code).toBe(2);
    const nobody = await cli(['history', 'bob@example.com', '--db', db]);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toBe(`error: No contact bob@example.com in ${db}\n`);
    const national = await cli(['history', '600 000 001', '--db', db]);
    expect(national.code).toBe(2);
    expect(national.stderr).toContain('has no country code');
  });

  it('0 for a contact history finds with no record yet, saying so on stderr', async () => {
    const io: CliIo = { stdin: new PassThrough(), stdout: new PassThrough().resume(), stderr: new PassThrough().resume(), env: {} };
    const contact = await withEngine({ db }, io, (_engine, workspace) => workspace.createContact({ email: 'ana@example.com' }));
    const run = await cli(['history', 'ana@example.com', '--db', db]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`contact ${contact.id} has no consent records\n`);
  });

  it("2 for what the engine refuses in a simulation's script: nothing is written", async () => {
    const script = writeFile('s.json', JSON.stringify({ template: 'no-such-template', steps: [] }));
    const run = await cli(['simulate', '--script', script]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('UNKNOWN_TEMPLATE');
  });
});

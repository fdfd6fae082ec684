import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { withEngine } from '../../src/cli/database.js';
import { importCsv, readImportFile } from '../../src/cli/import.js';
import type { CliIo } from '../../src/cli/io.js';
import { exportedLedger, useTemporaryDatabase } from './helpers.js';

let dir: string;
let db: string;
useTemporaryDatabase('consentry-import-pipe-', (paths) => {
  ({ dir, db } = paths);
});

const projectRoot = fileURLToPath(new URL('../../', import.meta.url));
const CSV = 'email,purpose,channel,status\nana@example.com,marketing,email,opted_out\nbob@example.com,marketing,sms,opted_out\ncarla@example.com,marketing,email,opted_out\n';

const LedgerSchema = z.array(z.object({ email: z.string().nullable() }));
const ledger = () => exportedLedger(db, LedgerSchema);

function quietIo(): CliIo {
  const sink = (): PassThrough => new PassThrough().resume();
  return { stdin: new PassThrough(), stdout: sink(), stderr: sink(), env: {} };
}

describe('consentry import of something that is not a regular file', () => {
  /** Runs `consentry import /dev/stdin` in a shell, its stdin fed by `feed`, as a person at a terminal would. */
  function importFromStdin(feed: string): { status: number | null; stdout: string; stderr: string } {
    const run = spawnSync('sh', ['-c', `${feed} | "$NODE" --import tsx src/cli.ts import /dev/stdin --db "$DB"`], {
      cwd: projectRoot,
      env: { PATH: process.env.PATH, NODE: process.execPath, DB: db, CSV_FILE: join(dir, 'stdin.csv') },
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { status: run.status, stdout: run.stdout, stderr: run.stderr };
  }

  it('refuses /dev/stdin fed by a pipe in one line, with exit code 2, and makes no database', { timeout: 60_000 }, () => {
    writeFileSync(join(dir, 'stdin.csv'), CSV);
    const run = importFromStdin('cat "$CSV_FILE"');
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      'error: Cannot import /dev/stdin: it is a pipe, and import reads its file twice (to check it, then to record it); save it to a file first\n',
    );
    expect(existsSync(db)).toBe(false);
  });

  it('refuses /dev/stdin when it is a socket, as a program that starts consentry may make it', { timeout: 60_000 }, () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'import', '/dev/stdin', '--db', db], {
      cwd: projectRoot,
      env: { PATH: process.env.PATH },
      input: CSV,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(
      'error: Cannot import /dev/stdin: it is a socket, and import reads its file twice (to check it, then to record it); save it to a file first\n',
    );
    expect(existsSync(db)).toBe(false);
  });

  it('still names a directory as one', async () => {
    await expect(readImportFile(dir)).rejects.toThrow(`Cannot read ${dir}: it is a directory`);
  });
});

describe('consentry import: the second reading must find the rows the check counted', () => {
  function writeCsv(): string {
    const file = join(dir, 'consents.csv');
    writeFileSync(file, CSV);
    return file;
  }

  it('fails when the second reading finds fewer rows, after recording those it found', async () => {
    const checked = await readImportFile(writeCsv());
    expect(checked.rows).toBe(3);
    const io = quietIo();
    await expect(withEngine({ db }, io, (_engine, workspace) => importCsv(workspace, { ...checked, rows: 4 }, io, 'cli'))).rejects.toThrow(
      `${checked.path} read differently the second time (3 data rows where the check counted 4): it changed during the import; 3 of its rows were recorded: check it and import it again`,
    );
  });

  it('fails when the second reading finds more rows, before recording a row the check did not count', async () => {
    const checked = await readImportFile(writeCsv());
    const io = quietIo();
    await expect(withEngine({ db }, io, (_engine, workspace) => importCsv(workspace, { ...checked, rows: 2 }, io, 'cli'))).rejects.toThrow(
      `${checked.path} read differently the second time (more than 2 data rows where the check counted 2): it changed during the import; 0 of its rows were recorded: check it and import it again`,
    );
    expect(await ledger()).toEqual([]);
  });
});

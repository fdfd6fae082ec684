import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { withEngine } from '../../src/cli/database.js';
import { derivedIdempotencyKey, importCommand, importCsv, readImportFile } from '../../src/cli/import.js';
import type { CliIo } from '../../src/cli/io.js';
import { cli, exportedLedger, useTemporaryDatabase } from './helpers.js';

let dir: string;
let db: string;
useTemporaryDatabase('consentry-import-interrupt-', (paths) => {
  ({ dir, db } = paths);
});

const projectRoot = fileURLToPath(new URL('../../', import.meta.url));

const LedgerSchema = z.array(z.object({ email: z.string().nullable(), idempotency_key: z.string().nullable() }));
const ledger = () => exportedLedger(db, LedgerSchema);

/** A file without an idempotency_key column: `rows` opt-outs, the one on line 3 with a channel no one has, so a report line marks the end of the first slice. */
function writeCsv(rows: number): string {
  const file = join(dir, 'consents.csv');
  const lines = Array.from({ length: rows }, (_, index) => `person${index}@example.com,marketing,${index === 1 ? 'pigeon' : 'email'},opted_out`);
  writeFileSync(file, ['email,purpose,channel,status', ...lines].join('\n'));
  return file;
}

function capturedIo(isTTY = false): { io: CliIo; stdout: () => string; stderr: () => string; stderrStream: PassThrough } {
  const stdout = new PassThrough();
  const stderr = Object.assign(new PassThrough(), { isTTY });
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return { io: { stdin: new PassThrough(), stdout, stderr, env: {} }, stdout: () => out, stderr: () => err, stderrStream: stderr };
}

describe('consentry import, interrupted', () => {
  it('on SIGINT commits the slice under way, says how far it came, and exits 130; the same file run again records nothing twice', async () => {
    const file = writeCsv(1200);
    const signals = new EventEmitter();
    const run = capturedIo();
    // The first slice's report line is written once that slice is committed: the interruption comes while the import goes on.
    run.stderrStream.on('data', (chunk: Buffer) => {
      if (chunk.toString().startsWith('line 3:')) signals.emit('SIGINT');
    });
    const code = await importCommand(file, { db, actor: 'cli' }, run.io, signals);
    expect(code).toBe(130);
    expect(run.stderr().split('\n').filter((line) => line !== '')).toEqual([
      `created new database ${db}`,
      'line 3: channel: "pigeon" is not one of whatsapp, sms, email, messenger, telegram, webchat, any',
      'interrupted: 500 rows committed (through line 501); run the same file again to finish',
    ]);
    expect(run.stdout()).toBe('');
    expect(signals.listenerCount('SIGINT') + signals.listenerCount('SIGTERM')).toBe(0);
    expect(await ledger()).toHaveLength(499);

    const again = await cli(['import', file, '--db', db]);
    expect(again.code).toBe(1);
    expect(again.stdout).toContain('Imported 1199 of 1200 rows: 700 recorded, 499 already recorded (the same file was imported before); 1 row(s) rejected and left unchanged.');
    const records = await ledger();
    expect(records).toHaveLength(1199);
    // The file has no key column: each row is keyed by the file and its line.
    const sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
    expect(records[0]?.idempotency_key).toBe(derivedIdempotencyKey(sha256, 2));
    expect(records[0]?.idempotency_key).toBe(`file-sha256:${sha256}:line:2`);
    expect(records.at(-1)?.idempotency_key).toBe(`file-sha256:${sha256}:line:1201`);
  });

  it('on SIGTERM while the file is checked, stops there: nothing written, no database made', async () => {
    const file = writeCsv(10);
    const signals = new EventEmitter();
    const run = capturedIo();
    const pending = importCommand(file, { db, actor: 'cli' }, run.io, signals);
    signals.emit('SIGTERM');
    expect(await pending).toBe(130);
    expect(run.stderr()).toBe('interrupted while checking the file: nothing was imported\n');
    expect(existsSync(db)).toBe(false);
  });

  it('takes the progress bar down, so the terminal gets its line wrap back', async () => {
    const file = writeCsv(1200);
    const checked = await readImportFile(file);
    const run = capturedIo(true);
    const interruption = new AbortController();
    const summary = await withEngine({ db }, run.io, (_engine, workspace) =>
      importCsv(
        {
          ...workspace,
          bulkSetConsent: (slice, by) => {
            interruption.abort();
            return workspace.bulkSetConsent(slice, by);
          },
        },
        checked,
        run.io,
        'cli',
        null,
        { signal: interruption.signal },
      ),
    );
    expect(summary).toMatchObject({ rows: 500, recorded: 499, rejected: 1, interrupted: { throughLine: 501 } });
    const wrapOff = run.stderr().split('\x1B[?7l').length - 1;
    const wrapOn = run.stderr().split('\x1B[?7h').length - 1;
    expect(wrapOff).toBeGreaterThan(0);
    expect(wrapOn).toBe(wrapOff);
    expect(run.stderr().lastIndexOf('\x1B[?7h')).toBeGreaterThan(run.stderr().lastIndexOf('\x1B[?7l'));
  });

  it('as a process: Ctrl-C (SIGINT) ends it with exit code 130 and the line that says how far it came', { timeout: 90_000 }, async () => {
    const file = writeCsv(20_000);
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'import', file, '--db', db], {
      cwd: projectRoot,
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
      if (err.includes('line 3:') && child.signalCode === null && !child.killed) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((done) => child.once('close', (exit) => done(exit)));
    expect(code).toBe(130);
    expect(out).toBe('');
    const match = /^interrupted: (\d+) rows committed \(through line (\d+)\); run the same file again to finish$/m.exec(err);
    expect(match, err).not.toBeNull();
    const committed = Number(match?.[1]);
    expect(committed % 500).toBe(0);
    expect(committed).toBeLessThan(20_000);
    expect(Number(match?.[2])).toBe(committed + 1);
    expect(await ledger()).toHaveLength(committed - 1);
  });
});

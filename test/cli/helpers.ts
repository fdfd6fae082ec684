import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach } from 'vitest';
import type { CliIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process with captured streams and the given stdin text. */
export async function cli(argv: string[], options: { stdin?: string; env?: Record<string, string | undefined> } = {}): Promise<CliRun> {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  stdin.end(options.stdin ?? '');
  const io: CliIo = { stdin, stdout, stderr, env: options.env ?? {} };
  const code = await runCli(argv, io);
  return { code, stdout: out, stderr: err };
}

/** Gives each test of the file a fresh directory and a database path in it (`set`), removed after the test. */
export function useTemporaryDatabase(prefix: string, set: (paths: { dir: string; db: string }) => void): void {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
    set({ dir, db: join(dir, 'consentry.db') });
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });
}

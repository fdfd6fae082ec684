import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, expect } from 'vitest';
import { z } from 'zod';
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

/** The ledger of `db` as `export --format json` prints it, read with `schema`; empty when there is no database yet. */
export async function exportedLedger<T extends z.ZodType>(db: string, schema: T): Promise<z.output<T> | []> {
  if (!existsSync(db)) return [];
  const run = await cli(['export', '--format', 'json', '--db', db]);
  expect(run.code).toBe(0);
  return schema.parse(JSON.parse(run.stdout));
}

/** The lines of an import's per-row report, one per bad field. */
export const reportLines = (run: CliRun): string[] => run.stderr.split('\n').filter((line) => line.startsWith('line '));

/** Every non-empty line a command wrote to stderr. */
export const stderrLines = (run: CliRun): string[] => run.stderr.split('\n').filter((line) => line !== '');

/** What `keys create --json` prints: exactly these fields. */
export const CreatedKeyJsonSchema = z
  .object({
    workspaceId: z.string().min(1),
    workspace: z.string().min(1),
    created: z.boolean(),
    database: z.string().min(1),
    createdDatabase: z.boolean(),
    key: z.string().regex(/^csk_[A-Za-z0-9_-]{43,}$/),
  })
  .strict();

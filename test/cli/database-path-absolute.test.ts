import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, useTemporaryDatabase } from './helpers.js';
import { killServersAfterEach, serve } from './served.js';

let dir: string;
let db: string;
useTemporaryDatabase('consentry-cli-database-path-', (paths) => {
  ({ dir, db } = paths);
});

// Registered after the directory's removal, so it runs before it (vitest runs after-hooks in reverse).
killServersAfterEach();

/** Where `consentry serve` runs in these tests (served.ts): the repository. */
const ROOT = resolve(import.meta.dirname, '../..');

describe('a database path given relative is named absolute', () => {
  it('by "No database at", for --db and DATABASE_PATH', async () => {
    const missing = join(dir, 'nope.db');
    const typed = relative(process.cwd(), missing);
    expect(typed.startsWith('/')).toBe(false);
    const byDb = await cli(['history', 'x@example.com', '--db', typed]);
    expect(byDb.code).toBe(2);
    expect(byDb.stderr).toBe(`error: No database at ${missing}: name one with --db or DATABASE_PATH (consentry serve, import and keys create make a new one)\n`);
    const byEnvironment = await cli(['verify'], { env: { DATABASE_PATH: typed } });
    expect(byEnvironment.stderr).toBe(`error: No database at ${missing}: name one with --db or DATABASE_PATH (consentry serve, import and keys create make a new one)\n`);
  });

  it('by a connector command asked for a workspace of a database that does not exist', async () => {
    const missing = join(dir, 'nope.db');
    const run = await cli(['slack', 'check', '--workspace', 'Acme', '--db', relative(process.cwd(), missing)]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`error: No database at ${missing}, so no workspace "Acme"\n`);
  });

  it('by consentry serve when it starts', async () => {
    const served = await serve(relative(ROOT, db));
    await served.waitFor('Ready in');
    expect(served.output()).toMatch(new RegExp(`^Consentry listening on http://127\\.0\\.0\\.1:\\d+ \\(database ${db.replaceAll('.', '\\.')}\\)$`, 'm'));
    served.child.kill('SIGTERM');
    expect(await served.exited).toBe(0);
  });
});

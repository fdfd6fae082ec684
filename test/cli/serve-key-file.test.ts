import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { cli, stderrLines } from './helpers.js';
import { killServersAfterEach, serve } from './served.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'consentry-key-file-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

killServersAfterEach();

async function workspaceCount(db: string): Promise<number> {
  const store = createSqliteStore({ path: db });
  try {
    return (await createEngine({ store }).listWorkspaces()).length;
  } finally {
    await store.close();
  }
}

describe('consentry serve with INITIAL_API_KEY_FILE', () => {
  it('writes the first key to a new file only its owner reads, prints the path and never the key, and leaves the file alone later', async () => {
    const db = join(dir, 'consentry.db');
    const file = join(dir, 'first-key');
    const first = await serve(db, { INITIAL_API_KEY_FILE: file });
    await first.waitFor('Ready in');
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const key = readFileSync(file, 'utf8');
    expect(key).toMatch(/^csk_[A-Za-z0-9_-]+\n$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const printed = first.output();
    expect(printed).toContain(`and its API key, written to ${file} (readable only by its owner).`);
    expect(printed).not.toContain('csk_');
    expect(printed).not.toContain('API key:');

    const second = await serve(db, { INITIAL_API_KEY_FILE: file });
    await second.waitFor('Ready in');
    // The key in the file opens the workspace the first start made.
    const me = await fetch(`http://127.0.0.1:${second.port}/v1/me`, { headers: { authorization: `Bearer ${key.trim()}` } });
    expect(me.status).toBe(200);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(second.output()).not.toContain(file);
    expect(readFileSync(file, 'utf8')).toBe(key);
  }, 60_000);

  it('refuses, naming the variable, to write over an existing file, before anything is made', async () => {
    const db = join(dir, 'consentry.db');
    const file = join(dir, 'taken');
    writeFileSync(file, 'something else\n');
    const run = await cli(['serve'], { env: { DATABASE_PATH: db, INITIAL_API_KEY_FILE: file, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent' } });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(stderrLines(run)).toEqual([
      `error: INITIAL_API_KEY_FILE: ${file} exists already and is not empty, and the first API key is never written over a file: move it away, or name a new file`,
    ]);
    expect(readFileSync(file, 'utf8')).toBe('something else\n');
    expect(await workspaceCount(db)).toBe(0);
  });

  it('refuses a file in a directory that does not exist, naming the variable', async () => {
    const db = join(dir, 'consentry.db');
    const file = join(dir, 'no-such-dir', 'first-key');
    const run = await cli(['serve'], { env: { DATABASE_PATH: db, INITIAL_API_KEY_FILE: file, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent' } });
    expect(run.code).toBe(2);
    expect(stderrLines(run)).toEqual([`error: INITIAL_API_KEY_FILE: the directory of ${file} does not exist`]);
    expect(existsSync(file)).toBe(false);
    expect(await workspaceCount(db)).toBe(0);
  });

  it('leaves the file empty when the server then cannot start, and the next start writes the key into it', async () => {
    const db = join(dir, 'consentry.db');
    const file = join(dir, 'first-key');
    const run = await cli(['serve'], { env: { DATABASE_PATH: db, INITIAL_API_KEY_FILE: file, HOST: '192.0.2.1', PORT: '0', LOG_LEVEL: 'silent' } });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('HOST 192.0.2.1');
    expect(readFileSync(file, 'utf8')).toBe('');
    expect(await workspaceCount(db)).toBe(0);

    const next = await serve(db, { INITIAL_API_KEY_FILE: file });
    await next.waitFor('Ready in');
    expect(next.output()).toContain(`and its API key, written to ${file} (readable only by its owner).`);
    expect(readFileSync(file, 'utf8')).toMatch(/^csk_[A-Za-z0-9_-]+\n$/);
    next.child.kill('SIGTERM');
    expect(await next.exited).toBe(0);
  }, 60_000);

  it('is refused as a directory with the rest of the configuration', async () => {
    const run = await cli(['serve'], { env: { INITIAL_API_KEY_FILE: 'secrets/', PORT: 'eighty' } });
    expect(run.code).toBe(2);
    expect(stderrLines(run).slice(1).sort()).toEqual(['INITIAL_API_KEY_FILE: must name a file, not a directory', 'PORT: must be an integer between 0 and 65535']);
  });
});

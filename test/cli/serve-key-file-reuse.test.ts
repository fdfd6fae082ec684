import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import { createApiKey } from '../../src/server/api-keys.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { cli, stderrLines } from './helpers.js';
import { killServersAfterEach, serve, type Served } from './served.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'consentry-key-file-reuse-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

killServersAfterEach();

const KEY_LINE = /^csk_[A-Za-z0-9_-]+\n$/;

/** A file as a start leaves it when it is killed between creating the file and writing the key: empty, mode 0600. */
function emptyKeyFile(name = 'first-key'): string {
  const file = join(dir, name);
  writeFileSync(file, '', { mode: 0o600 });
  return file;
}

/** What an earlier start made in the database before it stopped: the workspace, and its key when `withKey`. */
async function earlierStart(db: string, withKey: boolean): Promise<{ workspaceId: string; keyIds: string[] }> {
  const store = createSqliteStore({ path: db });
  try {
    const clock = new FakeClock('2026-03-01T09:00:00.000Z');
    const workspace = await createEngine({ store, clock }).createFirstWorkspace('Default workspace');
    if (!workspace) throw new Error('the database had a workspace already');
    const keyIds = withKey ? [(await createApiKey(store, { workspaceId: workspace.id, name: 'default', clock })).row.id] : [];
    return { workspaceId: workspace.id, keyIds };
  } finally {
    await store.close();
  }
}

async function databaseState(db: string): Promise<{ workspaces: number; keys: number }> {
  const store = createSqliteStore({ path: db });
  try {
    return await store.transaction(async (tx) => ({ workspaces: (await tx.listWorkspaces()).length, keys: (await tx.listApiKeys()).length }));
  } finally {
    await store.close();
  }
}

async function stop(served: Served): Promise<void> {
  served.child.kill('SIGTERM');
  expect(await served.exited).toBe(0);
}

async function meStatus(served: Served, key: string): Promise<number> {
  return (await fetch(`http://127.0.0.1:${served.port}/v1/me`, { headers: { authorization: `Bearer ${key.trim()}` } })).status;
}

describe('consentry serve after a first start that stopped before writing the key to INITIAL_API_KEY_FILE', () => {
  it('writes the first key into the empty file it left, when the database has no workspace yet, and makes it readable by its owner only', async () => {
    const db = join(dir, 'consentry.db');
    const file = emptyKeyFile();
    chmodSync(file, 0o644);
    const served = await serve(db, { INITIAL_API_KEY_FILE: file });
    await served.waitFor('Ready in');
    expect(served.output()).toContain(`Created workspace "Default workspace" (`);
    expect(served.output()).toContain(`and its API key, written to ${file} (readable only by its owner).`);
    const key = readFileSync(file, 'utf8');
    expect(key).toMatch(KEY_LINE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(await meStatus(served, key)).toBe(200);
    expect(served.output()).not.toContain('csk_');
    await stop(served);
  }, 60_000);

  it('makes the key of the workspace it made and writes it into the file, when the database has the workspace but no key', async () => {
    const db = join(dir, 'consentry.db');
    const file = emptyKeyFile();
    const { workspaceId } = await earlierStart(db, false);
    const served = await serve(db, { INITIAL_API_KEY_FILE: file });
    await served.waitFor('Ready in');
    expect(served.output()).toContain(
      `Created the API key of workspace "Default workspace" (${workspaceId}), which an earlier start made without writing its key, written to ${file} (readable only by its owner).`,
    );
    const key = readFileSync(file, 'utf8');
    expect(key).toMatch(KEY_LINE);
    expect(await meStatus(served, key)).toBe(200);
    await stop(served);
    expect(await databaseState(db)).toEqual({ workspaces: 1, keys: 1 });

    // The file holds the key now: a later start leaves it, and the database, as they are.
    const again = await serve(db, { INITIAL_API_KEY_FILE: file });
    await again.waitFor('Ready in');
    await stop(again);
    expect(readFileSync(file, 'utf8')).toBe(key);
    expect(await databaseState(db)).toEqual({ workspaces: 1, keys: 1 });
  }, 60_000);

  it('starts, writes nothing, and says how to make a key, when the database has a key whose value never reached the file', async () => {
    const db = join(dir, 'consentry.db');
    const file = emptyKeyFile();
    const { workspaceId } = await earlierStart(db, true);
    const served = await serve(db, { INITIAL_API_KEY_FILE: file });
    await served.waitFor('Ready in');
    expect(served.output()).toContain(
      `INITIAL_API_KEY_FILE: ${file} is empty, and the database has an API key already, so this start writes none to it. ` +
        `If a first start stopped before writing its key there, that key cannot be shown again: make a new one with: consentry keys create --workspace ${workspaceId}`,
    );
    await stop(served);
    expect(readFileSync(file, 'utf8')).toBe('');
    expect(await databaseState(db)).toEqual({ workspaces: 1, keys: 1 });

    // What the line says works: the command makes a key that opens the workspace.
    const made = await cli(['keys', 'create', '--workspace', workspaceId, '--json', '--db', db]);
    expect(made.code).toBe(0);
    const { key } = z.object({ key: z.string() }).parse(JSON.parse(made.stdout));
    const after = await serve(db);
    await after.waitFor('Ready in');
    expect(await meStatus(after, key)).toBe(200);
    await stop(after);
  }, 60_000);

  it('never writes through a link to an empty file, and says why, before anything is made', async () => {
    const db = join(dir, 'consentry.db');
    const target = emptyKeyFile('elsewhere');
    const file = join(dir, 'first-key');
    symlinkSync(target, file);
    const run = await cli(['serve'], { env: { DATABASE_PATH: db, INITIAL_API_KEY_FILE: file, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent' } });
    expect(run.code).toBe(2);
    expect(stderrLines(run)).toEqual([
      `error: INITIAL_API_KEY_FILE: ${file} exists already and is not a plain file of this user (a link, a directory, a file with other names or of another user): ` +
        'the first API key is written only to a new file, or to an empty one an earlier start left: move it away, or name a new file',
    ]);
    expect(readFileSync(target, 'utf8')).toBe('');
    expect(await databaseState(db)).toEqual({ workspaces: 0, keys: 0 });
  });
});

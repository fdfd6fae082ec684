import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listenFailure } from '../../src/cli/serve.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { cli, stderrLines } from './helpers.js';
import { killServersAfterEach, serve } from './served.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'consentry-serve-errors-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

killServersAfterEach();

/** A port something else listens on, on 127.0.0.1. */
async function busyPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  return { port: typeof address === 'object' && address ? address.port : 0, server };
}

describe('consentry serve names what to fix when it cannot start', () => {
  it('a port in use: PORT and HOST, with exit code 1', async () => {
    const { port, server } = await busyPort();
    try {
      const run = await cli(['serve'], { env: { PORT: String(port), HOST: '127.0.0.1', DATABASE_PATH: join(dir, 'consentry.db'), LOG_LEVEL: 'silent' } });
      expect(run.code).toBe(1);
      expect(stderrLines(run)).toEqual([
        `error: could not start the server: PORT ${port} on 127.0.0.1 is already in use: stop the process listening there, or set PORT to a free port (0 picks one)`,
      ]);
    } finally {
      server.close();
    }
  });

  it('an address this machine does not have: HOST', async () => {
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of a real machine.
    const run = await cli(['serve'], { env: { PORT: '0', HOST: '192.0.2.1', DATABASE_PATH: join(dir, 'consentry.db'), LOG_LEVEL: 'silent' } });
    expect(run.code).toBe(1);
    expect(stderrLines(run)).toEqual([
      'error: could not start the server: HOST 192.0.2.1 is not an address of this machine: set HOST to one of its addresses, such as 0.0.0.0 (every interface) or 127.0.0.1',
    ]);
  });

  it('a host name that does not resolve: HOST', () => {
    // What Node's getaddrinfo reports for a name with no address; resolving one for real would ask a name server.
    const notFound = Object.assign(new Error('getaddrinfo ENOTFOUND nonexistent.invalid'), { code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: 'nonexistent.invalid' });
    expect(listenFailure(notFound, 'nonexistent.invalid', 3000)).toBe(
      'HOST nonexistent.invalid does not resolve: set HOST to an address of this machine, such as 0.0.0.0 (every interface) or 127.0.0.1',
    );
    expect(listenFailure(new Error('something else'), 'nonexistent.invalid', 3000)).toBeUndefined();
  });

  it('a PUBLIC_URL links cannot be built on: PUBLIC_URL, without repeating a password', async () => {
    const run = await cli(['serve'], { env: { PUBLIC_URL: 'https://ops:hunter2@consent.example.com', DATABASE_PATH: join(dir, 'consentry.db') } });
    expect(run.code).toBe(2);
    expect(stderrLines(run)).toEqual([
      'error: invalid configuration',
      'PUBLIC_URL: must not hold a user name or password: it is printed at start and published in the API docs',
    ]);
    const fragment = await cli(['serve'], { env: { PUBLIC_URL: 'https://consent.example.com#frag', DATABASE_PATH: join(dir, 'consentry.db') } });
    expect(fragment.stderr).toContain('PUBLIC_URL: must not have a fragment');
  });

  it('a database of a newer schema: its path', async () => {
    const db = join(dir, 'newer.db');
    await createSqliteStore({ path: db }).close();
    const raw = new Database(db);
    raw.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'from a later version', '2026-03-01T09:00:00.000Z')").run();
    raw.close();
    const run = await cli(['serve'], { env: { PORT: '0', HOST: '127.0.0.1', DATABASE_PATH: db, LOG_LEVEL: 'silent' } });
    expect(run.code).toBe(2);
    expect(stderrLines(run)).toHaveLength(1);
    expect(run.stderr.startsWith(`error: ${db}: database schema version 99 is newer than this build of Consentry supports (`)).toBe(true);
    const listed = await cli(['keys', 'list', '--db', db]);
    expect(listed.code).toBe(2);
    expect(listed.stderr).toContain(`${db}: database schema version 99 is newer`);
  });

  it('a directory this user cannot write in: permission denied, and the directory', async () => {
    const locked = join(dir, 'locked');
    mkdirSync(locked, { mode: 0o555 });
    chmodSync(dir, 0o755);
    chmodSync(locked, 0o555);
    // Root may write anywhere: the server then runs as "nobody", whom the mode does stop.
    const asAnotherUser = process.getuid?.() === 0 ? { uid: 65534 } : {};
    for (const path of [join(locked, 'new.db'), join(locked, 'missing', 'new.db')]) {
      const served = await serve(path, {}, asAnotherUser);
      expect(await served.exited).toBe(2);
      expect(served.output()).toBe(`error: Cannot open the database ${path}: permission denied: this user cannot create files in ${locked}\n`);
    }
  }, 30_000);
});

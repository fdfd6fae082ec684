import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { afterEach } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

const children: ChildProcess[] = [];

/** Kills, after each test of the file, the servers it left running. */
export function killServersAfterEach(): void {
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
}

export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => done(port));
    });
  });
}

export interface Served {
  child: ChildProcess;
  port: number;
  output(): string;
  /** Resolves when stdout contains `text`. */
  waitFor(text: string): Promise<void>;
  exited: Promise<number | null>;
}

export interface ServeOptions {
  /** How to run it: from the sources, or as the README says, through `npm start` (the built package). */
  launch?: 'sources' | 'npm start';
  /** Runs the server as this user (a test running as root checks what another user may do). */
  uid?: number;
}

/** Runs `consentry serve` on 127.0.0.1 and a free port, with the database `db` and `env` added to a bare environment. */
export async function serve(db: string, env: Record<string, string> = {}, options: ServeOptions = {}): Promise<Served> {
  const port = await freePort();
  const [command, args] = options.launch === 'npm start' ? ['npm', ['start', '--silent']] : [process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve']];
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), HOST: '127.0.0.1', DATABASE_PATH: db, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.uid !== undefined ? { uid: options.uid, gid: options.uid } : {}),
  });
  children.push(child);
  let out = '';
  const waiters: { text: string; done: () => void }[] = [];
  const check = () => {
    for (const waiter of [...waiters]) {
      if (out.includes(waiter.text)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.done();
      }
    }
  };
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    check();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  // 'close', not 'exit': by then everything the process wrote has been read.
  const exited = new Promise<number | null>((done) => child.once('close', (code) => done(code)));
  return {
    child,
    port,
    output: () => out,
    waitFor: (text) =>
      new Promise<void>((done, fail) => {
        waiters.push({ text, done });
        check();
        void exited.then(() => fail(new Error(`exited before printing "${text}":\n${out}`)));
      }),
    exited,
  };
}

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/ports/clock.js';
import type { Store } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import type { BackgroundWorker } from '../../src/worker/background-worker.js';
import { flakyStore, ManualTimers, RecordingWorker, settleTurns } from './manual-timers.js';
import { recordingLogger } from './recording-logger.js';
import { WORKER_LEASE_KEY, WorkerLease, type LeaseProcess, type WorkerLeaseOptions } from '../../src/worker/worker-lease.js';

const TTL_MS = 30_000;
const RENEW_MS = 10_000;


const settle = settleTurns;

/** Renewal timers that fire only when the test moves them; a renewal's store work settles after each move. */
const manualTimers = (): ManualTimers => new ManualTimers({ settle: settleTurns, turnsAsTimers: true });


async function storedLease(store: Store): Promise<unknown> {
  return store.transaction((tx) => tx.getMeta(WORKER_LEASE_KEY));
}

const leases: WorkerLease[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const lease of leases.splice(0)) await lease.stop();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** Process ids of the test's holders, all running on HOST unless a test says otherwise. */
const HOST = 'host-1';
const SPACE = 'boot-1/pid:[1]';
const PIDS: Readonly<Record<string, number>> = { 'process-a': 101, 'process-b': 102, 'process-c': 103 };
const pidOf = (holder: string | undefined): number => PIDS[holder ?? ''] ?? 999;
const running = (): LeaseProcess => ({ host: HOST, pid: 900, pidSpace: SPACE, isRunning: () => true });

/** The lease as `holder` writes it. */
const stored = (holder: string, expiresAt: string) => ({ holder, expiresAt, host: HOST, pid: pidOf(holder), pidSpace: SPACE });

function lease(options: Partial<WorkerLeaseOptions> & Pick<WorkerLeaseOptions, 'store' | 'clock'>): WorkerLease & { worker: RecordingWorker } {
  const worker = new RecordingWorker();
  const process: LeaseProcess = { ...running(), pid: pidOf(options.holder) };
  const created = Object.assign(new WorkerLease({ workers: [worker], ttlMs: TTL_MS, renewEveryMs: RENEW_MS, timers: manualTimers(), process, ...options }), { worker });
  leases.push(created);
  return created;
}

describe('WorkerLease', () => {
  it('lets one holder run the workers while a second stays idle through its renewals', async () => {
    const store = createMemoryStore();
    const clock = new FakeClock('2026-03-01T09:00:00.000Z');
    const first = lease({ store, clock, holder: 'process-a' });
    const secondLogger = recordingLogger();
    const second = lease({ store, clock, holder: 'process-b', logger: secondLogger });

    await first.start();
    await second.start();
    expect(first.runsWorkers).toBe(true);
    expect(first.worker.calls).toEqual(['start']);
    expect(second.runsWorkers).toBe(false);
    expect(second.worker.calls).toEqual([]);
    expect(await storedLease(store)).toEqual(stored('process-a', '2026-03-01T09:00:30.000Z'));

    // Well past one TTL, as long as the holder renews.
    for (let round = 0; round < 6; round += 1) {
      clock.advance(RENEW_MS);
      await first.renew();
      await second.renew();
    }
    expect(first.worker.calls).toEqual(['start']);
    expect(second.worker.calls).toEqual([]);
    expect(await storedLease(store)).toEqual(stored('process-a', '2026-03-01T09:01:30.000Z'));
    // Standing by is reported once, not at every renewal.
    expect(secondLogger.lines).toEqual([
      {
        level: 'info',
        message:
          'process 101 on this machine runs the background workers (lease held until 2026-03-01T09:00:30.000Z); this one serves the API only until the lease is released or expires',
        details: { holder: 'process-b', leaseHolder: 'process-a', leaseHost: HOST, leasePid: 101, leaseExpiresAt: '2026-03-01T09:00:30.000Z' },
      },
    ]);
  });

  it('hands the workers over at the next renewal once the holder stops and releases the lease', async () => {
    const store = createMemoryStore();
    const clock = new FakeClock();
    const first = lease({ store, clock, holder: 'process-a' });
    const logger = recordingLogger();
    const second = lease({ store, clock, holder: 'process-b', logger });
    await first.start();
    await second.start();

    await first.stop();
    expect(first.worker.calls).toEqual(['start', 'stop']);
    expect(await storedLease(store)).toBeNull();

    await second.renew();
    expect(second.runsWorkers).toBe(true);
    expect(second.worker.calls).toEqual(['start']);
    expect(logger.lines.at(-1)?.message).toBe('workers started: this process holds the worker lease');
    expect(await storedLease(store)).toEqual(stored('process-b', new Date(clock.now().getTime() + TTL_MS).toISOString()));
  });

  it('renews on its own timers, and takes over a released lease at the next renewal', async () => {
    const store = createMemoryStore();
    const clock = new FakeClock();
    const timers = manualTimers();
    const first = lease({ store, clock, holder: 'process-a', timers: manualTimers() });
    const second = lease({ store, clock, holder: 'process-b', timers });
    await first.start();
    await second.start();
    await settle();
    expect(timers.pending()).toEqual([RENEW_MS]);

    await first.stop();
    await timers.advance(RENEW_MS - 1);
    expect(second.worker.calls).toEqual([]);
    await timers.advance(1);
    expect(second.worker.calls).toEqual(['start']);
    expect(await storedLease(store)).toMatchObject({ holder: 'process-b' });

    await second.stop();
    expect(second.worker.calls).toEqual(['start', 'stop']);
    expect(timers.pending()).toEqual([]);
  });

  it('takes over a lease whose holder stopped renewing once it has expired, and the old holder then stops its workers', async () => {
    const store = createMemoryStore();
    const clock = new FakeClock('2026-03-01T09:00:00.000Z');
    const firstLogger = recordingLogger();
    const first = lease({ store, clock, holder: 'process-a', logger: firstLogger });
    const second = lease({ store, clock, holder: 'process-b' });
    await first.start();
    await second.start();

    clock.advance(TTL_MS - 1);
    await second.renew();
    expect(second.runsWorkers).toBe(false);

    clock.advance(1);
    await second.renew();
    expect(second.runsWorkers).toBe(true);
    expect(second.worker.calls).toEqual(['start']);
    expect(await storedLease(store)).toEqual(stored('process-b', '2026-03-01T09:01:00.000Z'));

    // The old holder comes back (a paused process) and finds the lease taken.
    await first.renew();
    expect(first.runsWorkers).toBe(false);
    expect(first.worker.calls).toEqual(['start', 'stop']);
    expect(firstLogger.lines.map((line) => [line.level, line.message])).toEqual([
      ['info', 'workers started: this process holds the worker lease'],
      ['warn', 'workers stopped: another process has taken the worker lease'],
      ['info', 'process 102 on this machine runs the background workers (lease held until 2026-03-01T09:01:00.000Z); this one serves the API only until the lease is released or expires'],
    ]);

    // Stopping a lease it no longer holds leaves the new holder's lease alone.
    await first.stop();
    expect(first.worker.calls).toEqual(['start', 'stop']);
    expect(await storedLease(store)).toEqual(stored('process-b', '2026-03-01T09:01:00.000Z'));
  });

  it.each([
    ['a string', 'garbage'],
    ['a lease without a holder', { expiresAt: '2099-01-01T00:00:00.000Z' }],
    ['a lease with an unreadable expiry', { holder: 'process-z', expiresAt: 'tomorrow' }],
  ])('counts %s in the lease row as free', async (_label, value) => {
    const store = createMemoryStore();
    await store.transaction((tx) => tx.setMeta(WORKER_LEASE_KEY, value));
    const clock = new FakeClock();
    const only = lease({ store, clock, holder: 'process-a' });
    await only.start();
    expect(only.runsWorkers).toBe(true);
    expect(await storedLease(store)).toMatchObject({ holder: 'process-a' });
  });

  it('gives the lease to one of two stores on one SQLite file, and counts a row that is not JSON as free', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-lease-'));
    dirs.push(dir);
    const file = path.join(dir, 'consentry.db');
    const storeA = createSqliteStore({ path: file });
    const storeB = createSqliteStore({ path: file });
    try {
      await storeA.transaction((tx) => tx.setMeta(WORKER_LEASE_KEY, null));
      const raw = new BetterSqlite3(file);
      raw.prepare('UPDATE meta SET value = ? WHERE key = ?').run('{not json', WORKER_LEASE_KEY);
      raw.close();

      const clock = new FakeClock();
      const first = lease({ store: storeA, clock, holder: 'process-a' });
      const second = lease({ store: storeB, clock, holder: 'process-b' });
      // One after the other: both connections live on this one thread, so a transaction of one
      // waiting on the other's write lock would block the thread that has to commit it.
      await first.start();
      await second.start();
      expect([first.runsWorkers, second.runsWorkers]).toEqual([true, false]);
      expect(await storedLease(storeB)).toMatchObject({ holder: 'process-a' });

      await first.stop();
      await second.renew();
      expect(second.runsWorkers).toBe(true);
      expect(await storedLease(storeA)).toMatchObject({ holder: 'process-b' });
      await second.stop();
      expect(await storedLease(storeA)).toBeNull();
    } finally {
      for (const started of leases.splice(0)) await started.stop();
      await storeA.close();
      await storeB.close();
    }
  });

  it('keeps its workers through failed renewals until its lease expires, then stops them, and resumes once renewals succeed', async () => {
    const store = flakyStore(createMemoryStore());
    const clock = new FakeClock();
    const logger = recordingLogger();
    const only = lease({ store, clock, holder: 'process-a', logger });
    await only.start();

    store.failing = true;
    clock.advance(RENEW_MS);
    await expect(only.renew()).resolves.toBeUndefined();
    clock.advance(TTL_MS - RENEW_MS - 1);
    await only.renew();
    expect(only.runsWorkers).toBe(true);
    expect(logger.lines.filter((line) => line.level === 'error').map((line) => line.message)).toEqual([
      'could not renew the worker lease',
      'could not renew the worker lease',
    ]);

    clock.advance(1);
    await only.renew();
    expect(only.runsWorkers).toBe(false);
    expect(only.worker.calls).toEqual(['start', 'stop']);
    expect(logger.lines.at(-1)?.message).toBe('workers stopped: the worker lease could not be renewed before it expired, so another process may run them');

    store.failing = false;
    clock.advance(RENEW_MS);
    await only.renew();
    expect(only.worker.calls).toEqual(['start', 'stop', 'start']);
  });

  it('fails to start when a worker fails to start, leaving the lease free for another process', async () => {
    const store = createMemoryStore();
    const clock = new FakeClock();
    const started = new RecordingWorker();
    const failing: BackgroundWorker = {
      start: () => {
        throw new Error('no timers today');
      },
      stop: async () => undefined,
    };
    const broken = new WorkerLease({ store, clock, workers: [started, failing], holder: 'process-a', timers: manualTimers() });
    await expect(broken.start()).rejects.toThrow('no timers today');
    expect(started.calls).toEqual(['start', 'stop']);
    expect(broken.runsWorkers).toBe(false);
    expect(await storedLease(store)).toBeNull();

    const other = lease({ store, clock, holder: 'process-b' });
    await other.start();
    expect(other.runsWorkers).toBe(true);
  });

  it('fails to start when the store cannot be read', async () => {
    const store = flakyStore(createMemoryStore());
    store.failing = true;
    const only = lease({ store, clock: new FakeClock() });
    await expect(only.start()).rejects.toThrow('database is locked');
    expect(only.worker.calls).toEqual([]);
  });

  it('gives each lease its own holder by default', async () => {
    const store = createMemoryStore();
    const clock = new FakeClock();
    const first = lease({ store, clock });
    const second = lease({ store, clock });
    expect(first.holder).toMatch(/^[0-9a-f-]{36}$/);
    expect(first.holder).not.toBe(second.holder);
    await first.start();
    await second.start();
    expect([first.runsWorkers, second.runsWorkers]).toEqual([true, false]);
  });

  it('refuses a renewal interval that is not below the TTL', () => {
    const store = createMemoryStore();
    const clock = new FakeClock();
    expect(() => new WorkerLease({ store, clock, workers: [], ttlMs: 10_000, renewEveryMs: 10_000 })).toThrow('renewEveryMs must be a positive integer below ttlMs (10000), got 10000');
    expect(() => new WorkerLease({ store, clock, workers: [], ttlMs: 0 })).toThrow('ttlMs must be a positive integer, got 0');
  });

  describe('a lease left by a process that stopped without releasing it', () => {
    const EXPIRES = '2026-03-01T09:00:30.000Z';
    const leftBehind = (extra: object) => ({ holder: 'process-dead', expiresAt: EXPIRES, ...extra });

    async function restartWith(left: object, isRunning: (pid: number) => boolean) {
      const store = createMemoryStore();
      await store.transaction((tx) => tx.setMeta(WORKER_LEASE_KEY, left));
      const clock = new FakeClock('2026-03-01T09:00:05.000Z');
      const logger = recordingLogger();
      const restarted = lease({ store, clock, holder: 'process-a', logger, process: { host: HOST, pid: 101, pidSpace: SPACE, isRunning } });
      await restarted.start();
      return { restarted, logger, store };
    }

    it('is taken at once when its process on this machine no longer runs', async () => {
      const checked: number[] = [];
      const { restarted, logger, store } = await restartWith(leftBehind({ host: HOST, pid: 77, pidSpace: SPACE }), (pid) => {
        checked.push(pid);
        return false;
      });
      expect(checked).toEqual([77]);
      expect(restarted.runsWorkers).toBe(true);
      expect(await storedLease(store)).toEqual(stored('process-a', '2026-03-01T09:00:35.000Z'));
      expect(logger.lines.map((line) => line.message)).toEqual([
        'took over the worker lease of process 77 on this machine, which stopped without releasing it',
        'workers started: this process holds the worker lease',
      ]);
    });

    it('is waited for while its process runs, or when it was written in another pid space or without one', async () => {
      // Only a process of this pid space can be looked for: the others count as running whatever this one finds.
      const cases: Array<[object, (pid: number) => boolean]> = [
        [leftBehind({ host: HOST, pid: 77, pidSpace: SPACE }), (pid) => pid === 77],
        [leftBehind({ host: 'host-2', pid: 77, pidSpace: 'boot-2/pid:[1]' }), () => false],
        [leftBehind({}), () => false],
        // Another container on this host: the same host name and boot, its own pid namespace.
        [leftBehind({ host: HOST, pid: 77, pidSpace: 'boot-1/pid:[2]' }), () => false],
        [leftBehind({ host: HOST, pid: 77 }), () => false],
      ];
      const messages = [];
      for (const [left, isRunning] of cases) {
        const { restarted, logger } = await restartWith(left, isRunning);
        expect(restarted.runsWorkers).toBe(false);
        expect(logger.lines).toHaveLength(1);
        messages.push(logger.lines[0]?.message);
      }
      const standingBy = `runs the background workers (lease held until ${EXPIRES}); this one serves the API only until the lease is released or expires`;
      expect(messages).toEqual([
        `process 77 on this machine ${standingBy}`,
        `process 77 on host-2 ${standingBy}`,
        `another process (one that may have stopped without releasing the lease) ${standingBy}`,
        `process 77 on this machine ${standingBy}`,
        `process 77 on this machine ${standingBy}`,
      ]);
    });
  });

  it.runIf(process.platform === 'linux')('tells whether a process of its pid space runs, and counts its own pid as a previous holder that died', async () => {
    const store = createMemoryStore();
    const clock = new FakeClock('2026-03-01T09:00:05.000Z');
    const worker = new RecordingWorker();
    const real = new WorkerLease({ store, clock, workers: [worker], ttlMs: TTL_MS, renewEveryMs: RENEW_MS, timers: manualTimers(), holder: 'restarted' });
    leases.push(real);
    const pidSpace = `${fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()}/${fs.readlinkSync('/proc/self/ns/pid')}`;
    const here = { host: os.hostname(), pidSpace };
    await store.transaction((tx) => tx.setMeta(WORKER_LEASE_KEY, { holder: 'before-restart', expiresAt: '2026-03-01T09:00:30.000Z', pid: process.pid, ...here }));
    await real.start();
    expect(real.runsWorkers).toBe(true);
    expect(await storedLease(store)).toEqual({ holder: 'restarted', expiresAt: '2026-03-01T09:00:35.000Z', pid: process.pid, ...here });

    // The parent process (the test runner) runs: its lease is waited for.
    await real.stop();
    await store.transaction((tx) => tx.setMeta(WORKER_LEASE_KEY, { holder: 'parent', expiresAt: '2026-03-01T09:00:30.000Z', pid: process.ppid, ...here }));
    const other = new WorkerLease({ store, clock, workers: [new RecordingWorker()], ttlMs: TTL_MS, renewEveryMs: RENEW_MS, timers: manualTimers(), holder: 'other' });
    leases.push(other);
    await other.start();
    expect(other.runsWorkers).toBe(false);
  });
});

import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { z } from 'zod';

/**
 * Checkpoints the WAL from a worker thread with a connection of its own, so the writer's
 * commits stay appends. A checkpoint copies the WAL's pages into the database file and flushes
 * both to the device (https://www.sqlite.org/wal.html#ckpt); run by the writer's connection after
 * a commit, as SQLite's automatic checkpoint does, it stalls that thread for milliseconds to tens
 * of milliseconds at a time. A PASSIVE checkpoint on another connection runs beside the writer
 * without blocking it (https://www.sqlite.org/c3ref/wal_checkpoint_v2.html).
 *
 * The writer keeps its automatic checkpoint at the configured WAL size as the backstop that also
 * restarts the WAL: SQLite writes the WAL from its start again only when a write transaction
 * begins with every frame already copied (https://www.sqlite.org/wal.html#avoiding_excessively_large_wal_files),
 * which a checkpoint racing a busy writer never sees. When the writer's own checkpoint comes due,
 * the worker has already copied all but the last few frames, so it costs the writer a short tail
 * instead of the whole copy.
 *
 * The worker copies whenever the writer has committed since its last pass, at once again while
 * commits keep coming and otherwise after `idleIntervalMs`.
 */

const COMMITS = 0;
const SHARED_SLOTS = 1;

/** Runs as CommonJS in the worker (`eval`), so it is the same code from the TypeScript sources and from dist/. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const commits = new Int32Array(workerData.shared);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 0');
let copiedUpTo = -1;
let timer = null;
let stopped = false;
function checkpoint() {
  const [row] = db.pragma('wal_checkpoint(PASSIVE)');
  return row;
}
function pass() {
  timer = null;
  if (stopped) return;
  const seen = Atomics.load(commits, 0);
  let again = false;
  if (seen !== copiedUpTo) {
    try {
      checkpoint();
      copiedUpTo = seen;
      again = Atomics.load(commits, 0) !== seen;
    } catch (error) {
      // SQLITE_BUSY: another connection is checkpointing; the next pass copies what it left.
      if (!error || error.code !== 'SQLITE_BUSY') {
        stopped = true;
        parentPort.postMessage({ kind: 'failed', message: String(error && error.message ? error.message : error) });
        return;
      }
    }
  }
  timer = again ? setImmediate(pass) : setTimeout(pass, workerData.idleIntervalMs);
}
parentPort.on('message', (message) => {
  if (message.kind === 'checkpoint') {
    try {
      const row = checkpoint();
      parentPort.postMessage({ kind: 'checkpointed', id: message.id, busy: row.busy, log: row.log, checkpointed: row.checkpointed });
    } catch (error) {
      parentPort.postMessage({ kind: 'checkpointed', id: message.id, error: String(error && error.message ? error.message : error) });
    }
  } else if (message.kind === 'stop') {
    stopped = true;
    if (timer !== null) { clearTimeout(timer); clearImmediate(timer); }
    db.close();
    parentPort.close();
  }
});
pass();
`;

const WorkerMessageSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('failed'), message: z.string() }),
  z.object({
    kind: z.literal('checkpointed'),
    id: z.number(),
    busy: z.number().optional(),
    log: z.number().optional(),
    checkpointed: z.number().optional(),
    error: z.string().optional(),
  }),
]);

/** What one PASSIVE checkpoint reported (https://www.sqlite.org/pragma.html#pragma_wal_checkpoint). */
export interface CheckpointResult {
  /** Whether another connection's checkpoint kept this one from running. */
  busy: boolean;
  /** Frames in the WAL. */
  log: number;
  /** Frames of them copied into the database file. */
  checkpointed: number;
}

export interface BackgroundCheckpointerOptions {
  path: string;
  /** How long the worker waits before it looks for new commits again once it has caught up. */
  idleIntervalMs: number;
  /** Called once if the worker stops working; the writer should checkpoint by itself again. */
  onFailure: (error: Error) => void;
}

export class BackgroundCheckpointer {
  private readonly commits: Int32Array;
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private readonly pending = new Map<number, { resolve: (result: CheckpointResult) => void; reject: (error: Error) => void }>();
  private nextRequest = 0;
  private stopped = false;

  constructor(options: BackgroundCheckpointerOptions) {
    const shared = new SharedArrayBuffer(SHARED_SLOTS * Int32Array.BYTES_PER_ELEMENT);
    this.commits = new Int32Array(shared);
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        driver: createRequire(import.meta.url).resolve('better-sqlite3'),
        path: options.path,
        shared,
        idleIntervalMs: options.idleIntervalMs,
      },
    });
    let failed = false;
    const fail = (error: Error): void => {
      for (const request of this.pending.values()) request.reject(error);
      this.pending.clear();
      if (failed || this.stopped) return;
      failed = true;
      options.onFailure(error);
    };
    this.worker.on('message', (raw: unknown) => {
      const message = WorkerMessageSchema.parse(raw);
      if (message.kind === 'failed') {
        fail(new Error(`background checkpoint failed: ${message.message}`));
        return;
      }
      const request = this.pending.get(message.id);
      if (!request) return;
      this.pending.delete(message.id);
      if (this.pending.size === 0 && !this.stopped) this.worker.unref();
      if (message.error !== undefined) request.reject(new Error(`background checkpoint failed: ${message.error}`));
      else request.resolve({ busy: message.busy === 1, log: message.log ?? 0, checkpointed: message.checkpointed ?? 0 });
    });
    this.worker.on('error', (error) => fail(error));
    this.exited = new Promise<void>((resolve) => {
      this.worker.once('exit', () => {
        fail(new Error('the background checkpoint thread exited'));
        resolve();
      });
    });
    // A checkpointer never keeps the process alive by itself. Unreferenced after the listeners
    // are attached: attaching a 'message' listener references the worker's port again.
    this.worker.unref();
  }

  /** Tells the worker that the writer committed; costs an atomic add. */
  committed(): void {
    Atomics.add(this.commits, COMMITS, 1);
  }

  /** One checkpoint by the worker, now, whatever its schedule. */
  checkpointNow(): Promise<CheckpointResult> {
    if (this.stopped) return Promise.reject(new Error('the background checkpointer is stopped'));
    const id = this.nextRequest++;
    // Someone awaits the answer: the process stays alive until it comes.
    this.worker.ref();
    return new Promise<CheckpointResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ kind: 'checkpoint', id });
    });
  }

  /** Closes the worker's connection and ends the thread. */
  async stop(): Promise<void> {
    if (this.stopped) return this.exited;
    this.stopped = true;
    // Keeps the process alive until the thread has closed its connection.
    this.worker.ref();
    this.worker.postMessage({ kind: 'stop' });
    await this.exited;
  }
}

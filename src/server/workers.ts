import type { FastifyBaseLogger } from 'fastify';
import type { Registry } from 'prom-client';
import type { Config } from '../config.js';
import type { Engine } from '../engine.js';
import type { Clock } from '../ports/clock.js';
import type { Store } from '../ports/store.js';

/**
 * A loop that runs beside the HTTP server (the hook dispatcher, the timer scheduler).
 * `start` begins it; `stop` resolves once the work in progress has finished, so a graceful
 * shutdown loses nothing.
 */
export interface BackgroundWorker {
  start(): void;
  stop(): Promise<void>;
}

export interface WorkerDeps {
  engine: Engine;
  store: Store;
  clock: Clock;
  logger: FastifyBaseLogger;
  /** How often polling workers look for work, when the caller chose. */
  dispatchIntervalMs?: number;
  /** The registry /metrics exposes: workers add their own metrics to it. */
  metricsRegistry: Registry;
  /** The environment's configuration (connectors read the default workspace's set-up from it). */
  config?: Partial<Config>;
  /** Webhook targets may be private, loopback or link-local addresses (HOOK_TARGETS_ALLOW_PRIVATE). */
  allowPrivateTargets?: boolean;
}

/** Builds the workers `startServer` starts after listening and stops after the last request. */
export type WorkersFactory = (deps: WorkerDeps) => BackgroundWorker[];

/** Starts every worker; if one fails to start, the ones already started are stopped again. */
export async function startWorkers(workers: readonly BackgroundWorker[]): Promise<void> {
  const started: BackgroundWorker[] = [];
  try {
    for (const worker of workers) {
      worker.start();
      started.push(worker);
    }
  } catch (error) {
    await stopWorkers(started);
    throw error;
  }
}

/** Stops every worker, all of them even if one fails; the first failure is rethrown after. */
export async function stopWorkers(workers: readonly BackgroundWorker[]): Promise<void> {
  const results = await Promise.allSettled(workers.map((worker) => worker.stop()));
  const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) throw failed.reason;
}

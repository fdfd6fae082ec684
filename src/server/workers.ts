import type { FastifyBaseLogger } from 'fastify';
import type { Registry } from 'prom-client';
import type { Config } from '../config.js';
import type { Engine } from '../engine.js';
import type { Clock } from '../ports/clock.js';
import type { Store } from '../ports/store.js';
import type { BackgroundWorker } from '../worker/background-worker.js';

export type { BackgroundWorker } from '../worker/background-worker.js';

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
  /** Webhook targets may be private-use or loopback addresses (HOOK_TARGETS_ALLOW_PRIVATE; link-local and reserved ones stay refused). */
  allowPrivateTargets?: boolean;
}

/** Builds the workers `startServer` starts after listening and stops after the last request. */
export type WorkersFactory = (deps: WorkerDeps) => BackgroundWorker[];

import type { FastifyInstance } from 'fastify';
import { Gauge } from 'prom-client';
import type { Config } from '../config.js';
import type { Engine } from '../engine.js';
import { createEngine } from '../engine.js';
import type { Clock } from '../ports/clock.js';
import { systemClock } from '../ports/clock.js';
import type { Store } from '../ports/store.js';
import { defaultWorkers } from '../worker/index.js';
import type { LoopTimers } from '../worker/polling-loop.js';
import { WorkerLease } from '../worker/worker-lease.js';
import { createApiKey, newApiKey } from './api-keys.js';
import { buildApp, type AppOptions } from './app.js';
import { createMetrics } from './metrics.js';
import type { BackgroundWorker, WorkersFactory } from './workers.js';

export { buildApp } from './app.js';
export type { AppLoggerOptions, AppOptions } from './app.js';
export type { BackgroundWorker, WorkerDeps, WorkersFactory } from './workers.js';
export { createApiKey, authenticateApiKey, revokeApiKey, hashApiKey, API_KEY_PREFIX } from './api-keys.js';

export interface StartServerOptions {
  store: Store;
  clock?: Clock;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: any free port (read it from `url`). */
  port?: number;
  logger?: AppOptions['logger'];
  /** Handed to the background workers: how often they poll for work. */
  dispatchIntervalMs?: number;
  publicUrl?: string;
  /**
   * The loops that run beside the server; started after listening, stopped after the last request.
   * Default: the hook dispatcher and the timer scheduler (`() => []` runs none).
   */
  workers?: WorkersFactory;
  /** Default process metrics on /metrics (default on). */
  defaultMetrics?: boolean;
  /** The environment's configuration, for the connectors of the default workspace (SLACK_*, HUBSPOT_*). */
  config?: Partial<Config>;
  /**
   * Webhook targets may be private-use or loopback addresses (HOOK_TARGETS_ALLOW_PRIVATE; link-local
   * and reserved ones stay refused): for self-hosted set-ups whose receivers are on the server's own
   * network. Default false.
   */
  allowPrivateTargets?: boolean;
  /**
   * How long `close` waits for the requests in flight, in ms (default 10,000). A client that
   * sends its body slowly, or never, must not keep a stopping server up: past this, the
   * connections still open are cut. Their requests were never answered, so nothing they sent
   * was acknowledged.
   */
  drainTimeoutMs?: number;
  /**
   * The workers run in one process at a time among the servers on one database: the one holding
   * the `workers.lease` meta row. A lease lasts `ttlMs` (default 30,000) unless renewed, every
   * `renewEveryMs` (default 10,000); a server without it tries again at each renewal and takes it
   * once it is released (`close`) or expired. `timers` drive the renewals (tests move their own).
   */
  workerLease?: { ttlMs?: number; renewEveryMs?: number; timers?: LoopTimers };
}

export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

export interface RunningServer {
  /** Where this process listens, e.g. http://127.0.0.1:3000 (a wildcard host is shown as loopback). */
  url: string;
  app: FastifyInstance;
  engine: Engine;
  /** A new workspace and its first API key (the key is returned once and stored hashed). */
  createWorkspaceWithKey(name: string): Promise<{ workspaceId: string; key: string }>;
  /** The first start's workspace and key: made only when the database has no workspace yet (null otherwise), atomically against another server starting beside it. */
  createFirstWorkspaceWithKey(name: string): Promise<{ workspaceId: string; key: string } | null>;
  /**
   * Stops accepting connections, lets the requests in flight finish (for at most
   * `drainTimeoutMs`, then cuts the connections left), then stops the workers.
   * The store stays open: whoever opened it closes it.
   */
  close(): Promise<void>;
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]', '']);

function urlOf(host: string, port: number): string {
  if (WILDCARD_HOSTS.has(host)) return `http://127.0.0.1:${port}`;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const clock = options.clock ?? systemClock;
  const engine = createEngine({ store: options.store, clock });
  const metrics = createMetrics({ defaultMetrics: options.defaultMetrics ?? true });
  const app = await buildApp({
    store: options.store,
    engine,
    clock,
    metrics,
    logger: options.logger ?? false,
    ...(options.publicUrl !== undefined ? { publicUrl: options.publicUrl } : {}),
    ...(options.config !== undefined ? { config: options.config } : {}),
    allowPrivateTargets: options.allowPrivateTargets ?? false,
  });
  const host = options.host ?? '127.0.0.1';
  await app.listen({ host, port: options.port ?? 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : (options.port ?? 0);

  let lease: WorkerLease;
  try {
    const workers: BackgroundWorker[] = (options.workers ?? defaultWorkers)({
      engine,
      store: options.store,
      clock,
      logger: app.log,
      metricsRegistry: metrics.registry,
      ...(options.dispatchIntervalMs !== undefined ? { dispatchIntervalMs: options.dispatchIntervalMs } : {}),
      ...(options.config !== undefined ? { config: options.config } : {}),
      allowPrivateTargets: options.allowPrivateTargets ?? false,
    });
    // The first acquisition is awaited: a lone server runs its workers as soon as it has started.
    lease = new WorkerLease({ store: options.store, clock, workers, logger: app.log, ...options.workerLease });
    const leased = lease;
    new Gauge({
      name: 'consentry_worker_lease_held',
      help: 'Whether this process holds the worker lease and so runs the background workers (webhook delivery, timers, the HubSpot sync, Slack alerts): 1 or 0; of the servers on one database, one should be 1',
      registers: [metrics.registry],
      collect() {
        this.set(leased.runsWorkers ? 1 : 0);
      },
    });
    await lease.start();
  } catch (error) {
    await app.close();
    throw error;
  }

  const drainTimeoutMs = options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
  let closing: Promise<void> | null = null;
  return {
    url: urlOf(host, port),
    app,
    engine,
    async createWorkspaceWithKey(name) {
      const workspace = await engine.createWorkspace({ name });
      const { key } = await createApiKey(options.store, { workspaceId: workspace.id, name: 'default', clock });
      return { workspaceId: workspace.id, key };
    },
    async createFirstWorkspaceWithKey(name) {
      const keys: string[] = [];
      // One transaction: a start killed half-way leaves no workspace without its key.
      const workspace = await engine.createFirstWorkspace(name, async (tx, made) => {
        const created = newApiKey({ workspaceId: made.id, name: 'default', clock });
        await tx.insertApiKey(created.row);
        keys.push(created.key);
      });
      const [key] = keys;
      return workspace && key !== undefined ? { workspaceId: workspace.id, key } : null;
    },
    close() {
      closing ??= (async () => {
        const drainLimit = setTimeout(() => {
          app.log.warn(`requests still in flight after ${drainTimeoutMs} ms of draining: closing their connections`);
          app.server.closeAllConnections();
        }, drainTimeoutMs);
        try {
          await app.close();
        } finally {
          clearTimeout(drainLimit);
          await lease.stop();
        }
      })();
      return closing;
    },
  };
}

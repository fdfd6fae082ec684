import type { Registry } from 'prom-client';
import { slackAlertStoreFor } from '../../connectors/slack/alert-store-for.js';
import { SLACK_CURSOR_KEY } from '../../connectors/slack/alert-store.js';
import { HUBSPOT_CURSOR_KEY } from '../../connectors/hubspot/fan-out.js';
import { hubSpotStateFor } from '../../connectors/hubspot/state-sqlite.js';
import { HubSpotSync } from '../../connectors/hubspot/sync.js';
import { SlackAlertDispatcher } from '../../connectors/slack/dispatcher.js';
import type { Config } from '../config.js';
import type { Engine } from '../engine.js';
import type { Clock } from '../ports/clock.js';
import type { Store } from '../ports/store.js';
import { HOOKS_CURSOR_KEY, HookDispatcher } from './hook-dispatcher.js';
import { RetentionPruner, type RetentionLogger } from './retention.js';
import { TimerScheduler } from './timer-scheduler.js';

export interface DefaultWorkerDeps {
  engine: Engine;
  store: Store;
  clock: Clock;
  logger: RetentionLogger;
  /** How often the workers poll (the outbox, due timers) when nothing wakes them; each has its own default. */
  dispatchIntervalMs?: number;
  metricsRegistry?: Registry;
  /** The environment's configuration: connectors read the default workspace's set-up from it. */
  config?: Partial<Config>;
  /** Deliver hooks to private-use and loopback addresses too (never link-local or reserved) (HOOK_TARGETS_ALLOW_PRIVATE); default false. */
  allowPrivateTargets?: boolean;
}

/**
 * The workers a server runs beside its routes: hook delivery, workflow timers, Slack alerts, the
 * HubSpot sync, and retention, which keeps the events those three read until each has read them.
 */
export function defaultWorkers(deps: DefaultWorkerDeps): [HookDispatcher, TimerScheduler, SlackAlertDispatcher, HubSpotSync, RetentionPruner] {
  const alerts = slackAlertStoreFor(deps.store);
  return [
    new HookDispatcher({
      store: deps.store,
      clock: deps.clock,
      logger: deps.logger,
      allowPrivateTargets: deps.allowPrivateTargets ?? false,
      ...(deps.dispatchIntervalMs !== undefined ? { intervalMs: deps.dispatchIntervalMs } : {}),
      ...(deps.metricsRegistry ? { metricsRegistry: deps.metricsRegistry } : {}),
    }),
    new TimerScheduler({
      engine: deps.engine,
      clock: deps.clock,
      logger: deps.logger,
      ...(deps.dispatchIntervalMs !== undefined ? { intervalMs: deps.dispatchIntervalMs } : {}),
    }),
    new SlackAlertDispatcher({
      engine: deps.engine,
      alerts,
      clock: deps.clock,
      env: deps.config ?? {},
      logger: deps.logger,
      ...(deps.dispatchIntervalMs !== undefined ? { intervalMs: deps.dispatchIntervalMs } : {}),
    }),
    new HubSpotSync({
      engine: deps.engine,
      store: deps.store,
      clock: deps.clock,
      env: deps.config ?? {},
      logger: deps.logger,
      ...(deps.dispatchIntervalMs !== undefined ? { intervalMs: deps.dispatchIntervalMs } : {}),
      ...(deps.metricsRegistry ? { metricsRegistry: deps.metricsRegistry } : {}),
    }),
    new RetentionPruner({
      store: deps.store,
      clock: deps.clock,
      logger: deps.logger,
      cursorKeys: [HOOKS_CURSOR_KEY, SLACK_CURSOR_KEY, HUBSPOT_CURSOR_KEY],
      // Closed Slack alerts and answered HubSpot callbacks name the contact (GDPR Art. 5(1)(e)); each port decides which are over.
      sweeps: [
        { name: 'slackAlerts', prune: (query) => alerts.pruneExpired(query) },
        { name: 'hubspotCallbacks', prune: (query) => hubSpotStateFor(deps.store).transaction((state) => state.pruneCallbacks(query)) },
      ],
      ...(deps.config?.RETENTION_DAYS !== undefined ? { retentionDays: deps.config.RETENTION_DAYS } : {}),
      ...(deps.metricsRegistry ? { metricsRegistry: deps.metricsRegistry } : {}),
    }),
  ];
}

export {
  HookDispatcher,
  createHookDispatcher,
  eventPayload,
  HOOKS_CURSOR_KEY,
  DEFAULT_CONCURRENCY,
  DEFAULT_PER_HOOK_CONCURRENCY,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_STOP_GRACE_MS,
} from './hook-dispatcher.js';
export type { HookDispatcherOptions, DispatchSummary, FanOutResult, AttemptOutcome } from './hook-dispatcher.js';
export { TimerScheduler, createTimerScheduler } from './timer-scheduler.js';
export { RetentionPruner, DEFAULT_RETENTION_DAYS, MIN_RETENTION_DAYS, MAX_RETENTION_DAYS, SWEEP_KINDS } from './retention.js';
export type { RetentionPrunerOptions, RetentionPass, RetentionLogger, RetentionSweep, SweepName, SweepQuery } from './retention.js';
export type { TimerSchedulerOptions } from './timer-scheduler.js';
export { signDelivery, verifyDeliverySignature } from './signature.js';
export type { SignedDelivery, VerifyDeliveryInput } from './signature.js';
export { createHookRegistry, outboundHookId, HookInputSchema } from './hooks.js';
export { getOutboundWebhookSecret, SecretRotationInputSchema, DEFAULT_PREVIOUS_SECRET_SECONDS, MAX_PREVIOUS_SECRET_SECONDS } from './signing-secrets.js';
export type { RotatedSecret, SecretRotationInput } from './signing-secrets.js';
export type { HookRegistry, HookInput, HookView, HookDetail, CreatedHook, DeliveryView, DeliveryPage, RetriedDeadLetters } from './hooks.js';
export { backoffDelayMs, equalJitterDelayMs, parseRetryAfterMs, DEFAULT_BACKOFF } from './backoff.js';
export { attemptSchedule, nextAttempt, DEFAULT_RETRY_WINDOW, DEFAULT_RETRY_WINDOW_MS } from './retry-window.js';
export type { RetryWindowPolicy, FailedAttempt, RetryDecision } from './retry-window.js';
export type { BackoffPolicy } from './backoff.js';
export { hookMatchesEvent } from './hook-matching.js';
export { createHttpSender, MAX_RESPONSE_BODY_BYTES } from './http-sender.js';
export type { DeliverySender, DeliveryRequest, DeliveryResponse, HttpSenderOptions } from './http-sender.js';
export { assertPublicTargetUrl, guardedLookup, hasNonPublicHost, isPublicAddress } from './target-guard.js';
export type { WorkerLogger } from './logger.js';

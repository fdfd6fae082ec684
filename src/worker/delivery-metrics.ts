import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { AttemptOutcome } from './hook-dispatcher.js';

const LATENCY_NAME = 'consentry_hook_delivery_latency_seconds';
const ATTEMPTS_NAME = 'consentry_hook_delivery_attempts_total';
const PENDING_NAME = 'consentry_hook_deliveries_pending';
const DEAD_NAME = 'consentry_hook_deliveries_dead';
const UNSUBSCRIBED_NAME = 'consentry_hook_deliveries_unsubscribed';
const ERASED_NAME = 'consentry_hook_deliveries_erased';
const OLDEST_NAME = 'consentry_hook_oldest_pending_delivery_age_seconds';

/** The delivery backlog as a scrape reads it from the store. */
export interface BacklogReading {
  pending: number;
  /** Dead letters that can be sent again (of live hooks, and of outbound webhooks to contacts not erased). */
  dead: number;
  /** Dead deliveries of deleted hooks: nothing sends them, and nothing is to be done about them. */
  unsubscribed: number;
  /** Dead replies to the outbound webhook whose contact was erased: never sent, and nothing is to be done about them either. */
  erased: number;
  /** 0 when nothing is pending. */
  oldestPendingAgeSeconds: number;
}

/**
 * Event-to-target latency (from the event's `occurredAt` to the 2xx answer), attempt outcomes,
 * and the backlog (pending and dead deliveries, the age of the oldest pending one), read from the
 * store when /metrics is scraped: it lives in the store, not in this process's memory, and a
 * count kept in memory would be wrong after a restart. The deliveries of a hook that was deleted
 * (DELETE, its target answered 410 Gone, or its API key was revoked) have a gauge of their own: an alert on dead letters
 * must not fire because a subscriber left, and they cannot be sent again anyway. So do the replies
 * to the outbound webhook whose contact was erased: not sending them is what erasure asks for
 * (GDPR Art. 17), not a failure, and they cannot be sent again either. No per-hook
 * labels: hooks are created by API clients, and a label per hook would let them grow the series
 * without bound.
 *
 * Metrics already registered (a second dispatcher on the same registry) are reused, since
 * prom-client refuses a name twice.
 */
export class DeliveryMetrics {
  private readonly latency: Histogram<'target'>;
  private readonly attempts: Counter<'outcome'>;

  constructor(registry: Registry, readBacklog: () => Promise<BacklogReading>) {
    this.latency = reuse(registry, LATENCY_NAME, Histogram) ??
      new Histogram({
        name: LATENCY_NAME,
        help: 'Time from an event occurring to its delivery being accepted by the target',
        labelNames: ['target'],
        buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
        registers: [registry],
      });
    this.attempts = reuse(registry, ATTEMPTS_NAME, Counter) ??
      new Counter({
        name: ATTEMPTS_NAME,
        help: 'Hook delivery attempts by outcome',
        labelNames: ['outcome'],
        registers: [registry],
      });

    const backlogGauge = storeReadingGauges(registry, readBacklog);
    backlogGauge(PENDING_NAME, 'Hook and outbound webhook deliveries waiting to be sent or retried', (b) => b.pending);
    backlogGauge(
      DEAD_NAME,
      'Hook and outbound webhook deliveries dead-lettered and not sent again yet (kept in the store; those of deleted hooks and replies to erased contacts are counted apart)',
      (b) => b.dead,
    );
    backlogGauge(
      UNSUBSCRIBED_NAME,
      'Deliveries of hooks that were deleted (DELETE, the target answered 410 Gone, or the API key that created the hook was revoked) that will never be sent: pending ones when the hook went, and its dead letters (kept in the store)',
      (b) => b.unsubscribed,
    );
    backlogGauge(
      ERASED_NAME,
      'Replies to the outbound webhook not sent because their contact was erased (DELETE /v1/contacts/{id}), which will never be sent: dead, kept in the store, whatever stopped them first',
      (b) => b.erased,
    );
    backlogGauge(OLDEST_NAME, 'Seconds since the event of the oldest pending delivery occurred (0 when none is pending)', (b) => b.oldestPendingAgeSeconds);
  }

  observeDelivered(target: 'hook' | 'outbound', latencyMs: number): void {
    this.latency.observe({ target }, Math.max(0, latencyMs) / 1000);
  }

  countAttempt(outcome: AttemptOutcome): void {
    this.attempts.inc({ outcome });
  }
}

/**
 * Gauges set from one reading of the store at each scrape: prom-client collects every metric of
 * a scrape at once, so the gauges made by the returned function share one `read` between them.
 * A gauge already registered under its name (a second worker on the registry) is left as it is.
 */
export function storeReadingGauges<R>(registry: Registry, read: () => Promise<R>): (name: string, help: string, pick: (reading: R) => number) => void {
  let reading: Promise<R> | null = null;
  const shared = (): Promise<R> => {
    reading ??= read().finally(() => {
      reading = null;
    });
    return reading;
  };
  return (name, help, pick) => {
    if (reuse(registry, name, Gauge)) return;
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        this.set(pick(await shared()));
      },
    });
  };
}

/** The metric `name` already registered as a `kind`: a second worker on one registry shares it, since prom-client refuses a name twice. */
export function reuse<T>(registry: Registry, name: string, kind: abstract new (...args: never[]) => T): T | null {
  const existing = registry.getSingleMetric(name);
  return existing instanceof kind ? existing : null;
}

import { Counter, Histogram, type Registry } from 'prom-client';
import type { AttemptOutcome } from './hook-dispatcher.js';

const LATENCY_NAME = 'consentry_hook_delivery_latency_seconds';
const ATTEMPTS_NAME = 'consentry_hook_delivery_attempts_total';

/**
 * Event-to-target latency (from the event's `occurredAt` to the 2xx answer) and attempt
 * outcomes. Metrics already registered (a second dispatcher on the same registry) are reused,
 * since prom-client refuses a name twice.
 */
export class DeliveryMetrics {
  private readonly latency: Histogram<'target'>;
  private readonly attempts: Counter<'outcome'>;

  constructor(registry: Registry) {
    const existingLatency = registry.getSingleMetric(LATENCY_NAME);
    this.latency =
      existingLatency instanceof Histogram
        ? existingLatency
        : new Histogram({
            name: LATENCY_NAME,
            help: 'Time from an event occurring to its delivery being accepted by the target',
            labelNames: ['target'],
            buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
            registers: [registry],
          });
    const existingAttempts = registry.getSingleMetric(ATTEMPTS_NAME);
    this.attempts =
      existingAttempts instanceof Counter
        ? existingAttempts
        : new Counter({
            name: ATTEMPTS_NAME,
            help: 'Hook delivery attempts by outcome',
            labelNames: ['outcome'],
            registers: [registry],
          });
  }

  observeDelivered(target: 'hook' | 'outbound', latencyMs: number): void {
    this.latency.observe({ target }, Math.max(0, latencyMs) / 1000);
  }

  countAttempt(outcome: AttemptOutcome): void {
    this.attempts.inc({ outcome });
  }
}

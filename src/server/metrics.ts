import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import type { KeywordResult } from '../core/keywords.js';

/**
 * One registry per app (never prom-client's global one), so several apps can live in one
 * process (tests, the benchmark) without clashing metric names.
 */
export interface ServerMetrics {
  registry: Registry;
  observeRequest(labels: { route: string; method: string; status: number }, seconds: number): void;
  countInbound(channel: string, duplicate: boolean, keyword: KeywordResult | null): void;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): ServerMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

  const requestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration in seconds, by route pattern, method and status code',
    labelNames: ['route', 'method', 'status_code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const inboundMessages = new Counter({
    name: 'consentry_inbound_messages_total',
    help: 'Inbound messages accepted by POST /v1/messages, by channel; duplicate="true" for a repeated channel message id',
    labelNames: ['channel', 'duplicate'] as const,
    registers: [registry],
  });
  const keywordIntents = new Counter({
    name: 'consentry_keyword_intents_total',
    help: 'What the keyword recogniser made of inbound texts (opt_in, opt_out, help, none), by language',
    labelNames: ['intent', 'language'] as const,
    registers: [registry],
  });

  return {
    registry,
    observeRequest: ({ route, method, status }, seconds) =>
      requestDuration.observe({ route, method, status_code: String(status) }, seconds),
    countInbound: (channel, duplicate, keyword) => {
      inboundMessages.inc({ channel, duplicate: String(duplicate) });
      if (keyword && !duplicate) keywordIntents.inc({ intent: keyword.intent, language: keyword.language ?? 'none' });
    },
  };
}

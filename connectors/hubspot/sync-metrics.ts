import { Counter, type Registry } from 'prom-client';
import { reuse, storeReadingGauges } from '../../src/worker/delivery-metrics.js';
import type { HubSpotState } from './state.js';

const CHANGES_NAME = 'consentry_hubspot_sync_changes_total';
const PENDING_NAME = 'consentry_hubspot_sync_changes_pending';
const DEAD_NAME = 'consentry_hubspot_sync_changes_dead';

export type SyncOutcomeCounts = { done: number; retried: number; dead: number; held: number };

/**
 * What the HubSpot sync did (changes written, retried, dead-lettered, held for a set-up problem)
 * and what waits, read from the store at each scrape like the hook delivery backlog
 * (delivery-metrics.ts): the queue lives in the database, not in this process. Totals over all
 * workspaces, without a workspace label, so the series do not grow with the tenants.
 */
export class HubSpotSyncMetrics {
  private readonly changes: Counter<'outcome'>;

  constructor(registry: Registry, state: HubSpotState) {
    this.changes =
      reuse(registry, CHANGES_NAME, Counter) ??
      new Counter({
        name: CHANGES_NAME,
        help: 'Changes the HubSpot sync finished with, by outcome: done (written to HubSpot), retried, dead (given up, a sync.failed event), held (the workspace set-up is broken; retried after the hold)',
        labelNames: ['outcome'],
        registers: [registry],
      });
    // Read, not a transaction: a scrape must answer while another connection holds the write lock.
    const gauge = storeReadingGauges(registry, () =>
      state.read(async (s) => ({ pending: await s.countAllChanges('pending'), dead: await s.countAllChanges('dead') })),
    );
    gauge(PENDING_NAME, 'Changes waiting to be written to HubSpot (due now, retrying or held)', (c) => c.pending);
    gauge(DEAD_NAME, 'Changes the HubSpot sync gave up on (dead letters, kept in the store)', (c) => c.dead);
  }

  record(counts: SyncOutcomeCounts): void {
    for (const outcome of ['done', 'retried', 'dead', 'held'] as const) {
      if (counts[outcome] > 0) this.changes.inc({ outcome }, counts[outcome]);
    }
  }
}

import type BetterSqlite3 from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hubSpotStateFor } from '../../connectors/hubspot/state-sqlite.js';
import { pendingChange } from '../../connectors/hubspot/state.js';
import { HubSpotSyncMetrics } from '../../connectors/hubspot/sync-metrics.js';
import { createEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import { buildApp } from '../../src/server/app.js';
import { createMetrics } from '../../src/server/metrics.js';
import type { SqliteStore } from '../../src/store/sqlite.js';
import { storeBesideAnotherProcess, type StoreBesideAnotherProcess } from '../store/locked-database.js';

const NOW = '2026-03-01T09:00:00.000Z';

/** The value of one series in the Prometheus text, or undefined when it is not there. */
function series(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe('/metrics while another process holds the write lock', () => {
  let fixture: StoreBesideAnotherProcess;
  let store: SqliteStore;
  let app: FastifyInstance;
  let other: BetterSqlite3.Database;
  let workspaceId: string;

  beforeEach(async () => {
    fixture = storeBesideAnotherProcess('consentry-metrics-busy-');
    ({ store, other } = fixture);
    const clock = new FakeClock(NOW);
    const engine = createEngine({ store, clock });
    workspaceId = (await engine.createWorkspace({ name: 'Example Shop' })).id;
    const metrics = createMetrics({ defaultMetrics: false });
    // As the HubSpot sync registers them on the registry /metrics exposes.
    new HubSpotSyncMetrics(metrics.registry, hubSpotStateFor(store));
    app = await buildApp({ store, engine, clock, metrics });
  });

  afterEach(async () => {
    await app.close();
    await fixture.close();
  });

  it('answers with the HubSpot sync backlog as committed, without waiting for the lock', async () => {
    const change = {
      target: 'contact' as const,
      workspaceId,
      contactId: 'c1',
      payload: { kind: 'contact' as const, properties: { consentry_sms_status: 'opted_in' } },
      occurredAt: NOW,
    };
    await hubSpotStateFor(store).transaction((s) =>
      s.insertChanges([
        pendingChange({ ...change, position: 1, eventId: 'evt_1' }, NOW),
        pendingChange({ ...change, position: 2, eventId: 'evt_2' }, NOW),
        { ...pendingChange({ ...change, position: 3, eventId: 'evt_3' }, NOW), status: 'dead' },
      ]),
    );
    other.exec('BEGIN IMMEDIATE');
    other.prepare("UPDATE hubspot_sync_changes SET status = 'dead' WHERE position = 1").run();
    const before = fixture.lockClock.ms;
    const response = await app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode, response.body).toBe(200);
    expect(series(response.body, 'consentry_hubspot_sync_changes_pending')).toBe(2);
    expect(series(response.body, 'consentry_hubspot_sync_changes_dead')).toBe(1);
    // Nothing waited for the lock.
    expect(fixture.lockClock.ms).toBe(before);
    other.exec('COMMIT');
    const after = await app.inject({ method: 'GET', url: '/metrics' });
    expect(series(after.body, 'consentry_hubspot_sync_changes_pending')).toBe(1);
    expect(series(after.body, 'consentry_hubspot_sync_changes_dead')).toBe(2);
  });
});

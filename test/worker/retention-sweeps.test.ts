import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { SlackAlertEvent } from '../../connectors/slack/actions-port.js';
import { slackAlertStoreFor } from '../../connectors/slack/alert-store-for.js';
import { createEngine, type Engine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import type { Store } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { defaultWorkers } from '../../src/worker/index.js';
import { RetentionPruner, type RetentionSweep, type SweepQuery } from '../../src/worker/retention.js';
import { START } from './fixtures.js';
import { recordingLogger } from './recording-logger.js';

const DAY = 86_400_000;

let engine: Engine | undefined;
const cleanups: (() => void)[] = [];

afterEach(async () => {
  await engine?.store.close();
  engine = undefined;
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function consentFailed(id: string, workspaceId: string): SlackAlertEvent {
  return {
    id,
    type: 'consent.failed',
    version: 1,
    workspaceId,
    occurredAt: START,
    contactId: 'ct_1',
    data: {
      contactId: 'ct_1',
      channel: 'whatsapp',
      purpose: 'privacy',
      reason: 'timeout',
      attempts: 1,
      workflowId: 'request-consent-privacy',
      runId: 'run_1',
      conversationId: 'cv_1',
      contactName: 'Ana Test',
    },
  };
}

/** A workspace with two alerts Slack shows: one handled (closed), one whose buttons wait (open). */
async function withAlerts(store: Store): Promise<{ clock: FakeClock; engine: Engine; workspaceId: string }> {
  const clock = new FakeClock(START);
  const created = createEngine({ store, clock });
  engine = created;
  const { id: workspaceId } = await created.createWorkspace({ name: 'Acme' });
  const alerts = slackAlertStoreFor(store);
  for (const [n, alertId] of ['al_handled', 'al_open'].entries()) {
    await alerts.create({
      id: alertId,
      workspaceId,
      event: consentFailed(`ev_${n}`, workspaceId),
      contactName: 'Ana Test',
      contactUrl: null,
      slackChannel: 'C0ALERTS01',
      createdAt: START,
    });
    await alerts.markPosted(workspaceId, alertId, { channel: 'C0ALERTS01', ts: `1772359200.00010${n}` });
  }
  const claim = { action: 'resend_consent_request' as const, slackUserId: 'UACTOR1', at: START };
  await alerts.claim(workspaceId, 'al_handled', claim);
  await alerts.resolve(workspaceId, 'al_handled', claim);
  return { clock, engine: created, workspaceId };
}

function retentionOf(workers: ReturnType<typeof defaultWorkers>): RetentionPruner {
  const found = workers.find((worker): worker is RetentionPruner => worker instanceof RetentionPruner);
  if (!found) throw new Error('no RetentionPruner among the workers');
  return found;
}

describe("retention of the connectors' rows", () => {
  it.each([
    ['memory', () => createMemoryStore()],
    [
      'SQLite',
      () => {
        const dir = mkdtempSync(join(tmpdir(), 'consentry-retention-sweeps-'));
        cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
        return createSqliteStore({ path: join(dir, 'c.db') });
      },
    ],
  ])('deletes, beside the server, the closed Slack alerts older than RETENTION_DAYS and keeps the open ones (%s)', async (_name, open) => {
    const store = open();
    const world = await withAlerts(store);
    const { clock, workspaceId } = world;
    const logger = recordingLogger();
    const registry = new Registry();
    const retention = retentionOf(defaultWorkers({ engine: world.engine, store, clock, logger, metricsRegistry: registry, config: { RETENTION_DAYS: 7 } }));

    clock.advance(7 * DAY);
    expect(await retention.runOnce()).toMatchObject({ slackAlerts: 0 });
    clock.advance(1);
    expect(await retention.runOnce()).toMatchObject({ slackAlerts: 1, more: false });
    const alerts = slackAlertStoreFor(store);
    expect(await alerts.get(workspaceId, 'al_handled')).toBeNull();
    expect(await alerts.get(workspaceId, 'al_open')).not.toBeNull();
    expect(logger.lines).toEqual([
      expect.objectContaining({ level: 'info', message: 'retention deleted expired rows', details: expect.objectContaining({ slackAlerts: 1, more: false }) }),
    ]);
    expect(await registry.metrics()).toContain('consentry_retention_deleted_total{kind="slack_alerts"} 1');

    clock.advance(365 * DAY);
    expect(await retention.runOnce()).toMatchObject({ slackAlerts: 0 });
    expect(await alerts.get(workspaceId, 'al_open')).not.toBeNull();
  });

  it("works through a sweep's backlog in batches of the batch size beside the store's, and says when a pass left some", async () => {
    const store = createMemoryStore();
    const clock = new FakeClock(START);
    engine = createEngine({ store, clock });
    let left = 45;
    const queries: SweepQuery[] = [];
    const sweep: RetentionSweep = {
      name: 'hubspotCallbacks',
      prune: async (query) => {
        queries.push(query);
        const deleted = Math.min(left, query.limit);
        left -= deleted;
        return deleted;
      },
    };
    let transactions = 0;
    const counting: Store = {
      ...store,
      transaction: (fn) => {
        transactions += 1;
        return store.transaction(fn);
      },
    };
    const registry = new Registry();
    const pruner = new RetentionPruner({ store: counting, clock, cursorKeys: [], batchSize: 2, sweeps: [sweep], metricsRegistry: registry });

    expect(await pruner.runOnce()).toEqual({ processedMessages: 0, events: 0, deliveries: 0, runs: 0, hubspotCallbacks: 40, more: true });
    // The store had nothing to delete: it is asked once, the sweep as long as it fills its batches.
    expect(transactions).toBe(1);
    expect(queries).toHaveLength(20);
    expect(queries[0]).toEqual({ before: new Date(Date.parse(START) - 30 * DAY).toISOString(), limit: 2 });
    expect(await pruner.runOnce()).toMatchObject({ hubspotCallbacks: 5, more: false });
    expect(await pruner.runOnce()).toMatchObject({ hubspotCallbacks: 0, more: false });
    expect(await registry.metrics()).toContain('consentry_retention_deleted_total{kind="hubspot_callbacks"} 45');
  });

  it("goes on with the store's rows and the other sweeps when a sweep fails, and says which failed", async () => {
    const store = createMemoryStore();
    const clock = new FakeClock(START);
    engine = createEngine({ store, clock });
    const logger = recordingLogger();
    const failing: RetentionSweep = { name: 'slackAlerts', prune: () => Promise.reject(new Error('database disk image is malformed')) };
    const working: RetentionSweep = { name: 'hubspotCallbacks', prune: async () => 1 };
    const pruner = new RetentionPruner({ store, clock, cursorKeys: [], sweeps: [failing, working], logger });

    expect(await pruner.runOnce()).toEqual({ processedMessages: 0, events: 0, deliveries: 0, runs: 0, slackAlerts: 0, hubspotCallbacks: 1, more: false });
    expect(logger.lines).toEqual([
      { level: 'error', message: 'retention could not delete expired rows of a connector', details: { err: expect.any(Error), kind: 'slack_alerts' } },
      expect.objectContaining({ level: 'info', message: 'retention deleted expired rows', details: expect.objectContaining({ hubspotCallbacks: 1 }) }),
    ]);
  });
});

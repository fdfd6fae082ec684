import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { hubSpotStateFor } from '../../../connectors/hubspot/state-sqlite.js';
import { hubSpotStatus } from '../../../connectors/hubspot/status.js';
import { withoutContactData } from '../../../connectors/hubspot/sync.js';
import { recordingLogger } from '../../worker/recording-logger.js';
import { linkedContact, startHarness, type Harness } from './harness.js';

const actor = { kind: 'user' as const, id: 'user-ana' };

/** The value of one series in the Prometheus text, or undefined when it is not there. */
async function series(registry: Registry, name: string): Promise<number | undefined> {
  const text = await registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

describe('HubSpot sync: logs and metrics for the operator', () => {
  it('logs a failed write once per pass and counts it; the backlog gauges read the store', async () => {
    const logger = recordingLogger();
    const registry = new Registry();
    h = await startHarness({ sync: { maxAttempts: 2, logger, metricsRegistry: registry } });
    const { contactId } = await linkedContact(h, 'ana.test@example.com');
    h.fake.failNext(1000, 503);
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor });

    await h.sync.runOnce();
    expect(logger.lines).toEqual([
      {
        level: 'warn',
        message: 'HubSpot sync could not write changes; retrying',
        details: { workspaceId: h.workspaceId, changes: 1, operations: ['update_contact'], error: expect.stringContaining('503') },
      },
    ]);
    expect(await series(registry, 'consentry_hubspot_sync_changes_total{outcome="retried"}')).toBe(1);
    expect(await series(registry, 'consentry_hubspot_sync_changes_pending')).toBe(1);
    expect(await series(registry, 'consentry_hubspot_sync_changes_dead')).toBe(0);

    h.clock.advance(60 * 60 * 1000);
    await h.sync.runOnce();
    expect(logger.lines.slice(1)).toEqual([
      {
        level: 'error',
        message: 'HubSpot sync gave up on changes: dead-lettered, sync.failed raised',
        details: { workspaceId: h.workspaceId, changes: 1, operations: ['update_contact'], error: expect.stringContaining('gave up after 2 attempts') },
      },
    ]);
    expect(await series(registry, 'consentry_hubspot_sync_changes_total{outcome="dead"}')).toBe(1);
    expect(await series(registry, 'consentry_hubspot_sync_changes_pending')).toBe(0);
    expect(await series(registry, 'consentry_hubspot_sync_changes_dead')).toBe(1);
  });

  it('counts written changes and logs nothing when all goes well', async () => {
    const logger = recordingLogger();
    const registry = new Registry();
    h = await startHarness({ sync: { logger, metricsRegistry: registry } });
    const { contactId } = await linkedContact(h, 'ana.test@example.com');
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor });
    await h.sync.drain();
    expect(logger.lines).toEqual([]);
    expect(await series(registry, 'consentry_hubspot_sync_changes_total{outcome="done"}')).toBe(1);
  });

  it("keeps the contact's address out of the log while the status keeps HubSpot's whole answer", async () => {
    const logger = recordingLogger();
    h = await startHarness({ sync: { logger } });
    h.fake.seedContact({ email: 'taken.test@example.com' });
    const bad = await linkedContact(h, 'bad.test@example.com');
    await h.workspace.updateContact(bad.contactId, { email: 'taken.test@example.com' });
    await h.sync.drain();
    const workspace = await h.workspace.get();
    const view = await hubSpotStatus(hubSpotStateFor(h.store), workspace, {}, true, h.clock.now());
    expect(view.deadLetters.recent[0]?.lastError).toContain('taken.test@example.com');
    const logged = logger.lines.filter((line) => line.level === 'error');
    expect(logged).toHaveLength(1);
    expect(JSON.stringify(logged)).not.toContain('taken.test@example.com');
    expect(logged[0]?.details.error).toContain('<e-mail>');
  });
});

describe('withoutContactData', () => {
  it.each([
    ['Contact with email ana.test@example.com already exists', 'Contact with email <e-mail> already exists'],
    ['Property "phone" value +34 600 000 001 is invalid', 'Property "phone" value <phone> is invalid'],
    ['(+34600000001) and <ana@example.com>', '(<phone>) and <<e-mail>>'],
    ['HubSpot daily API limit reached: sync paused until 2026-03-03T00:00:00.000Z', 'HubSpot daily API limit reached: sync paused until 2026-03-03T00:00:00.000Z'],
    ['HubSpot contact 12345678901 no longer exists', 'HubSpot contact 12345678901 no longer exists'],
  ])('%s', (text, logged) => {
    expect(withoutContactData(text)).toBe(logged);
  });
});

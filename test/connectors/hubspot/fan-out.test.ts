import { afterEach, describe, expect, it } from 'vitest';
import { fanOutBatch, HUBSPOT_CURSOR_KEY } from '../../../connectors/hubspot/fan-out.js';
import { hubSpotStateFor } from '../../../connectors/hubspot/state-sqlite.js';
import { linkedContact, startHarness, type Harness } from './harness.js';

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

const actor = { kind: 'user' as const, id: 'user-ana' };

async function fanOut(harness: Harness) {
  const state = hubSpotStateFor(harness.store);
  const result = await state.transaction((s, tx) => fanOutBatch(s, tx, {}, harness.clock.now(), 100));
  const rows = await state.transaction((s) => s.listDueChanges(harness.clock.now().toISOString(), 1000));
  return { result, rows };
}

describe('reading the outbox for HubSpot', () => {
  it('turns each event into its rows once, and advances the cursor with them', async () => {
    h = await startHarness({ settings: { purposes: ['loyalty-club'] } });
    const { contactId } = await linkedContact(h, 'ana.test@example.com');
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'any', status: 'opted_out', source: 'manual', actor });
    await h.workspace.addTag(contactId, 'VIP');
    await h.workspace.updateContact(contactId, { name: 'Ana Test' });
    await h.workspace.setConsent({ contactId, purpose: 'loyalty-club', channel: 'sms', status: 'opted_out', source: 'manual', actor });
    const first = await fanOut(h);
    expect(first.rows.map((r) => `${r.target}:${r.payload.kind}`)).toEqual(['contact:contact', 'email:email', 'contact:contact']);
    expect(first.rows[0]?.payload).toEqual(expect.objectContaining({ properties: expect.objectContaining({ consentry_webchat_status: 'opted_out', consentry_email_status: 'opted_out' }) }));
    expect(first.rows[2]?.payload).toEqual({ kind: 'contact', properties: { consentry_tags: 'VIP' } });
    const cursor = await h.store.transaction((tx) => tx.getMeta(HUBSPOT_CURSOR_KEY));
    const again = await fanOut(h);
    expect(again.result).toEqual({ events: 0, changes: 0, resumed: 0 });
    expect(again.rows).toHaveLength(3);
    expect(await h.store.transaction((tx) => tx.getMeta(HUBSPOT_CURSOR_KEY))).toBe(cursor);
  });

  it('queues no email subscription without a subscription id, and nothing for its own sync.failed', async () => {
    h = await startHarness({ hubspot: { emailSubscriptionId: null } });
    const { contactId } = await linkedContact(h, 'ana.test@example.com');
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'email', status: 'opted_out', source: 'manual', actor });
    await h.workspace.reportSyncFailure({ integration: 'hubspot', contactId, operation: 'update_contact', reason: 'test', retryable: false });
    const { rows } = await fanOut(h);
    expect(rows.map((r) => r.target)).toEqual(['contact']);
  });

  it('refuses to start over when the cursor is not a position', async () => {
    h = await startHarness();
    await h.store.transaction((tx) => tx.setMeta(HUBSPOT_CURSOR_KEY, 'yesterday'));
    await expect(fanOut(h)).rejects.toThrow(/not a position/);
  });
});

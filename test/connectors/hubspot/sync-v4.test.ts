import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { hubSpotStatus } from '../../../connectors/hubspot/status.js';
import { hubSpotStateFor } from '../../../connectors/hubspot/state-sqlite.js';
import { EMAIL_SUBSCRIPTION_STAMP } from '../../../connectors/hubspot/sync.js';
import type { FakeAnswer } from '../../fakes/hubspot-server.js';
import { linkedContact, startHarness, SUBSCRIPTION_ID, type Harness, type HarnessOptions } from './harness.js';

/**
 * v4 batch write (https://developers.hubspot.com/docs/api-reference/communication-preferences-subscriptions-v4/subscription-status/post-communication-preferences-v4-statuses-batch-write)
 * answers `results[]` (subscriberIdString, subscriptionId, status) and `errors[]` whose `context` is
 * an object of no set shape, beside an `id`: only a result proves a write.
 */
const V4 = 'POST /communication-preferences/v4/statuses/batch/write';
const ANA = 'ana.test@example.com';
const actor = { kind: 'user' as const, id: 'user-ana' };
const BatchBody = z.looseObject({ results: z.array(z.record(z.string(), z.unknown())) });

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

async function status(harness: Harness) {
  return hubSpotStatus(hubSpotStateFor(harness.store), await harness.workspace.get(), {}, true, harness.clock.now());
}

async function syncFailures(harness: Harness) {
  return (await harness.workspace.listEvents({ types: ['sync.failed'] })).map((e) => e.data);
}

function subscription(harness: Harness): string | undefined {
  return harness.fake.state.emailSubscriptions.get(ANA)?.get(SUBSCRIPTION_ID)?.status;
}

async function emailStamp(harness: Harness, contactId: string) {
  const states = await hubSpotStateFor(harness.store).transaction((s) => s.getContactStates(harness.workspaceId, [contactId]));
  return states.get(contactId)?.stamps[EMAIL_SUBSCRIPTION_STAMP];
}

/** Ana subscribed through v4, then opted out in Consentry; the opt-out is not synced yet. */
async function subscribedThenOptedOut(options: HarnessOptions = {}): Promise<{ harness: Harness; contactId: string }> {
  const harness = await startHarness(options);
  h = harness;
  const { contactId } = await linkedContact(harness, ANA);
  await harness.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'email', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Newsletter form', source: 'manual', actor });
  await harness.sync.drain();
  expect(subscription(harness)).toBe('SUBSCRIBED');
  harness.clock.advance(1000);
  await harness.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'email', status: 'opted_out', source: 'manual', actor });
  return { harness, contactId };
}

describe('HubSpot sync: v4 subscription writes count only what a result shows', () => {
  it('dead-letters a write refused by an error that names the address in `id` with `context: {}`, and keeps the opt-in stamp', async () => {
    const { harness, contactId } = await subscribedThenOptedOut();
    harness.fake.state.refusedSubscribers.add(ANA);
    const stampBefore = await emailStamp(harness, contactId);
    const summary = await harness.sync.drain();
    expect(summary.dead).toBe(1);
    expect(subscription(harness)).toBe('SUBSCRIBED');
    expect(await syncFailures(harness)).toEqual([
      expect.objectContaining({ contactId, operation: 'email_subscription', reason: expect.stringContaining(`Cannot change the subscription status of ${ANA}`) }),
    ]);
    const view = await status(harness);
    expect(view.deadLetters.recent).toEqual([expect.objectContaining({ target: 'email', contactId })]);
    // HubSpot does not hold the opt-out: the stamp still says the opt-in.
    expect(await emailStamp(harness, contactId)).toEqual(stampBefore);
  });

  it('still reads an error that names the address in `context.subscriberIdString`', async () => {
    const { harness, contactId } = await subscribedThenOptedOut({ fake: { v4ErrorsName: 'context' } });
    harness.fake.state.refusedSubscribers.add(ANA);
    expect((await harness.sync.drain()).dead).toBe(1);
    expect(await syncFailures(harness)).toEqual([expect.objectContaining({ contactId, operation: 'email_subscription' })]);
  });

  it('sends again a write with neither a result nor an error naming it, and it goes through once HubSpot takes it', async () => {
    const { harness, contactId } = await subscribedThenOptedOut({ fake: { v4ErrorsName: 'nothing' } });
    harness.fake.state.refusedSubscribers.add(ANA);
    const first = await harness.sync.runOnce();
    expect(first).toMatchObject({ done: 1, retried: 1, dead: 0 });
    expect(subscription(harness)).toBe('SUBSCRIBED');
    expect((await status(harness)).backlog.pending).toBe(1);
    expect(await syncFailures(harness)).toEqual([]);

    harness.fake.state.refusedSubscribers.delete(ANA);
    harness.clock.advance(60 * 60 * 1000);
    const again = await harness.sync.drain();
    expect(again.done).toBe(1);
    expect(subscription(harness)).toBe('NOT_SUBSCRIBED');
    expect((await status(harness)).backlog.pending).toBe(0);
    expect((await emailStamp(harness, contactId))?.occurredAt).toBe('2026-03-02T10:00:01.000Z');
  });

  it('dead-letters such a write after the attempts are used up', async () => {
    const { harness, contactId } = await subscribedThenOptedOut({ fake: { v4ErrorsName: 'nothing' }, sync: { maxAttempts: 2 } });
    harness.fake.state.refusedSubscribers.add(ANA);
    await harness.sync.runOnce();
    harness.clock.advance(60 * 60 * 1000);
    await harness.sync.runOnce();
    const view = await status(harness);
    expect(view.deadLetters.count).toBe(1);
    expect(view.deadLetters.recent[0]?.lastError).toContain('gave up after 2 attempts');
    expect(await syncFailures(harness)).toEqual([expect.objectContaining({ contactId, operation: 'email_subscription' })]);
  });

  it('does not take a result with another status, or another subscription, for the write asked', async () => {
    const { harness } = await subscribedThenOptedOut();
    const resultsAs = (change: (result: Record<string, unknown>) => Record<string, unknown>) => (answer: FakeAnswer): FakeAnswer => {
      const body = BatchBody.parse(answer.body);
      return { ...answer, body: { ...body, results: body.results.map(change) } };
    };
    harness.fake.rewriteNext(V4, resultsAs((r) => ({ ...r, status: 'SUBSCRIBED' })));
    expect(await harness.sync.runOnce()).toMatchObject({ retried: 1, dead: 0 });
    harness.clock.advance(60 * 60 * 1000);
    harness.fake.rewriteNext(V4, resultsAs((r) => ({ ...r, subscriptionId: 9999 })));
    expect(await harness.sync.runOnce()).toMatchObject({ retried: 1, dead: 0 });
    harness.clock.advance(60 * 60 * 1000);
    // The address compared without regard to case, as HubSpot may spell it back.
    harness.fake.rewriteNext(V4, resultsAs((r) => ({ ...r, subscriberIdString: String(r.subscriberIdString).toUpperCase() })));
    expect(await harness.sync.runOnce()).toMatchObject({ done: 1, retried: 0 });
    expect((await status(harness)).backlog.pending).toBe(0);
  });
});

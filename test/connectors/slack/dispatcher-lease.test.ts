import { describe, expect, it } from 'vitest';
import type { IdGenerator } from '../../../src/ports/ids.js';
import { fakeSlackChat, useSlackMsw, type SlackCall } from './harness.js';
import { alertIdOf, append, CHANNEL, consentFailed, contact, dispatcher, isDigest, slackSettings, useDispatcherWorld, workspace } from './dispatcher-world.js';

const msw = useSlackMsw({ passLoopback: false });
const slack = fakeSlackChat();
const { callsTo } = slack;
const world = useDispatcherWorld(slack, msw);

/** The second chat.postMessage of a test: its `ts` as the fake Slack numbers them. */
const DIGEST_TS = '1767261600.000002';

/** Alert ids shared by every dispatcher of a test (al1, al2, … in the order alerts are made), so each post names its alert. */
function sharedIds(): IdGenerator {
  let seq = 0;
  return { next: () => `al${++seq}` };
}

/** What each Slack call of one stretch of a test was: the alert a post carries, or `digest` for a digest message. */
function namesOf(calls: readonly SlackCall[]): string[] {
  return calls.map((call) => (isDigest(call) ? 'digest' : (alertIdOf(call) ?? 'none')));
}

describe('SlackAlertDispatcher under the worker lease', () => {
  it('posts nothing while the lease is not held, keeps the alerts, and posts each once when it is again', async () => {
    const ws = await workspace(world);
    const ana = await contact(world, ws.id, 'Ana Test');
    const bea = await contact(world, ws.id, 'Bea Test');
    await append(world, consentFailed(world, ws.id, ana), consentFailed(world, ws.id, bea));
    let leased = false;
    const alerts = dispatcher(world);
    alerts.sendOnlyWhile(() => leased);

    expect(await alerts.runOnce()).toMatchObject({ events: 2, alerts: 2, posted: 0 });
    world.clock.advance(60_000);
    expect(await alerts.runOnce()).toMatchObject({ posted: 0 });
    expect(callsTo('chat.postMessage')).toHaveLength(0);
    expect(await world.alerts.listPending(ws.id, 10)).toHaveLength(2);

    leased = true;
    expect(await alerts.runOnce()).toMatchObject({ posted: 1 });
    world.clock.advance(1_000);
    expect(await alerts.runOnce()).toMatchObject({ posted: 1 });
    expect(callsTo('chat.postMessage')).toHaveLength(2);
    expect(await world.alerts.listPending(ws.id, 10)).toEqual([]);
  });

  it('stops posting within a pass once the lease is lost', async () => {
    const ws = await workspace(world);
    const ids = await Promise.all(['Ana Test', 'Bea Test', 'Cai Test'].map((name) => contact(world, ws.id, name)));
    await append(world, ...ids.map((id) => consentFailed(world, ws.id, id)));
    const alerts = dispatcher(world, { minIntervalMs: 0 });
    // Held for the first Slack call only: the clock of a paused VM passed the lease's expiry mid-pass.
    let asked = 0;
    alerts.sendOnlyWhile(() => {
      asked += 1;
      return callsTo('chat.postMessage').length === 0;
    });
    const summary = await alerts.runOnce();
    expect(summary.posted).toBe(1);
    expect(callsTo('chat.postMessage')).toHaveLength(1);
    expect(asked).toBeGreaterThanOrEqual(2);
    expect(await world.alerts.listPending(ws.id, 10)).toHaveLength(2);
  });

  it('posts each alert once when the lease goes to another process and comes back', async () => {
    const ws = await workspace(world);
    const ids = await Promise.all(['Ana Test', 'Bea Test', 'Cai Test'].map((name) => contact(world, ws.id, name)));
    await append(world, ...ids.map((id) => consentFailed(world, ws.id, id)));
    const first = dispatcher(world, { minIntervalMs: 0 });
    let firstHolds = true;
    // The first holder's lease runs out after its first post, with two alerts queued in its lane.
    first.sendOnlyWhile(() => firstHolds && callsTo('chat.postMessage').length === 0);
    expect((await first.runOnce()).posted).toBe(1);

    firstHolds = false;
    const second = dispatcher(world, { minIntervalMs: 0 });
    expect((await second.runOnce()).posted).toBe(2);

    firstHolds = true;
    first.sendOnlyWhile(() => firstHolds);
    world.clock.advance(60_000);
    expect((await first.runOnce()).posted).toBe(0);
    const posted = callsTo('chat.postMessage').map((call) => alertIdOf(call));
    expect(posted).toHaveLength(3);
    expect(new Set(posted).size).toBe(3);
    expect(await world.alerts.listPending(ws.id, 10)).toEqual([]);
  });

  /**
   * Two dispatchers on one store that take the worker lease in turn (`lease.holder`), the first
   * holding it: alerts of Ana, Bea and Cai are in the store, and Dan's contact is ready for a later one.
   */
  async function handover(into: typeof world, settings?: Parameters<typeof workspace>[1]) {
    const ids = sharedIds();
    const ws = await workspace(into, settings);
    const [ana, bea, cai, dan] = await Promise.all(['Ana Test', 'Bea Test', 'Cai Test', 'Dan Test'].map((name) => contact(into, ws.id, name)));
    if (ana === undefined || bea === undefined || cai === undefined || dan === undefined) throw new Error('no contacts');
    await append(into, ...[ana, bea, cai].map((id) => consentFailed(into, ws.id, id)));
    const lease = { holder: 'first' as 'first' | 'second' };
    const first = dispatcher(into, { ids });
    first.sendOnlyWhile(() => lease.holder === 'first');
    const second = dispatcher(into, { ids });
    second.sendOnlyWhile(() => lease.holder === 'second');
    return { ws, dan, first, second, lease };
  }

  /**
   * The worker lease (worker-lease.ts) stops its workers when a renewal finds the lease taken and
   * starts them again when one wins it back; no pass runs in between. `start()` makes the first
   * pass of the loop at once: `stop()` right after it ends the loop there, so the test drives every
   * later pass on its own clock.
   */
  async function leaseTakenBack(runner: ReturnType<typeof dispatcher>): Promise<void> {
    runner.start();
    await runner.stop();
  }

  it('rebuilds its lane on start() after the lease came back, so the alerts it had queued, which the other holder posted, are not posted again', async () => {
    const { ws, dan, first, second, lease } = await handover(world);
    let seen = 0;
    const postsSince = (): string[] => {
      const calls = callsTo('chat.postMessage');
      const fresh = calls.slice(seen);
      seen = calls.length;
      return namesOf(fresh);
    };

    // Paced (one post a second in a channel): al1 goes out, al2 and al3 wait in the first's lane.
    expect(await first.runOnce()).toMatchObject({ alerts: 3, posted: 1 });
    expect(first.pending(ws.id)).toBe(2);
    expect(postsSince()).toEqual(['al1']);

    // A renewal finds the lease taken: the first's workers are stopped, its lane still holds al2 and al3.
    lease.holder = 'second';
    await first.stop();
    world.clock.advance(1_000);
    expect(await second.runOnce()).toMatchObject({ posted: 1 });
    world.clock.advance(1_000);
    expect(await second.runOnce()).toMatchObject({ posted: 1 });
    expect(postsSince()).toEqual(['al2', 'al3']);

    // The first wins the lease back as a new alert arrives: al4 is the only one left to post.
    lease.holder = 'first';
    world.clock.advance(1_000);
    await append(world, consentFailed(world, ws.id, dan));
    await leaseTakenBack(first);
    expect(postsSince()).toEqual(['al4']);
    for (let pass = 0; pass < 3; pass += 1) {
      world.clock.advance(1_000);
      expect(await first.runOnce()).toMatchObject({ posted: 0, digestsPosted: 0 });
    }
    expect(postsSince()).toEqual([]);
    expect(first.pending(ws.id)).toBe(0);
    expect(callsTo('chat.update')).toEqual([]);
    expect(await world.alerts.listPending(ws.id, 10)).toEqual([]);
    for (const [index, id] of ['al1', 'al2', 'al3', 'al4'].entries()) {
      expect(await world.alerts.getRecord(ws.id, id)).toMatchObject({ delivery: 'posted', message: { channel: CHANNEL, ts: `1767261600.00000${index + 1}` } });
    }
  });

  it('rebuilds its lane on start() after the lease came back, so the burst goes on in the digest the other holder posted, not in a second one', async () => {
    const { ws, dan, first, second, lease } = await handover(world, { slack: slackSettings({ digestThreshold: 1 }) });

    // Threshold 1: al1 is posted on its own; al2 and al3 open a digest that waits in the first's lane.
    expect(await first.runOnce()).toMatchObject({ alerts: 3, posted: 1, digestsPosted: 0 });
    expect(first.pending(ws.id)).toBe(1);
    expect(namesOf(callsTo('chat.postMessage'))).toEqual(['al1']);

    // The lease goes to the second process, whose new lane takes up the burst and posts the digest.
    lease.holder = 'second';
    await first.stop();
    world.clock.advance(1_000);
    expect(await second.runOnce()).toMatchObject({ posted: 0, digestsPosted: 1 });
    const digest = callsTo('chat.postMessage')[1];
    expect(namesOf(callsTo('chat.postMessage'))).toEqual(['al1', 'digest']);
    expect(digest?.form.get('text')).toContain('2 Consentry alerts since');
    expect(await world.alerts.getRecord(ws.id, 'al3')).toMatchObject({ delivery: 'digested', message: { channel: CHANNEL, ts: DIGEST_TS } });

    // The first wins the lease back as al4 arrives: it folds into that digest, edited in place.
    lease.holder = 'first';
    world.clock.advance(1_000);
    await append(world, consentFailed(world, ws.id, dan));
    await leaseTakenBack(first);
    expect(namesOf(callsTo('chat.postMessage'))).toEqual(['al1', 'digest']);
    // Nobody knows when the digest was edited last: the edit waits its full interval from the new lane.
    world.clock.advance(4_999);
    expect(await first.runOnce()).toMatchObject({ posted: 0, digestsPosted: 0, digestsUpdated: 0 });
    world.clock.advance(1);
    expect(await first.runOnce()).toMatchObject({ posted: 0, digestsPosted: 0, digestsUpdated: 1 });
    world.clock.advance(10_000);
    expect(await first.runOnce()).toMatchObject({ posted: 0, digestsPosted: 0, digestsUpdated: 0 });

    expect(namesOf(callsTo('chat.postMessage'))).toEqual(['al1', 'digest']);
    const updates = callsTo('chat.update');
    expect(updates.map((call) => [call.form.get('channel'), call.form.get('ts')])).toEqual([[CHANNEL, DIGEST_TS]]);
    const update = updates[0];
    expect(update?.form.get('text')).toContain('3 Consentry alerts since');
    for (const name of ['Bea Test', 'Cai Test', 'Dan Test']) expect(update?.form.get('blocks')).toContain(name);
    expect(update?.form.get('blocks')).not.toContain('Ana Test');
    expect(first.pending(ws.id)).toBe(0);
    expect(await world.alerts.listPending(ws.id, 10)).toEqual([]);
    expect(await world.alerts.getRecord(ws.id, 'al1')).toMatchObject({ delivery: 'posted', message: { channel: CHANNEL, ts: '1767261600.000001' } });
    expect((await world.alerts.listShownIn(ws.id, { channel: CHANNEL, ts: DIGEST_TS })).map((alert) => alert.id)).toEqual(['al2', 'al3', 'al4']);
  });
});

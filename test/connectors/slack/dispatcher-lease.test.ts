import { describe, expect, it } from 'vitest';
import { fakeSlackChat, useSlackMsw } from './harness.js';
import { alertIdOf, append, consentFailed, contact, dispatcher, useDispatcherWorld, workspace } from './dispatcher-world.js';

const msw = useSlackMsw({ passLoopback: false });
const slack = fakeSlackChat();
const { callsTo } = slack;
const world = useDispatcherWorld(slack, msw);

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
});

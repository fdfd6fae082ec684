import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { DEFAULT_TIMER_GRACE_MS, TimerScheduler } from '../../src/worker/timer-scheduler.js';
import { inbound, START } from './fixtures.js';

const FIVE_MINUTES = 5 * 60 * 1000;
let engine: Engine;
let scheduler: TimerScheduler | undefined;

afterEach(async () => {
  await scheduler?.stop();
  scheduler = undefined;
  await engine.store.close();
});

async function askForConsent(clock: FakeClock) {
  engine = createEngine({ store: createMemoryStore(), clock });
  const workspace = await engine.createWorkspace({ name: 'Acme', settings: { privacyPolicyUrl: 'https://example.com/privacy' } });
  const ws = engine.workspace(workspace.id);
  const opened = await ws.handleInbound(inbound('m1', 'hello'));
  expect(opened.replies.length).toBeGreaterThan(0);
  return ws;
}

describe('TimerScheduler', () => {
  it("fires the privacy question's timeout once it is due and its grace has passed, on the fake clock", async () => {
    const clock = new FakeClock(START);
    const ws = await askForConsent(clock);
    scheduler = new TimerScheduler({ engine, clock });

    clock.advance(FIVE_MINUTES);
    expect(await scheduler.runOnce()).toEqual([]);
    clock.advance(DEFAULT_TIMER_GRACE_MS - 1);
    expect(await scheduler.runOnce()).toEqual([]);
    clock.advance(1);
    const firings = await scheduler.runOnce();
    expect(firings).toHaveLength(1);
    const failed = firings[0]?.events.find((e) => e.type === 'consent.failed');
    expect(failed?.data).toMatchObject({ reason: 'timeout', purpose: 'privacy' });
    expect(firings[0]?.replies.length).toBeGreaterThan(0);
    // Fired once: the timer is gone.
    expect(await scheduler.runOnce(new Date(clock.now().getTime() + FIVE_MINUTES))).toEqual([]);
    expect((await ws.listEvents({ types: ['consent.failed'] })).map((e) => e.id)).toEqual([failed?.id]);
  });

  it('fires due timers on its own loop and stops cleanly', async () => {
    const clock = new FakeClock(START);
    const ws = await askForConsent(clock);
    clock.advance(FIVE_MINUTES + DEFAULT_TIMER_GRACE_MS);
    scheduler = new TimerScheduler({ engine, clock, intervalMs: 5 });
    scheduler.start();
    const deadline = Date.now() + 5000;
    while ((await ws.listEvents({ types: ['consent.failed'] })).length === 0) {
      if (Date.now() > deadline) throw new Error('the scheduler did not fire the due timer');
      await new Promise((resolve) => setImmediate(resolve));
    }
    await scheduler.stop();
    expect(await ws.listEvents({ types: ['consent.failed'] })).toHaveLength(1);
  });

  it('takes a click the channel dates before the deadline and delivers after it, however punctual the passes', async () => {
    const clock = new FakeClock(START);
    const ws = await askForConsent(clock);
    scheduler = new TimerScheduler({ engine, clock });
    const deadline = clock.now().getTime() + FIVE_MINUTES;
    // Passes every second around the deadline, as the server's scheduler runs.
    for (let at = deadline - 1000; at <= deadline + 2000; at += 1000) {
      clock.set(new Date(at));
      expect(await scheduler.runOnce()).toEqual([]);
    }
    const clicked = await ws.handleInbound({
      channel: 'whatsapp',
      messageId: 'click-1',
      from: { id: '+34600000001' },
      button: 'agree',
      timestamp: new Date(deadline - 1000).toISOString(),
    });
    expect(clicked.events.map((event) => event.type)).toContain('consent.given');
    expect(clicked.events.map((event) => event.type)).not.toContain('consent.failed');
    clock.advance(DEFAULT_TIMER_GRACE_MS);
    expect(await scheduler.runOnce()).toEqual([]);
  });

  it('times the question out at once for an answer sent after the deadline, within the grace', async () => {
    const clock = new FakeClock(START);
    const ws = await askForConsent(clock);
    scheduler = new TimerScheduler({ engine, clock });
    const deadline = clock.now().getTime() + FIVE_MINUTES;
    clock.set(new Date(deadline + 2000));
    expect(await scheduler.runOnce()).toEqual([]);
    const late = await ws.handleInbound({
      channel: 'whatsapp',
      messageId: 'click-late',
      from: { id: '+34600000001' },
      button: 'agree',
      timestamp: new Date(deadline + 1000).toISOString(),
    });
    const types = late.events.map((event) => event.type);
    expect(types).toContain('consent.failed');
    expect(types).not.toContain('consent.given');
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { TimerScheduler } from '../../src/worker/timer-scheduler.js';
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
  it("fires the privacy question's timeout once it is due on the fake clock", async () => {
    const clock = new FakeClock(START);
    const ws = await askForConsent(clock);
    scheduler = new TimerScheduler({ engine, clock });

    clock.advance(FIVE_MINUTES - 1);
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
    clock.advance(FIVE_MINUTES);
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
});

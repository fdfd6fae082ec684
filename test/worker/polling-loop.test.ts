import { afterEach, describe, expect, it } from 'vitest';
import { MAX_FAILURE_BACKOFF_MS, PollingLoop, type PollingLoopOptions } from '../../src/worker/polling-loop.js';
import { ManualTimers, settleMicrotasks } from './manual-timers.js';

const settle = settleMicrotasks;

/** A pass the test finishes by hand, to act while it is in progress. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

const loops: PollingLoop[] = [];
afterEach(async () => {
  for (const loop of loops.splice(0)) await loop.stop();
});

function loopOf(options: Partial<PollingLoopOptions> & { timers: ManualTimers }): { loop: PollingLoop; passes: () => number; errors: unknown[] } {
  let passes = 0;
  const errors: unknown[] = [];
  const pass = options.pass ?? (async () => undefined);
  const loop = new PollingLoop({
    idleMs: 100,
    onError: (error) => errors.push(error),
    ...options,
    pass: async () => {
      passes += 1;
      await pass();
    },
  });
  loops.push(loop);
  return { loop, passes: () => passes, errors };
}

describe('PollingLoop', () => {
  it('passes at once, then once per idle interval, and not before it', async () => {
    const timers = new ManualTimers();
    const { loop, passes } = loopOf({ timers });
    expect(loop.running).toBe(false);
    loop.start();
    loop.start();
    await settle();
    expect(loop.running).toBe(true);
    expect(passes()).toBe(1);
    expect(timers.pending()).toEqual([100]);
    await timers.advance(99);
    expect(passes()).toBe(1);
    await timers.advance(1);
    expect(passes()).toBe(2);
  });

  it('with sleepFirst, passes first after one idle interval, and a stop during that sleep runs no pass', async () => {
    const timers = new ManualTimers();
    const { loop, passes } = loopOf({ timers });
    loop.start({ sleepFirst: true });
    await settle();
    expect(passes()).toBe(0);
    expect(timers.pending()).toEqual([100]);
    await timers.advance(100);
    expect(passes()).toBe(1);
    expect(timers.pending()).toEqual([100]);

    const stopped = loopOf({ timers });
    stopped.loop.start({ sleepFirst: true });
    await settle();
    await stopped.loop.stop();
    await timers.advance(1000);
    expect(stopped.passes()).toBe(0);
  });

  it('reads a computed idle time after every pass', async () => {
    const timers = new ManualTimers();
    const delays = [30, 70];
    const { loop, passes } = loopOf({ timers, idleMs: () => delays.shift() ?? 1000 });
    loop.start();
    await settle();
    expect(timers.pending()).toEqual([30]);
    await timers.advance(30);
    expect(passes()).toBe(2);
    expect(timers.pending()).toEqual([70]);
    await timers.advance(70);
    expect(passes()).toBe(3);
    expect(timers.pending()).toEqual([1000]);
  });

  it('reports a failed pass and goes on', async () => {
    const timers = new ManualTimers();
    const failure = new Error('store unavailable');
    let calls = 0;
    const { loop, passes, errors } = loopOf({
      timers,
      pass: async () => {
        calls += 1;
        if (calls === 1) throw failure;
      },
    });
    loop.start();
    await settle();
    expect(errors).toEqual([failure]);
    await timers.advance(100);
    expect(passes()).toBe(2);
    expect(errors).toEqual([failure]);
  });

  it('after failures in a row, sleeps twice as long after each, up to the cap, deaf to wake-ups; a success resets it', async () => {
    const timers = new ManualTimers();
    let failing = true;
    const { loop, passes, errors } = loopOf({
      timers,
      pass: async () => {
        if (failing) throw new Error('database or disk is full');
      },
    });
    loop.start();
    await settle();
    const sleeps: number[] = [];
    for (let failed = 1; failed <= 10; failed += 1) {
      expect(errors).toHaveLength(failed);
      const [sleep] = timers.pending();
      if (sleep === undefined) throw new Error('the loop does not sleep');
      sleeps.push(sleep);
      loop.wake();
      await settle();
      expect(passes()).toBe(failed);
      if (failed === 10) failing = false;
      await timers.advance(sleep);
    }
    expect(sleeps).toEqual([100, 200, 400, 800, 1600, 3200, 6400, MAX_FAILURE_BACKOFF_MS, MAX_FAILURE_BACKOFF_MS, MAX_FAILURE_BACKOFF_MS]);
    expect(passes()).toBe(11);
    expect(errors).toHaveLength(10);
    expect(timers.pending()).toEqual([100]);
  });

  it('without a wake gap, a wake-up ends the sleep on the next turn of the event loop', async () => {
    const timers = new ManualTimers();
    const { loop, passes } = loopOf({ timers });
    loop.start();
    await settle();
    loop.wake();
    loop.wake();
    await settle();
    expect(passes()).toBe(1);
    expect(timers.pending()).toEqual([]);
    await timers.runNextTurn();
    expect(passes()).toBe(2);
    expect(timers.pending()).toEqual([100]);
  });

  it('a wake-up during a pass shortens the sleep after it', async () => {
    const timers = new ManualTimers();
    let inPass = gate();
    const { loop, passes } = loopOf({ timers, pass: () => inPass.promise });
    loop.start();
    await settle();
    loop.wake();
    inPass.open();
    await settle();
    expect(passes()).toBe(1);
    inPass = gate();
    await timers.runNextTurn();
    expect(passes()).toBe(2);
    // A wake-up belongs to one pass: the next sleep is a full one again.
    inPass.open();
    await settle();
    expect(timers.pending()).toEqual([100]);
  });

  it('with a wake gap, the pass after a wake-up starts that long after the last one began', async () => {
    const timers = new ManualTimers();
    let inPass = gate();
    const { loop, passes } = loopOf({ timers, minWakeGapMs: 10, pass: () => inPass.promise });
    loop.start();
    await settle();
    await timers.advance(4);
    inPass.open();
    await settle();
    loop.wake();
    expect(timers.pending()).toEqual([6]);
    await timers.advance(5);
    expect(passes()).toBe(1);
    inPass = gate();
    await timers.advance(1);
    expect(passes()).toBe(2);

    // A pass longer than the gap: the next one starts at once after a wake-up.
    await timers.advance(25);
    loop.wake();
    inPass.open();
    await settle();
    expect(timers.pending()).toEqual([0]);
    await timers.advance(0);
    expect(passes()).toBe(3);
  });

  it('stop() ends the sleep at once and runs no further pass', async () => {
    const timers = new ManualTimers();
    const { loop, passes } = loopOf({ timers });
    loop.start();
    await settle();
    await loop.stop();
    expect(loop.running).toBe(false);
    expect(timers.pending()).toEqual([]);
    await timers.advance(1000);
    expect(passes()).toBe(1);
  });

  it('stop() waits for the pass in progress, then sleeps no more', async () => {
    const timers = new ManualTimers();
    const inPass = gate();
    const { loop, passes } = loopOf({ timers, pass: () => inPass.promise });
    loop.start();
    await settle();
    let stopped = false;
    const stopping = loop.stop().then(() => {
      stopped = true;
    });
    await settle();
    expect(stopped).toBe(false);
    inPass.open();
    await stopping;
    expect(stopped).toBe(true);
    expect(timers.pending()).toEqual([]);
    expect(passes()).toBe(1);
  });

  it('starts again after a stop', async () => {
    const timers = new ManualTimers();
    const { loop, passes } = loopOf({ timers });
    loop.start();
    await settle();
    await loop.stop();
    loop.start();
    await settle();
    expect(passes()).toBe(2);
    expect(loop.running).toBe(true);
  });
});

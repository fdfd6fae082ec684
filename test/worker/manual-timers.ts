import type { Store } from '../../src/ports/store.js';
import type { BackgroundWorker } from '../../src/worker/background-worker.js';
import type { LoopTimers } from '../../src/worker/polling-loop.js';

/** Lets awaited promises run: microtasks only, no timer involved. */
export async function settleMicrotasks(): Promise<void> {
  for (let i = 0; i < 10; i += 1) await Promise.resolve();
}

/** Lets awaited work run for a few turns of the event loop, so a store's commit settles too. */
export async function settleTurns(): Promise<void> {
  for (let i = 0; i < 5; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Timers that fire only when the test moves them: nothing waits on real time. `nextTurn`
 * callbacks wait for `runNextTurn`, unless `turnsAsTimers` makes them timers due at once (for
 * tests that only move time); after firing, `settle` lets the awaited work run.
 */
export class ManualTimers implements LoopTimers {
  private time = 0;
  private timers: { at: number; callback: () => void; cancelled: boolean }[] = [];
  private turn: (() => void)[] = [];

  constructor(private readonly options: { settle?: () => Promise<void>; turnsAsTimers?: boolean } = {}) {}

  after(ms: number, callback: () => void): () => void {
    const timer = { at: this.time + ms, callback, cancelled: false };
    this.timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }

  nextTurn(callback: () => void): void {
    if (this.options.turnsAsTimers) this.after(0, callback);
    else this.turn.push(callback);
  }

  now(): number {
    return this.time;
  }

  /** Delays of the timers still set, from now. */
  pending(): number[] {
    return this.timers.filter((timer) => !timer.cancelled).map((timer) => timer.at - this.time);
  }

  async advance(ms: number): Promise<void> {
    this.time += ms;
    const due = this.timers.filter((timer) => !timer.cancelled && timer.at <= this.time);
    this.timers = this.timers.filter((timer) => !timer.cancelled && timer.at > this.time);
    for (const timer of due) timer.callback();
    await (this.options.settle ?? settleMicrotasks)();
  }

  async runNextTurn(): Promise<void> {
    for (const callback of this.turn.splice(0)) callback();
    await (this.options.settle ?? settleMicrotasks)();
  }
}

/** A background worker that records its starts and stops. */
export class RecordingWorker implements BackgroundWorker {
  readonly calls: string[] = [];
  start(): void {
    this.calls.push('start');
  }
  async stop(): Promise<void> {
    this.calls.push('stop');
  }
}

/** A store whose transactions and reads fail while `failing` is set, to stand for a database that is unavailable. */
export function flakyStore(inner: Store): Store & { failing: boolean } {
  const flaky: Store & { failing: boolean } = {
    failing: false,
    transaction: (fn) => (flaky.failing ? Promise.reject(new Error('database is locked')) : inner.transaction(fn)),
    read: (fn) => (flaky.failing ? Promise.reject(new Error('database is locked')) : inner.read(fn)),
    probe: () => inner.probe(),
    close: () => inner.close(),
  };
  return flaky;
}

/** The timers a loop sleeps on; production uses Node's, tests move their own. */
export interface LoopTimers {
  /** Calls `callback` after `ms`; the returned function cancels it. */
  after(ms: number, callback: () => void): () => void;
  /** Calls `callback` on the next turn of the event loop, after pending I/O. */
  nextTurn(callback: () => void): void;
  /** A monotonic reading in milliseconds. */
  now(): number;
}

export const nodeTimers: LoopTimers = {
  after(ms, callback) {
    const timer = setTimeout(callback, ms);
    return () => clearTimeout(timer);
  },
  nextTurn(callback) {
    setImmediate(callback);
  },
  now: () => performance.now(),
};

export interface PollingLoopOptions {
  /** One pass of work. A pass that throws is reported to `onError` and the loop goes on. */
  pass: () => Promise<unknown>;
  /** How long to sleep after a pass when nothing wakes the loop; a function is read after every pass. */
  idleMs: number | (() => number);
  /**
   * After `wake()`, the next pass starts this long after the last one began (at once if that is
   * past), so wake-ups arriving close together are served by one pass. Without it, a wake-up
   * starts the next pass on the next turn of the event loop.
   */
  minWakeGapMs?: number;
  onError: (error: unknown) => void;
  timers?: LoopTimers;
}

interface Sleep {
  /** Ends the sleep now. */
  end: () => void;
  /** Ends the sleep as a wake-up does. */
  shorten: () => void;
}

/**
 * After passes that failed in a row, the sleep doubles with each (from the idle time, up to this
 * cap, never below the idle time), and a wake-up does not cut it short: a store that is down or
 * full is not asked again every few milliseconds by every worker, nor each failure logged.
 */
export const MAX_FAILURE_BACKOFF_MS = 10_000;

/**
 * A background worker's loop: a pass, a sleep, again, until `stop()`. Work lives in the store
 * (DESIGN §1), so the loop only decides when to look again; it never holds state a restart needs.
 */
export class PollingLoop {
  private readonly pass: () => Promise<unknown>;
  private readonly idleMs: () => number;
  private readonly minWakeGapMs: number | undefined;
  private readonly onError: (error: unknown) => void;
  private readonly timers: LoopTimers;
  private active = false;
  private loopDone: Promise<void> | null = null;
  private sleeping: Sleep | null = null;
  private woken = false;

  constructor(options: PollingLoopOptions) {
    this.pass = options.pass;
    const idleMs = options.idleMs;
    this.idleMs = typeof idleMs === 'number' ? () => idleMs : idleMs;
    this.minWakeGapMs = options.minWakeGapMs;
    this.onError = options.onError;
    this.timers = options.timers ?? nodeTimers;
  }

  /** Between `start()` and `stop()`. */
  get running(): boolean {
    return this.active;
  }

  /** `sleepFirst`: the first pass comes after one sleep, for a caller that has just done that work itself. */
  start(options: { sleepFirst?: boolean } = {}): void {
    if (this.active) return;
    this.active = true;
    this.loopDone = this.loop(options.sleepFirst ?? false);
  }

  /** Ends the sleep, if any, and resolves once the pass in progress, if any, has finished. */
  async stop(): Promise<void> {
    this.active = false;
    this.sleeping?.end();
    await this.loopDone;
    this.loopDone = null;
  }

  /** Cuts the current sleep short; during a pass, the sleep after it. */
  wake(): void {
    if (this.woken) return;
    this.woken = true;
    this.sleeping?.shorten();
  }

  private async loop(sleepFirst: boolean): Promise<void> {
    if (sleepFirst) {
      await this.sleep(this.timers.now());
      this.sleeping = null;
    }
    let failures = 0;
    while (this.active) {
      this.woken = false;
      const passStarted = this.timers.now();
      try {
        await this.pass();
        failures = 0;
      } catch (error) {
        failures += 1;
        this.onError(error);
      }
      if (!this.active) break;
      await this.sleep(passStarted, failures);
      this.sleeping = null;
    }
  }

  private sleep(passStarted: number, failures = 0): Promise<void> {
    const idleMs = this.idleMs();
    if (failures > 0) {
      const backoffMs = Math.max(idleMs, Math.min(MAX_FAILURE_BACKOFF_MS, idleMs * 2 ** (failures - 1)));
      return new Promise<void>((resolve) => {
        const cancel = this.timers.after(backoffMs, resolve);
        const end = (): void => {
          cancel();
          resolve();
        };
        this.sleeping = { end, shorten: () => undefined };
      });
    }
    return new Promise<void>((resolve) => {
      let cancel = (): void => undefined;
      const end = (): void => {
        cancel();
        resolve();
      };
      const shorten = (): void => {
        cancel();
        if (this.minWakeGapMs === undefined) {
          cancel = () => undefined;
          this.timers.nextTurn(end);
        } else {
          cancel = this.timers.after(Math.max(0, passStarted + this.minWakeGapMs - this.timers.now()), end);
        }
      };
      cancel = this.timers.after(idleMs, end);
      this.sleeping = { end, shorten };
      if (this.woken) shorten();
    });
  }
}

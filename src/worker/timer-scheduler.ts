import type { Engine, TimerFiring } from '../engine.js';
import type { Clock } from '../ports/clock.js';
import type { WorkerLogger } from './logger.js';
import { silentLogger } from './logger.js';

export interface TimerSchedulerOptions {
  engine: Pick<Engine, 'runDueTimers'>;
  clock: Clock;
  /** How often due timers are looked for; a question's timeout fires at most this late. */
  intervalMs?: number;
  /** Timers fired per pass. */
  batchSize?: number;
  logger?: WorkerLogger;
}

export const DEFAULT_TIMER_INTERVAL_MS = 1000;
const DEFAULT_TIMER_BATCH = 1000;

/**
 * Fires workflow timers (question time-outs, waits). Timers are rows with a due time
 * (DESIGN §1: never a setTimeout in the domain), so they survive restarts; this adapter only
 * decides how often to ask the engine for the due ones.
 */
export class TimerScheduler {
  private readonly engine: Pick<Engine, 'runDueTimers'>;
  private readonly clock: Clock;
  private readonly intervalMs: number;
  private readonly batchSize: number;
  private readonly logger: WorkerLogger;
  private running = false;
  private loopDone: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;

  constructor(options: TimerSchedulerOptions) {
    this.engine = options.engine;
    this.clock = options.clock;
    this.intervalMs = Math.max(1, options.intervalMs ?? DEFAULT_TIMER_INTERVAL_MS);
    this.batchSize = Math.max(1, options.batchSize ?? DEFAULT_TIMER_BATCH);
    this.logger = options.logger ?? silentLogger;
  }

  /** Fires the timers due at `now`. */
  async runOnce(now: Date = this.clock.now()): Promise<TimerFiring[]> {
    const firings = await this.engine.runDueTimers(now, this.batchSize);
    for (const firing of firings) {
      if (firing.error !== null) {
        this.logger.error({ runId: firing.runId, workspaceId: firing.workspaceId, error: firing.error }, 'workflow run could not advance and was ended');
      }
    }
    return firings;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = this.loop();
  }

  /** Resolves once the pass in progress, if any, has finished. */
  async stop(): Promise<void> {
    this.running = false;
    this.wakeUp?.();
    await this.loopDone;
    this.loopDone = null;
  }

  private async loop(): Promise<void> {
    while (this.running) {
      try {
        await this.runOnce(this.clock.now());
      } catch (error) {
        this.logger.error({ err: error }, 'timer scheduler pass failed');
      }
      if (!this.running) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.intervalMs);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.wakeUp = done;
      });
      this.wakeUp = null;
    }
  }
}

export function createTimerScheduler(options: TimerSchedulerOptions): TimerScheduler {
  return new TimerScheduler(options);
}

import type { Engine, TimerFiring } from '../engine.js';
import type { Clock } from '../ports/clock.js';
import type { WorkerLogger } from './logger.js';
import { silentLogger } from './logger.js';
import { PollingLoop } from './polling-loop.js';

export interface TimerSchedulerOptions {
  engine: Pick<Engine, 'runDueTimers'>;
  clock: Clock;
  /** How often due timers are looked for; a question's timeout fires at most this late. */
  intervalMs?: number;
  /** Timers fired per pass. */
  batchSize?: number;
  /**
   * How long after its due time a timer waits before it fires: an answer the channel dates before
   * a question's deadline but delivers after it is still taken as the answer (DEFAULT_TIMER_GRACE_MS).
   */
  graceMs?: number;
  logger?: WorkerLogger;
}

export const DEFAULT_TIMER_INTERVAL_MS = 1000;
/**
 * A deadline belongs to the time an answer was sent (the message's `timestamp`), and channels
 * deliver seconds late: a question's timeout fires this long after its deadline, so that a click
 * sent at 4:59 and delivered at 5:02 is the answer, whatever the scheduler's punctuality. A message
 * sent after the deadline still finds the question timed out at once (fireOverdueTimers).
 */
export const DEFAULT_TIMER_GRACE_MS = 30_000;
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
  private readonly graceMs: number;
  private readonly logger: WorkerLogger;
  private readonly loop: PollingLoop;

  constructor(options: TimerSchedulerOptions) {
    this.engine = options.engine;
    this.clock = options.clock;
    this.intervalMs = Math.max(1, options.intervalMs ?? DEFAULT_TIMER_INTERVAL_MS);
    this.batchSize = Math.max(1, options.batchSize ?? DEFAULT_TIMER_BATCH);
    this.graceMs = Math.max(0, options.graceMs ?? DEFAULT_TIMER_GRACE_MS);
    this.logger = options.logger ?? silentLogger;
    this.loop = new PollingLoop({
      pass: () => this.runOnce(this.clock.now()),
      idleMs: this.intervalMs,
      onError: (error) => this.logger.error({ err: error }, 'timer scheduler pass failed'),
    });
  }

  /** Fires, at `now`, the timers due by the grace before it. */
  async runOnce(now: Date = this.clock.now()): Promise<TimerFiring[]> {
    const firings = await this.engine.runDueTimers(now, this.batchSize, { dueBy: new Date(now.getTime() - this.graceMs) });
    for (const firing of firings) {
      if (firing.error === null) continue;
      if (firing.retry) this.logger.warn({ runId: firing.runId, workspaceId: firing.workspaceId, error: firing.error }, 'workflow timer could not fire; it is tried again on the next pass');
      else this.logger.error({ runId: firing.runId, workspaceId: firing.workspaceId, error: firing.error }, 'workflow run could not advance and was ended');
    }
    return firings;
  }

  start(): void {
    this.loop.start();
  }

  /** Resolves once the pass in progress, if any, has finished. */
  stop(): Promise<void> {
    return this.loop.stop();
  }
}

export function createTimerScheduler(options: TimerSchedulerOptions): TimerScheduler {
  return new TimerScheduler(options);
}

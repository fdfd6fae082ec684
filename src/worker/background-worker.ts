/**
 * A loop that runs beside the HTTP server (the hook dispatcher, the timer scheduler).
 * `start` begins it; `stop` resolves once the work in progress has finished, so a graceful
 * shutdown loses nothing.
 */
export interface BackgroundWorker {
  start(): void;
  stop(): Promise<void>;
}

/** Starts every worker; if one fails to start, the ones already started are stopped again. */
export async function startWorkers(workers: readonly BackgroundWorker[]): Promise<void> {
  const started: BackgroundWorker[] = [];
  try {
    for (const worker of workers) {
      worker.start();
      started.push(worker);
    }
  } catch (error) {
    await stopWorkers(started);
    throw error;
  }
}

/**
 * Stops every worker, all of them even if one fails; the first failure is rethrown after. `stop`
 * says how each is stopped (default its own `stop()`).
 */
export async function stopWorkers<W extends BackgroundWorker>(workers: readonly W[], stop: (worker: W) => Promise<void> = (worker) => worker.stop()): Promise<void> {
  const results = await Promise.allSettled(workers.map(stop));
  const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) throw failed.reason;
}

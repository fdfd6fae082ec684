import { HookDispatcher, type HookDispatcherOptions } from '../../src/worker/hook-dispatcher.js';
import { startTarget, type Target } from '../worker/target-server.js';
import { testApp, type TestApp } from './helpers.js';

/** A test app whose hooks may target 127.0.0.1, a target server there, and dispatchers stopped on close. */
export interface HookTestbed {
  t: TestApp;
  target: Target;
  /** A dispatcher on the app's store and clock: 500 ms request timeout, no jitter. */
  dispatcher(options?: Partial<HookDispatcherOptions>): HookDispatcher;
  close(): Promise<void>;
}

export async function hookTestbed(): Promise<HookTestbed> {
  // The targets are servers on 127.0.0.1, allowed as in a self-hosted set-up (hook-targets.test.ts covers the refusal).
  const t = await testApp({ allowPrivateTargets: true });
  const target = await startTarget();
  const dispatchers: HookDispatcher[] = [];
  return {
    t,
    target,
    dispatcher(options = {}) {
      const d = new HookDispatcher({ store: t.store, clock: t.clock, requestTimeoutMs: 500, random: () => 1, allowPrivateTargets: true, ...options });
      dispatchers.push(d);
      return d;
    },
    async close() {
      for (const d of dispatchers.splice(0)) await d.stop();
      await target.close();
      await t.close();
      await t.store.close();
    },
  };
}

import { createEngine, type Engine, type WorkspaceEngine } from '../../src/engine.js';
import type { WorkspaceSettingsInput } from '../../src/core/settings.js';
import { FakeClock } from '../../src/ports/clock.js';
import { ulidGenerator } from '../../src/ports/ids.js';
import type { Store } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { HookDispatcher, type HookDispatcherOptions } from '../../src/worker/hook-dispatcher.js';
import { createHookRegistry, type HookRegistry } from '../../src/worker/hooks.js';

export interface World {
  clock: FakeClock;
  store: Store;
  engine: Engine;
  ws: WorkspaceEngine;
  hooks: HookRegistry;
  dispatcher(options?: Partial<HookDispatcherOptions>): HookDispatcher;
}

export const START = '2026-03-01T10:00:00.000Z';

/** Short enough that a hanging target costs little real time, long enough for loopback. */
export const TEST_TIMEOUT_MS = 300;

export async function makeWorld(options: { store?: Store; settings?: WorkspaceSettingsInput; clock?: FakeClock } = {}): Promise<World> {
  const clock = options.clock ?? new FakeClock(START);
  const store = options.store ?? createMemoryStore();
  const engine = createEngine({ store, clock });
  const workspace = await engine.createWorkspace({ name: 'Acme', settings: { triggers: [], ...options.settings } });
  return {
    clock,
    store,
    engine,
    ws: engine.workspace(workspace.id),
    // Targets are servers on 127.0.0.1: private targets are allowed, as a self-hosted set-up would.
    hooks: createHookRegistry({ store, clock, ids: ulidGenerator(), allowPrivateTargets: true }),
    dispatcher(overrides = {}) {
      return new HookDispatcher({ store, clock, requestTimeoutMs: TEST_TIMEOUT_MS, random: () => 1, allowPrivateTargets: true, ...overrides });
    },
  };
}

export const inbound = (messageId: string, text: string, from = '+34600000001') => ({
  channel: 'whatsapp' as const,
  messageId,
  from: { id: from, name: 'Ana Test' },
  text,
});

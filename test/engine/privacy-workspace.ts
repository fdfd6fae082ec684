import { createEngine, type Engine, type WorkspaceEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import { createMemoryStore } from '../../src/store/memory.js';

export interface PrivacyWorkspace {
  clock: FakeClock;
  engine: Engine;
  ws: WorkspaceEngine;
}

/**
 * An engine on an in-memory store and a fake clock, with one workspace that asks for privacy
 * consent when a conversation opens (the default binding, with a policy URL) and nothing else.
 */
export async function createPrivacyWorkspace(): Promise<PrivacyWorkspace> {
  const clock = new FakeClock('2026-03-01T09:00:00.000Z');
  const engine = createEngine({ store: createMemoryStore(), clock });
  const workspace = await engine.createWorkspace({
    name: 'Acme',
    settings: {
      privacyPolicyUrl: 'https://example.com/privacy',
      triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: true }],
    },
  });
  return { clock, engine, ws: engine.workspace(workspace.id) };
}

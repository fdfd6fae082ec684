import { afterEach, beforeEach } from 'vitest';
import { createEngine, type Engine, type WorkspaceEngine } from '../../src/engine.js';
import type { ConsentChange } from '../../src/engine/inputs.js';
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

/** A fresh privacy workspace for each test, its store closed after it; `use` receives it. */
export function usePrivacyWorkspace(use: (workspace: PrivacyWorkspace) => void): void {
  let current: PrivacyWorkspace | undefined;
  beforeEach(async () => {
    current = await createPrivacyWorkspace();
    use(current);
  });
  afterEach(async () => {
    await current?.engine.store.close();
    current = undefined;
  });
}

/** A privacy decision recorded through the API by a CRM integration; an opt-in with its legal basis and explanation. */
export function privacyDecision(contactId: string, status: 'opted_in' | 'opted_out', channel: ConsentChange['channel'] = 'sms'): ConsentChange {
  return {
    contactId,
    purpose: 'privacy',
    channel,
    status,
    ...(status === 'opted_in' ? { legalBasis: 'CONSENT_WITH_NOTICE' as const, explanation: 'Accepted the privacy policy on the signup form' } : {}),
    source: 'api',
    actor: { kind: 'integration', id: 'crm' },
  };
}

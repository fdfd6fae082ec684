import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isConsentryError } from '../../src/core/errors.js';
import { createEngine, type WorkspaceEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import { ulidGenerator } from '../../src/ports/ids.js';
import type { Store } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createHookRegistry } from '../../src/worker/hooks.js';

const actor = { kind: 'user' as const, id: 'user-ana' };

async function refusal(promise: Promise<unknown>): Promise<{ code: string; message: string; issues: readonly { path: string; message: string }[] }> {
  try {
    await promise;
  } catch (error) {
    if (isConsentryError(error)) return { code: error.code, message: error.message, issues: error.issues };
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('the engine, used as a library, names a field its caller left out as required', () => {
  let store: Store;
  let clock: FakeClock;
  let workspaceId: string;
  let ws: WorkspaceEngine;

  beforeEach(async () => {
    store = createMemoryStore();
    clock = new FakeClock('2026-03-01T10:00:00.000Z');
    const engine = createEngine({ store, clock });
    workspaceId = (await engine.createWorkspace({ name: 'Acme', settings: { triggers: [] } })).id;
    ws = engine.workspace(workspaceId);
  });

  afterEach(async () => {
    await store.close();
  });

  it('setConsent without a purpose or a status', async () => {
    const contactId = (await ws.createContact({ email: 'ana@example.com' })).id;
    const refused = await refusal(ws.setConsent({ contactId, channel: 'sms', source: 'manual', actor } as never));
    expect(refused).toEqual({
      code: 'VALIDATION_FAILED',
      message: 'Invalid consent change: purpose: is required; status: is required: one of opted_in, opted_out',
      issues: [
        { path: 'purpose', message: 'is required' },
        { path: 'status', message: 'is required: one of opted_in, opted_out' },
      ],
    });
  });

  it('handleInbound with a sender without an id', async () => {
    const refused = await refusal(ws.handleInbound({ channel: 'whatsapp', messageId: 'wamid.1', from: {}, text: 'STOP' } as never));
    expect(refused.issues).toEqual([{ path: 'from.id', message: 'is required' }]);
  });

  it('updateSettings with a HubSpot access token and no portalId', async () => {
    const refused = await refusal(ws.updateSettings({ hubspot: { accessToken: 'pat-na1-fake' } } as never));
    expect(refused).toMatchObject({ code: 'VALIDATION_FAILED', message: 'Invalid settings: hubspot.portalId: is required', issues: [{ path: 'hubspot.portalId', message: 'is required' }] });
  });

  it('a hook without a target URL', async () => {
    const hooks = createHookRegistry({ store, clock, ids: ulidGenerator(), allowPrivateTargets: true });
    const refused = await refusal(hooks.create(workspaceId, { event: 'consent.withdrawn' } as never));
    expect(refused.issues).toEqual([{ path: 'targetUrl', message: 'is required' }]);
  });
});

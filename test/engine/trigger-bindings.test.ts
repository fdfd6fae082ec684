import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TriggerBinding } from '../../src/core/settings.js';
import { createEngine, type Engine, type WorkspaceEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import { createMemoryStore } from '../../src/store/memory.js';

const PRIVACY = { trigger: 'conversation_opened', template: 'request-consent-privacy' } as const;

describe('trigger bindings that could never start', () => {
  let engine: Engine;
  let ws: WorkspaceEngine;

  beforeEach(async () => {
    engine = createEngine({ store: createMemoryStore(), clock: new FakeClock('2026-03-01T09:00:00.000Z') });
    ws = engine.workspace((await engine.createWorkspace({ name: 'Acme', settings: { privacyPolicyUrl: 'https://example.com/privacy' } })).id);
  });

  afterEach(async () => {
    await engine.store.close();
  });

  it('refuses a match on conversation_opened, naming triggers.N.match', async () => {
    const refused = ws.updateSettings({ triggers: [PRIVACY, { trigger: 'conversation_opened', template: 'welcome-request-email', match: 'hola' }] });
    await expect(refused).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      issues: [{ path: 'triggers.1.match', message: expect.stringContaining('"conversation_opened" binding takes no match') }],
    });
    expect((await ws.get()).settings.triggers).toEqual([{ ...PRIVACY, enabled: true }]);
  });

  it('refuses a manual binding, naming triggers.N.trigger and the route that starts a template by hand', async () => {
    const refused = ws.updateSettings({ triggers: [{ trigger: 'manual', template: 'welcome-request-phone', enabled: false }, PRIVACY] });
    await expect(refused).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('triggers.0.trigger'),
      issues: [{ path: 'triggers.0.trigger', message: expect.stringContaining('manual starts need no binding; start the template with POST /v1/workflows/welcome-request-phone/runs') }],
    });
  });

  it('does not offer the route of a template that does not exist: the template is named unknown beside it', async () => {
    const refused = ws.updateSettings({ triggers: [{ trigger: 'manual', template: 'Welcome-Request-Email' }] });
    await expect(refused).rejects.toMatchObject({
      code: 'UNKNOWN_TEMPLATE',
      issues: [
        { path: 'triggers.0.template', message: expect.stringContaining('unknown template "Welcome-Request-Email"') },
        { path: 'triggers.0.trigger', message: expect.stringMatching(/start the template with POST \/v1\/workflows\/\{template\}\/runs$/) },
      ],
    });
  });

  it('names every such binding of the list at once', async () => {
    const refused = ws.updateSettings({
      triggers: [{ trigger: 'manual', template: 'request-consent-privacy' }, PRIVACY, { ...PRIVACY, match: 'start' }, { trigger: 'tag_added', template: 'welcome-request-email', match: 'VIP' }],
    });
    await expect(refused).rejects.toMatchObject({ issues: [{ path: 'triggers.0.trigger' }, { path: 'triggers.2.match' }] });
  });

  it('accepts every binding that can start: conversation_opened without match, tag_added and keyword with or without one', async () => {
    const triggers = [
      PRIVACY,
      { trigger: 'tag_added', template: 'welcome-request-email', match: 'Consent: Privacy' },
      { trigger: 'tag_added', template: 'welcome-request-phone' },
      { trigger: 'keyword', template: 'welcome-request-email', match: 'newsletter', enabled: false },
    ] as const;
    const updated = await ws.updateSettings({ triggers: [...triggers] });
    expect(updated.settings.triggers).toHaveLength(4);
  });

  it('refuses them in a new workspace too', async () => {
    await expect(engine.createWorkspace({ name: 'Globex', settings: { triggers: [{ ...PRIVACY, match: 'x' }] } })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      issues: [{ path: 'triggers.0.match' }],
    });
    await expect(engine.createWorkspace({ name: 'Initech', settings: { triggers: [{ trigger: 'manual', template: 'request-consent-privacy' }] } })).rejects.toMatchObject({
      issues: [{ path: 'triggers.0.trigger' }],
    });
    expect((await engine.listWorkspaces()).map((workspace) => workspace.name)).toEqual(['Acme']);
  });

  it('stored before they were refused, still load, stay inert, and do not block a change to another setting', async () => {
    const workspace = await ws.get();
    const stored: TriggerBinding[] = [
      { trigger: 'conversation_opened', template: 'welcome-request-email', match: 'hola', enabled: true },
      { trigger: 'manual', template: 'welcome-request-phone', enabled: true },
    ];
    await engine.store.transaction((tx) => tx.updateWorkspace(ws.workspaceId, { settings: { ...workspace.settings, triggers: stored }, updatedAt: workspace.updatedAt }));

    const changed = await ws.updateSettings({ defaultCountry: 'ES' });
    expect(changed.settings.defaultCountry).toBe('ES');
    expect(changed.settings.triggers).toEqual(stored);

    // Inert as before: the opening message starts neither the matched nor the manual binding's template, even when it reads as the match.
    const opened = await ws.handleInbound({ channel: 'whatsapp', messageId: 'w1', from: { id: '+34600000001' }, text: 'hola' });
    expect(opened.replies).toEqual([]);
    expect(await engine.store.transaction((tx) => tx.listRunsOfContact(ws.workspaceId, opened.contactId))).toEqual([]);

    // Sending the list again is a change of it: it is checked then.
    await expect(ws.updateSettings({ triggers: stored })).rejects.toMatchObject({ issues: [{ path: 'triggers.0.match' }, { path: 'triggers.1.trigger' }] });
    // Resetting it to the default is not refused.
    expect((await ws.updateSettings({ triggers: null })).settings.triggers).toEqual([{ ...PRIVACY, enabled: true }]);
    const reopened = await ws.handleInbound({ channel: 'whatsapp', messageId: 'w2', from: { id: '+34600000002' }, text: 'hola' });
    expect(await engine.store.transaction((tx) => tx.listRunsOfContact(ws.workspaceId, reopened.contactId))).toHaveLength(1);
  });
});

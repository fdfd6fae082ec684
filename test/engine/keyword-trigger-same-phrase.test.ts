import { describe, expect, it } from 'vitest';
import type { TriggerBinding } from '../../src/core/settings.js';
import type { Engine, WorkspaceEngine } from '../../src/engine.js';
import { usePrivacyWorkspace } from './privacy-workspace.js';

const PRIVACY: TriggerBinding = { trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: true };
const keywordBinding = (match: string, template = 'welcome-request-email', enabled = true): TriggerBinding => ({ trigger: 'keyword', template, match, enabled });

describe('keyword bindings whose phrases read the same', () => {
  let engine: Engine;
  let ws: WorkspaceEngine;

  usePrivacyWorkspace((workspace) => {
    ({ engine, ws } = workspace);
  });

  it.each([
    ['same', 'same'],
    ['track order', 'Track Order!'],
    ['Café', 'cafe'],
    ['opt-in list', 'OPT IN LIST'],
  ])('refuses %j beside %j bound to another template, naming the later binding, and changes nothing', async (first, second) => {
    const refused = ws.updateSettings({ triggers: [keywordBinding(first), keywordBinding(second, 'welcome-request-phone')] });
    await expect(refused).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      issues: [{ path: 'triggers.1.match', message: expect.stringContaining(`reads the same as triggers.0.match (${JSON.stringify(first)}): `) }],
    });
    await expect(refused).rejects.toThrow(`triggers.1.match: reads the same as triggers.0.match (${JSON.stringify(first)})`);
    expect((await ws.get()).settings.triggers).toEqual([PRIVACY]);
  });

  it('refuses the same phrase bound twice to the same template as a duplicate', async () => {
    const refused = ws.updateSettings({ triggers: [PRIVACY, keywordBinding('track order'), keywordBinding('TRACK ORDER')] });
    await expect(refused).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      issues: [{ path: 'triggers.2.match', message: expect.stringContaining('reads the same as triggers.1.match ("track order"), bound to the same template: the binding is there twice') }],
    });
  });

  it('names every later binding of a phrase, each beside the first one', async () => {
    const refused = ws.updateSettings({ triggers: [keywordBinding('a b'), keywordBinding('c'), keywordBinding('A-B', 'welcome-request-phone'), keywordBinding('a  b')] });
    await expect(refused).rejects.toMatchObject({
      issues: [
        { path: 'triggers.2.match', message: expect.stringContaining('reads the same as triggers.0.match ("a b")') },
        { path: 'triggers.3.match', message: expect.stringContaining('reads the same as triggers.0.match ("a b")') },
      ],
    });
  });

  it('refuses them in a new workspace too', async () => {
    const created = engine.createWorkspace({ name: 'Globex', settings: { triggers: [keywordBinding('hola'), keywordBinding('¡Hola!', 'welcome-request-phone')] } });
    await expect(created).rejects.toMatchObject({ code: 'VALIDATION_FAILED', issues: [{ path: 'triggers.1.match' }] });
  });

  it('names a binding refused for its phrase once, for that, and compares nothing with it', async () => {
    const refused = ws.updateSettings({ triggers: [keywordBinding('cancel order'), keywordBinding('Cancel order', 'welcome-request-phone')] });
    await expect(refused).rejects.toMatchObject({
      issues: [
        { path: 'triggers.0.match', message: expect.stringContaining('is or holds the opt-out word CANCEL') },
        { path: 'triggers.1.match', message: expect.stringContaining('is or holds the opt-out word CANCEL') },
      ],
    });
  });

  it('names a binding refused for an unknown template once, for that, and compares nothing with it', async () => {
    const refused = ws.updateSettings({ triggers: [keywordBinding('track order', 'nope'), keywordBinding('Track Order', 'nope')] });
    await expect(refused).rejects.toMatchObject({
      issues: [
        { path: 'triggers.0.template', message: expect.stringContaining('unknown template "nope"') },
        { path: 'triggers.1.template', message: expect.stringContaining('unknown template "nope"') },
      ],
    });
  });

  it('accepts a disabled binding with a phrase an enabled one has, and refuses enabling it beside the other', async () => {
    const triggers = [PRIVACY, keywordBinding('track order'), keywordBinding('Track order', 'welcome-request-phone', false)];
    expect((await ws.updateSettings({ triggers })).settings.triggers).toEqual(triggers);
    await expect(ws.updateSettings({ triggers: [PRIVACY, keywordBinding('track order'), keywordBinding('Track order', 'welcome-request-phone')] })).rejects.toMatchObject({
      issues: [{ path: 'triggers.2.match' }],
    });
    // Switching from one template to the other is one change.
    const switched = [PRIVACY, keywordBinding('track order', 'welcome-request-email', false), keywordBinding('Track order', 'welcome-request-phone')];
    expect((await ws.updateSettings({ triggers: switched })).settings.triggers).toEqual(switched);
  });

  it('accepts phrases that differ, and keyword bindings without a match', async () => {
    const triggers = [PRIVACY, keywordBinding('track order'), keywordBinding('track orders', 'welcome-request-phone'), { trigger: 'keyword', template: 'welcome-request-phone', enabled: true } as const];
    expect((await ws.updateSettings({ triggers })).settings.triggers).toEqual(triggers);
  });

  it('refuses a second enabled keyword binding without a phrase: both would start on every typed message', async () => {
    const everyMessage = (template: string, enabled = true): TriggerBinding => ({ trigger: 'keyword', template, enabled });
    const refused = ws.updateSettings({ triggers: [PRIVACY, everyMessage('welcome-request-email'), keywordBinding('track order'), everyMessage('welcome-request-phone')] });
    await expect(refused).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      issues: [
        {
          path: 'triggers.3.match',
          message:
            'has no phrase, as triggers.1 has none: both start on every typed message; give one of them a phrase, or disable one of the two bindings',
        },
      ],
    });
    const twice = ws.updateSettings({ triggers: [everyMessage('welcome-request-email'), everyMessage('welcome-request-email')] });
    await expect(twice).rejects.toThrow('triggers.1.match: has no phrase, as triggers.0 has none: both start on every typed message, bound to the same template: the binding is there twice');
    const oneDisabled = [PRIVACY, everyMessage('welcome-request-email'), everyMessage('welcome-request-phone', false)];
    expect((await ws.updateSettings({ triggers: oneDisabled })).settings.triggers).toEqual(oneDisabled);
  });

  it('lets settings stored before keep loading and a change of another setting go through, and names the binding when the list is sent again', async () => {
    const workspace = await ws.get();
    const stored: TriggerBinding[] = [PRIVACY, keywordBinding('track order'), keywordBinding('Track order', 'welcome-request-phone')];
    await engine.store.transaction((tx) => tx.updateWorkspace(ws.workspaceId, { settings: { ...workspace.settings, triggers: stored }, updatedAt: workspace.updatedAt }));
    expect((await ws.get()).settings.triggers).toEqual(stored);
    expect((await ws.updateSettings({ defaultCountry: 'ES' })).settings.triggers).toEqual(stored);
    expect((await ws.updateSettings({ keywords: { es: { opt_in: ['seguir'] } } })).settings.triggers).toEqual(stored);
    await expect(ws.updateSettings({ triggers: stored })).rejects.toMatchObject({ issues: [{ path: 'triggers.2.match' }] });
  });
});

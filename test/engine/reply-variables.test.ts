import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConsentryError } from '../../src/core/errors.js';
import { createEngine, type Engine, type WorkspaceEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import { createMemoryStore } from '../../src/store/memory.js';

describe('keyword reply texts with variables', () => {
  let engine: Engine;
  let ws: WorkspaceEngine;

  beforeEach(async () => {
    engine = createEngine({ store: createMemoryStore(), clock: new FakeClock('2026-03-01T09:00:00.000Z') });
    ws = engine.workspace((await engine.createWorkspace({ name: 'Acme Bikes', settings: { triggers: [] } })).id);
  });

  afterEach(async () => {
    await engine.store.close();
  });

  it("fill {{workspace.name}} with the workspace's name, as a carrier asks a HELP reply to name the brand", async () => {
    await ws.updateSettings({
      replies: {
        en: { help: '{{workspace.name}} alerts: reply STOP to cancel. Help: support@example.com', opt_in_confirmation: 'Subscribed to {{ workspace.name }} alerts.' },
      },
    });
    const help = await ws.handleInbound({ channel: 'sms', messageId: 's1', from: { id: '+14155550123' }, text: 'HELP' });
    expect(help.replies.map((reply) => reply.text)).toEqual(['Acme Bikes alerts: reply STOP to cancel. Help: support@example.com']);
    const start = await ws.handleInbound({ channel: 'sms', messageId: 's2', from: { id: '+14155550123' }, text: 'START' });
    expect(start.replies.map((reply) => reply.text)).toEqual(['Subscribed to Acme Bikes alerts.']);
    await ws.rename('Acme Cycles');
    const again = await ws.handleInbound({ channel: 'sms', messageId: 's3', from: { id: '+14155550123' }, text: 'HELP' });
    expect(again.replies[0]?.text).toMatch(/^Acme Cycles alerts/);
  });

  it('stored before variables were checked, do not block a change to another setting, and are checked once set again', async () => {
    const workspace = await ws.get();
    const older = { ...workspace.settings, replies: { en: { help: 'Hi {{contact.name}}, reply STOP to cancel.' } } };
    await engine.store.transaction((tx) => tx.updateWorkspace(ws.workspaceId, { settings: older, updatedAt: workspace.updatedAt }));
    await expect(ws.updateSettings({ privacyPolicyUrl: 'https://example.com/privacy' })).resolves.toMatchObject({ settings: { privacyPolicyUrl: 'https://example.com/privacy' } });
    await expect(ws.updateSettings({ replies: { en: { help: 'Hi {{contact.name}}' } } })).rejects.toMatchObject({ code: 'VALIDATION_FAILED', issues: [{ path: 'replies.en.help' }] });
    await expect(ws.updateSettings({ replies: { en: { opt_in_confirmation: 'Subscribed to {{workspace.name}}.' } } })).resolves.toBeDefined();
  });

  it('refuse a variable a reply cannot fill, naming the text, rather than send it as written', async () => {
    const refused = await ws.updateSettings({ replies: { es: { help: 'Hola {{contact.first_name}}' } } }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ConsentryError);
    expect(refused).toMatchObject({ code: 'VALIDATION_FAILED', issues: [{ path: 'replies.es.help', message: expect.stringContaining('{{workspace.name}}') }] });
    const help = await ws.handleInbound({ channel: 'sms', messageId: 's1', from: { id: '+14155550123' }, text: 'AYUDA' });
    expect(help.replies[0]?.text).not.toContain('{{');
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TriggerBinding } from '../../src/core/settings.js';
import { createEngine, type Engine, type WorkspaceEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import { createMemoryStore } from '../../src/store/memory.js';

const PRIVACY: TriggerBinding = { trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: true };
const TRACK_ORDER: TriggerBinding = { trigger: 'keyword', match: 'track order', template: 'welcome-request-email', enabled: true };
const ASK_EMAIL = 'What is your email address?';

const whatsapp = (messageId: string, text: string) => ({ channel: 'whatsapp' as const, messageId, from: { id: '34600000001', name: 'Ana Test' }, text });

let engine: Engine;
let ws: WorkspaceEngine;

beforeEach(async () => {
  engine = createEngine({ store: createMemoryStore(), clock: new FakeClock('2026-03-01T09:00:00.000Z') });
  const workspace = await engine.createWorkspace({ name: 'Shop', settings: { privacyPolicyUrl: 'https://example.com/privacy', triggers: [PRIVACY, TRACK_ORDER] } });
  ws = engine.workspace(workspace.id);
});

afterEach(async () => {
  await engine.store.close();
});

describe('a keyword binding matched by the message that closes its conversation', () => {
  it('starts nothing in the closed conversation: no question is asked there that no answer could reach', async () => {
    const opened = await ws.handleInbound(whatsapp('m0', 'hola'));
    // Each "track order" is an invalid answer to the privacy question; the fourth closes the conversation.
    for (const id of ['m1', 'm2', 'm3']) await ws.handleInbound(whatsapp(id, 'track order'));
    const closing = await ws.handleInbound(whatsapp('m4', 'track order'));
    expect(closing.events.map((event) => event.type)).toContain('conversation.closed');
    expect(closing.replies.map((reply) => reply.text).filter((text) => text.startsWith(ASK_EMAIL))).toEqual([]);
    const active = await engine.store.read((tx) => tx.listActiveRuns(ws.workspaceId, opened.contactId, 'whatsapp'));
    expect(active.filter((run) => run.conversationId === opened.conversationId)).toEqual([]);

    // The phrase again opens a new conversation, which starts the binding there once privacy consent is given.
    const next = await ws.handleInbound(whatsapp('m5', 'track order'));
    expect(next.conversationId).not.toBe(opened.conversationId);
    expect(next.replies.some((reply) => reply.text.startsWith(ASK_EMAIL))).toBe(false);
    const agreed = await ws.handleInbound(whatsapp('m6', 'AGREE & PROCEED'));
    expect(agreed.conversationId).toBe(next.conversationId);
    expect(agreed.replies.some((reply) => reply.text.startsWith(ASK_EMAIL))).toBe(true);
  });
});

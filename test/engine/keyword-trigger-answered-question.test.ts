import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TriggerBinding } from '../../src/core/settings.js';
import { createEngine, type Engine, type WorkspaceEngine } from '../../src/engine.js';
import type { InboundResult } from '../../src/engine/handle-inbound.js';
import { FakeClock } from '../../src/ports/clock.js';
import type { WorkflowRunRow } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { privacyDecision } from './privacy-workspace.js';

const PRIVACY: TriggerBinding = { trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: true };
const TRACK_ORDER: TriggerBinding = { trigger: 'keyword', match: 'track order', template: 'welcome-request-email', enabled: true };
const MY_ORDER: TriggerBinding = { trigger: 'keyword', match: 'my order', template: 'welcome-request-email', enabled: true };
const WELCOME = 'Hi Ana, welcome! Thanks for getting in touch.';
const ASK_EMAIL = 'What is your email address? Please reply with it, for example name@example.com.';
const EMAIL_RETRY = `That doesn't look like an email address. ${ASK_EMAIL}`;
const THANKS = 'Thank you! One of our team will be with you shortly.';
const EMAIL_UNREAD = 'Sorry, we could not read an email address in your replies. One of our team will be with you shortly.';

const whatsapp = (messageId: string, text: string) => ({ channel: 'whatsapp' as const, messageId, from: { id: '34600000001', name: 'Ana Test' }, text });
const texts = (answer: InboundResult): string[] => answer.replies.map((reply) => reply.text);

let engine: Engine;
let ws: WorkspaceEngine;
let contactId: string;

beforeEach(async () => {
  engine = createEngine({ store: createMemoryStore(), clock: new FakeClock('2026-03-01T09:00:00.000Z') });
  const workspace = await engine.createWorkspace({ name: 'Shop', settings: { privacyPolicyUrl: 'https://example.com/privacy', triggers: [PRIVACY, TRACK_ORDER, MY_ORDER] } });
  ws = engine.workspace(workspace.id);
  contactId = (await ws.createContact({ name: 'Ana Test', phone: '+34600000001' })).id;
  // A privacy opt-in in force tags the contact `Consent: Privacy`: the welcome is not queued behind the question.
  await ws.setConsent(privacyDecision(contactId, 'opted_in', 'whatsapp'));
});

afterEach(async () => {
  await engine.store.close();
});

const welcomeRuns = async (): Promise<WorkflowRunRow[]> =>
  (await engine.store.read((tx) => tx.listRunsOfContact(ws.workspaceId, contactId))).filter((run) => run.templateId === 'welcome-request-email');

describe('a message that a waiting question takes as its answer', () => {
  it('starts no keyword binding, and the last invalid answer is told that no address could be read', async () => {
    const opened = await ws.handleInbound(whatsapp('m1', 'track order'));
    expect(opened.contactId).toBe(contactId);
    expect(texts(opened)).toEqual([WELCOME, ASK_EMAIL]);
    expect(texts(await ws.handleInbound(whatsapp('m2', 'my order')))).toEqual([EMAIL_RETRY]);
    expect(texts(await ws.handleInbound(whatsapp('m3', 'TRACK ORDER')))).toEqual([EMAIL_RETRY]);
    expect(texts(await ws.handleInbound(whatsapp('m4', 'no')))).toEqual([EMAIL_RETRY]);
    const last = await ws.handleInbound(whatsapp('m5', 'track order'));
    expect(texts(last)).toEqual([EMAIL_UNREAD]);
    expect(last.conversationId).toBe(opened.conversationId);
    expect(await welcomeRuns()).toEqual([expect.objectContaining({ status: 'completed', conversationId: opened.conversationId, state: expect.objectContaining({ outcome: 'done' }) })]);

    // The question answered, the phrase starts the binding again.
    expect(texts(await ws.handleInbound(whatsapp('m6', 'track order')))).toEqual([WELCOME, ASK_EMAIL]);
  });

  it('starts no keyword binding when the answer is valid either', async () => {
    await ws.handleInbound(whatsapp('v1', 'track order'));
    await ws.updateSettings({ triggers: [PRIVACY, TRACK_ORDER, { trigger: 'keyword', match: 'ana@example.com', template: 'welcome-request-phone', enabled: true }] });
    const answered = await ws.handleInbound(whatsapp('v2', 'ana@example.com'));
    expect(texts(answered)).toEqual([THANKS]);
    expect((await ws.getContact(contactId)).email).toBe('ana@example.com');
    expect(await engine.store.read((tx) => tx.listActiveRuns(ws.workspaceId, contactId, 'whatsapp'))).toEqual([]);
    const runs = await engine.store.read((tx) => tx.listRunsOfContact(ws.workspaceId, contactId));
    expect(runs.filter((run) => run.templateId === 'welcome-request-phone')).toEqual([]);
  });

  it('still lets STOP win while the question waits: the opt-out is recorded, the run and the conversation end, nothing starts', async () => {
    const opened = await ws.handleInbound(whatsapp('s1', 'track order'));
    const stop = await ws.handleInbound(whatsapp('s2', 'STOP'));
    expect(stop.events.map((event) => event.type)).toEqual(expect.arrayContaining(['consent.withdrawn', 'conversation.closed']));
    expect(texts(stop)).not.toContain(ASK_EMAIL);
    expect(texts(stop)).not.toContain(EMAIL_UNREAD);
    expect(await welcomeRuns()).toEqual([expect.objectContaining({ status: 'cancelled', conversationId: opened.conversationId })]);
  });
});

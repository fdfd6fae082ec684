import { describe, expect, it } from 'vitest';
import type { TriggerBinding } from '../../src/core/settings.js';
import { type Engine, type WorkspaceEngine } from '../../src/engine.js';
import type { InboundResult } from '../../src/engine/handle-inbound.js';
import type { Conversation, Store, WorkflowRunRow } from '../../src/ports/store.js';
import { useShopOnStore } from './shop-on-store.js';

const POLICY_URL = 'https://example.com/privacy';
const PRIVACY: TriggerBinding = { trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: true };
const LINK = `Hi Ana! Before we continue, please read our privacy policy: ${POLICY_URL}`;
const QUESTION = 'Do you agree to our privacy policy? Select AGREE & PROCEED to continue.';
const AGREED = "Thank you! You have agreed to our privacy policy. Let's continue with your conversation.";
const WELCOME = 'Hi Ana, welcome! Thanks for getting in touch.';
const ASK_EMAIL = 'What is your email address? Please reply with it, for example name@example.com.';
const THANKS = 'Thank you! One of our team will be with you shortly.';

const sms = (messageId: string, text: string) => ({ channel: 'sms' as const, messageId, from: { id: '+34600000001', name: 'Ana Test' }, text });
const texts = (answer: InboundResult): string[] => answer.replies.map((reply) => reply.text);

describe.each(['memory', 'sqlite'] as const)('a typed valid answer to the privacy question (%s store)', (kind) => {
  let store: Store;
  let engine: Engine;
  let ws: WorkspaceEngine;

  useShopOnStore(kind, { privacyPolicyUrl: POLICY_URL, triggers: [PRIVACY] }, (shop) => {
    ({ store, engine, ws } = shop);
  });

  const runsOf = async (contactId: string, templateId: string): Promise<WorkflowRunRow[]> =>
    (await store.read((tx) => tx.listRunsOfContact(ws.workspaceId, contactId))).filter((run) => run.templateId === templateId);
  const conversation = async (id: string | null): Promise<Conversation | undefined> =>
    id === null ? undefined : store.read((tx) => tx.getConversation(ws.workspaceId, id));

  it('starts a keyword binding without a phrase once, from the queue: a new sms contact is welcomed once', async () => {
    await ws.updateSettings({ triggers: [PRIVACY, { trigger: 'keyword', template: 'welcome-request-phone', enabled: true }] });
    const opened = await ws.handleInbound(sms('p1', 'hola'));
    expect(texts(opened)).toEqual([LINK, QUESTION]);
    expect((await conversation(opened.conversationId))?.queuedWorkflows).toEqual([{ template: 'welcome-request-phone', trigger: 'keyword', match: null }]);

    const agreed = await ws.handleInbound(sms('p2', 'AGREE & PROCEED'));
    expect(texts(agreed)).toEqual([AGREED, WELCOME, THANKS]);
    expect(await runsOf(opened.contactId, 'welcome-request-phone')).toEqual([expect.objectContaining({ status: 'completed', conversationId: opened.conversationId })]);
  });

  it('starts a keyword binding without a phrase once for a contact whose e-mail is known', async () => {
    await ws.updateSettings({ triggers: [PRIVACY, { trigger: 'keyword', template: 'welcome-request-email', enabled: true }] });
    const ana = await ws.createContact({ name: 'Ana Test', phone: '+34600000001', email: 'ana@example.com' });
    await ws.handleInbound(sms('e1', 'hi'));
    const agreed = await ws.handleInbound(sms('e2', 'AGREE & PROCEED'));
    expect(agreed.contactId).toBe(ana.id);
    expect(texts(agreed)).toEqual([AGREED, WELCOME, THANKS]);
    expect(await runsOf(ana.id, 'welcome-request-email')).toHaveLength(1);
  });

  it('starts no keyword binding whose phrase the answer reads as', async () => {
    await ws.updateSettings({ triggers: [PRIVACY, { trigger: 'keyword', match: 'agree & proceed', template: 'welcome-request-email', enabled: true }] });
    const opened = await ws.handleInbound(sms('k1', 'hola'));
    const agreed = await ws.handleInbound(sms('k2', 'AGREE & PROCEED'));
    expect(texts(agreed)).toEqual([AGREED]);
    expect(agreed.events.map((event) => event.type)).toContain('consent.given');
    expect(await runsOf(opened.contactId, 'welcome-request-email')).toEqual([]);

    // No question waits any more: the phrase starts the binding.
    expect(texts(await ws.handleInbound(sms('k3', 'agree & proceed')))).toEqual([WELCOME, ASK_EMAIL]);
    expect(await runsOf(opened.contactId, 'welcome-request-email')).toHaveLength(1);
  });

  it('still queues a phrase that is an invalid answer, and starts it once when the contact agrees', async () => {
    await ws.updateSettings({ triggers: [PRIVACY, { trigger: 'keyword', match: 'track order', template: 'welcome-request-email', enabled: true }] });
    const opened = await ws.handleInbound(sms('q1', 'hola'));
    expect(texts(await ws.handleInbound(sms('q2', 'track order')))).toEqual([QUESTION]);
    expect((await conversation(opened.conversationId))?.queuedWorkflows).toEqual([{ template: 'welcome-request-email', trigger: 'keyword', match: 'track order' }]);
    expect(texts(await ws.handleInbound(sms('q3', 'AGREE & PROCEED')))).toEqual([AGREED, WELCOME, ASK_EMAIL]);
    expect(await runsOf(opened.contactId, 'welcome-request-email')).toHaveLength(1);
  });
});

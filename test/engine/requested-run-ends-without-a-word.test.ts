import { describe, expect, it } from 'vitest';
import type { TriggerBinding } from '../../src/core/settings.js';
import { type Engine, type WorkspaceEngine } from '../../src/engine.js';
import type { Store } from '../../src/ports/store.js';
import { useShopOnStore } from './shop-on-store.js';

const PRIVACY: TriggerBinding = { trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: true };
const WELCOME_ON_OPEN: TriggerBinding = { trigger: 'conversation_opened', template: 'welcome-request-email', enabled: true };
const PHONE = '+34600000321';
const WELCOME = 'Hi Dora, welcome! Thanks for getting in touch.';
const ASK_EMAIL = 'What is your email address? Please reply with it, for example name@example.com.';

describe.each(['memory', 'sqlite'] as const)('a requested start that ends without a word (%s store)', (kind) => {
  let store: Store;
  let engine: Engine;
  let ws: WorkspaceEngine;

  useShopOnStore(kind, { privacyPolicyUrl: 'https://example.com/privacy', triggers: [PRIVACY, WELCOME_ON_OPEN] }, (shop) => {
    ({ store, engine, ws } = shop);
  });

  const agreedContact = async (): Promise<string> => {
    const contact = await ws.createContact({ name: 'Dora Test', phone: PHONE });
    await ws.setConsent({
      contactId: contact.id,
      purpose: 'privacy',
      channel: 'any',
      status: 'opted_in',
      legalBasis: 'CONSENT_WITH_NOTICE',
      explanation: 'Agreed on the web form',
      source: 'api',
      actor: { kind: 'integration', id: 'web-form' },
    });
    expect((await ws.getContact(contact.id)).tags).toContain('Consent: Privacy');
    return contact.id;
  };
  const openConversationOn = (contactId: string) => store.read((tx) => tx.getOpenConversation(ws.workspaceId, contactId, 'sms'));

  it('request-consent-privacy for a contact who already agreed ends skipped and opens no conversation; the next message opens one and starts its workflows', async () => {
    const contactId = await agreedContact();
    const started = await ws.startWorkflow('request-consent-privacy', contactId, 'sms');
    expect(started).toMatchObject({ conversationId: null, replies: [], events: [] });
    expect(await ws.getRun(started.runId)).toMatchObject({ status: 'completed', conversationId: null, channel: 'sms', state: { outcome: 'skipped' } });
    expect(await openConversationOn(contactId)).toBeUndefined();

    const next = await ws.handleInbound({ channel: 'sms', messageId: 'd1', from: { id: PHONE }, text: 'hello' });
    expect(next.events.map((event) => event.type)).toContain('conversation.opened');
    expect(next.replies.map((reply) => reply.text)).toEqual([WELCOME, ASK_EMAIL]);
  });

  it('runs in the conversation the contact has open on the channel, as any start does', async () => {
    const contactId = await agreedContact();
    const chatting = await ws.handleInbound({ channel: 'sms', messageId: 'd2', from: { id: PHONE }, text: 'hello' });
    const started = await ws.startWorkflow('request-consent-privacy', contactId, 'sms');
    expect(started).toMatchObject({ conversationId: chatting.conversationId, replies: [] });
    expect(await ws.getRun(started.runId)).toMatchObject({ status: 'completed', conversationId: chatting.conversationId, state: { outcome: 'skipped' } });
  });

  it('opens a conversation for a run that sends something, and closes it after the texts of one that ends at once', async () => {
    const contact = await ws.createContact({ name: 'Dora Test', phone: PHONE, email: 'dora@example.com' });
    const started = await ws.startWorkflow('welcome-request-email', contact.id, 'sms');
    expect(started.replies.map((reply) => reply.text)).toEqual([WELCOME, 'Thank you! One of our team will be with you shortly.']);
    expect(started.conversationId).not.toBeNull();
    expect(started.events.map((event) => event.type)).toEqual(expect.arrayContaining(['conversation.opened', 'conversation.closed']));
    // Left open, it would take the next message, and request-consent-privacy would never ask.
    expect(await openConversationOn(contact.id)).toBeUndefined();
  });

  it('still refuses a start on a channel the contact cannot be reached on, and one without the setting it needs', async () => {
    const contactId = await agreedContact();
    await expect(ws.startWorkflow('request-consent-privacy', contactId, 'telegram')).rejects.toMatchObject({ code: 'CONTACT_UNREACHABLE' });
    await ws.updateSettings({ privacyPolicyUrl: null });
    await expect(ws.startWorkflow('request-consent-privacy', contactId, 'sms')).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(await openConversationOn(contactId)).toBeUndefined();
  });
});

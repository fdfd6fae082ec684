import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WorkspaceSettingsInput } from '../../src/core/settings.js';
import { createEngine, type Engine, type WorkspaceEngine } from '../../src/engine.js';
import type { InboundMessage } from '../../src/engine/inputs.js';
import { FakeClock } from '../../src/ports/clock.js';
import type { StoredEvent } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { privacyDecision } from './privacy-workspace.js';

const PHONE = '+34600000001';
const AGREE = 'AGREE & PROCEED';
const PRIVACY_TAG = 'Consent: Privacy';
const FIVE_MINUTES = 5 * 60_000;

let clock: FakeClock;
let engine: Engine;
let ws: WorkspaceEngine;
let next = 0;

const PRIVACY_ON_OPEN = { trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: true } as const;
const WELCOME_ON_PRIVACY_TAG = { trigger: 'tag_added', match: PRIVACY_TAG, template: 'welcome-request-email', enabled: true } as const;

async function workspaceWith(settings: WorkspaceSettingsInput = {}): Promise<void> {
  const workspace = await engine.createWorkspace({
    name: 'Acme',
    settings: {
      privacyPolicyUrl: 'https://example.com/privacy-2025',
      // Replies are also written to the outbox, where a test can read every message a run sent.
      outboundWebhookUrl: 'https://example.com/outbound',
      triggers: [PRIVACY_ON_OPEN],
      ...settings,
    },
  });
  ws = engine.workspace(workspace.id);
}

beforeEach(() => {
  clock = new FakeClock('2026-03-01T09:00:00.000Z');
  engine = createEngine({ store: createMemoryStore(), clock });
});

afterEach(async () => {
  await engine.store.close();
});

function message(input: Partial<InboundMessage>): InboundMessage {
  next += 1;
  return { channel: 'whatsapp', messageId: `wamid.${next}`, from: { id: PHONE, name: 'Ana Test' }, ...input };
}

async function eventsSinceStart(): Promise<StoredEvent[]> {
  return [...(await ws.listEvents({ limit: 500 }))].reverse();
}

/** An event's data as a plain record, whatever its type. */
const dataOf = (event: StoredEvent): Record<string, unknown> => ({ ...event.data });

async function sent(): Promise<{ channel: unknown; text: unknown }[]> {
  return (await eventsSinceStart()).filter((event) => event.type === 'message.outbound').map((event) => ({ channel: dataOf(event).channel, text: dataOf(event).text }));
}

async function consentsOf(contactId: string): Promise<string[][]> {
  return (await ws.getConsents(contactId)).states.map((state) => [state.purpose, state.status]);
}

async function wait(ms: number): Promise<void> {
  clock.advance(ms);
  await engine.runDueTimers(clock.now());
}

describe('the consent a run records names what the run showed', () => {
  it('keeps the policy URL of the link it sent when the setting changes before the answer', async () => {
    await workspaceWith();
    await ws.handleInbound(message({ text: 'hola' }));
    await ws.updateSettings({ privacyPolicyUrl: 'https://example.com/privacy-2026' });
    const answered = await ws.handleInbound(message({ button: 'agree' }));
    const [record] = (await ws.getHistory(answered.contactId)).filter((entry) => entry.purpose === 'privacy');
    expect(record?.explanation).toBe("Agreed to the privacy policy https://example.com/privacy-2025 by answering 'AGREE & PROCEED' on whatsapp");
    expect(record?.evidence.policyUrl).toBe('https://example.com/privacy-2025');
    expect(record?.evidence.shown?.[0]).toContain('https://example.com/privacy-2025');
  });

  it('keeps it when the setting is removed before the answer', async () => {
    await workspaceWith();
    await ws.handleInbound(message({ text: 'hola' }));
    await ws.updateSettings({ privacyPolicyUrl: null });
    const answered = await ws.handleInbound(message({ button: 'agree' }));
    const [record] = (await ws.getHistory(answered.contactId)).filter((entry) => entry.purpose === 'privacy');
    expect(record?.explanation).toBe("Agreed to the privacy policy https://example.com/privacy-2025 by answering 'AGREE & PROCEED' on whatsapp");
    expect(record?.evidence.policyUrl).toBe('https://example.com/privacy-2025');
  });

  it('is dated when the answer was sent, as a keyword is, not when a late channel delivered it', async () => {
    await workspaceWith();
    await ws.handleInbound(message({ text: 'hola' }));
    clock.advance(4 * 60_000);
    const clickedAt = clock.now().toISOString();
    // The scheduler is behind: the click arrives two minutes later, after the question's deadline.
    clock.advance(2 * 60_000);
    const answered = await ws.handleInbound(message({ button: 'agree', timestamp: clickedAt }));
    const [record] = (await ws.getHistory(answered.contactId)).filter((entry) => entry.purpose === 'privacy');
    expect(record?.occurredAt).toBe(clickedAt);
    expect(record?.recordedAt).toBe(clock.now().toISOString());
  });
});

describe('an answer sent before the question it answers was asked', () => {
  it('is dated when the question was asked, so a withdrawal made in between stays older than it', async () => {
    await workspaceWith();
    const opened = await ws.handleInbound(message({ text: 'hola' }));
    clock.advance(60_000);
    const clickedAt = clock.now().toISOString();
    clock.advance(60_000);
    // The withdrawal closes the conversation and ends its run; the contact writes again and is asked again.
    await ws.setConsent({ contactId: opened.contactId, purpose: 'privacy', channel: 'whatsapp', status: 'opted_out', source: 'api', actor: { kind: 'integration', id: 'crm' } });
    clock.advance(30_000);
    const askedAt = clock.now().toISOString();
    await ws.handleInbound(message({ text: 'hello again' }));
    clock.advance(30_000);
    // The click on the first question's button arrives only now.
    await ws.handleInbound(message({ button: 'agree', timestamp: clickedAt }));
    const privacy = (await ws.getHistory(opened.contactId)).filter((entry) => entry.purpose === 'privacy');
    expect(privacy.map((entry) => [entry.status, entry.occurredAt])).toEqual([
      ['opted_out', expect.any(String)],
      ['opted_in', askedAt],
    ]);
    expect((await consentsOf(opened.contactId)).filter(([purpose]) => purpose === 'privacy')).toEqual([['privacy', 'opted_in']]);
    expect((await ws.getContact(opened.contactId)).tags).toContain(PRIVACY_TAG);
  });
});

describe('a pending privacy question the contact has answered another way', () => {
  it('ends quietly when the privacy opt-in arrives through the API: no time-out message, no consent.failed', async () => {
    await workspaceWith();
    const opened = await ws.handleInbound(message({ text: 'hola' }));
    clock.advance(60_000);
    await ws.setConsent(privacyDecision(opened.contactId, 'opted_in', 'whatsapp'));
    await wait(FIVE_MINUTES);
    const events = await eventsSinceStart();
    expect(events.map((event) => event.type)).not.toContain('consent.failed');
    expect(events.filter((event) => event.type === 'workflow.finished').map((event) => dataOf(event).outcome)).toEqual(['skipped']);
    expect((await sent()).map((message) => message.text)).not.toContainEqual(expect.stringContaining('We did not receive your consent'));
    const later = await ws.handleInbound(message({ text: 'so, about my order' }));
    expect(later.conversationId).toBe(opened.conversationId);
    expect(later.replies).toEqual([]);
  });

  it('ends on the other channel when the contact agrees on one', async () => {
    await workspaceWith();
    await ws.handleInbound(message({ text: 'hola' }));
    clock.advance(60_000);
    const onSms = await ws.handleInbound(message({ channel: 'sms', from: { id: PHONE }, text: 'hi by sms' }));
    expect(onSms.replies.some((reply) => reply.options?.some((option) => option.label === AGREE))).toBe(true);
    await ws.handleInbound(message({ button: 'agree' }));
    await wait(FIVE_MINUTES);
    const events = await eventsSinceStart();
    expect(events.map((event) => event.type)).not.toContain('consent.failed');
    // The SMS run ends as the tag is added, before the WhatsApp run that added it finishes.
    expect(events.filter((event) => event.type === 'workflow.finished').map((event) => [dataOf(event).channel, dataOf(event).outcome])).toEqual([
      ['sms', 'skipped'],
      ['whatsapp', 'given'],
    ]);
    expect((await engine.store.transaction((tx) => tx.countTimers()))).toBe(0);
  });
});

describe('a question a new tag does not settle', () => {
  it('keeps waiting, its run left as it was', async () => {
    await workspaceWith({ triggers: [] });
    const contact = await ws.createContact({ name: 'Ana Test', identities: [{ channel: 'whatsapp', externalId: PHONE }] });
    const started = await ws.startWorkflow('welcome-request-email', contact.id, 'whatsapp');
    const before = await ws.getRun(started.runId);
    clock.advance(60_000);
    await ws.addTag(contact.id, 'vip');
    expect(await ws.getRun(started.runId)).toEqual(before);
    const answered = await ws.handleInbound(message({ text: 'ana.test@example.com' }));
    expect(answered.contactId).toBe(contact.id);
    expect((await ws.getContact(contact.id)).email).toBe('ana.test@example.com');
  });
});

describe('a workflow that a new tag triggers', () => {
  it('runs in the conversation of the run that added the tag, and takes its answers there', async () => {
    await workspaceWith({ triggers: [PRIVACY_ON_OPEN, WELCOME_ON_PRIVACY_TAG] });
    await ws.handleInbound(message({ text: 'hola' }));
    // The same number says STOP on SMS: nothing may be sent there after the confirmation.
    await ws.handleInbound(message({ channel: 'sms', from: { id: PHONE }, text: 'STOP' }));
    const agreed = await ws.handleInbound(message({ button: 'agree' }));
    expect(agreed.replies.map((reply) => reply.text)).toContainEqual(expect.stringContaining('What is your email address?'));
    const answered = await ws.handleInbound(message({ text: 'ana.test@example.com' }));
    expect(answered.conversationId).toBe(agreed.conversationId);
    expect((await ws.getContact(agreed.contactId)).email).toBe('ana.test@example.com');
    expect((await sent()).filter((message) => message.channel === 'sms').map((message) => message.text)).toEqual([expect.stringContaining('unsubscribed')]);
  });

  it('started by a tag from the API, runs in the conversation the contact has open and takes its answers there', async () => {
    await workspaceWith({ triggers: [{ trigger: 'tag_added', match: 'vip', template: 'welcome-request-email', enabled: true }] });
    const chatting = await ws.handleInbound(message({ channel: 'sms', from: { id: PHONE }, text: 'hi' }));
    await ws.addTag(chatting.contactId, 'VIP');
    expect((await sent()).map((message) => [message.channel, message.text])).toContainEqual(['sms', expect.stringContaining('What is your email address?')]);
    const answered = await ws.handleInbound(message({ channel: 'sms', from: { id: PHONE }, text: 'ana.test@example.com' }));
    expect(answered.conversationId).toBe(chatting.conversationId);
    expect((await ws.getContact(chatting.contactId)).email).toBe('ana.test@example.com');
  });

  it('started by a tag from the API with no conversation open, starts nothing, and the next message is asked for privacy consent', async () => {
    await workspaceWith({ triggers: [PRIVACY_ON_OPEN, { trigger: 'tag_added', match: 'vip', template: 'welcome-request-email', enabled: true }] });
    const contact = await ws.createContact({ name: 'Ana Test', identities: [{ channel: 'sms', externalId: PHONE }] });
    await ws.addTag(contact.id, 'vip');
    expect(await sent()).toEqual([]);
    expect((await eventsSinceStart()).map((event) => event.type)).not.toContain('conversation.opened');
    const first = await ws.handleInbound(message({ channel: 'sms', from: { id: PHONE }, text: 'hello' }));
    expect(first.replies.some((reply) => reply.options?.some((option) => option.label === AGREE))).toBe(true);
  });

  it('started by a tag from the API, passes over a conversation on a channel the contact opted out of without writing since', async () => {
    await workspaceWith({ triggers: [{ trigger: 'tag_added', match: 'vip', template: 'welcome-request-email', enabled: true }] });
    const chatting = await ws.handleInbound(message({ channel: 'sms', from: { id: PHONE }, text: 'hi' }));
    clock.advance(60_000);
    await ws.setConsent({ contactId: chatting.contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'api', actor: { kind: 'integration', id: 'crm' } });
    await ws.addTag(chatting.contactId, 'vip');
    expect(await sent()).toEqual([]);
  });

  it('started by a tag from the API, does not start on a channel the contact opted out of', async () => {
    await workspaceWith({ triggers: [{ trigger: 'tag_added', match: 'vip', template: 'welcome-request-email', enabled: true }] });
    await ws.handleInbound(message({ channel: 'sms', from: { id: PHONE }, text: 'STOP' }));
    const contact = (await ws.findContacts({ phone: PHONE })).contacts[0];
    expect(contact).toBeDefined();
    await ws.addTag(contact?.id ?? '', 'vip');
    expect((await sent()).map((message) => message.text)).toEqual([expect.stringContaining('unsubscribed')]);
    expect((await eventsSinceStart()).map((event) => event.type)).not.toContain('conversation.opened');
  });
});

describe('an option of the waiting question that is also a workspace keyword', () => {
  it('answers the question: the privacy button is not read as an added opt-in word', async () => {
    await workspaceWith({ keywords: { en: { opt_in: ['AGREE', AGREE] } } });
    await ws.handleInbound(message({ text: 'hola' }));
    const clicked = await ws.handleInbound(message({ button: 'agree' }));
    expect(clicked.events.map((event) => [event.type, dataOf(event).purpose])).toContainEqual(['consent.given', 'privacy']);
    expect(await consentsOf(clicked.contactId)).toEqual([['privacy', 'opted_in']]);
    expect((await ws.getContact(clicked.contactId)).tags).toContain(PRIVACY_TAG);
    expect(clicked.keyword).toBeNull();
  });

  it('answers the question when typed, and stays a keyword outside it', async () => {
    await workspaceWith({ keywords: { en: { opt_in: [AGREE] } } });
    await ws.handleInbound(message({ text: 'hola' }));
    const typed = await ws.handleInbound(message({ text: 'agree & proceed' }));
    expect(await consentsOf(typed.contactId)).toEqual([['privacy', 'opted_in']]);
    const later = await ws.handleInbound(message({ text: 'AGREE & PROCEED' }));
    expect(later.keyword?.intent).toBe('opt_in');
    expect(await consentsOf(typed.contactId)).toEqual([
      ['marketing', 'opted_in'],
      ['privacy', 'opted_in'],
    ]);
  });

  it('goes to the question that offered the button when two questions wait in the conversation', async () => {
    const welcomeOnOpen = { trigger: 'conversation_opened', template: 'welcome-request-email', enabled: true } as const;
    await workspaceWith({ keywords: { en: { opt_in: ['AGREE'] } }, triggers: [welcomeOnOpen] });
    const opened = await ws.handleInbound(message({ text: 'hola' }));
    expect(opened.replies.map((reply) => reply.text)).toContainEqual(expect.stringContaining('What is your email address?'));
    // A start someone asks for does not wait for the question already asked.
    const started = await ws.startWorkflow('request-consent-privacy', opened.contactId, 'whatsapp');
    expect(started.replies.map((reply) => reply.text)).toContainEqual(expect.stringContaining('Do you agree to our privacy policy?'));
    const clicked = await ws.handleInbound(message({ button: 'agree' }));
    expect(clicked.keyword).toBeNull();
    expect(await consentsOf(clicked.contactId)).toEqual([['privacy', 'opted_in']]);
    // A typed answer that picks no option goes to the oldest question, the e-mail one.
    await ws.handleInbound(message({ text: 'ana.test@example.com' }));
    expect((await ws.getContact(clicked.contactId)).email).toBe('ana.test@example.com');
  });

  it('never swallows an opt-out keyword, even one spelled as an option', async () => {
    await workspaceWith();
    await ws.handleInbound(message({ text: 'hola' }));
    const stop = await ws.handleInbound(message({ text: 'STOP' }));
    expect(stop.keyword?.intent).toBe('opt_out');
    expect(stop.events.map((event) => event.type)).toContain('consent.withdrawn');
  });
});

describe('a workflow someone starts on a channel the contact opted out of', () => {
  it('is refused without sending anything, and starts once the contact writes there again', async () => {
    await workspaceWith({ triggers: [] });
    const stopped = await ws.handleInbound(message({ channel: 'sms', from: { id: PHONE }, text: 'STOP' }));
    const refused = await ws.startWorkflow('request-consent-privacy', stopped.contactId, 'sms').then(
      () => null,
      (error: unknown) => error,
    );
    expect(refused).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('opted out of messages on sms') });
    expect((await sent()).map((message) => message.text)).toEqual([expect.stringContaining('unsubscribed')]);
    expect((await eventsSinceStart()).map((event) => event.type)).not.toContain('conversation.opened');

    clock.advance(60_000);
    await ws.handleInbound(message({ channel: 'sms', from: { id: PHONE }, text: 'I have a question' }));
    const started = await ws.startWorkflow('request-consent-privacy', stopped.contactId, 'sms');
    expect(started.replies.map((reply) => reply.text)).toContainEqual(expect.stringContaining('https://example.com/privacy-2025'));
  });

  it('is refused on every channel after STOP ALL', async () => {
    await workspaceWith({ triggers: [] });
    const stopped = await ws.handleInbound(message({ text: 'STOP ALL' }));
    await expect(ws.startWorkflow('request-consent-privacy', stopped.contactId, 'sms')).rejects.toMatchObject({
      code: 'CONFLICT',
      message: expect.stringContaining('opted out of messages on sms (on every channel)'),
    });
  });
});

describe('a workflow someone starts in a conversation opened before the contact opted out', () => {
  it('is refused: an opt-out through the API leaves the conversation open, but the contact has not written since', async () => {
    await workspaceWith({ triggers: [] });
    const chatting = await ws.handleInbound(message({ channel: 'sms', from: { id: PHONE }, text: 'hi' }));
    clock.advance(60_000);
    await ws.setConsent({ contactId: chatting.contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'api', actor: { kind: 'integration', id: 'crm' } });
    await expect(ws.startWorkflow('request-consent-privacy', chatting.contactId, 'sms')).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await sent()).toEqual([]);
  });
});

describe('a workflow someone starts on a channel the contact cannot be reached on', () => {
  it.each([
    ['whatsapp', 'it has no phone number and has not written on WhatsApp'],
    ['sms', 'it has no phone number and has not written by SMS'],
    ['messenger', 'it has not written on Messenger'],
  ] as const)('is refused on %s for a contact known only by e-mail, naming the channel', async (channel, why) => {
    await workspaceWith({ triggers: [] });
    const contact = await ws.createContact({ name: 'Bea Test', email: 'bea.test@example.com' });
    await expect(ws.startWorkflow('request-consent-privacy', contact.id, channel)).rejects.toMatchObject({
      code: 'CONTACT_UNREACHABLE',
      issues: [{ path: 'channel', message: expect.stringContaining(why) }],
    });
    expect(await sent()).toEqual([]);
  });

  it('starts on e-mail for the same contact, addressed to the e-mail', async () => {
    await workspaceWith({ triggers: [] });
    const contact = await ws.createContact({ name: 'Bea Test', email: 'bea.test@example.com' });
    await ws.startWorkflow('request-consent-privacy', contact.id, 'email');
    const outbound = (await eventsSinceStart()).filter((event) => event.type === 'message.outbound').map((event) => dataOf(event).to);
    expect(outbound).toEqual(['bea.test@example.com', 'bea.test@example.com']);
  });
});

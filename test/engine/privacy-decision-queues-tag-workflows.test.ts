import { describe, expect, it } from 'vitest';
import type { TriggerBinding } from '../../src/core/settings.js';
import { type Engine, type WorkspaceEngine } from '../../src/engine.js';
import type { Conversation, Store, WorkflowRunRow } from '../../src/ports/store.js';
import { useShopOnStore } from './shop-on-store.js';

const POLICY_URL = 'https://example.com/privacy';
const PRIVACY: TriggerBinding = { trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: true };
const PHONE_ON_PRIVACY_TAG: TriggerBinding = { trigger: 'tag_added', match: 'Consent: Privacy', template: 'welcome-request-phone', enabled: true };
const EMAIL_ON_VIP: TriggerBinding = { trigger: 'tag_added', match: 'VIP', template: 'welcome-request-email', enabled: true };
const EMAIL_ON_TRACK_ORDER: TriggerBinding = { trigger: 'keyword', match: 'track order', template: 'welcome-request-email', enabled: true };
const LINK = `Hi Quinn! Before we continue, please read our privacy policy: ${POLICY_URL}`;
const QUESTION = 'Do you agree to our privacy policy? Select AGREE & PROCEED to continue.';
const AGREED = "Thank you! You have agreed to our privacy policy. Let's continue with your conversation.";
const WELCOME = 'Hi Quinn, welcome! Thanks for getting in touch.';
const ASK_EMAIL = 'What is your email address? Please reply with it, for example name@example.com.';
const HANDED_OVER = 'Thank you! One of our team will be with you shortly.';
const ASK_PHONE = 'What is your phone number? Please write it starting with + and the country code, for example +34 600 000 001.';

const webchat = (messageId: string, input: { text: string } | { button: string }) => ({
  channel: 'webchat' as const,
  messageId,
  from: { id: 'visitor-900', name: 'Quinn' },
  ...input,
});
const texts = (answer: { replies: { text: string }[] }): string[] => answer.replies.map((reply) => reply.text);

describe.each(['memory', 'sqlite'] as const)('workflows the privacy decision triggers while the question waits (%s store)', (kind) => {
  let store: Store;
  let engine: Engine;
  let ws: WorkspaceEngine;

  useShopOnStore(kind, { privacyPolicyUrl: POLICY_URL, outboundWebhookUrl: 'https://example.com/outbound', triggers: [PRIVACY, PHONE_ON_PRIVACY_TAG, EMAIL_ON_VIP, EMAIL_ON_TRACK_ORDER] }, (shop) => {
    ({ store, engine, ws } = shop);
  });

  const conversation = async (id: string | null): Promise<Conversation | undefined> =>
    id === null ? undefined : store.read((tx) => tx.getConversation(ws.workspaceId, id));
  const runsOf = async (contactId: string, templateId: string): Promise<WorkflowRunRow[]> =>
    (await store.read((tx) => tx.listRunsOfContact(ws.workspaceId, contactId))).filter((run) => run.templateId === templateId);
  /** The texts sent through the outbound webhook that answered no message, oldest first. */
  const sentUnasked = async (): Promise<string[]> =>
    (await store.read((tx) => tx.listEvents(ws.workspaceId, { types: ['message.outbound'], limit: 100 })))
      .reverse()
      .map((event) => event.data)
      .filter((data) => 'inAnswer' in data && data.inAnswer === false)
      .map((data) => ('text' in data ? data.text : ''));

  const optInFromOutside = {
    'the API': async (contactId: string) => {
      await ws.setConsent({
        contactId,
        purpose: 'privacy',
        channel: 'webchat',
        status: 'opted_in',
        legalBasis: 'CONSENT_WITH_NOTICE',
        explanation: 'Agreed on the web form',
        source: 'api',
        actor: { kind: 'integration', id: 'web-form' },
      });
    },
    'an import': async (contactId: string) => {
      const [row] = await ws.bulkSetConsent([
        { contactId, purpose: 'privacy', channel: 'webchat', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Agreed on the web form' },
      ]);
      expect(row).toMatchObject({ ok: true });
    },
  } as const;

  it.each(Object.keys(optInFromOutside) as (keyof typeof optInFromOutside)[])(
    'a privacy opt-in through %s that ends the waiting question queues the Consent: Privacy binding, which starts at the next message with its texts in the answer',
    async (from) => {
      const first = await ws.handleInbound(webchat('q1', { text: 'Hello' }));
      expect(texts(first)).toEqual([LINK, QUESTION]);

      await optInFromOutside[from](first.contactId);
      expect((await ws.getContact(first.contactId)).tags).toContain('Consent: Privacy');
      expect((await runsOf(first.contactId, 'request-consent-privacy')).map((run) => run.status)).toEqual(['completed']);
      // Nothing started beside a message: its texts would answer none, and its question would take the next message.
      expect(await runsOf(first.contactId, 'welcome-request-phone')).toEqual([]);
      expect(await sentUnasked()).toEqual([]);
      expect((await conversation(first.conversationId))?.queuedWorkflows).toEqual([{ template: 'welcome-request-phone', trigger: 'tag_added', match: 'Consent: Privacy' }]);

      const next = await ws.handleInbound(webchat('q2', { text: 'ok?' }));
      expect(next.conversationId).toBe(first.conversationId);
      expect(texts(next)).toEqual([WELCOME, ASK_PHONE]);
      expect(Object.hasOwn((await conversation(first.conversationId)) ?? {}, 'queuedWorkflows')).toBe(false);

      const answered = await ws.handleInbound(webchat('q3', { text: '+34 600 000 901' }));
      expect(texts(answered)).toEqual(['Thank you! One of our team will be with you shortly.']);
      expect((await ws.getContact(first.contactId)).phone).toBe('+34600000901');
      expect(await runsOf(first.contactId, 'welcome-request-phone')).toEqual([expect.objectContaining({ status: 'completed', conversationId: first.conversationId })]);
    },
  );

  it('queues the Consent: Privacy binding after one a tag added earlier queued, and starts them at the next messages in that order, one question at a time', async () => {
    const first = await ws.handleInbound(webchat('o1', { text: 'Hello' }));
    await ws.addTag(first.contactId, 'VIP');
    await optInFromOutside['the API'](first.contactId);
    expect((await conversation(first.conversationId))?.queuedWorkflows).toEqual([
      { template: 'welcome-request-email', trigger: 'tag_added', match: 'VIP' },
      { template: 'welcome-request-phone', trigger: 'tag_added', match: 'Consent: Privacy' },
    ]);
    expect(texts(await ws.handleInbound(webchat('o2', { text: 'hi again' })))).toEqual([WELCOME, ASK_EMAIL]);
    expect((await conversation(first.conversationId))?.queuedWorkflows).toEqual([{ template: 'welcome-request-phone', trigger: 'tag_added', match: 'Consent: Privacy' }]);
    expect(texts(await ws.handleInbound(webchat('o3', { text: 'quinn@example.com' })))).toEqual([HANDED_OVER, WELCOME, ASK_PHONE]);
    expect(texts(await ws.handleInbound(webchat('o4', { text: '+34 600 000 902' })))).toEqual([HANDED_OVER]);
    expect(await ws.getContact(first.contactId)).toMatchObject({ email: 'quinn@example.com', phone: '+34600000902' });
  });

  it('starts the Consent: Privacy binding at once when no question waited: the tag ended none', async () => {
    await ws.updateSettings({ triggers: [PHONE_ON_PRIVACY_TAG] });
    const first = await ws.handleInbound(webchat('n1', { text: 'Hello' }));
    expect(texts(first)).toEqual([]);
    await optInFromOutside['the API'](first.contactId);
    expect(await runsOf(first.contactId, 'welcome-request-phone')).toEqual([expect.objectContaining({ status: 'active', conversationId: first.conversationId })]);
    expect(await sentUnasked()).toEqual([WELCOME, ASK_PHONE]);
    expect(Object.hasOwn((await conversation(first.conversationId)) ?? {}, 'queuedWorkflows')).toBe(false);
  });

  it('at agreement, starts the workflows queued while the question waited first, in the order they were triggered, then the one the agreement triggers', async () => {
    const first = await ws.handleInbound(webchat('a1', { text: 'Hello' }));
    await ws.addTag(first.contactId, 'VIP');
    const agreed = await ws.handleInbound(webchat('a2', { button: 'agree' }));
    // One question at a time: the one the agreement triggers waits for the answer to the first.
    expect(texts(agreed)).toEqual([AGREED, WELCOME, ASK_EMAIL]);
    expect((await conversation(first.conversationId))?.queuedWorkflows).toEqual([{ template: 'welcome-request-phone', trigger: 'tag_added', match: 'Consent: Privacy' }]);
    expect(texts(await ws.handleInbound(webchat('a3', { text: 'quinn@example.com' })))).toEqual([HANDED_OVER, WELCOME, ASK_PHONE]);
    expect(Object.hasOwn((await conversation(first.conversationId)) ?? {}, 'queuedWorkflows')).toBe(false);
    expect(texts(await ws.handleInbound(webchat('a4', { text: '+34 600 000 903' })))).toEqual([HANDED_OVER]);
    expect(await ws.getContact(first.contactId)).toMatchObject({ email: 'quinn@example.com', phone: '+34600000903' });
  });

  it('asks one question at a time when two welcomes are bound to the agreement: the second starts once the first is answered', async () => {
    const emailOnPrivacyTag: TriggerBinding = { ...PHONE_ON_PRIVACY_TAG, template: 'welcome-request-email' };
    await ws.updateSettings({ triggers: [PRIVACY, emailOnPrivacyTag, PHONE_ON_PRIVACY_TAG] });
    const first = await ws.handleInbound(webchat('w1', { text: 'Hello' }));
    expect(texts(await ws.handleInbound(webchat('w2', { button: 'agree' })))).toEqual([AGREED, WELCOME, ASK_EMAIL]);
    expect(texts(await ws.handleInbound(webchat('w3', { text: 'quinn@example.com' })))).toEqual([HANDED_OVER, WELCOME, ASK_PHONE]);
    // The number goes to the phone question, the only one waiting.
    expect(texts(await ws.handleInbound(webchat('w4', { text: '+34 600 000 904' })))).toEqual([HANDED_OVER]);
    expect(await ws.getContact(first.contactId)).toMatchObject({ email: 'quinn@example.com', phone: '+34600000904' });
  });

  it('asks for consent first when a welcome is bound to the opening before the privacy question, and welcomes after the agreement', async () => {
    const emailOnOpen: TriggerBinding = { trigger: 'conversation_opened', template: 'welcome-request-email', enabled: true };
    await ws.updateSettings({ triggers: [emailOnOpen, PRIVACY] });
    const first = await ws.handleInbound(webchat('c1', { text: 'Hello' }));
    expect(texts(first)).toEqual([LINK, QUESTION]);
    expect((await conversation(first.conversationId))?.queuedWorkflows).toEqual([{ template: 'welcome-request-email', trigger: 'conversation_opened', match: null }]);
    expect(texts(await ws.handleInbound(webchat('c2', { button: 'agree' })))).toEqual([AGREED, WELCOME, ASK_EMAIL]);
  });

  it('at agreement after a phrase typed while the question waited, the phrase’s workflow comes before the agreement’s', async () => {
    await ws.handleInbound(webchat('k1', { text: 'Hello' }));
    expect(texts(await ws.handleInbound(webchat('k2', { text: 'track order' })))).toEqual([QUESTION]);
    expect(texts(await ws.handleInbound(webchat('k3', { text: 'AGREE & PROCEED' })))).toEqual([AGREED, WELCOME, ASK_EMAIL]);
    expect(texts(await ws.handleInbound(webchat('k4', { text: 'quinn@example.com' })))).toEqual([HANDED_OVER, WELCOME, ASK_PHONE]);
  });
});

describe.each(['memory', 'sqlite'] as const)('a workflow already running is not queued to run again (%s store)', (kind) => {
  let store: Store;
  let ws: WorkspaceEngine;
  const EMAIL_ON_OPEN: TriggerBinding = { trigger: 'conversation_opened', template: 'welcome-request-email', enabled: true };
  const PRIVACY_ON_LEAD: TriggerBinding = { trigger: 'tag_added', match: 'Lead', template: 'request-consent-privacy', enabled: true };
  const EMAIL_ON_LEAD: TriggerBinding = { trigger: 'tag_added', match: 'Lead', template: 'welcome-request-email', enabled: true };

  useShopOnStore(kind, { privacyPolicyUrl: POLICY_URL, outboundWebhookUrl: 'https://example.com/outbound', triggers: [EMAIL_ON_OPEN, PRIVACY_ON_LEAD, EMAIL_ON_LEAD] }, (shop) => {
    ({ store, ws } = shop);
  });

  it('lets a binding of a template whose run waits go, even while another question waits beside it', async () => {
    const first = await ws.handleInbound(webchat('d1', { text: 'Hello' }));
    expect(texts(first)).toEqual([WELCOME, ASK_EMAIL]);
    // The CRM tags the contact: the privacy question starts beside the e-mail question (consent is never held back).
    await ws.addTag(first.contactId, 'Lead');
    const conversation = await store.read((tx) => tx.getConversation(ws.workspaceId, first.conversationId ?? ''));
    expect(conversation?.queuedWorkflows).toBeUndefined();

    await ws.handleInbound(webchat('d2', { button: 'AGREE & PROCEED' }));
    const answered = await ws.handleInbound(webchat('d3', { text: 'quinn@example.com' }));
    expect(texts(answered)).toEqual([HANDED_OVER]);
    const welcomes = (await store.read((tx) => tx.listRunsOfContact(ws.workspaceId, first.contactId))).filter((run) => run.templateId === 'welcome-request-email');
    expect(welcomes.map((run) => run.status)).toEqual(['completed']);
  });
});

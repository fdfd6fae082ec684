import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TriggerBinding } from '../../src/core/settings.js';
import { createEngine, type Engine, type WorkspaceEngine } from '../../src/engine.js';
import type { InboundResult } from '../../src/engine/handle-inbound.js';
import { FakeClock } from '../../src/ports/clock.js';
import type { Conversation, Store, WorkflowRunRow } from '../../src/ports/store.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { useShopOnStore } from './shop-on-store.js';

const POLICY_URL = 'https://example.com/privacy';
const PRIVACY: TriggerBinding = { trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: true };
const TRACK_ORDER: TriggerBinding = { trigger: 'keyword', match: 'track order', template: 'welcome-request-email', enabled: true };
const LINK = `Hi Ana! Before we continue, please read our privacy policy: ${POLICY_URL}`;
const QUESTION = 'Do you agree to our privacy policy? Select AGREE & PROCEED to continue.';
const AGREED = "Thank you! You have agreed to our privacy policy. Let's continue with your conversation.";
const WELCOME = 'Hi Ana, welcome! Thanks for getting in touch.';
const ASK_EMAIL = 'What is your email address? Please reply with it, for example name@example.com.';

const whatsapp = (messageId: string, text: string) => ({ channel: 'whatsapp' as const, messageId, from: { id: '34600000001', name: 'Ana Test' }, text });
const texts = (answer: { replies: { text: string }[] }): string[] => answer.replies.map((reply) => reply.text);
const types = (answer: InboundResult): string[] => answer.events.map((event) => event.type);

describe.each(['memory', 'sqlite'] as const)('a binding triggered while the consent question waits (%s store)', (kind) => {
  let store: Store;
  let clock: FakeClock;
  let engine: Engine;
  let ws: WorkspaceEngine;

  useShopOnStore(kind, { privacyPolicyUrl: POLICY_URL, triggers: [PRIVACY, TRACK_ORDER] }, (shop) => {
    ({ store, clock, engine, ws } = shop);
  });

  const conversation = async (id: string | null): Promise<Conversation | undefined> =>
    id === null ? undefined : store.read((tx) => tx.getConversation(ws.workspaceId, id));
  const runs = (contactId: string): Promise<WorkflowRunRow[]> => store.read((tx) => tx.listRunsOfContact(ws.workspaceId, contactId));
  const welcomeRuns = async (contactId: string): Promise<WorkflowRunRow[]> => (await runs(contactId)).filter((run) => run.templateId === 'welcome-request-email');

  it('asks for privacy consent only, then welcomes and asks for the e-mail once the contact agrees; the typed address is stored', async () => {
    const first = await ws.handleInbound(whatsapp('m1', 'track order'));
    expect(texts(first)).toEqual([LINK, QUESTION]);
    expect((await conversation(first.conversationId))?.queuedWorkflows).toEqual([{ template: 'welcome-request-email', trigger: 'keyword', match: 'track order' }]);
    expect(await welcomeRuns(first.contactId)).toEqual([]);

    const agreed = await ws.handleInbound(whatsapp('m2', 'AGREE & PROCEED'));
    expect(texts(agreed)).toEqual([AGREED, WELCOME, ASK_EMAIL]);
    expect(agreed.conversationId).toBe(first.conversationId);
    expect(types(agreed)).toContain('consent.given');
    expect(Object.hasOwn((await conversation(first.conversationId)) ?? {}, 'queuedWorkflows')).toBe(false);

    await ws.handleInbound(whatsapp('m3', 'ana@example.com'));
    expect((await ws.getContact(first.contactId)).email).toBe('ana@example.com');
    expect(await welcomeRuns(first.contactId)).toEqual([expect.objectContaining({ status: 'completed', conversationId: first.conversationId })]);
  });

  it('queues the phrase typed while the question waits: an invalid answer asked again, and no e-mail question beside it', async () => {
    const opened = await ws.handleInbound(whatsapp('t1', 'hola'));
    const typed = await ws.handleInbound(whatsapp('t2', 'track order'));
    expect(texts(typed)).toEqual([QUESTION]);
    expect(await welcomeRuns(opened.contactId)).toEqual([]);
    // Sent again, it is queued once.
    await ws.handleInbound(whatsapp('t3', 'track order'));
    expect((await conversation(opened.conversationId))?.queuedWorkflows).toHaveLength(1);
    expect(texts(await ws.handleInbound(whatsapp('t4', 'AGREE & PROCEED')))).toEqual([AGREED, WELCOME, ASK_EMAIL]);
  });

  it('starts nothing when the question times out: the conversation closes and the queue goes with it', async () => {
    const first = await ws.handleInbound(whatsapp('x1', 'track order'));
    clock.advance(5 * 60_000 + 1);
    const fired = await engine.runDueTimers();
    expect(fired.flatMap((firing) => firing.replies.map((reply) => reply.text))).toEqual([expect.stringContaining('did not receive your consent')]);
    const closed = await conversation(first.conversationId);
    expect(closed?.status).toBe('closed');
    expect(Object.hasOwn(closed ?? {}, 'queuedWorkflows')).toBe(false);
    expect(await welcomeRuns(first.contactId)).toEqual([]);
  });

  it('starts nothing after the fourth invalid answer closes the conversation', async () => {
    const first = await ws.handleInbound(whatsapp('i1', 'track order'));
    for (const id of ['i2', 'i3', 'i4']) await ws.handleInbound(whatsapp(id, 'maybe'));
    const closing = await ws.handleInbound(whatsapp('i5', 'maybe'));
    expect(types(closing)).toContain('conversation.closed');
    expect(texts(closing)).not.toContain(WELCOME);
    expect(await welcomeRuns(first.contactId)).toEqual([]);
  });

  it('starts nothing after STOP', async () => {
    const first = await ws.handleInbound(whatsapp('s1', 'track order'));
    const stop = await ws.handleInbound(whatsapp('s2', 'STOP'));
    expect(types(stop)).toContain('consent.withdrawn');
    expect(texts(stop)).not.toContain(WELCOME);
    expect((await conversation(first.conversationId))?.status).toBe('closed');
    expect(await welcomeRuns(first.contactId)).toEqual([]);
  });

  it('lets go a binding removed or disabled before the contact agrees', async () => {
    const first = await ws.handleInbound(whatsapp('r1', 'track order'));
    await ws.updateSettings({ triggers: [PRIVACY, { ...TRACK_ORDER, enabled: false }] });
    const agreed = await ws.handleInbound(whatsapp('r2', 'AGREE & PROCEED'));
    expect(texts(agreed)).toEqual([AGREED]);
    expect(await welcomeRuns(first.contactId)).toEqual([]);
    expect(Object.hasOwn((await conversation(first.conversationId)) ?? {}, 'queuedWorkflows')).toBe(false);
  });

  it('starts at once for a contact who already agreed: no consent question waits', async () => {
    const first = await ws.handleInbound(whatsapp('a1', 'hola'));
    await ws.handleInbound(whatsapp('a2', 'AGREE & PROCEED'));
    expect(texts(await ws.handleInbound(whatsapp('a3', 'track order')))).toEqual([WELCOME, ASK_EMAIL]);
    expect(await welcomeRuns(first.contactId)).toHaveLength(1);
  });

  it('queues a second conversation_opened binding behind the privacy question, and starts it once with a tag_added binding of the same template', async () => {
    await ws.updateSettings({
      triggers: [PRIVACY, { trigger: 'conversation_opened', template: 'welcome-request-email', enabled: true }, { trigger: 'tag_added', match: 'Consent: Privacy', template: 'welcome-request-email', enabled: true }],
    });
    const first = await ws.handleInbound(whatsapp('o1', 'hola'));
    expect(texts(first)).toEqual([LINK, QUESTION]);
    expect(texts(await ws.handleInbound(whatsapp('o2', 'AGREE & PROCEED')))).toEqual([AGREED, WELCOME, ASK_EMAIL]);
    expect(await welcomeRuns(first.contactId)).toHaveLength(1);
  });

  it('does not hold back a start someone asks for (the API): it is not a binding', async () => {
    const first = await ws.handleInbound(whatsapp('q1', 'hola'));
    const started = await ws.startWorkflow('welcome-request-email', first.contactId, 'whatsapp');
    expect(texts(started)).toEqual([WELCOME, ASK_EMAIL]);
  });

  it('queues a tag_added binding for a tag added from outside, and starts it when the question ends', async () => {
    await ws.updateSettings({ triggers: [PRIVACY, { trigger: 'tag_added', match: 'vip', template: 'welcome-request-email', enabled: true }] });
    const first = await ws.handleInbound(whatsapp('v1', 'hola'));
    await ws.addTag(first.contactId, 'vip');
    expect(await welcomeRuns(first.contactId)).toEqual([]);
    expect((await conversation(first.conversationId))?.queuedWorkflows).toEqual([{ template: 'welcome-request-email', trigger: 'tag_added', match: 'vip' }]);
    expect(texts(await ws.handleInbound(whatsapp('v2', 'AGREE & PROCEED')))).toEqual([AGREED, WELCOME, ASK_EMAIL]);
  });

  it('starts the queue at the next message in the conversation when consent recorded from outside ended the question', async () => {
    const first = await ws.handleInbound(whatsapp('e1', 'track order'));
    expect(await welcomeRuns(first.contactId)).toEqual([]);
    await ws.setConsent({
      contactId: first.contactId,
      purpose: 'privacy',
      channel: 'any',
      status: 'opted_in',
      legalBasis: 'CONSENT_WITH_NOTICE',
      explanation: 'Agreed on the phone',
      source: 'api',
      actor: { kind: 'integration', id: 'crm' },
    });
    const privacy = (await runs(first.contactId)).find((run) => run.templateId === 'request-consent-privacy');
    expect(privacy?.status).not.toBe('active');
    // No message of this conversation is being answered: its texts would reach no one.
    expect(await welcomeRuns(first.contactId)).toEqual([]);
    expect((await conversation(first.conversationId))?.queuedWorkflows).toHaveLength(1);
    const next = await ws.handleInbound(whatsapp('e2', 'hello again'));
    expect(texts(next)).toEqual([WELCOME, ASK_EMAIL]);
    expect(next.conversationId).toBe(first.conversationId);
    await ws.handleInbound(whatsapp('e3', 'ana@example.com'));
    expect((await ws.getContact(first.contactId)).email).toBe('ana@example.com');
  });

  it('does not answer a message on another channel with the texts of a workflow queued on this one', async () => {
    const onWhatsapp = await ws.handleInbound(whatsapp('c1', 'track order'));
    const sms = (messageId: string, text: string) => ({ channel: 'sms' as const, messageId, from: { id: '+34600000001', name: 'Ana Test' }, text });
    const onSms = await ws.handleInbound(sms('c2', 'hola'));
    expect(onSms.contactId).toBe(onWhatsapp.contactId);
    const agreed = await ws.handleInbound(sms('c3', 'AGREE & PROCEED'));
    expect(texts(agreed)).toEqual([AGREED]);
    expect(await welcomeRuns(onWhatsapp.contactId)).toEqual([]);
    // The contact's next WhatsApp message gets the welcome there.
    expect(texts(await ws.handleInbound(whatsapp('c4', 'hi')))).toEqual([WELCOME, ASK_EMAIL]);
  });

  it('does not start again a template someone started through the API while it was queued', async () => {
    const first = await ws.handleInbound(whatsapp('p1', 'track order'));
    const started = await ws.startWorkflow('welcome-request-email', first.contactId, 'whatsapp');
    expect(texts(started)).toEqual([WELCOME, ASK_EMAIL]);
    expect(Object.hasOwn((await conversation(first.conversationId)) ?? {}, 'queuedWorkflows')).toBe(false);
    await ws.handleInbound(whatsapp('p2', 'ana@example.com'));
    expect(texts(await ws.handleInbound(whatsapp('p3', 'AGREE & PROCEED')))).toEqual([AGREED]);
    expect(await welcomeRuns(first.contactId)).toHaveLength(1);
  });

  it('keeps each binding of a template it queued, so one disabled meanwhile leaves the other to start it', async () => {
    const vip: TriggerBinding = { trigger: 'tag_added', match: 'vip', template: 'welcome-request-email', enabled: true };
    await ws.updateSettings({ triggers: [PRIVACY, TRACK_ORDER, vip] });
    const first = await ws.handleInbound(whatsapp('b1', 'track order'));
    await ws.addTag(first.contactId, 'vip');
    expect((await conversation(first.conversationId))?.queuedWorkflows).toEqual([
      { template: 'welcome-request-email', trigger: 'keyword', match: 'track order' },
      { template: 'welcome-request-email', trigger: 'tag_added', match: 'vip' },
    ]);
    await ws.updateSettings({ triggers: [PRIVACY, { ...TRACK_ORDER, enabled: false }, vip] });
    expect(texts(await ws.handleInbound(whatsapp('b2', 'AGREE & PROCEED')))).toEqual([AGREED, WELCOME, ASK_EMAIL]);
    expect(await welcomeRuns(first.contactId)).toHaveLength(1);
  });
});

describe('the queue behind the consent question, on the embedded store', () => {
  it('outlasts a restart: the contact agrees after it and is welcomed', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-queued-restart-'));
    const file = path.join(dir, 'consentry.db');
    const clock = new FakeClock('2026-03-01T09:00:00.000Z');
    try {
      const before = createEngine({ store: createSqliteStore({ path: file }), clock });
      const workspace = await before.createWorkspace({ name: 'Shop', settings: { privacyPolicyUrl: POLICY_URL, triggers: [PRIVACY, TRACK_ORDER] } });
      const first = await before.workspace(workspace.id).handleInbound(whatsapp('k1', 'track order'));
      await before.store.close();

      const after = createEngine({ store: createSqliteStore({ path: file }), clock });
      try {
        expect(texts(await after.workspace(workspace.id).handleInbound(whatsapp('k2', 'AGREE & PROCEED')))).toEqual([AGREED, WELCOME, ASK_EMAIL]);
        const welcome = (await after.store.read((tx) => tx.listRunsOfContact(workspace.id, first.contactId))).filter((run) => run.templateId === 'welcome-request-email');
        expect(welcome).toHaveLength(1);
      } finally {
        await after.store.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

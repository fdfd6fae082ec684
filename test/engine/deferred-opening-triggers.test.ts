import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TriggerBinding } from '../../src/core/settings.js';
import { createEngine, type Engine, type WorkspaceEngine } from '../../src/engine.js';
import type { InboundResult } from '../../src/engine/handle-inbound.js';
import { FakeClock } from '../../src/ports/clock.js';
import type { Conversation, Store, StoreTx, WorkflowRunRow } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { privacyDecision } from './privacy-workspace.js';

const POLICY_URL = 'https://example.com/privacy';
const PRIVACY: TriggerBinding = { trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: true };
const WELCOME: TriggerBinding = { trigger: 'conversation_opened', template: 'welcome-request-email', enabled: true };
const LINK = `Hi Ana! Before we continue, please read our privacy policy: ${POLICY_URL}`;
const QUESTION = 'Do you agree to our privacy policy? Select AGREE & PROCEED to continue.';
const ASK_EMAIL = 'What is your email address? Please reply with it, for example name@example.com.';

const whatsapp = (messageId: string, text: string) => ({ channel: 'whatsapp' as const, messageId, from: { id: '34600000001', name: 'Ana Test' }, text });

/** The method names a store's transactions call, in order, while `calls` is not null. */
function counting(store: Store): { store: Store; calls: { list: string[] | null } } {
  const calls: { list: string[] | null } = { list: null };
  const watch = (tx: StoreTx): StoreTx =>
    new Proxy(tx, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (typeof property === 'string') calls.list?.push(property);
          return Reflect.apply(value, target, args);
        };
      },
    });
  const watched = new Proxy(store, {
    get(target, property, receiver) {
      if (property !== 'transaction') return Reflect.get(target, property, receiver) as unknown;
      return <T>(fn: (tx: StoreTx) => Promise<T>) => target.transaction((tx) => fn(watch(tx)));
    },
  });
  return { store: watched, calls };
}

describe.each(['memory', 'sqlite'] as const)('a conversation_opened workflow skipped for a missing setting (%s store)', (kind) => {
  let dir: string;
  let store: Store;
  let calls: { list: string[] | null };
  let engine: Engine;
  let ws: WorkspaceEngine;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-deferred-'));
    const counted = counting(kind === 'memory' ? createMemoryStore() : createSqliteStore({ path: path.join(dir, 'consentry.db') }));
    store = counted.store;
    calls = counted.calls;
    engine = createEngine({ store, clock: new FakeClock('2026-03-01T09:00:00.000Z') });
    ws = engine.workspace((await engine.createWorkspace({ name: 'Sales' })).id);
  });

  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const conversation = async (id: string | null): Promise<Conversation | undefined> =>
    id === null ? undefined : store.transaction((tx) => tx.getConversation(ws.workspaceId, id));
  const runs = (contactId: string): Promise<WorkflowRunRow[]> => store.transaction((tx) => tx.listRunsOfContact(ws.workspaceId, contactId));
  const texts = (answer: InboundResult): string[] => answer.replies.map((reply) => reply.text);
  const types = (answer: InboundResult): string[] => answer.events.map((event) => event.type);

  it("starts on the contact's next message once privacyPolicyUrl is set, in the same conversation; that message answers nothing", async () => {
    const opened = await ws.handleInbound(whatsapp('s.1', 'hola'));
    expect(opened.replies).toEqual([]);
    expect((await conversation(opened.conversationId))?.deferredTemplates).toEqual(['request-consent-privacy']);

    await ws.updateSettings({ privacyPolicyUrl: POLICY_URL });
    const asked = await ws.handleInbound(whatsapp('s.2', 'hola otra vez'));
    expect(asked.conversationId).toBe(opened.conversationId);
    expect(asked.replies).toEqual([{ text: LINK }, { text: QUESTION, options: [{ label: 'AGREE & PROCEED', buttonId: 'agree' }] }]);
    expect(types(asked)).not.toContain('conversation.opened');
    const [run, ...others] = await runs(opened.contactId);
    expect(others).toEqual([]);
    expect(run).toMatchObject({ templateId: 'request-consent-privacy', conversationId: opened.conversationId, status: 'active' });
    const deferredNoMore = await conversation(opened.conversationId);
    expect(deferredNoMore?.status).toBe('open');
    expect(Object.hasOwn(deferredNoMore ?? {}, 'deferredTemplates')).toBe(false);

    const agreed = await ws.handleInbound(whatsapp('s.3', 'AGREE & PROCEED'));
    expect(types(agreed)).toContain('consent.given');
    expect((await ws.getContact(opened.contactId)).tags).toContain('Consent: Privacy');

    // Asked once: the conversation goes on without a second run.
    const later = await ws.handleInbound(whatsapp('s.4', 'gracias'));
    expect(later.replies).toEqual([]);
    expect(await runs(opened.contactId)).toHaveLength(1);
  });

  it('waits while the setting is still missing, and asks at the first message after it is set', async () => {
    const opened = await ws.handleInbound(whatsapp('w.1', 'hola'));
    const still = await ws.handleInbound(whatsapp('w.2', '¿hay alguien?'));
    expect(still.replies).toEqual([]);
    expect((await conversation(opened.conversationId))?.deferredTemplates).toEqual(['request-consent-privacy']);
    await ws.updateSettings({ privacyPolicyUrl: POLICY_URL });
    expect(texts(await ws.handleInbound(whatsapp('w.3', 'hola de nuevo')))).toEqual([LINK, QUESTION]);
  });

  it('asks nothing of a contact who was tagged Consent: Privacy meanwhile, and does not try again', async () => {
    const opened = await ws.handleInbound(whatsapp('t.1', 'hola'));
    // The tag follows the contact's privacy decision: an opt-in recorded through the API adds it.
    await ws.setConsent(privacyDecision(opened.contactId, 'opted_in', 'whatsapp'));
    expect((await ws.getContact(opened.contactId)).tags).toEqual(['Consent: Privacy']);
    await ws.updateSettings({ privacyPolicyUrl: POLICY_URL });
    const next = await ws.handleInbound(whatsapp('t.2', 'hola'));
    expect(next.replies).toEqual([]);
    expect(await runs(opened.contactId)).toMatchObject([{ templateId: 'request-consent-privacy', status: 'completed', state: { outcome: 'skipped' } }]);
    expect(Object.hasOwn((await conversation(opened.conversationId)) ?? {}, 'deferredTemplates')).toBe(false);
    await ws.handleInbound(whatsapp('t.3', 'hola'));
    expect(await runs(opened.contactId)).toHaveLength(1);
  });

  it.each(['Consent: Privacy', 'CONSENT: PRIVACY', ' consent:  privacy '])(
    'asks a contact whom a person tagged %j meanwhile: the tag is refused without a privacy decision',
    async (tag) => {
      const opened = await ws.handleInbound(whatsapp('h.1', 'hola'));
      await expect(ws.addTag(opened.contactId, tag)).rejects.toMatchObject({ code: 'TAG_NEEDS_CONSENT', issues: [{ path: 'tag' }] });
      expect((await ws.getContact(opened.contactId)).tags).toEqual([]);
      await ws.updateSettings({ privacyPolicyUrl: POLICY_URL });
      expect(texts(await ws.handleInbound(whatsapp('h.2', 'hola')))).toEqual([LINK, QUESTION]);
    },
  );

  it('lets a STOP win first: confirmed alone, the conversation closes, and the next message opens one that asks once', async () => {
    const opened = await ws.handleInbound(whatsapp('k.1', 'hola'));
    await ws.updateSettings({ privacyPolicyUrl: POLICY_URL });
    const stop = await ws.handleInbound(whatsapp('k.2', 'STOP'));
    expect(stop.keyword?.intent).toBe('opt_out');
    expect(stop.replies).toHaveLength(1);
    expect(stop.replies[0]?.text).not.toContain(POLICY_URL);
    expect(await runs(opened.contactId)).toEqual([]);
    expect((await conversation(opened.conversationId))?.status).toBe('closed');

    const again = await ws.handleInbound(whatsapp('k.3', 'hola'));
    expect(again.conversationId).not.toBe(opened.conversationId);
    expect(texts(again)).toEqual([LINK, QUESTION]);
    expect(await runs(opened.contactId)).toHaveLength(1);
  });

  it('answers HELP as a keyword, keeping the workflow for the message after it', async () => {
    const opened = await ws.handleInbound(whatsapp('h.1', 'hola'));
    await ws.updateSettings({ privacyPolicyUrl: POLICY_URL });
    const help = await ws.handleInbound(whatsapp('h.2', 'HELP'));
    expect(help.keyword?.intent).toBe('help');
    expect(help.replies).toHaveLength(1);
    expect(await runs(opened.contactId)).toEqual([]);
    const asked = await ws.handleInbound(whatsapp('h.3', 'vale'));
    expect(asked.conversationId).toBe(opened.conversationId);
    expect(texts(asked)).toEqual([LINK, QUESTION]);
  });

  it("gives the message to the question another workflow asked at the opening, then asks the deferred one's question", async () => {
    await ws.updateSettings({ triggers: [PRIVACY, WELCOME] });
    const opened = await ws.handleInbound(whatsapp('e.1', 'hola'));
    expect(texts(opened)).toEqual(['Hi Ana, welcome! Thanks for getting in touch.', ASK_EMAIL]);
    expect((await conversation(opened.conversationId))?.deferredTemplates).toEqual(['request-consent-privacy']);

    await ws.updateSettings({ privacyPolicyUrl: POLICY_URL });
    const answered = await ws.handleInbound(whatsapp('e.2', 'ana@example.com'));
    expect((await ws.getContact(opened.contactId)).email).toBe('ana@example.com');
    expect(texts(answered).slice(-2)).toEqual([LINK, QUESTION]);
    expect(texts(answered)).not.toContain(ASK_EMAIL);
    const privacy = (await runs(opened.contactId)).find((run) => run.templateId === 'request-consent-privacy');
    expect(privacy).toMatchObject({ status: 'active', conversationId: opened.conversationId });

    const agreed = await ws.handleInbound(whatsapp('e.3', 'AGREE & PROCEED'));
    expect(types(agreed)).toContain('consent.given');
  });

  it('starts the deferred workflow before a keyword binding the message matches, which waits for its question, as on an opening message', async () => {
    await ws.updateSettings({ triggers: [PRIVACY, { trigger: 'keyword', match: 'track order', template: 'welcome-request-email', enabled: true }] });
    const opened = await ws.handleInbound(whatsapp('o.1', 'hola'));
    expect(opened.replies).toEqual([]);
    await ws.updateSettings({ privacyPolicyUrl: POLICY_URL });
    const asked = await ws.handleInbound(whatsapp('o.2', 'track order'));
    expect(texts(asked)).toEqual([LINK, QUESTION]);
    const agreed = await ws.handleInbound(whatsapp('o.3', 'AGREE & PROCEED'));
    expect(texts(agreed).slice(-2)).toEqual(['Hi Ana, welcome! Thanks for getting in touch.', ASK_EMAIL]);
  });

  it('answers a repeated delivery of the message that asked with the same answer, starting nothing again', async () => {
    await ws.handleInbound(whatsapp('r.1', 'hola'));
    await ws.updateSettings({ privacyPolicyUrl: POLICY_URL });
    const asked = await ws.handleInbound(whatsapp('r.2', 'hola'));
    const repeated = await ws.handleInbound(whatsapp('r.2', 'hola'));
    expect(repeated).toMatchObject({ duplicate: true, replies: asked.replies, conversationId: asked.conversationId });
    expect(await runs(asked.contactId)).toHaveLength(1);
  });

  describe('with the triggers changed meanwhile, uses the bindings in force at the next message', () => {
    it('starts nothing once the binding is gone, nor a binding added since, and forgets it', async () => {
      const opened = await ws.handleInbound(whatsapp('c.1', 'hola'));
      await ws.updateSettings({ privacyPolicyUrl: POLICY_URL, triggers: [WELCOME] });
      const next = await ws.handleInbound(whatsapp('c.2', 'hola'));
      expect(next.replies).toEqual([]);
      expect(await runs(opened.contactId)).toEqual([]);
      expect(Object.hasOwn((await conversation(opened.conversationId)) ?? {}, 'deferredTemplates')).toBe(false);
      // Bound again later: the conversation was already let go.
      await ws.updateSettings({ triggers: [PRIVACY] });
      expect((await ws.handleInbound(whatsapp('c.3', 'hola'))).replies).toEqual([]);
    });

    it('starts nothing while the binding is disabled', async () => {
      const opened = await ws.handleInbound(whatsapp('d.1', 'hola'));
      await ws.updateSettings({ privacyPolicyUrl: POLICY_URL, triggers: [{ ...PRIVACY, enabled: false }] });
      expect((await ws.handleInbound(whatsapp('d.2', 'hola'))).replies).toEqual([]);
      expect(await runs(opened.contactId)).toEqual([]);
    });

    it('starts only the deferred binding still bound, not one added to conversation_opened since', async () => {
      const opened = await ws.handleInbound(whatsapp('n.1', 'hola'));
      await ws.updateSettings({ privacyPolicyUrl: POLICY_URL, triggers: [WELCOME, PRIVACY] });
      expect(texts(await ws.handleInbound(whatsapp('n.2', 'hola')))).toEqual([LINK, QUESTION]);
      expect((await runs(opened.contactId)).map((run) => run.templateId)).toEqual(['request-consent-privacy']);
    });
  });

  describe('defers nothing skipped for another reason', () => {
    it.each<[string, TriggerBinding[]]>([
      ['no conversation_opened binding', []],
      ['a disabled binding', [{ ...PRIVACY, enabled: false }]],
      ['a binding of another trigger', [{ trigger: 'keyword', match: 'hola', template: 'request-consent-privacy', enabled: true }]],
      ['a binding that started', [WELCOME]],
    ])('%s', async (_what, triggers) => {
      await ws.updateSettings({ triggers });
      const opened = await ws.handleInbound(whatsapp('x.1', 'hola'));
      const row = await conversation(opened.conversationId);
      expect(row?.status).toBe('open');
      expect(Object.hasOwn(row ?? {}, 'deferredTemplates')).toBe(false);
      await ws.updateSettings({ privacyPolicyUrl: POLICY_URL });
      const next = await ws.handleInbound(whatsapp('x.2', 'buenas'));
      expect(texts(next)).not.toContain(QUESTION);
    });
  });

  describe('costs a conversation without a deferred workflow nothing', () => {
    it('reads no conversation again and writes none for a message in it', async () => {
      await ws.updateSettings({ privacyPolicyUrl: POLICY_URL });
      await ws.handleInbound(whatsapp('p.1', 'hola'));
      await ws.handleInbound(whatsapp('p.2', 'AGREE & PROCEED'));
      calls.list = [];
      await ws.handleInbound(whatsapp('p.3', 'quiero comprar'));
      expect(calls.list.filter((method) => method.endsWith('Conversation'))).toEqual(['getOpenConversation']);
    });

    it('writes a deferred conversation only when what it defers changes', async () => {
      await ws.handleInbound(whatsapp('q.1', 'hola'));
      calls.list = [];
      await ws.handleInbound(whatsapp('q.2', 'hola'));
      expect(calls.list.filter((method) => method.endsWith('Conversation'))).toEqual(['getOpenConversation']);
    });
  });
});

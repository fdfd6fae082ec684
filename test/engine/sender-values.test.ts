import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type WorkspaceEngine } from '../../src/engine.js';
import type { InboundMessage } from '../../src/engine/inputs.js';
import { FakeClock } from '../../src/ports/clock.js';
import { createMemoryStore } from '../../src/store/memory.js';

let engine: Engine;
let next = 0;

beforeEach(() => {
  engine = createEngine({ store: createMemoryStore(), clock: new FakeClock('2026-03-01T09:00:00.000Z') });
});

afterEach(async () => {
  await engine.store.close();
});

async function workspace(settings: { defaultCountry?: string; template?: 'welcome-request-email' | 'welcome-request-phone' } = {}): Promise<WorkspaceEngine> {
  const created = await engine.createWorkspace({
    name: 'Acme',
    settings: {
      defaultCountry: settings.defaultCountry ?? null,
      triggers: settings.template ? [{ trigger: 'conversation_opened', template: settings.template, enabled: true }] : [],
    },
  });
  return engine.workspace(created.id);
}

function webchat(text: string, from: InboundMessage['from'] = { id: 'visitor-1' }): InboundMessage {
  next += 1;
  return { channel: 'webchat', messageId: `web.${next}`, from, text };
}

const asked = (replies: readonly { text: string }[], what: RegExp) => replies.filter((reply) => what.test(reply.text) && reply.text.includes('?')).length;

describe('a welcome question answered as an input method or a chat app writes it', () => {
  it.each([
    ['０９０－１２３４－５６７８', 'JP', '+819012345678'],
    ['\u202a+34 600 00 00 01\u202c', 'ES', '+34600000001'],
    ['(+34) 600 000 001', 'ES', '+34600000001'],
  ])('saves the phone %j (default country %s) at the first ask, in E.164', async (typed, country, e164) => {
    const ws = await workspace({ defaultCountry: country, template: 'welcome-request-phone' });
    const greeted = await ws.handleInbound(webchat('hello'));
    expect(asked(greeted.replies, /phone/i)).toBe(1);
    const answered = await ws.handleInbound(webchat(typed));
    expect(asked(answered.replies, /phone/i)).toBe(0);
    expect(answered.events.map((event) => event.type)).toContain('contact.updated');
    const contact = await ws.getContact(answered.contactId);
    expect(contact.phone).toBe(e164);
  });

  it.each(['ａｎａ＠ｅｘａｍｐｌｅ．ｃｏｍ', 'ana＠example.com', '\u200eana@example.com\u200e', '\u200bana@example.com'])(
    'saves the e-mail %j at the first ask, lower-cased ASCII',
    async (typed) => {
      const ws = await workspace({ template: 'welcome-request-email' });
      await ws.handleInbound(webchat('hello'));
      const answered = await ws.handleInbound(webchat(typed));
      expect(asked(answered.replies, /e-?mail/i)).toBe(0);
      expect((await ws.getContact(answered.contactId)).email).toBe('ana@example.com');
    },
  );
});

describe('a welcome e-mail answer as a person types or pastes it', () => {
  it.each([
    ['ana@example.com.', 'ana@example.com'],
    ['Ana Test <Ana@Example.com>', 'ana@example.com'],
    ['<ana@example.com>', 'ana@example.com'],
    ['mailto:ana@example.com', 'ana@example.com'],
    ['it is ana@example.com', null],
    ['ana@münchen.de', 'ana@xn--mnchen-3ya.de'],
    ['ana@xn--mnchen-3ya.de', 'ana@xn--mnchen-3ya.de'],
    ['Ana Test <Ana@Example.com>.', 'ana@example.com'],
    ['ana@пример.рф', 'ana@xn--e1afmkfd.xn--p1ai'],
    ['ana@exa mple.com', null],
  ])('reads %j as %j', async (typed, saved) => {
    const ws = await workspace({ template: 'welcome-request-email' });
    await ws.handleInbound(webchat('hello'));
    const answered = await ws.handleInbound(webchat(typed));
    expect(asked(answered.replies, /e-?mail/i)).toBe(saved === null ? 1 : 0);
    expect((await ws.getContact(answered.contactId)).email).toBe(saved);
  });
});

describe("a message's sender values", () => {
  it('takes from.phone and from.email as a chat app copies them', async () => {
    const ws = await workspace({ defaultCountry: 'JP' });
    const first = await ws.handleInbound(webchat('hello', { id: 'visitor-1', phone: '\u202a+34 600 00 00 01\u202c', email: 'ａｎａ＠ｅｘａｍｐｌｅ．ｃｏｍ' }));
    const contact = await ws.getContact(first.contactId);
    expect({ phone: contact.phone, email: contact.email }).toEqual({ phone: '+34600000001', email: 'ana@example.com' });
    // The same person on another channel is found by either value.
    const byPhone = await ws.handleInbound({ channel: 'sms', messageId: 'sms.1', from: { id: '０９０－１２３４－５６７８', phone: '\u200e+34600000001' }, text: 'hi' });
    expect(byPhone.contactId).toBe(first.contactId);
  });

  it.each([
    ['empty', ''],
    ['blank', ' \t '],
    ['201 characters long', 'N'.repeat(201)],
  ])('records a STOP whose from.name is %s, and keeps no such name', async (_what, name) => {
    const ws = await workspace();
    const stopped = await ws.handleInbound({ channel: 'messenger', messageId: 'mid.1', from: { id: 'psid-777', name }, text: 'STOP' });
    expect(stopped.events.map((event) => event.type)).toContain('consent.withdrawn');
    expect((await ws.canMessage(stopped.contactId, 'messenger', 'marketing')).allowed).toBe(false);
    expect((await ws.getContact(stopped.contactId)).name).toBeNull();
    // A later message with a usable name completes the contact.
    await ws.handleInbound({ channel: 'messenger', messageId: 'mid.2', from: { id: 'psid-777', name: '  Ana Test ' }, text: 'hello' });
    expect((await ws.getContact(stopped.contactId)).name).toBe('Ana Test');
  });

  it('leaves an e-mail or phone another contact has with that contact, and says so once', async () => {
    const ws = await workspace({ defaultCountry: 'ES' });
    const visitor = await ws.handleInbound(webchat('hello', { id: 'session-77' }));
    const ana = await ws.createContact({ name: 'Ana Test', email: 'ana@example.com', phone: '+34600000001' });
    await ws.setConsent({ contactId: ana.id, purpose: 'marketing', channel: 'email', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Newsletter form', source: 'api', actor: { kind: 'integration', id: 'key_test' } });

    const named = await ws.handleInbound(webchat('it is me', { id: 'session-77', email: 'Ana@Example.com', phone: '600 000 001' }));
    expect(named.contactId).toBe(visitor.contactId);
    const duplicates = named.events.filter((event) => event.type === 'contact.duplicate_found');
    expect(duplicates.map((event) => event.data)).toEqual([
      { contactId: visitor.contactId, field: 'email', otherContactId: ana.id, runId: null },
      { contactId: visitor.contactId, field: 'phone', otherContactId: ana.id, runId: null },
    ]);
    expect(named.events.map((event) => event.type)).not.toContain('contact.updated');
    expect(await ws.getContact(visitor.contactId)).toMatchObject({ email: null, phone: null });

    // The widget sends the same details with the next message: nothing new to say.
    const again = await ws.handleInbound(webchat('still me', { id: 'session-77', email: 'ana@example.com' }));
    expect(again.events.map((event) => event.type)).not.toContain('contact.duplicate_found');

    // An opt-out by the address reaches the subscriber who has it.
    const [row] = await ws.bulkSetConsent([{ email: 'ana@example.com', purpose: 'marketing', channel: 'email', status: 'opted_out', legalBasis: null, explanation: 'Unsubscribed' }]);
    expect(row).toMatchObject({ ok: true, contactId: ana.id });
    expect((await ws.canMessage(ana.id, 'email', 'marketing')).allowed).toBe(false);

    // An address nobody has is still taken from the sender details.
    const free = await ws.handleInbound(webchat('my other address', { id: 'session-77', email: 'ana.work@example.com' }));
    expect(free.events.map((event) => event.type)).toContain('contact.updated');
    expect((await ws.getContact(visitor.contactId)).email).toBe('ana.work@example.com');
  });

  it('keeps a from.name of exactly 200 characters', async () => {
    const ws = await workspace();
    const name = `Ana ${'T'.repeat(196)}`;
    const result = await ws.handleInbound({ channel: 'messenger', messageId: 'mid.1', from: { id: 'psid-778', name }, text: 'hello' });
    expect((await ws.getContact(result.contactId)).name).toBe(name);
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type WorkspaceEngine } from '../../src/engine.js';
import { redactStoredAnswer, redactStoredResponse, StoredAnswerSchema, type StoredAnswer } from '../../src/engine/handle-inbound.js';
import { FakeClock } from '../../src/ports/clock.js';
import type { Store } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { ConsentryError } from '../../src/core/errors.js';
import { ERASED } from '../../src/core/events.js';
import { parseRunState } from '../../src/core/workflow/index.js';
import { unsalted } from '../evidence.js';

let clock: FakeClock;
let engine: Engine;
let ws: WorkspaceEngine;

beforeEach(async () => {
  clock = new FakeClock('2026-03-01T10:00:00.000Z');
  engine = createEngine({ store: createMemoryStore(), clock });
  const workspace = await engine.createWorkspace({ name: 'Acme', settings: { privacyPolicyUrl: 'https://example.com/privacy', defaultCountry: 'ES', triggers: [] } });
  ws = engine.workspace(workspace.id);
});

afterEach(async () => {
  await engine.store.close();
});

const msg = (messageId: string, text: string, from = '+34600000001') => ({ channel: 'whatsapp' as const, messageId, from: { id: from, name: 'Ana Test' }, text });

async function rejects(promise: Promise<unknown>, code: string): Promise<ConsentryError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConsentryError);
  expect((error as ConsentryError).code).toBe(code);
  return error as ConsentryError;
}

describe('handleInbound', () => {
  it('creates the contact from the sender, with the phone in E.164', async () => {
    const result = await ws.handleInbound(msg('m1', 'hello'));
    const contact = await ws.getContact(result.contactId);
    expect(contact.phone).toBe('+34600000001');
    expect(contact.name).toBe('Ana Test');
    expect(contact.identities).toEqual([{ channel: 'whatsapp', externalId: '+34600000001' }]);
    expect(result.events.map((e) => e.type)).toEqual(['conversation.opened']);
  });

  it("reads a WhatsApp sender id as WhatsApp gives it (the international number without '+'), whatever the default country", async () => {
    const bare = await ws.handleInbound({ channel: 'whatsapp', messageId: 'w1', from: { id: '34622000111' }, text: 'START' });
    expect((await ws.getContact(bare.contactId)).phone).toBe('+34622000111');
    await ws.updateSettings({ defaultCountry: 'DE' });
    const german = await ws.handleInbound({ channel: 'whatsapp', messageId: 'w2', from: { id: '4915123456789' }, text: 'hello' });
    expect((await ws.getContact(german.contactId)).phone).toBe('+4915123456789');
    // An SMS sender id without '+' is a national number of the default country, as before.
    const sms = await ws.handleInbound({ channel: 'sms', messageId: 's1', from: { id: '015123456780' }, text: 'hello' });
    expect((await ws.getContact(sms.contactId)).phone).toBe('+4915123456780');

    // An import by the number reaches the WhatsApp contact itself.
    const [row] = await ws.bulkSetConsent([{ phone: '+34 622 000 111', purpose: 'marketing', channel: 'whatsapp', status: 'opted_out', legalBasis: null, explanation: 'Asked by phone to stop' }]);
    expect(row).toMatchObject({ ok: true, contactId: bare.contactId });
    expect(await ws.canMessage(bare.contactId, 'whatsapp', 'marketing')).toMatchObject({ allowed: false });
  });

  it("reads an e-mail sender id as the sender's address: an e-mail STOP reaches the contact that has it, and one without gets it", async () => {
    const known = await ws.createContact({ name: 'Carol Test', email: 'carol@example.com' });
    const stopped = await ws.handleInbound({ channel: 'email', messageId: 'e1', from: { id: 'Carol@Example.com' }, text: 'STOP' });
    expect(stopped.contactId).toBe(known.id);
    expect(await ws.canMessage(known.id, 'email', 'marketing')).toMatchObject({ allowed: false });
    const stranger = await ws.handleInbound({ channel: 'email', messageId: 'e2', from: { id: 'dave@example.com' }, text: 'STOP' });
    expect((await ws.getContact(stranger.contactId)).email).toBe('dave@example.com');
    const [row] = await ws.bulkSetConsent([{ email: 'dave@example.com', purpose: 'marketing', channel: 'email', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Newsletter form' }]);
    expect(row).toMatchObject({ ok: true, contactId: stranger.contactId });
  });

  it('is idempotent by channel message id: the same answer, nothing changed', async () => {
    const first = await ws.handleInbound(msg('m1', 'STOP'));
    const again = await ws.handleInbound(msg('m1', 'STOP'));
    expect(again.duplicate).toBe(true);
    expect(again.replies).toEqual(first.replies);
    expect(again.events.map((e) => e.id)).toEqual(first.events.map((e) => e.id));
    expect(await ws.getHistory(first.contactId)).toHaveLength(1);
    expect(await ws.listEvents()).toHaveLength(1);
  });

  it('answers a message that reuses an id with the first answer, processes nothing of it, and says its body differs', async () => {
    const first = await ws.handleInbound(msg('m1', 'hello'));
    expect(first.differsFromFirst).toBe(false);
    const otherText = await ws.handleInbound(msg('m1', 'STOP'));
    expect(otherText).toEqual({ ...first, duplicate: true, differsFromFirst: true });
    const otherSender = await ws.handleInbound(msg('m1', 'hello', '+34600000002'));
    expect(otherSender).toMatchObject({ contactId: first.contactId, duplicate: true, differsFromFirst: true });
    const button = await ws.handleInbound({ channel: 'whatsapp', messageId: 'm1', from: { id: '+34600000001' }, button: 'hello' });
    expect(button.differsFromFirst).toBe(true);
    // Nothing of the STOP was recorded, and no contact was made for the other sender.
    expect(await ws.getHistory(first.contactId)).toEqual([]);
    expect(await ws.canMessage(first.contactId, 'whatsapp', 'marketing')).toMatchObject({ reason: 'not_specified' });
    expect((await ws.findContacts({ phone: '+34600000002' })).contacts).toEqual([]);
  });

  it('reads a repeated delivery with other sender details or timestamp as the same message', async () => {
    await ws.handleInbound({ ...msg('m1', 'STOP'), timestamp: '2026-03-01T09:59:00Z' });
    const again = await ws.handleInbound({ channel: 'whatsapp', messageId: 'm1', from: { id: '+34600000001', name: 'Ana T.', email: 'ana.test@example.com' }, text: 'STOP', timestamp: '2026-03-01T09:59:30Z' });
    expect(again).toMatchObject({ duplicate: true, differsFromFirst: false });
  });

  it('cannot tell whether an answer stored without a message digest (before it was kept, or erased) was for the same message', async () => {
    const store = engine.store;
    const first = await ws.handleInbound(msg('m1', 'hello'));
    await store.transaction(async (tx) => {
      const seen = await tx.getProcessedMessage(ws.workspaceId, 'whatsapp', 'm1');
      if (!seen) throw new Error('the first message was not kept');
      const { messageDigest: _dropped, ...older } = StoredAnswerSchema.parse(seen.response);
      await tx.replaceProcessedResponse(ws.workspaceId, 'whatsapp', 'm1', older);
    });
    expect(await ws.handleInbound(msg('m1', 'STOP'))).toMatchObject({ contactId: first.contactId, duplicate: true, differsFromFirst: false });
  });

  it('STOP opts out of marketing on that channel and confirms in the keyword language', async () => {
    const result = await ws.handleInbound(msg('m1', '¡ALTO!'));
    expect(result.keyword).toMatchObject({ intent: 'opt_out', language: 'es', keyword: 'ALTO' });
    expect(result.replies).toHaveLength(1);
    expect(result.replies[0]?.text).toMatch(/EMPEZAR/);
    const [record] = await ws.getHistory(result.contactId);
    expect(record).toMatchObject({ purpose: 'marketing', channel: 'whatsapp', status: 'opted_out', source: 'keyword' });
    expect(record?.evidence).toMatchObject({ messageId: 'm1', rawText: '¡ALTO!', keyword: 'ALTO', language: 'es' });
    expect(result.events.map((e) => e.type)).toEqual(['consent.withdrawn']);
    expect(await ws.canMessage(result.contactId, 'whatsapp', 'marketing')).toMatchObject({ allowed: false, reason: 'opted_out' });
  });

  it('a STOP sent before a newer START (delivered late) is recorded, not confirmed, and raised for review; the opt-in stands', async () => {
    const start = await ws.handleInbound(msg('m1', 'START'));
    clock.advance(60_000);
    const late = await ws.handleInbound({ ...msg('m2', 'STOP'), timestamp: '2026-03-01T09:59:30.000Z' });
    expect(late.keyword).toMatchObject({ intent: 'opt_out', keyword: 'STOP' });
    expect(late.replies).toEqual([]);
    expect(late.events.map((e) => [e.type, e.data])).toEqual([
      ['optout.review_needed', { contactId: start.contactId, channel: 'whatsapp', messageId: 'm2', text: 'STOP', normalized: 'STOP', language: 'en', matchedWord: 'STOP' }],
    ]);
    expect((await ws.getHistory(start.contactId)).map((r) => [r.status, r.occurredAt])).toEqual([
      ['opted_in', '2026-03-01T10:00:00.000Z'],
      ['opted_out', '2026-03-01T09:59:30.000Z'],
    ]);
    expect(await ws.canMessage(start.contactId, 'whatsapp', 'marketing')).toMatchObject({ allowed: true, reason: 'opted_in' });

    // On time, the same keyword opts out and is confirmed.
    const now = await ws.handleInbound(msg('m3', 'STOP'));
    expect(now.replies).toHaveLength(1);
    expect(now.events.map((e) => e.type)).toEqual(['consent.withdrawn']);
  });

  it('a START sent before a newer STOP (delivered late) is recorded and not confirmed; the opt-out stands', async () => {
    const stop = await ws.handleInbound(msg('m1', 'STOP'));
    clock.advance(60_000);
    const late = await ws.handleInbound({ ...msg('m2', 'START'), timestamp: '2026-03-01T09:00:00.000Z' });
    expect(late.replies).toEqual([]);
    expect(late.events).toEqual([]);
    expect(await ws.getHistory(stop.contactId)).toHaveLength(2);
    expect(await ws.canMessage(stop.contactId, 'whatsapp', 'marketing')).toMatchObject({ allowed: false, reason: 'opted_out' });
  });

  it('START opts in with CONSENT_WITH_NOTICE and an explanation naming keyword and channel', async () => {
    const result = await ws.handleInbound(msg('m1', 'start'));
    const [record] = await ws.getHistory(result.contactId);
    expect(record).toMatchObject({ status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE' });
    expect(record?.explanation).toContain('START');
    expect(record?.explanation).toContain('whatsapp');
    expect(await ws.canMessage(result.contactId, 'whatsapp', 'marketing')).toMatchObject({ allowed: true, reason: 'opted_in' });
    expect(await ws.canMessage(result.contactId, 'sms', 'marketing')).toMatchObject({ allowed: false, reason: 'not_specified' });
  });

  it('a repeated keyword confirms again but records once', async () => {
    const first = await ws.handleInbound(msg('m1', 'STOP'));
    const second = await ws.handleInbound(msg('m2', 'stop'));
    expect(second.replies).toHaveLength(1);
    expect(second.events).toEqual([]);
    expect(await ws.getHistory(first.contactId)).toHaveLength(1);
  });

  it('STOP ALL opts out of every channel', async () => {
    const inbound = await ws.handleInbound(msg('m1', 'START'));
    await ws.handleInbound(msg('m2', 'STOP ALL'));
    for (const channel of ['whatsapp', 'sms', 'email'] as const) {
      expect(await ws.canMessage(inbound.contactId, channel, 'marketing')).toMatchObject({ allowed: false, reason: 'opted_out' });
    }
  });

  it('HELP answers and changes nothing', async () => {
    const result = await ws.handleInbound(msg('m1', 'help'));
    expect(result.replies).toHaveLength(1);
    expect(await ws.getHistory(result.contactId)).toEqual([]);
  });

  it('a plain-language opt-out raises a review and records nothing', async () => {
    const result = await ws.handleInbound(msg('m1', 'please stop texting me'));
    const review = result.events.find((e) => e.type === 'optout.review_needed');
    expect(review?.data).toMatchObject({ text: 'please stop texting me', matchedWord: expect.any(String) });
    expect(await ws.getHistory(result.contactId)).toEqual([]);
  });

  it('an opt-out word only inside an e-mail address or a link raises no review; the word beside one does', async () => {
    const quiet = await ws.handleInbound(msg('m1', 'my email is stop@opt-out.example, see https://example.com/stop'));
    expect(quiet.events.filter((e) => e.type === 'optout.review_needed')).toEqual([]);
    const loud = await ws.handleInbound(msg('m2', 'stop writing to stop@opt-out.example'));
    const review = loud.events.find((e) => e.type === 'optout.review_needed');
    expect(review?.data).toMatchObject({ matchedWord: 'STOP' });
  });

  it('posts replies to the outbound webhook through the outbox when one is configured', async () => {
    await ws.updateSettings({ outboundWebhookUrl: 'https://example.com/outbound' });
    const result = await ws.handleInbound(msg('m1', 'STOP'));
    const outbound = await engine.readEventsAfter(0, 100);
    const message = outbound.find((e) => e.type === 'message.outbound');
    expect(message?.data).toMatchObject({ to: '+34600000001', text: result.replies[0]?.text, inReplyTo: 'm1' });
  });

  it('the workflow a message starts by opening a conversation answers that message; a time-out answers none', async () => {
    await ws.updateSettings({ outboundWebhookUrl: 'https://example.com/outbound', triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy' }] });
    const result = await ws.handleInbound(msg('m1', 'hello'));
    expect(result.replies.length).toBeGreaterThan(0);
    const opened = (await engine.readEventsAfter(0, 100)).filter((e) => e.type === 'message.outbound');
    expect(opened.map((e) => e.data)).toEqual(result.replies.map((reply) => expect.objectContaining({ text: reply.text, inReplyTo: 'm1' })));
    const last = opened.at(-1)?.position ?? 0;
    const fired = await engine.runDueTimers(clock.advance(5 * 60_000));
    expect(fired).toHaveLength(1);
    const reasked = (await engine.readEventsAfter(last, 100)).filter((e) => e.type === 'message.outbound');
    expect(reasked.length).toBeGreaterThan(0);
    expect(reasked.map((e) => e.data)).toEqual(reasked.map(() => expect.objectContaining({ inReplyTo: null })));
  });

  it('refuses a malformed message naming the field', async () => {
    const error = await rejects(ws.handleInbound({ channel: 'fax' as never, messageId: '', from: { id: 'x' }, text: 'hi' }), 'VALIDATION_FAILED');
    expect(error.issues.map((i) => i.path)).toEqual(expect.arrayContaining(['channel', 'messageId']));
  });
});

describe('decision times before 1970', () => {
  it('are refused for a decision, naming occurredAt, whoever records it', async () => {
    const contact = await ws.createContact({ email: 'ana@example.com' });
    const error = await rejects(
      ws.setConsent({ contactId: contact.id, purpose: 'marketing', channel: 'email', status: 'opted_out', source: 'api', actor: { kind: 'user', id: 'u1' }, occurredAt: '0001-01-01T00:00:00.000Z' }),
      'VALIDATION_FAILED',
    );
    expect(error.issues).toEqual([{ path: 'occurredAt', message: '"0001-01-01T00:00:00.000Z" is before 1970-01-01T00:00:00Z' }]);
    const [row] = await ws.bulkSetConsent([{ email: 'ana@example.com', purpose: 'marketing', channel: 'email', status: 'opted_out', occurredAt: '1969-12-31T23:59:59Z' }]);
    expect(row).toMatchObject({ ok: false, error: { issues: [{ path: 'occurredAt' }] } });
    expect(await ws.getHistory(contact.id)).toEqual([]);
  });

  it('are no time for a channel message: the keyword occurred when it was received', async () => {
    await ws.handleInbound(msg('m1', 'START'));
    const stopped = await ws.handleInbound({ ...msg('m2', 'STOP'), timestamp: '0001-01-01T00:00:00Z' });
    const [, record] = await ws.getHistory(stopped.contactId);
    expect(record).toMatchObject({ status: 'opted_out', occurredAt: clock.now().toISOString() });
    expect(await ws.canMessage(stopped.contactId, 'whatsapp', 'marketing')).toMatchObject({ allowed: false });
  });
});

describe('the identity a decision came from', () => {
  it("is kept in a keyword record's evidence as the message's channel and sender id, whatever the contact's details become", async () => {
    const stopped = await ws.handleInbound(msg('m1', 'STOP'));
    await ws.updateContact(stopped.contactId, { phone: '+34600000099', email: 'someone.else@example.com' });
    const [record] = await ws.getHistory(stopped.contactId);
    expect(record?.evidence.identity).toBe('whatsapp:+34600000001');
    expect(await ws.verifyLedger()).toMatchObject({ ok: true });
  });

  it('is kept for a bulk row as the e-mail and phone it named, normalised, and not for a row naming its contact by id', async () => {
    const [byBoth, byId] = await ws.bulkSetConsent([
      { email: ' Bea.Test@Example.com ', phone: '600 000 002', purpose: 'marketing', channel: 'email', status: 'opted_out', legalBasis: null, explanation: 'Asked at the desk' },
      { contactId: (await ws.createContact({ name: 'Cy Test' })).id, purpose: 'marketing', channel: 'sms', status: 'opted_out', legalBasis: null, explanation: null },
    ]);
    if (!byBoth?.ok || !byId?.ok) throw new Error('a row was refused');
    expect(unsalted((await ws.getHistory(byBoth.contactId))[0]?.evidence)).toEqual({ identity: 'email:bea.test@example.com phone:+34600000002' });
    expect(unsalted((await ws.getHistory(byId.contactId))[0]?.evidence)).toEqual({});
  });

  it('goes with the rest of the evidence when the contact is erased', async () => {
    const stopped = await ws.handleInbound(msg('m1', 'STOP'));
    await ws.eraseContact(stopped.contactId);
    const [record] = await ws.getHistory(stopped.contactId);
    expect(unsalted(record?.evidence)).toEqual({ redacted: true });
    expect(await ws.verifyLedger()).toMatchObject({ ok: true });
  });
});

describe('setConsent and bulkSetConsent', () => {
  it('names a bulk row that is not an object as the root of the row, as every refusal names one', async () => {
    const [row] = await ws.bulkSetConsent([5]);
    expect(row).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED', issues: [{ path: '' }] } });
    expect(row?.ok === false && row.error.message).toMatch(/^\(root\): /);
  });

  it('says of each recorded bulk row whether it repeated the status already in force on its purpose and channel', async () => {
    const row = { email: 'ana@example.com', purpose: 'marketing', channel: 'email' as const, status: 'opted_out' as const, legalBasis: null, explanation: null };
    const [first, again, otherChannel] = await ws.bulkSetConsent([row, row, { ...row, channel: 'sms' }]);
    expect([first, again, otherChannel].map((result) => result?.ok && result.repeated)).toEqual([false, true, false]);
    const [optIn] = await ws.bulkSetConsent([{ ...row, status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Shop form' }]);
    expect(optIn).toMatchObject({ ok: true, repeated: false, created: true });
    expect(await ws.getHistory(first?.ok ? first.contactId : '')).toHaveLength(4);
  });

  it('says of each recorded bulk row whether it is in force: one older than the decision in force is kept but changes nothing and raises nothing', async () => {
    const row = { email: 'ana@example.com', purpose: 'marketing', channel: 'email' as const, status: 'opted_out' as const, legalBasis: null, explanation: null };
    const [current] = await ws.bulkSetConsent([row]);
    const contactId = current?.ok ? current.contactId : '';
    const eventsBefore = (await ws.listEvents({ types: ['consent.given', 'consent.withdrawn'] })).length;
    const [late] = await ws.bulkSetConsent([{ ...row, status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Paper form', occurredAt: '2020-01-01T00:00:00Z' }]);
    expect(current).toMatchObject({ ok: true, inEffect: true });
    expect(late).toMatchObject({ ok: true, created: true, inEffect: false });
    expect((await ws.listEvents({ types: ['consent.given', 'consent.withdrawn'] })).length).toBe(eventsBefore);
    expect(await ws.canMessage(contactId, 'email', 'marketing')).toMatchObject({ allowed: false, reason: 'opted_out' });
  });

  it('says a row on one channel dated before a STOP ALL that governs it is not in force, and raises nothing for it', async () => {
    const stopAll = { email: 'ana@example.com', purpose: 'marketing', channel: 'any' as const, status: 'opted_out' as const, legalBasis: null, explanation: null };
    const [current] = await ws.bulkSetConsent([stopAll]);
    const contactId = current?.ok ? current.contactId : '';
    const eventsBefore = (await ws.listEvents({ types: ['consent.given', 'consent.withdrawn'] })).length;
    const earlier = { ...stopAll, channel: 'whatsapp' as const, status: 'opted_in' as const, legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Paper form', occurredAt: '2020-01-01T00:00:00Z' };
    const [late, later] = await ws.bulkSetConsent([earlier, { ...earlier, channel: 'sms', occurredAt: undefined }]);
    expect(late).toMatchObject({ ok: true, created: true, inEffect: false });
    expect(later).toMatchObject({ ok: true, created: true, inEffect: true });
    expect(await ws.canMessage(contactId, 'whatsapp', 'marketing')).toMatchObject({ allowed: false, reason: 'opted_out' });
    expect(await ws.canMessage(contactId, 'sms', 'marketing')).toMatchObject({ allowed: true });
    expect((await ws.listEvents({ types: ['consent.given', 'consent.withdrawn'] })).length).toBe(eventsBefore + 1);
  });

  it("records a row whose e-mail differs from that of the contact its phone names, and warns that the e-mail was not added", async () => {
    const ana = await ws.createContact({ name: 'Ana Test', email: 'ana@example.com', phone: '+34600000001' });
    const [row, plain] = await ws.bulkSetConsent([
      { email: 'new.ana@example.com', phone: '600 000 001', purpose: 'marketing', channel: 'sms', status: 'opted_out', legalBasis: null, explanation: null },
      { email: 'ANA@example.com', phone: '+34 600 000 001', purpose: 'marketing', channel: 'email', status: 'opted_out', legalBasis: null, explanation: null },
    ]);
    expect(row).toMatchObject({ ok: true, contactId: ana.id, warnings: [{ path: 'email', message: expect.stringMatching(/names by phone has another e-mail; this one was not added/) }] });
    expect(plain).toMatchObject({ ok: true, contactId: ana.id, warnings: [] });
    expect((await ws.getContact(ana.id)).email).toBe('ana@example.com');
    const [byId] = await ws.bulkSetConsent([{ contactId: ana.id, phone: '+34600000002', purpose: 'marketing', channel: 'sms', status: 'opted_out', legalBasis: null, explanation: null }]);
    expect(byId).toMatchObject({ ok: true, warnings: [{ path: 'phone', message: expect.stringMatching(/names by contactId has another phone/) }] });
  });

  it('refuses a person opt-in without legal basis or explanation', async () => {
    const contact = await ws.createContact({ name: 'Ana Test', email: 'ana@example.com' });
    const base = { contactId: contact.id, purpose: 'marketing', channel: 'email' as const, status: 'opted_in' as const, source: 'api' as const, actor: { kind: 'user' as const, id: 'u1' } };
    await rejects(ws.setConsent({ ...base, explanation: 'Signed form' }), 'LEGAL_BASIS_REQUIRED');
    await rejects(ws.setConsent({ ...base, legalBasis: 'CONSENT_WITH_NOTICE' }), 'EXPLANATION_REQUIRED');
    const ok = await ws.setConsent({ ...base, legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Signed form' });
    expect(ok.created).toBe(true);
    expect(ok.current.status).toBe('opted_in');
  });

  it('records the same idempotency key once, and refuses it for another change', async () => {
    const contact = await ws.createContact({ email: 'ana@example.com' });
    const change = {
      contactId: contact.id, purpose: 'marketing', channel: 'email' as const, status: 'opted_out' as const,
      source: 'api' as const, actor: { kind: 'user' as const, id: 'u1' }, idempotencyKey: 'k-1',
    };
    const first = await ws.setConsent(change);
    const second = await ws.setConsent(change);
    expect(second.created).toBe(false);
    expect(second.record.id).toBe(first.record.id);
    expect(await ws.getHistory(contact.id)).toHaveLength(1);
    await rejects(ws.setConsent({ ...change, channel: 'sms' }), 'CONFLICT');
  });

  it('records a large bulk a slice at a time: row numbers run on across slices, and other work is served between them', async () => {
    const rows = Array.from({ length: 1_234 }, (_, i) => ({ email: `person${i}@example.com`, purpose: 'marketing', channel: 'email', status: 'opted_out' }));
    rows[777] = { ...rows[777], channel: 'pigeon' } as (typeof rows)[number];
    const finished: string[] = [];
    const bulk = ws.bulkSetConsent(rows).then((results) => {
      finished.push('bulk');
      return results;
    });
    const inbound = ws.handleInbound(msg('m1', 'STOP')).then(() => finished.push('message'));
    const [results] = await Promise.all([bulk, inbound]);
    expect(finished).toEqual(['message', 'bulk']);
    expect(results.map((result) => result.row)).toEqual(rows.map((_, i) => i));
    expect(results.filter((result) => !result.ok)).toEqual([expect.objectContaining({ row: 777, ok: false })]);
    const last = results[1_233];
    expect(last?.ok).toBe(true);
    expect(await ws.getHistory(last?.ok ? last.contactId : '')).toHaveLength(1);
  });

  it('refuses an idempotency key sent again with another legal basis, explanation, source or time, naming what differs', async () => {
    const contact = await ws.createContact({ email: 'ana@example.com' });
    const change = {
      contactId: contact.id, purpose: 'marketing', channel: 'email' as const, status: 'opted_in' as const, legalBasis: 'CONSENT_WITH_NOTICE' as const,
      explanation: 'Signed up at the counter', source: 'api' as const, actor: { kind: 'user' as const, id: 'u1' }, idempotencyKey: 'k-2',
      occurredAt: '2026-03-01T09:00:00+01:00',
    };
    const first = await ws.setConsent(change);
    clock.advance(60_000);
    // The same request again, its time spelled in UTC: the same instant.
    expect(await ws.setConsent({ ...change, occurredAt: '2026-03-01T08:00:00.000Z' })).toMatchObject({ created: false, record: { id: first.record.id } });
    for (const [different, field] of [
      [{ legalBasis: 'LEGITIMATE_INTEREST_OTHER' as const }, 'legalBasis'],
      [{ explanation: 'Signed up online' }, 'explanation'],
      [{ source: 'zapier' as const }, 'source'],
      [{ occurredAt: '2026-03-01T08:30:00.000Z' }, 'occurredAt'],
    ] as const) {
      const error = await rejects(ws.setConsent({ ...change, ...different }), 'CONFLICT');
      expect(error.issues).toEqual([{ path: 'idempotencyKey', message: expect.stringContaining(`differs in ${field}`) }]);
    }
    expect(await ws.getHistory(contact.id)).toHaveLength(1);
  });

  it('a backdated decision is kept in the ledger but does not override a newer one', async () => {
    const contact = await ws.createContact({ email: 'ana@example.com' });
    const actor = { kind: 'user' as const, id: 'u1' };
    await ws.setConsent({ contactId: contact.id, purpose: 'marketing', channel: 'email', status: 'opted_out', source: 'api', actor });
    const old = await ws.setConsent({
      contactId: contact.id, purpose: 'marketing', channel: 'email', status: 'opted_in', source: 'api', actor,
      legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Paper form', occurredAt: '2025-01-01T00:00:00.000Z',
    });
    expect(old.current.status).toBe('opted_out');
    expect(await ws.getHistory(contact.id)).toHaveLength(2);
    expect((await ws.verifyLedger()).ok).toBe(true);
  });

  it('bulk: a row that finds its contact by one identity adds the other when the contact has none, and never rewrites one it has', async () => {
    const results = await ws.bulkSetConsent([
      { email: 'dup@example.com', purpose: 'marketing', channel: 'email', status: 'opted_out' },
      { email: 'DUP@example.com', phone: '+34600000999', purpose: 'marketing', channel: 'sms', status: 'opted_out' },
      { phone: '+34 600 000 999', purpose: 'marketing', channel: 'whatsapp', status: 'opted_out' },
      { email: 'dup@example.com', phone: '+34600000888', purpose: 'marketing', channel: 'whatsapp', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Form' },
    ]);
    expect(results.map((r) => r.ok && r.contactId)).toEqual(Array(4).fill(results[0]?.ok && results[0].contactId));
    const contactId = results[0]?.ok ? results[0].contactId : '';
    expect(await ws.getContact(contactId)).toMatchObject({ email: 'dup@example.com', phone: '+34600000999' });
    expect((await ws.findContacts({ phone: '+34600000888' })).contacts).toEqual([]);
    expect(await ws.canMessage(contactId, 'sms', 'marketing')).toMatchObject({ allowed: false, reason: 'opted_out' });
    expect((await ws.listEvents({ types: ['contact.updated'] })).map((e) => e.data)).toEqual([{ contactId, changes: ['phone'] }]);
  });

  it('bulk: per-row results; a bad row changes nothing and names its field', async () => {
    const results = await ws.bulkSetConsent([
      { email: 'a@example.com', purpose: 'marketing', channel: 'email', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Import' },
      { email: 'b@example.com', purpose: 'marketing', channel: 'email', status: 'opted_in' },
      { phone: 'not a phone', purpose: 'marketing', channel: 'sms', status: 'opted_out' },
      { email: 'c@example.com', purpose: 'marketing', channel: 'pigeon', status: 'opted_out' },
      { email: 'future@example.com', purpose: 'marketing', channel: 'email', status: 'opted_out', occurredAt: '2999-01-01T00:00:00.000Z' },
    ]);
    expect(results.map((r) => r.ok)).toEqual([true, false, false, false, false]);
    const issuesOf = (i: number) => {
      const r = results[i];
      return r && !r.ok ? r.error : undefined;
    };
    expect(issuesOf(1)?.code).toBe('LEGAL_BASIS_REQUIRED');
    expect(issuesOf(2)?.code).toBe('INVALID_PHONE');
    expect(issuesOf(3)?.issues.map((i) => i.path)).toContain('channel');
    expect(issuesOf(4)).toMatchObject({ code: 'VALIDATION_FAILED', issues: [{ path: 'occurredAt', message: expect.stringContaining('is more than 5 minutes after the time of recording') }] });
    for (const email of ['b@example.com', 'future@example.com']) expect((await ws.findContacts({ email })).contacts, email).toEqual([]);
    expect((await ws.findContacts({ email: 'a@example.com' })).contacts).toHaveLength(1);
  });
});

describe('workflows and timers', () => {
  it('startWorkflow sends the question and runDueTimers fires the timeout on the injected clock', async () => {
    const contact = await ws.createContact({ name: 'Ana Test', identities: [{ channel: 'whatsapp', externalId: '+34600000002' }] });
    const started = await ws.startWorkflow('request-consent-privacy', contact.id, 'whatsapp');
    expect(started.replies.length).toBeGreaterThanOrEqual(2);
    expect(await engine.runDueTimers(clock.advance(4 * 60_000))).toEqual([]);
    const fired = await engine.runDueTimers(clock.advance(60_000));
    expect(fired).toHaveLength(1);
    expect(fired[0]?.events.map((e) => e.type)).toEqual(expect.arrayContaining(['consent.failed', 'conversation.closed']));
    const run = await ws.getRun(started.runId);
    expect(run.status).toBe('completed');
    expect(await engine.runDueTimers(clock.advance(60 * 60_000))).toEqual([]);
  });

  it('refuses a second run of a workflow already running in the conversation, and starts one again after it ends', async () => {
    const contact = await ws.createContact({ name: 'Carl Test', identities: [{ channel: 'sms', externalId: '+34600000009' }] });
    const first = await ws.startWorkflow('request-consent-privacy', contact.id, 'sms');
    await rejects(ws.startWorkflow('request-consent-privacy', contact.id, 'sms'), 'CONFLICT');
    const other = await ws.startWorkflow('welcome-request-email', contact.id, 'sms');
    expect(other.conversationId).toBe(first.conversationId);

    await ws.handleInbound({ channel: 'sms', messageId: 'carl-1', from: { id: '+34600000009' }, button: 'AGREE & PROCEED' });
    expect((await ws.getRun(first.runId)).status).toBe('completed');
    const fired = await engine.runDueTimers(clock.advance(60 * 60_000));
    expect(fired.flatMap((f) => f.events).filter((e) => e.type === 'consent.failed' && e.data.contactId === contact.id)).toEqual([]);
    const again = await ws.startWorkflow('request-consent-privacy', contact.id, 'sms');
    expect(again.runId).not.toBe(first.runId);
  });

  it('an unknown template is a typed error', async () => {
    const contact = await ws.createContact({ name: 'Ana Test' });
    await rejects(ws.startWorkflow('nope', contact.id, 'whatsapp'), 'UNKNOWN_TEMPLATE');
  });

  it('tagging can trigger a workflow bound to tag_added', async () => {
    await ws.updateSettings({ triggers: [{ trigger: 'tag_added', match: 'vip', template: 'request-consent-privacy', enabled: true }] });
    const chatting = await ws.handleInbound({ channel: 'webchat', messageId: 'w1', from: { id: 'visitor-1', name: 'Ana Test' }, text: 'hello' });
    await ws.addTag(chatting.contactId, 'VIP');
    const events = await ws.listEvents({ types: ['contact.tagged', 'conversation.opened'] });
    expect(events.map((e) => e.type)).toContain('contact.tagged');
    const runs = await engine.store.transaction((tx) => tx.listActiveRuns(ws.workspaceId, chatting.contactId));
    expect(runs.map((run) => [run.templateId, run.conversationId])).toEqual([['request-consent-privacy', chatting.conversationId]]);
  });
});

describe('repeated deliveries of a workflow message', () => {
  it('answer with the same replies, options included, and the same events, without acting again', async () => {
    await ws.updateSettings({ triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: true }] });
    const first = await ws.handleInbound(msg('m1', 'hello'));
    expect(first.replies.some((reply) => reply.options?.some((option) => option.buttonId !== undefined))).toBe(true);
    expect(first.events.map((e) => e.type)).toContain('conversation.opened');
    const again = await ws.handleInbound(msg('m1', 'hello'));
    expect(again).toEqual({ ...first, duplicate: true });
    expect(await ws.listEvents()).toHaveLength(first.events.length);
  });
});

describe('ledger verification and erasure', () => {
  it('erasure redacts personal data and evidence, and the chain still verifies', async () => {
    const inbound = await ws.handleInbound(msg('m1', 'STOP'));
    await ws.handleInbound(msg('m2', 'START'));
    const { contact, redactedRecords } = await ws.eraseContact(inbound.contactId);
    expect(redactedRecords).toBe(2);
    expect(contact).toMatchObject({ name: null, email: null, phone: null });
    expect(contact.erasedAt).not.toBeNull();
    const history = await ws.getHistory(inbound.contactId);
    expect(history.every((r) => r.evidence.redacted === true && r.evidence.rawText === undefined)).toBe(true);
    const report = await ws.verifyLedger();
    expect(report).toMatchObject({ ok: true, records: 2, stateMismatches: [] });
    expect(await ws.canMessage(inbound.contactId, 'whatsapp', 'marketing')).toMatchObject({ allowed: false, reason: 'contact_erased' });
  });

  it('erasure also redacts what the outbox quotes of the person', async () => {
    const inbound = await ws.handleInbound(msg('m1', 'please stop texting me, this is Ana Test'));
    await ws.addTag(inbound.contactId, 'Ana Test VIP');
    const { redactedEvents } = await ws.eraseContact(inbound.contactId);
    expect(redactedEvents).toBe(2);
    const events = await ws.listEvents({ contactId: inbound.contactId });
    const text = JSON.stringify(events.map((e) => e.data));
    expect(text).not.toContain('Ana Test');
    expect(text).not.toContain('texting');
    const review = events.find((e) => e.type === 'optout.review_needed');
    expect(review?.data).toMatchObject({ text: '[erased]', channel: 'whatsapp' });
  });
});

describe('redactStoredAnswer', () => {
  const answer: StoredAnswer = {
    contactId: 'ct_ana',
    conversationId: 'cv_1',
    replies: [
      { text: 'Hi Ana, welcome!' },
      { text: 'Do you agree?', options: [{ label: 'AGREE & PROCEED', buttonId: 'privacy_agree' }, { label: 'NO' }] },
    ],
    eventIds: ['evt_1', 'evt_2'],
    messageDigest: 'a'.repeat(64),
    keyword: { intent: 'none', language: null, keyword: null, normalized: 'ana.test@example.com', review: false },
  };

  it("erases reply texts, the normalised message and the message digest, keeping options, ids and the keyword's own fields", () => {
    const redacted = redactStoredAnswer(answer);
    const { messageDigest: _erased, ...withoutDigest } = answer;
    expect(redacted).toEqual({
      ...withoutDigest,
      replies: [{ text: ERASED }, { text: ERASED, options: answer.replies[1]?.options }],
      keyword: { ...answer.keyword, normalized: ERASED },
    });
    expect(redacted).not.toHaveProperty('messageDigest');
    expect(JSON.stringify(redacted)).not.toMatch(/Ana|ana\.test/);
    expect(answer.replies[0]?.text).toBe('Hi Ana, welcome!');
    expect(StoredAnswerSchema.parse(JSON.parse(JSON.stringify(redacted)))).toEqual(redacted);
  });

  it('returns the answer itself when nothing is left to redact', () => {
    const once = redactStoredAnswer(answer);
    expect(redactStoredAnswer(once)).toBe(once);
    const { messageDigest: _none, ...silent } = { ...answer, replies: [], keyword: null };
    expect(redactStoredAnswer(silent)).toBe(silent);
    const onlyDigest: StoredAnswer = { ...silent, messageDigest: 'b'.repeat(64) };
    expect(redactStoredAnswer(onlyDigest)).toEqual(silent);
  });

  it('redacts a stored response read with the answer schema, and every string of one it cannot read', () => {
    expect(redactStoredResponse(JSON.parse(JSON.stringify(answer)))).toEqual({ response: redactStoredAnswer(answer) });
    expect(redactStoredResponse(JSON.parse(JSON.stringify(redactStoredAnswer(answer))))).toBeNull();
    expect(redactStoredResponse({ replies: 'Hi Ana', count: 1 })).toEqual({ response: { replies: ERASED, count: 1 } });
    expect(redactStoredResponse({ count: 1 })).toBeNull();
  });
});

describe.each(['memory', 'sqlite'] as const)('erasure of stored answers and workflow answers (%s store)', (kind) => {
  let dir: string;
  let store: Store;
  let eng: Engine;
  let acme: WorkspaceEngine;

  const from = (messageId: string, text: string, id: string, name: string) => ({ channel: 'whatsapp' as const, messageId, from: { id, name }, text });
  const ana = (messageId: string, text: string) => from(messageId, text, '+34600000001', 'Ana Test');
  const bea = (messageId: string, text: string) => from(messageId, text, '+34600000004', 'Bea Test');
  const runsOf = (contactId: string) => store.transaction((tx) => tx.listRunsOfContact(acme.workspaceId, contactId));

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-erasure-'));
    store = kind === 'memory' ? createMemoryStore() : createSqliteStore({ path: path.join(dir, 'consentry.db') });
    eng = createEngine({ store, clock: new FakeClock('2026-03-01T10:00:00.000Z') });
    const workspace = await eng.createWorkspace({
      name: 'Acme',
      settings: { defaultCountry: 'ES', triggers: [{ trigger: 'conversation_opened', template: 'welcome-request-email', enabled: true }] },
    });
    acme = eng.workspace(workspace.id);
  });

  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("replays the erased contact's messages without their words, and leaves other contacts' answers alone", async () => {
    const greeted = await acme.handleInbound(ana('m1', 'hello'));
    expect(greeted.replies.map((r) => r.text).join(' ')).toContain('Hi Ana');
    const answered = await acme.handleInbound(ana('m2', 'Ana.Test@example.com'));
    expect(answered.keyword?.normalized).toMatch(/ana\.test@example\.com/i);
    await acme.handleInbound(ana('m3', 'STOP'));
    const beaGreeted = await acme.handleInbound(bea('b1', 'hello'));
    const beaAnswered = await acme.handleInbound(bea('b2', 'bea.test@example.com'));
    const [anaRun] = await runsOf(greeted.contactId);
    expect(anaRun?.status).toBe('completed');
    expect(JSON.stringify(anaRun?.state)).toContain('ana.test@example.com');

    const erasure = await acme.eraseContact(greeted.contactId);
    expect(erasure).toMatchObject({ redactedRecords: 1, redactedMessages: 3, redactedRuns: 1 });

    const replays = [await acme.handleInbound(ana('m1', 'hello')), await acme.handleInbound(ana('m2', 'Ana.Test@example.com'))];
    for (const [replay, first] of [
      [replays[0], greeted],
      [replays[1], answered],
    ] as const) {
      expect(replay?.duplicate).toBe(true);
      expect(replay?.contactId).toBe(greeted.contactId);
      expect(replay?.events.map((e) => e.id)).toEqual(first.events.map((e) => e.id));
      expect(first.replies.length).toBeGreaterThan(0);
      // Nothing of the answer goes to the erased person again.
      expect(replay?.replies).toEqual([]);
      expect(replay?.firstContactErased).toBe(true);
      expect(replay?.keyword?.normalized).toBe(ERASED);
      expect(JSON.stringify({ replies: replay?.replies, keyword: replay?.keyword })).not.toMatch(/Ana|ana\.test/i);
    }
    const stop = await acme.handleInbound(ana('m3', 'STOP'));
    expect(stop.keyword).toMatchObject({ intent: 'opt_out', keyword: 'STOP', normalized: ERASED });

    const [erasedRun] = await runsOf(greeted.contactId);
    expect(erasedRun).toMatchObject({ id: anaRun?.id, status: 'completed' });
    expect(parseRunState(erasedRun?.state).lastAnswer).toMatchObject({ stepId: 'request_email', messageId: 'm2', text: ERASED, value: ERASED });
    expect(JSON.stringify(erasedRun?.state)).not.toMatch(/ana\.test/i);

    expect(await acme.verifyLedger()).toMatchObject({ ok: true, stateMismatches: [] });

    expect(await acme.handleInbound(bea('b1', 'hello'))).toEqual({ ...beaGreeted, duplicate: true });
    expect(await acme.handleInbound(bea('b2', 'bea.test@example.com'))).toEqual({ ...beaAnswered, duplicate: true });
    expect(beaGreeted.replies.map((r) => r.text).join(' ')).toContain('Hi Bea');
    const [beaRun] = await runsOf(beaGreeted.contactId);
    expect(parseRunState(beaRun?.state).lastAnswer).toMatchObject({ text: 'bea.test@example.com', value: 'bea.test@example.com' });

    const again = await acme.eraseContact(greeted.contactId);
    expect(again).toMatchObject({ redactedRecords: 0, redactedEvents: 0, redactedMessages: 0, redactedRuns: 0 });
  });

  it('ends a run whose state cannot be read and erases every string in it', async () => {
    const greeted = await acme.handleInbound(ana('m1', 'hello'));
    const [waiting] = await runsOf(greeted.contactId);
    if (!waiting) throw new Error('the welcome run did not start');
    await store.transaction((tx) => tx.updateRun({ ...waiting, state: { step: 'ask', typed: 'ana.test@example.com', tries: 1 } }));

    const erasure = await acme.eraseContact(greeted.contactId);
    expect(erasure.redactedRuns).toBe(1);
    const [ended] = await runsOf(greeted.contactId);
    expect(ended).toMatchObject({ status: 'cancelled', state: { step: ERASED, typed: ERASED, tries: 1 } });
    expect(await store.transaction((tx) => tx.getTimer(waiting.id))).toBeUndefined();
    const finished = await acme.listEvents({ types: ['workflow.finished'], contactId: greeted.contactId });
    expect(finished.map((e) => e.data)).toContainEqual(expect.objectContaining({ runId: waiting.id, outcome: 'cancelled' }));
  });

  it('erasing an erased contact again redacts what is still left of them, and nothing else', async () => {
    const greeted = await acme.handleInbound(ana('m1', 'hello'));
    const first = await acme.eraseContact(greeted.contactId);
    // As an answer stored before erasure covered it would be.
    const original = { contactId: greeted.contactId, conversationId: greeted.conversationId, replies: [{ text: 'Hi Ana' }], eventIds: [], keyword: null };
    await store.transaction((tx) => tx.replaceProcessedResponse(acme.workspaceId, 'whatsapp', 'm1', original));
    const eventCount = (await acme.listEvents({ limit: 500 })).length;

    const again = await acme.eraseContact(greeted.contactId);
    expect(again).toMatchObject({ redactedRecords: 0, redactedEvents: 0, redactedMessages: 1, redactedRuns: 0 });
    expect(again.contact).toEqual(first.contact);
    expect((await acme.listEvents({ limit: 500 })).length).toBe(eventCount);
    const stored = await store.read((tx) => tx.getProcessedMessage(acme.workspaceId, 'whatsapp', 'm1'));
    expect(stored?.response).toMatchObject({ replies: [{ text: ERASED }] });
    expect((await acme.handleInbound(ana('m1', 'hello'))).replies).toEqual([]);
  });
});

describe('settings', () => {
  it('validates a patch and keeps what it does not name', async () => {
    const updated = await ws.updateSettings({ defaultCountry: 'PT' });
    expect(updated.settings.privacyPolicyUrl).toBe('https://example.com/privacy');
    await rejects(ws.updateSettings({ defaultCountry: 'Portugal' }), 'VALIDATION_FAILED');
    await rejects(ws.updateSettings({ keywords: { en: { opt_in: [], opt_out: [], help: [], removed: ['STOP'] } } }), 'KEYWORD_NOT_REMOVABLE');
    await rejects(ws.updateSettings({ triggers: [{ trigger: 'conversation_opened', template: 'missing', enabled: true }] }), 'UNKNOWN_TEMPLATE');
  });

  it('added keywords take effect', async () => {
    await ws.updateSettings({ keywords: { es: { opt_in: [], opt_out: ['BAJA'], help: [], removed: [] } } });
    const result = await ws.handleInbound(msg('m1', 'baja'));
    expect(result.keyword).toMatchObject({ intent: 'opt_out', language: 'es' });
  });
});

describe('ledger head on SQLite', () => {
  let dir: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-engine-'));
  });

  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps records lost from the end of the chain visible after the next decision', async () => {
    const store = createSqliteStore({ path: path.join(dir, 'consentry.db') });
    const sqlite = createEngine({ store, clock });
    try {
      const workspace = await sqlite.createWorkspace({ name: 'Acme', settings: { triggers: [] } });
      const acme = sqlite.workspace(workspace.id);
      const stop = await acme.handleInbound(msg('m1', 'STOP'));
      await acme.handleInbound(msg('m2', 'START'));
      expect(await acme.verifyLedger()).toMatchObject({ ok: true, records: 2 });
      // Below the port the ledger is append-only; only someone with the file can cut it short.
      store.db.exec('DROP TRIGGER consent_records_append_only_delete');
      store.db.prepare('DELETE FROM consent_records WHERE seq = 2').run();
      expect((await acme.verifyLedger()).chain).toMatchObject({ ok: false, firstBad: { reason: 'truncated', seq: 2 } });
      // The next record chains onto the head, not onto what is left: the gap stays in the chain.
      await acme.handleInbound(msg('m3', 'STOP'));
      const report = await acme.verifyLedger();
      expect(report.ok).toBe(false);
      expect(report.chain).toMatchObject({ ok: false, firstBad: { reason: 'sequence_gap', position: 1 } });
      expect((await acme.getHistory(stop.contactId)).map((record) => record.seq)).toEqual([1, 3]);
    } finally {
      await store.close();
    }
  });
});

describe('a run that cannot advance', () => {
  it('is ended and does not hold back the timers due after it', async () => {
    const first = await ws.createContact({ name: 'Ana Test', identities: [{ channel: 'whatsapp', externalId: '+34600000003' }] });
    const second = await ws.createContact({ name: 'Bea Test', identities: [{ channel: 'whatsapp', externalId: '+34600000004' }] });
    const broken = await ws.startWorkflow('request-consent-privacy', first.id, 'whatsapp');
    clock.advance(1000);
    const healthy = await ws.startWorkflow('request-consent-privacy', second.id, 'whatsapp');
    await engine.store.transaction(async (tx) => {
      const run = await tx.getRun(ws.workspaceId, broken.runId);
      if (!run) throw new Error('run missing');
      await tx.updateRun({ ...run, state: { garbage: true } });
    });
    const fired = await engine.runDueTimers(clock.advance(10 * 60_000));
    expect(fired.map((f) => [f.runId, f.error === null])).toEqual([
      [broken.runId, false],
      [healthy.runId, true],
    ]);
    expect((await ws.getRun(broken.runId)).status).toBe('cancelled');
    expect((await ws.getRun(healthy.runId)).status).toBe('completed');
    expect(await engine.runDueTimers(clock.advance(60 * 60_000))).toEqual([]);
  });

  it('closes the conversation it was asking in, so the next message starts the workflow again', async () => {
    await ws.updateSettings({ triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy' }] });
    const opened = await ws.handleInbound(msg('m1', 'hola'));
    const [run] = await engine.store.transaction((tx) => tx.listActiveRuns(ws.workspaceId, opened.contactId));
    if (!run) throw new Error('no run started');
    await engine.store.transaction((tx) => tx.updateRun({ ...run, state: { garbage: true } }));
    const [fired] = await engine.runDueTimers(clock.advance(6 * 60_000));
    expect(fired).toMatchObject({ runId: run.id, retry: false, error: expect.any(String) });
    expect(fired?.events.map((event) => event.type)).toContain('conversation.closed');

    const again = await ws.handleInbound(msg('m2', 'hola?'));
    expect(again.conversationId).not.toBe(opened.conversationId);
    expect(again.replies.some((reply) => reply.options !== undefined && reply.options.length > 0)).toBe(true);
  });

  it('keeps its timer when the store fails, not the run, and fires it on the next pass', async () => {
    const memory = createMemoryStore();
    let failFrom = Infinity;
    let calls = 0;
    // The write lock another process holds beyond the busy timeout (STORE_BUSY), for one transaction.
    const flaky = new Proxy(memory, {
      get(target, property, receiver) {
        if (property !== 'transaction') return Reflect.get(target, property, receiver) as unknown;
        return async (fn: Parameters<Store['transaction']>[0]) => {
          calls += 1;
          if (calls === failFrom) throw new ConsentryError('STORE_BUSY', 'the database is locked by another process (waited 5000 ms)');
          return target.transaction(fn);
        };
      },
    });
    const flakyEngine = createEngine({ store: flaky, clock });
    try {
      const workspace = await flakyEngine.createWorkspace({ name: 'Busy', settings: { privacyPolicyUrl: 'https://example.com/privacy', defaultCountry: 'ES' } });
      const busy = flakyEngine.workspace(workspace.id);
      const first = await busy.handleInbound(msg('b1', 'hola', '+34600000005'));
      const second = await busy.handleInbound(msg('b2', 'hola', '+34600000006'));
      // The due list is read, then the first firing's transaction fails.
      failFrom = calls + 2;
      const failed = await flakyEngine.runDueTimers(clock.advance(5 * 60_000));
      expect(failed).toEqual([{ workspaceId: workspace.id, runId: expect.any(String), contactId: '', replies: [], events: [], error: expect.stringContaining('locked'), retry: true }]);
      const runs = await memory.transaction((tx) => tx.listActiveRuns(workspace.id, first.contactId));
      expect(runs).toHaveLength(1);
      expect(await memory.transaction((tx) => tx.listDueTimers(clock.now().toISOString(), 10))).toHaveLength(2);

      const retried = await flakyEngine.runDueTimers(clock.advance(1000));
      expect(retried.map((firing) => [firing.contactId, firing.error, firing.retry])).toEqual([
        [first.contactId, null, false],
        [second.contactId, null, false],
      ]);
      // The question timed out as it would have on time: the contact is told, and the conversation closes.
      expect(retried[0]?.replies.length).toBeGreaterThan(0);
      expect(retried[0]?.events.map((event) => event.type)).toContain('consent.failed');
      const conversationId = first.conversationId;
      if (conversationId === null) throw new Error('the first message opened no conversation');
      expect((await memory.transaction((tx) => tx.getConversation(workspace.id, conversationId)))?.status).toBe('closed');
    } finally {
      await flakyEngine.store.close();
    }
  });
});

describe('createContact and updateContact', () => {
  const actor = { kind: 'user' as const, id: 'u1' };

  it('name a bad e-mail, a bad phone and a bad field name at once, under the code of the first, and store nothing', async () => {
    const created = await rejects(ws.createContact({ name: 'Ana Test', email: 'ana.test(at)example.com', phone: '12', fields: { ' ': 'x' } }), 'INVALID_EMAIL');
    expect(created.issues.map((issue) => issue.path)).toEqual(['email', 'phone', 'fields. ']);
    expect(created.message).toMatch(/^email: .+; phone: .+; fields\. : field name is empty$/);
    expect((await ws.findContacts({})).contacts).toEqual([]);
    const phoneOnly = await rejects(ws.createContact({ email: 'ana.test@example.com', phone: '12' }), 'INVALID_PHONE');
    expect(phoneOnly.issues.map((issue) => issue.path)).toEqual(['phone']);
    const ana = await ws.createContact({ name: 'Ana Test', email: 'ana.test@example.com' });
    const patched = await rejects(ws.updateContact(ana.id, { email: 'ana.test(at)example.com', phone: '12' }), 'INVALID_EMAIL');
    expect(patched.issues.map((issue) => issue.path)).toEqual(['email', 'phone']);
    expect(await ws.getContact(ana.id)).toEqual(ana);
  });

  it('a patch is a JSON merge patch: null removes a field and clears the name', async () => {
    const ana = await ws.createContact({ name: 'Ana Test', email: 'ana.test@example.com', fields: { plan: 'pro', city: 'Madrid' } });
    const patched = await ws.updateContact(ana.id, { name: null, fields: { plan: null } });
    expect(patched).toMatchObject({ name: null, email: 'ana.test@example.com', fields: { city: 'Madrid' } });
    const [updated] = await ws.listEvents({ types: ['contact.updated'] });
    expect(updated?.data).toMatchObject({ contactId: ana.id, changes: ['name', 'fields.plan'] });
    expect(await ws.updateContact(ana.id, { fields: { plan: null } })).toEqual(patched);
  });

  it('removes an e-mail or phone only from a contact without consent decisions', async () => {
    const ana = await ws.createContact({ email: 'ana.test@example.com', phone: '+34600000001' });
    expect(await ws.updateContact(ana.id, { email: null })).toMatchObject({ email: null, phone: '+34600000001' });
    const ben = await ws.createContact({ email: 'ben.test@example.com', phone: '+34600000002' });
    await ws.setConsent({ contactId: ben.id, purpose: 'marketing', channel: 'email', status: 'opted_out', source: 'api', actor });
    const refused = await rejects(ws.updateContact(ben.id, { email: null, phone: null }), 'VALIDATION_FAILED');
    expect(refused.issues.map((issue) => issue.path)).toEqual(['email', 'phone']);
    const withBadEmail = await rejects(ws.updateContact(ben.id, { email: 'ben.test(at)example.com', phone: null }), 'INVALID_EMAIL');
    expect(withBadEmail.issues.map((issue) => issue.path)).toEqual(['email', 'phone']);
    expect(await ws.getContact(ben.id)).toEqual(ben);
    expect(await ws.getHistory(ben.id)).toHaveLength(1);
  });
});

describe.each(['memory', 'sqlite'] as const)('getHistoryPage on the %s store', (kind) => {
  let dir: string;
  let store: Store;
  let eng: Engine;
  let acme: WorkspaceEngine;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-history-'));
    store = kind === 'memory' ? createMemoryStore() : createSqliteStore({ path: path.join(dir, 'consentry.db') });
    eng = createEngine({ store, clock: new FakeClock('2026-03-01T10:00:00.000Z') });
    acme = eng.workspace((await eng.createWorkspace({ name: 'Acme' })).id);
  });

  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const stop = (id: string, n: number) => ({ channel: 'sms' as const, messageId: `${id}-${n}`, from: { id }, text: n % 2 === 0 ? 'STOP' : 'START' });

  it("pages through one contact's records in chain order, skipping other contacts' records", async () => {
    for (let n = 0; n < 4; n++) {
      await acme.handleInbound(stop('+34600000001', n));
      await acme.handleInbound(stop('+34600000002', n));
    }
    const ana = (await acme.handleInbound(stop('+34600000001', 4))).contactId;
    const whole = await acme.getHistory(ana);
    expect(whole).toHaveLength(5);
    const first = await acme.getHistoryPage(ana, { limit: 3 });
    expect(first.records.map((r) => r.id)).toEqual(whole.slice(0, 3).map((r) => r.id));
    expect(first.nextAfterSeq).toBe(whole[2]?.seq);
    const second = await acme.getHistoryPage(ana, { limit: 3, afterSeq: first.nextAfterSeq ?? 0 });
    expect(second.records.map((r) => r.id)).toEqual(whole.slice(3).map((r) => r.id));
    expect(second.nextAfterSeq).toBeNull();
    const exact = await acme.getHistoryPage(ana, { limit: 5 });
    expect(exact.nextAfterSeq).toBeNull();
  });

  it("refuses an afterSeq that is not one of the contact's records", async () => {
    await acme.handleInbound(stop('+34600000001', 0));
    const bea = (await acme.handleInbound(stop('+34600000002', 0))).contactId;
    const ana = (await acme.handleInbound(stop('+34600000001', 1))).contactId;
    const beasSeq = (await acme.getHistory(bea))[0]?.seq ?? 0;
    for (const afterSeq of [beasSeq, 0, 99, 1.5, -1]) {
      const error = await rejects(acme.getHistoryPage(ana, { afterSeq }), 'VALIDATION_FAILED');
      expect(error.issues.map((issue) => issue.path)).toEqual(['afterSeq']);
    }
  });
});

describe('workspace names', () => {
  it('trims a new name and refuses one that is blank, too long, or holds a control or bidirectional formatting character', async () => {
    expect((await engine.createWorkspace({ name: '  Acme Ltd  ' })).name).toBe('Acme Ltd');
    await rejects(engine.createWorkspace({ name: '   ' }), 'VALIDATION_FAILED');
    await rejects(engine.createWorkspace({ name: 'x'.repeat(101) }), 'VALIDATION_FAILED');
    const lineBreak = await rejects(engine.createWorkspace({ name: 'Acme\nLtd' }), 'VALIDATION_FAILED');
    expect(lineBreak.message).toContain('U+000A, a control character');
    const override = await rejects(engine.createWorkspace({ name: 'Acme \u202eLtd' }), 'VALIDATION_FAILED');
    expect(override.message).toContain('U+202E, a bidirectional formatting character');
    expect((await engine.listWorkspaces()).map((workspace) => workspace.name)).toEqual(['Acme', 'Acme Ltd']);
  });

  it('applies the same rules to a rename and keeps the old name when it refuses', async () => {
    await rejects(ws.rename('Acme\tSales'), 'VALIDATION_FAILED');
    expect((await ws.get()).name).toBe('Acme');
    expect((await ws.rename(' Acme Sales ')).name).toBe('Acme Sales');
    expect((await ws.get()).name).toBe('Acme Sales');
  });
});

describe('contact ids in any letter case', () => {
  it('name the same contact in setConsent, bulkSetConsent and getContact, and are recorded in upper case', async () => {
    const contact = await ws.createContact({ name: 'Ana Test', email: 'ana.test@example.com' });
    const lower = contact.id.toLowerCase();
    expect((await ws.getContact(lower)).id).toBe(contact.id);
    const set = await ws.setConsent({ contactId: lower, purpose: 'marketing', channel: 'email', status: 'opted_out', source: 'api', actor: { kind: 'integration', id: 'crm' } });
    expect(set.record.contactId).toBe(contact.id);
    const [row] = await ws.bulkSetConsent([{ contactId: lower, purpose: 'marketing', channel: 'sms', status: 'opted_out' }], { source: 'bulk', actor: { kind: 'user', id: 'cli' } });
    expect(row).toMatchObject({ ok: true, contactId: contact.id });
    expect((await ws.getHistory(contact.id)).map((record) => record.contactId)).toEqual([contact.id, contact.id]);
  });
});

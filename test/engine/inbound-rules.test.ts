import { describe, expect, it } from 'vitest';
import type { Engine, WorkspaceEngine } from '../../src/engine.js';
import type { InboundMessage } from '../../src/engine/inputs.js';
import type { FakeClock } from '../../src/ports/clock.js';
import { privacyDecision, usePrivacyWorkspace } from './privacy-workspace.js';

const PHONE = '+34600000001';
const AGREE = 'AGREE & PROCEED';
const PRIVACY_TAG = 'Consent: Privacy';

let clock: FakeClock;
let engine: Engine;
let ws: WorkspaceEngine;
let next = 0;

usePrivacyWorkspace((workspace) => {
  ({ clock, engine, ws } = workspace);
});

function message(input: Partial<InboundMessage>): InboundMessage {
  next += 1;
  return { channel: 'whatsapp', messageId: `wamid.${next}`, from: { id: PHONE, name: 'Ana Test' }, ...input };
}

/** The channel an event's data names, whatever its type. */
const channelOf = (data: object): unknown => new Map(Object.entries(data)).get('channel');
const typesOf = (events: readonly { type: string }[]) => events.map((event) => event.type);
const questionsIn = (replies: readonly { options?: readonly { label: string }[] }[]) =>
  replies.filter((reply) => reply.options?.some((option) => option.label === AGREE)).length;

async function eventTypesSinceStart(): Promise<string[]> {
  return typesOf([...(await ws.listEvents({ limit: 500 }))].reverse());
}

describe('a withdrawn privacy consent', () => {
  async function agreed(): Promise<string> {
    await ws.handleInbound(message({ text: 'hola' }));
    const answered = await ws.handleInbound(message({ button: AGREE }));
    expect(typesOf(answered.events)).toContain('consent.given');
    return answered.contactId;
  }

  it('takes the Consent: Privacy tag away, so the next conversation asks again', async () => {
    const contactId = await agreed();
    clock.advance(60_000);
    const withdrawn = await ws.setConsent({ contactId, purpose: 'privacy', channel: 'whatsapp', status: 'opted_out', source: 'api', actor: { kind: 'integration', id: 'crm' } });
    expect(withdrawn.created).toBe(true);
    expect((await ws.getContact(contactId)).tags).not.toContain(PRIVACY_TAG);
    // The conversation the contact agreed in is closed with it: open, it would chat on without consent.
    expect((await eventTypesSinceStart()).slice(-3)).toEqual(['consent.withdrawn', 'contact.untagged', 'conversation.closed']);

    const reopened = await ws.handleInbound(message({ channel: 'email', from: { id: 'ana.test@example.com' }, text: 'hello again' }));
    expect(reopened.contactId).not.toBe(contactId);
  });

  it('asks again on the channel it was withdrawn on, in the new conversation the next message opens', async () => {
    const contactId = await agreed();
    const agreedIn = await engine.store.transaction((tx) => tx.getOpenConversation(ws.workspaceId, contactId, 'whatsapp'));
    clock.advance(60_000);
    await ws.setConsent({ contactId, purpose: 'privacy', channel: 'whatsapp', status: 'opted_out', source: 'api', actor: { kind: 'integration', id: 'crm' } });
    expect(await engine.store.transaction((tx) => tx.getOpenConversation(ws.workspaceId, contactId, 'whatsapp'))).toBeUndefined();
    clock.advance(30 * 24 * 3_600_000);
    const asked = await ws.handleInbound(message({ text: 'hi, a question' }));
    expect(questionsIn(asked.replies)).toBe(1);
    expect(asked.conversationId).not.toBe(agreedIn?.id);
  });

  it('leaves the tag when a newer opt-in outranks the withdrawal (a backdated one)', async () => {
    const contactId = await agreed();
    const before = new Date(Date.parse(clock.now().toISOString()) - 3_600_000).toISOString();
    await ws.setConsent({
      contactId,
      purpose: 'privacy',
      channel: 'whatsapp',
      status: 'opted_out',
      source: 'api',
      actor: { kind: 'integration', id: 'crm' },
      occurredAt: before,
    });
    expect((await ws.getContact(contactId)).tags).toContain(PRIVACY_TAG);
  });

  it('an opt-in recorded through the API tags the contact, and the question is not asked', async () => {
    const contact = await ws.createContact({ name: 'Bea Test', identities: [{ channel: 'whatsapp', externalId: '+34600000002' }] });
    await ws.setConsent(privacyDecision(contact.id, 'opted_in', 'whatsapp'));
    expect((await ws.getContact(contact.id)).tags).toEqual([PRIVACY_TAG]);
    const greeted = await ws.handleInbound(message({ from: { id: '+34600000002' }, text: 'hi' }));
    expect(questionsIn(greeted.replies)).toBe(0);
  });

  it('an imported privacy opt-out takes the tag away too', async () => {
    const contactId = await agreed();
    clock.advance(60_000);
    const [result] = await ws.bulkSetConsent([{ contactId, purpose: 'privacy', channel: 'whatsapp', status: 'opted_out' }]);
    expect(result?.ok).toBe(true);
    expect((await ws.getContact(contactId)).tags).not.toContain(PRIVACY_TAG);
  });
});

describe('STOP ALL', () => {
  it('sent again writes no second record and no second consent.withdrawn, and is confirmed each time', async () => {
    const first = await ws.handleInbound(message({ text: 'STOP ALL' }));
    clock.advance(1_000);
    const again = await ws.handleInbound(message({ text: 'stop all' }));
    clock.advance(1_000);
    const third = await ws.handleInbound(message({ text: 'STOPALL' }));
    expect(typesOf(first.events)).toEqual(['consent.withdrawn']);
    expect(typesOf(again.events)).toEqual([]);
    expect(typesOf(third.events)).toEqual([]);
    expect(again.replies.map((reply) => reply.text)).toEqual(first.replies.map((reply) => reply.text));
    expect(await ws.getHistory(first.contactId)).toHaveLength(1);
  });

  it('is recorded again when a channel was opted in since', async () => {
    const first = await ws.handleInbound(message({ text: 'STOP ALL' }));
    clock.advance(1_000);
    await ws.handleInbound(message({ text: 'START' }));
    clock.advance(1_000);
    const again = await ws.handleInbound(message({ text: 'STOP ALL' }));
    expect(typesOf(again.events)).toEqual(['consent.withdrawn']);
    expect((await ws.canMessage(first.contactId, 'whatsapp', 'marketing')).allowed).toBe(false);
  });

  it('sent before a newer opt-in on one channel is not confirmed, and asks for a review', async () => {
    const contact = await ws.createContact({ name: 'Ana Test', identities: [{ channel: 'whatsapp', externalId: PHONE }] });
    clock.advance(500);
    await ws.setConsent({
      contactId: contact.id,
      purpose: 'marketing',
      channel: 'whatsapp',
      status: 'opted_in',
      legalBasis: 'CONSENT_WITH_NOTICE',
      explanation: 'Opted in on the HubSpot form',
      source: 'hubspot',
      actor: { kind: 'integration', id: 'hubspot' },
    });
    const sentEarlier = new Date(Date.parse(clock.now().toISOString()) - 500).toISOString();
    clock.advance(1_500);
    const late = await ws.handleInbound(message({ text: 'STOP ALL', timestamp: sentEarlier }));
    expect(late.replies).toEqual([]);
    expect(typesOf(late.events)).toContain('optout.review_needed');
    expect((await ws.canMessage(contact.id, 'whatsapp', 'marketing')).allowed).toBe(true);
    expect((await ws.canMessage(contact.id, 'sms', 'marketing')).status).toBe('opted_out');
  });
});

describe('a clicked button', () => {
  it('that is an opt-out keyword, during a pending question, records the opt-out and cancels the run', async () => {
    const opened = await ws.handleInbound(message({ text: 'hola' }));
    expect(questionsIn(opened.replies)).toBe(1);
    const stopped = await ws.handleInbound(message({ button: 'STOP' }));
    expect(typesOf(stopped.events)).toEqual(['consent.withdrawn', 'conversation.closed']);
    expect(questionsIn(stopped.replies)).toBe(0);
    const runs = await engine.store.transaction((tx) => tx.listRunsOfContact(ws.workspaceId, stopped.contactId));
    expect(runs.map((run) => run.status)).toEqual(['cancelled']);
    expect(stopped.replies.map((reply) => reply.text).join(' ')).toMatch(/unsubscribed/i);
    const [record] = await ws.getHistory(stopped.contactId);
    expect(record).toMatchObject({ purpose: 'marketing', channel: 'whatsapp', status: 'opted_out', source: 'keyword' });
    expect(record?.evidence).toMatchObject({ button: 'STOP', keyword: 'STOP' });
    expect(record?.evidence.rawText).toBeUndefined();
  });

  it('that is an opt-out keyword, as a first message, opts out without opening a conversation', async () => {
    const stopped = await ws.handleInbound(message({ button: 'Stop' }));
    expect(stopped.conversationId).toBeNull();
    expect(typesOf(stopped.events)).toEqual(['consent.withdrawn']);
  });

  it('that reads as a plain-language opt-out is flagged for review, and the question it came to stops without another word', async () => {
    await ws.handleInbound(message({ text: 'hola' }));
    const clicked = await ws.handleInbound(message({ button: 'Please stop the offers' }));
    expect(typesOf(clicked.events)).toEqual(['optout.review_needed', 'conversation.closed']);
    const review = clicked.events.find((event) => event.type === 'optout.review_needed');
    expect(review?.data).toMatchObject({ text: 'Please stop the offers', matchedWord: 'STOP' });
    clock.advance(6 * 60_000);
    expect(await engine.runDueTimers()).toEqual([]);
    expect(clicked.replies).toEqual([]);
  });

  it("that is WhatsApp's marketing opt-out button (Stop promotions) opts out of marketing on the channel", async () => {
    await ws.handleInbound(message({ text: 'hola' }));
    const clicked = await ws.handleInbound(message({ button: 'Stop promotions' }));
    expect(typesOf(clicked.events)).toContain('consent.withdrawn');
    const [record] = await ws.getHistory(clicked.contactId);
    expect(record).toMatchObject({ purpose: 'marketing', channel: 'whatsapp', status: 'opted_out', source: 'keyword' });
    expect(record?.evidence).toMatchObject({ button: 'Stop promotions', keyword: 'STOP PROMOTIONS' });
  });

  it('is read beside text: an opt-out button wins over the text, also over empty text', async () => {
    for (const text of ['', 'No thanks', 'START']) {
      const contact = `+3460000${String(7100 + text.length).padStart(4, '0')}`;
      const stopped = await ws.handleInbound(message({ from: { id: contact }, text, button: 'STOP' }));
      expect(typesOf(stopped.events), text).toEqual(['consent.withdrawn']);
      expect(stopped.keyword).toMatchObject({ intent: 'opt_out', keyword: 'STOP' });
    }
  });

  it('is what an empty or blank text is not: without a button, such a message is refused naming text, and changes nothing', async () => {
    for (const text of ['', '  ', '\r\n']) {
      await expect(ws.handleInbound(message({ text }))).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        message: 'Invalid message: text: a message needs text or button: an empty or blank text is no text',
        issues: [{ path: 'text', message: 'a message needs text or button: an empty or blank text is no text' }],
      });
    }
    expect((await ws.findContacts({})).contacts).toEqual([]);
  });

  it('is read beside text: a typed opt-out wins over an opt-in button', async () => {
    const stopped = await ws.handleInbound(message({ text: 'STOP', button: 'START' }));
    expect(stopped.keyword).toMatchObject({ intent: 'opt_out', keyword: 'STOP' });
  });

  it('that is an offered answer is an answer', async () => {
    await ws.handleInbound(message({ text: 'hola' }));
    const answered = await ws.handleInbound(message({ button: AGREE }));
    expect(typesOf(answered.events)).toContain('consent.given');
    expect(answered.keyword).toBeNull();
  });
});

describe('a plain-language opt-out ("please stop texting me")', () => {
  it('as a first message opens no conversation and sends nothing, now or when a question would have timed out', async () => {
    const first = await ws.handleInbound(message({ text: 'Please stop texting me' }));
    expect(typesOf(first.events)).toEqual(['optout.review_needed']);
    expect(first.replies).toEqual([]);
    expect(first.conversationId).toBeNull();
    clock.advance(6 * 60_000);
    expect(await engine.runDueTimers()).toEqual([]);
    expect(await ws.canMessage(first.contactId, 'whatsapp', 'marketing')).toMatchObject({ reason: 'not_specified' });
  });

  it('during the privacy question stops it and closes the conversation, so no time-out message follows, and the next message asks again', async () => {
    const opened = await ws.handleInbound(message({ text: 'hola' }));
    const stop = await ws.handleInbound(message({ text: 'stop please' }));
    expect(stop.conversationId).toBe(opened.conversationId);
    expect(typesOf(stop.events)).toEqual(['optout.review_needed', 'conversation.closed']);
    expect(stop.replies).toEqual([]);
    clock.advance(6 * 60_000);
    expect(await engine.runDueTimers()).toEqual([]);
    expect(await ws.listEvents({ types: ['consent.failed'] })).toEqual([]);
    const again = await ws.handleInbound(message({ text: 'hi again' }));
    expect(again.conversationId).not.toBe(opened.conversationId);
    expect(questionsIn(again.replies)).toBe(1);
  });
});

describe('an opt-out during a workflow', () => {
  it('closes the conversation it ended, so the next message asks for consent again', async () => {
    await ws.handleInbound(message({ text: 'hola' }));
    const stopped = await ws.handleInbound(message({ text: 'STOP' }));
    expect(typesOf(stopped.events)).toEqual(['consent.withdrawn', 'conversation.closed']);
    const again = await ws.handleInbound(message({ text: 'hi again' }));
    expect(typesOf(again.events)).toContain('conversation.opened');
    expect(questionsIn(again.replies)).toBe(1);
  });

  it('closes the conversation on its channel even without a running workflow; the next message opens one without asking again', async () => {
    const opened = await ws.handleInbound(message({ text: 'hola' }));
    await ws.handleInbound(message({ button: AGREE }));
    const stopped = await ws.handleInbound(message({ text: 'STOP' }));
    expect(typesOf(stopped.events)).toEqual(['consent.withdrawn', 'conversation.closed']);
    const again = await ws.handleInbound(message({ text: 'one more question' }));
    expect(again.conversationId).not.toBe(opened.conversationId);
    expect(typesOf(again.events)).toContain('conversation.opened');
    expect(questionsIn(again.replies)).toBe(0);
  });

  it('after STOP ALL, closes the open conversations on every channel', async () => {
    await ws.handleInbound(message({ text: 'hola' }));
    await ws.handleInbound(message({ button: AGREE }));
    await ws.handleInbound(message({ channel: 'sms', from: { id: PHONE }, text: 'hi by sms' }));
    const stopped = await ws.handleInbound(message({ channel: 'sms', from: { id: PHONE }, text: 'STOP ALL' }));
    const closed = stopped.events.filter((event) => event.type === 'conversation.closed').map((event) => channelOf(event.data));
    expect(closed.sort()).toEqual(['sms', 'whatsapp']);
  });
});

describe('an answer sent after the question timed out', () => {
  it('finds the question timed out even if the scheduler has not fired it yet, and the workflow starts again', async () => {
    await ws.handleInbound(message({ text: 'hola' }));
    clock.advance(10 * 60_000);
    const late = await ws.handleInbound(message({ button: AGREE }));
    const texts = late.replies.map((reply) => reply.text);
    expect(texts[0]).toMatch(/did not receive your consent .* in time/);
    expect(questionsIn(late.replies)).toBe(1);
    expect(typesOf(late.events)).toEqual(expect.arrayContaining(['consent.failed', 'conversation.closed', 'conversation.opened']));
    expect(typesOf(late.events)).not.toContain('consent.given');
    const failed = late.events.find((event) => event.type === 'consent.failed');
    expect(failed?.data).toMatchObject({ reason: 'timeout' });
    expect(await ws.getHistory(late.contactId)).toEqual([]);
    expect(await engine.runDueTimers(clock.now())).toEqual([]);
  });

  it('is accepted when the channel says it was sent before the deadline', async () => {
    await ws.handleInbound(message({ text: 'hola' }));
    const sentInTime = new Date(Date.parse(clock.now().toISOString()) + 4 * 60_000).toISOString();
    clock.advance(10 * 60_000);
    const answered = await ws.handleInbound(message({ button: AGREE, timestamp: sentInTime }));
    expect(typesOf(answered.events)).toContain('consent.given');
    expect(typesOf(answered.events)).not.toContain('consent.failed');
  });

  it('is answered as usual before the deadline', async () => {
    await ws.handleInbound(message({ text: 'hola' }));
    clock.advance(4 * 60_000 + 59_000);
    const answered = await ws.handleInbound(message({ button: AGREE }));
    expect(typesOf(answered.events)).toContain('consent.given');
  });
});

describe('a channel timestamp with a UTC offset', () => {
  it('is compared as an instant: a late START written with +05:00 does not outrank a newer STOP', async () => {
    const stopped = await ws.handleInbound(message({ text: 'STOP' }));
    clock.advance(60_000);
    // 08:59 UTC, one minute before the STOP was recorded, written in another zone.
    const late = await ws.handleInbound(message({ text: 'START', timestamp: '2026-03-01T13:59:00+05:00' }));
    expect(late.replies).toEqual([]);
    expect((await ws.canMessage(stopped.contactId, 'whatsapp', 'marketing')).allowed).toBe(false);
    const [, start] = await ws.getHistory(stopped.contactId);
    expect(start).toMatchObject({ status: 'opted_in', occurredAt: '2026-03-01T08:59:00.000Z' });
  });

  it('a time ahead of the clock written with a negative offset is read as now, and the STOP it carries is honoured', async () => {
    const started = await ws.handleInbound(message({ text: 'START' }));
    // 09:30 UTC while the clock says 09:00.
    const stopped = await ws.handleInbound(message({ text: 'STOP', timestamp: '2026-03-01T08:30:00-01:00' }));
    expect(typesOf(stopped.events)).toContain('consent.withdrawn');
    expect((await ws.canMessage(started.contactId, 'whatsapp', 'marketing')).allowed).toBe(false);
    expect((await ws.getHistory(started.contactId)).at(-1)?.occurredAt).toBe('2026-03-01T09:00:00.000Z');
  });
});

describe('a Telegram bot command', () => {
  it('/start (the Start button, with or without a deep-link payload) opens a conversation and records no consent', async () => {
    for (const [n, text] of ['/start', '/start campaign-42', '/start@AcmeBot'].entries()) {
      const opened = await ws.handleInbound(message({ channel: 'telegram', from: { id: `424210${n}` }, text }));
      expect(opened.keyword, text).toBeNull();
      expect(await ws.getHistory(opened.contactId), text).toEqual([]);
      expect(opened.conversationId, text).not.toBeNull();
      expect(questionsIn(opened.replies), text).toBe(1);
    }
  });

  it('addressed to the bot by name (/stop@AcmeBot) is read as the command itself', async () => {
    const stopped = await ws.handleInbound(message({ channel: 'telegram', from: { id: '4242001' }, text: '/stop@AcmeBot' }));
    expect(stopped.keyword).toMatchObject({ intent: 'opt_out', keyword: 'STOP' });
    expect(typesOf(stopped.events)).toEqual(['consent.withdrawn']);
  });
});

describe('a long message (an e-mail reply over its quoted thread)', () => {
  it('is never refused: its first 4,096 characters are read, and only they are kept in the review event', async () => {
    const reply = `STOP\n\nOn Monday you wrote:\n${'> Our spring offers are here, with new colours and sizes.\n'.repeat(300)}`;
    expect(reply.length).toBeGreaterThan(10_000);
    const answered = await ws.handleInbound(message({ channel: 'email', from: { id: 'ana@example.com' }, text: reply }));
    expect(typesOf(answered.events)).toEqual(['optout.review_needed']);
    const review = answered.events[0];
    expect(review?.data).toMatchObject({ matchedWord: 'STOP' });
    expect(String(new Map(Object.entries(review?.data ?? {})).get('text')).length).toBe(4096);
  });

  it('is refused past 65,536 characters, naming the field', async () => {
    await expect(ws.handleInbound(message({ text: 'x'.repeat(65_537) }))).rejects.toMatchObject({ code: 'VALIDATION_FAILED', issues: [expect.objectContaining({ path: 'text' })] });
  });
});

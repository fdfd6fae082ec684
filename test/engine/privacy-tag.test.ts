import { describe, expect, it } from 'vitest';
import type { Contact } from '../../src/core/contact.js';
import { ConsentryError, isConsentryError } from '../../src/core/errors.js';
import type { Engine, WorkspaceEngine } from '../../src/engine.js';
import type { InboundMessage } from '../../src/engine/inputs.js';
import type { FakeClock } from '../../src/ports/clock.js';
import { privacyDecision, usePrivacyWorkspace } from './privacy-workspace.js';

const PHONE = '+34600000131';
const AGREE = 'AGREE & PROCEED';
const PRIVACY_TAG = 'Consent: Privacy';
/** `Consent: Privacy` as a person or an import may write it: letter case, spacing and a no-break space aside. */
const SPELLINGS = ['Consent: Privacy', 'CONSENT: PRIVACY', 'consent: privacy', '  Consent:   Privacy ', 'Consent:\u00a0Privacy'];

let clock: FakeClock;
let engine: Engine;
let ws: WorkspaceEngine;
let next = 0;

usePrivacyWorkspace((workspace) => {
  ({ clock, engine, ws } = workspace);
});

function message(input: Partial<InboundMessage>): InboundMessage {
  next += 1;
  return { channel: 'sms', messageId: `tp.${next}`, from: { id: PHONE }, ...input };
}

const questionsIn = (replies: readonly { options?: readonly { label: string }[] }[]) =>
  replies.filter((reply) => reply.options?.some((option) => option.label === AGREE)).length;

async function refusal(work: Promise<unknown>): Promise<ConsentryError> {
  const error = await work.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!isConsentryError(error)) throw new Error(`expected a refusal, got ${String(error)}`);
  return error;
}

async function contact(): Promise<Contact> {
  return ws.createContact({ name: 'Hugo Test', phone: PHONE });
}

/** The contact's open SMS conversation, if any. */
async function openConversation(contactId: string): Promise<unknown> {
  return engine.store.transaction((tx) => tx.getOpenConversation(ws.workspaceId, contactId, 'sms'));
}

async function tagEvents(): Promise<string[]> {
  return (await ws.listEvents({ limit: 500 })).map((event) => event.type).filter((type) => type === 'contact.tagged' || type === 'contact.untagged');
}

describe('createContact with Consent: Privacy in its tags', () => {
  it.each(SPELLINGS)('refuses %j with TAG_NEEDS_CONSENT naming tags.N, and creates nothing', async (tag) => {
    const error = await refusal(ws.createContact({ name: 'Hugo Test', phone: PHONE, tags: ['VIP', tag] }));
    expect(error.code).toBe('TAG_NEEDS_CONSENT');
    expect(error.issues.map((issue) => issue.path)).toEqual(['tags.1']);
    expect(error.message).toContain('PUT /v1/contacts/{id}/consents/privacy/{channel}');
    expect((await ws.findContacts({})).contacts).toEqual([]);
  });

  it('says the tag is Consent: Privacy only when it is spelt otherwise', async () => {
    const exact = await refusal(ws.createContact({ name: 'Hugo Test', phone: PHONE, tags: [PRIVACY_TAG] }));
    expect(exact.issues[0]?.message).toMatch(/^tag "Consent: Privacy" follows the contact's privacy decision, and a new contact has no privacy decision: /);
    const spelt = await refusal(ws.createContact({ name: 'Hugo Test', phone: PHONE, tags: ['CONSENT: PRIVACY'] }));
    expect(spelt.issues[0]?.message).toMatch(/^tag "CONSENT: PRIVACY" is Consent: Privacy, which follows the contact's privacy decision, /);
  });

  it('names every such tag, with the contact’s other bad values, under the code of the first', async () => {
    const error = await refusal(ws.createContact({ email: 'not-an-email', tags: ['consent: privacy', 'VIP', 'CONSENT: PRIVACY'] }));
    expect(error.code).toBe('INVALID_EMAIL');
    expect(error.issues.map((issue) => issue.path)).toEqual(['email', 'tags.0', 'tags.2']);
  });

  it('leaves a tag with a control character to the character check', async () => {
    const error = await refusal(ws.createContact({ tags: ['Consent:\tPrivacy'] }));
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.message).toContain('U+0009');
  });

  it('asks the contact created without it, where a hand-added tag used to switch the question off', async () => {
    await refusal(ws.createContact({ phone: PHONE, tags: ['CONSENT: PRIVACY'] }));
    const opened = await ws.handleInbound(message({ text: 'hi, my name is Hugo' }));
    expect(questionsIn(opened.replies)).toBe(1);
    expect(await ws.canMessage(opened.contactId, 'sms', 'privacy')).toMatchObject({ allowed: false, reason: 'not_specified' });
  });
});

describe('addTag of Consent: Privacy', () => {
  it.each(SPELLINGS)('refuses %j while no privacy decision is recorded, naming tag and the route that records one', async (tag) => {
    const hugo = await contact();
    const error = await refusal(ws.addTag(hugo.id, tag));
    expect(error.code).toBe('TAG_NEEDS_CONSENT');
    expect(error.issues).toEqual([{ path: 'tag', message: error.message }]);
    expect(error.message).toContain('no privacy decision is recorded');
    expect(error.message).toContain(`PUT /v1/contacts/${hugo.id}/consents/privacy/{channel}, which adds the tag`);
    expect((await ws.getContact(hugo.id)).tags).toEqual([]);
    expect(await tagEvents()).toEqual([]);
    const opened = await ws.handleInbound(message({ text: 'hi' }));
    expect(questionsIn(opened.replies)).toBe(1);
  });

  it('refuses it while the newest privacy decision, on any channel, is an opt-out', async () => {
    const hugo = await contact();
    await ws.setConsent(privacyDecision(hugo.id, 'opted_in', 'whatsapp'));
    clock.advance(60_000);
    await ws.setConsent(privacyDecision(hugo.id, 'opted_out', 'sms'));
    expect((await ws.getContact(hugo.id)).tags).toEqual([]);
    const error = await refusal(ws.addTag(hugo.id, 'consent: privacy'));
    expect(error.code).toBe('TAG_NEEDS_CONSENT');
    expect(error.message).toContain('the privacy decision in force is an opt-out (sms, 2026-03-01T09:01:00.000Z)');
  });

  it('changes nothing while an opt-in is in force: the contact has the tag already', async () => {
    const hugo = await contact();
    await ws.setConsent(privacyDecision(hugo.id, 'opted_in'));
    expect((await ws.getContact(hugo.id)).tags).toEqual([PRIVACY_TAG]);
    for (const tag of SPELLINGS) expect((await ws.addTag(hugo.id, tag)).tags).toEqual([PRIVACY_TAG]);
    expect(await tagEvents()).toEqual(['contact.tagged']);
  });

  it('follows the newest decision: an opt-out on one channel, then an opt-in on another', async () => {
    const hugo = await contact();
    await ws.setConsent(privacyDecision(hugo.id, 'opted_out', 'whatsapp'));
    clock.advance(60_000);
    await ws.setConsent(privacyDecision(hugo.id, 'opted_in', 'email'));
    expect((await ws.addTag(hugo.id, 'CONSENT: PRIVACY')).tags).toEqual([PRIVACY_TAG]);
  });

  it('still tags with any other tag, and refuses an erased contact first', async () => {
    const hugo = await contact();
    expect((await ws.addTag(hugo.id, 'Consent: Marketing')).tags).toEqual(['Consent: Marketing']);
    await ws.eraseContact(hugo.id);
    expect((await refusal(ws.addTag(hugo.id, PRIVACY_TAG))).code).toBe('CONTACT_ERASED');
  });

  it('is still added by the privacy question itself, with the decision', async () => {
    await ws.handleInbound(message({ text: 'hi' }));
    const agreed = await ws.handleInbound(message({ button: AGREE }));
    expect((await ws.getContact(agreed.contactId)).tags).toEqual([PRIVACY_TAG]);
    expect(await ws.canMessage(agreed.contactId, 'sms', 'privacy')).toMatchObject({ allowed: true, reason: 'opted_in' });
  });
});

describe('removeTag of Consent: Privacy', () => {
  it('is allowed while an opt-in is in force: the decision stays, the next conversation asks again, and the tag may be added back', async () => {
    await ws.handleInbound(message({ text: 'hi' }));
    const agreed = await ws.handleInbound(message({ button: AGREE }));
    const hugoId = agreed.contactId;
    expect((await ws.removeTag(hugoId, 'consent: PRIVACY')).tags).toEqual([]);
    expect(await ws.canMessage(hugoId, 'sms', 'privacy')).toMatchObject({ allowed: true, reason: 'opted_in' });

    // The conversation the contact agreed in is closed by the removal, so their next message, in it
    // as they see it, opens a new one and is asked: left open, it would never ask them.
    expect(await openConversation(hugoId)).toBeUndefined();
    const asked = await ws.handleInbound(message({ text: 'hello again' }));
    expect(asked.conversationId).not.toBe(agreed.conversationId);
    expect(questionsIn(asked.replies)).toBe(1);

    expect((await ws.addTag(hugoId, PRIVACY_TAG)).tags).toEqual([PRIVACY_TAG]);
  });

  it('closes no conversation when the contact had no such tag, nor for another tag', async () => {
    await ws.handleInbound(message({ text: 'hi' }));
    const { contactId } = await ws.handleInbound(message({ text: 'not sure' }));
    await ws.addTag(contactId, 'VIP');
    await ws.removeTag(contactId, 'VIP');
    await ws.removeTag(contactId, PRIVACY_TAG);
    expect(await openConversation(contactId)).toBeDefined();
    expect((await ws.listEvents({ types: ['conversation.closed'] })).length).toBe(0);
  });

  it('is added back spelt as a decision adds it, whatever case the caller wrote', async () => {
    await ws.handleInbound(message({ text: 'hi' }));
    const hugoId = (await ws.handleInbound(message({ button: AGREE }))).contactId;
    await ws.removeTag(hugoId, PRIVACY_TAG);
    expect((await ws.addTag(hugoId, ' CONSENT:  privacy ')).tags).toEqual([PRIVACY_TAG]);
  });
});

describe('a contact tagged Consent: Privacy by hand before the tag was refused', () => {
  /** Stores the tag as an older version let a person add it: with no decision on record. */
  async function taggedByHand(): Promise<Contact> {
    const hugo = await contact();
    const tagged = { ...hugo, tags: ['CONSENT: PRIVACY'] };
    await engine.store.transaction((tx) => tx.updateContact(tagged));
    return tagged;
  }

  it('is still not asked, takes other tags, is refused the tag again, and is asked once it is removed', async () => {
    const hugo = await taggedByHand();
    const opened = await ws.handleInbound(message({ text: 'hi' }));
    expect(opened.contactId).toBe(hugo.id);
    expect(questionsIn(opened.replies)).toBe(0);

    expect((await ws.addTag(hugo.id, 'VIP')).tags).toEqual(['CONSENT: PRIVACY', 'VIP']);
    expect((await ws.updateContact(hugo.id, { name: 'Hugo Tester' })).tags).toEqual(['CONSENT: PRIVACY', 'VIP']);
    expect((await refusal(ws.addTag(hugo.id, PRIVACY_TAG))).code).toBe('TAG_NEEDS_CONSENT');

    expect((await ws.removeTag(hugo.id, PRIVACY_TAG)).tags).toEqual(['VIP']);
    expect(await openConversation(hugo.id)).toBeUndefined();
    const asked = await ws.handleInbound(message({ text: 'hi again' }));
    expect(questionsIn(asked.replies)).toBe(1);
  });

  it('keeps its tag spelled as it was through a recorded opt-in, and loses it at a withdrawal', async () => {
    const hugo = await taggedByHand();
    await ws.setConsent(privacyDecision(hugo.id, 'opted_in'));
    expect((await ws.getContact(hugo.id)).tags).toEqual(['CONSENT: PRIVACY']);
    clock.advance(60_000);
    await ws.setConsent(privacyDecision(hugo.id, 'opted_out'));
    expect((await ws.getContact(hugo.id)).tags).toEqual([]);
  });
});

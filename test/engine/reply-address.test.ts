import { describe, expect, it } from 'vitest';
import { OutboundMessageDataSchema } from '../../src/core/events.js';
import type { Engine, WorkspaceEngine } from '../../src/engine.js';
import type { FakeClock } from '../../src/ports/clock.js';
import { usePrivacyWorkspace } from './privacy-workspace.js';

const OUTBOUND_URL = 'https://example.com/consentry/outbound';

/** The outbound webhook's copies of the replies, oldest first: where each goes and what it answers. */
async function outbound(ws: WorkspaceEngine): Promise<{ to: string; inReplyTo: string | null; channel: string }[]> {
  const events = await ws.listEvents({ types: ['message.outbound'], limit: 500 });
  return events.reverse().map((event) => {
    const data = OutboundMessageDataSchema.parse(event.data);
    return { to: data.to, inReplyTo: data.inReplyTo, channel: data.channel };
  });
}

async function contactUpdates(ws: WorkspaceEngine, contactId: string): Promise<unknown[]> {
  const events = await ws.listEvents({ types: ['contact.updated'], limit: 500 });
  return events.filter((event) => event.contactId === contactId).map((event) => event.data);
}

const sms = (messageId: string, id: string, text: string) => ({ channel: 'sms' as const, messageId, from: { id }, text });

describe('where a reply goes (message.outbound `to`)', () => {
  let engine: Engine;
  let ws: WorkspaceEngine;
  let clock: FakeClock;

  usePrivacyWorkspace(async (workspace) => {
    ({ engine, ws, clock } = workspace);
    await ws.updateSettings({ outboundWebhookUrl: OUTBOUND_URL, defaultCountry: 'ES', triggers: [] });
  });

  it('a reply to a message goes to the sender id that message came from, not to the spelling the contact wrote from first', async () => {
    const first = await ws.handleInbound(sms('kw.1', '600 555 111', 'ALTO'));
    const again = await ws.handleInbound(sms('kw.4', '+34600555111', 'START'));
    expect(again.contactId).toBe(first.contactId);
    expect(again.replies).toHaveLength(1);
    expect(await outbound(ws)).toEqual([
      { to: '600 555 111', inReplyTo: 'kw.1', channel: 'sms' },
      { to: '+34600555111', inReplyTo: 'kw.4', channel: 'sms' },
    ]);
  });

  it('another spelling of a number the contact has in E.164 on the channel is that identity: not stored again, no contact.updated, answered there', async () => {
    const first = await ws.handleInbound(sms('kw.1', '600 555 111', 'ALTO'));
    await ws.handleInbound(sms('kw.2', '+34600555111', 'START'));
    const updatesBefore = (await contactUpdates(ws, first.contactId)).length;
    const third = await ws.handleInbound(sms('kw.3', '600555111', 'STOP'));
    const fourth = await ws.handleInbound(sms('kw.4', '+34 600 555 111', 'START'));
    expect([third.contactId, fourth.contactId]).toEqual([first.contactId, first.contactId]);
    expect(third.events.map((event) => event.type)).toEqual(['consent.withdrawn']);
    expect(fourth.events.map((event) => event.type)).toEqual(['consent.given']);
    expect(await contactUpdates(ws, first.contactId)).toHaveLength(updatesBefore);
    expect((await ws.getContact(first.contactId)).identities).toEqual([
      { channel: 'sms', externalId: '600 555 111' },
      { channel: 'sms', externalId: '+34600555111' },
    ]);
    // Answered at the identity the messages came from, as the contact has it.
    expect((await outbound(ws)).slice(2)).toEqual([
      { to: '+34600555111', inReplyTo: 'kw.3', channel: 'sms' },
      { to: '+34600555111', inReplyTo: 'kw.4', channel: 'sms' },
    ]);
    // The keyword record still says which spelling the opt-out came from.
    const stop = (await ws.getHistory(first.contactId)).find((record) => record.evidence.messageId === 'kw.3');
    expect(stop?.evidence.identity).toBe('sms:600555111');
  });

  it('a WhatsApp ID and the same number in E.164 are one identity, found even when the contact has another phone', async () => {
    const ana = await ws.createContact({ name: 'Ana', phone: '+34600000099', identities: [{ channel: 'whatsapp', externalId: '34600000002' }] });
    const written = await ws.handleInbound({ channel: 'whatsapp', messageId: 'wamid.1', from: { id: '+34600000002' }, text: 'STOP' });
    expect(written.contactId).toBe(ana.id);
    expect(written.events.map((event) => event.type)).toEqual(['consent.withdrawn']);
    expect(await ws.getContact(ana.id)).toMatchObject({ phone: '+34600000099', identities: [{ channel: 'whatsapp', externalId: '34600000002' }] });
    expect(await contactUpdates(ws, ana.id)).toEqual([]);
    expect(await outbound(ws)).toEqual([{ to: '34600000002', inReplyTo: 'wamid.1', channel: 'whatsapp' }]);
  });

  it('a sender id that is no phone number, or one of another number, stays an identity of its own', async () => {
    const first = await ws.handleInbound(sms('s.1', '+34600555111', 'hello'));
    const gateway = await ws.handleInbound({ channel: 'sms', messageId: 's.2', from: { id: 'SMS-GATEWAY-7', phone: '+34600555111' }, text: 'hello' });
    expect(gateway.contactId).toBe(first.contactId);
    const other = await ws.handleInbound(sms('s.3', '+34600555112', 'hello'));
    expect(other.contactId).not.toBe(first.contactId);
    expect((await ws.getContact(first.contactId)).identities.map((identity) => identity.externalId)).toEqual(['+34600555111', 'SMS-GATEWAY-7']);
  });

  it('a number is not folded across channels: the same number on WhatsApp is an identity there', async () => {
    const texted = await ws.handleInbound(sms('s.1', '+34600555111', 'hello'));
    const chatted = await ws.handleInbound({ channel: 'whatsapp', messageId: 'w.1', from: { id: '34600555111' }, text: 'hola' });
    expect(chatted.contactId).toBe(texted.contactId);
    expect((await ws.getContact(texted.contactId)).identities).toEqual([
      { channel: 'sms', externalId: '+34600555111' },
      { channel: 'whatsapp', externalId: '34600555111' },
    ]);
  });

  it('the erased-address guard reads the number as before: a bulk opt-in for it after the erasure is refused', async () => {
    const first = await ws.handleInbound(sms('kw.1', '+34600555111', 'START'));
    await ws.handleInbound(sms('kw.2', '600 555 111', 'STOP'));
    await ws.eraseContact(first.contactId);
    const [row] = await ws.bulkSetConsent(
      [{ phone: '600555111', purpose: 'marketing', channel: 'sms', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Old list' }],
      { actor: { id: 'ops', kind: 'user' }, source: 'bulk' },
    );
    expect(row).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED' } });
  });

  it('a time-out nothing answers goes to the contact\'s first identity on the channel, as before', async () => {
    await ws.updateSettings({ privacyPolicyUrl: 'https://example.com/privacy', triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: true }] });
    const opened = await ws.handleInbound(sms('s.1', '600 555 111', 'hello'));
    await ws.handleInbound(sms('s.2', '+34600555111', 'hmm'));
    const answered = (await outbound(ws)).length;
    clock.advance(6 * 60_000);
    const [fired] = await engine.runDueTimers(clock.now());
    expect(fired?.replies.length).toBeGreaterThan(0);
    const timedOut = (await outbound(ws)).slice(answered);
    expect(timedOut.length).toBeGreaterThan(0);
    expect(timedOut.every((reply) => reply.to === '600 555 111' && reply.inReplyTo === null)).toBe(true);
    expect((await ws.getContact(opened.contactId)).identities).toHaveLength(2);
  });

  it('a time-out that fires when the contact writes again answers that message, so it goes where the message came from', async () => {
    await ws.updateSettings({ privacyPolicyUrl: 'https://example.com/privacy', triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: true }] });
    await ws.handleInbound(sms('s.1', '600 555 111', 'hello'));
    const answered = (await outbound(ws)).length;
    clock.advance(6 * 60_000);
    await ws.handleInbound(sms('s.2', '+34600555111', 'hello again'));
    const after = (await outbound(ws)).slice(answered);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((reply) => reply.to === '+34600555111' && reply.inReplyTo === 's.2')).toBe(true);
  });
});

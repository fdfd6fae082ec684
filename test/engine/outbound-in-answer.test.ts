import { describe, expect, it } from 'vitest';
import { OutboundMessageDataSchema } from '../../src/core/events.js';
import type { Engine, WorkspaceEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import { privacyDecision, usePrivacyWorkspace } from './privacy-workspace.js';

const OUTBOUND_URL = 'https://example.com/consentry/outbound';

/** The outbound webhook's copies of the replies, oldest first: what each said and whether it was in an answer. */
async function outbound(ws: WorkspaceEngine): Promise<{ text: string; inAnswer: boolean }[]> {
  const events = await ws.listEvents({ types: ['message.outbound'], limit: 500 });
  return events.reverse().map((event) => {
    const data = OutboundMessageDataSchema.parse(event.data);
    return { text: data.text, inAnswer: data.inAnswer };
  });
}

describe('message.outbound inAnswer', () => {
  let engine: Engine;
  let ws: WorkspaceEngine;
  let clock: FakeClock;

  usePrivacyWorkspace(async (workspace) => {
    ({ engine, ws, clock } = workspace);
  });

  it('is true for the replies an inbound message answers with, and false for the time-out text nobody asked for', async () => {
    await ws.updateSettings({ outboundWebhookUrl: OUTBOUND_URL });
    const answered = await ws.handleInbound({ channel: 'sms', messageId: 'sms-1', from: { id: '+34600000001' }, text: 'hello' });
    expect(answered.replies.length).toBeGreaterThan(0);
    expect(await outbound(ws)).toEqual(answered.replies.map((reply) => ({ text: reply.text, inAnswer: true })));

    clock.advance(6 * 60_000);
    const [fired] = await engine.runDueTimers(clock.now());
    expect(fired?.replies.length).toBeGreaterThan(0);
    const afterTimeout = await outbound(ws);
    expect(afterTimeout.slice(answered.replies.length)).toEqual(fired?.replies.map((reply) => ({ text: reply.text, inAnswer: false })));
  });

  it('is true for a workflow started by a caller who gets its replies, false for one whose caller sends none', async () => {
    await ws.updateSettings({ outboundWebhookUrl: OUTBOUND_URL });
    const ana = await ws.createContact({ name: 'Ana', identities: [{ channel: 'sms', externalId: '+34600000002' }] });
    const bea = await ws.createContact({ name: 'Bea', identities: [{ channel: 'sms', externalId: '+34600000003' }] });
    const returned = await ws.startWorkflow('request-consent-privacy', ana.id, 'sms');
    const unsent = await ws.startWorkflow('request-consent-privacy', bea.id, 'sms', { inAnswer: false });
    expect(await outbound(ws)).toEqual([
      ...returned.replies.map((reply) => ({ text: reply.text, inAnswer: true })),
      ...unsent.replies.map((reply) => ({ text: reply.text, inAnswer: false })),
    ]);
  });

  it('is false for the texts of a workflow a tag added from outside starts', async () => {
    await ws.updateSettings({
      outboundWebhookUrl: OUTBOUND_URL,
      triggers: [
        { trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: true },
        { trigger: 'tag_added', match: 'VIP', template: 'welcome-request-email', enabled: true },
      ],
    });
    const { contactId } = await ws.handleInbound({ channel: 'sms', messageId: 'sms-1', from: { id: '+34600000004' }, text: 'hello' });
    await ws.setConsent(privacyDecision(contactId, 'opted_in'));
    const before = (await outbound(ws)).length;
    await ws.addTag(contactId, 'VIP');
    const sent = (await outbound(ws)).slice(before);
    expect(sent.map((reply) => reply.text)).toContain('What is your email address? Please reply with it, for example name@example.com.');
    expect(sent.every((reply) => !reply.inAnswer)).toBe(true);
  });
});

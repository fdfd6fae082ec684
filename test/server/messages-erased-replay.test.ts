import { afterEach, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from './helpers.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('POST /v1/messages: a message id first used by a contact since erased', () => {
  it('sends nothing of the redacted answer again and names messageId, for the same message and for another one under that id', async () => {
    t = await testApp();
    const acme = await t.tenant('Acme');
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { privacyPolicyUrl: 'https://example.com/privacy' } });
    const message = { channel: 'whatsapp', messageId: 'q.1', from: { id: '34600000002', name: 'Bea Test' }, text: 'hola' };
    const first = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message });
    expect(first.json().replies.length).toBeGreaterThan(0);
    const contactId: string = first.json().contactId;
    expect((await t.as(acme, { method: 'DELETE', url: `/v1/contacts/${contactId}` })).statusCode).toBe(200);

    for (const repeat of [message, { ...message, text: 'STOP' }, { ...message, from: { id: '34699999998' } }]) {
      const answer = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: repeat });
      expect(answer.statusCode).toBe(200);
      expect(answer.json()).toMatchObject({ contactId, replies: [], warnings: [{ path: 'messageId', message: expect.stringMatching(/^already used on this channel by a message of a contact since erased/) }] });
    }
    // A message under an id of its own is processed.
    const fresh = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { ...message, messageId: 'q.2', text: 'STOP' } });
    expect(fresh.json().events.map((event: { type: string }) => event.type)).toContain('consent.withdrawn');
  });

  it('answers a repeat of a contact who was not erased as before, with its replies and no warning', async () => {
    t = await testApp();
    const acme = await t.tenant('Acme');
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { privacyPolicyUrl: 'https://example.com/privacy' } });
    const message = { channel: 'whatsapp', messageId: 'r.1', from: { id: '34600000003' }, text: 'hola' };
    const first = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message });
    const again = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: message });
    expect(again.json()).toEqual(first.json());
  });
});

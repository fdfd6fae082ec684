import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { OutboundMessageDataSchema } from '../../src/core/events.js';
import { testApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const ContactsSchema = z.object({ data: z.array(z.object({ id: z.string(), phone: z.string().nullable(), identities: z.array(z.object({ channel: z.string(), externalId: z.string() })) })) });

const AnswerSchema = z.object({ contactId: z.string(), events: z.array(z.object({ type: z.string() })) });

const sms = (messageId: string, id: string, text: string) => ({ method: 'POST' as const, url: '/v1/messages', payload: { channel: 'sms', messageId, from: { id }, text } });

async function outboundTo(app: TestApp, tenant: Tenant): Promise<[string | null, string][]> {
  const events = await app.engine.workspace(tenant.workspaceId).listEvents({ types: ['message.outbound'], limit: 200 });
  return events.reverse().map((event) => {
    const data = OutboundMessageDataSchema.parse(event.data);
    return [data.inReplyTo, data.to];
  });
}

describe('POST /v1/messages from one SMS number written three ways', () => {
  it('makes one contact with the number once in E.164 beside the first spelling, and answers each message where it came from', async () => {
    t = await testApp();
    const acme = await t.tenant('Acme');
    const patched = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { defaultCountry: 'ES', outboundWebhookUrl: 'https://example.com/outbound' } });
    expect(patched.statusCode).toBe(200);

    const answers: z.output<typeof AnswerSchema>[] = [];
    for (const [messageId, id, text] of [
      ['kw.1', '600 555 111', 'ALTO'],
      ['kw.2', '+34600555111', 'START'],
      ['kw.3', '600555111', 'STOP'],
      ['kw.4', '+34600555111', 'START'],
    ] as const) {
      const res = await t.as(acme, sms(messageId, id, text));
      expect(res.statusCode).toBe(200);
      answers.push(AnswerSchema.parse(res.json()));
    }
    expect(new Set(answers.map((answer) => answer.contactId)).size).toBe(1);
    // Only the first E.164 spelling changed the contact; the national spelling after it is the same identity.
    expect(answers.map((answer) => answer.events.filter((event) => event.type === 'contact.updated').length)).toEqual([0, 1, 0, 0]);

    const listed = ContactsSchema.parse((await t.as(acme, { method: 'GET', url: '/v1/contacts?phone=600555111' })).json());
    expect(listed.data).toEqual([
      expect.objectContaining({
        phone: '+34600555111',
        identities: [
          { channel: 'sms', externalId: '600 555 111' },
          { channel: 'sms', externalId: '+34600555111' },
        ],
      }),
    ]);
    expect(await outboundTo(t, acme)).toEqual([
      ['kw.1', '600 555 111'],
      ['kw.2', '+34600555111'],
      ['kw.3', '+34600555111'],
      ['kw.4', '+34600555111'],
    ]);
  });
});

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let sales: Tenant;

useTestApp((app, first) => {
  t = app;
  sales = first;
}, ['Sales']);

const AnswerSchema = z.object({
  contactId: z.string(),
  conversationId: z.string().nullable(),
  replies: z.array(z.object({ text: z.string(), options: z.array(z.object({ label: z.string(), buttonId: z.string().optional() })).optional() })),
  events: z.array(z.object({ type: z.string() })),
  warnings: z.array(z.unknown()),
});

async function message(messageId: string, text: string): Promise<z.output<typeof AnswerSchema>> {
  const res = await t.as(sales, { method: 'POST', url: '/v1/messages', payload: { channel: 'whatsapp', messageId, from: { id: '34600000001' }, text } });
  expect(res.statusCode, res.body).toBe(200);
  return AnswerSchema.parse(res.json());
}

describe('POST /v1/messages: a conversation opened before privacyPolicyUrl was set', () => {
  it('asks for privacy consent at the next message once PATCH /v1/settings sets the URL', async () => {
    const first = await message('s.1', 'hola');
    expect(first.replies).toEqual([]);
    expect(first.events.map((event) => event.type)).toContain('conversation.opened');

    const patched = await t.as(sales, { method: 'PATCH', url: '/v1/settings', payload: { privacyPolicyUrl: 'https://example.com/privacy' } });
    expect(patched.statusCode, patched.body).toBe(200);

    const second = await message('s.2', 'hola otra vez');
    expect(second.conversationId).toBe(first.conversationId);
    expect(second.replies).toEqual([
      { text: 'Hi there! Before we continue, please read our privacy policy: https://example.com/privacy' },
      { text: 'Do you agree to our privacy policy? Select AGREE & PROCEED to continue.', options: [{ label: 'AGREE & PROCEED', buttonId: 'agree' }] },
    ]);
    expect(second.warnings).toEqual([]);

    const agreed = await message('s.3', 'AGREE & PROCEED');
    expect(agreed.events.map((event) => event.type)).toContain('consent.given');
    const permission = await t.as(sales, { method: 'GET', url: `/v1/contacts/${agreed.contactId}` });
    expect(permission.json()).toMatchObject({ tags: ['Consent: Privacy'] });
  });
});

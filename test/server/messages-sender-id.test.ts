import { afterEach, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from './helpers.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const stop = (channel: string, id: string, messageId: string) => ({
  method: 'POST' as const,
  url: '/v1/messages',
  payload: { channel, messageId, from: { id }, text: 'STOP' },
});

describe('POST /v1/messages: a WhatsApp or SMS sender id that is not read as a phone number', () => {
  it('is named in warnings, the STOP recorded all the same, when the workspace has no defaultCountry to read a national number in', async () => {
    t = await testApp();
    const acme = await t.tenant('Acme');
    const res = await t.as(acme, stop('sms', '600 000 099', 'n.1'));
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.events.map((event: { type: string }) => event.type)).toContain('consent.withdrawn');
    expect(body.warnings).toEqual([
      {
        path: 'from.id',
        message: expect.stringMatching(/^is not read as a phone number: it has no country code, and the workspace has no defaultCountry .*; the message was processed, and its contact is known by this sender id alone/),
      },
    ]);
    const contact = await t.as(acme, { method: 'GET', url: `/v1/contacts/${body.contactId}` });
    expect(contact.json()).toMatchObject({ phone: null });
  });

  it('is not named once the workspace reads national numbers in its defaultCountry, nor for an international number or a WhatsApp ID', async () => {
    t = await testApp();
    const acme = await t.tenant('Acme');
    expect((await t.as(acme, stop('sms', '+34 600 000 098', 'i.1'))).json().warnings).toEqual([]);
    expect((await t.as(acme, stop('whatsapp', '34600000097', 'w.1'))).json().warnings).toEqual([]);
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { defaultCountry: 'ES' } });
    const national = await t.as(acme, stop('sms', '600 000 099', 'n.2'));
    expect(national.json().warnings).toEqual([]);
    const contact = await t.as(acme, { method: 'GET', url: `/v1/contacts/${national.json().contactId}` });
    expect(contact.json()).toMatchObject({ phone: '+34600000099' });
  });

  it('is named for a national number of another country than the defaultCountry', async () => {
    t = await testApp();
    const acme = await t.tenant('Acme');
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { defaultCountry: 'GB' } });
    const res = await t.as(acme, stop('sms', '600 000 099', 'n.3'));
    expect(res.json().warnings).toEqual([{ path: 'from.id', message: expect.stringContaining("of GB (the workspace's defaultCountry)") }]);
  });

  it('is named beside an unreadable from.phone, which is ignored: the message is read as one without it', async () => {
    t = await testApp();
    const acme = await t.tenant('Acme');
    const res = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: 'p.1', from: { id: '600000003', phone: '12' }, text: 'STOP' } });
    expect(res.json().warnings.map((warning: { path: string }) => warning.path)).toEqual(['from.id', 'from.phone']);
  });

  it('is not named when from.phone is unreadable but the sender id reads as a phone, which then becomes the contact\'s phone as without from.phone', async () => {
    t = await testApp();
    const acme = await t.tenant('Acme');
    const res = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'whatsapp', messageId: 'p.2', from: { id: '34600000004', phone: '12' }, text: 'STOP' } });
    expect(res.json().warnings.map((warning: { path: string }) => warning.path)).toEqual(['from.phone']);
    const contact = await t.as(acme, { method: 'GET', url: `/v1/contacts/${res.json().contactId}` });
    expect(contact.json()).toMatchObject({ phone: '+34600000004' });
  });

  it('is not named when a national from.phone reads in the defaultCountry', async () => {
    t = await testApp();
    const acme = await t.tenant('Acme');
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { defaultCountry: 'ES' } });
    const res = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: 'p.3', from: { id: 'SMS-GATEWAY-7', phone: '600 000 005' }, text: 'STOP' } });
    expect(res.json().warnings).toEqual([]);
    const contact = await t.as(acme, { method: 'GET', url: `/v1/contacts/${res.json().contactId}` });
    expect(contact.json()).toMatchObject({ phone: '+34600000005' });
  });

  it('an unreadable from.email is ignored on the email channel too: the sender id is the contact\'s e-mail, as without one', async () => {
    t = await testApp();
    const acme = await t.tenant('Acme');
    const res = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'email', messageId: 'e.1', from: { id: 'ana@example.com', email: 'not an address' }, text: 'STOP' } });
    expect(res.json().warnings.map((warning: { path: string }) => warning.path)).toEqual(['from.email']);
    const contact = await t.as(acme, { method: 'GET', url: `/v1/contacts/${res.json().contactId}` });
    expect(contact.json()).toMatchObject({ email: 'ana@example.com' });
  });
});

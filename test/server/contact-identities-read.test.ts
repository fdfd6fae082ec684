import { describe, expect, it } from 'vitest';
import { expectProblem, problemPaths, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, first) => {
  t = app;
  acme = first;
});

const optIn = { status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Signup form' };

async function created(identity: { channel: string; externalId: string }, name = 'Quim Test'): Promise<{ id: string; identities: unknown }> {
  const res = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name, identities: [identity] } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

describe('POST /v1/contacts reads a WhatsApp, SMS or e-mail identity as the channel sends the sender id', () => {
  it.each([
    ['whatsapp', '+34 600 777 555', '34600777555', '34600777555'],
    ['whatsapp', '600 777 556', '34600777556', '34600777556'],
    ['sms', '600 777 444', '+34600777444', '+34600777444'],
    ['sms', '+34 (600) 777-445', '+34600777445', '34600777445'],
    ['email', 'Eve@Example.com', 'eve@example.com', 'eve@example.com'],
  ])('%s identity "%s" is stored as "%s", and the STOP the channel delivers from "%s" withdraws its opt-in', async (channel, typed, stored, senderId) => {
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { defaultCountry: 'ES' } });
    const contact = await created({ channel, externalId: typed });
    expect(contact.identities).toEqual([{ channel, externalId: stored }]);
    const purposeChannel = channel === 'email' ? 'email' : 'any';
    expect((await t.as(acme, { method: 'PUT', url: `/v1/contacts/${contact.id}/consents/marketing/${purposeChannel}`, payload: optIn })).statusCode).toBe(201);

    const stop = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel, messageId: `stop-${channel}-${stored}`, from: { id: senderId }, text: 'STOP' } });
    expect(stop.statusCode, stop.body).toBe(200);
    expect(stop.json().contactId).toBe(contact.id);
    const permission = await t.as(acme, { method: 'GET', url: `/v1/contacts/${contact.id}/permission?channel=${channel}&purpose=marketing` });
    expect(permission.json()).toMatchObject({ allowed: false, reason: 'opted_out' });
  });

  it('keeps an id that is not written as a number or an address as given: a gateway sender name, a Messenger PSID', async () => {
    expect((await created({ channel: 'sms', externalId: ' ACME-GW-7 ' })).identities).toEqual([{ channel: 'sms', externalId: 'ACME-GW-7' }]);
    expect((await created({ channel: 'messenger', externalId: '6054321987654321' })).identities).toEqual([{ channel: 'messenger', externalId: '6054321987654321' }]);
  });

  it('refuses a number that does not read as one, naming the identity, and makes no contact', async () => {
    const res = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Rosa Test', identities: [{ channel: 'webchat', externalId: 'visitor-1' }, { channel: 'sms', externalId: '600 777 444' }] } });
    expectProblem(res, 422, 'INVALID_PHONE');
    expect(problemPaths(res)).toEqual(['identities.1.externalId']);
    expect(res.json().detail).toMatch(/^identities\.1\.externalId: /);
    const emails = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { identities: [{ channel: 'email', externalId: 'eve@example' }] } });
    expectProblem(emails, 422, 'INVALID_EMAIL');
    expect(problemPaths(emails)).toEqual(['identities.0.externalId']);
    expect((await t.as(acme, { method: 'GET', url: '/v1/contacts' })).json().data).toEqual([]);
  });

  it('answers 409 for an identity another contact has in another spelling of the number', async () => {
    await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { defaultCountry: 'ES' } });
    // A contact the channel made: WhatsApp sends the WhatsApp ID.
    await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'whatsapp', messageId: 'wa-1', from: { id: '34600777557' }, text: 'hola' } });
    for (const spelling of ['+34 600 777 557', '600777557']) {
      const res = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Twin Test', identities: [{ channel: 'whatsapp', externalId: spelling }] } });
      expectProblem(res, 409, 'CONFLICT');
      expect(problemPaths(res)).toEqual(['identities.0']);
    }
  });
});

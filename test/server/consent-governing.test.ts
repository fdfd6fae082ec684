import { describe, expect, it } from 'vitest';
import { body, useTestApp, type Tenant, type TestApp } from './helpers.js';

/**
 * A STOP ALL is recorded on channel `any`; the rows of the channels the contact opted in on before
 * keep their own `opted_in`. Read alone, such a row says the contact may be messaged there, which
 * the permission check denies: each row names the status in force and the decision that sets it.
 */
describe("a contact's consents after STOP ALL", () => {
  let t: TestApp;
  let acme: Tenant;
  useTestApp((app, tenant) => {
    t = app;
    acme = tenant;
  });

  let next = 0;
  const send = async (channel: 'whatsapp' | 'sms', text: string): Promise<string> => {
    next += 1;
    t.clock.advance(1000);
    const from = { id: channel === 'sms' ? '+34600000001' : '34600000001' };
    const answer = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel, messageId: `m${next}`, from, text } });
    expect(answer.statusCode).toBe(200);
    return String(body(answer).contactId);
  };

  interface Row {
    purpose: string;
    channel: string;
    status: string;
    effectiveStatus: string;
    overriddenBy: { recordId: string; channel: string; status: string; occurredAt: string } | null;
    recordId?: string;
    current?: { recordId: string };
  }
  const rowsOf = async (url: string, key: 'data' | 'consents'): Promise<Map<string, Row>> => {
    const answer = await t.as(acme, { method: 'GET', url });
    expect(answer.statusCode).toBe(200);
    const rows = body(answer)[key] as Row[];
    return new Map(rows.map((row) => [`${row.purpose}/${row.channel}`, row]));
  };
  const permission = async (contactId: string, channel: string) =>
    body(await t.as(acme, { method: 'GET', url: `/v1/contacts/${contactId}/permission?channel=${channel}&purpose=marketing` }));

  it('gives each channel the status in force and the all-channel decision that overrides its own, in the list and the receipt', async () => {
    await send('whatsapp', 'START');
    const contactId = await send('sms', 'START');
    await send('sms', 'STOP ALL');

    for (const [url, key] of [[`/v1/contacts/${contactId}/consents`, 'data'], [`/v1/contacts/${contactId}/proof`, 'consents']] as const) {
      const rows = await rowsOf(url, key);
      const all = rows.get('marketing/any');
      const allRecordId = all?.recordId ?? all?.current?.recordId;
      expect(all).toMatchObject({ status: 'opted_out', effectiveStatus: 'opted_out', overriddenBy: null });
      for (const channel of ['whatsapp', 'sms']) {
        expect(rows.get(`marketing/${channel}`)).toMatchObject({
          status: 'opted_in',
          effectiveStatus: 'opted_out',
          overriddenBy: { recordId: allRecordId, channel: 'any', status: 'opted_out' },
        });
      }
    }
    expect(await permission(contactId, 'whatsapp')).toMatchObject({ allowed: false, reason: 'opted_out' });
  });

  it('answers a back-dated opt-in with the status in force on its channel, which a newer STOP ALL sets', async () => {
    await send('whatsapp', 'START');
    const contactId = await send('sms', 'STOP ALL');
    const put = await t.as(acme, {
      method: 'PUT',
      url: `/v1/contacts/${contactId}/consents/marketing/whatsapp`,
      payload: { status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Paper form signed last month', occurredAt: '2026-02-01T09:00:00Z' },
    });
    expect(put.statusCode).toBe(201);
    expect(body(put).current).toMatchObject({ status: 'opted_in', effectiveStatus: 'opted_out', overriddenBy: { channel: 'any', status: 'opted_out' } });
    expect(await permission(contactId, 'whatsapp')).toMatchObject({ allowed: false });
  });

  it('gives a channel opted in again after STOP ALL its own status, while the others stay overridden', async () => {
    await send('whatsapp', 'START');
    const contactId = await send('sms', 'START');
    await send('sms', 'STOP ALL');
    await send('whatsapp', 'START');

    const rows = await rowsOf(`/v1/contacts/${contactId}/consents`, 'data');
    expect(rows.get('marketing/whatsapp')).toMatchObject({ status: 'opted_in', effectiveStatus: 'opted_in', overriddenBy: null });
    expect(rows.get('marketing/sms')).toMatchObject({ status: 'opted_in', effectiveStatus: 'opted_out', overriddenBy: { channel: 'any' } });
    expect(await permission(contactId, 'whatsapp')).toMatchObject({ allowed: true, reason: 'opted_in' });
    expect(await permission(contactId, 'sms')).toMatchObject({ allowed: false, reason: 'opted_out' });
  });
});

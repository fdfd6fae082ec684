import { describe, expect, it } from 'vitest';
import { useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, tenant) => {
  t = app;
  acme = tenant!;
});

const IGNORED = 'is not a known field; ignored, the message was processed without it';

describe('POST /v1/messages: a member it does not know', () => {
  it("in from (an adapter's own field) does not refuse a STOP: it is recorded, and warnings names the member", async () => {
    const res = await t.as(acme, {
      method: 'POST',
      url: '/v1/messages',
      payload: { channel: 'telegram', messageId: 't9', from: { id: 'tg77', username: 'ana_t' }, text: 'STOP' },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().events.map((event: { type: string }) => event.type)).toContain('consent.withdrawn');
    expect(res.json().warnings).toEqual([{ path: 'from.username', message: IGNORED }]);
    const permission = await t.as(acme, { method: 'GET', url: `/v1/contacts/${res.json().contactId}/permission?channel=telegram` });
    expect(permission.json()).toMatchObject({ allowed: false, status: 'opted_out' });
  });

  it('in the body is named after the values the message was processed without, each once, and is not kept', async () => {
    const res = await t.as(acme, {
      method: 'POST',
      url: '/v1/messages',
      payload: { channel: 'sms', messageId: 's1', from: { id: '+34600000301', phone: 12345, chatId: 9 }, text: 'START', provider: { raw: true }, receivedBy: 'gateway-2' },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().warnings.map((warning: { path: string }) => warning.path)).toEqual(['from.phone', 'provider', 'receivedBy', 'from.chatId']);
    expect(res.json().warnings.slice(1)).toEqual([
      { path: 'provider', message: IGNORED },
      { path: 'receivedBy', message: IGNORED },
      { path: 'from.chatId', message: IGNORED },
    ]);
    const events = await t.engine.workspace(acme.workspaceId).listEvents({ limit: 50 });
    expect(events.map((event) => event.type)).toContain('consent.given');
    expect(JSON.stringify(events)).not.toContain('gateway-2');
  });

  it('still leaves a message without text or button refused, naming text', async () => {
    const res = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: 's2', from: { id: '+34600000302' }, Text: 'STOP' } });
    expect(res.statusCode, res.body).toBe(422);
    expect(res.json().errors.map((error: { path: string }) => error.path)).toEqual(['text']);
  });
});

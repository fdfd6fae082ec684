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

  it('names the first 20 one by one and counts the rest in one warning, so a body of many members is not answered with many more bytes', async () => {
    const extras = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`x${i}`, 0]));
    const res = await t.as(acme, {
      method: 'POST',
      url: '/v1/messages',
      payload: { channel: 'sms', messageId: 's3', from: { id: '+34600000303', chatId: 1 }, text: 'STOP', ...extras },
    });
    expect(res.statusCode, res.body).toBe(200);
    const warnings: { path: string; message: string }[] = res.json().warnings;
    expect(warnings).toHaveLength(21);
    expect(warnings.slice(0, 20).map((warning) => warning.path)).toEqual(Array.from({ length: 20 }, (_, i) => `x${i}`));
    expect(warnings[19]).toEqual({ path: 'x19', message: IGNORED });
    expect(warnings[20]).toEqual({ path: 'body', message: '4,981 more members not known, in the body or in from, ignored as well' });
    expect(res.body.length).toBeLessThan(JSON.stringify(extras).length);
    expect(res.json().events.map((event: { type: string }) => event.type)).toContain('consent.withdrawn');
  });

  it('still leaves a message without text or button refused, naming text', async () => {
    const res = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: 's2', from: { id: '+34600000302' }, Text: 'STOP' } });
    expect(res.statusCode, res.body).toBe(422);
    expect(res.json().errors.map((error: { path: string }) => error.path)).toEqual(['text']);
  });
});

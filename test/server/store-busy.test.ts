import type BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { storeBesideAnotherProcess, type StoreBesideAnotherProcess } from '../store/locked-database.js';
import { testApp, type Tenant, type TestApp } from './helpers.js';

describe('a database whose write lock another process holds', () => {
  let fixture: StoreBesideAnotherProcess;
  let t: TestApp;
  let acme: Tenant;
  let other: BetterSqlite3.Database;
  /** The store's lock-wait clock: each pause yields one turn of the event loop and moves it by the pause asked for. */
  let clock: { ms: number };

  beforeEach(async () => {
    fixture = storeBesideAnotherProcess('consentry-busy-');
    ({ other, lockClock: clock } = fixture);
    t = await testApp({ store: fixture.store });
    acme = await t.tenant('Acme');
  });

  afterEach(async () => {
    await t.close();
    await fixture.close();
  });

  const stop = { channel: 'sms', messageId: 'busy-1', from: { id: '+34600000001' }, text: 'STOP' };

  it('answers 503 STORE_BUSY with Retry-After once the wait is over, and the message can be sent again', async () => {
    other.exec('BEGIN IMMEDIATE');
    const refused = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: stop });
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.json()).toMatchObject({ status: 503, code: 'STORE_BUSY', detail: expect.stringMatching(/write lock .*nothing changed: try again/) });
    // The answer does not say where the server keeps its database.
    expect(refused.body).not.toContain(fixture.dir);
    other.exec('ROLLBACK');
    const again = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: stop });
    expect(again.statusCode).toBe(200);
    expect(again.json().events.map((e: { type: string }) => e.type)).toEqual(['consent.withdrawn']);
  });

  it('answers reads with what was committed while the lock is held, and the writes once it is free', async () => {
    const first = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: stop });
    expect(first.statusCode).toBe(200);
    const contactId: string = first.json().contactId;
    const hook = await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl: 'https://hooks.example.com/consent', event: 'consent.withdrawn' } });
    expect(hook.statusCode).toBe(201);
    const outbound = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookUrl: 'https://chat.example.com/outbound' } });
    expect(outbound.statusCode).toBe(200);
    const pausedBefore = clock.ms;
    other.exec('BEGIN IMMEDIATE');
    // Promise.resolve starts the injected request now (inject only starts once awaited).
    let written = false;
    const waiting = Promise.resolve(t.as(acme, { method: 'POST', url: '/v1/messages', payload: { ...stop, messageId: 'busy-2', text: 'START' } })).then((res) => {
      written = true;
      return res;
    });
    for (let turn = 0; turn < 1000 && clock.ms === pausedBefore; turn += 1) await new Promise<void>((resolve) => setImmediate(resolve));
    // The write is waiting for the lock now.
    expect(clock.ms).toBeGreaterThan(pausedBefore);
    const reads = [
      `/v1/contacts/${contactId}`,
      `/v1/contacts/${contactId}/consents`,
      `/v1/contacts/${contactId}/consents/history`,
      `/v1/contacts/${contactId}/permission?channel=sms&purpose=marketing`,
      `/v1/contacts/${contactId}/proof`,
      '/v1/contacts?phone=%2B34600000001',
      '/v1/events',
      '/v1/hooks',
      `/v1/hooks/${String(hook.json().id)}/deliveries`,
      '/v1/settings',
      '/v1/me',
    ];
    for (const url of reads) {
      const res = await t.as(acme, { method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
    }
    const permission = await t.as(acme, { method: 'GET', url: `/v1/contacts/${contactId}/permission?channel=sms&purpose=marketing` });
    expect(permission.json()).toMatchObject({ allowed: false, reason: 'opted_out' });
    const events = await t.as(acme, { method: 'GET', url: '/v1/events' });
    expect(events.json().data.map((e: { type: string }) => e.type)).not.toContain('consent.given');
    // The reads did not wait for the lock, which the write is still waiting for.
    expect(written).toBe(false);
    other.exec('ROLLBACK');
    const answered = await waiting;
    expect(answered.statusCode).toBe(200);
    const after = await t.as(acme, { method: 'GET', url: `/v1/contacts/${contactId}/permission?channel=sms&purpose=marketing` });
    expect(after.json()).toMatchObject({ allowed: true, reason: 'opted_in' });
  });

  it('keeps serving what needs no store while a request waits for the lock, and answers that request once the lock is free', async () => {
    other.exec('BEGIN IMMEDIATE');
    const waiting = t.as(acme, { method: 'POST', url: '/v1/messages', payload: stop });
    const docs = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(docs.statusCode).toBe(200);
    other.exec('ROLLBACK');
    const answered = await waiting;
    expect(answered.statusCode).toBe(200);
  });
});

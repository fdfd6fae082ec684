import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { testApp, type Tenant, type TestApp } from './helpers.js';

describe('a database whose write lock another process holds', () => {
  let dir: string;
  let t: TestApp;
  let acme: Tenant;
  let other: BetterSqlite3.Database;
  /** The store's lock-wait clock: each pause yields one turn of the event loop and moves it by the pause asked for. */
  const clock = { ms: 0 };

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-busy-'));
    const file = path.join(dir, 'consentry.db');
    const store = createSqliteStore({
      path: file,
      busyTimeoutMs: 60_000,
      groupCommitClock: () => clock.ms,
      pauseForLock: async (ms) => {
        await new Promise<void>((resolve) => setImmediate(resolve));
        clock.ms += ms;
      },
    });
    t = await testApp({ store });
    acme = await t.tenant('Acme');
    other = new BetterSqlite3(file);
  });

  afterEach(async () => {
    if (other.inTransaction) other.exec('ROLLBACK');
    other.close();
    await t.close();
    await t.store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const stop = { channel: 'sms', messageId: 'busy-1', from: { id: '+34600000001' }, text: 'STOP' };

  it('answers 503 STORE_BUSY with Retry-After once the wait is over, and the message can be sent again', async () => {
    other.exec('BEGIN IMMEDIATE');
    const refused = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: stop });
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.json()).toMatchObject({ status: 503, code: 'STORE_BUSY', detail: expect.stringMatching(/locked by another process.*try again/) });
    other.exec('ROLLBACK');
    const again = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: stop });
    expect(again.statusCode).toBe(200);
    expect(again.json().events.map((e: { type: string }) => e.type)).toEqual(['consent.withdrawn']);
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

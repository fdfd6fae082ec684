import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';
import { testApp, type Tenant, type TestApp } from './helpers.js';

/**
 * A full disk, as SQLite meets it: `max_page_count` caps the file, and a write past it fails with
 * SQLITE_FULL exactly as a write to a full file system does (https://www.sqlite.org/pragma.html#pragma_max_page_count).
 */
describe('a database on a full disk', () => {
  let dir: string;
  let store: SqliteStore;
  let t: TestApp;
  let acme: Tenant;

  let logLines: string[];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-full-'));
    store = createSqliteStore({ path: path.join(dir, 'consentry.db') });
    logLines = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString());
        done();
      },
    });
    t = await testApp({ store, logger: { level: 'info', stream } });
    acme = await t.tenant('Acme');
  });

  afterEach(async () => {
    await t.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const stop = (messageId: string, from: string) => ({ channel: 'sms', messageId, from: { id: from }, text: 'STOP' });

  it('answers 503 STORE_FULL with Retry-After, changes nothing, and takes the message once there is room', async () => {
    const pages = Number(store.db.pragma('page_count', { simple: true }));
    store.db.pragma(`max_page_count = ${pages}`);
    let refused;
    let payload = stop('full-0', '+34600001000');
    // New contacts fill the last free room of the file; the first write past it is refused.
    for (let i = 0; i < 500; i += 1) {
      payload = stop(`full-${i}`, `+3460000${String(1000 + i)}`);
      refused = await t.as(acme, { method: 'POST', url: '/v1/messages', payload });
      if (refused.statusCode !== 200) break;
    }
    expect(refused?.statusCode).toBe(503);
    expect(refused?.headers['retry-after']).toBe('30');
    expect(refused?.json()).toMatchObject({ code: 'STORE_FULL', detail: expect.stringMatching(/disk is full.*nothing was changed/) });
    // The answer does not say where the server keeps its database; the log does.
    expect(refused?.body).not.toContain(dir);

    // Each refusal is one short warning, without a stack trace.
    const refusals = logLines.map((line) => JSON.parse(line) as { level: number; msg: string; err?: unknown; code?: string }).filter((entry) => entry.level >= 40);
    expect(refusals).toEqual([expect.objectContaining({ level: 40, msg: 'request refused: the store cannot take writes now', code: 'STORE_FULL' })]);
    expect(refusals[0]?.err).toBeUndefined();

    // Reads go on, and /health names the trouble: a read commits nothing, and a write that only
    // rewrites a page the file has (as the worker lease's renewal does) proves no room: neither clears it.
    expect((await t.as(acme, { method: 'GET', url: '/v1/me' })).statusCode).toBe(200);
    await store.transaction((tx) => tx.setMeta('workers.lease', { holder: 'renewed', expiresAt: '2026-03-01T09:00:30.000Z' }));
    await store.transaction((tx) => tx.setMeta('workers.lease', { holder: 'renewed', expiresAt: '2026-03-01T09:00:40.000Z' }));
    const sick = await t.app.inject({ method: 'GET', url: '/health' });
    expect(sick.statusCode).toBe(503);
    expect(sick.headers['retry-after']).toBe('30');
    expect(sick.json()).toMatchObject({ code: 'STORE_FULL' });

    store.db.pragma('max_page_count = 1073741823');
    const again = await t.as(acme, { method: 'POST', url: '/v1/messages', payload });
    expect(again.statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/health' })).json()).toStrictEqual({ status: 'ok' });
    expect(again.json().events.map((event: { type: string }) => event.type)).toEqual(['consent.withdrawn']);
    expect(await t.engine.workspace(acme.workspaceId).verifyLedger()).toMatchObject({ ok: true });
  });

  it('reports a refused write for 30 seconds when nothing writes after it', async () => {
    await t.close();
    await store.close();
    let now = 0;
    store = createSqliteStore({ path: path.join(dir, 'clocked.db'), groupCommitClock: () => now });
    t = await testApp({ store });
    acme = await t.tenant('Acme');
    store.db.pragma(`max_page_count = ${Number(store.db.pragma('page_count', { simple: true }))}`);
    let status = 200;
    for (let i = 0; i < 500 && status === 200; i += 1) {
      status = (await t.as(acme, { method: 'POST', url: '/v1/messages', payload: stop(`clocked-${i}`, `+3460000${String(2000 + i)}`) })).statusCode;
    }
    expect(status).toBe(503);
    now += 29_999;
    expect((await t.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(503);
    now += 1;
    expect((await t.app.inject({ method: 'GET', url: '/health' })).json()).toStrictEqual({ status: 'ok' });
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { startTarget } from '../worker/target-server.js';
import { cli } from './helpers.js';
import { killServersAfterEach, serve } from './served.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'consentry-serve-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

// Registered after the directory's removal, so it runs before it (vitest runs after-hooks in reverse).
killServersAfterEach();

/** A POST whose body is sent in two parts: the second only when `release` is called. */
function slowPost(port: number, path: string, key: string, body: string): { started: Promise<void>; release(): void; response: Promise<{ status: number; body: string }> } {
  const bytes = Buffer.from(body);
  const half = Math.floor(bytes.length / 2);
  let markStarted: () => void = () => undefined;
  const started = new Promise<void>((done) => (markStarted = done));
  const req = request({
    host: '127.0.0.1',
    port,
    path,
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'content-length': bytes.length, expect: '100-continue' },
  });
  const response = new Promise<{ status: number; body: string }>((done, fail) => {
    req.once('response', (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.once('end', () => done({ status: res.statusCode ?? 0, body: text }));
    });
    req.once('error', fail);
  });
  // "100 Continue" proves the server has read the headers: the request is in flight.
  req.once('continue', () => req.write(bytes.subarray(0, half), () => markStarted()));
  req.flushHeaders();
  return { started, release: () => req.end(bytes.subarray(half)), response };
}

describe('consentry serve', () => {
  it('refuses a bad PORT, naming it, with exit code 2', async () => {
    const run = await cli(['serve'], { env: { PORT: 'eighty' } });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('PORT: must be an integer between 0 and 65535');
  });

  it("refuses to start on another application's database, in one line, leaving it as it was", async () => {
    const foreign = join(dir, 'crm.db');
    const raw = new Database(foreign);
    raw.exec('CREATE TABLE people (id INTEGER PRIMARY KEY)');
    raw.close();
    const run = await cli(['serve'], { env: { DATABASE_PATH: foreign, PORT: '0' } });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`error: ${foreign} is not a Consentry database: it holds other tables (people) and no Consentry schema\n`);
    const after = new Database(foreign, { readonly: true });
    expect(after.prepare('SELECT name FROM sqlite_master').pluck().all()).toEqual(['people']);
    after.close();

    const onFolder = await cli(['serve'], { env: { DATABASE_PATH: dir, PORT: '0' } });
    expect(onFolder.code).toBe(2);
    expect(onFolder.stderr).toBe(`error: ${dir} is a directory, not a database file\n`);
  });

  it('refuses a bad HOOK_TARGETS_ALLOW_PRIVATE, naming it, with exit code 2', async () => {
    const run = await cli(['serve'], { env: { HOOK_TARGETS_ALLOW_PRIVATE: 'maybe' } });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('HOOK_TARGETS_ALLOW_PRIVATE: must be true, false, 1 or 0');
  });

  it('with HOOK_TARGETS_ALLOW_PRIVATE=true, subscribes and delivers to a hook on the local network', async () => {
    const target = await startTarget();
    try {
      const served = await serve(join(dir, 'consentry.db'), { HOOK_TARGETS_ALLOW_PRIVATE: 'true' });
      await served.waitFor('Ready in');
      const key = /API key: (csk_[A-Za-z0-9_-]+)/.exec(served.output())?.[1] ?? '';
      const base = `http://127.0.0.1:${served.port}`;
      const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
      const created = await fetch(`${base}/v1/hooks`, { method: 'POST', headers, body: JSON.stringify({ targetUrl: target.url, event: 'consent.withdrawn' }) });
      expect(created.status, await created.clone().text()).toBe(201);
      const stop = await fetch(`${base}/v1/messages`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ channel: 'sms', messageId: 'sms-1', from: { id: '+34600000001' }, text: 'STOP' }),
      });
      expect(stop.status).toBe(200);
      await target.waitForRequests(1, 10_000);
      expect(target.received[0]?.headers['x-consentry-event-type']).toBe('consent.withdrawn');
      served.child.kill('SIGTERM');
      expect(await served.exited).toBe(0);
    } finally {
      await target.close();
    }
  }, 30_000);

  it('under npm start, a SIGTERM sent to npm reaches the server, which drains and stops', async () => {
    const served = await serve(join(dir, 'consentry.db'), {}, { launch: 'npm start' });
    await served.waitFor('Ready in');
    expect((await fetch(`http://127.0.0.1:${served.port}/health`)).status).toBe(200);
    served.child.kill('SIGTERM');
    await served.waitFor('Stopped');
    await served.exited;
    // Nothing is left listening on the port: a server orphaned by the shell would still answer.
    await expect(fetch(`http://127.0.0.1:${served.port}/health`)).rejects.toThrow();
  }, 30_000);

  it('a signal that comes again while it drains is said and ignored: the request in flight is answered, exit 0', async () => {
    const served = await serve(join(dir, 'consentry.db'));
    await served.waitFor('Ready in');
    const key = /API key: (csk_[A-Za-z0-9_-]+)/.exec(served.output())?.[1] ?? '';
    const slow = slowPost(served.port, '/v1/messages', key, JSON.stringify({ channel: 'sms', messageId: 'sms-twice', from: { id: '+34600000002' }, text: 'STOP' }));
    await slow.started;
    // As npm passes on the SIGTERM a process manager sent to the whole group, and Ctrl-C reaches both.
    served.child.kill('SIGTERM');
    await served.waitFor('SIGTERM: draining');
    served.child.kill('SIGTERM');
    await served.waitFor('SIGTERM again: already stopping since SIGTERM');
    served.child.kill('SIGINT');
    await served.waitFor('SIGINT again');
    slow.release();
    const answer = await slow.response;
    expect(answer.status, answer.body).toBe(200);
    expect(answer.body).toContain('consent.withdrawn');
    expect(await served.exited).toBe(0);
    expect(served.output()).toContain('Stopped');
  }, 30_000);

  it('prints the first key once, serves, drains an in-flight request on SIGTERM and exits 0 with the database intact', async () => {
    const db = join(dir, 'consentry.db');
    const spawnedAt = performance.now();
    const first = await serve(db);
    await first.waitFor('Ready in');
    const health = await fetch(`http://127.0.0.1:${first.port}/health`);
    expect(health.status).toBe(200);
    const readyMs = Math.round(performance.now() - spawnedAt);
    console.log(`serve: spawn to first /health 200 in ${readyMs} ms`);
    expect(readyMs).toBeLessThan(10_000);

    const printed = first.output();
    const key = /API key: (csk_[A-Za-z0-9_-]+)/.exec(printed)?.[1] ?? '';
    expect(key).not.toBe('');
    expect(printed).toContain(`http://127.0.0.1:${first.port}/docs`);
    expect(printed).toContain(`http://127.0.0.1:${first.port}/openapi.json`);
    expect(printed).toContain('Workspace "Default workspace": privacyPolicyUrl: is not set, so request-consent-privacy (on conversation_opened) starts nothing');

    const base = `http://127.0.0.1:${first.port}`;
    const stop = await fetch(`${base}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'sms', messageId: 'sms-1', from: { id: '+34600000001' }, text: 'STOP' }),
    });
    expect(stop.status).toBe(200);

    const rows = Array.from({ length: 50 }, (_, i) => ({ email: `person${i}@example.com`, purpose: 'marketing', channel: 'email', status: 'opted_out' }));
    const slow = slowPost(first.port, '/v1/consents/bulk', key, JSON.stringify({ rows }));
    await slow.started;
    first.child.kill('SIGTERM');
    await first.waitFor('SIGTERM: draining');
    slow.release();
    const answer = await slow.response;
    expect(answer.status, answer.body).toBe(200);
    expect(answer.body.match(/"ok":true/g)).toHaveLength(50);
    expect(await first.exited).toBe(0);
    expect(first.output()).toContain('Stopped');

    const store = createSqliteStore({ path: db });
    try {
      expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
      const engine = createEngine({ store });
      const [workspace] = await engine.listWorkspaces();
      const report = await engine.workspace(workspace?.id ?? '').verifyLedger();
      expect(report).toMatchObject({ ok: true, records: 51 });
    } finally {
      await store.close();
    }

    const second = await serve(db);
    await second.waitFor('Ready in');
    expect((await fetch(`http://127.0.0.1:${second.port}/v1/me`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
    expect(second.output()).not.toContain('API key:');
    expect(second.output()).toContain('privacyPolicyUrl: is not set, so request-consent-privacy (on conversation_opened) starts nothing');
  }, 60_000);

  it('says nothing about the consent workflow once the privacy policy URL is set', async () => {
    const db = join(dir, 'configured.db');
    const first = await serve(db);
    await first.waitFor('Ready in');
    const key = /API key: (csk_[A-Za-z0-9_-]+)/.exec(first.output())?.[1] ?? '';
    const patched = await fetch(`http://127.0.0.1:${first.port}/v1/settings`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ privacyPolicyUrl: 'https://example.com/privacy' }),
    });
    expect(patched.status).toBe(200);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    const second = await serve(db);
    await second.waitFor('Ready in');
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(second.output()).toContain('Consentry listening');
    expect(second.output()).not.toContain('privacyPolicyUrl');
  }, 60_000);
});

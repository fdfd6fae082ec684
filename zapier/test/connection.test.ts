import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Bundle, createAppTester, type ZObject } from 'zapier-platform-core';
import { FakeClock } from '../../src/ports/clock.js';
import { startServer } from '../../src/server/index.js';
import { createMemoryStore } from '../../src/store/memory.js';
import app from '../src/index.js';
import { errorDetails, rejection } from './helpers.js';

// The connection test against a real Consentry server on 127.0.0.1 (no msw here: it would
// intercept the loopback calls).

type Operation = (z: ZObject, bundle: Bundle) => unknown;
const appTester = createAppTester(app);
const connectionTest = app.authentication?.test;

let server: Awaited<ReturnType<typeof startServer>>;
let key = '';

beforeAll(async () => {
  server = await startServer({ store: createMemoryStore(), clock: new FakeClock('2026-03-01T09:00:00.000Z'), host: '127.0.0.1', port: 0, logger: false, workers: () => [] });
  key = (await server.createWorkspaceWithKey('Ana Test Shop')).key;
});

afterAll(async () => {
  await server?.close();
});

function testConnection(authData: { serverUrl: string; apiKey: string }): Promise<unknown> {
  if (typeof connectionTest !== 'function') throw new Error('the app has no connection test function');
  return appTester(connectionTest as Operation, { authData });
}

describe('the API key as pasted, on a real server', () => {
  it.each([
    ['line breaks', '\n'],
    ['tabs', '\t'],
    ['spaces', ' '],
    ['a Windows line end', '\r\n'],
  ])('works with %s around it: the key sent is the key checked, trimmed', async (_what, pad) => {
    expect(await testConnection({ serverUrl: server.url, apiKey: `${pad}${key}${pad}` })).toMatchObject({ name: 'Ana Test Shop' });
  });

  it('never repeats the key in an error: one with a line break inside, or one the server does not know', async () => {
    const broken = `${key.slice(0, 12)}\n${key.slice(12)}`;
    const inside = await rejection(testConnection({ serverUrl: server.url, apiKey: broken }));
    expect(errorDetails(inside)).toMatchObject({ name: 'AppError', code: 'INVALID_CONNECTION' });
    const unknown = `\n${key.slice(0, -4)}AAAA\n`;
    const refused = await rejection(testConnection({ serverUrl: server.url, apiKey: unknown }));
    expect(refused.name).toBe('ExpiredAuthError');
    for (const error of [inside, refused]) {
      // Any part of the key past its public prefix (csk_) would give it away.
      expect(error.message).not.toContain(key.slice(4, 16));
      expect(error.message).not.toContain(key.slice(12));
      expect(error.message).not.toContain(key.slice(-16, -4));
    }
  });
});

describe('a server that does not answer the connection test', () => {
  it('says so without promising a retry: Zapier shows the error in the connection dialog and replays nothing', async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const details = errorDetails(await rejection(testConnection({ serverUrl: `http://127.0.0.1:${port}`, apiKey: key })));
    expect(details).toMatchObject({ name: 'AppError', code: 'SERVER_UNREACHABLE' });
    expect(details.message).toContain(`Zapier got no answer from your Consentry server at http://127.0.0.1:${port}: nothing answered at that address (connection refused)`);
    expect(details.message).not.toMatch(/retry/i);
  });
});

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type Bundle, createAppTester, type ZObject } from 'zapier-platform-core';
import { networkFailure, REQUEST_TIMEOUT_MS, ServerUrlSchema } from '../src/api.js';
import recordConsent from '../src/creates/record_consent.js';
import app from '../src/index.js';
import findContact from '../src/searches/find_contact.js';
import { errorDetails, rejection } from './helpers.js';

// Network failures need a real socket: these tests use servers on 127.0.0.1 (no msw, which would
// answer for them).

type Operation = (z: ZObject, bundle: Bundle) => unknown;
const appTester = createAppTester(app);
const API_KEY = 'ck_test_0000000000000000';

function run(operation: unknown, serverUrl: string, inputData: Record<string, unknown>): Promise<unknown> {
  if (typeof operation !== 'function') throw new Error('not an operation function');
  return appTester(operation as Operation, { authData: { serverUrl, apiKey: API_KEY }, inputData });
}

const CONTACT = {
  id: '01JQ7ZK4C2V9N8M3T5R6W1XYZA',
  name: 'Ana Test',
  email: 'ana.test@example.com',
  phone: '+34600000001',
  tags: [],
  fields: {},
  createdAt: '2026-03-01T09:00:00.000Z',
  updatedAt: '2026-03-01T09:00:00.000Z',
};

const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
});

async function listen(handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A port nothing listens on: taken from the system, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A Consentry stand-in that finds the contact, then cuts the connection of every PUT after reading
 * it, as a server that crashed (or a proxy that dropped it) after receiving the change would.
 */
async function serverCuttingWrites(): Promise<{ url: string; writes: string[] }> {
  const writes: string[] = [];
  const url = await listen((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.method === 'PUT') {
        writes.push(Buffer.concat(chunks).toString('utf8'));
        request.socket.destroy();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ data: [CONTACT], nextCursor: null }));
    });
  });
  return { url, writes };
}

const optOut = { email: 'ana.test@example.com', channel: 'sms', status: 'opted_out' };

describe('ServerUrlSchema', () => {
  it('keeps the base address: trailing slashes, a pasted /v1 or /docs and spaces go, a path prefix stays', () => {
    expect(ServerUrlSchema.parse(' https://consent.example.com/ ')).toBe('https://consent.example.com');
    expect(ServerUrlSchema.parse('https://consent.example.com/v1')).toBe('https://consent.example.com');
    expect(ServerUrlSchema.parse('https://consent.example.com/v1/')).toBe('https://consent.example.com');
    expect(ServerUrlSchema.parse('https://consent.example.com/docs')).toBe('https://consent.example.com');
    expect(ServerUrlSchema.parse('https://example.com/consentry/docs/')).toBe('https://example.com/consentry');
    expect(ServerUrlSchema.parse('https://example.com/consentry')).toBe('https://example.com/consentry');
  });

  it('refuses http:// for a server on the internet, saying HTTPS is required and why', () => {
    const parsed = ServerUrlSchema.safeParse('http://consent.example.com');
    expect(parsed.success).toBe(false);
    const message = parsed.error?.issues[0]?.message ?? '';
    expect(message).toContain('must start with https://');
    expect(message).toContain('must not travel unencrypted');
    expect(ServerUrlSchema.safeParse('ftp://consent.example.com').success).toBe(false);
    expect(ServerUrlSchema.safeParse('consent.example.com').success).toBe(false);
  });

  it('accepts http:// for the machine itself only (tests and local trials)', () => {
    expect(ServerUrlSchema.parse('http://localhost:8080/')).toBe('http://localhost:8080');
    expect(ServerUrlSchema.parse('http://127.0.0.1:38600')).toBe('http://127.0.0.1:38600');
    expect(ServerUrlSchema.parse('http://[::1]:3000/v1')).toBe('http://[::1]:3000');
    expect(ServerUrlSchema.safeParse('http://127.0.0.2:38600').success).toBe(false);
  });

  it('refuses a query, a fragment or credentials in the address', () => {
    expect(ServerUrlSchema.safeParse('https://consent.example.com/?x=1').error?.issues[0]?.message).toContain('without ?query');
    expect(ServerUrlSchema.safeParse('https://consent.example.com/#top').success).toBe(false);
    expect(ServerUrlSchema.safeParse('https://ana:secret@consent.example.com').success).toBe(false);
  });
});

describe('networkFailure', () => {
  it('tells failures before any byte was sent from those after', () => {
    const fetchError = (fields: Record<string, unknown>) => Object.assign(new Error('request failed'), { name: 'FetchError', ...fields });
    expect(networkFailure(fetchError({ type: 'system', code: 'ECONNREFUSED' }))).toEqual({
      reason: 'nothing answered at that address (connection refused)',
      maybeReceived: false,
    });
    expect(networkFailure(fetchError({ type: 'system', code: 'ENOTFOUND' }))).toMatchObject({ maybeReceived: false, reason: expect.stringContaining('DNS') });
    expect(networkFailure(fetchError({ type: 'system', code: 'CERT_HAS_EXPIRED' }))).toMatchObject({ maybeReceived: false });
    expect(networkFailure(fetchError({ type: 'request-timeout' }))).toEqual({
      reason: `it did not answer within ${REQUEST_TIMEOUT_MS / 1000} s`,
      maybeReceived: true,
    });
    expect(networkFailure(fetchError({ type: 'system', code: 'ECONNRESET' }))).toMatchObject({ maybeReceived: true });
    expect(networkFailure(new Error('something else'))).toBeNull();
    expect(networkFailure('not an error')).toBeNull();
  });
});

describe('a server that cannot be reached', () => {
  it('is retried like a 503, named by its origin only: no path, no query, no contact data', async () => {
    const port = await closedPort();
    const error = await rejection(run(recordConsent.operation.perform, `http://127.0.0.1:${port}/consentry`, optOut));
    const details = errorDetails(error);
    expect(details.name).toBe('ThrottledError');
    expect(details.delay).toBe(60);
    expect(details.message).toContain(`Zapier got no answer from your Consentry server at http://127.0.0.1:${port}: nothing answered at that address (connection refused)`);
    expect(details.message).toContain('Check the Server URL');
    for (const leak of ['/consentry', '/v1', '?', 'ana.test', '%40']) expect(details.message).not.toContain(leak);
  });

  it('cuts a read: retried, as a read changes nothing', async () => {
    const url = await listen((request) => request.socket.destroy());
    const error = await rejection(run(findContact.operation.perform, url, { email: 'ana.test@example.com' }));
    expect(errorDetails(error)).toMatchObject({ name: 'ThrottledError', delay: 60 });
    expect(errorDetails(error).message).toContain(`Zapier got no answer from your Consentry server at ${url}`);
  });
});

describe('a write without an idempotency key whose outcome is unknown', () => {
  it('is not retried automatically, and the error says it may have been recorded and how to make a replay safe', async () => {
    const server = await serverCuttingWrites();
    const error = await rejection(run(recordConsent.operation.perform, server.url, optOut));
    const details = errorDetails(error);
    expect(details).toMatchObject({ name: 'AppError', code: 'OUTCOME_UNKNOWN' });
    expect(details.message).toContain('may or may not have been applied');
    expect(details.message).toContain('Zapier does not retry this step on its own');
    expect(details.message).toContain('Idempotency Key');
    expect(details.message).not.toContain('ana.test');
    expect(server.writes).toHaveLength(1);
  });

  it('is retried when an idempotency key makes a repeat safe', async () => {
    const server = await serverCuttingWrites();
    const error = await rejection(run(recordConsent.operation.perform, server.url, { ...optOut, idempotencyKey: 'form-42' }));
    expect(errorDetails(error).name).toBe('ThrottledError');
    expect(server.writes.map((body) => JSON.parse(body))).toEqual([{ status: 'opted_out', idempotencyKey: 'form-42' }]);
  });
});

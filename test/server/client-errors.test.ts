import { createServer } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildApp } from '../../src/server/app.js';
import { clientErrorHandler, trackUnsentResponses } from '../../src/server/client-errors.js';
import { ProblemSchema } from '../../src/server/problem.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { testApp, type Tenant, type TestApp } from './helpers.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** Writes `raw` on a new connection to the server on 127.0.0.1 and reads until the server closes it. */
async function exchange(raw: string): Promise<string> {
  return exchangeWith(await buildApp({ store: createMemoryStore(), defaultMetrics: false }), raw);
}

/** `exchange` with a server of the caller's. */
async function exchangeWith(server: FastifyInstance, raw: string): Promise<string> {
  app = server;
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(raw));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(answer));
  });
}

/** The last response on the connection: a request read before the unreadable bytes is answered first, as usual. */
function parsed(answer: string): { status: string; headers: string; body: unknown } {
  const last = answer.slice(answer.lastIndexOf('HTTP/1.1 '));
  const [head = '', body = ''] = last.split('\r\n\r\n');
  const [status = '', ...headers] = head.split('\r\n');
  return { status, headers: headers.join('\n').toLowerCase(), body: JSON.parse(body) };
}

describe('a request Node cannot read as HTTP', () => {
  it('is answered 400 BAD_REQUEST in problem+json when the body runs past its Content-Length', async () => {
    const body = '{"name":"Ana Test"}';
    const answer = parsed(await exchange(`POST /v1/contacts HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n${body}`));
    // The first 5 bytes were the request's body (answered 401: no key); the rest cannot be a request.
    expect(answer.status).toBe('HTTP/1.1 400 Bad Request');
    expect(answer.headers).toContain('content-type: application/problem+json');
    expect(answer.headers).toContain('connection: close');
    expect(ProblemSchema.parse(answer.body)).toMatchObject({ status: 400, code: 'BAD_REQUEST' });
  });

  it('is answered 400 BAD_REQUEST for a malformed request line', async () => {
    const answer = parsed(await exchange('GET /health HTTP/1.1 extra\r\nHost: localhost\r\n\r\n'));
    expect(answer.status).toBe('HTTP/1.1 400 Bad Request');
    expect(ProblemSchema.parse(answer.body)).toMatchObject({
      code: 'BAD_REQUEST',
      detail: 'The request is not valid HTTP/1.1: a malformed request line or header, or a body that does not match its Content-Length',
    });
  });

  it('is answered 431 HEADERS_TOO_LARGE for headers past what the server reads', async () => {
    const answer = parsed(await exchange(`GET /health HTTP/1.1\r\nHost: localhost\r\nX-Filler: ${'a'.repeat(20_000)}\r\n\r\n`));
    expect(answer.status).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(answer.headers).toContain('content-type: application/problem+json');
    expect(ProblemSchema.parse(answer.body)).toMatchObject({ status: 431, code: 'HEADERS_TOO_LARGE' });
  });
});

describe('a request with a valid key followed by bytes past its Content-Length', () => {
  const EXTRA = 'EXTRA-BYTES-NOT-HTTP\r\n\r\n';

  function post(tenant: Tenant, url: string, body: unknown): string {
    const json = JSON.stringify(body);
    return (
      `POST ${url} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${tenant.key}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}${EXTRA}`
    );
  }

  /**
   * Holds the store's writes until the server has met the unreadable bytes, so the route is
   * certainly still running when they arrive, however the bytes are split on the wire.
   */
  function writesAfterTheUnreadableBytes(t: TestApp): void {
    const seen = new Promise<void>((resolve) => t.app.server.once('clientError', () => resolve()));
    const transaction = t.store.transaction.bind(t.store);
    vi.spyOn(t.store, 'transaction').mockImplementation(async (fn) => {
      await seen;
      return transaction(fn);
    });
  }

  /** Every response on the connection, in order. */
  function responses(answer: string): { status: string; headers: string; body: unknown }[] {
    return answer
      .split(/(?=HTTP\/1\.1 \d{3} )/)
      .filter((part) => part !== '')
      .map((part) => {
        const [head = '', body = ''] = part.split('\r\n\r\n');
        const [status = '', ...headers] = head.split('\r\n');
        return { status, headers: headers.join('\n').toLowerCase(), body: JSON.parse(body) };
      });
  }

  it('answers a contact it creates with its 201, then closes the connection', async () => {
    const t = await testApp();
    const acme = await t.tenant('Acme');
    writesAfterTheUnreadableBytes(t);
    const answers = responses(await exchangeWith(t.app, post(acme, '/v1/contacts', { name: 'Ana Test', email: 'ana.test@example.com' })));
    expect(answers.map((answer) => answer.status)).toEqual(['HTTP/1.1 201 Created']);
    const [created] = answers;
    expect(created?.headers).toContain('connection: close');
    expect(created?.body).toMatchObject({ name: 'Ana Test', email: 'ana.test@example.com' });
    const { id } = created?.body as { id: string };
    const stored = await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}` });
    expect(stored.statusCode).toBe(200);
  });

  it('answers a STOP it records with its 200, logged like any other request', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const t = await testApp({ logger: { level: 'info', stream } });
    const acme = await t.tenant('Acme');
    writesAfterTheUnreadableBytes(t);
    const stop = { channel: 'whatsapp', messageId: 'wamid.overrun', from: { id: '+34600000001', name: 'Ana Test' }, text: 'STOP' };
    const answers = responses(await exchangeWith(t.app, post(acme, '/v1/messages', stop)));
    expect(answers.map((answer) => answer.status)).toEqual(['HTTP/1.1 200 OK']);
    const { contactId } = answers[0]?.body as { contactId: string };
    const permission = await t.as(acme, { method: 'GET', url: `/v1/contacts/${contactId}/permission?channel=whatsapp&purpose=marketing` });
    expect(permission.json()).toMatchObject({ allowed: false, status: 'opted_out' });
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries).toContainEqual(
      expect.objectContaining({ msg: 'request completed', req: expect.objectContaining({ method: 'POST', url: '/v1/messages' }), res: { statusCode: 200 } }),
    );
  });
});

describe('bytes Node cannot read inside a request whose response has begun', () => {
  it('adds nothing to that response and closes the connection', async () => {
    // A route that answers before it reads the body: its head and a first chunk are on the wire.
    const server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.write('begun');
    });
    trackUnsentResponses(server);
    server.on('clientError', (error, socket) => clientErrorHandler.call(undefined as never, error as Parameters<typeof clientErrorHandler>[0], socket as Socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port }, () =>
          socket.write('POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n'),
        );
        let received = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => {
          const first = !received.includes('begun');
          received += chunk;
          if (first && received.includes('begun')) socket.write('not-a-chunk-size\r\n\r\n');
        });
        socket.on('error', reject);
        socket.on('close', () => resolve(received));
      });
      expect(answer.startsWith('HTTP/1.1 200 OK')).toBe(true);
      expect(answer).toContain('begun');
      expect(answer).not.toContain('HTTP/1.1 400');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('the answer to a connection Node gave up on', () => {
  /** A socket stand-in that keeps what is written to it (the handler writes, then destroys). */
  function socketKeepingWrites(): { socket: Socket; written: () => string } {
    const stream = new PassThrough();
    const chunks: string[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
    stream.on('error', () => {});
    return { socket: stream as unknown as Socket, written: () => chunks.join('') };
  }

  it('is 408 REQUEST_TIMEOUT when the headers did not arrive in time', async () => {
    const { socket, written } = socketKeepingWrites();
    const timeout = Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT', bytesParsed: 0, rawPacket: { type: 'Buffer', data: [] } });
    clientErrorHandler.call(undefined as never, timeout, socket);
    await new Promise((resolve) => setImmediate(resolve));
    const answer = parsed(written());
    expect(answer.status).toBe('HTTP/1.1 408 Request Timeout');
    expect(ProblemSchema.parse(answer.body)).toMatchObject({ status: 408, code: 'REQUEST_TIMEOUT' });
    expect(socket.destroyed).toBe(true);
  });

  it('writes nothing to a connection the client reset', () => {
    const { socket, written } = socketKeepingWrites();
    clientErrorHandler.call(undefined as never, Object.assign(new Error('reset'), { code: 'ECONNRESET', bytesParsed: 0, rawPacket: { type: 'Buffer', data: [] } }), socket);
    expect(written()).toBe('');
  });
});

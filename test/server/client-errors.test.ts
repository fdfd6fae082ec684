import { connect, type AddressInfo, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/app.js';
import { clientErrorHandler } from '../../src/server/client-errors.js';
import { ProblemSchema } from '../../src/server/problem.js';
import { createMemoryStore } from '../../src/store/memory.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** Writes `raw` on a new connection to the server on 127.0.0.1 and reads until the server closes it. */
async function exchange(raw: string): Promise<string> {
  app = await buildApp({ store: createMemoryStore(), defaultMetrics: false });
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
    expect(ProblemSchema.parse(answer.body)).toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('is answered 431 HEADERS_TOO_LARGE for headers past what the server reads', async () => {
    const answer = parsed(await exchange(`GET /health HTTP/1.1\r\nHost: localhost\r\nX-Filler: ${'a'.repeat(20_000)}\r\n\r\n`));
    expect(answer.status).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(answer.headers).toContain('content-type: application/problem+json');
    expect(ProblemSchema.parse(answer.body)).toMatchObject({ status: 431, code: 'HEADERS_TOO_LARGE' });
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

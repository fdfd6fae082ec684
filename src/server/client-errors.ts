import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyServerOptions } from 'fastify';
import { problem, PROBLEM_CONTENT_TYPE, type Problem } from './problem.js';

/** Node's error for a connection that did not send its whole request in time (https://nodejs.org/api/http.html#serverrequesttimeout). */
const REQUEST_TIMEOUT = 'ERR_HTTP_REQUEST_TIMEOUT';
/** llhttp's error for headers past the server's maxHeaderSize (https://nodejs.org/api/cli.html#--max-http-header-sizesize). */
const HEADER_OVERFLOW = 'HPE_HEADER_OVERFLOW';

/**
 * The response to the last request Node read on each connection, until it is sent: 'clientError'
 * itself carries no request (https://nodejs.org/api/http.html#event-clienterror). Requests on a
 * connection are answered in the order they came (RFC 9112 §9.3.2), so the last one's response is
 * the last to be written.
 */
const unsentResponses = new WeakMap<Socket, ServerResponse>();

/**
 * Keeps, for clientErrorHandler, the response each connection of `server` owes: set as Node emits
 * the request ('request', https://nodejs.org/api/http.html#event-request), before any route runs,
 * so it is known when the bytes after the request are found unreadable in the same read; cleared
 * when the response is sent ('finish').
 */
export function trackUnsentResponses(server: Server): void {
  server.prependListener('request', (request: IncomingMessage, response: ServerResponse) => {
    const { socket } = request;
    unsentResponses.set(socket, response);
    response.once('finish', () => {
      if (unsentResponses.get(socket) === response) unsentResponses.delete(socket);
    });
  });
}

/** The connections whose unreadable bytes came after a whole request: closed once that request is answered. */
const closingAfterResponse = new WeakSet<Socket>();

/** What a request Node's HTTP parser could not read is answered: the same problem+json as every other error. */
function clientProblem(code: string | undefined): Problem {
  if (code === REQUEST_TIMEOUT) return problem(408, 'REQUEST_TIMEOUT', 'The request did not arrive in time: send it again');
  if (code === HEADER_OVERFLOW) return problem(431, 'HEADERS_TOO_LARGE', 'The request headers are larger than the server reads (16 KiB in all)');
  return problem(400, 'BAD_REQUEST', 'The request is not valid HTTP/1.1: a malformed request line or header, or a body that does not match its Content-Length');
}

/**
 * The request before the unreadable bytes was read whole and is being served: a route may already
 * have applied it. Its own response is the client's answer, so it is sent in full, says
 * `Connection: close`, and the connection is closed after it. No 400 follows it: a client stops
 * reading a connection after a response that says `close`, and the server that sent one must not
 * answer anything else on it (RFC 9112 §9.6, https://www.rfc-editor.org/rfc/rfc9112#section-9.6).
 * The parser stays in its error state, so every later chunk on the connection raises
 * 'clientError' again: those are ignored.
 */
function closeAfterResponse(socket: Socket, response: ServerResponse): void {
  if (closingAfterResponse.has(socket)) return;
  closingAfterResponse.add(socket);
  // Node closes the connection itself after a response that says `close`; one whose head is
  // already written (keep-alive) is closed here once sent. 'close' also comes when it is aborted.
  if (!response.headersSent) response.setHeader('Connection', 'close');
  response.once('close', () => socket.destroySoon());
}

/**
 * Answers a request that never reaches a route, because Node's parser refused it ('clientError',
 * https://nodejs.org/api/http.html#event-clienterror), in problem+json rather than Fastify's own
 * JSON, then closes the connection as Node does: what follows on it cannot be read either. A
 * connection the client reset, or one already gone, gets nothing.
 *
 * When the unreadable bytes follow a request that was read whole and is not answered yet (a body
 * running past its Content-Length), that request is answered instead, then the connection closed.
 * When the request they belong to is still being read and its response has begun, nothing is
 * written: a 400 would land inside that response (Node's own handler checks the same).
 */
export const clientErrorHandler: NonNullable<FastifyServerOptions['clientErrorHandler']> = (error, socket: Socket) => {
  const code: unknown = Reflect.get(error, 'code');
  if (code === 'ECONNRESET' || socket.destroyed) return;
  const unsent = unsentResponses.get(socket);
  if (unsent !== undefined && !unsent.writableFinished) {
    if (unsent.req.complete) {
      closeAfterResponse(socket, unsent);
      return;
    }
    if (unsent.headersSent) {
      socket.destroy(error);
      return;
    }
  }
  if (socket.writable) {
    const answer = clientProblem(typeof code === 'string' ? code : undefined);
    const body = JSON.stringify(answer);
    socket.write(
      `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? 'Error'}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
};

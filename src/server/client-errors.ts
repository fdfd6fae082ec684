import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyServerOptions } from 'fastify';
import { problem, PROBLEM_CONTENT_TYPE, type Problem } from './problem.js';

/** Node's error for a connection that did not send its whole request in time (https://nodejs.org/api/http.html#serverrequesttimeout). */
const REQUEST_TIMEOUT = 'ERR_HTTP_REQUEST_TIMEOUT';
/** llhttp's error for headers past the server's maxHeaderSize (https://nodejs.org/api/cli.html#--max-http-header-sizesize). */
const HEADER_OVERFLOW = 'HPE_HEADER_OVERFLOW';

/** What a request Node's HTTP parser could not read is answered: the same problem+json as every other error. */
function clientProblem(code: string | undefined): Problem {
  if (code === REQUEST_TIMEOUT) return problem(408, 'REQUEST_TIMEOUT', 'The request did not arrive in time: send it again');
  if (code === HEADER_OVERFLOW) return problem(431, 'HEADERS_TOO_LARGE', 'The request headers are larger than the server reads (16 KiB in all)');
  return problem(400, 'BAD_REQUEST', 'The request is not valid HTTP/1.1: a malformed request line or header, or more body than its Content-Length');
}

/**
 * Answers a request that never reaches a route, because Node's parser refused it ('clientError',
 * https://nodejs.org/api/http.html#event-clienterror), in problem+json rather than Fastify's own
 * JSON, then closes the connection as Node does: what follows on it cannot be read either. A
 * connection the client reset, or one already gone, gets nothing.
 */
export const clientErrorHandler: NonNullable<FastifyServerOptions['clientErrorHandler']> = (error, socket: Socket) => {
  const code: unknown = Reflect.get(error, 'code');
  if (code === 'ECONNRESET' || socket.destroyed) return;
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

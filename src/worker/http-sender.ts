import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import got, { RequestError } from 'got';
import { ALLOW_PRIVATE_HINT, guardedLookup, hasRefusedTargetHost, TARGET_NOT_PUBLIC_CODE, type TargetPolicy } from './target-guard.js';

export interface DeliveryRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** Cancels the request (the dispatcher's stop deadline). */
  signal?: AbortSignal;
}

export type DeliveryResponse =
  | {
      kind: 'response';
      statusCode: number;
      retryAfter: string | undefined;
      /** A redirect's Location header, as the target sent it (redirects are not followed). */
      location?: string | undefined;
      /** The start of the answer's body, as text with whitespace runs folded (for a delivery's lastError). */
      bodyPrefix: string;
    }
  /** No HTTP answer: timeout, refused or reset connection, DNS failure. */
  | { kind: 'network_error'; code: string | null; message: string }
  /** Not sent: the target's address is not public (see target-guard.ts). */
  | { kind: 'target_not_public'; message: string };

/** How the dispatcher reaches a target; the one place that does HTTP. */
export interface DeliverySender {
  send(request: DeliveryRequest): Promise<DeliveryResponse>;
  close(): void;
}

const MAX_ERROR_LENGTH = 500;
/**
 * What is read of an answer's body at most. Only the status matters; reading a small body to its
 * end lets the connection be reused, and anything longer is cut off (the connection is closed)
 * so a receiver answering with a huge or endless body costs no memory.
 */
export const MAX_RESPONSE_BODY_BYTES = 64 * 1024;
/** What of the body is kept for a delivery's lastError. */
const BODY_PREFIX_BYTES = 1024;
const BODY_PREFIX_CHARS = 200;

/**
 * How long a TCP connection to a target may take to open, within the request's own timeout. A
 * handshake takes a round trip; a target that has not completed it in 3 s (two SYN retransmits)
 * is a dropped or blackholed address, and waiting the whole request timeout for it only keeps a
 * request slot busy. A connection that opens and then never answers still has the full timeout.
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 3000;

export interface HttpSenderOptions {
  /**
   * Also send to private-use and loopback addresses (receivers on the server's own network);
   * link-local and other reserved addresses stay refused (target-guard.ts).
   */
  allowPrivateTargets?: boolean;
  /** Resolves target host names (default `dns.lookup`); its answers are checked. */
  lookup?: LookupFunction;
  /** See DEFAULT_CONNECT_TIMEOUT_MS; capped by each request's `timeoutMs`. */
  connectTimeoutMs?: number;
}

/**
 * got 14 with its own retries off (the dispatcher owns retries, with state in the store) and
 * redirects not followed (a webhook target answers where it was registered; a redirect is a
 * misconfiguration to show, not to chase with a signed body). Keep-alive agents spare a TCP
 * (and TLS) handshake per delivery to the same target.
 *
 * A URL whose host is an IP address the target policy refuses is not sent (Node connects to an
 * IP address without a lookup), and host names resolve through a guarded lookup
 * (https://github.com/sindresorhus/got/blob/main/documentation/2-options.md#dnslookup), so the
 * address actually connected to is the one checked. With private targets allowed the guard
 * stays on: it lets private-use and loopback addresses through, never link-local ones.
 *
 * got's `timeout.connect` runs from the end of the lookup (or from the socket's creation for an
 * IP address) to the TCP connection
 * (https://github.com/sindresorhus/got/blob/main/documentation/6-timeout.md).
 */
export function createHttpSender(options: HttpSenderOptions = {}): DeliverySender {
  const policy: TargetPolicy = { allowPrivate: options.allowPrivateTargets === true };
  const dnsLookup = guardedLookup(options.lookup, policy);
  const connectTimeoutMs = Math.max(1, options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  const agent = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
  // Options merged once: got re-merges per-call options on every request, a real cost at volume.
  const client = got.extend({ retry: { limit: 0 }, throwHttpErrors: false, followRedirect: false, agent, dnsLookup });
  return {
    send(request) {
      if (hasRefusedTargetHost(request.url, policy)) {
        const host = new URL(request.url).hostname;
        const literal = host.startsWith('[') || isIP(host) !== 0;
        const kind = policy.allowPrivate === true ? 'a link-local or reserved' : 'a private or reserved';
        // Named as the refusal of a new hook names it (refusedTargetMessage): a server on the same
        // database started without the setting refuses the targets another one was allowed.
        const opened = policy.allowPrivate !== true && !hasRefusedTargetHost(request.url, { allowPrivate: true });
        return Promise.resolve({
          kind: 'target_not_public',
          message: (literal ? `${host} is ${kind} address` : `${host} is a loopback name`) + (opened ? ` ${ALLOW_PRIVATE_HINT}` : ''),
        });
      }
      return new Promise<DeliveryResponse>((resolve) => {
        const stream = client.stream.post(request.url, {
          body: request.body,
          headers: request.headers,
          timeout: { request: request.timeoutMs, connect: Math.min(connectTimeoutMs, request.timeoutMs) },
          ...(request.signal ? { signal: request.signal } : {}),
        });
        let answer: { statusCode: number; retryAfter: string | undefined; location: string | undefined } | null = null;
        const prefix: Buffer[] = [];
        let kept = 0;
        let read = 0;
        let settled = false;
        // The outcome is known once the status is in (and, for a refusal, the start of its body
        // for lastError); the rest of the body is read on, up to the bound, after the answer.
        const settle = (): void => {
          if (settled || !answer) return;
          settled = true;
          resolve({ kind: 'response', ...answer, bodyPrefix: bodyText(prefix) });
        };
        stream.on('response', (response) => {
          const retryAfter = response.headers['retry-after'];
          const { location } = response.headers;
          answer = {
            statusCode: response.statusCode,
            retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
            location: typeof location === 'string' ? location : undefined,
          };
          if (response.statusCode >= 200 && response.statusCode < 300) settle();
        });
        stream.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (kept < BODY_PREFIX_BYTES) {
            const part = chunk.subarray(0, BODY_PREFIX_BYTES - kept);
            prefix.push(part);
            kept += part.length;
          }
          if (kept >= BODY_PREFIX_BYTES) settle();
          if (read > MAX_RESPONSE_BODY_BYTES) stream.destroy();
        });
        stream.on('end', settle);
        stream.on('error', (error: unknown) => {
          // A body cut short by a timeout or a reset does not change an answer already given.
          if (answer) {
            settle();
            return;
          }
          if (settled) return;
          settled = true;
          resolve(failure(error));
        });
      });
    },
    close() {
      agent.http.destroy();
      agent.https.destroy();
    },
  };
}

function failure(error: unknown): DeliveryResponse {
  if (error instanceof RequestError && error.code === TARGET_NOT_PUBLIC_CODE) {
    return { kind: 'target_not_public', message: error.message.slice(0, MAX_ERROR_LENGTH) };
  }
  if (error instanceof RequestError) {
    return { kind: 'network_error', code: error.code ?? null, message: error.message.slice(0, MAX_ERROR_LENGTH) };
  }
  return { kind: 'network_error', code: null, message: (error instanceof Error ? error.message : String(error)).slice(0, MAX_ERROR_LENGTH) };
}

/** A body's start as one line of text: receivers answer HTML pages and JSON alike. */
function bodyText(chunks: readonly Buffer[]): string {
  const text = Buffer.concat(chunks).toString('utf8').replace(/[\s\u0000-\u001f\u007f]+/g, ' ').trim();
  return text.length > BODY_PREFIX_CHARS ? `${text.slice(0, BODY_PREFIX_CHARS)}…` : text;
}

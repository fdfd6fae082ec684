import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import got, { RequestError } from 'got';
import { guardedLookup, hasNonPublicHost, TARGET_NOT_PUBLIC_CODE } from './target-guard.js';

export interface DeliveryRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
}

export type DeliveryResponse =
  | { kind: 'response'; statusCode: number; retryAfter: string | undefined }
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

export interface HttpSenderOptions {
  /** Also send to private, loopback and link-local addresses (receivers on the server's own network). */
  allowPrivateTargets?: boolean;
  /** Resolves target host names (default `dns.lookup`); unless private targets are allowed, its answers are checked. */
  lookup?: LookupFunction;
}

/**
 * got 14 with its own retries off (the dispatcher owns retries, with state in the store) and
 * redirects not followed (a webhook target answers where it was registered; a redirect is a
 * misconfiguration to show, not to chase with a signed body). Keep-alive agents spare a TCP
 * (and TLS) handshake per delivery to the same target.
 *
 * Unless private targets are allowed, a URL whose host is a non-public IP address is not sent
 * (Node connects to an IP address without a lookup), and host names resolve through a guarded
 * lookup (https://github.com/sindresorhus/got/blob/main/documentation/2-options.md#dnslookup),
 * so the address actually connected to is the one checked.
 */
export function createHttpSender(options: HttpSenderOptions = {}): DeliverySender {
  const guarded = options.allowPrivateTargets !== true;
  const dnsLookup = guarded ? guardedLookup(options.lookup) : options.lookup;
  const agent = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
  // Options merged once: got re-merges per-call options on every request, a real cost at volume.
  const client = got.extend({ retry: { limit: 0 }, throwHttpErrors: false, followRedirect: false, agent, ...(dnsLookup ? { dnsLookup } : {}) });
  return {
    async send(request) {
      if (guarded && hasNonPublicHost(request.url)) {
        const host = new URL(request.url).hostname;
        const literal = host.startsWith('[') || isIP(host) !== 0;
        return { kind: 'target_not_public', message: literal ? `${host} is a private or reserved address` : `${host} is a loopback name` };
      }
      try {
        const response = await client.post(request.url, {
          body: request.body,
          headers: request.headers,
          timeout: { request: request.timeoutMs },
        });
        const retryAfter = response.headers['retry-after'];
        return { kind: 'response', statusCode: response.statusCode, retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined };
      } catch (error) {
        if (error instanceof RequestError && error.code === TARGET_NOT_PUBLIC_CODE) {
          return { kind: 'target_not_public', message: error.message.slice(0, MAX_ERROR_LENGTH) };
        }
        if (error instanceof RequestError) {
          return { kind: 'network_error', code: error.code ?? null, message: error.message.slice(0, MAX_ERROR_LENGTH) };
        }
        throw error;
      }
    },
    close() {
      agent.http.destroy();
      agent.https.destroy();
    },
  };
}

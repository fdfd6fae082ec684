import http from 'node:http';
import https from 'node:https';
import got, { RequestError } from 'got';

export interface DeliveryRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
}

export type DeliveryResponse =
  | { kind: 'response'; statusCode: number; retryAfter: string | undefined }
  /** No HTTP answer: timeout, refused or reset connection, DNS failure. */
  | { kind: 'network_error'; code: string | null; message: string };

/** How the dispatcher reaches a target; the one place that does HTTP. */
export interface DeliverySender {
  send(request: DeliveryRequest): Promise<DeliveryResponse>;
  close(): void;
}

const MAX_ERROR_LENGTH = 500;

/**
 * got 14 with its own retries off (the dispatcher owns retries, with state in the store) and
 * redirects not followed (a webhook target answers where it was registered; a redirect is a
 * misconfiguration to show, not to chase with a signed body). Keep-alive agents spare a TCP
 * (and TLS) handshake per delivery to the same target.
 */
export function createHttpSender(): DeliverySender {
  const agent = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
  // Options merged once: got re-merges per-call options on every request, a real cost at volume.
  const client = got.extend({ retry: { limit: 0 }, throwHttpErrors: false, followRedirect: false, agent });
  return {
    async send(request) {
      try {
        const response = await client.post(request.url, {
          body: request.body,
          headers: request.headers,
          timeout: { request: request.timeoutMs },
        });
        const retryAfter = response.headers['retry-after'];
        return { kind: 'response', statusCode: response.statusCode, retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined };
      } catch (error) {
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

import { createServer, type RequestListener, type Server } from 'node:http';
import { http, HttpResponse } from 'msw';
import { setupServer, type SetupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, expect, vi } from 'vitest';
import type { SlackActionHandler, SlackActionResult } from '../../../connectors/slack/actions-port.js';
import { computeSlackSignature } from '../../../connectors/slack/verify.js';
import type { Clock } from '../../../src/ports/clock.js';

export const SLACK_API = 'https://slack.com/api';

/** One Web API call as msw received it. */
export interface SlackCall {
  method: string;
  authorization: string | null;
  form: URLSearchParams;
}

export async function slackCallOf(method: string, request: Request): Promise<SlackCall> {
  return { method, authorization: request.headers.get('authorization'), form: new URLSearchParams(await request.text()) };
}

/**
 * msw for a whole test file; call it at the top of the file, so it listens before any Slack
 * client exists (WebClient captures `fetch` when it is built). A request no handler answers fails
 * the test that made it, after the file's own afterEach. `passLoopback` lets requests to
 * 127.0.0.1 (the server under test) through.
 */
export function useSlackMsw(options: { passLoopback: boolean }): SetupServer {
  const unhandled: string[] = [];
  const msw = setupServer();
  beforeAll(() =>
    msw.listen({
      onUnhandledRequest: (request, print) => {
        if (options.passLoopback && new URL(request.url).hostname === '127.0.0.1') return;
        unhandled.push(`${request.method} ${request.url}`);
        print.error();
      },
    }),
  );
  afterEach(() => {
    msw.resetHandlers();
    expect(unhandled.splice(0)).toEqual([]);
  });
  afterAll(() => msw.close());
  return msw;
}

/**
 * Slack's chat.postMessage and chat.update as a test file's msw answers them: every call is
 * recorded, and Slack accepts (a new message `ts` for a post) unless an answer is scripted.
 */
export interface FakeSlackChat {
  readonly calls: SlackCall[];
  /** Answers queued per method, given in order; when none is queued, Slack accepts. */
  readonly scripted: Record<string, (() => Response)[]>;
  callsTo(method: string): SlackCall[];
  /** Forgets calls and scripts and installs the handlers (msw resets them after each test). */
  reset(msw: SetupServer): void;
}

export function fakeSlackChat(): FakeSlackChat {
  const calls: SlackCall[] = [];
  const scripted: Record<string, (() => Response)[]> = {};
  let nextTs = 1;
  const handlers = ['chat.postMessage', 'chat.update'].map((method) =>
    http.post(`${SLACK_API}/${method}`, async ({ request }) => {
      const call = await slackCallOf(method, request);
      calls.push(call);
      const answer = scripted[method]?.shift();
      if (answer) return answer();
      const ts = method === 'chat.update' ? (call.form.get('ts') ?? '') : `1767261600.${String(nextTs++).padStart(6, '0')}`;
      return HttpResponse.json({ ok: true, channel: call.form.get('channel'), ts });
    }),
  );
  return {
    calls,
    scripted,
    callsTo: (method) => calls.filter((call) => call.method === method),
    reset: (msw) => {
      calls.length = 0;
      for (const method of Object.keys(scripted)) delete scripted[method];
      nextTs = 1;
      msw.use(...handlers);
    },
  };
}

/** Slack's `X-Slack-Request-Timestamp`: Unix seconds on the test's clock. */
export function slackTimestamp(clock: Clock, offsetSeconds = 0): string {
  return String(Math.floor(clock.now().getTime() / 1000) + offsetSeconds);
}

export interface SignedRequest {
  body: string;
  headers: Record<string, string>;
}

/**
 * An interaction payload as Slack POSTs it: form-encoded `payload=`, signed with the app's signing
 * secret (https://docs.slack.dev/authentication/verifying-requests-from-slack).
 */
export function signedPayload(payload: unknown, secret: string, timestamp: string): SignedRequest {
  const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  return {
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': timestamp,
      'x-slack-signature': computeSlackSignature(secret, timestamp, body),
    },
  };
}

export type HandlerMocks = { [K in keyof SlackActionHandler]: ReturnType<typeof vi.fn<SlackActionHandler[K]>> };

/** An action handler whose every action succeeds, recording its calls. */
export function handlerMocks(): HandlerMocks {
  const done = async (): Promise<SlackActionResult> => ({ outcome: 'done' });
  return {
    resendConsentRequest: vi.fn<SlackActionHandler['resendConsentRequest']>(done),
    recordConsentManually: vi.fn<SlackActionHandler['recordConsentManually']>(done),
    applyOptOut: vi.fn<SlackActionHandler['applyOptOut']>(done),
    dismissOptOut: vi.fn<SlackActionHandler['dismissOptOut']>(done),
  };
}

export interface LocalServer {
  server: Server;
  /** `http://127.0.0.1:<port>` */
  url: string;
  close(): Promise<void>;
}

/** An HTTP server on a free port of 127.0.0.1. */
export async function listenLocally(listener: RequestListener): Promise<LocalServer> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server is not listening on a port');
  return {
    server,
    url: `http://127.0.0.1:${address.port}`,
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

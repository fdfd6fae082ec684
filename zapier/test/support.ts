import { http, HttpResponse, type JsonBodyType } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { type Bundle, createAppTester, type ZObject } from 'zapier-platform-core';
import app from '../src/index.js';

export { errorDetails, rejection } from './helpers.js';

/** A Consentry server that only msw answers (the `.test` TLD never resolves). */
export const SERVER_URL = 'https://consentry.example.test';
export const API_KEY = 'ck_test_0000000000000000';
export const authData = { serverUrl: SERVER_URL, apiKey: API_KEY };

export const appTester = createAppTester(app);

type Operation = (z: ZObject, bundle: Bundle) => unknown;

/**
 * Runs one of the app's own functions through zapier-platform-core's real middleware stack. Given
 * the app's function itself, createAppTester finds its path, so Zapier's output checks run too.
 */
export function run(operation: unknown, bundle: Record<string, unknown> = {}): Promise<unknown> {
  if (typeof operation !== 'function') throw new Error('not an operation function');
  return appTester(operation as Operation, { authData, ...bundle });
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  authorization: string | null;
  source: string | null;
  body: unknown;
}

export const mswServer = setupServer();
export const requests: RecordedRequest[] = [];

/** msw for a whole test file: every request must be answered by a handler (DESIGN §6). */
export function useMockServer(): void {
  beforeAll(() => mswServer.listen({ onUnhandledRequest: 'error' }));
  afterEach(() => {
    mswServer.resetHandlers();
    requests.length = 0;
  });
  afterAll(() => mswServer.close());
}

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface Reply {
  status?: number;
  body?: JsonBodyType;
  headers?: Record<string, string>;
}

/** Records what the app sent in `requests`, and answers it. */
export async function recordRequest(request: Request): Promise<RecordedRequest> {
  const url = new URL(request.url);
  const text = await request.text();
  const recorded: RecordedRequest = {
    method: request.method,
    path: url.pathname,
    query: url.searchParams,
    authorization: request.headers.get('authorization'),
    source: request.headers.get('x-consentry-source'),
    body: text === '' ? undefined : JSON.parse(text),
  };
  requests.push(recorded);
  return recorded;
}

/** Answers `method path` on the fake server and records what the app sent. */
export function route(method: Method, path: string, reply: Reply | ((request: RecordedRequest) => Reply)): void {
  mswServer.use(
    http[method](`${SERVER_URL}${path}`, async ({ request }) => {
      const recorded = await recordRequest(request);
      const answer = typeof reply === 'function' ? reply(recorded) : reply;
      const status = answer.status ?? 200;
      if (answer.body === undefined) return new HttpResponse(null, { status, headers: answer.headers ?? {} });
      const contentType = status >= 400 ? 'application/problem+json' : 'application/json';
      return HttpResponse.json(answer.body, { status, headers: { 'content-type': contentType, ...answer.headers } });
    }),
  );
}

export function problem(status: number, code: string, detail: string, errors?: { path: string; message: string }[]): Reply {
  return {
    status,
    body: {
      type: `https://consentry.dev/problems/${code.toLowerCase().replace(/_/g, '-')}`,
      title: detail,
      status,
      detail,
      code,
      ...(errors ? { errors } : {}),
    },
  };
}


import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import type { Bundle, ZObject } from 'zapier-platform-core';
import { callApi, MeSchema } from '../src/api.js';
import app from '../src/index.js';
import { API_KEY, errorDetails, mswServer, problem, rejection, requests, route, run, SERVER_URL, useMockServer } from './support.js';

useMockServer();

const { test, connectionLabel } = app.authentication ?? {};

/** A step of a Zap run that reads the API: Zapier replays it after a ThrottledError. */
const step = (z: ZObject, bundle: Bundle) => callApi(z, bundle, { path: '/v1/me', schema: MeSchema });

describe('authentication', () => {
  it('tests the connection with GET /v1/me and a Bearer key', async () => {
    route('get', '/v1/me', { body: { id: 'ws_1', name: 'Ana Test Shop' } });
    const me = await run(test);
    expect(me).toEqual({ id: 'ws_1', name: 'Ana Test Shop' });
    expect(requests).toHaveLength(1);
    expect(requests[0]?.authorization).toBe(`Bearer ${API_KEY}`);
    expect(requests[0]?.source).toBe('zapier');
  });

  it('accepts a server URL with a trailing slash', async () => {
    route('get', '/v1/me', { body: { id: 'ws_1', name: 'Ana Test Shop' } });
    await run(test, { authData: { serverUrl: `${SERVER_URL}/`, apiKey: API_KEY } });
    expect(requests[0]?.path).toBe('/v1/me');
  });

  it('turns a 401 into ExpiredAuthError telling the user whom to ask for a new key', async () => {
    route('get', '/v1/me', problem(401, 'UNAUTHORIZED', 'missing or unknown API key'));
    const error = await rejection(run(test));
    expect(error.name).toBe('ExpiredAuthError');
    expect(error.message).toContain('Consentry rejected the API key (missing or unknown API key)');
    expect(error.message).toContain('Ask your Consentry administrator for a new key');
  });

  it('rejects a server URL that is not https before any request', async () => {
    const error = await rejection(run(test, { authData: { serverUrl: 'ftp://consent.example.com', apiKey: API_KEY } }));
    expect(errorDetails(error).message).toContain('serverUrl: must start with https://');
    expect(requests).toHaveLength(0);
  });

  it('refuses http:// for a server on the internet before any request, saying why', async () => {
    mswServer.use(http.get('http://consent.example.test/v1/me', () => HttpResponse.json({ id: 'ws_1', name: 'Ana Test Shop' })));
    const error = await rejection(run(test, { authData: { serverUrl: 'http://consent.example.test', apiKey: API_KEY } }));
    const { message } = errorDetails(error);
    expect(message).toContain('serverUrl: must start with https://');
    expect(message).toContain('the API key and your contacts’ data must not travel unencrypted');
  });

  it('calls the API at the base address when the Server URL was pasted with /v1 or /docs', async () => {
    route('get', '/v1/me', { body: { id: 'ws_1', name: 'Ana Test Shop' } });
    route('get', '/consentry/v1/me', { body: { id: 'ws_1', name: 'Ana Test Shop' } });
    await run(test, { authData: { serverUrl: `${SERVER_URL}/v1`, apiKey: API_KEY } });
    await run(test, { authData: { serverUrl: `${SERVER_URL}/docs/`, apiKey: API_KEY } });
    await run(test, { authData: { serverUrl: `${SERVER_URL}/consentry/v1/`, apiKey: API_KEY } });
    expect(requests.map((request) => request.path)).toEqual(['/v1/me', '/v1/me', '/consentry/v1/me']);
  });

  it('tells the user to ask the Consentry administrator for a key, and that the URL starts with https://', () => {
    const fields = app.authentication?.fields ?? [];
    const helpOf = (key: string) => fields.find((field) => field.key === key)?.helpText ?? '';
    expect(helpOf('apiKey')).toContain('Ask your Consentry administrator');
    expect(helpOf('serverUrl')).toContain('https://');
  });

  it('rejects an answer that is not Consentry’s', async () => {
    route('get', '/v1/me', { body: { hello: 'world' } });
    const error = await rejection(run(test));
    expect(errorDetails(error)).toMatchObject({ code: 'UNEXPECTED_RESPONSE' });
    expect(errorDetails(error).message).toContain('GET /v1/me');
  });

  it('labels the connection "<workspace> (<host>)", so two servers’ "Default workspace" connections read apart', async () => {
    const label = await run(connectionLabel, { inputData: { id: 'ws_1', name: 'Ana Test Shop' } });
    expect(label).toBe('Ana Test Shop (consentry.example.test)');
    const staging = { serverUrl: 'https://staging.consent.example.com:8443/consentry/v1', apiKey: 'ck_test_1' };
    const other = await run(connectionLabel, { authData: staging, inputData: { id: 'ws_1', name: 'Default workspace' } });
    expect(other).toBe('Default workspace (staging.consent.example.com:8443)');
  });
});

describe('the API key as pasted', () => {
  it('sends the key trimmed, as it is checked: one pasted with line breaks or tabs around it works', async () => {
    route('get', '/v1/me', { body: { id: 'ws_1', name: 'Ana Test Shop' } });
    for (const pasted of [`\n${API_KEY}\n`, `\t${API_KEY}\t`, ` ${API_KEY} `]) {
      expect(await run(test, { authData: { serverUrl: SERVER_URL, apiKey: pasted } })).toEqual({ id: 'ws_1', name: 'Ana Test Shop' });
    }
    expect(requests.map((request) => request.authorization)).toEqual([`Bearer ${API_KEY}`, `Bearer ${API_KEY}`, `Bearer ${API_KEY}`]);
  });

  it('refuses a key with a line break inside before any request, without repeating the key', async () => {
    const broken = `${API_KEY.slice(0, 8)}\n${API_KEY.slice(8)}`;
    for (const operation of [test, step]) {
      const error = await rejection(run(operation, { authData: { serverUrl: SERVER_URL, apiKey: broken } }));
      const details = errorDetails(error);
      expect(details).toMatchObject({ name: 'AppError', code: 'INVALID_CONNECTION' });
      expect(details.message).toContain('apiKey: must be the key as Consentry printed it');
      expect(error.message).not.toContain(API_KEY.slice(8));
      expect(error.message).not.toContain(API_KEY.slice(0, 8));
    }
    expect(requests).toHaveLength(0);
  });
});

describe('failures where Zapier replays nothing', () => {
  const noRetry = (details: { name: string; message: string }) => {
    expect(details.name).toBe('AppError');
    expect(details.message).not.toMatch(/retry/i);
  };

  it('the connection test says what failed without promising a retry: a 5xx, a 429, no answer', async () => {
    route('get', '/v1/me', problem(503, 'UNAVAILABLE', 'database is restarting'));
    const unavailable = errorDetails(await rejection(run(test)));
    noRetry(unavailable);
    expect(unavailable).toMatchObject({ message: 'Consentry had a server error (503): database is restarting.', code: 'UNAVAILABLE', status: 503 });
    route('get', '/v1/me', { ...problem(429, 'RATE_LIMITED', 'slow down'), headers: { 'retry-after': '17' } });
    const limited = errorDetails(await rejection(run(test)));
    noRetry(limited);
    expect(limited).toMatchObject({ message: 'Consentry is rate limiting this connection: slow down.', code: 'RATE_LIMITED', status: 429 });
    mswServer.use(http.get(`${SERVER_URL}/v1/me`, () => HttpResponse.error()));
    const unreachable = errorDetails(await rejection(run(test)));
    noRetry(unreachable);
    expect(unreachable).toMatchObject({ code: 'SERVER_UNREACHABLE' });
    expect(unreachable.message).toContain(`Zapier got no answer from your Consentry server at ${SERVER_URL}`);
  });

  it('a step run from the editor (a sample, a dropdown, the connection dialog) promises no retry; in a Zap run it does', async () => {
    route('get', '/v1/me', problem(502, 'BAD_GATEWAY', 'upstream down'));
    for (const flag of ['isLoadingSample', 'isFillingDynamicDropdown', 'isTestingAuth']) {
      noRetry(errorDetails(await rejection(run(step, { meta: { [flag]: true } }))));
    }
    const inAZap = errorDetails(await rejection(run(step, { meta: { isLoadingSample: false } })));
    expect(inAZap).toMatchObject({ name: 'ThrottledError', delay: 60 });
    expect(inAZap.message).toContain('Zapier will retry in 60 s.');
  });
});

describe('middleware', () => {
  it('sends the API key and the source header only to the connected server', async () => {
    const seen: (string | null)[] = [];
    mswServer.use(
      http.get('https://elsewhere.example.test/ping', ({ request }) => {
        seen.push(request.headers.get('authorization'), request.headers.get('x-consentry-source'));
        return HttpResponse.json({ ok: true });
      }),
    );
    route('get', '/v1/me', { body: { id: 'ws_1', name: 'Ana Test Shop' } });
    await run(async (z: ZObject) => {
      await z.request({ url: `${SERVER_URL}/v1/me` });
      await z.request({ url: 'https://elsewhere.example.test/ping' });
      return {};
    });
    expect(requests[0]?.authorization).toBe(`Bearer ${API_KEY}`);
    expect(requests[0]?.source).toBe('zapier');
    expect(seen).toEqual([null, null]);
  });

  it('maps a 422 to z.errors.Error naming each field in the server’s words', async () => {
    route(
      'get',
      '/v1/me',
      problem(422, 'LEGAL_BASIS_REQUIRED', 'invalid consent', [
        { path: 'legalBasis', message: 'required for an opt-in' },
        { path: 'explanation', message: 'required for an opt-in' },
      ]),
    );
    const details = errorDetails(await rejection(run(test)));
    expect(details).toMatchObject({
      name: 'AppError',
      message: 'legalBasis: required for an opt-in; explanation: required for an opt-in',
      code: 'LEGAL_BASIS_REQUIRED',
      status: 422,
    });
  });

  it('maps a 404 to "Not found" with the server’s detail', async () => {
    route('get', '/v1/me', problem(404, 'NOT_FOUND', 'contact 01X not found'));
    expect(errorDetails(await rejection(run(test)))).toMatchObject({
      name: 'AppError',
      message: 'Not found: contact 01X not found',
      status: 404,
    });
  });

  it('maps a 5xx to a retryable ThrottledError', async () => {
    route('get', '/v1/me', problem(503, 'UNAVAILABLE', 'database is restarting'));
    const details = errorDetails(await rejection(run(step)));
    expect(details.name).toBe('ThrottledError');
    expect(details.message).toContain('server error (503): database is restarting');
    expect(details.delay).toBe(60);
  });

  it('maps a 500 without a body to a retryable ThrottledError', async () => {
    route('get', '/v1/me', { status: 500 });
    const details = errorDetails(await rejection(run(step)));
    expect(details.name).toBe('ThrottledError');
    expect(details.message).toContain('the Consentry server answered 500');
  });

  it('maps a 429 to ThrottledError with the Retry-After delay', async () => {
    route('get', '/v1/me', { ...problem(429, 'RATE_LIMITED', 'slow down'), headers: { 'retry-after': '17' } });
    const details = errorDetails(await rejection(run(step)));
    expect(details).toMatchObject({ name: 'ThrottledError', delay: 17 });
    expect(details.message).toContain('rate limiting this connection: slow down');
  });

  it('maps a 410 (erased contact) to HaltedError, which never turns the Zap off', async () => {
    route('get', '/v1/me', problem(410, 'CONTACT_ERASED', 'contact was erased'));
    const error = await rejection(run(test));
    expect(error.name).toBe('HaltedError');
    expect(error.message.startsWith('Gone: contact was erased')).toBe(true);
  });

  it('maps another 4xx to z.errors.Error with the server’s code', async () => {
    route('get', '/v1/me', problem(403, 'FORBIDDEN', 'this key may not read the workspace'));
    expect(errorDetails(await rejection(run(test)))).toMatchObject({
      name: 'AppError',
      message: 'this key may not read the workspace',
      code: 'FORBIDDEN',
      status: 403,
    });
  });

  it('maps an expected refusal (409) to HaltedError, which never turns the Zap off', async () => {
    route('get', '/v1/me', problem(409, 'CONFLICT', 'Another contact already has this email', [{ path: 'email', message: 'already used by another contact' }]));
    const error = await rejection(run(test));
    expect(error.name).toBe('HaltedError');
    expect(error.message.startsWith('Consentry refused this step: email: already used by another contact')).toBe(true);
  });

  it('keeps an idempotency key reused for a different change (409) an error: the Zap must be fixed', async () => {
    const message = 'already used for a different change (it recorded 01JQ85K1MBNCPDQERSFTGVHWJX; this request differs in status)';
    route('get', '/v1/me', problem(409, 'CONFLICT', `Idempotency key "form-42" was ${message}`, [{ path: 'idempotencyKey', message }]));
    expect(errorDetails(await rejection(run(test)))).toMatchObject({
      name: 'AppError',
      message: `idempotencyKey: ${message}`,
      code: 'CONFLICT',
      status: 409,
    });
  });
});

describe('retryDelaySeconds', () => {
  it('reads delay-seconds and HTTP dates, and falls back to a minute', async () => {
    const { retryDelaySeconds } = await import('../src/middleware.js');
    const now = Date.parse('2026-03-01T09:00:00Z');
    expect(retryDelaySeconds('30', now)).toBe(30);
    expect(retryDelaySeconds('Sun, 01 Mar 2026 09:02:00 GMT', now)).toBe(120);
    expect(retryDelaySeconds(null, now)).toBe(60);
    expect(retryDelaySeconds('soon', now)).toBe(60);
  });
});

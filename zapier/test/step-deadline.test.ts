import { delay, http, HttpResponse } from 'msw';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Bundle, ZObject } from 'zapier-platform-core';
import { z } from 'zod';
import { callApi } from '../src/api.js';
import recordConsent from '../src/creates/record_consent.js';
import requestConsent from '../src/creates/request_consent.js';
import app from '../src/index.js';
import findContact from '../src/searches/find_contact.js';
import { timedStepName } from '../src/step-deadline.js';
import consentGiven from '../src/triggers/consent_given.js';
import { CONTACT_ID, contactJson, operationOf } from './helpers.js';
import { appTester, errorDetails, mswServer, problem, recordRequest, rejection, requests, route, run, SERVER_URL, useMockServer } from './support.js';

useMockServer();

// Zapier's 30 s and the server's slowness are played on a fake clock: msw's delays and the app's
// request timers are setTimeout, and the step's clock is Date.now, all three advanced by the test.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  Reflect.set(appTester, 'zcacheTestObj', {});
});
afterEach(() => {
  vi.useRealTimers();
  Reflect.set(appTester, 'zcacheTestObj', {});
});

const trail = () => requests.map((request) => `${request.method} ${request.path}`);

/** Answers `method path` after `wait` ms of the fake clock ('never': it never answers), recording the request as `route` does. */
function slowRoute(method: 'get' | 'post' | 'put', path: string, wait: number | 'never', body: Record<string, unknown> = {}): void {
  mswServer.use(
    http[method](`${SERVER_URL}${path}`, async ({ request }) => {
      await recordRequest(request);
      await delay(wait === 'never' ? 'infinite' : wait);
      return HttpResponse.json(body);
    }),
  );
}

/** A step's failure, and whether it has come yet, for a test that moves the clock while the step runs. */
function failureOf(step: Promise<unknown>): { error: Promise<Error>; settled: () => boolean } {
  let settled = false;
  const error = rejection(step).finally(() => {
    settled = true;
  });
  return { error, settled: () => settled };
}

describe('the requests of one step share the 30 s Zapier gives it', () => {
  it('gives a single slow request the full 20 s', async () => {
    slowRoute('get', '/v1/contacts', 'never');
    const step = failureOf(run(findContact.operation.perform, { inputData: { email: 'ana.test@example.com' } }));
    await vi.advanceTimersByTimeAsync(19_999);
    expect(step.settled()).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const details = errorDetails(await step.error);
    expect(details).toMatchObject({ name: 'ThrottledError', delay: 60 });
    expect(details.message).toContain(`Zapier got no answer from your Consentry server at ${SERVER_URL}: it did not answer within 20 s.`);
    expect(trail()).toEqual(['GET /v1/contacts']);
  });

  // Found by phone and by email, each answered in 12.25 s: 0.5 s of the step's 25 s for requests is left for the write.
  const byPhoneAndEmail = { phone: '+34600000001', email: 'ana.test@example.com', channel: 'sms', status: 'opted_out' };

  it('does not send a request the step has no time left for, and says which step stopped and that the request was not sent', async () => {
    slowRoute('get', '/v1/contacts', 12_250, { data: [contactJson()], nextCursor: null });
    route('put', '/v1/contacts/:id/consents/:purpose/:channel', problem(500, 'INTERNAL', 'must not be reached'));
    const step = failureOf(run(recordConsent.operation.perform, { inputData: byPhoneAndEmail }));
    await vi.advanceTimersByTimeAsync(24_500);
    const details = errorDetails(await step.error);
    expect(trail()).toEqual(['GET /v1/contacts', 'GET /v1/contacts']);
    // Nothing was sent, so the write without an idempotency key is retried like an outage, not OUTCOME_UNKNOWN.
    expect(details).toMatchObject({ name: 'ThrottledError', delay: 60 });
    expect(details.message).toContain(`Record Consent ran out of time before its next request to your Consentry server at ${SERVER_URL}, so that request was not sent`);
    expect(details.message).toContain('the step had run 24.5 s of the 30 s Zapier gives it');
    expect(details.message).toContain('Zapier will retry in 60 s.');
    for (const leak of ['/v1', 'ana.test', CONTACT_ID]) expect(details.message).not.toContain(leak);
  });

  it('promises no retry for that stop where Zapier replays nothing (a step tested in the editor)', async () => {
    slowRoute('get', '/v1/contacts', 12_250, { data: [contactJson()], nextCursor: null });
    const step = failureOf(run(recordConsent.operation.perform, { inputData: byPhoneAndEmail, meta: { isLoadingSample: true } }));
    await vi.advanceTimersByTimeAsync(24_500);
    const details = errorDetails(await step.error);
    expect(details).toMatchObject({ name: 'AppError', code: 'STEP_TIME_LIMIT', status: 504 });
    expect(details.message).toContain('Record Consent ran out of time');
    expect(details.message).not.toContain('Zapier will retry');
    expect(trail()).toEqual(['GET /v1/contacts', 'GET /v1/contacts']);
  });

  it('gives a later request only what the step has left, and remembers a start it cut after sending as unclear', async () => {
    const start = '/v1/workflows/request-consent-privacy/runs';
    slowRoute('get', `/v1/contacts/${CONTACT_ID}`, 15_000, contactJson());
    slowRoute('post', start, 'never');
    const inputData = { contactId: CONTACT_ID, channel: 'whatsapp' };
    const step = failureOf(run(requestConsent.operation.perform, { inputData }));
    await vi.advanceTimersByTimeAsync(15_000);
    // 25 s of the step's 30 s are for its requests: the start, sent at 15 s, may wait 10 s.
    await vi.advanceTimersByTimeAsync(9_999);
    expect(step.settled()).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const details = errorDetails(await step.error);
    expect(trail()).toEqual([`GET /v1/contacts/${CONTACT_ID}`, `POST ${start}`]);
    expect(details).toMatchObject({ name: 'AppError', code: 'OUTCOME_UNKNOWN' });
    expect(details.message).toContain('it did not answer within 10 s, all the time Request Privacy Consent had left of the 30 s Zapier gives a step, after the request was sent');
    expect(details.message).toContain('the "Request Consent: Privacy" workflow may have started');
    const remembered = Object.keys(z.record(z.string(), z.unknown()).parse(Reflect.get(appTester, 'zcacheTestObj')));
    expect(remembered).toEqual([`request_consent:unclear_start:${CONTACT_ID}:whatsapp`]);

    // The replay meets the run that start may have made: it fails, it does not halt.
    mswServer.resetHandlers();
    route('get', `/v1/contacts/${CONTACT_ID}`, { body: contactJson() });
    route('post', start, problem(409, 'CONFLICT', 'Workflow "request-consent-privacy" is already running for this contact on whatsapp'));
    const replay = errorDetails(await rejection(run(requestConsent.operation.perform, { inputData })));
    expect(replay).toMatchObject({ name: 'AppError', code: 'RUN_OUTCOME_UNKNOWN' });
  });

  it('answers an unclear start within the step when Zapier’s cache does not answer: the memory is given up after 2 s', async () => {
    const start = '/v1/workflows/request-consent-privacy/runs';
    route('get', `/v1/contacts/${CONTACT_ID}`, { body: contactJson() });
    route('post', start, problem(502, 'BAD_GATEWAY', 'upstream down'));
    const hanging: ZObject['cache'] = { get: () => new Promise(() => {}), set: () => new Promise(() => {}), delete: () => new Promise(() => {}) };
    const requestPerform = requestConsent.operation.perform;
    if (typeof requestPerform !== 'function') throw new Error('request_consent has no perform function');
    const perform = (zObject: ZObject, bundle: Bundle) => requestPerform({ ...zObject, cache: hanging }, bundle);
    const step = failureOf(run(perform, { inputData: { contactId: CONTACT_ID, channel: 'whatsapp' } }));
    await vi.advanceTimersByTimeAsync(1_999);
    expect(step.settled()).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(step.settled()).toBe(true);
    expect(errorDetails(await step.error)).toMatchObject({ name: 'AppError', code: 'OUTCOME_UNKNOWN' });
  });

  it('times each run on its own: a run that starts while another has used most of its time still gets 20 s', async () => {
    slowRoute('get', '/v1/contacts', 'never');
    const first = failureOf(run(findContact.operation.perform, { inputData: { email: 'ana.test@example.com' } }));
    await vi.advanceTimersByTimeAsync(15_000);
    const second = failureOf(run(findContact.operation.perform, { inputData: { email: 'ben.test@example.com' } }));
    await vi.advanceTimersByTimeAsync(5_000);
    expect(first.settled()).toBe(true);
    expect(errorDetails(await first.error).message).toContain('it did not answer within 20 s.');
    await vi.advanceTimersByTimeAsync(14_999);
    expect(second.settled()).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(errorDetails(await second.error).message).toContain('it did not answer within 20 s.');
  });

  it('still makes a trigger’s items when the time left cuts the read of their contact: the events are kept, without contact details', async () => {
    const data = {
      purpose: 'marketing',
      channel: 'sms',
      status: 'opted_in',
      legalBasis: 'CONSENT_WITH_NOTICE',
      explanation: 'Ticked the box',
      source: 'api',
      recordId: '01JQ85K1MBNCPDQERSFTGVHWJX',
      occurredAt: '2026-03-01T09:15:00.000Z',
    };
    const listed = { id: '01JQ8000000000000000000EV1', type: 'consent.given', occurredAt: '2026-03-01T09:15:00.000Z', contactId: CONTACT_ID, data };
    slowRoute('get', '/v1/events', 19_000, { data: [listed], nextCursor: null });
    slowRoute('get', `/v1/contacts/${CONTACT_ID}`, 'never');
    let listedItems = false;
    const items = run(operationOf(consentGiven).performList, { meta: { limit: 3 } }).finally(() => {
      listedItems = true;
    });
    void items.catch(() => undefined);
    await vi.advanceTimersByTimeAsync(19_000);
    // The contact read, sent at 19 s, gets the 6 s left of the step's 25 s for requests.
    await vi.advanceTimersByTimeAsync(5_999);
    expect(listedItems).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await items).toMatchObject([{ id: listed.id, contactId: CONTACT_ID, contactEmail: null, contactDetailsMissing: true, contactErased: false }]);
    expect(trail()).toEqual(['GET /v1/events', `GET /v1/contacts/${CONTACT_ID}`]);
  });
});

describe('a call made outside a timed operation', () => {
  it('starts its run’s clock at its first request, and the stop names no step', async () => {
    slowRoute('get', '/v1/contacts', 12_250, { data: [], nextCursor: null });
    const lookUpThrice = async (zObject: ZObject, bundle: Bundle) => {
      for (const email of ['a@example.com', 'b@example.com', 'c@example.com']) {
        await callApi(zObject, bundle, { path: '/v1/contacts', params: { email }, schema: z.unknown() });
      }
    };
    const step = failureOf(run(lookUpThrice));
    await vi.advanceTimersByTimeAsync(24_500);
    const details = errorDetails(await step.error);
    expect(details.message).toContain(`This step ran out of time before its next request to your Consentry server at ${SERVER_URL}, so that request was not sent`);
    expect(trail()).toEqual(['GET /v1/contacts', 'GET /v1/contacts']);
  });
});

describe('every operation that reaches the server starts its step’s clock', () => {
  it('names the step as the Zap editor does', () => {
    const operations: { label: string | undefined; functions: unknown[] }[] = [
      ...Object.values(app.triggers ?? {}).map((trigger) => {
        const operation = operationOf(trigger);
        return {
          label: trigger.display.label,
          functions: ['perform', 'performList', 'performSubscribe', 'performUnsubscribe'].map((name) => operation[name]).filter((fn) => fn !== undefined),
        };
      }),
      ...Object.values(app.creates ?? {}).map((create) => ({ label: create.display.label, functions: [create.operation.perform] })),
      ...Object.values(app.searches ?? {}).map((search) => ({ label: search.display.label, functions: [search.operation.perform] })),
      { label: 'The connection test', functions: [app.authentication?.test] },
    ];
    expect(operations.length).toBeGreaterThan(10);
    for (const { label, functions } of operations) {
      expect(label).toBeTypeOf('string');
      expect(functions.length).toBeGreaterThan(0);
      for (const fn of functions) expect({ label, timed: timedStepName(fn) }).toEqual({ label, timed: label });
    }
  });
});

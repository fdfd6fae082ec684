import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import {
  ACCOUNT_CHECK_TIMEOUT_MS,
  checkHubSpotAccountClaim,
  createHubSpotAccountVerifier,
  type HubSpotAccountVerdict,
} from '../../../connectors/hubspot/account.js';
import { accountDetails, ACCOUNT_INFO_URL, useHubSpotMsw } from './msw.js';

/**
 * HubSpot's answers follow https://developers.hubspot.com/docs/api/settings/account-information-api
 * (account details) and https://developers.hubspot.com/docs/api/usage-details (401, 429 bodies).
 */
const TOKEN = 'pat-eu1-00000000-0000-0000-0000-00000000abcd';
const server = useHubSpotMsw();

function refusedIssues(verdict: HubSpotAccountVerdict) {
  if (verdict.verdict !== 'refused') throw new Error(`expected a refusal, got ${verdict.verdict}`);
  expect(verdict.error.code).toBe('VALIDATION_FAILED');
  expect(verdict.error.message).not.toContain(TOKEN);
  return verdict.error.issues;
}

describe('the HubSpot account of a token', () => {
  it('is asked of account-info with the token as a bearer, and a token of the portal named is its owner', async () => {
    const seen: string[] = [];
    server.use(
      http.get(ACCOUNT_INFO_URL, ({ request }) => {
        seen.push(`${request.method} ${request.headers.get('authorization') ?? ''}`);
        return HttpResponse.json(accountDetails(12345));
      }),
    );
    const verifier = createHubSpotAccountVerifier();
    expect(await verifier.lookUp(TOKEN)).toEqual({ outcome: 'found', portalId: '12345' });
    expect(await checkHubSpotAccountClaim(verifier, { accessToken: TOKEN, portalId: '12345' })).toEqual({ verdict: 'owned', issued: null });
    expect(seen).toEqual([`GET Bearer ${TOKEN}`, `GET Bearer ${TOKEN}`]);
  });

  it('refuses a portal the token does not belong to, naming hubspot.portalId and both accounts', async () => {
    server.use(http.get(ACCOUNT_INFO_URL, () => HttpResponse.json(accountDetails(67890))));
    const verdict = await checkHubSpotAccountClaim(createHubSpotAccountVerifier(), { accessToken: TOKEN, portalId: '12345' });
    expect(refusedIssues(verdict)).toEqual([{ path: 'hubspot.portalId', message: 'the access token belongs to HubSpot account 67890, not 12345' }]);
  });

  it.each([
    [401, 'HubSpot refused the access token (401): it is wrong, expired or revoked'],
    [
      403,
      "HubSpot refused the account's details to the access token (403): the private app may need the scope oauth, which HubSpot's account information API lists, " +
        'besides the scopes of the HubSpot Set-up (crm.objects.contacts.read, crm.objects.contacts.write, crm.schemas.contacts.write, communication_preferences.write)',
    ],
  ])('refuses a token HubSpot answers %i for, naming hubspot.accessToken', async (status, message) => {
    server.use(
      http.get(ACCOUNT_INFO_URL, () =>
        HttpResponse.json({ status: 'error', message: 'Authentication credentials not found.', category: 'INVALID_AUTHENTICATION', correlationId: 'c0ffee00-0000-0000-0000-000000000000' }, { status }),
      ),
    );
    const verifier = createHubSpotAccountVerifier();
    expect(await verifier.lookUp(TOKEN)).toEqual({ outcome: 'token_refused', status });
    const verdict = await checkHubSpotAccountClaim(verifier, { accessToken: TOKEN, portalId: '12345' });
    expect(refusedIssues(verdict)).toEqual([{ path: 'hubspot.accessToken', message }]);
  });

  it.each([
    ['a 500', () => HttpResponse.json({ status: 'error', message: 'internal error' }, { status: 500 }), 'HubSpot answered 500', 30],
    ['a gateway page', () => new HttpResponse('<html>Bad gateway</html>', { status: 502 }), 'HubSpot answered 502', 30],
    [
      'a 429 of the rolling limit',
      () => HttpResponse.json({ status: 'error', message: 'You have reached your ten_secondly_rolling limit.', errorType: 'RATE_LIMIT', policyName: 'TEN_SECONDLY_ROLLING' }, { status: 429 }),
      'HubSpot answered 429: the rate limit is reached',
      10,
    ],
    [
      'a 429 of the daily limit',
      () => HttpResponse.json({ status: 'error', message: 'You have reached your daily limit.', errorType: 'RATE_LIMIT', policyName: 'DAILY' }, { status: 429 }),
      'HubSpot answered 429: the daily API limit is used up',
      3600,
    ],
    ['a network failure', () => HttpResponse.error(), 'HubSpot could not be reached', 30],
    ['a body that is not account details', () => HttpResponse.json({ accountType: 'STANDARD' }), 'HubSpot answered with a body that is not account details', 30],
  ])('is unavailable on %s, with the wait before trying again', async (_name, answer, reason, retryAfterSeconds) => {
    server.use(http.get(ACCOUNT_INFO_URL, answer));
    const verifier = createHubSpotAccountVerifier();
    const lookup = await verifier.lookUp(TOKEN);
    expect(lookup).toEqual({ outcome: 'unavailable', reason: expect.stringContaining(reason), retryAfterSeconds });
    expect(await checkHubSpotAccountClaim(verifier, { accessToken: TOKEN, portalId: '12345' })).toEqual({ verdict: 'unavailable', reason: expect.stringContaining(reason), retryAfterSeconds });
  });

  it.each([
    [400, { status: 'error', message: 'Invalid input', category: 'VALIDATION_ERROR' }, '(400 VALIDATION_ERROR)'],
    [404, { status: 'error', message: 'resource not found', category: 'OBJECT_NOT_FOUND' }, '(404 OBJECT_NOT_FOUND)'],
    [405, { status: 'error', message: 'Method not allowed', category: `not a category: ${TOKEN}` }, '(405)'],
    [410, {}, '(410)'],
  ])('refuses a token HubSpot answers %i for, naming hubspot.accessToken, rather than asking for a retry that would get the same answer', async (status, body, named) => {
    server.use(http.get(ACCOUNT_INFO_URL, () => HttpResponse.json(body, { status, headers: { 'retry-after': '5' } })));
    const verifier = createHubSpotAccountVerifier();
    expect(await verifier.lookUp(TOKEN)).toMatchObject({ outcome: 'request_refused', status });
    const verdict = await checkHubSpotAccountClaim(verifier, { accessToken: TOKEN, portalId: '12345' });
    expect(refusedIssues(verdict)).toEqual([{ path: 'hubspot.accessToken', message: expect.stringContaining(`refused the request for the account's details made with the access token ${named}`) }]);
    expect(JSON.stringify(verdict)).not.toContain(TOKEN);
  });

  it.each([
    ['a 429 with Retry-After in seconds', 429, '7', 7],
    ['a 503 with Retry-After in seconds', 503, '120', 120],
    ['a 429 with Retry-After as a date', 429, 'Sun, 01 Mar 2026 09:00:42 GMT', 42],
    ['a 503 asking for a day', 503, '86400', 3600],
    ['a 429 asking for no wait', 429, '0', 1],
    ['a 503 with a date already past', 503, 'Sun, 01 Mar 2026 08:59:00 GMT', 1],
    ['a 429 with a Retry-After that cannot be read', 429, 'soon', 10],
  ])("is unavailable on %s, waiting as HubSpot asks, within a second and an hour", async (_name, status, retryAfter, retryAfterSeconds) => {
    server.use(
      http.get(ACCOUNT_INFO_URL, () =>
        HttpResponse.json(
          { status: 'error', message: status === 429 ? 'You have reached your ten_secondly_rolling limit.' : 'unavailable', ...(status === 429 ? { errorType: 'RATE_LIMIT', policyName: 'TEN_SECONDLY_ROLLING' } : {}) },
          { status, headers: { 'retry-after': retryAfter } },
        ),
      ),
    );
    const verifier = createHubSpotAccountVerifier({ now: () => Date.parse('2026-03-01T09:00:00.000Z') });
    expect(await verifier.lookUp(TOKEN)).toEqual({ outcome: 'unavailable', reason: `HubSpot answered ${status}${status === 429 ? ': the rate limit is reached' : ''}`, retryAfterSeconds });
  });

  it('is unavailable when HubSpot does not answer in time, and a late answer changes nothing', async () => {
    let answer: (() => void) | undefined;
    const answered = new Promise<void>((resolve) => {
      answer = resolve;
    });
    let asked = false;
    server.use(
      http.get(ACCOUNT_INFO_URL, async () => {
        asked = true;
        await answered;
        return HttpResponse.json({ status: 'error', message: 'too late' }, { status: 500 });
      }),
    );
    const waits: number[] = [];
    let timeUp: (() => void) | undefined;
    const verifier = createHubSpotAccountVerifier({
      wait: (ms) => {
        waits.push(ms);
        return new Promise((resolve) => {
          timeUp = resolve;
        });
      },
    });
    const lookup = verifier.lookUp(TOKEN);
    await until(() => asked);
    timeUp?.();
    expect(await lookup).toEqual({ outcome: 'unavailable', reason: 'HubSpot did not answer within 10 s', retryAfterSeconds: 30 });
    expect(waits).toEqual([ACCOUNT_CHECK_TIMEOUT_MS]);
    answer?.();
  });

  it.each([['a bell', `${TOKEN}\u0007`], ['a line feed', `${TOKEN}\nX-Injected: 1`], ['a space', 'pat eu1'], ['a non-ASCII letter', 'pat-eü1']])(
    'refuses a token holding %s without asking HubSpot, and never quotes it',
    async (_what, token) => {
      // msw refuses any request: HubSpot is not asked.
      const verdict = await checkHubSpotAccountClaim(createHubSpotAccountVerifier(), { accessToken: token, portalId: '12345' });
      const issues = refusedIssues(verdict);
      expect(issues).toEqual([{ path: 'hubspot.accessToken', message: expect.stringMatching(/not a HubSpot access token/) }]);
      expect(JSON.stringify(verdict)).not.toContain(token);
    },
  );

  it('asks the base path it is given', async () => {
    const base = 'https://hubspot-proxy.example.com';
    server.use(http.get(`${base}/account-info/v3/details`, () => HttpResponse.json(accountDetails(424242))));
    expect(await createHubSpotAccountVerifier({ basePath: `${base}/` }).lookUp(TOKEN)).toEqual({ outcome: 'found', portalId: '424242' });
  });
});

/** Lets pending I/O run until `condition` holds (no timers: nothing waits on real time). */
async function until(condition: () => boolean, turns = 1000): Promise<void> {
  for (let turn = 0; turn < turns; turn += 1) {
    if (condition()) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error('the condition never held');
}

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { useHubSpotMsw } from '../connectors/hubspot/msw.js';
import { body, expectProblem, parsed, testApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

// Settings with a HubSpot account are checked against HubSpot once they parse: any call that got that far fails the test.
useHubSpotMsw();

beforeEach(async () => {
  t = await testApp({ allowPrivateTargets: true });
  acme = await t.tenant('Acme');
});

afterEach(async () => {
  await t.close();
});

const ProblemSchema = z.object({ detail: z.string(), errors: z.array(z.object({ path: z.string(), message: z.string() })) });

/** The detail and errors of a 422 VALIDATION_FAILED problem. */
function refused(response: Parameters<typeof expectProblem>[0]): z.output<typeof ProblemSchema> {
  expectProblem(response, 422, 'VALIDATION_FAILED');
  return parsed(response, ProblemSchema);
}

const CHANNELS = 'whatsapp, sms, email, messenger, telegram, webchat';
const stop = { channel: 'whatsapp', messageId: 'wamid.1', from: { id: '+34600000001', name: 'Ana Test' }, text: 'STOP' };

describe('a field a request leaves out is required, in those words', () => {
  it('POST /v1/messages with "from": {} names from.id as required', async () => {
    const response = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { ...stop, from: {} } });
    expect(refused(response)).toEqual({ detail: 'from.id: is required', errors: [{ path: 'from.id', message: 'is required' }] });
  });

  it('POST /v1/messages names each absent field as required, the channel with the channels it takes, and a wrong value as before', async () => {
    const response = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { messageId: 5, from: {}, text: 'STOP' } });
    expect(refused(response).errors).toEqual([
      { path: 'channel', message: `is required: one of ${CHANNELS}` },
      { path: 'messageId', message: 'Invalid input: expected string, received number' },
      { path: 'from.id', message: 'is required' },
    ]);
  });

  it('PATCH /v1/settings with a privacy policy URL without its scheme, or not http(s), says how to write it', async () => {
    for (const privacyPolicyUrl of ['example.com/privacy', 'ftp://example.com/privacy', 'javascript:alert(1)']) {
      expect(refused(await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { privacyPolicyUrl } })).errors).toEqual([
        { path: 'privacyPolicyUrl', message: 'must be an http(s) URL with its scheme, such as https://example.com/privacy' },
      ]);
    }
  });

  it('PATCH /v1/settings refuses a privacy policy URL with a user name or password, which every contact would be sent', async () => {
    for (const privacyPolicyUrl of ['https://user:pw@example.com/privacy', 'https://user@example.com/privacy']) {
      expect(refused(await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { privacyPolicyUrl } })).errors).toEqual([
        { path: 'privacyPolicyUrl', message: 'must not carry a user name or password: every contact is sent this link, and the consent records quote it for good' },
      ]);
    }
    const plain = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { privacyPolicyUrl: 'https://example.com/privacy?ref=chat#terms' } });
    expect(plain.statusCode, plain.body).toBe(200);
  });

  it('PATCH /v1/settings with a HubSpot access token and no portalId names hubspot.portalId as required', async () => {
    const response = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { hubspot: { accessToken: 'pat-na1-fake' } } });
    expect(refused(response)).toEqual({ detail: 'Invalid settings: hubspot.portalId: is required', errors: [{ path: 'hubspot.portalId', message: 'is required' }] });
  });

  it('GET /v1/contacts/{id}/permission without channel names it as required, with the channels it takes', async () => {
    const created = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Ana Test' } });
    expect(created.statusCode, created.body).toBe(201);
    const response = await t.as(acme, { method: 'GET', url: `/v1/contacts/${String(body(created).id)}/permission?purpose=marketing` });
    const message = `is required: one of ${CHANNELS}, any`;
    expect(refused(response)).toEqual({ detail: `channel: ${message}`, errors: [{ path: 'channel', message }] });
    // A channel that is there but unknown is still worded as one that is not in the list.
    const unknown = await t.as(acme, { method: 'GET', url: `/v1/contacts/${String(body(created).id)}/permission?purpose=marketing&channel=fax` });
    expect(refused(unknown).errors).toEqual([{ path: 'channel', message: `"fax" is not one of ${CHANNELS}, any` }]);
  });

  it("POST /v1/consents/bulk answers an empty row with its purpose, channel and status as required", async () => {
    const response = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: [{}] } });
    expect(response.statusCode, response.body).toBe(200);
    // In the row's field order, as consentry import lists a line's problems.
    const issues = [
      { path: 'contactId', message: 'a row needs a contactId, an email or a phone' },
      { path: 'purpose', message: 'is required' },
      { path: 'channel', message: `is required: one of ${CHANNELS}, any` },
      { path: 'status', message: 'is required: one of opted_in, opted_out' },
    ];
    expect(response.json()).toEqual({
      results: [
        {
          row: 0,
          ok: false,
          error: { code: 'VALIDATION_FAILED', message: issues.map((issue) => `${issue.path}: ${issue.message}`).join('; '), issues },
        },
      ],
    });
  });

  it('POST /v1/hooks/{id}/deliveries/retry without a body, or with a null one, names the body as required', async () => {
    const hook = await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl: 'http://127.0.0.1:9/hooks', event: '*' } });
    expect(hook.statusCode, hook.body).toBe(201);
    const url = `/v1/hooks/${String(body(hook).id)}/deliveries/retry`;
    const expected = { detail: 'body: is required', errors: [{ path: 'body', message: 'is required' }] };
    expect(refused(await t.as(acme, { method: 'POST', url }))).toEqual(expected);
    expect(refused(await t.as(acme, { method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: 'null' }))).toEqual(expected);
    // A body of another kind is not a missing one.
    expect(refused(await t.as(acme, { method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: '[]' })).errors).toEqual([
      { path: 'body', message: 'Invalid input: expected object, received array' },
    ]);
    // The field it lacks is required, with the one value it takes; another value keeps the route's own message.
    expect(refused(await t.as(acme, { method: 'POST', url, payload: {} })).errors).toEqual([{ path: 'status', message: 'is required: dead' }]);
    expect(refused(await t.as(acme, { method: 'POST', url, payload: { status: 'pending' } })).errors).toEqual([
      { path: 'status', message: 'must be "dead": only dead letters can be sent again' },
    ]);
  });

  it('POST /v1/hooks without an event names it as required, and an unknown event as before', async () => {
    expect(refused(await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl: 'http://127.0.0.1:9/hooks' } })).errors).toEqual([
      { path: 'event', message: 'is required' },
    ]);
    expect(refused(await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl: 'http://127.0.0.1:9/hooks', event: 'consent.maybe' } })).errors).toEqual([
      { path: 'event', message: expect.stringMatching(/^"consent\.maybe" is not one of consent\.given, .*, sync\.failed, \* \(\* for all of them\)$/) },
    ]);
  });

  it('POST /v1/hooks without a targetUrl names it as required, and a targetUrl that is no URL as before', async () => {
    expect(refused(await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { event: '*' } }))).toEqual({
      detail: 'targetUrl: is required',
      errors: [{ path: 'targetUrl', message: 'is required' }],
    });
    expect(refused(await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { event: '*', targetUrl: 'ftp://example.com/x' } })).errors).toEqual([
      { path: 'targetUrl', message: 'must be an http(s) URL' },
    ]);
  });

  it('names an absent body or query field as required when the path parameters failed first', async () => {
    // Fastify stops at the first part that fails (params, then body, then query); the others are checked beside it.
    const tooLong = 'x'.repeat(201);
    const idIssue = { path: 'id', message: 'has 201 characters, at most 200' };
    expect(refused(await t.as(acme, { method: 'POST', url: `/v1/hooks/${tooLong}/deliveries/retry` })).errors).toEqual([idIssue, { path: 'body', message: 'is required' }]);
    expect(refused(await t.as(acme, { method: 'GET', url: `/v1/contacts/${tooLong}/permission` })).errors).toEqual([
      idIssue,
      { path: 'channel', message: `is required: one of ${CHANNELS}, any` },
    ]);
  });
});

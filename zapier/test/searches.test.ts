import { describe, expect, it } from 'vitest';
import { consentStatusByChannel } from '../src/contacts.js';
import checkPermission from '../src/searches/check_permission.js';
import findContact from '../src/searches/find_contact.js';
import findWorkflowRun from '../src/searches/find_workflow_run.js';
import { erasedContactJson } from './helpers.js';
import { errorDetails, problem, rejection, requests, route, run, useMockServer } from './support.js';

useMockServer();

const CONTACT_ID = '01JQ7ZK4C2V9N8M3T5R6W1XYZA';
const contact = {
  id: CONTACT_ID,
  name: 'Ana Test',
  email: 'ana.test@example.com',
  phone: '+34600000001',
  identities: [{ channel: 'whatsapp', externalId: '+34600000001' }],
  fields: { city: 'Madrid' },
  tags: ['VIP'],
  hubspotId: null,
  createdAt: '2026-03-01T09:00:00.000Z',
  updatedAt: '2026-03-01T09:05:00.000Z',
  erasedAt: null,
};
const consent = (purpose: string, channel: string, status: string, legalBasis: string | null) => ({
  purpose,
  channel,
  status,
  effectiveStatus: status,
  overriddenBy: null,
  legalBasis,
  explanation: 'Replied on WhatsApp',
  source: 'keyword',
  occurredAt: '2026-03-01T09:15:00.000Z',
  recordId: `rec_${purpose}_${channel}`,
});

const trail = () => requests.map((request) => `${request.method} ${request.path}`);

describe('find_contact', () => {
  const { perform } = findContact.operation;

  it('finds the contact by email and returns it with its current consents', async () => {
    route('get', '/v1/contacts', { body: { data: [contact], nextCursor: null } });
    route('get', `/v1/contacts/${CONTACT_ID}/consents`, {
      body: {
        contactId: CONTACT_ID,
        data: [consent('marketing', 'whatsapp', 'opted_in', 'CONSENT_WITH_NOTICE'), consent('marketing', 'sms', 'opted_out', null)],
      },
    });
    const results = await run(perform, { inputData: { email: 'ana.test@example.com' } });
    expect(trail()).toEqual(['GET /v1/contacts', `GET /v1/contacts/${CONTACT_ID}/consents`]);
    expect(requests[0]?.query.get('email')).toBe('ana.test@example.com');
    expect(results).toEqual([
      {
        id: CONTACT_ID,
        name: 'Ana Test',
        email: 'ana.test@example.com',
        phone: '+34600000001',
        tags: ['VIP'],
        tagList: 'VIP',
        fields: { city: 'Madrid' },
        createdAt: '2026-03-01T09:00:00.000Z',
        updatedAt: '2026-03-01T09:05:00.000Z',
        consents: [
          { ...consent('marketing', 'whatsapp', 'opted_in', 'CONSENT_WITH_NOTICE'), legalBasisLabel: 'Freely given consent from contact' },
          { ...consent('marketing', 'sms', 'opted_out', null), legalBasisLabel: null },
        ],
        consentStatus: {
          marketing_whatsapp: 'opted_in',
          marketing_sms: 'opted_out',
          marketing_email: 'not_specified',
          marketing_messenger: 'not_specified',
          marketing_telegram: 'not_specified',
          marketing_webchat: 'not_specified',
          marketing_any: 'not_specified',
        },
      },
    ]);
  });

  it('falls back to the phone when no contact has the email', async () => {
    route('get', '/v1/contacts', ({ query }) => ({ body: { data: query.get('phone') ? [contact] : [], nextCursor: null } }));
    route('get', `/v1/contacts/${CONTACT_ID}/consents`, { body: { contactId: CONTACT_ID, data: [] } });
    const results = await run(perform, { inputData: { email: 'old@example.com', phone: '+34600000001' } });
    expect(requests.map((request) => request.query.toString())).toEqual(['email=old%40example.com&limit=1', 'phone=%2B34600000001&limit=1', '']);
    expect(results).toMatchObject([{ id: CONTACT_ID, consents: [], consentStatus: {} }]);
  });

  it('returns [] when nobody matches, so Find or Create can create', async () => {
    route('get', '/v1/contacts', { body: { data: [], nextCursor: null } });
    expect(await run(perform, { inputData: { email: 'nobody@example.com' } })).toEqual([]);
  });

  it('needs a contact ID, an email or a phone', async () => {
    const error = await rejection(run(perform, { inputData: { email: ' ' } }));
    expect(errorDetails(error).message).toContain('email: give a contact ID, an email or a phone number');
    expect(requests).toHaveLength(0);
  });

  it('finds a contact by the Contact ID a trigger gives', async () => {
    route('get', `/v1/contacts/${CONTACT_ID}`, { body: contact });
    route('get', `/v1/contacts/${CONTACT_ID}/consents`, { body: { contactId: CONTACT_ID, data: [consent('marketing', 'sms', 'opted_in', 'CONSENT_WITH_NOTICE')] } });
    const results = await run(perform, { inputData: { contactId: CONTACT_ID, email: '' } });
    expect(trail()).toEqual([`GET /v1/contacts/${CONTACT_ID}`, `GET /v1/contacts/${CONTACT_ID}/consents`]);
    expect(results).toMatchObject([{ id: CONTACT_ID, email: 'ana.test@example.com', consentStatus: { marketing_sms: 'opted_in' } }]);
  });

  it('finds nothing for a Contact ID that names no contact (404)', async () => {
    route('get', '/v1/contacts/:id', problem(404, 'NOT_FOUND', 'contact not found'));
    expect(await run(perform, { inputData: { contactId: '01NOPE' } })).toEqual([]);
  });

  it('finds nothing for the Contact ID of an erased contact, which the server answers 200 with erasedAt set', async () => {
    route('get', `/v1/contacts/${CONTACT_ID}`, { body: erasedContactJson() });
    expect(await run(perform, { inputData: { contactId: CONTACT_ID } })).toEqual([]);
    expect(trail()).toEqual([`GET /v1/contacts/${CONTACT_ID}`]);
  });

  it('gives each channel the status in force there: a newer STOP ALL makes an opted-in channel opted out', async () => {
    const stopAll = { ...consent('marketing', 'any', 'opted_out', null), occurredAt: '2026-03-02T18:40:00.000Z' };
    const overriddenBy = { recordId: stopAll.recordId, channel: 'any', status: 'opted_out', occurredAt: stopAll.occurredAt };
    const whatsapp = { ...consent('marketing', 'whatsapp', 'opted_in', 'CONSENT_WITH_NOTICE'), effectiveStatus: 'opted_out', overriddenBy };
    route('get', '/v1/contacts', { body: { data: [contact], nextCursor: null } });
    route('get', `/v1/contacts/${CONTACT_ID}/consents`, { body: { contactId: CONTACT_ID, data: [stopAll, whatsapp] } });
    const results = await run(perform, { inputData: { phone: '+34600000001' } });
    expect(results).toMatchObject([
      {
        consentStatus: {
          marketing_any: 'opted_out',
          marketing_whatsapp: 'opted_out',
          // No row of their own: the STOP ALL governs them too, as the permission check answers.
          marketing_sms: 'opted_out',
          marketing_email: 'opted_out',
          marketing_messenger: 'opted_out',
          marketing_telegram: 'opted_out',
          marketing_webchat: 'opted_out',
        },
        consents: [
          { channel: 'any', status: 'opted_out', effectiveStatus: 'opted_out', overriddenBy: null },
          { channel: 'whatsapp', status: 'opted_in', effectiveStatus: 'opted_out', overriddenBy },
        ],
      },
    ]);
  });

  it('refuses consents without the status in force rather than guess it (a server too old)', async () => {
    const { effectiveStatus: _effective, overriddenBy: _overridden, ...recordedOnly } = consent('marketing', 'whatsapp', 'opted_in', 'CONSENT_WITH_NOTICE');
    route('get', '/v1/contacts', { body: { data: [contact], nextCursor: null } });
    route('get', `/v1/contacts/${CONTACT_ID}/consents`, { body: { contactId: CONTACT_ID, data: [recordedOnly] } });
    const details = errorDetails(await rejection(run(perform, { inputData: { email: 'ana.test@example.com' } })));
    expect(details).toMatchObject({ name: 'AppError', code: 'UNEXPECTED_RESPONSE' });
    expect(details.message).toContain('data.0.effectiveStatus');
    expect(details.message).toContain('is that server up to date?');
  });

  it('returns [] when the contact disappears between the two calls (404)', async () => {
    route('get', '/v1/contacts', { body: { data: [contact], nextCursor: null } });
    route('get', `/v1/contacts/${CONTACT_ID}/consents`, problem(404, 'NOT_FOUND', 'contact not found'));
    expect(await run(perform, { inputData: { email: 'ana.test@example.com' } })).toEqual([]);
  });

  it('asks Zapier to retry on a server error', async () => {
    route('get', '/v1/contacts', problem(503, 'UNAVAILABLE', 'maintenance'));
    expect(errorDetails(await rejection(run(perform, { inputData: { email: 'ana.test@example.com' } }))).name).toBe('ThrottledError');
  });
});

describe('check_permission', () => {
  const { perform } = checkPermission.operation;

  it('asks GET /v1/contacts/{id}/permission and answers allowed and reason', async () => {
    route('get', `/v1/contacts/${CONTACT_ID}`, { body: contact });
    route('get', `/v1/contacts/${CONTACT_ID}/permission`, {
      body: { allowed: true, reason: 'opted_in', status: 'opted_in', since: '2026-03-01T09:15:00.000Z' },
    });
    const results = await run(perform, { inputData: { contactId: CONTACT_ID, channel: 'whatsapp', purpose: '' } });
    expect(trail()).toEqual([`GET /v1/contacts/${CONTACT_ID}`, `GET /v1/contacts/${CONTACT_ID}/permission`]);
    expect(requests[1]?.query.get('channel')).toBe('whatsapp');
    expect(requests[1]?.query.get('purpose')).toBe('marketing');
    expect(results).toEqual([
      {
        id: `${CONTACT_ID}:marketing:whatsapp`,
        contactId: CONTACT_ID,
        purpose: 'marketing',
        channel: 'whatsapp',
        allowed: true,
        reason: 'opted_in',
        status: 'opted_in',
        since: '2026-03-01T09:15:00.000Z',
      },
    ]);
  });

  it('finds the contact by phone and reports a refusal', async () => {
    route('get', '/v1/contacts', { body: { data: [contact], nextCursor: null } });
    route('get', `/v1/contacts/${CONTACT_ID}/permission`, {
      body: { allowed: false, reason: 'not_specified', status: 'not_specified', since: null },
    });
    const results = await run(perform, { inputData: { phone: '+34600000001', channel: 'sms', purpose: 'privacy' } });
    expect(results).toMatchObject([{ allowed: false, reason: 'not_specified', since: null, purpose: 'privacy' }]);
  });

  it('answers "not allowed, never asked" with an empty contact ID for an email or phone Consentry has never seen', async () => {
    route('get', '/v1/contacts', { body: { data: [], nextCursor: null } });
    const results = await run(perform, { inputData: { email: 'new.lead@example.com', phone: '+34600000002', channel: 'email', purpose: '' } });
    expect(trail()).toEqual(['GET /v1/contacts', 'GET /v1/contacts']);
    expect(results).toEqual([
      {
        id: 'no-contact:marketing:email',
        contactId: '',
        purpose: 'marketing',
        channel: 'email',
        allowed: false,
        reason: 'not_specified',
        status: 'not_specified',
        since: null,
      },
    ]);
  });

  it('returns [] for an unknown contact ID (404)', async () => {
    route('get', '/v1/contacts/:id', problem(404, 'NOT_FOUND', 'contact not found'));
    expect(await run(perform, { inputData: { contactId: '01NOPE', channel: 'sms' } })).toEqual([]);
  });

  it('passes the server’s 422 field message on', async () => {
    route('get', `/v1/contacts/${CONTACT_ID}`, { body: contact });
    route('get', `/v1/contacts/${CONTACT_ID}/permission`, problem(422, 'VALIDATION_FAILED', 'bad query', [{ path: 'purpose', message: 'unknown purpose' }]));
    const error = await rejection(run(perform, { inputData: { contactId: CONTACT_ID, channel: 'sms', purpose: 'loyalty' } }));
    expect(errorDetails(error)).toMatchObject({ message: 'purpose: unknown purpose', status: 422 });
  });

  it('asks Zapier to retry on a server error', async () => {
    route('get', `/v1/contacts/${CONTACT_ID}`, problem(500, 'INTERNAL', 'boom'));
    expect(errorDetails(await rejection(run(perform, { inputData: { contactId: CONTACT_ID, channel: 'sms' } }))).name).toBe('ThrottledError');
  });
});

describe('find_contact given an email and a phone', () => {
  const { perform } = findContact.operation;
  const OTHER_ID = '01JQ7ZK4C2V9N8M3T5R6W1XYZB';

  it('stops, naming both, when they find two different contacts', async () => {
    route('get', '/v1/contacts', ({ query }) => ({
      body: { data: [query.has('phone') ? { ...contact, id: OTHER_ID, email: null } : { ...contact, phone: null }], nextCursor: null },
    }));
    const details = errorDetails(await rejection(run(perform, { inputData: { email: 'ana.test@example.com', phone: '+34600000001' } })));
    expect(details).toMatchObject({ name: 'AppError', code: 'AMBIGUOUS_CONTACT', status: 409 });
    expect(details.message).toContain(`${CONTACT_ID} (by email) and ${OTHER_ID} (by phone)`);
    expect(trail()).toEqual(['GET /v1/contacts', 'GET /v1/contacts']);
  });

  it('finds the contact both name, writing nothing', async () => {
    route('get', '/v1/contacts', { body: { data: [contact], nextCursor: null } });
    route('get', `/v1/contacts/${CONTACT_ID}/consents`, { body: { contactId: CONTACT_ID, data: [] } });
    expect(await run(perform, { inputData: { email: 'ana.test@example.com', phone: '+34600000001' } })).toMatchObject([{ id: CONTACT_ID }]);
    expect(trail()).toEqual(['GET /v1/contacts', 'GET /v1/contacts', `GET /v1/contacts/${CONTACT_ID}/consents`]);
  });
});

describe('consentStatusByChannel', () => {
  const row = (purpose: string, channel: string, effectiveStatus: 'opted_in' | 'opted_out') => ({
    ...consent(purpose, channel, effectiveStatus, null),
    effectiveStatus,
  });

  it('gives every messaging channel of each purpose present a key, a channel without a row the purpose’s all-channel decision', () => {
    const status = consentStatusByChannel([row('privacy', 'whatsapp', 'opted_in'), row('marketing', 'any', 'opted_out'), row('marketing', 'sms', 'opted_in')]);
    expect(status).toEqual({
      privacy_whatsapp: 'opted_in',
      privacy_sms: 'not_specified',
      privacy_email: 'not_specified',
      privacy_messenger: 'not_specified',
      privacy_telegram: 'not_specified',
      privacy_webchat: 'not_specified',
      privacy_any: 'not_specified',
      marketing_whatsapp: 'opted_out',
      // A newer opt-in on SMS after the STOP ALL: its row's effectiveStatus, as the server computed it.
      marketing_sms: 'opted_in',
      marketing_email: 'opted_out',
      marketing_messenger: 'opted_out',
      marketing_telegram: 'opted_out',
      marketing_webchat: 'opted_out',
      marketing_any: 'opted_out',
    });
    expect(consentStatusByChannel([])).toEqual({});
  });
});

describe('check_permission: channel, addresses and purpose', () => {
  const { perform } = checkPermission.operation;

  it('refuses "any" as the channel: it would only ask whether an all-channel decision exists', async () => {
    const error = await rejection(run(perform, { inputData: { contactId: CONTACT_ID, channel: 'any' } }));
    expect(errorDetails(error)).toMatchObject({ code: 'INVALID_INPUT' });
    expect(errorDetails(error).message).toContain('channel: "any" is not one of whatsapp, sms, email, messenger, telegram, webchat');
    expect(requests).toHaveLength(0);
  });

  it('looks the phone up first on SMS, and stops when email and phone name two contacts', async () => {
    const OTHER_ID = '01JQ7ZK4C2V9N8M3T5R6W1XYZB';
    route('get', '/v1/contacts', ({ query }) => ({ body: { data: [query.has('phone') ? contact : { ...contact, id: OTHER_ID }], nextCursor: null } }));
    const error = await rejection(run(perform, { inputData: { email: 'eva.test@example.com', phone: '+34600000001', channel: 'sms' } }));
    expect(errorDetails(error)).toMatchObject({ code: 'AMBIGUOUS_CONTACT' });
    expect(requests.map((request) => [...request.query.keys()][0])).toEqual(['phone', 'email']);
  });

  it('refuses a purpose the workspace does not know for a contact it has never seen, instead of "never asked"', async () => {
    route('get', '/v1/contacts', { body: { data: [], nextCursor: null } });
    route('get', '/v1/settings', { body: { privacyPolicyUrl: null, purposes: ['loyalty'] } });
    const details = errorDetails(await rejection(run(perform, { inputData: { email: 'new.lead@example.com', channel: 'email', purpose: 'newsleter' } })));
    expect(details).toMatchObject({ name: 'AppError', code: 'VALIDATION_FAILED', status: 422 });
    // The server's words (core/settings.ts, assertKnownPurpose), its built-in purposes in its order.
    expect(details.message).toBe(
      'purpose: unknown purpose "newsleter": this workspace knows privacy, marketing, loyalty (add its own purposes to settings.purposes)',
    );
    expect(trail()).toEqual(['GET /v1/contacts', 'GET /v1/settings']);
  });

  it('answers "never asked" for a purpose of the workspace’s own', async () => {
    route('get', '/v1/contacts', { body: { data: [], nextCursor: null } });
    route('get', '/v1/settings', { body: { purposes: ['loyalty'] } });
    const results = await run(perform, { inputData: { email: 'new.lead@example.com', channel: 'email', purpose: 'loyalty' } });
    expect(results).toMatchObject([{ id: 'no-contact:loyalty:email', reason: 'not_specified', purpose: 'loyalty' }]);
  });
});

describe('find_workflow_run', () => {
  const { perform } = findWorkflowRun.operation;
  const RUN_ID = '01JQ86M2NCPDQERSFTGVHWJXKY';
  const RUN_PATH = `/v1/workflows/request-consent-privacy/runs/${RUN_ID}`;
  /** A run as `GET /v1/workflows/{template}/runs/{runId}` answers it while it waits for the contact's answer. */
  const waitingRun = {
    runId: RUN_ID,
    template: 'request-consent-privacy',
    contactId: CONTACT_ID,
    channel: 'whatsapp',
    conversationId: '01JQ86M2NCPDQERSFTGVHWJXKZ',
    status: 'active',
    outcome: null,
    startedAt: '2026-03-01T09:10:00.000Z',
    endedAt: null,
    waiting: { step: 'request_consent', kind: 'answer', dueAt: '2026-03-01T09:15:00.000Z', timesAsked: 1 },
  };
  const input = { template: 'request-consent-privacy', runId: RUN_ID };

  it('finds a run that still waits for the contact’s answer: outcome null, what it waits for', async () => {
    route('get', RUN_PATH, { body: waitingRun });
    const results = await run(perform, { inputData: input });
    expect(trail()).toEqual([`GET ${RUN_PATH}`]);
    expect(requests[0]).toMatchObject({ authorization: 'Bearer ck_test_0000000000000000', source: 'zapier' });
    expect(results).toEqual([{ id: RUN_ID, ...waitingRun }]);
  });

  it('finds a finished run with its outcome and end, waiting for nothing', async () => {
    const finished = { ...waitingRun, status: 'completed', outcome: 'given', endedAt: '2026-03-01T09:12:30.000Z', waiting: null };
    route('get', RUN_PATH, { body: finished });
    expect(await run(perform, { inputData: input })).toEqual([{ id: RUN_ID, ...finished }]);
  });

  it('looks the run up under the chosen workflow, the run ID trimmed and both path segments encoded', async () => {
    route('get', '/v1/workflows/:template/runs/:runId', { body: { ...waitingRun, template: 'welcome-request-phone' } });
    await run(perform, { inputData: { template: 'welcome-request-phone', runId: ` ${RUN_ID}\n` } });
    await run(perform, { inputData: { template: 'welcome-request-phone', runId: 'a/b?c' } });
    expect(trail()).toEqual([`GET /v1/workflows/welcome-request-phone/runs/${RUN_ID}`, 'GET /v1/workflows/welcome-request-phone/runs/a%2Fb%3Fc']);
  });

  // A search with no result answers an empty array, which a 404 for "no result" is turned into
  // (https://docs.zapier.com/platform/build/action, "Search actions").
  it('finds nothing for a run the server does not have (404 naming runId)', async () => {
    const message = `no run ${RUN_ID} of workflow "request-consent-privacy" in this workspace`;
    route('get', RUN_PATH, problem(404, 'NOT_FOUND', `runId: ${message}`, [{ path: 'runId', message }]));
    expect(await run(perform, { inputData: input })).toEqual([]);
  });

  // Not "nothing found": the Workflow field holds a value the server does not know, which the user
  // has to fix, and for which Zapier asks an error (z.errors.Error for a misconfigured step,
  // https://docs.zapier.com/platform/publish/integration-build-guidelines); an empty answer would
  // let a "Continue if nothing found" Zap go on as if every run had gone.
  it('fails for a workflow the server does not know (404 naming template)', async () => {
    const message = 'unknown template "request-consent": the built-in ones are request-consent-privacy, welcome-request-email, welcome-request-phone';
    route('get', `/v1/workflows/request-consent/runs/${RUN_ID}`, problem(404, 'NOT_FOUND', `template: ${message}`, [{ path: 'template', message }]));
    const details = errorDetails(await rejection(run(perform, { inputData: { ...input, template: 'request-consent' } })));
    expect(details).toEqual({ name: 'AppError', code: 'NOT_FOUND', status: 404, message: `Not found: template: ${message}` });
  });

  it('fails, rather than finding nothing, when the server has no such endpoint (a 404 naming no field)', async () => {
    route('get', RUN_PATH, problem(404, 'NOT_FOUND', `No route GET ${RUN_PATH}`));
    const details = errorDetails(await rejection(run(perform, { inputData: input })));
    expect(details).toMatchObject({ name: 'AppError', code: 'NOT_FOUND', status: 404, message: `Not found: No route GET ${RUN_PATH}` });
  });

  it('asks to reconnect when the server refuses the API key (401)', async () => {
    route('get', RUN_PATH, problem(401, 'UNAUTHORIZED', 'invalid API key'));
    const error = await rejection(run(perform, { inputData: input }));
    expect(error.name).toBe('ExpiredAuthError');
    expect(error.message).toContain('Consentry rejected the API key (invalid API key)');
  });

  it('asks Zapier to retry on a server error', async () => {
    route('get', RUN_PATH, problem(503, 'UNAVAILABLE', 'maintenance'));
    expect(errorDetails(await rejection(run(perform, { inputData: input }))).name).toBe('ThrottledError');
  });

  it('needs a workflow and a run ID, and sends nothing without them', async () => {
    const error = await rejection(run(perform, { inputData: { template: '', runId: ' ' } }));
    expect(errorDetails(error)).toMatchObject({ code: 'INVALID_INPUT', message: "Check the step's fields: template: is required; runId: is required" });
    expect(requests).toHaveLength(0);
  });

  it('refuses an answer without outcome or waiting rather than read the run as still waiting (a server too old)', async () => {
    const { outcome: _outcome, waiting: _waiting, ...withoutThem } = waitingRun;
    route('get', RUN_PATH, { body: withoutThem });
    const details = errorDetails(await rejection(run(perform, { inputData: input })));
    expect(details).toMatchObject({ name: 'AppError', code: 'UNEXPECTED_RESPONSE' });
    expect(details.message).toContain('outcome');
  });
});

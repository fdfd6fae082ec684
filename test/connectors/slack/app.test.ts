import { App } from '@slack/bolt';
import { http, HttpResponse } from 'msw';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { InMemoryAlertStore } from '../../../connectors/slack/actions-port.js';
import { createSlackApp, type SlackApp, type SlackAppOptions } from '../../../connectors/slack/app.js';
import { ConsentryError } from '../../../src/core/errors.js';
import { FakeClock } from '../../../src/ports/clock.js';
import {
  consentFailedEvent,
  EMAIL,
  HOSTILE_NAME,
  newAlert,
  optoutReviewEvent,
  PHONE,
  recordingLogger,
} from './fixtures.js';
import {
  handlerMocks,
  listenLocally,
  signedPayload,
  SLACK_API as API,
  slackCallOf,
  slackTimestamp,
  useSlackMsw,
  type HandlerMocks,
  type LocalServer,
  type SignedRequest,
  type SlackCall,
} from './harness.js';

const SIGNING_SECRET = 'test-signing-secret';
const BOT_TOKEN = 'xoxb-test-token';
const CHANNEL = 'C0ALERTS01';
const MESSAGE_TS = '1767261600.000100';
const ALLOWED = 'UACTOR1';
const STRANGER = 'UOTHER1';

// msw listens before any App is built: WebClient captures `fetch` when it is constructed (DESIGN §6).
const mswServer = useSlackMsw({ passLoopback: true });

let calls: SlackCall[] = [];
function slackApi(...methods: string[]) {
  return methods.map((method) =>
    http.post(`${API}/${method}`, async ({ request }) => {
      calls.push(await slackCallOf(method, request));
      return HttpResponse.json({ ok: true, channel: CHANNEL, ts: MESSAGE_TS });
    }),
  );
}
const callsTo = (method: string) => calls.filter((call) => call.method === method);

let clock: FakeClock;
let alerts: InMemoryAlertStore;
let handler: HandlerMocks;
let logger: ReturnType<typeof recordingLogger>;
let slack: SlackApp;
let server: LocalServer;
let baseUrl: string;

beforeEach(async () => {
  calls = [];
  mswServer.use(
    ...slackApi('chat.update', 'chat.postEphemeral', 'views.open'),
    // The clicks' response_url has expired, so answers fall back to chat.postEphemeral, which these tests read.
    http.post('https://hooks.slack.com/*', () => new HttpResponse('expired_url', { status: 404 })),
  );
  clock = new FakeClock('2026-01-01T10:00:30.000Z');
  alerts = new InMemoryAlertStore();
  await alerts.create(newAlert('al_cf1', consentFailedEvent()));
  await alerts.create(newAlert('al_or1', optoutReviewEvent()));
  handler = handlerMocks();
  logger = recordingLogger();
  slack = createSlackApp(appOptions());
  server = await listenLocally(slack.requestListener);
  baseUrl = server.url;
});

afterEach(async () => {
  await slack.drain();
  // The only error a test provokes on purpose is a failing action; anything else is a bug.
  expect(logger.lines.filter((line) => line.startsWith('error') && !line.startsWith('error Slack action '))).toEqual([]);
  await server.close();
});

/** The app of `beforeEach`: bot ids known, one allowed user. */
function appOptions(overrides: Partial<SlackAppOptions> = {}): SlackAppOptions {
  return {
    workspaceId: 'ws_1',
    botToken: BOT_TOKEN,
    signingSecret: SIGNING_SECRET,
    botId: 'B0BOT',
    botUserId: 'U0BOT',
    allowedUserIds: [ALLOWED],
    handler,
    alerts,
    clock,
    logger,
    ...overrides,
  };
}

/** Records every auth.test call, the one Bolt makes at start-up when it does not know the bot ids. */
function recordAuthTests(): string[] {
  const authTests: string[] = [];
  mswServer.use(
    http.post(`${API}/auth.test`, ({ request }) => {
      authTests.push(request.url);
      return HttpResponse.json({ ok: true, user_id: 'U0BOT', bot_id: 'B0BOT' });
    }),
  );
  return authTests;
}

function nowSeconds(offsetSeconds = 0): string {
  return slackTimestamp(clock, offsetSeconds);
}

function sign(payload: unknown, timestamp = nowSeconds(), secret = SIGNING_SECRET): SignedRequest {
  return signedPayload(payload, secret, timestamp);
}

async function post(request: SignedRequest, path = '/slack/events'): Promise<Response> {
  const response = await fetch(`${baseUrl}${path}`, { method: 'POST', headers: request.headers, body: request.body });
  await slack.drain();
  return response;
}

function click(actionId: string, alertId: string, userId = ALLOWED) {
  return {
    type: 'block_actions',
    user: { id: userId, username: 'ana.test', name: 'ana.test', team_id: 'T0TEAM' },
    api_app_id: 'A0APP',
    token: 'legacy-verification-token',
    container: { type: 'message', message_ts: MESSAGE_TS, channel_id: CHANNEL, is_ephemeral: false },
    trigger_id: '1767261630.000000.trigger',
    team: { id: 'T0TEAM', domain: 'example' },
    channel: { id: CHANNEL, name: 'consent-alerts' },
    message: { type: 'message', ts: MESSAGE_TS, text: 'Consent request failed', blocks: [] },
    response_url: 'https://hooks.slack.com/actions/T0TEAM/1/response',
    actions: [
      {
        type: 'button',
        action_id: actionId,
        block_id: 'actions',
        value: alertId,
        text: { type: 'plain_text', text: 'button' },
        action_ts: '1767261630.000200',
      },
    ],
  };
}

function submission(values: { legalBasis?: string | null; explanation?: string | null }, userId = ALLOWED) {
  return {
    type: 'view_submission',
    team: { id: 'T0TEAM', domain: 'example' },
    user: { id: userId, username: 'ana.test', name: 'ana.test', team_id: 'T0TEAM' },
    api_app_id: 'A0APP',
    token: 'legacy-verification-token',
    trigger_id: '1767261640.000000.trigger',
    view: {
      id: 'V0VIEW',
      team_id: 'T0TEAM',
      type: 'modal',
      callback_id: 'record_consent_manually_modal',
      private_metadata: JSON.stringify({ alertId: 'al_cf1', channel: CHANNEL, messageTs: MESSAGE_TS }),
      hash: '1767261640.hash',
      blocks: [],
      state: {
        values: {
          legal_basis: {
            legal_basis_select: {
              type: 'static_select',
              selected_option: values.legalBasis ? { text: { type: 'plain_text', text: 'x' }, value: values.legalBasis } : null,
            },
          },
          explanation: { explanation_input: { type: 'plain_text_input', value: values.explanation ?? null } },
        },
      },
    },
    response_urls: [],
  };
}

const BlocksSchema = z.array(z.object({ type: z.string() }).passthrough());
const ViewSchema = z.object({ callback_id: z.string(), private_metadata: z.string() });
const ErrorsSchema = z.object({ response_action: z.literal('errors'), errors: z.record(z.string(), z.string()) });

function updatedBlocks(index = 0): z.infer<typeof BlocksSchema> {
  const update = callsTo('chat.update')[index];
  return BlocksSchema.parse(JSON.parse(update?.form.get('blocks') ?? '[]'));
}

describe('createSlackApp start-up', () => {
  it('makes no network call when botId and botUserId are given', async () => {
    const authTests = recordAuthTests();
    const quiet = createSlackApp(appOptions({ allowedUserIds: [], logger: recordingLogger() }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(quiet.endpoint).toBe('/slack/events');
    expect(authTests).toEqual([]);

    // Control: without the ids, Bolt calls auth.test at once, and msw sees it.
    const eager = new App({ token: BOT_TOKEN, signingSecret: SIGNING_SECRET, logger: recordingLogger() });
    await vi.waitFor(() => expect(authTests).toHaveLength(1));
    expect(eager).toBeInstanceOf(App);
  });
});

describe('createSlackApp without bot ids', () => {
  it('makes no auth.test call, neither when built nor when a click arrives', async () => {
    const authTests = recordAuthTests();
    const unknownIds = createSlackApp(appOptions({ botId: null, botUserId: null }));
    const local = await listenLocally(unknownIds.requestListener);
    try {
      const request = sign(click('resend_consent_request', 'al_cf1'));
      const response = await fetch(`${local.url}/slack/events`, { method: 'POST', headers: request.headers, body: request.body });
      expect(response.status).toBe(200);
      await unknownIds.drain();
      expect(handler.resendConsentRequest).toHaveBeenCalledTimes(1);
      expect(callsTo('chat.update')[0]?.authorization).toBe(`Bearer ${BOT_TOKEN}`);
      expect(authTests).toEqual([]);
    } finally {
      await local.close();
    }
  });
});

describe('request verification', () => {
  it('refuses a forged signature with 401 and changes nothing', async () => {
    const response = await post(sign(click('resend_consent_request', 'al_cf1'), nowSeconds(), 'not-the-secret'));
    expect(response.status).toBe(401);
    expect(handler.resendConsentRequest).not.toHaveBeenCalled();
    expect(calls).toEqual([]);
  });

  it('refuses a stale request (older than five minutes)', async () => {
    const response = await post(sign(click('resend_consent_request', 'al_cf1'), nowSeconds(-301)));
    expect(response.status).toBe(401);
    expect(handler.resendConsentRequest).not.toHaveBeenCalled();
    expect(logger.lines).toContain('warn Refused a Slack request: stale');
  });

  it('refuses a request dated in the future', async () => {
    const response = await post(sign(click('resend_consent_request', 'al_cf1'), nowSeconds(120)));
    expect(response.status).toBe(401);
    expect(handler.resendConsentRequest).not.toHaveBeenCalled();
    expect(logger.lines).toContain('warn Refused a Slack request: future');
  });

  it('refuses a replayed request: the same signed click works once', async () => {
    const request = sign(click('resend_consent_request', 'al_cf1'));
    expect((await post(request)).status).toBe(200);
    clock.advance(5_000);
    const replay = await post(request);
    expect(replay.status).toBe(401);
    expect(handler.resendConsentRequest).toHaveBeenCalledTimes(1);
    expect(callsTo('chat.update')).toHaveLength(1);
  });

  it('refuses unsigned requests, including an ssl_check carrying a payload', async () => {
    const body = `ssl_check=1&payload=${encodeURIComponent(JSON.stringify(click('resend_consent_request', 'al_cf1')))}`;
    const response = await fetch(`${baseUrl}/slack/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    expect(response.status).toBe(401);
    expect(handler.resendConsentRequest).not.toHaveBeenCalled();
  });

  it('answers only POST on its endpoint', async () => {
    expect((await fetch(`${baseUrl}/elsewhere`, { method: 'POST', body: 'x' })).status).toBe(404);
    expect((await fetch(`${baseUrl}/slack/events`)).status).toBe(405);
  });

  it('refuses oversized bodies before verifying them', async () => {
    const small = createSlackApp(appOptions({ bodyLimitBytes: 1000 }));
    const smallServer = await listenLocally(small.requestListener);
    try {
      const request = sign({ ...click('resend_consent_request', 'al_cf1'), filler: 'x'.repeat(1000) });
      const response = await fetch(`${smallServer.url}/slack/events`, { method: 'POST', headers: request.headers, body: request.body });
      expect(response.status).toBe(413);
      await small.drain();
      expect(handler.resendConsentRequest).not.toHaveBeenCalled();
    } finally {
      await smallServer.close();
    }
  });

  it('accepts a body already read by the hosting framework', async () => {
    const hosted = await listenLocally((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        void slack.handleRequest(req, res, Buffer.concat(chunks));
      });
    });
    try {
      const request = sign(click('resend_consent_request', 'al_cf1'));
      const response = await fetch(`${hosted.url}/slack/events`, { method: 'POST', headers: request.headers, body: request.body });
      expect(response.status).toBe(200);
      await slack.drain();
      expect(handler.resendConsentRequest).toHaveBeenCalledTimes(1);
      const forged = sign(click('resend_consent_request', 'al_cf1'), nowSeconds(1), 'not-the-secret');
      const refused = await fetch(`${hosted.url}/slack/events`, { method: 'POST', headers: forged.headers, body: forged.body });
      expect(refused.status).toBe(401);
    } finally {
      await hosted.close();
    }
  });
});

describe('buttons', () => {
  it('resends the consent request for an allowed user, then removes the buttons', async () => {
    const response = await post(sign(click('resend_consent_request', 'al_cf1')));
    expect(response.status).toBe(200);
    expect(handler.resendConsentRequest).toHaveBeenCalledTimes(1);
    expect(handler.resendConsentRequest.mock.calls[0]?.[0]).toMatchObject({
      workspaceId: 'ws_1',
      alertId: 'al_cf1',
      slackUserId: ALLOWED,
      idempotencyKey: 'slack:al_cf1:resend_consent_request',
      contactId: 'ct_1',
      channel: 'whatsapp',
      purpose: 'privacy',
      workflowId: 'request-consent-privacy',
    });

    const updates = callsTo('chat.update');
    expect(updates).toHaveLength(1);
    expect(updates[0]?.form.get('channel')).toBe(CHANNEL);
    expect(updates[0]?.form.get('ts')).toBe(MESSAGE_TS);
    const blocks = updatedBlocks();
    expect(blocks.map((block) => block.type)).toEqual(['header', 'section', 'section', 'context']);
    expect(JSON.stringify(blocks)).toContain(`<@${ALLOWED}> resent the consent request on <!date^1767261630^`);
    expect(JSON.stringify(blocks)).not.toContain(HOSTILE_NAME);
    expect(updates[0]?.authorization).toBe(`Bearer ${BOT_TOKEN}`);

    const stored = await alerts.get('ws_1', 'al_cf1');
    expect(stored?.resolution).toEqual({ action: 'resend_consent_request', slackUserId: ALLOWED, at: '2026-01-01T10:00:30.000Z' });
    expect(callsTo('chat.postEphemeral')).toHaveLength(0);
  });

  it('refuses a user who is not on the allowed list, privately, and changes nothing', async () => {
    const response = await post(sign(click('resend_consent_request', 'al_cf1', STRANGER)));
    expect(response.status).toBe(200);
    expect(handler.resendConsentRequest).not.toHaveBeenCalled();
    expect(callsTo('chat.update')).toHaveLength(0);
    const ephemerals = callsTo('chat.postEphemeral');
    expect(ephemerals).toHaveLength(1);
    expect(ephemerals[0]?.form.get('user')).toBe(STRANGER);
    expect(ephemerals[0]?.form.get('channel')).toBe(CHANNEL);
    expect(ephemerals[0]?.form.get('text')).toContain('not allowed');
    const stored = await alerts.get('ws_1', 'al_cf1');
    expect(stored?.resolution).toBeNull();
    expect(stored?.claim).toBeNull();
  });

  it('changes nothing on a second, freshly signed click: it says who handled it and heals the message', async () => {
    await post(sign(click('resend_consent_request', 'al_cf1')));
    clock.advance(60_000);
    const second = await post(sign(click('record_consent_manually', 'al_cf1')));
    expect(second.status).toBe(200);
    expect(handler.resendConsentRequest).toHaveBeenCalledTimes(1);
    expect(handler.recordConsentManually).not.toHaveBeenCalled();
    expect(callsTo('views.open')).toHaveLength(0);
    const ephemerals = callsTo('chat.postEphemeral');
    expect(ephemerals).toHaveLength(1);
    expect(ephemerals[0]?.form.get('text')).toContain(`Already handled: <@${ALLOWED}> resent the consent request`);
    expect(callsTo('chat.update')).toHaveLength(2);
    expect(updatedBlocks(1)).toEqual(updatedBlocks(0));
  });

  it('runs the action once when two clicks race', async () => {
    const first = sign(click('resend_consent_request', 'al_cf1'));
    clock.advance(1_000);
    const second = sign(click('resend_consent_request', 'al_cf1'));
    const responses = await Promise.all([post(first), post(second)]);
    expect(responses.map((response) => response.status)).toEqual([200, 200]);
    expect(handler.resendConsentRequest).toHaveBeenCalledTimes(1);
  });

  it('applies an opt-out as a slack-sourced decision by the Slack user', async () => {
    await post(sign(click('apply_optout', 'al_or1')));
    expect(handler.applyOptOut).toHaveBeenCalledTimes(1);
    const input = handler.applyOptOut.mock.calls[0]?.[0];
    expect(input?.decision).toMatchObject({
      contactId: 'ct_2',
      purpose: 'marketing',
      channel: 'sms',
      status: 'opted_out',
      source: 'slack',
      actor: { kind: 'user', id: ALLOWED },
      occurredAt: '2026-01-01T10:05:00.000Z',
      idempotencyKey: 'slack:al_or1:apply_optout',
    });
    expect(input?.decision.evidence).toMatchObject({ messageId: 'msg_1', keyword: 'stop' });
    expect(JSON.stringify(updatedBlocks())).toContain('applied the opt-out');
  });

  it('dismisses an opt-out review', async () => {
    await post(sign(click('dismiss_optout', 'al_or1')));
    expect(handler.dismissOptOut).toHaveBeenCalledTimes(1);
    expect(handler.dismissOptOut.mock.calls[0]?.[0]).toMatchObject({ contactId: 'ct_2', messageId: 'msg_1', slackUserId: ALLOWED });
    expect(JSON.stringify(updatedBlocks())).toContain('marked this message as not an opt-out');
  });

  it('refuses a button that does not belong to the alert', async () => {
    await post(sign(click('apply_optout', 'al_cf1')));
    expect(handler.applyOptOut).not.toHaveBeenCalled();
    expect(callsTo('chat.postEphemeral')[0]?.form.get('text')).toContain('does not apply');
    expect((await alerts.get('ws_1', 'al_cf1'))?.claim).toBeNull();
  });

  it('tells the user about an unknown alert', async () => {
    await post(sign(click('resend_consent_request', 'al_missing')));
    expect(handler.resendConsentRequest).not.toHaveBeenCalled();
    expect(callsTo('chat.postEphemeral')[0]?.form.get('text')).toContain('no longer knows this alert');
  });

  it('reports a refusal from the engine, escaped, and lets someone try again', async () => {
    handler.resendConsentRequest.mockResolvedValueOnce({ outcome: 'refused', message: 'Contact <!channel> was erased' });
    await post(sign(click('resend_consent_request', 'al_cf1')));
    expect(callsTo('chat.postEphemeral')[0]?.form.get('text')).toBe('Nothing was changed: Contact &lt;!channel&gt; was erased');
    expect(callsTo('chat.update')).toHaveLength(0);
    expect((await alerts.get('ws_1', 'al_cf1'))?.claim).toBeNull();

    clock.advance(2_000);
    await post(sign(click('resend_consent_request', 'al_cf1')));
    expect(handler.resendConsentRequest).toHaveBeenCalledTimes(2);
    expect((await alerts.get('ws_1', 'al_cf1'))?.resolution?.action).toBe('resend_consent_request');
  });

  it('tells the user when the alert store fails', async () => {
    vi.spyOn(alerts, 'get').mockRejectedValueOnce(new Error('database is locked'));
    await post(sign(click('resend_consent_request', 'al_cf1')));
    expect(handler.resendConsentRequest).not.toHaveBeenCalled();
    expect(callsTo('chat.postEphemeral')[0]?.form.get('text')).toBe('The action failed; try again in a moment.');
    expect(logger.lines).toContain('error Slack action resend_consent_request failed for alert al_cf1 database is locked');
  });

  it('reports a ConsentryError and releases the alert', async () => {
    handler.resendConsentRequest.mockRejectedValueOnce(new ConsentryError('CONTACT_ERASED', 'the contact was erased'));
    await post(sign(click('resend_consent_request', 'al_cf1')));
    expect(callsTo('chat.postEphemeral')[0]?.form.get('text')).toBe('Nothing was changed: the contact was erased');
    expect((await alerts.get('ws_1', 'al_cf1'))?.claim).toBeNull();
  });
});

describe('record consent manually', () => {
  it('opens the modal for an allowed user, with ids only in its metadata', async () => {
    const response = await post(sign(click('record_consent_manually', 'al_cf1')));
    expect(response.status).toBe(200);
    const opens = callsTo('views.open');
    expect(opens).toHaveLength(1);
    expect(opens[0]?.form.get('trigger_id')).toBe('1767261630.000000.trigger');
    const view = ViewSchema.parse(JSON.parse(opens[0]?.form.get('view') ?? '{}'));
    expect(view.callback_id).toBe('record_consent_manually_modal');
    expect(JSON.parse(view.private_metadata)).toEqual({ alertId: 'al_cf1', channel: CHANNEL, messageTs: MESSAGE_TS });
    for (const personal of [HOSTILE_NAME, PHONE, EMAIL, 'ct_1']) expect(view.private_metadata).not.toContain(personal);
    expect(handler.recordConsentManually).not.toHaveBeenCalled();
  });

  it('does not open the modal for a user who is not allowed', async () => {
    await post(sign(click('record_consent_manually', 'al_cf1', STRANGER)));
    expect(callsTo('views.open')).toHaveLength(0);
    expect(callsTo('chat.postEphemeral')[0]?.form.get('user')).toBe(STRANGER);
  });

  it('keeps the modal open with errors when the explanation is missing', async () => {
    const response = await post(sign(submission({ legalBasis: 'PERFORMANCE_OF_CONTRACT', explanation: '   ' })));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      response_action: 'errors',
      errors: { explanation: 'Explain how and when the contact agreed.' },
    });
    expect(handler.recordConsentManually).not.toHaveBeenCalled();
    expect(calls).toEqual([]);
  });

  it('asks for a legal basis too', async () => {
    const response = await post(sign(submission({ legalBasis: null, explanation: 'Confirmed by phone' })));
    expect(await response.json()).toEqual({
      response_action: 'errors',
      errors: { legal_basis: 'Choose the legal basis for processing.' },
    });
    expect(handler.recordConsentManually).not.toHaveBeenCalled();
  });

  it('refuses a submission from a user who is not allowed', async () => {
    const response = await post(sign(submission({ legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Said yes' }, STRANGER)));
    const body = ErrorsSchema.parse(await response.json());
    expect(body.errors.explanation).toContain('not allowed');
    expect(handler.recordConsentManually).not.toHaveBeenCalled();
  });

  it('records consent with source slack and the Slack user as actor, then updates the alert', async () => {
    const response = await post(
      sign(submission({ legalBasis: 'PERFORMANCE_OF_CONTRACT', explanation: '  Confirmed by phone on the order call  ' })),
    );
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('');
    expect(handler.recordConsentManually).toHaveBeenCalledTimes(1);
    const input = handler.recordConsentManually.mock.calls[0]?.[0];
    expect(input?.decision).toMatchObject({
      contactId: 'ct_1',
      purpose: 'privacy',
      channel: 'whatsapp',
      status: 'opted_in',
      legalBasis: 'PERFORMANCE_OF_CONTRACT',
      explanation: 'Confirmed by phone on the order call',
      source: 'slack',
      actor: { kind: 'user', id: ALLOWED },
      idempotencyKey: 'slack:al_cf1:record_consent_manually',
    });
    const updates = callsTo('chat.update');
    expect(updates).toHaveLength(1);
    expect(updates[0]?.form.get('ts')).toBe(MESSAGE_TS);
    const blocks = JSON.stringify(updatedBlocks());
    expect(blocks).toContain(`<@${ALLOWED}> recorded consent manually (Performance of a contract)`);
    expect(blocks).not.toContain('"type":"actions"');
    expect((await alerts.get('ws_1', 'al_cf1'))?.resolution?.legalBasis).toBe('PERFORMANCE_OF_CONTRACT');
  });

  it('keeps the modal open when the alert store fails', async () => {
    vi.spyOn(alerts, 'claim').mockRejectedValueOnce(new Error('database is locked'));
    const response = await post(sign(submission({ legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Said yes' })));
    expect(ErrorsSchema.parse(await response.json()).errors).toEqual({ explanation: 'The action failed; try again in a moment.' });
    expect(handler.recordConsentManually).not.toHaveBeenCalled();
  });

  it('does not record twice when the modal is submitted after the alert was handled', async () => {
    await post(sign(submission({ legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Said yes on the phone' })));
    clock.advance(3_000);
    const again = await post(sign(submission({ legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Said yes on the phone' })));
    expect(await again.json()).toEqual({
      response_action: 'errors',
      errors: { explanation: 'Someone already handled this alert; nothing was changed.' },
    });
    expect(handler.recordConsentManually).toHaveBeenCalledTimes(1);
  });
});

import { http, HttpResponse } from 'msw';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InMemoryAlertStore } from '../../../connectors/slack/actions-port.js';
import { createSlackApp, type SlackApp } from '../../../connectors/slack/app.js';
import { FakeClock } from '../../../src/ports/clock.js';
import { consentFailedEvent, newAlert, recordingLogger } from './fixtures.js';
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
  type SlackCall,
} from './harness.js';

const SIGNING_SECRET = 'test-signing-secret';
const CHANNEL = 'C0ALERTS01';
const MESSAGE_TS = '1767261600.000100';
const ALLOWED = 'UACTOR1';
const STRANGER = 'UOTHER1';
const RESPONSE_URL = 'https://hooks.slack.com/actions/T0TEAM/1/response';
const CLICK_TRIGGER = '1767261630.000000.click';
const SUBMIT_TRIGGER = '1767261640.000000.submit';

const msw = useSlackMsw({ passLoopback: true });

/** How the fake Slack answers: the response_url, chat.postEphemeral and views.open can each refuse. */
interface Answers {
  responseUrl: 'ok' | 'expired';
  ephemeral: 'ok' | 'user_not_in_channel';
  viewsOpen: 'ok' | 'expired_trigger_id';
}

let calls: SlackCall[];
let responses: unknown[];
let answers: Answers;
let clock: FakeClock;
let alerts: InMemoryAlertStore;
let handler: HandlerMocks;
let logger: ReturnType<typeof recordingLogger>;
let slack: SlackApp;
let server: LocalServer;

function slackApi() {
  const method = (name: string, answer: () => Record<string, unknown>) =>
    http.post(`${API}/${name}`, async ({ request }) => {
      calls.push(await slackCallOf(name, request));
      return HttpResponse.json(answer());
    });
  return [
    method('chat.postEphemeral', () => (answers.ephemeral === 'ok' ? { ok: true, message_ts: '1.2' } : { ok: false, error: answers.ephemeral })),
    method('views.open', () => (answers.viewsOpen === 'ok' ? { ok: true, view: { id: 'V0NEW' } } : { ok: false, error: answers.viewsOpen })),
    method('chat.update', () => ({ ok: true, channel: CHANNEL, ts: MESSAGE_TS })),
    http.post(RESPONSE_URL, async ({ request }) => {
      responses.push(await request.json());
      return answers.responseUrl === 'ok' ? HttpResponse.text('ok') : new HttpResponse('expired_url', { status: 404 });
    }),
  ];
}
const callsTo = (name: string) => calls.filter((call) => call.method === name);

beforeEach(async () => {
  calls = [];
  responses = [];
  answers = { responseUrl: 'ok', ephemeral: 'user_not_in_channel', viewsOpen: 'ok' };
  msw.use(...slackApi());
  clock = new FakeClock('2026-01-01T10:00:30.000Z');
  alerts = new InMemoryAlertStore();
  await alerts.create(newAlert('al_cf1', consentFailedEvent()));
  handler = handlerMocks();
  logger = recordingLogger();
  slack = createSlackApp({
    workspaceId: 'ws_1',
    botToken: 'xoxb-test-token',
    signingSecret: SIGNING_SECRET,
    botId: 'B0BOT',
    botUserId: 'U0BOT',
    allowedUserIds: [ALLOWED],
    handler,
    alerts,
    clock,
    logger,
  });
  server = await listenLocally(slack.requestListener);
});

afterEach(async () => {
  await slack.drain();
  await server.close();
});

/** A click in the alert channel by someone who opened it without joining it. */
function click(actionId: string, userId: string, withResponseUrl = true) {
  return {
    type: 'block_actions',
    user: { id: userId, username: 'ana.test', name: 'ana.test', team_id: 'T0TEAM' },
    api_app_id: 'A0APP',
    container: { type: 'message', message_ts: MESSAGE_TS, channel_id: CHANNEL, is_ephemeral: false },
    trigger_id: CLICK_TRIGGER,
    team: { id: 'T0TEAM', domain: 'example' },
    channel: { id: CHANNEL, name: 'consent-alerts' },
    ...(withResponseUrl ? { response_url: RESPONSE_URL } : {}),
    actions: [{ type: 'button', action_id: actionId, block_id: 'actions', value: 'al_cf1', action_ts: '1767261630.000200' }],
  };
}

function submission() {
  return {
    type: 'view_submission',
    team: { id: 'T0TEAM', domain: 'example' },
    user: { id: ALLOWED, username: 'ana.test', name: 'ana.test', team_id: 'T0TEAM' },
    api_app_id: 'A0APP',
    trigger_id: SUBMIT_TRIGGER,
    view: {
      id: 'V0VIEW',
      type: 'modal',
      callback_id: 'record_consent_manually_modal',
      private_metadata: JSON.stringify({ alertId: 'al_cf1', channel: CHANNEL, messageTs: MESSAGE_TS }),
      hash: '1767261640.hash',
      blocks: [],
      state: {
        values: {
          legal_basis: { legal_basis_select: { type: 'static_select', selected_option: { text: { type: 'plain_text', text: 'x' }, value: 'PERFORMANCE_OF_CONTRACT' } } },
          explanation: { explanation_input: { type: 'plain_text_input', value: 'Confirmed by phone' } },
        },
      },
    },
    response_urls: [],
  };
}

async function post(payload: unknown): Promise<Response> {
  const request = signedPayload(payload, SIGNING_SECRET, slackTimestamp(clock));
  const response = await fetch(`${server.url}/slack/events`, { method: 'POST', headers: request.headers, body: request.body });
  await slack.drain();
  return response;
}

const ResponseSchema = z.object({ response_type: z.string(), replace_original: z.boolean(), text: z.string(), parse: z.string() }).passthrough();
const ViewSchema = z.object({ type: z.literal('modal'), blocks: z.array(z.object({ text: z.object({ text: z.string() }) })) });

function openedNotice(): { trigger: string | null; text: string } {
  const [opened] = callsTo('views.open');
  const view = ViewSchema.parse(JSON.parse(opened?.form.get('view') ?? 'null'));
  return { trigger: opened?.form.get('trigger_id') ?? null, text: view.blocks.map((block) => block.text.text).join('\n') };
}

describe('answers only the clicking user sees', () => {
  it('reach someone who is not in the channel through the response_url, leaving the alert as it is', async () => {
    expect((await post(click('resend_consent_request', STRANGER))).status).toBe(200);
    expect(responses).toHaveLength(1);
    const answer = ResponseSchema.parse(responses[0]);
    expect(answer).toMatchObject({ response_type: 'ephemeral', replace_original: false, parse: 'none' });
    expect(answer.text).toContain('not allowed');
    expect(callsTo('chat.postEphemeral')).toEqual([]);
    expect(handler.resendConsentRequest).not.toHaveBeenCalled();
  });

  it('fall back to chat.postEphemeral, unparsed, for a click without a response_url or when it has expired', async () => {
    answers = { responseUrl: 'expired', ephemeral: 'ok', viewsOpen: 'ok' };
    await post(click('resend_consent_request', STRANGER, false));
    expect(responses).toEqual([]);
    clock.advance(1_000);
    await post(click('resend_consent_request', STRANGER));
    expect(responses).toHaveLength(1);
    const ephemerals = callsTo('chat.postEphemeral');
    expect(ephemerals).toHaveLength(2);
    for (const ephemeral of ephemerals) {
      expect(ephemeral.form.get('user')).toBe(STRANGER);
      expect(ephemeral.form.get('text')).toContain('not allowed');
      expect(ephemeral.form.get('parse')).toBe('none');
      expect(ephemeral.form.get('link_names')).toBe('false');
    }
    expect(callsTo('views.open')).toEqual([]);
    expect(logger.lines.filter((line) => line.startsWith('error'))).toEqual([]);
  });

  it('open a modal with the answer when neither the response_url nor chat.postEphemeral reaches the user', async () => {
    answers = { responseUrl: 'expired', ephemeral: 'user_not_in_channel', viewsOpen: 'ok' };
    await post(click('resend_consent_request', STRANGER));
    expect(callsTo('chat.postEphemeral')).toHaveLength(1);
    const notice = openedNotice();
    expect(notice.trigger).toBe(CLICK_TRIGGER);
    expect(notice.text).toContain('not allowed');
  });

  it('are logged as an error only when every way failed', async () => {
    answers = { responseUrl: 'expired', ephemeral: 'user_not_in_channel', viewsOpen: 'expired_trigger_id' };
    await post(click('resend_consent_request', STRANGER));
    expect(logger.lines.filter((line) => line.startsWith('error'))).toEqual([
      'error Could not tell the Slack user: the response_url, chat.postEphemeral and views.open all failed An API error occurred: expired_trigger_id',
    ]);
  });

  it('tell the result of a modal submission to someone outside the channel in a modal', async () => {
    handler.recordConsentManually.mockResolvedValueOnce({ outcome: 'refused', message: 'the contact was erased' });
    await post(submission());
    expect(handler.recordConsentManually).toHaveBeenCalledTimes(1);
    expect(callsTo('chat.postEphemeral')).toHaveLength(1);
    const notice = openedNotice();
    expect(notice.trigger).toBe(SUBMIT_TRIGGER);
    expect(notice.text).toBe('Nothing was changed: the contact was erased');
  });

  it('carry the result of an allowed click, and the alert is updated unparsed', async () => {
    handler.resendConsentRequest.mockRejectedValueOnce(new Error('database is locked'));
    await post(click('resend_consent_request', ALLOWED));
    expect(ResponseSchema.parse(responses[0]).text).toBe('The action failed; try again in a moment.');
    handler.resendConsentRequest.mockResolvedValueOnce({ outcome: 'done' });
    clock.advance(1_000);
    await post(click('resend_consent_request', ALLOWED));
    const [update] = callsTo('chat.update');
    expect(update?.form.get('parse')).toBe('none');
    expect(update?.form.get('link_names')).toBe('false');
    expect(callsTo('chat.postEphemeral')).toEqual([]);
  });
});

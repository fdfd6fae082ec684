import { http, HttpResponse } from 'msw';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { slackAlertStoreFor } from '../../../connectors/slack/alert-store-for.js';
import type { SlackAlertStore } from '../../../connectors/slack/alert-store.js';
import { createSlackApp, type SlackApp } from '../../../connectors/slack/app.js';
import { createEngine, type Engine } from '../../../src/engine.js';
import { FakeClock } from '../../../src/ports/clock.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { createSqliteStore } from '../../../src/store/sqlite.js';
import { defaultWorkers, RetentionPruner } from '../../../src/worker/index.js';
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
const DAY = 86_400_000;
const GONE =
  'Consentry no longer knows this alert: a closed alert is deleted once it is older than the retention period. Nothing was changed.';

const mswServer = useSlackMsw({ passLoopback: true });

let calls: SlackCall[] = [];
const callsTo = (method: string) => calls.filter((call) => call.method === method);

let engine: Engine;
let clock: FakeClock;
let alerts: SlackAlertStore;
let workspaceId: string;
let handler: HandlerMocks;
let logger: ReturnType<typeof recordingLogger>;
let slack: SlackApp | undefined;
let server: LocalServer | undefined;

beforeEach(() => {
  calls = [];
  mswServer.use(
    ...['chat.update', 'chat.postEphemeral', 'views.open'].map((method) =>
      http.post(`${API}/${method}`, async ({ request }) => {
        calls.push(await slackCallOf(method, request));
        return HttpResponse.json({ ok: true, channel: CHANNEL, ts: MESSAGE_TS });
      }),
    ),
    // The clicks' response_url has expired, so answers fall back to chat.postEphemeral, which these tests read.
    http.post('https://hooks.slack.com/*', () => new HttpResponse('expired_url', { status: 404 })),
  );
});

afterEach(async () => {
  await slack?.drain();
  // No listener failed: the user got an answer, not an error.
  expect(logger.lines.filter((line) => line.startsWith('error'))).toEqual([]);
  await server?.close();
  slack = undefined;
  server = undefined;
  await engine.store.close();
});

/**
 * An alert handled in Slack whose message still shows its buttons (its chat.update failed), then
 * deleted by the server's retention RETENTION_DAYS later.
 */
async function handledThenDeleted(storeKind: 'memory' | 'SQLite'): Promise<void> {
  clock = new FakeClock('2026-01-01T10:00:00.000Z');
  const store = storeKind === 'memory' ? createMemoryStore() : createSqliteStore({ path: ':memory:' });
  engine = createEngine({ store, clock });
  workspaceId = (await engine.createWorkspace({ name: 'Acme' })).id;
  alerts = slackAlertStoreFor(store);
  await alerts.create(newAlert('al_cf1', consentFailedEvent({}, { workspaceId }), { workspaceId, createdAt: clock.now().toISOString() }));
  await alerts.markPosted(workspaceId, 'al_cf1', { channel: CHANNEL, ts: MESSAGE_TS });
  const claim = { action: 'resend_consent_request' as const, slackUserId: ALLOWED, at: clock.now().toISOString() };
  await alerts.claim(workspaceId, 'al_cf1', claim);
  await alerts.resolve(workspaceId, 'al_cf1', claim);

  logger = recordingLogger();
  const workers = defaultWorkers({ engine, store, clock, logger: { info: () => undefined, warn: () => undefined, error: () => undefined }, config: { RETENTION_DAYS: 7 } });
  const retention = workers.find((worker): worker is RetentionPruner => worker instanceof RetentionPruner);
  clock.advance(8 * DAY);
  expect(await retention?.runOnce()).toMatchObject({ slackAlerts: 1 });
  expect(await alerts.get(workspaceId, 'al_cf1')).toBeNull();

  handler = handlerMocks();
  slack = createSlackApp({
    workspaceId,
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
}

async function post(payload: unknown): Promise<Response> {
  const request = signedPayload(payload, SIGNING_SECRET, slackTimestamp(clock));
  const response = await fetch(`${server?.url ?? ''}/slack/events`, { method: 'POST', headers: request.headers, body: request.body });
  await slack?.drain();
  return response;
}

function click(actionId: string) {
  return {
    type: 'block_actions',
    user: { id: ALLOWED, username: 'ana.test', name: 'ana.test', team_id: 'T0TEAM' },
    api_app_id: 'A0APP',
    token: 'legacy-verification-token',
    container: { type: 'message', message_ts: MESSAGE_TS, channel_id: CHANNEL, is_ephemeral: false },
    trigger_id: '1767261630.000000.trigger',
    team: { id: 'T0TEAM', domain: 'example' },
    channel: { id: CHANNEL, name: 'consent-alerts' },
    message: { type: 'message', ts: MESSAGE_TS, text: 'Consent request failed', blocks: [] },
    response_url: 'https://hooks.slack.com/actions/T0TEAM/1/response',
    actions: [{ type: 'button', action_id: actionId, block_id: 'actions', value: 'al_cf1', text: { type: 'plain_text', text: 'button' }, action_ts: '1767261630.000200' }],
  };
}

/** The "Record consent manually" modal, opened before retention deleted its alert, submitted after. */
function submission() {
  return {
    type: 'view_submission',
    team: { id: 'T0TEAM', domain: 'example' },
    user: { id: ALLOWED, username: 'ana.test', name: 'ana.test', team_id: 'T0TEAM' },
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
          legal_basis: { legal_basis_select: { type: 'static_select', selected_option: { text: { type: 'plain_text', text: 'x' }, value: 'CONSENT_WITH_NOTICE' } } },
          explanation: { explanation_input: { type: 'plain_text_input', value: 'Said yes on the phone' } },
        },
      },
    },
    response_urls: [],
  };
}

describe.each(['memory', 'SQLite'] as const)('a Slack button of an alert retention deleted (%s)', (storeKind) => {
  it('is answered privately that Consentry no longer keeps the alert, and does nothing', async () => {
    await handledThenDeleted(storeKind);
    expect((await post(click('resend_consent_request'))).status).toBe(200);
    expect(callsTo('chat.postEphemeral').map((call) => call.form.get('text'))).toEqual([GONE]);
    expect(callsTo('chat.update')).toEqual([]);
    expect(handler.resendConsentRequest).not.toHaveBeenCalled();
    expect(await alerts.get(workspaceId, 'al_cf1')).toBeNull();
  });

  it('opens no modal for "Record consent manually", and a modal opened before keeps the form open with the same answer', async () => {
    await handledThenDeleted(storeKind);
    await post(click('record_consent_manually'));
    expect(callsTo('views.open')).toEqual([]);
    expect(callsTo('chat.postEphemeral').map((call) => call.form.get('text'))).toEqual([GONE]);

    const submitted = await post(submission());
    expect(await submitted.json()).toEqual({ response_action: 'errors', errors: { explanation: GONE } });
    expect(handler.recordConsentManually).not.toHaveBeenCalled();
  });
});

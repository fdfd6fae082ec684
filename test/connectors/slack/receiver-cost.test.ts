import { http, HttpResponse } from 'msw';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemorySlackAlertStore } from '../../../connectors/slack/alert-store.js';
import { createSlackReceiver, SLACK_BODY_LIMIT_BYTES, type SlackReceiver } from '../../../connectors/slack/receiver.js';
import { computeSlackSignature } from '../../../connectors/slack/verify.js';
import { createEngine, type Engine } from '../../../src/engine.js';
import { FakeClock } from '../../../src/ports/clock.js';
import type { Store } from '../../../src/ports/store.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { consentFailedMessage } from '../../../connectors/slack/blocks/consent-failed.js';
import { digestMessage } from '../../../connectors/slack/blocks/digest.js';
import { optoutReviewMessage } from '../../../connectors/slack/blocks/optout-review.js';
import {
  EXPLANATION_ACTION_ID,
  EXPLANATION_BLOCK_ID,
  EXPLANATION_MAX_LENGTH,
  LEGAL_BASIS_ACTION_ID,
  LEGAL_BASIS_BLOCK_ID,
  recordConsentModal,
} from '../../../connectors/slack/blocks/record-consent-modal.js';
import { syncFailedMessage } from '../../../connectors/slack/blocks/sync-failed.js';
import { consentFailedEvent, optoutReviewEvent, recordingLogger, syncFailedEvent } from './fixtures.js';
import { handlerMocks, listenLocally, signedPayload, SLACK_API, slackTimestamp, useSlackMsw, type LocalServer } from './harness.js';

// Every HMAC the receiver computes to pick a workspace goes through computeSlackSignature: counted here.
vi.mock('../../../connectors/slack/verify.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../../connectors/slack/verify.js')>();
  return { ...actual, computeSlackSignature: vi.fn(actual.computeSlackSignature) };
});

const msw = useSlackMsw({ passLoopback: true });

let clock: FakeClock;
let store: Store;
let engine: Engine;
let listWorkspaces: ReturnType<typeof vi.fn<Engine['listWorkspaces']>>;
let logger: ReturnType<typeof recordingLogger>;
let receiver: SlackReceiver;
let server: LocalServer;

function slack(secret: string) {
  return { botToken: `xoxb-${secret}`, signingSecret: secret, alertChannel: 'C0ALERTS01', allowedUserIds: ['UACTOR1'], botId: 'B0BOT', botUserId: 'U0BOT' };
}

beforeEach(async () => {
  msw.use(
    ...['chat.postEphemeral', 'chat.update'].map((method) =>
      http.post(`${SLACK_API}/${method}`, () => HttpResponse.json({ ok: true, channel: 'C0ALERTS01', ts: '1767261600.000100' })),
    ),
  );
  clock = new FakeClock('2026-01-01T10:00:30.000Z');
  store = createMemoryStore();
  engine = createEngine({ store, clock });
  for (const [name, secret] of [
    ['Acme', 'shared'],
    ['Initech', 'shared'],
    ['Globex', 'shared'],
    ['Umbrella', 'secret-d'],
  ]) {
    await engine.createWorkspace({ name: name ?? '', settings: { slack: slack(secret ?? '') } });
  }
  listWorkspaces = vi.fn<Engine['listWorkspaces']>(() => engine.listWorkspaces());
  logger = recordingLogger();
  receiver = createSlackReceiver({
    engine: { ...engine, listWorkspaces },
    alerts: new MemorySlackAlertStore(store),
    clock,
    env: {},
    logger,
    handler: handlerMocks(),
  });
  server = await listenLocally((req, res) => {
    receiver.handleRequest(req, res).catch(() => {
      res.writeHead(500);
      res.end();
    });
  });
});

afterEach(async () => {
  await receiver.drain();
  await server.close();
  await store.close();
});

const hmacs = vi.mocked(computeSlackSignature);
const BODY = `payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions', actions: [] }))}`;

async function post(headers: Record<string, string>, body = BODY): Promise<number> {
  hmacs.mockClear();
  listWorkspaces.mockClear();
  const response = await fetch(`${server.url}/slack/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body,
  });
  await response.arrayBuffer();
  return response.status;
}

const forged = (timestamp: string) => ({ 'x-slack-request-timestamp': timestamp, 'x-slack-signature': `v0=${'0'.repeat(64)}` });

describe('work done for a request before it is authenticated', () => {
  // The clock reads 2026-01-01T10:00:30Z, Unix time 1767261630.
  it.each([
    ['from 1970', '1', 'stale'],
    ['six minutes old', '1767261270', 'stale'],
    ['two minutes ahead', '1767261750', 'future'],
    ['not a number', 'abc', 'malformed_timestamp'],
    ['with a fraction', '1767261630.5', 'malformed_timestamp'],
    ['empty', '', 'malformed_timestamp'],
  ])('refuses a timestamp %s (%j) before listing workspaces or computing any HMAC', async (_label, timestamp, reason) => {
    expect(await post(forged(timestamp))).toBe(401);
    expect(listWorkspaces).not.toHaveBeenCalled();
    expect(hmacs).not.toHaveBeenCalled();
    expect(logger.lines.at(-1)).toBe(`warn Refused a Slack request: ${reason}`);
  });

  it('refuses a request without the headers, or with a signature that is not v0= and 64 hex digits, the same way', async () => {
    const now = slackTimestamp(clock);
    const incomplete: Record<string, string>[] = [{}, { 'x-slack-request-timestamp': now }, { 'x-slack-request-timestamp': now, 'x-slack-signature': 'v0=zz' }];
    for (const headers of incomplete) {
      expect(await post(headers)).toBe(401);
      expect(listWorkspaces).not.toHaveBeenCalled();
      expect(hmacs).not.toHaveBeenCalled();
    }
  });

  it('gives a fresh forged request naming no known app or team one full scan: one read, one HMAC per distinct signing secret, not one per workspace', async () => {
    expect(await post(forged(slackTimestamp(clock)))).toBe(401);
    expect(listWorkspaces).toHaveBeenCalledTimes(1);
    // Four workspaces with Slack, two secrets between them.
    expect(hmacs).toHaveBeenCalledTimes(2);
    expect(logger.lines.at(-1)).toBe('warn Refused a Slack request: no workspace signing secret verifies it');
  });

  it('stops at the secret that verifies the request', async () => {
    const click = {
      type: 'block_actions',
      user: { id: 'UACTOR1' },
      container: { type: 'message', message_ts: '1767261600.000100', channel_id: 'C0ALERTS01' },
      trigger_id: '1767261630.000000.trigger',
      team: { id: 'T0TEAM' },
      actions: [{ type: 'button', action_id: 'resend_consent_request', value: 'al_unknown' }],
    };
    const { headers, body } = signedPayload(click, 'shared', slackTimestamp(clock));
    // Verified and acknowledged; the listener then tells the user the alert is unknown.
    expect(await post(headers, body)).toBe(200);
    expect(hmacs).toHaveBeenCalledTimes(1);
  });

  it('refuses a body over 128 KiB with 413 before any HMAC', async () => {
    expect(SLACK_BODY_LIMIT_BYTES).toBe(128 * 1024);
    const { headers, body } = signedPayload({ filler: 'x'.repeat(SLACK_BODY_LIMIT_BYTES) }, 'shared', slackTimestamp(clock));
    expect(await post(headers, body)).toBe(413);
    expect(hmacs).not.toHaveBeenCalled();
  });
});

/** JSON as Slack sends it: every character outside ASCII as \uXXXX (an astral one as two). */
function slackJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The bytes of an interaction payload as Slack POSTs it: form-encoded `payload=`. */
const formBytes = (payload: unknown): number => Buffer.byteLength(`payload=${encodeURIComponent(slackJson(payload))}`);

/** The costliest character once escaped and form-encoded: astral, two escapes of 8 bytes. */
const astral = (count: number): string => '\u{1F600}'.repeat(count);

describe('the body limit', () => {
  // Measured: about 42 KB for the modal (its 2,000-character explanation), 34 KB for a click on an opt-out review.
  it('holds the largest payload Slack can send this app twice over: a click on the longest alert, a submitted modal', () => {
    const at = '2026-01-01T10:00:00.000Z';
    const contactUrl = `https://app.hubspot.com/contacts/${'9'.repeat(20)}/record/0-1/${'9'.repeat(30)}`;
    const base = { alertId: 'a'.repeat(100), contactName: astral(1000), contactUrl };
    const messages = [
      optoutReviewMessage({
        ...base,
        event: { ...optoutReviewEvent(astral(10_000)), data: { ...optoutReviewEvent(astral(10_000)).data, matchedWord: astral(1000), language: astral(1000) } },
      }),
      syncFailedMessage({
        ...base,
        event: { ...syncFailedEvent(astral(10_000)), data: { ...syncFailedEvent(astral(10_000)).data, integration: astral(1000), operation: astral(1000) } },
      }),
      consentFailedMessage({ ...base, event: consentFailedEvent({ contactName: astral(1000), purpose: astral(1000) }) }),
      digestMessage({
        alerts: Array.from({ length: 50 }, () => ({ ...base, event: consentFailedEvent({ contactName: astral(1000) }) })),
        total: 50,
        since: at,
      }),
    ];
    const clicks = messages.map((message) => ({
      type: 'block_actions',
      user: { id: 'UACTOR1', username: astral(80), name: astral(80), team_id: 'T0TEAM' },
      api_app_id: 'A0APP',
      token: 'x'.repeat(24),
      container: { type: 'message', message_ts: '1767261600.000100', channel_id: 'C0ALERTS01', is_ephemeral: false },
      trigger_id: '1767261630.000000.trigger',
      team: { id: 'T0TEAM', domain: astral(80) },
      channel: { id: 'C0ALERTS01', name: astral(80) },
      message: { type: 'message', subtype: 'bot_message', text: message.text, ts: '1767261600.000100', bot_id: 'B0BOT', blocks: message.blocks },
      state: { values: {} },
      response_url: `https://hooks.slack.com/actions/T0TEAM/${'1'.repeat(13)}/${'x'.repeat(24)}`,
      actions: [{ type: 'button', action_id: 'apply_optout', block_id: 'b'.repeat(255), value: base.alertId, text: { type: 'plain_text', text: 'Apply opt-out' }, action_ts: '1767261630.000000' }],
    }));
    const view = recordConsentModal({
      alertId: base.alertId,
      channel: 'C0ALERTS01',
      messageTs: '1767261600.000100',
      contactName: astral(1000),
      contactUrl,
      consentChannel: 'whatsapp',
      purpose: astral(1000),
    });
    const submission = {
      type: 'view_submission',
      user: { id: 'UACTOR1', username: astral(80), name: astral(80), team_id: 'T0TEAM' },
      api_app_id: 'A0APP',
      token: 'x'.repeat(24),
      trigger_id: '1767261630.000000.trigger',
      team: { id: 'T0TEAM', domain: astral(80) },
      view: {
        ...view,
        id: 'V0VIEW',
        team_id: 'T0TEAM',
        state: {
          values: {
            [LEGAL_BASIS_BLOCK_ID]: { [LEGAL_BASIS_ACTION_ID]: { type: 'static_select', selected_option: { text: { type: 'plain_text', text: 'Consent' }, value: 'consent' } } },
            [EXPLANATION_BLOCK_ID]: { [EXPLANATION_ACTION_ID]: { type: 'plain_text_input', value: astral(EXPLANATION_MAX_LENGTH) } },
          },
        },
        hash: 'h'.repeat(40),
      },
    };
    const largest = Math.max(...clicks.map(formBytes), formBytes(submission));
    expect(largest).toBeGreaterThan(16 * 1024);
    expect(largest).toBeLessThan(SLACK_BODY_LIMIT_BYTES / 2);
  });
});

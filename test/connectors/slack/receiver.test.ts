import { http, HttpResponse } from 'msw';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemorySlackAlertStore } from '../../../connectors/slack/alert-store.js';
import type { SlackEnv } from '../../../connectors/slack/config.js';
import { alertIdOfPayload, createSlackReceiver, type SlackReceiver } from '../../../connectors/slack/receiver.js';
import { createEngine, type Engine } from '../../../src/engine.js';
import { FakeClock } from '../../../src/ports/clock.js';
import type { Store } from '../../../src/ports/store.js';
import { createMemoryStore } from '../../../src/store/memory.js';
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

const MESSAGE_TS = '1767261600.000100';

const msw = useSlackMsw({ passLoopback: true });

let calls: SlackCall[] = [];
function slackApi() {
  return ['chat.update', 'chat.postEphemeral', 'views.open', 'auth.test'].map((method) =>
    http.post(`${API}/${method}`, async ({ request }) => {
      calls.push(await slackCallOf(method, request));
      return HttpResponse.json({ ok: true, channel: 'C0ALERTS01', ts: MESSAGE_TS, user_id: 'U0BOT', bot_id: 'B0BOT' });
    }),
  );
}
const callsTo = (method: string) => calls.filter((call) => call.method === method);

let clock: FakeClock;
let store: Store;
let engine: Engine;
let alerts: MemorySlackAlertStore;
let handler: HandlerMocks;
let receiver: SlackReceiver;
/** Only the tests that serve requests start one. */
let server: LocalServer | undefined;
let baseUrl: string;

function slack(secret: string, overrides: Record<string, unknown> = {}) {
  return {
    botToken: `xoxb-${secret}`,
    signingSecret: secret,
    alertChannel: 'C0ALERTS01',
    allowedUserIds: ['UACTOR1'],
    botId: 'B0BOT',
    botUserId: 'U0BOT',
    ...overrides,
  };
}

async function listen(env: SlackEnv = {}): Promise<void> {
  receiver = createSlackReceiver({ engine, alerts, clock, env, logger: recordingLogger(), handler });
  server = await listenLocally((req, res) => {
    receiver.handleRequest(req, res).catch(() => {
      res.writeHead(500);
      res.end();
    });
  });
  baseUrl = server.url;
}

beforeEach(() => {
  calls = [];
  msw.use(...slackApi());
  clock = new FakeClock('2026-01-01T10:00:30.000Z');
  store = createMemoryStore();
  engine = createEngine({ store, clock });
  alerts = new MemorySlackAlertStore(store);
  handler = handlerMocks();
});

afterEach(async () => {
  await receiver.drain();
  await server?.close();
  server = undefined;
  await store.close();
});

function click(alertId: string, userId = 'UACTOR1') {
  return {
    type: 'block_actions',
    user: { id: userId },
    container: { type: 'message', message_ts: MESSAGE_TS, channel_id: 'C0ALERTS01' },
    trigger_id: '1767261630.000000.trigger',
    team: { id: 'T0TEAM' },
    actions: [{ type: 'button', action_id: 'resend_consent_request', value: alertId }],
  };
}

async function post(payload: unknown, secret: string, offsetSeconds = 0): Promise<Response> {
  const { headers, body } = signedPayload(payload, secret, slackTimestamp(clock, offsetSeconds));
  const response = await fetch(`${baseUrl}/slack/events`, { method: 'POST', headers, body });
  await receiver.drain();
  return response;
}

async function alertIn(workspaceId: string, alertId: string, eventId: string): Promise<void> {
  await alerts.create(newAlert(alertId, { ...consentFailedEvent(), id: eventId, workspaceId }, { workspaceId }));
}

describe('createSlackReceiver: one request URL for every workspace', () => {
  it('picks the workspace whose signing secret verifies the request', async () => {
    const a = await engine.createWorkspace({ name: 'Acme', settings: { slack: slack('secret-a') } });
    const b = await engine.createWorkspace({ name: 'Initech', settings: { slack: slack('secret-b') } });
    await alertIn(a.id, 'al_a', 'ev_a');
    await alertIn(b.id, 'al_b', 'ev_b');
    await listen();

    expect((await post(click('al_b'), 'secret-b')).status).toBe(200);
    expect(handler.resendConsentRequest).toHaveBeenCalledTimes(1);
    expect(handler.resendConsentRequest.mock.calls[0]?.[0]).toMatchObject({ workspaceId: b.id, alertId: 'al_b' });
    expect(callsTo('chat.update')[0]?.authorization).toBe('Bearer xoxb-secret-b');

    // Workspace A's secret cannot reach B's alert: A does not know it.
    clock.advance(1_000);
    expect((await post(click('al_b'), 'secret-a')).status).toBe(200);
    expect(handler.resendConsentRequest).toHaveBeenCalledTimes(1);
    expect(callsTo('chat.postEphemeral')[0]?.form.get('text')).toContain('no longer knows this alert');
  });

  it('refuses a request no workspace secret verifies, and everything when Slack is set up nowhere', async () => {
    await engine.createWorkspace({ name: 'Acme', settings: { slack: slack('secret-a') } });
    await engine.createWorkspace({ name: 'Initech' });
    await listen();
    expect((await post(click('al_a'), 'secret-x')).status).toBe(401);
    const unsigned = await fetch(`${baseUrl}/slack/events`, { method: 'POST', body: 'payload=%7B%7D' });
    expect(unsigned.status).toBe(401);
    expect((await fetch(`${baseUrl}/slack/events`)).status).toBe(405);
    expect((await fetch(`${baseUrl}/elsewhere`, { method: 'POST', body: 'x' })).status).toBe(404);
    expect(calls).toEqual([]);
  });

  it('tells apart workspaces that share one Slack app (one secret) by the alert the payload names', async () => {
    const a = await engine.createWorkspace({ name: 'Acme', settings: { slack: slack('shared') } });
    const b = await engine.createWorkspace({ name: 'Initech', settings: { slack: slack('shared') } });
    await alertIn(a.id, 'al_a', 'ev_a');
    await alertIn(b.id, 'al_b', 'ev_b');
    await listen();
    await post(click('al_b'), 'shared');
    clock.advance(1_000);
    await post(click('al_a'), 'shared');
    expect(handler.resendConsentRequest.mock.calls.map((call) => call[0].workspaceId)).toEqual([b.id, a.id]);
  });

  it('serves the default workspace from the environment', async () => {
    const first = await engine.createWorkspace({ name: 'Default workspace' });
    await alertIn(first.id, 'al_1', 'ev_1');
    await listen({ SLACK_BOT_TOKEN: 'xoxb-env', SLACK_SIGNING_SECRET: 'env-secret', SLACK_ALERT_CHANNEL: 'C0ALERTS01', SLACK_ALLOWED_USERS: ['UACTOR1'] });
    expect((await post(click('al_1'), 'env-secret')).status).toBe(200);
    expect(handler.resendConsentRequest).toHaveBeenCalledTimes(1);
    // Bot ids are unknown here: Bolt got the token through `authorize`, and auth.test was never called.
    expect(callsTo('auth.test')).toEqual([]);
    expect(callsTo('chat.update')[0]?.authorization).toBe('Bearer xoxb-env');
  });

  it('follows settings changes without a restart, and still refuses a replay across them', async () => {
    const ws = await engine.createWorkspace({ name: 'Acme', settings: { slack: slack('secret-a', { allowedUserIds: [] }) } });
    await alertIn(ws.id, 'al_1', 'ev_1');
    await listen();
    const { headers: signed, body } = signedPayload(click('al_1'), 'secret-a', slackTimestamp(clock));

    expect((await fetch(`${baseUrl}/slack/events`, { method: 'POST', headers: signed, body })).status).toBe(200);
    await receiver.drain();
    expect(callsTo('chat.postEphemeral')[0]?.form.get('text')).toContain('not allowed');
    expect(handler.resendConsentRequest).not.toHaveBeenCalled();

    await engine.workspace(ws.id).updateSettings({ slack: { allowedUserIds: ['UACTOR1'] } });
    const replay = await fetch(`${baseUrl}/slack/events`, { method: 'POST', headers: signed, body });
    expect(replay.status).toBe(401);
    clock.advance(1_000);
    expect((await post(click('al_1'), 'secret-a')).status).toBe(200);
    expect(handler.resendConsentRequest).toHaveBeenCalledTimes(1);
  });

  it('refuses stale and future-dated requests for the workspace it picked', async () => {
    const ws = await engine.createWorkspace({ name: 'Acme', settings: { slack: slack('secret-a') } });
    await alertIn(ws.id, 'al_1', 'ev_1');
    await listen();
    expect((await post(click('al_1'), 'secret-a', -301)).status).toBe(401);
    expect((await post(click('al_1'), 'secret-a', 120)).status).toBe(401);
    expect(handler.resendConsentRequest).not.toHaveBeenCalled();
  });
});

describe('alertIdOfPayload', () => {
  const form = (payload: unknown) => Buffer.from(`payload=${encodeURIComponent(JSON.stringify(payload))}`);
  it('reads a button value or the modal metadata, and nothing else', () => {
    expect(alertIdOfPayload(form(click('al_9')))).toBe('al_9');
    expect(alertIdOfPayload(form({ view: { private_metadata: JSON.stringify({ alertId: 'al_8', channel: 'C0ALERTS01', messageTs: MESSAGE_TS }) } }))).toBe('al_8');
    expect(alertIdOfPayload(form({ view: { private_metadata: 'not json' } }))).toBeNull();
    expect(alertIdOfPayload(Buffer.from('payload=%7Bbroken'))).toBeNull();
    expect(alertIdOfPayload(Buffer.from('token=x'))).toBeNull();
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { http, HttpResponse } from 'msw';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { FakeClock } from '../../../src/ports/clock.js';
import { startServer, type RunningServer } from '../../../src/server/index.js';
import { createSqliteStore, type SqliteStore } from '../../../src/store/sqlite.js';
import { ESCAPED_HOSTILE_NAME, HOSTILE_NAME } from './fixtures.js';
import { SLACK_BODY_LIMIT_BYTES } from '../../../connectors/slack/receiver.js';
import { signedPayload, SLACK_API as API, slackCallOf, slackTimestamp, useSlackMsw, type SignedRequest, type SlackCall } from './harness.js';
import { DEFAULT_TIMER_GRACE_MS } from '../../../src/worker/timer-scheduler.js';
import { startTarget, type Target } from '../../worker/target-server.js';

/**
 * The whole connector in the real server: a contact's consent request times out on the fake
 * clock, the alert reaches Slack (msw), and signed interaction payloads come back to
 * /slack/events on 127.0.0.1 and act through the engine.
 */

const SIGNING_SECRET = 'e2e-signing-secret';
const BOT_TOKEN = 'xoxb-e2e-token';
const CHANNEL = 'C0ALERTS01';
const ALLOWED = 'UACTOR1';
const STRANGER = 'UOTHER1';
const FIVE_MINUTES = 5 * 60 * 1000;

// Listening before the server (and so any Slack client) exists; anything but 127.0.0.1 fails the test.
const msw = useSlackMsw({ passLoopback: true });

let calls: SlackCall[] = [];
let nextTs = 1;
function slackApi() {
  return ['chat.postMessage', 'chat.update', 'chat.postEphemeral', 'views.open'].map((method) =>
    http.post(`${API}/${method}`, async ({ request }) => {
      const call = await slackCallOf(method, request);
      expect(call.authorization).toBe(`Bearer ${BOT_TOKEN}`);
      calls.push(call);
      const ts = method === 'chat.postMessage' ? `1772355600.${String(nextTs++).padStart(6, '0')}` : (call.form.get('ts') ?? '1.1');
      return HttpResponse.json({ ok: true, channel: call.form.get('channel') ?? CHANNEL, ts });
    }),
  );
}
const callsTo = (method: string) => calls.filter((call) => call.method === method);

let dir: string;
let store: SqliteStore;
let clock: FakeClock;
const DAY_MS = 24 * 60 * 60_000;
let server: RunningServer;
let outbound: Target;
let headers: Record<string, string>;
let workspaceId: string;

beforeEach(async () => {
  calls = [];
  nextTs = 1;
  msw.use(
    ...slackApi(),
    // The clicks' response_url has expired, so answers fall back to chat.postEphemeral, which these tests read.
    http.post('https://hooks.slack.com/*', () => new HttpResponse('expired_url', { status: 404 })),
  );
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-slack-e2e-'));
  store = createSqliteStore({ path: path.join(dir, 'consentry.db') });
  clock = new FakeClock('2026-03-01T09:00:00.000Z');
  // The fake clock jumps minutes at a time while the lease renews on real timers: a lease of a day
  // keeps this server its holder, which posts to Slack only while its lease lasts by that clock.
  // The outbound webhook that sends the workflows' messages to the contact listens on 127.0.0.1.
  outbound = await startTarget();
  server = await startServer({ store, clock, dispatchIntervalMs: 5, defaultMetrics: false, config: {}, workerLease: { ttlMs: DAY_MS }, allowPrivateTargets: true });
  const tenant = await server.createWorkspaceWithKey('Acme');
  workspaceId = tenant.workspaceId;
  headers = { authorization: `Bearer ${tenant.key}` };
  const patched = await server.app.inject({
    method: 'PATCH',
    url: '/v1/settings',
    headers,
    payload: {
      privacyPolicyUrl: 'https://example.com/privacy',
      outboundWebhookUrl: `${outbound.url}/outbound`,
      slack: {
        botToken: BOT_TOKEN,
        signingSecret: SIGNING_SECRET,
        alertChannel: CHANNEL,
        allowedUserIds: [ALLOWED],
        botId: 'B0BOT',
        botUserId: 'U0BOT',
      },
    },
  });
  expect(patched.statusCode).toBe(200);
  expect(patched.body).not.toContain(BOT_TOKEN);
  expect(patched.body).not.toContain(SIGNING_SECRET);
});

afterEach(async () => {
  await server.close();
  await outbound.close();
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const BlocksSchema = z.array(
  z
    .object({
      type: z.string(),
      elements: z.array(z.object({ type: z.string(), action_id: z.string().optional(), value: z.string().optional() }).passthrough()).optional(),
    })
    .passthrough(),
);

function blocksOf(call: SlackCall | undefined): z.infer<typeof BlocksSchema> {
  return BlocksSchema.parse(JSON.parse(call?.form.get('blocks') ?? '[]'));
}

function buttonsOf(call: SlackCall | undefined): { actionId: string; value: string }[] {
  return blocksOf(call).flatMap((block) =>
    block.type === 'actions' ? (block.elements ?? []).map((element) => ({ actionId: element.action_id ?? '', value: element.value ?? '' })) : [],
  );
}

async function waitForCalls(method: string, count: number): Promise<SlackCall[]> {
  await vi.waitFor(() => expect(callsTo(method).length).toBeGreaterThanOrEqual(count), { timeout: 10_000, interval: 5 });
  return callsTo(method);
}

function sign(payload: unknown, secret = SIGNING_SECRET): SignedRequest {
  return signedPayload(payload, secret, slackTimestamp(clock));
}

function post(request: SignedRequest): Promise<Response> {
  return fetch(`${server.url}/slack/events`, { method: 'POST', headers: request.headers, body: request.body });
}

function click(actionId: string, alertId: string, messageTs: string, userId = ALLOWED) {
  return {
    type: 'block_actions',
    user: { id: userId, username: 'ana.test', name: 'ana.test', team_id: 'T0TEAM' },
    api_app_id: 'A0APP',
    token: 'legacy-verification-token',
    container: { type: 'message', message_ts: messageTs, channel_id: CHANNEL, is_ephemeral: false },
    trigger_id: '1772355900.000000.trigger',
    team: { id: 'T0TEAM', domain: 'example' },
    channel: { id: CHANNEL, name: 'consent-alerts' },
    message: { type: 'message', ts: messageTs, text: 'Consent request failed', blocks: [] },
    response_url: 'https://hooks.slack.com/actions/T0TEAM/1/response',
    actions: [{ type: 'button', action_id: actionId, block_id: 'actions', value: alertId, action_ts: '1772355900.000200' }],
  };
}

function submission(alertId: string, messageTs: string, userId = ALLOWED) {
  return {
    type: 'view_submission',
    team: { id: 'T0TEAM', domain: 'example' },
    user: { id: userId, username: 'ana.test', name: 'ana.test', team_id: 'T0TEAM' },
    api_app_id: 'A0APP',
    token: 'legacy-verification-token',
    trigger_id: '1772356000.000000.trigger',
    view: {
      id: 'V0VIEW',
      team_id: 'T0TEAM',
      type: 'modal',
      callback_id: 'record_consent_manually_modal',
      private_metadata: JSON.stringify({ alertId, channel: CHANNEL, messageTs }),
      hash: '1772356000.hash',
      blocks: [],
      state: {
        values: {
          legal_basis: { legal_basis_select: { type: 'static_select', selected_option: { text: { type: 'plain_text', text: 'x' }, value: 'PERFORMANCE_OF_CONTRACT' } } },
          explanation: { explanation_input: { type: 'plain_text_input', value: 'Confirmed by phone on the order call' } },
        },
      },
    },
    response_urls: [],
  };
}

const RecordSchema = z.object({
  source: z.string(),
  status: z.string(),
  purpose: z.string(),
  channel: z.string(),
  legalBasis: z.string().nullable(),
  explanation: z.string().nullable(),
  actor: z.object({ kind: z.string(), id: z.string() }),
});

const OutboundBody = z.object({ type: z.literal('message.outbound'), data: z.object({ text: z.string(), inAnswer: z.boolean() }) });

async function activeRuns(contactId: string): Promise<number> {
  return (await store.transaction((tx) => tx.listActiveRuns(workspaceId, contactId))).length;
}

describe('Slack connector in the running server', () => {
  it('alerts a failed consent, acts on signed clicks and a modal, and refuses strangers and replays', async () => {
    const inbound = await server.app.inject({
      method: 'POST',
      url: '/v1/messages',
      headers,
      payload: { channel: 'whatsapp', messageId: 'wamid.1', from: { id: '+34600000001', name: HOSTILE_NAME }, text: 'hola' },
    });
    expect(inbound.statusCode).toBe(200);
    const contactId = z.object({ contactId: z.string() }).parse(inbound.json()).contactId;
    expect(await activeRuns(contactId)).toBe(1);

    // No answer within five minutes (and the scheduler's grace for late deliveries): the timer
    // scheduler fails the request, the dispatcher alerts.
    clock.advance(FIVE_MINUTES + DEFAULT_TIMER_GRACE_MS);
    const [alertPost] = await waitForCalls('chat.postMessage', 1);
    expect(alertPost?.form.get('channel')).toBe(CHANNEL);
    expect(alertPost?.form.get('text')).toContain(ESCAPED_HOSTILE_NAME);
    const posted = alertPost?.form.get('blocks') ?? '';
    expect(posted).toContain(ESCAPED_HOSTILE_NAME);
    expect(posted).not.toContain(HOSTILE_NAME);
    expect(posted).not.toContain('+34600000001');
    expect(blocksOf(alertPost).map((block) => block.type)).toEqual(['header', 'section', 'context', 'actions']);
    const buttons = buttonsOf(alertPost);
    expect(buttons.map((button) => button.actionId)).toEqual(['resend_consent_request', 'record_consent_manually']);
    const alertId = buttons[0]?.value ?? '';
    expect(alertId).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(buttons.every((button) => button.value === alertId)).toBe(true);
    const messageTs = '1772355600.000001';
    expect(await activeRuns(contactId)).toBe(0);

    // Someone not on the allowed list: an ephemeral refusal, and nothing changes.
    const refused = await post(sign(click('resend_consent_request', alertId, messageTs, STRANGER)));
    expect(refused.status).toBe(200);
    const [refusal] = await waitForCalls('chat.postEphemeral', 1);
    expect(refusal?.form.get('user')).toBe(STRANGER);
    expect(refusal?.form.get('text')).toContain('not allowed');
    expect(callsTo('chat.update')).toHaveLength(0);
    expect(await activeRuns(contactId)).toBe(0);

    // An allowed user resends: a new run starts, the message loses its buttons and says who did it.
    clock.advance(1_000);
    const resend = sign(click('resend_consent_request', alertId, messageTs));
    expect((await post(resend)).status).toBe(200);
    const [update] = await waitForCalls('chat.update', 1);
    expect(update?.form.get('ts')).toBe(messageTs);
    expect(buttonsOf(update)).toEqual([]);
    expect(update?.form.get('blocks')).toContain(`<@${ALLOWED}> resent the consent request`);
    expect(update?.form.get('blocks')).not.toContain(HOSTILE_NAME);
    expect(await activeRuns(contactId)).toBe(1);
    // The resent question goes to the contact through the outbound webhook, for its adapter to send:
    // the first message's two replies, the time-out's text, then the resent run's two; no answer carried the last three.
    await outbound.waitForRequests(5, 10_000);
    const relayed = outbound.received.map((request) => OutboundBody.parse(JSON.parse(request.body)).data);
    expect(relayed.map((data) => data.inAnswer)).toEqual([true, true, false, false, false]);
    expect(relayed[2]?.text).toContain('We did not receive your consent');
    expect(relayed[4]?.text).toContain('Do you agree to our privacy policy?');

    // The same signed request again is a replay: refused before anything runs.
    const replayed = await post(resend);
    expect(replayed.status).toBe(401);
    // A forged one too.
    expect((await post(sign(click('resend_consent_request', alertId, messageTs), 'not-the-secret'))).status).toBe(401);
    expect(await activeRuns(contactId)).toBe(1);
    expect(callsTo('chat.update')).toHaveLength(1);

    // The new run times out as well: a second alert, and this time consent is recorded by hand.
    clock.advance(FIVE_MINUTES + DEFAULT_TIMER_GRACE_MS);
    const alertPosts = await waitForCalls('chat.postMessage', 2);
    const second = alertPosts[1];
    const secondId = buttonsOf(second)[0]?.value ?? '';
    expect(secondId).not.toBe(alertId);
    const secondTs = '1772355600.000002';

    const opened = await post(sign(click('record_consent_manually', secondId, secondTs)));
    expect(opened.status).toBe(200);
    const [open] = await waitForCalls('views.open', 1);
    expect(open?.form.get('trigger_id')).toBe('1772355900.000000.trigger');
    expect(open?.form.get('view')).not.toContain(HOSTILE_NAME);

    clock.advance(2_000);
    const submitted = await post(sign(submission(secondId, secondTs)));
    expect(submitted.status).toBe(200);
    expect(await submitted.text()).toBe('');
    const updates = await waitForCalls('chat.update', 2);
    expect(updates[1]?.form.get('ts')).toBe(secondTs);
    expect(buttonsOf(updates[1])).toEqual([]);
    expect(updates[1]?.form.get('blocks')).toContain(`<@${ALLOWED}> recorded consent manually (Performance of a contract)`);

    const history = await server.app.inject({ method: 'GET', url: `/v1/contacts/${contactId}/consents/history`, headers });
    const records = z.object({ data: z.array(RecordSchema) }).parse(history.json()).data;
    expect(records.filter((record) => record.source === 'slack')).toEqual([
      {
        source: 'slack',
        status: 'opted_in',
        purpose: 'privacy',
        channel: 'whatsapp',
        legalBasis: 'PERFORMANCE_OF_CONTRACT',
        explanation: 'Confirmed by phone on the order call',
        actor: { kind: 'user', id: ALLOWED },
      },
    ]);

    // Submitting the modal again changes nothing.
    clock.advance(1_000);
    const again = await post(sign(submission(secondId, secondTs)));
    expect(z.object({ response_action: z.literal('errors') }).safeParse(await again.json()).success).toBe(true);
    const after = await server.app.inject({ method: 'GET', url: `/v1/contacts/${contactId}/consents/history`, headers });
    expect(z.object({ data: z.array(RecordSchema) }).parse(after.json()).data.filter((record) => record.source === 'slack')).toHaveLength(1);
    expect(callsTo('chat.postMessage')).toHaveLength(2);
  });

  it('tells the truth when an applied opt-out is not in effect: the contact opted in again after the message', async () => {
    const inbound = (messageId: string, text: string) =>
      server.app.inject({ method: 'POST', url: '/v1/messages', headers, payload: { channel: 'sms', messageId, from: { id: '+34600000001' }, text } });
    const first = await inbound('m1', 'please stop texting me');
    const contactId = z.object({ contactId: z.string() }).parse(first.json()).contactId;
    const [alert] = await waitForCalls('chat.postMessage', 1);
    const alertId = buttonsOf(alert).find((button) => button.actionId === 'apply_optout')?.value ?? '';
    clock.advance(60_000);
    await inbound('m2', 'START');
    const startedAt = clock.now().toISOString();
    clock.advance(60 * 60_000);

    const response = await post(sign(click('apply_optout', alertId, '1772355600.000001')));
    expect(response.status).toBe(200);
    const [update] = await waitForCalls('chat.update', 1);
    const [ephemeral] = await waitForCalls('chat.postEphemeral', 1);
    const startedUnix = Math.floor(Date.parse(startedAt) / 1000);
    expect(update?.form.get('text')).toContain('Opt-out recorded, not in effect');
    expect(update?.form.get('text')).toContain(`<@${ALLOWED}> recorded the opt-out on`);
    expect(update?.form.get('text')).toContain(`it is not in effect: the contact opted in again on <!date^${startedUnix}^`);
    expect(update?.form.get('text')).not.toContain('Opt-out applied');
    expect(buttonsOf(update)).toEqual([]);
    expect(ephemeral?.form.get('user')).toBe(ALLOWED);
    expect(ephemeral?.form.get('text')).toContain('not in effect: the contact opted in again');
    expect(ephemeral?.form.get('text')).toContain('a keyword the contact sent');

    // The record is kept as evidence; the status is the later opt-in.
    const consents = await server.app.inject({ method: 'GET', url: `/v1/contacts/${contactId}/consents`, headers });
    expect(consents.body).toContain('"status":"opted_in"');
    const history = await server.app.inject({ method: 'GET', url: `/v1/contacts/${contactId}/consents/history`, headers });
    const records = z.object({ data: z.array(RecordSchema) }).parse(history.json()).data;
    expect(records.map((record) => `${record.source}:${record.status}`)).toEqual(expect.arrayContaining(['slack:opted_out', 'keyword:opted_in']));
  });

  it('serves /slack/events without an API key and refuses unsigned requests', async () => {
    const unsigned = await fetch(`${server.url}/slack/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'payload=%7B%7D',
    });
    expect(unsigned.status).toBe(401);
    const typeless = await fetch(`${server.url}/slack/events`, { method: 'POST', body: new Uint8Array([1, 2, 3]) });
    expect(typeless.status).toBe(401);
    const tooLarge = sign({ filler: 'x'.repeat(1024 * 1024) });
    expect((await post(tooLarge)).status).toBe(413);
    // Interaction payloads are far smaller (receiver.ts): the route takes 128 KiB at most.
    const justOver = sign({ filler: 'x'.repeat(SLACK_BODY_LIMIT_BYTES) });
    expect((await post(justOver)).status).toBe(413);
    const wrongMethod = await fetch(`${server.url}/slack/events`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    const stale = sign(click('resend_consent_request', 'al_1', '1.1'));
    clock.advance(6 * 60 * 1000);
    expect((await post(stale)).status).toBe(401);
    const future = sign(click('resend_consent_request', 'al_1', '1.1'));
    clock.advance(-2 * 60 * 1000);
    expect((await post(future)).status).toBe(401);
    expect(calls).toEqual([]);
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { http, HttpResponse } from 'msw';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { FakeClock } from '../../../src/ports/clock.js';
import { startServer, type RunningServer } from '../../../src/server/index.js';
import { createSqliteStore, type SqliteStore } from '../../../src/store/sqlite.js';
import { signedPayload, SLACK_API as API, slackCallOf, slackTimestamp, useSlackMsw, type SlackCall } from './harness.js';

/**
 * A contact who writes links, mentions and mrkdwn into their name and message, through the real
 * server: what reaches Slack is shown as text, not parsed or formatted.
 */

const SIGNING_SECRET = 'e2e-signing-secret';
const BOT_TOKEN = 'xoxb-e2e-token';
const CHANNEL = 'C0ALERTS01';
const ALLOWED = 'UACTOR1';
const NAME = 'Mallory https://evil.example/pay @channel *boss*';
const TEXT = 'STOP unless *URGENT* visit https://evil.example/login or www.evil.example @channel @here #general ```code``` ~x~';

const msw = useSlackMsw({ passLoopback: true });

let calls: SlackCall[];
let dir: string;
let store: SqliteStore;
let clock: FakeClock;
let server: RunningServer;
let headers: Record<string, string>;

beforeEach(async () => {
  calls = [];
  msw.use(
    ...['chat.postMessage', 'chat.update'].map((method) =>
      http.post(`${API}/${method}`, async ({ request }) => {
        calls.push(await slackCallOf(method, request));
        return HttpResponse.json({ ok: true, channel: CHANNEL, ts: '1772355600.000001' });
      }),
    ),
    http.post('https://hooks.slack.com/*', () => HttpResponse.text('ok')),
  );
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-slack-inert-'));
  store = createSqliteStore({ path: path.join(dir, 'consentry.db') });
  clock = new FakeClock('2026-03-01T09:00:00.000Z');
  server = await startServer({ store, clock, dispatchIntervalMs: 5, defaultMetrics: false, config: {} });
  const tenant = await server.createWorkspaceWithKey('Acme');
  headers = { authorization: `Bearer ${tenant.key}` };
  const slack = { botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET, alertChannel: CHANNEL, allowedUserIds: [ALLOWED], botId: 'B0BOT', botUserId: 'U0BOT' };
  const patched = await server.app.inject({ method: 'PATCH', url: '/v1/settings', headers, payload: { slack } });
  expect(patched.statusCode).toBe(200);
});

afterEach(async () => {
  await server.close();
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const TextObject = z.object({ type: z.string(), text: z.string(), verbatim: z.boolean().optional() });
const Block = z
  .object({
    type: z.string(),
    text: TextObject.optional(),
    fields: z.array(TextObject).optional(),
    elements: z.array(z.object({ type: z.string(), action_id: z.string().optional(), value: z.string().optional() }).passthrough()).optional(),
  })
  .passthrough();

function mrkdwnOf(call: SlackCall | undefined): z.infer<typeof TextObject>[] {
  const blocks = z.array(Block).parse(JSON.parse(call?.form.get('blocks') ?? '[]'));
  return blocks
    .flatMap((block) => [block.text, ...(block.fields ?? []), ...(block.elements ?? []).map((element) => TextObject.safeParse(element).data)])
    .filter((object): object is z.infer<typeof TextObject> => object?.type === 'mrkdwn');
}

function alertIdOf(call: SlackCall | undefined): string {
  const blocks = z.array(Block).parse(JSON.parse(call?.form.get('blocks') ?? '[]'));
  return blocks.flatMap((block) => block.elements ?? []).find((element) => element.action_id === 'dismiss_optout')?.value ?? '';
}

async function waitFor(method: string): Promise<SlackCall | undefined> {
  await vi.waitFor(() => expect(calls.some((call) => call.method === method)).toBe(true), { timeout: 10_000, interval: 5 });
  return calls.find((call) => call.method === method);
}

describe('an opt-out review from a contact who writes markup', () => {
  it('reaches Slack unparsed and unformatted, and so does the message after a click', async () => {
    const inbound = await server.app.inject({
      method: 'POST',
      url: '/v1/messages',
      headers,
      payload: { channel: 'sms', messageId: 'm1', from: { id: '+34600000001', name: NAME }, text: TEXT },
    });
    expect(inbound.statusCode).toBe(200);
    const posted = await waitFor('chat.postMessage');
    expect(posted?.form.get('parse')).toBe('none');
    expect(posted?.form.get('link_names')).toBe('false');
    expect(posted?.form.get('text')).not.toMatch(/[*~`]/);
    const texts = mrkdwnOf(posted);
    expect(texts.every((object) => object.verbatim === true)).toBe(true);
    expect(texts.map((object) => object.text)).toContain('*Contact*\nMallory https://evil.example/pay @channel \u2217boss\u2217');
    const quote = texts.find((object) => object.text.startsWith('*Message*'))?.text;
    expect(quote).toBe(
      '*Message*\n> STOP unless \u2217URGENT\u2217 visit https://evil.example/login or www.evil.example @channel @here #general ' +
        '\u02cb\u02cb\u02cbcode\u02cb\u02cb\u02cb \u223cx\u223c',
    );

    clock.advance(2_000);
    const click = {
      type: 'block_actions',
      user: { id: ALLOWED },
      trigger_id: '1772355900.000000.trigger',
      container: { type: 'message', message_ts: '1772355600.000001', channel_id: CHANNEL },
      response_url: 'https://hooks.slack.com/actions/T0TEAM/1/response',
      actions: [{ type: 'button', action_id: 'dismiss_optout', value: alertIdOf(posted) }],
    };
    const request = signedPayload(click, SIGNING_SECRET, slackTimestamp(clock));
    expect((await fetch(`${server.url}/slack/events`, { method: 'POST', headers: request.headers, body: request.body })).status).toBe(200);
    const updated = await waitFor('chat.update');
    expect(updated?.form.get('parse')).toBe('none');
    expect(updated?.form.get('link_names')).toBe('false');
    expect(updated?.form.get('text')).not.toMatch(/[*~`]/);
    const updatedTexts = mrkdwnOf(updated);
    expect(updatedTexts.length).toBeGreaterThan(0);
    expect(updatedTexts.every((object) => object.verbatim === true)).toBe(true);
  });
});

import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { checkSlackSetup, createSlackWebClient, slackMessenger } from '../../../connectors/slack/web.js';
import { consentFailedMessage } from '../../../connectors/slack/blocks/consent-failed.js';
import { consentFailedEvent, recordingLogger } from './fixtures.js';
import { SLACK_API as API, useSlackMsw } from './harness.js';

const server = useSlackMsw({ passLoopback: false });

const client = () => createSlackWebClient({ token: 'xoxb-test-token', logger: recordingLogger() });

function authOk() {
  return http.post(`${API}/auth.test`, () =>
    HttpResponse.json({ ok: true, team: 'Example', team_id: 'T0TEAM', user: 'consentry', user_id: 'U0BOT', bot_id: 'B0BOT' }),
  );
}

describe('slackMessenger', () => {
  const message = consentFailedMessage({ alertId: 'al_1', event: consentFailedEvent(), contactName: null, contactUrl: null });

  it('posts text and blocks without unfurling or name linking, and returns channel and ts', async () => {
    const seen: { form: URLSearchParams | null; auth: string | null } = { form: null, auth: null };
    server.use(
      http.post(`${API}/chat.postMessage`, async ({ request }) => {
        seen.auth = request.headers.get('authorization');
        seen.form = new URLSearchParams(await request.text());
        return HttpResponse.json({ ok: true, channel: 'C0ALERTS01', ts: '1767261600.000100' });
      }),
    );
    const outcome = await slackMessenger(client()).postMessage({ channel: 'C0ALERTS01', ...message });
    expect(outcome).toEqual({ ok: true, value: { channel: 'C0ALERTS01', ts: '1767261600.000100' } });
    expect(seen.auth).toBe('Bearer xoxb-test-token');
    const sent = seen.form;
    expect(sent?.get('text')).toBe(message.text);
    expect(JSON.parse(sent?.get('blocks') ?? '[]')).toEqual(message.blocks);
    expect(sent?.get('unfurl_links')).toBe('false');
    expect(sent?.get('link_names')).toBe('false');
  });

  it('surfaces a 429 with its Retry-After at once, without waiting', async () => {
    let calls = 0;
    server.use(
      http.post(`${API}/chat.update`, () => {
        calls += 1;
        return HttpResponse.json({ ok: false, error: 'ratelimited' }, { status: 429, headers: { 'Retry-After': '7' } });
      }),
    );
    const outcome = await slackMessenger(client()).updateMessage({ channel: 'C0ALERTS01', ts: '1.2', ...message });
    expect(outcome).toEqual({ ok: false, reason: 'rate_limited', retryAfterSeconds: 7 });
    expect(calls).toBe(1);
  });

  it('reports Slack error codes and unexpected answers', async () => {
    server.use(
      http.post(`${API}/chat.postMessage`, () => HttpResponse.json({ ok: false, error: 'not_in_channel' })),
      http.post(`${API}/chat.update`, () => HttpResponse.json({ ok: true })),
    );
    const messenger = slackMessenger(client());
    expect(await messenger.postMessage({ channel: 'C0ALERTS01', ...message })).toEqual({
      ok: false,
      reason: 'slack_error',
      error: 'not_in_channel',
    });
    const update = await messenger.updateMessage({ channel: 'C0ALERTS01', ts: '1.2', ...message });
    expect(update.ok === false && update.reason).toBe('unexpected_response');
  });
});

describe('checkSlackSetup', () => {
  it('says all is well when the token works and the bot is in the channel', async () => {
    server.use(
      authOk(),
      http.post(`${API}/conversations.info`, async ({ request }) => {
        const form = new URLSearchParams(await request.text());
        return HttpResponse.json({ ok: true, channel: { id: form.get('channel'), name: 'consent-alerts', is_member: true } });
      }),
    );
    const report = await checkSlackSetup(client(), 'C0ALERTS01');
    expect(report.ok).toBe(true);
    expect(report.checks.map((check) => check.ok)).toEqual([true, true]);
    expect(report.checks[1]?.message).toContain('#consent-alerts');
    expect(report.bot).toEqual({ botId: 'B0BOT', botUserId: 'U0BOT', teamId: 'T0TEAM' });
  });

  it('names a bad token and skips the channel', async () => {
    server.use(http.post(`${API}/auth.test`, () => HttpResponse.json({ ok: false, error: 'invalid_auth' })));
    const report = await checkSlackSetup(client(), 'C0ALERTS01');
    expect(report.ok).toBe(false);
    expect(report.checks[0]?.message).toMatch(/^Bad token \(invalid_auth\)/);
    expect(report.checks[1]).toMatchObject({ ok: false, message: 'Not checked: the token does not work' });
    expect(report.bot).toBeNull();
  });

  it('names a user token', async () => {
    server.use(http.post(`${API}/auth.test`, () => HttpResponse.json({ ok: true, team: 'Example', user: 'ana', user_id: 'U0ANA' })));
    const report = await checkSlackSetup(client(), 'C0ALERTS01');
    expect(report.checks[0]?.message).toContain('not a bot token');
  });

  it('says when the bot is not in the channel, and how to fix it', async () => {
    server.use(
      authOk(),
      http.post(`${API}/conversations.info`, () =>
        HttpResponse.json({ ok: true, channel: { id: 'C0ALERTS01', name: 'consent-alerts', is_member: false } }),
      ),
    );
    const report = await checkSlackSetup(client(), 'C0ALERTS01');
    expect(report.ok).toBe(false);
    expect(report.checks[1]?.message).toBe('The bot is not in #consent-alerts: invite it there with /invite @consentry');
  });

  it('says when the channel does not exist, is archived, or the scope is missing', async () => {
    server.use(authOk(), http.post(`${API}/conversations.info`, () => HttpResponse.json({ ok: false, error: 'channel_not_found' })));
    expect((await checkSlackSetup(client(), 'C0NOPE')).checks[1]?.message).toMatch(/^Channel C0NOPE not found/);

    server.use(http.post(`${API}/conversations.info`, () => HttpResponse.json({ ok: false, error: 'missing_scope', needed: 'channels:read' })));
    expect((await checkSlackSetup(client(), 'C0ALERTS01')).checks[1]?.message).toContain('channels:read');

    server.use(
      http.post(`${API}/conversations.info`, () =>
        HttpResponse.json({ ok: true, channel: { id: 'C0ALERTS01', name: 'old', is_member: true, is_archived: true } }),
      ),
    );
    expect((await checkSlackSetup(client(), 'C0ALERTS01')).checks[1]?.message).toBe('#old is archived: choose another channel');
  });

  it('says when Slack cannot be reached', async () => {
    server.use(http.post(`${API}/auth.test`, () => HttpResponse.error()));
    const report = await checkSlackSetup(client(), 'C0ALERTS01');
    expect(report.checks[0]?.message).toMatch(/^Could not reach Slack/);
    // Nothing is known to be wrong with the token: the report does not blame it.
    expect(report).toMatchObject({ ok: false, reached: false });
    expect(report.checks[1]).toMatchObject({ ok: false, message: 'Not checked: the token could not be checked' });
  });

  it('says when Slack could not be reached for the channel, once the token worked', async () => {
    server.use(authOk(), http.post(`${API}/conversations.info`, () => HttpResponse.error()));
    const report = await checkSlackSetup(client(), 'C0ALERTS01');
    expect(report).toMatchObject({ ok: false, reached: false });
    expect(report.checks[1]?.message).toMatch(/^Could not reach Slack/);
  });

  it('has reached Slack when it answered, whatever it said', async () => {
    server.use(http.post(`${API}/auth.test`, () => HttpResponse.json({ ok: false, error: 'invalid_auth' })));
    expect(await checkSlackSetup(client(), 'C0ALERTS01')).toMatchObject({ ok: false, reached: true });
  });
});

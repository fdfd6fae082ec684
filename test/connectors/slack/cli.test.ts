import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { http, HttpResponse } from 'msw';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { slackAppManifest } from '../../../connectors/slack/manifest.js';
import { createEngine } from '../../../src/engine.js';
import { createSqliteStore } from '../../../src/store/sqlite.js';
import { cli } from '../../cli/helpers.js';
import { SLACK_API as API, useSlackMsw } from './harness.js';

const msw = useSlackMsw({ passLoopback: false });

let dir: string;
let seen: { method: string; authorization: string | null; channel: string | null }[];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-slack-cli-'));
  seen = [];
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function slackAnswers(options: { auth?: Record<string, unknown>; member?: boolean } = {}) {
  msw.use(
    http.post(`${API}/auth.test`, ({ request }) => {
      seen.push({ method: 'auth.test', authorization: request.headers.get('authorization'), channel: null });
      return HttpResponse.json(options.auth ?? { ok: true, team: 'Example', team_id: 'T0TEAM', user: 'consentry', user_id: 'U0BOT', bot_id: 'B0BOT' });
    }),
    http.post(`${API}/conversations.info`, async ({ request }) => {
      const channel = new URLSearchParams(await request.text()).get('channel');
      seen.push({ method: 'conversations.info', authorization: request.headers.get('authorization'), channel });
      return HttpResponse.json({ ok: true, channel: { id: channel, name: 'consent-alerts', is_member: options.member ?? true } });
    }),
  );
}

describe('consentry slack manifest', () => {
  it('prints the Slack app manifest for the given public URL', async () => {
    const run = await cli(['slack', 'manifest', '--url', 'https://consent.example.com/']);
    expect(run.code).toBe(0);
    const printed: unknown = JSON.parse(run.stdout);
    expect(printed).toEqual(slackAppManifest('https://consent.example.com'));
    expect(run.stdout).toContain('"request_url": "https://consent.example.com/slack/events"');
    expect(run.stdout).toContain('"chat:write"');
  });

  it('takes PUBLIC_URL when no --url is given, and refuses a missing or plain-http URL', async () => {
    const fromEnv = await cli(['slack', 'manifest'], { env: { PUBLIC_URL: 'https://env.example.com' } });
    expect(fromEnv.stdout).toContain('https://env.example.com/slack/events');
    const missing = await cli(['slack', 'manifest']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--url');
    const plain = await cli(['slack', 'manifest', '--url', 'http://consent.example.com']);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain('https');
  });

  it('has --help', async () => {
    const run = await cli(['slack', 'manifest', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('--url <https-url>');
    const group = await cli(['slack', '--help']);
    expect(group.stdout).toContain('check');
    expect(group.stdout).toContain('manifest');
  });
});

describe('consentry slack check', () => {
  it('checks the given token and channel, and prints the bot ids for the settings', async () => {
    slackAnswers();
    const run = await cli(['slack', 'check', '--token', 'xoxb-given', '--channel', 'C0GIVEN01', '--db', path.join(dir, 'none.db')]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('ok   token: Token works: bot consentry in Example');
    expect(run.stdout).toContain('ok   channel: The bot can post in #consent-alerts');
    expect(run.stdout).toContain('botId B0BOT, botUserId U0BOT');
    expect(seen).toEqual([
      { method: 'auth.test', authorization: 'Bearer xoxb-given', channel: null },
      { method: 'conversations.info', authorization: 'Bearer xoxb-given', channel: 'C0GIVEN01' },
    ]);
    expect(fs.existsSync(path.join(dir, 'none.db'))).toBe(false);
  });

  it('says clearly when the token is bad, and exits 1', async () => {
    slackAnswers({ auth: { ok: false, error: 'invalid_auth' } });
    const run = await cli(['slack', 'check', '--token', 'xoxb-wrong', '--channel', 'C0GIVEN01']);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('FAIL token: Bad token (invalid_auth)');
    expect(run.stderr).toContain('needs fixing');
  });

  it('says clearly when the bot is not in the channel', async () => {
    slackAnswers({ member: false });
    const run = await cli(['slack', 'check', '--token', 'xoxb-given', '--channel', 'C0GIVEN01', '--json']);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({
      ok: false,
      checks: [{ name: 'token', ok: true }, { name: 'channel', ok: false, message: 'The bot is not in #consent-alerts: invite it there with /invite @consentry' }],
    });
  });

  it('defaults to the environment, without creating a database', async () => {
    slackAnswers();
    const db = path.join(dir, 'absent.db');
    const run = await cli(['slack', 'check', '--db', db], {
      env: { SLACK_BOT_TOKEN: 'xoxb-from-env', SLACK_SIGNING_SECRET: 'env-secret', SLACK_ALERT_CHANNEL: 'C0ENVCHAN1' },
    });
    expect(run.code).toBe(0);
    expect(seen.map((call) => [call.authorization, call.channel])).toEqual([
      ['Bearer xoxb-from-env', null],
      ['Bearer xoxb-from-env', 'C0ENVCHAN1'],
    ]);
    expect(fs.existsSync(db)).toBe(false);
  });

  it("defaults to the workspace's own settings, which win over the environment", async () => {
    const db = path.join(dir, 'consentry.db');
    const store = createSqliteStore({ path: db });
    const engine = createEngine({ store });
    await engine.createWorkspace({ name: 'Acme', settings: { slack: { botToken: 'xoxb-acme', signingSecret: 's', alertChannel: 'C0ACME001' } } });
    await store.close();
    slackAnswers();
    const run = await cli(['slack', 'check', '--db', db, '--workspace', 'Acme'], { env: { SLACK_BOT_TOKEN: 'xoxb-from-env' } });
    expect(run.code).toBe(0);
    expect(seen.map((call) => [call.authorization, call.channel])).toEqual([
      ['Bearer xoxb-acme', null],
      ['Bearer xoxb-acme', 'C0ACME001'],
    ]);
  });

  it('says what to set when Slack is not set up', async () => {
    const run = await cli(['slack', 'check', '--db', path.join(dir, 'absent.db')], { env: { SLACK_BOT_TOKEN: 'xoxb-from-env' } });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('missing SLACK_SIGNING_SECRET, SLACK_ALERT_CHANNEL');
    expect(run.stderr).toContain('--token and --channel');
    expect(seen).toEqual([]);
  });

  it('has --help', async () => {
    const run = await cli(['slack', 'check', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('auth.test');
    expect(run.stdout).toContain('--channel <channel-id>');
  });
});

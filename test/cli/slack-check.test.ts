import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { http, HttpResponse } from 'msw';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createEngine } from '../../src/engine.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { SLACK_API as API, useSlackMsw } from '../connectors/slack/harness.js';
import { cli } from './helpers.js';

const msw = useSlackMsw({ passLoopback: false });

const ENV_SET_UP = { SLACK_BOT_TOKEN: 'xoxb-from-env', SLACK_SIGNING_SECRET: 'env-secret', SLACK_ALERT_CHANNEL: 'C0ENVCHAN1', SLACK_ALLOWED_USERS: 'UACTOR1' };
const PATCH_HINT = 'PATCH /v1/settings {"slack": {"botId": "B0BOT", "botUserId": "U0BOT"}}';

let dir: string;
let db: string;
let tokens: (string | null)[];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-slack-check-'));
  db = path.join(dir, 'consentry.db');
  tokens = [];
});
afterEach(() => {
  vi.restoreAllMocks();
  fs.rmSync(dir, { recursive: true, force: true });
});

function slackAnswers(): void {
  msw.use(
    http.post(`${API}/auth.test`, ({ request }) => {
      tokens.push(request.headers.get('authorization'));
      return HttpResponse.json({ ok: true, team: 'Example', team_id: 'T0TEAM', user: 'consentry', user_id: 'U0BOT', bot_id: 'B0BOT' });
    }),
    http.post(`${API}/conversations.info`, () => HttpResponse.json({ ok: true, channel: { id: 'C0ALERTS01', name: 'consent-alerts', is_member: true } })),
  );
}

/** A database whose first workspace is set up by the environment and whose second has its own "slack" settings. */
async function workspaces(): Promise<void> {
  const store = createSqliteStore({ path: db });
  const engine = createEngine({ store });
  await engine.createWorkspace({ name: 'Default workspace' });
  await engine.createWorkspace({ name: 'Acme', settings: { slack: { botToken: 'xoxb-acme', signingSecret: 's', alertChannel: 'C0ACME001' } } });
  await store.close();
}

/** Applies the patch the hint prints to a workspace, as PATCH /v1/settings would. */
async function applyHint(name: string): Promise<void> {
  const store = createSqliteStore({ path: db });
  try {
    const engine = createEngine({ store });
    const workspace = (await engine.listWorkspaces()).find((candidate) => candidate.name === name);
    await engine.workspace(workspace?.id ?? '').updateSettings({ slack: { botId: 'B0BOT', botUserId: 'U0BOT' } });
  } finally {
    await store.close();
  }
}

describe('consentry slack check: the bot ids', () => {
  it('are not offered as a settings patch to a workspace set up by the environment, which would refuse it', async () => {
    await workspaces();
    slackAnswers();
    const run = await cli(['slack', 'check', '--db', db], { env: ENV_SET_UP });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Bot ids: botId B0BOT, botUserId U0BOT.');
    expect(run.stdout).not.toContain('PATCH');
    await expect(applyHint('Default workspace')).rejects.toThrow(/slack/);
  });

  it("are offered, as optional, for a workspace's own slack settings, and the patch works", async () => {
    await workspaces();
    slackAnswers();
    const run = await cli(['slack', 'check', '--db', db, '--workspace', 'Acme'], { env: ENV_SET_UP });
    expect(run.code).toBe(0);
    const hint = run.stdout.split('\n').find((line) => line.includes('PATCH'));
    expect(hint).toMatch(/^Optional, for the "slack" settings of workspace "Acme" \(.+\) \(alerts and buttons work without them\): /);
    expect(hint?.endsWith(PATCH_HINT)).toBe(true);
    expect(run.stdout).not.toContain('starts without calling Slack');
    await applyHint('Acme');
  });

  it('are not offered for a token given on the command line, which may belong to another app', async () => {
    await workspaces();
    slackAnswers();
    const run = await cli(['slack', 'check', '--db', db, '--workspace', 'Acme', '--token', 'xoxb-other'], { env: ENV_SET_UP });
    expect(tokens).toEqual(['Bearer xoxb-other']);
    expect(run.stdout).not.toContain('PATCH');
  });
});

describe('consentry slack check --token-file', () => {
  it('reads the token from a file, without the line break after it', async () => {
    const file = path.join(dir, 'slack-token');
    fs.writeFileSync(file, 'xoxb-from-file\n', { mode: 0o600 });
    slackAnswers();
    const run = await cli(['slack', 'check', '--token-file', file, '--channel', 'C0ALERTS01', '--db', db]);
    expect(run.code).toBe(0);
    expect(tokens).toEqual(['Bearer xoxb-from-file']);
    expect(run.stdout).not.toContain('xoxb-from-file');
  });

  it('reads the token from stdin with -', async () => {
    slackAnswers();
    const run = await cli(['slack', 'check', '--token-file', '-', '--channel', 'C0ALERTS01', '--db', db], { stdin: 'xoxb-from-stdin\n' });
    expect(run.code).toBe(0);
    expect(tokens).toEqual(['Bearer xoxb-from-stdin']);
  });

  it('names a missing or empty file and calls nobody', async () => {
    const missing = await cli(['slack', 'check', '--token-file', path.join(dir, 'absent'), '--channel', 'C0ALERTS01']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`error: --token-file: cannot read ${path.join(dir, 'absent')}: no such file\n`);
    const empty = path.join(dir, 'empty');
    fs.writeFileSync(empty, '\n');
    const blank = await cli(['slack', 'check', '--token-file', empty, '--channel', 'C0ALERTS01']);
    expect(blank.code).toBe(2);
    expect(blank.stderr).toContain(`--token-file: ${empty} is empty`);
    const twoLines = path.join(dir, 'two-lines');
    fs.writeFileSync(twoLines, 'xoxb-a\nxoxb-b\n');
    const ambiguous = await cli(['slack', 'check', '--token-file', twoLines, '--channel', 'C0ALERTS01']);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).not.toContain('xoxb-');
    expect(tokens).toEqual([]);
  });

  it('refuses --token and --token-file together', async () => {
    const run = await cli(['slack', 'check', '--token', 'xoxb-a', '--token-file', '-', '--channel', 'C0ALERTS01'], { stdin: 'xoxb-b' });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('pass --token or --token-file, not both');
    expect(tokens).toEqual([]);
  });

  it('is what the help recommends', async () => {
    const run = await cli(['slack', 'check', '--help']);
    expect(run.stdout).toContain('--token-file <path>');
    expect(run.stdout).toMatch(/--token <xoxb-token>\s+the bot token to check; visible to other users in ps/);
    expect(run.stdout).toContain('prefer --token-file');
  });
});

describe('consentry slack check offline', () => {
  it('reports the failure without the Slack SDK writing to the console', async () => {
    const consoleCalls = (['log', 'info', 'warn', 'error', 'debug'] as const).map((method) => vi.spyOn(console, method).mockImplementation(() => undefined));
    msw.use(http.post(`${API}/auth.test`, () => HttpResponse.error()));
    const run = await cli(['slack', 'check', '--token', 'xoxb-offline', '--channel', 'C0ALERTS01']);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('FAIL token: Could not reach Slack');
    expect(run.stdout).toContain('SKIP channel: Not checked: the token could not be checked');
    expect(run.stderr).toBe('error: could not check the Slack set-up: Slack did not answer (see above)\n');
    expect(consoleCalls.flatMap((spy) => spy.mock.calls)).toEqual([]);
  });
});

describe('consentry slack check --json', () => {
  const NOT_SET_UP = /^Slack is not set up for the environment \(missing SLACK_SIGNING_SECRET, SLACK_ALERT_CHANNEL\): set SLACK_BOT_TOKEN, /;

  it('prints one object saying Slack is not set up, keeps exit code 2 and the error line, and calls nobody', async () => {
    const run = await cli(['slack', 'check', '--json', '--db', path.join(dir, 'absent.db')], { env: { SLACK_BOT_TOKEN: 'xoxb-from-env' } });
    expect(run.code).toBe(2);
    const lines = run.stdout.split('\n').filter((line) => line !== '');
    expect(lines).toHaveLength(1);
    const printed: unknown = JSON.parse(lines[0] ?? '');
    expect(printed).toEqual({ ok: false, configured: false, reached: false, checks: [], bot: null, message: expect.stringMatching(NOT_SET_UP) });
    expect(run.stderr).toBe(`error: ${(printed as { message: string }).message}\n`);
    expect(tokens).toEqual([]);
  });

  it('names the workspace that has no Slack set-up', async () => {
    await workspaces();
    const run = await cli(['slack', 'check', '--json', '--db', db, '--workspace', 'Default workspace', '--token', 'xoxb-a']);
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: false, configured: false, message: expect.stringMatching(/^Slack is not set up for workspace "Default workspace" \(/) });
    expect(tokens).toEqual([]);
  });

  it('names on one line a workspace whose name, stored by an older version, holds a line break', async () => {
    await workspaces();
    const store = createSqliteStore({ path: db });
    let id = '';
    try {
      const workspace = (await createEngine({ store }).listWorkspaces()).find((candidate) => candidate.name === 'Default workspace');
      id = workspace?.id ?? '';
      // The engine refuses such a name: it is written to the store as an older version could have.
      await store.transaction((tx) => tx.updateWorkspace(id, { name: 'Default\nworkspace', updatedAt: new Date(0).toISOString() }));
    } finally {
      await store.close();
    }
    const run = await cli(['slack', 'check', '--db', db, '--workspace', id, '--token', 'xoxb-a']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`^error: Slack is not set up for workspace "Default\\[U\\+000A\\]workspace" \\(${id}\\), so it names no alert channel`));
    expect(run.stderr.split('\n')).toHaveLength(2);
    expect(tokens).toEqual([]);
  });

  it('prints the report with configured true once a set-up was checked', async () => {
    slackAnswers();
    const run = await cli(['slack', 'check', '--json', '--token', 'xoxb-given', '--channel', 'C0ALERTS01', '--db', db]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: true, configured: true, reached: true, bot: { botId: 'B0BOT', botUserId: 'U0BOT' } });
  });

  it('prints no object for a usage error, which is no answer about the set-up', async () => {
    const run = await cli(['slack', 'check', '--json', '--token', 'xoxb-a', '--token-file', '-', '--channel', 'C0ALERTS01'], { stdin: 'xoxb-b' });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
  });
});

describe('consentry slack check names only what is missing', () => {
  it('a channel, when a token was given', async () => {
    for (const json of [false, true]) {
      const run = await cli(['slack', 'check', ...(json ? ['--json'] : []), '--token', 'xoxb-given', '--db', db]);
      expect(run.code).toBe(2);
      const message = "Slack is not set up for the environment, so it names no alert channel to check: pass --channel with the channel's id (C… or G…)";
      expect(run.stderr).toBe(`error: ${message}\n`);
      if (json) expect(JSON.parse(run.stdout)).toEqual({ ok: false, configured: false, reached: false, checks: [], bot: null, message });
    }
    expect(tokens).toEqual([]);
  });

  it('a token, when a channel was given', async () => {
    const run = await cli(['slack', 'check', '--json', '--channel', 'C0ALERTS01', '--db', db]);
    expect(run.code).toBe(2);
    const { message } = JSON.parse(run.stdout) as { message: string };
    expect(message).toBe(
      "Slack is not set up for the environment, so it holds no bot token to check: pass --token-file (or --token) with the app's Bot User OAuth Token (xoxb-…), shown under OAuth & Permissions in the app's settings at api.slack.com/apps",
    );
    expect(message).not.toContain('--channel');
    expect(tokens).toEqual([]);
  });
});

describe('consentry slack check refuses, before calling Slack, what the form of a value shows wrong', () => {
  const CHANNEL_ID = "the channel's id (C… or G…), shown at the bottom of the channel's details in Slack (click its name)";
  const BOT_TOKEN = "the app's Bot User OAuth Token (xoxb-…), shown under OAuth & Permissions in the app's settings at api.slack.com/apps";

  it('a user token and a channel name, each as a FAIL line saying what to pass instead', async () => {
    slackAnswers();
    const run = await cli(['slack', 'check', '--token', 'xoxp-123', '--channel', 'general', '--db', db]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe(
      `FAIL token: the token given is a user token (xoxp-…), not a bot token: pass ${BOT_TOKEN}\n` +
        `FAIL channel: --channel "general" is a channel name, not its id: pass --channel with ${CHANNEL_ID}\n`,
    );
    expect(run.stderr).toBe('error: the Slack set-up was not checked, Slack was not called: fix what is named above\n');
    expect(run.stdout + run.stderr).not.toContain('xoxp-123');
    expect(tokens).toEqual([]);
  });

  it.each([
    ['#general', '--channel "#general" is a channel name, not its id:'],
    ['#General', '--channel "#General" is a channel name, not its id:'],
    ['Consent-Alerts', '--channel "Consent-Alerts" is a channel name, not its id:'],
    ['#DEV', '--channel "#DEV" is a channel name, not its id:'],
    ['D0DIRECT01', '--channel "D0DIRECT01" is a direct message, not a channel: alerts go to a channel;'],
    ['https://example.slack.com/archives/C0ALERTS01', '--channel "https://example.slack.com/archives/C0ALERTS01" is not a channel id:'],
  ])('the channel %j, the token left unchecked', async (channel, why) => {
    slackAnswers();
    const run = await cli(['slack', 'check', '--token', 'xoxb-given', '--channel', channel, '--db', db]);
    expect(run.code).toBe(2);
    expect(run.stdout.split('\n')).toEqual([
      'SKIP token: Not checked: Slack is not called until the channel is a channel id',
      `FAIL channel: ${why} pass --channel with ${CHANNEL_ID}`,
      '',
    ]);
    expect(tokens).toEqual([]);
  });

  it.each([
    ['#C0ALERTS01', '--channel "#C0ALERTS01" is a channel id with a # in front: pass --channel C0ALERTS01, without the #'],
    ['#G0PRIVATE1', '--channel "#G0PRIVATE1" is a channel id with a # in front: pass --channel G0PRIVATE1, without the #'],
    ['#D0DIRECT01', `--channel "#D0DIRECT01" is a direct message, not a channel: alerts go to a channel; pass --channel with ${CHANNEL_ID}`],
  ])('the id %j typed with a # in front, named as the id it is', async (channel, why) => {
    slackAnswers();
    const run = await cli(['slack', 'check', '--token', 'xoxb-given', '--channel', channel, '--db', db]);
    expect(run.code).toBe(2);
    expect(run.stdout.split('\n')).toEqual(['SKIP token: Not checked: Slack is not called until the channel is a channel id', `FAIL channel: ${why}`, '']);
    expect(tokens).toEqual([]);
  });

  it.each([
    ['xapp-1-A0-123', 'is an app-level token (xapp-…), not a bot token'],
    ['abc', 'is not a bot token, which starts with xoxb-'],
    ['xoxb-12 34', 'is no bot token: after xoxb- a bot token holds only letters, digits and hyphens'],
  ])('the token %j, without naming it', async (token, why) => {
    slackAnswers();
    const run = await cli(['slack', 'check', '--token', token, '--channel', 'C0ALERTS01', '--db', db]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe(`FAIL token: the token given ${why}: pass ${BOT_TOKEN}\nSKIP channel: Not checked: Slack is not called until the token is a bot token\n`);
    expect(run.stdout).not.toContain(token);
    expect(tokens).toEqual([]);
  });

  it('with --json, prints the report and names the failures on stderr, where nothing is above', async () => {
    slackAnswers();
    const run = await cli(['slack', 'check', '--json', '--token', 'xoxp-123', '--channel', '#general', '--db', db]);
    expect(run.code).toBe(2);
    const token = `the token given is a user token (xoxp-…), not a bot token: pass ${BOT_TOKEN}`;
    const channel = `--channel "#general" is a channel name, not its id: pass --channel with ${CHANNEL_ID}`;
    expect(JSON.parse(run.stdout)).toEqual({
      ok: false,
      configured: true,
      reached: false,
      checks: [
        { name: 'token', ok: false, message: token },
        { name: 'channel', ok: false, message: channel },
      ],
      bot: null,
    });
    expect(run.stderr).toBe(`error: the Slack set-up was not checked, Slack was not called: token: ${token}; channel: ${channel}\n`);
    expect(tokens).toEqual([]);
  });
});

describe('consentry slack check --json with Slack out of reach', () => {
  it('names the failures on stderr instead of pointing above, where nothing is', async () => {
    msw.use(http.post(`${API}/auth.test`, () => HttpResponse.error()));
    const run = await cli(['slack', 'check', '--json', '--token', 'xoxb-offline', '--channel', 'C0ALERTS01', '--db', db]);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: false, configured: true, reached: false });
    expect(run.stderr).not.toContain('see above');
    expect(run.stderr).toMatch(/^error: could not check the Slack set-up: Slack did not answer: token: Could not reach Slack: [^;]*\n$/);
  });
});

describe('consentry slack check: a value left unchecked', () => {
  const CHANNEL_ID = "the channel's id (C… or G…), shown at the bottom of the channel's details in Slack (click its name)";

  it('is neither ok nor failed in --json, and is not named among the failures', async () => {
    slackAnswers();
    const run = await cli(['slack', 'check', '--json', '--token', 'xoxb-given', '--channel', '#General', '--db', db]);
    expect(run.code).toBe(2);
    const channel = `--channel "#General" is a channel name, not its id: pass --channel with ${CHANNEL_ID}`;
    expect(JSON.parse(run.stdout)).toEqual({
      ok: false,
      configured: true,
      reached: false,
      checks: [
        { name: 'token', ok: null, checked: false, message: 'Not checked: Slack is not called until the channel is a channel id' },
        { name: 'channel', ok: false, message: channel },
      ],
      bot: null,
    });
    expect(run.stderr).toBe(`error: the Slack set-up was not checked, Slack was not called: channel: ${channel}\n`);
    expect(tokens).toEqual([]);
  });

  it('is the channel, when Slack refuses the token: SKIP in the text, ok null in --json, exit code 1 for the token', async () => {
    msw.use(http.post(`${API}/auth.test`, () => HttpResponse.json({ ok: false, error: 'invalid_auth' })));
    const text = await cli(['slack', 'check', '--token', 'xoxb-revoked', '--channel', 'C0ALERTS01', '--db', db]);
    expect(text.code).toBe(1);
    expect(text.stdout.split('\n')).toEqual([
      "FAIL token: Bad token (invalid_auth): set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (xoxb-…)",
      'SKIP channel: Not checked: the token does not work',
      '',
    ]);
    const json = await cli(['slack', 'check', '--json', '--token', 'xoxb-revoked', '--channel', 'C0ALERTS01', '--db', db]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      reached: true,
      checks: [
        { name: 'token', ok: false },
        { name: 'channel', ok: null, checked: false, message: 'Not checked: the token does not work' },
      ],
    });
    expect(json.stderr).toBe("error: the Slack set-up needs fixing: token: Bad token (invalid_auth): set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (xoxb-…)\n");
  });

  it('is the channel, when Slack is out of reach, in --json', async () => {
    msw.use(http.post(`${API}/auth.test`, () => HttpResponse.error()));
    const run = await cli(['slack', 'check', '--json', '--token', 'xoxb-offline', '--channel', 'C0ALERTS01', '--db', db]);
    expect(run.code).toBe(1);
    const { checks } = JSON.parse(run.stdout) as { checks: unknown[] };
    expect(checks[1]).toEqual({ name: 'channel', ok: null, checked: false, message: 'Not checked: the token could not be checked' });
  });

  it('leaves a checked value ok true or false, without a checked member', async () => {
    slackAnswers();
    const run = await cli(['slack', 'check', '--json', '--token', 'xoxb-given', '--channel', 'C0ALERTS01', '--db', db]);
    expect(run.code).toBe(0);
    const { checks } = JSON.parse(run.stdout) as { checks: Record<string, unknown>[] };
    expect(checks.map((check) => [check.name, check.ok, 'checked' in check])).toEqual([
      ['token', true, false],
      ['channel', true, false],
    ]);
  });
});

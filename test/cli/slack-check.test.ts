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
    expect(missing.stderr).toContain(`--token-file: cannot read ${path.join(dir, 'absent')} (ENOENT)`);
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
    expect(run.stdout).toContain('FAIL channel: Not checked: the token could not be checked');
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

import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { resolveSlackConfig, type SlackConfigResolution } from '../../connectors/slack/config.js';
import { slackAppManifest } from '../../connectors/slack/manifest.js';
import type { SlackSetupReport } from '../../connectors/slack/web.js';
import { baseUrlProblem, type Config } from '../config.js';
import { defaultSettings, type Workspace } from '../core/settings.js';
import { environmentConfig, readExistingWorkspace } from './connector-setup.js';
import type { CliIo } from './io.js';
import { CliFailure, CliRefusal, writeLine } from './io.js';

interface CheckOptions {
  token?: string;
  tokenFile?: string;
  channel?: string;
  db?: string;
  workspace?: string;
  json?: boolean;
}

/** A default workspace with no settings of its own, for when there is no database yet: the environment decides. */
function environmentOnly(): Workspace {
  return { id: 'default', name: 'default', settings: defaultSettings(), createdAt: '', updatedAt: '' };
}

/**
 * The workspace's Slack set-up as the server would use it: its own settings, or the SLACK_*
 * variables for the default workspace. Reads the database only when it exists: a check must not
 * create one.
 */
async function configuredSlack(options: CheckOptions, io: CliIo, config: Config): Promise<{ label: string; resolution: SlackConfigResolution }> {
  const found = await readExistingWorkspace(options, io, (_tx, { workspace, isDefault }) => ({
    label: `workspace "${workspace.name}" (${workspace.id})`,
    resolution: resolveSlackConfig(workspace, config, isDefault),
  }));
  return found ?? { label: 'the environment', resolution: resolveSlackConfig(environmentOnly(), config, true) };
}

async function readStdin(io: CliIo): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The token `--token-file` names: the file's content (or stdin's, for `-`) without the white space
 * around it, so a file written by `echo` works. A token on the command line is visible to every
 * user in `ps` and kept in the shell history; a file or a pipe is not. Errors name the file, never
 * what it holds.
 */
async function tokenFromFile(path: string, io: CliIo): Promise<string> {
  const source = path === '-' ? 'stdin' : path;
  let content: string;
  try {
    content = path === '-' ? await readStdin(io) : await readFile(path, 'utf8');
  } catch (error) {
    const why = error instanceof Error && 'code' in error ? String(error.code) : 'unreadable';
    throw new CliRefusal(`--token-file: cannot read ${source} (${why})`);
  }
  const token = content.trim();
  if (token === '') throw new CliRefusal(`--token-file: ${source} is empty`);
  if (/\s/.test(token)) throw new CliRefusal(`--token-file: ${source} must hold the token alone, on one line`);
  return token;
}

function printReport(report: SlackSetupReport, io: CliIo, ownSettings: string | null): void {
  for (const check of report.checks) writeLine(io.stdout, `${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.message}`);
  if (report.bot) {
    writeLine(io.stdout, `Bot ids: botId ${report.bot.botId}, botUserId ${report.bot.botUserId}.`);
    // Only a workspace with its own "slack" settings can take the ids: a patch that adds "slack" to
    // a workspace set up by SLACK_* variables is refused for lacking the token, secret and channel.
    if (ownSettings !== null) {
      writeLine(
        io.stdout,
        `Optional, for the "slack" settings of ${ownSettings} (alerts and buttons work without them): ` +
          `PATCH /v1/settings {"slack": {"botId": "${report.bot.botId}", "botUserId": "${report.bot.botUserId}"}}`,
      );
    }
  }
}

/**
 * What `slack check --json` prints: the report, with `configured` true, once a token and a channel
 * were checked; when there was no set-up to check, the same fields with `configured` false, no
 * check made (`reached` false: Slack was not called) and `message` saying what to set.
 */
export type SlackCheckJson = (SlackSetupReport & { configured: true }) | (SlackSetupReport & { configured: false; message: string });

function checkedJson(report: SlackSetupReport): SlackCheckJson {
  return { ok: report.ok, configured: true, reached: report.reached, checks: report.checks, bot: report.bot };
}

function notConfiguredJson(message: string): SlackCheckJson {
  return { ok: false, configured: false, reached: false, checks: [], bot: null, message };
}

/** `consentry slack check`: auth.test and conversations.info, each problem named with its fix. */
export async function slackCheckCommand(options: CheckOptions, io: CliIo): Promise<void> {
  if (options.token !== undefined && options.tokenFile !== undefined) throw new CliRefusal('pass --token or --token-file, not both');
  const config = environmentConfig(io);
  let token = options.tokenFile === undefined ? options.token : await tokenFromFile(options.tokenFile, io);
  let channel = options.channel;
  /** The workspace whose own settings gave the token checked, if they did. */
  let ownSettings: string | null = null;
  if (token === undefined || channel === undefined) {
    const { label, resolution } = await configuredSlack(options, io, config);
    if (resolution.status === 'on') {
      if (token === undefined && resolution.config.source === 'settings') ownSettings = label;
      token ??= resolution.config.botToken;
      channel ??= resolution.config.alertChannel;
    } else if (token === undefined || channel === undefined) {
      const missing = resolution.status === 'incomplete' ? ` (missing ${resolution.missing.join(', ')})` : '';
      const message =
        `Slack is not set up for ${label}${missing}: set SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET and SLACK_ALERT_CHANNEL, ` +
        'or the workspace\'s "slack" settings (PATCH /v1/settings), ' +
        'or pass --token and --channel (--token-file instead of --token keeps the token out of ps and the shell history)';
      // `--json` prints one object whatever the outcome: a script reads `configured` rather than an empty stdout.
      if (options.json) writeLine(io.stdout, JSON.stringify(notConfiguredJson(message)));
      throw new CliRefusal(message);
    }
  }
  if (token === undefined || channel === undefined) throw new CliRefusal('pass --token-file (or --token) and --channel');
  // Loaded here: the other commands need none of the Slack SDK.
  const { checkSlackSetup, createSlackWebClient } = await import('../../connectors/slack/web.js');
  const { boltLogger, silentPino } = await import('../../connectors/slack/logger.js');
  // The report says every outcome itself: the client's own `[WARN] web-api:…` lines would land in the middle of it.
  const report = await checkSlackSetup(createSlackWebClient({ token, logger: boltLogger(silentPino) }), channel);
  if (options.json) writeLine(io.stdout, JSON.stringify(checkedJson(report)));
  else printReport(report, io, ownSettings);
  if (!report.ok) throw new CliFailure(report.reached ? 'the Slack set-up needs fixing (see above)' : 'could not check the Slack set-up: Slack did not answer (see above)');
}

const ACCEPTED_URL = 'the https address this server is reached at, such as https://consent.example.com or https://example.com/consentry';

/**
 * Why `value` cannot be the base of the Slack request URL, or undefined when it can. Slack calls
 * request URLs over https only (https://docs.slack.dev/interactivity/handling-user-interaction),
 * and `/slack/events` is appended to it, so a query or a fragment would end up in its middle.
 */
function publicUrlProblem(value: string): string | undefined {
  if (!URL.canParse(value)) return `must be ${ACCEPTED_URL}, not ${JSON.stringify(value)}`;
  const { protocol } = new URL(value);
  if (protocol !== 'https:') return `must be an https URL, such as https://consent.example.com, not ${protocol}//…: Slack calls request URLs over https only`;
  if (baseUrlProblem(value) !== undefined) {
    return `must be ${ACCEPTED_URL}, without a query, a fragment or a user name and password`;
  }
  return undefined;
}

/** `--url`, checked when the command line is read: a bad value is an error about the option. */
function publicUrlOption(value: string): string {
  const problem = publicUrlProblem(value);
  if (problem !== undefined) throw new CliRefusal(`--url ${problem}`);
  return value;
}

/** `consentry slack manifest --url …`: the Slack app manifest as JSON, to paste into api.slack.com/apps. */
export function slackManifestCommand(options: { url?: string }, io: CliIo): void {
  const fromEnvironment = io.env.PUBLIC_URL?.trim() || undefined;
  const url = options.url === undefined ? fromEnvironment : publicUrlOption(options.url);
  if (url === undefined) throw new CliRefusal(`pass --url with ${ACCEPTED_URL} (or set PUBLIC_URL)`);
  if (options.url === undefined) {
    const problem = publicUrlProblem(url);
    if (problem !== undefined) throw new CliRefusal(`PUBLIC_URL ${problem}; or pass --url`);
  }
  writeLine(io.stdout, JSON.stringify(slackAppManifest(url), null, 2));
}

export function registerSlackCommand(program: Command, io: CliIo): void {
  const slack = program.command('slack').description('Slack alerts: check the set-up, print the Slack app manifest');

  slack
    .command('check')
    .description(
      "Check the bot token (auth.test) and the alert channel (conversations.info); defaults to the workspace's Slack settings or SLACK_BOT_TOKEN / SLACK_ALERT_CHANNEL",
    )
    .option('--token-file <path>', 'read the bot token to check from this file, or from stdin with - (recommended over --token)')
    .option('--token <xoxb-token>', 'the bot token to check; visible to other users in ps and kept in the shell history: prefer --token-file')
    .option('--channel <channel-id>', 'the alert channel id to check (C… or G…)')
    .option('--workspace <id-or-name>', 'read the settings of this workspace (default: the first one)')
    .option('--db <path>', 'SQLite database file (default: $DATABASE_PATH or ./data/consentry.db)')
    .option('--json', 'print the report as JSON')
    .action((options: CheckOptions) => slackCheckCommand(options, io));

  slack
    .command('manifest')
    .description('Print the Slack app manifest (JSON: bot scopes, interactivity request URL <url>/slack/events)')
    .option('--url <https-url>', 'the public https address of this server, e.g. https://consent.example.com (default: $PUBLIC_URL)', publicUrlOption)
    .action((options: { url?: string }) => slackManifestCommand(options, io));
}

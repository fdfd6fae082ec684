import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { resolveSlackConfig, type SlackConfigResolution } from '../../connectors/slack/config.js';
import { slackAppManifest } from '../../connectors/slack/manifest.js';
import type { SlackSetupCheck, SlackSetupReport } from '../../connectors/slack/web.js';
import { baseUrlProblem, type Config } from '../config.js';
import { defaultSettings, SlackSettingsSchema, type Workspace } from '../core/settings.js';
import { environmentConfig, readExistingWorkspace } from './connector-setup.js';
import { DB_HELP, DB_OPTION } from './database.js';
import type { CliIo } from './io.js';
import { CliFailure, CliRefusal, unreadableReason, workspaceLabel, writeLine } from './io.js';

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
    label: `workspace ${workspaceLabel(workspace)}`,
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
    // In the words `import` uses for a file it cannot read (`no such file`, `permission denied`).
    throw new CliRefusal(`--token-file: cannot read ${source}: ${unreadableReason(error)}`);
  }
  const token = content.trim();
  if (token === '') throw new CliRefusal(`--token-file: ${source} is empty`);
  if (/\s/.test(token)) throw new CliRefusal(`--token-file: ${source} must hold the token alone, on one line`);
  return token;
}

/**
 * One line of the report: a value checked, `ok` saying whether it is right, or one left unchecked
 * (`ok` null, `checked` false) because another failed first, of which nothing is known: a script
 * reading `ok` must not take it for a bad value.
 */
export type SlackCheckLine = SlackSetupCheck | { name: SlackSetupCheck['name']; ok: null; checked: false; message: string };

/** What `slack check` reports: Slack's answers (SlackSetupReport), each value unchecked told apart from one that failed. */
export interface SlackCheckReport extends Omit<SlackSetupReport, 'checks'> {
  checks: SlackCheckLine[];
}

function unchecked(name: SlackSetupCheck['name'], message: string): SlackCheckLine {
  return { name, ok: null, checked: false, message };
}

/**
 * Slack's answers, the channel unchecked when the token failed: checkSlackSetup calls
 * conversations.info only with a token auth.test accepted, and otherwise says why it did not.
 */
function fromSetupReport(report: SlackSetupReport): SlackCheckReport {
  const tokenFailed = report.checks.some((check) => check.name === 'token' && !check.ok);
  const checks = report.checks.map((check): SlackCheckLine => (tokenFailed && check.name === 'channel' ? unchecked(check.name, check.message) : check));
  return { ...report, checks };
}

const MARK = { ok: 'ok  ', failed: 'FAIL', unchecked: 'SKIP' } as const;

function printReport(report: SlackCheckReport, io: CliIo, ownSettings: string | null): void {
  for (const check of report.checks) writeLine(io.stdout, `${MARK[check.ok === null ? 'unchecked' : check.ok ? 'ok' : 'failed']} ${check.name}: ${check.message}`);
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
export type SlackCheckJson = (SlackCheckReport & { configured: true }) | (SlackCheckReport & { configured: false; message: string });

function checkedJson(report: SlackCheckReport): SlackCheckJson {
  return { ok: report.ok, configured: true, reached: report.reached, checks: report.checks, bot: report.bot };
}

function notConfiguredJson(message: string): SlackCheckJson {
  return { ok: false, configured: false, reached: false, checks: [], bot: null, message };
}

/** Where the value checked came from, to name it in a refusal. */
type ValueOrigin = 'option' | 'environment' | 'settings';

const TOKEN_ORIGIN: Readonly<Record<ValueOrigin, string>> = { option: 'the token given', environment: 'SLACK_BOT_TOKEN', settings: 'the workspace\'s "slack" botToken' };
const CHANNEL_ORIGIN: Readonly<Record<ValueOrigin, string>> = { option: '--channel', environment: 'SLACK_ALERT_CHANNEL', settings: 'the workspace\'s "slack" alertChannel' };

/** What a bot token is, and where an app shows it (https://docs.slack.dev/authentication/tokens). */
const BOT_TOKEN = "the app's Bot User OAuth Token (xoxb-…), shown under OAuth & Permissions in the app's settings at api.slack.com/apps";

/**
 * Why `token` cannot be a bot token, told by its form alone; undefined when it can be one. Slack's
 * tokens say their kind in their prefix (https://docs.slack.dev/authentication/tokens): a bot
 * token starts with xoxb-, a user token with xoxp-, an app-level token with xapp-. The rule is
 * the one SLACK_BOT_TOKEN and the "slack" settings are held to. The token itself is never named.
 */
function tokenProblem(token: string, origin: ValueOrigin): string | undefined {
  if (SlackSettingsSchema.shape.botToken.safeParse(token).success) return undefined;
  const named = TOKEN_ORIGIN[origin];
  const kind = token.startsWith('xoxp-')
    ? 'is a user token (xoxp-…), not a bot token'
    : token.startsWith('xapp-')
      ? 'is an app-level token (xapp-…), not a bot token'
      : token.startsWith('xoxb-')
        ? 'is no bot token: after xoxb- a bot token holds only letters, digits and hyphens'
        : 'is not a bot token, which starts with xoxb-';
  return `${named} ${kind}: ${origin === 'option' ? 'pass' : 'set'} ${BOT_TOKEN}`;
}

/**
 * Why `channel` cannot be the alert channel, told by its form alone; undefined when it can be one.
 * Slack's API names a conversation by its id, not its name: C… for a public channel, G… for a
 * private one (older), D… for a direct message (https://api.slack.com/types/conversation).
 * Alerts go to a channel, so the rule is the one SLACK_ALERT_CHANNEL and the "slack" settings are
 * held to (C… or G…), and a direct message is named as such.
 */
function channelProblem(channel: string, origin: ValueOrigin): string | undefined {
  if (SlackSettingsSchema.shape.alertChannel.safeParse(channel).success) return undefined;
  const named = `${CHANNEL_ORIGIN[origin]} ${JSON.stringify(channel)}`;
  const instead = `${origin === 'option' ? 'pass --channel with' : 'set it to'} the channel's id (C… or G…), shown at the bottom of the channel's details in Slack (click its name)`;
  // Slack's channel names are letters, digits, hyphens and underscores, # in front as Slack shows
  // them. A new name must be lower case (conversations.create refuses upper case with
  // invalid_name_specials, https://docs.slack.dev/reference/methods/conversations.create), but a
  // channel named before may keep its capitals, and a name is often typed as it is said ("#General"),
  // so letters of either case make a name. A bare D and capitals or digits reads as a direct message's id.
  const name = /^[\p{L}\p{N}_-]+$/u;
  // An id typed with the # Slack shows before a channel: the id and its kind are read after it.
  // Slack's ids hold digits (C024BE91L, C0123456789), so a # before capitals alone ("#DEV",
  // "#GENERAL") stays a name, as it is typed.
  const afterHash = channel.startsWith('#') ? channel.slice(1) : null;
  const hashedId = afterHash !== null && /\d/.test(afterHash) ? afterHash : null;
  if (hashedId !== null && SlackSettingsSchema.shape.alertChannel.safeParse(hashedId).success) {
    return `${named} is a channel id with a # in front: ${origin === 'option' ? 'pass --channel' : 'set it to'} ${hashedId}, without the #`;
  }
  if (/^D[A-Z0-9]{2,}$/.test(hashedId ?? channel)) return `${named} is a direct message, not a channel: alerts go to a channel; ${instead}`;
  if (name.test(afterHash ?? channel)) return `${named} is a channel name, not its id: ${instead}`;
  return `${named} is not a channel id: ${instead}`;
}

/**
 * The checks that fail before Slack is called: a token or channel that cannot be right by its form.
 * Null when both can be; else both checks, the one that can be right unchecked, as a report of
 * Slack's answers would have them.
 */
function offlineReport(token: string, tokenOrigin: ValueOrigin, channel: string, channelOrigin: ValueOrigin): SlackCheckReport | null {
  const badToken = tokenProblem(token, tokenOrigin);
  const badChannel = channelProblem(channel, channelOrigin);
  if (badToken === undefined && badChannel === undefined) return null;
  const notCalled = 'Not checked: Slack is not called until';
  const checks: SlackCheckLine[] = [
    badToken === undefined ? unchecked('token', `${notCalled} the channel is a channel id`) : { name: 'token', ok: false, message: badToken },
    badChannel === undefined ? unchecked('channel', `${notCalled} the token is a bot token`) : { name: 'channel', ok: false, message: badChannel },
  ];
  return { ok: false, reached: false, checks, bot: null };
}

/**
 * The failed checks, for the error line of `--json`, where stdout holds the report and nothing is
 * above on stderr. A value left unchecked is no failure: it is not named.
 */
function failedChecks(report: SlackCheckReport): string {
  return report.checks
    .filter((check) => check.ok === false)
    .map((check) => `${check.name}: ${check.message}`)
    .join('; ');
}

/**
 * Why nothing can be checked: the token and channel not given are not set up either. Only what is
 * missing is named: a token given needs only a channel, and a channel given only a token (setting
 * one SLACK_* variable would not do: the set-up is taken whole or not at all).
 */
function notSetUpMessage(label: string, resolution: SlackConfigResolution, given: { token: boolean; channel: boolean }): string {
  if (given.token) return `Slack is not set up for ${label}, so it names no alert channel to check: pass --channel with the channel's id (C… or G…)`;
  if (given.channel) return `Slack is not set up for ${label}, so it holds no bot token to check: pass --token-file (or --token) with ${BOT_TOKEN}`;
  const missing = resolution.status === 'incomplete' ? ` (missing ${resolution.missing.join(', ')})` : '';
  return (
    `Slack is not set up for ${label}${missing}: set SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET and SLACK_ALERT_CHANNEL, ` +
    'or the workspace\'s "slack" settings (PATCH /v1/settings), ' +
    'or pass --token and --channel (--token-file instead of --token keeps the token out of ps and the shell history)'
  );
}

/** `consentry slack check`: auth.test and conversations.info, each problem named with its fix. */
export async function slackCheckCommand(options: CheckOptions, io: CliIo): Promise<void> {
  if (options.token !== undefined && options.tokenFile !== undefined) throw new CliRefusal('pass --token or --token-file, not both');
  const config = environmentConfig(io);
  let token = options.tokenFile === undefined ? options.token : await tokenFromFile(options.tokenFile, io);
  let channel = options.channel;
  let tokenOrigin: ValueOrigin = 'option';
  let channelOrigin: ValueOrigin = 'option';
  /** The workspace whose own settings gave the token checked, if they did. */
  let ownSettings: string | null = null;
  if (token === undefined || channel === undefined) {
    const { label, resolution } = await configuredSlack(options, io, config);
    if (resolution.status === 'on') {
      const origin: ValueOrigin = resolution.config.source === 'settings' ? 'settings' : 'environment';
      if (token === undefined) {
        if (origin === 'settings') ownSettings = label;
        token = resolution.config.botToken;
        tokenOrigin = origin;
      }
      if (channel === undefined) {
        channel = resolution.config.alertChannel;
        channelOrigin = origin;
      }
    } else {
      const message = notSetUpMessage(label, resolution, { token: token !== undefined, channel: channel !== undefined });
      // `--json` prints one object whatever the outcome: a script reads `configured` rather than an empty stdout.
      if (options.json) writeLine(io.stdout, JSON.stringify(notConfiguredJson(message)));
      throw new CliRefusal(message);
    }
  }
  if (token === undefined || channel === undefined) throw new CliRefusal('pass --token-file (or --token) and --channel');
  // What the form alone shows wrong is refused before any call: Slack out of reach would hide it.
  const offline = offlineReport(token, tokenOrigin, channel, channelOrigin);
  if (offline !== null) {
    if (options.json) writeLine(io.stdout, JSON.stringify(checkedJson(offline)));
    else printReport(offline, io, null);
    throw new CliRefusal(`the Slack set-up was not checked, Slack was not called: ${options.json ? failedChecks(offline) : 'fix what is named above'}`);
  }
  // Loaded here: the other commands need none of the Slack SDK.
  const { checkSlackSetup, createSlackWebClient } = await import('../../connectors/slack/web.js');
  const { boltLogger, silentPino } = await import('../../connectors/slack/logger.js');
  // The report says every outcome itself: the client's own `[WARN] web-api:…` lines would land in the middle of it.
  const report = fromSetupReport(await checkSlackSetup(createSlackWebClient({ token, logger: boltLogger(silentPino) }), channel));
  if (options.json) writeLine(io.stdout, JSON.stringify(checkedJson(report)));
  else printReport(report, io, ownSettings);
  if (!report.ok) {
    // "See above" points at the report on the terminal; with --json the report is a JSON document, and the line names the failures itself.
    const where = options.json ? `: ${failedChecks(report)}` : ' (see above)';
    throw new CliFailure(report.reached ? `the Slack set-up needs fixing${where}` : `could not check the Slack set-up: Slack did not answer${where}`);
  }
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
    .option('--channel <channel-id>', "the alert channel's id to check (C… or G…), not its name")
    .option('--workspace <id-or-name>', 'read the settings of this workspace (default: the first one)')
    .option(DB_OPTION, DB_HELP)
    .option('--json', 'print the report as JSON')
    .action((options: CheckOptions) => slackCheckCommand(options, io));

  slack
    .command('manifest')
    .description('Print the Slack app manifest (JSON: bot scopes, interactivity request URL <url>/slack/events)')
    .option('--url <https-url>', 'the public https address of this server, e.g. https://consent.example.com (default: $PUBLIC_URL)', publicUrlOption)
    .action((options: { url?: string }) => slackManifestCommand(options, io));
}

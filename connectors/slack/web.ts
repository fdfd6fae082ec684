import { WebAPIHTTPError, WebAPIPlatformError, WebAPIRateLimitedError, WebClient, type Logger } from '@slack/web-api';
import { z } from 'zod';
import type { SlackMessage } from './blocks/common.js';

/**
 * The Web API calls the alert dispatcher and `consentry slack check` make. WebClient comes from
 * @slack/web-api itself rather than through Bolt, so that posting alerts does not load Bolt's
 * HTTP stack (Express and more): only a Slack request to the server does. It is built so that
 * it never waits on its own: a 429 is returned at once with its Retry-After, for the pacer to
 * honour, and failed calls are not retried here because the outbox already delivers at least
 * once (DESIGN §1).
 */

export type { WebClient };

export interface SlackWebClientOptions {
  token: string;
  /** Defaults to https://slack.com/api/; tests and proxies point it elsewhere. */
  slackApiUrl?: string;
  timeoutMs?: number;
  logger?: Logger;
}

export function createSlackWebClient(options: SlackWebClientOptions): WebClient {
  return new WebClient(options.token, {
    ...(options.slackApiUrl ? { slackApiUrl: options.slackApiUrl } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    rejectRateLimitedCalls: true,
    retryConfig: { retries: 0 },
    timeout: options.timeoutMs ?? 10_000,
  });
}

export type SlackCallOutcome<T> =
  | { ok: true; value: T }
  /** HTTP 429: wait `retryAfterSeconds` (https://docs.slack.dev/apis/web-api/rate-limits). */
  | { ok: false; reason: 'rate_limited'; retryAfterSeconds: number }
  /** Slack answered `ok: false`; `error` is its code (`channel_not_found`, `invalid_auth`, …). */
  | { ok: false; reason: 'slack_error'; error: string }
  | { ok: false; reason: 'http_error' | 'network_error' | 'unexpected_response'; message: string };

const PostedSchema = z.object({ channel: z.string().min(1), ts: z.string().min(1) });
export type PostedMessage = z.infer<typeof PostedSchema>;

/** Maps what WebClient throws onto outcomes (the error classes of @slack/web-api's errors.ts). */
export function slackCallFailure(error: unknown): Exclude<SlackCallOutcome<never>, { ok: true }> {
  if (error instanceof WebAPIRateLimitedError) {
    return { ok: false, reason: 'rate_limited', retryAfterSeconds: error.retryAfter };
  }
  if (error instanceof WebAPIPlatformError) return { ok: false, reason: 'slack_error', error: error.data.error };
  if (error instanceof WebAPIHTTPError) {
    return { ok: false, reason: 'http_error', message: `HTTP ${error.statusCode} ${error.statusMessage}` };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { ok: false, reason: 'network_error', message };
}

async function call<T>(schema: z.ZodType<T>, request: () => Promise<unknown>): Promise<SlackCallOutcome<T>> {
  let response: unknown;
  try {
    response = await request();
  } catch (error) {
    return slackCallFailure(error);
  }
  const parsed = schema.safeParse(response);
  if (!parsed.success) return { ok: false, reason: 'unexpected_response', message: parsed.error.message };
  return { ok: true, value: parsed.data };
}

export interface SlackMessenger {
  postMessage(input: { channel: string } & SlackMessage): Promise<SlackCallOutcome<PostedMessage>>;
  updateMessage(input: { channel: string; ts: string } & SlackMessage): Promise<SlackCallOutcome<PostedMessage>>;
}

/**
 * How Slack is to read a message's top-level `text`, which is mrkdwn by default
 * (https://docs.slack.dev/messaging/formatting-message-text): `parse: 'none'` leaves bare URLs as
 * text ("By default, URLs will be hyperlinked. Set parse to none to remove the hyperlinks") and
 * `link_names: false` leaves "@channel" or a "#channel" in contact data unlinked
 * (https://docs.slack.dev/reference/methods/chat.postMessage). The text of every message Consentry
 * sends is its notification fallback, and carries contact data.
 */
export const UNPARSED_TEXT = { parse: 'none', link_names: false } as const;

/**
 * chat.postMessage / chat.update with the options alerts need: links are not unfurled (a HubSpot
 * contact link would otherwise expand into a preview), and the fallback text is not parsed
 * (UNPARSED_TEXT).
 */
export function slackMessenger(client: WebClient): SlackMessenger {
  return {
    postMessage: ({ channel, text, blocks }) =>
      call(PostedSchema, () =>
        client.chat.postMessage({
          channel,
          text,
          blocks,
          unfurl_links: false,
          unfurl_media: false,
          ...UNPARSED_TEXT,
        }),
      ),
    updateMessage: ({ channel, ts, text, blocks }) =>
      call(PostedSchema, () => client.chat.update({ channel, ts, text, blocks, ...UNPARSED_TEXT })),
  };
}

export interface SlackSetupCheck {
  name: 'token' | 'channel';
  ok: boolean;
  message: string;
}

/** Who the token is (auth.test): the ids to put in the `slack.botId` / `slack.botUserId` settings. */
export interface SlackBotIdentity {
  botId: string;
  botUserId: string;
  teamId: string | null;
}

export interface SlackSetupReport {
  ok: boolean;
  /**
   * False when a check could not be made for want of an answer (Slack out of reach, an HTTP
   * failure, a rate limit): then nothing is known to be wrong with the set-up itself.
   */
  reached: boolean;
  checks: SlackSetupCheck[];
  /** Known once the token works. */
  bot: SlackBotIdentity | null;
}

const AuthTestSchema = z.object({
  team: z.string().optional(),
  team_id: z.string().optional(),
  user: z.string().optional(),
  user_id: z.string().optional(),
  bot_id: z.string().optional(),
});

const ConversationInfoSchema = z.object({
  channel: z.object({
    id: z.string(),
    name: z.string().optional(),
    is_private: z.boolean().optional(),
    is_archived: z.boolean().optional(),
    is_member: z.boolean().optional(),
  }),
});

/** auth.test error codes that mean the token itself is wrong (https://docs.slack.dev/reference/methods/auth.test). */
const BAD_TOKEN_ERRORS = new Set(['invalid_auth', 'not_authed', 'account_inactive', 'token_revoked', 'token_expired']);

function unreachable(outcome: Exclude<SlackCallOutcome<never>, { ok: true }>): string {
  switch (outcome.reason) {
    case 'rate_limited':
      return `Slack is rate limiting this app; try again in ${outcome.retryAfterSeconds} s`;
    case 'slack_error':
      return `Slack answered "${outcome.error}"`;
    default:
      return `Could not reach Slack: ${outcome.message}`;
  }
}

/** Whether a failed call got an answer from Slack about the request (an error code), rather than none to judge by. */
function answered(outcome: Exclude<SlackCallOutcome<never>, { ok: true }>): boolean {
  return outcome.reason === 'slack_error';
}

async function checkToken(client: WebClient): Promise<{ check: SlackSetupCheck; botName: string | null; bot?: SlackBotIdentity; reached: boolean }> {
  const outcome = await call(AuthTestSchema, () => client.auth.test());
  if (!outcome.ok) {
    if (outcome.reason === 'slack_error' && BAD_TOKEN_ERRORS.has(outcome.error)) {
      return {
        check: {
          name: 'token',
          ok: false,
          message: `Bad token (${outcome.error}): set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (xoxb-…)`,
        },
        botName: null,
        reached: true,
      };
    }
    return { check: { name: 'token', ok: false, message: unreachable(outcome) }, botName: null, reached: answered(outcome) };
  }
  const auth = outcome.value;
  if (!auth.bot_id || !auth.user_id) {
    return {
      check: {
        name: 'token',
        ok: false,
        message: 'This token is not a bot token: use the Bot User OAuth Token (xoxb-…), not a user token',
      },
      botName: null,
      reached: true,
    };
  }
  const team = auth.team ?? auth.team_id ?? 'the workspace';
  return {
    check: { name: 'token', ok: true, message: `Token works: bot ${auth.user ?? auth.user_id} in ${team}` },
    botName: auth.user ?? auth.user_id,
    bot: { botId: auth.bot_id, botUserId: auth.user_id, teamId: auth.team_id ?? null },
    reached: true,
  };
}

async function checkChannel(client: WebClient, channel: string, botName: string): Promise<SlackSetupCheck & { reached: boolean }> {
  const outcome = await call(ConversationInfoSchema, () => client.conversations.info({ channel }));
  if (!outcome.ok) {
    if (outcome.reason === 'slack_error' && outcome.error === 'channel_not_found') {
      return {
        name: 'channel',
        ok: false,
        reached: true,
        message:
          `Channel ${channel} not found: set SLACK_ALERT_CHANNEL to the channel id (C…); ` +
          'a private channel is only visible once the bot is invited to it',
      };
    }
    if (outcome.reason === 'slack_error' && outcome.error === 'missing_scope') {
      return {
        name: 'channel',
        ok: false,
        reached: true,
        message: 'The app lacks the channels:read / groups:read scopes: reinstall it from `consentry slack manifest`',
      };
    }
    return { name: 'channel', ok: false, message: unreachable(outcome), reached: answered(outcome) };
  }
  const info = outcome.value.channel;
  const label = info.name ? `#${info.name}` : info.id;
  if (info.is_archived) return { name: 'channel', ok: false, message: `${label} is archived: choose another channel`, reached: true };
  if (info.is_member === false) {
    return {
      name: 'channel',
      ok: false,
      reached: true,
      message: `The bot is not in ${label}: invite it there with /invite @${botName}`,
    };
  }
  return { name: 'channel', ok: true, message: `The bot can post in ${label}`, reached: true };
}

/**
 * What `consentry slack check` reports: auth.test proves the token, conversations.info proves the
 * alert channel exists and the bot is a member (the app does not ask for chat:write.public, so it
 * can only post where it was invited). Each problem is named with its fix.
 */
export async function checkSlackSetup(client: WebClient, channel: string): Promise<SlackSetupReport> {
  const token = await checkToken(client);
  if (!token.check.ok || token.botName === null) {
    const why = token.reached ? 'the token does not work' : 'the token could not be checked';
    return {
      ok: false,
      reached: token.reached,
      checks: [token.check, { name: 'channel', ok: false, message: `Not checked: ${why}` }],
      bot: null,
    };
  }
  const { reached, ...channelCheck } = await checkChannel(client, channel, token.botName);
  return { ok: channelCheck.ok, reached, checks: [token.check, channelCheck], bot: token.bot ?? null };
}

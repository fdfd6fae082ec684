import { z } from 'zod';
import { ConsentryError } from '../../src/core/errors.js';

/**
 * The Slack app manifest printed by `consentry slack manifest --url …`, pasted into
 * https://api.slack.com/apps → "Create New App" → "From a manifest". Field names and limits follow
 * the manifest reference (https://docs.slack.dev/reference/app-manifest).
 *
 * Bot scopes, least privilege:
 * - chat:write: chat.postMessage, chat.update and chat.postEphemeral. views.open needs no scope.
 * - channels:read, groups:read: conversations.info on the alert channel (public or private), which
 *   `consentry slack check` uses to tell whether the bot is a member.
 * - No chat:write.public: alerts carry personal data, so the bot posts only where someone invited it.
 * - No users:read: actors are shown as `<@U…>` mentions, which Slack renders itself.
 * Only interactivity is enabled (buttons and modals); the app subscribes to no events.
 */

export const SLACK_EVENTS_PATH = '/slack/events';
export const SLACK_BOT_SCOPES = ['chat:write', 'channels:read', 'groups:read'] as const;

const HttpsUrl = z.url({ protocol: /^https$/ });

export const SlackAppManifestSchema = z
  .object({
    _metadata: z.object({ major_version: z.literal(1), minor_version: z.literal(1) }).strict(),
    display_information: z
      .object({
        name: z.string().min(1).max(35),
        description: z.string().max(140),
        background_color: z.string().regex(/^#(?:[0-9a-fA-F]{3}){1,2}$/),
      })
      .strict(),
    features: z
      .object({
        bot_user: z
          .object({
            display_name: z.string().min(1).max(80).regex(/^[a-z0-9._-]+$/),
            always_online: z.boolean(),
          })
          .strict(),
      })
      .strict(),
    oauth_config: z
      .object({ scopes: z.object({ bot: z.array(z.string().regex(/^[a-z]+(?:[.:][a-z_.]+)+$/)).min(1).max(255) }).strict() })
      .strict(),
    settings: z
      .object({
        interactivity: z.object({ is_enabled: z.literal(true), request_url: HttpsUrl }).strict(),
        org_deploy_enabled: z.boolean(),
        socket_mode_enabled: z.literal(false),
        token_rotation_enabled: z.boolean(),
      })
      .strict(),
  })
  .strict();
export type SlackAppManifest = z.infer<typeof SlackAppManifestSchema>;

function invalidUrl(message: string): ConsentryError {
  return new ConsentryError('VALIDATION_FAILED', message, [{ path: 'url', message }]);
}

/** `${publicUrl}/slack/events`, keeping any path prefix the server is published under. */
export function slackRequestUrl(publicUrl: string): string {
  let url: URL;
  try {
    url = new URL(publicUrl);
  } catch {
    throw invalidUrl(`"${publicUrl}" is not an absolute URL`);
  }
  // Slack only calls request URLs over https (https://docs.slack.dev/interactivity/handling-user-interaction).
  if (url.protocol !== 'https:') throw invalidUrl('the public URL must use https: Slack calls request URLs over https only');
  if (url.search || url.hash || url.username || url.password) {
    throw invalidUrl('the public URL must not carry a query, a fragment or credentials');
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}${SLACK_EVENTS_PATH}`;
}

export function slackAppManifest(publicUrl: string): SlackAppManifest {
  return SlackAppManifestSchema.parse({
    _metadata: { major_version: 1, minor_version: 1 },
    display_information: {
      name: 'Consentry',
      description: 'Consent alerts: failed consent requests, opt-out reviews and sync failures, with buttons to act.',
      background_color: '#1d4ed8',
    },
    features: { bot_user: { display_name: 'consentry', always_online: false } },
    oauth_config: { scopes: { bot: [...SLACK_BOT_SCOPES] } },
    settings: {
      interactivity: { is_enabled: true, request_url: slackRequestUrl(publicUrl) },
      org_deploy_enabled: false,
      socket_mode_enabled: false,
      token_rotation_enabled: false,
    },
  });
}

import type { SlackSettings, Workspace } from '../../src/core/settings.js';

/**
 * Which Slack settings a workspace runs with. Pure: the caller passes the workspace, the
 * environment's values and whether the workspace is the default one (CONNECTORS.md):
 * - a workspace's own `slack` settings (PATCH /v1/settings) always win;
 * - otherwise the default workspace (the first one) takes SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET,
 *   SLACK_ALERT_CHANNEL and SLACK_ALLOWED_USERS, so a single-workspace deployment needs no API call;
 * - without either, Slack is off for the workspace and nothing else changes.
 */

/** The environment variables this connector reads (a slice of src/config.ts `Config`). */
export interface SlackEnv {
  SLACK_BOT_TOKEN?: string | undefined;
  SLACK_SIGNING_SECRET?: string | undefined;
  SLACK_ALERT_CHANNEL?: string | undefined;
  SLACK_ALLOWED_USERS?: readonly string[] | undefined;
  HUBSPOT_PORTAL_ID?: string | undefined;
}

export const DEFAULT_DIGEST_THRESHOLD = 10;

export interface SlackWorkspaceConfig {
  workspaceId: string;
  botToken: string;
  signingSecret: string;
  alertChannel: string;
  allowedUserIds: readonly string[];
  /** Both or neither (see app.ts: with both, Bolt skips auth.test). */
  botId: string | null;
  botUserId: string | null;
  digestThreshold: number;
  /** For links to the contact in HubSpot (`hubspot.portalId`, or HUBSPOT_PORTAL_ID for the default workspace). */
  hubspotPortalId: string | null;
  source: 'settings' | 'env';
}

export type SlackConfigResolution =
  | { status: 'on'; config: SlackWorkspaceConfig }
  | { status: 'off' }
  /** Some of the environment variables are set, not all: named so the operator can finish the set-up. */
  | { status: 'incomplete'; missing: string[] };

const REQUIRED_ENV = ['SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET', 'SLACK_ALERT_CHANNEL'] as const;

function fromSettings(workspace: Workspace, slack: SlackSettings, portalId: string | null): SlackWorkspaceConfig {
  const idsKnown = slack.botId !== null && slack.botUserId !== null;
  return {
    workspaceId: workspace.id,
    botToken: slack.botToken,
    signingSecret: slack.signingSecret,
    alertChannel: slack.alertChannel,
    allowedUserIds: [...slack.allowedUserIds],
    botId: idsKnown ? slack.botId : null,
    botUserId: idsKnown ? slack.botUserId : null,
    digestThreshold: slack.digestThreshold,
    hubspotPortalId: portalId,
    source: 'settings',
  };
}

export function resolveSlackConfig(workspace: Workspace, env: SlackEnv, isDefault: boolean): SlackConfigResolution {
  const portalId = workspace.settings.hubspot?.portalId ?? (isDefault ? (env.HUBSPOT_PORTAL_ID ?? null) : null);
  const own = workspace.settings.slack;
  if (own) return { status: 'on', config: fromSettings(workspace, own, portalId) };
  if (!isDefault) return { status: 'off' };

  const { SLACK_BOT_TOKEN: botToken, SLACK_SIGNING_SECRET: signingSecret, SLACK_ALERT_CHANNEL: alertChannel } = env;
  if (botToken && signingSecret && alertChannel) {
    return {
      status: 'on',
      config: {
        workspaceId: workspace.id,
        botToken,
        signingSecret,
        alertChannel,
        allowedUserIds: [...(env.SLACK_ALLOWED_USERS ?? [])],
        botId: null,
        botUserId: null,
        digestThreshold: DEFAULT_DIGEST_THRESHOLD,
        hubspotPortalId: portalId,
        source: 'env',
      },
    };
  }
  const missing = REQUIRED_ENV.filter((name) => !env[name]);
  const anySet = missing.length < REQUIRED_ENV.length || (env.SLACK_ALLOWED_USERS?.length ?? 0) > 0;
  return anySet ? { status: 'incomplete', missing } : { status: 'off' };
}

/** Every workspace's resolution; the first workspace is the default one. */
export function resolveAllSlackConfigs(
  workspaces: readonly Workspace[],
  env: SlackEnv,
): { workspace: Workspace; resolution: SlackConfigResolution }[] {
  return workspaces.map((workspace, index) => ({ workspace, resolution: resolveSlackConfig(workspace, env, index === 0) }));
}

/**
 * The contact's record in HubSpot: `https://app.hubspot.com/contacts/{portalId}/record/0-1/{recordId}`,
 * 0-1 being the contacts object type id
 * (https://developers.hubspot.com/docs/guides/crm/using-object-apis, "Object type IDs").
 */
export function hubspotContactUrl(portalId: string | null, hubspotId: string | null): string | null {
  if (!portalId || !hubspotId) return null;
  if (!/^\d{1,20}$/.test(portalId) || !/^\d{1,30}$/.test(hubspotId)) return null;
  return `https://app.hubspot.com/contacts/${portalId}/record/0-1/${hubspotId}`;
}

import type { Workspace } from '../../src/core/settings.js';
import type { HubSpotOAuthCredentials } from './oauth.js';

/** The environment variables of a single-workspace deployment (src/config.ts names and checks them). */
export interface HubSpotEnvironment {
  HUBSPOT_ACCESS_TOKEN?: string | undefined;
  HUBSPOT_CLIENT_SECRET?: string | undefined;
  HUBSPOT_DEVELOPER_API_KEY?: string | undefined;
  HUBSPOT_PORTAL_ID?: string | undefined;
  HUBSPOT_EMAIL_SUBSCRIPTION_ID?: string | undefined;
}

/** What the connector works with for one workspace, wherever each value came from. */
export interface ResolvedHubSpotConfig {
  workspaceId: string;
  /** A private-app token, or the OAuth access token the settings were last given (`oauth` then issues the ones used). */
  accessToken: string;
  /** An OAuth app's install: the connector refreshes its access tokens. Null for a private-app token. */
  oauth: HubSpotOAuthCredentials | null;
  /** Null when only the environment configures the connector and HUBSPOT_PORTAL_ID is unset. */
  portalId: string | null;
  /** The app secret that signs HubSpot's requests; without it workflow actions and webhooks are refused. */
  clientSecret: string | null;
  developerApiKey: string | null;
  emailSubscriptionId: string | null;
  createMissingContacts: boolean;
  syncEnabled: boolean;
  source: 'settings' | 'environment';
}

/**
 * The workspace's own `hubspot` settings win; the environment configures only the default
 * workspace (the first one), and fills the values its settings leave empty (CONNECTORS.md).
 * Null when the workspace has no token from either place.
 */
export function resolveHubSpotConfig(workspace: Workspace, env: HubSpotEnvironment, isDefault: boolean): ResolvedHubSpotConfig | null {
  const fromEnv = isDefault ? env : {};
  const settings = workspace.settings.hubspot;
  if (settings !== null) {
    return {
      workspaceId: workspace.id,
      accessToken: settings.accessToken,
      oauth:
        settings.refreshToken !== null && settings.clientId !== null && settings.clientSecret !== null
          ? { clientId: settings.clientId, clientSecret: settings.clientSecret, refreshToken: settings.refreshToken }
          : null,
      portalId: settings.portalId,
      clientSecret: settings.clientSecret ?? fromEnv.HUBSPOT_CLIENT_SECRET ?? null,
      developerApiKey: fromEnv.HUBSPOT_DEVELOPER_API_KEY ?? null,
      emailSubscriptionId: settings.emailSubscriptionId ?? fromEnv.HUBSPOT_EMAIL_SUBSCRIPTION_ID ?? null,
      createMissingContacts: settings.createMissingContacts,
      syncEnabled: settings.syncEnabled,
      source: 'settings',
    };
  }
  if (fromEnv.HUBSPOT_ACCESS_TOKEN === undefined) return null;
  return {
    workspaceId: workspace.id,
    accessToken: fromEnv.HUBSPOT_ACCESS_TOKEN,
    oauth: null,
    portalId: fromEnv.HUBSPOT_PORTAL_ID ?? null,
    clientSecret: fromEnv.HUBSPOT_CLIENT_SECRET ?? null,
    developerApiKey: fromEnv.HUBSPOT_DEVELOPER_API_KEY ?? null,
    emailSubscriptionId: fromEnv.HUBSPOT_EMAIL_SUBSCRIPTION_ID ?? null,
    createMissingContacts: false,
    syncEnabled: true,
    source: 'environment',
  };
}

/** Every workspace's configuration, in the store's order (the first is the default workspace). */
export function resolveAll(workspaces: readonly Workspace[], env: HubSpotEnvironment): Map<string, ResolvedHubSpotConfig> {
  const configs = new Map<string, ResolvedHubSpotConfig>();
  workspaces.forEach((workspace, index) => {
    const config = resolveHubSpotConfig(workspace, env, index === 0);
    if (config !== null) configs.set(workspace.id, config);
  });
  return configs;
}

/**
 * Every workspace a HubSpot request naming `portalId` may belong to, in the store's order: those
 * whose configuration names the portal. A portal belongs to one workspace at a time
 * (src/engine/integrations.ts), but a database written before that rule may hold several; the
 * request's signature then decides which (http/plugin.ts), never the order. A default workspace
 * configured by the environment without HUBSPOT_PORTAL_ID takes the requests of a portal no
 * workspace names: that is a single-workspace deployment, where every portal request is its own.
 */
export function configsForPortal(workspaces: readonly Workspace[], env: HubSpotEnvironment, portalId: string): ResolvedHubSpotConfig[] {
  const configs = [...resolveAll(workspaces, env).values()];
  const named = configs.filter((config) => config.portalId === portalId);
  if (named.length > 0) return named;
  const first = workspaces[0];
  return configs.filter((config) => config.workspaceId === first?.id && config.portalId === null);
}

/**
 * The portal the environment gives the default workspace (HUBSPOT_PORTAL_ID), when the variables
 * configure it: its own `hubspot` settings win over them, portal included.
 */
export function environmentPortalClaim(workspaces: readonly Workspace[], env: HubSpotEnvironment): { workspaceId: string; portalId: string } | null {
  const first = workspaces[0];
  const config = first === undefined ? null : resolveHubSpotConfig(first, env, true);
  return config === null || config.source !== 'environment' || config.portalId === null ? null : { workspaceId: config.workspaceId, portalId: config.portalId };
}

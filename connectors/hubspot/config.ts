import type { Workspace } from '../../src/core/settings.js';

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
  /** A private-app token or an OAuth access token. */
  accessToken: string;
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
 * The workspace a HubSpot request belongs to, by the portal id it names. A default workspace
 * configured by the environment without HUBSPOT_PORTAL_ID takes requests no other workspace
 * claims: that is a single-workspace deployment, where every portal request is its own.
 */
export function configForPortal(workspaces: readonly Workspace[], env: HubSpotEnvironment, portalId: string): ResolvedHubSpotConfig | null {
  const configs = [...resolveAll(workspaces, env).values()];
  const exact = configs.find((config) => config.portalId === portalId);
  if (exact !== undefined) return exact;
  const first = workspaces[0];
  const fallback = first === undefined ? undefined : configs.find((config) => config.workspaceId === first.id && config.portalId === null);
  return fallback ?? null;
}

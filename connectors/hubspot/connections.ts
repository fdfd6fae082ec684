import { createHash } from 'node:crypto';
import type { Clock } from '../../src/ports/clock.js';
import { systemClock } from '../../src/ports/clock.js';
import type { Store } from '../../src/ports/store.js';
import { createHubSpotClient, type HubSpotClient, type HubSpotTokenSource } from './client.js';
import type { ResolvedHubSpotConfig } from './config.js';
import { HubSpotAccessTokens, type HubSpotOAuthCredentials } from './oauth.js';
import type { ExistingOption } from './properties.js';
import { PortalRateLimiter, realSleep, type RateLimiterOptions } from './rate-limiter.js';

/** Everything the connector keeps in memory about one workspace's HubSpot portal. */
export interface PortalSession {
  key: string;
  client: HubSpotClient;
  limiter: PortalRateLimiter;
  /** The tags property's options as last read or written; null until read. */
  tagOptions: ExistingOption[] | null;
  /** Whether the connector's properties were found on the portal (checked once per session). */
  propertiesChecked: boolean;
  /** Whether the portal's time zone was asked for (once per session); the limiter keeps what was learned. */
  timeZoneChecked: boolean;
  /** v4 batch write needs Marketing Hub Enterprise (DESIGN §6): null until tried, false once HubSpot refused it. */
  v4BatchWrite: boolean | null;
  /** Serialises changes of the tags property's options: HubSpot replaces the whole list on each PATCH. */
  exclusive<T>(work: () => Promise<T>): Promise<T>;
}

export interface HubSpotConnectionsOptions {
  clock?: Clock;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** HubSpot's API base; tests point it at a local fake. */
  basePath?: string;
  limiter?: Partial<Omit<RateLimiterOptions, 'clock' | 'sleep' | 'random'>>;
  /** Where OAuth installs keep their newest tokens; a workspace connected through an OAuth app needs it. */
  store?: Store;
}

/** What a session was made with: a new one is made when it changes. A refresh token stands for the install, not its access tokens. */
function credentialOf(config: { accessToken: string; oauth?: HubSpotOAuthCredentials | null }): string {
  if (config.oauth === undefined || config.oauth === null) return `token:${config.accessToken}`;
  return `oauth:${createHash('sha256').update(`${config.oauth.clientId}\u0000${config.oauth.clientSecret}\u0000${config.oauth.refreshToken}`).digest('hex')}`;
}

/**
 * Everything in a workspace's settings (or environment) that HubSpot authenticates it by, as a
 * digest that can be stored beside a hold: the access token, and for an OAuth install the app and
 * its refresh token. Any of them changed, by a settings change, an install or a new
 * HUBSPOT_ACCESS_TOKEN, gives another value. Unlike a session's credential, the access token counts
 * for an OAuth install too: an install stores the one it was issued, so a new install changes it
 * even when HubSpot gives the app the same refresh token again.
 */
export function credentialFingerprint(config: { accessToken: string; oauth?: HubSpotOAuthCredentials | null }): string {
  const oauth = config.oauth ?? null;
  const parts = oauth === null ? [config.accessToken] : [config.accessToken, oauth.clientId, oauth.clientSecret, oauth.refreshToken];
  return createHash('sha256').update(parts.join('\u0000')).digest('hex');
}

/**
 * One client and one limiter per workspace for the whole process: HubSpot's limits are per account
 * (DESIGN §6), so the sync worker and the webhook route of a workspace share them. Keyed by
 * workspace, never by the portal id its settings name: that id is typed in, not proven, so two
 * workspaces naming one portal must not share a client, its token or its rate budget.
 */
export class HubSpotConnections {
  private readonly sessions = new Map<string, { credential: string; portalId: string | null; session: PortalSession }>();
  private accessTokens: HubSpotAccessTokens | null = null;
  private readonly clock: Clock;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: (() => number) | undefined;

  constructor(private readonly options: HubSpotConnectionsOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.sleep = options.sleep ?? realSleep;
    this.random = options.random;
  }

  /** A workspace's session; without a workspace (a command run with a token alone), the token's own. */
  session(config: Pick<ResolvedHubSpotConfig, 'accessToken' | 'portalId'> & { workspaceId?: string; oauth?: HubSpotOAuthCredentials | null }): PortalSession {
    const key = config.workspaceId !== undefined ? `workspace:${config.workspaceId}` : `token:${createHash('sha256').update(config.accessToken).digest('hex').slice(0, 16)}`;
    const credential = credentialOf(config);
    const existing = this.sessions.get(key);
    if (existing !== undefined && existing.credential === credential && existing.portalId === config.portalId) return existing.session;
    // A new token for the same portal gets a new client and keeps what is known of the portal: its
    // limit and its v4 support. Another portal starts afresh.
    const samePortal = existing !== undefined && existing.portalId !== null && existing.portalId === config.portalId ? existing.session : undefined;
    const limiter =
      samePortal?.limiter ??
      new PortalRateLimiter({
        ...this.options.limiter,
        clock: this.clock,
        sleep: this.sleep,
        ...(this.random === undefined ? {} : { random: this.random }),
      });
    const client = createHubSpotClient({
      accessToken: this.tokenSourceOf(config),
      limiter,
      ...(this.options.basePath === undefined ? {} : { basePath: this.options.basePath }),
    });
    let chain: Promise<unknown> = Promise.resolve();
    const session: PortalSession = {
      key,
      client,
      limiter,
      tagOptions: null,
      propertiesChecked: false,
      timeZoneChecked: false,
      v4BatchWrite: samePortal?.v4BatchWrite ?? null,
      exclusive: <T>(work: () => Promise<T>): Promise<T> => {
        const next = chain.then(work);
        chain = next.catch(() => undefined);
        return next;
      },
    };
    this.sessions.set(key, { credential, portalId: config.portalId, session });
    return session;
  }

  /** The process's OAuth token keeper; null without a store. */
  tokens(): HubSpotAccessTokens | null {
    if (this.accessTokens === null && this.options.store !== undefined) {
      this.accessTokens = new HubSpotAccessTokens({
        store: this.options.store,
        clock: this.clock,
        ...(this.options.basePath === undefined ? {} : { basePath: this.options.basePath }),
      });
    }
    return this.accessTokens;
  }

  private tokenSourceOf(config: { accessToken: string; workspaceId?: string; oauth?: HubSpotOAuthCredentials | null }): string | HubSpotTokenSource {
    const oauth = config.oauth;
    if (oauth === undefined || oauth === null) return config.accessToken;
    const tokens = this.tokens();
    const workspaceId = config.workspaceId;
    // Tokens are kept per workspace, in the store: a command given a token alone has neither.
    if (tokens === null || workspaceId === undefined) throw new Error('an OAuth install of HubSpot needs its workspace and the store to keep its tokens');
    return {
      current: () => tokens.accessToken(workspaceId, oauth),
      refused: (accessToken) => tokens.refused(workspaceId, accessToken),
    };
  }
}

const shared = new WeakMap<Store, HubSpotConnections>();

/** The process's connections for a store's deployment; the first caller's options win. */
export function hubSpotConnectionsFor(store: Store, options: HubSpotConnectionsOptions = {}): HubSpotConnections {
  let connections = shared.get(store);
  if (connections === undefined) {
    connections = new HubSpotConnections({ ...options, store });
    shared.set(store, connections);
  }
  return connections;
}

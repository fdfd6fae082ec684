import { isIP } from 'node:net';
import { z } from 'zod';
import { DEFAULT_RETENTION_DAYS, MAX_RETENTION_DAYS, MIN_RETENTION_DAYS } from './worker/retention.js';

/**
 * The server's configuration, read from the environment once at the composition root
 * (DESIGN §1: validate once, at the edge). An empty variable counts as unset.
 */
const HOST_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;

/** An IP address, or a host name of RFC 1123 labels; dotted digits must be a real IPv4 address, not a name. */
function isListenHost(host: string): boolean {
  if (isIP(host) !== 0) return true;
  if (host.length > 253 || /^[\d.]+$/.test(host)) return false;
  return host.split('.').every((label) => HOST_LABEL.test(label));
}

const unsetIfEmpty = (value: unknown): unknown => (typeof value === 'string' && value.trim() === '' ? undefined : value);

const PORT_MESSAGE = 'must be an integer between 0 and 65535';

const PortSchema = z.preprocess(
  unsetIfEmpty,
  z
    .string({ error: PORT_MESSAGE })
    .trim()
    .regex(/^\d{1,5}$/, PORT_MESSAGE)
    .transform(Number)
    .pipe(z.number().int().min(0, PORT_MESSAGE).max(65535, PORT_MESSAGE))
    .default(3000),
);

const RETENTION_MESSAGE = `must be a whole number of days from ${MIN_RETENTION_DAYS} to ${MAX_RETENTION_DAYS}`;

/** pino's levels (https://getpino.io/#/docs/api?id=level-string), plus `silent`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** How an authority with a user name or password starts: `scheme://` then anything up to an `@` before the path. */
const AUTHORITY_WITH_CREDENTIALS = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i;

/**
 * What keeps an http(s) URL from being the base that links are built on by appending a path
 * (`<base>/docs`, `<base>/hubspot/actions/...`): a query or a fragment would end up in the middle
 * of every such URL, and HubSpot signs the exact URL it calls
 * (https://developers.hubspot.com/docs/api/webhooks/validating-requests), so those requests
 * would never verify. A user name or password would be printed at start and published in the
 * OpenAPI `servers`. A value that is not a URL at all is left to the URL check.
 */
export function baseUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.username !== '' || url.password !== '' || AUTHORITY_WITH_CREDENTIALS.test(value)) {
    return 'must not hold a user name or password: it is printed at start and published in the API docs';
  }
  if (url.search !== '' || value.includes('?')) return 'must not have a query (?...): paths are appended to it to build every link';
  if (url.hash !== '' || value.includes('#')) return 'must not have a fragment (#...): paths are appended to it to build every link';
  return undefined;
}

/** RFC 6750 §2.1 b64token: the characters of a bearer token, `=` only as padding at its end. */
const METRICS_TOKEN_PATTERN = /^[A-Za-z0-9\-._~+/]{16,1024}=*$/;
const METRICS_TOKEN_MESSAGE =
  'must be 16 to 1024 characters of letters, digits and - . _ ~ + / (then any = padding), as a bearer token is written (RFC 6750); e.g. the output of openssl rand -hex 32';

const optionalSecret = z.preprocess(unsetIfEmpty, z.string().trim().min(1).optional());
const optionalId = (pattern: RegExp, message: string) => z.preprocess(unsetIfEmpty, z.string().trim().regex(pattern, message).optional());

export const ConfigSchema = z.object({
  PORT: PortSchema,
  HOST: z.preprocess(unsetIfEmpty, z.string().trim().refine(isListenHost, 'must be an IP address or a host name').default('0.0.0.0')),
  DATABASE_PATH: z.preprocess(unsetIfEmpty, z.string().min(1).default('./data/consentry.db')),
  /** https://www.sqlite.org/pragma.html#pragma_synchronous — see the store for what each level survives. */
  DATABASE_SYNCHRONOUS: z.preprocess(
    (value) => {
      const set = unsetIfEmpty(value);
      return typeof set === 'string' ? set.trim().toUpperCase() : set;
    },
    z.enum(['NORMAL', 'FULL'], { error: 'must be NORMAL or FULL' }).default('NORMAL'),
  ),
  /** Where clients reach the server (behind a proxy); printed links and the OpenAPI `servers` use it. */
  PUBLIC_URL: z.preprocess(
    unsetIfEmpty,
    z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL such as https://consent.example.com' })
      .superRefine((url, context) => {
        const problem = baseUrlProblem(url);
        if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
      })
      .transform((url) => url.replace(/\/+$/, ''))
      .optional(),
  ),
  /**
   * Webhook targets (hooks, the outbound webhook) may be private-use or loopback addresses: for
   * self-hosted set-ups whose receivers are on the server's own network. Link-local addresses
   * (the cloud metadata services) and reserved ones stay refused. Off by default, since every
   * workspace could otherwise reach that network through hooks.
   */
  HOOK_TARGETS_ALLOW_PRIVATE: z.preprocess(
    (value) => {
      const set = unsetIfEmpty(value);
      return typeof set === 'string' ? set.trim().toLowerCase() : set;
    },
    z
      .enum(['true', 'false', '1', '0'], { error: 'must be true, false, 1 or 0' })
      .optional()
      .transform((value) => value === 'true' || value === '1'),
  ),
  /**
   * How many days the stored answers to inbound messages, the outbox events with their deliveries,
   * finished workflow runs and closed Slack alerts are kept before the background workers delete
   * them (src/worker/retention.ts). One setting for all: each is a record of something over that
   * names a contact (GDPR Art. 5(1)(e)), and an alert outliving the event it came from would keep
   * what retention took out of the event. The consent ledger and contacts are kept.
   */
  RETENTION_DAYS: z.preprocess(
    unsetIfEmpty,
    z
      .string({ error: RETENTION_MESSAGE })
      .trim()
      .regex(/^\d{1,4}$/, RETENTION_MESSAGE)
      .transform(Number)
      .pipe(z.number().int().min(MIN_RETENTION_DAYS, RETENTION_MESSAGE).max(MAX_RETENTION_DAYS, RETENTION_MESSAGE))
      .default(DEFAULT_RETENTION_DAYS),
  ),
  LOG_LEVEL: z.preprocess(
    (value) => {
      const set = unsetIfEmpty(value);
      return typeof set === 'string' ? set.trim().toLowerCase() : set;
    },
    z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  ),
  /**
   * Where the first start writes the first API key (a new file, readable only by its owner)
   * instead of printing it: under a container runtime stdout is the log, and a live credential
   * must not be kept in the log store.
   */
  INITIAL_API_KEY_FILE: z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .refine((path) => !/[\\/]$/.test(path), 'must name a file, not a directory')
      .optional(),
  ),
  /**
   * The bearer token /metrics asks for; unset, /metrics is open as before. Prometheus sends it
   * from a scrape config's `authorization: { credentials: ... }` or `credentials_file`
   * (https://prometheus.io/docs/prometheus/latest/configuration/configuration/#scrape_config).
   * A token is RFC 6750 §2.1 `b64token` text, as an Authorization header carries it; 16
   * characters at least, so that it cannot be guessed by trying.
   */
  METRICS_TOKEN: z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .trim()
      .regex(METRICS_TOKEN_PATTERN, METRICS_TOKEN_MESSAGE)
      .optional(),
  ),
  /*
   * A single-workspace deployment configures the default workspace's connectors here;
   * several workspaces use PATCH /v1/settings instead (values there win).
   */
  HUBSPOT_ACCESS_TOKEN: optionalSecret,
  /**
   * The HubSpot OAuth app's client id (its Auth settings): with HUBSPOT_CLIENT_SECRET and
   * PUBLIC_URL, POST /v1/integrations/hubspot/oauth/start installs the app in a workspace's portal.
   */
  HUBSPOT_CLIENT_ID: optionalId(/^[A-Za-z0-9._-]{1,200}$/, "must be the HubSpot app's client id, as its Auth settings show it"),
  /** The app secret that signs HubSpot's requests (workflow actions, webhooks). */
  HUBSPOT_CLIENT_SECRET: optionalSecret,
  /** The developer account key used to register the custom workflow actions. */
  HUBSPOT_DEVELOPER_API_KEY: optionalSecret,
  HUBSPOT_PORTAL_ID: optionalId(/^\d{1,20}$/, 'must be the numeric HubSpot account id'),
  HUBSPOT_EMAIL_SUBSCRIPTION_ID: optionalId(/^\d{1,20}$/, 'must be a numeric subscription type id'),
  SLACK_BOT_TOKEN: optionalId(/^xoxb-[A-Za-z0-9-]+$/, 'must be a bot token starting with xoxb-'),
  SLACK_SIGNING_SECRET: optionalSecret,
  SLACK_ALERT_CHANNEL: optionalId(/^[CG][A-Z0-9]{2,}$/, 'must be a channel id such as C0123456789'),
  /** Comma-separated Slack user ids allowed to use the alert buttons. */
  SLACK_ALLOWED_USERS: z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .transform((list) => list.split(',').map((id) => id.trim()).filter((id) => id !== ''))
      .pipe(z.array(z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'must be Slack user ids such as U0123456789, separated by commas')))
      .optional(),
  ),
});
export type Config = z.output<typeof ConfigSchema>;

/** Every variable the configuration reads, in the order the schema declares them. */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(ConfigSchema.shape);

/** A configuration that cannot start the server; the message names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly { variable: string; message: string }[]) {
    super(problems.map((p) => `${p.variable}: ${p.message}`).join('\n'));
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => ({ variable: issue.path.map(String).join('.'), message: issue.message }));
  throw new ConfigError(problems);
}

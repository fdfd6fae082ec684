import { z } from 'zod';
import type { Store } from '../../src/ports/store.js';

/**
 * Which Slack app and Slack workspace (team) the requests of each Consentry workspace come from.
 *
 * Every request Slack sends names both, before it is authenticated: `api_app_id` and `team.id` in
 * an interaction payload (https://docs.slack.dev/reference/interaction-payloads/block_actions-payload,
 * https://docs.slack.dev/reference/interaction-payloads/view-interactions-payload; `team` is null
 * for an app installed on a whole Enterprise organisation), `team_id` and `api_app_id` in an Events
 * API envelope ("use this to distinguish which app the event belongs to if you use multiple apps
 * with the same Request URL": https://api.slack.com/types/event) and in the form fields of a slash
 * command. The signing secret belongs to the app
 * (https://docs.slack.dev/authentication/verifying-requests-from-slack), so once a request of a
 * workspace has been verified, the app and team it named point at the secret to try first for
 * the next one. An origin is only ever a hint: it is learned from verified requests alone, and the
 * workspace a request goes to is still the one whose secret verifies it.
 */

export interface SlackOrigin {
  appId: string | null;
  teamId: string | null;
}

/** Slack's ids: `A…` apps, `T…` teams (`E…` for an organisation); letters and digits. */
const SlackIdSchema = z.string().regex(/^[A-Z0-9]{2,40}$/);

/** How far after a key its value is looked for: an id, or a team object's first members. */
const WINDOW_BYTES = 400;

/** The text after `needle`'s first occurrence, percent-decoded when `encoded` (a `+` is a space in a form). */
function windowAfter(body: Buffer, needle: string, encoded: boolean): string | null {
  const at = body.indexOf(needle);
  if (at < 0) return null;
  const raw = body.subarray(at, at + needle.length + WINDOW_BYTES).toString('latin1');
  if (!encoded) return raw;
  // A window can end inside an escape ("%2" of "%22"): cut it there.
  const cut = raw.replace(/%[0-9A-Fa-f]?$/, '').replace(/\+/g, ' ');
  try {
    return decodeURIComponent(cut);
  } catch {
    return null;
  }
}

function firstId(body: Buffer, lookups: readonly { needle: string; encoded: boolean; value: RegExp }[]): string | null {
  for (const { needle, encoded, value } of lookups) {
    const window = windowAfter(body, needle, encoded);
    const id = window === null ? undefined : value.exec(window)?.[1];
    if (id !== undefined && SlackIdSchema.safeParse(id).success) return id;
  }
  return null;
}

/** `"api_app_id":"A…"` in an interaction payload (form-encoded JSON) or an Events API body (JSON); `api_app_id=A…` in a form. */
const APP_LOOKUPS = [
  { needle: '%22api_app_id%22', encoded: true, value: /^"api_app_id"\s*:\s*"([A-Z0-9]+)"/ },
  { needle: '"api_app_id"', encoded: false, value: /^"api_app_id"\s*:\s*"([A-Z0-9]+)"/ },
  { needle: 'api_app_id=', encoded: true, value: /^api_app_id=([A-Z0-9]+)(?:&|$)/ },
] as const;

/**
 * `"team":{…"id":"T…"}` in an interaction payload, then a top-level-looking `"team_id":"T…"` (an
 * Events API envelope, a view) and a form's `team_id=T…`. A user's `team_id` can be an organisation's
 * id, so the team object comes first.
 */
const TEAM_LOOKUPS = [
  { needle: '%22team%22', encoded: true, value: /^"team"\s*:\s*\{[^{}]*?"id"\s*:\s*"([A-Z0-9]+)"/ },
  { needle: '"team"', encoded: false, value: /^"team"\s*:\s*\{[^{}]*?"id"\s*:\s*"([A-Z0-9]+)"/ },
  { needle: '%22team_id%22', encoded: true, value: /^"team_id"\s*:\s*"([A-Z0-9]+)"/ },
  { needle: '"team_id"', encoded: false, value: /^"team_id"\s*:\s*"([A-Z0-9]+)"/ },
  { needle: 'team_id=', encoded: true, value: /^team_id=([A-Z0-9]+)(?:&|$)/ },
] as const;

/**
 * The app and team a request says it comes from, found in its unverified body without parsing it:
 * parsing a 128 KiB form costs about ten HMACs of it, while looking for a few byte strings costs
 * less than one. Whatever is not found is null. A value that is not where Slack puts it (a quote
 * inside a JSON string is escaped, so text a user typed cannot pose as one) only makes the
 * receiver try a secret it would not have; it never decides the workspace.
 */
export function slackOriginOf(body: Buffer): SlackOrigin {
  return { appId: firstId(body, APP_LOOKUPS), teamId: firstId(body, TEAM_LOOKUPS) };
}

/** Where the origins are kept between restarts. */
export interface SlackOriginMemory {
  /** Every workspace's known origin. */
  load(): Promise<Map<string, SlackOrigin>>;
  /** Records the origin of a verified request of `workspaceId`. */
  save(workspaceId: string, origin: SlackOrigin): Promise<void>;
}

/** The store's meta key holding the origins: `{ [workspaceId]: { appId, teamId } }`. */
export const SLACK_ORIGINS_KEY = 'slack.request_origins';

const StoredOriginsSchema = z.record(z.string(), z.object({ appId: SlackIdSchema.nullable(), teamId: SlackIdSchema.nullable() }));

/** The stored origins; anything unreadable counts as none (they are hints, learned again from the next verified request). */
function parseStored(value: unknown): Map<string, SlackOrigin> {
  const parsed = StoredOriginsSchema.safeParse(value);
  return new Map(parsed.success ? Object.entries(parsed.data) : []);
}

/**
 * Origins kept in the store's meta table, so a restart does not forget them. A workspace's origin
 * is written when it changes, which is once per workspace and Slack app: not on every request.
 */
export function storedOrigins(store: Store): SlackOriginMemory {
  return {
    load: () => store.read(async (tx) => parseStored(await tx.getMeta(SLACK_ORIGINS_KEY))),
    save: (workspaceId, origin) =>
      store.transaction(async (tx) => {
        const origins = parseStored(await tx.getMeta(SLACK_ORIGINS_KEY));
        origins.set(workspaceId, origin);
        await tx.setMeta(SLACK_ORIGINS_KEY, Object.fromEntries(origins));
      }),
  };
}

/** What a verified request teaches about its workspace: what it named, over what was known. */
export function mergeOrigin(known: SlackOrigin | undefined, seen: SlackOrigin): SlackOrigin {
  return { appId: seen.appId ?? known?.appId ?? null, teamId: seen.teamId ?? known?.teamId ?? null };
}

export function sameOrigin(a: SlackOrigin | undefined, b: SlackOrigin): boolean {
  return a !== undefined && a.appId === b.appId && a.teamId === b.teamId;
}

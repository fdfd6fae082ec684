import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Store } from '../../src/ports/store.js';

/**
 * The `state` of HubSpot's OAuth install flow: it names the workspace that started the install,
 * and comes back unchanged on the redirect (https://developers.hubspot.com/docs/api-reference/auth-oauth-v3/guide).
 * RFC 6749 §10.12 asks a client to bind the redirect to the request that started it, so that
 * nobody can make a workspace take a portal it never asked for: the state is signed with a secret
 * only this deployment has (HMAC-SHA256), expires, and is spent by its first use.
 */

/** Where the signing secret is kept: made once per deployment, shared by every process on the store. */
export const OAUTH_STATE_SECRET_KEY = 'hubspot.oauth_state_secret';
/** The nonces of states already used, each kept until its state expires: a replayed redirect is refused. */
export const OAUTH_STATES_USED_KEY = 'hubspot.oauth_states_used';
/** How long an install may take between the authorize URL and HubSpot's redirect. */
export const OAUTH_STATE_TTL_MS = 10 * 60 * 1000;
/**
 * Used states kept at once. Each takes a state made with an API key and a redirect that carries it;
 * past this many within one state lifetime, further redirects wait for the oldest to expire, so
 * the list read and written with each redirect stays small.
 */
export const MAX_USED_STATES = 1000;

const SECRET_BYTES = 32;
const NONCE_BYTES = 16;
const VERSION = 1;

const SecretSchema = z.string().regex(/^[A-Za-z0-9_-]{43}$/);

/** What a state says, once its signature is verified. */
const ClaimsSchema = z
  .object({
    v: z.literal(VERSION),
    /** The workspace the install is for. */
    w: z.string().min(1).max(200),
    /** Random, so that two states of one workspace and instant differ, and a used one is known again. */
    n: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
    /** Milliseconds since the epoch. */
    e: z.number().int().nonnegative(),
  })
  .strict();

const UsedStatesSchema = z.array(z.object({ nonce: z.string(), expiresAt: z.number() }));

export interface OAuthStateClaims {
  workspaceId: string;
  nonce: string;
  expiresAt: number;
}

export type OAuthStateVerdict =
  | { ok: true; claims: OAuthStateClaims }
  /** `forged`: not a state this deployment signed (or not a state at all); `expired`: signed, past its lifetime. */
  | { ok: false; reason: 'forged' | 'expired' };

export type OAuthStateSpending =
  | { outcome: 'spent' }
  | { outcome: 'used_before' }
  /** Too many states used within one lifetime; the oldest is forgotten after `retryAfterMs`. */
  | { outcome: 'busy'; retryAfterMs: number };

/** A state is two base64url parts, the claims' JSON and their signature; longer is no state this code made. */
const MAX_STATE_LENGTH = 1000;

function signature(secret: Buffer, payload: string): Buffer {
  return createHmac('sha256', secret).update(payload, 'utf8').digest();
}

/** `<claims as base64url JSON>.<base64url HMAC-SHA256 of that part>`. */
export function signOAuthState(secret: Buffer, claims: OAuthStateClaims): string {
  const payload = Buffer.from(JSON.stringify({ v: VERSION, w: claims.workspaceId, n: claims.nonce, e: claims.expiresAt }), 'utf8').toString('base64url');
  return `${payload}.${signature(secret, payload).toString('base64url')}`;
}

/** Checks the signature in constant time, then the expiry against `now` (ms). */
export function verifyOAuthState(secret: Buffer, state: string, now: number): OAuthStateVerdict {
  if (state.length > MAX_STATE_LENGTH) return { ok: false, reason: 'forged' };
  const [payload, signed, ...rest] = state.split('.');
  if (payload === undefined || signed === undefined || rest.length > 0 || !/^[A-Za-z0-9_-]+$/.test(payload) || !/^[A-Za-z0-9_-]+$/.test(signed)) {
    return { ok: false, reason: 'forged' };
  }
  const presented = Buffer.from(signed, 'base64url');
  const expected = signature(secret, payload);
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return { ok: false, reason: 'forged' };
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'forged' };
  }
  const claims = ClaimsSchema.safeParse(json);
  if (!claims.success) return { ok: false, reason: 'forged' };
  if (claims.data.e <= now) return { ok: false, reason: 'expired' };
  return { ok: true, claims: { workspaceId: claims.data.w, nonce: claims.data.n, expiresAt: claims.data.e } };
}

/** The deployment's signing secret, made (from node:crypto's CSPRNG) by the first install started. */
async function provideSecret(store: Store): Promise<Buffer> {
  return store.transaction(async (tx) => {
    const stored = SecretSchema.safeParse(await tx.getMeta(OAUTH_STATE_SECRET_KEY));
    if (stored.success) return Buffer.from(stored.data, 'base64url');
    const secret = randomBytes(SECRET_BYTES);
    await tx.setMeta(OAUTH_STATE_SECRET_KEY, secret.toString('base64url'));
    return secret;
  });
}

/** A new state for an install into `workspaceId`, valid for OAUTH_STATE_TTL_MS from `now` (ms). */
export async function issueOAuthState(store: Store, workspaceId: string, now: number): Promise<{ state: string; expiresAt: number }> {
  const secret = await provideSecret(store);
  const expiresAt = now + OAUTH_STATE_TTL_MS;
  const state = signOAuthState(secret, { workspaceId, nonce: randomBytes(NONCE_BYTES).toString('base64url'), expiresAt });
  return { state, expiresAt };
}

/** Verifies a state with the deployment's secret; without one, no state was ever issued, so any is forged. */
export async function readOAuthState(store: Store, state: string, now: number): Promise<OAuthStateVerdict> {
  const stored = SecretSchema.safeParse(await store.read((tx) => tx.getMeta(OAUTH_STATE_SECRET_KEY)));
  if (!stored.success) return { ok: false, reason: 'forged' };
  return verifyOAuthState(Buffer.from(stored.data, 'base64url'), state, now);
}

/**
 * Marks a verified state used, in one transaction, so that of two redirects carrying it only the
 * first goes on. Used nonces are kept until their state expires: after that, the expiry alone
 * refuses the state.
 */
export async function spendOAuthState(store: Store, claims: OAuthStateClaims, now: number): Promise<OAuthStateSpending> {
  return store.transaction(async (tx): Promise<OAuthStateSpending> => {
    const parsed = UsedStatesSchema.safeParse(await tx.getMeta(OAUTH_STATES_USED_KEY));
    const live = (parsed.success ? parsed.data : []).filter((used) => used.expiresAt > now);
    if (live.some((used) => used.nonce === claims.nonce)) return { outcome: 'used_before' };
    if (live.length >= MAX_USED_STATES) {
      const oldest = Math.min(...live.map((used) => used.expiresAt));
      return { outcome: 'busy', retryAfterMs: oldest - now };
    }
    await tx.setMeta(OAUTH_STATES_USED_KEY, [...live, { nonce: claims.nonce, expiresAt: claims.expiresAt }]);
    return { outcome: 'spent' };
  });
}

import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  issueOAuthState,
  MAX_USED_STATES,
  OAUTH_STATE_SECRET_KEY,
  OAUTH_STATE_TTL_MS,
  OAUTH_STATES_USED_KEY,
  readOAuthState,
  signOAuthState,
  spendOAuthState,
  verifyOAuthState,
  type OAuthStateClaims,
} from '../../../connectors/hubspot/oauth-state.js';
import { createMemoryStore } from '../../../src/store/memory.js';

/**
 * The state of HubSpot's install flow (https://developers.hubspot.com/docs/api-reference/auth-oauth-v3/guide),
 * bound to the install that started it as RFC 6749 §10.12 asks: signed, expiring, used once.
 */
const NOW = Date.parse('2026-03-01T09:00:00.000Z');
const SECRET = Buffer.alloc(32, 7);
const CLAIMS: OAuthStateClaims = { workspaceId: '01JNQ7Z8X9W6V5T4S3R2Q1P0NM', nonce: 'AAAAAAAAAAAAAAAAAAAAAA', expiresAt: NOW + OAUTH_STATE_TTL_MS };

describe('signOAuthState / verifyOAuthState', () => {
  it('reads back the claims it signed until they expire', () => {
    const state = signOAuthState(SECRET, CLAIMS);
    expect(verifyOAuthState(SECRET, state, NOW)).toEqual({ ok: true, claims: CLAIMS });
    expect(verifyOAuthState(SECRET, state, CLAIMS.expiresAt - 1)).toEqual({ ok: true, claims: CLAIMS });
    expect(verifyOAuthState(SECRET, state, CLAIMS.expiresAt)).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuses a state signed with another secret, or with its claims changed, as forged', () => {
    const state = signOAuthState(SECRET, CLAIMS);
    expect(verifyOAuthState(randomBytes(32), state, NOW)).toEqual({ ok: false, reason: 'forged' });
    const [, signature] = state.split('.');
    const [payload] = signOAuthState(SECRET, { ...CLAIMS, workspaceId: '01JNQ7Z8X9W6V5T4S3R2Q1P0XX' }).split('.');
    expect(verifyOAuthState(SECRET, `${payload ?? ''}.${signature ?? ''}`, NOW)).toEqual({ ok: false, reason: 'forged' });
    // A forged state is refused as forged even when its claims are expired: the expiry of a state nobody signed says nothing.
    const expiredForgery = signOAuthState(randomBytes(32), { ...CLAIMS, expiresAt: NOW - 1 });
    expect(verifyOAuthState(SECRET, expiredForgery, NOW)).toEqual({ ok: false, reason: 'forged' });
  });

  it.each(['', '.', 'abc', 'a.b.c', 'a b.c', `${'a'.repeat(1001)}.b`, 'eyJ2IjoxfQ.'])('refuses %j as forged', (state) => {
    expect(verifyOAuthState(SECRET, state, NOW)).toEqual({ ok: false, reason: 'forged' });
  });

  it('refuses signed claims that are not a state of this version', () => {
    const payload = Buffer.from(JSON.stringify({ v: 2, w: CLAIMS.workspaceId, n: CLAIMS.nonce, e: CLAIMS.expiresAt })).toString('base64url');
    const signature = createHmac('sha256', SECRET).update(payload).digest('base64url');
    expect(verifyOAuthState(SECRET, `${payload}.${signature}`, NOW)).toEqual({ ok: false, reason: 'forged' });
  });
});

describe('issueOAuthState / readOAuthState', () => {
  it('makes the secret once and signs every state with it', async () => {
    const store = createMemoryStore();
    expect(await readOAuthState(store, signOAuthState(SECRET, CLAIMS), NOW)).toEqual({ ok: false, reason: 'forged' });
    const first = await issueOAuthState(store, CLAIMS.workspaceId, NOW);
    const secret = await store.read((tx) => tx.getMeta(OAUTH_STATE_SECRET_KEY));
    const second = await issueOAuthState(store, CLAIMS.workspaceId, NOW);
    expect(await store.read((tx) => tx.getMeta(OAUTH_STATE_SECRET_KEY))).toBe(secret);
    expect(first.expiresAt).toBe(NOW + OAUTH_STATE_TTL_MS);
    expect(first.state).not.toBe(second.state);
    const read = await readOAuthState(store, first.state, NOW);
    expect(read).toEqual({ ok: true, claims: { workspaceId: CLAIMS.workspaceId, nonce: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/), expiresAt: NOW + OAUTH_STATE_TTL_MS } });
    expect(await readOAuthState(store, first.state, NOW + OAUTH_STATE_TTL_MS)).toEqual({ ok: false, reason: 'expired' });
    await store.close();
  });
});

describe('spendOAuthState', () => {
  it('spends a state once, and forgets it once it has expired', async () => {
    const store = createMemoryStore();
    expect(await spendOAuthState(store, CLAIMS, NOW)).toEqual({ outcome: 'spent' });
    expect(await spendOAuthState(store, CLAIMS, NOW + 1000)).toEqual({ outcome: 'used_before' });
    const other = { ...CLAIMS, nonce: 'BBBBBBBBBBBBBBBBBBBBBB', expiresAt: CLAIMS.expiresAt + 60_000 };
    expect(await spendOAuthState(store, other, CLAIMS.expiresAt)).toEqual({ outcome: 'spent' });
    expect(await store.read((tx) => tx.getMeta(OAUTH_STATES_USED_KEY))).toEqual([{ nonce: other.nonce, expiresAt: other.expiresAt }]);
    await store.close();
  });

  it('refuses more used states at once than it keeps, until the oldest expires', async () => {
    const store = createMemoryStore();
    const full = Array.from({ length: MAX_USED_STATES }, (_, index) => ({ nonce: `n${index}`, expiresAt: NOW + 60_000 + index }));
    await store.transaction((tx) => tx.setMeta(OAUTH_STATES_USED_KEY, full));
    expect(await spendOAuthState(store, CLAIMS, NOW)).toEqual({ outcome: 'busy', retryAfterMs: 60_000 });
    expect(await spendOAuthState(store, CLAIMS, NOW + 60_000)).toEqual({ outcome: 'spent' });
    await store.close();
  });
});

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../src/ports/clock.js';

/**
 * Slack request signatures, checked more strictly than Bolt does.
 *
 * Scheme (https://docs.slack.dev/authentication/verifying-requests-from-slack):
 * `X-Slack-Signature: v0=` + hex HMAC-SHA256(signing secret, `v0:{X-Slack-Request-Timestamp}:{raw body}`).
 * Bolt's verifySlackRequest rejects timestamps older than five minutes but accepts any future one and
 * keeps no memory of what it saw (DESIGN §6). Here a request is refused when it is stale, when it is
 * dated too far ahead, or when the same signed request was already accepted: a captured request
 * cannot be replayed, even within the five minutes.
 */

export const SLACK_SIGNATURE_HEADER = 'x-slack-signature';
export const SLACK_TIMESTAMP_HEADER = 'x-slack-request-timestamp';

export type SlackVerificationFailure =
  | 'missing_headers'
  | 'malformed_timestamp'
  | 'stale'
  | 'future'
  | 'bad_signature'
  | 'replayed'
  | 'replay_cache_full';

export type SlackVerification = { ok: true } | { ok: false; reason: SlackVerificationFailure };

export interface SlackRequestVerifierOptions {
  signingSecret: string;
  clock: Clock;
  /** Slack's window: "more than five minutes from local time ... could be a replay attack". */
  maxAgeSeconds?: number;
  /** Clock skew tolerated for timestamps ahead of ours. */
  maxFutureSkewSeconds?: number;
  /** Signatures remembered at most; beyond that, requests are refused rather than forgotten early. */
  replayCacheSize?: number;
}

export interface SlackSignedRequest {
  timestamp: string | undefined;
  signature: string | undefined;
  rawBody: Buffer | string;
}

const SIGNATURE_FORMAT = /^v0=[0-9a-f]{64}$/i;
const TIMESTAMP_FORMAT = /^\d{1,12}$/;
/** Slack's window: "more than five minutes from local time ... could be a replay attack". */
export const DEFAULT_MAX_AGE_SECONDS = 5 * 60;
/** Clock skew tolerated for timestamps ahead of ours. */
export const DEFAULT_MAX_FUTURE_SKEW_SECONDS = 60;

export interface SlackTimestampWindow {
  maxAgeSeconds?: number;
  maxFutureSkewSeconds?: number;
}

/**
 * Everything about a request that can be judged without its signing secret: both headers there,
 * the timestamp a number of seconds inside the window around `now`, the signature `v0=` and 64
 * hex digits. It costs no HMAC and no look-up, so a request that fails it (a stale or forged one
 * sent to make the server work) is refused before either; `SlackRequestVerifier.verify` runs the
 * same checks first.
 */
export function screenSlackRequest(
  request: Pick<SlackSignedRequest, 'timestamp' | 'signature'>,
  now: Date,
  window: SlackTimestampWindow = {},
): SlackVerification {
  const { timestamp, signature } = request;
  if (timestamp === undefined || signature === undefined) return { ok: false, reason: 'missing_headers' };
  if (!TIMESTAMP_FORMAT.test(timestamp)) return { ok: false, reason: 'malformed_timestamp' };
  const nowMs = now.getTime();
  const sentMs = Number(timestamp) * 1000;
  if (nowMs - sentMs > (window.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS) * 1000) return { ok: false, reason: 'stale' };
  if (sentMs - nowMs > (window.maxFutureSkewSeconds ?? DEFAULT_MAX_FUTURE_SKEW_SECONDS) * 1000) return { ok: false, reason: 'future' };
  if (!SIGNATURE_FORMAT.test(signature)) return { ok: false, reason: 'bad_signature' };
  return { ok: true };
}

/** `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`; also what tests use to sign their requests. */
export function computeSlackSignature(signingSecret: string, timestamp: string, rawBody: Buffer | string): string {
  const hmac = createHmac('sha256', signingSecret);
  hmac.update(`v0:${timestamp}:`);
  hmac.update(rawBody);
  return `v0=${hmac.digest('hex')}`;
}

export class SlackRequestVerifier {
  private readonly signingSecret: string;
  private readonly clock: Clock;
  private readonly maxAgeMs: number;
  private readonly maxFutureSkewMs: number;
  private readonly replayCacheSize: number;
  /** Accepted signature → when it may be forgotten (its timestamp has gone stale by then). */
  private readonly seen = new Map<string, number>();

  constructor(options: SlackRequestVerifierOptions) {
    if (options.signingSecret.length === 0) throw new Error('Slack signing secret is empty');
    this.signingSecret = options.signingSecret;
    this.clock = options.clock;
    this.maxAgeMs = (options.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS) * 1000;
    this.maxFutureSkewMs = (options.maxFutureSkewSeconds ?? DEFAULT_MAX_FUTURE_SKEW_SECONDS) * 1000;
    this.replayCacheSize = options.replayCacheSize ?? 50_000;
  }

  verify(request: SlackSignedRequest): SlackVerification {
    const now = this.clock.now();
    const screened = screenSlackRequest(request, now, { maxAgeSeconds: this.maxAgeMs / 1000, maxFutureSkewSeconds: this.maxFutureSkewMs / 1000 });
    if (!screened.ok) return screened;
    const { timestamp, signature } = request;
    if (timestamp === undefined || signature === undefined) return { ok: false, reason: 'missing_headers' };
    const nowMs = now.getTime();
    const sentMs = Number(timestamp) * 1000;
    const expected = Buffer.from(computeSlackSignature(this.signingSecret, timestamp, request.rawBody).slice(3), 'hex');
    const given = Buffer.from(signature.slice(3), 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return { ok: false, reason: 'bad_signature' };
    }

    // Only authentic requests are remembered, so a forger cannot fill the cache.
    const key = signature.slice(3).toLowerCase();
    this.forgetExpired(nowMs);
    if (this.seen.has(key)) return { ok: false, reason: 'replayed' };
    if (this.seen.size >= this.replayCacheSize) return { ok: false, reason: 'replay_cache_full' };
    this.seen.set(key, sentMs + this.maxAgeMs);
    return { ok: true };
  }

  /** Signatures currently remembered (for tests and metrics). */
  get rememberedCount(): number {
    return this.seen.size;
  }

  private forgetExpired(nowMs: number): void {
    // Entries arrive roughly in timestamp order: drop from the front while expired, and sweep all
    // only when the cache is full.
    for (const [key, forgetAt] of this.seen) {
      if (forgetAt >= nowMs) break;
      this.seen.delete(key);
    }
    if (this.seen.size >= this.replayCacheSize) {
      for (const [key, forgetAt] of this.seen) if (forgetAt < nowMs) this.seen.delete(key);
    }
  }
}

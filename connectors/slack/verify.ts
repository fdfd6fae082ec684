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
    this.maxAgeMs = (options.maxAgeSeconds ?? 5 * 60) * 1000;
    this.maxFutureSkewMs = (options.maxFutureSkewSeconds ?? 60) * 1000;
    this.replayCacheSize = options.replayCacheSize ?? 50_000;
  }

  verify(request: SlackSignedRequest): SlackVerification {
    const { timestamp, signature } = request;
    if (timestamp === undefined || signature === undefined) return { ok: false, reason: 'missing_headers' };
    if (!TIMESTAMP_FORMAT.test(timestamp)) return { ok: false, reason: 'malformed_timestamp' };

    const nowMs = this.clock.now().getTime();
    const sentMs = Number(timestamp) * 1000;
    if (nowMs - sentMs > this.maxAgeMs) return { ok: false, reason: 'stale' };
    if (sentMs - nowMs > this.maxFutureSkewMs) return { ok: false, reason: 'future' };

    if (!SIGNATURE_FORMAT.test(signature)) return { ok: false, reason: 'bad_signature' };
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

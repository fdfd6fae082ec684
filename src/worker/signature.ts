import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Hook deliveries are signed like Stripe's and Slack's webhooks: an HMAC-SHA256 over the
 * timestamp and the raw body, so a receiver can check who sent the body and reject replays
 * of an old one. Header: `X-Consentry-Signature: v1=<hex>`; several comma-separated `v1=`
 * values may appear (a receiver accepts the request when any of them matches).
 */
export const SIGNATURE_SCHEME = 'v1';
export const DEFAULT_SIGNATURE_TOLERANCE_SECONDS = 300;

export interface SignedDelivery {
  /** Unix seconds, sent as `X-Consentry-Timestamp`. */
  timestamp: number;
  /** `v1=<hex>`, one per secret separated by commas, sent as `X-Consentry-Signature`. */
  signature: string;
}

function hmacHex(secret: string, timestamp: number | string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/** Signs with each secret given, newest first: during a secret rotation both the new and the old one. */
export function signDelivery(secrets: string | readonly string[], body: string, at: Date): SignedDelivery {
  const timestamp = Math.floor(at.getTime() / 1000);
  const signatures = (typeof secrets === 'string' ? [secrets] : secrets).map((secret) => `${SIGNATURE_SCHEME}=${hmacHex(secret, timestamp, body)}`);
  return { timestamp, signature: signatures.join(',') };
}

export interface VerifyDeliveryInput {
  secret: string;
  /** The raw request body, exactly as received (not re-serialised JSON). */
  body: string;
  /** The `X-Consentry-Timestamp` header. */
  timestamp: string | undefined;
  /** The `X-Consentry-Signature` header. */
  signature: string | undefined;
  now: Date;
  toleranceSeconds?: number;
}

/**
 * True when a `v1` signature matches and the timestamp is within the tolerance of `now` in
 * either direction (a future timestamp is as suspicious as a stale one). Compared in constant
 * time, as in Bolt's `verify-request.ts`.
 */
export function verifyDeliverySignature(input: VerifyDeliveryInput): boolean {
  const { secret, body, timestamp, signature, now } = input;
  if (!timestamp || !signature || !/^\d{1,12}$/.test(timestamp)) return false;
  const tolerance = input.toleranceSeconds ?? DEFAULT_SIGNATURE_TOLERANCE_SECONDS;
  if (Math.abs(Math.floor(now.getTime() / 1000) - Number(timestamp)) > tolerance) return false;
  const expected = Buffer.from(hmacHex(secret, timestamp, body), 'hex');
  let matched = false;
  for (const part of signature.split(',')) {
    const [scheme, value] = part.trim().split('=', 2);
    if (scheme !== SIGNATURE_SCHEME || !value || !/^[0-9a-f]{64}$/i.test(value)) continue;
    const candidate = Buffer.from(value, 'hex');
    if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) matched = true;
  }
  return matched;
}

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** HubSpot: "reject the request if the timestamp is older than 5 minutes" (v3 signatures). */
export const SIGNATURE_MAX_AGE_MS = 5 * 60 * 1000;
/**
 * HubSpot documents no bound for timestamps ahead of our clock; the SDK's `Signature.isValid`
 * accepts any (DESIGN §6). A timestamp far in the future would let a captured request be replayed
 * until that time, so only ordinary clock drift is tolerated.
 */
export const SIGNATURE_MAX_FUTURE_SKEW_MS = 60 * 1000;

export interface SignedRequest {
  method: string;
  /** The full URL HubSpot called, with protocol, host and query string (`https://host/path?x=1`). */
  uri: string;
  /** The raw body exactly as received, before any JSON parsing. */
  body: string;
  headers: Record<string, string | undefined>;
}

export interface VerifyOptions {
  clientSecret: string;
  now: Date;
  maxAgeMs?: number;
  maxFutureSkewMs?: number;
  /**
   * Accept a request signed only with v2. Workflow-action requests always carry v2 and may carry
   * v3 (DESIGN §6); webhooks carry v3, so their route passes `false`. v2 has no timestamp, so a
   * v2-only request can be replayed: callers that accept it must be idempotent (actions are, by
   * callbackId).
   */
  allowV2?: boolean;
}

export type SignatureVerification =
  | { ok: true; version: 'v2' | 'v3' }
  | { ok: false; reason: 'missing' | 'bad_signature' | 'stale' | 'future' };

function headerValue(headers: Record<string, string | undefined>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted && value !== undefined && value !== '') return value;
  }
  return undefined;
}

/**
 * v3 signs the URI with these percent-encodings decoded, and only these.
 * https://developers.hubspot.com/docs/api/webhooks/validating-requests (v3)
 */
const V3_DECODED_CHARACTERS: Readonly<Record<string, string>> = {
  '%3A': ':',
  '%2F': '/',
  '%3F': '?',
  '%40': '@',
  '%21': '!',
  '%24': '$',
  '%27': "'",
  '%28': '(',
  '%29': ')',
  '%2A': '*',
  '%2C': ',',
  '%3B': ';',
};

export function decodeUriForV3(uri: string): string {
  return uri.replace(/%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/gi, (match) => V3_DECODED_CHARACTERS[match.toUpperCase()] ?? match);
}

/** Constant-time for equal lengths; a length mismatch says nothing secret (digest sizes are public). */
function sameText(expected: string, received: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(received, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** v3: base64 HMAC-SHA256, keyed by the client secret, of method + decoded URI + body + timestamp. */
export function hubSpotSignatureV3(clientSecret: string, method: string, uri: string, body: string, timestamp: string): string {
  return createHmac('sha256', clientSecret)
    .update(`${method}${decodeUriForV3(uri)}${body}${timestamp}`, 'utf8')
    .digest('base64');
}

/**
 * v2: hex SHA-256 of client secret + method + URI + body; the URI must match the original request
 * exactly, protocol and query order included.
 * https://developers.hubspot.com/docs/faq/v2-request-validation
 */
export function hubSpotSignatureV2(clientSecret: string, method: string, uri: string, body: string): string {
  return createHash('sha256').update(`${clientSecret}${method}${uri}${body}`, 'utf8').digest('hex');
}

type HeaderCheck =
  | { ok: true; version: 'v3'; signature: string; timestamp: string }
  | { ok: true; version: 'v2'; signature: string }
  | { ok: false; reason: 'missing' | 'stale' | 'future' };

/**
 * Everything that needs no secret: which signature the request carries and, for v3, that its
 * timestamp is inside the window. Checked before any hash, so a stale or unsigned request costs
 * no pass over its body, however many secrets could have signed it. v3 wins when present: a
 * request with a bad or expired v3 signature is refused even if its v2 signature matches, because
 * falling back would let anyone replay a captured request after stripping the v3 headers.
 */
function checkHeaders(req: SignedRequest, opts: Omit<VerifyOptions, 'clientSecret'>): HeaderCheck {
  const v3 = headerValue(req.headers, 'x-hubspot-signature-v3');
  if (v3 !== undefined) {
    const timestamp = headerValue(req.headers, 'x-hubspot-request-timestamp');
    if (timestamp === undefined || !/^\d{1,16}$/.test(timestamp)) return { ok: false, reason: 'missing' };
    const age = opts.now.getTime() - Number(timestamp);
    if (age > (opts.maxAgeMs ?? SIGNATURE_MAX_AGE_MS)) return { ok: false, reason: 'stale' };
    if (-age > (opts.maxFutureSkewMs ?? SIGNATURE_MAX_FUTURE_SKEW_MS)) return { ok: false, reason: 'future' };
    return { ok: true, version: 'v3', signature: v3, timestamp };
  }

  if (opts.allowV2 === false) return { ok: false, reason: 'missing' };
  const v2 = headerValue(req.headers, 'x-hubspot-signature');
  const version = headerValue(req.headers, 'x-hubspot-signature-version');
  // v1 (secret + body) signs neither method nor URI, so a v1 signature is not enough here.
  if (v2 === undefined || version?.toLowerCase() !== 'v2') return { ok: false, reason: 'missing' };
  return { ok: true, version: 'v2', signature: v2.toLowerCase() };
}

function signedWith(req: SignedRequest, headers: HeaderCheck & { ok: true }, clientSecret: string): boolean {
  const method = req.method.toUpperCase();
  const expected =
    headers.version === 'v3'
      ? hubSpotSignatureV3(clientSecret, method, req.uri, req.body, headers.timestamp)
      : hubSpotSignatureV2(clientSecret, method, req.uri, req.body);
  return sameText(expected, headers.signature);
}

/** Verifies a request from HubSpot (workflow action, webhook) with one client secret. */
export function verifyHubSpotSignature(req: SignedRequest, opts: VerifyOptions): SignatureVerification {
  const headers = checkHeaders(req, opts);
  if (!headers.ok) return headers;
  return signedWith(req, headers, opts.clientSecret) ? { ok: true, version: headers.version } : { ok: false, reason: 'bad_signature' };
}

export type SecretsVerification =
  | { ok: true; version: 'v2' | 'v3'; secrets: string[] }
  | { ok: false; reason: 'missing' | 'bad_signature' | 'stale' | 'future' };

/**
 * Verifies a request against each secret that may have signed it (the workspaces naming one
 * portal), and answers which of them do. The headers and the timestamp window are checked first,
 * once: only a request inside the window is hashed, once per distinct secret. No secret at all
 * reads as a bad signature, so a portal nobody is connected to is refused like a forgery.
 */
export function verifyHubSpotSignatureWithAny(req: SignedRequest, secrets: readonly string[], opts: Omit<VerifyOptions, 'clientSecret'>): SecretsVerification {
  const headers = checkHeaders(req, opts);
  if (!headers.ok) return headers;
  const verifying = [...new Set(secrets)].filter((secret) => signedWith(req, headers, secret));
  return verifying.length > 0 ? { ok: true, version: headers.version, secrets: verifying } : { ok: false, reason: 'bad_signature' };
}

import { Signature } from '@hubspot/api-client';
import { describe, expect, it } from 'vitest';
import { decodeUriForV3, verifyHubSpotSignature, verifyHubSpotSignatureWithAny, type SignedRequest } from '../../../connectors/hubspot/signature.js';

const SECRET = 'client-secret-for-tests';
const NOW = new Date('2026-03-02T10:00:00.000Z');
const URI = 'https://consentry.example.com/hubspot/actions/request-consent';
const BODY = JSON.stringify({ callbackId: 'ap-102-1', origin: { portalId: 62515 }, object: { objectId: 1001, objectType: 'CONTACT' } });

function v3Request(overrides: { timestamp?: number; uri?: string; body?: string; method?: string; secret?: string } = {}): SignedRequest {
  const timestamp = overrides.timestamp ?? NOW.getTime() - 1000;
  const signed = { uri: overrides.uri ?? URI, body: overrides.body ?? BODY, method: overrides.method ?? 'POST' };
  const signature = Signature.getSignature(signed.method, 'v3', {
    clientSecret: overrides.secret ?? SECRET,
    requestBody: signed.body,
    url: signed.uri,
    timestamp,
    signature: '',
  });
  return {
    method: signed.method,
    uri: signed.uri,
    body: signed.body,
    headers: { 'x-hubspot-signature-v3': signature, 'x-hubspot-request-timestamp': String(timestamp) },
  };
}

function v2Request(overrides: { secret?: string } = {}): SignedRequest {
  const signature = Signature.getSignature('POST', 'v2', {
    clientSecret: overrides.secret ?? SECRET,
    requestBody: BODY,
    url: URI,
    signature: '',
  });
  return {
    method: 'POST',
    uri: URI,
    body: BODY,
    headers: { 'X-HubSpot-Signature': signature, 'X-HubSpot-Signature-Version': 'v2' },
  };
}

const verify = (req: SignedRequest, extra: { allowV2?: boolean } = {}) => verifyHubSpotSignature(req, { clientSecret: SECRET, now: NOW, ...extra });

describe('verifyHubSpotSignature v3', () => {
  it('accepts a signature made by the SDK', () => {
    expect(verify(v3Request())).toEqual({ ok: true, version: 'v3' });
  });

  it('reads headers whatever their case', () => {
    const req = v3Request();
    const upper: SignedRequest = {
      ...req,
      headers: {
        'X-HubSpot-Signature-V3': req.headers['x-hubspot-signature-v3'],
        'X-HubSpot-Request-Timestamp': req.headers['x-hubspot-request-timestamp'],
      },
    };
    expect(verify(upper)).toEqual({ ok: true, version: 'v3' });
  });

  it('refuses a tampered body, URI or method', () => {
    const req = v3Request();
    expect(verify({ ...req, body: BODY.replace('1001', '1002') })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verify({ ...req, uri: `${URI}?x=1` })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verify({ ...req, method: 'PUT' })).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses a signature made with another secret', () => {
    expect(verify(v3Request({ secret: 'someone-else' }))).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses a signed timestamp that was changed', () => {
    const req = v3Request();
    const moved = String(Number(req.headers['x-hubspot-request-timestamp']) + 1);
    expect(verify({ ...req, headers: { ...req.headers, 'x-hubspot-request-timestamp': moved } })).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses timestamps older than five minutes, even with a valid signature', () => {
    expect(verify(v3Request({ timestamp: NOW.getTime() - 5 * 60 * 1000 }))).toEqual({ ok: true, version: 'v3' });
    expect(verify(v3Request({ timestamp: NOW.getTime() - 5 * 60 * 1000 - 1 }))).toEqual({ ok: false, reason: 'stale' });
  });

  it('refuses timestamps from the future beyond a minute of skew (the SDK accepts them)', () => {
    expect(verify(v3Request({ timestamp: NOW.getTime() + 30_000 }))).toEqual({ ok: true, version: 'v3' });
    const future = v3Request({ timestamp: NOW.getTime() + 10 * 60 * 1000 });
    expect(verify(future)).toEqual({ ok: false, reason: 'future' });
  });

  it('honours a custom maximum age', () => {
    const req = v3Request({ timestamp: NOW.getTime() - 61_000 });
    expect(verifyHubSpotSignature(req, { clientSecret: SECRET, now: NOW, maxAgeMs: 60_000 })).toEqual({ ok: false, reason: 'stale' });
  });

  it('signs the URI with the documented percent-encodings decoded', () => {
    const decoded = "https://consentry.example.com/hubspot/actions?email=ana.test@example.com&note=(a,b);ok!";
    const encoded = 'https://consentry.example.com/hubspot/actions?email=ana.test%40example.com&note=%28a%2Cb%29%3Bok%21';
    expect(decodeUriForV3(encoded)).toBe(decoded);
    const signedDecoded = v3Request({ uri: decoded });
    expect(verify({ ...signedDecoded, uri: encoded })).toEqual({ ok: true, version: 'v3' });
  });

  it('leaves other percent-encodings as they are', () => {
    expect(decodeUriForV3('https://x.example.com/a%20b%3a')).toBe('https://x.example.com/a%20b:');
  });

  it('refuses a v3 signature without a usable timestamp', () => {
    const req = v3Request();
    expect(verify({ ...req, headers: { 'x-hubspot-signature-v3': req.headers['x-hubspot-signature-v3'] } })).toEqual({ ok: false, reason: 'missing' });
    expect(verify({ ...req, headers: { ...req.headers, 'x-hubspot-request-timestamp': 'yesterday' } })).toEqual({ ok: false, reason: 'missing' });
  });

  it('does not fall back to a valid v2 signature when v3 is bad', () => {
    const v2 = v2Request();
    const v3 = v3Request({ secret: 'someone-else' });
    expect(verify({ ...v2, headers: { ...v2.headers, ...v3.headers } })).toEqual({ ok: false, reason: 'bad_signature' });
  });
});

describe('verifyHubSpotSignature v2', () => {
  it('accepts a signature made by the SDK', () => {
    expect(verify(v2Request())).toEqual({ ok: true, version: 'v2' });
  });

  it("matches HubSpot's documented example", () => {
    const req: SignedRequest = {
      method: 'POST',
      uri: 'https://www.example.com/webhook_uri',
      body: '{"example_field":"example_value"}',
      headers: {
        'x-hubspot-signature': '9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900',
        'x-hubspot-signature-version': 'v2',
      },
    };
    expect(verifyHubSpotSignature(req, { clientSecret: 'yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy', now: NOW })).toEqual({ ok: true, version: 'v2' });
  });

  it('refuses tampering and the wrong secret', () => {
    const req = v2Request();
    expect(verify({ ...req, body: `${BODY} ` })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verify({ ...req, uri: URI.replace('https', 'http') })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verify({ ...req, method: 'GET' })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verify(v2Request({ secret: 'someone-else' }))).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses a v1 signature, which signs neither method nor URI', () => {
    const req = v2Request();
    expect(verify({ ...req, headers: { ...req.headers, 'X-HubSpot-Signature-Version': 'v1' } })).toEqual({ ok: false, reason: 'missing' });
  });

  it('is refused where only v3 is accepted (webhooks)', () => {
    expect(verify(v2Request(), { allowV2: false })).toEqual({ ok: false, reason: 'missing' });
  });
});

describe('verifyHubSpotSignature without signature', () => {
  it('reports missing headers', () => {
    expect(verify({ method: 'POST', uri: URI, body: BODY, headers: {} })).toEqual({ ok: false, reason: 'missing' });
    expect(verify({ method: 'POST', uri: URI, body: BODY, headers: { 'x-hubspot-signature-v3': '' } })).toEqual({ ok: false, reason: 'missing' });
  });

  it('refuses a signature of another length without throwing', () => {
    const req = v3Request();
    expect(verify({ ...req, headers: { ...req.headers, 'x-hubspot-signature-v3': 'c2hvcnQ=' } })).toEqual({ ok: false, reason: 'bad_signature' });
  });
});

describe('verifyHubSpotSignatureWithAny', () => {
  const others = ['secret-of-another-shop', 'secret-of-a-third-shop'];

  it('answers which of the secrets verify the request, each secret once', () => {
    expect(verifyHubSpotSignatureWithAny(v3Request(), [others[0] ?? '', SECRET, SECRET], { now: NOW })).toEqual({ ok: true, version: 'v3', secrets: [SECRET] });
    expect(verifyHubSpotSignatureWithAny(v2Request(), [...others, SECRET], { now: NOW })).toEqual({ ok: true, version: 'v2', secrets: [SECRET] });
    expect(verifyHubSpotSignatureWithAny(v2Request(), [SECRET], { now: NOW, allowV2: false })).toEqual({ ok: false, reason: 'missing' });
  });

  it('reads no secret to refuse a forgery when there is none to check, as a bad signature', () => {
    expect(verifyHubSpotSignatureWithAny(v3Request(), others, { now: NOW })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyHubSpotSignatureWithAny(v3Request(), [], { now: NOW })).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses stale, future and unsigned requests before it hashes anything: no secret is read', () => {
    const untouchable = new Proxy<string[]>([], {
      get() {
        throw new Error('a secret was read');
      },
    });
    expect(verifyHubSpotSignatureWithAny(v3Request({ timestamp: NOW.getTime() - 6 * 60_000 }), untouchable, { now: NOW })).toEqual({ ok: false, reason: 'stale' });
    expect(verifyHubSpotSignatureWithAny(v3Request({ timestamp: NOW.getTime() + 10 * 60_000 }), untouchable, { now: NOW })).toEqual({ ok: false, reason: 'future' });
    expect(verifyHubSpotSignatureWithAny({ method: 'POST', uri: URI, body: BODY, headers: {} }, untouchable, { now: NOW })).toEqual({ ok: false, reason: 'missing' });
    expect(() => verifyHubSpotSignatureWithAny(v3Request(), untouchable, { now: NOW })).toThrow('a secret was read');
  });
});

import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signDelivery, verifyDeliverySignature } from '../../src/worker/signature.js';

const secret = 'whsec_test_only_secret';
const body = JSON.stringify({ id: '01J0000000000000000000000', type: 'consent.given' });
const at = new Date('2026-03-01T10:00:00.000Z');

describe('delivery signatures', () => {
  it('is v1= hex HMAC-SHA256 of `${timestamp}.${body}` with unix-second timestamps', () => {
    const signed = signDelivery(secret, body, at);
    expect(signed.timestamp).toBe(1772359200);
    const expected = createHmac('sha256', secret).update(`1772359200.${body}`).digest('hex');
    expect(signed.signature).toBe(`v1=${expected}`);
  });

  it('verifies its own signature and nothing altered', () => {
    const { timestamp, signature } = signDelivery(secret, body, at);
    const input = { secret, body, timestamp: String(timestamp), signature, now: at };
    expect(verifyDeliverySignature(input)).toBe(true);
    expect(verifyDeliverySignature({ ...input, body: `${body} ` })).toBe(false);
    expect(verifyDeliverySignature({ ...input, secret: 'whsec_other' })).toBe(false);
    expect(verifyDeliverySignature({ ...input, timestamp: String(timestamp + 1) })).toBe(false);
    expect(verifyDeliverySignature({ ...input, signature: signature.replace('v1=', 'v0=') })).toBe(false);
    expect(verifyDeliverySignature({ ...input, signature: undefined })).toBe(false);
    expect(verifyDeliverySignature({ ...input, timestamp: undefined })).toBe(false);
    expect(verifyDeliverySignature({ ...input, timestamp: '1e9' })).toBe(false);
  });

  it('rejects stale and future timestamps beyond the tolerance', () => {
    const { timestamp, signature } = signDelivery(secret, body, at);
    const input = { secret, body, timestamp: String(timestamp), signature };
    expect(verifyDeliverySignature({ ...input, now: new Date(at.getTime() + 300_000) })).toBe(true);
    expect(verifyDeliverySignature({ ...input, now: new Date(at.getTime() + 301_000) })).toBe(false);
    expect(verifyDeliverySignature({ ...input, now: new Date(at.getTime() - 301_000) })).toBe(false);
    expect(verifyDeliverySignature({ ...input, now: new Date(at.getTime() + 301_000), toleranceSeconds: 600 })).toBe(true);
  });

  it('accepts the header when any of several v1 values matches (secret rotation)', () => {
    const { timestamp, signature } = signDelivery(secret, body, at);
    const old = signDelivery('whsec_previous', body, at).signature;
    expect(verifyDeliverySignature({ secret, body, timestamp: String(timestamp), signature: `${old}, ${signature}`, now: at })).toBe(true);
    expect(verifyDeliverySignature({ secret, body, timestamp: String(timestamp), signature: `${old}`, now: at })).toBe(false);
  });

  it('signs with each secret given, newest first, in one header both secrets verify', () => {
    const { timestamp, signature } = signDelivery([secret, 'whsec_previous'], body, at);
    expect(signature).toBe(`${signDelivery(secret, body, at).signature},${signDelivery('whsec_previous', body, at).signature}`);
    for (const each of [secret, 'whsec_previous']) {
      expect(verifyDeliverySignature({ secret: each, body, timestamp: String(timestamp), signature, now: at })).toBe(true);
    }
    expect(verifyDeliverySignature({ secret: 'whsec_other', body, timestamp: String(timestamp), signature, now: at })).toBe(false);
  });
});

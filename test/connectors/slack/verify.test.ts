import { describe, expect, it } from 'vitest';
import { computeSlackSignature, screenSlackRequest, SlackRequestVerifier } from '../../../connectors/slack/verify.js';
import { FakeClock } from '../../../src/ports/clock.js';

const SECRET = 'test-signing-secret';
const BODY = 'payload=%7B%22type%22%3A%22block_actions%22%7D';

function setup() {
  const clock = new FakeClock('2026-01-01T10:00:00.000Z');
  const verifier = new SlackRequestVerifier({ signingSecret: SECRET, clock });
  const nowSeconds = () => String(Math.floor(clock.now().getTime() / 1000));
  const signed = (timestamp = nowSeconds(), body = BODY) => ({
    timestamp,
    signature: computeSlackSignature(SECRET, timestamp, body),
    rawBody: body,
  });
  return { clock, verifier, nowSeconds, signed };
}

describe('computeSlackSignature', () => {
  it('is v0= and the hex HMAC-SHA256 of v0:timestamp:body (Slack\'s documented example)', () => {
    // Example from https://docs.slack.dev/authentication/verifying-requests-from-slack
    const body =
      'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    expect(computeSlackSignature('8f742231b10e8888abcd99yyyzzz85a5', '1531420618', body)).toBe(
      'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
    );
  });
});

describe('SlackRequestVerifier', () => {
  it('accepts a correctly signed, current request', () => {
    const { verifier, signed } = setup();
    expect(verifier.verify(signed())).toEqual({ ok: true });
  });

  it('accepts a Buffer body signed as text', () => {
    const { verifier, signed } = setup();
    const request = signed();
    expect(verifier.verify({ ...request, rawBody: Buffer.from(BODY) })).toEqual({ ok: true });
  });

  it('refuses a forged signature, a tampered body and a signature made with another secret', () => {
    const { verifier, signed, nowSeconds } = setup();
    const request = signed();
    expect(verifier.verify({ ...request, signature: `v0=${'0'.repeat(64)}` })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifier.verify({ ...request, rawBody: `${BODY}x` })).toEqual({ ok: false, reason: 'bad_signature' });
    const other = computeSlackSignature('another-secret', nowSeconds(), BODY);
    expect(verifier.verify({ ...request, signature: other })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifier.verify({ ...request, signature: 'v1=abc' })).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses missing or malformed headers', () => {
    const { verifier, signed } = setup();
    const request = signed();
    expect(verifier.verify({ ...request, signature: undefined })).toEqual({ ok: false, reason: 'missing_headers' });
    expect(verifier.verify({ ...request, timestamp: undefined })).toEqual({ ok: false, reason: 'missing_headers' });
    expect(verifier.verify({ ...request, timestamp: '1e9' })).toEqual({ ok: false, reason: 'malformed_timestamp' });
  });

  it('refuses a request older than five minutes, even correctly signed', () => {
    const { verifier, signed, clock } = setup();
    const request = signed();
    clock.advance(5 * 60_000 + 1000);
    expect(verifier.verify(request)).toEqual({ ok: false, reason: 'stale' });
  });

  it('accepts up to five minutes of age', () => {
    const { verifier, signed, clock } = setup();
    const request = signed();
    clock.advance(5 * 60_000);
    expect(verifier.verify(request)).toEqual({ ok: true });
  });

  it('refuses a request dated more than a minute ahead, which Bolt alone would accept', () => {
    const { verifier, signed, clock } = setup();
    const future = String(Math.floor(clock.now().getTime() / 1000) + 61);
    expect(verifier.verify(signed(future))).toEqual({ ok: false, reason: 'future' });
    const skewed = String(Math.floor(clock.now().getTime() / 1000) + 30);
    expect(verifier.verify(signed(skewed))).toEqual({ ok: true });
  });

  it('refuses the same signed request a second time', () => {
    const { verifier, signed, clock } = setup();
    const request = signed();
    expect(verifier.verify(request)).toEqual({ ok: true });
    clock.advance(10_000);
    expect(verifier.verify(request)).toEqual({ ok: false, reason: 'replayed' });
    const upperCase = { ...request, signature: `v0=${request.signature.slice(3).toUpperCase()}` };
    expect(verifier.verify(upperCase)).toEqual({ ok: false, reason: 'replayed' });
  });

  it('does not remember forged requests', () => {
    const { verifier, signed } = setup();
    const request = signed();
    verifier.verify({ ...request, rawBody: 'forged' });
    expect(verifier.rememberedCount).toBe(0);
    expect(verifier.verify(request)).toEqual({ ok: true });
  });

  it('forgets signatures once they are stale anyway, and stays bounded', () => {
    const clock = new FakeClock('2026-01-01T10:00:00.000Z');
    const verifier = new SlackRequestVerifier({ signingSecret: SECRET, clock, replayCacheSize: 3 });
    const sign = (body: string) => {
      const timestamp = String(Math.floor(clock.now().getTime() / 1000));
      return { timestamp, signature: computeSlackSignature(SECRET, timestamp, body), rawBody: body };
    };
    for (const body of ['a', 'b', 'c']) expect(verifier.verify(sign(body))).toEqual({ ok: true });
    expect(verifier.verify(sign('d'))).toEqual({ ok: false, reason: 'replay_cache_full' });
    clock.advance(5 * 60_000 + 1000);
    expect(verifier.verify(sign('d'))).toEqual({ ok: true });
    expect(verifier.rememberedCount).toBe(1);
  });
});

describe('screenSlackRequest', () => {
  const now = new Date('2026-01-01T10:00:00.000Z');
  const nowSeconds = Math.floor(now.getTime() / 1000);
  const signature = `v0=${'ab'.repeat(32)}`;
  const screen = (timestamp: string | undefined, given: string | undefined = signature) => screenSlackRequest({ timestamp, signature: given }, now);

  it('passes a well-formed request inside the window, whatever its signature verifies', () => {
    expect(screen(String(nowSeconds))).toEqual({ ok: true });
    expect(screen(String(nowSeconds - 300))).toEqual({ ok: true });
    expect(screen(String(nowSeconds + 60))).toEqual({ ok: true });
    expect(screen(String(nowSeconds), `V0=${'AB'.repeat(32)}`)).toEqual({ ok: true });
  });

  it('refuses a stale, future-dated or malformed timestamp, and a signature that is not v0= and 64 hex digits', () => {
    expect(screen(String(nowSeconds - 301))).toEqual({ ok: false, reason: 'stale' });
    expect(screen('1')).toEqual({ ok: false, reason: 'stale' });
    expect(screen(String(nowSeconds + 61))).toEqual({ ok: false, reason: 'future' });
    expect(screen('999999999999')).toEqual({ ok: false, reason: 'future' });
    for (const timestamp of ['', 'abc', '1e9', '-1', ' 1767261600', '1767261600.5', '1234567890123']) {
      expect(screen(timestamp)).toEqual({ ok: false, reason: 'malformed_timestamp' });
    }
    expect(screen(undefined)).toEqual({ ok: false, reason: 'missing_headers' });
    expect(screenSlackRequest({ timestamp: String(nowSeconds), signature: undefined }, now)).toEqual({ ok: false, reason: 'missing_headers' });
    for (const bad of ['v0=zz', `v1=${'ab'.repeat(32)}`, `v0=${'ab'.repeat(31)}`, `v0=${'ab'.repeat(33)}`]) {
      expect(screen(String(nowSeconds), bad)).toEqual({ ok: false, reason: 'bad_signature' });
    }
  });

  it('takes the window it is given', () => {
    expect(screenSlackRequest({ timestamp: String(nowSeconds - 31), signature }, now, { maxAgeSeconds: 30 })).toEqual({ ok: false, reason: 'stale' });
    expect(screenSlackRequest({ timestamp: String(nowSeconds + 6), signature }, now, { maxFutureSkewSeconds: 5 })).toEqual({ ok: false, reason: 'future' });
  });
});

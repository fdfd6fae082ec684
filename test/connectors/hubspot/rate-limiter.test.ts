import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/ports/clock.js';
import { HubSpotApiError, HubSpotPausedError } from '../../../connectors/hubspot/errors.js';
import {
  HubSpotOutcomeUnknownError,
  PortalRateLimiter,
  RateLimiterRegistry,
  classifyFailure,
  dailyLimitPauseEnd,
  nextMidnight,
  readRateLimitHeaders,
  type RateLimiterOptions,
} from '../../../connectors/hubspot/rate-limiter.js';

const START = Date.parse('2026-03-02T10:00:00.000Z');

function harness(options: Partial<RateLimiterOptions> = {}, start: number | string = START) {
  const clock = new FakeClock(start);
  const sleeps: number[] = [];
  // Wakes at "now + ms" on the fake clock; sleepers started together wake together.
  const sleep = async (ms: number): Promise<void> => {
    sleeps.push(ms);
    const target = clock.now().getTime() + ms;
    await Promise.resolve();
    if (clock.now().getTime() < target) clock.set(target);
  };
  const limiter = new PortalRateLimiter({ clock, sleep, random: () => 0, ...options });
  const elapsed = (): number => clock.now().getTime() - START;
  return { clock, sleeps, limiter, elapsed };
}

function rateLimited(policyName: string | null, headers: Record<string, string> = {}, message = 'You have reached your ten_secondly_rolling limit.'): HubSpotApiError {
  const body: Record<string, string> = { status: 'error', message, errorType: 'RATE_LIMIT', correlationId: 'c033cdaa-2c40-4a64-ae48-b4cec88dad24' };
  if (policyName !== null) body.policyName = policyName;
  return new HubSpotApiError(429, headers, JSON.stringify(body));
}

const serverError = (status = 500) => new HubSpotApiError(status, {}, '{"status":"error","message":"internal error","category":"INTERNAL_ERROR"}');

describe('readRateLimitHeaders', () => {
  it('reads the documented headers whatever their case', () => {
    expect(
      readRateLimitHeaders({
        'X-HubSpot-RateLimit-Max': '190',
        'x-hubspot-ratelimit-remaining': '7',
        'X-HubSpot-RateLimit-Interval-Milliseconds': '10000',
        'X-HubSpot-RateLimit-Daily': '500000',
        'X-HubSpot-RateLimit-Daily-Remaining': '499000',
      }),
    ).toEqual({ max: 190, remaining: 7, intervalMs: 10_000, daily: 500_000, dailyRemaining: 499_000 });
    expect(readRateLimitHeaders({ 'x-hubspot-ratelimit-max': 'lots' }).max).toBeNull();
  });
});

describe('classifyFailure', () => {
  it('tells the limits apart by policyName', () => {
    expect(classifyFailure(rateLimited('TEN_SECONDLY_ROLLING'))).toEqual({ kind: 'rate_limited', policy: 'TEN_SECONDLY_ROLLING' });
    expect(classifyFailure(rateLimited('SECONDLY'))).toEqual({ kind: 'rate_limited', policy: 'SECONDLY' });
    expect(classifyFailure(rateLimited('DAILY'))).toEqual({ kind: 'daily_limit' });
    expect(classifyFailure(rateLimited(null, {}, 'You have reached your secondly limit.'))).toEqual({ kind: 'rate_limited', policy: 'SECONDLY' });
  });

  it('retries 5xx and network failures, nothing else', () => {
    expect(classifyFailure(serverError(503))).toEqual({ kind: 'server_error', status: 503 });
    expect(classifyFailure(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toEqual({ kind: 'server_error', status: null });
    expect(classifyFailure(new HubSpotApiError(400, {}, '{"category":"VALIDATION_ERROR"}'))).toEqual({ kind: 'fatal' });
    expect(classifyFailure(new TypeError('bug'))).toEqual({ kind: 'fatal' });
  });
});

describe('pacing', () => {
  it('sends at most max requests per interval, counting a request until one interval after its response', async () => {
    const { limiter, elapsed } = harness({ max: 3, intervalMs: 1_000 });
    const sentAt: number[] = [];
    for (let i = 0; i < 7; i += 1) await limiter.run(async () => sentAt.push(elapsed()));
    expect(sentAt).toEqual([0, 0, 0, 1_000, 1_000, 1_000, 2_000]);
  });

  it('holds concurrent callers until in-flight requests finish', async () => {
    const { limiter, clock, elapsed } = harness({ max: 2, intervalMs: 1_000 });
    const requests: { sentAt: number; doneAt: number | null }[] = [];
    const op = async () => {
      const request: { sentAt: number; doneAt: number | null } = { sentAt: elapsed(), doneAt: null };
      requests.push(request);
      await Promise.resolve();
      clock.advance(100);
      request.doneAt = elapsed();
    };
    await Promise.all(Array.from({ length: 6 }, () => limiter.run(op)));
    expect(requests).toHaveLength(6);
    // When each request went out, fewer than 2 earlier ones were in flight or answered less than an interval ago.
    for (const [index, request] of requests.entries()) {
      const occupying = requests
        .slice(0, index)
        .filter((earlier) => earlier.doneAt === null || earlier.doneAt > request.sentAt || earlier.doneAt + 1_000 > request.sentAt);
      expect(occupying.length).toBeLessThan(2);
    }
    expect(requests.map((r) => r.sentAt).slice(0, 2)).toEqual([0, 0]);
    expect(requests[2]?.sentAt).toBeGreaterThanOrEqual(1_100);
    expect(requests[2]?.sentAt).toBeLessThanOrEqual(1_200);
    expect(limiter.stats().requests).toBe(6);
  });

  it('learns Max and Interval from response headers', async () => {
    const { limiter } = harness();
    expect(limiter.limits()).toEqual({ max: 100, intervalMs: 10_000 });
    limiter.observe({ 'x-hubspot-ratelimit-max': '190', 'x-hubspot-ratelimit-interval-milliseconds': '10000', 'x-hubspot-ratelimit-remaining': '190' });
    expect(limiter.limits()).toEqual({ max: 190, intervalMs: 10_000 });
  });

  it('leaves room for other apps that use the same portal', async () => {
    const { limiter, elapsed } = harness({ max: 10, intervalMs: 1_000 });
    limiter.observe({ 'x-hubspot-ratelimit-max': '10', 'x-hubspot-ratelimit-remaining': '4', 'x-hubspot-ratelimit-interval-milliseconds': '1000' });
    expect(limiter.inWindow()).toBe(6);
    const sentAt: number[] = [];
    for (let i = 0; i < 5; i += 1) await limiter.run(async () => sentAt.push(elapsed()));
    expect(sentAt).toEqual([0, 0, 0, 0, 1_000]);
  });

  it('paces search at its own 5 per second', async () => {
    const { limiter, elapsed } = harness();
    const sentAt: number[] = [];
    for (let i = 0; i < 6; i += 1) await limiter.run(async () => sentAt.push(elapsed()), { search: true });
    expect(sentAt).toEqual([0, 0, 0, 0, 0, 1_000]);
  });
});

describe('429 handling', () => {
  it('waits and retries a ten-secondly 429, holding every caller of the portal', async () => {
    const { limiter, elapsed } = harness({ random: () => 1 });
    const attempts: number[] = [];
    const result = await limiter.run(async () => {
      attempts.push(elapsed());
      if (attempts.length === 1) throw rateLimited('TEN_SECONDLY_ROLLING');
      return 'done';
    });
    expect(result).toBe('done');
    // A tenth of the interval, doubled per consecutive 429, with equal jitter (random 1 → the full delay).
    expect(attempts).toEqual([0, 1_000]);
    const other: number[] = [];
    await limiter.run(async () => other.push(elapsed()));
    expect(other).toEqual([1_000]);
    expect(limiter.stats()).toMatchObject({ rateLimited: 1, retries: 1, requests: 3 });
  });

  it('doubles the wait on consecutive 429s and gives up after the configured attempts', async () => {
    const { limiter, elapsed } = harness({ maxRateLimitedAttempts: 4 });
    const attempts: number[] = [];
    const failure = rateLimited('TEN_SECONDLY_ROLLING');
    await expect(
      limiter.run(async () => {
        attempts.push(elapsed());
        throw failure;
      }),
    ).rejects.toBe(failure);
    // random 0: half of 1 s, 2 s, 4 s.
    expect(attempts).toEqual([0, 500, 1_500, 3_500]);
  });

  it('uses the 429 headers: Remaining 0 keeps the window closed for one interval', async () => {
    const { limiter, elapsed } = harness({ max: 100, intervalMs: 10_000 });
    const attempts: number[] = [];
    await limiter.run(async () => {
      attempts.push(elapsed());
      if (attempts.length === 1) {
        throw rateLimited('TEN_SECONDLY_ROLLING', {
          'x-hubspot-ratelimit-max': '100',
          'x-hubspot-ratelimit-remaining': '0',
          'x-hubspot-ratelimit-interval-milliseconds': '10000',
        });
      }
    });
    expect(attempts).toEqual([0, 10_000]);
  });

  it('waits about a second on a SECONDLY 429', async () => {
    const { limiter, elapsed } = harness();
    const attempts: number[] = [];
    await limiter.run(
      async () => {
        attempts.push(elapsed());
        if (attempts.length === 1) throw rateLimited('SECONDLY', {}, 'You have reached your secondly limit.');
      },
      { search: true },
    );
    expect(attempts).toEqual([0, 500]);
  });

  it('pauses a portal in UTC until its next midnight on a DAILY 429 and reports it once', async () => {
    const pauses: Date[] = [];
    const { limiter, clock } = harness({ timeZone: 'UTC', onDailyLimit: (until) => pauses.push(until) });
    const failure = limiter.run(async () => {
      throw rateLimited('DAILY', {}, 'You have reached your daily limit.');
    });
    await expect(failure).rejects.toBeInstanceOf(HubSpotPausedError);
    await expect(failure).rejects.toMatchObject({ code: 'HUBSPOT_PAUSED', until: new Date('2026-03-03T00:00:00.000Z') });
    expect(pauses).toEqual([new Date('2026-03-03T00:00:00.000Z')]);
    expect(limiter.pausedUntil()).toEqual(new Date('2026-03-03T00:00:00.000Z'));

    let calls = 0;
    await expect(limiter.run(async () => (calls += 1))).rejects.toBeInstanceOf(HubSpotPausedError);
    expect(calls).toBe(0);
    expect(pauses).toHaveLength(1);

    clock.set('2026-03-03T00:00:00.000Z');
    await limiter.run(async () => (calls += 1));
    expect(calls).toBe(1);
    expect(limiter.pausedUntil()).toBeNull();
  });

  it('pauses at the portal time zone midnight, and before a 429 when Daily-Remaining says 0', async () => {
    const pauses: Date[] = [];
    const { limiter } = harness({ timeZone: 'America/New_York', onDailyLimit: (until) => pauses.push(until) });
    limiter.observe({ 'x-hubspot-ratelimit-daily': '250000', 'x-hubspot-ratelimit-daily-remaining': '0' });
    expect(pauses).toEqual([new Date('2026-03-03T05:00:00.000Z')]);
    await expect(limiter.run(async () => 'never')).rejects.toBeInstanceOf(HubSpotPausedError);
  });
});

describe('5xx handling', () => {
  it('retries with exponential backoff and jitter', async () => {
    const { limiter, sleeps } = harness({ random: () => 0.5, backoffBaseMs: 500 });
    let calls = 0;
    const result = await limiter.run(async () => {
      calls += 1;
      if (calls <= 2) throw serverError(503);
      return calls;
    });
    expect(result).toBe(3);
    expect(sleeps).toEqual([375, 750]);
    expect(limiter.stats()).toMatchObject({ serverErrors: 2, retries: 2 });
  });

  it('retries network failures the same way', async () => {
    const { limiter } = harness();
    let calls = 0;
    await limiter.run(async () => {
      calls += 1;
      if (calls === 1) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    });
    expect(calls).toBe(2);
  });

  it('throws the last error once the attempts are used up, and never retries a 4xx', async () => {
    const { limiter } = harness({ maxServerErrorAttempts: 3 });
    let calls = 0;
    const last = serverError(502);
    await expect(
      limiter.run(async () => {
        calls += 1;
        throw last;
      }),
    ).rejects.toBe(last);
    expect(calls).toBe(3);

    calls = 0;
    const invalid = new HubSpotApiError(400, {}, '{"status":"error","category":"VALIDATION_ERROR","message":"bad"}');
    await expect(
      limiter.run(async () => {
        calls += 1;
        throw invalid;
      }),
    ).rejects.toBe(invalid);
    expect(calls).toBe(1);
  });
});

describe('nextMidnight', () => {
  it('computes the next local midnight, across daylight saving changes', () => {
    expect(nextMidnight(new Date('2026-03-02T10:00:00Z'))).toEqual(new Date('2026-03-03T00:00:00Z'));
    expect(nextMidnight(new Date('2026-03-02T00:00:00Z'))).toEqual(new Date('2026-03-03T00:00:00Z'));
    expect(nextMidnight(new Date('2026-03-02T03:00:00Z'), 'America/New_York')).toEqual(new Date('2026-03-02T05:00:00Z'));
    // Madrid moves to summer time on 2026-03-29: that day's midnight is UTC+1, the next one UTC+2.
    expect(nextMidnight(new Date('2026-03-28T12:00:00Z'), 'Europe/Madrid')).toEqual(new Date('2026-03-28T23:00:00Z'));
    expect(nextMidnight(new Date('2026-03-28T23:30:00Z'), 'Europe/Madrid')).toEqual(new Date('2026-03-29T22:00:00Z'));
  });
});

describe('RateLimiterRegistry', () => {
  it('keeps one limiter per portal', () => {
    const clock = new FakeClock(START);
    const registry = new RateLimiterRegistry({ clock, sleep: async () => {} });
    expect(registry.for('62515')).toBe(registry.for('62515'));
    expect(registry.for('62515')).not.toBe(registry.for('99887'));
    expect(registry.for('11111', { max: 190 }).limits().max).toBe(190);
  });
});

const dailyLimit = () => rateLimited('DAILY', {}, 'You have reached your daily limit.');

/** Runs one call HubSpot refuses with a DAILY 429; resolves to the pause it caused. */
async function refuseDaily(limiter: PortalRateLimiter): Promise<Date> {
  const failure: unknown = await limiter.run(async () => Promise.reject(dailyLimit())).catch((error: unknown) => error);
  if (!(failure instanceof HubSpotPausedError)) throw new Error('expected HubSpotPausedError');
  return failure.until;
}

describe("the daily limit resets at the portal's midnight", () => {
  it('holds a Los Angeles portal refused at 17:00Z until 08:00Z in winter, not until UTC midnight', async () => {
    const { limiter, clock } = harness({ timeZone: 'America/Los_Angeles' }, '2026-03-02T17:00:00.000Z');
    expect(await refuseDaily(limiter)).toEqual(new Date('2026-03-03T08:00:00.000Z'));

    clock.set('2026-03-03T00:00:00.000Z');
    let calls = 0;
    await expect(limiter.run(async () => (calls += 1))).rejects.toBeInstanceOf(HubSpotPausedError);
    expect(calls).toBe(0);

    clock.set('2026-03-03T08:00:00.000Z');
    await limiter.run(async () => (calls += 1));
    expect(calls).toBe(1);
    expect(limiter.pausedUntil()).toBeNull();
  });

  it('holds it until 07:00Z in summer time', async () => {
    const { limiter } = harness({ timeZone: 'America/Los_Angeles' }, '2026-07-01T17:00:00.000Z');
    expect(await refuseDaily(limiter)).toEqual(new Date('2026-07-02T07:00:00.000Z'));
  });

  it('learns the zone after it was made: a pause already in force moves to that midnight, later or earlier', async () => {
    const pauses: Date[] = [];
    const { limiter, clock } = harness({ onDailyLimit: (until) => pauses.push(until) }, '2026-03-02T17:00:00.000Z');
    expect(limiter.knownTimeZone()).toBeNull();
    expect(await refuseDaily(limiter)).toEqual(new Date('2026-03-02T18:00:00.000Z'));
    clock.set('2026-03-02T17:30:00.000Z');
    limiter.setTimeZone('America/Los_Angeles');
    expect(limiter.knownTimeZone()).toBe('America/Los_Angeles');
    expect(limiter.pausedUntil()).toEqual(new Date('2026-03-03T08:00:00.000Z'));
    // Moving a pause is not a new one.
    expect(pauses).toEqual([new Date('2026-03-02T18:00:00.000Z')]);
    // A later pause is computed in the zone at once.
    clock.set('2026-03-04T17:00:00.000Z');
    expect(await refuseDaily(limiter)).toEqual(new Date('2026-03-05T08:00:00.000Z'));

    // A pause computed in UTC does not outlive the portal's own midnight (Tokyo: 15:00Z).
    const tokyo = harness({ timeZone: 'UTC' }, '2026-03-02T10:00:00.000Z');
    expect(await refuseDaily(tokyo.limiter)).toEqual(new Date('2026-03-03T00:00:00.000Z'));
    tokyo.limiter.setTimeZone('Asia/Tokyo');
    expect(tokyo.limiter.pausedUntil()).toEqual(new Date('2026-03-02T15:00:00.000Z'));
  });

  it("ends the pause at once when the portal's midnight has already passed", async () => {
    const { limiter, clock } = harness({ timeZone: 'UTC' }, '2026-03-02T14:00:00.000Z');
    await refuseDaily(limiter);
    clock.set('2026-03-02T15:30:00.000Z');
    limiter.setTimeZone('Asia/Tokyo');
    expect(limiter.pausedUntil()).toBeNull();
    expect(await limiter.run(async () => 'sent')).toBe('sent');
  });

  it('without the zone, asks HubSpot again hourly until it accepts; each refusal pauses again', async () => {
    const pauses: Date[] = [];
    const { limiter, clock } = harness({ onDailyLimit: (until) => pauses.push(until) }, '2026-03-02T17:00:00.000Z');
    expect(await refuseDaily(limiter)).toEqual(new Date('2026-03-02T18:00:00.000Z'));
    let calls = 0;
    clock.set('2026-03-02T17:59:59.000Z');
    await expect(limiter.run(async () => (calls += 1))).rejects.toBeInstanceOf(HubSpotPausedError);
    expect(calls).toBe(0);

    clock.set('2026-03-02T18:00:00.000Z');
    expect(await refuseDaily(limiter)).toEqual(new Date('2026-03-02T19:00:00.000Z'));
    // Refusals of calls already in flight keep the pause in force.
    limiter.observe({ 'x-hubspot-ratelimit-daily-remaining': '0' });
    expect(limiter.pausedUntil()).toEqual(new Date('2026-03-02T19:00:00.000Z'));
    expect(pauses).toEqual([new Date('2026-03-02T18:00:00.000Z'), new Date('2026-03-02T19:00:00.000Z')]);

    clock.set('2026-03-02T19:00:00.000Z');
    await limiter.run(async () => (calls += 1));
    expect(calls).toBe(1);
  });

  it('without the zone, never pauses past UTC midnight', () => {
    expect(dailyLimitPauseEnd(new Date('2026-03-02T23:30:00.000Z'), null)).toEqual(new Date('2026-03-03T00:00:00.000Z'));
    expect(dailyLimitPauseEnd(new Date('2026-03-02T17:00:00.000Z'), null)).toEqual(new Date('2026-03-02T18:00:00.000Z'));
    expect(dailyLimitPauseEnd(new Date('2026-03-02T17:00:00.000Z'), 'America/Los_Angeles')).toEqual(new Date('2026-03-03T08:00:00.000Z'));
  });

  it('refuses a zone the runtime does not know, keeping the one it had', () => {
    const { limiter } = harness({ timeZone: 'Europe/Madrid' });
    expect(() => limiter.setTimeZone('Mars/Olympus_Mons')).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED', issues: [expect.objectContaining({ path: 'timeZone' })] }));
    expect(limiter.knownTimeZone()).toBe('Europe/Madrid');
  });
});

describe('requests that are not safe to send twice', () => {
  const badGateway = () => new HubSpotApiError(502, {}, '<html><body><h1>502</h1></body></html>');

  it('fail at once on a 5xx, saying the outcome is unknown', async () => {
    const { limiter, sleeps } = harness();
    let calls = 0;
    const answered = badGateway();
    const failure: unknown = await limiter
      .run(async () => {
        calls += 1;
        throw answered;
      }, { repeatable: false })
      .catch((error: unknown) => error);
    expect(calls).toBe(1);
    expect(sleeps).toEqual([]);
    expect(failure).toBeInstanceOf(HubSpotOutcomeUnknownError);
    expect(failure).toMatchObject({ code: 'HUBSPOT_OUTCOME_UNKNOWN', status: 502, cause: answered });
    expect(String(failure)).toMatch(/HubSpot answered 502 .*whether HubSpot carried it out is unknown/);
    // The caller tries again later, after reading back what is there.
    expect(classifyFailure(failure)).toEqual({ kind: 'server_error', status: 502 });
  });

  it('fail at once when no answer came', async () => {
    const { limiter } = harness();
    let calls = 0;
    const failure = limiter.run(
      async () => {
        calls += 1;
        throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      },
      { repeatable: false },
    );
    await expect(failure).rejects.toBeInstanceOf(HubSpotOutcomeUnknownError);
    await expect(failure).rejects.toMatchObject({ status: null, message: expect.stringContaining('no answer from HubSpot (socket hang up)') });
    expect(calls).toBe(1);
  });

  it('are still retried after a 429: HubSpot did not carry them out', async () => {
    const { limiter } = harness();
    let calls = 0;
    const result = await limiter.run(
      async () => {
        calls += 1;
        if (calls === 1) throw rateLimited('TEN_SECONDLY_ROLLING');
        if (calls === 2) throw rateLimited('SECONDLY', {}, 'You have reached your secondly limit.');
        return 'created';
      },
      { repeatable: false },
    );
    expect(result).toBe('created');
    expect(calls).toBe(3);
    await expect(limiter.run(async () => Promise.reject(dailyLimit()), { repeatable: false })).rejects.toBeInstanceOf(HubSpotPausedError);
  });

  it('keep a refusal as HubSpot gave it', async () => {
    const { limiter } = harness();
    const conflict = new HubSpotApiError(409, {}, '{"status":"error","category":"OBJECT_ALREADY_EXISTS","message":"Property named x already exists"}');
    await expect(limiter.run(async () => Promise.reject(conflict), { repeatable: false })).rejects.toBe(conflict);
  });

  it('other requests are retried on a 5xx as before', async () => {
    const { limiter } = harness();
    let calls = 0;
    expect(
      await limiter.run(async () => {
        calls += 1;
        if (calls === 1) throw badGateway();
        return calls;
      }),
    ).toBe(2);
  });
});

describe('nextMidnight where the clocks jump forward at midnight', () => {
  // Chile's DST starts on the first Sunday of September at 24:00 (00:00 becomes 01:00, UTC-4 → UTC-3).
  it('is the first minute of the next day (01:00), not an hour of the day before', () => {
    expect(nextMidnight(new Date('2026-09-05T15:00:00.000Z'), 'America/Santiago').toISOString()).toBe('2026-09-06T04:00:00.000Z');
    expect(nextMidnight(new Date('2026-09-06T03:10:00.000Z'), 'America/Santiago').toISOString()).toBe('2026-09-06T04:00:00.000Z');
  });

  it('is after the instant it is asked for and at the start of a local day, in every zone HubSpot may name, on every day of a year', () => {
    const zones = ['America/Santiago', 'America/Asuncion', 'America/Havana', 'America/Los_Angeles', 'Europe/Madrid', 'Asia/Kathmandu', 'Australia/Lord_Howe', 'UTC'];
    const dayStart = (at: Date, zone: string) =>
      new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', hour: 'numeric', minute: 'numeric' }).format(at);
    for (const zone of zones) {
      for (let day = 0; day < 366; day += 1) {
        const asked = new Date(Date.UTC(2026, 0, 1) + day * 86_400_000 + 7 * 3_600_000 + 13 * 60_000);
        const reset = nextMidnight(asked, zone);
        expect(reset.getTime(), `${zone} ${asked.toISOString()}`).toBeGreaterThan(asked.getTime());
        expect(reset.getTime() - asked.getTime(), `${zone} ${asked.toISOString()}`).toBeLessThanOrEqual(26 * 3_600_000);
        expect(['00:00', '01:00'], `${zone} ${reset.toISOString()}`).toContain(dayStart(reset, zone));
        expect(dayStart(new Date(reset.getTime() - 60_000), zone) >= '23:00', `${zone}: the minute before ${reset.toISOString()} is the day before`).toBe(true);
      }
    }
  });
});

import { ConsentryError } from '../../src/core/errors.js';
import type { Clock } from '../../src/ports/clock.js';
import { HubSpotApiError, HubSpotPausedError } from './errors.js';

/**
 * HubSpot rate limits (DESIGN §6; https://developers.hubspot.com/docs/api/usage-details):
 * private apps 100 requests / 10 s (Free, Starter) or 190 (Professional, Enterprise); public
 * OAuth apps 110 / 10 s per account; search 5 requests / s. Responses carry
 * X-HubSpot-RateLimit-Max, -Remaining and -Interval-Milliseconds (and -Daily, -Daily-Remaining
 * for some apps); a 429 body names the exhausted limit in `policyName`. No Retry-After is
 * documented, so the waits below are the connector's own.
 */
export const DEFAULT_MAX_REQUESTS = 100;
export const DEFAULT_INTERVAL_MS = 10_000;
export const SEARCH_MAX_REQUESTS = 5;
export const SEARCH_INTERVAL_MS = 1_000;

export const RATE_LIMIT_POLICIES = ['TEN_SECONDLY_ROLLING', 'SECONDLY', 'DAILY'] as const;
export type RateLimitPolicy = (typeof RATE_LIMIT_POLICIES)[number];

/** What the search API answers when its per-second limit is hit; some of these bodies carry no policyName. */
const SECONDLY_LIMIT_MESSAGE = 'You have reached your secondly limit.';

export interface RateLimitHeaders {
  max: number | null;
  remaining: number | null;
  intervalMs: number | null;
  daily: number | null;
  dailyRemaining: number | null;
}

function headerNumber(headers: Readonly<Record<string, string | undefined>>, name: string): number | null {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name || value === undefined) continue;
    const trimmed = value.trim();
    if (!/^\d+$/.test(trimmed)) return null;
    return Number(trimmed);
  }
  return null;
}

export function readRateLimitHeaders(headers: Readonly<Record<string, string | undefined>>): RateLimitHeaders {
  return {
    max: headerNumber(headers, 'x-hubspot-ratelimit-max'),
    remaining: headerNumber(headers, 'x-hubspot-ratelimit-remaining'),
    intervalMs: headerNumber(headers, 'x-hubspot-ratelimit-interval-milliseconds'),
    daily: headerNumber(headers, 'x-hubspot-ratelimit-daily'),
    dailyRemaining: headerNumber(headers, 'x-hubspot-ratelimit-daily-remaining'),
  };
}

export type FailureClass =
  | { kind: 'rate_limited'; policy: 'TEN_SECONDLY_ROLLING' | 'SECONDLY' }
  | { kind: 'daily_limit' }
  | { kind: 'server_error'; status: number | null }
  | { kind: 'fatal' };

/** Node's network failures (node-fetch wraps them as FetchError with type "system"). */
function isNetworkError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = 'code' in error && typeof error.code === 'string' ? error.code : '';
  const type = 'type' in error && typeof error.type === 'string' ? error.type : '';
  return type === 'system' || type === 'request-timeout' || /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EAI_AGAIN|UND_ERR_SOCKET)$/.test(code);
}

/**
 * A request that is not safe to send twice (it creates something) got a 5xx or no answer at all:
 * HubSpot may have carried it out before the answer was lost, so it is not sent again. Whoever made
 * it reads back what is there before trying again (a rerun of the install plans from what the
 * portal has; the sync lists the properties again).
 */
export class HubSpotOutcomeUnknownError extends Error {
  readonly code = 'HUBSPOT_OUTCOME_UNKNOWN';
  /** HubSpot's 5xx status, or null when no answer came (connection lost, timeout). */
  readonly status: number | null;

  constructor(cause: unknown) {
    const status = cause instanceof HubSpotApiError ? cause.status : null;
    const answer = status !== null ? `HubSpot answered ${status}` : `no answer from HubSpot (${cause instanceof Error ? cause.message : String(cause)})`;
    super(`${answer} to a request that is not safe to send twice: whether HubSpot carried it out is unknown, so it was not sent again`, { cause });
    this.name = 'HubSpotOutcomeUnknownError';
    this.status = status;
  }
}

export function classifyFailure(error: unknown): FailureClass {
  // Not sent again by the limiter; the caller's own next attempt reads back what is there first.
  if (error instanceof HubSpotOutcomeUnknownError) return { kind: 'server_error', status: error.status };
  if (error instanceof HubSpotApiError) {
    if (error.status === 429) {
      if (error.policyName === 'DAILY') return { kind: 'daily_limit' };
      const secondly = error.policyName === 'SECONDLY' || (error.policyName === null && error.message.endsWith(SECONDLY_LIMIT_MESSAGE));
      return { kind: 'rate_limited', policy: secondly ? 'SECONDLY' : 'TEN_SECONDLY_ROLLING' };
    }
    if (error.status >= 500) return { kind: 'server_error', status: error.status };
    return { kind: 'fatal' };
  }
  return isNetworkError(error) ? { kind: 'server_error', status: null } : { kind: 'fatal' };
}

function zonedParts(at: number, timeZone: string): { year: number; month: number; day: number; hour: number; minute: number; second: number } {
  const formatter = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  const parts: Record<string, number> = {};
  for (const part of formatter.formatToParts(new Date(at))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  return {
    year: parts.year ?? 1970,
    month: parts.month ?? 1,
    day: parts.day ?? 1,
    hour: parts.hour ?? 0,
    minute: parts.minute ?? 0,
    second: parts.second ?? 0,
  };
}

function zoneOffsetMs(at: number, timeZone: string): number {
  const p = zonedParts(at, timeZone);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - (at - (((at % 1000) + 1000) % 1000));
}

/**
 * The first instant of the next day in `timeZone` (IANA): its midnight, or, where the clocks jump
 * forward at midnight (America/Santiago, America/Asuncion, America/Havana), the first minute the
 * day has (01:00), never an instant of the day before.
 */
export function nextMidnight(now: Date, timeZone = 'UTC'): Date {
  const today = zonedParts(now.getTime(), timeZone);
  const localMidnightAsUtc = Date.UTC(today.year, today.month - 1, today.day + 1);
  let at = localMidnightAsUtc - zoneOffsetMs(localMidnightAsUtc, timeZone);
  at = localMidnightAsUtc - zoneOffsetMs(at, timeZone);
  const isNextDay = (instant: number): boolean => {
    const p = zonedParts(instant, timeZone);
    return Date.UTC(p.year, p.month - 1, p.day) >= localMidnightAsUtc;
  };
  // A clock change skipped the local midnight: walk to the day's first minute (a gap is at most hours).
  for (let step = 0; step < 24 * 60 && !isNextDay(at); step += 1) at = Math.floor(at / 60_000) * 60_000 + 60_000;
  return new Date(at);
}

/** How soon a portal whose time zone is unknown is asked again once its daily limit is used up. */
export const UNKNOWN_ZONE_PROBE_MS = 60 * 60 * 1000;

/**
 * When a daily-limit pause ends. "The daily limit resets at midnight based on your time zone
 * setting" (https://developers.hubspot.com/docs/api/usage-details): the portal's time zone, read
 * from GET /account-info/v3/details (https://developers.hubspot.com/docs/api/settings/account-information-api).
 * Without it (the call failed, or was not made yet) the reset may come at any hour: the pause ends
 * at the earlier of UTC midnight and one hour later, so HubSpot is asked again hourly until it
 * accepts again, and a further DAILY 429 pauses again. Waiting for UTC midnight alone would hold a
 * portal west of UTC refused again after it (Los Angeles resets at 08:00Z) until the next one.
 */
export function dailyLimitPauseEnd(refusedAt: Date, timeZone: string | null): Date {
  if (timeZone !== null) return nextMidnight(refusedAt, timeZone);
  return new Date(Math.min(nextMidnight(refusedAt, 'UTC').getTime(), refusedAt.getTime() + UNKNOWN_ZONE_PROBE_MS));
}

/** Whether the runtime's time-zone data knows `timeZone` (an IANA name). */
export function isKnownTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

function assertTimeZone(timeZone: string): void {
  if (!isKnownTimeZone(timeZone)) {
    throw new ConsentryError('VALIDATION_FAILED', `unknown time zone ${JSON.stringify(timeZone)}`, [{ path: 'timeZone', message: 'must be an IANA time zone' }]);
  }
}

export interface RunOptions {
  /** Paced by the search endpoints' own limit as well. */
  search?: boolean;
  /**
   * false for a request that must not be sent twice (it creates something): a 5xx or a lost answer
   * then fails at once with HubSpotOutcomeUnknownError. 429s are retried all the same: HubSpot did
   * not carry out a request over its limit (https://developers.hubspot.com/docs/api/usage-details).
   */
  repeatable?: boolean;
}

export interface RateLimiterOptions {
  clock: Clock;
  /** Resolves after `ms` on the limiter's clock; tests pass one that advances a FakeClock. */
  sleep: (ms: number) => Promise<void>;
  random?: () => number;
  /** Starting limit until response headers say otherwise. */
  max?: number;
  intervalMs?: number;
  searchMax?: number;
  searchIntervalMs?: number;
  /** Attempts in all (first try included) for 5xx and network failures. */
  maxServerErrorAttempts?: number;
  /** Attempts in all for 429s of the ten-secondly and secondly limits. */
  maxRateLimitedAttempts?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** The portal's time zone (IANA), where its daily limit resets; unknown when absent (see dailyLimitPauseEnd). */
  timeZone?: string;
  /** Called once when the daily limit pauses the portal (not when setTimeZone moves the pause), so the dispatcher can raise `sync.failed`. */
  onDailyLimit?: (until: Date) => void;
}

interface Slot {
  sentAt: number;
  /** When the response arrived; null while in flight. */
  doneAt: number | null;
  search: boolean;
}

export interface RateLimiterStats {
  requests: number;
  rateLimited: number;
  serverErrors: number;
  retries: number;
}

export const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One portal's limiter. HubSpot counts requests in a rolling window as they arrive; the
 * limiter cannot see arrival, so a request occupies a place from the moment it is sent until one
 * interval after its response came back, which is never shorter than HubSpot's count. Other apps
 * on the same portal share the limit: when a response reports fewer remaining requests than our
 * own count explains, the difference is held as placeholders for one interval.
 */
export class PortalRateLimiter {
  private readonly clock: Clock;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly searchMax: number;
  private readonly searchIntervalMs: number;
  private readonly maxServerErrorAttempts: number;
  private readonly maxRateLimitedAttempts: number;
  private readonly backoffBaseMs: number;
  private readonly backoffCapMs: number;
  private timeZone: string | null;
  private readonly onDailyLimit: ((until: Date) => void) | undefined;

  private max: number;
  private intervalMs: number;
  private slots: Slot[] = [];
  /** Expiry times of places taken by other apps on the portal. */
  private placeholders: number[] = [];
  private blockedUntil = 0;
  private paused: number | null = null;
  /** When the daily limit was last seen used up (a DAILY 429, or Daily-Remaining 0). */
  private dailyLimitSeenAt: number | null = null;
  private waiters: (() => void)[] = [];
  private readonly counters: RateLimiterStats = { requests: 0, rateLimited: 0, serverErrors: 0, retries: 0 };

  constructor(options: RateLimiterOptions) {
    this.clock = options.clock;
    this.sleep = options.sleep;
    this.random = options.random ?? Math.random;
    this.max = options.max ?? DEFAULT_MAX_REQUESTS;
    this.intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
    this.searchMax = options.searchMax ?? SEARCH_MAX_REQUESTS;
    this.searchIntervalMs = options.searchIntervalMs ?? SEARCH_INTERVAL_MS;
    this.maxServerErrorAttempts = options.maxServerErrorAttempts ?? 5;
    this.maxRateLimitedAttempts = options.maxRateLimitedAttempts ?? 8;
    this.backoffBaseMs = options.backoffBaseMs ?? 500;
    this.backoffCapMs = options.backoffCapMs ?? 30_000;
    if (options.timeZone !== undefined) assertTimeZone(options.timeZone);
    this.timeZone = options.timeZone ?? null;
    this.onDailyLimit = options.onDailyLimit;
  }

  limits(): { max: number; intervalMs: number } {
    return { max: this.max, intervalMs: this.intervalMs };
  }

  stats(): RateLimiterStats {
    return { ...this.counters };
  }

  /** Requests counted against the window right now (ours, in flight or recent, plus other apps'). */
  inWindow(): number {
    this.prune(this.now());
    return this.slots.length + this.placeholders.length;
  }

  pausedUntil(): Date | null {
    if (this.paused !== null && this.now() >= this.paused) this.paused = null;
    return this.paused === null ? null : new Date(this.paused);
  }

  /** The portal's time zone as far as the limiter knows it; null while unknown. */
  knownTimeZone(): string | null {
    return this.timeZone;
  }

  /**
   * Learns the portal's time zone, e.g. once the account details were read after the limiter was
   * made. A pause in force is moved to the zone's next midnight after the daily limit was last
   * seen used up: HubSpot accepts again then, whatever the pause was computed from. When that
   * midnight has passed, the pause ends now.
   */
  setTimeZone(timeZone: string): void {
    assertTimeZone(timeZone);
    this.timeZone = timeZone;
    if (this.pausedUntil() === null || this.dailyLimitSeenAt === null) return;
    const until = dailyLimitPauseEnd(new Date(this.dailyLimitSeenAt), timeZone).getTime();
    this.paused = until > this.now() ? until : null;
  }

  /** Learns the portal's limits from any HubSpot response's headers. */
  observe(headers: Readonly<Record<string, string | undefined>>): void {
    const limits = readRateLimitHeaders(headers);
    if (limits.max !== null && limits.max > 0) this.max = limits.max;
    if (limits.intervalMs !== null && limits.intervalMs > 0) this.intervalMs = limits.intervalMs;
    const now = this.now();
    if (limits.dailyRemaining === 0) this.pause(now);
    if (limits.remaining === null) return;
    this.prune(now);
    const usedByOthers = this.max - limits.remaining - this.slots.length;
    let held = this.placeholders.length;
    while (held < usedByOthers) {
      this.placeholders.push(now + this.intervalMs);
      held += 1;
    }
  }

  /**
   * Runs one HubSpot call inside the limit, retrying 429s of the short limits after a wait that
   * holds every caller of this portal, and 5xx / network failures with exponential backoff and
   * jitter, unless the call is not `repeatable` (then HubSpotOutcomeUnknownError at once). A
   * daily-limit 429 pauses the portal (see dailyLimitPauseEnd) and throws HubSpotPausedError;
   * other failures, and retries used up, throw the last error.
   */
  async run<T>(operation: () => Promise<T>, options: RunOptions = {}): Promise<T> {
    const search = options.search === true;
    const repeatable = options.repeatable !== false;
    let serverErrors = 0;
    let rateLimited = 0;
    for (;;) {
      const slot = await this.acquire(search);
      try {
        const result = await operation();
        this.release(slot);
        return result;
      } catch (error) {
        this.release(slot);
        if (error instanceof HubSpotApiError) this.observe(error.headers);
        if (error instanceof HubSpotOutcomeUnknownError) throw error;
        const failure = classifyFailure(error);
        if (failure.kind === 'fatal') throw error;
        if (failure.kind === 'daily_limit') {
          this.counters.rateLimited += 1;
          throw new HubSpotPausedError(this.pause(this.now()));
        }
        if (failure.kind === 'rate_limited') {
          this.counters.rateLimited += 1;
          rateLimited += 1;
          if (rateLimited >= this.maxRateLimitedAttempts) throw error;
          const base = failure.policy === 'SECONDLY' ? this.searchIntervalMs : this.intervalMs / 10;
          const wait = this.jittered(Math.min(this.intervalMs, base * 2 ** (rateLimited - 1)));
          this.blockedUntil = Math.max(this.blockedUntil, this.now() + wait);
        } else {
          this.counters.serverErrors += 1;
          if (!repeatable) throw new HubSpotOutcomeUnknownError(error);
          serverErrors += 1;
          if (serverErrors >= this.maxServerErrorAttempts) throw error;
          await this.sleep(this.jittered(Math.min(this.backoffCapMs, this.backoffBaseMs * 2 ** (serverErrors - 1))));
        }
        this.counters.retries += 1;
      }
    }
  }

  /** Equal jitter: at least half the delay, so retries from many callers spread without firing at once. */
  private jittered(delay: number): number {
    return Math.round(delay / 2 + this.random() * (delay / 2));
  }

  private now(): number {
    return this.clock.now().getTime();
  }

  /**
   * A pause in force is kept (refusals of calls that were in flight say nothing new), or lengthened
   * to the zone's midnight when that comes later; without the zone, its end is already the next
   * time HubSpot is asked.
   */
  private pause(now: number): Date {
    this.dailyLimitSeenAt = now;
    const computed = dailyLimitPauseEnd(new Date(now), this.timeZone).getTime();
    // A pause that would end before it began would let every caller through to be refused again.
    const until = computed > now ? computed : now + UNKNOWN_ZONE_PROBE_MS;
    const inForce = this.paused !== null && this.paused > now ? this.paused : null;
    if (inForce !== null && (this.timeZone === null || inForce >= until)) return new Date(inForce);
    this.paused = until;
    this.onDailyLimit?.(new Date(until));
    return new Date(until);
  }

  private prune(now: number): void {
    this.slots = this.slots.filter((s) => s.doneAt === null || s.doneAt + this.intervalMs > now);
    this.placeholders = this.placeholders.filter((expiry) => expiry > now);
  }

  /** 0 when a request may go now; Infinity when only an in-flight response can free a place. */
  private waitMs(now: number, search: boolean): number {
    if (this.blockedUntil > now) return this.blockedUntil - now;
    this.prune(now);
    let wait = 0;
    if (this.slots.length + this.placeholders.length >= this.max) {
      const expiries = [
        ...this.slots.flatMap((s) => (s.doneAt === null ? [] : [s.doneAt + this.intervalMs])),
        ...this.placeholders,
      ];
      wait = expiries.length === 0 ? Number.POSITIVE_INFINITY : Math.min(...expiries) - now;
    }
    if (search) {
      const recent = this.slots.filter((s) => s.search && (s.doneAt === null || s.doneAt + this.searchIntervalMs > now));
      if (recent.length >= this.searchMax) {
        const expiries = recent.flatMap((s) => (s.doneAt === null ? [] : [s.doneAt + this.searchIntervalMs]));
        wait = Math.max(wait, expiries.length === 0 ? Number.POSITIVE_INFINITY : Math.min(...expiries) - now);
      }
    }
    return wait;
  }

  private async acquire(search: boolean): Promise<Slot> {
    for (;;) {
      const now = this.now();
      const paused = this.pausedUntil();
      if (paused !== null) throw new HubSpotPausedError(paused);
      const wait = this.waitMs(now, search);
      if (wait <= 0) {
        const slot: Slot = { sentAt: now, doneAt: null, search };
        this.slots.push(slot);
        this.counters.requests += 1;
        return slot;
      }
      if (wait === Number.POSITIVE_INFINITY) {
        await new Promise<void>((resolve) => this.waiters.push(resolve));
      } else {
        await this.sleep(wait);
      }
    }
  }

  private release(slot: Slot): void {
    slot.doneAt = this.now();
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** One limiter per portal: HubSpot's limits are per account, shared by every call to it. */
export class RateLimiterRegistry {
  private readonly limiters = new Map<string, PortalRateLimiter>();

  constructor(private readonly defaults: RateLimiterOptions) {}

  for(portalId: string, overrides: Partial<RateLimiterOptions> = {}): PortalRateLimiter {
    let limiter = this.limiters.get(portalId);
    if (limiter === undefined) {
      limiter = new PortalRateLimiter({ ...this.defaults, ...overrides });
      this.limiters.set(portalId, limiter);
    }
    return limiter;
  }
}

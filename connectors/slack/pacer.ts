import { ConsentryError } from '../../src/core/errors.js';
import type { Clock } from '../../src/ports/clock.js';

/**
 * Decides what the Slack dispatcher sends, and when. It does no I/O and never sleeps: the
 * dispatcher asks `poll()` for the next step, makes the Web API call, and reports the result.
 *
 * Slack's contract (https://docs.slack.dev/apis/web-api/rate-limits):
 * - chat.postMessage allows about one message per second per channel (short bursts tolerated, with
 *   no guarantee), so each channel gets at most one call per `minIntervalMs`;
 * - a rate-limited call answers HTTP 429 with `Retry-After` in seconds; the channel (or the whole
 *   workspace, when the limit is the method's tier) waits that long before the next call.
 * A burst becomes one digest (DESIGN §6): once more than `digestThreshold` alerts arrived for a
 * channel within `digestWindowMs`, further alerts fold into one digest message that is posted once
 * and then edited in place with chat.update.
 */

export interface PacerOptions {
  clock: Clock;
  /** Minimum gap between two calls in one channel. */
  minIntervalMs?: number;
  /** Alerts per channel within `digestWindowMs` that are still posted one by one. */
  digestThreshold?: number;
  /** The window for counting a burst; a digest also stays open this long after its last alert. */
  digestWindowMs?: number;
  /** Items a digest keeps (the newest); `total` still counts all of them. */
  digestItemLimit?: number;
}

export interface DigestSnapshot<T> {
  digestId: number;
  items: readonly T[];
  total: number;
  openedAt: Date;
  lastFoldAt: Date;
}

export type PacerStep<T> =
  | { kind: 'post'; stepId: number; channel: string; item: T }
  | { kind: 'post_digest'; stepId: number; channel: string; digest: DigestSnapshot<T> }
  | { kind: 'update_digest'; stepId: number; channel: string; ts: string; digest: DigestSnapshot<T> };

export type PacerPoll<T> =
  | { kind: 'send'; step: PacerStep<T> }
  /** Nothing may be sent before `until`. */
  | { kind: 'wait'; until: Date }
  /** Nothing to send until something is enqueued or an in-flight step is reported. */
  | { kind: 'idle' };

export type EnqueueOutcome = 'queued' | 'digested';

interface Digest<T> {
  id: number;
  items: T[];
  total: number;
  openedAt: number;
  lastFoldAt: number;
  ts: string | null;
  state: 'queued' | 'posting' | 'posted' | 'dropped';
  /** Items were folded in since the last post or update that went out. */
  dirty: boolean;
}

type QueueEntry<T> = { type: 'item'; item: T } | { type: 'digest'; digest: Digest<T> };

interface ChannelState<T> {
  queue: QueueEntry<T>[];
  arrivals: number[];
  digests: Digest<T>[];
  current: Digest<T> | null;
  lastCallAt: number | null;
  pausedUntil: number;
  inFlight: number | null;
}

export class AlertPacer<T> {
  private readonly clock: Clock;
  private readonly minIntervalMs: number;
  private readonly digestThreshold: number;
  private readonly digestWindowMs: number;
  private readonly digestItemLimit: number;
  private readonly channels = new Map<string, ChannelState<T>>();
  private readonly inFlight = new Map<number, { step: PacerStep<T>; digest: Digest<T> | null }>();
  private workspacePausedUntil = 0;
  private nextStepId = 1;
  private nextDigestId = 1;

  constructor(options: PacerOptions) {
    this.clock = options.clock;
    this.minIntervalMs = options.minIntervalMs ?? 1000;
    this.digestThreshold = options.digestThreshold ?? 10;
    this.digestWindowMs = options.digestWindowMs ?? 60_000;
    this.digestItemLimit = options.digestItemLimit ?? 200;
    if (!Number.isInteger(this.digestThreshold) || this.digestThreshold < 1) {
      const message = 'digestThreshold must be a whole number of at least 1';
      throw new ConsentryError('VALIDATION_FAILED', message, [{ path: 'digestThreshold', message }]);
    }
  }

  /** Accepts an alert for `channel`: sent on its own, or folded into the channel's digest. */
  enqueue(channel: string, item: T): EnqueueOutcome {
    const now = this.now();
    const state = this.channel(channel);
    state.arrivals.push(now);
    while (state.arrivals.length > 0 && (state.arrivals[0] ?? now) <= now - this.digestWindowMs) state.arrivals.shift();

    if (state.arrivals.length <= this.digestThreshold) {
      state.queue.push({ type: 'item', item });
      return 'queued';
    }

    let digest = state.current;
    if (!digest || digest.state === 'dropped' || digest.lastFoldAt <= now - this.digestWindowMs) {
      digest = {
        id: this.nextDigestId++,
        items: [],
        total: 0,
        openedAt: now,
        lastFoldAt: now,
        ts: null,
        state: 'queued',
        dirty: false,
      };
      state.current = digest;
      state.digests.push(digest);
      state.queue.push({ type: 'digest', digest });
    }
    digest.items.push(item);
    if (digest.items.length > this.digestItemLimit) digest.items.shift();
    digest.total += 1;
    digest.lastFoldAt = now;
    if (digest.state !== 'queued') digest.dirty = true;
    return 'digested';
  }

  /** The next call to make, or how long to wait. Each `send` must be reported with one record* call. */
  poll(): PacerPoll<T> {
    const now = this.now();
    let readyChannel: string | null = null;
    let readyAt = Number.POSITIVE_INFINITY;
    for (const [name, state] of this.channels) {
      if (state.inFlight !== null || !this.hasWork(state)) continue;
      const at = this.readyAt(state);
      if (at < readyAt) {
        readyAt = at;
        readyChannel = name;
      }
    }
    if (readyChannel === null) return { kind: 'idle' };
    if (readyAt > now) return { kind: 'wait', until: new Date(readyAt) };

    const state = this.channel(readyChannel);
    const step = this.takeStep(readyChannel, state);
    state.inFlight = step.step.stepId;
    state.lastCallAt = now;
    this.inFlight.set(step.step.stepId, step);
    return { kind: 'send', step: step.step };
  }

  /** The call succeeded; `ts` is the message's timestamp (for a digest, the one later updates edit). */
  recordSent(step: PacerStep<T>, result: { ts: string }): void {
    const entry = this.finish(step);
    if (entry.digest && step.kind === 'post_digest') {
      entry.digest.ts = result.ts;
      entry.digest.state = 'posted';
    }
    this.cleanUp(step.channel);
  }

  /**
   * Slack answered 429: nothing is lost, the step goes back to the front, and the channel (or, for
   * `scope: 'workspace'`, every channel) waits `retryAfterSeconds`.
   */
  recordRateLimited(step: PacerStep<T>, retryAfterSeconds: number, scope: 'channel' | 'workspace' = 'channel'): void {
    const entry = this.finish(step);
    const until = this.now() + Math.max(0, retryAfterSeconds) * 1000;
    const state = this.channel(step.channel);
    if (scope === 'workspace') this.workspacePausedUntil = Math.max(this.workspacePausedUntil, until);
    else state.pausedUntil = Math.max(state.pausedUntil, until);
    this.putBack(step, entry.digest, state);
  }

  /** Any other failure: `retry` puts the step back at the front, otherwise it is dropped. */
  recordFailed(step: PacerStep<T>, options: { retry: boolean }): void {
    const entry = this.finish(step);
    const state = this.channel(step.channel);
    if (options.retry) {
      this.putBack(step, entry.digest, state);
    } else if (entry.digest && step.kind === 'post_digest') {
      entry.digest.state = 'dropped';
      if (state.current === entry.digest) state.current = null;
    }
    this.cleanUp(step.channel);
  }

  /**
   * Replaces every item still waiting: queued on its own or listed in a digest not yet forgotten,
   * so what is sent later shows the replacement (an alert whose contact was erased). A step
   * already handed out by `poll()` keeps its items, and so does a step put back after it.
   */
  mapItems(map: (item: T) => T): void {
    const digests = new Set<Digest<T>>();
    for (const state of this.channels.values()) {
      state.queue = state.queue.map((entry) => (entry.type === 'item' ? { type: 'item', item: map(entry.item) } : entry));
      for (const entry of state.queue) if (entry.type === 'digest') digests.add(entry.digest);
      for (const digest of state.digests) digests.add(digest);
    }
    for (const digest of digests) digest.items = digest.items.map(map);
  }

  /** Alerts and digest updates waiting in `channel`, or in all channels. */
  pending(channel?: string): number {
    const states = channel === undefined ? [...this.channels.values()] : [this.channels.get(channel)];
    let count = 0;
    for (const state of states) {
      if (!state) continue;
      count += state.queue.length + state.digests.filter((d) => d.state === 'posted' && d.dirty).length;
    }
    return count;
  }

  private takeStep(channel: string, state: ChannelState<T>): { step: PacerStep<T>; digest: Digest<T> | null } {
    const stepId = this.nextStepId++;
    const head = state.queue.shift();
    if (head?.type === 'item') return { step: { kind: 'post', stepId, channel, item: head.item }, digest: null };
    if (head?.type === 'digest') {
      head.digest.state = 'posting';
      head.digest.dirty = false;
      return { step: { kind: 'post_digest', stepId, channel, digest: this.snapshot(head.digest) }, digest: head.digest };
    }
    const dirty = state.digests.find((d) => d.state === 'posted' && d.dirty);
    if (!dirty || dirty.ts === null) throw new ConsentryError('CONFLICT', `nothing to send in channel ${channel}`);
    dirty.dirty = false;
    return {
      step: { kind: 'update_digest', stepId, channel, ts: dirty.ts, digest: this.snapshot(dirty) },
      digest: dirty,
    };
  }

  private putBack(step: PacerStep<T>, digest: Digest<T> | null, state: ChannelState<T>): void {
    if (step.kind === 'post') state.queue.unshift({ type: 'item', item: step.item });
    else if (step.kind === 'post_digest' && digest) {
      // The retried post will carry everything folded in meanwhile.
      digest.state = 'queued';
      digest.dirty = false;
      state.queue.unshift({ type: 'digest', digest });
    } else if (digest) digest.dirty = true;
  }

  private finish(step: PacerStep<T>): { step: PacerStep<T>; digest: Digest<T> | null } {
    const entry = this.inFlight.get(step.stepId);
    if (!entry) throw new ConsentryError('CONFLICT', `step ${step.stepId} is not in flight`);
    this.inFlight.delete(step.stepId);
    const state = this.channel(step.channel);
    state.inFlight = null;
    return entry;
  }

  private hasWork(state: ChannelState<T>): boolean {
    return state.queue.length > 0 || state.digests.some((d) => d.state === 'posted' && d.dirty);
  }

  private readyAt(state: ChannelState<T>): number {
    const paced = state.lastCallAt === null ? 0 : state.lastCallAt + this.minIntervalMs;
    return Math.max(paced, state.pausedUntil, this.workspacePausedUntil);
  }

  /** Forgets digests that are closed and fully sent, so memory does not grow with time. */
  private cleanUp(channel: string): void {
    const state = this.channel(channel);
    const now = this.now();
    state.digests = state.digests.filter((digest) => {
      if (digest.state === 'dropped') return false;
      const open = digest.lastFoldAt > now - this.digestWindowMs;
      return open || digest.dirty || digest.state !== 'posted';
    });
    if (state.current && !state.digests.includes(state.current)) state.current = null;
  }

  private snapshot(digest: Digest<T>): DigestSnapshot<T> {
    return {
      digestId: digest.id,
      items: [...digest.items],
      total: digest.total,
      openedAt: new Date(digest.openedAt),
      lastFoldAt: new Date(digest.lastFoldAt),
    };
  }

  private channel(name: string): ChannelState<T> {
    let state = this.channels.get(name);
    if (!state) {
      state = { queue: [], arrivals: [], digests: [], current: null, lastCallAt: null, pausedUntil: 0, inFlight: null };
      this.channels.set(name, state);
    }
    return state;
  }

  private now(): number {
    return this.clock.now().getTime();
  }
}

import { ConsentryError } from '../../src/core/errors.js';
import type { Clock } from '../../src/ports/clock.js';

/**
 * Decides what the Slack dispatcher sends, and when. It does no I/O and never sleeps: the
 * dispatcher asks `poll()` for the next step, makes the Web API call, and reports the result.
 *
 * Slack's contract (https://docs.slack.dev/apis/web-api/rate-limits):
 * - chat.postMessage allows about one message per second per channel (short bursts tolerated, with
 *   no guarantee), so each channel gets at most one call per `minIntervalMs`;
 * - a rate-limited call answers HTTP 429 with `Retry-After` in seconds; the channel waits that long
 *   before the next call, or, when the limit is the method's own across the workspace (chat.update
 *   is a Tier 3 method, "50+ per minute"), every step of that method waits and the others go on.
 * A burst becomes one digest (DESIGN §6): once more than `digestThreshold` alerts arrived for a
 * channel within `digestWindowMs`, further alerts that `foldable` accepts fold into one digest
 * message that is posted once and then edited in place with chat.update, at most once per
 * `digestUpdateIntervalMs` (well under chat.update's Tier 3 limit). Items that are not foldable are
 * always posted one by one, paced like the others. A digest whose message can no longer be posted
 * or edited is dropped, and the items it never showed are posted one by one (`recordDigestLost`).
 * An edit of a message already posted (`enqueueEdit`: an alert whose contact was erased) is a
 * chat.update too: it takes the channel's turn like any call, waits with the digest edits when
 * chat.update is rate limited, and takes turns with the posts waiting, so neither starves the other.
 * A pacer made for a lane that existed before (a restart, a lease taken back, new settings) takes
 * up the burst and its open digest from what Slack already shows (`resume`), so the burst goes on
 * in the same digest message rather than in a second one.
 */

/** The default `digestWindowMs`. */
export const DEFAULT_DIGEST_WINDOW_MS = 60_000;

export interface PacerOptions<T> {
  clock: Clock;
  /** Minimum gap between two calls in one channel. */
  minIntervalMs?: number;
  /** Alerts per channel within `digestWindowMs` that are still posted one by one. */
  digestThreshold?: number;
  /** The window for counting a burst; a digest also stays open this long after its last alert. */
  digestWindowMs?: number;
  /** Items a digest keeps (the newest); `total` still counts all of them. */
  digestItemLimit?: number;
  /** Minimum gap between two edits of one digest (its post counts as the first). */
  digestUpdateIntervalMs?: number;
  /** Whether an item may be folded into a digest; an item that may not is always posted on its own. */
  foldable?: (item: T) => boolean;
}

export interface DigestSnapshot<T> {
  digestId: number;
  items: readonly T[];
  total: number;
  openedAt: Date;
  lastFoldAt: Date;
}

/** A digest message an earlier pacer posted, as `resume` takes it up: every item it lists was shown. */
export interface ResumedDigest<T> {
  ts: string;
  /** What it lists, oldest first; only the newest `digestItemLimit` are kept. */
  items: readonly T[];
  /** How many alerts it stands for. */
  total: number;
  openedAt: Date;
  /** When its newest item was folded in: it is open while this is within `digestWindowMs`. */
  lastFoldAt: Date;
}

export type PacerStep<T> =
  | { kind: 'post'; stepId: number; channel: string; item: T }
  | { kind: 'post_digest'; stepId: number; channel: string; digest: DigestSnapshot<T> }
  | { kind: 'update_digest'; stepId: number; channel: string; ts: string; digest: DigestSnapshot<T> }
  /** Edit the message `ts` (what it becomes is the caller's to render when it sends). */
  | { kind: 'edit'; stepId: number; channel: string; ts: string };

export type PacerPoll<T> =
  | { kind: 'send'; step: PacerStep<T> }
  /** Nothing may be sent before `until`. */
  | { kind: 'wait'; until: Date }
  /** Nothing to send until something is enqueued or an in-flight step is reported. */
  | { kind: 'idle' };

export type EnqueueOutcome = 'queued' | 'digested';

/**
 * Who waits after a 429: the step's channel; the whole workspace; or, for `method`, every step
 * that calls the same Web API method in the workspace (chat.postMessage for posts, chat.update for
 * digest edits), the other method going on.
 */
export type RateLimitScope = 'channel' | 'workspace' | 'method';

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
  /** Items folded in and not yet part of a post or update that was handed out. */
  unshown: T[];
  /** The items the step in flight shows for the first time. */
  sending: T[];
  /** When Slack last accepted the digest's post or edit (epoch ms): the next edit waits `digestUpdateIntervalMs`. */
  acceptedAt: number | null;
}

type QueueEntry<T> = { type: 'item'; item: T } | { type: 'digest'; digest: Digest<T> };

interface ChannelState<T> {
  queue: QueueEntry<T>[];
  /** Messages (ts) to edit, oldest request first. */
  edits: string[];
  /** The channel's last call was an edit: when a post is also ready, it goes next. */
  editedLast: boolean;
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
  private readonly digestUpdateIntervalMs: number;
  private readonly foldable: (item: T) => boolean;
  private readonly channels = new Map<string, ChannelState<T>>();
  private readonly inFlight = new Map<number, { step: PacerStep<T>; digest: Digest<T> | null }>();
  private workspacePausedUntil = 0;
  private postsPausedUntil = 0;
  private updatesPausedUntil = 0;
  private nextStepId = 1;
  private nextDigestId = 1;

  constructor(options: PacerOptions<T>) {
    this.clock = options.clock;
    this.minIntervalMs = options.minIntervalMs ?? 1000;
    this.digestThreshold = options.digestThreshold ?? 10;
    this.digestWindowMs = options.digestWindowMs ?? DEFAULT_DIGEST_WINDOW_MS;
    this.digestItemLimit = options.digestItemLimit ?? 200;
    this.digestUpdateIntervalMs = options.digestUpdateIntervalMs ?? 5000;
    this.foldable = options.foldable ?? (() => true);
    if (!Number.isInteger(this.digestThreshold) || this.digestThreshold < 1) {
      const message = 'digestThreshold must be a whole number of at least 1';
      throw new ConsentryError('VALIDATION_FAILED', message, [{ path: 'digestThreshold', message }]);
    }
  }

  /**
   * Accepts an alert for `channel`: sent on its own, or folded into the channel's digest. Every
   * alert counts towards the burst, those that are not foldable included.
   */
  enqueue(channel: string, item: T): EnqueueOutcome {
    const now = this.now();
    const state = this.channel(channel);
    state.arrivals.push(now);
    while (state.arrivals.length > 0 && (state.arrivals[0] ?? now) <= now - this.digestWindowMs) state.arrivals.shift();

    if (state.arrivals.length <= this.digestThreshold || !this.foldable(item)) {
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
        unshown: [],
        sending: [],
        acceptedAt: null,
      };
      state.current = digest;
      state.digests.push(digest);
      state.queue.push({ type: 'digest', digest });
    }
    digest.items.push(item);
    digest.unshown.push(item);
    if (digest.items.length > this.digestItemLimit) digest.items.shift();
    digest.total += 1;
    digest.lastFoldAt = now;
    if (digest.state !== 'queued') digest.dirty = true;
    return 'digested';
  }

  /**
   * Takes up, for `channel`, what an earlier pacer left in Slack: `arrivals` (when the alerts it
   * sent there arrived) count towards the burst as if they had been enqueued here, and `digest`,
   * while still open (its last fold within `digestWindowMs`), becomes the channel's digest, posted
   * already: the next alerts folded in edit that message, listing its items and theirs with the
   * total counted on. When the earlier edit was made is not known, so the first edit waits a full
   * `digestUpdateIntervalMs` from now. A channel that has a digest of its own keeps it.
   */
  resume(channel: string, resumed: { arrivals: readonly Date[]; digest: ResumedDigest<T> | null }): void {
    const now = this.now();
    const state = this.channel(channel);
    const since = now - this.digestWindowMs;
    // One read ahead of this clock (another process's) counts as arriving now.
    const arrivals = resumed.arrivals.map((at) => Math.min(at.getTime(), now)).filter((at) => at > since);
    state.arrivals = [...arrivals, ...state.arrivals].sort((a, b) => a - b);

    const taken = resumed.digest;
    if (!taken || state.current !== null || taken.lastFoldAt.getTime() <= since) return;
    const items = taken.items.slice(-this.digestItemLimit);
    const digest: Digest<T> = {
      id: this.nextDigestId++,
      items,
      total: Math.max(taken.total, items.length),
      openedAt: taken.openedAt.getTime(),
      lastFoldAt: taken.lastFoldAt.getTime(),
      ts: taken.ts,
      state: 'posted',
      dirty: false,
      unshown: [],
      sending: [],
      acceptedAt: now,
    };
    state.current = digest;
    state.digests.push(digest);
  }

  /** The next call to make, or how long to wait. Each `send` must be reported with one record* call. */
  poll(): PacerPoll<T> {
    const now = this.now();
    let readyChannel: string | null = null;
    let readyAt = Number.POSITIVE_INFINITY;
    for (const [name, state] of this.channels) {
      if (state.inFlight !== null) continue;
      const at = this.readyAt(state);
      if (at < readyAt) {
        readyAt = at;
        readyChannel = name;
      }
    }
    if (readyChannel === null) return { kind: 'idle' };
    if (readyAt > now) return { kind: 'wait', until: new Date(readyAt) };

    const state = this.channel(readyChannel);
    const step = this.takeStep(readyChannel, state, now);
    state.inFlight = step.step.stepId;
    state.lastCallAt = now;
    this.inFlight.set(step.step.stepId, step);
    return { kind: 'send', step: step.step };
  }

  /** Asks for an edit of the message `ts` in `channel`; false when one is already waiting or under way. */
  enqueueEdit(channel: string, ts: string): boolean {
    const state = this.channel(channel);
    if (state.edits.includes(ts)) return false;
    for (const { step } of this.inFlight.values()) if (step.kind === 'edit' && step.channel === channel && step.ts === ts) return false;
    state.edits.push(ts);
    return true;
  }

  /** The call succeeded; `ts` is the message's timestamp (for a digest, the one later updates edit). */
  recordSent(step: PacerStep<T>, result: { ts: string }): void {
    const entry = this.finish(step);
    if (entry.digest) {
      entry.digest.sending = [];
      entry.digest.acceptedAt = this.now();
      if (step.kind === 'post_digest') {
        entry.digest.ts = result.ts;
        entry.digest.state = 'posted';
      }
    }
    this.cleanUp(step.channel);
  }

  /**
   * Slack answered 429: nothing is lost, the step goes back to the front, and what `scope` names
   * (RateLimitScope) waits `retryAfterSeconds`.
   */
  recordRateLimited(step: PacerStep<T>, retryAfterSeconds: number, scope: RateLimitScope = 'channel'): void {
    const entry = this.finish(step);
    const until = this.now() + Math.max(0, retryAfterSeconds) * 1000;
    const state = this.channel(step.channel);
    if (scope === 'workspace') this.workspacePausedUntil = Math.max(this.workspacePausedUntil, until);
    else if (scope === 'channel') state.pausedUntil = Math.max(state.pausedUntil, until);
    else if (step.kind === 'update_digest' || step.kind === 'edit') this.updatesPausedUntil = Math.max(this.updatesPausedUntil, until);
    else this.postsPausedUntil = Math.max(this.postsPausedUntil, until);
    this.putBack(step, entry.digest, state);
  }

  /**
   * Any other failure: `retry` puts the step back at the front, otherwise it is dropped (a digest
   * not posted is dropped with its items; a digest whose edit failed stays as it was posted).
   */
  recordFailed(step: PacerStep<T>, options: { retry: boolean }): void {
    const entry = this.finish(step);
    const state = this.channel(step.channel);
    if (options.retry) {
      this.putBack(step, entry.digest, state);
    } else if (entry.digest && step.kind === 'post_digest') {
      this.drop(entry.digest, state);
    } else if (entry.digest) {
      entry.digest.sending = [];
    }
    this.cleanUp(step.channel);
  }

  /**
   * The digest's message cannot be posted, or can no longer be edited (deleted, too old to edit:
   * https://docs.slack.dev/reference/methods/chat.update#errors). The digest is dropped, so later
   * alerts of the burst open a new one, and the items it never showed go back to the front of the
   * channel's queue, oldest first, to be posted one by one. Returns those items.
   */
  recordDigestLost(step: Extract<PacerStep<T>, { kind: 'post_digest' | 'update_digest' }>): T[] {
    const entry = this.finish(step);
    const state = this.channel(step.channel);
    const digest = entry.digest;
    if (!digest) throw new ConsentryError('CONFLICT', `step ${step.stepId} carries no digest`);
    const unshown = [...digest.sending, ...digest.unshown];
    this.drop(digest, state);
    state.queue.unshift(...unshown.map((item): QueueEntry<T> => ({ type: 'item', item })));
    this.cleanUp(step.channel);
    return unshown;
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
    for (const digest of digests) {
      digest.items = digest.items.map(map);
      digest.unshown = digest.unshown.map(map);
      digest.sending = digest.sending.map(map);
    }
  }

  /** Alerts and digest updates waiting in `channel`, or in all channels. */
  pending(channel?: string): number {
    const states = channel === undefined ? [...this.channels.values()] : [this.channels.get(channel)];
    let count = 0;
    for (const state of states) {
      if (!state) continue;
      count += state.queue.length + state.edits.length + state.digests.filter((d) => d.state === 'posted' && d.dirty).length;
    }
    return count;
  }

  /**
   * A due edit goes before the queue: it waited `digestUpdateIntervalMs` already, and a long queue
   * of alerts that are never folded must not leave the digest stale until it has drained.
   */
  private takeStep(channel: string, state: ChannelState<T>, now: number): { step: PacerStep<T>; digest: Digest<T> | null } {
    const stepId = this.nextStepId++;
    const dirty = this.dirtyDigest(state);
    if (dirty && dirty.ts !== null && this.updateReadyAt(state, dirty) <= now) {
      dirty.dirty = false;
      this.beginShowing(dirty);
      return {
        step: { kind: 'update_digest', stepId, channel, ts: dirty.ts, digest: this.snapshot(dirty) },
        digest: dirty,
      };
    }
    const editReady = state.edits.length > 0 && this.editReadyAt(state) <= now;
    const postReady = state.queue.length > 0 && Math.max(this.channelReadyAt(state), this.postsPausedUntil) <= now;
    const ts = editReady && (!postReady || !state.editedLast) ? state.edits.shift() : undefined;
    state.editedLast = ts !== undefined;
    if (ts !== undefined) return { step: { kind: 'edit', stepId, channel, ts }, digest: null };
    const head = state.queue.shift();
    if (head?.type === 'item') return { step: { kind: 'post', stepId, channel, item: head.item }, digest: null };
    if (head?.type === 'digest') {
      head.digest.state = 'posting';
      head.digest.dirty = false;
      this.beginShowing(head.digest);
      return { step: { kind: 'post_digest', stepId, channel, digest: this.snapshot(head.digest) }, digest: head.digest };
    }
    throw new ConsentryError('CONFLICT', `nothing to send in channel ${channel}`);
  }

  private beginShowing(digest: Digest<T>): void {
    digest.sending = digest.unshown;
    digest.unshown = [];
  }

  private putBack(step: PacerStep<T>, digest: Digest<T> | null, state: ChannelState<T>): void {
    if (step.kind === 'post') {
      state.queue.unshift({ type: 'item', item: step.item });
      return;
    }
    if (step.kind === 'edit') {
      if (!state.edits.includes(step.ts)) state.edits.unshift(step.ts);
      return;
    }
    if (!digest) return;
    digest.unshown = [...digest.sending, ...digest.unshown];
    digest.sending = [];
    if (step.kind === 'post_digest') {
      // The retried post will carry everything folded in meanwhile.
      digest.state = 'queued';
      digest.dirty = false;
      state.queue.unshift({ type: 'digest', digest });
    } else digest.dirty = true;
  }

  private drop(digest: Digest<T>, state: ChannelState<T>): void {
    digest.state = 'dropped';
    digest.dirty = false;
    digest.unshown = [];
    digest.sending = [];
    if (state.current === digest) state.current = null;
  }

  private finish(step: PacerStep<T>): { step: PacerStep<T>; digest: Digest<T> | null } {
    const entry = this.inFlight.get(step.stepId);
    if (!entry) throw new ConsentryError('CONFLICT', `step ${step.stepId} is not in flight`);
    this.inFlight.delete(step.stepId);
    const state = this.channel(step.channel);
    state.inFlight = null;
    return entry;
  }

  private dirtyDigest(state: ChannelState<T>): Digest<T> | undefined {
    return state.digests.find((d) => d.state === 'posted' && d.dirty);
  }

  /** When the channel may make its next call, whatever it is. */
  private channelReadyAt(state: ChannelState<T>): number {
    const paced = state.lastCallAt === null ? 0 : state.lastCallAt + this.minIntervalMs;
    return Math.max(paced, state.pausedUntil, this.workspacePausedUntil);
  }

  /** An edit waits for the channel's turn and for a chat.update rate limit. */
  private editReadyAt(state: ChannelState<T>): number {
    return Math.max(this.channelReadyAt(state), this.updatesPausedUntil);
  }

  private updateReadyAt(state: ChannelState<T>, digest: Digest<T>): number {
    const edited = digest.acceptedAt === null ? 0 : digest.acceptedAt + this.digestUpdateIntervalMs;
    return Math.max(this.channelReadyAt(state), this.updatesPausedUntil, edited);
  }

  /** The earliest of the channel's next post and next digest edit; infinite with nothing to send. */
  private readyAt(state: ChannelState<T>): number {
    let at = Number.POSITIVE_INFINITY;
    if (state.queue.length > 0) at = Math.max(this.channelReadyAt(state), this.postsPausedUntil);
    if (state.edits.length > 0) at = Math.min(at, this.editReadyAt(state));
    const dirty = this.dirtyDigest(state);
    if (dirty) at = Math.min(at, this.updateReadyAt(state, dirty));
    return at;
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
      state = { queue: [], edits: [], editedLast: false, arrivals: [], digests: [], current: null, lastCallAt: null, pausedUntil: 0, inFlight: null };
      this.channels.set(name, state);
    }
    return state;
  }

  private now(): number {
    return this.clock.now().getTime();
  }
}

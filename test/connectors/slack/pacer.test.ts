import { describe, expect, it } from 'vitest';
import { AlertPacer, type PacerPoll, type PacerStep } from '../../../connectors/slack/pacer.js';
import { ConsentryError } from '../../../src/core/errors.js';
import { FakeClock } from '../../../src/ports/clock.js';

function setup(options: { digestThreshold?: number } = {}) {
  const clock = new FakeClock('2026-01-01T10:00:00.000Z');
  const pacer = new AlertPacer<string>({ clock, digestThreshold: options.digestThreshold ?? 3 });
  return { clock, pacer };
}

function sendStep<T>(poll: PacerPoll<T>): PacerStep<T> {
  if (poll.kind !== 'send') throw new Error(`expected a step to send, got ${poll.kind}`);
  return poll.step;
}

describe('AlertPacer pacing', () => {
  it('sends at most one message per second per channel', () => {
    const { clock, pacer } = setup({ digestThreshold: 10 });
    pacer.enqueue('C1', 'a');
    pacer.enqueue('C1', 'b');
    const first = sendStep(pacer.poll());
    expect(first).toMatchObject({ kind: 'post', channel: 'C1', item: 'a' });
    expect(pacer.poll()).toEqual({ kind: 'idle' });
    pacer.recordSent(first, { ts: '1.1' });
    expect(pacer.poll()).toEqual({ kind: 'wait', until: new Date('2026-01-01T10:00:01.000Z') });
    clock.advance(999);
    expect(pacer.poll().kind).toBe('wait');
    clock.advance(1);
    expect(sendStep(pacer.poll())).toMatchObject({ kind: 'post', item: 'b' });
  });

  it('paces channels independently', () => {
    const { pacer } = setup({ digestThreshold: 10 });
    pacer.enqueue('C1', 'a1');
    pacer.enqueue('C1', 'a2');
    pacer.enqueue('C2', 'b1');
    const one = sendStep(pacer.poll());
    const two = sendStep(pacer.poll());
    expect([one.channel, two.channel]).toEqual(['C1', 'C2']);
    pacer.recordSent(one, { ts: '1.1' });
    pacer.recordSent(two, { ts: '1.2' });
    expect(pacer.poll().kind).toBe('wait');
  });

  it('is idle with nothing to send', () => {
    const { pacer } = setup();
    expect(pacer.poll()).toEqual({ kind: 'idle' });
    expect(pacer.pending()).toBe(0);
  });

  it('refuses to record a step that is not in flight', () => {
    const { pacer } = setup();
    pacer.enqueue('C1', 'a');
    const step = sendStep(pacer.poll());
    pacer.recordSent(step, { ts: '1.1' });
    expect(() => pacer.recordSent(step, { ts: '1.1' })).toThrow(ConsentryError);
  });
});

describe('AlertPacer digest', () => {
  it('folds alerts beyond the threshold within a minute into one digest, posted once and then updated in place', () => {
    const { clock, pacer } = setup({ digestThreshold: 3 });
    const outcomes = ['a', 'b', 'c', 'd', 'e'].map((item) => pacer.enqueue('C1', item));
    expect(outcomes).toEqual(['queued', 'queued', 'queued', 'digested', 'digested']);

    const posted: string[] = [];
    for (let second = 0; second < 3; second += 1) {
      const step = sendStep(pacer.poll());
      if (step.kind === 'post') posted.push(step.item);
      pacer.recordSent(step, { ts: `1.${second}` });
      clock.advance(1000);
    }
    expect(posted).toEqual(['a', 'b', 'c']);

    const digestPost = sendStep(pacer.poll());
    expect(digestPost.kind).toBe('post_digest');
    expect(digestPost.kind === 'post_digest' && digestPost.digest.items).toEqual(['d', 'e']);
    pacer.recordSent(digestPost, { ts: '9.9' });

    expect(pacer.enqueue('C1', 'f')).toBe('digested');
    expect(pacer.enqueue('C1', 'g')).toBe('digested');
    clock.advance(5000);
    const update = sendStep(pacer.poll());
    expect(update).toMatchObject({ kind: 'update_digest', channel: 'C1', ts: '9.9' });
    expect(update.kind === 'update_digest' && update.digest.items).toEqual(['d', 'e', 'f', 'g']);
    expect(update.kind === 'update_digest' && update.digest.total).toBe(4);
    pacer.recordSent(update, { ts: '9.9' });

    clock.advance(1000);
    expect(pacer.poll()).toEqual({ kind: 'idle' });
  });

  it('coalesces alerts folded while the digest is being posted into the next update', () => {
    const { clock, pacer } = setup({ digestThreshold: 1 });
    pacer.enqueue('C1', 'a');
    pacer.enqueue('C1', 'b');
    const first = sendStep(pacer.poll());
    pacer.recordSent(first, { ts: '1.0' });
    clock.advance(1000);
    const digestPost = sendStep(pacer.poll());
    expect(digestPost.kind).toBe('post_digest');
    pacer.enqueue('C1', 'c');
    pacer.enqueue('C1', 'd');
    pacer.recordSent(digestPost, { ts: '2.0' });
    clock.advance(5000);
    const update = sendStep(pacer.poll());
    expect(update.kind === 'update_digest' && update.digest.items).toEqual(['b', 'c', 'd']);
    pacer.recordSent(update, { ts: '2.0' });
    clock.advance(1000);
    expect(pacer.poll()).toEqual({ kind: 'idle' });
  });

  it('posts alerts one by one again once the burst is over, and starts a new digest for the next burst', () => {
    const { clock, pacer } = setup({ digestThreshold: 2 });
    for (const item of ['a', 'b', 'c']) pacer.enqueue('C1', item);
    const drain = (): string[] => {
      const kinds: string[] = [];
      for (;;) {
        const poll = pacer.poll();
        if (poll.kind === 'idle') return kinds;
        if (poll.kind === 'wait') {
          clock.set(poll.until);
          continue;
        }
        kinds.push(poll.step.kind === 'update_digest' ? `update ${poll.step.ts}` : poll.step.kind);
        pacer.recordSent(poll.step, { ts: `ts${poll.step.stepId}` });
      }
    };
    expect(drain()).toEqual(['post', 'post', 'post_digest']);
    clock.advance(61_000);
    expect(pacer.enqueue('C1', 'd')).toBe('queued');
    const single = sendStep(pacer.poll());
    expect(single).toMatchObject({ kind: 'post', item: 'd' });
    pacer.recordSent(single, { ts: 'tsd' });
    pacer.enqueue('C1', 'e');
    expect(pacer.enqueue('C1', 'f')).toBe('digested');
    expect(drain()).toEqual(['post', 'post_digest']);
    expect(pacer.pending()).toBe(0);
  });

  it('counts arrivals per channel', () => {
    const { pacer } = setup({ digestThreshold: 2 });
    expect(['a', 'b'].map((item) => pacer.enqueue('C1', item))).toEqual(['queued', 'queued']);
    expect(['x', 'y'].map((item) => pacer.enqueue('C2', item))).toEqual(['queued', 'queued']);
    expect(pacer.enqueue('C1', 'c')).toBe('digested');
  });

  it('keeps the newest items of a long burst and counts them all', () => {
    const clock = new FakeClock('2026-01-01T10:00:00.000Z');
    const pacer = new AlertPacer<number>({ clock, digestThreshold: 1, digestItemLimit: 5 });
    for (let index = 0; index < 12; index += 1) pacer.enqueue('C1', index);
    const first = sendStep(pacer.poll());
    pacer.recordSent(first, { ts: '1.0' });
    clock.advance(1000);
    const digest = sendStep(pacer.poll());
    expect(digest.kind === 'post_digest' && digest.digest.items).toEqual([7, 8, 9, 10, 11]);
    expect(digest.kind === 'post_digest' && digest.digest.total).toBe(11);
  });

  it('refuses a threshold below one', () => {
    expect(() => new AlertPacer({ clock: new FakeClock(), digestThreshold: 0 })).toThrow(/digestThreshold/);
  });
});

describe('AlertPacer rate limits', () => {
  it('waits for Retry-After on a 429 and sends the same alert again', () => {
    const { clock, pacer } = setup({ digestThreshold: 10 });
    pacer.enqueue('C1', 'a');
    pacer.enqueue('C1', 'b');
    const step = sendStep(pacer.poll());
    pacer.recordRateLimited(step, 30);
    expect(pacer.poll()).toEqual({ kind: 'wait', until: new Date('2026-01-01T10:00:30.000Z') });
    clock.advance(29_999);
    expect(pacer.poll().kind).toBe('wait');
    clock.advance(1);
    expect(sendStep(pacer.poll())).toMatchObject({ kind: 'post', item: 'a' });
  });

  it('pauses only that channel, unless the limit is workspace-wide', () => {
    const { pacer } = setup({ digestThreshold: 10 });
    pacer.enqueue('C1', 'a');
    pacer.enqueue('C2', 'b');
    pacer.enqueue('C3', 'c');
    const one = sendStep(pacer.poll());
    pacer.recordRateLimited(one, 30);
    const two = sendStep(pacer.poll());
    expect(two.channel).toBe('C2');
    pacer.recordRateLimited(two, 10, 'workspace');
    expect(pacer.poll()).toEqual({ kind: 'wait', until: new Date('2026-01-01T10:00:10.000Z') });
  });

  it('re-posts a rate-limited digest with everything folded meanwhile, and retries an update', () => {
    const { clock, pacer } = setup({ digestThreshold: 1 });
    pacer.enqueue('C1', 'a');
    pacer.enqueue('C1', 'b');
    pacer.recordSent(sendStep(pacer.poll()), { ts: '1.0' });
    clock.advance(1000);
    const digestPost = sendStep(pacer.poll());
    pacer.enqueue('C1', 'c');
    pacer.recordRateLimited(digestPost, 5);
    clock.advance(5000);
    const again = sendStep(pacer.poll());
    expect(again.kind === 'post_digest' && again.digest.items).toEqual(['b', 'c']);
    pacer.recordSent(again, { ts: '2.0' });
    pacer.enqueue('C1', 'd');
    clock.advance(5000);
    const update = sendStep(pacer.poll());
    pacer.recordRateLimited(update, 2);
    clock.advance(2000);
    const retried = sendStep(pacer.poll());
    expect(retried).toMatchObject({ kind: 'update_digest', ts: '2.0' });
    expect(retried.kind === 'update_digest' && retried.digest.items).toEqual(['b', 'c', 'd']);
  });

  it('drops or retries other failures as told', () => {
    const { clock, pacer } = setup({ digestThreshold: 10 });
    pacer.enqueue('C1', 'a');
    pacer.enqueue('C1', 'b');
    pacer.recordFailed(sendStep(pacer.poll()), { retry: false });
    clock.advance(1000);
    const next = sendStep(pacer.poll());
    expect(next).toMatchObject({ item: 'b' });
    pacer.recordFailed(next, { retry: true });
    clock.advance(1000);
    expect(sendStep(pacer.poll())).toMatchObject({ item: 'b' });
  });
});

describe('AlertPacer mapItems', () => {
  it('replaces queued items and the items of queued and posted digests, not the step in flight', () => {
    const { clock, pacer } = setup({ digestThreshold: 2 });
    for (const item of ['ana-1', 'ben-1', 'ana-2', 'ben-2']) pacer.enqueue('C1', item);
    pacer.enqueue('C2', 'ana-3');
    const inFlight = sendStep(pacer.poll());
    expect(inFlight).toMatchObject({ kind: 'post', channel: 'C1', item: 'ana-1' });

    pacer.mapItems((item) => item.replace('ana', 'erased'));
    expect(inFlight).toMatchObject({ item: 'ana-1' });
    pacer.recordSent(inFlight, { ts: '1.0' });
    expect(sendStep(pacer.poll())).toMatchObject({ channel: 'C2', item: 'erased-3' });
    clock.advance(1000);
    const second = sendStep(pacer.poll());
    expect(second).toMatchObject({ item: 'ben-1' });
    pacer.recordSent(second, { ts: '1.1' });
    clock.advance(1000);
    const digest = sendStep(pacer.poll());
    expect(digest.kind === 'post_digest' && digest.digest.items).toEqual(['erased-2', 'ben-2']);
    pacer.recordSent(digest, { ts: '2.0' });

    pacer.enqueue('C1', 'ana-4');
    pacer.mapItems((item) => item.replace('ana', 'erased'));
    clock.advance(5000);
    const update = sendStep(pacer.poll());
    expect(update.kind === 'update_digest' && update.digest.items).toEqual(['erased-2', 'ben-2', 'erased-4']);
  });
});

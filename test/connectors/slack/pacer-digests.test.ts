import { describe, expect, it } from 'vitest';
import { AlertPacer, type PacerPoll, type PacerStep } from '../../../connectors/slack/pacer.js';
import { FakeClock } from '../../../src/ports/clock.js';

const T0 = '2026-01-01T10:00:00.000Z';

function sendStep<T>(poll: PacerPoll<T>): PacerStep<T> {
  if (poll.kind !== 'send') throw new Error(`expected a step to send, got ${poll.kind}`);
  return poll.step;
}

type DigestStep<T> = Extract<PacerStep<T>, { kind: 'post_digest' | 'update_digest' }>;

function digestStep<T>(poll: PacerPoll<T>): DigestStep<T> {
  const step = sendStep(poll);
  if (step.kind === 'post' || step.kind === 'edit') throw new Error(`expected a digest step, got ${step.kind === 'post' ? 'a post' : 'an edit'}`);
  return step;
}

/** Threshold 1: 'a' is posted on its own, the digest with 'b' is posted at 10:00:01. */
function withPostedDigest(options: { foldable?: (item: string) => boolean } = {}) {
  const clock = new FakeClock(T0);
  const pacer = new AlertPacer<string>({ clock, digestThreshold: 1, ...options });
  pacer.enqueue('C1', 'a');
  pacer.enqueue('C1', 'b');
  pacer.recordSent(sendStep(pacer.poll()), { ts: '1.0' });
  clock.advance(1000);
  const posted = digestStep(pacer.poll());
  expect(posted.kind).toBe('post_digest');
  pacer.recordSent(posted, { ts: '2.0' });
  return { clock, pacer };
}

describe('AlertPacer: digest edits are spaced', () => {
  it('edits a digest at most once per digestUpdateIntervalMs (5 s by default), counting from its post', () => {
    const { clock, pacer } = withPostedDigest();
    pacer.enqueue('C1', 'c');
    expect(pacer.poll()).toEqual({ kind: 'wait', until: new Date('2026-01-01T10:00:06.000Z') });
    clock.advance(4999);
    expect(pacer.poll().kind).toBe('wait');
    clock.advance(1);
    const update = digestStep(pacer.poll());
    expect(update).toMatchObject({ kind: 'update_digest', ts: '2.0' });
    pacer.recordSent(update, { ts: '2.0' });
    pacer.enqueue('C1', 'd');
    expect(pacer.poll()).toEqual({ kind: 'wait', until: new Date('2026-01-01T10:00:11.000Z') });
  });

  it('takes the interval as an option', () => {
    const clock = new FakeClock(T0);
    const pacer = new AlertPacer<string>({ clock, digestThreshold: 1, digestUpdateIntervalMs: 2000 });
    pacer.enqueue('C1', 'a');
    pacer.enqueue('C1', 'b');
    pacer.recordSent(sendStep(pacer.poll()), { ts: '1.0' });
    clock.advance(1000);
    pacer.recordSent(sendStep(pacer.poll()), { ts: '2.0' });
    pacer.enqueue('C1', 'c');
    expect(pacer.poll()).toEqual({ kind: 'wait', until: new Date('2026-01-01T10:00:03.000Z') });
  });

  it('on a method-wide 429 for an edit pauses only edits; posts go on', () => {
    const { clock, pacer } = withPostedDigest({ foldable: (item) => !item.startsWith('review') });
    pacer.enqueue('C1', 'c');
    clock.advance(5000);
    const update = digestStep(pacer.poll());
    pacer.recordRateLimited(update, 60, 'method');
    pacer.enqueue('C1', 'review-1');
    clock.advance(1000);
    expect(sendStep(pacer.poll())).toMatchObject({ kind: 'post', item: 'review-1' });
    expect(pacer.poll()).toEqual({ kind: 'idle' });
  });
});

describe('AlertPacer: items that are never folded', () => {
  it('posts an item foldable refuses on its own, even in a burst, and still counts it towards the burst', () => {
    const clock = new FakeClock(T0);
    const pacer = new AlertPacer<string>({ clock, digestThreshold: 1, foldable: (item) => !item.startsWith('review') });
    expect(['review-1', 'review-2', 'review-3', 'failure-1', 'review-4'].map((item) => pacer.enqueue('C1', item))).toEqual([
      'queued',
      'queued',
      'queued',
      'digested',
      'queued',
    ]);
    const sent: string[] = [];
    for (let second = 0; second < 5; second += 1) {
      const step = sendStep(pacer.poll());
      sent.push(step.kind === 'post' ? step.item : step.kind === 'edit' ? `edit:${step.ts}` : `${step.kind}:${step.digest.items.join(',')}`);
      pacer.recordSent(step, { ts: `1.${second}` });
      expect(pacer.poll().kind).not.toBe('send');
      clock.advance(1000);
    }
    expect(sent).toEqual(['review-1', 'review-2', 'review-3', 'post_digest:failure-1', 'review-4']);
    expect(pacer.poll()).toEqual({ kind: 'idle' });
  });

  it('lets a due edit go before a long queue of items that are never folded', () => {
    const { clock, pacer } = withPostedDigest({ foldable: (item) => !item.startsWith('review') });
    pacer.enqueue('C1', 'c');
    for (let n = 0; n < 10; n += 1) pacer.enqueue('C1', `review-${n}`);
    const kinds: string[] = [];
    for (let second = 0; second < 6; second += 1) {
      clock.advance(1000);
      const step = sendStep(pacer.poll());
      kinds.push(step.kind);
      pacer.recordSent(step, { ts: step.kind === 'update_digest' ? step.ts : `3.${second}` });
    }
    expect(kinds).toEqual(['post', 'post', 'post', 'post', 'update_digest', 'post']);
  });
});

describe('AlertPacer: a digest whose message is lost', () => {
  it('drops the digest and queues first, one by one, the items it never showed, those folded during the failed edit included', () => {
    const { clock, pacer } = withPostedDigest();
    pacer.enqueue('C1', 'c');
    pacer.enqueue('C1', 'd');
    clock.advance(5000);
    const update = digestStep(pacer.poll());
    expect(update.digest.items).toEqual(['b', 'c', 'd']);
    pacer.enqueue('C1', 'e');
    expect(pacer.recordDigestLost(update)).toEqual(['c', 'd', 'e']);

    // The burst goes on: a new digest, after the items put back.
    expect(pacer.enqueue('C1', 'f')).toBe('digested');
    const sent: string[] = [];
    for (let second = 0; second < 4; second += 1) {
      clock.advance(1000);
      const step = sendStep(pacer.poll());
      sent.push(step.kind === 'post' ? step.item : step.kind === 'edit' ? `edit:${step.ts}` : `${step.kind}:${step.digest.items.join(',')}`);
      pacer.recordSent(step, { ts: `3.${second}` });
    }
    expect(sent).toEqual(['c', 'd', 'e', 'post_digest:f']);
    clock.advance(10_000);
    expect(pacer.poll()).toEqual({ kind: 'idle' });
  });

  it('gives back only what was folded since the last edit that went out', () => {
    const { clock, pacer } = withPostedDigest();
    pacer.enqueue('C1', 'c');
    clock.advance(5000);
    pacer.recordSent(digestStep(pacer.poll()), { ts: '2.0' });
    pacer.enqueue('C1', 'd');
    clock.advance(5000);
    expect(pacer.recordDigestLost(digestStep(pacer.poll()))).toEqual(['d']);
  });

  it('keeps the items of a rate-limited edit for the next one, and gives them back if that one is lost', () => {
    const { clock, pacer } = withPostedDigest();
    pacer.enqueue('C1', 'c');
    clock.advance(5000);
    pacer.recordRateLimited(digestStep(pacer.poll()), 1, 'method');
    clock.advance(1000);
    const retried = digestStep(pacer.poll());
    expect(retried.kind).toBe('update_digest');
    expect(pacer.recordDigestLost(retried)).toEqual(['c']);
  });

  it('gives back every item of a digest that could not be posted', () => {
    const clock = new FakeClock(T0);
    const pacer = new AlertPacer<string>({ clock, digestThreshold: 1 });
    for (const item of ['a', 'b', 'c']) pacer.enqueue('C1', item);
    pacer.recordSent(sendStep(pacer.poll()), { ts: '1.0' });
    clock.advance(1000);
    const post = digestStep(pacer.poll());
    expect(post.kind).toBe('post_digest');
    expect(pacer.recordDigestLost(post)).toEqual(['b', 'c']);
    expect(pacer.pending()).toBe(2);
  });

  it('gives back the replacement of an item replaced while it waited (an erased contact)', () => {
    const { clock, pacer } = withPostedDigest();
    pacer.enqueue('C1', 'ana-1');
    pacer.mapItems((item) => item.replace('ana', 'erased'));
    clock.advance(5000);
    expect(pacer.recordDigestLost(digestStep(pacer.poll()))).toEqual(['erased-1']);
  });
});

import { describe, expect, it } from 'vitest';
import { AlertPacer, type PacerPoll, type PacerStep, type ResumedDigest } from '../../../connectors/slack/pacer.js';
import { FakeClock } from '../../../src/ports/clock.js';

const T0 = '2026-01-01T10:00:00.000Z';
const at = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000);

function sendStep<T>(poll: PacerPoll<T>): PacerStep<T> {
  if (poll.kind !== 'send') throw new Error(`expected a step to send, got ${poll.kind}`);
  return poll.step;
}

/** A digest an earlier pacer posted at T0 with 'b' and 'c', in channel C1, as message 2.0. */
function earlierDigest(overrides: Partial<ResumedDigest<string>> = {}): ResumedDigest<string> {
  return { ts: '2.0', items: ['b', 'c'], total: 2, openedAt: at(0), lastFoldAt: at(0), ...overrides };
}

/** A pacer made `seconds` after T0, threshold 1, with the earlier pacer's three arrivals at T0. */
function resumedAfter(seconds: number, digest: ResumedDigest<string> | null = earlierDigest(), options: { digestItemLimit?: number } = {}) {
  const clock = new FakeClock(at(seconds).toISOString());
  const pacer = new AlertPacer<string>({ clock, digestThreshold: 1, ...options });
  pacer.resume('C1', { arrivals: [at(0), at(0), at(0)], digest });
  return { clock, pacer };
}

describe('AlertPacer: a burst taken up from an earlier pacer', () => {
  it('folds the next items into the open digest and edits its message, a full edit interval after it was taken up', () => {
    const { clock, pacer } = resumedAfter(30);
    expect(pacer.enqueue('C1', 'd')).toBe('digested');
    expect(pacer.enqueue('C1', 'e')).toBe('digested');
    expect(pacer.poll()).toEqual({ kind: 'wait', until: at(35) });
    clock.advance(5000);
    const step = sendStep(pacer.poll());
    expect(step).toMatchObject({ kind: 'update_digest', channel: 'C1', ts: '2.0', digest: { items: ['b', 'c', 'd', 'e'], total: 4, openedAt: at(0), lastFoldAt: at(30) } });
  });

  it('counts the earlier arrivals towards the threshold without a digest to take up', () => {
    const { pacer } = resumedAfter(30, null);
    expect(pacer.enqueue('C1', 'd')).toBe('digested');
    expect(sendStep(pacer.poll())).toMatchObject({ kind: 'post_digest', digest: { items: ['d'], total: 1 } });
  });

  it('counts an arrival stamped ahead of its clock (another process) as arriving now', () => {
    const clock = new FakeClock(at(0).toISOString());
    const pacer = new AlertPacer<string>({ clock, digestThreshold: 1 });
    pacer.resume('C1', { arrivals: [at(90)], digest: null });
    clock.advance(59_999);
    expect(pacer.enqueue('C1', 'd')).toBe('digested');
    clock.advance(1);
    expect(pacer.enqueue('C1', 'e')).toBe('digested');
    clock.advance(60_000);
    expect(pacer.enqueue('C1', 'f')).toBe('queued');
  });

  it('takes up neither arrivals nor a digest older than the window', () => {
    const { pacer } = resumedAfter(60);
    expect(pacer.enqueue('C1', 'd')).toBe('queued');
    expect(pacer.enqueue('C1', 'e')).toBe('digested');
    expect(sendStep(pacer.poll())).toMatchObject({ kind: 'post', item: 'd' });
    expect(pacer.pending('C1')).toBe(1);
  });

  it('keeps the newest items of a long digest and counts them all', () => {
    const items = Array.from({ length: 8 }, (_, n) => `i${n}`);
    const { clock, pacer } = resumedAfter(1, earlierDigest({ items, total: 20 }), { digestItemLimit: 5 });
    pacer.enqueue('C1', 'd');
    clock.advance(5000);
    expect(sendStep(pacer.poll())).toMatchObject({ kind: 'update_digest', digest: { items: ['i4', 'i5', 'i6', 'i7', 'd'], total: 21 } });
  });

  it('leaves a channel that has a digest of its own with it', () => {
    const clock = new FakeClock(at(1).toISOString());
    const pacer = new AlertPacer<string>({ clock, digestThreshold: 1 });
    pacer.enqueue('C1', 'x');
    pacer.enqueue('C1', 'y');
    pacer.resume('C1', { arrivals: [], digest: earlierDigest() });
    pacer.recordSent(sendStep(pacer.poll()), { ts: '3.0' });
    expect(pacer.poll().kind).toBe('wait');
    clock.advance(1000);
    expect(sendStep(pacer.poll())).toMatchObject({ kind: 'post_digest', digest: { items: ['y'], total: 1 } });
  });
});

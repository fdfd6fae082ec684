import { describe, expect, it } from 'vitest';
import { AlertPacer, type PacerPoll, type PacerStep } from '../../../connectors/slack/pacer.js';
import { FakeClock } from '../../../src/ports/clock.js';

function setup() {
  const clock = new FakeClock('2026-01-01T10:00:00.000Z');
  const pacer = new AlertPacer<string>({ clock, digestThreshold: 10 });
  return { clock, pacer };
}

function sendStep<T>(poll: PacerPoll<T>): PacerStep<T> {
  if (poll.kind !== 'send') throw new Error(`expected a step to send, got ${poll.kind}`);
  return poll.step;
}

const label = (step: PacerStep<string>): string => (step.kind === 'edit' ? `edit ${step.ts}` : step.kind === 'post' ? `post ${step.item}` : step.kind);

describe('AlertPacer edits of posted messages', () => {
  it('takes the channel turn like a post, one call a second, and takes turns with the posts waiting', () => {
    const { clock, pacer } = setup();
    for (const item of ['a', 'b', 'c']) pacer.enqueue('C1', item);
    expect(pacer.enqueueEdit('C1', '1.1')).toBe(true);
    expect(pacer.enqueueEdit('C1', '1.2')).toBe(true);
    expect(pacer.pending('C1')).toBe(5);
    const order: string[] = [];
    for (let second = 0; second < 5; second += 1) {
      const step = sendStep(pacer.poll());
      order.push(label(step));
      expect(pacer.poll().kind).not.toBe('send');
      pacer.recordSent(step, { ts: step.kind === 'edit' ? step.ts : `2.${second}` });
      clock.advance(1000);
    }
    expect(order).toEqual(['edit 1.1', 'post a', 'edit 1.2', 'post b', 'post c']);
    expect(pacer.poll()).toEqual({ kind: 'idle' });
  });

  it('asks for an edit of a message once while one is waiting or under way', () => {
    const { clock, pacer } = setup();
    expect(pacer.enqueueEdit('C1', '1.1')).toBe(true);
    expect(pacer.enqueueEdit('C1', '1.1')).toBe(false);
    const step = sendStep(pacer.poll());
    expect(pacer.enqueueEdit('C1', '1.1')).toBe(false);
    pacer.recordSent(step, { ts: '1.1' });
    clock.advance(1000);
    expect(pacer.poll()).toEqual({ kind: 'idle' });
    expect(pacer.enqueueEdit('C1', '1.1')).toBe(true);
  });

  it('waits out a chat.update rate limit with the digest edits while posts go on, and loses no edit', () => {
    const { clock, pacer } = setup();
    pacer.enqueueEdit('C1', '1.1');
    pacer.enqueue('C1', 'a');
    const edit = sendStep(pacer.poll());
    expect(edit).toMatchObject({ kind: 'edit', ts: '1.1' });
    pacer.recordRateLimited(edit, 30, 'method');
    clock.advance(1000);
    const post = sendStep(pacer.poll());
    expect(label(post)).toBe('post a');
    pacer.recordSent(post, { ts: '2.1' });
    clock.advance(1000);
    expect(pacer.poll()).toEqual({ kind: 'wait', until: new Date('2026-01-01T10:00:30.000Z') });
    expect(pacer.pending()).toBe(1);
    clock.advance(28_000);
    expect(sendStep(pacer.poll())).toMatchObject({ kind: 'edit', ts: '1.1' });
  });

  it('puts a failed edit back when it is to be retried, and drops it when not', () => {
    const { clock, pacer } = setup();
    pacer.enqueueEdit('C1', '1.1');
    pacer.enqueueEdit('C1', '1.2');
    const first = sendStep(pacer.poll());
    pacer.recordFailed(first, { retry: true });
    clock.advance(1000);
    const again = sendStep(pacer.poll());
    expect(again).toMatchObject({ kind: 'edit', ts: '1.1' });
    pacer.recordFailed(again, { retry: false });
    clock.advance(1000);
    expect(sendStep(pacer.poll())).toMatchObject({ kind: 'edit', ts: '1.2' });
    expect(pacer.pending()).toBe(0);
  });
});

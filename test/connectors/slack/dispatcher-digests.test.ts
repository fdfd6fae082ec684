import { HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import type { SlackAlertDispatcher } from '../../../connectors/slack/dispatcher.js';
import { fakeSlackChat, useSlackMsw, type SlackCall } from './harness.js';
import {
  alertIdOf,
  append,
  consentFailed,
  contact,
  dispatcher,
  isDigest,
  isOptoutReview,
  optoutReview,
  slackSettings,
  syncFailed,
  useDispatcherWorld,
  workspace,
} from './dispatcher-world.js';

const msw = useSlackMsw({ passLoopback: false });
const slack = fakeSlackChat();
const { callsTo, scripted } = slack;
const world = useDispatcherWorld(slack, msw);

/** The fake clock's time of each Slack call, in order. */
async function runRecordingTimes(runner: SlackAlertDispatcher, times: { method: string; at: number }[]): Promise<void> {
  const before = slack.calls.length;
  await runner.runOnce();
  for (const call of slack.calls.slice(before)) times.push({ method: call.method, at: world.clock.now().getTime() });
}

function gaps(times: readonly number[]): number[] {
  return times.slice(1).map((at, index) => at - (times[index] ?? at));
}

/**
 * Threshold 1: al1 is posted on its own, al2 and al3 open the digest; al4 and al5 are folded into
 * it afterwards and wait for its next edit.
 */
async function burstWithPostedDigest() {
  const ws = await workspace(world, { slack: slackSettings({ digestThreshold: 1 }) });
  const contactId = await contact(world, ws.id);
  let seq = 0;
  const runner = dispatcher(world, { ids: { next: () => `al${++seq}` } });
  await append(world, ...[1, 2, 3].map(() => consentFailed(world, ws.id, contactId)));
  expect(await runner.runOnce()).toMatchObject({ posted: 1 });
  world.clock.advance(1_000);
  expect(await runner.runOnce()).toMatchObject({ digestsPosted: 1 });
  await append(world, consentFailed(world, ws.id, contactId), consentFailed(world, ws.id, contactId));
  expect(await runner.runOnce()).toMatchObject({ digestsUpdated: 0 });
  return { ws, contactId, runner };
}

describe('SlackAlertDispatcher: a digest message Slack will not edit', () => {
  it.each(['message_not_found', 'cant_update_message', 'edit_window_closed'])(
    'on %s drops the digest and posts the alerts it had not shown, without failing any',
    async (error) => {
      const { ws, contactId, runner } = await burstWithPostedDigest();
      scripted['chat.update'] = [() => HttpResponse.json({ ok: false, error })];
      world.clock.advance(5_000);
      expect(await runner.runOnce()).toMatchObject({ digestsDropped: 1, failed: 0, posted: 0 });
      for (const id of ['al4', 'al5']) expect(await world.alerts.getRecord(ws.id, id)).toMatchObject({ delivery: 'pending', lastError: null });

      for (let second = 0; second < 3; second += 1) {
        world.clock.advance(1_000);
        await runner.runOnce();
      }
      const posts = callsTo('chat.postMessage');
      expect(posts.slice(2).map(alertIdOf)).toEqual(['al4', 'al5']);
      expect(callsTo('chat.update')).toHaveLength(1);
      for (const id of ['al1', 'al4', 'al5']) expect((await world.alerts.getRecord(ws.id, id))?.delivery).toBe('posted');
      for (const id of ['al2', 'al3']) expect((await world.alerts.getRecord(ws.id, id))?.delivery).toBe('digested');

      // The burst goes on: a new digest is posted, the lost one is never edited again.
      await append(world, consentFailed(world, ws.id, contactId), consentFailed(world, ws.id, contactId));
      world.clock.advance(1_000);
      expect(await runner.runOnce()).toMatchObject({ digestsPosted: 1 });
      const digest = callsTo('chat.postMessage').at(-1);
      expect(digest !== undefined && isDigest(digest)).toBe(true);
      expect(digest?.form.get('text')).toContain('2 Consentry alerts since');
      expect(callsTo('chat.update')).toHaveLength(1);
      expect(await world.alerts.listPending(ws.id, 10)).toEqual([]);
    },
  );

  it('posts one by one the alerts of a digest Slack refuses to post; only an alert refused on its own fails', async () => {
    const ws = await workspace(world, { slack: slackSettings({ digestThreshold: 1 }) });
    const contactId = await contact(world, ws.id);
    let seq = 0;
    const runner = dispatcher(world, { ids: { next: () => `al${++seq}` } });
    await append(world, ...[1, 2, 3].map(() => consentFailed(world, ws.id, contactId)));
    scripted['chat.postMessage'] = [
      () => HttpResponse.json({ ok: true, channel: 'C0ALERTS01', ts: '1767261600.000001' }),
      () => HttpResponse.json({ ok: false, error: 'msg_too_long' }),
      () => HttpResponse.json({ ok: false, error: 'invalid_blocks' }),
    ];
    expect(await runner.runOnce()).toMatchObject({ posted: 1 });
    world.clock.advance(1_000);
    expect(await runner.runOnce()).toMatchObject({ digestsDropped: 1, failed: 0 });
    world.clock.advance(1_000);
    expect(await runner.runOnce()).toMatchObject({ failed: 1 });
    world.clock.advance(1_000);
    expect(await runner.runOnce()).toMatchObject({ posted: 1 });

    expect(callsTo('chat.postMessage').map((call) => (isDigest(call) ? 'digest' : alertIdOf(call)))).toEqual(['al1', 'digest', 'al2', 'al3']);
    expect(await world.alerts.getRecord(ws.id, 'al2')).toMatchObject({ delivery: 'failed', lastError: 'invalid_blocks' });
    expect(await world.alerts.getRecord(ws.id, 'al3')).toMatchObject({ delivery: 'posted' });
  });

  it('counts as failed only the alerts whose state changed', async () => {
    const { ws, runner } = await burstWithPostedDigest();
    // An answer that may hide an edit: the alerts it was to show first are failed, those already shown stay digested.
    scripted['chat.update'] = [() => HttpResponse.json({ ok: true })];
    world.clock.advance(5_000);
    expect(await runner.runOnce()).toMatchObject({ failed: 2, digestsDropped: 0 });
    for (const id of ['al2', 'al3']) expect((await world.alerts.getRecord(ws.id, id))?.delivery).toBe('digested');
    for (const id of ['al4', 'al5']) expect((await world.alerts.getRecord(ws.id, id))?.delivery).toBe('failed');
  });
});

describe('SlackAlertDispatcher: opt-out reviews in a burst', () => {
  it('posts every review as its own message with its buttons, one per second, and digests only the failures', async () => {
    const ws = await workspace(world, { slack: slackSettings({ digestThreshold: 2 }) });
    const contactId = await contact(world, ws.id);
    // In outbox order: a failure posted on its own, eight reviews, then two failures past the threshold.
    const first = consentFailed(world, ws.id, contactId);
    const reviews = Array.from({ length: 8 }, (_, n) => optoutReview(world, ws.id, contactId, `please stop ${n}`));
    await append(world, first, ...reviews, consentFailed(world, ws.id, contactId), syncFailed(world, ws.id, contactId));
    const runner = dispatcher(world);
    const times: { method: string; at: number }[] = [];
    for (let tick = 0; tick < 80; tick += 1) {
      await runRecordingTimes(runner, times);
      world.clock.advance(250);
    }
    expect(await world.alerts.listPending(ws.id, 100)).toEqual([]);

    const posts = callsTo('chat.postMessage');
    const reviewPosts = posts.filter(isOptoutReview);
    expect(reviewPosts.map((call) => call.form.get('text'))).toEqual(reviews.map((_, n) => expect.stringContaining(`please stop ${n}`)));
    expect(new Set(reviewPosts.map(alertIdOf)).size).toBe(8);
    const digests = posts.filter(isDigest);
    expect(digests).toHaveLength(1);
    const digestText = digests.map((call: SlackCall) => call.form.get('blocks') ?? '').join('');
    expect(digestText).toContain('Consent failed');
    expect(digestText).toContain('Sync failed');
    expect(digestText).not.toContain('Opt-out review');
    expect(digests[0]?.form.get('text')).toContain('2 Consentry alerts since');
    expect(posts).toHaveLength(10);
    expect(Math.min(...gaps(times.map((time) => time.at)))).toBeGreaterThanOrEqual(1_000);
  });
});

describe('SlackAlertDispatcher: digest edits', () => {
  it('edits an open digest at most once every five seconds during a sustained burst', async () => {
    const ws = await workspace(world, { slack: slackSettings({ digestThreshold: 1 }) });
    const contactId = await contact(world, ws.id);
    const runner = dispatcher(world);
    const times: { method: string; at: number }[] = [];
    for (let tick = 0; tick < 240; tick += 1) {
      if (tick % 4 === 0) await append(world, consentFailed(world, ws.id, contactId));
      await runRecordingTimes(runner, times);
      world.clock.advance(250);
    }
    const updates = times.filter((time) => time.method === 'chat.update').map((time) => time.at);
    expect(updates.length).toBeGreaterThanOrEqual(10);
    expect(updates.length).toBeLessThanOrEqual(12);
    expect(Math.min(...gaps(updates))).toBeGreaterThanOrEqual(5_000);
    expect(callsTo('chat.postMessage')).toHaveLength(2);
  });

  it('pauses only digest edits when chat.update answers 429: new messages still go out', async () => {
    const { ws, contactId, runner } = await burstWithPostedDigest();
    scripted['chat.update'] = [() => HttpResponse.json({ ok: false, error: 'ratelimited' }, { status: 429, headers: { 'Retry-After': '60' } })];
    world.clock.advance(5_000);
    expect(await runner.runOnce()).toMatchObject({ rateLimited: 1 });

    await append(world, optoutReview(world, ws.id, contactId));
    world.clock.advance(1_000);
    expect(await runner.runOnce()).toMatchObject({ posted: 1, digestsUpdated: 0 });
    const review = callsTo('chat.postMessage').at(-1);
    expect(review !== undefined && isOptoutReview(review)).toBe(true);

    // Retry-After counts from the refused edit.
    world.clock.advance(58_999);
    expect(await runner.runOnce()).toMatchObject({ digestsUpdated: 0 });
    world.clock.advance(1);
    expect(await runner.runOnce()).toMatchObject({ digestsUpdated: 1 });
    expect(callsTo('chat.update')).toHaveLength(2);
    expect(callsTo('chat.update')[1]?.form.get('text')).toContain('4 Consentry alerts since');
    for (const id of ['al4', 'al5']) expect((await world.alerts.getRecord(ws.id, id))?.delivery).toBe('digested');
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SlackAlertDispatcher } from '../../../connectors/slack/dispatcher.js';
import { createEngine } from '../../../src/engine.js';
import { FakeClock } from '../../../src/ports/clock.js';
import type { IdGenerator } from '../../../src/ports/ids.js';
import { ERASURE_STORES, type ErasureSetup } from './erasure-bed.js';
import { fakeSlackChat, useSlackMsw, type SlackCall } from './harness.js';
import {
  alertIdOf,
  append,
  CHANNEL,
  consentFailed,
  contact,
  dispatcher,
  isDigest,
  slackSettings,
  T0,
  TOKEN,
  workspace,
  type DispatcherWorld,
} from './dispatcher-world.js';

/**
 * A digest message stays open while its burst goes on (pacer.ts: `digestWindowMs` after its last
 * alert). The dispatcher's lane is built again on a restart, when the worker lease comes back and
 * when the Slack settings change; the burst must go on in the digest message Slack shows, edited
 * in place, as if the lane had never been rebuilt, unless that message can no longer be edited
 * from the new lane (another channel, another bot token) or the window has passed.
 */

const msw = useSlackMsw({ passLoopback: false });
const slack = fakeSlackChat();
const { callsTo } = slack;

/** The second chat.postMessage of a test (the first is al1 on its own). */
const DIGEST_TS = '1767261600.000002';
const NEW_CHANNEL = 'C0NEWCHAN1';

const textOf = (call: SlackCall | undefined): string => call?.form.get('text') ?? '';
const blocksText = (call: SlackCall | undefined): string => call?.form.get('blocks') ?? '';

describe.each(Object.keys(ERASURE_STORES))('SlackAlertDispatcher: the open digest after its lane is rebuilt (%s store)', (kind) => {
  let setup: ErasureSetup;
  let world: DispatcherWorld;
  let seq = 0;
  /** Alert ids shared by every dispatcher of a test: al1, al2, … in the order alerts are made. */
  const ids: IdGenerator = { next: () => `al${++seq}` };

  beforeEach(() => {
    seq = 0;
    slack.reset(msw);
    const make = ERASURE_STORES[kind];
    if (!make) throw new Error(`no store ${kind}`);
    setup = make();
    const clock = new FakeClock(T0);
    world = { clock, store: setup.store, engine: createEngine({ store: setup.store, clock }), alerts: setup.alerts };
  });

  afterEach(async () => {
    await setup.cleanup();
  });

  /**
   * Threshold 1: Ana's alert (al1) is posted on its own, Ben's and Cai's (al2, al3) open the digest,
   * posted a second later as the second message. All three were made at T0.
   */
  async function burstWithOpenDigest(runner: SlackAlertDispatcher) {
    const ws = await workspace(world, { slack: slackSettings({ digestThreshold: 1 }) });
    const people = {
      ana: await contact(world, ws.id, 'Ana One'),
      ben: await contact(world, ws.id, 'Ben Two'),
      cai: await contact(world, ws.id, 'Cai Three'),
      dan: await contact(world, ws.id, 'Dan Four'),
      eva: await contact(world, ws.id, 'Eva Five'),
    };
    await append(
      world,
      consentFailed(world, ws.id, people.ana, 'Ana One'),
      consentFailed(world, ws.id, people.ben, 'Ben Two'),
      consentFailed(world, ws.id, people.cai, 'Cai Three'),
    );
    expect(await runner.runOnce()).toMatchObject({ posted: 1 });
    world.clock.advance(1_000);
    expect(await runner.runOnce()).toMatchObject({ digestsPosted: 1 });
    const posted = callsTo('chat.postMessage')[1];
    expect(posted !== undefined && isDigest(posted)).toBe(true);
    expect(textOf(posted)).toContain('2 Consentry alerts since');
    expect(await world.alerts.getRecord(ws.id, 'al3')).toMatchObject({ delivery: 'digested', message: { channel: CHANNEL, ts: DIGEST_TS } });
    const more = {
      dan: () => append(world, consentFailed(world, ws.id, people.dan, 'Dan Four')),
      eva: () => append(world, consentFailed(world, ws.id, people.eva, 'Eva Five')),
    };
    return { ws, people, posted, more };
  }

  /** The last edit is of the digest message, listing al2 … al5 and counting four, since the burst began. */
  async function expectFourInTheDigest(workspaceId: string, posted: SlackCall | undefined): Promise<void> {
    expect(callsTo('chat.postMessage')).toHaveLength(2);
    const update = callsTo('chat.update').at(-1);
    expect(update?.form.get('ts')).toBe(DIGEST_TS);
    expect(update?.form.get('channel')).toBe(CHANNEL);
    expect(textOf(update)).toBe(textOf(posted).replace('2 Consentry alerts since', '4 Consentry alerts since'));
    for (const name of ['Ben Two', 'Cai Three', 'Dan Four', 'Eva Five']) expect(blocksText(update)).toContain(name);
    expect(blocksText(update)).not.toContain('Ana One');
    expect(blocksText(update)).toContain('"text":"*Consent failed*\\n4"');
    for (const id of ['al4', 'al5']) {
      expect(await world.alerts.getRecord(workspaceId, id)).toMatchObject({ delivery: 'digested', message: { channel: CHANNEL, ts: DIGEST_TS } });
    }
    expect((await world.alerts.listShownIn(workspaceId, { channel: CHANNEL, ts: DIGEST_TS })).map((alert) => alert.id)).toEqual(['al2', 'al3', 'al4', 'al5']);
    expect(await world.alerts.listPending(workspaceId, 10)).toEqual([]);
  }

  it.each([
    ['a second after it was posted', 1_000],
    ['just inside the window', 58_000],
  ])('a new dispatcher on the same store folds the rest of the burst into the digest still open, %s', async (_when, elapsed) => {
    const first = dispatcher(world, { ids });
    const { ws, posted, more } = await burstWithOpenDigest(first);

    world.clock.advance(elapsed);
    await more.dan();
    await more.eva();
    const restarted = dispatcher(world, { ids });
    expect(await restarted.runOnce()).toMatchObject({ alerts: 2, posted: 0, digestsPosted: 0, digestsUpdated: 0 });
    // Nobody knows when the digest was edited last: the edit waits its full interval from the restart.
    world.clock.advance(4_999);
    expect(await restarted.runOnce()).toMatchObject({ digestsUpdated: 0 });
    world.clock.advance(1);
    expect(await restarted.runOnce()).toMatchObject({ digestsUpdated: 1, posted: 0, digestsPosted: 0 });
    await expectFourInTheDigest(ws.id, posted);
  });

  it('posts anew once the digest window has passed since the digest took its last alert', async () => {
    const first = dispatcher(world, { ids });
    const { ws, more } = await burstWithOpenDigest(first);

    // The digest's last alert was made at T0: the window of 60 s has passed.
    world.clock.advance(59_000);
    await more.dan();
    await more.eva();
    const restarted = dispatcher(world, { ids });
    expect(await restarted.runOnce()).toMatchObject({ posted: 1, digestsUpdated: 0 });
    world.clock.advance(1_000);
    expect(await restarted.runOnce()).toMatchObject({ digestsPosted: 1, digestsUpdated: 0 });
    world.clock.advance(10_000);
    await restarted.runOnce();

    expect(callsTo('chat.update')).toEqual([]);
    const posts = callsTo('chat.postMessage');
    expect(posts).toHaveLength(4);
    expect(alertIdOf(posts[2])).toBe('al4');
    expect(posts[3] !== undefined && isDigest(posts[3])).toBe(true);
    expect(textOf(posts[3])).toContain('1 Consentry alert since');
    expect(blocksText(posts[3])).toContain('Eva Five');
    expect(await world.alerts.getRecord(ws.id, 'al5')).toMatchObject({ delivery: 'digested', message: { ts: '1767261600.000004' } });
  });

  it('folds into the open digest once the worker lease, lost mid-burst, is held again', async () => {
    let leased = true;
    const runner = dispatcher(world, { ids });
    runner.sendOnlyWhile(() => leased);
    const { ws, posted, more } = await burstWithOpenDigest(runner);

    leased = false;
    await more.dan();
    world.clock.advance(1_000);
    expect(await runner.runOnce()).toMatchObject({ alerts: 1, posted: 0, digestsPosted: 0, digestsUpdated: 0 });

    leased = true;
    await more.eva();
    world.clock.advance(1_000);
    expect(await runner.runOnce()).toMatchObject({ alerts: 1, posted: 0, digestsPosted: 0, digestsUpdated: 0 });
    world.clock.advance(5_000);
    expect(await runner.runOnce()).toMatchObject({ digestsUpdated: 1, posted: 0, digestsPosted: 0 });
    expect(callsTo('chat.update')).toHaveLength(1);
    await expectFourInTheDigest(ws.id, posted);
  });

  it('goes on with the digest another holder edited while the lease was away, once it is back', async () => {
    let firstHolds = true;
    const first = dispatcher(world, { ids });
    first.sendOnlyWhile(() => firstHolds);
    const second = dispatcher(world, { ids });
    second.sendOnlyWhile(() => !firstHolds);
    const { ws, posted, more } = await burstWithOpenDigest(first);

    firstHolds = false;
    await more.dan();
    world.clock.advance(1_000);
    expect(await first.runOnce()).toMatchObject({ posted: 0, digestsUpdated: 0 });
    expect(await second.runOnce()).toMatchObject({ posted: 0, digestsPosted: 0, digestsUpdated: 0 });
    world.clock.advance(5_000);
    expect(await second.runOnce()).toMatchObject({ digestsUpdated: 1 });
    expect(textOf(callsTo('chat.update')[0])).toContain('3 Consentry alerts since');

    firstHolds = true;
    await more.eva();
    world.clock.advance(1_000);
    expect(await first.runOnce()).toMatchObject({ posted: 0, digestsPosted: 0, digestsUpdated: 0 });
    world.clock.advance(5_000);
    expect(await first.runOnce()).toMatchObject({ digestsUpdated: 1 });
    expect(callsTo('chat.update').map((call) => call.form.get('ts'))).toEqual([DIGEST_TS, DIGEST_TS]);
    await expectFourInTheDigest(ws.id, posted);
  });

  it('folds into the open digest after a settings change that keeps the alert channel and the bot token', async () => {
    const runner = dispatcher(world, { ids });
    const { ws, posted, more } = await burstWithOpenDigest(runner);

    await world.engine.workspace(ws.id).updateSettings({ slack: slackSettings({ digestThreshold: 2 }) });
    await more.dan();
    await more.eva();
    world.clock.advance(1_000);
    expect(await runner.runOnce()).toMatchObject({ posted: 0, digestsPosted: 0, digestsUpdated: 0 });
    world.clock.advance(5_000);
    expect(await runner.runOnce()).toMatchObject({ digestsUpdated: 1 });
    await expectFourInTheDigest(ws.id, posted);
  });

  it('posts in the new alert channel after the channel changed: the old digest is not edited', async () => {
    const runner = dispatcher(world, { ids });
    const { ws, more } = await burstWithOpenDigest(runner);

    await world.engine.workspace(ws.id).updateSettings({ slack: slackSettings({ digestThreshold: 1, alertChannel: NEW_CHANNEL }) });
    await more.dan();
    await more.eva();
    for (const step of [1_000, 1_000, 5_000]) {
      world.clock.advance(step);
      await runner.runOnce();
    }

    expect(callsTo('chat.update')).toEqual([]);
    const posts = callsTo('chat.postMessage').slice(2);
    expect(posts.map((call) => call.form.get('channel'))).toEqual([NEW_CHANNEL, NEW_CHANNEL]);
    expect(alertIdOf(posts[0])).toBe('al4');
    expect(posts[1] !== undefined && isDigest(posts[1])).toBe(true);
    expect(textOf(posts[1])).toContain('1 Consentry alert since');
    expect(await world.alerts.getRecord(ws.id, 'al5')).toMatchObject({ delivery: 'digested', message: { channel: NEW_CHANNEL } });
  });

  it('posts a new digest with the new bot token: the old digest is not edited', async () => {
    const runner = dispatcher(world, { ids });
    const { ws, more } = await burstWithOpenDigest(runner);

    await world.engine.workspace(ws.id).updateSettings({ slack: slackSettings({ digestThreshold: 1, botToken: 'xoxb-reinstalled' }) });
    await more.dan();
    await more.eva();
    world.clock.advance(1_000);
    // Same channel, same burst: the alerts are still digested, in a new message.
    expect(await runner.runOnce()).toMatchObject({ posted: 0, digestsPosted: 1, digestsUpdated: 0 });
    world.clock.advance(10_000);
    await runner.runOnce();

    expect(callsTo('chat.update')).toEqual([]);
    const posts = callsTo('chat.postMessage');
    expect(posts.map((call) => call.authorization)).toEqual([`Bearer ${TOKEN}`, `Bearer ${TOKEN}`, 'Bearer xoxb-reinstalled']);
    expect(textOf(posts[2])).toContain('2 Consentry alerts since');
    expect(await world.alerts.getRecord(ws.id, 'al4')).toMatchObject({ delivery: 'digested', message: { channel: CHANNEL, ts: '1767261600.000003' } });
  });

  it('lists a contact erased before the restart in its erased form, in the redaction and in the edits that go on', async () => {
    const first = dispatcher(world, { ids });
    const { ws, people, more } = await burstWithOpenDigest(first);

    await world.engine.workspace(ws.id).eraseContact(people.ben);
    await more.dan();
    await more.eva();
    world.clock.advance(1_000);
    const restarted = dispatcher(world, { ids });
    expect(await restarted.runOnce()).toMatchObject({ redacted: 1, posted: 0, digestsPosted: 0 });
    world.clock.advance(5_000);
    expect(await restarted.runOnce()).toMatchObject({ digestsUpdated: 1 });

    const updates = callsTo('chat.update');
    expect(updates.map((call) => call.form.get('ts'))).toEqual([DIGEST_TS, DIGEST_TS]);
    for (const call of updates) {
      expect([...call.form.values()].join('\n')).not.toContain('Ben Two');
      expect(blocksText(call)).toContain('Contact erased');
    }
    expect(textOf(updates[0])).toContain('2 Consentry alerts since');
    expect(textOf(updates[1])).toContain('4 Consentry alerts since');
    expect(await world.alerts.getRecord(ws.id, 'al2')).toMatchObject({ delivery: 'digested', redactionDue: false, contactName: null });
  });
});

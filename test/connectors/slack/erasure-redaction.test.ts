import { http, HttpResponse } from 'msw';
import { beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SlackAlertDispatcher } from '../../../connectors/slack/dispatcher.js';
import { createSlackReceiver } from '../../../connectors/slack/receiver.js';
import { ERASED } from '../../../src/core/events.js';
import type { Engine } from '../../../src/engine.js';
import type { FakeClock } from '../../../src/ports/clock.js';
import { ANA, ANA_EMAIL, ANA_MESSAGE, ANA_RECORD, CHANNEL, ERASURE_STORES, useErasureBed, type ErasureSetup } from './erasure-bed.js';
import { recordingLogger } from './fixtures.js';
import { fakeSlackChat, handlerMocks, listenLocally, signedPayload, SLACK_API, slackCallOf, slackTimestamp, useSlackMsw, type SlackCall } from './harness.js';

const TOKEN = 'xoxb-redaction-token';
const SECRET = 'redaction-secret';
/** Everything of Ana's that a Slack message could carry. */
const ANA_DATA = [ANA, ANA_MESSAGE, ANA_EMAIL, ANA_RECORD, 'texting'];

const msw = useSlackMsw({ passLoopback: true });
const slack = fakeSlackChat();
const { scripted } = slack;

/** Everything a Slack call carried: its text, its blocks, every field. */
const sent = (call: SlackCall | undefined): string => (call === undefined ? '' : [...call.form.values()].join('\n'));

const BlockTypesSchema = z.array(z.object({ type: z.string() }));
const blockTypes = (call: SlackCall | undefined): string[] => BlockTypesSchema.parse(JSON.parse(call?.form.get('blocks') ?? '[]')).map((block) => block.type);

describe.each(Object.keys(ERASURE_STORES))('Slack messages of an erased contact (%s store)', (kind) => {
  const bed = useErasureBed(kind, { botToken: TOKEN, signingSecret: SECRET, botId: 'B0BOT', botUserId: 'U0BOT' });
  const { dispatcher, workspace, contact, consentFailed, optoutReview, append } = bed;
  let setup: ErasureSetup;
  let clock: FakeClock;
  let engine: Engine;
  let ephemeral: SlackCall[];

  beforeEach(() => {
    ephemeral = [];
    slack.reset(msw);
    msw.use(
      http.post(`${SLACK_API}/chat.postEphemeral`, async ({ request }) => {
        ephemeral.push(await slackCallOf('chat.postEphemeral', request));
        return HttpResponse.json({ ok: true });
      }),
    );
    ({ setup, clock, engine } = bed.state());
  });

  /** Runs the dispatcher every second for `seconds`. */
  async function runFor(runner: SlackAlertDispatcher, seconds: number): Promise<void> {
    for (let second = 0; second < seconds; second += 1) {
      clock.advance(1000);
      await runner.runOnce();
    }
  }

  /** A posted opt-out review of Ana's, and the dispatcher that posted it. */
  async function postedReview(): Promise<{ ws: string; ana: string; runner: SlackAlertDispatcher; posted: SlackCall | undefined }> {
    const ws = await workspace();
    const ana = await contact(ws, ANA, '101');
    const runner = dispatcher();
    await append(optoutReview(ws, ana));
    expect(await runner.runOnce()).toMatchObject({ posted: 1 });
    const posted = slack.callsTo('chat.postMessage')[0];
    expect(sent(posted)).toContain(ANA_MESSAGE);
    return { ws, ana, runner, posted };
  }

  it('edits the posted alert once into a closed form naming and quoting nobody, and a later click says the contact was erased', async () => {
    const { ws, ana, runner, posted } = await postedReview();
    await engine.workspace(ws).eraseContact(ana);
    clock.advance(1000);
    expect(await runner.runOnce()).toMatchObject({ redacted: 1 });
    await runFor(runner, 120);

    const updates = slack.callsTo('chat.update');
    expect(updates).toHaveLength(1);
    const [update] = updates;
    expect(update?.form.get('channel')).toBe(CHANNEL);
    expect(update?.form.get('ts')).toBe('1767261600.000001');
    const body = sent(update);
    for (const personal of ANA_DATA) expect(body).not.toContain(personal);
    expect(body).not.toContain(ERASED);
    expect(update?.form.get('text')).toContain('Contact erased');
    expect(blockTypes(update)).not.toContain('actions');
    expect(blockTypes(posted)).toContain('actions');
    expect(await setup.alerts.getRecord(ws, 'al_1')).toMatchObject({ erased: true, redactionDue: false, delivery: 'posted' });

    // The button, still on a copy of the message somewhere (a notification, a client that missed the edit), does nothing.
    const handler = handlerMocks();
    const receiver = createSlackReceiver({ engine, alerts: setup.alerts, clock, env: {}, logger: recordingLogger(), handler });
    const server = await listenLocally((req, res) => void receiver.handleRequest(req, res));
    try {
      const click = {
        type: 'block_actions',
        user: { id: 'UACTOR1' },
        api_app_id: 'A0APP',
        team: { id: 'T0TEAM' },
        container: { type: 'message', message_ts: '1767261600.000001', channel_id: CHANNEL },
        trigger_id: '1767261630.000000.trigger',
        actions: [{ type: 'button', action_id: 'apply_optout', value: 'al_1' }],
      };
      const { headers, body: form } = signedPayload(click, SECRET, slackTimestamp(clock));
      expect((await fetch(`${server.url}/slack/events`, { method: 'POST', headers, body: form })).status).toBe(200);
      await receiver.drain();
    } finally {
      await server.close();
    }
    expect(handler.applyOptOut).not.toHaveBeenCalled();
    expect(ephemeral.map((call) => call.form.get('text'))).toEqual(['The contact of this alert was erased, so the alert is closed; nothing was changed.']);
    expect(slack.callsTo('chat.update')).toHaveLength(1);
  });

  it('edits a digest that listed the contact, long after it closed, to show "Contact erased" for that line', async () => {
    const ws = await workspace(1);
    const ana = await contact(ws, ANA, '101');
    const ben = await contact(ws, 'Ben Test', '102');
    const runner = dispatcher();
    await append(consentFailed(ws, ben, 'Ben Test'), consentFailed(ws, ana, ANA), consentFailed(ws, ben, 'Ben Test'));
    await runner.runOnce();
    await runFor(runner, 180);
    // Slack gave the alert posted on its own ts …0001, the digest …0002 (harness.ts).
    const [, digest] = slack.callsTo('chat.postMessage');
    expect(sent(digest)).toContain('2 Consentry alerts');
    expect(sent(digest)).toContain(ANA);
    expect(slack.callsTo('chat.update')).toHaveLength(0);

    await engine.workspace(ws).eraseContact(ana);
    await runFor(runner, 120);
    const updates = slack.callsTo('chat.update');
    expect(updates).toHaveLength(1);
    expect(updates[0]?.form.get('ts')).toBe('1767261600.000002');
    const body = sent(updates[0]);
    for (const personal of ANA_DATA) expect(body).not.toContain(personal);
    expect(body).toContain('2 Consentry alerts');
    expect(body).toContain('Consent failed: Contact erased');
    expect(body).toContain('Consent failed: Ben Test');
  });

  it('loses no edit when Slack fails it: a 5xx and a 429 are retried, and a restart picks it up from the store', async () => {
    const { ws, ana, runner } = await postedReview();
    scripted['chat.update'] = [
      () => new HttpResponse('upstream failed', { status: 502 }),
      () => HttpResponse.json({ ok: false, error: 'ratelimited' }, { status: 429, headers: { 'Retry-After': '30' } }),
    ];
    await engine.workspace(ws).eraseContact(ana);
    clock.advance(1000);
    expect(await runner.runOnce()).toMatchObject({ retried: 1, redacted: 0 });
    await runFor(runner, 1);
    expect(slack.callsTo('chat.update')).toHaveLength(2);
    expect((await setup.alerts.getRecord(ws, 'al_1'))?.redactionDue).toBe(true);

    // The process restarts while the edit waits out the 429: the store still owes it.
    await runner.stop();
    const restarted = dispatcher();
    await runFor(restarted, 60);
    const updates = slack.callsTo('chat.update');
    expect(updates).toHaveLength(3);
    for (const update of updates) expect(sent(update)).not.toContain(ANA);
    expect((await setup.alerts.getRecord(ws, 'al_1'))?.redactionDue).toBe(false);
  });

  it('is done with a message deleted in Slack, and retries nothing', async () => {
    const { ws, ana, runner } = await postedReview();
    scripted['chat.update'] = [() => HttpResponse.json({ ok: false, error: 'message_not_found' })];
    await engine.workspace(ws).eraseContact(ana);
    clock.advance(1000);
    expect(await runner.runOnce()).toMatchObject({ redacted: 1 });
    await runFor(runner, 120);
    expect(slack.callsTo('chat.update')).toHaveLength(1);
    expect(await setup.alerts.listRedactions(ws, 10)).toEqual([]);
  });

  it('does not retry every second an edit Slack refuses for good, and tries it again once the Slack settings change', async () => {
    const { ws, ana, runner } = await postedReview();
    scripted['chat.update'] = [() => HttpResponse.json({ ok: false, error: 'invalid_blocks' })];
    await engine.workspace(ws).eraseContact(ana);
    await runFor(runner, 120);
    expect(slack.callsTo('chat.update')).toHaveLength(1);
    expect((await setup.alerts.getRecord(ws, 'al_1'))?.redactionDue).toBe(true);

    await engine.workspace(ws).updateSettings({ slack: { digestThreshold: 5 } });
    await runFor(runner, 2);
    expect(slack.callsTo('chat.update')).toHaveLength(2);
    expect((await setup.alerts.getRecord(ws, 'al_1'))?.redactionDue).toBe(false);
  });
});

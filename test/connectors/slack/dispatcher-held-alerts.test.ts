import { HttpResponse } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { fakeSlackChat, useSlackMsw } from './harness.js';
import {
  alertIdOf,
  append,
  CHANNEL,
  consentFailed,
  contact,
  dispatcher,
  isOptoutReview,
  optoutReview,
  slackSettings,
  T0,
  useDispatcherWorld,
  workspace,
} from './dispatcher-world.js';

const msw = useSlackMsw({ passLoopback: false });
const slack = fakeSlackChat();
const { callsTo, scripted } = slack;
const world = useDispatcherWorld(slack, msw);

const ENV_TOKEN = 'xoxb-from-env';
const ENV_CHANNEL = 'C0ENVCHAN1';
/** The environment of a redeploy that forgot the signing secret. */
const HALF_SET_ENV = { SLACK_BOT_TOKEN: ENV_TOKEN, SLACK_ALERT_CHANNEL: ENV_CHANNEL, HUBSPOT_PORTAL_ID: '12345' };
const FULL_ENV = { ...HALF_SET_ENV, SLACK_SIGNING_SECRET: 'env-secret' };

describe('SlackAlertDispatcher: a set-up that is not complete yet', () => {
  it('keeps the alerts read while the environment is half set, and posts them once it is complete', async () => {
    const ws = await world.engine.createWorkspace({ name: 'Default workspace' });
    const ana = await world.engine.workspace(ws.id).createContact({ name: 'Ana Test' });
    await world.store.transaction((tx) => tx.updateContact({ ...ana, hubspotId: '101' }));
    await append(world, consentFailed(world, ws.id, ana.id), optoutReview(world, ws.id, ana.id));
    const warn = vi.fn();

    const halfSet = dispatcher(world, { env: HALF_SET_ENV, logger: { warn, error: vi.fn() } });
    expect(await halfSet.runOnce()).toMatchObject({ events: 2, alerts: 2, posted: 0 });
    world.clock.advance(60 * 60_000);
    expect(await halfSet.runOnce()).toMatchObject({ events: 0, posted: 0 });
    expect(slack.calls).toEqual([]);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]?.[1]).toContain('wait until its Slack set-up is complete: set SLACK_SIGNING_SECRET');
    const waiting = await world.alerts.listPending(ws.id, 10);
    expect(waiting.map((alert) => alert.event.type)).toEqual(['consent.failed', 'optout.review_needed']);
    expect(waiting[0]).toMatchObject({ slackChannel: ENV_CHANNEL, contactUrl: 'https://app.hubspot.com/contacts/12345/record/0-1/101' });

    // The next deployment has the secret: both alerts go out, paced, the review with its buttons.
    const complete = dispatcher(world, { env: FULL_ENV });
    expect(await complete.runOnce()).toMatchObject({ events: 0, posted: 1 });
    world.clock.advance(1_000);
    expect(await complete.runOnce()).toMatchObject({ posted: 1 });
    const posts = callsTo('chat.postMessage');
    expect(posts.map((call) => [call.authorization, call.form.get('channel')])).toEqual([
      [`Bearer ${ENV_TOKEN}`, ENV_CHANNEL],
      [`Bearer ${ENV_TOKEN}`, ENV_CHANNEL],
    ]);
    expect(posts.map(isOptoutReview)).toEqual([false, true]);
    expect(await world.alerts.listPending(ws.id, 10)).toEqual([]);
  });

  it('records alerts only for a workspace with some Slack set-up; a workspace without any gets no rows, then or later', async () => {
    const first = await world.engine.createWorkspace({ name: 'Default workspace' });
    const second = await world.engine.createWorkspace({ name: 'Initech' });
    const ana = await contact(world, first.id, 'Ana Test');
    const ben = await contact(world, second.id, 'Ben Test');
    await append(world, consentFailed(world, first.id, ana), consentFailed(world, second.id, ben));

    expect(await dispatcher(world, { env: HALF_SET_ENV }).runOnce()).toMatchObject({ events: 2, alerts: 1 });
    expect(await world.alerts.listPending(first.id, 10)).toHaveLength(1);
    expect(await world.alerts.listPending(second.id, 10)).toEqual([]);

    // Slack turned on for the second workspace afterwards: what happened before is not alerted.
    await world.engine.workspace(second.id).updateSettings({ slack: slackSettings() });
    const runner = dispatcher(world, { env: FULL_ENV });
    expect(await runner.runOnce()).toMatchObject({ events: 0, alerts: 0, posted: 1 });
    world.clock.advance(1_000);
    expect(await runner.runOnce()).toMatchObject({ posted: 0 });
    expect(callsTo('chat.postMessage').map((call) => call.form.get('channel'))).toEqual([ENV_CHANNEL]);
    expect(await world.alerts.listPending(second.id, 10)).toEqual([]);
  });
});

describe('SlackAlertDispatcher: every error of the set-up holds the alerts', () => {
  const SETUP_ERRORS: [string, string][] = [
    ['restricted_action', 'a Slack admin must allow apps to post in the alert channel'],
    ['restricted_action_read_only_channel', 'the alert channel is read-only'],
    ['restricted_action_thread_only_channel', 'the alert channel takes replies in threads only'],
    ['ekm_access_denied', 'Enterprise Key Management suspended posting'],
    ['no_permission', 'the app may not post in the alert channel'],
    ['token_expired', 'the bot token expired'],
  ];

  it.each(SETUP_ERRORS)('holds the alerts on %s, says how to fix it, and posts every one once the settings change', async (error, hint) => {
    const ws = await workspace(world);
    const contactId = await contact(world, ws.id);
    await append(world, consentFailed(world, ws.id, contactId), optoutReview(world, ws.id, contactId));
    scripted['chat.postMessage'] = [() => HttpResponse.json({ ok: false, error })];
    const logError = vi.fn();
    const runner = dispatcher(world, { logger: { warn: vi.fn(), error: logError } });

    expect(await runner.runOnce()).toMatchObject({ alerts: 2, held: 1, failed: 0, posted: 0 });
    world.clock.advance(1_000);
    expect(await runner.runOnce()).toMatchObject({ failed: 0, posted: 0 });
    expect(callsTo('chat.postMessage')).toHaveLength(1);
    expect(logError).toHaveBeenCalledTimes(1);
    expect(logError.mock.calls[0]?.[1]).toContain(hint);
    expect(await world.alerts.listPending(ws.id, 10)).toHaveLength(2);

    await world.engine.workspace(ws.id).updateSettings({ slack: slackSettings({ alertChannel: 'C0NEWCHAN1' }) });
    expect(await runner.runOnce()).toMatchObject({ posted: 1 });
    world.clock.advance(1_000);
    expect(await runner.runOnce()).toMatchObject({ posted: 1 });
    expect(callsTo('chat.postMessage').slice(1).map((call) => call.form.get('channel'))).toEqual(['C0NEWCHAN1', 'C0NEWCHAN1']);
    expect(await world.alerts.listPending(ws.id, 10)).toEqual([]);
  });

  it.each(['org_login_required', 'team_added_to_org'])('retries after %s (a workspace migration) instead of failing the alert', async (error) => {
    const ws = await workspace(world);
    await append(world, consentFailed(world, ws.id, await contact(world, ws.id)));
    scripted['chat.postMessage'] = [() => HttpResponse.json({ ok: false, error })];
    const runner = dispatcher(world);

    expect(await runner.runOnce()).toMatchObject({ retried: 1, failed: 0, held: 0 });
    expect(await world.alerts.listPending(ws.id, 10)).toHaveLength(1);
    world.clock.advance(1_000);
    expect(await runner.runOnce()).toMatchObject({ posted: 1 });
    const alertId = alertIdOf(callsTo('chat.postMessage')[1]) ?? '';
    expect(await world.alerts.getRecord(ws.id, alertId)).toMatchObject({ delivery: 'posted', lastError: null });
  });

  it('posts again the alerts an earlier version failed for these errors or for its digest, and leaves those Slack refused for themselves', async () => {
    const ws = await workspace(world);
    const contactId = await contact(world, ws.id);
    const recoverable = ['restricted_action', 'token_expired', 'ekm_access_denied', 'org_login_required', 'message_not_found', 'edit_window_closed'];
    const refused = ['invalid_blocks', 'msg_too_long'];
    for (const error of [...recoverable, ...refused]) {
      const id = `al_${error.replaceAll('_', '')}`;
      await world.alerts.create({ id, workspaceId: ws.id, event: consentFailed(world, ws.id, contactId), contactName: 'Ana Test', contactUrl: null, slackChannel: CHANNEL, createdAt: T0 });
      await world.alerts.markFailed(ws.id, [id], error);
    }

    const runner = dispatcher(world);
    for (let second = 0; second < 10; second += 1) {
      await runner.runOnce();
      world.clock.advance(1_000);
    }
    const posted = callsTo('chat.postMessage').map(alertIdOf);
    expect(posted).toEqual(recoverable.map((error) => `al_${error.replaceAll('_', '')}`));
    for (const error of refused) {
      expect(await world.alerts.getRecord(ws.id, `al_${error.replaceAll('_', '')}`)).toMatchObject({ delivery: 'failed', lastError: error });
    }
  });
});

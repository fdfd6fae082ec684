import { HttpResponse } from 'msw';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { MemorySlackAlertStore, SLACK_CURSOR_KEY, type SlackAlertStore } from '../../../connectors/slack/alert-store.js';
import { SlackAlertDispatcher, type SlackDispatcherOptions } from '../../../connectors/slack/dispatcher.js';
import type { ConsentryEvent } from '../../../src/core/events.js';
import type { WorkspaceSettingsInput } from '../../../src/core/settings.js';
import { createEngine, type Engine } from '../../../src/engine.js';
import { FakeClock } from '../../../src/ports/clock.js';
import type { Store } from '../../../src/ports/store.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { allTexts, consentFailedEvent, ESCAPED_HOSTILE_NAME, HOSTILE_NAME, unsafeTokens } from './fixtures.js';
import { fakeSlackChat, useSlackMsw, type SlackCall } from './harness.js';

const TOKEN = 'xoxb-dispatcher-token';
const CHANNEL = 'C0ALERTS01';
const T0 = '2026-01-01T10:00:00.000Z';

// Listening before any Web API client is built (the dispatcher builds them on its first pass).
const msw = useSlackMsw({ passLoopback: false });

const slack = fakeSlackChat();
const { calls, scripted } = slack;
const { callsTo } = slack;

let clock: FakeClock;
let store: Store;
let engine: Engine;
let alerts: SlackAlertStore;

beforeEach(() => {
  slack.reset(msw);
  clock = new FakeClock(T0);
  store = createMemoryStore();
  engine = createEngine({ store, clock });
  alerts = new MemorySlackAlertStore(store);
});

afterEach(async () => {
  await store.close();
});

const slackSettings = (overrides: Record<string, unknown> = {}) => ({
  botToken: TOKEN,
  signingSecret: 'dispatcher-secret',
  alertChannel: CHANNEL,
  allowedUserIds: ['UACTOR1'],
  ...overrides,
});

async function workspace(settings: WorkspaceSettingsInput = { slack: slackSettings() }) {
  return engine.createWorkspace({ name: 'Acme', settings });
}

function dispatcher(options: Partial<SlackDispatcherOptions> = {}): SlackAlertDispatcher {
  return new SlackAlertDispatcher({ engine, alerts, clock, env: {}, ...options });
}

let eventSeq = 0;
function eventId(): string {
  eventSeq += 1;
  return `01JEVENT${String(eventSeq).padStart(18, '0')}`;
}

function consentFailed(workspaceId: string, contactId: string, contactName: string | null = null): ConsentryEvent<'consent.failed'> {
  return consentFailedEvent(
    { reason: 'timeout', attempts: 1, contactName },
    { id: eventId(), workspaceId, occurredAt: clock.now().toISOString(), contactId },
  );
}

async function append(...events: ConsentryEvent[]): Promise<void> {
  await store.transaction(async (tx) => {
    for (const event of events) await tx.appendEvent(event);
  });
}

async function contact(workspaceId: string, name: string, hubspotId: string | null = null): Promise<string> {
  const created = await engine.workspace(workspaceId).createContact({ name });
  if (hubspotId !== null) {
    await store.transaction(async (tx) => tx.updateContact({ ...created, hubspotId }));
  }
  return created.id;
}

const BlocksSchema = z.array(
  z.object({ type: z.string(), elements: z.array(z.object({ value: z.string().optional() }).passthrough()).optional() }).passthrough(),
);

function blocksOf(call: SlackCall | undefined): z.infer<typeof BlocksSchema> {
  return BlocksSchema.parse(JSON.parse(call?.form.get('blocks') ?? '[]'));
}

function buttonValuesOf(call: SlackCall | undefined): string[] {
  return blocksOf(call).flatMap((block) => (block.type === 'actions' ? (block.elements ?? []).map((element) => element.value ?? '') : []));
}

describe('SlackAlertDispatcher: alerts', () => {
  it('posts one alert per event: escaped contact data, a HubSpot link, the event id, opaque button values', async () => {
    const ws = await workspace({ slack: slackSettings(), hubspot: { accessToken: 'pat-test-0000', portalId: '12345' } });
    const contactId = await contact(ws.id, HOSTILE_NAME, '101');
    const event = consentFailed(ws.id, contactId, HOSTILE_NAME);
    await append(event);

    const summary = await dispatcher().runOnce();
    expect(summary).toMatchObject({ events: 1, alerts: 1, posted: 1 });
    const [post] = callsTo('chat.postMessage');
    expect(post?.authorization).toBe(`Bearer ${TOKEN}`);
    expect(post?.form.get('channel')).toBe(CHANNEL);
    expect(post?.form.get('text')).toContain(`Consent request failed for ${ESCAPED_HOSTILE_NAME} on WhatsApp`);
    const blocks = blocksOf(post);
    expect(blocks.map((block) => block.type)).toEqual(['header', 'section', 'context', 'actions']);
    const json = JSON.stringify(blocks);
    expect(json).toContain(`<https://app.hubspot.com/contacts/12345/record/0-1/101|${ESCAPED_HOSTILE_NAME}>`);
    expect(json).toContain(event.id);
    for (const text of [post?.form.get('text') ?? '', ...allTexts(blocks)]) {
      expect(text).not.toContain(HOSTILE_NAME);
      expect(unsafeTokens(text)).toEqual([]);
    }

    const [record] = await alerts.listPending(ws.id, 10);
    expect(record).toBeUndefined();
    const values = buttonValuesOf(post);
    expect(values).toHaveLength(2);
    const alertId = values[0] ?? '';
    expect(values).toEqual([alertId, alertId]);
    expect(await alerts.getRecord(ws.id, alertId)).toMatchObject({
      delivery: 'posted',
      message: { channel: CHANNEL, ts: '1767261600.000001' },
      contactUrl: 'https://app.hubspot.com/contacts/12345/record/0-1/101',
      event: { id: event.id },
    });
  });

  it('looks the name up when the event has none, and links only when the contact is in HubSpot', async () => {
    const ws = await workspace({ slack: slackSettings(), hubspot: { accessToken: 'pat-test-0000', portalId: '12345' } });
    const contactId = await contact(ws.id, 'Ana Test');
    await append(consentFailed(ws.id, contactId, null));
    await dispatcher().runOnce();
    const [post] = callsTo('chat.postMessage');
    expect(post?.form.get('text')).toContain('Consent request failed for Ana Test');
    expect(post?.form.get('blocks')).not.toContain('app.hubspot.com');
  });

  it('shows the message text of an opt-out review and what failed in a sync, and why', async () => {
    const ws = await workspace();
    const contactId = await contact(ws.id, 'Ana Test');
    await append(
      {
        id: eventId(),
        type: 'optout.review_needed',
        version: 1,
        workspaceId: ws.id,
        occurredAt: T0,
        contactId,
        data: { contactId, channel: 'sms', messageId: 'm1', text: 'please stop <!here> texting me', normalized: 'please stop texting me', language: 'en', matchedWord: 'stop' },
      },
      {
        id: eventId(),
        type: 'sync.failed',
        version: 1,
        workspaceId: ws.id,
        occurredAt: T0,
        contactId,
        data: { integration: 'hubspot', contactId, operation: 'upsert contact properties', reason: 'HubSpot answered 403 <@U1>', retryable: false },
      },
    );
    const runner = dispatcher();
    await runner.runOnce();
    clock.advance(1_000);
    await runner.runOnce();
    const [review, sync] = callsTo('chat.postMessage');
    expect(review?.form.get('blocks')).toContain('please stop &lt;!here&gt; texting me');
    expect(review?.form.get('blocks')).toContain('"action_id":"apply_optout"');
    expect(review?.form.get('blocks')).toContain('"action_id":"dismiss_optout"');
    expect(sync?.form.get('text')).toBe('hubspot sync failed (upsert contact properties): HubSpot answered 403 &lt;@U1&gt;');
    expect(blocksOf(sync).map((block) => block.type)).toEqual(['header', 'section', 'section', 'context']);
  });

  it('alerts only for workspaces with Slack, only for alert events, and not about old news', async () => {
    const withSlack = await workspace();
    const without = await engine.createWorkspace({ name: 'Initech' });
    const ana = await contact(withSlack.id, 'Ana Test');
    const ben = await contact(without.id, 'Ben Test');
    const old = { ...consentFailed(withSlack.id, ana), occurredAt: '2025-12-30T09:00:00.000Z' };
    const tagged: ConsentryEvent<'contact.tagged'> = {
      id: eventId(),
      type: 'contact.tagged',
      version: 1,
      workspaceId: withSlack.id,
      occurredAt: T0,
      contactId: ana,
      data: { contactId: ana, tag: 'VIP' },
    };
    await append(consentFailed(without.id, ben), tagged, old);
    expect(await dispatcher().runOnce()).toMatchObject({ events: 3, alerts: 0, posted: 0 });
    expect(calls).toEqual([]);
  });

  it('takes the default workspace set-up from the environment, and leaves other workspaces off', async () => {
    const first = await engine.createWorkspace({ name: 'Default workspace' });
    const second = await engine.createWorkspace({ name: 'Initech' });
    await append(consentFailed(first.id, await contact(first.id, 'Ana Test')), consentFailed(second.id, await contact(second.id, 'Ben Test')));
    const env = { SLACK_BOT_TOKEN: 'xoxb-from-env', SLACK_SIGNING_SECRET: 'env-secret', SLACK_ALERT_CHANNEL: 'C0ENVCHAN1' };
    expect(await dispatcher({ env }).runOnce()).toMatchObject({ alerts: 1, posted: 1 });
    const [post] = callsTo('chat.postMessage');
    expect(post?.authorization).toBe('Bearer xoxb-from-env');
    expect(post?.form.get('channel')).toBe('C0ENVCHAN1');
    expect(post?.form.get('text')).toContain('Ana Test');
  });

  it('warns once when the environment names only part of the set-up', async () => {
    await engine.createWorkspace({ name: 'Default workspace' });
    const warn = vi.fn();
    const runner = dispatcher({ env: { SLACK_BOT_TOKEN: 'xoxb-from-env' }, logger: { warn, error: vi.fn() } });
    await runner.runOnce();
    await runner.runOnce();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]?.[1]).toContain('set SLACK_SIGNING_SECRET, SLACK_ALERT_CHANNEL');
  });
});

describe('SlackAlertDispatcher: pacing and digests on a fake clock', () => {
  it('posts at most one message per second per channel', async () => {
    const ws = await workspace();
    const contactId = await contact(ws.id, 'Ana Test');
    await append(consentFailed(ws.id, contactId), consentFailed(ws.id, contactId), consentFailed(ws.id, contactId));
    const runner = dispatcher();

    expect((await runner.runOnce()).posted).toBe(1);
    expect((await runner.runOnce()).posted).toBe(0);
    clock.advance(999);
    expect((await runner.runOnce()).posted).toBe(0);
    clock.advance(1);
    expect((await runner.runOnce()).posted).toBe(1);
    clock.advance(1_000);
    expect((await runner.runOnce()).posted).toBe(1);
    expect(callsTo('chat.postMessage')).toHaveLength(3);
    expect(runner.pending(ws.id)).toBe(0);
  });

  it('folds more than the threshold of alerts in a minute into one digest, then updates it in place', async () => {
    const ws = await workspace({ slack: slackSettings({ digestThreshold: 2 }) });
    const contactId = await contact(ws.id, HOSTILE_NAME);
    await append(...[1, 2, 3, 4].map(() => consentFailed(ws.id, contactId, HOSTILE_NAME)));
    const runner = dispatcher();

    await runner.runOnce();
    clock.advance(1_000);
    await runner.runOnce();
    clock.advance(1_000);
    expect(await runner.runOnce()).toMatchObject({ digestsPosted: 1 });
    const posts = callsTo('chat.postMessage');
    expect(posts).toHaveLength(3);
    const digest = posts[2];
    expect(digest?.form.get('text')).toContain('2 Consentry alerts since');
    expect(digest?.form.get('blocks')).toContain(ESCAPED_HOSTILE_NAME);
    expect(digest?.form.get('blocks')).not.toContain(HOSTILE_NAME);
    expect(digest?.form.get('blocks')).not.toContain('"type":"actions"');
    const digestTs = '1767261600.000003';

    // Two more in the same minute: the digest message is edited, not a new one posted.
    await append(consentFailed(ws.id, contactId, HOSTILE_NAME), consentFailed(ws.id, contactId, HOSTILE_NAME));
    expect((await runner.runOnce()).digestsUpdated).toBe(0);
    clock.advance(5_000);
    expect((await runner.runOnce()).digestsUpdated).toBe(1);
    const [update] = callsTo('chat.update');
    expect(update?.form.get('ts')).toBe(digestTs);
    expect(update?.form.get('text')).toContain('4 Consentry alerts since');
    expect(callsTo('chat.postMessage')).toHaveLength(3);

    // Every alert is accounted for: two posted on their own, four shown in the digest.
    expect(await alerts.listPending(ws.id, 10)).toEqual([]);
    const ids = [...new Set(posts.slice(0, 2).flatMap(buttonValuesOf))];
    expect(ids).toHaveLength(2);
    for (const id of ids) expect((await alerts.getRecord(ws.id, id))?.delivery).toBe('posted');
  });

  it('waits for Retry-After when Slack answers 429, then posts', async () => {
    const ws = await workspace();
    await append(consentFailed(ws.id, await contact(ws.id, 'Ana Test')));
    scripted['chat.postMessage'] = [() => HttpResponse.json({ ok: false, error: 'ratelimited' }, { status: 429, headers: { 'Retry-After': '30' } })];
    const runner = dispatcher();

    expect(await runner.runOnce()).toMatchObject({ rateLimited: 1, posted: 0 });
    clock.advance(29_999);
    expect((await runner.runOnce()).posted).toBe(0);
    expect(callsTo('chat.postMessage')).toHaveLength(1);
    clock.advance(1);
    expect((await runner.runOnce()).posted).toBe(1);
    expect(callsTo('chat.postMessage')).toHaveLength(2);
  });

  it('backs off after a network failure and tries again', async () => {
    const ws = await workspace();
    await append(consentFailed(ws.id, await contact(ws.id, 'Ana Test')));
    scripted['chat.postMessage'] = [() => HttpResponse.error(), () => HttpResponse.error()];
    const runner = dispatcher();

    expect(await runner.runOnce()).toMatchObject({ retried: 1 });
    clock.advance(1_000);
    expect(await runner.runOnce()).toMatchObject({ retried: 1 });
    clock.advance(1_999);
    expect((await runner.runOnce()).posted).toBe(0);
    clock.advance(1);
    expect((await runner.runOnce()).posted).toBe(1);
    expect(callsTo('chat.postMessage')).toHaveLength(3);
  });

  it('marks an alert failed for good when Slack refuses the alert itself, and does not try it again', async () => {
    const ws = await workspace();
    await append(consentFailed(ws.id, await contact(ws.id, 'Ana Test')));
    scripted['chat.postMessage'] = [() => HttpResponse.json({ ok: false, error: 'invalid_blocks' })];
    const error = vi.fn();
    const runner = dispatcher({ logger: { warn: vi.fn(), error } });

    expect(await runner.runOnce()).toMatchObject({ failed: 1, held: 0, posted: 0 });
    expect(error).toHaveBeenCalledTimes(1);
    clock.advance(60 * 60_000);
    expect(await runner.runOnce()).toMatchObject({ posted: 0 });
    expect(callsTo('chat.postMessage')).toHaveLength(1);
    expect(await alerts.listPending(ws.id, 10)).toEqual([]);
    const [alertId] = buttonValuesOf(callsTo('chat.postMessage')[0]);
    expect(await alerts.getRecord(ws.id, alertId ?? '')).toMatchObject({ delivery: 'failed', lastError: 'invalid_blocks' });
  });
});

describe('SlackAlertDispatcher: a broken Slack set-up', () => {
  const HOLD_MS = 15 * 60_000;

  async function optoutReviews(workspaceId: string, count: number): Promise<void> {
    const w = engine.workspace(workspaceId);
    await w.createContact({ phone: '+34600000001', identities: [{ channel: 'sms', externalId: '+34600000001' }] });
    for (let n = 0; n < count; n += 1) {
      await w.handleInbound({ channel: 'sms', messageId: `m${n}`, from: { id: '+34600000001' }, text: 'please stop texting me' });
      clock.advance(2_000);
    }
  }

  it('keeps the alerts pending while the token is revoked and posts every one after a new token is set', async () => {
    const ws = await workspace({ slack: slackSettings({ botToken: 'xoxb-revoked' }) });
    await optoutReviews(ws.id, 3);
    scripted['chat.postMessage'] = [() => HttpResponse.json({ ok: false, error: 'token_revoked' })];
    const error = vi.fn();
    const warn = vi.fn();
    const runner = dispatcher({ logger: { warn, error } });

    expect(await runner.runOnce()).toMatchObject({ alerts: 3, held: 1, failed: 0, posted: 0 });
    for (let pass = 0; pass < 4; pass += 1) {
      clock.advance(1_500);
      expect(await runner.runOnce()).toMatchObject({ held: 0, failed: 0, posted: 0 });
    }
    // One call met the error; the others were not spent on it.
    expect(callsTo('chat.postMessage')).toHaveLength(1);
    expect(error).toHaveBeenCalledTimes(1);
    expect(error.mock.calls[0]?.[1]).toContain('the bot token was revoked: reinstall the app');
    expect(await alerts.listPending(ws.id, 10)).toHaveLength(3);

    await engine.workspace(ws.id).updateSettings({ slack: slackSettings({ botToken: 'xoxb-reinstalled' }) });
    let posted = 0;
    for (let pass = 0; pass < 5; pass += 1) {
      posted += (await runner.runOnce()).posted;
      clock.advance(1_000);
    }
    expect(posted).toBe(3);
    const sent = callsTo('chat.postMessage').slice(1);
    expect(sent.map((call) => call.authorization)).toEqual(['Bearer xoxb-reinstalled', 'Bearer xoxb-reinstalled', 'Bearer xoxb-reinstalled']);
    expect(sent.map((call) => call.form.get('text'))).toEqual([
      expect.stringContaining('please stop texting me'),
      expect.stringContaining('please stop texting me'),
      expect.stringContaining('please stop texting me'),
    ]);
    expect(await alerts.listPending(ws.id, 10)).toEqual([]);
  });

  it('tries again after the hold, and posts once the bot is back in the channel', async () => {
    const ws = await workspace();
    await append(consentFailed(ws.id, await contact(ws.id, 'Ana Test')));
    scripted['chat.postMessage'] = [() => HttpResponse.json({ ok: false, error: 'not_in_channel' }), () => HttpResponse.json({ ok: false, error: 'not_in_channel' })];
    const error = vi.fn();
    const warn = vi.fn();
    const runner = dispatcher({ logger: { warn, error } });

    expect(await runner.runOnce()).toMatchObject({ held: 1 });
    expect(error.mock.calls[0]?.[1]).toContain('invite the bot to the alert channel');
    clock.advance(HOLD_MS - 1);
    await runner.runOnce();
    expect(callsTo('chat.postMessage')).toHaveLength(1);
    clock.advance(1);
    // Still outside the channel: held again, said as a warning this time.
    expect(await runner.runOnce()).toMatchObject({ held: 1 });
    expect(error).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls.map((call) => String(call[1]))).toEqual([expect.stringContaining('invite the bot to the alert channel')]);
    clock.advance(HOLD_MS);
    expect(await runner.runOnce()).toMatchObject({ posted: 1 });
    const [alertId] = buttonValuesOf(callsTo('chat.postMessage')[2]);
    expect(await alerts.getRecord(ws.id, alertId ?? '')).toMatchObject({ delivery: 'posted', lastError: null });
  });

  it('posts to the new alert channel once the channel is fixed in the settings', async () => {
    const ws = await workspace();
    await append(consentFailed(ws.id, await contact(ws.id, 'Ana Test')));
    scripted['chat.postMessage'] = [() => HttpResponse.json({ ok: false, error: 'channel_not_found' })];
    const runner = dispatcher();
    expect(await runner.runOnce()).toMatchObject({ held: 1 });
    await engine.workspace(ws.id).updateSettings({ slack: slackSettings({ alertChannel: 'C0NEWCHAN1' }) });
    expect(await runner.runOnce()).toMatchObject({ posted: 1 });
    expect(callsTo('chat.postMessage').map((call) => call.form.get('channel'))).toEqual([CHANNEL, 'C0NEWCHAN1']);
  });

  it('posts again the alerts an earlier run marked failed for a set-up error, not those Slack refused for themselves', async () => {
    const ws = await workspace();
    const contactId = await contact(ws.id, 'Ana Test');
    const stored = (id: string) => ({ id, workspaceId: ws.id, event: consentFailed(ws.id, contactId), contactName: 'Ana Test', contactUrl: null, slackChannel: CHANNEL, createdAt: T0 });
    await alerts.create(stored('al_revoked'));
    await alerts.create(stored('al_refused'));
    // As an earlier version left them: one failed for the revoked token, one for its blocks.
    await alerts.markFailed(ws.id, ['al_revoked'], 'token_revoked');
    await alerts.markFailed(ws.id, ['al_refused'], 'invalid_blocks');

    expect(await dispatcher().runOnce()).toMatchObject({ posted: 1 });
    clock.advance(60_000);
    await dispatcher().runOnce();
    expect(callsTo('chat.postMessage').map((call) => buttonValuesOf(call)[0])).toEqual(['al_revoked']);
    expect(await alerts.getRecord(ws.id, 'al_revoked')).toMatchObject({ delivery: 'posted', lastError: null });
    expect(await alerts.getRecord(ws.id, 'al_refused')).toMatchObject({ delivery: 'failed', lastError: 'invalid_blocks' });
  });
});

describe('SlackAlertDispatcher: at least once, never twice', () => {
  it('posts nothing again after a restart, and what was not posted yet', async () => {
    const ws = await workspace();
    const contactId = await contact(ws.id, 'Ana Test');
    await append(consentFailed(ws.id, contactId), consentFailed(ws.id, contactId));
    await dispatcher().runOnce();
    expect(callsTo('chat.postMessage')).toHaveLength(1);

    // A new process (new dispatcher, same store) an instant later: the second alert only.
    clock.advance(1_000);
    await dispatcher().runOnce();
    expect(callsTo('chat.postMessage')).toHaveLength(2);
    const texts = callsTo('chat.postMessage').map((call) => blocksOf(call).find((b) => b.type === 'context'));
    expect(new Set(texts.map((block) => JSON.stringify(block))).size).toBe(2);

    // The outbox read again from the start (a cursor lost in a crash) creates no alert and posts nothing.
    await store.transaction((tx) => tx.setMeta(SLACK_CURSOR_KEY, 0));
    clock.advance(1_000);
    expect(await dispatcher().runOnce()).toMatchObject({ events: 2, alerts: 0, posted: 0 });
    expect(callsTo('chat.postMessage')).toHaveLength(2);
  });

  it('runs as a background worker and stops cleanly', async () => {
    const ws = await workspace();
    const runner = dispatcher({ intervalMs: 5 });
    runner.start();
    try {
      await append(consentFailed(ws.id, await contact(ws.id, 'Ana Test')));
      await vi.waitFor(() => expect(callsTo('chat.postMessage')).toHaveLength(1), { timeout: 5_000, interval: 5 });
    } finally {
      await runner.stop();
    }
    await append(consentFailed(ws.id, await contact(ws.id, 'Ben Test')));
    clock.advance(1_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(callsTo('chat.postMessage')).toHaveLength(1);
  });
});

import { http, HttpResponse } from 'msw';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { InMemoryAlertStore, type ResendConsentRequestInput, type SlackAlert } from '../../../connectors/slack/actions-port.js';
import { createSlackApp } from '../../../connectors/slack/app.js';
import { engineActionHandler } from '../../../connectors/slack/engine-actions.js';
import { MESSAGES } from '../../../connectors/slack/listeners/common.js';
import type { MessagingChannel } from '../../../src/core/consent.js';
import { ConsentFailedDataSchema, type ConsentryEvent } from '../../../src/core/events.js';
import { createEngine, type Engine, type WorkspaceEngine } from '../../../src/engine.js';
import { FakeClock } from '../../../src/ports/clock.js';
import type { Store } from '../../../src/ports/store.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { recordingLogger } from './fixtures.js';
import { listenLocally, signedPayload, SLACK_API as API, slackTimestamp, useSlackMsw } from './harness.js';

const PRIVACY = 'request-consent-privacy';
const RESPONSE_URL = 'https://hooks.slack.com/actions/T0TEAM/1/response';
const QUESTION_TIMEOUT_MS = 5 * 60_000;

const msw = useSlackMsw({ passLoopback: true });

let store: Store;
let clock: FakeClock;
let engine: Engine;
let ws: WorkspaceEngine;
let contactId: string;

beforeEach(async () => {
  store = createMemoryStore();
  clock = new FakeClock('2026-01-01T10:00:00.000Z');
  engine = createEngine({ store, clock });
  // Resent questions reach the contact through the outbound webhook: without one, nothing would send them.
  const workspace = await engine.createWorkspace({ name: 'Acme', settings: { privacyPolicyUrl: 'https://example.com/privacy', outboundWebhookUrl: 'https://example.com/outbound' } });
  ws = engine.workspace(workspace.id);
  contactId = (await ws.createContact({ name: 'Ana Test', phone: '+34600000001' })).id;
});

afterEach(async () => {
  await store.close();
});

/** Lets every question that is waiting go unanswered until it times out. */
async function letQuestionsTimeOut(): Promise<void> {
  await engine.runDueTimers(clock.advance(QUESTION_TIMEOUT_MS));
}

/** The privacy question on `channel` goes unanswered: the consent.failed event Slack alerts on. */
async function failedConsent(channel: MessagingChannel = 'whatsapp'): Promise<ConsentryEvent<'consent.failed'>> {
  await ws.startWorkflow(PRIVACY, contactId, channel);
  await letQuestionsTimeOut();
  const [event] = await ws.listEvents({ types: ['consent.failed'], limit: 1 });
  if (!event) throw new Error('the question did not fail');
  return { ...event, type: 'consent.failed', data: ConsentFailedDataSchema.parse(event.data) };
}

function alertOf(event: ConsentryEvent<'consent.failed'>): SlackAlert {
  return {
    id: 'al_cf1',
    workspaceId: ws.workspaceId,
    event,
    contactName: 'Ana Test',
    contactUrl: null,
    slackChannel: 'C0ALERTS01',
    message: { channel: 'C0ALERTS01', ts: '1767261600.000100' },
    createdAt: event.occurredAt,
    claim: null,
    resolution: null,
    erased: false,
  };
}

function resendInput(event: ConsentryEvent<'consent.failed'>): ResendConsentRequestInput {
  return {
    workspaceId: ws.workspaceId,
    alertId: 'al_cf1',
    slackUserId: 'UACTOR1',
    idempotencyKey: 'slack:al_cf1:resend_consent_request',
    alert: alertOf(event),
    contactId,
    channel: event.data.channel,
    purpose: event.data.purpose,
    workflowId: event.data.workflowId,
  };
}

/** Runs of the privacy workflow for the contact on `channel`, oldest first. */
async function privacyRuns(channel: MessagingChannel = 'whatsapp'): Promise<{ id: string; createdAt: string }[]> {
  const runs = await store.read((tx) => tx.listRunsOfContact(ws.workspaceId, contactId));
  return runs.filter((run) => run.templateId === PRIVACY && run.channel === channel);
}

describe('Resend consent request, carried out by the engine', () => {
  it('asks the contact again once per failure, even after the resent question has ended', async () => {
    const failed = await failedConsent();
    const handler = engineActionHandler(engine);
    expect(await handler.resendConsentRequest(resendInput(failed))).toEqual({ outcome: 'done' });
    await letQuestionsTimeOut();
    const [, resent] = await privacyRuns();

    const again = await handler.resendConsentRequest(resendInput(failed));
    expect(again).toEqual({
      outcome: 'refused',
      message: `a consent request was already started for this contact on whatsapp at ${resent?.createdAt}, after this failure (run ${resent?.id})`,
    });
    expect(await privacyRuns()).toHaveLength(2);
  });

  it('counts a request started elsewhere after the failure, but not one on another channel', async () => {
    const failed = await failedConsent();
    await failedConsent('sms');
    const handler = engineActionHandler(engine);
    expect(await handler.resendConsentRequest(resendInput(failed))).toEqual({ outcome: 'done' });
    await letQuestionsTimeOut();

    const later = await failedConsent();
    expect(await handler.resendConsentRequest(resendInput(later))).toEqual({ outcome: 'done' });
    await letQuestionsTimeOut();
    const refused = await handler.resendConsentRequest(resendInput(failed));
    expect(refused.outcome).toBe('refused');
    expect(await privacyRuns()).toHaveLength(4);
  });
});

describe('Resend consent request, clicked again after its alert could not be marked handled', () => {
  it('tells the user it was done, and a later click sends nothing', async () => {
    const responses: string[] = [];
    msw.use(
      http.post(RESPONSE_URL, async ({ request }) => {
        responses.push(z.object({ text: z.string() }).parse(await request.json()).text);
        return HttpResponse.text('ok');
      }),
      http.post(`${API}/chat.update`, () => HttpResponse.json({ ok: true, channel: 'C0ALERTS01', ts: '1767261600.000100' })),
    );
    const failed = await failedConsent();
    const alerts = new InMemoryAlertStore();
    await alerts.create(alertOf(failed));
    vi.spyOn(alerts, 'resolve').mockRejectedValueOnce(new Error('database is locked'));
    const slack = createSlackApp({
      workspaceId: ws.workspaceId,
      botToken: 'xoxb-test-token',
      signingSecret: 'test-signing-secret',
      botId: 'B0BOT',
      botUserId: 'U0BOT',
      allowedUserIds: ['UACTOR1'],
      handler: engineActionHandler(engine),
      alerts,
      clock,
      logger: recordingLogger(),
    });
    const server = await listenLocally(slack.requestListener);
    const click = async () => {
      const payload = {
        type: 'block_actions',
        user: { id: 'UACTOR1' },
        trigger_id: '1767262000.000000.trigger',
        container: { type: 'message', message_ts: '1767261600.000100', channel_id: 'C0ALERTS01' },
        response_url: RESPONSE_URL,
        actions: [{ type: 'button', action_id: 'resend_consent_request', value: 'al_cf1' }],
      };
      const request = signedPayload(payload, 'test-signing-secret', slackTimestamp(clock));
      await fetch(`${server.url}/slack/events`, { method: 'POST', headers: request.headers, body: request.body });
      await slack.drain();
    };
    try {
      await click();
      expect(responses).toEqual([MESSAGES.doneButOpen]);
      expect(await privacyRuns()).toHaveLength(2);

      // The claim expires with the question: the contact has not answered, and the button is used again.
      await letQuestionsTimeOut();
      clock.advance(1_000);
      await click();
      expect(responses[1]).toMatch(/^Nothing was changed: a consent request was already started for this contact on whatsapp at /);
      expect(await privacyRuns()).toHaveLength(2);
      expect((await alerts.get(ws.workspaceId, 'al_cf1'))?.claim).toBeNull();
    } finally {
      await server.close();
    }
  });
});

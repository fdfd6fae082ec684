import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConsentDecision } from '../../../src/core/consent.js';
import { createEngine, type Engine, type WorkspaceEngine } from '../../../src/engine.js';
import { FakeClock } from '../../../src/ports/clock.js';
import type { Store } from '../../../src/ports/store.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import type { SlackActionContext, SlackAlert } from '../../../connectors/slack/actions-port.js';
import { engineActionHandler } from '../../../connectors/slack/engine-actions.js';
import { consentFailedEvent, optoutReviewEvent } from './fixtures.js';

let store: Store;
let engine: Engine;
let ws: WorkspaceEngine;
let contactId: string;

beforeEach(async () => {
  store = createMemoryStore();
  engine = createEngine({ store, clock: new FakeClock('2026-01-01T10:00:00.000Z') });
  // Resent questions reach the contact through the outbound webhook: without one, nothing would send them.
  const workspace = await engine.createWorkspace({ name: 'Acme', settings: { privacyPolicyUrl: 'https://example.com/privacy', outboundWebhookUrl: 'https://example.com/outbound' } });
  ws = engine.workspace(workspace.id);
  contactId = (await ws.createContact({ name: 'Ana Test', phone: '+34600000001' })).id;
});

afterEach(async () => {
  await store.close();
});

function context(action: string, alert: SlackAlert['event'] = consentFailedEvent()): SlackActionContext {
  return {
    workspaceId: ws.workspaceId,
    alertId: 'al_1',
    slackUserId: 'UACTOR1',
    idempotencyKey: `slack:al_1:${action}`,
    alert: {
      id: 'al_1',
      workspaceId: ws.workspaceId,
      event: alert,
      contactName: 'Ana Test',
      contactUrl: null,
      slackChannel: 'C0ALERTS01',
      message: null,
      createdAt: '2026-01-01T10:00:01.000Z',
      claim: null,
      resolution: null,
      erased: false,
    },
  };
}

function decision(overrides: Partial<ConsentDecision>): ConsentDecision {
  return {
    contactId,
    purpose: 'privacy',
    channel: 'whatsapp',
    status: 'opted_in',
    legalBasis: 'PERFORMANCE_OF_CONTRACT',
    explanation: 'Confirmed by phone',
    source: 'slack',
    actor: { kind: 'user', id: 'UACTOR1' },
    evidence: { note: 'Recorded manually in Slack' },
    idempotencyKey: 'slack:al_1:record_consent_manually',
    ...overrides,
  };
}

async function activeRuns(): Promise<number> {
  return (await store.transaction((tx) => tx.listActiveRuns(ws.workspaceId, contactId))).length;
}

describe('engineActionHandler', () => {
  it('resends the consent request: the privacy workflow starts again for that contact and channel', async () => {
    const handler = engineActionHandler(engine);
    expect(await activeRuns()).toBe(0);
    const result = await handler.resendConsentRequest({
      ...context('resend_consent_request'),
      contactId,
      channel: 'whatsapp',
      purpose: 'privacy',
      workflowId: 'request-consent-privacy',
    });
    expect(result).toEqual({ outcome: 'done' });
    const runs = await store.transaction((tx) => tx.listActiveRuns(ws.workspaceId, contactId));
    expect(runs.map((run) => [run.templateId, run.channel])).toEqual([['request-consent-privacy', 'whatsapp']]);
  });

  it('refuses to resend, starting nothing, in a workspace without an outbound webhook, where the question would reach no one', async () => {
    await ws.updateSettings({ outboundWebhookUrl: null });
    const result = await engineActionHandler(engine).resendConsentRequest({
      ...context('resend_consent_request'),
      contactId,
      channel: 'whatsapp',
      purpose: 'privacy',
      workflowId: 'request-consent-privacy',
    });
    expect(result).toEqual({
      outcome: 'refused',
      message:
        "nothing was sent: the workspace has no outbound webhook (settings.outboundWebhookUrl), so nobody would send the workflow's messages to the contact: set outboundWebhookUrl in the Consentry settings first",
    });
    expect(await activeRuns()).toBe(0);
    expect(await ws.listEvents({ limit: 50 })).toEqual([]);
  });

  it('refuses to resend on the "any" scope, which is not a channel one can message', async () => {
    const result = await engineActionHandler(engine).resendConsentRequest({
      ...context('resend_consent_request'),
      contactId,
      channel: 'any',
      purpose: 'privacy',
      workflowId: 'request-consent-privacy',
    });
    expect(result.outcome).toBe('refused');
    expect(await activeRuns()).toBe(0);
  });

  it('records consent manually with source slack and the Slack user as actor, once per idempotency key', async () => {
    const handler = engineActionHandler(engine);
    const input = { ...context('record_consent_manually'), decision: decision({}) };
    expect(await handler.recordConsentManually(input)).toEqual({ outcome: 'done' });
    expect(await handler.recordConsentManually(input)).toEqual({ outcome: 'done' });
    const history = await ws.getHistory(contactId);
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({
      source: 'slack',
      actor: { kind: 'user', id: 'UACTOR1' },
      status: 'opted_in',
      legalBasis: 'PERFORMANCE_OF_CONTRACT',
      idempotencyKey: 'slack:al_1:record_consent_manually',
    });
  });

  it('lets the engine refuse an opt-in without an explanation', async () => {
    const input = { ...context('record_consent_manually'), decision: decision({ explanation: null }) };
    await expect(engineActionHandler(engine).recordConsentManually(input)).rejects.toMatchObject({ code: 'EXPLANATION_REQUIRED' });
    expect(await ws.getHistory(contactId)).toEqual([]);
  });

  /** "Apply opt-out" on the review of an SMS message, with the click's idempotency key and, if given, the message's time. */
  const optOut = (key: string, occurredAt?: string) => ({
    ...context('apply_optout', optoutReviewEvent()),
    idempotencyKey: key,
    decision: decision({
      purpose: 'marketing',
      channel: 'sms',
      status: 'opted_out',
      legalBasis: null,
      explanation: 'Plain-language opt-out confirmed in Slack review',
      ...(occurredAt === undefined ? {} : { occurredAt }),
      idempotencyKey: key,
    }),
  });

  it('applies an opt-out: opted_out for marketing on the channel, and the contact may no longer be messaged', async () => {
    expect(await engineActionHandler(engine).applyOptOut(optOut('slack:al_1:apply_optout'))).toEqual({ outcome: 'done' });
    expect(await ws.canMessage(contactId, 'sms', 'marketing')).toMatchObject({ allowed: false, reason: 'opted_out' });
    expect((await ws.getHistory(contactId))[0]).toMatchObject({ source: 'slack', status: 'opted_out', purpose: 'marketing' });
  });

  it('applies an opt-out as far as a STOP reaches: also the workspace\'s own purposes the contact agreed to on the channel, once per click', async () => {
    await ws.updateSettings({ purposes: ['surveys', 'loyalty'] });
    const optIn = { contactId, status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Web form', source: 'api', actor: { kind: 'integration', id: 'web' } } as const;
    await ws.setConsent({ ...optIn, purpose: 'surveys', channel: 'sms' });
    await ws.setConsent({ ...optIn, purpose: 'loyalty', channel: 'whatsapp' });
    const handler = engineActionHandler(engine);
    expect(await handler.applyOptOut(optOut('slack:al_1:apply_optout'))).toEqual({ outcome: 'done' });
    expect(await handler.applyOptOut(optOut('slack:al_1:apply_optout'))).toEqual({ outcome: 'done' });
    expect(await ws.canMessage(contactId, 'sms', 'surveys')).toMatchObject({ allowed: false, reason: 'opted_out' });
    expect(await ws.canMessage(contactId, 'whatsapp', 'loyalty')).toMatchObject({ allowed: true });
    const bySlack = (await ws.getHistory(contactId)).filter((record) => record.source === 'slack');
    expect(bySlack.map((record) => [record.purpose, record.channel, record.status])).toEqual([
      ['marketing', 'sms', 'opted_out'],
      ['surveys', 'sms', 'opted_out'],
    ]);
  });

  it('applies an opt-out also to a purpose taken off the list since the contact agreed to it, so putting it back does not bring the opt-in back', async () => {
    await ws.updateSettings({ purposes: ['surveys'] });
    await ws.setConsent({ contactId, purpose: 'surveys', channel: 'sms', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Web form', source: 'api', actor: { kind: 'integration', id: 'web' } });
    await ws.updateSettings({ purposes: [] });
    expect(await engineActionHandler(engine).applyOptOut(optOut('slack:al_1:apply_optout'))).toEqual({ outcome: 'done' });
    await ws.updateSettings({ purposes: ['surveys'] });
    expect(await ws.canMessage(contactId, 'sms', 'surveys')).toMatchObject({ allowed: false, reason: 'opted_out' });
    const bySlack = (await ws.getHistory(contactId)).filter((record) => record.source === 'slack');
    expect(bySlack.map((record) => [record.purpose, record.channel, record.status])).toEqual([
      ['marketing', 'sms', 'opted_out'],
      ['surveys', 'sms', 'opted_out'],
    ]);
  });

  it('applies an opt-out dated before a later opt-in: recorded, and the opt-in that stands is named', async () => {
    // The contact texts START at 10:00, after the message under review (09:00).
    await ws.handleInbound({ channel: 'sms', messageId: 'm2', from: { id: '+34600000001' }, text: 'START' });
    const handler = engineActionHandler(engine);
    const stale = optOut('slack:al_1:apply_optout', '2026-01-01T09:00:00.000Z');
    const standing = { status: 'opted_in', source: 'keyword', occurredAt: '2026-01-01T10:00:00.000Z' };
    expect(await handler.applyOptOut(stale)).toEqual({ outcome: 'done', supersededBy: standing });
    // A replayed click records nothing new and still says so.
    expect(await handler.applyOptOut(stale)).toEqual({ outcome: 'done', supersededBy: standing });
    expect((await ws.getHistory(contactId)).map((record) => `${record.source}:${record.status}`)).toEqual(['keyword:opted_in', 'slack:opted_out']);
    expect(await ws.canMessage(contactId, 'sms', 'marketing')).toMatchObject({ allowed: true });

    // Made after the opt-in, an opt-out takes effect.
    expect(await handler.applyOptOut(optOut('slack:al_2:apply_optout', '2026-01-01T10:00:00.000Z'))).toEqual({ outcome: 'done' });
    expect(await ws.canMessage(contactId, 'sms', 'marketing')).toMatchObject({ allowed: false, reason: 'opted_out' });
  });

  it('names an opt-in on every channel made after the message under review: what governs the channel stands', async () => {
    await ws.setConsent({
      contactId,
      purpose: 'marketing',
      channel: 'any',
      status: 'opted_in',
      legalBasis: 'CONSENT_WITH_NOTICE',
      explanation: 'Web form',
      source: 'api',
      actor: { kind: 'integration', id: 'web' },
      occurredAt: '2026-01-01T10:00:00.000Z',
    });
    const result = await engineActionHandler(engine).applyOptOut(optOut('slack:al_1:apply_optout', '2026-01-01T09:00:00.000Z'));
    expect(result).toEqual({ outcome: 'done', supersededBy: { status: 'opted_in', source: 'api', occurredAt: '2026-01-01T10:00:00.000Z' } });
    expect(await ws.canMessage(contactId, 'sms', 'marketing')).toMatchObject({ allowed: true });
  });

  it('records nothing when a message is not an opt-out', async () => {
    const result = await engineActionHandler(engine).dismissOptOut({ ...context('dismiss_optout', optoutReviewEvent()), contactId, messageId: 'msg_1' });
    expect(result).toEqual({ outcome: 'done' });
    expect(await ws.getHistory(contactId)).toEqual([]);
  });

  it('fails with the engine error for an erased contact', async () => {
    await ws.eraseContact(contactId);
    await expect(
      engineActionHandler(engine).resendConsentRequest({
        ...context('resend_consent_request'),
        contactId,
        channel: 'whatsapp',
        purpose: 'privacy',
        workflowId: 'request-consent-privacy',
      }),
    ).rejects.toMatchObject({ code: 'CONTACT_ERASED' });
  });
});

import type { BlockAction, Middleware, SlackActionMiddlewareArgs } from '@slack/bolt';
import type { ConsentDecision, Evidence } from '../../../src/core/consent.js';
import { idempotencyKey, MESSAGES, runButtonAction, type ListenerDeps } from './common.js';

/**
 * "Apply opt-out" on an optout.review_needed alert: the contact's message is honoured as a
 * plain-language revocation (DESIGN §3), recorded like an opt-out keyword would be: `opted_out`
 * for `marketing` on that channel, with source `slack` and the Slack user as actor. The decision
 * is dated when the contact wrote, not when the team reviewed it; the message is the evidence
 * (GDPR Art. 7(1)).
 */
export function applyOptOutListener(deps: ListenerDeps): Middleware<SlackActionMiddlewareArgs<BlockAction>> {
  return ({ ack, body, client, respond }) =>
    runButtonAction(deps, { ack, body, client, respond }, 'apply_optout', async (alert, click) => {
      if (alert.event.type !== 'optout.review_needed') return { outcome: 'refused', message: MESSAGES.notApplicable };
      const { data } = alert.event;
      const key = idempotencyKey(alert.id, 'apply_optout');
      const evidence: Evidence = {
        messageId: data.messageId.slice(0, 500),
        rawText: data.text.slice(0, 5000),
        normalizedText: data.normalized.slice(0, 5000),
        keyword: data.matchedWord.slice(0, 200),
        note: 'Opt-out applied after review in Slack',
      };
      if (data.language) evidence.language = data.language.slice(0, 20);
      const decision: ConsentDecision = {
        contactId: data.contactId,
        purpose: 'marketing',
        channel: data.channel,
        status: 'opted_out',
        legalBasis: null,
        explanation: 'Plain-language opt-out confirmed in Slack review',
        source: 'slack',
        actor: { kind: 'user', id: click.userId },
        evidence,
        occurredAt: alert.event.occurredAt,
        idempotencyKey: key,
      };
      return deps.handler.applyOptOut({
        workspaceId: deps.workspaceId,
        alertId: alert.id,
        slackUserId: click.userId,
        idempotencyKey: key,
        alert,
        decision,
      });
    });
}

import type { BlockAction, Middleware, SlackActionMiddlewareArgs } from '@slack/bolt';
import { idempotencyKey, MESSAGES, runButtonAction, type ListenerDeps } from './common.js';

/**
 * "Resend consent request" on a consent.failed alert: starts the privacy workflow again for that
 * contact and channel (DESIGN §4 triggers: `manual`, e.g. a Slack button).
 */
export function resendConsentRequestListener(deps: ListenerDeps): Middleware<SlackActionMiddlewareArgs<BlockAction>> {
  return ({ ack, body, client, respond }) =>
    runButtonAction(deps, { ack, body, client, respond }, 'resend_consent_request', async (alert, click) => {
      if (alert.event.type !== 'consent.failed') return { outcome: 'refused', message: MESSAGES.notApplicable };
      const { data } = alert.event;
      return deps.handler.resendConsentRequest({
        workspaceId: deps.workspaceId,
        alertId: alert.id,
        slackUserId: click.userId,
        idempotencyKey: idempotencyKey(alert.id, 'resend_consent_request'),
        alert,
        contactId: data.contactId,
        channel: data.channel,
        purpose: data.purpose,
        workflowId: data.workflowId,
      });
    });
}

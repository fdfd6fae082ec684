import type { BlockAction, Middleware, SlackActionMiddlewareArgs } from '@slack/bolt';
import { idempotencyKey, MESSAGES, runButtonAction, type ListenerDeps } from './common.js';

/** "Not an opt-out" on an optout.review_needed alert: nothing is recorded in the ledger; the review is closed. */
export function dismissOptOutListener(deps: ListenerDeps): Middleware<SlackActionMiddlewareArgs<BlockAction>> {
  return ({ ack, body, client, respond }) =>
    runButtonAction(deps, { ack, body, client, respond }, 'dismiss_optout', async (alert, click) => {
      if (alert.event.type !== 'optout.review_needed') return { outcome: 'refused', message: MESSAGES.notApplicable };
      return deps.handler.dismissOptOut({
        workspaceId: deps.workspaceId,
        alertId: alert.id,
        slackUserId: click.userId,
        idempotencyKey: idempotencyKey(alert.id, 'dismiss_optout'),
        alert,
        contactId: alert.event.data.contactId,
        messageId: alert.event.data.messageId,
      });
    });
}

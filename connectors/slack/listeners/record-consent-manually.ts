import type { BlockAction, Middleware, SlackActionMiddlewareArgs } from '@slack/bolt';
import { recordConsentModal } from '../blocks/record-consent-modal.js';
import {
  checkAlert,
  MESSAGES,
  parseButtonClick,
  recipientOf,
  reportingFailures,
  showResolved,
  tellUser,
  type ButtonClick,
  type ListenerDeps,
  type Recipient,
} from './common.js';

/**
 * "Record consent manually" on a consent.failed alert opens the modal; the consent is recorded
 * when the modal is submitted (record-consent-manually-modal.ts). views.open must be called with
 * the click's trigger_id within 3 seconds of the click
 * (https://docs.slack.dev/reference/methods/views.open), so nothing slow happens before it.
 */
export function recordConsentManuallyListener(deps: ListenerDeps): Middleware<SlackActionMiddlewareArgs<BlockAction>> {
  return ({ ack, body, client, respond }) =>
    deps.track(async () => {
      await ack();
      const click = parseButtonClick(body);
      if (!click || click.actionId !== 'record_consent_manually' || click.triggerId === null) {
        deps.logger.warn('Ignored a malformed record_consent_manually payload');
        return;
      }
      const to = recipientOf(client, click, respond);
      await reportingFailures(deps, to, click, () => openModal(deps, to, click));
    });
}

async function openModal(deps: ListenerDeps, to: Recipient, click: ButtonClick): Promise<void> {
  const triggerId = click.triggerId;
  if (triggerId === null) return;
  const check = await checkAlert(deps, { userId: click.userId, alertId: click.alertId, action: 'record_consent_manually' });
  if (!check.ok) {
    await tellUser(deps, to, check.message);
    if (check.resolved) {
      await showResolved(deps, to.client, { channel: click.channel, ts: click.messageTs }, check.resolved.alert, check.resolved.resolution);
    }
    return;
  }
  const { alert } = check;
  if (alert.event.type !== 'consent.failed') {
    await tellUser(deps, to, MESSAGES.notApplicable);
    return;
  }
  const view = recordConsentModal({
    alertId: alert.id,
    channel: click.channel,
    messageTs: click.messageTs,
    contactName: alert.event.data.contactName ?? alert.contactName,
    contactUrl: alert.contactUrl,
    consentChannel: alert.event.data.channel,
    purpose: alert.event.data.purpose,
  });
  await to.client.views.open({ trigger_id: triggerId, view });
}

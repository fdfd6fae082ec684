import type { AlertResolution } from '../actions-port.js';
import { channelLabel, ERASED_CONTACT, eventContext, field, fieldsSection, header, slackDate, textSection, type AlertMessageInput, type SlackMessage } from './common.js';
import { ALERT_LABELS } from './digest.js';
import { resolutionLine } from './resolved.js';

export interface ErasedMessageInput {
  alert: AlertMessageInput;
  /** How the alert was handled before the erasure, if it was: that names the Slack user, not the contact. */
  resolution: AlertResolution | null;
}

/**
 * An alert whose contact was erased (GDPR Art. 17), as its message is edited to and as it is posted
 * when it had not been yet: what kind of alert it was, the channel and when, and no name, no link,
 * no quoted message, no reason and no buttons. What the person wrote or was called is nowhere in it,
 * the fallback text included (chat.update replaces `text` and `blocks` whole:
 * https://docs.slack.dev/reference/methods/chat.update).
 */
export function erasedAlertMessage(input: ErasedMessageInput): SlackMessage {
  const { event } = input.alert;
  const kind = ALERT_LABELS[event.type];
  const fields = [field('Alert', kind)];
  if (event.type !== 'sync.failed') fields.push(field('Channel', channelLabel(event.data.channel)));
  fields.push(field('When', slackDate(event.occurredAt)));
  const handled = input.resolution ? ` Before that, ${resolutionLine(input.resolution)}` : '';
  return {
    text: `${ERASED_CONTACT}: this ${kind.toLowerCase()} alert is closed`,
    blocks: [
      header(`:wastebasket: ${ERASED_CONTACT}`),
      fieldsSection(fields),
      textSection(`The contact was erased, so this alert is closed and nothing is left to do here.${handled}`),
      eventContext(event.id),
    ],
  };
}

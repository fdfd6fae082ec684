import type { types } from '@slack/bolt';
import type { ConsentFailedData, ConsentryEvent } from '../../../src/core/events.js';
import {
  alertButton,
  channelLabel,
  contactLabel,
  escapeInline,
  eventContext,
  field,
  fieldsSection,
  header,
  slackDate,
  type AlertMessageInput,
  type SlackMessage,
} from './common.js';

export type ConsentFailedInput = AlertMessageInput<ConsentryEvent<'consent.failed'>>;

const REASONS: Readonly<Record<ConsentFailedData['reason'], string>> = {
  invalid: 'No valid answer',
  timeout: 'No answer before the timeout',
};

function attemptsText(attempts: number): string {
  return attempts === 1 ? '1 attempt' : `${attempts} attempts`;
}

/** The contact's display name; the event's own name wins over the dispatcher's lookup. */
function contactNameOf(input: ConsentFailedInput): string | null {
  return input.event.data.contactName ?? input.contactName;
}

/** The facts of a failed consent request, shared with the resolved message. */
export function consentFailedFields(input: ConsentFailedInput): types.SectionBlock {
  const { data } = input.event;
  return fieldsSection([
    field('Contact', contactLabel({ contactName: contactNameOf(input), contactUrl: input.contactUrl })),
    field('Channel', channelLabel(data.channel)),
    field('Reason', REASONS[data.reason]),
    field('Attempts', String(data.attempts)),
    field('Purpose', escapeInline(data.purpose, 64)),
    field('When', slackDate(input.event.occurredAt)),
  ]);
}

export function consentFailedFallback(input: ConsentFailedInput): string {
  const { data } = input.event;
  const name = escapeInline(contactNameOf(input) ?? 'Unnamed contact', 100);
  return `Consent request failed for ${name} on ${channelLabel(data.channel)}: ${REASONS[data.reason].toLowerCase()} (${attemptsText(data.attempts)})`;
}

/** consent.failed (DESIGN §4 template steps 6 and 7): the team can ask again or record consent by hand. */
export function consentFailedMessage(input: ConsentFailedInput): SlackMessage {
  return {
    text: consentFailedFallback(input),
    blocks: [
      header(':warning: Consent request failed'),
      consentFailedFields(input),
      eventContext(input.event.id),
      {
        type: 'actions',
        elements: [
          alertButton('resend_consent_request', 'Resend consent request', input.alertId, { style: 'primary' }),
          alertButton('record_consent_manually', 'Record consent manually', input.alertId),
        ],
      },
    ],
  };
}

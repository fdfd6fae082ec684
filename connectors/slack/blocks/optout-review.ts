import type { types } from '@slack/bolt';
import type { ConsentryEvent } from '../../../src/core/events.js';
import { escapeQuote } from '../escape.js';
import {
  alertButton,
  channelLabel,
  contactLabel,
  escapeInline,
  eventContext,
  field,
  fieldsSection,
  header,
  LIMITS,
  slackDate,
  textSection,
  type AlertMessageInput,
  type SlackMessage,
} from './common.js';

export type OptoutReviewInput = AlertMessageInput<ConsentryEvent<'optout.review_needed'>>;

/** The facts of an opt-out review, shared with the resolved message. */
export function optoutReviewFields(input: OptoutReviewInput): types.SectionBlock {
  const { data } = input.event;
  return fieldsSection([
    field('Contact', contactLabel(input)),
    field('Channel', channelLabel(data.channel)),
    field('Opt-out word', escapeInline(data.matchedWord, 100)),
    field('Language', data.language ? escapeInline(data.language, 20) : 'Unknown'),
    field('When', slackDate(input.event.occurredAt)),
  ]);
}

const QUOTE_LABEL = '*Message*\n';

/**
 * The customer's own words, quoted: the reason a person has to look at this. A message too long
 * for the section (3000 characters: https://docs.slack.dev/reference/block-kit/blocks/section-block)
 * keeps its start, its end and the text around the opt-out word, with "…" where text was left out.
 */
export function optoutReviewQuote(input: OptoutReviewInput): types.SectionBlock {
  const { text, matchedWord } = input.event.data;
  return textSection(`${QUOTE_LABEL}${escapeQuote(text, LIMITS.sectionText - QUOTE_LABEL.length, matchedWord)}`);
}

export function optoutReviewFallback(input: OptoutReviewInput): string {
  const name = escapeInline(input.contactName ?? 'Unnamed contact', 100);
  const text = escapeInline(input.event.data.text, 200);
  return `Possible opt-out from ${name} on ${channelLabel(input.event.data.channel)}: "${text}"`;
}

/**
 * optout.review_needed (DESIGN §3): a message that mentions an opt-out word among other words
 * changes nothing by itself, but US rules say plain-language revocations must be honoured, so a
 * person decides. Dismissing asks for confirmation because it keeps the contact subscribed.
 */
export function optoutReviewMessage(input: OptoutReviewInput): SlackMessage {
  return {
    text: optoutReviewFallback(input),
    blocks: [
      header(':raised_hand: Opt-out review needed'),
      optoutReviewFields(input),
      optoutReviewQuote(input),
      eventContext(input.event.id),
      {
        type: 'actions',
        elements: [
          alertButton('apply_optout', 'Apply opt-out', input.alertId, { style: 'primary' }),
          alertButton('dismiss_optout', 'Not an opt-out', input.alertId, {
            confirm: {
              title: { type: 'plain_text', text: 'Not an opt-out?' },
              text: { type: 'plain_text', text: 'The contact stays subscribed on this channel.' },
              confirm: { type: 'plain_text', text: 'Not an opt-out' },
              deny: { type: 'plain_text', text: 'Cancel' },
            },
          }),
        ],
      },
    ],
  };
}

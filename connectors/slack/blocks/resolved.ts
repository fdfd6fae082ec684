import type { types } from '@slack/bolt';
import { LEGAL_BASIS_LABELS } from '../../../src/core/consent.js';
import type { AlertResolution, SlackActionId } from '../actions-port.js';
import { escapeInline, slackDate } from '../escape.js';
import { consentFailedFallback, consentFailedFields, type ConsentFailedInput } from './consent-failed.js';
import { eventContext, header, textSection, type AlertMessageInput, type SlackMessage } from './common.js';
import { optoutReviewFallback, optoutReviewFields, optoutReviewQuote, type OptoutReviewInput } from './optout-review.js';
import { syncFailedFallback, syncFailedFields, syncFailedReason, type SyncFailedInput } from './sync-failed.js';

export interface ResolvedMessageInput {
  alert: AlertMessageInput;
  resolution: AlertResolution;
}

const DONE: Readonly<Record<SlackActionId, { title: string; verb: string }>> = {
  resend_consent_request: { title: 'Consent request sent again', verb: 'resent the consent request' },
  record_consent_manually: { title: 'Consent recorded manually', verb: 'recorded consent manually' },
  apply_optout: { title: 'Opt-out applied', verb: 'applied the opt-out' },
  dismiss_optout: { title: 'Not an opt-out', verb: 'marked this message as not an opt-out' },
};

/** Slack user ids (`U…`, or `W…` on Enterprise Grid); anything else is shown as text, never as a mention. */
const SLACK_USER_ID = /^[UW][A-Z0-9]{2,30}$/;

function actorMention(slackUserId: string): string {
  return SLACK_USER_ID.test(slackUserId) ? `<@${slackUserId}>` : escapeInline(slackUserId, 40);
}

/** "who did what and when", e.g. "<@U1> recorded consent manually (Performance of a contract) on …". */
export function resolutionLine(resolution: AlertResolution): string {
  const done = DONE[resolution.action];
  const basis = resolution.legalBasis ? ` (${LEGAL_BASIS_LABELS[resolution.legalBasis]})` : '';
  return `${actorMention(resolution.slackUserId)} ${done.verb}${basis} on ${slackDate(resolution.at)}.`;
}

function factBlocks(alert: AlertMessageInput): { blocks: types.KnownBlock[]; fallback: string } {
  switch (alert.event.type) {
    case 'consent.failed': {
      const input: ConsentFailedInput = { ...alert, event: alert.event };
      return { blocks: [consentFailedFields(input)], fallback: consentFailedFallback(input) };
    }
    case 'optout.review_needed': {
      const input: OptoutReviewInput = { ...alert, event: alert.event };
      return { blocks: [optoutReviewFields(input), optoutReviewQuote(input)], fallback: optoutReviewFallback(input) };
    }
    case 'sync.failed': {
      const input: SyncFailedInput = { ...alert, event: alert.event };
      return { blocks: [syncFailedFields(input), syncFailedReason(input)], fallback: syncFailedFallback(input) };
    }
  }
}

/**
 * The alert after someone acted on it: the same facts, who did what and when, and no buttons, so
 * nobody clicks twice (DESIGN §6: after a button is used, chat.update the message).
 */
export function resolvedMessage(input: ResolvedMessageInput): SlackMessage {
  const facts = factBlocks(input.alert);
  const line = resolutionLine(input.resolution);
  return {
    text: `${DONE[input.resolution.action].title}: ${facts.fallback}. ${line}`,
    blocks: [
      header(`:white_check_mark: ${DONE[input.resolution.action].title}`),
      ...facts.blocks,
      textSection(`:white_check_mark: ${line}`),
      eventContext(input.alert.event.id),
    ],
  };
}

import type { types } from '@slack/bolt';
import { LEGAL_BASIS_LABELS, type ConsentSource } from '../../../src/core/consent.js';
import type { AlertResolution, SlackActionId, StandingDecision } from '../actions-port.js';
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

/** When the decision a button recorded is not in effect: the record stays as evidence, a newer decision stands. */
const NOT_IN_EFFECT: Readonly<Record<SlackActionId, { title: string; verb: string }>> = {
  resend_consent_request: DONE.resend_consent_request,
  record_consent_manually: { title: 'Consent recorded, not in effect', verb: 'recorded consent manually' },
  apply_optout: { title: 'Opt-out recorded, not in effect', verb: 'recorded the opt-out' },
  dismiss_optout: DONE.dismiss_optout,
};

const SOURCE_WORDS: Readonly<Record<ConsentSource, string>> = {
  keyword: 'a keyword the contact sent',
  workflow: 'a consent conversation',
  manual: 'a person in Consentry',
  bulk: 'a bulk update',
  api: 'the API',
  hubspot: 'HubSpot',
  zapier: 'Zapier',
  slack: 'Slack',
};

/** "the contact opted in again on … (a keyword the contact sent)": the decision that stands. */
function standingLine(standing: StandingDecision): string {
  const change = standing.status === 'opted_in' ? 'opted in again' : 'opted out again';
  return `the contact ${change} on ${slackDate(standing.occurredAt)} (${SOURCE_WORDS[standing.source]}), and that later decision stands`;
}

/** What the person who clicked is told when the decision recorded is not in effect. */
export function notInEffectMessage(standing: StandingDecision): string {
  return `Recorded as evidence, dated when the contact wrote, but not in effect: ${standingLine(standing)}. Nothing else was changed.`;
}

function wording(resolution: AlertResolution): { title: string; verb: string } {
  return resolution.supersededBy ? NOT_IN_EFFECT[resolution.action] : DONE[resolution.action];
}

/** Slack user ids (`U…`, or `W…` on Enterprise Grid); anything else is shown as text, never as a mention. */
const SLACK_USER_ID = /^[UW][A-Z0-9]{2,30}$/;

function actorMention(slackUserId: string): string {
  return SLACK_USER_ID.test(slackUserId) ? `<@${slackUserId}>` : escapeInline(slackUserId, 40);
}

/** "who did what and when", e.g. "<@U1> recorded consent manually (Performance of a contract) on …". */
export function resolutionLine(resolution: AlertResolution): string {
  const done = wording(resolution);
  const basis = resolution.legalBasis ? ` (${LEGAL_BASIS_LABELS[resolution.legalBasis]})` : '';
  const standing = resolution.supersededBy ? `; it is not in effect: ${standingLine(resolution.supersededBy)}` : '';
  return `${actorMention(resolution.slackUserId)} ${done.verb}${basis} on ${slackDate(resolution.at)}${standing}.`;
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
  const { title } = wording(input.resolution);
  const icon = input.resolution.supersededBy ? ':warning:' : ':white_check_mark:';
  return {
    text: `${title}: ${facts.fallback}. ${line}`,
    blocks: [header(`${icon} ${title}`), ...facts.blocks, textSection(`${icon} ${line}`), eventContext(input.alert.event.id)],
  };
}

import type { types } from '@slack/bolt';
import type { ConsentryEvent } from '../../../src/core/events.js';
import {
  contactLabel,
  escapeInline,
  eventContext,
  field,
  fieldsSection,
  header,
  slackDate,
  textSection,
  type AlertMessageInput,
  type SlackMessage,
} from './common.js';

export type SyncFailedInput = AlertMessageInput<ConsentryEvent<'sync.failed'>>;

/** The facts of a failed sync, shared with the resolved message. */
export function syncFailedFields(input: SyncFailedInput): types.SectionBlock {
  const { data } = input.event;
  const fields = [
    field('Integration', escapeInline(data.integration, 100)),
    field('Operation', escapeInline(data.operation, 200)),
    field('Retrying', data.retryable ? 'Yes, automatically' : 'No: needs attention'),
    field('When', slackDate(input.event.occurredAt)),
  ];
  if (data.contactId !== null) fields.splice(2, 0, field('Contact', contactLabel(input)));
  return fieldsSection(fields);
}

export function syncFailedReason(input: SyncFailedInput): types.SectionBlock {
  return textSection(`*Why*\n${escapeInline(input.event.data.reason, 2000)}`);
}

export function syncFailedFallback(input: SyncFailedInput): string {
  const { data } = input.event;
  return `${escapeInline(data.integration, 100)} sync failed (${escapeInline(data.operation, 100)}): ${escapeInline(data.reason, 300)}`;
}

/**
 * sync.failed: what failed and why. There is nothing to click: a retryable failure is retried by
 * the dispatcher, a permanent one needs someone to fix the integration's set-up.
 */
export function syncFailedMessage(input: SyncFailedInput): SlackMessage {
  return {
    text: syncFailedFallback(input),
    blocks: [
      header(':x: Sync failed'),
      syncFailedFields(input),
      syncFailedReason(input),
      eventContext(input.event.id),
    ],
  };
}

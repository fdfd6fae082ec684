import type { SlackAlertEventType } from '../actions-port.js';
import {
  channelLabel,
  ERASED_CONTACT,
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

export interface DigestInput {
  /** The alerts folded into the digest, oldest first (possibly only the newest ones). */
  alerts: readonly AlertMessageInput[];
  /** How many alerts the digest stands for, including any no longer listed. */
  total: number;
  /** ISO-8601: when the burst began. */
  since: string;
}

/** Listed lines; the section text limit is 3000 characters (https://docs.slack.dev/reference/block-kit/blocks/section-block). */
const MAX_LINES = 12;

/** What each kind of alert is called in a digest line, and in its erased form. */
export const ALERT_LABELS: Readonly<Record<SlackAlertEventType, string>> = {
  'consent.failed': 'Consent failed',
  'optout.review_needed': 'Opt-out review',
  'sync.failed': 'Sync failed',
};

function line(alert: AlertMessageInput): string {
  const when = slackDate(alert.event.occurredAt);
  switch (alert.event.type) {
    case 'consent.failed': {
      const name = alert.erased ? ERASED_CONTACT : escapeInline(alert.event.data.contactName ?? alert.contactName ?? 'Unnamed contact', 60);
      return `• ${ALERT_LABELS[alert.event.type]}: ${name}, ${channelLabel(alert.event.data.channel)}, ${when}`;
    }
    case 'optout.review_needed': {
      const name = alert.erased ? ERASED_CONTACT : escapeInline(alert.contactName ?? 'Unnamed contact', 60);
      return `• ${ALERT_LABELS[alert.event.type]}: ${name}, ${channelLabel(alert.event.data.channel)}, ${when}`;
    }
    case 'sync.failed':
      return `• ${ALERT_LABELS[alert.event.type]}: ${escapeInline(alert.event.data.integration, 40)} ${escapeInline(alert.event.data.operation, 60)}, ${when}`;
  }
}

/**
 * One message standing for a burst of alerts in a channel, updated in place as the burst goes on
 * (chat.postMessage allows about one message per second per channel:
 * https://docs.slack.dev/apis/web-api/rate-limits). Alerts folded into a digest have no buttons of
 * their own; they are handled in Consentry.
 */
export function digestMessage(input: DigestInput): SlackMessage {
  const counts = new Map<SlackAlertEventType, number>();
  for (const alert of input.alerts) counts.set(alert.event.type, (counts.get(alert.event.type) ?? 0) + 1);
  const newest = input.alerts.slice(-MAX_LINES).reverse();
  const latest = input.alerts.at(-1);
  const hidden = input.total - newest.length;

  const lines = newest.map(line);
  if (hidden > 0) lines.push(`…and ${hidden} earlier ${hidden === 1 ? 'alert' : 'alerts'}`);

  const fields = [field('Alerts', String(input.total)), field('Since', slackDate(input.since))];
  // Per-type counts only when every alert is at hand; otherwise they would not add up to the total.
  if (input.alerts.length === input.total) {
    for (const [type, count] of counts) fields.push(field(ALERT_LABELS[type], String(count)));
  }

  const plural = input.total === 1 ? 'alert' : 'alerts';
  return {
    text: `${input.total} Consentry ${plural} since ${slackDate(input.since)}: too many to post one by one`,
    blocks: [
      header(`:rotating_light: ${input.total} Consentry ${plural}`),
      fieldsSection(fields),
      textSection(lines.length > 0 ? lines.join('\n') : '_No alerts listed._'),
      eventContext(latest?.event.id ?? 'none', 'too many alerts to post one by one: handle them in Consentry'),
    ],
  };
}

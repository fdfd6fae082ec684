import type { types } from '@slack/bolt';
import type { Channel } from '../../../src/core/consent.js';
import type { SlackActionId, SlackAlertEvent } from '../actions-port.js';
import { assertOpaqueAlertId } from '../actions-port.js';
import { escapeInline, mrkdwnLink, slackDate } from '../escape.js';

export type SlackBlock = types.KnownBlock;
export type SlackButton = types.Button;

/**
 * A message for chat.postMessage / chat.update. `text` is the notification and screen-reader
 * fallback Slack asks for whenever `blocks` are sent
 * (https://docs.slack.dev/reference/methods/chat.postMessage#text-usage).
 */
export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}

/** What an alert message is built from: the stored alert, minus its bookkeeping. */
export interface AlertMessageInput<E extends SlackAlertEvent = SlackAlertEvent> {
  alertId: string;
  event: E;
  contactName: string | null;
  contactUrl: string | null;
  /** The contact was erased (erasure.ts): shown as such, never by name. */
  erased?: boolean;
}

/** What a line or message shows instead of an erased contact's name. */
export const ERASED_CONTACT = 'Contact erased';

/** Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks). */
export const LIMITS = {
  headerText: 150,
  fieldText: 2000,
  sectionText: 3000,
  fieldsPerSection: 10,
  contextText: 2000,
  buttonText: 75,
} as const;

export const CHANNEL_LABELS: Readonly<Record<Channel, string>> = {
  whatsapp: 'WhatsApp',
  sms: 'SMS',
  email: 'Email',
  messenger: 'Messenger',
  telegram: 'Telegram',
  webchat: 'Web chat',
  any: 'All channels',
};

export function header(text: string): types.HeaderBlock {
  return { type: 'header', text: { type: 'plain_text', text: text.slice(0, LIMITS.headerText), emoji: true } };
}

/**
 * mrkdwn text with Slack's automatic parsing off: with `verbatim: true` a bare URL, a `#channel` or
 * an `@here` in contact data stays text, while the `<…>` tokens Consentry writes itself (dates,
 * links, the acting user) still render
 * (https://docs.slack.dev/reference/block-kit/composition-objects/text-object).
 */
export function mrkdwn(text: string): types.MrkdwnElement {
  return { type: 'mrkdwn', text, verbatim: true };
}

/** One labelled field; `value` must already be inert mrkdwn (escape.ts). */
export function field(label: string, value: string): types.MrkdwnElement {
  return mrkdwn(`*${label}*\n${value}`.slice(0, LIMITS.fieldText));
}

export function fieldsSection(fields: types.MrkdwnElement[]): types.SectionBlock {
  return { type: 'section', fields: fields.slice(0, LIMITS.fieldsPerSection) };
}

/** `text` must already be inert mrkdwn (escape.ts). */
export function textSection(text: string): types.SectionBlock {
  return { type: 'section', text: mrkdwn(text.slice(0, LIMITS.sectionText)) };
}

/** The context line every alert ends with: the event id, for support and for the outbox log. */
export function eventContext(eventId: string, extra?: string): types.ContextBlock {
  const parts = [`Consentry event \`${escapeInline(eventId, 100)}\``];
  if (extra) parts.push(extra);
  return { type: 'context', elements: [mrkdwn(parts.join(' · ').slice(0, LIMITS.contextText))] };
}

/** A button whose value is the opaque alert id and nothing else (DESIGN §6). */
export function alertButton(
  actionId: SlackActionId,
  label: string,
  alertId: string,
  extra: Pick<types.Button, 'style' | 'confirm'> = {},
): types.Button {
  return {
    type: 'button',
    action_id: actionId,
    text: { type: 'plain_text', text: label.slice(0, LIMITS.buttonText), emoji: true },
    value: assertOpaqueAlertId(alertId),
    ...extra,
  };
}

export function contactLabel(input: Pick<AlertMessageInput, 'contactName' | 'contactUrl'>): string {
  const name = input.contactName?.trim() ? input.contactName : 'Unnamed contact';
  return mrkdwnLink(input.contactUrl, name);
}

export function channelLabel(channel: Channel): string {
  return CHANNEL_LABELS[channel];
}

export { escapeInline, slackDate };

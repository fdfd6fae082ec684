import { randomUUID } from 'node:crypto';
import type { Bundle, Create, ZObject } from 'zapier-platform-core';
import { z as zod } from 'zod';
import { callApi, type FieldWarningJson, InboundAnswerSchema, repliesText } from '../api.js';
import {
  channelField,
  EVEN_WITH_FIELD_ERRORS,
  inAnswerMember,
  type MESSAGING_CHANNELS,
  messagingChannelInput,
  optionalText,
  parseInputData,
  replySenderField,
  replySenderInput,
} from '../inputs.js';
import { timedStep } from '../step-deadline.js';
import { assertOutboundWebhookSet } from '../workspace-settings.js';

const InputSchema = zod
  .object({
    channel: messagingChannelInput,
    repliesSentBy: replySenderInput,
    senderId: optionalText(200),
    phone: optionalText(40),
    email: optionalText(254),
    name: optionalText(200),
    text: optionalText(4096),
    button: optionalText(256),
    messageId: optionalText(200),
    timestamp: zod.preprocess(
      (value) => (value === '' || value === null ? undefined : value),
      zod.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time with a time zone' }).optional(),
    ),
  })
  .superRefine((input, ctx) => {
    if (input.senderId === undefined && input.phone === undefined && input.email === undefined) {
      ctx.addIssue({ code: 'custom', path: ['senderId'], message: 'give the sender’s ID on the channel, a phone number or an email' });
    }
    if (input.text === undefined && input.button === undefined) {
      ctx.addIssue({ code: 'custom', path: ['text'], message: 'a message needs text or a button' });
    }
  }, EVEN_WITH_FIELD_ERRORS);

/** A phone number in international format: "+" and digits, spaced or punctuated as people write them. */
const INTERNATIONAL_PHONE = /^\+[\d\s().-]+$/;

/**
 * The sender's id on the channel when the Zap gives none, in the form the channel's own webhook
 * uses, so the message reaches the contact that webhook knows and adds no second identity. WhatsApp
 * ids are the international number without "+" (Cloud API `messages[].from`,
 * https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components); SMS providers send
 * E.164. A number without its country code is sent as written: turned into digits it could read as
 * another country's number.
 */
export function defaultSenderId(channel: (typeof MESSAGING_CHANNELS)[number], phone: string | undefined, email: string | undefined): string {
  if (phone !== undefined && INTERNATIONAL_PHONE.test(phone)) {
    const digits = phone.replace(/\D/g, '');
    if (channel === 'whatsapp') return digits;
    if (channel === 'sms') return `+${digits}`;
  }
  return phone ?? email ?? '';
}

/** The server's warnings as one readable line each, for a Zap to show or filter on. */
function warningsText(warnings: readonly FieldWarningJson[]): string {
  return warnings.map((warning) => (warning.path ? `${warning.path}: ${warning.message}` : warning.message)).join('\n');
}

const NO_MESSAGE_ID_REMEDY =
  'Map the source tool’s Message ID into this step: a replay with the same ID is processed once, and Zapier then retries outages on its own.';

/**
 * Feeds a message received by any tool into Consentry, exactly as a channel webhook would:
 * keywords (START, STOP, HELP ...) and the workspace's workflows answer it, and the replies come
 * back for a later step to send, or go to the workspace's outbound webhook to be sent there.
 */
const perform = async (z: ZObject, bundle: Bundle) => {
  const input = parseInputData(z, InputSchema, bundle.inputData);
  if (input.repliesSentBy === 'outbound_webhook') await assertOutboundWebhookSet(z, bundle);
  // The server processes a channel's message id once; without one from the source tool every run is a
  // new message, so a repeat of this step would be processed again.
  const messageId = input.messageId ?? `zapier-${randomUUID()}`;
  const from: Record<string, string> = { id: input.senderId ?? defaultSenderId(input.channel, input.phone, input.email) };
  if (input.phone !== undefined) from.phone = input.phone;
  if (input.email !== undefined) from.email = input.email;
  if (input.name !== undefined) from.name = input.name;
  const body: Record<string, unknown> = { channel: input.channel, messageId, from, ...inAnswerMember(input.repliesSentBy) };
  if (input.text !== undefined) body.text = input.text;
  if (input.button !== undefined) body.button = input.button;
  if (input.timestamp !== undefined) body.timestamp = input.timestamp;
  const answer = await callApi(z, bundle, {
    method: 'POST',
    path: '/v1/messages',
    body,
    schema: InboundAnswerSchema,
    ...(input.messageId === undefined ? { notIdempotent: { remedy: NO_MESSAGE_ID_REMEDY } } : {}),
  });
  // A warning on messageId means this message was not processed: the answer is an earlier, different
  // message's (its replies could tell a contact who wrote STOP "you are subscribed"). That is the
  // Zap's mistake (a thread or ticket ID mapped as Message ID), so the step fails with a plain error:
  // Zapier's docs reserve z.errors.Error for "errors due to a misconfiguration in a user's Zap", and
  // HaltedError for a soft stop that is not an error, which would let the unprocessed message pass
  // unnoticed (https://github.com/zapier/zapier-platform/blob/main/packages/cli/README.md#general-errors,
  // #halting-execution; publishing guidelines 4.10: never a successful response for a request that
  // failed, https://platform.zapier.com/publish/integration-publishing-guidelines).
  const unprocessed = answer.warnings.find((warning) => warning.path === 'messageId');
  if (unprocessed) {
    throw new z.errors.Error(
      `Consentry did not process this message: messageId: ${unprocessed.message}. Map a Message ID that is unique to each message (not a thread or ticket ID), or leave it empty.`,
      'MESSAGE_NOT_PROCESSED',
      409,
    );
  }
  return {
    id: messageId,
    messageId,
    contactId: answer.contactId,
    conversationId: answer.conversationId,
    replies: answer.replies,
    replyText: repliesText(answer.replies),
    replyCount: answer.replies.length,
    eventTypes: answer.events.map((event) => event.type).join(', '),
    warnings: warningsText(answer.warnings),
  };
};

const create: Create = {
  key: 'send_inbound_message',
  noun: 'Message',
  display: {
    label: 'Send Inbound Message',
    description:
      "Feeds a message a contact sent (from any tool) into Consentry keywords and workflows, and returns the replies for a later step to send back, or leaves them to the workspace's outbound webhook.",
  },
  operation: {
    inputFields: [
      channelField({ required: true, messagingOnly: true, helpText: 'The channel the contact wrote on.' }),
      replySenderField(
        "A later step of this Zap (the default): send the Replies to the contact in it. The workspace's outbound webhook: Consentry tells it that no Zap sends these replies, so the service behind it sends them, and no later step is needed. Choose it only when your workspace's outbound webhook sends Consentry's replies.",
      ),
      {
        key: 'senderId',
        label: 'Sender ID',
        required: false,
        helpText:
          'The contact’s ID on that channel. Leave empty to use the phone (on WhatsApp as digits with the country code, e.g. 34600000001; on SMS as +34600000001), else the email.',
      },
      {
        key: 'phone',
        label: 'Sender Phone',
        required: false,
        helpText: 'In international format, e.g. +34 600 000 001: on WhatsApp and SMS it then matches the contact the channel knows.',
      },
      {
        key: 'email',
        label: 'Sender Email',
        required: false,
        helpText: 'Finds the contact when Consentry does not know the Sender ID yet, and is added to a contact that has no email.',
      },
      { key: 'name', label: 'Sender Name', required: false, helpText: 'Given to a contact that has no name yet, e.g. Ana Test.' },
      { key: 'text', label: 'Text', type: 'text', required: false, helpText: 'What the contact wrote, e.g. STOP.' },
      { key: 'button', label: 'Button', required: false, helpText: 'The id or label of a quick-reply button the contact pressed.' },
      {
        key: 'messageId',
        label: 'Message ID',
        required: false,
        helpText: 'The source tool’s message ID: a message already seen is not processed twice. Leave empty to treat every run as new.',
      },
      {
        key: 'timestamp',
        label: 'Sent At',
        type: 'datetime',
        required: false,
        helpText: 'When the contact sent the message, as the source tool gives it: a decision in it is dated then. Leave empty for the time Consentry receives it.',
      },
    ],
    perform: timedStep('Send Inbound Message', perform),
    outputFields: [
      { key: 'id', label: 'Message ID' },
      { key: 'contactId', label: 'Contact ID' },
      { key: 'conversationId', label: 'Conversation ID' },
      { key: 'replyText', label: 'Replies (one per line)' },
      { key: 'replyCount', label: 'Number of Replies', type: 'integer' },
      { key: 'eventTypes', label: 'Events Raised' },
      { key: 'warnings', label: 'Warnings (values the server ignored, one per line)' },
    ],
    sample: {
      id: 'SM0000000000000000000000000000002',
      messageId: 'SM0000000000000000000000000000002',
      contactId: '01JQ7ZK4C2V9N8M3T5R6W1XYZA',
      conversationId: null,
      replies: [{ text: 'You have been unsubscribed and will no longer receive messages. Reply START to subscribe again.' }],
      replyText: 'You have been unsubscribed and will no longer receive messages. Reply START to subscribe again.',
      replyCount: 1,
      eventTypes: 'consent.withdrawn',
      warnings: '',
    },
  },
};

export default create;

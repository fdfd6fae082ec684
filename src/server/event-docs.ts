import { z } from 'zod';
import { OutboundMessageDataSchema, PUBLIC_EVENT_DATA_SCHEMAS, PUBLIC_EVENT_TYPES, type PublicEventType } from '../core/events.js';

/*
 * The `data` of each event type as /openapi.json describes it, generated from the schemas the
 * events are made with (core/events.ts), so the document follows the code. The description only
 * documents: events are served as they are stored, whatever these schemas say.
 */

type DocumentedEventType = PublicEventType | 'message.outbound';

/** What each event type says happened. */
const EVENT_SUMMARIES: Record<DocumentedEventType, string> = {
  'consent.given': 'A consent decision made a (purpose, channel) opted_in',
  'consent.withdrawn': 'A consent decision made a (purpose, channel) opted_out; channel any is a STOP ALL, about every channel',
  'consent.failed': 'A workflow question about consent ended without an answer: the answers did not do (invalid), or none came in time (timeout)',
  'contact.tagged': 'A tag was added to a contact',
  'contact.untagged': 'A tag was removed from a contact',
  'contact.updated': "A contact's name, address, identities or fields changed, or it was erased; changes names what changed, not the values",
  'contact.duplicate_found': "A workflow answer or a message's sender details gave an e-mail address or phone number another contact already has: a person decides",
  'conversation.opened': 'A conversation with a contact opened on a channel',
  'conversation.closed': 'A conversation with a contact closed',
  'optout.review_needed': 'A message may mean an opt-out but was not applied as one (a sentence holding an opt-out word, a late opt-out): a person decides',
  'sync.failed': 'A connector (HubSpot) could not deliver a change',
  'message.outbound': "A reply to send to a contact on the workspace's custom channel: POSTed to outboundWebhookUrl only, never listed by GET /v1/events",
};

/** What a data field holds, where its name alone does not say it; by event type, then for any type. */
const FIELD_DESCRIPTIONS: Partial<Record<DocumentedEventType | '*', Record<string, string>>> = {
  '*': {
    contactId: 'The contact (a ULID)',
    purpose: "The purpose: privacy, marketing or one of the workspace's own",
    channel: 'The channel',
    conversationId: 'The conversation (a ULID)',
    runId: 'The workflow run (a ULID)',
  },
  'consent.given': {
    channel: 'The channel the decision is about',
    status: 'Always opted_in',
    legalBasis: "The legal basis, as HubSpot names them (GDPR Art. 6); null when none was given",
    explanation: 'Why, as recorded with the decision; null when none',
    source: 'What recorded the decision',
    recordId: 'The decision in the consent ledger (a ULID)',
    occurredAt: "When the decision was made; the envelope's occurredAt is when it was recorded",
  },
  'consent.withdrawn': {
    channel: 'The channel the decision is about; any for a STOP ALL, which concerns every channel',
    status: 'Always opted_out',
    legalBasis: "The legal basis, as HubSpot names them (GDPR Art. 6); null when none was given",
    explanation: 'Why, as recorded with the decision; null when none',
    source: 'What recorded the decision',
    recordId: 'The decision in the consent ledger (a ULID)',
    occurredAt: "When the decision was made; the envelope's occurredAt is when it was recorded",
  },
  'consent.failed': {
    channel: 'Where the question was asked',
    purpose: 'The purpose the question asked consent for',
    reason: 'invalid: the answers did not do; timeout: no answer came in time',
    attempts: 'How many times the question was asked',
    workflowId: 'The workflow template that asked',
    conversationId: 'The conversation of the run; null when it had none',
    contactName: "The contact's name then; null when it has none or it was erased",
  },
  'contact.tagged': { tag: 'The tag as the request wrote it (tags compare ignoring letter case and spacing)' },
  'contact.untagged': { tag: 'The tag as the request wrote it (tags compare ignoring letter case and spacing)' },
  'contact.updated': { changes: 'What changed: name, email, phone, identities (the contact wrote on a new channel), fields.<name>, or erased after an erasure; never the values' },
  'contact.duplicate_found': {
    contactId: "The contact whose workflow answer or message's sender details (from.email, from.phone) gave the value",
    field: 'Which value: email or phone',
    otherContactId: 'The contact that already has it (a ULID)',
    runId: 'The workflow run that asked (a ULID); null when the sender details of a message gave the value',
  },
  'optout.review_needed': {
    channel: 'The channel the message came on',
    messageId: "The channel's own id of the message",
    text: 'The message as the contact sent it (or the text of the button clicked)',
    normalized: 'The message as keyword matching reads it (folded, punctuation around words dropped)',
    language: 'The language of the opt-out word found; null when unknown',
    matchedWord: 'The opt-out word found; empty when none stands out',
  },
  'sync.failed': {
    integration: 'The connector, e.g. hubspot',
    contactId: 'The contact (a ULID); null when the failure concerns no contact',
    operation: 'What was attempted',
    reason: 'Why it failed, as the platform answered',
    retryable: 'Whether the change is tried again by itself',
  },
  'message.outbound': {
    channel: 'The channel the reply is for',
    conversationId: 'The conversation; null outside one',
    to:
      'For a reply to a message, the sender id that message came from; otherwise the contact\'s id on the channel, else (on email) their e-mail, ' +
      'else their phone, else their e-mail, else the contact id',
    text: 'The reply',
    options: 'Buttons to offer, when the reply asks a question',
    inReplyTo:
      'The messageId of the inbound message whose handling sent this reply (including the first question of a workflow that message started); ' +
      'null for a reply no inbound message caused: a time-out text the scheduler sent, a workflow started over the API, by a tag added or a decision ' +
      'recorded from outside (a time-out an inbound message fired, arriving after it was due, carries that message\'s id)',
    inAnswer:
      'Whether the same text is in the `replies` of the answer to the request that caused it (POST /v1/messages, POST /v1/workflows/{template}/runs), ' +
      'unless that request said "inAnswer": false, leaving the sending to this webhook: an adapter that sends those replies itself skips it here, ' +
      'and one that sends only what this webhook delivers sends it',
  },
};

function dataSchemaOf(type: DocumentedEventType): z.ZodObject {
  return type === 'message.outbound' ? OutboundMessageDataSchema : PUBLIC_EVENT_DATA_SCHEMAS[type];
}

const JsonObjectSchema = z.record(z.string(), z.unknown());

/**
 * The JSON Schema of an event type's `data`: every field it is made with, described. Fields the
 * type may gain later are allowed (`additionalProperties`): a receiver ignores what it does not know.
 */
export function eventDataJsonSchema(type: DocumentedEventType): Record<string, unknown> {
  const { $schema: _dialect, ...generated } = z.toJSONSchema(dataSchemaOf(type).loose(), { io: 'output' });
  const properties = JsonObjectSchema.parse(generated.properties ?? {});
  const described = Object.fromEntries(
    Object.entries(properties).map(([field, schema]) => {
      const description = FIELD_DESCRIPTIONS[type]?.[field] ?? FIELD_DESCRIPTIONS['*']?.[field];
      return [field, description === undefined ? schema : { ...JsonObjectSchema.parse(schema), description }];
    }),
  );
  return { ...generated, properties: described };
}

/** An event of one type as it is listed and delivered: the envelope's `type`, and its `data`. */
function envelopeVariant(type: DocumentedEventType): Record<string, unknown> {
  return {
    title: type,
    description: EVENT_SUMMARIES[type],
    type: 'object',
    properties: { type: { const: type }, data: eventDataJsonSchema(type) },
    required: ['type', 'data'],
  };
}

/** For the event envelope's schema: one variant per public type, which its `type` picks. */
export function publicEventVariants(): Record<string, unknown>[] {
  return PUBLIC_EVENT_TYPES.map(envelopeVariant);
}

const ENVELOPE_PROPERTIES = {
  id: { type: 'string', description: "The event's ULID: the same on every retry, so a receiver can drop duplicates" },
  version: { type: 'integer', description: 'The version of the event schema' },
  workspaceId: { type: 'string' },
  occurredAt: { type: 'string', description: 'When the event was recorded (ISO 8601, UTC)' },
  contactId: { type: ['string', 'null'], description: 'The contact the event is about; deliveries keep its events in order' },
};

const SIGNATURE_HEADERS = [
  { name: 'X-Consentry-Event-Id', description: "The event's ULID: the same on every retry" },
  { name: 'X-Consentry-Event-Type', description: 'The event type' },
  { name: 'X-Consentry-Timestamp', description: 'When this attempt was signed, in Unix seconds; refuse one more than five minutes away from your clock' },
  {
    name: 'X-Consentry-Signature',
    description:
      'v1= and the hex HMAC-SHA256 of `${timestamp}.${body}` with the secret; during a secret rotation a second, comma-separated v1= value made with the old secret',
  },
].map((header) => ({ ...header, in: 'header', required: true, schema: { type: 'string' } }));

const DELIVERY_ANSWERS = {
  '2XX': { description: 'Delivered' },
  '410': { description: 'Gone: a hook is deleted, and its pending deliveries are not sent (for the outbound webhook, a refusal like any other)' },
  default: {
    description:
      '408, 429 and 5xx (or no answer in 10 seconds) are retried for 3 days, honouring Retry-After; any other answer, a redirect included (redirects are not followed), dead-letters the delivery',
  },
};

/**
 * The OpenAPI 3.1 `webhooks` (https://spec.openapis.org/oas/v3.1.0#oas-webhooks): what a hook
 * subscribed to each public event type receives, and what the custom channel's outbound webhook
 * receives (message.outbound).
 */
export function eventWebhooks(): Record<string, unknown> {
  const types: DocumentedEventType[] = [...PUBLIC_EVENT_TYPES, 'message.outbound'];
  return Object.fromEntries(
    types.map((type) => [
      type,
      {
        post: {
          summary: EVENT_SUMMARIES[type],
          description:
            type === 'message.outbound'
              ? 'POSTed to the workspace setting outboundWebhookUrl, signed with the outbound webhook secret.'
              : `POSTed to the targetUrl of every hook subscribed to ${type} (or to *) whose filter matches, signed with the hook's secret.`,
          parameters: SIGNATURE_HEADERS,
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: { ...ENVELOPE_PROPERTIES, type: { const: type }, data: eventDataJsonSchema(type) },
                  required: ['id', 'type', 'version', 'workspaceId', 'occurredAt', 'contactId', 'data'],
                },
              },
            },
          },
          responses: DELIVERY_ANSWERS,
        },
      },
    ]),
  );
}

/** The OpenAPI document with its `webhooks` (eventWebhooks). */
export function withEventWebhooks<T extends object>(document: T): T {
  return Object.assign({}, document, { webhooks: eventWebhooks() });
}

import { z } from 'zod';
import { ChannelSchema, ConsentSourceSchema, ConsentStatusSchema, LegalBasisSchema, PurposeSchema } from './consent.js';

/** DESIGN §5: the public, versioned events that Zapier, Slack, HubSpot and hooks receive. */
export const PUBLIC_EVENT_TYPES = [
  'consent.given',
  'consent.withdrawn',
  'consent.failed',
  'contact.tagged',
  'contact.untagged',
  'contact.updated',
  'contact.duplicate_found',
  'conversation.opened',
  'conversation.closed',
  'optout.review_needed',
  'sync.failed',
] as const;
export const PublicEventTypeSchema = z.enum(PUBLIC_EVENT_TYPES);
export type PublicEventType = z.infer<typeof PublicEventTypeSchema>;

/**
 * Internal outbox items: side effects that are not public events (a reply to deliver to a
 * custom channel's outbound webhook). They travel through the same outbox so nothing is lost.
 */
export const INTERNAL_EVENT_TYPES = ['message.outbound', 'workflow.finished'] as const;
export type InternalEventType = (typeof INTERNAL_EVENT_TYPES)[number];
export type EventType = PublicEventType | InternalEventType;

export const EVENT_SCHEMA_VERSION = 1;

export const ConsentChangeDataSchema = z.object({
  contactId: z.string(),
  purpose: PurposeSchema,
  channel: ChannelSchema,
  status: ConsentStatusSchema,
  legalBasis: LegalBasisSchema.nullable(),
  explanation: z.string().nullable(),
  source: ConsentSourceSchema,
  recordId: z.string(),
  occurredAt: z.string(),
});
export type ConsentChangeData = z.infer<typeof ConsentChangeDataSchema>;

export const ConsentFailedDataSchema = z.object({
  contactId: z.string(),
  channel: ChannelSchema,
  purpose: PurposeSchema,
  reason: z.enum(['invalid', 'timeout']),
  attempts: z.number().int().nonnegative(),
  workflowId: z.string(),
  runId: z.string(),
  conversationId: z.string().nullable(),
  contactName: z.string().nullable(),
});
export type ConsentFailedData = z.infer<typeof ConsentFailedDataSchema>;

export const TagDataSchema = z.object({ contactId: z.string(), tag: z.string() });
export const ContactUpdatedDataSchema = z.object({
  contactId: z.string(),
  changes: z.array(z.string()),
});
/**
 * A workflow answer gave an e-mail address or phone number that another contact of the workspace
 * already has. The answer is unverified, so it neither moves to the asking contact (two contacts
 * would share it, and look-ups by it would become ambiguous) nor merges the two (the sender would
 * act on, and be shown, the other contact's data): a person decides.
 */
export const ContactDuplicateDataSchema = z.object({
  contactId: z.string(),
  field: z.enum(['email', 'phone']),
  otherContactId: z.string(),
  /** The workflow run whose answer gave the address; null when a message's sender details named it. */
  runId: z.string().nullable(),
});
export const ConversationDataSchema = z.object({
  contactId: z.string(),
  conversationId: z.string(),
  channel: ChannelSchema,
});
export const OptoutReviewDataSchema = z.object({
  contactId: z.string(),
  channel: ChannelSchema,
  messageId: z.string(),
  text: z.string(),
  normalized: z.string(),
  language: z.string().nullable(),
  matchedWord: z.string(),
});
export const SyncFailedDataSchema = z.object({
  integration: z.string(),
  contactId: z.string().nullable(),
  operation: z.string(),
  reason: z.string(),
  retryable: z.boolean(),
});
export const OutboundMessageDataSchema = z.object({
  contactId: z.string(),
  conversationId: z.string().nullable(),
  channel: ChannelSchema,
  to: z.string(),
  text: z.string(),
  options: z.array(z.object({ label: z.string(), buttonId: z.string().optional() })).optional(),
  inReplyTo: z.string().nullable(),
  /**
   * Whether the text is also in the `replies` of the answer to the request that caused it. Events
   * stored before the field existed read false: a receiver that skips answered texts then sends
   * them, which can repeat one but loses none.
   */
  inAnswer: z.boolean().default(false),
});

/** How a workflow run ended; HubSpot's "Request consent" action branches on it. */
export const RUN_OUTCOMES = ['given', 'failed_invalid', 'failed_timeout', 'opted_out', 'skipped', 'done', 'cancelled'] as const;
export const WorkflowFinishedDataSchema = z.object({
  contactId: z.string(),
  runId: z.string(),
  templateId: z.string(),
  channel: ChannelSchema,
  outcome: z.enum(RUN_OUTCOMES),
});

/** The data each public event carries: what a hook's filter can name. */
export const PUBLIC_EVENT_DATA_SCHEMAS = {
  'consent.given': ConsentChangeDataSchema,
  'consent.withdrawn': ConsentChangeDataSchema,
  'consent.failed': ConsentFailedDataSchema,
  'contact.tagged': TagDataSchema,
  'contact.untagged': TagDataSchema,
  'contact.updated': ContactUpdatedDataSchema,
  'contact.duplicate_found': ContactDuplicateDataSchema,
  'conversation.opened': ConversationDataSchema,
  'conversation.closed': ConversationDataSchema,
  'optout.review_needed': OptoutReviewDataSchema,
  'sync.failed': SyncFailedDataSchema,
} as const satisfies Record<PublicEventType, z.ZodObject>;

export interface EventDataByType {
  'consent.given': ConsentChangeData;
  'consent.withdrawn': ConsentChangeData;
  'consent.failed': ConsentFailedData;
  'contact.tagged': z.infer<typeof TagDataSchema>;
  'contact.untagged': z.infer<typeof TagDataSchema>;
  'contact.updated': z.infer<typeof ContactUpdatedDataSchema>;
  'contact.duplicate_found': z.infer<typeof ContactDuplicateDataSchema>;
  'conversation.opened': z.infer<typeof ConversationDataSchema>;
  'conversation.closed': z.infer<typeof ConversationDataSchema>;
  'optout.review_needed': z.infer<typeof OptoutReviewDataSchema>;
  'sync.failed': z.infer<typeof SyncFailedDataSchema>;
  'message.outbound': z.infer<typeof OutboundMessageDataSchema>;
  'workflow.finished': z.infer<typeof WorkflowFinishedDataSchema>;
}

/** An event as stored in the outbox and delivered: `id` is a ULID, stable across retries. */
export interface ConsentryEvent<T extends EventType = EventType> {
  id: string;
  type: T;
  version: number;
  workspaceId: string;
  occurredAt: string;
  /** The contact the event is about, used to keep delivery order per contact. */
  contactId: string | null;
  data: EventDataByType[T];
}

export function isPublicEventType(type: string): type is PublicEventType {
  return (PUBLIC_EVENT_TYPES as readonly string[]).includes(type);
}

/** A contact the engine erased, as its announcement in the outbox names it. */
export interface ErasedContact {
  workspaceId: string;
  contactId: string;
}

/**
 * The contact an outbox event says was erased: `contact.updated` whose changes include `erased`,
 * which erasure emits last, so readers of the outbox clean their own copies when they reach it.
 */
export function erasedContactOf(event: Pick<ConsentryEvent, 'type' | 'workspaceId' | 'data'>): ErasedContact | null {
  if (event.type !== 'contact.updated') return null;
  const data = ContactUpdatedDataSchema.safeParse(event.data);
  if (!data.success || !data.data.changes.includes('erased')) return null;
  return { workspaceId: event.workspaceId, contactId: data.data.contactId };
}

/** What replaces personal data in an erased contact's events. */
export const ERASED = '[erased]';

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * A JSON value with every string in it replaced by ERASED, for stored data whose shape is not
 * known any more. Returns `value` itself when it holds no string that is not ERASED already.
 */
export function eraseEveryString(value: unknown): unknown {
  if (typeof value === 'string') return value === ERASED ? value : ERASED;
  if (Array.isArray(value)) {
    const items: readonly unknown[] = value;
    const erased = items.map(eraseEveryString);
    return erased.some((item, index) => item !== items[index]) ? erased : value;
  }
  if (isPlainObject(value)) {
    const entries = Object.entries(value);
    const erased = entries.map(([key, member]): [string, unknown] => [key, eraseEveryString(member)]);
    return erased.some(([, member], index) => member !== entries[index]?.[1]) ? Object.fromEntries(erased) : value;
  }
  return value;
}

/**
 * Data an erased contact left in storage, redacted: read with `schema` and passed to `redact`
 * (which answers its input itself when nothing is left to redact), or, when the schema cannot
 * read it, with every string erased, since the person's words cannot be told apart from the rest
 * there. Null when nothing changed, so a caller writes only what does.
 */
export function redactStored<T>(schema: z.ZodType<T>, redact: (value: T) => T, stored: unknown): { value: unknown } | null {
  const parsed = schema.safeParse(stored);
  const before: unknown = parsed.success ? parsed.data : stored;
  const after: unknown = parsed.success ? redact(parsed.data) : eraseEveryString(stored);
  return after === before ? null : { value: after };
}

/**
 * The data of an event about an erased contact, with what identifies or quotes the person
 * removed (GDPR Art. 17). Consent facts (purpose, channel, status, legal basis, record id)
 * stay: they are the controller's proof and hold no personal data of their own.
 */
export function redactEventData(event: Pick<ConsentryEvent, 'type' | 'data'>): ConsentryEvent['data'] {
  const data: Record<string, unknown> = { ...event.data };
  const blank = (...keys: string[]) => {
    for (const key of keys) if (typeof data[key] === 'string') data[key] = ERASED;
  };
  switch (event.type) {
    case 'consent.failed':
      data.contactName = null;
      break;
    case 'optout.review_needed':
      blank('text', 'normalized', 'matchedWord');
      break;
    case 'message.outbound':
      blank('to', 'text');
      delete data.options;
      break;
    case 'contact.tagged':
    case 'contact.untagged':
      blank('tag');
      break;
    case 'sync.failed':
      // A platform's refusal can quote the value it refused (an email, a phone number).
      blank('reason');
      break;
    default:
      break;
  }
  return data as unknown as ConsentryEvent['data'];
}

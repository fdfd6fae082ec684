import type { RouteOptions } from 'fastify';
import { z } from 'zod';
import type { ConsentRecord, ConsentState, ConsentStatus } from '../core/consent.js';
import { ActorSchema, ChannelSchema, ConsentSourceSchema, ConsentStatusSchema, LegalBasisSchema } from '../core/consent.js';
import { canonicalContactId, type Contact } from '../core/contact.js';
import { isPublicEventType, PUBLIC_EVENT_TYPES } from '../core/events.js';
import { earliestOccurrenceMessage, EARLIEST_OCCURRENCE, governingDecision, isBeforeEarliestOccurrence, type ConsentStates } from '../core/ledger.js';
import { ZonedDateTimeSchema } from '../core/time.js';
import type { StoredEvent } from '../ports/store.js';
import { publicEventVariants } from './event-docs.js';

/*
 * The JSON shapes of HTTP API v1. Responses go through these schemas (fastify-type-provider-zod's
 * serializer), so a field that is not in the contract never leaks out, and /openapi.json is
 * generated from the same definitions.
 */

export const ContactJsonSchema = z.object({
  id: z.string(),
  name: z.string().nullable(),
  email: z.string().nullable(),
  phone: z.string().nullable(),
  identities: z.array(z.object({ channel: ChannelSchema, externalId: z.string() })),
  fields: z.record(z.string(), z.string()),
  tags: z.array(z.string()),
  hubspotId: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  erasedAt: z.string().nullable(),
});
export type ContactJson = z.infer<typeof ContactJsonSchema>;

export function contactJson(contact: Contact): ContactJson {
  return {
    id: contact.id,
    name: contact.name,
    email: contact.email,
    phone: contact.phone,
    identities: contact.identities.map((identity) => ({ channel: identity.channel, externalId: identity.externalId })),
    fields: contact.fields,
    tags: contact.tags,
    hubspotId: contact.hubspotId,
    createdAt: contact.createdAt,
    updatedAt: contact.updatedAt,
    erasedAt: contact.erasedAt,
  };
}

export const ConsentStateJsonSchema = z.object({
  purpose: z.string(),
  channel: ChannelSchema,
  status: ConsentStatusSchema,
  legalBasis: LegalBasisSchema.nullable(),
  explanation: z.string().nullable(),
  source: ConsentSourceSchema,
  occurredAt: z.string(),
  recordId: z.string(),
});
export type ConsentStateJson = z.infer<typeof ConsentStateJsonSchema>;

export function consentStateJson(state: ConsentState): ConsentStateJson {
  return {
    purpose: state.purpose,
    channel: state.channel,
    status: state.status,
    legalBasis: state.legalBasis,
    explanation: state.explanation,
    source: state.source,
    occurredAt: state.occurredAt,
    recordId: state.recordId,
  };
}

/** A decision on channel `any` that governs another row's channel, as the API shows it. */
export const OverridingDecisionJsonSchema = z
  .object({ recordId: z.string(), channel: z.literal('any'), status: ConsentStatusSchema, occurredAt: z.string() })
  .describe('The newer all-channel decision (STOP ALL, or one recorded on channel any) that governs this channel instead of this row');

/** What governs a state's channel (governingDecision), as the API writes it beside the state. */
export const GoverningJsonSchema = {
  effectiveStatus: ConsentStatusSchema.describe(
    "The status in force for this purpose on this channel, which the permission check reads: this row's status, or that of a newer decision on channel any (see overriddenBy)",
  ),
  overriddenBy: OverridingDecisionJsonSchema.nullable(),
};

export function governingJson(states: ConsentStates, state: ConsentState): { effectiveStatus: ConsentStatus; overriddenBy: z.infer<typeof OverridingDecisionJsonSchema> | null } {
  const { effectiveStatus, overriddenBy } = governingDecision(states, state);
  return {
    effectiveStatus,
    overriddenBy: overriddenBy === null ? null : { recordId: overriddenBy.recordId, channel: 'any', status: overriddenBy.status, occurredAt: overriddenBy.occurredAt },
  };
}

export const ConsentStatusRowJsonSchema = ConsentStateJsonSchema.extend(GoverningJsonSchema);

/** A contact's status row as the API shows it: the row, and what governs its channel among the contact's `states`. */
export function consentStatusRowJson(states: ConsentStates, state: ConsentState): z.infer<typeof ConsentStatusRowJsonSchema> {
  return { ...consentStateJson(state), ...governingJson(states, state) };
}

export const ConsentRecordJsonSchema = z.object({
  id: z.string(),
  workspaceId: z.string(),
  contactId: z.string(),
  purpose: z.string(),
  channel: ChannelSchema,
  status: ConsentStatusSchema,
  legalBasis: LegalBasisSchema.nullable(),
  explanation: z.string().nullable(),
  source: ConsentSourceSchema,
  actor: ActorSchema,
  evidence: z
    .record(z.string(), z.unknown())
    .describe('What the contact was shown and answered (message id, texts shown and their policyDigest, keyword, policy URL, note ...) and who the decision came from when it was made (identity)'),
  evidenceDigest: z.string(),
  occurredAt: z.string(),
  recordedAt: z.string(),
  idempotencyKey: z.string().nullable(),
  seq: z.number().int().describe('Position in the workspace hash chain, 1-based'),
  prevHash: z.string(),
  hash: z.string(),
});
export type ConsentRecordJson = z.infer<typeof ConsentRecordJsonSchema>;

export function consentRecordJson(record: ConsentRecord): ConsentRecordJson {
  return {
    id: record.id,
    workspaceId: record.workspaceId,
    contactId: record.contactId,
    purpose: record.purpose,
    channel: record.channel,
    status: record.status,
    legalBasis: record.legalBasis,
    explanation: record.explanation,
    source: record.source,
    actor: { kind: record.actor.kind, id: record.actor.id },
    evidence: { ...record.evidence },
    evidenceDigest: record.evidenceDigest,
    occurredAt: record.occurredAt,
    recordedAt: record.recordedAt,
    idempotencyKey: record.idempotencyKey,
    seq: record.seq,
    prevHash: record.prevHash,
    hash: record.hash,
  };
}

/**
 * A public event as listed and delivered. `data` is read as any object, so an event is served as
 * it is stored; the document describes each type's `data` (one `oneOf` variant per type, which
 * `type` picks), generated from the schemas the events are made with.
 */
export const EventJsonSchema = z
  .object({
    id: z.string().describe('ULID, stable across deliveries'),
    type: z.enum(PUBLIC_EVENT_TYPES),
    version: z.number().int(),
    workspaceId: z.string(),
    occurredAt: z.string(),
    contactId: z.string().nullable(),
    data: z.record(z.string(), z.unknown()).describe("The event's facts; their fields depend on the type (see the variants)"),
  })
  .meta({ oneOf: publicEventVariants() });
export type EventJson = z.infer<typeof EventJsonSchema>;

/** Public events only: internal outbox items (outbound replies, run endings) never leave through the API. */
export function publicEventsJson(events: readonly StoredEvent[]): EventJson[] {
  const out: EventJson[] = [];
  for (const event of events) {
    if (!isPublicEventType(event.type)) continue;
    out.push({
      id: event.id,
      type: event.type,
      version: event.version,
      workspaceId: event.workspaceId,
      occurredAt: event.occurredAt,
      contactId: event.contactId,
      data: { ...event.data },
    });
  }
  return out;
}

export const ReplyJsonSchema = z.object({
  text: z.string(),
  options: z.array(z.object({ label: z.string(), buttonId: z.string().optional() })).optional(),
});
export type ReplyJson = z.infer<typeof ReplyJsonSchema>;

export function repliesJson(replies: readonly ReplyJson[]): ReplyJson[] {
  return replies.map((reply) =>
    reply.options
      ? { text: reply.text, options: reply.options.map((o) => (o.buttonId === undefined ? { label: o.label } : { label: o.label, buttonId: o.buttonId })) }
      : { text: reply.text },
  );
}

/**
 * The media types a JSON Merge Patch body is taken in (RFC 7396 §4 names application/merge-patch+json),
 * for a PATCH route's `consumes`, which /openapi.json lists under its request body.
 */
export const MERGE_PATCH_MEDIA_TYPES = ['application/json', 'application/merge-patch+json'] as const;

export const IdParamsSchema = z.object({ id: z.string().min(1).max(200) });

/** A contact id read from a string schema: a query parameter's own (queryParameter) keeps its type error. */
export function contactIdText(text: z.ZodString, whenEmpty?: string) {
  return text.min(1, whenEmpty).max(200).transform(canonicalContactId);
}

/** A contact id as sent: a ULID in any letter case is read as the canonical upper-case id. */
export const ContactIdSchema = contactIdText(z.string()).describe('The contact id (a ULID; any letter case)');
export const ContactIdParamsSchema = z.object({ id: ContactIdSchema });

/** A problem with one field of a request, in a problem's `errors` or a response's `warnings`. */
export const FieldIssueJsonSchema = z.object({ path: z.string(), message: z.string() });


/**
 * How a decision time is read and kept, as the ledger does it (MAX_CLOCK_SKEW_MS and
 * recordedOccurrence in core/ledger.ts; the time is stored as `Date.prototype.toISOString` writes it).
 */
export const DECISION_TIME_DESCRIPTION =
  `ISO 8601 with Z or an offset, not before ${EARLIEST_OCCURRENCE}; stored in UTC to the millisecond (further digits are dropped, not rounded). ` +
  'A time up to 5 minutes ahead of the server clock is recorded as the time of recording; a later one is refused (422). Omitted: the time of recording.';

/** When a decision was made, as a request gives it (`occurredAt`); one before the ledger's earliest is named at the edge with the other bad fields. */
export const DecisionTimeSchema = ZonedDateTimeSchema.refine((occurredAt) => !isBeforeEarliestOccurrence(occurredAt), {
  error: (issue) => earliestOccurrenceMessage(issue.input),
}).describe(DECISION_TIME_DESCRIPTION);

/**
 * A query parameter read as a string. A parameter given more than once (`?limit=1&limit=2`)
 * reaches the route as an array (Fastify's query string parser,
 * https://fastify.dev/docs/latest/Reference/Server/#querystringparser): it is refused with what
 * to do (`give it once`, or `onRepeat`), not as a value of the wrong type.
 */
export function queryParameter(onRepeat = 'give it once') {
  return z.string({ error: givenMoreThanOnce(onRepeat) });
}

/** What an empty query parameter (`?cursor=`) is refused with: a value or nothing, not zod's "Too small". */
export const EMPTY_PARAMETER = 'is empty: give a value, or leave the parameter out';

/** The error a query parameter's type check words a repeated one with; any other failure keeps its own. */
function givenMoreThanOnce(onRepeat: string) {
  return (issue: { input: unknown }): string | undefined => (Array.isArray(issue.input) ? onRepeat : undefined);
}

/** A query parameter that takes one of the values of `choices`, refused as queryParameter refuses one given more than once. */
export function queryChoice<Values extends z.core.util.EnumLike>(choices: z.ZodEnum<Values>) {
  return z.enum(choices.enum, { error: givenMoreThanOnce('give it once') });
}

/** A page size as the query string carries it: decimal digits, no sign, point or exponent. */
const PAGE_SIZE_DIGITS = /^\d{1,6}$/;

/**
 * A page size from the query string (`?limit=20`), refused as queryParameter refuses a parameter
 * given more than once. Its digits are read (preprocessed) into the number it is checked as, and
 * zod describes a preprocessed value by the schema it is read into, so /openapi.json gives what a
 * client sends, an integer with its bounds (OpenAPI 3.1, Parameter Object: the `schema` of a query
 * parameter is that of its value, https://spec.openapis.org/oas/v3.1.0#parameter-object), not the
 * text it is parsed from. The default is what a request without `limit` is read as (a prefault,
 * which zod documents as the value's `default`; a `.default()` of a transformed value it leaves out).
 */
export function limitQuery(max: number, fallback: number) {
  const outside = `must be an integer between 1 and ${max}`;
  const readDigits = (sent: unknown): unknown => (typeof sent === 'string' && PAGE_SIZE_DIGITS.test(sent) ? Number(sent) : sent);
  const pageSize = z
    .number({ error: (issue) => (Array.isArray(issue.input) ? 'give it once' : outside) })
    .int(outside)
    .min(1, outside)
    .max(max, outside);
  return z.preprocess(readDigits, pageSize).prefault(fallback).describe(`Page size, 1 to ${max}, default ${fallback}`);
}

/** A route that declares no query parameters takes none, and a POST, PUT or PATCH that declares no body takes at most `{}`. */
const NO_QUERY = z.object({}).strict();
const NO_BODY = z.object({}).strict().nullish();

/**
 * The `onRoute` hook of every scope that registers /v1 routes: unknown input is refused with 422
 * naming it, on every /v1 route alike, since a misspelt parameter that is silently ignored looks
 * like a filter that matched everything. A route's declared schemas are kept as they are.
 */
export function refuseUndeclaredInput(route: RouteOptions): void {
  const schema = { ...route.schema };
  schema.querystring ??= NO_QUERY;
  const methods = Array.isArray(route.method) ? route.method : [route.method];
  if (methods.some((method) => method === 'POST' || method === 'PUT' || method === 'PATCH')) schema.body ??= NO_BODY;
  route.schema = schema;
}

import { z } from 'zod';
import {
  ActorSchema,
  ChannelSchema,
  ConsentStatusSchema,
  EvidenceSchema,
  LegalBasisSchema,
  PurposeSchema,
} from '../core/consent.js';
import { controlCharacterIn, fieldKey } from '../core/contact.js';
import { ConsentryError, describeIssues, refusalOf, type FieldIssue } from '../core/errors.js';
import { EARLIEST_OCCURRENCE, isBeforeEarliestOccurrence, zodIssuesToFieldIssues } from '../core/ledger.js';
import { FIELD_PARSE, shownValue } from '../core/required.js';
import { isBlank, READABLE_TEXT_LENGTH, readableText } from '../core/text.js';
import { ZonedDateTimeSchema } from '../core/time.js';

/** Messaging channels a message can arrive on (`any` is only a consent scope). */
/**
 * A name shown in lists, tab-separated listings, HubSpot, Slack and the texts sent to contacts
 * (`what`: "tag", "workspace name", "name"): trimmed, 1–`maxLength` characters, without a control
 * or bidirectional formatting character, which would split a row or make the name read as another.
 */
export function printableNameSchema(what: string, maxLength = 100) {
  return z
    .string()
    .trim()
    .min(1)
    .max(maxLength)
    .superRefine((name, context) => {
      const forbidden = controlCharacterIn(name);
      if (forbidden !== undefined) context.addIssue({ code: 'custom', message: `${what} ${forbidden}` });
    });
}

export const WorkspaceNameSchema = printableNameSchema('workspace name');

export const InboundChannelSchema = ChannelSchema.exclude(['any']);

/** The longest sender name kept from a message (see senderName). */
export const SENDER_NAME_MAX_LENGTH = 200;

/**
 * The name a message gives its sender, trimmed: null when it is blank (read as absent) or longer
 * than SENDER_NAME_MAX_LENGTH (ignored). Like a bad e-mail or phone, a bad name only loses itself:
 * a channel adapter passing an empty or overlong profile name must not lose the STOP it carries
 * (DESIGN §2, withdrawing is as easy as giving).
 */
export function senderName(name: string | undefined): string | null {
  const trimmed = name?.trim() ?? '';
  return trimmed === '' || isOverlongSenderName(trimmed) ? null : trimmed;
}

/** Whether a sender name is ignored for its length (see senderName); the API names it among the message's warnings. */
export function isOverlongSenderName(name: string): boolean {
  return name.trim().length > SENDER_NAME_MAX_LENGTH;
}

/** The longest `from.phone` or `from.email` read from a message: it bounds what a message can make the engine parse. */
export const SENDER_ADDRESS_MAX_LENGTH = 1000;

/** The longest `timestamp` read from a message (an RFC 3339 date and time with nanoseconds and an offset is 35 characters). */
export const TIMESTAMP_MAX_LENGTH = 100;

/**
 * A value that only describes a message: any JSON value is taken, since the message may carry a
 * STOP, and withdrawing is as easy as giving (DESIGN §2). readInboundMessage keeps a string and
 * ignores anything else; the API document shows what a caller is meant to send, a string or null.
 */
function describingValue(description: string) {
  return z.unknown().meta({ type: ['string', 'null'], description }).optional();
}

/** What a message without anything to read is refused with (InboundMessageSchema). */
const NEEDS_TEXT_OR_BUTTON = 'a message needs text or button';

/**
 * Whether a message's text is no text: empty or blank within its first READABLE_TEXT_LENGTH
 * characters, the only ones the engine reads (core/text.ts), so that what follows them is never
 * what makes it a message.
 */
export function isBlankText(text: string): boolean {
  return isBlank(readableText(text));
}

/** Why an empty or blank text is no text (InboundMessageSchema): a text blank only in the characters read says which those are. */
function blankTextMessage(text: string): string {
  return isBlank(text)
    ? `${NEEDS_TEXT_OR_BUTTON}: an empty or blank text is no text`
    : `${NEEDS_TEXT_OR_BUTTON}: a text blank in its first ${READABLE_TEXT_LENGTH.toLocaleString('en')} characters, the ones read, is no text`;
}

/** What a blank button is refused with (InboundMessageSchema). */
const BLANK_BUTTON = 'a blank button is no button: a button needs something besides white space and invisible characters';

const IGNORED_WITH_WARNING = 'a null is read as absent; any other value that is not a string is ignored with a warning';

/**
 * Whether the caller sends the `replies` of the answer itself. The outbound webhook gets every reply
 * all the same, each delivery saying `inAnswer` (src/engine/unit-of-work.ts): an adapter that sends
 * the answers' replies skips those with `inAnswer: true`, so a caller that sends none (a Zap that
 * leaves the sending to the adapter) says so, or nobody sends them.
 */
export const IN_ANSWER_DESCRIPTION =
  'Whether the caller sends the replies of this answer itself (default true). false: it does not, so their outbound webhook deliveries ' +
  'say inAnswer: false and the adapter reading them sends them';

/**
 * What `inAnswer: false` meets in a workspace without an outbound webhook: the caller sends none of
 * the replies, and no `message.outbound` copy of them is made, so they reach no one.
 */
export const IN_ANSWER_WITHOUT_WEBHOOK =
  'is false, but the workspace has no outbound webhook (settings.outboundWebhookUrl), so nobody sends these replies: ' +
  'send them yourself (leave inAnswer out), or set outboundWebhookUrl first';

/** The same refusal, as a caller that never sends a workflow's messages itself (a HubSpot action, a Slack button) tells its user. */
export const WORKFLOW_UNSENT_WITHOUT_WEBHOOK =
  "nothing was sent: the workspace has no outbound webhook (settings.outboundWebhookUrl), so nobody would send the workflow's messages to the contact: " +
  'set outboundWebhookUrl in the Consentry settings first';

/** Whether startWorkflow refused a run with `inAnswer: false` whose messages would reach no one. */
export function isUnsentWithoutWebhook(error: unknown): boolean {
  return error instanceof ConsentryError && error.code === 'VALIDATION_FAILED' && error.issues.some((issue) => issue.path === 'inAnswer');
}

export const InboundMessageSchema = z
  .object({
    channel: InboundChannelSchema,
    /** The channel's own message id: the same channel + messageId is processed once. */
    messageId: z.string().min(1).max(200),
    from: z
      .object({
        id: z.string().min(1).max(200),
        phone: describingValue(
          `The sender's phone number. An invalid one, or one longer than ${SENDER_ADDRESS_MAX_LENGTH} characters, is ignored with a warning; ${IGNORED_WITH_WARNING}`,
        ),
        email: describingValue(
          `The sender's e-mail address. An invalid one, or one longer than ${SENDER_ADDRESS_MAX_LENGTH} characters, is ignored with a warning; ${IGNORED_WITH_WARNING}`,
        ),
        name: describingValue(
          `The sender's profile name. A blank one is read as absent, and one longer than ${SENDER_NAME_MAX_LENGTH} characters ` +
            `is ignored: the message, which may carry a STOP, is never refused for its name; ${IGNORED_WITH_WARNING}`,
        ),
      })
      .strict(),
    // A null text or button is absent, as adapters send one beside the other (a button's postback
    // with `text: null`): refused, a STOP clicked would be lost.
    text: z
      .string()
      .max(65_536)
      .nullish()
      .describe(
        'What the contact wrote; its first 4,096 characters are read (an e-mail reply\'s quoted thread after them is not), so a long message is never refused. ' +
          'An empty or blank text (only white space and invisible characters, such as the zero-width space or the Hangul filler, in its first 4,096 characters) is no text: ' +
          'a message needs a text with something else, or a button (422 naming text otherwise); beside a button it is read as absent. A null is read as absent',
      ),
    button: z
      .string()
      .min(1)
      .max(256)
      .refine((button) => button === '' || !isBlank(button), BLANK_BUTTON)
      .nullish()
      .describe("A button's id or label, for channels with quick replies; a blank one (only white space and invisible characters) is refused. A null is read as absent"),
    inAnswer: z
      .boolean()
      .optional()
      .describe(`${IN_ANSWER_DESCRIPTION}. A repeated delivery of a message is answered as the first was, whatever it says here`),
    timestamp: describingValue(
      'When the contact sent the message: an RFC 3339 date and time with seconds and a zone (Z or ±hh:mm). One without a zone, ' +
        `unreadable, before 1970 or longer than ${TIMESTAMP_MAX_LENGTH} characters is ignored with a warning (the message, which ` +
        'may carry a STOP, is never refused for it) and the message is dated when it was received; so is one later than that. ' +
        'A number is ignored with a warning too: epoch seconds and milliseconds cannot be told apart. A null is read as absent',
    ),
  })
  .strict()
  .superRefine(
    (m, context) => {
      if ((m.button !== undefined && m.button !== null) || (typeof m.text === 'string' && !isBlankText(m.text))) return;
      // An empty or blank text is no text, as a keyword reads it (src/engine/handle-inbound.ts): such a
      // message carries nothing to read or answer, and would only open a conversation and ask the
      // privacy question of someone who wrote nothing (a waiting question would count it as an
      // invalid answer). A channel's media-only message is one: a WhatsApp image, voice note or
      // sticker has no text, only a caption when one was written (Cloud API webhook `messages[].type`,
      // https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components), and an adapter
      // that maps it to an empty text is told so. It is refused as a message with neither is.
      const message = typeof m.text === 'string' ? blankTextMessage(m.text) : NEEDS_TEXT_OR_BUTTON;
      context.addIssue({ code: 'custom', path: ['text'], message });
    },
    // Checked also when another field is refused, so that one answer names every bad field: zod runs
    // an object's refinement only once the object passes unless its `when` says otherwise (zod 4,
    // $ZodSuperRefineParams). Not when the body is no object, nor when the text or the button is
    // refused for itself, which says enough about them.
    {
      when: (payload) =>
        typeof payload.value === 'object' &&
        payload.value !== null &&
        !Array.isArray(payload.value) &&
        !payload.issues.some((issue) => issue.path?.[0] === 'text' || issue.path?.[0] === 'button'),
    },
  );
export type InboundMessage = z.input<typeof InboundMessageSchema>;

/** A message whose describing values (see readInboundMessage) are each a string or absent. */
export type ReadInboundMessage = Omit<z.output<typeof InboundMessageSchema>, 'from' | 'timestamp' | 'text' | 'button'> & {
  text?: string;
  button?: string;
  from: { id: string; phone?: string; email?: string; name?: string };
  timestamp?: string;
};

/** What each describing value is meant to be, as a warning about one of another kind names it. */
const EXPECTED_KIND = {
  'from.phone': 'a string with a phone number',
  'from.email': 'a string with an e-mail address',
  'from.name': 'a string',
  timestamp:
    'an RFC 3339 date and time with a zone (a number is not read as epoch seconds or milliseconds, as it does not say which)',
} as const;

/** What JSON kind a value is, for a warning (a number, a boolean, an array, an object). */
function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  return type === 'object' ? 'an object' : `a ${type}`;
}

/**
 * One describing value: a string that is not overlong is kept, null is absent, and anything else
 * is absent with the reason it was ignored, which never quotes the value (an overlong one could be
 * anything a broken adapter passed on).
 */
function readDescribingValue(
  path: keyof typeof EXPECTED_KIND,
  value: unknown,
  maxLength: number,
  isOverlong: (value: string) => boolean,
  ignored: FieldIssue[],
): string | undefined {
  if (value === undefined || value === null) return undefined;
  // The field is named once, by the issue's path (`from.email: is longer than 1000 characters`).
  if (typeof value !== 'string') ignored.push({ path, message: `is ${kindOf(value)}, not ${EXPECTED_KIND[path]}` });
  else if (isOverlong(value)) ignored.push({ path, message: `is longer than ${maxLength} characters` });
  else return value;
  return undefined;
}

/**
 * A parsed message with its describing values (`from.phone`, `from.email`, `from.name`, `timestamp`)
 * read: each a string or absent, and `ignored` naming, in that order, those dropped for being
 * neither a string nor null, or too long. What a string says (an invalid e-mail or phone, a
 * zone-less timestamp) is judged where it is used, and loses only itself there as well. An empty
 * or blank text beside a button is absent, as a null one is: it is no text (isBlankText), so a
 * click delivered once with `text: ""` and again without text is the same message.
 */
export function readInboundMessage(message: z.output<typeof InboundMessageSchema>): { message: ReadInboundMessage; ignored: FieldIssue[] } {
  const ignored: FieldIssue[] = [];
  const longerThan = (max: number) => (value: string) => value.length > max;
  const name = readDescribingValue('from.name', message.from.name, SENDER_NAME_MAX_LENGTH, isOverlongSenderName, ignored);
  const email = readDescribingValue('from.email', message.from.email, SENDER_ADDRESS_MAX_LENGTH, longerThan(SENDER_ADDRESS_MAX_LENGTH), ignored);
  const phone = readDescribingValue('from.phone', message.from.phone, SENDER_ADDRESS_MAX_LENGTH, longerThan(SENDER_ADDRESS_MAX_LENGTH), ignored);
  const timestamp = readDescribingValue('timestamp', message.timestamp, TIMESTAMP_MAX_LENGTH, longerThan(TIMESTAMP_MAX_LENGTH), ignored);
  const { from, timestamp: _given, text, button, ...rest } = message;
  const read: ReadInboundMessage = {
    ...rest,
    ...(text === undefined || text === null || (button !== undefined && button !== null && isBlankText(text)) ? {} : { text }),
    ...(button === undefined || button === null ? {} : { button }),
    from: { id: from.id, ...(phone === undefined ? {} : { phone }), ...(email === undefined ? {} : { email }), ...(name === undefined ? {} : { name }) },
    ...(timestamp === undefined ? {} : { timestamp }),
  };
  return { message: read, ignored };
}

/**
 * Why a message's `timestamp` cannot date it, or null when it can. A channel's clock is not the
 * contact's word: a zone-less or broken value only loses itself, as an invalid sender e-mail does,
 * and the message is dated when it was received.
 */
export function timestampIssue(timestamp: string): string | null {
  if (!ZonedDateTimeSchema.safeParse(timestamp).success) return 'is not an RFC 3339 date and time with seconds and a zone, such as 2026-11-22T09:00:00Z or 2026-11-22T10:00:00+01:00';
  if (isBeforeEarliestOccurrence(timestamp)) return `is before ${EARLIEST_OCCURRENCE}`;
  return null;
}

/** The longest value of a contact field that a contact body gives (setField stores up to FIELD_VALUE_MAX_LENGTH, which workflows' answers use). */
export const CONTACT_FIELD_VALUE_MAX_LENGTH = 2000;

/**
 * The most fields a contact holds through createContact and updateContact. Every one is kept in
 * the contact's row, shown in each answer about the contact and handed to its workflows, and a
 * patch names each it changes in its `contact.updated` event: one body must not grow a contact
 * without bound.
 */
export const CONTACT_FIELDS_MAX = 100;

/** A count as a refusal writes it: `5,000`. */
function counted(count: number): string {
  return count.toLocaleString('en-US');
}

/** What a contact whose fields would number `count` is refused with: the count and the cap, and what to do. */
export function tooManyFieldsMessage(count: number, { patch }: { patch: boolean }): string {
  const what = patch ? `would leave the contact with ${counted(count)} fields` : `has ${counted(count)} fields`;
  const remedy = patch ? ': remove some (null removes a field)' : '';
  return `${what}, more than the ${counted(CONTACT_FIELDS_MAX)} a contact may hold${remedy}`;
}

/**
 * How many fields a contact would hold with `names` set: each once under its key, as setField
 * stores it (fieldKey).
 */
export function fieldCountOf(names: Iterable<string>): number {
  const keys = new Set<string>();
  // A name fieldKey refuses adds no field: it is refused by name.
  for (const name of names) refusalOf(() => keys.add(fieldKey(name)));
  return keys.size;
}

/**
 * Why a field value that is not text is refused, saying what to send instead: a number or a
 * boolean as the text it reads as (`5 is a number: field values are text, send "5"`), an object or
 * a list by its kind. Undefined for every other issue, which keeps its own message (a value too long).
 */
function fieldValueTypeMessage(issue: { code?: string; input?: unknown }): string | undefined {
  if (issue.code !== 'invalid_type') return undefined;
  const value = issue.input;
  const asText = 'field values are text';
  if (typeof value === 'number' || typeof value === 'boolean') return `${shownValue(value)} is a ${typeof value}: ${asText}, send ${JSON.stringify(String(value))}`;
  if (Array.isArray(value)) return `is a list: ${asText}`;
  if (value === null) return `is null: ${asText}, leave the field out`;
  if (typeof value === 'object') return `is an object: ${asText}`;
  return undefined;
}

/** A field value: text of at most CONTACT_FIELD_VALUE_MAX_LENGTH characters. */
const fieldValueSchema = () => z.string({ error: fieldValueTypeMessage }).max(CONTACT_FIELD_VALUE_MAX_LENGTH);

/**
 * Contact fields whose names are kept as given (not trimmed), but without a control or
 * bidirectional formatting character, as a name. Any string is a key here: what setField refuses
 * in a name (fieldKey: empty, too long, reserved) is the engine's to refuse, which names it
 * `fields.<name>` with the contact's other bad values (contactValueIssues), where a key schema
 * would be reported once more on `fields` itself by zod ("Invalid key in record"). The names are
 * checked even when a value is refused, so one answer names them all. `maxFields` caps a new
 * contact's fields; a patch's are counted against the contact it changes (fieldCapRefusals, engine/contacts.ts).
 */
function fieldsSchema<V extends z.ZodType>(value: V, { maxFields }: { maxFields?: number } = {}) {
  return z.record(z.string(), value).superRefine(
    (fields, context) => {
      const names = Object.keys(fields);
      for (const name of names) {
        const forbidden = controlCharacterIn(name);
        if (forbidden !== undefined) context.addIssue({ code: 'custom', path: [name], message: `field name ${forbidden}` });
      }
      const count = fieldCountOf(names);
      if (maxFields !== undefined && count > maxFields) context.addIssue({ code: 'custom', message: tooManyFieldsMessage(count, { patch: false }) });
    },
    { when: (payload) => typeof payload.value === 'object' && payload.value !== null && !Array.isArray(payload.value) },
  );
}

export const ContactInputSchema = z
  .object({
    name: printableNameSchema('name', 200).nullable().optional(),
    email: z.string().trim().min(1).max(254).nullable().optional(),
    phone: z.string().trim().min(1).max(40).nullable().optional(),
    fields: fieldsSchema(fieldValueSchema(), { maxFields: CONTACT_FIELDS_MAX })
      .optional()
      .describe(
        `Free-form fields by name: each value text (a string) of at most ${CONTACT_FIELD_VALUE_MAX_LENGTH} characters, ` +
          `at most ${CONTACT_FIELDS_MAX} fields`,
      ),
    tags: z.array(z.string().trim().min(1).max(100)).max(100).optional(),
    identities: z
      .array(z.object({ channel: InboundChannelSchema, externalId: z.string().min(1).max(200) }).strict())
      .max(20)
      .optional(),
  })
  .strict();
export type ContactInput = z.input<typeof ContactInputSchema>;

/**
 * A JSON Merge Patch of a contact (RFC 7396): `null` removes a field, and `fields: null` every field.
 * The fields the contact holds after it are at most CONTACT_FIELDS_MAX, which needs the contact:
 * fieldCapRefusals (engine/contacts.ts) counts them in the patch's transaction.
 */
export const ContactPatchSchema = ContactInputSchema.omit({ identities: true, tags: true }).extend({
  fields: fieldsSchema(fieldValueSchema().nullable())
    .nullable()
    .optional()
    .describe(
      `Fields to set by name, each value text (a string) of at most ${CONTACT_FIELD_VALUE_MAX_LENGTH} characters; null removes a field. ` +
        `The contact holds at most ${CONTACT_FIELDS_MAX} fields after the change`,
    ),
});
export type ContactPatch = z.input<typeof ContactPatchSchema>;

/** A consent change requested by a person or an integration (API, Zapier, Slack, HubSpot). */
export const ConsentChangeSchema = z
  .object({
    contactId: z.string().min(1),
    purpose: PurposeSchema,
    channel: ChannelSchema,
    status: ConsentStatusSchema,
    legalBasis: LegalBasisSchema.nullable().optional(),
    explanation: z.string().trim().max(2000).nullable().optional(),
    source: z.enum(['manual', 'bulk', 'api', 'hubspot', 'zapier', 'slack']).default('api'),
    actor: ActorSchema,
    evidence: EvidenceSchema.optional(),
    occurredAt: ZonedDateTimeSchema.optional(),
    idempotencyKey: z.string().min(1).max(200).nullable().optional(),
  })
  .strict();
export type ConsentChange = z.input<typeof ConsentChangeSchema>;

/** One row of a bulk change: the contact by id, email or phone (created when missing by email/phone). */
export const BulkRowSchema = z
  .object({
    contactId: z.string().min(1).optional(),
    email: z.string().trim().min(1).max(254).optional(),
    phone: z.string().trim().min(1).max(40).optional(),
    purpose: PurposeSchema,
    channel: ChannelSchema,
    status: ConsentStatusSchema,
    legalBasis: LegalBasisSchema.nullable().optional(),
    explanation: z.string().trim().max(2000).nullable().optional(),
    occurredAt: ZonedDateTimeSchema.optional(),
    idempotencyKey: z.string().min(1).max(200).nullable().optional(),
    /**
     * Records an opt-in that would create a contact with an address an erased contact had, add one
     * to a contact, or opt in a contact an earlier row made or gave one (refused without it), and
     * ends that contact's erasedAddressGuard (src/engine/consents.ts).
     */
    allowErased: z.boolean().optional(),
  })
  .strict()
  .refine((r) => r.contactId !== undefined || r.email !== undefined || r.phone !== undefined, {
    message: 'a row needs a contactId, an email or a phone',
    path: ['contactId'],
    // Also when other fields are wrong, so a row's problems are all named at once.
    when: ({ value }) => typeof value === 'object' && value !== null,
  });
export type BulkRow = z.input<typeof BulkRowSchema>;

/** Parses `input` or throws a VALIDATION_FAILED error naming each bad field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(input, FIELD_PARSE);
  if (!parsed.success) {
    throw invalidInput(what, zodIssuesToFieldIssues(parsed.error));
  }
  return parsed.data;
}

/** VALIDATION_FAILED naming each bad field of `what` (parseInput's refusal, for checks beyond a schema too). */
export function invalidInput(what: string, issues: readonly FieldIssue[]): ConsentryError {
  return new ConsentryError('VALIDATION_FAILED', `Invalid ${what}: ${describeIssues(issues)}`, issues);
}

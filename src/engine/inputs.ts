import { z } from 'zod';
import {
  ActorSchema,
  ChannelSchema,
  ConsentStatusSchema,
  EvidenceSchema,
  LegalBasisSchema,
  PurposeSchema,
} from '../core/consent.js';
import { controlCharacterIn } from '../core/contact.js';
import { ConsentryError } from '../core/errors.js';
import { EARLIEST_OCCURRENCE, isBeforeEarliestOccurrence, zodIssuesToFieldIssues } from '../core/ledger.js';

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

const isoDateTime = z.iso.datetime({ offset: true });

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

export const InboundMessageSchema = z
  .object({
    channel: InboundChannelSchema,
    /** The channel's own message id: the same channel + messageId is processed once. */
    messageId: z.string().min(1).max(200),
    from: z
      .object({
        id: z.string().min(1).max(200),
        // Checked by the engine, not here: a bad value only loses itself (see senderName), and 1,000
        // characters bound what a message can make the engine read.
        phone: z.string().max(1000).optional().describe('The sender\'s phone number; an invalid one is ignored with a warning'),
        email: z.string().max(1000).optional().describe('The sender\'s e-mail address; an invalid one is ignored with a warning'),
        name: z
          .string()
          .optional()
          .describe(
            `The sender's profile name. A blank one is read as absent, and one longer than ${SENDER_NAME_MAX_LENGTH} characters ` +
              'is ignored: the message, which may carry a STOP, is never refused for its name',
          ),
      })
      .strict(),
    text: z
      .string()
      .max(65_536)
      .optional()
      .describe('What the contact wrote; its first 4,096 characters are read (an e-mail reply\'s quoted thread after them is not), so a long message is never refused'),
    /** A button's id or label, for channels with quick replies. */
    button: z.string().min(1).max(256).optional(),
    timestamp: z
      .string()
      .max(100)
      .optional()
      .describe(
        'When the contact sent the message: an RFC 3339 date and time with seconds and a zone (Z or ±hh:mm). One without a zone, ' +
          'unreadable or before 1970 is ignored with a warning (the message, which may carry a STOP, is never refused ' +
          'for it) and the message is dated when it was received; so is one later than that',
      ),
  })
  .strict()
  .refine((m) => m.text !== undefined || m.button !== undefined, {
    message: 'a message needs text or button',
    path: ['text'],
  });
export type InboundMessage = z.input<typeof InboundMessageSchema>;

/**
 * Why a message's `timestamp` cannot date it, or null when it can. A channel's clock is not the
 * contact's word: a zone-less or broken value only loses itself, as an invalid sender e-mail does,
 * and the message is dated when it was received.
 */
export function timestampIssue(timestamp: string): string | null {
  if (!isoDateTime.safeParse(timestamp).success) return 'is not an RFC 3339 date and time with seconds and a zone, such as 2026-11-22T09:00:00Z or 2026-11-22T10:00:00+01:00';
  if (isBeforeEarliestOccurrence(timestamp)) return `is before ${EARLIEST_OCCURRENCE}`;
  return null;
}

/** Contact fields whose names are kept as given (not trimmed), but without a control or bidirectional formatting character, as a name. */
function fieldsSchema<V extends z.ZodType>(value: V) {
  return z.record(z.string().min(1).max(100), value).superRefine((fields, context) => {
    for (const name of Object.keys(fields)) {
      const forbidden = controlCharacterIn(name);
      if (forbidden !== undefined) context.addIssue({ code: 'custom', path: [name], message: `field name ${forbidden}` });
    }
  });
}

export const ContactInputSchema = z
  .object({
    name: printableNameSchema('name', 200).nullable().optional(),
    email: z.string().trim().min(1).max(254).nullable().optional(),
    phone: z.string().trim().min(1).max(40).nullable().optional(),
    fields: fieldsSchema(z.string().max(2000)).optional(),
    tags: z.array(z.string().trim().min(1).max(100)).max(100).optional(),
    identities: z
      .array(z.object({ channel: InboundChannelSchema, externalId: z.string().min(1).max(200) }).strict())
      .max(20)
      .optional(),
  })
  .strict();
export type ContactInput = z.input<typeof ContactInputSchema>;

/** A JSON Merge Patch of a contact (RFC 7396): `null` removes a field, and `fields: null` every field. */
export const ContactPatchSchema = ContactInputSchema.omit({ identities: true, tags: true }).extend({
  fields: fieldsSchema(z.string().max(2000).nullable()).nullable().optional(),
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
    occurredAt: isoDateTime.optional(),
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
    occurredAt: isoDateTime.optional(),
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
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issues = zodIssuesToFieldIssues(parsed.error);
    const detail = issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ');
    throw new ConsentryError('VALIDATION_FAILED', `Invalid ${what}: ${detail}`, issues);
  }
  return parsed.data;
}

import { z } from 'zod';
import { notOneOfMeant, shownValue, withMeant } from './required.js';
import { ZonedDateTimeSchema } from './time.js';
import { foldAsciiCase } from './text.js';

/** DESIGN §2: messaging channels; `any` addresses every channel at once (STOPALL). */
export const CHANNELS = ['whatsapp', 'sms', 'email', 'messenger', 'telegram', 'webchat', 'any'] as const;
export const ChannelSchema = z.enum(CHANNELS);
export type Channel = z.infer<typeof ChannelSchema>;
/** Channels a contact can actually be messaged on (everything but `any`). */
export const MESSAGING_CHANNELS = CHANNELS.filter((c): c is Exclude<Channel, 'any'> => c !== 'any');
export type MessagingChannel = Exclude<Channel, 'any'>;

/** `privacy` and `marketing` are built in; a workspace may define its own purposes. */
export const BUILT_IN_PURPOSES = ['privacy', 'marketing'] as const;
const PURPOSE_PATTERN = /^[a-z][a-z0-9_-]{0,63}$/;
const PURPOSE_RULE = 'a purpose is lower-case letters, digits, "_" or "-" (at most 64), starting with a letter';

/**
 * The known purpose `value` spells in other ASCII letter case, blank space around it aside
 * (`Marketing` for `marketing`); undefined for any other value. Only ASCII letters are folded, as
 * the import folds a purpose cell: no other letter (a Kelvin sign) stands for one of them.
 */
export function purposeInOtherCase(value: string, known: readonly string[]): string | undefined {
  const folded = foldAsciiCase(value.trim());
  return folded === value ? undefined : known.find((purpose) => purpose === folded);
}

/**
 * What a purpose not spelled as one could be is refused with: the value, quoted as every refused
 * value is (shownValue), once, beside the field that names it, and the rule; for a known purpose
 * in another letter case, that purpose (`"Marketing" is not a purpose: ... (did you mean
 * "marketing"?)`). `known` is the built-in purposes where the workspace's own are not at hand.
 */
export function misspeltPurposeMessage(value: unknown, known: readonly string[] = BUILT_IN_PURPOSES): string {
  const message = `${shownValue(value)} is not a purpose: ${PURPOSE_RULE}`;
  return withMeant(message, typeof value === 'string' ? purposeInOtherCase(value, known) : undefined);
}

/** The checks of a purpose on a string schema, so a query parameter's own string schema (with its own type error) gets them too. */
export function purposeText(text: z.ZodString): z.ZodString {
  return text.regex(PURPOSE_PATTERN, { error: (issue) => misspeltPurposeMessage(issue.input) });
}

export const PurposeSchema = purposeText(z.string());
export type Purpose = z.infer<typeof PurposeSchema>;

/**
 * A field that takes one of `values`, whose refusal names the value a spreadsheet's or a CRM's
 * spelling of it stands for (notOneOfMeant: `"opted in" ... (did you mean "opted_in"?)`): the API
 * takes listed values only as spelled here, and says which one was meant rather than reading it
 * so. An absent value is left to the parse's wording (FIELD_PARSE: `is required: ...`).
 */
function listedValueSchema<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: (issue) => (issue.input === undefined ? undefined : notOneOfMeant(issue.input, values)) });
}

export const CONSENT_STATUSES = ['opted_in', 'opted_out'] as const;
export const ConsentStatusSchema = listedValueSchema(CONSENT_STATUSES);
export type ConsentStatus = z.infer<typeof ConsentStatusSchema>;
/** No record for a (purpose, channel) means `not_specified`. */
export type EffectiveStatus = ConsentStatus | 'not_specified';

/**
 * HubSpot's legal-basis enum (Communication Preferences API), which maps onto GDPR Art. 6.
 * https://developers.hubspot.com/docs/api/marketing/subscriptions-preferences
 */
export const LEGAL_BASES = [
  'CONSENT_WITH_NOTICE',
  'LEGITIMATE_INTEREST_PQL',
  'LEGITIMATE_INTEREST_CLIENT',
  'LEGITIMATE_INTEREST_OTHER',
  'PERFORMANCE_OF_CONTRACT',
  'PROCESS_AND_STORE',
  'NON_GDPR',
] as const;
export const LegalBasisSchema = listedValueSchema(LEGAL_BASES);
export type LegalBasis = z.infer<typeof LegalBasisSchema>;

/** Human labels, as HubSpot's UI words them. */
export const LEGAL_BASIS_LABELS: Record<LegalBasis, string> = {
  CONSENT_WITH_NOTICE: 'Freely given consent from contact',
  LEGITIMATE_INTEREST_PQL: 'Legitimate interest – prospect/lead',
  LEGITIMATE_INTEREST_CLIENT: 'Legitimate interest – existing customer',
  LEGITIMATE_INTEREST_OTHER: 'Legitimate interest – other',
  PERFORMANCE_OF_CONTRACT: 'Performance of a contract',
  PROCESS_AND_STORE: 'Process and store',
  NON_GDPR: 'Not subject to GDPR',
};

export const CONSENT_SOURCES = ['keyword', 'workflow', 'manual', 'bulk', 'api', 'hubspot', 'zapier', 'slack'] as const;
export const ConsentSourceSchema = z.enum(CONSENT_SOURCES);
export type ConsentSource = z.infer<typeof ConsentSourceSchema>;
/** Sources where a person (not the contact) records the decision: an opt-in needs a legal basis and an explanation. */
export const PERSON_SOURCES: readonly ConsentSource[] = ['manual', 'bulk', 'api', 'hubspot', 'zapier', 'slack'];

const ACTOR_KINDS = ['contact', 'user', 'integration', 'system'] as const;
const ACTOR_ID_MAX = 200;
export const ActorSchema = z.object({
  kind: z.enum(ACTOR_KINDS),
  /** Opaque id: a contact id, a user id, a Slack user id, a HubSpot portal id ... never a name or an address. */
  id: z.string().min(1).max(ACTOR_ID_MAX),
});
export type Actor = z.infer<typeof ActorSchema>;

/** The longest text each evidence member may hold, in UTF-16 code units (what zod's max counts). */
const EVIDENCE_TEXT_MAX = {
  messageId: 500,
  rawText: 5000,
  normalizedText: 5000,
  keyword: 200,
  language: 20,
  button: 500,
  policyUrl: 2000,
  policyDigest: 200,
  workflowId: 200,
  runId: 200,
  note: 5000,
  identity: 1000,
  salt: 64,
} as const;
/**
 * The texts a workflow showed the contact before a consent (`shown`): at most `texts` of them,
 * each at most `textLength` long and `totalLength` in all, in UTF-16 code units, so a long run
 * cannot make its evidence grow without limit.
 */
export const EVIDENCE_SHOWN_LIMITS = { texts: 10, textLength: 5000, totalLength: 20000 } as const;

function shownLength(texts: readonly string[]): number {
  let length = 0;
  for (const text of texts) length += text.length;
  return length;
}

/**
 * What the contact was shown and answered (GDPR Art. 7(1): the controller must be able to
 * demonstrate consent). Covered by `evidenceDigest`, so it can be redacted on erasure.
 */
export const EvidenceSchema = z
  .object({
    messageId: z.string().max(EVIDENCE_TEXT_MAX.messageId).optional(),
    rawText: z.string().max(EVIDENCE_TEXT_MAX.rawText).optional(),
    normalizedText: z.string().max(EVIDENCE_TEXT_MAX.normalizedText).optional(),
    keyword: z.string().max(EVIDENCE_TEXT_MAX.keyword).optional(),
    language: z.string().max(EVIDENCE_TEXT_MAX.language).optional(),
    button: z.string().max(EVIDENCE_TEXT_MAX.button).optional(),
    policyUrl: z.string().max(EVIDENCE_TEXT_MAX.policyUrl).optional(),
    policyDigest: z.string().max(EVIDENCE_TEXT_MAX.policyDigest).optional(),
    shown: z
      .array(z.string().max(EVIDENCE_SHOWN_LIMITS.textLength))
      .max(EVIDENCE_SHOWN_LIMITS.texts)
      .refine((texts) => shownLength(texts) <= EVIDENCE_SHOWN_LIMITS.totalLength, {
        message: `must hold at most ${EVIDENCE_SHOWN_LIMITS.totalLength} characters in all`,
      })
      .optional(),
    workflowId: z.string().max(EVIDENCE_TEXT_MAX.workflowId).optional(),
    runId: z.string().max(EVIDENCE_TEXT_MAX.runId).optional(),
    note: z.string().max(EVIDENCE_TEXT_MAX.note).optional(),
    /**
     * Who the decision came from, as it was known when it was made, so the proof does not depend
     * on the contact's current details (an e-mail edited later, a merged contact): the sender of a
     * message as `<channel>:<sender id>` (`whatsapp:34600000001`), the e-mail and phone a bulk row
     * named as `email:<address>` and `phone:<E.164>`, separated by a space. Redacted with the
     * rest of the evidence on erasure.
     */
    identity: z.string().max(EVIDENCE_TEXT_MAX.identity).optional(),
    /**
     * Random, written by Consentry into evidence that holds anything: `evidenceDigest` outlives
     * erasure, and without it the digest of evidence such as `{"identity":"phone:+34600000001"}`
     * could be checked against guessed numbers, re-identifying an erased person (GDPR recital 26).
     * Redacted with the rest of the evidence.
     */
    salt: z.string().max(EVIDENCE_TEXT_MAX.salt).optional(),
    redacted: z.boolean().optional(),
  })
  .strict();
export type Evidence = z.infer<typeof EvidenceSchema>;

/**
 * The evidence members a caller states when it records a decision (an API request, a bulk row):
 * what the person sent, pressed and was shown. The others Consentry writes itself (a keyword and
 * its normalised text, a workflow's ids, the digest of `shown`, who the decision came from), so
 * a caller cannot make the proof claim what Consentry did not see.
 */
export const CALLER_EVIDENCE_MEMBERS = ['messageId', 'rawText', 'button', 'policyUrl', 'shown', 'note'] as const;
export type CallerEvidenceMember = (typeof CALLER_EVIDENCE_MEMBERS)[number];
const CALLER_EVIDENCE_SET: ReadonlySet<string> = new Set(CALLER_EVIDENCE_MEMBERS);
/** EvidenceSchema's members that only Consentry writes: every member a caller may not state. */
export const CONSENTRY_EVIDENCE_MEMBERS: readonly string[] = Object.keys(EvidenceSchema.shape).filter((key) => !CALLER_EVIDENCE_SET.has(key));
const CONSENTRY_EVIDENCE_SET: ReadonlySet<string> = new Set(CONSENTRY_EVIDENCE_MEMBERS);

const callerEvidenceShape = {
  messageId: EvidenceSchema.shape.messageId.describe('The id of the message or form submission the decision came with'),
  rawText: EvidenceSchema.shape.rawText.describe('What the person wrote or submitted, as sent'),
  button: EvidenceSchema.shape.button.describe('The button or box the person pressed or ticked, as labelled'),
  policyUrl: EvidenceSchema.shape.policyUrl.describe('The privacy policy the person was pointed to'),
  shown: EvidenceSchema.shape.shown.describe(
    `The texts shown to the person before the decision, in order: at most ${EVIDENCE_SHOWN_LIMITS.texts}, each at most ${EVIDENCE_SHOWN_LIMITS.textLength} characters and ${EVIDENCE_SHOWN_LIMITS.totalLength} in all. Consentry adds their policyDigest`,
  ),
  note: EvidenceSchema.shape.note.describe("Free text, e.g. the form's page and what was ticked"),
} satisfies Record<CallerEvidenceMember, z.ZodType>;
export type CallerEvidence = Pick<Evidence, CallerEvidenceMember>;

/**
 * Evidence as a caller sends it: only CALLER_EVIDENCE_MEMBERS. A member Consentry writes is
 * refused by name, with why, and any other unknown member as such, together with the bad values
 * of the members it knows (except after more `shown` texts than the limit: zod stops reading an
 * array over its size there, so the other members are named on the next try).
 */
export const CallerEvidenceSchema = z
  .looseObject(callerEvidenceShape)
  .check(
    z.superRefine(
      (value, ctx) => {
        for (const key of Object.keys(value)) {
          if (CALLER_EVIDENCE_SET.has(key)) continue;
          const message = CONSENTRY_EVIDENCE_SET.has(key)
            ? `is written by Consentry and cannot be sent (a caller states only ${CALLER_EVIDENCE_MEMBERS.join(', ')})`
            : 'is not a known field';
          ctx.addIssue({ code: 'custom', path: [key], message });
        }
      },
      // Also when a known member is wrong, so every bad member is named at once.
      { when: ({ value }) => typeof value === 'object' && value !== null && !Array.isArray(value) },
    ),
  )
  .transform((value): CallerEvidence => {
    const evidence: CallerEvidence = {};
    for (const member of CALLER_EVIDENCE_MEMBERS) {
      if (value[member] !== undefined) Object.assign(evidence, { [member]: value[member] });
    }
    return evidence;
  })
  .meta({ additionalProperties: false })
  .describe(
    `What the person was shown and did, kept in the record's evidence (GDPR Art. 7(1)): ${CALLER_EVIDENCE_MEMBERS.join(', ')}. ` +
      `The other members (${CONSENTRY_EVIDENCE_MEMBERS.join(', ')}) are written by Consentry and refused here (422).`,
  );

/** One decision, never edited (DESIGN §2). */
export interface ConsentRecord {
  id: string;
  workspaceId: string;
  contactId: string;
  purpose: Purpose;
  channel: Channel;
  status: ConsentStatus;
  legalBasis: LegalBasis | null;
  explanation: string | null;
  source: ConsentSource;
  actor: Actor;
  evidence: Evidence;
  /** sha256 of the canonical evidence as recorded; stays when the evidence is redacted. */
  evidenceDigest: string;
  /** ISO-8601, when the decision was made (may be earlier than recordedAt for imports). */
  occurredAt: string;
  /** ISO-8601, when Consentry wrote it. */
  recordedAt: string;
  idempotencyKey: string | null;
  /** Position in the workspace's chain, 1-based, gapless. */
  seq: number;
  prevHash: string;
  hash: string;
}

/** The current status of one (contact, purpose, channel): the fold of the ledger. */
export interface ConsentState {
  workspaceId: string;
  contactId: string;
  purpose: Purpose;
  channel: Channel;
  status: ConsentStatus;
  legalBasis: LegalBasis | null;
  explanation: string | null;
  source: ConsentSource;
  occurredAt: string;
  recordId: string;
  seq: number;
}

const DECISION_EXPLANATION_MAX = 2000;
const IDEMPOTENCY_KEY_MAX = 200;

/** A decision before it is chained: what callers (engine, API, import) supply. */
export const ConsentDecisionSchema = z.object({
  contactId: z.string().min(1),
  purpose: PurposeSchema,
  channel: ChannelSchema,
  status: ConsentStatusSchema,
  legalBasis: LegalBasisSchema.nullable().optional(),
  explanation: z.string().trim().max(DECISION_EXPLANATION_MAX).nullable().optional(),
  source: ConsentSourceSchema,
  actor: ActorSchema,
  evidence: EvidenceSchema.default({}),
  occurredAt: ZonedDateTimeSchema.optional(),
  idempotencyKey: z.string().min(1).max(IDEMPOTENCY_KEY_MAX).nullable().optional(),
});
export type ConsentDecision = z.input<typeof ConsentDecisionSchema>;
export type ParsedConsentDecision = z.output<typeof ConsentDecisionSchema>;

const CHANNEL_SET: ReadonlySet<string> = new Set(CHANNELS);
const STATUS_SET: ReadonlySet<string> = new Set(CONSENT_STATUSES);
const LEGAL_BASIS_SET: ReadonlySet<string> = new Set(LEGAL_BASES);
const SOURCE_SET: ReadonlySet<string> = new Set(CONSENT_SOURCES);
const ACTOR_KIND_SET: ReadonlySet<string> = new Set(ACTOR_KINDS);
/** EvidenceSchema's members in its own order, which is the order the schema outputs them in. */
const EVIDENCE_KEYS: readonly string[] = Object.keys(EvidenceSchema.shape);
const EVIDENCE_TEXT_MAX_BY_KEY: ReadonlyMap<string, number> = new Map(Object.entries(EVIDENCE_TEXT_MAX));
const CANONICAL_INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.\d{3}Z$/;

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function isEnumMember<T extends string>(set: ReadonlySet<string>, value: unknown): value is T {
  return typeof value === 'string' && set.has(value);
}

/**
 * Whether `value` is an instant as `Date.prototype.toISOString` writes it (UTC, milliseconds, a
 * four-digit year) and names a real time: the month has that day (Gregorian leap years), the hour
 * is below 24, minutes and seconds below 60. Every such text is one `z.iso.datetime()` accepts.
 */
export function isCanonicalInstant(value: string): boolean {
  const match = CANONICAL_INSTANT.exec(value);
  if (match === null) return false;
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return false;
  return Number(match[4]) < 24 && Number(match[5]) < 60 && Number(match[6]) < 60;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function plainEvidence(value: unknown): Evidence | undefined {
  if (value === undefined) return {};
  if (!isPlainRecord(value)) return undefined;
  let known = 0;
  for (const key of EVIDENCE_KEYS) if (Object.hasOwn(value, key)) known += 1;
  if (known !== Object.keys(value).length) return undefined;
  const evidence: Record<string, string | boolean | string[]> = {};
  for (const key of EVIDENCE_KEYS) {
    if (!Object.hasOwn(value, key)) continue;
    const member = value[key];
    if (key === 'shown') {
      const shown = plainShown(member);
      if (shown === undefined) return undefined;
      evidence[key] = shown;
      continue;
    }
    if (key === 'redacted') {
      if (typeof member !== 'boolean') return undefined;
    } else if (typeof member !== 'string' || member.length > (EVIDENCE_TEXT_MAX_BY_KEY.get(key) ?? -1)) {
      return undefined;
    }
    evidence[key] = member;
  }
  return evidence;
}

/** A copy of evidence `shown` within EVIDENCE_SHOWN_LIMITS, as the schema reads it; undefined otherwise. */
function plainShown(value: unknown): string[] | undefined {
  if (!Array.isArray(value) || value.length > EVIDENCE_SHOWN_LIMITS.texts) return undefined;
  const items: readonly unknown[] = value;
  const texts: string[] = [];
  for (const text of items) {
    if (typeof text !== 'string' || text.length > EVIDENCE_SHOWN_LIMITS.textLength) return undefined;
    texts.push(text);
  }
  return shownLength(texts) <= EVIDENCE_SHOWN_LIMITS.totalLength ? texts : undefined;
}

/**
 * ConsentDecisionSchema's output for a decision in the plain form the engine builds itself (a
 * keyword or workflow consent, one per inbound message), checked rule by rule against the
 * schema's own limits; `undefined` for anything else, which the caller parses with the schema so
 * that every refusal keeps the schema's wording. It never accepts what the schema refuses.
 */
export function parsePlainConsentDecision(input: unknown): ParsedConsentDecision | undefined {
  if (!isPlainRecord(input)) return undefined;
  const { contactId, purpose, channel, status, legalBasis, explanation, source, actor, occurredAt, idempotencyKey } = input;
  if (typeof contactId !== 'string' || contactId.length === 0) return undefined;
  if (typeof purpose !== 'string' || !PURPOSE_PATTERN.test(purpose)) return undefined;
  if (!isEnumMember<Channel>(CHANNEL_SET, channel) || !isEnumMember<ConsentStatus>(STATUS_SET, status)) return undefined;
  if (!isEnumMember<ConsentSource>(SOURCE_SET, source)) return undefined;
  if (legalBasis !== undefined && legalBasis !== null && !isEnumMember<LegalBasis>(LEGAL_BASIS_SET, legalBasis)) return undefined;
  let trimmedExplanation: string | null | undefined;
  if (typeof explanation === 'string') {
    trimmedExplanation = explanation.trim();
    if (trimmedExplanation.length > DECISION_EXPLANATION_MAX) return undefined;
  } else if (explanation === null || explanation === undefined) {
    trimmedExplanation = explanation;
  } else {
    return undefined;
  }
  if (!isPlainRecord(actor)) return undefined;
  const actorKind = actor.kind;
  const actorId = actor.id;
  if (!isEnumMember<Actor['kind']>(ACTOR_KIND_SET, actorKind)) return undefined;
  if (typeof actorId !== 'string' || actorId.length === 0 || actorId.length > ACTOR_ID_MAX) return undefined;
  if (occurredAt !== undefined && (typeof occurredAt !== 'string' || !isCanonicalInstant(occurredAt))) return undefined;
  if (idempotencyKey !== undefined && idempotencyKey !== null) {
    if (typeof idempotencyKey !== 'string' || idempotencyKey.length === 0 || idempotencyKey.length > IDEMPOTENCY_KEY_MAX) return undefined;
  }
  const evidence = plainEvidence(input.evidence);
  if (evidence === undefined) return undefined;
  const decision: ParsedConsentDecision = { contactId, purpose, channel, status, source, actor: { kind: actorKind, id: actorId }, evidence };
  if (legalBasis !== undefined) decision.legalBasis = legalBasis;
  if (trimmedExplanation !== undefined) decision.explanation = trimmedExplanation;
  if (occurredAt !== undefined) decision.occurredAt = occurredAt;
  if (idempotencyKey !== undefined) decision.idempotencyKey = idempotencyKey;
  return decision;
}

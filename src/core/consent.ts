import { z } from 'zod';

/** DESIGN §2: messaging channels; `any` addresses every channel at once (STOPALL). */
export const CHANNELS = ['whatsapp', 'sms', 'email', 'messenger', 'telegram', 'webchat', 'any'] as const;
export const ChannelSchema = z.enum(CHANNELS);
export type Channel = z.infer<typeof ChannelSchema>;
/** Channels a contact can actually be messaged on (everything but `any`). */
export const MESSAGING_CHANNELS = CHANNELS.filter((c): c is Exclude<Channel, 'any'> => c !== 'any');
export type MessagingChannel = Exclude<Channel, 'any'>;

/** `privacy` and `marketing` are built in; a workspace may define its own purposes. */
export const BUILT_IN_PURPOSES = ['privacy', 'marketing'] as const;
export const PurposeSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,63}$/, 'purpose must be lower-case letters, digits, "_" or "-" (max 64), starting with a letter');
export type Purpose = z.infer<typeof PurposeSchema>;

export const CONSENT_STATUSES = ['opted_in', 'opted_out'] as const;
export const ConsentStatusSchema = z.enum(CONSENT_STATUSES);
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
export const LegalBasisSchema = z.enum(LEGAL_BASES);
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

export const ActorSchema = z.object({
  kind: z.enum(['contact', 'user', 'integration', 'system']),
  /** Opaque id: a contact id, a user id, a Slack user id, a HubSpot portal id ... never a name or an address. */
  id: z.string().min(1).max(200),
});
export type Actor = z.infer<typeof ActorSchema>;

/**
 * What the contact was shown and answered (GDPR Art. 7(1): the controller must be able to
 * demonstrate consent). Covered by `evidenceDigest`, so it can be redacted on erasure.
 */
export const EvidenceSchema = z
  .object({
    messageId: z.string().max(500).optional(),
    rawText: z.string().max(5000).optional(),
    normalizedText: z.string().max(5000).optional(),
    keyword: z.string().max(200).optional(),
    language: z.string().max(20).optional(),
    button: z.string().max(500).optional(),
    policyUrl: z.string().max(2000).optional(),
    policyDigest: z.string().max(200).optional(),
    workflowId: z.string().max(200).optional(),
    runId: z.string().max(200).optional(),
    note: z.string().max(5000).optional(),
    redacted: z.boolean().optional(),
  })
  .strict();
export type Evidence = z.infer<typeof EvidenceSchema>;

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

/** A decision before it is chained: what callers (engine, API, import) supply. */
export const ConsentDecisionSchema = z.object({
  contactId: z.string().min(1),
  purpose: PurposeSchema,
  channel: ChannelSchema,
  status: ConsentStatusSchema,
  legalBasis: LegalBasisSchema.nullable().optional(),
  explanation: z.string().trim().max(2000).nullable().optional(),
  source: ConsentSourceSchema,
  actor: ActorSchema,
  evidence: EvidenceSchema.default({}),
  occurredAt: z.iso.datetime({ offset: true }).optional(),
  idempotencyKey: z.string().min(1).max(200).nullable().optional(),
});
export type ConsentDecision = z.input<typeof ConsentDecisionSchema>;

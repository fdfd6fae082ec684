import type { Bundle, FieldChoiceWithLabel, PlainInputField, ZObject } from 'zapier-platform-core';
import { z as zod } from 'zod';
import { describeIssues } from './api.js';

/**
 * Validates a step's `bundle.inputData` (DESIGN §1: zod at every edge, Zapier inputData included)
 * and fails before any call to the server with every bad field named.
 */
export function parseInputData<S extends zod.ZodType>(z: ZObject, schema: S, inputData: unknown): zod.output<S> {
  const parsed = schema.safeParse(inputData);
  if (!parsed.success) {
    throw new z.errors.Error(`Check the step's fields: ${describeIssues(parsed.error)}`, 'INVALID_INPUT', 400);
  }
  return parsed.data;
}

/** Zapier sends an untouched optional field as "" or leaves it out: both mean "not given". */
function blankToUndefined(value: unknown): unknown {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string' && value.trim() === '') return undefined;
  return value;
}

export function optionalText(max = 2000) {
  return zod.preprocess(blankToUndefined, zod.string().trim().max(max).optional());
}

export function requiredText(max = 2000) {
  return zod.preprocess(blankToUndefined, zod.string({ error: 'is required' }).trim().min(1, 'is required').max(max));
}

export function optionalChoice<const T extends readonly [string, ...string[]]>(values: T) {
  return zod.preprocess(blankToUndefined, zod.enum(values, { error: `choose one of ${values.join(', ')}` }).optional());
}

/** Zapier dropdowns and line items may arrive as one string, a comma list, or an array. */
export function textList(maxItems = 100) {
  return zod.preprocess(
    (value) => {
      const blank = blankToUndefined(value);
      if (blank === undefined) return [];
      const items = Array.isArray(blank) ? blank : String(blank).split(',');
      return items.map((item) => String(item).trim()).filter((item) => item !== '');
    },
    zod.array(zod.string().max(100)).max(maxItems),
  );
}

// Channels, statuses and legal bases as the server's contract names them (DESIGN §2).

export const CHANNELS = ['whatsapp', 'sms', 'email', 'messenger', 'telegram', 'webchat', 'any'] as const;
export const MESSAGING_CHANNELS = ['whatsapp', 'sms', 'email', 'messenger', 'telegram', 'webchat'] as const;

const CHANNEL_LABELS: Record<(typeof CHANNELS)[number], string> = {
  whatsapp: 'WhatsApp',
  sms: 'SMS',
  email: 'Email',
  messenger: 'Messenger',
  telegram: 'Telegram',
  webchat: 'Web chat',
  any: 'All channels',
};

/** A channel as the dropdowns name it (WhatsApp, SMS, ...). */
export function channelLabel(channel: string): string {
  return (CHANNEL_LABELS as Record<string, string>)[channel] ?? channel;
}

function choicesOf(values: readonly string[], labels: Record<string, string>): FieldChoiceWithLabel[] {
  return values.map((value) => ({ value, label: labels[value] ?? value, sample: value }));
}

export const CONSENT_STATUSES = ['opted_in', 'opted_out'] as const;
const STATUS_LABELS: Record<string, string> = { opted_in: 'Opted in', opted_out: 'Opted out' };

/** HubSpot's legal-basis enum (GDPR Art. 6), https://developers.hubspot.com/docs/api/marketing/subscriptions-preferences. */
export const LEGAL_BASES = [
  'CONSENT_WITH_NOTICE',
  'LEGITIMATE_INTEREST_PQL',
  'LEGITIMATE_INTEREST_CLIENT',
  'LEGITIMATE_INTEREST_OTHER',
  'PERFORMANCE_OF_CONTRACT',
  'PROCESS_AND_STORE',
  'NON_GDPR',
] as const;
export type LegalBasis = (typeof LEGAL_BASES)[number];

/** Worded as HubSpot's UI words them, so people who record consent there recognise them. */
export const LEGAL_BASIS_LABELS: Record<LegalBasis, string> = {
  CONSENT_WITH_NOTICE: 'Freely given consent from contact',
  LEGITIMATE_INTEREST_PQL: 'Legitimate interest – prospect/lead',
  LEGITIMATE_INTEREST_CLIENT: 'Legitimate interest – existing customer',
  LEGITIMATE_INTEREST_OTHER: 'Legitimate interest – other',
  PERFORMANCE_OF_CONTRACT: 'Performance of a contract',
  PROCESS_AND_STORE: 'Process and store',
  NON_GDPR: 'Not subject to GDPR',
};

export function legalBasisLabel(value: string | null): string | null {
  if (value === null) return null;
  return (LEGAL_BASIS_LABELS as Record<string, string>)[value] ?? value;
}

/**
 * The built-in purposes (the server's BUILT_IN_PURPOSES), marketing first as the default; a
 * workspace adds its own in its settings, which the `purpose_list` dropdown lists too.
 */
export const BUILT_IN_PURPOSES = ['marketing', 'privacy'] as const;
const PURPOSE_LABELS: Record<string, string> = { marketing: 'Marketing (channel subscription)', privacy: 'Privacy (processing personal data)' };

/** A purpose as the dropdown shows it: the built-in ones described, a workspace's own by its name. */
export function purposeLabel(purpose: string): string {
  return PURPOSE_LABELS[purpose] ?? purpose;
}

/** Server rule for purposes: lower-case letters, digits, "_" or "-", starting with a letter. */
export const purposeInput = zod.preprocess(
  blankToUndefined,
  zod
    .string()
    .trim()
    .regex(/^[a-z][a-z0-9_-]{0,63}$/, 'must be lower-case letters, digits, "_" or "-", starting with a letter')
    .default('marketing'),
);

export const channelField = (options: { required: boolean; messagingOnly?: boolean; helpText?: string }): PlainInputField => ({
  key: 'channel',
  label: 'Channel',
  required: options.required,
  choices: choicesOf(options.messagingOnly ? MESSAGING_CHANNELS : CHANNELS, CHANNEL_LABELS),
  helpText: options.helpText ?? 'The messaging channel the consent applies to.',
});

/**
 * Purposes differ per workspace, so the dropdown reads them from the server (a dynamic dropdown,
 * https://docs.zapier.com/platform/build/dynamic-dropdowns); a value mapped from an earlier step
 * still works.
 */
export const purposeField = (options: { required: boolean; defaultMarketing: boolean; helpText?: string }): PlainInputField => ({
  key: 'purpose',
  label: 'Purpose',
  required: options.required,
  ...(options.defaultMarketing ? { default: 'marketing' } : {}),
  dynamic: 'purpose_list.id.name',
  helpText:
    options.helpText ??
    '`marketing` is the channel subscription, `privacy` the consent to process personal data; the purposes your workspace defined are listed too.',
});

export const statusField: PlainInputField = {
  key: 'status',
  label: 'Status',
  required: true,
  choices: choicesOf(CONSENT_STATUSES, STATUS_LABELS),
  helpText: 'Opted in: the contact agreed (say why in Legal Basis and Explanation). Opted out: the contact withdrew.',
  // Legal Basis and Explanation are required for an opt-in only (optInFields).
  altersDynamicFields: true,
};

export const legalBasisField: PlainInputField = {
  key: 'legalBasis',
  label: 'Legal Basis',
  required: false,
  choices: choicesOf(LEGAL_BASES, LEGAL_BASIS_LABELS),
  helpText: 'The lawful basis for the processing (GDPR Art. 6), as HubSpot names it. Required for an opt-in.',
};

export const explanationField: PlainInputField = {
  key: 'explanation',
  label: 'Explanation',
  type: 'text',
  required: false,
  helpText: 'How and when the contact agreed, e.g. "Ticked the WhatsApp box on the checkout form". Required for an opt-in.',
};

/**
 * Legal Basis and Explanation, shown as required once Status is "Opted in": the server refuses an
 * opt-in without them (DESIGN §2), and the editor then says so before the Zap runs (dynamic fields
 * recomputed when a field with `altersDynamicFields` changes,
 * https://github.com/zapier/zapier-platform/blob/main/packages/cli/README.md#customdynamic-fields).
 */
export function optInFields(_z: ZObject, bundle: Bundle): PlainInputField[] {
  const optIn = bundle.inputData.status === 'opted_in';
  return [
    { ...legalBasisField, required: optIn },
    { ...explanationField, required: optIn },
  ];
}

/**
 * A contact is named by its Consentry ID, its email or its phone number. Given both, the email and
 * the phone must name one contact, and the one it lacks is added to it (resolveContact).
 */
export const contactFields = (purpose: string): PlainInputField[] => [
  {
    key: 'email',
    label: 'Contact Email',
    required: false,
    helpText: `The email of the contact ${purpose}. Give an email, a phone number (or both), or a contact ID. Given both, they must belong to the same contact; the one it lacks is added to it.`,
  },
  {
    key: 'phone',
    label: 'Contact Phone',
    required: false,
    helpText: 'In international format, e.g. +34 600 000 001. On SMS and WhatsApp the contact is looked up by phone first.',
  },
  {
    key: 'contactId',
    label: 'Contact ID',
    required: false,
    helpText: 'The Consentry contact ID, e.g. from a Consentry trigger. Wins over email and phone; an email or phone the contact lacks is added to it.',
  },
];

export const contactNameField: PlainInputField = {
  key: 'name',
  label: 'Contact Name',
  required: false,
  helpText: 'Used only when the contact is new.',
};

/** The contact fields of a step; combine with `requireContact` (zod 4 cannot extend a refined object). */
export const contactSelectorShape = {
  contactId: optionalText(200),
  email: optionalText(254),
  phone: optionalText(40),
  name: optionalText(200),
};

export function requireContact(
  input: { contactId?: string | undefined; email?: string | undefined; phone?: string | undefined },
  ctx: zod.RefinementCtx,
): void {
  if (input.contactId === undefined && input.email === undefined && input.phone === undefined) {
    ctx.addIssue({ code: 'custom', message: 'give a contact ID, an email or a phone number', path: ['email'] });
  }
}

/** Finding or creating a contact by its address (Find Contact, Create Contact) needs an email or a phone number. */
export function requireEmailOrPhone(input: { email?: string | undefined; phone?: string | undefined }, ctx: zod.RefinementCtx): void {
  if (input.email === undefined && input.phone === undefined) {
    ctx.addIssue({ code: 'custom', path: ['email'], message: 'give an email or a phone number' });
  }
}

/**
 * Cross-field checks run even when a field already failed, so one error names every field to fix.
 * They only compare optional values with `undefined`, which holds for the raw value too.
 */
export const EVEN_WITH_FIELD_ERRORS = { when: () => true };

export const ContactSelectorSchema = zod.object(contactSelectorShape).superRefine(requireContact, EVEN_WITH_FIELD_ERRORS);
export type ContactSelector = zod.output<typeof ContactSelectorSchema>;

/** A contact and one tag, for the steps that add or remove it. */
export const ContactTagInputSchema = zod
  .object({ ...contactSelectorShape, tag: requiredText(100) })
  .superRefine(requireContact, EVEN_WITH_FIELD_ERRORS);

export const channelInput = zod.preprocess(blankToUndefined, zod.enum(CHANNELS, { error: 'choose one of ' + CHANNELS.join(', ') }));
export const messagingChannelInput = zod.preprocess(
  blankToUndefined,
  zod.enum(MESSAGING_CHANNELS, { error: 'choose one of ' + MESSAGING_CHANNELS.join(', ') }),
);

import type { Bundle, FieldChoiceWithLabel, PlainInputField, ZObject } from 'zapier-platform-core';
import { z as zod } from 'zod';
import { describeIssues } from './api.js';
import { controlCharacterIn } from './tags.js';

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

/** How much of a refused value a message quotes: enough to find it, never a whole pasted document (the server's QUOTED_VALUE_MAX). */
const QUOTED_VALUE_MAX = 80;

/**
 * A refused value as the server's messages show it (core/required.ts): a string quoted as JSON (its
 * first QUOTED_VALUE_MAX characters, then `…`), a number, boolean or null as written, anything
 * else by its kind.
 */
function shownValue(value: unknown): string {
  if (typeof value === 'string') return value.length <= QUOTED_VALUE_MAX ? JSON.stringify(value) : `${JSON.stringify(value.slice(0, QUOTED_VALUE_MAX))}…`;
  if (value === null || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** The values a field takes, as a refusal lists them: `one of whatsapp, sms`, or the one value. */
function allowedValues(values: readonly string[]): string {
  const [only] = values;
  return values.length === 1 ? String(only) : `one of ${values.join(', ')}`;
}

/**
 * A value that is not one of the values a field takes, worded as the server words it (its
 * notOneOf): the value quoted, then the list, `"pigeon" is not one of whatsapp, sms, email`.
 */
function notOneOf(value: unknown, values: readonly string[]): string {
  return `${shownValue(value)} is not ${allowedValues(values)}`;
}

/**
 * zod's message for a field that takes one of `values` (a per-schema error map,
 * https://zod.dev/error-customization): an absent value `is required: one of …`, as the server
 * words it, and any other notOneOf, followed by `then` when given.
 */
function oneOfError(values: readonly string[], then?: string): (issue: { input?: unknown }) => string {
  return (issue) => {
    const words = issue.input === undefined ? `is required: ${allowedValues(values)}` : notOneOf(issue.input, values);
    return then === undefined ? words : `${words}${then}`;
  };
}

/** A field that takes one of `values`; an empty one is not given. */
export function optionalChoice<const T extends readonly [string, ...string[]]>(values: T) {
  return zod.preprocess(blankToUndefined, zod.enum(values, { error: oneOfError(values) }).optional());
}

/** A field that takes one of `values`, `then` said after the list when it is refused. */
export function choice<const T extends readonly [string, ...string[]]>(values: T, then?: string) {
  return zod.enum(values, { error: oneOfError(values, then) });
}

/** Zapier dropdowns and line items may arrive as one string, a comma list, or an array; each item trimmed, then read by `itemSchema`. */
export function textList(maxItems = 100, itemSchema: zod.ZodType<string> = zod.string().max(100)) {
  return zod.preprocess(
    (value) => {
      const blank = blankToUndefined(value);
      if (blank === undefined) return [];
      const items = Array.isArray(blank) ? blank : String(blank).split(',');
      return items.map((item) => String(item).trim()).filter((item) => item !== '');
    },
    zod.array(itemSchema).max(maxItems),
  );
}

/**
 * A tag a step adds is refused with a control or bidirectional formatting character in it, in the
 * server's words (`tag contains U+0009, a control character`: its addTag, core/contact.ts), before
 * any call: the server refuses it for every contact, and a new contact would otherwise be created
 * for a step that then fails.
 */
function refuseTagCharacters(tag: string, ctx: zod.RefinementCtx): void {
  const forbidden = controlCharacterIn(tag);
  if (forbidden !== undefined) ctx.addIssue({ code: 'custom', message: `tag ${forbidden}` });
}

/** The server's longest tag (TAG_MAX_LENGTH). */
const TAG_MAX_LENGTH = 100;

/** Create Contact's tags: a comma list or line items, each a tag the server can add. */
export function tagList(maxItems = 100) {
  return textList(maxItems, zod.string().max(TAG_MAX_LENGTH).superRefine(refuseTagCharacters));
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
 * Who sends the messages a step gets back (the `replies` of the server's answer): a later step of
 * the Zap, or the workspace's outbound webhook. The server delivers every reply to that webhook,
 * each delivery saying `inAnswer`, and an adapter that sends the answers' replies itself sends from
 * the webhook only those with `inAnswer: false`; a step whose Zap sends none says so with
 * `"inAnswer": false` in its request, or nobody sends them (the server's IN_ANSWER_DESCRIPTION,
 * engine/inputs.ts).
 */
export const REPLY_SENDERS = ['later_step', 'outbound_webhook'] as const;
export type ReplySender = (typeof REPLY_SENDERS)[number];
const REPLY_SENDER_LABELS: Record<ReplySender, string> = {
  later_step: 'A later step of this Zap',
  outbound_webhook: "The workspace's outbound webhook",
};

/** Empty for a Zap made before the field, whose later step sends the messages. */
export const replySenderInput = zod.preprocess(blankToUndefined, choice(REPLY_SENDERS).default('later_step'));

/**
 * Optional, with a default saved in new Zaps: a new required field would break the Zaps made before
 * it (https://docs.zapier.com/integrations/manage/required-input).
 */
export const replySenderField = (helpText: string): PlainInputField => ({
  key: 'repliesSentBy',
  label: 'Who Sends the Messages',
  required: false,
  default: 'later_step',
  choices: choicesOf(REPLY_SENDERS, REPLY_SENDER_LABELS),
  helpText,
});

/**
 * The request body's `inAnswer`: sent only as `false`, the server's default being true, so that a
 * step left to a later step sends the body a server from before the member accepts.
 */
export function inAnswerMember(sender: ReplySender): { inAnswer?: false } {
  return sender === 'outbound_webhook' ? { inAnswer: false } : {};
}

/** The server's built-in workflow templates (its TEMPLATE_IDS), the one Request Privacy Consent starts first. */
export const WORKFLOW_TEMPLATES = ['request-consent-privacy', 'welcome-request-email', 'welcome-request-phone'] as const;
/** Each template's `name`, as Consentry names it. */
const WORKFLOW_TEMPLATE_LABELS: Record<(typeof WORKFLOW_TEMPLATES)[number], string> = {
  'request-consent-privacy': 'Request Consent: Privacy',
  'welcome-request-email': 'Welcome Message and Request Email',
  'welcome-request-phone': 'Welcome Message and Request Phone Number',
};

/**
 * The workflow a run belongs to, the `{template}` of the server's run paths. The templates are
 * built into the server, which has no endpoint listing them, so the dropdown is static; the
 * server, not the app, judges a value typed or mapped instead (its 404 names `template` and lists
 * its own), so that a template a newer server adds works without a new version of the app.
 */
export const workflowTemplateField = (helpText: string): PlainInputField => ({
  key: 'template',
  label: 'Workflow',
  required: true,
  default: 'request-consent-privacy',
  choices: choicesOf(WORKFLOW_TEMPLATES, WORKFLOW_TEMPLATE_LABELS),
  helpText,
});

/** The server's longest template id in a run's path (its RunParamsSchema). */
export const workflowTemplateInput = requiredText(100);

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

/** A contact and one tag, for the step that removes it: any tag the contact may hold, as the server removes it. */
export const ContactTagInputSchema = zod
  .object({ ...contactSelectorShape, tag: requiredText(TAG_MAX_LENGTH) })
  .superRefine(requireContact, EVEN_WITH_FIELD_ERRORS);

/** A contact and the tag a step adds to it, refused as the server refuses it for its characters. */
export const ContactNewTagInputSchema = zod
  .object({ ...contactSelectorShape, tag: requiredText(TAG_MAX_LENGTH).superRefine(refuseTagCharacters) })
  .superRefine(requireContact, EVEN_WITH_FIELD_ERRORS);

export const channelInput = zod.preprocess(blankToUndefined, choice(CHANNELS));
export const messagingChannelInput = zod.preprocess(blankToUndefined, choice(MESSAGING_CHANNELS));

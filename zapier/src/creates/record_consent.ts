import type { Bundle, Create, ZObject } from 'zapier-platform-core';
import { z as zod } from 'zod';
import { apiPath, callApi, SetConsentAnswerSchema } from '../api.js';
import { resolveContact, WARNINGS_OUTPUT_FIELD, warningsText } from '../contacts.js';
import {
  channelField,
  channelInput,
  CONSENT_STATUSES,
  contactFields,
  contactNameField,
  contactSelectorShape,
  EVEN_WITH_FIELD_ERRORS,
  LEGAL_BASES,
  legalBasisLabel,
  optInFields,
  optionalChoice,
  optionalText,
  parseInputData,
  purposeField,
  purposeInput,
  requireContact,
  statusField,
} from '../inputs.js';
import { timedStep } from '../step-deadline.js';
import { type FieldIssue, refusedAsServerWould, unknownPurposeIssue } from '../workspace-settings.js';

/**
 * An opt-in recorded on the contact's behalf needs a legal basis and an explanation, as in
 * HubSpot's UI (DESIGN §2); checked here so the Zap says so before anything is written.
 */
const InputSchema = zod
  .object({
    ...contactSelectorShape,
    purpose: purposeInput,
    channel: channelInput,
    status: zod.preprocess((value) => (value === '' ? undefined : value), zod.enum(CONSENT_STATUSES, { error: 'choose opted_in or opted_out' })),
    legalBasis: optionalChoice(LEGAL_BASES),
    explanation: optionalText(2000),
    occurredAt: zod.preprocess(
      (value) => (value === '' || value === null ? undefined : value),
      zod.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time with a time zone' }).optional(),
    ),
    idempotencyKey: optionalText(200),
  })
  .superRefine(requireContact, EVEN_WITH_FIELD_ERRORS)
  .superRefine((input, ctx) => {
    if (input.status !== 'opted_in') return;
    if (input.legalBasis === undefined) ctx.addIssue({ code: 'custom', path: ['legalBasis'], message: 'required for an opt-in' });
    if (input.explanation === undefined) {
      ctx.addIssue({ code: 'custom', path: ['explanation'], message: 'required for an opt-in: say how and when the contact agreed' });
    }
  }, EVEN_WITH_FIELD_ERRORS);

/** The earliest decision time the server takes (EARLIEST_OCCURRENCE, core/ledger.ts). */
const EARLIEST_OCCURRENCE = '1970-01-01T00:00:00Z';

/** How far ahead of the server's clock a decision time may be (MAX_CLOCK_SKEW_MS, core/ledger.ts). */
const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

/**
 * The app's clock is not the server's: a decision time within this much of the server's limit, by
 * the app's clock, is left for the server to judge rather than refused on a clock that may lag.
 */
const CLOCK_MARGIN_MS = 60 * 1000;

type Input = zod.output<typeof InputSchema>;

/**
 * What the server would refuse in the step's PUT, said before a contact is created for it: the
 * contact would otherwise stay behind for a step that failed. In the server's words and with its
 * code (422 VALIDATION_FAILED, every field named in one answer as the server's PUT names them):
 * a purpose the workspace does not know (read from GET /v1/settings, as the Purpose dropdown reads
 * it), a decision time before 1970 (its DecisionTimeSchema), or one more than five minutes ahead
 * (its recordedOccurrence), CLOCK_MARGIN_MS aside. The channel, the status, the legal basis and the
 * explanation of an opt-in are checked before any call (InputSchema); the step sends no evidence.
 */
async function refuseBeforeCreate(z: ZObject, bundle: Bundle, input: Input): Promise<void> {
  const issues: FieldIssue[] = [];
  const decidedAt = input.occurredAt === undefined ? undefined : Date.parse(input.occurredAt);
  if (decidedAt !== undefined && decidedAt < Date.parse(EARLIEST_OCCURRENCE)) {
    issues.push({ path: 'occurredAt', message: `${JSON.stringify(input.occurredAt)} is before ${EARLIEST_OCCURRENCE}` });
  }
  const purpose = await unknownPurposeIssue(z, bundle, input.purpose);
  if (purpose !== null) issues.push(purpose);
  const now = Date.now();
  if (decidedAt !== undefined && decidedAt - now > MAX_CLOCK_SKEW_MS + CLOCK_MARGIN_MS) {
    const message = `${JSON.stringify(input.occurredAt)} is more than ${MAX_CLOCK_SKEW_MS / 60_000} minutes after the time of recording (${new Date(now).toISOString()})`;
    issues.push({ path: 'occurredAt', message });
  }
  if (issues.length > 0) throw refusedAsServerWould(z, issues);
}

const NO_KEY_REMEDY =
  'Map an Idempotency Key (e.g. the form submission ID) into this step: a replay with the same key is recorded once, and Zapier then retries outages on its own.';

const perform = async (z: ZObject, bundle: Bundle) => {
  const input = parseInputData(z, InputSchema, bundle.inputData);
  // A contact that exists is left as it is by a refused PUT, and the server answers a replay of an
  // idempotency key even for a purpose taken off the list since: it is checked only for a new one.
  const { contact, warnings } = await resolveContact(z, bundle, input, {
    createIfMissing: true,
    channel: input.channel,
    beforeCreate: () => refuseBeforeCreate(z, bundle, input),
  });
  const body: Record<string, unknown> = { status: input.status };
  if (input.legalBasis !== undefined) body.legalBasis = input.legalBasis;
  if (input.explanation !== undefined) body.explanation = input.explanation;
  if (input.occurredAt !== undefined) body.occurredAt = input.occurredAt;
  if (input.idempotencyKey !== undefined) body.idempotencyKey = input.idempotencyKey;
  // The source (`zapier`) travels as the X-Consentry-Source header set by the middleware. Without an
  // idempotency key the server records every PUT it receives, so a repeat would record twice.
  const answer = await callApi(z, bundle, {
    method: 'PUT',
    path: apiPath('v1', 'contacts', contact.id, 'consents', input.purpose, input.channel),
    body,
    schema: SetConsentAnswerSchema,
    ...(input.idempotencyKey === undefined ? { notIdempotent: { remedy: NO_KEY_REMEDY } } : {}),
  });
  const { record } = answer;
  return {
    id: record.id,
    contactId: record.contactId,
    contactEmail: contact.email,
    contactPhone: contact.phone,
    purpose: record.purpose,
    channel: record.channel,
    status: record.status,
    legalBasis: record.legalBasis,
    legalBasisLabel: legalBasisLabel(record.legalBasis),
    explanation: record.explanation,
    source: record.source,
    occurredAt: record.occurredAt,
    created: answer.created,
    warnings: warningsText(warnings),
  };
};

const create: Create = {
  key: 'record_consent',
  noun: 'Consent',
  display: {
    label: 'Record Consent',
    description: 'Records an opt-in or opt-out for a contact on a channel, creating the contact when it is new.',
  },
  operation: {
    inputFields: [
      channelField({ required: true }),
      statusField,
      optInFields,
      ...contactFields('whose consent changes'),
      contactNameField,
      purposeField({ required: false, defaultMarketing: true }),
      {
        key: 'occurredAt',
        label: 'Decided At',
        type: 'datetime',
        required: false,
        helpText: 'When the contact made the decision, if earlier than now.',
      },
      {
        key: 'idempotencyKey',
        label: 'Idempotency Key',
        required: false,
        helpText:
          'A value unique to this decision (e.g. a form submission ID): the same key is recorded once, so Zapier can safely repeat this step after an outage. Without one, a step whose outcome is unknown is not repeated automatically.',
      },
    ],
    perform: timedStep('Record Consent', perform),
    outputFields: [
      { key: 'id', label: 'Consent Record ID' },
      { key: 'contactId', label: 'Contact ID' },
      { key: 'contactEmail', label: 'Contact Email' },
      { key: 'contactPhone', label: 'Contact Phone' },
      { key: 'purpose', label: 'Purpose' },
      { key: 'channel', label: 'Channel' },
      { key: 'status', label: 'Status' },
      { key: 'legalBasis', label: 'Legal Basis' },
      { key: 'legalBasisLabel', label: 'Legal Basis (label)' },
      { key: 'explanation', label: 'Explanation' },
      { key: 'source', label: 'Source' },
      { key: 'occurredAt', label: 'Decided At', type: 'datetime' },
      { key: 'created', label: 'New Record', type: 'boolean' },
      WARNINGS_OUTPUT_FIELD,
    ],
    sample: {
      id: '01JQ85K1MBNCPDQERSFTGVHWJX',
      contactId: '01JQ7ZK4C2V9N8M3T5R6W1XYZA',
      contactEmail: 'ana.test@example.com',
      contactPhone: '+34600000001',
      purpose: 'marketing',
      channel: 'email',
      status: 'opted_in',
      legalBasis: 'CONSENT_WITH_NOTICE',
      legalBasisLabel: 'Freely given consent from contact',
      explanation: 'Ticked the newsletter box on the checkout form',
      source: 'zapier',
      occurredAt: '2026-03-01T10:00:00.000Z',
      created: true,
      warnings: '',
    },
  },
};

export default create;

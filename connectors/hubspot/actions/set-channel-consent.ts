import { z } from 'zod';
import { CONSENT_STATUSES, ConsentStatusSchema, LEGAL_BASES, LEGAL_BASIS_LABELS, LegalBasisSchema } from '../../../src/core/consent.js';
import { optInJustificationRefusal } from '../../../src/core/ledger.js';
import { notOneOf } from '../../../src/core/required.js';
import { SYNCED_CHANNELS } from '../properties.js';
import {
  EXECUTION_STATE,
  failContinue,
  failContinueOrThrow,
  findOrCreateEnrolledContact,
  inputText,
  LOOKUP_OR_CREATE_PROPERTIES,
  type WorkflowAction,
} from './context.js';
import { channelInputField, option, type ActionDefinition } from './definition.js';

const ChannelSchema = z.enum(SYNCED_CHANNELS);

export const definition: ActionDefinition = {
  key: 'set-channel-consent',
  actionUrl: '/hubspot/actions/set-channel-consent',
  published: true,
  objectTypes: ['CONTACT'],
  objectRequestOptions: { properties: [...LOOKUP_OR_CREATE_PROPERTIES] },
  inputFields: [
    channelInputField(SYNCED_CHANNELS),
    {
      typeDefinition: {
        name: 'status',
        type: 'enumeration',
        fieldType: 'select',
        options: [option('opted_in', 'Opted in'), option('opted_out', 'Opted out')],
      },
      supportedValueTypes: ['STATIC_VALUE'],
      isRequired: true,
    },
    {
      typeDefinition: {
        name: 'legal_basis',
        type: 'enumeration',
        fieldType: 'select',
        options: LEGAL_BASES.map((basis) => option(basis, LEGAL_BASIS_LABELS[basis])),
      },
      supportedValueTypes: ['STATIC_VALUE', 'OBJECT_PROPERTY'],
      isRequired: false,
    },
    {
      typeDefinition: { name: 'explanation', type: 'string', fieldType: 'textarea' },
      supportedValueTypes: ['STATIC_VALUE', 'OBJECT_PROPERTY'],
      isRequired: false,
    },
  ],
  outputFields: [
    { typeDefinition: { name: 'status', type: 'string', fieldType: 'text' } },
    { typeDefinition: { name: 'legal_basis', type: 'string', fieldType: 'text' } },
    { typeDefinition: { name: 'updated_at', type: 'string', fieldType: 'text' } },
    { typeDefinition: { name: 'error', type: 'string', fieldType: 'text' } },
  ],
  labels: {
    en: {
      actionName: 'Set channel consent',
      actionDescription:
        'Records a marketing consent decision for one channel in Consentry, with its legal basis and explanation (an opt-in needs both).',
      appDisplayName: 'Consentry',
      inputFieldLabels: { channel: 'Channel', status: 'Consent status', legal_basis: 'Legal basis', explanation: 'Explanation' },
      outputFieldLabels: { status: 'Consent status', legal_basis: 'Legal basis', updated_at: 'Updated at', error: 'Error' },
    },
  },
  functions: [],
};

/** An input that is not one of the values it takes: `channel: "fax" is not one of whatsapp, sms, email`, or `is required` when left empty. */
function inputProblem(name: string, given: string | null, values: readonly string[]): string {
  return given === null ? `${name}: is required: one of ${values.join(', ')}` : `${name}: ${notOneOf(given, values)}`;
}

/**
 * Records the decision with source `hubspot` and the portal as actor. The callbackId is the
 * idempotency key (DESIGN §6: HubSpot retries for up to three days), so a retried request
 * records nothing twice even if its first answer was lost.
 */
export const setChannelConsent: WorkflowAction = {
  key: 'set-channel-consent',
  definition,
  async handle(context) {
    const { request } = context;
    // Every input that is wrong is named in one answer, each with the value it was given, as the API's refusals are.
    const problems: string[] = [];
    const rawChannel = inputText(request, 'channel');
    const channel = ChannelSchema.safeParse(rawChannel);
    if (!channel.success) problems.push(inputProblem('channel', rawChannel, SYNCED_CHANNELS));
    const rawStatus = inputText(request, 'status');
    const status = ConsentStatusSchema.safeParse(rawStatus);
    if (!status.success) problems.push(inputProblem('status', rawStatus, CONSENT_STATUSES));
    const rawBasis = inputText(request, 'legal_basis');
    const legalBasis = rawBasis === null ? null : LegalBasisSchema.safeParse(rawBasis);
    if (legalBasis !== null && !legalBasis.success) problems.push(inputProblem('legal_basis', rawBasis, LEGAL_BASES));
    if (!channel.success || !status.success || (legalBasis !== null && !legalBasis.success)) return { answer: failContinue(problems.join('; ')), contactId: null };
    const explanation = inputText(request, 'explanation');
    // Refused before the contact is looked up, so that a refused opt-in makes no contact from the HubSpot record.
    const justification = optInJustificationRefusal({ status: status.data, source: 'hubspot', legalBasis: legalBasis?.data ?? null, explanation });
    if (justification !== null) return failContinueOrThrow(justification);
    try {
      const contact = await findOrCreateEnrolledContact(context);
      const recorded = await context.workspace.setConsent({
        contactId: contact.id,
        purpose: 'marketing',
        channel: channel.data,
        status: status.data,
        legalBasis: legalBasis?.data ?? null,
        explanation,
        source: 'hubspot',
        actor: context.actor,
        evidence: { note: `HubSpot workflow action set-channel-consent, callback ${request.callbackId}` },
        idempotencyKey: `hubspot-action:${request.callbackId}`,
      });
      const current = recorded.current;
      return {
        answer: {
          outputFields: {
            [EXECUTION_STATE]: 'SUCCESS',
            status: current.status,
            legal_basis: current.legalBasis ?? '',
            updated_at: current.occurredAt,
          },
        },
        contactId: contact.id,
      };
    } catch (error) {
      return failContinueOrThrow(error);
    }
  },
};

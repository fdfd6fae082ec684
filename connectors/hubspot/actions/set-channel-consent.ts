import { z } from 'zod';
import { ConsentStatusSchema, LEGAL_BASES, LEGAL_BASIS_LABELS, LegalBasisSchema } from '../../../src/core/consent.js';
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
    const channel = ChannelSchema.safeParse(inputText(request, 'channel'));
    if (!channel.success) return { answer: failContinue(`channel must be one of ${SYNCED_CHANNELS.join(', ')}`), contactId: null };
    const status = ConsentStatusSchema.safeParse(inputText(request, 'status'));
    if (!status.success) return { answer: failContinue('status must be opted_in or opted_out'), contactId: null };
    const rawBasis = inputText(request, 'legal_basis');
    const legalBasis = rawBasis === null ? null : LegalBasisSchema.safeParse(rawBasis);
    if (legalBasis !== null && !legalBasis.success) return { answer: failContinue(`legal_basis must be one of ${LEGAL_BASES.join(', ')}`), contactId: null };
    try {
      const contact = await findOrCreateEnrolledContact(context);
      const recorded = await context.workspace.setConsent({
        contactId: contact.id,
        purpose: 'marketing',
        channel: channel.data,
        status: status.data,
        legalBasis: legalBasis === null ? null : legalBasis.data,
        explanation: inputText(request, 'explanation'),
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

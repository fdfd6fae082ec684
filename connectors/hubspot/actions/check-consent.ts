import { z } from 'zod';
import { effectiveStatus } from '../../../src/core/ledger.js';
import { latestPrivacyState } from '../mapping.js';
import { SYNCED_CHANNELS } from '../properties.js';
import { EXECUTION_STATE, failContinue, failContinueOrThrow, findEnrolledContact, inputText, LOOKUP_PROPERTIES, type WorkflowAction } from './context.js';
import { channelInputField, option, type ActionDefinition } from './definition.js';

const ChannelSchema = z.enum(SYNCED_CHANNELS);
const PurposeSchema = z.enum(['marketing', 'privacy']);

export const definition: ActionDefinition = {
  key: 'check-consent',
  actionUrl: '/hubspot/actions/check-consent',
  published: true,
  objectTypes: ['CONTACT'],
  objectRequestOptions: { properties: [...LOOKUP_PROPERTIES] },
  inputFields: [
    channelInputField(SYNCED_CHANNELS),
    {
      typeDefinition: {
        name: 'purpose',
        type: 'enumeration',
        fieldType: 'select',
        options: [option('marketing', 'Marketing'), option('privacy', 'Privacy (processing of personal data)')],
      },
      supportedValueTypes: ['STATIC_VALUE'],
      isRequired: false,
    },
  ],
  outputFields: [
    {
      typeDefinition: {
        name: 'status',
        type: 'enumeration',
        fieldType: 'select',
        options: [option('opted_in', 'Opted in'), option('opted_out', 'Opted out'), option('not_specified', 'Not specified')],
      },
    },
    { typeDefinition: { name: 'legal_basis', type: 'string', fieldType: 'text' } },
    { typeDefinition: { name: 'updated_at', type: 'string', fieldType: 'text' } },
    { typeDefinition: { name: 'error', type: 'string', fieldType: 'text' } },
  ],
  labels: {
    en: {
      actionName: 'Check consent',
      actionDescription: "Reads the contact's consent in Consentry for a channel (marketing) or privacy; branch on the status.",
      appDisplayName: 'Consentry',
      inputFieldLabels: { channel: 'Channel', purpose: 'Purpose' },
      outputFieldLabels: { status: 'Consent status', legal_basis: 'Legal basis', updated_at: 'Updated at', error: 'Error' },
    },
  },
  functions: [],
};

/**
 * The effective status (a STOP ALL on channel `any` covers every channel; the later decision
 * wins), as `canMessage` sees it. A contact Consentry does not know has no consent: `not_specified`.
 */
export const checkConsent: WorkflowAction = {
  key: 'check-consent',
  definition,
  async handle(context) {
    const { request } = context;
    const channel = ChannelSchema.safeParse(inputText(request, 'channel'));
    if (!channel.success) return { answer: failContinue(`channel must be one of ${SYNCED_CHANNELS.join(', ')}`), contactId: null };
    const purpose = PurposeSchema.safeParse(inputText(request, 'purpose') ?? 'marketing');
    if (!purpose.success) return { answer: failContinue('purpose must be marketing or privacy'), contactId: null };
    try {
      const contact = await findEnrolledContact(context);
      const states = contact === null ? [] : (await context.workspace.getConsents(contact.id)).states;
      const state = purpose.data === 'privacy' ? latestPrivacyState(states) : effectiveStatus(states, 'marketing', channel.data).state;
      return {
        answer: {
          outputFields: {
            [EXECUTION_STATE]: 'SUCCESS',
            status: state?.status ?? 'not_specified',
            legal_basis: state?.legalBasis ?? '',
            updated_at: state?.occurredAt ?? '',
          },
        },
        contactId: contact?.id ?? null,
      };
    } catch (error) {
      return failContinueOrThrow(error);
    }
  },
};

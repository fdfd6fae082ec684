import { z } from 'zod';
import { CONSENT_OUTCOMES, OUTCOME_FIELD, type ConsentOutcome } from '../callbacks.js';
import {
  EXECUTION_STATE,
  failContinue,
  failContinueOrThrow,
  createEnrolledContact,
  findEnrolledContact,
  inputText,
  LOOKUP_OR_CREATE_PROPERTIES,
  type WorkflowAction,
} from './context.js';
import { isUnsentWithoutWebhook, WORKFLOW_UNSENT_WITHOUT_WEBHOOK } from '../../../src/engine/inputs.js';
import { channelInputField, option, type ActionDefinition } from './definition.js';

export const REQUEST_CONSENT_TEMPLATE = 'request-consent-privacy';
/** Chat channels the privacy consent conversation runs on. */
export const REQUEST_CHANNELS = ['whatsapp', 'sms', 'messenger', 'webchat'] as const;
const ChannelSchema = z.enum(REQUEST_CHANNELS);

/**
 * How long HubSpot holds the workflow (ISO-8601; DESIGN §6, default one week). The conversation
 * itself ends within half an hour (four questions of five minutes); two days leave room for a
 * portal whose daily API limit paused the sync until the next day, when the completion is sent.
 */
export const BLOCK_EXPIRATION = 'P2D';

const OUTCOME_LABELS: Record<ConsentOutcome, string> = {
  given: 'Consent given',
  failed_invalid: 'No valid answer',
  failed_timeout: 'No answer in time',
  opted_out: 'Opted out',
  cancelled: 'Conversation ended',
};

export const definition: ActionDefinition = {
  key: 'request-consent',
  actionUrl: '/hubspot/actions/request-consent',
  published: true,
  objectTypes: ['CONTACT'],
  objectRequestOptions: { properties: [...LOOKUP_OR_CREATE_PROPERTIES] },
  inputFields: [channelInputField(REQUEST_CHANNELS)],
  outputFields: [
    {
      typeDefinition: {
        name: OUTCOME_FIELD,
        type: 'enumeration',
        fieldType: 'select',
        options: CONSENT_OUTCOMES.map((outcome) => option(outcome, OUTCOME_LABELS[outcome])),
      },
    },
    { typeDefinition: { name: 'error', type: 'string', fieldType: 'text' } },
  ],
  labels: {
    en: {
      actionName: 'Request consent',
      actionDescription:
        'Sends the privacy consent request on the chosen channel and waits for the answer; branch on the outcome: given, failed_invalid, failed_timeout, opted_out or cancelled.',
      appDisplayName: 'Consentry',
      inputFieldLabels: { channel: 'Channel' },
      outputFieldLabels: { [OUTCOME_FIELD]: 'Consent outcome', error: 'Error' },
    },
  },
  functions: [],
};

/**
 * Starts the privacy consent workflow for the enrolled contact and answers BLOCK: HubSpot holds
 * the workflow until the run ends and the dispatcher completes the callback with the outcome
 * (DESIGN §6: answer fast, complete through `/callbacks/{callbackId}/complete`).
 */
export const requestConsent: WorkflowAction = {
  key: 'request-consent',
  definition,
  async handle(context) {
    const channel = ChannelSchema.safeParse(inputText(context.request, 'channel'));
    if (!channel.success) return { answer: failContinue(`channel must be one of ${REQUEST_CHANNELS.join(', ')}`), contactId: null };
    try {
      const found = await findEnrolledContact(context);
      // A contact new to Consentry has made no privacy decision, so the run would send the request,
      // and without an outbound webhook nothing can: refused before a contact is made for it.
      if (found === null && !(await context.workspace.get()).settings.outboundWebhookUrl) {
        return { answer: failContinue(`VALIDATION_FAILED: ${WORKFLOW_UNSENT_WITHOUT_WEBHOOK}`), contactId: null };
      }
      const contact = found ?? (await createEnrolledContact(context));
      const started = await context.workspace.startWorkflow(REQUEST_CONSENT_TEMPLATE, contact.id, channel.data, { inAnswer: false });
      return {
        answer: { outputFields: { [EXECUTION_STATE]: 'BLOCK', hs_expiration_duration: BLOCK_EXPIRATION } },
        contactId: contact.id,
        runId: started.runId,
      };
    } catch (error) {
      if (isUnsentWithoutWebhook(error)) return { answer: failContinue(`VALIDATION_FAILED: ${WORKFLOW_UNSENT_WITHOUT_WEBHOOK}`), contactId: null };
      return failContinueOrThrow(error);
    }
  },
};

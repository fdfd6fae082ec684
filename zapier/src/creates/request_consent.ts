import type { Bundle, Create, ZObject } from 'zapier-platform-core';
import { z as zod } from 'zod';
import { callApi, repliesText, WorkflowRunAnswerSchema } from '../api.js';
import { resolveContact } from '../contacts.js';
import {
  channelField,
  contactFields,
  contactNameField,
  contactSelectorShape,
  EVEN_WITH_FIELD_ERRORS,
  messagingChannelInput,
  parseInputData,
  requireContact,
} from '../inputs.js';

/** The built-in "Request Consent: Privacy" workflow template (DESIGN §4). */
const TEMPLATE = 'request-consent-privacy';

const InputSchema = zod
  .object({ ...contactSelectorShape, channel: messagingChannelInput })
  .superRefine(requireContact, EVEN_WITH_FIELD_ERRORS);

const perform = async (z: ZObject, bundle: Bundle) => {
  const input = parseInputData(z, InputSchema, bundle.inputData);
  const contact = await resolveContact(z, bundle, input, { createIfMissing: true });
  const run = await callApi(z, bundle, {
    method: 'POST',
    path: `/v1/workflows/${TEMPLATE}/runs`,
    body: { contactId: contact.id, channel: input.channel },
    schema: WorkflowRunAnswerSchema,
  });
  return {
    id: run.runId,
    runId: run.runId,
    contactId: contact.id,
    channel: input.channel,
    conversationId: run.conversationId,
    replies: run.replies,
    replyText: repliesText(run.replies),
    eventTypes: run.events.map((event) => event.type).join(', '),
  };
};

const create: Create = {
  key: 'request_consent',
  noun: 'Consent Request',
  display: {
    label: 'Request Privacy Consent',
    description:
      'Starts the "Request Consent: Privacy" workflow for a contact: Consentry sends the privacy policy link and asks the contact to agree.',
  },
  operation: {
    inputFields: [
      ...contactFields('to ask'),
      contactNameField,
      channelField({ required: true, messagingOnly: true, helpText: 'The channel to ask on.' }),
    ],
    perform,
    outputFields: [
      { key: 'id', label: 'Workflow Run ID' },
      { key: 'contactId', label: 'Contact ID' },
      { key: 'channel', label: 'Channel' },
      { key: 'conversationId', label: 'Conversation ID' },
      { key: 'replyText', label: 'Messages Sent (one per line)' },
      { key: 'eventTypes', label: 'Events Raised' },
    ],
    sample: {
      id: '01JQ86M2NCPDQERSFTGVHWJXKY',
      runId: '01JQ86M2NCPDQERSFTGVHWJXKY',
      contactId: '01JQ7ZK4C2V9N8M3T5R6W1XYZA',
      channel: 'whatsapp',
      conversationId: '01JQ86M2NCPDQERSFTGVHWJXKZ',
      replies: [
        { text: 'Please read our privacy policy: https://example.com/privacy' },
        { text: 'Do you agree to our privacy policy?', options: [{ label: 'AGREE & PROCEED' }] },
      ],
      replyText: 'Please read our privacy policy: https://example.com/privacy\nDo you agree to our privacy policy?',
      eventTypes: 'conversation.opened',
    },
  },
};

export default create;

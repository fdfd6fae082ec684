import type { Bundle, Create, ZObject } from 'zapier-platform-core';
import { z as zod } from 'zod';
import { callApi, repliesText, WorkflowRunAnswerSchema } from '../api.js';
import { resolveContact, tagKey } from '../contacts.js';
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

/** The tag the template gives a contact who agreed; its first step ends the run at once for a contact who has it. */
const PRIVACY_TAG = 'Consent: Privacy';

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
  // The run ends without a word for a contact who already agreed (DESIGN §4: never ask again); the
  // step succeeds, so its output says why nothing was sent.
  const alreadyAgreed = run.replies.length === 0 && contact.tags.some((tag) => tagKey(tag) === tagKey(PRIVACY_TAG));
  return {
    id: run.runId,
    runId: run.runId,
    contactId: contact.id,
    channel: input.channel,
    conversationId: run.conversationId,
    alreadyAgreed,
    outcome: alreadyAgreed
      ? `Not asked: the contact already agreed to the privacy policy (tagged "${PRIVACY_TAG}")`
      : `Asked the contact to agree to the privacy policy on ${input.channel}`,
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
      channelField({ required: true, messagingOnly: true, helpText: 'The channel to ask on.' }),
      ...contactFields('to ask'),
      contactNameField,
    ],
    perform,
    outputFields: [
      { key: 'id', label: 'Workflow Run ID' },
      { key: 'contactId', label: 'Contact ID' },
      { key: 'channel', label: 'Channel' },
      { key: 'conversationId', label: 'Conversation ID' },
      { key: 'alreadyAgreed', label: 'Already Agreed (not asked again)', type: 'boolean' },
      { key: 'outcome', label: 'Outcome' },
      { key: 'replyText', label: 'Messages Sent (one per line)' },
      { key: 'eventTypes', label: 'Events Raised' },
    ],
    sample: {
      id: '01JQ86M2NCPDQERSFTGVHWJXKY',
      runId: '01JQ86M2NCPDQERSFTGVHWJXKY',
      contactId: '01JQ7ZK4C2V9N8M3T5R6W1XYZA',
      channel: 'whatsapp',
      conversationId: '01JQ86M2NCPDQERSFTGVHWJXKZ',
      alreadyAgreed: false,
      outcome: 'Asked the contact to agree to the privacy policy on whatsapp',
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

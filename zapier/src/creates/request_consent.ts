import type { Bundle, Create, ZObject } from 'zapier-platform-core';
import { z as zod } from 'zod';
import { callApi, refusalOf, repliesText, WorkflowRunAnswerSchema } from '../api.js';
import { resolveContact, tagKey, WARNINGS_OUTPUT_FIELD, warningsText } from '../contacts.js';
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

/**
 * Starts the run. The server refuses a channel where the contact cannot be reached with a 422
 * `CONTACT_UNREACHABLE` naming `channel`, which the middleware turns into a halt; a server from
 * before that code answers `VALIDATION_FAILED` ("Contact … cannot be reached on whatsapp: …"),
 * halted here the same way. resolveContact checks the same before; this covers a change between
 * the two (an address removed meanwhile).
 */
async function startRun(z: ZObject, bundle: Bundle, contactId: string, channel: string) {
  try {
    return await callApi(z, bundle, {
      method: 'POST',
      path: `/v1/workflows/${TEMPLATE}/runs`,
      body: { contactId, channel },
      schema: WorkflowRunAnswerSchema,
    });
  } catch (error) {
    const refusal = refusalOf(error);
    if (refusal === null || refusal.status !== 422 || !refusal.message.includes('cannot be reached')) throw error;
    throw new z.errors.HaltedError(`Consentry refused this step: ${refusal.message}`);
  }
}

const perform = async (z: ZObject, bundle: Bundle) => {
  const input = parseInputData(z, InputSchema, bundle.inputData);
  // The contact is created only once it is known to be reachable on the channel: a lead the step
  // cannot ask must not be left behind as a new contact.
  const { contact, warnings } = await resolveContact(z, bundle, input, { createIfMissing: true, channel: input.channel, requireReachable: true });
  const run = await startRun(z, bundle, contact.id, input.channel);
  // The run ends without a word for a contact who already agreed (DESIGN §4: never ask again); the
  // step succeeds, so its output says why there is nothing to send.
  const alreadyAgreed = run.replies.length === 0 && contact.tags.some((tag) => tagKey(tag) === tagKey(PRIVACY_TAG));
  return {
    id: run.runId,
    runId: run.runId,
    contactId: contact.id,
    channel: input.channel,
    conversationId: run.conversationId,
    alreadyAgreed,
    // Consentry returns the messages; it sends them itself only to the workspace's outbound webhook
    // (src/engine/unit-of-work.ts), so the outcome says what happened, not that the contact was asked.
    outcome: alreadyAgreed
      ? `Not asked: the contact already agreed to the privacy policy (tagged "${PRIVACY_TAG}")`
      : `Started on ${input.channel}: send the messages below to the contact to ask them to agree to the privacy policy (Consentry sends them itself only through the workspace's outbound webhook)`,
    replies: run.replies,
    replyText: repliesText(run.replies),
    eventTypes: run.events.map((event) => event.type).join(', '),
    warnings: warningsText(warnings),
  };
};

const create: Create = {
  key: 'request_consent',
  noun: 'Consent Request',
  display: {
    label: 'Request Privacy Consent',
    description:
      'Starts the "Request Consent: Privacy" workflow for a contact and returns the messages that ask them to agree to the privacy policy, for a later step to send (unless the workspace relays them through its outbound webhook).',
  },
  operation: {
    inputFields: [
      channelField({
        required: true,
        messagingOnly: true,
        helpText:
          'The channel to ask on. Consentry returns the messages (Messages to Send): send them to the contact on this channel in a later step, unless your workspace relays replies through its outbound webhook.',
      }),
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
      { key: 'replyText', label: 'Messages to Send (one per line)' },
      { key: 'eventTypes', label: 'Events Raised' },
      WARNINGS_OUTPUT_FIELD,
    ],
    sample: {
      id: '01JQ86M2NCPDQERSFTGVHWJXKY',
      runId: '01JQ86M2NCPDQERSFTGVHWJXKY',
      contactId: '01JQ7ZK4C2V9N8M3T5R6W1XYZA',
      channel: 'whatsapp',
      conversationId: '01JQ86M2NCPDQERSFTGVHWJXKZ',
      alreadyAgreed: false,
      outcome:
        "Started on whatsapp: send the messages below to the contact to ask them to agree to the privacy policy (Consentry sends them itself only through the workspace's outbound webhook)",
      replies: [
        { text: 'Please read our privacy policy: https://example.com/privacy' },
        { text: 'Do you agree to our privacy policy?', options: [{ label: 'AGREE & PROCEED' }] },
      ],
      replyText: 'Please read our privacy policy: https://example.com/privacy\nDo you agree to our privacy policy?',
      eventTypes: 'conversation.opened',
      warnings: '',
    },
  },
};

export default create;

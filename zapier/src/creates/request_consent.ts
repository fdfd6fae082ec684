import type { Bundle, Create, ZObject } from 'zapier-platform-core';
import { z as zod } from 'zod';
import { callApiOrFailure, refusalOf, repliesText, throwForFailure, WorkflowRunAnswerSchema } from '../api.js';
import { problemWords } from '../middleware.js';
import { resolveContact, tagKey, WARNINGS_OUTPUT_FIELD, warningsText } from '../contacts.js';
import {
  channelField,
  contactFields,
  contactNameField,
  contactSelectorShape,
  EVEN_WITH_FIELD_ERRORS,
  inAnswerMember,
  messagingChannelInput,
  parseInputData,
  type ReplySender,
  replySenderField,
  replySenderInput,
  requireContact,
} from '../inputs.js';
import { unclearAttempt } from '../unclear-attempts.js';
import { timedStep } from '../step-deadline.js';
import { assertOutboundWebhookSet, refusedAsServerWould, workspaceSettings, type WorkspaceSettings } from '../workspace-settings.js';

/** The built-in "Request Consent: Privacy" workflow template (DESIGN §4). */
const TEMPLATE = 'request-consent-privacy';

/** The tag the template gives a contact who agreed; its first step ends the run at once for a contact who has it. */
const PRIVACY_TAG = 'Consent: Privacy';

const InputSchema = zod
  .object({ ...contactSelectorShape, channel: messagingChannelInput, repliesSentBy: replySenderInput })
  .superRefine(requireContact, EVEN_WITH_FIELD_ERRORS);

/**
 * The memory of a start whose outcome was unclear, for the contact and channel. Contact ids are the
 * server's ULIDs, distinct across connections, so the key needs no connection, as for the hook ids a
 * trigger remembers deliveries by.
 */
function unclearStart(z: ZObject, contactId: string, channel: string) {
  return unclearAttempt(z, `request_consent:unclear_start:${contactId}:${channel}`);
}

/**
 * The server refuses to start the template in a workspace without a privacy policy link (its texts
 * send it: 422 VALIDATION_FAILED naming `settings.privacyPolicyUrl`, engine/runs.ts), whoever the
 * contact is. Said before a contact is created for the step, in the words and with the code the
 * step fails with when the server refuses it, so that a refused step leaves no new contact behind.
 * A server whose settings do not say (no `privacyPolicyUrl` at all) is left to judge.
 */
async function refuseWithoutPolicyLink(z: ZObject, bundle: Bundle, read?: WorkspaceSettings): Promise<void> {
  const { privacyPolicyUrl } = read ?? (await workspaceSettings(z, bundle));
  if (privacyPolicyUrl === null) {
    throw refusedAsServerWould(z, [{ path: 'settings.privacyPolicyUrl', message: `required by workflow "${TEMPLATE}": set it with PATCH /v1/settings` }]);
  }
}

const ALREADY_RUNNING = /\bis already running\b/;

/** Rethrows why a start failed; a contact that cannot be reached halts. */
function notStarted(z: ZObject, error: unknown): never {
  const refusal = refusalOf(error);
  if (refusal === null || refusal.status !== 422 || !refusal.message.includes('cannot be reached')) throw error;
  throw new z.errors.HaltedError(`Consentry refused this step: ${refusal.message}`);
}

/**
 * What the step says when a start may have happened without its answer: whether the contact was
 * asked then depends on who sends the messages. A later step never got them; the outbound webhook
 * did, as the server delivers them there whatever became of its answer.
 */
function unclearStartWords(contactId: string, channel: string, sender: ReplySender): { consequence: string; remedy: string } {
  const started = `the "Request Consent: Privacy" workflow may have started for contact ${contactId} on ${channel}`;
  if (sender === 'outbound_webhook') {
    return {
      consequence: `${started}; if it did, your workspace's outbound webhook got its messages to send to the contact. Zapier does not retry this step on its own: the server refuses a second run while that one is running, and a run started after it ends asks the contact again.`,
      remedy: `Check the contact's events in Consentry before you replay this run: if the workflow started, the contact was asked already.`,
    };
  }
  return {
    consequence: `${started} without this step getting the messages to send, so the contact may not have been asked. Zapier does not retry this step on its own: a replay cannot get that run's messages back, and the server refuses a second run while it is running.`,
    remedy: `Check the contact's events in Consentry before you replay this run: once that run has ended (consent.failed when it is not answered, 5 minutes after asking), a replay starts a new one and returns its messages.`,
  };
}

/**
 * Starts the run. Starting a run is not idempotent, and its answer holds the messages the Zap has
 * to send: when the request may have reached the server without its answer coming back (a
 * connection cut or a time-out after it was sent, a 5xx but the 503 STORE_BUSY or STORE_FULL with
 * which the server says nothing changed, replayed as usual), the step fails loudly
 * (`OUTCOME_UNKNOWN`) instead of asking Zapier for a replay, which would find that run "already
 * running" and halt, a soft stop that never reads as a failure, with the messages lost. The app
 * remembers that unclear start for the contact and channel, so that a replay refused "already
 * running" while it may be that run fails too instead of halting; a first start refused so is
 * still a halt, as for any Zap that meets a running request (CLI README, "Halting Execution",
 * https://github.com/zapier/zapier-platform/blob/main/packages/cli/README.md#halting-execution).
 * A step that leaves the messages to the outbound webhook loses none that way (the server delivers
 * them there whatever became of its answer), so its unclear start is not remembered: a run it may
 * have started is asking the contact, and meeting that run is the usual halt.
 *
 * The server refuses a channel where the contact cannot be reached with a 422
 * `CONTACT_UNREACHABLE` naming `channel`, which the middleware turns into a halt; a server from
 * before that code answers `VALIDATION_FAILED` ("Contact … cannot be reached on whatsapp: …"),
 * halted here the same way. resolveContact checks the same before; this covers a change between
 * the two (an address removed meanwhile).
 */
async function startRun(z: ZObject, bundle: Bundle, contactId: string, channel: string, sender: ReplySender) {
  const unclear = unclearStart(z, contactId, channel);
  const call = {
    method: 'POST' as const,
    path: `/v1/workflows/${TEMPLATE}/runs`,
    body: { contactId, channel, ...inAnswerMember(sender) },
    schema: WorkflowRunAnswerSchema,
    notIdempotent: unclearStartWords(contactId, channel, sender),
    ...(sender === 'later_step' ? { onUnclearOutcome: unclear.remember } : {}),
  };
  const answer = await callApiOrFailure(z, bundle, call, [409]).catch((error: unknown) => notStarted(z, error));
  if (answer.ok) {
    await unclear.forget();
    return answer.data;
  }
  const words = problemWords(answer.failure.problem);
  if (words !== null && ALREADY_RUNNING.test(words)) {
    if (await unclear.happened()) {
      throw new z.errors.Error(
        `Consentry refused this step: ${words}. An earlier attempt to start it for this contact on ${channel} ended without an answer, so the running workflow may be the one it started, whose messages no step got: the contact may not have been asked. Check the contact's events in Consentry: once that run has ended (consent.failed when it is not answered, 5 minutes after asking), replay this run to start a new one and get its messages.`,
        'RUN_OUTCOME_UNKNOWN',
        409,
      );
    }
  }
  return throwForFailure(z, bundle, call, answer.failure.response);
}

/**
 * What the step did, for the Zap's user: Consentry returns the messages and sends them itself only
 * to the workspace's outbound webhook (src/engine/unit-of-work.ts), so the outcome says who sends
 * them, not that the contact was asked.
 */
function outcomeText(alreadyAgreed: boolean, channel: string, sender: ReplySender): string {
  if (alreadyAgreed) return `Not asked: the contact already agreed to the privacy policy (tagged "${PRIVACY_TAG}")`;
  if (sender === 'outbound_webhook') {
    return `Started on ${channel}: your workspace's outbound webhook sends the messages below to the contact to ask them to agree to the privacy policy (no later step needed)`;
  }
  return `Started on ${channel}: send the messages below to the contact to ask them to agree to the privacy policy (Consentry sends them itself only through the workspace's outbound webhook)`;
}

const perform = async (z: ZObject, bundle: Bundle) => {
  const input = parseInputData(z, InputSchema, bundle.inputData);
  // Read once when the choice needs them, and used again for the check before a contact is created.
  const settings = input.repliesSentBy === 'outbound_webhook' ? await workspaceSettings(z, bundle) : undefined;
  if (settings !== undefined) await assertOutboundWebhookSet(z, bundle, settings);
  // The contact is created only once it is known to be reachable on the channel and the workspace
  // can start the workflow: a lead the step cannot ask must not be left behind as a new contact.
  const { contact, warnings } = await resolveContact(z, bundle, input, {
    createIfMissing: true,
    channel: input.channel,
    requireReachable: true,
    beforeCreate: () => refuseWithoutPolicyLink(z, bundle, settings),
  });
  const run = await startRun(z, bundle, contact.id, input.channel, input.repliesSentBy);
  // The run ends without a word for a contact who already agreed (DESIGN §4: never ask again), with
  // the outcome `skipped`; the step succeeds, so its output says why there is nothing to send. A
  // server from before `outcome` is read as before: no message, for a contact tagged when found.
  const alreadyAgreed =
    run.outcome === undefined ? run.replies.length === 0 && contact.tags.some((tag) => tagKey(tag) === tagKey(PRIVACY_TAG)) : run.outcome === 'skipped';
  return {
    id: run.runId,
    runId: run.runId,
    contactId: contact.id,
    channel: input.channel,
    conversationId: run.conversationId,
    alreadyAgreed,
    outcome: outcomeText(alreadyAgreed, input.channel, input.repliesSentBy),
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
      'Starts the "Request Consent: Privacy" workflow for a contact and returns the messages that ask them to agree to the privacy policy, for a later step to send, or leaves them to the workspace\'s outbound webhook. ' +
      "To learn later whether the contact agreed, look the run up with Find Workflow Run by this step's Workflow Run ID: its Outcome stays empty while the run still waits for the contact's answer.",
  },
  operation: {
    inputFields: [
      channelField({
        required: true,
        messagingOnly: true,
        helpText:
          'The channel to ask on. Consentry returns the messages (Messages to Send): send them to the contact on this channel in a later step, unless Who Sends the Messages leaves them to the outbound webhook.',
      }),
      replySenderField(
        "A later step of this Zap (the default): send Messages to Send to the contact in it. The workspace's outbound webhook: Consentry tells it that no Zap sends these messages, so the service behind it sends them, and no later step is needed. Choose it only when your workspace's outbound webhook sends Consentry's replies.",
      ),
      ...contactFields('to ask'),
      contactNameField,
    ],
    perform: timedStep('Request Privacy Consent', perform),
    outputFields: [
      { key: 'id', label: 'Workflow Run ID (to look the run up with Find Workflow Run)' },
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

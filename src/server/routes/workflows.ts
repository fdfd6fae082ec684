import { z } from 'zod';
import { ConsentryError, isConsentryError } from '../../core/errors.js';
import { RUN_OUTCOMES } from '../../core/events.js';
import { IN_ANSWER_DESCRIPTION, InboundChannelSchema } from '../../engine/inputs.js';
import { authOf } from '../auth.js';
import { problemResponses } from '../openapi.js';
import { ContactIdSchema, EventJsonSchema, publicEventsJson, ReplyJsonSchema, repliesJson } from '../schemas.js';
import { API_KEY_SECURITY, type ApiRoutes } from '../types.js';

const RunParamsSchema = z.object({ template: z.string().min(1).max(100) });
const RunBodySchema = z
  .object({ contactId: ContactIdSchema, channel: InboundChannelSchema, inAnswer: z.boolean().optional().describe(IN_ANSWER_DESCRIPTION) })
  .strict();
const RunOutcomeSchema = z.enum(RUN_OUTCOMES);

export const workflowRoutes: ApiRoutes = (v1) => {
  v1.post(
    '/workflows/:template/runs',
    {
      schema: {
        tags: ['workflows'],
        summary: 'Start a workflow for a contact on a channel (request-consent-privacy, welcome-request-email, welcome-request-phone)',
        description:
          "Starts the run in the contact's open conversation on the channel, else in a new one; replies are the messages to send. " +
          'outcome is null while the run goes on (it waits for an answer), else how it ended: "skipped" when there was nothing to ask ' +
          '(request-consent-privacy for a contact who already agreed, tagged "Consent: Privacy"), "done" for a welcome that found the address it asks for. ' +
          'A run that ends without sending anything opens no conversation: conversationId is then null unless the contact had one open on the channel, and replies is empty. ' +
          'A conversation opened for a run that sends its texts and ends at once is closed after them, so the next message opens a new one. ' +
          'inAnswer false in a workspace without an outbound webhook is 422 naming inAnswer when the run would send a message, and nothing starts: ' +
          'nobody would send it (a run that ends without a word, such as a skipped one, is started as usual). ' +
          'An unknown template is 404, and an unknown or erased contact 404 or 410, whatever inAnswer says.',
        security: API_KEY_SECURITY,
        params: RunParamsSchema,
        body: RunBodySchema,
        response: {
          201: z.object({
            runId: z.string(),
            conversationId: z
              .string()
              .nullable()
              .describe('The conversation the run talks in; null when the run ended without sending anything and the contact had no conversation open on the channel'),
            outcome: RunOutcomeSchema.nullable().describe('How the run ended, as workflow.finished says ("skipped": nothing was asked); null while it waits for an answer'),
            replies: z.array(ReplyJsonSchema),
            events: z.array(EventJsonSchema),
          }),
          ...problemResponses(404, 409, 410),
        },
      },
    },
    async (request, reply) => {
      try {
        const started = await authOf(request).workspace.startWorkflow(request.params.template, request.body.contactId, request.body.channel, {
          inAnswer: request.body.inAnswer ?? true,
        });
        return reply.code(201).send({
          runId: started.runId,
          conversationId: started.conversationId,
          outcome: started.outcome,
          replies: repliesJson(started.replies),
          events: publicEventsJson(started.events),
        });
      } catch (error) {
        // The template is the resource this path names: an unknown one is a 404, not a bad field.
        if (isConsentryError(error) && error.code === 'UNKNOWN_TEMPLATE') {
          throw new ConsentryError('NOT_FOUND', error.message, [{ path: 'template', message: 'unknown workflow template' }]);
        }
        throw error;
      }
    },
  );
};

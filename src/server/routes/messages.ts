import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { foldTypedValue } from '../../core/contact.js';
import type { FieldIssue } from '../../core/errors.js';
import { contactValueIssues } from '../../engine/contacts.js';
import { InboundMessageSchema, isOverlongSenderName, SENDER_NAME_MAX_LENGTH, timestampIssue } from '../../engine/inputs.js';
import { authOf } from '../auth.js';
import { EventJsonSchema, FieldIssueJsonSchema, publicEventsJson, ReplyJsonSchema, repliesJson } from '../schemas.js';
import { API_KEY_SECURITY, type ApiRoutes } from '../types.js';

type Sender = z.output<typeof InboundMessageSchema>['from'];

/**
 * A sender's name, e-mail and phone only help to find or complete the contact, so a message (a
 * STOP among them) is never refused for an invalid one: it is processed without it (senderName,
 * and the engine's reading of e-mail and phone). The answer names what was left out, so the caller
 * can correct its data. A blank name is no name, and not named.
 */
async function ignoredSenderValues(request: FastifyRequest, from: Sender): Promise<FieldIssue[]> {
  const ignored: FieldIssue[] = [];
  if (from.name !== undefined && isOverlongSenderName(from.name)) {
    ignored.push({ path: 'from.name', message: `name is longer than ${SENDER_NAME_MAX_LENGTH} characters` });
  }
  if (from.email !== undefined || from.phone !== undefined) {
    // Only a national number is read with the workspace's default country; an international one
    // (a leading "+") parses the same without it, so most messages need no settings read here.
    const national = from.phone !== undefined && !foldTypedValue(from.phone).startsWith('+');
    const defaultCountry = national ? (await authOf(request).workspace.get()).settings.defaultCountry : null;
    ignored.push(...contactValueIssues({ email: from.email, phone: from.phone }, { defaultCountry }).map((issue) => ({ ...issue, path: `from.${issue.path}` })));
  }
  return ignored.map((issue) => ({ path: issue.path, message: `${issue.message}; ignored, the message was processed without it` }));
}

const REUSED_MESSAGE_ID =
  'already used on this channel by a message with another sender, text or button: this is the answer to that first ' +
  'message, and this one was not processed';

export const messageRoutes: ApiRoutes = (v1, { metrics }) => {
  v1.post(
    '/messages',
    {
      schema: {
        tags: ['messages'],
        summary: 'An inbound message from a contact: keywords, then the conversation\'s workflows',
        description:
          'The same channel + messageId again returns the first answer and changes nothing; when its sender, text or ' +
          'button differ from the first message\'s, `warnings` names messageId (the new message was not processed). ' +
          `An invalid from.email or from.phone, or a from.name longer than ${SENDER_NAME_MAX_LENGTH} characters, does not ` +
          'refuse the message: it is processed without that value, and `warnings` names it. A blank from.name is no name.',
        security: API_KEY_SECURITY,
        body: InboundMessageSchema,
        response: {
          200: z.object({
            contactId: z.string(),
            conversationId: z.string().nullable(),
            replies: z.array(ReplyJsonSchema),
            events: z.array(EventJsonSchema),
            warnings: z.array(FieldIssueJsonSchema).describe(
              `What of the message was ignored, by field: an invalid from.email or from.phone, a from.name longer than ${SENDER_NAME_MAX_LENGTH} ` +
                'characters, a timestamp without a zone, unreadable or before 1970, or ' +
                '(messageId) a message that reuses the id of an earlier, different one',
            ),
          }),
        },
      },
    },
    async (request) => {
      const result = await authOf(request).workspace.handleInbound(request.body);
      metrics.countInbound(request.body.channel, result.duplicate, result.keyword);
      const warnings = await ignoredSenderValues(request, request.body.from);
      const timestampProblem = request.body.timestamp === undefined ? null : timestampIssue(request.body.timestamp);
      if (timestampProblem !== null) warnings.push({ path: 'timestamp', message: `${timestampProblem}; ignored, the message is dated when it was received` });
      if (result.differsFromFirst) {
        request.log.warn({ channel: request.body.channel, messageId: request.body.messageId }, 'a message reused the id of an earlier, different message');
        warnings.unshift({ path: 'messageId', message: REUSED_MESSAGE_ID });
      }
      return {
        contactId: result.contactId,
        conversationId: result.conversationId,
        replies: repliesJson(result.replies),
        events: publicEventsJson(result.events),
        warnings,
      };
    },
  );
};

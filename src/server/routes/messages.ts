import { z } from 'zod';
import { InboundMessageSchema } from '../../engine/inputs.js';
import { authOf } from '../auth.js';
import { EventJsonSchema, publicEventsJson, ReplyJsonSchema, repliesJson } from '../schemas.js';
import { API_KEY_SECURITY, type ApiRoutes } from '../types.js';

export const messageRoutes: ApiRoutes = (v1, { metrics }) => {
  v1.post(
    '/messages',
    {
      schema: {
        tags: ['messages'],
        summary: 'An inbound message from a contact: keywords, then the conversation\'s workflows',
        description: 'The same channel + messageId again returns the first answer and changes nothing.',
        security: API_KEY_SECURITY,
        body: InboundMessageSchema,
        response: {
          200: z.object({
            contactId: z.string(),
            conversationId: z.string().nullable(),
            replies: z.array(ReplyJsonSchema),
            events: z.array(EventJsonSchema),
          }),
        },
      },
    },
    async (request) => {
      const result = await authOf(request).workspace.handleInbound(request.body);
      metrics.countInbound(request.body.channel, result.duplicate, result.keyword);
      return {
        contactId: result.contactId,
        conversationId: result.conversationId,
        replies: repliesJson(result.replies),
        events: publicEventsJson(result.events),
      };
    },
  );
};

import { z } from 'zod';
import { isPublicEventType, PUBLIC_EVENT_TYPES, PublicEventTypeSchema } from '../../core/events.js';
import { canonicalUlid } from '../../core/contact.js';
import { BEFORE_FIRST_EVENT, pageOf } from '../../core/paging.js';
import { noneOf } from '../../core/required.js';
import { authOf } from '../auth.js';
import { asRequestField } from '../problem.js';
import { EMPTY_PARAMETER, EventJsonSchema, limitQuery, publicEventsJson, queryParameter } from '../schemas.js';
import { API_KEY_SECURITY, type ApiRoutes } from '../types.js';

const MAX_PAGE = 200;

const EventQuerySchema = z
  .object({
    type: queryParameter('give it once, comma-separated (?type=a,b)')
      .max(1000)
      .transform((value) => value.split(',').map((part) => part.trim()).filter((part) => part.length > 0))
      // The types not known are named together, in one entry for the parameter, as the client wrote it.
      .superRefine((types, context) => {
        // Each unknown value once: a type repeated in the list is named once.
        const unknown = [...new Set(types.filter((type) => !isPublicEventType(type)))];
        if (unknown.length > 0) context.addIssue({ code: 'custom', message: noneOf(unknown, PUBLIC_EVENT_TYPES) });
      })
      .pipe(z.array(PublicEventTypeSchema).min(1, 'name at least one event type'))
      .optional()
      .describe(`One public event type, or several separated by commas: ${PUBLIC_EVENT_TYPES.join(', ')}`),
    limit: limitQuery(MAX_PAGE, 50),
    // Event ids are ULIDs, read in any letter case as every id is (canonicalUlid).
    cursor: queryParameter().min(1, EMPTY_PARAMETER).max(200).transform(canonicalUlid).optional().describe('nextCursor of the previous page: events older than this id (any letter case)'),
    after: queryParameter()
      .min(1, EMPTY_PARAMETER)
      .max(200)
      // `0` stands before every event, for a poller that has handled none yet.
      .transform((after) => (after === '0' ? BEFORE_FIRST_EVENT : canonicalUlid(after)))
      .optional()
      .describe(
        'An event id (any letter case): the events after it, oldest first, the order hooks deliver in. The next page is ?after= its nextCursor; ' +
          'a poller passes the id of the last event it handled, and 0 to start from the oldest event kept. Not together with cursor',
      ),
  })
  .strict()
  .superRefine((query, context) => {
    if (query.cursor !== undefined && query.after !== undefined) {
      context.addIssue({ code: 'custom', path: ['after'], message: 'give cursor (newest first) or after (oldest first), not both' });
    }
  });

export const eventRoutes: ApiRoutes = (v1) => {
  v1.get(
    '/events',
    {
      schema: {
        tags: ['events'],
        summary: "The workspace's public events, newest first (oldest first after an id: ?after=)",
        security: API_KEY_SECURITY,
        querystring: EventQuerySchema,
        response: {
          200: z.object({
            data: z.array(EventJsonSchema),
            nextCursor: z
              .string()
              .nullable()
              .describe('The id of the page\'s last event when more follow, else null: pass it as cursor (newest first) or as after (oldest first), as this page was read'),
          }),
        },
      },
    },
    async (request) => {
      const { type, limit, cursor, after } = request.query;
      // One more than the page tells whether another page exists.
      const { workspace } = authOf(request);
      const events = await asRequestField(
        () =>
          asRequestField(
            () =>
              workspace.listEvents({
                types: type ?? PUBLIC_EVENT_TYPES,
                limit: limit + 1,
                ...(cursor !== undefined ? { beforeId: cursor } : {}),
                ...(after !== undefined ? { afterId: after } : {}),
              }),
            'beforeId',
            'cursor',
          ),
        'afterId',
        'after',
      );
      const page = pageOf(events, limit, (event) => event.id);
      return { data: publicEventsJson(page.items), nextCursor: page.next };
    },
  );
};

import { z } from 'zod';
import { ConsentryError } from '../../core/errors.js';
import { ulidGenerator } from '../../ports/ids.js';
import { createHookRegistry, DeliveryStatusSchema, HookInputSchema } from '../../worker/hooks.js';
import { authOf } from '../auth.js';
import { ProblemSchema } from '../problem.js';
import { IdParamsSchema, limitQuery } from '../schemas.js';
import { API_KEY_SECURITY, type ApiRoutes } from '../types.js';

const HookJsonSchema = z.object({
  id: z.string(),
  targetUrl: z.string(),
  event: z.string().describe('A public event type, or * for every one'),
  filter: z.record(z.string(), z.string()).nullable(),
  createdAt: z.string(),
});

const CreatedHookJsonSchema = HookJsonSchema.extend({
  secret: z.string().describe('Signs every delivery (X-Consentry-Signature); shown only here'),
});

const HookDetailJsonSchema = HookJsonSchema.extend({
  deletedAt: z.string().nullable().describe('When the hook stopped: null while it is live'),
  deletedReason: z.string().nullable().describe('unsubscribed (DELETE), or gone (a delivery was answered 410 Gone)'),
});

const DeliveryJsonSchema = z.object({
  id: z.string(),
  eventId: z.string(),
  eventType: z.string().nullable().describe('The event type; null if the event is no longer in the outbox'),
  contactId: z.string().nullable(),
  status: DeliveryStatusSchema,
  attempts: z.number().int(),
  lastError: z.string().nullable(),
  lastStatusCode: z.number().int().nullable(),
  nextAttemptAt: z.string().nullable(),
  deliveredAt: z.string().nullable(),
  updatedAt: z.string().describe('When the delivery last changed: for a dead letter, when it was given up'),
});

const DeliveriesQuerySchema = z
  .object({
    status: DeliveryStatusSchema.optional(),
    limit: limitQuery(500, 50),
  })
  .strict();

/**
 * REST hooks (Zapier's subscribe/unsubscribe contract, DESIGN §6): `POST` subscribes a target
 * URL, `DELETE` unsubscribes. Every route is scoped to the API key's workspace.
 */
export const hookRoutes: ApiRoutes = (v1, context) => {
  const hooks = createHookRegistry({
    store: context.store,
    clock: context.clock,
    ids: ulidGenerator(),
    allowPrivateTargets: context.allowPrivateTargets,
  });

  v1.post(
    '/hooks',
    {
      schema: {
        tags: ['hooks'],
        summary: 'Subscribe a target URL to an event type',
        security: API_KEY_SECURITY,
        body: HookInputSchema,
        response: { 201: CreatedHookJsonSchema, 422: ProblemSchema },
      },
    },
    async (request, reply) => {
      const created = await hooks.create(authOf(request).workspaceId, request.body);
      return reply.code(201).send(created);
    },
  );

  v1.get(
    '/hooks',
    {
      schema: {
        tags: ['hooks'],
        summary: "The workspace's live subscriptions (without their secrets)",
        security: API_KEY_SECURITY,
        response: { 200: z.object({ data: z.array(HookJsonSchema) }) },
      },
    },
    async (request) => ({ data: await hooks.list(authOf(request).workspaceId) }),
  );

  v1.get(
    '/hooks/:id',
    {
      schema: {
        tags: ['hooks'],
        summary: 'One subscription (without its secret), also after it was deleted: deletedAt and deletedReason say when and why',
        security: API_KEY_SECURITY,
        params: IdParamsSchema,
        response: { 200: HookDetailJsonSchema, 404: ProblemSchema },
      },
    },
    async (request) => {
      const hook = await hooks.get(authOf(request).workspaceId, request.params.id);
      if (!hook) throw new ConsentryError('NOT_FOUND', `Hook ${request.params.id} not found`, [{ path: 'id', message: 'not found' }]);
      return hook;
    },
  );

  v1.delete(
    '/hooks/:id',
    {
      schema: {
        tags: ['hooks'],
        summary: 'Unsubscribe; deleting again, or an id this workspace does not have, also answers 204',
        security: API_KEY_SECURITY,
        params: IdParamsSchema,
        response: { 204: z.null().describe('Unsubscribed') },
      },
    },
    async (request, reply) => {
      // Idempotent (Zapier may unsubscribe twice). The lookup is scoped to the key's workspace,
      // so another workspace's hook is never touched, and the answer does not reveal it exists.
      await hooks.remove(authOf(request).workspaceId, request.params.id);
      return reply.code(204).send(null);
    },
  );

  v1.get(
    '/hooks/:id/deliveries',
    {
      schema: {
        tags: ['hooks'],
        summary: "A hook's deliveries, newest event first: pending, delivered and dead-lettered",
        security: API_KEY_SECURITY,
        params: IdParamsSchema,
        querystring: DeliveriesQuerySchema,
        response: { 200: z.object({ data: z.array(DeliveryJsonSchema) }), 404: ProblemSchema },
      },
    },
    async (request) => {
      const { status, limit } = request.query;
      return { data: await hooks.deliveries(authOf(request).workspaceId, request.params.id, { ...(status ? { status } : {}), limit }) };
    },
  );

  v1.get(
    '/settings/outbound-webhook/deliveries',
    {
      schema: {
        tags: ['hooks'],
        summary: "The outbound webhook's deliveries (the custom channel's replies), newest event first",
        description: 'Deliveries stay listed after outboundWebhookUrl is changed or removed.',
        security: API_KEY_SECURITY,
        querystring: DeliveriesQuerySchema,
        response: { 200: z.object({ data: z.array(DeliveryJsonSchema) }) },
      },
    },
    async (request) => {
      const { status, limit } = request.query;
      return { data: await hooks.outboundDeliveries(authOf(request).workspaceId, { ...(status ? { status } : {}), limit }) };
    },
  );
};

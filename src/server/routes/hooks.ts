import { z } from 'zod';
import { canonicalUlid, isUlid } from '../../core/contact.js';
import { requiredOr } from '../../core/required.js';
import { ulidGenerator } from '../../ports/ids.js';
import { createHookRegistry, DEFAULT_MAX_HOOKS_PER_WORKSPACE, DeliveryStatusSchema, HookInputSchema, MAX_RETRIED_PER_REQUEST } from '../../worker/hooks.js';
import { SecretRotationInputSchema } from '../../worker/signing-secrets.js';
import { authOf } from '../auth.js';
import { problemResponses, withResponseHeaders } from '../openapi.js';
import { ProblemSchema, refuseNamingEveryField } from '../problem.js';
import { EMPTY_PARAMETER, limitQuery, queryChoice, queryParameter } from '../schemas.js';
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
  subscriptionId: z
    .string()
    .describe(
      "This subscription (a ULID), new on every POST, a renewal included: now the hook's latest. DELETE /v1/hooks/{id}?subscription=<subscriptionId> " +
        'ends the hook only while no later POST has renewed it',
    ),
});

const RotatedSecretJsonSchema = z.object({
  secret: z.string().describe('The new signing secret, in full only in this answer: GET /v1/hooks leaves a hook secret out, and GET /v1/settings shows the outbound webhook secret masked'),
  previousSecretExpiresAt: z.string().nullable().describe('Until when the old secret also signs deliveries (a second v1= value); null when it was retired at once'),
});

const ROTATION_DESCRIPTION =
  'Deliveries are signed with the new secret from now on, pending ones included. Until previousSecretExpiresAt each one also carries a signature made with the old secret ' +
  '(X-Consentry-Signature: v1=<new>,v1=<old>), so a receiver that accepts any of the values keeps working while it is updated. The body may be left out.';

const HookDetailJsonSchema = HookJsonSchema.extend({
  deletedAt: z.string().nullable().describe('When the hook stopped: null while it is live'),
  deletedReason: z
    .enum(['unsubscribed', 'gone', 'key_revoked'])
    .nullable()
    .describe('unsubscribed (DELETE), gone (a delivery was answered 410 Gone), or key_revoked (the API key that created the hook was revoked)'),
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
  resentAt: z.string().nullable().describe('When the dead letter was last sent again (POST .../retry): its 3-day retry window runs from then'),
});

const DeliveriesQuerySchema = z
  .object({
    status: queryChoice(DeliveryStatusSchema).optional(),
    limit: limitQuery(500, 50),
    cursor: queryParameter().min(1, EMPTY_PARAMETER).max(200).transform(canonicalUlid).optional().describe('nextCursor of the previous page: deliveries of older events (any letter case)'),
  })
  .strict();

const DeliveryPageJsonSchema = z.object({ data: z.array(DeliveryJsonSchema), nextCursor: z.string().nullable().describe('null on the last page') });

/** Hook and delivery ids are ULIDs: read in any letter case, as contact ids are (ContactIdSchema). */
const HookIdSchema = z.string().min(1).max(200).transform(canonicalUlid).describe('The hook id (a ULID; any letter case)');
const HookIdParamsSchema = z.object({ id: HookIdSchema });
/**
 * The hook id of an unsubscribe: a ULID, or 422. Unsubscribing is idempotent (204 for a hook the
 * workspace does not have, or no longer has), so an id that could never name a hook, which GET
 * answers 404, would otherwise pass for one unsubscribed, and a caller sending the wrong value
 * (a subscription id's field, a name) would never learn that its hook is still live.
 */
const UnsubscribeParamsSchema = z.object({
  id: z
    .string()
    .min(1)
    .max(200)
    .refine(isUlid, 'must be a hook id answered by POST /v1/hooks: a ULID such as 01ARZ3NDEKTSV4RRFFQ69G5FAV (any letter case)')
    .transform(canonicalUlid)
    .describe('The hook id (a ULID; any letter case): another value is 422'),
});
const DeliveryIdSchema = z.string().min(1).max(200).transform(canonicalUlid).describe('The delivery id (a ULID; any letter case)');
const HookDeliveryParamsSchema = z.object({ id: HookIdSchema, deliveryId: DeliveryIdSchema });
const OutboundDeliveryParamsSchema = z.object({ deliveryId: DeliveryIdSchema });

/**
 * The response header of a DELETE that named a subscription a later POST replaced: the hook was
 * kept. Only then, and never for a hook the workspace does not have, so it tells nothing about
 * another workspace's hooks.
 */
const HOOK_KEPT_HEADER = 'x-consentry-hook-kept';

const UnsubscribeQuerySchema = z
  .object({
    subscription: queryParameter()
      .refine(isUlid, 'must be a subscriptionId answered by POST /v1/hooks: a ULID such as 01ARZ3NDEKTSV4RRFFQ69G5FAV (any letter case)')
      .transform(canonicalUlid)
      .optional()
      .describe(
        'The subscriptionId POST /v1/hooks answered (any letter case): the hook is deleted only when this is its latest subscription. ' +
          'Any other (one a later POST, a renewal, replaced: only the latest is kept, so one the hook never had reads the same), ' +
          'or any for a hook subscribed before subscription ids were issued and not subscribed again since, ' +
          `deletes nothing: the answer is still 204, with ${HOOK_KEPT_HEADER}: replaced. Without it, the hook is deleted whatever its subscriptions.`,
      ),
  })
  .strict();

/** A bulk retry names the status it sends again, so that the request says what it does. */
const RetryDeadBodySchema = z
  .object({ status: z.literal('dead', { error: requiredOr('must be "dead": only dead letters can be sent again') }) })
  .strict();

const RetriedJsonSchema = z.object({
  retried: z.number().int().describe(`How many dead letters went back to pending, oldest event first (at most ${MAX_RETRIED_PER_REQUEST.toLocaleString('en')})`),
  hasMore: z.boolean().describe('Dead letters that can be sent again are left: send the same request again for the next ones'),
});

const RETRY_DESCRIPTION =
  'The delivery goes back to pending, due now, with a fresh 3-day retry window measured from this request; its attempts start again from 0 and lastError stays until the next attempt. ' +
  "It keeps its place in its contact's order: the contact's later events still pending on the same target wait for it.";

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
      attachValidation: true,
      schema: {
        tags: ['hooks'],
        summary: 'Subscribe a target URL to an event type',
        description:
          'Each delivery POSTs the event as GET /v1/events lists it, signed; the webhooks of this document describe the body of each event type, its data fields included. ' +
          "Every filter key must name the event data's value: a contact or other id in any letter case, a tag as tagging compares tags (letter case, spaces and Unicode normalisation aside), " +
          'anything else exactly. A key the data does not have, or a value it never holds, is 422 naming filter.<key>; for event *, a filter whose keys no single event type has together is 422 naming filter. ' +
          "Every bad field is named in one answer, filter.purpose (checked against the workspace's purposes) and a refused targetUrl host included. Redirects are not followed: register the final URL. " +
          'targetUrl is stored as the WHATWG URL parser writes it: scheme and host in lower case, without the default port, without a #fragment. ' +
          'The hook lasts as long as the API key that created it: revoking the key deletes the hook (deletedReason key_revoked), and its pending deliveries are not sent. ' +
          'Subscribing again what a live hook of the workspace subscribes (the same targetUrl, event and filter, compared as above: HTTPS://Example.com:443/x is https://example.com/x, and a tag filter vip is VIP) ' +
          'creates nothing: it answers 200 with that hook, as it was stored, and its secret, and the hook now lasts as long as the calling key. ' +
          "Every answer, 200 included, carries a new subscriptionId, which becomes the hook's latest subscription: " +
          'DELETE /v1/hooks/{id}?subscription=<an earlier one> then keeps the hook, so a subscriber that renews before it unsubscribes what it renewed is not cut off. ' +
          `A workspace has at most ${DEFAULT_MAX_HOOKS_PER_WORKSPACE} live hooks: one more is 409 until a hook is deleted.`,
        security: API_KEY_SECURITY,
        body: HookInputSchema,
        response: {
          200: CreatedHookJsonSchema.describe('Already subscribed: the live hook with this targetUrl, event and filter'),
          201: CreatedHookJsonSchema,
          ...problemResponses(409, 422),
        },
      },
    },
    async (request, reply) => {
      // The hook remembers its key: revoking the key deletes it (a leaked key's subscriptions end with it).
      const { workspaceId, key } = authOf(request);
      if (request.validationError) return refuseNamingEveryField(request, request.validationError, await hooks.valueIssues(workspaceId, request.body));
      const { alreadySubscribed, ...hook } = await hooks.create(workspaceId, request.body, key.id);
      return reply.code(alreadySubscribed ? 200 : 201).send(hook);
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
        params: HookIdParamsSchema,
        response: { 200: HookDetailJsonSchema, 404: ProblemSchema },
      },
    },
    async (request) => hooks.get(authOf(request).workspaceId, request.params.id),
  );

  v1.delete(
    '/hooks/:id',
    {
      schema: {
        tags: ['hooks'],
        summary: 'Unsubscribe; deleting again, or a hook id (a ULID) this workspace does not have, also answers 204; an id that is not a ULID is 422',
        description:
          "With ?subscription=<subscriptionId> (as POST /v1/hooks answered it), only while that is the hook's latest subscription: " +
          'a subscriber that renews by subscribing again and then unsubscribes the subscription it renewed keeps the hook. ' +
          `Nothing is deleted then, and the 204 carries ${HOOK_KEPT_HEADER}: replaced.`,
        security: API_KEY_SECURITY,
        params: UnsubscribeParamsSchema,
        querystring: UnsubscribeQuerySchema,
        response: {
          204: withResponseHeaders(z.null().describe(`Unsubscribed, or nothing to do; ${HOOK_KEPT_HEADER}: replaced when the subscription named was replaced and the hook kept`), {
            [HOOK_KEPT_HEADER]: z.literal('replaced').describe('Sent only when ?subscription= named a subscription a later POST replaced: nothing was deleted and the hook is kept'),
          }),
        },
      },
    },
    async (request, reply) => {
      // Idempotent (Zapier may unsubscribe twice). The lookup is scoped to the key's workspace,
      // so another workspace's hook is never touched, and the answer does not reveal it exists.
      const { workspaceId } = authOf(request);
      const { subscription } = request.query;
      if (subscription === undefined) {
        await hooks.remove(workspaceId, request.params.id);
      } else if ((await hooks.removeSubscription(workspaceId, request.params.id, subscription)) === 'replaced') {
        reply.header(HOOK_KEPT_HEADER, 'replaced');
      }
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
        params: HookIdParamsSchema,
        querystring: DeliveriesQuerySchema,
        response: { 200: DeliveryPageJsonSchema, 404: ProblemSchema },
      },
    },
    async (request) => {
      const { status, limit, cursor } = request.query;
      return hooks.deliveries(authOf(request).workspaceId, request.params.id, {
        limit,
        ...(status ? { status } : {}),
        ...(cursor !== undefined ? { cursor } : {}),
      });
    },
  );

  v1.post(
    '/hooks/:id/deliveries/:deliveryId/retry',
    {
      schema: {
        tags: ['hooks'],
        summary: 'Send a dead letter of the hook again',
        description: `${RETRY_DESCRIPTION} A delivery that is not dead, or one of a deleted hook, is 409.`,
        security: API_KEY_SECURITY,
        params: HookDeliveryParamsSchema,
        response: { 202: DeliveryJsonSchema, ...problemResponses(404, 409) },
      },
    },
    async (request, reply) => {
      const { id, deliveryId } = request.params;
      return reply.code(202).send(await hooks.retryDelivery(authOf(request).workspaceId, id, deliveryId));
    },
  );

  v1.post(
    '/hooks/:id/deliveries/retry',
    {
      schema: {
        tags: ['hooks'],
        summary: 'Send every dead letter of the hook again',
        description: `Each as POST .../deliveries/{deliveryId}/retry does, oldest event first, at most ${MAX_RETRIED_PER_REQUEST.toLocaleString('en')} per request. A deleted hook is 409.`,
        security: API_KEY_SECURITY,
        params: HookIdParamsSchema,
        body: RetryDeadBodySchema,
        response: { 202: RetriedJsonSchema, ...problemResponses(404, 409) },
      },
    },
    async (request, reply) => reply.code(202).send(await hooks.retryDeadDeliveries(authOf(request).workspaceId, request.params.id)),
  );

  v1.post(
    '/hooks/:id/secret',
    {
      schema: {
        tags: ['hooks'],
        summary: 'Give the hook a new signing secret',
        description: `${ROTATION_DESCRIPTION} A deleted hook is 409.`,
        security: API_KEY_SECURITY,
        params: HookIdParamsSchema,
        body: SecretRotationInputSchema.nullish(),
        response: { 200: RotatedSecretJsonSchema, ...problemResponses(404, 409, 422) },
      },
    },
    async (request) => hooks.rotateSecret(authOf(request).workspaceId, request.params.id, request.body ?? undefined),
  );

  v1.post(
    '/settings/outbound-webhook/secret',
    {
      schema: {
        tags: ['hooks'],
        summary: 'Give the outbound webhook a new signing secret',
        description: `${ROTATION_DESCRIPTION} 409 while the workspace has no outboundWebhookUrl.`,
        security: API_KEY_SECURITY,
        body: SecretRotationInputSchema.nullish(),
        response: { 200: RotatedSecretJsonSchema, ...problemResponses(409, 422) },
      },
    },
    async (request) => hooks.rotateOutboundSecret(authOf(request).workspaceId, request.body ?? undefined),
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
        response: { 200: DeliveryPageJsonSchema },
      },
    },
    async (request) => {
      const { status, limit, cursor } = request.query;
      return hooks.outboundDeliveries(authOf(request).workspaceId, {
        limit,
        ...(status ? { status } : {}),
        ...(cursor !== undefined ? { cursor } : {}),
      });
    },
  );

  v1.post(
    '/settings/outbound-webhook/deliveries/:deliveryId/retry',
    {
      schema: {
        tags: ['hooks'],
        summary: 'Send a dead letter of the outbound webhook again',
        description: `${RETRY_DESCRIPTION} A delivery that is not dead, a reply whose contact was erased (never sent), or any while the workspace has no outboundWebhookUrl, is 409.`,
        security: API_KEY_SECURITY,
        params: OutboundDeliveryParamsSchema,
        response: { 202: DeliveryJsonSchema, ...problemResponses(404, 409) },
      },
    },
    async (request, reply) => reply.code(202).send(await hooks.retryOutboundDelivery(authOf(request).workspaceId, request.params.deliveryId)),
  );

  v1.post(
    '/settings/outbound-webhook/deliveries/retry',
    {
      schema: {
        tags: ['hooks'],
        summary: 'Send every dead letter of the outbound webhook again',
        description: `Each as POST .../deliveries/{deliveryId}/retry does, oldest event first, at most ${MAX_RETRIED_PER_REQUEST.toLocaleString('en')} per request; replies whose contact was erased stay dead and are not counted. 409 while the workspace has no outboundWebhookUrl.`,
        security: API_KEY_SECURITY,
        body: RetryDeadBodySchema,
        response: { 202: RetriedJsonSchema, ...problemResponses(409) },
      },
    },
    async (request, reply) => reply.code(202).send(await hooks.retryDeadOutboundDeliveries(authOf(request).workspaceId)),
  );
};

import { z } from 'zod';
import { ChannelSchema, PurposeSchema } from '../../core/consent.js';
import { canonicalContactId } from '../../core/contact.js';
import { ERROR_CODES } from '../../core/errors.js';
import { ConsentryError } from '../../core/errors.js';
import { ConsentChangeSchema } from '../../engine/inputs.js';
import { HISTORY_PAGE_DEFAULT, HISTORY_PAGE_MAX } from '../../engine.js';
import { actorOf, authOf, SourceHeadersSchema, sourceOf } from '../auth.js';
import { problemResponses } from '../openapi.js';
import { asRequestField } from '../problem.js';
import { ContactIdParamsSchema, ConsentRecordJsonSchema, consentRecordJson, ConsentStateJsonSchema, consentStateJson, limitQuery } from '../schemas.js';
import { API_KEY_SECURITY, type ApiRoutes } from '../types.js';

/** The most rows one bulk request may carry; above it the request is refused whole (413). */
export const MAX_BULK_ROWS = 10_000;
/**
 * Room for MAX_BULK_ROWS rows with long explanations (2,000 characters each at most), far
 * above Fastify's 1 MiB default that suits every other route.
 */
const BULK_BODY_LIMIT = 32 * 1024 * 1024;

const ConsentParamsSchema = ContactIdParamsSchema.extend({ purpose: PurposeSchema, channel: ChannelSchema });

const HistoryQuerySchema = z
  .object({
    cursor: z
      .string()
      .regex(/^[1-9]\d{0,9}$/, 'must be the nextCursor of a previous page')
      .transform(Number)
      .optional()
      .describe('nextCursor of the previous page'),
    limit: limitQuery(HISTORY_PAGE_MAX, HISTORY_PAGE_DEFAULT),
  })
  .strict();

const SetConsentBodySchema = ConsentChangeSchema.pick({
  status: true,
  legalBasis: true,
  explanation: true,
  occurredAt: true,
  idempotencyKey: true,
}).strict();

const PermissionQuerySchema = z
  .object({
    channel: ChannelSchema,
    purpose: PurposeSchema.default('marketing'),
  })
  .strict();

/** A row's `contactId` as the canonical id (see ContactIdSchema); the engine checks the rest of the row. */
function withCanonicalContactId(row: unknown): unknown {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) return row;
  return Object.fromEntries(Object.entries(row).map(([key, value]) => [key, key === 'contactId' && typeof value === 'string' ? canonicalContactId(value) : value]));
}

const BulkBodySchema = z
  .object({
    rows: z
      .array(z.unknown().transform(withCanonicalContactId))
      .min(1)
      .max(MAX_BULK_ROWS)
      .describe(
        'Each row: contactId, email or phone (a contact is created for a new email or phone), purpose, channel, status, legalBasis?, explanation?, occurredAt?, idempotencyKey?. Rows are validated one by one: a bad row changes nothing and is reported in its result.',
      ),
  })
  .strict();

const BulkResultSchema = z.union([
  z.object({
    row: z.number().int(),
    ok: z.literal(true),
    contactId: z.string(),
    recordId: z.string(),
    created: z.boolean(),
    repeated: z.boolean().describe("The contact's status on the row's purpose and channel already was the row's status: recorded again all the same"),
    warnings: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .describe('What of the row was not applied to its contact: an e-mail or phone the contact, found by another identity, already has another value for'),
  }),
  z.object({
    row: z.number().int(),
    ok: z.literal(false),
    error: z.object({ code: z.enum(ERROR_CODES), message: z.string(), issues: z.array(z.object({ path: z.string(), message: z.string() })) }),
  }),
]);

const consentTags = ['consents'];

export const consentRoutes: ApiRoutes = (v1) => {
  v1.get(
    '/contacts/:id/consents',
    {
      schema: {
        tags: consentTags,
        summary: "A contact's current consent per purpose and channel",
        security: API_KEY_SECURITY,
        params: ContactIdParamsSchema,
        response: { 200: z.object({ contactId: z.string(), data: z.array(ConsentStateJsonSchema) }), ...problemResponses(404) },
      },
    },
    async (request) => {
      const overview = await authOf(request).workspace.getConsents(request.params.id);
      return { contactId: overview.contactId, data: overview.states.map(consentStateJson) };
    },
  );

  v1.put(
    '/contacts/:id/consents/:purpose/:channel',
    {
      schema: {
        tags: consentTags,
        summary: 'Record a consent decision',
        description:
          'An opt-in recorded on the contact\'s behalf needs legalBasis and explanation. 201 when a record was written, 200 when the idempotency key had already recorded this very change. Send "X-Consentry-Source: zapier" from a Zap; any value but api or zapier is refused (422).',
        security: API_KEY_SECURITY,
        params: ConsentParamsSchema,
        body: SetConsentBodySchema,
        headers: SourceHeadersSchema,
        response: {
          200: z.object({ record: ConsentRecordJsonSchema, created: z.boolean(), current: ConsentStateJsonSchema }),
          201: z.object({ record: ConsentRecordJsonSchema, created: z.boolean(), current: ConsentStateJsonSchema }),
          ...problemResponses(404, 409, 410),
        },
      },
    },
    async (request, reply) => {
      const { id, purpose, channel } = request.params;
      const recorded = await authOf(request).workspace.setConsent({
        ...request.body,
        contactId: id,
        purpose,
        channel,
        source: sourceOf(request, 'api'),
        actor: actorOf(request),
      });
      return reply
        .code(recorded.created ? 201 : 200)
        .send({ record: consentRecordJson(recorded.record), created: recorded.created, current: consentStateJson(recorded.current) });
    },
  );

  v1.get(
    '/contacts/:id/consents/history',
    {
      schema: {
        tags: consentTags,
        summary: "A contact's consent records, in chain order, in pages",
        security: API_KEY_SECURITY,
        params: ContactIdParamsSchema,
        querystring: HistoryQuerySchema,
        response: {
          200: z.object({ data: z.array(ConsentRecordJsonSchema), nextCursor: z.string().nullable().describe('null on the last page') }),
          ...problemResponses(404),
        },
      },
    },
    async (request) => {
      const { cursor, limit } = request.query;
      const page = await asRequestField(
        () => authOf(request).workspace.getHistoryPage(request.params.id, { limit, ...(cursor !== undefined ? { afterSeq: cursor } : {}) }),
        'afterSeq',
        'cursor',
      );
      return { data: page.records.map(consentRecordJson), nextCursor: page.nextAfterSeq === null ? null : String(page.nextAfterSeq) };
    },
  );

  v1.get(
    '/contacts/:id/permission',
    {
      schema: {
        tags: consentTags,
        summary: 'May this contact be messaged on a channel for a purpose?',
        description: 'Allowed only on an explicit opt-in; a STOP ALL (channel "any") covers every channel. purpose defaults to marketing.',
        security: API_KEY_SECURITY,
        params: ContactIdParamsSchema,
        querystring: PermissionQuerySchema,
        response: {
          ...problemResponses(404),
          200: z.object({
            allowed: z.boolean(),
            reason: z.enum(['opted_in', 'opted_out', 'not_specified', 'contact_erased']),
            status: z.enum(['opted_in', 'opted_out', 'not_specified']),
            since: z.string().nullable(),
          }),
        },
      },
    },
    async (request) => {
      const verdict = await authOf(request).workspace.canMessage(request.params.id, request.query.channel, request.query.purpose);
      return { allowed: verdict.allowed, reason: verdict.reason, status: verdict.status, since: verdict.since };
    },
  );

  v1.post(
    '/consents/bulk',
    {
      bodyLimit: BULK_BODY_LIMIT,
      // Counted before validation so an oversized batch is a 413, as the contract says, not a 422.
      preValidation: async (request) => {
        const rows: unknown = typeof request.body === 'object' && request.body !== null ? Reflect.get(request.body, 'rows') : undefined;
        if (Array.isArray(rows) && rows.length > MAX_BULK_ROWS) {
          throw new ConsentryError('PAYLOAD_TOO_LARGE', `A bulk request carries at most ${MAX_BULK_ROWS} rows; this one has ${rows.length}`, [
            { path: 'rows', message: `at most ${MAX_BULK_ROWS} rows` },
          ]);
        }
      },
      schema: {
        tags: consentTags,
        summary: `Many consent decisions at once (at most ${MAX_BULK_ROWS} rows), a result per row`,
        security: API_KEY_SECURITY,
        body: BulkBodySchema,
        headers: SourceHeadersSchema,
        response: { 200: z.object({ results: z.array(BulkResultSchema) }) },
      },
    },
    async (request) => {
      const results = await authOf(request).workspace.bulkSetConsent(request.body.rows, {
        actor: actorOf(request),
        source: sourceOf(request, 'bulk'),
      });
      return { results };
    },
  );
};

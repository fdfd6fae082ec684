import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  BUILT_IN_PURPOSES,
  CALLER_EVIDENCE_MEMBERS,
  CallerEvidenceSchema,
  CHANNELS,
  ChannelSchema,
  CONSENT_STATUSES,
  ConsentStatusSchema,
  LEGAL_BASES,
  purposeInOtherCase,
  PurposeSchema,
  purposeText,
} from '../../core/consent.js';
import { canonicalContactId } from '../../core/contact.js';
import { ConsentryError, describeIssues, ERROR_CODES, isConsentryError, issuesOfRefusal, refusalOf, refusedField } from '../../core/errors.js';
import { assertDecisionPurpose, ConsentStates, decisionPurposeNeedsStates, recordedOccurrence } from '../../core/ledger.js';
import { withWorkspacePurposeMeant } from '../../core/settings.js';
import { shownValue } from '../../core/required.js';
import { isoInstant } from '../../core/time.js';
import type { BulkRowResult } from '../../engine/consents.js';
import { BulkRowSchema, ConsentChangeSchema } from '../../engine/inputs.js';
import { HISTORY_PAGE_DEFAULT, HISTORY_PAGE_MAX } from '../../engine.js';
import type { Clock } from '../../ports/clock.js';
import { limitArrayMember } from '../array-member-limit.js';
import { actorOf, authOf, SourceHeadersSchema, sourceOf } from '../auth.js';
import { openApiTransform, problemResponses } from '../openapi.js';
import { asRequestField, statusOfCode, toProblem } from '../problem.js';
import {
  ContactIdParamsSchema,
  ConsentRecordJsonSchema,
  consentRecordJson,
  ConsentStatusRowJsonSchema,
  consentStatusRowJson,
  DECISION_TIME_DESCRIPTION,
  DecisionTimeSchema,
  limitQuery,
  queryChoice,
  queryParameter,
} from '../schemas.js';
import { API_KEY_SECURITY, type ApiRoutes } from '../types.js';

/** The most rows one bulk request may carry; above it the request is refused whole (413). */
export const MAX_BULK_ROWS = 10_000;

const longest = (values: readonly string[]): string => values.reduce((a, b) => (b.length > a.length ? b : a), '');
/** A character that takes 3 bytes of UTF-8, the most one UTF-16 code unit takes (RFC 3629 §3). */
const WIDE = '\u20ac';
const rowField = BulkRowSchema.shape;

/**
 * The largest valid bulk row as a JSON encoder writes it (characters as they are, no spaces):
 * every field at the longest BulkRowSchema allows, the free texts (explanation, idempotency key)
 * in 3-byte characters, the e-mail and the phone in ASCII (the only characters they may hold,
 * core/contact.ts), and the two values the schema does not bound at their longest real form: a
 * ULID for contactId, nanoseconds and an offset for occurredAt.
 */
export const LARGEST_BULK_ROW = {
  contactId: '0'.repeat(26),
  email: 'a'.repeat(rowField.email.unwrap().maxLength ?? 0),
  phone: '0'.repeat(rowField.phone.unwrap().maxLength ?? 0),
  purpose: 'a'.repeat(64),
  channel: longest(CHANNELS),
  status: longest(CONSENT_STATUSES),
  legalBasis: longest(LEGAL_BASES),
  explanation: WIDE.repeat(rowField.explanation.unwrap().unwrap().maxLength ?? 0),
  occurredAt: '2026-01-01T00:00:00.000000000+00:00',
  idempotencyKey: WIDE.repeat(rowField.idempotencyKey.unwrap().unwrap().maxLength ?? 0),
  allowErased: false,
};
/**
 * Room for MAX_BULK_ROWS of the largest valid rows, commas and `{"rows":[]}` included, so that the
 * row count, which is checked while the body arrives (see limitArrayMember), is what limits a
 * bulk request; Fastify's 1 MiB default suits every other route. A row's `evidence` is not
 * counted: at its longest (some 100 KB with `shown` full) it would raise the limit to a gigabyte,
 * so rows that carry long evidence share this room and are sent in smaller batches.
 */
export const BULK_BODY_LIMIT = MAX_BULK_ROWS * (Buffer.byteLength(JSON.stringify(LARGEST_BULK_ROW)) + 1) + '{"rows":[]}'.length;

const ConsentParamsSchema = ContactIdParamsSchema.extend({ purpose: PurposeSchema, channel: ChannelSchema });

const HistoryQuerySchema = z
  .object({
    cursor: queryParameter()
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
  idempotencyKey: true,
})
  .extend({ occurredAt: DecisionTimeSchema.optional(), evidence: CallerEvidenceSchema.optional() })
  .strict();

const PermissionQuerySchema = z
  .object({
    channel: queryChoice(ChannelSchema),
    // Not a pipe: /openapi.json describes a pipe by its input alone, a bare string.
    purpose: purposeText(queryParameter()).default('marketing'),
  })
  .strict();

/** A row's `contactId` as the canonical id (see ContactIdSchema); the engine checks the rest of the row. */
function withCanonicalContactId(row: unknown): unknown {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) return row;
  return Object.fromEntries(Object.entries(row).map(([key, value]) => [key, key === 'contactId' && typeof value === 'string' ? canonicalContactId(value) : value]));
}

const CALLER_EVIDENCE_LIST = CALLER_EVIDENCE_MEMBERS.join(', ');

const ROWS_DESCRIPTION = `Each row: contactId, email or phone (a contact is created for a new email or phone), purpose, channel, status, legalBasis?, explanation?, occurredAt?, idempotencyKey?, evidence? (as in PUT /contacts/{id}/consents/{purpose}/{channel}: ${CALLER_EVIDENCE_LIST}; a refused member is named evidence.<member> in the row's result). Rows are validated one by one: a bad row changes nothing and is reported in its result. occurredAt: ${DECISION_TIME_DESCRIPTION}`;

/**
 * The bulk body as the route reads it: any row is taken, so that a bad one is answered in its own
 * result (the engine checks each row, bulkSetConsent) rather than refusing the batch.
 */
const BulkBodySchema = z
  .object({
    rows: z.array(z.unknown().transform(withCanonicalContactId)).min(1).max(MAX_BULK_ROWS).describe(ROWS_DESCRIPTION),
  })
  .strict();

/**
 * A bulk row as /openapi.json documents it, so that a client generated from the document knows a
 * row's fields: those the engine reads (BulkRowSchema) with the decision time and the evidence of
 * PUT. Documentation only: BulkBodySchema reads the body.
 */
const DocumentedBulkRowSchema = z
  .object({ ...BulkRowSchema.shape, occurredAt: DecisionTimeSchema.optional(), evidence: CallerEvidenceSchema.optional() })
  .strict()
  .describe('A row needs a contactId, an email or a phone; a bad row is answered in its result, with every problem it has');

const DocumentedBulkBodySchema = z
  .object({ rows: z.array(DocumentedBulkRowSchema).min(1).max(MAX_BULK_ROWS).describe(ROWS_DESCRIPTION) })
  .strict();



/**
 * One bulk request per workspace at a time: a batch is buffered whole (up to BULK_BODY_LIMIT) and
 * its rows recorded in one go, so a workspace sending many at once would hold gigabytes of the
 * server every tenant shares. A second one is refused before its body is read (429, Retry-After:
 * 1); a client sends its batches one after the other, as the import does.
 */
class BulkSlots {
  private readonly busy = new Set<string>();
  /** The requests holding a slot, and whether their handler has started (it gives the slot back itself). */
  private readonly held = new WeakMap<FastifyRequest, { workspaceId: string; running: boolean }>();

  /**
   * Takes the workspace's slot for `request`, given back when its handler ends, or when its
   * response closes without the handler having started: a body refused (400, 413) or a client
   * gone while its body was arriving, where Fastify runs neither the handler nor onResponse.
   */
  take(request: FastifyRequest, reply: FastifyReply): void {
    const { workspaceId } = authOf(request);
    // A client gone while its key was checked: its 'close' has passed, and nobody waits for an answer.
    if (request.raw.destroyed || reply.raw.destroyed) return;
    if (this.busy.has(workspaceId)) {
      throw refusedField('TOO_MANY_REQUESTS', 'rows', 'one bulk request per workspace at a time, and another is being recorded: send this batch again once it is answered');
    }
    this.busy.add(workspaceId);
    this.held.set(request, { workspaceId, running: false });
    reply.raw.once('close', () => {
      if (this.held.get(request)?.running === false) this.release(request);
    });
  }

  /** Runs the handler's work; the slot is given back once it ends, whether the client still waits or not. */
  async run<T>(request: FastifyRequest, work: () => Promise<T>): Promise<T> {
    const holding = this.held.get(request);
    if (holding !== undefined) holding.running = true;
    try {
      return await work();
    } finally {
      this.release(request);
    }
  }

  release(request: FastifyRequest): void {
    const holding = this.held.get(request);
    if (holding === undefined) return;
    this.held.delete(request);
    this.busy.delete(holding.workspaceId);
  }
}

function tooManyRows(): ConsentryError {
  return refusedField('PAYLOAD_TOO_LARGE', 'rows', `at most ${MAX_BULK_ROWS.toLocaleString('en-US')} rows: send the rest in another request`);
}

/** What a bulk row is, for a row that is not one: its fields as ROWS_DESCRIPTION lists them. */
const WHAT_A_ROW_IS = 'a row is an object {contactId|email|phone, purpose, channel, status, …}';

/**
 * The engine's results as the API answers them. A row that is not an object is named by its place
 * in the body, `rows.N`, saying what a row is; the engine, which reads one row at a time, names it
 * as the whole value. A refused row's message lists its issues `path: message` each, as a
 * problem's detail does, however many it has.
 */
function bulkResultsAnswer(rows: readonly unknown[], results: readonly BulkRowResult[]): BulkRowResult[] {
  return results.map((result) => {
    if (result.ok) return result;
    const raw = rows[result.row];
    const isRow = typeof raw === 'object' && raw !== null && !Array.isArray(raw);
    // A value that is no object has no fields to name: the schema's rule that a row names its
    // contact (an array is an object to it) would only repeat that it is no row.
    const issues = isRow ? result.error.issues : [{ path: `rows.${result.row}`, message: `${shownValue(raw)} is not a row: ${WHAT_A_ROW_IS}` }];
    return { ...result, error: { ...result.error, issues, message: issues.length > 0 ? describeIssues(issues) : result.error.message } };
  });
}

const BodyDecisionTimeSchema = z.object({ occurredAt: DecisionTimeSchema });
const BodyStatusSchema = z.object({ status: ConsentStatusSchema });

/**
 * A refused decision is refused together with the checks the engine had not reached: it stops at
 * the first of the schema, the opt-in rule, the workspace's purposes and the decision time (at
 * most 5 minutes ahead, core/ledger.ts), and the schema checks only a purpose's spelling. One
 * answer then names every bad field, as a bulk row's result does.
 */
async function withOtherDecisionIssues(
  request: FastifyRequest,
  decision: { contactId: string; purpose: string },
  clock: Clock,
  first: ConsentryError,
): Promise<ConsentryError> {
  const { purpose } = decision;
  let refused = first;
  if (statusOfCode(refused.code) !== 422) return refused;
  const named = new Set(refused.issues.map((issue) => issue.path));
  // The schema's refusal of a purpose's spelling names a built-in purpose it spells; the workspace's own are read here.
  if (named.has('purpose') && !PurposeSchema.safeParse(purpose).success && purposeInOtherCase(purpose, BUILT_IN_PURPOSES) === undefined) {
    refused = await withPurposeMeant(request, purpose, refused);
  }
  const checks: (() => unknown)[] = [];
  if (!named.has('purpose') && PurposeSchema.safeParse(purpose).success) {
    const { workspace } = authOf(request);
    const { settings } = await workspace.get();
    const body = BodyStatusSchema.safeParse(request.body);
    // Without a status the decision is no opt-out: the purpose must be listed.
    const stated = { purpose, status: body.success ? body.data.status : ('opted_in' as const) };
    // As the engine decides it: an opt-out withdrawing an opt-in the contact holds to an unlisted purpose is accepted.
    const states = decisionPurposeNeedsStates(stated, settings) ? await workspace.getConsents(decision.contactId).then((found) => found.states, () => []) : [];
    checks.push(() => assertDecisionPurpose(stated, settings, states));
  }
  const time = BodyDecisionTimeSchema.safeParse(request.body);
  if (!named.has('occurredAt') && time.success) {
    checks.push(() => recordedOccurrence({ occurredAt: isoInstant(new Date(time.data.occurredAt)) }, isoInstant(clock.now()), time.data.occurredAt));
  }
  const issues = [...refused.issues];
  for (const check of checks) {
    const refusal = refusalOf(check);
    if (refusal !== null) issues.push(...issuesOfRefusal(refusal));
  }
  if (issues.length === refused.issues.length) return refused;
  return new ConsentryError(refused.code, describeIssues(issues), issues);
}

/**
 * The refusal of a purpose not spelled as one could be, saying which of the workspace's own
 * purposes it spells in other letter case (`"Surveys" ... (did you mean "surveys"?)`): the
 * schema knows only the built-in ones.
 */
async function withPurposeMeant(request: FastifyRequest, purpose: string, refused: ConsentryError): Promise<ConsentryError> {
  const issues = withWorkspacePurposeMeant(refused.issues, purpose, (await authOf(request).workspace.get()).settings);
  return new ConsentryError(refused.code, describeIssues(issues), issues);
}

/** The request's schema refusal (every part named, see problem.ts) as the error it answers with. */
function schemaRefusal(request: FastifyRequest, validationError: Error): ConsentryError | Error {
  const refused = toProblem(validationError, request);
  return refused.status === 422 ? new ConsentryError('VALIDATION_FAILED', refused.detail, refused.errors) : validationError;
}


const OvertakingDecisionSchema = z.object({
  recordId: z.string(),
  status: ConsentStatusSchema,
  idempotencyKey: z.string().nullable().describe("The decision's idempotency key, if it was given one"),
});

const BulkResultSchema = z.union([
  z.object({
    row: z.number().int(),
    ok: z.literal(true),
    contactId: z.string(),
    recordId: z.string(),
    created: z.boolean(),
    repeated: z
      .boolean()
      .describe(
        "The contact's status on the row's purpose and channel already was the row's status: recorded again all the same. False for a row answered from its idempotencyKey (created false), which recorded nothing now",
      ),
    inEffect: z
      .boolean()
      .describe(
        "Whether the row's decision governs its purpose and channel, as permission reads it (the channel's own decision or the purpose's decision on any, whichever is newer): false for one older than the decision that governs (its occurredAt is earlier, also than a newer STOP ALL), which the ledger keeps but which changes nothing that governs and raises no event",
      ),
    supersededBy: OvertakingDecisionSchema.nullable().describe('Of `overtakenBy`, the decision recorded last; null when it is empty'),
    overtakenBy: z
      .array(OvertakingDecisionSchema)
      .describe(
        "For a row answered from its idempotency key (`created` false): every decision recorded after the row that is in force on a channel the row covers with a status that is not the row's, each once, in the order recorded (for a row on `any`, a later decision on one channel overtakes it there; a row on one channel is overtaken by a later decision there or on `any`); a decision that stood before the row (one a row dated earlier was recorded not in effect under) is not listed; empty otherwise. A client sending a batch again after a failure tells its own later rows from decisions made elsewhere by their idempotencyKey",
      ),
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

export const consentRoutes: ApiRoutes = (v1, { clock }) => {
  v1.get(
    '/contacts/:id/consents',
    {
      schema: {
        tags: consentTags,
        summary: "A contact's current consent per purpose and channel",
        security: API_KEY_SECURITY,
        params: ContactIdParamsSchema,
        response: { 200: z.object({ contactId: z.string(), data: z.array(ConsentStatusRowJsonSchema) }), ...problemResponses(404) },
      },
    },
    async (request) => {
      const overview = await authOf(request).workspace.getConsents(request.params.id);
      const states = new ConsentStates(overview.states);
      return { contactId: overview.contactId, data: overview.states.map((state) => consentStatusRowJson(states, state)) };
    },
  );

  v1.put(
    '/contacts/:id/consents/:purpose/:channel',
    {
      attachValidation: true,
      schema: {
        tags: consentTags,
        summary: 'Record a consent decision',
        description:
          'An opt-in recorded on the contact\'s behalf needs legalBasis and explanation. evidence keeps what the person was shown and did (a web form\'s texts, the box they ticked); Consentry adds the policyDigest of the texts shown and the contact\'s current address on the channel (identity). ' +
          '201 when a record was written, 200 when the idempotency key had already recorded this very change (evidence included). Send "X-Consentry-Source: zapier" from a Zap; any value but api or zapier is refused (422). ' +
          `occurredAt: ${DECISION_TIME_DESCRIPTION}`,
        security: API_KEY_SECURITY,
        params: ConsentParamsSchema,
        body: SetConsentBodySchema,
        headers: SourceHeadersSchema,
        response: {
          200: z.object({ record: ConsentRecordJsonSchema, created: z.boolean(), current: ConsentStatusRowJsonSchema }),
          201: z.object({ record: ConsentRecordJsonSchema, created: z.boolean(), current: ConsentStatusRowJsonSchema }),
          ...problemResponses(404, 409, 410),
        },
      },
    },
    async (request, reply) => {
      const { id, purpose, channel } = request.params;
      if (request.validationError) {
        const refused = schemaRefusal(request, request.validationError);
        throw isConsentryError(refused) ? await withOtherDecisionIssues(request, { contactId: id, purpose }, clock, refused) : refused;
      }
      let recorded;
      try {
        recorded = await authOf(request).workspace.setConsent({
          ...request.body,
          contactId: id,
          purpose,
          channel,
          source: sourceOf(request, 'api'),
          actor: actorOf(request),
        });
      } catch (error) {
        throw isConsentryError(error) ? await withOtherDecisionIssues(request, { contactId: id, purpose }, clock, error) : error;
      }
      // What governs the channel, as the list of consents says it: a newer all-channel decision
      // (STOP ALL) outranks a back-dated opt-in recorded here.
      const current = consentStatusRowJson(new ConsentStates(recorded.states), recorded.current);
      return reply.code(recorded.created ? 201 : 200).send({ record: consentRecordJson(recorded.record), created: recorded.created, current });
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
      attachValidation: true,
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
      if (request.validationError) {
        const refused = schemaRefusal(request, request.validationError);
        // The schema knows only the built-in purposes; one of the workspace's own in other letter case
        // is named as PUT names it. A refused query is the one the request sent, unparsed.
        const purpose: unknown = Reflect.get(request.query, 'purpose');
        if (isConsentryError(refused) && typeof purpose === 'string' && refused.issues.some((issue) => issue.path === 'purpose')) {
          throw await withPurposeMeant(request, purpose, refused);
        }
        throw refused;
      }
      const verdict = await authOf(request).workspace.canMessage(request.params.id, request.query.channel, request.query.purpose);
      return { allowed: verdict.allowed, reason: verdict.reason, status: verdict.status, since: verdict.since };
    },
  );

  const bulkSlots = new BulkSlots();
  v1.post(
    '/consents/bulk',
    {
      bodyLimit: BULK_BODY_LIMIT,
      // The workspace's slot is taken before the body is read, and given back however the request ends.
      onRequest: (request, reply, done) => {
        try {
          bulkSlots.take(request, reply);
          done();
        } catch (error) {
          done(error instanceof Error ? error : new Error(String(error)));
        }
      },
      // Counted while the body arrives, before it is parsed: an oversized batch is a 413, as the
      // contract says, and is refused before any work is done per row.
      preParsing: limitArrayMember('rows', MAX_BULK_ROWS, tooManyRows),
      // The document shows a row's fields; the route still reads any row (BulkBodySchema).
      config: { swaggerTransform: (input) => openApiTransform({ ...input, schema: { ...input.schema, body: DocumentedBulkBodySchema } }) },
      schema: {
        tags: consentTags,
        summary: `Many consent decisions at once (at most ${MAX_BULK_ROWS.toLocaleString('en-US')} rows), a result per row`,
        security: API_KEY_SECURITY,
        body: BulkBodySchema,
        headers: SourceHeadersSchema,
        response: { 200: z.object({ results: z.array(BulkResultSchema) }), ...problemResponses(429) },
      },
    },
    // The engine refuses a bad row (a decision time before 1970 included) in that row's result, naming all its problems.
    async (request) => ({
      results: bulkResultsAnswer(
        request.body.rows,
        await bulkSlots.run(request, () => authOf(request).workspace.bulkSetConsent(request.body.rows, { actor: actorOf(request), source: sourceOf(request, 'bulk') })),
      ),
    }),
  );
};

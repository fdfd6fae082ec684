import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { controlCharacterIn } from '../../core/contact.js';
import { isConsentryError, type FieldIssue } from '../../core/errors.js';
import { contactValueIssues, newContactTagIssues } from '../../engine/contacts.js';
import { ErasedAddressesInputSchema } from '../../engine/erased-addresses.js';
import { ContactInputSchema, printableNameSchema } from '../../engine/inputs.js';
import { authOf } from '../auth.js';
import { ContactPatchBodySchema, enginePatchOf, hasReadOnlyMembers, readOnlyMemberIssues } from '../contact-patch.js';
import { problemResponses } from '../openapi.js';
import { asRequestField, refuseNamingEveryField } from '../problem.js';
import { ContactIdParamsSchema, contactIdText, ContactJsonSchema, contactJson, EMPTY_PARAMETER, FieldIssueJsonSchema, limitQuery, MERGE_PATCH_MEDIA_TYPES, queryChoice, queryParameter } from '../schemas.js';
import { API_KEY_SECURITY, type ApiRoutes } from '../types.js';

const ContactListQuerySchema = z
  .object({
    email: queryParameter().trim().min(1, EMPTY_PARAMETER).max(254).optional(),
    phone: queryParameter().trim().min(1, EMPTY_PARAMETER).max(40).optional(),
    tag: queryParameter().trim().min(1, EMPTY_PARAMETER).max(100).optional(),
    // Not a pipe: /openapi.json describes a pipe by its input alone, a bare string.
    cursor: contactIdText(queryParameter(), EMPTY_PARAMETER).optional().describe('nextCursor of the previous page'),
    limit: limitQuery(500, 50),
  })
  .strict();

const EraseQuerySchema = z
  .object({
    keepErasedAddresses: queryChoice(z.enum(['true', 'false']))
      .default('true')
      .describe(
        'Whether a digest of the e-mail and phone is kept so that a bulk row bringing one back with an opt-in is refused (GDPR Art. 17(3), 21(3)); ' +
          'false forgets them completely',
      ),
  })
  .strict();

const ForgottenAddressJsonSchema = z.object({
  address: z.string().describe('The address as it was read: an e-mail lower-cased, a phone in E.164'),
  removed: z.boolean().describe('true: a digest of it was kept and is now removed; false: none was kept'),
});

/** A tag as a body gives it: addTag (core/contact.ts) refuses the same characters for every other caller. */
const NewTagSchema = printableNameSchema('tag');
const TagBodySchema = z.object({ tag: NewTagSchema }).strict();
const TagParamsSchema = ContactIdParamsSchema.extend({ tag: z.string().min(1).max(100) });

const contactTags = ['contacts'];

/** What the OpenAPI document says of `Consent: Privacy`, which follows the contact's privacy decision (engine/contacts.ts, privacyTagRefusal). */
const PRIVACY_TAG_FOLLOWS =
  'The tag `Consent: Privacy` (compared as tags are: letter case, spacing and Unicode normalisation aside) follows the contact\'s newest ' +
  '`privacy` decision on any channel, and request-consent-privacy does not ask a contact who has it.';
const PRIVACY_TAG_ON_CREATE =
  `${PRIVACY_TAG_FOLLOWS} A new contact has no decision: the tag in \`tags\` is 422 TAG_NEEDS_CONSENT naming \`tags.N\`; create the ` +
  'contact without it, then record the opt-in with PUT /v1/contacts/{id}/consents/privacy/{channel}, which adds the tag.';
const PRIVACY_TAG_ADDED =
  `${PRIVACY_TAG_FOLLOWS} Adding it is 422 TAG_NEEDS_CONSENT naming \`tag\` unless the decision in force is an opt-in, when the contact ` +
  'has it already (or gets it back after it was removed by hand); record the opt-in with PUT /v1/contacts/{id}/consents/privacy/{channel}, which adds the tag.';
const PRIVACY_TAG_REMOVED =
  `${PRIVACY_TAG_FOLLOWS} Removing it leaves the decisions on record as they are: the contact is asked again when a conversation ` +
  'opens next. A withdrawal is recorded with PUT /v1/contacts/{id}/consents/privacy/{channel} and `"status": "opted_out"`, which takes the tag away.';

/**
 * The tags of a new contact's body that the engine would refuse, each by its place: one holding a
 * control or bidirectional formatting character (addTag), and `Consent: Privacy`, which follows
 * the contact's privacy decision and a new contact has none (createContact). The problem answer
 * lists them in path order (inPathOrder, which every problem answer applies).
 */
function newTagIssues(body: unknown): FieldIssue[] {
  return [...tagCharacterIssues(body), ...newContactTagIssues(body)];
}

/** The tags of a contact body that addTag would refuse for a control or bidirectional formatting character, each by its place. */
function tagCharacterIssues(body: unknown): FieldIssue[] {
  const tags = z.object({ tags: z.array(z.unknown()) }).safeParse(body);
  if (!tags.success) return [];
  return tags.data.tags.flatMap((tag, index): FieldIssue[] => {
    const forbidden = typeof tag === 'string' ? controlCharacterIn(tag.trim()) : undefined;
    return forbidden === undefined ? [] : [{ path: `tags.${index}`, message: `tag ${forbidden}` }];
  });
}

/**
 * A contact body or query the schema refuses is refused together with what the engine would refuse
 * in it once parsed (an e-mail, a phone, a field name, and for a new contact a tag), and for a patch
 * the read-only members that differ from the contact's (`readOnly`), so that one answer names every
 * bad field: a `name` of the wrong type and an invalid `email` alike.
 */
async function refuseNamingEveryContactField(
  request: FastifyRequest,
  validationError: Error | null,
  input: unknown,
  { withTags, readOnly = [] }: { withTags: boolean; readOnly?: readonly FieldIssue[] },
): Promise<never> {
  const { settings } = await authOf(request).workspace.get();
  return refuseNamingEveryField(request, validationError, [...contactValueIssues(input, settings), ...(withTags ? newTagIssues(input) : []), ...readOnly]);
}

/**
 * The read-only members of a patch body that differ from those of the contact `id` as it is read
 * now (readOnlyMemberIssues); none when the body has none, which spares the read, or when there is
 * no such contact, which the patch is refused for by itself (404).
 */
async function readOnlyIssuesOf(request: FastifyRequest, id: string, body: unknown): Promise<FieldIssue[]> {
  if (!hasReadOnlyMembers(body)) return [];
  try {
    return readOnlyMemberIssues(body, await authOf(request).workspace.getContact(id));
  } catch (error) {
    if (isConsentryError(error) && error.code === 'NOT_FOUND') return [];
    throw error;
  }
}

/** The e-mail and phone of a contacts query, which the engine reads as a contact body's. */
const QueryAddressesSchema = z.object({ email: z.string().optional().catch(undefined), phone: z.string().optional().catch(undefined) });

const ContactWithWarningsJsonSchema = ContactJsonSchema.extend({
  warnings: z
    .array(FieldIssueJsonSchema)
    .describe('What the request did that the caller should know, empty when nothing: an email or phone an erased contact had, which holds the contact from bulk opt-ins'),
});

export const contactRoutes: ApiRoutes = (v1) => {
  v1.post(
    '/contacts',
    {
      attachValidation: true,
      schema: {
        tags: contactTags,
        summary: 'Create a contact',
        description: PRIVACY_TAG_ON_CREATE,
        security: API_KEY_SECURITY,
        body: ContactInputSchema,
        response: { 201: ContactWithWarningsJsonSchema, ...problemResponses(409) },
      },
    },
    async (request, reply) => {
      if (request.validationError) return refuseNamingEveryContactField(request, request.validationError, request.body, { withTags: true });
      // addTag would name the first such tag `tag`, alone; here every one is named by its place, with the body's other problems.
      // A `Consent: Privacy` tag alone is left to createContact, which refuses it under its own code, TAG_NEEDS_CONSENT.
      if (tagCharacterIssues(request.body).length > 0) return refuseNamingEveryContactField(request, null, request.body, { withTags: true });
      const { contact, warnings } = await authOf(request).workspace.createContactWithWarnings(request.body);
      return reply.code(201).send({ ...contactJson(contact), warnings });
    },
  );

  v1.get(
    '/contacts',
    {
      attachValidation: true,
      schema: {
        tags: contactTags,
        summary: 'Find contacts by email, phone or tag, in pages',
        security: API_KEY_SECURITY,
        querystring: ContactListQuerySchema,
        response: { 200: z.object({ data: z.array(ContactJsonSchema), nextCursor: z.string().nullable() }) },
      },
    },
    async (request) => {
      if (request.validationError) {
        const addresses = QueryAddressesSchema.safeParse(request.query);
        return refuseNamingEveryContactField(request, request.validationError, addresses.success ? addresses.data : {}, { withTags: false });
      }
      const { email, phone, tag, cursor, limit } = request.query;
      const { workspace } = authOf(request);
      const page = await asRequestField(() =>
        workspace.findContacts({
          limit,
          ...(email !== undefined ? { email } : {}),
          ...(phone !== undefined ? { phone } : {}),
          ...(tag !== undefined ? { tag } : {}),
          ...(cursor !== undefined ? { afterId: cursor } : {}),
        }),
        'afterId',
        'cursor',
      );
      return { data: page.contacts.map(contactJson), nextCursor: page.nextCursor };
    },
  );

  v1.get(
    '/contacts/:id',
    {
      schema: {
        tags: contactTags,
        summary: 'One contact',
        security: API_KEY_SECURITY,
        params: ContactIdParamsSchema,
        response: { 200: ContactJsonSchema, ...problemResponses(404) },
      },
    },
    async (request) => contactJson(await authOf(request).workspace.getContact(request.params.id)),
  );

  v1.patch(
    '/contacts/:id',
    {
      attachValidation: true,
      schema: {
        tags: contactTags,
        summary: "Change a contact's name, email, phone or fields",
        description:
          'A JSON Merge Patch (RFC 7396): what the body leaves out stays as it is; `null` clears the name and removes a field ' +
          '(`"fields": { "plan": null }`). `email: null` and `phone: null` remove the address only from a contact without ' +
          'consent decisions: once one is recorded, later messages and imports find the contact, and so its decisions, by ' +
          'that address, and removing it is refused (422); replace it, or erase the contact. ' +
          'The contact as GET answers it can be sent back whole: its read-only members (id, identities, tags, hubspotId, createdAt, ' +
          'updatedAt, erasedAt) are ignored when they hold the value the contact has, and refused (422) naming how they change otherwise ' +
          '(tags with POST /v1/contacts/{id}/tags and DELETE /v1/contacts/{id}/tags/{tag}); `null` for one that is not null is a change. ' +
          'Sent with the updatedAt read, a copy read before the contact changed again (a tag added meanwhile) is not refused for the ' +
          'tags, identities, hubspotId or updatedAt it shows.',
        security: API_KEY_SECURITY,
        consumes: MERGE_PATCH_MEDIA_TYPES,
        params: ContactIdParamsSchema,
        body: ContactPatchBodySchema,
        response: { 200: ContactWithWarningsJsonSchema, ...problemResponses(404, 409, 410) },
      },
    },
    async (request) => {
      const readOnly = await readOnlyIssuesOf(request, request.params.id, request.body);
      if (request.validationError) return refuseNamingEveryContactField(request, request.validationError, request.body, { withTags: false, readOnly });
      if (readOnly.length > 0) return refuseNamingEveryContactField(request, null, request.body, { withTags: false, readOnly });
      const { contact, warnings } = await authOf(request).workspace.updateContactWithWarnings(request.params.id, enginePatchOf(request.body));
      return { ...contactJson(contact), warnings };
    },
  );

  v1.delete(
    '/contacts/:id',
    {
      schema: {
        tags: contactTags,
        summary: 'Erase a contact (GDPR Art. 17)',
        description:
          'Personal data and evidence texts are removed, and so are the texts kept of the contact elsewhere: the stored answers ' +
          "to their messages (replayed for a repeated delivery) and their workflow runs' last answers. The consent records stay " +
          'and the chain still verifies. Erasing again redacts whatever is still left and answers the new counts. ' +
          'A digest of the e-mail and phone is kept (unless keepErasedAddresses=false), so a later bulk row or import that would ' +
          'create a contact with one of them and opt it in is refused unless the row says allowErased.',
        security: API_KEY_SECURITY,
        params: ContactIdParamsSchema,
        querystring: EraseQuerySchema,
        response: {
          ...problemResponses(404),
          200: z.object({
            contact: ContactJsonSchema,
            redactedRecords: z.number().int().describe('Consent records whose evidence was redacted'),
            redactedEvents: z.number().int().describe('Events in the outbox (the events API, webhook deliveries) whose data quoting the person was erased'),
            redactedMessages: z.number().int().describe('Stored answers to inbound messages whose texts were erased'),
            redactedRuns: z.number().int().describe('Workflow runs whose last answer was erased'),
          }),
        },
      },
    },
    async (request) => {
      const erased = await authOf(request).workspace.eraseContact(request.params.id, {
        keepErasedAddresses: request.query.keepErasedAddresses === 'true',
      });
      return {
        contact: contactJson(erased.contact),
        redactedRecords: erased.redactedRecords,
        redactedEvents: erased.redactedEvents,
        redactedMessages: erased.redactedMessages,
        redactedRuns: erased.redactedRuns,
      };
    },
  );

  // A POST with the addresses in its body rather than a DELETE naming one in its path: a URL is
  // written to access logs and proxies' logs, and the address is exactly what was erased.
  v1.post(
    '/erased-addresses/forget',
    {
      schema: {
        tags: contactTags,
        summary: 'Forget the digest erasure kept of an e-mail or phone',
        description:
          'Erasure keeps a digest of the e-mail and phone of the contact (DELETE /v1/contacts/{id}), so that a bulk row or import bringing one back ' +
          'with an opt-in is refused unless it says allowErased. This removes the digests of the addresses named: a later opt-in row for them is ' +
          'recorded, and a contact held for one of them is no longer refused for it. The answer says, for each address, the form it was read in ' +
          '(as contacts store it) and whether a digest was kept (removed: true) or none was (removed: false).',
        security: API_KEY_SECURITY,
        body: ErasedAddressesInputSchema,
        response: {
          200: z.object({ email: ForgottenAddressJsonSchema.optional(), phone: ForgottenAddressJsonSchema.optional() }),
        },
      },
    },
    async (request) => {
      const forgotten = await authOf(request).workspace.forgetErasedAddresses(request.body);
      const removed = (['email', 'phone'] as const).filter((field) => forgotten[field]?.removed === true);
      request.log.info({ removed }, 'erased-address digests removed');
      return forgotten;
    },
  );

  v1.post(
    '/contacts/:id/tags',
    {
      schema: {
        tags: contactTags,
        summary: 'Tag a contact',
        description: PRIVACY_TAG_ADDED,
        security: API_KEY_SECURITY,
        params: ContactIdParamsSchema,
        body: TagBodySchema,
        response: { 200: ContactJsonSchema, ...problemResponses(404, 410) },
      },
    },
    async (request) => contactJson(await authOf(request).workspace.addTag(request.params.id, request.body.tag)),
  );

  v1.delete(
    '/contacts/:id/tags/:tag',
    {
      schema: {
        tags: contactTags,
        summary: 'Remove a tag from a contact',
        description: PRIVACY_TAG_REMOVED,
        security: API_KEY_SECURITY,
        params: TagParamsSchema,
        response: { 200: ContactJsonSchema, ...problemResponses(404, 410) },
      },
    },
    async (request) => contactJson(await authOf(request).workspace.removeTag(request.params.id, request.params.tag)),
  );
};

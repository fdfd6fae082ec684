import { z } from 'zod';
import { canonicalContactId, tagKey, type Contact } from '../core/contact.js';
import type { FieldIssue } from '../core/errors.js';
import { ZonedDateTimeSchema } from '../core/time.js';
import { ContactPatchSchema, type ContactPatch } from '../engine/inputs.js';
import { contactJson, type ContactJson } from './schemas.js';

/*
 * A contact read with GET /v1/contacts/{id} can be changed and sent back whole as a JSON Merge
 * Patch (RFC 7396), as the settings can: the members the API shows but a patch cannot change are
 * taken when they hold the value the API shows, and ignored, and refused naming how they change
 * when they hold another (a `null` for one that is not null is another: RFC 7396 §2 reads it as
 * removing the member, https://www.rfc-editor.org/rfc/rfc7396#section-2). The engine's patch stays
 * strict: the route compares and leaves them out.
 *
 * The comparison is made against the contact as the route reads it before the change, in a
 * transaction of its own. These members are never written by the patch, so a change made between
 * that read and the patch's own transaction cannot be undone by it; what matters is that a client
 * sending back what it read is not refused because the contact changed since (a tag added while
 * it edited the name). `updatedAt` tells: sent back earlier than the contact's own (and not before
 * its creation), the copy was read before a later change, and the members that change over a
 * contact's life (tags, identities, hubspotId, updatedAt) are not compared. The id, createdAt and
 * erasedAt never change on a contact a patch can reach (an erased one answers 410), and are
 * compared always. A client that sends these members without `updatedAt` has them compared as
 * they are now. Comparing inside the patch's own transaction instead would gain nothing: the
 * client's copy is older than either read, which is what `updatedAt` settles. It is stamped to the
 * millisecond at every change (UnitOfWork.saveContact), so a copy is taken for the current one,
 * and compared whole, only when the contact changed again within the millisecond it was read in.
 */

/** The members of a contact's JSON that a patch cannot change. */
type ReadOnlyMember = Exclude<keyof ContactJson, keyof ContactPatch>;

interface ReadOnlyRule {
  /** The JSON type the API shows it in, for /openapi.json. */
  type: string | string[];
  /** What a value other than the one shown is refused with: what it is, and how it changes if it does. */
  refusal: string;
  /** Whether `sent` is the value the API shows in `shown`, compared as the API shows it. */
  same(sent: unknown, shown: ContactJson): boolean;
  /** Whether it changes over the contact's life, so that a copy read before a change shows another value. */
  changes: boolean;
}

/** The instant an RFC 3339 date and time with a zone names, in milliseconds; undefined for anything else. */
function instantOf(value: unknown): number | undefined {
  return typeof value === 'string' && ZonedDateTimeSchema.safeParse(value).success ? Date.parse(value) : undefined;
}

/** A time as the JSON prints it (or null), sent back as printed or as the same instant written otherwise (`+00:00` for `Z`). */
function sameTime(sent: unknown, shown: string | null): boolean {
  if (sent === shown) return true;
  const instant = instantOf(sent);
  return instant !== undefined && instant === instantOf(shown);
}

function sameSet(sent: readonly string[], shown: readonly string[]): boolean {
  const left = new Set(sent);
  const right = new Set(shown);
  return left.size === right.size && [...left].every((item) => right.has(item));
}

/** Tags compare as tagging compares them (tagKey: letter case, spacing and Unicode normalisation aside), in any order. */
function sameTags(sent: unknown, shown: ContactJson): boolean {
  if (!Array.isArray(sent) || !sent.every((tag): tag is string => typeof tag === 'string')) return false;
  return sameSet(sent.map(tagKey), shown.tags.map(tagKey));
}

const IdentitySchema = z.object({ channel: z.string(), externalId: z.string() }).strict();

/** Identities compare by channel and external id as shown, in any order. */
function sameIdentities(sent: unknown, shown: ContactJson): boolean {
  const identities = z.array(IdentitySchema).safeParse(sent);
  if (!identities.success) return false;
  const key = (identity: { channel: string; externalId: string }) => JSON.stringify([identity.channel, identity.externalId]);
  return sameSet(identities.data.map(key), shown.identities.map(key));
}

const READ_ONLY = {
  id: {
    type: 'string',
    refusal: 'is read-only',
    // A contact id names the contact in any letter case (canonicalContactId).
    same: (sent, shown) => typeof sent === 'string' && canonicalContactId(sent) === shown.id,
    changes: false,
  },
  identities: {
    type: 'array',
    refusal:
      'are read-only: a contact gets them when it is created (POST /v1/contacts) and when it writes from a new id (POST /v1/messages), ' +
      'and none can be changed or removed',
    same: sameIdentities,
    changes: true,
  },
  tags: {
    type: 'array',
    refusal: 'is changed with POST /v1/contacts/{id}/tags and DELETE /v1/contacts/{id}/tags/{tag}',
    same: sameTags,
    changes: true,
  },
  hubspotId: {
    type: ['string', 'null'],
    refusal: 'is read-only: the HubSpot connector sets it when it links the contact to a HubSpot contact',
    same: (sent, shown) => sent === shown.hubspotId,
    changes: true,
  },
  createdAt: { type: 'string', refusal: 'is read-only', same: (sent, shown) => sameTime(sent, shown.createdAt), changes: false },
  updatedAt: {
    type: 'string',
    refusal: 'is read-only: it is when the contact last changed (send back the value read, or leave it out)',
    same: (sent, shown) => sameTime(sent, shown.updatedAt),
    changes: true,
  },
  erasedAt: {
    type: ['string', 'null'],
    refusal: 'is read-only: DELETE /v1/contacts/{id} erases the contact',
    same: (sent, shown) => sameTime(sent, shown.erasedAt),
    changes: false,
  },
} satisfies Record<ReadOnlyMember, ReadOnlyRule>;

const READ_ONLY_MEMBERS = Object.keys(READ_ONLY) as ReadOnlyMember[];

/**
 * A read-only member as /openapi.json describes it: `readOnly`, which JSON Schema defines as a value
 * the owning authority manages, whose changes are ignored or rejected
 * (https://json-schema.org/draft/2020-12/json-schema-validation#section-9.4, used by OpenAPI 3.1).
 */
function readOnlySchema(member: ReadOnlyMember) {
  const { type, refusal } = READ_ONLY[member];
  const description = `Read-only: ignored when it is the value the contact has; any other value is refused (422 naming ${member}): ${refusal}`;
  return z.unknown().optional().meta({ type, readOnly: true, description });
}

/**
 * The body of PATCH /v1/contacts/{id}: the engine's ContactPatchSchema, and the read-only members
 * of the contact's JSON, as GET answers them, so that a contact read can be sent back whole; and
 * an earlier answer's `warnings`, ignored as the settings ignore theirs.
 */
export const ContactPatchBodySchema = ContactPatchSchema.extend({
  id: readOnlySchema('id'),
  identities: readOnlySchema('identities'),
  tags: readOnlySchema('tags'),
  hubspotId: readOnlySchema('hubspotId'),
  createdAt: readOnlySchema('createdAt'),
  updatedAt: readOnlySchema('updatedAt'),
  erasedAt: readOnlySchema('erasedAt'),
  warnings: z.array(z.unknown()).nullish().describe("Ignored: an earlier answer's warnings, sent back with the contact read from it"),
});
export type ContactPatchBody = z.output<typeof ContactPatchBodySchema>;

/** The patch the engine takes: a body without its read-only members and warnings. */
export function enginePatchOf(body: ContactPatchBody): z.output<typeof ContactPatchSchema> {
  const { id: _id, identities: _identities, tags: _tags, hubspotId: _hubspotId, createdAt: _createdAt, updatedAt: _updatedAt, erasedAt: _erasedAt, warnings: _warnings, ...patch } = body;
  return patch;
}

/** Whether a body (parsed or not) holds any read-only member: only then is the contact read to compare them. */
export function hasReadOnlyMembers(body: unknown): boolean {
  return typeof body === 'object' && body !== null && !Array.isArray(body) && READ_ONLY_MEMBERS.some((member) => Reflect.get(body, member) !== undefined);
}

/**
 * Whether a copy of the contact whose `updatedAt` was sent back was read before the contact's last
 * change: the time sent is before the contact's own, and not before its creation (it never had one).
 */
function readBeforeLastChange(sentUpdatedAt: unknown, shown: ContactJson): boolean {
  const read = instantOf(sentUpdatedAt);
  const created = instantOf(shown.createdAt);
  const last = instantOf(shown.updatedAt);
  return read !== undefined && created !== undefined && last !== undefined && read >= created && read < last;
}

/**
 * The read-only members of `body` (parsed or not) that do not hold the value the API shows of
 * `stored`, each refused naming how it changes, if it does. None for an erased contact: a patch
 * of one is refused as gone (410), whatever it holds.
 */
export function readOnlyMemberIssues(body: unknown, stored: Contact): FieldIssue[] {
  if (stored.erasedAt !== null || typeof body !== 'object' || body === null || Array.isArray(body)) return [];
  const shown = contactJson(stored);
  const stale = readBeforeLastChange(Reflect.get(body, 'updatedAt'), shown);
  return READ_ONLY_MEMBERS.flatMap((member): FieldIssue[] => {
    const sent: unknown = Reflect.get(body, member);
    const rule: ReadOnlyRule = READ_ONLY[member];
    if (sent === undefined || (stale && rule.changes) || rule.same(sent, shown)) return [];
    return [{ path: member, message: rule.refusal }];
  });
}

import type { z } from 'zod';
import type { Contact } from '../core/contact.js';
import type { ConsentState } from '../core/consent.js';
import {
  addIdentity,
  channelIdentityId,
  controlCharacterIn,
  eraseContactData,
  erasedAddressDigests,
  fieldKey,
  normalizeEmail,
  normalizePhone,
  setField,
  tagKey,
  withErasedAddressGuard,
} from '../core/contact.js';
import { ConsentryError, describeIssues, issuesOfRefusal, refusalOf, type FieldIssue } from '../core/errors.js';
import { redactedEvidence } from '../core/ledger.js';
import { redactEventData } from '../core/events.js';
import { pageOf, shownId, unknownCursor } from '../core/paging.js';
import type { WorkspaceSettings } from '../core/settings.js';
import { redactStoredRunState, RunStateSchema } from '../core/workflow/index.js';
import { NOT_SENT_TO_ERASED_CONTACT, type ContactQuery } from '../ports/store.js';
import { redactStoredResponse } from './handle-inbound.js';
import { CONTACT_FIELDS_MAX, tooManyFieldsMessage, type ContactInputSchema, type ContactPatchSchema } from './inputs.js';
import { abandonWorkflowRun, cancelWorkflowRun, closeConversationAndRuns, openConversationsOf, PRIVACY_TAG, privacyDecisionInForce, tagContact, untagContact } from './runs.js';
import type { UnitOfWork } from './unit-of-work.js';

/** The message for an address or identity another contact has: which contact, so the two can be told apart or merged by hand. */
function usedByAnother(contactId: string): string {
  return `already used by another contact (${contactId})`;
}

async function assertUnique(uow: UnitOfWork, email: string | null, phone: string | null, selfId: string | null): Promise<void> {
  if (email) {
    const other = await uow.tx.findContactByEmail(uow.workspaceId, email);
    if (other && other.id !== selfId) {
      throw new ConsentryError('CONFLICT', `Another contact (${other.id}) already has this email`, [{ path: 'email', message: usedByAnother(other.id) }]);
    }
  }
  if (phone) {
    const other = await uow.tx.findContactByPhone(uow.workspaceId, phone);
    if (other && other.id !== selfId) {
      throw new ConsentryError('CONFLICT', `Another contact (${other.id}) already has this phone`, [{ path: 'phone', message: usedByAnother(other.id) }]);
    }
  }
}

/** The channels whose identities are read as a number or an address (channelIdentityId): their ids are one. */
const IDENTITY_READ_CHANNELS = ['whatsapp', 'sms', 'email'] as const;
const isReadChannel = (channel: unknown): channel is (typeof IDENTITY_READ_CHANNELS)[number] => IDENTITY_READ_CHANNELS.some((read) => read === channel);

/**
 * What createContact and updateContact refuse in a contact's values, each check on its own, so
 * that one answer names them all: the e-mail, the phone, each identity read as a number or an
 * address (channelIdentityId) and each field name. `raw` may be input no
 * schema has parsed yet: only values of the right type are checked, a value of the wrong type is
 * the schema's to name.
 */
function contactValueRefusals(raw: unknown, settings: Pick<WorkspaceSettings, 'defaultCountry'>): ConsentryError[] {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return [];
  const input = new Map(Object.entries(raw));
  const refusals: (ConsentryError | null)[] = [];
  const email = input.get('email');
  if (typeof email === 'string') refusals.push(refusalOf(() => normalizeEmail(email)));
  const phone = input.get('phone');
  if (typeof phone === 'string') refusals.push(refusalOf(() => normalizePhone(phone, settings.defaultCountry)));
  const identities = input.get('identities');
  if (Array.isArray(identities)) {
    for (const [index, identity] of identities.entries()) {
      if (typeof identity !== 'object' || identity === null) continue;
      const channel: unknown = Reflect.get(identity, 'channel');
      const externalId: unknown = Reflect.get(identity, 'externalId');
      if (typeof externalId !== 'string' || !isReadChannel(channel)) continue;
      const refusal = refusalOf(() => channelIdentityId(channel, externalId, settings.defaultCountry));
      if (refusal === null) continue;
      // normalizePhone and normalizeEmail name `phone` and `email`; here the value is the identity's.
      const path = `identities.${index}.externalId`;
      const message = refusal.issues[0]?.message ?? refusal.message;
      refusals.push(new ConsentryError(refusal.code, `${path}: ${message}`, [{ path, message }]));
    }
  }
  const fields = input.get('fields');
  if (typeof fields === 'object' && fields !== null && !Array.isArray(fields)) {
    for (const name of Object.keys(fields)) {
      const refusal = refusalOf(() => fieldKey(name));
      // fieldKey names the field "name"; in a contact that is the contact's name, so the field is named by its key.
      refusals.push(refusal && new ConsentryError(refusal.code, refusal.message, [{ path: `fields.${name}`, message: refusal.message }]));
    }
  }
  return refusals.filter((refusal): refusal is ConsentryError => refusal !== null);
}

function issuesOfRefusals(refusals: readonly ConsentryError[]): FieldIssue[] {
  return refusals.flatMap(issuesOfRefusal);
}

/**
 * Every problem createContact or updateContact would find in a contact's e-mail, phone and field
 * names, at once and without reading the database (the bulkRowIssues of a contact). The HTTP API
 * adds them to a body its schema refuses, so a bad `name` and a bad `email` are named together.
 */
export function contactValueIssues(raw: unknown, settings: Pick<WorkspaceSettings, 'defaultCountry'>): FieldIssue[] {
  return issuesOfRefusals(contactValueRefusals(raw, settings));
}

/** Refuses an e-mail, phone or field name of `raw` the engine would refuse, naming every one at once. */
export function assertContactValues(raw: unknown, settings: Pick<WorkspaceSettings, 'defaultCountry'>): void {
  refuseAll(contactValueRefusals(raw, settings));
}

/** Refuses with every problem at once, under the code of the first (INVALID_EMAIL, INVALID_PHONE, ...). */
function refuseAll(refusals: readonly ConsentryError[]): void {
  const [first] = refusals;
  if (!first) return;
  const issues = issuesOfRefusals(refusals);
  const message = refusals.length > 1 ? describeIssues(issues) : first.message;
  throw new ConsentryError(first.code, message, issues);
}

/**
 * Whether `tag` is `Consent: Privacy`, compared as tags are compared (tagKey: letter case, spacing
 * and Unicode normalisation aside). A tag holding a control character is addTag's to refuse.
 */
export function isPrivacyTag(tag: string): boolean {
  return controlCharacterIn(tag.trim()) === undefined && tagKey(tag) === tagKey(PRIVACY_TAG);
}

/**
 * `Consent: Privacy` mirrors the ledger: the engine adds it when the contact's newest privacy
 * decision is an opt-in and takes it away at a withdrawal (followPrivacyDecision), and
 * request-consent-privacy asks nobody who has it. Added by a person or an integration while no
 * opt-in is in force, it would switch the question off with nothing on record to prove consent
 * (GDPR Art. 7(1): the controller must be able to demonstrate it); the decision is recorded
 * instead, and adds the tag.
 */
function privacyTagRefusal(path: string, tag: string, contactId: string | null, inForce: ConsentState | undefined): ConsentryError {
  const found =
    contactId === null ? 'a new contact has no privacy decision' : inForce === undefined ? 'no privacy decision is recorded' : `the privacy decision in force is an opt-out (${inForce.channel}, ${inForce.occurredAt})`;
  const record = contactId === null ? 'create the contact without it, then record the opt-in with PUT /v1/contacts/{id}' : `record the opt-in with PUT /v1/contacts/${contactId}`;
  // Said to be the privacy tag only when spelt otherwise (`CONSENT: PRIVACY`): spelt so, that goes without saying.
  const which = tag === PRIVACY_TAG ? `tag ${JSON.stringify(tag)} follows` : `tag ${JSON.stringify(tag)} is ${PRIVACY_TAG}, which follows`;
  const message = `${which} the contact's privacy decision, and ${found}: ${record}/consents/privacy/{channel}, which adds the tag`;
  return new ConsentryError('TAG_NEEDS_CONSENT', message, [{ path, message }]);
}

/** The privacy tags of a new contact's `tags`, each refused by its place: a new contact has no decision yet. `raw` may be unparsed input. */
function newContactTagRefusals(raw: unknown): ConsentryError[] {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return [];
  const tags: unknown = Reflect.get(raw, 'tags');
  if (!Array.isArray(tags)) return [];
  return tags.flatMap((tag: unknown, index) => (typeof tag === 'string' && isPrivacyTag(tag) ? [privacyTagRefusal(`tags.${index}`, tag, null, undefined)] : []));
}

/**
 * What createContact would refuse in the tags of `raw` beside their characters (the privacy tag,
 * which a new contact cannot have), for the HTTP API to name together with a body's other problems.
 */
export function newContactTagIssues(raw: unknown): FieldIssue[] {
  return issuesOfRefusals(newContactTagRefusals(raw));
}

/**
 * The spellings of an identity's number that inbound messages find (on WhatsApp the WhatsApp ID
 * and E.164, on SMS E.164 and the digits alone): another contact holding one of them has the
 * identity already. Other identities have one spelling.
 */
function identitySpellings(identity: { channel: string; externalId: string }): string[] {
  if (identity.channel === 'whatsapp') return [identity.externalId, `+${identity.externalId}`];
  if (identity.channel === 'sms' && identity.externalId.startsWith('+')) return [identity.externalId, identity.externalId.slice(1)];
  return [identity.externalId];
}

/** An e-mail or phone, named by the contact field that holds it. */
export interface AddressOfField {
  field: 'email' | 'phone';
  address: string;
}

/** Those of `addresses` an erased contact had (a digest kept by eraseContact), in the order given. */
export async function erasedAmong<A extends AddressOfField>(uow: UnitOfWork, addresses: readonly A[]): Promise<A[]> {
  if (addresses.length === 0) return [];
  const digests = addresses.map(({ field, address }) => erasedAddressDigests(uow.workspaceId, { [field]: address })[0]);
  const erased = new Set(await uow.tx.findErasedAddresses(uow.workspaceId, digests.filter((digest) => digest !== undefined)));
  return addresses.filter((_address, index) => {
    const digest = digests[index];
    return digest !== undefined && erased.has(digest);
  });
}

/** A contact as a create or a change left it, and what it did that the caller should know (heldAddresses). */
export interface ContactWithWarnings {
  contact: Contact;
  warnings: FieldIssue[];
}

const HELD_ADDRESS =
  'belonged to a contact that was erased on request: bulk opt-ins for this contact are refused until the person writes from it, or someone decides about or changes the contact by its id (set allowErased on a row to record one anyway)';

/**
 * The e-mail and phone a create or change gives the contact that an erased contact had: such a
 * contact is held as one a bulk opt-out row made is (see refuseErasedAddresses in consents.ts). A
 * CRM sync, Zapier's Create Contact or an integration copying an old list creates contacts this
 * way before it sends their opt-ins in bulk; the person coming back writes, or is decided about by
 * the contact's id.
 */
async function heldAddresses(uow: UnitOfWork, before: Contact | null, after: { email: string | null; phone: string | null }): Promise<FieldIssue[]> {
  const given = (['email', 'phone'] as const).flatMap((field): AddressOfField[] => {
    const address = after[field];
    return address !== null && address !== before?.[field] ? [{ field, address }] : [];
  });
  return (await erasedAmong(uow, given)).map(({ field }) => ({ path: field, message: HELD_ADDRESS }));
}

export async function createContact(uow: UnitOfWork, input: z.output<typeof ContactInputSchema>): Promise<ContactWithWarnings> {
  refuseAll([...contactValueRefusals(input, uow.workspace.settings), ...newContactTagRefusals(input)]);
  const email = input.email ? normalizeEmail(input.email) : null;
  const phone = input.phone ? normalizePhone(input.phone, uow.workspace.settings.defaultCountry) : null;
  await assertUnique(uow, email, phone, null);
  let contact: Contact = uow.blankContact({ name: input.name ?? null, email, phone });
  for (const [index, given] of (input.identities ?? []).entries()) {
    // Stored as the channel sends the sender id, so that the contact's own messages (a STOP) find it.
    const identity = { channel: given.channel, externalId: channelIdentityId(given.channel, given.externalId, uow.workspace.settings.defaultCountry) };
    for (const spelling of identitySpellings(identity)) {
      const taken = await uow.tx.findContactByIdentity(uow.workspaceId, identity.channel, spelling);
      if (taken) {
        throw new ConsentryError('CONFLICT', `Another contact (${taken.id}) already has this ${identity.channel} identity`, [
          { path: `identities.${index}`, message: usedByAnother(taken.id) },
        ]);
      }
    }
    contact = addIdentity(contact, identity).contact;
  }
  for (const [name, value] of Object.entries(input.fields ?? {})) contact = setField(contact, name, value).contact;
  // Held after its identities are added: a message from one of them is the person writing.
  const warnings = await heldAddresses(uow, null, contact);
  contact = await uow.insertContact(warnings.length > 0 ? withErasedAddressGuard(contact, true) : contact);
  for (const tag of input.tags ?? []) contact = await tagContact(uow, contact, tag);
  return { contact, warnings };
}

/**
 * `email: null` or `phone: null` removes the address only from a contact without consent
 * decisions. Once one is recorded, the address is how later messages and imports find the contact
 * and so its decisions: without it, the next message from that address would make a new contact
 * to whom an earlier opt-out does not apply. The ledger itself never changes; the address can be
 * replaced, or the contact erased.
 */
async function identityRemovalRefusals(uow: UnitOfWork, contact: Contact, patch: z.output<typeof ContactPatchSchema>): Promise<ConsentryError[]> {
  const removed = (['email', 'phone'] as const).filter((field) => patch[field] === null && contact[field] !== null);
  if (removed.length === 0) return [];
  if ((await uow.tx.getConsentStates(uow.workspaceId, contact.id)).length === 0) return [];
  return removed.map((field) => {
    const message = 'cannot be removed from a contact with consent decisions: it is how they are found; replace it, or erase the contact';
    return new ConsentryError('VALIDATION_FAILED', `${field} ${message}`, [{ path: field, message }]);
  });
}

/**
 * A JSON Merge Patch of a contact (RFC 7396): `null` clears the name and removes a field (see
 * identityRemovalRefusals for e-mail and phone). A change to the contact named by its id is a
 * decision about the contact as it is now: it lifts the contact's erasedAddressGuard, even when
 * it changes nothing else, unless it gives the contact an e-mail or phone an erased contact had
 * (heldAddresses), which holds it, as creating it with that address does.
 */
export async function updateContact(uow: UnitOfWork, id: string, patch: z.output<typeof ContactPatchSchema>): Promise<ContactWithWarnings> {
  let warnings: FieldIssue[] = [];
  const changed = await changeContact(uow, id, patch, async (before, after) => {
    warnings = await heldAddresses(uow, before, after);
    return warnings.length > 0;
  });
  return { contact: changed, warnings };
}

/**
 * What a bulk row changes in the contact it found (src/engine/consents.ts): the e-mail or phone it
 * adds, changed as updateContact changes them, and its erasedAddressGuard, which `guard` sets
 * (the row brought an address of an erased contact), lifts (the row says `allowErased`, or names
 * the contact by id and brings no such address) or, undefined, keeps: a row is not the person
 * coming back.
 */
export async function applyRowToContact(uow: UnitOfWork, id: string, addresses: { email?: string; phone?: string }, guard: boolean | undefined): Promise<Contact> {
  return changeContact(uow, id, addresses, guard);
}

/**
 * Ends the contact's erasedAddressGuard once a consent was set by its id (setConsent): a decision
 * about the contact as it is now. Writes only when the guard was set.
 */
export async function liftErasedAddressGuard(uow: UnitOfWork, id: string): Promise<Contact> {
  const contact = await uow.requireContact(id);
  return contact.erasedAddressGuard !== undefined ? uow.saveContact(withErasedAddressGuard(contact, false)) : contact;
}

/**
 * How many fields the contact holds once `change` is applied as changeContact applies it: each
 * name under its key (fieldKey, as setField stores it), `null` removing it, and `fields: null`
 * removing every one (RFC 7396 §2). A name fieldKey refuses changes nothing: it is refused by name.
 */
function fieldCountAfter(fields: Contact['fields'], change: z.output<typeof ContactPatchSchema>['fields']): number {
  if (change === null) return 0;
  const keys = new Set(Object.keys(fields));
  for (const [name, value] of Object.entries(change ?? {})) {
    refusalOf(() => (value === null ? keys.delete(fieldKey(name)) : keys.add(fieldKey(name))));
  }
  return keys.size;
}

/**
 * A patch that leaves the contact with more than CONTACT_FIELDS_MAX fields, and more than it has,
 * is refused: a contact that holds more from before the cap keeps them, and can still be changed
 * as long as the change leaves it no more fields than it has. Counted in the patch's transaction,
 * on the contact as it is there, so that two patches adding fields at once cannot both pass.
 */
function fieldCapRefusals(contact: Contact, patch: z.output<typeof ContactPatchSchema>): ConsentryError[] {
  if (patch.fields === undefined || patch.fields === null) return [];
  const count = fieldCountAfter(contact.fields, patch.fields);
  if (count <= CONTACT_FIELDS_MAX || count <= Object.keys(contact.fields).length) return [];
  const message = tooManyFieldsMessage(count, { patch: true });
  return [new ConsentryError('VALIDATION_FAILED', `fields ${message}`, [{ path: 'fields', message }])];
}

/**
 * `guard`: true sets the contact's erasedAddressGuard, false lifts it, undefined keeps it as it is;
 * a function decides from the contact before and after the change.
 */
async function changeContact(
  uow: UnitOfWork,
  id: string,
  patch: z.output<typeof ContactPatchSchema>,
  guardOf: boolean | undefined | ((before: Contact, after: Contact) => Promise<boolean>),
): Promise<Contact> {
  const contact = await uow.requireLiveContact(id);
  refuseAll([...contactValueRefusals(patch, uow.workspace.settings), ...(await identityRemovalRefusals(uow, contact, patch)), ...fieldCapRefusals(contact, patch)]);
  let next: Contact = { ...contact };
  const changes: string[] = [];
  if (patch.name !== undefined && patch.name !== contact.name) {
    next.name = patch.name;
    changes.push('name');
  }
  if (patch.email !== undefined) {
    const email = patch.email === null ? null : normalizeEmail(patch.email);
    if (email !== contact.email) {
      await assertUnique(uow, email, null, id);
      next.email = email;
      changes.push('email');
    }
  }
  if (patch.phone !== undefined) {
    const phone = patch.phone === null ? null : normalizePhone(patch.phone, uow.workspace.settings.defaultCountry);
    if (phone !== contact.phone) {
      await assertUnique(uow, null, phone, id);
      next.phone = phone;
      changes.push('phone');
    }
  }
  // `fields: null` removes the member whole (RFC 7396 §2): every field goes.
  const fieldChanges = patch.fields === null ? Object.fromEntries(Object.keys(contact.fields).map((name) => [name, null])) : (patch.fields ?? {});
  for (const [name, value] of Object.entries(fieldChanges)) {
    const result = setField(next, name, value);
    if (result.changed) {
      next = result.contact;
      changes.push(`fields.${name}`);
    }
  }
  const guard = typeof guardOf === 'function' ? await guardOf(contact, next) : guardOf;
  const guarded = contact.erasedAddressGuard !== undefined;
  const guardChanges = guard !== undefined && guard !== guarded;
  if (changes.length === 0 && !guardChanges) return contact;
  const saved = await uow.saveContact(guardChanges ? withErasedAddressGuard(next, guard) : next);
  // The guard is Consentry's own bookkeeping, not the person's data: no event announces it.
  if (changes.length > 0) await uow.emit('contact.updated', { contactId: id, changes }, id);
  return saved;
}

/**
 * Tags a contact from outside (the API, Zapier, the simulator). `Consent: Privacy` only while the
 * contact's privacy decision in force is an opt-in, when the engine has added it already, or adds
 * it back after a removal by hand (see privacyTagRefusal).
 */
export async function addContactTag(uow: UnitOfWork, id: string, tag: string): Promise<Contact> {
  const contact = await uow.requireLiveContact(id);
  if (isPrivacyTag(tag)) {
    const inForce = await privacyDecisionInForce(uow, contact.id);
    if (inForce?.status !== 'opted_in') throw privacyTagRefusal('tag', tag, contact.id, inForce);
    // Spelt as the engine spells it when a decision adds it, whatever case the caller wrote.
    return tagContact(uow, contact, PRIVACY_TAG);
  }
  return tagContact(uow, contact, tag);
}

/**
 * Untags a contact from outside. Taking `Consent: Privacy` away is allowed whatever the ledger
 * holds: without the tag the contact is asked again at the next conversation, and the answer is
 * recorded as a new decision, so nothing is claimed that the ledger does not prove (a business
 * asks again this way after changing its privacy policy, and clears a tag added by hand before
 * it was refused). The decision on record stays as it is; a withdrawal is recorded as one. The
 * contact's open conversations are closed, as at a withdrawal: only a new conversation asks
 * (DESIGN §4), and one that stayed open would never ask a contact who keeps writing in it.
 */
export async function removeContactTag(uow: UnitOfWork, id: string, tag: string): Promise<Contact> {
  const contact = await uow.requireLiveContact(id);
  const untagged = await untagContact(uow, contact, tag);
  if (untagged !== contact && isPrivacyTag(tag)) {
    for (const conversation of await openConversationsOf(uow, contact.id)) await closeConversationAndRuns(uow, conversation, null);
  }
  return untagged;
}

/**
 * A page of contacts. The query's e-mail, phone and cursor are checked together, so that one
 * answer names every bad one.
 */
export async function findContacts(uow: UnitOfWork, query: ContactQuery): Promise<{ contacts: Contact[]; nextCursor: string | null }> {
  const addresses = { ...(query.email ? { email: query.email } : {}), ...(query.phone ? { phone: query.phone } : {}) };
  const refusals = contactValueRefusals(addresses, uow.workspace.settings);
  // Contacts are never deleted (erasure keeps a tombstone).
  if (query.afterId !== undefined && !(await uow.tx.getContact(uow.workspaceId, query.afterId))) {
    refusals.push(unknownCursor('afterId', `contact ${shownId(query.afterId)} in this workspace`));
  }
  refuseAll(refusals);
  const normalized: ContactQuery = { ...query, limit: query.limit + 1 };
  if (addresses.email !== undefined) normalized.email = normalizeEmail(addresses.email);
  if (addresses.phone !== undefined) normalized.phone = normalizePhone(addresses.phone, uow.workspace.settings.defaultCountry);
  const page = pageOf(await uow.tx.listContacts(uow.workspaceId, normalized), query.limit, (contact) => contact.id);
  return { contacts: page.items, nextCursor: page.next };
}

/** The outbox keeps events for deliveries and the events API: an erased contact's are redacted too. */
async function redactContactEvents(uow: UnitOfWork, contactId: string): Promise<number> {
  let count = 0;
  let beforeId: string | undefined;
  for (;;) {
    const page = await uow.tx.listEvents(uow.workspaceId, { contactId, limit: 500, ...(beforeId ? { beforeId } : {}) });
    for (const event of page) {
      const redacted = redactEventData(event);
      if (JSON.stringify(redacted) !== JSON.stringify(event.data) && (await uow.tx.replaceEventData(uow.workspaceId, event.id, redacted))) count++;
    }
    const last = page[page.length - 1];
    if (page.length < 500 || !last) return count;
    beforeId = last.id;
  }
}

/**
 * A reply to the outbound webhook is a message to the person (README, outbound webhook), and
 * erasure ends contact with them (GDPR Art. 17): the replies still waiting to go out (not sent
 * yet, or waiting for a retry) are closed in the erasure's own transaction, as the dispatcher
 * closes one it finds later, so none is sent once the erasure has answered. The contact's events
 * to hooks are not replies and go out as any other (their data is redacted).
 */
async function closeContactReplies(uow: UnitOfWork, contactId: string): Promise<number> {
  return uow.tx.abandonRepliesToContact(uow.workspaceId, contactId, NOT_SENT_TO_ERASED_CONTACT, uow.nowIso);
}

/** The answers kept for repeated deliveries of the contact's messages quote them; a repeated delivery replays the redacted answer. */
async function redactContactAnswers(uow: UnitOfWork, contactId: string): Promise<number> {
  let count = 0;
  for (const message of await uow.tx.listProcessedMessagesOfContact(uow.workspaceId, contactId)) {
    const redacted = redactStoredResponse(message.response);
    if (redacted && (await uow.tx.replaceProcessedResponse(uow.workspaceId, message.channel, message.messageId, redacted.response))) count++;
  }
  return count;
}

/** Finished runs keep the last answer the contact gave (an email, a phone, free text) and the texts sent to them, rendered with their name, in their state. */
async function redactContactRuns(uow: UnitOfWork, contactId: string): Promise<number> {
  let count = 0;
  for (const run of await uow.tx.listRunsOfContact(uow.workspaceId, contactId)) {
    const redacted = redactStoredRunState(run.state);
    if (!redacted) continue;
    // A finished run's updatedAt is when it ended (runReport's endedAt): redacting its texts does not move it.
    await uow.tx.updateRun({ ...run, state: redacted.state });
    count++;
  }
  return count;
}

export interface ContactErasure {
  contact: Contact;
  /** Consent records whose evidence was replaced by `{ redacted: true }`. */
  redactedRecords: number;
  /** Outbox events whose data lost what quotes the contact. */
  redactedEvents: number;
  /** Stored answers to the contact's inbound messages whose texts were erased. */
  redactedMessages: number;
  /** Workflow runs whose last accepted answer or shown texts were erased. */
  redactedRuns: number;
}

export interface EraseOptions {
  /**
   * Whether a digest of the contact's e-mail and phone is kept, so that a bulk row bringing one
   * back with an opt-in is refused (erasedAddressDigests, src/core/contact.ts). Default true;
   * false forgets the addresses completely, and an old export can then opt the person in again.
   */
  keepErasedAddresses?: boolean;
}

/**
 * GDPR Art. 17 erasure: personal data and evidence text are removed, the consent records
 * stay (the chain still verifies, because hashes cover an evidence digest, not the text).
 * Erasing an erased contact again leaves the contact and its records as they are, but redacts
 * what is still left of the person elsewhere (data stored before erasure covered it) and counts it.
 */
export async function eraseContact(uow: UnitOfWork, id: string, options: EraseOptions = {}): Promise<ContactErasure> {
  const contact = await uow.requireContact(id);
  if (contact.erasedAt !== null) {
    await closeContactReplies(uow, id);
    return {
      contact,
      redactedRecords: 0,
      redactedEvents: await redactContactEvents(uow, id),
      redactedMessages: await redactContactAnswers(uow, id),
      redactedRuns: await redactContactRuns(uow, id),
    };
  }
  for (const run of await uow.tx.listActiveRuns(uow.workspaceId, id)) {
    // A run whose state the runtime cannot read cannot be cancelled through it; it is ended as
    // the scheduler ends such a run, so it does not stand in the way of the erasure.
    if (RunStateSchema.safeParse(run.state).success) await cancelWorkflowRun(uow, run, 'cancelled');
    else await abandonWorkflowRun(uow, run);
  }
  if (options.keepErasedAddresses ?? true) await uow.tx.addErasedAddresses(uow.workspaceId, erasedAddressDigests(uow.workspaceId, contact));
  const redactedRecords = await uow.tx.redactConsentEvidence(uow.workspaceId, id, redactedEvidence());
  const redactedEvents = await redactContactEvents(uow, id);
  await closeContactReplies(uow, id);
  const redactedMessages = await redactContactAnswers(uow, id);
  const redactedRuns = await redactContactRuns(uow, id);
  const erased = await uow.saveContact(eraseContactData(contact, uow.nowIso));
  await uow.emit('contact.updated', { contactId: id, changes: ['erased'] }, id);
  return { contact: erased, redactedRecords, redactedEvents, redactedMessages, redactedRuns };
}

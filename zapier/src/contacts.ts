import type { Bundle, ZObject } from 'zapier-platform-core';
import { z as zod } from 'zod';
import {
  apiPath,
  callApi,
  callApiOrFailure,
  callApiOrNull,
  refusalOf,
  throwForFailure,
  ConsentListSchema,
  type ConsentStateJson,
  type ContactJson,
  ContactSchema,
} from './api.js';
import type { ContactSelector } from './inputs.js';
import { BUILT_IN_PURPOSES, channelLabel, legalBasisLabel, MESSAGING_CHANNELS } from './inputs.js';
import { tagKey } from './tags.js';
import { keyWithinConnection, unclearAttempt, type UnclearAttempt } from './unclear-attempts.js';

/** A contact with the channel identities it wrote from, which also decide where it can be reached. */
const ContactRecordSchema = ContactSchema.extend({
  identities: zod.array(zod.object({ channel: zod.string(), externalId: zod.string() })).default([]),
});
export type ContactRecord = zod.output<typeof ContactRecordSchema>;

const ContactRecordListSchema = zod.object({ data: zod.array(ContactRecordSchema) });

export { tagKey } from './tags.js';

/**
 * The contact with this ID; `null` when Consentry has none (404). An erased contact is still there,
 * with `erasedAt` set and no name, email or phone (the server's `GET /v1/contacts/{id}` answers it
 * 200): each caller decides what that means for it.
 */
export function contactById(z: ZObject, bundle: Bundle, contactId: string): Promise<ContactJson | null> {
  return callApiOrNull(z, bundle, { path: apiPath('v1', 'contacts', contactId), schema: ContactSchema });
}

/**
 * A step that acts on an erased contact: Consentry refuses every change to it (410
 * `CONTACT_ERASED`), so it is a pre-condition not met, a halt, said in those words rather than as
 * a missing phone or a bare "Gone" (https://github.com/zapier/zapier-platform/blob/main/packages/cli/README.md#halting-execution).
 */
function erased(z: ZObject, contactId: string, erasedAt: string): Error {
  return new z.errors.HaltedError(
    `Contact ${contactId} was erased in Consentry on ${erasedAt}: it has no name, email or phone left, and Consentry refuses every change to it.`,
  );
}

/** The two addresses a step may name a contact by, as the contact stores them. */
type Address = 'email' | 'phone';

const ADDRESS_NOUN: Record<Address, string> = { email: 'email', phone: 'phone number' };

/** The address that reaches a contact on a channel without an identity there: the phone on SMS and WhatsApp, the email on email. */
function addressFor(channel: string | undefined): Address | null {
  if (channel === 'sms' || channel === 'whatsapp') return 'phone';
  return channel === 'email' ? 'email' : null;
}

/** The address that reaches the contact on the step's channel is looked up first; the email first on any other channel or none. */
function addressOrder(channel: string | undefined): Address[] {
  return addressFor(channel) === 'phone' ? ['phone', 'email'] : ['email', 'phone'];
}

/**
 * An address as the server stores it when it is written in that form: an email trimmed and in
 * lower case, a phone in E.164 without the spaces, dots, dashes and brackets people write it with.
 * Another spelling (a number without its country code) is the server's to read.
 */
function spelt(address: Address, value: string): string {
  return address === 'email' ? value.trim().toLowerCase() : value.replace(/[\s().-]/g, '');
}

/** What looking a contact up by one address found: the contact, nobody, or a value the server refused (its words). */
type Lookup = { found: ContactRecord } | { found: null } | { refused: string; error: Error };

async function lookUp(z: ZObject, bundle: Bundle, address: Address, value: string, tolerateRefusal: boolean): Promise<Lookup> {
  try {
    const list = await callApi(z, bundle, { path: '/v1/contacts', params: { [address]: value, limit: 1 }, schema: ContactRecordListSchema });
    return { found: list.data[0] ?? null };
  } catch (error) {
    const refusal = tolerateRefusal ? refusalOf(error) : null;
    if (refusal === null || refusal.status !== 422 || !(error instanceof Error)) throw error;
    return { refused: withoutPath(refusal.message, address), error };
  }
}

/** The server's words on one address without the `phone: ` it starts them with, for a warning that names the address itself. */
function withoutPath(words: string, address: Address): string {
  return words.startsWith(`${address}: `) ? words.slice(address.length + 2) : words;
}

/** The given addresses, each with what looking it up found, in addressOrder. */
type AddressLookups = { address: Address; value: string; lookup: Lookup }[];

/**
 * Looks every given address up. With two given, a value the server refuses (an unreadable phone)
 * is set aside so that the other still finds the contact; with one, or when both are refused, the
 * refusal is the step's error.
 */
async function lookUpAddresses(z: ZObject, bundle: Bundle, selector: ContactSelector, channel: string | undefined): Promise<AddressLookups> {
  const given = addressOrder(channel).flatMap((address) => {
    const value = selector[address];
    return value === undefined ? [] : [{ address, value }];
  });
  const lookups: AddressLookups = [];
  for (const { address, value } of given) {
    lookups.push({ address, value, lookup: await lookUp(z, bundle, address, value, given.length > 1) });
  }
  const [first] = lookups;
  if (first && 'refused' in first.lookup && lookups.every(({ lookup }) => 'refused' in lookup)) throw first.lookup.error;
  return lookups;
}

/**
 * The one contact the addresses find. An email and a phone that find two different contacts are an
 * error naming both: either could be the person the step is about, and picking one would record a
 * decision (an SMS opt-out) on a contact the channel never reaches.
 */
function onlyContactFound(z: ZObject, lookups: AddressLookups): ContactRecord | null {
  const found = lookups.flatMap(({ address, value, lookup }) => ('found' in lookup && lookup.found ? [{ address, value, contact: lookup.found }] : []));
  const [first, ...others] = found;
  if (!first) return null;
  const other = others.find((candidate) => candidate.contact.id !== first.contact.id);
  if (other) {
    throw new z.errors.Error(
      `The ${ADDRESS_NOUN[first.address]} ${first.value} and the ${ADDRESS_NOUN[other.address]} ${other.value} belong to two different Consentry contacts: ${first.contact.id} (by ${first.address}) and ${other.contact.id} (by ${other.address}). Map the Contact ID of the one this step is about, or give only one of the two.`,
      'AMBIGUOUS_CONTACT',
      409,
    );
  }
  return first.contact;
}

/**
 * The contact an ID, an email or a phone names; `null` when Consentry has none. Given an email and a
 * phone, both are looked up (the one the channel reaches first) and must not name two contacts.
 */
export async function findContact(z: ZObject, bundle: Bundle, selector: ContactSelector, channel?: string): Promise<ContactJson | null> {
  if (selector.contactId !== undefined) return contactById(z, bundle, selector.contactId);
  return onlyContactFound(z, await lookUpAddresses(z, bundle, selector, channel));
}

export interface NewContact {
  name?: string | undefined;
  email?: string | undefined;
  phone?: string | undefined;
  tags?: string[];
}

/**
 * The memory of a create that ended without an answer, keyed by the addresses it sends as the
 * server spells them and by the connection (keyWithinConnection): a replay of that step sends the
 * same.
 */
function unclearCreate(z: ZObject, bundle: Bundle, input: NewContact): UnclearAttempt {
  const addresses = addressOrder(undefined).map((address) => {
    const value = input[address];
    return value === undefined ? null : spelt(address, value);
  });
  return unclearAttempt(z, keyWithinConnection(z, bundle, 'create_contact:unclear_create', addresses));
}

/**
 * Creates the contact (`POST /v1/contacts`); `created` is false when it is the one an earlier
 * attempt of this create made without its answer coming back. Zapier replays a step after a
 * ThrottledError, and the replay of a create that did reach the server is refused 409 naming the
 * `email` or `phone` the first attempt stored. The app remembers an attempt whose outcome was
 * unclear (a connection cut or a time-out after the request was sent, a 5xx but a 503 with which
 * the server says nothing changed: api.ts, unclear-attempts.ts); only after one is the contact
 * holding the address taken as that attempt's, and only when it holds just what this create sends
 * (see `isAsCreated`). Any other 409 stands: the address is another contact's, made by an import,
 * the API, HubSpot or another step, and the step halts (middleware).
 */
export async function createContact(z: ZObject, bundle: Bundle, input: NewContact): Promise<{ contact: ContactRecord; created: boolean }> {
  const body: Record<string, unknown> = {};
  if (input.name !== undefined) body.name = input.name;
  if (input.email !== undefined) body.email = input.email;
  if (input.phone !== undefined) body.phone = input.phone;
  if (input.tags !== undefined && input.tags.length > 0) body.tags = input.tags;
  const unclear = unclearCreate(z, bundle, input);
  const call = { method: 'POST' as const, path: '/v1/contacts', body, schema: ContactRecordSchema, onUnclearOutcome: unclear.remember };
  const answer = await callApiOrFailure(z, bundle, call, [409]);
  if (answer.ok) {
    // The addresses were free: no earlier attempt made a contact with them.
    await unclear.forget();
    return { contact: answer.data, created: true };
  }
  const named = (answer.failure.problem.errors ?? []).some((issue) => issue.path === 'email' || issue.path === 'phone');
  const existing = named && (await unclear.happened()) ? await contactAsCreated(z, bundle, input) : null;
  if (existing === null) return throwForFailure(z, bundle, call, answer.failure.response);
  return { contact: existing, created: false };
}

/**
 * The one contact that every address of `input` finds (each looked up as the server reads it, so a
 * phone written another way still finds it), when it holds just what a create with `input` makes:
 * no address `input` leaves out, the same name when one is given, and every tag given. Null
 * otherwise.
 */
async function contactAsCreated(z: ZObject, bundle: Bundle, input: NewContact): Promise<ContactRecord | null> {
  let found: ContactRecord | null = null;
  for (const address of addressOrder(undefined)) {
    const value = input[address];
    if (value === undefined) continue;
    const lookup = await lookUp(z, bundle, address, value, false);
    if (!('found' in lookup) || lookup.found === null) return null;
    if (found !== null && lookup.found.id !== found.id) return null;
    found = lookup.found;
  }
  return found !== null && isAsCreated(found, input) ? found : null;
}

function isAsCreated(contact: ContactRecord, input: NewContact): boolean {
  if (addressOrder(undefined).some((address) => input[address] === undefined && contact[address] !== null)) return false;
  if (input.name !== undefined && contact.name !== input.name.trim()) return false;
  const held = new Set(contact.tags.map(tagKey));
  return (input.tags ?? []).every((tag) => held.has(tagKey(tag)));
}

/**
 * The address a contact lacks to be reached on a channel, as the server judges it
 * (reachableAddressOn): an identity on the channel, else the phone on SMS and WhatsApp, the email
 * on email. Null when it has it, and on Messenger, Telegram and web chat, which reach a person only
 * in a conversation they started: the server judges those for a contact that exists, and a new
 * one, which has started none, is refused before it is made (createFromAddresses).
 */
function missingAddress(contact: Pick<ContactRecord, 'email' | 'phone' | 'identities'>, channel: string): Address | null {
  if (contact.identities.some((identity) => identity.channel === channel)) return null;
  const needed = addressFor(channel);
  return needed !== null && contact[needed] === null ? needed : null;
}

const ADDRESS_FIELD: Record<Address, string> = { email: 'Contact Email', phone: 'Contact Phone' };

/**
 * A contact that cannot be reached on the channel is a pre-condition not met, which a Zap that asks
 * every new lead meets daily: a halt, not an error that counts toward switching the Zap off
 * (https://github.com/zapier/zapier-platform/blob/main/packages/cli/README.md#halting-execution).
 */
function unreachable(z: ZObject, what: string, address: Address, notes: readonly string[]): Error {
  const why = notes.length > 0 ? ` (${notes.join('; ')})` : '';
  return new z.errors.HaltedError(`${what}${why}. Map the contact's ${ADDRESS_NOUN[address]} into ${ADDRESS_FIELD[address]} to reach it there.`);
}

/** A warning, one line: the address given, the contact it was not added to, and why. */
function notAdded(address: Address, value: string, contactId: string, why: string): string {
  return `${address}: ${value} was not added to contact ${contactId}: ${why}`;
}

/**
 * Adds an address the contact has none of (`PATCH /v1/contacts/{id}`, a JSON Merge Patch that
 * leaves everything else as it is). One the server refuses (409: another contact has it; 422: it
 * does not read as an email or phone) is not added, and the step says so in a warning instead of
 * failing: the decision the step records is still the contact's.
 */
async function addAddress(
  z: ZObject,
  bundle: Bundle,
  contact: ContactRecord,
  address: Address,
  value: string,
): Promise<{ contact: ContactRecord; warning: string | null }> {
  let updated: ContactRecord | null;
  try {
    updated = await callApiOrNull(
      z,
      bundle,
      { method: 'PATCH', path: apiPath('v1', 'contacts', contact.id), body: { [address]: value }, schema: ContactRecordSchema },
      [409],
    );
  } catch (error) {
    const refusal = refusalOf(error);
    if (refusal === null || refusal.status !== 422) throw error;
    return { contact, warning: notAdded(address, value, contact.id, withoutPath(refusal.message, address)) };
  }
  if (updated) return { contact: updated, warning: null };
  const holder = await lookUp(z, bundle, address, value, true);
  const owner = 'found' in holder && holder.found ? `contact ${holder.found.id}` : 'another contact';
  return { contact, warning: notAdded(address, value, contact.id, `${owner} already has it`) };
}

/** Whether the contact holds the address as given, spelt as the server stores it (see `spelt`). */
function holdsAsWritten(contact: ContactRecord, address: Address, value: string): boolean {
  const held = contact[address];
  return held !== null && held === spelt(address, value);
}

/**
 * Completes the contact with the addresses the step was given: one it has none of is added, so a
 * later message or search by it finds this contact; one it has another value for is kept as it is
 * (a step does not rewrite a contact's data, as `POST /v1/consents/bulk` does not) and named in a
 * warning, as is one that names another contact or that the server refuses.
 */
async function completeContact(
  z: ZObject,
  bundle: Bundle,
  contact: ContactRecord,
  selector: ContactSelector,
  lookups: AddressLookups | null,
): Promise<{ contact: ContactRecord; warnings: string[] }> {
  let current = contact;
  const warnings: string[] = [];
  for (const address of addressOrder(undefined)) {
    const value = selector[address];
    if (value === undefined) continue;
    let lookup = lookups?.find((entry) => entry.address === address)?.lookup;
    if (lookup === undefined && current[address] !== null) {
      // Found by ID: whether another spelling is the value the contact holds is the server's to say.
      if (holdsAsWritten(current, address, value)) continue;
      lookup = await lookUp(z, bundle, address, value, true);
    }
    if (lookup !== undefined && 'refused' in lookup) {
      warnings.push(notAdded(address, value, current.id, lookup.refused));
    } else if (lookup?.found) {
      if (lookup.found.id !== current.id) warnings.push(notAdded(address, value, current.id, `contact ${lookup.found.id} already has it`));
    } else if (current[address] === null) {
      const added = await addAddress(z, bundle, current, address, value);
      current = added.contact;
      if (added.warning !== null) warnings.push(added.warning);
    } else {
      const held = `it has another ${ADDRESS_NOUN[address]}, ${current[address]} (change it in Consentry if this one is new)`;
      warnings.push(notAdded(address, value, current.id, held));
    }
  }
  return { contact: current, warnings };
}

export interface ResolveOptions {
  /** By email or phone, create the contact when Consentry has none. */
  createIfMissing: boolean;
  /** The step's channel: its address is looked up first. */
  channel?: string;
  /** Halt unless the contact can be reached on `channel`; a contact that could not be is never created. */
  requireReachable?: boolean;
  /**
   * Run just before a contact is created for the step, and only then: it throws what the server
   * would refuse in the step's own call, so that a refused step leaves no new contact behind. A
   * contact that exists needs no such check: the server refuses that call without changing it.
   */
  beforeCreate?: () => Promise<void>;
}

/**
 * The contact a step acts on, completed with the email or phone it was given and lacked, and the
 * warnings for what could not be added. By email or phone it is created when missing (a lead that
 * arrives from a form is new to Consentry); an ID that does not exist is an error, never a new
 * contact.
 */
export async function resolveContact(
  z: ZObject,
  bundle: Bundle,
  selector: ContactSelector,
  options: ResolveOptions,
): Promise<{ contact: ContactRecord; warnings: string[] }> {
  const { channel } = options;
  const reachOn = options.requireReachable ? channel : undefined;
  let resolved: { contact: ContactRecord; warnings: string[] };
  if (selector.contactId !== undefined) {
    const byId = await callApi(z, bundle, { path: apiPath('v1', 'contacts', selector.contactId), schema: ContactRecordSchema });
    if (byId.erasedAt !== null) throw erased(z, byId.id, byId.erasedAt);
    resolved = await completeContact(z, bundle, byId, selector, null);
  } else {
    const lookups = await lookUpAddresses(z, bundle, selector, channel);
    const found = onlyContactFound(z, lookups);
    if (found === null) return createFromAddresses(z, bundle, selector, lookups, { ...options, reachOn });
    resolved = await completeContact(z, bundle, found, selector, lookups);
  }
  const missing = reachOn === undefined ? null : missingAddress(resolved.contact, reachOn);
  if (missing !== null) {
    throw unreachable(z, `Contact ${resolved.contact.id} cannot be reached on ${reachOn}: it has no ${ADDRESS_NOUN[missing]}`, missing, resolved.warnings);
  }
  return resolved;
}

/**
 * Why a contact that has not written on a channel cannot be reached there, in the server's words
 * (its MISSING_ADDRESS, engine/runs.ts), for the channels no email or phone reaches: a new contact
 * has written on none of them, and has no conversation open there.
 */
const NOT_WRITTEN_ON: Readonly<Record<string, string>> = {
  messenger: 'it has not written on Messenger (a page can only message the page-scoped id a person writes from)',
  telegram: 'it has not written on Telegram (a bot can only message a chat a person started)',
  webchat: 'it has no web chat session',
};

/**
 * A contact for addresses no contact has yet, made with those the server can read. One that must
 * be reachable on a channel is checked first, then the step's `beforeCreate`, so that a lead the
 * step cannot reach, or a step the server would refuse, leaves no contact behind.
 */
async function createFromAddresses(
  z: ZObject,
  bundle: Bundle,
  selector: ContactSelector,
  lookups: AddressLookups,
  options: Pick<ResolveOptions, 'createIfMissing' | 'beforeCreate'> & { reachOn: string | undefined },
): Promise<{ contact: ContactRecord; warnings: string[] }> {
  const { reachOn } = options;
  const named = lookups.map(({ value }) => value).join(' or ');
  if (!options.createIfMissing) throw new z.errors.Error(`Not found: no Consentry contact has ${named}`, 'NOT_FOUND', 404);
  const usable = (address: Address) => lookups.find((entry) => entry.address === address && !('refused' in entry.lookup))?.value;
  const email = usable('email');
  const phone = usable('phone');
  const refusals = lookups.flatMap(({ address, value, lookup }) => ('refused' in lookup ? [{ address, value, why: lookup.refused }] : []));
  const notWritten = reachOn === undefined ? undefined : NOT_WRITTEN_ON[reachOn];
  if (reachOn !== undefined && notWritten !== undefined) {
    // The server's refusal (422 CONTACT_UNREACHABLE, a halt: see throwForProblem), said before a
    // contact is made that the step could not ask.
    throw new z.errors.HaltedError(
      `No contact was created: ${named} cannot be reached on ${reachOn}: ${notWritten}. Ask on a channel its email or phone reaches (Email, SMS, WhatsApp), or on ${channelLabel(reachOn)} once the contact has written there.`,
    );
  }
  const missing = reachOn === undefined ? null : missingAddress({ email: email ?? null, phone: phone ?? null, identities: [] }, reachOn);
  if (missing !== null) {
    const notes = refusals.map(({ address, value, why }) => `${address}: ${value}: ${why}`);
    throw unreachable(z, `No contact was created: ${named} cannot be reached on ${reachOn} without a ${ADDRESS_NOUN[missing]}`, missing, notes);
  }
  await options.beforeCreate?.();
  const { contact } = await createContact(z, bundle, { name: selector.name, email, phone });
  return { contact, warnings: refusals.map(({ address, value, why }) => notAdded(address, value, contact.id, why)) };
}

/** Zapier's field for what a step could not add to its contact, worded and shaped as Send Inbound Message's `warnings`. */
export const WARNINGS_OUTPUT_FIELD = { key: 'warnings', label: 'Warnings (an email or phone not added to the contact, one per line)' };

/** Warnings one per line, for a Zap to show or filter on. */
export function warningsText(warnings: readonly string[]): string {
  return warnings.join('\n');
}

/** A contact as a Zapier item: flat fields, plus the tags as one comma list for text-only steps. */
export function contactItem(contact: ContactJson) {
  return {
    id: contact.id,
    name: contact.name,
    email: contact.email,
    phone: contact.phone,
    tags: contact.tags,
    tagList: contact.tags.join(', '),
    fields: contact.fields,
    createdAt: contact.createdAt,
    updatedAt: contact.updatedAt,
  };
}

/** A consent row as an item: `status` as recorded, `effectiveStatus` the one in force on its channel. */
export function consentItem(state: ConsentStateJson) {
  return { ...state, legalBasisLabel: legalBasisLabel(state.legalBasis) };
}

/** DESIGN §2: the channel `any` addresses every channel at once (a STOP ALL). */
const EVERY_CHANNEL = 'any';

/**
 * The status in force on every messaging channel, and on `any`, for each purpose the contact has a
 * decision for, keyed `marketing_whatsapp` style. A channel with a row has that row's
 * `effectiveStatus`; one without has the purpose's decision on `any` if there is one (a STOP ALL
 * governs every channel), else `not_specified`: the server's effectiveStatus (core/ledger.ts), which
 * the permission check reads. Every channel has a key, so a filter on `marketing_sms` reads
 * `opted_out` after a STOP ALL given on WhatsApp, and a Zap can map the key before a contact has it.
 */
export function consentStatusByChannel(consents: readonly ConsentStateJson[]): Record<string, string> {
  const byPurpose = new Map<string, Map<string, ConsentStateJson>>();
  for (const state of consents) {
    const rows = byPurpose.get(state.purpose) ?? new Map<string, ConsentStateJson>();
    rows.set(state.channel, state);
    byPurpose.set(state.purpose, rows);
  }
  const consentStatus: Record<string, string> = {};
  for (const [purpose, rows] of byPurpose) {
    const everyChannel = rows.get(EVERY_CHANNEL);
    for (const channel of [...MESSAGING_CHANNELS, EVERY_CHANNEL]) {
      consentStatus[`${purpose}_${channel}`] = (rows.get(channel) ?? everyChannel)?.effectiveStatus ?? 'not_specified';
    }
  }
  return consentStatus;
}

/**
 * A contact with its current consents; the `consentStatus` keys (consentStatusByChannel) let a
 * later step (a filter, a path) read one status without looping over the list.
 */
export function contactWithConsentsItem(contact: ContactJson, consents: readonly ConsentStateJson[]) {
  return { ...contactItem(contact), consents: consents.map(consentItem), consentStatus: consentStatusByChannel(consents) };
}

const capitalised = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);

/** A field per `consentStatus` key of the built-in purposes; a workspace's own purposes come with live data. */
export const CONSENT_STATUS_OUTPUT_FIELDS = BUILT_IN_PURPOSES.flatMap((purpose) =>
  [...MESSAGING_CHANNELS, EVERY_CHANNEL].map((channel) => ({
    key: `consentStatus__${purpose}_${channel}`,
    label: channel === EVERY_CHANNEL ? `${capitalised(purpose)} Status, All-Channel Decision` : `${capitalised(purpose)} Status on ${channelLabel(channel)}`,
  })),
);

/** The contact's current consents, or `null` when the contact is gone (erased or deleted meanwhile). */
export async function consentsOf(z: ZObject, bundle: Bundle, contactId: string): Promise<ConsentStateJson[] | null> {
  const list = await callApiOrNull(z, bundle, { path: apiPath('v1', 'contacts', contactId, 'consents'), schema: ConsentListSchema });
  return list ? list.data : null;
}

export const CONTACT_OUTPUT_FIELDS = [
  { key: 'id', label: 'Contact ID' },
  { key: 'name', label: 'Name' },
  { key: 'email', label: 'Email' },
  { key: 'phone', label: 'Phone' },
  { key: 'tagList', label: 'Tags (comma separated)' },
  { key: 'createdAt', label: 'Created At', type: 'datetime' as const },
  { key: 'updatedAt', label: 'Updated At', type: 'datetime' as const },
];

export const CONTACT_SAMPLE = {
  id: '01JQ7ZK4C2V9N8M3T5R6W1XYZA',
  name: 'Ana Test',
  email: 'ana.test@example.com',
  phone: '+34600000001',
  tags: ['VIP'],
  tagList: 'VIP',
  fields: {},
  createdAt: '2026-03-01T09:00:00.000Z',
  updatedAt: '2026-03-01T09:05:00.000Z',
};

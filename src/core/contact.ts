import { createHash } from 'node:crypto';
import { domainToASCII } from 'node:url';
import { isSupportedCountry, parsePhoneNumberFromString } from 'libphonenumber-js/max';
import type { Channel } from './consent.js';
import { ConsentryError, isConsentryError } from './errors.js';
import { shownValue } from './required.js';
import { foldCompatibilityForms } from './text.js';

/** How a contact is known on one channel (a WhatsApp number, a web-chat visitor id ...). */
export interface ContactIdentity {
  channel: Channel;
  externalId: string;
}

export interface Contact {
  id: string;
  workspaceId: string;
  name: string | null;
  /** E-mail, lower-cased and validated. */
  email: string | null;
  /** Phone in E.164. */
  phone: string | null;
  identities: ContactIdentity[];
  /** Free-form contact fields (workflow answers, imported attributes). */
  fields: Record<string, string>;
  tags: string[];
  /** The HubSpot record id, once the connector has matched or created it. */
  hubspotId: string | null;
  createdAt: string;
  updatedAt: string;
  /** Set when personal data was erased; the contact stays as a tombstone so the ledger still verifies. */
  erasedAt: string | null;
  /**
   * Present on a contact a bulk row made, or gave an address, that an erased contact had
   * (erasedAddressDigests), until the person writes from it or the contact is changed or decided
   * about by its id: meanwhile a bulk opt-in row for it is refused unless it says `allowErased`
   * (src/engine/consents.ts). Absent otherwise. `ownIdentities`: how many of its identities the
   * contact had when the guard was set (the first ones: identities are only ever appended). An
   * identity attached later by a message that found the contact by an address it merely named is
   * not the person writing, so a message from it does not end the guard (writesFromOwnIdentity)
   * unless the channel delivered it from the held address itself (src/engine/handle-inbound.ts).
   */
  erasedAddressGuard?: { ownIdentities: number };
}

/** The contact with its erasedAddressGuard set (kept as it is when already set) or lifted (absent: see Contact). */
export function withErasedAddressGuard(contact: Contact, guarded: boolean): Contact {
  if (guarded) return { ...contact, erasedAddressGuard: contact.erasedAddressGuard ?? { ownIdentities: contact.identities.length } };
  const { erasedAddressGuard: _lifted, ...rest } = contact;
  return rest;
}

/** Whether `identity` is one the guarded contact had before its guard was set (see Contact.erasedAddressGuard). */
export function writesFromOwnIdentity(contact: Contact, identity: ContactIdentity): boolean {
  const guard = contact.erasedAddressGuard;
  if (guard === undefined) return true;
  const index = identityIndex(contact, identity.channel, identity.externalId.trim());
  return index !== -1 && index < guard.ownIdentities;
}

/** Where the contact's identities hold (channel, externalId), the id as stored (trimmed); -1 when they do not. */
function identityIndex(contact: Contact, channel: Channel, externalId: string): number {
  return contact.identities.findIndex((known) => known.channel === channel && known.externalId === externalId);
}

/** A ULID in Crockford base32: 26 characters, without I, L, O and U; the first at most 7 (48-bit time). */
const ULID_PATTERN = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/i;

export function isUlid(text: string): boolean {
  return ULID_PATTERN.test(text);
}

/**
 * Ids (of contacts, workspaces, API keys) are ULIDs, which are case-insensitive and written in
 * upper case (https://github.com/ulid/spec#encoding): an id typed in lower case names the same
 * thing. A string that is not a ULID is left as it is, to be found or not as it stands.
 */
export function canonicalUlid(id: string): string {
  return ULID_PATTERN.test(id) ? id.toUpperCase() : id;
}

export const canonicalContactId = canonicalUlid;

/** RFC 5321 §4.5.3.1: at most 254 characters in a forward path, 64 in the local part. */
const EMAIL_MAX_LENGTH = 254;
const EMAIL_LOCAL_MAX_LENGTH = 64;
/**
 * One "@", no whitespace, a dotted domain of letters/digits/hyphens with labels that do not start
 * or end with "-", and a TLD of at least two letters, or the ASCII form of an internationalised
 * TLD (an A-label, RFC 5890 §2.3.2.1: "xn--" and the Punycode of its Unicode form, such as
 * `xn--p1ai` for `.рф`). Deliberately narrower than RFC 5322 (no quoted local parts, no IP
 * literals): messaging platforms and CRMs reject those anyway.
 */
const EMAIL_PATTERN =
  /^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9](?:[a-z0-9-]{0,57}[a-z0-9])?)$/;
/** A domain label in its ASCII-compatible form, whose Punycode must decode (A-label, RFC 5890 §2.3.2.1). */
const A_LABEL = /(?:^|\.)xn--/;

/**
 * The error names the field in its message, for a caller that shows only that; its issue leaves
 * the field to the issue's path, which names it once (`email: is empty`).
 */
function invalidEmail(message: string, issue = message): ConsentryError {
  return new ConsentryError('INVALID_EMAIL', message, [{ path: 'email', message: issue }]);
}

/**
 * An address refused for what it holds: quoted as read (shownValue, so a pasted document shows
 * only its start), then what is wrong with it. The field is named once, by the issue's path
 * (`email: "bad" is not a valid email address: it must contain exactly one "@"`).
 */
function notAnEmail(email: string, why?: string): ConsentryError {
  const message = `${shownValue(email)} is not a valid email address`;
  return invalidEmail(why === undefined ? message : `${message}: ${why}`);
}

/**
 * A typed or pasted phone number or e-mail address in the characters it is read in
 * (foldCompatibilityForms: full-width forms folded, the invisible marks chat apps and address
 * books wrap copied values in dropped), trimmed. Anything else stays for the validators to refuse.
 */
export function foldTypedValue(raw: string): string {
  return foldCompatibilityForms(raw).trim();
}

/**
 * Folds (foldTypedValue) and lower-cases the whole address. RFC 5321 lets the local part be
 * case-sensitive, but no mainstream provider treats it so and HubSpot matches contacts on the
 * lower-cased address; one spelling per person keeps contact matching and deduplication exact.
 */
export function normalizeEmail(raw: string): string {
  const email = foldTypedValue(raw).toLowerCase();
  if (email.length === 0) throw invalidEmail('email is empty', 'is empty');
  if (email.length > EMAIL_MAX_LENGTH) throw notAnEmail(email, `it is longer than ${EMAIL_MAX_LENGTH} characters`);
  const at = email.indexOf('@');
  if (at < 0 || at !== email.lastIndexOf('@')) throw notAnEmail(email, 'it must contain exactly one "@"');
  const local = email.slice(0, at);
  if (local.length > EMAIL_LOCAL_MAX_LENGTH) {
    throw notAnEmail(email, `the part before "@" is longer than ${EMAIL_LOCAL_MAX_LENGTH} characters`);
  }
  if (local.startsWith('.') || local.endsWith('.') || local.includes('..')) {
    throw notAnEmail(email, 'the part before "@" cannot start or end with "." or contain ".."');
  }
  if (!EMAIL_PATTERN.test(email) || !readsAsDomain(email.slice(at + 1))) throw notAnEmail(email);
  return email;
}

/**
 * Whether a domain with an A-label reads as a domain with the WHATWG URL Standard's domain to
 * ASCII (UTS #46), as a browser reads it: "xn--" followed by what is no Punycode (`xn--1`), or by
 * the Punycode of what no domain may hold, is refused. A domain without one is left to EMAIL_PATTERN.
 */
function readsAsDomain(domain: string): boolean {
  return !A_LABEL.test(domain) || domainToASCII(domain) === domain;
}

export function tryNormalizeEmail(raw: string): string | null {
  try {
    return normalizeEmail(raw);
  } catch (error) {
    if (isConsentryError(error)) return null;
    throw error;
  }
}

/** A mail client's `Name <address>`, or an address in angle brackets alone. */
const NAMED_ADDRESS = /^[^<>]*<([^<>]+)>$/;
const MAILTO = /^mailto:/i;
/** Marks a sentence puts after an address ("my e-mail is ana@example.com."); no address ends in one. */
const TRAILING_SENTENCE_MARKS = /[.,;:!?。、]+$/u;

/**
 * An e-mail address as a person types or pastes it in a chat: one given as `Name <address>` or as
 * a `mailto:` link, followed by a sentence's full stop, or with a domain in Unicode
 * (`ana@münchen.de`, read with the WHATWG URL Standard's domain to ASCII, UTS #46, as a browser
 * reads it, and kept as its ASCII form `xn--mnchen-3ya.de`, the one mail servers and HubSpot take).
 * Null when what is left is not an address (normalizeEmail).
 */
export function tryReadTypedEmail(raw: string): string | null {
  // The sentence's marks go before the `Name <address>` form is read ("Ana Test <ana@example.com>.")
  // and again after it, for those inside the brackets or after a `mailto:` address.
  let text = foldTypedValue(raw).replace(TRAILING_SENTENCE_MARKS, '');
  text = NAMED_ADDRESS.exec(text)?.[1]?.trim() ?? text;
  text = text.replace(MAILTO, '').replace(TRAILING_SENTENCE_MARKS, '');
  const at = text.lastIndexOf('@');
  const domain = at < 0 ? '' : text.slice(at + 1);
  if (!/^[\x00-\x7f]*$/.test(domain)) {
    const ascii = domainToASCII(domain);
    if (ascii === '') return null;
    text = `${text.slice(0, at + 1)}${ascii}`;
  }
  return tryNormalizeEmail(text);
}

/** Digits, "+", and the separators people type: spaces, dashes, dots, slashes and parentheses. */
const PHONE_CHARACTERS = /^[+0-9\s\-./()]+$/;
/**
 * The dashes that NFKC leaves as they are and libphonenumber reads as "-" (its VALID_PUNCTUATION):
 * hyphen, non-breaking hyphen, figure dash, en and em dash, horizontal bar, minus sign, and the
 * katakana prolonged sound mark a Japanese input method types for "-" (０９０ー１２３４ー５６７８).
 */
const OTHER_DASHES = /[\u2010-\u2015\u2212\u30fc]/g;
/**
 * A country calling code written in parentheses, "(+34) 600 000 001": libphonenumber reads "+"
 * only at the start of the number when it is not left to extract a number out of free text, so
 * the parentheses are dropped to make it "+34 600 000 001".
 */
const CALLING_CODE_IN_PARENTHESES = /^\(\s*(\+\d{1,3})\s*\)/;

/**
 * A long number as a spreadsheet shows it, in scientific notation (`3.46111E+10`, `3,46111E+10` with
 * a decimal comma): Excel shows a number of eleven or more digits in a cell of the General format so
 * (https://support.sas.com/kb/34242.html), and a CSV saved from it keeps what the cell shows, so the
 * digits past the first few are gone and no phone number can be read from it. A column formatted as
 * text keeps them.
 */
const SCIENTIFIC_NOTATION = /^[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+$/;

/** The international prefix ITU-T Recommendation E.164 recommends, at the start of a number: "00 34 600 000 001". */
const INTERNATIONAL_PREFIX = /^00/;

/** As invalidEmail: the issue names the field only by its path. */
function invalidPhone(message: string, issue = message): ConsentryError {
  return new ConsentryError('INVALID_PHONE', message, [{ path: 'phone', message: issue }]);
}

/**
 * Returns the number in E.164 (`+34600000001`), read from the folded text (foldTypedValue), with
 * OTHER_DASHES read as "-". Uses libphonenumber-js's `max` metadata, which checks a number's
 * digits against the national numbering plan, where the default `min` metadata "only validates
 * phone number length"; its extra 65 kB do not matter server-side.
 * https://gitlab.com/catamphetamine/libphonenumber-js#min-vs-max-vs-mobile-vs-core
 * Numbers without a "+" are read as dialled from `defaultCountry` (ISO 3166-1 alpha-2), so that
 * country's international prefix also works ("0034 ..." from ES); without a default country, a
 * leading "00" is read as "+".
 * Extensions are rejected: E.164 cannot carry them and no messaging channel can reach one.
 */
export function normalizePhone(raw: string, defaultCountry: string | null): string {
  const text = foldTypedValue(raw).replace(OTHER_DASHES, '-');
  if (text.length === 0) throw invalidPhone('phone is empty', 'is empty');
  if (SCIENTIFIC_NOTATION.test(text)) {
    throw invalidPhone(
      `${shownValue(text)} is a number in scientific notation, as a spreadsheet shows a long number: its digits are lost; export the phone column as text`,
    );
  }
  if (!PHONE_CHARACTERS.test(text)) {
    throw invalidPhone(`${shownValue(text)} may contain only digits, "+", spaces and the characters - . / ( )`);
  }
  const country = defaultCountry === null ? undefined : defaultCountry.trim().toUpperCase();
  if (country !== undefined && !isSupportedCountry(country)) {
    throw invalidPhone(`default country "${defaultCountry}" is not a supported ISO 3166-1 alpha-2 code`);
  }
  const written = text.replace(CALLING_CODE_IN_PARENTHESES, '$1 ');
  // Without a default country to dial from, a leading 00 can only be the international prefix
  // ITU-T E.164 recommends (and most of Europe dials): "0034 600…" is "+34 600…". With one,
  // libphonenumber reads that country's own prefix (00 from ES, 011 from US).
  const zeroZero = country === undefined && INTERNATIONAL_PREFIX.test(written);
  const dialled = zeroZero ? written.replace(INTERNATIONAL_PREFIX, '+') : written;
  const international = dialled.startsWith('+');
  if (!international && country === undefined) {
    throw invalidPhone(
      `${shownValue(text)} has no country code: write it in international format (e.g. +34 600 000 001) or set the workspace default country${droppedPlus(text)}`,
    );
  }
  const parsed = parsePhoneNumberFromString(dialled, country === undefined ? { extract: false } : { defaultCountry: country, extract: false });
  if (parsed === undefined || !parsed.isValid()) {
    const where = zeroZero ? ' (its 00 read as the international prefix +)' : international ? '' : ` (read with default country ${country ?? ''})`;
    throw invalidPhone(`${shownValue(text)} is not a valid phone number${where}${international ? '' : droppedPlus(text)}`);
  }
  return parsed.number;
}

/**
 * For a number written without "+" that is no number as read (no country, or not one of the default
 * country's), the number with "+" in front when that is a valid one: a spreadsheet column of
 * numbers drops the leading "+" of `+49 151 ...`, and the number left reads as national. Empty
 * when "+" in front makes no valid number either: a hint that would not work is no hint.
 */
function droppedPlus(text: string): string {
  if (!/^\d/.test(text)) return '';
  const plus = `+${text}`;
  const parsed = parsePhoneNumberFromString(plus, { extract: false });
  return parsed?.isValid() === true ? `; if it is an international number whose + was dropped, write ${plus}` : '';
}

export function tryNormalizePhone(raw: string, defaultCountry: string | null): string | null {
  try {
    return normalizePhone(raw, defaultCountry);
  } catch (error) {
    if (isConsentryError(error)) return null;
    throw error;
  }
}

/** The result of a contact helper: a new contact, or the same one when nothing changed (`changed: false`). */
export interface ContactChange {
  contact: Contact;
  changed: boolean;
}

export const TAG_MAX_LENGTH = 100;
export const FIELD_NAME_MAX_LENGTH = 100;
export const FIELD_VALUE_MAX_LENGTH = 5000;
export const EXTERNAL_ID_MAX_LENGTH = 200;

function fieldError(path: string, message: string): ConsentryError {
  return new ConsentryError('VALIDATION_FAILED', message, [{ path, message }]);
}

function assertNotErased(contact: Contact): void {
  if (contact.erasedAt !== null) {
    throw new ConsentryError('CONTACT_ERASED', `contact ${contact.id} was erased on ${contact.erasedAt}; no personal data can be added to it`);
  }
}

/** Trimmed, inner whitespace collapsed to one space, Unicode NFC: how a tag is stored. */
function cleanTag(tag: string): string {
  return tag.normalize('NFC').trim().replace(/\s+/g, ' ');
}

/** A tag as written, letter case, Unicode form and surrounding whitespace aside: its inner spacing kept. */
function exactTagSpelling(tag: string): string {
  return tag.normalize('NFC').trim().toLowerCase();
}

/** Tags are equal when their cleaned forms are equal ignoring case: equal tags have the same key. */
export function tagKey(tag: string): string {
  return cleanTag(tag).toLowerCase();
}

/**
 * Each tag once, as tags compare (tagKey): `VIP` and `vip` are one tag wherever a tag is added,
 * removed or searched, so a list to pick from (Zapier's dropdown, HubSpot's options) holds one of
 * them, the first of its spellings in `tags`' order.
 */
export function oneSpellingPerTag(tags: readonly string[]): string[] {
  const seen = new Set<string>();
  return tags.filter((tag) => {
    const key = tagKey(tag);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function hasTag(contact: Contact, tag: string): boolean {
  const key = tagKey(tag);
  return key !== '' && contact.tags.some((existing) => tagKey(existing) === key);
}

/**
 * The left-to-right and right-to-left marks, embeddings, overrides and isolates (U+200E, U+200F,
 * U+202A–U+202E, U+2066–U+2069; Unicode UAX #9 §2), as the inside of a regular-expression
 * character class: chat apps and address books wrap phone numbers in them, invisibly.
 */
export const BIDI_MARK_RANGE = '\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069';

/**
 * C0 and C1 control characters (U+0000–U+001F, U+007F–U+009F) and the bidirectional formatting
 * characters (U+061C and BIDI_MARK_RANGE). A name that holds one breaks line- and tab-separated
 * listings, or reads differently from what it is (Trojan Source, CVE-2021-42574).
 */
export const CONTROL_OR_BIDI_CHARACTER = new RegExp(`[\\u0000-\\u001f\\u007f-\\u009f\\u061c${BIDI_MARK_RANGE}]`);

/** What is wrong with a name that holds a control or bidirectional formatting character (`contains U+0009, a control character`); undefined for a name without one. */
export function controlCharacterIn(text: string): string | undefined {
  const found = CONTROL_OR_BIDI_CHARACTER.exec(text)?.[0];
  if (found === undefined) return undefined;
  const code = found.charCodeAt(0);
  const kind = code <= 0x9f ? 'a control character' : 'a bidirectional formatting character';
  return `contains U+${code.toString(16).toUpperCase().padStart(4, '0')}, ${kind}`;
}

/**
 * Adds a tag unless one equal to it ignoring case is there; the spelling written first is kept.
 * Whitespace around the tag is trimmed; a control or bidirectional formatting character in it is
 * refused (a line break inside included): tags are shown as they are in lists, HubSpot and Slack.
 */
export function addTag(contact: Contact, tag: string): ContactChange {
  const forbidden = controlCharacterIn(tag.trim());
  if (forbidden !== undefined) throw fieldError('tag', `tag ${forbidden}`);
  const cleaned = cleanTag(tag);
  if (cleaned === '') throw fieldError('tag', 'tag is empty');
  if (cleaned.length > TAG_MAX_LENGTH) throw fieldError('tag', `tag is longer than ${TAG_MAX_LENGTH} characters`);
  assertNotErased(contact);
  if (hasTag(contact, cleaned)) return { contact, changed: false };
  return { contact: { ...contact, tags: [...contact.tags, cleaned] }, changed: true };
}

/**
 * Removes the tag equal to `tag` ignoring case and spacing. A tag holding a control or
 * bidirectional formatting character is never added (addTag), so one that names such a character
 * removes only a tag stored by an older version with that very spelling (letter case aside): read
 * with its spacing folded, `Consent:\tPrivacy` would otherwise remove `Consent: Privacy`. Without
 * such a stored tag it is refused in addTag's words.
 */
export function removeTag(contact: Contact, tag: string): ContactChange {
  const forbidden = controlCharacterIn(tag.trim());
  if (forbidden !== undefined) {
    const spelling = exactTagSpelling(tag);
    const tags = contact.tags.filter((existing) => exactTagSpelling(existing) !== spelling);
    if (tags.length === contact.tags.length) throw fieldError('tag', `tag ${forbidden}`);
    return { contact: { ...contact, tags }, changed: true };
  }
  const key = tagKey(tag);
  const tags = contact.tags.filter((existing) => tagKey(existing) !== key);
  if (tags.length === contact.tags.length) return { contact, changed: false };
  return { contact: { ...contact, tags }, changed: true };
}

/**
 * The name a free-form field is stored under: trimmed; `__proto__` is refused because consumers
 * index `fields` with plain property access.
 */
export function fieldKey(name: string): string {
  const key = name.trim();
  if (key === '') throw fieldError('name', 'field name is empty');
  if (key.length > FIELD_NAME_MAX_LENGTH) throw fieldError('name', `field name is longer than ${FIELD_NAME_MAX_LENGTH} characters`);
  if (key === '__proto__') throw fieldError('name', 'field name "__proto__" is reserved');
  return key;
}

/** Sets a free-form field under its `fieldKey`; `null` removes it. */
export function setField(contact: Contact, name: string, value: string | null): ContactChange {
  const key = fieldKey(name);
  if (value !== null && value.length > FIELD_VALUE_MAX_LENGTH) {
    throw fieldError(`fields.${key}`, `field value is longer than ${FIELD_VALUE_MAX_LENGTH} characters`);
  }
  const present = Object.hasOwn(contact.fields, key);
  if (value === null) {
    if (!present) return { contact, changed: false };
    return { contact: { ...contact, fields: Object.fromEntries(Object.entries(contact.fields).filter(([existing]) => existing !== key)) }, changed: true };
  }
  assertNotErased(contact);
  if (present && contact.fields[key] === value) return { contact, changed: false };
  return { contact: { ...contact, fields: Object.fromEntries([...Object.entries(contact.fields), [key, value]]) }, changed: true };
}

/**
 * A WhatsApp sender id is the sender's WhatsApp ID: their number in international format without
 * "+" (Cloud API webhooks, `messages[].from` and `contacts[].wa_id`, e.g. "16505555555" for
 * +1 650 555 5555: https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components).
 * Read with the workspace's default country it would be missed, or taken for another number.
 */
export const WHATSAPP_ID = /^[1-9]\d{5,14}$/;

/**
 * An identity's external id as its channel sends the sender id, so that the contact's own
 * messages find it. On WhatsApp and SMS an id written as a phone number is (only digits, "+",
 * spaces and - . / ( ), as `phone` is written), read as `phone` is, with the default country: the
 * WhatsApp ID (WHATSAPP_ID: digits alone that read as an international number are one) on
 * WhatsApp, E.164 on SMS; by e-mail an id with an "@" is read as
 * `email` is. Any other id (a gateway's own sender name, a Messenger PSID, a web chat visitor id)
 * is kept as given, trimmed. Throws, as normalizePhone and normalizeEmail do, for a number or an
 * address that does not read as one.
 */
export function channelIdentityId(channel: ContactIdentity['channel'], externalId: string, defaultCountry: string | null): string {
  const trimmed = externalId.trim();
  if (channel === 'whatsapp' || channel === 'sms') {
    // Digits alone are a WhatsApp ID when they read as an international number, as a sender id is read (handle-inbound.ts).
    if (channel === 'whatsapp' && WHATSAPP_ID.test(trimmed) && tryNormalizePhone(`+${trimmed}`, null) !== null) return trimmed;
    if (!PHONE_CHARACTERS.test(foldTypedValue(externalId).replace(OTHER_DASHES, '-'))) return trimmed;
    const number = normalizePhone(externalId, defaultCountry);
    return channel === 'whatsapp' ? number.slice(1) : number;
  }
  if (channel === 'email' && foldTypedValue(externalId).includes('@')) return normalizeEmail(externalId);
  return trimmed;
}

/** Adds how the contact is known on a channel; the same (channel, externalId) twice is one identity. */
export function addIdentity(contact: Contact, identity: ContactIdentity): ContactChange {
  if (identity.channel === 'any') throw fieldError('channel', 'an identity belongs to one messaging channel, not "any"');
  const externalId = identity.externalId.trim();
  if (externalId === '') throw fieldError('externalId', 'externalId is empty');
  if (externalId.length > EXTERNAL_ID_MAX_LENGTH) {
    throw fieldError('externalId', `externalId is longer than ${EXTERNAL_ID_MAX_LENGTH} characters`);
  }
  assertNotErased(contact);
  if (identityIndex(contact, identity.channel, externalId) !== -1) return { contact, changed: false };
  return { contact: { ...contact, identities: [...contact.identities, { channel: identity.channel, externalId }] }, changed: true };
}

/** The first word of the contact's name, for greetings such as "Hi {{firstName}}". */
export function firstName(contact: Contact): string | null {
  const word = contact.name?.trim().split(/\s+/)[0];
  return word === undefined || word === '' ? null : word;
}

/**
 * Erasure (GDPR Art. 17): removes name, email, phone, fields and tags (tags can name the person,
 * e.g. "VIP-Ana"), and replaces each identity's externalId by a marker built from the contact id
 * alone. A hash of the old id would not do: phone numbers are few enough to be recovered from
 * their hashes. The marker stays unique per identity, so stores indexing identities keep working.
 * The contact id remains (the consent ledger points to it), and so does `hubspotId`: the HubSpot
 * connector needs it to pass the erasure on to HubSpot (Art. 19: recipients are told of an
 * erasure). Erasing twice keeps the first `erasedAt`.
 */
export function eraseContactData(contact: Contact, erasedAt: string): Contact {
  const at = contact.erasedAt ?? erasedAt;
  return {
    ...contact,
    name: null,
    email: null,
    phone: null,
    identities: contact.identities.map((identity, index) => ({ channel: identity.channel, externalId: erasedIdentityMarker(contact.id, index) })),
    fields: {},
    tags: [],
    updatedAt: contact.erasedAt === null ? erasedAt : contact.updatedAt,
    erasedAt: at,
  };
}

function erasedIdentityMarker(contactId: string, index: number): string {
  return `erased:${contactId}:${index + 1}`;
}

/**
 * What erasure keeps of a contact's addresses (its e-mail, its phone, and the e-mail and phone
 * numbers of its identities on those channels): one SHA-256 digest each, of the workspace id and
 * the normalised address, so that an import row bringing one back can be recognised (GDPR
 * Art. 17(3) and 21(3): what is needed to honour the erasure and an objection). A digest can be
 * checked against a guessed address, which is its use, and a phone number can be recovered from
 * it by trying numbers: it is kept only where it is needed (erasedAddressDigests is called by
 * erasure and by the check of a row that would create a contact), never exported.
 */
export function erasedAddressDigests(workspaceId: string, addresses: { email?: string | null; phone?: string | null; identities?: readonly ContactIdentity[] }): string[] {
  const found = new Set<string>();
  if (addresses.email) found.add(`email:${addresses.email}`);
  if (addresses.phone) found.add(`phone:${addresses.phone}`);
  for (const identity of addresses.identities ?? []) {
    if (identity.channel === 'email') {
      const email = tryNormalizeEmail(identity.externalId);
      if (email !== null) found.add(`email:${email}`);
    } else if (identity.channel === 'sms' || identity.channel === 'whatsapp') {
      // Channel sender ids are E.164 with or without the "+" (WhatsApp's wa_id has none).
      const phone = tryNormalizePhone(identity.externalId.startsWith('+') ? identity.externalId : `+${identity.externalId}`, null);
      if (phone !== null) found.add(`phone:${phone}`);
    }
  }
  return [...found].map((address) => createHash('sha256').update(`${workspaceId}\n${address}`).digest('hex'));
}

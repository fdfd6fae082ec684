import type { ZObject } from 'zapier-platform-core';

/** How Consentry stores a tag and compares two: trimmed, inner spaces collapsed, NFC, letter case aside. */
export function tagKey(tag: string): string {
  return tag.normalize('NFC').trim().replace(/\s+/g, ' ').toLowerCase();
}

/**
 * C0 and C1 control characters (U+0000–U+001F, U+007F–U+009F) and the bidirectional formatting
 * characters (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069; Unicode UAX #9 §2): the
 * server refuses a tag holding one (its CONTROL_OR_BIDI_CHARACTER, core/contact.ts), as it would
 * break the lists and messages tags are shown in, or read differently from what it is.
 */
const CONTROL_OR_BIDI_CHARACTER = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/**
 * What is wrong with a text that holds a control or bidirectional formatting character, in the
 * server's words (`contains U+0009, a control character`); undefined for a text without one.
 */
export function controlCharacterIn(text: string): string | undefined {
  const found = CONTROL_OR_BIDI_CHARACTER.exec(text)?.[0];
  if (found === undefined) return undefined;
  const code = found.charCodeAt(0);
  const kind = code <= 0x9f ? 'a control character' : 'a bidirectional formatting character';
  return `contains U+${code.toString(16).toUpperCase().padStart(4, '0')}, ${kind}`;
}

/** The tag Consentry adds when a contact's privacy consent is recorded, and refuses from outside without it (TAG_NEEDS_CONSENT). */
export const PRIVACY_TAG = 'Consent: Privacy';

/**
 * Whether `tag` is `Consent: Privacy` as the server reads it (its isPrivacyTag, engine/contacts.ts):
 * compared by tagKey, and never a tag holding a control or bidirectional formatting character,
 * which the server refuses for that character instead. Without that exception a tab would read as
 * the space it collapses to, and the app would explain a refusal the server does not make.
 */
export function isPrivacyTag(tag: string): boolean {
  return controlCharacterIn(tag.trim()) === undefined && tagKey(tag) === tagKey(PRIVACY_TAG);
}

/**
 * A step that would give `Consent: Privacy` to a contact that has no privacy decision, said before
 * the server refuses it (422 TAG_NEEDS_CONSENT), with the step that records the decision instead.
 * `why` says why the contact has none. Like the server's refusal (privacyTagRefusal,
 * engine/contacts.ts), it says the tag is `Consent: Privacy` only for one spelt otherwise
 * (`CONSENT: PRIVACY`): spelt so, that goes without saying.
 */
export function privacyTagNeedsConsent(z: ZObject, tag: string, why: string): Error {
  const which = tag === PRIVACY_TAG ? `Tag "${tag}" is added by Consentry` : `Tag "${tag}" is ${PRIVACY_TAG}, which Consentry adds`;
  return new z.errors.Error(
    `${which} when the contact's privacy consent is recorded, and ${why}: ` +
      'use Record Consent with purpose privacy instead, which creates the contact and adds the tag',
    'TAG_NEEDS_CONSENT',
    422,
  );
}

import { normalizePhone } from '../core/contact.js';

/**
 * Unicode's bidirectional formatting characters (https://www.unicode.org/reports/tr9/#Explicit_Directional_Embeddings
 * and the marks LRM and RLM): U+200E, U+200F, U+202A–U+202E, U+2066–U+2069. Chat apps and
 * address books wrap phone numbers in them so they show left to right inside right-to-left
 * text, and a copied number brings them along, invisible.
 */
const BIDI_AROUND = /^[\s\u200E\u200F\u202A-\u202E\u2066-\u2069]+|[\s\u200E\u200F\u202A-\u202E\u2066-\u2069]+$/gu;

/** A typed or pasted identity (phone, e-mail, contact id) without the invisible bidi marks and blank space around it. */
export function withoutBidiMarks(value: string): string {
  return value.replace(BIDI_AROUND, '');
}

/**
 * A phone number as `import` and `history` read it, in E.164: the engine's own reading
 * (normalizePhone: digits, "+", spaces and - . / ( ), national numbers read in `country`), after
 * the marks a copy brings along are taken off.
 */
export function readPhone(typed: string, country: string | null): string {
  return normalizePhone(withoutBidiMarks(typed), country);
}

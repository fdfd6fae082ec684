import { BIDI_MARK_RANGE, normalizePhone } from '../core/contact.js';

/** Blank space and bidi marks (BIDI_MARK_RANGE) around a value: a copied number brings them along, invisible. */
const BIDI_AROUND = new RegExp(`^[\\s${BIDI_MARK_RANGE}]+|[\\s${BIDI_MARK_RANGE}]+$`, 'gu');

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

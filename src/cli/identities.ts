import { BIDI_MARK_RANGE, normalizePhone } from '../core/contact.js';

/** Blank space and bidi marks (BIDI_MARK_RANGE) around a value: a copied number brings them along, invisible. */
const BIDI_AROUND = new RegExp(`^[\\s${BIDI_MARK_RANGE}]+|[\\s${BIDI_MARK_RANGE}]+$`, 'gu');

/**
 * A typed or pasted identity (phone, e-mail, contact id) without the invisible bidi marks and blank
 * space around it. A phone or an e-mail needs it only to be shown as typed: the engine's reading
 * (foldTypedValue) drops those marks, and every other invisible character, itself; a contact id
 * is looked up as it stands.
 */
export function withoutBidiMarks(value: string): string {
  return value.replace(BIDI_AROUND, '');
}

/**
 * A phone number as `import` and `history` read it, in E.164: the engine's own reading
 * (normalizePhone: digits, "+", spaces and - . / ( ) once full-width forms are folded and invisible
 * marks dropped, national numbers read in `country`), so the CLI finds and stores the number a
 * message or the API would.
 */
export function readPhone(typed: string, country: string | null): string {
  return normalizePhone(typed, country);
}

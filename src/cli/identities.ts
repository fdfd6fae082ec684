import { BIDI_MARK_RANGE } from '../core/contact.js';

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

const DEFAULT_IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;

/**
 * Text as a person meant it, whatever keyboard or app wrote it: NFKC folds the compatibility
 * forms input methods produce into the characters they stand for (full-width "ＳＴＯＰ", "０９０",
 * "＠"; no-break spaces), and every Default_Ignorable_Code_Point is dropped (Unicode §5.21,
 * UAX #44: bidirectional marks, zero-width spaces and joiners, the byte order mark, the soft
 * hyphen), since they draw nothing and chat apps wrap copied text in them. Keywords (DESIGN §3),
 * phone numbers and e-mail addresses are all read from this form.
 */
export function foldCompatibilityForms(text: string): string {
  return text.normalize('NFKC').replace(DEFAULT_IGNORABLE, '');
}

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

/**
 * The characters of a message's text that are read: the first READABLE_TEXT_LENGTH. A message is
 * never refused for its length, since it may carry a STOP (an e-mail reply with a long quoted
 * thread); what the sender wrote comes first, and the rest is not read, nor kept in events.
 */
export const READABLE_TEXT_LENGTH = 4096;

/** The first READABLE_TEXT_LENGTH characters of `text`, never ending between the halves of a surrogate pair. */
export function readableText(text: string): string {
  if (text.length <= READABLE_TEXT_LENGTH) return text;
  let end = READABLE_TEXT_LENGTH;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return text.slice(0, end);
}

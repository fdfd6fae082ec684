const DEFAULT_IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;

/**
 * ASCII letters in lower case, and no other letter: every listed value (a channel, a status, a
 * legal basis, a language code, a purpose as the workspace spells it) is ASCII, so no other letter
 * that Unicode case mapping would turn into an ASCII one (a Kelvin sign "K", a dotted "İ") stands
 * for one of them.
 */
export function foldAsciiCase(text: string): string {
  return text.replace(/[A-Z]/g, (letter) => letter.toLowerCase());
}

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
 * Characters that draw nothing, so a text made of them alone has nothing to read: the Unicode
 * White_Space set (spaces of every width, tabs, line and paragraph ends), every
 * Default_Ignorable_Code_Point (zero-width space, joiners and non-joiners, word joiner, byte order
 * mark, bidirectional marks, variation selectors, the soft hyphen, the Hangul fillers U+115F,
 * U+1160, U+3164 and U+FFA0), both as UAX #44 defines them (https://www.unicode.org/reports/tr44/,
 * PropList.txt and DerivedCoreProperties.txt), the other control characters (General_Category Cc:
 * NUL, ESC and the like, which draw nothing either), and U+2800 BRAILLE PATTERN BLANK, a symbol that
 * is none of these but draws an empty cell. Chat users send the Hangul filler, the Braille blank and
 * the zero-width space as "empty" messages, and `String.prototype.trim` keeps all three. Together
 * they cover every character `trim` takes off.
 */
const BLANK = /^[\p{White_Space}\p{Default_Ignorable_Code_Point}\p{Cc}\u2800]*$/u;

/**
 * Whether a string is empty or made only of characters that draw nothing (BLANK): a message's text
 * or button with nothing to read, or a reply text that would be sent as an invisible message.
 */
export function isBlank(value: string): boolean {
  return BLANK.test(value);
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

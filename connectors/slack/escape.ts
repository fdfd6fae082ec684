/**
 * Making contact data safe to show in Slack.
 *
 * Slack's "Escaping text" rule (https://docs.slack.dev/messaging/formatting-message-text#escaping):
 * `&`, `<` and `>` are control characters in message text and must be sent as `&amp;`, `&lt;` and
 * `&gt;`. Every mention, channel link and URL needs a `<`, so once they are escaped a contact named
 * `<!channel>` or `<@U1>` is shown literally and pings nobody (DESIGN §6).
 *
 * Escaping does not stop mrkdwn's formatting, which has no escape of its own
 * (https://docs.slack.dev/messaging/formatting-message-text): `*bold*`, `_italic_`,
 * `~strike~`, `` `code` `` and a `>` quote at the start of a line. In contact data each of these
 * characters becomes a look-alike Slack does not read as markup, so a name or a message cannot
 * restyle the alert around it. Slack's own parsing of bare URLs, channel names and mentions is
 * switched off where the text is sent (`verbatim: true` on text objects, `parse: 'none'` for a
 * message's `text`).
 */

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };

const MRKDWN_LOOKALIKES: Readonly<Record<string, string>> = {
  '*': '\u2217', // ASTERISK OPERATOR
  _: '\u02cd', // MODIFIER LETTER LOW MACRON
  '~': '\u223c', // TILDE OPERATOR
  '`': '\u02cb', // MODIFIER LETTER GRAVE ACCENT
};

/** `>` quotes only at the start of a line; anywhere else it is escaped as `&gt;`. */
const QUOTE_LOOKALIKE = '\u203a'; // SINGLE RIGHT-POINTING ANGLE QUOTATION MARK

/** What ends a cut value; never part of an entity or a look-alike. */
const CUT = '\u2026';

/**
 * C0/C1 control characters (other than tab and newline) and the bidirectional embedding, override
 * and isolate marks: invisible characters that would let a contact name rearrange or hide the text
 * around it.
 */
const INVISIBLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const WHITE_SPACE_RUN = /\s+/g;

/** Escapes `& < >` as Slack asks; nothing else changes. */
export function escapeSlackText(value: string): string {
  return value.replace(/[&<>]/g, (char) => ESCAPES[char] ?? char);
}

const WORD_CHAR = /^[\p{L}\p{N}]$/u;

/**
 * One character of contact data as sent: escaped, or replaced by its look-alike. An underscore
 * between two letters or digits (`update_contact`, `ana_test@example.com`) opens and closes no
 * italics, so it stays as written.
 */
function inertChar(chars: readonly string[], index: number, atLineStart: boolean): string {
  const char = chars[index] ?? '';
  if (char === '>' && atLineStart) return QUOTE_LOOKALIKE;
  if (char === '_' && WORD_CHAR.test(chars[index - 1] ?? '') && WORD_CHAR.test(chars[index + 1] ?? '')) return char;
  return ESCAPES[char] ?? MRKDWN_LOOKALIKES[char] ?? char;
}

/**
 * Makes `value` inert and cuts it to at most `maxLength` characters *after* escaping, never inside
 * an entity, ending with "…" when something was cut. Block Kit limits count the text as sent
 * (https://docs.slack.dev/reference/block-kit/blocks/section-block: 2000 per field, 3000 per text).
 */
function escapeWithin(value: string, maxLength: number): string {
  const out: string[] = [];
  let length = 0;
  const chars = Array.from(value);
  for (let index = 0; index < chars.length; index += 1) {
    const piece = inertChar(chars, index, index === 0);
    const remainingAfter = index < chars.length - 1 ? CUT.length : 0;
    if (length + piece.length + remainingAfter > maxLength) {
      out.push(CUT);
      return out.join('');
    }
    out.push(piece);
    length += piece.length;
  }
  return out.join('');
}

/**
 * For a value shown on one line (a contact name, a reason): invisible characters removed, every run
 * of white space (newlines included, so a name cannot fake extra lines of the alert) folded to one
 * space, then made inert and cut to `maxLength`.
 */
export function escapeInline(value: string, maxLength = 200): string {
  const flat = value.replace(INVISIBLE, '').replace(WHITE_SPACE_RUN, ' ').trim();
  return escapeWithin(flat, maxLength);
}

const QUOTE_PREFIX = '> ';
/** Where a quote skips text: the part before ends with "…" and the next line starts with it. */
const QUOTE_GAP = `${CUT}\n${QUOTE_PREFIX}${CUT}`;

type Range = readonly [start: number, end: number];

function costOf(costs: readonly number[], start: number, end: number): number {
  let total = 0;
  for (let index = start; index < end; index += 1) total += costs[index] ?? 0;
  return total;
}

/** The end of the longest run from `start` that costs at most `budget`. */
function takeFrom(costs: readonly number[], start: number, budget: number): number {
  let end = start;
  let spent = 0;
  while (end < costs.length && spent + (costs[end] ?? 0) <= budget) spent += costs[end++] ?? 0;
  return end;
}

/** The start of the longest run ending at `end` that costs at most `budget`. */
function takeUntil(costs: readonly number[], end: number, budget: number): number {
  let start = end;
  let spent = 0;
  while (start > 0 && spent + (costs[start - 1] ?? 0) <= budget) spent += costs[--start] ?? 0;
  return start;
}

/** Characters folded for finding a word: lower case, without accents. */
function foldChar(char: string): string {
  return char.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

/** The last occurrence of `word` in `chars` (case and accents ignored), as code point indices. */
function lastOccurrence(chars: readonly string[], word: string | undefined): Range | null {
  const target = Array.from(word?.trim() ?? '').map(foldChar);
  if (target.length === 0 || target.length > chars.length) return null;
  const folded = chars.map(foldChar);
  for (let start = chars.length - target.length; start >= 0; start -= 1) {
    if (target.every((char, offset) => folded[start + offset] === char)) return [start, start + target.length];
  }
  return null;
}

/** How far a cut may move to fall between two words instead of inside one. */
const WORD_SNAP = 20;

/** The end of a kept part moved back to the last white space before it, if one is near and after `floor`. */
function endBetweenWords(spaces: readonly boolean[], end: number, floor: number): number {
  if (end >= spaces.length || spaces[end]) return end;
  for (let index = end - 1; index >= Math.max(floor, end - WORD_SNAP); index -= 1) if (spaces[index]) return index;
  return end;
}

/** The start of a kept part moved past the next white space after it, if one is near and before `ceiling`. */
function startBetweenWords(spaces: readonly boolean[], start: number, ceiling: number): number {
  if (start === 0 || spaces[start - 1]) return start;
  for (let index = start; index < Math.min(ceiling, start + WORD_SNAP); index += 1) if (spaces[index]) return index + 1;
  return start;
}

/**
 * Which characters a cut quote keeps, given what each costs once sent, which are white space, and
 * the budget: the start of the message and its end, where a closing "STOP" usually is; and, when
 * `focus` falls in neither, the text around it too. Cuts fall between words where one is near.
 */
function keptRanges(costs: readonly number[], spaces: readonly boolean[], budget: number, focus: Range | null): Range[] {
  const count = costs.length;
  if (costOf(costs, 0, count) <= budget) return [[0, count]];
  const forTwo = budget - QUOTE_GAP.length;
  if (forTwo < 0) return [];
  const head = endBetweenWords(spaces, takeFrom(costs, 0, Math.floor(forTwo / 3)), 1);
  const tail = startBetweenWords(spaces, takeUntil(costs, count, forTwo - costOf(costs, 0, head)), count - 1);
  const two: Range[] = [[0, head], [tail, count]];
  if (focus === null || focus[1] <= head || focus[0] >= tail) return two;

  const forThree = budget - 2 * QUOTE_GAP.length;
  const head3 = endBetweenWords(spaces, takeFrom(costs, 0, Math.floor(forThree / 4)), 1);
  const tail3 = startBetweenWords(spaces, takeUntil(costs, count, Math.floor(forThree / 4)), count - 1);
  const room = forThree - costOf(costs, 0, head3) - costOf(costs, tail3, count);
  let [left, right] = focus;
  let spent = costOf(costs, left, right);
  if (spent > room) return two;
  for (let grew = true; grew; ) {
    grew = false;
    const before = costs[left - 1] ?? 0;
    if (left > head3 && spent + before <= room) {
      left -= 1;
      spent += before;
      grew = true;
    }
    const after = costs[right] ?? 0;
    if (right < tail3 && spent + after <= room) {
      right += 1;
      spent += after;
      grew = true;
    }
  }
  if (left > head3) left = startBetweenWords(spaces, left, focus[0]);
  if (right < tail3) right = endBetweenWords(spaces, right, focus[1]);
  return [[0, head3], [left, right], [tail3, count]];
}

/**
 * For a multi-line value (a customer's message): invisible characters removed, line breaks kept,
 * made inert, and each line prefixed with "> " so it renders as a quote and is visibly the
 * customer's words rather than Consentry's. The result, prefixes included, is at most `maxLength`
 * characters. A longer message keeps its start and its end (and the text around `focus`, the
 * matched opt-out word, when it lies between them); every place text was left out shows "…".
 */
export function escapeQuote(value: string, maxLength = 2500, focus?: string): string {
  const chars = Array.from(value.replace(INVISIBLE, '').replace(/\r\n?/g, '\n').trim());
  const pieces = chars.map((char, index) =>
    char === '\n' ? `\n${QUOTE_PREFIX}` : inertChar(chars, index, index === 0 || chars[index - 1] === '\n'),
  );
  const costs = pieces.map((piece) => piece.length);
  const spaces = chars.map((char) => /\s/u.test(char));
  const ranges = keptRanges(costs, spaces, maxLength - QUOTE_PREFIX.length, lastOccurrence(chars, focus));
  if (ranges.length === 0) return `${QUOTE_PREFIX}${CUT}`.slice(0, Math.max(maxLength, 0));
  const parts: string[] = [];
  let previousEnd: number | null = null;
  for (const [start, end] of ranges) {
    if (previousEnd !== null && start > previousEnd) parts.push(QUOTE_GAP);
    parts.push(pieces.slice(Math.max(start, previousEnd ?? 0), end).join(''));
    previousEnd = Math.max(end, previousEnd ?? 0);
  }
  return `${QUOTE_PREFIX}${parts.join('')}`;
}

/**
 * A mrkdwn link `<url|label>` when `url` is an absolute https URL, otherwise just the label.
 * The URL is re-serialised by WHATWG URL (spaces, quotes and angle brackets percent-encoded) and `|`,
 * which would end the URL part of the link early, is percent-encoded too.
 */
export function mrkdwnLink(url: string | null | undefined, label: string, maxLabelLength = 200): string {
  const text = escapeInline(label, maxLabelLength);
  if (!url) return text;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return text;
  }
  if (parsed.protocol !== 'https:') return text;
  const href = escapeSlackText(parsed.href.replace(/\|/g, '%7C'));
  return `<${href}|${text}>`;
}

/**
 * A time every reader sees in their own time zone: Slack's date token
 * `<!date^unix^{date_short_pretty} at {time}|fallback>`
 * (https://docs.slack.dev/messaging/formatting-message-text#date-formatting). The fallback is the
 * ISO-8601 text, shown by clients that cannot format the token.
 */
export function slackDate(iso: string): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return escapeInline(iso, 64);
  const unix = Math.floor(at.getTime() / 1000);
  return `<!date^${unix}^{date_short_pretty} at {time}|${at.toISOString()}>`;
}

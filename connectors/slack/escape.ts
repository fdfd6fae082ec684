/**
 * Making contact data safe to show in Slack.
 *
 * Slack's "Escaping text" rule (https://docs.slack.dev/messaging/formatting-message-text#escaping):
 * `&`, `<` and `>` are control characters in message text and must be sent as `&amp;`, `&lt;` and
 * `&gt;`. Every mention, channel link and URL needs a `<`, so once they are escaped a contact named
 * `<!channel>` or `<@U1>` is shown literally and pings nobody (DESIGN §6).
 */

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };

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

/**
 * Escapes `value` and cuts it to at most `maxLength` characters *after* escaping, never inside an
 * entity, ending with "…" when something was cut. Block Kit limits count the text as sent
 * (https://docs.slack.dev/reference/block-kit/blocks/section-block: 2000 per field, 3000 per text).
 */
function escapeWithin(value: string, maxLength: number): string {
  const out: string[] = [];
  let length = 0;
  const chars = Array.from(value);
  for (let index = 0; index < chars.length; index += 1) {
    const char = chars[index] ?? '';
    const piece = ESCAPES[char] ?? char;
    const remainingAfter = index < chars.length - 1 ? 1 : 0;
    if (length + piece.length + remainingAfter > maxLength) {
      out.push('…');
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
 * space, then escaped and cut to `maxLength`.
 */
export function escapeInline(value: string, maxLength = 200): string {
  const flat = value.replace(INVISIBLE, '').replace(WHITE_SPACE_RUN, ' ').trim();
  return escapeWithin(flat, maxLength);
}

/**
 * For a multi-line value (a customer's message): invisible characters removed, line breaks kept,
 * escaped, cut to `maxLength`, and each line prefixed with "> " so it renders as a quote and is
 * visibly the customer's words rather than Consentry's.
 */
export function escapeQuote(value: string, maxLength = 2500): string {
  const cleaned = value.replace(INVISIBLE, '').replace(/\r\n?/g, '\n').trim();
  const escaped = escapeWithin(cleaned, maxLength);
  return escaped
    .split('\n')
    .map((line) => `> ${line}`)
    .join('\n');
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

import { z } from 'zod';

/**
 * Timestamps as `Date.prototype.toISOString` spells them (UTC, milliseconds), the one spelling the
 * stores compare as text. Every use case stamps its rows this way, so the spelling is built from a
 * cached date part and the time of day, which costs a fraction of `toISOString`.
 */
const DAY_MS = 86_400_000;
/** 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: outside them toISOString writes a six-digit year. */
const FIRST_FOUR_DIGIT_YEAR_MS = -62_167_219_200_000;
const LAST_FOUR_DIGIT_YEAR_MS = 253_402_300_799_999;

const TWO_DIGITS: readonly string[] = Array.from({ length: 60 }, (_, n) => String(n).padStart(2, '0'));
const THREE_DIGITS: readonly string[] = Array.from({ length: 1000 }, (_, n) => String(n).padStart(3, '0'));

let cachedDay = Number.NaN;
/** `YYYY-MM-DDT` of `cachedDay`. */
let cachedDayPrefix = '';

/** Exactly `at.toISOString()`, including its RangeError for an invalid date. */
export function isoInstant(at: Date): string {
  const time = at.getTime();
  if (!(time >= FIRST_FOUR_DIGIT_YEAR_MS && time <= LAST_FOUR_DIGIT_YEAR_MS)) return at.toISOString();
  const day = Math.floor(time / DAY_MS);
  if (day !== cachedDay) {
    cachedDayPrefix = new Date(day * DAY_MS).toISOString().slice(0, 11);
    cachedDay = day;
  }
  let rest = time - day * DAY_MS;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  rest -= seconds * 1000;
  return `${cachedDayPrefix}${TWO_DIGITS[hours] ?? ''}:${TWO_DIGITS[minutes] ?? ''}:${TWO_DIGITS[seconds] ?? ''}.${THREE_DIGITS[rest] ?? ''}Z`;
}

/** How an instant given as text must be written, as refusals name it. */
export const ZONED_DATE_TIME_FORM = 'ISO 8601 with a time zone, e.g. 2026-03-01T10:00:00Z (UTC) or 2026-03-01T10:00:00+01:00';
/** A date and time without a zone, as a spreadsheet or a person writes it (`2026-03-01 10:00:00`). */
const ZONELESS_DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?$/i;
/** How much of a refused value a message quotes: enough to recognise it, never a whole pasted document. */
const QUOTED_VALUE_MAX = 80;

/**
 * Why `value` is not an instant written in ZONED_DATE_TIME_FORM. A time without a zone is refused,
 * not read in some zone: the server's zone is not the writer's, and a recorded decision time is
 * evidence (GDPR Art. 7(1)) that can never be corrected.
 */
export function zonedDateTimeMessage(value: string): string {
  const quoted = value.length <= QUOTED_VALUE_MAX ? JSON.stringify(value) : `${JSON.stringify(value.slice(0, QUOTED_VALUE_MAX))}…`;
  return ZONELESS_DATE_TIME.test(value)
    ? `${quoted} has no time zone: write it in ${ZONED_DATE_TIME_FORM}`
    : `${quoted} is not a date and time in ${ZONED_DATE_TIME_FORM}`;
}

/**
 * An instant as requests give it: RFC 3339 (ISO 8601 with `Z` or an offset), refused with
 * zonedDateTimeMessage; what is not a string keeps zod's own message, naming the type.
 */
export const ZonedDateTimeSchema = z.iso.datetime({
  offset: true,
  error: (issue) => (typeof issue.input === 'string' ? zonedDateTimeMessage(issue.input) : undefined),
});

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

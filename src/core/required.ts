/**
 * One wording for a value that is not there, wherever a zod issue becomes a field issue (the API's
 * problem+json `errors[]`, settings, the engine's inputs, workflow definitions): `is required`, and
 * for a field that takes one of a list, the list as well (`is required: one of opted_in, opted_out`).
 * zod 4 words an absent value as one of the wrong type ("Invalid input: expected string, received
 * undefined"), which says neither that the field is missing nor what to send.
 *
 * A value that is there but not one of its list is worded as the CLI's import words a cell: the
 * value, quoted, and the list (`"any" is not one of whatsapp, sms, email, ...`), where zod 4 lists
 * the values in its own quoting and leaves the value out ("Invalid option: expected one of
 * "whatsapp"|"sms"").
 *
 * It is a per-parse error map (https://zod.dev/error-customization, "Per-parse error
 * customization"), passed with each parse: a message a schema or check gives itself still wins,
 * and zod's global configuration, which every user of this package as a library shares, is left
 * alone. zod hands the map each issue with the value it is about (`input`), so an absent value is
 * told from a present one of the wrong type, whose wording stays zod's.
 */
import type { z } from 'zod';
import { foldAsciiCase } from './text.js';

type RawIssue = z.core.$ZodRawIssue;

export interface AbsentValueOptions {
  /**
   * A null in place of the whole value is absent too: the request body a client did not send,
   * which Fastify hands over as null, as it does a body of JSON `null`.
   */
  nullAtRoot?: boolean;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function required(values: readonly unknown[] | undefined): string {
  if (values === undefined || values.length === 0) return 'is required';
  const [only] = values;
  return values.length === 1 ? `is required: ${String(only)}` : `is required: one of ${values.map(String).join(', ')}`;
}

/** How much of a refused value a message quotes: enough to find it, never a whole pasted document. */
const QUOTED_VALUE_MAX = 80;

/**
 * A refused value as a message shows it: a string quoted as JSON (its first QUOTED_VALUE_MAX
 * characters, then `…`), a number, boolean or null as written, and anything else by its kind,
 * so a message never repeats a whole object. Every message that quotes the value it refuses
 * (notOneOf, an e-mail address, a purpose, a country) shows it so.
 */
export function shownValue(value: unknown): string {
  if (typeof value === 'string') return value.length <= QUOTED_VALUE_MAX ? JSON.stringify(value) : `${JSON.stringify(value.slice(0, QUOTED_VALUE_MAX))}…`;
  if (value === null || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** A refusal's message, followed by the value it most likely meant when there is one: `... (did you mean "en"?)`. */
export function withMeant(message: string, meant: string | undefined): string {
  return meant === undefined ? message : `${message} (did you mean ${JSON.stringify(meant)}?)`;
}

/** The values a field takes, as a refusal lists them: `one of whatsapp, sms`, or the one value. */
function allowedValues(values: readonly unknown[]): string {
  const [only] = values;
  return values.length === 1 ? String(only) : `one of ${values.map(String).join(', ')}`;
}

/**
 * The house wording for a value that is not one of the values a field takes, quoting the value:
 * `"pigeon" is not one of whatsapp, sms, email` (`"x" is not dead` when the field takes one value).
 */
export function notOneOf(value: unknown, values: readonly unknown[]): string {
  return `${shownValue(value)} is not ${allowedValues(values)}`;
}

/** A listed value as listedValueMeant compares it: trimmed, ASCII letters in lower case, each run of spaces, hyphens and underscores one underscore. */
function listedSpelling(value: string): string {
  return foldAsciiCase(value.trim()).replace(/[\s_-]+/g, '_');
}

/**
 * The value of `values` that `value` writes otherwise, as a spreadsheet or a CRM export writes a
 * listed value: in other letter case, with spaces or hyphens for its underscores (`opted in`,
 * `Opted-In` for `opted_in`, `consent_with_notice` for `CONSENT_WITH_NOTICE`). Undefined for a value
 * in the list as it is, one that writes none of them, and one that writes several. Only ASCII
 * letters are folded, as the import folds a listed cell: no other letter (a Kelvin sign) stands for one.
 */
export function listedValueMeant(value: unknown, values: readonly unknown[]): string | undefined {
  if (typeof value !== 'string' || values.includes(value)) return undefined;
  const spelling = listedSpelling(value);
  const meant = values.filter((listed): listed is string => typeof listed === 'string' && listedSpelling(listed) === spelling);
  return meant.length === 1 ? meant[0] : undefined;
}

/** notOneOf, followed by the value of the list it writes otherwise when there is one (listedValueMeant): `"opted in" is not one of opted_in, opted_out (did you mean "opted_in"?)`. */
export function notOneOfMeant(value: unknown, values: readonly unknown[]): string {
  return withMeant(notOneOf(value, values), listedValueMeant(value, values));
}

/**
 * notOneOf for the several values of one field that are not in its list (a comma list's items):
 * `"consent.givn" and "foo" are not one of consent.given, ...`, so the field has one message.
 */
export function noneOf(given: readonly unknown[], values: readonly unknown[]): string {
  const shown = given.map(shownValue);
  const last = shown.pop();
  if (last === undefined || shown.length === 0) return notOneOf(given[0], values);
  return `${shown.join(', ')} and ${last} are not ${allowedValues(values)}`;
}

/**
 * The values a union takes when each of its options takes a list of values (literals, enums):
 * zod reports such a union's refusal as one issue holding each option's, all `invalid_value`.
 */
function unionValues(branches: readonly (readonly z.core.$ZodIssue[])[]): unknown[] | undefined {
  const values: unknown[] = [];
  for (const branch of branches) {
    const [issue, ...more] = branch;
    if (issue?.code !== 'invalid_value' || more.length > 0 || issue.path.length > 0) return undefined;
    values.push(...issue.values);
  }
  return values.length > 0 ? values : undefined;
}

/**
 * The message for a present value that is not one of its list (an enum, a literal, a union of
 * them, a discriminated union's key), `undefined` for any other issue (zod then words it).
 */
export function unlistedValueMessage(issue: RawIssue): string | undefined {
  if (issue.input === undefined) return undefined;
  switch (issue.code) {
    case 'invalid_value':
      return notOneOf(issue.input, issue.values);
    case 'invalid_union': {
      const key = issue.discriminator;
      if (key !== undefined) {
        const given = isRecord(issue.input) ? issue.input[key] : undefined;
        return given !== undefined && Array.isArray(issue.options) ? notOneOf(given, issue.options) : undefined;
      }
      const values = issue.inclusive === false ? undefined : unionValues(issue.errors);
      return values === undefined ? undefined : notOneOf(issue.input, values);
    }
    default:
      return undefined;
  }
}

/**
 * The message for an issue about an absent value, `undefined` for any other issue (zod then words
 * it as it would have). An absent value is `undefined`, and with `nullAtRoot` a null whole value;
 * a discriminated union's issue is about its discriminator key, absent from the object it is in.
 */
export function absentValueMessage(issue: RawIssue, options: AbsentValueOptions = {}): string | undefined {
  const absent = issue.input === undefined || (options.nullAtRoot === true && issue.input === null && (issue.path ?? []).length === 0);
  switch (issue.code) {
    case 'invalid_type':
      return absent ? required(undefined) : undefined;
    case 'invalid_value':
      return absent ? required(issue.values) : undefined;
    case 'invalid_union': {
      const key = issue.discriminator;
      if (key !== undefined) return isRecord(issue.input) && issue.input[key] === undefined ? required(Array.isArray(issue.options) ? issue.options : undefined) : undefined;
      return absent ? required(undefined) : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * A schema's own message (zod's `error` param) for a value it refuses, which words an absent value
 * as absentValueMessage does: a schema's message outranks the parse's, so without this a missing
 * field would read as one of the wrong form.
 */
export function requiredOr(message: string): (issue: RawIssue) => string {
  return (issue) => absentValueMessage(issue) ?? message;
}

/** A count as a refusal writes it: `2,001`. */
function counted(count: number): string {
  return count.toLocaleString('en-US');
}

/**
 * The message for a text, a list or a number out of its bounds, saying how far it is and what the
 * bound is (`has 2,001 characters, at most 2,000`, `is empty`), as the CLI's import says it;
 * `undefined` for any other issue. Characters are counted as zod's length checks count them, by
 * code point, so an emoji is one.
 */
export function sizeMessage(issue: RawIssue): string | undefined {
  if (issue.code !== 'too_big' && issue.code !== 'too_small') return undefined;
  const bound = issue.code === 'too_big' ? issue.maximum : issue.minimum;
  if (typeof bound !== 'number') return undefined;
  const input = issue.input;
  const inclusive = issue.inclusive !== false;
  if (issue.origin === 'string' && typeof input === 'string') {
    if (issue.code === 'too_small' && input.length === 0) return 'is empty';
    const length = [...input].length;
    return `has ${counted(length)} ${length === 1 ? 'character' : 'characters'}, at ${issue.code === 'too_big' ? 'most' : 'least'} ${counted(bound)}`;
  }
  if (issue.origin === 'array' && Array.isArray(input)) {
    if (issue.code === 'too_small' && input.length === 0) return `is an empty list: give at least ${counted(bound)}`;
    return `has ${counted(input.length)} ${input.length === 1 ? 'item' : 'items'}, at ${issue.code === 'too_big' ? 'most' : 'least'} ${counted(bound)}`;
  }
  if (issue.origin === 'number' && typeof input === 'number') {
    const limit = issue.code === 'too_big' ? (inclusive ? `at most ${bound}` : `must be less than ${bound}`) : inclusive ? `at least ${bound}` : `must be more than ${bound}`;
    return `is ${input}, ${limit}`;
  }
  return undefined;
}

/**
 * Options for a parse whose issues become field issues: an absent value `is required`, a value
 * not in its list is quoted with the list (notOneOf), and one out of its bounds says by how much.
 */
export const FIELD_PARSE: z.core.ParseContext<z.core.$ZodIssue> = { error: (issue) => absentValueMessage(issue) ?? unlistedValueMessage(issue) ?? sizeMessage(issue) };

/** FIELD_PARSE for a whole request body, which a client may not send at all (`body: is required`). */
export const REQUEST_BODY_PARSE: z.core.ParseContext<z.core.$ZodIssue> = {
  error: (issue) => absentValueMessage(issue, { nullAtRoot: true }) ?? unlistedValueMessage(issue) ?? sizeMessage(issue),
};

/**
 * One wording for a value that is not there, wherever a zod issue becomes a field issue (the API's
 * problem+json `errors[]`, settings, the engine's inputs, workflow definitions): `is required`, and
 * for a field that takes one of a list, the list as well (`is required: one of opted_in, opted_out`).
 * zod 4 words an absent value as one of the wrong type ("Invalid input: expected string, received
 * undefined"), which says neither that the field is missing nor what to send.
 *
 * It is a per-parse error map (https://zod.dev/error-customization, "Per-parse error
 * customization"), passed with each parse: a message a schema or check gives itself still wins,
 * and zod's global configuration, which every user of this package as a library shares, is left
 * alone. zod hands the map each issue with the value it is about (`input`), so an absent value is
 * told from a present one of the wrong type, whose wording stays zod's.
 */
import type { z } from 'zod';

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

/** Options for a parse whose issues become field issues: an absent value `is required`. */
export const FIELD_PARSE: z.core.ParseContext<z.core.$ZodIssue> = { error: (issue) => absentValueMessage(issue) };

/** FIELD_PARSE for a whole request body, which a client may not send at all (`body: is required`). */
export const REQUEST_BODY_PARSE: z.core.ParseContext<z.core.$ZodIssue> = { error: (issue) => absentValueMessage(issue, { nullAtRoot: true }) };

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { zodIssuesToFieldIssues } from '../../src/core/ledger.js';
import { CONSENT_STATUSES, ConsentStatusSchema, LEGAL_BASES, LegalBasisSchema } from '../../src/core/consent.js';
import { FIELD_PARSE, listedValueMeant, noneOf, notOneOf, notOneOfMeant, REQUEST_BODY_PARSE, requiredOr } from '../../src/core/required.js';

/** The field issues of a parse that fails, parsed with `options`. */
function issuesOf(schema: z.ZodType, input: unknown, options: z.core.ParseContext<z.core.$ZodIssue> = FIELD_PARSE): { path: string; message: string }[] {
  const parsed = schema.safeParse(input, options);
  if (parsed.success) throw new Error(`expected ${JSON.stringify(input)} to be refused`);
  return zodIssuesToFieldIssues(parsed.error);
}

const Person = z.object({
  name: z.string(),
  age: z.number().int(),
  tags: z.array(z.string()),
  from: z.object({ id: z.string() }).strict(),
  channel: z.enum(['whatsapp', 'sms']),
  status: z.literal('dead'),
  contact: z.union([z.string(), z.number()]),
  condition: z.discriminatedUnion('type', [z.object({ type: z.literal('has_tag'), tag: z.string() }), z.object({ type: z.literal('field_present') })]),
});

describe('FIELD_PARSE: an absent value is required', () => {
  it('words every kind of absent field "is required", with the values a listed field takes', () => {
    expect(issuesOf(Person, { from: {}, condition: {} })).toEqual([
      { path: 'name', message: 'is required' },
      { path: 'age', message: 'is required' },
      { path: 'tags', message: 'is required' },
      { path: 'from.id', message: 'is required' },
      { path: 'channel', message: 'is required: one of whatsapp, sms' },
      { path: 'status', message: 'is required: dead' },
      { path: 'contact', message: 'is required' },
      { path: 'condition.type', message: 'is required: one of has_tag, field_present' },
    ]);
  });

  it('words an absent field "is required" beside present values of the wrong type, whose wording stays zod\'s, and values not in their list', () => {
    const issues = issuesOf(Person, {
      name: 5,
      age: 1.5,
      tags: null,
      from: { id: 'x', other: 1 },
      channel: 'fax',
      status: 'pending',
      contact: true,
      condition: { type: 'nope' },
    });
    expect(issues).toEqual([
      { path: 'name', message: 'Invalid input: expected string, received number' },
      { path: 'age', message: 'Invalid input: expected int, received number' },
      { path: 'tags', message: 'Invalid input: expected array, received null' },
      { path: 'from.other', message: 'is not a known field' },
      { path: 'channel', message: '"fax" is not one of whatsapp, sms' },
      { path: 'status', message: '"pending" is not dead' },
      { path: 'contact', message: 'Invalid input' },
      { path: 'condition.type', message: '"nope" is not one of has_tag, field_present' },
    ]);
    expect(issuesOf(Person.pick({ name: true, age: true }), { name: 5 })).toEqual([
      { path: 'name', message: 'Invalid input: expected string, received number' },
      { path: 'age', message: 'is required' },
    ]);
  });

  it("keeps a schema's own message for an absent value, and words a check's issue by the size it has", () => {
    const schema = z.object({ status: z.literal('dead', { error: 'must be "dead"' }), text: z.string().min(1) });
    expect(issuesOf(schema, { text: '' })).toEqual([
      { path: 'status', message: 'must be "dead"' },
      { path: 'text', message: 'is empty' },
    ]);
    expect(issuesOf(schema, {})).toEqual([
      { path: 'status', message: 'must be "dead"' },
      { path: 'text', message: 'is required' },
    ]);
  });

  it('words a missing value itself "is required", and a null one, which is a value, as zod does', () => {
    expect(issuesOf(Person, undefined)).toEqual([{ path: '', message: 'is required' }]);
    expect(issuesOf(Person, null)).toEqual([{ path: '', message: 'Invalid input: expected object, received null' }]);
  });

  it("changes no parse that is not given it: zod's configuration, which the package's library users share, stays as it was", () => {
    const schema = z.object({ id: z.string() });
    expect(issuesOf(schema, {})).toEqual([{ path: 'id', message: 'is required' }]);
    expect(schema.safeParse({}).error?.issues.map((issue) => issue.message)).toEqual(['Invalid input: expected string, received undefined']);
  });
});

describe('FIELD_PARSE: a value not in its list is quoted, with the list', () => {
  const Listed = z.object({
    channel: z.enum(['whatsapp', 'sms', 'any']),
    basis: z.literal(['consent', 'contract']),
    scope: z.union([z.literal('current'), z.enum(['whatsapp', 'sms'])]),
    flag: z.literal(true),
  });

  it('words an enum, a literal list, a union of literals and enums and a single literal alike', () => {
    expect(issuesOf(Listed, { channel: 'pigeon', basis: 'CONSENT', scope: 'fax', flag: false })).toEqual([
      { path: 'channel', message: '"pigeon" is not one of whatsapp, sms, any' },
      { path: 'basis', message: '"CONSENT" is not one of consent, contract' },
      { path: 'scope', message: '"fax" is not one of current, whatsapp, sms' },
      { path: 'flag', message: 'false is not true' },
    ]);
  });

  it('shows a value that is not a string as written or by its kind, and quotes at most 80 characters of a long one', () => {
    expect(issuesOf(Listed.pick({ channel: true }), { channel: 5 })).toEqual([{ path: 'channel', message: '5 is not one of whatsapp, sms, any' }]);
    expect(issuesOf(Listed.pick({ channel: true }), { channel: null })).toEqual([{ path: 'channel', message: 'null is not one of whatsapp, sms, any' }]);
    expect(issuesOf(Listed.pick({ channel: true }), { channel: { sms: true } })).toEqual([{ path: 'channel', message: 'an object is not one of whatsapp, sms, any' }]);
    expect(issuesOf(Listed.pick({ channel: true }), { channel: ['sms'] })).toEqual([{ path: 'channel', message: 'an array is not one of whatsapp, sms, any' }]);
    expect(issuesOf(Listed.pick({ channel: true }), { channel: 'x'.repeat(81) })).toEqual([{ path: 'channel', message: `"${'x'.repeat(80)}"… is not one of whatsapp, sms, any` }]);
  });

  it("keeps a schema's own message for a value not in its list, and zod's wording for a parse not given the map", () => {
    const Own = z.object({ format: z.enum(['csv', 'json'], { error: requiredOr('must be csv or json') }) });
    expect(issuesOf(Own, { format: 'xml' })).toEqual([{ path: 'format', message: 'must be csv or json' }]);
    expect(Listed.pick({ channel: true }).safeParse({ channel: 'fax' }).error?.issues.map((issue) => issue.message)).toEqual([
      'Invalid option: expected one of "whatsapp"|"sms"|"any"',
    ]);
  });

  it('words a request body\'s values the same way', () => {
    expect(issuesOf(Listed.pick({ channel: true }), { channel: 'fax' }, REQUEST_BODY_PARSE)).toEqual([{ path: 'channel', message: '"fax" is not one of whatsapp, sms, any' }]);
  });
});

describe('notOneOf and noneOf: the house wording for values not in a list', () => {
  it('names one value, or several of one field together', () => {
    expect(notOneOf('pigeon', ['whatsapp', 'sms'])).toBe('"pigeon" is not one of whatsapp, sms');
    expect(noneOf(['a'], ['whatsapp', 'sms'])).toBe('"a" is not one of whatsapp, sms');
    expect(noneOf(['a', 'b'], ['whatsapp', 'sms'])).toBe('"a" and "b" are not one of whatsapp, sms');
    expect(noneOf(['a', 'b', 'c'], ['whatsapp', 'sms'])).toBe('"a", "b" and "c" are not one of whatsapp, sms');
  });
});

describe('notOneOfMeant: the listed value one written otherwise stands for', () => {
  it('names the one value written in other letter case or with spaces or hyphens for its underscores', () => {
    for (const written of ['opted in', 'Opted In', 'opted-in', ' OPTED_IN ', 'opted - in']) expect(listedValueMeant(written, CONSENT_STATUSES)).toBe('opted_in');
    expect(listedValueMeant('consent_with_notice', LEGAL_BASES)).toBe('CONSENT_WITH_NOTICE');
    expect(notOneOfMeant('opted in', CONSENT_STATUSES)).toBe('"opted in" is not one of opted_in, opted_out (did you mean "opted_in"?)');
  });

  it('names none for a listed value, one that stands for none or for several, or a value that is no string', () => {
    expect(listedValueMeant('opted_in', CONSENT_STATUSES)).toBeUndefined();
    expect(listedValueMeant('optedin', CONSENT_STATUSES)).toBeUndefined();
    expect(listedValueMeant('a b', ['a_b', 'A-B'])).toBeUndefined();
    expect(listedValueMeant(1, [1, 2])).toBeUndefined();
    // U+212A KELVIN SIGN lower-cases to "k" in Unicode; only ASCII letters are folded.
    expect(listedValueMeant('\u212A', ['k'])).toBeUndefined();
    expect(notOneOfMeant('pigeon', ['whatsapp', 'sms'])).toBe('"pigeon" is not one of whatsapp, sms');
  });

  it("is how a status's and a legal basis's schema refuse a value, and an absent one stays required", () => {
    expect(issuesOf(z.object({ status: ConsentStatusSchema }), { status: 'Opted In' })).toEqual([
      { path: 'status', message: '"Opted In" is not one of opted_in, opted_out (did you mean "opted_in"?)' },
    ]);
    expect(issuesOf(z.object({ legalBasis: LegalBasisSchema }), { legalBasis: 'consent_with_notice' })).toEqual([
      { path: 'legalBasis', message: `"consent_with_notice" is not one of ${LEGAL_BASES.join(', ')} (did you mean "CONSENT_WITH_NOTICE"?)` },
    ]);
    expect(issuesOf(z.object({ status: ConsentStatusSchema }), {})).toEqual([{ path: 'status', message: 'is required: one of opted_in, opted_out' }]);
  });
});

describe('REQUEST_BODY_PARSE: a body that was not sent is required too', () => {
  const Body = z.object({ status: z.literal('dead'), note: z.string().optional() }).strict();

  it('words a null or missing body "is required", and a null field of a body as zod does', () => {
    expect(issuesOf(Body, null, REQUEST_BODY_PARSE)).toEqual([{ path: '', message: 'is required' }]);
    expect(issuesOf(Body, undefined, REQUEST_BODY_PARSE)).toEqual([{ path: '', message: 'is required' }]);
    expect(issuesOf(Body, { status: 'dead', note: null }, REQUEST_BODY_PARSE)).toEqual([{ path: 'note', message: 'Invalid input: expected string, received null' }]);
    expect(issuesOf(Body, {}, REQUEST_BODY_PARSE)).toEqual([{ path: 'status', message: 'is required: dead' }]);
    expect(issuesOf(Body, [], REQUEST_BODY_PARSE)).toEqual([{ path: '', message: 'Invalid input: expected object, received array' }]);
  });
});

describe("requiredOr: a schema's own message, and `is required` for an absent value", () => {
  it('words an absent value "is required" whatever the parse, and a present one that it refuses with the message', () => {
    const Hook = z.object({ targetUrl: z.url({ protocol: /^https?$/, error: requiredOr('must be an http(s) URL') }) });
    expect(issuesOf(Hook, {})).toEqual([{ path: 'targetUrl', message: 'is required' }]);
    expect(Hook.safeParse({}).error?.issues.map((issue) => issue.message)).toEqual(['is required']);
    expect(issuesOf(Hook, { targetUrl: 'ftp://example.com' })).toEqual([{ path: 'targetUrl', message: 'must be an http(s) URL' }]);
    expect(issuesOf(Hook, { targetUrl: 5 })).toEqual([{ path: 'targetUrl', message: 'must be an http(s) URL' }]);
  });
});

describe('FIELD_PARSE: a value out of its bounds says by how much', () => {
  const Bounded = z.object({
    note: z.string().max(2000),
    code: z.string().trim().min(3),
    items: z.array(z.string()).min(1).max(3),
    limit: z.number().int().min(1).max(500),
    ratio: z.number().gt(0).lt(1),
  });

  it('counts characters and items, in thousands as a person writes them, and names an empty text or list as such', () => {
    expect(issuesOf(Bounded, { note: 'x'.repeat(2001), code: 'ab', items: ['a', 'b', 'c', 'd'], limit: 501, ratio: 1 })).toEqual([
      { path: 'note', message: 'has 2,001 characters, at most 2,000' },
      { path: 'code', message: 'has 2 characters, at least 3' },
      { path: 'items', message: 'has 4 items, at most 3' },
      { path: 'limit', message: 'is 501, at most 500' },
      { path: 'ratio', message: 'is 1, must be less than 1' },
    ]);
    expect(issuesOf(Bounded, { note: '', code: '   ', items: [], limit: 0, ratio: 0 })).toEqual([
      { path: 'code', message: 'is empty' },
      { path: 'items', message: 'is an empty list: give at least 1' },
      { path: 'limit', message: 'is 0, at least 1' },
      { path: 'ratio', message: 'is 0, must be more than 0' },
    ]);
  });

  it('counts an emoji as one character, as the length check does, and says one character as one', () => {
    expect(issuesOf(z.object({ code: z.string().min(3), note: z.string().max(1) }), { code: '😀😀', note: 'ab' })).toEqual([
      { path: 'code', message: 'has 2 characters, at least 3' },
      { path: 'note', message: 'has 2 characters, at most 1' },
    ]);
    expect(issuesOf(z.object({ code: z.string().min(2), items: z.array(z.number()).min(2) }), { code: '😀', items: [1] })).toEqual([
      { path: 'code', message: 'has 1 character, at least 2' },
      { path: 'items', message: 'has 1 item, at least 2' },
    ]);
  });

  it("keeps a schema's own message for its bound", () => {
    expect(issuesOf(z.object({ text: z.string().max(5, 'must be at most 5 characters') }), { text: 'abcdefg' })).toEqual([{ path: 'text', message: 'must be at most 5 characters' }]);
  });
});

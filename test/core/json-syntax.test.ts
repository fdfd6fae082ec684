import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONTROL_OR_BIDI_CHARACTER } from '../../src/core/contact.js';
import { jsonErrorPosition, jsonSyntaxError } from '../../src/core/json-syntax.js';

const RUNS = 500;

/** What JSON.parse throws for `text`, or null when it reads it. */
function parseError(text: string): Error | null {
  try {
    JSON.parse(text);
    return null;
  } catch (error) {
    return error as Error;
  }
}

/** The error line for `text`, which must not be JSON. */
function described(text: string): string {
  const error = parseError(text);
  expect(error, JSON.stringify(text)).not.toBeNull();
  return jsonSyntaxError(text, error);
}

describe('jsonSyntaxError', () => {
  it.each([
    ['', 'line 1, column 1: Unexpected end of JSON input'],
    ['[\n  1,\n', 'line 3, column 1: Unexpected end of JSON input'],
    ['{\n  "a": 1,\n', 'line 3, column 1: Expected double-quoted property name'],
    ['[1,]', `line 1, column 4: Unexpected token ']', "[1,]"`],
    ['{"a": tru}', `line 1, column 10: Unexpected token '}', "{"a": tru}"`],
    ['[1]\nx', 'line 2, column 1: Unexpected non-whitespace character after JSON'],
    ['{\n  "a": [1 2]\n}', "line 2, column 11: Expected ',' or ']' after array element"],
  ])('names a line and column for %j, without the offset V8 gives or its closing "is not valid JSON"', (text, line) => {
    expect(described(text)).toBe(line);
  });

  it('counts a CRLF file as an editor does: the carriage return ends its line, not the next', () => {
    expect(described('{\r\n  "a": 1\r\n  "b": 2\r\n}')).toBe("line 3, column 3: Expected ',' or '}' after property value");
    expect(described('[\r\n  1,\r\n  ]')).toBe(`line 3, column 3: Unexpected token ']', "[\\r\\n  1,\\r\\n  ]"`);
  });

  it('escapes every control character of the text V8 quotes, so the message stays on one line', () => {
    const line = described('x\r\n\t\u0001\u007f\u0085\u2028');
    expect(line).toBe(`line 1, column 1: Unexpected token 'x', "x\\r\\n\\t\\u0001\\u007F\\u0085\\u2028"`);
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
  });

  it('escapes every bidirectional formatting character of the text V8 quotes, so the line reads in the order it is written', () => {
    const marks = '\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069';
    const line = described(`{"a": x${marks}}`);
    expect(line).toBe(
      `line 1, column 7: Unexpected token 'x', "{"a": x\\u061C\\u200E\\u200F\\u202A\\u202B\\u202C\\u202D\\u202E\\u2066\\u2067\\u2068\\u2069}"`,
    );
    expect(line).not.toMatch(/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/);
  });

  it('escapes every character a name may not hold (CONTROL_OR_BIDI_CHARACTER), and the line and paragraph separators', () => {
    const unprintable = Array.from({ length: 0x10000 }, (_, code) => String.fromCharCode(code)).filter(
      (char) => CONTROL_OR_BIDI_CHARACTER.test(char) || char === '\u2028' || char === '\u2029',
    );
    expect(unprintable).toHaveLength(0x20 + 0x21 + 1 + 2 + 5 + 4 + 2);
    for (const char of unprintable) {
      const line = jsonSyntaxError(`x${char}`, new SyntaxError(`Unexpected token 'x', "x${char}" is not valid JSON`));
      expect(line, `U+${char.charCodeAt(0).toString(16)}`).toMatch(/^line 1, column 1: Unexpected token 'x', "x\\(?:[nrt]|u[0-9A-F]{4})"$/);
    }
  });

  it('counts columns in UTF-16 code units', () => {
    expect(described('["😀é", x]')).toBe(`line 1, column 9: Unexpected token 'x', "["😀é", x]"`);
  });

  it('reads V8 messages in the newer form with their own line and column', () => {
    const text = '{\n  "a" 1\n}';
    expect(jsonSyntaxError(text, new SyntaxError("Expected ':' after property name in JSON at position 8 (line 2 column 7)"))).toBe(
      "line 2, column 7: Expected ':' after property name",
    );
  });

  it('places a message that gives no position where the scanner stops', () => {
    expect(jsonSyntaxError('{"a":\n  nope}', 'unreadable')).toBe('line 2, column 4: unreadable');
  });
});

describe('jsonErrorPosition', () => {
  it.each([
    ['{"a":[1,{"b":null}],"c":"\\u00e9\\n","d":-0.5e+10}', -1],
    [' \t\r\n[] \n', -1],
    ['', 0],
    ['   ', 3],
    ['[1,', 3],
    ['tru', 3],
    ['trux', 3],
    ['01', 1],
    ['"\\u12x"', 5],
    ['"a\tb"', 2],
    ['{"a" 1}', 5],
    ['\u00a0[]', 0],
  ])('%j stops at %i', (text, offset) => {
    expect(jsonErrorPosition(text)).toBe(offset);
    expect(parseError(text) === null).toBe(offset === -1);
  });

  it('describes a very deeply nested text without overflowing the stack', () => {
    expect(jsonErrorPosition('['.repeat(1_000_000))).toBe(1_000_000);
    expect(jsonErrorPosition(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)).toBe(-1);
  });

  /** Characters a corruption inserts: JSON's own punctuation, blank space of both kinds, control characters and others. */
  const strayCharacter = fc.constantFrom(...'{}[]:,"\\/-+.0123456789eEtfnulx \t\r\n\u0000\u001f\u007f\u00a0\u2028é😀');

  /** JSON.stringify escapes line breaks inside strings, so every line feed it writes is between tokens, and may become a CRLF. */
  const serialized = fc
    .tuple(fc.jsonValue(), fc.constantFrom<string | number | undefined>(undefined, 2, '\t'), fc.boolean())
    .map(([value, indent, crlf]) => {
      const text = JSON.stringify(value, null, indent) ?? 'null';
      return crlf ? text.replaceAll('\n', '\r\n') : text;
    });

  type Corruption = { kind: 'truncate' } | { kind: 'insert'; char: string } | { kind: 'delete' } | { kind: 'replace'; char: string };
  const corruption: fc.Arbitrary<Corruption> = fc.oneof(
    fc.constant<Corruption>({ kind: 'truncate' }),
    strayCharacter.map((char): Corruption => ({ kind: 'insert', char })),
    fc.constant<Corruption>({ kind: 'delete' }),
    strayCharacter.map((char): Corruption => ({ kind: 'replace', char })),
  );

  function corrupt(text: string, at: number, how: Corruption): string {
    switch (how.kind) {
      case 'truncate':
        return text.slice(0, at);
      case 'insert':
        return text.slice(0, at) + how.char + text.slice(at);
      case 'delete':
        return text.slice(0, at) + text.slice(at + 1);
      case 'replace':
        return text.slice(0, at) + how.char + text.slice(at + 1);
    }
  }

  it('agrees with JSON.parse on random JSON corrupted at a random place, and stops within the text where V8 does', () => {
    fc.assert(
      fc.property(serialized, fc.nat(), corruption, (json, where, how) => {
        const at = where % (json.length + 1);
        const text = corrupt(json, at, how);
        const error = parseError(text);
        const offset = jsonErrorPosition(text);
        if (error === null) {
          expect(offset).toBe(-1);
          return;
        }
        // What comes before the corruption was the start of valid JSON: the first bad character is not in it.
        expect(offset).toBeGreaterThanOrEqual(at);
        expect(offset).toBeLessThanOrEqual(text.length);
        if (how.kind === 'truncate') expect(offset).toBe(text.length);
        // Where V8 names an offset or a character, the scanner stops at the same one.
        const given = /at position (\d+)/.exec(error.message);
        if (given !== null) expect(offset).toBe(Number(given[1]));
        const token = /^Unexpected token '([^]*?)', /.exec(error.message);
        if (token !== null) expect(text.charAt(offset)).toBe(token[1]);
        if (error.message === 'Unexpected end of JSON input') expect(offset).toBe(text.length);
        const line = jsonSyntaxError(text, error);
        expect(line).toMatch(/^line \d+, column \d+: /);
        expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
      }),
      { numRuns: RUNS },
    );
  });
});

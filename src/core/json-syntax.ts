import { CONTROL_OR_BIDI_CHARACTER } from './contact.js';

/**
 * Where a JSON text stops being JSON, said at a line and column, as an editor shows them, rather
 * than at V8's character offset or at none. Pure: the CLI reads transcript files with it and an
 * HTTP request body can be described by it alike.
 */

/** Thrown inside the scanner at the offset of the first character it cannot accept. */
class Stop {
  constructor(readonly at: number) {}
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const SLASH = 0x2f;

/** RFC 8259 §2: insignificant whitespace is space, horizontal tab, line feed and carriage return only. */
function isWhitespace(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;
}

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

function isHexDigit(code: number): boolean {
  return isDigit(code) || (code >= 0x41 && code <= 0x46) || (code >= 0x61 && code <= 0x66);
}

/** RFC 8259 §7: the characters a backslash may escape besides `u`. */
const SINGLE_ESCAPES: ReadonlySet<number> = new Set([QUOTE, BACKSLASH, SLASH, 0x62, 0x66, 0x6e, 0x72, 0x74]);

/**
 * A checker of RFC 8259 JSON text (https://www.rfc-editor.org/rfc/rfc8259), read one UTF-16 code
 * unit at a time as JSON.parse reads a JavaScript string. Nesting is kept on a list rather than
 * the call stack, so a deeply nested text is described rather than overflowing the stack.
 */
class JsonScanner {
  private at = 0;
  private readonly open: ('array' | 'object')[] = [];

  constructor(private readonly text: string) {}

  /** The offset of the first character that cannot continue the text, text.length for an early end, -1 for valid JSON. */
  firstInvalid(): number {
    try {
      this.scan();
      return -1;
    } catch (error) {
      if (error instanceof Stop) return error.at;
      throw error;
    }
  }

  private code(offset = this.at): number | undefined {
    return offset < this.text.length ? this.text.charCodeAt(offset) : undefined;
  }

  /** Stops at `offset`: the character there is not accepted, or the text ends there. */
  private stop(offset = this.at): never {
    throw new Stop(Math.min(offset, this.text.length));
  }

  private skipWhitespace(): void {
    for (let code = this.code(); code !== undefined && isWhitespace(code); code = this.code()) this.at++;
  }

  private expect(code: number): void {
    this.skipWhitespace();
    if (this.code() !== code) this.stop();
    this.at++;
  }

  private scan(): void {
    for (;;) {
      if (this.value() === 'opened') continue;
      if (this.afterValue() === 'done') return;
    }
  }

  /** Reads one value, 'complete'; a non-empty array or object is only 'opened', its first value read next by `scan`'s loop. */
  private value(): 'opened' | 'complete' {
    this.skipWhitespace();
    const code = this.code();
    if (code === undefined) this.stop();
    switch (code) {
      case 0x7b: // {
        this.at++;
        this.skipWhitespace();
        if (this.code() === 0x7d) {
          this.at++;
          return 'complete';
        }
        this.member();
        this.open.push('object');
        return 'opened';
      case 0x5b: // [
        this.at++;
        this.skipWhitespace();
        if (this.code() === 0x5d) {
          this.at++;
          return 'complete';
        }
        this.open.push('array');
        return 'opened';
      case QUOTE:
        this.string();
        return 'complete';
      case 0x74:
        this.literal('true');
        return 'complete';
      case 0x66:
        this.literal('false');
        return 'complete';
      case 0x6e:
        this.literal('null');
        return 'complete';
      default:
        if (code !== 0x2d && !isDigit(code)) this.stop();
        this.number();
        return 'complete';
    }
  }

  /** An object member's name and colon; the value is read next. */
  private member(): void {
    this.skipWhitespace();
    if (this.code() !== QUOTE) this.stop();
    this.string();
    this.expect(0x3a);
  }

  /**
   * After a value: a comma and the next member, the end of the arrays and objects it closes, or
   * the end of the text. 'next' when another value is to be read.
   */
  private afterValue(): 'next' | 'done' {
    for (;;) {
      this.skipWhitespace();
      const inside = this.open[this.open.length - 1];
      const code = this.code();
      if (inside === undefined) {
        if (code !== undefined) this.stop();
        return 'done';
      }
      if (code === 0x2c) {
        this.at++;
        if (inside === 'object') this.member();
        return 'next';
      }
      if ((inside === 'array' && code === 0x5d) || (inside === 'object' && code === 0x7d)) {
        this.at++;
        this.open.pop();
        continue;
      }
      this.stop();
    }
  }

  private literal(word: string): void {
    for (let i = 0; i < word.length; i++) {
      if (this.code(this.at + i) !== word.charCodeAt(i)) this.stop(this.at + i);
    }
    this.at += word.length;
  }

  /** RFC 8259 §6: `-`? (`0` | [1-9][0-9]*) (`.` [0-9]+)? ([eE] [+-]? [0-9]+)? */
  private number(): void {
    if (this.code() === 0x2d) this.at++;
    const first = this.code();
    if (first === undefined || !isDigit(first)) this.stop();
    this.at++;
    if (first !== 0x30) this.digits();
    if (this.code() === 0x2e) {
      this.at++;
      this.someDigits();
    }
    const exponent = this.code();
    if (exponent === 0x65 || exponent === 0x45) {
      this.at++;
      const sign = this.code();
      if (sign === 0x2b || sign === 0x2d) this.at++;
      this.someDigits();
    }
  }

  private digits(): void {
    for (let code = this.code(); code !== undefined && isDigit(code); code = this.code()) this.at++;
  }

  private someDigits(): void {
    const code = this.code();
    if (code === undefined || !isDigit(code)) this.stop();
    this.digits();
  }

  /** RFC 8259 §7: control characters U+0000 to U+001F must be escaped; a backslash starts one of the escapes listed. */
  private string(): void {
    this.at++;
    for (;;) {
      const code = this.code();
      if (code === undefined || code < 0x20) this.stop();
      this.at++;
      if (code === QUOTE) return;
      if (code !== BACKSLASH) continue;
      const escaped = this.code();
      if (escaped === undefined) this.stop();
      if (SINGLE_ESCAPES.has(escaped)) {
        this.at++;
        continue;
      }
      if (escaped !== 0x75) this.stop();
      this.at++;
      for (let i = 0; i < 4; i++) {
        const hex = this.code();
        if (hex === undefined || !isHexDigit(hex)) this.stop();
        this.at++;
      }
    }
  }
}

/**
 * The offset in `text` where it stops being JSON: the first character that cannot continue it,
 * or `text.length` when it ends before it is complete; -1 when it is valid JSON. Offsets count
 * UTF-16 code units, as JavaScript strings and V8's `at position N` do.
 */
export function jsonErrorPosition(text: string): number {
  return new JsonScanner(text).firstInvalid();
}

/**
 * The end of V8's `Unexpected token 'x', "..." is not valid JSON`: the message is already said to
 * be about text that is not JSON, by the caller (`is not valid JSON: line 1, ...`) or by its place.
 */
const V8_NOT_VALID_JSON = /\s+is not valid JSON$/;

/**
 * V8's suffix with the offset (`in JSON at position 149`, or `at position 3` after `after JSON`)
 * and, in newer versions, its own line and column.
 */
const V8_POSITION = /(?:\s+in JSON)?\s+at position (\d+)(?:\s*\(line \d+ column \d+\))?$/;

/**
 * Control characters (C0, DEL, C1), the bidirectional formatting characters, and the line and
 * paragraph separators, the characters a name may not hold (CONTROL_OR_BIDI_CHARACTER) and those
 * that end a line: V8 quotes the text it could not read, line breaks and all. A lone carriage
 * return would write over the start of the line, and an override or isolate (Unicode UAX #9 §2)
 * would show the rest of it in another order than it is written (Trojan Source, CVE-2021-42574).
 */
const UNPRINTABLE = new RegExp(`${CONTROL_OR_BIDI_CHARACTER.source}|[\\u2028\\u2029]`, 'g');
const NAMED_ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function printable(words: string): string {
  return words.replace(UNPRINTABLE, (char) => NAMED_ESCAPES[char] ?? `\\u${char.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`);
}

/** The 1-based line and column of `offset`: lines end at `\n` (a CRLF's `\r` stays on the line it ends), a column counts UTF-16 code units. */
function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let at = text.indexOf('\n'); at !== -1 && at < offset; at = text.indexOf('\n', at + 1)) {
    line++;
    lineStart = at + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

/**
 * What JSON.parse found wrong in `text` (`error` is what it threw), in one line: `line L, column
 * C: ` and V8's message without its offset or its closing `is not valid JSON` (V8_NOT_VALID_JSON),
 * so `Unexpected token 'x', "{"a": x}"`. The place is V8's when its message gives one (both
 * name the first character that cannot be read), else the scanner's: V8 gives none for
 * `Unexpected token 'x', "..." is not valid JSON` and `Unexpected end of JSON input`.
 */
export function jsonSyntaxError(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const given = V8_POSITION.exec(message);
  const v8Offset = given === null ? undefined : Number(given[1]);
  const scanned = v8Offset !== undefined && v8Offset <= text.length ? v8Offset : jsonErrorPosition(text);
  // A text the scanner reads whole was refused for something else than its syntax: it is placed at its end.
  const offset = scanned === -1 ? text.length : scanned;
  const { line, column } = lineAndColumn(text, offset);
  const words = (given === null ? message : message.slice(0, given.index)).replace(V8_NOT_VALID_JSON, '');
  return `line ${line}, column ${column}: ${printable(words)}`;
}

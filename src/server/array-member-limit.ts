import { Transform, type TransformCallback } from 'node:stream';
import type { preParsingHookHandler } from 'fastify';

/*
 * Byte values of the JSON structural characters (RFC 8259 §2). Every byte of a multi-byte UTF-8
 * sequence is 0x80 or above (RFC 3629 §3), so a byte below 0x80 is always the ASCII character
 * itself and the text can be scanned byte by byte without decoding it.
 */
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const SPACE = 0x20;
const TAB = 0x09;
const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;
/** The UTF-8 byte order mark, which the JSON body parser (secure-json-parse) skips before parsing. */
const BYTE_ORDER_MARK = [0xef, 0xbb, 0xbf] as const;

function isJsonWhitespace(byte: number): boolean {
  return byte === SPACE || byte === LINE_FEED || byte === CARRIAGE_RETURN || byte === TAB;
}

/**
 * Counts the elements of the array under one member of a JSON object (`{"rows": [...]}`) while
 * the text arrives, chunk by chunk, without building any value: what JSON.parse would make of a
 * body is known before JSON.parse runs. Only the root object's own member counts; a member of
 * that name deeper down does not. A name written with escapes (`"\u0072ows"`) is the same name,
 * as JSON.parse reads it. When the member appears more than once, `elements` is the largest of
 * its arrays. Text that is not JSON is scanned without error: the parser refuses it afterwards.
 */
export class ArrayMemberCounter {
  private readonly member: string;
  /** A member name spelled with escapes takes up to 6 bytes a character (`\u0072`). */
  private readonly longestSpelling: number;
  /** Bytes read so far: a byte order mark is skipped only at the very start. */
  private position = 0;
  private started = false;
  /** The root is not an object, or it has ended: nothing after it is counted. */
  private finished = false;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** At the root, the next string is a member name. */
  private expectingName = false;
  /** At the root, after a ':', the next value belongs to `lastName`. */
  private expectingValue = false;
  /** The bytes of the root member name being read; null when that name cannot be `member`. */
  private nameBytes: number[] | null = null;
  private lastName: string | null = null;
  private inMemberArray = false;
  private expectingElement = false;
  private current = 0;
  private largest = 0;

  constructor(member: string) {
    this.member = member;
    this.longestSpelling = member.length * 6;
  }

  /** Elements counted so far in the largest array under the member. */
  get elements(): number {
    return Math.max(this.current, this.largest);
  }

  push(chunk: Uint8Array): void {
    let index = 0;
    while (index < chunk.length && !this.finished) {
      if (this.inString && this.nameBytes === null && !this.escaped) {
        index = this.skipStringContent(chunk, index);
        if (index >= chunk.length) break;
      }
      const byte = chunk[index] ?? 0;
      index += 1;
      this.position += 1;
      if (this.inString) this.readStringByte(byte);
      else this.readStructuralByte(byte);
    }
    this.position += chunk.length - index;
  }

  /** The index of the next quote or backslash of a string's content, or the chunk's end: nothing between matters. */
  private skipStringContent(chunk: Uint8Array, from: number): number {
    let index = from;
    while (index < chunk.length) {
      const byte = chunk[index];
      if (byte === QUOTE || byte === BACKSLASH) break;
      index += 1;
    }
    this.position += index - from;
    return index;
  }

  private readStringByte(byte: number): void {
    if (this.escaped) {
      this.escaped = false;
      this.keepNameByte(byte);
      return;
    }
    if (byte === BACKSLASH) {
      this.escaped = true;
      this.keepNameByte(byte);
      return;
    }
    if (byte === QUOTE) {
      this.inString = false;
      if (this.nameBytes !== null) {
        this.lastName = decodeName(this.nameBytes);
        this.nameBytes = null;
      }
      return;
    }
    this.keepNameByte(byte);
  }

  private keepNameByte(byte: number): void {
    if (this.nameBytes === null) return;
    if (this.nameBytes.length >= this.longestSpelling) this.nameBytes = null;
    else this.nameBytes.push(byte);
  }

  private readStructuralByte(byte: number): void {
    if (isJsonWhitespace(byte)) return;
    if (!this.started) {
      if (this.position <= BYTE_ORDER_MARK.length && byte === BYTE_ORDER_MARK[this.position - 1]) return;
      this.started = true;
      if (byte !== OPEN_OBJECT) {
        this.finished = true;
        return;
      }
      this.depth = 1;
      this.expectingName = true;
      return;
    }
    if (this.inMemberArray && this.depth === 2 && this.expectingElement && byte !== CLOSE_ARRAY) {
      this.current += 1;
      this.expectingElement = false;
    }
    switch (byte) {
      case QUOTE:
        this.inString = true;
        if (this.depth === 1 && this.expectingName) {
          this.expectingName = false;
          this.lastName = null;
          this.nameBytes = [];
        }
        this.expectingValue = false;
        break;
      case OPEN_OBJECT:
      case OPEN_ARRAY:
        if (this.depth === 1 && this.expectingValue && byte === OPEN_ARRAY && this.lastName === this.member) {
          this.inMemberArray = true;
          this.expectingElement = true;
          this.current = 0;
        }
        this.expectingValue = false;
        this.depth += 1;
        break;
      case CLOSE_OBJECT:
      case CLOSE_ARRAY:
        this.depth -= 1;
        if (this.inMemberArray && this.depth === 1) {
          this.inMemberArray = false;
          this.largest = Math.max(this.largest, this.current);
          this.current = 0;
        }
        if (this.depth <= 0) this.finished = true;
        break;
      case COMMA:
        if (this.depth === 1) this.expectingName = true;
        else if (this.inMemberArray && this.depth === 2) this.expectingElement = true;
        break;
      case COLON:
        if (this.depth === 1) this.expectingValue = true;
        break;
      default:
        this.expectingValue = false;
        break;
    }
  }
}

/** A member name as JSON.parse reads it (escapes resolved), or null when it is not a valid JSON string. */
function decodeName(bytes: readonly number[]): string | null {
  try {
    const decoded: unknown = JSON.parse(`"${Buffer.from(bytes).toString('utf8')}"`);
    return typeof decoded === 'string' ? decoded : null;
  } catch {
    return null;
  }
}

/**
 * A route's `preParsing` hook that refuses a body whose root `member` array has more than `max`
 * elements as soon as the element past `max` arrives, before the body is parsed: JSON.parse of
 * millions of small elements holds the event loop for seconds, and the rows would be refused
 * anyway. The rest of such a body is read and dropped, as Fastify does with a body over its limit,
 * so the connection stays usable.
 */
export function limitArrayMember(member: string, max: number, refusal: () => Error): preParsingHookHandler {
  return (request, _reply, payload, done) => {
    // Fastify refuses a body announced longer than the route takes before reading any of it, and
    // Node then drops the unread body; a stream reading it here would keep it from being dropped.
    if (Number(request.headers['content-length']) > request.routeOptions.bodyLimit) {
      done(null, payload);
      return;
    }
    const counter = new ArrayMemberCounter(member);
    let received = 0;
    const counted: Transform & { receivedEncodedLength?: number } = new Transform({
      transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
        received += chunk.length;
        // Fastify compares the bytes a preParsing stream received with Content-Length.
        counted.receivedEncodedLength = received;
        counter.push(chunk);
        if (counter.elements > max) {
          payload.unpipe(counted);
          payload.resume();
          callback(refusal());
          return;
        }
        callback(null, chunk);
      },
    });
    payload.pipe(counted);
    done(null, counted);
  };
}

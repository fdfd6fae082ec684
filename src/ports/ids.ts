import { randomBytes } from 'node:crypto';

/** Sortable, unique ids (ULIDs). Injected so tests can predict them. */
export interface IdGenerator {
  /**
   * A new id stamped with `at`, sorting after every id this generator handed out before and after
   * `after` when that is an id of the same kind (the newest id the store holds: ids then follow
   * commit order across writers, see StoreTx.idFloor).
   */
  next(at: Date, after?: string): string;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const RANDOM_CHARS = 16;
const CANONICAL_ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;
const POOL_BYTES = 4096;
const MAX_ULID_TIME = 2 ** 48 - 1;

/**
 * Bytes of the CSPRNG handed out from a pooled buffer: asking it for a few bytes at a time costs
 * more than the rest of an inbound message's bookkeeping. `reserve(n)` sets aside the next `n`
 * bytes and answers where they start in `bytes`, which is valid until the next `reserve`.
 */
class RandomPool {
  bytes = randomBytes(POOL_BYTES);
  private offset = 0;

  reserve(length: number): number {
    if (this.offset + length > this.bytes.length) {
      this.bytes = randomBytes(POOL_BYTES);
      this.offset = 0;
    }
    const start = this.offset;
    this.offset += length;
    return start;
  }
}

/** The 10 characters of a ULID's time part: 48 bits of milliseconds, most significant first. */
function spellTime(time: number): string {
  let spelled = '';
  for (let i = 0, t = time; i < 10; i++, t = Math.floor(t / 32)) spelled = CROCKFORD.charAt(t % 32) + spelled;
  return spelled;
}

/**
 * The least ULID stamped at `at`: every id ulidGenerator stamped before `at` (to the millisecond)
 * sorts below it, and every id stamped at or after it sorts at or above it. A clock outside the
 * 48-bit time is clamped as ulidGenerator clamps it.
 */
export function ulidFloorAt(at: Date): string {
  const stamped = at.getTime();
  if (Number.isNaN(stamped)) throw new RangeError('An id floor cannot be taken at an invalid date');
  return spellTime(Math.min(Math.max(stamped, 0), MAX_ULID_TIME)) + '0'.repeat(RANDOM_CHARS);
}

/**
 * ULIDs (https://github.com/ulid/spec): 10 characters of milliseconds, 16 of randomness,
 * monotonic within a millisecond (the random part is incremented). Randomness is drawn from
 * a RandomPool.
 */
export function ulidGenerator(): IdGenerator {
  const random = new RandomPool();
  let lastTime = -1;
  const lastRandom = new Uint8Array(RANDOM_CHARS);

  function freshRandom(): void {
    const start = random.reserve(RANDOM_CHARS);
    for (let i = 0; i < RANDOM_CHARS; i++) lastRandom[i] = (random.bytes[start + i] ?? 0) & 31;
  }

  function increment(): void {
    for (let i = RANDOM_CHARS - 1; i >= 0; i--) {
      const digit = lastRandom[i] ?? 0;
      if (digit < 31) {
        lastRandom[i] = digit + 1;
        return;
      }
      lastRandom[i] = 0;
    }
    throw new Error('ULID random part overflowed within one millisecond');
  }

  // A use case stamps all its ids with one reading of the clock: the time part is spelled once,
  // and an increment that carries nothing rewrites only the last character of the random part.
  let timePart = '';
  let timePartOf = Number.NaN;
  let randomPart = '';

  function spellRandom(): void {
    randomPart = '';
    for (let i = 0; i < RANDOM_CHARS; i++) randomPart += CROCKFORD.charAt(lastRandom[i] ?? 0);
  }
  spellRandom();

  /** Continues from `id`: the next id increments its random part within its millisecond. */
  function continueFrom(id: string): string {
    let time = 0;
    for (let i = 0; i < 10; i++) time = time * 32 + CROCKFORD.indexOf(id.charAt(i));
    for (let i = 0; i < RANDOM_CHARS; i++) lastRandom[i] = CROCKFORD.indexOf(id.charAt(10 + i));
    increment();
    spellRandom();
    lastTime = time;
    timePart = id.slice(0, 10);
    timePartOf = time;
    return timePart + randomPart;
  }

  function nextAt(at: Date): string {
    const stamped = at.getTime();
    if (Number.isNaN(stamped)) throw new RangeError('An id cannot be stamped with an invalid date');
    // The time part is 48 bits of milliseconds since 1970 (the ULID spec): a clock outside them
    // is stamped at the nearest end, so every id keeps its 26 characters and its order.
    let time = Math.min(Math.max(stamped, 0), MAX_ULID_TIME);
    if (time < lastTime) time = lastTime;
    const last = lastRandom[RANDOM_CHARS - 1] ?? 0;
    if (time === lastTime && last < 31) {
      increment();
      randomPart = randomPart.slice(0, RANDOM_CHARS - 1) + CROCKFORD.charAt(last + 1);
    } else {
      if (time === lastTime) increment();
      else freshRandom();
      spellRandom();
    }
    lastTime = time;
    if (time !== timePartOf) {
      timePart = spellTime(time);
      timePartOf = time;
    }
    return timePart + randomPart;
  }

  return {
    next(at: Date, after?: string): string {
      const id = nextAt(at);
      return after !== undefined && id <= after && CANONICAL_ULID.test(after) ? continueFrom(after) : id;
    },
  };
}

/** Deterministic ids for tests: a prefix and a counter, still sortable. */
export function sequentialIds(prefix = 'id'): IdGenerator {
  let n = 0;
  return { next: () => `${prefix}_${String(++n).padStart(10, '0')}` };
}

/** Random values that nobody can guess, for salting what is hashed (see EvidenceSchema's `salt`). Injected so tests can predict them. */
export interface SaltSource {
  next(): string;
}

const SALT_BYTES = 16;

/** 128 random bits per salt, base64url, drawn from a RandomPool. */
export function randomSalts(): SaltSource {
  const random = new RandomPool();
  return {
    next(): string {
      const start = random.reserve(SALT_BYTES);
      return random.bytes.toString('base64url', start, start + SALT_BYTES);
    },
  };
}

import { randomBytes } from 'node:crypto';

/** Sortable, unique ids (ULIDs). Injected so tests can predict them. */
export interface IdGenerator {
  next(at: Date): string;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const RANDOM_CHARS = 16;
const POOL_BYTES = 4096;

/**
 * ULIDs (https://github.com/ulid/spec): 10 characters of milliseconds, 16 of randomness,
 * monotonic within a millisecond (the random part is incremented). Randomness is drawn from
 * a pooled buffer: asking the CSPRNG for 10 bytes per id costs more than the rest of an
 * inbound message's bookkeeping.
 */
export function ulidGenerator(): IdGenerator {
  let pool = randomBytes(POOL_BYTES);
  let offset = 0;
  let lastTime = -1;
  const lastRandom = new Uint8Array(RANDOM_CHARS);

  function freshRandom(): void {
    if (offset + RANDOM_CHARS > pool.length) {
      pool = randomBytes(POOL_BYTES);
      offset = 0;
    }
    for (let i = 0; i < RANDOM_CHARS; i++) lastRandom[i] = (pool[offset + i] ?? 0) & 31;
    offset += RANDOM_CHARS;
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

  return {
    next(at: Date): string {
      let time = at.getTime();
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
        timePart = '';
        for (let i = 0, t = time; i < 10; i++, t = Math.floor(t / 32)) timePart = CROCKFORD.charAt(t % 32) + timePart;
        timePartOf = time;
      }
      return timePart + randomPart;
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

/** 128 random bits per salt, base64url, drawn from a pooled buffer as ulidGenerator draws its own. */
export function randomSalts(): SaltSource {
  let pool = randomBytes(POOL_BYTES);
  let offset = 0;
  return {
    next(): string {
      if (offset + SALT_BYTES > pool.length) {
        pool = randomBytes(POOL_BYTES);
        offset = 0;
      }
      const salt = pool.toString('base64url', offset, offset + SALT_BYTES);
      offset += SALT_BYTES;
      return salt;
    },
  };
}

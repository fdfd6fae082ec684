import { describe, expect, it } from 'vitest';
import { decodeTime, isValid } from 'ulid';
import { sequentialIds, ulidFloorAt, ulidGenerator } from '../../src/ports/ids.js';

describe('ulidGenerator', () => {
  it('makes valid ULIDs that carry the given time', () => {
    const ids = ulidGenerator();
    const at = new Date('2026-05-01T12:34:56.789Z');
    const id = ids.next(at);
    expect(id).toHaveLength(26);
    expect(isValid(id)).toBe(true);
    expect(decodeTime(id)).toBe(at.getTime());
  });

  it('is strictly increasing within one millisecond and across them', () => {
    const ids = ulidGenerator();
    const at = new Date('2026-05-01T00:00:00.000Z');
    const made: string[] = [];
    for (let i = 0; i < 5000; i++) made.push(ids.next(new Date(at.getTime() + Math.floor(i / 100))));
    const sorted = [...made].sort();
    expect(made).toEqual(sorted);
    expect(new Set(made).size).toBe(made.length);
  });

  it('never goes backwards when the clock does', () => {
    const ids = ulidGenerator();
    const later = ids.next(new Date('2026-05-01T00:00:01.000Z'));
    const earlier = ids.next(new Date('2026-05-01T00:00:00.000Z'));
    expect(earlier > later).toBe(true);
  });

  it('stamps a time outside the 48 bits of a ULID at the nearest end, keeping 26 characters and the order', () => {
    const ids = ulidGenerator();
    const beforeEpoch = ids.next(new Date('1969-12-31T23:59:59.000Z'));
    const atEpoch = ids.next(new Date(0));
    expect([beforeEpoch, atEpoch].map((id) => [id.length, isValid(id), decodeTime(id)])).toEqual([
      [26, true, 0],
      [26, true, 0],
    ]);
    expect(atEpoch > beforeEpoch).toBe(true);
    const far = ulidGenerator().next(new Date(8.64e15));
    expect([far.length, isValid(far), decodeTime(far)]).toEqual([26, true, 2 ** 48 - 1]);
    expect(() => ids.next(new Date(Number.NaN))).toThrow(RangeError);
  });

  it('two generators do not collide', () => {
    const at = new Date('2026-05-01T00:00:00.000Z');
    const a = ulidGenerator();
    const b = ulidGenerator();
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      seen.add(a.next(at));
      seen.add(b.next(at));
    }
    expect(seen.size).toBe(4000);
  });
});

describe('ulidGenerator after an id from elsewhere', () => {
  const at = new Date('2026-05-01T00:00:00.000Z');

  it('sorts after an id another generator made later, and goes on from there', () => {
    const ahead = ulidGenerator().next(new Date(at.getTime() + 300));
    const ids = ulidGenerator();
    const first = ids.next(at, ahead);
    const second = ids.next(at);
    expect(first > ahead).toBe(true);
    expect(decodeTime(first)).toBe(at.getTime() + 300);
    expect(second > first).toBe(true);
    expect(isValid(first) && isValid(second)).toBe(true);
  });

  it('sorts after an id of the same millisecond with a greater random part', () => {
    const ids = ulidGenerator();
    const own = ids.next(at);
    const other = `${own.slice(0, 10)}ZZZZZZZZZZZZZZZY`;
    const next = ids.next(at, other);
    expect(next).toBe(`${own.slice(0, 10)}ZZZZZZZZZZZZZZZZ`);
  });

  it('keeps its own id when it already sorts after the other', () => {
    const ids = ulidGenerator();
    const behind = ulidGenerator().next(new Date(at.getTime() - 1000));
    const id = ids.next(at, behind);
    expect(decodeTime(id)).toBe(at.getTime());
  });

  it('ignores an id that is not a ULID', () => {
    const ids = ulidGenerator();
    const id = ids.next(at, 'id_0000000001');
    expect(decodeTime(id)).toBe(at.getTime());
    expect(isValid(id)).toBe(true);
  });
});

describe('sequentialIds', () => {
  it('counts with a prefix', () => {
    const ids = sequentialIds('ev');
    expect([ids.next(new Date(0)), ids.next(new Date(0))]).toEqual(['ev_0000000001', 'ev_0000000002']);
  });
});

describe('ulidFloorAt', () => {
  it('sorts above every id stamped before its millisecond and at or below every id stamped from it', () => {
    const at = new Date('2026-03-01T10:00:00.000Z');
    const floor = ulidFloorAt(at);
    expect(floor).toMatch(/^[0-7][0-9A-HJKMNP-TV-Z]{9}0{16}$/);
    const ids = ulidGenerator();
    const before = ids.next(new Date(at.getTime() - 1));
    const from = ids.next(at);
    expect(before < floor).toBe(true);
    expect(floor <= from).toBe(true);
    expect(from.slice(0, 10)).toBe(floor.slice(0, 10));
  });

  it('clamps a clock outside the 48-bit time as ids are clamped, and refuses an invalid date', () => {
    expect(ulidFloorAt(new Date(-1))).toBe('0'.repeat(26));
    expect(ulidFloorAt(new Date(2 ** 48 + 5))).toBe(`7${'Z'.repeat(9)}${'0'.repeat(16)}`);
    expect(() => ulidFloorAt(new Date(Number.NaN))).toThrow(RangeError);
  });
});

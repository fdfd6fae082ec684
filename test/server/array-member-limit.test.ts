import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ArrayMemberCounter } from '../../src/server/array-member-limit.js';

/** Counts `rows` in `text` fed in the given chunk sizes (cycled), as the body arrives from a socket. */
function countRows(text: string | Buffer, chunkSizes: readonly number[] = [Number.MAX_SAFE_INTEGER]): number {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const counter = new ArrayMemberCounter('rows');
  let offset = 0;
  for (let turn = 0; offset < bytes.length; turn++) {
    const size = Math.max(1, chunkSizes[turn % chunkSizes.length] ?? 1);
    counter.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
  return counter.elements;
}

/** What JSON.parse makes of the body's root `rows`, when it is an array. */
function parsedRows(text: string): number {
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 0;
  const rows: unknown = Reflect.get(parsed, 'rows');
  return Array.isArray(rows) ? rows.length : 0;
}

describe('ArrayMemberCounter', () => {
  it.each([
    ['{"rows":[]}', 0],
    ['{"rows":[{}]}', 1],
    ['{"rows":[{},{},{}]}', 3],
    [' \n{ "rows" : [ 1 , "two" , null , true , [3, 4], {"rows": [5, 6, 7]} ] }', 6],
    ['{"rows":["a,b", "]\\"[,", "\\\\", "{\\"x\\":[1,2]}"]}', 4],
    ['{"other":[1,2,3],"rows":[1]}', 1],
    ['{"nested":{"rows":[1,2,3]}}', 0],
    ['{"rows":"1,2,3"}', 0],
    ['[{"rows":[1,2,3]}]', 0],
    ['"rows"', 0],
    ['{"\\u0072ows":[1,2]}', 2],
    ['{"r\\u006fws":[1,2,3]}', 3],
    ['{"rows ":[1,2,3]}', 0],
    ['{"rowsrows":[1,2,3],"ro":[1]}', 0],
    ['{"a":"rows","b":[1,2]}', 0],
    ['\ufeff{"rows":[1,2]}', 2],
  ])('%s has %d rows', (text, rows) => {
    expect(countRows(text)).toBe(rows);
    expect(countRows(text, [1])).toBe(rows);
  });

  it('counts the larger array when the member appears twice, and nothing after the root ends', () => {
    expect(countRows('{"rows":[1,2,3],"rows":[1]}')).toBe(3);
    expect(countRows('{"rows":[1],"rows":[1,2]}')).toBe(2);
    expect(countRows('{"rows":[1]} {"rows":[1,2,3]}')).toBe(1);
  });

  it('reads names and strings split across chunks, multi-byte characters included', () => {
    const text = JSON.stringify({ note: 'façade ] , [ "', rows: ['€', { explanation: 'ä'.repeat(50) }, 'x'] });
    for (const size of [1, 2, 3, 5, 7, 64]) expect(countRows(text, [size])).toBe(3);
  });

  it('agrees with JSON.parse on any JSON object, however it is spaced and split', () => {
    const member = fc.oneof(fc.constant('rows'), fc.constant('row'), fc.string({ maxLength: 6 }));
    const body = fc.dictionary(member, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 });
    fc.assert(
      fc.property(body, fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 12 }), fc.constantFrom(undefined, 1, '\t'), fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 5 }), (object, rows, indent, chunks) => {
        const text = JSON.stringify({ ...object, rows }, null, indent);
        expect(countRows(text, chunks)).toBe(parsedRows(text));
        expect(countRows(JSON.stringify(object), chunks)).toBe(parsedRows(JSON.stringify(object)));
      }),
      { numRuns: 300 },
    );
  });
});

import { describe, expect, it } from 'vitest';
import { pageOf, unknownCursor } from '../../src/core/paging.js';

describe('pageOf', () => {
  const rows = [{ id: 'a' }, { id: 'b' }, { id: 'c' }];

  it('shows `limit` rows and names the last as the next cursor when a row more was read', () => {
    expect(pageOf(rows, 2, (row) => row.id)).toEqual({ items: [{ id: 'a' }, { id: 'b' }], next: 'b' });
  });

  it('has no next cursor on the last page, full or not', () => {
    expect(pageOf(rows, 3, (row) => row.id)).toEqual({ items: rows, next: null });
    expect(pageOf(rows.slice(0, 1), 3, (row) => row.id)).toEqual({ items: [{ id: 'a' }], next: null });
    expect(pageOf([], 3, (row: { id: string }) => row.id)).toEqual({ items: [], next: null });
  });
});

describe('unknownCursor', () => {
  it('is a validation failure naming the field, with a hint', () => {
    const error = unknownCursor('cursor', 'delivery dl_1 of this hook');
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.issues).toEqual([{ path: 'cursor', message: 'no delivery dl_1 of this hook: pass the nextCursor a previous page returned' }]);
    // Worded as every refusal of a field is, so a problem's detail names the field too.
    expect(error.message).toBe('cursor: no delivery dl_1 of this hook: pass the nextCursor a previous page returned');
  });
});

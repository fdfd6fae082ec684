import { afterEach, describe, expect, it, vi } from 'vitest';

afterEach(() => {
  vi.doUnmock('csv-parse');
  vi.doUnmock('csv-parse/sync');
  vi.resetModules();
});

describe('simulate', () => {
  it('loads no CSV parser: it reads JSON only', async () => {
    vi.resetModules();
    const loaded: string[] = [];
    vi.doMock('csv-parse', () => {
      loaded.push('csv-parse');
      return {};
    });
    vi.doMock('csv-parse/sync', () => {
      loaded.push('csv-parse/sync');
      return {};
    });
    const simulate = await import('../../src/cli/simulate.js');
    expect(Object.keys(simulate).length).toBeGreaterThan(0);
    expect(loaded).toEqual([]);
  });
});

describe('firstInvalidUtf8Offset', () => {
  it.each([
    [[0x7b, 0x7d], undefined],
    [[0xef, 0xbf, 0xbd, 0x41], undefined],
    [[0x41, 0xe9, 0x42], 1],
    [[0xc3, 0xa9, 0xef, 0xbf, 0xbd, 0xff], 5],
    [[0xe2, 0x82], 0],
  ])('%j: %s', async (bytes, offset) => {
    const { firstInvalidUtf8Offset } = await import('../../src/cli/utf8.js');
    expect(firstInvalidUtf8Offset(Uint8Array.from(bytes))).toBe(offset);
  });
});

import { describe, expect, it } from 'vitest';
import { prototypePoisoning } from '../../src/server/prototype-poisoning.js';

describe('prototypePoisoning', () => {
  it.each([
    ['{"__proto__":{"admin":true}}', '__proto__'],
    ['{"fields":{"__proto__":"z"}}', 'fields.__proto__'],
    ['{"rows":[{},{"a":{"__proto__":1}}]}', 'rows.1.a.__proto__'],
    ['{"fields":{"\\u005f_proto__":"z"}}', 'fields.__proto__'],
    ['{"constructor":{"prototype":{"admin":true}}}', 'constructor.prototype'],
    ['[{"x":{"constructor":{"prototype":null}}}]', '0.x.constructor.prototype'],
    ['\ufeff{"__proto__":1}', '__proto__'],
  ])('names the key of %s as %s', (text, path) => {
    expect(prototypePoisoning(text)?.path).toBe(path);
  });

  it('names the first such key breadth-first, and says why it is refused', () => {
    const found = prototypePoisoning('{"a":{"b":{"__proto__":1}},"c":{"__proto__":2}}');
    expect(found?.path).toBe('c.__proto__');
    expect(found?.message).toMatch(/"__proto__" is not accepted/);
    expect(prototypePoisoning('{"constructor":{"prototype":1}}')?.message).toMatch(/"constructor" key holding a "prototype" key is not accepted/);
  });

  it.each([
    '{"name":"__proto__","constructor":"x"}',
    '{"constructor":{"name":"Object"}}',
    '{"constructor":"prototype"}',
    '{"proto":1,"prototype":{}}',
    '{"name": "Ana',
    '',
    '"__proto__"',
  ])('finds nothing in %s', (text) => {
    expect(prototypePoisoning(text)).toBeUndefined();
  });
});

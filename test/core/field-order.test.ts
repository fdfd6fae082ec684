import { describe, expect, it } from 'vitest';
import { inPathOrder } from '../../src/core/field-order.js';

const issue = (path: string, message = 'is wrong') => ({ path, message });
const paths = (issues: { path: string }[]) => issues.map((entry) => entry.path);

describe('inPathOrder', () => {
  it("puts a list's items in index order, whichever check named them first", () => {
    const given = ['triggers.6.trigger', 'triggers.7.trigger', 'triggers.8.template', 'triggers.5.template', 'triggers.0.match', 'triggers.1.trigger', 'triggers.10.match', 'triggers.2.match'];
    expect(paths(inPathOrder(given.map((path) => issue(path))))).toEqual([
      'triggers.0.match',
      'triggers.1.trigger',
      'triggers.2.match',
      'triggers.5.template',
      'triggers.6.trigger',
      'triggers.7.trigger',
      'triggers.8.template',
      'triggers.10.match',
    ]);
  });

  it('keeps the fields of an object in the order they were first named, with everything under a field together', () => {
    const given = ['channel', 'messageId', 'from.id', 'triggers.3.match', 'defaultCountry', 'from.name', 'triggers.1.template'];
    expect(paths(inPathOrder(given.map((path) => issue(path))))).toEqual([
      'channel',
      'messageId',
      'from.id',
      'from.name',
      'triggers.1.template',
      'triggers.3.match',
      'defaultCountry',
    ]);
  });

  it("names a field's own issues before those inside it, the whole request's first, and keeps the order of the issues of one path", () => {
    const given = [issue('filter.purpose'), issue('filter', 'never together'), issue('type', 'first'), issue(''), issue('type', 'second'), issue('rows.2.purpose', 'a'), issue('rows.2.purpose', 'b')];
    expect(inPathOrder(given)).toEqual([
      issue(''),
      issue('filter', 'never together'),
      issue('filter.purpose'),
      issue('type', 'first'),
      issue('type', 'second'),
      issue('rows.2.purpose', 'a'),
      issue('rows.2.purpose', 'b'),
    ]);
  });

  it('sorts indexes among names in the places indexes took, and changes nothing already in order', () => {
    expect(paths(inPathOrder(['fields.9', 'fields.plan', 'fields.10', 'fields.1'].map((path) => issue(path))))).toEqual(['fields.1', 'fields.plan', 'fields.9', 'fields.10']);
    const ordered = ['name', 'email', 'phone', 'limit'].map((path) => issue(path));
    expect(inPathOrder(ordered)).toEqual(ordered);
    expect(inPathOrder([])).toEqual([]);
  });
});

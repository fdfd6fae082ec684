import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConsentryError } from '../../../src/core/errors.js';
import {
  HUBSPOT_BATCH_LIMIT,
  chunk,
  coalesceChanges,
  coalesceIntoBatches,
  type PendingChange,
  type ValueStamp,
} from '../../../connectors/hubspot/coalesce.js';

const change = (contactId: string, position: number, occurredAt: string, properties: Record<string, string>): PendingChange => ({
  contactId,
  position,
  occurredAt,
  properties,
});

describe('coalesceChanges', () => {
  it("orders a value by its own time when the change gives one, and stamps it with that time", () => {
    const current: PendingChange = {
      ...change('101', 9, '2026-02-01T12:00:00Z', { consentry_sms_status: 'opted_out', consentry_tags: 'VIP' }),
      times: { consentry_sms_status: '2026-02-01T09:00:00Z' },
    };
    const result = coalesceChanges([current, change('101', 12, '2026-02-01T10:00:00Z', { consentry_sms_status: 'opted_in', consentry_tags: 'Gold' })]);
    expect(result[0]?.properties).toEqual({ consentry_sms_status: 'opted_in', consentry_tags: 'VIP' });
    expect(result[0]?.stamps.consentry_tags).toEqual({ occurredAt: '2026-02-01T12:00:00Z', position: 9 });
    const held = coalesceChanges([current], { written: () => ({ occurredAt: '2026-02-01T10:00:00Z', position: 3 }) });
    // HubSpot holds a value from 10:00: the 09:00 status is older, the 12:00 tags are not.
    expect(held[0]?.properties).toEqual({ consentry_tags: 'VIP' });
    expect(() => coalesceChanges([{ ...current, times: { consentry_sms_status: 'yesterday' } }])).toThrow(ConsentryError);
  });

  it('folds several changes to one contact into its latest state', () => {
    const result = coalesceChanges([
      change('101', 1, '2026-02-01T10:00:00Z', { consentry_sms_status: 'opted_in', consentry_sms_source: 'keyword' }),
      change('101', 2, '2026-02-01T11:00:00Z', { consentry_sms_status: 'opted_out' }),
      change('102', 3, '2026-02-01T09:00:00Z', { consentry_tags: 'VIP' }),
    ]);
    expect(result).toEqual([
      {
        contactId: '101',
        properties: { consentry_sms_status: 'opted_out', consentry_sms_source: 'keyword' },
        stamps: {
          consentry_sms_status: { occurredAt: '2026-02-01T11:00:00Z', position: 2 },
          consentry_sms_source: { occurredAt: '2026-02-01T10:00:00Z', position: 1 },
        },
        positions: [1, 2],
      },
      {
        contactId: '102',
        properties: { consentry_tags: 'VIP' },
        stamps: { consentry_tags: { occurredAt: '2026-02-01T09:00:00Z', position: 3 } },
        positions: [3],
      },
    ]);
  });

  it('never lets an older decision that arrives later overwrite a newer one', () => {
    const [contact] = coalesceChanges([
      change('101', 1, '2026-02-02T00:00:00Z', { consentry_sms_status: 'opted_out' }),
      change('101', 2, '2026-02-01T00:00:00Z', { consentry_sms_status: 'opted_in' }),
    ]);
    expect(contact?.properties.consentry_sms_status).toBe('opted_out');
  });

  it('compares instants, not strings, across offsets; equal instants go to the later position', () => {
    const [contact] = coalesceChanges([
      change('101', 5, '2026-02-01T12:00:00+02:00', { a: 'at 10:00Z, position 5' }),
      change('101', 4, '2026-02-01T10:30:00Z', { a: 'at 10:30Z' }),
      change('101', 7, '2026-02-01T10:00:00Z', { b: 'later position' }),
      change('101', 6, '2026-02-01T12:00:00+02:00', { b: 'earlier position' }),
    ]);
    expect(contact?.properties).toEqual({ a: 'at 10:30Z', b: 'later position' });
  });

  it('drops values HubSpot already holds something newer for', () => {
    const written = new Map<string, ValueStamp>([['101|consentry_sms_status', { occurredAt: '2026-02-03T00:00:00Z', position: 9 }]]);
    const plan = coalesceIntoBatches(
      [
        change('101', 10, '2026-02-02T00:00:00Z', { consentry_sms_status: 'opted_in' }),
        change('102', 11, '2026-02-04T00:00:00Z', { consentry_sms_status: 'opted_in' }),
      ],
      { written: (contactId, property) => written.get(`${contactId}|${property}`) },
    );
    expect(plan.batches).toEqual([[expect.objectContaining({ contactId: '102' })]]);
    expect(plan.settled).toEqual([{ contactId: '101', properties: {}, stamps: {}, positions: [10] }]);
  });

  it('orders contacts by their earliest pending position', () => {
    const result = coalesceChanges([
      change('b', 3, '2026-02-01T00:00:00Z', { x: '1' }),
      change('a', 2, '2026-02-01T00:00:00Z', { x: '1' }),
      change('b', 1, '2026-02-01T00:00:00Z', { y: '1' }),
    ]);
    expect(result.map((c) => c.contactId)).toEqual(['b', 'a']);
  });

  it('names the change with an invalid occurredAt', () => {
    try {
      coalesceChanges([change('101', 1, '2026-02-01T00:00:00Z', {}), change('101', 2, 'yesterday', {})]);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConsentryError);
      expect((error as ConsentryError).issues[0]?.path).toBe('changes.1.occurredAt');
    }
  });
});

describe('batches', () => {
  it('splits 250 contacts into 100, 100 and 50', () => {
    const changes = Array.from({ length: 250 }, (_, i) => change(`c${i}`, i + 1, '2026-02-01T00:00:00Z', { x: String(i) }));
    const { batches } = coalesceIntoBatches(changes);
    expect(batches.map((b) => b.length)).toEqual([100, 100, 50]);
  });

  it('refuses batch sizes HubSpot would refuse', () => {
    expect(() => chunk([1, 2, 3], 101)).toThrow(ConsentryError);
    expect(() => chunk([1, 2, 3], 0)).toThrow(ConsentryError);
    expect(chunk([1, 2, 3], 2)).toEqual([[1, 2], [3]]);
  });
});

describe('coalescing properties', () => {
  const changesArbitrary = fc
    .array(
      fc.record({
        contactId: fc.constantFrom('101', '102', '103', '104'),
        ms: fc.integer({ min: 0, max: 20 }),
        properties: fc.dictionary(fc.constantFrom('status', 'source', 'tags', 'email'), fc.string({ maxLength: 3 }), { maxKeys: 3 }),
      }),
      { maxLength: 60 },
    )
    .map((items) =>
      items.map((item, index) => change(item.contactId, index + 1, new Date(Date.UTC(2026, 1, 1) + item.ms * 1000).toISOString(), item.properties)),
    );

  /** The reference: for each contact and property, the value of the change with the largest (time, position). */
  function latestState(changes: readonly PendingChange[]): Map<string, Record<string, string>> {
    const best = new Map<string, { value: string; ms: number; position: number }>();
    for (const c of changes) {
      const ms = Date.parse(c.occurredAt);
      for (const [property, value] of Object.entries(c.properties)) {
        const key = `${c.contactId}\u0000${property}`;
        const current = best.get(key);
        if (current === undefined || ms > current.ms || (ms === current.ms && c.position > current.position)) best.set(key, { value, ms, position: c.position });
      }
    }
    const result = new Map<string, Record<string, string>>();
    for (const c of changes) if (!result.has(c.contactId)) result.set(c.contactId, {});
    for (const [key, { value }] of best) {
      const [contactId = '', property = ''] = key.split('\u0000');
      (result.get(contactId) ?? {})[property] = value;
    }
    return result;
  }

  it('equals the latest state per contact whatever the input order', () => {
    fc.assert(
      fc.property(changesArbitrary.chain((changes) => fc.tuple(fc.constant(changes), fc.shuffledSubarray(changes, { minLength: changes.length }))), ([changes, shuffled]) => {
        const expected = latestState(changes);
        for (const input of [changes, shuffled]) {
          const result = coalesceChanges(input);
          expect(new Map(result.map((c) => [c.contactId, c.properties]))).toEqual(expected);
          for (const contact of result) {
            expect(contact.positions).toEqual(changes.filter((c) => c.contactId === contact.contactId).map((c) => c.position));
          }
        }
      }),
    );
  });

  it('puts every contact in exactly one batch of at most 100', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 700 }), fc.integer({ min: 1, max: HUBSPOT_BATCH_LIMIT }), (ids, size) => {
        const changes = ids.map((id, i) => change(`c${id}`, i + 1, '2026-02-01T00:00:00Z', { x: String(i) }));
        const { batches, settled } = coalesceIntoBatches(changes, { batchSize: size });
        expect(settled).toEqual([]);
        const seen = batches.flat().map((c) => c.contactId);
        expect(new Set(seen).size).toBe(seen.length);
        expect(new Set(seen)).toEqual(new Set(ids.map((id) => `c${id}`)));
        for (const batch of batches) {
          expect(batch.length).toBeGreaterThan(0);
          expect(batch.length).toBeLessThanOrEqual(size);
        }
      }),
    );
  });
});

import { ConsentryError } from '../../src/core/errors.js';

/** HubSpot's batch create/read/update/upsert endpoints take at most 100 records a call (DESIGN §6). */
export const HUBSPOT_BATCH_LIMIT = 100;

/** One outbox event's effect on one HubSpot contact. */
export interface PendingChange {
  /** The HubSpot record to write (or the Consentry contact id before it is matched). */
  contactId: string;
  properties: Readonly<Record<string, string>>;
  /** ISO-8601 time of the decision or edit the values describe. */
  occurredAt: string;
  /** Outbox position: breaks occurredAt ties, later wins. */
  position: number;
  /** A property's own time where it differs from `occurredAt` (each value of a contact's current state keeps its decision's time). */
  times?: Readonly<Record<string, string>>;
}

/** When a property's value was decided: the pair that orders two values of one property. */
export interface ValueStamp {
  occurredAt: string;
  position: number;
}

export interface CoalescedContact {
  contactId: string;
  /** Latest value of every property the changes touched. */
  properties: Record<string, string>;
  /** The stamp of each value in `properties` (persist them to refuse older values in a later round). */
  stamps: Record<string, ValueStamp>;
  /** Every outbox position folded into this write, ascending: all of them are done once it succeeds. */
  positions: number[];
}

export interface CoalesceOptions {
  /**
   * Stamps of values already written to HubSpot in earlier rounds, per contact and property. A
   * pending value older than what HubSpot already holds is dropped, so a late-arriving old event
   * can never overwrite a newer state.
   */
  written?: (contactId: string, property: string) => ValueStamp | undefined;
}

interface Stamped {
  value: string;
  stamp: ValueStamp;
  ms: number;
}

function instant(change: PendingChange, index: number, property?: string): number {
  const own = property === undefined ? undefined : change.times?.[property];
  const ms = Date.parse(own ?? change.occurredAt);
  if (Number.isNaN(ms)) {
    const path = own === undefined ? `changes.${index}.occurredAt` : `changes.${index}.times.${property ?? ''}`;
    throw new ConsentryError('VALIDATION_FAILED', `change at outbox position ${change.position} has no valid occurredAt`, [
      { path, message: 'must be an ISO-8601 date-time' },
    ]);
  }
  return ms;
}

function isLater(a: { ms: number; position: number }, b: { ms: number; position: number }): boolean {
  return a.ms !== b.ms ? a.ms > b.ms : a.position > b.position;
}

/**
 * Folds pending changes into one write per contact holding, for each property, the value with the
 * latest occurredAt (ties: the later outbox position). The result does not depend on the order of
 * `changes`. Contacts come out in the order of their earliest pending position, so no contact
 * waits behind newer work.
 */
export function coalesceChanges(changes: readonly PendingChange[], options: CoalesceOptions = {}): CoalescedContact[] {
  const byContact = new Map<string, { values: Map<string, Stamped>; positions: Set<number>; first: number }>();
  changes.forEach((change, index) => {
    instant(change, index);
    let entry = byContact.get(change.contactId);
    if (entry === undefined) {
      entry = { values: new Map(), positions: new Set(), first: change.position };
      byContact.set(change.contactId, entry);
    }
    entry.positions.add(change.position);
    entry.first = Math.min(entry.first, change.position);
    for (const [property, value] of Object.entries(change.properties)) {
      const ms = instant(change, index, property);
      const candidate: Stamped = { value, stamp: { occurredAt: change.times?.[property] ?? change.occurredAt, position: change.position }, ms };
      const current = entry.values.get(property);
      if (current === undefined || isLater({ ms, position: change.position }, { ms: current.ms, position: current.stamp.position })) {
        entry.values.set(property, candidate);
      }
    }
  });

  const result: (CoalescedContact & { first: number })[] = [];
  for (const [contactId, entry] of byContact) {
    const properties: Record<string, string> = {};
    const stamps: Record<string, ValueStamp> = {};
    for (const [property, stamped] of entry.values) {
      const written = options.written?.(contactId, property);
      const writtenMs = written === undefined ? Number.NaN : Date.parse(written.occurredAt);
      if (written !== undefined && !Number.isNaN(writtenMs)) {
        const newer = isLater({ ms: stamped.ms, position: stamped.stamp.position }, { ms: writtenMs, position: written.position });
        if (!newer) continue;
      }
      properties[property] = stamped.value;
      stamps[property] = stamped.stamp;
    }
    result.push({ contactId, properties, stamps, positions: [...entry.positions].sort((a, b) => a - b), first: entry.first });
  }
  result.sort((a, b) => a.first - b.first);
  return result.map(({ contactId, properties, stamps, positions }) => ({ contactId, properties, stamps, positions }));
}

/** Splits into batches of at most `size` (HubSpot: 100). */
export function chunk<T>(items: readonly T[], size: number = HUBSPOT_BATCH_LIMIT): T[][] {
  if (!Number.isInteger(size) || size < 1 || size > HUBSPOT_BATCH_LIMIT) {
    throw new ConsentryError('VALIDATION_FAILED', `batch size must be 1..${HUBSPOT_BATCH_LIMIT}`, [{ path: 'size', message: 'out of range' }]);
  }
  const batches: T[][] = [];
  for (let i = 0; i < items.length; i += size) batches.push(items.slice(i, i + size));
  return batches;
}

export interface BatchPlan {
  /** Writes for HubSpot, at most 100 contacts a batch; each contact appears once overall, so no batch carries the same id twice (HubSpot refuses duplicate ids in one batch). */
  batches: CoalescedContact[][];
  /** Contacts whose every pending value HubSpot already holds (or something newer): nothing to send, their positions are done. */
  settled: CoalescedContact[];
}

export function coalesceIntoBatches(changes: readonly PendingChange[], options: CoalesceOptions & { batchSize?: number } = {}): BatchPlan {
  const coalesced = coalesceChanges(changes, options);
  const toWrite = coalesced.filter((c) => Object.keys(c.properties).length > 0);
  const settled = coalesced.filter((c) => Object.keys(c.properties).length === 0);
  return { batches: chunk(toWrite, options.batchSize ?? HUBSPOT_BATCH_LIMIT), settled };
}

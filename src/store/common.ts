import { ConsentryError } from '../core/errors.js';
import { ulidFloorAt } from '../ports/ids.js';
import { isStoreTxWrite, type DeliveryRow, type DeliveryStatus, type RetentionQuery } from '../ports/store.js';

/**
 * `target` with each of its method calls made through `around`, which runs `call` and may check or
 * map its outcome, a value or a promise: how both stores guard the `tx` of a read.
 */
export function aroundEachMethod<T extends object>(target: T, around: (operation: string, call: () => unknown) => unknown): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value: unknown = Reflect.get(object, property, receiver);
      if (typeof value !== 'function') return value;
      const operation = String(property);
      return (...args: unknown[]): unknown => around(operation, () => Reflect.apply(value, object, args));
    },
  });
}

/**
 * A write attempted through a store opened with `readOnly: true` (the CLI's reading commands):
 * `operation` names the store method; nothing it would have written is kept.
 */
export class ReadOnlyStoreError extends ConsentryError {
  readonly operation: string;

  constructor(operation: string) {
    super('CONFLICT', `the store was opened read-only: ${operation} cannot write to it`);
    this.name = 'ReadOnlyStoreError';
    this.operation = operation;
  }
}

/**
 * A write attempted inside `Store.read`: a defect of the code that called it, not a condition its
 * client can resolve, so it is no ConsentryError (the server answers 500 and logs it). Nothing it
 * would have written is kept.
 */
export class WriteInsideReadError extends Error {
  readonly operation: string;

  constructor(operation: string) {
    super(`${operation} writes, and Store.read only reads: use Store.transaction`);
    this.name = 'WriteInsideReadError';
    this.operation = operation;
  }
}

/** How a store refuses a write where it only reads. */
export function refusedWrite(operation: string, within: 'read-only store' | 'read'): ReadOnlyStoreError | WriteInsideReadError {
  return within === 'read' ? new WriteInsideReadError(operation) : new ReadOnlyStoreError(operation);
}

/**
 * `tx` for `Store.read`: every write method (STORE_TX_WRITES) is refused by its name before it
 * runs, whatever it would change; `around` guards the calls of the reads that remain.
 */
export function refusingWritesByName<T extends object>(tx: T, around: (operation: string, call: () => unknown) => unknown): T {
  return aroundEachMethod(tx, (operation, call) => {
    if (isStoreTxWrite(operation)) return Promise.reject(new WriteInsideReadError(operation));
    return around(operation, call);
  });
}

/**
 * Timestamps are stored as text and compared as text (due timers, "newest first"), which orders
 * them correctly only in one spelling: UTC with milliseconds, exactly what
 * `Date.prototype.toISOString()` produces (`2026-01-01T00:00:00.000Z`). The engine passes
 * `clock.now().toISOString()` values; the stores reject any other spelling where they compare.
 */
const CANONICAL_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export function assertCanonicalTimestamp(value: string, field: string): void {
  if (!CANONICAL_TIMESTAMP.test(value)) {
    const message = `${field} must be a UTC ISO-8601 timestamp with milliseconds (Date.toISOString()), got "${value}"`;
    throw new ConsentryError('VALIDATION_FAILED', message, [{ path: field, message }]);
  }
}

/** SQLite reads a negative LIMIT as "no limit"; both stores reject it so they answer alike. */
export function assertLimit(value: number, field = 'limit'): void {
  if (!Number.isInteger(value) || value < 0) {
    const message = `${field} must be a non-negative integer, got ${String(value)}`;
    throw new ConsentryError('VALIDATION_FAILED', message, [{ path: field, message }]);
  }
}

/**
 * Checks a retention query as both stores read it, and answers the least id stamped at its
 * `before`: ids below it were handed out before then (ulidFloorAt).
 */
export function retentionIdFloor(query: RetentionQuery): string {
  assertCanonicalTimestamp(query.before, 'before');
  assertLimit(query.limit);
  if (!Number.isSafeInteger(query.eventsThrough) || query.eventsThrough < 0) {
    throw invalid('eventsThrough', `must be a non-negative integer, got ${String(query.eventsThrough)}`);
  }
  return ulidFloorAt(new Date(query.before));
}

function invalid(field: string, message: string): ConsentryError {
  return new ConsentryError('VALIDATION_FAILED', `${field} ${message}`, [{ path: field, message }]);
}

export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['pending', 'delivered', 'dead'];

/** A delivery list's status filter, when it has one: SQLite writes it into its query, so both stores refuse any other value alike. */
export function assertDeliveryStatus(status: DeliveryStatus | undefined): void {
  if (status !== undefined && !DELIVERY_STATUSES.includes(status)) {
    throw invalid('status', `must be one of ${DELIVERY_STATUSES.join(', ')}, got ${String(status)}`);
  }
}

/**
 * What both stores check before writing a delivery, so they refuse the same rows with the same
 * error (SQLite's STRICT integer columns would otherwise fail with an uncoded datatype error).
 */
export function assertDelivery(delivery: DeliveryRow): void {
  assertCanonicalTimestamp(delivery.nextAttemptAt, 'nextAttemptAt');
  // The dispatcher measures a retry window from it: one spelling, as for every time the stores use.
  if (delivery.resentAt !== null && delivery.resentAt !== undefined) assertCanonicalTimestamp(delivery.resentAt, 'resentAt');
  if (!Number.isInteger(delivery.eventPosition) || delivery.eventPosition < 1) {
    throw invalid('eventPosition', `must be a positive integer, got ${String(delivery.eventPosition)}`);
  }
  if (!Number.isInteger(delivery.attempts) || delivery.attempts < 0) {
    throw invalid('attempts', `must be a non-negative integer, got ${String(delivery.attempts)}`);
  }
  if (!DELIVERY_STATUSES.includes(delivery.status)) {
    throw invalid('status', `must be one of ${DELIVERY_STATUSES.join(', ')}, got ${String(delivery.status)}`);
  }
  if (delivery.lastStatusCode !== null && !Number.isInteger(delivery.lastStatusCode)) {
    throw invalid('lastStatusCode', `must be an integer or null, got ${String(delivery.lastStatusCode)}`);
  }
}

export function conflict(message: string): ConsentryError {
  return new ConsentryError('CONFLICT', message);
}

export function notFound(message: string): ConsentryError {
  return new ConsentryError('NOT_FOUND', message);
}

/** JSON text of a value; `undefined` is stored as `null` because JSON has no undefined. */
export function toJsonText(value: unknown): string {
  return JSON.stringify(value === undefined ? null : value);
}

/**
 * A deep copy with exactly the JSON round-trip the SQLite store applies, so the in-memory twin
 * hands back what SQLite would (no Dates, no undefined members, no shared references).
 */
export function jsonCopy<T>(value: T): T {
  return JSON.parse(toJsonText(value));
}

/**
 * Serialises transactions (the Store port's contract): a second caller waits until the holder
 * releases. Acquiring a free lock completes synchronously, so an uncontended transaction costs
 * no extra turn of the event loop.
 */
export class TransactionLock {
  private held = false;
  private readonly waiting: Array<() => void> = [];

  /** Returns undefined when the lock was free and is now held, or a promise that resolves once it is. */
  acquire(): Promise<void> | undefined {
    if (!this.held) {
      this.held = true;
      return undefined;
    }
    return new Promise<void>((resolve) => {
      this.waiting.push(resolve);
    });
  }

  /** Hands the lock straight to the next waiter, so no newcomer can slip in between. */
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.held = false;
  }
}

export const KEY_SEPARATOR = '\u0000';

export function compositeKey(...parts: readonly string[]): string {
  return parts.join(KEY_SEPARATOR);
}

/** The later-sorting of two ids, either possibly absent (StoreTx.idFloor). */
export function newerId(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  return b === undefined || a > b ? a : b;
}

import { monotonicFactory } from 'ulid';

/** Sortable, unique ids (ULIDs). Injected so tests can predict them. */
export interface IdGenerator {
  next(at: Date): string;
}

export function ulidGenerator(): IdGenerator {
  const factory = monotonicFactory();
  return { next: (at) => factory(at.getTime()) };
}

/** Deterministic ids for tests: a prefix and a counter, still sortable. */
export function sequentialIds(prefix = 'id'): IdGenerator {
  let n = 0;
  return { next: () => `${prefix}_${String(++n).padStart(10, '0')}` };
}

import { ConsentryError, describeIssues, type FieldIssue } from './errors.js';

/**
 * A page read with one row more than it shows: the extra row only tells that another page
 * exists. `next` is the cursor of the page's last row, null on the last page.
 */
export function pageOf<T, C>(rows: readonly T[], limit: number, cursorOf: (row: T) => C): { items: T[]; next: C | null } {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, next: rows.length > limit && last !== undefined ? cursorOf(last) : null };
}

/**
 * A cursor that names nothing of the list it pages. Only retention deletes what a list pages, and
 * a cursor it may have deleted is read as the end of the list (mayHaveExpired in
 * src/ports/store.ts); any other such cursor is a mistake (mistyped, or another workspace's),
 * refused rather than read silently as "from the start" or "nothing more". Worded as every
 * refusal of a field is (`path: message`).
 */
/**
 * A cursor or id as a refusal quotes it: bare when it is printable ASCII without spaces, as every
 * id Consentry hands out is; otherwise in JSON quotes with everything outside printable ASCII
 * escaped, so that a blank or invisible value (`" "`, `"\u200b"`) is seen, not read as nothing.
 */
export function shownId(id: string): string {
  if (/^[\x21-\x7E]+$/.test(id)) return id;
  return JSON.stringify(id).replace(/[^\x20-\x7E]/g, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function unknownCursor(path: string, what: string, hint = 'pass the nextCursor a previous page returned'): ConsentryError {
  const issues: FieldIssue[] = [{ path, message: `no ${what}: ${hint}` }];
  return new ConsentryError('VALIDATION_FAILED', describeIssues(issues), issues);
}

/**
 * The id before every event (the ULID of time zero, which no event has): events after it are all
 * the workspace keeps, oldest first, where a poller that has handled none starts.
 */
export const BEFORE_FIRST_EVENT = '00000000000000000000000000';

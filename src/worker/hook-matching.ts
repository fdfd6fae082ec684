import { canonicalUlid, tagKey } from '../core/contact.js';
import { isPublicEventType, type ConsentryEvent } from '../core/events.js';
import type { HookRow } from '../ports/store.js';

/** DESIGN §2: the channel `any` addresses every channel at once (STOP ALL). */
const EVERY_CHANNEL = 'any';

/**
 * Event data fields that hold ids Consentry makes: ULIDs, which name the same thing in any letter
 * case (https://github.com/ulid/spec#encoding), as a contact id does in a path, a body or a cursor.
 */
export const ULID_FIELDS: ReadonlySet<string> = new Set(['contactId', 'otherContactId', 'recordId', 'runId', 'conversationId']);
/** The field that holds a tag: tags compare as tagging compares them (`tagKey`). */
export const TAG_FIELD = 'tag';
/** Fields that hold an instant (ISO 8601): two spellings of one instant are equal. */
export const INSTANT_FIELDS: ReadonlySet<string> = new Set(['occurredAt']);

/**
 * The form in which a filter value and the event data's value are compared: an id in upper case,
 * a tag by its key (letter case, spaces around and inside, and Unicode normalisation aside), an
 * instant as its milliseconds. Anything else compares as it is.
 */
export function comparableFilterValue(field: string, value: string): string {
  if (ULID_FIELDS.has(field)) return canonicalUlid(value);
  if (field === TAG_FIELD) return tagKey(value);
  if (INSTANT_FIELDS.has(field)) {
    const instant = Date.parse(value);
    return Number.isNaN(instant) ? value : String(instant);
  }
  return value;
}

/** Whether a filter value names the event data's value (numbers by their value, booleans by their text). */
function filterValueMatches(field: string, expected: string, actual: string | number | boolean): boolean {
  if (typeof actual === 'number') return expected.trim() !== '' && Number(expected) === actual;
  if (typeof actual === 'boolean') return String(actual) === expected;
  return comparableFilterValue(field, actual) === comparableFilterValue(field, expected);
}

/**
 * Whether a hook wants an event: only public events (DESIGN §5) ever reach hooks; the hook's
 * `event` is the type or `*`; every filter key must name the event data's value there, compared
 * as `comparableFilterValue` says, so that a filter written as the rest of the API accepts it
 * (a contact id in lower case, `vip` for the tag `VIP`) fires, hooks made before filters were
 * checked included. An event about channel `any` concerns every channel, so it matches any
 * `channel` filter: a hook filtered on `whatsapp` must hear a STOP ALL opt-out too.
 */
export function hookMatchesEvent(hook: Pick<HookRow, 'event' | 'filter'>, event: Pick<ConsentryEvent, 'type' | 'data'>): boolean {
  if (!isPublicEventType(event.type)) return false;
  if (hook.event !== '*' && hook.event !== event.type) return false;
  if (!hook.filter) return true;
  const data: Record<string, unknown> = { ...event.data };
  for (const [key, expected] of Object.entries(hook.filter)) {
    const actual = data[key];
    if (typeof actual !== 'string' && typeof actual !== 'number' && typeof actual !== 'boolean') return false;
    if (key === 'channel' && actual === EVERY_CHANNEL) continue;
    if (!filterValueMatches(key, expected, actual)) return false;
  }
  return true;
}

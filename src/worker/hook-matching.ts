import { isPublicEventType, type ConsentryEvent } from '../core/events.js';
import type { HookRow } from '../ports/store.js';

/** DESIGN §2: the channel `any` addresses every channel at once (STOP ALL). */
const EVERY_CHANNEL = 'any';

/**
 * Whether a hook wants an event: only public events (DESIGN §5) ever reach hooks; the hook's
 * `event` is the type or `*`; every filter key must equal the event data's value there
 * (numbers and booleans compare by their text, since filters are strings). An event about
 * channel `any` concerns every channel, so it matches any `channel` filter: a hook filtered on
 * `whatsapp` must hear a STOP ALL opt-out too.
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
    if (String(actual) !== expected) return false;
  }
  return true;
}

import { z } from 'zod';
import type { ValueStamp } from './coalesce.js';

/**
 * HubSpot retries a webhook for up to 24 hours when it is not answered with 2xx
 * (https://developers.hubspot.com/docs/api/webhooks#retries), so the echo of one of our writes
 * can arrive that late.
 */
export const ECHO_WINDOW_MS = 24 * 60 * 60 * 1000;
/** Values remembered per property: a burst of writes to one contact never needs more. */
const MAX_WRITES_PER_PROPERTY = 10;

const StampSchema = z.object({ occurredAt: z.string(), position: z.number().int() });
const WriteSchema = z.object({ value: z.string(), at: z.number() });

/** What the connector knows of one contact's HubSpot record. */
export const ContactSyncStateSchema = z.object({
  /** Per property, the stamp of the value HubSpot holds from us: an older value is never sent after it. */
  stamps: z.record(z.string(), StampSchema).default({}),
  /** Per property, values we wrote recently (epoch ms): a webhook carrying one of them is our own echo. */
  writes: z.record(z.string(), z.array(WriteSchema)).default({}),
  /** Per property, HubSpot's occurredAt (epoch ms) of the last change heard from HubSpot. */
  inbound: z.record(z.string(), z.number()).default({}),
});
export type ContactSyncState = z.infer<typeof ContactSyncStateSchema>;

export function emptyContactState(): ContactSyncState {
  return { stamps: {}, writes: {}, inbound: {} };
}

/**
 * Records a successful write: the stamps HubSpot now holds and, for the properties `heard` names
 * (those whose webhooks are acted on), the values to recognise when they echo back.
 */
export function rememberWrites(
  state: ContactSyncState,
  written: { properties: Readonly<Record<string, string>>; stamps: Readonly<Record<string, ValueStamp>> },
  atMs: number,
  windowMs: number = ECHO_WINDOW_MS,
  heard: (property: string) => boolean = () => true,
): ContactSyncState {
  const stamps = { ...state.stamps, ...written.stamps };
  const writes: ContactSyncState['writes'] = {};
  for (const [property, list] of Object.entries(state.writes)) {
    const kept = list.filter((w) => atMs - w.at <= windowMs);
    if (kept.length > 0) writes[property] = kept;
  }
  for (const [property, value] of Object.entries(written.properties)) {
    if (!heard(property)) continue;
    const list = (writes[property] ?? []).filter((w) => w.value !== value);
    list.push({ value, at: atMs });
    writes[property] = list.slice(-MAX_WRITES_PER_PROPERTY);
  }
  return { stamps, writes, inbound: state.inbound };
}

/**
 * What an erased contact's state keeps (GDPR Art. 17): the stamps and the times heard from
 * HubSpot (property names and instants, nothing of the person), and the recent writes of the
 * properties `kept` names only, so the echo of a write still in flight is recognised. A written
 * value of any other property (an e-mail, a tag) is forgotten.
 */
export function erasedContactState(state: ContactSyncState, kept: (property: string) => boolean): ContactSyncState {
  const writes: ContactSyncState['writes'] = {};
  for (const [property, list] of Object.entries(state.writes)) if (kept(property)) writes[property] = list;
  return { stamps: state.stamps, writes, inbound: state.inbound };
}

export type InboundVerdict = 'echo' | 'stale' | 'new';

/**
 * A property change heard from HubSpot is our echo when it carries a value we wrote to that
 * property within the window; it is stale when HubSpot reports it as older than a change we
 * already recorded from HubSpot (webhooks are not delivered in order). Anything else is new.
 */
export function classifyInbound(
  state: ContactSyncState,
  change: { property: string; value: string; occurredAtMs: number },
  nowMs: number,
  windowMs: number = ECHO_WINDOW_MS,
): InboundVerdict {
  const heard = state.inbound[change.property];
  if (heard !== undefined && change.occurredAtMs <= heard) return 'stale';
  const echo = (state.writes[change.property] ?? []).some((w) => w.value === change.value && nowMs - w.at <= windowMs);
  return echo ? 'echo' : 'new';
}

/**
 * Records a change heard from HubSpot. Our earlier writes of that property are forgotten: HubSpot
 * has moved past them, so the same value coming back later is a person's edit, not an echo.
 */
export function rememberInbound(state: ContactSyncState, property: string, occurredAtMs: number): ContactSyncState {
  const writes = { ...state.writes };
  delete writes[property];
  return { stamps: state.stamps, writes, inbound: { ...state.inbound, [property]: Math.max(occurredAtMs, state.inbound[property] ?? 0) } };
}

import { z } from 'zod';
import type { ValueStamp } from './coalesce.js';
import { SIGNATURE_MAX_FUTURE_SKEW_MS } from './signature.js';

/**
 * HubSpot retries a webhook for up to 24 hours when it is not answered with 2xx
 * (https://developers.hubspot.com/docs/api/webhooks#retries), so the echo of one of our writes
 * can arrive that late.
 */
export const ECHO_WINDOW_MS = 24 * 60 * 60 * 1000;
/** Values remembered per property: a burst of writes to one contact never needs more. */
const MAX_WRITES_PER_PROPERTY = 10;
/**
 * How far HubSpot's clock may run ahead of ours. HubSpot applies a write before it answers it, so
 * its `occurredAt` for our write is no later than the moment we recorded the answer, give or take
 * the clocks' drift; the drift tolerated is the one the v3 signature check already allows.
 */
export const ECHO_CLOCK_TOLERANCE_MS = SIGNATURE_MAX_FUTURE_SKEW_MS;

const StampSchema = z.object({ occurredAt: z.string(), position: z.number().int() });
const WriteSchema = z.object({
  value: z.string(),
  /** When the write was answered (epoch ms, our clock). */
  at: z.number(),
  /** HubSpot's occurredAt of this write's echo once heard: a redelivery carries the same instant, a later edit does not. */
  heardAt: z.number().nullable().default(null),
});

/** What the connector knows of one contact's HubSpot record. */
export const ContactSyncStateSchema = z.object({
  /** Per property, the stamp of the value HubSpot holds from us: an older value is never sent after it. */
  stamps: z.record(z.string(), StampSchema).default({}),
  /** Per property, values we wrote recently: a webhook carrying one of them may be our own echo (classifyInbound). */
  writes: z.record(z.string(), z.array(WriteSchema)).default({}),
  /** Per property, HubSpot's occurredAt (epoch ms) of the last change heard from HubSpot. */
  inbound: z.record(z.string(), z.number()).default({}),
  /**
   * Per status property, HubSpot's occurredAt of an opt-in refused only for want of its legal
   * basis or explanation: setting them in HubSpot afterwards completes it (http/webhooks.ts).
   */
  awaitingBasis: z.record(z.string(), z.number()).default({}),
});
export type ContactSyncState = z.infer<typeof ContactSyncStateSchema>;

export function emptyContactState(): ContactSyncState {
  return { stamps: {}, writes: {}, inbound: {}, awaitingBasis: {} };
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
    list.push({ value, at: atMs, heardAt: null });
    writes[property] = list.slice(-MAX_WRITES_PER_PROPERTY);
  }
  return { ...state, stamps, writes };
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
  return { stamps: state.stamps, writes, inbound: state.inbound, awaitingBasis: {} };
}

export type InboundVerdict = 'echo' | 'stale' | 'new';

/** A property change as HubSpot's webhook reports it. */
export interface InboundChange {
  property: string;
  value: string;
  /** HubSpot's `occurredAt` (epoch ms, HubSpot's clock). */
  occurredAtMs: number;
  changeSource?: string | undefined;
  sourceId?: string | undefined;
}

/**
 * Change sources of HubSpot's own screens and imports: always a person, never an app writing with
 * its token through the CRM API as the connector does. `changeSource` takes the sources property
 * histories show (https://developers.hubspot.com/docs/api/webhooks#webhook-payloads).
 */
const PERSON_CHANGE_SOURCES: ReadonlySet<string> = new Set(['CRM_UI', 'IMPORT', 'MOBILE_IOS', 'MOBILE_ANDROID']);
/**
 * A change a HubSpot user made names that user as `userId:<id>`
 * (https://developers.hubspot.com/changelog/crm-property-change-source-will-show-owner-id-instead-of-owner-email).
 */
const PERSON_SOURCE_ID = /^userId:/;

function madeByPerson(change: InboundChange): boolean {
  return (change.changeSource !== undefined && PERSON_CHANGE_SOURCES.has(change.changeSource)) || (change.sourceId !== undefined && PERSON_SOURCE_ID.test(change.sourceId));
}

/** The remembered write a change is the echo of, if any (see classifyInbound). */
function echoedWrite(state: ContactSyncState, change: InboundChange, nowMs: number, windowMs: number): ContactSyncState['writes'][string][number] | undefined {
  if (madeByPerson(change)) return undefined;
  return (state.writes[change.property] ?? []).find(
    (write) =>
      write.value === change.value &&
      nowMs - write.at <= windowMs &&
      (write.heardAt === null ? change.occurredAtMs <= write.at + ECHO_CLOCK_TOLERANCE_MS : change.occurredAtMs === write.heardAt),
  );
}

/**
 * A property change heard from HubSpot is stale when HubSpot reports it as older than a change we
 * already recorded from HubSpot (webhooks are not delivered in order). It is our own echo only when
 * all of these hold, so that a person's later change is never taken for one:
 * - nothing in the payload says a person made it (`changeSource` of HubSpot's screens or imports,
 *   a `sourceId` naming a HubSpot user);
 * - it carries a value we wrote to that property within the window;
 * - it happened no later than HubSpot can have applied that write: before we recorded HubSpot's
 *   answer, give or take the clocks' drift, or, once that write's echo was heard, at that very
 *   instant (HubSpot delivers a webhook at least once, a redelivery repeats its occurredAt).
 * HubSpot names no field that identifies the app behind an API write, so time and value decide.
 * Anything else is new.
 */
export function classifyInbound(state: ContactSyncState, change: InboundChange, nowMs: number, windowMs: number = ECHO_WINDOW_MS): InboundVerdict {
  const heard = state.inbound[change.property];
  if (heard !== undefined && change.occurredAtMs <= heard) return 'stale';
  return echoedWrite(state, change, nowMs, windowMs) === undefined ? 'new' : 'echo';
}

/**
 * Records that the echo of one of our writes was heard, at HubSpot's instant: from then on only a
 * redelivery of that same event is taken for the echo, and the same value at any later instant is
 * a person's change.
 */
export function rememberEcho(state: ContactSyncState, change: InboundChange, nowMs: number, windowMs: number = ECHO_WINDOW_MS): ContactSyncState {
  const echoed = echoedWrite(state, change, nowMs, windowMs);
  if (echoed === undefined || echoed.heardAt !== null) return state;
  const list = (state.writes[change.property] ?? []).map((write) => (write === echoed ? { ...write, heardAt: change.occurredAtMs } : write));
  return { ...state, writes: { ...state.writes, [change.property]: list } };
}

/**
 * Records a change heard from HubSpot. Our earlier writes of that property are forgotten: HubSpot
 * has moved past them, so the same value coming back later is a person's edit, not an echo. An
 * opt-in of that property still awaiting its legal basis is settled by a change as late or later;
 * an earlier one delivered late leaves it waiting (webhooks are not delivered in order).
 */
export function rememberInbound(state: ContactSyncState, property: string, occurredAtMs: number): ContactSyncState {
  const writes = { ...state.writes };
  delete writes[property];
  const inbound = { ...state.inbound, [property]: Math.max(occurredAtMs, state.inbound[property] ?? 0) };
  const awaitingSince = state.awaitingBasis[property];
  const settled = awaitingSince !== undefined && occurredAtMs >= awaitingSince ? forgetAwaitingBasis(state, property) : state;
  return { ...settled, writes, inbound };
}

/** Records an opt-in of a status property refused for want of its legal basis or explanation, at HubSpot's instant. */
export function rememberAwaitingBasis(state: ContactSyncState, property: string, occurredAtMs: number): ContactSyncState {
  return { ...state, awaitingBasis: { ...state.awaitingBasis, [property]: Math.max(occurredAtMs, state.awaitingBasis[property] ?? 0) } };
}

/** Forgets an opt-in awaiting its legal basis: recorded, or overtaken by a later decision. */
export function forgetAwaitingBasis(state: ContactSyncState, property: string): ContactSyncState {
  if (state.awaitingBasis[property] === undefined) return state;
  const awaitingBasis = { ...state.awaitingBasis };
  delete awaitingBasis[property];
  return { ...state, awaitingBasis };
}

import { z } from 'zod';
import {
  ConsentChangeDataSchema,
  ContactUpdatedDataSchema,
  erasedContactOf,
  TagDataSchema,
  WorkflowFinishedDataSchema,
} from '../../src/core/events.js';
import { effectiveStatus } from '../../src/core/ledger.js';
import type { StoreTx, StoredEvent } from '../../src/ports/store.js';
import { queueCompletion } from './callbacks.js';
import { resolveAll, type HubSpotEnvironment, type ResolvedHubSpotConfig } from './config.js';
import { eraseContactSync, pendingLeftAfterErasure } from './erasure.js';
import { consentChangeToProperties, currentValuesOf, identityProperties, tagsProperties } from './mapping.js';
import { notePaused, pendingChange, type HubSpotStateTx, type PausedContact, type SyncChange } from './state.js';

/** Where the connector has read the outbox up to, in the store's meta table (CONNECTORS.md). */
export const HUBSPOT_CURSOR_KEY = 'outbox.hubspot.position';

/**
 * Per workspace that has had HubSpot, the portal the connector's state (stored record ids, stamps,
 * echoes) belongs to. Kept when the settings are removed: it is what tells a reconnect to the same
 * portal from one to another, and a workspace that had HubSpot from one that never did.
 */
export const HUBSPOT_PORTALS_KEY = 'hubspot.portals';

const PortalMarkSchema = z.object({
  /** Null when only the environment names the workspace's HubSpot, without HUBSPOT_PORTAL_ID. */
  portalId: z.string().nullable(),
  /** While the record ids of a previous portal are cleared: the contact id the next page starts after ('' for the first). */
  unlinkAfter: z.string().nullable().default(null),
  /** When the ids of a previous portal were last cleared; an erased contact (whose id the engine keeps) erased before then holds such an id. */
  relinkedAt: z.string().nullable().default(null),
});
export type PortalMark = z.infer<typeof PortalMarkSchema>;
export type PortalMarks = Record<string, PortalMark>;

/** The marks as stored; one that does not parse is left out, so its workspace is noted afresh. */
const CursorSchema = z.number().int().nonnegative();

export async function readPortalMarks(tx: StoreTx): Promise<PortalMarks> {
  const stored = z.record(z.string(), z.unknown()).safeParse(await tx.getMeta(HUBSPOT_PORTALS_KEY));
  const marks: PortalMarks = {};
  if (!stored.success) return marks;
  for (const [workspaceId, value] of Object.entries(stored.data)) {
    const mark = PortalMarkSchema.safeParse(value);
    if (mark.success) marks[workspaceId] = mark.data;
  }
  return marks;
}

export async function writePortalMarks(tx: StoreTx, marks: PortalMarks): Promise<void> {
  await tx.setMeta(HUBSPOT_PORTALS_KEY, marks);
}

/**
 * Notes the portal of each configured workspace. When it is not the portal the connector's state
 * belongs to (settings naming another portal, with or without removing them in between), that
 * state is another portal's: the contacts' sync state is forgotten here, and the stored record ids
 * are cleared by HubSpotSync a page at a time (`unlinkAfter`); their rows wait meanwhile. Changes
 * still waiting are then sent to the new portal, matched by e-mail and phone.
 */
export async function followPortals(state: HubSpotStateTx, tx: StoreTx, configs: ReadonlyMap<string, ResolvedHubSpotConfig>): Promise<PortalMarks> {
  const marks = await readPortalMarks(tx);
  let changed = false;
  for (const config of configs.values()) {
    const mark = marks[config.workspaceId];
    if (mark === undefined) {
      marks[config.workspaceId] = { portalId: config.portalId, unlinkAfter: null, relinkedAt: null };
      changed = true;
    } else if (config.portalId !== null && mark.portalId !== config.portalId) {
      // Without a portal before (the environment named none), nothing says it was another one.
      const another = mark.portalId !== null;
      if (another) await state.deleteContactStates(config.workspaceId);
      marks[config.workspaceId] = { portalId: config.portalId, unlinkAfter: another ? '' : mark.unlinkAfter, relinkedAt: mark.relinkedAt };
      changed = true;
    }
  }
  if (changed) await writePortalMarks(tx, marks);
  return marks;
}

export interface FanOutResult {
  events: number;
  changes: number;
  /** Paused contacts whose current values were queued (the sync was turned back on). */
  resumed: number;
}

/** Paused contacts turned into rows per fan-out batch, so one transaction stays short. */
const RESUME_BATCH = 200;

function row(event: StoredEvent, target: SyncChange['target'], contactId: string | null, payload: SyncChange['payload'], occurredAt: string, nowIso: string): SyncChange {
  return pendingChange({ position: event.position, target, workspaceId: event.workspaceId, eventId: event.id, contactId, payload, occurredAt }, nowIso);
}

/**
 * The HubSpot work one outbox event gives: consent decisions become channel properties (and the
 * email subscription for email marketing, when `emailSubscription`), tag changes the tags
 * property, a collected e-mail or phone the contact's identity properties. Tags and identity are
 * read from the contact as it is now: never older than the event, and the row's stamp keeps a
 * later event's value winning.
 */
async function changesFor(event: StoredEvent, emailSubscription: boolean, tx: StoreTx, nowIso: string): Promise<SyncChange[]> {
  switch (event.type) {
    case 'consent.given':
    case 'consent.withdrawn': {
      const data = ConsentChangeDataSchema.safeParse(event.data);
      if (!data.success) return [];
      const decision = data.data;
      const changes: SyncChange[] = [];
      const properties = consentChangeToProperties(decision);
      if (Object.keys(properties).length > 0) {
        changes.push(row(event, 'contact', decision.contactId, { kind: 'contact', properties }, decision.occurredAt, nowIso));
      }
      const email = decision.purpose === 'marketing' && (decision.channel === 'email' || decision.channel === 'any');
      if (email && emailSubscription) {
        changes.push(
          row(
            event,
            'email',
            decision.contactId,
            { kind: 'email', status: decision.status, legalBasis: decision.legalBasis, explanation: decision.explanation },
            decision.occurredAt,
            nowIso,
          ),
        );
      }
      return changes;
    }
    case 'contact.tagged':
    case 'contact.untagged': {
      const data = TagDataSchema.safeParse(event.data);
      const contact = data.success ? await tx.getContact(event.workspaceId, data.data.contactId) : undefined;
      if (contact === undefined || contact.erasedAt !== null) return [];
      return [row(event, 'contact', contact.id, { kind: 'contact', properties: tagsProperties(contact.tags) }, event.occurredAt, nowIso)];
    }
    case 'contact.updated': {
      const data = ContactUpdatedDataSchema.safeParse(event.data);
      if (!data.success || !data.data.changes.some((c) => c === 'email' || c === 'phone')) return [];
      const contact = await tx.getContact(event.workspaceId, data.data.contactId);
      if (contact === undefined || contact.erasedAt !== null) return [];
      const properties = identityProperties(contact);
      if (Object.keys(properties).length === 0) return [];
      return [row(event, 'contact', contact.id, { kind: 'contact', properties }, event.occurredAt, nowIso)];
    }
    default:
      return [];
  }
}

/**
 * Notes rows the sync will not send now (its workspace's sync is off) as paused contacts: which
 * properties changed and when, one entry per contact however many changes. Rows of no contact
 * (none come from contact changes) are dropped.
 */
export async function notePausedChanges(state: HubSpotStateTx, changes: readonly SyncChange[], nowIso: string): Promise<void> {
  const byWorkspace = new Map<string, SyncChange[]>();
  for (const change of changes) {
    if (change.contactId === null || change.payload.kind === 'callback') continue;
    const list = byWorkspace.get(change.workspaceId) ?? [];
    list.push(change);
    byWorkspace.set(change.workspaceId, list);
  }
  for (const [workspaceId, rows] of byWorkspace) {
    const paused = await state.getPausedContacts(workspaceId, rows.map((r) => r.contactId ?? ''));
    for (const change of rows) {
      const contactId = change.contactId ?? '';
      paused.set(contactId, notePaused(paused.get(contactId), change, nowIso));
    }
    await state.putPausedContacts([...paused.values()]);
  }
}

function latest(times: readonly string[], fallback: string): string {
  let found = fallback;
  let ms = Number.NEGATIVE_INFINITY;
  for (const time of times) {
    const at = Date.parse(time);
    if (at > ms) {
      ms = at;
      found = time;
    }
  }
  return found;
}

/**
 * The rows that send a paused contact's current values of what changed while the sync was off:
 * each value with the time of the decision it shows (mapping.ts currentValuesOf), so an older value
 * still never wins over a newer one, at the outbox position of the contact's last change then. An
 * erased contact gets its opt-outs only, and nothing without a stored HubSpot id (erasure.ts).
 */
async function rowsOfPaused(paused: PausedContact, config: ResolvedHubSpotConfig, tx: StoreTx, nowIso: string): Promise<SyncChange[]> {
  const contact = await tx.getContact(paused.workspaceId, paused.contactId);
  if (contact === undefined || (contact.erasedAt !== null && contact.hubspotId === null)) return [];
  const states = await tx.getConsentStates(paused.workspaceId, contact.id);
  const base = { position: paused.position, workspaceId: paused.workspaceId, eventId: paused.eventId, contactId: contact.id };
  const rows: SyncChange[] = [];
  const names = Object.keys(paused.properties);
  if (names.length > 0) {
    const { properties, times } = currentValuesOf(
      { email: contact.email, phone: contact.phone, tags: contact.tags, consent: states },
      names,
      (name) => paused.properties[name] ?? paused.updatedAt,
    );
    if (Object.keys(properties).length > 0) {
      const occurredAt = latest(Object.values(times), paused.updatedAt);
      rows.push(pendingChange({ ...base, target: 'contact', payload: { kind: 'contact', properties, times }, occurredAt }, nowIso));
    }
  }
  if (paused.emailSubscription !== null && config.emailSubscriptionId !== null) {
    const { state } = effectiveStatus(states, 'marketing', 'email');
    if (state !== null) {
      const payload = { kind: 'email' as const, status: state.status, legalBasis: state.legalBasis, explanation: state.explanation };
      rows.push(pendingChange({ ...base, target: 'email', payload, occurredAt: state.occurredAt }, nowIso));
    }
  }
  if (contact.erasedAt === null) return rows;
  return rows.flatMap((change) => {
    const left = pendingLeftAfterErasure(change);
    if (left === null) return [];
    if (left.payload.kind !== 'contact' || change.payload.kind !== 'contact' || change.payload.times === undefined) return [left];
    const times = change.payload.times;
    const kept = Object.fromEntries(Object.keys(left.payload.properties).flatMap((name) => (times[name] === undefined ? [] : [[name, times[name]]])));
    return [{ ...left, payload: { ...left.payload, times: kept } }];
  });
}

/**
 * Reads a batch of outbox events after the connector's cursor and writes the work they give,
 * advancing the cursor in the same transaction (at least once, nothing lost, nothing twice:
 * the model of src/worker/hook-dispatcher.ts). A workflow's end queues the completion of the
 * HubSpot callback waiting for it. A contact's erasure redacts the connector's rows and state of
 * that contact (erasure.ts), in outbox order and whether or not HubSpot is still configured: rows
 * written while it was on are still there.
 *
 * While a workspace's sync is off (`syncEnabled` false, or the HubSpot settings removed from a
 * workspace that had them), its changes become paused contacts instead of rows; once it is on
 * again, each paused contact's current values are queued (a batch of them per call).
 */
export async function fanOutBatch(
  state: HubSpotStateTx,
  tx: StoreTx,
  env: HubSpotEnvironment,
  now: Date,
  batchSize: number,
): Promise<FanOutResult> {
  const stored = await tx.getMeta(HUBSPOT_CURSOR_KEY);
  const parsed = stored === undefined || stored === null ? { success: true as const, data: 0 } : CursorSchema.safeParse(stored);
  if (!parsed.success) {
    // Restarting from 0 would push every past change again; stop and say why instead.
    throw new Error(`The HubSpot connector's cursor (${HUBSPOT_CURSOR_KEY}) is not a position: ${JSON.stringify(stored)}`);
  }
  const nowIso = now.toISOString();
  const configs = resolveAll(await tx.listWorkspaces(), env);
  const marks = await followPortals(state, tx, configs);
  const events = await tx.listEventsAfter(parsed.data, batchSize);
  const changes: SyncChange[] = [];
  const paused: SyncChange[] = [];
  let queued = 0;
  for (const event of events) {
    const erased = erasedContactOf(event);
    if (erased !== null) {
      // The rows of the events before it first, so the erasure covers them too.
      queued += changes.length;
      await state.insertChanges(changes.splice(0));
      await notePausedChanges(state, paused.splice(0), nowIso);
      await eraseContactSync(state, erased.workspaceId, erased.contactId, nowIso);
      continue;
    }
    const config = configs.get(event.workspaceId);
    if (config === undefined) {
      // Settings removed: kept for a reconnect when the workspace had HubSpot, nothing when it never did.
      if (marks[event.workspaceId] !== undefined) paused.push(...(await changesFor(event, true, tx, nowIso)));
      continue;
    }
    if (event.type === 'workflow.finished') {
      const data = WorkflowFinishedDataSchema.safeParse(event.data);
      const waiting = data.success ? await state.findCallbackByRun(event.workspaceId, data.data.runId) : null;
      if (waiting !== null) await queueCompletion(state, waiting, event, nowIso);
      continue;
    }
    if (config.syncEnabled) changes.push(...(await changesFor(event, config.emailSubscriptionId !== null, tx, nowIso)));
    else paused.push(...(await changesFor(event, true, tx, nowIso)));
  }
  await notePausedChanges(state, paused, nowIso);

  let resumed = 0;
  for (const workspaceId of await state.listPausedWorkspaces()) {
    const config = configs.get(workspaceId);
    if (config === undefined || !config.syncEnabled || marks[workspaceId]?.unlinkAfter != null) continue;
    const taken = await state.takePausedContacts(workspaceId, RESUME_BATCH - resumed);
    for (const contact of taken) changes.push(...(await rowsOfPaused(contact, config, tx, nowIso)));
    resumed += taken.length;
    if (resumed >= RESUME_BATCH) break;
  }

  queued += changes.length;
  await state.insertChanges(changes);
  const last = events.at(-1);
  if (last !== undefined) await tx.setMeta(HUBSPOT_CURSOR_KEY, last.position);
  return { events: events.length, changes: queued, resumed };
}

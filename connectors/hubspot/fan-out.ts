import { z } from 'zod';
import {
  ConsentChangeDataSchema,
  ContactUpdatedDataSchema,
  erasedContactOf,
  TagDataSchema,
  WorkflowFinishedDataSchema,
} from '../../src/core/events.js';
import type { StoreTx, StoredEvent } from '../../src/ports/store.js';
import { queueCompletion } from './callbacks.js';
import { resolveAll, type HubSpotEnvironment, type ResolvedHubSpotConfig } from './config.js';
import { eraseContactSync } from './erasure.js';
import { consentChangeToProperties, identityProperties, tagsProperties } from './mapping.js';
import { pendingChange, type HubSpotStateTx, type SyncChange } from './state.js';

/** Where the connector has read the outbox up to, in the store's meta table (CONNECTORS.md). */
export const HUBSPOT_CURSOR_KEY = 'outbox.hubspot.position';

const CursorSchema = z.number().int().nonnegative();

export interface FanOutResult {
  events: number;
  changes: number;
}

function row(event: StoredEvent, target: SyncChange['target'], contactId: string | null, payload: SyncChange['payload'], occurredAt: string, nowIso: string): SyncChange {
  return pendingChange({ position: event.position, target, workspaceId: event.workspaceId, eventId: event.id, contactId, payload, occurredAt }, nowIso);
}

/**
 * The HubSpot work one outbox event gives: consent decisions become channel properties (and the
 * email subscription for email marketing), tag changes the tags property, a collected e-mail or
 * phone the contact's identity properties. Tags and identity are read from the contact as it is
 * now: never older than the event, and the row's stamp keeps a later event's value winning.
 */
async function changesFor(event: StoredEvent, config: ResolvedHubSpotConfig, tx: StoreTx, nowIso: string): Promise<SyncChange[]> {
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
      if (email && config.emailSubscriptionId !== null) {
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
 * Reads a batch of outbox events after the connector's cursor and writes the work they give,
 * advancing the cursor in the same transaction (at least once, nothing lost, nothing twice:
 * the model of src/worker/hook-dispatcher.ts). A workflow's end queues the completion of the
 * HubSpot callback waiting for it. A contact's erasure redacts the connector's rows and state of
 * that contact (erasure.ts), in outbox order and whether or not HubSpot is still configured: rows
 * written while it was on are still there.
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
  const events = await tx.listEventsAfter(parsed.data, batchSize);
  const last = events.at(-1);
  if (last === undefined) return { events: 0, changes: 0 };

  const nowIso = now.toISOString();
  const configs = resolveAll(await tx.listWorkspaces(), env);
  const changes: SyncChange[] = [];
  let queued = 0;
  for (const event of events) {
    const erased = erasedContactOf(event);
    if (erased !== null) {
      // The rows of the events before it first, so the erasure covers them too.
      queued += changes.length;
      await state.insertChanges(changes.splice(0));
      await eraseContactSync(state, erased.workspaceId, erased.contactId, nowIso);
      continue;
    }
    const config = configs.get(event.workspaceId);
    if (config === undefined) continue;
    if (event.type === 'workflow.finished') {
      const data = WorkflowFinishedDataSchema.safeParse(event.data);
      const waiting = data.success ? await state.findCallbackByRun(event.workspaceId, data.data.runId) : null;
      if (waiting !== null) await queueCompletion(state, waiting, event, nowIso);
      continue;
    }
    if (config.syncEnabled) changes.push(...(await changesFor(event, config, tx, nowIso)));
  }
  queued += changes.length;
  await state.insertChanges(changes);
  await tx.setMeta(HUBSPOT_CURSOR_KEY, last.position);
  return { events: events.length, changes: queued };
}

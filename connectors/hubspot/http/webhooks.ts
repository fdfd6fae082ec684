import { z } from 'zod';
import { isConsentryError, type ConsentryError } from '../../../src/core/errors.js';
import type { Engine, WorkspaceEngine } from '../../../src/engine.js';
import type { Clock } from '../../../src/ports/clock.js';
import type { ResolvedHubSpotConfig } from '../config.js';
import type { HubSpotConnections } from '../connections.js';
import {
  classifyInbound,
  emptyContactState,
  forgetAwaitingBasis,
  rememberAwaitingBasis,
  rememberEcho,
  rememberInbound,
  type ContactSyncState,
  type InboundChange,
} from '../echo.js';
import { fromPropertyChange, isConsentryProperty, type HubSpotConsentChange } from '../mapping.js';
import { channelPropertyNames, SYNCED_CHANNELS } from '../properties.js';
import { createContactOfRecord, findContactOfRecord, LOOKUP_OR_CREATE_PROPERTIES, recordHasAddress } from '../record-contact.js';
import type { HubSpotState } from '../state.js';

const Id = z.union([z.string().min(1), z.number().int().nonnegative()]).transform(String);

/**
 * One event of a webhook request (HubSpot sends a JSON array, up to 100 events):
 * https://developers.hubspot.com/docs/api/webhooks#webhook-payloads. `changeSource` is the source
 * as property histories show it (CRM_UI, IMPORT, API, INTEGRATION, ...) and `sourceId` who made
 * it (e.g. `userId:123`); they are kept as evidence and tell a person's change from our echo
 * (echo.ts). `attemptNumber` counts HubSpot's deliveries of the event from 0.
 */
export const WebhookEventSchema = z.object({
  eventId: Id.optional(),
  subscriptionId: Id.optional(),
  portalId: Id,
  appId: Id.optional(),
  occurredAt: z.number().int().nonnegative(),
  subscriptionType: z.string(),
  attemptNumber: z.number().int().optional(),
  objectId: Id,
  propertyName: z.string().optional(),
  propertyValue: z.string().nullable().optional(),
  changeSource: z.string().optional(),
  sourceId: z.string().optional(),
});
export type WebhookEvent = z.infer<typeof WebhookEventSchema>;
export const WebhookBodySchema = z.array(WebhookEventSchema).max(1000);

const Count = z.number().int().nonnegative();

/** What a webhook request did with its events, one count per outcome: the route answers it, and /openapi.json describes it. */
export const WebhookSummarySchema = z.object({
  recorded: Count.describe('Consent decisions recorded, with source hubspot and the portal as actor'),
  echoes: Count.describe("Consentry's own writes to HubSpot coming back: dropped"),
  stale: Count.describe('Changes HubSpot dates no later than one already heard for the same property: dropped'),
  ignored: Count.describe("Events about something else: another subscription type or property, a deletion of a record no contact is linked to, another workspace's portal"),
  refused: Count.describe('Decisions Consentry cannot record (an opt-in without legal basis, an erased contact, a record with neither e-mail nor phone that no contact is linked to): each is reported as a sync.failed event'),
  deferred: Count.describe("Changes left for HubSpot's retry: what they need could not be read from HubSpot (an opt-in's legal basis, or the e-mail and phone of a record no contact is linked to)"),
  erased: Count.describe('Contacts erased because HubSpot permanently deleted the record they are linked to (contact.privacyDeletion); one record can be linked to several'),
});
export type WebhookSummary = z.infer<typeof WebhookSummarySchema>;

export interface WebhookDeps {
  engine: Engine;
  state: HubSpotState;
  connections: HubSpotConnections;
  clock: Clock;
}

interface StatusChange {
  event: WebhookEvent & { propertyName: string };
  value: string;
}

/** The channel whose legal basis and explanation accompany a status property, or null for privacy. */
function channelOf(propertyName: string): (typeof SYNCED_CHANNELS)[number] | null {
  for (const channel of SYNCED_CHANNELS) if (channelPropertyNames(channel).status === propertyName) return channel;
  return null;
}

function failureText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 500);
}

/**
 * HubSpot's "Permanently delete" (GDPR delete) of a contact record, sent to apps subscribed to it
 * "so your integration can comply with a user's request to permanently delete the contact and all
 * associated data, without that user needing to take an additional action in your system"
 * (https://developers.hubspot.com/changelog/now-live-webhooks-now-support-privacy-compliant-contact-deletions).
 */
export const PRIVACY_DELETION = 'contact.privacyDeletion';

/**
 * Erases every contact of the workspace linked to a record HubSpot deleted for good, as
 * `DELETE /v1/contacts/{id}` does (their consent records stay, with their evidence redacted): the
 * sync can link one record to several contacts, one found by e-mail and one by phone. Returns how
 * many it erased; 0 when none is linked, or every one is erased already (HubSpot delivers an
 * event again until it is answered, and sends `contact.deletion` beside this one).
 */
async function erasePrivacyDeleted(workspace: WorkspaceEngine, hubspotId: string): Promise<number> {
  let erased = 0;
  let afterId: string | undefined;
  for (;;) {
    const page = await workspace.findContacts({ hubspotId, limit: 100, ...(afterId === undefined ? {} : { afterId }) });
    for (const contact of page.contacts) {
      if (contact.erasedAt !== null) continue;
      await workspace.eraseContact(contact.id);
      erased += 1;
    }
    if (page.nextCursor === null) return erased;
    afterId = page.nextCursor;
  }
}

/**
 * Records the consent decisions people made in HubSpot on the connector's properties (DESIGN
 * §6: no webhook fires on subscription changes; `contact.propertyChange` on our own properties
 * is how HubSpot is heard). Our own writes coming back are recognised and dropped (echo.ts); a
 * decision is recorded with source `hubspot` and the portal as actor, at the time HubSpot reports
 * it, under an idempotency key, so HubSpot's retries record nothing twice.
 *
 * An opt-out of a linked record is recorded from the request alone: it needs no legal basis (DESIGN
 * §2, withdrawing is as easy as giving), so a refused token or a used-up daily limit cannot hold it
 * up. An opt-in whose legal basis and explanation the request does not carry reads them from
 * HubSpot. A record no contact is linked to is read for its e-mail and phones, which find the
 * contact (or make one, as the workflow actions do). When a read fails the change is `deferred`:
 * the caller answers 5xx so that HubSpot delivers the request again (for up to 24 hours, echo.ts),
 * and `sync.failed` says so on HubSpot's first delivery.
 */
export async function processWebhookEvents(deps: WebhookDeps, config: ResolvedHubSpotConfig, events: readonly WebhookEvent[]): Promise<WebhookSummary> {
  const summary: WebhookSummary = { recorded: 0, echoes: 0, stale: 0, ignored: 0, refused: 0, deferred: 0, erased: 0 };
  const workspace = deps.engine.workspace(config.workspaceId);
  const deleted = new Set(events.filter((event) => event.subscriptionType === PRIVACY_DELETION).map((event) => event.objectId));
  for (const objectId of deleted) {
    const erased = await erasePrivacyDeleted(workspace, objectId);
    if (erased > 0) summary.erased += erased;
    else summary.ignored += 1;
  }
  // The latest value of each property per object in this request: a status change reads its legal basis and explanation here first.
  const batchValues = new Map<string, Map<string, { value: string | null; at: number }>>();
  const statusChanges: StatusChange[] = [];
  // The latest legal basis or explanation change per record and channel: it may complete an opt-in refused without them.
  const basisChanges = new Map<string, BasisChange>();
  for (const event of events) {
    const propertyName = event.propertyName;
    if (event.subscriptionType === PRIVACY_DELETION) continue;
    // A record HubSpot deleted for good in this same request: what else it says of the person is not kept.
    if (deleted.has(event.objectId)) {
      summary.ignored += 1;
      continue;
    }
    if (event.subscriptionType !== 'contact.propertyChange' || propertyName === undefined || !isConsentryProperty(propertyName)) {
      summary.ignored += 1;
      continue;
    }
    const values = batchValues.get(event.objectId) ?? new Map<string, { value: string | null; at: number }>();
    const seen = values.get(propertyName);
    if (seen === undefined || seen.at <= event.occurredAt) values.set(propertyName, { value: event.propertyValue ?? null, at: event.occurredAt });
    batchValues.set(event.objectId, values);
    const isStatus = fromPropertyChange({ propertyName, propertyValue: event.propertyValue ?? null }) !== null;
    if (isStatus) {
      statusChanges.push({ event: { ...event, propertyName }, value: event.propertyValue ?? '' });
      continue;
    }
    const channel = basisChannelOf(propertyName);
    if (channel === null) {
      summary.ignored += 1;
      continue;
    }
    const key = `${event.objectId} ${channel}`;
    const earlier = basisChanges.get(key);
    if (earlier !== undefined) summary.ignored += 1;
    if (earlier === undefined || earlier.event.occurredAt <= event.occurredAt) basisChanges.set(key, { event: { ...event, propertyName }, channel });
  }
  statusChanges.sort((a, b) => a.event.occurredAt - b.event.occurredAt);

  for (const { event, value } of statusChanges) {
    const channel = channelOf(event.propertyName);
    const context: Record<string, string | null> = {};
    // An opt-in's legal basis and explanation: from this request, else read from HubSpot.
    const missing: string[] = [];
    if (channel !== null) {
      const names = channelPropertyNames(channel);
      const inBatch = batchValues.get(event.objectId);
      for (const name of [names.legalBasis, names.explanation]) {
        const found = inBatch?.get(name);
        if (found !== undefined) context[name] = found.value;
        else if (value === 'opted_in') missing.push(name);
      }
    }
    const heard = `HubSpot ${event.propertyName} set to ${value}`;

    let contact = await workspace.findContactByHubspotId(event.objectId);
    if (contact === null) {
      // A record no contact is linked to yet (the sync has not matched it, or it was made in HubSpot):
      // its person is found by e-mail or phone as the workflow actions find them, or made from it, so
      // that a decision taken in HubSpot, above all an opt-out, is never dropped.
      const why = `the e-mail and phone of record ${event.objectId}, which no contact is linked to,`;
      const properties = await readRecord(deps, config, summary, event, [...LOOKUP_OR_CREATE_PROPERTIES, ...missing], heard, why, null);
      if (properties === null) continue;
      for (const name of missing) context[name] = properties[name] ?? null;
      missing.length = 0;
      if (!(await recordHasAddress(workspace, properties))) {
        summary.refused += 1;
        await workspace.reportSyncFailure({
          integration: 'hubspot',
          contactId: null,
          operation: 'receive_property_change',
          reason: `${heard} on record ${event.objectId}, which no contact is linked to and which has no valid e-mail, mobile phone or phone to find or make one by: the change is not recorded`,
          retryable: false,
        });
        continue;
      }
      try {
        contact = (await findContactOfRecord(workspace, event.objectId, properties)) ?? (await createContactOfRecord(workspace, event.objectId, properties));
      } catch (error) {
        if (!isConsentryError(error)) throw error;
        // A record Consentry cannot make a contact of (a name too long, say): this change is refused, the request's others still count.
        summary.refused += 1;
        await workspace.reportSyncFailure({
          integration: 'hubspot',
          contactId: null,
          operation: 'receive_property_change',
          reason: `${heard} on record ${event.objectId}, which no contact is linked to: no contact could be made of it (${error.code}: ${error.message}); the change is not recorded`,
          retryable: false,
        });
        continue;
      }
    }
    const contactId = contact.id;
    const nowMs = deps.clock.now().getTime();
    const change: InboundChange = {
      property: event.propertyName,
      value,
      occurredAtMs: event.occurredAt,
      changeSource: event.changeSource,
      sourceId: event.sourceId,
    };
    const verdict = await deps.state.transaction(async (state) => {
      const syncState = (await state.getContactStates(config.workspaceId, [contactId])).get(contactId) ?? emptyContactState();
      const found = classifyInbound(syncState, change, nowMs);
      if (found === 'echo') await state.putContactState(config.workspaceId, contactId, rememberEcho(syncState, change, nowMs), deps.clock.now().toISOString());
      return found;
    });
    if (verdict === 'echo') {
      summary.echoes += 1;
      continue;
    }
    if (verdict === 'stale') {
      summary.stale += 1;
      continue;
    }
    if (missing.length > 0) {
      const properties = await readRecord(deps, config, summary, event, missing, heard, 'its legal basis', contactId);
      if (properties === null) continue;
      for (const name of missing) context[name] = properties[name] ?? null;
    }
    const decision = fromPropertyChange({ propertyName: event.propertyName, propertyValue: value }, context);
    if (decision === null) {
      summary.ignored += 1;
      continue;
    }
    const source = [event.changeSource, event.sourceId].filter((part) => part !== undefined).join(' ');
    const outcome = await recordDecision(deps, config, contactId, decision, event, {
      note: `${heard}${source === '' ? '' : ` (${source})`}`,
      idempotencyKey: `hubspot-webhook:${event.portalId}:${event.objectId}:${event.propertyName}:${event.occurredAt}`,
    });
    if (outcome !== 'recorded' && isAwaitingBasis(decision, outcome)) {
      // Saved in HubSpot before its legal basis: setting the basis and explanation there completes it (completeOptIn).
      summary.refused += 1;
      await updateContactState(deps, config, contactId, (current) => rememberAwaitingBasis(current, event.propertyName, event.occurredAt));
      await workspace.reportSyncFailure({
        integration: 'hubspot',
        contactId,
        operation: 'receive_property_change',
        reason: `${outcome.code}: ${outcome.message}; set the legal basis and explanation in HubSpot and the opt-in is recorded then, unless the status changes first`,
        retryable: false,
      });
      continue;
    }
    if (outcome !== 'recorded') {
      // A decision Consentry cannot record (an erased contact, say): say so, do not retry.
      summary.refused += 1;
      await workspace.reportSyncFailure({ integration: 'hubspot', contactId, operation: 'receive_property_change', reason: `${outcome.code}: ${outcome.message}`, retryable: false });
      continue;
    }
    summary.recorded += 1;
    await updateContactState(deps, config, contactId, (current) => rememberInbound(current, event.propertyName, event.occurredAt));
  }

  const settledInRequest = new Set(statusChanges.map(({ event }) => `${event.objectId} ${event.propertyName}`));
  const completions = [...basisChanges.values()].sort((a, b) => a.event.occurredAt - b.event.occurredAt);
  for (const completion of completions) {
    const statusProperty = channelPropertyNames(completion.channel).status;
    // A status change in the same request read this legal basis already.
    if (settledInRequest.has(`${completion.event.objectId} ${statusProperty}`)) {
      summary.ignored += 1;
      continue;
    }
    await completeOptIn(deps, config, summary, completion, batchValues.get(completion.event.objectId));
  }
  return summary;
}

interface BasisChange {
  event: WebhookEvent & { propertyName: string };
  channel: (typeof SYNCED_CHANNELS)[number];
}

/** The channel whose legal basis or explanation property this is, or null. */
function basisChannelOf(propertyName: string): (typeof SYNCED_CHANNELS)[number] | null {
  for (const channel of SYNCED_CHANNELS) {
    const names = channelPropertyNames(channel);
    if (names.legalBasis === propertyName || names.explanation === propertyName) return channel;
  }
  return null;
}

type DecisionOutcome = 'recorded' | ConsentryError;

/** Records a decision heard from HubSpot, with source `hubspot`, the portal as actor and HubSpot's time; the engine's refusal is returned, anything else thrown. */
async function recordDecision(
  deps: WebhookDeps,
  config: ResolvedHubSpotConfig,
  contactId: string,
  decision: HubSpotConsentChange,
  event: WebhookEvent,
  evidence: { note: string; idempotencyKey: string },
): Promise<DecisionOutcome> {
  try {
    await deps.engine.workspace(config.workspaceId).setConsent({
      contactId,
      purpose: decision.purpose,
      channel: decision.channel,
      status: decision.status,
      legalBasis: decision.legalBasis,
      explanation: decision.explanation,
      source: 'hubspot',
      actor: { kind: 'integration', id: event.portalId },
      occurredAt: new Date(event.occurredAt).toISOString(),
      evidence: { note: evidence.note },
      idempotencyKey: evidence.idempotencyKey,
    });
    return 'recorded';
  } catch (error) {
    if (isConsentryError(error)) return error;
    throw error;
  }
}

/** An opt-in refused only for want of its legal basis or explanation (DESIGN §2): HubSpot may still be given them. */
function isAwaitingBasis(decision: HubSpotConsentChange, outcome: ConsentryError): boolean {
  return decision.purpose === 'marketing' && decision.status === 'opted_in' && (outcome.code === 'LEGAL_BASIS_REQUIRED' || outcome.code === 'EXPLANATION_REQUIRED');
}

async function updateContactState(deps: WebhookDeps, config: ResolvedHubSpotConfig, contactId: string, change: (current: ContactSyncState) => ContactSyncState): Promise<ContactSyncState> {
  return deps.state.transaction(async (state) => {
    const current = (await state.getContactStates(config.workspaceId, [contactId])).get(contactId) ?? emptyContactState();
    const next = change(current);
    if (next !== current) await state.putContactState(config.workspaceId, contactId, next, deps.clock.now().toISOString());
    return next;
  });
}

/**
 * Reads properties of the event's record through the portal's limiter, shared with the sync
 * (DESIGN §6). Null when HubSpot could not be read: the change is deferred to HubSpot's next
 * delivery, and its first delivery raises `sync.failed` saying what could not be read.
 */
async function readRecord(
  deps: WebhookDeps,
  config: ResolvedHubSpotConfig,
  summary: WebhookSummary,
  event: WebhookEvent,
  names: readonly string[],
  heard: string,
  why: string,
  contactId: string | null,
): Promise<Record<string, string | null> | null> {
  try {
    const read = await deps.connections.session(config).client.readContacts([event.objectId], names);
    return read.results[0]?.properties ?? {};
  } catch (error) {
    summary.deferred += 1;
    if ((event.attemptNumber ?? 0) === 0) {
      await deps.engine.workspace(config.workspaceId).reportSyncFailure({
        integration: 'hubspot',
        contactId,
        operation: 'receive_property_change',
        reason: `${heard}: ${why} could not be read from HubSpot (${failureText(error)}); HubSpot delivers the change again for up to 24 hours`,
        retryable: true,
      });
    }
    return null;
  }
}

/**
 * A legal basis or explanation set in HubSpot after an opt-in that was refused without them (a
 * person who saved the status first): the opt-in is recorded now, at the instant that completed
 * it, when HubSpot's status still reads `opted_in` and nothing was decided for that channel since
 * the refused opt-in (a STOP meanwhile, or a status set back, wins). Anything else about these
 * properties is bookkeeping of decisions already recorded (our own writes coming back among them).
 */
async function completeOptIn(
  deps: WebhookDeps,
  config: ResolvedHubSpotConfig,
  summary: WebhookSummary,
  completion: BasisChange,
  inBatch: ReadonlyMap<string, { value: string | null }> | undefined,
): Promise<void> {
  const { event, channel } = completion;
  const workspace = deps.engine.workspace(config.workspaceId);
  const names = channelPropertyNames(channel);
  const contact = await workspace.findContactByHubspotId(event.objectId);
  const awaitingSince = contact === null ? undefined : (await deps.state.transaction(async (state) => (await state.getContactStates(config.workspaceId, [contact.id])).get(contact.id)))?.awaitingBasis[names.status];
  if (contact === null || awaitingSince === undefined || event.occurredAt < awaitingSince) {
    summary.ignored += 1;
    return;
  }
  const context: Record<string, string | null> = {};
  const wanted = [names.status, names.legalBasis, names.explanation];
  for (const name of wanted) {
    const found = inBatch?.get(name);
    if (found !== undefined) context[name] = found.value;
  }
  const missing = wanted.filter((name) => !(name in context));
  if (missing.length > 0) {
    const heard = `HubSpot ${event.propertyName} set after ${names.status} was set to opted_in`;
    const properties = await readRecord(deps, config, summary, event, missing, heard, 'the opt-in it completes', contact.id);
    if (properties === null) return;
    for (const name of missing) context[name] = properties[name] ?? null;
  }
  const since = new Date(awaitingSince).toISOString();
  const decidedSince = (await workspace.getHistory(contact.id)).some(
    (record) => record.purpose === 'marketing' && (record.channel === channel || record.channel === 'any') && record.occurredAt > since,
  );
  if (context[names.status] !== 'opted_in' || decidedSince) {
    summary.ignored += 1;
    await updateContactState(deps, config, contact.id, (current) => forgetAwaitingBasis(current, names.status));
    return;
  }
  const decision = fromPropertyChange({ propertyName: names.status, propertyValue: 'opted_in' }, context);
  if (decision === null) {
    summary.ignored += 1;
    return;
  }
  const source = [event.changeSource, event.sourceId].filter((part) => part !== undefined).join(' ');
  const outcome = await recordDecision(deps, config, contact.id, decision, event, {
    note: `HubSpot ${names.status} set to opted_in at ${since}, completed by ${event.propertyName}${source === '' ? '' : ` (${source})`}`,
    // Keyed on the opt-in it completes: the basis and the explanation arriving in two requests at once record it once.
    idempotencyKey: `hubspot-webhook:${event.portalId}:${event.objectId}:${names.status}:completed:${awaitingSince}`,
  });
  if (outcome === 'recorded') {
    summary.recorded += 1;
    await updateContactState(deps, config, contact.id, (current) => rememberInbound(current, names.status, event.occurredAt));
    return;
  }
  // Still incomplete (the basis set, the explanation not yet): the first refusal's sync.failed said what is missing.
  summary.refused += 1;
  if (isAwaitingBasis(decision, outcome)) return;
  await updateContactState(deps, config, contact.id, (current) => forgetAwaitingBasis(current, names.status));
  await workspace.reportSyncFailure({ integration: 'hubspot', contactId: contact.id, operation: 'receive_property_change', reason: `${outcome.code}: ${outcome.message}`, retryable: false });
}

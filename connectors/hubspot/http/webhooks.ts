import { z } from 'zod';
import { isConsentryError } from '../../../src/core/errors.js';
import type { Engine, WorkspaceEngine } from '../../../src/engine.js';
import type { Clock } from '../../../src/ports/clock.js';
import type { ResolvedHubSpotConfig } from '../config.js';
import type { HubSpotConnections } from '../connections.js';
import { classifyInbound, emptyContactState, rememberEcho, rememberInbound, type InboundChange } from '../echo.js';
import { fromPropertyChange, isConsentryProperty } from '../mapping.js';
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
    if (isStatus) statusChanges.push({ event: { ...event, propertyName }, value: event.propertyValue ?? '' });
    else summary.ignored += 1;
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
    /** Reads properties of the event's record through the portal's limiter, shared with the sync (DESIGN §6); null when HubSpot could not be read, the change deferred. */
    const readRecord = async (names: readonly string[], why: string, contactId: string | null): Promise<Record<string, string | null> | null> => {
      try {
        const read = await deps.connections.session(config).client.readContacts([event.objectId], names);
        return read.results[0]?.properties ?? {};
      } catch (error) {
        summary.deferred += 1;
        if ((event.attemptNumber ?? 0) === 0) {
          await workspace.reportSyncFailure({
            integration: 'hubspot',
            contactId,
            operation: 'receive_property_change',
            reason: `HubSpot ${event.propertyName} set to ${value}: ${why} could not be read from HubSpot (${failureText(error)}); HubSpot delivers the change again for up to 24 hours`,
            retryable: true,
          });
        }
        return null;
      }
    };

    let contact = await workspace.findContactByHubspotId(event.objectId);
    if (contact === null) {
      // A record no contact is linked to yet (the sync has not matched it, or it was made in HubSpot):
      // its person is found by e-mail or phone as the workflow actions find them, or made from it, so
      // that a decision taken in HubSpot, above all an opt-out, is never dropped.
      const properties = await readRecord([...LOOKUP_OR_CREATE_PROPERTIES, ...missing], `the e-mail and phone of record ${event.objectId}, which no contact is linked to,`, null);
      if (properties === null) continue;
      for (const name of missing) context[name] = properties[name] ?? null;
      missing.length = 0;
      if (!(await recordHasAddress(workspace, properties))) {
        summary.refused += 1;
        await workspace.reportSyncFailure({
          integration: 'hubspot',
          contactId: null,
          operation: 'receive_property_change',
          reason: `HubSpot ${event.propertyName} set to ${value} on record ${event.objectId}, which no contact is linked to and which has no valid e-mail, mobile phone or phone to find or make one by: the change is not recorded`,
          retryable: false,
        });
        continue;
      }
      contact = (await findContactOfRecord(workspace, event.objectId, properties)) ?? (await createContactOfRecord(workspace, event.objectId, properties));
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
      const properties = await readRecord(missing, 'its legal basis', contactId);
      if (properties === null) continue;
      for (const name of missing) context[name] = properties[name] ?? null;
    }
    const decision = fromPropertyChange({ propertyName: event.propertyName, propertyValue: value }, context);
    if (decision === null) {
      summary.ignored += 1;
      continue;
    }
    const occurredAt = new Date(event.occurredAt).toISOString();
    const source = [event.changeSource, event.sourceId].filter((part) => part !== undefined).join(' ');
    try {
      await workspace.setConsent({
        contactId,
        purpose: decision.purpose,
        channel: decision.channel,
        status: decision.status,
        legalBasis: decision.legalBasis,
        explanation: decision.explanation,
        source: 'hubspot',
        actor: { kind: 'integration', id: event.portalId },
        occurredAt,
        evidence: { note: `HubSpot ${event.propertyName} set to ${value}${source === '' ? '' : ` (${source})`}` },
        idempotencyKey: `hubspot-webhook:${event.portalId}:${event.objectId}:${event.propertyName}:${event.occurredAt}`,
      });
    } catch (error) {
      if (!isConsentryError(error)) throw error;
      // A decision Consentry cannot record (an opt-in without legal basis, an erased contact): say so, do not retry.
      summary.refused += 1;
      await workspace.reportSyncFailure({
        integration: 'hubspot',
        contactId,
        operation: 'receive_property_change',
        reason: `${error.code}: ${error.message}`,
        retryable: false,
      });
      continue;
    }
    summary.recorded += 1;
    await deps.state.transaction(async (state) => {
      const current = (await state.getContactStates(config.workspaceId, [contactId])).get(contactId) ?? emptyContactState();
      await state.putContactState(config.workspaceId, contactId, rememberInbound(current, event.propertyName, event.occurredAt), deps.clock.now().toISOString());
    });
  }
  return summary;
}

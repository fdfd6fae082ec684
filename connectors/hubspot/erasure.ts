import { ERASED } from '../../src/core/events.js';
import { erasedContactState } from './echo.js';
import { channelPropertyNames, isStatusProperty, PRIVACY_DATE_PROPERTY, PRIVACY_STATUS_PROPERTY, SYNCED_CHANNELS } from './properties.js';
import type { ChangeKey, ChangePayload, HubSpotStateTx, SyncChange } from './state.js';

/**
 * GDPR Art. 17 in the HubSpot connector. The engine erases the contact and announces it in the
 * outbox (`contact.updated`, changes `erased`); the connector's own rows still hold what was on its
 * way to HubSpot, so reading that announcement (fan-out.ts) redacts them in the same transaction.
 *
 * What still goes to HubSpot afterwards: the contact's opt-outs, and nothing else. A person who
 * asked to be forgotten must not keep receiving marketing (Art. 21(3)), and HubSpot, where the
 * customer may still hold the record, only stops once it is told; an opt-out carries consent facts
 * (status, legal basis, date, source), which the engine itself keeps as the controller's proof.
 * It goes by the HubSpot record id only: the contact is never matched again (that would need the
 * erased e-mail or phone) and never created. Opt-ins, tags, e-mail, phone and every explanation
 * (free text) are dropped; dead letters keep their consent facts so the operator still sees what
 * failed. Deleting the HubSpot record is the customer's decision, not the connector's.
 */

interface FactGroup {
  status: string;
  /** Consent facts: enumerations and instants. */
  kept: readonly string[];
  /** Free text, sent empty so HubSpot holds none of it for this decision. */
  blanked: readonly string[];
}

const FACT_GROUPS: readonly FactGroup[] = [
  ...SYNCED_CHANNELS.map((channel): FactGroup => {
    const names = channelPropertyNames(channel);
    return { status: names.status, kept: [names.status, names.legalBasis, names.updatedAt, names.source], blanked: [names.explanation] };
  }),
  { status: PRIVACY_STATUS_PROPERTY, kept: [PRIVACY_STATUS_PROPERTY, PRIVACY_DATE_PROPERTY], blanked: [] },
];

/** The consent facts among contact properties (all of them, or the opt-outs only); everything else is left out. */
function consentFacts(properties: Readonly<Record<string, string>>, optOutsOnly: boolean): Record<string, string> {
  const facts: Record<string, string> = {};
  for (const group of FACT_GROUPS) {
    const status = properties[group.status];
    if (status === undefined || (optOutsOnly && status !== 'opted_out')) continue;
    for (const name of group.kept) {
      const value = properties[name];
      if (value !== undefined) facts[name] = value;
    }
    for (const name of group.blanked) if (properties[name] !== undefined) facts[name] = '';
  }
  return facts;
}

function redactPayload(payload: ChangePayload, optOutsOnly: boolean): ChangePayload {
  switch (payload.kind) {
    case 'contact':
      return { kind: 'contact', properties: consentFacts(payload.properties, optOutsOnly) };
    case 'email':
      return { ...payload, explanation: null };
    case 'callback':
      // The workflow's outcome branch, nothing of the person; the waiting HubSpot workflow still needs it.
      return payload;
  }
}

/** HubSpot's error texts quote the values they refused (an address, a number), so an erased contact's are not kept. */
function redactError(error: string | null): string | null {
  return error === null ? null : ERASED;
}

/** A dead letter of an erased contact: its consent facts and nothing else. */
export function redactedDeadLetter(change: SyncChange): SyncChange {
  return { ...change, payload: redactPayload(change.payload, false), lastError: redactError(change.lastError) };
}

/** What a pending row of an erased contact still sends (its opt-outs, a workflow completion), or null when nothing. */
export function pendingLeftAfterErasure(change: SyncChange): SyncChange | null {
  const payload = redactPayload(change.payload, true);
  const left =
    payload.kind === 'contact' ? Object.keys(payload.properties).length > 0 : payload.kind === 'email' ? payload.status === 'opted_out' : true;
  return left ? { ...change, payload, lastError: redactError(change.lastError) } : null;
}

/** A row as erasure leaves it: a dead letter redacted, a pending row reduced to what it still sends (null: dropped). */
export function changeAfterErasure(change: SyncChange): SyncChange | null {
  return change.status === 'dead' ? redactedDeadLetter(change) : pendingLeftAfterErasure(change);
}

function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, inner]) => `${JSON.stringify(key)}:${canonical(inner)}`).join(',')}}`;
}

function sameRow(a: SyncChange, b: SyncChange): boolean {
  return a.lastError === b.lastError && canonical(a.payload) === canonical(b.payload);
}

export interface SyncErasure {
  /** Pending rows with nothing left to send, deleted. */
  dropped: number;
  /** Rows kept with their personal data removed (pending opt-outs, dead letters). */
  redacted: number;
  /** Whether the contact's sync state changed. */
  contactState: boolean;
}

/**
 * Erases a contact from the connector's tables, inside the caller's transaction: its rows as
 * `changeAfterErasure` leaves them, and its sync state as `erasedContactState` does (the recent
 * writes of status properties stay, so the echo of an opt-out is still recognised). Erasing again
 * changes nothing. A row's lease and attempts are kept: a call in flight for it finishes as it would.
 */
export async function eraseContactSync(state: HubSpotStateTx, workspaceId: string, contactId: string, nowIso: string): Promise<SyncErasure> {
  const dropped: ChangeKey[] = [];
  const redacted: SyncChange[] = [];
  for (const row of await state.listContactChanges(workspaceId, contactId)) {
    const after = changeAfterErasure(row);
    if (after === null) dropped.push({ position: row.position, target: row.target });
    else if (!sameRow(after, row)) redacted.push(after);
  }
  await state.deleteChanges(dropped);
  await state.updateChanges(redacted);
  const current = (await state.getContactStates(workspaceId, [contactId])).get(contactId);
  let contactState = false;
  if (current !== undefined) {
    const erased = erasedContactState(current, isStatusProperty);
    if (canonical(erased) !== canonical(current)) {
      await state.putContactState(workspaceId, contactId, erased, nowIso);
      contactState = true;
    }
  }
  return { dropped: dropped.length, redacted: redacted.length, contactState };
}

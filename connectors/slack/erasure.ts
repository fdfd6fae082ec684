import { ConsentFailedDataSchema, OptoutReviewDataSchema, redactEventData, SyncFailedDataSchema } from '../../src/core/events.js';
import type { NewSlackAlert, SlackAlertEvent } from './actions-port.js';

/**
 * GDPR Art. 17 in the Slack connector. The engine redacts its own copy of an erased contact's
 * events (src/core/events.ts `redactEventData`) and announces the erasure in the outbox; the alert
 * rows keep a copy of their event and the contact's display name, so the connector redacts those
 * itself when it reads that announcement, and closes the alerts: their buttons do nothing any more.
 * The messages Slack already shows of them are edited too (dispatcher.ts): an alert posted on its
 * own becomes "Contact erased", with no name, no quote and no buttons (blocks/erased.ts), and a
 * digest that listed it is shown again with the redacted line. The alert store keeps which
 * messages still wait for that edit, so a failed edit or a restart loses none.
 */

/** The contact an alert is about, if any (a portal-wide sync failure is about none). */
export function alertContactId(alert: Pick<NewSlackAlert, 'event'>): string | null {
  return alert.event.contactId ?? alert.event.data.contactId;
}

/** The event an alert keeps, with what quotes the person removed by the engine's own rules (a sync failure's reason included). */
export function erasedAlertEvent(event: SlackAlertEvent): SlackAlertEvent {
  switch (event.type) {
    case 'consent.failed':
      return { ...event, data: ConsentFailedDataSchema.parse(redactEventData(event)) };
    case 'optout.review_needed':
      return { ...event, data: OptoutReviewDataSchema.parse(redactEventData(event)) };
    case 'sync.failed':
      return { ...event, data: SyncFailedDataSchema.parse(redactEventData(event)) };
  }
}

/**
 * The alert of an erased contact, closed: no display name, no link to the HubSpot record (as the
 * dispatcher plans alerts of erased contacts) and a redacted event. Delivery state, message,
 * claim and resolution stay: they say nothing of the person.
 */
export function erasedAlert<A extends NewSlackAlert>(alert: A): A {
  return { ...alert, contactName: null, contactUrl: null, event: erasedAlertEvent(alert.event), erased: true };
}

/** Whether erasing changes anything in the alert (erasing twice changes nothing the second time). */
export function needsErasure(alert: NewSlackAlert): boolean {
  if (alert.erased !== true) return true;
  if (alert.contactName !== null || alert.contactUrl !== null) return true;
  const before: Record<string, unknown> = { ...alert.event.data };
  const after: Record<string, unknown> = { ...erasedAlertEvent(alert.event).data };
  return Object.keys({ ...before, ...after }).some((key) => before[key] !== after[key]);
}

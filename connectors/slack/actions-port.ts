import type { Channel, ConsentDecision, ConsentSource, ConsentStatus, LegalBasis, Purpose } from '../../src/core/consent.js';
import { ConsentryError } from '../../src/core/errors.js';
import type { ConsentryEvent } from '../../src/core/events.js';
import { alertContactId, erasedAlert, needsErasure } from './erasure.js';

/**
 * What the Slack connector needs from the rest of Consentry: a handler for the buttons and a store
 * of the alerts it posted. The server implements both; the in-memory store below is the twin used
 * by tests (DESIGN §1: each port has an in-memory twin).
 */

/** The events that become Slack alerts. */
export type SlackAlertEvent =
  | ConsentryEvent<'consent.failed'>
  | ConsentryEvent<'optout.review_needed'>
  | ConsentryEvent<'sync.failed'>;
export type SlackAlertEventType = SlackAlertEvent['type'];
export const SLACK_ALERT_EVENT_TYPES: readonly SlackAlertEventType[] = [
  'consent.failed',
  'optout.review_needed',
  'sync.failed',
];

/** Button action ids; a listener file per id, named after it in kebab-case (DESIGN §1). */
export const SLACK_ACTION_IDS = [
  'resend_consent_request',
  'record_consent_manually',
  'apply_optout',
  'dismiss_optout',
] as const;
export type SlackActionId = (typeof SLACK_ACTION_IDS)[number];

/** Which buttons an alert of each event type offers. */
export const ACTIONS_BY_EVENT_TYPE: Readonly<Record<SlackAlertEventType, readonly SlackActionId[]>> = {
  'consent.failed': ['resend_consent_request', 'record_consent_manually'],
  'optout.review_needed': ['apply_optout', 'dismiss_optout'],
  'sync.failed': [],
};

/**
 * Alert ids travel in button values and modal metadata, which Slack stores and shows to anyone who
 * inspects the payload: they must be opaque (DESIGN §6: button values carry opaque ids, never
 * personal data). A ULID or a prefixed counter fits; an e-mail address or a phone number does not.
 */
export const ALERT_ID_PATTERN = /^[A-Za-z0-9_-]{1,100}$/;

export function assertOpaqueAlertId(alertId: string): string {
  if (!ALERT_ID_PATTERN.test(alertId)) {
    const message = 'alert id must be an opaque id: letters, digits, "_" or "-", at most 100 characters';
    throw new ConsentryError('VALIDATION_FAILED', message, [{ path: 'alertId', message }]);
  }
  return alertId;
}

/** Who used a button, and when. */
export interface AlertClaim {
  action: SlackActionId;
  slackUserId: string;
  /** ISO-8601. */
  at: string;
}

/**
 * A newer decision that stands over the one a button recorded: the record is kept as evidence,
 * but the contact's status on that purpose and channel is this one.
 */
export interface StandingDecision {
  status: ConsentStatus;
  source: ConsentSource;
  /** ISO-8601: when the standing decision was made. */
  occurredAt: string;
}

/** How an alert was handled; shown in the updated message ("who did what and when"). */
export interface AlertResolution extends AlertClaim {
  /** For `record_consent_manually`: the legal basis chosen in the modal. */
  legalBasis?: LegalBasis;
  /** Set when the decision recorded is not in effect, because a newer one stands. */
  supersededBy?: StandingDecision;
}

export interface SlackAlert {
  /** Opaque (ALERT_ID_PATTERN); the only thing a button carries. */
  id: string;
  workspaceId: string;
  event: SlackAlertEvent;
  /** Display name for the alert, looked up by the dispatcher when the event does not carry one. */
  contactName: string | null;
  /** Link to the contact in HubSpot, when the contact is synced. */
  contactUrl: string | null;
  /** The Slack channel id the alert is meant for. */
  slackChannel: string;
  /** Where the alert was posted, once it was (a digest entry has no message of its own). */
  message: { channel: string; ts: string } | null;
  createdAt: string;
  /** Set while one person's action is being carried out. */
  claim: AlertClaim | null;
  /** Set once, for good, when an action succeeded. */
  resolution: AlertResolution | null;
  /**
   * The contact the alert is about was erased (GDPR Art. 17, erasure.ts): the alert is closed, its
   * data redacted, and its buttons do nothing any more.
   */
  erased: boolean;
}

/** A new alert; `erased` when it is planned for a contact erased already. */
export type NewSlackAlert = Omit<SlackAlert, 'message' | 'claim' | 'resolution' | 'erased'> & { erased?: boolean };

export type ClaimResult =
  | { status: 'claimed'; alert: SlackAlert }
  | { status: 'already_resolved'; alert: SlackAlert; resolution: AlertResolution }
  /** The alert's contact was erased: nothing can be done with it. */
  | { status: 'erased'; alert: SlackAlert }
  | { status: 'in_progress'; alert: SlackAlert; claim: AlertClaim }
  | { status: 'not_found' };

/**
 * The alerts the connector posted. `claim` is a compare-and-set: of two clicks on the same alert
 * (a double click, two people, a retried delivery) exactly one gets `claimed`, so an action is
 * carried out once; the others see `in_progress` or `already_resolved` and change nothing.
 */
export interface AlertStore {
  /** Idempotent per (workspace, event id): a redelivered outbox event returns the existing alert. */
  create(alert: NewSlackAlert): Promise<SlackAlert>;
  get(workspaceId: string, alertId: string): Promise<SlackAlert | null>;
  attachMessage(workspaceId: string, alertId: string, message: { channel: string; ts: string }): Promise<void>;
  claim(workspaceId: string, alertId: string, claim: AlertClaim): Promise<ClaimResult>;
  /** Marks the alert handled; only the holder of the current claim may. */
  resolve(workspaceId: string, alertId: string, resolution: AlertResolution): Promise<SlackAlert>;
  /** Gives the claim back after a failed action, so someone can try again. */
  release(workspaceId: string, alertId: string, claim: AlertClaim): Promise<void>;
}

/** Fields every action receives. `idempotencyKey` is stable per (alert, action): consent changes record it; a resend, which the engine cannot key, checks for a run started since the failure instead. */
export interface SlackActionContext {
  workspaceId: string;
  alertId: string;
  slackUserId: string;
  idempotencyKey: string;
  alert: SlackAlert;
}

export interface ResendConsentRequestInput extends SlackActionContext {
  contactId: string;
  channel: Channel;
  purpose: Purpose;
  /** The workflow whose run failed (consent.failed `workflowId`), to start again for this contact. */
  workflowId: string;
}

/** A consent decision with `source: 'slack'` and the Slack user as actor, ready for the ledger. */
export interface SlackDecisionInput extends SlackActionContext {
  decision: ConsentDecision;
}

export interface DismissOptOutInput extends SlackActionContext {
  contactId: string;
  messageId: string;
}

/**
 * An expected refusal ("contact erased", "already opted out") is a result; the message is shown to
 * the user. A decision recorded but not in effect (the contact decided otherwise after the message
 * the alert is about) is done, with the decision that stands, so the user is told the truth.
 */
export type SlackActionResult = { outcome: 'done'; supersededBy?: StandingDecision } | { outcome: 'refused'; message: string };

/** Implemented by the server on top of the engine. Throwing a ConsentryError is reported to the user too. */
export interface SlackActionHandler {
  resendConsentRequest(input: ResendConsentRequestInput): Promise<SlackActionResult>;
  recordConsentManually(input: SlackDecisionInput): Promise<SlackActionResult>;
  applyOptOut(input: SlackDecisionInput): Promise<SlackActionResult>;
  dismissOptOut(input: DismissOptOutInput): Promise<SlackActionResult>;
}

export interface InMemoryAlertStoreOptions {
  /**
   * A claim older than this is considered abandoned (the process died mid-action) and may be taken
   * over. Slack expects an answer within 3 seconds, so a live action never comes close.
   */
  claimTimeoutMs?: number;
}

function sameClaim(a: AlertClaim, b: AlertClaim): boolean {
  return a.action === b.action && a.slackUserId === b.slackUserId && a.at === b.at;
}

export class InMemoryAlertStore implements AlertStore {
  private readonly alerts = new Map<string, SlackAlert>();
  private readonly byEvent = new Map<string, string>();
  private readonly claimTimeoutMs: number;

  constructor(options: InMemoryAlertStoreOptions = {}) {
    this.claimTimeoutMs = options.claimTimeoutMs ?? 5 * 60_000;
  }

  async create(alert: NewSlackAlert): Promise<SlackAlert> {
    assertOpaqueAlertId(alert.id);
    const eventKey = `${alert.workspaceId}\u0000${alert.event.id}`;
    const existingId = this.byEvent.get(eventKey);
    if (existingId !== undefined) {
      const existing = this.alerts.get(this.key(alert.workspaceId, existingId));
      if (existing) return structuredClone(existing);
    }
    const key = this.key(alert.workspaceId, alert.id);
    if (this.alerts.has(key)) {
      throw new ConsentryError('CONFLICT', `alert ${alert.id} already exists for another event`);
    }
    const stored: SlackAlert = { ...structuredClone(alert), message: null, claim: null, resolution: null, erased: alert.erased ?? false };
    this.alerts.set(key, stored);
    this.byEvent.set(eventKey, alert.id);
    return structuredClone(stored);
  }

  async get(workspaceId: string, alertId: string): Promise<SlackAlert | null> {
    const alert = this.alerts.get(this.key(workspaceId, alertId));
    return alert ? structuredClone(alert) : null;
  }

  async attachMessage(workspaceId: string, alertId: string, message: { channel: string; ts: string }): Promise<void> {
    this.require(workspaceId, alertId).message = { ...message };
  }

  async claim(workspaceId: string, alertId: string, claim: AlertClaim): Promise<ClaimResult> {
    const alert = this.alerts.get(this.key(workspaceId, alertId));
    if (!alert) return { status: 'not_found' };
    if (alert.erased) return { status: 'erased', alert: structuredClone(alert) };
    if (alert.resolution) {
      return { status: 'already_resolved', alert: structuredClone(alert), resolution: { ...alert.resolution } };
    }
    if (alert.claim) {
      const age = Date.parse(claim.at) - Date.parse(alert.claim.at);
      if (!(age > this.claimTimeoutMs)) {
        return { status: 'in_progress', alert: structuredClone(alert), claim: { ...alert.claim } };
      }
    }
    alert.claim = { ...claim };
    return { status: 'claimed', alert: structuredClone(alert) };
  }

  async resolve(workspaceId: string, alertId: string, resolution: AlertResolution): Promise<SlackAlert> {
    const alert = this.require(workspaceId, alertId);
    if (alert.resolution) throw new ConsentryError('CONFLICT', `alert ${alertId} is already resolved`);
    if (!alert.claim || !sameClaim(alert.claim, resolution)) {
      throw new ConsentryError('CONFLICT', `alert ${alertId} is not claimed by this action`);
    }
    alert.resolution = { ...resolution };
    alert.claim = null;
    return structuredClone(alert);
  }

  async release(workspaceId: string, alertId: string, claim: AlertClaim): Promise<void> {
    const alert = this.require(workspaceId, alertId);
    if (alert.claim && sameClaim(alert.claim, claim)) alert.claim = null;
  }

  /** Redacts and closes every alert of an erased contact (erasure.ts); returns how many changed. */
  async eraseContact(workspaceId: string, contactId: string): Promise<number> {
    return (await this.eraseContactAlerts(workspaceId, contactId)).length;
  }

  /** As eraseContact; returns the alerts that changed, as they are now. */
  async eraseContactAlerts(workspaceId: string, contactId: string): Promise<SlackAlert[]> {
    const changed: SlackAlert[] = [];
    for (const [key, alert] of this.alerts) {
      if (alert.workspaceId !== workspaceId || alertContactId(alert) !== contactId || !needsErasure(alert)) continue;
      const erased = erasedAlert(alert);
      this.alerts.set(key, erased);
      changed.push(structuredClone(erased));
    }
    return changed;
  }

  /**
   * Forgets the alert, as retention deletes a closed one (alert-store.ts `pruneExpired`): its
   * buttons then find no alert. Returns whether there was one.
   */
  remove(workspaceId: string, alertId: string): boolean {
    const key = this.key(workspaceId, alertId);
    const alert = this.alerts.get(key);
    if (!alert) return false;
    this.alerts.delete(key);
    this.byEvent.delete(`${workspaceId}\u0000${alert.event.id}`);
    return true;
  }

  private key(workspaceId: string, alertId: string): string {
    return `${workspaceId}\u0000${alertId}`;
  }

  private require(workspaceId: string, alertId: string): SlackAlert {
    const alert = this.alerts.get(this.key(workspaceId, alertId));
    if (!alert) throw new ConsentryError('NOT_FOUND', `alert ${alertId} not found`);
    return alert;
  }
}

import {
  ConsentStatusSchema,
  LegalBasisSchema,
  type Channel,
  type ConsentSource,
  type ConsentState,
  type ConsentStatus,
  type LegalBasis,
  type Purpose,
} from '../../src/core/consent.js';
import { ConsentryError } from '../../src/core/errors.js';
import { effectiveStatus } from '../../src/core/ledger.js';
import {
  CONSENTRY_PROPERTY_NAMES,
  PRIVACY_DATE_PROPERTY,
  PRIVACY_STATUS_PROPERTY,
  SYNCED_CHANNELS,
  TAGS_PROPERTY,
  channelPropertyNames,
  isSyncedChannel,
  tagOptionValue,
  type SyncedChannel,
} from './properties.js';

/** HubSpot property values are strings; an empty string clears a property. */
export type HubSpotPropertyMap = Record<string, string>;

/** The part of a consent decision the contact properties show (a ConsentState or a consent event's data). */
export interface ConsentFacts {
  purpose: Purpose;
  channel: Channel;
  status: ConsentStatus;
  legalBasis: LegalBasis | null;
  explanation: string | null;
  source: ConsentSource;
  occurredAt: string;
}

export interface ContactSnapshot {
  email: string | null;
  phone: string | null;
  tags: readonly string[];
  consent: readonly ConsentState[];
}

/** HubSpot datetime properties take ISO 8601 (or epoch ms); one canonical UTC spelling keeps values comparable. */
function isoInstant(value: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) {
    throw new ConsentryError('VALIDATION_FAILED', `"${value}" is not a date-time`, [{ path: 'occurredAt', message: 'must be ISO-8601' }]);
  }
  return new Date(ms).toISOString();
}

/** One channel's five properties; no decision means `not_specified` and the detail properties cleared. */
export function channelConsentProperties(channel: SyncedChannel, facts: ConsentFacts | null): HubSpotPropertyMap {
  const names = channelPropertyNames(channel);
  return {
    [names.status]: facts?.status ?? 'not_specified',
    [names.legalBasis]: facts?.legalBasis ?? '',
    [names.explanation]: facts?.explanation ?? '',
    [names.updatedAt]: facts === null ? '' : isoInstant(facts.occurredAt),
    [names.source]: facts?.source ?? '',
  };
}

export function privacyProperties(facts: ConsentFacts | null): HubSpotPropertyMap {
  return {
    [PRIVACY_STATUS_PROPERTY]: facts?.status ?? 'not_specified',
    [PRIVACY_DATE_PROPERTY]: facts === null ? '' : isoInstant(facts.occurredAt),
  };
}

function isNewer(a: ConsentState, b: ConsentState): boolean {
  const ta = Date.parse(a.occurredAt);
  const tb = Date.parse(b.occurredAt);
  return ta !== tb ? ta > tb : a.seq > b.seq;
}

/** Privacy consent is about the person, not a channel: the latest privacy decision on any channel governs. */
export function latestPrivacyState(states: readonly ConsentState[]): ConsentState | null {
  let latest: ConsentState | null = null;
  for (const state of states) {
    if (state.purpose !== 'privacy') continue;
    if (latest === null || isNewer(state, latest)) latest = state;
  }
  return latest;
}

/** Multi-checkbox value: option values joined by ";", each tag once, in a stable order. */
export function tagsPropertyValue(tags: readonly string[]): string {
  const values = [...new Set(tags.map(tagOptionValue).filter((v) => v !== ''))].sort();
  return values.join(';');
}

export function tagsProperties(tags: readonly string[]): HubSpotPropertyMap {
  return { [TAGS_PROPERTY]: tagsPropertyValue(tags) };
}

/** Email and phone Consentry collected; absent ones are left out so HubSpot's own values are never cleared. */
export function identityProperties(contact: { email: string | null; phone: string | null }): HubSpotPropertyMap {
  const properties: HubSpotPropertyMap = {};
  if (contact.email !== null) properties.email = contact.email;
  if (contact.phone !== null) properties.phone = contact.phone;
  return properties;
}

/**
 * The whole HubSpot picture of one contact. Marketing consent per channel uses the effective
 * status: a decision on channel `any` (STOPALL) covers every channel and the later decision wins.
 */
export function contactToHubSpotProperties(contact: ContactSnapshot): HubSpotPropertyMap {
  const properties: HubSpotPropertyMap = { ...identityProperties(contact) };
  for (const channel of SYNCED_CHANNELS) {
    Object.assign(properties, channelConsentProperties(channel, effectiveStatus(contact.consent, 'marketing', channel).state));
  }
  Object.assign(properties, privacyProperties(latestPrivacyState(contact.consent)));
  Object.assign(properties, tagsProperties(contact.tags));
  return properties;
}

/**
 * The contact's current values of `names` (among those contactToHubSpotProperties gives), each
 * with the time of the decision it shows, so that it orders against other values of the same
 * property as the decision's own change would have. Values that are no decision (identity, tags),
 * and a channel without one, take `otherwise(name)`.
 */
export function currentValuesOf(
  contact: ContactSnapshot,
  names: readonly string[],
  otherwise: (name: string) => string,
): { properties: HubSpotPropertyMap; times: Record<string, string> } {
  const all = contactToHubSpotProperties(contact);
  const decidedAt = new Map<string, string>();
  for (const channel of SYNCED_CHANNELS) {
    const state = effectiveStatus(contact.consent, 'marketing', channel).state;
    if (state !== null) for (const name of Object.values(channelPropertyNames(channel))) decidedAt.set(name, state.occurredAt);
  }
  const privacy = latestPrivacyState(contact.consent);
  if (privacy !== null) for (const name of [PRIVACY_STATUS_PROPERTY, PRIVACY_DATE_PROPERTY]) decidedAt.set(name, privacy.occurredAt);
  const properties: HubSpotPropertyMap = {};
  const times: Record<string, string> = {};
  for (const name of names) {
    const value = all[name];
    if (value === undefined) continue;
    properties[name] = value;
    times[name] = decidedAt.get(name) ?? otherwise(name);
  }
  return { properties, times };
}

/**
 * The properties one consent event changes. A channel-`any` decision writes every channel; with
 * per-property "latest occurredAt wins" coalescing this gives the same result as `effectiveStatus`.
 * Purposes other than marketing and privacy have no HubSpot properties.
 */
export function consentChangeToProperties(change: ConsentFacts): HubSpotPropertyMap {
  if (change.purpose === 'privacy') return privacyProperties(change);
  if (change.purpose !== 'marketing') return {};
  if (change.channel === 'any') {
    return Object.assign({}, ...SYNCED_CHANNELS.map((channel) => channelConsentProperties(channel, change)));
  }
  return isSyncedChannel(change.channel) ? channelConsentProperties(change.channel, change) : {};
}

export function isConsentryProperty(name: string): boolean {
  return CONSENTRY_PROPERTY_NAMES.includes(name);
}

/** A consent decision heard back from HubSpot; the caller adds contact, source `hubspot` and actor. */
export interface HubSpotConsentChange {
  purpose: 'marketing' | 'privacy';
  channel: Channel;
  status: ConsentStatus;
  legalBasis: LegalBasis | null;
  explanation: string | null;
}

function statusChannel(propertyName: string): SyncedChannel | 'privacy' | null {
  if (propertyName === PRIVACY_STATUS_PROPERTY) return 'privacy';
  for (const channel of SYNCED_CHANNELS) {
    if (channelPropertyNames(channel).status === propertyName) return channel;
  }
  return null;
}

function text(value: string | null | undefined): string | null {
  const trimmed = value?.trim() ?? '';
  return trimmed === '' ? null : trimmed;
}

/**
 * No webhook fires on subscription changes; `contact.propertyChange` on the connector's own
 * properties is how edits made in HubSpot come back (DESIGN §6). HubSpot sends one event per
 * property, so only a status change is a decision; its legal basis and explanation are read from
 * the contact's current properties. `not_specified` cannot be recorded (a decision is in or out),
 * and properties that are not ours are ignored: both give null.
 * https://developers.hubspot.com/docs/api/webhooks
 */
export function fromPropertyChange(
  change: { propertyName: string; propertyValue: string | null },
  contactProperties: Readonly<Record<string, string | null | undefined>> = {},
): HubSpotConsentChange | null {
  const target = statusChannel(change.propertyName);
  if (target === null) return null;
  const status = ConsentStatusSchema.safeParse(change.propertyValue);
  if (!status.success) return null;
  if (target === 'privacy') {
    return { purpose: 'privacy', channel: 'any', status: status.data, legalBasis: null, explanation: null };
  }
  const names = channelPropertyNames(target);
  const legalBasis = LegalBasisSchema.safeParse(contactProperties[names.legalBasis]);
  return {
    purpose: 'marketing',
    channel: target,
    status: status.data,
    legalBasis: legalBasis.success ? legalBasis.data : null,
    explanation: text(contactProperties[names.explanation]),
  };
}

export interface EmailSubscriptionTarget {
  emailAddress: string;
  /** The portal's marketing email subscription type id. */
  subscriptionId: string;
}

/** Body of `POST /communication-preferences/v3/subscribe|unsubscribe` (DESIGN §6). */
export interface EmailSubscriptionV3Body {
  emailAddress: string;
  subscriptionId: string;
  legalBasis?: LegalBasis;
  legalBasisExplanation?: string;
}

export interface EmailSubscriptionV3Request {
  action: 'subscribe' | 'unsubscribe';
  body: EmailSubscriptionV3Body;
}

/** One input of `POST /communication-preferences/v4/statuses/batch/write`; v4 accepts channel `EMAIL` only. */
export interface EmailSubscriptionV4Input {
  subscriberIdString: string;
  subscriptionId: number;
  channel: 'EMAIL';
  statusState: 'SUBSCRIBED' | 'NOT_SUBSCRIBED';
  legalBasis?: LegalBasis;
  legalBasisExplanation?: string;
}

type EmailFacts = Pick<ConsentFacts, 'purpose' | 'channel' | 'status' | 'legalBasis' | 'explanation'>;

/** Email marketing consent is the only consent HubSpot's subscription API can hold: marketing on `email`, or on `any`. */
function governsEmailSubscription(facts: EmailFacts): boolean {
  return facts.purpose === 'marketing' && (facts.channel === 'email' || facts.channel === 'any');
}

function legalFields(facts: EmailFacts): { legalBasis?: LegalBasis; legalBasisExplanation?: string } {
  const fields: { legalBasis?: LegalBasis; legalBasisExplanation?: string } = {};
  if (facts.legalBasis !== null) fields.legalBasis = facts.legalBasis;
  const explanation = text(facts.explanation);
  if (explanation !== null) fields.legalBasisExplanation = explanation;
  return fields;
}

export function emailSubscriptionRequest(facts: EmailFacts, target: EmailSubscriptionTarget): EmailSubscriptionV3Request | null {
  if (!governsEmailSubscription(facts)) return null;
  return {
    action: facts.status === 'opted_in' ? 'subscribe' : 'unsubscribe',
    body: { emailAddress: target.emailAddress, subscriptionId: target.subscriptionId, ...legalFields(facts) },
  };
}

export function emailSubscriptionV4Input(facts: EmailFacts, target: EmailSubscriptionTarget): EmailSubscriptionV4Input | null {
  if (!governsEmailSubscription(facts)) return null;
  if (!/^\d{1,15}$/.test(target.subscriptionId)) {
    throw new ConsentryError('VALIDATION_FAILED', 'subscriptionId must be a numeric HubSpot subscription type id', [
      { path: 'subscriptionId', message: 'must be digits' },
    ]);
  }
  return {
    subscriberIdString: target.emailAddress,
    subscriptionId: Number(target.subscriptionId),
    channel: 'EMAIL',
    statusState: facts.status === 'opted_in' ? 'SUBSCRIBED' : 'NOT_SUBSCRIBED',
    ...legalFields(facts),
  };
}

/** The email subscription to write for a contact's current states, or null when email marketing consent was never given nor refused. */
export function emailSubscriptionFromStates(states: readonly ConsentState[], target: EmailSubscriptionTarget): EmailSubscriptionV3Request | null {
  const { state } = effectiveStatus(states, 'marketing', 'email');
  return state === null ? null : emailSubscriptionRequest({ ...state, channel: 'email' }, target);
}

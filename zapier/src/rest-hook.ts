import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Bundle, PlainInputField, PlainOutputField, Trigger, ZObject } from 'zapier-platform-core';
import { z as zod } from 'zod';
import { apiPath, callApi, callApiOrNull, describeIssues, errorWords, EventListSchema, type EventJson, EventSchema, HookSchema, NoContentSchema } from './api.js';
import { contactById, tagKey } from './contacts.js';
import { channelField, choice, legalBasisLabel, MESSAGING_CHANNELS, parseInputData, purposeField } from './inputs.js';
import { timedStep } from './step-deadline.js';
import { withinCacheLimit } from './cache-call.js';

/**
 * Everything the five instant triggers share: subscribing a Zapier target URL to one Consentry
 * event type, reading the delivered event, listing recent real events for the editor, and the
 * flat item both produce. Zapier's REST hook contract:
 * https://github.com/zapier/zapier-platform/blob/main/packages/cli/README.md#bundletargeturl
 * (performSubscribe gets `bundle.targetUrl`, performUnsubscribe gets what performSubscribe returned
 * as `bundle.subscribeData`, perform returns an array built from `bundle.cleanedRequest`).
 */
export interface EventTriggerSpec<D extends Record<string, unknown>> {
  key: string;
  /** The Consentry public event type (DESIGN §5). */
  event: string;
  noun: string;
  label: string;
  description: string;
  /** Reads `event.data` into the item's own fields (data keys named as a Zap user reads them). */
  data: zod.ZodType<D>;
  /**
   * Optional input fields that narrow the subscription; each key is a hook filter key, which the
   * server matches against the event data (`{ "tag": "VIP" }`).
   */
  filterFields?: PlainInputField[];
  outputFields: PlainOutputField[];
  sample: EventItem<D>;
}

export interface EventEnvelope {
  id: string;
  type: string;
  occurredAt: string;
  contactId: string | null;
}

/**
 * Who the event is about, read when the item is made: a Zap that passes an opt-out on to another
 * tool needs the person's address, not only a Consentry ID (Zapier's publishing guidelines 4.7.5 and
 * 6.4.1: a trigger returns the resource's contact information without needing a search step,
 * https://platform.zapier.com/publish/integration-publishing-guidelines).
 *
 * `contactDetailsMissing` is true when the event names a contact whose details could not be read:
 * the contact is gone (deleted, or erased: no name, email or phone left), or the server could not
 * be asked. The three details are null then, and a Zap can filter on the flag. `contactErased` is
 * true when it is because the contact was erased (`erasedAt` set): a Zap can tell a person's
 * erasure, which another tool may have to follow, from an outage.
 */
export interface ContactDetails {
  contactName: string | null;
  contactEmail: string | null;
  contactPhone: string | null;
  contactDetailsMissing: boolean;
  contactErased: boolean;
}
export type EventItem<D> = EventEnvelope & D & ContactDetails;

export const ENVELOPE_OUTPUT_FIELDS: PlainOutputField[] = [
  { key: 'id', label: 'Event ID' },
  { key: 'type', label: 'Event Type' },
  { key: 'occurredAt', label: 'Occurred At', type: 'datetime' },
  { key: 'contactId', label: 'Contact ID' },
  { key: 'contactName', label: 'Contact Name' },
  { key: 'contactEmail', label: 'Contact Email' },
  { key: 'contactPhone', label: 'Contact Phone' },
  { key: 'contactDetailsMissing', label: 'Contact Details Missing', type: 'boolean' },
  { key: 'contactErased', label: 'Contact Erased', type: 'boolean' },
];

/** An event about no contact: nothing to read, nothing missing. */
const NO_CONTACT: ContactDetails = { contactName: null, contactEmail: null, contactPhone: null, contactDetailsMissing: false, contactErased: false };
const DETAILS_MISSING: ContactDetails = { contactName: null, contactEmail: null, contactPhone: null, contactDetailsMissing: true, contactErased: false };
const CONTACT_ERASED: ContactDetails = { ...DETAILS_MISSING, contactErased: true };

/**
 * An error's words for the log, without a ThrottledError's "Zapier will retry", which is about a
 * step, not about a lookup that is not retried.
 */
function reasonOf(error: unknown): string {
  return errorWords(error).replace(/\s*Zapier will retry in \d+ s\.$/, '');
}

/**
 * The contact's details for an item, never a reason to lose the event. By the time a hook's
 * `perform` runs, hooks.zapier.com has accepted the server's delivery, so the server does not send it
 * again; and Zapier replays a webhook `perform` that throws a ThrottledError once at most, after at
 * most 300 s, never again if that attempt is throttled too (CLI README, "Handling Throttled Requests",
 * https://github.com/zapier/zapier-platform/blob/main/packages/cli/README.md#handling-throttled-requests).
 * An outage, a 5xx, a 429 or a contact gone therefore gives the item without details, marked
 * `contactDetailsMissing`, instead of an error that would drop the event.
 *
 * A 401 still throws its ExpiredAuthError, which is not retried either: the key no longer opens the
 * workspace (revoked), and ExpiredAuthError is what makes Zapier mark the connection stale, pause
 * the Zaps using it and ask the user to reconnect
 * (https://github.com/zapier/zapier-platform/blob/main/packages/cli/README.md#stale-authentication-credentials).
 * The server deletes a revoked key's hooks so that its Zaps stop hearing events; handing on a
 * delivery that still arrived would undo that.
 */
async function contactDetailsFor(z: ZObject, bundle: Bundle, contactId: string): Promise<ContactDetails> {
  try {
    const contact = await contactById(z, bundle, contactId);
    // The server answers an erased contact 200 with erasedAt set and its details null.
    if (contact && contact.erasedAt !== null) {
      z.console.log(`Contact ${contactId} was erased on ${contact.erasedAt}: its item has no contact details`);
      return CONTACT_ERASED;
    }
    if (contact) {
      return { contactName: contact.name, contactEmail: contact.email, contactPhone: contact.phone, contactDetailsMissing: false, contactErased: false };
    }
    z.console.log(`Contact ${contactId} is gone (not found): its item has no contact details`);
  } catch (error) {
    if (error instanceof z.errors.ExpiredAuthError) throw error;
    z.console.log(`Contact ${contactId} could not be read, so its item has no contact details: ${reasonOf(error)}`);
  }
  return DETAILS_MISSING;
}

/** Adds the contact's name, email and phone to each item; every contact is read once (`GET /v1/contacts/{id}`). */
async function withContactDetails<I extends EventEnvelope>(z: ZObject, bundle: Bundle, items: readonly I[]): Promise<(I & ContactDetails)[]> {
  const ids = [...new Set(items.flatMap((item) => (item.contactId === null ? [] : [item.contactId])))];
  const details = new Map(await Promise.all(ids.map(async (id) => [id, await contactDetailsFor(z, bundle, id)] as const)));
  return items.map((item) => ({ ...item, ...(item.contactId === null ? NO_CONTACT : (details.get(item.contactId) ?? DETAILS_MISSING)) }));
}

/** How many recent events the editor gets when it asks for samples without a limit. */
const DEFAULT_SAMPLE_COUNT = 10;
/** The most events one performList reads; filters that run here need some to choose from. */
const MAX_LIST = 100;

/**
 * Zapier hands a JSON webhook body over as `bundle.cleanedRequest` itself (plus `querystring`);
 * the README also documents a `{ method, headers, content }` form, which is accepted too.
 */
const DeliveredEventSchema = zod.union([EventSchema, zod.object({ content: EventSchema }).transform((request) => request.content)]);

/**
 * What performSubscribe returned, as Zapier hands it to perform and performUnsubscribe
 * (`bundle.subscribeData`). Zaps subscribed before deliveries were verified have no `secret`, and
 * those subscribed before the server issued subscription ids no `subscriptionId`.
 */
const SubscribeDataSchema = zod.object({
  id: zod.string().min(1),
  secret: zod.string().min(1).optional(),
  subscriptionId: zod.string().min(1).optional(),
});

/**
 * How long a subscription lasts before Zapier subscribes it again: Zapier resubscribes after the
 * `expiration_date` that performSubscribe returns (https://docs.zapier.com/platform/build/cli-hook-trigger),
 * with the key the connection holds then. A hook lasts as long as the API key that made it, so after
 * a key rotation (new key in the connection, old key revoked) the server has deleted the hook, and a
 * Zap with no Consentry action would hear nothing without ever failing. Renewed daily, it is
 * subscribed again with the new key within a day. `POST /v1/hooks` answers the live hook when one
 * already subscribes the same target URL, event and filter (200, same id and secret), so a renewal
 * neither doubles deliveries nor changes the id that repeats are remembered by.
 *
 * The renewal gets the same hook, so unsubscribing the subscription it renewed must not delete it:
 * Zapier does not document whether it unsubscribes the expired subscription, nor whether before or
 * after subscribing again (https://docs.zapier.com/platform/build/hook-trigger). Each answer carries
 * a new `subscriptionId`, kept in subscribeData and sent on unsubscribe
 * (`DELETE /v1/hooks/{id}?subscription=`): the server deletes the hook only for its latest
 * subscription, and keeps it for one a renewal replaced.
 */
const SUBSCRIPTION_LIFETIME_MS = 24 * 60 * 60 * 1000;

/**
 * Answers to `DELETE /v1/hooks/{id}` that mean the hook is gone already: 404 and 410, and 401, the
 * key that made it having been revoked, which deleted its hooks. Turning the Zap off must not fail
 * then. (A hook made before the server recorded its key outlives the key; Zapier answers its next
 * delivery to the unsubscribed URL 410, and the server deletes a hook whose target answers 410.)
 */
const HOOK_ALREADY_REMOVED = [401, 404, 410];

/**
 * How old a delivery's signature may be when `perform` checks it. The server signs each attempt as
 * it sends it and hooks.zapier.com accepts it at once, but Zapier runs `perform` from its own queue,
 * which may be minutes later and longer in a backlog: the server's 5-minute tolerance would drop
 * real events. A day keeps them; a captured delivery replayed within the day repeats an event id
 * the subscription has already heard, which `firstDelivery` drops (it remembers longer than a day).
 */
const SIGNATURE_MAX_AGE_SECONDS = 24 * 60 * 60;
/** Ahead of Zapier's clock, only the clock drift the server itself tolerates (5 minutes) is accepted. */
const SIGNATURE_MAX_AHEAD_SECONDS = 5 * 60;

/** Zapier's `bundle.rawRequest`: the body as received and the request headers. */
const RawRequestSchema = zod.object({
  headers: zod.record(zod.string(), zod.unknown()).optional(),
  content: zod.string().optional(),
});

/**
 * A header by name, whatever its letter case: Zapier hands a hook's headers over prefixed, as
 * `Http-X-Consentry-Signature` (CLI README, `bundle.rawRequest`); the CGI form
 * `HTTP_X_CONSENTRY_SIGNATURE` and the plain name are read too.
 */
function headerValue(headers: Record<string, unknown>, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase().replace(/_/g, '-').replace(/^http-/, '') !== name) continue;
    if (typeof value === 'string') return value;
    if (Array.isArray(value) && value.every((part) => typeof part === 'string')) return value.join(',');
  }
  return undefined;
}

const SIGNATURE_VALUE = /^[0-9a-f]{64}$/i;

/**
 * The delivery's raw body when its signature holds, or why it does not. The server signs
 * `${X-Consentry-Timestamp}.${raw body}` with the hook's secret, HMAC-SHA256, sent as
 * `X-Consentry-Signature: v1=<hex>`, with a second comma-separated `v1=` value during a secret
 * rotation (README, Webhooks; the server's `signDelivery`). Compared in constant time.
 */
function verifiedBody(rawRequest: unknown, secret: string, nowMs: number): { body: string } | { problem: string } {
  const raw = RawRequestSchema.safeParse(rawRequest);
  if (!raw.success || raw.data.content === undefined) return { problem: 'Zapier handed over no raw body to check its signature against' };
  const headers = raw.data.headers ?? {};
  const signature = headerValue(headers, 'x-consentry-signature');
  if (signature === undefined) return { problem: 'it has no X-Consentry-Signature header' };
  const timestamp = headerValue(headers, 'x-consentry-timestamp');
  if (timestamp === undefined || !/^\d{1,12}$/.test(timestamp)) return { problem: 'its X-Consentry-Timestamp header is missing or not in Unix seconds' };
  const age = Math.floor(nowMs / 1000) - Number(timestamp);
  if (age > SIGNATURE_MAX_AGE_SECONDS) return { problem: `it was signed ${age} s ago, more than the ${SIGNATURE_MAX_AGE_SECONDS} s accepted` };
  if (-age > SIGNATURE_MAX_AHEAD_SECONDS) return { problem: `it is dated ${-age} s ahead of Zapier's clock, more than the ${SIGNATURE_MAX_AHEAD_SECONDS} s accepted` };
  const expected = createHmac('sha256', secret).update(`${timestamp}.${raw.data.content}`).digest();
  const matches = signature.split(',').some((part) => {
    const [scheme, value] = part.trim().split('=');
    return scheme === 'v1' && value !== undefined && SIGNATURE_VALUE.test(value) && timingSafeEqual(Buffer.from(value, 'hex'), expected);
  });
  return matches ? { body: raw.data.content } : { problem: 'its signature does not match the secret Consentry gave when the Zap subscribed' };
}

function jsonOf(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * How long a subscription remembers the events it heard: the server retries a delivery for 3 days
 * (an hour more after a long Retry-After) with the same event id, and re-sends an attempt it could
 * not confirm (a time-out, a restart), which Zapier may have accepted already; a replay within the
 * signature window repeats an id too. Four days cover all of them.
 */
const DELIVERY_MEMORY_SECONDS = 4 * 24 * 60 * 60;

/**
 * Whether this subscription hears this event for the first time. Zapier dedupes the items of
 * polling triggers only (CLI README, "Return Types": the array is passed to the deduper "if
 * polling"), and the server delivers at least once, so a repeat would run the Zap again (a second
 * welcome message). The event is claimed with zcache's set-if-absent, `z.cache.set(key, value, ttl,
 * scope, nx)` (zapier-platform-core's create-cache.js), keyed by subscription so that two Zaps on one
 * connection each get it; hook ids are the server's ULIDs, distinct across connections, so the
 * default scope serves. The cache never costs an event: `set` also answers false when Zapier's rate
 * limit declined the write, so only a key that is there marks a repeat, and a cache that fails (or
 * takes longer than CACHE_CALL_LIMIT_MS) lets the event through.
 */
async function firstDelivery(z: ZObject, subscriptionId: string, eventId: string): Promise<boolean> {
  const key = `${subscriptionId}:${eventId}`;
  try {
    // No scope (undefined is core's default, null): see above.
    if ((await withinCacheLimit(() => z.cache.set(key, 1, DELIVERY_MEMORY_SECONDS, undefined, true))) === true) return true;
    return (await withinCacheLimit(() => z.cache.get(key))) === null;
  } catch (error) {
    z.console.log(`Could not check whether event ${eventId} reached this Zap before, so it is delivered: ${reasonOf(error)}`);
    return true;
  }
}

export function eventItem<D extends Record<string, unknown>>(z: ZObject, spec: EventTriggerSpec<D>, event: EventJson): EventEnvelope & D {
  const data = spec.data.safeParse(event.data);
  if (!data.success) {
    throw new z.errors.Error(
      `Consentry event ${event.id} (${event.type}) has unexpected data: ${describeIssues(data.error)}`,
      'UNEXPECTED_EVENT',
      400,
    );
  }
  const contactId = event.contactId ?? (typeof event.data.contactId === 'string' ? event.data.contactId : null);
  // The envelope goes last: `id` must stay the event id, the one Zapier shows and keys samples on.
  return { ...data.data, id: event.id, type: event.type, occurredAt: event.occurredAt, contactId };
}

/**
 * A channel filter names one messaging channel. `any` is refused: as a hook filter it would match
 * only the all-channel decisions (README, Webhooks), never a change on one channel, while a filter on
 * a channel already lets those all-channel decisions through.
 */
const ChannelFilterSchema = choice(
  MESSAGING_CHANNELS,
  '; leave it empty for every channel: a channel filter already lets decisions for every channel at once (STOP ALL, channel any) through',
);

/** DESIGN §2: the channel `any` addresses every channel at once (a STOP ALL opt-out). */
const EVERY_CHANNEL = 'any';

/**
 * What a Zap subscribed earlier may hold: the app once offered `any`, and the server's hook made
 * with it matches the all-channel decisions only. Its deliveries are read as such, so those Zaps
 * keep working; only a new subscription is refused `any`.
 */
const StoredChannelFilterSchema = zod.enum([...MESSAGING_CHANNELS, EVERY_CHANNEL]);

function filterSchema(fields: readonly PlainInputField[], use: 'subscribe' | 'read') {
  const shape: Record<string, zod.ZodType<string | undefined>> = {};
  for (const field of fields) {
    const channel = use === 'subscribe' ? ChannelFilterSchema : StoredChannelFilterSchema;
    const value = field.key === 'channel' ? channel : zod.string().trim().max(200);
    shape[field.key] = zod.preprocess((raw) => (typeof raw === 'string' && raw.trim() === '' ? undefined : raw), value.optional());
  }
  return zod.object(shape);
}

/** The hook filter the Zap's optional fields ask for, or `undefined` when none is set. */
export function hookFilter(z: ZObject, fields: readonly PlainInputField[], inputData: unknown, use: 'subscribe' | 'read' = 'read'): Record<string, string> | undefined {
  if (fields.length === 0) return undefined;
  const parsed = parseInputData(z, filterSchema(fields, use), inputData ?? {});
  const filter: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (typeof value === 'string') filter[key] = value;
  }
  return Object.keys(filter).length > 0 ? filter : undefined;
}

/**
 * Whether a delivered or listed event is one the Zap's filter asks for, by the rules the server
 * applies before it calls the hook (README, Webhooks): an event about channel `any` concerns
 * every channel, so it matches any `channel` filter (a Zap filtered on WhatsApp must hear a
 * STOP ALL too), and a tag matches whatever its letter case and spacing. Anything stricter here
 * would drop events the server rightly delivered.
 */
function matchesFilter(item: Record<string, unknown>, filter: Record<string, string> | undefined): boolean {
  if (!filter) return true;
  return Object.entries(filter).every(([key, expected]) => {
    const actual = item[key];
    if (typeof actual !== 'string') return false;
    if (key === 'channel' && actual === EVERY_CHANNEL) return true;
    if (key === 'tag') return tagKey(actual) === tagKey(expected);
    return actual === expected;
  });
}

function sampleCount(bundle: Bundle): number {
  const limit = bundle.meta?.limit;
  return typeof limit === 'number' && limit > 0 ? Math.min(limit, MAX_LIST) : DEFAULT_SAMPLE_COUNT;
}

export function defineEventTrigger<D extends Record<string, unknown>>(spec: EventTriggerSpec<D>): Trigger {
  const filterFields = spec.filterFields ?? [];

  const performSubscribe = async (z: ZObject, bundle: Bundle) => {
    const targetUrl = zod.url().safeParse(bundle.targetUrl);
    if (!targetUrl.success) throw new z.errors.Error('Zapier gave no target URL to subscribe', 'INVALID_TARGET', 400);
    const filter = hookFilter(z, filterFields, bundle.inputData, 'subscribe');
    // A failed subscribe leaves the Zap off and tells the user there; Zapier replays nothing.
    const hook = await callApi(z, bundle, {
      method: 'POST',
      path: '/v1/hooks',
      body: { targetUrl: targetUrl.data, event: spec.event, ...(filter ? { filter } : {}) },
      schema: HookSchema,
      neverReplayed: true,
    });
    return {
      id: hook.id,
      event: hook.event,
      targetUrl: hook.targetUrl,
      filter: hook.filter ?? null,
      // Kept so that perform can check each delivery's signature.
      ...(hook.secret === undefined ? {} : { secret: hook.secret }),
      // Kept so that unsubscribing this subscription after a renewal leaves the renewed one.
      ...(hook.subscriptionId === undefined ? {} : { subscriptionId: hook.subscriptionId }),
      expiration_date: new Date(Date.now() + SUBSCRIPTION_LIFETIME_MS).toISOString(),
    };
  };

  const performUnsubscribe = async (z: ZObject, bundle: Bundle) => {
    const subscription = SubscribeDataSchema.safeParse(bundle.subscribeData);
    if (!subscription.success) throw new z.errors.Error('This Zap has no Consentry subscription to remove', 'INVALID_SUBSCRIPTION', 400);
    const path = apiPath('v1', 'hooks', subscription.data.id);
    // Without a subscriptionId (a Zap subscribed before they were issued) the hook is deleted as before.
    const params = { subscription: subscription.data.subscriptionId };
    await callApiOrNull(z, bundle, { method: 'DELETE', path, params, schema: NoContentSchema }, HOOK_ALREADY_REMOVED);
    return { id: subscription.data.id, deleted: true };
  };

  const perform = async (z: ZObject, bundle: Bundle) => {
    const subscription = SubscribeDataSchema.safeParse(bundle.subscribeData);
    const subscribed = subscription.success ? subscription.data : null;
    let body: unknown = bundle.cleanedRequest;
    if (subscribed?.secret !== undefined) {
      const verified = verifiedBody(bundle.rawRequest, subscribed.secret, Date.now());
      if ('problem' in verified) {
        z.console.log(`A delivery to Consentry hook ${subscribed.id} was dropped: ${verified.problem}`);
        return [];
      }
      // The event is read from the body the signature covers.
      body = jsonOf(verified.body);
    }
    const delivered = DeliveredEventSchema.safeParse(body);
    if (!delivered.success) {
      throw new z.errors.Error(`The webhook body is not a Consentry event: ${describeIssues(delivered.error)}`, 'UNEXPECTED_EVENT', 400);
    }
    // A hook is subscribed to one event type and filter; anything else that reaches this URL is not for this Zap.
    if (delivered.data.type !== spec.event) return [];
    const item = eventItem(z, spec, delivered.data);
    if (!matchesFilter(item, hookFilter(z, filterFields, bundle.inputData))) return [];
    if (subscribed && !(await firstDelivery(z, subscribed.id, item.id))) {
      z.console.log(`Event ${item.id} already reached this Zap through Consentry hook ${subscribed.id}: the repeat was dropped`);
      return [];
    }
    return withContactDetails(z, bundle, [item]);
  };

  /** Recent real events for the Zap editor's samples, newest first as the server lists them. */
  const performList = async (z: ZObject, bundle: Bundle) => {
    const wanted = sampleCount(bundle);
    const filter = hookFilter(z, filterFields, bundle.inputData);
    const list = await callApi(z, bundle, {
      path: '/v1/events',
      params: { type: spec.event, limit: filter ? MAX_LIST : wanted },
      schema: EventListSchema,
    });
    const items = list.data
      .filter((event) => event.type === spec.event)
      .map((event) => eventItem(z, spec, event))
      .filter((item) => matchesFilter(item, filter))
      .slice(0, wanted);
    return withContactDetails(z, bundle, items);
  };

  return {
    key: spec.key,
    noun: spec.noun,
    display: { label: spec.label, description: spec.description },
    operation: {
      type: 'hook',
      inputFields: filterFields,
      performSubscribe: timedStep(spec.label, performSubscribe),
      performUnsubscribe: timedStep(spec.label, performUnsubscribe),
      perform: timedStep(spec.label, perform),
      performList: timedStep(spec.label, performList),
      outputFields: [...ENVELOPE_OUTPUT_FIELDS, ...spec.outputFields],
      sample: spec.sample,
    },
  };
}

/** `consent.given` / `consent.withdrawn` data (the server's HTTP API contract), as item fields. */
export const ConsentChangeDataSchema = zod
  .object({
    purpose: zod.string(),
    channel: zod.string(),
    status: zod.string(),
    legalBasis: zod.string().nullable().optional(),
    explanation: zod.string().nullable().optional(),
    source: zod.string(),
    recordId: zod.string(),
    occurredAt: zod.string(),
  })
  .transform((data) => ({
    purpose: data.purpose,
    channel: data.channel,
    status: data.status,
    legalBasis: data.legalBasis ?? null,
    legalBasisLabel: legalBasisLabel(data.legalBasis ?? null),
    explanation: data.explanation ?? null,
    source: data.source,
    recordId: data.recordId,
    // The decision's own time: an import may record a decision made before the event was written.
    decidedAt: data.occurredAt,
  }));

export const CONSENT_CHANGE_OUTPUT_FIELDS: PlainOutputField[] = [
  { key: 'purpose', label: 'Purpose' },
  { key: 'channel', label: 'Channel' },
  { key: 'status', label: 'Status' },
  { key: 'legalBasis', label: 'Legal Basis' },
  { key: 'legalBasisLabel', label: 'Legal Basis (label)' },
  { key: 'explanation', label: 'Explanation' },
  { key: 'source', label: 'Source' },
  { key: 'recordId', label: 'Consent Record ID' },
  { key: 'decidedAt', label: 'Decided At', type: 'datetime' },
];

export const consentFilterFields = (): PlainInputField[] => [
  channelField({
    required: false,
    messagingOnly: true,
    helpText:
      'Only consent changes on this channel, and decisions made for every channel at once (a STOP ALL, channel `any`), which apply to it too. Leave empty for every channel.',
  }),
  purposeField({ required: false, defaultMarketing: false, helpText: 'Only consent changes for this purpose. Leave empty for every purpose.' }),
];

import type { Bundle, PlainInputField, PlainOutputField, Trigger, ZObject } from 'zapier-platform-core';
import { z as zod } from 'zod';
import { apiPath, callApi, type ContactJson, describeIssues, EventListSchema, type EventJson, EventSchema, HookSchema, NoContentSchema } from './api.js';
import { contactById, tagKey } from './contacts.js';
import { channelField, legalBasisLabel, MESSAGING_CHANNELS, parseInputData, purposeField } from './inputs.js';

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
 * https://platform.zapier.com/publish/integration-publishing-guidelines). All null when the contact
 * is gone; an erased contact has no name, email or phone left.
 */
export interface ContactDetails {
  contactName: string | null;
  contactEmail: string | null;
  contactPhone: string | null;
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
];

const NO_CONTACT: ContactDetails = { contactName: null, contactEmail: null, contactPhone: null };

function detailsOf(contact: ContactJson | null): ContactDetails {
  return contact ? { contactName: contact.name, contactEmail: contact.email, contactPhone: contact.phone } : NO_CONTACT;
}

/** Adds the contact's name, email and phone to each item; every contact is read once (`GET /v1/contacts/{id}`). */
async function withContactDetails<I extends EventEnvelope>(z: ZObject, bundle: Bundle, items: readonly I[]): Promise<(I & ContactDetails)[]> {
  const ids = [...new Set(items.flatMap((item) => (item.contactId === null ? [] : [item.contactId])))];
  const contacts = new Map(await Promise.all(ids.map(async (id) => [id, await contactById(z, bundle, id)] as const)));
  return items.map((item) => ({ ...item, ...detailsOf(item.contactId === null ? null : (contacts.get(item.contactId) ?? null)) }));
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

const SubscribeDataSchema = zod.object({ id: zod.string().min(1) });

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
const ChannelFilterSchema = zod.enum(MESSAGING_CHANNELS, {
  error: `choose one of ${MESSAGING_CHANNELS.join(', ')}, or leave it empty for every channel; a channel filter already lets decisions for every channel at once (STOP ALL, channel any) through`,
});

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
    const hook = await callApi(z, bundle, {
      method: 'POST',
      path: '/v1/hooks',
      body: { targetUrl: targetUrl.data, event: spec.event, ...(filter ? { filter } : {}) },
      schema: HookSchema,
    });
    // The signing secret stays on the server: nothing here verifies signatures, so it is not kept.
    return { id: hook.id, event: hook.event, targetUrl: hook.targetUrl, filter: hook.filter ?? null };
  };

  const performUnsubscribe = async (z: ZObject, bundle: Bundle) => {
    const subscription = SubscribeDataSchema.safeParse(bundle.subscribeData);
    if (!subscription.success) throw new z.errors.Error('This Zap has no Consentry subscription to remove', 'INVALID_SUBSCRIPTION', 400);
    await callApi(z, bundle, { method: 'DELETE', path: apiPath('v1', 'hooks', subscription.data.id), schema: NoContentSchema });
    return { id: subscription.data.id, deleted: true };
  };

  const perform = async (z: ZObject, bundle: Bundle) => {
    const delivered = DeliveredEventSchema.safeParse(bundle.cleanedRequest);
    if (!delivered.success) {
      throw new z.errors.Error(`The webhook body is not a Consentry event: ${describeIssues(delivered.error)}`, 'UNEXPECTED_EVENT', 400);
    }
    // A hook is subscribed to one event type and filter; anything else that reaches this URL is not for this Zap.
    if (delivered.data.type !== spec.event) return [];
    const item = eventItem(z, spec, delivered.data);
    if (!matchesFilter(item, hookFilter(z, filterFields, bundle.inputData))) return [];
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
      performSubscribe,
      performUnsubscribe,
      perform,
      performList,
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

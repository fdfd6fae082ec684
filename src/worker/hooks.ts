import { z } from 'zod';
import { ConsentryError, issuesOfRefusal, refusalOf, refusedField, withUnnamedFields, type FieldIssue } from '../core/errors.js';
import { PUBLIC_EVENT_DATA_SCHEMAS, PUBLIC_EVENT_TYPES, PublicEventTypeSchema, type PublicEventType } from '../core/events.js';
import { pageOf, shownId, unknownCursor } from '../core/paging.js';
import { canonicalUlid, controlCharacterIn, isUlid, TAG_MAX_LENGTH, tagKey } from '../core/contact.js';
import { zodIssuesToFieldIssues } from '../core/ledger.js';
import { absentValueMessage, FIELD_PARSE, notOneOf, shownValue } from '../core/required.js';
import { assertKnownPurpose, WebhookTargetUrlSchema, type WorkspaceSettings } from '../core/settings.js';
import { invalidInput, parseInput } from '../engine/inputs.js';
import type { Clock } from '../ports/clock.js';
import type { IdGenerator } from '../ports/ids.js';
import { OUTBOUND_HOOK_PREFIX, mayHaveExpired, type ApiKeyRow, type DeliveryRow, type DeliveryStatus, type HookDeletedReason, type HookRow, type Store, type StoreTx } from '../ports/store.js';
import {
  keepPreviousSecret,
  newSigningSecret,
  replaceOutboundWebhookSecret,
  SecretRotationInputSchema,
  type RotatedSecret,
  type SecretRotationInput,
} from './signing-secrets.js';
import { comparableFilterValue, INSTANT_FIELDS, TAG_FIELD, ULID_FIELDS } from './hook-matching.js';
import { assertTargetUrlAllowed, type TargetPolicy } from './target-guard.js';

const MAX_FILTER_KEYS = 20;

/** A value not in the list is quoted with the list, as everywhere (notOneOf); `*` stands for every type. */
export const HookEventSchema = z.union([PublicEventTypeSchema, z.literal('*')], {
  error: (issue) => absentValueMessage(issue) ?? `${notOneOf(issue.input, [...PUBLIC_EVENT_TYPES, '*'])} (* for all of them)`,
});

/** A filter value's schema, read through `nullable` (a filter compares text, so null never matches). */
function valueSchemaOf(schema: z.core.$ZodType): z.core.$ZodType {
  return schema instanceof z.ZodNullable ? valueSchemaOf(schema.unwrap()) : schema;
}

/**
 * The data fields a filter may name for `event`, with the schemas of the values each can take
 * (one per event type that has the field, for `*`): a field that the event's data does not have,
 * or a value it never holds (`"whatsap"`), would make a hook that never fires, silently.
 */
function filterableFields(event: PublicEventType | '*'): Map<string, z.core.$ZodType[]> {
  const types = event === '*' ? PUBLIC_EVENT_TYPES : [event];
  const fields = new Map<string, z.core.$ZodType[]>();
  for (const type of types) {
    for (const [name, schema] of Object.entries(PUBLIC_EVENT_DATA_SCHEMAS[type].shape)) {
      const value = valueSchemaOf(schema);
      if (value instanceof z.ZodString || value instanceof z.ZodEnum || value instanceof z.ZodNumber || value instanceof z.ZodBoolean) {
        fields.set(name, [...(fields.get(name) ?? []), value]);
      }
    }
  }
  return fields;
}

const InstantSchema = z.iso.datetime({ offset: true });

/** Why a value can never be a tag, as tagging refuses it (core/contact.ts `addTag`); null when it can. */
function impossibleTag(value: string): string | null {
  const forbidden = controlCharacterIn(value.trim());
  if (forbidden !== undefined) return `is never a tag: it ${forbidden}`;
  const key = tagKey(value);
  if (key === '') return 'is empty: a tag has at least one character besides spaces';
  if (key.length > TAG_MAX_LENGTH) return `is never a tag: tags are at most ${TAG_MAX_LENGTH} characters`;
  return null;
}

/** Why a filter value can never equal the field's value as `hookMatchesEvent` compares them; null when it can. */
function impossibleValue(field: string, schemas: readonly z.core.$ZodType[], value: string): string | null {
  if (ULID_FIELDS.has(field)) {
    return isUlid(value) ? null : `${shownValue(value)} is never an id here: ids are ULIDs, 26 letters and digits such as 01ARZ3NDEKTSV4RRFFQ69G5FAV (any letter case)`;
  }
  if (field === TAG_FIELD) return impossibleTag(value);
  if (INSTANT_FIELDS.has(field)) {
    return InstantSchema.safeParse(value).success ? null : 'is an ISO 8601 date and time with Z or an offset, such as 2026-03-01T10:00:00.000Z';
  }
  const problems = schemas.map((schema) => impossibleFor(schema, value));
  return problems.includes(null) ? null : (problems[0] ?? null);
}

function impossibleFor(schema: z.core.$ZodType, value: string): string | null {
  if (schema instanceof z.ZodEnum) {
    const options = schema.options.map(String);
    return options.includes(value) ? null : `${notOneOf(value, options)}, so the filter would never match`;
  }
  if (schema instanceof z.ZodNumber) return /^-?\d+(\.\d+)?$/.test(value) ? null : 'is a number';
  if (schema instanceof z.ZodBoolean) return value === 'true' || value === 'false' ? null : 'is true or false';
  // A string the field's own schema refuses (a purpose in capitals) is never in the data either;
  // the schema's message quotes the value where it words one (shownValue), else it is quoted here.
  const parsed = z.safeParse(schema, value);
  if (parsed.success) return null;
  const message = parsed.error.issues[0]?.message ?? 'the field cannot hold it';
  return message.startsWith(shownValue(value)) ? message : `is never ${shownValue(value)}: ${message}`;
}

/** The filter as stored: ids in their canonical upper case, as every listing shows them; any other value as it was written. */
function canonicalFilter(filter: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(filter).map(([field, value]) => [field, ULID_FIELDS.has(field) ? canonicalUlid(value) : value]));
}

/** Whether every event type of `event` that has `field` holds a number there: hookMatchesEvent reads such a filter value as a number. */
function isNumberField(event: HookRow['event'], field: string): boolean {
  const schemas = filterableFields(event).get(field);
  return schemas !== undefined && schemas.every((schema) => schema instanceof z.ZodNumber);
}

/**
 * A filter value in the form hookMatchesEvent compares it (comparableFilterValue: a tag by its
 * key, an id in upper case, an instant as its moment; a number by its value), so that two spellings
 * that hear the same events are one subscription.
 */
function comparableValue(event: HookRow['event'], field: string, value: string): string {
  if (isNumberField(event, field) && value.trim() !== '' && Number.isFinite(Number(value))) return String(Number(value));
  return comparableFilterValue(field, value);
}

/**
 * Whether two filters of hooks on `event` hear the same events, whatever the order of their keys
 * and however their values are spelt; a hook stored with an older spelling is read the same way.
 */
function sameFilter(event: HookRow['event'], a: Record<string, string> | null, b: Record<string, string> | null): boolean {
  const entriesA = Object.entries(a ?? {});
  if (entriesA.length !== Object.keys(b ?? {}).length) return false;
  return entriesA.every(([field, value]) => {
    const other = b !== null && Object.hasOwn(b, field) ? b[field] : undefined;
    return other !== undefined && comparableValue(event, field, other) === comparableValue(event, field, value);
  });
}

/**
 * A target URL as the WHATWG URL parser serialises it (https://url.spec.whatwg.org/#concept-url-serializer):
 * scheme and host in lower case (RFC 3986 §6.2.2.1), the scheme's default port left out (§6.2.3),
 * and without a fragment, which no request carries (RFC 9110 §7.1). The path and query stay as
 * written: they are the receiver's, and may tell case apart. A stored URL that does not parse any
 * more is compared as it is.
 */
function canonicalTargetUrl(url: string): string {
  if (!URL.canParse(url)) return url;
  const parsed = new URL(url);
  parsed.hash = '';
  return parsed.href;
}

/**
 * Why a `*` filter whose keys and values each fit some event type still never fires; null when it
 * can. An event matches only when its own data has every key with its value, so some one event
 * type must carry them all (`tag` and `purpose` are never in one event's data).
 */
function neverTogether(filter: Record<string, string>): string | null {
  const entries = Object.entries(filter);
  if (entries.length < 2) return null;
  const carries = (type: PublicEventType): boolean => {
    const fields = filterableFields(type);
    return entries.every(([key, value]) => {
      const schemas = fields.get(key);
      return schemas !== undefined && impossibleValue(key, schemas, value) === null;
    });
  };
  if (PUBLIC_EVENT_TYPES.some(carries)) return null;
  const keys = entries.map(([key]) => key);
  const typesWith = (key: string): string => PUBLIC_EVENT_TYPES.filter((type) => filterableFields(type).has(key)).join(', ');
  const keysTogether = PUBLIC_EVENT_TYPES.some((type) => keys.every((key) => filterableFields(type).has(key)));
  const why = keysTogether
    ? `no public event's data holds these values of ${keys.join(', ')} together`
    : `no public event's data has all of ${keys.join(', ')} (${keys.map((key) => `${key}: ${typesWith(key)}`).join('; ')})`;
  return `${why}: a * hook with this filter would never fire`;
}

export const HookInputSchema = z
  .object({
    targetUrl: WebhookTargetUrlSchema,
    event: HookEventSchema,
    filter: z
      .record(z.string().min(1).max(100), z.string().max(500))
      .refine((filter) => Object.keys(filter).length <= MAX_FILTER_KEYS, `filter may have at most ${MAX_FILTER_KEYS} keys`)
      .nullish(),
  })
  .strict()
  .superRefine((hook, context) => {
    if (!hook.filter) return;
    const fields = filterableFields(hook.event);
    let valuesPossible = true;
    for (const [key, value] of Object.entries(hook.filter)) {
      const schemas = fields.get(key);
      const problem =
        schemas === undefined
          ? `is not a field of the data of ${hook.event === '*' ? 'any public event' : `${hook.event} events`}; filter on one of ${[...fields.keys()].join(', ')}`
          : impossibleValue(key, schemas, value);
      if (problem !== null) {
        context.addIssue({ code: 'custom', path: ['filter', key], message: problem });
        valuesPossible = false;
      }
    }
    if (valuesPossible && hook.event === '*') {
      const problem = neverTogether(hook.filter);
      if (problem !== null) context.addIssue({ code: 'custom', path: ['filter'], message: problem });
    }
  });
export type HookInput = z.input<typeof HookInputSchema>;

/** The values of a hook body that subscribing checks beyond its schema, each read only when it has the right type. */
const CheckedHookValuesSchema = z.object({
  targetUrl: WebhookTargetUrlSchema.optional().catch(undefined),
  filter: z.object({ purpose: z.string().optional().catch(undefined) }).nullish().catch(undefined),
});

/**
 * What subscribing refuses in a hook body beyond its schema: a target URL on a host hooks may not
 * reach, and a filter.purpose the workspace does not know (consent events name only purposes it
 * knows, so a misspelt one would never fire; `settings` null when the workspace is not known).
 * `input` may be a body no schema has accepted: a value of the wrong type is the schema's to name.
 */
function hookValueIssues(input: unknown, settings: Pick<WorkspaceSettings, 'purposes'> | null, policy: TargetPolicy): FieldIssue[] {
  const values = CheckedHookValuesSchema.safeParse(input);
  if (!values.success) return [];
  const { targetUrl } = values.data;
  const purpose = values.data.filter?.purpose;
  const refusals = [
    targetUrl === undefined ? null : refusalOf(() => assertTargetUrlAllowed(targetUrl, 'targetUrl', 'hook', policy)),
    purpose === undefined || settings === null ? null : refusalOf(() => assertKnownPurpose(purpose, settings, 'filter.purpose')),
  ];
  return refusals.flatMap((refusal) => (refusal === null ? [] : issuesOfRefusal(refusal)));
}

export const DeliveryStatusSchema = z.enum(['pending', 'delivered', 'dead']);

/** A hook as listed: never its secret, which only the answer to subscribing shows. */
export interface HookView {
  id: string;
  targetUrl: string;
  event: HookRow['event'];
  filter: Record<string, string> | null;
  createdAt: string;
}

export interface CreatedHook extends HookView {
  secret: string;
}

/** What subscribing answers: the hook with its secret, and whether an identical live subscription was there already. */
export interface SubscribedHook extends CreatedHook {
  /** True when the workspace already had a live hook with this target URL, event and filter: that hook is the answer. */
  alreadySubscribed: boolean;
  /** This subscription, new on every subscribe: now the hook's latest (HookRow.subscriptionId). */
  subscriptionId: string;
}

/**
 * What unsubscribing one subscription of a hook did: `removed` the hook (it was the hook's latest
 * subscription), kept it because the subscription was `replaced` (the hook's latest subscription
 * is another one), or found no live hook with that id in the workspace (`absent`).
 */
export type SubscriptionRemoval = 'removed' | 'replaced' | 'absent';

export interface DeliveryView {
  id: string;
  eventId: string;
  /** The event's type; null when the event is no longer in the outbox. */
  eventType: string | null;
  contactId: string | null;
  status: DeliveryStatus;
  attempts: number;
  lastError: string | null;
  lastStatusCode: number | null;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
  /** When the delivery last changed: for a dead letter, when it was given up. */
  updatedAt: string;
  /** When the dead letter was last sent again (a retry request); its retry window runs from then. */
  resentAt: string | null;
}

/** A page of deliveries, newest event first. */
export interface DeliveryPage {
  data: DeliveryView[];
  /** Pass it as `cursor` for the next page; null on the last one. */
  nextCursor: string | null;
}

/** The answer to a bulk retry of dead letters. */
export interface RetriedDeadLetters {
  /** How many dead letters went back to pending, oldest event first. */
  retried: number;
  /**
   * Whether dead letters that can be sent again are left (beyond one request's bound): ask again
   * to send the next ones. Replies to erased contacts, which are never sent again, do not count.
   */
  hasMore: boolean;
}

/**
 * Dead letters one bulk retry sends again, at most: all of them go back to pending in one
 * transaction, which holds up every other write of the store meanwhile.
 */
export const MAX_RETRIED_PER_REQUEST = 10_000;

export function toHookView(hook: HookRow): HookView {
  return { id: hook.id, targetUrl: hook.targetUrl, event: hook.event, filter: hook.filter, createdAt: hook.createdAt };
}

/** One hook, live or not: a hook deleted after its target answered 410 says so. */
export interface HookDetail extends HookView {
  deletedAt: string | null;
  /** `unsubscribed` (DELETE), `gone` (the target answered 410) or `key_revoked` (the API key that created it was revoked). */
  deletedReason: HookDeletedReason | null;
}

export function toDeliveryView(delivery: DeliveryRow, eventType: string | null): DeliveryView {
  return {
    id: delivery.id,
    eventId: delivery.eventId,
    eventType,
    contactId: delivery.contactId,
    status: delivery.status,
    attempts: delivery.attempts,
    lastError: delivery.lastError,
    lastStatusCode: delivery.lastStatusCode,
    // Only a pending delivery has a next attempt.
    nextAttemptAt: delivery.status === 'pending' ? delivery.nextAttemptAt : null,
    deliveredAt: delivery.deliveredAt,
    updatedAt: delivery.updatedAt,
    resentAt: delivery.resentAt,
  };
}

/**
 * Live hooks one workspace may have at once. Each hook is a delivery per matching event, and the
 * dispatcher shares its requests out by workspace (hook-dispatcher.ts), so a bound on hooks keeps
 * one workspace's fan-out, and the store rows it writes per event, in proportion; an
 * integration subscribes a few hooks, Zapier one per Zap trigger.
 */
export const DEFAULT_MAX_HOOKS_PER_WORKSPACE = 100;

export interface HookRegistryOptions {
  store: Store;
  clock: Clock;
  ids: IdGenerator;
  /**
   * Accept targets on private-use and loopback addresses (HOOK_TARGETS_ALLOW_PRIVATE); link-local
   * and other reserved addresses stay refused (target-guard.ts). Default false.
   */
  allowPrivateTargets?: boolean;
  /** Live hooks a workspace may have (default DEFAULT_MAX_HOOKS_PER_WORKSPACE); one more is CONFLICT. */
  maxHooksPerWorkspace?: number;
}

/**
 * Subscriptions (REST hooks) of one workspace: what the hooks routes and the Zapier app call.
 * Hook and delivery ids are ULIDs, which name the same thing in any letter case
 * (https://github.com/ulid/spec#encoding): each method reads them as canonicalUlid writes them,
 * as contact ids are read, so that a DELETE in lower case unsubscribes the hook a GET shows.
 */
export interface HookRegistry {
  /**
   * Subscribes a target URL. `apiKeyId`, the key making the request, is recorded with the hook so
   * that revoking the key deletes it; a key revoked by then is UNAUTHORIZED, so a request
   * authenticated just before the revocation committed cannot leave a live hook behind. A
   * workspace that has `maxHooksPerWorkspace` live hooks already is CONFLICT.
   *
   * Subscribing again what a live hook already subscribes (same target URL, event and filter)
   * answers that hook, secret included, and hands it to the calling key: a subscriber that renews
   * its subscription periodically (Zapier resubscribes after the `expiration_date` its subscribe
   * answered, https://docs.zapier.com/platform/build/cli-hook-trigger) keeps one hook, so no event
   * is delivered twice, and the hook moves to the key the subscriber holds now, so revoking the
   * key it had before no longer ends it.
   *
   * Every call issues a new subscription id, which becomes the hook's latest: unsubscribing the
   * subscription a renewal replaced leaves the hook live (`removeSubscription`).
   */
  create(workspaceId: string, input: HookInput, apiKeyId?: string): Promise<SubscribedHook>;
  /**
   * What `create` refuses in `input` beyond HookInputSchema, at once: a target URL on a host hooks
   * may not reach, and a filter.purpose the workspace does not know. `input` may be any body (a
   * value of the wrong type is the schema's to name): `create` adds these to the schema's issues,
   * and so does the HTTP API to a body its schema refuses, so that one answer names every bad field.
   */
  valueIssues(workspaceId: string, input: unknown): Promise<FieldIssue[]>;
  list(workspaceId: string): Promise<HookView[]>;
  /** A hook of the workspace, deleted ones included; NOT_FOUND when the workspace has no such hook. */
  get(workspaceId: string, hookId: string): Promise<HookDetail>;
  /** Idempotent: false when there was no live hook with that id in the workspace. */
  remove(workspaceId: string, hookId: string): Promise<boolean>;
  /**
   * Ends one subscription of a hook (`subscriptionId`, as `create` answered it, in any letter
   * case): deletes the hook as `remove` does when that is the hook's latest subscription, and
   * leaves it live otherwise (`replaced`). A subscriber that renews by subscribing again gets the
   * same hook under a new subscription id; Zapier may unsubscribe the subscription it renewed after
   * subscribing again (it documents only that it resubscribes after the expiration date,
   * https://docs.zapier.com/platform/build/hook-trigger), and that must not end the renewed one.
   * A hook with no subscription id recorded (subscribed before they were issued, never renewed since)
   * is kept too: the subscription named is not one it has, and a hook kept by mistake ends at its
   * target's 410, while one deleted by mistake leaves a subscriber deaf without a sign.
   */
  removeSubscription(workspaceId: string, hookId: string, subscriptionId: string): Promise<SubscriptionRemoval>;
  deliveries(workspaceId: string, hookId: string, query: DeliveryQuery): Promise<DeliveryPage>;
  /** The deliveries of the workspace's outbound webhook (the custom channel's replies), which has no hook row. */
  outboundDeliveries(workspaceId: string, query: DeliveryQuery): Promise<DeliveryPage>;
  /**
   * Sends a dead letter of a live hook again: pending, due now, with a fresh retry window measured
   * from now and no attempts counted yet; lastError stays until the next attempt. NOT_FOUND for a
   * delivery the hook does not have, CONFLICT for a deleted hook or a delivery that is not dead.
   */
  retryDelivery(workspaceId: string, hookId: string, deliveryId: string): Promise<DeliveryView>;
  /**
   * The same for a dead letter of the outbound webhook; CONFLICT while the workspace has no
   * outboundWebhookUrl, and for a reply whose contact was erased, which is never sent.
   */
  retryOutboundDelivery(workspaceId: string, deliveryId: string): Promise<DeliveryView>;
  /** Sends a live hook's dead letters again as `retryDelivery` does, oldest event first, at most MAX_RETRIED_PER_REQUEST. */
  retryDeadDeliveries(workspaceId: string, hookId: string): Promise<RetriedDeadLetters>;
  /** The same for the outbound webhook's; replies whose contact was erased stay as they are. */
  retryDeadOutboundDeliveries(workspaceId: string): Promise<RetriedDeadLetters>;
  /**
   * Gives a live hook a new secret, shown only in this answer; the old one keeps signing beside it
   * as the input says (24 hours by default). CONFLICT for a deleted hook.
   */
  rotateSecret(workspaceId: string, hookId: string, input?: SecretRotationInput): Promise<RotatedSecret>;
  /** The same for the outbound webhook; CONFLICT while the workspace has no outboundWebhookUrl. */
  rotateOutboundSecret(workspaceId: string, input?: SecretRotationInput): Promise<RotatedSecret>;
}

export interface DeliveryQuery {
  status?: DeliveryStatus;
  limit?: number;
  /** The `nextCursor` of the previous page: a delivery of the same hook. */
  cursor?: string;
}

const deliveryLimit = (query: DeliveryQuery): number => Math.min(Math.max(query.limit ?? 50, 1), 500);

/** What a hook's deliveries are, by the hook that holds them: the workspace's outbound webhook, or a hook. */
function deliveriesHolder(hookId: string): string {
  return hookId.startsWith(OUTBOUND_HOOK_PREFIX) ? 'outbound webhook' : 'hook';
}

function deliveryNotFound(hookId: string, deliveryId: string): ConsentryError {
  return refusedField('NOT_FOUND', 'deliveryId', `no delivery ${deliveryId} of this ${deliveriesHolder(hookId)}`);
}

/**
 * Why a delivery pending when its hook was deleted is never sent. It stays listed, dead, under the
 * hook; /metrics counts it among the unsubscribed deliveries, not the dead letters (delivery-metrics.ts).
 */
export function notSentToDeletedHook(reason: HookRow['deletedReason']): string {
  if (reason === 'gone') return 'not sent: the hook was deleted when its target answered 410 Gone';
  if (reason === 'key_revoked') return 'not sent: the hook was deleted when the API key that created it was revoked';
  return 'not sent: the hook was deleted (unsubscribed)';
}

/** A deleted hook has no target any more: its dead letters stay listed, but cannot be sent. */
function hookDeleted(hook: HookRow): ConsentryError {
  const why =
    hook.deletedReason === 'gone'
      ? 'its target answered 410 Gone'
      : hook.deletedReason === 'key_revoked'
        ? 'the API key that created it was revoked'
        : 'unsubscribed';
  return refusedField('CONFLICT', 'id', `hook ${hook.id} was deleted (${why}), so it has no target to send deliveries to: subscribe again for new events`);
}

/**
 * Deletes the live hooks the key created, in the caller's transaction (the one that revokes the
 * key), as DELETE would: their pending deliveries are not sent. A key can have subscribed any
 * URL, so once it is revoked nothing it chose may keep receiving events. Returns how many.
 */
export async function deleteHooksOfApiKey(tx: StoreTx, key: Pick<ApiKeyRow, 'id' | 'workspaceId'>, at: string): Promise<number> {
  const hooks = await tx.listLiveHooksOfApiKey(key.workspaceId, key.id);
  for (const hook of hooks) {
    await tx.updateHook({ ...hook, deletedAt: at, deletedReason: 'key_revoked' });
    await tx.abandonDeliveries(hook.id, notSentToDeletedHook('key_revoked'), at);
  }
  return hooks.length;
}

function tooManyHooks(limit: number): ConsentryError {
  return new ConsentryError(
    'CONFLICT',
    `The workspace has ${limit} live hooks, the most it may have: delete one it no longer needs (DELETE /v1/hooks/{id}) before subscribing another`,
  );
}

/** A hook of the workspace, deleted or not. */
async function requireHook(tx: StoreTx, workspaceId: string, hookId: string): Promise<HookRow> {
  const hook = await tx.getHook(workspaceId, hookId);
  if (!hook) throw refusedField('NOT_FOUND', 'id', `no hook ${hookId} in this workspace`);
  return hook;
}

/** Deliveries are sent again only where they can go: a live hook. */
function assertLive(hook: HookRow): void {
  if (hook.deletedAt !== null) throw hookDeleted(hook);
}

/** Deliveries are sent again, and secrets rotated, only where they can go: the workspace's outbound webhook URL, set. */
async function assertOutboundWebhookSet(tx: StoreTx, workspaceId: string): Promise<void> {
  if ((await tx.getWorkspace(workspaceId))?.settings.outboundWebhookUrl) return;
  throw refusedField('CONFLICT', 'settings.outboundWebhookUrl', 'is not set, so the workspace has no outbound webhook URL: set it with PATCH /v1/settings first');
}

async function eventTypeOf(tx: StoreTx, workspaceId: string, eventId: string): Promise<string | null> {
  return (await tx.getEvent(workspaceId, eventId))?.type ?? null;
}

async function listDeliveryViews(tx: StoreTx, workspaceId: string, hookId: string, query: DeliveryQuery): Promise<DeliveryPage> {
  let beforeEventId: string | undefined;
  if (query.cursor !== undefined) {
    // Only retention deletes deliveries, with their events, oldest first: a cursor it may have
    // deleted is the end of the list (every older delivery went with it); another one naming none
    // of this hook's deliveries is a mistake.
    const after = await tx.getDelivery(workspaceId, query.cursor);
    if (!after && (await mayHaveExpired(tx, query.cursor))) return { data: [], nextCursor: null };
    if (!after || after.hookId !== hookId) {
      throw unknownCursor('cursor', `delivery ${shownId(query.cursor)} of this ${deliveriesHolder(hookId)}`);
    }
    beforeEventId = after.eventId;
  }
  const limit = deliveryLimit(query);
  // One more than the page tells whether another page exists.
  const rows = await tx.listDeliveries(workspaceId, hookId, {
    ...(query.status ? { status: query.status } : {}),
    ...(beforeEventId !== undefined ? { beforeEventId } : {}),
    limit: limit + 1,
  });
  const page = pageOf(rows, limit, (row) => row.id);
  const types = new Map<string, string | null>();
  for (const row of page.items) {
    if (!types.has(row.eventId)) types.set(row.eventId, await eventTypeOf(tx, workspaceId, row.eventId));
  }
  return { data: page.items.map((row) => toDeliveryView(row, types.get(row.eventId) ?? null)), nextCursor: page.next };
}

async function requireDelivery(tx: StoreTx, workspaceId: string, hookId: string, deliveryId: string): Promise<DeliveryRow> {
  const delivery = await tx.getDelivery(workspaceId, deliveryId);
  if (!delivery || delivery.hookId !== hookId) throw deliveryNotFound(hookId, deliveryId);
  return delivery;
}

/**
 * A dead letter back to pending, due at `at`. Its attempts start again from 0, so the backoff
 * starts again from its first step, and its retry window from `at` (resentAt): the receiver was
 * fixed, and the event may be older than the window. The contact's order holds: the row keeps
 * its event position, so it goes before its contact's later events still pending on the hook,
 * which wait for it as for any earlier event.
 */
async function resendDeadLetter(tx: StoreTx, delivery: DeliveryRow, at: string): Promise<DeliveryView> {
  if (delivery.status !== 'dead') {
    throw refusedField('CONFLICT', 'deliveryId', `delivery ${delivery.id} is ${delivery.status}, not dead: only a dead letter can be sent again`);
  }
  const resent: DeliveryRow = { ...delivery, status: 'pending', attempts: 0, nextAttemptAt: at, resentAt: at, updatedAt: at };
  await tx.updateDelivery(resent);
  return toDeliveryView(resent, await eventTypeOf(tx, delivery.workspaceId, delivery.eventId));
}

async function resendDeadLetters(tx: StoreTx, workspaceId: string, hookId: string, at: string): Promise<RetriedDeadLetters> {
  const { resent, more } = await tx.resendDeadDeliveries(workspaceId, hookId, { at, limit: MAX_RETRIED_PER_REQUEST });
  return { retried: resent, hasMore: more };
}

/**
 * Whether the delivery is a reply to the outbound webhook whose contact was erased. A reply is a
 * message to the person (README, outbound webhook: a message to `to`), and erasure ends contact
 * with them (GDPR Art. 17): such a reply is never sent, nor sent again. Only `message.outbound`
 * events reach the outbound webhook, so every delivery to it is a reply. The dispatcher closes
 * such a reply when it comes due, and a retry of it is refused; the stores answer the same
 * question in their own terms where they pick deliveries (resendDeadDeliveries, deliveryBacklog).
 */
export async function isReplyToErasedContact(tx: StoreTx, delivery: DeliveryRow): Promise<boolean> {
  if (delivery.hookId !== outboundHookId(delivery.workspaceId) || delivery.contactId === null) return false;
  const contact = await tx.getContact(delivery.workspaceId, delivery.contactId);
  return contact !== undefined && contact.erasedAt !== null;
}

export function createHookRegistry(options: HookRegistryOptions): HookRegistry {
  const { store, clock, ids } = options;
  const targetPolicy = { allowPrivate: options.allowPrivateTargets ?? false };
  const maxHooks = Math.max(1, options.maxHooksPerWorkspace ?? DEFAULT_MAX_HOOKS_PER_WORKSPACE);
  async function valueIssues(workspaceId: string, input: unknown): Promise<FieldIssue[]> {
    const workspace = await store.read((tx) => tx.getWorkspace(workspaceId));
    return hookValueIssues(input, workspace?.settings ?? null, targetPolicy);
  }
  /**
   * Deletes the workspace's live hook `hookId`, when `subscriptionId` is undefined or the hook's
   * latest subscription; compared in the transaction that deletes, so a renewal committed first
   * keeps the hook.
   */
  async function unsubscribe(workspaceId: string, hookId: string, subscriptionId: string | undefined): Promise<SubscriptionRemoval> {
    const at = clock.now().toISOString();
    return store.transaction(async (tx) => {
      const hook = await tx.getHook(workspaceId, canonicalUlid(hookId));
      if (!hook || hook.deletedAt !== null) return 'absent';
      if (subscriptionId !== undefined && hook.subscriptionId !== subscriptionId) return 'replaced';
      await tx.updateHook({ ...hook, deletedAt: at, deletedReason: 'unsubscribed' });
      await tx.abandonDeliveries(hook.id, notSentToDeletedHook('unsubscribed'), at);
      return 'removed';
    });
  }
  return {
    async create(workspaceId, input, apiKeyId) {
      const parsed = HookInputSchema.safeParse(input, FIELD_PARSE);
      if (!parsed.success) throw invalidInput('hook', withUnnamedFields(zodIssuesToFieldIssues(parsed.error), await valueIssues(workspaceId, input)));
      const valid = parsed.data;
      const now = clock.now();
      const id = ids.next(now);
      const subscriptionId = ids.next(now);
      let hook: HookRow = {
        id,
        workspaceId,
        apiKeyId: apiKeyId ?? null,
        targetUrl: canonicalTargetUrl(valid.targetUrl),
        event: valid.event,
        filter: valid.filter ? canonicalFilter(valid.filter) : null,
        secret: newSigningSecret(),
        subscriptionId,
        createdAt: now.toISOString(),
        deletedAt: null,
        deletedReason: null,
      };
      const alreadySubscribed = await store.transaction(async (tx) => {
        const workspace = await tx.getWorkspace(workspaceId);
        if (!workspace) throw new ConsentryError('NOT_FOUND', `Workspace ${workspaceId} not found`);
        if (apiKeyId !== undefined) {
          const key = await tx.getApiKey(apiKeyId);
          if (!key || key.workspaceId !== workspaceId) throw new ConsentryError('UNAUTHORIZED', 'This API key is not valid');
          if (key.revokedAt !== null) throw new ConsentryError('UNAUTHORIZED', 'This API key was revoked');
        }
        const issues = hookValueIssues(valid, workspace.settings, targetPolicy);
        if (issues.length > 0) throw invalidInput('hook', issues);
        const live = await tx.listHooks(workspaceId);
        // Compared as the hook hears events, so another spelling of a live subscription, or a hook
        // stored before targets and filters were compared this way, is that subscription.
        const same = live.find(
          (existing) => existing.event === hook.event && canonicalTargetUrl(existing.targetUrl) === hook.targetUrl && sameFilter(hook.event, existing.filter, hook.filter),
        );
        if (same) {
          // The renewal becomes the hook's latest subscription, so that unsubscribing the one it replaced keeps the hook.
          hook = { ...same, apiKeyId: hook.apiKeyId ?? same.apiKeyId, subscriptionId };
          await tx.updateHook(hook);
          return true;
        }
        // Counted in the transaction that inserts, so two requests at once cannot both take the last place.
        if (live.length >= maxHooks) throw tooManyHooks(maxHooks);
        await tx.insertHook(hook);
        return false;
      });
      return { ...toHookView(hook), secret: hook.secret, alreadySubscribed, subscriptionId };
    },
    valueIssues,
    async list(workspaceId) {
      const hooks = await store.read((tx) => tx.listHooks(workspaceId));
      return hooks.map(toHookView);
    },
    async get(workspaceId, hookId) {
      const hook = await store.read((tx) => requireHook(tx, workspaceId, canonicalUlid(hookId)));
      return { ...toHookView(hook), deletedAt: hook.deletedAt, deletedReason: hook.deletedReason };
    },
    async remove(workspaceId, hookId) {
      return (await unsubscribe(workspaceId, hookId, undefined)) === 'removed';
    },
    async removeSubscription(workspaceId, hookId, subscriptionId) {
      return unsubscribe(workspaceId, hookId, canonicalUlid(subscriptionId));
    },
    async deliveries(workspaceId, hookId, query) {
      return store.read(async (tx) => {
        const hook = await requireHook(tx, workspaceId, canonicalUlid(hookId));
        return listDeliveryViews(tx, workspaceId, hook.id, query);
      });
    },
    async outboundDeliveries(workspaceId, query) {
      return store.read((tx) => listDeliveryViews(tx, workspaceId, outboundHookId(workspaceId), query));
    },
    async retryDelivery(workspaceId, hookId, deliveryId) {
      const at = clock.now().toISOString();
      return store.transaction(async (tx) => {
        const hook = await requireHook(tx, workspaceId, canonicalUlid(hookId));
        const delivery = await requireDelivery(tx, workspaceId, hook.id, canonicalUlid(deliveryId));
        assertLive(hook);
        return resendDeadLetter(tx, delivery, at);
      });
    },
    async retryOutboundDelivery(workspaceId, deliveryId) {
      const at = clock.now().toISOString();
      return store.transaction(async (tx) => {
        const delivery = await requireDelivery(tx, workspaceId, outboundHookId(workspaceId), canonicalUlid(deliveryId));
        await assertOutboundWebhookSet(tx, workspaceId);
        if (delivery.status === 'dead' && (await isReplyToErasedContact(tx, delivery))) {
          throw refusedField(
            'CONFLICT',
            'deliveryId',
            `delivery ${delivery.id} is a reply to contact ${delivery.contactId}, and the contact was erased: a reply to an erased contact is never sent`,
          );
        }
        return resendDeadLetter(tx, delivery, at);
      });
    },
    async retryDeadDeliveries(workspaceId, hookId) {
      const at = clock.now().toISOString();
      return store.transaction(async (tx) => {
        const hook = await requireHook(tx, workspaceId, canonicalUlid(hookId));
        assertLive(hook);
        return resendDeadLetters(tx, workspaceId, hook.id, at);
      });
    },
    async rotateSecret(workspaceId, hookId, input) {
      const { previousSecretValidSeconds } = parseInput(SecretRotationInputSchema, input ?? {}, 'secret rotation');
      const now = clock.now();
      return store.transaction(async (tx) => {
        const hook = await requireHook(tx, workspaceId, canonicalUlid(hookId));
        assertLive(hook);
        const secret = newSigningSecret();
        await tx.updateHook({ ...hook, secret });
        return { secret, previousSecretExpiresAt: await keepPreviousSecret(tx, hook.id, hook.secret, now, previousSecretValidSeconds) };
      });
    },
    async rotateOutboundSecret(workspaceId, input) {
      const { previousSecretValidSeconds } = parseInput(SecretRotationInputSchema, input ?? {}, 'secret rotation');
      const now = clock.now();
      return store.transaction(async (tx) => {
        await assertOutboundWebhookSet(tx, workspaceId);
        return rotateOutboundWebhookSecret(tx, workspaceId, now, previousSecretValidSeconds);
      });
    },
    async retryDeadOutboundDeliveries(workspaceId) {
      const at = clock.now().toISOString();
      return store.transaction(async (tx) => {
        await assertOutboundWebhookSet(tx, workspaceId);
        return resendDeadLetters(tx, workspaceId, outboundHookId(workspaceId), at);
      });
    },
  };
}

/** The custom channel's outbound webhook is a pseudo-hook per workspace. */
export { OUTBOUND_HOOK_PREFIX };
export const outboundHookId = (workspaceId: string): string => `${OUTBOUND_HOOK_PREFIX}${workspaceId}`;
/**
 * A new outbound-webhook secret for the workspace; the old one keeps signing beside it for
 * `previousSecretValidSeconds` (see signing-secrets.ts).
 */
export async function rotateOutboundWebhookSecret(tx: StoreTx, workspaceId: string, now: Date, previousSecretValidSeconds: number): Promise<RotatedSecret> {
  const { secret, retired } = await replaceOutboundWebhookSecret(tx, workspaceId);
  return { secret, previousSecretExpiresAt: await keepPreviousSecret(tx, outboundHookId(workspaceId), retired, now, previousSecretValidSeconds) };
}

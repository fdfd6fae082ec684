import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ConsentryError } from '../core/errors.js';
import { PUBLIC_EVENT_DATA_SCHEMAS, PUBLIC_EVENT_TYPES, PublicEventTypeSchema, type PublicEventType } from '../core/events.js';
import { WebhookTargetUrlSchema } from '../core/settings.js';
import { parseInput } from '../engine/inputs.js';
import type { Clock } from '../ports/clock.js';
import type { IdGenerator } from '../ports/ids.js';
import type { DeliveryRow, DeliveryStatus, HookRow, Store, StoreTx } from '../ports/store.js';
import { assertPublicTargetUrl } from './target-guard.js';

/** Bytes of randomness in a signing secret (the HMAC-SHA256 key size). */
const SECRET_BYTES = 32;
const MAX_FILTER_KEYS = 20;

export const HookEventSchema = z.union([PublicEventTypeSchema, z.literal('*')], {
  error: `must be a public event type (${PUBLIC_EVENT_TYPES.join(', ')}) or * for all of them`,
});

/** A filter value's schema, read through `nullable` (a filter compares text, so null never matches). */
function valueSchemaOf(schema: z.core.$ZodType): z.core.$ZodType {
  return schema instanceof z.ZodNullable ? valueSchemaOf(schema.unwrap()) : schema;
}

/**
 * The data fields a filter may name for `event`, with the values each can take: a field that
 * the event's data does not have, or a value it never holds (`"whatsap"`), would make a hook
 * that never fires, silently.
 */
function filterableFields(event: PublicEventType | '*'): Map<string, z.core.$ZodType> {
  const types = event === '*' ? PUBLIC_EVENT_TYPES : [event];
  const fields = new Map<string, z.core.$ZodType>();
  for (const type of types) {
    for (const [name, schema] of Object.entries(PUBLIC_EVENT_DATA_SCHEMAS[type].shape)) {
      const value = valueSchemaOf(schema);
      if (value instanceof z.ZodString || value instanceof z.ZodEnum || value instanceof z.ZodNumber || value instanceof z.ZodBoolean) {
        if (!fields.has(name)) fields.set(name, value);
      }
    }
  }
  return fields;
}

/** Why a filter value can never equal the field's value as text; null when it can. */
function impossibleValue(schema: z.core.$ZodType, value: string): string | null {
  if (schema instanceof z.ZodEnum) {
    const options = schema.options.map(String);
    return options.includes(value) ? null : `is never ${JSON.stringify(value)}: it is one of ${options.join(', ')}`;
  }
  if (schema instanceof z.ZodNumber) return /^-?\d+(\.\d+)?$/.test(value) ? null : 'is a number';
  if (schema instanceof z.ZodBoolean) return value === 'true' || value === 'false' ? null : 'is true or false';
  return null;
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
    for (const [key, value] of Object.entries(hook.filter)) {
      const schema = fields.get(key);
      const problem =
        schema === undefined
          ? `is not a field of ${hook.event === '*' ? 'any public event' : `${hook.event} events`}' data; filter on one of ${[...fields.keys()].join(', ')}`
          : impossibleValue(schema, value);
      if (problem !== null) context.addIssue({ code: 'custom', path: ['filter', key], message: problem });
    }
  });
export type HookInput = z.input<typeof HookInputSchema>;

export const DeliveryStatusSchema = z.enum(['pending', 'delivered', 'dead']);

/** A hook as listed: never its secret, which is shown once, when the hook is created. */
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
}

export function newSigningSecret(): string {
  return `whsec_${randomBytes(SECRET_BYTES).toString('base64url')}`;
}

export function toHookView(hook: HookRow): HookView {
  return { id: hook.id, targetUrl: hook.targetUrl, event: hook.event, filter: hook.filter, createdAt: hook.createdAt };
}

/** One hook, live or not: a hook deleted after its target answered 410 says so. */
export interface HookDetail extends HookView {
  deletedAt: string | null;
  /** `unsubscribed` (DELETE), or why the dispatcher deleted it (the target answered 410). */
  deletedReason: string | null;
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
  };
}

export interface HookRegistryOptions {
  store: Store;
  clock: Clock;
  ids: IdGenerator;
  /** Accept targets on private, loopback and link-local addresses (HOOK_TARGETS_ALLOW_PRIVATE). Default false. */
  allowPrivateTargets?: boolean;
}

/** Subscriptions (REST hooks) of one workspace: what the hooks routes and the Zapier app call. */
export interface HookRegistry {
  create(workspaceId: string, input: HookInput): Promise<CreatedHook>;
  list(workspaceId: string): Promise<HookView[]>;
  /** A hook of the workspace, deleted ones included; null when the workspace has no such hook. */
  get(workspaceId: string, hookId: string): Promise<HookDetail | null>;
  /** Idempotent: false when there was no live hook with that id in the workspace. */
  remove(workspaceId: string, hookId: string): Promise<boolean>;
  deliveries(workspaceId: string, hookId: string, query: DeliveryQuery): Promise<DeliveryView[]>;
  /** The deliveries of the workspace's outbound webhook (the custom channel's replies), which has no hook row. */
  outboundDeliveries(workspaceId: string, query: DeliveryQuery): Promise<DeliveryView[]>;
}

export interface DeliveryQuery {
  status?: DeliveryStatus;
  limit?: number;
}

const deliveryLimit = (query: DeliveryQuery): number => Math.min(Math.max(query.limit ?? 50, 1), 500);

async function listDeliveryViews(tx: StoreTx, workspaceId: string, hookId: string, query: DeliveryQuery): Promise<DeliveryView[]> {
  const rows = await tx.listDeliveries(workspaceId, hookId, { ...(query.status ? { status: query.status } : {}), limit: deliveryLimit(query) });
  const types = new Map<string, string | null>();
  for (const row of rows) {
    if (!types.has(row.eventId)) types.set(row.eventId, (await tx.getEvent(workspaceId, row.eventId))?.type ?? null);
  }
  return rows.map((row) => toDeliveryView(row, types.get(row.eventId) ?? null));
}

export function createHookRegistry(options: HookRegistryOptions): HookRegistry {
  const { store, clock, ids } = options;
  const allowPrivateTargets = options.allowPrivateTargets ?? false;
  return {
    async create(workspaceId, input) {
      const valid = parseInput(HookInputSchema, input, 'hook');
      if (!allowPrivateTargets) assertPublicTargetUrl(valid.targetUrl, 'targetUrl', 'hook');
      const now = clock.now();
      const hook: HookRow = {
        id: ids.next(now),
        workspaceId,
        targetUrl: valid.targetUrl,
        event: valid.event,
        filter: valid.filter ?? null,
        secret: newSigningSecret(),
        createdAt: now.toISOString(),
        deletedAt: null,
        deletedReason: null,
      };
      await store.transaction(async (tx) => {
        if (!(await tx.getWorkspace(workspaceId))) throw new ConsentryError('NOT_FOUND', `Workspace ${workspaceId} not found`);
        await tx.insertHook(hook);
      });
      return { ...toHookView(hook), secret: hook.secret };
    },
    async list(workspaceId) {
      const hooks = await store.transaction((tx) => tx.listHooks(workspaceId));
      return hooks.map(toHookView);
    },
    async get(workspaceId, hookId) {
      const hook = await store.transaction((tx) => tx.getHook(workspaceId, hookId));
      return hook ? { ...toHookView(hook), deletedAt: hook.deletedAt, deletedReason: hook.deletedReason } : null;
    },
    async remove(workspaceId, hookId) {
      const at = clock.now().toISOString();
      return store.transaction(async (tx) => {
        const hook = await tx.getHook(workspaceId, hookId);
        if (!hook || hook.deletedAt !== null) return false;
        await tx.updateHook({ ...hook, deletedAt: at, deletedReason: 'unsubscribed' });
        await tx.abandonDeliveries(hook.id, 'hook deleted', at);
        return true;
      });
    },
    async deliveries(workspaceId, hookId, query) {
      return store.transaction(async (tx) => {
        const hook = await tx.getHook(workspaceId, hookId);
        if (!hook) throw new ConsentryError('NOT_FOUND', `Hook ${hookId} not found`, [{ path: 'id', message: 'not found' }]);
        return listDeliveryViews(tx, workspaceId, hookId, query);
      });
    },
    async outboundDeliveries(workspaceId, query) {
      return store.transaction((tx) => listDeliveryViews(tx, workspaceId, outboundHookId(workspaceId), query));
    },
  };
}

/** The custom channel's outbound webhook is a pseudo-hook per workspace. */
export const OUTBOUND_HOOK_PREFIX = 'outbound:';
export const outboundHookId = (workspaceId: string): string => `${OUTBOUND_HOOK_PREFIX}${workspaceId}`;
const outboundSecretKey = (workspaceId: string): string => `outbound.webhook.secret.${workspaceId}`;

/** The workspace's outbound-webhook signing secret, created (and stored) on first use. */
export async function ensureOutboundWebhookSecret(tx: StoreTx, workspaceId: string): Promise<string> {
  const stored = z.string().min(1).safeParse(await tx.getMeta(outboundSecretKey(workspaceId)));
  return stored.success ? stored.data : storeNewOutboundSecret(tx, workspaceId);
}

async function storeNewOutboundSecret(tx: StoreTx, workspaceId: string): Promise<string> {
  const secret = newSigningSecret();
  await tx.setMeta(outboundSecretKey(workspaceId), secret);
  return secret;
}

/** For the settings route: the secret a custom channel uses to verify outbound webhook calls. */
export function getOutboundWebhookSecret(store: Store, workspaceId: string): Promise<string> {
  return store.transaction((tx) => ensureOutboundWebhookSecret(tx, workspaceId));
}

/** A new outbound webhook secret; deliveries signed from now on use it. */
export function rotateOutboundWebhookSecret(store: Store, workspaceId: string): Promise<string> {
  return store.transaction((tx) => storeNewOutboundSecret(tx, workspaceId));
}

import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ConsentryError } from '../core/errors.js';
import { PublicEventTypeSchema } from '../core/events.js';
import { parseInput } from '../engine/inputs.js';
import type { Clock } from '../ports/clock.js';
import type { IdGenerator } from '../ports/ids.js';
import type { DeliveryRow, DeliveryStatus, HookRow, Store, StoreTx } from '../ports/store.js';
import { assertPublicTargetUrl } from './target-guard.js';

/** Bytes of randomness in a signing secret (the HMAC-SHA256 key size). */
const SECRET_BYTES = 32;
const MAX_FILTER_KEYS = 20;

export const HookEventSchema = z.union([PublicEventTypeSchema, z.literal('*')]);

export const HookInputSchema = z
  .object({
    targetUrl: z.url({ protocol: /^https?$/, error: 'targetUrl must be an http(s) URL' }).max(2048),
    event: HookEventSchema,
    filter: z
      .record(z.string().min(1).max(100), z.string().max(500))
      .refine((filter) => Object.keys(filter).length <= MAX_FILTER_KEYS, `filter may have at most ${MAX_FILTER_KEYS} keys`)
      .nullish(),
  })
  .strict();
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
  eventId: string;
  status: DeliveryStatus;
  attempts: number;
  lastError: string | null;
  lastStatusCode: number | null;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
}

export function newSigningSecret(): string {
  return `whsec_${randomBytes(SECRET_BYTES).toString('base64url')}`;
}

export function toHookView(hook: HookRow): HookView {
  return { id: hook.id, targetUrl: hook.targetUrl, event: hook.event, filter: hook.filter, createdAt: hook.createdAt };
}

export function toDeliveryView(delivery: DeliveryRow): DeliveryView {
  return {
    eventId: delivery.eventId,
    status: delivery.status,
    attempts: delivery.attempts,
    lastError: delivery.lastError,
    lastStatusCode: delivery.lastStatusCode,
    // Only a pending delivery has a next attempt.
    nextAttemptAt: delivery.status === 'pending' ? delivery.nextAttemptAt : null,
    deliveredAt: delivery.deliveredAt,
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
  return rows.map(toDeliveryView);
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

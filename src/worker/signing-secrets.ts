import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Store, StoreTx } from '../ports/store.js';

/**
 * The secrets that sign deliveries: each hook's, and each workspace's outbound-webhook secret.
 *
 * A new secret replaces the old one at once, but the old one may keep signing beside it for a
 * while, so a receiver can be updated after the rotation without refusing deliveries meanwhile
 * (Stripe's "roll secret" works the same way: https://docs.stripe.com/webhooks#roll-endpoint-secrets).
 * During that overlap every delivery carries both signatures (`v1=<new>,v1=<old>`), which a
 * receiver that checks any of the comma-separated values accepts with either secret.
 */

/** Bytes of randomness in a signing secret (the HMAC-SHA256 key size). */
const SECRET_BYTES = 32;

/** How long the previous secret keeps signing after a rotation, unless the request says otherwise. */
export const DEFAULT_PREVIOUS_SECRET_SECONDS = 24 * 60 * 60;
/** The longest overlap a rotation may ask for: a secret that leaked should not live on for long. */
export const MAX_PREVIOUS_SECRET_SECONDS = 7 * 24 * 60 * 60;

export function newSigningSecret(): string {
  return `whsec_${randomBytes(SECRET_BYTES).toString('base64url')}`;
}

export const SecretRotationInputSchema = z
  .object({
    previousSecretValidSeconds: z
      .number()
      .int()
      .min(0)
      .max(MAX_PREVIOUS_SECRET_SECONDS)
      .default(DEFAULT_PREVIOUS_SECRET_SECONDS)
      .describe(
        `How long the old secret keeps signing deliveries beside the new one, in seconds (${DEFAULT_PREVIOUS_SECRET_SECONDS.toLocaleString('en')} by default, at most ${MAX_PREVIOUS_SECRET_SECONDS.toLocaleString('en')}); 0 retires it at once, as after a leak`,
      ),
  })
  .strict();
export type SecretRotationInput = z.input<typeof SecretRotationInputSchema>;

export interface RotatedSecret {
  /** The new secret; shown only in this answer. */
  secret: string;
  /** Until when the old secret also signs deliveries; null when it was retired at once. */
  previousSecretExpiresAt: string | null;
}

const PreviousSecretSchema = z.object({ secret: z.string().min(1), expiresAt: z.iso.datetime() });
type PreviousSecret = z.infer<typeof PreviousSecretSchema>;

/** The previous secret of a delivery target: a hook's id, or a workspace's outbound pseudo-hook id. */
const previousSecretKey = (targetId: string): string => `signing.previous-secret.${targetId}`;

async function previousSecret(tx: StoreTx, targetId: string): Promise<PreviousSecret | null> {
  const stored = PreviousSecretSchema.safeParse(await tx.getMeta(previousSecretKey(targetId)));
  return stored.success ? stored.data : null;
}

/**
 * Keeps `retired` signing beside the target's new secret for `validSeconds` from `now`; 0 drops
 * any previous secret, and a later rotation replaces it, so never more than the newest two
 * secrets sign. Answers until when the retired secret signs, or null.
 */
export async function keepPreviousSecret(tx: StoreTx, targetId: string, retired: string, now: Date, validSeconds: number): Promise<string | null> {
  if (validSeconds <= 0) {
    await tx.setMeta(previousSecretKey(targetId), null);
    return null;
  }
  const expiresAt = new Date(now.getTime() + validSeconds * 1000).toISOString();
  await tx.setMeta(previousSecretKey(targetId), { secret: retired, expiresAt } satisfies PreviousSecret);
  return expiresAt;
}

/** The secrets a delivery to the target is signed with now: its own, then the previous one while it lasts. */
export async function signingSecretsOf(tx: StoreTx, targetId: string, current: string, now: Date): Promise<string[]> {
  const previous = await previousSecret(tx, targetId);
  return previous !== null && Date.parse(previous.expiresAt) > now.getTime() && previous.secret !== current ? [current, previous.secret] : [current];
}

const outboundSecretKey = (workspaceId: string): string => `outbound.webhook.secret.${workspaceId}`;

async function storeNewOutboundSecret(tx: StoreTx, workspaceId: string): Promise<string> {
  const secret = newSigningSecret();
  await tx.setMeta(outboundSecretKey(workspaceId), secret);
  return secret;
}

/** The workspace's outbound-webhook signing secret as stored; null before its first use. */
export async function findOutboundWebhookSecret(tx: StoreTx, workspaceId: string): Promise<string | null> {
  const stored = z.string().min(1).safeParse(await tx.getMeta(outboundSecretKey(workspaceId)));
  return stored.success ? stored.data : null;
}

/**
 * The workspace's outbound-webhook signing secret, created (and stored) on first use; `created`
 * says whether this call made it, so the settings route shows it in full in that answer only.
 */
export async function provideOutboundWebhookSecret(tx: StoreTx, workspaceId: string): Promise<{ secret: string; created: boolean }> {
  const stored = await findOutboundWebhookSecret(tx, workspaceId);
  return stored !== null ? { secret: stored, created: false } : { secret: await storeNewOutboundSecret(tx, workspaceId), created: true };
}

/** The workspace's outbound-webhook signing secret, created (and stored) on first use. */
export async function ensureOutboundWebhookSecret(tx: StoreTx, workspaceId: string): Promise<string> {
  return (await provideOutboundWebhookSecret(tx, workspaceId)).secret;
}

/** For an embedding application: the secret a custom channel uses to verify outbound webhook calls. */
export function getOutboundWebhookSecret(store: Store, workspaceId: string): Promise<string> {
  return store.transaction((tx) => ensureOutboundWebhookSecret(tx, workspaceId));
}

/** Gives the workspace a new outbound-webhook secret; answers it and the one it replaces. */
export async function replaceOutboundWebhookSecret(tx: StoreTx, workspaceId: string): Promise<{ secret: string; retired: string }> {
  const retired = await ensureOutboundWebhookSecret(tx, workspaceId);
  return { secret: await storeNewOutboundSecret(tx, workspaceId), retired };
}

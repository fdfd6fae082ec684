import { z } from 'zod';
import type { Workspace } from '../../src/core/settings.js';
import { resolveHubSpotConfig, type HubSpotEnvironment } from './config.js';
import type { HubSpotState } from './state.js';
import { readSyncStatus } from './sync.js';

export const DeadLetterSchema = z.object({
  eventId: z.string(),
  target: z.enum(['contact', 'email', 'callback']),
  contactId: z.string().nullable(),
  attempts: z.number().int(),
  lastError: z.string().nullable(),
  occurredAt: z.string(),
  failedAt: z.string(),
});

/** GET /v1/integrations/hubspot/status. */
export const HubSpotStatusSchema = z.object({
  configured: z.boolean(),
  configuredBy: z.enum(['settings', 'environment']).nullable(),
  portalId: z.string().nullable(),
  syncEnabled: z.boolean(),
  backlog: z.object({ pending: z.number().int(), oldestPendingAt: z.string().nullable() }),
  lastSuccessAt: z.string().nullable(),
  lastFailureAt: z.string().nullable(),
  lastError: z.string().nullable(),
  pausedUntil: z.string().nullable(),
  heldReason: z.string().nullable(),
  deadLetters: z.object({ count: z.number().int(), recent: z.array(DeadLetterSchema) }),
});
export type HubSpotStatus = z.infer<typeof HubSpotStatusSchema>;

/** The sync as an operator sees it: what waits, what last worked, what failed for good. */
export async function hubSpotStatus(
  state: HubSpotState,
  workspace: Workspace,
  env: HubSpotEnvironment,
  isDefault: boolean,
  now: Date,
  recentDeadLetters = 20,
): Promise<HubSpotStatus> {
  const config = resolveHubSpotConfig(workspace, env, isDefault);
  return state.transaction(async (s, tx) => {
    const status = await readSyncStatus(tx, workspace.id);
    const oldest = await s.oldestPendingChange(workspace.id);
    const oldestPaused = await s.oldestPausedAt(workspace.id);
    // ISO-8601 instants in UTC compare as strings; a paused contact waits as a pending row does.
    const oldestPendingAt = [oldest?.createdAt, oldestPaused].filter((at): at is string => typeof at === 'string').sort()[0] ?? null;
    const dead = await s.listDeadChanges(workspace.id, recentDeadLetters);
    const pausedUntil = status.pausedUntil !== null && Date.parse(status.pausedUntil) > now.getTime() ? status.pausedUntil : null;
    return {
      configured: config !== null,
      configuredBy: config?.source ?? null,
      portalId: config?.portalId ?? null,
      syncEnabled: config?.syncEnabled ?? false,
      backlog: { pending: await s.countChanges(workspace.id, 'pending'), oldestPendingAt },
      lastSuccessAt: status.lastSuccessAt,
      lastFailureAt: status.lastFailureAt,
      lastError: status.lastError,
      pausedUntil,
      heldReason: status.heldReason,
      deadLetters: {
        count: await s.countChanges(workspace.id, 'dead'),
        recent: dead.map((row) => ({
          eventId: row.eventId,
          target: row.target,
          contactId: row.contactId,
          attempts: row.attempts,
          lastError: row.lastError,
          occurredAt: row.occurredAt,
          failedAt: row.updatedAt,
        })),
      },
    };
  });
}

import { z } from 'zod';
import { canonicalUlid } from '../../src/core/contact.js';
import { refusedField } from '../../src/core/errors.js';
import { requiredOr } from '../../src/core/required.js';
import type { Workspace } from '../../src/core/settings.js';
import { MAX_RETRIED_PER_REQUEST, type RetriedDeadLetters } from '../../src/worker/hooks.js';
import { resolveHubSpotConfig, type HubSpotEnvironment, type ResolvedHubSpotConfig } from './config.js';
import { credentialFingerprint } from './connections.js';
import { notePausedChanges } from './fan-out.js';
import { CHANGE_TARGETS, type ChangeKey, type ChangeTarget, type HubSpotState, type HubSpotStateTx, type SyncChange } from './state.js';
import { contactKey, erasedContacts, readSyncStatus, type SyncStatus } from './sync.js';

export const DeadLetterSchema = z.object({
  id: z.string().describe('Names the dead letter to send again: POST /v1/integrations/hubspot/dead-letters/{id}/retry'),
  eventId: z.string(),
  target: z.enum(['contact', 'email', 'callback']),
  contactId: z.string().nullable(),
  attempts: z.number().int(),
  lastError: z.string().nullable(),
  occurredAt: z.string(),
  failedAt: z.string(),
});
export type DeadLetter = z.infer<typeof DeadLetterSchema>;

/** POST /v1/integrations/hubspot/dead-letters/{id}/retry: the dead letter as it went back to pending. */
export const ResentDeadLetterSchema = DeadLetterSchema.extend({
  attempts: z.number().int().describe('0: the attempts start again'),
  failedAt: z.string().describe('When it was given up'),
  resentAt: z.string().describe('When it was sent again: this request'),
});
export type ResentDeadLetter = z.infer<typeof ResentDeadLetterSchema>;

const DEAD_LETTER_ID_FORM = 'the event id (a ULID, in any letter case), a colon, and the target: contact, email or callback';

/** The dead letter the path names, as the status lists it; a text that names none is 404 naming `id`, as an unknown id is. */
export const DeadLetterParamsSchema = z.object({
  id: z.string().min(1).max(200).describe(`A dead letter id, as GET /v1/integrations/hubspot/status lists it (deadLetters.recent[].id): ${DEAD_LETTER_ID_FORM}`),
});

/** A bulk retry names the status it sends again, so that the request says what it does (as a hook's does). */
export const RetryDeadLettersBodySchema = z
  .object({ status: z.literal('dead', { error: requiredOr('must be "dead": only dead letters can be sent again') }) })
  .strict();

export const RetriedDeadLettersSchema = z.object({
  retried: z.number().int().describe(`How many dead letters went back to pending, oldest event first (at most ${MAX_RETRIED_PER_REQUEST.toLocaleString('en')})`),
  hasMore: z.boolean().describe('Dead letters that can be sent again are left: send the same request again for the next ones'),
});

export const DEAD_LETTER_RETRY_DESCRIPTION =
  'The dead letter goes back to pending, its attempts starting again from 0, and the sync sends it on its next pass. A change of a contact sends the ' +
  "contact's current values of the properties it carried (for the email subscription, the contact's current e-mail marketing decision), each with the " +
  'time of its own decision, never the value it held when it failed: an outdated value is never written over a newer one. A workflow completion is ' +
  'sent as it was. While the sync is off or the HubSpot settings are removed, it waits with the changes noted meanwhile.';

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

/** A dead letter's id: its event and target, which key the row (one row per event and target). */
export function deadLetterId(change: Pick<SyncChange, 'eventId' | 'target'>): string {
  return `${change.eventId}:${change.target}`;
}

/** The event and target an id names (the event id, a ULID, in any letter case); null for a text no id has. */
function parseDeadLetterId(id: string): { eventId: string; target: ChangeTarget } | null {
  const at = id.lastIndexOf(':');
  const named = id.slice(at + 1).toLowerCase();
  const target = CHANGE_TARGETS.find((candidate) => candidate === named);
  return at <= 0 || target === undefined ? null : { eventId: canonicalUlid(id.slice(0, at)), target };
}

function deadLetterView(row: SyncChange): DeadLetter {
  return {
    id: deadLetterId(row),
    eventId: row.eventId,
    target: row.target,
    contactId: row.contactId,
    attempts: row.attempts,
    lastError: row.lastError,
    occurredAt: row.occurredAt,
    failedAt: row.updatedAt,
  };
}

/**
 * The hold's reason as the operator should see it: none once the credentials HubSpot refused were
 * replaced in the settings, before the sync has even tried the new ones (it does at its next pass).
 */
function currentHeldReason(status: SyncStatus, config: ResolvedHubSpotConfig | null): string | null {
  const hold = status.credentialHold;
  const replaced = hold !== null && config !== null && hold.credential !== credentialFingerprint(config);
  return replaced && status.heldReason !== null && hold.reasons.includes(status.heldReason) ? null : status.heldReason;
}

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
      heldReason: currentHeldReason(status, config),
      deadLetters: {
        count: await s.countChanges(workspace.id, 'dead'),
        recent: dead.map(deadLetterView),
      },
    };
  });
}

/** Dead letters read per step of a bulk retry. */
const DEAD_LETTER_PAGE = 1000;

/**
 * Dead letters back to pending, with their attempts starting again. A contact's row is not sent
 * with the value it held, which may be outdated by now (a later decision that failed too, or was
 * made while the sync was off): it is noted as a change made while the sync is paused is (which
 * values, and when), so the next pass sends the contact's current values of those properties, each
 * with the time of the decision it shows (fan-out.ts), and an older value is still never written
 * over a newer one; while the sync is off or the settings are removed, it waits with the other
 * paused changes. A workflow completion carries the workflow's outcome, which does not change: it
 * goes back to pending as it is.
 */
async function resend(state: HubSpotStateTx, rows: readonly SyncChange[], nowIso: string): Promise<void> {
  const completions = rows.filter((row) => row.target === 'callback');
  await state.updateChanges(completions.map((row) => ({ ...row, status: 'pending', attempts: 0, nextAttemptAt: nowIso, updatedAt: nowIso })));
  const changes = rows.filter((row) => row.target !== 'callback');
  await notePausedChanges(state, changes, nowIso);
  await state.deleteChanges(changes);
}

/**
 * POST /v1/integrations/hubspot/dead-letters/{id}/retry. An id the workspace has no row for is
 * 404, as another workspace's is; a row that is not dead, or one of an erased contact, is 409.
 */
export async function resendDeadLetter(state: HubSpotState, workspaceId: string, id: string, now: Date): Promise<ResentDeadLetter> {
  const nowIso = now.toISOString();
  return state.transaction(async (s, tx) => {
    const key = parseDeadLetterId(id);
    const row = key === null ? null : await s.findChange(workspaceId, key.eventId, key.target);
    if (row === null) throw refusedField('NOT_FOUND', 'id', `no dead letter ${id} in this workspace's HubSpot sync`);
    if (row.status !== 'dead') throw refusedField('CONFLICT', 'id', `change ${deadLetterId(row)} is ${row.status}, not dead: only a dead letter can be sent again`);
    if ((await erasedContacts(tx, [row])).size > 0) {
      throw refusedField('CONFLICT', 'id', `dead letter ${deadLetterId(row)} is a change of contact ${row.contactId}, and the contact was erased: its dead letters are not sent again`);
    }
    await resend(s, [row], nowIso);
    return { ...deadLetterView(row), attempts: 0, resentAt: nowIso };
  });
}

/**
 * POST /v1/integrations/hubspot/dead-letters/retry: every dead letter of the workspace as
 * resendDeadLetter sends one, oldest event first, at most MAX_RETRIED_PER_REQUEST, in one
 * transaction (the bound hook deliveries have, for the same reason). Those of erased contacts
 * stay dead and are not counted, in `retried` nor in `hasMore`: the erasure decided what of the
 * contact still goes to HubSpot (its pending opt-outs, erasure.ts), and a dead letter, kept only
 * so the operator sees what failed, is not part of it.
 */
export async function resendDeadLetters(state: HubSpotState, workspaceId: string, now: Date): Promise<RetriedDeadLetters> {
  const nowIso = now.toISOString();
  return state.transaction(async (s, tx) => {
    let retried = 0;
    let after: ChangeKey | null = null;
    for (;;) {
      const page = await s.listDeadChangesAfter(workspaceId, after, DEAD_LETTER_PAGE);
      const last = page.at(-1);
      if (last === undefined) return { retried, hasMore: false };
      const erased = await erasedContacts(tx, page);
      const sendable = page.filter((row) => row.contactId === null || !erased.has(contactKey(row.workspaceId, row.contactId)));
      const taken = sendable.slice(0, MAX_RETRIED_PER_REQUEST - retried);
      await resend(s, taken, nowIso);
      retried += taken.length;
      if (taken.length < sendable.length) return { retried, hasMore: true };
      after = { position: last.position, target: last.target };
    }
  });
}

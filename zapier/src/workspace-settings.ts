import type { Bundle, ZObject } from 'zapier-platform-core';
import { z as zod } from 'zod';
import { callApi } from './api.js';
import { BUILT_IN_PURPOSES } from './inputs.js';
import { fieldMessage } from './middleware.js';

/**
 * The part of `GET /v1/settings` the app reads: the workspace's own purposes, beside the built-in
 * ones, and its privacy policy link. A server that leaves the link out says nothing of it, and
 * nothing is judged from it then (`undefined`, unlike `null`: not set).
 */
const WorkspaceSettingsSchema = zod.object({
  purposes: zod.array(zod.string()).default([]),
  privacyPolicyUrl: zod.string().nullable().optional(),
  outboundWebhookUrl: zod.string().nullable().optional(),
});
export type WorkspaceSettings = zod.output<typeof WorkspaceSettingsSchema>;

/** The workspace's settings as the app reads them. `neverReplayed` for the dropdowns, which Zapier does not replay. */
export function workspaceSettings(z: ZObject, bundle: Bundle, neverReplayed = false): Promise<WorkspaceSettings> {
  return callApi(z, bundle, { path: '/v1/settings', schema: WorkspaceSettingsSchema, neverReplayed });
}

const isBuiltIn = (purpose: string) => (BUILT_IN_PURPOSES as readonly string[]).includes(purpose);

/**
 * Every purpose the workspace records consent for: the built-in ones (marketing first, the
 * dropdowns' default), then its own (the server's knownPurposes, core/settings.ts).
 */
export async function knownPurposes(z: ZObject, bundle: Bundle, neverReplayed = false): Promise<string[]> {
  const settings = await workspaceSettings(z, bundle, neverReplayed);
  return [...BUILT_IN_PURPOSES, ...settings.purposes.filter((purpose) => !isBuiltIn(purpose))];
}

/**
 * A step that leaves its messages to the outbound webhook, in a workspace that has none: nobody
 * would send them, though the server takes the request. Said before the step sends anything (or
 * creates a contact); a server whose settings do not say (no `outboundWebhookUrl` at all) is left be.
 */
export async function assertOutboundWebhookSet(z: ZObject, bundle: Bundle, read?: WorkspaceSettings): Promise<void> {
  const { outboundWebhookUrl } = read ?? (await workspaceSettings(z, bundle));
  if (outboundWebhookUrl !== null) return;
  const message =
    'is outbound_webhook, but the workspace has no outbound webhook (settings.outboundWebhookUrl), so nobody would send the messages: ' +
    'choose "A later step of this Zap" and send them there, or set the workspace\'s outbound webhook first';
  throw refusedAsServerWould(z, [{ path: 'repliesSentBy', message }]);
}

/** One field the server would refuse, as its `errors[]` names it. */
export interface FieldIssue {
  path: string;
  message: string;
}

/**
 * A refusal the server would make, said before a call it would come too late for (one that creates
 * a contact): its words as the app passes the server's on (problemWords, every field named), its
 * code and its status, so that a Zap's filter or a user reads the same error either way.
 */
export function refusedAsServerWould(z: ZObject, issues: readonly FieldIssue[], code = 'VALIDATION_FAILED', status = 422): Error {
  return new z.errors.Error(issues.map((issue) => fieldMessage(issue.path, issue.message)).join('; '), code, status);
}

/** The server's built-in purposes in the order its refusal lists them (core/consent.ts, BUILT_IN_PURPOSES). */
const SERVER_BUILT_IN_ORDER = ['privacy', 'marketing'];

/**
 * A purpose outside the workspace's, in the server's words (its assertKnownPurpose,
 * core/settings.ts): `unknown purpose "newsletter": this workspace knows privacy, marketing, loyalty
 * (add its own purposes to settings.purposes)`. Null for a known purpose; the settings are read
 * only for one that is not built in.
 */
export async function unknownPurposeIssue(z: ZObject, bundle: Bundle, purpose: string): Promise<FieldIssue | null> {
  if (isBuiltIn(purpose)) return null;
  const { purposes } = await workspaceSettings(z, bundle);
  const own = purposes.filter((known) => !isBuiltIn(known));
  if (own.includes(purpose)) return null;
  const known = [...SERVER_BUILT_IN_ORDER, ...own].join(', ');
  return { path: 'purpose', message: `unknown purpose "${purpose}": this workspace knows ${known} (add its own purposes to settings.purposes)` };
}

/**
 * A purpose outside the workspace's is a typo: the server refuses it for a known contact (422
 * VALIDATION_FAILED), and a step that answers for an unknown contact without asking the server, or
 * that would create the contact first, refuses it the same way.
 */
export async function assertKnownPurpose(z: ZObject, bundle: Bundle, purpose: string): Promise<void> {
  const issue = await unknownPurposeIssue(z, bundle, purpose);
  if (issue !== null) throw refusedAsServerWould(z, [issue]);
}

import { z } from 'zod';
import type { Contact } from '../core/contact.js';
import { ConsentryError } from '../core/errors.js';
import { SyncFailedDataSchema } from '../core/events.js';
import type { Workspace, WorkspaceSettings } from '../core/settings.js';
import type { StoredEvent, StoreTx } from '../ports/store.js';
import { parseInput } from './inputs.js';
import type { UnitOfWork } from './unit-of-work.js';

export type SyncFailure = z.infer<typeof SyncFailedDataSchema>;

const HubspotIdSchema = z.string().regex(/^\d{1,30}$/, 'a HubSpot record id is digits');
export const HubspotLinksSchema = z
  .array(z.object({ contactId: z.string().min(1), hubspotId: HubspotIdSchema.nullable() }).strict())
  .max(1000);
export type HubspotLink = z.infer<typeof HubspotLinksSchema>[number];

/**
 * Stores the HubSpot record id of contacts the connector matched or created (null unlinks one
 * HubSpot no longer knows). Bookkeeping, not a change of the person's data: no event, so the
 * connector does not hear its own link back. Erased and unknown contacts are skipped.
 */
export async function linkHubspotContacts(uow: UnitOfWork, links: readonly HubspotLink[]): Promise<number> {
  let changed = 0;
  for (const link of parseInput(HubspotLinksSchema, links, 'HubSpot links')) {
    const contact = await uow.findContact(link.contactId);
    if (!contact || contact.erasedAt !== null || contact.hubspotId === link.hubspotId) continue;
    await uow.saveContact({ ...contact, hubspotId: link.hubspotId });
    changed += 1;
  }
  return changed;
}

export async function findContactByHubspotId(uow: UnitOfWork, hubspotId: string): Promise<Contact | null> {
  const valid = parseInput(HubspotIdSchema, hubspotId, 'HubSpot id');
  return (await uow.tx.findContactByHubspotId(uow.workspaceId, valid)) ?? null;
}

/** A connector could not deliver a change (DESIGN §5 `sync.failed`); announced through the outbox like every event. */
export async function reportSyncFailure(uow: UnitOfWork, failure: SyncFailure): Promise<StoredEvent> {
  const data = parseInput(SyncFailedDataSchema, failure, 'sync failure');
  return uow.emit('sync.failed', data, data.contactId);
}

/**
 * Where the store keeps the portal the environment (HUBSPOT_PORTAL_ID) gives the default
 * workspace, written when the HubSpot routes start: settings changes cannot read the environment,
 * and must not claim that portal either.
 */
export const HUBSPOT_ENVIRONMENT_PORTAL_KEY = 'hubspot.environmentPortal';

const HubSpotPortalClaimSchema = z.object({ workspaceId: z.string().min(1), portalId: z.string().min(1) }).strict();
export type HubSpotPortalClaim = z.infer<typeof HubSpotPortalClaimSchema>;

/** The settings field a portal refusal names. */
export const HUBSPOT_PORTAL_FIELD = 'hubspot.portalId';

/** The environment's claim, while it still applies: its workspace is the default one and its own settings name no HubSpot account. */
async function environmentClaim(tx: StoreTx, workspaces: readonly Workspace[]): Promise<HubSpotPortalClaim | null> {
  const stored = HubSpotPortalClaimSchema.safeParse(await tx.getMeta(HUBSPOT_ENVIRONMENT_PORTAL_KEY));
  if (!stored.success) return null;
  const first = workspaces[0];
  return first !== undefined && first.id === stored.data.workspaceId && first.settings.hubspot === null ? stored.data : null;
}

/**
 * A HubSpot portal belongs to one workspace at a time: HubSpot's requests name only the portal, so
 * a second workspace naming it would take requests signed for the first. Refuses settings that
 * newly name a portal another workspace names (in its settings, or through the environment).
 * Runs in the transaction that writes the settings, so two claims at once cannot both succeed. A
 * workspace keeping the portal it has is not checked again: a database written before this rule
 * may hold two workspaces on one portal, and each must still be able to change its other settings.
 */
export async function assertHubSpotPortalFree(tx: StoreTx, workspaceId: string, before: WorkspaceSettings | null, after: WorkspaceSettings): Promise<void> {
  const portalId = after.hubspot?.portalId;
  if (portalId === undefined || portalId === before?.hubspot?.portalId) return;
  const workspaces = await tx.listWorkspaces();
  const named = workspaces.some((other) => other.id !== workspaceId && other.settings.hubspot?.portalId === portalId);
  const claim = await environmentClaim(tx, workspaces);
  if (named || (claim !== null && claim.workspaceId !== workspaceId && claim.portalId === portalId)) {
    const message = `HubSpot portal ${portalId} is connected to another workspace; a portal belongs to one workspace at a time`;
    throw new ConsentryError('CONFLICT', `${HUBSPOT_PORTAL_FIELD}: ${message}`, [{ path: HUBSPOT_PORTAL_FIELD, message }]);
  }
}

/**
 * The HubSpot account settings name: a token and the portal id beside it, and for an OAuth
 * install the app and refresh token that issue its tokens (a new refresh token can be another
 * portal's install, so it is checked as a new token is).
 */
export interface HubSpotAccount {
  accessToken: string;
  portalId: string;
  oauth?: { clientId: string; clientSecret: string; refreshToken: string } | null;
}

/**
 * What a settings change was checked against, for a caller that asks HubSpot whose a token is
 * before it writes (HubSpot answers outside the transaction, which must not wait for it).
 */
export interface HubSpotAccountGuard {
  /** The account the settings named when the caller read them; null when they named none. */
  read: HubSpotAccount | null;
  /** The account HubSpot confirmed the token belongs to; null when HubSpot was not asked. */
  confirmed: HubSpotAccount | null;
}

export function hubSpotAccountOf(settings: WorkspaceSettings): HubSpotAccount | null {
  const hubspot = settings.hubspot;
  if (hubspot === null) return null;
  const { clientId, clientSecret, refreshToken } = hubspot;
  const oauth = clientId !== null && clientSecret !== null && refreshToken !== null ? { clientId, clientSecret, refreshToken } : null;
  return { accessToken: hubspot.accessToken, portalId: hubspot.portalId, oauth };
}

export function sameHubSpotAccount(a: HubSpotAccount | null, b: HubSpotAccount | null): boolean {
  if (a === null || b === null) return a === b;
  const oauthA = a.oauth ?? null;
  const oauthB = b.oauth ?? null;
  const sameOAuth =
    oauthA === null || oauthB === null
      ? oauthA === oauthB
      : oauthA.clientId === oauthB.clientId && oauthA.clientSecret === oauthB.clientSecret && oauthA.refreshToken === oauthB.refreshToken;
  return a.accessToken === b.accessToken && a.portalId === b.portalId && sameOAuth;
}

function accountConflict(message: string): ConsentryError {
  return new ConsentryError('CONFLICT', `hubspot: ${message}`, [{ path: 'hubspot', message }]);
}

/**
 * The compare half of a compare-and-set, run in the settings transaction before the patch is
 * merged: a token or portal id stored since the caller read them (a rotation, a revoked token
 * replaced) would otherwise be overwritten by a change judged against what they were before.
 */
export function assertHubSpotAccountAsRead(guard: HubSpotAccountGuard, stored: WorkspaceSettings): void {
  if (!sameHubSpotAccount(hubSpotAccountOf(stored), guard.read)) {
    throw accountConflict('the access token or portal id changed while this change was checked with HubSpot; send the patch again');
  }
}

/** The set half: settings that name a new account store only the account HubSpot confirmed. */
export function assertHubSpotAccountConfirmed(guard: HubSpotAccountGuard, stored: WorkspaceSettings, merged: WorkspaceSettings): void {
  const after = hubSpotAccountOf(merged);
  if (after === null || sameHubSpotAccount(after, hubSpotAccountOf(stored)) || sameHubSpotAccount(after, guard.confirmed)) return;
  throw accountConflict('the access token and portal id this change stores are not the ones HubSpot confirmed; send the patch again');
}

/**
 * Records the environment's portal claim (null: the environment gives none), refusing one that
 * another workspace's settings name already: the operator is told which, and fixes one or the other.
 */
export async function recordEnvironmentPortalClaim(tx: StoreTx, claim: HubSpotPortalClaim | null): Promise<void> {
  if (claim !== null) {
    const holder = (await tx.listWorkspaces()).find((other) => other.id !== claim.workspaceId && other.settings.hubspot?.portalId === claim.portalId);
    if (holder !== undefined) {
      const message = `HUBSPOT_PORTAL_ID ${claim.portalId} is the HubSpot portal workspace ${holder.id} names in its settings; a portal belongs to one workspace at a time`;
      throw new ConsentryError('CONFLICT', `${HUBSPOT_PORTAL_FIELD}: ${message}`, [{ path: HUBSPOT_PORTAL_FIELD, message }]);
    }
  }
  const stored = HubSpotPortalClaimSchema.safeParse(await tx.getMeta(HUBSPOT_ENVIRONMENT_PORTAL_KEY));
  const current = stored.success ? stored.data : null;
  // Written only when it changes: every server start records it.
  if (current?.workspaceId !== claim?.workspaceId || current?.portalId !== claim?.portalId) await tx.setMeta(HUBSPOT_ENVIRONMENT_PORTAL_KEY, claim);
}

import { z } from 'zod';
import type { Contact } from '../core/contact.js';
import { SyncFailedDataSchema } from '../core/events.js';
import type { StoredEvent } from '../ports/store.js';
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

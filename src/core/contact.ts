import type { Channel } from './consent.js';

/** How a contact is known on one channel (a WhatsApp number, a web-chat visitor id ...). */
export interface ContactIdentity {
  channel: Channel;
  externalId: string;
}

export interface Contact {
  id: string;
  workspaceId: string;
  name: string | null;
  /** E-mail, lower-cased and validated. */
  email: string | null;
  /** Phone in E.164. */
  phone: string | null;
  identities: ContactIdentity[];
  /** Free-form contact fields (workflow answers, imported attributes). */
  fields: Record<string, string>;
  tags: string[];
  /** The HubSpot record id, once the connector has matched or created it. */
  hubspotId: string | null;
  createdAt: string;
  updatedAt: string;
  /** Set when personal data was erased; the contact stays as a tombstone so the ledger still verifies. */
  erasedAt: string | null;
}

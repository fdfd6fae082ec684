import type { Contact } from '../../src/core/contact.js';
import { tryNormalizeEmail, tryNormalizePhone } from '../../src/core/contact.js';
import type { WorkspaceEngine } from '../../src/engine.js';

/** The HubSpot properties a Consentry contact is found by: e-mail, then each phone property. */
export const LOOKUP_PROPERTIES = ['email', 'phone', 'mobilephone'] as const;
/** The look-up properties and the name of a contact made from the record. */
export const LOOKUP_OR_CREATE_PROPERTIES = [...LOOKUP_PROPERTIES, 'firstname', 'lastname'] as const;

/** A HubSpot record's properties as HubSpot sends them: absent, null or a string. */
export type RecordProperties = Readonly<Record<string, string | null | undefined>>;

function property(properties: RecordProperties, name: (typeof LOOKUP_OR_CREATE_PROPERTIES)[number]): string | null {
  const text = properties[name]?.trim() ?? '';
  return text === '' ? null : text;
}

/** The record's e-mail and phones as Consentry stores them; values that are not an address are left out. */
async function addressesOf(workspace: WorkspaceEngine, properties: RecordProperties): Promise<{ email: string | null; phones: string[] }> {
  const settings = (await workspace.get()).settings;
  const email = tryNormalizeEmail(property(properties, 'email') ?? '');
  // mobilephone first: it is the number a message reaches.
  const phones = [property(properties, 'mobilephone'), property(properties, 'phone')]
    .map((raw) => (raw === null ? null : tryNormalizePhone(raw, settings.defaultCountry)))
    .filter((phone): phone is string => phone !== null);
  return { email, phones: [...new Set(phones)] };
}

/** Whether the record carries an e-mail or phone a contact can be found or made by. */
export async function recordHasAddress(workspace: WorkspaceEngine, properties: RecordProperties): Promise<boolean> {
  const { email, phones } = await addressesOf(workspace, properties);
  return email !== null || phones.length > 0;
}

/**
 * The Consentry contact of a HubSpot record: the one linked to it, else the one with its e-mail,
 * else one with its mobile phone or phone whose e-mail is not another (an office number two
 * people share must not make one of them the other). A contact found by address is linked to the
 * record, so that the sync and the next look-up find it by id.
 */
export async function findContactOfRecord(workspace: WorkspaceEngine, hubspotId: string, properties: RecordProperties): Promise<Contact | null> {
  const linked = await workspace.findContactByHubspotId(hubspotId);
  if (linked !== null) return linked;
  const { email, phones } = await addressesOf(workspace, properties);
  const queries: { email?: string; phone?: string }[] = [...(email === null ? [] : [{ email }]), ...phones.map((phone) => ({ phone }))];
  for (const query of queries) {
    const found = (await workspace.findContacts({ ...query, limit: 1 })).contacts[0];
    if (found !== undefined && query.phone !== undefined && email !== null && found.email !== null && found.email !== email) continue;
    if (found !== undefined) {
      await workspace.linkHubspotContacts([{ contactId: found.id, hubspotId }]);
      return { ...found, hubspotId };
    }
  }
  return null;
}

/**
 * A Consentry contact made from the record (its name, e-mail and mobile phone or phone), linked to
 * it. A phone another contact has already (one people share) is left out: a phone is one
 * contact's, and the e-mail tells this person apart.
 */
export async function createContactOfRecord(workspace: WorkspaceEngine, hubspotId: string, properties: RecordProperties): Promise<Contact> {
  const { email, phones } = await addressesOf(workspace, properties);
  let phone: string | undefined;
  for (const candidate of phones) {
    if ((await workspace.findContacts({ phone: candidate, limit: 1 })).contacts.length > 0) continue;
    phone = candidate;
    break;
  }
  const name = [property(properties, 'firstname'), property(properties, 'lastname')].filter((part) => part !== null).join(' ');
  const created = await workspace.createContact({
    ...(name === '' ? {} : { name }),
    ...(email === null ? {} : { email }),
    ...(phone === undefined ? {} : { phone }),
  });
  await workspace.linkHubspotContacts([{ contactId: created.id, hubspotId }]);
  return { ...created, hubspotId };
}

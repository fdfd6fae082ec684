import type { Bundle, ZObject } from 'zapier-platform-core';
import {
  apiPath,
  callApi,
  callApiOrNull,
  ConsentListSchema,
  type ConsentStateJson,
  type ContactJson,
  ContactListSchema,
  ContactSchema,
} from './api.js';
import type { ContactSelector } from './inputs.js';
import { legalBasisLabel } from './inputs.js';

async function firstContactWhere(z: ZObject, bundle: Bundle, params: { email?: string; phone?: string }): Promise<ContactJson | null> {
  const list = await callApi(z, bundle, { path: '/v1/contacts', params: { ...params, limit: 1 }, schema: ContactListSchema });
  return list.data[0] ?? null;
}

/** How Consentry stores a tag and compares two: trimmed, inner spaces collapsed, NFC, letter case aside. */
export function tagKey(tag: string): string {
  return tag.normalize('NFC').trim().replace(/\s+/g, ' ').toLowerCase();
}

/** Statuses of `GET /v1/contacts/{id}` that mean the contact is not there (any more): not found, gone. */
const CONTACT_ABSENT = [404, 410];

/** The contact with this ID; `null` when Consentry has none (never had, or deleted). */
export function contactById(z: ZObject, bundle: Bundle, contactId: string): Promise<ContactJson | null> {
  return callApiOrNull(z, bundle, { path: apiPath('v1', 'contacts', contactId), schema: ContactSchema }, CONTACT_ABSENT);
}

/** The contact an ID, an email or a phone names; `null` when Consentry has none. */
export async function findContact(z: ZObject, bundle: Bundle, selector: ContactSelector): Promise<ContactJson | null> {
  if (selector.contactId !== undefined) return contactById(z, bundle, selector.contactId);
  if (selector.email !== undefined) {
    const byEmail = await firstContactWhere(z, bundle, { email: selector.email });
    if (byEmail) return byEmail;
  }
  if (selector.phone !== undefined) return firstContactWhere(z, bundle, { phone: selector.phone });
  return null;
}

export function createContact(
  z: ZObject,
  bundle: Bundle,
  input: { name?: string; email?: string; phone?: string; tags?: string[] },
): Promise<ContactJson> {
  const body: Record<string, unknown> = {};
  if (input.name !== undefined) body.name = input.name;
  if (input.email !== undefined) body.email = input.email;
  if (input.phone !== undefined) body.phone = input.phone;
  if (input.tags !== undefined && input.tags.length > 0) body.tags = input.tags;
  return callApi(z, bundle, { method: 'POST', path: '/v1/contacts', body, schema: ContactSchema });
}

/**
 * The contact a step acts on. By email or phone it is created when missing (a lead that arrives
 * from a form is new to Consentry); an ID that does not exist is an error, never a new contact.
 */
export async function resolveContact(
  z: ZObject,
  bundle: Bundle,
  selector: ContactSelector,
  options: { createIfMissing: boolean },
): Promise<ContactJson> {
  if (selector.contactId !== undefined) {
    return callApi(z, bundle, { path: apiPath('v1', 'contacts', selector.contactId), schema: ContactSchema });
  }
  const found = await findContact(z, bundle, selector);
  if (found) return found;
  if (!options.createIfMissing) {
    const named = selector.email ?? selector.phone ?? '';
    throw new z.errors.Error(`Not found: no Consentry contact has ${named}`, 'NOT_FOUND', 404);
  }
  return createContact(z, bundle, selector);
}

/** A contact as a Zapier item: flat fields, plus the tags as one comma list for text-only steps. */
export function contactItem(contact: ContactJson) {
  return {
    id: contact.id,
    name: contact.name,
    email: contact.email,
    phone: contact.phone,
    tags: contact.tags,
    tagList: contact.tags.join(', '),
    fields: contact.fields,
    createdAt: contact.createdAt,
    updatedAt: contact.updatedAt,
  };
}

/** A consent row as an item: `status` as recorded, `effectiveStatus` the one in force on its channel. */
export function consentItem(state: ConsentStateJson) {
  return { ...state, legalBasisLabel: legalBasisLabel(state.legalBasis) };
}

/**
 * A contact with its current consents; `consentStatus.marketing_whatsapp` style keys let a later
 * step (a filter, a path) read one status without looping over the list. Each key holds the status
 * in force on that channel (the server's `effectiveStatus`): a Zap that checks
 * `marketing_whatsapp` before messaging must read `opted_out` after a STOP ALL, even though the
 * WhatsApp row itself still records the earlier opt-in.
 */
export function contactWithConsentsItem(contact: ContactJson, consents: readonly ConsentStateJson[]) {
  const consentStatus: Record<string, string> = {};
  for (const state of consents) consentStatus[`${state.purpose}_${state.channel}`] = state.effectiveStatus;
  return { ...contactItem(contact), consents: consents.map(consentItem), consentStatus };
}

/** The contact's current consents, or `null` when the contact is gone (erased or deleted meanwhile). */
export async function consentsOf(z: ZObject, bundle: Bundle, contactId: string): Promise<ConsentStateJson[] | null> {
  const list = await callApiOrNull(z, bundle, { path: apiPath('v1', 'contacts', contactId, 'consents'), schema: ConsentListSchema });
  return list ? list.data : null;
}

export const CONTACT_OUTPUT_FIELDS = [
  { key: 'id', label: 'Contact ID' },
  { key: 'name', label: 'Name' },
  { key: 'email', label: 'Email' },
  { key: 'phone', label: 'Phone' },
  { key: 'tagList', label: 'Tags (comma separated)' },
  { key: 'createdAt', label: 'Created At', type: 'datetime' as const },
  { key: 'updatedAt', label: 'Updated At', type: 'datetime' as const },
];

export const CONTACT_SAMPLE = {
  id: '01JQ7ZK4C2V9N8M3T5R6W1XYZA',
  name: 'Ana Test',
  email: 'ana.test@example.com',
  phone: '+34600000001',
  tags: ['VIP'],
  tagList: 'VIP',
  fields: {},
  createdAt: '2026-03-01T09:00:00.000Z',
  updatedAt: '2026-03-01T09:05:00.000Z',
};

import { z } from 'zod';
import { erasedAddressDigests, normalizeEmail, normalizePhone } from '../core/contact.js';
import { assertContactValues } from './contacts.js';
import type { UnitOfWork } from './unit-of-work.js';

export const ErasedAddressesInputSchema = z
  .object({
    email: z.string().trim().min(1).max(254).optional(),
    phone: z.string().trim().min(1).max(40).optional(),
  })
  .strict()
  .refine((input) => input.email !== undefined || input.phone !== undefined, { message: 'name an email or a phone (or both)' });
export type ErasedAddressesInput = z.input<typeof ErasedAddressesInputSchema>;

/** An address as contacts store it (normalised), and whether a digest of it was kept and is now removed. */
export interface ForgottenAddress {
  address: string;
  removed: boolean;
}

export interface ForgottenAddresses {
  email?: ForgottenAddress;
  phone?: ForgottenAddress;
}

/**
 * Removes the digests erasure kept of an address (erasedAddressDigests, src/core/contact.ts), so
 * that a bulk row bringing it back with an opt-in is recorded without `allowErased`: the person
 * asked to be on the list again, or asked that not even the digest be kept (GDPR Art. 17 reaches
 * it too once nothing needs it). A contact held for that address is no longer refused for it, as
 * the hold is checked against the digests kept. Both addresses are read first: an invalid one
 * removes nothing.
 */
export async function forgetErasedAddresses(uow: UnitOfWork, input: z.output<typeof ErasedAddressesInputSchema>): Promise<ForgottenAddresses> {
  const { defaultCountry } = uow.workspace.settings;
  assertContactValues(input, uow.workspace.settings);
  const addresses = {
    ...(input.email === undefined ? {} : { email: normalizeEmail(input.email) }),
    ...(input.phone === undefined ? {} : { phone: normalizePhone(input.phone, defaultCountry) }),
  };
  const forgotten: ForgottenAddresses = {};
  for (const [field, address] of Object.entries(addresses) as ['email' | 'phone', string][]) {
    const removed = await uow.tx.removeErasedAddresses(uow.workspaceId, erasedAddressDigests(uow.workspaceId, { [field]: address }));
    forgotten[field] = { address, removed: removed.length > 0 };
  }
  return forgotten;
}

import type { z } from 'zod';
import { fieldKey, type Contact } from '../core/contact.js';
import { ConsentryError, describeIssues, issuesOfRefusal, refusalOf, type FieldIssue } from '../core/errors.js';
import { assertContactValues } from './contacts.js';
import { CONTACT_FIELDS_MAX, tooManyFieldsMessage, type ContactPatchSchema } from './inputs.js';
import type { UnitOfWork } from './unit-of-work.js';

type FieldsPatch = z.output<typeof ContactPatchSchema>['fields'];

/**
 * How many fields the contact holds once `change` is applied as updateContact applies it: each
 * name under its key (fieldKey, as setField stores it), `null` removing it, and `fields: null`
 * removing every one (RFC 7396 §2). A name fieldKey refuses changes nothing: it is refused by name.
 */
export function fieldCountAfter(fields: Contact['fields'], change: FieldsPatch): number {
  if (change === null) return 0;
  const keys = new Set(Object.keys(fields));
  for (const [name, value] of Object.entries(change ?? {})) {
    refusalOf(() => (value === null ? keys.delete(fieldKey(name)) : keys.add(fieldKey(name))));
  }
  return keys.size;
}

/**
 * Refuses a patch that leaves the contact with more than CONTACT_FIELDS_MAX fields, and more than
 * it has: a contact that holds more from before the cap keeps them, and can still be changed, as
 * long as the change leaves it no more fields than it has. Run in the patch's own transaction, with the contact as it is there, so that
 * two patches adding fields at once cannot both pass. The refusal names the patch's other bad
 * values too (assertContactValues), under the code of the first of them.
 */
export async function assertFieldsHeld(uow: UnitOfWork, id: string, patch: z.output<typeof ContactPatchSchema>): Promise<void> {
  if (patch.fields === undefined || patch.fields === null) return;
  const contact = await uow.requireLiveContact(id);
  const count = fieldCountAfter(contact.fields, patch.fields);
  if (count <= CONTACT_FIELDS_MAX || count <= Object.keys(contact.fields).length) return;
  const values = refusalOf(() => assertContactValues(patch, uow.workspace.settings));
  const issues: FieldIssue[] = [...(values === null ? [] : issuesOfRefusal(values)), { path: 'fields', message: tooManyFieldsMessage(count, { patch: true }) }];
  throw new ConsentryError(values?.code ?? 'VALIDATION_FAILED', describeIssues(issues), issues);
}

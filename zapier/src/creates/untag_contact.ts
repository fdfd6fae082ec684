import type { Bundle, Create, ZObject } from 'zapier-platform-core';
import { apiPath, callApi, ContactSchema } from '../api.js';
import { CONTACT_OUTPUT_FIELDS, CONTACT_SAMPLE, contactItem, resolveContact, WARNINGS_OUTPUT_FIELD, warningsText } from '../contacts.js';
import { contactFields, ContactTagInputSchema, parseInputData } from '../inputs.js';
import { timedStep } from '../step-deadline.js';

const perform = async (z: ZObject, bundle: Bundle) => {
  const input = parseInputData(z, ContactTagInputSchema, bundle.inputData);
  // Removing a tag from someone Consentry does not know is a mistake to report, not a contact to create.
  const { contact, warnings } = await resolveContact(z, bundle, input, { createIfMissing: false });
  const untagged = await callApi(z, bundle, {
    method: 'DELETE',
    path: apiPath('v1', 'contacts', contact.id, 'tags', input.tag),
    schema: ContactSchema,
  });
  return { ...contactItem(untagged), warnings: warningsText(warnings) };
};

const create: Create = {
  key: 'untag_contact',
  noun: 'Tag',
  display: {
    label: 'Remove Tag from Contact',
    description: 'Removes a tag from an existing contact.',
  },
  operation: {
    inputFields: [
      {
        key: 'tag',
        label: 'Tag',
        required: true,
        dynamic: 'tag_list.id.name',
        helpText: 'The tag to remove, e.g. Consent: Privacy. Letter case and spaces around it do not matter.',
      },
      ...contactFields('to untag'),
    ],
    perform: timedStep('Remove Tag from Contact', perform),
    outputFields: [...CONTACT_OUTPUT_FIELDS, WARNINGS_OUTPUT_FIELD],
    sample: { ...CONTACT_SAMPLE, tags: [], tagList: '', warnings: '' },
  },
};

export default create;

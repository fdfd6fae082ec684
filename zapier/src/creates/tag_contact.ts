import type { Bundle, Create, ZObject } from 'zapier-platform-core';
import { apiPath, callApi, ContactSchema } from '../api.js';
import { CONTACT_OUTPUT_FIELDS, CONTACT_SAMPLE, contactItem, resolveContact, WARNINGS_OUTPUT_FIELD, warningsText } from '../contacts.js';
import { contactFields, contactNameField, ContactTagInputSchema, parseInputData } from '../inputs.js';
import { timedStep } from '../step-deadline.js';

const perform = async (z: ZObject, bundle: Bundle) => {
  const input = parseInputData(z, ContactTagInputSchema, bundle.inputData);
  const { contact, warnings } = await resolveContact(z, bundle, input, { createIfMissing: true });
  const tagged = await callApi(z, bundle, {
    method: 'POST',
    path: apiPath('v1', 'contacts', contact.id, 'tags'),
    body: { tag: input.tag },
    schema: ContactSchema,
  });
  return { ...contactItem(tagged), warnings: warningsText(warnings) };
};

const create: Create = {
  key: 'tag_contact',
  noun: 'Tag',
  display: {
    label: 'Tag Contact',
    description: 'Adds a tag to a contact (creating the contact when it is new). Tags can start Consentry workflows.',
  },
  operation: {
    inputFields: [
      { key: 'tag', label: 'Tag', required: true, dynamic: 'tag_list.id.name', helpText: 'An existing tag, or type a new one.' },
      ...contactFields('to tag'),
      contactNameField,
    ],
    perform: timedStep('Tag Contact', perform),
    outputFields: [...CONTACT_OUTPUT_FIELDS, WARNINGS_OUTPUT_FIELD],
    sample: { ...CONTACT_SAMPLE, warnings: '' },
  },
};

export default create;

import type { Bundle, Create, ZObject } from 'zapier-platform-core';
import { apiPath, callApi, ContactSchema, refusalOf } from '../api.js';
import { CONTACT_OUTPUT_FIELDS, CONTACT_SAMPLE, contactItem, resolveContact, tagKey, WARNINGS_OUTPUT_FIELD, warningsText } from '../contacts.js';
import { contactFields, contactNameField, ContactTagInputSchema, parseInputData } from '../inputs.js';
import { timedStep } from '../step-deadline.js';

/** The tag Consentry adds when a contact's privacy consent is recorded, and refuses from outside without it (TAG_NEEDS_CONSENT). */
const PRIVACY_TAG = 'Consent: Privacy';

const perform = async (z: ZObject, bundle: Bundle) => {
  const input = parseInputData(z, ContactTagInputSchema, bundle.inputData);
  const privacyTag = tagKey(input.tag) === tagKey(PRIVACY_TAG);
  // A new contact has no privacy decision, so the server would refuse the tag: making the contact
  // first would leave it behind, untagged, for a step that failed.
  const { contact, warnings } = await resolveContact(z, bundle, input, { createIfMissing: !privacyTag }).catch((error: unknown) => {
    // Only for addresses: a contact ID no contact has stays the server's 404.
    if (privacyTag && input.contactId === undefined && refusalOf(error)?.code === 'NOT_FOUND') {
      throw new z.errors.Error(
        `Tag "${input.tag}" is ${PRIVACY_TAG}, which Consentry adds when the contact's privacy consent is recorded, and no Consentry contact has ` +
          'these details yet, so none is recorded: use Record Consent with purpose privacy instead, which creates the contact and adds the tag',
        'TAG_NEEDS_CONSENT',
        422,
      );
    }
    throw error;
  });
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

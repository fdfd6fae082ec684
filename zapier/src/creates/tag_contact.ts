import type { Bundle, Create, ZObject } from 'zapier-platform-core';
import { apiPath, callApi, ContactSchema, refusalOf } from '../api.js';
import { CONTACT_OUTPUT_FIELDS, CONTACT_SAMPLE, contactItem, resolveContact, WARNINGS_OUTPUT_FIELD, warningsText } from '../contacts.js';
import { contactFields, contactNameField, ContactNewTagInputSchema, parseInputData } from '../inputs.js';
import { timedStep } from '../step-deadline.js';
import { isPrivacyTag, privacyTagNeedsConsent } from '../tags.js';

const perform = async (z: ZObject, bundle: Bundle) => {
  const input = parseInputData(z, ContactNewTagInputSchema, bundle.inputData);
  const privacyTag = isPrivacyTag(input.tag);
  // A new contact has no privacy decision, so the server would refuse the tag: making the contact
  // first would leave it behind, untagged, for a step that failed.
  const { contact, warnings } = await resolveContact(z, bundle, input, { createIfMissing: !privacyTag }).catch((error: unknown) => {
    // Only for addresses: a contact ID no contact has stays the server's 404.
    if (privacyTag && input.contactId === undefined && refusalOf(error)?.code === 'NOT_FOUND') {
      throw privacyTagNeedsConsent(z, input.tag, 'no Consentry contact has these details yet, so none is recorded');
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
      {
        key: 'tag',
        label: 'Tag',
        required: true,
        dynamic: 'addable_tag_list.id.name',
        helpText:
          'An existing tag, or type a new one. Consent: Privacy is not offered: Consentry adds it when the contact’s privacy consent is recorded, ' +
          'and refuses it for a contact without a privacy opt-in (use Record Consent with purpose privacy, which adds it).',
      },
      ...contactFields('to tag'),
      contactNameField,
    ],
    perform: timedStep('Tag Contact', perform),
    outputFields: [...CONTACT_OUTPUT_FIELDS, WARNINGS_OUTPUT_FIELD],
    sample: { ...CONTACT_SAMPLE, warnings: '' },
  },
};

export default create;

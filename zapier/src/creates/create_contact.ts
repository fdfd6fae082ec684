import type { Bundle, Create, ZObject } from 'zapier-platform-core';
import { z as zod } from 'zod';
import { CONTACT_OUTPUT_FIELDS, CONTACT_SAMPLE, consentsOf, contactWithConsentsItem, createContact } from '../contacts.js';
import { EVEN_WITH_FIELD_ERRORS, optionalText, parseInputData, requireEmailOrPhone, tagList } from '../inputs.js';
import { timedStep } from '../step-deadline.js';
import { isPrivacyTag, privacyTagNeedsConsent } from '../tags.js';

const InputSchema = zod
  .object({
    name: optionalText(200),
    email: optionalText(254),
    phone: optionalText(40),
    tags: tagList(100),
  })
  .superRefine(requireEmailOrPhone, EVEN_WITH_FIELD_ERRORS);

/**
 * Also the create half of "Find or Create Contact", so it answers in the search's shape: a new
 * contact has no consent recorded yet. A replay after an unclear outcome finds the contact its
 * first attempt created (createContact), and answers it the same way, with the consents it has.
 */
const perform = async (z: ZObject, bundle: Bundle) => {
  const input = parseInputData(z, InputSchema, bundle.inputData);
  // The server refuses Consent: Privacy for every contact it creates (422 TAG_NEEDS_CONSENT naming
  // `tags.N`): said before the call, with the step that records the decision and adds the tag.
  const privacyTag = input.tags.find(isPrivacyTag);
  if (privacyTag !== undefined) throw privacyTagNeedsConsent(z, privacyTag, 'a new contact has none recorded yet, so Consentry refuses it in Tags');
  const { contact, created } = await createContact(z, bundle, input);
  const consents = created ? [] : ((await consentsOf(z, bundle, contact.id)) ?? []);
  return contactWithConsentsItem(contact, consents);
};

const create: Create = {
  key: 'create_contact',
  noun: 'Contact',
  display: {
    label: 'Create Contact',
    description: 'Creates a contact in Consentry. Emails and phone numbers are checked and normalised by the server.',
  },
  operation: {
    inputFields: [
      { key: 'name', label: 'Name', required: false, helpText: 'The contact’s name, e.g. Ana Test.' },
      { key: 'email', label: 'Email', required: false, helpText: 'Give an email, a phone number, or both.' },
      { key: 'phone', label: 'Phone', required: false, helpText: 'In international format, e.g. +34 600 000 001.' },
      {
        key: 'tags',
        label: 'Tags',
        required: false,
        list: true,
        dynamic: 'addable_tag_list.id.name',
        helpText:
          'Tags to give the contact, e.g. Lead: pick the workspace’s tags or type new ones. A tag can start a Consentry workflow. ' +
          'Not Consent: Privacy, which Consentry adds when the contact’s privacy consent is recorded and refuses for a new contact: ' +
          'use Record Consent with purpose privacy, which adds it.',
      },
    ],
    perform: timedStep('Create Contact', perform),
    outputFields: [...CONTACT_OUTPUT_FIELDS, { key: 'consents', label: 'Consents' }],
    sample: { ...CONTACT_SAMPLE, consents: [], consentStatus: {} },
  },
};

export default create;

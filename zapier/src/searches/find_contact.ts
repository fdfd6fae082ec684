import type { Bundle, Search, ZObject } from 'zapier-platform-core';
import { z as zod } from 'zod';
import {
  CONSENT_STATUS_OUTPUT_FIELDS,
  CONTACT_OUTPUT_FIELDS,
  CONTACT_SAMPLE,
  consentStatusByChannel,
  consentsOf,
  contactWithConsentsItem,
  findContact,
} from '../contacts.js';
import { EVEN_WITH_FIELD_ERRORS, optionalText, parseInputData, requireContact } from '../inputs.js';
import { timedStep } from '../step-deadline.js';

const InputSchema = zod
  .object({ email: optionalText(254), phone: optionalText(40), contactId: optionalText(200) })
  .superRefine(requireContact, EVEN_WITH_FIELD_ERRORS);

/** A contact who opted in on WhatsApp and agreed to the privacy policy there. */
const SAMPLE_CONSENTS = [
  {
    purpose: 'marketing',
    channel: 'whatsapp',
    status: 'opted_in',
    effectiveStatus: 'opted_in' as const,
    overriddenBy: null,
    legalBasis: 'CONSENT_WITH_NOTICE',
    legalBasisLabel: 'Freely given consent from contact',
    explanation: 'Replied START on WhatsApp',
    source: 'keyword',
    occurredAt: '2026-03-01T09:15:00.000Z',
    recordId: '01JQ80A1B2C3D4E5F6G7H8J9KB',
  },
  {
    purpose: 'privacy',
    channel: 'whatsapp',
    status: 'opted_in',
    effectiveStatus: 'opted_in' as const,
    overriddenBy: null,
    legalBasis: 'CONSENT_WITH_NOTICE',
    legalBasisLabel: 'Freely given consent from contact',
    explanation: 'Pressed AGREE & PROCEED on WhatsApp',
    source: 'workflow',
    occurredAt: '2026-03-01T09:10:00.000Z',
    recordId: '01JQ809Z8Y7X6W5V4T3S2R1QPN',
  },
];

/**
 * A Zapier search answers an array: empty means "not found" and lets a Find-or-Create step create.
 * An erased contact (named by its ID: it has no email or phone left to be found by) is not found
 * either: it has no details to give, and Consentry refuses every change to it.
 */
const perform = async (z: ZObject, bundle: Bundle) => {
  const input = parseInputData(z, InputSchema, bundle.inputData);
  const contact = await findContact(z, bundle, input);
  if (!contact || contact.erasedAt !== null) return [];
  const consents = await consentsOf(z, bundle, contact.id);
  return consents ? [contactWithConsentsItem(contact, consents)] : [];
};

const search: Search = {
  key: 'find_contact',
  noun: 'Contact',
  display: {
    label: 'Find Contact',
    description: 'Finds a contact by email, phone number or Consentry contact ID, with its current consent on every channel.',
  },
  operation: {
    inputFields: [
      {
        key: 'email',
        label: 'Email',
        required: false,
        helpText: 'Give an email, a phone number (or both), or a contact ID. Given both, they must belong to the same contact.',
      },
      { key: 'phone', label: 'Phone', required: false, helpText: 'In international format, e.g. +34 600 000 001.' },
      {
        key: 'contactId',
        label: 'Contact ID',
        required: false,
        helpText: 'The Consentry contact ID, e.g. from a Consentry trigger. Wins over email and phone.',
      },
    ],
    perform: timedStep('Find Contact', perform),
    outputFields: [
      ...CONTACT_OUTPUT_FIELDS,
      { key: 'consents[]purpose', label: 'Consent Purpose' },
      { key: 'consents[]channel', label: 'Consent Channel' },
      { key: 'consents[]effectiveStatus', label: 'Consent Status in Force (after any all-channel decision)' },
      { key: 'consents[]status', label: 'Consent Status as Recorded for the Channel' },
      { key: 'consents[]legalBasisLabel', label: 'Consent Legal Basis' },
      { key: 'consents[]occurredAt', label: 'Consent Decided At', type: 'datetime' },
      ...CONSENT_STATUS_OUTPUT_FIELDS,
    ],
    sample: { ...CONTACT_SAMPLE, consents: SAMPLE_CONSENTS, consentStatus: consentStatusByChannel(SAMPLE_CONSENTS) },
  },
};

export default search;

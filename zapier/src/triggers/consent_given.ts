import { CONSENT_CHANGE_OUTPUT_FIELDS, ConsentChangeDataSchema, consentFilterFields, defineEventTrigger } from '../rest-hook.js';

export default defineEventTrigger({
  key: 'consent_given',
  event: 'consent.given',
  noun: 'Consent',
  label: 'Consent Given',
  description: 'Triggers when a contact opts in: a START keyword, an answered consent question, or an opt-in recorded by a person or an integration.',
  data: ConsentChangeDataSchema,
  filterFields: consentFilterFields(),
  outputFields: CONSENT_CHANGE_OUTPUT_FIELDS,
  sample: {
    id: '01JQ80A1B2C3D4E5F6G7H8J9KA',
    type: 'consent.given',
    occurredAt: '2026-03-01T09:15:00.000Z',
    contactId: '01JQ7ZK4C2V9N8M3T5R6W1XYZA',
    purpose: 'marketing',
    channel: 'whatsapp',
    status: 'opted_in',
    legalBasis: 'CONSENT_WITH_NOTICE',
    legalBasisLabel: 'Freely given consent from contact',
    explanation: 'Replied START on WhatsApp',
    source: 'keyword',
    recordId: '01JQ80A1B2C3D4E5F6G7H8J9KB',
    decidedAt: '2026-03-01T09:15:00.000Z',
  },
});

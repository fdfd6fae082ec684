import { CONSENT_CHANGE_OUTPUT_FIELDS, ConsentChangeDataSchema, consentFilterFields, defineEventTrigger } from '../rest-hook.js';

export default defineEventTrigger({
  key: 'consent_withdrawn',
  event: 'consent.withdrawn',
  noun: 'Consent',
  label: 'Consent Withdrawn',
  description: 'Triggers when a contact opts out: a STOP keyword, or an opt-out recorded by a person or an integration.',
  data: ConsentChangeDataSchema,
  filterFields: consentFilterFields(),
  outputFields: CONSENT_CHANGE_OUTPUT_FIELDS,
  sample: {
    id: '01JQ81C3D4E5F6G7H8J9KAMBNC',
    type: 'consent.withdrawn',
    occurredAt: '2026-03-02T18:40:00.000Z',
    contactId: '01JQ7ZK4C2V9N8M3T5R6W1XYZA',
    purpose: 'marketing',
    channel: 'whatsapp',
    status: 'opted_out',
    legalBasis: null,
    legalBasisLabel: null,
    explanation: 'Replied STOP on WhatsApp',
    source: 'keyword',
    recordId: '01JQ81C3D4E5F6G7H8J9KAMBND',
    decidedAt: '2026-03-02T18:40:00.000Z',
  },
});

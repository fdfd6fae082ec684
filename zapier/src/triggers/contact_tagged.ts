import { z as zod } from 'zod';
import { defineEventTrigger } from '../rest-hook.js';

export default defineEventTrigger({
  key: 'contact_tagged',
  event: 'contact.tagged',
  noun: 'Tag',
  label: 'Contact Tagged',
  description: 'Triggers when a tag is added to a contact.',
  data: zod.object({ tag: zod.string() }),
  filterFields: [
    {
      key: 'tag',
      label: 'Tag',
      required: false,
      dynamic: 'tag_list.id.name',
      helpText: 'Only this tag. Leave empty to trigger on every tag.',
    },
  ],
  outputFields: [{ key: 'tag', label: 'Tag' }],
  sample: {
    id: '01JQ83G7H8J9KAMBNCPDQERSFT',
    type: 'contact.tagged',
    occurredAt: '2026-03-01T09:16:00.000Z',
    contactId: '01JQ7ZK4C2V9N8M3T5R6W1XYZA',
    contactName: 'Ana Test',
    contactEmail: 'ana.test@example.com',
    contactPhone: '+34600000001',
    contactDetailsMissing: false,
    contactErased: false,
    tag: 'Consent: Privacy',
  },
});

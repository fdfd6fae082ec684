import { z as zod } from 'zod';
import { defineEventTrigger } from '../rest-hook.js';

export default defineEventTrigger({
  key: 'optout_review_needed',
  event: 'optout.review_needed',
  noun: 'Message',
  label: 'Opt-Out Needs Review',
  description: 'Triggers when a message reads like an opt-out in plain words and needs review.',
  data: zod.object({
    channel: zod.string(),
    messageId: zod.string(),
    text: zod.string(),
    normalized: zod.string(),
    language: zod.string().nullable(),
    matchedWord: zod.string(),
  }),
  outputFields: [
    { key: 'text', label: 'Message Text' },
    { key: 'matchedWord', label: 'Opt-Out Word Found' },
    { key: 'language', label: 'Language' },
    { key: 'channel', label: 'Channel' },
    { key: 'messageId', label: 'Message ID' },
    { key: 'normalized', label: 'Normalised Text' },
  ],
  sample: {
    id: '01JQ84J9KAMBNCPDQERSFTGVHW',
    type: 'optout.review_needed',
    occurredAt: '2026-03-03T11:02:00.000Z',
    contactId: '01JQ7ZK4C2V9N8M3T5R6W1XYZA',
    contactName: 'Ana Test',
    contactEmail: 'ana.test@example.com',
    contactPhone: '+34600000001',
    contactDetailsMissing: false,
    contactErased: false,
    channel: 'sms',
    messageId: 'SM0000000000000000000000000000001',
    text: 'please stop texting me',
    normalized: 'PLEASE STOP TEXTING ME',
    language: 'en',
    matchedWord: 'STOP',
  },
});

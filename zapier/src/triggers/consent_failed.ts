import { z as zod } from 'zod';
import { defineEventTrigger } from '../rest-hook.js';

export default defineEventTrigger({
  key: 'consent_failed',
  event: 'consent.failed',
  noun: 'Consent Request',
  label: 'Consent Request Failed',
  description: 'Triggers when a consent request ends without consent (invalid answers or no answer).',
  data: zod.object({
    channel: zod.string(),
    purpose: zod.string(),
    reason: zod.enum(['invalid', 'timeout']),
    attempts: zod.number().int().nonnegative(),
    workflowId: zod.string(),
    runId: zod.string(),
    conversationId: zod.string().nullable(),
  }),
  outputFields: [
    { key: 'reason', label: 'Reason (invalid or timeout)' },
    { key: 'attempts', label: 'Times Asked', type: 'integer' },
    { key: 'channel', label: 'Channel' },
    { key: 'purpose', label: 'Purpose' },
    { key: 'workflowId', label: 'Workflow' },
    { key: 'runId', label: 'Workflow Run ID' },
    { key: 'conversationId', label: 'Conversation ID' },
  ],
  sample: {
    id: '01JQ82E5F6G7H8J9KAMBNCPDQE',
    type: 'consent.failed',
    occurredAt: '2026-03-01T09:21:00.000Z',
    contactId: '01JQ7ZK4C2V9N8M3T5R6W1XYZA',
    contactName: 'Ana Test',
    contactEmail: 'ana.test@example.com',
    contactPhone: '+34600000001',
    channel: 'whatsapp',
    purpose: 'privacy',
    reason: 'invalid',
    attempts: 4,
    workflowId: 'request-consent-privacy',
    runId: '01JQ82E5F6G7H8J9KAMBNCPDQF',
    conversationId: '01JQ82E5F6G7H8J9KAMBNCPDQG',
  },
});

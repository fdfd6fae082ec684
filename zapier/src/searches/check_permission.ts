import type { Bundle, Search, ZObject } from 'zapier-platform-core';
import { z as zod } from 'zod';
import { apiPath, callApiOrNull, PermissionSchema } from '../api.js';
import { findContact } from '../contacts.js';
import {
  channelField,
  channelInput,
  contactFields,
  contactSelectorShape,
  EVEN_WITH_FIELD_ERRORS,
  parseInputData,
  purposeField,
  purposeInput,
  requireContact,
} from '../inputs.js';

const InputSchema = zod
  .object({ ...contactSelectorShape, channel: channelInput, purpose: purposeInput })
  .superRefine(requireContact, EVEN_WITH_FIELD_ERRORS);

/** "May we message this contact?" — the answer a Zap checks before it sends anything. */
const perform = async (z: ZObject, bundle: Bundle) => {
  const input = parseInputData(z, InputSchema, bundle.inputData);
  const contact = await findContact(z, bundle, input);
  if (!contact) return [];
  const verdict = await callApiOrNull(z, bundle, {
    path: apiPath('v1', 'contacts', contact.id, 'permission'),
    params: { channel: input.channel, purpose: input.purpose },
    schema: PermissionSchema,
  });
  if (!verdict) return [];
  return [
    {
      id: `${contact.id}:${input.purpose}:${input.channel}`,
      contactId: contact.id,
      purpose: input.purpose,
      channel: input.channel,
      allowed: verdict.allowed,
      reason: verdict.reason,
      status: verdict.status,
      since: verdict.since,
    },
  ];
};

const search: Search = {
  key: 'check_permission',
  noun: 'Permission',
  display: {
    label: 'Check Messaging Permission',
    description: 'Tells whether a contact may be messaged on a channel for a purpose, and why (opted in, opted out, never asked, erased).',
  },
  operation: {
    inputFields: [
      ...contactFields('to check'),
      channelField({ required: true }),
      purposeField({ required: false, defaultMarketing: true }),
    ],
    perform,
    outputFields: [
      { key: 'id', label: 'Permission ID' },
      { key: 'contactId', label: 'Contact ID' },
      { key: 'purpose', label: 'Purpose' },
      { key: 'channel', label: 'Channel' },
      { key: 'allowed', label: 'Allowed', type: 'boolean' },
      { key: 'reason', label: 'Reason' },
      { key: 'status', label: 'Status' },
      { key: 'since', label: 'Since', type: 'datetime' },
    ],
    sample: {
      id: '01JQ7ZK4C2V9N8M3T5R6W1XYZA:marketing:whatsapp',
      contactId: '01JQ7ZK4C2V9N8M3T5R6W1XYZA',
      purpose: 'marketing',
      channel: 'whatsapp',
      allowed: true,
      reason: 'opted_in',
      status: 'opted_in',
      since: '2026-03-01T09:15:00.000Z',
    },
  },
};

export default search;

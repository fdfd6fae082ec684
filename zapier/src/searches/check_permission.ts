import type { Bundle, Search, ZObject } from 'zapier-platform-core';
import { z as zod } from 'zod';
import { apiPath, callApiOrNull, PermissionSchema } from '../api.js';
import { findContact } from '../contacts.js';
import {
  channelField,
  contactFields,
  contactSelectorShape,
  EVEN_WITH_FIELD_ERRORS,
  messagingChannelInput,
  parseInputData,
  purposeField,
  purposeInput,
  requireContact,
} from '../inputs.js';
import { timedStep } from '../step-deadline.js';
import { assertKnownPurpose } from '../workspace-settings.js';

const InputSchema = zod
  .object({ ...contactSelectorShape, channel: messagingChannelInput, purpose: purposeInput })
  .superRefine(requireContact, EVEN_WITH_FIELD_ERRORS);

/**
 * Someone Consentry has never seen was never asked: not allowed, for the reason the server gives a
 * known contact never asked (`not_specified`). Answering "nothing found" instead would stop a
 * "new lead → ask for consent if not allowed" Zap before its asking branch.
 */
function neverAsked(purpose: string, channel: string) {
  return {
    id: `no-contact:${purpose}:${channel}`,
    contactId: '',
    purpose,
    channel,
    allowed: false,
    reason: 'not_specified',
    status: 'not_specified',
    since: null,
  };
}

/** "May we message this contact?" — the answer a Zap checks before it sends anything. */
const perform = async (z: ZObject, bundle: Bundle) => {
  const input = parseInputData(z, InputSchema, bundle.inputData);
  const contact = await findContact(z, bundle, input, input.channel);
  if (!contact) {
    // A contact ID that names no contact is a mistake in the Zap, not a new person: nothing found.
    if (input.contactId !== undefined) return [];
    // The server names a misspelt purpose for a known contact; for an unknown one it is checked here,
    // or the typo would read as "never asked".
    await assertKnownPurpose(z, bundle, input.purpose);
    return [neverAsked(input.purpose, input.channel)];
  }
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
    label: 'Find Messaging Permission',
    description: 'Finds whether a contact may be messaged on a channel for a purpose, and why (opted in, opted out, never asked, erased).',
  },
  operation: {
    inputFields: [
      // A channel, not "All channels": on `any` the server answers only whether an all-channel
      // decision (a STOP ALL) exists, which reads "never asked" for a contact opted in on WhatsApp;
      // the answer for a channel already includes an all-channel decision.
      channelField({ required: true, messagingOnly: true, helpText: 'The channel you want to message the contact on.' }),
      ...contactFields('to check'),
      purposeField({ required: false, defaultMarketing: true }),
    ],
    perform: timedStep('Find Messaging Permission', perform),
    outputFields: [
      { key: 'id', label: 'Permission ID' },
      { key: 'contactId', label: 'Contact ID (empty when Consentry does not know the person)' },
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

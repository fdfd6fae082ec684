import type { types } from '@slack/bolt';
import { z } from 'zod';
import { LEGAL_BASES, LEGAL_BASIS_LABELS, type Channel } from '../../../src/core/consent.js';
import { ALERT_ID_PATTERN, assertOpaqueAlertId } from '../actions-port.js';
import { channelLabel, contactLabel, escapeInline, textSection } from './common.js';

/** The view's callback id; its submission listener is listeners/record-consent-manually-modal.ts. */
export const RECORD_CONSENT_CALLBACK_ID = 'record_consent_manually_modal';
export const LEGAL_BASIS_BLOCK_ID = 'legal_basis';
export const LEGAL_BASIS_ACTION_ID = 'legal_basis_select';
export const EXPLANATION_BLOCK_ID = 'explanation';
export const EXPLANATION_ACTION_ID = 'explanation_input';
/** ConsentDecisionSchema accepts explanations up to 2000 characters. */
export const EXPLANATION_MAX_LENGTH = 2000;

/**
 * `private_metadata` is echoed back on submission and visible to anyone inspecting the payload
 * (https://docs.slack.dev/reference/views: max 3000 characters), so it carries ids only: the alert
 * and the Slack message to update afterwards. Never a name, a number or an address.
 */
export const RecordConsentMetadataSchema = z
  .object({
    alertId: z.string().regex(ALERT_ID_PATTERN),
    channel: z.string().regex(/^[CDG][A-Z0-9]{2,30}$/),
    messageTs: z.string().regex(/^\d{1,12}\.\d{1,8}$/),
  })
  .strict();
export type RecordConsentMetadata = z.infer<typeof RecordConsentMetadataSchema>;

export function parseRecordConsentMetadata(raw: string): RecordConsentMetadata | null {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return null;
  }
  const parsed = RecordConsentMetadataSchema.safeParse(json);
  return parsed.success ? parsed.data : null;
}

export interface RecordConsentModalInput extends RecordConsentMetadata {
  contactName: string | null;
  contactUrl: string | null;
  consentChannel: Channel;
  purpose: string;
}

/**
 * The "Record consent manually" modal. As in HubSpot's UI, an opt-in recorded by a person needs a
 * legal basis and an explanation (DESIGN §2); both inputs are required, and the server checks them
 * again on submission because a required input still accepts white space.
 */
export function recordConsentModal(input: RecordConsentModalInput): types.ModalView {
  const metadata: RecordConsentMetadata = RecordConsentMetadataSchema.parse({
    alertId: assertOpaqueAlertId(input.alertId),
    channel: input.channel,
    messageTs: input.messageTs,
  });
  const options: types.PlainTextOption[] = LEGAL_BASES.map((basis) => ({
    text: { type: 'plain_text', text: LEGAL_BASIS_LABELS[basis] },
    value: basis,
  }));
  return {
    type: 'modal',
    callback_id: RECORD_CONSENT_CALLBACK_ID,
    private_metadata: JSON.stringify(metadata),
    title: { type: 'plain_text', text: 'Record consent' },
    submit: { type: 'plain_text', text: 'Record consent' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      textSection(
        `*Contact:* ${contactLabel(input)}\n*Channel:* ${channelLabel(input.consentChannel)}\n*Purpose:* ${escapeInline(input.purpose, 64)}`,
      ),
      {
        type: 'input',
        block_id: LEGAL_BASIS_BLOCK_ID,
        label: { type: 'plain_text', text: 'Legal basis' },
        element: {
          type: 'static_select',
          action_id: LEGAL_BASIS_ACTION_ID,
          placeholder: { type: 'plain_text', text: 'Choose a legal basis' },
          options,
        },
      },
      {
        type: 'input',
        block_id: EXPLANATION_BLOCK_ID,
        label: { type: 'plain_text', text: 'Explanation' },
        hint: { type: 'plain_text', text: 'How and when did the contact agree? Kept in the consent history.' },
        element: {
          type: 'plain_text_input',
          action_id: EXPLANATION_ACTION_ID,
          multiline: true,
          max_length: EXPLANATION_MAX_LENGTH,
        },
      },
    ],
  };
}

import type { types } from '@slack/bolt';
import { describe, expect, it } from 'vitest';
import {
  parseRecordConsentMetadata,
  recordConsentModal,
  RECORD_CONSENT_CALLBACK_ID,
} from '../../../../connectors/slack/blocks/record-consent-modal.js';
import { LEGAL_BASES, LEGAL_BASIS_LABELS } from '../../../../src/core/consent.js';
import { allTexts, EMAIL, HOSTILE_NAME, unsafeTokens } from '../fixtures.js';

const input = {
  alertId: 'al_0000000001',
  channel: 'C0ALERTS01',
  messageTs: '1767261600.000100',
  contactName: HOSTILE_NAME,
  contactUrl: null,
  consentChannel: 'whatsapp' as const,
  purpose: 'privacy',
};

function inputBlock(view: types.ModalView, blockId: string): types.InputBlock | undefined {
  return view.blocks.find((block): block is types.InputBlock => block.type === 'input' && block.block_id === blockId);
}

describe('recordConsentModal', () => {
  const view = recordConsentModal(input);

  it('offers the seven legal bases with their human labels', () => {
    const element = inputBlock(view, 'legal_basis')?.element;
    expect(element?.type).toBe('static_select');
    const options = element?.type === 'static_select' ? (element.options ?? []) : [];
    expect(options.map((option) => option.value)).toEqual([...LEGAL_BASES]);
    expect(options.map((option) => option.text.text)).toEqual(LEGAL_BASES.map((basis) => LEGAL_BASIS_LABELS[basis]));
  });

  it('requires an explanation in a plain text input', () => {
    const explanation = inputBlock(view, 'explanation');
    expect(explanation).toBeDefined();
    expect(explanation?.optional).toBeFalsy();
    expect(explanation?.element.type).toBe('plain_text_input');
  });

  it('carries only ids in private_metadata', () => {
    expect(view.callback_id).toBe(RECORD_CONSENT_CALLBACK_ID);
    const metadata = JSON.parse(view.private_metadata ?? '{}');
    expect(metadata).toEqual({ alertId: 'al_0000000001', channel: 'C0ALERTS01', messageTs: '1767261600.000100' });
    expect(view.private_metadata).not.toContain('channel>');
    expect(parseRecordConsentMetadata(view.private_metadata ?? '')).toEqual(metadata);
  });

  it('refuses personal data where an id belongs', () => {
    expect(() => recordConsentModal({ ...input, alertId: EMAIL })).toThrow(/opaque/);
    expect(parseRecordConsentMetadata(JSON.stringify({ alertId: 'al_1', channel: 'C0ALERTS01', messageTs: '1.2', name: 'Ana Test' }))).toBeNull();
    expect(parseRecordConsentMetadata('not json')).toBeNull();
  });

  it('shows the contact name escaped', () => {
    for (const text of allTexts(view.blocks)) {
      expect(text).not.toContain('<!channel>');
      expect(unsafeTokens(text)).toEqual([]);
    }
    expect(JSON.stringify(view.blocks)).toContain('&lt;!channel&gt; &amp; &lt;@U1&gt;');
  });

  it('keeps titles within Slack limits', () => {
    expect(view.title.text.length).toBeLessThanOrEqual(24);
    expect(view.submit?.text.length).toBeLessThanOrEqual(24);
  });
});

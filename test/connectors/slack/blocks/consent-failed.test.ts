import { describe, expect, it } from 'vitest';
import { consentFailedMessage } from '../../../../connectors/slack/blocks/consent-failed.js';
import { ConsentryError } from '../../../../src/core/errors.js';
import { allTexts, buttonValues, consentFailedEvent, EMAIL, ESCAPED_HOSTILE_NAME, HOSTILE_NAME, PHONE, unsafeTokens } from '../fixtures.js';

const input = {
  alertId: 'al_0000000001',
  event: consentFailedEvent(),
  contactName: null,
  contactUrl: 'https://app.hubspot.com/contacts/123/record/0-1/101',
};

describe('consentFailedMessage', () => {
  const message = consentFailedMessage(input);

  it('has a text fallback, a header, fields, a context line with the event id, and the two buttons', () => {
    expect(message.text).toContain('Consent request failed for');
    expect(message.text).toContain('WhatsApp');
    expect(message.blocks.map((block) => block.type)).toEqual(['header', 'section', 'context', 'actions']);
    const context = JSON.stringify(message.blocks[2]);
    expect(context).toContain('01JCONSENTFAILED0000000001');
    const actions = message.blocks[3];
    expect(actions?.type === 'actions' && actions.elements.map((e) => ('action_id' in e ? e.action_id : null))).toEqual([
      'resend_consent_request',
      'record_consent_manually',
    ]);
  });

  it('shows reason, attempts, channel, contact link and time', () => {
    const fields = JSON.stringify(message.blocks[1]);
    expect(fields).toContain('No valid answer');
    expect(fields).toContain('*Attempts*\\n4');
    expect(fields).toContain(`<https://app.hubspot.com/contacts/123/record/0-1/101|${ESCAPED_HOSTILE_NAME}>`);
    expect(fields).toContain('<!date^1767261600^');
    const timeout = JSON.stringify(consentFailedMessage({ ...input, event: consentFailedEvent({ reason: 'timeout', attempts: 1 }) }));
    expect(timeout).toContain('No answer before the timeout');
  });

  it('renders a hostile contact name harmless everywhere, fallback included', () => {
    expect(unsafeTokens(`hi ${HOSTILE_NAME}`)).toEqual(['<!channel>', '<@U1>']);
    const texts = [message.text, ...allTexts(message.blocks)];
    for (const text of texts) {
      expect(text).not.toContain(HOSTILE_NAME);
      expect(text).not.toContain('<!channel>');
      expect(text).not.toContain('<@U1>');
      expect(unsafeTokens(text)).toEqual([]);
    }
    expect(message.text).toContain(ESCAPED_HOSTILE_NAME);
  });

  it('puts only the opaque alert id in button values', () => {
    const withContactData = consentFailedMessage({
      ...input,
      event: consentFailedEvent({ contactName: `Ana Test ${PHONE} ${EMAIL}` }),
    });
    const values = buttonValues(withContactData.blocks);
    expect(values).toEqual(['al_0000000001', 'al_0000000001']);
    for (const value of values) {
      expect(value).not.toContain('Ana');
      expect(value).not.toContain('600');
      expect(value).not.toContain('@');
    }
  });

  it('refuses an alert id that is not opaque', () => {
    expect(() => consentFailedMessage({ ...input, alertId: EMAIL })).toThrow(ConsentryError);
    expect(() => consentFailedMessage({ ...input, alertId: PHONE })).toThrow(/opaque/);
  });

  it('falls back to the looked-up name, then to a neutral label', () => {
    const named = consentFailedMessage({ ...input, contactUrl: null, contactName: 'Ana Test', event: consentFailedEvent({ contactName: null }) });
    expect(named.text).toContain('Ana Test');
    const unnamed = consentFailedMessage({ ...input, contactName: null, event: consentFailedEvent({ contactName: null }) });
    expect(unnamed.text).toContain('Unnamed contact');
  });
});

import { describe, expect, it } from 'vitest';
import type { SlackAlertEvent } from '../../../connectors/slack/actions-port.js';
import type { AlertMessageInput } from '../../../connectors/slack/blocks/common.js';
import { consentFailedMessage, type ConsentFailedInput } from '../../../connectors/slack/blocks/consent-failed.js';
import { digestMessage } from '../../../connectors/slack/blocks/digest.js';
import { noticeModal } from '../../../connectors/slack/blocks/notice-modal.js';
import { optoutReviewMessage, type OptoutReviewInput } from '../../../connectors/slack/blocks/optout-review.js';
import { recordConsentModal } from '../../../connectors/slack/blocks/record-consent-modal.js';
import { resolvedMessage } from '../../../connectors/slack/blocks/resolved.js';
import { syncFailedMessage, type SyncFailedInput } from '../../../connectors/slack/blocks/sync-failed.js';
import { escapeInline } from '../../../connectors/slack/escape.js';
import { allTexts, consentFailedEvent, ESCAPED_HOSTILE_NAME, HOSTILE_NAME, optoutReviewEvent, syncFailedEvent, unsafeTokens } from './fixtures.js';

/** A contact who writes mrkdwn, bare links and bare mentions into their name. */
const MARKUP_NAME = 'Mallory *boss* _admin_ ~x~ `code` https://evil.example/pay @channel #general';
const INERT_MARKUP_NAME = 'Mallory \u2217boss\u2217 \u02cdadmin\u02cd \u223cx\u223c \u02cbcode\u02cb https://evil.example/pay @channel #general';
const MARKUP_TEXT = 'STOP unless *URGENT* visit https://evil.example/login or www.evil.example @channel @here #general ```code``` ~x~\n> fake quote';

/** Every mrkdwn text object in a message, a view or a block list. */
function mrkdwnObjects(value: unknown): { text: string; verbatim?: unknown }[] {
  const found: { text: string; verbatim?: unknown }[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node && typeof node === 'object') {
      const members = new Map(Object.entries(node));
      const text = members.get('text');
      if (members.get('type') === 'mrkdwn' && typeof text === 'string') found.push({ text, verbatim: members.get('verbatim') });
      members.forEach(visit);
    }
  };
  visit(value);
  return found;
}

function fieldTexts(blocks: unknown): string[] {
  return mrkdwnObjects(blocks).map((object) => object.text);
}

const at = '2026-01-01T11:00:00.000Z';
const consentFailed: ConsentFailedInput = {
  alertId: 'al_cf1',
  event: consentFailedEvent({ contactName: MARKUP_NAME }),
  contactName: null,
  contactUrl: 'https://app.hubspot.com/contacts/123/record/0-1/101',
};
const review: OptoutReviewInput = { alertId: 'al_or1', event: optoutReviewEvent(MARKUP_TEXT), contactName: MARKUP_NAME, contactUrl: null };
const syncFailed: SyncFailedInput = { alertId: 'al_sf1', event: syncFailedEvent(`HubSpot refused ${MARKUP_NAME}`), contactName: MARKUP_NAME, contactUrl: null };

function everySurface(): { name: string; value: unknown }[] {
  const alerts: AlertMessageInput<SlackAlertEvent>[] = [consentFailed, review, syncFailed];
  return [
    { name: 'consent.failed', value: consentFailedMessage(consentFailed) },
    { name: 'optout.review_needed', value: optoutReviewMessage(review) },
    { name: 'sync.failed', value: syncFailedMessage(syncFailed) },
    ...alerts.map((alert) => ({
      name: `resolved ${alert.event.type}`,
      value: resolvedMessage({ alert, resolution: { action: 'dismiss_optout', slackUserId: 'UACTOR1', at } }),
    })),
    { name: 'digest', value: digestMessage({ alerts, total: alerts.length, since: at }) },
    {
      name: 'record consent modal',
      value: recordConsentModal({
        alertId: 'al_cf1',
        channel: 'C0ALERTS01',
        messageTs: '1767261600.000100',
        contactName: MARKUP_NAME,
        contactUrl: null,
        consentChannel: 'whatsapp',
        purpose: 'privacy',
      }),
    },
    { name: 'notice modal', value: noticeModal(`Nothing was changed: ${escapeInline(MARKUP_NAME)}`) },
  ];
}

describe('Slack auto-parsing of contact data', () => {
  it('is off on every mrkdwn text object Consentry sends', () => {
    for (const surface of everySurface()) {
      const objects = mrkdwnObjects(surface.value);
      expect(objects.length, surface.name).toBeGreaterThan(0);
      for (const object of objects) expect(object.verbatim, `${surface.name}: ${object.text}`).toBe(true);
    }
  });
});

describe('mrkdwn formatting in contact data', () => {
  it('cannot bold, italicise, strike or set code in a name, in the fields and in the fallback, where & < > stay escaped', () => {
    const message = consentFailedMessage({ ...consentFailed, contactUrl: null });
    expect(fieldTexts(message.blocks)).toContain(`*Contact*\n${INERT_MARKUP_NAME}`);
    expect(message.text).toContain(INERT_MARKUP_NAME);
    expect(message.text).not.toMatch(/[*~`]/);

    const hostile = consentFailedMessage({ ...consentFailed, event: consentFailedEvent({ contactName: HOSTILE_NAME }) });
    expect(hostile.text).toContain(ESCAPED_HOSTILE_NAME);
    for (const text of [hostile.text, ...allTexts(hostile.blocks)]) {
      expect(text).not.toContain(HOSTILE_NAME);
      expect(unsafeTokens(text)).toEqual([]);
    }
  });

  it('keeps the name inert inside the HubSpot link label', () => {
    const fields = fieldTexts(consentFailedMessage(consentFailed).blocks);
    expect(fields).toContain(`*Contact*\n<https://app.hubspot.com/contacts/123/record/0-1/101|${INERT_MARKUP_NAME}>`);
  });

  it('cannot open a quote with a name that starts with ">"', () => {
    const message = consentFailedMessage({ ...consentFailed, contactUrl: null, event: consentFailedEvent({ contactName: '> Approved by admin' }) });
    expect(fieldTexts(message.blocks)).toContain('*Contact*\n\u203a Approved by admin');
  });

  it('quotes the customer message without its formatting, one quote level only', () => {
    const quote = fieldTexts(optoutReviewMessage(review).blocks).find((text) => text.startsWith('*Message*'));
    expect(quote).toBe(
      '*Message*\n> STOP unless \u2217URGENT\u2217 visit https://evil.example/login or www.evil.example @channel @here #general ' +
        '\u02cb\u02cb\u02cbcode\u02cb\u02cb\u02cb \u223cx\u223c\n> \u203a fake quote',
    );
  });

  it('leaves only its own labels bold: no "*", "~" or "`" of the contact reaches any text', () => {
    for (const surface of everySurface()) {
      for (const text of allTexts(surface.value)) {
        const withoutLabels = text.replace(/\*[A-Z][A-Za-z -]*:?\*/g, '').replace(/`[0-9A-Z]{26}`/g, '');
        expect(withoutLabels, `${surface.name}: ${text}`).not.toMatch(/[*~`]/);
      }
    }
  });

  it('keeps an underscore inside a word, as in an e-mail address or an operation name', () => {
    expect(escapeInline('ana_test@example.com')).toBe('ana_test@example.com');
    expect(escapeInline('update_contact _urgent_ x_')).toBe('update_contact \u02cdurgent\u02cd x\u02cd');
  });
});

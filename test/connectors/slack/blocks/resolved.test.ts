import { describe, expect, it } from 'vitest';
import { resolvedMessage } from '../../../../connectors/slack/blocks/resolved.js';
import { allTexts, buttonValues, consentFailedEvent, HOSTILE_NAME, optoutReviewEvent, unsafeTokens } from '../fixtures.js';

describe('resolvedMessage', () => {
  const alert = { alertId: 'al_0000000001', event: consentFailedEvent(), contactName: null, contactUrl: null };

  it('says who did what and when, keeps the facts and the event id, and has no buttons', () => {
    const message = resolvedMessage({
      alert,
      resolution: { action: 'record_consent_manually', slackUserId: 'UACTOR1', at: '2026-01-01T11:00:00.000Z', legalBasis: 'PERFORMANCE_OF_CONTRACT' },
    });
    expect(message.blocks.some((block) => block.type === 'actions')).toBe(false);
    expect(buttonValues(message.blocks)).toEqual([]);
    const json = JSON.stringify(message.blocks);
    expect(json).toContain('<@UACTOR1> recorded consent manually (Performance of a contract) on <!date^1767265200^');
    expect(json).toContain('No valid answer');
    expect(json).toContain('01JCONSENTFAILED0000000001');
    expect(message.text).toContain('Consent recorded manually');
  });

  it('words each action', () => {
    const review = { alertId: 'al_2', event: optoutReviewEvent(), contactName: HOSTILE_NAME, contactUrl: null };
    const at = '2026-01-01T11:00:00.000Z';
    expect(JSON.stringify(resolvedMessage({ alert, resolution: { action: 'resend_consent_request', slackUserId: 'UACTOR1', at } }))).toContain(
      'resent the consent request',
    );
    expect(JSON.stringify(resolvedMessage({ alert: review, resolution: { action: 'apply_optout', slackUserId: 'UACTOR1', at } }))).toContain(
      'applied the opt-out',
    );
    expect(JSON.stringify(resolvedMessage({ alert: review, resolution: { action: 'dismiss_optout', slackUserId: 'UACTOR1', at } }))).toContain(
      'marked this message as not an opt-out',
    );
  });

  it('says an opt-out recorded after a newer opt-in is not in effect, and which decision stands', () => {
    const review = { alertId: 'al_2', event: optoutReviewEvent(), contactName: null, contactUrl: null };
    const message = resolvedMessage({
      alert: review,
      resolution: {
        action: 'apply_optout',
        slackUserId: 'UACTOR1',
        at: '2026-01-01T11:00:00.000Z',
        supersededBy: { status: 'opted_in', source: 'keyword', occurredAt: '2026-01-01T10:01:00.000Z' },
      },
    });
    expect(message.text).toMatch(/^Opt-out recorded, not in effect: /);
    expect(message.text).not.toContain('applied');
    expect(JSON.stringify(message.blocks)).toContain(
      '<@UACTOR1> recorded the opt-out on <!date^1767265200^{date_short_pretty} at {time}|2026-01-01T11:00:00.000Z>; it is not in effect: ' +
        'the contact opted in again on <!date^1767261660^{date_short_pretty} at {time}|2026-01-01T10:01:00.000Z> (a keyword the contact sent), and that later decision stands.',
    );
    expect(message.blocks[0]).toMatchObject({ type: 'header', text: { text: ':warning: Opt-out recorded, not in effect' } });
  });

  it('never turns contact data or a malformed actor into a mention', () => {
    const review = { alertId: 'al_2', event: optoutReviewEvent(), contactName: HOSTILE_NAME, contactUrl: null };
    const message = resolvedMessage({ alert: review, resolution: { action: 'apply_optout', slackUserId: '<!channel>', at: '2026-01-01T11:00:00.000Z' } });
    for (const text of [message.text, ...allTexts(message.blocks)]) {
      expect(text).not.toContain('<!channel>');
      expect(text).not.toContain('<@U1>');
      expect(unsafeTokens(text)).toEqual([]);
    }
  });
});

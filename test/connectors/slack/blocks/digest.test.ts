import { describe, expect, it } from 'vitest';
import { digestMessage } from '../../../../connectors/slack/blocks/digest.js';
import type { AlertMessageInput } from '../../../../connectors/slack/blocks/common.js';
import { allTexts, buttonValues, consentFailedEvent, HOSTILE_NAME, optoutReviewEvent, syncFailedEvent, unsafeTokens } from '../fixtures.js';

function alerts(count: number): AlertMessageInput[] {
  return Array.from({ length: count }, (_, index) => {
    const kind = index % 3;
    const event = kind === 0 ? consentFailedEvent() : kind === 1 ? optoutReviewEvent() : syncFailedEvent();
    return { alertId: `al_${index}`, event: { ...event, id: `01JEVENT${String(index).padStart(18, '0')}` }, contactName: HOSTILE_NAME, contactUrl: null };
  });
}

describe('digestMessage', () => {
  it('summarises a burst: fallback, header with the count, fields per kind, the newest lines, the latest event id', () => {
    const message = digestMessage({ alerts: alerts(6), total: 6, since: '2026-01-01T10:00:00.000Z' });
    expect(message.text).toContain('6 Consentry alerts since');
    expect(message.blocks.map((block) => block.type)).toEqual(['header', 'section', 'section', 'context']);
    const fields = JSON.stringify(message.blocks[1]);
    expect(fields).toContain('*Consent failed*\\n2');
    expect(fields).toContain('*Opt-out review*\\n2');
    expect(fields).toContain('*Sync failed*\\n2');
    expect(JSON.stringify(message.blocks[3])).toContain('01JEVENT000000000000000005');
  });

  it('lists at most twelve alerts, newest first, and counts the rest', () => {
    const message = digestMessage({ alerts: alerts(20), total: 25, since: '2026-01-01T10:00:00.000Z' });
    const list = message.blocks[2];
    const text = list?.type === 'section' ? (list.text?.text ?? '') : '';
    expect(text.split('\n').filter((line) => line.startsWith('•'))).toHaveLength(12);
    expect(text).toContain('…and 13 earlier alerts');
    expect(JSON.stringify(message.blocks[1])).not.toContain('Consent failed');
  });

  it('has no buttons and renders contact data harmless', () => {
    const message = digestMessage({ alerts: alerts(4), total: 4, since: '2026-01-01T10:00:00.000Z' });
    expect(buttonValues(message.blocks)).toEqual([]);
    for (const text of [message.text, ...allTexts(message.blocks)]) {
      expect(text).not.toContain('<!channel>');
      expect(text).not.toContain('<@U1>');
      expect(unsafeTokens(text)).toEqual([]);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { optoutReviewMessage } from '../../../../connectors/slack/blocks/optout-review.js';
import { allTexts, buttonValues, EMAIL, ESCAPED_HOSTILE_NAME, HOSTILE_NAME, optoutReviewEvent, PHONE, unsafeTokens } from '../fixtures.js';

const input = { alertId: 'al_0000000002', event: optoutReviewEvent(), contactName: HOSTILE_NAME, contactUrl: null };

describe('optoutReviewMessage', () => {
  const message = optoutReviewMessage(input);

  it('has a text fallback, a header, fields, the quoted message, a context line and the two buttons', () => {
    expect(message.text).toContain('Possible opt-out from');
    expect(message.blocks.map((block) => block.type)).toEqual(['header', 'section', 'section', 'context', 'actions']);
    expect(JSON.stringify(message.blocks[3])).toContain('01JOPTOUTREVIEW00000000001');
    const actions = message.blocks[4];
    expect(actions?.type === 'actions' && actions.elements.map((e) => ('action_id' in e ? e.action_id : null))).toEqual([
      'apply_optout',
      'dismiss_optout',
    ]);
  });

  it('quotes the customer message, escaped', () => {
    const quote = JSON.stringify(message.blocks[2]);
    expect(quote).toContain(`> please stop texting me ${ESCAPED_HOSTILE_NAME}`);
  });

  it('asks for confirmation before keeping the contact subscribed', () => {
    const actions = message.blocks[4];
    const dismiss = actions?.type === 'actions' ? actions.elements[1] : undefined;
    expect(dismiss && 'confirm' in dismiss && dismiss.confirm?.title?.text).toBe('Not an opt-out?');
  });

  it('renders hostile contact data harmless everywhere', () => {
    for (const text of [message.text, ...allTexts(message.blocks)]) {
      expect(text).not.toContain('<!channel>');
      expect(text).not.toContain('<@U1>');
      expect(unsafeTokens(text)).toEqual([]);
    }
  });

  it('keeps message text, phone numbers and e-mails out of button values', () => {
    const values = buttonValues(optoutReviewMessage({ ...input, event: optoutReviewEvent(`stop ${PHONE} ${EMAIL}`) }).blocks);
    expect(values).toEqual(['al_0000000002', 'al_0000000002']);
  });

  it('cuts a very long message to fit a section', () => {
    const long = optoutReviewMessage({ ...input, event: optoutReviewEvent('stop '.repeat(2000)) });
    const quote = long.blocks[2];
    expect(quote?.type === 'section' && quote.text?.text.length).toBeLessThanOrEqual(3000);
  });
});

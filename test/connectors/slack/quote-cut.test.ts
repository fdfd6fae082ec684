import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { optoutReviewMessage } from '../../../connectors/slack/blocks/optout-review.js';
import { escapeQuote } from '../../../connectors/slack/escape.js';
import { optoutReviewEvent } from './fixtures.js';

const GAP = '\u2026\n> \u2026';

function quoteOf(text: string, matchedWord = 'stop'): string {
  const event = optoutReviewEvent(text);
  const message = optoutReviewMessage({ alertId: 'al_or1', event: { ...event, data: { ...event.data, matchedWord } }, contactName: 'Ana Test', contactUrl: null });
  const section = message.blocks[2];
  return section?.type === 'section' ? (section.text?.text ?? '') : '';
}

/** An `&` that does not start one of the three entities Slack decodes: a cut inside an entity. */
const BROKEN_ENTITY = /&(?!amp;|lt;|gt;)/;

describe('the quoted message of an opt-out review', () => {
  it('keeps the last line of a message of many short lines, and says where it skipped', () => {
    const text = `${Array.from({ length: 700 }, (_, index) => (index % 2 ? '&' : 'x')).join('\n')}\nplease stop texting me`;
    const quote = quoteOf(text);
    expect(quote.length).toBeLessThanOrEqual(3000);
    expect(quote.endsWith('\n> please stop texting me')).toBe(true);
    expect(quote).toContain(GAP);
    expect(quote).not.toMatch(BROKEN_ENTITY);
    expect(quote.startsWith('*Message*\n> x\n> &amp;\n> x')).toBe(true);
  });

  it('keeps a STOP at the end of a message longer than the section', () => {
    const quote = quoteOf(`${'x'.repeat(3000)} STOP`);
    expect(quote.length).toBeLessThanOrEqual(3000);
    expect(quote.endsWith('x STOP')).toBe(true);
    expect(quote).toContain(GAP);
    expect(quoteOf('please\nstop & go')).toBe('*Message*\n> please\n> stop &amp; go');
  });

  it('shows the text around the opt-out word when it is neither at the start nor at the end', () => {
    const text = `${'a '.repeat(1500)}please STOP now ${'b '.repeat(1500)}`;
    const quote = quoteOf(text);
    expect(quote.length).toBeLessThanOrEqual(3000);
    expect(quote).toContain('please STOP now');
    expect(quote.startsWith('*Message*\n> a a')).toBe(true);
    expect(quote.endsWith('b b')).toBe(true);
    expect(quote.split(GAP)).toHaveLength(3);
  });

  it('finds the opt-out word whatever its letter case and accents', () => {
    const quote = quoteOf(`${'a '.repeat(1500)}je veux me DÉSABONNER merci ${'b '.repeat(1500)}`, 'desabonner');
    expect(quote).toContain('je veux me DÉSABONNER merci');
  });

});

describe('escapeQuote', () => {
  const unit = fc.constantFrom('&', '<', '>', '*', '_', '~', '`', 'a', 'b', ' ', '\n', 'é', '\u{1F600}');

  it('stays within the limit with its "> " prefixes, never cuts an entity, and marks every cut', () => {
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 300 }), fc.integer({ min: 16, max: 200 }), fc.option(fc.constantFrom('stop', 'a', 'ab')), (text, maxLength, focus) => {
        const quote = escapeQuote(text, maxLength, focus ?? undefined);
        const full = escapeQuote(text, Number.MAX_SAFE_INTEGER);
        expect(quote.length).toBeLessThanOrEqual(maxLength);
        expect(quote).not.toMatch(BROKEN_ENTITY);
        expect(quote).not.toMatch(/[<*~`]/);
        expect(quote).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
        for (const line of quote.split('\n')) {
          expect(line.startsWith('> ')).toBe(true);
          expect(line.slice(1)).not.toContain('>');
        }
        if (full.length <= maxLength) expect(quote).toBe(full);
        else expect(quote).toContain(GAP);
      }),
      { numRuns: 300 },
    );
  });
});

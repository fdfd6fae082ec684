import { describe, expect, it } from 'vitest';
import { runTranscript, type TranscriptLine } from '../../src/cli/simulate.js';

type Reply = Extract<TranscriptLine, { kind: 'reply' }>;
type State = Extract<TranscriptLine, { kind: 'state' }>;

const replies = (lines: readonly TranscriptLine[]): string[] => lines.filter((l): l is Reply => l.kind === 'reply').map((l) => l.text);

function finalState(lines: readonly TranscriptLine[]): State {
  const last = lines.at(-1);
  if (last?.kind !== 'state') throw new Error('a transcript ends with the state');
  return last;
}

const WITH_COUNTRY_CODE = 'What is your phone number? Please write it starting with + and the country code, for example +34 600 000 001.';
const MISSING_COUNTRY_CODE = `That doesn't look like a phone number with its country code. ${WITH_COUNTRY_CODE}`;
const NATIONAL_INVITED = 'if you are abroad';

describe('simulate welcome-request-phone: the question keeps its promise with and without a default country', () => {
  it('without a default country, asks for the country code and saves +34600000001', async () => {
    const lines = await runTranscript({
      template: 'welcome-request-phone',
      channel: 'messenger',
      steps: [{ text: 'hi' }, { after: '10s', text: '+34600000001' }],
    });
    expect(replies(lines)).toEqual(['Hi there, welcome! Thanks for getting in touch.', WITH_COUNTRY_CODE, 'Thank you! One of our team will be with you shortly.']);
    expect(finalState(lines).fields).toEqual({ phone: '+34600000001' });
  });

  it('without a default country, re-asks 600000001 saying the country code is missing, and saves the number once written with it', async () => {
    const lines = await runTranscript({
      template: 'welcome-request-phone',
      channel: 'telegram',
      steps: [{ text: 'hi' }, { after: '10s', text: '600000001' }, { after: '10s', text: '+34 600 000 001' }],
    });
    const texts = replies(lines);
    expect(texts.slice(1, 3)).toEqual([WITH_COUNTRY_CODE, MISSING_COUNTRY_CODE]);
    expect(texts.filter((text) => text.includes(NATIONAL_INVITED))).toEqual([]);
    expect(finalState(lines).fields).toEqual({ phone: '+34600000001' });
  });

  it('without a default country, saves nothing from national answers but says why each time', async () => {
    const lines = await runTranscript({
      template: 'welcome-request-phone',
      channel: 'webchat',
      steps: [{ text: 'hi' }, { text: '600 000 001' }, { text: '600000001' }, { text: '0600 000 001' }, { text: '600-000-001' }],
    });
    expect(replies(lines).filter((text) => text === MISSING_COUNTRY_CODE)).toHaveLength(3);
    expect(finalState(lines)).toMatchObject({ fields: {}, conversation: 'open' });
  });

  it('with default country ES, asks as before and saves 600 000 001 as +34600000001', async () => {
    const lines = await runTranscript({
      template: 'welcome-request-phone',
      channel: 'email',
      settings: { defaultCountry: 'ES' },
      steps: [{ text: 'hi' }, { after: '10s', text: '600 000 001' }],
    });
    const texts = replies(lines);
    expect(texts[1]).toBe('What is your phone number? Please include the country code if you are abroad, for example +1 201 555 0123.');
    expect(texts).toHaveLength(3);
    expect(finalState(lines).fields).toEqual({ phone: '+34600000001' });
  });
});

import { describe, expect, it } from 'vitest';
import { ConsentryError } from '../../src/core/errors.js';
import { validateWorkspaceKeywords, type WorkspaceKeywords } from '../../src/core/keywords.js';
import { BUILT_IN_REPLIES, replyText } from '../../src/core/replies.js';
import { blankReplyMessage, replyTextIssues, WorkspaceSettingsSchema } from '../../src/core/settings.js';
import { isBlank } from '../../src/core/text.js';

const EMPTY = 'is empty once punctuation, symbols and white space are removed';

function keywordIssues(input: unknown, sent?: unknown): ConsentryError['issues'] {
  const keywords: WorkspaceKeywords = WorkspaceSettingsSchema.shape.keywords.parse(input);
  try {
    validateWorkspaceKeywords(keywords, undefined, sent);
  } catch (error) {
    if (error instanceof ConsentryError) return error.issues;
    throw error;
  }
  return [];
}

describe('isBlank', () => {
  it.each([
    ['empty', ''],
    ['white space', ' \t\n\u00a0\u3000'],
    ['a zero-width space', '\u200b'],
    ['joiners, the byte order mark, the word joiner and the soft hyphen', '\u200d\u200c\ufeff\u2060\u00ad'],
    ['the Hangul filler and the Braille blank', '\u3164\u2800'],
  ])('holds for %s', (_label, text) => {
    expect(isBlank(text)).toBe(true);
  });

  it.each(['a', '.', '\u200bhola', '👍'])('does not hold for %j', (text) => {
    expect(isBlank(text)).toBe(false);
  });
});

describe('replyTextIssues', () => {
  it('names each blank text once, worded for a change or a new workspace, and leaves the others to the variable check', () => {
    const replies = { es: { opt_out_confirmation: '\u200b', help: '' }, en: { help: '{{shop}}' }, fr: { help: 'Aide' } };
    expect(replyTextIssues(replies, undefined, 'send null')).toEqual([
      { path: 'replies.es.opt_out_confirmation', message: blankReplyMessage('send null') },
      { path: 'replies.es.help', message: blankReplyMessage('send null') },
      { path: 'replies.en.help', message: '{{shop}} is not a variable a reply can use; it may use {{workspace.name}}' },
    ]);
    expect(replyTextIssues({ es: { help: ' ' } }, undefined, 'leave it out')).toEqual([{ path: 'replies.es.help', message: blankReplyMessage('leave it out') }]);
    expect(blankReplyMessage('send null')).toBe('is blank: a reply needs something besides white space and invisible characters; send null for the built-in text');
  });

  it('checks only the texts a change sets', () => {
    expect(replyTextIssues({ es: { help: ' ', opt_out_confirmation: '\u200b' } }, (_language, key) => key === 'help')).toEqual([
      { path: 'replies.es.help', message: blankReplyMessage('send null') },
    ]);
  });
});

describe('the settings schema leaves blank values to the rules beside it', () => {
  it('parses an empty reply text and an empty keyword, so the rules can name them with the others', () => {
    expect(WorkspaceSettingsSchema.safeParse({ replies: { es: { help: '' } }, keywords: { en: { help: ['   '] } } }).success).toBe(true);
  });
});

describe('validateWorkspaceKeywords with keywords that read as nothing', () => {
  it('names every one at once, quoting each as it was sent', () => {
    const sent = { en: { opt_out: ['!!!'], help: ['   '], opt_in: ['\u200b'], removed: [''] } };
    expect(keywordIssues(sent, sent)).toEqual([
      { path: 'keywords.en.removed.0', message: `"" ${EMPTY}` },
      { path: 'keywords.en.opt_out.0', message: `"!!!" ${EMPTY}` },
      { path: 'keywords.en.opt_in.0', message: `"\u200b" ${EMPTY}` },
      { path: 'keywords.en.help.0', message: `"   " ${EMPTY}` },
    ]);
  });

  it('quotes the keyword it checks when not told how it was sent', () => {
    expect(keywordIssues({ es: { help: ['  '] } })).toEqual([{ path: 'keywords.es.help.0', message: `"" ${EMPTY}` }]);
  });
});

describe('replyText with a blank text stored', () => {
  it('passes over one of invisible characters for the built-in text, as it does one of white space', () => {
    const settings = WorkspaceSettingsSchema.parse({ replies: { es: { opt_out_confirmation: '\u200b\u2060', help: '   ' } } });
    expect(replyText('opt_out_confirmation', 'es', settings)).toEqual({ text: BUILT_IN_REPLIES.es.opt_out_confirmation, language: 'es' });
    expect(replyText('help', 'es', settings)).toEqual({ text: BUILT_IN_REPLIES.es.help, language: 'es' });
  });
});

import { describe, it, expect } from 'vitest';
import { BUILT_IN_REPLIES, replyText } from '../../src/core/replies.js';
import { BUILT_IN_KEYWORDS, classifyKeyword } from '../../src/core/keywords.js';
import { LANGUAGES, REPLY_KEYS, WorkspaceSettingsSchema, type WorkspaceSettingsInput } from '../../src/core/settings.js';

function settings(input: Pick<WorkspaceSettingsInput, 'replies' | 'defaultLanguage'>) {
  return WorkspaceSettingsSchema.parse(input);
}

describe('built-in replies', () => {
  it('has every reply in every language', () => {
    for (const language of LANGUAGES) {
      for (const key of REPLY_KEYS) {
        expect(BUILT_IN_REPLIES[language][key].trim().length).toBeGreaterThan(0);
      }
    }
  });

  it.each(LANGUAGES)('%s opt-out confirmation says how to opt back in with that language\'s keyword', (language) => {
    const text = BUILT_IN_REPLIES[language].opt_out_confirmation;
    const optIn = language === 'en' ? 'START' : BUILT_IN_KEYWORDS[language].opt_in[0];
    expect(optIn).toBeDefined();
    expect(text).toContain(optIn);
  });

  it.each(LANGUAGES)('%s help names an opt-in, an opt-out and a help keyword of that language', (language) => {
    const text = BUILT_IN_REPLIES[language].help;
    const keywords = BUILT_IN_KEYWORDS[language];
    for (const list of [keywords.opt_in, keywords.opt_out, keywords.help]) {
      expect(list.some((keyword) => text.includes(keyword))).toBe(true);
    }
  });

  it.each(LANGUAGES)('%s keywords named in replies are recognised as keywords of that language', (language) => {
    const quoted = BUILT_IN_REPLIES[language].help.match(/[A-ZÀ-Ý]{3,}|「([^」]+)」/gu) ?? [];
    expect(quoted.length).toBeGreaterThanOrEqual(3);
    for (const word of quoted) {
      const result = classifyKeyword(word);
      expect(result.intent).not.toBe('none');
      expect(result.language).toBe(language);
    }
  });
});

describe('replyText fallback order', () => {
  it('uses the workspace text in the requested language first', () => {
    const s = settings({ defaultLanguage: 'en', replies: { es: { help: 'Escríbenos: AYUDA' }, en: { help: 'Custom help' } } });
    expect(replyText('help', 'es', s)).toEqual({ text: 'Escríbenos: AYUDA', language: 'es' });
  });

  it('then the built-in text in the requested language, before any default-language text', () => {
    const s = settings({ defaultLanguage: 'de', replies: { de: { opt_out_confirmation: 'Abgemeldet.' } } });
    expect(replyText('opt_out_confirmation', 'ja', s)).toEqual({
      text: BUILT_IN_REPLIES.ja.opt_out_confirmation,
      language: 'ja',
    });
  });

  it('uses the workspace text for one key without affecting the others', () => {
    const s = settings({ replies: { fr: { opt_in_confirmation: 'Bienvenue !' } } });
    expect(replyText('opt_in_confirmation', 'fr', s)).toEqual({ text: 'Bienvenue !', language: 'fr' });
    expect(replyText('help', 'fr', s)).toEqual({ text: BUILT_IN_REPLIES.fr.help, language: 'fr' });
  });

  it('without a language, uses the workspace text in the default language', () => {
    const s = settings({ defaultLanguage: 'pt', replies: { pt: { help: 'Ajuda personalizada' }, en: { help: 'Custom help' } } });
    expect(replyText('help', null, s)).toEqual({ text: 'Ajuda personalizada', language: 'pt' });
  });

  it('without a language or default-language text, uses the built-in default-language text', () => {
    const s = settings({ defaultLanguage: 'es', replies: { en: { help: 'Custom help' } } });
    expect(replyText('help', null, s)).toEqual({ text: BUILT_IN_REPLIES.es.help, language: 'es' });
  });

  it('defaults to built-in English', () => {
    expect(replyText('opt_out_confirmation', null, settings({}))).toEqual({
      text: 'You have been unsubscribed and will receive no more messages. Reply START to subscribe again.',
      language: 'en',
    });
  });

  it('skips a blank workspace text', () => {
    const s = settings({ replies: { de: { help: '   ' } } });
    expect(replyText('help', 'de', s)).toEqual({ text: BUILT_IN_REPLIES.de.help, language: 'de' });
  });

  it('confirms a keyword in the keyword\'s language', () => {
    const s = settings({ defaultLanguage: 'en', replies: {} });
    const keyword = classifyKeyword('¡ALTO!');
    expect(replyText('opt_out_confirmation', keyword.language, s)).toEqual({
      text: BUILT_IN_REPLIES.es.opt_out_confirmation,
      language: 'es',
    });
  });
});

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  BUILT_IN_KEYWORDS,
  REVIEW_WORDS,
  REVIEW_WORDS_ALONE,
  COURTESY_WORDS,
  classifyKeyword,
  findPlainLanguageOptOut,
  isAllChannelsOptOut,
  normalizeText,
  validateWorkspaceKeywords,
  type KeywordIntent,
  type WorkspaceKeywords,
} from '../../src/core/keywords.js';
import { ConsentryError } from '../../src/core/errors.js';
import { LANGUAGES, WorkspaceSettingsSchema, type Language } from '../../src/core/settings.js';

/** Workspace keywords written as a settings input, so the test data goes through the real schema. */
function workspace(input: Record<string, unknown>): WorkspaceKeywords {
  return WorkspaceSettingsSchema.parse({ keywords: input }).keywords;
}

const withAdded = workspace({
  en: { opt_in: ['YES PLEASE', 'JOIN'], opt_out: ['NO MORE', 'REMOVE ME'], help: ['SUPPORT'] },
  es: { opt_in: ['ALTA'], opt_out: ['BAJA', 'NO MÁS'], help: ['INFORMACIÓN'] },
  fr: { opt_out: ['DÉSABONNER'] },
  de: { opt_in: ['ANMELDEN'], opt_out: ['ABMELDEN'] },
  pt: { opt_out: ['SAIR'] },
  ja: { opt_out: ['配信停止', 'やめる'], opt_in: ['登録'] },
});

const withRemoved = workspace({
  en: { removed: ['END', 'cancel', 'STOPALL', 'INFO'] },
  es: { removed: ['ALTO'] },
  fr: { removed: ['ARRETE'] },
});

/**
 * Settings stored before an opt-in or help keyword holding an opt-out word was refused: the
 * built-in END and ALTO switched off and added back with another intent, phrases around an
 * opt-out word, and an opt-in phrase around the workspace's own opt-out keyword.
 */
const storedHoldingOptOutWords = workspace({
  en: { removed: ['END'], opt_in: ['END', 'STOP PLEASE', "don't stop", 'YES NO MORE'], opt_out: ['NO MORE'], help: ['CANCEL ORDER'] },
  es: { removed: ['ALTO'], help: ['alto'] },
  ja: { opt_in: ['STOPします'] },
});

/** Bypasses validation on purpose: classification must still keep STOP, START and HELP. */
const removesProtected: WorkspaceKeywords = {
  en: { opt_in: [], opt_out: [], help: [], removed: ['STOP', 'start', 'Help', 'QUIT'] },
};

interface Case {
  text: string;
  intent: KeywordIntent;
  language: Language | null;
  keyword: string | null;
  review: boolean;
  ws?: WorkspaceKeywords;
}

const c = (
  text: string,
  intent: KeywordIntent,
  language: Language | null,
  keyword: string | null,
  review = false,
  ws?: WorkspaceKeywords,
): Case => ({ text, intent, language, keyword, review, ...(ws === undefined ? {} : { ws }) });

const cases: Case[] = [
  // Every English keyword in the table.
  c('START', 'opt_in', 'en', 'START'),
  c('SUBSCRIBE', 'opt_in', 'en', 'SUBSCRIBE'),
  c('UNSTOP', 'opt_in', 'en', 'UNSTOP'),
  c('STOP', 'opt_out', 'en', 'STOP'),
  c('STOPALL', 'opt_out', 'en', 'STOPALL'),
  c('UNSUBSCRIBE', 'opt_out', 'en', 'UNSUBSCRIBE'),
  c('CANCEL', 'opt_out', 'en', 'CANCEL'),
  c('END', 'opt_out', 'en', 'END'),
  c('QUIT', 'opt_out', 'en', 'QUIT'),
  c('REVOKE', 'opt_out', 'en', 'REVOKE'),
  c('OPTOUT', 'opt_out', 'en', 'OPTOUT'),
  c('OPT OUT', 'opt_out', 'en', 'OPT OUT'),
  c('STOP ALL', 'opt_out', 'en', 'STOP ALL'),
  c('HELP', 'help', 'en', 'HELP'),
  c('INFO', 'help', 'en', 'INFO'),
  // The other five languages.
  c('EMPEZAR', 'opt_in', 'es', 'EMPEZAR'),
  c('ALTO', 'opt_out', 'es', 'ALTO'),
  c('AYUDA', 'help', 'es', 'AYUDA'),
  c('COMMENCER', 'opt_in', 'fr', 'COMMENCER'),
  c('ARRÊTER', 'opt_out', 'fr', 'ARRÊTER'),
  c('ARRET', 'opt_out', 'fr', 'ARRET'),
  c('ARRETE', 'opt_out', 'fr', 'ARRETE'),
  c('AIDE', 'help', 'fr', 'AIDE'),
  c('INICIAR', 'opt_in', 'pt', 'INICIAR'),
  c('PARAR', 'opt_out', 'pt', 'PARAR'),
  c('AJUDA', 'help', 'pt', 'AJUDA'),
  c('LOSLEGEN', 'opt_in', 'de', 'LOSLEGEN'),
  c('BEENDEN', 'opt_out', 'de', 'BEENDEN'),
  c('HILFE', 'help', 'de', 'HILFE'),
  c('開始', 'opt_in', 'ja', '開始'),
  c('停止', 'opt_out', 'ja', '停止'),
  c('ヘルプ', 'help', 'ja', 'ヘルプ'),
  // Case variants and surrounding white space (HubSpot: "Start" opts in, spaces are fine).
  c('Start', 'opt_in', 'en', 'START'),
  c('start', 'opt_in', 'en', 'START'),
  c('sTaRt', 'opt_in', 'en', 'START'),
  c('  stop  ', 'opt_out', 'en', 'STOP'),
  c('\tStop\n', 'opt_out', 'en', 'STOP'),
  c('opt   out', 'opt_out', 'en', 'OPT OUT'),
  c('Stop\nAll', 'opt_out', 'en', 'STOP ALL'),
  c('empezar', 'opt_in', 'es', 'EMPEZAR'),
  c('Beenden', 'opt_out', 'de', 'BEENDEN'),
  c('loslegen', 'opt_in', 'de', 'LOSLEGEN'),
  c('iniciar', 'opt_in', 'pt', 'INICIAR'),
  c('hilfe', 'help', 'de', 'HILFE'),
  // Accents: precomposed, combining, missing.
  c('arrêter', 'opt_out', 'fr', 'ARRÊTER'),
  c('ARRETER', 'opt_out', 'fr', 'ARRÊTER'),
  c('arre\u0302ter', 'opt_out', 'fr', 'ARRÊTER'),
  c('Arrêt', 'opt_out', 'fr', 'ARRET'),
  c('arrêté', 'opt_out', 'fr', 'ARRETE'),
  c('párar', 'opt_out', 'pt', 'PARAR'),
  c('commencér', 'opt_in', 'fr', 'COMMENCER'),
  // Full-width and half-width forms (NFKC).
  c('ＳＴＯＰ', 'opt_out', 'en', 'STOP'),
  c('ｓｔａｒｔ', 'opt_in', 'en', 'START'),
  c('ＨＥＬＰ！', 'help', 'en', 'HELP'),
  c('ﾍﾙﾌﾟ', 'help', 'ja', 'ヘルプ'),
  // Default-ignorable characters inside and around.
  c('st\u200bop', 'opt_out', 'en', 'STOP'),
  c('\u200bSTOP\u200b', 'opt_out', 'en', 'STOP'),
  c('\ufeffstart', 'opt_in', 'en', 'START'),
  c('sto\u00adp', 'opt_out', 'en', 'STOP'),
  c('ST\u200dOP', 'opt_out', 'en', 'STOP'),
  c('停\u200c止', 'opt_out', 'ja', '停止'),
  // Unicode white space: NBSP, ideographic space, line separator.
  c('\u00a0stop\u00a0', 'opt_out', 'en', 'STOP'),
  c('\u3000停止\u3000', 'opt_out', 'ja', '停止'),
  c('stop\u3000all', 'opt_out', 'en', 'STOP ALL'),
  c('opt\u00a0out', 'opt_out', 'en', 'OPT OUT'),
  // Dashes inside a keyword read as white space (hyphen, non-breaking hyphen, en dash, em dash).
  c('OPT-OUT', 'opt_out', 'en', 'OPT OUT'),
  c('opt\u2011out', 'opt_out', 'en', 'OPT OUT'),
  c('Stop\u2013All', 'opt_out', 'en', 'STOP ALL'),
  c('stop \u2014 all!', 'opt_out', 'en', 'STOP ALL'),
  c('-stop-', 'opt_out', 'en', 'STOP'),
  c('stop-now', 'none', 'en', null, true),
  c('\u2028help\u2029', 'help', 'en', 'HELP'),
  // Right-to-left and bidi marks.
  c('\u200fSTOP\u200f', 'opt_out', 'en', 'STOP'),
  c('\u202bALTO\u202c', 'opt_out', 'es', 'ALTO'),
  c('\u2067help\u2069', 'help', 'en', 'HELP'),
  // Turkish dotted and dotless i.
  c('İNFO', 'help', 'en', 'INFO'),
  c('ınfo', 'help', 'en', 'INFO'),
  c('QUİT', 'opt_out', 'en', 'QUIT'),
  c('quıt', 'opt_out', 'en', 'QUIT'),
  c('UNSUBSCRİBE', 'opt_out', 'en', 'UNSUBSCRIBE'),
  c('inıcıar', 'opt_in', 'pt', 'INICIAR'),
  // Punctuation, symbols and emoji at the edges.
  c('STOP!', 'opt_out', 'en', 'STOP'),
  c('stop.', 'opt_out', 'en', 'STOP'),
  c('"Stop"', 'opt_out', 'en', 'STOP'),
  c('停止。', 'opt_out', 'ja', '停止'),
  c('停止！', 'opt_out', 'ja', '停止'),
  c('開始！！', 'opt_in', 'ja', '開始'),
  c('「ヘルプ」', 'help', 'ja', 'ヘルプ'),
  c('ヘルプ？', 'help', 'ja', 'ヘルプ'),
  c('¡alto!', 'opt_out', 'es', 'ALTO'),
  c('¿Ayuda?', 'help', 'es', 'AYUDA'),
  c('👍 stop', 'opt_out', 'en', 'STOP'),
  c('START 👍🏽', 'opt_in', 'en', 'START'),
  c('🛑🛑 STOP 🛑', 'opt_out', 'en', 'STOP'),
  c('❤️ empezar ❤️', 'opt_in', 'es', 'EMPEZAR'),
  c('🇩🇪 beenden', 'opt_out', 'de', 'BEENDEN'),
  c('#stop', 'opt_out', 'en', 'STOP'),
  c('*** Quit ***', 'opt_out', 'en', 'QUIT'),
  c('«AIDE»', 'help', 'fr', 'AIDE'),
  // Empty and emoji-only messages.
  c('', 'none', null, null),
  c('   ', 'none', null, null),
  c('👍', 'none', null, null),
  c('\u200b\u200b', 'none', null, null),
  c('!!!', 'none', null, null),
  // Near misses: not a keyword and no opt-out word.
  c('stopped', 'none', null, null),
  c('stopwatch', 'none', null, null),
  c('unstoppable', 'none', null, null),
  c('starting', 'none', null, null),
  c('halt', 'none', null, null),
  c('s t o p', 'none', null, null),
  c('1stop', 'none', null, null),
  c('ending', 'none', null, null),
  c('altos', 'none', null, null),
  c('helpful', 'none', null, null),
  c('startall', 'none', null, null),
  c('Can I start receiving messages?', 'none', null, null),
  c('I want to subscribe to the newsletter', 'none', null, null),
  c('Quiero empezar hoy', 'none', null, null),
  c('Je veux commencer', 'none', null, null),
  c('今日から開始します', 'none', null, null),
  c('Can you help me?', 'none', null, null),
  c('Necesito ayuda con mi pedido', 'none', null, null),
  // Opt-out words inside a sentence: no change, but a person reviews it.
  c('please stop texting me', 'none', 'en', null, true),
  c('stop stop', 'none', 'en', null, true),
  c('STOP!!! now', 'none', 'en', null, true),
  c('end of story', 'none', 'en', null, true),
  c('I want to opt out', 'none', 'en', null, true),
  c('I want to opt-out', 'none', 'en', null, true),
  c('Stop all of these, please', 'none', 'en', null, true),
  c('I said STOP.', 'none', 'en', null, true),
  c('cancel my subscription', 'none', 'en', null, true),
  c('Por favor, alto a los mensajes', 'none', 'es', null, true),
  c('Je veux arrêter les messages', 'none', 'fr', null, true),
  c('Quero parar de receber', 'none', 'pt', null, true),
  c('Bitte beenden Sie das', 'none', 'de', null, true),
  c('配信を停止してください', 'none', 'ja', null, true),
  c('一時停止', 'none', 'ja', null, true),
  c('please 停止', 'none', 'ja', null, true),
  // Japanese writes no space between a Latin word and kana or kanji: the change of script ends the word.
  c('STOPして', 'none', 'en', null, true),
  c('配信STOP', 'none', 'en', null, true),
  c('ＳＴＯＰでお願いします', 'none', 'en', null, true),
  c('STOPでお願いします', 'none', 'en', null, true),
  c('stopします', 'none', 'en', null, true),
  c('もうunsubscribeしたい', 'none', 'en', null, true),
  c('STOP ALLでお願い', 'none', 'en', null, true),
  c('STOP해 주세요', 'none', 'en', null, true),
  c('STOPPEDして', 'none', null, null),
  c('nonstopです', 'none', null, null),
  c('unstoppableな人', 'none', null, null),
  c('stopwatchを買った', 'none', null, null),
  c('nonstop', 'none', null, null),
  c('STARTして', 'none', null, null),
  c('HELPして', 'none', null, null),
  c('連絡先はstop@example.comです', 'none', null, null),
  c('詳しくはhttps://example.com/stopへ', 'none', null, null),
  // Words people write to unsubscribe that the table does not list: reviewed, never acted on.
  c('STOPP', 'none', 'de', null, true),
  c('Stopp!', 'none', 'de', null, true),
  c('abmelden', 'none', 'de', null, true),
  c('Ich möchte mich abmelden', 'none', 'de', null, true),
  c('ストップ', 'none', 'ja', null, true),
  c('ｽﾄｯﾌﾟ', 'none', 'ja', null, true),
  c('配信停止', 'none', 'ja', null, true),
  c('配信解除', 'none', 'ja', null, true),
  c('配信解除してください', 'none', 'ja', null, true),
  c('アンサブスクライブ', 'none', 'ja', null, true),
  c('BAJA', 'none', 'es', null, true),
  c('darme de baja', 'none', 'es', null, true),
  c('Quiero darme de baja', 'none', 'es', null, true),
  c('cancelar', 'none', 'es', null, true),
  c('Arrêtez', 'none', 'fr', null, true),
  c('arrêtez de m’écrire', 'none', 'fr', null, true),
  c('désabonner', 'none', 'fr', null, true),
  c('me desabonner', 'none', 'fr', null, true),
  c('sair', 'none', 'pt', null, true),
  c('pare', 'none', 'pt', null, true),
  c('cancelar inscrição', 'none', 'pt', null, true),
  c('quero cancelar inscricao', 'none', 'pt', null, true),
  // A keyword written with a dash inside is the keyword without it, when read with a space it is none.
  c('UN-SUBSCRIBE', 'opt_out', 'en', 'UNSUBSCRIBE'),
  c('Un-Stop', 'opt_in', 'en', 'UNSTOP'),
  c('UN-STOP please', 'none', 'en', null, true),
  c('start-stop', 'none', 'en', null, true),
  // Review words with an everyday meaning count alone, give or take a courtesy word, not in a sentence.
  c('Baja por favor', 'none', 'es', null, true),
  c('quero sair', 'none', 'pt', null, true),
  c('Pare!', 'none', 'pt', null, true),
  c('planta baja', 'none', null, null),
  c('vou sair agora', 'none', null, null),
  c('cancelar pedido', 'none', null, null),
  c('pare de mandar mensagens', 'none', null, null),
  // A katakana word running on into more katakana is a longer word: a stopwatch is no ストップ.
  c('ストップウォッチ', 'none', null, null),
  c('ノンストップ', 'none', null, null),
  c('配信ストップ', 'none', 'ja', null, true),
  c('ストップしてください', 'none', 'ja', null, true),
  c('un subscribe', 'none', 'en', null, true),
  c('unsuscribe', 'none', 'en', null, true),
  c('Stoppuhr', 'none', null, null),
  c('bajar', 'none', null, null),
  c('saira', 'none', null, null),
  c('parent', 'none', null, null),
  // An opt-out word only inside an e-mail address or a link is no request; beside one it still is.
  c('my email is stop@example.com', 'none', null, null),
  c('Write to unsubscribe.team@example.org', 'none', null, null),
  c('see https://example.com/stop-all?x=1', 'none', null, null),
  c('www.quit-smoking.example/end', 'none', null, null),
  c('HTTP://EXAMPLE.COM/停止', 'none', null, null),
  c('stop, my email is stop@example.com', 'none', 'en', null, true),
  c('https://example.com please stop', 'none', 'en', null, true),
  c('Stop.Thanks', 'none', 'en', null, true),
  // A link without a scheme: a dotted host with a top-level domain, then a slash.
  c('See example.com/stop', 'none', null, null),
  c('shop.example.co.uk/unsubscribe', 'none', null, null),
  c('EXAMPLE.COM/STOP', 'none', null, null),
  c('(quit-now.example.org/end)', 'none', null, null),
  c('example.com/stop, then stop', 'none', 'en', null, true),
  c('end.Then', 'none', 'en', null, true),
  c('end.Then/now', 'none', 'en', null, true),
  c('Stop.Now/ok', 'none', 'en', null, true),
  c('stop/end', 'none', 'en', null, true),
  c('stop.x/y', 'none', 'en', null, true),
  // Workspace-added keywords in several languages.
  c('join', 'opt_in', 'en', 'JOIN', false, withAdded),
  c('Yes  please!', 'opt_in', 'en', 'YES PLEASE', false, withAdded),
  c('no more', 'opt_out', 'en', 'NO MORE', false, withAdded),
  c('support', 'help', 'en', 'SUPPORT', false, withAdded),
  c('Baja', 'opt_out', 'es', 'BAJA', false, withAdded),
  c('no mas', 'opt_out', 'es', 'NO MÁS', false, withAdded),
  c('alta', 'opt_in', 'es', 'ALTA', false, withAdded),
  c('informacion', 'help', 'es', 'INFORMACIÓN', false, withAdded),
  c('desabonner', 'opt_out', 'fr', 'DÉSABONNER', false, withAdded),
  c('abmelden', 'opt_out', 'de', 'ABMELDEN', false, withAdded),
  c('anmelden', 'opt_in', 'de', 'ANMELDEN', false, withAdded),
  c('Sair', 'opt_out', 'pt', 'SAIR', false, withAdded),
  c('配信停止', 'opt_out', 'ja', '配信停止', false, withAdded),
  c('やめる。', 'opt_out', 'ja', 'やめる', false, withAdded),
  c('登録', 'opt_in', 'ja', '登録', false, withAdded),
  c('STOP', 'opt_out', 'en', 'STOP', false, withAdded),
  c('please remove me from this list', 'none', 'en', null, true, withAdded),
  c('quiero darme de baja', 'none', 'es', null, true, withAdded),
  c('もうやめるね', 'none', 'ja', null, true, withAdded),
  c('join', 'none', null, null),
  c('Stop', 'opt_out', 'es', 'stop', false, workspace({ es: { opt_out: ['stop'] } })),
  c('stop all', 'opt_out', 'en', 'STOP ALL', false, workspace({ es: { opt_out: ['stop'] } })),
  // Removed built-ins stop matching; a removed opt-out word still raises a review, alone or in a sentence.
  c('END', 'none', 'en', null, true, withRemoved),
  c('Cancel', 'none', 'en', null, true, withRemoved),
  c('stopall', 'none', 'en', null, true, withRemoved),
  c('info', 'none', null, null, false, withRemoved),
  c('alto', 'none', 'es', null, true, withRemoved),
  c('arrete', 'none', 'fr', null, true, withRemoved),
  c('arret', 'opt_out', 'fr', 'ARRET', false, withRemoved),
  c('QUIT', 'opt_out', 'en', 'QUIT', false, withRemoved),
  c('stop all', 'opt_out', 'en', 'STOP ALL', false, withRemoved),
  c('the end', 'none', 'en', null, true, withRemoved),
  c('please stop', 'none', 'en', null, true, withRemoved),
  // Stored opt-in and help keywords that are or hold an opt-out word never match: their message is reviewed.
  c('End', 'none', 'en', null, true, storedHoldingOptOutWords),
  c('stop please', 'none', 'en', null, true, storedHoldingOptOutWords),
  c("Don't stop", 'none', 'en', null, true, storedHoldingOptOutWords),
  c('yes no more', 'none', 'en', null, true, storedHoldingOptOutWords),
  c('no more', 'opt_out', 'en', 'NO MORE', false, storedHoldingOptOutWords),
  c('cancel order', 'none', 'en', null, true, storedHoldingOptOutWords),
  c('Alto', 'none', 'es', null, true, storedHoldingOptOutWords),
  c('stopします', 'none', 'en', null, true, storedHoldingOptOutWords),
  c('start', 'opt_in', 'en', 'START', false, storedHoldingOptOutWords),
  c('ayuda', 'help', 'es', 'AYUDA', false, storedHoldingOptOutWords),
  // STOP, START and HELP are never removable, even if validation was bypassed.
  c('STOP', 'opt_out', 'en', 'STOP', false, removesProtected),
  c('start', 'opt_in', 'en', 'START', false, removesProtected),
  c('Help', 'help', 'en', 'HELP', false, removesProtected),
  c('quit', 'none', 'en', null, true, removesProtected),
];

describe('classifyKeyword', () => {
  it('has a broad table', () => {
    expect(cases.length).toBeGreaterThanOrEqual(100);
    const languages = new Set(cases.map((entry) => entry.language));
    for (const language of LANGUAGES) expect(languages.has(language)).toBe(true);
  });

  it.each(cases.map((entry) => [JSON.stringify(entry.text), entry] as const))('%s', (_label, entry) => {
    const result = classifyKeyword(entry.text, entry.ws);
    expect({ intent: result.intent, language: result.language, keyword: result.keyword, review: result.review }).toEqual({
      intent: entry.intent,
      language: entry.language,
      keyword: entry.keyword,
      review: entry.review,
    });
    expect(result.normalized).toBe(normalizeText(entry.text));
  });

  it('returns exactly the five result fields', () => {
    expect(Object.keys(classifyKeyword('stop')).sort()).toEqual(['intent', 'keyword', 'language', 'normalized', 'review']);
  });

  it('recognises every keyword of the built-in table with its own language and intent', () => {
    for (const language of LANGUAGES) {
      for (const intent of ['opt_in', 'opt_out', 'help'] as const) {
        for (const keyword of BUILT_IN_KEYWORDS[language][intent]) {
          expect(classifyKeyword(keyword)).toMatchObject({ intent, language, keyword, review: false });
        }
      }
    }
  });

  it('keeps the table frozen', () => {
    expect(Object.isFrozen(BUILT_IN_KEYWORDS)).toBe(true);
    expect(Object.isFrozen(BUILT_IN_KEYWORDS.en.opt_out)).toBe(true);
  });
});

describe('normalizeText', () => {
  it.each([
    ['ＳＴＯＰ', 'STOP'],
    ['  Arrêter  ', 'ARRETER'],
    ['停止。', '停止'],
    ['¡alto!', 'ALTO'],
    ['👍 stop', 'STOP'],
    ['a \u00a0\u3000 b', 'A B'],
    ['İı', 'II'],
    ['ヘルプ', 'ヘルプ'],
    ['Straße', 'STRASSE'],
    ['why?! stop.', 'WHY?! STOP'],
    ['opt-out', 'OPT OUT'],
    ['e-mail \u2013 me', 'E MAIL ME'],
    ['', ''],
  ])('%j → %j', (input, expected) => {
    expect(normalizeText(input)).toBe(expected);
  });

  it('is idempotent', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (text) => {
        const once = normalizeText(text);
        expect(normalizeText(once)).toBe(once);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('properties', () => {
  it('classifyKeyword never throws and always returns the comparison form', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'grapheme', maxLength: 60 }), fc.string({ unit: 'binary', maxLength: 60 })),
        (text) => {
          const result = classifyKeyword(text, withAdded);
          expect(result.normalized).toBe(normalizeText(text));
          if (result.intent !== 'none') expect(result.review).toBe(false);
          if (result.normalized === '') expect(result.intent).toBe('none');
        },
      ),
      { numRuns: 2000 },
    );
  });

  const allKeywords = LANGUAGES.flatMap((language) =>
    (['opt_in', 'opt_out', 'help'] as const).flatMap((intent) =>
      BUILT_IN_KEYWORDS[language][intent].map((keyword) => ({ keyword, intent, language })),
    ),
  );
  const noise = fc.array(
    fc.constantFrom(' ', '\t', '\n', '\u00a0', '\u3000', '\u200b', '\ufeff', '\u200f', '!', '?', '.', '。', '！', '？', '¡', '¿', '"', '«', '»', '👍', '🛑', '❤️', '👍🏽', '*', '-', '(', ')'),
    { maxLength: 6 },
  );

  it('keeps the intent of any keyword surrounded by white space and punctuation', () => {
    fc.assert(
      fc.property(fc.constantFrom(...allKeywords), noise, noise, (entry, before, after) => {
        const result = classifyKeyword(`${before.join('')}${entry.keyword}${after.join('')}`);
        expect(result).toMatchObject({ intent: entry.intent, language: entry.language, keyword: entry.keyword, review: false });
      }),
      { numRuns: 1000 },
    );
  });

  it('trims only the edges: noise inside a message, however long its run, stays as one would read it', () => {
    const inner = fc.array(fc.constantFrom('!', '.', ' ', '-', '😀', '@', '/', ':'), { minLength: 1, maxLength: 30 });
    fc.assert(
      fc.property(noise, fc.constantFrom('a', 'stop', 'info'), inner, fc.constantFrom('b', 'now', 'x'), noise, (before, first, middle, last, after) => {
        const core = `${first}${middle.join('')}${last}`;
        expect(normalizeText(`${before.join('')}${core}${after.join('')}`)).toBe(normalizeText(core));
        expect(normalizeText(core).startsWith(first.toUpperCase())).toBe(true);
        expect(normalizeText(core).endsWith(last.toUpperCase())).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('reads the longest messages a channel takes, built to make a pattern match backtrack, as it reads short ones', () => {
    const run = (unit: string, length: number): string => unit.repeat(Math.ceil(length / unit.length)).slice(0, length);
    // 4,096 characters, the longest text POST /v1/messages takes.
    expect(normalizeText(`a${run('!', 4094)}a`)).toBe(`A${run('!', 4094)}A`);
    expect(normalizeText(`a${run('.', 4093)}a/`)).toBe(`A${run('.', 4093)}A`);
    expect(findPlainLanguageOptOut(`stop${run('.', 4000)}x`)).toEqual({ word: 'STOP', language: 'en' });
    // A run that looks like the start of a link or an address but is none is read as text.
    expect(findPlainLanguageOptOut(`${run('a.', 4000)} stop`)).toEqual({ word: 'STOP', language: 'en' });
    expect(findPlainLanguageOptOut(`@${run('a-', 4000)} stop`)).toEqual({ word: 'STOP', language: 'en' });
    // The same runs ending in a real address or link are skipped as before.
    expect(findPlainLanguageOptOut(`${run('a', 4000)}stop@example.com`)).toBeNull();
    expect(findPlainLanguageOptOut(`${run('a', 4000)} https://example.com/stop`)).toBeNull();
    // A link right after a dash, a plus, a dot or a digit is still a link.
    for (const before of ['-', '+', '1.', 'see:']) expect(findPlainLanguageOptOut(`${before}https://example.com/unsubscribe/stop`)).toBeNull();
  });

  it('reads the benchmark\'s crafted 4,096-character texts, and ones aimed at script changes and links without a scheme, in linear time', () => {
    const run = (unit: string, length: number): string => unit.repeat(Math.ceil(length / unit.length)).slice(0, length);
    const crafted: [string, boolean][] = [
      // bench/engine.ts craftedMessages
      [`a${run('!', 4094)}a`, false],
      [`a${run('.', 4093)}a/`, false],
      [`${run('a.', 4095)}/`, false],
      [`@${run('a-', 4095)}`, false],
      // A host that never gets its top-level domain or slash, read as text; one that does, skipped.
      [`${run('ab.', 4090)}Ab/ stop`, true],
      [`${run('a-', 4090)}/stop`, true],
      [`${run('a.', 4086)}com/stop`, false],
      // Scripts changing at every character, and a long kana run ending in a Latin opt-out word.
      [run('aあ', 4096), false],
      [`${run('あ', 4092)}STOP`, true],
      [`${run('stopあ', 4095)}`, true],
    ];
    const median = (times: number[]): number => [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)] ?? Infinity;
    for (const [text, review] of crafted) {
      expect(text.length).toBeGreaterThanOrEqual(4092);
      expect(classifyKeyword(text)).toMatchObject({ intent: 'none', review });
      const times: number[] = [];
      for (let reading = 0; reading < 5; reading += 1) {
        const started = performance.now();
        classifyKeyword(text);
        findPlainLanguageOptOut(text);
        times.push(performance.now() - started);
      }
      // A few milliseconds when read linearly; a quadratic reading of 4,096 characters takes far longer.
      expect(median(times), JSON.stringify(text.slice(0, 12))).toBeLessThan(50);
    }
  });

  it('flags any opt-out keyword inside a sentence for review and never acts on it', () => {
    const optOuts = allKeywords.filter((entry) => entry.intent === 'opt_out');
    fc.assert(
      fc.property(fc.constantFrom(...optOuts), fc.constantFrom('please', 'now', 'ok', 'thanks'), (entry, word) => {
        const result = classifyKeyword(`${word} ${entry.keyword} ${word}`);
        expect(result).toMatchObject({ intent: 'none', language: entry.language, keyword: null, review: true });
      }),
    );
  });

  it('flags any Latin opt-out keyword written against Japanese text for review', () => {
    const optOuts = allKeywords.filter((entry) => entry.intent === 'opt_out' && entry.language !== 'ja');
    fc.assert(
      fc.property(fc.constantFrom(...optOuts), fc.constantFrom('', 'して', 'でお願いします', 'します'), fc.constantFrom('', '配信', 'もう'), (entry, after, before) => {
        fc.pre(after !== '' || before !== '');
        const result = classifyKeyword(`${before}${entry.keyword}${after}`);
        expect(result).toMatchObject({ intent: 'none', keyword: null, review: true });
        expect(findPlainLanguageOptOut(`${before}${entry.keyword}${after}`)?.word).toBe(entry.keyword);
      }),
    );
  });

  it('flags every word of the review vocabulary alone, and in a sentence unless it has an everyday meaning, with its language, and never acts on it', () => {
    for (const language of LANGUAGES) {
      for (const word of REVIEW_WORDS[language]) {
        expect(classifyKeyword(word), word).toMatchObject({ intent: 'none', keyword: null, review: true });
        const alone = REVIEW_WORDS_ALONE.has(word);
        expect(findPlainLanguageOptOut(`ok ${word.toLowerCase()} ok`), word).toEqual(alone ? null : { word, language });
        if (alone) {
          for (const courtesy of COURTESY_WORDS) expect(findPlainLanguageOptOut(`${courtesy.toLowerCase()} ${word}!`), `${courtesy} ${word}`).toEqual({ word, language });
        }
      }
    }
  });
});

describe('isAllChannelsOptOut', () => {
  it.each([
    ['STOPALL', true],
    ['stop all', true],
    ['Stop  All!', true],
    ['STOP', false],
    ['UNSUBSCRIBE', false],
    ['START', false],
    ['please stop all', false],
  ])('%j → %s', (text, expected) => {
    expect(isAllChannelsOptOut(classifyKeyword(text))).toBe(expected);
  });
});

describe('findPlainLanguageOptOut', () => {
  it('names the longest opt-out word and its language', () => {
    expect(findPlainLanguageOptOut(normalizeText('please stop all of this'))).toEqual({ word: 'STOP ALL', language: 'en' });
    expect(findPlainLanguageOptOut(normalizeText('je voudrais arrêter'))).toEqual({ word: 'ARRÊTER', language: 'fr' });
    expect(findPlainLanguageOptOut(normalizeText('配信を停止して'))).toEqual({ word: '停止', language: 'ja' });
  });

  it('ignores opt-in and help words and partial words', () => {
    expect(findPlainLanguageOptOut(normalizeText('start helping me'))).toBeNull();
    expect(findPlainLanguageOptOut(normalizeText('unstoppable stopwatch'))).toBeNull();
  });

  it('uses workspace-added opt-out words, and still finds removed built-in ones', () => {
    expect(findPlainLanguageOptOut(normalizeText('please remove me now'), withAdded)).toEqual({ word: 'REMOVE ME', language: 'en' });
    expect(findPlainLanguageOptOut(normalizeText('please remove me now'))).toBeNull();
    expect(findPlainLanguageOptOut(normalizeText('dar de baja ya'), withAdded)).toEqual({ word: 'BAJA', language: 'es' });
    expect(findPlainLanguageOptOut(normalizeText('the end'), withRemoved)).toEqual({ word: 'END', language: 'en' });
  });

  it('does not read e-mail addresses and links, dashed host names included', () => {
    expect(findPlainLanguageOptOut('write to stop@my-company.example')).toBeNull();
    expect(findPlainLanguageOptOut('https://quit-now.example/stop, then stop')).toEqual({ word: 'STOP', language: 'en' });
  });
});

function validationError(k: WorkspaceKeywords, listSet?: Parameters<typeof validateWorkspaceKeywords>[1]): ConsentryError {
  try {
    validateWorkspaceKeywords(k, listSet);
  } catch (error) {
    if (error instanceof ConsentryError) return error;
    throw error;
  }
  throw new Error('expected validateWorkspaceKeywords to throw');
}

describe('validateWorkspaceKeywords', () => {
  it('accepts the workspaces used above', () => {
    expect(() => validateWorkspaceKeywords(withAdded)).not.toThrow();
    expect(() => validateWorkspaceKeywords(withRemoved)).not.toThrow();
    expect(() => validateWorkspaceKeywords({})).not.toThrow();
  });

  it.each([
    ['STOP', 'en', 'keywords.en.removed.1'],
    [' start ', 'en', 'keywords.en.removed.1'],
    ['Help!', 'en', 'keywords.en.removed.1'],
    ['ＳＴＯＰ', 'en', 'keywords.en.removed.1'],
    ['STOP', 'es', 'keywords.es.removed.1'],
  ])('refuses to remove %j (%s)', (word, language, path) => {
    const error = validationError(workspace({ [language]: { removed: [language === 'en' ? 'QUIT' : 'ALTO', word] } }));
    expect(error.code).toBe('KEYWORD_NOT_REMOVABLE');
    expect(error.issues.map((issue) => issue.path)).toEqual([path]);
    expect(error.message).toContain(path);
  });

  it('reports every issue under KEYWORD_NOT_REMOVABLE when both kinds occur', () => {
    const error = validationError(workspace({ en: { removed: ['HELP'], opt_in: ['🙂'] } }));
    expect(error.code).toBe('KEYWORD_NOT_REMOVABLE');
    expect(error.issues.map((issue) => issue.path)).toEqual(['keywords.en.removed.0', 'keywords.en.opt_in.0']);
  });

  it('words its message as its issues, path: message each, whichever code it answers under', () => {
    const notRemovable = validationError(workspace({ en: { removed: ['HELP'], opt_in: ['🙂'] } }));
    expect(notRemovable.message).toBe(
      'keywords.en.removed.0: HELP cannot be removed: STOP, START and HELP are always keywords; ' +
        'keywords.en.opt_in.0: "🙂" is empty once punctuation, symbols and white space are removed',
    );
    const invalid = validationError(workspace({ es: { opt_in: ['stop'] } }));
    expect(invalid.message).toBe('keywords.es.opt_in.0: "stop" is already the opt_out keyword STOP (en)');
  });

  it('refuses a keyword listed twice in one list, compared as a message is, in every list it checks', () => {
    const readsAs = (first: string, word: string) => `it reads as ${first} (${JSON.stringify(word)}) does, as keywords are compared (letter case, accents and the punctuation around them aside)`;
    const error = validationError(workspace({ es: { opt_out: ['baja', 'BAJA', 'Baja!'], removed: ['ALTO', 'Alto'] }, fr: { help: ['AIDE-MOI', 'aide moi', 'AIDE-MOI'] } }));
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.issues).toEqual([
      { path: 'keywords.es.removed.1', message: `"Alto" is listed twice: ${readsAs('keywords.es.removed.0', 'ALTO')}` },
      { path: 'keywords.es.opt_out.1', message: `"BAJA" is listed twice: ${readsAs('keywords.es.opt_out.0', 'baja')}` },
      { path: 'keywords.es.opt_out.2', message: `"Baja!" is listed twice: ${readsAs('keywords.es.opt_out.0', 'baja')}` },
      { path: 'keywords.fr.help.1', message: `"aide moi" is listed twice: ${readsAs('keywords.fr.help.0', 'AIDE-MOI')}` },
      { path: 'keywords.fr.help.2', message: '"AIDE-MOI" is listed twice' },
    ]);
    // Accents aside too: ARRÊTER is ARRETER.
    expect(validationError(workspace({ de: { opt_out: ['arrêter', 'ARRETER'] } })).issues.map((issue) => issue.path)).toEqual(['keywords.de.opt_out.1']);
  });

  it('refuses a keyword listed twice only in the lists a change sets', () => {
    const stored = workspace({ es: { opt_out: ['baja', 'BAJA'], help: ['MENU'], removed: ['ALTO', 'alto'] } });
    expect(() => validateWorkspaceKeywords(stored, () => false)).not.toThrow();
    expect(() => validateWorkspaceKeywords(stored, (language, list) => language === 'es' && list === 'help')).not.toThrow();
    expect(validationError(stored, (_language, list) => list === 'opt_out').issues.map((issue) => issue.path)).toEqual(['keywords.es.opt_out.1']);
    expect(validationError(stored, (_language, list) => list === 'removed').issues.map((issue) => issue.path)).toEqual(['keywords.es.removed.1']);
  });

  it.each([
    ['an added opt-in word equal to STOP', { en: { opt_in: ['JOIN', 'stop'] } }, 'keywords.en.opt_in.1'],
    ['an opt-in word that is another language\'s opt-out', { de: { opt_in: ['Alto'] } }, 'keywords.de.opt_in.0'],
    ['a help word equal to START', { fr: { help: ['START'] } }, 'keywords.fr.help.0'],
    ['an opt-out word equal to HELP', { ja: { opt_out: ['ＨＥＬＰ'] } }, 'keywords.ja.opt_out.0'],
    ['an opt-out word equal to an opt-in built-in', { pt: { opt_out: ['empezar'] } }, 'keywords.pt.opt_out.0'],
    ['two added words of different intents', { en: { opt_in: ['JOIN'] }, es: { opt_out: ['join'] } }, 'keywords.es.opt_out.0'],
    ['a word that is empty after normalisation', { en: { opt_out: ['!!!'] } }, 'keywords.en.opt_out.0'],
    ['an emoji-only word', { es: { help: ['👍'] } }, 'keywords.es.help.0'],
    ['a keyword of four words', { en: { opt_out: ['please do not text'] } }, 'keywords.en.opt_out.0'],
    ['a removed word that is not a built-in of that language', { es: { removed: ['QUIT'] } }, 'keywords.es.removed.0'],
  ])('refuses %s', (_label, input, path) => {
    const error = validationError(workspace(input));
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.issues.map((issue) => issue.path)).toEqual([path]);
  });

  it('accepts three-word keywords, a built-in opt-out word added to another language, and opt-out words holding one', () => {
    expect(() => validateWorkspaceKeywords(workspace({ en: { opt_out: ['do not text'] } }))).not.toThrow();
    expect(() => validateWorkspaceKeywords(workspace({ es: { opt_out: ['stop'] } }))).not.toThrow();
    expect(() => validateWorkspaceKeywords(workspace({ en: { opt_out: ['stop texting'], removed: ['END'] }, es: { opt_out: ['darme de baja', 'BAJA'] } }))).not.toThrow();
  });

  it.each([
    ['a switched-off opt-out word added back as opt-in', { en: { removed: ['END'], opt_in: ['END'] } }, 'keywords.en.opt_in.0', 'the opt-out word END (en)'],
    ['a switched-off opt-out word added back as opt-in, in another spelling', { en: { removed: ['CANCEL'], opt_in: ['cancel'] } }, 'keywords.en.opt_in.0', 'the opt-out word CANCEL (en)'],
    ['a switched-off opt-out word added back as help', { es: { removed: ['ALTO'], help: ['alto'] } }, 'keywords.es.help.0', 'the opt-out word ALTO (es)'],
    ['an opt-in phrase around STOP', { en: { opt_in: ['JOIN', 'STOP PLEASE'] } }, 'keywords.en.opt_in.1', 'the opt-out word STOP (en)'],
    ['an opt-in phrase around STOP, with an apostrophe', { en: { opt_in: ["don't stop"] } }, 'keywords.en.opt_in.0', 'the opt-out word STOP (en)'],
    ['a help phrase around CANCEL', { en: { help: ['CANCEL ORDER'] } }, 'keywords.en.help.0', 'the opt-out word CANCEL (en)'],
    ['an opt-in phrase around another language\'s opt-out word', { de: { opt_in: ['nicht parar'] } }, 'keywords.de.opt_in.0', 'the opt-out word PARAR (pt)'],
    ['an opt-in phrase around a switched-off word of another language', { fr: { removed: ['ARRETE'] }, en: { opt_in: ['arrete pas'] } }, 'keywords.en.opt_in.0', 'the opt-out word ARRETE (fr)'],
    ['a Japanese help word holding 停止', { ja: { help: ['停止方法'] } }, 'keywords.ja.help.0', 'the opt-out word 停止 (ja)'],
    ['a Latin opt-out word written against kana', { ja: { opt_in: ['STOPしない'] } }, 'keywords.ja.opt_in.0', 'the opt-out word STOP (en)'],
    ['a word people write to unsubscribe', { es: { help: ['darme de baja'] } }, 'keywords.es.help.0', 'DARME DE BAJA (es), a word people write to unsubscribe'],
    ['a word people write to unsubscribe that counts alone', { es: { help: ['baja por favor'] } }, 'keywords.es.help.0', 'BAJA (es), a word people write to unsubscribe'],
    ["an opt-in phrase around the workspace's own opt-out keyword", { en: { opt_out: ['NO MORE'], opt_in: ['yes no more'] } }, 'keywords.en.opt_in.0', "the workspace's opt-out keyword NO MORE (en)"],
    ["a help phrase around another language's added opt-out keyword", { pt: { help: ['me tire daqui'] }, de: { opt_out: ['tire'] } }, 'keywords.pt.help.0', "the workspace's opt-out keyword tire (de)"],
  ])('refuses %s, naming the field and the opt-out word', (_label, input, path, held) => {
    const error = validationError(workspace(input));
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.issues.map((issue) => issue.path)).toEqual([path]);
    expect(error.issues[0]?.message).toContain(held);
    expect(error.issues[0]?.message).toContain(path.includes('.help.') ? 'must never be answered with the help text' : 'must never record consent');
    expect(error.message).toContain(path);
  });

  it('accepts opt-in and help keywords holding a near miss of an opt-out word', () => {
    const nearMisses = workspace({ en: { opt_in: ['nonstop news', 'unstoppable', 'weekend deals'], help: ['stopwatch help', 'quitting tips'] }, ja: { opt_in: ['STOPPEDです'] } });
    expect(() => validateWorkspaceKeywords(nearMisses)).not.toThrow();
    expect(classifyKeyword('nonstop news', nearMisses)).toMatchObject({ intent: 'opt_in', keyword: 'nonstop news', review: false });
    expect(classifyKeyword('Stopwatch help', nearMisses)).toMatchObject({ intent: 'help', keyword: 'stopwatch help', review: false });
  });

  it('checks for opt-out words only the lists a change sets, so stored settings holding them still pass', () => {
    const listSetOnly = (language: string, list: string) => (wanted: Language, wantedList: string) => wanted === language && wantedList === list;
    expect(() => validateWorkspaceKeywords(storedHoldingOptOutWords, () => false)).not.toThrow();
    expect(() => validateWorkspaceKeywords(storedHoldingOptOutWords, listSetOnly('fr', 'opt_in'))).not.toThrow();
    expect(validationError(storedHoldingOptOutWords).issues.map((issue) => issue.path)).toEqual([
      'keywords.en.opt_in.0',
      'keywords.en.opt_in.1',
      'keywords.en.opt_in.2',
      'keywords.en.opt_in.3',
      'keywords.en.help.0',
      'keywords.es.help.0',
      'keywords.ja.opt_in.0',
    ]);
    // Setting the opt-out list flags only the opt-in and help keywords holding one of its words.
    const error = validationError(storedHoldingOptOutWords, listSetOnly('en', 'opt_out'));
    expect(error.issues.map((issue) => issue.path)).toEqual(['keywords.en.opt_in.3']);
    expect(validationError(storedHoldingOptOutWords, listSetOnly('es', 'help')).issues.map((issue) => issue.path)).toEqual(['keywords.es.help.0']);
    // The clash of exact forms is checked on every change, as before.
    expect(validationError(workspace({ en: { opt_in: ['STOP'] } }), () => false).issues.map((issue) => issue.path)).toEqual(['keywords.en.opt_in.0']);
  });

  it('leaves no built-in opt-in or help keyword holding an opt-out or review word', () => {
    for (const language of LANGUAGES) {
      for (const intent of ['opt_in', 'help'] as const) {
        for (const keyword of BUILT_IN_KEYWORDS[language][intent]) {
          expect(findPlainLanguageOptOut(keyword), keyword).toBeNull();
        }
      }
    }
  });
});

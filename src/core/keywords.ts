/**
 * Opt-in / opt-out / help keyword recognition (DESIGN §3).
 *
 * The default table follows HubSpot's WhatsApp consent keywords
 * (https://knowledge.hubspot.com/inbox/collect-consent-for-whatsapp-conversations)
 * plus the US FCC 2024 revocation words "stop, quit, end, revoke, opt out, cancel,
 * unsubscribe" (FCC 24-24, 47 CFR 64.1200(a)(10), https://www.govinfo.gov/content/pkg/FR-2024-03-05/html/2024-04587.htm).
 */
import { ConsentryError, describeIssues, type FieldIssue } from './errors.js';
import { shownValue } from './required.js';
import { LANGUAGES, listedTwiceMessage, type Language, type WorkspaceSettings } from './settings.js';
import { foldCompatibilityForms } from './text.js';

/**
 * Accents are compared away (ARRÊTER = ARRETER), but only the generic combining
 * diacritic blocks are stripped: the kana voicing marks U+3099/U+309A must survive
 * NFD, or ヘルプ would collapse into the different word ヘルフ.
 */
const COMBINING_DIACRITICS = /[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]/gu;
/**
 * White space, punctuation, symbols (emoji are \p{So}/\p{Sk}), marks and other non-text at either
 * end. The trailing run is tried only where a run of them starts (the lookbehind): tried at every
 * position, a long run inside the text ("a!!!…!!!a") would be read again from each of its
 * characters, quadratic in its length, and anyone who can send a message could send one.
 */
const EDGE_NOISE = /^[\p{White_Space}\p{P}\p{S}\p{M}\p{C}]+|(?<![\p{White_Space}\p{P}\p{S}\p{M}\p{C}])[\p{White_Space}\p{P}\p{S}\p{M}\p{C}]+$/gu;
/**
 * Dashes left inside once the edges are trimmed read as spaces: people write the FCC's
 * "opt out" as OPT-OUT as often as not, and STOP-ALL means STOP ALL.
 */
const INNER_DASHES = /\p{Pd}/gu;
const INNER_WHITE_SPACE = /\p{White_Space}+/gu;
/** Text that every step of normalizeOnce but upper-casing leaves as it is. */
const PLAIN_ASCII_WORDS = /^[A-Za-z0-9]+(?: [A-Za-z0-9]+)*$/;

function normalizeOnce(text: string): string {
  return foldCompatibilityForms(text)
    .toUpperCase()
    .normalize('NFD')
    .replace(COMBINING_DIACRITICS, '')
    .normalize('NFC')
    .replace(EDGE_NOISE, '')
    .replace(INNER_DASHES, ' ')
    .replace(INNER_WHITE_SPACE, ' ');
}

/**
 * The comparison form of a message or keyword (DESIGN §3): NFKC, default-ignorable
 * code points dropped, leading/trailing white space, punctuation, symbols and emoji
 * dropped, inner dashes read as white space and inner white space collapsed to one space,
 * upper-cased, accents removed.
 *
 * Upper case is the comparison form because it is the only locale-free case mapping
 * that folds the Turkish letters sensibly: 'ı'.toUpperCase() is 'I' and 'İ' loses
 * its dot with the other accents, so İNFO, info and ınfo all read INFO, whereas
 * toLowerCase() keeps 'ı' apart from 'i' and turns 'İ' into 'i' + U+0307.
 * Upper-casing can expand (ß → SS) or yield characters that NFKC would rewrite,
 * so the steps repeat until the text is stable, which makes the function idempotent.
 */
export function normalizeText(text: string): string {
  // Plain ASCII words are already in comparison form once upper-cased, and most messages are.
  if (PLAIN_ASCII_WORDS.test(text)) return text.toUpperCase();
  let current = text;
  for (let round = 0; round < 4; round += 1) {
    const next = normalizeOnce(current);
    if (next === current) return next;
    current = next;
  }
  return current;
}

export type KeywordIntent = 'opt_in' | 'opt_out' | 'help' | 'none';
type MatchIntent = Exclude<KeywordIntent, 'none'>;
/** The lists of added keywords a workspace has per language (`settings.keywords.<lang>.<list>`). */
export type KeywordListName = MatchIntent;
/** Every keyword list of a language: the added ones and `removed`. */
export type KeywordListKey = KeywordListName | 'removed';

export interface KeywordResult {
  intent: KeywordIntent;
  language: Language | null;
  /** The keyword as spelled in the table (or as the workspace added it), not the sender's spelling. */
  keyword: string | null;
  /** The message in comparison form (see normalizeText). */
  normalized: string;
  /** True when the message is not a keyword but contains an opt-out word: a person must look. */
  review: boolean;
}

export type WorkspaceKeywords = WorkspaceSettings['keywords'];

export interface KeywordSet {
  readonly opt_in: readonly string[];
  readonly opt_out: readonly string[];
  readonly help: readonly string[];
}

export const BUILT_IN_KEYWORDS: Readonly<Record<Language, KeywordSet>> = Object.freeze({
  en: Object.freeze({
    opt_in: Object.freeze(['START', 'SUBSCRIBE', 'UNSTOP']),
    opt_out: Object.freeze(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'REVOKE', 'OPTOUT', 'OPT OUT', 'STOP ALL']),
    help: Object.freeze(['HELP', 'INFO']),
  }),
  es: Object.freeze({ opt_in: Object.freeze(['EMPEZAR']), opt_out: Object.freeze(['ALTO']), help: Object.freeze(['AYUDA']) }),
  fr: Object.freeze({
    opt_in: Object.freeze(['COMMENCER']),
    opt_out: Object.freeze(['ARRÊTER', 'ARRET', 'ARRETE']),
    help: Object.freeze(['AIDE']),
  }),
  pt: Object.freeze({ opt_in: Object.freeze(['INICIAR']), opt_out: Object.freeze(['PARAR']), help: Object.freeze(['AJUDA']) }),
  de: Object.freeze({ opt_in: Object.freeze(['LOSLEGEN']), opt_out: Object.freeze(['BEENDEN']), help: Object.freeze(['HILFE']) }),
  ja: Object.freeze({ opt_in: Object.freeze(['開始']), opt_out: Object.freeze(['停止']), help: Object.freeze(['ヘルプ']) }),
});

/**
 * Words people write to unsubscribe that DESIGN §3's table does not list: carrier and market
 * spellings (German STOPP, Spanish BAJA, Japanese ストップ and 配信停止), other verb forms and
 * common misspellings. The table is exact, so they never unsubscribe by themselves, but a message
 * that is or contains one is a possible plain-language revocation, which US rules make binding
 * (47 CFR 64.1200(a)(10)): it raises `optout.review_needed` so a person decides. UN-SUBSCRIBE is
 * covered by UN SUBSCRIBE (inner dashes read as spaces), and ｽﾄｯﾌﾟ by ストップ (NFKC).
 */
export const REVIEW_WORDS: Readonly<Record<Language, readonly string[]>> = Object.freeze({
  en: Object.freeze(['UN SUBSCRIBE', 'UNSUSCRIBE']),
  es: Object.freeze(['BAJA', 'DARME DE BAJA', 'CANCELAR']),
  fr: Object.freeze(['ARRÊTEZ', 'DÉSABONNER']),
  pt: Object.freeze(['SAIR', 'PARE', 'CANCELAR INSCRIÇÃO']),
  de: Object.freeze(['STOPP', 'ABMELDEN']),
  ja: Object.freeze(['ストップ', '配信停止', '配信解除', 'アンサブスクライブ']),
});

/**
 * REVIEW_WORDS with an everyday meaning besides unsubscribing (es BAJA "ground floor", CANCELAR
 * "cancel an order", pt SAIR "go out", PARE "stop, halt"): they raise a review only when the
 * message is the word alone, give or take COURTESY_WORDS ("baja por favor", "quero sair"), not
 * wherever they appear ("planta baja", "vou sair").
 */
export const REVIEW_WORDS_ALONE: ReadonlySet<string> = new Set(['BAJA', 'CANCELAR', 'SAIR', 'PARE']);
/** Words around a REVIEW_WORDS_ALONE word that leave it alone: please, thanks, I want, now. */
export const COURTESY_WORDS: ReadonlySet<string> = new Set(['POR', 'FAVOR', 'PORFAVOR', 'PORFA', 'GRACIAS', 'OBRIGADO', 'OBRIGADA', 'QUIERO', 'QUERO', 'YA', 'JA']);

/** DESIGN §3: STOP, START and HELP can't be removed by a workspace. */
const PROTECTED_KEYWORDS: ReadonlyMap<string, MatchIntent> = new Map([
  ['STOP', 'opt_out'],
  ['START', 'opt_in'],
  ['HELP', 'help'],
]);
const ALL_CHANNELS_OPT_OUT = new Set(['STOPALL', 'STOP ALL']);
const MATCH_INTENTS: readonly MatchIntent[] = ['opt_out', 'opt_in', 'help'];
const MAX_KEYWORD_WORDS = 3;

interface KeywordEntry {
  intent: MatchIntent;
  language: Language;
  keyword: string;
  normalized: string;
  addedByWorkspace: boolean;
  /** A REVIEW_WORDS entry: scanned for, never matched exactly. */
  reviewOnly: boolean;
  /** Found only as the whole message, give or take COURTESY_WORDS (REVIEW_WORDS_ALONE). */
  alone: boolean;
  /** How findOptOutEntry looks for it: as a substring (unspaced scripts) or as these words. */
  unspaced: boolean;
  words: readonly string[];
}

/** Scripts written without spaces between words: a keyword in them is looked for as a substring. */
const UNSPACED_SCRIPT = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/u;
/**
 * A word: a run of letters, digits and marks of one kind, either Han, kana and Hangul (by
 * Script_Extensions, so the long-vowel mark ー and the voicing marks count with the kana) or
 * anything else. Japanese puts no space between a Latin word and the kana or kanji around it
 * ("STOPして", "配信STOP"), so the change of script is where one word ends, as UAX #29's word
 * boundaries have it between Latin letters and kana or Han; Korean attaches its particles to a
 * Latin word the same way ("STOP해"), so Hangul is read alike.
 */
const WORD = /(?:(?=[\p{scx=Han}\p{scx=Hira}\p{scx=Kana}\p{scx=Hang}])[\p{L}\p{N}\p{M}])+|(?:(?![\p{scx=Han}\p{scx=Hira}\p{scx=Kana}\p{scx=Hang}])[\p{L}\p{N}\p{M}])+/gu;

function words(normalized: string): string[] {
  return normalized.match(WORD) ?? [];
}

function keywordEntry(intent: MatchIntent, language: Language, keyword: string, normalized: string, addedByWorkspace: boolean, reviewOnly = false): KeywordEntry {
  const alone = reviewOnly && REVIEW_WORDS_ALONE.has(normalized);
  return { intent, language, keyword, normalized, addedByWorkspace, reviewOnly, alone, unspaced: UNSPACED_SCRIPT.test(normalized), words: words(normalized) };
}

const BUILT_IN_ENTRIES: readonly KeywordEntry[] = LANGUAGES.flatMap((language) =>
  MATCH_INTENTS.flatMap((intent) =>
    BUILT_IN_KEYWORDS[language][intent].map((keyword) => keywordEntry(intent, language, keyword, normalizeText(keyword), false)),
  ),
);
const BUILT_IN_OPT_OUT_ENTRIES: readonly KeywordEntry[] = BUILT_IN_ENTRIES.filter((entry) => entry.intent === 'opt_out');
const REVIEW_ENTRIES: readonly KeywordEntry[] = LANGUAGES.flatMap((language) =>
  REVIEW_WORDS[language].map((word) => keywordEntry('opt_out', language, word, normalizeText(word), false, true)),
);

function removedForms(workspaceKeywords: WorkspaceKeywords | undefined, language: Language): Set<string> {
  const removed = workspaceKeywords?.[language]?.removed ?? [];
  return new Set(removed.map(normalizeText).filter((form) => !PROTECTED_KEYWORDS.has(form)));
}

function hasOwnKeywords(workspaceKeywords: WorkspaceKeywords): boolean {
  for (const language of LANGUAGES) {
    const own = workspaceKeywords[language];
    if (own === undefined) continue;
    if ((own.removed?.length ?? 0) > 0 || MATCH_INTENTS.some((intent) => (own[intent]?.length ?? 0) > 0)) return true;
  }
  return false;
}

/**
 * The keywords in force, indexed for classification: the entry each exact comparison form
 * resolves to (pickEntry over every entry with that form, in table order), and the words
 * findOptOutEntry scans for, in this order: the opt-out keywords in force, the built-in opt-out
 * words a workspace switched off, then REVIEW_WORDS. A switched-off word no longer unsubscribes
 * by itself, but a message that is or contains it is still a possible revocation (END, CANCEL,
 * QUIT and REVOKE are on the US FCC 2024 list), so it is flagged for review rather than ignored.
 * For the same reason a keyword a workspace added as opt-in or help that is or holds one of the
 * scanned words resolves to nothing and its message is reviewed: settings stored before such
 * keywords were refused (validateWorkspaceKeywords) must not turn a revocation into consent or
 * answer it with the help text.
 */
interface KeywordTable {
  readonly entries: readonly KeywordEntry[];
  readonly exact: ReadonlyMap<string, KeywordEntry>;
  readonly optOut: readonly KeywordEntry[];
}

function keywordTable(entries: readonly KeywordEntry[], removedOptOuts: readonly KeywordEntry[] = []): KeywordTable {
  const optOut = [...entries.filter((entry) => entry.intent === 'opt_out'), ...removedOptOuts, ...REVIEW_ENTRIES];
  const candidatesByForm = new Map<string, KeywordEntry[]>();
  for (const entry of entries) {
    if (entry.addedByWorkspace && entry.intent !== 'opt_out' && findOptOutEntry(entry.normalized, optOut) !== undefined) continue;
    const candidates = candidatesByForm.get(entry.normalized);
    if (candidates === undefined) candidatesByForm.set(entry.normalized, [entry]);
    else candidates.push(entry);
  }
  const exact = new Map<string, KeywordEntry>();
  for (const [form, candidates] of candidatesByForm) {
    const picked = pickEntry(candidates);
    if (picked !== undefined) exact.set(form, picked);
  }
  return { entries, exact, optOut };
}

const BUILT_IN_TABLE: KeywordTable = keywordTable(BUILT_IN_ENTRIES);

/**
 * Workspaces' keyword tables by their JSON text: every message is classified against them, and
 * settings are read afresh in each transaction, so the object is new each time but its text is not.
 */
const TABLE_CACHE_LIMIT = 64;
const tableCache = new Map<string, KeywordTable>();

/** The keywords in force for a workspace: built-ins minus removed ones (never STOP/START/HELP), plus added ones. */
function activeTable(workspaceKeywords: WorkspaceKeywords | undefined): KeywordTable {
  if (workspaceKeywords === undefined || !hasOwnKeywords(workspaceKeywords)) return BUILT_IN_TABLE;
  const cacheKey = JSON.stringify(workspaceKeywords);
  const cached = tableCache.get(cacheKey);
  if (cached !== undefined) return cached;
  const entries = buildEntries(workspaceKeywords);
  const kept = new Set(entries);
  const table = keywordTable(
    entries,
    BUILT_IN_OPT_OUT_ENTRIES.filter((entry) => !kept.has(entry)),
  );
  if (tableCache.size >= TABLE_CACHE_LIMIT) tableCache.clear();
  tableCache.set(cacheKey, table);
  return table;
}

function buildEntries(workspaceKeywords: WorkspaceKeywords): readonly KeywordEntry[] {
  const removedByLanguage = new Map(LANGUAGES.map((language) => [language, removedForms(workspaceKeywords, language)]));
  const entries = BUILT_IN_ENTRIES.filter((entry) => !removedByLanguage.get(entry.language)?.has(entry.normalized));
  for (const language of LANGUAGES) {
    const own = workspaceKeywords[language];
    if (own === undefined) continue;
    for (const intent of MATCH_INTENTS) {
      for (const keyword of own[intent] ?? []) {
        const normalized = normalizeText(keyword);
        if (normalized === '') continue;
        entries.push(keywordEntry(intent, language, keyword.trim(), normalized, true));
      }
    }
  }
  return entries;
}

/**
 * Picks one entry when several match the same text. A protected keyword keeps its
 * built-in meaning; otherwise opt-out wins, because an unhonoured revocation is the
 * costly mistake (FCC 24-24). Within the chosen intent a workspace's own keyword wins,
 * so a word the workspace added for Spanish is confirmed in Spanish.
 */
function pickEntry(candidates: readonly KeywordEntry[]): KeywordEntry | undefined {
  const first = candidates[0];
  if (first === undefined) return undefined;
  const protectedIntent = PROTECTED_KEYWORDS.get(first.normalized);
  const intent = protectedIntent ?? MATCH_INTENTS.find((wanted) => candidates.some((entry) => entry.intent === wanted));
  const sameIntent = candidates.filter((entry) => entry.intent === intent);
  return sameIntent.find((entry) => entry.addedByWorkspace) ?? sameIntent[0];
}

function containsWordSequence(haystack: readonly string[], needle: readonly string[]): boolean {
  const length = needle.length;
  if (length === 0) return false;
  for (let start = 0; start + length <= haystack.length; start += 1) {
    let offset = 0;
    while (offset < length && haystack[start + offset] === needle[offset]) offset += 1;
    if (offset === length) return true;
  }
  return false;
}

/**
 * E-mail addresses and links in a message. A word inside one names a mailbox or a page
 * ("stop@example.com", "https://example.com/stop"), not a request, so the plain-language scan
 * skips them. Only unmistakable forms count: a scheme or www. starts a link, an address has a
 * dotted domain after its @; "Stop.Thanks" stays text. Matched before normalisation, which
 * reads the dashes inside a host name as spaces. A scheme is at most 32 characters and a mailbox
 * is matched only from the start of its run of characters (the lookbehind), so a long run that
 * turns out to be neither is read a bounded number of times, not once from each of its characters.
 */
const ADDRESSES_AND_LINKS =
  /\b[a-z][a-z0-9+.-]{0,31}:\/\/\S*|\bwww\.\S+|(?<![\p{L}\p{N}._%+-])[\p{L}\p{N}._%+-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)+/giu;
/**
 * A link written without its scheme, as chat apps still make it clickable ("example.com/stop",
 * "shop.example.co.uk/unsubscribe"): a dotted host name of ASCII labels of at most 63 characters
 * (RFC 1035 §2.3.4), a last label of 2 to 24 letters in one case, as top-level domains are
 * written, then a slash. The slash and the single-case last label keep ordinary text out:
 * "end.Then" and "Stop.Now/ok" are read as words. Like a mailbox, it starts only where its run
 * of host characters starts.
 */
const SCHEMELESS_LINKS = /(?<![A-Za-z0-9._%+@/-])(?:[A-Za-z0-9][A-Za-z0-9-]{0,62}\.)+(?:[a-z]{2,24}|[A-Z]{2,24})\/\S*/gu;
const MAY_HOLD_ADDRESS_OR_LINK = /[@/]|www\./i;

/** The comparison form the plain-language scan reads: the message's (`normalized`, when known), without its addresses and links. */
function reviewForm(text: string, normalized?: string): string {
  if (!MAY_HOLD_ADDRESS_OR_LINK.test(text)) return normalized ?? normalizeText(text);
  const withoutLinks = text.replace(ADDRESSES_AND_LINKS, ' ');
  return normalizeText(withoutLinks.includes('/') ? withoutLinks.replace(SCHEMELESS_LINKS, ' ') : withoutLinks);
}

const KATAKANA = /[\p{scx=Kana}]/u;

/**
 * Whether `text` holds `keyword`, of an unspaced script, as a word: a substring, except that a
 * katakana keyword running on into more katakana is part of a longer word (ストップウォッチ,
 * "stopwatch", is no ストップ), as katakana loanwords are written one after another unbroken.
 */
function holdsUnspaced(text: string, keyword: string): boolean {
  const startsKatakana = KATAKANA.test(keyword.at(0) ?? '');
  const endsKatakana = KATAKANA.test(keyword.at(-1) ?? '');
  for (let at = text.indexOf(keyword); at !== -1; at = text.indexOf(keyword, at + 1)) {
    const before = at > 0 ? (text.at(at - 1) ?? '') : '';
    const after = text.at(at + keyword.length) ?? '';
    if (!(startsKatakana && KATAKANA.test(before)) && !(endsKatakana && KATAKANA.test(after))) return true;
  }
  return false;
}

/** Whether the message's words are `entry`'s words alone, give or take COURTESY_WORDS. */
function isAlone(messageWords: readonly string[], entry: KeywordEntry): boolean {
  const meant = messageWords.filter((word) => !COURTESY_WORDS.has(word));
  return meant.length === entry.words.length && meant.every((word, index) => word === entry.words[index]);
}

/** The longest of `optOut` that `text` (in comparison form) is or holds: a whole word or words, or a substring in an unspaced script. */
function findOptOutEntry(text: string, optOut: readonly KeywordEntry[]): KeywordEntry | undefined {
  const messageWords = words(text);
  let best: KeywordEntry | undefined;
  for (const entry of optOut) {
    const found = entry.unspaced
      ? holdsUnspaced(text, entry.normalized)
      : entry.alone
        ? isAlone(messageWords, entry)
        : containsWordSequence(messageWords, entry.words);
    // The longest match names the request best ("stop all" over "stop").
    if (found && (best === undefined || entry.normalized.length > best.normalized.length)) best = entry;
  }
  return best;
}

/**
 * An opt-out word inside a longer message ("please stop texting me"). US rules make
 * plain-language revocations binding (47 CFR 64.1200(a)(10)), so such messages are
 * flagged for a person to review rather than ignored. Whole words only; in Japanese,
 * which has no spaces, a substring. `text` is the message as sent (or already normalised);
 * its e-mail addresses and links are not read.
 */
export function findPlainLanguageOptOut(
  text: string,
  workspaceKeywords?: WorkspaceKeywords,
): { word: string; language: Language } | null {
  const entry = findOptOutEntry(reviewForm(text), activeTable(workspaceKeywords).optOut);
  return entry === undefined ? null : { word: entry.keyword, language: entry.language };
}

const DASH = /\p{Pd}/u;
const DASHES = /\p{Pd}/gu;

/**
 * The keyword a message written with dashes inside a keyword is, read without them: UN-STOP is
 * UNSTOP and UN-SUBSCRIBE is UNSUBSCRIBE. Read with the dashes as spaces first (OPT-OUT is OPT
 * OUT), which would make UN-STOP hold STOP, an opt-out word, and raise a review of a request to
 * opt back in.
 */
function joinedKeyword(text: string, table: KeywordTable): KeywordEntry | undefined {
  if (!DASH.test(text)) return undefined;
  return table.exact.get(normalizeText(text.replace(DASHES, '')));
}

/**
 * Classifies an inbound message. It is a keyword only when the whole normalised
 * message is exactly one keyword (HubSpot: "Can I start receiving messages?" does
 * not opt in, "Start" does; spaces around the keyword are fine).
 */
export function classifyKeyword(text: string, workspaceKeywords?: WorkspaceKeywords): KeywordResult {
  const { normalized, exact, optOut } = readKeywordText(text, activeTable(workspaceKeywords));
  if (exact !== undefined) {
    return { intent: exact.intent, language: exact.language, keyword: exact.keyword, normalized, review: false };
  }
  return { intent: 'none', language: optOut?.language ?? null, keyword: null, normalized, review: optOut !== undefined };
}

/** What classifyKeyword reads in `text`: the keyword it is, else the opt-out word it holds, if any. */
function readKeywordText(text: string, table: KeywordTable): { normalized: string; exact?: KeywordEntry; optOut?: KeywordEntry } {
  const normalized = normalizeText(text);
  if (normalized === '') return { normalized };
  const exact = table.exact.get(normalized) ?? joinedKeyword(text, table);
  if (exact !== undefined) return { normalized, exact };
  const optOut = findOptOutEntry(reviewForm(text, normalized), table.optOut);
  return optOut === undefined ? { normalized } : { normalized, optOut };
}

/**
 * Why a `keyword` workflow trigger whose `match` is this never starts, or null when a message can
 * start it. Keywords are handled first (DESIGN §3; handleInbound in src/engine/handle-inbound.ts):
 * a message classifyKeyword reads as a keyword is answered as one, and one holding an opt-out word
 * raises optout.review_needed for a person to decide; only a message read as neither starts the
 * keyword bindings, those whose match equals it in comparison form (normalizeText). Two messages
 * with that form are tried, the match as written and the form itself, as they can be read apart:
 * UN-STOP is the keyword UNSTOP where UN STOP holds STOP, and a word inside an e-mail address is
 * not read where the address is spelled out. The binding can start when either is read as
 * neither. `workspaceKeywords` are the workspace's own, as the engine classifies with them.
 */
export function unstartableKeywordMatch(match: string, workspaceKeywords?: WorkspaceKeywords): string | null {
  const table = activeTable(workspaceKeywords);
  const asWritten = readKeywordText(match, table);
  if (startsKeywordTriggers(readKeywordText(asWritten.normalized, table))) return null;
  const quoted = JSON.stringify(match);
  if (asWritten.exact !== undefined) {
    const { intent, keyword, language, addedByWorkspace } = asWritten.exact;
    const what = addedByWorkspace
      ? `the workspace's ${INTENT_NAMES[intent]} keyword ${keyword} (${language}, keywords.${language}.${intent})`
      : `the ${INTENT_NAMES[intent]} keyword ${keyword} (${language})`;
    return `${quoted} is ${what}: keywords are handled first, so such a message is answered as the keyword and starts no workflow; bind a phrase that is no keyword`;
  }
  if (asWritten.optOut !== undefined) {
    return `${quoted} is or holds ${heldWordDescription(asWritten.optOut, table)}: such a message raises optout.review_needed for a person to review and starts no workflow; bind a phrase without an opt-out word`;
  }
  return null;
}

/**
 * Why a `keyword` binding's match reads as nothing, or null when it has a letter or digit: compared
 * as keywords are (normalizeText), punctuation, symbols and emoji alone read as an empty phrase, and
 * so does every message without a letter or digit, so it would start on a thumbs-up or a "?".
 */
export function emptyKeywordMatch(match: string): string | null {
  if (normalizeText(match) !== '') return null;
  return `${JSON.stringify(match)} has no letter or digit: a match is compared as keywords are, without punctuation, symbols and emoji, so it would start on every message that has none (an emoji, a lone "?"); bind a phrase with a word in it, or leave match out to start on every message`;
}

const INTENT_NAMES: Readonly<Record<MatchIntent, string>> = { opt_in: 'opt-in', opt_out: 'opt-out', help: 'help' };

/** Whether a message so read starts the `keyword` bindings it matches: it is no keyword and holds no opt-out word. */
function startsKeywordTriggers(read: { exact?: KeywordEntry; optOut?: KeywordEntry }): boolean {
  return read.exact === undefined && read.optOut === undefined;
}

function heldWordDescription(held: KeywordEntry, table: KeywordTable): string {
  if (held.reviewOnly) return `${held.keyword} (${held.language}), a word people write to unsubscribe`;
  if (held.addedByWorkspace) return `the workspace's opt-out keyword ${held.keyword} (${held.language}, keywords.${held.language}.opt_out)`;
  if (!table.entries.includes(held)) return `the opt-out word ${held.keyword} (${held.language}), which keywords.${held.language}.removed switches off as a keyword but whose messages are still reviewed`;
  return `the opt-out word ${held.keyword} (${held.language})`;
}

/** STOPALL / STOP ALL revoke consent on every channel, not only the one the message came in on (DESIGN §3). */
export function isAllChannelsOptOut(result: KeywordResult): boolean {
  return result.intent === 'opt_out' && result.keyword !== null && ALL_CHANNELS_OPT_OUT.has(normalizeText(result.keyword));
}

/**
 * The opt-out word an added opt-in or help keyword `form` is or holds (as findOptOutEntry reads
 * it), among the words its check covers: every built-in opt-out word of every language, switched
 * off or not, REVIEW_WORDS and the workspace's own opt-out keywords when the keyword's own list
 * is set; else only the workspace's opt-out keywords in lists that are set. An added opt-out
 * keyword equal to it is left to the clash check, which reports it on whichever comes second.
 */
function heldOptOutWord(
  form: string,
  listSet: boolean,
  addedOptOuts: readonly { entry: KeywordEntry; listSet: boolean }[],
): KeywordEntry | undefined {
  const ownOptOuts = addedOptOuts
    .filter((added) => (listSet || added.listSet) && added.entry.normalized !== form)
    .map((added) => added.entry);
  return findOptOutEntry(form, listSet ? [...BUILT_IN_OPT_OUT_ENTRIES, ...REVIEW_ENTRIES, ...ownOptOuts] : ownOptOuts);
}

function heldOptOutMessage(keyword: string, intent: 'opt_in' | 'help', held: KeywordEntry): string {
  const what = held.reviewOnly
    ? `${held.keyword} (${held.language}), a word people write to unsubscribe`
    : held.addedByWorkspace
      ? `the workspace's opt-out keyword ${held.keyword} (${held.language})`
      : `the opt-out word ${held.keyword} (${held.language})`;
  const why =
    intent === 'opt_in'
      ? 'a message that may revoke consent must never record consent'
      : 'a message that may revoke consent must never be answered with the help text instead of being reviewed';
  return `"${keyword}" is or holds ${what}: ${why}; such a message raises optout.review_needed (remove the opt-out word from the keyword)`;
}

/**
 * Checks a workspace's keyword settings. STOP, START or HELP in `removed` is refused
 * with KEYWORD_NOT_REMOVABLE; a keyword empty once normalised (empty, blank, or only
 * punctuation, symbols and emoji), a removed word that is not a built-in of that language, or an
 * added keyword longer than three words or already a keyword of another intent is refused with
 * VALIDATION_FAILED. Every bad keyword of every list is named in the one refusal; when both kinds
 * occur the error carries every issue under the KEYWORD_NOT_REMOVABLE code. `sent` is the keywords
 * as the input sent them, before the settings schema trimmed them, so that a refusal quotes a
 * keyword as it was written (`"   "`, not `""`); without it the keywords of `k` are quoted.
 *
 * An added opt-in or help keyword that is or holds as a word an opt-out word (see
 * heldOptOutWord) is refused with VALIDATION_FAILED too: US rules honour a revocation "by any
 * reasonable means" (47 CFR 64.1200(a)(10)), so "stop please" must not opt in, and "cancel
 * order" must not get the help reply without a review. `listSet` names the lists a settings
 * change sets; that refusal covers only those (and the opt-in and help keywords holding a word
 * of a set opt-out list), so settings stored before it keep loading and changing: such a keyword
 * no longer matches (classifyKeyword reviews its message instead). Without `listSet` every list
 * is checked, as for a new workspace.
 */
export function validateWorkspaceKeywords(
  k: WorkspaceKeywords,
  listSet: (language: Language, list: KeywordListKey) => boolean = () => true,
  sent?: unknown,
): void {
  const quoted = (language: Language, list: KeywordListKey, index: number, keyword: string): string => shownValue(sentKeyword(sent, language, list, index) ?? keyword);
  const notRemovable: FieldIssue[] = [];
  const invalid: FieldIssue[] = [];
  for (const language of LANGUAGES) {
    const repeated = repeatedKeywordCheck(language, 'removed', listSet(language, 'removed'));
    (k[language]?.removed ?? []).forEach((keyword, index) => {
      const form = normalizeText(keyword);
      const path = `keywords.${language}.removed.${index}`;
      if (form === '') {
        invalid.push({ path, message: emptyKeywordMessage(quoted(language, 'removed', index, keyword)) });
      } else if (PROTECTED_KEYWORDS.has(form)) {
        notRemovable.push({ path, message: `${form} cannot be removed: STOP, START and HELP are always keywords` });
      } else if (!BUILT_IN_ENTRIES.some((entry) => entry.language === language && entry.normalized === form)) {
        invalid.push({ path, message: `"${keyword}" is not a built-in ${language} keyword` });
      } else {
        const twice = repeated(keyword, form, index);
        if (twice !== null) invalid.push({ path, message: twice });
      }
    });
  }

  const addedOptOuts = LANGUAGES.flatMap((language) =>
    (k[language]?.opt_out ?? [])
      .map((keyword) => ({ entry: keywordEntry('opt_out', language, keyword.trim(), normalizeText(keyword), true), listSet: listSet(language, 'opt_out') }))
      .filter((added) => added.entry.normalized !== ''),
  );
  // Built-ins still in force, then each added keyword in turn, so two added keywords can clash too.
  const builtInAndEarlier = new Map<string, KeywordEntry>();
  for (const entry of activeTable(k).entries) {
    if (!entry.addedByWorkspace) builtInAndEarlier.set(entry.normalized, entry);
  }
  for (const language of LANGUAGES) {
    const own = k[language];
    if (own === undefined) continue;
    for (const intent of MATCH_INTENTS) {
      const repeated = repeatedKeywordCheck(language, intent, listSet(language, intent));
      (own[intent] ?? []).forEach((keyword, index) => {
        const path = `keywords.${language}.${intent}.${index}`;
        const form = normalizeText(keyword);
        if (form === '') {
          invalid.push({ path, message: emptyKeywordMessage(quoted(language, intent, index, keyword)) });
          return;
        }
        if (form.split(' ').length > MAX_KEYWORD_WORDS) {
          invalid.push({ path, message: `keyword has more than ${MAX_KEYWORD_WORDS} words` });
          return;
        }
        const twice = repeated(keyword, form, index);
        if (twice !== null) {
          invalid.push({ path, message: twice });
          return;
        }
        const clash = builtInAndEarlier.get(form);
        if (clash !== undefined && clash.intent !== intent) {
          invalid.push({
            path,
            message: `"${keyword}" is already the ${clash.intent} keyword ${clash.keyword} (${clash.language})`,
          });
          return;
        }
        if (intent !== 'opt_out') {
          const held = heldOptOutWord(form, listSet(language, intent), addedOptOuts);
          if (held !== undefined) {
            invalid.push({ path, message: heldOptOutMessage(keyword, intent, held) });
            return;
          }
        }
        if (clash === undefined) {
          builtInAndEarlier.set(form, keywordEntry(intent, language, keyword, form, true));
        }
      });
    }
  }

  const issues = [...notRemovable, ...invalid];
  // Worded as every refusal's issues are (`path: message; ...`), so a problem's detail says what is wrong, not only where.
  if (notRemovable.length > 0) throw new ConsentryError('KEYWORD_NOT_REMOVABLE', describeIssues(issues), issues);
  if (invalid.length > 0) throw new ConsentryError('VALIDATION_FAILED', describeIssues(issues), issues);
}

/**
 * The refusal of a keyword that reads as nothing (normalizeText): a message is compared with it
 * without the white space, punctuation, symbols, emoji and invisible characters around it, so no
 * message could ever match it.
 */
function emptyKeywordMessage(quotedKeyword: string): string {
  return `${quotedKeyword} is empty once punctuation, symbols and white space are removed`;
}

/** The keyword at `keywords.<language>.<list>.<index>` of the keywords as sent, if it is a string there. */
function sentKeyword(sent: unknown, language: Language, list: KeywordListKey, index: number): string | undefined {
  const lists: unknown = typeof sent === 'object' && sent !== null ? Reflect.get(sent, language) : undefined;
  const keywords: unknown = typeof lists === 'object' && lists !== null ? Reflect.get(lists, list) : undefined;
  const keyword: unknown = Array.isArray(keywords) ? keywords[index] : undefined;
  return typeof keyword === 'string' ? keyword : undefined;
}

/**
 * The check of one keyword list for a keyword listed twice, compared in the form a message is
 * matched in (normalizeText), so `baja`, `BAJA` and ` Baja ` are one keyword: it returns the
 * refusal of a keyword whose form an earlier one of the list has (passed in list order), or null.
 * Only a list the input sets (`checked`) is refused for it: a list stored before such lists were
 * refused keeps loading, matching as it always did, and must not block a change to another list.
 */
function repeatedKeywordCheck(language: Language, list: KeywordListKey, checked: boolean): (keyword: string, form: string, index: number) => string | null {
  const earlier = new Map<string, { keyword: string; index: number }>();
  return (keyword, form, index) => {
    if (!checked) return null;
    const first = earlier.get(form);
    if (first === undefined) {
      earlier.set(form, { keyword, index });
      return null;
    }
    const twice = listedTwiceMessage(keyword);
    return first.keyword === keyword
      ? twice
      : `${twice}: it reads as keywords.${language}.${list}.${first.index} (${JSON.stringify(first.keyword)}) does, as keywords are compared (letter case, accents and the punctuation around them aside)`;
  };
}

/**
 * Built-in reply texts for keyword confirmations and help (DESIGN §3).
 *
 * The opt-out confirmation is the single confirmation text the FCC allows after a
 * revocation (47 CFR 64.1200(a)(12)); it only confirms and says how to opt back in,
 * using that language's opt-in keyword from the keyword table.
 */
import { REPLY_VARIABLE_PATTERN, type Language, type ReplyKey, type WorkspaceSettings } from './settings.js';
import { isBlank } from './text.js';

export const BUILT_IN_REPLIES: Readonly<Record<Language, Readonly<Record<ReplyKey, string>>>> = Object.freeze({
  en: Object.freeze({
    opt_in_confirmation: 'You are subscribed and will receive our messages. Reply STOP at any time to unsubscribe, or HELP for help.',
    opt_out_confirmation: 'You have been unsubscribed and will receive no more messages. Reply START to subscribe again.',
    help: 'Reply START to subscribe, STOP to unsubscribe, or HELP to see this message again.',
  }),
  es: Object.freeze({
    opt_in_confirmation:
      'Te has suscrito y recibirás nuestros mensajes. Responde ALTO en cualquier momento para darte de baja o AYUDA para obtener ayuda.',
    opt_out_confirmation: 'Te has dado de baja y no recibirás más mensajes. Responde EMPEZAR para volver a suscribirte.',
    help: 'Responde EMPEZAR para suscribirte, ALTO para darte de baja o AYUDA para ver este mensaje de nuevo.',
  }),
  fr: Object.freeze({
    opt_in_confirmation:
      "Vous êtes abonné et recevrez nos messages. Répondez ARRÊTER à tout moment pour vous désabonner, ou AIDE pour obtenir de l'aide.",
    opt_out_confirmation: 'Vous êtes désabonné et ne recevrez plus de messages. Répondez COMMENCER pour vous réabonner.',
    help: 'Répondez COMMENCER pour vous abonner, ARRÊTER pour vous désabonner ou AIDE pour revoir ce message.',
  }),
  pt: Object.freeze({
    opt_in_confirmation:
      'Você está inscrito e receberá nossas mensagens. Responda PARAR a qualquer momento para cancelar a inscrição ou AJUDA para obter ajuda.',
    opt_out_confirmation: 'Sua inscrição foi cancelada e você não receberá mais mensagens. Responda INICIAR para se inscrever novamente.',
    help: 'Responda INICIAR para se inscrever, PARAR para cancelar a inscrição ou AJUDA para ver esta mensagem novamente.',
  }),
  de: Object.freeze({
    opt_in_confirmation:
      'Sie sind angemeldet und erhalten unsere Nachrichten. Antworten Sie jederzeit mit BEENDEN, um sich abzumelden, oder mit HILFE, um Hilfe zu erhalten.',
    opt_out_confirmation: 'Sie wurden abgemeldet und erhalten keine Nachrichten mehr. Antworten Sie mit LOSLEGEN, um sich wieder anzumelden.',
    help: 'Antworten Sie mit LOSLEGEN, um sich anzumelden, mit BEENDEN, um sich abzumelden, oder mit HILFE, um diese Nachricht erneut zu sehen.',
  }),
  ja: Object.freeze({
    opt_in_confirmation: '配信登録が完了しました。配信を止めるにはいつでも「停止」、ヘルプが必要な場合は「ヘルプ」と返信してください。',
    opt_out_confirmation: '配信を停止しました。今後メッセージは届きません。再度登録するには「開始」と返信してください。',
    help: '登録するには「開始」、配信を止めるには「停止」、このメッセージをもう一度表示するには「ヘルプ」と返信してください。',
  }),
});

/**
 * The workspace's own text, unless it is blank (isBlank): settings refuse a blank text
 * (replyTextIssues), but one stored before they did is passed over for the built-in text rather
 * than sent as a message that shows nothing.
 */
function workspaceText(
  replies: WorkspaceSettings['replies'],
  language: Language,
  key: ReplyKey,
): string | undefined {
  const text = replies[language]?.[key];
  return text !== undefined && !isBlank(text) ? text : undefined;
}

/**
 * The text to send for `key`. Keyword confirmations pass the keyword's language.
 * Order: the workspace's text in that language, the built-in text in that language,
 * the workspace's text in its default language, the built-in text in the default
 * language, the built-in English text. The returned language is the one of the text.
 */
export function replyText(
  key: ReplyKey,
  language: Language | null,
  settings: Pick<WorkspaceSettings, 'replies' | 'defaultLanguage'>,
): { text: string; language: Language } {
  const candidates: Language[] = [];
  if (language !== null) candidates.push(language);
  candidates.push(settings.defaultLanguage);
  for (const candidate of candidates) {
    const custom = workspaceText(settings.replies, candidate, key);
    if (custom !== undefined) return { text: custom, language: candidate };
    const builtIn = BUILT_IN_REPLIES[candidate]?.[key];
    if (builtIn !== undefined) return { text: builtIn, language: candidate };
  }
  return { text: BUILT_IN_REPLIES.en[key], language: 'en' };
}

/** A reply text with its variables (REPLY_VARIABLES, checked when the text was set) filled in. */
export function renderReply(text: string, workspace: { name: string }): string {
  if (!text.includes('{{')) return text;
  return text.replace(REPLY_VARIABLE_PATTERN, (written, name: string) => (name === 'workspace.name' ? workspace.name : written));
}

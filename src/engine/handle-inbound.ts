import type { ConsentState, ConsentStatus, MessagingChannel, Purpose } from '../core/consent.js';
import type { Contact, ContactIdentity } from '../core/contact.js';
import { addIdentity, erasedAddressDigests, tryNormalizeEmail, tryNormalizePhone, WHATSAPP_ID, withErasedAddressGuard, writesFromOwnIdentity } from '../core/contact.js';
import type { KeywordResult } from '../core/keywords.js';
import { classifyKeyword, findPlainLanguageOptOut, isAllChannelsOptOut, normalizeText } from '../core/keywords.js';
import { canonicalJson, ConsentStates, effectiveStatus, purposesAnOptOutReaches, sha256Hex } from '../core/ledger.js';
import { ConsentryError } from '../core/errors.js';
import { ERASED, redactStored } from '../core/events.js';
import { renderReply, replyText } from '../core/replies.js';
import { READABLE_TEXT_LENGTH, readableText } from '../core/text.js';
import { LANGUAGES, type ReplyKey } from '../core/settings.js';
import { asksForConsent, getTemplate, picksWaitingOption, type RunState, type WorkflowInput } from '../core/workflow/index.js';
import type { Conversation, StoredEvent, WorkflowRunRow } from '../ports/store.js';
import { isBlankText, readInboundMessage, senderName, timestampIssue, type InboundMessageSchema, type ReadInboundMessage } from './inputs.js';
import {
  advanceRun,
  cancelWorkflowRun,
  deferredOpeningTemplates,
  fireOverdueTimers,
  noteSenderAddressTaken,
  openConversationsOf,
  otherOwner,
  startDeferredWorkflows,
  startQueuedWorkflows,
  startTriggeredWorkflows,
  waitingRunState,
} from './runs.js';
import { contactActor, type ReplyOption, type UnitOfWork } from './unit-of-work.js';
import { z } from 'zod';

export interface InboundResult {
  contactId: string;
  conversationId: string | null;
  replies: { text: string; options?: ReplyOption[] }[];
  events: StoredEvent[];
  /** What the keyword recogniser made of the text. */
  keyword: KeywordResult | null;
  /** true when this exact channel message had been processed before: nothing changed. */
  duplicate: boolean;
  /**
   * true when a duplicate's sender, text or button differ from those of the message first
   * processed under its channel and id: the answer is still the first one, and the new message
   * was not processed (a channel never re-sends another message under the same id, so this is an
   * id collision or an adapter's bug the caller should hear of).
   */
  differsFromFirst: boolean;
  /**
   * true when this is a repeat of a message whose contact was erased since: the first answer is
   * redacted, so it is not sent again (`replies` is empty: nothing more goes to that person), and
   * whether the repeat is the same message can no longer be told (its digest went with the
   * erasure). The message was not processed.
   */
  firstContactErased: boolean;
}

type Message = ReadInboundMessage;

const PHONE_CHANNELS: readonly MessagingChannel[] = ['whatsapp', 'sms'];

/**
 * One inbound message, in one transaction: find or create the contact, honour keywords
 * first (an opt-out always wins over a pending question), then feed the conversation's
 * workflows. A describing value that is not a string, or is too long, is left out
 * (readInboundMessage): the message, which may carry a STOP, is processed without it.
 */
export async function handleInbound(uow: UnitOfWork, parsed: z.output<typeof InboundMessageSchema>): Promise<InboundResult> {
  const { tx, workspaceId } = uow;
  const received = readInboundMessage(parsed).message;
  const seen = await tx.getProcessedMessage(workspaceId, received.channel, received.messageId);
  const digest = messageDigest(received);
  if (seen) return replayAnswer(uow, seen.response, digest);
  uow.inboundMessageId = received.messageId;
  const message = withReadableText(received);

  const sender = await resolveContact(uow, message);
  const contact = sender.contact;
  uow.inboundSender = { contactId: contact.id, channel: message.channel, externalId: sender.externalId };
  await fireOverdueTimers(uow, contact.id, message.channel, sentAt(uow, message));
  const typedText = keywordText(message);
  const typed = typedText === null ? null : classifyKeyword(typedText, uow.workspace.settings.keywords);
  const classified = strongerKeyword(buttonKeyword(uow, message), typed);
  let conversation = (await tx.getOpenConversation(workspaceId, contact.id, message.channel)) ?? null;
  // An option of the waiting question is its answer, not a keyword (see questionAnsweredByOption).
  const answered = classified === null ? undefined : await questionAnsweredByOption(uow, contact, message, classified, conversation);
  const keyword = answered === undefined ? classified : null;

  if (keyword && keyword.intent !== 'none') {
    await handleKeyword(uow, contact, message, keyword, conversation);
  } else if (keyword?.review) {
    await holdForOptOutReview(uow, contact, message, keyword, conversation);
  } else {
    // A message a waiting question took (a valid or an invalid answer, typed or picked) is that
    // answer, and starts no `keyword` binding: the contact was answering, not asking for a workflow.
    // The consent question's invalid answer is the exception: the question still waits, so what the
    // contact asks for is queued behind it (startOrQueueWorkflow), to start once they agree, as at
    // the conversation's opening. Its valid answer (AGREE & PROCEED typed) starts none: the bindings
    // queued behind the question have just started, and a binding without a phrase would start its
    // workflow a second time on the agreement.
    let answeredQuestion = false;
    if (conversation === null) {
      conversation = await uow.openConversation(contact.id, message.channel, deferredOpeningTemplates(uow.workspace.settings));
      uow.inboundConversationId = conversation.id;
      await startTriggeredWorkflows(uow, 'conversation_opened', contact, null, 0, message.channel, conversation);
    } else {
      uow.inboundConversationId = conversation.id;
      const took = await answerPendingQuestion(uow, contact, message, conversation, answered);
      answeredQuestion = took !== null && !(asksForConsent(took.templateId) && took.askedAgain);
      // The opening's workflows that waited for a setting start now, if it is there (startDeferredWorkflows).
      if (conversation.deferredTemplates !== undefined) conversation = await startDeferredWorkflows(uow, contact, conversation);
      // Workflows queued behind a consent question that ended outside this conversation (consent
      // given elsewhere made it moot) start at the contact's next message here.
      if (conversation.queuedWorkflows !== undefined) await startQueuedWorkflows(uow, conversation.id, 0);
    }
    if (typed !== null && !answeredQuestion) await startTriggeredWorkflows(uow, 'keyword', contact, typed.normalized, 0, message.channel, conversation);
  }

  const replies = uow.replies.map((r) => ({ text: r.text, ...(r.options ? { options: r.options } : {}) }));
  const answer: StoredAnswer = {
    contactId: contact.id,
    conversationId: conversation?.id ?? null,
    replies,
    eventIds: uow.events.map((event) => event.id),
    keyword,
    messageDigest: digest,
  };
  await tx.saveProcessedMessage({
    workspaceId,
    channel: message.channel,
    messageId: message.messageId,
    contactId: contact.id,
    response: answer,
    processedAt: uow.nowIso,
  });
  return { contactId: answer.contactId, conversationId: answer.conversationId, replies, events: uow.events, keyword, duplicate: false, differsFromFirst: false, firstContactErased: false };
}

/**
 * What identifies a message's content for telling a repeated delivery from another message that
 * reuses its id: the sender, the text and the button. The contact details beside the sender and
 * the channel's timestamp are left out, since a channel may re-send them differently.
 */
function messageDigest(message: Message): string {
  return sha256Hex(canonicalJson({ from: message.from.id, text: message.text ?? null, button: message.button ?? null }));
}

/**
 * What is kept of an answer for a repeated delivery of the same message: the events by id
 * only, since the outbox keeps them (a smaller row is fewer pages written per message).
 */
export const StoredAnswerSchema = z.object({
  contactId: z.string(),
  conversationId: z.string().nullable(),
  replies: z.array(
    z.object({
      text: z.string(),
      options: z.array(z.object({ label: z.string(), buttonId: z.string().optional() })).optional(),
    }),
  ),
  eventIds: z.array(z.string()),
  /** messageDigest of the message answered; absent in answers stored before it was kept, and after erasure. */
  messageDigest: z.string().optional(),
  keyword: z
    .object({
      intent: z.enum(['opt_in', 'opt_out', 'help', 'none']),
      language: z.enum(LANGUAGES).nullable(),
      keyword: z.string().nullable(),
      normalized: z.string(),
      review: z.boolean(),
    })
    .nullable(),
});
export type StoredAnswer = z.output<typeof StoredAnswerSchema>;

/**
 * A stored answer of an erased contact (GDPR Art. 17): reply texts (they may greet the person by
 * name or quote them) and the normalised message text become ERASED, and the message digest goes
 * (a digest of the person's words and number is still data about them). Option labels and button
 * ids stay, being the workspace's own texts, as do the ids that tie the answer to its events.
 * Returns `answer` itself when nothing is left to redact.
 */
export function redactStoredAnswer(answer: StoredAnswer): StoredAnswer {
  const replies = answer.replies.map((reply) => (reply.text === ERASED ? reply : { ...reply, text: ERASED }));
  const keyword = answer.keyword === null || answer.keyword.normalized === ERASED ? answer.keyword : { ...answer.keyword, normalized: ERASED };
  const unchanged = keyword === answer.keyword && answer.messageDigest === undefined && replies.every((reply, index) => reply === answer.replies[index]);
  if (unchanged) return answer;
  const { messageDigest: _erased, ...kept } = answer;
  return { ...kept, replies, keyword };
}

/**
 * A stored response, redacted; null when nothing is left to redact. One StoredAnswerSchema cannot
 * read has every string replaced, since what quotes the person cannot be told apart there.
 */
export function redactStoredResponse(stored: unknown): { response: unknown } | null {
  const redacted = redactStored(StoredAnswerSchema, redactStoredAnswer, stored);
  return redacted && { response: redacted.value };
}

async function replayAnswer(uow: UnitOfWork, stored: unknown, digest: string): Promise<InboundResult> {
  const answer = StoredAnswerSchema.parse(stored);
  const events: StoredEvent[] = [];
  for (const id of answer.eventIds) {
    const event = await uow.tx.getEvent(uow.workspaceId, id);
    if (!event) throw new ConsentryError('CONFLICT', `Event ${id} of an already processed message is missing from the outbox`);
    events.push(event);
  }
  // An answer without a digest was stored before digests were kept, or redacted by an erasure:
  // only the contact tells which, and only then is it read.
  const firstContactErased = answer.messageDigest === undefined && (await uow.tx.getContact(uow.workspaceId, answer.contactId))?.erasedAt != null;
  const replies = firstContactErased ? [] : answer.replies.map((r) => ({ text: r.text, ...(r.options ? { options: r.options.map(replyOption) } : {}) }));
  return {
    contactId: answer.contactId,
    conversationId: answer.conversationId,
    replies,
    events,
    keyword: answer.keyword,
    duplicate: true,
    differsFromFirst: answer.messageDigest !== undefined && answer.messageDigest !== digest,
    firstContactErased,
  };
}

/** A message whose text is longer than READABLE_TEXT_LENGTH is read by its first characters (core/text.ts). */
function withReadableText(message: Message): Message {
  if (message.text === undefined || message.text.length <= READABLE_TEXT_LENGTH) return message;
  return { ...message, text: readableText(message.text) };
}

/**
 * Telegram's Start button sends `/start` (with a deep-link payload after it, if any) when a person
 * opens a bot (https://core.telegram.org/bots/features#commands): it opens a conversation, it is
 * not a consent. Other commands may be addressed to the bot by name (`/stop@AcmeBot`, in groups),
 * which is read without the name.
 */
const TELEGRAM_START = /^\s*\/start(?:@\w+)?(?:\s|$)/i;
const TELEGRAM_ADDRESSED_COMMAND = /^(\s*\/\w+)@\w+(?=\s|$)/;

/** The text read for keywords: none when the message has no words (no text, or a blank one: isBlankText). */
function keywordText(message: Message): string | null {
  if (message.text === undefined || isBlankText(message.text)) return null;
  if (message.channel !== 'telegram') return message.text;
  if (TELEGRAM_START.test(message.text)) return null;
  return message.text.replace(TELEGRAM_ADDRESSED_COMMAND, '$1');
}

/**
 * The labels of the marketing opt-out buttons messaging platforms add to templates. Clicking one
 * unsubscribes (HubSpot's WhatsApp consent page: "if you include a marketing opt-out button in the
 * template and the contact clicks it, they are unsubscribed automatically"); WhatsApp labels it
 * "Stop promotions" (https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates/marketing-templates).
 * A label a workspace renamed is added as an opt-out keyword.
 */
const OPT_OUT_BUTTON_LABELS: ReadonlyMap<string, string> = new Map([[normalizeText('Stop promotions'), 'STOP PROMOTIONS']]);

/**
 * A button the contact clicked is read as a keyword when its text is one (a template's opt-out
 * quick reply unsubscribes as the typed word does: DESIGN §2, "one keyword, one API call, one
 * button"), when it is a platform's marketing opt-out button, or when it reads as a plain-language
 * opt-out, which is flagged for review. Any other button is an answer, not a keyword: null.
 */
function buttonKeyword(uow: UnitOfWork, message: Message): KeywordResult | null {
  if (message.button === undefined) return null;
  const clicked = classifyKeyword(message.button, uow.workspace.settings.keywords);
  const optOutButton = clicked.intent === 'none' ? OPT_OUT_BUTTON_LABELS.get(clicked.normalized) : undefined;
  if (optOutButton !== undefined) return { intent: 'opt_out', language: 'en', keyword: optOutButton, normalized: clicked.normalized, review: false };
  return clicked.intent !== 'none' || clicked.review ? clicked : null;
}

/**
 * What a message with both a button and text means. Channels send the clicked button's label or
 * payload beside text (Twilio's Body, Messenger's quick reply), so the text does not hide the
 * button: an opt-out in either wins, as it must win over anything else (DESIGN §3); then the
 * button's keyword, the text's keyword, a review either raises, and last the text as it is.
 */
function strongerKeyword(clicked: KeywordResult | null, typed: KeywordResult | null): KeywordResult | null {
  const read = [clicked, typed].filter((result): result is KeywordResult => result !== null);
  return read.find((r) => r.intent === 'opt_out') ?? read.find((r) => r.intent !== 'none') ?? read.find((r) => r.review) ?? typed;
}

/**
 * When the contact sent the message: its `timestamp` when the channel gave an earlier one, else
 * now. Compared as instants: RFC 3339 text with an offset (`05:00:00+05:00`) does not sort by time.
 * A timestamp before the earliest time a decision can have (a broken channel clock, `0001-01-01`),
 * or one without a zone, is no time at all: read as one, it could make a STOP older than every
 * decision, and so not applied.
 */
function sentAt(uow: UnitOfWork, message: Message): string {
  if (message.timestamp === undefined || timestampIssue(message.timestamp) !== null) return uow.nowIso;
  const sent = Date.parse(message.timestamp);
  return sent < uow.now.getTime() ? new Date(sent).toISOString() : uow.nowIso;
}

function replyOption(option: { label: string; buttonId?: string | undefined }): ReplyOption {
  return option.buttonId === undefined ? { label: option.label } : { label: option.label, buttonId: option.buttonId };
}

/** A run waiting for an answer, with its state as read. */
interface WaitingQuestion {
  run: WorkflowRunRow;
  state: RunState;
}

/**
 * The question a message answers: of the runs of this conversation waiting for one, the one whose
 * options the message picks (a button routes to the question that offered it), else the oldest.
 * Every run of the conversation is read, so one whose state cannot be read fails the message.
 */
async function waitingQuestion(uow: UnitOfWork, contact: Contact, message: Message, conversation: Conversation): Promise<WaitingQuestion | undefined> {
  const waiting: WaitingQuestion[] = [];
  for (const run of await uow.tx.listActiveRuns(uow.workspaceId, contact.id, message.channel)) {
    if (run.conversationId !== conversation.id) continue;
    const state = waitingRunState(run);
    if (state !== null) waiting.push({ run, state });
  }
  if (waiting.length < 2) return waiting[0];
  const answer = { text: message.text ?? null, button: message.button ?? null };
  return waiting.find(({ run, state }) => picksWaitingOption(getTemplate(run.templateId), state, answer)) ?? waiting[0];
}

/**
 * An opt-in or help keyword that is also an option of the question waiting in the conversation
 * (a workspace added AGREE as an opt-in word; the privacy button says AGREE & PROCEED) is that
 * answer, not the keyword (picksWaitingOption): that question is returned, else undefined. An
 * opt-out keyword always stays one (DESIGN §3).
 */
async function questionAnsweredByOption(
  uow: UnitOfWork,
  contact: Contact,
  message: Message,
  keyword: KeywordResult,
  conversation: Conversation | null,
): Promise<WaitingQuestion | undefined> {
  if (keyword.intent === 'none' || keyword.intent === 'opt_out' || conversation === null) return undefined;
  const waiting = await waitingQuestion(uow, contact, message, conversation);
  const picked = waiting !== undefined && picksWaitingOption(getTemplate(waiting.run.templateId), waiting.state, { text: message.text ?? null, button: message.button ?? null });
  return picked ? waiting : undefined;
}

/** The question a message was fed to (answerPendingQuestion). */
interface TakenAnswer {
  /** The template of the run whose question took the message. */
  templateId: string;
  /**
   * Whether the run waits for an answer to the same question after the message: it was an invalid
   * answer, and the question is asked again. False after a valid answer, and after the last invalid
   * one, which ends the run.
   */
  askedAgain: boolean;
}

/**
 * Feeds the message to the question it answers: `known` when questionAnsweredByOption already
 * found it. The question that took the message, as a valid answer or an invalid one; null when no
 * question waited.
 */
async function answerPendingQuestion(uow: UnitOfWork, contact: Contact, message: Message, conversation: Conversation, known?: WaitingQuestion): Promise<TakenAnswer | null> {
  const waiting = known ?? (await waitingQuestion(uow, contact, message, conversation));
  if (!waiting) return null;
  const sent = sentAt(uow, message);
  const input: WorkflowInput = {
    kind: 'message',
    messageId: message.messageId,
    text: message.text ?? null,
    button: message.button ?? null,
    ...(sent !== uow.nowIso ? { sentAt: sent } : {}),
  };
  const after = await advanceRun(uow, waiting.run, input, 0, waiting.state);
  const stillWaiting = waitingRunState(after);
  return { templateId: waiting.run.templateId, askedAgain: stillWaiting !== null && stillWaiting.waiting?.stepId === waiting.state.waiting?.stepId };
}

/**
 * A message that reads as a plain-language opt-out ("please stop texting me") records nothing by
 * itself (DESIGN §3): a person decides, through `optout.review_needed`. Until then nothing more is
 * sent on its account: it opens no conversation (a first message would otherwise get the privacy
 * link and question, and a time-out message after them), answers no question (it would be asked
 * again), and the runs of the conversation it was sent in stop, with the conversation, as for a
 * STOP but without the record and the confirmation, so the next message starts over. A US
 * revocation "by any reasonable means" allows one clarifying text at most (47 CFR 64.1200(a)(12)).
 */
async function holdForOptOutReview(uow: UnitOfWork, contact: Contact, message: Message, keyword: KeywordResult, conversation: Conversation | null): Promise<void> {
  // The review may come from the text or from a clicked button: the word is looked for in both.
  const keywords = uow.workspace.settings.keywords;
  let found: ReturnType<typeof findPlainLanguageOptOut> = null;
  for (const read of [message.text, message.button, keyword.normalized]) {
    if (read !== undefined) found ??= findPlainLanguageOptOut(read, keywords);
  }
  await emitOptOutReview(uow, contact, message, keyword, found?.language ?? keyword.language, found?.word ?? '');
  if (conversation === null) return;
  for (const run of await uow.tx.listActiveRuns(uow.workspaceId, contact.id, message.channel)) {
    if (run.conversationId === conversation.id) await cancelWorkflowRun(uow, run, 'cancelled');
  }
  await uow.closeConversation(conversation);
}

async function emitOptOutReview(uow: UnitOfWork, contact: Contact, message: Message, keyword: KeywordResult, language: KeywordResult['language'], matchedWord: string): Promise<void> {
  await uow.emit(
    'optout.review_needed',
    { contactId: contact.id, channel: message.channel, messageId: message.messageId, text: message.text ?? message.button ?? '', normalized: keyword.normalized, language, matchedWord },
    contact.id,
  );
}

/**
 * DESIGN §3 effects. Keywords are commands: they are answered with a confirmation and do
 * not open a conversation. A repeated keyword that changes nothing writes no record.
 *
 * A keyword sent before the contact's newest decision (a channel delivering late, `timestamp`
 * older than it) is recorded but does not change the status, as for any backdated decision: it
 * gets no confirmation, which would contradict the status that stands. Such an opt-out leaves
 * the runs alone and raises `optout.review_needed`, so a person decides whether it should apply.
 */
async function handleKeyword(uow: UnitOfWork, contact: Contact, message: Message, keyword: KeywordResult, conversation: Conversation | null): Promise<void> {
  const channel = message.channel;
  let replyKey: ReplyKey;
  if (keyword.intent === 'opt_out') {
    const everywhere = isAllChannelsOptOut(keyword);
    const scope = everywhere ? 'any' : channel;
    if (!(await recordKeywordConsent(uow, contact, message, keyword, 'marketing', 'opted_out', scope))) {
      await emitOptOutReview(uow, contact, message, keyword, keyword.language, keyword.keyword ?? '');
      return;
    }
    // The confirmation says no more messages will come: the workspace's own messaging purposes
    // the contact agreed to on that channel stop too (an opt-out "by any reasonable means" covers
    // the messages of that sender, 47 CFR 64.1200(a)(10)), one taken off the list since included:
    // its opt-in would stand again were it put back. An opt-in keyword stays marketing only.
    const states = await uow.consentStatesOf(contact.id);
    for (const purpose of purposesAnOptOutReaches(uow.workspace.settings.purposes, states, scope)) {
      await recordKeywordConsent(uow, contact, message, keyword, purpose, 'opted_out', scope);
    }
    const runs = await uow.tx.listActiveRuns(uow.workspaceId, contact.id, everywhere ? undefined : channel);
    for (const run of runs) await cancelWorkflowRun(uow, run, 'opted_out');
    // The conversation on the channel (every one, after STOP ALL) is closed with its workflows:
    // left open without its run, it would never ask again (a contact who sent STOP during the
    // privacy question would chat on without privacy consent); closed, the next message starts
    // over (DESIGN §4). And an open conversation on an opted-out channel then always means the
    // contact wrote after the STOP, which is what lets a workflow start there (startRequestedWorkflow).
    const closing = everywhere ? await openConversationsOf(uow, contact.id) : conversation === null ? [] : [conversation];
    for (const open of closing) await uow.closeConversation(open);
    replyKey = 'opt_out_confirmation';
  } else if (keyword.intent === 'opt_in') {
    if (!(await recordKeywordConsent(uow, contact, message, keyword, 'marketing', 'opted_in', channel))) return;
    replyKey = 'opt_in_confirmation';
  } else {
    replyKey = 'help';
  }
  const { text } = replyText(replyKey, keyword.language, uow.workspace.settings);
  await uow.reply(contact, channel, conversation?.id ?? null, renderReply(text, uow.workspace), undefined, message.messageId);
}

/** Records the keyword's decision; false when a newer decision of the contact outranks it, so it is not in effect. */
async function recordKeywordConsent(
  uow: UnitOfWork,
  contact: Contact,
  message: Message,
  keyword: KeywordResult,
  purpose: Purpose,
  status: ConsentStatus,
  scope: MessagingChannel | 'any',
): Promise<boolean> {
  if (inEffect(await uow.consentStatesOf(contact.id), purpose, status, scope)) return true;
  const occurredAt = sentAt(uow, message);
  const recorded = await uow.recordConsent(
    {
      contactId: contact.id,
      purpose,
      channel: scope,
      status,
      legalBasis: status === 'opted_in' ? 'CONSENT_WITH_NOTICE' : null,
      explanation: keywordExplanation(purpose, status, scope, keyword, message.channel),
      source: 'keyword',
      actor: contactActor(contact.id),
      evidence: {
        messageId: message.messageId,
        identity: `${message.channel}:${message.from.id}`,
        ...(message.text !== undefined ? { rawText: message.text } : {}),
        ...(message.button !== undefined ? { button: message.button } : {}),
        normalizedText: keyword.normalized,
        ...(keyword.keyword ? { keyword: keyword.keyword } : {}),
        ...(keyword.language ? { language: keyword.language } : {}),
      },
      occurredAt,
    },
  );
  return recorded.current.recordId === recorded.record.id && inEffect(await uow.consentStatesOf(contact.id), purpose, status, scope);
}

/**
 * Why a keyword decision was made, in the words of its record: what it is about (its purpose and
 * channel, as recorded) and what the contact sent, naming the channel once ("Opted out of marketing
 * on sms by sending the keyword ALTO"). A STOP ALL is about every channel, so the channel it came in
 * on is named after it ("Opted out of marketing on every channel by sending the keyword STOP ALL on
 * sms"). The explanation is hashed into the record and stays after erasure: it names no one.
 */
function keywordExplanation(purpose: Purpose, status: ConsentStatus, scope: MessagingChannel | 'any', keyword: KeywordResult, channel: MessagingChannel): string {
  const decided = status === 'opted_in' ? `Opted in to ${purpose}` : `Opted out of ${purpose}`;
  const sent = `by sending the keyword ${keyword.keyword ?? ''}`;
  return scope === 'any' ? `${decided} on every channel ${sent} on ${channel}` : `${decided} on ${scope} ${sent}`;
}

/**
 * Whether messages of `purpose` on `scope` stand at `status`. For `any` (STOP ALL) that is the
 * every-channel row and each channel of its own: a newer decision on one channel (an opt-in from
 * HubSpot after the STOP ALL was sent) outranks it there (DESIGN §2, the later decision wins).
 */
function inEffect(states: readonly ConsentState[], purpose: Purpose, status: ConsentStatus, scope: MessagingChannel | 'any'): boolean {
  if (scope !== 'any') return effectiveStatus(states, purpose, scope).status === status;
  const indexed = new ConsentStates(states);
  if (indexed.effective(purpose, 'any').status !== status) return false;
  return indexed.ofPurpose(purpose).every((state) => indexed.effective(purpose, state.channel).status === status);
}

/** The contact a message came from, and the identity it came from as that contact has it stored. */
interface Sender {
  contact: Contact;
  /** The sender id as stored: `from.id` itself, or the spelling of the same number the contact has (knownSpelling). */
  externalId: string;
}

/**
 * The sender, by their identity on the channel (in the spelling sent, else in one of the spellings
 * of its number that knownSpelling finds), then by e-mail or phone; created when unknown.
 */
async function resolveContact(uow: UnitOfWork, message: Message): Promise<Sender> {
  const { tx, workspaceId } = uow;
  const country = uow.workspace.settings.defaultCountry;
  const identity = { channel: message.channel, externalId: message.from.id };
  const email = senderEmail(message);
  // Parsing a phone number is the dearest step here, and a known sender rarely needs it: it is
  // parsed on first use only (undefined: not parsed yet), the sender id at most once.
  let phone: string | null | undefined;
  let idNumber: string | null | undefined;
  const senderIdNumber = (): string | null => {
    if (idNumber === undefined) idNumber = PHONE_CHANNELS.includes(message.channel) ? phoneOfSenderId(message, country) : null;
    return idNumber;
  };

  let contact = await tx.findContactByIdentity(workspaceId, message.channel, message.from.id);
  const byIdentity = contact !== undefined;
  const spelled = byIdentity ? undefined : await knownSpelling(uow, message, senderIdNumber());
  contact ??= spelled?.contact;
  if (!contact && email) contact = await tx.findContactByEmail(workspaceId, email);
  if (!contact) {
    phone = senderPhone(message, country, senderIdNumber);
    if (phone) contact = await tx.findContactByPhone(workspaceId, phone);
  }

  if (!contact) {
    const created = await uow.insertContact(
      uow.blankContact({
        name: senderName(message.from.name),
        email,
        phone: phone === undefined ? senderPhone(message, country, senderIdNumber) : phone,
        identities: [identity],
      }),
    );
    return { contact: created, externalId: identity.externalId };
  }
  contact = uow.remember(contact);

  const changes: string[] = [];
  // Another spelling of a number the contact has on the channel is that identity: it is not stored
  // again (one number, one identity), unless an erasure would keep more of it than of the spelling
  // stored (erasedAddressDigests): an erasure then keeps what it kept before.
  const sameIdentity = spelled !== undefined && addsNothingErasureKeeps(uow, contact, identity);
  const withIdentity = sameIdentity ? { contact, changed: false } : addIdentity(contact, identity);
  let next = withIdentity.contact;
  if (withIdentity.changed) changes.push('identities');
  const externalId = sameIdentity ? spelled.externalId : storedSenderId(next, identity);
  const name = senderName(message.from.name);
  if (!next.name && name) {
    next = { ...next, name };
    changes.push('name');
  }
  // An address another contact has stays that contact's (noteSenderAddressTaken). The contact
  // found by e-mail or phone was looked up by it already: the e-mail of a contact found by its
  // phone is free, as that look-up came first.
  if (!next.email && email) {
    const owner = byIdentity || spelled !== undefined ? await otherOwner(uow, next, 'email', email) : undefined;
    if (owner === undefined) {
      next = { ...next, email };
      changes.push('email');
    } else await noteSenderAddressTaken(uow, next, 'email', owner);
  }
  if (!next.phone) {
    if (phone === undefined) phone = senderPhone(message, country, senderIdNumber);
    if (phone) {
      const owner = await otherOwner(uow, next, 'phone', phone);
      if (owner === undefined) {
        next = { ...next, phone };
        changes.push('phone');
      } else await noteSenderAddressTaken(uow, next, 'phone', owner);
    }
  }
  // The person wrote: a bulk row's guard for an address of an erased contact ends (consents.ts)
  // for a message from an identity the contact had before the guard, or one the channel itself
  // delivered from the held address, however the contact was found. An e-mail or phone the
  // message merely names (`from.email`, `from.phone`) is whatever the channel's adapter passed
  // on, typed by anyone or copied from the same old list, so it is no sign that the person came
  // back; nor is an identity attached while the guard stood, which came with such a named address,
  // nor an e-mail or phone so attached, unless an erased contact had it too (the channel then
  // delivered from a held address). Only a guarded contact costs a write for it, and a look-up of
  // digests. A message from another spelling of an identity (knownSpelling) does not count as one
  // from that identity here: only the spelling stored does, so no guard ends that did not before.
  const lifted =
    contact.erasedAddressGuard !== undefined &&
    ((byIdentity && writesFromOwnIdentity(contact, identity)) || (await deliveredFromHeldAddress(uow, message, contact)));
  if (changes.length === 0 && !lifted) return { contact, externalId };
  const saved = await uow.saveContact(lifted ? withErasedAddressGuard(next, false) : next);
  if (changes.length > 0) await uow.emit('contact.updated', { contactId: saved.id, changes }, saved.id);
  return { contact: saved, externalId };
}

/**
 * The spellings a number is looked up by on a channel when the sender id is another spelling of it
 * ("600 555 111", "+34 600 555 111"): E.164 on SMS, and on WhatsApp the WhatsApp ID (the number
 * without "+", as the Cloud API sends it: WHATSAPP_ID) and E.164. Each is read back as that number
 * (phoneOfSenderId), whatever the workspace's defaultCountry becomes.
 */
function numberSpellings(channel: MessagingChannel, number: string): string[] {
  return channel === 'whatsapp' ? [number.slice(1), number] : [number];
}

/**
 * The contact that has the sender's `number` (the sender id read as one on WhatsApp and SMS:
 * phoneOfSenderId) on the message's channel as an identity in another spelling (numberSpellings),
 * and that identity; undefined when the sender id is no phone number, or no contact has one. An
 * SMS gateway or an adapter may pass the same number written another way, and the channel
 * delivered the message from that number all the same, so it is that identity. Only the spellings
 * numberSpellings looks up are found: a contact known by a national spelling alone is found by its
 * phone, as before.
 */
async function knownSpelling(uow: UnitOfWork, message: Message, number: string | null): Promise<{ contact: Contact; externalId: string } | undefined> {
  if (number === null) return undefined;
  for (const externalId of numberSpellings(message.channel, number)) {
    if (externalId === message.from.id) continue;
    const contact = await uow.tx.findContactByIdentity(uow.workspaceId, message.channel, externalId);
    if (contact !== undefined) return { contact, externalId };
  }
  return undefined;
}

/** Whether storing `identity` on the contact would give an erasure of it no address it does not keep already (erasedAddressDigests). */
function addsNothingErasureKeeps(uow: UnitOfWork, contact: Contact, identity: ContactIdentity): boolean {
  const kept = new Set(erasedAddressDigests(uow.workspaceId, contact));
  return erasedAddressDigests(uow.workspaceId, { identities: [identity] }).every((digest) => kept.has(digest));
}

/** The sender id as the contact stores it: as sent, or trimmed as addIdentity stores a new one. */
function storedSenderId(contact: Contact, identity: ContactIdentity): string {
  const sent = identity.externalId;
  return contact.identities.some((known) => known.channel === identity.channel && known.externalId === sent) ? sent : sent.trim();
}

/**
 * The sender's e-mail: the one given, or on the `email` channel the sender id, which is their
 * address; null when it is not one. A `from.email` that is not an address is ignored, as
 * senderPhone ignores a `from.phone`, and the sender id stands in for it.
 */
function senderEmail(message: Message): string | null {
  const given = message.from.email ? tryNormalizeEmail(message.from.email) : null;
  if (given !== null) return given;
  return message.channel === 'email' ? tryNormalizeEmail(message.from.id) : null;
}

/**
 * The sender's phone in E.164: the one given, or the sender id on a phone channel; null when there
 * is none or it does not parse. A `from.phone` that does not parse is ignored, and the message is
 * read as one without it (the warning says so), so the sender id stands in for it.
 */
function senderPhone(message: Message, country: string | null, senderIdNumber: () => string | null): string | null {
  return givenPhone(message, country) ?? senderIdNumber();
}

/** `from.phone` in E.164; null when the message names none or it does not parse. */
function givenPhone(message: Message, country: string | null): string | null {
  return message.from.phone ? tryNormalizePhone(message.from.phone, country) : null;
}

/**
 * Why the sender id of a WhatsApp or SMS message without a readable `from.phone` is not read as
 * the contact's phone (senderPhone), or null when it is, or does not have to be. The message is
 * processed all the same (it may carry a STOP), but the contact is then known by the sender id
 * alone: an opt-out it carries never reaches a contact found by the number in E.164.
 */
export function unreadableSenderIdIssue(message: Message, country: string | null): string | null {
  if (!PHONE_CHANNELS.includes(message.channel) || givenPhone(message, country) !== null || phoneOfSenderId(message, country) !== null) return null;
  return country === null
    ? 'is not read as a phone number: it has no country code, and the workspace has no defaultCountry to read a national number in'
    : `is not read as a phone number, international or of ${country} (the workspace's defaultCountry)`;
}

/** The sender id of a WhatsApp or SMS message as an E.164 number; null when it does not parse. */
function phoneOfSenderId(message: Message, country: string | null): string | null {
  const id = message.from.id;
  return message.channel === 'whatsapp' && WHATSAPP_ID.test(id) ? tryNormalizePhone(`+${id}`, null) : tryNormalizePhone(id, country);
}

/**
 * Whether the channel delivered the message from the guarded contact's held address: its e-mail
 * or phone, as the contact had it before the message, that an erased contact had (a digest kept
 * by eraseContact: what the guard is about). The channel vouches for the address it delivered
 * from, so its owner wrote. That holds however the contact came to have the address, also when a
 * message that found it by an address it merely named gave it while the guard stood: an address
 * no erased contact had ends nothing.
 */
async function deliveredFromHeldAddress(uow: UnitOfWork, message: Message, contact: Contact): Promise<boolean> {
  const delivered = deliveredAddress(message, uow.workspace.settings.defaultCountry);
  if (delivered === undefined || contact[delivered.field] !== delivered.address) return false;
  const digests = erasedAddressDigests(uow.workspaceId, { [delivered.field]: delivered.address });
  return (await uow.tx.findErasedAddresses(uow.workspaceId, digests)).length > 0;
}

/** The address the channel delivered the message from: the sender id on the `email` channel (an e-mail), or on WhatsApp and SMS (a phone). */
function deliveredAddress(message: Message, country: string | null): { field: 'email' | 'phone'; address: string } | undefined {
  if (message.channel === 'email') {
    const email = tryNormalizeEmail(message.from.id);
    return email === null ? undefined : { field: 'email', address: email };
  }
  const phone = PHONE_CHANNELS.includes(message.channel) ? phoneOfSenderId(message, country) : null;
  return phone === null ? undefined : { field: 'phone', address: phone };
}

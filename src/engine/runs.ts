import { MESSAGING_CHANNELS, type ConsentState, type Evidence, type MessagingChannel } from '../core/consent.js';
import type { Contact } from '../core/contact.js';
import { addTag, firstName, removeTag, setField } from '../core/contact.js';
import type { WorkflowTrigger, WorkspaceSettings } from '../core/settings.js';
import type { Effect, RunState, TransitionContext, TransitionResult, WorkflowInput } from '../core/workflow/index.js';
import { asksForConsent, cancelRun, getTemplate, isAwaitingAnswer, missingWorkspaceSettings, parseRunState, requiredByWorkflow, startRun, transition, waitingTriggers } from '../core/workflow/index.js';
import { ConsentryError, describeIssues } from '../core/errors.js';
import { ContactDuplicateDataSchema } from '../core/events.js';
import type { RunOutcome } from '../core/workflow/transition.js';
import { effectiveStatus, isNewerDecision } from '../core/ledger.js';
import { normalizeText } from '../core/keywords.js';
import type { Conversation, QueuedWorkflow, TimerRow, WorkflowRunRow } from '../ports/store.js';
import { contactActor, reachableAddressOn, type RecordedConsent, type UnitOfWork } from './unit-of-work.js';

/** A workflow that triggers workflows that tag contacts ... stops here rather than looping. */
const MAX_TRIGGER_DEPTH = 5;

function runContext(uow: UnitOfWork, contact: Contact, channel: MessagingChannel, runId: string): TransitionContext {
  return {
    now: uow.now,
    contact: {
      name: contact.name,
      firstName: firstName(contact),
      email: contact.email,
      phone: contact.phone,
      tags: contact.tags,
      fields: contact.fields,
    },
    workspace: {
      privacyPolicyUrl: uow.workspace.settings.privacyPolicyUrl,
      defaultCountry: uow.workspace.settings.defaultCountry,
    },
    channel,
    runId,
  };
}

function runState(run: WorkflowRunRow): RunState {
  return parseRunState(run.state);
}

/**
 * Starts a workflow run for a contact and applies what its first steps do. Returns null when a
 * triggered (not requested) run cannot start: the workspace lacks a setting its texts need
 * (asking for consent without a privacy policy link would be worthless), or the same workflow
 * is already running in the conversation. A requested start refuses both with a typed error.
 *
 * One run per workflow and conversation: two runs of one template would ask the same question
 * twice, and the one left unanswered would time out and report a failure for a contact who had
 * just agreed through the other.
 */
export async function startWorkflowRun(
  uow: UnitOfWork,
  templateId: string,
  contact: Contact,
  channel: MessagingChannel,
  conversation: Conversation | null,
  depth = 0,
  requested = false,
  activeRuns?: readonly WorkflowRunRow[],
): Promise<WorkflowRunRow | null> {
  const definition = getTemplate(templateId);
  // A trigger met by the message that closed the conversation starts nothing there (closedHere),
  // nor in one closed before: no answer would reach its question.
  if (conversation && !requested && (conversation.status === 'closed' || uow.closedHere(conversation.id))) return null;
  if (conversation) {
    // The contact's active runs on the channel, unless the caller has just read them (startOrQueueWorkflow).
    const active = activeRuns ?? (await uow.tx.listActiveRuns(uow.workspaceId, contact.id, channel));
    const running = active.find((run) => run.templateId === templateId && run.conversationId === conversation.id);
    if (running) {
      if (!requested) return null;
      // The issue names the template, the workflow the request asks for; the message stays a
      // sentence, as Slack's and HubSpot's answers quote it (an HTTP problem lists the issues).
      const message = `workflow "${templateId}" is already running for this contact on ${channel} (run ${running.id}): a new run can start once it ends`;
      throw new ConsentryError('CONFLICT', `Workflow "${templateId}" is already running for this contact on ${channel} (run ${running.id}): a new run can start once it ends`, [
        { path: 'template', message },
      ]);
    }
  }
  const runId = uow.newId();
  const context = runContext(uow, contact, channel, runId);
  const missing = missingWorkspaceSettings(definition, context.workspace);
  if (missing.length > 0) {
    if (!requested) return null;
    // Worded as every refusal of a field (`path: message`), so the library, the CLI and the API say it alike.
    const issues = missing.map((name) => ({ path: `settings.${name}`, message: requiredByWorkflow(templateId) }));
    throw new ConsentryError('VALIDATION_FAILED', describeIssues(issues), issues);
  }
  const result = startRun(definition, context);
  const run: WorkflowRunRow = {
    id: runId,
    workspaceId: uow.workspaceId,
    contactId: contact.id,
    conversationId: conversation?.id ?? null,
    channel,
    templateId,
    status: 'active',
    state: result.state,
    createdAt: uow.nowIso,
    updatedAt: uow.nowIso,
  };
  return settle(uow, run, result, null, depth, 'new');
}

/** What a contact lacks to be reached on a channel where reachableAddressOn finds nothing. */
const MISSING_ADDRESS: Readonly<Record<MessagingChannel, string>> = {
  whatsapp: 'it has no phone number and has not written on WhatsApp',
  sms: 'it has no phone number and has not written by SMS',
  email: 'it has no e-mail address',
  messenger: 'it has not written on Messenger (a page can only message the page-scoped id a person writes from)',
  telegram: 'it has not written on Telegram (a bot can only message a chat a person started)',
  webchat: 'it has no web chat session',
};

/**
 * The opt-out from messages on `channel` the contact has not written after, if any: the business
 * may not start a conversation there (after STOP only the one confirmation may be sent: FCC 24-24,
 * 47 CFR 64.1200(a)(12)) until the contact opts in again or writes first, which opens a
 * conversation after the decision. `open` is the contact's open conversation on the channel.
 */
async function unansweredOptOut(uow: UnitOfWork, contact: Contact, channel: MessagingChannel, open: Conversation | undefined): Promise<ConsentState | null> {
  const { status, state } = effectiveStatus(await uow.consentStatesOf(contact.id), 'marketing', channel);
  if (status !== 'opted_out' || state === null) return null;
  return open !== undefined && Date.parse(open.openedAt) > Date.parse(state.occurredAt) ? null : state;
}

/**
 * A requested start: the run, and the conversation it talks in, whose `id` is null when the run
 * ended at its first steps without sending anything and the contact had no conversation open on
 * the channel, so none was opened for it.
 */
export interface RequestedStart {
  run: WorkflowRunRow;
  conversationId: string | null;
}

/**
 * How a run ended, as its `workflow.finished` says, or null while it goes on (it waits for an
 * answer): a caller that started it tells "asked" from "nothing to ask" without reading tags.
 */
export function runOutcome(run: WorkflowRunRow): RunOutcome | null {
  if (run.status === 'active') return null;
  return readableRunState(run)?.outcome ?? (run.status === 'cancelled' ? 'cancelled' : 'done');
}

/**
 * The run's state, or undefined when the runtime can no longer read it: a run abandoned because a
 * template changed under it keeps the state it had (abandonWorkflowRun), and a report of it says
 * what the row says rather than failing.
 */
function readableRunState(run: WorkflowRunRow): RunState | undefined {
  try {
    return parseRunState(run.state);
  } catch {
    return undefined;
  }
}

/** A run as a caller that started it follows it: how it stands, how it ended, what it waits for. */
export interface WorkflowRunReport {
  runId: string;
  templateId: string;
  contactId: string;
  channel: MessagingChannel;
  conversationId: string | null;
  status: WorkflowRunRow['status'];
  outcome: RunOutcome | null;
  startedAt: string;
  /** When the run completed or was cancelled; null while it goes on. */
  endedAt: string | null;
  /** The step the run waits at (`answer`: a question waits for the contact's answer; `wait`: a pause), until `dueAt`; null when it waits for nothing. */
  waiting: { stepId: string; kind: 'answer' | 'wait'; dueAt: string; timesAsked: number } | null;
}

export function runReport(run: WorkflowRunRow): WorkflowRunReport {
  const state = readableRunState(run);
  const waiting = run.status === 'active' && state ? state.waiting : null;
  return {
    runId: run.id,
    templateId: run.templateId,
    contactId: run.contactId,
    channel: run.channel,
    conversationId: run.conversationId,
    status: run.status,
    outcome: runOutcome(run),
    startedAt: run.createdAt,
    endedAt: run.status === 'active' ? null : run.updatedAt,
    waiting: waiting ? { stepId: waiting.stepId, kind: waiting.kind, dueAt: waiting.dueAt, timesAsked: state?.timesAsked[waiting.stepId] ?? 0 } : null,
  };
}

/**
 * A start someone asked for (the API, HubSpot's action, Slack's button): in the contact's open
 * conversation on `channel`, else in a new one. Refused with CONTACT_UNREACHABLE naming `channel`
 * when the contact cannot be reached there, and with CONFLICT after an opt-out the contact has
 * not written after (unansweredOptOut).
 *
 * A run that would end at its first steps without a word (request-consent-privacy for a contact
 * who already agreed ends `skipped`) opens no conversation: one opened for it would hold nothing,
 * yet it would take the contact's next message, which would then open no conversation and so
 * start none of the `conversation_opened` workflows (DESIGN §4). For the same reason, a
 * conversation opened for a run that sends its texts and ends at once is closed after them.
 */
export async function startRequestedWorkflow(uow: UnitOfWork, templateId: string, contact: Contact, channel: MessagingChannel): Promise<RequestedStart> {
  const open = await uow.tx.getOpenConversation(uow.workspaceId, contact.id, channel);
  if (!open && reachableAddressOn(contact, channel) === null) {
    const message = `Contact ${contact.id} cannot be reached on ${channel}: ${MISSING_ADDRESS[channel]}`;
    throw new ConsentryError('CONTACT_UNREACHABLE', message, [{ path: 'channel', message }]);
  }
  const optOut = await unansweredOptOut(uow, contact, channel, open);
  if (optOut !== null) {
    const everywhere = optOut.channel === 'any' ? ' (on every channel)' : '';
    const why = `opted out of messages on ${channel}${everywhere} at ${optOut.occurredAt} and has not written there since: a workflow can start there once the contact opts in again or writes first`;
    throw new ConsentryError('CONFLICT', `Contact ${contact.id} ${why}`, [{ path: 'channel', message: `contact ${contact.id} ${why}` }]);
  }
  if (open === undefined && endsSilently(uow, templateId, contact, channel)) {
    const run = await startWorkflowRun(uow, templateId, contact, channel, null, 0, true);
    if (!run) throw new ConsentryError('INVALID_WORKFLOW', `Workflow "${templateId}" could not start`);
    return { run, conversationId: null };
  }
  const conversation = open ?? (await uow.openConversation(contact.id, channel));
  const run = await startWorkflowRun(uow, templateId, contact, channel, conversation, 0, true);
  if (!run) throw new ConsentryError('INVALID_WORKFLOW', `Workflow "${templateId}" could not start`);
  if (conversation.queuedWorkflows?.some((entry) => entry.template === templateId)) await unqueueTemplate(uow, conversation.id, templateId);
  // A conversation opened for a run that sent its texts and ended at once (a welcome that found
  // the address it asks for) holds nothing more: left open, it would take the contact's next
  // message, and the `conversation_opened` workflows (the privacy question) would never start.
  if (open === undefined && run.status !== 'active') await closeConversationLeftIdle(uow, run);
  return { run, conversationId: conversation.id };
}

/**
 * Whether a run of the template started now for the contact would end at its first steps without
 * sending anything. The runtime is pure, so this runs them on a copy and keeps nothing; the id
 * it is given is not stored.
 */
function endsSilently(uow: UnitOfWork, templateId: string, contact: Contact, channel: MessagingChannel): boolean {
  const definition = getTemplate(templateId);
  const context = runContext(uow, contact, channel, '');
  // Without a setting it needs, the start is refused (startWorkflowRun) before any step runs.
  if (missingWorkspaceSettings(definition, context.workspace).length > 0) return false;
  const result = startRun(definition, context);
  return result.state.status !== 'active' && !result.effects.some((effect) => effect.type === 'send_message');
}

/**
 * Feeds an input (an answer, a fired timer) to a run. `state` is the run's state as already read
 * by the caller (see waitingRunState), so it is not read twice.
 */
export async function advanceRun(uow: UnitOfWork, run: WorkflowRunRow, input: WorkflowInput, depth = 0, state: RunState = runState(run)): Promise<WorkflowRunRow> {
  const contact = await uow.requireContact(run.contactId);
  const definition = getTemplate(run.templateId);
  const result = transition(definition, state, input, runContext(uow, contact, run.channel, run.id));
  return settle(uow, run, result, input.kind === 'message' ? input.messageId : null, depth, 'stored');
}

/**
 * Gives a run waiting for an answer the `recheck` input; its row is written only when that ends it.
 * Answers whether it ended the run (a question the contact's new tag or field made moot).
 */
async function recheckRun(uow: UnitOfWork, run: WorkflowRunRow, contact: Contact, depth: number): Promise<boolean> {
  const state = waitingRunState(run);
  if (state === null) return false;
  const result = transition(getTemplate(run.templateId), state, { kind: 'recheck' }, runContext(uow, contact, run.channel, run.id));
  if (result.state === state) return false;
  const settled = await settle(uow, run, result, null, depth, 'stored');
  return settled.status !== 'active';
}

/**
 * Fires a run's due timer: the timer row is consumed, and a run still active advances with it.
 * Null when the run is gone or already finished.
 */
export async function fireTimer(uow: UnitOfWork, timer: Pick<TimerRow, 'runId' | 'token'>): Promise<WorkflowRunRow | null> {
  const run = await uow.tx.getRun(uow.workspaceId, timer.runId);
  await uow.tx.deleteTimer(timer.runId);
  if (!run || run.status !== 'active') return null;
  await advanceRun(uow, run, { kind: 'timer', token: timer.token });
  return run;
}

/**
 * Fires the timers of the contact's runs on `channel` that fell due before the message that is
 * being handled was sent (`sentAt`), and that the scheduler has not fired yet (it runs behind, or
 * the server was down). What happens at a deadline happens before a message sent after it: an
 * answer sent after the five minutes of a consent question finds the question timed out, as it
 * would have with a punctual scheduler, whatever the scheduler's lag.
 */
export async function fireOverdueTimers(uow: UnitOfWork, contactId: string, channel: MessagingChannel, sentAt: string): Promise<void> {
  for (const timer of await uow.tx.listDueTimersOfContact(uow.workspaceId, contactId, channel, sentAt)) {
    // A timer fired before this one may have ended or moved the run: fire only what still stands.
    const current = await uow.tx.getTimer(timer.runId);
    if (current?.token === timer.token && current.dueAt <= sentAt) await fireTimer(uow, current);
  }
}

/** Cancels a run (an opt-out, a closed conversation, an erasure). */
export async function cancelWorkflowRun(uow: UnitOfWork, run: WorkflowRunRow, outcome: 'opted_out' | 'cancelled'): Promise<void> {
  await settle(uow, run, cancelRun(runState(run), outcome), null, MAX_TRIGGER_DEPTH, 'stored');
}

/**
 * Ends a run whose stored state the runtime can no longer read (a template changed under it):
 * it is marked cancelled without going through the runtime.
 */
export async function abandonWorkflowRun(uow: UnitOfWork, run: WorkflowRunRow): Promise<void> {
  await uow.tx.updateRun({ ...run, status: 'cancelled', updatedAt: uow.nowIso });
  await uow.tx.deleteTimer(run.id);
  await uow.emit(
    'workflow.finished',
    { contactId: run.contactId, runId: run.id, templateId: run.templateId, channel: run.channel, outcome: 'cancelled' },
    run.contactId,
  );
}

/**
 * After a run was ended outside the runtime (abandonWorkflowRun): its conversation, when it is
 * open and no other active run drives it, is closed, so that the contact's next message opens a
 * new one and the workflows start again (DESIGN §4) instead of landing in a conversation nothing
 * answers.
 */
export async function closeConversationLeftIdle(uow: UnitOfWork, run: WorkflowRunRow): Promise<void> {
  if (run.conversationId === null) return;
  const conversation = await uow.tx.getConversation(uow.workspaceId, run.conversationId);
  if (conversation?.status !== 'open') return;
  const others = await uow.tx.listActiveRuns(uow.workspaceId, run.contactId, run.channel);
  if (others.some((other) => other.id !== run.id && other.conversationId === conversation.id)) return;
  await uow.closeConversation(conversation);
}

/** The run's state when it is active and waiting for an answer; null otherwise. */
export function waitingRunState(run: WorkflowRunRow): RunState | null {
  if (run.status !== 'active') return null;
  const state = runState(run);
  return isAwaitingAnswer(state) ? state : null;
}

/**
 * Stores a run's new state and carries out its effects. A `new` run is inserted as it stands
 * after its first steps; a run that finishes has its timer deleted unless its effects already
 * cleared it (a new run never had one to begin with).
 */
async function settle(
  uow: UnitOfWork,
  run: WorkflowRunRow,
  result: TransitionResult,
  inReplyTo: string | null,
  depth: number,
  row: 'new' | 'stored',
): Promise<WorkflowRunRow> {
  const finished = result.state.status !== 'active';
  const updated: WorkflowRunRow = {
    ...run,
    state: result.state,
    status: result.state.status === 'active' ? 'active' : result.state.status === 'completed' ? 'completed' : 'cancelled',
    updatedAt: uow.nowIso,
  };
  if (row === 'new') await uow.tx.insertRun(updated);
  else await uow.tx.updateRun(updated);
  const timer = await applyEffects(uow, updated, result.effects, inReplyTo, depth);
  if (finished) {
    if (timer === 'set' || (timer === 'untouched' && row === 'stored')) await uow.tx.deleteTimer(run.id);
    await uow.emit(
      'workflow.finished',
      {
        contactId: run.contactId,
        runId: run.id,
        templateId: run.templateId,
        channel: run.channel,
        outcome: result.state.outcome === null ? 'done' : result.state.outcome,
      },
      run.contactId,
    );
    // The question it asked ended (or the consent question, which may end before it is asked):
    // what was queued behind it starts (startOrQueueWorkflow).
    const askedQuestion = asksForConsent(run.templateId) || (row === 'stored' && waitingRunState(run) !== null);
    if (run.conversationId !== null && askedQuestion) await startQueuedWorkflows(uow, run.conversationId, depth + 1);
  }
  return updated;
}

/** Carries out a run's effects, in order; says what the last timer effect did to the run's timer. */
async function applyEffects(
  uow: UnitOfWork,
  run: WorkflowRunRow,
  effects: readonly Effect[],
  inReplyTo: string | null,
  depth: number,
): Promise<'set' | 'cleared' | 'untouched'> {
  const channel = run.channel;
  let timer: 'set' | 'cleared' | 'untouched' = 'untouched';
  for (const effect of effects) {
    // The contact as the previous effects left it (tags, fields).
    const contact = uow.knownContact(run.contactId) ?? (await uow.requireContact(run.contactId));
    switch (effect.type) {
      case 'send_message':
        await uow.reply(contact, channel, run.conversationId, effect.text, effect.options, inReplyTo);
        break;
      case 'set_timer':
        await uow.tx.setTimer({ id: uow.newId(), workspaceId: uow.workspaceId, runId: run.id, token: effect.token, dueAt: effect.dueAt });
        timer = 'set';
        break;
      case 'clear_timer':
        await uow.tx.deleteTimer(run.id);
        timer = 'cleared';
        break;
      case 'add_tag':
        await tagContact(uow, contact, effect.tag, depth + 1, run);
        break;
      case 'remove_tag':
        await untagContact(uow, contact, effect.tag);
        break;
      case 'update_field':
        await updateContactField(uow, run, contact, effect.field, effect.value);
        break;
      case 'record_consent': {
        const recorded = await uow.recordConsent({
          contactId: contact.id,
          purpose: effect.purpose,
          channel: effect.channel,
          status: effect.status,
          legalBasis: effect.legalBasis,
          explanation: effect.explanation,
          source: 'workflow',
          actor: contactActor(contact.id),
          evidence: withIdentity(effect.evidence, contact, channel),
          ...(effect.occurredAt !== undefined ? { occurredAt: effect.occurredAt } : {}),
        });
        await followPrivacyDecision(uow, recorded, depth + 1, run);
        break;
      }
      case 'close_conversation': {
        if (run.conversationId === null) break;
        const conversation = await uow.tx.getConversation(uow.workspaceId, run.conversationId);
        if (conversation) await closeConversationAndRuns(uow, conversation, run.id);
        break;
      }
      case 'consent_failed':
        await uow.emit(
          'consent.failed',
          {
            contactId: contact.id,
            channel,
            purpose: effect.purpose,
            reason: effect.reason,
            attempts: effect.attempts,
            workflowId: run.templateId,
            runId: run.id,
            conversationId: run.conversationId,
            contactName: contact.name,
          },
          contact.id,
        );
        break;
      case 'trigger_workflow':
        if (depth < MAX_TRIGGER_DEPTH) {
          const conversation = run.conversationId ? ((await uow.tx.getConversation(uow.workspaceId, run.conversationId)) ?? null) : null;
          await startWorkflowRun(uow, effect.templateId, contact, channel, conversation, depth + 1);
        }
        break;
    }
  }
  return timer;
}

/** Closing a conversation ends the other runs it hosted: a closed chat asks nothing more. */
export async function closeConversationAndRuns(uow: UnitOfWork, conversation: Conversation, exceptRunId: string | null): Promise<void> {
  await uow.closeConversation(conversation);
  const runs = await uow.tx.listActiveRuns(uow.workspaceId, conversation.contactId, conversation.channel);
  for (const other of runs) {
    if (other.id !== exceptRunId && other.conversationId === conversation.id) await cancelWorkflowRun(uow, other, 'cancelled');
  }
}

/** The run whose step is changing the contact, if one is: where that change happens. */
type RunPlace = Pick<WorkflowRunRow, 'id' | 'channel' | 'conversationId' | 'templateId'>;

/**
 * Adds a tag. The contact's other runs waiting for an answer are checked again (a question the
 * tag makes moot ends quietly; see the runtime's `recheck`), then the workflows bound to
 * `tag_added` start: in the conversation of the run that added the tag (`byRun`), else in the
 * contact's latest open conversation (see tagAddedPlace).
 *
 * A tag that ends the consent question of that conversation (the agreement adding `Consent:
 * Privacy`, or a privacy opt-in recorded from outside making the question moot) does not start
 * its bindings beside the ones queued behind that question: they join the queue, after the
 * entries triggered before them, and start with it, when the run that asked ends (at once for an
 * agreement, whose answer carries them after the confirmation) or, for a question made moot from
 * outside, at the contact's next message in that conversation, whose answer carries their texts
 * (startQueuedWorkflows). Started at once, they would run before what the contact asked for
 * earlier, and, from outside, their texts would answer no message and their question would take
 * the contact's next message as its answer.
 */
export async function tagContact(uow: UnitOfWork, contact: Contact, tag: string, depth = 0, byRun?: RunPlace): Promise<Contact> {
  const { contact: tagged, changed } = addTag(contact, tag);
  if (!changed) return contact;
  const saved = await uow.saveContact(tagged);
  await uow.emit('contact.tagged', { contactId: contact.id, tag }, contact.id);
  // The conversations whose consent question this tag ended.
  const settled = new Set<string>();
  for (const run of await uow.tx.listActiveRuns(uow.workspaceId, contact.id)) {
    if (run.id === byRun?.id) continue;
    if ((await recheckRun(uow, run, saved, depth + 1)) && run.conversationId !== null && asksForConsent(run.templateId)) settled.add(run.conversationId);
  }
  if (depth > MAX_TRIGGER_DEPTH || matchingBindings(uow, 'tag_added', tag).length === 0) return saved;
  const place = await tagAddedPlace(uow, saved, byRun);
  if (place === null) return saved;
  const conversationId = place.conversation.id;
  if (byRun !== undefined && byRun.conversationId === conversationId && asksForConsent(byRun.templateId)) {
    // The run that asked is ending (settle starts the queue once its effects are carried out).
    await queueTriggeredWorkflows(uow, conversationId, 'tag_added', tag);
  } else if (settled.has(conversationId)) {
    await queueTriggeredWorkflows(uow, conversationId, 'tag_added', tag);
    await startQueuedWorkflows(uow, conversationId, depth + 1);
  } else {
    await startTriggeredWorkflows(uow, 'tag_added', saved, tag, depth, place.channel, place.conversation);
  }
  return saved;
}

/** The contact's open conversations, latest opened first. */
export async function openConversationsOf(uow: UnitOfWork, contactId: string): Promise<Conversation[]> {
  const open: Conversation[] = [];
  for (const channel of MESSAGING_CHANNELS) {
    const conversation = await uow.tx.getOpenConversation(uow.workspaceId, contactId, channel);
    if (conversation) open.push(conversation);
  }
  return open.sort((a, b) => (a.openedAt < b.openedAt ? 1 : a.openedAt > b.openedAt ? -1 : 0));
}

/**
 * Where a workflow that a new tag triggers talks to the contact: only in a conversation the
 * contact has open, where its questions can be answered. A run that added the tag: its own
 * conversation. A tag added from outside (the API, HubSpot, an import): the conversation the
 * contact opened last, passing over one on a channel the contact opted out of and has not written
 * on since (unansweredOptOut). With none, null, and nothing starts: opening a conversation for it
 * would be the business writing first, which a start through the API does on purpose, and would
 * keep the contact's next message from opening a conversation, and so from being asked for
 * privacy consent (`conversation_opened`).
 */
async function tagAddedPlace(uow: UnitOfWork, contact: Contact, byRun: RunPlace | undefined): Promise<{ channel: MessagingChannel; conversation: Conversation } | null> {
  if (byRun?.conversationId) {
    const conversation = await uow.tx.getConversation(uow.workspaceId, byRun.conversationId);
    if (conversation?.status === 'open') return { channel: conversation.channel, conversation };
  }
  for (const open of await openConversationsOf(uow, contact.id)) {
    if ((await unansweredOptOut(uow, contact, open.channel, open)) === null) return { channel: open.channel, conversation: open };
  }
  return null;
}

/** The tag `request-consent-privacy` adds on agreement, and checks before asking (DESIGN §4). */
export const PRIVACY_TAG = 'Consent: Privacy';

/**
 * The contact's privacy decision in force: the newest on any channel, which the `Consent: Privacy`
 * tag follows (followPrivacyDecision); undefined while none is recorded.
 */
export async function privacyDecisionInForce(uow: UnitOfWork, contactId: string): Promise<ConsentState | undefined> {
  const privacy = (await uow.consentStatesOf(contactId)).filter((state) => state.purpose === 'privacy');
  return privacy.reduce<ConsentState | undefined>((latest, state) => (latest === undefined || isNewerDecision(state, latest) ? state : latest), undefined);
}

/**
 * Keeps `Consent: Privacy` in step with the contact's newest privacy decision, on any channel: a
 * withdrawal takes the tag away, so the next conversation asks again instead of skipping the
 * question (withdrawing is as easy as giving, GDPR Art. 7(3)); an opt-in recorded elsewhere (the
 * API, an import, HubSpot) adds it, so the contact is not asked for what they already gave. A
 * decision that a newer one outranks changes nothing.
 */
export async function followPrivacyDecision(uow: UnitOfWork, recorded: RecordedConsent, depth = 0, byRun?: RunPlace): Promise<void> {
  const { record } = recorded;
  if (record.purpose !== 'privacy' || !recorded.created) return;
  const contact = await uow.requireContact(record.contactId);
  if (contact.erasedAt !== null) return;
  if ((await privacyDecisionInForce(uow, contact.id))?.recordId !== record.id) return;
  if (record.status === 'opted_out') {
    await untagContact(uow, contact, PRIVACY_TAG);
    // The conversations the contact agreed in are closed: open, they would go on without privacy
    // consent, since only a new conversation asks (DESIGN §4). The next message starts over.
    for (const conversation of await openConversationsOf(uow, contact.id)) await closeConversationAndRuns(uow, conversation, byRun?.id ?? null);
  } else {
    await tagContact(uow, contact, PRIVACY_TAG, depth, byRun);
  }
}

export async function untagContact(uow: UnitOfWork, contact: Contact, tag: string): Promise<Contact> {
  const { contact: untagged, changed } = removeTag(contact, tag);
  if (!changed) return contact;
  const saved = await uow.saveContact(untagged);
  await uow.emit('contact.untagged', { contactId: contact.id, tag }, contact.id);
  return saved;
}

/** The contact other than `contact` that already has this e-mail address or phone number, if any. */
export async function otherOwner(uow: UnitOfWork, contact: Contact, field: 'email' | 'phone', value: string): Promise<Contact | undefined> {
  if (contact[field] === value) return undefined;
  const owner = field === 'email' ? await uow.tx.findContactByEmail(uow.workspaceId, value) : await uow.tx.findContactByPhone(uow.workspaceId, value);
  return owner?.id === contact.id ? undefined : owner;
}

/** How many of a contact's latest duplicate notices are looked through for the same one. */
const RECENT_DUPLICATES = 20;

/**
 * A message's sender details (`from.email`, `from.phone`) name an address another contact has:
 * it stays that contact's alone (one address, one contact: look-ups, imports and opt-outs by it
 * find one person), and `contact.duplicate_found` tells a person to decide. A chat widget passes
 * the same details with every message, so the event is raised once for the pair, not per message.
 */
export async function noteSenderAddressTaken(uow: UnitOfWork, contact: Contact, field: 'email' | 'phone', owner: Contact): Promise<void> {
  const recent = await uow.tx.listEvents(uow.workspaceId, { types: ['contact.duplicate_found'], contactId: contact.id, limit: RECENT_DUPLICATES });
  const said = recent.some((event) => {
    const data = ContactDuplicateDataSchema.safeParse(event.data);
    return data.success && data.data.field === field && data.data.otherContactId === owner.id && data.data.runId === null;
  });
  if (said) return;
  await uow.emit('contact.duplicate_found', { contactId: contact.id, field, otherContactId: owner.id, runId: null }, contact.id);
}

async function updateContactField(uow: UnitOfWork, run: WorkflowRunRow, contact: Contact, field: string, value: string): Promise<void> {
  if (field === 'email' || field === 'phone') {
    const owner = await otherOwner(uow, contact, field, value);
    if (owner !== undefined) {
      await uow.emit('contact.duplicate_found', { contactId: contact.id, field, otherContactId: owner.id, runId: run.id }, contact.id);
      return;
    }
  }
  let next: Contact;
  if (field === 'email') next = { ...contact, email: value };
  else if (field === 'phone') next = { ...contact, phone: value };
  else if (field === 'name') next = { ...contact, name: value };
  else next = setField(contact, field, value).contact;
  await uow.saveContact(next);
  // The change is named as the API names it: a custom field as `fields.<name>`.
  const change = field === 'email' || field === 'phone' || field === 'name' ? field : `fields.${field}`;
  await uow.emit('contact.updated', { contactId: contact.id, changes: [change] }, contact.id);
}

/**
 * Starts the workflows a workspace binds to a trigger, on `channel` in `conversation` (where the
 * trigger happened). For `tag_added` and `keyword` the binding's `match` must equal the tag or
 * the message, both compared as keywords are.
 */
export async function startTriggeredWorkflows(
  uow: UnitOfWork,
  trigger: WorkflowTrigger,
  contact: Contact,
  match: string | null,
  depth: number,
  channel: MessagingChannel,
  conversation: Conversation | null,
): Promise<number> {
  if (depth > MAX_TRIGGER_DEPTH) return 0;
  let started = 0;
  for (const binding of consentFirst(matchingBindings(uow, trigger, match), (matched) => matched.template)) {
    // The binding's own phrase or tag, never the message that met a binding without one (the contact's words).
    const triggered: QueuedWorkflow = { template: binding.template, trigger, match: binding.match ?? null };
    if (await startOrQueueWorkflow(uow, triggered, contact, channel, conversation, depth)) started++;
  }
  return started;
}

/**
 * Starts a binding's workflow, unless a question waits in its conversation (a run of another
 * template waiting for an answer): then it is queued on the conversation and starts when that run
 * ends (startQueuedWorkflows), so the contact is asked one thing at a time. Consent is asked
 * before anything else is: a welcome started beside the privacy question would ask for an e-mail
 * address before the contact agreed to the privacy policy. And two questions asked at once would
 * share the contact's next message: it goes to the older one (answerPendingQuestion), so a phone
 * number typed for the phone question asked last would be refused by the e-mail question asked
 * first. A start someone asks for (the API, HubSpot, Slack) is not a binding's and does not wait.
 * Answers whether the workflow started now.
 */
async function startOrQueueWorkflow(
  uow: UnitOfWork,
  triggered: QueuedWorkflow,
  contact: Contact,
  channel: MessagingChannel,
  conversation: Conversation | null,
  depth: number,
): Promise<boolean> {
  if (conversation === null || conversation.status !== 'open' || uow.closedHere(conversation.id)) {
    return (await startWorkflowRun(uow, triggered.template, contact, channel, conversation, depth)) !== null;
  }
  // Read once: whether the workflow already runs, whether a question waits, then by startWorkflowRun.
  const active = await uow.tx.listActiveRuns(uow.workspaceId, contact.id, channel);
  // Already running in the conversation: the binding is let go, as startWorkflowRun lets it go, not
  // queued to run the workflow a second time once the questions waiting now have ended.
  if (active.some((run) => run.templateId === triggered.template && run.conversationId === conversation.id)) return false;
  // A consent question waits only for another consent question: it is never held back behind a
  // question about something else, and its answer is a button, which goes to the question that offered it.
  if (questionWaits(active, conversation.id, triggered.template, asksForConsent(triggered.template))) {
    await queueWorkflow(uow, conversation.id, triggered);
    return false;
  }
  return (await startWorkflowRun(uow, triggered.template, contact, channel, conversation, depth, false, active)) !== null;
}

/**
 * Workflows to start together, those that ask for consent first, the others after them, each part
 * in its own order (sort is stable): a consent question bound after a welcome starts before it,
 * and the welcome waits for it (startOrQueueWorkflow), as consent is asked before anything else.
 */
function consentFirst<T>(entries: readonly T[], templateOf: (entry: T) => string): T[] {
  return [...entries].sort((a, b) => Number(asksForConsent(templateOf(b))) - Number(asksForConsent(templateOf(a))));
}

/**
 * Whether a run of the conversation other than one of `exceptTemplate`, among the contact's active
 * runs, waits for an answer; with `consentOnly`, an answer to a consent question.
 */
function questionWaits(active: readonly WorkflowRunRow[], conversationId: string, exceptTemplate: string | null, consentOnly = false): boolean {
  return active.some(
    (run) =>
      run.conversationId === conversationId && run.templateId !== exceptTemplate && (!consentOnly || asksForConsent(run.templateId)) && waitingRunState(run) !== null,
  );
}

/**
 * Adds a binding's workflow to the conversation's queue (Conversation.queuedWorkflows), once per
 * binding: two bindings of one template are both kept, so that one disabled meanwhile leaves the
 * other to start it (a template starts once: startWorkflowRun skips one already running).
 */
async function queueWorkflow(uow: UnitOfWork, conversationId: string, triggered: QueuedWorkflow): Promise<void> {
  const current = await uow.tx.getConversation(uow.workspaceId, conversationId);
  if (current === undefined) return;
  const queued = current.queuedWorkflows ?? [];
  if (queued.some((entry) => entry.template === triggered.template && entry.trigger === triggered.trigger && entry.match === triggered.match)) return;
  await uow.tx.updateConversation({ ...current, queuedWorkflows: [...queued, triggered] });
}

/** Queues the workspace's bindings of `trigger` that `match` meets on the conversation, in binding order (queueWorkflow). */
async function queueTriggeredWorkflows(uow: UnitOfWork, conversationId: string, trigger: WorkflowTrigger, match: string | null): Promise<void> {
  for (const binding of matchingBindings(uow, trigger, match)) {
    await queueWorkflow(uow, conversationId, { template: binding.template, trigger, match: binding.match ?? null });
  }
}

/**
 * A start someone asked for takes the place of the conversation's queued entries of its template:
 * left there, they would start it again once the consent question ends, a welcome sent twice.
 */
async function unqueueTemplate(uow: UnitOfWork, conversationId: string, templateId: string): Promise<void> {
  const current = await uow.tx.getConversation(uow.workspaceId, conversationId);
  if (current?.queuedWorkflows === undefined) return;
  const { queuedWorkflows, ...rest } = current;
  const left = queuedWorkflows.filter((entry) => entry.template !== templateId);
  await uow.tx.updateConversation(left.length > 0 ? { ...rest, queuedWorkflows: left } : rest);
}

/**
 * A run that asked for consent ended (agreed, failed, moot, cancelled), or the contact wrote again
 * in its conversation: the workflows queued behind its question start, in the order they were
 * triggered, as a trigger starts them, when the conversation is still open and no other consent
 * question waits in it. They start only in a transaction handling a message of that conversation,
 * whose answer carries their texts: a question made moot from elsewhere (consent given on another
 * channel, through the API or an import) leaves the queue for the contact's next message there, as
 * texts for one channel in the answer to a message on another would be sent on the wrong one. A
 * binding removed or disabled meanwhile is let go; one that cannot start now (its workflow already
 * runs there, a setting is missing) starts nothing, as at a trigger. A conversation closed
 * meanwhile (the question failed or timed out, the contact opted out) starts nothing: the queue
 * goes with it.
 */
export async function startQueuedWorkflows(uow: UnitOfWork, conversationId: string, depth: number): Promise<void> {
  if (depth > MAX_TRIGGER_DEPTH || uow.inboundConversationId !== conversationId) return;
  const conversation = await uow.tx.getConversation(uow.workspaceId, conversationId);
  const queued = conversation?.queuedWorkflows;
  if (conversation === undefined || queued === undefined || conversation.status !== 'open' || uow.closedHere(conversationId)) return;
  const active = await uow.tx.listActiveRuns(uow.workspaceId, conversation.contactId, conversation.channel);
  // Nothing queued can start while a consent question waits, nor anything but a consent question while another question does.
  if (questionWaits(active, conversationId, null, true)) return;
  if (questionWaits(active, conversationId, null) && !queued.some((entry) => asksForConsent(entry.template))) return;
  const { queuedWorkflows: _starting, ...rest } = conversation;
  await uow.tx.updateConversation(rest);
  for (const entry of consentFirst(queued, (queuedEntry) => queuedEntry.template)) {
    if (!matchingBindings(uow, entry.trigger, entry.match).some((binding) => binding.template === entry.template)) continue;
    const contact = uow.knownContact(conversation.contactId) ?? (await uow.requireContact(conversation.contactId));
    await startOrQueueWorkflow(uow, entry, contact, conversation.channel, rest, depth);
  }
}

/**
 * The templates of the workspace's enabled `conversation_opened` bindings that cannot start for
 * lack of a workspace setting they need (missingWorkspaceSettings), in binding order. A
 * conversation opening now keeps them (Conversation.deferredTemplates): only an opening starts
 * these workflows (DESIGN §4), and a conversation stays open while the contact writes, so without
 * them a contact who first wrote before the privacy policy URL was set would never be asked. A
 * binding skipped for another reason (disabled, or none bound) is not kept. It reads the
 * settings only, so an opening costs no query more.
 */
export function deferredOpeningTemplates(settings: WorkspaceSettings): string[] {
  const waiting = waitingTriggers({ ...settings, triggers: bindingsOf(settings, 'conversation_opened', null) });
  return [...new Set(waiting.map((binding) => binding.template))];
}

/**
 * The contact wrote again in a conversation whose opening left workflows waiting for a setting
 * (Conversation.deferredTemplates). Of those, the ones still bound to `conversation_opened` and
 * enabled (the bindings in force now, not those at the opening) that can start now start, in
 * binding order, as at an opening; the ones still lacking a setting wait on; the ones no longer
 * bound are let go. A template that finds what it asks for already there ends at once, as at any
 * opening (request-consent-privacy and the `Consent: Privacy` tag). Nothing starts in a
 * conversation that closed meanwhile. The caller gives the message to a waiting question first:
 * the questions started here are asked after it, so it answers none of them.
 *
 * `conversation` is the row as the message read it: only when what it defers changes is it read
 * again (an answer may have closed it) and written. Returns the conversation as it now stands.
 */
export async function startDeferredWorkflows(uow: UnitOfWork, contact: Contact, conversation: Conversation): Promise<Conversation> {
  if (deferredChange(uow, conversation) === null) return conversation;
  const current = await uow.tx.getConversation(uow.workspaceId, conversation.id);
  if (current?.status !== 'open') return current ?? conversation;
  const change = deferredChange(uow, current);
  if (change === null) return current;
  const { deferredTemplates: _before, ...rest } = current;
  const updated: Conversation = change.waiting.length > 0 ? { ...rest, deferredTemplates: change.waiting } : rest;
  await uow.tx.updateConversation(updated);
  for (const template of change.start) await startWorkflowRun(uow, template, contact, updated.channel, updated, 0);
  return updated;
}

/** What a conversation's deferred templates become with the workspace's settings now: null when nothing changes. */
function deferredChange(uow: UnitOfWork, conversation: Conversation): { start: string[]; waiting: string[] } | null {
  const deferred = conversation.deferredTemplates ?? [];
  if (deferred.length === 0) return null;
  const bound = [...new Set(matchingBindings(uow, 'conversation_opened', null).map((binding) => binding.template))];
  const lacking = deferredOpeningTemplates(uow.workspace.settings);
  const waiting = deferred.filter((template) => bound.includes(template) && lacking.includes(template));
  if (waiting.length === deferred.length) return null;
  const start = bound.filter((template) => deferred.includes(template) && !lacking.includes(template));
  return { start, waiting };
}

/** The workspace's enabled bindings of `trigger` whose `match` (if any) equals `match` as keywords compare. */
function matchingBindings(uow: UnitOfWork, trigger: WorkflowTrigger, match: string | null): WorkspaceSettings['triggers'] {
  return bindingsOf(uow.workspace.settings, trigger, match);
}

function bindingsOf(settings: WorkspaceSettings, trigger: WorkflowTrigger, match: string | null): WorkspaceSettings['triggers'] {
  return settings.triggers.filter(
    (binding) => binding.enabled && binding.trigger === trigger && (binding.match === undefined || (match !== null && normalizeText(binding.match) === normalizeText(match))),
  );
}

/** A run's consent evidence with who it talked to: the contact's identity on the run's channel (see EvidenceSchema's `identity`). */
function withIdentity(evidence: Evidence, contact: Contact, channel: MessagingChannel): Evidence {
  const identity = contact.identities.find((candidate) => candidate.channel === channel);
  return identity === undefined ? evidence : { ...evidence, identity: `${channel}:${identity.externalId}` };
}

/**
 * The workflow runtime: a pure function from (definition, state, input, context) to a new state
 * and the effects the engine must carry out (DESIGN §1: `transition(state, input, now) ->
 * { state, effects[] }`). Timers are data: a token and a due time the engine stores and feeds
 * back as a `timer` input; nothing here reads a clock or waits.
 */
import { z } from 'zod';
import { isCanonicalInstant, type Channel, type ConsentStatus, type Evidence, type LegalBasis, type MessagingChannel } from '../consent.js';
import { tagKey, tryNormalizePhone, tryReadTypedEmail } from '../contact.js';
import { ConsentryError } from '../errors.js';
import { normalizeText } from '../keywords.js';
import { isoInstant } from '../time.js';
import {
  parseTextTemplate,
  QUESTION_TEXT_FIELDS,
  type AskQuestionStep,
  type BranchCondition,
  type EndStep,
  type TemplatePart,
  type VariableRef,
  type WorkflowDefinition,
  type WorkflowStep,
} from './schema.js';
import { boundShown, rememberShown, shownDigest, shownText } from './shown.js';

export interface WorkflowContact {
  name: string | null;
  firstName: string | null;
  email: string | null;
  phone: string | null;
  tags: readonly string[];
  fields: Readonly<Record<string, string>>;
}

export interface TransitionContext {
  /** The injected clock's reading for this input. */
  now: Date;
  /** The contact as it is before this input. */
  contact: WorkflowContact;
  workspace: { privacyPolicyUrl: string | null; defaultCountry: string | null };
  channel: MessagingChannel;
  runId: string;
}

export type WorkflowInput =
  | { kind: 'start' }
  /** `sentAt`: when the contact sent it, if earlier than now (a channel delivering late); a consent the answer gives is dated then. */
  | { kind: 'message'; messageId: string; text: string | null; button: string | null; sentAt?: string }
  | { kind: 'timer'; token: string }
  /** The contact changed outside the run (a tag was added): a question the run's entry check would now skip is settled. */
  | { kind: 'recheck' };

/** How a run ended. HubSpot workflow actions branch on it. */
const RUN_OUTCOMES = ['given', 'failed_invalid', 'failed_timeout', 'opted_out', 'skipped', 'done', 'cancelled'] as const;
export type RunOutcome = (typeof RUN_OUTCOMES)[number];

/** The last answer a question accepted: evidence for a later `record_consent`, and `{{answer}}`. */
export interface AcceptedAnswer {
  stepId: string;
  messageId: string;
  text: string | null;
  button: string | null;
  /** The value the answer was read as: the option label, the normalised email or E.164 phone, ... */
  value: string;
}

/** JSON-serialisable: the engine stores it as JSON between inputs. */
export interface RunState {
  templateId: string;
  status: 'active' | 'completed' | 'cancelled';
  /** Id of the step being waited on, null when finished. */
  cursor: string | null;
  waiting: null | { kind: 'answer' | 'wait'; stepId: string; token: string; dueAt: string };
  /** Per jump_to step id. */
  jumpsUsed: Record<string, number>;
  /** Per question step id: how many times the question was sent. */
  timesAsked: Record<string, number>;
  /** Makes each timer token unique within the run. */
  tokenSeq: number;
  outcome: null | RunOutcome;
  lastAnswer?: AcceptedAnswer | null;
  /**
   * The texts sent to the contact since the run started, bounded (rememberShown in shown.ts): the
   * evidence of a consent the run records. Absent from a run stored before the runtime kept them;
   * such a run goes on without them, since a list begun halfway would misstate what was shown.
   */
  shown?: string[];
  /**
   * The privacy policy URL as the run first put it in a text: the link the contact was shown.
   * The consent the run records names this one, even when the workspace setting changes (or is
   * removed) before the answer (GDPR Art. 7(1): the controller demonstrates what was agreed to).
   */
  policyUrl?: string;
}

/** For reading a stored state back (it is an external payload once it has been through storage). */
export const RunStateSchema = z
  .object({
    templateId: z.string().min(1),
    status: z.enum(['active', 'completed', 'cancelled']),
    cursor: z.string().nullable(),
    waiting: z
      .object({ kind: z.enum(['answer', 'wait']), stepId: z.string(), token: z.string(), dueAt: z.iso.datetime({ offset: true }) })
      .nullable(),
    jumpsUsed: z.record(z.string(), z.int().nonnegative()),
    timesAsked: z.record(z.string(), z.int().nonnegative()),
    tokenSeq: z.int().nonnegative(),
    outcome: z.enum(RUN_OUTCOMES).nullable(),
    lastAnswer: z
      .object({ stepId: z.string(), messageId: z.string(), text: z.string().nullable(), button: z.string().nullable(), value: z.string() })
      .nullable()
      .optional(),
    shown: z.array(z.string()).optional(),
    policyUrl: z.string().optional(),
  }) satisfies z.ZodType<RunState>;

const RUN_STATUSES: readonly RunState['status'][] = ['active', 'completed', 'cancelled'];
const STATE_KEYS: ReadonlySet<string> = new Set(Object.keys(RunStateSchema.shape));
const WAITING_KEYS: ReadonlySet<string> = new Set(['kind', 'stepId', 'token', 'dueAt']);
const ANSWER_KEYS: ReadonlySet<string> = new Set(['stepId', 'messageId', 'text', 'button', 'value']);

/**
 * A stored run state, read back. The states this runtime wrote itself are checked member by
 * member against RunStateSchema's rules and copied as the schema would copy them; anything else
 * (another shape, an unknown member, a time spelled differently) goes through the schema, which
 * either reads it or throws its ZodError. So a state that the schema refuses is always refused.
 */
export function parseRunState(value: unknown): RunState {
  return plainRunState(value) ?? RunStateSchema.parse(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function hasOnlyKeys(value: Record<string, unknown>, allowed: ReadonlySet<string>): boolean {
  for (const key of Object.keys(value)) if (!allowed.has(key)) return false;
  return true;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function countsCopy(value: unknown): Record<string, number> | undefined {
  if (!isPlainObject(value)) return undefined;
  const copy: Record<string, number> = {};
  for (const key of Object.keys(value)) {
    const count = value[key];
    if (key === '__proto__' || !isCount(count)) return undefined;
    copy[key] = count;
  }
  return copy;
}

function plainWaiting(value: unknown): RunState['waiting'] | undefined {
  if (value === null) return null;
  if (!isPlainObject(value) || !hasOnlyKeys(value, WAITING_KEYS)) return undefined;
  const { kind, stepId, token, dueAt } = value;
  if (kind !== 'answer' && kind !== 'wait') return undefined;
  if (typeof stepId !== 'string' || typeof token !== 'string' || typeof dueAt !== 'string') return undefined;
  if (!isCanonicalInstant(dueAt)) return undefined;
  return { kind, stepId, token, dueAt };
}

function plainAnswer(value: unknown): AcceptedAnswer | null | undefined {
  if (value === null) return null;
  if (!isPlainObject(value) || !hasOnlyKeys(value, ANSWER_KEYS)) return undefined;
  const { stepId, messageId, text, button } = value;
  const answerValue = value.value;
  if (typeof stepId !== 'string' || typeof messageId !== 'string' || typeof answerValue !== 'string') return undefined;
  if ((text !== null && typeof text !== 'string') || (button !== null && typeof button !== 'string')) return undefined;
  return { stepId, messageId, text, button, value: answerValue };
}

function plainRunState(value: unknown): RunState | undefined {
  if (!isPlainObject(value) || !hasOnlyKeys(value, STATE_KEYS)) return undefined;
  const { templateId, status, cursor, tokenSeq, outcome } = value;
  if (typeof templateId !== 'string' || templateId.length === 0) return undefined;
  const runStatus = RUN_STATUSES.find((known) => known === status);
  if (runStatus === undefined) return undefined;
  if (cursor !== null && typeof cursor !== 'string') return undefined;
  if (!isCount(tokenSeq)) return undefined;
  const runOutcome = outcome === null ? null : RUN_OUTCOMES.find((known) => known === outcome);
  if (runOutcome === undefined) return undefined;
  const waiting = plainWaiting(value.waiting);
  const jumpsUsed = countsCopy(value.jumpsUsed);
  const timesAsked = countsCopy(value.timesAsked);
  if (waiting === undefined || jumpsUsed === undefined || timesAsked === undefined) return undefined;
  const state: RunState = {
    templateId,
    status: runStatus,
    cursor,
    waiting,
    jumpsUsed,
    timesAsked,
    tokenSeq,
    outcome: runOutcome,
  };
  if (Object.hasOwn(value, 'lastAnswer')) {
    const lastAnswer = plainAnswer(value.lastAnswer);
    if (lastAnswer === undefined) return undefined;
    state.lastAnswer = lastAnswer;
  }
  if (Object.hasOwn(value, 'shown')) {
    const shown = plainTexts(value.shown);
    if (shown === undefined) return undefined;
    state.shown = shown;
  }
  if (Object.hasOwn(value, 'policyUrl')) {
    if (typeof value.policyUrl !== 'string') return undefined;
    state.policyUrl = value.policyUrl;
  }
  return state;
}

function plainTexts(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const items: readonly unknown[] = value;
  const texts: string[] = [];
  for (const text of items) {
    if (typeof text !== 'string') return undefined;
    texts.push(text);
  }
  return texts;
}

export type Effect =
  | { type: 'send_message'; text: string; options?: { label: string; buttonId?: string }[] }
  /** Replaces the run's previous timer. */
  | { type: 'set_timer'; token: string; dueAt: string }
  | { type: 'clear_timer' }
  | { type: 'add_tag'; tag: string }
  | { type: 'remove_tag'; tag: string }
  /** Field `email` / `phone` is the contact's email / phone, already normalised (phone in E.164). */
  | { type: 'update_field'; field: string; value: string }
  | {
      type: 'record_consent';
      purpose: string;
      channel: Channel;
      status: ConsentStatus;
      legalBasis: LegalBasis | null;
      explanation: string;
      evidence: Evidence;
      /** When the answer that gives it was sent, if earlier than now; absent: now. */
      occurredAt?: string;
    }
  | { type: 'close_conversation' }
  | { type: 'consent_failed'; purpose: string; reason: 'invalid' | 'timeout'; attempts: number }
  | { type: 'trigger_workflow'; templateId: string };

export interface TransitionResult {
  state: RunState;
  effects: Effect[];
}

/** EvidenceSchema's limits (src/core/consent.ts), so every record_consent effect can be recorded as is. */
const EVIDENCE_TEXT_MAX = 5000;
const EVIDENCE_BUTTON_MAX = 500;
const EXPLANATION_MAX = 2000;
/** Contact field values are at most 2000 characters (the contact API's limit). */
const FIELD_VALUE_MAX = 2000;

export function initialRunState(def: WorkflowDefinition): RunState {
  return {
    templateId: def.id,
    status: 'active',
    cursor: def.steps[0]?.id ?? null,
    waiting: null,
    jumpsUsed: {},
    timesAsked: {},
    tokenSeq: 0,
    outcome: null,
    lastAnswer: null,
    shown: [],
  };
}

/**
 * Workspace settings a definition's texts use without a fallback while the workspace has none
 * set: running it would send "read our privacy policy: " with no link, so the caller should
 * refuse to start it.
 */
export function missingWorkspaceSettings(def: WorkflowDefinition, workspace: TransitionContext['workspace']): 'privacyPolicyUrl'[] {
  if (workspace.privacyPolicyUrl !== null) return [];
  return needsPrivacyPolicyUrl(def) ? ['privacyPolicyUrl'] : [];
}

/** How a refusal names a setting missingWorkspaceSettings found, on that setting's path. */
export function requiredByWorkflow(templateId: string): string {
  return `required by workflow "${templateId}": set it with PATCH /v1/settings`;
}

/** A setting a definition runs without, but serves the contact worse without. */
export type AdvisedWorkspaceSetting = 'defaultCountry';

/**
 * Workspace settings a definition runs without but reads answers worse without: a phone question
 * reads a national number ("600 000 001") only with a default country, so without one it asks
 * for the country code and refuses every national answer. The workspace should hear of it.
 */
export function advisedWorkspaceSettings(def: WorkflowDefinition, workspace: TransitionContext['workspace']): AdvisedWorkspaceSetting[] {
  if (workspace.defaultCountry !== null) return [];
  return def.steps.some((step) => step.type === 'ask_question' && step.questionType === 'phone') ? ['defaultCountry'] : [];
}

function needsPrivacyPolicyUrl(def: WorkflowDefinition): boolean {
  return def.steps.some((step) =>
    stepTexts(step).some((text) =>
      compiledText(text).some((part) => part.kind === 'variable' && part.ref.kind === 'fixed' && part.ref.name === 'workspace.privacy_policy_url' && part.fallback === ''),
    ),
  );
}

function stepTexts(step: WorkflowStep): string[] {
  switch (step.type) {
    case 'send_message':
      return [step.text];
    case 'ask_question':
      return QUESTION_TEXT_FIELDS.flatMap((field) => step[field] ?? []);
    case 'update_field':
      return [step.value];
    case 'record_consent':
      return [step.explanation];
    default:
      return [];
  }
}

export function startRun(def: WorkflowDefinition, ctx: TransitionContext): TransitionResult {
  return transition(def, initialRunState(def), { kind: 'start' }, ctx);
}

export function isAwaitingAnswer(state: RunState): boolean {
  return state.status === 'active' && state.waiting !== null && state.waiting.kind === 'answer';
}

/**
 * Stops a run from outside (an opt-out keyword, an API call). The engine handles opt-out
 * keywords before the runtime sees a message (DESIGN §3: an opt-out always wins over a pending
 * question), so the keyword is never also counted as an invalid answer.
 */
export function cancelRun(state: RunState, outcome: 'opted_out' | 'cancelled'): TransitionResult {
  if (state.status !== 'active') return { state, effects: [] };
  return {
    state: { ...cloneState(state), status: 'cancelled', cursor: null, waiting: null, outcome },
    effects: [{ type: 'clear_timer' }],
  };
}

export function transition(def: WorkflowDefinition, state: RunState, input: WorkflowInput, ctx: TransitionContext): TransitionResult {
  if (state.status !== 'active') return { state, effects: [] };
  if (state.templateId !== def.id) {
    throw new ConsentryError('INVALID_WORKFLOW', `run of '${state.templateId}' given the definition of '${def.id}'`);
  }
  const waiting = state.waiting;
  switch (input.kind) {
    case 'start': {
      if (waiting !== null || state.cursor === null) return { state, effects: [] };
      const run = new Run(def, state, ctx);
      run.runFrom(state.cursor);
      return run.result();
    }
    case 'message': {
      if (waiting === null || waiting.kind !== 'answer') return { state, effects: [] };
      const run = new Run(def, state, ctx);
      run.answer(waiting, input);
      return run.result();
    }
    case 'timer': {
      // A token other than the current one belongs to an earlier send or wait: stale.
      if (waiting === null || waiting.token !== input.token) return { state, effects: [] };
      const run = new Run(def, state, ctx);
      if (waiting.kind === 'answer' && run.settledByEntryCheck()) return run.result();
      run.timerFired(waiting.kind, waiting.stepId);
      return run.result();
    }
    case 'recheck': {
      if (waiting === null || waiting.kind !== 'answer') return { state, effects: [] };
      const run = new Run(def, state, ctx);
      return run.settledByEntryCheck() ? run.result() : { state, effects: [] };
    }
  }
}

function cloneState(state: RunState): RunState {
  const clone: RunState = {
    ...state,
    waiting: state.waiting === null ? null : { ...state.waiting },
    jumpsUsed: { ...state.jumpsUsed },
    timesAsked: { ...state.timesAsked },
    lastAnswer: state.lastAnswer === undefined || state.lastAnswer === null ? null : { ...state.lastAnswer },
  };
  if (state.shown !== undefined) clone.shown = [...state.shown];
  return clone;
}

/**
 * The texts of the definitions in use, split into parts once: a text is rendered on every send,
 * and the definitions' texts are few. Bounded all the same, since definitions can come from outside.
 */
const COMPILED_TEXT_LIMIT = 512;
const compiledTexts = new Map<string, readonly TemplatePart[]>();

function compiledText(text: string): readonly TemplatePart[] {
  let parts = compiledTexts.get(text);
  if (parts === undefined) {
    parts = parseTextTemplate(text).parts;
    if (compiledTexts.size >= COMPILED_TEXT_LIMIT) compiledTexts.clear();
    compiledTexts.set(text, parts);
  }
  return parts;
}

interface DefinitionLayout {
  indexById: ReadonlyMap<string, number>;
  /**
   * A validated definition has no loop without a jump_to (schema.ts), so one transition runs at
   * most steps × (1 + all maxJumps) steps; more means the definition was not validated.
   */
  stepBudget: number;
}

/** Per parsed definition (never changed once parsed), computed on its first transition. */
const layouts = new WeakMap<WorkflowDefinition, DefinitionLayout>();

function definitionLayout(def: WorkflowDefinition): DefinitionLayout {
  let layout = layouts.get(def);
  if (layout === undefined) {
    const totalJumps = def.steps.reduce((sum, step) => sum + (step.type === 'jump_to' ? step.maxJumps : 0), 0);
    layout = { indexById: new Map(def.steps.map((step, index) => [step.id, index])), stepBudget: def.steps.length * (1 + totalJumps) + 1 };
    layouts.set(def, layout);
  }
  return layout;
}

interface MutableContact {
  name: string | null;
  firstName: string | null;
  email: string | null;
  phone: string | null;
  tags: string[];
  fields: Record<string, string>;
}

/** One transition's work: a copy of the state and a working copy of the contact that later steps see. */
class Run {
  private readonly state: RunState;
  private readonly contact: MutableContact;
  private readonly effects: Effect[] = [];
  private readonly indexById: ReadonlyMap<string, number>;
  /** Whether the engine may hold a timer for this run, which finishing must clear. */
  private timerExists: boolean;
  /** See DefinitionLayout. */
  private readonly stepBudget: number;
  /** When the answer this transition accepted was sent, if the engine said it was earlier than now. */
  private answerSentAt: string | undefined;
  /** The question whose answer this transition could not read: asked again, it says so (its retry text). */
  private unreadAnswerTo: string | null = null;

  constructor(
    private readonly def: WorkflowDefinition,
    state: RunState,
    private readonly ctx: TransitionContext,
  ) {
    this.state = cloneState(state);
    this.contact = {
      name: ctx.contact.name,
      firstName: ctx.contact.firstName,
      email: ctx.contact.email,
      phone: ctx.contact.phone,
      tags: [...ctx.contact.tags],
      fields: { ...ctx.contact.fields },
    };
    const layout = definitionLayout(def);
    this.indexById = layout.indexById;
    this.timerExists = state.waiting !== null;
    this.stepBudget = layout.stepBudget;
  }

  result(): TransitionResult {
    return { state: this.state, effects: this.effects };
  }

  answer(waiting: { stepId: string; dueAt: string }, message: Extract<WorkflowInput, { kind: 'message' }>): void {
    const step = this.questionStep(waiting.stepId);
    this.state.waiting = null;
    const value = readAnswer(step, message, this.ctx.workspace.defaultCountry);
    if (value === null) {
      this.unreadAnswerTo = step.id;
      this.runFrom(step.branches.invalid);
      return;
    }
    if (message.sentAt !== undefined) {
      // An answer is no older than the question it answers: a button clicked on an earlier sending
      // and delivered late is dated when this one was asked (the due time less the timeout), so a
      // decision made in between (a withdrawal that ended the earlier run) stays older than it.
      const askedAt = isoInstant(new Date(Date.parse(waiting.dueAt) - step.timeoutSeconds * 1000));
      this.answerSentAt = message.sentAt < askedAt ? askedAt : message.sentAt;
    }
    this.state.lastAnswer = { stepId: step.id, messageId: message.messageId, text: message.text, button: message.button, value };
    if (step.saveTo !== undefined) this.setField(step.saveTo, value);
    this.runFrom(step.branches.answered);
  }

  /**
   * A run waiting for an answer whose entry check would now end it at once (the contact got the
   * `Consent: Privacy` tag another way: through the API, an import, an answer on another channel)
   * ends there, quietly: asking on would be noise (DESIGN §4), and its time-out would report a
   * failure for a contact who has agreed. The entry check is a first step that is a branch whose
   * `then` is an `end` step. True when the run ended.
   */
  settledByEntryCheck(): boolean {
    const first = this.def.steps[0];
    if (first === undefined || first.type !== 'branch' || !this.holds(first.condition)) return false;
    const target = this.def.steps[this.indexOf(first.then)];
    if (target === undefined || target.type !== 'end') return false;
    this.state.waiting = null;
    this.finish(target.outcome, undefined);
    return true;
  }

  timerFired(kind: 'answer' | 'wait', stepId: string): void {
    this.state.waiting = null;
    if (kind === 'answer') {
      this.runFrom(this.questionStep(stepId).branches.timeout);
      return;
    }
    const index = this.indexOf(stepId);
    const step = this.def.steps[index];
    this.runFrom(this.after(index, step !== undefined && step.type === 'wait' ? step.next : undefined));
  }

  /** Runs steps from `stepId` until the run waits (a question or a wait) or finishes. */
  runFrom(stepId: string | null): void {
    let current = stepId;
    for (let executed = 0; ; executed += 1) {
      if (executed > this.stepBudget) {
        throw new ConsentryError('INVALID_WORKFLOW', `workflow '${this.def.id}' ran more steps than its jump limits allow in one input`);
      }
      if (current === null) {
        this.finish('done', undefined);
        return;
      }
      const index = this.indexOf(current);
      const step: WorkflowStep | undefined = this.def.steps[index];
      if (step === undefined) throw this.unknownStep(current);
      this.state.cursor = step.id;
      switch (step.type) {
        case 'send_message':
          this.send(this.render(step.text));
          current = this.after(index, step.next);
          break;
        case 'ask_question':
          this.ask(step);
          return;
        case 'branch':
          current = this.holds(step.condition) ? step.then : step.else;
          break;
        case 'jump_to': {
          const used = this.state.jumpsUsed[step.id] ?? 0;
          if (used < step.maxJumps) {
            this.state.jumpsUsed[step.id] = used + 1;
            current = step.target;
          } else {
            current = this.after(index, step.next);
          }
          break;
        }
        case 'update_tag':
          if (step.action === 'add') this.addTag(step.tag);
          else this.removeTag(step.tag);
          current = this.after(index, step.next);
          break;
        case 'update_field':
          this.setField(step.field, this.render(step.value).slice(0, FIELD_VALUE_MAX));
          current = this.after(index, step.next);
          break;
        case 'record_consent':
          this.effects.push({
            type: 'record_consent',
            purpose: step.purpose,
            channel: step.channel === 'current' ? this.ctx.channel : step.channel,
            status: step.status,
            legalBasis: step.legalBasis ?? null,
            explanation: this.render(step.explanation).slice(0, EXPLANATION_MAX),
            evidence: this.evidence(),
            ...(this.answerSentAt !== undefined ? { occurredAt: this.answerSentAt } : {}),
          });
          current = this.after(index, step.next);
          break;
        case 'close_conversation':
          this.effects.push({ type: 'close_conversation' });
          current = this.after(index, step.next);
          break;
        case 'wait':
          this.startTimer('wait', step.id, step.seconds);
          return;
        case 'trigger_workflow':
          this.effects.push({ type: 'trigger_workflow', templateId: step.templateId });
          current = this.after(index, step.next);
          break;
        case 'end':
          this.finish(step.outcome, step.failure);
          return;
      }
    }
  }

  /** Each send restarts the reply timeout (DESIGN §4): a new token, due `timeoutSeconds` after this send. */
  private ask(step: AskQuestionStep): void {
    this.state.timesAsked[step.id] = (this.state.timesAsked[step.id] ?? 0) + 1;
    const text = this.render(this.questionText(step));
    if (step.questionType === 'multiple_choice' && step.options !== undefined) {
      this.send(
        text,
        step.options.map((o) => (o.buttonId === undefined ? { label: o.label } : { label: o.label, buttonId: o.buttonId })),
      );
    } else {
      this.send(text);
    }
    this.startTimer('answer', step.id, step.timeoutSeconds);
  }

  /**
   * The text a question is sent with. Without a default country only a number with its country
   * code can be read, so a phone question's texts for that case come first: a text that invites a
   * national number would have every such answer refused. A re-ask right after an answer that
   * could not be read says why, when the step has words for it.
   */
  private questionText(step: AskQuestionStep): string {
    const retry = this.unreadAnswerTo === step.id;
    if (step.questionType === 'phone' && this.ctx.workspace.defaultCountry === null) {
      const international = (retry ? step.retryTextWithoutDefaultCountry : undefined) ?? step.textWithoutDefaultCountry;
      if (international !== undefined) return international;
    }
    return (retry ? step.retryText : undefined) ?? step.text;
  }

  /** Sends a text and, in a run that keeps them, remembers it as shown. */
  private send(text: string, options?: { label: string; buttonId?: string }[]): void {
    this.effects.push(options === undefined ? { type: 'send_message', text } : { type: 'send_message', text, options });
    if (this.state.shown !== undefined) this.state.shown = rememberShown(this.state.shown, shownText(text, options));
  }

  private startTimer(kind: 'answer' | 'wait', stepId: string, seconds: number): void {
    this.state.tokenSeq += 1;
    const token = `${this.ctx.runId}:${this.state.tokenSeq}`;
    const dueAt = isoInstant(new Date(this.ctx.now.getTime() + seconds * 1000));
    this.effects.push({ type: 'set_timer', token, dueAt });
    this.timerExists = true;
    this.state.cursor = stepId;
    this.state.waiting = { kind, stepId, token, dueAt };
  }

  private finish(outcome: EndStep['outcome'], failure: EndStep['failure']): void {
    if (failure !== undefined && (outcome === 'failed_invalid' || outcome === 'failed_timeout')) {
      this.effects.push({
        type: 'consent_failed',
        purpose: failure.purpose,
        reason: outcome === 'failed_invalid' ? 'invalid' : 'timeout',
        attempts: this.state.timesAsked[failure.question] ?? 0,
      });
    }
    if (this.timerExists) this.effects.push({ type: 'clear_timer' });
    this.state.status = 'completed';
    this.state.cursor = null;
    this.state.waiting = null;
    this.state.outcome = outcome;
  }

  /**
   * GDPR Art. 7(1): what the contact was shown and answered, so the consent can be demonstrated.
   * The texts shown and their digest stay with the record when the template or the policy
   * message changes later.
   */
  private evidence(): Evidence {
    const evidence: Evidence = { workflowId: this.def.id, runId: this.ctx.runId };
    const policyUrl = this.state.policyUrl ?? this.ctx.workspace.privacyPolicyUrl;
    if (policyUrl !== null) evidence.policyUrl = policyUrl;
    if (this.state.shown !== undefined && this.state.shown.length > 0) {
      const shown = boundShown(this.state.shown);
      evidence.shown = shown;
      evidence.policyDigest = shownDigest(shown);
    }
    const answer = this.state.lastAnswer;
    if (answer !== undefined && answer !== null) {
      evidence.messageId = answer.messageId;
      if (answer.text !== null) {
        evidence.rawText = answer.text.slice(0, EVIDENCE_TEXT_MAX);
        evidence.normalizedText = normalizeText(answer.text).slice(0, EVIDENCE_TEXT_MAX);
      }
      if (answer.button !== null) evidence.button = answer.button.slice(0, EVIDENCE_BUTTON_MAX);
    }
    return evidence;
  }

  private holds(condition: BranchCondition): boolean {
    switch (condition.type) {
      case 'has_tag': {
        // Tags compare as tagging compares them (tagKey): `consent: privacy` is the `Consent: Privacy` tag.
        const key = tagKey(condition.tag);
        return this.contact.tags.some((tag) => tagKey(tag) === key);
      }
      case 'field_present': {
        const value = this.field(condition.field);
        return value !== null && value.trim() !== '';
      }
      case 'field_equals':
        return this.field(condition.field) === condition.value;
    }
  }

  private field(name: string): string | null {
    if (name === 'email') return this.contact.email;
    if (name === 'phone') return this.contact.phone;
    return this.contact.fields[name] ?? null;
  }

  /** Unchanged values emit nothing: an effect that changes nothing would still announce `contact.updated`. */
  private setField(name: string, value: string): void {
    if (this.field(name) === value) return;
    if (name === 'email') this.contact.email = value;
    else if (name === 'phone') this.contact.phone = value;
    else this.contact.fields[name] = value;
    this.effects.push({ type: 'update_field', field: name, value });
  }

  private addTag(tag: string): void {
    if (this.contact.tags.includes(tag)) return;
    this.contact.tags.push(tag);
    this.effects.push({ type: 'add_tag', tag });
  }

  private removeTag(tag: string): void {
    if (!this.contact.tags.includes(tag)) return;
    this.contact.tags = this.contact.tags.filter((t) => t !== tag);
    this.effects.push({ type: 'remove_tag', tag });
  }

  private render(text: string): string {
    let rendered = '';
    for (const part of compiledText(text)) {
      if (part.kind === 'literal') {
        rendered += part.text;
      } else {
        const value = this.variable(part.ref);
        rendered += value === null || value === '' ? part.fallback : value;
      }
    }
    return rendered;
  }

  private variable(ref: VariableRef): string | null {
    if (ref.kind === 'field') return this.contact.fields[ref.field] ?? null;
    switch (ref.name) {
      case 'contact.first_name':
        return this.contact.firstName;
      case 'contact.name':
        return this.contact.name;
      case 'contact.email':
        return this.contact.email;
      case 'contact.phone':
        return this.contact.phone;
      case 'workspace.privacy_policy_url':
        if (this.state.policyUrl === undefined && this.ctx.workspace.privacyPolicyUrl !== null) this.state.policyUrl = this.ctx.workspace.privacyPolicyUrl;
        return this.state.policyUrl ?? null;
      case 'answer':
        return this.state.lastAnswer?.value ?? null;
      case 'channel':
        return this.ctx.channel;
    }
  }

  /** The explicit `next`, else the step after this one, else null (the run ends). */
  private after(index: number, next: string | undefined): string | null {
    return next ?? this.def.steps[index + 1]?.id ?? null;
  }

  private indexOf(stepId: string): number {
    const index = this.indexById.get(stepId);
    if (index === undefined) throw this.unknownStep(stepId);
    return index;
  }

  private questionStep(stepId: string): AskQuestionStep {
    const step = this.def.steps[this.indexOf(stepId)];
    if (step === undefined || step.type !== 'ask_question') {
      throw new ConsentryError('INVALID_WORKFLOW', `workflow '${this.def.id}': the run waits for an answer at '${stepId}', which is not a question`);
    }
    return step;
  }

  private unknownStep(stepId: string): ConsentryError {
    return new ConsentryError('INVALID_WORKFLOW', `workflow '${this.def.id}' has no step '${stepId}' (the run was started on another version of it)`);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Reading answers                                                                            */
/* ------------------------------------------------------------------------------------------ */

/**
 * Whether a message picks an option of the multiple-choice question the run waits on: a click on
 * its button, or its label. Such a message is the answer even when a workspace added its words as
 * an opt-in keyword ("AGREE"): taken as the keyword, it would record a consent to another purpose
 * than the one asked about (GDPR Art. 7(2): consent is specific to what was asked).
 */
export function picksWaitingOption(def: WorkflowDefinition, state: RunState, message: { text: string | null; button: string | null }): boolean {
  const waiting = state.waiting;
  if (state.status !== 'active' || waiting === null || waiting.kind !== 'answer') return false;
  const index = definitionLayout(def).indexById.get(waiting.stepId);
  const step = index === undefined ? undefined : def.steps[index];
  if (step === undefined || step.type !== 'ask_question' || step.questionType !== 'multiple_choice') return false;
  return matchOption(step.options ?? [], message.text, message.button) !== null;
}

/** The value an answer is read as, or null when it is not a valid answer to the question. */
export function readAnswer(
  step: Pick<AskQuestionStep, 'questionType' | 'options'>,
  message: { text: string | null; button: string | null },
  defaultCountry: string | null,
): string | null {
  const text = (message.text ?? '').trim();
  switch (step.questionType) {
    case 'multiple_choice':
      return matchOption(step.options ?? [], message.text, message.button);
    case 'text':
      return text !== '' && text.length <= FIELD_VALUE_MAX ? text : null;
    case 'email':
      return text === '' ? null : tryReadTypedEmail(text);
    case 'phone':
      return text === '' ? null : tryNormalizePhone(text, defaultCountry);
    case 'number':
      return readNumber(text);
    case 'date':
      return readDate(text, defaultCountry);
  }
}

/**
 * A button id matches exactly; a typed reply (or a button that carries its title, as some
 * channels send) matches an option label after keyword normalisation (DESIGN §4), so
 * "agree & proceed!" answers AGREE & PROCEED.
 */
function matchOption(options: readonly { label: string; buttonId?: string }[], text: string | null, button: string | null): string | null {
  if (button !== null) {
    const byId = options.find((o) => o.buttonId !== undefined && o.buttonId === button);
    if (byId !== undefined) return byId.label;
  }
  for (const candidate of [button, text]) {
    if (candidate === null) continue;
    const normalized = normalizeText(candidate);
    if (normalized === '') continue;
    const index = normalizedLabels(options).indexOf(normalized);
    const byLabel = options[index];
    if (byLabel !== undefined) return byLabel.label;
  }
  return null;
}

/** The options' labels in comparison form, per options list of a parsed definition. */
const normalizedLabelsCache = new WeakMap<readonly { label: string }[], { labels: readonly string[]; normalized: readonly string[] }>();

function normalizedLabels(options: readonly { label: string }[]): readonly string[] {
  const cached = normalizedLabelsCache.get(options);
  // The labels are compared too, so a list changed in place is not read through a stale entry.
  if (cached !== undefined && cached.labels.length === options.length && cached.labels.every((label, i) => options[i]?.label === label)) {
    return cached.normalized;
  }
  const labels = options.map((o) => o.label);
  const normalized = labels.map(normalizeText);
  normalizedLabelsCache.set(options, { labels, normalized });
  return normalized;
}

/**
 * Digits with an optional sign and one decimal separator, "." or ",". "1,000" and "1.000" are
 * refused as ambiguous (a thousands separator in one convention, a decimal one in the other):
 * re-asking is better than saving the wrong number.
 */
function readNumber(text: string): string | null {
  const compact = text.replace(/\s+/g, '');
  if (!/^[+-]?\d+(?:[.,]\d+)?$/.test(compact)) return null;
  if (/^[+-]?\d{1,3}[.,]\d{3}$/.test(compact)) return null;
  const value = Number(compact.replace(',', '.'));
  return Number.isFinite(value) ? String(value) : null;
}

const MONTHS: Readonly<Record<string, number>> = {
  jan: 1, january: 1, feb: 2, february: 2, mar: 3, march: 3, apr: 4, april: 4, may: 5, jun: 6, june: 6,
  jul: 7, july: 7, aug: 8, august: 8, sep: 9, sept: 9, september: 9, oct: 10, october: 10, nov: 11, november: 11,
  dec: 12, december: 12,
};

/** Countries that write numeric dates month first. */
const MONTH_FIRST_COUNTRIES = new Set(['US']);

/**
 * ISO 8601 (2026-03-14), numeric day-first dates (14/03/2026, 14-03-2026, 14.03.2026; month
 * first when the workspace's country writes them so, or when only that reading is a date) and
 * English month names (14 March 2026, March 14, 2026). Read as the ISO calendar date.
 */
function readDate(text: string, defaultCountry: string | null): string | null {
  const t = text.trim().toLowerCase().replace(/\s+/g, ' ');
  let m = /^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$/.exec(t);
  if (m) return isoDate(Number(m[1]), Number(m[2]), Number(m[3]));
  m = /^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$/.exec(t);
  if (m) {
    const a = Number(m[1]);
    const b = Number(m[2]);
    const year = Number(m[3]);
    const monthFirst = defaultCountry !== null && MONTH_FIRST_COUNTRIES.has(defaultCountry.toUpperCase());
    const [preferred, other] = monthFirst ? [isoDate(year, a, b), isoDate(year, b, a)] : [isoDate(year, b, a), isoDate(year, a, b)];
    return preferred ?? other;
  }
  m = /^(\d{1,2})(?:st|nd|rd|th)? (?:of )?([a-z]+)\.?,? (\d{4})$/.exec(t);
  if (m) {
    const month = MONTHS[m[2] ?? ''];
    return month === undefined ? null : isoDate(Number(m[3]), month, Number(m[1]));
  }
  m = /^([a-z]+)\.? (\d{1,2})(?:st|nd|rd|th)?,? (\d{4})$/.exec(t);
  if (m) {
    const month = MONTHS[m[1] ?? ''];
    return month === undefined ? null : isoDate(Number(m[3]), month, Number(m[2]));
  }
  return null;
}

function isoDate(year: number, month: number, day: number): string | null {
  if (month < 1 || month > 12 || day < 1 || day > 31 || year < 1000 || year > 9999) return null;
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return null;
  return `${String(year)}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

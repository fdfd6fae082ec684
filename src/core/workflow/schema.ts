/**
 * Workflow definitions are data (DESIGN §4): a trigger and an ordered list of steps, validated
 * once when loaded. Validation goes beyond shape so that a definition that parses can always be
 * run: every target exists, every step is reachable, every loop is bounded by a `jump_to`,
 * every question times out and every text variable can be rendered.
 */
import { z } from 'zod';
import { ChannelSchema, ConsentStatusSchema, LegalBasisSchema, PurposeSchema } from '../consent.js';
import { ConsentryError, type FieldIssue } from '../errors.js';
import { normalizeText } from '../keywords.js';
import { FIELD_PARSE, requiredOr } from '../required.js';
import { WorkflowTriggerSchema } from '../settings.js';

export const STEP_TYPES = [
  'send_message',
  'ask_question',
  'branch',
  'jump_to',
  'update_tag',
  'update_field',
  'record_consent',
  'close_conversation',
  'wait',
  'trigger_workflow',
  'end',
] as const;
export type StepType = (typeof STEP_TYPES)[number];

export const QUESTION_TYPES = ['multiple_choice', 'text', 'email', 'phone', 'number', 'date'] as const;
export type QuestionType = (typeof QUESTION_TYPES)[number];

/** DESIGN §4: a `wait` (and so a reply timeout) lasts at most 7 days. */
export const MAX_WAIT_SECONDS = 7 * 24 * 60 * 60;
/** DESIGN §4: a `jump_to` goes back at most 1–10 times per run. */
export const MIN_JUMPS = 1;
export const MAX_JUMPS = 10;
/** WhatsApp caps a text body at 4096 characters, the smallest limit of the supported channels. */
export const MAX_TEXT_LENGTH = 4096;
/** WhatsApp interactive list messages carry at most 10 rows. */
export const MAX_OPTIONS = 10;

/** Outcomes an `end` step can declare; `opted_out` and `cancelled` only come from cancelling a run. */
export const END_OUTCOMES = ['given', 'failed_invalid', 'failed_timeout', 'skipped', 'done'] as const;
export type EndOutcome = (typeof END_OUTCOMES)[number];

/**
 * Contact fields the contact record holds itself; every other field name is a custom field.
 * `name` / `first_name` come from the channel and are read through variables only, so they are
 * not accepted as field names (a custom field of that name would be confused with them).
 */
export const BUILT_IN_FIELDS = ['email', 'phone'] as const;
const RESERVED_FIELD_NAMES = new Set(['name', 'first_name']);

const StepIdSchema = z
  .string({ error: requiredOr('must be a string') })
  .regex(/^[a-z][a-z0-9_]{0,63}$/, 'must be lower-case letters, digits or "_" (at most 64), starting with a letter');
const FieldNameSchema = z
  .string({ error: requiredOr('must be a string') })
  .regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'must be letters, digits or "_" (at most 64), starting with a letter')
  .refine((name) => !RESERVED_FIELD_NAMES.has(name), {
    message: '"name" and "first_name" are the contact\'s own name, not fields a workflow can use',
  });
export const TemplateIdSchema = z
  .string({ error: requiredOr('must be a string') })
  .regex(/^[a-z][a-z0-9-]{0,99}$/, 'must be lower-case letters, digits or "-" (at most 100), starting with a letter');
const TextSchema = z
  .string({ error: requiredOr('must be a string') })
  .trim()
  .min(1, 'must not be empty')
  .max(MAX_TEXT_LENGTH, `must be at most ${MAX_TEXT_LENGTH} characters`);
const TagSchema = z.string({ error: requiredOr('must be a string') }).trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters');
const NextSchema = StepIdSchema.optional();

export const ChoiceOptionSchema = z
  .object({
    label: z
      .string({ error: requiredOr('must be a string') })
      .trim()
      .min(1, 'must not be empty')
      .max(100, 'must be at most 100 characters'),
    buttonId: z
      .string({ error: requiredOr('must be a string') })
      .trim()
      .min(1, 'must not be empty')
      .max(256, 'must be at most 256 characters')
      .optional(),
  })
  .strict();
export type ChoiceOption = z.infer<typeof ChoiceOptionSchema>;

export const SendMessageStepSchema = z
  .object({ id: StepIdSchema, type: z.literal('send_message'), text: TextSchema, next: NextSchema })
  .strict();

export const AskQuestionStepSchema = z
  .object({
    id: StepIdSchema,
    type: z.literal('ask_question'),
    questionType: z.enum(QUESTION_TYPES, { error: requiredOr(`must be one of ${QUESTION_TYPES.join(', ')}`) }),
    text: TextSchema,
    /** Sent instead of `text` when the question is asked again because the answer could not be read: it can say why. */
    retryText: TextSchema.optional(),
    /**
     * A phone question's texts while the workspace has no default country: only a number with its
     * country code can be read then, so these must not invite a national one.
     */
    textWithoutDefaultCountry: TextSchema.optional(),
    retryTextWithoutDefaultCountry: TextSchema.optional(),
    options: z.array(ChoiceOptionSchema).min(1, 'needs at least one option').max(MAX_OPTIONS, `at most ${MAX_OPTIONS} options`).optional(),
    saveTo: FieldNameSchema.optional(),
    timeoutSeconds: z
      .int({
        error: (issue) =>
          issue.input === undefined
            ? `is required: a question must time out (1–${MAX_WAIT_SECONDS} seconds)`
            : 'must be a whole number of seconds',
      })
      .min(1, 'must be at least 1 second')
      .max(MAX_WAIT_SECONDS, `must be at most 7 days (${MAX_WAIT_SECONDS} seconds)`),
    branches: z
      .object({ answered: StepIdSchema, invalid: StepIdSchema, timeout: StepIdSchema }, { error: requiredOr('must name the answered, invalid and timeout steps') })
      .strict(),
  })
  .strict();

export const BranchConditionSchema = z.discriminatedUnion(
  'type',
  [
    z.object({ type: z.literal('has_tag'), tag: TagSchema }).strict(),
    z.object({ type: z.literal('field_present'), field: FieldNameSchema }).strict(),
    z
      .object({
        type: z.literal('field_equals'),
        field: FieldNameSchema,
        value: z.string({ error: requiredOr('must be a string') }).max(2000, 'must be at most 2000 characters'),
      })
      .strict(),
  ],
  { error: requiredOr('must be a condition of type has_tag, field_present or field_equals') },
);
export type BranchCondition = z.infer<typeof BranchConditionSchema>;

export const BranchStepSchema = z
  .object({ id: StepIdSchema, type: z.literal('branch'), condition: BranchConditionSchema, then: StepIdSchema, else: StepIdSchema })
  .strict();

export const JumpToStepSchema = z
  .object({
    id: StepIdSchema,
    type: z.literal('jump_to'),
    target: StepIdSchema,
    maxJumps: z
      .int({
        error: (issue) =>
          issue.input === undefined
            ? `is required: a loop back without a limit is refused (${MIN_JUMPS}–${MAX_JUMPS})`
            : `must be a whole number from ${MIN_JUMPS} to ${MAX_JUMPS}`,
      })
      .min(MIN_JUMPS, `must be between ${MIN_JUMPS} and ${MAX_JUMPS}`)
      .max(MAX_JUMPS, `must be between ${MIN_JUMPS} and ${MAX_JUMPS}`),
    /** Where to go once the jumps are used up; without it, the step after this one. */
    next: NextSchema,
  })
  .strict();

export const UpdateTagStepSchema = z
  .object({
    id: StepIdSchema,
    type: z.literal('update_tag'),
    action: z.enum(['add', 'remove'], { error: requiredOr('must be "add" or "remove"') }),
    tag: TagSchema,
    next: NextSchema,
  })
  .strict();

export const UpdateFieldStepSchema = z
  .object({
    id: StepIdSchema,
    type: z.literal('update_field'),
    field: FieldNameSchema,
    value: z.string({ error: requiredOr('must be a string') }).max(2000, 'must be at most 2000 characters'),
    next: NextSchema,
  })
  .strict();

export const RecordConsentStepSchema = z
  .object({
    id: StepIdSchema,
    type: z.literal('record_consent'),
    purpose: PurposeSchema,
    /** `current`: the channel the conversation is on. */
    channel: z.union([z.literal('current'), ChannelSchema], { error: requiredOr(`must be "current" or one of ${ChannelSchema.options.join(', ')}`) }),
    status: ConsentStatusSchema,
    legalBasis: LegalBasisSchema.nullable().optional(),
    explanation: TextSchema,
    next: NextSchema,
  })
  .strict();

export const CloseConversationStepSchema = z
  .object({ id: StepIdSchema, type: z.literal('close_conversation'), next: NextSchema })
  .strict();

export const WaitStepSchema = z
  .object({
    id: StepIdSchema,
    type: z.literal('wait'),
    seconds: z
      .int({ error: requiredOr('must be a whole number of seconds') })
      .min(1, 'must be at least 1 second')
      .max(MAX_WAIT_SECONDS, `must be at most 7 days (${MAX_WAIT_SECONDS} seconds)`),
    next: NextSchema,
  })
  .strict();

export const TriggerWorkflowStepSchema = z
  .object({ id: StepIdSchema, type: z.literal('trigger_workflow'), templateId: TemplateIdSchema, next: NextSchema })
  .strict();

/** The consent a failed run was asking for, and the question whose sends count as attempts. */
export const FailureSchema = z.object({ purpose: PurposeSchema, question: StepIdSchema }).strict();

export const EndStepSchema = z
  .object({
    id: StepIdSchema,
    type: z.literal('end'),
    outcome: z.enum(END_OUTCOMES, { error: requiredOr(`must be one of ${END_OUTCOMES.join(', ')}`) }).default('done'),
    /** Required with the failed_* outcomes: what failed, so `consent.failed` can say so. */
    failure: FailureSchema.optional(),
  })
  .strict();

const STEP_SCHEMAS = {
  send_message: SendMessageStepSchema,
  ask_question: AskQuestionStepSchema,
  branch: BranchStepSchema,
  jump_to: JumpToStepSchema,
  update_tag: UpdateTagStepSchema,
  update_field: UpdateFieldStepSchema,
  record_consent: RecordConsentStepSchema,
  close_conversation: CloseConversationStepSchema,
  wait: WaitStepSchema,
  trigger_workflow: TriggerWorkflowStepSchema,
  end: EndStepSchema,
} as const;

export const WorkflowStepSchema = z.discriminatedUnion('type', [
  SendMessageStepSchema,
  AskQuestionStepSchema,
  BranchStepSchema,
  JumpToStepSchema,
  UpdateTagStepSchema,
  UpdateFieldStepSchema,
  RecordConsentStepSchema,
  CloseConversationStepSchema,
  WaitStepSchema,
  TriggerWorkflowStepSchema,
  EndStepSchema,
]);
export type WorkflowStep = z.infer<typeof WorkflowStepSchema>;
export type SendMessageStep = z.infer<typeof SendMessageStepSchema>;
export type AskQuestionStep = z.infer<typeof AskQuestionStepSchema>;

/** The texts an ask_question step may be sent with; which one is sent depends on the run (transition.ts). */
export const QUESTION_TEXT_FIELDS = ['text', 'retryText', 'textWithoutDefaultCountry', 'retryTextWithoutDefaultCountry'] as const satisfies readonly (keyof AskQuestionStep)[];
const COUNTRY_TEXT_FIELDS = ['textWithoutDefaultCountry', 'retryTextWithoutDefaultCountry'] as const satisfies readonly (keyof AskQuestionStep)[];
export type BranchStep = z.infer<typeof BranchStepSchema>;
export type JumpToStep = z.infer<typeof JumpToStepSchema>;
export type UpdateTagStep = z.infer<typeof UpdateTagStepSchema>;
export type UpdateFieldStep = z.infer<typeof UpdateFieldStepSchema>;
export type RecordConsentStep = z.infer<typeof RecordConsentStepSchema>;
export type CloseConversationStep = z.infer<typeof CloseConversationStepSchema>;
export type WaitStep = z.infer<typeof WaitStepSchema>;
export type TriggerWorkflowStep = z.infer<typeof TriggerWorkflowStepSchema>;
export type EndStep = z.infer<typeof EndStepSchema>;

const MAX_STEPS = 200;

const WorkflowHeaderSchema = z
  .object({
    id: TemplateIdSchema,
    name: z.string({ error: requiredOr('must be a string') }).trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
    description: z.string({ error: requiredOr('must be a string') }).trim().max(2000, 'must be at most 2000 characters').optional(),
    trigger: WorkflowTriggerSchema,
    steps: z.array(z.unknown(), { error: requiredOr('must be a list of steps') }).min(1, 'needs at least one step').max(MAX_STEPS, `at most ${MAX_STEPS} steps`),
  })
  .strict();

/** The run starts at the first step; a step without `next` continues with the one after it. */
export const WorkflowDefinitionSchema = WorkflowHeaderSchema.extend({ steps: z.array(WorkflowStepSchema).min(1).max(MAX_STEPS) });
export type WorkflowDefinition = z.infer<typeof WorkflowDefinitionSchema>;

/* ------------------------------------------------------------------------------------------ */
/* Text variables                                                                             */
/* ------------------------------------------------------------------------------------------ */

/**
 * Variables a text may use, written `{{name}}` or `{{name|fallback}}` (the fallback is shown
 * when the value is missing). `answer` is the last accepted answer of the run (the chosen
 * option's label, the normalised email or phone ...); `channel` is the conversation's channel.
 */
export const FIXED_VARIABLES = [
  'contact.first_name',
  'contact.name',
  'contact.email',
  'contact.phone',
  'workspace.privacy_policy_url',
  'answer',
  'channel',
] as const;
export type FixedVariable = (typeof FIXED_VARIABLES)[number];
export const CONTACT_FIELD_VARIABLE_PREFIX = 'contact.fields.';
const FIELD_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

export type VariableRef = { kind: 'fixed'; name: FixedVariable } | { kind: 'field'; field: string };

export type TemplatePart = { kind: 'literal'; text: string } | { kind: 'variable'; ref: VariableRef; fallback: string };

const VARIABLE_TOKEN = /\{\{([^{}]*)\}\}/g;

function isFixedVariable(name: string): name is FixedVariable {
  return (FIXED_VARIABLES as readonly string[]).includes(name);
}

export function describeAllowedVariables(): string {
  return [...FIXED_VARIABLES.map((v) => `{{${v}}}`), `{{${CONTACT_FIELD_VARIABLE_PREFIX}<field>}}`].join(', ');
}

/** Splits a text into literal parts and variables; returns the problems instead when any. */
export function parseTextTemplate(text: string): { parts: TemplatePart[]; problems: string[] } {
  const parts: TemplatePart[] = [];
  const problems: string[] = [];
  let last = 0;
  for (const match of text.matchAll(VARIABLE_TOKEN)) {
    const start = match.index;
    if (start > last) parts.push({ kind: 'literal', text: text.slice(last, start) });
    last = start + match[0].length;
    const inner = match[1] ?? '';
    const bar = inner.indexOf('|');
    const name = (bar < 0 ? inner : inner.slice(0, bar)).trim();
    const fallback = bar < 0 ? '' : inner.slice(bar + 1).trim();
    if (isFixedVariable(name)) {
      parts.push({ kind: 'variable', ref: { kind: 'fixed', name }, fallback });
    } else if (name.startsWith(CONTACT_FIELD_VARIABLE_PREFIX) && FIELD_NAME_PATTERN.test(name.slice(CONTACT_FIELD_VARIABLE_PREFIX.length))) {
      parts.push({ kind: 'variable', ref: { kind: 'field', field: name.slice(CONTACT_FIELD_VARIABLE_PREFIX.length) }, fallback });
    } else {
      problems.push(`uses unknown variable {{${name}}}; allowed: ${describeAllowedVariables()}`);
    }
  }
  if (last < text.length) parts.push({ kind: 'literal', text: text.slice(last) });
  const leftover = text.replace(VARIABLE_TOKEN, '');
  if (leftover.includes('{{') || leftover.includes('}}')) {
    problems.push('has an unbalanced "{{" or "}}": write variables as {{name}}');
  }
  return { parts, problems };
}

/* ------------------------------------------------------------------------------------------ */
/* Step graph                                                                                 */
/* ------------------------------------------------------------------------------------------ */

export interface StepEdge {
  /** How the step leaves: `next`, `then`, `else`, `branches.answered`, `target`, or `continues` (to the step after it). */
  via: string;
  /** null when the flow runs past the last step (the run ends). */
  to: string | null;
  /** A `jump_to` step's jump: bounded by its maxJumps, so it may go back. */
  bounded: boolean;
}

/** Where each step can go next. */
export function stepEdges(steps: readonly WorkflowStep[], index: number): StepEdge[] {
  const step = steps[index];
  if (step === undefined) return [];
  const following = steps[index + 1]?.id ?? null;
  const onward = (next: string | undefined): StepEdge => (next !== undefined ? { via: 'next', to: next, bounded: false } : { via: 'continues', to: following, bounded: false });
  switch (step.type) {
    case 'end':
      return [];
    case 'branch':
      return [
        { via: 'then', to: step.then, bounded: false },
        { via: 'else', to: step.else, bounded: false },
      ];
    case 'ask_question':
      return [
        { via: 'branches.answered', to: step.branches.answered, bounded: false },
        { via: 'branches.invalid', to: step.branches.invalid, bounded: false },
        { via: 'branches.timeout', to: step.branches.timeout, bounded: false },
      ];
    case 'jump_to':
      return [{ via: 'target', to: step.target, bounded: true }, onward(step.next)];
    default:
      return [onward(step.next)];
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Parsing                                                                                    */
/* ------------------------------------------------------------------------------------------ */

export interface ParseWorkflowOptions {
  /** Template ids a `trigger_workflow` step may name; when given, any other id is refused. */
  knownTemplateIds?: ReadonlySet<string>;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = root;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    const next: unknown = Reflect.get(current, key);
    current = next;
  }
  return current;
}

/** A parse's issues (with FIELD_PARSE: an absent field `is required`), each naming the step or the workflow it is in. */
function zodIssues(error: z.ZodError, basePath: string, label: string): FieldIssue[] {
  return error.issues.map((issue) => {
    const sub = issue.path.map(String).join('.');
    const path = [basePath, sub].filter((p) => p !== '').join('.');
    let message: string;
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((k) => `'${k}'`).join(', ');
      message = `${label}unknown field${issue.keys.length > 1 ? 's' : ''} ${keys}${sub === '' ? '' : ` in ${sub}`}`;
    } else {
      message = `${label}${sub === '' ? '' : `${sub} `}${issue.message}`;
    }
    return { path, message };
  });
}

function stepLabel(raw: unknown, index: number): string {
  const id = valueAt(raw, ['id']);
  return typeof id === 'string' && id !== '' ? `step '${id}'` : `step #${index + 1}`;
}

function isStepType(value: unknown): value is StepType {
  return typeof value === 'string' && (STEP_TYPES as readonly string[]).includes(value);
}

function parseStep(raw: unknown, index: number, issues: FieldIssue[]): WorkflowStep | null {
  const base = `steps.${index}`;
  const label = `${stepLabel(raw, index)}: `;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    issues.push({ path: base, message: `${label}must be an object with an id and a type` });
    return null;
  }
  const type = valueAt(raw, ['type']);
  if (!isStepType(type)) {
    const shown = type === undefined ? 'is missing' : `'${String(type)}' is unknown`;
    issues.push({ path: `${base}.type`, message: `${label}type ${shown}; expected one of ${STEP_TYPES.join(', ')}` });
    return null;
  }
  const result = STEP_SCHEMAS[type].safeParse(raw, FIELD_PARSE);
  if (!result.success) {
    issues.push(...zodIssues(result.error, base, `${stepLabel(raw, index)} (${type}): `));
    return null;
  }
  return result.data;
}

/** Checks what a per-step schema cannot see: options against question types, saveTo, consent rules. */
function checkStepRules(step: WorkflowStep, index: number, ids: ReadonlyMap<string, number>, definitionId: string, options: ParseWorkflowOptions, issues: FieldIssue[]): void {
  const base = `steps.${index}`;
  const label = `step '${step.id}' (${step.type}): `;
  const textFields: [string, string][] = [];
  switch (step.type) {
    case 'send_message':
      textFields.push(['text', step.text]);
      break;
    case 'ask_question': {
      for (const field of QUESTION_TEXT_FIELDS) {
        const text = step[field];
        if (text !== undefined) textFields.push([field, text]);
      }
      if (step.questionType !== 'phone') {
        for (const field of COUNTRY_TEXT_FIELDS) {
          if (step[field] !== undefined) {
            issues.push({ path: `${base}.${field}`, message: `${label}${field} only applies to phone questions, not ${step.questionType}: only they read answers with the default country` });
          }
        }
      }
      if (step.questionType === 'multiple_choice') {
        if (step.options === undefined) {
          issues.push({ path: `${base}.options`, message: `${label}options is required for a multiple_choice question` });
        } else {
          const labels = new Map<string, number>();
          const buttons = new Map<string, number>();
          step.options.forEach((option, i) => {
            const key = normalizeText(option.label);
            if (key === '') {
              issues.push({ path: `${base}.options.${i}.label`, message: `${label}options.${i}.label '${option.label}' has no letters or digits a reply could match` });
            } else if (labels.has(key)) {
              issues.push({ path: `${base}.options.${i}.label`, message: `${label}options.${i}.label '${option.label}' reads the same as option ${labels.get(key)}` });
            } else labels.set(key, i);
            if (option.label.includes('{{') || option.label.includes('}}')) {
              issues.push({ path: `${base}.options.${i}.label`, message: `${label}options.${i}.label cannot use variables: a label is matched against replies as written` });
            }
            if (option.buttonId !== undefined) {
              if (buttons.has(option.buttonId)) {
                issues.push({ path: `${base}.options.${i}.buttonId`, message: `${label}options.${i}.buttonId '${option.buttonId}' is already used by option ${buttons.get(option.buttonId)}` });
              } else buttons.set(option.buttonId, i);
            }
          });
        }
      } else if (step.options !== undefined) {
        issues.push({ path: `${base}.options`, message: `${label}options only apply to multiple_choice questions, not ${step.questionType}` });
      }
      if ((step.saveTo === 'email' || step.saveTo === 'phone') && step.questionType !== step.saveTo) {
        issues.push({
          path: `${base}.saveTo`,
          message: `${label}saveTo '${step.saveTo}' needs questionType '${step.saveTo}', so the answer is validated and normalised before it is saved`,
        });
      }
      break;
    }
    case 'update_field':
      textFields.push(['value', step.value]);
      if (step.field === 'email' || step.field === 'phone') {
        issues.push({
          path: `${base}.field`,
          message: `${label}field '${step.field}' can only be set by an ask_question with questionType '${step.field}', which validates it`,
        });
      }
      break;
    case 'record_consent':
      textFields.push(['explanation', step.explanation]);
      if (step.status === 'opted_in' && (step.legalBasis === undefined || step.legalBasis === null)) {
        issues.push({ path: `${base}.legalBasis`, message: `${label}legalBasis is required when status is opted_in (e.g. CONSENT_WITH_NOTICE)` });
      }
      break;
    case 'trigger_workflow':
      if (step.templateId === definitionId) {
        issues.push({ path: `${base}.templateId`, message: `${label}templateId '${step.templateId}' is this workflow: a workflow cannot trigger itself` });
      } else if (options.knownTemplateIds !== undefined && !options.knownTemplateIds.has(step.templateId)) {
        issues.push({ path: `${base}.templateId`, message: `${label}templateId '${step.templateId}' is not a known template` });
      }
      break;
    case 'end': {
      const failed = step.outcome === 'failed_invalid' || step.outcome === 'failed_timeout';
      if (failed && step.failure === undefined) {
        issues.push({ path: `${base}.failure`, message: `${label}failure (purpose and question) is required with outcome '${step.outcome}'` });
      } else if (!failed && step.failure !== undefined) {
        issues.push({ path: `${base}.failure`, message: `${label}failure only applies to the failed_invalid and failed_timeout outcomes, not '${step.outcome}'` });
      }
      if (step.failure !== undefined) {
        const questionIndex = ids.get(step.failure.question);
        if (questionIndex === undefined) {
          issues.push({ path: `${base}.failure.question`, message: `${label}failure.question names unknown step '${step.failure.question}'` });
        }
      }
      break;
    }
    default:
      break;
  }
  for (const [field, text] of textFields) {
    for (const problem of parseTextTemplate(text).problems) {
      issues.push({ path: `${base}.${field}`, message: `${label}${field} ${problem}` });
    }
  }
}

function describeVia(via: string): string {
  if (via.startsWith('branches.')) return `branch '${via.slice('branches.'.length)}'`;
  if (via === 'continues') return 'the step after it';
  return via;
}

function checkGraph(steps: readonly WorkflowStep[], ids: ReadonlyMap<string, number>, issues: FieldIssue[]): void {
  let targetsOk = true;
  steps.forEach((step, index) => {
    for (const edge of stepEdges(steps, index)) {
      if (edge.to !== null && !ids.has(edge.to)) {
        targetsOk = false;
        issues.push({ path: `steps.${index}.${edge.via}`, message: `step '${step.id}' → ${describeVia(edge.via)} goes to unknown step '${edge.to}'` });
      }
    }
    if (step.type === 'end' && step.failure !== undefined) {
      const question = steps[ids.get(step.failure.question) ?? -1];
      if (question !== undefined && question.type !== 'ask_question') {
        issues.push({ path: `steps.${index}.failure.question`, message: `step '${step.id}' (end): failure.question '${question.id}' is a ${question.type} step, not an ask_question` });
      }
    }
  });
  if (!targetsOk) return;

  const reachable = new Set<number>([0]);
  const queue = [0];
  while (queue.length > 0) {
    const index = queue.shift() ?? 0;
    for (const edge of stepEdges(steps, index)) {
      const to = edge.to === null ? undefined : ids.get(edge.to);
      if (to !== undefined && !reachable.has(to)) {
        reachable.add(to);
        queue.push(to);
      }
    }
  }
  const first = steps[0]?.id ?? '';
  steps.forEach((step, index) => {
    if (!reachable.has(index)) {
      issues.push({ path: `steps.${index}`, message: `step '${step.id}' cannot be reached from the first step '${first}': remove it or point a step at it` });
    }
  });

  // A loop is only safe when it goes back through a jump_to, whose maxJumps bounds it; any
  // other cycle would run (or re-ask) forever.
  const state = new Array<'new' | 'open' | 'done'>(steps.length).fill('new');
  const stack: number[] = [];
  const visit = (index: number): void => {
    state[index] = 'open';
    stack.push(index);
    for (const edge of stepEdges(steps, index)) {
      if (edge.bounded || edge.to === null) continue;
      const to = ids.get(edge.to);
      if (to === undefined) continue;
      if (state[to] === 'open') {
        const cycle = [...stack.slice(stack.indexOf(to)), to].map((i) => `'${steps[i]?.id ?? ''}'`).join(' → ');
        const from = steps[index];
        issues.push({
          path: `steps.${index}.${edge.via === 'continues' ? 'next' : edge.via}`,
          message: `step '${from?.id ?? ''}' → ${describeVia(edge.via)} goes back to step '${edge.to}' without a limit (${cycle}): loop back through a jump_to step with maxJumps ${MIN_JUMPS}–${MAX_JUMPS}`,
        });
      } else if (state[to] === 'new') {
        visit(to);
      }
    }
    stack.pop();
    state[index] = 'done';
  };
  steps.forEach((_, index) => {
    if (state[index] === 'new') visit(index);
  });
}

/**
 * Parses and checks a workflow definition. Throws ConsentryError('INVALID_WORKFLOW') with one
 * FieldIssue per problem, each naming the step and the field.
 */
export function parseWorkflowDefinition(json: unknown, options: ParseWorkflowOptions = {}): WorkflowDefinition {
  const issues: FieldIssue[] = [];
  const header = WorkflowHeaderSchema.safeParse(json, FIELD_PARSE);
  if (!header.success) {
    issues.push(...zodIssues(header.error, '', 'workflow: '));
  }
  const rawSteps = valueAt(json, ['steps']);
  const steps: WorkflowStep[] = [];
  if (Array.isArray(rawSteps)) {
    rawSteps.forEach((raw: unknown, index) => {
      const step = parseStep(raw, index, issues);
      if (step !== null) steps.push(step);
    });
  }
  if (!header.success || steps.length !== (Array.isArray(rawSteps) ? rawSteps.length : -1)) {
    throw invalidWorkflow(json, issues);
  }

  const ids = new Map<string, number>();
  steps.forEach((step, index) => {
    const seen = ids.get(step.id);
    if (seen !== undefined) {
      issues.push({ path: `steps.${index}.id`, message: `step '${step.id}' (steps.${index}): id is already used by steps.${seen}` });
    } else ids.set(step.id, index);
  });
  steps.forEach((step, index) => checkStepRules(step, index, ids, header.data.id, options, issues));
  if (issues.length === 0) checkGraph(steps, ids, issues);
  if (issues.length > 0) throw invalidWorkflow(json, issues);
  return { ...header.data, steps };
}

function invalidWorkflow(json: unknown, issues: readonly FieldIssue[]): ConsentryError {
  const id = valueAt(json, ['id']);
  const name = typeof id === 'string' ? `workflow '${id}'` : 'workflow';
  const first = issues[0]?.message ?? 'is not valid';
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
  return new ConsentryError('INVALID_WORKFLOW', `${name} is invalid: ${first}${more}`, issues);
}

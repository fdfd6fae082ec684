import { describe, expect, it } from 'vitest';
import { ConsentryError, type FieldIssue } from '../../../src/core/errors.js';
import { MAX_WAIT_SECONDS, parseTextTemplate, parseWorkflowDefinition } from '../../../src/core/workflow/schema.js';

type Json = Record<string, unknown>;

/** A small valid definition: welcome, ask an email with a bounded retry, thank, end. */
function baseDefinition(): { id: string; name: string; trigger: string; steps: Json[] } {
  return {
    id: 'test-flow',
    name: 'Test flow',
    trigger: 'manual',
    steps: [
      { id: 'welcome', type: 'send_message', text: 'Hi {{contact.first_name|there}}' },
      {
        id: 'ask',
        type: 'ask_question',
        questionType: 'email',
        text: 'Your email?',
        saveTo: 'email',
        timeoutSeconds: 60,
        branches: { answered: 'thanks', invalid: 'retry', timeout: 'thanks' },
      },
      { id: 'retry', type: 'jump_to', target: 'ask', maxJumps: 2 },
      { id: 'thanks', type: 'send_message', text: 'Thanks' },
      { id: 'finish', type: 'end' },
    ],
  };
}

function issuesOf(json: unknown, options?: Parameters<typeof parseWorkflowDefinition>[1]): FieldIssue[] {
  try {
    parseWorkflowDefinition(json, options);
  } catch (error) {
    expect(error).toBeInstanceOf(ConsentryError);
    if (!(error instanceof ConsentryError)) throw error;
    expect(error.code).toBe('INVALID_WORKFLOW');
    return [...error.issues];
  }
  throw new Error('expected the definition to be refused');
}

function withStep(index: number, patch: Json | null): ReturnType<typeof baseDefinition> {
  const def = baseDefinition();
  const step = def.steps[index];
  if (step === undefined) throw new Error(`no step ${index}`);
  if (patch === null) def.steps.splice(index, 1);
  else def.steps[index] = { ...step, ...patch };
  return def;
}

function replaceStep(index: number, step: Json): ReturnType<typeof baseDefinition> {
  const def = baseDefinition();
  def.steps[index] = step;
  return def;
}

function withoutKey(index: number, key: string): ReturnType<typeof baseDefinition> {
  const def = baseDefinition();
  const step = def.steps[index];
  if (step === undefined) throw new Error(`no step ${index}`);
  const { [key]: _removed, ...rest } = step;
  def.steps[index] = rest;
  return def;
}

describe('parseWorkflowDefinition: shape', () => {
  it('accepts a valid definition and fills the end outcome default', () => {
    const def = parseWorkflowDefinition(baseDefinition());
    expect(def.id).toBe('test-flow');
    expect(def.steps.map((s) => s.id)).toEqual(['welcome', 'ask', 'retry', 'thanks', 'finish']);
    const last = def.steps[4];
    expect(last?.type === 'end' && last.outcome).toBe('done');
  });

  it('refuses something that is not a workflow, naming the missing fields', () => {
    const issues = issuesOf('hello');
    expect(issues.length).toBeGreaterThan(0);
    const missing = issuesOf({ id: 'x-flow' });
    expect(missing.map((i) => i.path)).toEqual(expect.arrayContaining(['name', 'trigger', 'steps']));
    expect(missing.find((i) => i.path === 'steps')?.message).toContain('is required');
  });

  it('names an absent field of a step as required, with the values a listed field takes', () => {
    expect(issuesOf(withoutKey(1, 'questionType'))).toEqual([
      { path: 'steps.1.questionType', message: "step 'ask' (ask_question): questionType is required: one of multiple_choice, text, email, phone, number, date" },
    ]);
    const def = baseDefinition();
    def.steps.splice(1, 0, { id: 'check', type: 'branch', condition: { tag: 'VIP' }, then: 'ask', else: 'thanks' });
    expect(issuesOf(def)).toEqual([{ path: 'steps.1.condition.type', message: "step 'check' (branch): condition.type is required: one of has_tag, field_present, field_equals" }]);
    expect(issuesOf(undefined)).toEqual([{ path: '', message: 'workflow: is required' }]);
  });

  it('refuses an unknown step type, naming the step', () => {
    const issues = issuesOf(withStep(3, { type: 'send_email' }));
    expect(issues).toEqual([{ path: 'steps.3.type', message: expect.stringContaining("step 'thanks': type 'send_email' is unknown") }]);
  });

  it('refuses an unknown field in a step (a typo is not silently ignored)', () => {
    const issues = issuesOf(withStep(0, { txt: 'oops' }));
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe('steps.0');
    expect(issues[0]?.message).toContain("step 'welcome' (send_message): unknown field 'txt'");
  });

  it('refuses an empty message text, naming step and field', () => {
    const issues = issuesOf(withStep(0, { text: '   ' }));
    expect(issues).toEqual([{ path: 'steps.0.text', message: "step 'welcome' (send_message): text must not be empty" }]);
  });

  it('refuses duplicate step ids', () => {
    const issues = issuesOf(withStep(3, { id: 'welcome' }));
    expect(issues.some((i) => i.path === 'steps.3.id' && i.message.includes("step 'welcome'") && i.message.includes('already used by steps.0'))).toBe(true);
  });

  it('reports one issue per problem', () => {
    const def = withStep(3, { text: '' });
    const ask = def.steps[1];
    if (ask === undefined) throw new Error('no ask step');
    const { timeoutSeconds: _t, ...rest } = ask;
    def.steps[1] = rest;
    const issues = issuesOf(def);
    expect(issues.map((i) => i.path).sort()).toEqual(['steps.1.timeoutSeconds', 'steps.3.text']);
  });

  it('names the workflow and the first problem in the error message', () => {
    expect(() => parseWorkflowDefinition(withStep(3, { text: '' }))).toThrow(/workflow 'test-flow' is invalid: step 'thanks'/);
  });
});

describe('parseWorkflowDefinition: targets and reachability', () => {
  it('refuses a question branch that goes to an unknown step', () => {
    const issues = issuesOf(withStep(1, { branches: { answered: 'thanks', invalid: 'nowhere', timeout: 'thanks' } }));
    expect(issues).toContainEqual({ path: 'steps.1.branches.invalid', message: "step 'ask' → branch 'invalid' goes to unknown step 'nowhere'" });
  });

  it('refuses unknown next, then/else and jump targets', () => {
    expect(issuesOf(withStep(0, { next: 'ghost' }))).toContainEqual({ path: 'steps.0.next', message: "step 'welcome' → next goes to unknown step 'ghost'" });
    expect(issuesOf(withStep(2, { target: 'ghost' }))).toContainEqual({ path: 'steps.2.target', message: "step 'retry' → target goes to unknown step 'ghost'" });
    const def = baseDefinition();
    def.steps.splice(1, 0, { id: 'check', type: 'branch', condition: { type: 'field_present', field: 'email' }, then: 'thanks', else: 'asq' });
    expect(issuesOf(def)).toContainEqual({ path: 'steps.1.else', message: "step 'check' → else goes to unknown step 'asq'" });
  });

  it('refuses a step that cannot be reached from the first step', () => {
    const def = baseDefinition();
    def.steps.splice(4, 0, { id: 'orphan', type: 'send_message', text: 'never' });
    def.steps[3] = { id: 'thanks', type: 'send_message', text: 'Thanks', next: 'finish' };
    expect(issuesOf(def)).toEqual([{ path: 'steps.4', message: expect.stringContaining("step 'orphan' cannot be reached from the first step 'welcome'") }]);
  });

  it('refuses a loop back that does not go through a jump_to', () => {
    const def = baseDefinition();
    def.steps.splice(4, 0, { id: 'again', type: 'branch', condition: { type: 'has_tag', tag: 'VIP' }, then: 'welcome', else: 'finish' });
    const issues = issuesOf(def);
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe('steps.4.then');
    expect(issues[0]?.message).toContain("step 'again' → then goes back to step 'welcome' without a limit");
    expect(issues[0]?.message).toContain("'welcome' → 'ask' → 'thanks' → 'again' → 'welcome'");
    expect(issues[0]?.message).toContain('jump_to');
  });

  it('refuses a question whose invalid branch re-asks it directly (an unbounded re-ask)', () => {
    const issues = issuesOf(withStep(1, { branches: { answered: 'thanks', invalid: 'ask', timeout: 'thanks' } }));
    expect(issues.some((i) => i.path === 'steps.1.branches.invalid' && i.message.includes("goes back to step 'ask' without a limit"))).toBe(true);
  });
});

describe('parseWorkflowDefinition: jump_to, questions and waits', () => {
  it('refuses a jump_to without maxJumps: a loop back without a limit', () => {
    const issues = issuesOf(withoutKey(2, 'maxJumps'));
    expect(issues).toEqual([{ path: 'steps.2.maxJumps', message: expect.stringContaining("step 'retry' (jump_to): maxJumps is required: a loop back without a limit is refused") }]);
  });

  it('accepts maxJumps 1 and 10 and refuses 0, 11 and fractions', () => {
    expect(() => parseWorkflowDefinition(withStep(2, { maxJumps: 1 }))).not.toThrow();
    expect(() => parseWorkflowDefinition(withStep(2, { maxJumps: 10 }))).not.toThrow();
    for (const bad of [0, 11, 2.5]) {
      const issues = issuesOf(withStep(2, { maxJumps: bad }));
      expect(issues).toHaveLength(1);
      expect(issues[0]?.path).toBe('steps.2.maxJumps');
      expect(issues[0]?.message).toMatch(/^step 'retry' \(jump_to\): maxJumps must be /);
    }
  });

  it('refuses a question without a timeout', () => {
    const issues = issuesOf(withoutKey(1, 'timeoutSeconds'));
    expect(issues).toEqual([{ path: 'steps.1.timeoutSeconds', message: expect.stringContaining("step 'ask' (ask_question): timeoutSeconds is required: a question must time out") }]);
  });

  it('refuses a timeout longer than 7 days', () => {
    const issues = issuesOf(withStep(1, { timeoutSeconds: MAX_WAIT_SECONDS + 1 }));
    expect(issues).toEqual([{ path: 'steps.1.timeoutSeconds', message: expect.stringContaining('at most 7 days') }]);
  });

  it('accepts a wait of exactly 7 days and refuses a longer one', () => {
    const wait = (seconds: number) => {
      const def = baseDefinition();
      def.steps.splice(1, 0, { id: 'pause', type: 'wait', seconds });
      return def;
    };
    expect(() => parseWorkflowDefinition(wait(MAX_WAIT_SECONDS))).not.toThrow();
    expect(issuesOf(wait(MAX_WAIT_SECONDS + 1))).toEqual([{ path: 'steps.1.seconds', message: "step 'pause' (wait): seconds must be at most 7 days (604800 seconds)" }]);
  });

  it('refuses a multiple_choice question without options and options on other questions', () => {
    const noOptions = issuesOf(withStep(1, { questionType: 'multiple_choice', saveTo: undefined }));
    expect(noOptions).toContainEqual({ path: 'steps.1.options', message: "step 'ask' (ask_question): options is required for a multiple_choice question" });
    const stray = issuesOf(withStep(1, { options: [{ label: 'Yes' }] }));
    expect(stray).toContainEqual({ path: 'steps.1.options', message: "step 'ask' (ask_question): options only apply to multiple_choice questions, not email" });
  });

  it('refuses options that a reply could not tell apart, and repeated button ids', () => {
    const issues = issuesOf(
      withStep(1, {
        questionType: 'multiple_choice',
        saveTo: undefined,
        options: [
          { label: 'Yes', buttonId: 'y' },
          { label: 'yes!', buttonId: 'y' },
        ],
      }),
    );
    expect(issues.map((i) => i.path).sort()).toEqual(['steps.1.options.1.buttonId', 'steps.1.options.1.label']);
    expect(issues.find((i) => i.path.endsWith('label'))?.message).toContain('reads the same as option 0');
  });

  it('refuses saving a non-email answer into the email field', () => {
    const issues = issuesOf(withStep(1, { questionType: 'text' }));
    expect(issues).toEqual([{ path: 'steps.1.saveTo', message: expect.stringContaining("step 'ask' (ask_question): saveTo 'email' needs questionType 'email'") }]);
  });

  it('takes a retry text on any question, and texts without a default country on a phone question only', () => {
    expect(() => parseWorkflowDefinition(withStep(1, { retryText: 'That is not an email. Your email?' }))).not.toThrow();
    const phone = { questionType: 'phone', saveTo: 'phone', textWithoutDefaultCountry: 'Your number, with +?', retryTextWithoutDefaultCountry: 'With + please. Your number?' };
    expect(() => parseWorkflowDefinition(withStep(1, phone))).not.toThrow();
    const onEmail = issuesOf(withStep(1, { textWithoutDefaultCountry: 'Your email?', retryTextWithoutDefaultCountry: 'Your email!' }));
    expect(onEmail).toEqual([
      { path: 'steps.1.textWithoutDefaultCountry', message: expect.stringContaining("step 'ask' (ask_question): textWithoutDefaultCountry only applies to phone questions, not email") },
      { path: 'steps.1.retryTextWithoutDefaultCountry', message: expect.stringContaining('retryTextWithoutDefaultCountry only applies to phone questions, not email') },
    ]);
    expect(issuesOf(withStep(1, { retryText: '  ' }))).toEqual([{ path: 'steps.1.retryText', message: expect.stringContaining('must not be empty') }]);
  });

  it('refuses the reserved field names', () => {
    const issues = issuesOf(withStep(1, { questionType: 'text', saveTo: 'first_name' }));
    expect(issues).toEqual([{ path: 'steps.1.saveTo', message: expect.stringContaining("step 'ask' (ask_question): saveTo \"name\" and \"first_name\"") }]);
  });
});

describe('parseWorkflowDefinition: other step rules', () => {
  it('refuses update_field on email or phone (only a validating question may set them)', () => {
    const issues = issuesOf(replaceStep(3, { id: 'thanks', type: 'update_field', field: 'phone', value: '123' }));
    expect(issues).toEqual([{ path: 'steps.3.field', message: expect.stringContaining("step 'thanks' (update_field): field 'phone' can only be set by an ask_question") }]);
  });

  it('refuses an opt-in record without a legal basis', () => {
    const def = baseDefinition();
    def.steps.splice(3, 0, { id: 'record', type: 'record_consent', purpose: 'privacy', channel: 'current', status: 'opted_in', explanation: 'Agreed' });
    expect(issuesOf(def)).toEqual([{ path: 'steps.3.legalBasis', message: expect.stringContaining("step 'record' (record_consent): legalBasis is required when status is opted_in") }]);
    def.steps[3] = { ...def.steps[3], legalBasis: 'CONSENT_WITH_NOTICE' };
    expect(() => parseWorkflowDefinition(def)).not.toThrow();
  });

  it('refuses an unknown consent channel', () => {
    const def = baseDefinition();
    def.steps.splice(3, 0, { id: 'record', type: 'record_consent', purpose: 'privacy', channel: 'fax', status: 'opted_out', explanation: 'x' });
    expect(issuesOf(def)).toEqual([{ path: 'steps.3.channel', message: expect.stringContaining("step 'record' (record_consent): channel must be \"current\" or one of") }]);
  });

  it('requires failure details with a failed outcome, and only then', () => {
    expect(issuesOf(withStep(4, { outcome: 'failed_timeout' }))).toEqual([
      { path: 'steps.4.failure', message: "step 'finish' (end): failure (purpose and question) is required with outcome 'failed_timeout'" },
    ]);
    expect(issuesOf(withStep(4, { outcome: 'done', failure: { purpose: 'privacy', question: 'ask' } }))).toEqual([
      { path: 'steps.4.failure', message: "step 'finish' (end): failure only applies to the failed_invalid and failed_timeout outcomes, not 'done'" },
    ]);
    expect(issuesOf(withStep(4, { outcome: 'failed_invalid', failure: { purpose: 'privacy', question: 'welcome' } }))).toEqual([
      { path: 'steps.4.failure.question', message: "step 'finish' (end): failure.question 'welcome' is a send_message step, not an ask_question" },
    ]);
    expect(() => parseWorkflowDefinition(withStep(4, { outcome: 'failed_invalid', failure: { purpose: 'privacy', question: 'ask' } }))).not.toThrow();
  });

  it('refuses an end outcome that only cancelling can produce', () => {
    const issues = issuesOf(withStep(4, { outcome: 'opted_out' }));
    expect(issues).toEqual([{ path: 'steps.4.outcome', message: expect.stringContaining("step 'finish' (end): outcome must be one of") }]);
  });

  it('refuses a workflow that triggers itself, and unknown templates when the known ids are given', () => {
    const def = baseDefinition();
    def.steps.splice(3, 0, { id: 'chain', type: 'trigger_workflow', templateId: 'test-flow' });
    expect(issuesOf(def)).toEqual([{ path: 'steps.3.templateId', message: expect.stringContaining('cannot trigger itself') }]);
    def.steps[3] = { id: 'chain', type: 'trigger_workflow', templateId: 'other-flow' };
    expect(() => parseWorkflowDefinition(def)).not.toThrow();
    expect(issuesOf(def, { knownTemplateIds: new Set(['test-flow']) })).toEqual([
      { path: 'steps.3.templateId', message: "step 'chain' (trigger_workflow): templateId 'other-flow' is not a known template" },
    ]);
  });
});

describe('parseWorkflowDefinition: text variables', () => {
  it('accepts every allowed variable, custom fields and fallbacks', () => {
    const text =
      '{{contact.first_name}} {{contact.name|friend}} {{contact.email}} {{contact.phone}} {{contact.fields.plan}} {{ workspace.privacy_policy_url }} {{answer}} {{channel}}';
    expect(() => parseWorkflowDefinition(withStep(3, { text }))).not.toThrow();
  });

  it('refuses an unknown variable, naming step, field and variable', () => {
    const issues = issuesOf(withStep(3, { text: 'See {{workspace.url}}' }));
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe('steps.3.text');
    expect(issues[0]?.message).toContain("step 'thanks' (send_message): text uses unknown variable {{workspace.url}}");
    expect(issues[0]?.message).toContain('allowed: {{contact.first_name}}');
  });

  it('checks question texts, field values and consent explanations too', () => {
    expect(issuesOf(withStep(1, { text: 'Hi {{contact.nickname}}' }))[0]?.path).toBe('steps.1.text');
    expect(issuesOf(withStep(1, { retryText: 'Again, {{contact.nickname}}?' }))[0]?.path).toBe('steps.1.retryText');
    const phone = { questionType: 'phone', saveTo: 'phone' };
    expect(issuesOf(withStep(1, { ...phone, textWithoutDefaultCountry: '{{who}}?' }))[0]?.path).toBe('steps.1.textWithoutDefaultCountry');
    expect(issuesOf(withStep(1, { ...phone, retryTextWithoutDefaultCountry: '{{who}}?' }))[0]?.path).toBe('steps.1.retryTextWithoutDefaultCountry');
    expect(issuesOf(replaceStep(3, { id: 'thanks', type: 'update_field', field: 'note', value: '{{contact.fields.bad-name}}' }))[0]?.path).toBe('steps.3.value');
    const def = baseDefinition();
    def.steps.splice(3, 0, { id: 'record', type: 'record_consent', purpose: 'marketing', channel: 'sms', status: 'opted_out', explanation: 'By {{who}}' });
    expect(issuesOf(def)).toEqual([{ path: 'steps.3.explanation', message: expect.stringContaining('unknown variable {{who}}') }]);
  });

  it('refuses unbalanced braces', () => {
    const issues = issuesOf(withStep(3, { text: 'Hello {{contact.first_name' }));
    expect(issues).toEqual([{ path: 'steps.3.text', message: expect.stringContaining('unbalanced "{{"') }]);
  });

  it('splits a text into literal parts and variables with fallbacks', () => {
    const { parts, problems } = parseTextTemplate('Hi {{contact.first_name|there}}, see {{contact.fields.plan}}.');
    expect(problems).toEqual([]);
    expect(parts).toEqual([
      { kind: 'literal', text: 'Hi ' },
      { kind: 'variable', ref: { kind: 'fixed', name: 'contact.first_name' }, fallback: 'there' },
      { kind: 'literal', text: ', see ' },
      { kind: 'variable', ref: { kind: 'field', field: 'plan' }, fallback: '' },
      { kind: 'literal', text: '.' },
    ]);
  });
});

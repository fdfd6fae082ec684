import { describe, expect, it } from 'vitest';
import { ConsentryError } from '../../../src/core/errors.js';
import * as workflow from '../../../src/core/workflow/index.js';
import { parseWorkflowDefinition, type WorkflowDefinition, type WorkflowStep } from '../../../src/core/workflow/schema.js';
import { TEMPLATE_IDS, TEMPLATES, getTemplate, triggersMissingAdvisedSettings, waitingTriggers } from '../../../src/core/workflow/templates.js';
import { defaultSettings } from '../../../src/core/settings.js';

function step<T extends WorkflowStep['type']>(def: WorkflowDefinition, id: string, type: T): Extract<WorkflowStep, { type: T }> {
  const found = def.steps.find((s): s is Extract<WorkflowStep, { type: T }> => s.id === id && s.type === type);
  if (found === undefined) throw new Error(`${def.id} has no ${type} step '${id}'`);
  return found;
}

describe('shipped templates', () => {
  it('ships exactly the three templates, each under its own id', () => {
    expect([...TEMPLATES.keys()].sort()).toEqual(['request-consent-privacy', 'welcome-request-email', 'welcome-request-phone']);
    expect(TEMPLATE_IDS).toHaveLength(3);
    for (const [id, def] of TEMPLATES) {
      expect(def.id).toBe(id);
      expect(getTemplate(id)).toBe(def);
      expect(def.trigger).toBe('conversation_opened');
    }
  });

  it('parses each template again from its JSON form (the stored definitions are valid data)', () => {
    for (const def of TEMPLATES.values()) {
      expect(parseWorkflowDefinition(JSON.parse(JSON.stringify(def)))).toEqual(def);
    }
  });

  it('refuses an unknown template id with UNKNOWN_TEMPLATE, listing the known ones', () => {
    let caught: unknown;
    try {
      getTemplate('request-consent-marketing');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConsentryError);
    expect(caught instanceof ConsentryError && caught.code).toBe('UNKNOWN_TEMPLATE');
    expect(caught instanceof ConsentryError && caught.message).toContain('request-consent-privacy');
  });

  it('re-exports the public API from the index', () => {
    expect(typeof workflow.startRun).toBe('function');
    expect(typeof workflow.transition).toBe('function');
    expect(typeof workflow.cancelRun).toBe('function');
    expect(typeof workflow.isAwaitingAnswer).toBe('function');
    expect(typeof workflow.parseWorkflowDefinition).toBe('function');
    expect(workflow.getTemplate).toBe(getTemplate);
  });
});

describe('request-consent-privacy follows DESIGN §4', () => {
  const def = getTemplate('request-consent-privacy');

  it('first checks the Consent: Privacy tag and ends as skipped when it is there', () => {
    const first = def.steps[0];
    expect(first).toMatchObject({ type: 'branch', condition: { type: 'has_tag', tag: 'Consent: Privacy' } });
    if (first?.type !== 'branch') throw new Error('first step is not a branch');
    expect(step(def, first.then, 'end').outcome).toBe('skipped');
    expect(first.else).toBe('send_privacy_link');
    expect(step(def, 'send_privacy_link', 'send_message').text).toContain('{{workspace.privacy_policy_url}}');
  });

  it('asks with one AGREE & PROCEED option and a 5-minute timeout', () => {
    const ask = step(def, 'request_consent', 'ask_question');
    expect(ask.questionType).toBe('multiple_choice');
    expect(ask.options).toEqual([{ label: 'AGREE & PROCEED', buttonId: 'agree' }]);
    expect(ask.timeoutSeconds).toBe(300);
  });

  it('re-asks an invalid answer through a jump_to with maxJumps 3', () => {
    const ask = step(def, 'request_consent', 'ask_question');
    const jump = step(def, ask.branches.invalid, 'jump_to');
    expect(jump).toMatchObject({ target: 'request_consent', maxJumps: 3 });
  });

  it('ends each failure branch by closing the conversation with the failed outcome', () => {
    const ids = def.steps.map((s) => s.id);
    const ask = step(def, 'request_consent', 'ask_question');
    const jumpIndex = ids.indexOf(ask.branches.invalid);
    expect(def.steps.slice(jumpIndex + 1, jumpIndex + 4).map((s) => s.type)).toEqual(['send_message', 'close_conversation', 'end']);
    expect(def.steps[jumpIndex + 3]).toMatchObject({ outcome: 'failed_invalid', failure: { purpose: 'privacy', question: 'request_consent' } });
    const timeoutIndex = ids.indexOf(ask.branches.timeout);
    expect(def.steps.slice(timeoutIndex, timeoutIndex + 3).map((s) => s.type)).toEqual(['send_message', 'close_conversation', 'end']);
    expect(def.steps[timeoutIndex + 2]).toMatchObject({ outcome: 'failed_timeout', failure: { purpose: 'privacy', question: 'request_consent' } });
  });
});

describe('welcome templates never close the conversation', () => {
  for (const [id, field] of [
    ['welcome-request-email', 'email'],
    ['welcome-request-phone', 'phone'],
  ] as const) {
    it(`${id}: skips a known ${field}, re-asks up to 3 times, always continues`, () => {
      const def = getTemplate(id);
      expect(def.steps.some((s) => s.type === 'close_conversation')).toBe(false);
      const branch = def.steps.find((s) => s.type === 'branch');
      expect(branch).toMatchObject({ condition: { type: 'field_present', field } });
      const ask = def.steps.find((s): s is Extract<WorkflowStep, { type: 'ask_question' }> => s.type === 'ask_question');
      expect(ask).toMatchObject({ questionType: field, saveTo: field });
      if (ask === undefined || branch?.type !== 'branch') throw new Error('template shape');
      expect(branch.then).toBe(ask.branches.answered);
      // An unanswered question is told so rather than thanked for an answer, and the flow still ends done.
      expect(ask.branches.timeout).not.toBe(ask.branches.answered);
      expect(step(def, ask.branches.timeout, 'send_message')).toMatchObject({ text: expect.stringMatching(/^We did not get your /), next: 'end_done' });
      expect(step(def, ask.branches.invalid, 'jump_to')).toMatchObject({ target: ask.id, maxJumps: 3 });
      expect(def.steps.filter((s) => s.type === 'end').map((s) => (s.type === 'end' ? s.outcome : null))).toEqual(['done']);
    });
  }
});

describe('waitingTriggers', () => {
  const defaults = defaultSettings();

  it('names an enabled trigger whose workflow needs a setting the workspace lacks', () => {
    expect(waitingTriggers(defaults)).toEqual([{ trigger: 'conversation_opened', template: 'request-consent-privacy', missing: ['privacyPolicyUrl'] }]);
  });

  it('is empty once the setting is there, for disabled triggers and for workflows that need nothing', () => {
    expect(waitingTriggers({ ...defaults, privacyPolicyUrl: 'https://example.com/privacy' })).toEqual([]);
    expect(waitingTriggers({ ...defaults, triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: false }] })).toEqual([]);
    expect(waitingTriggers({ ...defaults, triggers: [{ trigger: 'tag_added', template: 'welcome-request-email', match: 'VIP', enabled: true }] })).toEqual([]);
  });
});

describe('triggersMissingAdvisedSettings', () => {
  const defaults = defaultSettings();
  const phoneOnOpening = { trigger: 'conversation_opened', template: 'welcome-request-phone', enabled: true } as const;
  const phoneOnTag = { trigger: 'tag_added', template: 'welcome-request-phone', match: 'VIP', enabled: true } as const;

  it('names defaultCountry for each enabled welcome-request-phone binding of a workspace without one, which still starts', () => {
    const settings = { ...defaults, privacyPolicyUrl: 'https://example.com/privacy', triggers: [phoneOnOpening, phoneOnTag] };
    expect(triggersMissingAdvisedSettings(settings)).toEqual([
      { trigger: 'conversation_opened', template: 'welcome-request-phone', advised: ['defaultCountry'] },
      { trigger: 'tag_added', template: 'welcome-request-phone', advised: ['defaultCountry'] },
    ]);
    expect(waitingTriggers(settings)).toEqual([]);
  });

  it('is empty with a default country, for a disabled binding and for templates that ask no phone number', () => {
    expect(triggersMissingAdvisedSettings({ ...defaults, defaultCountry: 'ES', triggers: [phoneOnOpening] })).toEqual([]);
    expect(triggersMissingAdvisedSettings({ ...defaults, triggers: [{ ...phoneOnOpening, enabled: false }] })).toEqual([]);
    expect(triggersMissingAdvisedSettings(defaults)).toEqual([]);
    expect(triggersMissingAdvisedSettings({ ...defaults, triggers: [{ trigger: 'conversation_opened', template: 'welcome-request-email', enabled: true }] })).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import { ERASED, eraseEveryString } from '../../../src/core/events.js';
import { redactRunState, redactStoredRunState } from '../../../src/core/workflow/redaction.js';
import { getTemplate } from '../../../src/core/workflow/templates.js';
import { parseRunState, startRun, transition, type RunState, type TransitionContext } from '../../../src/core/workflow/transition.js';

const T0 = new Date('2026-03-02T10:00:00.000Z');

function context(): TransitionContext {
  return {
    now: T0,
    contact: { name: 'Ana Test', firstName: 'Ana', email: null, phone: null, tags: [], fields: {} },
    workspace: { privacyPolicyUrl: 'https://example.com/privacy', defaultCountry: 'ES' },
    channel: 'whatsapp',
    runId: 'run_01',
  };
}

/** A welcome-request-email run the contact answered with their address, as the runtime leaves it. */
function answeredEmailRun(): RunState {
  const definition = getTemplate('welcome-request-email');
  const started = startRun(definition, context());
  const answered = transition(definition, started.state, { kind: 'message', messageId: 'wamid.2', text: ' Ana.Test@Example.com ', button: null }, context());
  return JSON.parse(JSON.stringify(answered.state));
}

function withAnswer(answer: RunState['lastAnswer']): RunState {
  return { ...answeredEmailRun(), lastAnswer: answer };
}

/** A run state as the runtime left it, with its shown texts already erased (or never kept). */
function withShownErased(state: RunState): RunState {
  return { ...state, shown: state.shown?.map(() => ERASED) };
}

describe('redactRunState', () => {
  it("erases the text and value of the last answer and the texts shown, and keeps the rest of the run's state", () => {
    const state = answeredEmailRun();
    expect(state.status).toBe('completed');
    expect(state.lastAnswer).toMatchObject({ text: ' Ana.Test@Example.com ', value: 'ana.test@example.com', button: null });
    expect(state.shown?.[0]).toBe('Hi Ana, welcome! Thanks for getting in touch.');
    const before = structuredClone(state);
    const redacted = redactRunState(state);
    expect(redacted).toEqual({
      ...state,
      lastAnswer: { stepId: 'request_email', messageId: 'wamid.2', text: ERASED, button: null, value: ERASED },
      shown: [ERASED, ERASED, ERASED],
    });
    expect(JSON.stringify(redacted)).not.toMatch(/ana\.test/i);
    expect(JSON.stringify(redacted)).not.toContain('Ana');
    expect(state).toEqual(before);
    expect(parseRunState(JSON.parse(JSON.stringify(redacted)))).toEqual(redacted);
  });

  it('keeps the button id, which names one of the workflow options, and a missing text', () => {
    const state = withAnswer({ stepId: 'ask_privacy', messageId: 'wamid.3', text: null, button: 'privacy_agree', value: 'AGREE & PROCEED' });
    expect(redactRunState(state).lastAnswer).toEqual({ stepId: 'ask_privacy', messageId: 'wamid.3', text: null, button: 'privacy_agree', value: ERASED });
  });

  it('returns the state itself when there is nothing left to redact', () => {
    const none = withShownErased(withAnswer(null));
    expect(redactRunState(none)).toBe(none);
    const absent = withShownErased(answeredEmailRun());
    delete absent.lastAnswer;
    expect(redactRunState(absent)).toBe(absent);
    const stored = withAnswer(null);
    delete stored.shown;
    expect(redactRunState(stored)).toBe(stored);
    const once = redactRunState(answeredEmailRun());
    expect(redactRunState(once)).toBe(once);
  });
});

describe('redactStoredRunState', () => {
  it('reads a stored state with the run-state schema and answers its redaction, or null when there is none to do', () => {
    const stored: unknown = JSON.parse(JSON.stringify(answeredEmailRun()));
    const redacted = redactStoredRunState(stored);
    expect(redacted).not.toBeNull();
    expect(parseRunState(redacted?.state).lastAnswer).toMatchObject({ text: ERASED, value: ERASED, messageId: 'wamid.2' });
    expect(redactStoredRunState(redacted?.state)).toBeNull();
    expect(redactStoredRunState(JSON.parse(JSON.stringify(withShownErased(withAnswer(null)))))).toBeNull();
  });

  it('erases every string of a state the runtime cannot read, keeping member names', () => {
    const unreadable = { step: 'ask', answers: { email: 'ana.test@example.com', tries: 2 }, seen: ['Ana', null, true] };
    expect(redactStoredRunState(unreadable)).toEqual({
      state: { step: ERASED, answers: { email: ERASED, tries: 2 }, seen: [ERASED, null, true] },
    });
    expect(unreadable.answers.email).toBe('ana.test@example.com');
    expect(redactStoredRunState({ garbage: true, tries: [1, 2] })).toBeNull();
  });
});

describe('eraseEveryString', () => {
  it('returns the value itself when it holds no string left to erase', () => {
    const value = { a: [1, { b: ERASED }], c: null };
    expect(eraseEveryString(value)).toBe(value);
    expect(eraseEveryString('Ana')).toBe(ERASED);
    expect(eraseEveryString(7)).toBe(7);
  });
});

/**
 * Erasure (GDPR Art. 17) of what a workflow run keeps of the person until the run's row is gone:
 * the last answer a question accepted, which quotes them (an email, a phone, free text), and the
 * texts the run showed them, rendered with their name and fields.
 */
import { ERASED, redactStored } from '../events.js';
import { RunStateSchema, type RunState } from './transition.js';

/**
 * A run state with the last accepted answer's text and value, and every text it showed, replaced
 * by ERASED. The step, message id and button id stay: they name the workflow's own step and
 * options, not the person's words; so does the number of texts shown. Returns `state` itself
 * when nothing is left to redact, so a caller writes only the runs that change.
 */
export function redactRunState(state: RunState): RunState {
  const lastAnswer = redactAnswer(state.lastAnswer);
  const shown = redactTexts(state.shown);
  if (lastAnswer === state.lastAnswer && shown === state.shown) return state;
  const redacted: RunState = { ...state };
  if (lastAnswer !== undefined) redacted.lastAnswer = lastAnswer;
  if (shown !== undefined) redacted.shown = shown;
  return redacted;
}

function redactAnswer(answer: RunState['lastAnswer']): RunState['lastAnswer'] {
  if (answer === undefined || answer === null) return answer;
  const text = answer.text === null ? null : ERASED;
  if (text === answer.text && answer.value === ERASED) return answer;
  return { ...answer, text, value: ERASED };
}

function redactTexts(texts: RunState['shown']): RunState['shown'] {
  if (texts === undefined || texts.every((text) => text === ERASED)) return texts;
  return texts.map(() => ERASED);
}

/**
 * A stored run state, redacted; null when nothing is left to redact. A state RunStateSchema
 * cannot read (an abandoned run: another shape, or damaged) has every string replaced.
 */
export function redactStoredRunState(stored: unknown): { state: unknown } | null {
  const redacted = redactStored(RunStateSchema, redactRunState, stored);
  return redacted && { state: redacted.value };
}

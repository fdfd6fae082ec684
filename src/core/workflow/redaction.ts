/**
 * Erasure (GDPR Art. 17) of what a workflow run keeps of the person: the last answer a question
 * accepted, which quotes them (an email, a phone, free text) until the run's row is gone.
 */
import { ERASED, redactStored } from '../events.js';
import { RunStateSchema, type RunState } from './transition.js';

/**
 * A run state with the last accepted answer's text and value replaced by ERASED. The step,
 * message id and button id stay: they name the workflow's own step and options, not the
 * person's words. Returns `state` itself when nothing is left to redact, so a caller writes
 * only the runs that change.
 */
export function redactRunState(state: RunState): RunState {
  const answer = state.lastAnswer;
  if (answer === undefined || answer === null) return state;
  const text = answer.text === null ? null : ERASED;
  if (text === answer.text && answer.value === ERASED) return state;
  return { ...state, lastAnswer: { ...answer, text, value: ERASED } };
}

/**
 * A stored run state, redacted; null when nothing is left to redact. A state RunStateSchema
 * cannot read (an abandoned run: another shape, or damaged) has every string replaced.
 */
export function redactStoredRunState(stored: unknown): { state: unknown } | null {
  const redacted = redactStored(RunStateSchema, redactRunState, stored);
  return redacted && { state: redacted.value };
}

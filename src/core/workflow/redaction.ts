/**
 * Erasure (GDPR Art. 17) of what a workflow run keeps of the person: the last answer a question
 * accepted, which quotes them (an email, a phone, free text) until the run's row is gone.
 */
import { ERASED } from '../events.js';
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
 * cannot read (an abandoned run: another shape, or damaged) has every string replaced, since the
 * person's words cannot be told apart from the runtime's there; its member names stay.
 */
export function redactStoredRunState(stored: unknown): { state: unknown } | null {
  const parsed = RunStateSchema.safeParse(stored);
  if (parsed.success) {
    const redacted = redactRunState(parsed.data);
    return redacted === parsed.data ? null : { state: redacted };
  }
  const erased = eraseEveryString(stored);
  return erased === stored ? null : { state: erased };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * A JSON value with every string in it replaced by ERASED, for stored data whose shape is not
 * known any more. Returns `value` itself when it holds no string that is not ERASED already.
 */
export function eraseEveryString(value: unknown): unknown {
  if (typeof value === 'string') return value === ERASED ? value : ERASED;
  if (Array.isArray(value)) {
    const items: readonly unknown[] = value;
    const erased = items.map(eraseEveryString);
    return erased.some((item, index) => item !== items[index]) ? erased : value;
  }
  if (isPlainObject(value)) {
    const entries = Object.entries(value);
    const erased = entries.map(([key, member]): [string, unknown] => [key, eraseEveryString(member)]);
    return erased.some(([, member], index) => member !== entries[index]?.[1]) ? Object.fromEntries(erased) : value;
  }
  return value;
}

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EVIDENCE_SHOWN_LIMITS, EvidenceSchema, type Evidence } from '../../../src/core/consent.js';
import { ERASED } from '../../../src/core/events.js';
import { validateDecision } from '../../../src/core/ledger.js';
import { redactRunState, redactStoredRunState } from '../../../src/core/workflow/redaction.js';
import { parseWorkflowDefinition, type WorkflowDefinition } from '../../../src/core/workflow/schema.js';
import { boundShown, rememberShown, shownDigest, shownText } from '../../../src/core/workflow/shown.js';
import { getTemplate } from '../../../src/core/workflow/templates.js';
import {
  parseRunState,
  RunStateSchema,
  startRun,
  transition,
  type Effect,
  type RunState,
  type TransitionContext,
  type WorkflowContact,
} from '../../../src/core/workflow/transition.js';

const T0 = new Date('2026-03-02T10:00:00.000Z');
const POLICY_URL = 'https://example.com/privacy';
const QUESTION = 'Do you agree to our privacy policy? Select AGREE & PROCEED to continue.';
const CONFIRMATION = "Thank you! You have agreed to our privacy policy. Let's continue with your conversation.";

/** The documented canonical form: SHA-256 hex of the UTF-8 bytes of the texts as a JSON array. */
const canonicalDigest = (texts: readonly string[]) => createHash('sha256').update(JSON.stringify(texts), 'utf8').digest('hex');

interface Setup {
  contact?: Partial<WorkflowContact>;
  policyUrl?: string;
  runId?: string;
}

function context({ contact = {}, policyUrl = POLICY_URL, runId = 'run_01' }: Setup = {}, at: Date = T0): TransitionContext {
  return {
    now: at,
    contact: { name: 'Ana Test', firstName: 'Ana', email: null, phone: null, tags: [], fields: {}, ...contact },
    workspace: { privacyPolicyUrl: policyUrl, defaultCountry: 'ES' },
    channel: 'whatsapp',
    runId,
  };
}

/** What the engine keeps between inputs: the state as JSON, read back. */
const stored = (state: RunState): unknown => JSON.parse(JSON.stringify(state));

function recordedEvidence(effects: readonly Effect[]): Evidence {
  const record = effects.find((effect) => effect.type === 'record_consent');
  if (record?.type !== 'record_consent') throw new Error('no consent was recorded');
  return record.evidence;
}

/** Runs the privacy template for one contact: every reply before the last is an invalid answer, the last one the button. */
function privacyConsent(setup: Setup, invalidReplies: readonly string[] = []): { evidence: Evidence; state: RunState } {
  const definition = getTemplate('request-consent-privacy');
  let state = parseRunState(stored(startRun(definition, context(setup)).state));
  let seq = 0;
  for (const text of invalidReplies) {
    seq += 1;
    state = parseRunState(stored(transition(definition, state, { kind: 'message', messageId: `msg_${seq}`, text, button: null }, context(setup)).state));
  }
  const answered = transition(definition, state, { kind: 'message', messageId: `msg_${seq + 1}`, text: null, button: 'agree' }, context(setup, new Date(T0.getTime() + 60_000)));
  return { evidence: recordedEvidence(answered.effects), state: answered.state };
}

describe('evidence of a consent given through request-consent-privacy', () => {
  it('holds the texts shown, rendered for the contact, and the digest of their canonical form', () => {
    const { evidence } = privacyConsent({});
    expect(evidence.shown).toEqual([`Hi Ana! Before we continue, please read our privacy policy: ${POLICY_URL}`, `${QUESTION}\n[AGREE & PROCEED]`, CONFIRMATION]);
    expect(evidence.policyDigest).toMatch(/^[0-9a-f]{64}$/);
    expect(evidence.policyDigest).toBe(canonicalDigest(evidence.shown ?? []));
    expect(evidence).toMatchObject({ policyUrl: POLICY_URL, button: 'agree', workflowId: 'request-consent-privacy', runId: 'run_01' });
    expect(EvidenceSchema.parse(evidence)).toEqual(evidence);
  });

  it('gives the same digest to consents given under the same wording, and another when the wording differs', () => {
    const ana = privacyConsent({ runId: 'run_01' });
    const otherAna = privacyConsent({ contact: { name: 'Ana Other', phone: '+34600000002' }, runId: 'run_02' }, ['what?', 'no']);
    expect(otherAna.evidence.runId).toBe('run_02');
    expect(otherAna.evidence.shown).toEqual(ana.evidence.shown);
    expect(otherAna.evidence.policyDigest).toBe(ana.evidence.policyDigest);

    const otherPolicy = privacyConsent({ policyUrl: 'https://example.com/privacy-v2' });
    expect(otherPolicy.evidence.shown?.[0]).toContain('https://example.com/privacy-v2');
    expect(otherPolicy.evidence.policyDigest).not.toBe(ana.evidence.policyDigest);

    const bea = privacyConsent({ contact: { name: 'Bea Test', firstName: 'Bea' } });
    expect(bea.evidence.shown?.[0]).toMatch(/^Hi Bea! /);
    expect(bea.evidence.policyDigest).not.toBe(ana.evidence.policyDigest);
  });

  it('keeps a question asked again once, so re-asks neither grow the run state nor repeat in the evidence', () => {
    const { evidence, state } = privacyConsent({}, ['no', 'no', 'no']);
    expect(state.timesAsked).toEqual({ request_consent: 4 });
    expect(evidence.shown?.filter((text) => text.startsWith(QUESTION))).toHaveLength(1);
    expect(state.shown).toEqual(evidence.shown);
  });
});

describe('a run stored before shown texts were kept', () => {
  function legacyWaitingState(): Omit<RunState, 'shown'> {
    const { shown, ...legacy } = startRun(getTemplate('request-consent-privacy'), context()).state;
    expect(shown).toHaveLength(2);
    return structuredClone(legacy);
  }

  it('is read by the plain reader and the schema alike, without the new member', () => {
    const legacy = legacyWaitingState();
    expect(Object.hasOwn(legacy, 'shown')).toBe(false);
    const parsed = parseRunState(legacy);
    expect(parsed).toEqual(RunStateSchema.parse(legacy));
    expect(parsed.shown).toBeUndefined();
    expect(parsed.waiting).toMatchObject({ kind: 'answer', stepId: 'request_consent' });
  });

  it('completes and records the consent without texts it never kept', () => {
    const definition = getTemplate('request-consent-privacy');
    const result = transition(definition, parseRunState(legacyWaitingState()), { kind: 'message', messageId: 'msg_1', text: null, button: 'agree' }, context());
    expect(result.state).toMatchObject({ status: 'completed', outcome: 'given' });
    expect(result.state.shown).toBeUndefined();
    const evidence = recordedEvidence(result.effects);
    expect(evidence).toEqual({ policyUrl: POLICY_URL, messageId: 'msg_1', button: 'agree', workflowId: 'request-consent-privacy', runId: 'run_01' });
    expect(result.effects.filter((effect) => effect.type === 'send_message').map((effect) => effect.type === 'send_message' && effect.text)).toEqual([CONFIRMATION]);
  });

  it('is left as it is by erasure when it has no answer to redact', () => {
    const legacy = parseRunState(legacyWaitingState());
    expect(redactRunState(legacy)).toBe(legacy);
    expect(redactStoredRunState(legacyWaitingState())).toBeNull();
  });

  it('refuses a shown member that is not a list of texts, through the schema', () => {
    expect(() => parseRunState({ ...legacyWaitingState(), shown: ['Hi Ana', 7] })).toThrow();
    expect(() => parseRunState({ ...legacyWaitingState(), shown: 'Hi Ana' })).toThrow();
  });
});

describe('the bound on shown texts', () => {
  /** A workflow sending `count` distinct texts, each ending in the contact's field `pad`, then recording a consent. */
  function chatty(count: number): WorkflowDefinition {
    const sends = Array.from({ length: count }, (_, i) => ({ id: `say_${i + 1}`, type: 'send_message', text: `Message ${i + 1} {{contact.fields.pad}}` }));
    return parseWorkflowDefinition({
      id: 'chatty',
      name: 'Chatty',
      trigger: 'manual',
      steps: [...sends, { id: 'record', type: 'record_consent', purpose: 'marketing', channel: 'current', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Agreed' }],
    });
  }

  const limits = EVIDENCE_SHOWN_LIMITS;

  it('keeps the last texts sent, at most EVIDENCE_SHOWN_LIMITS.texts of them', () => {
    const result = startRun(chatty(limits.texts + 5), context({ contact: { fields: { pad: 'x' } } }));
    const expected = Array.from({ length: limits.texts }, (_, i) => `Message ${i + 6} x`);
    expect(result.state.shown).toEqual(expected);
    const evidence = recordedEvidence(result.effects);
    expect(evidence.shown).toEqual(expected);
    expect(evidence.policyDigest).toBe(canonicalDigest(expected));
    expect(validateDecision({ contactId: 'ct_ana', purpose: 'marketing', channel: 'whatsapp', status: 'opted_in', source: 'workflow', actor: { kind: 'contact', id: 'ct_ana' }, evidence }).evidence).toEqual(evidence);
  });

  it('cuts a long text and keeps at most EVIDENCE_SHOWN_LIMITS.totalLength characters in all', () => {
    const pad = 'y'.repeat(2000);
    const long = parseWorkflowDefinition({
      id: 'long',
      name: 'Long',
      trigger: 'manual',
      steps: [
        ...Array.from({ length: 6 }, (_, i) => ({ id: `say_${i + 1}`, type: 'send_message', text: `${i + 1} {{contact.fields.pad}} {{contact.fields.pad}} {{contact.fields.pad}}` })),
        { id: 'record', type: 'record_consent', purpose: 'marketing', channel: 'current', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Agreed' },
      ],
    });
    const result = startRun(long, context({ contact: { fields: { pad } } }));
    const sent = result.effects.flatMap((effect) => (effect.type === 'send_message' ? [effect.text] : []));
    expect(sent[0]?.length).toBeGreaterThan(limits.textLength);
    const evidence = recordedEvidence(result.effects);
    const kept = sent.slice(-Math.floor(limits.totalLength / limits.textLength)).map((text) => text.slice(0, limits.textLength));
    expect(evidence.shown).toEqual(kept);
    expect((evidence.shown ?? []).reduce((sum, text) => sum + text.length, 0)).toBeLessThanOrEqual(limits.totalLength);
    expect(EvidenceSchema.safeParse(evidence).success).toBe(true);
  });

  it('moves a text sent again to the end instead of keeping it twice', () => {
    expect(rememberShown(['a', 'b', 'c'], 'a')).toEqual(['b', 'c', 'a']);
    expect(rememberShown([], 'a')).toEqual(['a']);
  });

  it('bounds a list read back from storage that is longer than the limits', () => {
    const many = Array.from({ length: limits.texts + 3 }, (_, i) => `text ${i}`);
    expect(boundShown(many)).toEqual(many.slice(3));
    const huge = ['z'.repeat(limits.textLength + 10)];
    expect(boundShown(huge)).toEqual(['z'.repeat(limits.textLength)]);
  });

  it('writes an emoji the length limit cuts in two, or one sent cut, as U+FFFD', () => {
    const cutByLimit = `${'z'.repeat(limits.textLength - 1)}😀`;
    expect(rememberShown([], cutByLimit)).toEqual([`${'z'.repeat(limits.textLength - 1)}\ufffd`]);
    expect(boundShown(['Hi \ud83d, agree?'])).toEqual(['Hi \ufffd, agree?']);
    expect(shownDigest(rememberShown([], 'Hi \ud83d'))).toBe(shownDigest(['Hi \ufffd']));
  });

  it('writes a question with its option labels, not its button ids', () => {
    expect(shownText('Pick one', [{ label: 'YES' }, { label: 'NO' }])).toBe('Pick one\n[YES]\n[NO]');
    expect(shownText('Your email?')).toBe('Your email?');
    expect(shownDigest(['Pick one\n[YES]'])).toBe(canonicalDigest(['Pick one\n[YES]']));
  });

  it('records a consent without shown texts when the run sent none', () => {
    const def = parseWorkflowDefinition({
      id: 'quiet',
      name: 'Quiet',
      trigger: 'manual',
      steps: [{ id: 'record', type: 'record_consent', purpose: 'marketing', channel: 'current', status: 'opted_out', explanation: 'Withdrawn' }],
    });
    const evidence = recordedEvidence(startRun(def, context()).effects);
    expect(evidence.shown).toBeUndefined();
    expect(evidence.policyDigest).toBeUndefined();
  });
});

describe('erasure of shown texts', () => {
  it("replaces each text shown with ERASED, so the contact's name is gone from the run", () => {
    const { state } = privacyConsent({});
    expect(JSON.stringify(state)).toContain('Hi Ana!');
    const redacted = redactRunState(parseRunState(stored(state)));
    expect(redacted.shown).toEqual([ERASED, ERASED, ERASED]);
    expect(JSON.stringify(redacted)).not.toContain('Ana');
    expect(redactRunState(redacted)).toBe(redacted);
    expect(redactStoredRunState(stored(redacted))).toBeNull();
  });
});

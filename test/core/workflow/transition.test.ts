import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { MessagingChannel } from '../../../src/core/consent.js';
import { ConsentryError } from '../../../src/core/errors.js';
import { parseWorkflowDefinition, type WorkflowDefinition } from '../../../src/core/workflow/schema.js';
import { getTemplate } from '../../../src/core/workflow/templates.js';
import {
  advisedWorkspaceSettings,
  cancelRun,
  initialRunState,
  isAwaitingAnswer,
  missingWorkspaceSettings,
  readAnswer,
  RunStateSchema,
  startRun,
  transition,
  type Effect,
  type RunState,
  type TransitionContext,
  type TransitionResult,
  type WorkflowContact,
  type WorkflowInput,
} from '../../../src/core/workflow/transition.js';
import { FakeClock } from '../../../src/ports/clock.js';

const POLICY_URL = 'https://example.com/privacy';
const T0 = '2026-03-02T10:00:00.000Z';
const FIVE_MINUTES_MS = 5 * 60 * 1000;

interface Contact {
  name: string | null;
  firstName: string | null;
  email: string | null;
  phone: string | null;
  tags: string[];
  fields: Record<string, string>;
}

/**
 * Plays the engine's part: feeds inputs with a hand-moved clock, keeps the contact up to date
 * with the effects (as the engine would between inputs) and checks every result survives JSON.
 */
class Harness {
  readonly clock = new FakeClock(T0);
  state: RunState;
  readonly contact: Contact;
  readonly log: Effect[] = [];
  private messageSeq = 0;

  constructor(
    readonly def: WorkflowDefinition,
    contact: Partial<Contact> = {},
    readonly workspace: TransitionContext['workspace'] = { privacyPolicyUrl: POLICY_URL, defaultCountry: 'ES' },
    readonly channel: MessagingChannel = 'whatsapp',
  ) {
    this.contact = { name: 'Ana Test', firstName: 'Ana', email: null, phone: null, tags: [], fields: {}, ...contact };
    this.state = initialRunState(def);
  }

  ctx(): TransitionContext {
    const contact: WorkflowContact = { ...this.contact, tags: [...this.contact.tags], fields: { ...this.contact.fields } };
    return { now: this.clock.now(), contact, workspace: this.workspace, channel: this.channel, runId: 'run_01' };
  }

  start(): Effect[] {
    return this.apply(startRun(this.def, this.ctx()));
  }

  input(input: WorkflowInput): Effect[] {
    return this.apply(transition(this.def, this.state, input, this.ctx()));
  }

  reply(text: string | null, button: string | null = null): Effect[] {
    this.messageSeq += 1;
    return this.input({ kind: 'message', messageId: `msg_${this.messageSeq}`, text, button });
  }

  /** Fires the timer the run is waiting on. */
  fireCurrentTimer(): Effect[] {
    const waiting = this.state.waiting;
    if (waiting === null) throw new Error('the run is not waiting');
    this.clock.set(waiting.dueAt);
    return this.input({ kind: 'timer', token: waiting.token });
  }

  advanceSeconds(seconds: number): void {
    this.clock.advance(seconds * 1000);
  }

  private apply(result: TransitionResult): Effect[] {
    // The engine stores both as JSON: nothing may be lost on the way.
    expect(JSON.parse(JSON.stringify(result.effects))).toEqual(result.effects);
    expect(JSON.parse(JSON.stringify(result.state))).toEqual(result.state);
    this.state = RunStateSchema.parse(JSON.parse(JSON.stringify(result.state)));
    for (const effect of result.effects) {
      if (effect.type === 'add_tag' && !this.contact.tags.includes(effect.tag)) this.contact.tags.push(effect.tag);
      if (effect.type === 'remove_tag') this.contact.tags = this.contact.tags.filter((t) => t !== effect.tag);
      if (effect.type === 'update_field') {
        if (effect.field === 'email') this.contact.email = effect.value;
        else if (effect.field === 'phone') this.contact.phone = effect.value;
        else this.contact.fields[effect.field] = effect.value;
      }
    }
    this.log.push(...result.effects);
    return result.effects;
  }
}

const privacy = () => getTemplate('request-consent-privacy');
const CONSENT_QUESTION = 'Do you agree to our privacy policy? Select AGREE & PROCEED to continue.';
/** What the privacy template shows Ana before it records her consent, as evidence `shown` spells it. */
const PRIVACY_SHOWN = [
  `Hi Ana! Before we continue, please read our privacy policy: ${POLICY_URL}`,
  `${CONSENT_QUESTION}\n[AGREE & PROCEED]`,
  "Thank you! You have agreed to our privacy policy. Let's continue with your conversation.",
];
const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const questionSends = (effects: readonly Effect[], text: string) => effects.filter((e) => e.type === 'send_message' && e.text === text).length;
const types = (effects: readonly Effect[]) => effects.map((e) => e.type);
const sentTexts = (effects: readonly Effect[]) => effects.flatMap((e) => (e.type === 'send_message' ? [e.text] : []));
const plusMs = (iso: string, ms: number) => new Date(new Date(iso).getTime() + ms).toISOString();

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

describe('request-consent-privacy', () => {
  it('sends the policy link and the question, with a timer due 5 minutes later', () => {
    const h = new Harness(privacy());
    const effects = h.start();
    expect(effects).toEqual([
      { type: 'send_message', text: `Hi Ana! Before we continue, please read our privacy policy: ${POLICY_URL}` },
      { type: 'send_message', text: CONSENT_QUESTION, options: [{ label: 'AGREE & PROCEED', buttonId: 'agree' }] },
      { type: 'set_timer', token: 'run_01:1', dueAt: plusMs(T0, FIVE_MINUTES_MS) },
    ]);
    expect(h.state).toMatchObject({ status: 'active', cursor: 'request_consent', outcome: null, timesAsked: { request_consent: 1 } });
    expect(h.state.waiting).toEqual({ kind: 'answer', stepId: 'request_consent', token: 'run_01:1', dueAt: plusMs(T0, FIVE_MINUTES_MS) });
    expect(isAwaitingAnswer(h.state)).toBe(true);
  });

  it('records consent when the button is pressed the first time', () => {
    const h = new Harness(privacy());
    h.start();
    h.advanceSeconds(30);
    const effects = h.reply('AGREE & PROCEED', 'agree');
    expect(effects).toEqual([
      { type: 'send_message', text: "Thank you! You have agreed to our privacy policy. Let's continue with your conversation." },
      { type: 'add_tag', tag: 'Consent: Privacy' },
      {
        type: 'record_consent',
        purpose: 'privacy',
        channel: 'whatsapp',
        status: 'opted_in',
        legalBasis: 'CONSENT_WITH_NOTICE',
        explanation: `Agreed to the privacy policy ${POLICY_URL} by answering 'AGREE & PROCEED' on whatsapp`,
        evidence: {
          policyUrl: POLICY_URL,
          messageId: 'msg_1',
          rawText: 'AGREE & PROCEED',
          normalizedText: 'AGREE & PROCEED',
          button: 'agree',
          workflowId: 'request-consent-privacy',
          runId: 'run_01',
          shown: PRIVACY_SHOWN,
          policyDigest: sha256Hex(JSON.stringify(PRIVACY_SHOWN)),
        },
      },
      { type: 'clear_timer' },
    ]);
    expect(h.state).toMatchObject({ status: 'completed', cursor: null, waiting: null, outcome: 'given' });
    expect(isAwaitingAnswer(h.state)).toBe(false);
  });

  it('accepts the label typed with other case and punctuation', () => {
    const h = new Harness(privacy(), {}, undefined, 'sms');
    h.start();
    const effects = h.reply('agree & proceed!');
    const record = effects.find((e) => e.type === 'record_consent');
    expect(record).toMatchObject({
      channel: 'sms',
      explanation: `Agreed to the privacy policy ${POLICY_URL} by answering 'AGREE & PROCEED' on sms`,
      evidence: { rawText: 'agree & proceed!', messageId: 'msg_1' },
    });
    expect(record?.type === 'record_consent' && 'button' in record.evidence).toBe(false);
    expect(h.state.outcome).toBe('given');
  });

  it('accepts a button that carries the option title instead of its id', () => {
    const h = new Harness(privacy());
    h.start();
    h.reply(null, 'Agree & Proceed');
    expect(h.state.outcome).toBe('given');
  });

  it('re-asks after one invalid answer, then records the consent', () => {
    const h = new Harness(privacy());
    h.start();
    const reask = h.reply('what is this?');
    expect(reask).toEqual([
      { type: 'send_message', text: CONSENT_QUESTION, options: [{ label: 'AGREE & PROCEED', buttonId: 'agree' }] },
      { type: 'set_timer', token: 'run_01:2', dueAt: plusMs(T0, FIVE_MINUTES_MS) },
    ]);
    expect(h.state.jumpsUsed).toEqual({ jump_to_request_consent: 1 });
    h.reply(null, 'agree');
    expect(h.state.outcome).toBe('given');
    expect(questionSends(h.log, CONSENT_QUESTION)).toBe(2);
    expect(h.log.filter((e) => e.type === 'record_consent')).toHaveLength(1);
  });

  it('accepts on the 4th ask after three invalid answers', () => {
    const h = new Harness(privacy());
    h.start();
    for (const text of ['no', 'maybe', 'later']) h.reply(text);
    expect(h.state.timesAsked).toEqual({ request_consent: 4 });
    h.reply('AGREE & PROCEED');
    expect(h.state.outcome).toBe('given');
    expect(questionSends(h.log, CONSENT_QUESTION)).toBe(4);
    expect(h.log.some((e) => e.type === 'close_conversation' || e.type === 'consent_failed')).toBe(false);
  });

  it('fails after the 4th invalid answer: 4 sends in all, attempts 4, conversation closed', () => {
    const h = new Harness(privacy());
    h.start();
    for (const text of ['no', 'maybe', 'later']) h.reply(text);
    const last = h.reply('nope');
    expect(last).toEqual([
      {
        type: 'send_message',
        text: 'Sorry, we could not receive your consent to our privacy policy, so we are closing this conversation. You can send us a message again at any time to chat.',
      },
      { type: 'close_conversation' },
      { type: 'consent_failed', purpose: 'privacy', reason: 'invalid', attempts: 4 },
      { type: 'clear_timer' },
    ]);
    expect(questionSends(h.log, CONSENT_QUESTION)).toBe(4);
    expect(h.state).toMatchObject({ status: 'completed', outcome: 'failed_invalid', cursor: null, waiting: null });
    expect(h.log.some((e) => e.type === 'record_consent' || e.type === 'add_tag')).toBe(false);
  });

  it('times out after a re-ask: the first send\'s token is stale, attempts 2', () => {
    const h = new Harness(privacy());
    h.start();
    const firstToken = h.state.waiting?.token ?? '';
    h.advanceSeconds(120);
    h.reply('hello?');
    const secondToken = h.state.waiting?.token ?? '';
    expect(secondToken).not.toBe(firstToken);

    h.advanceSeconds(180);
    const before = h.state;
    expect(h.input({ kind: 'timer', token: firstToken })).toEqual([]);
    expect(h.state).toEqual(before);

    const effects = h.fireCurrentTimer();
    expect(effects).toEqual([
      {
        type: 'send_message',
        text: 'We did not receive your consent to our privacy policy in time, so we are closing this conversation. You can send us a message again at any time to chat.',
      },
      { type: 'close_conversation' },
      { type: 'consent_failed', purpose: 'privacy', reason: 'timeout', attempts: 2 },
      { type: 'clear_timer' },
    ]);
    expect(h.state.outcome).toBe('failed_timeout');
  });

  it('times out after the first ask with attempts 1', () => {
    const h = new Harness(privacy());
    h.start();
    const effects = h.fireCurrentTimer();
    expect(effects).toContainEqual({ type: 'consent_failed', purpose: 'privacy', reason: 'timeout', attempts: 1 });
    expect(h.state.outcome).toBe('failed_timeout');
  });

  it.each([['Consent: Privacy'], ['consent: privacy'], [' CONSENT:  PRIVACY ']])('ends at once, with no message, when the contact already has the tag, written %j', (tag) => {
    const h = new Harness(privacy(), { tags: ['VIP', tag] });
    const effects = h.start();
    expect(effects).toEqual([]);
    expect(h.state).toMatchObject({ status: 'completed', outcome: 'skipped', cursor: null, waiting: null, tokenSeq: 0 });
  });

  it('restarts the timeout with each send: a new token due 5 minutes after that send', () => {
    const h = new Harness(privacy());
    const timers: { token: string; dueAt: string }[] = [];
    const collect = (effects: Effect[]) => {
      for (const e of effects) if (e.type === 'set_timer') timers.push({ token: e.token, dueAt: e.dueAt });
    };
    collect(h.start());
    h.advanceSeconds(60);
    collect(h.reply('no'));
    h.advanceSeconds(250);
    collect(h.reply('no'));
    h.advanceSeconds(299);
    collect(h.reply('no'));
    expect(timers).toEqual([
      { token: 'run_01:1', dueAt: plusMs(T0, FIVE_MINUTES_MS) },
      { token: 'run_01:2', dueAt: plusMs(T0, 60_000 + FIVE_MINUTES_MS) },
      { token: 'run_01:3', dueAt: plusMs(T0, 310_000 + FIVE_MINUTES_MS) },
      { token: 'run_01:4', dueAt: plusMs(T0, 609_000 + FIVE_MINUTES_MS) },
    ]);
    expect(h.state.waiting?.dueAt).toBe(plusMs(T0, 609_000 + FIVE_MINUTES_MS));
  });

  it('ignores any input once the run has finished', () => {
    const h = new Harness(privacy());
    h.start();
    h.reply(null, 'agree');
    const finished = h.state;
    expect(h.reply('AGREE & PROCEED', 'agree')).toEqual([]);
    expect(h.input({ kind: 'timer', token: 'run_01:1' })).toEqual([]);
    expect(h.input({ kind: 'start' })).toEqual([]);
    expect(h.state).toEqual(finished);
  });

  it('does not run again when started twice', () => {
    const h = new Harness(privacy());
    h.start();
    const waiting = h.state;
    expect(h.input({ kind: 'start' })).toEqual([]);
    expect(h.state).toEqual(waiting);
  });

  it('never changes the state it is given', () => {
    const def = privacy();
    const h = new Harness(def);
    h.start();
    const frozen = deepFreeze(RunStateSchema.parse(JSON.parse(JSON.stringify(h.state))));
    const result = transition(def, frozen, { kind: 'message', messageId: 'm', text: 'no', button: null }, h.ctx());
    expect(result.state).not.toBe(frozen);
    expect(result.state.timesAsked.request_consent).toBe(2);
    expect(frozen.timesAsked.request_consent).toBe(1);
  });

  it('is cancelled from outside (opt-out) with its timer cleared, and then ignores input', () => {
    const h = new Harness(privacy());
    h.start();
    const cancelled = cancelRun(h.state, 'opted_out');
    expect(cancelled.effects).toEqual([{ type: 'clear_timer' }]);
    expect(cancelled.state).toMatchObject({ status: 'cancelled', outcome: 'opted_out', cursor: null, waiting: null });
    expect(isAwaitingAnswer(cancelled.state)).toBe(false);
    expect(transition(h.def, cancelled.state, { kind: 'message', messageId: 'm', text: 'AGREE & PROCEED', button: null }, h.ctx()).effects).toEqual([]);
    expect(cancelRun(cancelled.state, 'cancelled')).toEqual({ state: cancelled.state, effects: [] });
    expect(cancelRun(h.state, 'cancelled').state.outcome).toBe('cancelled');
  });

  it('says the privacy policy URL is needed when the workspace has none', () => {
    expect(missingWorkspaceSettings(privacy(), { privacyPolicyUrl: null, defaultCountry: null })).toEqual(['privacyPolicyUrl']);
    expect(missingWorkspaceSettings(privacy(), { privacyPolicyUrl: POLICY_URL, defaultCountry: null })).toEqual([]);
    expect(missingWorkspaceSettings(getTemplate('welcome-request-email'), { privacyPolicyUrl: null, defaultCountry: null })).toEqual([]);
  });

  it('advises a default country for a workflow that asks for a phone number, without refusing to start it', () => {
    const phone = getTemplate('welcome-request-phone');
    expect(advisedWorkspaceSettings(phone, { privacyPolicyUrl: null, defaultCountry: null })).toEqual(['defaultCountry']);
    expect(missingWorkspaceSettings(phone, { privacyPolicyUrl: null, defaultCountry: null })).toEqual([]);
    expect(advisedWorkspaceSettings(phone, { privacyPolicyUrl: null, defaultCountry: 'ES' })).toEqual([]);
    expect(advisedWorkspaceSettings(getTemplate('welcome-request-email'), { privacyPolicyUrl: null, defaultCountry: null })).toEqual([]);
    expect(advisedWorkspaceSettings(privacy(), { privacyPolicyUrl: null, defaultCountry: null })).toEqual([]);
  });

  it('sends a question\'s retry text only right after an answer it could not read, not when a time-out asks again', () => {
    const def = parseWorkflowDefinition({
      id: 'ask-number',
      name: 'Ask a number',
      trigger: 'manual',
      steps: [
        {
          id: 'ask',
          type: 'ask_question',
          questionType: 'number',
          text: 'How many?',
          retryText: 'That is not a number. How many?',
          timeoutSeconds: 60,
          branches: { answered: 'done', invalid: 'again', timeout: 'again_later' },
        },
        { id: 'again', type: 'jump_to', target: 'ask', maxJumps: 3, next: 'done' },
        { id: 'again_later', type: 'jump_to', target: 'ask', maxJumps: 3 },
        { id: 'done', type: 'end' },
      ],
    });
    const h = new Harness(def);
    expect(sentTexts(h.start())).toEqual(['How many?']);
    expect(sentTexts(h.reply('lots'))).toEqual(['That is not a number. How many?']);
    expect(sentTexts(h.fireCurrentTimer())).toEqual(['How many?']);
    expect(sentTexts(h.reply('a few'))).toEqual(['That is not a number. How many?']);
    expect(h.reply('3')).toEqual([{ type: 'clear_timer' }]);
    expect(h.state.lastAnswer?.value).toBe('3');
  });

  it('refuses a state that belongs to another workflow', () => {
    const h = new Harness(privacy());
    h.start();
    expect(() => transition(getTemplate('welcome-request-email'), h.state, { kind: 'start' }, h.ctx())).toThrow(ConsentryError);
  });
});

const EMAIL_QUESTION = 'What is your email address? Please reply with it, for example name@example.com.';
const PHONE_QUESTION = 'What is your phone number? Please include the country code if you are abroad, for example +1 201 555 0123.';
const EMAIL_RETRY = `That doesn't look like an email address. ${EMAIL_QUESTION}`;
const PHONE_RETRY = `That doesn't look like a phone number. ${PHONE_QUESTION}`;
const INTERNATIONAL_PHONE_QUESTION = 'What is your phone number? Please write it starting with + and the country code, for example +34 600 000 001.';
const INTERNATIONAL_PHONE_RETRY = `That doesn't look like a phone number with its country code. ${INTERNATIONAL_PHONE_QUESTION}`;
const WELCOME = 'Hi Ana, welcome! Thanks for getting in touch.';
const THANKS = 'Thank you! One of our team will be with you shortly.';
const EMAIL_UNREAD = 'Sorry, we could not read an email address in your replies. One of our team will be with you shortly.';
const EMAIL_UNANSWERED = 'We did not get your email address. One of our team will be with you shortly.';
const PHONE_UNANSWERED = 'We did not get your phone number. One of our team will be with you shortly.';
const PHONE_UNREAD = 'Sorry, we could not read a phone number in your replies. One of our team will be with you shortly.';

describe('welcome-request-email', () => {
  const def = () => getTemplate('welcome-request-email');

  it('skips the question when the email is known', () => {
    const h = new Harness(def(), { email: 'ana.test@example.com' });
    expect(h.start()).toEqual([
      { type: 'send_message', text: WELCOME },
      { type: 'send_message', text: THANKS },
    ]);
    expect(h.state).toMatchObject({ status: 'completed', outcome: 'done' });
  });

  it('greets with a fallback when the first name is unknown', () => {
    const h = new Harness(def(), { firstName: null, name: null });
    expect(sentTexts(h.start())[0]).toBe('Hi there, welcome! Thanks for getting in touch.');
  });

  it('re-asks after an invalid email, then saves the valid one normalised', () => {
    const h = new Harness(def());
    expect(sentTexts(h.start())).toEqual([WELCOME, EMAIL_QUESTION]);
    expect(h.reply('ana at example')).toEqual([
      { type: 'send_message', text: EMAIL_RETRY },
      { type: 'set_timer', token: 'run_01:2', dueAt: plusMs(T0, FIVE_MINUTES_MS) },
    ]);
    expect(h.reply('  Ana.Test@Example.COM ')).toEqual([
      { type: 'update_field', field: 'email', value: 'ana.test@example.com' },
      { type: 'send_message', text: THANKS },
      { type: 'clear_timer' },
    ]);
    expect(h.contact.email).toBe('ana.test@example.com');
    expect(h.state.outcome).toBe('done');
  });

  it('continues without closing after 4 invalid answers, saying no address could be read rather than thanking for one', () => {
    const h = new Harness(def());
    h.start();
    for (const text of ['no', 'ana@', 'example.com']) h.reply(text);
    const last = h.reply('why?');
    expect(last).toEqual([
      { type: 'send_message', text: EMAIL_UNREAD },
      { type: 'clear_timer' },
    ]);
    expect(questionSends(h.log, EMAIL_QUESTION)).toBe(1);
    expect(questionSends(h.log, EMAIL_RETRY)).toBe(3);
    expect(h.log.some((e) => e.type === 'close_conversation' || e.type === 'update_field' || e.type === 'consent_failed')).toBe(false);
    expect(h.state.outcome).toBe('done');
  });

  it('continues without closing on timeout', () => {
    const h = new Harness(def());
    h.start();
    expect(h.fireCurrentTimer()).toEqual([
      { type: 'send_message', text: EMAIL_UNANSWERED },
      { type: 'clear_timer' },
    ]);
    expect(h.log.some((e) => e.type === 'close_conversation')).toBe(false);
    expect(h.state).toMatchObject({ status: 'completed', outcome: 'done' });
  });
});

describe('welcome-request-phone', () => {
  const def = () => getTemplate('welcome-request-phone');

  it('skips the question when the phone is known', () => {
    const h = new Harness(def(), { phone: '+34600000001' });
    expect(sentTexts(h.start())).toEqual([WELCOME, THANKS]);
    expect(h.state.outcome).toBe('done');
  });

  it('reads a national number with the workspace default country and saves it in E.164', () => {
    const h = new Harness(def(), {}, { privacyPolicyUrl: null, defaultCountry: 'ES' });
    expect(sentTexts(h.start())).toEqual([WELCOME, PHONE_QUESTION]);
    expect(sentTexts(h.reply('call me maybe'))).toEqual([PHONE_RETRY]);
    expect(h.reply('612 34 56 78')).toEqual([
      { type: 'update_field', field: 'phone', value: '+34612345678' },
      { type: 'send_message', text: THANKS },
      { type: 'clear_timer' },
    ]);
    expect(h.contact.phone).toBe('+34612345678');
  });

  it('with default country ES, saves the national answer 600 000 001 in E.164 at the first ask', () => {
    const h = new Harness(def(), {}, { privacyPolicyUrl: null, defaultCountry: 'ES' }, 'messenger');
    expect(sentTexts(h.start())).toEqual([WELCOME, PHONE_QUESTION]);
    expect(h.reply('600 000 001')).toEqual([
      { type: 'update_field', field: 'phone', value: '+34600000001' },
      { type: 'send_message', text: THANKS },
      { type: 'clear_timer' },
    ]);
  });

  it('without a default country, asks for the number with its country code and saves one written so', () => {
    const h = new Harness(def(), {}, { privacyPolicyUrl: null, defaultCountry: null }, 'messenger');
    expect(sentTexts(h.start())).toEqual([WELCOME, INTERNATIONAL_PHONE_QUESTION]);
    expect(h.reply('+34600000001')).toEqual([
      { type: 'update_field', field: 'phone', value: '+34600000001' },
      { type: 'send_message', text: THANKS },
      { type: 'clear_timer' },
    ]);
    expect(h.contact.phone).toBe('+34600000001');
  });

  it('without a default country, re-asks a national number saying the country code is missing, never inviting a national one', () => {
    const h = new Harness(def(), {}, { privacyPolicyUrl: null, defaultCountry: null }, 'telegram');
    h.start();
    expect(h.reply('600000001')).toEqual([
      { type: 'send_message', text: INTERNATIONAL_PHONE_RETRY },
      { type: 'set_timer', token: 'run_01:2', dueAt: plusMs(T0, FIVE_MINUTES_MS) },
    ]);
    expect(h.contact.phone).toBeNull();
    expect(sentTexts(h.reply('600 000 001'))).toEqual([INTERNATIONAL_PHONE_RETRY]);
    expect(h.reply('+34 600 000 001')[0]).toEqual({ type: 'update_field', field: 'phone', value: '+34600000001' });
    expect(sentTexts(h.log).filter((text) => text.includes('if you are abroad'))).toEqual([]);
  });

  it('without a default country, still goes on after 4 national answers, having asked for the country code each time', () => {
    const h = new Harness(def(), {}, { privacyPolicyUrl: null, defaultCountry: null }, 'webchat');
    h.start();
    for (const text of ['600 000 001', '600000001', '0600 000 001']) h.reply(text);
    expect(sentTexts(h.reply('600-000-001'))).toEqual([PHONE_UNREAD]);
    expect(questionSends(h.log, INTERNATIONAL_PHONE_QUESTION)).toBe(1);
    expect(questionSends(h.log, INTERNATIONAL_PHONE_RETRY)).toBe(3);
    expect(h.log.some((e) => e.type === 'update_field')).toBe(false);
  });

  it('reads a national number in the default country of another workspace', () => {
    const h = new Harness(def(), {}, { privacyPolicyUrl: null, defaultCountry: 'US' });
    h.start();
    expect(h.reply('(201) 555-0123')[0]).toEqual({ type: 'update_field', field: 'phone', value: '+12015550123' });
  });

  it('continues without closing after 4 invalid answers, saying no number could be read rather than thanking for one', () => {
    const h = new Harness(def());
    h.start();
    for (const text of ['123', 'nope', '600']) h.reply(text);
    expect(sentTexts(h.reply('x'))).toEqual([PHONE_UNREAD]);
    expect(questionSends(h.log, PHONE_QUESTION)).toBe(1);
    expect(questionSends(h.log, PHONE_RETRY)).toBe(3);
    expect(h.log.some((e) => e.type === 'close_conversation' || e.type === 'update_field')).toBe(false);
    expect(h.state.outcome).toBe('done');
  });

  it('continues without closing on timeout', () => {
    const h = new Harness(def());
    h.start();
    h.reply('?');
    expect(sentTexts(h.fireCurrentTimer())).toEqual([PHONE_UNANSWERED]);
    expect(h.log.some((e) => e.type === 'close_conversation')).toBe(false);
    expect(h.state.outcome).toBe('done');
  });
});

describe('runtime semantics on custom definitions', () => {
  it('lets later steps see earlier effects within one transition', () => {
    const def = parseWorkflowDefinition({
      id: 'see-effects',
      name: 'See effects',
      trigger: 'manual',
      steps: [
        {
          id: 'ask_plan',
          type: 'ask_question',
          questionType: 'text',
          text: 'Plan?',
          saveTo: 'plan',
          timeoutSeconds: 60,
          branches: { answered: 'tag_lead', invalid: 'done', timeout: 'done' },
        },
        { id: 'tag_lead', type: 'update_tag', action: 'add', tag: 'Lead' },
        { id: 'is_lead', type: 'branch', condition: { type: 'has_tag', tag: 'Lead' }, then: 'check_plan', else: 'done' },
        { id: 'check_plan', type: 'branch', condition: { type: 'field_equals', field: 'plan', value: 'Gold' }, then: 'gold', else: 'done' },
        { id: 'gold', type: 'send_message', text: 'Hello {{contact.fields.plan}} member, you said {{answer}} on {{channel}}' },
        { id: 'done', type: 'end' },
      ],
    });
    const h = new Harness(def, {}, undefined, 'telegram');
    h.start();
    expect(h.reply(' Gold ')).toEqual([
      { type: 'update_field', field: 'plan', value: 'Gold' },
      { type: 'add_tag', tag: 'Lead' },
      { type: 'send_message', text: 'Hello Gold member, you said Gold on telegram' },
      { type: 'clear_timer' },
    ]);
  });

  it('emits no effect for a tag or field that is already so', () => {
    const def = parseWorkflowDefinition({
      id: 'no-op-effects',
      name: 'No-op effects',
      trigger: 'manual',
      steps: [
        { id: 'tag', type: 'update_tag', action: 'add', tag: 'Known' },
        { id: 'untag', type: 'update_tag', action: 'remove', tag: 'Absent' },
        { id: 'field', type: 'update_field', field: 'source', value: 'chat' },
        { id: 'untag_known', type: 'update_tag', action: 'remove', tag: 'Known' },
      ],
    });
    const h = new Harness(def, { tags: ['Known'], fields: { source: 'chat' } });
    expect(h.start()).toEqual([{ type: 'remove_tag', tag: 'Known' }]);
    expect(h.state).toMatchObject({ status: 'completed', outcome: 'done' });
  });

  const waitDef = () =>
    parseWorkflowDefinition({
      id: 'wait-flow',
      name: 'Wait flow',
      trigger: 'manual',
      steps: [
        { id: 'hello', type: 'send_message', text: 'Hello' },
        { id: 'pause', type: 'wait', seconds: 3600 },
        { id: 'followup', type: 'send_message', text: 'Still there?' },
        { id: 'chain', type: 'trigger_workflow', templateId: 'welcome-request-email' },
        { id: 'close', type: 'close_conversation' },
      ],
    });

  it('waits on a timer, ignores messages meanwhile, then continues when it fires', () => {
    const h = new Harness(waitDef());
    expect(h.start()).toEqual([
      { type: 'send_message', text: 'Hello' },
      { type: 'set_timer', token: 'run_01:1', dueAt: plusMs(T0, 3_600_000) },
    ]);
    expect(isAwaitingAnswer(h.state)).toBe(false);
    const waiting = h.state;
    expect(h.reply('hi')).toEqual([]);
    expect(h.state).toEqual(waiting);
    expect(h.fireCurrentTimer()).toEqual([
      { type: 'send_message', text: 'Still there?' },
      { type: 'trigger_workflow', templateId: 'welcome-request-email' },
      { type: 'close_conversation' },
      { type: 'clear_timer' },
    ]);
    expect(h.state).toMatchObject({ status: 'completed', outcome: 'done', cursor: null });
  });

  it('ignores a message before the run has started', () => {
    const def = waitDef();
    const state = initialRunState(def);
    const h = new Harness(def);
    expect(transition(def, state, { kind: 'message', messageId: 'm', text: 'hi', button: null }, h.ctx())).toEqual({ state, effects: [] });
  });

  it('continues with `next` once a jump_to is used up', () => {
    const def = parseWorkflowDefinition({
      id: 'jump-next',
      name: 'Jump next',
      trigger: 'manual',
      steps: [
        {
          id: 'ask',
          type: 'ask_question',
          questionType: 'number',
          text: 'How many?',
          saveTo: 'count',
          timeoutSeconds: 60,
          branches: { answered: 'ok', invalid: 'retry', timeout: 'ok' },
        },
        { id: 'retry', type: 'jump_to', target: 'ask', maxJumps: 1, next: 'gave_up' },
        { id: 'ok', type: 'send_message', text: 'Got {{answer}}', next: 'finish' },
        { id: 'gave_up', type: 'send_message', text: 'Never mind' },
        { id: 'finish', type: 'end' },
      ],
    });
    const h = new Harness(def);
    h.start();
    expect(sentTexts(h.reply('many'))).toEqual(['How many?']);
    expect(sentTexts(h.reply('lots'))).toEqual(['Never mind']);
    const again = new Harness(def);
    again.start();
    expect(again.reply('1,5')).toEqual([
      { type: 'update_field', field: 'count', value: '1.5' },
      { type: 'send_message', text: 'Got 1.5' },
      { type: 'clear_timer' },
    ]);
  });

  it('records consent for a configured channel without an answer as evidence', () => {
    const def = parseWorkflowDefinition({
      id: 'record-flow',
      name: 'Record flow',
      trigger: 'manual',
      steps: [
        { id: 'record', type: 'record_consent', purpose: 'marketing', channel: 'email', status: 'opted_out', explanation: 'Withdrawn by {{contact.name}}' },
      ],
    });
    const h = new Harness(def, {}, { privacyPolicyUrl: null, defaultCountry: null });
    expect(h.start()).toEqual([
      {
        type: 'record_consent',
        purpose: 'marketing',
        channel: 'email',
        status: 'opted_out',
        legalBasis: null,
        explanation: 'Withdrawn by Ana Test',
        evidence: { workflowId: 'record-flow', runId: 'run_01' },
      },
    ]);
  });
});

describe('readAnswer', () => {
  const read = (questionType: 'text' | 'number' | 'date' | 'email', text: string | null, country: string | null = null) =>
    readAnswer({ questionType, options: undefined }, { text, button: null }, country);

  it('reads text: anything non-empty, trimmed', () => {
    expect(read('text', '  hello ')).toBe('hello');
    expect(read('text', '   ')).toBeNull();
    expect(read('text', null)).toBeNull();
  });

  it('reads numbers and refuses ambiguous thousands', () => {
    expect(read('number', '42')).toBe('42');
    expect(read('number', '-3.25')).toBe('-3.25');
    expect(read('number', '2,5')).toBe('2.5');
    expect(read('number', '1,000')).toBeNull();
    expect(read('number', '1.000')).toBeNull();
    expect(read('number', 'ten')).toBeNull();
  });

  it('reads ISO and common date formats, checking the calendar', () => {
    expect(read('date', '2026-03-14')).toBe('2026-03-14');
    expect(read('date', '14/03/2026')).toBe('2026-03-14');
    expect(read('date', '4.3.2026')).toBe('2026-03-04');
    expect(read('date', '4/3/2026', 'US')).toBe('2026-04-03');
    expect(read('date', '03/14/2026')).toBe('2026-03-14');
    expect(read('date', '14 March 2026')).toBe('2026-03-14');
    expect(read('date', 'Mar 14th, 2026')).toBe('2026-03-14');
    expect(read('date', '2026-02-29')).toBeNull();
    expect(read('date', '2028-02-29')).toBe('2028-02-29');
    expect(read('date', '31/31/2026')).toBeNull();
    expect(read('date', 'tomorrow')).toBeNull();
  });

  it('matches multiple-choice options by button id or normalised label only', () => {
    const step = { questionType: 'multiple_choice' as const, options: [{ label: 'Yes', buttonId: 'y' }, { label: 'Not now' }] };
    expect(readAnswer(step, { text: null, button: 'y' }, null)).toBe('Yes');
    expect(readAnswer(step, { text: '  NOT   now. ', button: null }, null)).toBe('Not now');
    expect(readAnswer(step, { text: 'yes please', button: null }, null)).toBeNull();
    expect(readAnswer(step, { text: null, button: 'n' }, null)).toBeNull();
  });
});

describe('serialisation', () => {
  it('keeps state and effects identical through JSON at every step of every template path', () => {
    const paths: [WorkflowDefinition, (h: Harness) => void][] = [
      [privacy(), (h) => ['a', 'b', 'c', 'd'].forEach((t) => h.reply(t))],
      [privacy(), (h) => h.reply(null, 'agree')],
      [privacy(), (h) => h.fireCurrentTimer()],
      [getTemplate('welcome-request-email'), (h) => h.reply('ana.test@example.com')],
      [getTemplate('welcome-request-phone'), (h) => h.fireCurrentTimer()],
    ];
    for (const [def, play] of paths) {
      const h = new Harness(def);
      h.start();
      play(h);
      expect(h.state.status).toBe('completed');
      expect(JSON.parse(JSON.stringify(h.log))).toEqual(h.log);
      const roundTripped = RunStateSchema.parse(JSON.parse(JSON.stringify(h.state)));
      expect(roundTripped).toStrictEqual(h.state);
    }
  });
});

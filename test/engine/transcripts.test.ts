import { describe, expect, it } from 'vitest';
import { runTranscript, type Transcript, type TranscriptLine } from '../../src/cli/simulate.js';

const AGREE = 'AGREE & PROCEED';
const privacy = (steps: Transcript['steps'], contact: Transcript['contact'] = { name: 'Ana Test', email: null, phone: null, tags: [] }): Transcript => ({
  template: 'request-consent-privacy',
  channel: 'whatsapp',
  contact,
  steps,
});

type Reply = Extract<TranscriptLine, { kind: 'reply' }>;
type Event = Extract<TranscriptLine, { kind: 'event' }>;
type State = Extract<TranscriptLine, { kind: 'state' }>;

function split(lines: TranscriptLine[]) {
  const replies = lines.filter((l): l is Reply => l.kind === 'reply');
  const events = lines.filter((l): l is Event => l.kind === 'event');
  const state = lines[lines.length - 1] as State;
  expect(state.kind).toBe('state');
  return { replies, events, state, questions: replies.filter((r) => r.options.includes(AGREE)) };
}

const types = (events: Event[]) => events.map((e) => e.type);

describe('request-consent-privacy transcripts', () => {
  it('accepted first time: privacy link, one question, consent recorded and tagged', async () => {
    const { replies, events, state, questions } = split(
      await runTranscript(privacy([{ after: '0s', text: 'hola' }, { after: '30s', button: AGREE }])),
    );
    expect(replies[0]?.text).toContain('https://example.com/privacy');
    expect(questions).toHaveLength(1);
    expect(types(events)).toContain('consent.given');
    expect(types(events)).not.toContain('consent.failed');
    expect(state.tags).toContain('Consent: Privacy');
    expect(state.consents).toEqual([{ purpose: 'privacy', channel: 'whatsapp', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE' }]);
    expect(state.conversation).toBe('open');
  });

  it('accepts the typed label, whatever its case and punctuation', async () => {
    const { state } = split(await runTranscript(privacy([{ text: 'hi' }, { after: '10s', text: '  agree & proceed! ' }])));
    expect(state.consents[0]?.status).toBe('opted_in');
  });

  it('invalid once, then accepted: the question is sent twice', async () => {
    const { questions, state, events } = split(
      await runTranscript(privacy([{ text: 'hi' }, { after: '20s', text: 'what?' }, { after: '20s', button: AGREE }])),
    );
    expect(questions).toHaveLength(2);
    expect(types(events)).toContain('consent.given');
    expect(state.tags).toContain('Consent: Privacy');
  });

  it('invalid three times, then accepted on the fourth ask', async () => {
    const { questions, state } = split(
      await runTranscript(
        privacy([{ text: 'hi' }, { after: '5s', text: 'no' }, { after: '5s', text: 'no' }, { after: '5s', text: 'no' }, { after: '5s', button: AGREE }]),
      ),
    );
    expect(questions).toHaveLength(4);
    expect(state.consents[0]?.status).toBe('opted_in');
  });

  it('invalid four times: asked at most 4 times, then failed and closed', async () => {
    const lines = await runTranscript(
      privacy([{ text: 'hi' }, { after: '5s', text: 'no' }, { after: '5s', text: 'no' }, { after: '5s', text: 'no' }, { after: '5s', text: 'no' }]),
    );
    const { questions, events, state } = split(lines);
    expect(questions).toHaveLength(4);
    const failed = events.find((e) => e.type === 'consent.failed');
    expect(failed?.data).toMatchObject({ reason: 'invalid', attempts: 4, channel: 'whatsapp', contactName: 'Ana Test' });
    expect(types(events)).toContain('conversation.closed');
    expect(state.consents).toEqual([]);
    expect(state.tags).not.toContain('Consent: Privacy');
    expect(state.conversation).toBe('closed');
  });

  it('timeout after a re-ask: the timeout restarts with each send', async () => {
    const lines = await runTranscript(privacy([{ text: 'hi' }, { after: '4m', text: 'hmm' }, { after: '4m' }, { after: '2m' }]));
    const { questions, events, state } = split(lines);
    expect(questions).toHaveLength(2);
    const failed = events.find((e) => e.type === 'consent.failed');
    // Re-asked at 4m, so the timeout fires 5 minutes later (9m), not at 5m after the first send.
    expect(failed?.at).toBe('2026-01-01T09:09:00.000Z');
    expect(failed?.data).toMatchObject({ reason: 'timeout', attempts: 2 });
    expect(state.conversation).toBe('closed');
  });

  it('STOP mid-question records the opt-out and cancels the run, never counted as invalid', async () => {
    const lines = await runTranscript(privacy([{ text: 'hi' }, { after: '10s', text: 'STOP' }, { after: '10m' }]));
    const { questions, events, state } = split(lines);
    expect(questions).toHaveLength(1);
    expect(types(events)).toContain('consent.withdrawn');
    expect(types(events)).not.toContain('consent.failed');
    expect(state.consents).toEqual([{ purpose: 'marketing', channel: 'whatsapp', status: 'opted_out', legalBasis: null }]);
  });

  it('after a close, the next message opens a new conversation and the workflow starts again', async () => {
    const lines = await runTranscript(
      privacy([{ text: 'hi' }, { after: '6m' }, { after: '1h', text: 'hello again' }, { after: '10s', button: AGREE }]),
    );
    const { questions, events, state } = split(lines);
    expect(types(events).filter((t) => t === 'conversation.opened')).toHaveLength(2);
    expect(questions).toHaveLength(2);
    expect(types(events)).toEqual(expect.arrayContaining(['consent.failed', 'consent.given']));
    expect(state.conversation).toBe('open');
    expect(state.tags).toContain('Consent: Privacy');
  });

  it('a contact already tagged Consent: Privacy is not asked again', async () => {
    const { replies, events } = split(
      await runTranscript(privacy([{ text: 'hi' }, { after: '10m' }], { name: 'Ana Test', email: null, phone: null, tags: ['Consent: Privacy'] })),
    );
    expect(replies).toHaveLength(0);
    expect(types(events)).not.toContain('consent.failed');
  });

  it('a contact tagged Consent: Privacy, in any letter case, agreed before the transcript: the opt-in is on record', async () => {
    const { replies, state } = split(
      await runTranscript(privacy([{ text: 'hi' }], { name: 'Ana Test', email: null, phone: null, tags: ['VIP', 'consent: PRIVACY'] })),
    );
    expect(replies).toHaveLength(0);
    expect(state.tags).toEqual(['VIP', 'Consent: Privacy']);
    expect(state.consents).toEqual([{ purpose: 'privacy', channel: 'whatsapp', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE' }]);
  });
});

describe('welcome-request-email / -phone transcripts', () => {
  it('an email already known skips its question', async () => {
    const { replies, state } = split(
      await runTranscript({
        template: 'welcome-request-email',
        contact: { name: 'Ana Test', email: 'ana@example.com', phone: null, tags: [] },
        steps: [{ text: 'hi' }],
      }),
    );
    expect(replies.length).toBeGreaterThan(0);
    expect(replies.some((r) => /e-?mail/i.test(r.text) && r.text.includes('?'))).toBe(false);
    expect(state.fields.email).toBe('ana@example.com');
    expect(state.conversation).toBe('open');
  });

  it('asks for the email, re-asks on an invalid one and saves the valid one', async () => {
    const { state, events } = split(
      await runTranscript({
        template: 'welcome-request-email',
        steps: [{ text: 'hi' }, { after: '10s', text: 'not an email' }, { after: '10s', text: 'Ana@Example.com' }],
      }),
    );
    expect(state.fields.email).toBe('ana@example.com');
    expect(types(events)).toContain('contact.updated');
    expect(state.conversation).toBe('open');
  });

  it('stores a national phone number in E.164 with the default country, and never closes on failure', async () => {
    const ok = split(
      await runTranscript({
        template: 'welcome-request-phone',
        settings: { defaultCountry: 'ES' },
        channel: 'webchat',
        steps: [{ text: 'hi' }, { after: '10s', text: '600 000 001' }],
      }),
    );
    expect(ok.state.fields.phone).toBe('+34600000001');
    const failed = split(
      await runTranscript({
        template: 'welcome-request-phone',
        channel: 'webchat',
        steps: [{ text: 'hi' }, { text: 'x' }, { text: 'x' }, { text: 'x' }, { text: 'x' }],
      }),
    );
    expect(failed.state.fields.phone).toBeUndefined();
    expect(failed.state.conversation).toBe('open');
  });
});

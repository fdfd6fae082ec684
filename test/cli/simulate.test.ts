import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isConsentryError } from '../../src/core/errors.js';
import { runTranscript, type Transcript, type TranscriptLine } from '../../src/cli/simulate.js';
import { cli } from './helpers.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'consentry-simulate-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const AGREE = 'AGREE & PROCEED';
type State = Extract<TranscriptLine, { kind: 'state' }>;

const scriptFile = (): string => join(dir, 'script.json');

function writeScript(script: unknown): string {
  const file = scriptFile();
  writeFileSync(file, JSON.stringify(script));
  return file;
}

/** An error line about the script file, which names the file first. */
const aboutScript = (line: string): string => line.replace(/^(error \[[A-Z_]+\]: )/, `$1${scriptFile()}: `);

const privacyScript = (extra: Partial<Transcript> = {}): Transcript => ({
  template: 'request-consent-privacy',
  channel: 'whatsapp',
  steps: [{ text: 'hola' }, { after: '30s', button: AGREE }],
  ...extra,
});

function lastState(stdout: string): State {
  const lines = stdout.split('\n').filter((l) => l.startsWith('{'));
  const state: unknown = JSON.parse(lines[lines.length - 1] ?? 'null');
  expect(state).toMatchObject({ kind: 'state' });
  return state as State;
}

const questions = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('bot> ') && l.includes(`[${AGREE}]`));
const stderrLines = (stderr: string) => stderr.split('\n').filter((l) => l !== '');

describe('simulate: --template and --channel beside --script', () => {
  it('refuses a --template other than the script names, naming both, and runs nothing', async () => {
    const run = await cli(['simulate', '--template', 'welcome-request-email', '--script', writeScript(privacyScript())]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(stderrLines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toContain('"welcome-request-email"');
    expect(run.stderr).toContain('"request-consent-privacy"');
  });

  it('refuses a --channel other than the script names, naming both, and runs nothing', async () => {
    const run = await cli(['simulate', '--channel', 'sms', '--script', writeScript(privacyScript())]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(stderrLines(run.stderr)).toEqual([`error: --channel "sms" differs from the script's channel "whatsapp"; leave --channel out or make them agree`]);
  });

  it('runs the script when --template and --channel agree with it, or are left out', async () => {
    const agreeing = await cli(['simulate', '--template', 'request-consent-privacy', '--channel', 'whatsapp', '--script', writeScript(privacyScript())]);
    const bare = await cli(['simulate', '--script', writeScript(privacyScript())]);
    for (const run of [agreeing, bare]) {
      expect(run.code).toBe(0);
      expect(lastState(run.stdout).consents).toEqual([{ purpose: 'privacy', channel: 'whatsapp', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE' }]);
    }
  });

  it('runs a script that names no channel on --channel', async () => {
    const { channel: _named, ...script } = privacyScript();
    const run = await cli(['simulate', '--channel', 'sms', '--script', writeScript(script)]);
    expect(run.code).toBe(0);
    expect(lastState(run.stdout).consents).toEqual([{ purpose: 'privacy', channel: 'sms', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE' }]);
  });

  it('reads --channel and the script\'s channel in any letter case, as import reads a channel', async () => {
    const { channel: _named, ...unnamed } = privacyScript();
    const onFlag = await cli(['simulate', '--channel', 'SMS', '--script', writeScript(unnamed)]);
    expect(onFlag.stderr).toBe('');
    expect(lastState(onFlag.stdout).consents).toEqual([{ purpose: 'privacy', channel: 'sms', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE' }]);

    const agreeing = await cli(['simulate', '--channel', 'WhatsApp', '--script', writeScript(privacyScript({ channel: 'WHATSAPP' }))]);
    expect(agreeing.stderr).toBe('');
    expect(lastState(agreeing.stdout).consents).toMatchObject([{ purpose: 'privacy', channel: 'whatsapp', status: 'opted_in' }]);

    const differing = await cli(['simulate', '--channel', 'SMS', '--script', writeScript(privacyScript({ channel: 'Telegram' }))]);
    expect(differing.code).toBe(2);
    expect(stderrLines(differing.stderr)).toEqual([`error: --channel "sms" differs from the script's channel "telegram"; leave --channel out or make them agree`]);

    const chat = await cli(['simulate', '--template', 'request-consent-privacy', '--channel', 'SMS'], { stdin: '/quit\n' });
    expect(chat.code).toBe(0);
    expect(chat.stdout.split('\n')[0]).toContain('"request-consent-privacy" on sms.');
  });

  it('says --template is needed without --script', async () => {
    const run = await cli(['simulate'], { stdin: '/quit\n' });
    expect(run.code).toBe(2);
    expect(stderrLines(run.stderr)).toEqual([
      'error: --template is required without --script (one of request-consent-privacy, welcome-request-email, welcome-request-phone)',
    ]);
  });

  it('names an unknown channel and the known ones in one line', async () => {
    const run = await cli(['simulate', '--template', 'request-consent-privacy', '--channel', 'pigeon'], { stdin: '/quit\n' });
    expect(run.code).toBe(2);
    expect(stderrLines(run.stderr)).toEqual(['error: unknown channel "pigeon"; available: whatsapp, sms, email, messenger, telegram, webchat']);
  });

  it('names an unknown --template even beside a script', async () => {
    const run = await cli(['simulate', '--template', 'nope', '--script', writeScript(privacyScript())]);
    expect(run.code).toBe(2);
    expect(stderrLines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toContain('error [UNKNOWN_TEMPLATE]: unknown template "nope": the built-in ones are request-consent-privacy, welcome-request-email, welcome-request-phone');
  });

  it('chats on whatsapp when no --channel is given', async () => {
    const run = await cli(['simulate', '--template', 'request-consent-privacy'], { stdin: `hola\n/button ${AGREE}\n/state\n` });
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n')[0]).toContain('"request-consent-privacy" on whatsapp.');
    expect(lastState(run.stdout).consents).toMatchObject([{ purpose: 'privacy', channel: 'whatsapp', status: 'opted_in' }]);
  });
});

describe('simulate: interactive commands', () => {
  it('reports a bad /wait duration on stderr and goes on reading stdin', async () => {
    const run = await cli(['simulate', '--template', 'request-consent-privacy'], { stdin: `hola\n/wait xx\n/button ${AGREE}\n/state\n` });
    expect(run.code).toBe(0);
    expect(stderrLines(run.stderr)).toEqual(['error: "xx" is not a duration such as 30s, 6m, 4m59s or 1h']);
    expect(run.stdout).toContain('  · event consent.given');
    expect(lastState(run.stdout).tags).toEqual(['Consent: Privacy']);
  });

  it('never sends /wait or /button without an argument, nor an unknown command, to the bot', async () => {
    const run = await cli(['simulate', '--template', 'request-consent-privacy'], { stdin: 'hola\n/wait\n/button\n/foo bar\n/state\n' });
    expect(run.code).toBe(0);
    // Each of those lines sent as text would be an invalid answer, and the question would be asked again.
    expect(questions(run.stdout)).toHaveLength(1);
    const errors = stderrLines(run.stderr);
    expect(errors).toHaveLength(3);
    expect(errors[0]).toMatch(/^usage: \/wait DURATION/);
    expect(errors[1]).toMatch(/^usage: \/button LABEL/);
    expect(errors[2]).toMatch(/^error: unknown command "\/foo";/);
    expect(lastState(run.stdout).conversation).toBe('open');
  });

  it('sends "//text" as "/text"', async () => {
    const run = await cli(['simulate', '--template', 'welcome-request-email'], { stdin: 'hi\n//ana@example.com\n/state\n' });
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n')[0]).toContain('"//text" sends "/text"');
    expect(lastState(run.stdout).fields.email).toBe('/ana@example.com');
  });

  it('takes the parts of a /wait largest unit first, each once, with decimals, and names the order otherwise', async () => {
    const run = await cli(['simulate', '--template', 'request-consent-privacy'], { stdin: 'hola\n/wait 30s1m\n/wait 1m1m\n/wait 4.5m\n/state\n' });
    expect(run.code).toBe(0);
    expect(stderrLines(run.stderr)).toEqual([
      'error: "30s1m" is not a duration such as 30s, 6m, 4m59s or 1h: write each unit once, largest first (d, h, m, s, ms)',
      'error: "1m1m" is not a duration such as 30s, 6m, 4m59s or 1h: write each unit once, largest first (d, h, m, s, ms)',
    ]);
    // 4.5 minutes is under the question's 5-minute time-out: it is still pending, asked once.
    expect(questions(run.stdout)).toHaveLength(1);
    expect(lastState(run.stdout).conversation).toBe('open');
    const past = await cli(['simulate', '--template', 'request-consent-privacy'], { stdin: 'hola\n/wait 4.5m\n/wait 0.5m1s\n/state\n' });
    expect(stderrLines(past.stderr)).toEqual([]);
    // 5 minutes and 1 second: the question timed out and the conversation closed.
    expect(past.stdout).toContain('  · event consent.failed');
    expect(lastState(past.stdout).conversation).toBe('closed');
  });

  it('refuses a /wait longer than 366 days and goes on', async () => {
    const run = await cli(['simulate', '--template', 'request-consent-privacy'], { stdin: `hola\n/wait 99999999999h\n/wait 367d\n/button ${AGREE}\n/state\n` });
    expect(run.code).toBe(0);
    expect(stderrLines(run.stderr)).toEqual([
      'error: "99999999999h" is longer than 366 days, the most one step may wait',
      'error: "367d" is longer than 366 days, the most one step may wait',
    ]);
    expect(lastState(run.stdout).tags).toEqual(['Consent: Privacy']);
  });
});

describe('simulate: step durations are bounded', () => {
  it('refuses an out-of-range after, naming the step and the value, without a stack trace', async () => {
    const run = await cli(['simulate', '--script', writeScript({ template: 'request-consent-privacy', steps: [{ text: 'hola' }, { after: '99999999999h' }] })]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(stderrLines(run.stderr)).toEqual([
      aboutScript('error [VALIDATION_FAILED]: Invalid transcript: steps.1.after: "99999999999h" is longer than 366 days, the most one step may wait'),
    ]);
  });

  it('reads durations of several parts, so a step can land just before or after a deadline', async () => {
    const justBefore = await runTranscript({ template: 'request-consent-privacy', steps: [{ text: 'hola' }, { after: '4m59s', button: 'AGREE & PROCEED' }] });
    expect(justBefore.some((l) => l.kind === 'event' && l.type === 'consent.given')).toBe(true);
    const justAfter = await runTranscript({ template: 'request-consent-privacy', steps: [{ text: 'hola' }, { after: '5m0.5s', button: 'AGREE & PROCEED' }] });
    expect(justAfter.some((l) => l.kind === 'event' && l.type === 'consent.given')).toBe(false);
    expect(justAfter.some((l) => l.kind === 'event' && l.type === 'consent.failed')).toBe(true);
    for (const bad of ['4m 59s', 'm5', '5m5', '1h-5m']) {
      await expect(runTranscript({ template: 'request-consent-privacy', steps: [{ after: bad }] })).rejects.toMatchObject({ issues: [{ path: 'steps.0.after' }] });
    }
  });

  it('lets a step wait 366 days but not 367', async () => {
    const year = await runTranscript({ template: 'request-consent-privacy', start: '2026-01-01T00:00:00.000Z', steps: [{ after: '366d', text: 'hola' }] });
    expect(year.find((l) => l.kind === 'reply')).toMatchObject({ at: '2027-01-02T00:00:00.000Z' });
    await expect(runTranscript({ template: 'request-consent-privacy', steps: [{ after: '367d' }] })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      issues: [{ path: 'steps.0.after', message: '"367d" is longer than 366 days, the most one step may wait' }],
    });
  });

  it('refuses the step that would take the simulated clock past the end of year 9999', async () => {
    const failure: unknown = await runTranscript({
      template: 'request-consent-privacy',
      start: '9999-12-31T00:00:00.000Z',
      steps: [{ after: '23h', text: 'hola' }, { after: '1h' }],
    }).catch((error: unknown) => error);
    expect(isConsentryError(failure)).toBe(true);
    if (!isConsentryError(failure)) return;
    expect(failure.issues).toEqual([
      { path: 'steps.1.after', message: '"1h" would take the simulated clock past 9999-12-31T23:59:59.999Z, the latest time it can show' },
    ]);
  });

  it('refuses such a /wait and goes on', async () => {
    const run = await cli(['simulate', '--template', 'request-consent-privacy'], { stdin: '/wait 366d\n'.repeat(8000) + 'hola\n/state\n' });
    expect(run.code).toBe(0);
    const errors = stderrLines(run.stderr);
    expect(errors.length).toBeGreaterThan(0);
    expect(new Set(errors)).toEqual(new Set(['error: "366d" would take the simulated clock past 9999-12-31T23:59:59.999Z, the latest time it can show']));
    expect(questions(run.stdout)).toHaveLength(1);
  });
});

describe('simulate: the state line', () => {
  const marketing = (consents: State['consents']) => consents.filter((c) => c.purpose === 'marketing');

  it('shows a channel opted out when a later STOP ALL overrules its opt-in, beside the any row', async () => {
    const lines = await runTranscript(privacyScript({ steps: [{ text: 'hola' }, { after: '1s', button: AGREE }, { after: '1s', text: 'START' }, { after: '1s', text: 'STOP ALL' }] }));
    const state = lines[lines.length - 1] as State;
    expect(marketing(state.consents)).toEqual([
      { purpose: 'marketing', channel: 'any', status: 'opted_out', legalBasis: null },
      { purpose: 'marketing', channel: 'whatsapp', status: 'opted_out', legalBasis: null },
    ]);
  });

  it('shows a channel opted in again when its opt-in comes after STOP ALL', async () => {
    const lines = await runTranscript(
      privacyScript({ steps: [{ text: 'hola' }, { after: '1s', button: AGREE }, { after: '1s', text: 'START' }, { after: '1s', text: 'STOP ALL' }, { after: '1s', text: 'START' }] }),
    );
    const state = lines[lines.length - 1] as State;
    expect(marketing(state.consents)).toEqual([
      { purpose: 'marketing', channel: 'any', status: 'opted_out', legalBasis: null },
      { purpose: 'marketing', channel: 'whatsapp', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE' },
    ]);
  });
});

describe('simulate: every error about a step names it', () => {
  it('names a step whose text is longer than a message may be, and one whose button is empty, and runs nothing', async () => {
    const run = await cli([
      'simulate',
      '--script',
      writeScript({ template: 'request-consent-privacy', steps: [{ text: 'hola' }, { after: '1s', text: 'x'.repeat(65_537) }, { button: '' }] }),
    ]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(stderrLines(run.stderr)).toEqual([
      aboutScript('error [VALIDATION_FAILED]: Invalid transcript: steps.1.text: has 65,537 characters, at most 65,536; steps.2.button: is empty'),
    ]);
  });

  it('names a step whose text is empty or blank, without a button, as the engine refuses such a message, and prints nothing', async () => {
    const run = await cli(['simulate', '--script', writeScript({ template: 'request-consent-privacy', steps: [{ text: 'hola' }, { after: '1s', text: ' ' }] })]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(stderrLines(run.stderr)).toEqual([
      aboutScript('error [VALIDATION_FAILED]: Invalid transcript: steps.1.text: a message needs text or button: an empty or blank text is no text'),
    ]);
    // Beside a button, an empty text is no text: the click is read.
    const clicked = await runTranscript(privacyScript({ steps: [{ text: 'hola' }, { after: '1s', text: '', button: AGREE }] }));
    expect(clicked.some((line) => line.kind === 'event' && line.type === 'consent.given')).toBe(true);
  });

  it('names a template or a list of steps the script leaves out as required, and runs nothing', async () => {
    for (const [script, line] of [
      [{ steps: [{ text: 'hola' }] }, 'error [VALIDATION_FAILED]: Invalid transcript: template: is required'],
      [{ template: 'request-consent-privacy' }, 'error [VALIDATION_FAILED]: Invalid transcript: steps: is required'],
    ] as const) {
      const run = await cli(['simulate', '--script', writeScript(script)]);
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(stderrLines(run.stderr)).toEqual([aboutScript(line)]);
    }
  });

  it('gives the step paths to a caller of runTranscript, and takes a text of exactly 65,536 characters', async () => {
    await expect(runTranscript(privacyScript({ steps: [{ text: 'hola' }, { text: 'x'.repeat(65_537) }] }))).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      issues: [{ path: 'steps.1.text', message: 'has 65,537 characters, at most 65,536' }],
    });
    const longest = await runTranscript(privacyScript({ steps: [{ text: 'hola' }, { text: 'x'.repeat(65_536) }] }));
    expect(longest.filter((l) => l.kind === 'reply' && l.options.includes(AGREE))).toHaveLength(2);
  });

  it('names the contact and settings fields the engine refuses with their place in the transcript', async () => {
    const contact = runTranscript(privacyScript({ contact: { name: '', email: null, phone: null, tags: [] } }));
    await expect(contact).rejects.toMatchObject({ code: 'VALIDATION_FAILED', issues: [{ path: 'contact.name' }] });
    const settings = runTranscript(privacyScript({ settings: { defaultCountry: 'ZZ' } }));
    await expect(settings).rejects.toMatchObject({ code: 'VALIDATION_FAILED', issues: [{ path: 'settings.defaultCountry' }] });
  });

  it('reads the settings as a settings patch: null resets a setting to none, as PATCH /v1/settings takes it', async () => {
    // Without a privacy policy link the privacy workflow does not start, as in a workspace without one.
    const lines = await runTranscript(privacyScript({ settings: { privacyPolicyUrl: null, defaultCountry: null }, steps: [{ text: 'hola' }] }));
    expect(lines.filter((l) => l.kind === 'reply')).toEqual([]);
    expect(lines.filter((l) => l.kind === 'event').map((l) => (l.kind === 'event' ? l.type : ''))).toEqual(['conversation.opened']);
    // Left out, the simulated workspace's own link is shown.
    const defaulted = await runTranscript(privacyScript({ settings: {}, steps: [{ text: 'hola' }] }));
    expect(defaulted.some((l) => l.kind === 'reply' && l.text.includes('https://example.com/privacy'))).toBe(true);
  });

  const withContact = (contact: Partial<NonNullable<Transcript['contact']>>) =>
    writeScript({ template: 'welcome-request-email', contact, steps: [{ text: 'hi' }] });

  it.each([
    [{ email: 'ana@example' }, 'error [INVALID_EMAIL]: Invalid transcript: contact.email: "ana@example" is not a valid email address'],
    [
      { phone: '600 000 001' },
      'error [INVALID_PHONE]: Invalid transcript: contact.phone: "600 000 001" has no country code: write it in international format (e.g. +34 600 000 001) or set the workspace default country',
    ],
    [{ tags: ['VIP', 'Line\nbreak'] }, 'error [VALIDATION_FAILED]: Invalid transcript: contact.tags.1: tag contains U+000A, a control character'],
    [{ tags: ['VIP', 'Ok', '   '] }, 'error [VALIDATION_FAILED]: Invalid transcript: contact.tags.2: is empty'],
  ])('names the contact value the engine refuses in %j, and runs nothing', async (contact, line) => {
    const run = await cli(['simulate', '--script', withContact(contact)]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(stderrLines(run.stderr)).toEqual([aboutScript(line)]);
  });

  it('gives a caller of runTranscript the contact paths and the engine\'s codes', async () => {
    const email = runTranscript({ template: 'welcome-request-email', contact: { email: 'ana@example' }, steps: [] });
    await expect(email).rejects.toMatchObject({ code: 'INVALID_EMAIL', issues: [{ path: 'contact.email' }] });
    const phone = runTranscript({ template: 'welcome-request-email', contact: { phone: '+34 123' }, steps: [] });
    await expect(phone).rejects.toMatchObject({ code: 'INVALID_PHONE', issues: [{ path: 'contact.phone' }] });
    const tag = runTranscript({ template: 'welcome-request-email', contact: { tags: ['VIP', 'A\u202eB'] }, steps: [] });
    await expect(tag).rejects.toMatchObject({ code: 'VALIDATION_FAILED', issues: [{ path: 'contact.tags.1', message: expect.stringContaining('U+202E') }] });
  });

  it('still tags the contact with every tag it is given', async () => {
    const lines = await runTranscript({ template: 'request-consent-privacy', contact: { tags: ['VIP', 'Consent: Privacy'] }, steps: [{ text: 'hola' }] });
    expect(lines.filter((l) => l.kind === 'reply' && l.options.includes(AGREE))).toEqual([]);
    expect(lines.at(-1)).toMatchObject({ kind: 'state', tags: ['VIP', 'Consent: Privacy'] });
  });
});

describe('simulate: a welcome answer as an input method or a chat app writes it', () => {
  it('saves a full-width Japanese number at the first ask, in E.164', async () => {
    const script = {
      template: 'welcome-request-phone',
      channel: 'webchat',
      settings: { defaultCountry: 'JP' },
      steps: [{ text: 'hi' }, { after: '10s', text: '０９０－１２３４－５６７８' }],
    };
    const run = await cli(['simulate', '--script', writeScript(script)]);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.split('\n').filter((l) => l !== '').map((l): unknown => JSON.parse(l));
    const asks = lines.filter((l) => typeof l === 'object' && l !== null && 'text' in l && String(l.text).startsWith('What is your phone number?'));
    expect(asks).toHaveLength(1);
    expect(lastState(run.stdout).fields).toEqual({ phone: '+819012345678' });
  });

  it('saves a bidi-wrapped e-mail at the first ask', async () => {
    const lines = await runTranscript({ template: 'welcome-request-email', steps: [{ text: 'hi' }, { after: '10s', text: '\u200eana@example.com\u200e' }] });
    expect(lines.filter((l) => l.kind === 'reply' && l.text.startsWith('What is your email address?'))).toHaveLength(1);
    expect(lines.at(-1)).toMatchObject({ kind: 'state', fields: { email: 'ana@example.com' } });
  });
});

describe('simulate: a button must be one the contact was offered', () => {
  it('refuses a script step that clicks a button not offered, naming the step and the buttons that were', async () => {
    const run = await cli(['simulate', '--script', writeScript(privacyScript({ steps: [{ text: 'hola' }, { after: '5s', button: 'NOPE' }, { button: AGREE }] }))]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(stderrLines(run.stderr)).toEqual([
      aboutScript('error [VALIDATION_FAILED]: Invalid transcript: steps.1.button: "NOPE" is not one of the buttons last offered: "AGREE & PROCEED" (id "agree"); an answer the contact types is a "text" step'),
    ]);
  });

  it('refuses a click before any reply has offered buttons', async () => {
    await expect(runTranscript(privacyScript({ steps: [{ button: AGREE }] }))).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      issues: [{ path: 'steps.0.button', message: expect.stringContaining('no reply has offered buttons yet') }],
    });
  });

  it('takes an offered button as the API does: by its id, or by its label in any letter case', async () => {
    for (const answer of [{ button: AGREE }, { button: 'agree' }, { button: 'agree & proceed' }, { button: 'Agree & Proceed' }, { text: 'agree & proceed' }]) {
      const lines = await runTranscript(privacyScript({ steps: [{ text: 'hola' }, { after: '5s', ...answer }] }));
      expect((lines[lines.length - 1] as State).tags).toEqual(['Consent: Privacy']);
    }
    // An id is matched exactly, as the engine matches it.
    await expect(runTranscript(privacyScript({ steps: [{ text: 'hola' }, { button: 'AGREE' }] }))).rejects.toMatchObject({
      issues: [{ path: 'steps.1.button', message: expect.stringContaining('"AGREE" is not one of the buttons last offered') }],
    });
  });

  it('keeps the last buttons offered clickable after the conversation closes, as a chat app keeps them on screen', async () => {
    const lines = await runTranscript(privacyScript({ steps: [{ text: 'hola' }, { after: '6m' }, { after: '1m', button: AGREE }] }));
    const opened = lines.filter((l) => l.kind === 'event' && l.type === 'conversation.opened');
    expect(opened).toHaveLength(2);
  });

  it('in a chat, takes a button label in any letter case', async () => {
    const run = await cli(['simulate', '--template', 'request-consent-privacy'], { stdin: 'hola\n/button agree & proceed\n/state\n' });
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(lastState(run.stdout).tags).toEqual(['Consent: Privacy']);
  });

  it('in a chat, reports a button not offered on stderr, never sends it, and goes on', async () => {
    const run = await cli(['simulate', '--template', 'request-consent-privacy'], { stdin: `hola\n/button NOPE\n/button ${AGREE}\n/state\n` });
    expect(run.code).toBe(0);
    expect(stderrLines(run.stderr)).toEqual([
      'error: "NOPE" is not one of the buttons last offered: "AGREE & PROCEED" (id "agree"); to type an answer, send it as a message',
    ]);
    // Sent, NOPE would have been an invalid answer, and the question asked again.
    expect(questions(run.stdout)).toHaveLength(1);
    expect(lastState(run.stdout).tags).toEqual(['Consent: Privacy']);
  });
});

describe('simulate: lines in the order things happened', () => {
  const kinds = (lines: readonly TranscriptLine[]) =>
    lines.map((l) => (l.kind === 'reply' ? `reply ${l.options.length > 0 ? 'question' : l.text.slice(0, 12)}` : l.kind === 'event' ? `event ${l.type}` : 'state'));

  it('prints the conversation opening before the replies it started, and a recorded opt-out before its confirmation', async () => {
    const lines = await runTranscript(privacyScript({ steps: [{ text: 'hola' }, { after: '10s', text: 'STOP' }] }));
    expect(kinds(lines)).toEqual([
      'event conversation.opened',
      'reply Hi there! Be',
      'reply question',
      'event consent.withdrawn',
      'event conversation.closed',
      'reply You have bee',
      'state',
    ]);
  });

  it('prints an accepted answer as the workflow runs it: the thanks, then the tag, then the consent', async () => {
    const lines = await runTranscript(privacyScript());
    expect(kinds(lines)).toEqual([
      'event conversation.opened',
      'reply Hi there! Be',
      'reply question',
      'reply Thank you! Y',
      'event contact.tagged',
      'event consent.given',
      'state',
    ]);
  });

  it('prints a timeout as the workflow runs it: the message, the close, then the failure', async () => {
    const lines = await runTranscript(privacyScript({ steps: [{ text: 'hola' }, { after: '6m' }] }));
    expect(kinds(lines).slice(3)).toEqual(['reply We did not r', 'event conversation.closed', 'event consent.failed', 'state']);
    expect(lines[3]).toMatchObject({ at: '2026-01-01T09:05:00.000Z' });
  });

  it('shows the same order in a chat', async () => {
    const run = await cli(['simulate', '--template', 'request-consent-privacy'], { stdin: 'hola\n/quit\n' });
    const shown = run.stdout.split('\n').slice(1, 4);
    expect(shown[0]).toBe('  · event conversation.opened');
    expect(shown[1]).toMatch(/^bot> Hi there!/);
    expect(shown[2]).toMatch(/^bot> Do you agree/);
  });
});

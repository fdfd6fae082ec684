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

function writeScript(script: unknown): string {
  const file = join(dir, 'script.json');
  writeFileSync(file, JSON.stringify(script));
  return file;
}

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
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(stderrLines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toContain('"welcome-request-email"');
    expect(run.stderr).toContain('"request-consent-privacy"');
  });

  it('refuses a --channel other than the script names, naming both, and runs nothing', async () => {
    const run = await cli(['simulate', '--channel', 'sms', '--script', writeScript(privacyScript())]);
    expect(run.code).toBe(1);
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

  it('says --template is needed without --script', async () => {
    const run = await cli(['simulate'], { stdin: '/quit\n' });
    expect(run.code).toBe(1);
    expect(stderrLines(run.stderr)).toEqual([
      'error: --template is required without --script (one of request-consent-privacy, welcome-request-email, welcome-request-phone)',
    ]);
  });

  it('names an unknown channel and the known ones in one line', async () => {
    const run = await cli(['simulate', '--template', 'request-consent-privacy', '--channel', 'pigeon'], { stdin: '/quit\n' });
    expect(run.code).toBe(1);
    expect(stderrLines(run.stderr)).toEqual(['error: unknown channel "pigeon"; available: whatsapp, sms, email, messenger, telegram, webchat']);
  });

  it('names an unknown --template even beside a script', async () => {
    const run = await cli(['simulate', '--template', 'nope', '--script', writeScript(privacyScript())]);
    expect(run.code).toBe(1);
    expect(stderrLines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toContain("error [UNKNOWN_TEMPLATE]: unknown workflow template 'nope'");
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
    expect(stderrLines(run.stderr)).toEqual(['error: "xx" is not a duration such as 30s, 6m or 1h']);
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
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(stderrLines(run.stderr)).toEqual([
      'error [VALIDATION_FAILED]: Invalid transcript: steps.1.after: "99999999999h" is longer than 366 days, the most one step may wait',
    ]);
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

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runTranscript } from '../../src/cli/simulate.js';
import { cli } from './helpers.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'consentry-simulate-start-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const firstReplyAt = async (start: string): Promise<string | undefined> => {
  const lines = await runTranscript({ template: 'request-consent-privacy', start, steps: [{ after: '30s', text: 'hola' }] });
  const reply = lines.find((line) => line.kind === 'reply');
  return reply?.kind === 'reply' ? reply.at : undefined;
};

describe('simulate: the transcript start', () => {
  it.each([
    ['2026-03-01T10:00:00Z', '2026-03-01T10:00:30.000Z'],
    ['2026-03-01T10:00:00+01:00', '2026-03-01T09:00:30.000Z'],
    ['2026-03-01T10:00:00.250-05:30', '2026-03-01T15:30:30.250Z'],
    ['2026-03-01t10:00:00z', '2026-03-01T10:00:30.000Z'],
  ])('reads %s as RFC 3339 and counts from that instant', async (start, at) => {
    expect(await firstReplyAt(start)).toBe(at);
  });

  it.each([
    ['2026-03-01T10:00:00', 'has no time zone'],
    ['2026-03-01 10:00', 'has no time zone'],
    [' 2026-03-01T10:00:00 ', 'has no time zone'],
    ['01/03/2026 10:00', 'is not a date and time in'],
    ['2026-03-01T10:00:00+0100', 'is not a date and time in'],
  ])('refuses %s, naming start, in the words import and the API use', async (start, why) => {
    const form = 'ISO 8601 with a time zone, e.g. 2026-03-01T10:00:00Z (UTC) or 2026-03-01T10:00:00+01:00';
    await expect(runTranscript({ template: 'request-consent-privacy', start, steps: [] })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      issues: [{ path: 'start', message: why === 'has no time zone' ? `${JSON.stringify(start.trim())} has no time zone: write it in ${form}` : `${JSON.stringify(start)} is not a date and time in ${form}` }],
    });
  });

  it('refuses an offset that takes the start past the latest time the clock can show', async () => {
    await expect(runTranscript({ template: 'request-consent-privacy', start: '9999-12-31T23:30:00-01:00', steps: [] })).rejects.toMatchObject({
      issues: [{ path: 'start', message: '"9999-12-31T23:30:00-01:00" is after 9999-12-31T23:59:59.999Z, the latest time the simulated clock can show' }],
    });
    await expect(runTranscript({ template: 'request-consent-privacy', start: '0000-01-01T00:30:00+01:00', steps: [] })).rejects.toMatchObject({
      issues: [{ path: 'start' }],
    });
  });

  it.each(['1960-03-01T10:00:00Z', '1969-12-31T23:59:59.999Z', '1970-01-01T00:30:00+01:00'])(
    'refuses a start before 1970, %s, as the start itself, before anything runs',
    async (start) => {
      await expect(
        runTranscript({ template: 'request-consent-privacy', start, steps: [{ after: '0s', text: 'hi' }, { after: '1s', button: 'agree' }] }),
      ).rejects.toMatchObject({ code: 'VALIDATION_FAILED', issues: [{ path: 'start', message: `${JSON.stringify(start)} is before 1970-01-01T00:00:00Z` }] });
    },
  );

  it('gives the simulated contact and conversation ULIDs from a start at 1970-01-01T00:00:00Z on', async () => {
    const lines = await runTranscript({ template: 'request-consent-privacy', start: '1970-01-01T00:00:00Z', steps: [{ text: 'hi' }] });
    const opened = lines.find((line) => line.kind === 'event' && line.type === 'conversation.opened');
    expect(opened).toMatchObject({
      at: '1970-01-01T00:00:00.000Z',
      data: { contactId: expect.stringMatching(/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/), conversationId: expect.stringMatching(/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/) },
    });
  });

  it('from the command line, a start before 1970 is one line naming start, exit code 2 and nothing on stdout', async () => {
    const file = join(dir, 'early.json');
    writeFileSync(file, JSON.stringify({ template: 'request-consent-privacy', start: '1960-03-01T10:00:00Z', steps: [{ after: '0s', text: 'hi' }, { after: '1s', button: 'agree' }] }));
    const run = await cli(['simulate', '--script', file]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toEqual([`error [VALIDATION_FAILED]: ${file}: Invalid transcript: start: "1960-03-01T10:00:00Z" is before 1970-01-01T00:00:00Z`]);
  });

  it('from the command line: one line naming start, exit code 2 and nothing on stdout', async () => {
    const file = join(dir, 'script.json');
    writeFileSync(file, JSON.stringify({ template: 'request-consent-privacy', start: '2026-03-01T10:00:00', steps: [{ text: 'hola' }] }));
    const run = await cli(['simulate', '--script', file]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toEqual([
      `error [VALIDATION_FAILED]: ${file}: Invalid transcript: start: "2026-03-01T10:00:00" has no time zone: write it in ISO 8601 with a time zone, e.g. 2026-03-01T10:00:00Z (UTC) or 2026-03-01T10:00:00+01:00`,
    ]);
  });

  it('--help says what start takes', async () => {
    const run = await cli(['simulate', '--help']);
    expect(run.code).toBe(0);
    const help = run.stdout.replace(/\s+/g, ' ');
    expect(help).toContain('"start" (when the simulated clock starts) is an RFC 3339 time with Z or an offset, e.g. 2026-03-01T10:00:00+01:00');
  });
});

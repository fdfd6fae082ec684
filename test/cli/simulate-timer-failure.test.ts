import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { runTranscript } from '../../src/cli/simulate.js';
import { isConsentryError } from '../../src/core/errors.js';
import { cli } from './helpers.js';

// A run whose timer cannot be carried out (its stored state unreadable, say): the engine ends
// such a run and reports the failure in what runDueTimers answers.
vi.mock('../../src/engine/runs.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/engine/runs.js')>();
  return {
    ...actual,
    fireTimer: async () => {
      throw new Error('the run state cannot be read');
    },
  };
});

const script = { template: 'request-consent-privacy', channel: 'whatsapp', steps: [{ text: 'hola' }, { after: '6m' }, { text: 'AGREE & PROCEED' }] };

describe('simulate, when a timer fails', () => {
  it('stops the replay at the step whose time passing fired it, naming the run and the error', async () => {
    const error = await runTranscript(script).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isConsentryError(error) && error.issues).toEqual([
      { path: 'steps.1.after', message: expect.stringMatching(/^the timer of workflow run \w+ fired at 2026-01-01T09:05:00\.000Z and failed \(the run state cannot be read\); the engine ended the run$/) },
    ]);
  });

  it('fails the command instead of printing a transcript the workflow no longer drives', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'consentry-simulate-timer-'));
    try {
      const file = join(dir, 'script.json');
      writeFileSync(file, JSON.stringify(script));
      const replayed = await cli(['simulate', '--script', file]);
      expect(replayed.code).not.toBe(0);
      expect(replayed.stderr).toContain('steps.1.after: the timer of workflow run');
      expect(replayed.stdout).not.toContain('"kind":"state"');

      // A chat says so and reads the next line, as after any other error.
      const chatted = await cli(['simulate', '--template', 'request-consent-privacy'], { stdin: 'hola\n/wait 6m\n' });
      expect(chatted.stderr).toMatch(/^error: the timer of workflow run \w+ fired at .* and failed \(the run state cannot be read\); the engine ended the run$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

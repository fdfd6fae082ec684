import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { CliIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli.js';
import { READABLE_TEXT_LENGTH } from '../../src/core/text.js';
import { cli } from './helpers.js';

interface Classified {
  intent: string;
  normalized: string;
  review: boolean;
}

const results = (stdout: string): Classified[] =>
  stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Classified);

/** The CLI with stdin written as these byte chunks, as a pipe may cut them. */
async function classifyChunks(chunks: readonly Buffer[]): Promise<{ code: number; stdout: string }> {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  for (const chunk of chunks) stdin.write(chunk);
  stdin.end();
  const io: CliIo = { stdin, stdout, stderr, env: {} };
  const code = await runCli(['classify'], io);
  return { code, stdout: out };
}

describe('consentry classify reading stdin', () => {
  it('answers one line per LF, a lone CR staying inside its line, CRLF and a last line without LF read as lines', async () => {
    const run = await cli(['classify'], { stdin: 'hello\rSTOP\nSTART\r\n\nSTOP' });
    expect(run.code).toBe(0);
    expect(results(run.stdout).map(({ intent, normalized, review }) => [intent, normalized, review])).toEqual([
      ['none', 'HELLO STOP', true],
      ['opt_in', 'START', false],
      ['none', '', false],
      ['opt_out', 'STOP', false],
    ]);
  });

  it('reads a character cut between two chunks whole, and invalid UTF-8 as U+FFFD', async () => {
    const stop = Buffer.from('ＳＴＯＰ\n', 'utf8');
    const run = await classifyChunks([stop.subarray(0, 4), stop.subarray(4), Buffer.from([0x53, 0xff, 0x54, 0x0a])]);
    expect(run.code).toBe(0);
    expect(results(run.stdout).map(({ intent, normalized }) => [intent, normalized])).toEqual([
      ['opt_out', 'STOP'],
      ['none', 'S\uFFFDT'],
    ]);
  });
});

describe('consentry classify reading long texts', () => {
  const beyondReadable = `${' '.repeat(READABLE_TEXT_LENGTH + 904)}STOP`;

  it('reads the first characters of a text as the engine reads a message, as an argument and on stdin', async () => {
    for (const run of [await cli(['classify', beyondReadable]), await cli(['classify'], { stdin: `${beyondReadable}\n` })]) {
      expect(run.code).toBe(0);
      expect(results(run.stdout)).toEqual([expect.objectContaining({ intent: 'none', normalized: '', review: false })]);
    }
    const within = await cli(['classify', `${' '.repeat(READABLE_TEXT_LENGTH - 4)}STOP`]);
    expect(results(within.stdout)).toEqual([expect.objectContaining({ intent: 'opt_out', normalized: 'STOP' })]);
  });

  it('answers a line of ten million characters without failing', async () => {
    const run = await cli(['classify'], { stdin: `${'x '.repeat(5_000_000)}\nSTOP\n` });
    expect(run.code).toBe(0);
    expect(results(run.stdout).map((result) => result.intent)).toEqual(['none', 'opt_out']);
  });
});

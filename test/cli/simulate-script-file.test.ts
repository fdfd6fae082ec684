import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { cli, stderrLines, useTemporaryDatabase } from './helpers.js';

let dir: string;
useTemporaryDatabase('consentry-simulate-script-file-', (paths) => {
  ({ dir } = paths);
});

const StateSchema = z.object({ kind: z.literal('state'), tags: z.array(z.string()) });

describe('simulate --script: the file', () => {
  it('reads a JSON file that starts with a UTF-8 byte order mark, as Windows editors write it', async () => {
    const file = join(dir, 'bom.json');
    const script = { template: 'request-consent-privacy', steps: [{ text: 'hola' }, { after: '5s', button: 'AGREE & PROCEED' }] };
    writeFileSync(file, `\uFEFF${JSON.stringify(script)}`);
    const run = await cli(['simulate', '--script', file]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const last = run.stdout.trim().split('\n').at(-1) ?? '';
    expect(StateSchema.parse(JSON.parse(last)).tags).toEqual(['Consent: Privacy']);
  });

  it('names the file in front of what is wrong in the transcript', async () => {
    const file = join(dir, 's.json');
    writeFileSync(file, `\uFEFF${JSON.stringify({ template: 'request-consent-privacy', steps: [{ after: '-30s', text: 'hola' }] })}`);
    const run = await cli(['simulate', '--script', file]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    const lines = stderrLines(run);
    expect(lines).toHaveLength(1);
    expect(lines[0]?.startsWith(`error [VALIDATION_FAILED]: ${file}: Invalid transcript: steps.0.after: `), lines[0]).toBe(true);
  });

  it('names the line and column where a file stops being JSON, in one line', async () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{\n  "template": "request-consent-privacy",\n  "steps": [\n    { "text": "hola" }\n    { "after": "6m" }\n  ]\n}\n');
    const run = await cli(['simulate', '--script', file]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(stderrLines(run)).toEqual([`error: ${file} is not JSON: line 5, column 5: Expected ',' or ']' after array element`]);

    const prose = join(dir, 'prose.json');
    writeFileSync(prose, 'not json\nat all\n');
    const refused = stderrLines(await cli(['simulate', '--script', prose]));
    expect(refused).toHaveLength(1);
    // V8 quotes the text it could not start reading; its line break is written as \n.
    expect(refused[0]?.startsWith(`error: ${prose} is not JSON: line 1, column 2: Unexpected token 'o', "not json\\nat all`), refused[0]).toBe(true);
  });

  it.each([
    ['an empty file', '', 'line 1, column 1: Unexpected end of JSON input'],
    ['a file that ends inside its steps', '{\n  "template": "request-consent-privacy",\n  "steps": [\n', 'line 4, column 1: Unexpected end of JSON input'],
    // V8 quotes the part of the text around the token it could not read, as much as it chooses.
    ['a trailing comma', '{"template": "request-consent-privacy",\n "steps": [{"text": "hola"},]}', `line 2, column 29: Unexpected token ']', `],
    ['text after the object', '{"template": "request-consent-privacy", "steps": []}\n}', 'line 2, column 1: Unexpected non-whitespace character after JSON'],
  ])('names the line and column of %s', async (_what, content, where) => {
    const file = join(dir, 'cut.json');
    writeFileSync(file, content);
    const run = await cli(['simulate', '--script', file]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    const lines = stderrLines(run);
    expect(lines).toHaveLength(1);
    expect(lines[0]?.startsWith(`error: ${file} is not JSON: ${where}`), lines[0]).toBe(true);
  });

  it('counts lines of a CRLF file as an editor does, and writes the carriage returns V8 quotes as \\r', async () => {
    const file = join(dir, 'crlf.json');
    writeFileSync(file, '{\r\n  "template": "request-consent-privacy",\r\n  "steps": [,]\r\n}\r\n');
    const run = await cli(['simulate', '--script', file]);
    expect(run.code).toBe(2);
    expect(run.stderr).not.toContain('\r');
    const lines = stderrLines(run);
    expect(lines).toHaveLength(1);
    expect(lines[0]?.startsWith(`error: ${file} is not JSON: line 3, column 13: Unexpected token ',', `), lines[0]).toBe(true);
    expect(lines[0]?.endsWith(`[,]\\r\\n}\\r\\n"`), lines[0]).toBe(true);
    // "is not JSON" is said once, before the place: V8's own closing "is not valid JSON" is not repeated after it.
    expect(lines[0]).not.toContain('valid JSON');
  });

  it('refuses a file that is not UTF-8, naming the byte and where it is, and runs nothing', async () => {
    const file = join(dir, 'latin1.json');
    const text = '{"template": "request-consent-privacy",\n "steps": [{"text": "caf\u00e9"}]}';
    writeFileSync(file, Buffer.from(text, 'latin1'));
    const run = await cli(['simulate', '--script', file]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(stderrLines(run)).toEqual([`error: ${file} is not UTF-8: byte 0xE9 at byte offset ${text.indexOf('\u00e9')} (line 2); save it as UTF-8`]);
  });

  it('says in plain words that the file is missing, as import does', async () => {
    const missing = join(dir, 'missing.json');
    const run = await cli(['simulate', '--script', missing]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(stderrLines(run)).toEqual([`error: Cannot read ${missing}: no such file`]);
  });

  it('names the file and the template field in front of a template it names that does not exist', async () => {
    const file = join(dir, 'nope.json');
    writeFileSync(file, JSON.stringify({ template: 'nope', steps: [] }));
    const run = await cli(['simulate', '--script', file]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(stderrLines(run)).toEqual([
      `error [UNKNOWN_TEMPLATE]: ${file}: Invalid transcript: template: unknown template "nope": one of request-consent-privacy, welcome-request-email, welcome-request-phone`,
    ]);
  });

  it('says what a step\'s after must be when it is a number', async () => {
    const file = join(dir, 'after.json');
    writeFileSync(file, JSON.stringify({ template: 'request-consent-privacy', steps: [{ after: 30, text: 'hola' }] }));
    const run = await cli(['simulate', '--script', file]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(stderrLines(run)).toEqual([
      `error [VALIDATION_FAILED]: ${file}: Invalid transcript: steps.0.after: 30 is not a duration: write one as text, such as "30s", "6m", "4m59s" or "1h"`,
    ]);
  });
});

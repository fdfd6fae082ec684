import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/core/errors.js';
import { buildApp } from '../../src/server/app.js';
import { statusOfCode } from '../../src/server/problem.js';
import { BULK_BODY_LIMIT } from '../../src/server/routes/consents.js';
import { createMemoryStore } from '../../src/store/memory.js';

const ROOT = resolve(import.meta.dirname, '../..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
/** Where the server answers problems of its own, beside the engine's ConsentryError codes. */
const SERVER_SOURCES = ['src/server', 'src/worker', 'connectors'];
/**
 * The two calls in toProblem (src/server/problem.ts) whose code is not written at the call: a
 * ConsentryError's own code (ERROR_CODES, each at statusOfCode), and an error with a 4xx
 * statusCode that fastifyProblem does not map, answered under its Fastify code without
 * `FST_ERR_` or as BAD_REQUEST. Of Fastify's 4xx errors a request can raise, fastifyProblem maps
 * all but FST_ERR_NOT_FOUND, which answers NOT_FOUND, as does a plugin's 403 or 404 (the API docs'
 * static files, test/server/docs-static-not-found.test.ts): both codes are in the table already.
 */
const CODES_NOT_WRITTEN_AT_THE_CALL = ['src/server/problem.ts: problem(status, refused.code,', 'src/server/problem.ts: problem(statusCode, code,'];

function typeScriptFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return typeScriptFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/**
 * The codes the server answers itself: each is made by `problem(status, code, detail)`
 * (src/server/problem.ts), with the code written out or named by a constant. Every call is read,
 * so a call written some other way fails the test instead of being passed over.
 */
function serverProblemCodes(): { pairs: Map<string, Set<number>>; unread: string[] } {
  const files = SERVER_SOURCES.flatMap((dir) => typeScriptFiles(join(ROOT, dir)));
  const texts = files.map((file) => ({ file, text: readFileSync(file, 'utf8') }));
  const constants = new Map<string, string>();
  for (const { text } of texts) {
    for (const [, name, value] of text.matchAll(/\bconst\s+([A-Z][A-Z0-9_]*)\s*=\s*'([A-Z][A-Z0-9_]*)'/g)) constants.set(name ?? '', value ?? '');
  }
  const pairs = new Map<string, Set<number>>();
  const unread: string[] = [];
  for (const { file, text } of texts) {
    for (const call of text.matchAll(/(?<!function )\bproblem\(([^)]{0,120})/g)) {
      const args = /^\s*(\d{3})\s*,\s*(?:'([A-Z][A-Z0-9_]*)'|([A-Z][A-Z0-9_]*))\s*,/.exec(call[1] ?? '');
      const code = args?.[2] ?? constants.get(args?.[3] ?? '');
      if (args === null || code === undefined) {
        unread.push(`${file.slice(ROOT.length + 1)}: problem(${call[1] ?? ''}`);
        continue;
      }
      const statuses = pairs.get(code) ?? new Set<number>();
      statuses.add(Number(args[1]));
      pairs.set(code, statuses);
    }
  }
  return { pairs, unread };
}

/** Every code the server can answer, with each status it answers it with. */
function producedCodes(): Map<string, Set<number>> {
  const { pairs } = serverProblemCodes();
  for (const code of ERROR_CODES) {
    const statuses = pairs.get(code) ?? new Set<number>();
    statuses.add(statusOfCode(code));
    pairs.set(code, statuses);
  }
  return pairs;
}

/** The rows of README's `| code | HTTP status | when |` table: the code and the statuses its row names. */
function readmeTable(): { code: string; statuses: number[] }[] {
  const lines = README.split('\n');
  const header = lines.findIndex((line) => /^\|\s*code\s*\|\s*HTTP status\s*\|\s*when\s*\|\s*$/.test(line));
  if (header === -1) return [];
  const rows: { code: string; statuses: number[] }[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const [, codeCell = '', statusCell = ''] = line.split('|');
    const code = /^\s*`([A-Z][A-Z0-9_]*)`\s*$/.exec(codeCell)?.[1];
    rows.push({ code: code ?? codeCell.trim(), statuses: [...statusCell.matchAll(/\b\d{3}\b/g)].map(([status]) => Number(status)) });
  }
  return rows;
}

describe("README's table of error codes", () => {
  it('reads every problem the server makes, and finds the codes it answers itself', () => {
    const { pairs, unread } = serverProblemCodes();
    expect(unread.filter((call) => !CODES_NOT_WRITTEN_AT_THE_CALL.some((known) => call.startsWith(known)))).toEqual([]);
    expect(unread).toHaveLength(CODES_NOT_WRITTEN_AT_THE_CALL.length);
    expect([...(pairs.get('METHOD_NOT_ALLOWED') ?? [])]).toEqual([405]);
    expect([...(pairs.get('MALFORMED_JSON') ?? [])]).toEqual([400]);
    expect([...(pairs.get('HUBSPOT_UNAVAILABLE') ?? [])]).toEqual([503]);
  });

  it('has a row for every code the server can answer, naming each status it answers it with', () => {
    const table = readmeTable();
    expect(table.length, 'README.md has no "| code | HTTP status | when |" table').toBeGreaterThan(0);
    const missing: string[] = [];
    for (const [code, statuses] of producedCodes()) {
      const row = table.find((r) => r.code === code);
      if (row === undefined) missing.push(`${code}: no row`);
      else for (const status of statuses) if (!row.statuses.includes(status)) missing.push(`${code}: status ${status} not named`);
    }
    expect(missing).toEqual([]);
  });

  it('names no code the server cannot answer, and each code once', () => {
    const produced = producedCodes();
    const codes = readmeTable().map((row) => row.code);
    expect(codes.filter((code) => !produced.has(code))).toEqual([]);
    expect(codes.filter((code, index) => codes.indexOf(code) !== index)).toEqual([]);
  });

  it('states the body limits the server keeps', async () => {
    const app = await buildApp({ store: createMemoryStore() });
    try {
      expect(app.initialConfig.bodyLimit).toBe(1024 * 1024);
    } finally {
      await app.close();
    }
    // Compared as booleans: a failed toContain would print the whole README.
    expect(README.includes('Other routes take bodies up to 1 MiB'), 'README.md says "Other routes take bodies up to 1 MiB"').toBe(true);
    expect(README.includes(`${BULK_BODY_LIMIT.toLocaleString('en-US')} bytes`), `README.md names the bulk limit, ${BULK_BODY_LIMIT} bytes`).toBe(true);
  });
});

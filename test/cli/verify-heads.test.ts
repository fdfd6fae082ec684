import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { cli, useTemporaryDatabase } from './helpers.js';

let dir: string;
let db: string;
useTemporaryDatabase('consentry-verify-heads-', (paths) => {
  ({ dir, db } = paths);
});

/** Help text as one line: commander wraps it to the terminal's width. */
const flat = (text: string) => text.replace(/\s+/g, ' ');

const GUARD_NAMES = ['consent_records_append_only_update', 'consent_records_append_only_delete'];

const VerifyLineSchema = z.object({
  workspace: z.string(),
  workspaceId: z.string(),
  ok: z.boolean(),
  records: z.number(),
  chain: z.object({ ok: z.boolean(), count: z.number(), headHash: z.string().optional() }),
  triggers: z.enum(['present', 'missing', 'altered']),
  expectedHeads: z.array(z.object({ seq: z.number(), expected: z.string(), found: z.string().nullable(), ok: z.boolean() })).optional(),
});

const verifyLines = (stdout: string) =>
  stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => VerifyLineSchema.parse(JSON.parse(line)));

async function importRows(emails: readonly string[], workspace?: string): Promise<void> {
  const csv = join(dir, 'c.csv');
  writeFileSync(csv, ['email,purpose,channel,status', ...emails.map((email) => `${email},marketing,email,opted_out`)].join('\n'));
  const run = await cli(['import', csv, '--db', db, ...(workspace === undefined ? [] : ['--workspace', workspace])]);
  expect(run.code, run.stderr).toBe(0);
}

/** The head `verify` prints for the only (or the named) workspace: chain.count is its seq, chain.headHash its hash. */
async function printedHead(workspace?: string): Promise<{ seq: number; hash: string }> {
  const run = await cli(['verify', '--db', db, ...(workspace === undefined ? [] : ['--workspace', workspace])]);
  expect(run.code, run.stderr).toBe(0);
  const [line] = verifyLines(run.stdout);
  return { seq: line?.chain.count ?? 0, hash: line?.chain.headHash ?? '' };
}

/**
 * What someone with write access to the file can do unseen by the chain alone: drop the guards,
 * delete the last record, point the stored head at the one before, and delete the status row
 * that rested on it. With `restoreGuards`, the guards are put back as the migrations made them.
 */
function cutLastRecord(options: { restoreGuards: boolean }): void {
  const raw = new Database(db);
  for (const name of GUARD_NAMES) raw.exec(`DROP TRIGGER "${name}"`);
  const Last = z.object({ workspace_id: z.string(), id: z.string(), seq: z.number() });
  const last = Last.parse(raw.prepare('SELECT workspace_id, id, seq FROM consent_records ORDER BY position DESC LIMIT 1').get());
  const before = z.object({ hash: z.string() }).parse(raw.prepare('SELECT hash FROM consent_records WHERE workspace_id = ? AND seq = ?').get(last.workspace_id, last.seq - 1));
  raw.prepare('DELETE FROM consent_state WHERE record_id = ?').run(last.id);
  raw.prepare('DELETE FROM consent_records WHERE id = ?').run(last.id);
  raw.prepare('UPDATE meta SET value = ? WHERE key = ?').run(JSON.stringify({ seq: last.seq - 1, hash: before.hash }), `ledger.head.${last.workspace_id}`);
  if (options.restoreGuards) {
    for (const migration of MIGRATIONS) for (const [statement] of migration.up.matchAll(/CREATE TRIGGER consent_records_append_only_\w+[\s\S]*?\nEND;/g)) raw.exec(statement);
  }
  raw.close();
}

describe('consentry verify: the append-only guards', () => {
  it('reports the guards present on a database as Consentry made it', async () => {
    await importRows(['ana@example.com']);
    const run = await cli(['verify', '--db', db]);
    expect(run.code).toBe(0);
    expect(verifyLines(run.stdout)).toEqual([expect.objectContaining({ ok: true, triggers: 'present' })]);
  });

  it('fails when they were dropped, even where the chain is intact: "triggers":"missing", exit code 1', async () => {
    await importRows(['ana@example.com', 'bob@example.com', 'carla@example.com']);
    cutLastRecord({ restoreGuards: false });
    const run = await cli(['verify', '--db', db]);
    expect(run.code).toBe(1);
    expect(verifyLines(run.stdout)).toEqual([expect.objectContaining({ ok: false, records: 2, chain: expect.objectContaining({ ok: true }), triggers: 'missing' })]);
    expect(run.stderr.split('\n').filter((line) => line !== '')).toEqual([
      `error: ${db}: the ledger's append-only guards are missing (triggers ${GUARD_NAMES.join(', ')}): the file was changed outside Consentry, and records can now be edited or deleted without an error; check the ledger against a head kept elsewhere (--expect-head) and restore the database from a backup`,
    ]);
  });

  it('fails when one was replaced by another statement under its name: "triggers":"altered"', async () => {
    await importRows(['ana@example.com']);
    const raw = new Database(db);
    raw.exec('DROP TRIGGER consent_records_append_only_delete');
    raw.exec('CREATE TRIGGER consent_records_append_only_delete BEFORE DELETE ON consent_records BEGIN SELECT 1; END');
    raw.close();
    const run = await cli(['verify', '--db', db]);
    expect(run.code).toBe(1);
    expect(verifyLines(run.stdout)).toEqual([expect.objectContaining({ ok: false, triggers: 'altered' })]);
    expect(run.stderr).toContain("the ledger's append-only guards were changed (triggers consent_records_append_only_delete)");
  });
});

describe('consentry verify --expect-head', () => {
  it('passes for the head verify printed, taken as chain.count and chain.headHash, and for an earlier one the chain links on from', async () => {
    await importRows(['ana@example.com', 'bob@example.com']);
    const earlier = await printedHead();
    expect(earlier.seq).toBe(2);
    await importRows(['carla@example.com']);
    const now = await printedHead();
    const run = await cli(['verify', '--db', db, '--expect-head', `${earlier.seq}:${earlier.hash}`, '--expect-head', `${now.seq}:${now.hash.toUpperCase()}`]);
    expect(run.code, run.stderr).toBe(0);
    expect(verifyLines(run.stdout)).toEqual([
      expect.objectContaining({
        ok: true,
        expectedHeads: [
          { seq: 2, expected: earlier.hash, found: earlier.hash, ok: true },
          { seq: 3, expected: now.hash, found: now.hash, ok: true },
        ],
      }),
    ]);
  });

  it('catches the last record cut with the head and statuses rewritten, which the chain alone does not', async () => {
    await importRows(['ana@example.com', 'bob@example.com', 'carla@example.com']);
    const kept = await printedHead();
    cutLastRecord({ restoreGuards: true });
    const unaware = await cli(['verify', '--db', db]);
    expect(unaware.code).toBe(0);

    const run = await cli(['verify', '--db', db, '--expect-head', `${kept.seq}:${kept.hash}`]);
    expect(run.code).toBe(1);
    const [line] = verifyLines(run.stdout);
    expect(line).toMatchObject({ ok: false, records: 2, triggers: 'present', expectedHeads: [{ seq: 3, expected: kept.hash, found: null, ok: false }] });
    expect(run.stderr).toBe(
      `error: workspace "Default workspace" (${line?.workspaceId}): expected head seq 3 hash ${kept.hash}, but there is no record at seq 3: the ledger changed after that head was taken\n`,
    );
  });

  it('names the expected and the found hash when the record at that seq is another one', async () => {
    await importRows(['ana@example.com', 'bob@example.com']);
    const actual = await printedHead();
    const other = 'ab'.repeat(32);
    const run = await cli(['verify', '--db', db, '--expect-head', `2:${other}`]);
    expect(run.code).toBe(1);
    const [line] = verifyLines(run.stdout);
    expect(line?.expectedHeads).toEqual([{ seq: 2, expected: other, found: actual.hash, ok: false }]);
    expect(run.stderr).toBe(
      `error: workspace "Default workspace" (${line?.workspaceId}): expected head seq 2 hash ${other}, but the record at seq 2 has hash ${actual.hash}: the ledger changed after that head was taken\n`,
    );
  });

  it('takes <workspace>:<seq>:<hash> with several workspaces, and refuses a head that names none of those verified (exit code 2)', async () => {
    await importRows(['ana@example.com']);
    expect((await cli(['keys', 'create', '--workspace', 'Acme: Sales', '--json', '--db', db])).code).toBe(0);
    await importRows(['bob@example.com', 'carla@example.com'], 'acme: sales');
    const acme = await printedHead('Acme: Sales');

    const named = await cli(['verify', '--db', db, '--expect-head', `acme: sales:${acme.seq}:${acme.hash}`]);
    expect(named.code, named.stderr).toBe(0);
    expect(verifyLines(named.stdout).map((line) => [line.workspace, line.expectedHeads?.length ?? 0])).toEqual([
      ['Default workspace', 0],
      ['Acme: Sales', 1],
    ]);

    const unnamed = await cli(['verify', '--db', db, '--expect-head', `${acme.seq}:${acme.hash}`]);
    expect(unnamed.code).toBe(2);
    expect(unnamed.stdout).toBe('');
    expect(unnamed.stderr).toBe(
      `error: --expect-head ${acme.seq}:${acme.hash} names no workspace, and 2 workspaces are verified: write it as <workspace>:<seq>:<hash>, or verify one with --workspace\n`,
    );
    const limited = await cli(['verify', '--db', db, '--workspace', 'Acme: Sales', '--expect-head', `${acme.seq}:${acme.hash}`]);
    expect(limited.code, limited.stderr).toBe(0);

    const unknown = await cli(['verify', '--db', db, '--expect-head', `Globex:1:${acme.hash}`]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe(`error: --expect-head Globex:1:${acme.hash}: no workspace "Globex" in ${db}\n`);
    const elsewhere = await cli(['verify', '--db', db, '--workspace', 'Default workspace', '--expect-head', `Acme: Sales:1:${acme.hash}`]);
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toBe(`error: --expect-head Acme: Sales:1:${acme.hash}: no workspace "Acme: Sales" among those verified (--workspace Default workspace)\n`);
  });

  it.each([
    ['3', 'the hash must be 64 hexadecimal digits (SHA-256)'],
    [`0:${'a'.repeat(64)}`, '"0" is not a record\'s seq (1 or more)'],
    [`x:${'a'.repeat(64)}`, '"x" is not a record\'s seq (1 or more)'],
    [`3:${'g'.repeat(64)}`, 'the hash must be 64 hexadecimal digits (SHA-256)'],
    [`:3:${'a'.repeat(64)}`, 'the workspace is empty'],
  ])('refuses --expect-head %j when the command line is read (exit code 2)', async (value, why) => {
    const run = await cli(['verify', '--db', join(dir, 'nowhere.db'), '--expect-head', value]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`error: --expect-head must be a ledger head, not "${value}": ${why}; write it as <workspace>:<seq>:<hash>, or <seq>:<hash> when one workspace is verified\n`);
    expect(existsSync(join(dir, 'nowhere.db'))).toBe(false);
  });

  it('--help says where a head comes from, in the names verify, the API and export give it', async () => {
    const run = await cli(['verify', '--help']);
    expect(run.code).toBe(0);
    const help = flat(run.stdout);
    expect(help).toContain('--expect-head <[workspace:]seq:hash>');
    expect(help).toContain('(chain.count is its seq, chain.headHash its hash), from POST /v1/ledger/verify (chain.count, chain.headHash), or from an export (a record\'s seq and hash)');
    expect(help).toContain("append-only guards");
  });
});

import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DEFAULT_DATABASE_PATH, databasePath } from '../../src/cli/database.js';
import { CliFailure, type CliIo } from '../../src/cli/io.js';
import { computeRecordHash } from '../../src/core/ledger.js';
import { cli, useTemporaryDatabase } from './helpers.js';

let dir: string;
let db: string;
useTemporaryDatabase('consentry-cli-db-', (paths) => {
  ({ dir, db } = paths);
});

function ioWith(env: Record<string, string | undefined>): CliIo {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env };
}

/** Two workspaces, each with one opt-out imported: the default one and "Acme". */
async function twoWorkspaces(): Promise<void> {
  const csv = join(dir, 'c.csv');
  writeFileSync(csv, 'email,purpose,channel,status\nana@example.com,marketing,email,opted_out\n');
  expect((await cli(['import', csv, '--db', db])).code).toBe(0);
  expect((await cli(['keys', 'create', '--workspace', 'Acme', '--json', '--db', db])).code).toBe(0);
  writeFileSync(csv, 'email,purpose,channel,status\nbob@example.com,marketing,email,opted_out\n');
  expect((await cli(['import', csv, '--workspace', 'acme', '--db', db])).code).toBe(0);
}

const ExportRowSchema = z.object({
  workspace_id: z.string(),
  seq: z.number(),
  record_id: z.string(),
  contact_id: z.string(),
  email: z.string().nullable(),
  purpose: z.string(),
  channel: z.enum(['whatsapp', 'sms', 'email', 'messenger', 'webchat', 'any']),
  status: z.enum(['opted_in', 'opted_out']),
  legal_basis: z.null(),
  explanation: z.string().nullable(),
  source: z.enum(['bulk']),
  actor: z.string(),
  evidence: z.record(z.string(), z.unknown()),
  evidence_digest: z.string(),
  idempotency_key: z.string().nullable(),
  occurred_at: z.string(),
  recorded_at: z.string(),
  prev_hash: z.string(),
  hash: z.string(),
});

describe('the database a command opens', () => {
  it('an empty DATABASE_PATH counts as unset, and an empty --db is refused', () => {
    expect(databasePath({}, ioWith({ DATABASE_PATH: '' }))).toBe(DEFAULT_DATABASE_PATH);
    expect(databasePath({}, ioWith({ DATABASE_PATH: '  ' }))).toBe(DEFAULT_DATABASE_PATH);
    expect(databasePath({}, ioWith({ DATABASE_PATH: db }))).toBe(db);
    expect(() => databasePath({ db: '' }, ioWith({}))).toThrow(CliFailure);
  });

  it('commands that only read refuse a database that does not exist, and create nothing', async () => {
    const missing = join(dir, 'nodir', 'typo.db');
    for (const args of [['verify'], ['export'], ['history', 'ana@example.com']]) {
      const run = await cli([...args, '--db', missing]);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toContain(`No database at ${missing}`);
    }
    expect(existsSync(join(dir, 'nodir'))).toBe(false);
  });

  it('commands that only read refuse an empty file, and leave it empty; a command that writes makes the database in it', async () => {
    const empty = join(dir, 'empty.db');
    writeFileSync(empty, '');
    for (const args of [['verify'], ['export'], ['history', 'ana@example.com'], ['keys', 'list'], ['keys', 'revoke', 'nothing']]) {
      const run = await cli([...args, '--db', empty]);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toBe(`error: No database at ${empty}: name one with --db or DATABASE_PATH (consentry serve, import and keys create make a new one)\n`);
      expect(statSync(empty).size, args.join(' ')).toBe(0);
    }
    expect((await cli(['keys', 'create', '--db', empty])).code).toBe(0);
    expect((await cli(['keys', 'list', '--db', empty])).code).toBe(0);
  });

  it("refuses another application's SQLite database, for reading and for writing, and adds nothing to it", async () => {
    const foreign = join(dir, 'other-app.db');
    const raw = new Database(foreign);
    raw.exec('CREATE TABLE invoices (id INTEGER PRIMARY KEY, total INTEGER); CREATE INDEX invoices_total ON invoices (total);');
    raw.close();
    const csv = join(dir, 'c.csv');
    writeFileSync(csv, 'email,purpose,channel,status\nana@example.com,marketing,email,opted_out\n');
    for (const args of [['export'], ['verify'], ['keys', 'list'], ['keys', 'create'], ['import', csv]]) {
      const run = await cli([...args, '--db', foreign]);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toBe(`error: ${foreign} is not a Consentry database: it holds other tables (invoices, invoices_total) and no Consentry schema\n`);
    }
    const after = new Database(foreign, { readonly: true });
    expect(after.prepare('SELECT name FROM sqlite_master ORDER BY name').pluck().all()).toEqual(['invoices', 'invoices_total']);
    expect(after.pragma('journal_mode', { simple: true })).toBe('delete');
    after.close();
  });

  it('names a record that can no longer be read, in one line, from verify, export and history', async () => {
    const csv = join(dir, 'c.csv');
    writeFileSync(csv, 'email,purpose,channel,status\nana@example.com,marketing,email,opted_out\n');
    expect((await cli(['import', csv, '--db', db])).code).toBe(0);
    const raw = new Database(db);
    const { id } = z.object({ id: z.string() }).parse(raw.prepare('SELECT id FROM consent_records').get());
    raw.prepare("UPDATE consent_records SET evidence = 'not json'").run();
    raw.close();
    const unreadable = `consent_records row ${id} cannot be read: its evidence is not valid JSON`;

    const verify = await cli(['verify', '--db', db]);
    expect(verify.code).toBe(1);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: false, chain: { firstBad: { seq: 1, id, reason: 'unreadable', message: unreadable } } });
    expect(verify.stderr).toContain(unreadable);
    for (const args of [['export'], ['export', '--format', 'json'], ['history', 'ana@example.com']]) {
      const run = await cli([...args, '--db', db]);
      expect(run.code, args.join(' ')).toBe(1);
      expect(run.stderr, args.join(' ')).toMatch(new RegExp(`^warning: 1 record cannot be read and is (exported as a row|printed as a line) with status "unreadable": ${unreadable}\n$`));
    }
  });

  it('names a file that is not a database, and a directory, in one line', async () => {
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'this is not SQLite, just some text long enough to have a header\n'.repeat(10));
    const run = await cli(['verify', '--db', text]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`^error: ${text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not a Consentry database`));
    const folder = join(dir, 'folder');
    mkdirSync(folder);
    const onFolder = await cli(['export', '--db', folder]);
    expect(onFolder.code).toBe(2);
    expect(onFolder.stderr).toContain(`${folder} is a directory, not a database file`);
  });
});

describe('commands over several workspaces', () => {
  it('verify checks every workspace and names the one whose chain was edited; --workspace checks one', async () => {
    await twoWorkspaces();
    const clean = await cli(['verify', '--db', db]);
    expect(clean.code).toBe(0);
    const reports = clean.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(reports.map((r) => [r.workspace, r.ok, r.records])).toEqual([
      ['Default workspace', true, 1],
      ['Acme', true, 1],
    ]);

    const raw = new Database(db);
    for (const { name } of z.array(z.object({ name: z.string() })).parse(raw.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'consent_records'").all())) {
      raw.exec(`DROP TRIGGER "${name}"`);
    }
    const acmeId = z.object({ id: z.string() }).parse(raw.prepare("SELECT id FROM workspaces WHERE name = 'Acme'").get()).id;
    raw.prepare("UPDATE consent_records SET status = 'opted_in' WHERE workspace_id = ?").run(acmeId);
    raw.close();

    const edited = await cli(['verify', '--db', db]);
    expect(edited.code).toBe(1);
    expect(edited.stderr).toContain(`workspace "Acme" (${acmeId}): ledger tampered`);
    expect(edited.stderr).not.toContain('Default workspace');
    // Its chain is intact, but the database's append-only guards are gone, for every workspace in it.
    const other = await cli(['verify', '--workspace', 'Default workspace', '--db', db]);
    expect(other.code).toBe(1);
    expect(JSON.parse(other.stdout)).toMatchObject({ workspace: 'Default workspace', ok: false, chain: { ok: true }, triggers: 'missing' });
    expect(other.stderr).toContain("the ledger's append-only guards are missing");
  });

  it('export writes every workspace with what each hash covers, so the hashes can be checked from the export alone', async () => {
    await twoWorkspaces();
    const exported = await cli(['export', '--format', 'json', '--db', db]);
    expect(exported.code).toBe(0);
    const rows = z.array(ExportRowSchema).parse(JSON.parse(exported.stdout));
    expect(rows.map((row) => row.email)).toEqual(['ana@example.com', 'bob@example.com']);
    expect(new Set(rows.map((row) => row.workspace_id)).size).toBe(2);
    for (const row of rows) {
      const [kind = '', ...rest] = row.actor.split(':');
      const recomputed = computeRecordHash({
        id: row.record_id,
        workspaceId: row.workspace_id,
        seq: row.seq,
        contactId: row.contact_id,
        purpose: row.purpose,
        channel: row.channel,
        status: row.status,
        legalBasis: row.legal_basis,
        explanation: row.explanation,
        source: row.source,
        actor: { kind: z.enum(['contact', 'user', 'integration', 'system']).parse(kind), id: rest.join(':') },
        evidence: row.evidence,
        evidenceDigest: row.evidence_digest,
        occurredAt: row.occurred_at,
        recordedAt: row.recorded_at,
        idempotencyKey: row.idempotency_key,
        prevHash: row.prev_hash,
      });
      expect(recomputed).toBe(row.hash);
    }
    const csv = await cli(['export', '--workspace', 'ACME', '--db', db]);
    const lines = csv.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain('bob@example.com');
  });

  it('history finds a contact in whichever workspace holds it', async () => {
    await twoWorkspaces();
    const bob = await cli(['history', 'bob@example.com', '--db', db]);
    expect(bob.code, bob.stderr).toBe(0);
    expect(JSON.parse(bob.stdout.trim())).toMatchObject({ status: 'opted_out', channel: 'email' });
    const nobody = await cli(['history', 'eve@example.com', '--db', db]);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toContain('No contact eve@example.com');
  });
});

describe('consentry --version', () => {
  it("prints the package's version", async () => {
    const run = await cli(['--version']);
    const pkg = z.object({ version: z.string() }).parse(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')));
    expect(run.stdout.trim()).toBe(pkg.version);
  });
});

describe('a database damaged after it was opened', () => {
  it('verify and export say so in one line naming the file, with exit code 1', async () => {
    const csv = join(dir, 'many.csv');
    writeFileSync(csv, ['email,purpose,channel,status', ...Array.from({ length: 3_000 }, (_, i) => `person${i}@example.com,marketing,email,opted_out`)].join('\n'));
    expect((await cli(['import', csv, '--db', db])).code).toBe(0);
    // Overwrite pages in the middle of the file (the ledger's), leaving its header and schema readable.
    const bytes = readFileSync(db);
    const pageSize = bytes.readUInt16BE(16);
    const pages = bytes.length / pageSize;
    expect(pages).toBeGreaterThan(40);
    for (let page = Math.floor(pages / 3); page < Math.floor(pages / 3) + 10; page += 1) bytes.fill(0x5a, page * pageSize, (page + 1) * pageSize);
    writeFileSync(db, bytes);

    for (const args of [['verify'], ['export'], ['export', '--format', 'json']]) {
      const run = await cli([...args, '--db', db]);
      expect(run.code, args.join(' ')).toBe(1);
      const lines = run.stderr.split('\n').filter((line) => line !== '');
      expect(lines, args.join(' ')).toEqual([expect.stringMatching(new RegExp(`^error: .*${'consentry.db'} is damaged \\(.*SQLITE_CORRUPT.*\\): restore it from a backup`))]);
    }
  });
});

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { cli, useTemporaryDatabase } from './helpers.js';

let dir: string;
let db: string;
useTemporaryDatabase('consentry-cli-', (paths) => {
  ({ dir, db } = paths);
});

const jsonLines = (text: string): unknown[] =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as unknown);

describe('consentry classify', () => {
  it('prints the result of one text as one JSON line', async () => {
    const run = await cli(['classify', 'STOP!']);
    expect(run.code).toBe(0);
    expect(jsonLines(run.stdout)).toEqual([{ intent: 'opt_out', language: 'en', keyword: 'STOP', normalized: 'STOP', review: false }]);
  });

  it('reads one text per stdin line and answers in order', async () => {
    const run = await cli(['classify'], { stdin: 'hola\nALTO\n停止。\nplease stop texting me\n' });
    const results = jsonLines(run.stdout) as { intent: string; review: boolean }[];
    expect(results.map((r) => r.intent)).toEqual(['none', 'opt_out', 'opt_out', 'none']);
    expect(results[3]?.review).toBe(true);
  });

  it("reads with a workspace's own keywords when --workspace names it, and without a database otherwise", async () => {
    const store = createSqliteStore({ path: db });
    await createEngine({ store }).createWorkspace({ name: 'Acme', settings: { keywords: { es: { opt_out: ['BAJA'] }, en: { removed: ['END'] } } } });
    await store.close();
    const own = await cli(['classify', '--db', db, '--workspace', 'acme'], { stdin: 'baja\nEND\nSTOP\n' });
    expect(own.code, own.stderr).toBe(0);
    expect(jsonLines(own.stdout)).toEqual([
      { intent: 'opt_out', language: 'es', keyword: 'BAJA', normalized: 'BAJA', review: false },
      { intent: 'none', language: 'en', keyword: null, normalized: 'END', review: true },
      { intent: 'opt_out', language: 'en', keyword: 'STOP', normalized: 'STOP', review: false },
    ]);
    const builtIn = await cli(['classify', 'baja', '--db', join(dir, 'nowhere.db')]);
    // Not in the built-in table: a word people use to opt out, so it is flagged for a person to review.
    expect(jsonLines(builtIn.stdout)).toEqual([{ intent: 'none', language: 'es', keyword: null, normalized: 'BAJA', review: true }]);
    const unknown = await cli(['classify', 'baja', '--db', db, '--workspace', 'Globex']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('No workspace "Globex"');
    const missing = await cli(['classify', 'baja', '--db', join(dir, 'nowhere.db'), '--workspace', 'Acme']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('No database at');
  });

  it('has --help', async () => {
    const run = await cli(['classify', '--help']);
    expect(run.stdout).toContain('Usage: consentry classify');
  });
});

describe('consentry simulate --script', () => {
  it('replays a transcript and prints replies, events and the final state as JSON lines', async () => {
    const script = join(dir, 'script.json');
    writeFileSync(
      script,
      JSON.stringify({
        template: 'request-consent-privacy',
        channel: 'whatsapp',
        contact: { name: 'Ana', email: null, phone: null, tags: [] },
        steps: [{ after: '0s', text: 'hola' }, { after: '30s', button: 'AGREE & PROCEED' }, { after: '6m' }],
      }),
    );
    const run = await cli(['simulate', '--template', 'request-consent-privacy', '--script', script]);
    expect(run.code).toBe(0);
    const lines = jsonLines(run.stdout) as { kind: string; type?: string; at?: string }[];
    expect(lines.some((l) => l.kind === 'reply')).toBe(true);
    expect(lines.find((l) => l.type === 'consent.given')?.at).toBe('2026-01-01T09:00:30.000Z');
    expect(lines[lines.length - 1]).toMatchObject({ kind: 'state', tags: ['Consent: Privacy'], conversation: 'open' });
  });

  it('names the bad field of a broken transcript', async () => {
    const script = join(dir, 'bad.json');
    writeFileSync(script, JSON.stringify({ template: 'request-consent-privacy', steps: [{ after: 'soon' }] }));
    const run = await cli(['simulate', '--template', 'request-consent-privacy', '--script', script]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('steps.0.after');
  });
});

describe('consentry simulate (interactive)', () => {
  it('chats over stdin: a message, a button, time passing and the state', async () => {
    const run = await cli(['simulate', '--template', 'request-consent-privacy'], {
      stdin: 'hola\n/wait 10s\n/button AGREE & PROCEED\n/state\n/quit\n',
    });
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines.some((l) => l.startsWith('bot> ') && l.includes('[AGREE & PROCEED]'))).toBe(true);
    expect(lines).toContain('  · event consent.given');
    const state = lines.find((l) => l.startsWith('{'));
    expect(JSON.parse(state ?? '{}')).toMatchObject({ kind: 'state', tags: ['Consent: Privacy'] });
  });

  it('refuses an unknown template', async () => {
    const run = await cli(['simulate', '--template', 'nope'], { stdin: '/quit\n' });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('UNKNOWN_TEMPLATE');
  });
});

describe('consentry import / export / verify / history', () => {
  it('imports good rows, reports each bad row by line and column and changes nothing for it', async () => {
    const csv = join(dir, 'consents.csv');
    writeFileSync(
      csv,
      [
        'email,phone,purpose,channel,status,legal_basis,explanation',
        'ana@example.com,,marketing,email,opted_in,CONSENT_WITH_NOTICE,"Signed up at the shop, paper form"',
        ',+34600000001,marketing,sms,opted_out,,',
        'bob@example.com,,marketing,email,opted_in,,No basis given',
        'eve@example.com,,marketing,pigeon,opted_out,,',
      ].join('\n'),
    );
    const run = await cli(['import', csv, '--db', db]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('Imported 2 of 4 rows');
    expect(run.stderr).toMatch(/line 4: legal_basis: /);
    expect(run.stderr).toMatch(/line 5: channel: /);

    const history = await cli(['history', 'ana@example.com', '--db', db]);
    expect(jsonLines(history.stdout)).toEqual([expect.objectContaining({ purpose: 'marketing', channel: 'email', status: 'opted_in', source: 'bulk' })]);
    // Typed with a Japanese input method: a full-width at sign, wrapped in a left-to-right mark.
    const typed = await cli(['history', '\u200eana\uff20example.com', '--db', db]);
    expect(jsonLines(typed.stdout)).toEqual(jsonLines(history.stdout));
    const missing = await cli(['history', 'bob@example.com', '--db', db]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('No contact');

    const csvExport = await cli(['export', '--db', db]);
    expect(csvExport.stdout.split('\n')[0]).toBe(
      '\uFEFFworkspace_id,seq,record_id,contact_id,email,phone,purpose,channel,status,legal_basis,explanation,source,actor,evidence,evidence_digest,idempotency_key,occurred_at,recorded_at,prev_hash,hash',
    );
    expect(csvExport.stdout).toContain('"Signed up at the shop, paper form"');
    const jsonExport = await cli(['export', '--format', 'json', '--db', db]);
    expect(JSON.parse(jsonExport.stdout)).toHaveLength(2);

    const verified = await cli(['verify', '--db', db]);
    expect(verified.code).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, records: 2 });
  });

  it('verify exits 1 and names the first bad record after the database is edited', async () => {
    const csv = join(dir, 'consents.csv');
    writeFileSync(
      csv,
      ['email,purpose,channel,status,legal_basis,explanation', 'ana@example.com,marketing,email,opted_out,,', 'bob@example.com,marketing,email,opted_out,,'].join('\n'),
    );
    expect((await cli(['import', csv, '--db', db])).code).toBe(0);
    const raw = new Database(db);
    const tables = raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'consent_record%'").all() as { name: string }[];
    const table = tables[0]?.name;
    expect(table).toBeDefined();
    // Someone with write access to the file can drop the append-only guard; the chain still tells.
    const guards = raw.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?").all(table) as { name: string }[];
    for (const guard of guards) raw.exec(`DROP TRIGGER "${guard.name}"`);
    raw.prepare(`UPDATE ${table} SET status = 'opted_in' WHERE seq = 1`).run();
    raw.close();
    const run = await cli(['verify', '--db', db]);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as { ok: boolean; chain: { ok: boolean; firstBad: { seq: number; reason: string } } };
    expect(report.chain.firstBad).toMatchObject({ seq: 1, reason: 'hash_mismatch' });
    expect(run.stderr).toContain('workspace "Default workspace"');
    expect(run.stderr).toContain('ledger tampered: record');
  });

  it('uses DATABASE_PATH when --db is not given', async () => {
    const csv = join(dir, 'c.csv');
    writeFileSync(csv, 'email,purpose,channel,status\nana@example.com,marketing,email,opted_out\n');
    expect((await cli(['import', csv], { env: { DATABASE_PATH: db } })).code).toBe(0);
    const run = await cli(['export', '--format', 'json'], { env: { DATABASE_PATH: db } });
    expect(JSON.parse(run.stdout)).toHaveLength(1);
  });
});

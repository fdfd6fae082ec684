import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createEngine } from '../../src/engine.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { cli, exportedLedger, reportLines, stderrLines, useTemporaryDatabase } from './helpers.js';

let dir: string;
let db: string;
useTemporaryDatabase('consentry-import-summary-', (paths) => {
  ({ dir, db } = paths);
});

const LedgerSchema = z.array(z.object({ workspace_id: z.string(), contact_id: z.string(), email: z.string().nullable() }));
const ledger = () => exportedLedger(db, LedgerSchema);

function writeCsv(content: string, name = 'consents.csv'): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}

describe('consentry import: where the rows went', () => {
  it('says on stderr that it made a new database, and names the workspace and the database in the summary', async () => {
    const file = writeCsv('email,purpose,channel,status\nana@example.com,marketing,email,opted_out\n');
    const first = await cli(['import', file, '--db', db]);
    expect(first.code).toBe(0);
    expect(stderrLines(first)).toEqual([`created new database ${db}`]);
    const [record] = await ledger();
    expect(first.stdout.split('\n')).toEqual([
      'Imported 1 of 1 rows: 1 recorded; 0 row(s) rejected and left unchanged.',
      `Into workspace "Default workspace" (${record?.workspace_id}) of ${db}.`,
      '',
    ]);

    const second = await cli(['import', writeCsv('email,purpose,channel,status\nbob@example.com,marketing,email,opted_out\n', 'more.csv'), '--db', db]);
    expect(second.code).toBe(0);
    expect(second.stderr).toBe('');
    expect(second.stdout).toContain(`Into workspace "Default workspace" (${record?.workspace_id}) of ${db}.`);
  });

  it('says when it made the workspace in a database that had none', async () => {
    await createSqliteStore({ path: db }).close();
    const run = await cli(['import', writeCsv('email,purpose,channel,status\nana@example.com,marketing,email,opted_out\n'), '--db', db]);
    expect(run.code).toBe(0);
    const [record] = await ledger();
    expect(stderrLines(run)).toEqual([`created new workspace "Default workspace" (${record?.workspace_id}) in ${db}`]);
  });

  it('names a workspace picked with --workspace', async () => {
    const store = createSqliteStore({ path: db });
    const acme = await createEngine({ store }).createWorkspace({ name: 'Acme' });
    await store.close();
    const run = await cli(['import', writeCsv('email,purpose,channel,status\nana@example.com,marketing,email,opted_out\n'), '--db', db, '--workspace', 'acme']);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain(`Into workspace "Acme" (${acme.id}) of ${db}.`);
  });
});

describe('consentry import: rows whose every cell is empty', () => {
  it("skips Excel's empty rows of semicolons and counts them, with exit code 0", async () => {
    const file = writeCsv(['email;purpose;channel;status;legal_basis;explanation', 'ana@example.com;marketing;email;opted_out;;', ';;;;;', ';;;;;', ''].join('\r\n'));
    const run = await cli(['import', file, '--db', db]);
    expect(run.code).toBe(0);
    expect(reportLines(run)).toEqual([]);
    expect(run.stdout).toContain('Imported 1 of 1 rows: 1 recorded; 0 row(s) rejected and left unchanged. 2 empty rows skipped.');
  });

  it('skips empty rows of commas between the others, and still names the right line of a bad row after them', async () => {
    const file = writeCsv(['email,purpose,channel,status', ',,,', 'ana@example.com,marketing,email,opted_out', ' , , , ', 'bob@example.com,marketing,pigeon,opted_out'].join('\n'));
    const run = await cli(['import', file, '--db', db]);
    expect(run.code).toBe(1);
    expect(reportLines(run)).toEqual(['line 5: channel: "pigeon" is not one of whatsapp, sms, email, messenger, telegram, webchat, any']);
    expect(run.stdout).toContain('Imported 1 of 2 rows: 1 recorded; 1 row(s) rejected and left unchanged. 2 empty rows skipped.');
  });

  it('still refuses a file whose rows are all empty as one without data rows', async () => {
    const file = writeCsv(['email,purpose,channel,status', ',,,', ',,,'].join('\n'));
    const run = await cli(['import', file, '--db', db]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`error: ${file} has a header but no data rows\n`);
  });
});

describe('consentry import: row messages in the words of the file', () => {
  it('names an empty cell, a value not allowed with the value found, and the length of a long explanation', async () => {
    const explanation = 'x'.repeat(20_000);
    const file = writeCsv(
      [
        'email,purpose,channel,status,legal_basis,explanation',
        'ana@example.com,,email,opted_out,,',
        'bob@example.com,marketing,email,opted in,,',
        `carla@example.com,marketing,email,opted_in,CONSENT_WITH_NOTICE,${explanation}`,
        'dan@example.com,marketing,,,,',
      ].join('\n'),
    );
    const run = await cli(['import', file, '--db', db]);
    expect(run.code).toBe(1);
    expect(reportLines(run)).toEqual([
      'line 2: purpose: is empty; every row needs one',
      'line 3: status: "opted in" is not one of opted_in, opted_out (did you mean "opted_in"?)',
      'line 4: explanation: has 20,000 characters, at most 2,000',
      'line 5: channel: is empty; every row needs one',
      'line 5: status: is empty; every row needs one',
    ]);
  });

  it('says that an erased contact named by its id cannot have its consents changed', async () => {
    const setup = await cli(['import', writeCsv('email,purpose,channel,status\nana@example.com,marketing,email,opted_out\n', 'setup.csv'), '--db', db]);
    expect(setup.code).toBe(0);
    const [ana] = await ledger();
    const contactId = ana?.contact_id ?? '';
    const store = createSqliteStore({ path: db });
    const engine = createEngine({ store });
    const [workspace] = await engine.listWorkspaces();
    await engine.workspace(workspace?.id ?? '').eraseContact(contactId);
    await store.close();

    const run = await cli(['import', writeCsv(`contact_id,purpose,channel,status\n${contactId.toLowerCase()},marketing,sms,opted_out\n`), '--db', db]);
    expect(run.code).toBe(1);
    expect(reportLines(run)).toEqual([`line 2: contact_id: contact ${contactId} was erased: its consents cannot be changed`]);
  });
  it("refuses an opt-in that would bring an erased contact back by its e-mail or phone, and records it with --allow-erased", async () => {
    const optIn = 'email,phone,purpose,channel,status,legal_basis,explanation\n';
    const setup = await cli(['import', writeCsv(`${optIn}ana@example.com,+34600000001,marketing,email,opted_in,CONSENT_WITH_NOTICE,Newsletter form\n`, 'setup.csv'), '--db', db]);
    expect(setup.code).toBe(0);
    const [ana] = await ledger();
    const store = createSqliteStore({ path: db });
    const engine = createEngine({ store });
    await engine.workspace(ana?.workspace_id ?? '').eraseContact(ana?.contact_id ?? '');
    await store.close();

    const oldExport = writeCsv(`${optIn}Ana@Example.com,,marketing,email,opted_in,CONSENT_WITH_NOTICE,Old CRM export\n,+34 600 000 001,marketing,sms,opted_in,CONSENT_WITH_NOTICE,Old CRM export\nben@example.com,,marketing,email,opted_in,CONSENT_WITH_NOTICE,Old CRM export\n`, 'old.csv');
    const refused = await cli(['import', oldExport, '--db', db]);
    expect(refused.code).toBe(1);
    expect(reportLines(refused)).toEqual([
      'line 2: email: belonged to a contact that was erased; this row would opt the person in again (--allow-erased records it)',
      'line 3: phone: belonged to a contact that was erased; this row would opt the person in again (--allow-erased records it)',
    ]);
    expect((await ledger()).map((record) => record.email)).toEqual([null, 'ben@example.com']);

    const allowed = await cli(['import', oldExport, '--db', db, '--allow-erased']);
    expect(allowed.code).toBe(0);
    // The phone row makes a contact of its own: the e-mail row's contact has no phone.
    expect((await ledger()).map((record) => record.email)).toEqual([null, 'ben@example.com', 'ana@example.com', null]);
  });

  it('refuses an opt-in for the contact an earlier import made with an erased contact’s e-mail by an opt-out', async () => {
    const header = 'email,purpose,channel,status,legal_basis,explanation\n';
    const setup = await cli(['import', writeCsv(`${header}ana@example.com,marketing,email,opted_in,CONSENT_WITH_NOTICE,Newsletter form\n`, 'setup.csv'), '--db', db]);
    expect(setup.code).toBe(0);
    const [ana] = await ledger();
    const store = createSqliteStore({ path: db });
    await createEngine({ store }).workspace(ana?.workspace_id ?? '').eraseContact(ana?.contact_id ?? '');
    await store.close();

    const optOuts = await cli(['import', writeCsv(`${header}ana@example.com,marketing,sms,opted_out,,\n`, 'unsubscribed.csv'), '--db', db]);
    expect(optOuts.code).toBe(0);
    const optIns = writeCsv(`${header}ben@example.com,marketing,email,opted_in,CONSENT_WITH_NOTICE,Old CRM export\nAna@Example.com,marketing,email,opted_in,CONSENT_WITH_NOTICE,Old CRM export\n`, 'subscribed.csv');
    const refused = await cli(['import', optIns, '--db', db]);
    expect(refused.code).toBe(1);
    expect(reportLines(refused)).toEqual(['line 3: email: belonged to a contact that was erased; this row would opt the person in again (--allow-erased records it)']);
    expect((await ledger()).map((record) => record.email)).toEqual([null, 'ana@example.com', 'ben@example.com']);
  });
});

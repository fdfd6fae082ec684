import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, stderrLines, useTemporaryDatabase, type CliRun } from './helpers.js';

let dir: string;
let db: string;
useTemporaryDatabase('consentry-import-header-hints-', (paths) => {
  ({ dir, db } = paths);
});

function importText(text: string, name = 'consents.csv'): Promise<CliRun> {
  const file = join(dir, name);
  writeFileSync(file, text);
  return cli(['import', file, '--db', db]);
}

const HEADER_HINT =
  'the first line must name the columns: email, phone or contact_id (at least one), purpose, channel, status, and optionally legal_basis, explanation, occurred_at, idempotency_key';

/** The file was refused before anything was written: exit code 2, one line on stderr, no database made. */
function expectRefused(run: CliRun): string {
  expect(run.code).toBe(2);
  expect(run.stdout).toBe('');
  expect(existsSync(db)).toBe(false);
  const lines = stderrLines(run);
  expect(lines).toHaveLength(1);
  return lines[0] ?? '';
}

describe('consentry import: a first line that holds data', () => {
  it('says that a file without a header starts with data, before what it read as column names', async () => {
    const run = await importText('dan@example.com,marketing,email,opted_out\n', 'nohdr.csv');
    const line = expectRefused(run);
    expect(line).toBe(
      `error: ${join(dir, 'nohdr.csv')}: the first line looks like data ("dan@example.com"), not column names: ${HEADER_HINT} (read as column names: unknown column(s) "dan@example.com", "marketing", "opted_out"; missing column(s): purpose, channel, status)`,
    );
  });

  it.each([
    ['a phone number in E.164', '+34600000001;marketing;sms;opted_in;CONSENT_WITH_NOTICE;Form\n', '+34600000001'],
    ['a phone number as a spreadsheet spaces it', '+34 600 000 001,marketing,sms,opted_out\n', '+34 600 000 001'],
    ['a contact id', '01ARZ3NDEKTSV4RRFFQ69G5FAV,marketing,email,opted_out\n', '01ARZ3NDEKTSV4RRFFQ69G5FAV'],
    ['a status alone', 'someone,marketing,sms,Opted_In\n', 'Opted_In'],
  ])('takes %s on the first line for data', async (_what, text, value) => {
    const line = expectRefused(await importText(text));
    expect(line).toContain(`the first line looks like data (${JSON.stringify(value)}), not column names: ${HEADER_HINT}`);
  });

  it('names the line after a "sep=" line', async () => {
    const line = expectRefused(await importText('sep=;\nana@example.com;marketing;email;opted_out\n'));
    expect(line).toContain('line 2 looks like data ("ana@example.com"), not column names');
  });

  it('says nothing of data for a header of column names it does not know', async () => {
    const line = expectRefused(await importText('Correo,Finalidad,Canal,Estado\nana@example.com,marketing,email,opted_out\n'));
    expect(line).toContain('the header on line 1 is not valid: unknown column(s) "Correo", "Finalidad", "Canal", "Estado"');
    expect(line).not.toContain('looks like data');
  });
});

describe('consentry import: a column name near a known one', () => {
  it('suggests the column meant for a name that differs in letter case, spaces, hyphens or camelCase', async () => {
    const line = expectRefused(await importText('Contact ID,E-mail,Purpose,channel,status,legal basis,explanation,Occurred At,idempotencyKey,Notes\nx\n'));
    expect(line).toContain(
      'the header on line 1 is not valid: unknown column(s) "Contact ID" (did you mean contact_id?), "E-mail" (did you mean email?), "legal basis" (did you mean legal_basis?), "Occurred At" (did you mean occurred_at?), "idempotencyKey" (did you mean idempotency_key?), "Notes"; no email, phone or contact_id column',
    );
  });

  it('suggests the column meant for a name spreadsheets and CRM exports commonly give it, and none for an id of another system', async () => {
    const line = expectRefused(await importText('Email Address,Phone Number,Record ID,purpose,channel,Consent Status,Lawful Basis,Timestamp\nx\n'));
    expect(line).toContain(
      'unknown column(s) "Email Address" (did you mean email?), "Phone Number" (did you mean phone?), "Record ID", "Consent Status" (did you mean status?), "Lawful Basis" (did you mean legal_basis?), "Timestamp" (did you mean occurred_at?); no email, phone or contact_id column; missing column(s): status',
    );
  });

  it('still takes contactId, which is an accepted spelling of contact_id', async () => {
    const run = await importText('contactId,email,purpose,channel,status\n,ana@example.com,marketing,email,opted_out\n');
    expect(run.code).toBe(0);
  });

  it('suggests no column the file has already', async () => {
    const line = expectRefused(await importText('email,E-mail,purpose,channel,status\nana@example.com,ana@example.com,marketing,email,opted_out\n'));
    expect(line).toContain('unknown column(s) "E-mail" (');
    expect(line).not.toContain('did you mean');
  });
});

describe('consentry import: rows written with another delimiter than the header', () => {
  it('names the delimiter read from the header and the one the rows seem to use, writing nothing', async () => {
    const run = await importText(
      ['email;purpose;channel;status', 'ana@example.com,marketing,email,opted_out', '', 'bob@example.com,marketing,sms,opted_out', ';;;', ''].join('\n'),
    );
    const line = expectRefused(run);
    expect(line).toBe(
      `error: ${join(dir, 'consents.csv')}: the header on line 1 is read with semicolons (;) between the columns, but the rows seem to use commas (,): every data row is one value (line 2: "ana@example.com,marketing,email,opted_out"); write the header and the rows with the same delimiter`,
    );
  });

  it('names a tab header with semicolon rows, and the delimiter a "sep=" line names', async () => {
    const tabs = expectRefused(await importText('email\tpurpose\tchannel\tstatus\r\nana@example.com;marketing;email;opted_out\r\n', 'tabs.csv'));
    expect(tabs).toContain('the header on line 1 is read with tabs between the columns, but the rows seem to use semicolons (;)');

    const hinted = expectRefused(await importText('sep=;\nemail;purpose;channel;status\nana@example.com,marketing,email,opted_out\n', 'hinted.csv'));
    expect(hinted).toContain('the "sep=" line names semicolons (;) between the columns, but the rows seem to use commas (,)');
  });

  it('leaves a bad row among good ones to the per-row report', async () => {
    const run = await importText(['email;purpose;channel;status', 'ana@example.com;marketing;email;opted_out', 'bob@example.com,marketing,email,opted_out'].join('\n'));
    expect(run.code).toBe(1);
    expect(stderrLines(run)).toContain('line 3: has 1 value, the header names 4 columns (it seems written with commas (,) between values, where the header uses semicolons (;))');
    expect(run.stdout).toContain('Imported 1 of 2 rows: 1 recorded;');
  });

  it('leaves rows of one value with no other delimiter in them to the per-row report, saying nothing of delimiters', async () => {
    const run = await importText(['email;purpose;channel;status', 'ana@example.com', 'bob@example.com,x'].join('\n'));
    expect(run.code).toBe(1);
    expect(stderrLines(run)).toEqual(expect.arrayContaining(['line 2: has 1 value, the header names 4 columns', 'line 3: has 1 value, the header names 4 columns']));
  });

  it('names the delimiter that follows a closing quote in a row written with quoted values and another delimiter', async () => {
    const line = expectRefused(await importText('email;purpose;channel;status\n"ana@example.com","marketing","email","opted_out"\n'));
    expect(line).toBe(
      `error: ${join(dir, 'consents.csv')} is not valid CSV: the record on line 2: a closing quote is followed by more text (write a quote inside a quoted value as ""); the quote is followed by a comma (,), where the columns are read with semicolons (;): write the header and the rows with the same delimiter`,
    );
    const quoteInside = expectRefused(await importText('email,purpose,channel,status\n"ana"x@example.com,marketing,email,opted_out\n', 'inside.csv'));
    expect(quoteInside).toBe(`error: ${join(dir, 'inside.csv')} is not valid CSV: the record on line 2: a closing quote is followed by more text (write a quote inside a quoted value as "")`);
  });
});

describe('consentry import: the summary and the idempotency_key column', () => {
  it('speaks of no idempotency key for a file without that column, and of the file imported before on its re-run', async () => {
    const text = 'email,purpose,channel,status\nana@example.com,marketing,email,opted_out\n';
    const first = await importText(text);
    expect(first.code).toBe(0);
    expect(first.stdout.split('\n')[0]).toBe('Imported 1 of 1 rows: 1 recorded; 0 row(s) rejected and left unchanged.');

    const again = await importText(text);
    expect(again.code).toBe(0);
    expect(again.stdout.split('\n')[0]).toBe('Imported 1 of 1 rows: 0 recorded, 1 already recorded (the same file was imported before); 0 row(s) rejected and left unchanged.');
  });

  it('still counts the rows an idempotency_key column had recorded, 0 included', async () => {
    const run = await importText('email,purpose,channel,status,idempotency_key\nana@example.com,marketing,email,opted_out,k1\n');
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n')[0]).toBe('Imported 1 of 1 rows: 1 recorded, 0 already recorded (idempotency key); 0 row(s) rejected and left unchanged.');
  });
});

import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { CliIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli.js';
import { cli, useTemporaryDatabase, type CliRun } from './helpers.js';

let dir: string;
let db: string;
useTemporaryDatabase('consentry-import-', (paths) => {
  ({ dir, db } = paths);
});

const HEADER = 'email,phone,purpose,channel,status,legal_basis,explanation';

function writeCsv(text: string, name = 'consents.csv'): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

function importFile(file: string): Promise<CliRun> {
  return cli(['import', file, '--db', db]);
}

/** The ledger as `export --format json` prints it (an empty array when nothing was ever imported). */
async function ledger(): Promise<{ contact_id: string; channel: string; status: string }[]> {
  const run = await cli(['export', '--format', 'json', '--db', db]);
  if (run.code !== 0) return [];
  return JSON.parse(run.stdout) as { contact_id: string; channel: string; status: string }[];
}

/** Lines of the per-row report, one per bad field. */
const reportLines = (run: CliRun): string[] => run.stderr.split('\n').filter((l) => l.startsWith('line '));

describe('consentry import: line numbers', () => {
  it('names the line a record starts on when a quoted value spans lines (LF)', async () => {
    const file = writeCsv(
      [
        HEADER,
        'ana@example.com,,marketing,email,opted_in,CONSENT_WITH_NOTICE,Shop form',
        '',
        '   ',
        'bob@example.com,,marketing,email,opted_maybe,,',
        'carla@example.com,,marketing,email,opted_in,CONSENT_WITH_NOTICE,"Paper form,',
        'second page"',
        'dan@example.com,,marketing,email,opted_in,NOT_A_BASIS,"Two',
        'lines"',
        'eve@example.com,,marketing,pigeon,opted_out,,',
        '',
      ].join('\n'),
    );
    const run = await importFile(file);
    expect(run.code).toBe(1);
    expect(reportLines(run)).toEqual([
      expect.stringMatching(/^line 5: status: /),
      expect.stringMatching(/^line 8: legal_basis: /),
      expect.stringMatching(/^line 10: channel: /),
    ]);
    expect(run.stdout).toContain('Imported 2 of 5 rows');
  });

  it('counts a CRLF inside a quoted value as one line break and skips a byte order mark', async () => {
    const file = writeCsv(
      '\uFEFF' +
        [
          HEADER,
          'ana@example.com,,marketing,email,opted_in,CONSENT_WITH_NOTICE,"Paper form,\r\nsecond page"',
          'bob@example.com,,marketing,email,opted_in,,No basis given',
          '',
          'carla@example.com,,marketing,email,opted_in,CONSENT_WITH_NOTICE,"one\r\ntwo\r\nthree"',
          'dan@example.com,,marketing,pigeon,opted_out,,',
          '',
        ].join('\r\n'),
    );
    const run = await importFile(file);
    expect(run.code).toBe(1);
    expect(reportLines(run)).toEqual([expect.stringMatching(/^line 4: legal_basis: /), expect.stringMatching(/^line 9: channel: /)]);
    expect(run.stdout).toContain('Imported 2 of 4 rows');
    const records = await ledger();
    expect(records).toHaveLength(2);
  });

  it('names the line of a record with the wrong number of values and of CSV that cannot be read', async () => {
    const counted = writeCsv([HEADER, 'ana@example.com,,marketing,email,opted_out,,"Paper\r\nform"', 'bob@example.com,,marketing,email,opted_out,,,extra'].join('\r\n'));
    const wrongCount = await importFile(counted);
    expect(wrongCount.code).toBe(1);
    expect(reportLines(wrongCount)).toEqual(['line 4: has 8 values, the header names 7 columns']);

    const unclosed = writeCsv([HEADER, 'ana@example.com,,marketing,email,opted_out,,"Paper\r\nform"', 'bob@example.com,,marketing,email,opted_out,,"never closed', ''].join('\r\n'), 'bad.csv');
    const run = await importFile(unclosed);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('the record on line 4');
    expect(run.stderr).toContain('a quoted value is not closed');
  });
});

describe('consentry import: the header', () => {
  it('refuses a file with a header and no data rows', async () => {
    const run = await importFile(writeCsv(`${HEADER}\n\n`));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('has a header but no data rows');
    expect(run.stdout).not.toContain('Imported');
    expect(existsSync(db)).toBe(false);
  });

  it('refuses an empty file', async () => {
    const run = await importFile(writeCsv(''));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('is empty');
  });

  it('refuses a one-line file without a header, naming the values it took for column names', async () => {
    const run = await importFile(writeCsv('ana@example.com,marketing,email,opted_out\n'));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('unknown column(s) "ana@example.com", "marketing", "opted_out"');
    expect(run.stderr).toContain('the first line must name the columns');
    expect(await ledger()).toEqual([]);
  });

  it('refuses a header without an email, phone or contact_id column, and one missing a required column', async () => {
    const noIdentity = await importFile(writeCsv('purpose,channel,status\nmarketing,email,opted_out\n'));
    expect(noIdentity.code).toBe(2);
    expect(noIdentity.stderr).toContain('no email, phone or contact_id column');

    const noStatus = await importFile(writeCsv('email,purpose,channel\nana@example.com,marketing,email\n', 'b.csv'));
    expect(noStatus.code).toBe(2);
    expect(noStatus.stderr).toContain('missing column(s): status');
  });

  it('names unknown columns as spelled, an unnamed column by its position, and a repeated column', async () => {
    const unknown = await importFile(writeCsv('Email,Purpose,channel,status,Notes\nana@example.com,marketing,email,opted_out,x\n'));
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown column(s) "Notes"');

    const trailingComma = await importFile(writeCsv(`${HEADER},\nana@example.com,,marketing,email,opted_out,,,Paper form\n`, 'b.csv'));
    expect(trailingComma.code).toBe(2);
    expect(trailingComma.stderr).toContain('column 8 has no name, and line 2 has a value in it');
    expect(trailingComma.stderr).not.toContain('Unknown column(s) ;');

    const repeated = await importFile(writeCsv('email,purpose,channel,status,email\nana@example.com,marketing,email,opted_out,bob@example.com\n', 'c.csv'));
    expect(repeated.code).toBe(2);
    expect(repeated.stderr).toContain('column "email" appears twice (columns 1 and 5)');

    const alias = await importFile(writeCsv('contact_id,purpose,channel,status,contactid\nx,marketing,email,opted_out,y\n', 'd.csv'));
    expect(alias.code).toBe(2);
    expect(alias.stderr).toContain('"contact_id" (column 1) and "contactid" (column 5) are the same column');
    expect(await ledger()).toEqual([]);
  });

  it('accepts column names in any letter case', async () => {
    const run = await importFile(writeCsv('EMAIL,Purpose,Channel,Status\nana@example.com,marketing,email,opted_out\n'));
    expect(run.code).toBe(0);
    expect(await ledger()).toHaveLength(1);
  });
});

describe('consentry import: the per-row report', () => {
  it('names columns as the file spells them, never the engine field names', async () => {
    const file = writeCsv(
      [
        'contact_id,email,purpose,channel,status,Legal_Basis,explanation,occurred_at,idempotency_key',
        ',ana@example.com,marketing,email,opted_in,,Shop form,,',
        ',bob@example.com,marketing,email,opted_out,,,yesterday,',
        'no-such-contact,,marketing,email,opted_out,,,,',
        ',,marketing,email,opted_out,,,,',
        `,carla@example.com,marketing,email,opted_out,,,,${'k'.repeat(201)}`,
      ].join('\n'),
    );
    const run = await importFile(file);
    expect(run.code).toBe(1);
    const lines = reportLines(run);
    expect(lines).toEqual([
      expect.stringMatching(/^line 2: Legal_Basis: .*needs a Legal_Basis/),
      expect.stringMatching(/^line 3: occurred_at: /),
      expect.stringMatching(/^line 4: contact_id: /),
      expect.stringMatching(/^line 5: contact_id, email: a row needs a contact_id, an email or a phone/),
      expect.stringMatching(/^line 6: idempotency_key: /),
    ]);
    expect(run.stderr).not.toMatch(/legalBasis|contactId|contactid|occurredAt|idempotencyKey/);
  });

  it('names every bad field of a row, not only the first one the engine stops at', async () => {
    const file = writeCsv(
      [
        HEADER,
        'not-an-email,,marketing,email,opted_in,,',
        'bob@example.com,12,marketing,pigeon,opted_in,,Shop form',
        'carla@example.com,,Marketing!,email,opted_in,NOT_A_BASIS,',
      ].join('\n'),
    );
    const run = await importFile(file);
    expect(run.code).toBe(1);
    expect(reportLines(run)).toEqual([
      expect.stringMatching(/^line 2: email: /),
      expect.stringMatching(/^line 2: legal_basis: .*needs a legal_basis/),
      expect.stringMatching(/^line 2: explanation: .*needs an explanation/),
      expect.stringMatching(/^line 3: phone: /),
      expect.stringMatching(/^line 3: channel: /),
      expect.stringMatching(/^line 3: legal_basis: .*needs a legal_basis/),
      expect.stringMatching(/^line 4: purpose: /),
      expect.stringMatching(/^line 4: legal_basis: /),
      expect.stringMatching(/^line 4: explanation: .*needs an explanation/),
    ]);
    expect(run.stdout).toContain('Imported 0 of 3 rows');
    expect(await ledger()).toEqual([]);
  });
});

describe('consentry import: purposes', () => {
  it("names a purpose the workspace does not know, with the ones it does, and creates no contact for the row", async () => {
    const file = writeCsv(
      [
        HEADER,
        'ana@example.com,,marketting,email,opted_out,,',
        'bob@example.com,,marketing,email,opted_out,,',
        'carla@example.com,,surveys,email,opted_in,,',
      ].join('\n'),
    );
    const run = await importFile(file);
    expect(run.code).toBe(1);
    expect(reportLines(run)).toEqual([
      'line 2: purpose: unknown purpose "marketting": this workspace knows privacy, marketing (add its own purposes to settings.purposes)',
      expect.stringMatching(/^line 4: purpose: unknown purpose "surveys"/),
      expect.stringMatching(/^line 4: legal_basis: .*needs a legal_basis/),
      expect.stringMatching(/^line 4: explanation: .*needs an explanation/),
    ]);
    expect(run.stdout).toContain('Imported 1 of 3 rows');
    expect((await ledger()).map((record) => record.status)).toEqual(['opted_out']);
  });
});

describe('consentry import: the summary', () => {
  it('tells rows that recorded a new decision from rows whose idempotency key was already recorded', async () => {
    const file = writeCsv(
      [
        'email,phone,purpose,channel,status,legal_basis,explanation,idempotency_key',
        'ana@example.com,,marketing,email,opted_in,CONSENT_WITH_NOTICE,Shop form,shop-1',
        ',+34600000001,marketing,sms,opted_out,,,shop-2',
        'bob@example.com,,marketing,email,opted_out,,,shop-3',
        'carla@example.com,,privacy,any,opted_in,PERFORMANCE_OF_CONTRACT,Contract,shop-4',
      ].join('\n'),
    );
    const first = await importFile(file);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('Imported 4 of 4 rows: 4 recorded, 0 already recorded (idempotency key); 0 row(s) rejected');

    const again = await importFile(file);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Imported 4 of 4 rows: 0 recorded, 4 already recorded (idempotency key); 0 row(s) rejected');
    expect(await ledger()).toHaveLength(4);
  });
});

describe('consentry import: which contact a row is about', () => {
  it('refuses a row whose email and phone belong to different contacts, and changes nothing for it', async () => {
    const setup = writeCsv([HEADER, 'ana@example.com,,marketing,email,opted_out,,', ',+34600000002,marketing,sms,opted_out,,'].join('\n'), 'setup.csv');
    expect((await importFile(setup)).code).toBe(0);
    const before = await ledger();
    expect(new Set(before.map((r) => r.contact_id)).size).toBe(2);

    const file = writeCsv([HEADER, 'ana@example.com,+34 600 000 002,marketing,whatsapp,opted_out,,', 'ana@example.com,+34600000003,marketing,sms,opted_out,,'].join('\n'));
    const run = await importFile(file);
    expect(run.code).toBe(1);
    expect(reportLines(run)).toEqual(['line 2: email: belongs to a different contact than phone', 'line 2: phone: belongs to a different contact than email']);
    expect(run.stdout).toContain('Imported 1 of 2 rows');
    const after = await ledger();
    expect(after.filter((r) => r.channel === 'whatsapp')).toEqual([]);
    expect(after).toHaveLength(3);
  });

  it('refuses such a row when an earlier row of the same file creates one of the contacts', async () => {
    const file = writeCsv(
      [
        HEADER,
        'ana@example.com,,marketing,email,opted_out,,',
        ',+34600000002,marketing,sms,opted_out,,',
        'ana@example.com,+34600000002,marketing,whatsapp,opted_out,,',
        'bob@example.com,+34600000004,marketing,whatsapp,opted_out,,',
        'bob@example.com,+34600000004,marketing,sms,opted_out,,',
      ].join('\n'),
    );
    const run = await importFile(file);
    expect(run.code).toBe(1);
    expect(reportLines(run)).toEqual(['line 4: email: belongs to a different contact than phone', 'line 4: phone: belongs to a different contact than email']);
    const records = await ledger();
    expect(records.filter((r) => r.channel === 'whatsapp')).toHaveLength(1);
    expect(records).toHaveLength(4);
  });

  it('does not count on a contact that a refused row of an earlier chunk would have created', async () => {
    const setup = writeCsv(
      ['email,phone,purpose,channel,status,idempotency_key', 'ana@example.com,,marketing,email,opted_out,used-1', ',+34600000002,marketing,sms,opted_out,'].join('\n'),
      'setup.csv',
    );
    expect((await importFile(setup)).code).toBe(0);
    const filler = Array.from({ length: 499 }, (_, index) => `person${index}@example.com,,marketing,email,opted_out,`);
    const file = writeCsv(
      [
        'email,phone,purpose,channel,status,idempotency_key',
        // Refused when written (the key is already used for another contact): no contact is created.
        'zoe@example.com,,marketing,email,opted_out,used-1',
        ...filler,
        'zoe@example.com,+34600000002,marketing,whatsapp,opted_out,',
      ].join('\n'),
    );
    const run = await importFile(file);
    expect(reportLines(run)).toEqual([expect.stringMatching(/^line 2: idempotency_key: /)]);
    const phoneContact = (await ledger()).find((r) => r.channel === 'sms')?.contact_id;
    expect((await ledger()).filter((r) => r.channel === 'whatsapp').map((r) => r.contact_id)).toEqual([phoneContact]);
  });

  it('names the record and the contact a reused idempotency_key recorded, and that the row is about another contact, besides what else differs', async () => {
    const file = writeCsv(
      [
        'email,purpose,channel,status,legal_basis,explanation,idempotency_key',
        'k1@example.com,marketing,email,opted_in,CONSENT_WITH_NOTICE,form,crm-1',
        'k1@example.com,marketing,email,opted_in,CONSENT_WITH_NOTICE,form,crm-1',
        'k2@example.com,marketing,email,opted_out,,,crm-1',
        'k1@example.com,marketing,email,opted_out,,,crm-1',
        'k3@example.com,marketing,email,opted_in,CONSENT_WITH_NOTICE,form,crm-1',
      ].join('\n'),
    );
    const run = await importFile(file);
    expect(run.code).toBe(1);
    const [k1, ...others] = z.array(z.object({ record_id: z.string(), contact_id: z.string(), email: z.string() })).parse(await ledger());
    expect(others).toEqual([]);
    expect(reportLines(run)).toEqual([
      `line 4: idempotency_key: already used for a different change (it recorded ${k1?.record_id ?? ''} for contact ${k1?.contact_id ?? ''}; this row differs in contact, status, legal_basis, explanation)`,
      `line 5: idempotency_key: already used for a different change (it recorded ${k1?.record_id ?? ''}; this row differs in status, legal_basis, explanation)`,
      `line 6: idempotency_key: already used for a different change (it recorded ${k1?.record_id ?? ''} for contact ${k1?.contact_id ?? ''}; this row differs in contact)`,
    ]);
  });

  it('refuses a row whose contact_id and email name different contacts', async () => {
    const setup = writeCsv([HEADER, 'ana@example.com,,marketing,email,opted_out,,', 'bob@example.com,,marketing,email,opted_out,,'].join('\n'), 'setup.csv');
    expect((await importFile(setup)).code).toBe(0);
    const [ana, bob] = await ledger();
    expect(ana && bob).toBeTruthy();
    const file = writeCsv(
      ['contact_id,email,purpose,channel,status', `${ana?.contact_id ?? ''},bob@example.com,marketing,sms,opted_out`, `${bob?.contact_id ?? ''},bob@example.com,marketing,sms,opted_out`].join('\n'),
    );
    const run = await importFile(file);
    expect(run.code).toBe(1);
    expect(reportLines(run)).toEqual(['line 2: contact_id: belongs to a different contact than email', 'line 2: email: belongs to a different contact than contact_id']);
    expect((await ledger()).filter((r) => r.channel === 'sms').map((r) => r.contact_id)).toEqual([bob?.contact_id]);
  });
});

describe('consentry import: the progress bar', () => {
  async function importWithStderr(file: string, isTTY: boolean): Promise<{ code: number; stderr: string }> {
    const stdout = new PassThrough();
    const stderr = Object.assign(new PassThrough(), { isTTY });
    let err = '';
    stdout.resume();
    stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const io: CliIo = { stdin: new PassThrough(), stdout, stderr, env: {} };
    const code = await runCli(['import', file, '--db', db], io);
    return { code, stderr: err };
  }

  it('draws the bar on a terminal only', async () => {
    const file = writeCsv([HEADER, 'ana@example.com,,marketing,email,opted_out,,', 'bob@example.com,,marketing,email,opted_out,,'].join('\n'));
    const onTerminal = await importWithStderr(file, true);
    expect(onTerminal.code).toBe(0);
    expect(onTerminal.stderr).toContain('2/2 rows');
    const piped = await importWithStderr(file, false);
    expect(piped.code).toBe(0);
    expect(piped.stderr).toBe('');
  });
});

describe('consentry import: --actor', () => {
  const rows = [HEADER, 'ana@example.com,,marketing,email,opted_out,,', 'bob@example.com,,marketing,pigeon,opted_out,,', ',+34600000001,marketing,sms,opted_out,,'].join('\n');

  it.each([
    ['empty', '', '--actor must name who is importing (an id such as "cli"), not be empty'],
    ['blank', '   ', '--actor must name who is importing (an id such as "cli"), not be empty'],
    ['201 characters long', 'a'.repeat(201), '--actor must be at most 200 characters, not 201'],
  ])('refuses an --actor that is %s once, as an option error, before reading the file or opening the database', async (_what, actor, message) => {
    const run = await cli(['import', writeCsv(rows), '--actor', actor, '--db', db]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.split('\n').filter((l) => l !== '')).toEqual([`error: ${message}`]);
    expect(existsSync(db)).toBe(false);
  });

  it('names the bad --actor rather than a file it has not read yet', async () => {
    const run = await cli(['import', join(dir, 'missing.csv'), '--actor', '', '--db', db]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('error: --actor must name who is importing');
    expect(run.stderr).not.toContain('missing.csv');
  });

  it('exits with the code of the other usage errors', async () => {
    const unknownOption = await cli(['import', writeCsv(rows), '--actr', 'ana', '--db', db]);
    const badActor = await cli(['import', writeCsv(rows), '--actor', '', '--db', db]);
    expect(unknownOption.code).not.toBe(0);
    expect(badActor.code).toBe(unknownOption.code);
  });

  it('records a valid --actor, up to 200 characters, on every imported record', async () => {
    const actor = 'a'.repeat(200);
    const run = await cli(['import', writeCsv(rows), '--actor', actor, '--db', db]);
    expect(run.code).toBe(1);
    expect(reportLines(run)).toEqual([expect.stringMatching(/^line 3: channel: /)]);
    const exported = await cli(['export', '--format', 'json', '--db', db]);
    const records = z.array(z.object({ actor: z.string() })).parse(JSON.parse(exported.stdout));
    expect(records.map((r) => r.actor)).toEqual([`user:${actor}`, `user:${actor}`]);
  });
});

describe('consentry import: --workspace', () => {
  it('names a missing database instead of making one, when the workspace it names cannot be in it', async () => {
    const run = await cli(['import', writeCsv([HEADER, 'ana@example.com,,marketing,email,opted_out,,'].join('\n')), '--workspace', 'Acme', '--db', db]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`No database at ${db}`);
    expect(existsSync(db)).toBe(false);
  });
});

describe('consentry export: --format', () => {
  it('names a bad --format before it opens the database', async () => {
    const run = await cli(['export', '--format', 'xml', '--db', join(dir, 'missing.db')]);
    expect(run.code).toBe(2);
    expect(run.stderr.split('\n').filter((l) => l !== '')).toEqual(['error: --format must be csv or json, not "xml"']);
  });
});

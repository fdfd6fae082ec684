import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { withEngine } from '../../src/cli/database.js';
import { importCsv, readImportFile } from '../../src/cli/import.js';
import type { CliIo } from '../../src/cli/io.js';
import { cli, useTemporaryDatabase, type CliRun } from './helpers.js';

let dir: string;
let db: string;
useTemporaryDatabase('consentry-import-repeats-', (paths) => {
  ({ dir, db } = paths);
});

function importRows(header: string, rows: readonly string[], name = 'consents.csv'): Promise<CliRun> {
  const file = join(dir, name);
  writeFileSync(file, [header, ...rows].join('\n'));
  return cli(['import', file, '--db', db]);
}

const LedgerSchema = z.array(z.object({ contact_id: z.string(), email: z.string().nullable(), status: z.string() }));

async function ledger(): Promise<z.infer<typeof LedgerSchema>> {
  const run = await cli(['export', '--format', 'json', '--db', db]);
  expect(run.code).toBe(0);
  return LedgerSchema.parse(JSON.parse(run.stdout));
}

const NO_KEY_HINT = 'without an idempotency_key column, only a re-run of the very same file records nothing';

describe('consentry import: rows that repeat the status in force', () => {
  const header = 'email,purpose,channel,status,legal_basis,explanation';
  const rows = [
    'ana@example.com,marketing,email,opted_in,CONSENT_WITH_NOTICE,Shop form',
    'bob@example.com,marketing,sms,opted_out,,',
    'carla@example.com,privacy,any,opted_in,PERFORMANCE_OF_CONTRACT,Contract',
  ];

  it('says how many rows of an edited file without idempotency keys recorded their status again', async () => {
    const first = await importRows(header, rows);
    expect(first.code).toBe(0);
    expect(first.stdout).not.toContain('repeated');

    // The same rows in another order: another file, whose rows are not keyed as the first file's were.
    const again = await importRows(header, [...rows].reverse());
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(
      `Imported 3 of 3 rows: 3 recorded; 0 row(s) rejected and left unchanged. 3 rows repeated a status already in force (recorded again; ${NO_KEY_HINT}).`,
    );
    expect(await ledger()).toHaveLength(6);
  });

  it('follows the status in force through the rows of a file, within a slice and from one slice to the next', async () => {
    const filler = Array.from({ length: 600 }, (_, index) => `person${index}@example.com,marketing,email,opted_out,,`);
    const run = await importRows(header, [
      'ana@example.com,marketing,email,opted_in,CONSENT_WITH_NOTICE,Shop form',
      'ana@example.com,marketing,email,opted_out,,',
      'ana@example.com,marketing,email,opted_out,,',
      'bob@example.com,marketing,sms,opted_out,,',
      ...filler,
      'bob@example.com,marketing,sms,opted_out,,',
      'bob@example.com,marketing,email,opted_out,,',
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Imported 606 of 606 rows: 606 recorded');
    expect(run.stdout).toContain(`2 rows repeated a status already in force (recorded again; ${NO_KEY_HINT}).`);
  });

  it('keeps the later decision in force when a row tells of an older one', async () => {
    expect((await importRows('email,purpose,channel,status,occurred_at', ['ana@example.com,marketing,email,opted_out,2026-03-01T10:00:00Z'], 'setup.csv')).code).toBe(0);
    const run = await importRows('email,purpose,channel,status,legal_basis,explanation,occurred_at', [
      'ana@example.com,marketing,email,opted_in,CONSENT_WITH_NOTICE,Paper form,2026-01-15T09:00:00Z',
      'ana@example.com,marketing,email,opted_out,,,',
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`1 row repeated a status already in force (recorded again; ${NO_KEY_HINT}).`);
  });

  it('finds the contact a row names by contact_id or phone, and compares the same purpose and channel only', async () => {
    const setup = await importRows('email,phone,purpose,channel,status', ['ana@example.com,+34600000001,marketing,sms,opted_out', 'ana@example.com,,marketing,any,opted_out'], 'setup.csv');
    expect(setup.code).toBe(0);
    const [ana] = await ledger();
    const run = await importRows('contact_id,phone,purpose,channel,status', [
      `${ana?.contact_id ?? ''},,marketing,sms,opted_out`,
      ',+34 600 000 001,marketing,sms,opted_out',
      // Withdrawn on `any`, but this channel has no status of its own yet.
      ',+34600000001,marketing,email,opted_out',
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Imported 3 of 3 rows: 3 recorded');
    expect(run.stdout).toContain('2 rows repeated a status already in force');
  });

  it('counts neither a row its idempotency key already recorded nor one that changes the status, and says why a keyed row was recorded again', async () => {
    const keyed = 'email,purpose,channel,status,legal_basis,explanation,idempotency_key';
    expect((await importRows(keyed, ['ana@example.com,marketing,email,opted_out,,,shop-1', 'bob@example.com,marketing,email,opted_out,,,shop-2'], 'first.csv')).code).toBe(0);
    const run = await importRows(keyed, [
      'ana@example.com,marketing,email,opted_out,,,shop-1',
      'bob@example.com,marketing,email,opted_out,,,shop-3',
      'bob@example.com,marketing,sms,opted_out,,,shop-4',
      'ana@example.com,marketing,email,opted_in,CONSENT_WITH_NOTICE,Shop form,shop-5',
    ]);
    expect(run.code).toBe(0);
    const summary = run.stdout;
    expect(summary).toContain('Imported 4 of 4 rows: 3 recorded, 1 already recorded (idempotency key); 0 row(s) rejected');
    expect(summary).toContain('1 row repeated a status already in force (recorded again; its idempotency_key was empty or new).');
  });
});

describe('consentry import: values a recorded row could not give its contact', () => {
  it("warns, by line and column, about an e-mail the contact its phone names already has another of, and records the row", async () => {
    const header = 'email,phone,purpose,channel,status';
    const first = await importRows(header, ['ana@example.com,+34600000001,marketing,sms,opted_out']);
    expect(first.code).toBe(0);
    const second = await importRows(header, ['Ana.New@example.com,+34 600 000 001,marketing,email,opted_out'], 'second.csv');
    expect(second.code).toBe(0);
    expect(second.stderr).toMatch(/^warning: line 2: email: the contact this row names by phone has another e-mail; this one was not added to it/m);
    expect(second.stdout).toContain('1 recorded row had a value the contact was not given (see the warnings).');
    const records = await ledger();
    expect(records.map((record) => record.email)).toEqual(['ana@example.com', 'ana@example.com']);
  });
});

describe('consentry import: rows older than the decision in force', () => {
  it('says how many recorded rows are older than the decision in force and changed nothing', async () => {
    const header = 'email,purpose,channel,status,legal_basis,explanation,occurred_at';
    expect((await importRows(header, ['ana@example.com,marketing,email,opted_out,,,2026-01-02T00:00:00Z'])).code).toBe(0);
    const late = await importRows(header, [
      'ana@example.com,marketing,email,opted_in,CONSENT_WITH_NOTICE,Paper form,2025-06-01T00:00:00Z',
      'bob@example.com,marketing,email,opted_in,CONSENT_WITH_NOTICE,Paper form,2025-06-01T00:00:00Z',
    ]);
    expect(late.code).toBe(0);
    expect(late.stdout).toContain(
      'Imported 2 of 2 rows: 2 recorded; 0 row(s) rejected and left unchanged. 1 recorded row is older than the decision in force for its contact, purpose and channel: it is kept in the ledger but changed no status and raised no event.',
    );
    const ana = (await ledger()).filter((record) => record.email === 'ana@example.com');
    expect(ana.map((record) => record.status)).toEqual(['opted_out', 'opted_in']);
  });
});

describe('consentry import: a file with the content of one imported before', () => {
  const header = 'email,purpose,channel,status,legal_basis,explanation';
  const unsubscribe = 'ana@example.com,marketing,email,opted_out,,';

  it('refuses a line whose earlier import another decision has overtaken since, instead of answering it "already recorded"', async () => {
    expect((await importRows(header, [unsubscribe], 'unsubscribes-week-02.csv')).code).toBe(0);
    expect((await importRows(header, ['ana@example.com,marketing,email,opted_in,CONSENT_WITH_NOTICE,Web form'], 'signups.csv')).code).toBe(0);

    const weekNine = await importRows(header, [unsubscribe], 'unsubscribes-week-09.csv');
    expect(weekNine.code).toBe(1);
    expect(weekNine.stderr).toContain('line 2: this line of a file with the same content (SHA-256) was imported before, and another decision now stands');
    expect(weekNine.stdout).toContain('Imported 0 of 1 rows: 0 recorded; 1 row(s) rejected and left unchanged.');
    expect((await ledger()).map((record) => record.status)).toEqual(['opted_out', 'opted_in']);

    // With a column that tells it apart, the same unsubscribe is recorded as the decision it is.
    const keyed = await importRows(`${header},idempotency_key`, [`${unsubscribe},crm-unsubscribe-week-09`], 'unsubscribes-week-09-keyed.csv');
    expect(keyed.code).toBe(0);
    expect((await ledger()).map((record) => record.status)).toEqual(['opted_out', 'opted_in', 'opted_out']);
  });

  it('refuses an all-channel line that a later decision on one channel has overtaken since', async () => {
    const phoneHeader = 'phone,purpose,channel,status,legal_basis,explanation';
    const stopAll = '+34600000001,marketing,any,opted_out,,';
    expect((await importRows(phoneHeader, [stopAll], 'unsubscribes-week-02.csv')).code).toBe(0);
    // The person opted in again on WhatsApp since: that decision stands there.
    expect((await importRows(phoneHeader, ['+34600000001,marketing,whatsapp,opted_in,CONSENT_WITH_NOTICE,Web form'], 'signups.csv')).code).toBe(0);

    const weekNine = await importRows(phoneHeader, [stopAll], 'unsubscribes-week-09.csv');
    expect(weekNine.code).toBe(1);
    expect(weekNine.stderr).toContain('line 2: this line of a file with the same content (SHA-256) was imported before, and another decision now stands');
    expect(weekNine.stdout).toContain('Imported 0 of 1 rows: 0 recorded; 1 row(s) rejected and left unchanged.');
    expect((await ledger()).map((record) => record.status)).toEqual(['opted_out', 'opted_in']);
  });

  it('refuses a line on one channel that a later all-channel decision has overtaken since', async () => {
    const optIn = 'ana@example.com,marketing,email,opted_in,CONSENT_WITH_NOTICE,Web form';
    expect((await importRows(header, [optIn], 'signups-week-02.csv')).code).toBe(0);
    expect((await importRows(header, ['ana@example.com,marketing,any,opted_out,,'], 'stop-all.csv')).code).toBe(0);

    const weekNine = await importRows(header, [optIn], 'signups-week-09.csv');
    expect(weekNine.code).toBe(1);
    expect(weekNine.stderr).toContain('another decision now stands');
    expect(await ledger()).toHaveLength(2);
  });

  it('answers a re-run of the same file "already recorded" when its own later lines overtook an all-channel line on some channels', async () => {
    const lines = ['ana@example.com,marketing,any,opted_out,,', 'ana@example.com,marketing,whatsapp,opted_in,CONSENT_WITH_NOTICE,Web form', unsubscribe];
    expect((await importRows(header, lines)).code).toBe(0);
    const rerun = await importRows(header, lines);
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toContain('Imported 3 of 3 rows: 0 recorded, 3 already recorded (the same file was imported before); 0 row(s) rejected and left unchanged.');
    expect(await ledger()).toHaveLength(3);
  });

  describe('when a line of the same file was recorded after the decision from elsewhere', () => {
    const phoneHeader = 'phone,purpose,channel,status,legal_basis,explanation';
    const stopAll = '+34600000001,marketing,any,opted_out,,';
    const whatsappOptIn = '+34600000001,marketing,whatsapp,opted_in,CONSENT_WITH_NOTICE,Web form';
    const smsOptIn = '+34600000001,marketing,sms,opted_in,CONSENT_WITH_NOTICE,Shop';
    const quietIo = (): CliIo => ({ stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough(), env: {} });
    const PhoneLedgerSchema = z.array(z.object({ channel: z.string(), status: z.string() }));
    const phoneLedger = async (): Promise<string[]> => {
      const run = await cli(['export', '--format', 'json', '--db', db]);
      expect(run.code).toBe(0);
      return PhoneLedgerSchema.parse(JSON.parse(run.stdout)).map((record) => `${record.channel} ${record.status}`);
    };

    it('refuses the all-channel line on every re-run, though the file\'s own later line overtook it on another channel after that decision', async () => {
      // An erased contact had the number: the file's opt-in line is refused on the first run (held address).
      await withEngine({ db }, quietIo(), async (_engine, workspace) => {
        const erased = await workspace.createContact({ phone: '+34600000001' });
        await workspace.eraseContact(erased.id);
      });
      const weekly = join(dir, 'weekly.csv');
      writeFileSync(weekly, [phoneHeader, stopAll, whatsappOptIn].join('\n'));
      const first = await cli(['import', weekly, '--db', db]);
      expect(first.code).toBe(1);
      expect(first.stderr).toContain('line 3: phone: belonged to a contact that was erased');

      // A decision from elsewhere: the person opts in on SMS (--allow-erased ends the hold).
      const signup = join(dir, 'signup.csv');
      writeFileSync(signup, [phoneHeader, smsOptIn].join('\n'));
      expect((await cli(['import', signup, '--db', db, '--allow-erased'])).code).toBe(0);

      // The same bytes again: the SMS opt-in overtook the STOP ALL line there; the WhatsApp line is recorded now, after it.
      const second = await cli(['import', weekly, '--db', db]);
      expect(second.code).toBe(1);
      expect(second.stderr).toContain('line 2: this line of a file with the same content (SHA-256) was imported before, and another decision now stands');
      expect(second.stdout).toContain('Imported 1 of 2 rows: 1 recorded; 1 row(s) rejected and left unchanged.');
      const recorded = await phoneLedger();
      expect(recorded).toEqual(['any opted_out', 'sms opted_in', 'whatsapp opted_in']);

      // Nothing changed since: the SMS opt-in still overtakes the STOP ALL line, so the answer is the same.
      const third = await cli(['import', weekly, '--db', db]);
      expect(third.code).toBe(1);
      expect(third.stderr).toContain('line 2: this line of a file with the same content (SHA-256) was imported before, and another decision now stands');
      expect(third.stdout).toContain('Imported 1 of 2 rows: 0 recorded, 1 already recorded (the same file was imported before); 1 row(s) rejected and left unchanged.');
      expect(await phoneLedger()).toEqual(recorded);
    });

    it('refuses the all-channel line on every run that finishes an interrupted import after a decision from elsewhere', async () => {
      // The STOP ALL line is in the first slice, the WhatsApp line past it: the first run stops after one slice.
      const others = Array.from({ length: 499 }, (_, index) => `+3460010${String(index).padStart(4, '0')},marketing,email,opted_out,,`);
      const weekly = join(dir, 'weekly.csv');
      writeFileSync(weekly, [phoneHeader, stopAll, ...others, whatsappOptIn].join('\n'));
      const interruption = new AbortController();
      const summary = await withEngine({ db }, quietIo(), async (_engine, workspace) =>
        importCsv(
          {
            ...workspace,
            bulkSetConsent: (slice, by) => {
              interruption.abort();
              return workspace.bulkSetConsent(slice, by);
            },
          },
          await readImportFile(weekly),
          quietIo(),
          'cli',
          null,
          { signal: interruption.signal },
        ),
      );
      expect(summary).toMatchObject({ rows: 500, recorded: 500, rejected: 0, interrupted: { throughLine: 501 } });

      const signup = join(dir, 'signup.csv');
      writeFileSync(signup, [phoneHeader, smsOptIn].join('\n'));
      expect((await cli(['import', signup, '--db', db])).code).toBe(0);

      const finish = await cli(['import', weekly, '--db', db]);
      expect(finish.code).toBe(1);
      expect(finish.stderr).toContain('line 2: this line of a file with the same content (SHA-256) was imported before, and another decision now stands');
      expect(finish.stdout).toContain('Imported 500 of 501 rows: 1 recorded, 499 already recorded (the same file was imported before); 1 row(s) rejected and left unchanged.');

      const again = await cli(['import', weekly, '--db', db]);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('line 2: this line of a file with the same content (SHA-256) was imported before, and another decision now stands');
      expect(again.stdout).toContain('Imported 500 of 501 rows: 0 recorded, 500 already recorded (the same file was imported before); 1 row(s) rejected and left unchanged.');
    });
  });

  it('answers a re-run of the same file "already recorded" when its own later lines overtook its earlier ones', async () => {
    const lines = ['ana@example.com,marketing,email,opted_in,CONSENT_WITH_NOTICE,Web form', unsubscribe];
    expect((await importRows(header, lines)).code).toBe(0);
    const rerun = await importRows(header, lines);
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toContain('Imported 2 of 2 rows: 0 recorded, 2 already recorded (the same file was imported before); 0 row(s) rejected and left unchanged.');
    expect(await ledger()).toHaveLength(2);
  });
});

describe('consentry import: a dated line of a file imported before', () => {
  const header = 'email,purpose,channel,status,legal_basis,explanation,occurred_at';
  const signup = 'ana@example.com,marketing,email,opted_in,CONSENT_WITH_NOTICE,Web form';
  const NOT_IN_EFFECT = '1 recorded row is older than the decision in force for its contact, purpose and channel';

  it('answers a line dated before the decision in force, recorded not in effect, "already recorded" on the re-run', async () => {
    expect((await importRows('email,purpose,channel,status,legal_basis,explanation', [signup], 'signups.csv')).code).toBe(0);

    const old = ['ana@example.com,marketing,email,opted_out,,,2025-06-01T00:00:00Z'];
    const first = await importRows(header, old, 'old-unsubscribes.csv');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`Imported 1 of 1 rows: 1 recorded; 0 row(s) rejected and left unchanged. ${NOT_IN_EFFECT}`);

    // The same file again, as to finish an interrupted import: the decision in force was there on the first run too.
    for (const run of [await importRows(header, old, 'old-unsubscribes.csv'), await importRows(header, old, 'old-unsubscribes-copy.csv')]) {
      expect(run.code).toBe(0);
      expect(run.stderr).not.toContain('line 2:');
      expect(run.stdout).toContain('Imported 1 of 1 rows: 0 recorded, 1 already recorded (the same file was imported before); 0 row(s) rejected and left unchanged.');
    }
    expect((await ledger()).map((record) => record.status)).toEqual(['opted_in', 'opted_out']);
  });

  it('refuses a dated all-channel line once a decision is made elsewhere since, not for the one in force before it', async () => {
    const phoneHeader = 'phone,purpose,channel,status,legal_basis,explanation,occurred_at';
    expect((await importRows(phoneHeader, ['+34600000001,marketing,whatsapp,opted_in,CONSENT_WITH_NOTICE,Web form,'], 'whatsapp-signups.csv')).code).toBe(0);
    const stopAll = ['+34600000001,marketing,any,opted_out,,,2025-06-01T00:00:00Z'];
    expect((await importRows(phoneHeader, stopAll, 'old-stop-all.csv')).code).toBe(0);

    const rerun = await importRows(phoneHeader, stopAll, 'old-stop-all.csv');
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toContain('Imported 1 of 1 rows: 0 recorded, 1 already recorded (the same file was imported before); 0 row(s) rejected and left unchanged.');

    // The person opts in on SMS since: that decision overtakes the STOP ALL line there.
    expect((await importRows(phoneHeader, ['+34600000001,marketing,sms,opted_in,CONSENT_WITH_NOTICE,Shop,'], 'sms-signups.csv')).code).toBe(0);
    const after = await importRows(phoneHeader, stopAll, 'old-stop-all.csv');
    expect(after.code).toBe(1);
    expect(after.stderr).toContain(
      'line 2: this line of a file with the same content (SHA-256) was imported before, and another decision now stands for its contact, purpose and channel: it was not recorded again; ' +
        'to record it as a new decision, put the time the new decision was made in its occurred_at (it has the time of the one recorded before), or give the file an idempotency_key column',
    );
    expect(after.stdout).toContain('Imported 0 of 1 rows: 0 recorded; 1 row(s) rejected and left unchanged.');
  });
});

describe('consentry import: what the refusal of a line overtaken since asks of the file', () => {
  const base = 'ana@example.com,marketing,email,opted_out,,';
  const PREFIX =
    'line 2: this line of a file with the same content (SHA-256) was imported before, and another decision now stands for its contact, purpose and channel: it was not recorded again; to record it as a new decision, ';

  it.each([
    { file: 'without an occurred_at or idempotency_key column', columns: '', cells: '', advice: 'give the file an occurred_at or idempotency_key column' },
    { file: 'with an empty occurred_at', columns: ',occurred_at', cells: ',', advice: 'fill in its occurred_at, or give the file an idempotency_key column' },
    {
      file: 'with an occurred_at filled in, spelled its own way',
      columns: ',Occurred_At',
      cells: ',2026-01-02T00:00:00Z',
      advice: 'put the time the new decision was made in its Occurred_At (it has the time of the one recorded before), or give the file an idempotency_key column',
    },
    { file: 'with an empty idempotency_key', columns: ',idempotency_key', cells: ',', advice: 'give the file an occurred_at column, or fill in its idempotency_key' },
    { file: 'with both columns empty', columns: ',occurred_at,idempotency_key', cells: ',,', advice: 'fill in its occurred_at, or fill in its idempotency_key' },
  ])('asks for no column the file has: a file $file', async ({ columns, cells, advice }) => {
    const header = `email,purpose,channel,status,legal_basis,explanation${columns}`;
    expect((await importRows(header, [`${base}${cells}`], 'unsubscribes.csv')).code).toBe(0);
    expect((await importRows('email,purpose,channel,status,legal_basis,explanation', ['ana@example.com,marketing,email,opted_in,CONSENT_WITH_NOTICE,Web form'], 'signups.csv')).code).toBe(0);

    const again = await importRows(header, [`${base}${cells}`], 'unsubscribes.csv');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`${PREFIX}${advice}\n`);
    const named = columns.split(',').filter((column) => column !== '');
    for (const column of named) expect(again.stderr).not.toContain(`give the file an ${column}`);
  });
});

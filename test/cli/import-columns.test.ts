import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { cli, useTemporaryDatabase, type CliRun, exportedLedger, reportLines, stderrLines } from './helpers.js';

let dir: string;
let db: string;
useTemporaryDatabase('consentry-import-columns-', (paths) => {
  ({ dir, db } = paths);
});

function importText(text: string, name = 'consents.csv'): Promise<CliRun> {
  const file = join(dir, name);
  writeFileSync(file, text);
  return cli(['import', file, '--db', db]);
}

const LedgerSchema = z.array(z.object({ email: z.string().nullable(), channel: z.string(), explanation: z.string().nullable() }));

const ledger = () => exportedLedger(db, LedgerSchema);


describe('consentry import: columns without a name', () => {
  it('ignores the empty columns Excel writes after the last one used, in the header and in every row', async () => {
    const run = await importText(
      ['email,purpose,channel,status,,', 'ana@example.com,marketing,email,opted_out,,', 'bob@example.com,marketing,sms,opted_out,,', ''].join('\r\n'),
    );
    expect(stderrLines(run)).toEqual([`created new database ${db}`]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Imported 2 of 2 rows: 2 recorded');
    expect((await ledger()).map((r) => [r.email, r.channel])).toEqual([
      ['ana@example.com', 'email'],
      ['bob@example.com', 'sms'],
    ]);
  });

  it('ignores an empty unnamed column between named ones, and reads the columns after it', async () => {
    const run = await importText(['email;;purpose;channel;status;explanation', 'ana@example.com;;marketing;email;opted_out;Phone call', ''].join('\n'));
    expect(run.code).toBe(0);
    expect((await ledger()).map((r) => [r.email, r.explanation])).toEqual([['ana@example.com', 'Phone call']]);
  });

  it('takes rows that stop after the last named column or go on with empty cells past the header, and still refuses a value past it', async () => {
    const run = await importText(
      [
        'email,purpose,channel,status,explanation,,',
        'ana@example.com,marketing,email,opted_out,Phone call',
        'bob@example.com,marketing,email,opted_out,,,,,',
        'carla@example.com,marketing,email,opted_out,,,,Notes',
        'dan@example.com,marketing,email,opted_out,',
        'eve@example.com,marketing,email',
        'fay@example.com',
      ].join('\n'),
    );
    expect(run.code).toBe(1);
    expect(reportLines(run)).toEqual([
      'line 4: has 8 values, the header names 7 columns',
      'line 6: has 3 values, the header names 7 columns',
      'line 7: has 1 value, the header names 7 columns',
    ]);
    expect((await ledger()).map((r) => r.email)).toEqual(['ana@example.com', 'bob@example.com', 'dan@example.com']);
  });

  it('refuses the file, writing nothing, when an unnamed column holds a value, naming the column and the first line with one', async () => {
    const rows = Array.from({ length: 30 }, (_, index) => `person${index}@example.com,marketing,email,opted_out,,`);
    rows[20] = 'person20@example.com,marketing,email,opted_out,,VIP';
    rows[25] = 'person25@example.com,marketing,email,opted_out,"  ",VIP';
    rows[27] = 'person27@example.com,marketing,email,opted_out,x,';
    const file = ['email,purpose,channel,status,,', ...rows].join('\n');
    const run = await importText(file);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(stderrLines(run)).toEqual([
      expect.stringContaining(
        'consents.csv: the header on line 1 is not valid: column 5 has no name, and line 29 has a value in it; column 6 has no name, and line 22 has a value in it (the first line must name the columns',
      ),
    ]);
    expect(existsSync(db)).toBe(false);
  });
});

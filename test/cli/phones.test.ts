import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { withoutBidiMarks } from '../../src/cli/identities.js';
import { normalizePhone } from '../../src/core/contact.js';
import type { WorkspaceSettingsInput } from '../../src/core/settings.js';
import { createEngine } from '../../src/engine.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { cli, useTemporaryDatabase, type CliRun } from './helpers.js';

let dir: string;
let db: string;
useTemporaryDatabase('consentry-cli-phones-', (paths) => {
  ({ dir, db } = paths);
});

/** What chat apps and address books wrap a copied number in: LRO…PDF, LRI…PDI, and the LRM / RLM marks. */
const LRO = '\u202d';
const PDF = '\u202c';
const LRI = '\u2066';
const PDI = '\u2069';
const LRM = '\u200e';
const RLM = '\u200f';

function importCsv(rows: readonly string[], extra: readonly string[] = []): Promise<CliRun> {
  const file = join(dir, 'phones.csv');
  writeFileSync(file, ['email,phone,purpose,channel,status', ...rows].join('\n'));
  return cli(['import', file, '--db', db, ...extra]);
}

async function withSettings(settings: WorkspaceSettingsInput): Promise<void> {
  const store = createSqliteStore({ path: db });
  const engine = createEngine({ store });
  await engine.workspace((await engine.ensureDefaultWorkspace()).id).updateSettings(settings);
  await store.close();
}

const ExportedPhone = z.array(z.object({ email: z.string().nullable(), phone: z.string().nullable() }));

async function exportedPhones(): Promise<{ email: string | null; phone: string | null }[]> {
  const run = await cli(['export', '--format', 'json', '--db', db]);
  expect(run.code, run.stderr).toBe(0);
  return ExportedPhone.parse(JSON.parse(run.stdout)).map(({ email, phone }) => ({ email, phone }));
}

describe('withoutBidiMarks, and the phone reading import and history use', () => {
  it('take off the invisible bidi marks and blank space around a value, and nothing inside it', () => {
    expect(withoutBidiMarks(`${LRO}+34 600 000 001${PDF}`)).toBe('+34 600 000 001');
    expect(withoutBidiMarks(` ${LRI}${LRM}ana@example.com${RLM}${PDI} `)).toBe('ana@example.com');
    expect(withoutBidiMarks('\u202a\u202b\u202e600\u202e000\u2067\u2068')).toBe('600\u202e000');
    expect(normalizePhone(`${LRO}600/000/001${PDF}`, 'ES')).toBe('+34600000001');
    expect(() => normalizePhone('600 000 001', null)).toThrow('has no country code');
  });
});

describe('consentry history: the phone spellings import accepts', () => {
  it('finds a contact by a phone written with slashes, or pasted with bidi marks around it, and an e-mail pasted the same way', async () => {
    await withSettings({ defaultCountry: 'ES' });
    expect((await importCsv(['ana@example.com,+34 600 000 001,marketing,sms,opted_out'])).code).toBe(0);
    for (const typed of ['600/000/001', '+34/600/000/001', `${LRO}+34600000001${PDF}`, `${LRI}+34 600 000 001${PDI}`, `${RLM}600 000 001${LRM}`, `${LRM}ana@example.com${RLM}`]) {
      const run = await cli(['history', typed, '--db', db]);
      expect(run.code, `${JSON.stringify(typed)}: ${run.stderr}`).toBe(0);
      expect(JSON.parse(run.stdout), JSON.stringify(typed)).toMatchObject({ channel: 'sms', status: 'opted_out' });
    }
  });

  it('says why a key is no contact id, e-mail or phone number, showing it without the marks', async () => {
    expect((await importCsv(['ana@example.com,+34 600 000 001,marketing,sms,opted_out'])).code).toBe(0);
    const national = await cli(['history', `${LRO}600 000 001${PDF}`, '--db', db]);
    expect(national.code).toBe(2);
    expect(national.stderr).toBe(
      `error: No contact 600 000 001 in ${db}: not a contact id or an e-mail address, and as a phone number: "600 000 001" has no country code: write it in international format (e.g. +34 600 000 001) or name its country with --country (e.g. --country ES)\n`,
    );
    const unknown = await cli(['history', '+34 600 000 002', '--db', db]);
    expect(unknown.stderr).toBe(`error: No contact +34 600 000 002 in ${db}\n`);
  });
});

describe('consentry history --country', () => {
  it('reads a national number in the country it names, as import --country does, in a workspace without a default country', async () => {
    expect((await importCsv([',600/000/001,marketing,sms,opted_out'], ['--country', 'ES'])).code).toBe(0);
    for (const typed of ['600/000/001', '600 000 001', `${LRO}600-000-001${PDF}`]) {
      const run = await cli(['history', typed, '--country', 'es', '--db', db]);
      expect(run.code, `${JSON.stringify(typed)}: ${run.stderr}`).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ channel: 'sms', status: 'opted_out' });
    }
    // The same digits read in France are another number, which no contact has.
    const france = await cli(['history', '06 00 00 00 01', '--country', 'FR', '--db', db]);
    expect(france.code).toBe(1);
    expect(france.stderr).toBe(`error: No contact 06 00 00 00 01 in ${db}\n`);
  });

  it('takes the place of the workspace default country', async () => {
    await withSettings({ defaultCountry: 'FR' });
    expect((await importCsv([',+34 600 000 001,marketing,sms,opted_out'])).code).toBe(0);
    // Read in France, it is a French number no contact has.
    const inFrance = await cli(['history', '600 000 001', '--db', db]);
    expect(inFrance.code).toBe(1);
    expect(inFrance.stderr).toBe(`error: No contact 600 000 001 in ${db}\n`);
    const inSpain = await cli(['history', '600 000 001', '--country', 'ES', '--db', db]);
    expect(inSpain.code, inSpain.stderr).toBe(0);
    expect(JSON.parse(inSpain.stdout)).toMatchObject({ channel: 'sms', status: 'opted_out' });
  });

  it('refuses a --country as import does, in the same words, before the database is opened (exit code 2)', async () => {
    for (const bad of ['XX', 'ESP', '']) {
      const history = await cli(['history', '600 000 001', '--country', bad, '--db', join(dir, 'nowhere.db')]);
      const importing = await importCsv([',600 000 001,marketing,sms,opted_out'], ['--country', bad]);
      expect(history.code, bad).toBe(2);
      expect(history.stderr, bad).toBe(importing.stderr);
      expect(history.stderr.split('\n')[0], bad).toBe(`error: --country must be the ISO 3166-1 alpha-2 code of a country with a telephone numbering plan, such as ES, not "${bad}"`);
    }
  });

  it('is in history --help with the words of import --help', async () => {
    const flat = (text: string) => text.replace(/\s+/g, ' ');
    expect(flat((await cli(['history', '--help'])).stdout)).toContain(
      "--country <code> country of a phone number written without + (ISO 3166-1 alpha-2, e.g. ES); default: the workspace's default country",
    );
    expect(flat((await cli(['import', '--help'])).stdout)).toContain(
      "--country <code> country of the phone numbers written without + (ISO 3166-1 alpha-2, e.g. ES); default: the workspace's default country",
    );
  });
});

describe('the international prefix 00, in a workspace without a default country', () => {
  it('history and import read a leading 00 as +', async () => {
    const run = await importCsv([',0034 600 000 001,marketing,sms,opted_out']);
    expect(run.code, run.stderr).toBe(0);
    expect(await exportedPhones()).toEqual([{ email: null, phone: '+34600000001' }]);
    for (const typed of ['0034600000001', '00 34 600 000 001']) {
      const found = await cli(['history', typed, '--db', db]);
      expect(found.code, `${typed}: ${found.stderr}`).toBe(0);
      expect(JSON.parse(found.stdout)).toMatchObject({ channel: 'sms', status: 'opted_out' });
    }
  });

  it('says how it read a 00 number that is not valid', async () => {
    const run = await importCsv([',00346000000001,marketing,sms,opted_out']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('line 2: phone: "00346000000001" is not a valid phone number (its 00 read as the international prefix +)\n');
  });
});

describe('consentry import: phones', () => {
  it('takes off the bidi marks around a pasted phone or e-mail', async () => {
    const run = await importCsv([`${LRM}ana@example.com${RLM},${LRO}+34 600 000 001${PDF},marketing,sms,opted_out`, `,${LRI}+34/600/000/002${PDI},marketing,sms,opted_out`]);
    expect(run.code, run.stderr).toBe(0);
    expect(await exportedPhones()).toEqual([
      { email: 'ana@example.com', phone: '+34600000001' },
      { email: null, phone: '+34600000002' },
    ]);
  });

  it('--country reads national numbers in that country, for this import only', async () => {
    await withSettings({ defaultCountry: 'FR' });
    const spain = await importCsv([',600 000 001,marketing,sms,opted_out', ',+33 6 12 34 56 78,marketing,sms,opted_out'], ['--country', 'es']);
    expect(spain.code, spain.stderr).toBe(0);
    const france = await importCsv([',06 12 34 56 79,marketing,sms,opted_out']);
    expect(france.code, france.stderr).toBe(0);
    expect((await exportedPhones()).map(({ phone }) => phone)).toEqual(['+34600000001', '+33612345678', '+33612345679']);
  });

  it('the error about a national number without a country points at --country', async () => {
    const run = await importCsv(['ana@example.com,600 000 001,marketing,sms,opted_out']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      'line 2: phone: "600 000 001" has no country code: write it in international format (e.g. +34 600 000 001) or name its country with --country (e.g. --country ES)\n',
    );
    expect((await importCsv(['ana@example.com,600 000 001,marketing,sms,opted_out'], ['--country', 'ES'])).code).toBe(0);
  });

  it('says a phone a spreadsheet showed in scientific notation has lost its digits, and to export the column as text', async () => {
    const run = await importCsv([',3.46111E+10,marketing,sms,opted_out', ',"3,46111E+10",marketing,sms,opted_out'], ['--country', 'ES']);
    expect(run.code).toBe(1);
    expect(run.stderr.split('\n').filter((line) => line.startsWith('line '))).toEqual([
      'line 2: phone: "3.46111E+10" is a number in scientific notation, as a spreadsheet shows a long number: its digits are lost; export the phone column as text',
      'line 3: phone: "3,46111E+10" is a number in scientific notation, as a spreadsheet shows a long number: its digits are lost; export the phone column as text',
    ]);
  });

  it('names the number with + in front for a number a spreadsheet dropped the + of, only when that is a valid number', async () => {
    await withSettings({ defaultCountry: 'ES' });
    const inSpain = await importCsv([',4915112345678,marketing,sms,opted_out', ',12345,marketing,sms,opted_out']);
    expect(inSpain.code).toBe(1);
    expect(inSpain.stderr.split('\n').filter((line) => line.startsWith('line '))).toEqual([
      'line 2: phone: "4915112345678" is not a valid phone number (read with default country ES); if it is an international number whose + was dropped, write +4915112345678',
      'line 3: phone: "12345" is not a valid phone number (read with default country ES)',
    ]);
    await withSettings({ defaultCountry: null });
    const nowhere = await importCsv([',4915112345678,marketing,sms,opted_out']);
    expect(nowhere.stderr).toContain(
      'line 2: phone: "4915112345678" has no country code: write it in international format (e.g. +34 600 000 001) or name its country with --country (e.g. --country ES); if it is an international number whose + was dropped, write +4915112345678\n',
    );
    expect(await exportedPhones()).toEqual([]);
  });

  it('refuses a --country that is no ISO 3166-1 alpha-2 code of a numbering plan, naming the option, before the database is made', async () => {
    for (const bad of ['XX', 'ESP', '', 'E1']) {
      const run = await importCsv([',600 000 001,marketing,sms,opted_out'], ['--country', bad]);
      expect(run.code, bad).toBe(2);
      expect(run.stderr.split('\n')[0], bad).toBe(`error: --country must be the ISO 3166-1 alpha-2 code of a country with a telephone numbering plan, such as ES, not "${bad}"`);
    }
    expect(existsSync(db)).toBe(false);
  });
});

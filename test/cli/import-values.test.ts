import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ListedValues } from '../../src/cli/import-values.js';
import type { WorkspaceSettingsInput } from '../../src/core/settings.js';
import { createEngine } from '../../src/engine.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { cli, useTemporaryDatabase, type CliRun, exportedLedger, reportLines } from './helpers.js';

let dir: string;
let db: string;
useTemporaryDatabase('consentry-import-values-', (paths) => {
  ({ dir, db } = paths);
});

function importRows(header: string, rows: readonly string[]): Promise<CliRun> {
  const file = join(dir, 'consents.csv');
  writeFileSync(file, [header, ...rows].join('\r\n'));
  return cli(['import', file, '--db', db]);
}

async function withSettings(settings: WorkspaceSettingsInput): Promise<void> {
  const store = createSqliteStore({ path: db });
  const engine = createEngine({ store });
  await engine.workspace((await engine.ensureDefaultWorkspace()).id).updateSettings(settings);
  await store.close();
}

const LedgerSchema = z.array(
  z.object({ email: z.string().nullable(), purpose: z.string(), channel: z.string(), status: z.string(), legal_basis: z.string().nullable() }),
);

const ledger = () => exportedLedger(db, LedgerSchema);


describe('consentry import: listed values in any letter case', () => {
  it('records statuses, channels and legal bases typed in any letter case and with blank space around them, spelled as the ledger spells them', async () => {
    const run = await importRows('email,purpose,channel,status,legal_basis,explanation', [
      'ana@example.com,Marketing,EMAIL,Opted_In,consent_with_notice,Shop form',
      'bob@example.com,MARKETING,WhatsApp,OPTED_OUT,,',
      'carla@example.com," marketing "," Sms ","  opted_in ", Performance_Of_Contract ,Contract',
      'dan@example.com,Privacy,Any,Opted_Out,,',
    ]);
    expect(reportLines(run)).toEqual([]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Imported 4 of 4 rows: 4 recorded');
    expect((await ledger()).map((r) => [r.email, r.purpose, r.channel, r.status, r.legal_basis])).toEqual([
      ['ana@example.com', 'marketing', 'email', 'opted_in', 'CONSENT_WITH_NOTICE'],
      ['bob@example.com', 'marketing', 'whatsapp', 'opted_out', null],
      ['carla@example.com', 'marketing', 'sms', 'opted_in', 'PERFORMANCE_OF_CONTRACT'],
      ['dan@example.com', 'privacy', 'any', 'opted_out', null],
    ]);
  });

  it("records a workspace's own purpose typed in another letter case with the spelling the workspace defines", async () => {
    await withSettings({ purposes: ['surveys', 'product-news'] });
    const run = await importRows('email,purpose,channel,status', ['ana@example.com,Surveys,email,opted_out', 'bob@example.com,PRODUCT-NEWS,sms,opted_out']);
    expect(run.code).toBe(0);
    expect((await ledger()).map((r) => [r.email, r.purpose])).toEqual([
      ['ana@example.com', 'surveys'],
      ['bob@example.com', 'product-news'],
    ]);
  });

  it('refuses a value that matches nothing in any letter case, listing the values accepted', async () => {
    await withSettings({ purposes: ['surveys'] });
    const run = await importRows('email,purpose,channel,status,legal_basis,explanation', [
      'ana@example.com,Newsletter,email,opted_out,,',
      'bob@example.com,Surveys!,email,opted_out,,',
      'carla@example.com,marketing,Pigeon,Opted-Out,,',
      'dan@example.com,marketing,email,opted_in,Consent,Shop form',
    ]);
    expect(run.code).toBe(1);
    expect(reportLines(run)).toEqual([
      'line 2: purpose: unknown purpose "Newsletter": this workspace knows privacy, marketing, surveys (add its own purposes to settings.purposes)',
      'line 3: purpose: unknown purpose "Surveys!": this workspace knows privacy, marketing, surveys (add its own purposes to settings.purposes)',
      'line 4: channel: "Pigeon" is not one of whatsapp, sms, email, messenger, telegram, webchat, any',
      'line 4: status: "Opted-Out" is not one of opted_in, opted_out (did you mean "opted_out"?)',
      'line 5: legal_basis: "Consent" is not one of CONSENT_WITH_NOTICE, LEGITIMATE_INTEREST_PQL, LEGITIMATE_INTEREST_CLIENT, LEGITIMATE_INTEREST_OTHER, PERFORMANCE_OF_CONTRACT, PROCESS_AND_STORE, NON_GDPR',
    ]);
    expect(await ledger()).toEqual([]);
  });
});

describe('consentry import: a listed value written with spaces or hyphens for its underscores', () => {
  it('names the status or legal basis it stands for, in any letter case, and none for a value that stands for none', async () => {
    const run = await importRows('email,purpose,channel,status,legal_basis,explanation', [
      'ana@example.com,marketing,email,opted in,CONSENT_WITH_NOTICE,Shop form',
      'bob@example.com,marketing,email,Opted In,CONSENT_WITH_NOTICE,Shop form',
      'carla@example.com,marketing,email,opted-in,CONSENT_WITH_NOTICE,Shop form',
      'dan@example.com,marketing,email,opted_in,Consent With Notice,Shop form',
      'eve@example.com,marketing,email,opted_in,performance-of-contract,Contract',
      'fay@example.com,marketing,email,opted,,',
    ]);
    expect(run.code).toBe(1);
    const bases = 'CONSENT_WITH_NOTICE, LEGITIMATE_INTEREST_PQL, LEGITIMATE_INTEREST_CLIENT, LEGITIMATE_INTEREST_OTHER, PERFORMANCE_OF_CONTRACT, PROCESS_AND_STORE, NON_GDPR';
    expect(reportLines(run)).toEqual([
      'line 2: status: "opted in" is not one of opted_in, opted_out (did you mean "opted_in"?)',
      'line 3: status: "Opted In" is not one of opted_in, opted_out (did you mean "opted_in"?)',
      'line 4: status: "opted-in" is not one of opted_in, opted_out (did you mean "opted_in"?)',
      `line 5: legal_basis: "Consent With Notice" is not one of ${bases} (did you mean "CONSENT_WITH_NOTICE"?)`,
      `line 6: legal_basis: "performance-of-contract" is not one of ${bases} (did you mean "PERFORMANCE_OF_CONTRACT"?)`,
      'line 7: status: "opted" is not one of opted_in, opted_out',
    ]);
    expect(await ledger()).toEqual([]);
  });
});

describe('ListedValues', () => {
  it('takes a purpose only when exactly one purpose matches it in letter case, and the exact spelling first', () => {
    // Purposes the workspace schema allows are lower case; the rule still holds for any list.
    const values = new ListedValues({ purposes: ['surveys', 'Surveys', 'news'] });
    expect(values.spell('purpose', 'SURVEYS')).toBe('SURVEYS');
    expect(values.spell('purpose', 'Surveys')).toBe('Surveys');
    expect(values.spell('purpose', ' surveys ')).toBe('surveys');
    expect(values.spell('purpose', 'NEWS')).toBe('news');
  });

  it('folds ASCII letters only, so no other letter stands for a listed value', () => {
    const values = new ListedValues({ purposes: [] });
    // U+212A KELVIN SIGN lower-cases to "k" in Unicode.
    expect(values.spell('purpose', 'mar\u212Aeting')).toBe('mar\u212Aeting');
    expect(values.spell('channel', 'SMS\u00A0')).toBe('sms');
    expect(values.spell('status', 'OPTED_İN')).toBe('OPTED_İN');
  });
});

describe('consentry import and history: a contact id in lower case', () => {
  it('names the same contact as in upper case', async () => {
    const store = createSqliteStore({ path: db });
    const engine = createEngine({ store });
    const contact = await engine.workspace((await engine.ensureDefaultWorkspace()).id).createContact({ name: 'Ana Test', email: 'ana@example.com' });
    await store.close();
    const run = await importRows('contact_id,purpose,channel,status', [`${contact.id.toLowerCase()},marketing,sms,opted_out`]);
    expect(reportLines(run)).toEqual([]);
    expect(run.code).toBe(0);
    expect((await ledger()).map((r) => [r.email, r.channel, r.status])).toEqual([['ana@example.com', 'sms', 'opted_out']]);
    const history = await cli(['history', contact.id.toLowerCase(), '--db', db]);
    expect(history.code, history.stderr).toBe(0);
    expect(history.stdout).toContain(contact.id);
  });
});

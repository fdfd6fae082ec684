import { describe, expect, it } from 'vitest';
import { misspeltPurposeMessage, purposeInOtherCase, PurposeSchema } from '../../src/core/consent.js';
import { normalizeEmail } from '../../src/core/contact.js';
import { ConsentryError } from '../../src/core/errors.js';
import { zodIssuesToFieldIssues } from '../../src/core/ledger.js';
import { FIELD_PARSE } from '../../src/core/required.js';
import { WorkspaceSettingsSchema } from '../../src/core/settings.js';

const PURPOSE_RULE = 'a purpose is lower-case letters, digits, "_" or "-" (at most 64), starting with a letter';

function emailRefusal(raw: string): { message: string; issues: readonly { path: string; message: string }[] } {
  try {
    normalizeEmail(raw);
  } catch (error) {
    if (error instanceof ConsentryError) return { message: error.message, issues: error.issues };
    throw error;
  }
  throw new Error(`${raw} was accepted`);
}

describe('a purpose not spelled as one could be', () => {
  it.each([
    ['Marketing', `"Marketing" is not a purpose: ${PURPOSE_RULE} (did you mean "marketing"?)`],
    [' privacy ', `" privacy " is not a purpose: ${PURPOSE_RULE} (did you mean "privacy"?)`],
    ['News Letter', `"News Letter" is not a purpose: ${PURPOSE_RULE}`],
    // A Kelvin sign is no "K": only ASCII letters are folded, as the import folds a purpose cell.
    ['MAR\u212aETING', `"MAR\u212aETING" is not a purpose: ${PURPOSE_RULE}`],
  ])('%j is quoted, with the built-in purpose it spells', (purpose, message) => {
    const parsed = PurposeSchema.safeParse(purpose, FIELD_PARSE);
    expect(parsed.success).toBe(false);
    if (!parsed.success) expect(zodIssuesToFieldIssues(parsed.error)).toEqual([{ path: '', message }]);
  });

  it("names a workspace's own purpose when given the known ones, and only a purpose in other letter case", () => {
    expect(misspeltPurposeMessage('Loyalty-Club', ['privacy', 'marketing', 'loyalty-club'])).toBe(`"Loyalty-Club" is not a purpose: ${PURPOSE_RULE} (did you mean "loyalty-club"?)`);
    expect(purposeInOtherCase('marketing', ['marketing'])).toBeUndefined();
    expect(purposeInOtherCase('Surveys', ['privacy', 'marketing'])).toBeUndefined();
  });

  it('quotes at most 80 characters of a long value', () => {
    expect(misspeltPurposeMessage('X'.repeat(200))).toBe(`"${'X'.repeat(80)}"… is not a purpose: ${PURPOSE_RULE}`);
  });
});

describe('an invalid e-mail address is quoted, the field named only by the path', () => {
  it.each([
    ['bad', '"bad" is not a valid email address: it must contain exactly one "@"'],
    ['ana@test@example.com', '"ana@test@example.com" is not a valid email address: it must contain exactly one "@"'],
    [`${'a'.repeat(65)}@example.com`, `"${'a'.repeat(65)}@example.com" is not a valid email address: the part before "@" is longer than 64 characters`],
    ['.ana@example.com', '".ana@example.com" is not a valid email address: the part before "@" cannot start or end with "." or contain ".."'],
    [`${'a'.repeat(243)}@example.com`, `"${'a'.repeat(80)}"… is not a valid email address: it is longer than 254 characters`],
  ])('%j', (raw, message) => {
    expect(emailRefusal(raw)).toEqual({ message, issues: [{ path: 'email', message }] });
  });
});

describe('a defaultCountry that is not one', () => {
  function issues(defaultCountry: unknown): { path: string; message: string }[] {
    const parsed = WorkspaceSettingsSchema.safeParse({ defaultCountry }, FIELD_PARSE);
    return parsed.success ? [] : zodIssuesToFieldIssues(parsed.error);
  }

  it('is quoted, once, with what is wrong with it', () => {
    expect(issues('XX')).toEqual([{ path: 'defaultCountry', message: '"XX" is not a country with a telephone numbering plan, such as "ES"' }]);
    // Quoted as sent, in small letters too.
    expect(issues('xx')).toEqual([{ path: 'defaultCountry', message: '"xx" is not a country with a telephone numbering plan, such as "ES"' }]);
    expect(issues(' ES ')).toEqual([{ path: 'defaultCountry', message: '" ES " is not an ISO 3166-1 alpha-2 code, such as "ES" (did you mean "ES"?)' }]);
    expect(issues(' es ')).toEqual([{ path: 'defaultCountry', message: '" es " is not an ISO 3166-1 alpha-2 code, such as "ES" (did you mean "ES"?)' }]);
    expect(issues('Spain')).toEqual([{ path: 'defaultCountry', message: '"Spain" is not an ISO 3166-1 alpha-2 code, such as "ES"' }]);
    // "ß" upper-cases to "SS" (South Sudan) outside ASCII: it names no code.
    expect(issues('ß')).toEqual([{ path: 'defaultCountry', message: '"ß" is not an ISO 3166-1 alpha-2 code, such as "ES"' }]);
  });

  it('is read in any letter case and kept in capital letters', () => {
    for (const code of ['es', 'Es', 'eS', 'ES']) {
      expect(WorkspaceSettingsSchema.parse({ defaultCountry: code }).defaultCountry, code).toBe('ES');
    }
  });
});

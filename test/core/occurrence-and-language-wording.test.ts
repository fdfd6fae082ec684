import { describe, expect, it } from 'vitest';
import { ConsentryError } from '../../src/core/errors.js';
import { earliestOccurrenceIssue, recordedOccurrence, zodIssuesToFieldIssues } from '../../src/core/ledger.js';
import { FIELD_PARSE } from '../../src/core/required.js';
import { LANGUAGES, WorkspaceSettingsSchema } from '../../src/core/settings.js';

function refusal(check: () => unknown): ConsentryError {
  try {
    check();
  } catch (error) {
    if (error instanceof ConsentryError) return error;
    throw error;
  }
  throw new Error('not refused');
}

describe('a decision time the ledger refuses', () => {
  const recordedAt = '2026-03-01T09:00:00.000Z';

  it('before 1970 is quoted, the field named once, by its path', () => {
    expect(earliestOccurrenceIssue('1969-12-31T23:59:59Z')).toEqual({ path: 'occurredAt', message: '"1969-12-31T23:59:59Z" is before 1970-01-01T00:00:00Z' });
    const error = refusal(() => recordedOccurrence({ occurredAt: '0001-01-01T00:00:00.000Z' }, recordedAt));
    expect(error.issues).toEqual([{ path: 'occurredAt', message: '"0001-01-01T00:00:00.000Z" is before 1970-01-01T00:00:00Z' }]);
    expect(error.message).toBe('occurredAt: "0001-01-01T00:00:00.000Z" is before 1970-01-01T00:00:00Z');
  });

  it('more than 5 minutes ahead is quoted, saying how far ahead is taken and the time of recording', () => {
    const error = refusal(() => recordedOccurrence({ occurredAt: '2026-03-01T09:05:00.001Z' }, recordedAt));
    const message = '"2026-03-01T09:05:00.001Z" is more than 5 minutes after the time of recording (2026-03-01T09:00:00.000Z)';
    expect(error.issues).toEqual([{ path: 'occurredAt', message }]);
    expect(error.message).toBe(`occurredAt: ${message}`);
    expect(recordedOccurrence({ occurredAt: '2026-03-01T09:05:00.000Z' }, recordedAt)).toBe(recordedAt);
  });
});

describe('settings kept per language', () => {
  const issuesOf = (settings: unknown) => {
    const parsed = WorkspaceSettingsSchema.safeParse(settings, FIELD_PARSE);
    return parsed.success ? [] : zodIssuesToFieldIssues(parsed.error);
  };
  const notALanguage = (code: string) => `"${code}" is not a language: one of ${LANGUAGES.join(', ')}`;

  it('refuse a code that is not a language at its own path, listing the languages', () => {
    expect(notALanguage('xx')).toBe('"xx" is not a language: one of en, es, fr, pt, de, ja');
    expect(issuesOf({ keywords: { xx: { opt_in: ['GO'] }, es: { opt_in: ['VALE'] } } })).toEqual([{ path: 'keywords.xx', message: notALanguage('xx') }]);
    // A code in other letter case names the language it spells, as a purpose in other letter case does.
    expect(issuesOf({ replies: { EN: { help: 'Help' } } })).toEqual([{ path: 'replies.EN', message: `${notALanguage('EN')} (did you mean "en"?)` }]);
    expect(issuesOf({ keywords: { Ja: { opt_in: ['GO'] } } })).toEqual([{ path: 'keywords.Ja', message: `${notALanguage('Ja')} (did you mean "ja"?)` }]);
  });

  it('still name an unknown field inside a language as one', () => {
    expect(issuesOf({ replies: { en: { goodbye: 'Bye' } } })).toEqual([{ path: 'replies.en.goodbye', message: 'is not a known field' }]);
  });

  it('keep every language they are given', () => {
    const settings = WorkspaceSettingsSchema.parse({ keywords: { ja: { opt_out: ['テイシ'] } }, replies: { pt: { help: 'Ajuda' } } });
    expect(settings.keywords).toEqual({ ja: { opt_in: [], opt_out: ['テイシ'], help: [], removed: [] } });
    expect(settings.replies).toEqual({ pt: { help: 'Ajuda' } });
  });
});

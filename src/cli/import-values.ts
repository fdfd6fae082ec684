import { BUILT_IN_PURPOSES, CHANNELS, CONSENT_STATUSES, LEGAL_BASES } from '../core/consent.js';
import { refusalOf } from '../core/errors.js';
import { assertKnownPurpose, type WorkspaceSettings } from '../core/settings.js';
import { foldAsciiCase } from '../core/text.js';

/** The columns whose value is one of a list. */
export type ListedColumn = 'purpose' | 'channel' | 'status' | 'legalBasis';

interface Spellings {
  exact: ReadonlySet<string>;
  /** Folded spelling → the value; null when two values share it, so that it names neither. */
  folded: ReadonlyMap<string, string | null>;
}

function spellingsOf(values: readonly string[]): Spellings {
  const folded = new Map<string, string | null>();
  for (const value of values) {
    const key = foldAsciiCase(value);
    folded.set(key, folded.has(key) ? null : value);
  }
  return { exact: new Set(values), folded };
}

/**
 * Reads the listed columns of a spreadsheet, where `Opted_In`, `EMAIL` or `consent_with_notice`
 * is what a person typed or a tool exported. Statuses and channels are recorded lower case and
 * legal bases upper case, as HubSpot's Communication Preferences API spells them
 * (https://developers.hubspot.com/docs/api/marketing/subscriptions-preferences). A purpose is a
 * workspace's own id: one that differs only in letter case from exactly one known purpose is
 * that purpose, spelled as the workspace defines it; one that two purposes would match is neither.
 */
export class ListedValues {
  private readonly lists: ReadonlyMap<ListedColumn, Spellings>;

  constructor(settings: Pick<WorkspaceSettings, 'purposes'>) {
    this.lists = new Map<ListedColumn, Spellings>([
      ['purpose', spellingsOf([...BUILT_IN_PURPOSES, ...settings.purposes])],
      ['channel', spellingsOf(CHANNELS)],
      ['status', spellingsOf(CONSENT_STATUSES)],
      ['legalBasis', spellingsOf(LEGAL_BASES)],
    ]);
  }

  /**
   * The listed value `value` stands for, whatever its letter case and the blank space around it;
   * else `value` without that space, for the engine to refuse with the values it accepts.
   */
  spell(column: ListedColumn, value: string): string {
    const trimmed = value.trim();
    const list = this.lists.get(column);
    if (!list || list.exact.has(trimmed)) return trimmed;
    return list.folded.get(foldAsciiCase(trimmed)) ?? trimmed;
  }
}

export function isListedColumn(field: string): field is ListedColumn {
  return field === 'purpose' || field === 'channel' || field === 'status' || field === 'legalBasis';
}

/**
 * What the workspace says of a purpose it does not know, listing those it does. A purpose that
 * is not even spelled as one could be (`Surveys!`) gets it too: what the file needs is one of
 * the listed purposes, whatever the rule for new ones.
 */
export function unknownPurposeMessage(purpose: string, settings: Pick<WorkspaceSettings, 'purposes'>): string | undefined {
  return refusalOf(() => assertKnownPurpose(purpose, settings))?.issues[0]?.message;
}

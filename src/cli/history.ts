import { canonicalUlid, foldTypedValue, isUlid, normalizePhone } from '../core/contact.js';
import { isConsentryError } from '../core/errors.js';
import type { Workspace } from '../core/settings.js';
import type { Engine, WorkspaceEngine } from '../engine.js';
import { withoutBidiMarks } from './identities.js';
import type { CliIo } from './io.js';
import { pointingAtCountryOption } from './country-option.js';
import { resolvedDatabasePath } from './database.js';
import { CliFailure, CliRefusal, workspaceLabel, writeLine } from './io.js';
import { readLedgerPage, seqOfEntry } from '../engine/ledger-pages.js';
import { latestStatusRecord, UnreadableTally } from './ledger-pages.js';

/** Records read per transaction. */
const HISTORY_PAGE = 1_000;

type Lookup = { found: string | null } | { phoneRefusal: string };

/**
 * The contact a typed key names in one workspace: an e-mail (it has an "@", full-width "＠" too), a contact id (a
 * ULID), else a phone number, read as `import` reads one: in `country` (`--country`) when given,
 * else in the workspace's default country.
 */
async function lookUp(workspace: WorkspaceEngine, key: string, country: string | null): Promise<Lookup> {
  if (foldTypedValue(key).includes('@')) return { found: (await workspace.findContacts({ email: key, limit: 1 })).contacts[0]?.id ?? null };
  if (isUlid(key)) {
    try {
      return { found: (await workspace.getContact(key)).id };
    } catch (error) {
      if (isConsentryError(error) && error.code === 'NOT_FOUND') return { found: null };
      throw error;
    }
  }
  let phone: string;
  try {
    phone = normalizePhone(key, country ?? (await workspace.get()).settings.defaultCountry);
  } catch (error) {
    if (isConsentryError(error) && error.code === 'INVALID_PHONE') return { phoneRefusal: pointingAtCountryOption(error.message) };
    throw error;
  }
  return { found: (await workspace.findContacts({ phone, limit: 1 })).contacts[0]?.id ?? null };
}

/** `a`, `a and b`, `a, b and c`. */
function listed(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1) ?? ''}`;
}

/** Where a contact was looked for, for the message that it is not there: ` in workspace "Sales" (01…) of /srv/c.db`, ` in /srv/c.db`. */
function whereLookedUp(workspace: Workspace | undefined, database: string | null): string {
  const file = database === null ? null : resolvedDatabasePath(database);
  if (workspace === undefined) return file === null ? '' : ` in ${file}`;
  return ` in workspace ${workspaceLabel(workspace)}${file === null ? '' : ` of ${file}`}`;
}

export interface HistorySummary {
  /** Records printed, the unreadable ones included. */
  lines: number;
  /** Records that could not be read back, each printed with status "unreadable". */
  unreadable: number;
}

/**
 * Prints a contact's records, one JSON line each in chain order, from the one workspace that
 * holds it. A record that cannot be read back is printed where it stands as
 * `{"id","workspaceId","contactId","seq","status":"unreadable","explanation":<why>}`, and named
 * in one warning line on stderr; the caller makes that exit code 1. A reading that ends before the
 * record the contact's current consent rests on fails (CliFailure, exit code 1).
 */
export async function historyCommand(
  engine: Engine,
  workspaces: readonly Workspace[],
  typed: string,
  io: CliIo,
  country: string | null = null,
  database: string | null = null,
  workspaceNamed = false,
): Promise<HistorySummary> {
  const key = withoutBidiMarks(typed);
  // A contact id is shown as the engine writes it (upper case), so it reads as the id `export` and the API print.
  const shown = isUlid(key) ? canonicalUlid(key) : key;
  const found: { workspace: WorkspaceEngine; holder: Workspace; id: string }[] = [];
  let phoneRefusal: string | null = null;
  for (const holder of workspaces) {
    const workspace = engine.workspace(holder.id);
    const lookup = await lookUp(workspace, key, country);
    if ('phoneRefusal' in lookup) phoneRefusal ??= lookup.phoneRefusal;
    else if (lookup.found !== null) found.push({ workspace, holder, id: lookup.found });
  }
  const [only, ...others] = found;
  if (!only) {
    // A key that is no e-mail and no id is a phone number read in --country or each workspace's default country:
    // say why it is not one. Such a key is refused (exit code 2), as a bad argument; a key that
    // can name a contact and names none is a search that found nothing (exit code 1).
    // The database is named: a contact missing from the wrong file (another working directory, --db or DATABASE_PATH) shows as such;
    // and so is the workspace --workspace named, which may not be the one that holds the contact.
    const where = whereLookedUp(workspaceNamed ? workspaces[0] : undefined, database);
    if (phoneRefusal !== null) throw new CliRefusal(`No contact ${shown}${where}: not a contact id or an e-mail address, and as a phone number: ${phoneRefusal}`);
    throw new CliFailure(`No contact ${shown}${where}`);
  }
  if (others.length > 0) {
    throw new CliRefusal(`${shown} is a contact in ${found.length} workspaces, ${listed(found.map(({ holder }) => workspaceLabel(holder)))}: name one with --workspace`);
  }
  const { workspaceId } = only.workspace;
  const unreadable = new UnreadableTally();
  const warnOfUnreadable = (): void => {
    const warning = unreadable.warning('printed as a line');
    if (warning !== null) writeLine(io.stderr, warning);
  };
  let lines = 0;
  let afterSeq = 0;
  for (;;) {
    // The last page (short of HISTORY_PAGE) is checked, in its own transaction, against the record
    // the contact's current statuses rest on: one the reading did not reach means it stopped short.
    const { entries, restsOn } = await engine.store.read(async (tx) => {
      const page = await readLedgerPage(tx, workspaceId, { contactId: only.id, afterSeq, limit: HISTORY_PAGE });
      return { entries: page, restsOn: page.length < HISTORY_PAGE ? await latestStatusRecord(tx, workspaceId, only.id) : null };
    });
    for (const entry of entries) {
      if (entry.record) {
        writeLine(io.stdout, JSON.stringify(entry.record));
      } else {
        const { id, seq, reason } = entry.unreadable;
        writeLine(io.stdout, JSON.stringify({ id, workspaceId, contactId: only.id, seq, status: 'unreadable', explanation: reason }));
        unreadable.add(entry.unreadable);
      }
    }
    lines += entries.length;
    const last = entries.at(-1);
    if (last !== undefined) afterSeq = seqOfEntry(last);
    if (entries.length < HISTORY_PAGE) {
      if (restsOn !== null && afterSeq < restsOn) {
        warnOfUnreadable();
        throw new CliFailure(
          `history stopped at record ${afterSeq}, before record ${restsOn} that the contact's current consent rests on: the database is damaged; run consentry verify`,
        );
      }
      break;
    }
  }
  warnOfUnreadable();
  // An empty stdout alone reads like a failed look-up: the contact was found, and has no decision yet.
  if (lines === 0) writeLine(io.stderr, `contact ${only.id} has no consent records`);
  return { lines, unreadable: unreadable.count };
}

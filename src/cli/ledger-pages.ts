import { UnreadableRowError } from '../core/errors.js';
import type { Workspace } from '../core/settings.js';
import type { UnreadableRecord } from '../engine/ledger-pages.js';
import { ledgerHeadKey, parseLedgerHead } from '../engine/unit-of-work.js';
import type { StoreTx } from '../ports/store.js';
import { workspaceLabel } from './io.js';

/** Counts the records a command could not read, and keeps the first, for its one stderr line. */
export class UnreadableTally {
  count = 0;
  private first: UnreadableRecord | null = null;

  add(unreadable: UnreadableRecord): void {
    this.count++;
    this.first ??= unreadable;
  }

  /** `shownAs`: how the command shows such a record ("exported as a row"). */
  warning(shownAs: string): string | null {
    if (this.first === null) return null;
    const count = this.count === 1 ? '1 record cannot be read and is' : `${this.count} records cannot be read and are`;
    return `warning: ${count} ${shownAs} with status "unreadable": ${this.first.reason}${this.count > 1 ? ' (the first of them)' : ''}`;
  }
}

/** Reads what `read` reads, or null when the row it reads cannot be read back. */
async function readable<T>(read: () => Promise<T>): Promise<T | null> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof UnreadableRowError) return null;
    throw error;
  }
}

/**
 * The seq the workspace's chain reaches: the ledger head stored beside it (every append writes
 * it in the same transaction), else its last record's; 0 for an empty chain, null when neither
 * can be read. A file damaged in the middle (pages overwritten) can end a scan of the records
 * early without any error from SQLite; the head, in another table, still tells where the chain
 * ends, so a reader that stopped short of it knows it did.
 */
export async function ledgerEnd(tx: StoreTx, workspaceId: string): Promise<number | null> {
  const head = await readable(async () => parseLedgerHead(await tx.getMeta(ledgerHeadKey(workspaceId))));
  if (head) return head.seq;
  const last = await readable(() => tx.lastConsentRecord(workspaceId));
  return last === null ? null : (last?.seq ?? 0);
}

/**
 * The latest record a contact's current consent statuses rest on (the materialised rows, kept in
 * the transaction of each append), 0 for none, null when they cannot be read: a reading of the
 * contact's records that stops before it stopped short.
 */
export async function latestStatusRecord(tx: StoreTx, workspaceId: string, contactId: string): Promise<number | null> {
  const states = await readable(() => tx.getConsentStates(workspaceId, contactId));
  return states === null ? null : Math.max(0, ...states.map((state) => state.seq));
}

/**
 * The stderr line of a command that read the ledgers of `workspaces` and found no record: which
 * workspaces of which database it read (`database` as resolvedDatabasePath names it; null when
 * unknown), so a ledger read from the wrong file (another working directory, `--db` or
 * `DATABASE_PATH`, a file `keys create` made) shows as such, while stdout keeps only the output.
 */
export function noRecordsLine(workspaces: readonly Workspace[], database: string | null): string {
  const [only] = workspaces;
  if (only === undefined) return `no workspace${database === null ? '' : ` in ${database}`}, so no consent records`;
  const of = database === null ? '' : ` of ${database}`;
  if (workspaces.length === 1) return `no consent records in workspace ${workspaceLabel(only)}${of}`;
  return `no consent records in the ${workspaces.length} workspaces${of}`;
}

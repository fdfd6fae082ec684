import type { ConsentRecord } from '../core/consent.js';
import { UnreadableRowError } from '../core/errors.js';
import type { StoreTx } from '../ports/store.js';

/** A record the store cannot read back (a column edited outside Consentry), where it stands in the chain, and why. */
export interface UnreadableRecord {
  workspaceId: string;
  seq: number;
  id: string;
  /** The store's message, naming the table, the row and the column. */
  reason: string;
}

export type LedgerEntry = { record: ConsentRecord; unreadable?: undefined } | { record?: undefined; unreadable: UnreadableRecord };

export interface LedgerPageQuery {
  /** Only this contact's records. */
  contactId?: string;
  afterSeq: number;
  limit: number;
}

function isUnreadableRecord(error: unknown): error is UnreadableRowError {
  return error instanceof UnreadableRowError && error.table === 'consent_records';
}

/** The first record after `afterSeq`, the error of the one that cannot be read, or null past the end. */
async function firstAfter(tx: StoreTx, workspaceId: string, query: LedgerPageQuery, afterSeq: number): Promise<ConsentRecord | UnreadableRowError | null> {
  try {
    const [record] = await tx.listConsentRecords(workspaceId, { ...(query.contactId === undefined ? {} : { contactId: query.contactId }), afterSeq, limit: 1 });
    return record ?? null;
  } catch (error) {
    if (isUnreadableRecord(error)) return error;
    throw error;
  }
}

/**
 * The seq of the unreadable record `rowId`, the first after `afterSeq`: the store names only its
 * id, so the seq is the least one past which that record is no longer the first. Seqs run on
 * without gaps in an intact chain, where the first guess is right; a gap (a deleted record) is
 * crossed by doubling, then halving, the distance.
 */
async function seqOfUnreadable(tx: StoreTx, workspaceId: string, query: LedgerPageQuery, afterSeq: number, rowId: string): Promise<number> {
  const stillFirst = async (seq: number): Promise<boolean> => {
    const next = await firstAfter(tx, workspaceId, query, seq);
    return next instanceof UnreadableRowError && next.rowId === rowId;
  };
  let below = afterSeq;
  let distance = 1;
  while (await stillFirst(afterSeq + distance)) {
    below = afterSeq + distance;
    distance *= 2;
  }
  let atOrAbove = afterSeq + distance;
  while (atOrAbove - below > 1) {
    const middle = Math.floor((below + atOrAbove) / 2);
    if (await stillFirst(middle)) below = middle;
    else atOrAbove = middle;
  }
  return atOrAbove;
}

/**
 * Up to `limit` records of a workspace's chain (or of one contact's records) after `afterSeq`, in
 * chain order. A record that cannot be read back is an entry of its own instead of failing the
 * page, so one damaged row does not hide the others: forensics needs every readable record, and
 * the bad one named where it stands.
 */
export async function readLedgerPage(tx: StoreTx, workspaceId: string, query: LedgerPageQuery): Promise<LedgerEntry[]> {
  try {
    const records = await tx.listConsentRecords(workspaceId, { ...(query.contactId === undefined ? {} : { contactId: query.contactId }), afterSeq: query.afterSeq, limit: query.limit });
    return records.map((record) => ({ record }));
  } catch (error) {
    if (!isUnreadableRecord(error)) throw error;
  }
  // Record by record, from the start of the page, so the bad ones are found where they stand.
  const entries: LedgerEntry[] = [];
  let afterSeq = query.afterSeq;
  while (entries.length < query.limit) {
    const next = await firstAfter(tx, workspaceId, query, afterSeq);
    if (next === null) break;
    if (next instanceof UnreadableRowError) {
      const seq = await seqOfUnreadable(tx, workspaceId, query, afterSeq, next.rowId);
      entries.push({ unreadable: { workspaceId, seq, id: next.rowId, reason: next.message } });
      afterSeq = seq;
    } else {
      entries.push({ record: next });
      afterSeq = next.seq;
    }
  }
  return entries;
}

/** The seq to read on from, after a page. */
export function seqOfEntry(entry: LedgerEntry): number {
  return entry.record ? entry.record.seq : entry.unreadable.seq;
}

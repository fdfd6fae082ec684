import type { ConsentRecord, ConsentState } from '../core/consent.js';
import {
  compareConsentStateKeys,
  consentStateKey,
  foldLedger,
  isRedacted,
  LedgerChainVerifier,
  LedgerFold,
  verifyLedgerExcerpt,
  type ErasedContacts,
  type LedgerExcerptVerification,
  type LedgerVerification,
} from '../core/ledger.js';
import { UnreadableRowError } from '../core/errors.js';
import type { ConsentStateKey } from '../ports/store.js';
import { LedgerHeadSchema, ledgerHeadKey, type UnitOfWork } from './unit-of-work.js';
import { readLedgerPage, type UnreadableRecord } from './ledger-pages.js';
import { nextTurn } from './next-turn.js';

export interface StateMismatch {
  contactId: string;
  purpose: string;
  channel: string;
}

export interface LedgerReport {
  workspaceId: string;
  ok: boolean;
  records: number;
  chain: LedgerVerification;
  /** Materialised rows that differ from the fold of the ledger (should always be empty). */
  stateMismatches: StateMismatch[];
}

export interface ContactLedgerReport {
  workspaceId: string;
  contactId: string;
  ok: boolean;
  records: number;
  chain: LedgerExcerptVerification;
  /** The contact's materialised rows that differ from the fold of its records (should always be empty). */
  stateMismatches: StateMismatch[];
}

/** Records read per transaction by `verifyWorkspaceLedger`: about 20 ms of hashing on a small server. */
const LEDGER_VERIFY_PAGE_SIZE = 1000;

export interface WorkspaceLedgerCheck {
  /** Runs `work` in a transaction of its own on the workspace. */
  inWorkspace: <T>(work: (uow: UnitOfWork) => Promise<T>) => Promise<T>;
  /** Records per transaction; default LEDGER_VERIFY_PAGE_SIZE. */
  pageSize?: number;
}

/**
 * The whole chain, against the head stored beside it, and every materialised status against the
 * fold, a page per transaction with a turn of the event loop between pages: a long ledger or a
 * large workspace never holds the store, nor a server's other requests, for the whole check (one
 * transaction over a million records would hash for tens of seconds).
 *
 * Pages of records read in different transactions are one chain because records are only ever
 * appended, and erasure rewrites only the evidence text, which no hash covers (its digest stays).
 * Statuses are compared only in a transaction that first read the chain to its end, so each page
 * of them is compared with exactly the records committed with it; records appended meanwhile are
 * in the check too. The head is compared in the last transaction, against the whole chain read.
 */
export async function verifyWorkspaceLedger(check: WorkspaceLedgerCheck): Promise<LedgerReport> {
  const pageSize = check.pageSize ?? LEDGER_VERIFY_PAGE_SIZE;
  const chain = new LedgerChainVerifier();
  const fold = new LedgerFold();
  const statuses = new StatusComparison(fold);
  let lastSeq = 0;
  for (;;) {
    const report = await check.inWorkspace(async (uow): Promise<LedgerReport | null> => {
      const { workspaceId } = uow;
      const page = await readRecords(uow, lastSeq, pageSize);
      chain.append(page.records, await erasedContactsOf(uow, page.records));
      fold.apply(page.records);
      lastSeq = page.records.at(-1)?.seq ?? lastSeq;
      if (page.unreadable) {
        // The records past it cannot be told apart from it, so the check ends at the first bad one.
        chain.appendUnreadable(page.unreadable.id, page.unreadable.reason);
        return { workspaceId, ok: false, records: chain.records, chain: chain.result(), stateMismatches: [] };
      }
      if (page.records.length === pageSize) return null;
      if (!(await statuses.comparePage(uow, pageSize))) return null;
      const verdict = await chainVerdict(uow, chain);
      const stateMismatches = statuses.mismatches();
      return { workspaceId, ok: verdict.ok && stateMismatches.length === 0, records: chain.records, chain: verdict, stateMismatches };
    });
    if (report) return report;
    await nextTurn();
  }
}

/**
 * The next records of the chain, up to the first that cannot be read back, and that one: the
 * report names the first bad record and still checks the ones before it.
 */
async function readRecords(uow: UnitOfWork, afterSeq: number, limit: number): Promise<{ records: ConsentRecord[]; unreadable: UnreadableRecord | null }> {
  const records: ConsentRecord[] = [];
  for (const entry of await readLedgerPage(uow.tx, uow.workspaceId, { afterSeq, limit })) {
    if (entry.unreadable) return { records, unreadable: entry.unreadable };
    records.push(entry.record);
  }
  return { records, unreadable: null };
}

/** The whole chain read against the head stored beside it, which must be there and readable once there are records. */
async function chainVerdict(uow: UnitOfWork, chain: LedgerChainVerifier): Promise<LedgerVerification> {
  let stored: unknown;
  try {
    stored = await uow.tx.getMeta(ledgerHeadKey(uow.workspaceId));
  } catch (error) {
    if (!(error instanceof UnreadableRowError)) throw error;
    return chain.resultWithoutHead(`the ledger head stored beside the chain cannot be read (${error.message})`);
  }
  if (stored === undefined) return chain.resultWithoutHead('no ledger head is stored beside the chain');
  const head = LedgerHeadSchema.safeParse(stored);
  if (!head.success) return chain.resultWithoutHead('the ledger head stored beside the chain is not a seq and a hash');
  const expectedHead = head.data;
  // Only a chain that runs on past its head needs the record just after the head named.
  const [pastHead] = chain.records > expectedHead.seq ? await uow.tx.listConsentRecords(uow.workspaceId, { afterSeq: expectedHead.seq, limit: 1 }) : [];
  return chain.result(expectedHead, (seq) => (pastHead?.seq === seq ? pastHead.id : null));
}

/**
 * Every materialised status of a workspace against the fold, a page per call: first the stored
 * rows in key order, then, unless each folded status met its row there, the folded statuses no
 * stored row was compared with — their row is missing, or their first record was appended after
 * the rows around their key had been read.
 */
class StatusComparison {
  /** The folded statuses a stored row was compared with (a status a later record replaced is looked up again). */
  private readonly compared = new Set<ConsentState>();
  private storedAfter: ConsentStateKey | undefined;
  /**
   * Walks the fold once the stored rows are done (null until then). A Map's iterator also visits
   * the entries added while it runs, so statuses folded from records appended meanwhile are looked
   * up too.
   */
  private left: Iterator<ConsentState> | null = null;
  private readonly found: StateMismatch[] = [];

  constructor(private readonly fold: LedgerFold) {}

  /** Compares one page; true once every status has been compared (the caller then stops calling). */
  async comparePage(uow: UnitOfWork, pageSize: number): Promise<boolean> {
    if (this.left === null) {
      const after = this.storedAfter;
      const stored = await uow.tx.listConsentStates(uow.workspaceId, { ...(after ? { after } : {}), limit: pageSize });
      for (const actual of stored) {
        const folded = this.fold.get(actual);
        if (folded) this.compared.add(folded);
        if (!sameStatus(folded, actual)) this.found.push(mismatchOf(actual));
      }
      this.storedAfter = stored.at(-1) ?? after;
      if (stored.length === pageSize) return false;
      // Every folded status met its own row: there is nothing left to look up.
      if (this.compared.size === this.fold.size) return true;
      this.left = this.fold.values();
    }
    for (let looked = 0; looked < pageSize; looked += 1) {
      const next = this.left.next();
      if (next.done) return true;
      const folded = next.value;
      if (this.compared.has(folded)) continue;
      const actual = await uow.tx.getConsentState(uow.workspaceId, folded.contactId, folded.purpose, folded.channel);
      if (!sameStatus(folded, actual)) this.found.push(mismatchOf(folded));
    }
    return false;
  }

  /** In contact, purpose, channel order. */
  mismatches(): StateMismatch[] {
    return [...this.found].sort(compareConsentStateKeys);
  }
}

/**
 * One contact's records and statuses, reading only them and the record just before each in the
 * chain: what a consent receipt can afford on every request, however long the workspace chain.
 */
export async function verifyContactLedger(uow: UnitOfWork, contactId: string, records?: readonly ConsentRecord[]): Promise<ContactLedgerReport> {
  const { workspaceId } = uow;
  const own = records ?? (await uow.tx.listConsentRecords(workspaceId, { contactId }));
  const hashBySeq = new Map(own.map((record) => [record.seq, record.hash]));
  for (const record of own) {
    const before = record.seq - 1;
    if (before < 1 || hashBySeq.has(before)) continue;
    const [found] = await uow.tx.listConsentRecords(workspaceId, { afterSeq: before - 1, limit: 1 });
    if (found && found.seq === before) hashBySeq.set(before, found.hash);
  }
  const chain = verifyLedgerExcerpt(own, hashBySeq, await erasedContactsOf(uow, own));
  const stateMismatches = compareStates(foldLedger(own), await uow.tx.getConsentStates(workspaceId, contactId));
  return { workspaceId, contactId, ok: chain.ok && stateMismatches.length === 0, records: own.length, chain, stateMismatches };
}

/** Of the contacts whose evidence `records` hold redacted, those erasure has reached: one read per such contact. */
async function erasedContactsOf(uow: UnitOfWork, records: readonly ConsentRecord[]): Promise<ErasedContacts> {
  const erased = new Set<string>();
  const checked = new Set<string>();
  for (const record of records) {
    if (!isRedacted(record.evidence) || checked.has(record.contactId)) continue;
    checked.add(record.contactId);
    const contact = await uow.tx.getContact(uow.workspaceId, record.contactId);
    if (contact?.erasedAt) erased.add(record.contactId);
  }
  return erased;
}

function compareStates(folded: readonly ConsentState[], stored: readonly ConsentState[]): StateMismatch[] {
  const storedByKey = new Map(stored.map((s) => [consentStateKey(s), s]));
  const mismatches: StateMismatch[] = [];
  for (const expected of folded) {
    const key = consentStateKey(expected);
    if (!sameStatus(expected, storedByKey.get(key))) mismatches.push(mismatchOf(expected));
    storedByKey.delete(key);
  }
  for (const extra of storedByKey.values()) mismatches.push(mismatchOf(extra));
  return mismatches;
}

/** A materialised row agrees with the fold when it names the same latest record and status. */
function sameStatus(expected: ConsentState | undefined, actual: ConsentState | undefined): boolean {
  return expected !== undefined && actual !== undefined && actual.recordId === expected.recordId && actual.status === expected.status;
}

function mismatchOf(state: StateMismatch): StateMismatch {
  return { contactId: state.contactId, purpose: state.purpose, channel: state.channel };
}

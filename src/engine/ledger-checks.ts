import { setImmediate } from 'node:timers';
import type { ConsentRecord, ConsentState } from '../core/consent.js';
import {
  foldLedger,
  LedgerChainVerifier,
  LedgerFold,
  verifyLedgerExcerpt,
  type LedgerExcerptVerification,
  type LedgerVerification,
} from '../core/ledger.js';
import { LedgerHeadSchema, ledgerHeadKey, type UnitOfWork } from './unit-of-work.js';

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

const nextTurn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The whole chain, against the head stored beside it, and every materialised status against the
 * fold, read a page of records per transaction with a turn of the event loop between pages: a long
 * ledger never holds the store, nor a server's other requests, for the whole check (one
 * transaction over a million records would hash for tens of seconds). Pages read in different
 * transactions are one chain because records are only ever appended, and erasure rewrites only
 * the evidence text, which no hash covers (its digest stays). The head and the materialised
 * statuses are read in the transaction that finds the chain's end, so they are compared with
 * exactly the records read up to then; records appended meanwhile are in the check too.
 */
export async function verifyWorkspaceLedger(check: WorkspaceLedgerCheck): Promise<LedgerReport> {
  const pageSize = check.pageSize ?? LEDGER_VERIFY_PAGE_SIZE;
  const chain = new LedgerChainVerifier();
  const fold = new LedgerFold();
  let lastSeq = 0;
  for (;;) {
    const report = await check.inWorkspace(async (uow): Promise<LedgerReport | null> => {
      const { workspaceId } = uow;
      const records = await uow.tx.listConsentRecords(workspaceId, { afterSeq: lastSeq, limit: pageSize });
      chain.append(records);
      fold.apply(records);
      lastSeq = records.at(-1)?.seq ?? lastSeq;
      if (records.length === pageSize) return null;
      const head = LedgerHeadSchema.safeParse(await uow.tx.getMeta(ledgerHeadKey(workspaceId)));
      const expectedHead = head.success ? head.data : undefined;
      // Only a chain that runs on past its head needs the record just after the head named.
      const [pastHead] =
        expectedHead && chain.records > expectedHead.seq ? await uow.tx.listConsentRecords(workspaceId, { afterSeq: expectedHead.seq, limit: 1 }) : [];
      const verdict = chain.result(expectedHead, (seq) => (pastHead?.seq === seq ? pastHead.id : null));
      const stateMismatches = compareStates(fold.states(), await uow.tx.listAllConsentStates(workspaceId));
      return { workspaceId, ok: verdict.ok && stateMismatches.length === 0, records: chain.records, chain: verdict, stateMismatches };
    });
    if (report) return report;
    await nextTurn();
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
  const chain = verifyLedgerExcerpt(own, hashBySeq);
  const stateMismatches = compareStates(foldLedger(own), await uow.tx.getConsentStates(workspaceId, contactId));
  return { workspaceId, contactId, ok: chain.ok && stateMismatches.length === 0, records: own.length, chain, stateMismatches };
}

function compareStates(folded: readonly ConsentState[], stored: readonly ConsentState[]): StateMismatch[] {
  const key = (s: ConsentState) => `${s.contactId}|${s.purpose}|${s.channel}`;
  const storedByKey = new Map(stored.map((s) => [key(s), s]));
  const mismatches: StateMismatch[] = [];
  for (const expected of folded) {
    const actual = storedByKey.get(key(expected));
    storedByKey.delete(key(expected));
    if (!actual || actual.recordId !== expected.recordId || actual.status !== expected.status) {
      mismatches.push({ contactId: expected.contactId, purpose: expected.purpose, channel: expected.channel });
    }
  }
  for (const extra of storedByKey.values()) mismatches.push({ contactId: extra.contactId, purpose: extra.purpose, channel: extra.channel });
  return mismatches;
}

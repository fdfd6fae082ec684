import type { ConsentRecord, ConsentState } from '../core/consent.js';
import { foldLedger, verifyLedger, verifyLedgerExcerpt, type LedgerExcerptVerification, type LedgerVerification } from '../core/ledger.js';
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

/** The whole workspace chain, against the head stored beside it, and every materialised status against the fold. */
export async function verifyWorkspaceLedger(uow: UnitOfWork): Promise<LedgerReport> {
  const { workspaceId } = uow;
  const records = await uow.tx.listConsentRecords(workspaceId, {});
  const head = LedgerHeadSchema.safeParse(await uow.tx.getMeta(ledgerHeadKey(workspaceId)));
  const chain = verifyLedger(records, head.success ? head.data : undefined);
  const stateMismatches = compareStates(foldLedger(records), await uow.tx.listAllConsentStates(workspaceId));
  return { workspaceId, ok: chain.ok && stateMismatches.length === 0, records: records.length, chain, stateMismatches };
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

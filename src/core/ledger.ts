import * as nodeCrypto from 'node:crypto';
import type { z } from 'zod';
import {
  BUILT_IN_PURPOSES,
  ConsentDecisionSchema,
  EvidenceSchema,
  parsePlainConsentDecision,
  PERSON_SOURCES,
  type ParsedConsentDecision,
  type Actor,
  type Channel,
  type ConsentRecord,
  type ConsentSource,
  type ConsentState,
  type ConsentStatus,
  type EffectiveStatus,
  type Evidence,
  type LegalBasis,
  type Purpose,
} from './consent.js';
import { ConsentryError, describeIssues, type FieldIssue } from './errors.js';
import { FIELD_PARSE, shownValue } from './required.js';
import { assertKnownPurpose, knownPurposes, type WorkspaceSettings } from './settings.js';

/** `prevHash` of the first record of every workspace chain. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * A decision that passed `validateDecision`: optional inputs resolved to `null`, an empty
 * explanation turned into `null`, `occurredAt` in UTC (`toISOString`) so that stored values sort
 * as text in the same order as in time.
 */
export interface ValidDecision {
  contactId: string;
  purpose: Purpose;
  channel: Channel;
  status: ConsentStatus;
  legalBasis: LegalBasis | null;
  explanation: string | null;
  source: ConsentSource;
  actor: Actor;
  evidence: Evidence;
  occurredAt: string | null;
  idempotencyKey: string | null;
}

export type LedgerFailureReason =
  | 'hash_mismatch'
  | 'prev_hash_mismatch'
  | 'sequence_gap'
  | 'evidence_mismatch'
  | 'workspace_mismatch'
  /** The chain ends before the expected head. */
  | 'truncated'
  /** The chain is consistent in itself but does not end at the expected head. */
  | 'head_mismatch'
  /** The stored record cannot be read back at all (a column no longer holds what was written). */
  | 'unreadable'
  /** The evidence is redacted as erasure leaves it, but the record's contact was never erased. */
  | 'evidence_redacted';

export interface LedgerFault {
  /** The seq the record at `position` should carry (for `truncated`: the first missing seq). */
  seq: number;
  /** The id of the offending record; `null` when the fault is a missing record (`truncated`). */
  id: string | null;
  /** 0-based index in the list that was verified. */
  position: number;
  reason: LedgerFailureReason;
  message: string;
}

export type LedgerVerification =
  | { ok: true; count: number; headHash: string }
  | { ok: false; count: number; firstBad: LedgerFault };

/** The newest record of a chain, kept by stores apart from the records (see `verifyLedger`). */
export interface LedgerHead {
  seq: number;
  hash: string;
}

/**
 * JSON with object keys sorted (UTF-16 code-unit order) and `undefined` members left out, so the
 * same value always yields the same text whatever order its keys were built or stored in.
 * Array holes and `undefined` array items become `null`, as in `JSON.stringify`.
 */
export function canonicalJson(value: unknown): string {
  const text = canonicalFragment(value);
  if (text === undefined) throw new TypeError('canonicalJson: the value has no JSON representation');
  return text;
}

/** What JSON.stringify escapes in a string (quote, backslash, controls), and any surrogate, lone or paired. */
const NEEDS_JSON_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** JSON.stringify of a string; most strings hashed here need no escaping, which is cheaper to check than to do. */
function jsonString(text: string): string {
  return NEEDS_JSON_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`;
}

function canonicalFragment(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return jsonString(value);
    case 'number':
    case 'boolean':
      return JSON.stringify(value);
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'bigint':
      throw new TypeError('canonicalJson: bigint values have no JSON representation');
    case 'object':
      break;
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    let text = '[';
    for (let index = 0; index < value.length; index += 1) {
      if (index > 0) text += ',';
      text += canonicalFragment(value[index]) ?? 'null';
    }
    return `${text}]`;
  }
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  const keys = Object.keys(value).sort();
  return canonicalMembers(value, keys, keys.map(memberPrefix));
}

function memberPrefix(key: string): string {
  return KNOWN_MEMBER_PREFIXES.get(key) ?? `${JSON.stringify(key)}:`;
}

/** A member of an object of our own making (a record, a decoded JSON value), by name. */
function memberOf(value: object, key: string): unknown {
  return (value as Record<string, unknown>)[key];
}

/**
 * `{...}` of the members named by `sortedKeys` (already in canonical order), leaving out undefined
 * ones; `prefixes[i]` is `"sortedKeys[i]":`.
 */
function canonicalMembers(value: object, sortedKeys: readonly string[], prefixes: readonly string[]): string {
  let text = '{';
  let first = true;
  for (let index = 0; index < sortedKeys.length; index += 1) {
    const member = canonicalFragment(memberOf(value, sortedKeys[index] ?? ''));
    if (member === undefined) continue;
    if (!first) text += ',';
    first = false;
    text += prefixes[index];
    text += member;
  }
  return `${text}}`;
}

/**
 * SHA-256 in hex. The one-shot `crypto.hash` (Node 20.12+) skips the Hash object that
 * `createHash` builds; both give the same digest.
 */
const oneShotHash = typeof nodeCrypto.hash === 'function' ? nodeCrypto.hash : undefined;

export function sha256Hex(text: string): string {
  if (oneShotHash !== undefined) return oneShotHash('sha256', text, 'hex');
  return nodeCrypto.createHash('sha256').update(text, 'utf8').digest('hex');
}

export function digestEvidence(evidence: Evidence): string {
  return sha256Hex(canonicalJson(evidence));
}

/** What erasure leaves in place of a record's evidence; `evidenceDigest` still proves what was there. */
export function redactedEvidence(): Evidence {
  return { redacted: true };
}

/** Only evidence that is exactly `{ redacted: true }` counts as redacted: any other content must match its digest. */
export function isRedacted(evidence: Evidence): boolean {
  const keys = Object.keys(evidence).filter((key) => Reflect.get(evidence, key) !== undefined);
  return evidence.redacted === true && keys.length === 1;
}

/**
 * One entry per bad field; zod reports unknown keys on their enclosing object, so each key is named
 * as a field of its own. The error comes from a parse with FIELD_PARSE (or REQUEST_BODY_PARSE,
 * core/required.ts), so that an absent field reads `is required`.
 */
export function zodIssuesToFieldIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.flatMap((issue) => {
    const path = issue.path.map((segment) => String(segment));
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: [...path, key].join('.'), message: 'is not a known field' }));
    }
    return [{ path: path.join('.'), message: issue.message }];
  });
}

/**
 * The rule HubSpot's UI enforces for manual opt-ins: a person recording an opt-in on a contact's
 * behalf must state the legal basis (GDPR Art. 6) and explain it.
 * https://knowledge.hubspot.com/inbox/edit-whatsapp-consent-for-contacts
 * Opt-ins the contact gives itself (keyword, workflow answer) carry their own evidence, and
 * opt-outs never need a justification (Art. 7(3): withdrawing is as easy as giving). Null when the
 * decision satisfies it; a caller may ask before it does anything else for the decision.
 */
export function optInJustificationRefusal(decision: {
  status: ConsentStatus;
  source: ConsentSource;
  legalBasis: LegalBasis | null;
  explanation: string | null;
}): ConsentryError | null {
  const { status, source, legalBasis, explanation } = decision;
  if (status !== 'opted_in' || !PERSON_SOURCES.includes(source)) return null;
  const issues: FieldIssue[] = [];
  if (legalBasis === null) issues.push({ path: 'legalBasis', message: `an opt-in recorded from source "${source}" needs a legalBasis` });
  if (explanation === null) issues.push({ path: 'explanation', message: `an opt-in recorded from source "${source}" needs an explanation` });
  const first = issues[0];
  return first === undefined ? null : new ConsentryError(legalBasis === null ? 'LEGAL_BASIS_REQUIRED' : 'EXPLANATION_REQUIRED', first.message, issues);
}

/** Parses a decision and applies optInJustificationRefusal. */
export function validateDecision(input: unknown): ValidDecision {
  const plain = parsePlainConsentDecision(input);
  const data = plain ?? parseDecision(input);
  const explanation = data.explanation === undefined || data.explanation === null || data.explanation === '' ? null : data.explanation;
  const legalBasis = data.legalBasis ?? null;
  const refusal = optInJustificationRefusal({ status: data.status, source: data.source, legalBasis, explanation });
  if (refusal !== null) throw refusal;

  return {
    contactId: data.contactId,
    purpose: data.purpose,
    channel: data.channel,
    status: data.status,
    legalBasis,
    explanation: explanation === null ? null : explanation.toWellFormed(),
    source: data.source,
    actor: { kind: data.actor.kind, id: data.actor.id.toWellFormed() },
    evidence: wellFormedEvidence(data.evidence),
    // A plain decision's occurredAt is already spelled as toISOString spells it.
    occurredAt: data.occurredAt === undefined ? null : plain !== undefined ? data.occurredAt : new Date(data.occurredAt).toISOString(),
    idempotencyKey: data.idempotencyKey === undefined || data.idempotencyKey === null ? null : data.idempotencyKey.toWellFormed(),
  };
}

/**
 * The evidence with each lone surrogate (half of an emoji cut in two by a form or a truncating
 * client) written as U+FFFD, as a store's UTF-8 text turns it: the record is hashed as it will be
 * read back, and the evidence is plain Unicode that any JSON library writes the same way.
 */
function wellFormedEvidence(evidence: Evidence): Evidence {
  let copy: Evidence | undefined;
  for (const [key, value] of Object.entries(evidence)) {
    let formed: unknown = value;
    if (typeof value === 'string' && !value.isWellFormed()) formed = value.toWellFormed();
    else if (Array.isArray(value) && value.some((text: unknown) => typeof text === 'string' && !text.isWellFormed())) formed = value.map((text: string) => text.toWellFormed());
    if (formed === value) continue;
    copy ??= { ...evidence };
    (copy as Record<string, unknown>)[key] = formed;
  }
  return copy ?? evidence;
}

function parseDecision(input: unknown): ParsedConsentDecision {
  const parsed = ConsentDecisionSchema.safeParse(input, FIELD_PARSE);
  if (!parsed.success) {
    const issues = zodIssuesToFieldIssues(parsed.error);
    const summary = issues.map((issue) => (issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`)).join('; ');
    throw new ConsentryError('VALIDATION_FAILED', `invalid consent decision: ${summary}`, issues);
  }
  return parsed.data;
}

/**
 * How far a caller's `occurredAt` may run ahead of our clock. Within it the time is clamped to
 * `recordedAt`; beyond it the decision is refused. A decision dated in the future would
 * otherwise outrank every later decision of the contact (a STOP sent a minute later included)
 * until that time came.
 */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

/**
 * The earliest time a decision can have occurred: the Unix epoch. A consent dated before it is a
 * mistyped year (`0001-01-01`), and would sort before every real decision of the contact.
 */
export const EARLIEST_OCCURRENCE = '1970-01-01T00:00:00Z';
const EARLIEST_OCCURRENCE_MS = Date.parse(EARLIEST_OCCURRENCE);

/** Whether an instant (any ISO 8601 form Date.parse reads) is earlier than EARLIEST_OCCURRENCE. */
export function isBeforeEarliestOccurrence(instant: string): boolean {
  return Date.parse(instant) < EARLIEST_OCCURRENCE_MS;
}

/**
 * The refusal of a decision time before EARLIEST_OCCURRENCE, in the house wording: the field is
 * named once, by its path, and the value is quoted (shownValue): `"1969-12-31T23:59:59Z" is before
 * 1970-01-01T00:00:00Z`.
 */
export function earliestOccurrenceMessage(occurredAt: unknown): string {
  return `${shownValue(occurredAt)} is before ${EARLIEST_OCCURRENCE}`;
}

/** The problem with a decision time before EARLIEST_OCCURRENCE, named as `occurredAt`; undefined for a later one. */
export function earliestOccurrenceIssue(occurredAt: string): FieldIssue | undefined {
  return isBeforeEarliestOccurrence(occurredAt) ? { path: 'occurredAt', message: earliestOccurrenceMessage(occurredAt) } : undefined;
}

/**
 * The refusal of a decision time further ahead of the time of recording than MAX_CLOCK_SKEW_MS,
 * saying how far ahead is taken: `"2030-01-01T00:00:00.000Z" is more than 5 minutes after the time
 * of recording (2026-03-01T09:00:00.000Z)`.
 */
function aheadOfRecordingMessage(occurredAt: string, recordedAt: string): string {
  return `${shownValue(occurredAt)} is more than ${MAX_CLOCK_SKEW_MS / 60_000} minutes after the time of recording (${recordedAt})`;
}

export interface ChainContext {
  id: string;
  workspaceId: string;
  recordedAt: string;
  /** The workspace's current head; `undefined` for its first record. */
  previous: LedgerHead | undefined;
  /** The decision's time as the caller wrote it, quoted when it is refused (recordedOccurrence). */
  occurredAtAsSent?: string | null;
}

/**
 * When a decision recorded at `recordedAt` occurred: its own time, clamped within the allowed skew,
 * refused beyond it. A refusal quotes `asSent`, the time as the caller wrote it (its zone and
 * fraction), where the caller has it; else the decision's time in UTC.
 */
export function recordedOccurrence(decision: Pick<ValidDecision, 'occurredAt'>, recordedAt: string, asSent: string | null = decision.occurredAt): string {
  const occurredAt = decision.occurredAt ?? recordedAt;
  const quoted = asSent ?? occurredAt;
  if (isBeforeEarliestOccurrence(occurredAt)) {
    const early: FieldIssue = { path: 'occurredAt', message: earliestOccurrenceMessage(quoted) };
    throw new ConsentryError('VALIDATION_FAILED', describeIssues([early]), [early]);
  }
  const aheadMs = Date.parse(occurredAt) - Date.parse(recordedAt);
  if (aheadMs > MAX_CLOCK_SKEW_MS) {
    const ahead: FieldIssue = { path: 'occurredAt', message: aheadOfRecordingMessage(quoted, recordedAt) };
    throw new ConsentryError('VALIDATION_FAILED', describeIssues([ahead]), [ahead]);
  }
  return aheadMs > 0 ? recordedAt : occurredAt;
}

export function chainRecord(decision: ValidDecision, ctx: ChainContext): ConsentRecord {
  const occurredAt = recordedOccurrence(decision, ctx.recordedAt, ctx.occurredAtAsSent ?? decision.occurredAt);

  const record: ConsentRecord = {
    id: ctx.id,
    workspaceId: ctx.workspaceId,
    contactId: decision.contactId,
    purpose: decision.purpose,
    channel: decision.channel,
    status: decision.status,
    legalBasis: decision.legalBasis,
    explanation: decision.explanation,
    source: decision.source,
    actor: { kind: decision.actor.kind, id: decision.actor.id },
    evidence: decision.evidence,
    evidenceDigest: digestEvidence(decision.evidence),
    occurredAt,
    recordedAt: ctx.recordedAt,
    idempotencyKey: decision.idempotencyKey,
    seq: ctx.previous === undefined ? 1 : ctx.previous.seq + 1,
    prevHash: ctx.previous === undefined ? GENESIS_HASH : ctx.previous.hash,
    hash: '',
  };
  // computeRecordHash covers every field but `hash`, so the record can be hashed in place.
  record.hash = computeRecordHash(record);
  return record;
}

/**
 * sha256 of every field but `hash` and `evidence` (DESIGN §2): `evidenceDigest` stands in for the
 * evidence so it can be redacted on erasure without breaking the chain. The fields are listed
 * one by one so that a property a store adds to its rows never changes the hash.
 */
export function computeRecordHash(record: Omit<ConsentRecord, 'hash'> | ConsentRecord): string {
  return sha256Hex(canonicalMembers(record, HASHED_FIELDS_SORTED, HASHED_FIELD_PREFIXES));
}

/** Every field but `hash` and `evidence`; hashed in canonical (sorted) order. */
const HASHED_FIELDS: readonly (keyof Omit<ConsentRecord, 'hash' | 'evidence'>)[] = [
  'id',
  'workspaceId',
  'contactId',
  'purpose',
  'channel',
  'status',
  'legalBasis',
  'explanation',
  'source',
  'actor',
  'evidenceDigest',
  'occurredAt',
  'recordedAt',
  'idempotencyKey',
  'seq',
  'prevHash',
];
/** The members of the objects hashed on every record (evidence, actor), spelled once. */
const KNOWN_MEMBER_PREFIXES: ReadonlyMap<string, string> = new Map(
  [...Object.keys(EvidenceSchema.shape), 'id', 'kind'].map((key) => [key, `${JSON.stringify(key)}:`]),
);
const HASHED_FIELDS_SORTED: readonly string[] = [...HASHED_FIELDS].sort();
const HASHED_FIELD_PREFIXES: readonly string[] = HASHED_FIELDS_SORTED.map(memberPrefix);

/**
 * The contacts erasure has reached, for the records a check reads: only erasure may redact
 * evidence, which the digest alone cannot tell from evidence wiped to hide how a decision was
 * made. A check without it does not look at redacted evidence.
 */
export type ErasedContacts = ReadonlySet<string>;

/**
 * What is wrong with one record given what the chain expects at its place, or null. Every check
 * but the sequence and the link needs the record alone; those two take the expectation.
 */
function recordFault(
  record: ConsentRecord,
  position: number,
  expected: { seq: number; prevHash: string | undefined; workspaceId: string | undefined },
  erased?: ErasedContacts,
): LedgerFault | null {
  const at = { seq: expected.seq, id: record.id, position };
  if (record.workspaceId !== expected.workspaceId) {
    return { ...at, reason: 'workspace_mismatch', message: `record ${record.id} belongs to workspace ${record.workspaceId}, not ${String(expected.workspaceId)}` };
  }
  if (record.seq !== expected.seq) {
    return { ...at, reason: 'sequence_gap', message: `record ${record.id} has seq ${record.seq} where seq ${expected.seq} was expected` };
  }
  if (expected.prevHash === undefined) {
    return { ...at, reason: 'truncated', message: `the record before ${record.id} (seq ${record.seq - 1}) is missing from the chain` };
  }
  if (record.prevHash !== expected.prevHash) {
    return { ...at, reason: 'prev_hash_mismatch', message: `record ${record.id} does not link to the hash of the record before it` };
  }
  if (!isRedacted(record.evidence) && digestEvidence(record.evidence) !== record.evidenceDigest) {
    return { ...at, reason: 'evidence_mismatch', message: `the evidence of record ${record.id} does not match its evidenceDigest` };
  }
  if (erased !== undefined && isRedacted(record.evidence) && !erased.has(record.contactId)) {
    return { ...at, reason: 'evidence_redacted', message: `the evidence of record ${record.id} is redacted, but its contact ${record.contactId} was never erased` };
  }
  if (computeRecordHash(record) !== record.hash) {
    return { ...at, reason: 'hash_mismatch', message: `record ${record.id} does not match its hash` };
  }
  return null;
}

export type LedgerExcerptVerification = { ok: true; count: number } | { ok: false; count: number; firstBad: LedgerFault };

/**
 * Checks some records of one workspace's chain (one contact's, say) without reading the rest:
 * each must match its hash and evidence digest and link to the hash of the record just before it
 * in the chain. `hashBySeq` holds those hashes (the records' own included). The whole chain,
 * with its head, is only proved by `verifyLedger`.
 */
export function verifyLedgerExcerpt(records: readonly ConsentRecord[], hashBySeq: ReadonlyMap<number, string>, erased?: ErasedContacts): LedgerExcerptVerification {
  const count = records.length;
  const workspaceId = records[0]?.workspaceId;
  let previousSeq = 0;
  for (const [position, record] of records.entries()) {
    const seq = Math.max(record.seq, previousSeq + 1);
    const prevHash = seq === 1 ? GENESIS_HASH : hashBySeq.get(seq - 1);
    const fault = recordFault(record, position, { seq, prevHash, workspaceId }, erased);
    if (fault) return { ok: false, count, firstBad: fault };
    previousSeq = seq;
  }
  return { ok: true, count };
}

/**
 * Checks one workspace's chain, given in stored order, and names the first bad record.
 * A chain only proves what it contains: records removed from its end, or a chain rewritten
 * wholesale, leave a shorter or different chain that is consistent in itself. Stores therefore
 * keep the head (seq and hash of the newest record) apart from the records, updated in the same
 * transaction as each append, and pass it as `expectedHead`.
 */
export function verifyLedger(records: readonly ConsentRecord[], expectedHead?: LedgerHead): LedgerVerification {
  const verifier = new LedgerChainVerifier();
  verifier.append(records);
  return verifier.result(expectedHead, (seq) => records[seq - 1]?.id ?? null);
}

/**
 * `verifyLedger` a page at a time: the chain's records are appended in stored order, in as many
 * calls as it takes, and each is checked against the one before it wherever the pages split.
 * Only the last record's hash and id are kept, so a chain of any length is checked in constant
 * memory. After the first bad record the rest are counted, not checked.
 */
export class LedgerChainVerifier {
  private count = 0;
  private previousHash = GENESIS_HASH;
  private workspaceId: string | undefined;
  private lastId: string | null = null;
  private fault: LedgerFault | null = null;

  /** Records appended so far. */
  get records(): number {
    return this.count;
  }

  /** Checks the chain's next records; false once a bad record has been found. */
  append(records: readonly ConsentRecord[], erased?: ErasedContacts): boolean {
    for (const record of records) {
      const position = this.count;
      this.count += 1;
      if (this.fault) continue;
      this.workspaceId ??= record.workspaceId;
      this.fault = recordFault(record, position, { seq: position + 1, prevHash: this.previousHash, workspaceId: this.workspaceId }, erased);
      this.previousHash = record.hash;
      this.lastId = record.id;
    }
    return this.fault === null;
  }

  /** The chain's next record cannot be read: it is the first bad one unless an earlier one was. */
  appendUnreadable(id: string, message: string): void {
    const position = this.count;
    this.count += 1;
    this.fault ??= { seq: position + 1, id, position, reason: 'unreadable', message };
  }

  /**
   * The verdict when the head kept apart from the records is missing or cannot be read: without it
   * a removed last record goes unseen, so a chain with records fails at its last one.
   */
  resultWithoutHead(why: string): LedgerVerification {
    const count = this.count;
    if (this.fault) return { ok: false, count, firstBad: this.fault };
    if (count === 0) return { ok: true, count, headHash: this.previousHash };
    return { ok: false, count, firstBad: { seq: count, id: this.lastId, position: count - 1, reason: 'head_mismatch', message: why } };
  }

  /**
   * The verdict on the records appended so far, against the head the store keeps apart from them
   * when it is given. `recordIdAt` names the record with a seq past the head when the chain runs
   * on beyond it.
   */
  result(expectedHead?: LedgerHead, recordIdAt: (seq: number) => string | null = () => null): LedgerVerification {
    const count = this.count;
    const fail = (fault: LedgerFault): LedgerVerification => ({ ok: false, count, firstBad: fault });
    if (this.fault) return fail(this.fault);
    if (expectedHead !== undefined) {
      if (count < expectedHead.seq) {
        return fail({
          seq: count + 1,
          id: null,
          position: count,
          reason: 'truncated',
          message: `the chain ends at seq ${count} but its head is at seq ${expectedHead.seq}`,
        });
      }
      if (count > expectedHead.seq) {
        return fail({
          seq: expectedHead.seq + 1,
          id: recordIdAt(expectedHead.seq + 1),
          position: expectedHead.seq,
          reason: 'head_mismatch',
          message: `the chain continues past its head at seq ${expectedHead.seq}`,
        });
      }
      if (this.previousHash !== expectedHead.hash) {
        return fail({
          seq: count,
          id: this.lastId,
          position: Math.max(count - 1, 0),
          reason: 'head_mismatch',
          message: `the chain does not end at the expected head hash`,
        });
      }
    }
    return { ok: true, count, headHash: this.previousHash };
  }
}

function compareInstants(a: string, b: string): number {
  const aMs = Date.parse(a);
  const bMs = Date.parse(b);
  if (Number.isNaN(aMs) || Number.isNaN(bMs)) return a < b ? -1 : a > b ? 1 : 0;
  return aMs - bMs;
}

/** Later `occurredAt` wins; on a tie the later-recorded decision (higher seq) wins. */
export function isNewerDecision(candidate: { occurredAt: string; seq: number }, current: { occurredAt: string; seq: number }): boolean {
  const byTime = compareInstants(candidate.occurredAt, current.occurredAt);
  return byTime > 0 || (byTime === 0 && candidate.seq > current.seq);
}

function stateOf(record: ConsentRecord): ConsentState {
  return {
    workspaceId: record.workspaceId,
    contactId: record.contactId,
    purpose: record.purpose,
    channel: record.channel,
    status: record.status,
    legalBasis: record.legalBasis,
    explanation: record.explanation,
    source: record.source,
    occurredAt: record.occurredAt,
    recordId: record.id,
    seq: record.seq,
  };
}

/** Identifies the (workspace, contact, purpose, channel) a state or record is about. */
export function consentStateKey(subject: Pick<ConsentState, 'workspaceId' | 'contactId' | 'purpose' | 'channel'>): string {
  return JSON.stringify([subject.workspaceId, subject.contactId, subject.purpose, subject.channel]);
}

/** Orders states (or their keys) by contact, purpose, channel, comparing UTF-16 code units. */
export function compareConsentStateKeys(
  a: { contactId: string; purpose: string; channel: string },
  b: { contactId: string; purpose: string; channel: string },
): number {
  for (const field of ['contactId', 'purpose', 'channel'] as const) {
    if (a[field] !== b[field]) return a[field] < b[field] ? -1 : 1;
  }
  return 0;
}

/**
 * Applies one record to the current state of its (contact, purpose, channel). A record that
 * occurred before the current state (a backdated import) leaves it unchanged, so the result does
 * not depend on the order records arrive in.
 */
export function applyRecord(current: ConsentState | undefined, record: ConsentRecord): ConsentState {
  if (current === undefined) return stateOf(record);
  if (
    current.workspaceId !== record.workspaceId ||
    current.contactId !== record.contactId ||
    current.purpose !== record.purpose ||
    current.channel !== record.channel
  ) {
    throw new ConsentryError('VALIDATION_FAILED', `record ${record.id} is about ${consentStateKey(record)}, not ${consentStateKey(current)}`);
  }
  return isNewerDecision(record, current) ? stateOf(record) : current;
}

/** Current status of every (contact, purpose, channel) in the records, ordered by workspace, contact, purpose, channel. */
export function foldLedger(records: readonly ConsentRecord[]): ConsentState[] {
  const fold = new LedgerFold();
  fold.apply(records);
  return fold.states();
}

/** `foldLedger` a page of records at a time, for a chain read in pages. */
export class LedgerFold {
  private readonly byKey = new Map<string, ConsentState>();

  apply(records: readonly ConsentRecord[]): void {
    for (const record of records) {
      const key = consentStateKey(record);
      this.byKey.set(key, applyRecord(this.byKey.get(key), record));
    }
  }

  /** The folded state of one (workspace, contact, purpose, channel); undefined when no record is about it. */
  get(subject: Pick<ConsentState, 'workspaceId' | 'contactId' | 'purpose' | 'channel'>): ConsentState | undefined {
    return this.byKey.get(consentStateKey(subject));
  }

  /** How many (workspace, contact, purpose, channel) the records are about. */
  get size(): number {
    return this.byKey.size;
  }

  /** Every folded state, in the order their key was first folded; a live iterator, as a Map's is. */
  values(): IterableIterator<ConsentState> {
    return this.byKey.values();
  }

  /** Ordered by workspace, contact, purpose, channel. */
  states(): ConsentState[] {
    return [...this.byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, state]) => state);
  }
}

/**
 * The status that governs one channel for a purpose, from one contact's states. A decision on
 * channel `any` (STOPALL) covers every channel, so it competes with the channel's own decision
 * and the later one wins.
 */
export function effectiveStatus(
  states: readonly ConsentState[],
  purpose: Purpose,
  channel: Channel,
): { status: EffectiveStatus; state: ConsentState | null } {
  let winner: ConsentState | null = null;
  for (const state of states) {
    if (state.purpose !== purpose) continue;
    if (state.channel !== channel && state.channel !== 'any') continue;
    if (winner === null || isNewerDecision(state, winner)) winner = state;
  }
  return winner === null ? { status: 'not_specified', state: null } : { status: winner.status, state: winner };
}

/**
 * One contact's states, looked up by purpose and channel. What governs a channel is its own
 * decision or the purpose's decision on `any`, whichever is newer (effectiveStatus), so a look-up
 * is two map reads. Built once where many channels are looked at (a receipt, a list of rows, STOP
 * ALL across the workspace's purposes), it keeps that work linear in the number of states, which
 * a contact with thousands of purposes and channels would otherwise make quadratic.
 */
export class ConsentStates {
  /** The newest state per purpose and channel (a contact has one; the newest wins if not). */
  private readonly byKey = new Map<string, ConsentState>();
  private readonly byPurpose = new Map<Purpose, ConsentState[]>();

  constructor(readonly all: readonly ConsentState[]) {
    for (const state of all) {
      const key = purposeChannelKey(state.purpose, state.channel);
      const held = this.byKey.get(key);
      if (held === undefined || isNewerDecision(state, held)) this.byKey.set(key, state);
      const ofPurpose = this.byPurpose.get(state.purpose);
      if (ofPurpose === undefined) this.byPurpose.set(state.purpose, [state]);
      else ofPurpose.push(state);
    }
  }

  /** effectiveStatus of the states, for `purpose` on `channel`. */
  effective(purpose: Purpose, channel: Channel): { status: EffectiveStatus; state: ConsentState | null } {
    const own = this.byKey.get(purposeChannelKey(purpose, channel));
    const everyChannel = channel === 'any' ? undefined : this.byKey.get(purposeChannelKey(purpose, 'any'));
    const winner = own === undefined ? everyChannel : everyChannel === undefined || !isNewerDecision(everyChannel, own) ? own : everyChannel;
    return winner === undefined ? { status: 'not_specified', state: null } : { status: winner.status, state: winner };
  }

  /** The contact's states for one purpose, on every channel. */
  ofPurpose(purpose: Purpose): readonly ConsentState[] {
    return this.byPurpose.get(purpose) ?? [];
  }
}

/** One key per purpose and channel, for maps of one contact's states or records. */
export const purposeChannelKey = (purpose: Purpose, channel: Channel): string => `${purpose}\u0000${channel}`;

/**
 * What governs the channel of one of a contact's states: the state itself, or a newer decision on
 * channel `any` (STOPALL after a START on WhatsApp leaves the WhatsApp row `opted_in`, but the
 * contact is opted out there). A state on `any` governs itself. `effectiveStatus` is what
 * `canMessage` reads for that purpose and channel.
 */
export function governingDecision(
  states: ConsentStates,
  state: ConsentState,
): { effectiveStatus: ConsentStatus; overriddenBy: ConsentState | null } {
  if (state.channel === 'any') return { effectiveStatus: state.status, overriddenBy: null };
  const winner = states.effective(state.purpose, state.channel).state;
  if (winner === null || winner.recordId === state.recordId) return { effectiveStatus: state.status, overriddenBy: null };
  return { effectiveStatus: winner.status, overriddenBy: winner };
}

/**
 * Of `purposes`, those the contact is opted in to on `channel` (for `any`: on some channel). What
 * an opt-out from the contact reaches beyond marketing: the workspace's own messaging purposes
 * it agreed to there (see handleKeyword).
 */
export function optedInPurposes(purposes: readonly Purpose[], states: readonly ConsentState[], channel: Channel): Purpose[] {
  const indexed = new ConsentStates(states);
  return purposes.filter((purpose) =>
    channel === 'any'
      ? indexed.ofPurpose(purpose).some((state) => indexed.effective(purpose, state.channel).status === 'opted_in')
      : indexed.effective(purpose, channel).status === 'opted_in',
  );
}

/**
 * The workspace's own purposes an opt-out on `channel` withdraws with marketing: those the contact
 * is opted in to there, the listed ones in their order, then any other beside the built-in ones
 * (one taken off the list since, whose opt-in would stand again were it put back).
 */
export function purposesAnOptOutReaches(listed: readonly Purpose[], states: readonly ConsentState[], channel: Channel): Purpose[] {
  const builtIn: readonly string[] = BUILT_IN_PURPOSES;
  const unlisted = new Set(states.map((state) => state.purpose).filter((purpose) => !builtIn.includes(purpose) && !listed.includes(purpose)));
  return optedInPurposes([...listed, ...[...unlisted].sort()], states, channel);
}

/**
 * Whether assertDecisionPurpose needs the contact's statuses to decide: only for an opt-out on a
 * purpose the workspace does not list, so that no other decision reads them.
 */
export function decisionPurposeNeedsStates(decision: { purpose: Purpose; status: ConsentStatus }, settings: Pick<WorkspaceSettings, 'purposes'>): boolean {
  return decision.status === 'opted_out' && !knownPurposes(settings).includes(decision.purpose);
}

/**
 * Refuses a decision on a purpose the workspace does not list (assertKnownPurpose), unless it is an
 * opt-out that withdraws an opt-in the contact holds to that purpose on some channel: a STOP
 * withdraws it too (purposesAnOptOutReaches), and consent given must stay as easy to withdraw
 * (GDPR Art. 7(3)) after its purpose is taken off the list. `states` are the contact's, needed only
 * when decisionPurposeNeedsStates says so.
 */
export function assertDecisionPurpose(
  decision: { purpose: Purpose; status: ConsentStatus },
  settings: Pick<WorkspaceSettings, 'purposes'>,
  states: readonly ConsentState[],
): void {
  if (decisionPurposeNeedsStates(decision, settings) && optedInPurposes([decision.purpose], states, 'any').length > 0) return;
  assertKnownPurpose(decision.purpose, settings);
}

export type CanMessageReason = 'opted_in' | 'opted_out' | 'not_specified' | 'contact_erased';

/** Consent is never presumed (GDPR Art. 4(11), recital 32: silence is not consent): only an explicit opt-in allows. */
export function canMessage(
  input: { states: readonly ConsentState[]; erased: boolean },
  channel: Channel,
  purpose: Purpose,
): { allowed: boolean; reason: CanMessageReason } {
  if (input.erased) return { allowed: false, reason: 'contact_erased' };
  const { status } = effectiveStatus(input.states, purpose, channel);
  return { allowed: status === 'opted_in', reason: status };
}

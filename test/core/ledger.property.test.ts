import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CHANNELS,
  CONSENT_SOURCES,
  CONSENT_STATUSES,
  LEGAL_BASES,
  PERSON_SOURCES,
  type ConsentDecision,
  type ConsentRecord,
  type ConsentState,
  type Evidence,
} from '../../src/core/consent.js';
import {
  applyRecord,
  canonicalJson,
  chainRecord,
  consentStateKey,
  ConsentStates,
  effectiveStatus,
  foldLedger,
  LedgerChainVerifier,
  LedgerFold,
  validateDecision,
  verifyLedger,
} from '../../src/core/ledger.js';

const RUNS = 300;
const BASE_MS = Date.parse('2025-03-01T09:00:00.000Z');
const minutes = (n: number): string => new Date(BASE_MS + n * 60_000).toISOString();

const evidenceArb: fc.Arbitrary<Evidence> = fc.record(
  {
    messageId: fc.string({ maxLength: 12 }),
    rawText: fc.string({ maxLength: 20 }),
    keyword: fc.constantFrom('START', 'STOP', 'STOPALL', 'ALTA', 'BAJA'),
    language: fc.constantFrom('en', 'es', 'fr'),
    workflowId: fc.string({ maxLength: 8 }),
    note: fc.string({ maxLength: 20 }),
  },
  { requiredKeys: [] },
);

/**
 * Decisions over few contacts, purposes and instants, so that keys repeat and occurredAt ties
 * happen. `occurredAtMinute` is relative to the chain start; the n-th record is recorded at
 * minute n, so small values make later records backdated.
 */
const decisionArb: fc.Arbitrary<ConsentDecision> = fc
  .record({
    contactId: fc.constantFrom('ct_ana', 'ct_bob', 'ct_eve'),
    purpose: fc.constantFrom('privacy', 'marketing', 'promo'),
    channel: fc.constantFrom(...CHANNELS),
    status: fc.constantFrom(...CONSENT_STATUSES),
    source: fc.constantFrom(...CONSENT_SOURCES),
    legalBasis: fc.constantFrom(...LEGAL_BASES),
    evidence: evidenceArb,
    occurredAtMinute: fc.option(fc.integer({ min: -3, max: 3 }), { nil: undefined }),
    idempotencyKey: fc.option(fc.string({ minLength: 1, maxLength: 8 }), { nil: null }),
  })
  .map(({ occurredAtMinute, legalBasis, ...rest }) => {
    const justified = PERSON_SOURCES.includes(rest.source);
    return {
      ...rest,
      actor: justified ? { kind: 'user' as const, id: 'usr_1' } : { kind: 'contact' as const, id: rest.contactId },
      legalBasis: justified ? legalBasis : null,
      explanation: justified ? 'Recorded by staff' : null,
      ...(occurredAtMinute === undefined ? {} : { occurredAt: minutes(occurredAtMinute) }),
    };
  });

function chainOf(decisions: readonly ConsentDecision[]): ConsentRecord[] {
  const records: ConsentRecord[] = [];
  decisions.forEach((input, index) => {
    const last = records.at(-1);
    records.push(
      chainRecord(validateDecision(input), {
        id: `rec_${index + 1}`,
        workspaceId: 'ws_1',
        recordedAt: minutes(index),
        previous: last === undefined ? undefined : { seq: last.seq, hash: last.hash },
      }),
    );
  });
  return records;
}

function byKey(states: Iterable<ConsentState>): ConsentState[] {
  return [...states].sort((a, b) => (consentStateKey(a) < consentStateKey(b) ? -1 : 1));
}

function applyOneByOne(records: readonly ConsentRecord[]): ConsentState[] {
  const states = new Map<string, ConsentState>();
  for (const record of records) {
    const key = consentStateKey(record);
    states.set(key, applyRecord(states.get(key), record));
  }
  return byKey(states.values());
}

describe('materialised status equals the fold of the ledger', () => {
  it('folding equals applying records one at a time, in chain order or any arrival order', () => {
    fc.assert(
      fc.property(
        fc.array(decisionArb, { minLength: 0, maxLength: 40 }).chain((decisions) => {
          const records = chainOf(decisions);
          return fc.tuple(fc.constant(records), fc.shuffledSubarray(records, { minLength: records.length, maxLength: records.length }));
        }),
        ([records, arrival]) => {
          const folded = foldLedger(records);
          expect(folded).toEqual(applyOneByOne(records));
          expect(folded).toEqual(applyOneByOne(arrival));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('each state is the record with the latest occurredAt, then the highest seq, for its key', () => {
    fc.assert(
      fc.property(fc.array(decisionArb, { minLength: 1, maxLength: 40 }), (decisions) => {
        const records = chainOf(decisions);
        const folded = foldLedger(records);
        const keys = new Set(records.map((record) => consentStateKey(record)));
        expect(folded).toHaveLength(keys.size);
        for (const state of folded) {
          const candidates = records.filter((record) => consentStateKey(record) === consentStateKey(state));
          const latestMs = Math.max(...candidates.map((record) => Date.parse(record.occurredAt)));
          const winner = candidates.filter((record) => Date.parse(record.occurredAt) === latestMs).reduce((a, b) => (b.seq > a.seq ? b : a));
          expect(state.recordId).toBe(winner.id);
          expect(state.status).toBe(winner.status);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

type RecordField = keyof ConsentRecord;
const hexArb = fc.stringMatching(/^[0-9a-f]{64}$/);
const fieldValueArb: Record<RecordField, fc.Arbitrary<unknown>> = {
  id: fc.string({ minLength: 1, maxLength: 10 }),
  workspaceId: fc.string({ minLength: 1, maxLength: 10 }),
  contactId: fc.string({ minLength: 1, maxLength: 10 }),
  purpose: fc.constantFrom('privacy', 'marketing', 'promo', 'newsletter'),
  channel: fc.constantFrom(...CHANNELS),
  status: fc.constantFrom(...CONSENT_STATUSES),
  legalBasis: fc.option(fc.constantFrom(...LEGAL_BASES), { nil: null }),
  explanation: fc.option(fc.string({ maxLength: 20 }), { nil: null }),
  source: fc.constantFrom(...CONSENT_SOURCES),
  actor: fc.record({ kind: fc.constantFrom('contact', 'user', 'integration', 'system'), id: fc.string({ minLength: 1, maxLength: 8 }) }),
  /** Redacting evidence to exactly `{ redacted: true }` is allowed; any other content is a tampering. */
  evidence: fc
    .tuple(evidenceArb, fc.option(fc.boolean(), { nil: undefined }))
    .map(([evidence, redacted]): Evidence => (redacted === undefined ? evidence : { ...evidence, redacted }))
    .filter((evidence) => canonicalJson(evidence) !== canonicalJson({ redacted: true })),
  evidenceDigest: hexArb,
  occurredAt: fc.integer({ min: -100, max: 100 }).map(minutes),
  recordedAt: fc.integer({ min: -100, max: 100 }).map(minutes),
  idempotencyKey: fc.option(fc.string({ minLength: 1, maxLength: 8 }), { nil: null }),
  seq: fc.integer({ min: 0, max: 50 }),
  prevHash: hexArb,
  hash: hexArb,
};
const FIELDS = Object.keys(fieldValueArb).filter((key): key is RecordField => key in fieldValueArb);

type Tampering =
  | { kind: 'edit'; at: number; field: RecordField; value: unknown }
  | { kind: 'delete'; at: number }
  | { kind: 'insert'; at: number; decision: ConsentDecision }
  | { kind: 'swap'; at: number };

const tamperingArb: fc.Arbitrary<Tampering> = fc.oneof(
  fc
    .constantFrom(...FIELDS)
    .chain((field) => fc.record({ kind: fc.constant('edit' as const), at: fc.nat(), field: fc.constant(field), value: fieldValueArb[field] })),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), decision: decisionArb }),
  fc.record({ kind: fc.constant('swap' as const), at: fc.nat() }),
);

/** Applies the tampering; returns the tampered list and where the first fault must be reported. */
function tamper(records: readonly ConsentRecord[], tampering: Tampering): { tampered: ConsentRecord[]; position: number; atTail: boolean } | null {
  const n = records.length;
  switch (tampering.kind) {
    case 'edit': {
      const at = tampering.at % n;
      const original = records[at];
      if (original === undefined || canonicalJson(original[tampering.field]) === canonicalJson(tampering.value)) return null;
      const edited = { ...original, [tampering.field]: tampering.value };
      return { tampered: records.map((record, index) => (index === at ? edited : record)), position: at, atTail: false };
    }
    case 'delete': {
      const at = tampering.at % n;
      return { tampered: records.filter((_, index) => index !== at), position: at, atTail: at === n - 1 };
    }
    case 'insert': {
      const at = tampering.at % (n + 1);
      const before = records[at - 1];
      const forged = chainRecord(validateDecision(tampering.decision), {
        id: 'rec_forged',
        workspaceId: 'ws_1',
        recordedAt: minutes(at),
        previous: before === undefined ? undefined : { seq: before.seq, hash: before.hash },
      });
      // A forger who links the record to its predecessor passes that spot; the next record then breaks.
      const atTail = at === n;
      return { tampered: [...records.slice(0, at), forged, ...records.slice(at)], position: atTail ? at : at + 1, atTail };
    }
    case 'swap': {
      if (n < 2) return null;
      const at = tampering.at % (n - 1);
      const first = records[at];
      const second = records[at + 1];
      if (first === undefined || second === undefined) return null;
      return { tampered: [...records.slice(0, at), second, first, ...records.slice(at + 2)], position: at, atTail: false };
    }
  }
}

describe('ConsentStates, the indexed look-up of what governs a channel', () => {
  it('answers as effectiveStatus for every purpose and channel, and groups the states by purpose', () => {
    fc.assert(
      fc.property(fc.array(decisionArb, { minLength: 0, maxLength: 40 }), (decisions) => {
        const states = foldLedger(chainOf(decisions));
        const indexed = new ConsentStates(states);
        for (const purpose of ['privacy', 'marketing', 'promo', 'newsletter']) {
          for (const channel of CHANNELS) expect(indexed.effective(purpose, channel)).toEqual(effectiveStatus(states, purpose, channel));
          expect(indexed.ofPurpose(purpose)).toEqual(states.filter((state) => state.purpose === purpose));
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe('verifyLedger detects any single tampering', () => {
  it('accepts every untampered chain, with and without its head', () => {
    fc.assert(
      fc.property(fc.array(decisionArb, { minLength: 0, maxLength: 12 }), (decisions) => {
        const records = chainOf(decisions);
        const last = records.at(-1);
        const head = last === undefined ? { seq: 0, hash: '0'.repeat(64) } : { seq: last.seq, hash: last.hash };
        expect(verifyLedger(records)).toEqual({ ok: true, count: records.length, headHash: head.hash });
        expect(verifyLedger(records, head)).toEqual({ ok: true, count: records.length, headHash: head.hash });
      }),
      { numRuns: RUNS },
    );
  });

  it('rejects a chain with one edited, deleted, inserted or swapped record, naming the first bad one', () => {
    fc.assert(
      fc.property(fc.array(decisionArb, { minLength: 1, maxLength: 12 }), tamperingArb, (decisions, tampering) => {
        const records = chainOf(decisions);
        const result = tamper(records, tampering);
        fc.pre(result !== null);
        if (result === null) return;
        const last = records.at(-1);
        if (last === undefined) return;

        const withHead = verifyLedger(result.tampered, { seq: last.seq, hash: last.hash });
        expect(withHead.ok).toBe(false);
        if (!withHead.ok) expect(withHead.firstBad.position).toBe(result.position);

        const withoutHead = verifyLedger(result.tampered);
        if (result.atTail) {
          // Removing or appending at the end leaves a chain consistent in itself: only the head tells.
          expect(withoutHead.ok).toBe(true);
        } else {
          expect(withoutHead).toEqual(withHead);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

/** Cuts `records` into consecutive pages at the given sizes (the last page takes what is left). */
function pagesOf<T>(records: readonly T[], sizes: readonly number[]): T[][] {
  const pages: T[][] = [];
  let offset = 0;
  for (const size of sizes) {
    if (offset >= records.length) break;
    pages.push(records.slice(offset, offset + size));
    offset += size;
  }
  pages.push(records.slice(offset));
  return pages;
}

describe('a chain read in pages', () => {
  const pageSizesArb = fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 15 });

  it('gets the verdict of verifyLedger wherever the pages split, tampered or not, with or without its head', () => {
    fc.assert(
      fc.property(fc.array(decisionArb, { minLength: 1, maxLength: 12 }), fc.option(tamperingArb, { nil: undefined }), pageSizesArb, (decisions, tampering, sizes) => {
        const records = chainOf(decisions);
        const tampered = tampering === undefined ? records : (tamper(records, tampering)?.tampered ?? records);
        const last = records.at(-1);
        const head = last === undefined ? undefined : { seq: last.seq, hash: last.hash };
        for (const expectedHead of [head, undefined]) {
          const verifier = new LedgerChainVerifier();
          const pages = pagesOf(tampered, sizes);
          const goodSoFar = pages.map((page) => verifier.append(page));
          const whole = verifyLedger(tampered, expectedHead);
          expect(verifier.result(expectedHead, (seq) => tampered[seq - 1]?.id ?? null)).toEqual(whole);
          expect(verifier.records).toBe(tampered.length);
          // Once a page holds a bad record, every later append says so too.
          expect(goodSoFar).toEqual([...goodSoFar].sort((a, b) => Number(b) - Number(a)));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('folds to the states of foldLedger wherever the pages split', () => {
    fc.assert(
      fc.property(fc.array(decisionArb, { maxLength: 30 }), pageSizesArb, (decisions, sizes) => {
        const records = chainOf(decisions);
        const fold = new LedgerFold();
        for (const page of pagesOf(records, sizes)) fold.apply(page);
        expect(fold.states()).toEqual(foldLedger(records));
      }),
      { numRuns: RUNS },
    );
  });
});

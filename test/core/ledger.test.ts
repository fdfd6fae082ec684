import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { PERSON_SOURCES, type ConsentDecision, type ConsentRecord, type ConsentState } from '../../src/core/consent.js';
import { ConsentryError } from '../../src/core/errors.js';
import {
  GENESIS_HASH,
  MAX_CLOCK_SKEW_MS,
  applyRecord,
  canMessage,
  canonicalJson,
  chainRecord,
  computeRecordHash,
  digestEvidence,
  effectiveStatus,
  foldLedger,
  redactedEvidence,
  validateDecision,
  verifyLedger,
  verifyLedgerExcerpt,
  zodIssuesToFieldIssues,
} from '../../src/core/ledger.js';

const BASE_MS = Date.parse('2025-03-01T09:00:00.000Z');
const minutes = (n: number): string => new Date(BASE_MS + n * 60_000).toISOString();

function decision(overrides: Partial<ConsentDecision> = {}): ConsentDecision {
  return {
    contactId: 'ct_ana',
    purpose: 'marketing',
    channel: 'whatsapp',
    status: 'opted_in',
    source: 'keyword',
    actor: { kind: 'contact', id: 'ct_ana' },
    evidence: { messageId: 'wamid.1', rawText: 'START', normalizedText: 'start', keyword: 'START', language: 'en' },
    ...overrides,
  };
}

/** Chains the decisions in order, recording the n-th one at minute n. */
function buildChain(decisions: readonly ConsentDecision[], workspaceId = 'ws_1'): ConsentRecord[] {
  const records: ConsentRecord[] = [];
  decisions.forEach((input, index) => {
    const last = records.at(-1);
    records.push(
      chainRecord(validateDecision(input), {
        id: `rec_${index + 1}`,
        workspaceId,
        recordedAt: minutes(index),
        previous: last === undefined ? undefined : { seq: last.seq, hash: last.hash },
      }),
    );
  });
  return records;
}

function fiveRecordChain(): ConsentRecord[] {
  return buildChain([
    decision(),
    decision({ channel: 'sms', status: 'opted_out', evidence: { rawText: 'STOP', keyword: 'STOP' } }),
    decision({
      source: 'manual',
      purpose: 'privacy',
      legalBasis: 'CONSENT_WITH_NOTICE',
      explanation: 'Signed the paper form at the shop',
      actor: { kind: 'user', id: 'usr_1' },
      evidence: { note: 'form 17' },
      idempotencyKey: 'form-17',
    }),
    decision({ contactId: 'ct_bob', status: 'opted_out', channel: 'any' }),
    decision({ source: 'workflow', evidence: { workflowId: 'wf_1', runId: 'run_1', button: 'Yes' } }),
  ]);
}

function caught(action: () => unknown): ConsentryError {
  try {
    action();
  } catch (error) {
    if (error instanceof ConsentryError) return error;
    throw error;
  }
  throw new Error('expected a ConsentryError');
}

function replaceAt(records: readonly ConsentRecord[], position: number, record: ConsentRecord): ConsentRecord[] {
  return records.map((existing, index) => (index === position ? record : existing));
}

function nth(records: readonly ConsentRecord[], position: number): ConsentRecord {
  const record = records[position];
  if (record === undefined) throw new Error(`no record at ${position}`);
  return record;
}

describe('canonicalJson', () => {
  it('sorts keys at every depth and leaves out undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 'x', null], c: true }, u: undefined })).toBe('{"a":{"c":true,"d":[1,"x",null]},"b":1}');
    expect(canonicalJson({ z: 1, a: 2 })).toBe(canonicalJson({ a: 2, z: 1 }));
  });

  it('follows JSON for arrays, strings and dates', () => {
    expect(canonicalJson([undefined, 1])).toBe('[null,1]');
    expect(canonicalJson('quote " and \n')).toBe(JSON.stringify('quote " and \n'));
    expect(canonicalJson(new Date('2025-01-01T00:00:00Z'))).toBe('"2025-01-01T00:00:00.000Z"');
    expect(() => canonicalJson(undefined)).toThrow(TypeError);
    expect(() => canonicalJson(1n)).toThrow(TypeError);
  });
});

describe('digestEvidence', () => {
  it('is a sha256 hex digest independent of key order', () => {
    const digest = digestEvidence({ rawText: 'STOP', keyword: 'STOP' });
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(digestEvidence({ keyword: 'STOP', rawText: 'STOP' })).toBe(digest);
    expect(digestEvidence({ keyword: 'STOP', rawText: 'STOP ' })).not.toBe(digest);
    expect(redactedEvidence()).toEqual({ redacted: true });
  });
});

describe('validateDecision', () => {
  it('resolves optional inputs to null and normalises occurredAt to UTC', () => {
    const valid = validateDecision(decision({ occurredAt: '2025-03-01T10:30:00+02:00', explanation: '   ' }));
    expect(valid).toEqual({
      contactId: 'ct_ana',
      purpose: 'marketing',
      channel: 'whatsapp',
      status: 'opted_in',
      legalBasis: null,
      explanation: null,
      source: 'keyword',
      actor: { kind: 'contact', id: 'ct_ana' },
      evidence: { messageId: 'wamid.1', rawText: 'START', normalizedText: 'start', keyword: 'START', language: 'en' },
      occurredAt: '2025-03-01T08:30:00.000Z',
      idempotencyKey: null,
    });
    expect(validateDecision({ ...decision(), evidence: undefined }).evidence).toEqual({});
  });

  it.each(['keyword', 'workflow'] as const)('accepts an opt-in from %s without a legal basis', (source) => {
    const valid = validateDecision(decision({ source }));
    expect(valid.status).toBe('opted_in');
    expect(valid.legalBasis).toBeNull();
  });

  it.each(PERSON_SOURCES)('requires a legal basis and an explanation for an opt-in from %s', (source) => {
    const both = caught(() => validateDecision(decision({ source, actor: { kind: 'user', id: 'usr_1' } })));
    expect(both.code).toBe('LEGAL_BASIS_REQUIRED');
    expect(both.message).toContain('legalBasis');
    expect(both.issues.map((issue) => issue.path)).toEqual(['legalBasis', 'explanation']);

    const noExplanation = caught(() => validateDecision(decision({ source, legalBasis: 'CONSENT_WITH_NOTICE', explanation: ' \n ' })));
    expect(noExplanation.code).toBe('EXPLANATION_REQUIRED');
    expect(noExplanation.issues).toEqual([{ path: 'explanation', message: noExplanation.message }]);

    const noBasis = caught(() => validateDecision(decision({ source, explanation: 'Asked at the counter', legalBasis: null })));
    expect(noBasis.code).toBe('LEGAL_BASIS_REQUIRED');
    expect(noBasis.issues).toEqual([{ path: 'legalBasis', message: noBasis.message }]);

    const complete = validateDecision(decision({ source, legalBasis: 'LEGITIMATE_INTEREST_CLIENT', explanation: '  Existing customer  ' }));
    expect(complete.legalBasis).toBe('LEGITIMATE_INTEREST_CLIENT');
    expect(complete.explanation).toBe('Existing customer');
  });

  it.each(['keyword', 'workflow', ...PERSON_SOURCES] as const)('never requires a justification for an opt-out from %s', (source) => {
    const valid = validateDecision(decision({ source, status: 'opted_out' }));
    expect(valid.status).toBe('opted_out');
    expect(valid.legalBasis).toBeNull();
    expect(valid.explanation).toBeNull();
  });

  it('reports every schema problem as a field issue', () => {
    const error = caught(() =>
      validateDecision({ ...decision(), purpose: 'Marketing!', channel: 'fax', actor: { kind: 'user', id: '' }, evidence: { colour: 'red' } }),
    );
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.issues.map((issue) => issue.path).sort()).toEqual(['actor.id', 'channel', 'evidence.colour', 'purpose']);
    expect(error.message).toContain('purpose');
    expect(caught(() => validateDecision('opt me in')).issues).toHaveLength(1);
    expect(caught(() => validateDecision(decision({ occurredAt: 'yesterday' }))).issues[0]?.path).toBe('occurredAt');
  });

  it('zodIssuesToFieldIssues joins paths with dots', () => {
    const schema = z.object({ rows: z.array(z.object({ email: z.string().email() })) });
    const parsed = schema.safeParse({ rows: [{ email: 'ana.test@example.com' }, { email: 'nope' }] });
    expect(parsed.success).toBe(false);
    if (parsed.success) return;
    const issues = zodIssuesToFieldIssues(parsed.error);
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe('rows.1.email');
    expect(issues[0]?.message).toMatch(/email/i);
  });
});

describe('chainRecord', () => {
  it('starts at seq 1 on the genesis hash and links each record to the one before', () => {
    const [first, second] = buildChain([decision(), decision({ status: 'opted_out' })]);
    expect(first).toMatchObject({ id: 'rec_1', workspaceId: 'ws_1', seq: 1, prevHash: GENESIS_HASH, occurredAt: minutes(0), recordedAt: minutes(0) });
    expect(first?.evidenceDigest).toBe(digestEvidence(decision().evidence ?? {}));
    expect(first?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(first && computeRecordHash(first)).toBe(first?.hash);
    expect(second).toMatchObject({ seq: 2, prevHash: first?.hash, status: 'opted_out' });
    expect(GENESIS_HASH).toBe('0'.repeat(64));
  });

  it('keeps a backdated occurredAt', () => {
    const [record] = buildChain([decision({ occurredAt: '2024-12-24T18:00:00Z' })]);
    expect(record?.occurredAt).toBe('2024-12-24T18:00:00.000Z');
    expect(record?.recordedAt).toBe(minutes(0));
  });

  it('clamps an occurredAt slightly ahead of the clock and refuses one further ahead', () => {
    const ctx = { id: 'rec_1', workspaceId: 'ws_1', recordedAt: minutes(0), previous: undefined };
    const skewed = chainRecord(validateDecision(decision({ occurredAt: new Date(BASE_MS + MAX_CLOCK_SKEW_MS).toISOString() })), ctx);
    expect(skewed.occurredAt).toBe(minutes(0));
    const error = caught(() => chainRecord(validateDecision(decision({ occurredAt: new Date(BASE_MS + MAX_CLOCK_SKEW_MS + 1).toISOString() })), ctx));
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.issues[0]?.path).toBe('occurredAt');
  });

  it('hashes every field but the evidence itself', () => {
    const record = nth(fiveRecordChain(), 2);
    expect(computeRecordHash({ ...record, evidence: redactedEvidence() })).toBe(record.hash);
    expect(computeRecordHash({ ...record, hash: 'f'.repeat(64) })).toBe(record.hash);
    expect(computeRecordHash(Object.assign({ storedBy: 'sqlite' }, record))).toBe(record.hash);
    const edits: Partial<ConsentRecord>[] = [
      { id: 'rec_x' },
      { workspaceId: 'ws_2' },
      { contactId: 'ct_bob' },
      { purpose: 'marketing' },
      { channel: 'any' },
      { status: 'opted_out' },
      { legalBasis: 'NON_GDPR' },
      { explanation: 'Signed the paper form at the shop.' },
      { source: 'api' },
      { actor: { kind: 'user', id: 'usr_2' } },
      { evidenceDigest: digestEvidence({ note: 'form 18' }) },
      { occurredAt: minutes(-60) },
      { recordedAt: minutes(60) },
      { idempotencyKey: null },
      { seq: 4 },
      { prevHash: GENESIS_HASH },
    ];
    for (const edit of edits) expect(computeRecordHash({ ...record, ...edit }), JSON.stringify(edit)).not.toBe(record.hash);
  });
});

describe('verifyLedger', () => {
  it('accepts an empty chain and an intact one, with or without its head', () => {
    expect(verifyLedger([])).toEqual({ ok: true, count: 0, headHash: GENESIS_HASH });
    expect(verifyLedger([], { seq: 0, hash: GENESIS_HASH })).toEqual({ ok: true, count: 0, headHash: GENESIS_HASH });
    const records = fiveRecordChain();
    const head = nth(records, 4);
    expect(verifyLedger(records)).toEqual({ ok: true, count: 5, headHash: head.hash });
    expect(verifyLedger(records, { seq: 5, hash: head.hash })).toEqual({ ok: true, count: 5, headHash: head.hash });
  });

  it.each<[string, Partial<ConsentRecord>]>([
    ['occurredAt', { occurredAt: '2020-01-01T00:00:00.000Z' }],
    ['status', { status: 'opted_out' }],
    ['legalBasis', { legalBasis: 'LEGITIMATE_INTEREST_OTHER' }],
    ['explanation', { explanation: 'Changed later' }],
    ['actor', { actor: { kind: 'user', id: 'usr_2' } }],
    ['contactId', { contactId: 'ct_bob' }],
    ['purpose', { purpose: 'marketing' }],
    ['channel', { channel: 'email' }],
    ['source', { source: 'bulk' }],
    ['recordedAt', { recordedAt: minutes(30) }],
    ['idempotencyKey', { idempotencyKey: 'other' }],
    ['id', { id: 'rec_forged' }],
    ['hash', { hash: 'a'.repeat(64) }],
  ])('names an edited %s as a hash mismatch of that record', (_field, edit) => {
    const records = fiveRecordChain();
    const tampered = replaceAt(records, 2, { ...nth(records, 2), ...edit });
    const result = verifyLedger(tampered);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.count).toBe(5);
    expect(result.firstBad).toMatchObject({ position: 2, seq: 3, id: nth(tampered, 2).id, reason: 'hash_mismatch' });
    expect(result.firstBad.message).toContain(nth(tampered, 2).id);
  });

  it('names an edited seq, prevHash or workspace by its own reason', () => {
    const records = fiveRecordChain();
    const cases: [Partial<ConsentRecord>, string][] = [
      [{ seq: 7 }, 'sequence_gap'],
      [{ prevHash: GENESIS_HASH }, 'prev_hash_mismatch'],
      [{ workspaceId: 'ws_2' }, 'workspace_mismatch'],
    ];
    for (const [edit, reason] of cases) {
      const result = verifyLedger(replaceAt(records, 3, { ...nth(records, 3), ...edit }));
      expect(result).toMatchObject({ ok: false, firstBad: { position: 3, seq: 4, id: 'rec_4', reason } });
    }
    const firstMoved = verifyLedger(replaceAt(records, 0, { ...nth(records, 0), workspaceId: 'ws_2' }));
    expect(firstMoved).toMatchObject({ ok: false, firstBad: { position: 0, reason: 'hash_mismatch' } });
  });

  it('detects a record chained into another workspace', () => {
    const records = fiveRecordChain();
    const other = buildChain([decision(), decision(), decision()], 'ws_2');
    const result = verifyLedger(replaceAt(records, 2, nth(other, 2)));
    expect(result).toMatchObject({ ok: false, firstBad: { position: 2, id: 'rec_3', reason: 'workspace_mismatch' } });
  });

  it('detects changed evidence and a changed evidence digest', () => {
    const records = fiveRecordChain();
    const third = nth(records, 2);
    const evidenceEdited = verifyLedger(replaceAt(records, 2, { ...third, evidence: { note: 'form 18' } }));
    expect(evidenceEdited).toMatchObject({ ok: false, firstBad: { position: 2, reason: 'evidence_mismatch' } });
    const digestEdited = verifyLedger(replaceAt(records, 2, { ...third, evidenceDigest: digestEvidence({ note: 'form 18' }) }));
    expect(digestEdited).toMatchObject({ ok: false, firstBad: { position: 2, reason: 'evidence_mismatch' } });
  });

  it('still verifies after evidence is redacted, but only for exactly { redacted: true }', () => {
    const records = fiveRecordChain();
    const erased = records.map((record) => (record.contactId === 'ct_ana' ? { ...record, evidence: redactedEvidence() } : record));
    expect(verifyLedger(erased)).toMatchObject({ ok: true, count: 5, headHash: nth(records, 4).hash });

    const smuggled = replaceAt(records, 1, { ...nth(records, 1), evidence: { redacted: true, rawText: 'START' } });
    expect(verifyLedger(smuggled)).toMatchObject({ ok: false, firstBad: { position: 1, reason: 'evidence_mismatch' } });

    const redactedAndRedigested = replaceAt(erased, 1, { ...nth(erased, 1), evidenceDigest: digestEvidence({ rawText: 'START' }) });
    expect(verifyLedger(redactedAndRedigested)).toMatchObject({ ok: false, firstBad: { position: 1, reason: 'hash_mismatch' } });
  });

  it('detects a removed record', () => {
    const records = fiveRecordChain();
    const withoutFirst = records.slice(1);
    expect(verifyLedger(withoutFirst)).toMatchObject({ ok: false, firstBad: { position: 0, seq: 1, id: 'rec_2', reason: 'sequence_gap' } });
    const withoutThird = records.filter((_, index) => index !== 2);
    expect(verifyLedger(withoutThird)).toMatchObject({ ok: false, firstBad: { position: 2, seq: 3, id: 'rec_4', reason: 'sequence_gap' } });
  });

  it('detects a removed last record only against the stored head', () => {
    const records = fiveRecordChain();
    const head = { seq: 5, hash: nth(records, 4).hash };
    const truncated = records.slice(0, 4);
    expect(verifyLedger(truncated).ok).toBe(true);
    const result = verifyLedger(truncated, head);
    expect(result).toMatchObject({ ok: false, count: 4, firstBad: { position: 4, seq: 5, id: null, reason: 'truncated' } });
    expect(verifyLedger([], head)).toMatchObject({ ok: false, firstBad: { position: 0, seq: 1, reason: 'truncated' } });
  });

  it('detects an inserted record, even one correctly chained to its predecessor', () => {
    const records = fiveRecordChain();
    const second = nth(records, 1);
    const forged = chainRecord(validateDecision(decision({ contactId: 'ct_bob' })), {
      id: 'rec_forged',
      workspaceId: 'ws_1',
      recordedAt: minutes(1),
      previous: { seq: second.seq, hash: second.hash },
    });
    const inserted = [...records.slice(0, 2), forged, ...records.slice(2)];
    expect(verifyLedger(inserted)).toMatchObject({ ok: false, count: 6, firstBad: { position: 3, id: 'rec_3', reason: 'sequence_gap' } });

    const last = nth(records, 4);
    const appended = [...records, chainRecord(validateDecision(decision()), { id: 'rec_6', workspaceId: 'ws_1', recordedAt: minutes(9), previous: last })];
    expect(verifyLedger(appended, { seq: 5, hash: last.hash })).toMatchObject({
      ok: false,
      firstBad: { position: 5, seq: 6, id: 'rec_6', reason: 'head_mismatch' },
    });
  });

  it('detects reordered records', () => {
    const records = fiveRecordChain();
    const swapped = [nth(records, 0), nth(records, 2), nth(records, 1), nth(records, 3), nth(records, 4)];
    expect(verifyLedger(swapped)).toMatchObject({ ok: false, firstBad: { position: 1, seq: 2, id: 'rec_3', reason: 'sequence_gap' } });
  });

  it('detects a chain rewritten from some record on only against the stored head', () => {
    const records = fiveRecordChain();
    const head = { seq: 5, hash: nth(records, 4).hash };
    const rewritten = records.slice(0, 3);
    for (const original of records.slice(3)) {
      const previous = nth(rewritten, rewritten.length - 1);
      const changed = { ...original, status: 'opted_in' as const, prevHash: previous.hash };
      rewritten.push({ ...changed, hash: computeRecordHash(changed) });
    }
    expect(verifyLedger(rewritten).ok).toBe(true);
    expect(verifyLedger(rewritten, head)).toMatchObject({ ok: false, firstBad: { position: 4, seq: 5, id: 'rec_5', reason: 'head_mismatch' } });
  });
});

describe('foldLedger and applyRecord', () => {
  it('keeps the decision that occurred last, not the one recorded last', () => {
    const records = buildChain([
      decision({ status: 'opted_out', evidence: { rawText: 'STOP' } }),
      decision({ source: 'bulk', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Import of the 2024 fair list', occurredAt: '2024-06-01T00:00:00Z' }),
    ]);
    const states = foldLedger(records);
    expect(states).toHaveLength(1);
    expect(states[0]).toMatchObject({ status: 'opted_out', recordId: 'rec_1', seq: 1, source: 'keyword' });
  });

  it('breaks an occurredAt tie with the higher seq', () => {
    const at = '2025-02-01T12:00:00Z';
    const records = buildChain([decision({ occurredAt: at }), decision({ occurredAt: at, status: 'opted_out' })]);
    expect(foldLedger(records)[0]).toMatchObject({ status: 'opted_out', seq: 2 });
    expect(foldLedger([nth(records, 1), nth(records, 0)])[0]).toMatchObject({ status: 'opted_out', seq: 2 });
  });

  it('keeps one state per contact, purpose and channel, in a stable order', () => {
    const states = foldLedger(fiveRecordChain());
    expect(states.map((state) => [state.contactId, state.purpose, state.channel, state.status, state.recordId])).toEqual([
      ['ct_ana', 'marketing', 'sms', 'opted_out', 'rec_2'],
      ['ct_ana', 'marketing', 'whatsapp', 'opted_in', 'rec_5'],
      ['ct_ana', 'privacy', 'whatsapp', 'opted_in', 'rec_3'],
      ['ct_bob', 'marketing', 'any', 'opted_out', 'rec_4'],
    ]);
    expect(states[2]).toEqual({
      workspaceId: 'ws_1',
      contactId: 'ct_ana',
      purpose: 'privacy',
      channel: 'whatsapp',
      status: 'opted_in',
      legalBasis: 'CONSENT_WITH_NOTICE',
      explanation: 'Signed the paper form at the shop',
      source: 'manual',
      occurredAt: minutes(2),
      recordId: 'rec_3',
      seq: 3,
    });
  });

  it('applyRecord returns the current state itself when the record is older', () => {
    const [newer, older] = buildChain([decision(), decision({ status: 'opted_out', occurredAt: minutes(-10) })]);
    if (newer === undefined || older === undefined) throw new Error('chain too short');
    const current = applyRecord(undefined, newer);
    expect(applyRecord(current, older)).toBe(current);
    expect(applyRecord(applyRecord(undefined, older), newer)).toEqual(current);
  });

  it('applyRecord compares instants, not text', () => {
    const [record] = buildChain([decision({ status: 'opted_out' })]);
    if (record === undefined) throw new Error('chain too short');
    const current: ConsentState = { ...applyRecord(undefined, { ...record, occurredAt: '2025-03-01T10:30:00+02:00' }), seq: 9 };
    expect(applyRecord(current, record).recordId).toBe(record.id);
  });

  it('applyRecord refuses a record about something else', () => {
    const [ana, bob] = buildChain([decision(), decision({ contactId: 'ct_bob' })]);
    if (ana === undefined || bob === undefined) throw new Error('chain too short');
    expect(caught(() => applyRecord(applyRecord(undefined, ana), bob)).code).toBe('VALIDATION_FAILED');
  });
});

describe('effectiveStatus and canMessage', () => {
  const statesOf = (decisions: ConsentDecision[]): ConsentState[] => foldLedger(buildChain(decisions));

  it('is not_specified without a decision for the purpose and channel', () => {
    const states = statesOf([decision({ purpose: 'privacy' })]);
    expect(effectiveStatus(states, 'marketing', 'whatsapp')).toEqual({ status: 'not_specified', state: null });
    expect(effectiveStatus(states, 'privacy', 'sms')).toEqual({ status: 'not_specified', state: null });
    expect(effectiveStatus(states, 'privacy', 'whatsapp').status).toBe('opted_in');
  });

  it('lets a later STOPALL on "any" override every channel of the purpose', () => {
    const states = statesOf([
      decision({ channel: 'whatsapp' }),
      decision({ channel: 'sms' }),
      decision({ channel: 'any', status: 'opted_out', evidence: { rawText: 'STOPALL' } }),
    ]);
    for (const channel of ['whatsapp', 'sms', 'email', 'any'] as const) {
      const result = effectiveStatus(states, 'marketing', channel);
      expect(result.status, channel).toBe('opted_out');
      expect(result.state?.recordId).toBe('rec_3');
    }
    expect(effectiveStatus(states, 'privacy', 'sms').status).toBe('not_specified');
  });

  it('lets a channel decision made after STOPALL win on that channel only', () => {
    const states = statesOf([decision({ channel: 'any', status: 'opted_out' }), decision({ channel: 'whatsapp' })]);
    expect(effectiveStatus(states, 'marketing', 'whatsapp')).toMatchObject({ status: 'opted_in', state: { recordId: 'rec_2' } });
    expect(effectiveStatus(states, 'marketing', 'sms')).toMatchObject({ status: 'opted_out', state: { recordId: 'rec_1' } });
    expect(effectiveStatus(states, 'marketing', 'any')).toMatchObject({ status: 'opted_out', state: { recordId: 'rec_1' } });
  });

  it('lets a channel decision that occurred after a backdated STOPALL win', () => {
    const states = statesOf([
      decision({ channel: 'sms' }),
      decision({ channel: 'any', status: 'opted_out', source: 'bulk', occurredAt: minutes(-60) }),
    ]);
    expect(effectiveStatus(states, 'marketing', 'sms').status).toBe('opted_in');
    expect(effectiveStatus(states, 'marketing', 'email').status).toBe('opted_out');
  });

  it('allows messaging only on an explicit opt-in of a contact that is not erased', () => {
    const states = statesOf([decision({ channel: 'whatsapp' }), decision({ channel: 'sms', status: 'opted_out' })]);
    expect(canMessage({ states, erased: false }, 'whatsapp', 'marketing')).toEqual({ allowed: true, reason: 'opted_in' });
    expect(canMessage({ states, erased: false }, 'sms', 'marketing')).toEqual({ allowed: false, reason: 'opted_out' });
    expect(canMessage({ states, erased: false }, 'email', 'marketing')).toEqual({ allowed: false, reason: 'not_specified' });
    expect(canMessage({ states, erased: false }, 'whatsapp', 'privacy')).toEqual({ allowed: false, reason: 'not_specified' });
    expect(canMessage({ states, erased: true }, 'whatsapp', 'marketing')).toEqual({ allowed: false, reason: 'contact_erased' });
  });
});

describe('verifyLedgerExcerpt', () => {
  /** Ana's records of the five-record chain (seq 1, 2, 3, 5) and the hashes before each: Bob's record at seq 4. */
  function anaExcerpt(chain: readonly ConsentRecord[]): { records: ConsentRecord[]; hashBySeq: Map<number, string> } {
    const records = chain.filter((record) => record.contactId === 'ct_ana');
    const hashBySeq = new Map(records.map((record) => [record.seq, record.hash]));
    hashBySeq.set(4, nth(chain, 3).hash);
    return { records, hashBySeq };
  }

  it("accepts a contact's records linked to the chain around them", () => {
    const { records, hashBySeq } = anaExcerpt(fiveRecordChain());
    expect(verifyLedgerExcerpt(records, hashBySeq)).toEqual({ ok: true, count: 4 });
    expect(verifyLedgerExcerpt([], new Map())).toEqual({ ok: true, count: 0 });
  });

  it('names an edited record, an edited evidence and a broken link to the record before it', () => {
    const chain = fiveRecordChain();
    const { records, hashBySeq } = anaExcerpt(chain);
    const edited = replaceAt(records, 1, { ...nth(records, 1), status: 'opted_in' });
    expect(verifyLedgerExcerpt(edited, hashBySeq)).toMatchObject({ ok: false, firstBad: { seq: 2, position: 1, reason: 'hash_mismatch' } });
    const evidence = replaceAt(records, 0, { ...nth(records, 0), evidence: { rawText: 'something else' } });
    expect(verifyLedgerExcerpt(evidence, hashBySeq)).toMatchObject({ ok: false, firstBad: { seq: 1, reason: 'evidence_mismatch' } });
    const otherBob = new Map(hashBySeq).set(4, 'f'.repeat(64));
    expect(verifyLedgerExcerpt(records, otherBob)).toMatchObject({ ok: false, firstBad: { seq: 5, id: nth(records, 3).id, reason: 'prev_hash_mismatch' } });
  });

  it('names a record whose predecessor is missing and records out of order', () => {
    const { records, hashBySeq } = anaExcerpt(fiveRecordChain());
    const withoutBob = new Map(hashBySeq);
    withoutBob.delete(4);
    expect(verifyLedgerExcerpt(records, withoutBob)).toMatchObject({ ok: false, firstBad: { seq: 5, reason: 'truncated' } });
    const swapped = [nth(records, 1), nth(records, 0), nth(records, 2), nth(records, 3)];
    expect(verifyLedgerExcerpt(swapped, hashBySeq)).toMatchObject({ ok: false, firstBad: { position: 1, reason: 'sequence_gap' } });
  });
});

import { describe, expect, it } from 'vitest';
import { EVIDENCE_SHOWN_LIMITS, EvidenceSchema, parsePlainConsentDecision, type ConsentDecision, type Evidence } from '../../src/core/consent.js';
import { ConsentryError } from '../../src/core/errors.js';
import { chainRecord, digestEvidence, redactedEvidence, validateDecision, verifyLedger } from '../../src/core/ledger.js';

const limits = EVIDENCE_SHOWN_LIMITS;
const SHOWN = ['Hi Ana! Before we continue, please read our privacy policy: https://example.com/privacy', 'Do you agree?\n[AGREE & PROCEED]'];

function workflowDecision(evidence: Evidence): ConsentDecision {
  return {
    contactId: 'ct_ana',
    purpose: 'privacy',
    channel: 'whatsapp',
    status: 'opted_in',
    legalBasis: 'CONSENT_WITH_NOTICE',
    explanation: 'Agreed to the privacy policy',
    source: 'workflow',
    actor: { kind: 'contact', id: 'ct_ana' },
    evidence,
  };
}

function refusal(evidence: Evidence): ConsentryError {
  try {
    validateDecision(workflowDecision(evidence));
  } catch (error) {
    if (error instanceof ConsentryError) return error;
    throw error;
  }
  throw new Error('the decision was accepted');
}

describe('evidence shown', () => {
  it('is read as the schema reads it, by the plain reader too', () => {
    const evidence: Evidence = { shown: SHOWN, policyDigest: 'a'.repeat(64), policyUrl: 'https://example.com/privacy', runId: 'run_01' };
    expect(EvidenceSchema.parse(evidence)).toEqual(evidence);
    expect(parsePlainConsentDecision(workflowDecision(evidence))?.evidence).toEqual(evidence);
    expect(validateDecision(workflowDecision(evidence)).evidence).toEqual(evidence);
  });

  it('holds at most EVIDENCE_SHOWN_LIMITS.texts texts, each and all within their lengths', () => {
    const full = Array.from({ length: limits.texts }, (_, i) => `text ${i}`);
    expect(EvidenceSchema.safeParse({ shown: full }).success).toBe(true);
    const tooMany = [...full, 'one more'];
    const tooLong = ['x'.repeat(limits.textLength + 1)];
    const perText = Math.floor(limits.totalLength / 5) + 1;
    const tooMuch = Array.from({ length: 5 }, () => 'x'.repeat(perText));
    expect(perText).toBeLessThanOrEqual(limits.textLength);
    for (const shown of [tooMany, tooLong, tooMuch, ['Hi', 7]]) {
      const parsed = EvidenceSchema.safeParse({ shown });
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues[0]?.path[0]).toBe('shown');
    }
    for (const shown of [tooMany, tooLong, tooMuch]) {
      expect(parsePlainConsentDecision(workflowDecision({ shown }))).toBeUndefined();
      const error = refusal({ shown });
      expect(error.code).toBe('VALIDATION_FAILED');
      expect(error.issues[0]?.path).toMatch(/^evidence\.shown/);
    }
  });

  it('is covered by the evidence digest, and a redacted record still verifies', () => {
    const evidence: Evidence = { shown: SHOWN, policyDigest: 'a'.repeat(64) };
    expect(digestEvidence(evidence)).not.toBe(digestEvidence({ ...evidence, shown: [SHOWN[0] ?? '', 'Do you agree?'] }));
    const record = chainRecord(validateDecision(workflowDecision(evidence)), { id: 'rec_1', workspaceId: 'ws_1', recordedAt: '2026-03-02T10:01:00.000Z', previous: undefined });
    expect(verifyLedger([record]).ok).toBe(true);
    expect(verifyLedger([{ ...record, evidence: { ...evidence, shown: ['Hi Bea!'] } }])).toMatchObject({ ok: false, firstBad: { reason: 'evidence_mismatch' } });
    expect(verifyLedger([{ ...record, evidence: redactedEvidence() }]).ok).toBe(true);
  });
});

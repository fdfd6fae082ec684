import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalJson, sha256Hex } from '../../src/core/ledger.js';
import { createEngine, type Engine, type WorkspaceEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import { createMemoryStore } from '../../src/store/memory.js';

/** What someone holding an erased ledger would try: the digest of the evidence rebuilt from a guessed address. */
const guessedDigest = (evidence: object): string => sha256Hex(canonicalJson(evidence));

describe('the salt in a record’s evidence', () => {
  let engine: Engine;
  let ws: WorkspaceEngine;

  beforeEach(async () => {
    engine = createEngine({ store: createMemoryStore(), clock: new FakeClock('2026-03-01T09:00:00.000Z') });
    ws = engine.workspace((await engine.createWorkspace({ name: 'Acme', settings: { triggers: [] } })).id);
  });

  afterEach(async () => {
    await engine.store.close();
  });

  it('keeps the digest an erasure leaves from confirming a guessed phone or e-mail', async () => {
    const [row] = await ws.bulkSetConsent([{ phone: '+34600000001', purpose: 'marketing', channel: 'sms', status: 'opted_out', legalBasis: null, explanation: 'Asked by phone' }]);
    if (!row?.ok) throw new Error('the row was refused');
    const [before] = await ws.getHistory(row.contactId);
    expect(before?.evidence).toMatchObject({ identity: 'phone:+34600000001', salt: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/) });

    await ws.eraseContact(row.contactId);
    const [after] = await ws.getHistory(row.contactId);
    expect(after?.evidence).toEqual({ redacted: true });
    expect(after?.evidenceDigest).toBe(before?.evidenceDigest);
    expect(after?.evidenceDigest).not.toBe(guessedDigest({ identity: 'phone:+34600000001' }));
    expect(await ws.verifyLedger()).toMatchObject({ ok: true });
  });

  it('differs between two records of the same evidence, and is left out of evidence that is empty', async () => {
    const first = await ws.handleInbound({ channel: 'sms', messageId: 's1', from: { id: '+34600000002' }, text: 'STOP' });
    await ws.handleInbound({ channel: 'sms', messageId: 's2', from: { id: '+34600000002' }, text: 'START' });
    const [stop, start] = await ws.getHistory(first.contactId);
    expect(stop?.evidence.salt).toBeDefined();
    expect(start?.evidence.salt).toBeDefined();
    expect(stop?.evidence.salt).not.toBe(start?.evidence.salt);

    const nobody = await ws.createContact({ name: 'No Address' });
    const recorded = await ws.setConsent({ contactId: nobody.id, purpose: 'marketing', channel: 'telegram', status: 'opted_out', source: 'api', actor: { kind: 'integration', id: 'crm' } });
    expect(recorded.record.evidence).toEqual({});
  });

  it('comes from the salts the engine is given', async () => {
    const salted = createEngine({ store: engine.store, clock: new FakeClock('2026-03-01T09:00:00.000Z'), salts: { next: () => 'fixed-salt' } });
    const stop = await salted.workspace(ws.workspaceId).handleInbound({ channel: 'sms', messageId: 's9', from: { id: '+34600000003' }, text: 'STOP' });
    const [record] = await ws.getHistory(stop.contactId);
    expect(record?.evidence.salt).toBe('fixed-salt');
  });
});

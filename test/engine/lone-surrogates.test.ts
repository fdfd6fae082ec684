import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { computeRecordHash, digestEvidence } from '../../src/core/ledger.js';
import { createEngine, type WorkspaceEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import { createSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';

/** Half of 😀 (U+1F600): what a form or a client that cuts text by UTF-16 units can send. */
const HALF_EMOJI = '\ud83d';
const REPLACEMENT = '\ufffd';

/**
 * A store's UTF-8 text cannot hold a lone surrogate: SQLite writes U+FFFD in its place. A record
 * hashed over the text as sent would then never verify again, and every later fault would hide
 * behind it, since a verification names only the first bad record.
 */
describe('a decision whose texts hold a lone surrogate (SQLite store)', () => {
  let dir: string;
  let store: SqliteStore;
  let ws: WorkspaceEngine;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-surrogate-'));
    store = createSqliteStore({ path: path.join(dir, 'consentry.db') });
    const engine = createEngine({ store, clock: new FakeClock('2026-03-01T10:00:00.000Z') });
    ws = engine.workspace((await engine.createWorkspace({ name: 'Acme', settings: { triggers: [] } })).id);
  });

  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is recorded with U+FFFD in its place, so the chain verifies and the record read back matches its hash', async () => {
    const contact = await ws.createContact({ name: 'Ana Test', phone: '+34600000001' });
    const written = await ws.setConsent({
      contactId: contact.id,
      purpose: 'marketing',
      channel: 'sms',
      status: 'opted_in',
      legalBasis: 'CONSENT_WITH_NOTICE',
      explanation: `card ${HALF_EMOJI} terms`,
      source: 'api',
      actor: { kind: 'integration', id: `form ${HALF_EMOJI}` },
    });
    expect(written.record.explanation).toBe(`card ${REPLACEMENT} terms`);
    expect(written.record.actor.id).toBe(`form ${REPLACEMENT}`);
    const [stored] = await ws.getHistory(contact.id);
    expect(stored).toEqual(written.record);
    expect(stored && computeRecordHash(stored)).toBe(written.record.hash);
    expect(await ws.verifyLedger()).toMatchObject({ ok: true, records: 1 });
  });

  it('reads an idempotency key with a lone surrogate as the key stored: the same row again records nothing new', async () => {
    const row = {
      phone: '+34600000002',
      purpose: 'marketing',
      channel: 'sms' as const,
      status: 'opted_out' as const,
      legalBasis: null,
      explanation: 'Asked by phone to stop',
      idempotencyKey: `row-7${HALF_EMOJI}`,
    };
    const [first] = await ws.bulkSetConsent([row]);
    const [again] = await ws.bulkSetConsent([row]);
    expect(first).toMatchObject({ ok: true, created: true });
    expect(again).toMatchObject({ ok: true, created: false, recordId: first?.ok ? first.recordId : 'missing' });
    const history = await ws.getHistory(first?.ok ? first.contactId : 'missing');
    expect(history.map((record) => record.idempotencyKey)).toEqual([`row-7${REPLACEMENT}`]);
    expect(await ws.verifyLedger()).toMatchObject({ ok: true, records: 1 });
  });

  it("keeps a keyword message's evidence as plain Unicode, whose digest any JSON library writes the same way", async () => {
    const stop = await ws.handleInbound({ channel: 'sms', messageId: 's1', from: { id: '+34600000003' }, text: `STOP ${HALF_EMOJI}` });
    expect(stop.events.map((event) => event.type)).toEqual(['consent.withdrawn']);
    const [record] = await ws.getHistory(stop.contactId);
    expect(record?.evidence.rawText).toBe(`STOP ${REPLACEMENT}`);
    expect(record?.evidence.rawText?.isWellFormed()).toBe(true);
    expect(record && digestEvidence(record.evidence)).toBe(record?.evidenceDigest);
    expect(await ws.verifyLedger()).toMatchObject({ ok: true, records: 1 });
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type WorkspaceEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import type { Store, StoreTx } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';

const msg = (messageId: string, text: string, from: string) => ({ channel: 'whatsapp' as const, messageId, from: { id: from }, text });

/** Five records from three contacts: STOP, START, STOP, STOP, START. */
async function fiveRecords(ws: WorkspaceEngine): Promise<void> {
  await ws.handleInbound(msg('m1', 'STOP', '+34600000001'));
  await ws.handleInbound(msg('m2', 'START', '+34600000001'));
  await ws.handleInbound(msg('m3', 'STOP', '+34600000002'));
  await ws.handleInbound(msg('m4', 'STOP', '+34600000003'));
  await ws.handleInbound(msg('m5', 'START', '+34600000003'));
}

const stores: Array<[string, (dir: string) => Store]> = [
  ['memory', () => createMemoryStore()],
  ['sqlite', (dir) => createSqliteStore({ path: path.join(dir, 'consentry.db') })],
];

describe.each(stores)('verifyLedger a page at a time (%s)', (_name, openStore) => {
  let dir: string;
  let clock: FakeClock;
  let store: Store;

  const engineWithPages = async (pageSize: number): Promise<{ engine: Engine; ws: WorkspaceEngine }> => {
    const engine = createEngine({ store, clock, ledgerVerifyPageSize: pageSize });
    const [existing] = await engine.listWorkspaces();
    const workspace = existing ?? (await engine.createWorkspace({ name: 'Acme', settings: { triggers: [] } }));
    return { engine, ws: engine.workspace(workspace.id) };
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-verify-'));
    clock = new FakeClock('2026-03-01T10:00:00.000Z');
    store = openStore(dir);
  });

  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('gives the same report whatever the page size, pages ending on the last record included', async () => {
    const { ws } = await engineWithPages(1000);
    await fiveRecords(ws);
    const whole = await ws.verifyLedger();
    expect(whole).toMatchObject({ ok: true, records: 5, stateMismatches: [] });
    for (const pageSize of [1, 2, 5, 6]) {
      const paged = await engineWithPages(pageSize);
      expect(await paged.ws.verifyLedger()).toEqual(whole);
    }
  });

  it('lets other transactions run between its pages, and checks the records they append', async () => {
    const { ws } = await engineWithPages(1);
    await fiveRecords(ws);
    const finished: string[] = [];
    const verifying = ws.verifyLedger().then((report) => {
      finished.push('verify');
      return report;
    });
    const answering = ws.handleInbound(msg('m6', 'START', '+34600000002')).then(() => finished.push('message'));
    const [report] = await Promise.all([verifying, answering]);
    expect(finished).toEqual(['message', 'verify']);
    expect(report).toMatchObject({ ok: true, records: 6, stateMismatches: [] });
  });

  it("names evidence redacted on a contact that was never erased, in the chain and the contact's own check, and takes it once the contact is erased", async () => {
    const { ws } = await engineWithPages(2);
    await fiveRecords(ws);
    const [third] = await ws.getHistory((await ws.handleInbound(msg('m3', 'STOP', '+34600000002'))).contactId);
    if (!third) throw new Error('the third record is missing');
    // What erasure writes into the evidence, written without erasing: how the decision was made is gone.
    await store.transaction((tx) => tx.redactConsentEvidence(ws.workspaceId, third.contactId, { redacted: true }));

    const report = await ws.verifyLedger();
    expect(report).toMatchObject({ ok: false, chain: { ok: false, firstBad: { seq: 3, id: third.id, reason: 'evidence_redacted' } } });
    expect(await ws.verifyContactLedger(third.contactId)).toMatchObject({ ok: false, chain: { firstBad: { id: third.id, reason: 'evidence_redacted' } } });

    await ws.eraseContact(third.contactId);
    expect(await ws.verifyLedger()).toMatchObject({ ok: true, records: 5, stateMismatches: [] });
    expect(await ws.verifyContactLedger(third.contactId)).toMatchObject({ ok: true });
  });
});

describe('ledgerVerifyPageSize', () => {
  it('must be a positive integer', async () => {
    const store = createMemoryStore();
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => createEngine({ store, ledgerVerifyPageSize: bad })).toThrow(/ledgerVerifyPageSize must be a positive integer/);
    }
    await store.close();
  });
});

describe('verifyLedger a page at a time on a tampered SQLite ledger', () => {
  let dir: string;
  let store: SqliteStore;
  let ws: WorkspaceEngine;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-verify-'));
    store = createSqliteStore({ path: path.join(dir, 'consentry.db') });
    const engine = createEngine({ store, clock: new FakeClock('2026-03-01T10:00:00.000Z'), ledgerVerifyPageSize: 2 });
    const workspace = await engine.createWorkspace({ name: 'Acme', settings: { triggers: [] } });
    ws = engine.workspace(workspace.id);
    await fiveRecords(ws);
  });

  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('names a forged record in a later page', async () => {
    // Evidence is the one column erasure may rewrite, so the append-only triggers let it through.
    store.db.prepare('UPDATE consent_records SET evidence = ? WHERE seq = 3').run(JSON.stringify({ rawText: 'START' }));
    const report = await ws.verifyLedger();
    expect(report).toMatchObject({ ok: false, records: 5, chain: { ok: false, firstBad: { seq: 3, position: 2, reason: 'evidence_mismatch' } } });
  });

  it('sees records cut from the end against the head, and a chain that runs on past it', async () => {
    store.db.exec('DROP TRIGGER consent_records_append_only_delete');
    const last = store.db.prepare<[], { id: string }>('SELECT id FROM consent_records WHERE seq = 5').get();
    const { value: head } = store.db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key LIKE 'ledger.head.%'").get() ?? { value: '' };
    store.db.prepare('DELETE FROM consent_records WHERE seq = 5').run();
    expect((await ws.verifyLedger()).chain).toMatchObject({ ok: false, firstBad: { seq: 5, id: null, reason: 'truncated' } });

    // The head moved back one record: the chain now runs on past it, and the report names the record after it.
    const earlier = JSON.stringify({ ...JSON.parse(head), seq: 3 });
    store.db.prepare("UPDATE meta SET value = ? WHERE key LIKE 'ledger.head.%'").run(earlier);
    const report = await ws.verifyLedger();
    expect(report.chain).toMatchObject({ ok: false, firstBad: { seq: 4, reason: 'head_mismatch' } });
    const fourth = store.db.prepare<[], { id: string }>('SELECT id FROM consent_records WHERE seq = 4').get();
    expect(report.chain.ok ? null : report.chain.firstBad.id).toBe(fourth?.id);
    expect(last?.id).not.toBe(fourth?.id);
  });

  it('names a record that can no longer be read as the first bad one, after checking those before it', async () => {
    const third = store.db.prepare<[], { id: string }>('SELECT id FROM consent_records WHERE seq = 3').get();
    store.db.prepare('UPDATE consent_records SET evidence = ? WHERE seq = 3').run('not json');
    const report = await ws.verifyLedger();
    expect(report).toEqual({
      workspaceId: (await ws.get()).id,
      ok: false,
      records: 3,
      chain: {
        ok: false,
        count: 3,
        firstBad: { seq: 3, id: third?.id, position: 2, reason: 'unreadable', message: `consent_records row ${third?.id} cannot be read: its evidence is not valid JSON` },
      },
      stateMismatches: [],
    });

    // A forged record before it is still the first bad one.
    store.db.prepare('UPDATE consent_records SET evidence = ? WHERE seq = 2').run(JSON.stringify({ rawText: 'STOP' }));
    expect((await ws.verifyLedger()).chain).toMatchObject({ ok: false, firstBad: { seq: 2, reason: 'evidence_mismatch' } });
  });

  it('fails a chain whose head is unreadable, not a seq and a hash, or gone', async () => {
    const fifth = store.db.prepare<[], { id: string }>('SELECT id FROM consent_records WHERE seq = 5').get();
    const atLast = { seq: 5, id: fifth?.id, position: 4, reason: 'head_mismatch' };
    store.db.prepare("UPDATE meta SET value = 'garbage' WHERE key LIKE 'ledger.head.%'").run();
    expect((await ws.verifyLedger()).chain).toMatchObject({ ok: false, firstBad: { ...atLast, message: expect.stringMatching(/^the ledger head stored beside the chain cannot be read \(meta row ledger\.head\..+ cannot be read: its value is not valid JSON\)$/) } });
    store.db.prepare("UPDATE meta SET value = '[1]' WHERE key LIKE 'ledger.head.%'").run();
    expect((await ws.verifyLedger()).chain).toMatchObject({ ok: false, firstBad: { ...atLast, message: 'the ledger head stored beside the chain is not a seq and a hash' } });
    store.db.prepare("DELETE FROM meta WHERE key LIKE 'ledger.head.%'").run();
    expect((await ws.verifyLedger()).chain).toMatchObject({ ok: false, firstBad: { ...atLast, message: 'no ledger head is stored beside the chain' } });
  });
});

describe('verifyLedger compares every materialised status with the fold (SQLite)', () => {
  let dir: string;
  let store: SqliteStore;
  let clock: FakeClock;
  let workspaceId: string;

  const engineWithPages = (pageSize: number, on: Store = store): WorkspaceEngine =>
    createEngine({ store: on, clock, ledgerVerifyPageSize: pageSize }).workspace(workspaceId);
  const contactOf = (phone: string): string => {
    const row = store.db.prepare<[string], { contact_id: string }>("SELECT contact_id FROM contact_identities WHERE external_id = ?").get(phone);
    if (!row) throw new Error(`no contact for ${phone}`);
    return row.contact_id;
  };

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-verify-'));
    store = createSqliteStore({ path: path.join(dir, 'consentry.db') });
    clock = new FakeClock('2026-03-01T10:00:00.000Z');
    const workspace = await createEngine({ store, clock }).createWorkspace({ name: 'Acme', settings: { triggers: [] } });
    workspaceId = workspace.id;
    await fiveRecords(engineWithPages(1000));
  });

  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('names a changed, a missing and an extra row, in key order, whatever the page size', async () => {
    const [first, second, third] = ['+34600000001', '+34600000002', '+34600000003'].map(contactOf);
    // The second contact's STOP now reads as an opt-in; the third's row is gone; the first gains a row no record made.
    store.db.prepare("UPDATE consent_state SET status = 'opted_in' WHERE contact_id = ?").run(second ?? '');
    store.db.prepare('DELETE FROM consent_state WHERE contact_id = ?').run(third ?? '');
    store.db
      .prepare(
        `INSERT INTO consent_state (workspace_id, contact_id, purpose, channel, status, legal_basis, explanation, source, occurred_at, record_id, seq)
         SELECT workspace_id, contact_id, purpose, 'sms', status, legal_basis, explanation, source, occurred_at, record_id, seq FROM consent_state WHERE contact_id = ?`,
      )
      .run(first ?? '');
    const expected = [
      { contactId: first, purpose: 'marketing', channel: 'sms' },
      { contactId: second, purpose: 'marketing', channel: 'whatsapp' },
      { contactId: third, purpose: 'marketing', channel: 'whatsapp' },
    ].sort((a, b) => ((a.contactId ?? '') < (b.contactId ?? '') ? -1 : 1));
    for (const pageSize of [1, 2, 3, 1000]) {
      const report = await engineWithPages(pageSize).verifyLedger();
      expect(report).toMatchObject({ ok: false, records: 5, chain: { ok: true } });
      expect(report.stateMismatches).toEqual(expected);
    }
  });

  describe('a status made behind the rows already read', () => {
    /**
     * The verifying engine's store: before its `at`-th read (verification only reads), the first contact opts out on
     * SMS through another engine, which makes a status whose key sorts before the rows read so far.
     */
    const interleaved = (at: number, afterwards: () => void = () => {}): Store => {
      let transactions = 0;
      const other = engineWithPages(1000);
      return new Proxy(store, {
        get(target, property, receiver) {
          if (property !== 'read') return Reflect.get(target, property, receiver) as unknown;
          return async (work: (tx: StoreTx) => Promise<unknown>): Promise<unknown> => {
            transactions += 1;
            if (transactions === at) {
              await other.handleInbound({ channel: 'sms', messageId: 'sms-stop', from: { id: '+34600000001' }, text: 'STOP' });
              afterwards();
            }
            return target.read(work);
          };
        },
      });
    };
    // Page size 1: transactions 1–5 read a record each, 6 finds the chain's end and reads the first
    // row, 7 the second, 8 the third, 9 finds no more rows and looks up the statuses left.
    const beforeLastRow = 8;

    it('is folded and compared, and not mistaken for a missing row', async () => {
      const report = await engineWithPages(1, interleaved(beforeLastRow)).verifyLedger();
      expect(report).toMatchObject({ ok: true, records: 6, chain: { ok: true, count: 6 }, stateMismatches: [] });
    });

    it('is named when its row is missing, also once the statuses left are being looked up', async () => {
      const [first, second, third] = ['+34600000001', '+34600000002', '+34600000003'].map(contactOf);
      // Without the rows of the second and third contacts, transaction 6 reads the first row and 7
      // finds no more, so the folded statuses are walked, one per transaction from 7 on: the SMS
      // status made before transaction 8 is folded then and walked last.
      store.db.prepare('DELETE FROM consent_state WHERE contact_id IN (?, ?)').run(second ?? '', third ?? '');
      const deleteSmsRow = (): void => {
        store.db.prepare("DELETE FROM consent_state WHERE contact_id = ? AND channel = 'sms'").run(first ?? '');
      };
      const report = await engineWithPages(1, interleaved(8, deleteSmsRow)).verifyLedger();
      expect(report).toMatchObject({ ok: false, records: 6, chain: { ok: true } });
      expect(report.stateMismatches).toEqual([
        { contactId: first, purpose: 'marketing', channel: 'sms' },
        { contactId: second, purpose: 'marketing', channel: 'whatsapp' },
        { contactId: third, purpose: 'marketing', channel: 'whatsapp' },
      ]);
    });
  });
});

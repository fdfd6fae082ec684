import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConsentRecord } from '../../src/core/consent.js';
import { ERASED } from '../../src/core/events.js';
import { parseRunState } from '../../src/core/workflow/index.js';
import { createEngine, type Engine, type WorkspaceEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import type { Store } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createSqliteStore } from '../../src/store/sqlite.js';

const POLICY_URL = 'https://example.com/privacy';
const QUESTION = 'Do you agree to our privacy policy? Select AGREE & PROCEED to continue.';

/** The documented canonical form of the shown texts: SHA-256 hex of their JSON array, UTF-8. */
const canonicalDigest = (texts: readonly string[]) => createHash('sha256').update(JSON.stringify(texts), 'utf8').digest('hex');

describe.each(['memory', 'sqlite'] as const)('evidence of a consent given through request-consent-privacy (%s store)', (kind) => {
  let dir: string;
  let store: Store;
  let engine: Engine;
  let clock: FakeClock;

  async function workspace(policyUrl: string): Promise<WorkspaceEngine> {
    const created = await engine.createWorkspace({
      name: 'Acme',
      settings: {
        privacyPolicyUrl: policyUrl,
        defaultCountry: 'ES',
        triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: true }],
      },
    });
    return engine.workspace(created.id);
  }

  const from = (id: string, name: string) => ({ id, name });

  /** The contact opens a conversation and presses the button; answers what was sent and the consent recorded. */
  async function consent(ws: WorkspaceEngine, sender: { id: string; name: string }, prefix: string) {
    const opened = await ws.handleInbound({ channel: 'whatsapp', messageId: `${prefix}1`, from: sender, text: 'hola' });
    clock.advance(30_000);
    const agreed = await ws.handleInbound({ channel: 'whatsapp', messageId: `${prefix}2`, from: sender, button: 'agree' });
    const history = await ws.getHistory(opened.contactId);
    expect(history).toHaveLength(1);
    const record: ConsentRecord | undefined = history[0];
    if (record === undefined) throw new Error('no consent was recorded');
    return { contactId: opened.contactId, replies: [...opened.replies, ...agreed.replies], record };
  }

  const runsOf = (ws: WorkspaceEngine, contactId: string) => store.transaction((tx) => tx.listRunsOfContact(ws.workspaceId, contactId));

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-evidence-'));
    store = kind === 'memory' ? createMemoryStore() : createSqliteStore({ path: path.join(dir, 'consentry.db') });
    clock = new FakeClock('2026-03-01T10:00:00.000Z');
    engine = createEngine({ store, clock });
  });

  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the texts the contact was sent, with their name and the policy URL, and their digest', async () => {
    const ws = await workspace(POLICY_URL);
    const { replies, record } = await consent(ws, from('+34600000001', 'Ana Test'), 'a');
    const sent = replies.map((reply) => [reply.text, ...(reply.options ?? []).map((option) => `[${option.label}]`)].join('\n'));
    expect(record.evidence.shown).toEqual(sent);
    expect(record.evidence.shown?.[0]).toBe(`Hi Ana! Before we continue, please read our privacy policy: ${POLICY_URL}`);
    expect(record.evidence.shown?.[1]).toBe(`${QUESTION}\n[AGREE & PROCEED]`);
    expect(record.evidence.policyDigest).toBe(canonicalDigest(sent));
    expect(record.evidence).toMatchObject({ policyUrl: POLICY_URL, button: 'agree', workflowId: 'request-consent-privacy', messageId: 'a2' });
    // Who was asked: the contact's identity on the run's channel.
    expect(record.evidence.identity).toBe('whatsapp:+34600000001');
    expect(await ws.verifyLedger()).toMatchObject({ ok: true, stateMismatches: [] });
  });

  it('gives contacts shown the same wording the same digest, and a changed policy URL another', async () => {
    const acme = await workspace(POLICY_URL);
    const ana = await consent(acme, from('+34600000001', 'Ana Test'), 'a');
    const otherAna = await consent(acme, from('+34600000002', 'Ana Other'), 'b');
    expect(otherAna.contactId).not.toBe(ana.contactId);
    expect(otherAna.record.evidence.runId).not.toBe(ana.record.evidence.runId);
    expect(otherAna.record.evidence.policyDigest).toBe(ana.record.evidence.policyDigest);

    const moved = await workspace('https://example.com/privacy-2026');
    const anaElsewhere = await consent(moved, from('+34600000001', 'Ana Test'), 'c');
    expect(anaElsewhere.record.evidence.shown?.[0]).toContain('https://example.com/privacy-2026');
    expect(anaElsewhere.record.evidence.policyDigest).not.toBe(ana.record.evidence.policyDigest);
  });

  it('lets a run stored without shown texts go on and record the consent without them', async () => {
    const ws = await workspace(POLICY_URL);
    const sender = from('+34600000001', 'Ana Test');
    const opened = await ws.handleInbound({ channel: 'whatsapp', messageId: 'a1', from: sender, text: 'hola' });
    const [run] = await runsOf(ws, opened.contactId);
    if (run === undefined) throw new Error('the workflow did not start');
    const { shown, ...legacy } = parseRunState(run.state);
    expect(shown).toHaveLength(2);
    await store.transaction((tx) => tx.updateRun({ ...run, state: legacy }));

    await ws.handleInbound({ channel: 'whatsapp', messageId: 'a2', from: sender, button: 'agree' });
    const [record] = await ws.getHistory(opened.contactId);
    expect(record).toMatchObject({ purpose: 'privacy', status: 'opted_in', evidence: { button: 'agree', policyUrl: POLICY_URL } });
    expect(record?.evidence.shown).toBeUndefined();
    expect(record?.evidence.policyDigest).toBeUndefined();
    const [finished] = await runsOf(ws, opened.contactId);
    expect(finished?.status).toBe('completed');
    expect(parseRunState(finished?.state).shown).toBeUndefined();
  });

  it("erasure redacts the run's shown texts and the record's evidence, and the ledger still verifies", async () => {
    const ws = await workspace(POLICY_URL);
    const ana = await consent(ws, from('+34600000001', 'Ana Test'), 'a');
    const bea = await consent(ws, from('+34600000004', 'Bea Test'), 'b');
    const [anaRun] = await runsOf(ws, ana.contactId);
    expect(JSON.stringify(anaRun?.state)).toContain('Hi Ana!');

    const erasure = await ws.eraseContact(ana.contactId);
    expect(erasure).toMatchObject({ redactedRecords: 1, redactedRuns: 1 });
    const [erasedRun] = await runsOf(ws, ana.contactId);
    expect(parseRunState(erasedRun?.state).shown).toEqual([ERASED, ERASED, ERASED]);
    expect(JSON.stringify(erasedRun?.state)).not.toContain('Ana');
    const [erasedRecord] = await ws.getHistory(ana.contactId);
    expect(erasedRecord?.evidence).toEqual({ redacted: true });
    expect(erasedRecord?.evidenceDigest).toBe(ana.record.evidenceDigest);

    const [beaRun] = await runsOf(ws, bea.contactId);
    expect(parseRunState(beaRun?.state).shown?.[0]).toMatch(/^Hi Bea! /);
    expect((await ws.getHistory(bea.contactId))[0]?.evidence.shown).toEqual(bea.record.evidence.shown);

    expect(await ws.verifyLedger()).toMatchObject({ ok: true, records: 2, stateMismatches: [] });
    expect(await ws.eraseContact(ana.contactId)).toMatchObject({ redactedRecords: 0, redactedRuns: 0 });
  });
});

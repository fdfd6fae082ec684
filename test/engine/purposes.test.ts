import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isConsentryError } from '../../src/core/errors.js';
import { createEngine, type WorkspaceEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import type { Store } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';

const actor = { kind: 'user' as const, id: 'user-ana' };
const surveysOptOut = { purpose: 'surveys', channel: 'sms', status: 'opted_out', source: 'manual', actor } as const;

async function refusal(promise: Promise<unknown>): Promise<{ code: string; issues: readonly { path: string; message: string }[] }> {
  try {
    await promise;
  } catch (error) {
    if (isConsentryError(error)) return { code: error.code, issues: error.issues };
    throw error;
  }
  throw new Error('expected a refusal');
}

describe("a workspace's purposes", () => {
  let store: Store;
  let ws: WorkspaceEngine;
  let contactId: string;

  beforeEach(async () => {
    store = createMemoryStore();
    const engine = createEngine({ store, clock: new FakeClock('2026-03-01T10:00:00.000Z') });
    const workspace = await engine.createWorkspace({ name: 'Acme', settings: { triggers: [] } });
    ws = engine.workspace(workspace.id);
    contactId = (await ws.createContact({ email: 'ana@example.com' })).id;
  });

  afterEach(async () => {
    await store.close();
  });

  it('are privacy and marketing until the workspace lists its own', async () => {
    expect((await ws.get()).settings.purposes).toEqual([]);
    for (const purpose of ['privacy', 'marketing']) {
      await expect(ws.setConsent({ ...surveysOptOut, contactId, purpose })).resolves.toMatchObject({ created: true });
    }
    expect(await refusal(ws.setConsent({ ...surveysOptOut, contactId }))).toEqual({
      code: 'VALIDATION_FAILED',
      issues: [{ path: 'purpose', message: 'unknown purpose "surveys": this workspace knows privacy, marketing (add its own purposes to settings.purposes)' }],
    });
    expect(await refusal(ws.canMessage(contactId, 'sms', 'surveys'))).toMatchObject({ code: 'VALIDATION_FAILED', issues: [{ path: 'purpose' }] });
    expect(await ws.getHistory(contactId)).toHaveLength(2);
  });

  it('once listed are recorded and asked about; once unlisted, new decisions are refused and the history stays', async () => {
    await ws.updateSettings({ purposes: ['surveys', 'loyalty-club'] });
    await ws.setConsent({ ...surveysOptOut, contactId });
    expect(await ws.canMessage(contactId, 'sms', 'surveys')).toEqual({ allowed: false, reason: 'opted_out', status: 'opted_out', since: '2026-03-01T10:00:00.000Z' });

    await ws.updateSettings({ purposes: ['loyalty-club'] });
    expect(await refusal(ws.setConsent({ ...surveysOptOut, contactId, status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Form' }))).toMatchObject({
      issues: [{ path: 'purpose', message: expect.stringContaining('this workspace knows privacy, marketing, loyalty-club') }],
    });
    expect((await ws.getHistory(contactId)).map((record) => record.purpose)).toEqual(['surveys']);
    expect(await ws.verifyLedger()).toMatchObject({ ok: true, records: 1 });
  });

  it('refuses a bulk row with an unknown purpose without creating its contact, and records the others', async () => {
    const results = await ws.bulkSetConsent([
      { email: 'new@example.com', purpose: 'newsletter', channel: 'email', status: 'opted_out' },
      { email: 'ana@example.com', purpose: 'marketing', channel: 'email', status: 'opted_out' },
    ]);
    expect(results[0]).toMatchObject({ row: 0, ok: false, error: { code: 'VALIDATION_FAILED', issues: [{ path: 'purpose' }] } });
    expect(results[1]).toMatchObject({ row: 1, ok: true, contactId });
    expect(await ws.findContacts({ email: 'new@example.com' })).toEqual({ contacts: [], nextCursor: null });
  });

  it('keeps answering a replayed request for a purpose unlisted since it was recorded, one by one and in bulk', async () => {
    await ws.updateSettings({ purposes: ['surveys'] });
    const first = await ws.setConsent({ ...surveysOptOut, contactId, idempotencyKey: 'form-1' });
    const [firstRow] = await ws.bulkSetConsent([{ email: 'ana@example.com', purpose: 'surveys', channel: 'email', status: 'opted_out', idempotencyKey: 'import-1' }]);
    expect(firstRow).toMatchObject({ ok: true, created: true });
    await ws.updateSettings({ purposes: [] });

    await expect(ws.setConsent({ ...surveysOptOut, contactId, idempotencyKey: 'form-1' })).resolves.toMatchObject({ created: false, record: { id: first.record.id } });
    const replayed = await ws.bulkSetConsent([
      { email: 'ana@example.com', purpose: 'surveys', channel: 'email', status: 'opted_out', idempotencyKey: 'import-1' },
      { email: 'ana@example.com', purpose: 'surveys', channel: 'email', status: 'opted_out', idempotencyKey: 'import-2' },
      { email: 'ana@example.com', purpose: 'surveys', channel: 'email', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Form', idempotencyKey: 'import-1' },
    ]);
    expect(replayed[0]).toMatchObject({ ok: true, created: false, recordId: firstRow?.ok ? firstRow.recordId : 'missing' });
    expect(replayed[1]).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED', issues: [{ path: 'purpose' }] } });
    // Not a replay (another change under the same key): refused for its key, and its purpose named too.
    expect(replayed[2]).toMatchObject({ ok: false, error: { code: 'CONFLICT', issues: [{ path: 'idempotencyKey' }, { path: 'purpose' }] } });
    expect(await refusal(ws.setConsent({ ...surveysOptOut, contactId, idempotencyKey: 'form-2' }))).toMatchObject({ code: 'VALIDATION_FAILED', issues: [{ path: 'purpose' }] });
    expect(await ws.getHistory(contactId)).toHaveLength(2);
  });

  it('must be well formed, not built in and not repeated', async () => {
    const refused = await refusal(ws.updateSettings({ purposes: ['marketing', 'surveys', 'surveys', 'Surveys!'] }));
    expect(refused.code).toBe('VALIDATION_FAILED');
    expect(refused.issues.map((issue) => issue.path)).toEqual(['purposes.3', 'purposes.0', 'purposes.2']);
    expect((await ws.get()).settings.purposes).toEqual([]);
  });
});

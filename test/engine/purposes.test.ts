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
    // Not a replay (another change under the same key): refused for its key, and its purpose named
    // too, in the row's column order (as import lists a line's problems) under the refusal's code.
    expect(replayed[2]).toMatchObject({ ok: false, error: { code: 'CONFLICT', issues: [{ path: 'purpose' }, { path: 'idempotencyKey' }] } });
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

describe('an opt-out keyword and the workspace’s own purposes', () => {
  let store: Store;
  let clock: FakeClock;
  let ws: WorkspaceEngine;
  let contactId: string;
  let next = 0;

  const optIn = (purpose: string, channel: 'sms' | 'whatsapp' | 'any') =>
    ws.setConsent({ contactId, purpose, channel, status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Web form', source: 'api', actor: { kind: 'integration', id: 'web' } });
  const text = async (body: string) => {
    next += 1;
    clock.advance(1000);
    return ws.handleInbound({ channel: 'sms', messageId: `s${next}`, from: { id: '+34600000001' }, text: body });
  };
  const allowed = async (purpose: string, channel: 'sms' | 'whatsapp') => (await ws.canMessage(contactId, channel, purpose)).allowed;

  beforeEach(async () => {
    store = createMemoryStore();
    clock = new FakeClock('2026-03-01T10:00:00.000Z');
    const engine = createEngine({ store, clock });
    const workspace = await engine.createWorkspace({ name: 'Acme', settings: { triggers: [], purposes: ['surveys', 'loyalty'] } });
    ws = engine.workspace(workspace.id);
    contactId = (await ws.createContact({ name: 'Ana Test', phone: '+34600000001' })).id;
  });

  afterEach(async () => {
    await store.close();
  });

  it('STOP opts out of each own purpose the contact agreed to on that channel, as the confirmation promises no more messages', async () => {
    await optIn('surveys', 'sms');
    await optIn('loyalty', 'whatsapp');
    const stop = await text('STOP');
    const withdrawn = stop.events.filter((event) => event.type === 'consent.withdrawn').map((event) => new Map(Object.entries(event.data)).get('purpose'));
    expect(withdrawn).toEqual(['marketing', 'surveys']);
    expect(await allowed('surveys', 'sms')).toBe(false);
    expect(await allowed('loyalty', 'whatsapp')).toBe(true);
    const [surveys] = (await ws.getHistory(contactId)).filter((record) => record.purpose === 'surveys' && record.status === 'opted_out');
    expect(surveys).toMatchObject({ channel: 'sms', source: 'keyword', explanation: 'Opted out of surveys on sms by sending the keyword STOP', evidence: { keyword: 'STOP' } });
    expect(stop.replies).toHaveLength(1);
  });

  it('STOP ALL opts out of each own purpose agreed to on any channel; START opts back in to marketing only', async () => {
    await optIn('loyalty', 'whatsapp');
    await optIn('surveys', 'any');
    await text('STOP ALL');
    expect(await allowed('loyalty', 'whatsapp')).toBe(false);
    expect(await allowed('surveys', 'sms')).toBe(false);
    expect((await ws.getConsents(contactId)).states.filter((state) => state.channel === 'any').map((state) => [state.purpose, state.status])).toEqual(
      expect.arrayContaining([
        ['marketing', 'opted_out'],
        ['loyalty', 'opted_out'],
        ['surveys', 'opted_out'],
      ]),
    );
    await text('START');
    expect(await allowed('marketing', 'sms')).toBe(true);
    expect(await allowed('surveys', 'sms')).toBe(false);
  });

  it('STOP reaches an own purpose taken off the list since the contact agreed to it, so putting it back does not bring the opt-in back', async () => {
    await optIn('surveys', 'sms');
    await ws.updateSettings({ purposes: ['loyalty'] });
    const stop = await text('STOP');
    const withdrawn = stop.events.filter((event) => event.type === 'consent.withdrawn').map((event) => new Map(Object.entries(event.data)).get('purpose'));
    expect(withdrawn).toEqual(['marketing', 'surveys']);
    await ws.updateSettings({ purposes: ['surveys', 'loyalty'] });
    expect(await allowed('surveys', 'sms')).toBe(false);
    const [surveys] = (await ws.getHistory(contactId)).filter((record) => record.purpose === 'surveys' && record.status === 'opted_out');
    expect(surveys).toMatchObject({ channel: 'sms', source: 'keyword', explanation: 'Opted out of surveys on sms by sending the keyword STOP' });
    // Off the list, the purpose still takes no new decision from anyone else.
    await ws.updateSettings({ purposes: [] });
    expect(await refusal(ws.setConsent({ ...surveysOptOut, contactId }))).toMatchObject({ code: 'VALIDATION_FAILED', issues: [{ path: 'purpose' }] });
  });

  it('a person withdraws an opt-in the contact holds to a purpose taken off the list, on any channel; no other decision about it is taken', async () => {
    await optIn('surveys', 'sms');
    await ws.updateSettings({ purposes: [] });
    // Withdrawn on the channel of the opt-in, and on one without it while the opt-in still stands elsewhere.
    await expect(ws.setConsent({ ...surveysOptOut, contactId, channel: 'email' })).resolves.toMatchObject({ created: true });
    await expect(ws.setConsent({ ...surveysOptOut, contactId })).resolves.toMatchObject({ created: true });
    await ws.updateSettings({ purposes: ['surveys'] });
    expect(await allowed('surveys', 'sms')).toBe(false);
    await ws.updateSettings({ purposes: [] });
    // No opt-in is held any more: an opt-out, like an opt-in, is a new decision about a purpose off the list.
    expect(await refusal(ws.setConsent({ ...surveysOptOut, contactId, channel: 'whatsapp' }))).toMatchObject({ code: 'VALIDATION_FAILED', issues: [{ path: 'purpose' }] });
    expect(
      await refusal(ws.setConsent({ ...surveysOptOut, contactId, status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Form' })),
    ).toMatchObject({ code: 'VALIDATION_FAILED', issues: [{ path: 'purpose' }] });
  });

  it('a STOP repeated after an own purpose was agreed to again opts out of that purpose, and writes nothing for marketing', async () => {
    await text('STOP');
    await optIn('surveys', 'sms');
    const again = await text('STOP');
    expect(again.events.map((event) => [event.type, new Map(Object.entries(event.data)).get('purpose')])).toEqual([['consent.withdrawn', 'surveys']]);
    expect(await allowed('surveys', 'sms')).toBe(false);
  });
});

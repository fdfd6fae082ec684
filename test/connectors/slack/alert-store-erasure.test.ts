import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NewSlackAlert } from '../../../connectors/slack/actions-port.js';
import { MemorySlackAlertStore, type SlackAlertStore } from '../../../connectors/slack/alert-store.js';
import { SqliteSlackAlertStore } from '../../../connectors/slack/alert-store-sqlite.js';
import { defaultSettings } from '../../../src/core/settings.js';
import type { Store } from '../../../src/ports/store.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { createSqliteStore } from '../../../src/store/sqlite.js';
import { consentFailedEvent, newAlert } from './fixtures.js';

const WS = 'ws_1';
const T0 = '2026-01-01T10:00:00.000Z';
const POSTED = { channel: 'C0ALERTS01', ts: '1767261600.000100' };
const DIGEST = { channel: 'C0ALERTS01', ts: '1767261600.000200' };
const OTHER_POSTED = { channel: 'C0ALERTS01', ts: '1767261600.000300' };

function alertOf(n: number, contactId: string, overrides: Partial<NewSlackAlert> = {}): NewSlackAlert {
  return newAlert(`al_${n}`, consentFailedEvent({ contactName: 'Ana Test' }, { id: `ev_${String(n).padStart(2, '0')}`, workspaceId: WS, contactId }), {
    workspaceId: WS,
    contactName: 'Ana Test',
    ...overrides,
  });
}

const stores: Record<string, () => { store: Store; alerts: SlackAlertStore }> = {
  memory: () => {
    const store = createMemoryStore();
    return { store, alerts: new MemorySlackAlertStore(store) };
  },
  sqlite: () => {
    const store = createSqliteStore({ path: ':memory:' });
    return { store, alerts: new SqliteSlackAlertStore(store) };
  },
};

describe.each(Object.keys(stores))('alerts of an erased contact in the %s alert store', (kind) => {
  let store: Store;
  let alerts: SlackAlertStore;

  beforeEach(async () => {
    const make = stores[kind];
    if (!make) throw new Error(`no store ${kind}`);
    ({ store, alerts } = make());
    await store.transaction((tx) => tx.insertWorkspace({ id: WS, name: 'Acme', settings: defaultSettings(), createdAt: T0, updatedAt: T0 }));
  });

  afterEach(async () => {
    await store.close();
  });

  it('closes every alert of the contact and marks for an edit the messages that show one, each until that message is redacted', async () => {
    for (let n = 1; n <= 8; n += 1) await alerts.create(alertOf(n, n >= 7 ? 'ct_ben' : 'ct_ana'));
    await alerts.markPosted(WS, 'al_2', POSTED);
    await alerts.markDigested(WS, ['al_3', 'al_4', 'al_8'], DIGEST);
    await alerts.markFailed(WS, ['al_5'], 'invalid_blocks');
    // Digested by an earlier version, which kept no digest message.
    await alerts.markDigested(WS, ['al_6']);
    await alerts.markPosted(WS, 'al_7', OTHER_POSTED);

    expect(await alerts.eraseContact(WS, 'ct_ana')).toBe(6);
    const records = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((n) => alerts.getRecord(WS, `al_${n}`)));
    expect(records.map((record) => [record?.id, record?.delivery, record?.erased, record?.redactionDue])).toEqual([
      ['al_1', 'pending', true, false],
      ['al_2', 'posted', true, true],
      ['al_3', 'digested', true, true],
      ['al_4', 'digested', true, true],
      ['al_5', 'failed', true, false],
      ['al_6', 'digested', true, false],
      ['al_7', 'posted', false, false],
      ['al_8', 'digested', false, false],
    ]);
    expect(records.map((record) => record?.message)).toEqual([null, POSTED, DIGEST, DIGEST, null, null, OTHER_POSTED, DIGEST]);
    expect(new Set(await alerts.listRedactions(WS, 10))).toEqual(new Set([POSTED, DIGEST]));
    expect((await alerts.listShownIn(WS, DIGEST)).map((record) => [record.id, record.contactName])).toEqual([
      ['al_3', null],
      ['al_4', null],
      ['al_8', 'Ana Test'],
    ]);

    // Closed: a click claims nothing. Another contact's alert is untouched.
    expect(await alerts.claim(WS, 'al_2', { action: 'resend_consent_request', slackUserId: 'UACTOR1', at: T0 })).toMatchObject({ status: 'erased' });
    expect(await alerts.claim(WS, 'al_7', { action: 'resend_consent_request', slackUserId: 'UACTOR1', at: T0 })).toMatchObject({ status: 'claimed' });

    // Erasing again changes nothing, and leaves the edits owed.
    expect(await alerts.eraseContact(WS, 'ct_ana')).toBe(0);
    expect(await alerts.markRedacted(WS, DIGEST)).toBe(2);
    expect(await alerts.markRedacted(WS, DIGEST)).toBe(0);
    expect(await alerts.listRedactions(WS, 10)).toEqual([POSTED]);
    expect(await alerts.markRedacted(WS, POSTED)).toBe(1);
    expect(await alerts.listRedactions(WS, 10)).toEqual([]);
    expect((await alerts.getRecord(WS, 'al_2'))?.erased).toBe(true);
  });

  it('keeps the digest message only on the alerts a digest mark moves', async () => {
    await alerts.create(alertOf(1, 'ct_ana'));
    await alerts.markPosted(WS, 'al_1', POSTED);
    expect(await alerts.markDigested(WS, ['al_1'], DIGEST)).toBe(0);
    expect((await alerts.getRecord(WS, 'al_1'))?.message).toEqual(POSTED);
  });

  it('closes an alert planned for a contact erased already from the start, owing no edit once posted', async () => {
    const created = await alerts.create({ ...alertOf(1, 'ct_ana', { contactName: null, contactUrl: null }), erased: true });
    expect(created.erased).toBe(true);
    await alerts.markPosted(WS, 'al_1', POSTED);
    expect(await alerts.getRecord(WS, 'al_1')).toMatchObject({ erased: true, redactionDue: false, delivery: 'posted' });
    expect(await alerts.listRedactions(WS, 10)).toEqual([]);
    expect(await alerts.claim(WS, 'al_1', { action: 'resend_consent_request', slackUserId: 'UACTOR1', at: T0 })).toMatchObject({ status: 'erased' });
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultSettings, type Workspace } from '../../src/core/settings.js';
import type { Store } from '../../src/ports/store.js';
import { emptyContactState, rememberInbound, rememberWrites } from '../../connectors/hubspot/echo.js';
import { eraseContactSync } from '../../connectors/hubspot/erasure.js';
import { ERASED } from '../../src/core/events.js';
import type { CallbackRecord, HubSpotState, SyncChange } from '../../connectors/hubspot/state.js';

export type MakeHubSpotState = () => Promise<{ store: Store; state: HubSpotState; cleanup: () => Promise<void> }>;

const T0 = Date.parse('2026-03-02T10:00:00.000Z');
export const at = (seconds: number): string => new Date(T0 + seconds * 1000).toISOString();
const WS_A = 'ws_a';
const WS_B = 'ws_b';

function workspace(id: string): Workspace {
  return { id, name: `Shop ${id}`, settings: defaultSettings(), createdAt: at(0), updatedAt: at(0) };
}

/** A pending contact change of workspace ws_a's contact c1, at outbox `position`. */
export function change(position: number, overrides: Partial<SyncChange> = {}): SyncChange {
  return {
    position,
    target: 'contact',
    workspaceId: WS_A,
    eventId: `evt_${position}`,
    contactId: 'c1',
    payload: { kind: 'contact', properties: { consentry_sms_status: 'opted_in' } },
    occurredAt: at(position),
    status: 'pending',
    attempts: 0,
    nextAttemptAt: at(0),
    lastError: null,
    createdAt: at(0),
    updatedAt: at(0),
    ...overrides,
  };
}

function callback(callbackId: string, overrides: Partial<CallbackRecord> = {}): CallbackRecord {
  return {
    callbackId,
    workspaceId: WS_A,
    action: 'request-consent',
    contactId: null,
    runId: null,
    response: null,
    outcome: null,
    createdAt: at(0),
    updatedAt: at(0),
    ...overrides,
  };
}

/** The HubSpot connector's state port: every implementation runs this suite (DESIGN §1). */
export function hubSpotStateContract(name: string, make: MakeHubSpotState): void {
  describe(`HubSpot state contract: ${name}`, () => {
    let store: Store;
    let state: HubSpotState;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, state, cleanup } = await make());
      await store.transaction(async (tx) => {
        await tx.insertWorkspace(workspace(WS_A));
        await tx.insertWorkspace(workspace(WS_B));
      });
    });
    afterEach(async () => cleanup());

    it('inserts work rows once per (position, target) and lists the due ones in order', async () => {
      await state.transaction((s) =>
        s.insertChanges([
          change(3),
          change(1),
          change(1, { target: 'email', payload: { kind: 'email', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Asked on the form' } }),
          change(2, { nextAttemptAt: at(60) }),
        ]),
      );
      await state.transaction((s) => s.insertChanges([change(3, { payload: { kind: 'contact', properties: { consentry_sms_status: 'opted_out' } } })]));
      const due = await state.transaction((s) => s.listDueChanges(at(10), 10));
      expect(due.map((c) => `${c.position}:${c.target}`)).toEqual(['1:contact', '1:email', '3:contact']);
      expect(due[2]?.payload).toEqual({ kind: 'contact', properties: { consentry_sms_status: 'opted_in' } });
      expect(due[1]?.payload).toEqual({ kind: 'email', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Asked on the form' });
      expect((await state.transaction((s) => s.listDueChanges(at(60), 10))).map((c) => c.position)).toEqual([1, 1, 3, 2]);
      expect(await state.transaction((s) => s.listDueChanges(at(60), 2))).toHaveLength(2);
      // Skipped rows (work in flight) do not count against the limit.
      const skipped = await state.transaction((s) => s.listDueChanges(at(60), 2, (row) => row.position === 1 && row.workspaceId === WS_A));
      expect(skipped.map((c) => c.position)).toEqual([3, 2]);
    });

    it('reschedules, dead-letters and deletes rows; counts and lists per workspace', async () => {
      await state.transaction((s) => s.insertChanges([change(1), change(2), change(3), change(4, { workspaceId: WS_B })]));
      await state.transaction(async (s) => {
        await s.updateChanges([
          { ...change(1), attempts: 1, nextAttemptAt: at(300), lastError: 'HubSpot answered 502', updatedAt: at(5) },
          { ...change(2), status: 'dead', attempts: 3, lastError: 'HubSpot answered 400', updatedAt: at(6) },
        ]);
        await s.deleteChanges([{ position: 3, target: 'contact' }]);
      });
      await state.transaction((s) => s.deferChanges([{ position: 4, target: 'contact' }], at(120)));
      expect(await state.transaction((s) => s.listDueChanges(at(10), 10))).toEqual([]);
      await state.transaction((s) => s.deferChanges([{ position: 4, target: 'contact' }], at(0)));
      const view = await state.transaction(async (s) => ({
        due: await s.listDueChanges(at(10), 10),
        pending: await s.countChanges(WS_A, 'pending'),
        dead: await s.countChanges(WS_A, 'dead'),
        deadRows: await s.listDeadChanges(WS_A, 10),
        oldest: await s.oldestPendingChange(WS_A),
        otherPending: await s.countChanges(WS_B, 'pending'),
        allPending: await s.countAllChanges('pending'),
        allDead: await s.countAllChanges('dead'),
      }));
      expect(view.due.map((c) => c.position)).toEqual([4]);
      expect(view.pending).toBe(1);
      expect(view.dead).toBe(1);
      expect(view.deadRows).toEqual([expect.objectContaining({ position: 2, status: 'dead', attempts: 3, lastError: 'HubSpot answered 400' })]);
      expect(view.oldest).toEqual(expect.objectContaining({ position: 1, attempts: 1, nextAttemptAt: at(300) }));
      expect(view.otherPending).toBe(1);
      expect(view.allPending).toBe(2);
      expect(view.allDead).toBe(1);
    });

    it('rolls the rows back with the store transaction', async () => {
      await expect(
        state.transaction(async (s, tx) => {
          await s.insertChanges([change(1)]);
          await tx.setMeta('outbox.hubspot.position', 1);
          await s.putContactState(WS_A, 'c1', emptyContactState(), at(1));
          await s.claimCallback(callback('cb-1'));
          throw new Error('crash before commit');
        }),
      ).rejects.toThrow('crash before commit');
      const after = await state.transaction(async (s, tx) => ({
        due: await s.listDueChanges(at(10), 10),
        cursor: await tx.getMeta('outbox.hubspot.position'),
        contact: await s.getContactStates(WS_A, ['c1']),
        callback: await s.getCallback(WS_A, 'cb-1'),
      }));
      expect(after.due).toEqual([]);
      expect(after.cursor).toBeUndefined();
      expect(after.contact.size).toBe(0);
      expect(after.callback).toBeNull();
    });

    it('keeps a contact state per workspace and replaces it', async () => {
      const written = rememberWrites(
        emptyContactState(),
        { properties: { consentry_sms_status: 'opted_in' }, stamps: { consentry_sms_status: { occurredAt: at(1), position: 7 } } },
        T0,
      );
      await state.transaction((s) => s.putContactState(WS_A, 'c1', written, at(1)));
      const next = rememberWrites(written, { properties: { consentry_sms_status: 'opted_out' }, stamps: { consentry_sms_status: { occurredAt: at(2), position: 9 } } }, T0 + 1000);
      await state.transaction((s) => s.putContactState(WS_A, 'c1', next, at(2)));
      const found = await state.transaction((s) => s.getContactStates(WS_A, ['c1', 'c2', 'c1']));
      expect(found.size).toBe(1);
      expect(found.get('c1')?.stamps.consentry_sms_status).toEqual({ occurredAt: at(2), position: 9 });
      expect(found.get('c1')?.writes.consentry_sms_status?.map((w) => w.value)).toEqual(['opted_in', 'opted_out']);
      expect((await state.transaction((s) => s.getContactStates(WS_B, ['c1']))).size).toBe(0);
    });

    it("lists one contact's rows, pending and dead, in outbox order", async () => {
      await state.transaction((s) =>
        s.insertChanges([
          change(3),
          change(1, { target: 'email', payload: { kind: 'email', status: 'opted_out', legalBasis: null, explanation: null } }),
          change(2, { contactId: 'c2' }),
          change(4),
          change(5, { workspaceId: WS_B }),
          change(6, { contactId: null, target: 'callback', payload: { kind: 'callback', callbackId: 'cb-1', outputFields: { outcome: 'given' } } }),
        ]),
      );
      await state.transaction((s) => s.updateChanges([{ ...change(4), status: 'dead', attempts: 10, lastError: 'HubSpot answered 400' }]));
      const rows = await state.transaction((s) => s.listContactChanges(WS_A, 'c1'));
      expect(rows.map((c) => `${c.position}:${c.target}:${c.status}`)).toEqual(['1:email:pending', '3:contact:pending', '4:contact:dead']);
      expect(rows[2]).toEqual({ ...change(4), status: 'dead', attempts: 10, lastError: 'HubSpot answered 400' });
      expect((await state.transaction((s) => s.listContactChanges(WS_B, 'c1'))).map((c) => c.position)).toEqual([5]);
      expect(await state.transaction((s) => s.listContactChanges(WS_A, 'c9'))).toEqual([]);
    });

    it("erases a contact's rows and sync state through the port: opt-outs and consent facts stay, nothing personal, nobody else touched", async () => {
      const personal = ['ana.test@example.com', '+34600000001', 'VIP-Ana', 'Ana'];
      const sms = { status: 'consentry_sms_status', legalBasis: 'consentry_sms_legal_basis', explanation: 'consentry_sms_explanation', updatedAt: 'consentry_sms_updated_at', source: 'consentry_sms_source' };
      const identity = { kind: 'contact' as const, properties: { email: 'ana.test@example.com', phone: '+34600000001', consentry_tags: 'VIP-Ana' } };
      const optOut = {
        kind: 'contact' as const,
        properties: {
          [sms.status]: 'opted_out',
          [sms.legalBasis]: '',
          [sms.explanation]: 'Ana said stop on the phone',
          [sms.updatedAt]: at(2),
          [sms.source]: 'manual',
          consentry_whatsapp_status: 'opted_in',
          consentry_whatsapp_explanation: 'Ana agreed in chat',
          consentry_privacy_status: 'opted_out',
          consentry_privacy_date: at(2),
        },
      };
      const deadLetter = { kind: 'contact' as const, properties: { email: 'ana.test@example.com', [sms.status]: 'opted_in', [sms.explanation]: 'Ana agreed' } };
      await state.transaction(async (s) => {
        await s.insertChanges([
          change(1, { payload: identity }),
          change(2, { payload: optOut, attempts: 2, lastError: 'Email address ana.test@example.com is invalid', nextAttemptAt: at(900) }),
          change(3, { target: 'email', payload: { kind: 'email', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Newsletter form, Ana' } }),
          change(4, { target: 'email', payload: { kind: 'email', status: 'opted_out', legalBasis: null, explanation: 'Ana asked by phone' } }),
          change(5, { payload: deadLetter }),
          change(6, { target: 'callback', payload: { kind: 'callback', callbackId: 'cb-1', outputFields: { outcome: 'cancelled' } } }),
          change(7, { contactId: 'c2', payload: { kind: 'contact', properties: { email: 'ben.test@example.com' } } }),
        ]);
        await s.updateChanges([
          { ...change(5, { payload: deadLetter }), status: 'dead', attempts: 10, lastError: 'Property values were not valid: ana.test@example.com', updatedAt: at(5) },
        ]);
        const written = rememberWrites(
          emptyContactState(),
          { properties: { [sms.status]: 'opted_out', email: 'ana.test@example.com' }, stamps: { [sms.status]: { occurredAt: at(2), position: 2 } } },
          T0,
        );
        await s.putContactState(WS_A, 'c1', rememberInbound(written, 'consentry_whatsapp_status', T0 - 1000), at(2));
        await s.putContactState(
          WS_A,
          'c2',
          rememberWrites(emptyContactState(), { properties: { email: 'ben.test@example.com' }, stamps: { email: { occurredAt: at(7), position: 7 } } }, T0),
          at(7),
        );
      });

      const erased = await state.transaction((s) => eraseContactSync(s, WS_A, 'c1', at(10)));
      expect(erased).toEqual({ dropped: 2, redacted: 3, contactState: true });

      const view = await state.transaction(async (s) => ({
        rows: await s.listContactChanges(WS_A, 'c1'),
        other: await s.listContactChanges(WS_A, 'c2'),
        states: await s.getContactStates(WS_A, ['c1', 'c2']),
      }));
      expect(view.rows.map((c) => `${c.position}:${c.target}:${c.status}`)).toEqual(['2:contact:pending', '4:email:pending', '5:contact:dead', '6:callback:pending']);
      expect(view.rows[0]).toEqual({
        ...change(2, { attempts: 2, nextAttemptAt: at(900), lastError: ERASED }),
        payload: {
          kind: 'contact',
          properties: {
            [sms.status]: 'opted_out',
            [sms.legalBasis]: '',
            [sms.explanation]: '',
            [sms.updatedAt]: at(2),
            [sms.source]: 'manual',
            consentry_privacy_status: 'opted_out',
            consentry_privacy_date: at(2),
          },
        },
      });
      expect(view.rows[1]?.payload).toEqual({ kind: 'email', status: 'opted_out', legalBasis: null, explanation: null });
      expect(view.rows[2]).toMatchObject({ status: 'dead', attempts: 10, lastError: ERASED, updatedAt: at(5) });
      expect(view.rows[2]?.payload).toEqual({ kind: 'contact', properties: { [sms.status]: 'opted_in', [sms.explanation]: '' } });
      expect(view.rows[3]?.payload).toEqual({ kind: 'callback', callbackId: 'cb-1', outputFields: { outcome: 'cancelled' } });
      const c1 = view.states.get('c1');
      expect(c1?.stamps).toEqual({ [sms.status]: { occurredAt: at(2), position: 2 } });
      expect(c1?.inbound).toEqual({ consentry_whatsapp_status: T0 - 1000 });
      expect(Object.keys(c1?.writes ?? {})).toEqual([sms.status]);
      const left = JSON.stringify([view.rows, c1]);
      for (const text of personal) expect(left).not.toContain(text);

      expect(view.other).toEqual([change(7, { contactId: 'c2', payload: { kind: 'contact', properties: { email: 'ben.test@example.com' } } })]);
      expect(view.states.get('c2')?.writes.email?.[0]?.value).toBe('ben.test@example.com');
      expect(await state.transaction((s) => eraseContactSync(s, WS_A, 'c1', at(11)))).toEqual({ dropped: 0, redacted: 0, contactState: false });
    });

    it('claims a callbackId once; the second claim returns the stored record', async () => {
      const first = await state.transaction((s) => s.claimCallback(callback('cb-1')));
      expect(first.created).toBe(true);
      await state.transaction((s) =>
        s.updateCallback({ ...first.record, contactId: 'c1', runId: 'run-1', response: { hs_execution_state: 'BLOCK' }, updatedAt: at(1) }),
      );
      const second = await state.transaction((s) => s.claimCallback(callback('cb-1', { action: 'check-consent' })));
      expect(second.created).toBe(false);
      expect(second.record).toEqual(expect.objectContaining({ action: 'request-consent', runId: 'run-1', response: { hs_execution_state: 'BLOCK' } }));
      expect(await state.transaction((s) => s.findCallbackByRun(WS_A, 'run-1'))).toEqual(expect.objectContaining({ callbackId: 'cb-1' }));
      expect(await state.transaction((s) => s.findCallbackByRun(WS_B, 'run-1'))).toBeNull();
      expect(await state.transaction((s) => s.getCallback(WS_A, 'cb-unknown'))).toBeNull();
    });

    it('deletes finished callbacks last changed before the time, of every workspace, and never a pending one (retention)', async () => {
      const cut = at(3600);
      const answer = { hs_execution_state: 'SUCCESS', status: 'opted_in' };
      const block = { hs_execution_state: 'BLOCK', hs_expiration_duration: 'P2D' };
      await state.transaction(async (s) => {
        await s.claimCallback(callback('cb-answered', { response: answer, updatedAt: at(2) }));
        await s.claimCallback(callback('cb-completed', { runId: 'run-1', response: block, outcome: 'given', updatedAt: at(1) }));
        await s.claimCallback(callback('cb-answered', { workspaceId: WS_B, response: answer, updatedAt: at(3) }));
        await s.claimCallback(callback('cb-waiting', { runId: 'run-2', response: block }));
        await s.claimCallback(callback('cb-handling'));
        await s.claimCallback(callback('cb-recent', { response: answer, updatedAt: cut }));
      });
      expect(await state.transaction((s) => s.pruneCallbacks({ before: cut, limit: 0 }))).toBe(0);
      expect(await state.transaction((s) => s.pruneCallbacks({ before: cut, limit: 2 }))).toBe(2);
      expect(await state.transaction((s) => s.getCallback(WS_B, 'cb-answered'))).not.toBeNull();
      expect(await state.transaction((s) => s.pruneCallbacks({ before: cut, limit: 10 }))).toBe(1);
      const left = await state.transaction(async (s) =>
        Promise.all([[WS_A, 'cb-answered'], [WS_A, 'cb-completed'], [WS_B, 'cb-answered'], [WS_A, 'cb-waiting'], [WS_A, 'cb-handling'], [WS_A, 'cb-recent']].map(
          async ([ws, id]) => (await s.getCallback(ws ?? '', id ?? '')) !== null,
        )),
      );
      expect(left).toEqual([false, false, false, true, true, true]);
      // A deletion rolls back with its transaction.
      await expect(
        state.transaction(async (s) => {
          await s.pruneCallbacks({ before: at(7200), limit: 10 });
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');
      expect(await state.transaction((s) => s.getCallback(WS_A, 'cb-recent'))).not.toBeNull();
      await expect(state.transaction((s) => s.pruneCallbacks({ before: 'yesterday', limit: 10 }))).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    });

    it("keeps callbacks per workspace: the same callbackId in another workspace neither reads nor blocks a workspace's own", async () => {
      const theirs = await state.transaction((s) => s.claimCallback(callback('cb-shared', { workspaceId: WS_B, action: 'check-consent' })));
      await state.transaction((s) => s.updateCallback({ ...theirs.record, contactId: 'c-b', response: { hs_execution_state: 'SUCCESS', status: 'opted_in' }, updatedAt: at(1) }));

      expect(await state.transaction((s) => s.getCallback(WS_A, 'cb-shared'))).toBeNull();
      const ours = await state.transaction((s) => s.claimCallback(callback('cb-shared')));
      expect(ours.created).toBe(true);
      expect(ours.record).toEqual(callback('cb-shared'));
      await state.transaction((s) => s.updateCallback({ ...ours.record, response: { hs_execution_state: 'SUCCESS', status: 'opted_out' }, updatedAt: at(2) }));

      const view = await state.transaction(async (s) => ({ a: await s.getCallback(WS_A, 'cb-shared'), b: await s.getCallback(WS_B, 'cb-shared') }));
      expect(view.a).toEqual(callback('cb-shared', { response: { hs_execution_state: 'SUCCESS', status: 'opted_out' }, updatedAt: at(2) }));
      expect(view.b).toEqual(
        callback('cb-shared', { workspaceId: WS_B, action: 'check-consent', contactId: 'c-b', response: { hs_execution_state: 'SUCCESS', status: 'opted_in' }, updatedAt: at(1) }),
      );
      const again = await state.transaction((s) => s.claimCallback(callback('cb-shared', { workspaceId: WS_B })));
      expect(again).toEqual({ created: false, record: view.b });
    });
  });
}

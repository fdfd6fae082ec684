import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NewSlackAlert, SlackAlertEvent } from '../../connectors/slack/actions-port.js';
import { SLACK_CURSOR_KEY, type AlertPlanner, type SlackAlertRecord, type SlackAlertStore } from '../../connectors/slack/alert-store.js';
import { isConsentryError } from '../../src/core/errors.js';
import { ERASED, type ConsentryEvent } from '../../src/core/events.js';
import { defaultSettings } from '../../src/core/settings.js';
import type { Store } from '../../src/ports/store.js';

export type MakeAlertStore = () => Promise<{ store: Store; alerts: SlackAlertStore; cleanup: () => Promise<void> }>;

const WS_A = 'ws_a';
const WS_B = 'ws_b';
const T0 = '2026-01-01T10:00:00.000Z';

function consentFailed(id: string, workspaceId = WS_A): ConsentryEvent<'consent.failed'> {
  return {
    id,
    type: 'consent.failed',
    version: 1,
    workspaceId,
    occurredAt: T0,
    contactId: 'ct_1',
    data: {
      contactId: 'ct_1',
      channel: 'whatsapp',
      purpose: 'privacy',
      reason: 'timeout',
      attempts: 1,
      workflowId: 'request-consent-privacy',
      runId: 'run_1',
      conversationId: 'cv_1',
      contactName: 'Ana Test',
    },
  };
}

function optoutReview(id: string): ConsentryEvent<'optout.review_needed'> {
  return {
    id,
    type: 'optout.review_needed',
    version: 1,
    workspaceId: WS_A,
    occurredAt: T0,
    contactId: 'ct_2',
    data: { contactId: 'ct_2', channel: 'sms', messageId: 'm1', text: 'please stop', normalized: 'please stop', language: 'en', matchedWord: 'stop' },
  };
}

function syncFailed(id: string, contactId: string | null): ConsentryEvent<'sync.failed'> {
  return {
    id,
    type: 'sync.failed',
    version: 1,
    workspaceId: WS_A,
    occurredAt: T0,
    contactId,
    data: { integration: 'hubspot', contactId, operation: 'update_contact', reason: 'Email address ana.test@example.com is invalid', retryable: false },
  };
}

/** What the engine emits when it erases a contact (src/engine/contacts.ts). */
function contactUpdated(id: string, contactId: string, changes: string[], workspaceId = WS_A): ConsentryEvent<'contact.updated'> {
  return { id, type: 'contact.updated', version: 1, workspaceId, occurredAt: T0, contactId, data: { contactId, changes } };
}

function alert(id: string, event: SlackAlertEvent, workspaceId = WS_A): NewSlackAlert {
  return {
    id,
    workspaceId,
    event,
    contactName: 'Ana Test',
    contactUrl: 'https://app.hubspot.com/contacts/123/record/0-1/101',
    slackChannel: 'C0ALERTS01',
    createdAt: T0,
  };
}

const claimBy = (slackUserId: string, at: string, action: 'resend_consent_request' | 'record_consent_manually' = 'resend_consent_request') => ({
  action,
  slackUserId,
  at,
});

/** The AlertStore port and the dispatcher's ingestion, as every implementation must behave. */
export function slackAlertStoreContract(name: string, make: MakeAlertStore): void {
  describe(`SlackAlertStore contract: ${name}`, () => {
    let store: Store;
    let alerts: SlackAlertStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, alerts, cleanup } = await make());
      await store.transaction(async (tx) => {
        for (const id of [WS_A, WS_B]) {
          await tx.insertWorkspace({ id, name: `Shop ${id}`, settings: defaultSettings(), createdAt: T0, updatedAt: T0 });
        }
      });
    });

    afterEach(async () => {
      await cleanup();
    });

    async function append(...events: ConsentryEvent[]): Promise<void> {
      await store.transaction(async (tx) => {
        for (const event of events) await tx.appendEvent(event);
      });
    }

    let nextId = 0;
    const planAll: AlertPlanner = async (_tx, event) => {
      if (event.type !== 'consent.failed') return null;
      nextId += 1;
      return alert(`al_${nextId}`, consentFailed(event.id, event.workspaceId), event.workspaceId);
    };

    it('creates one alert per event: creating it again returns the first one', async () => {
      const first = await alerts.create(alert('al_1', consentFailed('ev_1')));
      expect(first).toMatchObject({ id: 'al_1', message: null, claim: null, resolution: null });
      const again = await alerts.create(alert('al_2', consentFailed('ev_1')));
      expect(again.id).toBe('al_1');
      expect(await alerts.get(WS_A, 'al_2')).toBeNull();
      expect(await alerts.get(WS_A, 'al_1')).toEqual(first);
    });

    it('keeps the event as the public event, whatever else the caller passed along', async () => {
      const stored = { ...consentFailed('ev_1'), position: 7 };
      const created = await alerts.create(alert('al_1', stored));
      expect(created.event).toEqual(consentFailed('ev_1'));
      expect(Object.keys(created.event)).not.toContain('position');
    });

    it('refuses an alert id that is not opaque, or taken by another event', async () => {
      await expect(alerts.create(alert('ana.test@example.com', consentFailed('ev_1')))).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      await alerts.create(alert('al_1', consentFailed('ev_1')));
      const clash = await alerts.create(alert('al_1', consentFailed('ev_2'))).catch((error: unknown) => error);
      expect(isConsentryError(clash) && clash.code).toBe('CONFLICT');
    });

    it('scopes alerts by workspace', async () => {
      await alerts.create(alert('al_1', consentFailed('ev_1')));
      expect(await alerts.get(WS_B, 'al_1')).toBeNull();
      expect(await alerts.claim(WS_B, 'al_1', claimBy('UACTOR1', T0))).toEqual({ status: 'not_found' });
      expect(await alerts.listPending(WS_B, 10)).toEqual([]);
    });

    it('lets exactly one claim in; the holder resolves, and later claims see the resolution', async () => {
      await alerts.create(alert('al_1', consentFailed('ev_1')));
      const first = claimBy('UACTOR1', '2026-01-01T10:01:00.000Z');
      const second = claimBy('UACTOR2', '2026-01-01T10:01:01.000Z');
      const claimed = await alerts.claim(WS_A, 'al_1', first);
      expect(claimed).toMatchObject({ status: 'claimed', alert: { claim: first } });
      expect(await alerts.claim(WS_A, 'al_1', second)).toMatchObject({ status: 'in_progress', claim: first });

      await expect(alerts.resolve(WS_A, 'al_1', second)).rejects.toMatchObject({ code: 'CONFLICT' });
      const resolved = await alerts.resolve(WS_A, 'al_1', { ...first, legalBasis: 'CONSENT_WITH_NOTICE' });
      expect(resolved.claim).toBeNull();
      expect(resolved.resolution).toEqual({ ...first, legalBasis: 'CONSENT_WITH_NOTICE' });
      expect(await alerts.claim(WS_A, 'al_1', second)).toMatchObject({
        status: 'already_resolved',
        resolution: { ...first, legalBasis: 'CONSENT_WITH_NOTICE' },
      });
      await expect(alerts.resolve(WS_A, 'al_1', first)).rejects.toMatchObject({ code: 'CONFLICT' });
      expect(await alerts.get(WS_A, 'al_1')).toEqual(resolved);
    });

    it('gives a claim back on release (only its holder can), and takes over an abandoned one', async () => {
      await alerts.create(alert('al_1', consentFailed('ev_1')));
      const first = claimBy('UACTOR1', '2026-01-01T10:01:00.000Z');
      await alerts.claim(WS_A, 'al_1', first);
      await alerts.release(WS_A, 'al_1', claimBy('UACTOR2', '2026-01-01T10:01:00.000Z'));
      expect((await alerts.get(WS_A, 'al_1'))?.claim).toEqual(first);
      await alerts.release(WS_A, 'al_1', first);
      expect((await alerts.get(WS_A, 'al_1'))?.claim).toBeNull();

      await alerts.claim(WS_A, 'al_1', first);
      const tooSoon = claimBy('UACTOR2', '2026-01-01T10:05:59.000Z');
      expect((await alerts.claim(WS_A, 'al_1', tooSoon)).status).toBe('in_progress');
      const later = claimBy('UACTOR2', '2026-01-01T10:06:01.000Z');
      expect(await alerts.claim(WS_A, 'al_1', later)).toMatchObject({ status: 'claimed', alert: { claim: later } });
    });

    it('ingests the outbox after its cursor, once, in event order, and skips what the planner declines', async () => {
      await append(consentFailed('ev_1'), optoutReview('ev_2'), consentFailed('ev_3', WS_B));
      expect(await alerts.ingest(planAll, 100)).toEqual({ events: 3, created: 2, erased: [] });
      expect(await alerts.ingest(planAll, 100)).toEqual({ events: 0, created: 0, erased: [] });
      const cursor = await store.transaction((tx) => tx.getMeta(SLACK_CURSOR_KEY));
      expect(typeof cursor).toBe('number');

      await append(consentFailed('ev_4'));
      expect(await alerts.ingest(planAll, 100)).toEqual({ events: 1, created: 1, erased: [] });
      expect((await alerts.listPending(WS_A, 10)).map((a) => a.event.id)).toEqual(['ev_1', 'ev_4']);
      expect((await alerts.listPending(WS_B, 10)).map((a) => a.event.id)).toEqual(['ev_3']);
    });

    it('reads in batches', async () => {
      await append(consentFailed('ev_1'), consentFailed('ev_2'), consentFailed('ev_3'));
      expect(await alerts.ingest(planAll, 2)).toEqual({ events: 2, created: 2, erased: [] });
      expect(await alerts.ingest(planAll, 2)).toEqual({ events: 1, created: 1, erased: [] });
    });

    it('leaves neither alerts nor an advanced cursor when the ingesting transaction fails', async () => {
      await append(consentFailed('ev_1'), consentFailed('ev_2'));
      let calls = 0;
      const failing: AlertPlanner = async (tx, event) => {
        calls += 1;
        if (calls === 2) throw new Error('contact lookup failed');
        return planAll(tx, event);
      };
      await expect(alerts.ingest(failing, 100)).rejects.toThrow('contact lookup failed');
      expect(await alerts.listPending(WS_A, 10)).toEqual([]);
      expect(await store.transaction((tx) => tx.getMeta(SLACK_CURSOR_KEY))).toBeUndefined();
      expect(await alerts.ingest(planAll, 100)).toEqual({ events: 2, created: 2, erased: [] });
    });

    it('creates nothing twice when an event is read again (a crash before the cursor was kept)', async () => {
      await append(consentFailed('ev_1'));
      await alerts.ingest(planAll, 100);
      await store.transaction((tx) => tx.setMeta(SLACK_CURSOR_KEY, 0));
      expect(await alerts.ingest(planAll, 100)).toEqual({ events: 1, created: 0, erased: [] });
      expect(await alerts.listPending(WS_A, 10)).toHaveLength(1);
    });

    it('tracks delivery: posted, digested and failed alerts leave the pending list, for good', async () => {
      for (const n of [1, 2, 3, 4]) await alerts.create(alert(`al_${n}`, consentFailed(`ev_${n}`)));
      expect((await alerts.listPending(WS_A, 2)).map((a) => a.id)).toEqual(['al_1', 'al_2']);

      await alerts.markPosted(WS_A, 'al_1', { channel: 'C0ALERTS01', ts: '1767261600.000100' });
      await alerts.markDigested(WS_A, ['al_2', 'al_3']);
      await alerts.markFailed(WS_A, ['al_4'], 'channel_not_found');
      expect(await alerts.listPending(WS_A, 10)).toEqual([]);

      expect(await alerts.getRecord(WS_A, 'al_1')).toMatchObject({
        delivery: 'posted',
        lastError: null,
        message: { channel: 'C0ALERTS01', ts: '1767261600.000100' },
      });
      expect(await alerts.getRecord(WS_A, 'al_2')).toMatchObject({ delivery: 'digested', message: null });
      expect(await alerts.getRecord(WS_A, 'al_4')).toMatchObject({ delivery: 'failed', lastError: 'channel_not_found' });

      // A late report never moves an alert back or sideways.
      await alerts.markFailed(WS_A, ['al_1', 'al_2'], 'late');
      await alerts.markPosted(WS_A, 'al_2', { channel: 'C0ALERTS01', ts: '1767261600.000200' });
      expect(await alerts.getRecord(WS_A, 'al_1')).toMatchObject({ delivery: 'posted', lastError: null });
      expect(await alerts.getRecord(WS_A, 'al_2')).toMatchObject({ delivery: 'digested', message: null });
      expect(await alerts.getRecord(WS_A, 'al_9')).toBeNull();
      await expect(alerts.markPosted(WS_A, 'al_9', { channel: 'C0ALERTS01', ts: '1.2' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('says how many alerts a digested or failed mark moved: only pending ones, each once', async () => {
      for (const n of [1, 2, 3, 4]) await alerts.create(alert(`al_${n}`, consentFailed(`ev_${n}`)));
      await alerts.markPosted(WS_A, 'al_1', { channel: 'C0ALERTS01', ts: '1767261600.000100' });
      expect(await alerts.markDigested(WS_A, ['al_1', 'al_2', 'al_2', 'al_9'])).toBe(1);
      expect(await alerts.markFailed(WS_A, ['al_1', 'al_2', 'al_3', 'al_4', 'al_4'], 'unexpected_response: no ts')).toBe(2);
      expect(await alerts.markFailed(WS_B, ['al_3'], 'channel_not_found')).toBe(0);
      expect(await alerts.markFailed(WS_A, ['al_3'], 'channel_not_found')).toBe(0);
      expect(await alerts.markDigested(WS_A, [])).toBe(0);
      expect(await alerts.getRecord(WS_A, 'al_3')).toMatchObject({ delivery: 'failed', lastError: 'unexpected_response: no ts' });
    });

    it('puts failed alerts back to pending by their error, in one workspace only', async () => {
      for (const n of [1, 2, 3, 4]) await alerts.create(alert(`al_${n}`, consentFailed(`ev_${n}`)));
      await alerts.create(alert('al_5', consentFailed('ev_5', WS_B), WS_B));
      await alerts.markFailed(WS_A, ['al_1', 'al_2'], 'token_revoked');
      await alerts.markFailed(WS_A, ['al_3'], 'invalid_blocks');
      await alerts.markPosted(WS_A, 'al_4', { channel: 'C0ALERTS01', ts: '1767261600.000100' });
      await alerts.markFailed(WS_B, ['al_5'], 'token_revoked');

      expect(await alerts.requeueFailed(WS_A, ['token_revoked', 'not_in_channel'])).toBe(2);
      expect((await alerts.listPending(WS_A, 10)).map((a) => a.id)).toEqual(['al_1', 'al_2']);
      expect(await alerts.getRecord(WS_A, 'al_1')).toMatchObject({ delivery: 'pending', lastError: null });
      expect(await alerts.getRecord(WS_A, 'al_3')).toMatchObject({ delivery: 'failed', lastError: 'invalid_blocks' });
      expect(await alerts.getRecord(WS_A, 'al_4')).toMatchObject({ delivery: 'posted' });
      expect(await alerts.getRecord(WS_B, 'al_5')).toMatchObject({ delivery: 'failed', lastError: 'token_revoked' });
      expect(await alerts.requeueFailed(WS_A, ['token_revoked'])).toBe(0);
    });

    it('attaches a message without changing the delivery state', async () => {
      await alerts.create(alert('al_1', consentFailed('ev_1')));
      await alerts.attachMessage(WS_A, 'al_1', { channel: 'C0ALERTS01', ts: '1767261600.000100' });
      expect(await alerts.getRecord(WS_A, 'al_1')).toMatchObject({ delivery: 'pending', message: { ts: '1767261600.000100' } });
    });

    it('erases a contact from every one of its alerts, whatever their delivery, and from no other alert', async () => {
      await alerts.create(alert('al_1', consentFailed('ev_1')));
      await alerts.create(alert('al_2', consentFailed('ev_2')));
      await alerts.markPosted(WS_A, 'al_2', { channel: 'C0ALERTS01', ts: '1767261600.000100' });
      await alerts.create(alert('al_3', consentFailed('ev_3')));
      const claim = claimBy('UACTOR1', '2026-01-01T10:01:00.000Z', 'record_consent_manually');
      await alerts.claim(WS_A, 'al_3', claim);
      await alerts.resolve(WS_A, 'al_3', { ...claim, legalBasis: 'CONSENT_WITH_NOTICE' });
      await alerts.create(alert('al_4', syncFailed('ev_4', 'ct_1')));
      await alerts.markFailed(WS_A, ['al_4'], 'channel_not_found');
      await alerts.create(alert('al_5', optoutReview('ev_5')));
      await alerts.create(alert('al_6', syncFailed('ev_6', null)));
      await alerts.create(alert('al_7', consentFailed('ev_7', WS_B), WS_B));
      const before = new Map<string, SlackAlertRecord | null>();
      for (const [ws, id] of [[WS_A, 'al_1'], [WS_A, 'al_2'], [WS_A, 'al_3'], [WS_A, 'al_4'], [WS_A, 'al_5'], [WS_A, 'al_6'], [WS_B, 'al_7']] as const) {
        before.set(id, await alerts.getRecord(ws, id));
      }

      expect(await alerts.eraseContact(WS_A, 'ct_1')).toBe(4);

      for (const id of ['al_1', 'al_2', 'al_3']) {
        const record = await alerts.getRecord(WS_A, id);
        expect(record).toMatchObject({ contactName: null, contactUrl: null, event: { data: { contactName: null, contactId: 'ct_1' } } });
        expect(JSON.stringify(record)).not.toContain('Ana Test');
        const was = before.get(id);
        expect(record).toMatchObject({
          id,
          slackChannel: was?.slackChannel,
          createdAt: was?.createdAt,
          delivery: was?.delivery,
          lastError: was?.lastError,
          message: was?.message,
          claim: was?.claim,
          resolution: was?.resolution,
        });
      }
      expect(await alerts.getRecord(WS_A, 'al_2')).toMatchObject({ delivery: 'posted', message: { ts: '1767261600.000100' } });
      expect(await alerts.getRecord(WS_A, 'al_3')).toMatchObject({ resolution: { ...claim, legalBasis: 'CONSENT_WITH_NOTICE' } });
      const failed = await alerts.getRecord(WS_A, 'al_4');
      expect(failed).toMatchObject({ delivery: 'failed', lastError: 'channel_not_found', contactName: null });
      expect(failed?.event.data).toMatchObject({ reason: ERASED, operation: 'update_contact', contactId: 'ct_1' });
      expect((await alerts.listPending(WS_A, 10)).map((a) => [a.id, a.contactName])).toEqual([
        ['al_1', null],
        ['al_3', null],
        ['al_5', 'Ana Test'],
        ['al_6', 'Ana Test'],
      ]);
      // Another contact, a failure about no contact, and the same contact id in another workspace keep everything.
      for (const [ws, id] of [[WS_A, 'al_5'], [WS_A, 'al_6'], [WS_B, 'al_7']] as const) {
        expect(await alerts.getRecord(ws, id)).toEqual(before.get(id));
      }
      expect(await alerts.eraseContact(WS_A, 'ct_1')).toBe(0);

      expect(await alerts.eraseContact(WS_A, 'ct_2')).toBe(1);
      expect((await alerts.get(WS_A, 'al_5'))?.event.data).toEqual({
        contactId: 'ct_2',
        channel: 'sms',
        messageId: 'm1',
        text: ERASED,
        normalized: ERASED,
        language: 'en',
        matchedWord: ERASED,
      });
    });

    it('erases, while ingesting, the alerts of a contact whose erasure it reads, planned in the same batch included', async () => {
      await alerts.create(alert('al_0', consentFailed('ev_0')));
      await append(
        consentFailed('ev_1'),
        contactUpdated('ev_2', 'ct_1', ['name']),
        contactUpdated('ev_3', 'ct_1', ['erased']),
        contactUpdated('ev_4', 'ct_1', ['erased'], WS_B),
      );
      const otherWorkspace = await alerts.create(alert('al_b', consentFailed('ev_b', WS_B), WS_B));
      expect(await alerts.ingest(planAll, 100)).toEqual({
        events: 4,
        created: 1,
        erased: [
          { workspaceId: WS_A, contactId: 'ct_1' },
          { workspaceId: WS_B, contactId: 'ct_1' },
        ],
      });
      const pending = await alerts.listPending(WS_A, 10);
      expect(pending.map((a) => a.event.id)).toEqual(['ev_0', 'ev_1']);
      for (const redacted of pending) expect(redacted).toMatchObject({ contactName: null, contactUrl: null, event: { data: { contactName: null } } });
      expect((await alerts.get(WS_B, otherWorkspace.id))?.contactName).toBeNull();
    });

    it('erases nothing when the ingesting transaction fails, and erases when the event is read again', async () => {
      await alerts.create(alert('al_0', consentFailed('ev_0')));
      await append(contactUpdated('ev_1', 'ct_1', ['erased']), consentFailed('ev_2'));
      const failing: AlertPlanner = async (tx, event) => {
        if (event.id === 'ev_2') throw new Error('contact lookup failed');
        return planAll(tx, event);
      };
      await expect(alerts.ingest(failing, 100)).rejects.toThrow('contact lookup failed');
      expect((await alerts.get(WS_A, 'al_0'))?.contactName).toBe('Ana Test');
      expect(await alerts.ingest(planAll, 100)).toMatchObject({ events: 2, created: 1, erased: [{ workspaceId: WS_A, contactId: 'ct_1' }] });
      expect((await alerts.get(WS_A, 'al_0'))?.contactName).toBeNull();
    });

    it('lists the alerts a channel shows that were created after a time, the newest first kept, oldest first', async () => {
      const at = (minute: number) => `2026-01-01T10:0${minute}:00.000Z`;
      const make = (id: string, eventId: string, createdAt: string, workspaceId = WS_A) =>
        alerts.create({ ...alert(id, consentFailed(eventId, workspaceId), workspaceId), createdAt });
      const digest = { channel: 'C0ALERTS01', ts: '1767261600.000200' };
      await make('al_1', 'ev_1', at(1));
      await alerts.markPosted(WS_A, 'al_1', { channel: 'C0ALERTS01', ts: '1767261600.000100' });
      await make('al_2', 'ev_2', at(3));
      await make('al_3', 'ev_3', at(2));
      await alerts.markPosted(WS_A, 'al_3', { channel: 'C0ALERTS01', ts: '1767261600.000300' });
      await make('al_4', 'ev_4', at(3));
      await alerts.markDigested(WS_A, ['al_2', 'al_4'], digest);
      await make('al_5', 'ev_5', at(4));
      await alerts.markPosted(WS_A, 'al_5', { channel: 'C0OTHER001', ts: '1767261600.000500' });
      // Neither a pending alert nor a failed one is shown, a message attached to it or not.
      await make('al_6', 'ev_6', at(4));
      await alerts.attachMessage(WS_A, 'al_6', { channel: 'C0ALERTS01', ts: '1767261600.000600' });
      await make('al_7', 'ev_7', at(4));
      await alerts.attachMessage(WS_A, 'al_7', { channel: 'C0ALERTS01', ts: '1767261600.000700' });
      await alerts.markFailed(WS_A, ['al_7'], 'invalid_blocks');
      await make('al_8', 'ev_8', at(5), WS_B);
      await alerts.markPosted(WS_B, 'al_8', { channel: 'C0ALERTS01', ts: '1767261600.000800' });

      const ids = (records: readonly SlackAlertRecord[]) => records.map((record) => record.id);
      const shown = await alerts.listShownSince(WS_A, 'C0ALERTS01', at(1), 10);
      expect(ids(shown)).toEqual(['al_3', 'al_2', 'al_4']);
      expect(shown[1]).toMatchObject({ delivery: 'digested', createdAt: at(3), message: digest });
      expect(ids(await alerts.listShownSince(WS_A, 'C0ALERTS01', at(0), 10))).toEqual(['al_1', 'al_3', 'al_2', 'al_4']);
      expect(ids(await alerts.listShownSince(WS_A, 'C0ALERTS01', at(0), 2))).toEqual(['al_2', 'al_4']);
      expect(await alerts.listShownSince(WS_A, 'C0ALERTS01', at(0), 0)).toEqual([]);
      expect(await alerts.listShownSince(WS_A, 'C0ALERTS01', at(3), 10)).toEqual([]);
      expect(ids(await alerts.listShownSince(WS_A, 'C0OTHER001', at(0), 10))).toEqual(['al_5']);
      expect(ids(await alerts.listShownSince(WS_B, 'C0ALERTS01', at(0), 10))).toEqual(['al_8']);
    });

    describe('retention (pruneExpired)', () => {
      const CUT = '2026-01-31T10:00:00.000Z';
      const AFTER_CUT = '2026-01-31T10:00:00.001Z';
      const shown = (n: number) => ({ channel: 'C0ALERTS01', ts: `1767261600.${String(n).padStart(6, '0')}` });
      const make = (id: string, event: SlackAlertEvent, options: { workspaceId?: string; createdAt?: string } = {}) =>
        alerts.create({ ...alert(id, event, options.workspaceId ?? WS_A), createdAt: options.createdAt ?? T0 });
      async function handle(id: string, at: string): Promise<void> {
        const claim = claimBy('UACTOR1', at);
        await alerts.claim(WS_A, id, claim);
        await alerts.resolve(WS_A, id, claim);
      }

      it('deletes the closed alerts created and handled before the time, of every workspace, and keeps every open one', async () => {
        // Closed: handled, folded into a digest (no buttons), of a type without buttons, erased and redacted.
        await make('al_handled', consentFailed('ev_1'));
        await alerts.markPosted(WS_A, 'al_handled', shown(1));
        await handle('al_handled', '2026-01-01T10:01:00.000Z');
        await make('al_digested', consentFailed('ev_2'));
        await alerts.markDigested(WS_A, ['al_digested'], shown(2));
        await make('al_info', syncFailed('ev_3', 'ct_3'));
        await alerts.markPosted(WS_A, 'al_info', shown(3));
        await make('al_erased', optoutReview('ev_4'));
        await alerts.markPosted(WS_A, 'al_erased', shown(4));
        await make('al_b', consentFailed('ev_5', WS_B), { workspaceId: WS_B });
        await alerts.markDigested(WS_B, ['al_b'], shown(5));
        // Open, or closed too late: each is kept.
        await make('al_buttons', consentFailed('ev_6'));
        await alerts.markPosted(WS_A, 'al_buttons', shown(6));
        await make('al_pending', syncFailed('ev_7', 'ct_3'));
        await make('al_failed', syncFailed('ev_8', 'ct_3'));
        await alerts.markFailed(WS_A, ['al_failed'], 'token_revoked');
        await make('al_late', consentFailed('ev_9'));
        await alerts.markPosted(WS_A, 'al_late', shown(9));
        await handle('al_late', AFTER_CUT);
        await make('al_claimed', consentFailed('ev_10'));
        await alerts.markPosted(WS_A, 'al_claimed', shown(10));
        await alerts.claim(WS_A, 'al_claimed', claimBy('UACTOR2', AFTER_CUT));
        await make('al_new', consentFailed('ev_11'), { createdAt: CUT });
        await alerts.markDigested(WS_A, ['al_new'], shown(11));
        // Erased while its message still names the contact: kept until the message is redacted.
        expect(await alerts.eraseContact(WS_A, 'ct_2')).toBe(1);

        expect(await alerts.pruneExpired({ before: CUT, limit: 100 })).toBe(4);
        for (const id of ['al_handled', 'al_digested', 'al_info']) expect(await alerts.getRecord(WS_A, id)).toBeNull();
        expect(await alerts.get(WS_B, 'al_b')).toBeNull();
        for (const id of ['al_buttons', 'al_pending', 'al_failed', 'al_late', 'al_claimed', 'al_new', 'al_erased']) {
          expect(await alerts.getRecord(WS_A, id), id).not.toBeNull();
        }
        expect(await alerts.listRedactions(WS_A, 10)).toEqual([shown(4)]);
        expect(await alerts.pruneExpired({ before: CUT, limit: 100 })).toBe(0);

        await alerts.markRedacted(WS_A, shown(4));
        expect(await alerts.pruneExpired({ before: CUT, limit: 100 })).toBe(1);
        expect(await alerts.getRecord(WS_A, 'al_erased')).toBeNull();
        // A button of a deleted alert finds nothing, and changes nothing.
        expect(await alerts.claim(WS_A, 'al_handled', claimBy('UACTOR1', AFTER_CUT))).toEqual({ status: 'not_found' });
        expect(await alerts.listShownIn(WS_A, shown(2))).toEqual([]);
        expect((await alerts.listPending(WS_A, 10)).map((pending) => pending.id)).toEqual(['al_pending']);
      });

      it('keeps a closed alert whose button action is still under way (claimed since the time)', async () => {
        await make('al_1', optoutReview('ev_1'));
        await alerts.markPosted(WS_A, 'al_1', shown(1));
        await alerts.claim(WS_A, 'al_1', { action: 'apply_optout', slackUserId: 'UACTOR1', at: AFTER_CUT });
        // The contact is erased while the action runs, and the message redacted: the alert is closed.
        await alerts.eraseContact(WS_A, 'ct_2');
        await alerts.markRedacted(WS_A, shown(1));
        expect(await alerts.getRecord(WS_A, 'al_1')).toMatchObject({ erased: true, redactionDue: false, claim: { at: AFTER_CUT } });

        expect(await alerts.pruneExpired({ before: CUT, limit: 10 })).toBe(0);
        await alerts.release(WS_A, 'al_1', { action: 'apply_optout', slackUserId: 'UACTOR1', at: AFTER_CUT });
        expect(await alerts.pruneExpired({ before: CUT, limit: 10 })).toBe(1);
      });

      it('deletes the oldest first, at most `limit`, and refuses a time or limit the stores would read differently', async () => {
        const minute = (n: number) => `2026-01-01T10:0${n}:00.000Z`;
        await make('al_3', consentFailed('ev_3'), { createdAt: minute(3) });
        await make('al_1', consentFailed('ev_1', WS_B), { workspaceId: WS_B, createdAt: minute(1) });
        await make('al_2', consentFailed('ev_2'), { createdAt: minute(2) });
        await alerts.markDigested(WS_A, ['al_2', 'al_3'], shown(1));
        await alerts.markDigested(WS_B, ['al_1'], shown(1));

        expect(await alerts.pruneExpired({ before: CUT, limit: 0 })).toBe(0);
        expect(await alerts.pruneExpired({ before: CUT, limit: 2 })).toBe(2);
        expect(await alerts.get(WS_B, 'al_1')).toBeNull();
        expect(await alerts.get(WS_A, 'al_2')).toBeNull();
        expect(await alerts.get(WS_A, 'al_3')).not.toBeNull();
        await expect(alerts.pruneExpired({ before: '2026-01-31', limit: 10 })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
        await expect(alerts.pruneExpired({ before: CUT, limit: -1 })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
        expect(await alerts.get(WS_A, 'al_3')).not.toBeNull();
      });
    });

    it('keeps optout and sync events intact', async () => {
      const created = await alerts.create(alert('al_1', optoutReview('ev_1')));
      expect(created.event).toEqual(optoutReview('ev_1'));
      expect(await alerts.get(WS_A, 'al_1')).toEqual(created);
    });
  });
}

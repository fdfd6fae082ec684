import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { MemorySlackAlertStore, type SlackAlertStore } from '../../../connectors/slack/alert-store.js';
import { SqliteSlackAlertStore } from '../../../connectors/slack/alert-store-sqlite.js';
import { SlackAlertDispatcher } from '../../../connectors/slack/dispatcher.js';
import type { ConsentryEvent } from '../../../src/core/events.js';
import { createEngine, type Engine } from '../../../src/engine.js';
import { FakeClock } from '../../../src/ports/clock.js';
import type { Store } from '../../../src/ports/store.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { createSqliteStore, type SqliteStore } from '../../../src/store/sqlite.js';

export const CHANNEL = 'C0ALERTS01';
export const T0 = '2026-01-01T10:00:00.000Z';
export const ANA = 'Ana Test';
export const ANA_MESSAGE = 'Ana here, please stop texting me';
export const ANA_EMAIL = 'ana.test@example.com';
export const ANA_RECORD = 'record/0-1/101';

export interface ErasureSetup {
  store: Store;
  sqlite: SqliteStore | null;
  alerts: SlackAlertStore;
  cleanup: () => Promise<void>;
}

/** The alert stores the erasure tests run against: the in-memory twin and SQLite. */
export const ERASURE_STORES: Record<string, () => ErasureSetup> = {
  memory: () => {
    const store = createMemoryStore();
    return { store, sqlite: null, alerts: new MemorySlackAlertStore(store), cleanup: () => store.close() };
  },
  sqlite: () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-slack-erasure-'));
    const store = createSqliteStore({ path: path.join(dir, 'consentry.db') });
    return {
      store,
      sqlite: store,
      alerts: new SqliteSlackAlertStore(store),
      cleanup: async () => {
        await store.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

export interface ErasureBed {
  /** What the current test runs on, made afresh before each test. */
  state(): { setup: ErasureSetup; clock: FakeClock; engine: Engine };
  /** How many alert ids the dispatchers handed out (`al_1` ... `al_<n>`). */
  alertCount(): number;
  eventId(): string;
  dispatcher(): SlackAlertDispatcher;
  /** A workspace with Slack (and HubSpot, so alerts link to records) set up. */
  workspace(digestThreshold?: number): Promise<string>;
  /** A contact with an e-mail made from its name, linked to the HubSpot record `hubspotId`. */
  contact(workspaceId: string, name: string, hubspotId: string): Promise<string>;
  consentFailed(workspaceId: string, contactId: string, contactName: string): ConsentryEvent<'consent.failed'>;
  /** Ana's opt-out review (ANA_MESSAGE). */
  optoutReview(workspaceId: string, contactId: string): ConsentryEvent<'optout.review_needed'>;
  append(...events: ConsentryEvent[]): Promise<void>;
}

/**
 * A store of `kind` (ERASURE_STORES), an engine on a fake clock and the makers of the events whose
 * alerts erasure redacts, made before each test of the calling describe and closed after it.
 */
export function useErasureBed(kind: string, slack: { botToken: string; signingSecret: string; botId?: string; botUserId?: string }): ErasureBed {
  let setup: ErasureSetup | null = null;
  let clock = new FakeClock(T0);
  let engine: Engine | null = null;
  let eventSeq = 0;
  let alertSeq = 0;

  beforeEach(() => {
    eventSeq = 0;
    alertSeq = 0;
    const make = ERASURE_STORES[kind];
    if (!make) throw new Error(`no store ${kind}`);
    setup = make();
    clock = new FakeClock(T0);
    engine = createEngine({ store: setup.store, clock });
  });

  afterEach(async () => {
    await setup?.cleanup();
  });

  function state(): { setup: ErasureSetup; clock: FakeClock; engine: Engine } {
    if (setup === null || engine === null) throw new Error('the erasure bed is used outside a test');
    return { setup, clock, engine };
  }

  const eventId = (): string => `01JEVENT${String(++eventSeq).padStart(18, '0')}`;

  return {
    state,
    alertCount: () => alertSeq,
    eventId,
    dispatcher: () => new SlackAlertDispatcher({ engine: state().engine, alerts: state().setup.alerts, clock, env: {}, ids: { next: () => `al_${++alertSeq}` } }),
    async workspace(digestThreshold = 10) {
      const created = await state().engine.createWorkspace({
        name: 'Acme',
        settings: {
          slack: { ...slack, alertChannel: CHANNEL, allowedUserIds: ['UACTOR1'], digestThreshold },
          hubspot: { accessToken: 'pat-test-0000', portalId: '12345' },
        },
      });
      return created.id;
    },
    async contact(workspaceId, name, hubspotId) {
      const workspace = state().engine.workspace(workspaceId);
      const created = await workspace.createContact({ name, email: `${name.toLowerCase().replace(' ', '.')}@example.com` });
      await workspace.linkHubspotContacts([{ contactId: created.id, hubspotId }]);
      return created.id;
    },
    consentFailed(workspaceId, contactId, contactName) {
      return {
        id: eventId(),
        type: 'consent.failed',
        version: 1,
        workspaceId,
        occurredAt: clock.now().toISOString(),
        contactId,
        data: { contactId, channel: 'whatsapp', purpose: 'privacy', reason: 'timeout', attempts: 1, workflowId: 'request-consent-privacy', runId: 'run_1', conversationId: 'cv_1', contactName },
      };
    },
    optoutReview(workspaceId, contactId) {
      return {
        id: eventId(),
        type: 'optout.review_needed',
        version: 1,
        workspaceId,
        occurredAt: clock.now().toISOString(),
        contactId,
        data: { contactId, channel: 'sms', messageId: 'm1', text: ANA_MESSAGE, normalized: 'ana here please stop texting me', language: 'en', matchedWord: 'stop' },
      };
    },
    async append(...events) {
      await state().setup.store.transaction(async (tx) => {
        for (const event of events) await tx.appendEvent(event);
      });
    },
  };
}

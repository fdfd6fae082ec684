import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hubSpotConnectionsFor, type HubSpotConnections } from '../../../connectors/hubspot/connections.js';
import { installProperties } from '../../../connectors/hubspot/install.js';
import { hubSpotStatus, type HubSpotStatus } from '../../../connectors/hubspot/status.js';
import { hubSpotStateFor } from '../../../connectors/hubspot/state-sqlite.js';
import { HubSpotSync, type HubSpotSyncOptions } from '../../../connectors/hubspot/sync.js';
import type { WorkspaceSettingsInput } from '../../../src/core/settings.js';
import { createEngine, type Engine, type WorkspaceEngine } from '../../../src/engine.js';
import { FakeClock } from '../../../src/ports/clock.js';
import type { Store } from '../../../src/ports/store.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { createSqliteStore } from '../../../src/store/sqlite.js';
import { startFakeHubSpot, type FakeHubSpot, type FakeHubSpotOptions } from '../../fakes/hubspot-server.js';

export const TOKEN = 'pat-na1-11111111-2222-3333-4444-555555555555';
export const PORTAL_ID = '62515';
export const CLIENT_SECRET = 'client-secret-for-tests';
export const SUBSCRIPTION_ID = '1001';
export const START = '2026-03-02T10:00:00.000Z';

export interface Harness {
  clock: FakeClock;
  fake: FakeHubSpot;
  store: Store;
  engine: Engine;
  workspace: WorkspaceEngine;
  workspaceId: string;
  connections: HubSpotConnections;
  sync: HubSpotSync;
  close(): Promise<void>;
}

export interface HarnessOptions {
  fake?: FakeHubSpotOptions;
  hubspot?: Record<string, unknown> | null;
  settings?: WorkspaceSettingsInput;
  sqlite?: boolean;
  install?: boolean;
  sync?: Partial<HubSpotSyncOptions>;
}

/**
 * A workspace connected to a local fake HubSpot, on a fake clock: the limiter's waits move the
 * clock instead of sleeping, so tests never wait on real time (the HTTP calls are real, on 127.0.0.1).
 */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const clock = new FakeClock(START);
  const fake = await startFakeHubSpot({ now: () => clock.now().getTime(), accessToken: TOKEN, rateLimit: null, ...options.fake });
  let dir: string | null = null;
  let store: Store;
  if (options.sqlite === true) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-hubspot-'));
    store = createSqliteStore({ path: path.join(dir, 'test.db') });
  } else {
    store = createMemoryStore();
  }
  const engine = createEngine({ store, clock });
  const hubspot =
    options.hubspot === null
      ? null
      : { accessToken: TOKEN, portalId: PORTAL_ID, clientSecret: CLIENT_SECRET, emailSubscriptionId: SUBSCRIPTION_ID, ...options.hubspot };
  const created = await engine.createWorkspace({
    name: 'Example Shop',
    settings: { privacyPolicyUrl: 'https://shop.example.com/privacy', ...options.settings, ...(hubspot === null ? {} : { hubspot }) },
  });
  const sleep = async (ms: number): Promise<void> => {
    const target = clock.now().getTime() + ms;
    await Promise.resolve();
    if (clock.now().getTime() < target) clock.set(target);
  };
  // Registered for the store, so the server's HubSpot routes share the client and limiter.
  const connections = hubSpotConnectionsFor(store, { clock, sleep, random: () => 0, basePath: fake.url });
  if (options.install !== false) {
    await installProperties(connections.session({ accessToken: TOKEN, portalId: PORTAL_ID }).client, []);
    fake.resetStats();
  }
  const sync = new HubSpotSync({ engine, store, clock, connections, random: () => 0, state: hubSpotStateFor(store), ...options.sync });
  return {
    clock,
    fake,
    store,
    engine,
    workspace: engine.workspace(created.id),
    workspaceId: created.id,
    connections,
    sync,
    async close() {
      await sync.stop();
      await fake.close();
      await store.close();
      if (dir !== null) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A HubSpot contact in the fake, linked to a new Consentry contact. */
export async function linkedContact(h: Harness, email: string, properties: Record<string, string> = {}): Promise<{ contactId: string; hubspotId: string }> {
  const hubspotId = h.fake.seedContact({ email, ...properties });
  const contact = await h.workspace.createContact({ email });
  await h.workspace.linkHubspotContacts([{ contactId: contact.id, hubspotId }]);
  return { contactId: contact.id, hubspotId };
}

export function hubspotProperties(h: Harness, hubspotId: string): Record<string, string> {
  return h.fake.state.contacts.get(hubspotId)?.properties ?? {};
}

/** The workspace's sync status as GET /v1/integrations/hubspot/status shows it, at the harness's time. */
export async function syncStatus(h: Harness): Promise<HubSpotStatus> {
  return hubSpotStatus(hubSpotStateFor(h.store), await h.workspace.get(), {}, true, h.clock.now());
}

/** A person's SMS marketing decision recorded by hand (an opt-in with its legal basis), dated `occurredAt` when given. */
export async function setSms(h: Harness, contactId: string, value: 'opted_in' | 'opted_out', occurredAt?: string): Promise<void> {
  await h.workspace.setConsent({
    contactId,
    purpose: 'marketing',
    channel: 'sms',
    status: value,
    ...(value === 'opted_in' ? { legalBasis: 'CONSENT_WITH_NOTICE' as const, explanation: 'Asked at the till' } : {}),
    source: 'manual',
    actor: { kind: 'user', id: 'user-ana' },
    ...(occurredAt === undefined ? {} : { occurredAt }),
  });
}

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isConsentryError } from '../../src/core/errors.js';
import { createEngine, type Engine } from '../../src/engine.js';
import { HUBSPOT_ENVIRONMENT_PORTAL_KEY, recordEnvironmentPortalClaim } from '../../src/engine/integrations.js';
import { FakeClock } from '../../src/ports/clock.js';
import type { Store } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createSqliteStore } from '../../src/store/sqlite.js';

const PORTAL = '62515';

function hubspot(portalId: string, clientSecret = `secret-of-${portalId}`) {
  return { accessToken: 'pat-na1-11111111-2222-3333-4444-555555555555', portalId, clientSecret };
}

async function refusal(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => null,
    (error: unknown) => error,
  );
}

function expectPortalConflict(error: unknown): void {
  expect(isConsentryError(error) && error.code).toBe('CONFLICT');
  expect(isConsentryError(error) && error.issues).toEqual([{ path: 'hubspot.portalId', message: expect.stringContaining(`HubSpot portal ${PORTAL} is connected to another workspace`) }]);
}

const stores: { name: string; open: (dir: string) => Store }[] = [
  { name: 'in memory', open: () => createMemoryStore() },
  { name: 'SQLite', open: (dir) => createSqliteStore({ path: path.join(dir, 'consentry.db') }) },
];

describe.each(stores)('a HubSpot portal belongs to one workspace ($name)', ({ open }) => {
  let dir: string;
  let store: Store;
  let engine: Engine;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-portal-'));
    store = open(dir);
    engine = createEngine({ store, clock: new FakeClock('2026-03-02T10:00:00.000Z') });
  });

  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("refuses settings that name another workspace's portal, and leaves them as they were", async () => {
    const owner = await engine.createWorkspace({ name: 'Shop A', settings: { hubspot: hubspot(PORTAL) } });
    const other = await engine.createWorkspace({ name: 'Shop B', settings: { hubspot: hubspot('77777') } });
    expectPortalConflict(await refusal(engine.workspace(other.id).updateSettings({ hubspot: { portalId: PORTAL } })));
    expect((await engine.workspace(other.id).get()).settings.hubspot?.portalId).toBe('77777');
    expectPortalConflict(await refusal(engine.createWorkspace({ name: 'Shop C', settings: { hubspot: hubspot(PORTAL) } })));
    expect((await engine.listWorkspaces()).map((workspace) => workspace.name)).toEqual(['Shop A', 'Shop B']);

    // The owner changes its other settings freely; once it lets the portal go, another may take it.
    await engine.workspace(owner.id).updateSettings({ hubspot: { createMissingContacts: true }, defaultCountry: 'ES' });
    await engine.workspace(owner.id).updateSettings({ hubspot: null });
    const moved = await engine.workspace(other.id).updateSettings({ hubspot: { portalId: PORTAL } });
    expect(moved.settings.hubspot?.portalId).toBe(PORTAL);
  });

  it('lets workspaces that already share a portal (written before the rule) change their other settings', async () => {
    const first = await engine.createWorkspace({ name: 'Shop A', settings: { hubspot: hubspot(PORTAL) } });
    const second = await engine.createWorkspace({ name: 'Shop B', settings: {} });
    await store.transaction(async (tx) => {
      const stored = await tx.getWorkspace(second.id);
      if (stored === undefined) throw new Error('the workspace was just created');
      const shared = first.settings.hubspot;
      if (shared === null) throw new Error('the first workspace was created with HubSpot settings');
      await tx.updateWorkspace(second.id, { settings: { ...stored.settings, hubspot: { ...shared, clientSecret: 'secret-of-b' } }, updatedAt: stored.updatedAt });
    });
    const updated = await engine.workspace(second.id).updateSettings({ hubspot: { syncEnabled: false }, defaultCountry: 'ES' });
    expect(updated.settings.hubspot).toEqual(expect.objectContaining({ portalId: PORTAL, syncEnabled: false }));
    expect((await engine.workspace(first.id).updateSettings({ hubspot: { createMissingContacts: true } })).settings.hubspot?.portalId).toBe(PORTAL);
  });

  it('lets only one of two workspaces claiming a portal at the same time have it', async () => {
    const one = await engine.createWorkspace({ name: 'Shop A', settings: {} });
    const two = await engine.createWorkspace({ name: 'Shop B', settings: {} });
    const outcomes = await Promise.allSettled([
      engine.workspace(one.id).updateSettings({ hubspot: hubspot(PORTAL, 'secret-of-a') }),
      engine.workspace(two.id).updateSettings({ hubspot: hubspot(PORTAL, 'secret-of-b') }),
    ]);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    const refused: unknown = outcomes.find((outcome) => outcome.status === 'rejected')?.reason;
    expectPortalConflict(refused);
    const holders = (await engine.listWorkspaces()).filter((workspace) => workspace.settings.hubspot?.portalId === PORTAL);
    expect(holders).toHaveLength(1);
  });

  it("keeps the environment's portal (HUBSPOT_PORTAL_ID) from other workspaces while it configures the default one", async () => {
    const first = await engine.createWorkspace({ name: 'Default', settings: {} });
    const other = await engine.createWorkspace({ name: 'Shop B', settings: {} });
    await store.transaction((tx) => recordEnvironmentPortalClaim(tx, { workspaceId: first.id, portalId: PORTAL }));
    expectPortalConflict(await refusal(engine.workspace(other.id).updateSettings({ hubspot: hubspot(PORTAL) })));
    expectPortalConflict(await refusal(engine.createWorkspace({ name: 'Shop C', settings: { hubspot: hubspot(PORTAL) } })));
    // The default workspace itself may name it in its settings; those then win over the environment's, and free nothing else.
    await engine.workspace(first.id).updateSettings({ hubspot: hubspot(PORTAL) });
    expectPortalConflict(await refusal(engine.workspace(other.id).updateSettings({ hubspot: hubspot(PORTAL) })));
    // Its own settings on another portal: the environment's portal no longer serves it, and is free.
    await engine.workspace(first.id).updateSettings({ hubspot: { portalId: '88888' } });
    expect((await engine.workspace(other.id).updateSettings({ hubspot: hubspot(PORTAL) })).settings.hubspot?.portalId).toBe(PORTAL);
  });

  it("refuses to record the environment's claim on a portal another workspace's settings name, and forgets a claim withdrawn", async () => {
    const first = await engine.createWorkspace({ name: 'Default', settings: {} });
    const other = await engine.createWorkspace({ name: 'Shop B', settings: { hubspot: hubspot(PORTAL) } });
    const error = await refusal(store.transaction((tx) => recordEnvironmentPortalClaim(tx, { workspaceId: first.id, portalId: PORTAL })));
    expect(isConsentryError(error) && error.code).toBe('CONFLICT');
    expect(isConsentryError(error) && error.issues).toEqual([{ path: 'hubspot.portalId', message: expect.stringContaining(`workspace ${other.id}`) }]);
    expect(await store.transaction((tx) => tx.getMeta(HUBSPOT_ENVIRONMENT_PORTAL_KEY))).toBeUndefined();

    await store.transaction((tx) => recordEnvironmentPortalClaim(tx, { workspaceId: first.id, portalId: '77777' }));
    expect(await store.transaction((tx) => tx.getMeta(HUBSPOT_ENVIRONMENT_PORTAL_KEY))).toEqual({ workspaceId: first.id, portalId: '77777' });
    await store.transaction((tx) => recordEnvironmentPortalClaim(tx, null));
    expect(await engine.workspace(other.id).updateSettings({ hubspot: { portalId: '77777' } })).toEqual(
      expect.objectContaining({ settings: expect.objectContaining({ hubspot: expect.objectContaining({ portalId: '77777' }) }) }),
    );
  });
});

describe('a HubSpot portal claimed from two processes at once (two connections to one database)', () => {
  let dir: string;
  let engines: Engine[];
  let opened: Store[];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-portal-'));
    const file = path.join(dir, 'consentry.db');
    opened = [createSqliteStore({ path: file }), createSqliteStore({ path: file })];
    engines = opened.map((store) => createEngine({ store, clock: new FakeClock('2026-03-02T10:00:00.000Z') }));
  });

  afterEach(async () => {
    for (const store of opened) await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('goes to one workspace only', async () => {
    const [first, second] = engines;
    if (first === undefined || second === undefined) throw new Error('two engines were opened');
    const one = await first.createWorkspace({ name: 'Shop A', settings: {} });
    const two = await first.createWorkspace({ name: 'Shop B', settings: {} });
    const outcomes = await Promise.allSettled([
      first.workspace(one.id).updateSettings({ hubspot: hubspot(PORTAL, 'secret-of-a') }),
      second.workspace(two.id).updateSettings({ hubspot: hubspot(PORTAL, 'secret-of-b') }),
    ]);
    expect(outcomes.map((outcome) => outcome.status).sort()).toEqual(['fulfilled', 'rejected']);
    const holders = (await second.listWorkspaces()).filter((workspace) => workspace.settings.hubspot?.portalId === PORTAL);
    expect(holders).toHaveLength(1);
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isConsentryError } from '../../src/core/errors.js';
import { createEngine, type WorkspaceEngine } from '../../src/engine.js';
import type { HubSpotAccount } from '../../src/engine/integrations.js';
import { FakeClock } from '../../src/ports/clock.js';
import type { Store } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createSqliteStore } from '../../src/store/sqlite.js';

const TOKEN_A = 'pat-eu1-00000000-0000-0000-0000-00000000aaaa';
const TOKEN_B = 'pat-eu1-00000000-0000-0000-0000-00000000bbbb';
const ACCOUNT_A: HubSpotAccount = { accessToken: TOKEN_A, portalId: '12345' };

async function refusal(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => null,
    (error: unknown) => error,
  );
}

function expectAccountConflict(error: unknown, message: string): void {
  expect(isConsentryError(error) && error.code).toBe('CONFLICT');
  expect(isConsentryError(error) && error.issues).toEqual([{ path: 'hubspot', message: expect.stringContaining(message) }]);
  expect(String(error)).not.toContain(TOKEN_A);
  expect(String(error)).not.toContain(TOKEN_B);
}

const stores: { name: string; open: (dir: string) => Store }[] = [
  { name: 'in memory', open: () => createMemoryStore() },
  { name: 'SQLite', open: (dir) => createSqliteStore({ path: path.join(dir, 'consentry.db') }) },
];

describe.each(stores)('a settings update guarded by the HubSpot account it was checked against ($name)', ({ open }) => {
  let dir: string;
  let store: Store;
  let ws: WorkspaceEngine;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-account-guard-'));
    store = open(dir);
    const engine = createEngine({ store, clock: new FakeClock('2026-03-01T09:00:00.000Z') });
    ws = engine.workspace((await engine.createWorkspace({ name: 'Example Shop', settings: { hubspot: ACCOUNT_A } })).id);
  });

  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stores the account HubSpot confirmed when the stored one is still the one read', async () => {
    const confirmed = { accessToken: TOKEN_B, portalId: '67890' };
    const updated = await ws.updateSettings({ hubspot: confirmed }, { hubspotAccount: { read: ACCOUNT_A, confirmed } });
    expect(updated.settings.hubspot).toMatchObject(confirmed);
    expect((await ws.get()).settings.hubspot).toMatchObject(confirmed);
  });

  it('refuses when the stored account is no longer the one read, even for the account HubSpot confirmed, and stores nothing', async () => {
    await ws.updateSettings({ hubspot: { accessToken: TOKEN_B } });
    const confirmed = { accessToken: TOKEN_A.replace('aaaa', 'cccc'), portalId: '12345' };
    const error = await refusal(ws.updateSettings({ defaultCountry: 'ES', hubspot: confirmed }, { hubspotAccount: { read: ACCOUNT_A, confirmed } }));
    expectAccountConflict(error, 'changed while this change was checked with HubSpot; send the patch again');
    expect((await ws.get()).settings).toMatchObject({ defaultCountry: null, hubspot: { accessToken: TOKEN_B, portalId: '12345' } });
  });

  it('refuses an account it would store that HubSpot did not confirm, and stores nothing', async () => {
    // Read as stored, but the merge names a portal no token was checked against.
    const error = await refusal(ws.updateSettings({ defaultCountry: 'ES', hubspot: { portalId: '67890' } }, { hubspotAccount: { read: ACCOUNT_A, confirmed: null } }));
    expectAccountConflict(error, 'not the ones HubSpot confirmed');
    const confirmedElse = await refusal(
      ws.updateSettings({ hubspot: { portalId: '67890' } }, { hubspotAccount: { read: ACCOUNT_A, confirmed: { accessToken: TOKEN_B, portalId: '67890' } } }),
    );
    expectAccountConflict(confirmedElse, 'not the ones HubSpot confirmed');
    expect((await ws.get()).settings).toMatchObject({ defaultCountry: null, hubspot: ACCOUNT_A });
  });

  it('lets the account be kept or removed without a confirmation', async () => {
    const kept = await ws.updateSettings({ hubspot: { ...ACCOUNT_A, syncEnabled: false } }, { hubspotAccount: { read: ACCOUNT_A, confirmed: null } });
    expect(kept.settings.hubspot).toMatchObject({ ...ACCOUNT_A, syncEnabled: false });
    const removed = await ws.updateSettings({ hubspot: null }, { hubspotAccount: { read: ACCOUNT_A, confirmed: null } });
    expect(removed.settings.hubspot).toBeNull();
  });

  it('previews what a patch would store, refusing it as the update would, and writes nothing', async () => {
    const preview = await ws.previewSettings({ defaultCountry: 'ES', hubspot: { accessToken: '••••aaaa', portalId: '67890' } });
    expect(preview.before).toMatchObject({ defaultCountry: null, hubspot: ACCOUNT_A });
    // The masked token sent back is the stored one, as the update would read it.
    expect(preview.after).toMatchObject({ defaultCountry: 'ES', hubspot: { accessToken: TOKEN_A, portalId: '67890' } });
    expect((await ws.get()).settings).toMatchObject({ defaultCountry: null, hubspot: ACCOUNT_A });
    const masked = await refusal(ws.previewSettings({ hubspot: { accessToken: '••••zzzz' } }));
    const updateRefusal = await refusal(ws.updateSettings({ hubspot: { accessToken: '••••zzzz' } }));
    expect(isConsentryError(masked) && masked.code).toBe('VALIDATION_FAILED');
    expect(isConsentryError(masked) && masked.issues).toEqual(isConsentryError(updateRefusal) ? updateRefusal.issues : null);
  });
});

import { describe, expect, it } from 'vitest';
import { configForPortal, resolveAll, resolveHubSpotConfig } from '../../../connectors/hubspot/config.js';
import { WorkspaceSettingsSchema, type Workspace } from '../../../src/core/settings.js';

function workspace(id: string, hubspot: Record<string, unknown> | null = null): Workspace {
  return {
    id,
    name: `Shop ${id}`,
    settings: WorkspaceSettingsSchema.parse(hubspot === null ? {} : { hubspot }),
    createdAt: '2026-03-02T10:00:00.000Z',
    updatedAt: '2026-03-02T10:00:00.000Z',
  };
}

const ENV = {
  HUBSPOT_ACCESS_TOKEN: 'pat-env',
  HUBSPOT_CLIENT_SECRET: 'secret-env',
  HUBSPOT_DEVELOPER_API_KEY: 'dev-key-env',
  HUBSPOT_PORTAL_ID: '111',
  HUBSPOT_EMAIL_SUBSCRIPTION_ID: '2002',
};

describe('resolveHubSpotConfig', () => {
  it('configures the default workspace from the environment', () => {
    expect(resolveHubSpotConfig(workspace('w1'), ENV, true)).toEqual({
      workspaceId: 'w1',
      accessToken: 'pat-env',
      portalId: '111',
      clientSecret: 'secret-env',
      developerApiKey: 'dev-key-env',
      emailSubscriptionId: '2002',
      createMissingContacts: false,
      syncEnabled: true,
      source: 'environment',
    });
  });

  it('leaves other workspaces to their own settings', () => {
    expect(resolveHubSpotConfig(workspace('w2'), ENV, false)).toBeNull();
    expect(resolveHubSpotConfig(workspace('w1'), {}, true)).toBeNull();
  });

  it("lets a workspace's settings win, the environment filling only what they leave empty", () => {
    const own = workspace('w1', { accessToken: 'pat-own', portalId: '222', createMissingContacts: true });
    expect(resolveHubSpotConfig(own, ENV, true)).toEqual(
      expect.objectContaining({ accessToken: 'pat-own', portalId: '222', clientSecret: 'secret-env', emailSubscriptionId: '2002', createMissingContacts: true, source: 'settings' }),
    );
    const notDefault = resolveHubSpotConfig(workspace('w2', { accessToken: 'pat-two', portalId: '333' }), ENV, false);
    expect(notDefault).toEqual(expect.objectContaining({ clientSecret: null, emailSubscriptionId: null, developerApiKey: null }));
  });
});

describe('configForPortal', () => {
  const workspaces = [workspace('w1'), workspace('w2', { accessToken: 'pat-two', portalId: '333', clientSecret: 'secret-two' })];

  it('picks the workspace whose portal the request names', () => {
    expect(configForPortal(workspaces, ENV, '333')?.workspaceId).toBe('w2');
    expect(configForPortal(workspaces, ENV, '111')?.workspaceId).toBe('w1');
    expect(configForPortal(workspaces, ENV, '999')).toBeNull();
  });

  it('gives unclaimed portals to a default workspace configured without a portal id (single-workspace deployment)', () => {
    const { HUBSPOT_PORTAL_ID: _unset, ...withoutPortal } = ENV;
    expect(configForPortal(workspaces, withoutPortal, '999')?.workspaceId).toBe('w1');
    expect(configForPortal(workspaces, withoutPortal, '333')?.workspaceId).toBe('w2');
    expect([...resolveAll(workspaces, withoutPortal).keys()]).toEqual(['w1', 'w2']);
  });
});

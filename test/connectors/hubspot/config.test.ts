import { describe, expect, it } from 'vitest';
import { configsForPortal, environmentPortalClaim, resolveAll, resolveHubSpotConfig } from '../../../connectors/hubspot/config.js';
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
      oauth: null,
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
    expect(notDefault).toEqual(expect.objectContaining({ clientSecret: null, emailSubscriptionId: null, developerApiKey: null, oauth: null }));
  });

  it("is an OAuth install when the settings name the app's client id and secret and a refresh token", () => {
    const app = { clientId: 'client-own', clientSecret: 'secret-own', refreshToken: 'refresh-own' };
    const installed = resolveHubSpotConfig(workspace('w1', { accessToken: 'access-own', portalId: '222', ...app }), ENV, true);
    expect(installed).toEqual(expect.objectContaining({ accessToken: 'access-own', oauth: app, source: 'settings' }));
  });
});

describe('configsForPortal', () => {
  const workspaces = [workspace('w1'), workspace('w2', { accessToken: 'pat-two', portalId: '333', clientSecret: 'secret-two' })];
  const ids = (configs: readonly { workspaceId: string }[]) => configs.map((config) => config.workspaceId);

  it('names the workspace whose portal the request names', () => {
    expect(ids(configsForPortal(workspaces, ENV, '333'))).toEqual(['w2']);
    expect(ids(configsForPortal(workspaces, ENV, '111'))).toEqual(['w1']);
    expect(configsForPortal(workspaces, ENV, '999')).toEqual([]);
  });

  it('gives unclaimed portals to a default workspace configured without a portal id (single-workspace deployment)', () => {
    const { HUBSPOT_PORTAL_ID: _unset, ...withoutPortal } = ENV;
    expect(ids(configsForPortal(workspaces, withoutPortal, '999'))).toEqual(['w1']);
    expect(ids(configsForPortal(workspaces, withoutPortal, '333'))).toEqual(['w2']);
    expect([...resolveAll(workspaces, withoutPortal).keys()]).toEqual(['w1', 'w2']);
  });

  it('names every workspace of a portal several name (databases written before a portal had one workspace), in store order', () => {
    const shared = [
      workspace('w1', { accessToken: 'pat-one', portalId: '333', clientSecret: 'secret-one' }),
      workspace('w2', { accessToken: 'pat-two', portalId: '333', clientSecret: 'secret-two' }),
      workspace('w3', { accessToken: 'pat-three', portalId: '444', clientSecret: 'secret-three' }),
    ];
    expect(configsForPortal(shared, {}, '333').map((config) => [config.workspaceId, config.clientSecret])).toEqual([
      ['w1', 'secret-one'],
      ['w2', 'secret-two'],
    ]);
  });
});

describe('environmentPortalClaim', () => {
  it('is the portal HUBSPOT_PORTAL_ID gives the default workspace while the variables configure it', () => {
    const workspaces = [workspace('w1'), workspace('w2', { accessToken: 'pat-two', portalId: '333' })];
    expect(environmentPortalClaim(workspaces, ENV)).toEqual({ workspaceId: 'w1', portalId: '111' });
    const { HUBSPOT_PORTAL_ID: _unset, ...withoutPortal } = ENV;
    expect(environmentPortalClaim(workspaces, withoutPortal)).toBeNull();
    expect(environmentPortalClaim([], ENV)).toBeNull();
    // The default workspace's own settings win over the variables, portal included.
    expect(environmentPortalClaim([workspace('w1', { accessToken: 'pat-own', portalId: '222' })], ENV)).toBeNull();
  });
});

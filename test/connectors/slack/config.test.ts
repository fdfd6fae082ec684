import { describe, expect, it } from 'vitest';
import { hubspotContactUrl, resolveAllSlackConfigs, resolveSlackConfig, type SlackEnv } from '../../../connectors/slack/config.js';
import { WorkspaceSettingsSchema, type Workspace, type WorkspaceSettingsInput } from '../../../src/core/settings.js';

function workspace(id: string, settings: WorkspaceSettingsInput = {}): Workspace {
  return { id, name: `Shop ${id}`, settings: WorkspaceSettingsSchema.parse(settings), createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z' };
}

const ENV: SlackEnv = {
  SLACK_BOT_TOKEN: 'xoxb-from-env',
  SLACK_SIGNING_SECRET: 'env-secret',
  SLACK_ALERT_CHANNEL: 'C0ENVCHAN1',
  SLACK_ALLOWED_USERS: ['UENV1', 'UENV2'],
  HUBSPOT_PORTAL_ID: '777',
};

const own = {
  botToken: 'xoxb-own-token',
  signingSecret: 'own-secret',
  alertChannel: 'C0OWNCHAN1',
  allowedUserIds: ['UOWN1'],
  botId: 'B0OWN',
  botUserId: 'U0OWNBOT',
  digestThreshold: 4,
};

describe('resolveSlackConfig', () => {
  it('is off without settings or environment', () => {
    expect(resolveSlackConfig(workspace('ws_1'), {}, true)).toEqual({ status: 'off' });
    expect(resolveSlackConfig(workspace('ws_2'), ENV, false)).toEqual({ status: 'off' });
  });

  it('gives the default workspace the environment set-up', () => {
    expect(resolveSlackConfig(workspace('ws_1'), ENV, true)).toEqual({
      status: 'on',
      config: {
        workspaceId: 'ws_1',
        botToken: 'xoxb-from-env',
        signingSecret: 'env-secret',
        alertChannel: 'C0ENVCHAN1',
        allowedUserIds: ['UENV1', 'UENV2'],
        botId: null,
        botUserId: null,
        digestThreshold: 10,
        hubspotPortalId: '777',
        source: 'env',
      },
    });
  });

  it("lets a workspace's own settings win over the environment", () => {
    const resolved = resolveSlackConfig(workspace('ws_1', { slack: own, hubspot: { accessToken: 'pat-test', portalId: '12345' } }), ENV, true);
    expect(resolved).toEqual({
      status: 'on',
      config: { workspaceId: 'ws_1', ...own, hubspotPortalId: '12345', source: 'settings' },
    });
  });

  it('uses the bot ids only when both are known', () => {
    const resolved = resolveSlackConfig(workspace('ws_1', { slack: { ...own, botUserId: null } }), {}, false);
    expect(resolved.status === 'on' && [resolved.config.botId, resolved.config.botUserId]).toEqual([null, null]);
  });

  it('names the missing variables when the environment is half set', () => {
    expect(resolveSlackConfig(workspace('ws_1'), { SLACK_BOT_TOKEN: 'xoxb-from-env' }, true)).toEqual({
      status: 'incomplete',
      missing: ['SLACK_SIGNING_SECRET', 'SLACK_ALERT_CHANNEL'],
    });
    expect(resolveSlackConfig(workspace('ws_1'), { SLACK_ALLOWED_USERS: ['U1X'] }, true)).toMatchObject({ status: 'incomplete' });
  });

  it('treats the first workspace as the default one', () => {
    const all = resolveAllSlackConfigs([workspace('ws_1'), workspace('ws_2')], ENV);
    expect(all.map(({ resolution }) => resolution.status)).toEqual(['on', 'off']);
  });
});

describe('hubspotContactUrl', () => {
  it("links to the contact's record in the portal, only with both numeric ids", () => {
    expect(hubspotContactUrl('12345', '101')).toBe('https://app.hubspot.com/contacts/12345/record/0-1/101');
    expect(hubspotContactUrl(null, '101')).toBeNull();
    expect(hubspotContactUrl('12345', null)).toBeNull();
    expect(hubspotContactUrl('12345', '101/../../evil')).toBeNull();
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SlackAppManifestSchema, slackAppManifest, slackRequestUrl } from '../../../connectors/slack/manifest.js';
import { ConfigSchema } from '../../../src/config.js';
import { ConsentryError } from '../../../src/core/errors.js';
import { SlackSettingsSchema } from '../../../src/core/settings.js';
import { parseManifest } from '../../../src/manifest.js';

describe('slackAppManifest', () => {
  it('points interactivity at /slack/events under the public URL', () => {
    const manifest = slackAppManifest('https://consentry.example.com');
    expect(manifest.settings.interactivity).toEqual({ is_enabled: true, request_url: 'https://consentry.example.com/slack/events' });
  });

  it('keeps a path prefix and drops trailing slashes', () => {
    expect(slackRequestUrl('https://example.com/consentry/')).toBe('https://example.com/consentry/slack/events');
    expect(slackRequestUrl('https://example.com:8443')).toBe('https://example.com:8443/slack/events');
  });

  it('asks for the least bot scopes and no socket mode, org deploy or token rotation', () => {
    const manifest = slackAppManifest('https://consentry.example.com');
    expect(manifest.oauth_config.scopes.bot).toEqual(['chat:write', 'channels:read', 'groups:read']);
    expect(manifest.oauth_config.scopes.bot).not.toContain('chat:write.public');
    expect(manifest.settings).toMatchObject({ org_deploy_enabled: false, socket_mode_enabled: false, token_rotation_enabled: false });
    expect(manifest.features.bot_user.display_name).toMatch(/^[a-z0-9._-]+$/);
    expect(manifest.display_information.name.length).toBeLessThanOrEqual(35);
  });

  it('is valid JSON that the schema accepts back', () => {
    const round = JSON.parse(JSON.stringify(slackAppManifest('https://consentry.example.com')));
    expect(SlackAppManifestSchema.safeParse(round).success).toBe(true);
  });

  it('rejects what Slack would reject', () => {
    const manifest = slackAppManifest('https://consentry.example.com');
    expect(SlackAppManifestSchema.safeParse({ ...manifest, settings: { ...manifest.settings, socket_mode_enabled: true } }).success).toBe(false);
    const httpUrl = { ...manifest.settings, interactivity: { is_enabled: true, request_url: 'http://x.example.com/slack/events' } };
    expect(SlackAppManifestSchema.safeParse({ ...manifest, settings: httpUrl }).success).toBe(false);
    const longName = { ...manifest.display_information, name: 'x'.repeat(36) };
    expect(SlackAppManifestSchema.safeParse({ ...manifest, display_information: longName }).success).toBe(false);
  });

  it('refuses a public URL Slack cannot call, naming the field', () => {
    for (const url of ['http://consentry.example.com', 'consentry.example.com', 'https://example.com/?a=1']) {
      let caught: unknown;
      try {
        slackAppManifest(url);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ConsentryError);
      expect(caught instanceof ConsentryError && caught.issues[0]?.path).toBe('url');
    }
  });
});

describe('manifest.json: the slack connector', () => {
  const manifest = parseManifest(JSON.parse(readFileSync(new URL('../../../manifest.json', import.meta.url), 'utf8')));
  const slack = manifest.connectors.find((connector) => connector.id === 'slack');

  it('serves /slack/events and carries the Slack app manifest as slackAppManifest() builds it', () => {
    expect(slack?.endpoints).toEqual(['/slack/events']);
    const embedded = SlackAppManifestSchema.parse(z.object({ slackAppManifest: z.unknown() }).parse(slack).slackAppManifest);
    expect(embedded).toEqual(slackAppManifest('https://consentry.example.com'));
  });

  it('names real environment variables and settings, and flags the secrets', () => {
    const items = slack?.configuration ?? [];
    const envNames = Object.keys(ConfigSchema.shape);
    for (const item of items) {
      if (item.env) expect(envNames).toContain(item.env);
      expect(item.setting?.startsWith('slack.') && Object.keys(SlackSettingsSchema.shape)).toContain(item.setting?.slice('slack.'.length));
    }
    expect(items.filter((item) => item.secret).map((item) => item.key)).toEqual(['botToken', 'signingSecret']);
    expect(items.map((item) => item.env).filter(Boolean)).toEqual(['SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET', 'SLACK_ALERT_CHANNEL', 'SLACK_ALLOWED_USERS']);
  });
});

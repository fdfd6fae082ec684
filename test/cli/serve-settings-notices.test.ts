import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { settingsNotices } from '../../src/cli/serve.js';
import { defaultSettings } from '../../src/core/settings.js';
import { createEngine } from '../../src/engine.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { killServersAfterEach, serve } from './served.js';

const BASE = 'http://127.0.0.1:3000';
const POLICY_URL = 'https://example.com/privacy';
const OUTBOUND_URL = 'https://example.com/consentry/outbound';
const PHONE_BINDING = { trigger: 'conversation_opened', template: 'welcome-request-phone', enabled: true } as const;

describe('settingsNotices', () => {
  it('tells a workspace binding welcome-request-phone without a default country, with the command that sets one', () => {
    const settings = { ...defaultSettings(), outboundWebhookUrl: OUTBOUND_URL, privacyPolicyUrl: POLICY_URL, triggers: [...defaultSettings().triggers, PHONE_BINDING] };
    expect(settingsNotices({ name: 'Acme', settings }, BASE)).toEqual([
      'Workspace "Acme": defaultCountry: is not set, so welcome-request-phone (on conversation_opened) asks for a phone number with its country code and ' +
        'refuses a national one (600 000 001): set it to the country (ISO 3166-1 alpha-2, e.g. ES) whose national numbers contacts write. ' +
        `With curl: curl -X PATCH ${BASE}/v1/settings -H "Authorization: Bearer <key>" -H "Content-Type: application/json" -d '{"defaultCountry":"ES"}'`,
    ]);
  });

  it('tells a workspace whose stored privacy policy URL carries a user name or password, which contacts are still sent', () => {
    const settings = { ...defaultSettings(), outboundWebhookUrl: OUTBOUND_URL, privacyPolicyUrl: 'https://user:secret@example.com/privacy' };
    expect(settingsNotices({ name: 'Acme', settings }, BASE)).toEqual([
      'Workspace "Acme": privacyPolicyUrl: must not carry a user name or password: every contact is sent this link, and the consent records quote it for good, ' +
        'yet it is sent with them until it is changed: set it to the URL without them (every other change to the settings is refused until then). ' +
        `With curl: curl -X PATCH ${BASE}/v1/settings -H "Authorization: Bearer <key>" -H "Content-Type: application/json" -d '{"privacyPolicyUrl":"${POLICY_URL}"}'`,
    ]);
  });

  it('still tells of a missing privacy policy URL as before, beside the default country', () => {
    const settings = { ...defaultSettings(), outboundWebhookUrl: OUTBOUND_URL, triggers: [...defaultSettings().triggers, PHONE_BINDING] };
    const notices = settingsNotices({ name: 'Acme', settings }, BASE);
    expect(notices).toHaveLength(2);
    expect(notices[0]).toBe(
      'Workspace "Acme": privacyPolicyUrl: is not set, so request-consent-privacy (on conversation_opened) starts nothing and no consent is asked until it is ' +
        "(conversations opened meanwhile are asked at the contact's next message once it is set): set it to the URL of the workspace's privacy policy. " +
        `With curl: curl -X PATCH ${BASE}/v1/settings -H "Authorization: Bearer <key>" -H "Content-Type: application/json" -d '{"privacyPolicyUrl":"${POLICY_URL}"}'`,
    );
    expect(notices[1]).toContain('defaultCountry: is not set');
  });

  it('tells a workspace whose workflows run while no conversation_opened binding asks for privacy consent', () => {
    const welcomeOnly = { ...defaultSettings(), outboundWebhookUrl: OUTBOUND_URL, privacyPolicyUrl: POLICY_URL, triggers: [{ trigger: 'keyword', match: 'track order', template: 'welcome-request-email', enabled: true } as const] };
    expect(settingsNotices({ name: 'Acme', settings: welcomeOnly }, BASE)).toEqual([
      'Workspace "Acme": triggers: no enabled conversation_opened binding asks for privacy consent, so no consent is asked when a contact opens a conversation ' +
        'before its workflows (welcome-request-email) take in their data: add {"trigger":"conversation_opened","template":"request-consent-privacy"} to triggers, ' +
        'or send "triggers": null to restore the default list',
    ]);
    const disabled = { ...welcomeOnly, triggers: [...welcomeOnly.triggers, { ...defaultSettings().triggers[0], enabled: false }] };
    expect(settingsNotices({ name: 'Acme', settings: disabled as typeof welcomeOnly }, BASE)).toEqual([
      expect.stringMatching(/^Workspace "Acme": triggers\.1\.enabled: is false, and no enabled conversation_opened binding asks for privacy consent, .*: send triggers again whole with it true \(a PATCH replaces the list\), or send "triggers": null to restore the default list$/),
    ]);
    // No workflow at all: the question is off all the same, and said as the answer to the PATCH that sent the list says it.
    expect(settingsNotices({ name: 'Acme', settings: { ...welcomeOnly, triggers: [] } }, BASE)).toEqual([
      'Workspace "Acme": triggers: no enabled conversation_opened binding asks for privacy consent, so no consent is asked when a contact opens a conversation: ' +
        'add {"trigger":"conversation_opened","template":"request-consent-privacy"} to triggers, or send "triggers": null to restore the default list',
    ]);
  });

  it('says nothing once the workspace has both settings', () => {
    const settings = { ...defaultSettings(), outboundWebhookUrl: OUTBOUND_URL, privacyPolicyUrl: POLICY_URL, defaultCountry: 'ES' as const, triggers: [...defaultSettings().triggers, PHONE_BINDING] };
    expect(settingsNotices({ name: 'Acme', settings }, BASE)).toEqual([]);
  });
  it('tells a workspace whose workflows run without an outbound webhook that what they send outside an answer reaches no one', () => {
    const settings = { ...defaultSettings(), privacyPolicyUrl: POLICY_URL };
    expect(settingsNotices({ name: 'Acme', settings }, BASE)).toEqual([
      'Workspace "Acme": outboundWebhookUrl: is not set, so the messages workflows send outside an answer to POST /v1/messages ' +
        "(a question's time-out text, the messages of a workflow a tag added from outside starts) reach no one: set it to a receiver that sends them on. " +
        `With curl: curl -X PATCH ${BASE}/v1/settings -H "Authorization: Bearer <key>" -H "Content-Type: application/json" -d '{"outboundWebhookUrl":"${OUTBOUND_URL}"}'`,
    ]);
    // No workflow runs, so nothing is sent outside an answer: only the question turned off is said.
    expect(settingsNotices({ name: 'Acme', settings: { ...settings, triggers: [] } }, BASE).map((notice) => notice.split(':')[1])).toEqual([' triggers']);
    expect(settingsNotices({ name: 'Acme', settings: { ...settings, outboundWebhookUrl: OUTBOUND_URL } }, BASE)).toEqual([]);
  });
});

describe('consentry serve: the default country welcome-request-phone needs', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'consentry-serve-notices-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  killServersAfterEach();

  it('names defaultCountry at start for a workspace binding the template without one', async () => {
    const db = join(dir, 'consentry.db');
    const store = createSqliteStore({ path: db });
    try {
      await createEngine({ store }).createWorkspace({ name: 'Acme', settings: { privacyPolicyUrl: POLICY_URL, triggers: [PHONE_BINDING] } });
    } finally {
      await store.close();
    }
    const served = await serve(db);
    await served.waitFor('Ready in');
    served.child.kill('SIGTERM');
    expect(await served.exited).toBe(0);
    const output = served.output();
    expect(output).toContain('Workspace "Acme": defaultCountry: is not set, so welcome-request-phone (on conversation_opened) asks for a phone number with its country code');
    expect(output).toContain(`-d '{"defaultCountry":"ES"}'`);
    expect(output).not.toContain('privacyPolicyUrl');
  }, 60_000);
});

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { expectProblem, parsed, problemPaths, useTestApp, type Tenant, type TestApp } from './helpers.js';

const ErrorsSchema = z.object({ errors: z.array(z.object({ path: z.string(), message: z.string() })) });

let t: TestApp;
let acme: Tenant;
useTestApp((app, tenant) => {
  t = app;
  acme = tenant!;
});

const patchSettings = (payload: Record<string, unknown>) => t.as(acme, { method: 'PATCH', url: '/v1/settings', payload });

describe('PATCH /v1/settings with bindings that could never start', () => {
  it('answers 422 naming triggers.N.match for a match on conversation_opened', async () => {
    const res = await patchSettings({ triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy', match: 'hola' }] });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(parsed(res, ErrorsSchema).errors).toEqual([{ path: 'triggers.0.match', message: expect.stringContaining('takes no match') }]);
  });

  it('answers 422 naming triggers.N.trigger for a manual binding, pointing at the route that starts a run', async () => {
    const res = await patchSettings({ triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy' }, { trigger: 'manual', template: 'welcome-request-email' }] });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(parsed(res, ErrorsSchema).errors).toEqual([
      { path: 'triggers.1.trigger', message: expect.stringContaining('manual starts need no binding; start the template with POST /v1/workflows/welcome-request-email/runs') },
    ]);
    const settings = await t.as(acme, { method: 'GET', url: '/v1/settings' });
    expect(settings.json()).toMatchObject({ triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: true }] });
  });
});

describe('PATCH /v1/settings with keyword bindings that could never start', () => {
  it('answers 422 naming triggers.N.match for a match that holds an opt-out word or is a keyword, and stores nothing', async () => {
    const res = await patchSettings({
      triggers: [
        { trigger: 'conversation_opened', template: 'request-consent-privacy' },
        { trigger: 'keyword', match: 'cancel order', template: 'welcome-request-email' },
        { trigger: 'keyword', match: 'START', template: 'welcome-request-email' },
        { trigger: 'keyword', match: 'track order', template: 'welcome-request-email' },
      ],
    });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(parsed(res, ErrorsSchema).errors).toEqual([
      { path: 'triggers.1.match', message: expect.stringContaining('"cancel order" is or holds the opt-out word CANCEL (en): such a message raises optout.review_needed') },
      { path: 'triggers.2.match', message: expect.stringContaining('"START" is the opt-in keyword START (en): keywords are handled first') },
    ]);
    const settings = await t.as(acme, { method: 'GET', url: '/v1/settings' });
    expect(settings.json()).toMatchObject({ triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: true }] });
  });

  it("answers 422 naming the binding for a change of keywords that would make it a keyword, and keeps the workspace's keywords", async () => {
    const bound = await patchSettings({ triggers: [{ trigger: 'keyword', match: 'track order', template: 'welcome-request-email' }] });
    expect(bound.statusCode, bound.body).toBe(200);
    const res = await patchSettings({ keywords: { en: { help: ['Track order'] } } });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(parsed(res, ErrorsSchema).errors).toEqual([
      { path: 'triggers.0.match', message: expect.stringContaining('"track order" is the workspace\'s help keyword Track order (en, keywords.en.help)') },
    ]);
    expect((await t.as(acme, { method: 'GET', url: '/v1/settings' })).json()).toMatchObject({ keywords: {} });
  });
});

describe('PATCH /v1/settings with an unknown template', () => {
  it('names triggers.N.template, with UNKNOWN_TEMPLATE', async () => {
    const res = await patchSettings({ triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy' }, { trigger: 'tag_added', match: 'VIP', template: 'nope' }] });
    expectProblem(res, 422, 'UNKNOWN_TEMPLATE');
    expect(parsed(res, ErrorsSchema).errors).toEqual([
      { path: 'triggers.1.template', message: 'unknown template "nope": the built-in ones are request-consent-privacy, welcome-request-email, welcome-request-phone' },
    ]);
  });

  it("names it together with the patch's other bad bindings, one entry per field", async () => {
    const res = await patchSettings({
      triggers: [
        { trigger: 'conversation_opened', template: 'request-consent-privacy', match: 'x' },
        { trigger: 'manual', template: 'welcome-request-email' },
        { trigger: 'tag_added', template: 'nope' },
      ],
    });
    expectProblem(res, 422, 'UNKNOWN_TEMPLATE');
    expect(parsed(res, ErrorsSchema).errors.map((error) => error.path)).toEqual(['triggers.0.match', 'triggers.1.trigger', 'triggers.2.template']);
  });

  it('names it together with the bad fields the schema refuses, and with a bad outbound webhook URL', async () => {
    const res = await patchSettings({
      defaultCountry: 'XX',
      outboundWebhookUrl: 'http://10.0.0.1/out',
      keywords: { en: { removed: ['INFO'] } },
      triggers: [{ trigger: 'tag_added', template: 'nope' }, { trigger: 'keyword', match: 'stop', template: 'welcome-request-email' }],
    });
    expectProblem(res, 422, 'UNKNOWN_TEMPLATE');
    expect(parsed(res, ErrorsSchema).errors.map((error) => error.path).sort()).toEqual(['defaultCountry', 'outboundWebhookUrl', 'triggers.0.template', 'triggers.1.match']);
    expect((await t.as(acme, { method: 'GET', url: '/v1/settings' })).json()).toMatchObject({ defaultCountry: null, outboundWebhookUrl: null, keywords: {} });
  });

  it('answers VALIDATION_FAILED for the schema and the outbound URL together when every template is known', async () => {
    const res = await patchSettings({ defaultCountry: 'XX', outboundWebhookUrl: 'http://10.0.0.1/out' });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res)).toEqual(['defaultCountry', 'outboundWebhookUrl']);
  });
});


describe('PATCH /v1/settings with keyword bindings whose phrases read the same', () => {
  it('answers 422 naming the later binding, beside the earlier one, and stores nothing', async () => {
    const res = await patchSettings({
      triggers: [
        { trigger: 'conversation_opened', template: 'request-consent-privacy' },
        { trigger: 'keyword', match: 'Track order', template: 'welcome-request-email' },
        { trigger: 'keyword', match: 'TRACK-ORDER!', template: 'welcome-request-phone' },
      ],
    });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(parsed(res, ErrorsSchema).errors).toEqual([
      { path: 'triggers.2.match', message: expect.stringMatching(/^reads the same as triggers\.1\.match \("Track order"\): .*one message would start both workflows/) },
    ]);
    const settings = await t.as(acme, { method: 'GET', url: '/v1/settings' });
    expect(settings.json()).toMatchObject({ triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: true }] });
  });
});

const OUTBOUND_URL = 'https://example.com/consentry/outbound';
const WarningsSchema = z.object({ warnings: z.array(z.object({ path: z.string(), message: z.string() })) });

describe('PATCH /v1/settings warnings', () => {

  it('names triggers when no enabled conversation_opened binding asks for privacy consent, with the binding to add and "triggers": null', async () => {
    await patchSettings({ privacyPolicyUrl: 'https://example.com/privacy', outboundWebhookUrl: OUTBOUND_URL });
    const res = await patchSettings({ triggers: [{ trigger: 'keyword', match: 'track order', template: 'welcome-request-email' }] });
    expect(res.statusCode, res.body).toBe(200);
    expect(parsed(res, WarningsSchema).warnings).toEqual([
      {
        path: 'triggers',
        message:
          'no enabled conversation_opened binding asks for privacy consent, so no consent is asked when a contact opens a conversation before its workflows (welcome-request-email) take in their data: ' +
          'add {"trigger":"conversation_opened","template":"request-consent-privacy"} to triggers, or send "triggers": null to restore the default list',
      },
    ]);
    // The change is stored all the same, and said again at a change of another setting.
    expect(parsed(await patchSettings({ defaultCountry: 'ES' }), WarningsSchema).warnings.map((warning) => warning.path)).toEqual(['triggers']);
    // A disabled binding asks nothing; an empty list neither.
    const disabled = await patchSettings({ triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: false }] });
    // The binding is there, switched off: the warning names its switch rather than asking for a second one.
    expect(parsed(disabled, WarningsSchema).warnings).toEqual([
      {
        path: 'triggers.0.enabled',
        message:
          'is false, and no enabled conversation_opened binding asks for privacy consent, so no consent is asked when a contact opens a conversation: ' +
          'send triggers again whole with it true (a PATCH replaces the list), or send "triggers": null to restore the default list',
      },
    ]);
    expect(parsed(await patchSettings({ triggers: [] }), WarningsSchema).warnings.map((warning) => warning.path)).toEqual(['triggers']);
    const restored = await patchSettings({ triggers: null });
    expect(parsed(restored, WarningsSchema).warnings).toEqual([]);
  });

  it('names privacyPolicyUrl while the privacy question waits for it, and nothing once it is set', async () => {
    const res = await patchSettings({ defaultCountry: 'ES', outboundWebhookUrl: OUTBOUND_URL });
    expect(parsed(res, WarningsSchema).warnings).toEqual([
      { path: 'privacyPolicyUrl', message: expect.stringContaining('is not set, so request-consent-privacy (on conversation_opened) starts nothing and no consent is asked until it is') },
    ]);
    expect(parsed(await patchSettings({ privacyPolicyUrl: 'https://example.com/privacy' }), WarningsSchema).warnings).toEqual([]);
  });

  it('names outboundWebhookUrl while workflows run whose time-out texts would reach no one, and nothing without workflows or once it is set', async () => {
    const res = await patchSettings({ privacyPolicyUrl: 'https://example.com/privacy' });
    expect(parsed(res, WarningsSchema).warnings).toEqual([
      {
        path: 'outboundWebhookUrl',
        message:
          "is not set, so the messages workflows send outside an answer to POST /v1/messages (a question's time-out text, the messages of a workflow " +
          'a tag added from outside starts) reach no one: set it to a receiver that sends them on',
      },
    ]);
    const disabled = await patchSettings({ triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: false }] });
    expect(parsed(disabled, WarningsSchema).warnings.map((warning) => warning.path)).toEqual(['triggers.0.enabled']);
    await patchSettings({ triggers: null });
    expect(parsed(await patchSettings({ outboundWebhookUrl: OUTBOUND_URL }), WarningsSchema).warnings).toEqual([]);
  });

  it('names defaultCountry while a bound welcome-request-phone refuses national numbers, as serve says at start', async () => {
    const phone = { trigger: 'keyword', match: 'call me', template: 'welcome-request-phone' };
    const res = await patchSettings({
      privacyPolicyUrl: 'https://example.com/privacy',
      outboundWebhookUrl: OUTBOUND_URL,
      triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy' }, phone],
    });
    expect(parsed(res, WarningsSchema).warnings).toEqual([
      {
        path: 'defaultCountry',
        message:
          'is not set, so welcome-request-phone (on keyword) asks for a phone number with its country code and refuses a national one (600 000 001): ' +
          'set it to the country (ISO 3166-1 alpha-2, e.g. ES) whose national numbers contacts write',
      },
    ]);
    const off = await patchSettings({ triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy' }, { ...phone, enabled: false }] });
    expect(parsed(off, WarningsSchema).warnings).toEqual([]);
    await patchSettings({ triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy' }, phone] });
    expect(parsed(await patchSettings({ defaultCountry: 'ES' }), WarningsSchema).warnings).toEqual([]);
  });

  it('takes its own answer sent back whole, warnings included, and warns as before', async () => {
    const first = await patchSettings({ triggers: [] });
    const again = await patchSettings({ ...first.json(), defaultLanguage: 'es' });
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json()).toEqual({ ...first.json(), defaultLanguage: 'es' });
    // A client that clears what it does not send back may null it: ignored all the same.
    const nulled = await patchSettings({ warnings: null, defaultLanguage: 'en' });
    expect(nulled.statusCode, nulled.body).toBe(200);
  });

  it('documents warnings in the answer of PATCH only', async () => {
    const doc = z.object({ paths: z.record(z.string(), z.record(z.string(), z.unknown())) }).parse((await t.app.inject({ method: 'GET', url: '/openapi.json' })).json());
    expect(JSON.stringify(z.object({ responses: z.record(z.string(), z.unknown()) }).parse(doc.paths['/v1/settings']?.['patch']).responses['200'])).toContain(
      'What the settings as changed leave undone',
    );
    expect(JSON.stringify(z.object({ responses: z.record(z.string(), z.unknown()) }).parse(doc.paths['/v1/settings']?.['get']).responses['200'])).not.toContain('warnings');
  });
});

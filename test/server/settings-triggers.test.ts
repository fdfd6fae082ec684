import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { expectProblem, parsed, problemPaths, useTestApp, type Tenant, type TestApp } from './helpers.js';

const ErrorsSchema = z.object({ errors: z.array(z.object({ path: z.string(), message: z.string() })) });

describe('PATCH /v1/settings with bindings that could never start', () => {
  let t: TestApp;
  let acme: Tenant;
  useTestApp((app, tenant) => {
    t = app;
    acme = tenant!;
  });

  it('answers 422 naming triggers.N.match for a match on conversation_opened', async () => {
    const res = await t.as(acme, {
      method: 'PATCH',
      url: '/v1/settings',
      payload: { triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy', match: 'hola' }] },
    });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(parsed(res, ErrorsSchema).errors).toEqual([{ path: 'triggers.0.match', message: expect.stringContaining('takes no match') }]);
  });

  it('answers 422 naming triggers.N.trigger for a manual binding, pointing at the route that starts a run', async () => {
    const res = await t.as(acme, {
      method: 'PATCH',
      url: '/v1/settings',
      payload: { triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy' }, { trigger: 'manual', template: 'welcome-request-email' }] },
    });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(parsed(res, ErrorsSchema).errors).toEqual([
      { path: 'triggers.1.trigger', message: expect.stringContaining('manual starts need no binding; start the template with POST /v1/workflows/welcome-request-email/runs') },
    ]);
    const settings = await t.as(acme, { method: 'GET', url: '/v1/settings' });
    expect(settings.json()).toMatchObject({ triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: true }] });
  });
});

describe('PATCH /v1/settings with keyword bindings that could never start', () => {
  let t: TestApp;
  let acme: Tenant;
  useTestApp((app, tenant) => {
    t = app;
    acme = tenant!;
  });

  it('answers 422 naming triggers.N.match for a match that holds an opt-out word or is a keyword, and stores nothing', async () => {
    const res = await t.as(acme, {
      method: 'PATCH',
      url: '/v1/settings',
      payload: {
        triggers: [
          { trigger: 'conversation_opened', template: 'request-consent-privacy' },
          { trigger: 'keyword', match: 'cancel order', template: 'welcome-request-email' },
          { trigger: 'keyword', match: 'START', template: 'welcome-request-email' },
          { trigger: 'keyword', match: 'track order', template: 'welcome-request-email' },
        ],
      },
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
    const bound = await t.as(acme, {
      method: 'PATCH',
      url: '/v1/settings',
      payload: { triggers: [{ trigger: 'keyword', match: 'track order', template: 'welcome-request-email' }] },
    });
    expect(bound.statusCode, bound.body).toBe(200);
    const res = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { keywords: { en: { help: ['Track order'] } } } });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(parsed(res, ErrorsSchema).errors).toEqual([
      { path: 'triggers.0.match', message: expect.stringContaining('"track order" is the workspace\'s help keyword Track order (en, keywords.en.help)') },
    ]);
    expect((await t.as(acme, { method: 'GET', url: '/v1/settings' })).json()).toMatchObject({ keywords: {} });
  });
});

describe('PATCH /v1/settings with an unknown template', () => {
  let t: TestApp;
  let acme: Tenant;
  useTestApp((app, tenant) => {
    t = app;
    acme = tenant!;
  });

  it('names triggers.N.template, with UNKNOWN_TEMPLATE', async () => {
    const res = await t.as(acme, {
      method: 'PATCH',
      url: '/v1/settings',
      payload: { triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy' }, { trigger: 'tag_added', match: 'VIP', template: 'nope' }] },
    });
    expectProblem(res, 422, 'UNKNOWN_TEMPLATE');
    expect(parsed(res, ErrorsSchema).errors).toEqual([
      { path: 'triggers.1.template', message: 'unknown template "nope": the built-in ones are request-consent-privacy, welcome-request-email, welcome-request-phone' },
    ]);
  });

  it("names it together with the patch's other bad bindings, one entry per field", async () => {
    const res = await t.as(acme, {
      method: 'PATCH',
      url: '/v1/settings',
      payload: {
        triggers: [
          { trigger: 'conversation_opened', template: 'request-consent-privacy', match: 'x' },
          { trigger: 'manual', template: 'welcome-request-email' },
          { trigger: 'tag_added', template: 'nope' },
        ],
      },
    });
    expectProblem(res, 422, 'UNKNOWN_TEMPLATE');
    expect(parsed(res, ErrorsSchema).errors.map((error) => error.path)).toEqual(['triggers.0.match', 'triggers.1.trigger', 'triggers.2.template']);
  });

  it('names it together with the bad fields the schema refuses, and with a bad outbound webhook URL', async () => {
    const res = await t.as(acme, {
      method: 'PATCH',
      url: '/v1/settings',
      payload: {
        defaultCountry: 'XX',
        outboundWebhookUrl: 'http://10.0.0.1/out',
        keywords: { en: { removed: ['INFO'] } },
        triggers: [{ trigger: 'tag_added', template: 'nope' }, { trigger: 'keyword', match: 'stop', template: 'welcome-request-email' }],
      },
    });
    expectProblem(res, 422, 'UNKNOWN_TEMPLATE');
    expect(parsed(res, ErrorsSchema).errors.map((error) => error.path).sort()).toEqual(['defaultCountry', 'outboundWebhookUrl', 'triggers.0.template', 'triggers.1.match']);
    expect((await t.as(acme, { method: 'GET', url: '/v1/settings' })).json()).toMatchObject({ defaultCountry: null, outboundWebhookUrl: null, keywords: {} });
  });

  it('answers VALIDATION_FAILED for the schema and the outbound URL together when every template is known', async () => {
    const res = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { defaultCountry: 'XX', outboundWebhookUrl: 'http://10.0.0.1/out' } });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res)).toEqual(['defaultCountry', 'outboundWebhookUrl']);
  });
});


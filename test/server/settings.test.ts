import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { body, testApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let tenant: Tenant;

beforeEach(async () => {
  t = await testApp();
  tenant = await t.tenant('Acme');
});

afterEach(async () => {
  await t.close();
});

const hubspot = { accessToken: 'pat-eu1-00000000-0000-0000-0000-000000001234', portalId: '12345', clientSecret: 'secret-value-9876' };

describe('settings', () => {
  it('is a JSON merge patch: nested objects merge and null resets', async () => {
    let response = await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { hubspot, keywords: { es: { opt_out: ['BAJA'] } } } });
    expect(response.statusCode).toBe(200);
    response = await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { hubspot: { createMissingContacts: true }, keywords: { fr: { help: ['SOS'] } } } });
    expect(response.statusCode).toBe(200);
    const settings = body(response);
    expect(settings.hubspot).toMatchObject({ portalId: '12345', createMissingContacts: true });
    expect(settings.keywords).toMatchObject({ es: { opt_out: ['BAJA'] }, fr: { help: ['SOS'] } });
    const stored = await t.engine.workspace(tenant.workspaceId).get();
    expect(stored.settings.hubspot?.accessToken).toBe(hubspot.accessToken);

    response = await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { hubspot: null } });
    expect(body(response).hubspot).toBeNull();
  });

  it('never echoes secrets in full', async () => {
    const response = await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { hubspot } });
    const text = response.body;
    expect(text).not.toContain(hubspot.accessToken);
    expect(text).not.toContain(hubspot.clientSecret);
    expect(body(response).hubspot).toMatchObject({ accessToken: '••••1234', clientSecret: '••••9876' });
    const read = await t.as(tenant, { method: 'GET', url: '/v1/settings' });
    expect(read.body).not.toContain(hubspot.accessToken);
  });

  it('names a bad nested field', async () => {
    const response = await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { hubspot: { portalId: 'abc' } } });
    expect(response.statusCode).toBe(422);
    const paths = (body(response).errors as { path: string }[]).map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['hubspot.accessToken', 'hubspot.portalId']));
  });

  it('shows the outbound webhook signing secret once a URL is set', async () => {
    const before = body(await t.as(tenant, { method: 'GET', url: '/v1/settings' }));
    expect(before.outboundWebhookSecret).toBeNull();
    const after = body(await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookUrl: 'https://example.com/out' } }));
    expect(typeof after.outboundWebhookSecret).toBe('string');
    const again = body(await t.as(tenant, { method: 'GET', url: '/v1/settings' }));
    expect(again.outboundWebhookSecret).toBe(after.outboundWebhookSecret);
  });

  it('can be read, edited and patched back whole: secrets sent back masked stay as they were', async () => {
    const slack = { botToken: 'xoxb-0000-0000-abcd', signingSecret: '0123456789abcdef0123456789ab5678', alertChannel: 'C0000000001' };
    await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { hubspot, slack, outboundWebhookUrl: 'https://example.com/out' } });
    const read = body(await t.as(tenant, { method: 'GET', url: '/v1/settings' }));
    const response = await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { ...read, defaultCountry: 'PL' } });
    expect(response.statusCode, response.body).toBe(200);
    expect(body(response)).toEqual({ ...read, defaultCountry: 'PL' });
    const stored = (await t.engine.workspace(tenant.workspaceId).get()).settings;
    expect(stored.hubspot).toMatchObject({ accessToken: hubspot.accessToken, clientSecret: hubspot.clientSecret });
    expect(stored.slack).toMatchObject({ botToken: slack.botToken, signingSecret: slack.signingSecret });
  });

  it('refuses a masked value that is not the stored secret, naming each, and changes nothing', async () => {
    await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { hubspot } });
    const response = await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { defaultCountry: 'PL', hubspot: { accessToken: '••••0000', clientSecret: '••••9876' }, slack: { botToken: '••••abcd' } } });
    expect(response.statusCode).toBe(422);
    expect(body(response).errors).toEqual([
      { path: 'hubspot.accessToken', message: 'is a masked value: send the secret itself, or leave the field out to keep the one stored' },
      { path: 'slack.botToken', message: 'is a masked value: send the secret itself, or leave the field out to keep the one stored' },
    ]);
    const stored = await t.engine.workspace(tenant.workspaceId).get();
    expect(stored.settings).toMatchObject({ defaultCountry: null, hubspot: { accessToken: hubspot.accessToken } });
  });

  it('keeps the outbound webhook secret sent back, makes a new one for null and refuses any other', async () => {
    const first = body(await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookUrl: 'https://example.com/out' } })).outboundWebhookSecret;
    expect(body(await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookSecret: first } })).outboundWebhookSecret).toBe(first);
    const refused = await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookSecret: 'whsec_mine' } });
    expect(refused.statusCode).toBe(422);
    expect(body(refused).errors).toEqual([{ path: 'outboundWebhookSecret', message: 'is made by Consentry: send back the value read, or null for a new one' }]);
    const rotated = body(await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookSecret: null } })).outboundWebhookSecret;
    expect(rotated).toEqual(expect.any(String));
    expect(rotated).not.toBe(first);
    expect(body(await t.as(tenant, { method: 'GET', url: '/v1/settings' })).outboundWebhookSecret).toBe(rotated);
  });
});

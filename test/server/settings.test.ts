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
});

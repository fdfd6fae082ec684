import { http, HttpResponse } from 'msw';
import { beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { getOutboundWebhookSecret } from '../../src/worker/signing-secrets.js';
import { accountDetails, ACCOUNT_INFO_URL, useHubSpotMsw } from '../connectors/hubspot/msw.js';
import { body, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let tenant: Tenant;

useTestApp((app, first) => {
  t = app;
  tenant = first;
});

const hubspot = { accessToken: 'pat-eu1-00000000-0000-0000-0000-000000001234', portalId: '12345', clientSecret: 'secret-value-9876' };

// Settings naming a HubSpot account are checked with HubSpot: the token is account 12345's.
const hubspotApi = useHubSpotMsw();
beforeEach(() => {
  hubspotApi.use(
    http.get(ACCOUNT_INFO_URL, ({ request }) =>
      request.headers.get('authorization') === `Bearer ${hubspot.accessToken}` ? HttpResponse.json(accountDetails(Number(hubspot.portalId))) : new HttpResponse(null, { status: 401 }),
    ),
  );
});

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

  it('refuses a patch nested far deeper than any setting with 422, and changes nothing', async () => {
    const depth = 50_000;
    const payload = `{"keywords":{"en":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}}`;
    const response = await t.as(tenant, { method: 'PATCH', url: '/v1/settings', headers: { 'content-type': 'application/merge-patch+json' }, payload });
    expect(response.statusCode).toBe(422);
    expect(body(response)).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ path: 'keywords.en.a', message: 'nested more than 16 levels deep' }] });
    expect((await t.engine.workspace(tenant.workspaceId).get()).settings.keywords).toEqual({});
  });

  it('names a bad nested field', async () => {
    const response = await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { hubspot: { portalId: 'abc' } } });
    expect(response.statusCode).toBe(422);
    const paths = (body(response).errors as { path: string }[]).map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['hubspot.accessToken', 'hubspot.portalId']));
  });

  it('shows the outbound webhook signing secret in full in the answer that made it, then masked like the other secrets', async () => {
    const before = body(await t.as(tenant, { method: 'GET', url: '/v1/settings' }));
    expect(before.outboundWebhookSecret).toBeNull();
    const after = body(await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookUrl: 'https://example.com/out' } }));
    const secret = await getOutboundWebhookSecret(t.store, tenant.workspaceId);
    expect(secret).toMatch(/^whsec_/);
    expect(after.outboundWebhookSecret).toBe(secret);

    const masked = `••••${secret.slice(-4)}`;
    const again = await t.as(tenant, { method: 'GET', url: '/v1/settings' });
    expect(body(again).outboundWebhookSecret).toBe(masked);
    expect(again.body).not.toContain(secret);
    // Another patch, the URL changed or set again after its removal: the secret is kept and stays masked.
    for (const payload of [{ defaultCountry: 'PL' }, { outboundWebhookUrl: 'https://example.com/moved' }, { outboundWebhookUrl: null }, { outboundWebhookUrl: 'https://example.com/back' }]) {
      const response = await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload });
      expect(response.statusCode, response.body).toBe(200);
      expect(response.body).not.toContain(secret);
      expect(body(response).outboundWebhookSecret).toBe(payload.outboundWebhookUrl === null ? null : masked);
    }
    expect(await getOutboundWebhookSecret(t.store, tenant.workspaceId)).toBe(secret);
  });

  it('shows a secret made by a reading in full in that answer, for a URL set without the API', async () => {
    await t.engine.workspace(tenant.workspaceId).updateSettings({ outboundWebhookUrl: 'https://example.com/out' });
    const first = body(await t.as(tenant, { method: 'GET', url: '/v1/settings' })).outboundWebhookSecret;
    const secret = await getOutboundWebhookSecret(t.store, tenant.workspaceId);
    expect(first).toBe(secret);
    expect(body(await t.as(tenant, { method: 'GET', url: '/v1/settings' })).outboundWebhookSecret).toBe(`••••${secret.slice(-4)}`);
  });

  it('can be read, edited and patched back whole: secrets sent back masked stay as they were', async () => {
    const slack = { botToken: 'xoxb-0000-0000-abcd', signingSecret: '0123456789abcdef0123456789ab5678', alertChannel: 'C0000000001' };
    await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { hubspot, slack, outboundWebhookUrl: 'https://example.com/out' } });
    const read = body(await t.as(tenant, { method: 'GET', url: '/v1/settings' }));
    const response = await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { ...read, defaultCountry: 'PL' } });
    expect(response.statusCode, response.body).toBe(200);
    expect(body(response)).toEqual({ ...read, defaultCountry: 'PL', warnings: [expect.objectContaining({ path: 'privacyPolicyUrl' })] });
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

  it('keeps the outbound webhook secret sent back masked or in full, makes a new one for null, shown once, and refuses any other', async () => {
    const first = String(body(await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookUrl: 'https://example.com/out' } })).outboundWebhookSecret);
    const masked = `••••${first.slice(-4)}`;
    for (const sent of [first, masked]) {
      const kept = await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookSecret: sent } });
      expect(kept.statusCode, kept.body).toBe(200);
      expect(body(kept).outboundWebhookSecret).toBe(masked);
    }
    const refused = await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookSecret: 'whsec_mine', defaultCountry: 'PL' } });
    expect(refused.statusCode).toBe(422);
    expect(body(refused).errors).toEqual([{ path: 'outboundWebhookSecret', message: 'is made by Consentry: send back the value read, or null for a new one' }]);
    expect(body(refused).detail).toBe('Invalid settings: outboundWebhookSecret: is made by Consentry: send back the value read, or null for a new one');
    const wrongMask = await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookSecret: '••••0000' } });
    expect(wrongMask.statusCode).toBe(422);
    expect(body(wrongMask).errors).toEqual([
      { path: 'outboundWebhookSecret', message: 'is a masked value that is not the stored secret: send back the value read, leave the field out, or null for a new one' },
    ]);
    expect((await t.engine.workspace(tenant.workspaceId).get()).settings.defaultCountry).toBeNull();
    expect(await getOutboundWebhookSecret(t.store, tenant.workspaceId)).toBe(first);

    const rotated = body(await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookSecret: null } })).outboundWebhookSecret;
    expect(rotated).toEqual(expect.stringMatching(/^whsec_/));
    expect(rotated).not.toBe(first);
    expect(await getOutboundWebhookSecret(t.store, tenant.workspaceId)).toBe(rotated);
    expect(body(await t.as(tenant, { method: 'GET', url: '/v1/settings' })).outboundWebhookSecret).toBe(`••••${String(rotated).slice(-4)}`);
  });

  it('changes nothing for a null outboundWebhookSecret while no URL is set, as read back', async () => {
    await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookUrl: 'https://example.com/out' } });
    const secret = await getOutboundWebhookSecret(t.store, tenant.workspaceId);
    const removed = body(await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookUrl: null } }));
    expect(removed.outboundWebhookSecret).toBeNull();
    const patchedBack = await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: removed });
    expect(patchedBack.statusCode, patchedBack.body).toBe(200);
    expect(await getOutboundWebhookSecret(t.store, tenant.workspaceId)).toBe(secret);
    // The same settings, edited to set the URL again and patched back whole, keep the secret too.
    const reset = await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { ...removed, outboundWebhookUrl: 'https://example.com/out2' } });
    expect(reset.statusCode, reset.body).toBe(200);
    expect(await getOutboundWebhookSecret(t.store, tenant.workspaceId)).toBe(secret);
    expect(body(reset).outboundWebhookSecret).toBe(`••••${String(secret).slice(-4)}`);
  });

  it('shows the secret POST /v1/settings/outbound-webhook/secret makes in that answer only', async () => {
    await t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookUrl: 'https://example.com/out' } });
    const rotated = z.object({ secret: z.string() }).parse((await t.as(tenant, { method: 'POST', url: '/v1/settings/outbound-webhook/secret', payload: {} })).json()).secret;
    expect(await getOutboundWebhookSecret(t.store, tenant.workspaceId)).toBe(rotated);
    const read = await t.as(tenant, { method: 'GET', url: '/v1/settings' });
    expect(read.body).not.toContain(rotated);
    expect(body(read).outboundWebhookSecret).toBe(`••••${rotated.slice(-4)}`);
  });

  it('documents one claim about the outbound webhook secret and both media types of a patch', async () => {
    const doc = z
      .object({ paths: z.record(z.string(), z.record(z.string(), z.unknown())) })
      .parse((await t.app.inject({ method: 'GET', url: '/openapi.json' })).json());
    const OperationSchema = z.object({
      requestBody: z.object({ content: z.record(z.string(), z.object({ schema: z.unknown() })) }).optional(),
      responses: z.record(z.string(), z.object({ content: z.record(z.string(), z.object({ schema: z.unknown() })).optional() })),
    });
    const patch = OperationSchema.parse(doc.paths['/v1/settings']?.['patch']);
    expect(Object.keys(patch.requestBody?.content ?? {}).sort()).toEqual(['application/json', 'application/merge-patch+json']);
    const answer = JSON.stringify(patch.responses['200']);
    expect(answer).toContain('Masked like the other secrets');
    expect(answer).not.toContain('shown only here');
    const rotation = OperationSchema.parse(doc.paths['/v1/settings/outbound-webhook/secret']?.['post']);
    expect(JSON.stringify(rotation.responses['200'])).toContain('GET /v1/settings shows the outbound webhook secret masked');
  });
});

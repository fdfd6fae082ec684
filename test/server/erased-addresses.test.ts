import { afterEach, describe, expect, it } from 'vitest';
import { ANA, expectProblem, testApp, type Tenant, type TestApp } from './helpers.js';

const apps: TestApp[] = [];

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function open(): Promise<{ t: TestApp; acme: Tenant }> {
  const t = await testApp();
  apps.push(t);
  return { t, acme: await t.tenant('Acme') };
}

const OPT_IN = { email: ANA.email, purpose: 'marketing', channel: 'email', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Old CRM export' };

async function erase(t: TestApp, acme: Tenant, query = ''): Promise<void> {
  const created = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: ANA });
  expect(created.statusCode, created.body).toBe(201);
  const erased = await t.as(acme, { method: 'DELETE', url: `/v1/contacts/${String(created.json().id)}${query}` });
  expect(erased.statusCode, erased.body).toBe(200);
}

async function bulk(t: TestApp, acme: Tenant, row: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: [row] } });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().results[0];
}

describe('erased addresses over the API', () => {
  it('refuses a bulk opt-in row that would bring an erased contact back, unless the row says allowErased', async () => {
    const { t, acme } = await open();
    await erase(t, acme);
    expect(await bulk(t, acme, OPT_IN)).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED', issues: [{ path: 'email' }] } });
    expect(await bulk(t, acme, { ...OPT_IN, allowErased: true })).toMatchObject({ ok: true, created: true });
  });

  it('refuses an opt-in row after an opt-out row made the contact, until the contact is decided about or changed by its id', async () => {
    const { t, acme } = await open();
    await erase(t, acme);
    const optOut = { ...OPT_IN, status: 'opted_out', legalBasis: null, explanation: null };
    const batch = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: [optOut, OPT_IN] } });
    expect(batch.statusCode, batch.body).toBe(200);
    const [made, refused] = batch.json().results;
    expect(made).toMatchObject({ ok: true, created: true });
    expect(refused).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED', issues: [{ path: 'email' }] } });
    const contactId = String(made.contactId);
    const shown = await t.as(acme, { method: 'GET', url: `/v1/contacts/${contactId}` });
    expect(shown.json()).not.toHaveProperty('erasedAddressGuard');
    expect(await bulk(t, acme, OPT_IN)).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED' } });

    const put = await t.as(acme, { method: 'PUT', url: `/v1/contacts/${contactId}/consents/marketing/sms`, payload: { status: 'opted_out' } });
    expect(put.statusCode, put.body).toBe(201);
    expect(await bulk(t, acme, OPT_IN)).toMatchObject({ ok: true, contactId });

    const { t: other, acme: globex } = await open();
    await erase(other, globex);
    const second = await bulk(other, globex, optOut);
    const patched = await other.as(globex, { method: 'PATCH', url: `/v1/contacts/${String(second.contactId)}`, payload: { name: 'Ana Test' } });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(await bulk(other, globex, OPT_IN)).toMatchObject({ ok: true, contactId: second.contactId });
  });

  it('checks the erased address a row naming its contact by contactId would add to it', async () => {
    const { t, acme } = await open();
    await erase(t, acme);
    const ben = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Ben Test', phone: '+34600000002' } });
    expect(ben.statusCode, ben.body).toBe(201);
    const contactId = String(ben.json().id);
    expect(await bulk(t, acme, { ...OPT_IN, contactId })).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED', issues: [{ path: 'email' }] } });
    expect(await bulk(t, acme, { ...OPT_IN, contactId, status: 'opted_out', legalBasis: null, explanation: null })).toMatchObject({ ok: true, contactId });
    const shown = await t.as(acme, { method: 'GET', url: `/v1/contacts/${contactId}` });
    expect(shown.json()).toMatchObject({ email: ANA.email });
    expect(await bulk(t, acme, OPT_IN)).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED', issues: [{ path: 'email' }] } });
  });

  it('forgets the addresses on DELETE ?keepErasedAddresses=false, and refuses another value of it', async () => {
    const { t, acme } = await open();
    await erase(t, acme, '?keepErasedAddresses=false');
    expect(await bulk(t, acme, OPT_IN)).toMatchObject({ ok: true, created: true });
    const other = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Ben Test' } });
    const refused = await t.as(acme, { method: 'DELETE', url: `/v1/contacts/${String(other.json().id)}?keepErasedAddresses=no` });
    expectProblem(refused, 422, 'VALIDATION_FAILED');
  });

  it('forgets the digest of an address later on POST /v1/erased-addresses/forget, in its workspace only', async () => {
    const { t, acme } = await open();
    await erase(t, acme);
    const globex = await t.tenant('Globex');
    await erase(t, globex);
    const optOut = { ...OPT_IN, status: 'opted_out', legalBasis: null, explanation: null };
    const held = await bulk(t, acme, optOut);
    expect(await bulk(t, acme, OPT_IN)).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED' } });

    const forget = (tenant: Tenant, payload: Record<string, unknown>) => t.as(tenant, { method: 'POST', url: '/v1/erased-addresses/forget', payload });
    // Spelled as a person types it: read as contacts store it.
    const forgotten = await forget(acme, { email: ' Ana.Test@Example.com ', phone: '0034 600-000-001' });
    expect(forgotten.statusCode, forgotten.body).toBe(200);
    expect(forgotten.json()).toStrictEqual({ email: { address: ANA.email, removed: true }, phone: { address: ANA.phone, removed: true } });
    // The contact held for the address is recorded now.
    expect(await bulk(t, acme, OPT_IN)).toMatchObject({ ok: true, contactId: held.contactId });
    expect((await forget(acme, { email: ANA.email })).json()).toStrictEqual({ email: { address: ANA.email, removed: false } });
    expect(await bulk(t, globex, OPT_IN)).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED' } });
  });

  it('refuses a forget naming no address, an unknown member or an invalid address, removing nothing', async () => {
    const { t, acme } = await open();
    await erase(t, acme);
    const forget = (payload: Record<string, unknown>) => t.as(acme, { method: 'POST', url: '/v1/erased-addresses/forget', payload });
    expectProblem(await forget({}), 422, 'VALIDATION_FAILED');
    expectProblem(await forget({ email: ANA.email, contactId: 'x' }), 422, 'VALIDATION_FAILED');
    const invalid = await forget({ email: ANA.email, phone: '12' });
    expect(JSON.stringify(expectProblem(invalid, 422, 'INVALID_PHONE'))).toContain('phone');
    expect(await bulk(t, acme, OPT_IN)).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED' } });
    expect((await t.app.inject({ method: 'POST', url: '/v1/erased-addresses/forget', payload: { email: ANA.email } })).statusCode).toBe(401);
  });
});

import { describe, expect, it } from 'vitest';
import { ANA, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, first) => {
  t = app;
  acme = first;
});

const HELD =
  'belonged to a contact that was erased on request: bulk opt-ins for this contact are refused until the person writes from it, or someone decides about or changes the contact by its id (set allowErased on a row to record one anyway)';
const OPT_IN = { email: ANA.email, purpose: 'marketing', channel: 'email', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Old CRM export' };

async function eraseAna(): Promise<void> {
  const created = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: ANA });
  expect(created.statusCode, created.body).toBe(201);
  expect(created.json().warnings).toEqual([]);
  const erased = await t.as(acme, { method: 'DELETE', url: `/v1/contacts/${String(created.json().id)}` });
  expect(erased.statusCode, erased.body).toBe(200);
}

async function bulk(row: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: [row] } });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().results[0];
}

describe('a contact given an erased contact\'s address through the API is held from bulk opt-ins', () => {
  it('POST /v1/contacts says so in warnings, and a bulk opt-in from the old list is refused until the person writes', async () => {
    await eraseAna();
    const again = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Ana Test', email: ANA.email, phone: ANA.phone } });
    expect(again.statusCode, again.body).toBe(201);
    expect(again.json().warnings).toEqual([
      { path: 'email', message: HELD },
      { path: 'phone', message: HELD },
    ]);
    expect(again.json()).not.toHaveProperty('erasedAddressGuard');
    const contactId = String(again.json().id);

    const fromList = expect.stringContaining('has it from a list (an earlier bulk row, or a create or change through the API)');
    expect(await bulk(OPT_IN)).toMatchObject({
      ok: false,
      error: { code: 'CONTACT_ERASED', issues: [{ path: 'email', message: fromList }, { path: 'phone', message: fromList }] },
    });

    // The person writes from the address: the hold ends, and the list's opt-in is recorded.
    const wrote = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'email', messageId: '<m1@mail>', from: { id: ANA.email }, text: 'hello' } });
    expect(wrote.statusCode, wrote.body).toBe(200);
    expect(wrote.json().contactId).toBe(contactId);
    expect(await bulk(OPT_IN)).toMatchObject({ ok: true, contactId });
  });

  it('PATCH that gives a contact such an address holds it; one that changes nothing of its addresses lifts the hold', async () => {
    await eraseAna();
    const other = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Ana Test', email: 'ana.new@example.com' } });
    const contactId = String(other.json().id);
    const given = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${contactId}`, payload: { email: ANA.email } });
    expect(given.statusCode, given.body).toBe(200);
    expect(given.json().warnings).toEqual([{ path: 'email', message: HELD }]);
    expect((await t.engine.workspace(acme.workspaceId).updateContactWithWarnings(contactId, { name: 'Ana' })).warnings).toEqual([]);
    await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${contactId}`, payload: { email: 'ana.new@example.com' } });
    expect((await t.engine.workspace(acme.workspaceId).updateContactWithWarnings(contactId, { email: ANA.email })).warnings).toEqual([{ path: 'email', message: HELD }]);
    expect(await bulk(OPT_IN)).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED' } });

    const renamed = await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${contactId}`, payload: { name: 'Ana T.' } });
    expect(renamed.statusCode, renamed.body).toBe(200);
    expect(await bulk(OPT_IN)).toMatchObject({ ok: true, contactId });
  });

  it('does not hold a contact whose addresses no erased contact had', async () => {
    await eraseAna();
    const created = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Ben Test', email: 'ben.test@example.com' } });
    expect(created.json().warnings).toEqual([]);
    expect(await bulk({ ...OPT_IN, email: 'ben.test@example.com' })).toMatchObject({ ok: true, contactId: created.json().id });
  });
});

import { describe, expect, it } from 'vitest';
import { body, refusedWith, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, tenant) => {
  t = app;
  acme = tenant!;
});

const PURPOSE_RULE = 'a purpose is lower-case letters, digits, "_" or "-" (at most 64), starting with a letter';

async function contactId(): Promise<string> {
  const created = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Ana Test' } });
  expect(created.statusCode, created.body).toBe(201);
  return String(body(created).id);
}

/** Each entry's message names its field only by its path, once. */
function expectFieldNamedOnce(errors: readonly { path: string; message: string }[]): void {
  for (const { path, message } of errors) expect(message.startsWith(path), `${path}: ${message}`).toBe(false);
}

describe('a wrong value is quoted, and its field named once, by its path', () => {
  it('PUT a consent with a purpose in capitals: the value, and the built-in purpose it spells', async () => {
    const id = await contactId();
    const refused = refusedWith(await t.as(acme, { method: 'PUT', url: `/v1/contacts/${id}/consents/Marketing/whatsapp`, payload: { status: 'opted_out' } }));
    const message = `"Marketing" is not a purpose: ${PURPOSE_RULE} (did you mean "marketing"?)`;
    expect(refused).toEqual({ detail: `purpose: ${message}`, errors: [{ path: 'purpose', message }] });
  });

  it("PUT a consent with one of the workspace's own purposes in other letter case names that purpose", async () => {
    const patched = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { purposes: ['loyalty-club'] } });
    expect(patched.statusCode, patched.body).toBe(200);
    const id = await contactId();
    const refused = refusedWith(await t.as(acme, { method: 'PUT', url: `/v1/contacts/${id}/consents/Loyalty-Club/sms`, payload: { status: 'opted_out' } }));
    expect(refused.errors).toEqual([{ path: 'purpose', message: `"Loyalty-Club" is not a purpose: ${PURPOSE_RULE} (did you mean "loyalty-club"?)` }]);
  });

  it("a bulk row and the permission check name one of the workspace's own purposes in other letter case, as PUT does", async () => {
    const patched = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { purposes: ['loyalty-club'] } });
    expect(patched.statusCode, patched.body).toBe(200);
    const id = await contactId();
    const meant = `"Loyalty-Club" is not a purpose: ${PURPOSE_RULE} (did you mean "loyalty-club"?)`;
    const bulk = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: [{ contactId: id, purpose: 'Loyalty-Club', channel: 'sms', status: 'opted_out' }] } });
    expect(bulk.statusCode, bulk.body).toBe(200);
    expect(body(bulk).results).toEqual([{ row: 0, ok: false, error: { code: 'VALIDATION_FAILED', message: `purpose: ${meant}`, issues: [{ path: 'purpose', message: meant }] } }]);
    const permission = refusedWith(await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/permission?channel=sms&purpose=Loyalty-Club` }));
    expect(permission.errors).toEqual([{ path: 'purpose', message: meant }]);
    const unrelated = refusedWith(await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/permission?channel=sms&purpose=Nothing-Known` }));
    expect(unrelated.errors).toEqual([{ path: 'purpose', message: `"Nothing-Known" is not a purpose: ${PURPOSE_RULE}` }]);
  });

  it('PUT a consent with a purpose no known one spells: the value and the rule, with the other bad fields', async () => {
    const id = await contactId();
    const refused = refusedWith(await t.as(acme, { method: 'PUT', url: `/v1/contacts/${id}/consents/News%20Letter/sms`, payload: { status: 'maybe' } }));
    expect(refused.errors).toEqual([
      { path: 'purpose', message: `"News Letter" is not a purpose: ${PURPOSE_RULE}` },
      { path: 'status', message: '"maybe" is not one of opted_in, opted_out' },
    ]);
  });

  it('PATCH /v1/settings with a defaultCountry that has no numbering plan, or that is no code', async () => {
    const noPlan = refusedWith(await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { defaultCountry: 'XX' } }));
    expect(noPlan.errors).toEqual([{ path: 'defaultCountry', message: '"XX" is not a country with a telephone numbering plan, such as "ES"' }]);
    const smallNoPlan = refusedWith(await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { defaultCountry: 'xx' } }));
    expect(smallNoPlan.errors).toEqual([{ path: 'defaultCountry', message: '"xx" is not a country with a telephone numbering plan, such as "ES"' }]);
    const word = refusedWith(await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { defaultCountry: 'Spain' } }));
    expect(word.errors).toEqual([{ path: 'defaultCountry', message: '"Spain" is not an ISO 3166-1 alpha-2 code, such as "ES"' }]);
  });

  it('PATCH /v1/settings with a defaultCountry in small letters stores it in capitals', async () => {
    const small = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { defaultCountry: 'es' } });
    expect(small.statusCode, small.body).toBe(200);
    expect(small.json()).toMatchObject({ defaultCountry: 'ES' });
    const read = await t.as(acme, { method: 'GET', url: '/v1/settings' });
    expect(read.json()).toMatchObject({ defaultCountry: 'ES' });
  });

  it('GET /v1/contacts?email=bad quotes the address, as it quotes the phone beside it', async () => {
    const refused = refusedWith(await t.as(acme, { method: 'GET', url: '/v1/contacts?email=bad&phone=bad' }), 'INVALID_EMAIL');
    expect(refused.errors).toEqual([
      { path: 'email', message: '"bad" is not a valid email address: it must contain exactly one "@"' },
      { path: 'phone', message: '"bad" may contain only digits, "+", spaces and the characters - . / ( )' },
    ]);
    expectFieldNamedOnce(refused.errors);
  });

  it('quotes at most 80 characters of a long address', async () => {
    const long = `${'a'.repeat(100)}.example.com`;
    const refused = refusedWith(await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Ana Test', email: long } }), 'INVALID_EMAIL');
    expect(refused.errors).toEqual([{ path: 'email', message: `"${'a'.repeat(80)}"… is not a valid email address: it must contain exactly one "@"` }]);
  });

  it('POST /v1/hooks with a link-local targetUrl names the field once', async () => {
    const refused = refusedWith(await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl: 'http://169.254.169.254/h', event: '*' } }));
    expect(refused.errors).toEqual([{ path: 'targetUrl', message: 'must not point to a private, loopback or link-local address' }]);
    expect(refused.detail).toBe('Invalid hook: targetUrl: must not point to a private, loopback or link-local address');
  });

  it('PATCH /v1/settings with a loopback outboundWebhookUrl names the field once', async () => {
    const refused = refusedWith(await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { outboundWebhookUrl: 'http://127.0.0.1:3982/outbound' } }));
    expect(refused.errors).toEqual([
      {
        path: 'outboundWebhookUrl',
        message: 'must not point to a private, loopback or link-local address (a server started with HOOK_TARGETS_ALLOW_PRIVATE=true allows private-use and loopback targets)',
      },
    ]);
  });
});

describe('a query parameter given more than once', () => {
  it('GET /v1/events with type twice says to give it once, comma-separated', async () => {
    const refused = refusedWith(await t.as(acme, { method: 'GET', url: '/v1/events?type=consent.given&type=consent.failed' }));
    expect(refused).toEqual({ detail: 'type: give it once, comma-separated (?type=a,b)', errors: [{ path: 'type', message: 'give it once, comma-separated (?type=a,b)' }] });
    const listed = await t.as(acme, { method: 'GET', url: '/v1/events?type=consent.given,consent.failed' });
    expect(listed.statusCode, listed.body).toBe(200);
  });

  it('GET /v1/events and GET /v1/hooks/{id}/deliveries with limit or cursor twice say to give it once', async () => {
    const events = refusedWith(await t.as(acme, { method: 'GET', url: '/v1/events?limit=1&limit=2&cursor=a&cursor=b' }));
    expect(events.errors).toEqual([
      { path: 'limit', message: 'give it once' },
      { path: 'cursor', message: 'give it once' },
    ]);
    const hook = await t.as(acme, { method: 'POST', url: '/v1/hooks', payload: { targetUrl: 'https://hooks.example.com/h', event: '*' } });
    expect(hook.statusCode, hook.body).toBe(201);
    const deliveries = refusedWith(await t.as(acme, { method: 'GET', url: `/v1/hooks/${String(body(hook).id)}/deliveries?status=dead&status=pending&limit=5&limit=6` }));
    expect(deliveries.errors).toEqual([
      { path: 'status', message: 'give it once' },
      { path: 'limit', message: 'give it once' },
    ]);
  });

  it('the contact, consent and erasure routes say to give each repeated parameter once, beside the other faults', async () => {
    const id = await contactId();
    const contacts = refusedWith(
      await t.as(acme, { method: 'GET', url: `/v1/contacts?email=a@example.com&email=b@example.com&phone=1&phone=2&tag=a&tag=b&cursor=${id}&cursor=${id}&limit=0` }),
    );
    expect(contacts.errors).toEqual([
      { path: 'email', message: 'give it once' },
      { path: 'phone', message: 'give it once' },
      { path: 'tag', message: 'give it once' },
      { path: 'cursor', message: 'give it once' },
      { path: 'limit', message: 'must be an integer between 1 and 500' },
    ]);
    const permission = refusedWith(await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/permission?channel=sms&channel=whatsapp&purpose=marketing&purpose=news` }));
    expect(permission.errors).toEqual([
      { path: 'channel', message: 'give it once' },
      { path: 'purpose', message: 'give it once' },
    ]);
    const history = refusedWith(await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/consents/history?cursor=1&cursor=2` }));
    expect(history.errors).toEqual([{ path: 'cursor', message: 'give it once' }]);
    const erase = refusedWith(await t.as(acme, { method: 'DELETE', url: `/v1/contacts/${id}?keepErasedAddresses=true&keepErasedAddresses=false` }));
    expect(erase.errors).toEqual([{ path: 'keepErasedAddresses', message: 'give it once' }]);
    expect((await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}` })).json()).toMatchObject({ erasedAt: null });
    const allowed = await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/permission?channel=sms` });
    expect(allowed.json()).toMatchObject({ allowed: false, reason: 'not_specified' });
  });
});

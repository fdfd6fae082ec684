import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { erasedAddressDigests } from '../../src/core/contact.js';
import { createEngine, type Engine, type WorkspaceEngine } from '../../src/engine.js';
import type { BulkRowResult } from '../../src/engine/consents.js';
import { FakeClock } from '../../src/ports/clock.js';
import type { Store } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createSqliteStore } from '../../src/store/sqlite.js';

const dirs: string[] = [];
const engines: Engine[] = [];

afterEach(async () => {
  await Promise.all(engines.splice(0).map((engine) => engine.store.close()));
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

const STORES: [string, () => Store][] = [
  ['memory', () => createMemoryStore()],
  [
    'sqlite',
    () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-erased-addresses-'));
      dirs.push(dir);
      return createSqliteStore({ path: path.join(dir, 'consentry.db') });
    },
  ],
];

async function open(makeStore: () => Store): Promise<{ engine: Engine; ws: WorkspaceEngine; other: WorkspaceEngine }> {
  const engine = createEngine({ store: makeStore(), clock: new FakeClock('2026-03-01T10:00:00.000Z') });
  engines.push(engine);
  const settings = { privacyPolicyUrl: 'https://example.com/privacy', defaultCountry: 'ES', triggers: [] };
  const acme = await engine.createWorkspace({ name: 'Acme', settings });
  const globex = await engine.createWorkspace({ name: 'Globex', settings });
  return { engine, ws: engine.workspace(acme.id), other: engine.workspace(globex.id) };
}

const OPT_IN = { purpose: 'marketing', channel: 'email', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Newsletter form, old CRM export' } as const;

async function oneRow(ws: WorkspaceEngine, row: Record<string, unknown>): Promise<BulkRowResult> {
  const [result] = await ws.bulkSetConsent([row], { actor: { id: 'ops', kind: 'user' }, source: 'bulk' });
  if (!result) throw new Error('no result');
  return result;
}

async function erasedAna(ws: WorkspaceEngine, options?: { keepErasedAddresses?: boolean }): Promise<void> {
  const ana = await ws.createContact({ name: 'Ana Test', email: 'ana@example.com', phone: '+34600000001' });
  await ws.setConsent({ contactId: ana.id, ...OPT_IN, actor: { id: 'ops', kind: 'user' } });
  await ws.eraseContact(ana.id, options);
}

describe.each(STORES)('a bulk opt-in for an erased contact’s address (%s store)', (_name, makeStore) => {
  it('is refused by e-mail and by phone in any written form, creating no contact and recording nothing', async () => {
    const { ws } = await open(makeStore);
    await erasedAna(ws);
    const recordsBefore = (await ws.verifyLedger()).records;
    expect(recordsBefore).toBe(1);

    const byEmail = await oneRow(ws, { email: 'ANA@Example.com', ...OPT_IN });
    expect(byEmail).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED', issues: [{ path: 'email' }] } });
    if (byEmail.ok) throw new Error('recorded');
    expect(byEmail.error.message).toMatch(/allowErased/);

    const byPhone = await oneRow(ws, { phone: '600 000 001', ...OPT_IN, channel: 'sms' });
    expect(byPhone).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED', issues: [{ path: 'phone' }] } });

    const both = await oneRow(ws, { email: 'ana@example.com', phone: '+34 600 000 001', ...OPT_IN });
    expect(both).toMatchObject({ ok: false, error: { issues: [{ path: 'email' }, { path: 'phone' }] } });

    expect((await ws.findContacts({ email: 'ana@example.com', limit: 10 })).contacts).toEqual([]);
    expect((await ws.findContacts({ phone: '+34600000001', limit: 10 })).contacts).toEqual([]);
    expect((await ws.verifyLedger()).records).toBe(recordsBefore);
  });

  it('is recorded when the row says allowErased, and the contact then exists for later rows', async () => {
    const { ws } = await open(makeStore);
    await erasedAna(ws);
    const allowed = await oneRow(ws, { email: 'ana@example.com', ...OPT_IN, allowErased: true });
    expect(allowed).toMatchObject({ ok: true, created: true });
    const again = await oneRow(ws, { email: 'ana@example.com', ...OPT_IN, channel: 'sms' });
    expect(again).toMatchObject({ ok: true });
    if (!allowed.ok || !again.ok) throw new Error('refused');
    expect(again.contactId).toBe(allowed.contactId);
  });

  it('records an opt-out, and an opt-in for a contact that came back with the address', async () => {
    const { ws } = await open(makeStore);
    await erasedAna(ws);
    const optOut = await oneRow(ws, { email: 'ana@example.com', ...OPT_IN, status: 'opted_out' });
    expect(optOut).toMatchObject({ ok: true, created: true });

    const { ws: fresh } = await open(makeStore);
    await erasedAna(fresh);
    const back = await fresh.handleInbound({ channel: 'whatsapp', messageId: 'wamid.back', from: { id: '+34600000001', name: 'Ana Test' }, text: 'hola' });
    const row = await oneRow(fresh, { phone: '+34600000001', ...OPT_IN, channel: 'whatsapp' });
    expect(row).toMatchObject({ ok: true, contactId: back.contactId, created: true });
  });

  it('is refused when the row would add the erased address to the contact it found by its other address', async () => {
    const { ws } = await open(makeStore);
    await erasedAna(ws);
    const ben = await ws.createContact({ name: 'Ben Test', phone: '+34600000002' });
    const row = await oneRow(ws, { email: 'ana@example.com', phone: '+34600000002', ...OPT_IN });
    expect(row).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED', issues: [{ path: 'email' }] } });
    expect((await ws.getContact(ben.id)).email).toBeNull();
    expect(await oneRow(ws, { email: 'ana@example.com', phone: '+34600000002', ...OPT_IN, allowErased: true })).toMatchObject({ ok: true, contactId: ben.id });
  });

  it('is recorded when the erasure forgot the addresses, and in another workspace', async () => {
    const { ws, other } = await open(makeStore);
    await erasedAna(ws, { keepErasedAddresses: false });
    expect(await oneRow(ws, { email: 'ana@example.com', ...OPT_IN })).toMatchObject({ ok: true });

    const { ws: kept, other: elsewhere } = await open(makeStore);
    await erasedAna(kept);
    expect(await oneRow(elsewhere, { email: 'ana@example.com', ...OPT_IN })).toMatchObject({ ok: true });
    expect(await oneRow(other, { email: 'ana@example.com', ...OPT_IN })).toMatchObject({ ok: true });
  });

  it('is refused for the phone a contact only wrote from on WhatsApp or SMS, and for its e-mail identity', async () => {
    const { ws } = await open(makeStore);
    const sender = await ws.handleInbound({ channel: 'whatsapp', messageId: 'wamid.1', from: { id: '34600000002', name: 'Ben Test' }, text: 'hola' });
    await ws.eraseContact(sender.contactId);
    expect(await oneRow(ws, { phone: '+34600000002', ...OPT_IN, channel: 'whatsapp' })).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED' } });

    const mailer = await ws.handleInbound({ channel: 'email', messageId: 'mail.1', from: { id: 'cai@example.com' }, text: 'hello' });
    await ws.eraseContact(mailer.contactId);
    expect(await oneRow(ws, { email: 'cai@example.com', ...OPT_IN })).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED' } });
  });
});

const OPT_OUT = { ...OPT_IN, status: 'opted_out', legalBasis: null, explanation: 'Unsubscribed in the old CRM' } as const;
/** A guard as a bulk row sets it: on a contact it made, or on one with no identity of its own yet. */
const HELD = { ownIdentities: 0 };

async function rows(ws: WorkspaceEngine, batch: Record<string, unknown>[]): Promise<BulkRowResult[]> {
  return ws.bulkSetConsent(batch, { actor: { id: 'ops', kind: 'user' }, source: 'bulk' });
}

function contactIdOf(result: BulkRowResult | undefined): string {
  if (!result?.ok) throw new Error(`refused: ${JSON.stringify(result)}`);
  return result.contactId;
}

describe.each(STORES)('a contact a bulk row made with an erased contact’s address (%s store)', (_name, makeStore) => {
  it('refuses an opt-in row after an opt-out row for the address in the same batch, recording nothing for it', async () => {
    const { ws } = await open(makeStore);
    await erasedAna(ws);
    const [optOut, optIn] = await rows(ws, [
      { email: 'ana@example.com', ...OPT_OUT },
      { email: 'Ana@Example.com', ...OPT_IN },
    ]);
    expect(optOut).toMatchObject({ ok: true, created: true });
    expect(optIn).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED', issues: [{ path: 'email' }] } });
    if (optIn?.ok !== false) throw new Error('recorded');
    expect(optIn.error.message).toMatch(/belonged to a contact that was erased.*allowErased/);
    const contactId = contactIdOf(optOut);
    expect(await ws.getConsents(contactId)).toMatchObject({ states: [{ channel: 'email', status: 'opted_out' }] });
    expect((await ws.getContact(contactId)).erasedAddressGuard).toStrictEqual(HELD);
    expect((await ws.verifyLedger()).records).toBe(2);
  });

  it('refuses it in a later batch too, and by the address the opt-out row added to a contact it found', async () => {
    const { ws } = await open(makeStore);
    await erasedAna(ws);
    contactIdOf((await rows(ws, [{ phone: '+34 600 000 001', ...OPT_OUT, channel: 'sms' }]))[0]);
    expect((await rows(ws, [{ phone: '600000001', ...OPT_IN, channel: 'sms' }]))[0]).toMatchObject({
      ok: false,
      error: { code: 'CONTACT_ERASED', issues: [{ path: 'phone' }] },
    });

    const ben = await ws.createContact({ name: 'Ben Test', phone: '+34600000002' });
    const [added] = await rows(ws, [{ email: 'ana@example.com', phone: '+34600000002', ...OPT_OUT }]);
    expect(added).toMatchObject({ ok: true, contactId: ben.id });
    expect(await ws.getContact(ben.id)).toMatchObject({ email: 'ana@example.com', erasedAddressGuard: HELD });
    expect((await rows(ws, [{ email: 'ana@example.com', ...OPT_IN }]))[0]).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED', issues: [{ path: 'email' }] } });
  });

  it('names the address the contact has from the earlier row when the opt-in row found it by its other one', async () => {
    const { ws } = await open(makeStore);
    await erasedAna(ws);
    const contactId = contactIdOf((await rows(ws, [{ email: 'ana@example.com', phone: '+34600000009', ...OPT_OUT }]))[0]);
    const [byPhone] = await rows(ws, [{ phone: '+34600000009', ...OPT_IN, channel: 'sms' }]);
    expect(byPhone).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED', issues: [{ path: 'email' }] } });
    if (byPhone?.ok !== false) throw new Error('recorded');
    expect(byPhone.error.message).toContain(`contact ${contactId} has it from a list (an earlier bulk row, or a create or change through the API)`);
    expect(byPhone.error.issues[0]?.message).toMatch(/earlier bulk row.*allowErased/);
  });

  it('records an opt-in row that says allowErased, and lifts the guard for the rows after it', async () => {
    const { ws } = await open(makeStore);
    await erasedAna(ws);
    const [optOut, refused, allowed, after] = await rows(ws, [
      { email: 'ana@example.com', ...OPT_OUT },
      { email: 'ana@example.com', ...OPT_IN },
      { email: 'ana@example.com', ...OPT_IN, allowErased: true },
      { email: 'ana@example.com', ...OPT_IN, channel: 'sms' },
    ]);
    const contactId = contactIdOf(optOut);
    expect(refused).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED' } });
    expect(allowed).toMatchObject({ ok: true, contactId, created: true });
    expect(after).toMatchObject({ ok: true, contactId, created: true });
    expect((await ws.getContact(contactId)).erasedAddressGuard).toBeUndefined();
    expect((await rows(ws, [{ email: 'ana@example.com', ...OPT_IN, channel: 'whatsapp' }]))[0]).toMatchObject({ ok: true, contactId });
  });

  it('records a bulk opt-in once the person wrote from the contact, without announcing the lifted guard', async () => {
    const { ws } = await open(makeStore);
    await erasedAna(ws);
    const contactId = contactIdOf((await rows(ws, [{ phone: '+34600000001', ...OPT_OUT, channel: 'whatsapp' }]))[0]);
    expect((await rows(ws, [{ phone: '+34600000001', ...OPT_IN, channel: 'whatsapp' }]))[0]).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED' } });
    const written = await ws.handleInbound({ channel: 'whatsapp', messageId: 'wamid.back', from: { id: '34600000001' }, text: 'hola' });
    expect(written.contactId).toBe(contactId);
    expect((await ws.getContact(contactId)).erasedAddressGuard).toBeUndefined();
    expect((await rows(ws, [{ phone: '+34600000001', ...OPT_IN, channel: 'whatsapp' }]))[0]).toMatchObject({ ok: true, contactId });

    // A sender Consentry knew already, whose contact a row then gave an erased address: the message changes nothing else.
    const ben = await ws.handleInbound({ channel: 'whatsapp', messageId: 'wamid.ben', from: { id: '34600000002', name: 'Ben Test' }, text: 'hola' });
    await ws.eraseContact((await ws.createContact({ email: 'cai@example.com' })).id);
    expect((await rows(ws, [{ email: 'cai@example.com', phone: '+34600000002', ...OPT_OUT }]))[0]).toMatchObject({ ok: true, contactId: ben.contactId });
    // Ben's own WhatsApp identity, which he had before the row: a message from it is Ben writing.
    expect((await ws.getContact(ben.contactId)).erasedAddressGuard).toStrictEqual({ ownIdentities: 1 });
    const again = await ws.handleInbound({ channel: 'whatsapp', messageId: 'wamid.ben.2', from: { id: '34600000002', name: 'Ben Test' }, text: 'hola' });
    expect(again.events.filter((event) => event.type === 'contact.updated')).toEqual([]);
    expect((await ws.getContact(ben.contactId)).erasedAddressGuard).toBeUndefined();
    expect((await rows(ws, [{ email: 'cai@example.com', ...OPT_IN }]))[0]).toMatchObject({ ok: true, contactId: ben.contactId });
  });

  it('records a bulk opt-in once a consent was set by the contact’s id, or the contact was changed by it', async () => {
    const { ws } = await open(makeStore);
    await erasedAna(ws);
    const contactId = contactIdOf((await rows(ws, [{ email: 'ana@example.com', ...OPT_OUT }]))[0]);
    expect((await rows(ws, [{ email: 'ana@example.com', ...OPT_IN }]))[0]).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED' } });
    await ws.setConsent({ contactId, ...OPT_OUT, channel: 'sms', actor: { id: 'ops', kind: 'user' } });
    expect((await ws.getContact(contactId)).erasedAddressGuard).toBeUndefined();
    expect((await rows(ws, [{ email: 'ana@example.com', ...OPT_IN }]))[0]).toMatchObject({ ok: true, contactId });

    const { ws: patched } = await open(makeStore);
    await erasedAna(patched);
    const patchedId = contactIdOf((await rows(patched, [{ email: 'ana@example.com', ...OPT_OUT }]))[0]);
    const before = await patched.getContact(patchedId);
    expect(before.erasedAddressGuard).toStrictEqual(HELD);
    const unchanged = await patched.updateContact(patchedId, {});
    expect(unchanged.erasedAddressGuard).toBeUndefined();
    expect(unchanged).toMatchObject({ name: before.name, email: before.email, phone: before.phone });
    expect((await rows(patched, [{ email: 'ana@example.com', ...OPT_IN }]))[0]).toMatchObject({ ok: true, contactId: patchedId });
  });

  it('records a row that names the contact by its id, which lifts the guard', async () => {
    const { ws } = await open(makeStore);
    await erasedAna(ws);
    const contactId = contactIdOf((await rows(ws, [{ email: 'ana@example.com', ...OPT_OUT }]))[0]);
    expect((await ws.getContact(contactId)).erasedAddressGuard).toStrictEqual(HELD);
    expect((await rows(ws, [{ contactId, ...OPT_IN }]))[0]).toMatchObject({ ok: true, contactId });
    expect((await ws.getContact(contactId)).erasedAddressGuard).toBeUndefined();
    expect((await rows(ws, [{ email: 'ana@example.com', ...OPT_IN, channel: 'sms' }]))[0]).toMatchObject({ ok: true, contactId });
  });

  it('checks the address a row naming the contact by its id would add: refuses an opt-in, guards after an opt-out', async () => {
    const { ws } = await open(makeStore);
    await erasedAna(ws);
    const ben = await ws.createContact({ name: 'Ben Test', phone: '+34600000002' });
    const [optIn] = await rows(ws, [{ contactId: ben.id, email: 'Ana@Example.com', ...OPT_IN }]);
    expect(optIn).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED', issues: [{ path: 'email' }] } });
    expect(await ws.getConsents(ben.id)).toMatchObject({ states: [] });
    expect((await ws.getContact(ben.id)).email).toBeNull();

    const [optOut] = await rows(ws, [{ contactId: ben.id, email: 'ana@example.com', ...OPT_OUT }]);
    expect(optOut).toMatchObject({ ok: true, contactId: ben.id });
    expect(await ws.getContact(ben.id)).toMatchObject({ email: 'ana@example.com', erasedAddressGuard: HELD });
    expect((await rows(ws, [{ email: 'ana@example.com', ...OPT_IN }]))[0]).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED', issues: [{ path: 'email' }] } });

    // The same contact by its id, bringing nothing new: a decision about it as it is now.
    expect((await rows(ws, [{ contactId: ben.id, email: 'ana@example.com', ...OPT_IN, channel: 'sms' }]))[0]).toMatchObject({ ok: true, contactId: ben.id });
    expect((await ws.getContact(ben.id)).erasedAddressGuard).toBeUndefined();
    expect((await rows(ws, [{ email: 'ana@example.com', ...OPT_IN }]))[0]).toMatchObject({ ok: true, contactId: ben.id });
  });

  it('keeps the guard when a row naming the contact by its id brings another erased address, and lifts it for one without a digest', async () => {
    const { ws } = await open(makeStore);
    await erasedAna(ws);
    const contactId = contactIdOf((await rows(ws, [{ email: 'ana@example.com', ...OPT_OUT }]))[0]);
    const [erasedPhone] = await rows(ws, [{ contactId, phone: '+34600000001', ...OPT_OUT, channel: 'sms' }]);
    expect(erasedPhone).toMatchObject({ ok: true, contactId });
    expect(await ws.getContact(contactId)).toMatchObject({ phone: '+34600000001', erasedAddressGuard: HELD });
    expect((await rows(ws, [{ phone: '+34600000001', ...OPT_IN, channel: 'sms' }]))[0]).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED' } });

    const { ws: other } = await open(makeStore);
    await erasedAna(other);
    const heldId = contactIdOf((await rows(other, [{ email: 'ana@example.com', ...OPT_OUT }]))[0]);
    expect((await rows(other, [{ contactId: heldId, phone: '+34600000002', ...OPT_OUT, channel: 'sms' }]))[0]).toMatchObject({ ok: true });
    expect((await other.getContact(heldId)).erasedAddressGuard).toBeUndefined();
  });

  it('records a row naming the contact by its id with an erased address when it says allowErased, and lifts the guard', async () => {
    const { ws } = await open(makeStore);
    await erasedAna(ws);
    const ben = await ws.createContact({ name: 'Ben Test', phone: '+34600000002' });
    expect((await rows(ws, [{ contactId: ben.id, email: 'ana@example.com', ...OPT_IN, allowErased: true }]))[0]).toMatchObject({ ok: true, contactId: ben.id });
    const after = await ws.getContact(ben.id);
    expect(after.email).toBe('ana@example.com');
    expect(after.erasedAddressGuard).toBeUndefined();
  });

  it('keeps the guard a row naming the contact by its id set when the row is sent again', async () => {
    const { ws } = await open(makeStore);
    await erasedAna(ws);
    const ben = await ws.createContact({ name: 'Ben Test', phone: '+34600000002' });
    const keyed = { contactId: ben.id, email: 'ana@example.com', ...OPT_OUT, idempotencyKey: 'crm-ben-out' };
    expect((await rows(ws, [keyed]))[0]).toMatchObject({ ok: true, created: true });
    expect((await rows(ws, [keyed]))[0]).toMatchObject({ ok: true, created: false, contactId: ben.id });
    expect((await ws.getContact(ben.id)).erasedAddressGuard).toStrictEqual(HELD);
  });

  it('keeps the guard for a message that only names the address, and ends it for one the channel delivered from it', async () => {
    const { ws } = await open(makeStore);
    await erasedAna(ws);
    const contactId = contactIdOf((await rows(ws, [{ email: 'ana@example.com', phone: '+34600000001', ...OPT_OUT }]))[0]);
    const chat = await ws.handleInbound({ channel: 'webchat', messageId: 'chat.1', from: { id: 'visitor-123', email: 'ana@example.com' }, text: 'hello' });
    expect(chat.contactId).toBe(contactId);
    const texted = await ws.handleInbound({ channel: 'telegram', messageId: 'tg.1', from: { id: '777001', phone: '+34600000001' }, text: 'hola' });
    expect(texted.contactId).toBe(contactId);
    const forwarded = await ws.handleInbound({ channel: 'email', messageId: 'mail.fwd', from: { id: 'ben@example.com', email: 'ana@example.com' }, text: 'fwd' });
    expect(forwarded.contactId).toBe(contactId);
    expect((await ws.getContact(contactId)).erasedAddressGuard).toStrictEqual(HELD);
    // Those messages attached their senders' identities, on the strength of the address named:
    // writing from them again is no sign that the person came back either.
    const chatAgain = await ws.handleInbound({ channel: 'webchat', messageId: 'chat.2', from: { id: 'visitor-123' }, text: 'still here' });
    expect(chatAgain.contactId).toBe(contactId);
    await ws.handleInbound({ channel: 'telegram', messageId: 'tg.2', from: { id: '777001' }, text: 'hola' });
    await ws.handleInbound({ channel: 'email', messageId: 'mail.fwd.2', from: { id: 'ben@example.com' }, text: 'fwd again' });
    expect((await ws.getContact(contactId)).identities.map((identity) => identity.externalId)).toEqual(['visitor-123', '777001', 'ben@example.com']);
    expect((await ws.getContact(contactId)).erasedAddressGuard).toStrictEqual(HELD);
    expect((await rows(ws, [{ email: 'ana@example.com', ...OPT_IN }]))[0]).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED' } });

    const mailed = await ws.handleInbound({ channel: 'email', messageId: 'mail.1', from: { id: 'Ana@Example.com' }, text: 'hello' });
    expect(mailed.contactId).toBe(contactId);
    expect((await ws.getContact(contactId)).erasedAddressGuard).toBeUndefined();
    expect((await rows(ws, [{ email: 'ana@example.com', ...OPT_IN }]))[0]).toMatchObject({ ok: true, contactId });
  });

  it('ends it for a message the channel delivered from the held number, also one that names an e-mail the contact was found by', async () => {
    const { ws } = await open(makeStore);
    await ws.eraseContact((await ws.createContact({ phone: '+34600000001' })).id);
    const contactId = contactIdOf((await rows(ws, [{ email: 'ana.test@example.com', phone: '+34600000001', ...OPT_OUT, channel: 'sms' }]))[0]);
    expect((await ws.getContact(contactId)).erasedAddressGuard).toStrictEqual(HELD);

    // The adapter passes the profile e-mail too: the contact is found by it, and the number is still the held one.
    const first = await ws.handleInbound({ channel: 'whatsapp', messageId: 'wamid.1', from: { id: '34600000001', email: 'ana.test@example.com' }, text: 'hola' });
    expect(first.contactId).toBe(contactId);
    expect((await ws.getContact(contactId)).erasedAddressGuard).toBeUndefined();
    expect((await rows(ws, [{ phone: '+34600000001', ...OPT_IN, channel: 'whatsapp' }]))[0]).toMatchObject({ ok: true, contactId });
  });

  it('ends it for a message from an identity attached during the guard when the channel delivered it from the held number', async () => {
    const { ws } = await open(makeStore);
    await erasedAna(ws);
    const contactId = contactIdOf((await rows(ws, [{ email: 'ana@example.com', ...OPT_OUT }]))[0]);
    // Found by the e-mail it names; the contact had no number, so this one is not its held address yet.
    const first = await ws.handleInbound({ channel: 'whatsapp', messageId: 'wamid.1', from: { id: '34600000001', email: 'ana@example.com' }, text: 'hola' });
    expect(first.contactId).toBe(contactId);
    expect(await ws.getContact(contactId)).toMatchObject({ phone: '+34600000001', erasedAddressGuard: HELD });

    // Found by the WhatsApp identity the first message attached: the number is now the contact's, and an erased contact had it.
    const second = await ws.handleInbound({ channel: 'whatsapp', messageId: 'wamid.2', from: { id: '34600000001' }, text: 'hola otra vez' });
    expect(second.contactId).toBe(contactId);
    expect((await ws.getContact(contactId)).erasedAddressGuard).toBeUndefined();
  });

  it('keeps it for messages from a number a message that named the held address gave the contact, on every phone channel', async () => {
    const { ws } = await open(makeStore);
    await erasedAna(ws);
    const contactId = contactIdOf((await rows(ws, [{ email: 'ana@example.com', ...OPT_OUT }]))[0]);
    // Anyone may name the address: this sender's number and identity come with the contact found by it.
    await ws.handleInbound({ channel: 'whatsapp', messageId: 'wamid.1', from: { id: '34600000002', email: 'ana@example.com' }, text: 'hola' });
    expect(await ws.getContact(contactId)).toMatchObject({ phone: '+34600000002', erasedAddressGuard: HELD });

    const byIdentity = await ws.handleInbound({ channel: 'whatsapp', messageId: 'wamid.2', from: { id: '34600000002' }, text: 'hola' });
    const byPhone = await ws.handleInbound({ channel: 'sms', messageId: 'sms.1', from: { id: '+34600000002' }, text: 'hola' });
    expect([byIdentity.contactId, byPhone.contactId]).toEqual([contactId, contactId]);
    expect((await ws.getContact(contactId)).erasedAddressGuard).toStrictEqual(HELD);
    expect((await rows(ws, [{ email: 'ana@example.com', ...OPT_IN }]))[0]).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED' } });
  });

  it('keeps it for a message delivered from an address of the contact that no erased contact had', async () => {
    const { ws } = await open(makeStore);
    await erasedAna(ws);
    const contactId = contactIdOf((await rows(ws, [{ email: 'ana@example.com', phone: '+34600000002', ...OPT_OUT }]))[0]);
    const texted = await ws.handleInbound({ channel: 'sms', messageId: 'sms.1', from: { id: '+34600000002' }, text: 'hola' });
    expect(texted.contactId).toBe(contactId);
    expect((await ws.getContact(contactId)).erasedAddressGuard).toStrictEqual(HELD);
    // The held address itself, delivered by the e-mail channel.
    await ws.handleInbound({ channel: 'email', messageId: 'mail.1', from: { id: 'ana@example.com' }, text: 'hello' });
    expect((await ws.getContact(contactId)).erasedAddressGuard).toBeUndefined();
  });

  it('answers a replayed row as before, though the contact was guarded since', async () => {
    const { ws } = await open(makeStore);
    await erasedAna(ws);
    const ben = await ws.createContact({ name: 'Ben Test', phone: '+34600000002' });
    const keyed = { phone: '+34600000002', ...OPT_IN, idempotencyKey: 'crm-ben-1' };
    expect((await rows(ws, [keyed]))[0]).toMatchObject({ ok: true, created: true, contactId: ben.id });
    await rows(ws, [{ email: 'ana@example.com', phone: '+34600000002', ...OPT_OUT }]);
    expect((await ws.getContact(ben.id)).erasedAddressGuard).toStrictEqual(HELD);
    expect((await rows(ws, [keyed]))[0]).toMatchObject({ ok: true, created: false, contactId: ben.id });
    expect((await rows(ws, [{ ...keyed, idempotencyKey: 'crm-ben-2', channel: 'sms' }]))[0]).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED' } });
  });

  it('never guards a contact a bulk row made from an address without a digest', async () => {
    const { ws } = await open(makeStore);
    await erasedAna(ws);
    const [optOut, optIn] = await rows(ws, [
      { email: 'ben@example.com', phone: '+34600000002', ...OPT_OUT },
      { email: 'ben@example.com', ...OPT_IN },
    ]);
    const contactId = contactIdOf(optOut);
    expect(optIn).toMatchObject({ ok: true, contactId, created: true });
    expect((await ws.getContact(contactId)).erasedAddressGuard).toBeUndefined();

    const { ws: forgotten } = await open(makeStore);
    await erasedAna(forgotten, { keepErasedAddresses: false });
    const [forgottenOut, forgottenIn] = await rows(forgotten, [
      { email: 'ana@example.com', ...OPT_OUT },
      { email: 'ana@example.com', ...OPT_IN },
    ]);
    expect(forgottenIn).toMatchObject({ ok: true, contactId: contactIdOf(forgottenOut) });
  });

  it('guards nothing for a row that says allowErased', async () => {
    const { ws } = await open(makeStore);
    await erasedAna(ws);
    const [optOut, optIn] = await rows(ws, [
      { email: 'ana@example.com', ...OPT_OUT, allowErased: true },
      { email: 'ana@example.com', ...OPT_IN },
    ]);
    expect(optIn).toMatchObject({ ok: true, contactId: contactIdOf(optOut) });
  });
});

describe('the guard in a SQLite database', () => {
  it('outlives the engine that set it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-erased-guard-'));
    dirs.push(dir);
    const file = path.join(dir, 'consentry.db');
    const { ws } = await open(() => createSqliteStore({ path: file }));
    await erasedAna(ws);
    const contactId = contactIdOf((await rows(ws, [{ email: 'ana@example.com', ...OPT_OUT }]))[0]);
    await Promise.all(engines.splice(0).map((engine) => engine.store.close()));

    const reopened = createEngine({ store: createSqliteStore({ path: file }), clock: new FakeClock('2026-03-02T10:00:00.000Z') });
    engines.push(reopened);
    const workspace = reopened.workspace(ws.workspaceId);
    expect((await rows(workspace, [{ email: 'ana@example.com', ...OPT_IN }]))[0]).toMatchObject({ ok: false, error: { code: 'CONTACT_ERASED' } });
    expect((await workspace.getContact(contactId)).erasedAddressGuard).toStrictEqual(HELD);
  });
});

describe('erasedAddressDigests', () => {
  it('digests each address once, per workspace, and tells nothing of the address as it is', () => {
    const digests = erasedAddressDigests('ws_a', {
      email: 'ana@example.com',
      phone: '+34600000001',
      identities: [
        { channel: 'whatsapp', externalId: '34600000001' },
        { channel: 'sms', externalId: '+34600000003' },
        { channel: 'email', externalId: 'Ana@Example.com' },
        { channel: 'telegram', externalId: '777001' },
      ],
    });
    expect(digests).toHaveLength(3);
    for (const digest of digests) expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(erasedAddressDigests('ws_b', { email: 'ana@example.com' })[0]).not.toBe(digests[0]);
    expect(erasedAddressDigests('ws_a', { phone: '+34600000001' })).toEqual([digests[1]]);
    expect(erasedAddressDigests('ws_a', {})).toEqual([]);
  });
});

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

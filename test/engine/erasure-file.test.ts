import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import { createSqliteStore } from '../../src/store/sqlite.js';

/** Every file of the database: what someone with a copy of the disk could read. */
function databaseBytes(file: string): Buffer {
  return Buffer.concat(['', '-wal', '-shm'].map((suffix) => (fs.existsSync(file + suffix) ? fs.readFileSync(file + suffix) : Buffer.alloc(0))));
}

describe('erasure in the SQLite file', () => {
  let dir: string;
  let file: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-erasure-'));
    file = path.join(dir, 'consentry.db');
  });

  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("leaves none of the erased contact's values in the database file's free space", async () => {
    const store = createSqliteStore({ path: file });
    const clock = new FakeClock('2026-03-01T10:00:00.000Z');
    const engine = createEngine({ store, clock });
    const created = await engine.createWorkspace({ name: 'Acme', settings: { privacyPolicyUrl: 'https://example.com/privacy', defaultCountry: 'ES' } });
    const ws = engine.workspace(created.id);
    // Values no other part of the database holds, each long enough to be found as it is.
    const name = 'Zelda Quixotewxyz';
    const email = 'zelda.quixotewxyz@example.org';
    const phone = '+34611223344';
    const said = 'please stop texting me QXWZMARKER';
    const contact = await ws.createContact({ name, email, phone, tags: ['QXWZTAGMARK'], fields: { note: 'QXWZFIELDMARK' } });
    await ws.handleInbound({ channel: 'whatsapp', messageId: 'm1', from: { id: phone, name }, text: 'hola' });
    clock.advance(60_000);
    await ws.handleInbound({ channel: 'whatsapp', messageId: 'm2', from: { id: phone, name }, text: said });
    await ws.handleInbound({ channel: 'whatsapp', messageId: 'm3', from: { id: phone, name }, text: 'STOP' });
    const markers = [name, email, phone, said, 'QXWZTAGMARK', 'QXWZFIELDMARK'];
    await store.close();
    const before = databaseBytes(file);
    for (const marker of markers) expect(before.includes(marker), `${marker} is in the file before erasure`).toBe(true);

    const reopened = createSqliteStore({ path: file });
    const again = createEngine({ store: reopened, clock }).workspace(created.id);
    await again.eraseContact(contact.id);
    expect(await again.verifyLedger()).toMatchObject({ ok: true });
    await reopened.close();

    const after = databaseBytes(file);
    for (const marker of markers) expect(after.includes(marker), `${marker} is still in the file`).toBe(false);
  });
});

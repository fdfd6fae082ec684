import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine, type WorkspaceEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import type { Store } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createSqliteStore } from '../../src/store/sqlite.js';

describe.each(['memory', 'sqlite'] as const)('a welcome workflow answer another contact already has (%s store)', (kind) => {
  let dir: string;
  let store: Store;
  let ws: WorkspaceEngine;

  const whatsapp = (messageId: string, text: string, id = '+34600000001') => ({ channel: 'whatsapp' as const, messageId, from: { id, name: 'Ana Test' }, text });
  const webchat = (messageId: string, text: string) => ({ channel: 'webchat' as const, messageId, from: { id: 'visitor-1' }, text });

  async function workspaceWith(template: 'welcome-request-email' | 'welcome-request-phone'): Promise<WorkspaceEngine> {
    const engine = createEngine({ store, clock: new FakeClock('2026-03-01T10:00:00.000Z') });
    const workspace = await engine.createWorkspace({
      name: 'Acme',
      settings: { defaultCountry: 'ES', triggers: [{ trigger: 'conversation_opened', template, enabled: true }] },
    });
    return engine.workspace(workspace.id);
  }

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-answers-'));
    store = kind === 'memory' ? createMemoryStore() : createSqliteStore({ path: path.join(dir, 'consentry.db') });
  });

  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('leaves an e-mail address on the contact that has it, reports the duplicate and goes on with the flow', async () => {
    ws = await workspaceWith('welcome-request-email');
    const known = await ws.createContact({ name: 'Ana Shop', email: 'ana@example.com' });
    const greeted = await ws.handleInbound(whatsapp('m1', 'hello'));
    expect(greeted.contactId).not.toBe(known.id);
    const answered = await ws.handleInbound(whatsapp('m2', 'Ana@Example.com'));

    const duplicate = answered.events.find((event) => event.type === 'contact.duplicate_found');
    expect(duplicate?.data).toEqual({ contactId: greeted.contactId, field: 'email', otherContactId: known.id, runId: expect.any(String) });
    expect(answered.events.map((event) => event.type)).not.toContain('contact.updated');
    expect((await ws.getContact(greeted.contactId)).email).toBeNull();
    expect((await ws.getContact(known.id)).email).toBe('ana@example.com');
    const [run] = await store.transaction((tx) => tx.listRunsOfContact(ws.workspaceId, greeted.contactId));
    expect(duplicate?.data).toMatchObject({ runId: run?.id });
    // The answer was valid: it is not asked again and the flow finishes as with a new address.
    expect(answered.replies.some((reply) => /e-?mail/i.test(reply.text) && reply.text.includes('?'))).toBe(false);
    expect(run?.status).toBe('completed');
  });

  it('leaves a phone number on the contact that has it', async () => {
    ws = await workspaceWith('welcome-request-phone');
    const known = await ws.createContact({ name: 'Ana Shop', phone: '+34600000009' });
    const greeted = await ws.handleInbound(webchat('w1', 'hello'));
    const answered = await ws.handleInbound(webchat('w2', '600 000 009'));
    expect(answered.events.find((event) => event.type === 'contact.duplicate_found')?.data).toMatchObject({
      contactId: greeted.contactId,
      field: 'phone',
      otherContactId: known.id,
    });
    expect((await ws.getContact(greeted.contactId)).phone).toBeNull();
  });

  it('saves an address nobody else has', async () => {
    ws = await workspaceWith('welcome-request-email');
    await ws.createContact({ name: 'Bea Shop', email: 'bea@example.com' });
    const greeted = await ws.handleInbound(whatsapp('m1', 'hello'));
    const answered = await ws.handleInbound(whatsapp('m2', 'ana@example.com'));
    expect(answered.events.map((event) => event.type)).toContain('contact.updated');
    expect(answered.events.map((event) => event.type)).not.toContain('contact.duplicate_found');
    expect((await ws.getContact(greeted.contactId)).email).toBe('ana@example.com');
  });
});

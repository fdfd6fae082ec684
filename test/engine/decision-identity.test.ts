import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Channel } from '../../src/core/consent.js';
import type { Contact } from '../../src/core/contact.js';
import { ConsentryError } from '../../src/core/errors.js';
import { createEngine, type Engine, type WorkspaceEngine } from '../../src/engine.js';
import type { ConsentChange } from '../../src/engine/inputs.js';
import { decisionIdentity, UnitOfWork } from '../../src/engine/unit-of-work.js';
import { FakeClock } from '../../src/ports/clock.js';
import { randomSalts, ulidGenerator } from '../../src/ports/ids.js';
import type { Store, StoreTx } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { unsalted } from '../evidence.js';

let clock: FakeClock;
let store: Store;
let engine: Engine;
let ws: WorkspaceEngine;

beforeEach(async () => {
  clock = new FakeClock('2026-03-01T10:00:00.000Z');
  store = createMemoryStore();
  engine = createEngine({ store, clock });
  const workspace = await engine.createWorkspace({ name: 'Acme', settings: { defaultCountry: 'ES', triggers: [] } });
  ws = engine.workspace(workspace.id);
});

afterEach(async () => {
  await store.close();
});

const actor = { kind: 'user' as const, id: 'u1' };

/** An opt-out through setConsent (no legal basis needed), as the API, Slack, HubSpot and Zapier record one. */
function optOut(contactId: string, channel: Channel, extra: Partial<ConsentChange> = {}) {
  return ws.setConsent({ contactId, purpose: 'marketing', channel, status: 'opted_out', source: 'api', actor, ...extra });
}

async function rejection(promise: Promise<unknown>): Promise<ConsentryError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(error instanceof ConsentryError)) throw new Error(`expected a ConsentryError, got ${String(error)}`);
  return error;
}

/** Ana with an address on every channel: two Telegram chats, so a channel's identities come in the order of their ids. */
async function anaEverywhere(): Promise<Contact> {
  return ws.createContact({
    name: 'Ana Test',
    email: 'ana.test@example.com',
    phone: '+34600000001',
    identities: [
      { channel: 'telegram', externalId: '777002' },
      { channel: 'whatsapp', externalId: '34600000009' },
      { channel: 'messenger', externalId: 'psid-ana' },
      { channel: 'telegram', externalId: '777001' },
      { channel: 'webchat', externalId: 'visitor-ana' },
    ],
  });
}

describe('the identity of a decision that names its contact by id', () => {
  it.each([
    ['sms', 'phone:+34600000001'],
    ['whatsapp', 'whatsapp:34600000009'],
    ['email', 'email:ana.test@example.com'],
    ['messenger', 'messenger:psid-ana'],
    ['telegram', 'telegram:777001 telegram:777002'],
    ['webchat', 'webchat:visitor-ana'],
    ['any', 'email:ana.test@example.com phone:+34600000001 whatsapp:34600000009 messenger:psid-ana telegram:777001 telegram:777002 webchat:visitor-ana'],
  ] as const)('on %s is %s, from the contact as it is when the decision is made', async (channel, identity) => {
    const ana = await anaEverywhere();
    const { record } = await optOut(ana.id, channel);
    expect(unsalted(record.evidence)).toEqual({ identity });
    expect(await ws.verifyLedger()).toMatchObject({ ok: true });
  });

  it('falls back to the phone on WhatsApp and to the channel identity on SMS and e-mail', async () => {
    const phoneOnly = await ws.createContact({ name: 'Ben Test', phone: '+34600000002' });
    expect(unsalted((await optOut(phoneOnly.id, 'whatsapp')).record.evidence)).toEqual({ identity: 'phone:+34600000002' });
    const identitiesOnly = await ws.createContact({
      name: 'Cy Test',
      identities: [
        { channel: 'sms', externalId: '+34600000003' },
        { channel: 'email', externalId: 'cy.test@example.com' },
      ],
    });
    expect(unsalted((await optOut(identitiesOnly.id, 'sms')).record.evidence)).toEqual({ identity: 'sms:+34600000003' });
    expect(unsalted((await optOut(identitiesOnly.id, 'email')).record.evidence)).toEqual({ identity: 'email:cy.test@example.com' });
  });

  it('is left out when the contact has no address on the channel, and lists each address once on any', async () => {
    const emailOnly = await ws.createContact({ name: 'Dee Test', email: 'dee.test@example.com', identities: [{ channel: 'email', externalId: 'dee.test@example.com' }] });
    for (const channel of ['sms', 'whatsapp', 'messenger', 'telegram', 'webchat'] as const) {
      expect(unsalted((await optOut(emailOnly.id, channel)).record.evidence)).toEqual({});
    }
    // The e-mail identity and the e-mail are the same address: named once.
    expect(unsalted((await optOut(emailOnly.id, 'any')).record.evidence)).toEqual({ identity: 'email:dee.test@example.com' });
    const nobody = await ws.createContact({ name: 'Eve Test' });
    expect(unsalted((await optOut(nobody.id, 'any')).record.evidence)).toEqual({});
  });

  it('stays with the decision after the phone is edited: the history keeps the number it was about', async () => {
    const ana = await ws.createContact({ name: 'Ana Test', phone: '+34600000001' });
    const opted = await ws.setConsent({
      contactId: ana.id, purpose: 'marketing', channel: 'sms', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE',
      explanation: 'Ticked the SMS box on the signup form', source: 'api', actor,
    });
    await ws.updateContact(ana.id, { phone: '+34600000077' });
    const [record] = await ws.getHistory(ana.id);
    expect(record?.id).toBe(opted.record.id);
    expect(record?.evidence.identity).toBe('phone:+34600000001');
    // A decision made after the edit is about the new number.
    expect((await optOut(ana.id, 'sms')).record.evidence.identity).toBe('phone:+34600000077');
    expect(await ws.verifyLedger()).toMatchObject({ ok: true });
  });

  it('is given to bulk rows that name their contact by id only; rows naming an e-mail or phone keep theirs', async () => {
    const ana = await ws.createContact({ name: 'Ana Test', email: 'ana.test@example.com', phone: '+34600000001' });
    const results = await ws.bulkSetConsent([
      { contactId: ana.id, purpose: 'marketing', channel: 'sms', status: 'opted_out' },
      { contactId: ana.id, email: 'ana.test@example.com', purpose: 'marketing', channel: 'sms', status: 'opted_out' },
      { email: 'ana.test@example.com', purpose: 'marketing', channel: 'any', status: 'opted_out' },
    ]);
    expect(results.map((result) => result.ok)).toEqual([true, true, true]);
    const history = await ws.getHistory(ana.id);
    expect(history.map((record) => record.evidence.identity)).toEqual(['phone:+34600000001', 'email:ana.test@example.com', 'email:ana.test@example.com']);
  });

  it('never replaces the identity a keyword message or an engine caller states', async () => {
    const stopped = await ws.handleInbound({ channel: 'whatsapp', messageId: 'wamid.1', from: { id: '+34600000001', name: 'Ana Test' }, text: 'STOP' });
    await ws.updateContact(stopped.contactId, { email: 'ana.test@example.com' });
    const stated = await optOut(stopped.contactId, 'email', { source: 'slack', evidence: { identity: 'email:ana.old@example.com', note: 'Asked in the shop' } });
    const derived = await optOut(stopped.contactId, 'email', { source: 'hubspot' });
    const [keyword] = await ws.getHistory(stopped.contactId);
    expect(keyword?.evidence.identity).toBe('whatsapp:+34600000001');
    expect(unsalted(stated.record.evidence)).toEqual({ identity: 'email:ana.old@example.com', note: 'Asked in the shop' });
    expect(unsalted(derived.record.evidence)).toEqual({ identity: 'email:ana.test@example.com' });
  });

  it('keeps whole addresses within the evidence limit, the e-mail and phone first', async () => {
    const many = await ws.createContact({
      name: 'Fay Test',
      email: 'fay.test@example.com',
      phone: '+34600000004',
      identities: Array.from({ length: 20 }, (_, i) => ({ channel: 'webchat' as const, externalId: `visitor-${String(i).padStart(2, '0')}-${'x'.repeat(150)}` })),
    });
    const identity = (await optOut(many.id, 'any')).record.evidence.identity ?? '';
    expect(identity.length).toBeLessThanOrEqual(1000);
    const addresses = identity.split(' ');
    expect(addresses.slice(0, 2)).toEqual(['email:fay.test@example.com', 'phone:+34600000004']);
    expect(addresses.length).toBeGreaterThan(2);
    for (const address of addresses.slice(2)) expect(address).toMatch(/^webchat:visitor-\d\d-x{150}$/);
    expect(decisionIdentity(many, 'any')).toBe(identity);
  });
});

describe('an idempotency key replayed after the contact changed', () => {
  it('answers the recorded decision: the identity derived then is not what the caller sent', async () => {
    const ana = await ws.createContact({ name: 'Ana Test', phone: '+34600000001' });
    const first = await optOut(ana.id, 'sms', { idempotencyKey: 'form-1' });
    await ws.updateContact(ana.id, { phone: '+34600000077' });
    const again = await optOut(ana.id, 'sms', { idempotencyKey: 'form-1' });
    expect(again).toMatchObject({ created: false, record: { id: first.record.id } });
    expect(unsalted(again.record.evidence)).toEqual({ identity: 'phone:+34600000001' });
    const other = await rejection(optOut(ana.id, 'sms', { idempotencyKey: 'form-1', evidence: { note: 'Another form' } }));
    expect(other.code).toBe('CONFLICT');
    expect(other.issues).toEqual([{ path: 'idempotencyKey', message: expect.stringContaining('differs in evidence') }]);
    expect(await ws.getHistory(ana.id)).toHaveLength(1);
  });
});

describe('what recordConsent reads to find the identity', () => {
  /** A transaction that counts the contact reads made through it. */
  function counting(tx: StoreTx, reads: string[]): StoreTx {
    return new Proxy(tx, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (typeof property === 'string' && property.startsWith('findContact')) reads.push(property);
          if (property === 'getContact') reads.push(property);
          return Reflect.apply(value, target, args);
        };
      },
    });
  }

  it('is nothing for keyword and workflow decisions, and one read of a contact not yet read in the transaction', async () => {
    const ana = await ws.createContact({ name: 'Ana Test', phone: '+34600000001' });
    const workspace = await ws.get();
    const reads: string[] = [];
    const ids = ulidGenerator();
    const decision = { contactId: ana.id, purpose: 'marketing', channel: 'sms' as const, status: 'opted_out' as const };
    const [keyword, workflow, api] = await store.transaction(async (tx) => {
      const uow = new UnitOfWork(counting(tx, reads), clock.now(), ids, workspace, randomSalts());
      const byKeyword = await uow.recordConsent({ ...decision, source: 'keyword', actor: { kind: 'contact', id: ana.id }, evidence: { identity: 'sms:+34600000001', messageId: 'sms-1' } });
      const byWorkflow = await uow.recordConsent({ ...decision, source: 'workflow', actor: { kind: 'contact', id: ana.id }, evidence: { workflowId: 'request-consent-marketing' } });
      const readsBefore = reads.length;
      const byApi = await uow.recordConsent({ ...decision, source: 'api', actor });
      const byApiAgain = await uow.recordConsent({ ...decision, source: 'api', actor });
      expect(unsalted(byApiAgain.record.evidence)).toEqual({ identity: 'phone:+34600000001' });
      return [byKeyword, byWorkflow, { record: byApi.record, reads: reads.length - readsBefore }];
    });
    expect(unsalted(keyword.record.evidence)).toEqual({ identity: 'sms:+34600000001', messageId: 'sms-1' });
    expect(unsalted(workflow.record.evidence)).toEqual({ workflowId: 'request-consent-marketing' });
    expect(unsalted(api.record.evidence)).toEqual({ identity: 'phone:+34600000001' });
    // The keyword and workflow decisions read no contact; the first API decision read Ana once, the second none.
    expect(reads).toEqual(['getContact']);
    expect(api.reads).toBe(1);
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConsentRecord, ConsentState } from '../../src/core/consent.js';
import type { Contact } from '../../src/core/contact.js';
import { isConsentryError, type ErrorCode } from '../../src/core/errors.js';
import type { ConsentryEvent } from '../../src/core/events.js';
import { defaultSettings, type Workspace } from '../../src/core/settings.js';
import {
  STORE_TX_WRITES,
  type ApiKeyRow,
  type Conversation,
  type DeliveryRow,
  type DeliveryStatus,
  type HookRow,
  type ProcessedMessage,
  type PrunedRows,
  type Store,
  type StoreTx,
  type TimerRow,
  type WorkflowRunRow,
} from '../../src/ports/store.js';
import { FakeClock } from '../../src/ports/clock.js';
import { ulidFloorAt } from '../../src/ports/ids.js';
import { revokeApiKey } from '../../src/server/api-keys.js';
import { WriteInsideReadError } from '../../src/store/common.js';

export type MakeStore = () => Promise<{ store: Store; cleanup: () => Promise<void> }>;

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
/** A canonical timestamp `minutes` after 2026-01-01T00:00:00.000Z. */
const at = (minutes: number): string => new Date(T0 + minutes * 60_000).toISOString();

const WS_A = 'ws_a';
const WS_B = 'ws_b';

function workspace(id: string, name = 'Example Shop'): Workspace {
  return { id, name, settings: defaultSettings(), createdAt: at(0), updatedAt: at(0) };
}

/** A contact record as the store keeps it: Ana Test in `workspaceId`, no addresses, created at the suite's start. */
export function contact(workspaceId: string, id: string, overrides: Partial<Contact> = {}): Contact {
  return {
    id,
    workspaceId,
    name: 'Ana Test',
    email: null,
    phone: null,
    identities: [],
    fields: {},
    tags: [],
    hubspotId: null,
    createdAt: at(0),
    updatedAt: at(0),
    erasedAt: null,
    ...overrides,
  };
}

function record(workspaceId: string, contactId: string, seq: number, overrides: Partial<ConsentRecord> = {}): ConsentRecord {
  return {
    id: `rec_${workspaceId}_${String(seq).padStart(4, '0')}`,
    workspaceId,
    contactId,
    purpose: 'privacy',
    channel: 'whatsapp',
    status: 'opted_in',
    legalBasis: null,
    explanation: null,
    source: 'keyword',
    actor: { kind: 'contact', id: contactId },
    evidence: { messageId: `wamid.${seq}`, rawText: 'Yes!', normalizedText: 'yes', keyword: 'yes', language: 'en' },
    evidenceDigest: `digest-${seq}`,
    occurredAt: at(seq),
    recordedAt: at(seq),
    idempotencyKey: null,
    seq,
    prevHash: seq === 1 ? 'genesis' : `hash-${seq - 1}`,
    hash: `hash-${seq}`,
    ...overrides,
  };
}

function stateOf(r: ConsentRecord): ConsentState {
  return {
    workspaceId: r.workspaceId,
    contactId: r.contactId,
    purpose: r.purpose,
    channel: r.channel,
    status: r.status,
    legalBasis: r.legalBasis,
    explanation: r.explanation,
    source: r.source,
    occurredAt: r.occurredAt,
    recordId: r.id,
    seq: r.seq,
  };
}

function conversation(workspaceId: string, id: string, contactId: string, overrides: Partial<Conversation> = {}): Conversation {
  return { id, workspaceId, contactId, channel: 'whatsapp', status: 'open', openedAt: at(1), closedAt: null, ...overrides };
}

function run(workspaceId: string, id: string, contactId: string, overrides: Partial<WorkflowRunRow> = {}): WorkflowRunRow {
  return {
    id,
    workspaceId,
    contactId,
    conversationId: null,
    channel: 'whatsapp',
    templateId: 'request-consent-privacy',
    status: 'active',
    state: { step: 'ask', attempts: 0, answers: { email: null }, waiting: ['reply', 'timeout'] },
    createdAt: at(1),
    updatedAt: at(1),
    ...overrides,
  };
}

function timer(workspaceId: string, runId: string, dueAt: string, token = 'wait-1'): TimerRow {
  return { id: `tmr_${runId}_${token}`, workspaceId, runId, token, dueAt };
}

function taggedEvent(workspaceId: string, id: string, contactId: string | null, tag = 'vip'): ConsentryEvent<'contact.tagged'> {
  return {
    id,
    type: 'contact.tagged',
    version: 1,
    workspaceId,
    occurredAt: at(2),
    contactId,
    data: { contactId: contactId ?? 'none', tag },
  };
}

function updatedEvent(workspaceId: string, id: string, contactId: string): ConsentryEvent<'contact.updated'> {
  return {
    id,
    type: 'contact.updated',
    version: 1,
    workspaceId,
    occurredAt: at(3),
    contactId,
    data: { contactId, changes: ['email'] },
  };
}

function apiKey(workspaceId: string, id: string, overrides: Partial<ApiKeyRow> = {}): ApiKeyRow {
  return {
    id,
    workspaceId,
    name: 'Zapier',
    prefix: `csk_${id}`,
    hash: `sha256-of-${id}`,
    createdAt: at(1),
    lastUsedAt: null,
    revokedAt: null,
    ...overrides,
  };
}

function hook(workspaceId: string, id: string, overrides: Partial<HookRow> = {}): HookRow {
  return {
    id,
    workspaceId,
    apiKeyId: null,
    targetUrl: `https://hooks.example.com/${id}`,
    event: 'contact.tagged',
    filter: null,
    secret: `whsec_${id}`,
    subscriptionId: null,
    createdAt: at(1),
    deletedAt: null,
    deletedReason: null,
    ...overrides,
  };
}

/** A pending delivery of event `evt_<position>` to `hookId`, due at minute 0. */
function delivery(
  workspaceId: string,
  id: string,
  hookId: string,
  position: number,
  overrides: Partial<DeliveryRow> = {},
): DeliveryRow {
  return {
    id,
    workspaceId,
    hookId,
    eventId: `evt_${String(position).padStart(4, '0')}`,
    eventPosition: position,
    contactId: 'ct_ana',
    status: 'pending',
    attempts: 0,
    nextAttemptAt: at(0),
    lastError: null,
    lastStatusCode: null,
    deliveredAt: null,
    updatedAt: at(0),
    resentAt: null,
    ...overrides,
  };
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(isConsentryError(error), `expected a ConsentryError ${code}, got ${String(error)}`).toBe(true);
  if (isConsentryError(error)) expect(error.code).toBe(code);
}

/** Lets every pending callback and microtask run, without waiting on wall-clock time. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * The one contract every Store implementation passes (DESIGN §1: one suite per port). It
 * exercises every StoreTx method, workspace scoping, rollback and serialisation.
 */
export function storeContract(name: string, makeStore: MakeStore): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await makeStore());
    });

    afterEach(async () => {
      await cleanup();
    });

    const tx = <T>(fn: (t: StoreTx) => Promise<T>): Promise<T> => store.transaction(fn);

    /** Two workspaces, each with a contact `ct_ana` (ids are scoped by workspace). */
    async function seedWorkspaces(): Promise<void> {
      await tx(async (t) => {
        await t.insertWorkspace(workspace(WS_A, 'Shop A'));
        await t.insertWorkspace(workspace(WS_B, 'Shop B'));
        await t.insertContact(
          contact(WS_A, 'ct_ana', {
            email: 'ana@example.com',
            phone: '+34600000001',
            identities: [{ channel: 'whatsapp', externalId: '+34600000001' }],
            tags: ['vip'],
            hubspotId: '1001',
          }),
        );
        await t.insertContact(
          contact(WS_B, 'ct_ana', {
            name: 'Ana Test B',
            email: 'ana@example.com',
            phone: '+34600000001',
            identities: [{ channel: 'whatsapp', externalId: '+34600000001' }],
            tags: ['other-shop'],
            hubspotId: '1001',
          }),
        );
      });
    }

    describe('workspaces', () => {
      it('inserts, reads and lists workspaces ordered by id', async () => {
        const b = workspace('ws_2', 'Second');
        const a = workspace('ws_1', 'First');
        a.settings.defaultCountry = 'ES';
        a.settings.privacyPolicyUrl = 'https://example.com/privacy';
        await tx(async (t) => {
          await t.insertWorkspace(b);
          await t.insertWorkspace(a);
        });
        await tx(async (t) => {
          expect(await t.getWorkspace('ws_1')).toStrictEqual(a);
          expect(await t.getWorkspace('ws_missing')).toBeUndefined();
          expect((await t.listWorkspaces()).map((w) => w.id)).toEqual(['ws_1', 'ws_2']);
        });
      });

      it('updates only the patched fields and rejects unknown workspaces', async () => {
        await tx((t) => t.insertWorkspace(workspace(WS_A, 'Before')));
        const settings = { ...defaultSettings(), defaultLanguage: 'es' as const };
        await tx(async (t) => {
          await t.updateWorkspace(WS_A, { name: 'After', updatedAt: at(5) });
          let stored = await t.getWorkspace(WS_A);
          expect(stored?.name).toBe('After');
          expect(stored?.settings).toStrictEqual(defaultSettings());
          expect(stored?.updatedAt).toBe(at(5));
          await t.updateWorkspace(WS_A, { settings, updatedAt: at(6) });
          stored = await t.getWorkspace(WS_A);
          expect(stored?.name).toBe('After');
          expect(stored?.settings.defaultLanguage).toBe('es');
          expect(stored?.createdAt).toBe(at(0));
          await expectCode(t.updateWorkspace('ws_missing', { name: 'x', updatedAt: at(7) }), 'NOT_FOUND');
        });
      });

      it('rejects a duplicate workspace id', async () => {
        await tx((t) => t.insertWorkspace(workspace(WS_A)));
        await tx(async (t) => {
          await expectCode(t.insertWorkspace(workspace(WS_A, 'Again')), 'CONFLICT');
          expect((await t.getWorkspace(WS_A))?.name).toBe('Example Shop');
        });
      });

      it('hands out copies of settings', async () => {
        const input = workspace(WS_A);
        await tx((t) => t.insertWorkspace(input));
        input.settings.triggers.length = 0;
        await tx(async (t) => {
          const read = await t.getWorkspace(WS_A);
          expect(read?.settings.triggers).toHaveLength(1);
          read?.settings.triggers.push({ trigger: 'manual', template: 'x', enabled: true });
          expect((await t.getWorkspace(WS_A))?.settings.triggers).toHaveLength(1);
        });
      });
    });

    describe('contacts', () => {
      beforeEach(seedWorkspaces);

      it('round-trips every field', async () => {
        const full = contact(WS_A, 'ct_full', {
          name: null,
          email: 'full@example.com',
          phone: '+34600000002',
          identities: [
            { channel: 'sms', externalId: '+34600000002' },
            { channel: 'webchat', externalId: 'visitor-42' },
          ],
          fields: { city: 'Madrid', plan: 'gold' },
          tags: ['b-tag', 'a-tag'],
          hubspotId: null,
          updatedAt: at(9),
          erasedAt: at(10),
        });
        await tx((t) => t.insertContact(full));
        expect(await tx((t) => t.getContact(WS_A, 'ct_full'))).toStrictEqual(full);
      });

      it('never returns a contact of another workspace', async () => {
        await tx(async (t) => {
          expect((await t.getContact(WS_A, 'ct_ana'))?.tags).toEqual(['vip']);
          expect((await t.getContact(WS_B, 'ct_ana'))?.name).toBe('Ana Test B');
          expect(await t.getContact('ws_missing', 'ct_ana')).toBeUndefined();
          expect(await t.getContact(WS_A, 'ct_missing')).toBeUndefined();
          await t.insertContact(contact(WS_A, 'ct_only_a', { email: 'only@example.com', hubspotId: '2002' }));
          expect(await t.getContact(WS_B, 'ct_only_a')).toBeUndefined();
          expect(await t.findContactByEmail(WS_B, 'only@example.com')).toBeUndefined();
          expect(await t.findContactByHubspotId(WS_B, '2002')).toBeUndefined();
          expect(await t.listContacts(WS_B, { limit: 10 })).toHaveLength(1);
        });
      });

      it('finds contacts by identity, email, phone and HubSpot id within the workspace', async () => {
        await tx(async (t) => {
          expect((await t.findContactByIdentity(WS_A, 'whatsapp', '+34600000001'))?.tags).toEqual(['vip']);
          expect((await t.findContactByIdentity(WS_B, 'whatsapp', '+34600000001'))?.tags).toEqual(['other-shop']);
          expect(await t.findContactByIdentity(WS_A, 'sms', '+34600000001')).toBeUndefined();
          expect((await t.findContactByEmail(WS_A, 'ana@example.com'))?.workspaceId).toBe(WS_A);
          expect((await t.findContactByEmail(WS_B, 'ana@example.com'))?.workspaceId).toBe(WS_B);
          expect(await t.findContactByEmail(WS_A, 'nobody@example.com')).toBeUndefined();
          expect((await t.findContactByPhone(WS_A, '+34600000001'))?.id).toBe('ct_ana');
          expect(await t.findContactByPhone(WS_A, '+34600000009')).toBeUndefined();
          expect((await t.findContactByHubspotId(WS_B, '1001'))?.name).toBe('Ana Test B');
          expect(await t.findContactByHubspotId(WS_A, '9999')).toBeUndefined();
        });
      });

      it('returns the lowest id when several contacts share an email or phone', async () => {
        await tx(async (t) => {
          await t.insertContact(contact(WS_A, 'ct_zed', { email: 'shared@example.com', phone: '+34600000005' }));
          await t.insertContact(contact(WS_A, 'ct_bob', { email: 'shared@example.com', phone: '+34600000005' }));
          expect((await t.findContactByEmail(WS_A, 'shared@example.com'))?.id).toBe('ct_bob');
          expect((await t.findContactByPhone(WS_A, '+34600000005'))?.id).toBe('ct_bob');
        });
      });

      it('keeps an identity unique per workspace and leaves no trace of a rejected insert', async () => {
        await tx(async (t) => {
          const clash = contact(WS_A, 'ct_clash', {
            identities: [
              { channel: 'sms', externalId: '+34600000003' },
              { channel: 'whatsapp', externalId: '+34600000001' },
            ],
            tags: ['clash'],
          });
          await expectCode(t.insertContact(clash), 'CONFLICT');
          expect(await t.getContact(WS_A, 'ct_clash')).toBeUndefined();
          expect(await t.findContactByIdentity(WS_A, 'sms', '+34600000003')).toBeUndefined();
          expect(await t.listTags(WS_A)).toEqual(['vip']);
          const twice = contact(WS_A, 'ct_twice', {
            identities: [
              { channel: 'sms', externalId: '+34600000004' },
              { channel: 'sms', externalId: '+34600000004' },
            ],
          });
          await expectCode(t.insertContact(twice), 'CONFLICT');
          expect(await t.getContact(WS_A, 'ct_twice')).toBeUndefined();
        });
      });

      it('rejects a duplicate contact id and a contact of an unknown workspace', async () => {
        await tx(async (t) => {
          await expectCode(t.insertContact(contact(WS_A, 'ct_ana', { name: 'Other' })), 'CONFLICT');
          expect((await t.getContact(WS_A, 'ct_ana'))?.name).toBe('Ana Test');
          await expectCode(t.insertContact(contact('ws_missing', 'ct_x')), 'NOT_FOUND');
        });
      });

      it('updateContact replaces identities, fields and tags', async () => {
        await tx(async (t) => {
          const before = await t.getContact(WS_A, 'ct_ana');
          if (!before) throw new Error('seed contact missing');
          await t.updateContact({
            ...before,
            email: 'ana.new@example.com',
            identities: [{ channel: 'sms', externalId: '+34600000001' }],
            fields: { language: 'es' },
            tags: ['newsletter'],
            updatedAt: at(20),
          });
          const after = await t.getContact(WS_A, 'ct_ana');
          expect(after).toStrictEqual({
            ...before,
            email: 'ana.new@example.com',
            identities: [{ channel: 'sms', externalId: '+34600000001' }],
            fields: { language: 'es' },
            tags: ['newsletter'],
            updatedAt: at(20),
          });
          expect(await t.findContactByIdentity(WS_A, 'whatsapp', '+34600000001')).toBeUndefined();
          expect((await t.findContactByIdentity(WS_A, 'sms', '+34600000001'))?.id).toBe('ct_ana');
          expect(await t.findContactByEmail(WS_A, 'ana@example.com')).toBeUndefined();
          expect(await t.listTags(WS_A)).toEqual(['newsletter']);
          expect(await t.listContacts(WS_A, { tag: 'vip', limit: 10 })).toEqual([]);
          expect((await t.listContacts(WS_A, { tag: 'newsletter', limit: 10 })).map((c) => c.id)).toEqual(['ct_ana']);
          // The freed identity can now be taken by another contact.
          await t.insertContact(contact(WS_A, 'ct_new', { identities: [{ channel: 'whatsapp', externalId: '+34600000001' }] }));
          expect((await t.findContactByIdentity(WS_A, 'whatsapp', '+34600000001'))?.id).toBe('ct_new');
        });
      });

      it('updateContact rejects a taken identity without changing anything, and unknown contacts', async () => {
        await tx(async (t) => {
          await t.insertContact(contact(WS_A, 'ct_bob', { identities: [{ channel: 'sms', externalId: '+34600000002' }] }));
          const ana = await t.getContact(WS_A, 'ct_ana');
          if (!ana) throw new Error('seed contact missing');
          await expectCode(
            t.updateContact({
              ...ana,
              identities: [...ana.identities, { channel: 'sms', externalId: '+34600000002' }],
              tags: ['changed'],
            }),
            'CONFLICT',
          );
          expect(await t.getContact(WS_A, 'ct_ana')).toStrictEqual(ana);
          expect((await t.findContactByIdentity(WS_A, 'sms', '+34600000002'))?.id).toBe('ct_bob');
          expect(await t.listTags(WS_A)).toEqual(['vip']);
          await expectCode(t.updateContact(contact(WS_A, 'ct_missing')), 'NOT_FOUND');
          // Scoped: the workspace B contact with the same id is a different row.
          await expectCode(t.updateContact({ ...ana, workspaceId: 'ws_missing' }), 'NOT_FOUND');
        });
      });

      it('lists contacts ordered by id with limit, cursor and filters', async () => {
        await tx(async (t) => {
          for (const id of ['ct_3', 'ct_1', 'ct_5', 'ct_2', 'ct_4']) {
            const n = Number(id.slice(3));
            await t.insertContact(
              contact(WS_A, id, {
                email: n <= 2 ? 'pair@example.com' : `c${n}@example.com`,
                phone: `+3460000010${n}`,
                tags: n % 2 === 1 ? ['odd', 'vip'] : ['even'],
              }),
            );
          }
          const ids = async (query: Parameters<StoreTx['listContacts']>[1]): Promise<string[]> =>
            (await t.listContacts(WS_A, query)).map((c) => c.id);
          expect(await ids({ limit: 100 })).toEqual(['ct_1', 'ct_2', 'ct_3', 'ct_4', 'ct_5', 'ct_ana']);
          expect(await ids({ limit: 2 })).toEqual(['ct_1', 'ct_2']);
          expect(await ids({ limit: 2, afterId: 'ct_2' })).toEqual(['ct_3', 'ct_4']);
          expect(await ids({ limit: 0 })).toEqual([]);
          expect(await ids({ tag: 'odd', limit: 10 })).toEqual(['ct_1', 'ct_3', 'ct_5']);
          expect(await ids({ tag: 'vip', limit: 10 })).toEqual(['ct_1', 'ct_3', 'ct_5', 'ct_ana']);
          expect(await ids({ tag: 'vip', afterId: 'ct_3', limit: 2 })).toEqual(['ct_5', 'ct_ana']);
          expect(await ids({ email: 'pair@example.com', limit: 10 })).toEqual(['ct_1', 'ct_2']);
          expect(await ids({ email: 'pair@example.com', tag: 'even', limit: 10 })).toEqual(['ct_2']);
          expect(await ids({ phone: '+34600000104', limit: 10 })).toEqual(['ct_4']);
          expect(await ids({ phone: '+34600000104', tag: 'odd', limit: 10 })).toEqual([]);
          expect(await ids({ tag: 'nobody', limit: 10 })).toEqual([]);
          expect((await t.listContacts(WS_B, { tag: 'vip', limit: 10 })).map((c) => c.id)).toEqual([]);
          await expectCode(t.listContacts(WS_A, { limit: -1 }), 'VALIDATION_FAILED');
        });
      });

      it('finds contacts by tag as addTag and removeTag compare tags: letter case, spaces and Unicode forms aside', async () => {
        await tx(async (t) => {
          await t.insertContact(contact(WS_A, 'ct_1', { tags: ['VIP', 'Grp 1'] }));
          await t.insertContact(contact(WS_A, 'ct_2', { tags: ['Vip'] }));
          await t.insertContact(contact(WS_A, 'ct_3', { tags: ['Élite', 'grp 10'] }));
          await t.insertContact(contact(WS_B, 'ct_b', { tags: ['VIP'] }));
          const ids = async (query: Parameters<StoreTx['listContacts']>[1]): Promise<string[]> =>
            (await t.listContacts(WS_A, query)).map((c) => c.id);
          for (const tag of ['vip', 'VIP', 'vIp', ' Vip ']) expect(await ids({ tag, limit: 10 })).toEqual(['ct_1', 'ct_2', 'ct_ana']);
          expect(await ids({ tag: 'VIP', limit: 2 })).toEqual(['ct_1', 'ct_2']);
          expect(await ids({ tag: 'vip', afterId: 'ct_1', limit: 1 })).toEqual(['ct_2']);
          expect(await ids({ tag: 'GRP  1', limit: 10 })).toEqual(['ct_1']);
          expect(await ids({ tag: 'ÉLITE', limit: 10 })).toEqual(['ct_3']);
          expect(await ids({ tag: 'e\u0301lite', limit: 10 })).toEqual(['ct_3']);
          expect(await ids({ tag: 'vi', limit: 10 })).toEqual([]);
          expect(await ids({ tag: '', limit: 10 })).toEqual([]);
          expect((await t.listContacts(WS_B, { tag: 'vip', limit: 10 })).map((c) => c.id)).toEqual(['ct_b']);
          // Listed once per tag, in the first of its spellings in sort order.
          expect(await t.listTags(WS_A)).toEqual(['Grp 1', 'VIP', 'grp 10', 'Élite']);
        });
      });

      it('lists the distinct tags of a workspace, sorted', async () => {
        await tx(async (t) => {
          await t.insertContact(contact(WS_A, 'ct_2', { tags: ['newsletter', 'vip'] }));
          await t.insertContact(contact(WS_A, 'ct_3', { tags: ['b2b'] }));
          expect(await t.listTags(WS_A)).toEqual(['b2b', 'newsletter', 'vip']);
          expect(await t.listTags(WS_B)).toEqual(['other-shop']);
          expect(await t.listTags('ws_missing')).toEqual([]);
        });
      });

      it('hands out copies: changing a returned or inserted contact does not change the store', async () => {
        const input = contact(WS_A, 'ct_copy', {
          identities: [{ channel: 'email', externalId: 'copy@example.com' }],
          fields: { city: 'Lisboa' },
          tags: ['one'],
        });
        await tx((t) => t.insertContact(input));
        input.tags.push('mutated-input');
        input.fields.city = 'mutated';
        const identity = input.identities[0];
        if (identity) identity.externalId = 'mutated';
        await tx(async (t) => {
          const read = await t.getContact(WS_A, 'ct_copy');
          if (!read) throw new Error('contact missing');
          expect(read.tags).toEqual(['one']);
          expect(read.fields).toEqual({ city: 'Lisboa' });
          expect(read.identities).toEqual([{ channel: 'email', externalId: 'copy@example.com' }]);
          read.tags.push('mutated-output');
          read.fields.city = 'mutated';
          read.identities.length = 0;
          read.name = 'Changed';
          const again = await t.findContactByIdentity(WS_A, 'email', 'copy@example.com');
          expect(again?.tags).toEqual(['one']);
          expect(again?.fields).toEqual({ city: 'Lisboa' });
          expect(again?.name).toBe('Ana Test');
          expect(again?.identities).toHaveLength(1);
        });
      });

      it('lists the contacts linked to a HubSpot record, in its workspace only', async () => {
        await tx((t) => t.insertContact(contact(WS_A, 'ct_phone_only', { phone: '+34600000007', hubspotId: '1001' })));
        await tx(async (t) => {
          expect((await t.listContacts(WS_A, { hubspotId: '1001', limit: 10 })).map((c) => c.id)).toEqual(['ct_ana', 'ct_phone_only']);
          expect((await t.listContacts(WS_A, { hubspotId: '1001', afterId: 'ct_ana', limit: 10 })).map((c) => c.id)).toEqual(['ct_phone_only']);
          expect((await t.listContacts(WS_B, { hubspotId: '1001', limit: 10 })).map((c) => c.id)).toEqual(['ct_ana']);
          expect(await t.listContacts(WS_A, { hubspotId: '9999', limit: 10 })).toEqual([]);
        });
      });

      it('keeps erased address digests per workspace, once each, and finds them in the order asked', async () => {
        await tx(async (t) => {
          await t.addErasedAddresses(WS_A, ['d-email', 'd-phone']);
          await t.addErasedAddresses(WS_A, ['d-email']);
          await t.addErasedAddresses(WS_B, ['d-other']);
        });
        await tx(async (t) => {
          expect(await t.findErasedAddresses(WS_A, ['d-phone', 'd-unknown', 'd-email', 'd-other'])).toEqual(['d-phone', 'd-email']);
          expect(await t.findErasedAddresses(WS_B, ['d-email', 'd-other'])).toEqual(['d-other']);
          expect(await t.findErasedAddresses(WS_A, [])).toEqual([]);
        });
      });

      it('forgets erased address digests added in a transaction that fails, and refuses them for an unknown workspace', async () => {
        await expect(
          tx(async (t) => {
            await t.addErasedAddresses(WS_A, ['d-rolled-back']);
            throw new Error('abort');
          }),
        ).rejects.toThrow('abort');
        await expect(tx((t) => t.addErasedAddresses('ws_missing', ['d-nowhere']))).rejects.toThrow();
        await tx(async (t) => {
          expect(await t.findErasedAddresses(WS_A, ['d-rolled-back'])).toEqual([]);
          expect(await t.findErasedAddresses('ws_missing', ['d-nowhere'])).toEqual([]);
        });
      });

      it('removes erased address digests of one workspace, answering those it kept, and keeps them when the transaction fails', async () => {
        await tx(async (t) => {
          await t.addErasedAddresses(WS_A, ['d-email', 'd-phone']);
          await t.addErasedAddresses(WS_B, ['d-email']);
        });
        await expect(
          tx(async (t) => {
            expect(await t.removeErasedAddresses(WS_A, ['d-phone'])).toEqual(['d-phone']);
            throw new Error('abort');
          }),
        ).rejects.toThrow('abort');
        await tx(async (t) => {
          expect(await t.removeErasedAddresses(WS_A, ['d-unknown', 'd-phone', 'd-email', 'd-phone'])).toEqual(['d-phone', 'd-email']);
          expect(await t.removeErasedAddresses(WS_A, ['d-email'])).toEqual([]);
        });
        await tx(async (t) => {
          expect(await t.findErasedAddresses(WS_A, ['d-email', 'd-phone'])).toEqual([]);
          expect(await t.findErasedAddresses(WS_B, ['d-email'])).toEqual(['d-email']);
        });
      });
    });

    describe('consent ledger', () => {
      beforeEach(seedWorkspaces);

      it('round-trips records exactly, nulls included, in seq order', async () => {
        const bare = record(WS_A, 'ct_ana', 1);
        const full = record(WS_A, 'ct_ana', 2, {
          purpose: 'marketing',
          channel: 'email',
          status: 'opted_out',
          legalBasis: 'LEGITIMATE_INTEREST_CLIENT',
          explanation: 'Asked by phone to stop the newsletter',
          source: 'manual',
          actor: { kind: 'user', id: 'user_77' },
          evidence: { note: 'call on Monday', policyUrl: 'https://example.com/privacy', policyDigest: 'abc', redacted: false },
          occurredAt: at(1),
          recordedAt: at(30),
          idempotencyKey: 'import-row-7',
        });
        await tx(async (t) => {
          await t.appendConsentRecord(bare);
          await t.appendConsentRecord(full);
        });
        await tx(async (t) => {
          expect(await t.listConsentRecords(WS_A, {})).toStrictEqual([bare, full]);
          expect(await t.lastConsentRecord(WS_A)).toStrictEqual(full);
          expect(await t.findConsentRecordByIdempotencyKey(WS_A, 'import-row-7')).toStrictEqual(full);
        });
      });

      it('keeps one chain per workspace', async () => {
        await tx(async (t) => {
          expect(await t.lastConsentRecord(WS_A)).toBeUndefined();
          await t.appendConsentRecord(record(WS_A, 'ct_ana', 1));
          await t.appendConsentRecord(record(WS_A, 'ct_ana', 2));
          await t.appendConsentRecord(record(WS_B, 'ct_ana', 1));
          expect((await t.lastConsentRecord(WS_A))?.seq).toBe(2);
          expect((await t.lastConsentRecord(WS_B))?.id).toBe('rec_ws_b_0001');
          expect((await t.listConsentRecords(WS_B, {})).map((r) => r.id)).toEqual(['rec_ws_b_0001']);
          expect(await t.listConsentRecords('ws_missing', {})).toEqual([]);
        });
      });

      it('rejects a taken seq, a taken idempotency key and an unknown contact', async () => {
        await tx(async (t) => {
          await t.appendConsentRecord(record(WS_A, 'ct_ana', 1, { idempotencyKey: 'key-1' }));
          await expectCode(t.appendConsentRecord(record(WS_A, 'ct_ana', 1, { id: 'rec_other' })), 'CONFLICT');
          await expectCode(t.appendConsentRecord(record(WS_A, 'ct_ana', 2, { idempotencyKey: 'key-1' })), 'CONFLICT');
          await expectCode(t.appendConsentRecord(record(WS_A, 'ct_nobody', 2)), 'NOT_FOUND');
          // Null keys never clash; the same key in another workspace is another key.
          await t.appendConsentRecord(record(WS_A, 'ct_ana', 2));
          await t.appendConsentRecord(record(WS_A, 'ct_ana', 3));
          await t.appendConsentRecord(record(WS_B, 'ct_ana', 1, { idempotencyKey: 'key-1' }));
          expect((await t.listConsentRecords(WS_A, {})).map((r) => r.seq)).toEqual([1, 2, 3]);
        });
      });

      it('finds a record by idempotency key within its workspace only', async () => {
        await tx(async (t) => {
          await t.appendConsentRecord(record(WS_A, 'ct_ana', 1, { idempotencyKey: 'req-1' }));
          expect((await t.findConsentRecordByIdempotencyKey(WS_A, 'req-1'))?.seq).toBe(1);
          expect(await t.findConsentRecordByIdempotencyKey(WS_B, 'req-1')).toBeUndefined();
          expect(await t.findConsentRecordByIdempotencyKey(WS_A, 'req-2')).toBeUndefined();
        });
      });

      it('lists records by contact, after a seq and up to a limit', async () => {
        await tx(async (t) => {
          await t.insertContact(contact(WS_A, 'ct_bob'));
          for (let seq = 1; seq <= 6; seq += 1) {
            await t.appendConsentRecord(record(WS_A, seq % 2 === 0 ? 'ct_bob' : 'ct_ana', seq));
          }
          const seqs = async (query: Parameters<StoreTx['listConsentRecords']>[1]): Promise<number[]> =>
            (await t.listConsentRecords(WS_A, query)).map((r) => r.seq);
          expect(await seqs({})).toEqual([1, 2, 3, 4, 5, 6]);
          expect(await seqs({ afterSeq: 4 })).toEqual([5, 6]);
          expect(await seqs({ limit: 2 })).toEqual([1, 2]);
          expect(await seqs({ afterSeq: 1, limit: 3 })).toEqual([2, 3, 4]);
          expect(await seqs({ contactId: 'ct_bob' })).toEqual([2, 4, 6]);
          expect(await seqs({ contactId: 'ct_bob', afterSeq: 2, limit: 1 })).toEqual([4]);
          expect(await seqs({ contactId: 'ct_nobody' })).toEqual([]);
        });
      });

      it('redacts evidence of one contact, keeps hashes and digests, and counts the records', async () => {
        await tx(async (t) => {
          await t.insertContact(contact(WS_A, 'ct_bob'));
          await t.appendConsentRecord(record(WS_A, 'ct_ana', 1));
          await t.appendConsentRecord(record(WS_A, 'ct_bob', 2));
          await t.appendConsentRecord(record(WS_A, 'ct_ana', 3));
          await t.appendConsentRecord(record(WS_B, 'ct_ana', 1));
        });
        const before = await tx((t) => t.listConsentRecords(WS_A, {}));
        const redacted = { redacted: true };
        expect(await tx((t) => t.redactConsentEvidence(WS_A, 'ct_ana', redacted))).toBe(2);
        await tx(async (t) => {
          const after = await t.listConsentRecords(WS_A, {});
          expect(after).toStrictEqual(
            before.map((r) => (r.contactId === 'ct_ana' ? { ...r, evidence: { redacted: true } } : r)),
          );
          expect((await t.listConsentRecords(WS_B, {}))[0]?.evidence.rawText).toBe('Yes!');
          expect(await t.redactConsentEvidence(WS_A, 'ct_nobody', redacted)).toBe(0);
        });
      });

      it('upserts the materialised state and reads it back', async () => {
        const first = record(WS_A, 'ct_ana', 1);
        const second = record(WS_A, 'ct_ana', 2, {
          status: 'opted_out',
          source: 'api',
          legalBasis: 'NON_GDPR',
          explanation: 'Bulk clean-up',
        });
        const marketing = record(WS_A, 'ct_ana', 3, { purpose: 'marketing', channel: 'email' });
        const otherChannel = record(WS_A, 'ct_ana', 4, { purpose: 'marketing', channel: 'any' });
        await tx(async (t) => {
          expect(await t.getConsentState(WS_A, 'ct_ana', 'privacy', 'whatsapp')).toBeUndefined();
          await t.upsertConsentState(stateOf(first));
          expect(await t.getConsentState(WS_A, 'ct_ana', 'privacy', 'whatsapp')).toStrictEqual(stateOf(first));
          await t.upsertConsentState(stateOf(second));
          await t.upsertConsentState(stateOf(otherChannel));
          await t.upsertConsentState(stateOf(marketing));
          expect(await t.getConsentState(WS_A, 'ct_ana', 'privacy', 'whatsapp')).toStrictEqual(stateOf(second));
          expect(await t.getConsentStates(WS_A, 'ct_ana')).toStrictEqual([
            stateOf(otherChannel),
            stateOf(marketing),
            stateOf(second),
          ]);
          expect(await t.getConsentStates(WS_B, 'ct_ana')).toEqual([]);
          expect(await t.getConsentState(WS_B, 'ct_ana', 'privacy', 'whatsapp')).toBeUndefined();
          await expectCode(t.upsertConsentState({ ...stateOf(first), contactId: 'ct_nobody' }), 'NOT_FOUND');
        });
      });

      it('lists every materialised state of a workspace ordered by contact, purpose, channel', async () => {
        await tx(async (t) => {
          await t.insertContact(contact(WS_A, 'ct_0'));
          const a = stateOf(record(WS_A, 'ct_ana', 1));
          const b = stateOf(record(WS_A, 'ct_0', 2, { purpose: 'privacy', channel: 'sms' }));
          const c = stateOf(record(WS_A, 'ct_0', 3, { purpose: 'marketing', channel: 'sms' }));
          const other = stateOf(record(WS_B, 'ct_ana', 1));
          for (const s of [a, b, c, other]) await t.upsertConsentState(s);
          expect(await t.listConsentStates(WS_A, { limit: 10 })).toStrictEqual([c, b, a]);
          expect(await t.listConsentStates(WS_B, { limit: 10 })).toStrictEqual([other]);
        });
      });

      it('pages through the materialised states after a key, each row once, and only those of the workspace', async () => {
        await tx(async (t) => {
          for (const id of ['ct_0', 'ct_1']) await t.insertContact(contact(WS_A, id));
          const states: ConsentState[] = [];
          let seq = 0;
          for (const contactId of ['ct_0', 'ct_1', 'ct_ana']) {
            for (const purpose of ['marketing', 'privacy'] as const) {
              for (const channel of ['any', 'sms', 'whatsapp'] as const) {
                seq += 1;
                const state = stateOf(record(WS_A, contactId, seq, { purpose, channel }));
                states.push(state);
                await t.upsertConsentState(state);
              }
            }
          }
          await t.upsertConsentState(stateOf(record(WS_B, 'ct_ana', 1)));
          for (const limit of [1, 2, 5, 18, 100]) {
            const seen: ConsentState[] = [];
            let page = await t.listConsentStates(WS_A, { limit });
            while (page.length > 0) {
              expect(page.length).toBeLessThanOrEqual(limit);
              seen.push(...page);
              const last = page.at(-1);
              page = last ? await t.listConsentStates(WS_A, { after: last, limit }) : [];
            }
            expect(seen).toStrictEqual(states);
          }
          // A key between rows, or one no row has, starts the page at the next row.
          expect(await t.listConsentStates(WS_A, { after: { contactId: 'ct_1', purpose: 'marketing', channel: 'telegram' }, limit: 2 })).toStrictEqual(
            states.slice(8, 10),
          );
          expect(await t.listConsentStates(WS_A, { after: { contactId: 'ct_zzz', purpose: 'marketing', channel: 'any' }, limit: 2 })).toEqual([]);
          expect(await t.listConsentStates(WS_A, { limit: 0 })).toEqual([]);
          await expectCode(t.listConsentStates(WS_A, { limit: -1 }), 'VALIDATION_FAILED');
        });
      });

      it('hands out copies of records', async () => {
        await tx((t) => t.appendConsentRecord(record(WS_A, 'ct_ana', 1)));
        await tx(async (t) => {
          const read = await t.lastConsentRecord(WS_A);
          if (!read) throw new Error('record missing');
          read.evidence.rawText = 'mutated';
          read.actor.id = 'mutated';
          const again = await t.listConsentRecords(WS_A, {});
          expect(again[0]?.evidence.rawText).toBe('Yes!');
          expect(again[0]?.actor.id).toBe('ct_ana');
        });
      });
    });

    describe('conversations', () => {
      beforeEach(seedWorkspaces);

      it('inserts, reads, finds the open one per channel and closes it', async () => {
        const open = conversation(WS_A, 'cv_1', 'ct_ana');
        await tx(async (t) => {
          await t.insertConversation(open);
          await t.insertConversation(conversation(WS_A, 'cv_sms', 'ct_ana', { channel: 'sms' }));
          expect(await t.getConversation(WS_A, 'cv_1')).toStrictEqual(open);
          expect(await t.getOpenConversation(WS_A, 'ct_ana', 'whatsapp')).toStrictEqual(open);
          expect((await t.getOpenConversation(WS_A, 'ct_ana', 'sms'))?.id).toBe('cv_sms');
          expect(await t.getOpenConversation(WS_A, 'ct_ana', 'email')).toBeUndefined();
          const closed: Conversation = { ...open, status: 'closed', closedAt: at(9) };
          await t.updateConversation(closed);
          expect(await t.getConversation(WS_A, 'cv_1')).toStrictEqual(closed);
          expect(await t.getOpenConversation(WS_A, 'ct_ana', 'whatsapp')).toBeUndefined();
          const reopened = conversation(WS_A, 'cv_2', 'ct_ana', { openedAt: at(10) });
          await t.insertConversation(reopened);
          expect(await t.getOpenConversation(WS_A, 'ct_ana', 'whatsapp')).toStrictEqual(reopened);
        });
      });

      it('never returns a conversation of another workspace', async () => {
        await tx(async (t) => {
          await t.insertConversation(conversation(WS_A, 'cv_1', 'ct_ana'));
          expect(await t.getConversation(WS_B, 'cv_1')).toBeUndefined();
          expect(await t.getOpenConversation(WS_B, 'ct_ana', 'whatsapp')).toBeUndefined();
          await expectCode(t.updateConversation(conversation(WS_B, 'cv_1', 'ct_ana', { status: 'closed' })), 'NOT_FOUND');
          expect((await t.getConversation(WS_A, 'cv_1'))?.status).toBe('open');
        });
      });

      it('rejects duplicates, unknown contacts and unknown conversations', async () => {
        await tx(async (t) => {
          await t.insertConversation(conversation(WS_A, 'cv_1', 'ct_ana'));
          await expectCode(t.insertConversation(conversation(WS_A, 'cv_1', 'ct_ana')), 'CONFLICT');
          await expectCode(t.insertConversation(conversation(WS_A, 'cv_2', 'ct_nobody')), 'NOT_FOUND');
          await expectCode(t.updateConversation(conversation(WS_A, 'cv_missing', 'ct_ana')), 'NOT_FOUND');
        });
      });

      it('keeps the templates deferred at the opening with the conversation, until an update leaves them out', async () => {
        const deferred = conversation(WS_A, 'cv_1', 'ct_ana', { deferredTemplates: ['request-consent-privacy', 'welcome-request-email'] });
        await tx(async (t) => {
          await t.insertConversation(deferred);
          await t.insertConversation(conversation(WS_A, 'cv_sms', 'ct_ana', { channel: 'sms' }));
          await t.insertConversation(conversation(WS_A, 'cv_mail', 'ct_ana', { channel: 'email', deferredTemplates: [] }));
          expect(await t.getConversation(WS_A, 'cv_1')).toStrictEqual(deferred);
          expect(await t.getOpenConversation(WS_A, 'ct_ana', 'whatsapp')).toStrictEqual(deferred);
          // None, and an empty list, read back as none: the property is left out.
          expect(Object.hasOwn((await t.getOpenConversation(WS_A, 'ct_ana', 'sms')) ?? {}, 'deferredTemplates')).toBe(false);
          expect(await t.getConversation(WS_A, 'cv_mail')).toStrictEqual(conversation(WS_A, 'cv_mail', 'ct_ana', { channel: 'email' }));
        });
        await tx(async (t) => {
          const read = await t.getConversation(WS_A, 'cv_1');
          read?.deferredTemplates?.push('mutated');
          expect((await t.getConversation(WS_A, 'cv_1'))?.deferredTemplates).toEqual(['request-consent-privacy', 'welcome-request-email']);
          await t.updateConversation({ ...deferred, deferredTemplates: ['welcome-request-email'] });
          expect((await t.getOpenConversation(WS_A, 'ct_ana', 'whatsapp'))?.deferredTemplates).toEqual(['welcome-request-email']);
          const { deferredTemplates: _started, ...none } = deferred;
          await t.updateConversation(none);
          expect(await t.getConversation(WS_A, 'cv_1')).toStrictEqual(none);
          await t.updateConversation({ ...conversation(WS_A, 'cv_sms', 'ct_ana', { channel: 'sms' }), deferredTemplates: ['request-consent-privacy'] });
        });
        const after = await store.read(async (t) => [await t.getConversation(WS_A, 'cv_1'), await t.getConversation(WS_A, 'cv_sms')]);
        expect(after[0]).toStrictEqual(conversation(WS_A, 'cv_1', 'ct_ana'));
        expect(after[1]?.deferredTemplates).toEqual(['request-consent-privacy']);
      });

      it('keeps the workflows queued behind a consent question with the conversation, beside its deferred templates', async () => {
        const track = { template: 'welcome-request-email', trigger: 'keyword', match: 'track order' } as const;
        const vip = { template: 'welcome-request-phone', trigger: 'tag_added', match: 'vip' } as const;
        const opening = { template: 'welcome-request-email', trigger: 'conversation_opened', match: null } as const;
        const queued = conversation(WS_A, 'cv_1', 'ct_ana', { deferredTemplates: ['request-consent-privacy'], queuedWorkflows: [track, opening] });
        await tx(async (t) => {
          await t.insertConversation(queued);
          await t.insertConversation(conversation(WS_A, 'cv_sms', 'ct_ana', { channel: 'sms', queuedWorkflows: [] }));
          expect(await t.getConversation(WS_A, 'cv_1')).toStrictEqual(queued);
          expect(await t.getOpenConversation(WS_A, 'ct_ana', 'whatsapp')).toStrictEqual(queued);
          expect(Object.hasOwn((await t.getConversation(WS_A, 'cv_sms')) ?? {}, 'queuedWorkflows')).toBe(false);
          const read = await t.getConversation(WS_A, 'cv_1');
          read?.queuedWorkflows?.push(vip);
          if (read?.queuedWorkflows?.[0]) read.queuedWorkflows[0].match = 'mutated';
          expect((await t.getConversation(WS_A, 'cv_1'))?.queuedWorkflows).toEqual([track, opening]);
        });
        await tx(async (t) => {
          await t.updateConversation({ ...queued, queuedWorkflows: [vip] });
          expect(await t.getConversation(WS_A, 'cv_1')).toStrictEqual({ ...queued, queuedWorkflows: [vip] });
        });
        await expect(
          tx(async (t) => {
            const { queuedWorkflows: _started, ...none } = queued;
            await t.updateConversation(none);
            expect(Object.hasOwn((await t.getConversation(WS_A, 'cv_1')) ?? {}, 'queuedWorkflows')).toBe(false);
            throw new Error('rolled back');
          }),
        ).rejects.toThrow('rolled back');
        expect((await store.read((t) => t.getConversation(WS_A, 'cv_1')))?.queuedWorkflows).toEqual([vip]);
      });

      it('keeps them as they were when the transaction that changed them fails', async () => {
        await tx((t) => t.insertConversation(conversation(WS_A, 'cv_1', 'ct_ana', { deferredTemplates: ['request-consent-privacy'] })));
        await expect(
          tx(async (t) => {
            await t.updateConversation(conversation(WS_A, 'cv_1', 'ct_ana'));
            throw new Error('rolled back');
          }),
        ).rejects.toThrow('rolled back');
        expect((await store.read((t) => t.getConversation(WS_A, 'cv_1')))?.deferredTemplates).toEqual(['request-consent-privacy']);
      });
    });

    describe('workflow runs and timers', () => {
      beforeEach(seedWorkspaces);

      it('inserts, reads and updates runs with their JSON state', async () => {
        const started = run(WS_A, 'run_1', 'ct_ana', { conversationId: 'cv_1' });
        await tx(async (t) => {
          await t.insertRun(started);
          expect(await t.getRun(WS_A, 'run_1')).toStrictEqual(started);
          const advanced: WorkflowRunRow = {
            ...started,
            status: 'completed',
            state: { step: 'done', attempts: 2, answers: { email: 'ana@example.com' }, waiting: [] },
            updatedAt: at(8),
          };
          await t.updateRun(advanced);
          expect(await t.getRun(WS_A, 'run_1')).toStrictEqual(advanced);
          await expectCode(t.updateRun(run(WS_A, 'run_missing', 'ct_ana')), 'NOT_FOUND');
          await expectCode(t.insertRun(run(WS_A, 'run_1', 'ct_ana')), 'CONFLICT');
          await expectCode(t.insertRun(run(WS_A, 'run_2', 'ct_nobody')), 'NOT_FOUND');
        });
      });

      it('lists active runs of a contact, optionally on one channel, oldest first', async () => {
        await tx(async (t) => {
          await t.insertContact(contact(WS_A, 'ct_bob'));
          await t.insertRun(run(WS_A, 'run_late', 'ct_ana', { createdAt: at(5) }));
          await t.insertRun(run(WS_A, 'run_early', 'ct_ana', { createdAt: at(2) }));
          await t.insertRun(run(WS_A, 'run_sms', 'ct_ana', { channel: 'sms', createdAt: at(3) }));
          await t.insertRun(run(WS_A, 'run_done', 'ct_ana', { status: 'completed' }));
          await t.insertRun(run(WS_A, 'run_cancelled', 'ct_ana', { status: 'cancelled' }));
          await t.insertRun(run(WS_A, 'run_bob', 'ct_bob'));
          await t.insertRun(run(WS_B, 'run_b', 'ct_ana'));
          const ids = async (channel?: 'whatsapp' | 'sms'): Promise<string[]> =>
            (await t.listActiveRuns(WS_A, 'ct_ana', channel)).map((r) => r.id);
          expect(await ids()).toEqual(['run_early', 'run_sms', 'run_late']);
          expect(await ids('whatsapp')).toEqual(['run_early', 'run_late']);
          expect(await ids('sms')).toEqual(['run_sms']);
          expect((await t.listActiveRuns(WS_B, 'ct_ana')).map((r) => r.id)).toEqual(['run_b']);
        });
      });

      it('lists every run of a contact, whatever its status, by creation time then id, within its workspace', async () => {
        const completed = run(WS_A, 'run_b_done', 'ct_ana', {
          status: 'completed',
          createdAt: at(2),
          state: { lastAnswer: { text: 'ana@example.com' } },
        });
        await tx(async (t) => {
          await t.insertContact(contact(WS_A, 'ct_bob'));
          await t.insertRun(run(WS_A, 'run_late', 'ct_ana', { createdAt: at(5) }));
          await t.insertRun(completed);
          await t.insertRun(run(WS_A, 'run_a_cancelled', 'ct_ana', { status: 'cancelled', createdAt: at(2) }));
          await t.insertRun(run(WS_A, 'run_first', 'ct_ana', { channel: 'sms', createdAt: at(1) }));
          await t.insertRun(run(WS_A, 'run_bob', 'ct_bob', { createdAt: at(0) }));
          await t.insertRun(run(WS_B, 'run_other_ws', 'ct_ana', { createdAt: at(0) }));
          const listed = await t.listRunsOfContact(WS_A, 'ct_ana');
          expect(listed.map((r) => r.id)).toEqual(['run_first', 'run_a_cancelled', 'run_b_done', 'run_late']);
          expect(listed[2]).toStrictEqual(completed);
          expect((await t.listRunsOfContact(WS_B, 'ct_ana')).map((r) => r.id)).toEqual(['run_other_ws']);
          expect(await t.listRunsOfContact(WS_A, 'ct_nobody')).toEqual([]);
          const first = listed[0];
          if (first && typeof first.state === 'object' && first.state !== null) Object.assign(first.state, { step: 'mutated' });
          expect((await t.listRunsOfContact(WS_A, 'ct_ana'))[0]).toStrictEqual(run(WS_A, 'run_first', 'ct_ana', { channel: 'sms', createdAt: at(1) }));
        });
      });

      it('never returns a run of another workspace', async () => {
        await tx(async (t) => {
          await t.insertRun(run(WS_A, 'run_1', 'ct_ana'));
          expect(await t.getRun(WS_B, 'run_1')).toBeUndefined();
          expect(await t.listActiveRuns(WS_B, 'ct_ana')).toEqual([]);
          await expectCode(t.updateRun(run(WS_B, 'run_1', 'ct_ana', { status: 'cancelled' })), 'NOT_FOUND');
          expect((await t.getRun(WS_A, 'run_1'))?.status).toBe('active');
        });
      });

      it('hands out copies of run state', async () => {
        await tx((t) => t.insertRun(run(WS_A, 'run_1', 'ct_ana')));
        await tx(async (t) => {
          const read = await t.getRun(WS_A, 'run_1');
          expect(read?.state).toEqual(run(WS_A, 'run_1', 'ct_ana').state);
          if (read && typeof read.state === 'object' && read.state !== null) Object.assign(read.state, { step: 'mutated' });
          expect(await t.getRun(WS_A, 'run_1')).toStrictEqual(run(WS_A, 'run_1', 'ct_ana'));
        });
      });

      it('keeps one timer per run: setting replaces, deleting removes', async () => {
        await tx(async (t) => {
          await t.insertRun(run(WS_A, 'run_1', 'ct_ana'));
          expect(await t.getTimer('run_1')).toBeUndefined();
          expect(await t.countTimers()).toBe(0);
          await t.setTimer(timer(WS_A, 'run_1', at(60), 'wait-1'));
          await t.setTimer(timer(WS_A, 'run_1', at(120), 'wait-2'));
          expect(await t.getTimer('run_1')).toStrictEqual(timer(WS_A, 'run_1', at(120), 'wait-2'));
          expect(await t.countTimers()).toBe(1);
          expect(await t.listDueTimers(at(90), 10)).toEqual([]);
          expect(await t.listDueTimers(at(120), 10)).toStrictEqual([timer(WS_A, 'run_1', at(120), 'wait-2')]);
          await t.deleteTimer('run_1');
          await t.deleteTimer('run_1');
          expect(await t.getTimer('run_1')).toBeUndefined();
          expect(await t.countTimers()).toBe(0);
          await expectCode(t.setTimer(timer(WS_A, 'run_missing', at(1))), 'NOT_FOUND');
          await expectCode(t.setTimer(timer(WS_B, 'run_1', at(1))), 'NOT_FOUND');
          expect(await t.countTimers()).toBe(0);
        });
      });

      it('lists due timers across workspaces by due time then run id, up to a limit', async () => {
        await tx(async (t) => {
          for (const [ws, id] of [
            [WS_A, 'run_a1'],
            [WS_A, 'run_a2'],
            [WS_B, 'run_b1'],
            [WS_B, 'run_b2'],
            [WS_A, 'run_a3'],
          ] as const) {
            await t.insertRun(run(ws, id, 'ct_ana'));
          }
          await t.setTimer(timer(WS_A, 'run_a1', at(30)));
          await t.setTimer(timer(WS_A, 'run_a2', at(10)));
          await t.setTimer(timer(WS_B, 'run_b1', at(10)));
          await t.setTimer(timer(WS_B, 'run_b2', at(20)));
          await t.setTimer(timer(WS_A, 'run_a3', at(31)));
          const due = async (now: string, limit: number): Promise<string[]> =>
            (await t.listDueTimers(now, limit)).map((x) => x.runId);
          expect(await due(at(5), 10)).toEqual([]);
          expect(await due(at(30), 10)).toEqual(['run_a2', 'run_b1', 'run_b2', 'run_a1']);
          expect(await due(at(30), 2)).toEqual(['run_a2', 'run_b1']);
          expect(await due(at(1000), 10)).toEqual(['run_a2', 'run_b1', 'run_b2', 'run_a1', 'run_a3']);
          expect(await t.countTimers()).toBe(5);
        });
      });

      it("lists one contact's due timers on a channel, of active runs only, earliest first", async () => {
        await tx(async (t) => {
          await t.insertContact(contact(WS_A, 'ct_bob'));
          await t.insertRun(run(WS_A, 'run_late', 'ct_ana'));
          await t.insertRun(run(WS_A, 'run_early', 'ct_ana'));
          await t.insertRun(run(WS_A, 'run_sms', 'ct_ana', { channel: 'sms' }));
          await t.insertRun(run(WS_A, 'run_bob', 'ct_bob'));
          await t.insertRun(run(WS_A, 'run_done', 'ct_ana'));
          await t.insertRun(run(WS_B, 'run_other_ws', 'ct_ana'));
          await t.setTimer(timer(WS_A, 'run_late', at(30)));
          await t.setTimer(timer(WS_A, 'run_early', at(10)));
          await t.setTimer(timer(WS_A, 'run_sms', at(10)));
          await t.setTimer(timer(WS_A, 'run_bob', at(10)));
          await t.setTimer(timer(WS_A, 'run_done', at(10)));
          await t.setTimer(timer(WS_B, 'run_other_ws', at(10)));
          const done = await t.getRun(WS_A, 'run_done');
          if (done) await t.updateRun({ ...done, status: 'completed' });
          const due = async (now: string): Promise<string[]> => (await t.listDueTimersOfContact(WS_A, 'ct_ana', 'whatsapp', now)).map((x) => x.runId);
          expect(await due(at(5))).toEqual([]);
          expect(await due(at(10))).toEqual(['run_early']);
          expect(await due(at(60))).toEqual(['run_early', 'run_late']);
          expect(await t.listDueTimersOfContact(WS_A, 'ct_ana', 'whatsapp', at(60))).toStrictEqual([timer(WS_A, 'run_early', at(10)), timer(WS_A, 'run_late', at(30))]);
          expect((await t.listDueTimersOfContact(WS_A, 'ct_ana', 'sms', at(60))).map((x) => x.runId)).toEqual(['run_sms']);
          await expectCode(t.listDueTimersOfContact(WS_A, 'ct_ana', 'whatsapp', '2026-01-01'), 'VALIDATION_FAILED');
        });
      });

      it('accepts only Date.toISOString() timestamps where it compares them', async () => {
        await tx(async (t) => {
          await t.insertRun(run(WS_A, 'run_1', 'ct_ana'));
          await expectCode(t.setTimer(timer(WS_A, 'run_1', '2026-01-01T00:00:00Z')), 'VALIDATION_FAILED');
          await expectCode(t.setTimer(timer(WS_A, 'run_1', '2026-01-01T01:00:00.000+01:00')), 'VALIDATION_FAILED');
          await expectCode(t.listDueTimers('2026-01-01', 10), 'VALIDATION_FAILED');
          expect(await t.getTimer('run_1')).toBeUndefined();
        });
      });
    });

    describe('processed messages', () => {
      beforeEach(seedWorkspaces);

      it('stores the answer per workspace, channel and message id', async () => {
        const message: ProcessedMessage = {
          workspaceId: WS_A,
          channel: 'whatsapp',
          messageId: 'wamid.1',
          contactId: 'ct_ana',
          response: { contactId: 'ct_ana', replies: [{ text: 'Thanks!' }], keyword: null },
          processedAt: at(4),
        };
        await tx(async (t) => {
          expect(await t.getProcessedMessage(WS_A, 'whatsapp', 'wamid.1')).toBeUndefined();
          await t.saveProcessedMessage(message);
          await t.saveProcessedMessage({ ...message, channel: 'sms', response: { other: true } });
          expect(await t.getProcessedMessage(WS_A, 'whatsapp', 'wamid.1')).toStrictEqual(message);
          expect((await t.getProcessedMessage(WS_A, 'sms', 'wamid.1'))?.response).toEqual({ other: true });
          expect(await t.getProcessedMessage(WS_B, 'whatsapp', 'wamid.1')).toBeUndefined();
          await expectCode(t.saveProcessedMessage({ ...message, response: 'again' }), 'CONFLICT');
          await expectCode(t.saveProcessedMessage({ ...message, workspaceId: 'ws_missing' }), 'NOT_FOUND');
          const read = await t.getProcessedMessage(WS_A, 'whatsapp', 'wamid.1');
          if (read && typeof read.response === 'object' && read.response !== null) Object.assign(read.response, { keyword: 'x' });
          expect(await t.getProcessedMessage(WS_A, 'whatsapp', 'wamid.1')).toStrictEqual(message);
          await t.saveProcessedMessage({ ...message, messageId: 'wamid.anonymous', contactId: null });
          expect((await t.getProcessedMessage(WS_A, 'whatsapp', 'wamid.anonymous'))?.contactId).toBeNull();
        });
      });

      const answer = (workspaceId: string, channel: 'whatsapp' | 'sms', messageId: string, contactId: string | null): ProcessedMessage => ({
        workspaceId,
        channel,
        messageId,
        contactId,
        response: { contactId, replies: [{ text: `Hi Ana, this answers ${messageId}` }] },
        processedAt: at(4),
      });

      it("lists a contact's stored answers by channel then message id, within its workspace", async () => {
        await tx(async (t) => {
          await t.saveProcessedMessage(answer(WS_A, 'whatsapp', 'wamid.2', 'ct_ana'));
          await t.saveProcessedMessage(answer(WS_A, 'whatsapp', 'wamid.1', 'ct_ana'));
          await t.saveProcessedMessage(answer(WS_A, 'sms', 'sm.9', 'ct_ana'));
          await t.saveProcessedMessage(answer(WS_A, 'whatsapp', 'wamid.3', 'ct_bob'));
          await t.saveProcessedMessage(answer(WS_A, 'whatsapp', 'wamid.4', null));
          await t.saveProcessedMessage(answer(WS_B, 'whatsapp', 'wamid.1', 'ct_ana'));
        });
        await tx(async (t) => {
          const listed = await t.listProcessedMessagesOfContact(WS_A, 'ct_ana');
          expect(listed.map((m) => `${m.channel}:${m.messageId}`)).toEqual(['sms:sm.9', 'whatsapp:wamid.1', 'whatsapp:wamid.2']);
          expect(listed[1]).toStrictEqual(answer(WS_A, 'whatsapp', 'wamid.1', 'ct_ana'));
          expect(await t.listProcessedMessagesOfContact(WS_B, 'ct_ana')).toStrictEqual([answer(WS_B, 'whatsapp', 'wamid.1', 'ct_ana')]);
          expect((await t.listProcessedMessagesOfContact(WS_A, 'ct_bob')).map((m) => m.messageId)).toEqual(['wamid.3']);
          expect(await t.listProcessedMessagesOfContact(WS_A, 'ct_nobody')).toEqual([]);
          const first = listed[0];
          if (first && typeof first.response === 'object' && first.response !== null) Object.assign(first.response, { replies: [] });
          expect((await t.listProcessedMessagesOfContact(WS_A, 'ct_ana'))[0]).toStrictEqual(answer(WS_A, 'sms', 'sm.9', 'ct_ana'));
        });
      });

      it('replaces a stored answer within its workspace only, keeping key, contact and time, and rolls back with its transaction', async () => {
        const original = answer(WS_A, 'whatsapp', 'wamid.1', 'ct_ana');
        const redacted = { contactId: 'ct_ana', replies: [{ text: '[erased]' }] };
        await tx(async (t) => {
          await t.saveProcessedMessage(original);
          await t.saveProcessedMessage(answer(WS_B, 'whatsapp', 'wamid.1', 'ct_ana'));
        });
        await tx(async (t) => {
          expect(await t.replaceProcessedResponse(WS_A, 'whatsapp', 'wamid.missing', redacted)).toBe(false);
          expect(await t.replaceProcessedResponse(WS_A, 'sms', 'wamid.1', redacted)).toBe(false);
          expect(await t.replaceProcessedResponse('ws_missing', 'whatsapp', 'wamid.1', redacted)).toBe(false);
        });
        await expect(
          tx(async (t) => {
            expect(await t.replaceProcessedResponse(WS_A, 'whatsapp', 'wamid.1', redacted)).toBe(true);
            expect((await t.getProcessedMessage(WS_A, 'whatsapp', 'wamid.1'))?.response).toStrictEqual(redacted);
            throw new Error('roll back');
          }),
        ).rejects.toThrow('roll back');
        expect(await tx((t) => t.getProcessedMessage(WS_A, 'whatsapp', 'wamid.1'))).toStrictEqual(original);
        expect(await tx((t) => t.replaceProcessedResponse(WS_A, 'whatsapp', 'wamid.1', redacted))).toBe(true);
        await tx(async (t) => {
          expect(await t.getProcessedMessage(WS_A, 'whatsapp', 'wamid.1')).toStrictEqual({ ...original, response: redacted });
          expect(await t.listProcessedMessagesOfContact(WS_A, 'ct_ana')).toStrictEqual([{ ...original, response: redacted }]);
          expect(await t.getProcessedMessage(WS_B, 'whatsapp', 'wamid.1')).toStrictEqual(answer(WS_B, 'whatsapp', 'wamid.1', 'ct_ana'));
        });
      });
    });

    describe('outbox events', () => {
      beforeEach(seedWorkspaces);

      it('assigns consecutive positions and reads events back within their workspace', async () => {
        const first = taggedEvent(WS_A, 'evt_01', 'ct_ana');
        const second = updatedEvent(WS_B, 'evt_02', 'ct_ana');
        const [p1, p2] = await tx(async (t) => [await t.appendEvent(first), await t.appendEvent(second)]);
        expect(p1).toStrictEqual({ ...first, position: p1?.position });
        expect(p2?.position).toBe((p1?.position ?? 0) + 1);
        await tx(async (t) => {
          expect(await t.getEvent(WS_A, 'evt_01')).toStrictEqual({ ...first, position: p1?.position });
          expect(await t.getEvent(WS_B, 'evt_01')).toBeUndefined();
          expect(await t.getEvent(WS_A, 'evt_02')).toBeUndefined();
          expect(await t.getEvent(WS_A, 'evt_missing')).toBeUndefined();
          await expectCode(t.appendEvent(taggedEvent(WS_A, 'evt_01', 'ct_ana', 'again')), 'CONFLICT');
          await expectCode(t.appendEvent(taggedEvent('ws_missing', 'evt_09', null)), 'NOT_FOUND');
        });
      });

      it('gives an id floor at or above every event and contact id of the workspace written before, in this transaction or earlier', async () => {
        expect(await tx((t) => t.idFloor(WS_A))).toBe('ct_ana');
        await tx(async (t) => {
          await t.appendEvent(taggedEvent(WS_A, 'evt_a1', 'ct_ana'));
          expect(await t.idFloor(WS_A)).toBe('evt_a1');
          await t.insertContact(contact(WS_A, 'zz_contact'));
          expect(await t.idFloor(WS_A)).toBe('zz_contact');
        });
        expect(await tx((t) => t.idFloor(WS_A))).toBe('zz_contact');
        await tx((t) => t.appendEvent(taggedEvent(WS_A, 'evt_a2', 'ct_ana')));
        expect(await tx((t) => t.idFloor(WS_A))).toBe('zz_contact');
      });

      it('replaces an event\'s data for erasure only within its workspace, and rolls back with its transaction', async () => {
        const original = taggedEvent(WS_A, 'evt_erase', 'ct_ana');
        const stored = await tx((t) => t.appendEvent(original));
        const redacted = { contactId: 'ct_ana', tag: '[erased]' };
        await tx(async (t) => {
          expect(await t.replaceEventData(WS_B, 'evt_erase', redacted)).toBe(false);
          expect(await t.replaceEventData(WS_A, 'evt_missing', redacted)).toBe(false);
        });
        await expect(
          tx(async (t) => {
            expect(await t.replaceEventData(WS_A, 'evt_erase', redacted)).toBe(true);
            throw new Error('roll back');
          }),
        ).rejects.toThrow('roll back');
        expect((await tx((t) => t.getEvent(WS_A, 'evt_erase')))?.data).toStrictEqual(original.data);
        expect(await tx((t) => t.replaceEventData(WS_A, 'evt_erase', redacted))).toBe(true);
        expect(await tx((t) => t.getEvent(WS_A, 'evt_erase'))).toStrictEqual({ ...original, data: redacted, position: stored.position });
      });

      it('keeps event ids unique within a workspace, not across workspaces', async () => {
        const [a, b] = await tx(async (t) => [
          await t.appendEvent(taggedEvent(WS_A, 'evt_same', 'ct_ana')),
          await t.appendEvent(taggedEvent(WS_B, 'evt_same', 'ct_ana')),
        ]);
        expect(b?.position).toBe((a?.position ?? 0) + 1);
        await tx(async (t) => {
          expect((await t.getEvent(WS_A, 'evt_same'))?.position).toBe(a?.position);
          expect((await t.getEvent(WS_B, 'evt_same'))?.position).toBe(b?.position);
          await expectCode(t.appendEvent(updatedEvent(WS_B, 'evt_same', 'ct_ana')), 'CONFLICT');
        });
      });

      /** Five events of workspace A appended out of id order (the listing follows ids, not positions), and one of workspace B. */
      const appendListedEvents = async (t: StoreTx): Promise<void> => {
        await t.appendEvent(taggedEvent(WS_A, 'evt_05', 'ct_ana'));
        await t.appendEvent(updatedEvent(WS_A, 'evt_01', 'ct_ana'));
        await t.appendEvent(taggedEvent(WS_A, 'evt_03', 'ct_bob'));
        await t.appendEvent(updatedEvent(WS_A, 'evt_04', 'ct_bob'));
        await t.appendEvent(taggedEvent(WS_A, 'evt_02', null));
        await t.appendEvent(taggedEvent(WS_B, 'evt_06', 'ct_ana'));
      };

      it('lists newest first by id, with type, contact, cursor and limit filters', async () => {
        await tx(async (t) => {
          await appendListedEvents(t);
          const ids = async (query: Parameters<StoreTx['listEvents']>[1]): Promise<string[]> =>
            (await t.listEvents(WS_A, query)).map((e) => e.id);
          expect(await ids({ limit: 10 })).toEqual(['evt_05', 'evt_04', 'evt_03', 'evt_02', 'evt_01']);
          expect(await ids({ limit: 2 })).toEqual(['evt_05', 'evt_04']);
          expect(await ids({ limit: 2, beforeId: 'evt_04' })).toEqual(['evt_03', 'evt_02']);
          expect(await ids({ limit: 10, types: ['contact.tagged'] })).toEqual(['evt_05', 'evt_03', 'evt_02']);
          expect(await ids({ limit: 10, types: ['contact.tagged', 'contact.updated'] })).toEqual(['evt_05', 'evt_04', 'evt_03', 'evt_02', 'evt_01']);
          // Several types, merged newest first, with every filter, the limit over all of them, and a type named twice counted once.
          expect(await ids({ limit: 3, types: ['contact.updated', 'contact.tagged', 'contact.updated'] })).toEqual(['evt_05', 'evt_04', 'evt_03']);
          expect(await ids({ limit: 2, types: ['contact.tagged', 'contact.updated'], beforeId: 'evt_04' })).toEqual(['evt_03', 'evt_02']);
          expect(await ids({ limit: 10, types: ['contact.tagged', 'contact.updated', 'consent.given'], contactId: 'ct_bob', beforeId: 'evt_05' })).toEqual(['evt_04', 'evt_03']);
          expect(await ids({ limit: 10, types: ['consent.given', 'consent.withdrawn'] })).toEqual([]);
          expect(await ids({ limit: 10, types: ['consent.given'] })).toEqual([]);
          expect(await ids({ limit: 10, types: [] })).toHaveLength(5);
          expect(await ids({ limit: 10, contactId: 'ct_bob' })).toEqual(['evt_04', 'evt_03']);
          expect(await ids({ limit: 10, contactId: 'ct_ana', types: ['contact.updated'] })).toEqual(['evt_01']);
          expect(await ids({ limit: 1, contactId: 'ct_ana', beforeId: 'evt_05' })).toEqual(['evt_01']);
          expect((await t.listEvents(WS_B, { limit: 10 })).map((e) => e.id)).toEqual(['evt_06']);
          const listed = await t.listEvents(WS_A, { limit: 1, types: ['contact.updated'], beforeId: 'evt_02' });
          expect(listed).toStrictEqual([{ ...updatedEvent(WS_A, 'evt_01', 'ct_ana'), position: listed[0]?.position }]);
        });
      });

      it('lists oldest first after an id, with type, contact and limit filters', async () => {
        await tx(async (t) => {
          await appendListedEvents(t);
          const ids = async (query: Parameters<StoreTx['listEvents']>[1]): Promise<string[]> =>
            (await t.listEvents(WS_A, query)).map((e) => e.id);
          expect(await ids({ limit: 10, afterId: 'evt_00' })).toEqual(['evt_01', 'evt_02', 'evt_03', 'evt_04', 'evt_05']);
          expect(await ids({ limit: 2, afterId: 'evt_01' })).toEqual(['evt_02', 'evt_03']);
          expect(await ids({ limit: 10, afterId: 'evt_05' })).toEqual([]);
          expect(await ids({ limit: 10, afterId: 'evt_01', types: ['contact.tagged'] })).toEqual(['evt_02', 'evt_03', 'evt_05']);
          // Several types merged oldest first, the limit over all of them.
          expect(await ids({ limit: 3, afterId: 'evt_01', types: ['contact.updated', 'contact.tagged'] })).toEqual(['evt_02', 'evt_03', 'evt_04']);
          expect(await ids({ limit: 10, afterId: 'evt_02', types: ['contact.tagged', 'contact.updated'], contactId: 'ct_bob' })).toEqual(['evt_03', 'evt_04']);
          expect(await ids({ limit: 10, afterId: 'evt_01', contactId: 'ct_ana' })).toEqual(['evt_05']);
          expect((await t.listEvents(WS_B, { limit: 10, afterId: 'evt_00' })).map((e) => e.id)).toEqual(['evt_06']);
        });
      });

      it('lists events of every workspace after a position, in append order', async () => {
        const appended = await tx(async (t) => [
          await t.appendEvent(taggedEvent(WS_A, 'evt_b', 'ct_ana')),
          await t.appendEvent(taggedEvent(WS_B, 'evt_a', 'ct_ana')),
          await t.appendEvent(updatedEvent(WS_A, 'evt_c', 'ct_ana')),
        ]);
        const start = (appended[0]?.position ?? 0) - 1;
        await tx(async (t) => {
          expect(await t.listEventsAfter(start, 10)).toStrictEqual(appended);
          expect((await t.listEventsAfter(start, 2)).map((e) => e.id)).toEqual(['evt_b', 'evt_a']);
          expect((await t.listEventsAfter(appended[1]?.position ?? 0, 10)).map((e) => e.id)).toEqual(['evt_c']);
          expect(await t.listEventsAfter(appended[2]?.position ?? 0, 10)).toEqual([]);
        });
      });

      it('hands out copies of event data', async () => {
        const input = taggedEvent(WS_A, 'evt_01', 'ct_ana', 'vip');
        const stored = await tx((t) => t.appendEvent(input));
        input.data.tag = 'mutated-input';
        if (stored.type === 'contact.tagged') Object.assign(stored.data, { tag: 'mutated-output' });
        await tx(async (t) => {
          const read = await t.getEvent(WS_A, 'evt_01');
          expect(read?.data).toEqual({ contactId: 'ct_ana', tag: 'vip' });
          if (read) Object.assign(read.data, { tag: 'mutated-read' });
          expect((await t.listEventsAfter(0, 10))[0]?.data).toEqual({ contactId: 'ct_ana', tag: 'vip' });
        });
      });
    });

    describe('meta', () => {
      it('stores JSON values by key', async () => {
        const cursor = { position: 42, paused: false, hooks: ['zapier', 'slack'] };
        await tx(async (t) => {
          expect(await t.getMeta('dispatcher.cursor')).toBeUndefined();
          await t.setMeta('dispatcher.cursor', cursor);
          await t.setMeta('counter', 7);
          await t.setMeta('label', 'text');
          await t.setMeta('nothing', null);
        });
        cursor.hooks.push('mutated');
        await tx(async (t) => {
          expect(await t.getMeta('dispatcher.cursor')).toStrictEqual({ position: 42, paused: false, hooks: ['zapier', 'slack'] });
          expect(await t.getMeta('counter')).toBe(7);
          expect(await t.getMeta('label')).toBe('text');
          expect(await t.getMeta('nothing')).toBeNull();
          await t.setMeta('counter', 8);
          expect(await t.getMeta('counter')).toBe(8);
          const read = await t.getMeta('dispatcher.cursor');
          if (read && typeof read === 'object') Object.assign(read, { position: -1 });
          expect(await t.getMeta('dispatcher.cursor')).toStrictEqual({ position: 42, paused: false, hooks: ['zapier', 'slack'] });
        });
      });
    });

    describe('API keys', () => {
      beforeEach(seedWorkspaces);

      it('round-trips a key and finds it by hash across workspaces, or by id', async () => {
        const full = apiKey(WS_B, 'key_full', { lastUsedAt: at(3), revokedAt: at(4) });
        const bare = apiKey(WS_A, 'key_bare', { name: null });
        await tx(async (t) => {
          await t.insertApiKey(full);
          await t.insertApiKey(bare);
        });
        await tx(async (t) => {
          expect(await t.findApiKeyByHash('sha256-of-key_full')).toStrictEqual(full);
          expect(await t.findApiKeyByHash('sha256-of-key_bare')).toStrictEqual(bare);
          expect(await t.findApiKeyByHash('sha256-of-nothing')).toBeUndefined();
          expect(await t.getApiKey('key_full')).toStrictEqual(full);
          expect(await t.getApiKey('key_missing')).toBeUndefined();
          const read = await t.getApiKey('key_bare');
          if (read) read.revokedAt = at(9);
          expect((await t.findApiKeyByHash('sha256-of-key_bare'))?.revokedAt).toBeNull();
        });
      });

      it('lists keys newest first, of one workspace or of all', async () => {
        await tx(async (t) => {
          await t.insertApiKey(apiKey(WS_A, 'key_a_old', { createdAt: at(1) }));
          await t.insertApiKey(apiKey(WS_A, 'key_a_new', { createdAt: at(5) }));
          await t.insertApiKey(apiKey(WS_B, 'key_b', { createdAt: at(3) }));
          await t.insertApiKey(apiKey(WS_A, 'key_a_tie', { createdAt: at(5) }));
          const ids = async (workspaceId?: string): Promise<string[]> => (await t.listApiKeys(workspaceId)).map((k) => k.id);
          expect(await ids(WS_A)).toEqual(['key_a_tie', 'key_a_new', 'key_a_old']);
          expect(await ids(WS_B)).toEqual(['key_b']);
          expect(await ids('ws_missing')).toEqual([]);
          expect(await ids()).toEqual(['key_a_tie', 'key_a_new', 'key_b', 'key_a_old']);
        });
      });

      it('rejects a taken id, a taken hash (in any workspace) and an unknown workspace', async () => {
        await tx(async (t) => {
          await t.insertApiKey(apiKey(WS_A, 'key_1'));
          await expectCode(t.insertApiKey(apiKey(WS_A, 'key_1', { hash: 'sha256-other' })), 'CONFLICT');
          await expectCode(t.insertApiKey(apiKey(WS_B, 'key_2', { hash: 'sha256-of-key_1' })), 'CONFLICT');
          await expectCode(t.insertApiKey(apiKey('ws_missing', 'key_3')), 'NOT_FOUND');
          await expectCode(t.insertApiKey(apiKey(WS_A, 'key_4', { createdAt: '2026-01-01T00:00:00Z' })), 'VALIDATION_FAILED');
          expect(await t.findApiKeyByHash('sha256-other')).toBeUndefined();
          expect(await t.getApiKey('key_2')).toBeUndefined();
          expect(await t.getApiKey('key_3')).toBeUndefined();
          expect((await t.listApiKeys()).map((k) => k.id)).toEqual(['key_1']);
        });
      });

      it('updateApiKey replaces the row within its workspace', async () => {
        await tx(async (t) => {
          await t.insertApiKey(apiKey(WS_A, 'key_1'));
          await t.insertApiKey(apiKey(WS_A, 'key_2'));
          const used: ApiKeyRow = { ...apiKey(WS_A, 'key_1'), name: 'Renamed', lastUsedAt: at(7), revokedAt: at(8) };
          await t.updateApiKey(used);
          expect(await t.getApiKey('key_1')).toStrictEqual(used);
          expect(await t.findApiKeyByHash('sha256-of-key_1')).toStrictEqual(used);
          await t.updateApiKey({ ...used, hash: 'sha256-rotated' });
          expect(await t.findApiKeyByHash('sha256-of-key_1')).toBeUndefined();
          expect((await t.findApiKeyByHash('sha256-rotated'))?.id).toBe('key_1');
          await expectCode(t.updateApiKey({ ...used, hash: 'sha256-of-key_2', name: 'Clash' }), 'CONFLICT');
          expect((await t.getApiKey('key_1'))?.name).toBe('Renamed');
          expect((await t.findApiKeyByHash('sha256-of-key_2'))?.id).toBe('key_2');
          await expectCode(t.updateApiKey(apiKey(WS_A, 'key_missing')), 'NOT_FOUND');
          await expectCode(t.updateApiKey({ ...used, workspaceId: WS_B, name: 'Moved' }), 'NOT_FOUND');
          expect((await t.getApiKey('key_1'))?.workspaceId).toBe(WS_A);
        });
      });
    });

    describe('hooks', () => {
      beforeEach(seedWorkspaces);

      it('round-trips hooks, filters included, and reads them only within their workspace', async () => {
        const filtered = hook(WS_A, 'hk_filtered', { event: '*', filter: { tag: 'VIP', channel: 'whatsapp' } });
        const plain = hook(WS_A, 'hk_plain', { event: 'consent.given' });
        await tx(async (t) => {
          await t.insertHook(filtered);
          await t.insertHook(plain);
        });
        await tx(async (t) => {
          expect(await t.getHook(WS_A, 'hk_filtered')).toStrictEqual(filtered);
          expect(await t.getHook(WS_A, 'hk_plain')).toStrictEqual(plain);
          expect(await t.getHook(WS_B, 'hk_filtered')).toBeUndefined();
          expect(await t.getHook(WS_A, 'hk_missing')).toBeUndefined();
          expect(await t.listHooks(WS_B)).toEqual([]);
        });
      });

      it('hands out copies of filters', async () => {
        const input = hook(WS_A, 'hk_1', { filter: { tag: 'VIP' } });
        await tx((t) => t.insertHook(input));
        if (input.filter) input.filter.tag = 'mutated-input';
        await tx(async (t) => {
          const read = await t.getHook(WS_A, 'hk_1');
          expect(read?.filter).toEqual({ tag: 'VIP' });
          if (read?.filter) read.filter.tag = 'mutated-output';
          expect((await t.listHooks(WS_A))[0]?.filter).toEqual({ tag: 'VIP' });
        });
      });

      it('lists live hooks oldest first; getHook still returns deleted ones', async () => {
        await tx(async (t) => {
          await t.insertHook(hook(WS_A, 'hk_late', { createdAt: at(9) }));
          await t.insertHook(hook(WS_A, 'hk_b', { createdAt: at(2) }));
          await t.insertHook(hook(WS_A, 'hk_a', { createdAt: at(2) }));
          await t.insertHook(hook(WS_A, 'hk_gone', { createdAt: at(1), deletedAt: at(3), deletedReason: 'gone' }));
          await t.insertHook(hook(WS_B, 'hk_other', { createdAt: at(0) }));
          await t.insertHook(hook(WS_B, 'hk_off', { createdAt: at(5) }));
          await t.updateHook(hook(WS_B, 'hk_off', { createdAt: at(5), deletedAt: at(6), deletedReason: 'unsubscribed' }));
          expect((await t.listHooks(WS_A)).map((h) => h.id)).toEqual(['hk_a', 'hk_b', 'hk_late']);
          expect((await t.listHooks(WS_B)).map((h) => h.id)).toEqual(['hk_other']);
          expect((await t.listAllLiveHooks()).map((h) => [h.workspaceId, h.id])).toEqual([
            [WS_A, 'hk_a'],
            [WS_A, 'hk_b'],
            [WS_A, 'hk_late'],
            [WS_B, 'hk_other'],
          ]);
          expect(await t.getHook(WS_A, 'hk_gone')).toStrictEqual(
            hook(WS_A, 'hk_gone', { createdAt: at(1), deletedAt: at(3), deletedReason: 'gone' }),
          );
          expect((await t.getHook(WS_B, 'hk_off'))?.deletedReason).toBe('unsubscribed');
        });
      });

      it('rejects a taken id, an unknown workspace and an update of a hook it does not have', async () => {
        await tx(async (t) => {
          await t.insertHook(hook(WS_A, 'hk_1'));
          await expectCode(t.insertHook(hook(WS_B, 'hk_1')), 'CONFLICT');
          await expectCode(t.insertHook(hook('ws_missing', 'hk_2')), 'NOT_FOUND');
          await expectCode(t.insertHook(hook(WS_A, 'hk_3', { createdAt: '2026-01-01' })), 'VALIDATION_FAILED');
          await expectCode(t.updateHook(hook(WS_A, 'hk_missing')), 'NOT_FOUND');
          await expectCode(t.updateHook(hook(WS_B, 'hk_1', { deletedAt: at(2), deletedReason: 'gone' })), 'NOT_FOUND');
          expect(await t.getHook(WS_A, 'hk_1')).toStrictEqual(hook(WS_A, 'hk_1'));
          expect(await t.getHook(WS_B, 'hk_1')).toBeUndefined();
          expect((await t.listAllLiveHooks()).map((h) => h.id)).toEqual(['hk_1']);
        });
      });

      it('updateHook replaces the row', async () => {
        await tx(async (t) => {
          await t.insertHook(hook(WS_A, 'hk_1', { filter: { tag: 'VIP' } }));
          const changed = hook(WS_A, 'hk_1', {
            targetUrl: 'https://hooks.example.com/moved',
            event: 'consent.withdrawn',
            filter: null,
            secret: 'whsec_rotated',
          });
          await t.updateHook(changed);
          expect(await t.getHook(WS_A, 'hk_1')).toStrictEqual(changed);
          const deleted: HookRow = { ...changed, deletedAt: at(4), deletedReason: 'unsubscribed' };
          await t.updateHook(deleted);
          expect(await t.getHook(WS_A, 'hk_1')).toStrictEqual(deleted);
          expect(await t.listHooks(WS_A)).toEqual([]);
          expect(await t.listAllLiveHooks()).toEqual([]);
        });
      });

      it("keeps a hook's latest subscription id: none for a hook given none, and updateHook replaces it", async () => {
        await tx(async (t) => {
          await t.insertHook(hook(WS_A, 'hk_1', { subscriptionId: '01JNM0000000000000000000S1' }));
          await t.insertHook(hook(WS_A, 'hk_none'));
        });
        await tx(async (t) => {
          expect(await t.getHook(WS_A, 'hk_1')).toStrictEqual(hook(WS_A, 'hk_1', { subscriptionId: '01JNM0000000000000000000S1' }));
          expect((await t.getHook(WS_A, 'hk_none'))?.subscriptionId).toBeNull();
          expect((await t.listHooks(WS_A)).map((h) => [h.id, h.subscriptionId])).toEqual([
            ['hk_1', '01JNM0000000000000000000S1'],
            ['hk_none', null],
          ]);
          // A renewal records its subscription as the latest, on a hook that had one or none.
          await t.updateHook(hook(WS_A, 'hk_1', { subscriptionId: '01JNM0000000000000000000S2' }));
          await t.updateHook(hook(WS_A, 'hk_none', { subscriptionId: '01JNM0000000000000000000S3' }));
        });
        await tx(async (t) => {
          expect((await t.listAllLiveHooks()).map((h) => [h.id, h.subscriptionId])).toEqual([
            ['hk_1', '01JNM0000000000000000000S2'],
            ['hk_none', '01JNM0000000000000000000S3'],
          ]);
          const deleted = hook(WS_A, 'hk_1', { subscriptionId: '01JNM0000000000000000000S2', deletedAt: at(4), deletedReason: 'unsubscribed' });
          await t.updateHook(deleted);
          expect(await t.getHook(WS_A, 'hk_1')).toStrictEqual(deleted);
          await t.updateHook(hook(WS_A, 'hk_none', { subscriptionId: null }));
          expect((await t.getHook(WS_A, 'hk_none'))?.subscriptionId).toBeNull();
        });
      });

      it("remembers the API key that created a hook, and lists a key's live hooks of its workspace, oldest first", async () => {
        await tx(async (t) => {
          await t.insertApiKey(apiKey(WS_A, 'key_1'));
          await t.insertApiKey(apiKey(WS_A, 'key_2'));
          await t.insertApiKey(apiKey(WS_B, 'key_b'));
          await t.insertHook(hook(WS_A, 'hk_late', { apiKeyId: 'key_1', createdAt: at(5) }));
          await t.insertHook(hook(WS_A, 'hk_early', { apiKeyId: 'key_1', createdAt: at(2) }));
          await t.insertHook(hook(WS_A, 'hk_stopped', { apiKeyId: 'key_1', createdAt: at(1), deletedAt: at(3), deletedReason: 'unsubscribed' }));
          await t.insertHook(hook(WS_A, 'hk_other_key', { apiKeyId: 'key_2' }));
          await t.insertHook(hook(WS_A, 'hk_no_key'));
          await t.insertHook(hook(WS_B, 'hk_b', { apiKeyId: 'key_b' }));
        });
        await tx(async (t) => {
          expect(await t.getHook(WS_A, 'hk_late')).toStrictEqual(hook(WS_A, 'hk_late', { apiKeyId: 'key_1', createdAt: at(5) }));
          expect((await t.getHook(WS_A, 'hk_no_key'))?.apiKeyId).toBeNull();
          expect((await t.listLiveHooksOfApiKey(WS_A, 'key_1')).map((h) => h.id)).toEqual(['hk_early', 'hk_late']);
          expect((await t.listLiveHooksOfApiKey(WS_A, 'key_2')).map((h) => h.id)).toEqual(['hk_other_key']);
          // Scoped to the workspace, as every read of the port.
          expect(await t.listLiveHooksOfApiKey(WS_B, 'key_1')).toEqual([]);
          expect((await t.listLiveHooksOfApiKey(WS_B, 'key_b')).map((h) => h.apiKeyId)).toEqual(['key_b']);
          expect(await t.listLiveHooksOfApiKey(WS_A, 'key_missing')).toEqual([]);

          const revoked: HookRow = hook(WS_A, 'hk_early', { apiKeyId: 'key_1', createdAt: at(2), deletedAt: at(6), deletedReason: 'key_revoked' });
          await t.updateHook(revoked);
          expect(await t.getHook(WS_A, 'hk_early')).toStrictEqual(revoked);
          expect((await t.listLiveHooksOfApiKey(WS_A, 'key_1')).map((h) => h.id)).toEqual(['hk_late']);
          expect((await t.listHooks(WS_A)).map((h) => h.id)).toEqual(['hk_no_key', 'hk_other_key', 'hk_late']);
        });
      });

      it('refuses a hook naming an API key the store does not have', async () => {
        await tx(async (t) => {
          await t.insertApiKey(apiKey(WS_A, 'key_1'));
          await expectCode(t.insertHook(hook(WS_A, 'hk_1', { apiKeyId: 'key_missing' })), 'NOT_FOUND');
          await t.insertHook(hook(WS_A, 'hk_1', { apiKeyId: 'key_1' }));
          await expectCode(t.updateHook(hook(WS_A, 'hk_1', { apiKeyId: 'key_missing' })), 'NOT_FOUND');
          expect((await t.getHook(WS_A, 'hk_1'))?.apiKeyId).toBe('key_1');
        });
      });

      it('revoking an API key deletes the live hooks it created, key_revoked, and abandons their pending deliveries', async () => {
        const clock = new FakeClock(at(10));
        await tx(async (t) => {
          await t.insertApiKey(apiKey(WS_A, 'key_1'));
          await t.insertApiKey(apiKey(WS_A, 'key_2'));
          await t.insertHook(hook(WS_A, 'hk_1', { apiKeyId: 'key_1' }));
          await t.insertHook(hook(WS_A, 'hk_2', { apiKeyId: 'key_1', createdAt: at(2) }));
          await t.insertHook(hook(WS_A, 'hk_other_key', { apiKeyId: 'key_2' }));
          await t.insertHook(hook(WS_A, 'hk_no_key'));
          await t.insertDelivery(delivery(WS_A, 'dl_1', 'hk_1', 1));
          await t.insertDelivery(delivery(WS_A, 'dl_2', 'hk_2', 2, { attempts: 2, lastStatusCode: 503, lastError: 'HTTP 503' }));
          await t.insertDelivery(delivery(WS_A, 'dl_3', 'hk_2', 3, { status: 'delivered', deliveredAt: at(3) }));
          await t.insertDelivery(delivery(WS_A, 'dl_4', 'hk_other_key', 4));
          await t.insertDelivery(delivery(WS_A, 'dl_5', 'hk_no_key', 5));
        });

        const revoked = await revokeApiKey(store, 'key_1', clock);
        expect(revoked).toStrictEqual({ key: apiKey(WS_A, 'key_1', { revokedAt: at(10) }), hooksRemoved: 2 });
        const notSent = 'not sent: the hook was deleted when the API key that created it was revoked';
        await tx(async (t) => {
          for (const [id, createdAt] of [['hk_1', at(1)], ['hk_2', at(2)]] as const) {
            expect(await t.getHook(WS_A, id)).toStrictEqual(hook(WS_A, id, { apiKeyId: 'key_1', createdAt, deletedAt: at(10), deletedReason: 'key_revoked' }));
          }
          expect((await t.getHook(WS_A, 'hk_other_key'))?.deletedAt).toBeNull();
          expect((await t.getHook(WS_A, 'hk_no_key'))?.deletedAt).toBeNull();
          expect((await t.listHooks(WS_A)).map((h) => h.id)).toEqual(['hk_no_key', 'hk_other_key']);
          expect(await t.getDelivery(WS_A, 'dl_1')).toMatchObject({ status: 'dead', lastError: notSent, updatedAt: at(10) });
          expect(await t.getDelivery(WS_A, 'dl_2')).toMatchObject({ status: 'dead', attempts: 2, lastStatusCode: 503, lastError: notSent });
          expect((await t.getDelivery(WS_A, 'dl_3'))?.status).toBe('delivered');
          expect((await t.listReadyDeliveriesByHook(at(10), { perHook: 10, hooks: 10 })).map((group) => group.map((d) => d.id)).sort()).toEqual([['dl_4'], ['dl_5']]);
          expect(await t.deliveryBacklog()).toMatchObject({ pending: 2, dead: 0, unsubscribed: 2 });
        });

        // Revoking it again changes nothing: not the time of the revocation, not its hooks.
        clock.advance(60_000);
        expect(await revokeApiKey(store, 'key_1', clock)).toStrictEqual({ key: apiKey(WS_A, 'key_1', { revokedAt: at(10) }), hooksRemoved: 0 });
        expect((await tx((t) => t.getHook(WS_A, 'hk_1')))?.deletedAt).toBe(at(10));
      });

      it('revokes the key only together with deleting its hooks: a failure leaves both as they were', async () => {
        await tx(async (t) => {
          await t.insertApiKey(apiKey(WS_A, 'key_1'));
          await t.insertHook(hook(WS_A, 'hk_1', { apiKeyId: 'key_1' }));
          await t.insertDelivery(delivery(WS_A, 'dl_1', 'hk_1', 1));
        });
        const failing: Store = {
          transaction: (fn) =>
            store.transaction((t) =>
              fn(
                new Proxy(t, {
                  get(target, property) {
                    if (property === 'abandonDeliveries') return () => Promise.reject(new Error('disk full'));
                    const value: unknown = Reflect.get(target, property);
                    return typeof value === 'function' ? (...args: unknown[]) => Reflect.apply(value, target, args) : value;
                  },
                }),
              ),
            ),
          read: (fn) => store.read(fn),
          probe: () => store.probe(),
          close: () => store.close(),
        };
        await expect(revokeApiKey(failing, 'key_1', new FakeClock(at(10)))).rejects.toThrow('disk full');
        await tx(async (t) => {
          expect((await t.getApiKey('key_1'))?.revokedAt).toBeNull();
          expect((await t.getHook(WS_A, 'hk_1'))?.deletedAt).toBeNull();
          expect((await t.getDelivery(WS_A, 'dl_1'))?.status).toBe('pending');
        });
      });
    });

    describe('deliveries', () => {
      beforeEach(seedWorkspaces);

      /** The ready deliveries' ids, one list per hook in hook id order. */
      const ready = async (t: StoreTx, now: string, perHook = 100, hooks = 100): Promise<string[][]> =>
        (await t.listReadyDeliveriesByHook(now, { perHook, hooks })).map((group) => group.map((d) => d.id));
      const counts = async (t: StoreTx): Promise<number[]> => [
        await t.countDeliveries('pending'),
        await t.countDeliveries('delivered'),
        await t.countDeliveries('dead'),
      ];

      it('round-trips deliveries, including to an outbound webhook that has no hook row', async () => {
        const sent = delivery(WS_A, 'dl_sent', 'hk_1', 1, {
          status: 'delivered',
          attempts: 2,
          nextAttemptAt: at(4),
          lastError: 'HTTP 503',
          lastStatusCode: 200,
          deliveredAt: at(5),
          updatedAt: at(5),
        });
        const outbound = delivery(WS_A, 'dl_out', 'outbound:ws_a', 2, { contactId: null });
        await tx(async (t) => {
          await t.insertDelivery(sent);
          await t.insertDelivery(outbound);
        });
        await tx(async (t) => {
          expect(await t.listDeliveries(WS_A, 'hk_1', { limit: 10 })).toStrictEqual([sent]);
          expect(await t.listDeliveries(WS_A, 'outbound:ws_a', { limit: 10 })).toStrictEqual([outbound]);
          expect(await t.listReadyDeliveriesByHook(at(0), { perHook: 10, hooks: 10 })).toStrictEqual([[outbound]]);
          const read = (await t.listDeliveries(WS_A, 'hk_1', { limit: 10 }))[0];
          if (read) read.status = 'dead';
          expect((await t.listDeliveries(WS_A, 'hk_1', { limit: 10 }))[0]?.status).toBe('delivered');
        });
      });

      it("lists a hook's deliveries newest event first, by status, up to a limit, within the workspace", async () => {
        await tx(async (t) => {
          await t.insertDelivery(delivery(WS_A, 'dl_2', 'hk_1', 2, { status: 'dead' }));
          await t.insertDelivery(delivery(WS_A, 'dl_4', 'hk_1', 4));
          await t.insertDelivery(delivery(WS_A, 'dl_1', 'hk_1', 1, { status: 'delivered', deliveredAt: at(1) }));
          await t.insertDelivery(delivery(WS_A, 'dl_3', 'hk_1', 3, { status: 'delivered', deliveredAt: at(1) }));
          await t.insertDelivery(delivery(WS_A, 'dl_other_hook', 'hk_2', 5));
          await t.insertDelivery(delivery(WS_B, 'dl_other_ws', 'hk_1', 6));
          const ids = async (query: Parameters<StoreTx['listDeliveries']>[2], workspaceId = WS_A): Promise<string[]> =>
            (await t.listDeliveries(workspaceId, 'hk_1', query)).map((d) => d.id);
          expect(await ids({ limit: 10 })).toEqual(['dl_4', 'dl_3', 'dl_2', 'dl_1']);
          expect(await ids({ limit: 2 })).toEqual(['dl_4', 'dl_3']);
          expect(await ids({ limit: 0 })).toEqual([]);
          expect(await ids({ status: 'delivered', limit: 10 })).toEqual(['dl_3', 'dl_1']);
          expect(await ids({ status: 'delivered', limit: 1 })).toEqual(['dl_3']);
          expect(await ids({ status: 'dead', limit: 10 })).toEqual(['dl_2']);
          expect(await ids({ status: 'pending', limit: 10 })).toEqual(['dl_4']);
          expect(await ids({ limit: 10 }, WS_B)).toEqual(['dl_other_ws']);
          expect(await ids({ limit: 10 }, 'ws_missing')).toEqual([]);
          await expectCode(t.listDeliveries(WS_A, 'hk_1', { limit: -1 }), 'VALIDATION_FAILED');
        });
      });

      it('reads one delivery by id, whatever its hook, within its workspace only', async () => {
        const dead = delivery(WS_A, 'dl_dead', 'hk_1', 1, { status: 'dead', attempts: 2, lastError: 'HTTP 400', lastStatusCode: 400, resentAt: at(3) });
        const outbound = delivery(WS_A, 'dl_out', 'outbound:ws_a', 2, { contactId: null });
        await tx(async (t) => {
          await t.insertDelivery(dead);
          await t.insertDelivery(outbound);
        });
        await tx(async (t) => {
          expect(await t.getDelivery(WS_A, 'dl_dead')).toStrictEqual(dead);
          expect(await t.getDelivery(WS_A, 'dl_out')).toStrictEqual(outbound);
          expect(await t.getDelivery(WS_B, 'dl_dead')).toBeUndefined();
          expect(await t.getDelivery(WS_A, 'dl_missing')).toBeUndefined();
          const read = await t.getDelivery(WS_A, 'dl_dead');
          if (read) read.status = 'pending';
          expect((await t.getDelivery(WS_A, 'dl_dead'))?.status).toBe('dead');
        });
      });

      it('keeps when a dead letter was sent again, and refuses a time in another spelling', async () => {
        await tx(async (t) => {
          await t.insertDelivery(delivery(WS_A, 'dl_1', 'hk_1', 1, { resentAt: at(7) }));
          expect((await t.getDelivery(WS_A, 'dl_1'))?.resentAt).toBe(at(7));
          await t.updateDelivery(delivery(WS_A, 'dl_1', 'hk_1', 1, { resentAt: null }));
          expect((await t.getDelivery(WS_A, 'dl_1'))?.resentAt).toBeNull();
          await expectCode(t.insertDelivery(delivery(WS_A, 'dl_2', 'hk_1', 2, { resentAt: '2026-01-01T00:07:00Z' })), 'VALIDATION_FAILED');
          await expectCode(t.updateDelivery(delivery(WS_A, 'dl_1', 'hk_1', 1, { resentAt: 'now' })), 'VALIDATION_FAILED');
          expect(await t.getDelivery(WS_A, 'dl_2')).toBeUndefined();
          expect((await t.getDelivery(WS_A, 'dl_1'))?.resentAt).toBeNull();
        });
      });

      it("pages a hook's deliveries: those of events before a given one, newest first, by status, within the workspace", async () => {
        await tx(async (t) => {
          for (let position = 1; position <= 9; position += 1) {
            // Every third event was given up on, the others delivered.
            const status = position % 3 === 0 ? 'dead' : 'delivered';
            await t.insertDelivery(delivery(WS_A, `dl_${position}`, 'hk_1', position, { status, ...(status === 'delivered' ? { deliveredAt: at(1) } : {}) }));
          }
          await t.insertDelivery(delivery(WS_A, 'dl_other_hook', 'hk_2', 10, { status: 'dead' }));
          await t.insertDelivery(delivery(WS_B, 'dl_other_ws', 'hk_1', 11, { status: 'dead' }));
          const ids = async (query: Parameters<StoreTx['listDeliveries']>[2], workspaceId = WS_A): Promise<string[]> =>
            (await t.listDeliveries(workspaceId, 'hk_1', query)).map((d) => d.id);
          expect(await ids({ limit: 3 })).toEqual(['dl_9', 'dl_8', 'dl_7']);
          expect(await ids({ beforeEventId: 'evt_0007', limit: 3 })).toEqual(['dl_6', 'dl_5', 'dl_4']);
          expect(await ids({ beforeEventId: 'evt_0004', limit: 3 })).toEqual(['dl_3', 'dl_2', 'dl_1']);
          expect(await ids({ beforeEventId: 'evt_0001', limit: 3 })).toEqual([]);
          expect(await ids({ status: 'dead', limit: 2 })).toEqual(['dl_9', 'dl_6']);
          expect(await ids({ status: 'dead', beforeEventId: 'evt_0006', limit: 2 })).toEqual(['dl_3']);
          expect(await ids({ status: 'dead', beforeEventId: 'evt_0007', limit: 10 })).toEqual(['dl_6', 'dl_3']);
          expect(await ids({ status: 'delivered', beforeEventId: 'evt_0003', limit: 10 })).toEqual(['dl_2', 'dl_1']);
          expect(await ids({ status: 'pending', beforeEventId: 'evt_0009', limit: 10 })).toEqual([]);
          // The bound is an order, not a row: an id between two events' ids works as well.
          expect(await ids({ beforeEventId: 'evt_0005x', limit: 2 })).toEqual(['dl_5', 'dl_4']);
          expect(await ids({ status: 'dead', limit: 10 }, WS_B)).toEqual(['dl_other_ws']);
          expect(await ids({ status: 'dead', beforeEventId: 'evt_0011', limit: 10 }, WS_B)).toEqual([]);
          await expectCode(t.listDeliveries(WS_A, 'hk_1', { status: 'lost' as DeliveryStatus, limit: 10 }), 'VALIDATION_FAILED');
        });
      });

      it("sends a hook's dead letters again, oldest event first, up to a limit, within the workspace", async () => {
        const given = { status: 'dead' as const, attempts: 3, lastError: 'HTTP 400 (refused, not retried)', lastStatusCode: 400, updatedAt: at(2) };
        await tx(async (t) => {
          await t.insertDelivery(delivery(WS_A, 'dl_5', 'hk_1', 5, given));
          await t.insertDelivery(delivery(WS_A, 'dl_1', 'hk_1', 1, given));
          await t.insertDelivery(delivery(WS_A, 'dl_2', 'hk_1', 2, { status: 'delivered', attempts: 1, deliveredAt: at(1) }));
          await t.insertDelivery(delivery(WS_A, 'dl_3', 'hk_1', 3, given));
          // A later event of the same contact, waiting on the same hook.
          await t.insertDelivery(delivery(WS_A, 'dl_4', 'hk_1', 4, { attempts: 1, nextAttemptAt: at(40) }));
          await t.insertDelivery(delivery(WS_A, 'dl_other_hook', 'hk_2', 6, given));
          await t.insertDelivery(delivery(WS_B, 'dl_other_ws', 'hk_1', 7, given));
        });
        await tx(async (t) => {
          expect(await ready(t, at(50))).toEqual([['dl_4']]);
          expect(await t.resendDeadDeliveries(WS_A, 'hk_1', { at: at(50), limit: 2 })).toEqual({ resent: 2, more: true });
          const resent = { status: 'pending' as const, attempts: 0, nextAttemptAt: at(50), resentAt: at(50), updatedAt: at(50) };
          expect(await t.listDeliveries(WS_A, 'hk_1', { limit: 10 })).toStrictEqual([
            delivery(WS_A, 'dl_5', 'hk_1', 5, given),
            delivery(WS_A, 'dl_4', 'hk_1', 4, { attempts: 1, nextAttemptAt: at(40) }),
            delivery(WS_A, 'dl_3', 'hk_1', 3, { ...given, ...resent }),
            delivery(WS_A, 'dl_2', 'hk_1', 2, { status: 'delivered', attempts: 1, deliveredAt: at(1) }),
            delivery(WS_A, 'dl_1', 'hk_1', 1, { ...given, ...resent }),
          ]);
          // The oldest event is the head of its contact's sequence again: the later ones wait for it.
          expect(await ready(t, at(50))).toEqual([['dl_1']]);
          expect(await t.resendDeadDeliveries(WS_A, 'hk_1', { at: at(60), limit: 10 })).toEqual({ resent: 1, more: false });
          expect((await t.getDelivery(WS_A, 'dl_5'))?.resentAt).toBe(at(60));
          expect(await t.resendDeadDeliveries(WS_A, 'hk_1', { at: at(60), limit: 10 })).toEqual({ resent: 0, more: false });
          expect(await t.resendDeadDeliveries(WS_A, 'hk_2', { at: at(60), limit: 0 })).toEqual({ resent: 0, more: true });
          expect((await t.getDelivery(WS_A, 'dl_other_hook'))?.status).toBe('dead');
          expect((await t.getDelivery(WS_B, 'dl_other_ws'))?.status).toBe('dead');
          expect(await counts(t)).toEqual([4, 1, 2]);
          await expectCode(t.resendDeadDeliveries(WS_A, 'hk_2', { at: '2026-01-01', limit: 10 }), 'VALIDATION_FAILED');
          await expectCode(t.resendDeadDeliveries(WS_A, 'hk_2', { at: at(60), limit: -1 }), 'VALIDATION_FAILED');
          expect((await t.getDelivery(WS_A, 'dl_other_hook'))?.status).toBe('dead');
        });
      });

      it('keeps one delivery per hook and event, and rejects unknown workspaces and invalid rows', async () => {
        await tx(async (t) => {
          await t.insertDelivery(delivery(WS_A, 'dl_1', 'hk_1', 1));
          await expectCode(t.insertDelivery(delivery(WS_A, 'dl_1', 'hk_2', 2)), 'CONFLICT');
          await expectCode(t.insertDelivery(delivery(WS_A, 'dl_again', 'hk_1', 1)), 'CONFLICT');
          await t.insertDelivery(delivery(WS_A, 'dl_other_hook', 'hk_2', 1));
          await expectCode(t.insertDelivery(delivery('ws_missing', 'dl_3', 'hk_3', 3)), 'NOT_FOUND');
          await expectCode(
            t.insertDelivery(delivery(WS_A, 'dl_4', 'hk_1', 4, { nextAttemptAt: '2026-01-01T00:00:00Z' })),
            'VALIDATION_FAILED',
          );
          await expectCode(t.insertDelivery(delivery(WS_A, 'dl_5', 'hk_1', 5, { attempts: -1 })), 'VALIDATION_FAILED');
          await expectCode(t.insertDelivery(delivery(WS_A, 'dl_6', 'hk_1', 0)), 'VALIDATION_FAILED');
          await expectCode(t.insertDelivery(delivery(WS_A, 'dl_7', 'hk_1', 1.5)), 'VALIDATION_FAILED');
          await expectCode(t.insertDelivery(delivery(WS_A, 'dl_8', 'hk_1', 8, { lastStatusCode: 200.5 })), 'VALIDATION_FAILED');
          await expectCode(t.listReadyDeliveriesByHook('2026-01-01', { perHook: 10, hooks: 10 }), 'VALIDATION_FAILED');
          await expectCode(t.listReadyDeliveriesByHook(at(0), { perHook: -1, hooks: 10 }), 'VALIDATION_FAILED');
          await expectCode(t.listReadyDeliveriesByHook(at(0), { perHook: 10, hooks: -1 }), 'VALIDATION_FAILED');
          expect((await t.listDeliveries(WS_A, 'hk_1', { limit: 10 })).map((d) => d.id)).toEqual(['dl_1']);
          expect(await t.listDeliveries(WS_A, 'hk_2', { limit: 10 })).toStrictEqual([delivery(WS_A, 'dl_other_hook', 'hk_2', 1)]);
          expect(await t.countDeliveries('pending')).toBe(2);
        });
      });

      it('updateDelivery replaces the row within its workspace', async () => {
        await tx(async (t) => {
          await t.insertDelivery(delivery(WS_A, 'dl_1', 'hk_1', 1));
          await t.insertDelivery(delivery(WS_A, 'dl_2', 'hk_1', 2));
          const retried = delivery(WS_A, 'dl_1', 'hk_1', 1, {
            attempts: 1,
            nextAttemptAt: at(10),
            lastError: 'HTTP 503 Service Unavailable',
            lastStatusCode: 503,
            updatedAt: at(1),
          });
          await t.updateDelivery(retried);
          expect(await t.listDeliveries(WS_A, 'hk_1', { status: 'pending', limit: 1 })).toStrictEqual([
            delivery(WS_A, 'dl_2', 'hk_1', 2),
          ]);
          expect((await t.listDeliveries(WS_A, 'hk_1', { limit: 10 }))[1]).toStrictEqual(retried);
          await expectCode(t.updateDelivery({ ...retried, eventId: 'evt_0002', eventPosition: 2 }), 'CONFLICT');
          await expectCode(t.updateDelivery({ ...retried, nextAttemptAt: 'soon' }), 'VALIDATION_FAILED');
          await expectCode(t.updateDelivery(delivery(WS_A, 'dl_missing', 'hk_1', 9)), 'NOT_FOUND');
          await expectCode(t.updateDelivery({ ...retried, workspaceId: WS_B, status: 'dead' }), 'NOT_FOUND');
          expect((await t.listDeliveries(WS_A, 'hk_1', { limit: 10 }))[1]).toStrictEqual(retried);
        });
      });

      it("returns only the head of each hook's per-contact sequence, and only once it is due", async () => {
        await tx(async (t) => {
          await t.insertContact(contact(WS_A, 'ct_bob'));
          // ct_ana on hk_1: positions 11 and 12 are due but wait behind 10, which retries at minute 5;
          // they were written before it, and an older delivered one (5) blocks nothing.
          await t.insertDelivery(delivery(WS_A, 'dl_a11', 'hk_1', 11));
          await t.insertDelivery(delivery(WS_A, 'dl_a12', 'hk_1', 12));
          await t.insertDelivery(delivery(WS_A, 'dl_a10', 'hk_1', 10, { attempts: 1, nextAttemptAt: at(5) }));
          await t.insertDelivery(delivery(WS_A, 'dl_a05', 'hk_1', 5, { status: 'delivered', deliveredAt: at(0) }));
          // The same contact on another hook is another sequence.
          await t.insertDelivery(delivery(WS_A, 'dl_h2_10', 'hk_2', 10));
          // Another contact on the same hook, twice (once to the outbound webhook: same position, ordered by id).
          await t.insertDelivery(delivery(WS_A, 'dl_b13', 'hk_1', 13, { contactId: 'ct_bob' }));
          await t.insertDelivery(delivery(WS_A, 'dl_b13_out', 'outbound:ws_a', 13, { contactId: 'ct_bob' }));
          // No contact: each is its own sequence, so the later one does not wait for the earlier.
          await t.insertDelivery(delivery(WS_A, 'dl_n14', 'hk_1', 14, { contactId: null, nextAttemptAt: at(3) }));
          await t.insertDelivery(delivery(WS_A, 'dl_n15', 'hk_1', 15, { contactId: null }));
          // Another workspace.
          await t.insertDelivery(delivery(WS_B, 'dl_ws_b', 'hk_b', 16, { nextAttemptAt: at(2) }));
        });
        await tx(async (t) => {
          // Hooks in id order (hk_1, hk_2, hk_b, outbound:ws_a), each earliest due first, then by position.
          expect(await ready(t, at(1))).toEqual([['dl_b13', 'dl_n15'], ['dl_h2_10'], ['dl_b13_out']]);
          expect(await ready(t, at(4))).toEqual([['dl_b13', 'dl_n15', 'dl_n14'], ['dl_h2_10'], ['dl_ws_b'], ['dl_b13_out']]);
          expect(await ready(t, at(5))).toEqual([['dl_b13', 'dl_n15', 'dl_n14', 'dl_a10'], ['dl_h2_10'], ['dl_ws_b'], ['dl_b13_out']]);
          expect(await ready(t, at(5), 2, 2)).toEqual([['dl_b13', 'dl_n15'], ['dl_h2_10']]);
          expect(await ready(t, at(5), 0)).toEqual([]);
          // Delivered, the head stops blocking: the next event of the contact becomes the head.
          await t.updateDelivery(
            delivery(WS_A, 'dl_a10', 'hk_1', 10, { status: 'delivered', attempts: 2, deliveredAt: at(5), updatedAt: at(5) }),
          );
          expect(await ready(t, at(1))).toEqual([['dl_a11', 'dl_b13', 'dl_n15'], ['dl_h2_10'], ['dl_b13_out']]);
          // Dead-lettered, too.
          await t.updateDelivery(delivery(WS_A, 'dl_a11', 'hk_1', 11, { status: 'dead', attempts: 8, lastError: 'HTTP 500' }));
          expect(await ready(t, at(1))).toEqual([['dl_a12', 'dl_b13', 'dl_n15'], ['dl_h2_10'], ['dl_b13_out']]);
          // A head that is pending again but not due blocks again.
          await t.updateDelivery(delivery(WS_A, 'dl_a11', 'hk_1', 11, { attempts: 8, nextAttemptAt: at(30) }));
          expect((await ready(t, at(29))).flat()).not.toContain('dl_a12');
          expect((await ready(t, at(29))).flat()).not.toContain('dl_a11');
          const dueAgain = (await t.listReadyDeliveriesByHook(at(30), { perHook: 100, hooks: 100 })).flat();
          expect(dueAgain.map((d) => [d.id, d.nextAttemptAt])).toContainEqual(['dl_a11', at(30)]);
          expect(dueAgain.map((d) => d.id)).not.toContain('dl_a12');
        });
      });

      describe('ready deliveries by hook', () => {
        const byHook = async (t: StoreTx, now: string, query: Parameters<StoreTx['listReadyDeliveriesByHook']>[1]): Promise<string[][]> =>
          (await t.listReadyDeliveriesByHook(now, query)).map((group) => group.map((d) => d.id));

        /** hk_1: three contacts' heads due at minutes 2, 0 and 1, and a later event of one of them; hk_2 and hk_3 one each. */
        async function seedHooks(t: StoreTx): Promise<void> {
          await t.insertContact(contact(WS_A, 'ct_bob'));
          await t.insertContact(contact(WS_A, 'ct_eve'));
          await t.insertDelivery(delivery(WS_A, 'dl_1_ana', 'hk_1', 1, { nextAttemptAt: at(2) }));
          await t.insertDelivery(delivery(WS_A, 'dl_1_bob', 'hk_1', 2, { contactId: 'ct_bob' }));
          await t.insertDelivery(delivery(WS_A, 'dl_1_eve', 'hk_1', 3, { contactId: 'ct_eve', nextAttemptAt: at(1) }));
          await t.insertDelivery(delivery(WS_A, 'dl_1_ana_later', 'hk_1', 4));
          await t.insertDelivery(delivery(WS_B, 'dl_2', 'hk_2', 5, { nextAttemptAt: at(3) }));
          await t.insertDelivery(delivery(WS_A, 'dl_3', 'hk_3', 6));
          // Neither listed: delivered, and not due yet.
          await t.insertDelivery(delivery(WS_A, 'dl_3_done', 'hk_3', 7, { contactId: null, status: 'delivered', deliveredAt: at(0) }));
          await t.insertDelivery(delivery(WS_A, 'dl_4_later', 'hk_4', 8, { nextAttemptAt: at(60) }));
        }

        it('groups ready deliveries by hook in id order, each in send order, heads of sequences only', async () => {
          await tx(seedHooks);
          await tx(async (t) => {
            expect(await byHook(t, at(5), { perHook: 10, hooks: 10 })).toEqual([['dl_1_bob', 'dl_1_eve', 'dl_1_ana'], ['dl_2'], ['dl_3']]);
            expect(await byHook(t, at(1), { perHook: 10, hooks: 10 })).toEqual([['dl_1_bob', 'dl_1_eve'], ['dl_3']]);
            expect(await byHook(t, at(60), { perHook: 10, hooks: 10 })).toEqual([['dl_1_bob', 'dl_1_eve', 'dl_1_ana'], ['dl_2'], ['dl_3'], ['dl_4_later']]);
            const [first] = await t.listReadyDeliveriesByHook(at(5), { perHook: 1, hooks: 1 });
            expect(first).toStrictEqual([delivery(WS_A, 'dl_1_bob', 'hk_1', 2, { contactId: 'ct_bob' })]);
          });
        });

        it('bounds the rows per hook and the hooks, starts after a hook id and wraps around, and skips hooks', async () => {
          await tx(seedHooks);
          await tx(async (t) => {
            expect(await byHook(t, at(5), { perHook: 2, hooks: 10 })).toEqual([['dl_1_bob', 'dl_1_eve'], ['dl_2'], ['dl_3']]);
            expect(await byHook(t, at(5), { perHook: 1, hooks: 2 })).toEqual([['dl_1_bob'], ['dl_2']]);
            expect(await byHook(t, at(5), { perHook: 1, hooks: 10, afterHookId: 'hk_1' })).toEqual([['dl_2'], ['dl_3'], ['dl_1_bob']]);
            expect(await byHook(t, at(5), { perHook: 1, hooks: 2, afterHookId: 'hk_2' })).toEqual([['dl_3'], ['dl_1_bob']]);
            // A cursor that names no hook starts at the next id there is.
            expect(await byHook(t, at(5), { perHook: 1, hooks: 10, afterHookId: 'hk_2x' })).toEqual([['dl_3'], ['dl_1_bob'], ['dl_2']]);
            expect(await byHook(t, at(5), { perHook: 1, hooks: 10, afterHookId: 'hk_9' })).toEqual([['dl_1_bob'], ['dl_2'], ['dl_3']]);
            // Hooks without anything ready do not count against `hooks`; skipped ones are not read.
            expect(await byHook(t, at(5), { perHook: 1, hooks: 2, skipHookIds: ['hk_1'] })).toEqual([['dl_2'], ['dl_3']]);
            expect(await byHook(t, at(5), { perHook: 1, hooks: 10, skipHookIds: ['hk_1', 'hk_2', 'hk_3'] })).toEqual([]);
            expect(await byHook(t, at(5), { perHook: 0, hooks: 10 })).toEqual([]);
            expect(await byHook(t, at(5), { perHook: 3, hooks: 0 })).toEqual([]);
            await expectCode(t.listReadyDeliveriesByHook('2026-01-01', { perHook: 1, hooks: 1 }), 'VALIDATION_FAILED');
            await expectCode(t.listReadyDeliveriesByHook(at(0), { perHook: -1, hooks: 1 }), 'VALIDATION_FAILED');
            await expectCode(t.listReadyDeliveriesByHook(at(0), { perHook: 1, hooks: 1.5 }), 'VALIDATION_FAILED');
          });
        });

        it('follows the sequences as rows change: the next event of a contact becomes ready once its head is done', async () => {
          await tx(seedHooks);
          await tx(async (t) => {
            await t.updateDelivery(delivery(WS_A, 'dl_1_ana', 'hk_1', 1, { status: 'delivered', attempts: 1, deliveredAt: at(2) }));
            expect(await byHook(t, at(5), { perHook: 10, hooks: 1 })).toEqual([['dl_1_bob', 'dl_1_ana_later', 'dl_1_eve']]);
            expect(await t.abandonDeliveries('hk_1', 'hook deleted', at(5))).toBe(3);
            expect(await byHook(t, at(5), { perHook: 10, hooks: 10 })).toEqual([['dl_2'], ['dl_3']]);
          });
        });
      });

      it('reads the backlog: pending and dead across workspaces, and when the earliest pending event occurred', async () => {
        await tx(async (t) => {
          expect(await t.deliveryBacklog()).toEqual({ pending: 0, dead: 0, unsubscribed: 0, erased: 0, oldestPendingOccurredAt: null });
          const events = [
            { ...taggedEvent(WS_A, 'evt_0001', 'ct_ana'), occurredAt: at(1) },
            { ...taggedEvent(WS_A, 'evt_0002', 'ct_ana'), occurredAt: at(2) },
            { ...taggedEvent(WS_B, 'evt_0003', 'ct_ana'), occurredAt: at(3) },
          ];
          const positions: number[] = [];
          for (const event of events) positions.push((await t.appendEvent(event)).position);
          const [p1 = 0, p2 = 0, p3 = 0] = positions;
          await t.insertDelivery(delivery(WS_A, 'dl_1', 'hk_1', p1, { eventId: 'evt_0001', status: 'delivered', deliveredAt: at(1) }));
          await t.insertDelivery(delivery(WS_A, 'dl_2', 'hk_1', p1, { eventId: 'evt_0001', hookId: 'hk_2', status: 'dead', lastError: 'HTTP 400' }));
          await t.insertDelivery(delivery(WS_A, 'dl_3', 'hk_1', p2, { eventId: 'evt_0002', nextAttemptAt: at(90) }));
          await t.insertDelivery(delivery(WS_B, 'dl_4', 'hk_b', p3, { eventId: 'evt_0003' }));
          expect(await t.deliveryBacklog()).toEqual({ pending: 2, dead: 1, unsubscribed: 0, erased: 0, oldestPendingOccurredAt: at(2) });
          await t.updateDelivery(delivery(WS_A, 'dl_3', 'hk_1', p2, { eventId: 'evt_0002', status: 'dead', lastError: 'gave up' }));
          expect(await t.deliveryBacklog()).toEqual({ pending: 1, dead: 2, unsubscribed: 0, erased: 0, oldestPendingOccurredAt: at(3) });
        });
      });

      it("counts the dead deliveries of deleted hooks apart from the dead letters that can be sent again", async () => {
        await tx(async (t) => {
          await t.insertHook(hook(WS_A, 'hk_live'));
          await t.insertHook(hook(WS_A, 'hk_unsubscribed'));
          await t.insertHook(hook(WS_B, 'hk_gone'));
          await t.insertDelivery(delivery(WS_A, 'dl_1', 'hk_live', 1, { status: 'dead', lastError: 'HTTP 400' }));
          await t.insertDelivery(delivery(WS_A, 'dl_2', 'hk_unsubscribed', 2, { status: 'dead', lastError: 'HTTP 400' }));
          await t.insertDelivery(delivery(WS_A, 'dl_3', 'hk_unsubscribed', 3));
          await t.insertDelivery(delivery(WS_A, 'dl_4', 'hk_unsubscribed', 4, { status: 'delivered', deliveredAt: at(4) }));
          await t.insertDelivery(delivery(WS_B, 'dl_5', 'hk_gone', 5));
          await t.insertDelivery(delivery(WS_A, 'dl_6', 'outbound:ws_a', 6, { status: 'dead', lastError: 'HTTP 400' }));
          expect(await t.deliveryBacklog()).toMatchObject({ pending: 2, dead: 3, unsubscribed: 0 });

          await t.updateHook(hook(WS_A, 'hk_unsubscribed', { deletedAt: at(7), deletedReason: 'unsubscribed' }));
          await t.abandonDeliveries('hk_unsubscribed', 'not sent: the hook was unsubscribed', at(7));
          expect(await t.deliveryBacklog()).toMatchObject({ pending: 1, dead: 2, unsubscribed: 2 });
          await t.updateHook(hook(WS_B, 'hk_gone', { deletedAt: at(8), deletedReason: 'gone' }));
          await t.abandonDeliveries('hk_gone', 'not sent: the hook was deleted', at(8));
          expect(await t.deliveryBacklog()).toEqual({ pending: 0, dead: 2, unsubscribed: 3, erased: 0, oldestPendingOccurredAt: null });
          // countDeliveries counts by status alone.
          expect(await t.countDeliveries('dead')).toBe(5);
        });
      });

      it("counts the dead replies to erased contacts apart from the dead letters, and never sends them again", async () => {
        const dead = { status: 'dead' as const, attempts: 1, lastError: 'HTTP 400 (refused, not retried)', lastStatusCode: 400, updatedAt: at(2) };
        const outboundA = 'outbound:ws_a';
        await tx(async (t) => {
          await t.insertContact(contact(WS_A, 'ct_bob', { name: 'Bob Test' }));
          await t.insertDelivery(delivery(WS_A, 'dl_1', outboundA, 1, dead));
          await t.insertDelivery(delivery(WS_A, 'dl_2', outboundA, 2, { ...dead, contactId: 'ct_bob' }));
          await t.insertDelivery(delivery(WS_A, 'dl_3', outboundA, 3, { ...dead, contactId: null }));
          await t.insertDelivery(delivery(WS_A, 'dl_4', outboundA, 4, { ...dead, lastError: 'not sent: the contact was erased' }));
          await t.insertDelivery(delivery(WS_A, 'dl_5', outboundA, 5, { nextAttemptAt: at(90) }));
          await t.insertDelivery(delivery(WS_A, 'dl_6', outboundA, 6, { ...dead, contactId: 'ct_bob' }));
          // The same contact's event to a hook, and a reply to the other workspace's contact of the same id.
          await t.insertDelivery(delivery(WS_A, 'dl_hook', 'hk_1', 1, dead));
          await t.insertDelivery(delivery(WS_B, 'dl_other_ws', 'outbound:ws_b', 7, dead));
          expect(await t.deliveryBacklog()).toMatchObject({ pending: 1, dead: 7, unsubscribed: 0, erased: 0 });

          await t.updateContact(contact(WS_A, 'ct_ana', { name: null, erasedAt: at(10), updatedAt: at(10) }));
          // Whatever dead-lettered them first: none of the contact's replies can be sent any more.
          expect(await t.deliveryBacklog()).toMatchObject({ pending: 1, dead: 5, unsubscribed: 0, erased: 2 });
          expect(await t.countDeliveries('dead')).toBe(7);
          // Still listed as they are, dead.
          expect((await t.listDeliveries(WS_A, outboundA, { status: 'dead', limit: 10 })).map((d) => d.id)).toEqual(['dl_6', 'dl_4', 'dl_3', 'dl_2', 'dl_1']);
        });
        const untouched = await tx(async (t) => Promise.all(['dl_1', 'dl_4'].map((id) => t.getDelivery(WS_A, id))));
        await tx(async (t) => {
          expect(await t.resendDeadDeliveries(WS_A, outboundA, { at: at(50), limit: 2 })).toEqual({ resent: 2, more: true });
          expect((await t.listDeliveries(WS_A, outboundA, { status: 'pending', limit: 10 })).map((d) => d.id)).toEqual(['dl_5', 'dl_3', 'dl_2']);
          expect(await t.resendDeadDeliveries(WS_A, outboundA, { at: at(60), limit: 10 })).toEqual({ resent: 1, more: false });
          expect(await t.resendDeadDeliveries(WS_A, outboundA, { at: at(60), limit: 10 })).toEqual({ resent: 0, more: false });
          expect(await Promise.all(['dl_1', 'dl_4'].map((id) => t.getDelivery(WS_A, id)))).toStrictEqual(untouched);
          // A hook's deliveries of the contact's events go out as any other (their data was redacted).
          expect(await t.resendDeadDeliveries(WS_A, 'hk_1', { at: at(60), limit: 10 })).toEqual({ resent: 1, more: false });
          expect(await t.resendDeadDeliveries(WS_B, 'outbound:ws_b', { at: at(60), limit: 10 })).toEqual({ resent: 1, more: false });
          expect(await t.deliveryBacklog()).toMatchObject({ pending: 6, dead: 0, unsubscribed: 0, erased: 2 });
        });
      });

      it("abandons a hook's pending deliveries and counts deliveries by status across workspaces", async () => {
        await tx(async (t) => {
          await t.insertDelivery(delivery(WS_A, 'dl_1', 'hk_1', 1, { status: 'delivered', deliveredAt: at(1) }));
          await t.insertDelivery(delivery(WS_A, 'dl_2', 'hk_1', 2, { attempts: 3, lastStatusCode: 503 }));
          await t.insertDelivery(delivery(WS_A, 'dl_3', 'hk_1', 3, { nextAttemptAt: at(60) }));
          await t.insertDelivery(delivery(WS_A, 'dl_4', 'hk_2', 4));
          await t.insertDelivery(delivery(WS_B, 'dl_5', 'hk_b', 5));
          await t.insertDelivery(delivery(WS_B, 'dl_6', 'hk_b', 6, { status: 'dead', lastError: 'HTTP 400' }));
          expect(await counts(t)).toEqual([4, 1, 1]);

          expect(await t.abandonDeliveries('hk_1', 'hook gone (HTTP 410)', at(9))).toBe(2);
          expect(await t.listDeliveries(WS_A, 'hk_1', { limit: 10 })).toStrictEqual([
            delivery(WS_A, 'dl_3', 'hk_1', 3, {
              nextAttemptAt: at(60),
              status: 'dead',
              lastError: 'hook gone (HTTP 410)',
              updatedAt: at(9),
            }),
            delivery(WS_A, 'dl_2', 'hk_1', 2, {
              attempts: 3,
              lastStatusCode: 503,
              status: 'dead',
              lastError: 'hook gone (HTTP 410)',
              updatedAt: at(9),
            }),
            delivery(WS_A, 'dl_1', 'hk_1', 1, { status: 'delivered', deliveredAt: at(1) }),
          ]);
          expect(await ready(t, at(100))).toEqual([['dl_4'], ['dl_5']]);
          expect(await counts(t)).toEqual([2, 1, 3]);
          expect(await t.abandonDeliveries('hk_1', 'again', at(10))).toBe(0);
          expect(await t.abandonDeliveries('hk_missing', 'none', at(10))).toBe(0);
          expect((await t.listDeliveries(WS_A, 'hk_1', { status: 'dead', limit: 1 }))[0]?.lastError).toBe('hook gone (HTTP 410)');
        });
      });

      it("abandons a contact's pending replies to the outbound webhook, and only those", async () => {
        const outboundA = 'outbound:ws_a';
        const reason = 'not sent: the contact was erased';
        await tx(async (t) => {
          await t.insertContact(contact(WS_A, 'ct_bob', { name: 'Bob Test' }));
          await t.insertDelivery(delivery(WS_A, 'dl_1', outboundA, 1, { attempts: 2, lastError: 'HTTP 503', lastStatusCode: 503, nextAttemptAt: at(60) }));
          await t.insertDelivery(delivery(WS_A, 'dl_2', outboundA, 2));
          await t.insertDelivery(delivery(WS_A, 'dl_3', outboundA, 3, { status: 'delivered', attempts: 1, deliveredAt: at(1) }));
          await t.insertDelivery(delivery(WS_A, 'dl_4', outboundA, 4, { status: 'dead', attempts: 1, lastError: 'HTTP 400 (refused, not retried)', lastStatusCode: 400 }));
          // Another contact's reply, a reply without a contact, the contact's event to a hook, and a
          // reply to the other workspace's contact of the same id.
          await t.insertDelivery(delivery(WS_A, 'dl_bob', outboundA, 5, { contactId: 'ct_bob' }));
          await t.insertDelivery(delivery(WS_A, 'dl_none', outboundA, 6, { contactId: null }));
          await t.insertDelivery(delivery(WS_A, 'dl_hook', 'hk_1', 1));
          await t.insertDelivery(delivery(WS_B, 'dl_other_ws', 'outbound:ws_b', 7));
        });
        const untouched = ['dl_3', 'dl_4', 'dl_bob', 'dl_none', 'dl_hook'];
        const before = await tx(async (t) => Promise.all(untouched.map((id) => t.getDelivery(WS_A, id))));
        const otherWorkspace = await tx(async (t) => t.getDelivery(WS_B, 'dl_other_ws'));

        await tx(async (t) => {
          expect(await t.abandonRepliesToContact(WS_A, 'ct_ana', reason, at(9))).toBe(2);
          expect(await t.getDelivery(WS_A, 'dl_1')).toStrictEqual(
            delivery(WS_A, 'dl_1', outboundA, 1, { status: 'dead', attempts: 2, lastError: reason, lastStatusCode: 503, nextAttemptAt: at(60), updatedAt: at(9) }),
          );
          expect(await t.getDelivery(WS_A, 'dl_2')).toStrictEqual(delivery(WS_A, 'dl_2', outboundA, 2, { status: 'dead', lastError: reason, updatedAt: at(9) }));
          expect(await Promise.all(untouched.map((id) => t.getDelivery(WS_A, id)))).toStrictEqual(before);
          expect(await t.getDelivery(WS_B, 'dl_other_ws')).toStrictEqual(otherWorkspace);
          // Nothing of the contact is left to send to the outbound webhook; the others' are.
          expect(await ready(t, at(100))).toEqual([['dl_hook'], ['dl_bob', 'dl_none'], ['dl_other_ws']]);
          expect(await t.abandonRepliesToContact(WS_A, 'ct_ana', reason, at(10))).toBe(0);
          expect(await t.abandonRepliesToContact(WS_A, 'ct_missing', reason, at(10))).toBe(0);
          expect(await t.abandonRepliesToContact('ws_missing', 'ct_ana', reason, at(10))).toBe(0);
        });
        // Once the contact is erased, they count with its other unsendable replies, not as dead letters.
        await tx(async (t) => {
          await t.updateContact(contact(WS_A, 'ct_ana', { name: null, erasedAt: at(9), updatedAt: at(9) }));
          expect(await t.deliveryBacklog()).toMatchObject({ pending: 4, dead: 0, unsubscribed: 0, erased: 3 });
        });
      });
    });

    describe('retention', () => {
      beforeEach(seedWorkspaces);

      /** A ULID stamped `minutes` after the suite's start: the `n`th of that minute. */
      const ulidAt = (minutes: number, n = 0): string => ulidFloorAt(new Date(at(minutes))).slice(0, 10) + String(n).padStart(16, '0');
      const none: PrunedRows = { processedMessages: 0, events: 0, deliveries: 0, runs: 0 };

      async function answer(messageId: string, processedAt: string, workspaceId = WS_A): Promise<void> {
        await tx((t) =>
          t.saveProcessedMessage({ workspaceId, channel: 'whatsapp', messageId, contactId: 'ct_ana', response: { replies: [] }, processedAt }),
        );
      }

      /** Events stamped at each of `minutes`, in that order; answers their positions. */
      async function eventsAt(minutes: readonly number[], workspaceId = WS_A): Promise<number[]> {
        return tx(async (t) => {
          const positions: number[] = [];
          for (const [n, minute] of minutes.entries()) positions.push((await t.appendEvent(taggedEvent(workspaceId, ulidAt(minute, n), 'ct_ana'))).position);
          return positions;
        });
      }

      const answerIds = (workspaceId = WS_A): Promise<string[]> =>
        store.read(async (t) => (await t.listProcessedMessagesOfContact(workspaceId, 'ct_ana')).map((m) => m.messageId));
      const outbox = (): Promise<number[]> => store.read(async (t) => (await t.listEventsAfter(0, 1000)).map((e) => e.position));

      it('deletes the stored answers processed before the time, oldest first, at most the limit', async () => {
        await answer('wamid.1', at(1));
        await answer('wamid.2', at(2));
        await answer('wamid.3', at(3));
        await answer('wamid.10', at(10));
        expect(await tx((t) => t.pruneExpired({ before: at(5), eventsThrough: 0, limit: 2 }))).toEqual({ ...none, processedMessages: 2 });
        expect(await answerIds()).toEqual(['wamid.10', 'wamid.3']);
        expect(await tx((t) => t.pruneExpired({ before: at(5), eventsThrough: 0, limit: 2 }))).toEqual({ ...none, processedMessages: 1 });
        expect(await tx((t) => t.pruneExpired({ before: at(5), eventsThrough: 0, limit: 2 }))).toEqual(none);
        expect(await answerIds()).toEqual(['wamid.10']);
        expect(await store.read((t) => t.getProcessedMessage(WS_A, 'whatsapp', 'wamid.1'))).toBeUndefined();
      });

      it('stops at the first stored answer that has not expired, in the order they were stored', async () => {
        await answer('wamid.early', at(1));
        await answer('wamid.late', at(10));
        await answer('wamid.stored-after', at(2));
        expect(await tx((t) => t.pruneExpired({ before: at(5), eventsThrough: 0, limit: 10 }))).toEqual({ ...none, processedMessages: 1 });
        expect(await answerIds()).toEqual(['wamid.late', 'wamid.stored-after']);
      });

      it('deletes the answers of every workspace, and keeps one processed exactly at the time', async () => {
        await answer('wamid.a', at(1), WS_A);
        await answer('wamid.b', at(2), WS_B);
        await answer('wamid.edge', at(5), WS_A);
        expect(await tx((t) => t.pruneExpired({ before: at(5), eventsThrough: 0, limit: 10 }))).toEqual({ ...none, processedMessages: 2 });
        expect(await answerIds(WS_A)).toEqual(['wamid.edge']);
        expect(await answerIds(WS_B)).toEqual([]);
      });

      it('deletes expired events in position order with their deliveries, never the newest event', async () => {
        const positions = await eventsAt([1, 2, 3, 4]);
        await tx(async (t) => {
          await t.insertHook(hook(WS_A, 'hk_1'));
          await t.insertDelivery(delivery(WS_A, 'dl_1', 'hk_1', positions[0] ?? 0, { status: 'delivered', deliveredAt: at(1) }));
          await t.insertDelivery(delivery(WS_A, 'dl_1b', 'outbound:ws_a', positions[0] ?? 0, { status: 'dead', attempts: 3, lastError: 'HTTP 500' }));
          await t.insertDelivery(delivery(WS_A, 'dl_2', 'hk_1', positions[1] ?? 0, { status: 'dead', attempts: 3, lastError: 'HTTP 500' }));
          await t.insertDelivery(delivery(WS_A, 'dl_4', 'hk_1', positions[3] ?? 0, { status: 'delivered', deliveredAt: at(4) }));
        });
        expect(await tx((t) => t.pruneExpired({ before: at(60), eventsThrough: 1000, limit: 10 }))).toEqual({ ...none, events: 3, deliveries: 3 });
        expect(await outbox()).toEqual([positions[3]]);
        expect(await store.read((t) => t.getEvent(WS_A, ulidAt(1, 0)))).toBeUndefined();
        expect(await store.read(async (t) => (await t.listDeliveries(WS_A, 'hk_1', { limit: 10 })).map((d) => d.id))).toEqual(['dl_4']);
        expect(await store.read((t) => t.getDelivery(WS_A, 'dl_1b'))).toBeUndefined();
        expect(await tx((t) => t.pruneExpired({ before: at(60), eventsThrough: 1000, limit: 10 }))).toEqual(none);
      });

      it('hands out the next position after the newest even when every older event is gone', async () => {
        const positions = await eventsAt([1, 2, 3]);
        await tx((t) => t.pruneExpired({ before: at(60), eventsThrough: 1000, limit: 10 }));
        const [next] = await eventsAt([70]);
        expect(next).toBe((positions[2] ?? 0) + 1);
        expect(await outbox()).toEqual([positions[2], next]);
      });

      it('keeps events after eventsThrough, those stamped at or after the time, and those with ids that are not ULIDs', async () => {
        const positions = await eventsAt([1, 2, 5, 6]);
        expect(await tx((t) => t.pruneExpired({ before: at(60), eventsThrough: positions[0] ?? 0, limit: 10 }))).toEqual({ ...none, events: 1 });
        expect(await tx((t) => t.pruneExpired({ before: at(5), eventsThrough: 1000, limit: 10 }))).toEqual({ ...none, events: 1 });
        expect(await outbox()).toEqual(positions.slice(2));

        const [named] = await tx(async (t) => [(await t.appendEvent(taggedEvent(WS_B, 'evt_named', 'ct_ana'))).position]);
        await eventsAt([8]);
        expect(await tx((t) => t.pruneExpired({ before: at(60), eventsThrough: 1000, limit: 10 }))).toEqual({ ...none, events: 2 });
        expect(await outbox()).toEqual([named, (named ?? 0) + 1]);
      });

      it('keeps an event a pending delivery waits to send, and every event after it', async () => {
        const positions = await eventsAt([1, 2, 3, 4]);
        await tx(async (t) => {
          await t.insertHook(hook(WS_A, 'hk_1'));
          await t.insertDelivery(delivery(WS_A, 'dl_1', 'hk_1', positions[0] ?? 0, { status: 'delivered', deliveredAt: at(1) }));
          await t.insertDelivery(delivery(WS_A, 'dl_2', 'hk_1', positions[1] ?? 0));
          await t.insertDelivery(delivery(WS_A, 'dl_3', 'hk_1', positions[2] ?? 0, { status: 'dead', attempts: 3, lastError: 'HTTP 500' }));
        });
        expect(await tx((t) => t.pruneExpired({ before: at(60), eventsThrough: 1000, limit: 10 }))).toEqual({ ...none, events: 1, deliveries: 1 });
        expect(await outbox()).toEqual(positions.slice(1));
        expect(await store.read(async (t) => (await t.listDeliveries(WS_A, 'hk_1', { limit: 10 })).map((d) => d.id))).toEqual(['dl_3', 'dl_2']);
      });

      it('deletes at most the limit of events, oldest first', async () => {
        const positions = await eventsAt([1, 2, 3, 4, 5]);
        expect(await tx((t) => t.pruneExpired({ before: at(60), eventsThrough: 1000, limit: 2 }))).toEqual({ ...none, events: 2 });
        expect(await outbox()).toEqual(positions.slice(2));
      });

      it('deletes finished runs stamped and last updated before the time, in id order, and keeps active ones', async () => {
        await tx(async (t) => {
          await t.insertRun(run(WS_A, ulidAt(1, 1), 'ct_ana', { status: 'completed', createdAt: at(1), updatedAt: at(2) }));
          await t.insertRun(run(WS_B, ulidAt(1, 2), 'ct_ana', { status: 'cancelled', createdAt: at(1), updatedAt: at(3) }));
          await t.insertRun(run(WS_A, ulidAt(1, 3), 'ct_ana', { status: 'active', createdAt: at(1), updatedAt: at(1) }));
          await t.setTimer(timer(WS_A, ulidAt(1, 3), at(2)));
          await t.insertRun(run(WS_A, ulidAt(1, 4), 'ct_ana', { status: 'completed', createdAt: at(1), updatedAt: at(7) }));
          await t.insertRun(run(WS_A, ulidAt(6, 5), 'ct_ana', { status: 'completed', createdAt: at(4), updatedAt: at(4) }));
          await t.insertRun(run(WS_A, 'run_named', 'ct_ana', { status: 'completed', createdAt: at(1), updatedAt: at(1) }));
        });
        expect(await tx((t) => t.pruneExpired({ before: at(5), eventsThrough: 0, limit: 1 }))).toEqual({ ...none, runs: 1 });
        expect(await store.read((t) => t.getRun(WS_A, ulidAt(1, 1)))).toBeUndefined();
        expect(await tx((t) => t.pruneExpired({ before: at(5), eventsThrough: 0, limit: 10 }))).toEqual({ ...none, runs: 1 });
        expect(await store.read(async (t) => (await t.listRunsOfContact(WS_A, 'ct_ana')).map((r) => r.id).sort())).toEqual(
          [ulidAt(1, 3), ulidAt(1, 4), ulidAt(6, 5), 'run_named'].sort(),
        );
        expect(await store.read((t) => t.listRunsOfContact(WS_B, 'ct_ana'))).toEqual([]);
        expect(await store.read((t) => t.getTimer(ulidAt(1, 3)))).toMatchObject({ dueAt: at(2) });
      });

      it('keeps everything when the transaction that pruned fails', async () => {
        const positions = await eventsAt([1, 2]);
        await answer('wamid.1', at(1));
        await tx(async (t) => {
          await t.insertHook(hook(WS_A, 'hk_1'));
          await t.insertDelivery(delivery(WS_A, 'dl_1', 'hk_1', positions[0] ?? 0, { status: 'delivered', deliveredAt: at(1) }));
          await t.insertRun(run(WS_A, ulidAt(1, 9), 'ct_ana', { status: 'completed', createdAt: at(1), updatedAt: at(1) }));
        });
        const snapshotOf = (t: StoreTx) =>
          Promise.all([
            t.listEventsAfter(0, 100),
            t.listDeliveries(WS_A, 'hk_1', { limit: 10 }),
            t.listProcessedMessagesOfContact(WS_A, 'ct_ana'),
            t.listRunsOfContact(WS_A, 'ct_ana'),
          ]);
        const before = await store.read(snapshotOf);
        const failure = new Error('boom');
        await expect(
          tx(async (t) => {
            expect(await t.pruneExpired({ before: at(60), eventsThrough: 1000, limit: 10 })).toEqual({ processedMessages: 1, events: 1, deliveries: 1, runs: 1 });
            throw failure;
          }),
        ).rejects.toBe(failure);
        expect(await store.read(snapshotOf)).toStrictEqual(before);
        const [next] = await eventsAt([70]);
        expect(next).toBe((positions[1] ?? 0) + 1);
      });

      it('refuses a time that is not a canonical timestamp and a position that is not a whole number', async () => {
        await expectCode(tx((t) => t.pruneExpired({ before: '2026-01-01', eventsThrough: 0, limit: 10 })), 'VALIDATION_FAILED');
        await expectCode(tx((t) => t.pruneExpired({ before: at(5), eventsThrough: -1, limit: 10 })), 'VALIDATION_FAILED');
        await expectCode(tx((t) => t.pruneExpired({ before: at(5), eventsThrough: 1.5, limit: 10 })), 'VALIDATION_FAILED');
        await expectCode(tx((t) => t.pruneExpired({ before: at(5), eventsThrough: 0, limit: -1 })), 'VALIDATION_FAILED');
      });
    });

    describe('transactions', () => {
      beforeEach(seedWorkspaces);

      /** Everything observable through the port, to compare before and after a failed transaction. */
      async function snapshot(t: StoreTx): Promise<unknown> {
        const perWorkspace: Record<string, unknown> = {};
        for (const ws of await t.listWorkspaces()) {
          perWorkspace[ws.id] = {
            workspace: ws,
            contacts: await t.listContacts(ws.id, { limit: 1000 }),
            tags: await t.listTags(ws.id),
            byIdentity: await t.findContactByIdentity(ws.id, 'sms', '+34600000009'),
            anaByIdentity: await t.findContactByIdentity(ws.id, 'whatsapp', '+34600000001'),
            tagged: await t.listContacts(ws.id, { tag: 'vip', limit: 1000 }),
            byEmail: await t.findContactByEmail(ws.id, 'ghost@example.com'),
            erasedAddresses: await t.findErasedAddresses(ws.id, ['d-ghost', 'd-kept']),
            records: await t.listConsentRecords(ws.id, {}),
            last: await t.lastConsentRecord(ws.id),
            byKey: await t.findConsentRecordByIdempotencyKey(ws.id, 'ghost-key'),
            states: await t.listConsentStates(ws.id, { limit: 1000 }),
            conversation: await t.getConversation(ws.id, 'cv_1'),
            ghostConversation: await t.getConversation(ws.id, 'cv_ghost'),
            run: await t.getRun(ws.id, 'run_1'),
            ghostRun: await t.getRun(ws.id, 'run_ghost'),
            processed: await t.getProcessedMessage(ws.id, 'whatsapp', 'wamid.ghost'),
            answersOfAna: await t.listProcessedMessagesOfContact(ws.id, 'ct_ana'),
            runsOfAna: await t.listRunsOfContact(ws.id, 'ct_ana'),
            events: await t.listEvents(ws.id, { limit: 1000 }),
          };
        }
        return {
          perWorkspace,
          timers: await t.listDueTimers(at(100_000), 1000),
          timerCount: await t.countTimers(),
          outbox: await t.listEventsAfter(0, 1000),
          meta: [await t.getMeta('cursor'), await t.getMeta('ghost')],
          apiKeys: await t.listApiKeys(),
          apiKeysByHash: [
            await t.findApiKeyByHash('sha256-of-key_1'),
            await t.findApiKeyByHash('sha256-rotated'),
            await t.findApiKeyByHash('sha256-of-key_ghost'),
          ],
          apiKeyById: [await t.getApiKey('key_1'), await t.getApiKey('key_ghost')],
          hooks: [await t.getHook(WS_A, 'hk_1'), await t.getHook(WS_A, 'hk_ghost'), await t.listHooks(WS_A)],
          liveHooks: await t.listAllLiveHooks(),
          deliveries: [
            await t.listDeliveries(WS_A, 'hk_1', { limit: 1000 }),
            await t.listDeliveries(WS_A, 'hk_1', { status: 'dead', limit: 1000 }),
            await t.listDeliveries(WS_A, 'hk_ghost', { limit: 1000 }),
          ],
          deliveryById: [await t.getDelivery(WS_A, 'dl_3'), await t.getDelivery(WS_A, 'dl_ghost')],
          readyByHook: await t.listReadyDeliveriesByHook(at(100_000), { perHook: 1000, hooks: 1000 }),
          backlog: await t.deliveryBacklog(),
          deliveryCounts: [
            await t.countDeliveries('pending'),
            await t.countDeliveries('delivered'),
            await t.countDeliveries('dead'),
          ],
        };
      }

      async function seedEverything(): Promise<void> {
        await tx(async (t) => {
          await t.appendConsentRecord(record(WS_A, 'ct_ana', 1));
          await t.upsertConsentState(stateOf(record(WS_A, 'ct_ana', 1)));
          await t.addErasedAddresses(WS_A, ['d-kept']);
          await t.insertConversation(conversation(WS_A, 'cv_1', 'ct_ana'));
          await t.insertRun(run(WS_A, 'run_1', 'ct_ana'));
          await t.setTimer(timer(WS_A, 'run_1', at(60)));
          await t.saveProcessedMessage({
            workspaceId: WS_A,
            channel: 'whatsapp',
            messageId: 'wamid.seen',
            contactId: 'ct_ana',
            response: { replies: [{ text: 'Hi Ana' }] },
            processedAt: at(4),
          });
          await t.appendEvent(taggedEvent(WS_A, 'evt_01', 'ct_ana'));
          await t.setMeta('cursor', { position: 1 });
          await t.insertApiKey(apiKey(WS_A, 'key_1'));
          await t.insertHook(hook(WS_A, 'hk_1', { filter: { tag: 'vip' } }));
          await t.insertDelivery(delivery(WS_A, 'dl_1', 'hk_1', 1));
          await t.insertDelivery(delivery(WS_A, 'dl_2', 'hk_1', 2));
          await t.insertDelivery(delivery(WS_A, 'dl_3', 'hk_1', 3, { status: 'dead', attempts: 1, lastError: 'HTTP 400', lastStatusCode: 400 }));
        });
      }

      it('returns what the function returns', async () => {
        expect(await tx(async (t) => (await t.getWorkspace(WS_A))?.name)).toBe('Shop A');
      });

      it('rolls back every write of a transaction that throws, and rethrows the error', async () => {
        await seedEverything();
        const before = await tx(snapshot);
        const failure = new Error('boom');
        const outcome = tx(async (t) => {
          await t.insertWorkspace(workspace('ws_ghost'));
          await t.updateWorkspace(WS_A, { name: 'Renamed', updatedAt: at(50) });
          await t.insertContact(
            contact(WS_A, 'ct_ghost', {
              email: 'ghost@example.com',
              identities: [{ channel: 'sms', externalId: '+34600000009' }],
              tags: ['ghost'],
            }),
          );
          const ana = await t.getContact(WS_A, 'ct_ana');
          if (ana) await t.updateContact({ ...ana, tags: ['changed'], identities: [], updatedAt: at(50) });
          await t.appendConsentRecord(record(WS_A, 'ct_ana', 2, { idempotencyKey: 'ghost-key' }));
          await t.redactConsentEvidence(WS_A, 'ct_ana', { redacted: true });
          await t.upsertConsentState(stateOf(record(WS_A, 'ct_ana', 2, { status: 'opted_out' })));
          await t.insertConversation(conversation(WS_A, 'cv_ghost', 'ct_ana'));
          await t.updateConversation(conversation(WS_A, 'cv_1', 'ct_ana', { status: 'closed', closedAt: at(50) }));
          await t.insertRun(run(WS_A, 'run_ghost', 'ct_ana'));
          await t.updateRun(run(WS_A, 'run_1', 'ct_ana', { status: 'completed' }));
          await t.setTimer(timer(WS_A, 'run_1', at(5), 'wait-ghost'));
          await t.setTimer(timer(WS_A, 'run_ghost', at(6)));
          await t.deleteTimer('run_1');
          await t.saveProcessedMessage({
            workspaceId: WS_A,
            channel: 'whatsapp',
            messageId: 'wamid.ghost',
            contactId: 'ct_ana',
            response: {},
            processedAt: at(50),
          });
          await t.replaceProcessedResponse(WS_A, 'whatsapp', 'wamid.seen', { replies: [{ text: '[erased]' }] });
          await t.appendEvent(taggedEvent(WS_A, 'evt_ghost', 'ct_ana'));
          await t.setMeta('cursor', { position: 99 });
          await t.setMeta('ghost', true);
          await t.insertApiKey(apiKey(WS_A, 'key_ghost'));
          await t.updateApiKey(apiKey(WS_A, 'key_1', { hash: 'sha256-rotated', revokedAt: at(50) }));
          await t.insertHook(hook(WS_A, 'hk_ghost'));
          await t.updateHook(hook(WS_A, 'hk_1', { deletedAt: at(50), deletedReason: 'gone' }));
          await t.insertDelivery(delivery(WS_A, 'dl_ghost', 'hk_ghost', 3));
          await t.updateDelivery(delivery(WS_A, 'dl_1', 'hk_1', 1, { status: 'delivered', deliveredAt: at(50) }));
          expect(await t.resendDeadDeliveries(WS_A, 'hk_1', { at: at(50), limit: 10 })).toEqual({ resent: 1, more: false });
          await t.abandonDeliveries('hk_1', 'hook gone', at(50));
          throw failure;
        });
        await expect(outcome).rejects.toBe(failure);
        expect(await tx(snapshot)).toStrictEqual(before);
      });

      it('rolls back a transaction whose function rejects after awaiting, and keeps positions gapless', async () => {
        const first = await tx((t) => t.appendEvent(taggedEvent(WS_A, 'evt_01', 'ct_ana')));
        await expect(
          tx(async (t) => {
            await t.appendEvent(taggedEvent(WS_A, 'evt_02', 'ct_ana'));
            await t.appendEvent(taggedEvent(WS_A, 'evt_03', 'ct_ana'));
            await settle();
            return Promise.reject(new Error('late failure'));
          }),
        ).rejects.toThrow('late failure');
        const next = await tx((t) => t.appendEvent(taggedEvent(WS_A, 'evt_04', 'ct_ana')));
        expect(next.position).toBe(first.position + 1);
        expect(await tx((t) => t.getEvent(WS_A, 'evt_02'))).toBeUndefined();
      });

      it('keeps the writes of a transaction whose function caught a failed write', async () => {
        await tx(async (t) => {
          await t.insertContact(contact(WS_A, 'ct_kept'));
          await expectCode(
            t.insertContact(contact(WS_A, 'ct_rejected', { identities: [{ channel: 'whatsapp', externalId: '+34600000001' }] })),
            'CONFLICT',
          );
          await t.appendEvent(taggedEvent(WS_A, 'evt_after', 'ct_kept'));
        });
        await tx(async (t) => {
          expect((await t.getContact(WS_A, 'ct_kept'))?.id).toBe('ct_kept');
          expect(await t.getContact(WS_A, 'ct_rejected')).toBeUndefined();
          expect((await t.getEvent(WS_A, 'evt_after'))?.id).toBe('evt_after');
        });
      });

      it('serialises concurrent transactions: the second starts once the first has finished, and sees its writes', async () => {
        const log: string[] = [];
        let release: () => void = () => undefined;
        const gate = new Promise<void>((resolve) => {
          release = resolve;
        });
        const first = tx(async (t) => {
          log.push('first:start');
          await t.insertContact(contact(WS_A, 'ct_first'));
          await gate;
          await t.appendEvent(taggedEvent(WS_A, 'evt_first', 'ct_first'));
          log.push('first:end');
          return 'first';
        });
        const second = tx(async (t) => {
          log.push('second:start');
          const seen = await t.getContact(WS_A, 'ct_first');
          const event = await t.getEvent(WS_A, 'evt_first');
          log.push('second:end');
          return [seen?.id, event?.id];
        });
        await settle();
        expect(log).toEqual(['first:start']);
        release();
        expect(await first).toBe('first');
        expect(await second).toEqual(['ct_first', 'evt_first']);
        expect(log).toEqual(['first:start', 'first:end', 'second:start', 'second:end']);
      });

      it('commits every one of many concurrent transactions, with gapless event positions', async () => {
        const count = 200;
        const positions = await Promise.all(
          Array.from({ length: count }, (_, i) =>
            tx(async (t) => {
              await t.insertContact(contact(WS_A, `ct_many_${String(i).padStart(3, '0')}`));
              return (await t.appendEvent(taggedEvent(WS_A, `evt_many_${String(i).padStart(3, '0')}`, `ct_many_${String(i).padStart(3, '0')}`))).position;
            }),
          ),
        );
        const first = positions[0] ?? 0;
        expect(positions).toEqual(Array.from({ length: count }, (_, i) => first + i));
        const visible = await tx(async (t) => ({
          contacts: (await t.listContacts(WS_A, { limit: 1000 })).filter((c) => c.id.startsWith('ct_many_')).length,
          events: (await t.listEvents(WS_A, { limit: 1000 })).length,
        }));
        expect(visible).toEqual({ contacts: count, events: count });
      });

      it('leaves no trace of a failing transaction among concurrent ones, while the others commit', async () => {
        const failure = new Error('the middle one fails');
        const outcomes = await Promise.allSettled(
          Array.from({ length: 9 }, (_, i) =>
            tx(async (t) => {
              const seenBefore = (await t.listContacts(WS_A, { limit: 1000 })).map((c) => c.id);
              await t.insertContact(contact(WS_A, `ct_concurrent_${i}`));
              await t.appendEvent(taggedEvent(WS_A, `evt_concurrent_${i}`, `ct_concurrent_${i}`));
              await t.setMeta('cursor', { written: i });
              if (i === 4) {
                await settle();
                throw failure;
              }
              return seenBefore;
            }),
          ),
        );
        expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
        const failed = outcomes[4];
        expect(failed?.status === 'rejected' && failed.reason).toBe(failure);
        // The one after the failure saw the four before it, not the failed one.
        const sixth = outcomes[5];
        expect(sixth?.status === 'fulfilled' && sixth.value).toEqual(['ct_ana', 'ct_concurrent_0', 'ct_concurrent_1', 'ct_concurrent_2', 'ct_concurrent_3']);
        const after = await tx(async (t) => ({
          contacts: (await t.listContacts(WS_A, { limit: 1000 })).map((c) => c.id),
          events: (await t.listEvents(WS_A, { limit: 1000 })).map((e) => [e.id, e.position]),
          cursor: await t.getMeta('cursor'),
        }));
        const kept = [0, 1, 2, 3, 5, 6, 7, 8];
        expect(after.contacts).toEqual(['ct_ana', ...kept.map((i) => `ct_concurrent_${i}`)]);
        const firstPosition = after.events.at(-1)?.[1];
        expect(after.events).toEqual(kept.map((i, n) => [`evt_concurrent_${i}`, Number(firstPosition) + n]).reverse());
        expect(after.cursor).toEqual({ written: 8 });
      });

      it('runs the next transaction after one that failed', async () => {
        const failing = tx(async () => {
          throw new Error('first fails');
        });
        const next = tx(async (t) => (await t.getWorkspace(WS_B))?.name);
        await expect(failing).rejects.toThrow('first fails');
        expect(await next).toBe('Shop B');
      });

      it('refuses a transaction object used after its transaction ended', async () => {
        const leaked: StoreTx[] = [];
        await tx(async (t) => {
          leaked.push(t);
        });
        const stale = leaked[0];
        if (!stale) throw new Error('no transaction captured');
        await expect(stale.insertWorkspace(workspace('ws_late'))).rejects.toThrow(/ended/);
        expect(await tx((t) => t.getWorkspace('ws_late'))).toBeUndefined();
      });

      it('refuses new transactions once closed, and closing twice is harmless', async () => {
        await store.close();
        await store.close();
        await expect(store.transaction(async (t) => t.listWorkspaces())).rejects.toThrow(/closed/);
        await expect(store.probe()).rejects.toThrow(/closed/);
      });

      describe('reads', () => {
        /** One call of every kind of write, each of which changes something in the seeded store. */
        const writes: readonly (readonly [string, (t: StoreTx) => Promise<unknown>])[] = [
          ['insertWorkspace', (t) => t.insertWorkspace(workspace('ws_ghost'))],
          ['updateWorkspace', (t) => t.updateWorkspace(WS_A, { name: 'Renamed', updatedAt: at(50) })],
          ['insertContact', (t) => t.insertContact(contact(WS_A, 'ct_ghost', { email: 'ghost@example.com' }))],
          ['updateContact', (t) => t.updateContact(contact(WS_A, 'ct_ana', { tags: ['changed'], updatedAt: at(50) }))],
          ['addErasedAddresses', (t) => t.addErasedAddresses(WS_A, ['d-ghost'])],
          ['removeErasedAddresses', (t) => t.removeErasedAddresses(WS_A, ['d-kept'])],
          ['appendConsentRecord', (t) => t.appendConsentRecord(record(WS_A, 'ct_ana', 2, { idempotencyKey: 'ghost-key' }))],
          ['redactConsentEvidence', (t) => t.redactConsentEvidence(WS_A, 'ct_ana', { redacted: true })],
          ['upsertConsentState', (t) => t.upsertConsentState(stateOf(record(WS_A, 'ct_ana', 2, { status: 'opted_out' })))],
          ['insertConversation', (t) => t.insertConversation(conversation(WS_A, 'cv_ghost', 'ct_ana'))],
          ['updateConversation', (t) => t.updateConversation(conversation(WS_A, 'cv_1', 'ct_ana', { status: 'closed', closedAt: at(50) }))],
          ['insertRun', (t) => t.insertRun(run(WS_A, 'run_ghost', 'ct_ana'))],
          ['updateRun', (t) => t.updateRun(run(WS_A, 'run_1', 'ct_ana', { status: 'completed' }))],
          ['setTimer', (t) => t.setTimer(timer(WS_A, 'run_1', at(5), 'wait-ghost'))],
          ['deleteTimer', (t) => t.deleteTimer('run_1')],
          ['saveProcessedMessage', (t) => t.saveProcessedMessage({ workspaceId: WS_A, channel: 'whatsapp', messageId: 'wamid.ghost', contactId: 'ct_ana', response: {}, processedAt: at(50) })],
          ['replaceProcessedResponse', (t) => t.replaceProcessedResponse(WS_A, 'whatsapp', 'wamid.seen', { replies: [{ text: '[erased]' }] })],
          ['appendEvent', (t) => t.appendEvent(taggedEvent(WS_A, 'evt_ghost', 'ct_ana'))],
          ['replaceEventData', (t) => t.replaceEventData(WS_A, 'evt_01', { contactId: 'ct_ana', tag: '[erased]' })],
          ['setMeta', (t) => t.setMeta('cursor', { position: 99 })],
          ['insertApiKey', (t) => t.insertApiKey(apiKey(WS_A, 'key_ghost'))],
          ['updateApiKey', (t) => t.updateApiKey(apiKey(WS_A, 'key_1', { hash: 'sha256-rotated', revokedAt: at(50) }))],
          ['insertHook', (t) => t.insertHook(hook(WS_A, 'hk_ghost'))],
          ['updateHook', (t) => t.updateHook(hook(WS_A, 'hk_1', { deletedAt: at(50), deletedReason: 'gone' }))],
          ['insertDelivery', (t) => t.insertDelivery(delivery(WS_A, 'dl_ghost', 'hk_1', 4))],
          ['updateDelivery', (t) => t.updateDelivery(delivery(WS_A, 'dl_1', 'hk_1', 1, { status: 'delivered', deliveredAt: at(50) }))],
          ['resendDeadDeliveries', (t) => t.resendDeadDeliveries(WS_A, 'hk_1', { at: at(50), limit: 10 })],
          ['abandonDeliveries', (t) => t.abandonDeliveries('hk_1', 'hook gone', at(50))],
          ['abandonRepliesToContact', (t) => t.abandonRepliesToContact(WS_A, 'ct_ana', 'not sent: the contact was erased', at(50))],
          ['pruneExpired', (t) => t.pruneExpired({ before: at(50), eventsThrough: 10, limit: 10 })],
        ];

        it('reads what committed transactions wrote, as a transaction reads it', async () => {
          await seedEverything();
          expect(await store.read(snapshot)).toStrictEqual(await tx(snapshot));
        });

        /** One call of every kind of write, each of which would change nothing: its row is not there. */
        const idleWrites: readonly (readonly [string, (t: StoreTx) => Promise<unknown>])[] = [
          ['updateWorkspace', (t) => t.updateWorkspace('ws_none', { name: 'Nobody', updatedAt: at(50) })],
          ['updateContact', (t) => t.updateContact(contact(WS_A, 'ct_none'))],
          ['addErasedAddresses', (t) => t.addErasedAddresses(WS_A, [])],
          ['removeErasedAddresses', (t) => t.removeErasedAddresses(WS_A, ['d-none'])],
          ['redactConsentEvidence', (t) => t.redactConsentEvidence(WS_A, 'ct_none', { redacted: true })],
          ['updateConversation', (t) => t.updateConversation(conversation(WS_A, 'cv_none', 'ct_ana'))],
          ['updateRun', (t) => t.updateRun(run(WS_A, 'run_none', 'ct_ana'))],
          ['deleteTimer', (t) => t.deleteTimer('run_none')],
          ['replaceProcessedResponse', (t) => t.replaceProcessedResponse(WS_A, 'whatsapp', 'wamid.none', { replies: [] })],
          ['replaceEventData', (t) => t.replaceEventData(WS_A, 'evt_none', { contactId: 'ct_ana', tag: '[erased]' })],
          ['updateApiKey', (t) => t.updateApiKey(apiKey(WS_A, 'key_none'))],
          ['updateHook', (t) => t.updateHook(hook(WS_A, 'hk_none'))],
          ['updateDelivery', (t) => t.updateDelivery(delivery(WS_A, 'dl_none', 'hk_1', 1))],
          ['resendDeadDeliveries', (t) => t.resendDeadDeliveries(WS_A, 'hk_none', { at: at(50), limit: 10 })],
          ['abandonDeliveries', (t) => t.abandonDeliveries('hk_none', 'hook gone', at(50))],
          ['abandonRepliesToContact', (t) => t.abandonRepliesToContact(WS_A, 'ct_none', 'not sent: the contact was erased', at(50))],
          ['pruneExpired', (t) => t.pruneExpired({ before: at(0), eventsThrough: 0, limit: 10 })],
        ];

        async function refusal(write: (t: StoreTx) => Promise<unknown>): Promise<unknown> {
          return store.read(write).then(
            () => undefined,
            (error: unknown) => error,
          );
        }

        it('has a case for every write method', () => {
          expect(writes.map(([operation]) => operation).sort()).toEqual([...STORE_TX_WRITES].sort());
        });

        it('refuses every write with WriteInsideReadError naming it, and keeps nothing of it', async () => {
          await seedEverything();
          const before = await tx(snapshot);
          for (const [operation, write] of writes) {
            const refused = await refusal(write);
            expect(refused, operation).toBeInstanceOf(WriteInsideReadError);
            expect(refused, operation).toMatchObject({ name: 'WriteInsideReadError', operation });
            expect(isConsentryError(refused), operation).toBe(false);
          }
          expect(await store.read(snapshot)).toStrictEqual(before);
          expect(await tx(snapshot)).toStrictEqual(before);
        });

        it('refuses a write that would change nothing as well, as SQLite refuses the statement', async () => {
          await seedEverything();
          const before = await tx(snapshot);
          for (const [operation, write] of idleWrites) {
            expect(await refusal(write), operation).toMatchObject({ name: 'WriteInsideReadError', operation });
          }
          expect(await tx(snapshot)).toStrictEqual(before);
        });

        it('goes on reading after a refused write it caught, and answers', async () => {
          await seedEverything();
          const answer = await store.read(async (t) => {
            await expect(t.setMeta('cursor', { position: 99 })).rejects.toMatchObject({ name: 'WriteInsideReadError', operation: 'setMeta' });
            return { cursor: await t.getMeta('cursor'), name: (await t.getWorkspace(WS_A))?.name };
          });
          expect(answer).toEqual({ cursor: { position: 1 }, name: 'Shop A' });
        });

        it('rejects with the error its function throws, and the store goes on', async () => {
          const failure = new Error('read failed');
          await expect(store.read(() => Promise.reject(failure))).rejects.toBe(failure);
          expect(await store.read(async (t) => (await t.getWorkspace(WS_B))?.name)).toBe('Shop B');
        });

        it('sees every transaction that settled before it, and all or none of one still running', async () => {
          await tx((t) => t.insertContact(contact(WS_A, 'ct_settled')));
          expect((await store.read((t) => t.getContact(WS_A, 'ct_settled')))?.id).toBe('ct_settled');
          let release: () => void = () => undefined;
          const gate = new Promise<void>((resolve) => {
            release = resolve;
          });
          const running = tx(async (t) => {
            await t.insertContact(contact(WS_A, 'ct_pair_1'));
            await gate;
            await t.insertContact(contact(WS_A, 'ct_pair_2'));
          });
          await settle();
          const seen = store.read(async (t) => [(await t.getContact(WS_A, 'ct_pair_1'))?.id ?? null, (await t.getContact(WS_A, 'ct_pair_2'))?.id ?? null]);
          await settle();
          release();
          await running;
          expect([['ct_pair_1', 'ct_pair_2'], [null, null]]).toContainEqual(await seen);
          expect(await store.read(async (t) => (await t.listContacts(WS_A, { limit: 10 })).map((c) => c.id))).toEqual(['ct_ana', 'ct_pair_1', 'ct_pair_2', 'ct_settled']);
        });

        it('refuses a read once the store is closed', async () => {
          await store.close();
          await expect(store.read(async (t) => t.listWorkspaces())).rejects.toThrow(/closed/);
        });
      });

      it('probes the store from inside an open transaction and beside queued ones, without waiting for them', async () => {
        const queued = tx((t) => t.insertWorkspace(workspace('ws_queued')));
        const probed = await tx(async (t) => {
          await t.insertWorkspace(workspace('ws_open'));
          return store.probe();
        });
        expect(probed).toStrictEqual({ diskFull: false });
        await queued;
        expect(await tx((t) => t.getWorkspace('ws_queued'))).toBeDefined();
      });
    });
  });
}

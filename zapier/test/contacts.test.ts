import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Bundle, createAppTester, type ZObject } from 'zapier-platform-core';
import { z } from 'zod';
import { FakeClock } from '../../src/ports/clock.js';
import { startServer } from '../../src/server/index.js';
import { createMemoryStore } from '../../src/store/memory.js';
import recordConsent from '../src/creates/record_consent.js';
import requestConsent from '../src/creates/request_consent.js';
import app from '../src/index.js';
import checkPermission from '../src/searches/check_permission.js';
import findContact from '../src/searches/find_contact.js';
import consentWithdrawn from '../src/triggers/consent_withdrawn.js';
import purposeList from '../src/triggers/purpose_list.js';
import { errorDetails, operationOf, rejection, serverApi } from './helpers.js';

// How steps find, complete and create contacts, against a real Consentry server on 127.0.0.1 (no
// msw here: it would intercept the loopback calls).

type Operation = (z: ZObject, bundle: Bundle) => unknown;
const appTester = createAppTester(app);

let server: Awaited<ReturnType<typeof startServer>>;
const clock = new FakeClock('2026-03-01T09:00:00.000Z');
let authData: { serverUrl: string; apiKey: string };
let key = '';
let sequence = 0;

beforeAll(async () => {
  server = await startServer({ store: createMemoryStore(), clock, host: '127.0.0.1', port: 0, logger: false, workers: () => [] });
});

afterAll(async () => {
  await server?.close();
});

// A workspace per test: its contacts are its own.
beforeEach(async () => {
  sequence += 1;
  const workspace = await server.createWorkspaceWithKey(`Ana Test Shop ${sequence}`);
  key = workspace.key;
  authData = { serverUrl: server.url, apiKey: key };
  await api('/v1/settings', { method: 'PATCH', body: { privacyPolicyUrl: 'https://example.com/privacy' } });
});

function run(operation: unknown, bundle: Record<string, unknown> = {}): Promise<unknown> {
  if (typeof operation !== 'function') throw new Error('not an operation function');
  return appTester(operation as Operation, { authData, ...bundle });
}

function api(path: string, init: { method?: string; body?: unknown } = {}): Promise<unknown> {
  return serverApi(server.url, key, path, init);
}

const ContactSchema = z.object({ id: z.string(), email: z.string().nullable(), phone: z.string().nullable() });
const ContactListSchema = z.object({ data: z.array(ContactSchema) });
const ItemSchema = z.record(z.string(), z.unknown());
const ItemsSchema = z.array(ItemSchema);

/** A message the contact sent by SMS, as the channel's webhook posts it. */
async function sms(phone: string, text: string): Promise<string> {
  clock.advance(60_000);
  const answer = await api('/v1/messages', { method: 'POST', body: { channel: 'sms', messageId: `sms-${sequence}-${text}`, from: { id: phone, phone }, text } });
  return z.object({ contactId: z.string() }).parse(answer).contactId;
}

async function contactsWith(query: string): Promise<z.infer<typeof ContactSchema>[]> {
  return ContactListSchema.parse(await api(`/v1/contacts?${query}`)).data;
}

const optOutBySms = { email: 'eva.test@example.com', phone: '+34 600 000 021', channel: 'sms', status: 'opted_out' };

describe('a step given an email and a phone, on a real server', () => {
  it('stops, naming both contacts, when a START by SMS and a web form made two contacts; the SMS opt-in stays as it was', async () => {
    const byPhone = await sms('+34600000021', 'START');
    const byEmail = ContactSchema.parse(await api('/v1/contacts', { method: 'POST', body: { name: 'Eva Test', email: 'eva.test@example.com' } })).id;
    const details = errorDetails(await rejection(run(recordConsent.operation.perform, { inputData: optOutBySms })));
    expect(details).toMatchObject({ code: 'AMBIGUOUS_CONTACT', status: 409 });
    expect(details.message).toContain(`${byPhone} (by phone) and ${byEmail} (by email)`);
    expect(await run(checkPermission.operation.perform, { inputData: { phone: '+34600000021', channel: 'sms' } })).toMatchObject([
      { contactId: byPhone, allowed: true, reason: 'opted_in' },
    ]);
  });

  it('adds the phone to the contact known by email, so the SMS opt-out is the one the phone finds', async () => {
    const byEmail = ContactSchema.parse(await api('/v1/contacts', { method: 'POST', body: { email: 'eva.test@example.com' } })).id;
    const recorded = ItemSchema.parse(await run(recordConsent.operation.perform, { inputData: optOutBySms }));
    expect(recorded).toMatchObject({ contactId: byEmail, contactPhone: '+34600000021', warnings: '' });
    expect(await contactsWith('phone=%2B34600000021')).toMatchObject([{ id: byEmail, email: 'eva.test@example.com' }]);
    expect(await run(findContact.operation.perform, { inputData: { phone: '+34600000021' } })).toMatchObject([{ id: byEmail }]);
    expect(await run(checkPermission.operation.perform, { inputData: { phone: '+34600000021', channel: 'sms' } })).toMatchObject([
      { contactId: byEmail, allowed: false, reason: 'opted_out' },
    ]);
  });

  it('records on the email’s contact with the server’s words as a warning when the phone cannot be read', async () => {
    const byEmail = ContactSchema.parse(await api('/v1/contacts', { method: 'POST', body: { email: 'eva.test@example.com' } })).id;
    const recorded = ItemSchema.parse(await run(recordConsent.operation.perform, { inputData: { ...optOutBySms, phone: '+34 606 12' } }));
    expect(recorded.contactId).toBe(byEmail);
    expect(recorded.contactPhone).toBeNull();
    expect(recorded.warnings).toBe(`phone: +34 606 12 was not added to contact ${byEmail}: "+34 606 12" is not a valid phone number`);
  });
});

describe('request_consent and reachability, on a real server', () => {
  it('asks on WhatsApp a contact known by email once the phone given is added', async () => {
    const byEmail = ContactSchema.parse(await api('/v1/contacts', { method: 'POST', body: { email: 'eva.test@example.com' } })).id;
    const started = ItemSchema.parse(await run(requestConsent.operation.perform, { inputData: { email: 'eva.test@example.com', phone: '+34600000022', channel: 'whatsapp' } }));
    expect(started).toMatchObject({ contactId: byEmail, alreadyAgreed: false, warnings: '' });
    expect(String(started.replyText)).toContain('https://example.com/privacy');
  });

  it('halts for a new lead with only an email on WhatsApp, and leaves no contact behind', async () => {
    const error = await rejection(run(requestConsent.operation.perform, { inputData: { email: 'new.lead@example.com', channel: 'whatsapp' } }));
    expect(error.name).toBe('HaltedError');
    expect(error.message).toContain('No contact was created: new.lead@example.com cannot be reached on whatsapp without a phone number');
    expect(await contactsWith('email=new.lead%40example.com')).toEqual([]);
  });

  it('halts, not errors, for a known contact with only an email on SMS', async () => {
    const byEmail = ContactSchema.parse(await api('/v1/contacts', { method: 'POST', body: { email: 'eva.test@example.com' } })).id;
    const error = await rejection(run(requestConsent.operation.perform, { inputData: { contactId: byEmail, channel: 'sms' } }));
    expect(error.name).toBe('HaltedError');
    expect(error.message).toContain(`Contact ${byEmail} cannot be reached on sms: it has no phone number`);
  });
});

describe('statuses and purposes, on a real server', () => {
  it('shows a STOP ALL on every channel in Find Contact, as the permission check answers', async () => {
    const contactId = await sms('+34600000023', 'START');
    await sms('+34600000023', 'STOP ALL');
    const [found] = ItemsSchema.parse(await run(findContact.operation.perform, { inputData: { contactId } }));
    const consentStatus = z.record(z.string(), z.string()).parse(found?.consentStatus);
    for (const channel of ['whatsapp', 'sms', 'email', 'messenger', 'telegram', 'webchat']) {
      const [permission] = ItemsSchema.parse(await run(checkPermission.operation.perform, { inputData: { contactId, channel } }));
      expect(consentStatus[`marketing_${channel}`], channel).toBe(permission?.status);
      expect(consentStatus[`marketing_${channel}`], channel).toBe('opted_out');
    }
  });

  it('lists the workspace’s purposes, and refuses a misspelt one for a contact never seen', async () => {
    await api('/v1/settings', { method: 'PATCH', body: { purposes: ['loyalty'] } });
    expect(await run(operationOf(purposeList).perform)).toEqual([
      { id: 'marketing', name: 'Marketing (channel subscription)' },
      { id: 'privacy', name: 'Privacy (processing personal data)' },
      { id: 'loyalty', name: 'loyalty' },
    ]);
    const lead = { email: 'new.lead@example.com', channel: 'email' };
    expect(await run(checkPermission.operation.perform, { inputData: { ...lead, purpose: 'loyalty' } })).toMatchObject([{ contactId: '', reason: 'not_specified' }]);
    const typo = errorDetails(await rejection(run(checkPermission.operation.perform, { inputData: { ...lead, purpose: 'loyalti' } })));
    expect(typo).toMatchObject({ status: 422 });
    expect(typo.message).toContain('unknown purpose "loyalti"');
  });
});

describe('an erased contact, on a real server (it answers GET /v1/contacts/{id} 200, with erasedAt set and no details)', () => {
  async function erasedAfterStop(phone: string): Promise<string> {
    const contactId = await sms(phone, 'STOP');
    clock.advance(60_000);
    await api(`/v1/contacts/${contactId}`, { method: 'DELETE' });
    expect(z.object({ erasedAt: z.string(), phone: z.null() }).parse(await api(`/v1/contacts/${contactId}`)).erasedAt).toBe(clock.now().toISOString());
    return contactId;
  }

  it('marks a trigger item about it contactDetailsMissing and contactErased', async () => {
    const contactId = await erasedAfterStop('+34600000031');
    const { performList } = operationOf(consentWithdrawn);
    const items = ItemsSchema.parse(await run(performList, { meta: { limit: 5 } }));
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ contactId, contactName: null, contactEmail: null, contactPhone: null, contactDetailsMissing: true, contactErased: true });
  });

  it('is not found by Find Contact by its ID, while Find Messaging Permission still says it was erased', async () => {
    const contactId = await erasedAfterStop('+34600000032');
    expect(await run(findContact.operation.perform, { inputData: { contactId } })).toEqual([]);
    expect(await run(checkPermission.operation.perform, { inputData: { contactId, channel: 'sms' } })).toMatchObject([{ contactId, allowed: false, reason: 'contact_erased' }]);
  });

  it('halts Request Privacy Consent, saying the contact was erased', async () => {
    const contactId = await erasedAfterStop('+34600000033');
    for (const channel of ['sms', 'whatsapp']) {
      const error = await rejection(run(requestConsent.operation.perform, { inputData: { contactId, channel } }));
      expect(error.name).toBe('HaltedError');
      expect(error.message).toContain(`Contact ${contactId} was erased in Consentry on`);
      expect(error.message).not.toContain('phone number');
    }
  });
});

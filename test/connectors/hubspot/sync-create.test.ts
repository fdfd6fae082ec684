import { afterEach, describe, expect, it } from 'vitest';
import { channelPropertyNames, CONTACT_ID_PROPERTY } from '../../../connectors/hubspot/properties.js';
import type { FakeAnswer } from '../../fakes/hubspot-server.js';
import { hubspotProperties, startHarness, type Harness } from './harness.js';

/**
 * Creating missing contacts: HubSpot's batch create is not idempotent, its batch upsert by a
 * unique property is (https://developers.hubspot.com/docs/api/crm/contacts); a 409 names the
 * record that already holds the address ("Contact already exists. Existing ID: …").
 */
const CREATE = ['POST /crm/v3/objects/contacts/batch/create', 'POST /crm/v3/objects/contacts/batch/upsert'];
const sms = channelPropertyNames('sms');
const actor = { kind: 'user' as const, id: 'user-ana' };
/** What a gateway answers when HubSpot did the write but the answer never came back. */
const gatewayTimeout = (): FakeAnswer => ({ status: 502, html: '<html><body><h1>502</h1>Bad gateway</body></html>' });

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

async function syncFailures(harness: Harness) {
  return (await harness.workspace.listEvents({ types: ['sync.failed'] })).map((e) => e.data);
}

function recordsWith(harness: Harness, property: string, value: string) {
  return [...harness.fake.state.contacts.values()].filter((c) => c.properties[property] === value);
}

async function optOutOfSms(harness: Harness, contactId: string): Promise<void> {
  await harness.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor });
}

describe('HubSpot sync: creating contacts', () => {
  it('creates a contact without e-mail once, by its Consentry id, when the first answer is lost after the write', async () => {
    h = await startHarness({ hubspot: { createMissingContacts: true } });
    const bea = await h.workspace.createContact({ phone: '+34600000001' });
    await optOutOfSms(h, bea.id);
    h.fake.rewriteNext(CREATE, gatewayTimeout);
    const summary = await h.sync.drain();
    expect(summary).toMatchObject({ done: 1, dead: 0 });
    const records = recordsWith(h, 'phone', '+34600000001');
    expect(records).toHaveLength(1);
    expect(records[0]?.properties).toEqual(expect.objectContaining({ [CONTACT_ID_PROPERTY]: bea.id, [sms.status]: 'opted_out' }));
    expect((await h.workspace.getContact(bea.id)).hubspotId).toBe(records[0]?.id);
    expect(h.fake.stats.byEndpoint['POST /crm/v3/objects/contacts/batch/create']).toBeUndefined();
  });

  it('creates contacts with e-mail by their address: a lost answer leaves no dead letter and every contact linked', async () => {
    h = await startHarness({ hubspot: { createMissingContacts: true } });
    const emails = ['ana.test@example.com', 'bea.test@example.com', 'cai.test@example.com'];
    const contacts = [];
    for (const email of emails) contacts.push(await h.workspace.createContact({ email }));
    for (const contact of contacts) await optOutOfSms(h, contact.id);
    h.fake.rewriteNext(CREATE, gatewayTimeout);
    const summary = await h.sync.drain();
    expect(summary).toMatchObject({ done: 3, dead: 0 });
    expect(h.fake.state.contacts.size).toBe(3);
    for (const contact of contacts) {
      const hubspotId = (await h.workspace.getContact(contact.id)).hubspotId;
      expect(hubspotId).not.toBeNull();
      expect(hubspotProperties(h, hubspotId ?? '')).toEqual(expect.objectContaining({ email: contact.email, [sms.status]: 'opted_out' }));
    }
    expect(await syncFailures(h)).toEqual([]);
  });

  it('splits a batch HubSpot refuses with 409, links the record it names and updates it; the others are created', async () => {
    h = await startHarness({ hubspot: { createMissingContacts: true } });
    // Bea's address is an additional address of a record HubSpot already has.
    const existing = h.fake.seedContact({ email: 'beatriz.test@example.com', hs_additional_emails: 'bea.test@example.com' });
    const contacts = [];
    for (const email of ['ana.test@example.com', 'bea.test@example.com', 'cai.test@example.com']) contacts.push(await h.workspace.createContact({ email }));
    for (const contact of contacts) await optOutOfSms(h, contact.id);
    const summary = await h.sync.drain();
    expect(summary).toMatchObject({ done: 3, dead: 0 });
    const bea = contacts[1];
    expect(bea === undefined ? null : (await h.workspace.getContact(bea.id)).hubspotId).toBe(existing);
    expect(hubspotProperties(h, existing)).toEqual(expect.objectContaining({ email: 'beatriz.test@example.com', [sms.status]: 'opted_out' }));
    expect(h.fake.state.contacts.size).toBe(3);
    expect(await syncFailures(h)).toEqual([]);
  });

  it("gives each contact HubSpot refuses its own reason, never another contact's", async () => {
    h = await startHarness({ hubspot: { createMissingContacts: true }, sync: { maxAttempts: 1 } });
    const ana = await h.workspace.createContact({ email: 'ana.test@example.com' });
    const bea = await h.workspace.createContact({ email: 'bea.test@example.com' });
    await optOutOfSms(h, ana.id);
    await optOutOfSms(h, bea.id);
    const refusal = (id: string) => ({ status: 'error', category: 'VALIDATION_ERROR', message: `Refused ${id}`, context: {}, errors: [], id });
    h.fake.rewriteNext(CREATE, () => ({
      status: 207,
      body: { status: 'COMPLETE', results: [], errors: [refusal('ana.test@example.com'), refusal('bea.test@example.com')], numErrors: 2 },
    }));
    const summary = await h.sync.drain();
    expect(summary.dead).toBe(2);
    const failures = await syncFailures(h);
    expect(failures).toHaveLength(2);
    expect(failures).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ contactId: ana.id, operation: 'create_contact', reason: expect.stringContaining('Refused ana.test@example.com') }),
        expect.objectContaining({ contactId: bea.id, operation: 'create_contact', reason: expect.stringContaining('Refused bea.test@example.com') }),
      ]),
    );
  });

  it('adds the contact id property to a portal installed before it existed, on the first sync, without a new install', async () => {
    h = await startHarness({ hubspot: { createMissingContacts: true } });
    h.fake.state.properties.delete(CONTACT_ID_PROPERTY);
    const bea = await h.workspace.createContact({ phone: '+34600000002' });
    await optOutOfSms(h, bea.id);
    expect(await h.sync.drain()).toMatchObject({ done: 1, dead: 0, held: 0 });
    expect(h.fake.state.properties.get(CONTACT_ID_PROPERTY)).toEqual(expect.objectContaining({ type: 'string', hasUniqueValue: true, groupName: 'consentry' }));
    expect(recordsWith(h, CONTACT_ID_PROPERTY, bea.id)).toHaveLength(1);
  });
});

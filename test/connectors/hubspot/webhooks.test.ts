import { describe, expect, it } from 'vitest';
import { channelPropertyNames } from '../../../connectors/hubspot/properties.js';
import { hubspotProperties, linkedContact, TOKEN, type Harness } from './harness.js';
import { postWebhook, propertyChange, useHubspotApp } from './http-harness.js';

const REVOKED_TOKEN = 'pat-na1-00000000-0000-0000-0000-000000000000';
const sms = channelPropertyNames('sms');
const whatsapp = channelPropertyNames('whatsapp');

const setUp = useHubspotApp();

/** The echo of a write the connector made through the API: no HubSpot user behind it. */
const API_WRITE = { changeSource: 'INTEGRATION', sourceId: undefined };

async function history(harness: Harness, contactId: string): Promise<string[]> {
  return (await harness.workspace.getHistory(contactId)).map((record) => `${record.occurredAt} ${record.source}:${record.status}`);
}

describe('webhooks: echo suppression keeps a person\'s later change', () => {
  it('records an opt-out made in HubSpot after the connector wrote opted_out and then opted_in', async () => {
    const { h, app } = await setUp();
    const hubspotId = h.fake.seedContact({ email: 'ana.test@example.com' });
    const contact = await h.workspace.createContact({ email: 'ana.test@example.com', phone: '+34600000001', identities: [{ channel: 'sms', externalId: '+34600000001' }] });
    await h.workspace.linkHubspotContacts([{ contactId: contact.id, hubspotId }]);

    // 10:00 STOP, synced, and HubSpot's echo of the write.
    await h.workspace.handleInbound({ channel: 'sms', messageId: 'm1', from: { id: '+34600000001' }, text: 'STOP' });
    await h.sync.drain();
    const stopEcho = await postWebhook(app, h, [propertyChange(hubspotId, sms.status, 'opted_out', h.clock.now().getTime(), API_WRITE)]);
    expect(stopEcho.json()).toEqual(expect.objectContaining({ echoes: 1, recorded: 0 }));
    // 10:30 START, synced, echoed.
    h.clock.advance(30 * 60_000);
    await h.workspace.handleInbound({ channel: 'sms', messageId: 'm2', from: { id: '+34600000001' }, text: 'START' });
    await h.sync.drain();
    const startEcho = await postWebhook(app, h, [propertyChange(hubspotId, sms.status, 'opted_in', h.clock.now().getTime(), API_WRITE)]);
    expect(startEcho.json()).toEqual(expect.objectContaining({ echoes: 1, recorded: 0 }));
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBe('opted_in');

    // 12:30 a sales rep sets "Opted out" in HubSpot.
    h.clock.advance(2 * 60 * 60_000);
    const repAt = h.clock.now().getTime();
    const rep = await postWebhook(app, h, [propertyChange(hubspotId, sms.status, 'opted_out', repAt)]);
    expect(rep.statusCode).toBe(200);
    expect(rep.json()).toEqual(expect.objectContaining({ recorded: 1, echoes: 0 }));
    expect(await history(h, contact.id)).toEqual([
      '2026-03-02T10:00:00.000Z keyword:opted_out',
      '2026-03-02T10:30:00.000Z keyword:opted_in',
      `${new Date(repAt).toISOString()} hubspot:opted_out`,
    ]);
  });

  it('records a change to the value of an earlier write whose source HubSpot does not name, once a later write was applied', async () => {
    const { h, app } = await setUp();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    const actor = { kind: 'user' as const, id: 'u1' };
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor });
    await h.sync.drain();
    h.clock.advance(10 * 60_000);
    await h.workspace.setConsent({
      contactId,
      purpose: 'marketing',
      channel: 'sms',
      status: 'opted_in',
      legalBasis: 'CONSENT_WITH_NOTICE',
      explanation: 'Asked at the counter',
      source: 'manual',
      actor,
    });
    await h.sync.drain();
    // Neither echo was delivered yet; a workflow in HubSpot then sets the status back to opted_out.
    h.clock.advance(10 * 60_000);
    const later = await postWebhook(app, h, [propertyChange(hubspotId, sms.status, 'opted_out', h.clock.now().getTime(), { changeSource: 'WORKFLOWS', sourceId: undefined })]);
    expect(later.json()).toEqual(expect.objectContaining({ recorded: 1, echoes: 0 }));
    // The late echo of the first write, dated when HubSpot applied it, is older than that change: nothing is recorded.
    const lateEcho = await postWebhook(app, h, [propertyChange(hubspotId, sms.status, 'opted_out', Date.parse('2026-03-02T10:00:00.500Z'), API_WRITE)]);
    expect(lateEcho.json()).toEqual(expect.objectContaining({ recorded: 0, stale: 1 }));
    expect((await h.workspace.getHistory(contactId)).map((record) => `${record.source}:${record.status}`)).toEqual([
      'manual:opted_out',
      'manual:opted_in',
      'hubspot:opted_out',
    ]);
  });

  it('recognises a redelivered echo, and records the same value set again later', async () => {
    const { h, app } = await setUp();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'whatsapp', status: 'opted_out', source: 'manual', actor: { kind: 'user', id: 'u1' } });
    await h.sync.drain();
    const echoAt = h.clock.now().getTime() + 200;
    h.clock.advance(1000);
    const echo = propertyChange(hubspotId, whatsapp.status, 'opted_out', echoAt, API_WRITE);
    expect((await postWebhook(app, h, [echo])).json()).toEqual(expect.objectContaining({ echoes: 1 }));
    expect((await postWebhook(app, h, [{ ...echo, attemptNumber: 1 }])).json()).toEqual(expect.objectContaining({ echoes: 1, recorded: 0 }));
    // Within the clock tolerance of the write, but not the echo already heard: another change.
    h.clock.advance(20_000);
    const again = await postWebhook(app, h, [propertyChange(hubspotId, whatsapp.status, 'opted_out', h.clock.now().getTime(), API_WRITE)]);
    expect(again.json()).toEqual(expect.objectContaining({ echoes: 0, recorded: 1 }));
  });
});

describe('webhooks: HubSpot unreachable for reads', () => {
  it('records an opt-out while HubSpot refuses the access token, without reading HubSpot', async () => {
    const { h, app } = await setUp({ hubspot: { accessToken: REVOKED_TOKEN } });
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    const at = h.clock.now().getTime() - 1000;
    const response = await postWebhook(app, h, [propertyChange(hubspotId, whatsapp.status, 'opted_out', at)]);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual(expect.objectContaining({ recorded: 1, deferred: 0 }));
    expect(await h.workspace.getHistory(contactId)).toEqual([
      expect.objectContaining({ channel: 'whatsapp', status: 'opted_out', source: 'hubspot', legalBasis: null, explanation: null, occurredAt: new Date(at).toISOString() }),
    ]);
    expect(h.fake.stats.requests).toBe(0);
    expect(await h.workspace.listEvents({ types: ['sync.failed'] })).toEqual([]);
  });

  it('records an opt-out while the portal\'s daily limit is used up', async () => {
    const { h, app } = await setUp();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    h.fake.setDailyLimit(0);
    const response = await postWebhook(app, h, [propertyChange(hubspotId, sms.status, 'opted_out', h.clock.now().getTime() - 1000)]);
    expect(response.statusCode).toBe(200);
    expect((await h.workspace.getHistory(contactId)).map((record) => `${record.channel}:${record.status}`)).toEqual(['sms:opted_out']);
  });

  it('answers 503 for an opt-in whose legal basis cannot be read, raises sync.failed once, and records it on a later delivery', async () => {
    const { h, app } = await setUp({ hubspot: { accessToken: REVOKED_TOKEN } });
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com', { [sms.legalBasis]: 'CONSENT_WITH_NOTICE', [sms.explanation]: 'Signed the form' });
    const at = h.clock.now().getTime() - 1000;
    const optIn = propertyChange(hubspotId, sms.status, 'opted_in', at);
    const optOut = propertyChange(hubspotId, whatsapp.status, 'opted_out', at);

    const first = await postWebhook(app, h, [optIn, optOut]);
    expect(first.statusCode).toBe(503);
    expect(first.json()).toEqual(expect.objectContaining({ code: 'HUBSPOT_UNAVAILABLE' }));
    // The opt-out in the same request is recorded at once.
    expect((await h.workspace.getHistory(contactId)).map((record) => `${record.channel}:${record.status}`)).toEqual(['whatsapp:opted_out']);
    const failures = await h.workspace.listEvents({ types: ['sync.failed'] });
    expect(failures).toHaveLength(1);
    expect(failures[0]?.data).toEqual(
      expect.objectContaining({ contactId, operation: 'receive_property_change', retryable: true, reason: expect.stringContaining('HubSpot answered 401') }),
    );

    // HubSpot's retry, token still refused: still 503, no second sync.failed.
    const second = await postWebhook(app, h, [{ ...optIn, attemptNumber: 1 }, { ...optOut, attemptNumber: 1 }]);
    expect(second.statusCode).toBe(503);
    expect(await h.workspace.listEvents({ types: ['sync.failed'] })).toHaveLength(1);

    // The token is fixed; HubSpot's next delivery records the opt-in with what HubSpot holds, and the opt-out once.
    await h.workspace.updateSettings({ hubspot: { accessToken: TOKEN } });
    const third = await postWebhook(app, h, [{ ...optIn, attemptNumber: 2 }, { ...optOut, attemptNumber: 2 }]);
    expect(third.statusCode).toBe(200);
    expect(third.json()).toEqual(expect.objectContaining({ recorded: 1, stale: 1, deferred: 0 }));
    expect(await h.workspace.getHistory(contactId)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ channel: 'sms', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Signed the form', source: 'hubspot' }),
      ]),
    );
    expect(await h.workspace.getHistory(contactId)).toHaveLength(2);
  });
});

describe('webhooks: a record no contact is linked to', () => {
  it('records an opt-out on the contact with the record\'s e-mail and links the two', async () => {
    const { h, app } = await setUp();
    const hubspotId = h.fake.seedContact({ email: 'ana.test@example.com' });
    const contact = await h.workspace.createContact({ email: 'ana.test@example.com' });
    const at = h.clock.now().getTime() - 1000;
    const response = await postWebhook(app, h, [propertyChange(hubspotId, sms.status, 'opted_out', at)]);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual(expect.objectContaining({ recorded: 1, ignored: 0 }));
    expect((await h.workspace.getHistory(contact.id)).map((record) => `${record.channel}:${record.status}:${record.source}`)).toEqual(['sms:opted_out:hubspot']);
    expect((await h.workspace.findContactByHubspotId(hubspotId))?.id).toBe(contact.id);
    expect((await h.workspace.canMessage(contact.id, 'sms', 'marketing')).allowed).toBe(false);
  });

  it('finds the contact by the record\'s mobile phone, written as HubSpot users type it', async () => {
    const { h, app } = await setUp();
    const hubspotId = h.fake.seedContact({ mobilephone: '+34 611 22 33 44' });
    const contact = await h.workspace.createContact({ phone: '+34611223344' });
    const response = await postWebhook(app, h, [propertyChange(hubspotId, whatsapp.status, 'opted_out', h.clock.now().getTime() - 1000)]);
    expect(response.json()).toEqual(expect.objectContaining({ recorded: 1 }));
    expect((await h.workspace.getHistory(contact.id)).map((record) => `${record.channel}:${record.status}`)).toEqual(['whatsapp:opted_out']);
  });

  it('makes the contact from the record when Consentry has none, so that the opt-out holds when the person writes later', async () => {
    const { h, app } = await setUp();
    const hubspotId = h.fake.seedContact({ email: 'new.person@example.com', firstname: 'Nuria', lastname: 'Test' });
    const response = await postWebhook(app, h, [propertyChange(hubspotId, sms.status, 'opted_out', h.clock.now().getTime() - 1000)]);
    expect(response.json()).toEqual(expect.objectContaining({ recorded: 1, ignored: 0 }));
    const made = await h.workspace.findContactByHubspotId(hubspotId);
    expect(made).toEqual(expect.objectContaining({ email: 'new.person@example.com', name: 'Nuria Test', hubspotId }));
    const found = (await h.workspace.findContacts({ email: 'new.person@example.com' })).contacts;
    expect(found.map((contact) => contact.id)).toEqual([made?.id]);
    expect((await h.workspace.canMessage(made?.id ?? '', 'sms', 'marketing')).allowed).toBe(false);
  });

  it('reads the record once for an opt-in: its legal basis and explanation with its e-mail', async () => {
    const { h, app } = await setUp();
    const hubspotId = h.fake.seedContact({ email: 'ana.test@example.com', [sms.legalBasis]: 'CONSENT_WITH_NOTICE', [sms.explanation]: 'Signed the form' });
    const contact = await h.workspace.createContact({ email: 'ana.test@example.com' });
    const before = h.fake.stats.requests;
    const response = await postWebhook(app, h, [propertyChange(hubspotId, sms.status, 'opted_in', h.clock.now().getTime() - 1000)]);
    expect(response.json()).toEqual(expect.objectContaining({ recorded: 1 }));
    expect(h.fake.stats.requests - before).toBe(1);
    expect(await h.workspace.getHistory(contact.id)).toEqual([
      expect.objectContaining({ channel: 'sms', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Signed the form', source: 'hubspot' }),
    ]);
  });

  it('does not take the contact with the record\'s phone for it when that contact has another e-mail', async () => {
    const { h, app } = await setUp();
    const boss = await h.workspace.createContact({ email: 'boss.test@example.com', phone: '+34611223344' });
    const hubspotId = h.fake.seedContact({ email: 'intern.test@example.com', phone: '+34 611 22 33 44' });
    const response = await postWebhook(app, h, [propertyChange(hubspotId, sms.status, 'opted_out', h.clock.now().getTime() - 1000)]);
    expect(response.json()).toEqual(expect.objectContaining({ recorded: 1 }));
    expect(await h.workspace.getHistory(boss.id)).toEqual([]);
    const intern = await h.workspace.findContactByHubspotId(hubspotId);
    expect(intern).toEqual(expect.objectContaining({ email: 'intern.test@example.com' }));
    expect(intern?.id).not.toBe(boss.id);
    expect((await h.workspace.getHistory(intern?.id ?? '')).map((record) => record.status)).toEqual(['opted_out']);
  });

  it('refuses the change of a record no contact can be made of, and records the request\'s other changes', async () => {
    const { h, app } = await setUp();
    const bad = h.fake.seedContact({ email: 'long.name@example.com', firstname: 'N'.repeat(300) });
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    const at = h.clock.now().getTime() - 1000;
    const response = await postWebhook(app, h, [propertyChange(bad, sms.status, 'opted_out', at), propertyChange(hubspotId, sms.status, 'opted_out', at + 1)]);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual(expect.objectContaining({ recorded: 1, refused: 1 }));
    expect((await h.workspace.getHistory(contactId)).map((record) => record.status)).toEqual(['opted_out']);
    const failures = await h.workspace.listEvents({ types: ['sync.failed'] });
    expect(failures.map((event) => event.data)).toEqual([
      expect.objectContaining({ contactId: null, retryable: false, reason: expect.stringContaining(`record ${bad}, which no contact is linked to: no contact could be made of it (VALIDATION_FAILED`) }),
    ]);
  });

  it('refuses, with a sync.failed that says why, a change on a record with neither e-mail nor phone, and makes no contact', async () => {
    const { h, app } = await setUp();
    const hubspotId = h.fake.seedContact({ firstname: 'Nobody', phone: 'call reception' });
    const response = await postWebhook(app, h, [propertyChange(hubspotId, sms.status, 'opted_out', h.clock.now().getTime() - 1000)]);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual(expect.objectContaining({ recorded: 0, refused: 1, ignored: 0 }));
    expect((await h.workspace.findContacts({})).contacts).toEqual([]);
    const failures = await h.workspace.listEvents({ types: ['sync.failed'] });
    expect(failures.map((event) => event.data)).toEqual([
      expect.objectContaining({ contactId: null, retryable: false, reason: expect.stringContaining(`record ${hubspotId}, which no contact is linked to and which has no valid e-mail, mobile phone or phone`) }),
    ]);
  });

  it('answers 503 while the record cannot be read, raises sync.failed once, and records the opt-out on HubSpot\'s later delivery', async () => {
    const { h, app } = await setUp({ hubspot: { accessToken: REVOKED_TOKEN } });
    const hubspotId = h.fake.seedContact({ email: 'ana.test@example.com' });
    const contact = await h.workspace.createContact({ email: 'ana.test@example.com' });
    const optOut = propertyChange(hubspotId, sms.status, 'opted_out', h.clock.now().getTime() - 1000);
    const first = await postWebhook(app, h, [optOut]);
    expect(first.statusCode).toBe(503);
    expect(first.json()).toEqual(expect.objectContaining({ code: 'HUBSPOT_UNAVAILABLE', detail: expect.stringContaining('the e-mail and phone of a record no contact is linked to') }));
    expect(await h.workspace.getHistory(contact.id)).toEqual([]);
    const again = await postWebhook(app, h, [{ ...optOut, attemptNumber: 1 }]);
    expect(again.statusCode).toBe(503);
    const failures = await h.workspace.listEvents({ types: ['sync.failed'] });
    expect(failures.map((event) => event.data)).toEqual([
      expect.objectContaining({ contactId: null, retryable: true, reason: expect.stringContaining(`the e-mail and phone of record ${hubspotId}, which no contact is linked to, could not be read`) }),
    ]);

    await h.workspace.updateSettings({ hubspot: { accessToken: TOKEN } });
    const third = await postWebhook(app, h, [{ ...optOut, attemptNumber: 2 }]);
    expect(third.statusCode).toBe(200);
    expect((await h.workspace.getHistory(contact.id)).map((record) => `${record.channel}:${record.status}`)).toEqual(['sms:opted_out']);
  });
});

describe('webhooks: an opt-in saved in HubSpot before its legal basis', () => {
  async function refusedOptIn(setUpOptions?: Parameters<typeof setUp>[0]) {
    const { h, app } = await setUp(setUpOptions);
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    h.fake.state.contacts.get(hubspotId)!.properties[sms.status] = 'opted_in';
    const optInAt = h.clock.now().getTime() - 1000;
    const first = await postWebhook(app, h, [propertyChange(hubspotId, sms.status, 'opted_in', optInAt, { changeSource: 'CRM_UI' })]);
    expect(first.json()).toEqual(expect.objectContaining({ recorded: 0, refused: 1 }));
    return { h, app, contactId, hubspotId, optInAt };
  }

  function setInHubSpot(h: Harness, hubspotId: string, properties: Record<string, string>): void {
    Object.assign(h.fake.state.contacts.get(hubspotId)!.properties, properties);
  }

  it('is refused with a sync.failed that says how to complete it, and recorded when the legal basis and explanation are set', async () => {
    const { h, app, contactId, hubspotId } = await refusedOptIn();
    const failures = await h.workspace.listEvents({ types: ['sync.failed'] });
    expect(failures.map((event) => event.data)).toEqual([
      expect.objectContaining({ contactId, retryable: false, reason: expect.stringMatching(/^LEGAL_BASIS_REQUIRED: .*; set the legal basis and explanation in HubSpot and the opt-in is recorded then/) }),
    ]);

    h.clock.advance(2 * 60_000);
    const at = h.clock.now().getTime();
    setInHubSpot(h, hubspotId, { [sms.legalBasis]: 'CONSENT_WITH_NOTICE', [sms.explanation]: 'Agreed on the phone' });
    const completed = await postWebhook(app, h, [
      propertyChange(hubspotId, sms.legalBasis, 'CONSENT_WITH_NOTICE', at - 10, { changeSource: 'CRM_UI' }),
      propertyChange(hubspotId, sms.explanation, 'Agreed on the phone', at, { changeSource: 'CRM_UI' }),
    ]);
    expect(completed.statusCode).toBe(200);
    expect(completed.json()).toEqual(expect.objectContaining({ recorded: 1, refused: 0 }));
    expect(await h.workspace.getHistory(contactId)).toEqual([
      expect.objectContaining({ channel: 'sms', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Agreed on the phone', source: 'hubspot', occurredAt: new Date(at).toISOString() }),
    ]);
    expect((await h.workspace.canMessage(contactId, 'sms', 'marketing')).allowed).toBe(true);
    // HubSpot's redelivery of the same request records nothing more.
    const again = await postWebhook(app, h, [propertyChange(hubspotId, sms.explanation, 'Agreed on the phone', at, { changeSource: 'CRM_UI', attemptNumber: 1 })]);
    expect(again.json()).toEqual(expect.objectContaining({ recorded: 0 }));
    expect(await h.workspace.getHistory(contactId)).toHaveLength(1);
    expect(await h.workspace.listEvents({ types: ['sync.failed'] })).toHaveLength(1);
  });

  it('waits for the explanation when the legal basis comes first, reading what the request does not carry from HubSpot', async () => {
    const { h, app, contactId, hubspotId } = await refusedOptIn();
    h.clock.advance(60_000);
    setInHubSpot(h, hubspotId, { [sms.legalBasis]: 'CONSENT_WITH_NOTICE' });
    const basis = await postWebhook(app, h, [propertyChange(hubspotId, sms.legalBasis, 'CONSENT_WITH_NOTICE', h.clock.now().getTime(), { changeSource: 'CRM_UI' })]);
    expect(basis.json()).toEqual(expect.objectContaining({ recorded: 0, refused: 1 }));
    expect(await h.workspace.getHistory(contactId)).toEqual([]);
    expect(await h.workspace.listEvents({ types: ['sync.failed'] })).toHaveLength(1);

    h.clock.advance(60_000);
    setInHubSpot(h, hubspotId, { [sms.explanation]: 'Agreed on the phone' });
    const explanation = await postWebhook(app, h, [propertyChange(hubspotId, sms.explanation, 'Agreed on the phone', h.clock.now().getTime(), { changeSource: 'CRM_UI' })]);
    expect(explanation.json()).toEqual(expect.objectContaining({ recorded: 1 }));
    expect(await h.workspace.getHistory(contactId)).toEqual([expect.objectContaining({ status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Agreed on the phone' })]);
  });

  it('is not recorded when the person opted out in Consentry meanwhile', async () => {
    const { h, app, contactId, hubspotId } = await refusedOptIn();
    h.clock.advance(60_000);
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor: { kind: 'user', id: 'u1' } });
    h.clock.advance(60_000);
    // The sync has not written the opt-out yet: HubSpot still reads opted_in.
    setInHubSpot(h, hubspotId, { [sms.legalBasis]: 'CONSENT_WITH_NOTICE', [sms.explanation]: 'Agreed on the phone' });
    const at = h.clock.now().getTime();
    const late = await postWebhook(app, h, [
      propertyChange(hubspotId, sms.legalBasis, 'CONSENT_WITH_NOTICE', at, { changeSource: 'CRM_UI' }),
      propertyChange(hubspotId, sms.explanation, 'Agreed on the phone', at, { changeSource: 'CRM_UI' }),
    ]);
    expect(late.json()).toEqual(expect.objectContaining({ recorded: 0 }));
    expect((await h.workspace.getHistory(contactId)).map((record) => `${record.source}:${record.status}`)).toEqual(['manual:opted_out']);
    expect((await h.workspace.canMessage(contactId, 'sms', 'marketing')).allowed).toBe(false);
  });

  it('is not recorded when HubSpot no longer reads opted_in', async () => {
    const { h, app, contactId, hubspotId } = await refusedOptIn();
    h.clock.advance(60_000);
    setInHubSpot(h, hubspotId, { [sms.status]: 'opted_out', [sms.legalBasis]: 'CONSENT_WITH_NOTICE', [sms.explanation]: 'Agreed on the phone' });
    const at = h.clock.now().getTime();
    const basis = await postWebhook(app, h, [
      propertyChange(hubspotId, sms.legalBasis, 'CONSENT_WITH_NOTICE', at, { changeSource: 'CRM_UI' }),
      propertyChange(hubspotId, sms.explanation, 'Agreed on the phone', at, { changeSource: 'CRM_UI' }),
    ]);
    expect(basis.json()).toEqual(expect.objectContaining({ recorded: 0 }));
    expect(await h.workspace.getHistory(contactId)).toEqual([]);
  });

  it('reads nothing from HubSpot for a legal basis change when no opt-in awaits one', async () => {
    const { h, app } = await setUp();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    const before = h.fake.stats.requests;
    const response = await postWebhook(app, h, [propertyChange(hubspotId, sms.legalBasis, 'CONSENT_WITH_NOTICE', h.clock.now().getTime(), { changeSource: 'CRM_UI' })]);
    expect(response.json()).toEqual(expect.objectContaining({ recorded: 0, ignored: 1 }));
    expect(h.fake.stats.requests).toBe(before);
    expect(await h.workspace.getHistory(contactId)).toEqual([]);
  });
});

/** A `contact.privacyDeletion` event: HubSpot's "Permanently delete" of a record. */
function privacyDeletion(objectId: string, occurredAt: number) {
  return { ...propertyChange(objectId, 'unused', '', occurredAt), subscriptionType: 'contact.privacyDeletion', propertyName: undefined, propertyValue: undefined };
}

describe('webhooks: a record HubSpot deleted for good (contact.privacyDeletion)', () => {
  it('erases the linked contact, keeps its records, ignores the rest of the request about it, and creates nothing in HubSpot afterwards', async () => {
    const { h, app } = await setUp({ hubspot: { createMissingContacts: true } });
    const { contactId, hubspotId } = await linkedContact(h, 'gone.test@example.com');
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor: { kind: 'user', id: 'u1' } });
    await h.sync.drain();
    await h.workspace.addTag(contactId, 'VIP');
    h.fake.state.contacts.delete(hubspotId);

    const at = h.clock.now().getTime();
    const res = await postWebhook(app, h, [privacyDeletion(hubspotId, at), propertyChange(hubspotId, sms.status, 'opted_in', at)]);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual(expect.objectContaining({ erased: 1, recorded: 0, ignored: 1 }));
    const erased = await h.workspace.getContact(contactId);
    expect(erased).toMatchObject({ email: null, tags: [] });
    expect(erased.erasedAt).not.toBeNull();
    expect(await h.workspace.getHistory(contactId)).toHaveLength(1);

    await h.sync.drain();
    expect(h.fake.state.contacts.size).toBe(0);
    const again = await postWebhook(app, h, [privacyDeletion(hubspotId, at)]);
    expect(again.json()).toEqual(expect.objectContaining({ erased: 0, ignored: 1 }));
  });

  it('erases every contact linked to the record, one found by e-mail and one by phone, also on a redelivery after the first', async () => {
    const { h, app } = await setUp();
    const { contactId: byEmail, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    const byPhone = await h.workspace.createContact({ name: 'Ana Test', phone: '+34600000007' });
    await h.workspace.linkHubspotContacts([{ contactId: byPhone.id, hubspotId }]);
    const at = h.clock.now().getTime();

    const res = await postWebhook(app, h, [privacyDeletion(hubspotId, at)]);
    expect(res.json()).toEqual(expect.objectContaining({ erased: 2, ignored: 0 }));
    for (const id of [byEmail, byPhone.id]) {
      const contact = await h.workspace.getContact(id);
      expect(contact.erasedAt, id).not.toBeNull();
      expect(contact).toMatchObject({ name: null, email: null, phone: null });
    }
    const again = await postWebhook(app, h, [privacyDeletion(hubspotId, at)]);
    expect(again.json()).toEqual(expect.objectContaining({ erased: 0, ignored: 1 }));
  });

  it('ignores a deletion of a record no contact of the workspace is linked to', async () => {
    const { h, app } = await setUp();
    const { contactId } = await linkedContact(h, 'kept.test@example.com');
    const res = await postWebhook(app, h, [privacyDeletion('987654', h.clock.now().getTime())]);
    expect(res.json()).toEqual(expect.objectContaining({ erased: 0, ignored: 1 }));
    expect((await h.workspace.getContact(contactId)).erasedAt).toBeNull();
  });
});

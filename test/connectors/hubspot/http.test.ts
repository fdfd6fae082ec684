import { SYNCED_CHANNELS } from '../../../connectors/hubspot/properties.js';
import { LEGAL_BASES } from '../../../src/core/consent.js';
import { describe, expect, it } from 'vitest';
import { channelPropertyNames } from '../../../connectors/hubspot/properties.js';
import { createApiKey } from '../../../src/server/api-keys.js';
import { CLIENT_SECRET, hubspotProperties, linkedContact, PORTAL_ID, type Harness } from './harness.js';
import { actionBody, postAction, postWebhook, propertyChange, PUBLIC_URL, signedHeaders, useHubspotApp } from './http-harness.js';

const sms = channelPropertyNames('sms');
const whatsapp = channelPropertyNames('whatsapp');

const setUp = useHubspotApp();

async function reachableContact(harness: Harness, phone: string): Promise<{ contactId: string; hubspotId: string }> {
  const hubspotId = harness.fake.seedContact({ mobilephone: phone });
  const contact = await harness.workspace.createContact({ phone, identities: [{ channel: 'whatsapp', externalId: phone }] });
  await harness.workspace.linkHubspotContacts([{ contactId: contact.id, hubspotId }]);
  return { contactId: contact.id, hubspotId };
}

describe('workflow action requests: signatures', () => {
  it('accepts v2 and v3 signatures made with the SDK', async () => {
    const { h, app } = await setUp();
    const { hubspotId } = await linkedContact(h, 'ana.test@example.com');
    const v3 = await postAction(app, h, 'check-consent', actionBody('cb-v3', hubspotId, { channel: 'sms' }));
    expect(v3.statusCode).toBe(200);
    const v2 = await postAction(app, h, 'check-consent', actionBody('cb-v2', hubspotId, { channel: 'sms' }), 'v2');
    expect(v2.statusCode).toBe(200);
    expect(v2.json()).toEqual({ outputFields: { hs_execution_state: 'SUCCESS', status: 'not_specified', legal_basis: '', updated_at: '' } });
  });

  it('refuses tampered, stale, future and unsigned requests', async () => {
    const { h, app } = await setUp();
    const { hubspotId } = await linkedContact(h, 'ana.test@example.com');
    const path = '/hubspot/actions/check-consent';
    const body = actionBody('cb-1', hubspotId, { channel: 'sms' });
    const tampered = await app.inject({ method: 'POST', url: path, payload: body.replace('"sms"', '"email"'), headers: signedHeaders(h, path, body, 'v3') });
    expect(tampered.statusCode).toBe(401);
    expect(tampered.json()).toEqual(expect.objectContaining({ code: 'UNAUTHORIZED', detail: expect.stringContaining('bad_signature') }));
    const now = h.clock.now().getTime();
    const stale = await app.inject({ method: 'POST', url: path, payload: body, headers: signedHeaders(h, path, body, 'v3', now - 6 * 60_000) });
    expect(stale.json().detail).toContain('stale');
    const future = await app.inject({ method: 'POST', url: path, payload: body, headers: signedHeaders(h, path, body, 'v3', now + 10 * 60_000) });
    expect(future.json().detail).toContain('future');
    const unsigned = await app.inject({ method: 'POST', url: path, payload: body, headers: { 'content-type': 'application/json' } });
    expect(unsigned.statusCode).toBe(401);
    // Signed for another URL: the signature covers PUBLIC_URL + path.
    const elsewhere = await app.inject({ method: 'POST', url: '/hubspot/actions/check-consent?x=1', payload: body, headers: signedHeaders(h, path, body, 'v3') });
    expect(elsewhere.statusCode).toBe(401);
  });

  it('serves the default workspace configured by the environment alone', async () => {
    const { h, app } = await setUp({ hubspot: null }, { config: { HUBSPOT_ACCESS_TOKEN: 'pat-na1-from-env', HUBSPOT_CLIENT_SECRET: CLIENT_SECRET } });
    const response = await postAction(app, h, 'check-consent', actionBody('cb-env', '1001', { channel: 'sms' }));
    expect(response.statusCode).toBe(200);
    expect(response.json().outputFields.status).toBe('not_specified');
  });

  it('answers a portal no workspace is connected to as a bad signature (401), and an unknown action with 404', async () => {
    const { h, app } = await setUp();
    const body = actionBody('cb-1', '1001', { channel: 'sms' }).replace(`"portalId":${PORTAL_ID}`, '"portalId":99999');
    const unknownPortal = await postAction(app, h, 'check-consent', body);
    expect(unknownPortal.statusCode).toBe(401);
    expect(unknownPortal.json()).toEqual(expect.objectContaining({ code: 'UNAUTHORIZED', detail: expect.stringContaining('bad_signature') }));
    const unknownAction = await postAction(app, h, 'delete-everything', actionBody('cb-2', '1001', {}));
    expect(unknownAction.statusCode).toBe(404);
  });
});

describe('workflow actions', () => {
  it('Request consent: starts the workflow, answers BLOCK, and completes the callback with the outcome', async () => {
    const { h, app } = await setUp();
    await h.workspace.updateSettings({ outboundWebhookUrl: 'https://example.com/consentry/outbound' });
    const { contactId, hubspotId } = await reachableContact(h, '+34600000001');
    const body = actionBody('cb-request-1', hubspotId, { channel: 'whatsapp' });
    const first = await postAction(app, h, 'request-consent', body);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ outputFields: { hs_execution_state: 'BLOCK', hs_expiration_duration: 'P2D' } });
    // HubSpot gets none of the question's texts: only the outbound webhook carries them, marked as in no answer.
    const asked = await h.workspace.listEvents({ types: ['message.outbound'] });
    expect(asked.map((event) => event.data)).toEqual([
      expect.objectContaining({ inAnswer: false, text: expect.stringContaining('privacy') }),
      expect.objectContaining({ inAnswer: false }),
    ]);
    // HubSpot retries (a lost answer): the same callbackId does the work once.
    const again = await postAction(app, h, 'request-consent', body);
    expect(again.json()).toEqual(first.json());
    const runs = await h.store.transaction((tx) => tx.listActiveRuns(h?.workspaceId ?? '', contactId));
    expect(runs).toHaveLength(1);

    await h.workspace.handleInbound({ channel: 'whatsapp', messageId: 'wamid.1', from: { id: '+34600000001' }, button: 'agree' });
    await h.sync.drain();
    expect(h.fake.state.callbacks).toEqual([{ callbackId: 'cb-request-1', outputFields: { hs_execution_state: 'SUCCESS', outcome: 'given' } }]);
  });

  it('Request consent: a time-out completes with failed_timeout; an opt-out with opted_out', async () => {
    const { h, app } = await setUp({ settings: { outboundWebhookUrl: 'https://shop.example.com/outbound' } });
    const ana = await reachableContact(h, '+34600000001');
    const bea = await reachableContact(h, '+34600000002');
    await postAction(app, h, 'request-consent', actionBody('cb-ana', ana.hubspotId, { channel: 'whatsapp' }));
    await postAction(app, h, 'request-consent', actionBody('cb-bea', bea.hubspotId, { channel: 'whatsapp' }));
    await h.workspace.handleInbound({ channel: 'whatsapp', messageId: 'wamid.2', from: { id: '+34600000002' }, text: 'STOP' });
    h.clock.advance(6 * 60_000);
    await h.engine.runDueTimers();
    await h.sync.drain();
    const outcomes = Object.fromEntries(h.fake.state.callbacks.map((c) => [c.callbackId, c.outputFields.outcome]));
    expect(outcomes).toEqual({ 'cb-ana': 'failed_timeout', 'cb-bea': 'opted_out' });
  });

  it('Request consent: a contact who already agreed goes down the given branch at once', async () => {
    const { h, app } = await setUp();
    const { contactId, hubspotId } = await reachableContact(h, '+34600000001');
    // Agreed through the API: the opt-in adds the Consent: Privacy tag, which the workflow checks.
    await h.workspace.setConsent({
      contactId,
      purpose: 'privacy',
      channel: 'whatsapp',
      status: 'opted_in',
      legalBasis: 'CONSENT_WITH_NOTICE',
      explanation: 'Agreed to the privacy policy on the signup form',
      source: 'manual',
      actor: { kind: 'user', id: 'u1' },
    });
    expect((await h.workspace.getContact(contactId)).tags).toEqual(['Consent: Privacy']);
    await h.sync.drain();
    await postAction(app, h, 'request-consent', actionBody('cb-tagged', hubspotId, { channel: 'whatsapp' }));
    await h.sync.drain();
    expect(h.fake.state.callbacks).toEqual([{ callbackId: 'cb-tagged', outputFields: { hs_execution_state: 'SUCCESS', outcome: 'given' } }]);
  });

  it('Request consent: a workspace without an outbound webhook, where the question would reach no one, fails and continues, starting nothing', async () => {
    const { h, app } = await setUp();
    const { contactId, hubspotId } = await reachableContact(h, '+34600000001');
    const response = await postAction(app, h, 'request-consent', actionBody('cb-unsent', hubspotId, { channel: 'whatsapp' }));
    expect(response.json().outputFields).toEqual({
      hs_execution_state: 'FAIL_CONTINUE',
      error:
        "VALIDATION_FAILED: nothing was sent: the workspace has no outbound webhook (settings.outboundWebhookUrl), so nobody would send the workflow's messages to the contact: set outboundWebhookUrl in the Consentry settings first",
    });
    expect(await h.store.transaction((tx) => tx.listActiveRuns(h.workspace.workspaceId, contactId))).toEqual([]);
  });

  it('Request consent: a HubSpot record Consentry does not know, in a workspace without an outbound webhook, fails and continues without making a contact', async () => {
    const { h, app } = await setUp();
    const before = (await h.workspace.findContacts({ limit: 10 })).contacts.length;
    const response = await postAction(app, h, 'request-consent', actionBody('cb-new', '4242', { channel: 'sms' }, { mobilephone: '+34600000777', firstname: 'New', lastname: 'Lead' }));
    expect(response.json().outputFields).toEqual({ hs_execution_state: 'FAIL_CONTINUE', error: expect.stringContaining('VALIDATION_FAILED: nothing was sent: the workspace has no outbound webhook') });
    expect((await h.workspace.findContacts({ limit: 10 })).contacts).toHaveLength(before);
    expect(await h.workspace.findContactByHubspotId('4242')).toBeNull();
  });

  it('Request consent: a workspace without a privacy policy URL fails and continues', async () => {
    const { h, app } = await setUp({ settings: { privacyPolicyUrl: null } });
    const { hubspotId } = await reachableContact(h, '+34600000001');
    const response = await postAction(app, h, 'request-consent', actionBody('cb-nopolicy', hubspotId, { channel: 'whatsapp' }));
    expect(response.json().outputFields).toEqual({ hs_execution_state: 'FAIL_CONTINUE', error: expect.stringContaining('privacyPolicyUrl') });
  });

  it('Request consent: a contact with no address on the channel fails and continues, and nothing is sent', async () => {
    const { h, app } = await setUp();
    const { hubspotId } = await linkedContact(h, 'bea.test@example.com');
    const response = await postAction(app, h, 'request-consent', actionBody('cb-unreachable', hubspotId, { channel: 'whatsapp' }));
    expect(response.json().outputFields).toEqual({ hs_execution_state: 'FAIL_CONTINUE', error: expect.stringContaining('cannot be reached on whatsapp') });
    expect((await h.workspace.listEvents({ limit: 50 })).map((event) => event.type)).not.toContain('conversation.opened');
  });

  it('Set channel consent: records the decision once, with source hubspot and the portal as actor', async () => {
    const { h, app } = await setUp();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    const body = actionBody('cb-set-1', hubspotId, {
      channel: 'sms',
      status: 'opted_in',
      legal_basis: 'CONSENT_WITH_NOTICE',
      explanation: 'Agreed on the phone with support',
    });
    const first = await postAction(app, h, 'set-channel-consent', body);
    expect(first.json()).toEqual({
      outputFields: { hs_execution_state: 'SUCCESS', status: 'opted_in', legal_basis: 'CONSENT_WITH_NOTICE', updated_at: '2026-03-02T10:00:00.000Z' },
    });
    await postAction(app, h, 'set-channel-consent', body);
    const history = await h.workspace.getHistory(contactId);
    expect(history).toHaveLength(1);
    expect(history[0]).toEqual(expect.objectContaining({ source: 'hubspot', actor: { kind: 'integration', id: PORTAL_ID }, channel: 'sms', status: 'opted_in' }));
  });

  it('Set channel consent: an opt-in without a legal basis fails and continues; nothing is recorded', async () => {
    const { h, app } = await setUp();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    const response = await postAction(app, h, 'set-channel-consent', actionBody('cb-set-2', hubspotId, { channel: 'sms', status: 'opted_in' }));
    expect(response.json().outputFields).toEqual({ hs_execution_state: 'FAIL_CONTINUE', error: expect.stringContaining('LEGAL_BASIS_REQUIRED') });
    expect(await h.workspace.getHistory(contactId)).toEqual([]);
  });

  it('Set channel consent: a refused opt-in makes no contact from a HubSpot record Consentry does not know', async () => {
    const { h, app } = await setUp();
    const hubspotId = h.fake.seedContact({ email: 'new.test@example.com' });
    const response = await postAction(
      app,
      h,
      'set-channel-consent',
      actionBody('cb-set-4', hubspotId, { channel: 'sms', status: 'opted_in', legal_basis: 'CONSENT_WITH_NOTICE' }, { email: 'new.test@example.com' }),
    );
    expect(response.json().outputFields).toEqual({ hs_execution_state: 'FAIL_CONTINUE', error: expect.stringMatching(/^EXPLANATION_REQUIRED: /) });
    expect((await h.workspace.findContacts({})).contacts).toEqual([]);
  });

  it('Set channel consent: names every wrong input at once, with the value it was given', async () => {
    const { h, app } = await setUp();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    const response = await postAction(app, h, 'set-channel-consent', actionBody('cb-set-5', hubspotId, { channel: 'fax', status: 'yes', legal_basis: 'consent' }));
    expect(response.json().outputFields).toEqual({
      hs_execution_state: 'FAIL_CONTINUE',
      error:
        `channel: "fax" is not one of ${SYNCED_CHANNELS.join(', ')}; status: "yes" is not one of opted_in, opted_out; ` +
        `legal_basis: "consent" is not one of ${LEGAL_BASES.join(', ')}`,
    });
    const missing = await postAction(app, h, 'set-channel-consent', actionBody('cb-set-6', hubspotId, {}));
    expect(missing.json().outputFields.error).toBe(`channel: is required: one of ${SYNCED_CHANNELS.join(', ')}; status: is required: one of opted_in, opted_out`);
    expect(await h.workspace.getHistory(contactId)).toEqual([]);
  });

  it('Set channel consent: creates the contact from the HubSpot record when Consentry has none', async () => {
    const { h, app } = await setUp();
    const hubspotId = h.fake.seedContact({ email: 'new.test@example.com' });
    const response = await postAction(
      app,
      h,
      'set-channel-consent',
      actionBody('cb-set-3', hubspotId, { channel: 'email', status: 'opted_out' }, { email: 'New.Test@example.com', firstname: 'Nia', lastname: 'Test' }),
    );
    expect(response.json().outputFields.status).toBe('opted_out');
    const contact = await h.workspace.findContactByHubspotId(hubspotId);
    expect(contact).toEqual(expect.objectContaining({ email: 'new.test@example.com', name: 'Nia Test', hubspotId }));
  });

  it('Check consent: status, legal basis and updated at; STOP ALL covers every channel', async () => {
    const { h, app } = await setUp();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'sms', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Form', source: 'manual', actor: { kind: 'user', id: 'u1' } });
    const inOnSms = await postAction(app, h, 'check-consent', actionBody('cb-check-1', hubspotId, { channel: 'sms' }));
    expect(inOnSms.json().outputFields).toEqual({ hs_execution_state: 'SUCCESS', status: 'opted_in', legal_basis: 'CONSENT_WITH_NOTICE', updated_at: '2026-03-02T10:00:00.000Z' });
    h.clock.advance(60_000);
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'any', status: 'opted_out', source: 'manual', actor: { kind: 'user', id: 'u1' } });
    const outAfterStopAll = await postAction(app, h, 'check-consent', actionBody('cb-check-2', hubspotId, { channel: 'sms' }));
    expect(outAfterStopAll.json().outputFields).toEqual(expect.objectContaining({ status: 'opted_out', updated_at: '2026-03-02T10:01:00.000Z' }));
  });
});

describe('webhooks from HubSpot', () => {
  it('records a change made in HubSpot with source hubspot and the portal as actor', async () => {
    const { h, app } = await setUp();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    const at = h.clock.now().getTime() - 5000;
    const response = await postWebhook(app, h, [
      propertyChange(hubspotId, whatsapp.legalBasis, 'LEGITIMATE_INTEREST_CLIENT', at),
      propertyChange(hubspotId, whatsapp.explanation, 'Asked the sales rep', at),
      propertyChange(hubspotId, whatsapp.status, 'opted_in', at),
      propertyChange(hubspotId, 'firstname', 'Ana', at),
    ]);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual(expect.objectContaining({ recorded: 1, echoes: 0 }));
    const history = await h.workspace.getHistory(contactId);
    expect(history).toEqual([
      expect.objectContaining({
        channel: 'whatsapp',
        status: 'opted_in',
        legalBasis: 'LEGITIMATE_INTEREST_CLIENT',
        explanation: 'Asked the sales rep',
        source: 'hubspot',
        actor: { kind: 'integration', id: PORTAL_ID },
        occurredAt: new Date(at).toISOString(),
      }),
    ]);
    // A retried delivery records nothing twice.
    await postWebhook(app, h, [propertyChange(hubspotId, whatsapp.status, 'opted_in', at)]);
    expect(await h.workspace.getHistory(contactId)).toHaveLength(1);
  });

  it('reads the legal basis from HubSpot when the request does not carry it', async () => {
    const { h, app } = await setUp();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com', {});
    const record = h.fake.state.contacts.get(hubspotId);
    if (record) Object.assign(record.properties, { [sms.legalBasis]: 'CONSENT_WITH_NOTICE', [sms.explanation]: 'Double opt-in' });
    await postWebhook(app, h, [propertyChange(hubspotId, sms.status, 'opted_in', h.clock.now().getTime() - 1000)]);
    expect((await h.workspace.getHistory(contactId))[0]).toEqual(expect.objectContaining({ legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Double opt-in' }));
    expect(h.fake.stats.byEndpoint['POST /crm/v3/objects/contacts/batch/read']).toBe(1);
  });

  it('ignores the echo of its own write, but not a later edit back to the same value', async () => {
    const { h, app } = await setUp();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor: { kind: 'user', id: 'u1' } });
    await h.sync.drain();
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBe('opted_out');
    h.clock.advance(2000);
    const echo = await postWebhook(app, h, [propertyChange(hubspotId, sms.status, 'opted_out', h.clock.now().getTime() - 1000, { changeSource: 'INTEGRATION', sourceId: undefined })]);
    expect(echo.json()).toEqual(expect.objectContaining({ echoes: 1, recorded: 0 }));
    expect(await h.workspace.getHistory(contactId)).toHaveLength(1);

    // A person opts the contact in, then out again in HubSpot: both are decisions.
    const t1 = h.clock.now().getTime();
    const both = await postWebhook(app, h, [
      propertyChange(hubspotId, sms.status, 'opted_in', t1, { eventId: 1 }),
      propertyChange(hubspotId, sms.legalBasis, 'CONSENT_WITH_NOTICE', t1, { eventId: 2 }),
      propertyChange(hubspotId, sms.explanation, 'Customer asked by phone', t1, { eventId: 3 }),
    ]);
    expect(both.json()).toEqual(expect.objectContaining({ recorded: 1 }));
    h.clock.advance(1000);
    const back = await postWebhook(app, h, [propertyChange(hubspotId, sms.status, 'opted_out', h.clock.now().getTime(), { eventId: 4 })]);
    expect(back.json()).toEqual(expect.objectContaining({ recorded: 1, echoes: 0 }));
    expect((await h.workspace.getHistory(contactId)).map((r) => `${r.source}:${r.status}`)).toEqual(['manual:opted_out', 'hubspot:opted_in', 'hubspot:opted_out']);
    // An older event delivered late is stale.
    const late = await postWebhook(app, h, [propertyChange(hubspotId, sms.status, 'opted_in', t1 - 10_000, { eventId: 5 })]);
    expect(late.json()).toEqual(expect.objectContaining({ stale: 1, recorded: 0 }));
  });

  it('refuses v2-only, stale, tampered and future webhook requests', async () => {
    const { h, app } = await setUp();
    const { hubspotId } = await linkedContact(h, 'ana.test@example.com');
    const events = [propertyChange(hubspotId, sms.status, 'opted_out', h.clock.now().getTime())];
    expect((await postWebhook(app, h, events, 'v2')).statusCode).toBe(401);
    expect((await postWebhook(app, h, events, 'v3', h.clock.now().getTime() - 6 * 60_000)).statusCode).toBe(401);
    expect((await postWebhook(app, h, events, 'v3', h.clock.now().getTime() + 10 * 60_000)).statusCode).toBe(401);
    const body = JSON.stringify(events);
    const tampered = await app.inject({
      method: 'POST',
      url: '/hubspot/webhooks',
      payload: body.replace('opted_out', 'opted_in'),
      headers: signedHeaders(h, '/hubspot/webhooks', body, 'v3'),
    });
    expect(tampered.statusCode).toBe(401);
  });

  it('raises sync.failed for a decision Consentry cannot record', async () => {
    const { h, app } = await setUp();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    const response = await postWebhook(app, h, [propertyChange(hubspotId, sms.status, 'opted_in', h.clock.now().getTime())]);
    expect(response.json()).toEqual(expect.objectContaining({ refused: 1, recorded: 0 }));
    const failures = await h.workspace.listEvents({ types: ['sync.failed'] });
    expect(failures[0]?.data).toEqual(expect.objectContaining({ contactId, operation: 'receive_property_change', reason: expect.stringContaining('LEGAL_BASIS_REQUIRED') }));
  });
});

describe('GET /v1/integrations/hubspot/status', () => {
  it('needs an API key and shows backlog, last success and dead letters', async () => {
    const { h, app } = await setUp();
    expect((await app.inject({ method: 'GET', url: '/v1/integrations/hubspot/status' })).statusCode).toBe(401);
    const { key } = await createApiKey(h.store, { workspaceId: h.workspaceId, name: 'ops', clock: h.clock });
    const lost = await h.workspace.createContact({ email: 'lost.test@example.com' });
    await h.workspace.setConsent({ contactId: lost.id, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor: { kind: 'user', id: 'u1' } });
    const { contactId } = await linkedContact(h, 'ana.test@example.com');
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor: { kind: 'user', id: 'u1' } });
    await h.sync.drain();
    h.fake.setDailyLimit(0);
    await h.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'whatsapp', status: 'opted_out', source: 'manual', actor: { kind: 'user', id: 'u1' } });
    await h.sync.runOnce();
    const response = await app.inject({ method: 'GET', url: '/v1/integrations/hubspot/status', headers: { authorization: `Bearer ${key}` } });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual(
      expect.objectContaining({
        configured: true,
        configuredBy: 'settings',
        portalId: PORTAL_ID,
        lastSuccessAt: '2026-03-02T10:00:00.000Z',
        backlog: { pending: 1, oldestPendingAt: '2026-03-02T10:00:00.000Z' },
        pausedUntil: '2026-03-03T00:00:00.000Z',
        deadLetters: { count: 1, recent: [expect.objectContaining({ contactId: lost.id, target: 'contact', lastError: expect.stringContaining('createMissingContacts') })] },
      }),
    );
  });
});

import { http, HttpResponse } from 'msw';
import { afterEach, describe, expect, it } from 'vitest';
import { HubSpotConnections } from '../../../connectors/hubspot/connections.js';
import { channelPropertyNames, propertyDefinitions, TAGS_PROPERTY } from '../../../connectors/hubspot/properties.js';
import { hubSpotStateFor } from '../../../connectors/hubspot/state-sqlite.js';
import { HubSpotSync } from '../../../connectors/hubspot/sync.js';
import { createEngine, type Engine, type WorkspaceEngine } from '../../../src/engine.js';
import { FakeClock } from '../../../src/ports/clock.js';
import type { Store } from '../../../src/ports/store.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { ACCOUNT_INFO_URL, accountDetails, batchResponse, contactObject, HUBSPOT_API as API, jsonBody, RATE_HEADERS, useHubSpotMsw, type JsonObject } from './msw.js';

/**
 * The sync through the real @hubspot/api-client against handlers that follow HubSpot's documented
 * shapes: https://developers.hubspot.com/docs/api/crm/contacts (batch update, batch read by
 * idProperty), https://developers.hubspot.com/docs/api/crm/properties (options replaced on PATCH),
 * https://developers.hubspot.com/docs/api/marketing/subscriptions-preferences (v3 subscribe),
 * https://developers.hubspot.com/docs/api-reference/communication-preferences-subscriptions-v4 (v4
 * batch write, Marketing Hub Enterprise), https://developers.hubspot.com/docs/api/usage-details
 * (429 body and X-HubSpot-RateLimit-* headers), and the callback completion of custom actions.
 */
const TOKEN = 'pat-na1-11111111-2222-3333-4444-555555555555';
const server = useHubSpotMsw();

const sms = channelPropertyNames('sms');
const actor = { kind: 'user' as const, id: 'user-ana' };


function propertyList(tagOptions: { label: string; value: string }[] = []) {
  return {
    results: propertyDefinitions().map((p) => ({
      name: p.name,
      label: p.label,
      type: p.type,
      fieldType: p.fieldType,
      groupName: p.groupName,
      options: p.name === TAGS_PROPERTY ? tagOptions.map((o, i) => ({ ...o, displayOrder: i, hidden: false })) : (p.options ?? []),
    })),
  };
}

interface Setup {
  store: Store;
  engine: Engine;
  workspace: WorkspaceEngine;
  clock: FakeClock;
  sync: HubSpotSync;
}

let current: Setup | null = null;
afterEach(async () => {
  await current?.sync.stop();
  await current?.store.close();
  current = null;
});

async function setUp(hubspot: Record<string, unknown> = {}): Promise<Setup> {
  const clock = new FakeClock('2026-03-02T10:00:00.000Z');
  const store = createMemoryStore();
  const engine = createEngine({ store, clock });
  const created = await engine.createWorkspace({
    name: 'Example Shop',
    settings: { hubspot: { accessToken: TOKEN, portalId: '62515', emailSubscriptionId: '1001', ...hubspot } },
  });
  const sleep = async (ms: number): Promise<void> => {
    clock.advance(ms);
  };
  const connections = new HubSpotConnections({ clock, sleep, random: () => 0 });
  const sync = new HubSpotSync({ engine, store, clock, connections, random: () => 0 });
  // The sync asks once where the portal's daily limit resets.
  server.use(http.get(ACCOUNT_INFO_URL, () => HttpResponse.json(accountDetails(62515), { headers: RATE_HEADERS })));
  current = { store, engine, workspace: engine.workspace(created.id), clock, sync };
  return current;
}

describe('HubSpot sync through @hubspot/api-client (msw)', () => {
  it('reads the tags property, adds the missing option to what HubSpot holds, then batch-updates the contact with its documented body', async () => {
    const { workspace, sync } = await setUp();
    const contact = await workspace.createContact({ email: 'ana.test@example.com' });
    await workspace.linkHubspotContacts([{ contactId: contact.id, hubspotId: '1001' }]);
    await workspace.addTag(contact.id, 'VIP');
    await workspace.setConsent({ contactId: contact.id, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor });

    const seen: { options: unknown; update: unknown; auth: string | null } = { options: null, update: null, auth: null };
    server.use(
      http.get(`${API}/crm/v3/properties/contacts`, () => HttpResponse.json(propertyList([{ label: 'Old', value: 'Old' }]), { headers: RATE_HEADERS })),
      // Read again before the PATCH, which replaces the list: an option added in HubSpot since the list above is kept.
      http.get(`${API}/crm/v3/properties/contacts/${TAGS_PROPERTY}`, () =>
        HttpResponse.json(
          propertyList([
            { label: 'Old', value: 'Old' },
            { label: 'Added in HubSpot', value: 'Added in HubSpot' },
          ]).results.find((p) => p.name === TAGS_PROPERTY),
          { headers: RATE_HEADERS },
        ),
      ),
      http.patch(`${API}/crm/v3/properties/contacts/${TAGS_PROPERTY}`, async ({ request }) => {
        const body = await jsonBody(request);
        seen.options = body.options;
        return HttpResponse.json({ ...propertyList().results.find((p) => p.name === TAGS_PROPERTY), options: body.options }, { headers: RATE_HEADERS });
      }),
      http.post(`${API}/crm/v3/objects/contacts/batch/update`, async ({ request }) => {
        seen.auth = request.headers.get('authorization');
        const body = await jsonBody(request);
        seen.update = body;
        return HttpResponse.json(batchResponse([contactObject('1001', { [sms.status]: 'opted_out' })]), { headers: RATE_HEADERS });
      }),
    );
    const summary = await sync.drain();
    expect(summary.done).toBe(2);
    expect(seen.options).toEqual([
      { label: 'Old', value: 'Old', displayOrder: 0, hidden: false },
      { label: 'Added in HubSpot', value: 'Added in HubSpot', displayOrder: 1, hidden: false },
      { label: 'VIP', value: 'VIP', displayOrder: 2, hidden: false },
    ]);
    expect(seen.auth).toBe(`Bearer ${TOKEN}`);
    expect(seen.update).toEqual({
      inputs: [
        {
          id: '1001',
          properties: {
            [TAGS_PROPERTY]: 'VIP',
            [sms.status]: 'opted_out',
            [sms.legalBasis]: '',
            [sms.explanation]: '',
            [sms.updatedAt]: '2026-03-02T10:00:00.000Z',
            [sms.source]: 'manual',
          },
        },
      ],
    });
  });

  it('matches an unlinked contact with a batch read by email (idProperty)', async () => {
    const { workspace, sync } = await setUp();
    const contact = await workspace.createContact({ email: 'ana.test@example.com' });
    await workspace.setConsent({ contactId: contact.id, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor });
    let read: JsonObject | null = null;
    server.use(
      http.get(`${API}/crm/v3/properties/contacts`, () => HttpResponse.json(propertyList())),
      http.post(`${API}/crm/v3/objects/contacts/batch/read`, async ({ request }) => {
        read = await jsonBody(request);
        return HttpResponse.json(batchResponse([contactObject('2002', { email: 'ana.test@example.com' })]));
      }),
      http.post(`${API}/crm/v3/objects/contacts/batch/update`, () => HttpResponse.json(batchResponse([contactObject('2002', {})]))),
    );
    await sync.drain();
    expect(read).toEqual({ inputs: [{ id: 'ana.test@example.com' }], idProperty: 'email', properties: ['email'], propertiesWithHistory: [] });
    expect((await workspace.getContact(contact.id)).hubspotId).toBe('2002');
  });

  it('writes email consent with v3 subscribe, legal basis and explanation, after v4 is refused', async () => {
    const { workspace, sync } = await setUp();
    const contact = await workspace.createContact({ email: 'ana.test@example.com' });
    await workspace.linkHubspotContacts([{ contactId: contact.id, hubspotId: '1001' }]);
    await workspace.setConsent({
      contactId: contact.id,
      purpose: 'marketing',
      channel: 'email',
      status: 'opted_in',
      legalBasis: 'CONSENT_WITH_NOTICE',
      explanation: 'Newsletter form',
      source: 'manual',
      actor,
    });
    let v4: JsonObject | null = null;
    let v3: JsonObject | null = null;
    server.use(
      http.get(`${API}/crm/v3/properties/contacts`, () => HttpResponse.json(propertyList())),
      http.post(`${API}/crm/v3/objects/contacts/batch/update`, () => HttpResponse.json(batchResponse([contactObject('1001', {})]))),
      http.post(`${API}/communication-preferences/v4/statuses/batch/write`, async ({ request }) => {
        v4 = await jsonBody(request);
        return HttpResponse.json(
          { status: 'error', message: 'This app hasn\'t been granted all required scopes to make this call.', category: 'MISSING_SCOPES', correlationId: 'b1d2f3a4-0000-4000-8000-000000000000' },
          { status: 403 },
        );
      }),
      http.post(`${API}/communication-preferences/v3/subscribe`, async ({ request }) => {
        v3 = await jsonBody(request);
        return HttpResponse.json({
          id: '1001',
          name: 'Marketing Information',
          description: 'Marketing offers and updates.',
          status: 'SUBSCRIBED',
          sourceOfStatus: 'SUBSCRIPTION_STATUS',
          legalBasis: 'CONSENT_WITH_NOTICE',
          legalBasisExplanation: 'Newsletter form',
        });
      }),
    );
    await sync.drain();
    expect(v4).toEqual({
      inputs: [
        {
          subscriberIdString: 'ana.test@example.com',
          subscriptionId: 1001,
          channel: 'EMAIL',
          statusState: 'SUBSCRIBED',
          legalBasis: 'CONSENT_WITH_NOTICE',
          legalBasisExplanation: 'Newsletter form',
        },
      ],
    });
    expect(v3).toEqual({ emailAddress: 'ana.test@example.com', subscriptionId: '1001', legalBasis: 'CONSENT_WITH_NOTICE', legalBasisExplanation: 'Newsletter form' });
  });

  it('waits out a TEN_SECONDLY_ROLLING 429 and sends again', async () => {
    const { workspace, sync, clock } = await setUp();
    const contact = await workspace.createContact({ email: 'ana.test@example.com' });
    await workspace.linkHubspotContacts([{ contactId: contact.id, hubspotId: '1001' }]);
    await workspace.setConsent({ contactId: contact.id, purpose: 'marketing', channel: 'sms', status: 'opted_out', source: 'manual', actor });
    let calls = 0;
    server.use(
      http.get(`${API}/crm/v3/properties/contacts`, () => HttpResponse.json(propertyList())),
      http.post(`${API}/crm/v3/objects/contacts/batch/update`, () => {
        calls += 1;
        if (calls === 1) {
          return HttpResponse.json(
            { status: 'error', message: 'You have reached your ten_secondly_rolling limit.', errorType: 'RATE_LIMIT', correlationId: 'c033cdaa-2c40-4a64-ae48-b4cec88dad24', policyName: 'TEN_SECONDLY_ROLLING' },
            { status: 429, headers: { ...RATE_HEADERS, 'X-HubSpot-RateLimit-Remaining': '0' } },
          );
        }
        return HttpResponse.json(batchResponse([contactObject('1001', {})]), { headers: RATE_HEADERS });
      }),
    );
    const before = clock.now().getTime();
    const summary = await sync.drain();
    expect(summary.done).toBe(1);
    expect(calls).toBe(2);
    expect(clock.now().getTime() - before).toBeGreaterThanOrEqual(500);
  });

  it('completes a callback with POST /automation/v4/actions/callbacks/{callbackId}/complete', async () => {
    const { store, workspace, sync } = await setUp();
    const state = hubSpotStateFor(store);
    await state.transaction((s) =>
      s.insertChanges([
        {
          position: 1,
          target: 'callback',
          workspaceId: workspace.workspaceId,
          eventId: 'evt-1',
          contactId: null,
          payload: { kind: 'callback', callbackId: 'ap-102-1', outputFields: { hs_execution_state: 'SUCCESS', outcome: 'given' } },
          occurredAt: '2026-03-02T10:00:00.000Z',
          status: 'pending',
          attempts: 0,
          nextAttemptAt: '2026-03-02T10:00:00.000Z',
          lastError: null,
          createdAt: '2026-03-02T10:00:00.000Z',
          updatedAt: '2026-03-02T10:00:00.000Z',
        },
      ]),
    );
    let completed: JsonObject | null = null;
    server.use(
      http.post(`${API}/automation/v4/actions/callbacks/:callbackId/complete`, async ({ request, params }) => {
        expect(params.callbackId).toBe('ap-102-1');
        completed = await jsonBody(request);
        return new HttpResponse(null, { status: 204 });
      }),
    );
    const summary = await sync.drain();
    expect(summary.done).toBe(1);
    expect(completed).toEqual({ outputFields: { hs_execution_state: 'SUCCESS', outcome: 'given' } });
  });
});

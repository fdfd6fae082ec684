import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { ConsentryError } from '../../../src/core/errors.js';
import { FakeClock } from '../../../src/ports/clock.js';
import { batchErrorNames, createHubSpotClient } from '../../../connectors/hubspot/client.js';
import { HubSpotApiError, HubSpotResponseError } from '../../../connectors/hubspot/errors.js';
import { CONTACT_ID_PROPERTY, propertyDefinitions } from '../../../connectors/hubspot/properties.js';
import { PortalRateLimiter } from '../../../connectors/hubspot/rate-limiter.js';
import { ACCOUNT_INFO_URL, accountDetails, batchResponse, contactObject, HUBSPOT_API as API, jsonBody, RATE_HEADERS, useHubSpotMsw, type JsonObject } from './msw.js';

/**
 * Handlers follow HubSpot's documented request and response shapes:
 * https://developers.hubspot.com/docs/api/crm/contacts (batch, search),
 * https://developers.hubspot.com/docs/api/crm/properties,
 * https://developers.hubspot.com/docs/api/marketing/subscriptions-preferences (v3),
 * https://developers.hubspot.com/docs/api-reference/legacy/automation/workflow-actions/callbacks/complete-callback,
 * https://developers.hubspot.com/docs/api/usage-details (429 body and headers).
 */
const TOKEN = 'pat-na1-00000000-0000-0000-0000-000000000000';
const server = useHubSpotMsw();

const client = () => createHubSpotClient({ accessToken: TOKEN });

describe('contacts', () => {
  it('updates a batch of 100 contacts', async () => {
    const seen: { auth: string | null; body: JsonObject | null } = { auth: null, body: null };
    server.use(
      http.post(`${API}/crm/v3/objects/contacts/batch/update`, async ({ request }) => {
        seen.auth = request.headers.get('authorization');
        const body = await jsonBody(request);
        seen.body = body;
        const inputs = Array.isArray(body.inputs) ? body.inputs : [];
        return HttpResponse.json(
          batchResponse(inputs.map((_, i) => contactObject(String(1000 + i), { consentry_sms_status: 'opted_in' }))),
          { headers: RATE_HEADERS },
        );
      }),
    );
    const inputs = Array.from({ length: 100 }, (_, i) => ({ id: String(1000 + i), properties: { consentry_sms_status: 'opted_in' } }));
    const result = await client().updateContacts(inputs);
    expect(seen.auth).toBe(`Bearer ${TOKEN}`);
    expect(seen.body).toEqual({ inputs });
    expect(result.results).toHaveLength(100);
    expect(result.results[0]).toEqual({ id: '1000', properties: expect.objectContaining({ consentry_sms_status: 'opted_in' }) });
    expect(result.errors).toEqual([]);
  });

  it('reports the records a 207 Multi-Status names', async () => {
    server.use(
      http.post(`${API}/crm/v3/objects/contacts/batch/update`, () =>
        HttpResponse.json(
          batchResponse(
            [contactObject('1001', { consentry_sms_status: 'opted_out' })],
            [{ status: 'error', category: 'OBJECT_NOT_FOUND', message: 'Could not get some CONTACT objects', context: { ids: ['404404'] }, errors: [], links: {} }],
          ),
          { status: 207 },
        ),
      ),
    );
    const result = await client().updateContacts([
      { id: '1001', properties: { consentry_sms_status: 'opted_out' } },
      { id: '404404', properties: { consentry_sms_status: 'opted_out' } },
    ]);
    expect(result.results.map((r) => r.id)).toEqual(['1001']);
    expect(result.errors).toEqual([{ status: 'error', category: 'OBJECT_NOT_FOUND', message: 'Could not get some CONTACT objects', context: { ids: ['404404'] }, id: null }]);
  });

  it('refuses more than 100 records before calling HubSpot', async () => {
    const inputs = Array.from({ length: 101 }, (_, i) => ({ id: String(i), properties: {} }));
    await expect(client().updateContacts(inputs)).rejects.toBeInstanceOf(ConsentryError);
    await expect(client().updateContacts([])).resolves.toEqual({ results: [], errors: [] });
  });

  it('searches by email with an EQ filter', async () => {
    let received: JsonObject | null = null;
    server.use(
      http.post(`${API}/crm/v3/objects/contacts/search`, async ({ request }) => {
        received = await jsonBody(request);
        return HttpResponse.json({ total: 1, results: [contactObject('1001', { email: 'ana.test@example.com', consentry_tags: 'VIP' })] });
      }),
    );
    const contact = await client().findContactByEmail('ana.test@example.com', ['email', 'consentry_tags']);
    expect(received).toEqual({
      filterGroups: [{ filters: [{ propertyName: 'email', operator: 'EQ', value: 'ana.test@example.com' }] }],
      properties: ['email', 'consentry_tags'],
      limit: 1,
    });
    expect(contact?.id).toBe('1001');
    expect(contact?.properties.consentry_tags).toBe('VIP');
  });

  it('searches by phone in either phone property and returns null when nothing matches', async () => {
    let received: JsonObject | null = null;
    server.use(
      http.post(`${API}/crm/v3/objects/contacts/search`, async ({ request }) => {
        received = await jsonBody(request);
        return HttpResponse.json({ total: 0, results: [] });
      }),
    );
    await expect(client().findContactByPhone('+34600000001', ['phone'])).resolves.toBeNull();
    expect(received).toMatchObject({
      filterGroups: [
        { filters: [{ propertyName: 'phone', operator: 'EQ', value: '+34600000001' }] },
        { filters: [{ propertyName: 'mobilephone', operator: 'EQ', value: '+34600000001' }] },
      ],
    });
  });

  it('reads a batch by id', async () => {
    let received: JsonObject | null = null;
    server.use(
      http.post(`${API}/crm/v3/objects/contacts/batch/read`, async ({ request }) => {
        received = await jsonBody(request);
        return HttpResponse.json(batchResponse([contactObject('1001', { email: 'ana.test@example.com' })]));
      }),
    );
    const result = await client().readContacts(['1001'], ['email']);
    expect(received).toEqual({ inputs: [{ id: '1001' }], properties: ['email'], propertiesWithHistory: [] });
    expect(result.results[0]?.properties.email).toBe('ana.test@example.com');
  });

  it('creates contacts and upserts by email, telling new records apart', async () => {
    const bodies: Record<string, JsonObject> = {};
    server.use(
      http.post(`${API}/crm/v3/objects/contacts/batch/create`, async ({ request }) => {
        bodies.create = await jsonBody(request);
        return HttpResponse.json(batchResponse([contactObject('1002', { email: 'bea.test@example.com' })]), { status: 201 });
      }),
      http.post(`${API}/crm/v3/objects/contacts/batch/upsert`, async ({ request }) => {
        bodies.upsert = await jsonBody(request);
        return HttpResponse.json(
          batchResponse([
            { ...contactObject('1001', { email: 'ana.test@example.com' }), new: false },
            { ...contactObject('1003', { email: 'carla.test@example.com' }), new: true },
          ]),
        );
      }),
    );
    const created = await client().createContacts([{ properties: { email: 'bea.test@example.com' } }]);
    expect(bodies.create).toEqual({ inputs: [{ properties: { email: 'bea.test@example.com' }, associations: [] }] });
    expect(created.results[0]?.id).toBe('1002');

    const upserted = await client().upsertContacts([
      { id: 'ana.test@example.com', idProperty: 'email', properties: { consentry_sms_status: 'opted_in' } },
      { id: 'carla.test@example.com', idProperty: 'email', properties: { consentry_sms_status: 'opted_in' } },
    ]);
    expect(bodies.upsert).toEqual({
      inputs: [
        { id: 'ana.test@example.com', idProperty: 'email', properties: { consentry_sms_status: 'opted_in' } },
        { id: 'carla.test@example.com', idProperty: 'email', properties: { consentry_sms_status: 'opted_in' } },
      ],
    });
    expect(upserted.results.map((r) => [r.id, r.created])).toEqual([
      ['1001', false],
      ['1003', true],
    ]);
  });
});

describe('properties', () => {
  it('lists groups and properties, and creates a property with its options', async () => {
    let created: JsonObject | null = null;
    server.use(
      http.get(`${API}/crm/v3/properties/contacts/groups`, () =>
        HttpResponse.json({ results: [{ name: 'contactinformation', label: 'Contact information', displayOrder: 0, archived: false }] }),
      ),
      http.get(`${API}/crm/v3/properties/contacts`, () =>
        HttpResponse.json({
          results: [
            { name: 'email', label: 'Email', type: 'string', fieldType: 'text', groupName: 'contactinformation', description: '', options: [], hubspotDefined: true },
          ],
        }),
      ),
      http.post(`${API}/crm/v3/properties/contacts`, async ({ request }) => {
        const body = await jsonBody(request);
        created = body;
        return HttpResponse.json({ ...body, description: body.description ?? '', hidden: false, archived: false }, { status: 201 });
      }),
    );
    const hubspot = client();
    await expect(hubspot.listPropertyGroups()).resolves.toEqual([{ name: 'contactinformation', label: 'Contact information' }]);
    await expect(hubspot.listProperties()).resolves.toEqual([{ name: 'email', type: 'string', fieldType: 'text', groupName: 'contactinformation', options: [] }]);

    const definition = propertyDefinitions().find((d) => d.name === 'consentry_whatsapp_status');
    if (definition === undefined) throw new Error('missing definition');
    const property = await hubspot.createProperty(definition);
    expect(created).toMatchObject({
      name: 'consentry_whatsapp_status',
      groupName: 'consentry',
      type: 'enumeration',
      fieldType: 'select',
      options: [
        { label: 'Opted in', value: 'opted_in', displayOrder: 0, hidden: false },
        { label: 'Opted out', value: 'opted_out', displayOrder: 1, hidden: false },
        { label: 'Not specified', value: 'not_specified', displayOrder: 2, hidden: false },
      ],
    });
    expect(property.options.map((o) => o.value)).toEqual(['opted_in', 'opted_out', 'not_specified']);
  });

  it('creates a property HubSpot keeps unique, and reads one property by name', async () => {
    let created: JsonObject | null = null;
    server.use(
      http.post(`${API}/crm/v3/properties/contacts`, async ({ request }) => {
        const body = await jsonBody(request);
        created = body;
        return HttpResponse.json({ ...body, description: '', options: [] }, { status: 201 });
      }),
      http.get(`${API}/crm/v3/properties/contacts/consentry_tags`, () =>
        HttpResponse.json({
          name: 'consentry_tags',
          label: 'Consentry tags',
          type: 'enumeration',
          fieldType: 'checkbox',
          groupName: 'consentry',
          hasUniqueValue: false,
          options: [{ label: 'VIP', value: 'VIP', displayOrder: 0, hidden: false }],
        }),
      ),
    );
    const definition = propertyDefinitions().find((d) => d.name === CONTACT_ID_PROPERTY);
    if (definition === undefined) throw new Error('missing definition');
    const property = await client().createProperty(definition);
    expect(created).toMatchObject({ name: CONTACT_ID_PROPERTY, type: 'string', fieldType: 'text', hasUniqueValue: true });
    expect(property.hasUniqueValue).toBe(true);
    await expect(client().getProperty('consentry_tags')).resolves.toEqual({
      name: 'consentry_tags',
      type: 'enumeration',
      fieldType: 'checkbox',
      groupName: 'consentry',
      hasUniqueValue: false,
      options: [{ label: 'VIP', value: 'VIP', displayOrder: 0, hidden: false }],
    });
  });

  it('creates the group and patches the full option list', async () => {
    const seen: JsonObject[] = [];
    server.use(
      http.post(`${API}/crm/v3/properties/contacts/groups`, async ({ request }) => {
        const body = await jsonBody(request);
        seen.push(body);
        return HttpResponse.json({ ...body, archived: false }, { status: 201 });
      }),
      http.patch(`${API}/crm/v3/properties/contacts/consentry_tags`, async ({ request }) => {
        const body = await jsonBody(request);
        seen.push(body);
        return HttpResponse.json({ name: 'consentry_tags', label: 'Consentry tags', type: 'enumeration', fieldType: 'checkbox', groupName: 'consentry', description: '', ...body });
      }),
    );
    const hubspot = client();
    await hubspot.createPropertyGroup({ name: 'consentry', label: 'Consentry consent', displayOrder: -1 });
    const options = [
      { label: 'VIP', value: 'VIP', displayOrder: 0, hidden: false },
      { label: 'Consent: Privacy', value: 'Consent: Privacy', displayOrder: 1, hidden: false },
    ];
    const property = await hubspot.updatePropertyOptions('consentry_tags', options);
    expect(seen).toEqual([{ name: 'consentry', label: 'Consentry consent', displayOrder: -1 }, { options }]);
    expect(property.options.map((o) => o.value)).toEqual(['VIP', 'Consent: Privacy']);
  });
});

describe('email subscriptions', () => {
  it('subscribes with legalBasis and legalBasisExplanation (v3)', async () => {
    let received: JsonObject | null = null;
    server.use(
      http.post(`${API}/communication-preferences/v3/subscribe`, async ({ request }) => {
        received = await jsonBody(request);
        return HttpResponse.json({
          id: '1001',
          name: 'Marketing Information',
          description: 'Marketing offers and updates.',
          status: 'SUBSCRIBED',
          sourceOfStatus: 'SUBSCRIPTION_STATUS',
          legalBasis: 'CONSENT_WITH_NOTICE',
          legalBasisExplanation: 'Ticked the box on the signup form',
        });
      }),
    );
    const status = await client().subscribeEmail({
      emailAddress: 'ana.test@example.com',
      subscriptionId: '1001',
      legalBasis: 'CONSENT_WITH_NOTICE',
      legalBasisExplanation: 'Ticked the box on the signup form',
    });
    expect(received).toEqual({
      emailAddress: 'ana.test@example.com',
      subscriptionId: '1001',
      legalBasis: 'CONSENT_WITH_NOTICE',
      legalBasisExplanation: 'Ticked the box on the signup form',
    });
    expect(status).toEqual({
      subscriptionId: '1001',
      status: 'SUBSCRIBED',
      legalBasis: 'CONSENT_WITH_NOTICE',
      legalBasisExplanation: 'Ticked the box on the signup form',
    });
  });

  it('unsubscribes and reads statuses', async () => {
    server.use(
      http.post(`${API}/communication-preferences/v3/unsubscribe`, () =>
        HttpResponse.json({ id: '1001', name: 'Marketing Information', description: '', status: 'NOT_SUBSCRIBED', sourceOfStatus: 'SUBSCRIPTION_STATUS' }),
      ),
      http.get(`${API}/communication-preferences/v3/status/email/:email`, ({ params }) =>
        HttpResponse.json({
          recipient: String(params.email),
          subscriptionStatuses: [{ id: '1001', name: 'Marketing Information', description: '', status: 'NOT_SUBSCRIBED', sourceOfStatus: 'SUBSCRIPTION_STATUS' }],
        }),
      ),
    );
    const hubspot = client();
    await expect(hubspot.unsubscribeEmail({ emailAddress: 'ana.test@example.com', subscriptionId: '1001' })).resolves.toMatchObject({ status: 'NOT_SUBSCRIBED' });
    await expect(hubspot.getEmailSubscriptions('ana.test@example.com')).resolves.toEqual([
      { subscriptionId: '1001', status: 'NOT_SUBSCRIBED', legalBasis: null, legalBasisExplanation: null },
    ]);
  });

  it('writes v4 statuses in a batch through apiRequest', async () => {
    let received: JsonObject | null = null;
    server.use(
      http.post(`${API}/communication-preferences/v4/statuses/batch/write`, async ({ request }) => {
        received = await jsonBody(request);
        return HttpResponse.json(
          batchResponse([
            {
              subscriberIdString: 'ana.test@example.com',
              subscriptionId: 1001,
              channel: 'EMAIL',
              status: 'SUBSCRIBED',
              source: 'PUBLIC_API',
              timestamp: '2026-03-02T10:00:00.000Z',
              legalBasis: 'CONSENT_WITH_NOTICE',
            },
          ]),
        );
      }),
    );
    const input = {
      subscriberIdString: 'ana.test@example.com',
      subscriptionId: 1001,
      channel: 'EMAIL' as const,
      statusState: 'SUBSCRIBED' as const,
      legalBasis: 'CONSENT_WITH_NOTICE' as const,
      legalBasisExplanation: 'Sent START by email',
    };
    const result = await client().writeEmailSubscriptionsV4([input]);
    expect(received).toEqual({ inputs: [input] });
    expect(result.results).toEqual([{ subscriberIdString: 'ana.test@example.com', subscriptionId: 1001, status: 'SUBSCRIBED' }]);
  });

  it('reads v4 errors in the documented shape: `context` of no set shape, and `id`', async () => {
    server.use(
      http.post(`${API}/communication-preferences/v4/statuses/batch/write`, () =>
        HttpResponse.json(
          batchResponse(
            [],
            [
              { status: 'error', category: 'VALIDATION_ERROR', message: 'Refused', context: {}, errors: [], links: {}, id: 'ana.test@example.com', subCategory: {} },
              { status: 'error', category: 'VALIDATION_ERROR', message: 'Refused too', context: { subscriberIdString: 'bea.test@example.com', attempt: 2 } },
            ],
          ),
          { status: 207 },
        ),
      ),
    );
    const result = await client().writeEmailSubscriptionsV4([
      { subscriberIdString: 'ana.test@example.com', subscriptionId: 1001, channel: 'EMAIL', statusState: 'NOT_SUBSCRIBED' },
      { subscriberIdString: 'bea.test@example.com', subscriptionId: 1001, channel: 'EMAIL', statusState: 'NOT_SUBSCRIBED' },
    ]);
    expect(result.errors).toEqual([
      { status: 'error', category: 'VALIDATION_ERROR', message: 'Refused', context: {}, id: 'ana.test@example.com' },
      { status: 'error', category: 'VALIDATION_ERROR', message: 'Refused too', context: { subscriberIdString: ['bea.test@example.com'] }, id: null },
    ]);
    const [first, second] = result.errors;
    expect(first === undefined ? null : batchErrorNames(first, 'ANA.test@example.com')).toBe(true);
    expect(second === undefined ? null : batchErrorNames(second, 'bea.test@example.com')).toBe(true);
    expect(second === undefined ? null : batchErrorNames(second, 'ana.test@example.com')).toBe(false);
  });

  it('surfaces a portal without v4 batch write as an API error', async () => {
    server.use(
      http.post(`${API}/communication-preferences/v4/statuses/batch/write`, () =>
        HttpResponse.json({ status: 'error', message: 'This app hasn’t been granted all required scopes.', correlationId: 'a1', category: 'MISSING_SCOPES' }, { status: 403 }),
      ),
    );
    const failure = client().writeEmailSubscriptionsV4([
      { subscriberIdString: 'ana.test@example.com', subscriptionId: 1001, channel: 'EMAIL', statusState: 'NOT_SUBSCRIBED' },
    ]);
    await expect(failure).rejects.toBeInstanceOf(HubSpotApiError);
    await expect(failure).rejects.toMatchObject({ status: 403, category: 'MISSING_SCOPES' });
  });
});

describe('workflow callbacks', () => {
  it('completes a callback with its output fields', async () => {
    let received: { callbackId: string; body: JsonObject } | null = null;
    server.use(
      http.post(`${API}/automation/v4/actions/callbacks/:callbackId/complete`, async ({ request, params }) => {
        received = { callbackId: String(params.callbackId), body: await jsonBody(request) };
        return new HttpResponse(null, { status: 204 });
      }),
    );
    await client().completeCallback('ap-102-1', { hs_execution_state: 'SUCCESS', consent_outcome: 'given' });
    expect(received).toEqual({ callbackId: 'ap-102-1', body: { outputFields: { hs_execution_state: 'SUCCESS', consent_outcome: 'given' } } });
  });
});

describe('errors', () => {
  const TEN_SECONDLY_429 = {
    status: 'error',
    message: 'You have reached your ten_secondly_rolling limit.',
    errorType: 'RATE_LIMIT',
    correlationId: 'c033cdaa-2c40-4a64-ae48-b4cec88dad24',
    policyName: 'TEN_SECONDLY_ROLLING',
  };

  it('surfaces a 429 as a typed error with its policyName and headers', async () => {
    server.use(
      http.post(`${API}/crm/v3/objects/contacts/batch/update`, () =>
        HttpResponse.json(TEN_SECONDLY_429, { status: 429, headers: { ...RATE_HEADERS, 'X-HubSpot-RateLimit-Remaining': '0' } }),
      ),
    );
    const failure = client().updateContacts([{ id: '1001', properties: { consentry_sms_status: 'opted_out' } }]);
    await expect(failure).rejects.toBeInstanceOf(HubSpotApiError);
    await expect(failure).rejects.toMatchObject({
      status: 429,
      errorType: 'RATE_LIMIT',
      policyName: 'TEN_SECONDLY_ROLLING',
      correlationId: 'c033cdaa-2c40-4a64-ae48-b4cec88dad24',
      headers: expect.objectContaining({ 'x-hubspot-ratelimit-remaining': '0' }),
    });
  });

  it('lets the portal limiter retry a 429 and learn the limits from the headers', async () => {
    let calls = 0;
    server.use(
      http.post(`${API}/crm/v3/objects/contacts/search`, () => {
        calls += 1;
        if (calls === 1) return HttpResponse.json(TEN_SECONDLY_429, { status: 429 });
        return HttpResponse.json({ total: 0, results: [] }, { headers: { ...RATE_HEADERS, 'X-HubSpot-RateLimit-Max': '190' } });
      }),
    );
    const clock = new FakeClock('2026-03-02T10:00:00.000Z');
    const limiter = new PortalRateLimiter({ clock, sleep: async (ms) => void clock.advance(ms), random: () => 0 });
    const hubspot = createHubSpotClient({ accessToken: TOKEN, limiter });
    await expect(hubspot.findContactByEmail('ana.test@example.com', ['email'])).resolves.toBeNull();
    expect(calls).toBe(2);
    expect(limiter.stats()).toMatchObject({ rateLimited: 1, retries: 1 });
    expect(limiter.limits().max).toBe(190);
  });

  it('keeps a gateway error readable when its body is not JSON', async () => {
    server.use(http.get(`${API}/crm/v3/properties/contacts`, () => new HttpResponse('<html>Bad gateway</html>', { status: 502, headers: { 'Content-Type': 'text/html' } })));
    const failure = client().listProperties();
    await expect(failure).rejects.toMatchObject({ status: 502, policyName: null, responseText: '<html>Bad gateway</html>' });
  });

  it('refuses a 2xx body without the fields the connector reads', async () => {
    server.use(http.post(`${API}/crm/v3/objects/contacts/batch/read`, () => HttpResponse.json({ status: 'COMPLETE', startedAt: '2026-03-02T10:00:00Z', completedAt: '2026-03-02T10:00:00Z' })));
    await expect(client().readContacts(['1001'], ['email'])).rejects.toBeInstanceOf(HubSpotResponseError);
  });

  it('sends requests to an overridden basePath', async () => {
    server.use(http.get('https://hubspot.test.example.com/crm/v3/properties/contacts/groups', () => HttpResponse.json({ results: [] })));
    const hubspot = createHubSpotClient({ accessToken: TOKEN, basePath: 'https://hubspot.test.example.com/' });
    await expect(hubspot.listPropertyGroups()).resolves.toEqual([]);
  });
});

describe('account details', () => {
  it("reads the account's id and the time zone its daily limit resets in", async () => {
    server.use(http.get(ACCOUNT_INFO_URL, () => HttpResponse.json({ ...accountDetails(424242), timeZone: 'America/Los_Angeles' })));
    expect(await client().getAccountDetails()).toEqual({ portalId: '424242', timeZone: 'America/Los_Angeles' });
  });

  it('reads a time zone the runtime does not know, or none, as null', async () => {
    server.use(http.get(ACCOUNT_INFO_URL, () => HttpResponse.json({ ...accountDetails(424242), timeZone: 'Mars/Olympus_Mons' })));
    expect(await client().getAccountDetails()).toEqual({ portalId: '424242', timeZone: null });
    server.use(http.get(ACCOUNT_INFO_URL, () => HttpResponse.json({ portalId: 424242 })));
    expect(await client().getAccountDetails()).toEqual({ portalId: '424242', timeZone: null });
  });
});

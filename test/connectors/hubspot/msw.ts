import { setupServer, type SetupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll } from 'vitest';

export const HUBSPOT_API = 'https://api.hubapi.com';

/** msw for a whole test file: any request no handler answers fails (nothing reaches the internet). */
export function useHubSpotMsw(): SetupServer {
  const server = setupServer();
  beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
  afterEach(() => server.resetHandlers());
  afterAll(() => server.close());
  return server;
}

/** The limit headers of an answer well within the limit (https://developers.hubspot.com/docs/api/usage-details). */
export const RATE_HEADERS = {
  'X-HubSpot-RateLimit-Max': '100',
  'X-HubSpot-RateLimit-Remaining': '99',
  'X-HubSpot-RateLimit-Interval-Milliseconds': '10000',
};

export type JsonObject = Record<string, unknown>;

export async function jsonBody(request: Request): Promise<JsonObject> {
  const body: unknown = await request.json();
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('expected a JSON object');
  return Object.fromEntries(Object.entries(body));
}

/** A contact as the CRM objects API answers it (https://developers.hubspot.com/docs/api/crm/contacts). */
export function contactObject(id: string, properties: Record<string, string | null>) {
  return {
    id,
    properties: { hs_object_id: id, createdate: '2026-01-05T09:00:00.000Z', lastmodifieddate: '2026-03-02T10:00:00.000Z', ...properties },
    createdAt: '2026-01-05T09:00:00.000Z',
    updatedAt: '2026-03-02T10:00:00.000Z',
    archived: false,
  };
}

/** A batch endpoint's answer; with `errors`, the partial-failure form (HTTP 207). */
export function batchResponse(results: unknown[], errors?: unknown[]) {
  return {
    status: 'COMPLETE',
    results,
    ...(errors === undefined ? {} : { errors, numErrors: errors.length }),
    startedAt: '2026-03-02T10:00:00.000Z',
    completedAt: '2026-03-02T10:00:00.100Z',
  };
}

/** Where HubSpot says whose a token is (https://developers.hubspot.com/docs/api/settings/account-information-api). */
export const ACCOUNT_INFO_URL = `${HUBSPOT_API}/account-info/v3/details`;

/** The account details HubSpot answers for a token of account `portalId`. */
export function accountDetails(portalId: number) {
  return {
    portalId,
    accountType: 'STANDARD',
    timeZone: 'Europe/Madrid',
    companyCurrency: 'EUR',
    additionalCurrencies: [],
    utcOffset: '+01:00',
    utcOffsetMilliseconds: 3_600_000,
    uiDomain: 'app-eu1.hubspot.com',
    dataHostingLocation: 'eu1',
  };
}

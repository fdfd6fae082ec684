import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { actionDefinitions } from '../../../connectors/hubspot/actions/index.js';
import { createHubSpotDeveloperClient } from '../../../connectors/hubspot/client.js';
import { registerActions } from '../../../connectors/hubspot/register-actions.js';
import { cli } from '../../cli/helpers.js';
import { HUBSPOT_API as API, jsonBody, useHubSpotMsw } from './msw.js';

/**
 * Definitions API of custom workflow actions (https://developers.hubspot.com/docs/api/automation/custom-workflow-actions):
 * GET/POST /automation/v4/actions/{appId}, PATCH /automation/v4/actions/{appId}/{definitionId},
 * authenticated by the developer account's key in `hapikey`.
 */
const APP_ID = '1160452';
const DEV_KEY = 'dev-key-for-tests';
const PUBLIC_URL = 'https://consent.example.com';
const server = useHubSpotMsw();

interface Seen {
  created: Record<string, unknown>[];
  updated: { id: string; body: Record<string, unknown> }[];
  keys: (string | null)[];
}

function handlers(existing: { id: string; actionUrl: string }[]): Seen {
  const seen: Seen = { created: [], updated: [], keys: [] };
  let next = 500;
  server.use(
    http.get(`${API}/automation/v4/actions/${APP_ID}`, ({ request }) => {
      seen.keys.push(new URL(request.url).searchParams.get('hapikey'));
      return HttpResponse.json({ results: existing.map((e) => ({ ...e, revisionId: '1', published: true, inputFields: [], labels: {}, objectTypes: ['CONTACT'], functions: [] })) });
    }),
    http.post(`${API}/automation/v4/actions/${APP_ID}`, async ({ request }) => {
      seen.keys.push(new URL(request.url).searchParams.get('hapikey'));
      const body = await jsonBody(request);
      seen.created.push(body);
      return HttpResponse.json({ ...body, id: String(next++), revisionId: '1' }, { status: 201 });
    }),
    http.patch(`${API}/automation/v4/actions/${APP_ID}/:definitionId`, async ({ request, params }) => {
      seen.keys.push(new URL(request.url).searchParams.get('hapikey'));
      const body = await jsonBody(request);
      seen.updated.push({ id: String(params.definitionId), body });
      return HttpResponse.json({ ...body, id: String(params.definitionId), revisionId: '2' });
    }),
  );
  return seen;
}

describe('registering the workflow actions', () => {
  it('creates the missing definitions and updates the one already at the same URL', async () => {
    const seen = handlers([
      { id: '77', actionUrl: `${PUBLIC_URL}/hubspot/actions/check-consent` },
      { id: '78', actionUrl: 'https://elsewhere.example.com/action' },
    ]);
    const client = createHubSpotDeveloperClient({ developerApiKey: DEV_KEY });
    const registered = await registerActions(client, APP_ID, actionDefinitions(), PUBLIC_URL);
    expect(registered.map((r) => `${r.change} ${r.key}`)).toEqual(['created request-consent', 'created set-channel-consent', 'updated check-consent']);
    expect(seen.updated.map((u) => u.id)).toEqual(['77']);
    expect(seen.created[0]).toEqual(expect.objectContaining({ actionUrl: `${PUBLIC_URL}/hubspot/actions/request-consent`, objectTypes: ['CONTACT'], published: true }));
    expect(seen.created[0]).not.toHaveProperty('key');
    expect(seen.keys.every((k) => k === DEV_KEY)).toBe(true);
  });

  it('runs from the CLI with the manifest, the developer key and PUBLIC_URL from the environment', async () => {
    const seen = handlers([]);
    const run = await cli(['hubspot', 'register-actions', '--app-id', APP_ID], { env: { HUBSPOT_DEVELOPER_API_KEY: DEV_KEY, PUBLIC_URL } });
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n')).toHaveLength(3);
    expect(run.stdout).toContain(`created set-channel-consent (definition 501) -> ${PUBLIC_URL}/hubspot/actions/set-channel-consent`);
    expect(seen.created.map((c) => c.actionUrl)).toEqual(actionDefinitions().map((d) => `${PUBLIC_URL}${d.actionUrl}`));
  });

  it('says what is missing', async () => {
    const noKey = await cli(['hubspot', 'register-actions', '--app-id', APP_ID], { env: { PUBLIC_URL } });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain('HUBSPOT_DEVELOPER_API_KEY');
    const noUrl = await cli(['hubspot', 'register-actions', '--app-id', APP_ID, '--developer-key', DEV_KEY]);
    expect(noUrl.stderr).toContain('PUBLIC_URL');
    const badApp = await cli(['hubspot', 'register-actions', '--app-id', 'my-app', '--developer-key', DEV_KEY, '--public-url', PUBLIC_URL]);
    expect(badApp.code).toBe(2);
    expect(badApp.stderr).toContain('app id');
  });
});

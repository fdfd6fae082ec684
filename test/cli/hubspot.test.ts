import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { HUBSPOT_API as API, jsonBody, useHubSpotMsw } from '../connectors/hubspot/msw.js';
import { cli, useTemporaryDatabase } from './helpers.js';

const APP_ID = '1160452';
const DEV_KEY = 'dev-key-for-tests';
const server = useHubSpotMsw();
let db: string;
useTemporaryDatabase('consentry-hubspot-', (paths) => {
  ({ db } = paths);
});

/** Answers the definitions API of custom workflow actions and counts the calls made to it. */
function definitionsApi(): { calls: number } {
  const seen = { calls: 0 };
  let next = 500;
  server.use(
    http.get(`${API}/automation/v4/actions/${APP_ID}`, () => {
      seen.calls++;
      return HttpResponse.json({ results: [] });
    }),
    http.post(`${API}/automation/v4/actions/${APP_ID}`, async ({ request }) => {
      seen.calls++;
      return HttpResponse.json({ ...(await jsonBody(request)), id: String(next++), revisionId: '1' }, { status: 201 });
    }),
  );
  return seen;
}

const stderrLines = (stderr: string) => stderr.split('\n').filter((l) => l !== '');

describe('consentry hubspot: URL options are checked once, before any call', () => {
  it.each([['consent.example.com'], [''], ['ftp://consent.example.com']])(
    'register-actions refuses --public-url %j instead of building every action URL from it',
    async (publicUrl) => {
      const seen = definitionsApi();
      const run = await cli(['hubspot', 'register-actions', '--app-id', APP_ID, '--developer-key', DEV_KEY, '--public-url', publicUrl]);
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(stderrLines(run.stderr)).toEqual([`error: --public-url must be an http(s) URL such as https://consent.example.com, not "${publicUrl}"`]);
      expect(seen.calls).toBe(0);
    },
  );

  it.each([
    ['https://consent.example.com/?x=1', 'must not have a query (?...): paths are appended to it to build every link'],
    ['https://consent.example.com#frag', 'must not have a fragment (#...): paths are appended to it to build every link'],
    ['https://ops:secret@consent.example.com', 'must not hold a user name or password: it is printed at start and published in the API docs'],
  ])('register-actions refuses --public-url %j by the rules of PUBLIC_URL, without repeating it', async (publicUrl, problem) => {
    const seen = definitionsApi();
    const run = await cli(['hubspot', 'register-actions', '--app-id', APP_ID, '--developer-key', DEV_KEY, '--public-url', publicUrl]);
    expect(run.code).toBe(2);
    expect(stderrLines(run.stderr)).toEqual([`error: --public-url ${problem}`]);
    expect(seen.calls).toBe(0);
  });

  it('register-actions builds the action URLs from a valid --public-url', async () => {
    const seen = definitionsApi();
    const run = await cli(['hubspot', 'register-actions', '--app-id', APP_ID, '--developer-key', DEV_KEY, '--public-url', 'https://consent.example.com/']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('-> https://consent.example.com/hubspot/actions/request-consent');
    expect(seen.calls).toBeGreaterThan(1);
  });

  it.each([
    ['install', ['--token', 'pat-test', '--dry-run']],
    ['register-actions', ['--app-id', APP_ID, '--developer-key', DEV_KEY, '--public-url', 'https://consent.example.com']],
  ])('%s refuses a bad --api-base in one line', async (command, args) => {
    const run = await cli(['hubspot', command, ...args, '--api-base', 'not-a-url'], { env: { DATABASE_PATH: db } });
    expect(run.code).toBe(2);
    expect(stderrLines(run.stderr)).toEqual(['error: --api-base must be an http(s) URL such as https://api.hubapi.com, not "not-a-url"']);
  });
});

describe('consentry hubspot: a HubSpot that cannot be reached or refuses', () => {
  it.each([
    ['install', ['--token', 'pat-test', '--dry-run']],
    ['register-actions', ['--app-id', APP_ID, '--developer-key', DEV_KEY, '--public-url', 'https://consent.example.com']],
  ])('%s says so in one line naming the address, without a stack trace', async (command, args) => {
    server.use(http.all(`${API}/*`, () => HttpResponse.error()));
    const run = await cli(['hubspot', command, ...args], { env: { DATABASE_PATH: db } });
    expect(run.code).toBe(1);
    expect(stderrLines(run.stderr)).toEqual([
      expect.stringMatching(
        /^error: cannot reach HubSpot at https:\/\/api\.hubapi\.com \((no answer|[A-Z_]+)\): check the network or --api-base, then run the command again$/,
      ),
    ]);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('install quotes what HubSpot answered when it refuses the token', async () => {
    server.use(http.all(`${API}/*`, () => HttpResponse.json({ status: 'error', category: 'INVALID_AUTHENTICATION', message: 'Authentication credentials not found.' }, { status: 401 })));
    const run = await cli(['hubspot', 'install', '--token', 'pat-test', '--dry-run'], { env: { DATABASE_PATH: db } });
    expect(run.code).toBe(1);
    expect(stderrLines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toMatch(/^error: HubSpot refused the request: .*(Authentication|401)/);
  });
});

describe('consentry hubspot: credentials given on the command line must say something', () => {
  it.each([[''], ['   ']])('install refuses --token %j instead of sending it', async (token) => {
    const run = await cli(['hubspot', 'install', '--token', token, '--dry-run'], { env: { DATABASE_PATH: db } });
    expect(run.code).toBe(2);
    expect(stderrLines(run.stderr)).toEqual(['error: --token must be a HubSpot token, not be empty']);
  });

  it('register-actions refuses an empty --developer-key before any call', async () => {
    const seen = definitionsApi();
    const run = await cli(['hubspot', 'register-actions', '--app-id', APP_ID, '--developer-key', '', '--public-url', 'https://consent.example.com']);
    expect(run.code).toBe(2);
    expect(stderrLines(run.stderr)).toEqual(['error: --developer-key must be a developer API key, not be empty']);
    expect(seen.calls).toBe(0);
  });
});

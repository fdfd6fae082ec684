import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { http, HttpResponse, type HttpResponseResolver } from 'msw';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createHubSpotAccountVerifier, type HubSpotAccountVerifier } from '../../connectors/hubspot/account.js';
import { createEngine, type Engine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import { createApiKey } from '../../src/server/api-keys.js';
import { buildApp } from '../../src/server/app.js';
import type { Config } from '../../src/config.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { accountDetails, ACCOUNT_INFO_URL, useHubSpotMsw } from '../connectors/hubspot/msw.js';
import { body, expectProblem, useTestApp, type Tenant, type TestApp } from './helpers.js';

/**
 * HubSpot's account details follow https://developers.hubspot.com/docs/api/settings/account-information-api;
 * msw answers for api.hubapi.com and fails any request no handler expects.
 */
const server = useHubSpotMsw();
const asked: string[] = [];
server.events.on('request:start', ({ request }) => {
  asked.push(`${request.method} ${request.url} ${request.headers.get('authorization') ?? ''}`);
});
beforeEach(() => {
  asked.length = 0;
});

const TOKEN_A = 'pat-eu1-00000000-0000-0000-0000-00000000aaaa';
const TOKEN_B = 'pat-eu1-00000000-0000-0000-0000-00000000bbbb';
const OURS = '12345';
const THEIRS = '67890';
const askedWith = (token: string) => `GET ${ACCOUNT_INFO_URL} Bearer ${token}`;

/** HubSpot's account-info, knowing which account each token is of; any other token is refused (401). */
function accountsOf(owners: Record<string, string>): HttpResponseResolver {
  return ({ request }) => {
    const token = (request.headers.get('authorization') ?? '').replace(/^Bearer /, '');
    const portalId = owners[token];
    if (portalId === undefined) return HttpResponse.json({ status: 'error', message: 'Authentication credentials not found.', category: 'INVALID_AUTHENTICATION' }, { status: 401 });
    return HttpResponse.json(accountDetails(Number(portalId)));
  };
}

/** A promise the test settles when it chooses: HubSpot answering late. */
function gate(): { opened: Promise<void>; open(): void } {
  let open = (): void => undefined;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/**
 * HubSpot's account-info as `accountsOf` answers it, late for `slowToken` (for every token when
 * none is named): the request waits until the test calls `open()`; `asked()` says it arrived.
 */
function slowAccountInfo(owners: Record<string, string>, slowToken?: string): { asked(): boolean; open(): void } {
  const late = gate();
  let asked = false;
  const answer = accountsOf(owners);
  server.use(
    http.get(ACCOUNT_INFO_URL, async (info) => {
      if (slowToken === undefined || info.request.headers.get('authorization') === `Bearer ${slowToken}`) {
        asked = true;
        await late.opened;
      }
      return answer(info);
    }),
  );
  return { asked: () => asked, open: late.open };
}

/** Lets pending I/O run until `condition` holds (no timers: nothing waits on real time). */
async function until(condition: () => boolean, turns = 1000): Promise<void> {
  for (let turn = 0; turn < turns; turn += 1) {
    if (condition()) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error('the condition never held');
}

describe('PATCH /v1/settings naming a HubSpot account', () => {
  let t: TestApp;
  let tenant: Tenant;
  useTestApp((app, first) => {
    t = app;
    tenant = first;
  });
  const patch = (payload: object) => t.as(tenant, { method: 'PATCH', url: '/v1/settings', payload });
  const stored = async () => (await t.engine.workspace(tenant.workspaceId).get()).settings;

  it('applies a token and portal id HubSpot says belong together', async () => {
    server.use(http.get(ACCOUNT_INFO_URL, accountsOf({ [TOKEN_A]: OURS })));
    const response = await patch({ hubspot: { accessToken: TOKEN_A, portalId: OURS } });
    expect(response.statusCode, response.body).toBe(200);
    expect(body(response).hubspot).toMatchObject({ portalId: OURS, accessToken: '••••aaaa' });
    expect((await stored()).hubspot).toMatchObject({ accessToken: TOKEN_A, portalId: OURS });
    expect(asked).toEqual([askedWith(TOKEN_A)]);
  });

  it("refuses a portal id that is not the token's account with 422 naming hubspot.portalId, and stores nothing", async () => {
    server.use(http.get(ACCOUNT_INFO_URL, accountsOf({ [TOKEN_A]: OURS })));
    const response = await patch({ defaultCountry: 'ES', hubspot: { accessToken: TOKEN_A, portalId: THEIRS } });
    const problem = expectProblem(response, 422, 'VALIDATION_FAILED');
    expect(problem.errors).toEqual([{ path: 'hubspot.portalId', message: `the access token belongs to HubSpot account ${OURS}, not ${THEIRS}` }]);
    expect(response.body).not.toContain(TOKEN_A);
    expect(await stored()).toMatchObject({ defaultCountry: null, hubspot: null });
  });

  it('refuses a token HubSpot refuses with 422 naming hubspot.accessToken, and stores nothing', async () => {
    server.use(http.get(ACCOUNT_INFO_URL, accountsOf({})));
    const response = await patch({ defaultCountry: 'ES', hubspot: { accessToken: TOKEN_A, portalId: OURS } });
    const problem = expectProblem(response, 422, 'VALIDATION_FAILED');
    expect(problem.errors).toEqual([{ path: 'hubspot.accessToken', message: 'HubSpot refused the access token (401): it is wrong, expired or revoked' }]);
    expect(response.body).not.toContain(TOKEN_A);
    expect(await stored()).toMatchObject({ defaultCountry: null, hubspot: null });
  });

  it.each([
    ['answers 500', () => HttpResponse.json({ status: 'error', message: 'internal error' }, { status: 500 }), '30', 'HubSpot answered 500'],
    ['cannot be reached', () => HttpResponse.error(), '30', 'HubSpot could not be reached'],
    [
      'answers 429',
      () => HttpResponse.json({ status: 'error', message: 'You have reached your ten_secondly_rolling limit.', errorType: 'RATE_LIMIT', policyName: 'TEN_SECONDLY_ROLLING' }, { status: 429 }),
      '10',
      'HubSpot answered 429',
    ],
  ])('refuses the change with 503 HUBSPOT_UNAVAILABLE and Retry-After when HubSpot %s, and stores nothing', async (_name, answer, retryAfter, reason) => {
    server.use(http.get(ACCOUNT_INFO_URL, answer));
    const response = await patch({ defaultCountry: 'ES', hubspot: { accessToken: TOKEN_A, portalId: OURS } });
    const problem = expectProblem(response, 503, 'HUBSPOT_UNAVAILABLE');
    expect(response.headers['retry-after']).toBe(retryAfter);
    expect(problem.detail).toContain(reason);
    expect(response.body).not.toContain(TOKEN_A);
    expect(await stored()).toMatchObject({ defaultCountry: null, hubspot: null });
  });

  it('refuses the change with 422 naming hubspot.accessToken when HubSpot answers 404, without Retry-After, and stores nothing', async () => {
    server.use(http.get(ACCOUNT_INFO_URL, () => HttpResponse.json({ status: 'error', message: 'resource not found', category: 'OBJECT_NOT_FOUND' }, { status: 404 })));
    const response = await patch({ defaultCountry: 'ES', hubspot: { accessToken: TOKEN_A, portalId: OURS } });
    const problem = expectProblem(response, 422, 'VALIDATION_FAILED');
    expect(problem.errors).toEqual([{ path: 'hubspot.accessToken', message: expect.stringContaining('(404 OBJECT_NOT_FOUND)') }]);
    expect(response.headers['retry-after']).toBeUndefined();
    expect(response.body).not.toContain(TOKEN_A);
    expect(await stored()).toMatchObject({ defaultCountry: null, hubspot: null });
  });

  it("answers 503 with the Retry-After HubSpot asked for", async () => {
    server.use(http.get(ACCOUNT_INFO_URL, () => HttpResponse.json({ status: 'error', message: 'maintenance' }, { status: 503, headers: { 'retry-after': '90' } })));
    const response = await patch({ hubspot: { accessToken: TOKEN_A, portalId: OURS } });
    expectProblem(response, 503, 'HUBSPOT_UNAVAILABLE');
    expect(response.headers['retry-after']).toBe('90');
    expect((await stored()).hubspot).toBeNull();
  });

  it('asks HubSpot nothing for a change that leaves the token and the portal id as they are', async () => {
    // No handler: a request to HubSpot would fail the patch (msw answers it with an error).
    expect((await patch({ defaultCountry: 'ES', keywords: { es: { opt_out: ['BAJA'] } } })).statusCode).toBe(200);
    server.use(http.get(ACCOUNT_INFO_URL, accountsOf({ [TOKEN_A]: OURS })));
    expect((await patch({ hubspot: { accessToken: TOKEN_A, portalId: OURS } })).statusCode).toBe(200);
    server.resetHandlers();
    asked.length = 0;
    const read = body(await t.as(tenant, { method: 'GET', url: '/v1/settings' }));
    for (const payload of [
      { hubspot: { createMissingContacts: true, clientSecret: 'client-secret-of-the-shop' } },
      { hubspot: { accessToken: TOKEN_A, portalId: OURS } },
      { hubspot: { accessToken: '••••aaaa' } },
      { ...read, defaultCountry: 'PL' },
      { hubspot: null },
    ]) {
      const response = await patch(payload);
      expect(response.statusCode, response.body).toBe(200);
    }
    expect(asked).toEqual([]);
    expect((await stored()).hubspot).toBeNull();
  });

  it("checks a new token alone against the stored portal, and a new portal id alone against the stored token", async () => {
    server.use(http.get(ACCOUNT_INFO_URL, accountsOf({ [TOKEN_A]: OURS, [TOKEN_B]: OURS })));
    expect((await patch({ hubspot: { accessToken: TOKEN_A, portalId: OURS } })).statusCode).toBe(200);
    const rotated = await patch({ hubspot: { accessToken: TOKEN_B } });
    expect(rotated.statusCode, rotated.body).toBe(200);
    expect((await stored()).hubspot).toMatchObject({ accessToken: TOKEN_B, portalId: OURS });
    expect(asked).toEqual([askedWith(TOKEN_A), askedWith(TOKEN_B)]);

    server.use(http.get(ACCOUNT_INFO_URL, accountsOf({ [TOKEN_A]: OURS, [TOKEN_B]: THEIRS })));
    const otherAccount = await patch({ hubspot: { accessToken: TOKEN_B.replace('bbbb', 'bbbc') } });
    expect(expectProblem(otherAccount, 422, 'VALIDATION_FAILED').errors).toEqual([{ path: 'hubspot.accessToken', message: expect.stringContaining('(401)') }]);
    const moved = await patch({ hubspot: { portalId: THEIRS } });
    expect(moved.statusCode, moved.body).toBe(200);
    expect(asked.at(-1)).toBe(askedWith(TOKEN_B));
    const squat = await patch({ hubspot: { accessToken: TOKEN_A } });
    expect(expectProblem(squat, 422, 'VALIDATION_FAILED').errors).toEqual([
      { path: 'hubspot.portalId', message: `the access token belongs to HubSpot account ${OURS}, not ${THEIRS}` },
    ]);
    expect((await stored()).hubspot).toMatchObject({ accessToken: TOKEN_B, portalId: THEIRS });
  });

  it("does not hold the store's write lock while HubSpot answers", async () => {
    const hubSpot = slowAccountInfo({ [TOKEN_A]: OURS });
    const slow = patch({ hubspot: { accessToken: TOKEN_A, portalId: OURS } });
    await until(hubSpot.asked);
    const meanwhile = await patch({ defaultCountry: 'ES' });
    expect(meanwhile.statusCode, meanwhile.body).toBe(200);
    expect((await stored()).hubspot).toBeNull();
    hubSpot.open();
    expect((await slow).statusCode).toBe(200);
    expect(await stored()).toMatchObject({ defaultCountry: 'ES', hubspot: { accessToken: TOKEN_A, portalId: OURS } });
  });

  it('refuses with 409 a change confirmed against a token another change replaced while HubSpot answered, and keeps the new token', async () => {
    const hubSpot = slowAccountInfo({ [TOKEN_A]: THEIRS, [TOKEN_B]: OURS }, TOKEN_A);
    await t.engine.workspace(tenant.workspaceId).updateSettings({ hubspot: { accessToken: TOKEN_A, portalId: OURS } });
    // Token A is account 67890's: moving the portal id there is confirmed, slowly.
    const move = patch({ hubspot: { portalId: THEIRS } });
    await until(hubSpot.asked);
    // Meanwhile token B, of account 12345, replaces token A.
    expect((await patch({ hubspot: { accessToken: TOKEN_B } })).statusCode).toBe(200);
    hubSpot.open();
    const refused = await move;
    const problem = expectProblem(refused, 409, 'CONFLICT');
    expect(problem.errors).toEqual([{ path: 'hubspot', message: expect.stringContaining('send the patch again') }]);
    expect(refused.body).not.toContain(TOKEN_A);
    // Neither token A back nor token B on a portal nobody confirmed for it.
    expect((await stored()).hubspot).toMatchObject({ accessToken: TOKEN_B, portalId: OURS });
  });

  it('refuses with 409 a new token HubSpot confirmed when the stored token was rotated during the check, and keeps the rotated one', async () => {
    const TOKEN_C = TOKEN_A.replace('aaaa', 'cccc');
    const hubSpot = slowAccountInfo({ [TOKEN_A]: OURS, [TOKEN_B]: OURS, [TOKEN_C]: OURS }, TOKEN_C);
    await t.engine.workspace(tenant.workspaceId).updateSettings({ hubspot: { accessToken: TOKEN_A, portalId: OURS } });
    const replace = patch({ defaultCountry: 'ES', hubspot: { accessToken: TOKEN_C } });
    await until(hubSpot.asked);
    expect((await patch({ hubspot: { accessToken: TOKEN_B } })).statusCode).toBe(200);
    hubSpot.open();
    // Token C of portal 12345 is what HubSpot confirmed, but it was judged against token A, which is gone.
    const refused = await replace;
    expect(expectProblem(refused, 409, 'CONFLICT').detail).toContain('send the patch again');
    expect(await stored()).toMatchObject({ defaultCountry: null, hubspot: { accessToken: TOKEN_B, portalId: OURS } });
    // Sent again, it is checked against token B and applied.
    const again = await patch({ defaultCountry: 'ES', hubspot: { accessToken: TOKEN_C } });
    expect(again.statusCode, again.body).toBe(200);
    expect(await stored()).toMatchObject({ defaultCountry: 'ES', hubspot: { accessToken: TOKEN_C, portalId: OURS } });
  });

  it('changes settings that name no token or portal id while a rotation is checked', async () => {
    const hubSpot = slowAccountInfo({ [TOKEN_A]: OURS, [TOKEN_B]: OURS });
    await t.engine.workspace(tenant.workspaceId).updateSettings({ hubspot: { accessToken: TOKEN_A, portalId: OURS } });
    const rotation = patch({ hubspot: { accessToken: TOKEN_B } });
    await until(hubSpot.asked);
    const other = await patch({ defaultCountry: 'ES', hubspot: { createMissingContacts: true } });
    expect(other.statusCode, other.body).toBe(200);
    hubSpot.open();
    expect((await rotation).statusCode).toBe(200);
    expect(await stored()).toMatchObject({ defaultCountry: 'ES', hubspot: { accessToken: TOKEN_B, portalId: OURS, createMissingContacts: true } });
  });

  it('still refuses a confirmed portal another workspace is connected to with 409', async () => {
    server.use(http.get(ACCOUNT_INFO_URL, accountsOf({ [TOKEN_A]: OURS, [TOKEN_B]: OURS })));
    const other = await t.tenant('Other Shop');
    expect((await t.as(other, { method: 'PATCH', url: '/v1/settings', payload: { hubspot: { accessToken: TOKEN_B, portalId: OURS } } })).statusCode).toBe(200);
    const response = await patch({ hubspot: { accessToken: TOKEN_A, portalId: OURS } });
    expect(expectProblem(response, 409, 'CONFLICT').errors).toEqual([{ path: 'hubspot.portalId', message: expect.stringContaining('connected to another workspace') }]);
    expect((await stored()).hubspot).toBeNull();
  });

  it('documents the check, its 409 and its 503', async () => {
    const doc = z
      .object({
        paths: z.record(z.string(), z.record(z.string(), z.object({ description: z.string().optional(), responses: z.record(z.string(), z.unknown()) }).passthrough())),
      })
      .parse((await t.app.inject({ method: 'GET', url: '/openapi.json' })).json());
    const operation = doc.paths['/v1/settings']?.['patch'];
    expect(operation?.description).toContain('503 HUBSPOT_UNAVAILABLE and Retry-After');
    expect(operation?.description).toContain('409 CONFLICT');
    expect(Object.keys(operation?.responses ?? {})).toEqual(expect.arrayContaining(['200', '409', '503']));
  });
});

describe('the HubSpot account check of an app', () => {
  let app: FastifyInstance | null = null;
  afterEach(async () => {
    await app?.close();
    app = null;
  });

  async function start(
    options: { hubSpotAccounts?: HubSpotAccountVerifier; config?: Partial<Config>; wrapEngine?: (engine: Engine) => Engine } = {},
  ): Promise<{ engine: Engine; patch(payload: object): Promise<LightMyRequestResponse>; workspaceId: string }> {
    const { wrapEngine = (engine: Engine) => engine, ...appOptions } = options;
    const store = createMemoryStore();
    const clock = new FakeClock('2026-03-01T09:00:00.000Z');
    const engine = createEngine({ store, clock });
    const workspace = await engine.createWorkspace({ name: 'Example Shop' });
    const { key } = await createApiKey(store, { workspaceId: workspace.id, clock });
    app = await buildApp({ store, engine: wrapEngine(engine), clock, defaultMetrics: false, ...appOptions });
    const built = app;
    return {
      engine,
      workspaceId: workspace.id,
      patch: (payload) => built.inject({ method: 'PATCH', url: '/v1/settings', headers: { authorization: `Bearer ${key}` }, payload }),
    };
  }

  it('uses the verifier it is given: one whose time is up refuses the change with 503', async () => {
    const late = gate();
    server.use(
      http.get(ACCOUNT_INFO_URL, async (info) => {
        await late.opened;
        return accountsOf({ [TOKEN_A]: OURS })(info);
      }),
    );
    const waits: number[] = [];
    const { engine, patch, workspaceId } = await start({
      hubSpotAccounts: createHubSpotAccountVerifier({
        timeoutMs: 2500,
        wait: async (ms) => {
          waits.push(ms);
        },
      }),
    });
    const response = await patch({ hubspot: { accessToken: TOKEN_A, portalId: OURS } });
    const problem = expectProblem(response, 503, 'HUBSPOT_UNAVAILABLE');
    expect(problem.detail).toContain('HubSpot did not answer within 2.5 s');
    expect(response.headers['retry-after']).toBe('30');
    expect(waits).toEqual([2500]);
    expect((await engine.workspace(workspaceId).get()).settings.hubspot).toBeNull();
    late.open();
  });

  it('refuses with 409, not a revert, a patch sending back the token and portal id it read when another change replaced them before the write', async () => {
    server.use(http.get(ACCOUNT_INFO_URL, accountsOf({ [TOKEN_A]: OURS, [TOKEN_B]: OURS })));
    let rotateBeforeNextWrite = false;
    // Another change lands between the route's reading of the settings and its write.
    const rotatingFirst = (engine: Engine): Engine => ({
      ...engine,
      workspace: (id) => {
        const scoped = engine.workspace(id);
        return {
          ...scoped,
          updateSettings: async (settingsPatch, options) => {
            if (rotateBeforeNextWrite) {
              rotateBeforeNextWrite = false;
              await scoped.updateSettings({ hubspot: { accessToken: TOKEN_B } });
            }
            return scoped.updateSettings(settingsPatch, options);
          },
        };
      },
    });
    const { engine, patch, workspaceId } = await start({ wrapEngine: rotatingFirst });
    expect((await patch({ hubspot: { accessToken: TOKEN_A, portalId: OURS } })).statusCode).toBe(200);
    asked.length = 0;
    rotateBeforeNextWrite = true;
    const response = await patch({ defaultCountry: 'ES', hubspot: { accessToken: TOKEN_A, portalId: OURS } });
    expect(rotateBeforeNextWrite).toBe(false);
    expect(expectProblem(response, 409, 'CONFLICT').errors).toEqual([{ path: 'hubspot', message: expect.stringContaining('send the patch again') }]);
    expect(response.body).not.toContain(TOKEN_A);
    // As read, the pair was the stored one: HubSpot was not asked, and token B stays.
    expect(asked).toEqual([]);
    expect((await engine.workspace(workspaceId).get()).settings).toMatchObject({ defaultCountry: null, hubspot: { accessToken: TOKEN_B, portalId: OURS } });
  });

  it('starts, and changes other settings, without asking HubSpot about the account the environment configures', async () => {
    const { engine, patch, workspaceId } = await start({ config: { HUBSPOT_ACCESS_TOKEN: TOKEN_A, HUBSPOT_PORTAL_ID: OURS } });
    const response = await patch({ defaultCountry: 'ES', hubspot: null });
    expect(response.statusCode, response.body).toBe(200);
    expect((await engine.workspace(workspaceId).get()).settings.defaultCountry).toBe('ES');
    expect(asked).toEqual([]);
  });
});

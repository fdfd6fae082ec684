import { http, HttpResponse } from 'msw';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemorySlackAlertStore } from '../../../connectors/slack/alert-store.js';
import { slackOriginOf, SLACK_ORIGINS_KEY, type SlackOrigin, type SlackOriginMemory } from '../../../connectors/slack/origins.js';
import {
  createSlackReceiver,
  FULL_SCAN_BURST,
  MAX_ORIGIN_SECRETS,
  WORKSPACES_TTL_MS,
  type SlackReceiver,
} from '../../../connectors/slack/receiver.js';
import { computeSlackSignature } from '../../../connectors/slack/verify.js';
import type { Workspace } from '../../../src/core/settings.js';
import { createEngine, type Engine } from '../../../src/engine.js';
import { FakeClock } from '../../../src/ports/clock.js';
import type { Store } from '../../../src/ports/store.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { consentFailedEvent, newAlert, recordingLogger } from './fixtures.js';
import { handlerMocks, listenLocally, SLACK_API, slackTimestamp, useSlackMsw, type HandlerMocks, type LocalServer } from './harness.js';

// Every HMAC the receiver computes to pick a workspace goes through computeSlackSignature: counted here.
vi.mock('../../../connectors/slack/verify.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../../connectors/slack/verify.js')>();
  return { ...actual, computeSlackSignature: vi.fn(actual.computeSlackSignature) };
});

const msw = useSlackMsw({ passLoopback: true });
const hmacs = vi.mocked(computeSlackSignature);
const MESSAGE_TS = '1767261600.000100';

/** Origins kept in memory only, so each receiver of a test starts knowing nothing. */
function memoryOrigins(): SlackOriginMemory & { saved: Map<string, SlackOrigin> } {
  const saved = new Map<string, SlackOrigin>();
  return { saved, load: async () => new Map(saved), save: async (workspaceId, origin) => void saved.set(workspaceId, origin) };
}

function slack(secret: string) {
  return { botToken: `xoxb-${secret}`, signingSecret: secret, alertChannel: 'C0ALERTS01', allowedUserIds: ['UACTOR1'], botId: 'B0BOT', botUserId: 'U0BOT' };
}

let clicks = 0;
/** A click as Slack sends it from app `appId` in team `teamId`, form-encoded; each one its own (trigger id), so none is a replay. */
function clickBody(alertId: string, origin: { appId: string; teamId: string }): string {
  clicks += 1;
  const payload = {
    type: 'block_actions',
    user: { id: 'UACTOR1', team_id: origin.teamId },
    api_app_id: origin.appId,
    container: { type: 'message', message_ts: MESSAGE_TS, channel_id: 'C0ALERTS01' },
    trigger_id: `1767261630.${String(clicks).padStart(6, '0')}.trigger`,
    team: { id: origin.teamId, domain: 'example' },
    actions: [{ type: 'button', action_id: 'resend_consent_request', value: alertId }],
  };
  return `payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

interface World {
  clock: FakeClock;
  store: Store;
  engine: Engine;
  listWorkspaces: ReturnType<typeof vi.fn<Engine['listWorkspaces']>>;
  alerts: MemorySlackAlertStore;
  handler: HandlerMocks;
  logger: ReturnType<typeof recordingLogger>;
  receiver: SlackReceiver;
  server: LocalServer;
}

async function newWorld(): Promise<Omit<World, 'receiver' | 'server' | 'handler' | 'logger'>> {
  const clock = new FakeClock('2026-01-01T10:00:30.000Z');
  const store = createMemoryStore();
  const engine = createEngine({ store, clock });
  const listWorkspaces = vi.fn<Engine['listWorkspaces']>(() => engine.listWorkspaces());
  return { clock, store, engine, listWorkspaces, alerts: new MemorySlackAlertStore(store) };
}

/** A receiver on 127.0.0.1; its origins in memory unless `originsInStore` (the default: the store's meta table). */
async function serve(world: Omit<World, 'receiver' | 'server' | 'handler' | 'logger'>, originsInStore = false): Promise<World> {
  const handler = handlerMocks();
  // Refused, so the alert stays open and every click of a test reaches the handler.
  handler.resendConsentRequest.mockResolvedValue({ outcome: 'refused', message: 'Nothing to resend' });
  const logger = recordingLogger();
  const receiver = createSlackReceiver({
    engine: { ...world.engine, listWorkspaces: world.listWorkspaces },
    alerts: world.alerts,
    clock: world.clock,
    env: {},
    logger,
    handler,
    ...(originsInStore ? {} : { origins: memoryOrigins() }),
  });
  const server = await listenLocally((req, res) => {
    receiver.handleRequest(req, res).catch(() => {
      res.writeHead(500);
      res.end();
    });
  });
  return { ...world, handler, logger, receiver, server };
}

async function stop(world: World): Promise<void> {
  await world.receiver.drain();
  await world.server.close();
}

async function post(world: World, body: string, signature: string): Promise<Response> {
  hmacs.mockClear();
  world.listWorkspaces.mockClear();
  const response = await fetch(`${world.server.url}/slack/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': slackTimestamp(world.clock), 'x-slack-signature': signature },
    body,
  });
  await response.arrayBuffer();
  await world.receiver.drain();
  return response;
}

/** Signed with `secret` at the clock's time; the real HMAC, not counted as the receiver's. */
async function postSigned(world: World, body: string, secret: string): Promise<Response> {
  const signature = computeSlackSignature(secret, slackTimestamp(world.clock), body);
  return post(world, body, signature);
}

const FORGED = `v0=${'0'.repeat(64)}`;

beforeEach(() => {
  msw.use(
    http.post(`${SLACK_API}/chat.postEphemeral`, () => HttpResponse.json({ ok: true })),
    http.post(`${SLACK_API}/chat.update`, () => HttpResponse.json({ ok: true, channel: 'C0ALERTS01', ts: MESSAGE_TS })),
  );
});

describe('a thousand workspaces, each with its own Slack app', () => {
  const SIZE = 1000;
  let base: Awaited<ReturnType<typeof newWorld>>;
  let workspaces: Workspace[];
  let world: World;
  const originOf = (index: number) => ({ appId: `A0APP${index}`, teamId: `T0TEAM${index}` });
  const secretOf = (index: number) => `secret-${index}`;

  beforeAll(async () => {
    base = await newWorld();
    for (let index = 0; index < SIZE; index += 1) {
      await base.engine.createWorkspace({ name: `Shop ${index}`, settings: { slack: slack(secretOf(index)) } });
    }
    workspaces = await base.engine.listWorkspaces();
    for (const [index, workspace] of workspaces.entries()) {
      await base.alerts.create(newAlert(`al_${index}`, { ...consentFailedEvent(), id: `ev_${index}`, workspaceId: workspace.id }, { workspaceId: workspace.id }));
    }
  }, 60_000);

  afterAll(async () => {
    await base.store.close();
  });

  beforeEach(async () => {
    world = await serve(base);
  });

  afterEach(async () => {
    await stop(world);
    world.clock.advance(60_000);
  });

  it('gives a forged request naming an unknown app and team at most the full scans of its budget, then answers 503 with no HMAC', async () => {
    const forged = clickBody('al_1', { appId: 'A0FORGED', teamId: 'T0FORGED' });
    const perRequest: number[] = [];
    const statuses: number[] = [];
    for (let n = 0; n < 30; n += 1) {
      const response = await post(world, forged, FORGED);
      statuses.push(response.status);
      perRequest.push(hmacs.mock.calls.length);
      if (response.status === 503) expect(response.headers.get('retry-after')).toBe('1');
    }
    // The burst of full scans (each one HMAC per distinct secret), then nothing but the refusal.
    expect(statuses).toEqual([...Array<number>(FULL_SCAN_BURST).fill(401), ...Array<number>(30 - FULL_SCAN_BURST).fill(503)]);
    expect(perRequest).toEqual([...Array<number>(FULL_SCAN_BURST).fill(SIZE), ...Array<number>(30 - FULL_SCAN_BURST).fill(0)]);
    // A second later the budget has one full scan again.
    world.clock.advance(1000);
    expect((await post(world, forged, FORGED)).status).toBe(401);
    expect(hmacs).toHaveBeenCalledTimes(SIZE);
    expect((await post(world, forged, FORGED)).status).toBe(503);
  });

  it("routes an unknown team's first genuine request through a full scan, and the next ones with one HMAC", async () => {
    const index = 777;
    expect((await postSigned(world, clickBody(`al_${index}`, originOf(index)), secretOf(index))).status).toBe(200);
    expect(hmacs.mock.calls.length).toBeLessThanOrEqual(SIZE);
    expect(world.handler.resendConsentRequest).toHaveBeenCalledTimes(1);
    expect(world.handler.resendConsentRequest.mock.calls[0]?.[0]).toMatchObject({ workspaceId: workspaces[index]?.id, alertId: `al_${index}` });

    for (let again = 0; again < 3; again += 1) {
      world.clock.advance(100);
      expect((await postSigned(world, clickBody(`al_${index}`, originOf(index)), secretOf(index))).status).toBe(200);
      expect(hmacs).toHaveBeenCalledTimes(1);
      expect(world.listWorkspaces).not.toHaveBeenCalled();
    }
    expect(world.handler.resendConsentRequest.mock.calls.map((call) => call[0].workspaceId)).toEqual(Array<string | undefined>(4).fill(workspaces[index]?.id));
  });

  it('costs a forged request naming a known app the HMAC of that app alone, then the budget', async () => {
    const index = 42;
    expect((await postSigned(world, clickBody(`al_${index}`, originOf(index)), secretOf(index))).status).toBe(200);
    const forged = clickBody(`al_${index}`, originOf(index));
    const seen: string[] = [];
    for (let n = 0; n < 20; n += 1) {
      const status = (await post(world, forged, FORGED)).status;
      seen.push(`${status}:${hmacs.mock.calls.length}`);
    }
    // The app's secret first (one HMAC); the budget's remaining full scans try every other secret once; then only the one HMAC.
    const scans = FULL_SCAN_BURST - 1;
    expect(seen).toEqual([...Array<string>(scans).fill(`401:${SIZE}`), ...Array<string>(20 - scans).fill('503:1')]);
  });

  it('answers 503 only to requests that need a full scan when the budget is spent, lets known workspaces through, and logs it once a minute', async () => {
    const known = 5;
    expect((await postSigned(world, clickBody(`al_${known}`, originOf(known)), secretOf(known))).status).toBe(200);
    const forged = clickBody('al_1', { appId: 'A0FORGED', teamId: 'T0FORGED' });
    for (let n = 0; n < 20; n += 1) await post(world, forged, FORGED);
    expect((await post(world, forged, FORGED)).status).toBe(503);

    world.clock.advance(100);
    expect((await postSigned(world, clickBody(`al_${known}`, originOf(known)), secretOf(known))).status).toBe(200);
    expect(world.handler.resendConsentRequest).toHaveBeenCalledTimes(2);

    const newcomer = 6;
    const refused = await postSigned(world, clickBody(`al_${newcomer}`, originOf(newcomer)), secretOf(newcomer));
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(world.handler.resendConsentRequest).toHaveBeenCalledTimes(2);
    const busyLines = () => world.logger.lines.filter((line) => line.includes('with 503'));
    expect(busyLines()).toHaveLength(1);
    expect(busyLines()[0]).toMatch(/^warn Refused a Slack request with 503 \(Retry-After 1 s\)/);

    // Slack does not retry a click: the person clicks again once the budget has a full scan.
    world.clock.advance(1000);
    expect((await postSigned(world, clickBody(`al_${newcomer}`, originOf(newcomer)), secretOf(newcomer))).status).toBe(200);
    expect(world.handler.resendConsentRequest.mock.calls.at(-1)?.[0]).toMatchObject({ workspaceId: workspaces[newcomer]?.id });

    for (let n = 0; n < 10; n += 1) await post(world, forged, FORGED);
    expect(busyLines()).toHaveLength(1);
    world.clock.advance(60_000);
    for (let n = 0; n < FULL_SCAN_BURST + 3; n += 1) await post(world, forged, FORGED);
    expect(busyLines()).toHaveLength(2);
    expect(busyLines()[1]).toMatch(/^warn Refused \d+ Slack requests with 503/);
  });
});

describe('workspaces sharing Slack apps and teams', () => {
  let world: World;
  let ids: Record<'acme' | 'initech' | 'globex' | 'umbrella', string>;
  const origins = {
    acme: { appId: 'A0ACME', teamId: 'T0ACME' },
    // One Slack app (one signing secret) serving two Consentry workspaces, in two Slack teams.
    initech: { appId: 'A0SHARED', teamId: 'T0INITECH' },
    globex: { appId: 'A0SHARED', teamId: 'T0GLOBEX' },
    // Another app in Acme's Slack team.
    umbrella: { appId: 'A0UMBRELLA', teamId: 'T0ACME' },
  };
  const secrets = { acme: 'secret-acme', initech: 'shared', globex: 'shared', umbrella: 'secret-umbrella' };

  beforeEach(async () => {
    const base = await newWorld();
    const made: Partial<Record<keyof typeof secrets, string>> = {};
    for (const name of ['acme', 'initech', 'globex', 'umbrella'] as const) {
      const workspace = await base.engine.createWorkspace({ name, settings: { slack: slack(secrets[name]) } });
      made[name] = workspace.id;
      await base.alerts.create(newAlert(`al_${name}`, { ...consentFailedEvent(), id: `ev_${name}`, workspaceId: workspace.id }, { workspaceId: workspace.id }));
    }
    ids = { acme: made.acme ?? '', initech: made.initech ?? '', globex: made.globex ?? '', umbrella: made.umbrella ?? '' };
    world = await serve(base);
  });

  afterEach(async () => {
    await stop(world);
    await world.store.close();
  });

  it('routes each genuine request to the workspace whose secret verifies it; once seen, with one HMAC', async () => {
    const names = ['umbrella', 'globex', 'acme', 'initech'] as const;
    for (const round of [1, 2]) {
      for (const name of names) {
        world.clock.advance(1000);
        expect((await postSigned(world, clickBody(`al_${name}`, origins[name]), secrets[name])).status).toBe(200);
        if (round === 2) expect(hmacs).toHaveBeenCalledTimes(1);
        else expect(hmacs.mock.calls.length).toBeLessThanOrEqual(3);
      }
    }
    expect(world.handler.resendConsentRequest.mock.calls.map((call) => call[0].workspaceId)).toEqual([...names, ...names].map((name) => ids[name]));
  });

  it("never lets an origin decide: a request naming another workspace's app goes where its signature says", async () => {
    world.clock.advance(1000);
    await postSigned(world, clickBody('al_acme', origins.acme), secrets.acme);
    // Signed by Umbrella's app, claiming Acme's app and team: Acme's secret is tried first and fails, the full scan finds Umbrella.
    world.clock.advance(1000);
    expect((await postSigned(world, clickBody('al_umbrella', origins.acme), secrets.umbrella)).status).toBe(200);
    expect(world.handler.resendConsentRequest.mock.calls.map((call) => call[0].workspaceId)).toEqual([ids.acme, ids.umbrella]);
  });

  it('follows a signing secret changed a moment ago, and Slack settings read afresh for the workspace it picks', async () => {
    world.clock.advance(1000);
    expect((await postSigned(world, clickBody('al_acme', origins.acme), secrets.acme)).status).toBe(200);
    await world.engine.workspace(ids.acme).updateSettings({ slack: { signingSecret: 'secret-acme-2', allowedUserIds: [] } });
    world.clock.advance(100);
    expect((await postSigned(world, clickBody('al_acme', origins.acme), 'secret-acme-2')).status).toBe(200);
    // Verified with the new secret, handled with the new allowed list: the user is no longer allowed.
    expect(world.handler.resendConsentRequest).toHaveBeenCalledTimes(1);
  });

  it('reads the workspaces once per WORKSPACES_TTL_MS, not on every request', async () => {
    world.clock.advance(1000);
    await postSigned(world, clickBody('al_acme', origins.acme), secrets.acme);
    const reads: number[] = [];
    for (let n = 0; n < 10; n += 1) {
      world.clock.advance(WORKSPACES_TTL_MS / 10);
      await postSigned(world, clickBody('al_acme', origins.acme), secrets.acme);
      reads.push(world.listWorkspaces.mock.calls.length);
    }
    expect(reads.reduce((sum, count) => sum + count, 0)).toBe(1);
    expect(world.handler.resendConsentRequest).toHaveBeenCalledTimes(11);
  });

  it('bounds the secrets tried on the strength of an origin', async () => {
    // Four more workspaces in Acme's Slack team, each with its own app: a team names many secrets.
    for (let n = 0; n < MAX_ORIGIN_SECRETS + 2; n += 1) {
      const workspace = await world.engine.createWorkspace({ name: `Acme ${n}`, settings: { slack: slack(`secret-acme-${n}`) } });
      world.clock.advance(WORKSPACES_TTL_MS);
      await world.alerts.create(newAlert(`al_acme_${n}`, { ...consentFailedEvent(), id: `ev_acme_${n}`, workspaceId: workspace.id }, { workspaceId: workspace.id }));
      expect((await postSigned(world, clickBody(`al_acme_${n}`, { appId: `A0ACME${n}`, teamId: 'T0ACME' }), `secret-acme-${n}`)).status).toBe(200);
    }
    world.clock.advance(60_000);
    // A forged request naming only the team: at most MAX_ORIGIN_SECRETS of its secrets, then a full scan from the budget.
    const forged = `payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions', team: { id: 'T0ACME' }, actions: [] }))}`;
    for (let n = 0; n < FULL_SCAN_BURST; n += 1) await post(world, forged, FORGED);
    expect((await post(world, forged, FORGED)).status).toBe(503);
    expect(hmacs).toHaveBeenCalledTimes(MAX_ORIGIN_SECRETS);
  });
});

describe('where requests come from, across a restart', () => {
  it("is kept in the store's meta table, so the first request after a restart costs one HMAC", async () => {
    const base = await newWorld();
    const workspaces: string[] = [];
    for (let n = 0; n < 20; n += 1) {
      const workspace = await base.engine.createWorkspace({ name: `Shop ${n}`, settings: { slack: slack(`secret-${n}`) } });
      workspaces.push(workspace.id);
      await base.alerts.create(newAlert(`al_${n}`, { ...consentFailedEvent(), id: `ev_${n}`, workspaceId: workspace.id }, { workspaceId: workspace.id }));
    }
    const origin = { appId: 'A0SHOP13', teamId: 'T0SHOP13' };
    const first = await serve(base, true);
    expect((await postSigned(first, clickBody('al_13', origin), 'secret-13')).status).toBe(200);
    expect(hmacs.mock.calls.length).toBeGreaterThan(1);
    await stop(first);
    expect(await base.store.read((tx) => tx.getMeta(SLACK_ORIGINS_KEY))).toEqual({ [workspaces[13] ?? '']: { appId: 'A0SHOP13', teamId: 'T0SHOP13' } });

    const restarted = await serve(base, true);
    expect((await postSigned(restarted, clickBody('al_13', origin), 'secret-13')).status).toBe(200);
    expect(hmacs).toHaveBeenCalledTimes(1);
    expect(restarted.handler.resendConsentRequest.mock.calls[0]?.[0]).toMatchObject({ workspaceId: workspaces[13] });
    await stop(restarted);
    await base.store.close();
  });
});

describe('slackOriginOf', () => {
  const form = (payload: unknown) => Buffer.from(`payload=${encodeURIComponent(JSON.stringify(payload))}`);

  it('reads the app and team of an interaction payload, an Events API envelope and a slash command', () => {
    expect(slackOriginOf(form({ type: 'block_actions', user: { id: 'U1', team_id: 'E0ORG' }, api_app_id: 'A0APP', team: { id: 'T0TEAM', domain: 'x' } }))).toEqual({
      appId: 'A0APP',
      teamId: 'T0TEAM',
    });
    expect(slackOriginOf(Buffer.from(JSON.stringify({ token: 'x', team_id: 'T0TEAM', api_app_id: 'A0APP', event: { type: 'app_mention' } })))).toEqual({
      appId: 'A0APP',
      teamId: 'T0TEAM',
    });
    expect(slackOriginOf(Buffer.from('token=x&team_id=T0TEAM&team_domain=example&api_app_id=A0APP&command=%2Fconsent'))).toEqual({ appId: 'A0APP', teamId: 'T0TEAM' });
  });

  it('finds the team of a submitted view installed on an organisation (team null) in the view, and nothing in garbage', () => {
    expect(slackOriginOf(form({ type: 'view_submission', team: null, api_app_id: 'A0APP', view: { team_id: 'T0VIEW' } }))).toEqual({ appId: 'A0APP', teamId: 'T0VIEW' });
    expect(slackOriginOf(Buffer.from('payload=%7Bbroken'))).toEqual({ appId: null, teamId: null });
    expect(slackOriginOf(Buffer.alloc(0))).toEqual({ appId: null, teamId: null });
    expect(slackOriginOf(form({ api_app_id: 'not an id', team: { id: '<!channel>' } }))).toEqual({ appId: null, teamId: null });
  });

  it('is not fooled by text a user typed, which JSON escapes', () => {
    const typed = form({ type: 'block_actions', state: { values: { note: { value: '"api_app_id":"A0EVIL","team":{"id":"T0EVIL"}' } } }, api_app_id: 'A0APP', team: { id: 'T0TEAM' } });
    expect(slackOriginOf(typed)).toEqual({ appId: 'A0APP', teamId: 'T0TEAM' });
  });
});

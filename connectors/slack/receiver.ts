import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@slack/bolt';
import { z } from 'zod';
import { isConsentryError } from '../../src/core/errors.js';
import type { Workspace } from '../../src/core/settings.js';
import type { Engine } from '../../src/engine.js';
import type { Clock } from '../../src/ports/clock.js';
import { ALERT_ID_PATTERN, type AlertStore, type SlackActionHandler } from './actions-port.js';
import type { SlackApp } from './app.js';
import { parseRecordConsentMetadata } from './blocks/record-consent-modal.js';
import { resolveAllSlackConfigs, resolveSlackConfig, type SlackEnv, type SlackWorkspaceConfig } from './config.js';
import { engineActionHandler } from './engine-actions.js';
import { SLACK_EVENTS_PATH } from './manifest.js';
import { mergeOrigin, sameOrigin, slackOriginOf, storedOrigins, type SlackOrigin, type SlackOriginMemory } from './origins.js';
import { ScanBudget } from './scan-budget.js';
import {
  computeSlackSignature,
  screenSlackRequest,
  SLACK_SIGNATURE_HEADER,
  SLACK_TIMESTAMP_HEADER,
  SlackRequestVerifier,
  type SlackVerificationFailure,
} from './verify.js';

/**
 * One Slack request URL (`/slack/events`) for every workspace.
 *
 * Which workspace a request belongs to is decided by its signature: each workspace with Slack set
 * up has its own signing secret, and only the right one reproduces `X-Slack-Signature`
 * (https://docs.slack.dev/authentication/verifying-requests-from-slack). A request no secret
 * verifies is refused with 401. When several workspaces share one Slack app (and so one secret),
 * the alert id the payload names decides: alert ids are unique, and an alert belongs to one
 * workspace.
 *
 * Anyone can POST here, so the work done before a request is authenticated is bounded, whatever
 * the number of workspaces:
 * - the headers are judged first (`screenSlackRequest`: timestamp format and window, signature
 *   format): a stale, future-dated or malformed request is refused before anything is read or any
 *   HMAC computed;
 * - the body names the Slack app and team it comes from (origins.ts). Unverified, they only choose
 *   which secrets to try first: those of the workspaces whose verified requests came from that app
 *   or team, at most MAX_ORIGIN_SECRETS of them. That is one HMAC for a workspace seen before;
 * - a request none of those verifies (the first from a new Slack app or team, a secret changed a
 *   moment ago, or a forgery) gets a full scan: the workspaces are read again and every other
 *   distinct secret tried once. Full scans are limited by a token bucket (ScanBudget: by default
 *   FULL_SCANS_PER_SECOND, FULL_SCAN_BURST at once); beyond it the request is answered 503 with
 *   Retry-After, logged once a minute. A request from a workspace seen before never needs one;
 * - the workspaces with Slack are kept between requests and read again at most every
 *   WORKSPACES_TTL_MS (settings can change through the API, the CLI or another process, none of
 *   which tells this one), and on every full scan. The workspace a request is given to is read
 *   afresh once it is verified, so its Bolt app always runs with the settings as they are.
 * The body is bounded by SLACK_BODY_LIMIT_BYTES, and each HMAC with it.
 *
 * The chosen workspace's Bolt app (app.ts) then verifies the request in full: stale, future-dated
 * and replayed requests are refused there, with a replay memory kept per workspace and secret
 * across settings changes. Bolt (with Express under it) is loaded on the first verified request,
 * so a server without Slack requests never pays for loading it at start.
 */

export interface SlackReceiverOptions {
  engine: Engine;
  alerts: AlertStore;
  clock: Clock;
  /** The environment's Slack values, for the default workspace. */
  env: SlackEnv;
  logger: Logger;
  /** Defaults to the engine (engine-actions.ts). */
  handler?: SlackActionHandler;
  /** Defaults to https://slack.com/api/. */
  slackApiUrl?: string;
  bodyLimitBytes?: number;
  /** Where the Slack app and team of each workspace's verified requests are kept; defaults to the engine store's meta table. */
  origins?: SlackOriginMemory;
  /** Full scans allowed per second, and at once (ScanBudget). */
  fullScansPerSecond?: number;
  fullScanBurst?: number;
  /** How long the list of workspaces with Slack is used before it is read again. */
  workspacesTtlMs?: number;
}

/** One full scan a second, five at once: at 1,000 workspaces, a full scan costs about 80 ms of CPU (bench/slack-forged.ts). */
export const FULL_SCANS_PER_SECOND = 1;
export const FULL_SCAN_BURST = 5;
export const WORKSPACES_TTL_MS = 1000;
/** Secrets tried on the strength of the app and team a request names, before it needs a full scan. */
export const MAX_ORIGIN_SECRETS = 4;
/** Requests refused for want of a full scan are counted and logged at most this often. */
const BUSY_LOG_INTERVAL_MS = 60_000;

export interface SlackReceiver {
  readonly endpoint: string;
  /** For a framework that has read the body already (the Fastify route): the exact bytes Slack signed. */
  handleRequest(req: IncomingMessage, res: ServerResponse, rawBody?: Buffer): Promise<void>;
  /** Resolves once every listener still working after its acknowledgement has finished. */
  drain(): Promise<void>;
}

/**
 * The largest body taken on /slack/events (413 beyond). The app subscribes to no events, only
 * interactivity (manifest.ts), so Slack sends two kinds of payload here, form-encoded
 * (https://docs.slack.dev/interactivity/handling-user-interaction): block_actions, which repeats
 * the alert message the button is in, and view_submission, which repeats the record-consent modal
 * with what was typed. Both messages and modal are built here, every value cut by the builders
 * (blocks/common.ts LIMITS, escape.ts; the explanation at 2,000 characters, private_metadata at
 * 3,000: https://docs.slack.dev/reference/views/modal-views). Written with every character
 * astral, the costliest once JSON-escaped (\uXXXX twice) and form-encoded (16 bytes), the
 * largest is about 42 KB (receiver-cost.test.ts builds them); a real one is a few KB. Slack
 * documents no largest size for an interaction payload, and adds fields of its own to what it
 * repeats, so the limit leaves three times that rather than a tighter 64 KiB: an unauthenticated
 * request is hashed a bounded number of times (see above), so a lower limit would save little and
 * could refuse a genuine click.
 */
export const SLACK_BODY_LIMIT_BYTES = 128 * 1024;

function endWith(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, headers);
  res.end();
}

function singleHeader(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size > limit) return null;
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

function signatureMatches(secret: string, timestamp: string, signature: string, body: Buffer): boolean {
  const expected = Buffer.from(computeSlackSignature(secret, timestamp, body));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const AlertReferenceSchema = z.union([
  z.object({ actions: z.array(z.object({ value: z.string().regex(ALERT_ID_PATTERN) })).min(1) }),
  z.object({ view: z.object({ private_metadata: z.string() }) }),
]);

/** The alert an interaction payload names: a button's value or the modal's metadata. */
export function alertIdOfPayload(body: Buffer): string | null {
  const payload = new URLSearchParams(body.toString('utf8')).get('payload');
  if (payload === null) return null;
  let json: unknown;
  try {
    json = JSON.parse(payload);
  } catch {
    return null;
  }
  const parsed = AlertReferenceSchema.safeParse(json);
  if (!parsed.success) return null;
  if ('actions' in parsed.data) return parsed.data.actions[0]?.value ?? null;
  return parseRecordConsentMetadata(parsed.data.view.private_metadata)?.alertId ?? null;
}

/** The workspaces with Slack on, as last read. */
interface SlackDirectory {
  readAtMs: number;
  /** The first workspace, which the SLACK_* variables configure (config.ts). */
  defaultWorkspaceId: string | null;
  configs: SlackWorkspaceConfig[];
}

type Picked =
  | { kind: 'workspace'; config: SlackWorkspaceConfig }
  | { kind: 'refused'; reason: SlackVerificationFailure }
  /** A full scan was needed and none is left in the budget. */
  | { kind: 'busy'; retryAfterSeconds: number };

function fingerprint(config: SlackWorkspaceConfig): string {
  return JSON.stringify([config.botToken, config.signingSecret, [...config.allowedUserIds].sort(), config.botId, config.botUserId]);
}

export function createSlackReceiver(options: SlackReceiverOptions): SlackReceiver {
  const handler = options.handler ?? engineActionHandler(options.engine);
  const bodyLimit = options.bodyLimitBytes ?? SLACK_BODY_LIMIT_BYTES;
  const apps = new Map<string, { fingerprint: string; app: SlackApp }>();
  const retired = new Set<SlackApp>();
  const verifiers = new Map<string, SlackRequestVerifier>();

  function verifierFor(config: SlackWorkspaceConfig): SlackRequestVerifier {
    const key = `${config.workspaceId}\u0000${config.signingSecret}`;
    let verifier = verifiers.get(key);
    if (!verifier) {
      verifier = new SlackRequestVerifier({ signingSecret: config.signingSecret, clock: options.clock });
      verifiers.set(key, verifier);
    }
    return verifier;
  }

  let boltModule: Promise<typeof import('./app.js')> | undefined;

  /** The workspace's Bolt app, rebuilt when its Slack settings change (PATCH /v1/settings). */
  function appFor(config: SlackWorkspaceConfig, createSlackApp: (typeof import('./app.js'))['createSlackApp']): SlackApp {
    const current = apps.get(config.workspaceId);
    const print = fingerprint(config);
    if (current && current.fingerprint === print) return current.app;
    if (current) {
      retired.add(current.app);
      void current.app.drain().then(() => retired.delete(current.app));
    }
    const app = createSlackApp({
      workspaceId: config.workspaceId,
      botToken: config.botToken,
      signingSecret: config.signingSecret,
      botId: config.botId,
      botUserId: config.botUserId,
      allowedUserIds: config.allowedUserIds,
      handler,
      alerts: options.alerts,
      clock: options.clock,
      logger: options.logger,
      endpoint: SLACK_EVENTS_PATH,
      bodyLimitBytes: bodyLimit,
      verifier: verifierFor(config),
      ...(options.slackApiUrl ? { slackApiUrl: options.slackApiUrl } : {}),
    });
    apps.set(config.workspaceId, { fingerprint: print, app });
    return app;
  }

  const originMemory = options.origins ?? storedOrigins(options.engine.store);
  let originsLoading: Promise<Map<string, SlackOrigin>> | undefined;
  function knownOrigins(): Promise<Map<string, SlackOrigin>> {
    originsLoading ??= originMemory.load().catch((error: unknown) => {
      options.logger.warn('Could not read where Slack requests come from; each workspace is found by a full scan once', error);
      return new Map<string, SlackOrigin>();
    });
    return originsLoading;
  }

  /** Remembers the app and team a verified request of the workspace named, when they are news. */
  async function learn(workspaceId: string, seen: SlackOrigin): Promise<void> {
    if (seen.appId === null && seen.teamId === null) return;
    const origins = await knownOrigins();
    const known = origins.get(workspaceId);
    const merged = mergeOrigin(known, seen);
    if (sameOrigin(known, merged)) return;
    origins.set(workspaceId, merged);
    try {
      await originMemory.save(workspaceId, merged);
    } catch (error) {
      options.logger.warn('Could not store where Slack requests come from; it is learned again after a restart', error);
    }
  }

  const ttlMs = options.workspacesTtlMs ?? WORKSPACES_TTL_MS;
  let directory: SlackDirectory | null = null;
  let reading: Promise<SlackDirectory> | null = null;

  /** The workspaces with Slack: kept for `ttlMs`, or read now (`fresh`), one read shared by the requests waiting on it. */
  function directoryOf(fresh: boolean): Promise<SlackDirectory> {
    const nowMs = options.clock.now().getTime();
    if (!fresh && directory !== null && nowMs >= directory.readAtMs && nowMs - directory.readAtMs < ttlMs) return Promise.resolve(directory);
    reading ??= (async () => {
      const readAtMs = options.clock.now().getTime();
      const workspaces = await options.engine.listWorkspaces();
      const configs: SlackWorkspaceConfig[] = [];
      for (const { resolution } of resolveAllSlackConfigs(workspaces, options.env)) if (resolution.status === 'on') configs.push(resolution.config);
      directory = { readAtMs, defaultWorkspaceId: workspaces[0]?.id ?? null, configs };
      return directory;
    })().finally(() => {
      reading = null;
    });
    return reading;
  }

  const scans = new ScanBudget(options.fullScansPerSecond ?? FULL_SCANS_PER_SECOND, options.fullScanBurst ?? FULL_SCAN_BURST);
  let busyRefusals = 0;
  let busyLoggedAtMs: number | null = null;

  function noteBusy(nowMs: number, retryAfterSeconds: number): void {
    busyRefusals += 1;
    if (busyLoggedAtMs !== null && nowMs - busyLoggedAtMs < BUSY_LOG_INTERVAL_MS) return;
    const count = busyRefusals === 1 ? 'a Slack request' : `${busyRefusals} Slack requests`;
    options.logger.warn(
      `Refused ${count} with 503 (Retry-After ${retryAfterSeconds} s): more requests than ${options.fullScansPerSecond ?? FULL_SCANS_PER_SECOND} a second that no known Slack app or team verifies, ` +
        'each of which would try every workspace\'s signing secret; requests from workspaces seen before go on (logged at most once a minute)',
    );
    busyRefusals = 0;
    busyLoggedAtMs = nowMs;
  }

  /**
   * Tries the distinct secrets of `candidates`, in order, skipping those already `tried`, at most
   * `limit` new ones; the workspaces that share the first secret that verifies, or null.
   */
  function verifyingWorkspaces(
    from: SlackDirectory,
    candidates: readonly SlackWorkspaceConfig[],
    tried: Set<string>,
    limit: number,
    signed: { timestamp: string; signature: string; body: Buffer },
  ): SlackWorkspaceConfig[] | null {
    let spent = 0;
    for (const { signingSecret } of candidates) {
      if (tried.has(signingSecret)) continue;
      if (spent >= limit) break;
      tried.add(signingSecret);
      spent += 1;
      if (signatureMatches(signingSecret, signed.timestamp, signed.signature, signed.body)) {
        return from.configs.filter((config) => config.signingSecret === signingSecret);
      }
    }
    return null;
  }

  /** Workspaces whose verified requests came from the app, then from the team, the request names. */
  function originCandidates(from: SlackDirectory, origins: ReadonlyMap<string, SlackOrigin>, seen: SlackOrigin): SlackWorkspaceConfig[] {
    if (seen.appId === null && seen.teamId === null) return [];
    const byApp: SlackWorkspaceConfig[] = [];
    const byTeam: SlackWorkspaceConfig[] = [];
    for (const config of from.configs) {
      const origin = origins.get(config.workspaceId);
      if (origin === undefined) continue;
      if (seen.appId !== null && origin.appId === seen.appId) byApp.push(config);
      else if (seen.teamId !== null && origin.teamId === seen.teamId) byTeam.push(config);
    }
    return [...byApp, ...byTeam];
  }

  /** Of the workspaces sharing the secret that verified the request, the one owning the alert it names. */
  async function ownerAmong(sharing: readonly SlackWorkspaceConfig[], body: Buffer): Promise<SlackWorkspaceConfig | null> {
    const [first] = sharing;
    if (first === undefined || sharing.length === 1) return first ?? null;
    const alertId = alertIdOfPayload(body);
    if (alertId !== null) {
      for (const config of sharing) if (await options.alerts.get(config.workspaceId, alertId)) return config;
    }
    return first;
  }

  /** The workspace's Slack settings as they are now; null when it has Slack no more. */
  async function currentConfig(chosen: SlackWorkspaceConfig, from: SlackDirectory): Promise<SlackWorkspaceConfig | null> {
    let workspace: Workspace;
    try {
      workspace = await options.engine.workspace(chosen.workspaceId).get();
    } catch (error) {
      if (isConsentryError(error) && error.code === 'NOT_FOUND') return null;
      throw error;
    }
    const resolution = resolveSlackConfig(workspace, options.env, workspace.id === from.defaultWorkspaceId);
    return resolution.status === 'on' ? resolution.config : null;
  }

  async function pickWorkspace(req: IncomingMessage, body: Buffer): Promise<Picked> {
    const timestamp = singleHeader(req, SLACK_TIMESTAMP_HEADER);
    const signature = singleHeader(req, SLACK_SIGNATURE_HEADER);
    const now = options.clock.now();
    const screened = screenSlackRequest({ timestamp, signature }, now);
    if (!screened.ok) return { kind: 'refused', reason: screened.reason };
    if (timestamp === undefined || signature === undefined) return { kind: 'refused', reason: 'missing_headers' };
    const signed = { timestamp, signature, body };

    const seen = slackOriginOf(body);
    const tried = new Set<string>();
    const kept = directory;
    let from = await directoryOf(false);
    let sharing = verifyingWorkspaces(from, originCandidates(from, await knownOrigins(), seen), tried, MAX_ORIGIN_SECRETS, signed);
    if (sharing === null) {
      const budget = scans.take(now.getTime());
      if (!budget.ok) {
        noteBusy(now.getTime(), budget.retryAfterSeconds);
        return { kind: 'busy', retryAfterSeconds: budget.retryAfterSeconds };
      }
      // A list read while this request waited is as fresh as a full scan needs.
      if (from === kept) from = await directoryOf(true);
      sharing = verifyingWorkspaces(from, from.configs, tried, Number.POSITIVE_INFINITY, signed);
    }
    if (sharing === null) return { kind: 'refused', reason: 'bad_signature' };
    const owner = await ownerAmong(sharing, body);
    const config = owner === null ? null : await currentConfig(owner, from);
    if (config === null) return { kind: 'refused', reason: 'bad_signature' };
    await learn(config.workspaceId, seen);
    return { kind: 'workspace', config };
  }

  async function handleRequest(req: IncomingMessage, res: ServerResponse, rawBody?: Buffer): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== SLACK_EVENTS_PATH) return endWith(res, 404);
    if (req.method !== 'POST') return endWith(res, 405, { allow: 'POST' });
    const body = rawBody ?? (await readBody(req, bodyLimit));
    if (body === null || body.length > bodyLimit) return endWith(res, 413, { connection: 'close' });

    const picked = await pickWorkspace(req, body);
    if (picked.kind === 'busy') return endWith(res, 503, { 'retry-after': String(picked.retryAfterSeconds) });
    if (picked.kind === 'refused') {
      options.logger.warn(
        picked.reason === 'bad_signature' ? 'Refused a Slack request: no workspace signing secret verifies it' : `Refused a Slack request: ${picked.reason}`,
      );
      return endWith(res, 401);
    }
    boltModule ??= import('./app.js');
    const { createSlackApp } = await boltModule;
    await appFor(picked.config, createSlackApp).handleRequest(req, res, body);
  }

  return {
    endpoint: SLACK_EVENTS_PATH,
    handleRequest,
    async drain() {
      await Promise.all([...[...apps.values()].map(({ app }) => app.drain()), ...[...retired].map((app) => app.drain())]);
    },
  };
}

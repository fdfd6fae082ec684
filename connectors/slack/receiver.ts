import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@slack/bolt';
import { z } from 'zod';
import type { Engine } from '../../src/engine.js';
import type { Clock } from '../../src/ports/clock.js';
import { ALERT_ID_PATTERN, type AlertStore, type SlackActionHandler } from './actions-port.js';
import type { SlackApp } from './app.js';
import { parseRecordConsentMetadata } from './blocks/record-consent-modal.js';
import { resolveAllSlackConfigs, type SlackEnv, type SlackWorkspaceConfig } from './config.js';
import { engineActionHandler } from './engine-actions.js';
import { SLACK_EVENTS_PATH } from './manifest.js';
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
 * (https://docs.slack.dev/authentication/verifying-requests-from-slack). Trying each secret needs
 * nothing from the payload before it is authenticated, and a request no secret verifies is refused
 * with 401. When several workspaces share one Slack app (and so one secret), the alert id the
 * payload names decides: alert ids are unique, and an alert belongs to one workspace.
 *
 * Anyone can POST here, so the work done before a request is authenticated is kept down. The
 * headers are judged first (`screenSlackRequest`: timestamp format and window, signature format):
 * a stale, future-dated or malformed request is refused before any workspace is listed or any
 * HMAC computed. Then each distinct signing secret is tried once, the one that verifies ending the
 * search: workspaces sharing a Slack app cost one HMAC between them. (The settings keep no Slack
 * app or team id to pick a workspace from the unsigned payload with.) The body is bounded by
 * SLACK_BODY_LIMIT_BYTES, and each HMAC with it.
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
}

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
 * largest is about 42 KB (receiver-cost.test.ts builds them); a real one is a few KB. 128 KiB
 * leaves three times that for what Slack adds, and an unauthenticated request, hashed once per
 * signing secret before it is known to be Slack's, costs an eighth of Fastify's default 1 MiB.
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

  async function pickWorkspace(req: IncomingMessage, body: Buffer): Promise<SlackWorkspaceConfig | SlackVerificationFailure> {
    const timestamp = singleHeader(req, SLACK_TIMESTAMP_HEADER);
    const signature = singleHeader(req, SLACK_SIGNATURE_HEADER);
    const screened = screenSlackRequest({ timestamp, signature }, options.clock.now());
    if (!screened.ok) return screened.reason;
    if (timestamp === undefined || signature === undefined) return 'missing_headers';
    const bySecret = new Map<string, SlackWorkspaceConfig[]>();
    for (const { resolution } of resolveAllSlackConfigs(await options.engine.listWorkspaces(), options.env)) {
      if (resolution.status !== 'on') continue;
      const { config } = resolution;
      const sharing = bySecret.get(config.signingSecret) ?? [];
      sharing.push(config);
      bySecret.set(config.signingSecret, sharing);
    }
    let matching: SlackWorkspaceConfig[] = [];
    for (const [secret, configs] of bySecret) {
      if (!signatureMatches(secret, timestamp, signature, body)) continue;
      matching = configs;
      break;
    }
    const [first] = matching;
    if (first === undefined) return 'bad_signature';
    if (matching.length === 1) return first;
    const alertId = alertIdOfPayload(body);
    if (alertId !== null) {
      for (const config of matching) if (await options.alerts.get(config.workspaceId, alertId)) return config;
    }
    return first;
  }

  async function handleRequest(req: IncomingMessage, res: ServerResponse, rawBody?: Buffer): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== SLACK_EVENTS_PATH) return endWith(res, 404);
    if (req.method !== 'POST') return endWith(res, 405, { allow: 'POST' });
    const body = rawBody ?? (await readBody(req, bodyLimit));
    if (body === null || body.length > bodyLimit) return endWith(res, 413, { connection: 'close' });

    const config = await pickWorkspace(req, body);
    if (typeof config === 'string') {
      options.logger.warn(
        config === 'bad_signature' ? 'Refused a Slack request: no workspace signing secret verifies it' : `Refused a Slack request: ${config}`,
      );
      return endWith(res, 401);
    }
    boltModule ??= import('./app.js');
    const { createSlackApp } = await boltModule;
    await appFor(config, createSlackApp).handleRequest(req, res, body);
  }

  return {
    endpoint: SLACK_EVENTS_PATH,
    handleRequest,
    async drain() {
      await Promise.all([...[...apps.values()].map(({ app }) => app.drain()), ...[...retired].map((app) => app.drain())]);
    },
  };
}

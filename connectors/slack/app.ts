import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import {
  App,
  HTTPReceiver,
  LogLevel,
  type BlockAction,
  type Logger,
  type ViewSubmitAction,
} from '@slack/bolt';
import type { Clock } from '../../src/ports/clock.js';
import type { AlertStore, SlackActionHandler } from './actions-port.js';
import { RECORD_CONSENT_CALLBACK_ID } from './blocks/record-consent-modal.js';
import { applyOptOutListener } from './listeners/apply-optout.js';
import type { ListenerDeps } from './listeners/common.js';
import { dismissOptOutListener } from './listeners/dismiss-optout.js';
import { recordConsentManuallyModalListener } from './listeners/record-consent-manually-modal.js';
import { recordConsentManuallyListener } from './listeners/record-consent-manually.js';
import { resendConsentRequestListener } from './listeners/resend-consent-request.js';
import { SLACK_EVENTS_PATH } from './manifest.js';
import {
  SLACK_SIGNATURE_HEADER,
  SLACK_TIMESTAMP_HEADER,
  SlackRequestVerifier,
  type SlackVerification,
} from './verify.js';

export interface SlackAppOptions {
  /** The Consentry workspace this Slack app serves. */
  workspaceId: string;
  botToken: string;
  signingSecret: string;
  /**
   * The bot's ids (from auth.test, e.g. via `consentry slack check`). Given both, Bolt skips its own
   * auth.test, so building the app makes no network call (DESIGN §6). Unknown (null), the app is
   * built with an `authorize` function instead of a token, which makes no call either (see below).
   */
  botId: string | null;
  botUserId: string | null;
  /** Slack user ids allowed to use the buttons; everyone else gets an ephemeral refusal. Empty: nobody. */
  allowedUserIds: readonly string[];
  handler: SlackActionHandler;
  alerts: AlertStore;
  clock: Clock;
  /** Defaults to https://slack.com/api/. */
  slackApiUrl?: string;
  /** The path Slack posts to; the manifest's interactivity request URL ends with it. */
  endpoint?: string;
  logger?: Logger;
  logLevel?: LogLevel;
  /** Largest request body accepted. Interaction payloads are a few kilobytes. */
  bodyLimitBytes?: number;
  /**
   * The verifier to use; by default a new one. Pass the same one when rebuilding the app for the
   * same signing secret, so requests it already accepted stay refused as replays.
   */
  verifier?: SlackRequestVerifier;
}

export interface SlackApp {
  app: App;
  endpoint: string;
  /** Mountable in any node:http server; answers only POST `endpoint`. */
  requestListener: RequestListener;
  /**
   * The same, for a framework that has already read the body (Fastify with a raw-body parser):
   * pass the exact bytes, since the signature covers them.
   */
  handleRequest(req: IncomingMessage, res: ServerResponse, rawBody?: Buffer): Promise<void>;
  /** Resolves once every listener still working after its acknowledgement has finished. */
  drain(): Promise<void>;
}

class BodyTooLargeError extends Error {}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size > limit) throw new BodyTooLargeError(`request body exceeds ${limit} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

function singleHeader(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function endWith(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, headers);
  res.end();
}

/**
 * How Bolt learns the bot token without a network call at start-up.
 *
 * With `token`, Bolt 5.1 runs auth.test as soon as the App is built unless both `botId` and
 * `botUserId` are given (App.ts `singleAuthorization` → `runAuthTestForBotToken`); the ids only
 * feed the `ignoreSelf` middleware, which drops *events* the app itself caused (middleware/builtin.ts
 * `ignoreSelf` looks at `args.event` only). This app receives interactivity alone (buttons and view
 * submissions; the manifest subscribes to no events), so when the ids are unknown an `authorize`
 * function hands Bolt the token and no ids: no auth.test, neither at start nor on a click, and
 * nothing is lost. `consentry slack check` prints the real ids for the settings.
 */
function botAuthorization(
  options: Pick<SlackAppOptions, 'botToken' | 'botId' | 'botUserId'>,
): { token: string; botId: string; botUserId: string } | { authorize: () => Promise<{ botToken: string }> } {
  if (options.botId && options.botUserId) {
    return { token: options.botToken, botId: options.botId, botUserId: options.botUserId };
  }
  const botToken = options.botToken;
  return { authorize: async () => ({ botToken }) };
}

/**
 * The Slack connector's Bolt app: buttons and the record-consent modal, received over HTTP.
 *
 * Request verification: every request passes our SlackRequestVerifier (verify.ts) before Bolt sees
 * it, and Bolt's own check is switched off (`signatureVerification: false`, an HTTPReceiver option
 * in 5.1). Bolt's check reads the system clock and rejects only stale timestamps; ours uses the
 * injected clock and also refuses future-dated and replayed requests (DESIGN §6), so one strict
 * check replaces a weaker second one that could not be tested without real time. The receiver is
 * never exposed unwrapped: `requestListener` and `handleRequest` are the only ways in.
 *
 * Hand-over: HTTPReceiver reuses a body already buffered on `req.rawBody`
 * (bufferIncomingMessage in @slack/bolt's HTTPModuleFunctions), so the bytes we verified are
 * exactly the bytes Bolt parses.
 *
 * Acknowledgement: `processBeforeResponse: false`, so each listener answers Slack as soon as it
 * calls ack() (Slack wants an answer within 3 seconds:
 * https://docs.slack.dev/interactivity/handling-user-interaction#acknowledgment_response) and does
 * the rest afterwards; `drain()` waits for that rest.
 */
export function createSlackApp(options: SlackAppOptions): SlackApp {
  const endpoint = options.endpoint ?? SLACK_EVENTS_PATH;
  const bodyLimit = options.bodyLimitBytes ?? 1024 * 1024;
  const logLevel = options.logLevel ?? LogLevel.INFO;
  const verifier = options.verifier ?? new SlackRequestVerifier({ signingSecret: options.signingSecret, clock: options.clock });

  const receiver = new HTTPReceiver({
    signingSecret: options.signingSecret,
    endpoints: endpoint,
    processBeforeResponse: false,
    signatureVerification: false,
    ...(options.logger ? { logger: options.logger } : { logLevel }),
  });

  const app = new App({
    ...botAuthorization(options),
    receiver,
    convoStore: false,
    ...(options.logger ? { logger: options.logger } : { logLevel }),
    clientOptions: {
      ...(options.slackApiUrl ? { slackApiUrl: options.slackApiUrl } : {}),
      // A listener must not sit out a Retry-After while the user waits; the message is healed on
      // the next click (listeners/common.ts).
      rejectRateLimitedCalls: true,
      retryConfig: { retries: 0 },
      timeout: 10_000,
    },
  });

  const inFlight = new Set<Promise<void>>();
  const deps: ListenerDeps = {
    workspaceId: options.workspaceId,
    allowedUserIds: new Set(options.allowedUserIds),
    handler: options.handler,
    alerts: options.alerts,
    clock: options.clock,
    logger: app.logger,
    track(work) {
      const running = work().finally(() => inFlight.delete(running));
      inFlight.add(running);
      return running;
    },
  };

  app.action<BlockAction>('resend_consent_request', resendConsentRequestListener(deps));
  app.action<BlockAction>('record_consent_manually', recordConsentManuallyListener(deps));
  app.action<BlockAction>('apply_optout', applyOptOutListener(deps));
  app.action<BlockAction>('dismiss_optout', dismissOptOutListener(deps));
  app.view<ViewSubmitAction>(RECORD_CONSENT_CALLBACK_ID, recordConsentManuallyModalListener(deps));

  async function handleRequest(req: IncomingMessage, res: ServerResponse, rawBody?: Buffer): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== endpoint) return endWith(res, 404);
    if (req.method !== 'POST') return endWith(res, 405, { allow: 'POST' });

    let body: Buffer;
    try {
      body = rawBody ?? (await readBody(req, bodyLimit));
    } catch (error) {
      if (error instanceof BodyTooLargeError) return endWith(res, 413, { connection: 'close' });
      throw error;
    }
    if (body.length > bodyLimit) return endWith(res, 413);

    const verification: SlackVerification = verifier.verify({
      timestamp: singleHeader(req, SLACK_TIMESTAMP_HEADER),
      signature: singleHeader(req, SLACK_SIGNATURE_HEADER),
      rawBody: body,
    });
    if (!verification.ok) {
      app.logger.warn(`Refused a Slack request: ${verification.reason}`);
      return endWith(res, 401);
    }
    Object.assign(req, { rawBody: body });
    receiver.requestListener(req, res);
  }

  return {
    app,
    endpoint,
    handleRequest,
    requestListener(req, res) {
      handleRequest(req, res).catch((error: unknown) => {
        app.logger.error('Slack request failed', error);
        endWith(res, 500);
      });
    },
    async drain() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}

import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Engine } from '../../src/engine.js';
import type { Clock } from '../../src/ports/clock.js';
import type { Store } from '../../src/ports/store.js';
import { documentedOnly, NO_API_KEY_SECURITY, withResponseHeaders } from '../../src/server/openapi.js';
import { ProblemSchema } from '../../src/server/problem.js';
import type { SlackActionHandler } from './actions-port.js';
import { slackAlertStoreFor } from './alert-store-for.js';
import type { SlackEnv } from './config.js';
import { boltLogger } from './logger.js';
import { SLACK_EVENTS_PATH } from './manifest.js';
import { createSlackReceiver, FULL_SCAN_BURST, FULL_SCANS_PER_SECOND, SLACK_BODY_LIMIT_BYTES, type SlackReceiver } from './receiver.js';
import { DEFAULT_MAX_AGE_SECONDS, DEFAULT_MAX_FUTURE_SKEW_SECONDS } from './verify.js';

export interface SlackRouteOptions {
  engine: Engine;
  store: Store;
  clock: Clock;
  env: SlackEnv;
  handler?: SlackActionHandler;
  slackApiUrl?: string;
}

const SLACK_TAG = 'Slack';

/** What a view_submission is answered with when its fields are refused (https://docs.slack.dev/surfaces/modals#displaying_errors). */
const ModalErrorsSchema = z
  .object({
    response_action: z.literal('errors'),
    errors: z.record(z.string(), z.string()).describe('What to correct, by block id of the modal'),
  })
  .describe(
    "Acknowledged; Slack wants this within 3 seconds, and the work goes on after it. No body, except for a record-consent modal whose fields are refused: the errors, which Slack shows in the modal",
  );

/**
 * How /openapi.json describes POST /slack/events. The route hands the raw request to Bolt, which
 * reads the form itself, so these schemas are documentation only (`documentedOnly`).
 */
const SLACK_EVENTS_DOCUMENTATION = documentedOnly({
  tags: [SLACK_TAG],
  summary: 'Slack interactivity: alert buttons and the record-consent modal (called by Slack)',
  description: `Slack calls this, the Slack app's interactivity request URL, when someone clicks a button of a Consentry alert or submits the record-consent modal (https://docs.slack.dev/interactivity/handling-user-interaction); the app subscribes to no events. No API key: Slack signs each request with the Slack app's signing secret (https://docs.slack.dev/authentication/verifying-requests-from-slack): X-Slack-Signature is v0= and the hex HMAC-SHA256 of v0:{X-Slack-Request-Timestamp}:{raw body}. The signature picks the workspace: the one whose signing secret verifies it, from its own Slack settings, or SLACK_SIGNING_SECRET (with SLACK_BOT_TOKEN and SLACK_ALERT_CHANNEL) for the default workspace. The Slack app and team the payload names (api_app_id, team.id) only choose which secret to try first: that of the workspace an earlier verified request came from. A request they do not lead to a verifying secret has every workspace's secret tried, at most ${FULL_SCANS_PER_SECOND} such request a second (${FULL_SCAN_BURST} at once); beyond that it is answered 503 with Retry-After. A request without both headers, dated more than ${DEFAULT_MAX_AGE_SECONDS / 60} minutes ago or ${DEFAULT_MAX_FUTURE_SKEW_SECONDS} seconds ahead, that no workspace's secret verifies, or already accepted once (a replay) is refused with 401. The server always serves this route; until a workspace has Slack set up, every request is refused with 401.`,
  security: NO_API_KEY_SECURITY,
  consumes: ['application/x-www-form-urlencoded'],
  headers: z.object({
    'X-Slack-Signature': z
      .string()
      .regex(/^v0=[0-9a-fA-F]{64}$/)
      .describe("v0= and the hex HMAC-SHA256, keyed by the Slack app's signing secret, of v0:{timestamp}:{raw body}"),
    'X-Slack-Request-Timestamp': z
      .string()
      .regex(/^\d{1,12}$/)
      .describe(`Seconds since the epoch; refused when more than ${DEFAULT_MAX_AGE_SECONDS / 60} minutes old or ${DEFAULT_MAX_FUTURE_SKEW_SECONDS} seconds ahead`),
  }),
  body: z.object({
    payload: z.string().describe('The interaction payload as JSON: block_actions or view_submission (https://docs.slack.dev/reference/interaction-payloads)'),
  }),
  response: {
    200: ModalErrorsSchema,
    400: z.null().describe('Signed, but the body cannot be parsed (a payload that is not JSON); no body'),
    401: z.null().describe('The signature is missing, malformed, stale, future-dated, already used, or verified by no workspace\'s signing secret; no body'),
    404: z.null().describe('Signed, but nothing acknowledged it within 3 seconds: an interaction this app has no listener for; no body'),
    413: ProblemSchema.describe(`PAYLOAD_TOO_LARGE: the body is larger than ${SLACK_BODY_LIMIT_BYTES} bytes, refused as it arrives, before any signature is computed`),
    500: z.null().describe('The request could not be handled (the store could not be read, a listener failed before acknowledging); no body'),
    503: withResponseHeaders(
      z
        .null()
        .describe(
          `Too many requests that no known Slack app or team verifies, each of which would have every workspace's signing secret tried (more than ${FULL_SCANS_PER_SECOND} a second, ${FULL_SCAN_BURST} at once); Retry-After says when to try again. Requests from a workspace whose requests were verified before are not limited. No body`,
        ),
      {
        // Delay-seconds, as the API's other Retry-After (RFC 9110 §10.2.3): until the budget of full scans has room again (scan-budget.ts).
        'Retry-After': z.number().int().min(1).describe(`Seconds to wait before sending the request again: until another request that no known Slack app or team verifies is taken (${FULL_SCANS_PER_SECOND} a second)`),
      },
    ),
  },
});

/**
 * POST /slack/events in the Fastify app, outside the /v1 API-key scope: Slack authenticates with
 * its signature instead (receiver.ts, verify.ts).
 *
 * The signature covers the exact bytes Slack sent, so this route's own scope replaces every
 * content-type parser with one that keeps the body as a Buffer (Fastify encapsulates parsers per
 * plugin: https://fastify.dev/docs/latest/Reference/ContentTypeParser/). The reply is then
 * hijacked (https://fastify.dev/docs/latest/Reference/Reply/#hijack) and the raw request and
 * response go to Bolt, which answers when a listener acknowledges. Closing the app waits for the
 * listeners still working after their acknowledgement.
 */
export async function registerSlackEvents(app: FastifyInstance, options: SlackRouteOptions): Promise<SlackReceiver> {
  const receiver = createSlackReceiver({
    engine: options.engine,
    alerts: slackAlertStoreFor(options.store),
    clock: options.clock,
    env: options.env,
    logger: boltLogger(app.log),
    bodyLimitBytes: SLACK_BODY_LIMIT_BYTES,
    ...(options.handler ? { handler: options.handler } : {}),
    ...(options.slackApiUrl ? { slackApiUrl: options.slackApiUrl } : {}),
  });

  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    // Fastify answers 413 past the limit while the body arrives (receiver.ts SLACK_BODY_LIMIT_BYTES says why it is 128 KiB).
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: SLACK_BODY_LIMIT_BYTES }, (_request, body, done) => done(null, body));
    scope.post(SLACK_EVENTS_PATH, SLACK_EVENTS_DOCUMENTATION, async (request, reply) => {
      const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      reply.hijack();
      try {
        await receiver.handleRequest(request.raw, reply.raw, rawBody);
      } catch (error) {
        request.log.error({ err: error }, 'Slack request failed');
        if (!reply.raw.headersSent) {
          reply.raw.writeHead(500);
          reply.raw.end();
        }
      }
    });
    scope.addHook('onClose', async () => {
      await receiver.drain();
    });
  });
  return receiver;
}

import type { FastifyInstance } from 'fastify';
import type { Engine } from '../../src/engine.js';
import type { Clock } from '../../src/ports/clock.js';
import type { Store } from '../../src/ports/store.js';
import type { SlackActionHandler } from './actions-port.js';
import { slackAlertStoreFor } from './alert-store-for.js';
import type { SlackEnv } from './config.js';
import { boltLogger } from './logger.js';
import { SLACK_EVENTS_PATH } from './manifest.js';
import { createSlackReceiver, SLACK_BODY_LIMIT_BYTES, type SlackReceiver } from './receiver.js';

export interface SlackRouteOptions {
  engine: Engine;
  store: Store;
  clock: Clock;
  env: SlackEnv;
  handler?: SlackActionHandler;
  slackApiUrl?: string;
}

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
    scope.post(SLACK_EVENTS_PATH, { schema: { hide: true } }, async (request, reply) => {
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

import type { SwaggerTransform } from '@fastify/swagger';
import type { FastifySchema } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { documentedOnly, NO_API_KEY_SECURITY, withResponseHeaders } from '../../../src/server/openapi.js';
import { ProblemSchema } from '../../../src/server/problem.js';
import { ActionRequestSchema } from '../actions/context.js';
import { ACTION_KEYS } from '../actions/definition.js';
import { BLOCK_EXPIRATION } from '../actions/request-consent.js';
import { OAUTH_STATE_TTL_MS } from '../oauth-state.js';
import { SIGNATURE_MAX_AGE_MS, SIGNATURE_MAX_FUTURE_SKEW_MS } from '../signature.js';
import { WebhookBodySchema, WebhookSummarySchema } from './webhooks.js';

/*
 * How /openapi.json describes the routes HubSpot calls. They read their body as text, since the
 * signature covers its exact bytes, and parse it themselves once it is verified: the schemas here
 * are documentation only (`documentedOnly`), the same zod schemas the routes parse with.
 */

const HUBSPOT_TAG = 'HubSpot';

/** The path parameter of a workflow action route, as the route reads it (404 for any other key). */
export const ActionParamsSchema = z.object({ key: z.enum(ACTION_KEYS).describe('The workflow action') });

/** The answer HubSpot reads from a workflow action (https://developers.hubspot.com/docs/api/automation/custom-workflow-actions). */
export const ActionAnswerSchema = z
  .object({ outputFields: z.record(z.string(), z.string()) })
  .describe(
    `The action's outcome, which the workflow reads: outputFields.hs_execution_state is SUCCESS with the action's output fields; FAIL_CONTINUE with error saying why (a refusal is answered 200, so that HubSpot does not retry it for days); or BLOCK with hs_expiration_duration ${BLOCK_EXPIRATION}, the workflow waiting for the consent request's answer, which completes it by callback. A callbackId already handled is answered again as it was, without doing the work twice.`,
  );

const MAX_AGE_MINUTES = SIGNATURE_MAX_AGE_MS / 60_000;
const FUTURE_SKEW_SECONDS = SIGNATURE_MAX_FUTURE_SKEW_MS / 1000;

const V3_SIGNATURE = z.string().describe("v3: base64 HMAC-SHA256, keyed by the HubSpot app's client secret, of the method, the URL HubSpot called, the raw body and the timestamp");
const V3_TIMESTAMP = z
  .string()
  .regex(/^\d{1,16}$/)
  .describe(`Milliseconds since the epoch; refused when more than ${MAX_AGE_MINUTES} minutes old or more than ${FUTURE_SKEW_SECONDS} seconds ahead`);

const ActionHeadersSchema = z.object({
  'X-HubSpot-Signature-v3': V3_SIGNATURE.optional(),
  'X-HubSpot-Request-Timestamp': V3_TIMESTAMP.optional(),
  'X-HubSpot-Signature': z.string().optional().describe("v2, when no v3 signature is sent: hex SHA-256 of the client secret, the method, the URL HubSpot called and the raw body"),
  'X-HubSpot-Signature-Version': z.literal('v2').optional().describe('v2 with X-HubSpot-Signature (v1 signs neither method nor URL and is refused)'),
});

const WebhookHeadersSchema = z.object({ 'X-HubSpot-Signature-v3': V3_SIGNATURE, 'X-HubSpot-Request-Timestamp': V3_TIMESTAMP });

const AUTHENTICATION =
  'No API key: HubSpot signs each request with the HubSpot app\'s client secret (https://developers.hubspot.com/docs/api/webhooks/validating-requests), over the URL it called, so behind a proxy PUBLIC_URL must be the address registered in HubSpot. The body\'s portal id (read before the signature is checked, and never quoted back) picks the workspaces whose client secret is tried: their own HubSpot settings, or HUBSPOT_CLIENT_SECRET for the default workspace. A portal no workspace is connected to, a workspace without a client secret and a forgery are all answered 401 alike.';

const REGISTRATION =
  'The server always serves this route; until a workspace has HubSpot set up with a client secret, every request is refused (400 or 401).';

function tooLarge(bodyLimitBytes: number): z.ZodType {
  return ProblemSchema.describe(`PAYLOAD_TOO_LARGE: the body is larger than ${bodyLimitBytes} bytes, the server's limit`);
}

const NOT_JSON = ProblemSchema.describe(
  'UNSUPPORTED_MEDIA_TYPE: the body is not sent as application/json (HubSpot always sends it so)',
);
const MERGE_PATCH_REFUSED = ProblemSchema.describe(
  'VALIDATION_FAILED: sent as application/merge-patch+json, which the server parses as JSON before any route sees it, with a prototype-poisoning key; refused before the signature is checked (HubSpot never sends this media type)',
);

/** POST /hubspot/actions/{key}. */
export function actionRouteDocumentation(bodyLimitBytes: number): ReturnType<typeof documentedOnly> {
  return documentedOnly({
    tags: [HUBSPOT_TAG],
    summary: 'A HubSpot workflow action (called by HubSpot)',
    description: `HubSpot calls this when a workflow reaches one of Consentry's custom workflow actions (the HubSpot app's action URL). ${AUTHENTICATION} Workflow actions are signed with v3 (X-HubSpot-Signature-v3 and X-HubSpot-Request-Timestamp) or, without them, v2 only (X-HubSpot-Signature and X-HubSpot-Signature-Version: v2). v2 has no timestamp, so a replayed request is answered from the stored answer of its callbackId and does nothing again; a request carrying v3 is judged by v3 alone. ${REGISTRATION}`,
    security: NO_API_KEY_SECURITY,
    consumes: ['application/json'],
    params: ActionParamsSchema,
    headers: ActionHeadersSchema,
    body: ActionRequestSchema,
    response: {
      200: ActionAnswerSchema,
      400: ProblemSchema.describe(
        'VALIDATION_FAILED: the body names no HubSpot portal (origin.portalId: is required) or one that is not a numeric account id, checked before the signature; or, signed, it is not a workflow action request (errors[] names each bad field, a field left out with `is required`). MALFORMED_JSON: the body is not JSON (errors[] names body, at the line and column where it stops being JSON), checked before the signature',
      ),
      401: ProblemSchema.describe(
        `UNAUTHORIZED: no signature, a v3 timestamp more than ${MAX_AGE_MINUTES} minutes old or ${FUTURE_SKEW_SECONDS} seconds ahead, or a signature no connected workspace's client secret verifies; detail names the reason and the URL the signature was checked over`,
      ),
      404: ProblemSchema.describe('NOT_FOUND: the key names no workflow action'),
      413: tooLarge(bodyLimitBytes),
      415: NOT_JSON,
      422: MERGE_PATCH_REFUSED,
      500: ProblemSchema,
      503: ProblemSchema.describe(
        'CONFLICT: the first delivery of this callbackId is still being handled (HubSpot retries a 5xx); STORE_BUSY or STORE_FULL: the store cannot take the write now (Retry-After), nothing changed',
      ),
    },
  });
}

/** POST /hubspot/webhooks. */
export function webhookRouteDocumentation(bodyLimitBytes: number): ReturnType<typeof documentedOnly> {
  return documentedOnly({
    tags: [HUBSPOT_TAG],
    summary: 'HubSpot webhook events (called by HubSpot)',
    description: `HubSpot calls this with the events of the HubSpot app's webhook subscriptions (https://developers.hubspot.com/docs/api/webhooks#webhook-payloads): a contact.propertyChange on one of Consentry's consent properties is a person's decision made in HubSpot, recorded with source hubspot under an idempotency key, so HubSpot's redeliveries record nothing twice; Consentry's own writes coming back are dropped. ${AUTHENTICATION} Webhooks are signed with v3 only: X-HubSpot-Signature-v3 and X-HubSpot-Request-Timestamp (a v2 signature has no timestamp and could be replayed, so it is refused). The first event's portalId picks the workspace; events of other portals are ignored. ${REGISTRATION}`,
    security: NO_API_KEY_SECURITY,
    consumes: ['application/json'],
    headers: WebhookHeadersSchema,
    body: WebhookBodySchema,
    response: {
      200: WebhookSummarySchema.describe('What was done with the events, one count per outcome'),
      400: ProblemSchema.describe(
        'VALIDATION_FAILED: the body names no HubSpot portal (a JSON array whose first event has a portalId: 0.portalId is required) or one that is not a numeric account id, checked before the signature; or, signed, it is not a webhook request (errors[] names each bad field, a field left out with `is required`). MALFORMED_JSON: the body is not JSON (errors[] names body, at the line and column where it stops being JSON), checked before the signature',
      ),
      401: ProblemSchema.describe(
        `UNAUTHORIZED: no v3 signature, a timestamp more than ${MAX_AGE_MINUTES} minutes old or ${FUTURE_SKEW_SECONDS} seconds ahead, or a signature no connected workspace's client secret verifies; detail names the reason and the URL the signature was checked over`,
      ),
      413: tooLarge(bodyLimitBytes),
      415: NOT_JSON,
      422: MERGE_PATCH_REFUSED,
      500: ProblemSchema,
      503: ProblemSchema.describe(
        'HUBSPOT_UNAVAILABLE: an opt-in could not be recorded, its legal basis could not be read from HubSpot; HubSpot delivers the request again, and what this one recorded is not recorded twice. STORE_BUSY or STORE_FULL: the store cannot take the write now (Retry-After)',
      ),
    },
  });
}

/** What POST /v1/integrations/hubspot/oauth/start answers. */
export const InstallStartAnswerSchema = z
  .object({
    url: z.string().describe("HubSpot's authorize URL: open it in a browser logged in to HubSpot and approve the app"),
    expiresAt: z.string().describe('When the state in the URL expires (ISO 8601): the install must reach the redirect URL before then'),
  })
  .describe("The authorize URL of an install into the key's workspace");

/** The problems POST /v1/integrations/hubspot/oauth/start answers besides those every /v1 route shares. */
export const installStartResponses = {
  409: ProblemSchema.describe(
    'CONFLICT: the server is not set up to install the HubSpot app; errors[] names each environment variable to set (HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET, PUBLIC_URL)',
  ),
};

/** The page the install callback answers, whatever the outcome. */
const INSTALL_PAGE_MEDIA_TYPE = 'text/html; charset=utf-8';

const InstallCallbackQuerySchema = z.object({
  code: z.string().optional().describe("HubSpot's authorization code: used once, within minutes, and never shown back"),
  state: z.string().optional().describe('The state of the authorize URL, as POST /v1/integrations/hubspot/oauth/start made it'),
  error: z.string().optional().describe('Sent by HubSpot instead of a code when the install was not authorised (access_denied: the person declined)'),
});

function page(description: string): z.ZodType {
  return z.string().describe(description);
}

/**
 * GET /hubspot/oauth/callback. Its answers are pages for a person, not problem+json, so the route
 * is described with fastify-type-provider-zod's transform alone: the API's own transform would
 * describe its error answers as problems.
 */
export function installCallbackDocumentation(startPath: string): { config: { swaggerTransform: SwaggerTransform } } {
  const schema: FastifySchema = {
    tags: [HUBSPOT_TAG],
    summary: "HubSpot's redirect after an install (opened in the person's browser)",
    description:
      `HubSpot sends the browser here after the person approved (or declined) the app at the URL ${startPath} answered: the redirect URL of the app's Auth settings is PUBLIC_URL + this path. ` +
      `No API key: the signed state, made for one workspace, valid for ${OAUTH_STATE_TTL_MS / 60_000} minutes and used once, says which workspace is connected. The code is exchanged at HubSpot's token endpoint ` +
      '(grant_type authorization_code), the access token it issues names the HubSpot account (GET /account-info/v3/details), and the workspace\'s hubspot settings get accessToken, portalId, ' +
      'clientId, clientSecret and refreshToken; its other HubSpot settings are kept. Every answer is an HTML page saying what happened; none repeats the code, a token or a secret.',
    security: NO_API_KEY_SECURITY,
    querystring: InstallCallbackQuerySchema,
    produces: [INSTALL_PAGE_MEDIA_TYPE],
    response: {
      200: page('HubSpot is connected: the page names the HubSpot account and the workspace'),
      400: page(
        'Not connected, nothing stored: the person declined (error=access_denied) or HubSpot sent another error; the code or state is missing; the state is forged, expired or used already; HubSpot refused the code or the app; or HubSpot refused the account details to the token it issued',
      ),
      409: page("Not connected, nothing stored: the HubSpot account is another workspace's; the workspace's HubSpot settings changed meanwhile; or the server lacks HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET or PUBLIC_URL"),
      500: page('The install failed in Consentry; the server log says why'),
      503: withResponseHeaders(page('Not connected, nothing stored: HubSpot could not be reached or answered 5xx or 429, or the store is busy; Retry-After says when to start the install again'), {
        // Delay-seconds, as the API's other Retry-After (RFC 9110 §10.2.3).
        'Retry-After': z.number().int().min(1).describe('Seconds to wait before starting the install again (a new link from the install route)'),
      }),
    },
  };
  return { config: { swaggerTransform: (input) => jsonSchemaTransform({ ...input, schema }) } };
}

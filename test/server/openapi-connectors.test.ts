import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ActionAnswerSchema } from '../../connectors/hubspot/http/openapi.js';
import { WebhookSummarySchema } from '../../connectors/hubspot/http/webhooks.js';
import { channelPropertyNames } from '../../connectors/hubspot/properties.js';
import { SLACK_BODY_LIMIT_BYTES } from '../../connectors/slack/receiver.js';
import { linkedContact } from '../connectors/hubspot/harness.js';
import { actionBody, postAction, postWebhook, propertyChange, useHubspotApp } from '../connectors/hubspot/http-harness.js';
import { testApp, type TestApp } from './helpers.js';

const apps: TestApp[] = [];
async function open(): Promise<TestApp> {
  const app = await testApp();
  apps.push(app);
  return app;
}

afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

interface RegisteredRoute {
  method: string;
  /** In OpenAPI's notation: `/hubspot/actions/{key}`. */
  path: string;
}

const TREE_LINE = /^((?:│ {3}| {4})*)(?:├── |└── )(.*?)(?: \(([A-Z, ]+)\))?$/;

/**
 * Every route the app registers, read from Fastify's own route tree
 * (https://fastify.dev/docs/latest/Reference/Server/#printroutes), so that a route added without
 * documentation is found as well. Each line of the tree holds the part of the path after its
 * parent's, indented four characters per level.
 */
function registeredRoutes(app: FastifyInstance): RegisteredRoute[] {
  const routes: RegisteredRoute[] = [];
  const ancestors: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = TREE_LINE.exec(line);
    if (match === null) continue;
    const depth = (match[1] ?? '').length / 4;
    const url = `${depth === 0 ? '' : (ancestors[depth - 1] ?? '')}${match[2] ?? ''}`;
    ancestors.length = depth;
    ancestors.push(url);
    for (const method of (match[3] ?? '').split(', ').filter((name) => name !== '')) {
      routes.push({ method, path: url.replace(/:([A-Za-z0-9_]+)/g, '{$1}') });
    }
  }
  return routes;
}

/** The API docs' own routes, and HEAD, which Fastify adds to each GET route itself. */
function isDocumentable(route: RegisteredRoute): boolean {
  return route.method !== 'HEAD' && route.path !== '/openapi.json' && route.path !== '/docs' && !route.path.startsWith('/docs/');
}

const SYSTEM_PATHS = new Set(['/health', '/metrics']);
/** Connector routes a person's browser opens, not the platform: no signature, no body (test/server/hubspot-oauth-install.test.ts checks them). */
const BROWSER_PATHS = new Set(['/hubspot/oauth/callback']);

/** A route a platform calls on the connectors' behalf: outside the /v1 API, the server's own routes and the pages browsers open. */
function isConnectorRoute(route: RegisteredRoute): boolean {
  return isDocumentable(route) && !route.path.startsWith('/v1/') && !SYSTEM_PATHS.has(route.path) && !BROWSER_PATHS.has(route.path);
}

const ParameterSchema = z.object({
  name: z.string().min(1),
  in: z.enum(['path', 'query', 'header', 'cookie']),
  required: z.boolean().optional(),
  description: z.string().optional(),
  schema: z.record(z.string(), z.unknown()),
});
/** Media type ranges, parameters allowed (OpenAPI 3.1 Media Type Object, RFC 9110 §8.3.1). */
const MediaTypesSchema = z.record(z.string().regex(/^[a-z*]+\/[a-z0-9.+*-]+(?:; *[a-z0-9-]+=[^;]+)*$/), z.object({ schema: z.record(z.string(), z.unknown()) }).strict());
const ResponseSchema = z
  .object({
    description: z.string().min(1),
    headers: z.record(z.string(), z.object({ description: z.string().optional(), schema: z.record(z.string(), z.unknown()) }).strict()).optional(),
    content: MediaTypesSchema.optional(),
  })
  .strict();
const OperationSchema = z
  .object({
    tags: z.array(z.string().min(1)).optional(),
    summary: z.string().optional(),
    description: z.string().optional(),
    operationId: z.string().optional(),
    parameters: z.array(ParameterSchema).optional(),
    requestBody: z.object({ required: z.boolean().optional(), description: z.string().optional(), content: MediaTypesSchema }).strict().optional(),
    responses: z.record(z.string().regex(/^(?:[1-5]\d\d|[1-5]XX|default)$/), ResponseSchema).refine((responses) => Object.keys(responses).length > 0, 'at least one response'),
    security: z.array(z.record(z.string(), z.array(z.string()))).optional(),
    deprecated: z.boolean().optional(),
  })
  .strict();
const OPERATION_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const PathItemSchema = z.object(Object.fromEntries(OPERATION_METHODS.map((method) => [method, OperationSchema.optional()]))).strict();
const DocumentSchema = z.object({
  openapi: z.string().regex(/^3\.1\.\d+$/),
  info: z.object({ title: z.string().min(1), version: z.string().min(1) }).loose(),
  servers: z.array(z.object({ url: z.string() }).loose()).optional(),
  paths: z.record(z.string().startsWith('/'), PathItemSchema),
  webhooks: z.record(z.string(), PathItemSchema).optional(),
  components: z.object({ securitySchemes: z.record(z.string(), z.object({ type: z.enum(['apiKey', 'http', 'mutualTLS', 'oauth2', 'openIdConnect']) }).loose()) }).loose(),
});
type Document = z.infer<typeof DocumentSchema>;
type Operation = z.infer<typeof OperationSchema>;

async function openApi(app: FastifyInstance): Promise<Document> {
  const response = await app.inject({ method: 'GET', url: '/openapi.json' });
  expect(response.statusCode).toBe(200);
  return DocumentSchema.parse(response.json());
}

/** Every operation of the document, paths and webhooks, as `METHOD path`. */
function operationsOf(items: Record<string, z.infer<typeof PathItemSchema>>): [string, string, Operation][] {
  return Object.entries(items).flatMap(([path, item]) =>
    OPERATION_METHODS.flatMap((method): [string, string, Operation][] => {
      const operation = item[method];
      return operation === undefined ? [] : [[method.toUpperCase(), path, operation]];
    }),
  );
}

function operation(doc: Document, route: RegisteredRoute): Operation {
  const found = doc.paths[route.path]?.[z.enum(OPERATION_METHODS).parse(route.method.toLowerCase())];
  if (found === undefined) throw new Error(`${route.method} ${route.path} is not in /openapi.json`);
  return found;
}

const PROBLEM_JSON = 'application/problem+json';

/** The signature headers each platform signs with, as its documentation names them. */
const SIGNATURE_HEADERS: Record<string, readonly string[]> = {
  HubSpot: ['X-HubSpot-Signature-v3', 'X-HubSpot-Request-Timestamp'],
  Slack: ['X-Slack-Signature', 'X-Slack-Request-Timestamp'],
};

describe('/openapi.json is a valid OpenAPI 3.1 document', () => {
  it('holds only operations whose fixed fields are what OpenAPI 3.1 defines, path parameters matching each path template, security naming declared schemes', async () => {
    const t = await open();
    const doc = await openApi(t.app);
    const schemes = new Set(Object.keys(doc.components.securitySchemes));
    const operationIds = new Set<string>();
    const operations = [...operationsOf(doc.paths), ...operationsOf(doc.webhooks ?? {})];
    expect(operations.length).toBeGreaterThan(30);
    for (const [method, path, op] of operations) {
      const where = `${method} ${path}`;
      const parameters = op.parameters ?? [];
      const placed = new Set(parameters.map((parameter) => `${parameter.in}:${parameter.name.toLowerCase()}`));
      expect(placed.size, `${where}: a parameter is declared twice`).toBe(parameters.length);
      if (doc.paths[path] !== undefined) {
        const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((found) => found[1]).sort();
        const inPath = parameters.filter((parameter) => parameter.in === 'path');
        expect(inPath.map((parameter) => parameter.name).sort(), where).toEqual(templated);
        for (const parameter of inPath) expect(parameter.required, `${where}: path parameter ${parameter.name}`).toBe(true);
      }
      for (const requirement of op.security ?? []) {
        for (const scheme of Object.keys(requirement)) expect(schemes.has(scheme), `${where}: security scheme ${scheme}`).toBe(true);
      }
      if (op.operationId !== undefined) {
        expect(operationIds.has(op.operationId), `${where}: operationId ${op.operationId}`).toBe(false);
        operationIds.add(op.operationId);
      }
    }
  });
});

describe('/openapi.json lists the routes the app registers, and only those', () => {
  it('documents every registered route but the docs themselves, and nothing that is not registered', async () => {
    const t = await open();
    const registered = registeredRoutes(t.app);
    // The tree is read as Fastify prints it: known routes at several depths prove the reading.
    expect(registered).toEqual(
      expect.arrayContaining([
        { method: 'GET', path: '/health' },
        { method: 'POST', path: '/v1/messages' },
        { method: 'PUT', path: '/v1/contacts/{id}/consents/{purpose}/{channel}' },
        { method: 'POST', path: '/hubspot/actions/{key}' },
      ]),
    );
    const doc = await openApi(t.app);
    const documented = operationsOf(doc.paths).map(([method, path]) => `${method} ${path}`).sort();
    expect(documented).toEqual(registered.filter(isDocumentable).map((route) => `${route.method} ${route.path}`).sort());
  });

  it('describes each connector route: who calls it, the signature headers, the body, every answer, and no API key', async () => {
    const t = await open();
    const doc = await openApi(t.app);
    const connectorRoutes = registeredRoutes(t.app).filter(isConnectorRoute);
    expect(connectorRoutes.map((route) => `${route.method} ${route.path}`)).toEqual(
      expect.arrayContaining(['POST /hubspot/actions/{key}', 'POST /hubspot/webhooks', 'POST /slack/events']),
    );
    for (const route of connectorRoutes) {
      const where = `${route.method} ${route.path}`;
      const op = operation(doc, route);
      const [tag] = op.tags ?? [];
      expect(op.tags, where).toHaveLength(1);
      const headers = SIGNATURE_HEADERS[tag ?? ''];
      if (headers === undefined) throw new Error(`${where}: tagged ${String(tag)}, not a platform that signs its requests`);
      expect(op.security, `${where}: no API key`).toEqual([]);
      expect(op.summary, where).toMatch(new RegExp(`called by ${tag}`));
      expect(op.description, where).toMatch(/No API key/);
      expect(op.description, where).not.toMatch(/X-API-Key|Bearer/);
      const headerParameters = (op.parameters ?? []).filter((parameter) => parameter.in === 'header').map((parameter) => parameter.name);
      for (const header of headers) {
        expect(op.description, `${where} names ${header}`).toContain(header);
        expect(headerParameters, where).toContain(header);
      }
      expect(Object.keys(op.requestBody?.content ?? {}), `${where}: request body`).toHaveLength(1);
      const responses = Object.keys(op.responses);
      for (const status of ['200', '401', '413', '500']) expect(responses, where).toContain(status);
      expect(op.responses['413']?.content?.[PROBLEM_JSON], `${where}: 413 is a problem`).toBeDefined();
      expect(op.responses['401']?.description, where).not.toMatch(/API key/);
    }
  });

  it('describes the HubSpot routes with the schemas the routes parse their bodies with', async () => {
    const t = await open();
    const doc = await openApi(t.app);
    const action = operation(doc, { method: 'POST', path: '/hubspot/actions/{key}' });
    const webhook = operation(doc, { method: 'POST', path: '/hubspot/webhooks' });
    const actionBodySchema = z.object({ properties: z.record(z.string(), z.unknown()), required: z.array(z.string()) }).parse(action.requestBody?.content['application/json']?.schema);
    expect(Object.keys(actionBodySchema.properties).sort()).toEqual(['callbackId', 'context', 'inputFields', 'object', 'origin']);
    expect(actionBodySchema.required.sort()).toEqual(['callbackId', 'object', 'origin']);
    expect(webhook.requestBody?.content['application/json']?.schema).toMatchObject({ type: 'array', maxItems: 1000, items: { required: expect.arrayContaining(['portalId', 'objectId']) } });
    expect((action.parameters ?? []).find((parameter) => parameter.in === 'path')?.schema).toMatchObject({ enum: ['request-consent', 'set-channel-consent', 'check-consent'] });
    // Actions take v2 as well; webhooks v3 alone, both of its headers required.
    expect((action.parameters ?? []).filter((parameter) => parameter.in === 'header').map((parameter) => parameter.name)).toContain('X-HubSpot-Signature');
    expect((webhook.parameters ?? []).filter((parameter) => parameter.in === 'header').map((parameter) => [parameter.name, parameter.required])).toEqual([
      ['X-HubSpot-Signature-v3', true],
      ['X-HubSpot-Request-Timestamp', true],
    ]);
    expect(Object.keys(action.responses).sort()).toEqual(['200', '400', '401', '404', '413', '415', '422', '500', '503']);
    expect(Object.keys(webhook.responses).sort()).toEqual(['200', '400', '401', '413', '415', '422', '500', '503']);
    for (const op of [action, webhook]) {
      for (const [status, response] of Object.entries(op.responses)) {
        if (Number(status) >= 400) expect(Object.keys(response.content ?? {}), `${status} is a problem`).toEqual([PROBLEM_JSON]);
      }
      expect(op.responses['401']?.description).toMatch(/^UNAUTHORIZED: /);
      expect(op.responses['413']?.description).toContain(`${t.app.initialConfig.bodyLimit} bytes`);
    }
    expect(webhook.responses['503']?.description).toMatch(/HUBSPOT_UNAVAILABLE/);
    expect(action.responses['503']?.description).toMatch(/callbackId/);
    expect(webhook.responses['200']?.content?.['application/json']?.schema).toMatchObject({
      required: ['recorded', 'echoes', 'stale', 'ignored', 'refused', 'deferred', 'erased'],
    });
  });

  it('describes the answers Slack gets without a body as such', async () => {
    const t = await open();
    const slack = operation(await openApi(t.app), { method: 'POST', path: '/slack/events' });
    expect(Object.keys(slack.requestBody?.content ?? {})).toEqual(['application/x-www-form-urlencoded']);
    expect(Object.keys(slack.responses).sort()).toEqual(['200', '400', '401', '404', '413', '500', '503']);
    for (const status of ['400', '401', '404', '500', '503']) expect(slack.responses[status]?.content, status).toBeUndefined();
    expect(slack.responses['413']?.description).toContain(`${SLACK_BODY_LIMIT_BYTES} bytes`);
  });
});

describe('the connector routes answer as /openapi.json says', () => {
  const setUp = useHubspotApp();
  const sms = channelPropertyNames('sms');

  it('answers a signed HubSpot workflow action and webhook with the documented bodies', async () => {
    const { h, app } = await setUp();
    const { hubspotId } = await linkedContact(h, 'ana.test@example.com');
    const action = await postAction(app, h, 'check-consent', actionBody('cb-openapi', hubspotId, { channel: 'sms' }));
    expect(action.statusCode).toBe(200);
    expect(ActionAnswerSchema.strict().parse(action.json()).outputFields['hs_execution_state']).toBe('SUCCESS');
    const webhook = await postWebhook(app, h, [propertyChange(hubspotId, sms.status, 'opted_out', h.clock.now().getTime() - 1000)]);
    expect(webhook.statusCode).toBe(200);
    expect(WebhookSummarySchema.strict().parse(webhook.json())).toMatchObject({ recorded: 1 });
  });

  it('refuses as documented: 401 for an unsigned request, 413 past the limit, 415 for another media type', async () => {
    const { h, app } = await setUp();
    const doc = await openApi(app);
    const { hubspotId } = await linkedContact(h, 'ana.test@example.com');
    const signedLess = { 'content-type': 'application/json' };
    const cases: [RegisteredRoute, { url: string; headers: Record<string, string>; payload: string }, number, string | null][] = [
      [{ method: 'POST', path: '/hubspot/actions/{key}' }, { url: '/hubspot/actions/check-consent', headers: signedLess, payload: actionBody('cb-unsigned', hubspotId, { channel: 'sms' }) }, 401, PROBLEM_JSON],
      [{ method: 'POST', path: '/hubspot/webhooks' }, { url: '/hubspot/webhooks', headers: signedLess, payload: JSON.stringify([propertyChange(hubspotId, sms.status, 'opted_out', 1)]) }, 401, PROBLEM_JSON],
      [{ method: 'POST', path: '/hubspot/webhooks' }, { url: '/hubspot/webhooks', headers: signedLess, payload: `[${' '.repeat(app.initialConfig.bodyLimit ?? 0)}]` }, 413, PROBLEM_JSON],
      [{ method: 'POST', path: '/hubspot/actions/{key}' }, { url: '/hubspot/actions/check-consent', headers: { 'content-type': 'text/plain' }, payload: '{}' }, 415, PROBLEM_JSON],
      [{ method: 'POST', path: '/hubspot/actions/{key}' }, { url: '/hubspot/actions/no-such-action', headers: signedLess, payload: '{}' }, 404, PROBLEM_JSON],
      [{ method: 'POST', path: '/slack/events' }, { url: '/slack/events', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'payload=%7B%7D' }, 401, null],
      [
        { method: 'POST', path: '/slack/events' },
        { url: '/slack/events', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `payload=${'x'.repeat(SLACK_BODY_LIMIT_BYTES)}` },
        413,
        PROBLEM_JSON,
      ],
    ];
    for (const [route, request, status, mediaType] of cases) {
      const response = await app.inject({ method: 'POST', ...request });
      const where = `${request.url} → ${status}`;
      expect(response.statusCode, where).toBe(status);
      const documented = operation(doc, route).responses[String(status)];
      expect(documented, where).toBeDefined();
      if (mediaType === null) {
        expect(response.body, where).toBe('');
        expect(documented?.content, where).toBeUndefined();
      } else {
        expect(String(response.headers['content-type']), where).toContain(mediaType);
        expect(Object.keys(documented?.content ?? {}), where).toEqual([mediaType]);
      }
    }
  });
});

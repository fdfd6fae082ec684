import { Signature } from '@hubspot/api-client';
import type { FastifyInstance } from 'fastify';
import { afterEach } from 'vitest';
import { buildApp, type AppOptions } from '../../../src/server/app.js';
import { CLIENT_SECRET, PORTAL_ID, startHarness, type Harness, type HarnessOptions } from './harness.js';

/** The address HubSpot is told to call, and signs requests over. */
export const PUBLIC_URL = 'https://consent.example.com';

export type SignatureVersion = 'v2' | 'v3';

export type HubspotAppSetUp = (harness?: HarnessOptions, app?: Partial<AppOptions>) => Promise<{ h: Harness; app: FastifyInstance }>;

/**
 * The server over a fresh harness, for each test that calls the returned set-up, both closed after
 * the test. The app is built with `appDefaults` (by default, `publicUrl` PUBLIC_URL), then `app`.
 */
export function useHubspotApp(appDefaults: Partial<AppOptions> = { publicUrl: PUBLIC_URL }): HubspotAppSetUp {
  let harness: Harness | null = null;
  let server: FastifyInstance | null = null;
  afterEach(async () => {
    await server?.close();
    server = null;
    await harness?.close();
    harness = null;
  });
  return async (harnessOptions = {}, appOptions = {}) => {
    const h = await startHarness(harnessOptions);
    harness = h;
    const app = await buildApp({ store: h.store, engine: h.engine, clock: h.clock, defaultMetrics: false, ...appDefaults, ...appOptions });
    server = app;
    return { h, app };
  };
}

/** The headers HubSpot signs a request to PUBLIC_URL + `path` with (https://developers.hubspot.com/docs/api/webhooks/validating-requests). */
export function signedHeaders(harness: Harness, path: string, body: string, version: SignatureVersion, timestamp = harness.clock.now().getTime() - 1000): Record<string, string> {
  const url = `${PUBLIC_URL}${path}`;
  if (version === 'v2') {
    const signature = Signature.getSignature('POST', 'v2', { clientSecret: CLIENT_SECRET, requestBody: body, url, signature: '' });
    return { 'content-type': 'application/json', 'x-hubspot-signature': signature, 'x-hubspot-signature-version': 'v2' };
  }
  const signature = Signature.getSignature('POST', 'v3', { clientSecret: CLIENT_SECRET, requestBody: body, url, timestamp, signature: '' });
  return { 'content-type': 'application/json', 'x-hubspot-signature-v3': signature, 'x-hubspot-request-timestamp': String(timestamp) };
}

/** A workflow action request as HubSpot sends it, for the contact `objectId`. */
export function actionBody(callbackId: string, objectId: string, inputFields: Record<string, string>, properties: Record<string, string> = {}): string {
  return JSON.stringify({
    callbackId,
    origin: { portalId: Number(PORTAL_ID), actionDefinitionId: 1183, actionDefinitionVersion: 2 },
    context: { source: 'WORKFLOWS', workflowId: 4471 },
    object: { objectId: Number(objectId), objectType: 'CONTACT', properties },
    inputFields,
  });
}

export async function postAction(app: FastifyInstance, harness: Harness, key: string, body: string, version: SignatureVersion = 'v3') {
  const path = `/hubspot/actions/${key}`;
  return app.inject({ method: 'POST', url: path, payload: body, headers: signedHeaders(harness, path, body, version) });
}

export async function postWebhook(app: FastifyInstance, harness: Harness, events: object[], version: SignatureVersion = 'v3', timestamp?: number) {
  const body = JSON.stringify(events);
  return app.inject({ method: 'POST', url: '/hubspot/webhooks', payload: body, headers: signedHeaders(harness, '/hubspot/webhooks', body, version, timestamp) });
}

let eventSeq = 0;

/** A `contact.propertyChange` event as HubSpot sends it; by default a HubSpot user's change in the CRM. */
export function propertyChange(objectId: string, propertyName: string, propertyValue: string, occurredAt: number, extra: Record<string, unknown> = {}) {
  eventSeq += 1;
  return {
    eventId: eventSeq,
    subscriptionId: 25,
    portalId: Number(PORTAL_ID),
    appId: 1160452,
    occurredAt,
    subscriptionType: 'contact.propertyChange',
    attemptNumber: 0,
    objectId: Number(objectId),
    propertyName,
    propertyValue,
    changeSource: 'CRM_UI',
    sourceId: 'userId:4471',
    ...extra,
  };
}
